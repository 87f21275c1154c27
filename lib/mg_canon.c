/* mg_canon.c — canonical request paths and queries (the rules are in
 * docs/canonical-urls.md; keep the two in step).
 *
 * Everything that matches a rule or checks a signature sees the canonical
 * path made here, so the job is to refuse, never to guess: any input that two
 * reasonable servers could read differently (encoded '/', '\\' or ';', double
 * encoding, overlong UTF-8, dot segments above the root, Windows trailing
 * dots, ...) is refused with a short reason.
 *
 * Why hand-written and not apr_unescape_url(): we must know for every byte
 * whether it arrived raw or percent-encoded (a raw ';' starts path
 * parameters, an encoded one is refused), refuse control bytes and bad UTF-8,
 * and classify segments, all in one pass over the input without a second
 * copy. APR has no UTF-8 validator, hence utf8_valid() below. */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "mg_canon.h"
#include "mg_transform.h"

/* ------------------------------------------------------------------ */
/* Byte-level helpers shared by path and query                        */
/* ------------------------------------------------------------------ */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Strict UTF-8 (Unicode 15, table 3-7): no overlong forms, no surrogates,
 * nothing above U+10FFFF. C1 controls (U+0080..U+009F) are refused as well:
 * they are control characters, only spelt in two bytes. */
static int utf8_valid(const unsigned char *s, size_t n, const char **why)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            if (c == 0xc2)
                lo = 0xa0;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            *why = "invalid UTF-8 (bad or overlong lead byte)";
            return 0;
        }
        if (n - i <= need) {
            *why = "invalid UTF-8 (truncated sequence)";
            return 0;
        }
        for (size_t k = 1; k <= need; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
                *why = "invalid UTF-8 (bad continuation byte)";
                return 0;
            }
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            *why = c == 0xc2 ? "control character in URL"
                             : "invalid UTF-8 (overlong form, surrogate or above U+10FFFF)";
            return 0;
        }
        i += need + 1;
    }
    return 1;
}

/* A decoded "%XX": the input was encoded twice ("%252e"). */
static int has_pct_hex(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] == '%' && hexval((unsigned char)s[i + 1]) >= 0 &&
            hexval((unsigned char)s[i + 2]) >= 0)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Query                                                              */
/* ------------------------------------------------------------------ */

/* Decode raw[0, n) of one query name or value into *w. Returns the number
 * of bytes written or -1. */
static long query_decode(const char *raw, size_t n, char *w, const char **why)
{
    size_t i = 0, o = 0;
    int high = 0;
    while (i < n) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%') {
            int h1, h2;
            if (n - i < 3) {
                *why = "truncated percent escape in query";
                return -1;
            }
            h1 = hexval((unsigned char)raw[i + 1]);
            h2 = hexval((unsigned char)raw[i + 2]);
            if (h1 < 0 || h2 < 0) {
                *why = "malformed percent escape in query";
                return -1;
            }
            c = (unsigned char)(h1 << 4 | h2);
            if (is_ctl(c)) {
                *why = c == 0 ? "encoded NUL in query" : "control character in query";
                return -1;
            }
            i += 3;
        } else if (c == '+') {
            c = ' ';
            i++;
        } else {
            if (c <= 0x20 || c == 0x7f || c == '#') {
                *why = "control character, space or '#' in raw query";
                return -1;
            }
            i++;
        }
        high |= c & 0x80;
        w[o++] = (char)c;
    }
    if (high && !utf8_valid((const unsigned char *)w, o, why))
        return -1;
    return (long)o;
}

