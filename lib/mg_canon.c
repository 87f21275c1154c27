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

/* Byte classes for the hot loops: one table lookup per input byte. */
enum { C_PLAIN = 0, C_PCT, C_HIGH, C_END, C_BAD, C_SLASH, C_SEMI, C_AMP, C_EQ, C_PLUS };

/* Raw path: controls, space, DEL, '\\', '?' and '#' are refused outright. */
static const unsigned char path_cls[256] = {
    [0] = C_END,    [1 ... 0x20] = C_BAD, ['%'] = C_PCT, ['/'] = C_SLASH, [';'] = C_SEMI,
    ['\\'] = C_BAD, ['?'] = C_BAD,        ['#'] = C_BAD, [0x7f] = C_BAD,  [0x80 ... 0xff] = C_HIGH,
};

/* Raw query: controls, space, DEL and '#' are refused. */
static const unsigned char query_cls[256] = {
    [0] = C_END,    [1 ... 0x20] = C_BAD, ['%'] = C_PCT,
    ['&'] = C_AMP,  ['='] = C_EQ,         ['+'] = C_PLUS,
    ['#'] = C_BAD,  [0x7f] = C_BAD,       [0x80 ... 0xff] = C_HIGH,
    [';'] = C_SEMI,
};

/* 1 when the 8 bytes at p are all of class 0 (C_PLAIN) in `cls`. Unrolled,
 * with one test for the eight, so a long run of ordinary bytes (a token's
 * signature, a claim value) costs about 3 instructions a byte instead of 7.
 * The caller guarantees that p[0..7] lie inside the string. Always inlined:
 * as a call it costs about what it saves. */
static inline __attribute__((always_inline)) int plain8(const unsigned char *cls,
                                                        const unsigned char *p)
{
    return (cls[p[0]] | cls[p[1]] | cls[p[2]] | cls[p[3]] | cls[p[4]] | cls[p[5]] | cls[p[6]] |
            cls[p[7]]) == 0;
}

/* Decode one "%XX" at p (p[0] == '%'); -1 if malformed. Reads p[2] only
 * when p[1] is a hex digit, so never past the terminating NUL. */
static int pct_decode(const char *p)
{
    int h1 = hexval((unsigned char)p[1]), h2;
    if (h1 < 0)
        return -1;
    h2 = hexval((unsigned char)p[2]);
    if (h2 < 0)
        return -1;
    return h1 << 4 | h2;
}

/* Decode one query name (stops at '=', '&' or the end) or value (stops at
 * '&' or the end) from *pp into w; advances *pp. `end` is the query's
 * terminating NUL. Returns the number of bytes written or -1.
 * Always inlined into its two callers: a query has two parts per parameter,
 * each a call with five saved registers, and `is_name` becomes a constant. */
static inline __attribute__((always_inline)) long query_part(const char **pp, const char *end,
                                                             int is_name, char *w, const char **why)
{
    const char *p = *pp;
    char *o = w;
    int high = 0;
    for (;;) {
        unsigned char c;
        int d;
        /* Fast paths: eight ordinary bytes at a time while eight remain,
         * then single bytes, indexed from the run's start so that the loop
         * keeps one counter (a third fewer instructions per byte than
         * advancing two pointers). */
        while (end - p >= 8 && plain8(query_cls, (const unsigned char *)p)) {
            memcpy(o, p, 8);
            o += 8;
            p += 8;
        }
        size_t n = 0;
        while (query_cls[c = (unsigned char)p[n]] == C_PLAIN) {
            o[n] = (char)c;
            n++;
        }
        p += n;
        o += n;
        switch (query_cls[c]) {
        case C_PLAIN:
            break;
        case C_HIGH:
            high = 1;
            break;
        case C_PLUS:
            c = ' ';
            break;
        case C_EQ:
            if (is_name)
                goto done;
            break;
        case C_PCT:
            d = pct_decode(p);
            if (d < 0) {
                *why = "malformed or truncated percent escape in query";
                return -1;
            }
            if (is_ctl((unsigned char)d)) {
                *why = d == 0 ? "encoded NUL in query" : "control character in query";
                return -1;
            }
            high |= d & 0x80;
            *o++ = (char)d;
            p += 3;
            continue;
        case C_BAD:
            *why = "control character, space or '#' in raw query";
            return -1;
        case C_SEMI:
            /* We split on '&' only, but many origins (Rack < 3, CGI.pm, old
             * Go and Python) also split on ';': "x=1;tr=w-1200" would be a
             * second, unchecked "tr" there. Refuse what two reasonable
             * parsers read differently; "%3B" stays a literal ';'. */
            *why = "raw ';' in query (encode it as %3B)";
            return -1;
        default: /* C_AMP, C_END */
            goto done;
        }
        *o++ = (char)c;
        p++;
    }
done:
    *pp = p;
    if (high && !utf8_valid((const unsigned char *)w, (size_t)(o - w), why))
        return -1;
    return (long)(o - w);
}

