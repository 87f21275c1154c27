/* mg_token.c — signed links, token format v1: the string to sign, signing
 * of URLs and cookies, verification (mg_token_check) and expiry buckets.
 *
 * Signer and verifier build the string to sign with the same functions from
 * the same canonical form (mg_canon_path), so an encoding difference between
 * the URL a signer was given and the URL a browser sends can never break a
 * signature: both are reduced to decoded values first and re-encoded with
 * one frozen table (token_keep below). docs/token-spec.md is the normative
 * description; keep the two in step.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_file.h"
#include "mg_fmt.h"
#include "mg_ip.h"
#include "mg_request.h"
#include "mg_time.h"
#include "mg_token.h"
#include "mg_tz.h"

#define MG_TOKEN_TAG "mg-token-v1"
#define MG_COOKIE_TRIES 4 /* cookies of the same name tried (nested scopes) */

/* Claims in the byte order of their names: the claims line needs no sort. */
enum { C_ACC, C_EXP, C_ID, C_IP, C_KID, C_NBF, C_SCOPE, C_USES, C_N };
/* mg_sig's slot in tok_t, after the claims: not a claim (not in the claims
 * line, never a bit of tok_t.have) */
enum { C_SIG = C_N };

/* "name=" of each claim, zero-padded to CLAIM_EQ_MAX bytes so that the
 * claims line copies a fixed-size block (one move, no memcpy call) and
 * then advances by the real length. */
#define CLAIM_EQ_MAX 12
#define CLAIM_EQ(name)                                                                             \
    {                                                                                              \
        name "=", sizeof(name)                                                                     \
    } /* sizeof counts the NUL: the '=' */
static const struct {
    char s[CLAIM_EQ_MAX];
    size_t n;
} claim_eq[C_N] = {CLAIM_EQ("mg_acc"),   CLAIM_EQ("mg_exp"), CLAIM_EQ("mg_id"),
                   CLAIM_EQ("mg_ip"),    CLAIM_EQ("mg_kid"), CLAIM_EQ("mg_nbf"),
                   CLAIM_EQ("mg_scope"), CLAIM_EQ("mg_uses")};

typedef struct tok {
    const char *v[C_N + 1]; /* decoded values of the claims and (v[C_SIG]) of
                               mg_sig, base64url text; NULL when absent */
    unsigned have;          /* bit c set when claim v[c] is present: the claims
                               line visits only those, in name order (bit order) */
    size_t claim_bytes;     /* the sum of n[c] over the claims present (not
                               mg_sig): claims_bound() without a loop */
    int nplain;             /* tok_collect: parameters of the request that are not
                               token parameters (0: the canonical query is "") */
    size_t n[C_N + 1];      /* the lengths of the v[] present; last, and not
                               cleared by tok_collect: n[c] is read only where
                               v[c] or bit c of `have` says that c is present */
} tok_t;

/* Set claim c of a token being minted. */
static void tok_set(tok_t *t, int c, const char *value)
{
    t->v[c] = value;
    t->n[c] = strlen(value);
    t->have |= 1u << c;
    t->claim_bytes += t->n[c];
}

/* Three byte compares, no strncmp call: every query parameter of every
 * guarded request passes through here. */
static int is_reserved(const char *name)
{
    return name[0] == 'm' && name[1] == 'g' && name[2] == '_';
}

int mg_token_is_reserved_param(const char *name)
{
    return name != NULL && is_reserved(name);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/* Frozen by token format v1 — deliberately not mg_pct_encode_path(), whose
 * set may change for other uses: RFC 3986 unreserved plus / : , @ (so
 * "tr:w-300,h-300" stays readable); every other byte is %XX, upper-case. */
static const unsigned char token_keep[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1, ['-'] = 1, ['.'] = 1, ['_'] = 1,
    ['~'] = 1,         ['/'] = 1,         [':'] = 1,         [','] = 1, ['@'] = 1,
};

/* Cookie values: RFC 6265 cookie-octets exclude ',' — keep unreserved only. */
static const unsigned char cookie_keep[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1, ['-'] = 1,
    ['.'] = 1,         ['_'] = 1,         ['~'] = 1,
};

/* A string with its length: the signer's hot loop must not strlen() the
 * same bytes over and over (a million links a second). */
typedef struct mstr {
    const char *s;
    size_t n;
} mstr_t;

#ifdef __SSE2__
/* 1 in each byte of the result where x's byte is in [lo, lo + span]:
 * unsigned, by the wrap-around of x - lo. */
static inline __attribute__((always_inline)) __m128i in_range(__m128i x, char lo, char span)
{
    __m128i t = _mm_sub_epi8(x, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(span)), t);
}

/* The number of bytes at p[0, 16) before the first one that token_keep
 * does not keep, 16 when it keeps all; the 16 bytes are copied to o either
 * way (the caller guarantees that p[0, 16) and o[0, 16) lie inside their
 * buffers). token_keep as ranges: ',' to ':' (, - . / 0-9 :), '@' to 'Z',
 * 'a' to 'z', and '_' and '~'. test_token checks every byte value at every
 * offset against the table. */
static inline __attribute__((always_inline)) unsigned token_kept16(const unsigned char *p, char *o)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = in_range(x, ',', ':' - ',');
    m = _mm_or_si128(m, in_range(x, '@', 'Z' - '@'));
    m = _mm_or_si128(m, in_range(x, 'a', 'z' - 'a'));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('~')));
    _mm_storeu_si128((__m128i *)(void *)o, x);
    return (unsigned)__builtin_ctz(~(unsigned)_mm_movemask_epi8(m) | 0x10000u);
}
#endif

/* Write s[0, n) token-encoded (or cookie-encoded) at w; returns the end.
 * The caller has room for 3n bytes. */