int mg_query_parse(apr_pool_t *pool, const char *query, apr_array_header_t **params,
                   const char **why)
{
    static const char *dummy;
    size_t len, i, start;
    char *buf, *w;

    if (why == NULL)
        why = &dummy;
    *params = NULL;
    len = query ? strnlen(query, MG_MAX_QUERY + 1) : 0;
    if (len > MG_MAX_QUERY) {
        *why = "query string too long";
        return -1;
    }
    *params = apr_array_make(pool, len ? 8 : 1, sizeof(mg_qparam_t));
    if (len == 0)
        return 0;
    /* Decoded text never grows, and each pair gives up its '=' or '&' for a
     * NUL, so one buffer of len + 1 holds every name and value. */
    w = buf = apr_palloc(pool, len + 1);
    start = 0;
    for (i = 0; i <= len; i++) {
        const char *pair = query + start, *eq;
        size_t plen;
        long nl, vl;
        mg_qparam_t *qp;

        if (i < len && query[i] != '&')
            continue;
        plen = i - start;
        start = i + 1;
        if (plen == 0)
            continue;
        if ((*params)->nelts >= MG_MAX_QPARAMS) {
            *why = "too many query parameters";
            *params = NULL;
            return -1;
        }
        eq = memchr(pair, '=', plen);
        nl = query_decode(pair, eq ? (size_t)(eq - pair) : plen, w, why);
        if (nl < 0) {
            *params = NULL;
            return -1;
        }
        if (nl == 0) {
            *why = "query parameter without a name";
            *params = NULL;
            return -1;
        }
        qp = apr_array_push(*params);
        qp->name = w;
        w += nl;
        *w++ = '\0';
        if (eq == NULL) {
            qp->value = "";
            continue;
        }
        vl = query_decode(eq + 1, plen - (size_t)(eq + 1 - pair), w, why);
        if (vl < 0) {
            *params = NULL;
            return -1;
        }
        qp->value = w;
        w += vl;
        *w++ = '\0';
    }
    return 0;
}

const char *mg_query_get(const apr_array_header_t *params, const char *name, int *count)
{
    const char *first = NULL;
    int n = 0;
    if (params != NULL && name != NULL) {
        const mg_qparam_t *v = (const mg_qparam_t *)params->elts;
        for (int i = 0; i < params->nelts; i++) {
            if (strcmp(v[i].name, name) == 0) {
                if (n++ == 0)
                    first = v[i].value;
            }
        }
    }
    if (count != NULL)
        *count = n;
    return first;
}

/* ------------------------------------------------------------------ */
/* Path                                                               */
/* ------------------------------------------------------------------ */

/* Kinds of decoded segment. */
enum { SEG_EMPTY, SEG_DOT, SEG_DOTDOT, SEG_NAME, SEG_TR };

static int classify(const char *s, size_t n, int has_params, const char **why)
{
    size_t dots = 0;
    if (n == 0) {
        if (has_params) {
            *why = "path segment made only of ';' parameters";
            return -1;
        }
        return SEG_EMPTY;
    }
    while (dots < n && s[dots] == '.')
        dots++;
    if (dots == n) {
        if (n > 2) {
            *why = "path segment made only of dots";
            return -1;
        }
        if (has_params) {
            *why = "dot segment with ';' parameters";
            return -1;
        }
        return n == 1 ? SEG_DOT : SEG_DOTDOT;
    }
    if (s[n - 1] == '.' || s[n - 1] == ' ') {
        *why = "path segment ends in a dot or a space";
        return -1;
    }
    if (n >= 3 && (s[0] | 0x20) == 't' && (s[1] | 0x20) == 'r' && s[2] == ':') {
        if (s[0] != 't' || s[1] != 'r') {
            *why = "transformation segment must be written 'tr:' in lower case";
            return -1;
        }
        return SEG_TR;
    }
    return SEG_NAME;
}

/* Parse and normalise a transformation for the canonical form. */
static const char *tr_normal(apr_pool_t *pool, const char *s, size_t n, const char **why)
{
    mg_tr_t tr;
    if (mg_transform_parse(pool, apr_pstrmemdup(pool, s, n), &tr, why) != 0)
        return NULL;
    return mg_transform_normalize(pool, &tr);
}

static int canon_fail(mg_canon_t *out, const char **why, const char *msg)
{
    memset(out, 0, sizeof(*out));
    if (msg != NULL)
        *why = msg;
    return -1;
}