int mg_query_parse(apr_pool_t *pool, const char *query, apr_array_header_t **params,
                   const char **why)
{
    static const char *dummy;
    const char *p = query;
    size_t len;
    char *w;

    if (why == NULL)
        why = &dummy;
    if (params == NULL) {
        *why = "no output for the query parameters";
        return -1;
    }
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
    w = apr_palloc(pool, len + 1);
    while (*p != '\0') {
        mg_qparam_t *qp;
        long n;
        if (*p == '&') {
            p++; /* empty pair */
            continue;
        }
        if ((*params)->nelts >= MG_MAX_QPARAMS) {
            *why = "too many query parameters";
            goto fail;
        }
        n = query_part(&p, query + len, 1, w, why);
        if (n < 0)
            goto fail;
        if (n == 0) {
            *why = "query parameter without a name";
            goto fail;
        }
        qp = apr_array_push(*params);
        qp->name = w;
        qp->name_len = (size_t)n;
        w += n;
        *w++ = '\0';
        qp->value = "";
        qp->value_len = 0;
        if (*p == '=') {
            p++;
            n = query_part(&p, query + len, 0, w, why);
            if (n < 0)
                goto fail;
            qp->value = w;
            qp->value_len = (size_t)n;
            w += n;
            *w++ = '\0';
        }
    }
    return 0;
fail:
    *params = NULL;
    return -1;
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
/* Reserved query names                                               */
/* ------------------------------------------------------------------ */

/* What the server stacks behind us do to a decoded parameter name before
 * they look it up (sources in docs/canonical-urls.md):
 *   - PHP drops leading spaces, turns ' ' and '.' into '_', cuts at the
 *     first '[' when a ']' follows (an array: "tr[]", "tr[x]"), else turns
 *     that '[' (and PHP 8: every later ' ', '.', '[') into '_';
 *   - Rack 2 drops leading '[' and ']' and cuts at the next one ("[tr]",
 *     "tr]"); Rack 3, Rails and qs cut at the first '[' ("tr[x"), qs takes
 *     "[tr]" for "tr", qs with allowDots cuts at '.' ("tr.x", ".tr");
 *     ASP.NET Core model binding reads "tr.x" and "tr[0]" for "tr";
 *   - ASP.NET, IIS and some image servers compare names ignoring case
 *     (.NET's invariant-culture comparers also ignore default-ignorable
 *     code points; Java's equalsIgnoreCase and JavaScript's case mapping
 *     take U+0130/U+0131 for 'i', U+017F for 's', U+212A for 'k').
 * No stack does anything else to the ASCII bytes other than ' ' '.' '['
 * ']' (and a component that decodes twice to "%XX" and '+'): a name
 * without those and without non-ASCII is "plain", read as it is up to
 * case. For any other name two readings cover them all (over-approximated:
 * refusing "[ tr]" costs nobody anything):
 *   cut: folded, leading ' ' '[' ']' '.' dropped, cut at '[' ']' '.';
 *   php: folded, leading ' ' dropped, PHP's mangling above;
 * "folded" includes decoding a "%XX" left in the name once more, and a
 * '+' left in it as a space. */

enum { QR_CUT, QR_PHP, QR_NREAD };

typedef struct {
    char s[MG_QR_NAME_MAX + 2]; /* the first bytes: enough to tell */
    size_t n;                   /* full length */
} qr_read_t;

static void qr_put(qr_read_t *r, char c)
{
    if (r->n <= MG_QR_NAME_MAX)
        r->s[r->n] = c;
    r->n++;
}

/* Unicode default-ignorable code points (DerivedCoreProperties.txt,
 * Default_Ignorable_Code_Point): culture-aware comparers skip them. */
static int qr_ignorable(unsigned cp)
{
    return cp == 0xad || cp == 0x34f || cp == 0x61c || (cp >= 0x115f && cp <= 0x1160) ||
           (cp >= 0x17b4 && cp <= 0x17b5) || (cp >= 0x180b && cp <= 0x180f) ||
           (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x206f) || cp == 0x3164 || (cp >= 0xfe00 && cp <= 0xfe0f) ||
           cp == 0xfeff || cp == 0xffa0 || (cp >= 0xfff0 && cp <= 0xfff8) ||
           (cp >= 0x1bca0 && cp <= 0x1bca3) || (cp >= 0x1d173 && cp <= 0x1d17a) ||
           (cp >= 0xe0000 && cp <= 0xe0fff);
}

/* One code point of valid UTF-8 (mg_query_parse checked it) at s[*i],
 * folded to the ASCII byte some stack may take it for: lower case, -1 to
 * skip (ignorable), 0x80 for "some other character". */
static int qr_fold(const unsigned char *s, size_t n, size_t *i)
{
    unsigned cp = s[*i];
    size_t k = 0;
    if (cp == '%' && *i + 2 < n && hexval(s[*i + 1]) >= 0 && hexval(s[*i + 2]) >= 0) {
        /* encoded twice ("%2574r"): a component that decodes again reads
         * the byte */
        cp = (unsigned)(hexval(s[*i + 1]) << 4 | hexval(s[*i + 2]));
        *i += 3;
        if (cp >= 0x80)
            return 0x80;
        if (cp == '+')
            return ' ';
        return cp >= 'A' && cp <= 'Z' ? (int)(cp + ('a' - 'A')) : (int)cp;
    }
    if (cp < 0x80) {
        (*i)++;
        /* a '+' left from decoding ("%2Btr") is a space to a component
         * that form-decodes once more: " tr" to PHP */
        if (cp == '+')
            return ' ';
        return cp >= 'A' && cp <= 'Z' ? (int)(cp + ('a' - 'A')) : (int)cp;
    }
    k = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : 1;
    cp &= 0x3f >> k;
    for (size_t j = 1; j <= k && *i + j < n; j++)
        cp = cp << 6 | (s[*i + j] & 0x3f);
    *i += k + 1;
    if (cp == 0x130 || cp == 0x131)
        return 'i';
    if (cp == 0x17f)
        return 's';
    if (cp == 0x212a)
        return 'k';
    if (cp >= 0xff01 && cp <= 0xff5e) { /* fullwidth ASCII */
        cp -= 0xfee0;
        return cp >= 'A' && cp <= 'Z' ? (int)(cp + ('a' - 'A')) : (int)cp;
    }
    return qr_ignorable(cp) ? -1 : 0x80;
}

static void qr_readings(const char *name, size_t len, qr_read_t rd[QR_NREAD])
{
    const unsigned char *s = (const unsigned char *)name;
    const char *close = memchr(name, ']', len);
    int cut_on = 0, cut_done = 0, php_on = 0, php_mode = 0, php_done = 0;
    size_t i = 0;

    rd[QR_CUT].n = rd[QR_PHP].n = 0;
    while (i < len && !(cut_done && php_done)) {
        size_t at = i;
        int c = qr_fold(s, len, &i);
        if (c < 0)
            continue;
        if (!cut_done) {
            int br = c == '[' || c == ']' || c == '.';
            if (!cut_on && (br || c == ' '))
                ; /* leading noise */
            else if (br)
                cut_done = 1;
            else {
                cut_on = 1;
                qr_put(&rd[QR_CUT], (char)c);
            }
        }
        if (!php_done) {
            if (!php_on && c == ' ')
                continue;
            php_on = 1;
            if (c == ' ' || c == '.') {
                qr_put(&rd[QR_PHP], '_');
            } else if (c == '[' && php_mode == 0) {
                /* an array when a ']' follows; else PHP keeps going */
                if (close != NULL && memchr(name + at, ']', len - at) != NULL)
                    php_done = 1;
                else {
                    qr_put(&rd[QR_PHP], '_');
                    php_mode = 1;
                }
            } else if (c == '[') {
                qr_put(&rd[QR_PHP], '_');
            } else {
                qr_put(&rd[QR_PHP], (char)c);
            }
        }
    }
}

/* Does reading r (folded) name entry e, ignoring case? */
static int qr_reads_as(const char *r, size_t rn, const mg_qreserved_t *e, size_t el)
{
    if (rn < el || (!(e->flags & MG_QR_PREFIX) && rn != el) || el > MG_QR_NAME_MAX)
        return 0;
    for (size_t j = 0; j < el; j++) {
        unsigned char c = (unsigned char)e->name[j];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if ((unsigned char)r[j] != c)
            return 0;
    }
    return 1;
}

/* Bytes that some stack rewrites or cuts at, a '%' or '+' left from
 * decoding (a second decoder reads "%74r" as "tr", "+tr" as " tr"), and
 * non-ASCII. */
static const unsigned char qr_special[256] = {
    [' '] = 1, ['.'] = 1, ['['] = 1, [']'] = 1, ['%'] = 1, ['+'] = 1, [0x80 ... 0xff] = 1,
};

int mg_query_reserved_name_ok(const char *name)
{
    size_t n = 0;
    if (name == NULL)
        return 0;
    for (; name[n]; n++) {
        unsigned char c = (unsigned char)name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= MG_QR_NAME_MAX;
}

int mg_query_reserved_check(const apr_array_header_t *params, const mg_qreserved_t *names, int n,
                            const char **why)
{
    static const char *dummy;
    unsigned long long seen = 0;
    size_t el[64];

    if (why == NULL)
        why = &dummy;
    if (params == NULL || names == NULL || n <= 0)
        return 0;
    if (n > 64) {
        *why = "too many reserved query parameter names";
        return -1;
    }
    for (int j = 0; j < n; j++)
        el[j] = strlen(names[j].name);
    const mg_qparam_t *v = (const mg_qparam_t *)params->elts;
    for (int k = 0; k < params->nelts; k++) {
        const char *nm = v[k].name;
        size_t len = v[k].name_len, b = 0;
        /* the fast common case: a plain name no reserved one starts like */
        while (b < len && !qr_special[(unsigned char)nm[b]])
            b++;
        if (b == len) {
            char low[MG_QR_NAME_MAX + 1];
            size_t ln = len < sizeof(low) ? len : sizeof(low);
            for (size_t j = 0; j < ln; j++)
                low[j] = (char)(nm[j] >= 'A' && nm[j] <= 'Z' ? nm[j] + ('a' - 'A') : nm[j]);
            for (int j = 0; j < n; j++) {
                const mg_qreserved_t *e = &names[j];
                /* a name longer than the buffer can still be in a namespace */
                if (!qr_reads_as(low, len > ln && (e->flags & MG_QR_PREFIX) ? ln : len, e, el[j]))
                    continue;
                int exact = (e->flags & MG_QR_PREFIX) ? strncmp(nm, e->name, el[j]) == 0
                                                      : strcmp(nm, e->name) == 0;
                if (!exact) {
                    *why = e->why_case ? e->why_case
                           : e->why_spelling
                               ? e->why_spelling
                               : "query name that some servers read as a reserved one";
                    return -1;
                }
                if (e->flags & (MG_QR_PREFIX | MG_QR_REPEAT))
                    continue;
                if (seen & (1ULL << j)) {
                    *why = e->why_repeated ? e->why_repeated
                                           : "reserved query parameter given more than once";
                    return -1;
                }
                seen |= 1ULL << j;
            }
            continue;
        }
        qr_read_t rd[QR_NREAD];
        qr_readings(nm, len, rd);
        for (int r = 0; r < QR_NREAD; r++) {
            size_t rn = rd[r].n;
            for (int j = 0; j < n; j++) {
                const mg_qreserved_t *e = &names[j];
                size_t cmp = rn > MG_QR_NAME_MAX + 1 ? MG_QR_NAME_MAX + 1 : rn;
                if (!qr_reads_as(rd[r].s, (e->flags & MG_QR_PREFIX) ? cmp : rn, e, el[j]))
                    continue;
                *why = e->why_spelling ? e->why_spelling
                                       : "query name that some servers read as a reserved one";
                return -1;
            }
        }
    }
    return 0;
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

/* The names every policy reserves. For "tr" the case spelling keeps its
 * old, more precise sentence. */
static const mg_qreserved_t builtin_reserved[] = {
    {"tr", 0, "query name that some servers read as 'tr'",
     "transformation parameter must be 'tr' in lower case", "repeated 'tr' query parameter"},
    {"mg_", MG_QR_PREFIX, "query name that some servers read as a token one (mg_)", NULL, NULL},
};

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
    if (out == NULL) {
        *why = "no output for the canonical path";
        return -1;
    }
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
    while (raw_path[i] != '\0') {
        size_t start_w = w, dstart, n;
        int has_params = 0, high = 0, pct = 0, kind, d;

        i++; /* the '/' */
        buf[w++] = '/';
        dstart = w;
        for (;;) {
            unsigned char c;
            /* Fast path: runs of ordinary bytes. */
            while (path_cls[c = (unsigned char)raw_path[i]] == C_PLAIN)
                buf[w++] = (char)raw_path[i++];
            switch (path_cls[c]) {
            case C_PLAIN:
                buf[w++] = (char)c;
                i++;
                continue;
            case C_HIGH:
                high = 1;
                buf[w++] = (char)c;
                i++;
                continue;
            case C_PCT:
                d = pct_decode(raw_path + i);
                if (d < 0)
                    return canon_fail(out, why, "malformed or truncated percent escape in path");
                if (is_ctl((unsigned char)d))
                    return canon_fail(out, why,
                                      d == 0 ? "encoded NUL in path" : "control character in path");
                if (d == '/' || d == '\\')
                    return canon_fail(out, why, "encoded slash or backslash in path");
                if (d == ';')
                    return canon_fail(out, why, "encoded ';' in path");
                pct |= d == '%';
                high |= d & 0x80;
                buf[w++] = (char)d;
                i += 3;
                continue;
            case C_SEMI:
                /* Path parameters: checked like the rest of the path so
                 * nothing odd hides there, but never decoded or kept. */
                has_params = 1;
                for (i++; raw_path[i] != '/' && raw_path[i] != '\0'; i++) {
                    unsigned char pc = (unsigned char)raw_path[i];
                    if (path_cls[pc] == C_BAD)
                        return canon_fail(out, why,
                                          "control byte, space, backslash, '?' or '#' in path");
                    if (pc == '%') {
                        if (pct_decode(raw_path + i) < 0)
                            return canon_fail(out, why,
                                              "malformed or truncated percent escape in path");
                        i += 2;
                    }
                }
                break;
            case C_BAD:
                return canon_fail(out, why, "control byte, space, backslash, '?' or '#' in path");
            default: /* C_SLASH, C_END */
                break;
            }
            break;
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
    /* "tr" and the "mg_" namespace under any other spelling that some
     * server stack reads as them (" tr", "tr[]", "[tr]", "TR", "mg.sig")
     * are refused, and so is a second "tr": an image server behind us must
     * never get a transformation we did not check. */
    if (mg_query_reserved_check(out->params, builtin_reserved, 2, why) != 0)
        return canon_fail(out, why, NULL);
    trq = mg_query_get(out->params, "tr", &tr_count);
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
            /* Point into the path unless there is upper case to fold. */
            const char *q = dot + 1;
            while (*q && !(*q >= 'A' && *q <= 'Z'))
                q++;
            if (*q == '\0') {
                out->ext = dot + 1;
            } else {
                char *e = apr_pstrdup(pool, dot + 1);
                for (char *x = e; *x; x++) {
                    if (*x >= 'A' && *x <= 'Z')
                        *x = (char)(*x + ('a' - 'A'));
                }
                out->ext = e;
            }
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
