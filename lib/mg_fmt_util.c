/* mg_fmt_util.c — what every foreign-format file needs: MACs and digests
 * through OpenSSL EVP (algorithms fetched once per process), constant-time
 * comparison, strict hex, epoch parsing, and splitting a raw query or a URL
 * to sign without re-encoding a byte (foreign formats sign the bytes the
 * client sends, so the split must never normalise them).
 *
 * Its own file, not mg_keys.c: the native HMAC-SHA256 fast path there has
 * its own rules (and its own maintainer), and foreign keys never share a
 * context with native ones.
 */
#include <pthread.h>
#include <string.h>

#include <apr_strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "mg_fmt.h"
#include "mg_token.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static EVP_MAC *g_hmac;
static EVP_MD *g_md5, *g_sha1, *g_sha256;

static void fetch_once(void)
{
    g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    g_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    g_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const char *digest_name(mg_falg_t alg)
{
    switch (alg) {
    case MG_FALG_HMAC_SHA256:
        return "SHA256";
    case MG_FALG_HMAC_SHA1:
        return "SHA1";
    case MG_FALG_HMAC_MD5:
        return "MD5";
    default:
        return NULL;
    }
}

/* Per-thread HMAC contexts, duplicated once from each key's keyed
 * template (OpenSSL contexts are never shared between threads): a MAC then
 * costs the message, not an allocation and the key's two blocks. The same
 * scheme as mg_keys.c, kept apart from native keys. */
#define FMT_TLS_MACS 16
typedef struct fmt_tls {
    struct {
        uint64_t serial;
        EVP_MAC_CTX *ctx;
    } mac[FMT_TLS_MACS];
    unsigned next;
} fmt_tls_t;
static pthread_key_t g_tls_key;
static int g_tls_ok;
static pthread_once_t g_tls_once = PTHREAD_ONCE_INIT;
static uint64_t g_serial;

static void tls_free(void *p)
{
    fmt_tls_t *t = p;
    for (int i = 0; t != NULL && i < FMT_TLS_MACS; i++)
        EVP_MAC_CTX_free(t->mac[i].ctx);
    OPENSSL_free(t);
}

/* Made on first use in a thread, not at load: Apache's parent loads
 * policies but never verifies (see mg_keys.c). */
static void tls_init(void)
{
    g_tls_ok = pthread_key_create(&g_tls_key, tls_free) == 0;
}

/* This thread's context for k, or a private duplicate (*owned) without TLS. */
static EVP_MAC_CTX *mac_ctx_for(const mg_fkey_t *k, int *owned)
{
    *owned = 0;
    pthread_once(&g_tls_once, tls_init);
    fmt_tls_t *t = g_tls_ok ? pthread_getspecific(g_tls_key) : NULL;
    if (g_tls_ok && t == NULL && (t = OPENSSL_zalloc(sizeof(*t))) != NULL &&
        pthread_setspecific(g_tls_key, t) != 0) {
        OPENSSL_free(t);
        t = NULL;
    }
    if (t == NULL) {
        *owned = 1;
        return EVP_MAC_CTX_dup(k->mac_tmpl);
    }
    for (int i = 0; i < FMT_TLS_MACS; i++)
        if (t->mac[i].ctx != NULL && t->mac[i].serial == k->serial)
            return t->mac[i].ctx;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->mac_tmpl);
    if (ctx == NULL)
        return NULL;
    unsigned slot = t->next++ % FMT_TLS_MACS;
    EVP_MAC_CTX_free(t->mac[slot].ctx);
    t->mac[slot].ctx = ctx;
    t->mac[slot].serial = k->serial;
    return ctx;
}

static apr_status_t tmpl_cleanup(void *p)
{
    mg_fkey_t *k = p;
    EVP_MAC_CTX_free(k->mac_tmpl);
    k->mac_tmpl = NULL;
    return APR_SUCCESS;
}

int mg_fmt_mac_prepare(apr_pool_t *pool, mg_fkey_t *k)
{
    pthread_once(&g_once, fetch_once);
    k->serial = __atomic_add_fetch(&g_serial, 1, __ATOMIC_RELAXED);
    const char *dn = digest_name(k->alg);
    if (dn == NULL)
        return 0; /* a plain digest: nothing keyed */
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)dn, 0);
    params[1] = OSSL_PARAM_construct_end();
    EVP_MAC_CTX *ctx = g_hmac != NULL ? EVP_MAC_CTX_new(g_hmac) : NULL;
    if (ctx == NULL || EVP_MAC_init(ctx, k->secret, k->secret_len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ERR_clear_error();
        return -1;
    }
    k->mac_tmpl = ctx;
    apr_pool_cleanup_register(pool, k, tmpl_cleanup, apr_pool_cleanup_null);
    return 0;
}

