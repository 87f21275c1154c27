#!/bin/sh
# tests/policies.sh — placeholder: skipped until mgctl test exists.
exit 77
