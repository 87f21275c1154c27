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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
enum { C_PLAIN = 0, C_PCT, C_HIGH, C_END, C_BAD, C_SLASH, C_SEMI, C_AMP, C_EQ, C_PLUS, C_NSPEC };

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

/* A query name: the same, and the bytes of a name that some server stack
 * rewrites or cuts at (C_NSPEC), so that the parser can tell the reserved
 * names check which names are plain (docs/canonical-urls.md, "The
 * normalisation"). */
static const unsigned char qname_cls[256] = {
    [0] = C_END,     [1 ... 0x20] = C_BAD, ['%'] = C_PCT,
    ['&'] = C_AMP,   ['='] = C_EQ,         ['+'] = C_PLUS,
    ['#'] = C_BAD,   [0x7f] = C_BAD,       [0x80 ... 0xff] = C_HIGH,
    [';'] = C_SEMI,  ['.'] = C_NSPEC,      ['['] = C_NSPEC,
    [']'] = C_NSPEC,
};

/* Bytes of a decoded name that some stack rewrites or cuts at, a '%' or '+'
 * left from decoding (a second decoder reads "%74r" as "tr", "+tr" as
 * " tr"), and non-ASCII. */
static const unsigned char qr_special[256] = {
    [' '] = 1, ['.'] = 1, ['['] = 1, [']'] = 1, ['%'] = 1, ['+'] = 1, [0x80 ... 0xff] = 1,
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

#ifdef __SSE2__
/* The bytes that are never ordinary in a path or a query: the controls,
 * the space, DEL and every byte >= 0x80 (sse_ctl_high), then '#' and '%'
 * (sse_never_plain). Each fast path adds its own delimiters. */
static inline __attribute__((always_inline)) __m128i sse_ctl_high(__m128i x)
{
    /* x + 1 (wrapping) below 0x22, signed: 0x00-0x20 become 0x01-0x21,
     * DEL and 0x80-0xfe become negative, 0xff becomes 0; 0x21-0x7e stay
     * 0x22-0x7f. One compare for the controls, the space, DEL and every
     * byte >= 0x80. */
    return _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(1)), _mm_set1_epi8(0x22));
}
static inline __attribute__((always_inline)) __m128i sse_never_plain(__m128i x)
{
    __m128i m = sse_ctl_high(x);
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('#')));
    return _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('%')));
}

/* The number of bytes at p[0, 16) before the first one that is not
 * C_PLAIN in query_cls (is_name: qname_cls), 16 when all are; the 16 bytes
 * are copied to o either way (the caller guarantees that both p[0, 16) and
 * o[0, 16) lie inside their buffers). The byte set is exactly the tables':
 * sse_never_plain's, then the delimiters. test_canon checks every byte
 * value at every offset against the tables' meaning. */
static inline __attribute__((always_inline)) unsigned query_plain16(const char *p, char *o,
                                                                    int is_name)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = sse_never_plain(x);
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('&')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('+')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8(';')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('=')));
    if (is_name) {
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('.')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('[')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8(']')));
    }
    _mm_storeu_si128((__m128i *)(void *)o, x);
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    return bits == 0 ? 16u : (unsigned)__builtin_ctz(bits);
}
#endif

/* Decode one query name (stops at '=', '&' or the end) or value (stops at
 * '&' or the end) from *pp into w; advances *pp. `end` is the query's
 * terminating NUL. Returns the number of bytes written or -1; for a name,
 * *plain tells whether it is plain (no byte of qr_special once decoded).
 * Always inlined into its two callers: a query has two parts per parameter,
 * each a call with five saved registers, and `is_name` becomes a constant. */
static inline __attribute__((always_inline)) long
query_part(const char **pp, const char *end, int is_name, char *w, int *plain, const char **why)
{
    const unsigned char *cls = is_name ? qname_cls : query_cls;
    const char *p = *pp;
    char *o = w;
    int high = 0, special = 0;
    for (;;) {
        unsigned char c;
        int d;
#ifdef __SSE2__
        /* Sixteen bytes at a time while sixteen remain: copied whole, then
         * kept up to the first one that is not C_PLAIN in `cls`. */
        if (end - p >= 16) {
            unsigned k = query_plain16(p, o, is_name);
            p += k;
            o += k;
            if (k == 16)
                continue;
            c = (unsigned char)*p;
            goto special_byte;
        }
#endif
        /* Fast paths: eight ordinary bytes at a time while eight remain,
         * then single bytes, indexed from the run's start so that the loop
         * keeps one counter (a third fewer instructions per byte than
         * advancing two pointers). */
        while (end - p >= 8 && plain8(cls, (const unsigned char *)p)) {
            memcpy(o, p, 8);
            o += 8;
            p += 8;
        }
        size_t n = 0;
        while (cls[c = (unsigned char)p[n]] == C_PLAIN) {
            o[n] = (char)c;
            n++;
        }
        p += n;
        o += n;
#ifdef __SSE2__
    special_byte:
#endif
        switch (cls[c]) {
        case C_PLAIN:
            break;
        case C_NSPEC:
            special = 1;
            break;
        case C_HIGH:
            high = 1;
            break;
        case C_PLUS:
            special = 1;
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
            special |= qr_special[d];
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
    if (plain != NULL)
        *plain = !special && !high;
    return (long)(o - w);
}

/* Parameters that mg_query_parse's array holds without apr_array_push. */
enum { QP_INLINE = 8 };

/* The next parameter slot of arr (room for QP_INLINE in place, then
 * apr_array_push), or NULL at MG_MAX_QPARAMS. */
static inline mg_qparam_t *query_slot(apr_array_header_t *arr)
{
    if (arr->nelts >= MG_MAX_QPARAMS)
        return NULL;
    return arr->nelts < arr->nalloc ? &((mg_qparam_t *)arr->elts)[arr->nelts++]
                                    : apr_array_push(arr);
}

#ifdef __SSE2__
/* The fast path's pair w[s, e): its first '=' at eq - 1 (eq 0: none),
 * a '.', '[' or ']' in its name when `special`. 1 when done (an empty
 * pair is skipped, as the general way does), 0 when the general way must
 * say why not (a pair without a name, too many parameters). */
static inline int query_fast_pair(apr_array_header_t *arr, char *w, size_t s, size_t eq, size_t e,
                                  int special)
{
    size_t nend = eq != 0 ? eq - 1 : e;
    if (nend == s)
        return eq == 0; /* "&&" is skipped; "=v" has no name */
    mg_qparam_t *qp = query_slot(arr);
    if (qp == NULL)
        return 0;
    w[nend] = '\0';
    w[e] = '\0';
    qp->name = w + s;
    qp->name_len = nend - s;
    qp->name_plain = !special;
    qp->value = eq != 0 ? w + eq : "";
    qp->value_len = eq != 0 ? e - eq : 0;
    return 1;
}

/* The query fast path. A query whose bytes are all ordinary (C_PLAIN in
 * query_cls), '&' or '=' has nothing to decode, refuse or check as UTF-8:
 * each name and value is a slice of the query as it is. So it is copied
 * once into w, and each '&' and each pair's first '=' is overwritten with
 * the NUL that ends the slice before it: the same names and values, with
 * the same lengths, that query_part would write byte for byte (a name is
 * plain unless it has a '.', '[' or ']': no '+', '%' or byte >= 0x80 can
 * be in it here). Sixteen bytes at a time: one mask of the bytes that
 * leave the fast path (the controls, the space, DEL, every byte >= 0x80,
 * '#', '%', '+' and ';'),
 * and the '&', '=' and '.', '[', ']' in the order they come. 1 when arr
 * holds the parameters, 0 when the query needs the general way (which
 * starts again from an empty arr and gives every refusal). w has room for
 * len + 16 bytes. */
static int query_fast(const char *query, size_t len, char *w, apr_array_header_t *arr)
{
    size_t start = 0; /* the current pair's first byte */
    size_t eq = 0;    /* its first '=' + 1; 0: none yet */
    int special = 0;  /* a '.', '[' or ']' in its name */
    memcpy(w, query, len);
    /* sixteen ordinary bytes after the query: the last block reads them,
     * and they add nothing to any mask */
    _mm_storeu_si128((__m128i *)(void *)(w + len), _mm_set1_epi8('a'));
    for (size_t i = 0; i < len; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(w + i));
        /* sse_never_plain and '+', ';': (x | 8) == '+' takes '#' and '+' */
        __m128i m = sse_ctl_high(x);
        m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_or_si128(x, _mm_set1_epi8(8)), _mm_set1_epi8('+')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('%')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8(';')));
        if (_mm_movemask_epi8(m) != 0)
            return 0;
        __m128i ns = _mm_cmpeq_epi8(x, _mm_set1_epi8('.'));
        ns = _mm_or_si128(ns, _mm_cmpeq_epi8(x, _mm_set1_epi8('[')));
        ns = _mm_or_si128(ns, _mm_cmpeq_epi8(x, _mm_set1_epi8(']')));
        unsigned amp = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('&')));
        unsigned eqs = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('=')));
        /* every event of these sixteen bytes, in order */
        for (unsigned ev = amp | eqs | (unsigned)_mm_movemask_epi8(ns); ev != 0; ev &= ev - 1) {
            unsigned k = (unsigned)__builtin_ctz(ev);
            if (amp >> k & 1) {
                if (!query_fast_pair(arr, w, start, eq, i + k, special))
                    return 0;
                start = i + k + 1;
                eq = 0;
                special = 0;
            } else if (eq != 0) {
                continue; /* a '=' or '.' '[' ']' in a value is text */
            } else if (eqs >> k & 1) {
                eq = i + k + 1;
            } else {
                special = 1;
            }
        }
    }
    /* MG_MAX_QPIECES '&' are the general way's to refuse. They take as many
     * bytes, so only a query that long is counted: once, here, not per block
     * (a popcount per block is a libgcc call without -mpopcnt, +240
     * instructions on every signed link); in the query, as w has its
     * pairs cut by now */
    if (len >= MG_MAX_QPIECES) {
        size_t namps = 0;
        for (const char *a = memchr(query, '&', len); a != NULL;
             a = memchr(a + 1, '&', len - (size_t)(a + 1 - query)))
            if (++namps >= MG_MAX_QPIECES)
                return 0;
    }
    return query_fast_pair(arr, w, start, eq, len, special);
}
#endif