int mg_fmt_mac(const mg_fkey_t *k, const mg_fmt_piece_t *pieces, int n, unsigned char *out,
               size_t *out_len)
{
    int ok = 0;
    pthread_once(&g_once, fetch_once);
    if (k->alg == MG_FALG_MD5) {
        /* a plain digest: the format puts the secret among the pieces */
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned int len = 0;
        ok = md != NULL && g_md5 != NULL && EVP_DigestInit_ex2(md, g_md5, NULL) == 1;
        for (int i = 0; ok && i < n; i++)
            ok = EVP_DigestUpdate(md, pieces[i].p, pieces[i].n) == 1;
        ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1;
        *out_len = len;
        EVP_MD_CTX_free(md);
    } else if (k->mac_tmpl != NULL) {
        int owned;
        EVP_MAC_CTX *ctx = mac_ctx_for(k, &owned);
        /* init without a key restarts from the keyed state */
        ok = ctx != NULL && EVP_MAC_init(ctx, NULL, 0, NULL) == 1;
        for (int i = 0; ok && i < n; i++)
            ok = EVP_MAC_update(ctx, pieces[i].p, pieces[i].n) == 1;
        ok = ok && EVP_MAC_final(ctx, out, out_len, MG_FMT_SIG_MAX) == 1;
        if (owned)
            EVP_MAC_CTX_free(ctx);
    }
    if (!ok)
        ERR_clear_error();
    return ok ? 0 : -1;
}

int mg_fmt_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int mg_fmt_hex_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
    if (len != 2 * cap)
        return -1;
    int bad = 0;
    for (size_t i = 0; i < cap; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        bad |= hi < 0 || lo < 0;
        out[i] = (unsigned char)((hi & 15) << 4 | (lo & 15));
    }
    return bad ? -1 : 0;
}

void mg_fmt_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int mg_fmt_parse_epoch(const char *s, size_t n, int64_t *out)
{
    /* No format delimits its expiry from what is signed next to it (the
     * path, a query value): "v=2" + "1700000000" is also "v=" +
     * "21700000000" and "v=2170000000" + "0". Refusing 0 (which we would
     * read as "never") and anything past 10 digits (after 2286) leaves no
     * such move that ends later than the expiry that was signed. */
    if (n == 0 || n > 10 || s[0] == '0')
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int mg_fmt_split_query(apr_pool_t *pool, const mg_canon_t *cn, const char *raw_query,
                       const char *const *names, const char **values, size_t *lens,
                       const char **rest, const char **why)
{
    int nn = 0;
    while (names[nn] != NULL)
        nn++;
    for (int i = 0; i < nn; i++) {
        values[i] = NULL;
        lens[i] = 0;
    }
    *rest = "";
    size_t qlen = raw_query ? strlen(raw_query) : 0;
    if (qlen > MG_MAX_QUERY) {
        *why = "the query is too long";
        return -1;
    }
    char *out = apr_palloc(pool, qlen + 1), *w = out;
    const char *p = raw_query ? raw_query : "", *end = p + qlen;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        size_t name_n = (size_t)((eq ? eq : pe) - p);
        int hit = -1;
        for (int i = 0; i < nn && hit < 0; i++)
            if (strlen(names[i]) == name_n && memcmp(names[i], p, name_n) == 0)
                hit = i;
        if (hit >= 0) {
            if (values[hit] != NULL) {
                *why = apr_psprintf(pool, "the parameter '%s' is repeated", names[hit]);
                return -1;
            }
            values[hit] = eq ? eq + 1 : pe;
            lens[hit] = eq ? (size_t)(pe - eq - 1) : 0;
        } else if (pe > p) {
            if (w > out)
                *w++ = '&';
            memcpy(w, p, (size_t)(pe - p));
            w += pe - p;
        }
        p = amp ? amp + 1 : end;
    }
    *w = '\0';
    *rest = out;
    /* decoded spellings (ik%2Ds, +-encoded...) of the same names must not
     * travel next to the raw ones */
    for (int i = 0; i < nn && cn != NULL && cn->params != NULL; i++) {
        int count = 0;
        (void)mg_query_get(cn->params, names[i], &count);
        if (count != (values[i] != NULL ? 1 : 0)) {
            *why =
                apr_psprintf(pool, "the parameter '%s' is repeated or percent-encoded", names[i]);
            return -1;
        }
    }
    return 0;
}

