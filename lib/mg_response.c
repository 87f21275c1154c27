/* mg_response.c — the text of the module's answers (mg_response.h): deny
 * message bodies, Content-Disposition values, private Cache-Control. No
 * httpd header: the rules of httpd that matter here (what
 * ap_custom_response() reads as a URL) are restated and unit-tested.
 */
#include <stdio.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_response.h"

/* httpd's ap_is_url(): a non-empty run of letters, digits, '+', '-', '.'
 * followed by ':'. ap_custom_response() redirects to such a string. */
static int reads_as_url(const char *s)
{
    size_t n = 0;
    while (mg_ascii_isalnum(s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.')
        n++;
    return n > 0 && s[n] == ':';
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one:
 * a stray continuation byte, a truncated sequence, an overlong form, a
 * surrogate or a code point above U+10FFFF. */
static int utf8_seq(const unsigned char *s)
{
    unsigned long cp;
    int len, i;

    len = (*s & 0xE0) == 0xC0 ? 2 : (*s & 0xF0) == 0xE0 ? 3 : (*s & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0)
        return 0;
    cp = len == 2 ? (*s & 0x1Fu) : len == 3 ? (*s & 0x0Fu) : (*s & 0x07u);
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (len == 2 && cp < 0x80) ||
        (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
        return 0;
    return len;
}

const char *mg_message_html(apr_pool_t *p, const char *msg)
{
    const unsigned char *s = (const unsigned char *)(msg ? msg : "");
    /* worst case per input byte: "&quot;" (6), "&#x27;" (6), "&#x2F;" (6),
     * U+FFFD (3) */
    char *out = apr_palloc(p, strlen((const char *)s) * 6 + 1), *o = out;
    int url = msg != NULL && reads_as_url(msg);

    while (*s) {
        int len;
        if (*s < 0x80) {
            const char *e = *s == '<'   ? "&lt;"
                            : *s == '>' ? "&gt;"
                            : *s == '&' ? "&amp;"
                            : *s == '"' ? "&quot;"
                            /* harmless in text, but the body must stay
                             * inert wherever a page might quote it */
                            : *s == '\'' ? "&#x27;"
                                         : NULL;
            if (e)
                o = stpcpy(o, e);
            else if (o == out && (*s == '/' || url))
                o += sprintf(o, "&#x%X;", (unsigned)*s);
            else
                *o++ = (char)*s;
            s++;
            continue;
        }
        len = utf8_seq(s);
        if (len == 0) {
            o = stpcpy(o, "\xEF\xBF\xBD"); /* U+FFFD */
            s++;
            continue;
        }
        memcpy(o, s, (size_t)len);
        o += len;
        s += len;
    }
    *o = '\0';
    return out;
}

/* RFC 8187 attr-char: everything else is percent-encoded. */
static int attr_char(unsigned char c)
{
    return (c < 0x80 && mg_ascii_isalnum(c)) || (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

const char *mg_content_disposition(apr_pool_t *p, const char *type, const char *filename)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)filename;
    size_t n, i, o = 0, e = 0;
    char *ascii, *ext;

    if (filename == NULL || *filename == '\0')
        return type;
    n = strlen(filename);
    if (n > MG_DISPOSITION_MAX_NAME)
        n = MG_DISPOSITION_MAX_NAME;
    ascii = apr_palloc(p, n + 1);
    ext = apr_palloc(p, 9 * n + 1); /* an invalid byte: %EF%BF%BD */
    for (i = 0; i < n;) {
        /* one UTF-8 sequence at a time: filename* says UTF-8, so an
         * invalid byte is U+FFFD there, and the cut never splits one */
        int len = s[i] < 0x80 ? 1 : utf8_seq(s + i), bad = len == 0;
        size_t k;
        if (bad)
            len = 1;
        if (i + (size_t)len > n)
            break;
        for (k = 0; k < (size_t)len; k++, i++) {
            unsigned char c = s[i];
            ascii[o++] =
                (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%') ? (char)c : '_';
            if (bad) {
                memcpy(ext + e, "%EF%BF%BD", 9);
                e += 9;
            } else if (attr_char(c)) {
                ext[e++] = (char)c;
            } else {
                ext[e++] = '%';
                ext[e++] = hex[c >> 4];
                ext[e++] = hex[c & 15];
            }
        }
    }
    ascii[o] = '\0';
    ext[e] = '\0';
    return apr_psprintf(p, "%s; filename=\"%s\"; filename*=UTF-8''%s", type, ascii, ext);
}

const char *mg_private_cache_control(apr_pool_t *p, const char *origin_cc)
{
    const char *out = "private";
    char *copy, *tok, *last;

    if (origin_cc == NULL)
        return out;
    copy = apr_pstrdup(p, origin_cc);
    for (tok = apr_strtok(copy, ",", &last); tok; tok = apr_strtok(NULL, ",", &last)) {
        while (mg_ascii_isspace(*tok))
            tok++;
        apr_collapse_spaces(tok, tok);
        if (*tok == '\0' || apr_cstr_casecmp(tok, "public") == 0 ||
            apr_cstr_casecmp(tok, "private") == 0 || apr_cstr_casecmpn(tok, "s-maxage", 8) == 0 ||
            apr_cstr_casecmp(tok, "proxy-revalidate") == 0)
            continue;
        out = apr_pstrcat(p, out, ", ", tok, NULL);
    }
    return out;
}