int mg_canon_path(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                  const char **why)
{
    static const char *dummy;
    /* Start offset in buf of each kept segment (its leading '/'). */
    unsigned short seg[MG_MAX_SEGMENTS];
    int nseg = 0, nraw = 0, tr_idx = -1, dir = 1, last_tr = 0, tr_count;
    size_t len, i, w = 0, tr_end = 0;
    const char *trq;
    char *buf;

    if (why == NULL)
        why = &dummy;
    memset(out, 0, sizeof(*out));
    if (raw_path == NULL || raw_path[0] != '/')
        return canon_fail(out, why, "path does not start with '/'");
    len = strnlen(raw_path, MG_MAX_PATH + 1);
    if (len > MG_MAX_PATH)
        return canon_fail(out, why, "path too long");

    /* Decoding never grows the text and every kept segment replaces its own
     * raw '/', so len + 2 (a final '/' and the NUL) is always enough. */
    buf = apr_palloc(pool, len + 2);
    i = 0;
    while (i < len) {
        size_t start_w = w, dstart, n;
        int has_params = 0, high = 0, pct = 0, kind;

        i++; /* the '/' */
        buf[w++] = '/';
        dstart = w;
        while (i < len && raw_path[i] != '/') {
            unsigned char c = (unsigned char)raw_path[i];
            if (c == '%') {
                int h1, h2;
                if (len - i < 3)
                    return canon_fail(out, why, "truncated percent escape in path");
                h1 = hexval((unsigned char)raw_path[i + 1]);
                h2 = hexval((unsigned char)raw_path[i + 2]);
                if (h1 < 0 || h2 < 0)
                    return canon_fail(out, why, "malformed percent escape in path");
                c = (unsigned char)(h1 << 4 | h2);
                i += 3;
                if (has_params)
                    continue; /* parameters are checked, never decoded */
                if (is_ctl(c))
                    return canon_fail(out, why,
                                      c == 0 ? "encoded NUL in path" : "control character in path");
                if (c == '/' || c == '\\')
                    return canon_fail(out, why, "encoded slash or backslash in path");
                if (c == ';')
                    return canon_fail(out, why, "encoded ';' in path");
                pct |= c == '%';
            } else {
                if (c <= 0x20 || c == 0x7f)
                    return canon_fail(out, why, "control character or space in raw path");
                if (c == '\\' || c == '?' || c == '#')
                    return canon_fail(out, why, "raw backslash, '?' or '#' in path");
                i++;
                if (c == ';')
                    has_params = 1;
                if (has_params)
                    continue;
            }
            high |= c & 0x80;
            buf[w++] = (char)c;
        }
        n = w - dstart;
        if (high && !utf8_valid((const unsigned char *)buf + dstart, n, why))
            return canon_fail(out, why, NULL);
        if (pct && has_pct_hex(buf + dstart, n))
            return canon_fail(out, why, "double percent-encoding in path");
        kind = classify(buf + dstart, n, has_params, why);
        if (kind < 0)
            return canon_fail(out, why, NULL);
        if (kind != SEG_EMPTY && ++nraw > MG_MAX_SEGMENTS)
            return canon_fail(out, why, "too many path segments");
        last_tr = 0;
        switch (kind) {
        case SEG_EMPTY:
            w = start_w;
            dir = 1;
            break;
        case SEG_DOT:
            w = start_w;
            dir = 1;
            break;
        case SEG_DOTDOT:
            if (nseg == 0)
                return canon_fail(out, why, "'..' climbs above the root");
            if (nseg - 1 == tr_idx)
                return canon_fail(out, why, "'..' would remove the transformation segment");
            w = seg[--nseg];
            dir = 1;
            break;
        case SEG_TR:
            if (tr_idx >= 0)
                return canon_fail(out, why, "more than one transformation segment");
            tr_idx = nseg;
            tr_end = w;
            last_tr = 1;
            seg[nseg++] = (unsigned short)start_w;
            break;
        default:
            seg[nseg++] = (unsigned short)start_w;
            dir = 0;
            break;
        }
    }

    if (mg_query_parse(pool, query, &out->params, why) != 0)
        return canon_fail(out, why, NULL);
    trq = mg_query_get(out->params, "tr", &tr_count);
    {
        const mg_qparam_t *v = (const mg_qparam_t *)out->params->elts;
        for (int k = 0; k < out->params->nelts; k++) {
            if (strcasecmp(v[k].name, "tr") == 0 && strcmp(v[k].name, "tr") != 0)
                return canon_fail(out, why, "transformation parameter must be 'tr' in lower case");
        }
    }
    if (tr_count > 1)
        return canon_fail(out, why, "repeated 'tr' query parameter");
    if (tr_count == 1 && tr_idx >= 0)
        return canon_fail(out, why, "transformation both in the path and in the query");
    if (last_tr)
        return canon_fail(out, why, "transformation segment is not followed by a file");
    if (tr_idx >= 0 || tr_count == 1) {
        if (dir)
            return canon_fail(out, why, "transformation of a directory");
    }

    if (nseg == 0) {
        buf[0] = '/';
        w = 1;
    } else if (dir) {
        buf[w++] = '/';
    }
    buf[w] = '\0';

    if (tr_idx >= 0) {
        size_t ts = seg[tr_idx]; /* the '/' before "tr:" */
        const char *norm = tr_normal(pool, buf + ts + 4, tr_end - ts - 4, why);
        size_t nl, tail = w - tr_end;
        char *sp, *p;
        if (norm == NULL)
            return canon_fail(out, why, NULL);
        nl = strlen(norm);
        sp = apr_palloc(pool, ts + 4 + nl + tail + 1);
        memcpy(sp, buf, ts);
        memcpy(sp + ts, "/tr:", 4);
        memcpy(sp + ts + 4, norm, nl);
        memcpy(sp + ts + 4 + nl, buf + tr_end, tail + 1);
        /* path: the same bytes without the segment, in place in buf. */
        p = buf;
        memmove(p + ts, p + tr_end, tail + 1);
        out->signed_path = sp;
        out->path = p;
        out->tr = norm;
        out->tr_form = MG_TR_FORM_PATH;
    } else {
        out->path = out->signed_path = buf;
        if (tr_count == 1) {
            out->tr = tr_normal(pool, trq, strlen(trq), why);
            if (out->tr == NULL)
                return canon_fail(out, why, NULL);
            out->tr_form = MG_TR_FORM_QUERY;
        }
    }

    out->trailing_slash = dir;
    if (dir) {
        out->basename = out->ext = "";
    } else {
        const char *b = strrchr(out->path, '/') + 1, *dot = strrchr(b, '.');
        out->basename = b;
        if (dot == NULL || dot == b) {
            out->ext = "";
        } else {
            char *e = apr_pstrdup(pool, dot + 1);
            for (char *q = e; *q; q++) {
                if (*q >= 'A' && *q <= 'Z')
                    *q = (char)(*q + ('a' - 'A'));
            }
            out->ext = e;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                           */
/* ------------------------------------------------------------------ */

#define ENC_QUERY 1 /* RFC 3986 unreserved */
#define ENC_PATH 2  /* unreserved, '/', sub-delims but ';', ':' and '@' */

static const unsigned char enc_keep[256] = {
    ['a' ... 'z'] = 3, ['A' ... 'Z'] = 3, ['0' ... '9'] = 3, ['-'] = 3, ['.'] = 3,
    ['_'] = 3,         ['~'] = 3,         ['/'] = 2,         ['!'] = 2, ['$'] = 2,
    ['&'] = 2,         ['\''] = 2,        ['('] = 2,         [')'] = 2, ['*'] = 2,
    ['+'] = 2,         [','] = 2,         ['='] = 2,         [':'] = 2, ['@'] = 2,
};

static const char *pct_encode(apr_pool_t *pool, const char *s, unsigned char mask)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n;
    char *res, *w;
    if (s == NULL)
        return NULL;
    n = strlen(s);
    /* Worst case three bytes per byte: one allocation, one pass. */
    res = w = apr_palloc(pool, 3 * n + 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (enc_keep[*p] & mask) {
            *w++ = (char)*p;
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return res;
}

const char *mg_pct_encode_path(apr_pool_t *pool, const char *s)
{
    return pct_encode(pool, s, ENC_PATH);
}

const char *mg_pct_encode_query(apr_pool_t *pool, const char *s)
{
    return pct_encode(pool, s, ENC_QUERY);
}
