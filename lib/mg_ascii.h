/* mg_ascii.h — character classes and case for ASCII, whatever the locale.
 *
 * glibc's tolower/toupper/isalpha/isdigit/... and strcasecmp follow the
 * process locale, and APR's apr_tolower/apr_isalpha/... are those same
 * calls. httpd never sets a locale, but a module loaded with it may (mod_perl
 * and mod_wsgi's interpreters call setlocale from LANG/LC_ALL): under
 * tr_TR 'I' folds to dotless 'ı' and 'İ' to 'i', so "IR" and "ir" differ
 * while "same-or\xDDgin" equals "same-origin" (latin5). Everything this
 * project compares — extensions, header tokens, schemes, hosts, country
 * codes, names in a policy — is ASCII by its grammar, and must decide the
 * same in Apache and in mgctl: these helpers and APR's apr_cstr_casecmp /
 * apr_cstr_casecmpn (an ASCII table, "irrespective of the current locale")
 * are the only ones used (tests/ascii.sh keeps it so). */
#ifndef MG_ASCII_H
#define MG_ASCII_H

#include <apr_cstr.h>

static inline int mg_ascii_isupper(int c)
{
    return c >= 'A' && c <= 'Z';
}
static inline int mg_ascii_islower(int c)
{
    return c >= 'a' && c <= 'z';
}
static inline int mg_ascii_isalpha(int c)
{
    return mg_ascii_isupper(c) || mg_ascii_islower(c);
}
static inline int mg_ascii_isdigit(int c)
{
    return c >= '0' && c <= '9';
}
static inline int mg_ascii_isalnum(int c)
{
    return mg_ascii_isalpha(c) || mg_ascii_isdigit(c);
}
static inline int mg_ascii_isxdigit(int c)
{
    return mg_ascii_isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
/* the C locale's isspace: blank, tab, LF, VT, FF, CR */
static inline int mg_ascii_isspace(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}
static inline int mg_ascii_tolower(int c)
{
    return mg_ascii_isupper(c) ? c + ('a' - 'A') : c;
}
static inline int mg_ascii_toupper(int c)
{
    return mg_ascii_islower(c) ? c - ('a' - 'A') : c;
}

/* 1 when `s` matches `pat`, where '*' is any run of bytes and '?' any one
 * byte, letters compared in ASCII: httpd's ap_strcasecmp_match (ServerAlias
 * wildcards) folds with apr_tolower, the locale's. Backtracks to the last
 * '*' only, so linear in strlen(s) times the number of '*'s. */
static inline int mg_ascii_casematch(const char *s, const char *pat)
{
    const char *star = NULL, *resume = NULL;
    while (*s != '\0') {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat != '\0' && (*pat == '?' || mg_ascii_tolower((unsigned char)*pat) ==
                                                       mg_ascii_tolower((unsigned char)*s))) {
            pat++;
            s++;
        } else if (star != NULL) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

#endif
