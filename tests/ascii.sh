#!/bin/sh
# tests/ascii.sh — `make check` script test: lib/, mgctl/ and the module
# compare and classify characters in ASCII only (lib/mg_ascii.h). libc's
# strcasecmp, tolower, isalpha... and APR's apr_tolower, apr_isalpha...
# follow the process locale, which a module loaded with mod_media_guard may
# set (mod_perl, mod_wsgi): under tr_TR a country deny list [ir] let IR
# through (tests/unit/test_eval.c, case "locale", proves the decisions).
# Comments are not code: a line whose first non-blank is '/*', or '*' then a
# blank, '/' or the line's end, is skipped.
# Environment: MG_SRCDIR (the source tree).
set -u
cd "${MG_SRCDIR:?MG_SRCDIR must name the source tree}" || exit 99
# httpd's ap_strcasecmp_match, ap_strcasestr and ap_str_tolower fold with
# apr_tolower too; a comment line is '/*', ' * text' or ' */', never '*p = ...'.
hits=$(grep -nE '(^|[^_[:alnum:]])(str(n)?casecmp(_l)?|strcasestr|strcoll|apr_strnatcasecmp|ap_str(casecmp_match|casestr|_tolower|_toupper)|(apr_)?(to(lower|upper)|is(alpha|digit|alnum|lower|upper|xdigit|space|print|punct|cntrl|graph|blank|ascii)))[[:space:]]*\(|setlocale|<ctype\.h>|<strings\.h>|FNM_CASE' \
    lib/*.c lib/*.h mgctl/*.c mgctl/*.h mod_media_guard/*.c mod_media_guard/*.h |
    grep -v '^lib/mg_ascii\.h:' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*([[:space:]/]|$))')
if [ -n "$hits" ]; then
    echo "FAIL: locale-dependent character functions (use lib/mg_ascii.h or apr_cstr_casecmp[n]):"
    echo "$hits"
    exit 1
fi
echo "ok: lib/, mgctl/ and mod_media_guard/ use ASCII-only case and character classes"