int mg_query_parse(apr_pool_t *pool, const char *query, apr_array_header_t **params,
                   const char **why)
{
    return mg_query_parse_ex(pool, query, params, why, 0);
}

/* The array and the text of a parsed query of len bytes, in one block:
 * room for QP_INLINE parameters (more grow it as apr_array_push does) and
 * the text: decoded text never grows, and each pair gives up its '=' or
 * '&' for a NUL, so len + 1 bytes hold every name and value (the fast path
 * wants len + 16). */
typedef struct {
    apr_array_header_t h;
    mg_qparam_t v[QP_INLINE];
} query_blk_t;
#define QUERY_BLK_SIZE(len) (sizeof(query_blk_t) + (len) + 16)

static int query_parse_in(apr_pool_t *pool, const char *query, size_t len, void *mem,
                          apr_array_header_t **params, const char **why, unsigned flags);

int mg_query_parse_ex(apr_pool_t *pool, const char *query, apr_array_header_t **params,
                      const char **why, unsigned flags)
{
    static const char *dummy;

    if (why == NULL)
        why = &dummy;
    if (params == NULL) {
        *why = "no output for the query parameters";
        return -1;
    }
    return query_parse_in(pool, query, query ? strnlen(query, MG_MAX_QUERY + 1) : 0, NULL, params,
                          why, flags);
}

/* mg_query_parse_ex of the query's len bytes (strnlen(query,
 * MG_MAX_QUERY + 1)), in mem (QUERY_BLK_SIZE(len) bytes, 8-aligned) or,
 * when mem is NULL, in a block of the pool: canon_path takes the query's
 * block and the path's buffer from the pool at once. */