static char *encode_to(char *w, const char *s, size_t n, const unsigned char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
#ifdef __SSE2__
    /* Sixteen bytes at a time (the token set only): a path is mostly kept
     * bytes. A byte that is not kept is encoded here and the scan goes on
     * after it. Writing 16 bytes at w stays inside the 3n bytes of room:
     * at most 3i are used and n - i >= 16. */
    if (keep == token_keep) {
        while (n - i >= 16) {
            unsigned k = token_kept16(u + i, w);
            w += k;
            i += k;
            if (k < 16) {
                *w++ = '%';
                *w++ = hex[u[i] >> 4];
                *w++ = hex[u[i] & 15];
                i++;
            }
        }
    }
#endif
    /* Eight kept bytes at a time (one test for the eight, one 8-byte
     * copy): paths and claim values are mostly kept bytes, and this is a
     * third of the per-byte cost of the loop below. */
    while (n - i >= 8 && (keep[u[i]] & keep[u[i + 1]] & keep[u[i + 2]] & keep[u[i + 3]] &
                          keep[u[i + 4]] & keep[u[i + 5]] & keep[u[i + 6]] & keep[u[i + 7]])) {
        memcpy(w, s + i, 8);
        w += 8;
        i += 8;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (keep[c]) {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    return w;
}

/* Percent-encode s[0, n) in one pass; the output is at most 3n bytes and the
 * pool is cleared per URL, so over-allocating is cheaper than counting. */
static mstr_t encode_n(apr_pool_t *pool, const char *s, size_t n, const unsigned char *keep)
{
    char *res = apr_palloc(pool, 3 * n + 1), *w = encode_to(res, s, n, keep);
    *w = '\0';
    mstr_t r = {res, (size_t)(w - res)};
    return r;
}

const char *mg_token_encode(apr_pool_t *pool, const char *s)
{
    return encode_n(pool, s, strlen(s), token_keep).s;
}

#define LIT(x) ((mstr_t){(x), sizeof(x) - 1})
static mstr_t mstr(const char *s)
{
    mstr_t r = {s, strlen(s)};
    return r;
}

/* ------------------------------------------------------------------ */
/* Canonical query                                                      */
/* ------------------------------------------------------------------ */

typedef struct qpair {
    mstr_t name, value; /* encoded */
    int is_tr;
} qpair_t;

static int qpair_cmp(const void *a, const void *b)
{
    const qpair_t *x = a, *y = b;
    int c = strcmp(x->name.s, y->name.s);
    return c != 0 ? c : strcmp(x->value.s, y->value.s);
}

/* The non-token query parameters, encoded and sorted by name then value,
 * joined with '&' ("" when there are none). `sts` leaves out the "tr"
 * parameter (its normalised value has a line of its own in the string to
 * sign); `url` includes it, normalised, for the links we write. */
static void canonical_query(apr_pool_t *pool, const mg_canon_t *cn, mstr_t *sts, mstr_t *url)
{
    const mg_qparam_t *p = (const mg_qparam_t *)cn->params->elts;
    int n = cn->params->nelts, k = 0, has_tr = 0;
    *sts = *url = LIT("");
    if (n == 0)
        return;
    qpair_t *v = NULL; /* allocated at the first parameter kept */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (is_reserved(p[i].name))
            continue;
        if (v == NULL)
            v = apr_palloc(pool, sizeof(*v) * (size_t)n);
        const char *value = p[i].value;
        size_t vlen = p[i].value_len;
        v[k].is_tr = strcmp(p[i].name, "tr") == 0;
        if (v[k].is_tr) {
            value = cn->tr; /* normalised */
            vlen = strlen(value);
            has_tr = 1;
        }
        v[k].name = encode_n(pool, p[i].name, p[i].name_len, token_keep);
        v[k].value = encode_n(pool, value, vlen, token_keep);
        total += v[k].name.n + v[k].value.n + 2;
        k++;
    }
    if (k == 0)
        return;
    if (k > 1)
        qsort(v, (size_t)k, sizeof(*v), qpair_cmp);
    for (int pass = 0; pass < (has_tr ? 2 : 1); pass++) {
        char *res = apr_palloc(pool, total + 1), *w = res;
        for (int i = 0; i < k; i++) {
            if (pass == 1 && v[i].is_tr)
                continue;
            if (w > res)
                *w++ = '&';
            memcpy(w, v[i].name.s, v[i].name.n);
            w += v[i].name.n;
            *w++ = '=';
            memcpy(w, v[i].value.s, v[i].value.n);
            w += v[i].value.n;
        }
        *w = '\0';
        mstr_t r = {res, (size_t)(w - res)};
        if (pass == 0)
            *url = r;
        *sts = r;
    }
}

/* Room the claims line of `t` may take: each claim "&name=" plus its value
 * encoded (3 bytes per byte at worst), plus the slack of claims_to()'s
 * fixed-size name copy. */
static size_t claims_bound(const tok_t *t)
{
    return CLAIM_EQ_MAX + C_N * (1 + CLAIM_EQ_MAX) + 3 * t->claim_bytes;
}

/* Copy s[0, n) to w. 8 to 16 bytes (an mg_exp, most key ids) take two
 * 8-byte moves that overlap in the middle, no memcpy call; both read only
 * s[0, n) and write only w[0, n). Other lengths go to memcpy. */
static inline void copy_short(char *w, const char *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t head, tail;
        memcpy(&head, s, 8);
        memcpy(&tail, s + n - 8, 8);
        memcpy(w, &head, 8);
        memcpy(w + n - 8, &tail, 8);
    } else {
        memcpy(w, s, n);
    }
}

/* Write "mg_acc=...&mg_exp=...&..." — the claims present, in name order —
 * at w (room: claims_bound(t)); returns the end. A claim whose bit is set
 * in `kept` is known to be made of bytes that `keep` keeps (the verifier
 * checked its syntax: digits, a key id, base64url, view/download) and is
 * copied as it is; encoding it would give the same bytes. */
static char *claims_to(char *w, const tok_t *t, const unsigned char *keep, unsigned kept)
{
    /* A usual link to verify: mg_exp and mg_kid, both known kept. Two
     * fixed-size name copies and two copy_short, no loop (the general loop
     * below gives the same bytes; test_token's links signed with the
     * general loop verify through this one at every id and expiry
     * length). The fixed copies write 8 bytes where 7 belong: room is
     * claims_bound(t). */
    const unsigned usual = 1u << C_EXP | 1u << C_KID;
    if (t->have == usual && (kept & usual) == usual) {
        memcpy(w, "mg_exp=\0", 8);
        w += 7;
        copy_short(w, t->v[C_EXP], t->n[C_EXP]);
        w += t->n[C_EXP];
        memcpy(w, "&mg_kid=", 8);
        w += 8;
        copy_short(w, t->v[C_KID], t->n[C_KID]);
        return w + t->n[C_KID];
    }
    char *start = w;
    for (unsigned m = t->have; m != 0; m &= m - 1) {
        int i = __builtin_ctz(m);
        if (w > start)
            *w++ = '&';
        memcpy(w, claim_eq[i].s, CLAIM_EQ_MAX); /* fixed size: no call */
        w += claim_eq[i].n;
        if (kept & (1u << i)) {
            copy_short(w, t->v[i], t->n[i]);
            w += t->n[i];
        } else {
            w = encode_to(w, t->v[i], t->n[i], keep);
        }
    }
    return w;
}

/* The claims line as a pool string (signers: computed once per signer). */
static mstr_t claims_line(apr_pool_t *pool, const tok_t *t, const unsigned char *keep)
{
    char *res = apr_palloc(pool, claims_bound(t) + 1), *w = claims_to(res, t, keep, 0);
    *w = '\0';
    mstr_t r = {res, (size_t)(w - res)};
    return r;
}