mg_status_t mg_fmt_split_url(apr_pool_t *pool, const char *url, const char **origin,
                             const char **path, const char **query, mg_canon_t *cn,
                             const char **why)
{
    for (const unsigned char *u = (const unsigned char *)url; *u; u++) {
        if (*u <= 0x20 || *u >= 0x7f || *u == '"' || *u == '<' || *u == '>' || *u == '\\' ||
            *u == '^' || *u == '`' || *u == '{' || *u == '|' || *u == '}') {
            *why = "the URL has a byte a browser would percent-encode (give it percent-encoded, "
                   "as browsers send it: these formats sign the bytes sent)";
            return MG_EINVAL;
        }
        if (*u == '#') {
            *why = "a URL to sign must not have a fragment ('#')";
            return MG_EINVAL;
        }
    }
    /* the signers' one URL split (scheme and authority checked there) */
    if (mg_token_split_url(pool, url, origin, path, query, why) != MG_OK)
        return MG_EINVAL;
    if (strlen(*path) > MG_MAX_PATH || (*query && strlen(*query) > MG_MAX_QUERY)) {
        *why = "the URL is longer than verifiers accept";
        return MG_EINVAL;
    }
    if (mg_canon_path(pool, *path, *query, cn, why) != 0)
        return MG_EINVAL;
    /* a link with another format's (or a native) token parameter would be
     * refused by every verifier that knows both: parameters of two formats */
    const char *const *all = mg_fmt_all_params();
    const mg_qparam_t *qp = (const mg_qparam_t *)cn->params->elts;
    for (int i = 0; i < cn->params->nelts; i++) {
        int reserved = strncmp(qp[i].name, "mg_", 3) == 0;
        for (int j = 0; !reserved && all[j] != NULL; j++)
            reserved = strcmp(qp[i].name, all[j]) == 0;
        if (reserved) {
            *why = apr_psprintf(pool, "the URL already has a token parameter '%s'", qp[i].name);
            return MG_EINVAL;
        }
    }
    return MG_OK;
}

mg_reason_t mg_fmt_cookie_each(const mg_fmt_req_t *rq, const mg_fkey_t *k, const char *name,
                               mg_fmt_cookie_fn *one, mg_fmt_result_t *out)
{
    const char *pos = rq->cookie, *val;
    size_t len;
    mg_reason_t first = MG_R_TOKEN_MISSING;
    const char *first_detail = NULL;
    for (int i = 0; i < MG_FMT_COOKIE_TRIES && mg_fmt_cookie_next(name, &pos, &val, &len) == 0;
         i++) {
        mg_fmt_result_t res = *out;
        mg_reason_t r = one(rq, k, val, len, &res);
        if (r == MG_R_ALLOWED) {
            *out = res;
            return r;
        }
        if (i == 0) {
            first = r;
            first_detail = res.detail;
        }
    }
    out->detail = first_detail;
    return first;
}

int mg_fmt_cookie_next(const char *name, const char **pos, const char **val, size_t *len)
{
    /* RFC 6265 5.4: "; "-separated pairs; lenient about the spaces and
     * tabs browsers and curl put around them, strict about the name */
    size_t nl = strlen(name);
    const char *p = *pos;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        if (end == NULL)
            end = p + strlen(p);
        const char *next = *end ? end + 1 : end;
        if ((size_t)(end - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1, *ve = end;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
                v++;
                ve--;
            }
            *pos = next;
            *val = v;
            *len = (size_t)(ve - v);
            return 0;
        }
        p = next;
    }
    *pos = NULL;
    return -1;
}

int mg_fmt_cookie_get(const char *header, const char *name, const char **val, size_t *len)
{
    const char *pos = header, *v2;
    size_t n2;
    if (mg_fmt_cookie_next(name, &pos, val, len) != 0)
        return 0;
    return mg_fmt_cookie_next(name, &pos, &v2, &n2) == 0 ? -1 : 1;
}

int mg_fmt_origin_valid(const char *o)
{
    const char *h = strncmp(o, "https://", 8) == 0  ? o + 8
                    : strncmp(o, "http://", 7) == 0 ? o + 7
                                                    : NULL;
    if (h == NULL || *h == '\0')
        return 0;
    for (const char *c = h; *c; c++) {
        /* a host name, an IPv4 address or [IPv6], an optional port */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' ||
              *c == ':' || *c == '[' || *c == ']'))
            return 0;
    }
    return 1;
}