static int query_parse_in(apr_pool_t *pool, const char *query, size_t len, void *mem,
                          apr_array_header_t **params, const char **why, unsigned flags)
{
    const char *p = query;
    char *w;

    *params = NULL;
    if (len > MG_MAX_QUERY) {
        *why = "query string too long";
        return -1;
    }
    if (len == 0) {
        *params = apr_array_make(pool, 1, sizeof(mg_qparam_t));
        return 0;
    }
    /* The array is filled the way apr_array_make() leaves one (a public
     * struct), without clearing elements that are written before they are
     * read. */
    query_blk_t *blk = mem != NULL ? mem : apr_palloc(pool, QUERY_BLK_SIZE(len));
    apr_array_header_t *arr = &blk->h;
    arr->pool = pool;
    arr->elt_size = (int)sizeof(mg_qparam_t);
    arr->nelts = 0;
    arr->nalloc = QP_INLINE;
    arr->elts = (char *)blk->v;
    *params = arr;
    w = (char *)(blk + 1);
#ifdef __SSE2__
    if (!(flags & MG_CANON_NO_FAST)) {
        if (query_fast(query, len, w, arr))
            return 0;
        arr->nelts = 0; /* the general way from the start */
    }
#endif
    if (flags & MG_CANON_FAST_ONLY) {
        *why = "not on the fast path";
        goto fail;
    }
    size_t namps = 0;
    while (*p != '\0') {
        mg_qparam_t *qp;
        long n;
        if (*p == '&') {
            /* an empty pair is skipped here, but qs and Node's querystring
             * count it towards their 1,000 pieces and drop every pair after
             * those: "&&...&tr=oi-logo.png" would be judged with a `tr` that
             * such an origin never reads */
            if (++namps >= MG_MAX_QPIECES) {
                *why = "too many '&' in query";
                goto fail;
            }
            p++;
            continue;
        }
        if (arr->nelts >= MG_MAX_QPARAMS) {
            *why = "too many query parameters";
            goto fail;
        }
        int plain;
        n = query_part(&p, query + len, 1, w, &plain, why);
        if (n < 0)
            goto fail;
        if (n == 0) {
            *why = "query parameter without a name";
            goto fail;
        }
        qp = query_slot(arr); /* not NULL: the bound is checked above */
        qp->name = w;
        qp->name_len = (size_t)n;
        qp->name_plain = plain;
        w += n;
        *w++ = '\0';
        qp->value = "";
        qp->value_len = 0;
        if (*p == '=') {
            p++;
            n = query_part(&p, query + len, 0, w, NULL, why);
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

static inline int ascii_fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* How the plain name nm[0, len) reads as entry e: 0 not at all, 1 it is
 * exactly e (or in e's namespace), 2 only when case is ignored. The caller
 * has seen that the first bytes agree up to case. One pass compares
 * exactly while it can and ignoring case after that, up to the end of
 * e->name: nm is a C string (name_len is its strlen), so a name shorter
 * than e stops at its NUL, which no byte of e folds to. */
static inline __attribute__((always_inline)) int qr_plain_reads_as(const char *nm, size_t len,
                                                                   const mg_qreserved_t *e)
{
    const unsigned char *a = (const unsigned char *)nm, *b = (const unsigned char *)e->name;
    size_t j = 0;
    int how = 1;
    while (b[j] != '\0' && a[j] == b[j])
        j++;
    for (; b[j] != '\0'; j++) {
        if (ascii_fold(a[j]) != ascii_fold(b[j]))
            return 0;
        how = 2;
    }
    if (j > MG_QR_NAME_MAX || (!(e->flags & MG_QR_PREFIX) && len != j))
        return 0;
    return how;
}

/* The verdict on a plain name that reads as reserved name e `how`
 * (qr_plain_reads_as): refused (-1, *why set) or not. seen is indexed by
 * g, the name's place over all lists. */
static inline __attribute__((always_inline)) int qr_plain_verdict(int how, const mg_qreserved_t *e,
                                                                  unsigned long long *seen, int g,
                                                                  const char **why)
{
    if (how == 0)
        return 0;
    if (how == 2) {
        *why = e->why_case       ? e->why_case
               : e->why_spelling ? e->why_spelling
                                 : "query name that some servers read as a reserved one";
        return -1;
    }
    if (e->flags & (MG_QR_PREFIX | MG_QR_REPEAT))
        return 0;
    if (seen[g >> 6] & (1ULL << (g & 63))) {
        *why = e->why_repeated ? e->why_repeated : "reserved query parameter given more than once";
        return -1;
    }
    seen[g >> 6] |= 1ULL << (g & 63);
    return 0;
}

/* How a plain name reads as reserved name e: refused (-1, *why set) or
 * not. */
static inline __attribute__((always_inline)) int qr_plain_check(const char *nm, size_t len,
                                                                const mg_qreserved_t *e,
                                                                unsigned long long *seen, int g,
                                                                const char **why)
{
    return qr_plain_verdict(qr_plain_reads_as(nm, len, e), e, seen, g, why);
}

/* Does a reading of a name that is not plain name one of e[from, to)?
 * The first one that does sets *why. */
static int qr_readings_check(const qr_read_t rd[QR_NREAD], const mg_qreserved_t *const *e, int from,
                             int to, const size_t *el, const char **why)
{
    for (int r = 0; r < QR_NREAD; r++) {
        size_t rn = rd[r].n, cmp = rn > MG_QR_NAME_MAX + 1 ? MG_QR_NAME_MAX + 1 : rn;
        for (int g = from; g < to; g++) {
            if (!qr_reads_as(rd[r].s, (e[g]->flags & MG_QR_PREFIX) ? cmp : rn, e[g], el[g]))
                continue;
            *why = e[g]->why_spelling ? e[g]->why_spelling
                                      : "query name that some servers read as a reserved one";
            return -1;
        }
    }
    return 0;
}

#define QR_TOO_MANY "too many reserved query parameter names"

/* The names of lists[0, nl) appended to e and first from e[at]: the new
 * count, or -1 when there would be more than `cap` in all. */
static inline int qr_flatten(const mg_qreserved_list_t *lists, int nl, const mg_qreserved_t **e,
                             unsigned char *first, int at, int cap)
{
    for (int l = 0; l < nl; l++) {
        const mg_qreserved_t *names = lists[l].names;
        int n = lists[l].n;
        if (names == NULL || n <= 0)
            continue;
        if (n > cap - at)
            return -1;
        for (int j = 0; j < n; j++, at++) {
            e[at] = &names[j];
            first[at] = (unsigned char)(names[j].name[0] | 0x20);
        }
    }
    return at;
}

int mg_query_reserved_check_lists(const apr_array_header_t *params, const mg_qreserved_list_t *now,
                                  int nnow, const mg_qreserved_list_t *later_lists, int nlater,
                                  const char **why, const char **later)
{
    static const char *dummy;
    unsigned long long seen[2] = {0, 0};
    const mg_qreserved_t *e[128]; /* the names of every list, in order */
    /* each name's first byte | 0x20: a plain parameter name can only read
     * as a name whose first byte is its own up to case (an empty name's
     * 0x20 is the folded first byte of no plain name) */
    unsigned char first[128];
    size_t el[128];
    int nfirst, total, later_on, have_el = 0;

    if (why == NULL)
        why = &dummy;
    if (later != NULL)
        *later = NULL;
    if (params == NULL)
        return 0;
    nfirst = qr_flatten(now, nnow, e, first, 0, 64);
    if (nfirst < 0) {
        *why = QR_TOO_MANY;
        return -1;
    }
    total = later != NULL ? qr_flatten(later_lists, nlater, e, first, nfirst, nfirst + 64) : nfirst;
    if (total < 0) {
        *later = QR_TOO_MANY; /* and the later names are done with */
        total = nfirst;
    }
    later_on = total > nfirst;
    if (total == 0)
        return 0;
    const mg_qparam_t *v = (const mg_qparam_t *)params->elts;
    for (int k = 0; k < params->nelts; k++) {
        const char *nm = v[k].name;
        size_t len = v[k].name_len, b = 0;
        int gend = later_on ? total : nfirst;
        /* the fast common case: a plain name (the parser may have said so);
         * its first byte, folded, rules out almost every reserved name */
        if (v[k].name_plain)
            b = len;
        while (b < len && !qr_special[(unsigned char)nm[b]])
            b++;
        if (b == len) {
            unsigned char f = (unsigned char)(nm[0] | 0x20);
            for (int g = 0; g < gend; g++) {
                const char *w = NULL;
                if (first[g] != f || qr_plain_check(nm, len, e[g], seen, g, &w) == 0)
                    continue;
                if (g < nfirst) {
                    *why = w;
                    return -1;
                }
                /* the first refusal for a later name: kept, and the later
                 * names are done with */
                *later = w;
                later_on = 0;
                break;
            }
            continue;
        }
        qr_read_t rd[QR_NREAD];
        qr_readings(nm, len, rd);
        for (; have_el < total; have_el++)
            el[have_el] = strlen(e[have_el]->name);
        if (qr_readings_check(rd, e, 0, nfirst, el, why) != 0)
            return -1;
        if (later_on && qr_readings_check(rd, e, nfirst, total, el, later) != 0)
            later_on = 0;
    }
    return 0;
}

/* Cookies named as "tr" or the download parameter (mg_canon.h). A cookie
 * name is read as a query name is (qr_readings: PHP's mangling, the cut at
 * brackets and dots, a "%XX" or '+' decoded once more, case folded), which
 * over-approximates every cookie parser we know: PHP ($_COOKIE, and so
 * $_REQUEST) drops leading blanks, mangles like $_GET and makes "tr[]" an
 * array; Rack decodes "%XX" in names; ASP.NET ignores case. */
#define COOKIE_RESERVED_WHY                                                                        \
    "cookie named as a query parameter that some servers read as 'tr' or the download parameter"

static int cookie_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int mg_cookie_reserved_check(const char *cookie, const char *download_param, const char **why)
{
    static const char *dummy;
    const mg_qreserved_t names[2] = {{"tr", 0, NULL, NULL, NULL},
                                     {download_param ? download_param : "", 0, NULL, NULL, NULL}};
    const size_t el[2] = {2, strlen(names[1].name)};
    const int nn = el[1] > 0 && el[1] <= MG_QR_NAME_MAX ? 2 : 1;
    const int f1 = nn == 2 ? ascii_fold((unsigned char)names[1].name[0]) : 't';
    const char *p = cookie;

    if (why == NULL)
        why = &dummy;
    if (p == NULL)
        return 0;
    int after_comma = 0;
    while (*p != '\0') {
        const char *s = p, *e;
        const int by_comma = after_comma;
        /* glibc's strcspn is vectorised: cookie headers run to kilobytes */
        const char *end = p + strcspn(p, ";,");
        after_comma = *end == ',';
        p = *end != '\0' ? end + 1 : end;
        e = memchr(s, '=', (size_t)(end - s));
        if (e == NULL) {
            /* a name without a value: PHP still registers it after a ';'
             * (it splits on ';' only); after a ',' it is the rest of the
             * previous cookie's value ("langs=en,tr"), read as a name by
             * no parser we know */
            if (by_comma)
                continue;
            e = end;
        }
        /* blanks around the name: PHP drops leading isspace() bytes, Go
         * and Python trim both ends */
        while (s < e && cookie_blank(*s))
            s++;
        while (e > s && cookie_blank(e[-1]))
            e--;
        if (s == e)
            continue;
        /* the common case: a first byte that no reading drops or rewrites,
         * and that is neither name's first letter */
        int c0 = ascii_fold((unsigned char)*s);
        if (!qr_special[(unsigned char)*s] && c0 != 't' && c0 != f1)
            continue;
        qr_read_t rd[QR_NREAD];
        qr_readings(s, (size_t)(e - s), rd);
        for (int r = 0; r < QR_NREAD; r++)
            for (int g = 0; g < nn; g++)
                if (qr_reads_as(rd[r].s, rd[r].n, &names[g], el[g])) {
                    *why = COOKIE_RESERVED_WHY;
                    return -1;
                }
    }
    return 0;
}

/* mg_cookie_reserved_check with the names prepared (mg_cookie_table_t):
 * the same pieces, names and verdicts, found with less work. Exactness
 * rests on one fact of qr_readings: a byte that is not qr_special is
 * never dropped, cut at or rewritten, only folded (ascii_fold), and it
 * does not change how a later byte is read. So while a name's bytes are
 * such, both readings start with those bytes folded; a name that is all
 * such reads as itself folded, in both readings. A name is read in full
 * only when a qr_special byte comes before its bytes stop agreeing with
 * every name of the table. tests/unit/test_cookie_names.c compares this
 * with mg_cookie_reserved_check. */

void mg_cookie_table_build(mg_cookie_table_t *t, const char *download_param)
{
    const char *d = download_param ? download_param : "";
    size_t dl = strlen(d);

    memset(t, 0, sizeof(*t));
    memcpy(t->name[0], "tr", 3);
    t->len[0] = 2;
    t->n = 1;
    /* mg_cookie_reserved_check's bounds: an empty or over-long download
     * parameter is no name at all */
    if (dl > 0 && dl <= MG_QR_NAME_MAX) {
        for (size_t j = 0; j < dl; j++)
            t->name[1][j] = (char)ascii_fold((unsigned char)d[j]);
        t->len[1] = dl;
        t->n = 2;
    }
    for (int g = 0; g < 2; g++)
        t->pair[g] = t->len[g] >= 2 ? (unsigned char)t->name[g][0] |
                                          (unsigned)(unsigned char)t->name[g][1] << 8
                                    : ~0u;
    for (int b = 0; b < 256; b++) {
        int f = ascii_fold((unsigned char)b);
        /* a name whose first byte is not qr_special reads as starting
         * with that byte folded: only a name's first letter can start it */
        int first =
            f == (unsigned char)t->name[0][0] || (t->n == 2 && f == (unsigned char)t->name[1][0]);
        t->cls[b] = b == 0                  ? MG_CK_END
                    : cookie_blank((char)b) ? MG_CK_BLANK
                    : b == ';' || b == ','  ? MG_CK_SEP
                    : qr_special[b]         ? MG_CK_SPECIAL
                    : first && b != '='     ? MG_CK_PICK
                                            : MG_CK_SKIP;
        t->ord[b] =
            b != 0 && !cookie_blank((char)b) && b != ';' && b != ',' && b != '=' && !qr_special[b];
    }
}

#ifdef __SSE2__
/* Where p[0, 16) has ';' or ','. */
static inline __attribute__((always_inline)) unsigned cookie_sep16(const char *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(';')), _mm_cmpeq_epi8(x, _mm_set1_epi8(','))));
}
#endif

/* The index of the first ';' or ',' in h[i, n), or n. Cookie values are
 * most of a header's bytes (a consent string, a signed session): 32 at a
 * time, always inside h[0, n) (the last sixteen overlap the ones before
 * instead of reading past the end). */
static inline __attribute__((always_inline)) size_t cookie_sep(const char *h, size_t i, size_t n)
{
#ifdef __SSE2__
    for (; i + 32 <= n; i += 32) {
        unsigned m = cookie_sep16(h + i) | cookie_sep16(h + i + 16) << 16;
        if (m != 0)
            return i + (size_t)__builtin_ctz(m);
    }
    if (i + 16 <= n) {
        unsigned m = cookie_sep16(h + i);
        if (m != 0)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
    if (i < n && n >= 16) { /* bit k is h[n - 16 + k]: the bytes before i shifted out */
        unsigned m = cookie_sep16(h + n - 16) >> (i - (n - 16));
        return m != 0 ? i + (size_t)__builtin_ctz(m) : n;
    }
#endif
    while (i < n && h[i] != ';' && h[i] != ',')
        i++;
    return i;
}

/* Does the name s[0, n) (n >= 1, not blank at either end) read as one of
 * t's names? */
static int cookie_name_reserved(const mg_cookie_table_t *t, const char *name, size_t n)
{
    const unsigned char *s = (const unsigned char *)name;
    for (int g = 0; g < t->n; g++) {
        const unsigned char *r = (const unsigned char *)t->name[g];
        size_t rl = t->len[g], j = 0;
        while (j < n && j < rl && !qr_special[s[j]] && ascii_fold(s[j]) == r[j])
            j++;
        if (j == n) {
            /* all of it read as itself: a name of t's exactly when as long */
            if (n == rl)
                return 1;
            continue;
        }
        if (!qr_special[s[j]])
            continue; /* both readings differ from name g at j, or go on past it */
        /* a byte some reading drops, cuts at or rewrites: the readings */
        qr_read_t rd[QR_NREAD];
        qr_readings(name, n, rd);
        for (int k = 0; k < QR_NREAD; k++)
            for (int h = 0; h < t->n; h++) {
                const mg_qreserved_t e = {t->name[h], 0, NULL, NULL, NULL};
                if (qr_reads_as(rd[k].s, rd[k].n, &e, t->len[h]))
                    return 1;
            }
        return 0;
    }
    return 0;
}

int mg_cookie_reserved_check_table(const char *cookie, const mg_cookie_table_t *t, const char **why)
{
    if (cookie == NULL)
        return 0;
    const size_t n = strlen(cookie);
    size_t i = 0;
    int by_comma = 0; /* the piece at i follows a ',' */
    while (i < n) {
        size_t s = i;
        unsigned char c;
        int k;
        /* the name starts at the piece's first byte that is not blank
         * (cookie[n] is the NUL: MG_CK_END) */
        while ((k = t->cls[c = (unsigned char)cookie[s]]) == MG_CK_BLANK)
            s++;
        if (k == MG_CK_END)
            break;
        if (k == MG_CK_SEP) { /* an empty piece */
            by_comma = c == ',';
            i = s + 1;
            continue;
        }
        size_t end = cookie_sep(cookie, s + 1, n);
        const int after_comma = by_comma;
        by_comma = cookie[end] == ',';
        i = end + 1;
        /* an empty name ('=' is MG_CK_SKIP), or a first byte that no name
         * of t's can start with under any reading (mg_cookie_reserved_check's
         * test) */
        if (k == MG_CK_SKIP)
            continue;
        if (k == MG_CK_PICK) {
            /* a second byte that is the name's and read as it is: both
             * readings start with these two bytes folded, so they must be a
             * name's first two ("theme", "tz" stop here) */
            unsigned char c1 = (unsigned char)cookie[s + 1];
            unsigned two = (unsigned)ascii_fold(c) | (unsigned)ascii_fold(c1) << 8;
            if (t->ord[c1] && two != t->pair[0] && two != t->pair[1])
                continue;
        }
        const char *e = memchr(cookie + s, '=', end - s);
        if (e == NULL) {
            if (after_comma) /* the rest of the previous value */
                continue;
            e = cookie + end;
        }
        while (cookie_blank(e[-1]))
            e--; /* stops at cookie[s], not blank */
        if (cookie_name_reserved(t, cookie + s, (size_t)(e - (cookie + s)))) {
            if (why != NULL)
                *why = COOKIE_RESERVED_WHY;
            return -1;
        }
    }
    return 0;
}

void mg_qreserved_table_build(mg_qreserved_table_t *t, const mg_qreserved_list_t *now, int nnow,
                              const mg_qreserved_list_t *later_lists, int nlater)
{
    unsigned char first[128];
    memset(t, 0, sizeof(*t));
    /* qr_flatten's bounds and order, as mg_query_reserved_check_lists
     * applies them per request */
    int nfirst = qr_flatten(now, nnow, t->e, first, 0, 64);
    if (nfirst < 0) {
        t->now_error = QR_TOO_MANY;
        return;
    }
    int total = qr_flatten(later_lists, nlater, t->e, first, nfirst, nfirst + 64);
    if (total < 0) {
        t->later_error = QR_TOO_MANY;
        total = nfirst;
    }
    t->nfirst = nfirst;
    t->total = total;
    /* a counting sort of the names by folded first byte, stable: each
     * byte's names stay in ascending g */
    for (int g = 0; g < total; g++) {
        t->el[g] = strlen(t->e[g]->name);
        if (t->el[g] <= 4) {
            for (size_t j = 0; j < t->el[g]; j++) {
                unsigned c = (unsigned char)t->e[g]->name[j],
                         f = (unsigned)ascii_fold((unsigned char)c);
                t->w_exact[g] |= (uint32_t)c << (8 * j);
                t->w_fold[g] |= (uint32_t)f << (8 * j);
                if (f >= 'a' && f <= 'z')
                    t->w_lmask[g] |= (uint32_t)0x20 << (8 * j);
                t->w_mask[g] |= (uint32_t)0xff << (8 * j);
            }
        }
        t->off[first[g] + 1]++;
    }
    for (int f = 0; f < 256; f++)
        t->off[f + 1] = (unsigned char)(t->off[f + 1] + t->off[f]);
    unsigned char fill[256];
    memcpy(fill, t->off, sizeof(fill));
    for (int g = 0; g < total; g++)
        t->idx[fill[first[g]]++] = (unsigned char)g;
}

/* mg_query_reserved_check_lists over a table: the same loop, with the
 * names whose first byte a plain name has taken from the table instead of
 * a walk over all of them (in the same order: ascending g). Also sets bit g
 * of hit[2] when a plain parameter is exactly name g, not as a prefix
 * (qr_plain_reads_as 1 for a name without MG_QR_PREFIX; MG_QR_REPEAT names
 * too): each run is walked up to gend, so on success with `later` given
 * and no later refusal, a parameter spelled exactly as name g exists
 * exactly when bit g is set (g < 128; a name that is not plain cannot be
 * spelled as a name of mg_query_reserved_name_ok's bytes). Always inlined
 * into the canonicaliser, where why and later are known not to be NULL. */
static inline __attribute__((always_inline)) int
qr_table_check(const apr_array_header_t *params, const mg_qreserved_table_t *t, const char **why,
               const char **later, unsigned long long hit[2])
{
    unsigned long long seen[2] = {0, 0};

    if (later != NULL)
        *later = NULL;
    if (params == NULL)
        return 0;
    if (t->now_error != NULL) {
        *why = t->now_error;
        return -1;
    }
    int nfirst = t->nfirst, total = later != NULL ? t->total : nfirst;
    if (later != NULL && t->later_error != NULL)
        *later = t->later_error;
    int later_on = total > nfirst;
    if (total == 0)
        return 0;
    const mg_qparam_t *v = (const mg_qparam_t *)params->elts;
    for (int k = 0; k < params->nelts; k++) {
        const char *nm = v[k].name;
        size_t len = v[k].name_len, b = 0;
        if (v[k].name_plain)
            b = len;
        while (b < len && !qr_special[(unsigned char)nm[b]])
            b++;
        if (b == len) {
            /* the names a plain parameter is compared with: g < total
             * while the later names are on, g < nfirst after */
            int gend = later_on ? total : nfirst;
            unsigned f = (unsigned char)(nm[0] | 0x20);
            for (int c = t->off[f], cend = t->off[f + 1]; c < cend; c++) {
                int g = t->idx[c];
                const char *w = NULL;
                if (g >= gend)
                    break;
                const mg_qreserved_t *e = t->e[g];
                int how;
                uint32_t wm = t->w_mask[g];
                if (wm != 0 && len >= 4) {
                    /* qr_plain_reads_as as one word: the name's first 4
                     * bytes (it has len of them) against a name of el <= 4
                     * bytes; a letter of e matches either case ((c | 0x20)
                     * is its lower case only for 'A'-'Z' and 'a'-'z'),
                     * any other byte only itself */
                    uint32_t x;
                    memcpy(&x, nm, 4);
                    how = (x & wm) == t->w_exact[g]                    ? 1
                          : ((x | t->w_lmask[g]) & wm) == t->w_fold[g] ? 2
                                                                       : 0;
                    if (!(e->flags & MG_QR_PREFIX) && len != t->el[g])
                        how = 0;
                } else {
                    how = qr_plain_reads_as(nm, len, e);
                }
                if (how == 1 && !(e->flags & MG_QR_PREFIX))
                    hit[g >> 6] |= 1ULL << (g & 63);
                if (qr_plain_verdict(how, e, seen, g, &w) == 0)
                    continue;
                if (g < nfirst) {
                    *why = w;
                    return -1;
                }
                /* the first refusal for a later name: kept, and the later
                 * names are done with */
                *later = w;
                later_on = 0;
                break;
            }
            continue;
        }
        qr_read_t rd[QR_NREAD];
        qr_readings(nm, len, rd);
        if (qr_readings_check(rd, t->e, 0, nfirst, t->el, why) != 0)
            return -1;
        if (later_on && qr_readings_check(rd, t->e, nfirst, total, t->el, later) != 0)
            later_on = 0;
    }
    return 0;
}

int mg_query_reserved_check_table(const apr_array_header_t *params, const mg_qreserved_table_t *t,
                                  const char **why, const char **later)
{
    static const char *dummy;
    unsigned long long hit[2] = {0, 0};
    return qr_table_check(params, t, why != NULL ? why : &dummy, later, hit);
}

int mg_query_reserved_check(const apr_array_header_t *params, const mg_qreserved_t *names, int n,
                            const char **why)
{
    mg_qreserved_list_t one = {names, n};
    if (names == NULL || n <= 0)
        return 0;
    return mg_query_reserved_check_lists(params, &one, 1, NULL, 0, why, NULL);
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

/* mg_canon_path() in the steps of docs/canonical-urls.md ("Path rules, in
 * order"): each step below names the rules it applies. The state of one
 * call: the output buffer and where its kept segments start. */
typedef struct canon_st {
    char *buf;     /* the canonical path being written (decoded) */
    size_t w;      /* bytes written */
    int nseg;      /* kept segments (rule 7) */
    int nraw;      /* non-empty raw segments (rule 1) */
    int tr_idx;    /* the tr: segment's index in seg, or -1 (rule 9) */
    size_t tr_end; /* where the tr: segment ends in buf */
    int dir;       /* the path names a directory (rule 8) */
    int last_tr;   /* the last segment was the tr: one (rule 9) */
    /* the fast path's last '/' and last '.' in buf (0: none, the path
     * starts with '/'), when names_known */
    size_t last_slash, last_dot;
    int names_known;
    unsigned short seg[MG_MAX_SEGMENTS]; /* start in buf of each kept segment (its '/') */
} canon_st_t;

/* Rules 2-4 for one raw segment starting after its '/' at raw[*i]: raw
 * bytes checked, ';' parameters checked and dropped, percent escapes
 * decoded exactly once, written at st->buf + st->w. On return raw[*i] is
 * the next '/' or the end; *flags has SEG_HIGH (a byte >= 0x80, for rule
 * 5), SEG_PCT (a decoded '%', for rule 6) and SEG_PARAMS (for rule 3's
 * dot-segment check). */
enum { SEG_HIGH = 1, SEG_PCT = 2, SEG_PARAMS = 4 };

static int scan_segment(canon_st_t *st, const char *raw, size_t *ip, int *flags, const char **why)
{
    char *buf = st->buf;
    size_t i = *ip, w = st->w;
    int f = 0, d;
    for (;;) {
        unsigned char c;
        /* Fast path: runs of ordinary bytes. */
        while (path_cls[c = (unsigned char)raw[i]] == C_PLAIN)
            buf[w++] = raw[i++];
        switch (path_cls[c]) {
        case C_HIGH:
            f |= SEG_HIGH;
            buf[w++] = (char)c;
            i++;
            continue;
        case C_PCT:
            d = pct_decode(raw + i);
            if (d < 0) {
                *why = "malformed or truncated percent escape in path";
                return -1;
            }
            if (is_ctl((unsigned char)d)) {
                *why = d == 0 ? "encoded NUL in path" : "control character in path";
                return -1;
            }
            if (d == '/' || d == '\\') {
                *why = "encoded slash or backslash in path";
                return -1;
            }
            if (d == ';') {
                *why = "encoded ';' in path";
                return -1;
            }
            if (d == '%')
                f |= SEG_PCT;
            if (d & 0x80)
                f |= SEG_HIGH;
            buf[w++] = (char)d;
            i += 3;
            continue;
        case C_SEMI:
            /* Path parameters: checked like the rest of the path so
             * nothing odd hides there, but never decoded or kept. */
            f |= SEG_PARAMS;
            for (i++; raw[i] != '/' && raw[i] != '\0'; i++) {
                unsigned char pc = (unsigned char)raw[i];
                if (path_cls[pc] == C_BAD) {
                    *why = "control byte, space, backslash, '?' or '#' in path";
                    return -1;
                }
                if (pc == '%') {
                    if (pct_decode(raw + i) < 0) {
                        *why = "malformed or truncated percent escape in path";
                        return -1;
                    }
                    i += 2;
                }
            }
            break;
        case C_BAD:
            *why = "control byte, space, backslash, '?' or '#' in path";
            return -1;
        default: /* C_SLASH, C_END */
            break;
        }
        break;
    }
    *ip = i;
    st->w = w;
    *flags = f;
    return 0;
}

/* Rules 5 and 6 on a decoded segment: strict UTF-8, no double encoding.
 * Both only when the segment has the bytes they are about. */
static int check_decoded(const char *s, size_t n, int flags, const char **why)
{
    if ((flags & SEG_HIGH) && !utf8_valid((const unsigned char *)s, n, why))
        return -1;
    if ((flags & SEG_PCT) && has_pct_hex(s, n)) {
        *why = "double percent-encoding in path";
        return -1;
    }
    return 0;
}

/* Rules 7-9 as the segments come: drop empty and "." segments, let ".."
 * remove the previous kept one (never above the root, never the tr:
 * segment), remember where the tr: segment is. The segment of `kind` was
 * written at st->buf + start_w. */
static int resolve_segment(canon_st_t *st, int kind, size_t start_w, const char **why)
{
    if (kind != SEG_EMPTY && ++st->nraw > MG_MAX_SEGMENTS) {
        *why = "too many path segments";
        return -1;
    }
    st->last_tr = 0;
    switch (kind) {
    case SEG_EMPTY:
    case SEG_DOT:
        st->w = start_w;
        st->dir = 1;
        break;
    case SEG_DOTDOT:
        if (st->nseg == 0) {
            *why = "'..' climbs above the root";
            return -1;
        }
        if (st->nseg - 1 == st->tr_idx) {
            *why = "'..' would remove the transformation segment";
            return -1;
        }
        st->w = st->seg[--st->nseg];
        st->dir = 1;
        break;
    case SEG_TR:
        if (st->tr_idx >= 0) {
            *why = "more than one transformation segment";
            return -1;
        }
        st->tr_idx = st->nseg;
        st->tr_end = st->w;
        st->last_tr = 1;
        st->seg[st->nseg++] = (unsigned short)start_w;
        break;
    default:
        st->seg[st->nseg++] = (unsigned short)start_w;
        st->dir = 0;
        break;
    }
    return 0;
}

/* Rules 2-9, the general way: one raw segment at a time, scanned and
 * decoded (2-4), checked (5-6), classified and resolved (7-9). */
static int canon_segments(canon_st_t *st, const char *raw, const char **why)
{
    size_t i = 0;
    while (raw[i] != '\0') {
        size_t start_w = st->w, dstart;
        int flags, kind;
        i++; /* the '/' */
        st->buf[st->w++] = '/';
        dstart = st->w;
        if (scan_segment(st, raw, &i, &flags, why) != 0)
            return -1;
        if (check_decoded(st->buf + dstart, st->w - dstart, flags, why) != 0)
            return -1;
        kind = classify(st->buf + dstart, st->w - dstart, (flags & SEG_PARAMS) != 0, why);
        if (kind < 0 || resolve_segment(st, kind, start_w, why) != 0)
            return -1;
    }
    return 0;
}

/* The already-canonical fast path: a path is taken when every byte is
 * ordinary, '.' or '/', no segment is empty ("//"), none starts with '.'
 * (".", "..", ".htaccess") and none ends with it ("a./", "a."). Ordinary
 * bytes are the raw path's ordinary ones (path_cls C_PLAIN) without '.'
 * and ':' (so that no tr: segment can pass).
 *
 * With SSE2 (always on x86_64) sixteen bytes are looked at at once: the
 * bytes that leave the fast path in one mask, the slashes and the dots in
 * two more, and the forbidden pairs ("//", "/.", "./") are the slash mask
 * shifted by one byte against the others, the last byte of the previous
 * sixteen carried over. Without SSE2 a four-state automaton reads one
 * byte at a time: the state is the class of the previous byte (an
 * ordinary byte, '.', '/') or F_SLOW, which it never leaves. */
enum { F_SLOW = 0, F_ORD, F_DOT, F_SLASH };
#ifndef __SSE2__
#define FAST_ORD(v)                                                                                \
    ['!' ... '"'] = v, ['$'] = v, ['&' ... '-'] = v, ['0' ... '9'] = v, ['<' ... '>'] = v,         \
             ['@' ... '['] = v, [']' ... '~'] = v
static const unsigned char fast_next[4][256] = {
    [F_ORD] = {FAST_ORD(F_ORD), ['.'] = F_DOT, ['/'] = F_SLASH},
    [F_DOT] = {FAST_ORD(F_ORD), ['.'] = F_DOT},
    [F_SLASH] = {FAST_ORD(F_ORD)},
};
#endif

/* The fast path for a path that is already canonical (above). Rules 2-9
 * would copy such a path byte for byte (no escape, no parameter, no dot
 * segment, no tr: segment; it is a directory exactly when it ends in
 * '/'), so it is copied as it is. 0 when the path needs the general way
 * (st->buf may then hold anything: the general way writes it from the
 * start). st->buf has room for len + 16 bytes. canon_test_equivalence in
 * tests/unit/test_canon.c and fuzz_canon check that both ways give the
 * same result for every input. */
static int canon_fast(canon_st_t *st, const char *raw, size_t len)
{
    const unsigned char *p = (const unsigned char *)st->buf;
    memcpy(st->buf, raw, len);
#ifdef __SSE2__
    /* Sixteen ordinary bytes after the path, so that the last sixteen
     * read stay inside the buffer and add nothing to any mask; the pair
     * (last byte, 'a') is harmless, a final '.' is checked below. */
    _mm_storeu_si128((__m128i *)(void *)(st->buf + len), _mm_set1_epi8('a'));
    unsigned carry = 0; /* bit 0: the previous byte is '/'; bit 1: '.' */
    for (size_t i = 0; i < len; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        /* (x | 1) == ';' takes ':' and ';' */
        __m128i m = sse_never_plain(x);
        m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_or_si128(x, _mm_set1_epi8(1)), _mm_set1_epi8(';')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('?')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
        unsigned sl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('/')));
        unsigned dt = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')));
        /* bit k: byte k - 1 (of these sixteen, or the carried one) */
        unsigned sl_prev = sl << 1 | (carry & 1), dt_prev = dt << 1 | carry >> 1;
        if (_mm_movemask_epi8(m) != 0 || (sl_prev & (sl | dt)) != 0 || (dt_prev & sl) != 0)
            return 0;
        carry = (sl >> 15) | (dt >> 15) << 1;
        /* the last of each, for the basename and the extension */
        if (sl != 0)
            st->last_slash = i + 31 - (size_t)__builtin_clz(sl);
        if (dt != 0)
            st->last_dot = i + 31 - (size_t)__builtin_clz(dt);
    }
    if (p[len - 1] == '.')
        return 0;
#else
    unsigned state = F_SLASH;
    for (size_t i = 1; i < len; i++)
        state = fast_next[state][p[i]];
    if (state != F_ORD && state != F_SLASH) /* F_DOT: the last segment ends in '.' */
        return 0;
#endif
    /* rule 1's segment bound: each segment takes a '/' and a byte */
    int nseg = 0;
    if (len > 2 * MG_MAX_SEGMENTS) {
        for (size_t i = 0; i < len; i++)
            nseg += p[i] == '/' && i + 1 < len;
        if (nseg > MG_MAX_SEGMENTS)
            return 0;
    } else {
        nseg = len > 1; /* only "none" or "some" matters below */
    }
    st->w = len;
    st->nseg = nseg;
    st->dir = p[len - 1] == '/';
#ifdef __SSE2__
    st->names_known = 1;
#endif
    return 1;
}

/* Rule 10 and the query rules: parse the query, refuse the spellings of
 * "tr" and "mg_*" that some server reads as them, find the query form of
 * the transformation (*trq, *tr_count). */
static const mg_qreserved_list_t builtin_list = {builtin_reserved, 2};

void mg_canon_names_table(mg_qreserved_table_t *t, const mg_qreserved_list_t *names, int nnames)
{
    mg_qreserved_table_build(t, &builtin_list, 1, names, nnames);
}

/* The caller's names come as lists (flattened per request) or, from
 * mg_canon_path_table, as a table built when the policy loaded (table non-NULL). */
static int canon_query(apr_pool_t *pool, const char *query, unsigned flags,
                       const mg_qreserved_table_t *table, const mg_qreserved_list_t *extra,
                       int nextra, const char **extra_why, unsigned long long *hit, mg_canon_t *out,
                       const char **trq, int *tr_count, const char **why, size_t qlen, void *qmem)
{
    /* MG_CANON_NO_FAST: the query's general way too (MG_CANON_FAST_ONLY is
     * about the path) */
    if (query_parse_in(pool, query, qlen, qmem, &out->params, why, flags & MG_CANON_NO_FAST) != 0)
        return -1;
    /* "tr" and the "mg_" namespace under any other spelling that some
     * server stack reads as them (" tr", "tr[]", "[tr]", "TR", "mg.sig")
     * are refused, and so is a second "tr": an image server behind us must
     * never get a transformation we did not check. The caller's names
     * (the policy's) in the same pass; their refusal is only handed back. */
    *trq = NULL;
    *tr_count = 0;
    if (table != NULL) {
        unsigned long long h[2] = {0, 0};
        if (qr_table_check(out->params, table, why, extra_why, h) != 0)
            return -1;
        if (hit != NULL) {
            hit[0] = h[0];
            hit[1] = h[1];
        }
        /* no parameter is exactly "tr" (bit 0 when the table's first name
         * is the built-in "tr"): no loop to look for one */
        if (!(h[0] & 1) && table->e[0] == &builtin_reserved[0])
            return 0;
    } else if (mg_query_reserved_check_lists(out->params, &builtin_list, 1, extra, nextra, why,
                                             extra_why) != 0) {
        return -1;
    }
    const mg_qparam_t *v = (const mg_qparam_t *)out->params->elts;
    for (int k = 0; k < out->params->nelts; k++) {
        if (v[k].name_len == 2 && v[k].name[0] == 't' && v[k].name[1] == 'r' && (*tr_count)++ == 0)
            *trq = v[k].value;
    }
    if (*tr_count > 1) {
        *why = "repeated 'tr' query parameter";
        return -1;
    }
    return 0;
}

/* Rules 9 and 10, where the transformation may stand: once, never both
 * forms, never the last segment, never on a directory. */
static int check_tr_place(const canon_st_t *st, int tr_count, const char **why)
{
    if (tr_count == 1 && st->tr_idx >= 0) {
        *why = "transformation both in the path and in the query";
        return -1;
    }
    if (st->last_tr) {
        *why = "transformation segment is not followed by a file";
        return -1;
    }
    if ((st->tr_idx >= 0 || tr_count == 1) && st->dir) {
        *why = "transformation of a directory";
        return -1;
    }
    return 0;
}

/* Rule 9's output: the tr: segment normalised in its place in
 * signed_path, taken out of path (in place in buf). Returns path's length,
 * or -1. */
static long split_tr_segment(apr_pool_t *pool, canon_st_t *st, mg_canon_t *out, const char **why)
{
    char *buf = st->buf;
    size_t ts = st->seg[st->tr_idx]; /* the '/' before "tr:" */
    const char *norm = tr_normal(pool, buf + ts + 4, st->tr_end - ts - 4, why);
    size_t nl, tail = st->w - st->tr_end;
    char *sp;
    if (norm == NULL)
        return -1;
    nl = strlen(norm);
    sp = apr_palloc(pool, ts + 4 + nl + tail + 1);
    memcpy(sp, buf, ts);
    memcpy(sp + ts, "/tr:", 4);
    memcpy(sp + ts + 4, norm, nl);
    memcpy(sp + ts + 4 + nl, buf + st->tr_end, tail + 1);
    /* path: the same bytes without the segment, in place in buf. */
    memmove(buf + ts, buf + st->tr_end, tail + 1);
    out->signed_path = sp;
    out->signed_path_len = ts + 4 + nl + tail;
    out->path = buf;
    out->tr = norm;
    out->tr_form = MG_TR_FORM_PATH;
    return (long)(ts + tail);
}

/* ext from the last segment's last '.' (NULL: none) to end: it points
 * into the path unless there is upper case to fold. */
static void set_ext(apr_pool_t *pool, mg_canon_t *out, const char *dot, const char *end, int upper)
{
    if (dot == NULL) {
        out->ext = "";
    } else if (!upper) {
        out->ext = dot + 1;
    } else {
        char *e = apr_pstrmemdup(pool, dot + 1, (apr_size_t)(end - dot - 1));
        for (char *x = e; *x; x++) {
            if (*x >= 'A' && *x <= 'Z')
                *x = (char)(*x + ('a' - 'A'));
        }
        out->ext = e;
    }
}

/* basename and ext of a file's canonical path of length plen, where the
 * fast path saw the last '/' and '.' (a segment never starts with '.'
 * there, so a '.' after the '/' is inside the basename). */
static void fill_names_known(apr_pool_t *pool, mg_canon_t *out, size_t plen, size_t last_slash,
                             size_t last_dot)
{
    const char *path = out->path, *dot = NULL;
    int upper = 0;
    out->basename = path + last_slash + 1;
    if (last_dot > last_slash) {
        dot = path + last_dot;
        for (const char *x = dot + 1; x < path + plen; x++)
            upper |= *x >= 'A' && *x <= 'Z';
    }
    set_ext(pool, out, dot, path + plen, upper);
}

/* basename and ext of a file's canonical path of length plen, in one
 * backward pass over its last segment; ext points into the path unless
 * there is upper case to fold. */
static void fill_names(apr_pool_t *pool, mg_canon_t *out, size_t plen)
{
    const char *path = out->path, *b = path + plen, *dot = NULL;
    int upper = 0;
    while (b[-1] != '/') { /* the path starts with '/' */
        b--;
        if (dot != NULL)
            continue;
        if (*b == '.')
            dot = b;
        else if (*b >= 'A' && *b <= 'Z')
            upper = 1;
    }
    out->basename = b;
    set_ext(pool, out, dot == b ? NULL : dot, path + plen, upper);
}

int mg_canon_path_ex(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                     const char **why, unsigned flags)
{
    return mg_canon_path_names(pool, raw_path, query, out, why, flags, NULL, 0, NULL);
}

static int canon_path(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                      const char **why, unsigned flags, const mg_qreserved_table_t *table,
                      const mg_qreserved_list_t *names, int nnames, const char **names_why,
                      unsigned long long *hit);

int mg_canon_path_names(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                        const char **why, unsigned flags, const mg_qreserved_list_t *names,
                        int nnames, const char **names_why)
{
    return canon_path(pool, raw_path, query, out, why, flags, NULL, names, nnames, names_why, NULL);
}

int mg_canon_path_table(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                        const char **why, unsigned flags, const mg_qreserved_table_t *names,
                        const char **names_why)
{
    return canon_path(pool, raw_path, query, out, why, flags, names, NULL, 0, names_why, NULL);
}

int mg_canon_path_table_hit(apr_pool_t *pool, const char *raw_path, const char *query,
                            mg_canon_t *out, const char **why, const mg_qreserved_table_t *names,
                            const char **names_why, unsigned long long hit[2])
{
    return canon_path(pool, raw_path, query, out, why, 0, names, NULL, 0, names_why, hit);
}

static int canon_path(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                      const char **why, unsigned flags, const mg_qreserved_table_t *table,
                      const mg_qreserved_list_t *names, int nnames, const char **names_why,
                      unsigned long long *hit)
{
    static const char *dummy;
    canon_st_t st;
    size_t len;
    const char *trq;
    int tr_count;
    long plen;

    if (why == NULL)
        why = &dummy;
    if (names_why != NULL)
        *names_why = NULL;
    if (out == NULL) {
        *why = "no output for the canonical path";
        return -1;
    }
    memset(out, 0, sizeof(*out));
    /* Rule 1: bounds (the query's in mg_query_parse). */
    if (raw_path == NULL || raw_path[0] != '/')
        return canon_fail(out, why, "path does not start with '/'");
    len = strnlen(raw_path, MG_MAX_PATH + 1);
    if (len > MG_MAX_PATH)
        return canon_fail(out, why, "path too long");

    /* Decoding never grows the text and every kept segment replaces its own
     * raw '/', so len + 2 (a final '/' and the NUL) is always enough; the
     * fast path wants len + 16. The query's array and text in the same
     * allocation, after it (8-aligned): one apr_palloc per request, not
     * two. A query too long is refused where it always was, after the
     * path's refusals (mg_query_parse's bound). */
    size_t qlen = query ? strnlen(query, MG_MAX_QUERY + 1) : 0;
    size_t pbuf = APR_ALIGN_DEFAULT(len + 16);
    void *qmem = NULL;
    if (qlen > 0 && qlen <= MG_MAX_QUERY) {
        st.buf = apr_palloc(pool, pbuf + QUERY_BLK_SIZE(qlen));
        qmem = st.buf + pbuf;
    } else {
        st.buf = apr_palloc(pool, len + 16);
    }
    st.w = 0;
    st.nseg = st.nraw = 0;
    st.tr_idx = -1;
    st.tr_end = 0;
    st.dir = 1;
    st.last_tr = 0;
    st.last_slash = st.last_dot = 0;
    st.names_known = 0;
    /* Rules 2-9: the fast path, or segment by segment. */
    if ((flags & MG_CANON_NO_FAST) || !canon_fast(&st, raw_path, len)) {
        if (flags & MG_CANON_FAST_ONLY)
            return canon_fail(out, why, "not on the fast path");
        if (canon_segments(&st, raw_path, why) != 0)
            return canon_fail(out, why, NULL);
    }
    /* Rule 10 (and the query rules). */
    if (canon_query(pool, query, flags, table, names, nnames, names_why, hit, out, &trq, &tr_count,
                    why, qlen, qmem) != 0 ||
        check_tr_place(&st, tr_count, why) != 0)
        return canon_fail(out, why, NULL);

    /* Rule 8: a directory keeps one final '/'; the root is "/". */
    if (st.nseg == 0) {
        st.buf[0] = '/';
        st.w = 1;
    } else if (st.dir && st.buf[st.w - 1] != '/') {
        st.buf[st.w++] = '/';
    }
    st.buf[st.w] = '\0';

    if (st.tr_idx >= 0) {
        plen = split_tr_segment(pool, &st, out, why);
        if (plen < 0)
            return canon_fail(out, why, NULL);
    } else {
        out->path = out->signed_path = st.buf;
        out->signed_path_len = st.w;
        plen = (long)st.w;
        if (tr_count == 1) {
            out->tr = tr_normal(pool, trq, strlen(trq), why);
            if (out->tr == NULL)
                return canon_fail(out, why, NULL);
            out->tr_form = MG_TR_FORM_QUERY;
        }
    }

    out->trailing_slash = st.dir;
    if (st.dir)
        out->basename = out->ext = "";
    else if (st.names_known)
        fill_names_known(pool, out, (size_t)plen, st.last_slash, st.last_dot);
    else
        fill_names(pool, out, (size_t)plen);
    return 0;
}

int mg_canon_path(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                  const char **why)
{
    return mg_canon_path_ex(pool, raw_path, query, out, why, 0);
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