/* The string to sign, format v1:
 *   "mg-token-v1" LF path LF transformation LF query LF claims
 * path: the encoded canonical signed path, or the encoded scope for prefix
 * and cookie tokens; query: the canonical query for exact tokens, "" for
 * prefix tokens (they cover many URLs); transformation: the normalised
 * transformation or "". Written in one pass into one buffer sized for the
 * worst case: no piece is encoded, copied and joined separately. A signer
 * that already has the encoded path (`path_enc`) or the claims line
 * (`claims`) passes them; NULL means encode them here (`kept`: claims_to).
 * The string is written into `buf` (`bufsize` bytes, may be NULL) when the
 * worst case fits there, else into the pool: the verifier hands the string
 * to the MAC and forgets it, so a buffer on its stack saves an allocation
 * per request. */
static mstr_t string_to_sign(apr_pool_t *pool, const mg_canon_t *cn, const tok_t *t,
                             const mstr_t *path_enc, mstr_t q_sts, const mstr_t *claims,
                             unsigned kept, char *buf, size_t bufsize)
{
    static const char tag[] = MG_TOKEN_TAG "\n";
    int prefix = t->v[C_SCOPE] != NULL;
    mstr_t path = prefix                     ? (mstr_t){t->v[C_SCOPE], t->n[C_SCOPE]}
                  : path_enc                 ? *path_enc
                  : cn->signed_path_len != 0 ? (mstr_t){cn->signed_path, cn->signed_path_len}
                                             : mstr(cn->signed_path);
    int path_raw = prefix || path_enc == NULL; /* still to be encoded */
    size_t trn = cn->tr ? strlen(cn->tr) : 0;
    if (prefix)
        q_sts = LIT("");
    size_t cap = sizeof(tag) - 1 + (path_raw ? 3 * path.n : path.n) + 1 + trn + 1 + q_sts.n + 1 +
                 (claims ? claims->n : claims_bound(t)) + 1;
    char *res = cap <= bufsize ? buf : apr_palloc(pool, cap), *w = res;
    memcpy(w, tag, sizeof(tag) - 1);
    w += sizeof(tag) - 1;
    if (path_raw) {
        w = encode_to(w, path.s, path.n, token_keep);
    } else {
        memcpy(w, path.s, path.n);
        w += path.n;
    }
    *w++ = '\n';
    /* the transformation grammar needs no encoding; most requests have
     * neither a transformation nor a query to sign, and a memcpy call of
     * no bytes is not free */
    if (trn != 0) {
        memcpy(w, cn->tr, trn);
        w += trn;
    }
    *w++ = '\n';
    if (q_sts.n != 0) {
        memcpy(w, q_sts.s, q_sts.n);
        w += q_sts.n;
    }
    *w++ = '\n';
    if (claims) {
        memcpy(w, claims->s, claims->n);
        w += claims->n;
    } else {
        w = claims_to(w, t, token_keep, kept);
    }
    *w = '\0';
    mstr_t r = {res, (size_t)(w - res)};
    return r;
}

/* The string to sign for a request or URL being verified or signed. */
static mstr_t string_to_sign_for(apr_pool_t *pool, const mg_canon_t *cn, const tok_t *t,
                                 const mstr_t *claims)
{
    mstr_t q_sts = LIT(""), q_url;
    if (t->v[C_SCOPE] == NULL)
        canonical_query(pool, cn, &q_sts, &q_url);
    return string_to_sign(pool, cn, t, NULL, q_sts, claims, 0, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Claim syntax                                                         */
/* ------------------------------------------------------------------ */

/* Epoch seconds: 1-12 digits, no leading zero, no sign; s[0, n).
 * Every expiry since 1973 has nine digits or more: the first eight are
 * checked and converted as one 64-bit word (8 bytes of s[0, n), read
 * little-endian, so s[0] is the low byte), the rest one by one. A byte is
 * a digit exactly when its high nibble is 3 and stays 3 after adding 6
 * ('0'-'9' are 0x30-0x39); adding 6 carries into the next byte only from
 * a byte of 0xfa or more, whose own high nibble already refuses the word.
 * The conversion then joins neighbours: digit pairs (10a + b, at most
 * 99), pairs of pairs (at most 9999), then the two halves; no lane
 * overflows into the next. test_token compares this with a digit loop for
 * every byte at every position of every length. */
static inline __attribute__((always_inline)) int parse_epoch(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 12 || (s[0] == '0' && n > 1))
        return -1;
    int64_t v = 0;
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        const uint64_t hi = 0xf0f0f0f0f0f0f0f0u;
        if (((w & hi) | ((w + 0x0606060606060606u) & hi) >> 4) != 0x3333333333333333u)
            return -1;
        w -= 0x3030303030303030u;
        w = (w * 10 + (w >> 8)) & 0x00ff00ff00ff00ffu;
        w = (w * 100 + (w >> 16)) & 0x0000ffff0000ffffu;
        w = (w * 10000 + (w >> 32)) & 0xffffffffu;
        v = (int64_t)w;
        i = 8;
    }
#endif
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* mg_id: 1-MG_TOKEN_ID_MAX base64url characters (what --once generates). */
int mg_token_id_valid(const char *id)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= MG_TOKEN_ID_MAX && strspn(id, b64url) == n;
}

mg_status_t mg_token_revocations_parse(apr_pool_t *pool, const char *text, size_t len,
                                       apr_hash_t *set, const char **why)
{
    const char *p = text, *end = text + len;
    for (long line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end, *s = p;
        p = nl ? nl + 1 : end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (s == e || *s == '#')
            continue;
        const char *id = apr_pstrmemdup(pool, s, (apr_size_t)(e - s));
        if (!mg_token_id_valid(id)) {
            *why = apr_psprintf(pool, "line %ld is not a token id (1-32 of A-Z a-z 0-9 - _)", line);
            return MG_EINVAL;
        }
        apr_hash_set(set, id, APR_HASH_KEY_STRING, id);
    }
    return MG_OK;
}

mg_status_t mg_token_revocations_load(apr_pool_t *pool, const char *path, apr_hash_t *set,
                                      apr_fileperms_t *prot, const char **why)
{
    mg_file_t f;
    if (mg_file_read(pool, path, MG_REVOCATION_FILE_MAX, &f, NULL) != MG_OK) {
        *why = f.error == MG_FILE_NOT_REGULAR ? "not a regular file"
               : f.error == MG_FILE_TOO_LARGE ? "larger than 4 MiB"
                                              : "cannot read it";
        return f.error == MG_FILE_TOO_LARGE ? MG_EINVAL : MG_EIO;
    }
    if (prot != NULL)
        *prot = f.protection;
    return mg_token_revocations_parse(pool, f.data, f.len, set, why);
}

