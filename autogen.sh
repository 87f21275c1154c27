#!/bin/sh
# autogen.sh — make ./configure in a git clone (release tarballs from
# `make distcheck` already have it). Needs autoconf, automake, libtool and
# pkg-config (Debian: autoconf automake libtool pkg-config).
set -e
cd "$(dirname "$0")"
autoreconf -fi "$@"
echo "autogen.sh: now ./configure (--help for options), make, make check"
