#!/bin/sh
# tests/ascii.sh — `make check` script test: lib/, mgctl/ and the module
# compare and classify characters in ASCII only (lib/mg_ascii.h). libc's
# strcasecmp, tolower, isalpha... and APR's apr_tolower, apr_isalpha...
# follow the process locale, which a module loaded with mod_media_guard may
# set (mod_perl, mod_wsgi): under tr_TR a country deny list [ir] let IR
# through (tests/unit/test_eval.c, case "locale", proves the decisions).
# Comments are not code: a line whose first non-blank is '/*' or '*' is skipped.
# Environment: MG_SRCDIR (the source tree).
set -u
cd "${MG_SRCDIR:?MG_SRCDIR must name the source tree}" || exit 99
hits=$(grep -nE '(^|[^_[:alnum:]])(str(n)?casecmp|(apr_)?(to(lower|upper)|is(alpha|digit|alnum|lower|upper|xdigit|space|print|punct|cntrl|graph)))[[:space:]]*\(|setlocale|<ctype\.h>|<strings\.h>' \
    lib/*.c lib/*.h mgctl/*.c mgctl/*.h mod_media_guard/*.c mod_media_guard/*.h |
    grep -v '^lib/mg_ascii\.h:' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*)')
if [ -n "$hits" ]; then
    echo "FAIL: locale-dependent character functions (use lib/mg_ascii.h or apr_cstr_casecmp[n]):"
    echo "$hits"
    exit 1
fi
echo "ok: lib/, mgctl/ and mod_media_guard/ use ASCII-only case and character classes"