/* mg_uses: 1-MG_TOKEN_USES_MAX, decimal, no leading zero. */
static int parse_uses(const char *s, int *out)
{
    int64_t v;
    if (parse_epoch(s, strlen(s), &v) != 0 || v < 1 || v > MG_TOKEN_USES_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* A scope is a canonical directory path: starts and ends with '/' and
 * canonicalises to itself (no dot segments, no empty segments, ...). */
static int scope_valid(apr_pool_t *pool, const char *scope)
{
    size_t n = strlen(scope);
    if (n == 0 || scope[0] != '/' || scope[n - 1] != '/')
        return 0;
    mg_canon_t cn;
    const char *why;
    if (mg_canon_path(pool, mg_token_encode(pool, scope), NULL, &cn, &why) != 0)
        return 0;
    return cn.tr == NULL && strcmp(cn.path, scope) == 0;
}

int mg_token_scope_valid(apr_pool_t *pool, const char *scope)
{
    return scope != NULL && scope_valid(pool, scope);
}

/* Is canonical `path` inside `scope`? Scopes end in '/', so a plain prefix
 * compare is segment-aware: "/a/b/" never covers "/a/bc/x". */
static int in_scope(const char *path, const char *scope)
{
    return strncmp(path, scope, strlen(scope)) == 0;
}

/* The slot of token parameter `name` of length `len` (which starts with
 * "mg_"): a claim index C_*, C_SIG for mg_sig, or -1 for a name format v1
 * does not know. The character after "mg_" picks the one candidate; its
 * length and the rest of its bytes, compared one by one, confirm it (each
 * && stops at the first difference, and `len` bytes are there to read): a
 * request carries three or more token parameters, and comparing each with
 * all nine names was a twentieth of a decision. test_token checks this
 * against a strcmp over the nine names for every one-byte change. */
static int token_slot(const char *name, size_t len)
{
    const char *s = name + 3;
    switch (s[0]) {
    case 'a':
        return len == 6 && s[1] == 'c' && s[2] == 'c' ? C_ACC : -1;
    case 'e':
        return len == 6 && s[1] == 'x' && s[2] == 'p' ? C_EXP : -1;
    case 'i':
        return len != 5 ? -1 : s[1] == 'd' ? C_ID : s[1] == 'p' ? C_IP : -1;
    case 'k':
        return len == 6 && s[1] == 'i' && s[2] == 'd' ? C_KID : -1;
    case 'n':
        return len == 6 && s[1] == 'b' && s[2] == 'f' ? C_NBF : -1;
    case 's':
        if (len == 6)
            return s[1] == 'i' && s[2] == 'g' ? C_SIG : -1;
        return len == 8 && memcmp(s + 1, "cope", 4) == 0 ? C_SCOPE : -1;
    case 'u':
        return len == 7 && memcmp(s + 1, "ses", 3) == 0 ? C_USES : -1;
    default:
        return -1;
    }
}

/* Collect the token parameters; 0 none, 1 some, -1 malformed (*why). */
static int tok_collect(const apr_array_header_t *params, tok_t *t, const char **why)
{
    memset(t, 0, offsetof(tok_t, n));
    int found = 0;
    const mg_qparam_t *p = (const mg_qparam_t *)params->elts;
    for (int i = 0; i < params->nelts; i++) {
        if (!is_reserved(p[i].name)) {
            t->nplain++;
            continue;
        }
        found = 1;
        int c = token_slot(p[i].name, p[i].name_len);
        if (c < 0) {
            *why = "unknown token parameter (not format v1)";
            return -1;
        }
        if (t->v[c] != NULL) {
            *why = "repeated token parameter";
            return -1;
        }
        t->v[c] = p[i].value;
        t->n[c] = p[i].value_len;
        if (c != C_SIG) {
            t->have |= 1u << c;
            t->claim_bytes += p[i].value_len;
        }
    }
    return found;
}

/* ------------------------------------------------------------------ */
/* Signing                                                              */
/* ------------------------------------------------------------------ */

/* Fill the claims of a token to mint; validates them. */
static mg_status_t tok_from_claims(apr_pool_t *pool, const mg_key_t *key,
                                   const mg_token_claims_t *c, tok_t *t, const char **why)
{
    memset(t, 0, sizeof(*t));
    if (apr_time_sec(c->expires) <= 0) {
        /* mgctl sign --expires 1969-... or --now before 1970 with a bucket */
        *why = "an expiry after 1970-01-01T00:00:00Z is required (mg_exp is positive epoch "
               "seconds)";
        return MG_EINVAL;
    }
    int64_t exp = apr_time_sec(c->expires);
    tok_set(t, C_EXP, apr_psprintf(pool, "%" APR_INT64_T_FMT, exp));
    tok_set(t, C_KID, mg_key_id(key));
    if (c->not_before > 0) {
        int64_t nbf = apr_time_sec(c->not_before);
        if (nbf >= exp) {
            *why = "not-before is not earlier than the expiry";
            return MG_EINVAL;
        }
        tok_set(t, C_NBF, apr_psprintf(pool, "%" APR_INT64_T_FMT, nbf));
    }
    if (c->access == MG_ACCESS_DOWNLOAD)
        tok_set(t, C_ACC, "download");
    if (c->ip != NULL) {
        mg_cidr_t cidr;
        if (mg_cidr_parse(c->ip, &cidr, why) != 0)
            return MG_EINVAL;
        tok_set(t, C_IP, c->ip);
    }
    if (c->scope != NULL) {
        if (!scope_valid(pool, c->scope)) {
            *why = "the prefix must be a canonical directory path starting and ending with '/'";
            return MG_EINVAL;
        }
        tok_set(t, C_SCOPE, c->scope);
    }
    if (c->id != NULL) {
        if (!mg_token_id_valid(c->id)) {
            *why = "the token id must be 1-32 base64url characters (A-Z a-z 0-9 - _)";
            return MG_EINVAL;
        }
        tok_set(t, C_ID, c->id);
    }
    if (c->uses != 0) {
        if (c->uses < 1 || c->uses > MG_TOKEN_USES_MAX) {
            *why = "the number of uses must be 1-" MG_STR(MG_TOKEN_USES_MAX);
            return MG_EINVAL;
        }
        if (c->id == NULL) {
            *why = "a token limited to a number of uses needs a token id (--id, or --once)";
            return MG_EINVAL;
        }
        tok_set(t, C_USES, apr_psprintf(pool, "%d", c->uses));
    }
    if (!mg_key_can_sign(key)) {
        *why = "this key cannot sign (an Ed25519 public key)";
        return MG_EINVAL;
    }
    return MG_OK;
}

static mg_status_t sign_sts(const mg_key_t *key, mstr_t sts, char *sig_b64, size_t *b64_len)
{
    unsigned char sig[MG_SIG_MAX];
    size_t n = 0;
    mg_status_t st = mg_key_sign(key, (const unsigned char *)sts.s, sts.n, sig, &n);
    if (st == MG_OK)
        *b64_len = mg_b64url_encode(sig, n, sig_b64);
    return st;
}

mg_status_t mg_token_split_url(apr_pool_t *pool, const char *url, const char **origin,
                               const char **path, const char **query, const char **why)
{
    if (strchr(url, '#') != NULL) {
        *why = "a URL to sign must not have a fragment ('#')";
        return MG_EINVAL;
    }
    if (url[0] == '/' && url[1] == '/') {
        *why = "a protocol-relative URL (//host/...) is ambiguous: give https://host/... or a path";
        return MG_EINVAL;
    }
    *origin = "";
    const char *p = url;
    if (url[0] != '/') {
        /* "http://" or "https://" (any case), then a non-empty authority
         * without controls or spaces, copied as it is */
        size_t sl = apr_cstr_casecmpn(url, "http://", 7) == 0    ? 7
                    : apr_cstr_casecmpn(url, "https://", 8) == 0 ? 8
                                                                 : 0;
        const char *a = url + sl, *e = a;
        while (*e != '\0' && *e != '/' && *e != '?' && (unsigned char)*e > 0x20 && *e != 0x7f)
            e++;
        if (sl == 0 || e == a || *e != '/') {
            *why = "expected a path starting with '/' or an absolute http(s) URL with a host "
                   "and a path";
            return MG_EINVAL;
        }
        *origin = apr_pstrmemdup(pool, url, (apr_size_t)(e - url));
        p = e;
    }
    const char *qm = strchr(p, '?');
    if (qm != NULL) {
        *path = apr_pstrmemdup(pool, p, (apr_size_t)(qm - p));
        *query = qm + 1;
    } else {
        *path = p;
        *query = NULL;
    }
    return MG_OK;
}

struct mg_token_signer {
    const mg_key_t *key;
    tok_t t;       /* validated claims */
    mstr_t claims; /* the claims line, computed once */
    int nclaims;   /* parameters in it */
};

mg_status_t mg_token_signer_make(apr_pool_t *pool, const mg_key_t *key, const mg_token_claims_t *c,
                                 mg_token_signer_t **out, const char **why)
{
    mg_token_signer_t *s = apr_pcalloc(pool, sizeof(*s));
    mg_status_t st = tok_from_claims(pool, key, c, &s->t, why);
    if (st != MG_OK)
        return st;
    s->key = key;
    s->claims = claims_line(pool, &s->t, token_keep);
    for (int i = 0; i < C_N; i++)
        s->nclaims += s->t.v[i] != NULL;
    *out = s;
    return MG_OK;
}

/* Canonicalise the URL to sign; refuse one that already carries token
 * parameters or lies outside the prefix. */
static mg_status_t prepare_url(apr_pool_t *pool, const mg_token_signer_t *s, const char *url,
                               const char **origin, mg_canon_t *cn, const char **why)
{
    const char *path, *query;
    mg_status_t st = mg_token_split_url(pool, url, origin, &path, &query, why);
    if (st != MG_OK)
        return st;
    if (mg_canon_path(pool, path, query, cn, why) != 0)
        return MG_EINVAL;
    const mg_qparam_t *p = (const mg_qparam_t *)cn->params->elts;
    for (int i = 0; i < cn->params->nelts; i++) {
        if (is_reserved(p[i].name)) {
            *why = apr_psprintf(pool, "the URL already has a token parameter '%s'", p[i].name);
            return MG_EINVAL;
        }
    }
    if (s->t.v[C_SCOPE] != NULL && !in_scope(cn->path, s->t.v[C_SCOPE])) {
        *why = "the path is not under the prefix";
        return MG_EINVAL;
    }
    return MG_OK;
}

mg_status_t mg_token_signer_sign_n(const mg_token_signer_t *s, apr_pool_t *pool, const char *url,
                                   const char **out, size_t *out_len, const char **why)
{
    static const char sig_eq[] = "&mg_sig=";
    const char *origin;
    mg_canon_t cn;
    mg_status_t st = prepare_url(pool, s, url, &origin, &cn, why);
    if (st != MG_OK)
        return st;
    mstr_t q_sts, q_url;
    canonical_query(pool, &cn, &q_sts, &q_url);
    size_t on = strlen(origin),
           pn = cn.signed_path_len != 0 ? cn.signed_path_len : strlen(cn.signed_path);
    /* The link is written once, into one buffer sized for the worst case:
     * the path is encoded straight into it (the string to sign copies it
     * from there) and the signature base64url-encoded at its end. */
    char *link = apr_palloc(pool, on + 3 * pn + 1 + q_url.n + 1 + s->claims.n + sizeof(sig_eq) - 1 +
                                      2 * MG_SIG_MAX + 1),
         *w = link;
    memcpy(w, origin, on);
    w += on;
    mstr_t path = {w, 0};
    w = encode_to(w, cn.signed_path, pn, token_keep);
    path.n = (size_t)(w - path.s);
    mstr_t sts = string_to_sign(pool, &cn, &s->t, &path, q_sts, &s->claims, 0, NULL, 0);
    *w++ = '?';
    memcpy(w, q_url.s, q_url.n);
    w += q_url.n;
    if (q_url.n > 0)
        *w++ = '&';
    memcpy(w, s->claims.s, s->claims.n);
    w += s->claims.n;
    memcpy(w, sig_eq, sizeof(sig_eq) - 1);
    w += sizeof(sig_eq) - 1;
    size_t sig_len;
    if (sign_sts(s->key, sts, w, &sig_len) != MG_OK) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    /* Never mint a link the verifier would refuse: encoding can make the
     * canonical form longer than the input, and the token adds parameters. */
    if (path.n > MG_MAX_PATH || q_url.n + 1 + s->claims.n + 8 + sig_len > MG_MAX_QUERY ||
        cn.params->nelts + s->nclaims + 1 > MG_MAX_QPARAMS) {
        *why = "the signed link would exceed the URL limits (path, query length or parameter "
               "count) that verifiers enforce";
        return MG_EINVAL;
    }
    w[sig_len] = '\0';
    *out = link;
    if (out_len != NULL)
        *out_len = (size_t)(w + sig_len - link);
    return MG_OK;
}

mg_status_t mg_token_signer_sign(const mg_token_signer_t *s, apr_pool_t *pool, const char *url,
                                 const char **out, const char **why)
{
    return mg_token_signer_sign_n(s, pool, url, out, NULL, why);
}

mg_status_t mg_token_string_to_sign(apr_pool_t *pool, const mg_key_t *key, const char *url,
                                    const mg_token_claims_t *c, const char **sts, const char **why)
{
    const char *origin;
    mg_canon_t cn;
    mg_token_signer_t *s;
    mg_status_t st = mg_token_signer_make(pool, key, c, &s, why);
    if (st == MG_OK)
        st = prepare_url(pool, s, url, &origin, &cn, why);
    if (st == MG_OK)
        *sts = string_to_sign_for(pool, &cn, &s->t, &s->claims).s;
    return st;
}

mg_status_t mg_token_sign_url(apr_pool_t *pool, const mg_key_t *key, const char *url,
                              const mg_token_claims_t *c, const char **out, const char **why)
{
    mg_token_signer_t *s;
    mg_status_t st = mg_token_signer_make(pool, key, c, &s, why);
    return st == MG_OK ? mg_token_signer_sign(s, pool, url, out, why) : st;
}

mg_status_t mg_token_sign_cookie(apr_pool_t *pool, const mg_key_t *key, const mg_token_claims_t *c,
                                 const char **value, const char **why)
{
    tok_t t;
    char sig[MG_SIG_MAX * 2];
    if (c->scope == NULL) {
        *why = "a cookie token needs a prefix (scope)";
        return MG_EINVAL;
    }
    mg_status_t st = tok_from_claims(pool, key, c, &t, why);
    if (st != MG_OK)
        return st;
    mg_canon_t cn;
    memset(&cn, 0, sizeof(cn));
    cn.path = cn.signed_path = c->scope;
    cn.params = apr_array_make(pool, 1, sizeof(mg_qparam_t));
    size_t sig_len;
    if (sign_sts(key, string_to_sign_for(pool, &cn, &t, NULL), sig, &sig_len) != MG_OK) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    *value = apr_pstrcat(pool, claims_line(pool, &t, cookie_keep).s, "&mg_sig=", sig, NULL);
    if (strlen(*value) > MG_MAX_QUERY) {
        *why = "the cookie would be longer than verifiers accept (use a shorter prefix)";
        return MG_EINVAL;
    }
    return MG_OK;
}

/* ------------------------------------------------------------------ */
/* Verification                                                         */
/* ------------------------------------------------------------------ */

typedef struct vctx {
    apr_pool_t *pool;
    const mg_policy_t *policy;
    const mg_canon_t *cn;
    const mg_ip_t *client;
    int64_t now;
} vctx_t;

static mg_reason_t refuse(mg_token_claims_t *claims, mg_reason_t r, const char *detail)
{
    claims->detail = detail;
    return r;
}

static mg_reason_t claims_check(const vctx_t *v, const mg_keyref_t *ref, int64_t exp, int64_t nbf,
                                int64_t last, const mg_cidr_t *cidr, int foreign,
                                mg_token_claims_t *claims);

/* The last second at which a token with expiry `exp` is accepted: the
 * policy's grace and clock skew after it. */
static int64_t last_second(const mg_token_settings_t *ts, int64_t exp)
{
    return exp + apr_time_sec(ts->grace) + apr_time_sec(ts->skew);
}

static mg_reason_t verify_one(const vctx_t *v, const tok_t *t, int cookie,
                              mg_token_claims_t *claims)
{
    apr_pool_t *pool = v->pool;
    const mg_token_settings_t *ts = &v->policy->tokens;
    int64_t exp = 0, nbf = 0;
    mg_cidr_t cidr;
    const char *why;

    claims->from = cookie ? "cookie" : "query";
    claims->format = MG_FMT_NATIVE;
    if (t->v[C_KID] == NULL || t->v[C_EXP] == NULL || t->v[C_SIG] == NULL)
        return refuse(claims, MG_R_TOKEN_MALFORMED, "the token lacks mg_kid, mg_exp or mg_sig");
    claims->kid = t->v[C_KID];
    /* 0 would be "never" below (the foreign formats' missing expiry), and
     * a limited link's slots would live one second */
    if (parse_epoch(t->v[C_EXP], t->n[C_EXP], &exp) != 0 || exp == 0)
        return refuse(claims, MG_R_TOKEN_MALFORMED, "mg_exp is not epoch seconds");
    /* The other claims, checked in this order; a usual link carries none
     * of them (one test instead of eight) */
    int uses = 0;
    if (cookie || (t->have & ~(1u << C_EXP | 1u << C_KID)) != 0) {
        if (t->v[C_NBF] != NULL && parse_epoch(t->v[C_NBF], t->n[C_NBF], &nbf) != 0)
            return refuse(claims, MG_R_TOKEN_MALFORMED, "mg_nbf is not epoch seconds");
        if (t->v[C_ACC] != NULL && strcmp(t->v[C_ACC], "view") != 0 &&
            strcmp(t->v[C_ACC], "download") != 0)
            return refuse(claims, MG_R_TOKEN_MALFORMED, "mg_acc is neither view nor download");
        if (t->v[C_IP] != NULL && mg_cidr_parse(t->v[C_IP], &cidr, &why) != 0)
            return refuse(claims, MG_R_TOKEN_MALFORMED, "mg_ip is not an address or CIDR block");
        if (t->v[C_SCOPE] != NULL && !scope_valid(pool, t->v[C_SCOPE]))
            return refuse(claims, MG_R_TOKEN_MALFORMED, "mg_scope is not a canonical directory");
        if (cookie && t->v[C_SCOPE] == NULL)
            return refuse(claims, MG_R_TOKEN_MALFORMED, "a cookie token must carry mg_scope");
        if (t->v[C_ID] != NULL && !mg_token_id_valid(t->v[C_ID]))
            return refuse(claims, MG_R_TOKEN_MALFORMED, "mg_id is not 1-32 base64url characters");
        if (t->v[C_USES] != NULL && parse_uses(t->v[C_USES], &uses) != 0)
            return refuse(claims, MG_R_TOKEN_MALFORMED,
                          "mg_uses is not a number of uses from 1 to " MG_STR(MG_TOKEN_USES_MAX));
        if (t->v[C_USES] != NULL && t->v[C_ID] == NULL)
            return refuse(claims, MG_R_TOKEN_MALFORMED, "mg_uses without mg_id");
    }

    unsigned char sig[MG_SIG_MAX + 3];
    size_t slen = t->n[C_SIG];
    long n = slen > 88 ? -1 : mg_b64url_decode(t->v[C_SIG], slen, sig, sizeof(sig));
    if (n <= 0)
        return refuse(claims, MG_R_TOKEN_MALFORMED, "mg_sig is not base64url without padding");

    const mg_keyref_t *ref = mg_keys_find_ref(v->policy, t->v[C_KID], t->n[C_KID]);
    if (ref == NULL)
        return refuse(claims, MG_R_TOKEN_UNKNOWN_KEY, "no key with this mg_kid is loaded");
    const mg_key_t *key = ref->key;

    /* For cookies the request's own transformation is covered, never its
     * path or query: the token was minted for a directory. Three claims
     * are known, over all of their bytes, to be made of kept bytes: mg_exp
     * and mg_nbf (parse_epoch read each byte as a digit) and mg_kid (equal
     * to the id of a loaded key, A-Z a-z 0-9 . _ -). The others are
     * encoded: their checks stop at a NUL. */
    const unsigned kept = 1u << C_EXP | 1u << C_NBF | 1u << C_KID;
    /* The canonical query of a request whose parameters are all token
     * parameters is "": canonical_query is not asked. */
    mstr_t q_sts = LIT(""), q_url;
    if (t->v[C_SCOPE] == NULL && t->nplain > 0)
        canonical_query(pool, v->cn, &q_sts, &q_url);
    char sts_buf[512]; /* a usual link's string to sign is 100-300 bytes */
    mstr_t sts = string_to_sign(pool, v->cn, t, NULL, q_sts, NULL, kept, sts_buf, sizeof(sts_buf));
    int64_t last = last_second(ts, exp);
    if (!mg_key_verify(key, (const unsigned char *)sts.s, sts.n, sig, (size_t)n, v->now, last))
        return refuse(claims, MG_R_TOKEN_BAD_SIG, "the signature does not match");

    claims->expires = apr_time_from_sec(exp);
    claims->not_before = nbf ? apr_time_from_sec(nbf) : 0;
    claims->access = t->v[C_ACC] != NULL && strcmp(t->v[C_ACC], "download") == 0
                         ? MG_ACCESS_DOWNLOAD
                         : MG_ACCESS_VIEW;
    claims->scope = t->v[C_SCOPE];
    claims->ip = t->v[C_IP];
    claims->id = t->v[C_ID];
    claims->uses = uses;
    return claims_check(v, ref, exp, nbf, last, t->v[C_IP] != NULL ? &cidr : NULL, 0, claims);
}

/* The checks after the signature, shared by format v1 and every foreign
 * format (lib/mg_fmt.h): revocation, expiry with grace and skew, max_ttl,
 * not-before, IP binding and scope, in that order. `exp` 0 is a foreign
 * link without expiry (its key allowed that; max_ttl still refuses it).
 * `last` is last_second(exp), which the caller has computed already.
 * A foreign token's scope must also hold the path with its 'tr:' segment
 * where it was (signed_path): the vendor compares its prefix with the URL
 * path as sent, so /tr:w-2000/v/a.jpg is no path under /v/ to it (a
 * native prefix token signs the transformation itself). */
static mg_reason_t claims_check(const vctx_t *v, const mg_keyref_t *ref, int64_t exp, int64_t nbf,
                                int64_t last, const mg_cidr_t *cidr, int foreign,
                                mg_token_claims_t *claims)
{
    const mg_token_settings_t *ts = &v->policy->tokens;
    /* after the signature: a forged or altered id reports bad-signature */
    if (ref->revoked)
        return refuse(claims, MG_R_TOKEN_REVOKED, "the key that signed the token is revoked");
    if (claims->id != NULL && ts->revoked_set != NULL &&
        apr_hash_get(ts->revoked_set, claims->id, APR_HASH_KEY_STRING) != NULL)
        return refuse(claims, MG_R_TOKEN_REVOKED, "the token id is revoked (tokens.revoked_ids)");

    if (exp != 0 && v->now > last)
        return refuse(claims, MG_R_TOKEN_EXPIRED, "the token expired (beyond grace and skew)");
    claims->in_grace = exp != 0 && v->now > exp;
    if (ts->max_ttl > 0 &&
        (exp == 0 || exp - v->now > apr_time_sec(ts->max_ttl) + apr_time_sec(ts->skew)))
        return refuse(claims, MG_R_TOKEN_MALFORMED,
                      "the token is valid for longer than tokens.max_ttl allows");
    if (nbf != 0 && v->now < nbf - apr_time_sec(ts->skew))
        return refuse(claims, MG_R_TOKEN_NOT_YET, "the token is not valid yet (not-before)");
    if (cidr != NULL && (v->client->family == 0 || !mg_cidr_match(cidr, v->client)))
        return refuse(claims, MG_R_TOKEN_WRONG_IP, "the client address is not the bound one");
    if (claims->scope != NULL && !in_scope(v->cn->path, claims->scope))
        return refuse(claims, MG_R_TOKEN_SCOPE, "the path is outside the token's prefix");
    if (foreign && claims->scope != NULL && !in_scope(v->cn->signed_path, claims->scope))
        return refuse(claims, MG_R_TOKEN_SCOPE, "the 'tr:' segment is outside the token's prefix");
    return MG_R_ALLOWED;
}

/* A request without format-v1 parameters, under a policy with foreign
 * keys: the foreign formats' dispatcher (mg_fmt.c) for the query, or for
 * their signed cookies (`cookie`); a token that verifies becomes claims and
 * meets the same checks as ours. */
static mg_reason_t verify_foreign(const vctx_t *v, const mg_request_t *req,
                                  const mg_fmt_path_t *ptok, mg_token_claims_t *claims, int cookie)
{
    mg_fmt_req_t rq;
    mg_fmt_result_t res;
    const mg_keyref_t *ref;
    rq.pool = v->pool;
    rq.cn = v->cn;
    rq.raw_path = req->raw_path;
    rq.raw_query = req->query;
    rq.client_ip = req->client_ip;
    rq.now = v->now;
    rq.cookie = req->cookie;
    rq.path = ptok;
    mg_reason_t r = ptok != NULL ? mg_fmt_check_path(v->policy, &rq, &ref, &res)
                    : cookie     ? mg_fmt_check_cookie(v->policy, &rq, &ref, &res)
                                 : mg_fmt_check(v->policy, &rq, &ref, &res);
    if (r == MG_R_TOKEN_MISSING)
        return r;
    claims->from = ptok != NULL ? "path" : cookie ? "cookie" : "query";
    if (ref != NULL) {
        claims->kid = ref->id;
        claims->format = ref->format;
    }
    if (r != MG_R_ALLOWED)
        return refuse(claims, r, res.detail);
    mg_cidr_t cidr;
    const char *why;
    if (res.scope != NULL && !scope_valid(v->pool, res.scope))
        return refuse(claims, MG_R_TOKEN_MALFORMED,
                      "the token's scope is not a canonical "
                      "directory");
    if (res.ip != NULL && mg_cidr_parse(res.ip, &cidr, &why) != 0)
        return refuse(claims, MG_R_TOKEN_MALFORMED, "the token's address is not an address");
    claims->expires = apr_time_from_sec(res.exp);
    claims->not_before = res.nbf ? apr_time_from_sec(res.nbf) : 0;
    claims->access = res.access == MG_ACCESS_DOWNLOAD ? MG_ACCESS_DOWNLOAD : MG_ACCESS_VIEW;
    claims->scope = res.scope;
    claims->ip = res.ip;
    claims->id = res.id;
    return claims_check(v, ref, res.exp, res.nbf, last_second(&v->policy->tokens, res.exp),
                        res.ip ? &cidr : NULL, 1, claims);
}

/* Next cookie named `name` in a Cookie header, from *pos; NULL when none. */
static const char *next_cookie(apr_pool_t *pool, const char *name, const char **pos)
{
    size_t nl = strlen(name);
    const char *p = *pos;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        if (end == NULL)
            end = p + strlen(p);
        const char *next = *end ? end + 1 : end;
        if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *val = p + nl + 1;
            const char *ve = end;
            while (ve > val && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (ve - val >= 2 && val[0] == '"' && ve[-1] == '"') {
                val++;
                ve--;
            }
            *pos = next;
            return apr_pstrmemdup(pool, val, (apr_size_t)(ve - val));
        }
        p = next;
    }
    *pos = NULL;
    return NULL;
}

mg_reason_t mg_token_check(apr_pool_t *pool, const mg_policy_t *policy, const mg_request_t *req,
                           mg_token_claims_t *claims)
{
    mg_canon_t own;
    mg_ip_t client;
    const char *why = NULL;
    vctx_t v;
    tok_t t;

    memset(claims, 0, sizeof(*claims));
    claims->access = MG_ACCESS_NONE;
    v.pool = pool;
    v.policy = policy;
    v.now = apr_time_sec(req->now ? req->now : apr_time_now());
    const mg_fmt_path_t *ptok = NULL;
    if (req->d != NULL && req->d->ok) {
        v.cn = &req->d->canon;
        v.client = &req->d->client;
        ptok = req->d->ptok;
    } else {
        /* the module refuses such a request before any token is read, as
         * bad-url; `mgctl verify` says the same */
        if (mg_fmt_canon(pool, policy, req->raw_path, req->query, &own, &ptok, &why) != 0)
            return refuse(claims, MG_R_BAD_URL, why);
        v.cn = &own;
        memset(&client, 0, sizeof(client));
        if (req->client_ip == NULL || mg_ip_parse(req->client_ip, &client) != 0)
            client.family = 0;
        v.client = &client;
    }

    int found = tok_collect(v.cn->params, &t, &why);
    if (found < 0) {
        claims->from = "query";
        return refuse(claims, MG_R_TOKEN_MALFORMED, why);
    }
    int foreign = mg_fmt_policy_has_foreign(policy);
    if (ptok != NULL) {
        /* a token in the path is the request's token: nothing else is
         * believed next to it, and its refusal stands (no cookie) */
        mg_fmt_req_t rq = {pool,           v.cn,  req->raw_path, req->query,
                           req->client_ip, v.now, req->cookie,   NULL};
        const char *other = found > 0 ? "mg-v1" : mg_fmt_present(policy, &rq);
        if (other != NULL) {
            claims->from = "path";
            return refuse(claims, MG_R_TOKEN_MALFORMED,
                          apr_psprintf(pool,
                                       "the request carries a %s token in its path and "
                                       "parameters of %s",
                                       ptok->key->fmt->name, other));
        }
        return verify_foreign(&v, req, ptok, claims, 0);
    }
    if (found > 0 && foreign) {
        /* parameters of two formats at once: neither is believed */
        mg_fmt_req_t rq = {pool,           v.cn,  req->raw_path, req->query,
                           req->client_ip, v.now, req->cookie,   NULL};
        const char *other = mg_fmt_present(policy, &rq);
        if (other != NULL) {
            claims->from = "query";
            return refuse(claims, MG_R_TOKEN_MALFORMED,
                          apr_psprintf(pool,
                                       "the request carries parameters of two token formats "
                                       "(mg-v1 and %s)",
                                       other));
        }
    }
    if (found > 0)
        return verify_one(&v, &t, 0, claims);
    if (foreign) {
        mg_reason_t fr = verify_foreign(&v, req, NULL, claims, 0);
        if (fr != MG_R_TOKEN_MISSING)
            return fr;
    }

    /* No token in the query: the signed cookie, if any. Several cookies of
     * that name are sent for nested paths; the first valid one wins, else
     * the first one's reason is reported. */
    const char *cname = policy->tokens.cookie_name ? policy->tokens.cookie_name : "mg_token";
    const char *pos = req->cookie;
    mg_reason_t first = MG_R_TOKEN_MISSING;
    const char *first_detail = "no token in the query and no signed cookie";
    mg_token_claims_t first_claims = *claims;
    for (int i = 0; i < MG_COOKIE_TRIES && pos != NULL; i++) {
        const char *val = next_cookie(pool, cname, &pos);
        if (val == NULL)
            break;
        apr_array_header_t *params;
        mg_reason_t r;
        mg_token_claims_t c;
        memset(&c, 0, sizeof(c));
        c.from = "cookie";
        if (mg_query_parse(pool, val, &params, &why) != 0) {
            r = refuse(&c, MG_R_TOKEN_MALFORMED, "the cookie is not a token");
        } else {
            int f = tok_collect(params, &t, &why);
            if (f <= 0)
                r = refuse(&c, MG_R_TOKEN_MALFORMED, f < 0 ? why : "the cookie is not a token");
            else
                r = verify_one(&v, &t, 1, &c);
        }
        if (r == MG_R_ALLOWED) {
            *claims = c;
            return r;
        }
        if (i == 0) {
            first = r;
            first_detail = c.detail;
            first_claims = c;
        }
    }
    if (foreign) {
        /* foreign signed cookies (Cloud-CDN-Cookie, Akamai __token__, ...):
         * after ours, since a browser may hold both; ours reports first */
        mg_token_claims_t c;
        memset(&c, 0, sizeof(c));
        c.access = MG_ACCESS_NONE;
        mg_reason_t fr = verify_foreign(&v, req, NULL, &c, 1);
        if (fr == MG_R_ALLOWED || (fr != MG_R_TOKEN_MISSING && first == MG_R_TOKEN_MISSING)) {
            *claims = c;
            return fr;
        }
    }
    *claims = first_claims;
    return refuse(claims, first, first_detail);
}

/* ------------------------------------------------------------------ */
/* Expiry buckets                                                       */
/* ------------------------------------------------------------------ */

int mg_token_bucket_expiry(const char *bucket, const mg_tz_t *tz, apr_time_t now, apr_time_t *out)
{
    mg_civil_t c;
    int y, m, d;
    mg_tz_to_local(tz, apr_time_sec(now), &c);
    y = c.year;
    m = c.month;
    d = c.day;
    if (strcmp(bucket, "end-of-day") == 0) {
        /* today */
    } else if (strcmp(bucket, "end-of-week") == 0) {
        /* weeks end on Sunday (ISO 8601 weeks run Monday-Sunday) */
        int64_t days = mg_days_from_civil(y, m, d) + (7 - c.wday) % 7;
        mg_civil_from_days(days, &y, &m, &d);
    } else if (strcmp(bucket, "end-of-month") == 0) {
        d = mg_days_in_month(y, m);
    } else {
        return -1;
    }
    /* The period's last second is the one before the next day begins, not
     * "23:59:59 local": where a day's last hour repeats (America/Santiago
     * leaves DST at 24:00), mg_tz_from_local gives the first 23:59:59, an
     * hour before the day ends, and links minted in the repeated hour were
     * expired when made. A next day that begins in a gap (midnight skipped)
     * begins at the transition. And it is the next day's first midnight
     * after now: where the clocks went back past midnight (America/Moncton
     * left DST at 00:01 until 2006, back to 23:01), a link minted in the
     * repeated 23:01-23:59 belongs to the day that ends at the second
     * midnight; the first one is behind it. */
    mg_civil_from_days(mg_days_from_civil(y, m, d) + 1, &y, &m, &d);
    *out =
        apr_time_from_sec(mg_tz_from_local_after(tz, apr_time_sec(now) + 1, y, m, d, 0, 0, 0) - 1);
    return 0;
}
