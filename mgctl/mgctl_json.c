/* mgctl_json.c — JSON string literals that stay valid whatever the input. */
#include "mgctl_util.h"

#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

const char *mgctl_json_str(apr_pool_t *pool, const char *s)
{
    if (!s)
        return "null";
    size_t len = strlen(s);
    /* worst case: every byte becomes \ufffd or \u00XX (6 bytes) */
    char *out = apr_palloc(pool, len * 6 + 3), *o = out;
    const unsigned char *p = (const unsigned char *)s;
    *o++ = '"';
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            p++;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
            p++;
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
            p++;
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\u%04x", c);
            p++;
        } else {
            int n = utf8_len(p);
            if (n == 0) {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                p++;
            } else {
                memcpy(o, p, (size_t)n);
                o += n;
                p += n;
            }
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}
