/* mg_fmt_gcp.c — Google Cloud CDN signed URLs (keys[].format: gcp-cdn),
 * from Google's "Use signed URLs" documentation and its samples
 * (GoogleCloudPlatform/golang-samples and java-docs-samples, cdn/).
 *
 * Two forms, both HMAC-SHA1 under a 16-byte key that Google shows (and the
 * key file holds) in base64url, the signature in padded base64url:
 *  - URL:    <url>[?q&]Expires=E&KeyName=K&Signature=S, S over the whole
 *            URL — scheme and host included — up to and including K;
 *  - prefix: <url>[?q&]URLPrefix=P&Expires=E&KeyName=K&Signature=S, P the
 *            base64url of a URL prefix ("https://host/dir/"), S over
 *            "URLPrefix=P&Expires=E&KeyName=K"; the request URL must start
 *            with the prefix.
 * The parameters must come last and in that order (as Google's signers
 * write them): the bytes signed are then exactly the bytes received.
 *
 * Scheme and host. The signed string starts with "https://host", which a
 * request to Apache carries only in the Host header — a value the client
 * chooses. Trusting it would let a link signed for one site be replayed
 * against any host name a client cares to send, and make verification
 * depend on proxy configuration. So the public origin is a key option
 * (`origin: https://media.example.com`, required): the signature is checked
 * over that origin, the Host header is never read. A site served under two
 * host names declares two keys (same file, same `key_name`).
 *
 * KeyName must equal the key's `key_name` option (default: the key id).
 * A URL prefix becomes a scope: the canonical directory of its path (the
 * prefix itself is compared byte for byte with the raw URL first, so the
 * scope never widens what the prefix allowed). The signed cookie
 * (Cloud-CDN-Cookie) carries the same URLPrefix, checked the same way.
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_fmt.h"
#include "mg_keys.h"

#define GC_MAC_LEN 20  /* HMAC-SHA1 */
#define GC_KEY_LEN 16  /* Cloud CDN keys are 128 bits */
#define GC_SIG_B64 27  /* unpadded base64url of 20 bytes */
#define GC_NAME_MAX 63 /* Cloud CDN key names: RFC 1035 labels, 1-63 */
#define GC_PREFIX_MAX 2048

typedef struct gc_opts {
    const char *origin; /* "https://host[:port]", no trailing '/' */
    size_t origin_n;
    const char *key_name;
} gc_opts_t;

static const char *const gc_options[] = {"origin", "key_name", NULL};
/* order matters: indexes below */
static const char *const gc_names[] = {"URLPrefix", "Expires", "KeyName", "Signature", NULL};
enum { GC_PREFIX, GC_EXPIRES, GC_KEYNAME, GC_SIG };

static int key_name_valid(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > GC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
              (n[i] >= '0' && n[i] <= '9') || n[i] == '-' || n[i] == '_'))
            return 0;
    return 1;
}

static mg_status_t gc_key_init(apr_pool_t *pool, mg_fkey_t *k, const char **why, int *bad)
{
    gc_opts_t *o = apr_pcalloc(pool, sizeof(*o));
    int i_or, i_kn;
    o->origin = mg_fmt_opt(k, "origin", &i_or);
    o->key_name = mg_fmt_opt(k, "key_name", &i_kn);
    if (o->origin == NULL || !mg_fmt_origin_valid(o->origin)) {
        *bad = i_or;
        *why = "option origin is required: the public scheme and host the links were signed "
               "for, lower case, without path (e.g. https://media.example.com); the Host "
               "header is never trusted for it";
        return MG_EINVAL;
    }
    o->origin_n = strlen(o->origin);
    if (o->key_name == NULL)
        o->key_name = k->id;
    if (!key_name_valid(o->key_name)) {
        *bad = i_kn;
        *why = "the Cloud CDN key name (option key_name, default the key id) must be 1 to 63 "
               "letters, digits, '-' or '_'";
        return MG_EINVAL;
    }
    if (k->secret_len != GC_KEY_LEN) {
        *why = apr_psprintf(pool,
                            "a Cloud CDN key is 16 bytes (22 base64url characters, '==' "
                            "optional); this file holds %lu",
                            (unsigned long)k->secret_len);
        return MG_EINVAL;
    }
    k->priv = o;
    return MG_OK;
}

static const char *const *gc_params(const mg_fkey_t *k)
{
    (void)k;
    return gc_names;
}

static mg_reason_t refuse(mg_fmt_result_t *out, mg_reason_t r, const char *detail)
{
    out->detail = detail;
    return r;
}

/* Strict padded-or-unpadded base64url (padding, when present, complete). */
static long b64url_padded_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    size_t pad = 0;
    while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
        pad++;
    if (pad > 0 && n % 4 != 0)
        return -1;
    return mg_b64url_decode(s, n - pad, out, cap);
}

/* A URLPrefix's base64url text p[0,n), decoded (before the signature is
 * checked: a malformed one is malformed, whoever signed it). */
static mg_reason_t prefix_decode(const mg_fmt_req_t *rq, const char *p, size_t n, const char **sp,
                                 mg_fmt_result_t *out)
{
    if (n > GC_PREFIX_MAX)
        return refuse(out, MG_R_TOKEN_MALFORMED, "URLPrefix is too long");
    unsigned char *pre = apr_palloc(rq->pool, n + 1);
    long pn = b64url_padded_decode(p, n, pre, n);
    if (pn <= 0 || memchr(pre, '\0', (size_t)pn) != NULL)
        return refuse(out, MG_R_TOKEN_MALFORMED, "URLPrefix is not base64url");
    pre[pn] = '\0';
    *sp = (const char *)pre;
    return MG_R_ALLOWED;
}

/* A signed, decoded URLPrefix: it must name our origin and be a byte prefix
 * of the URL received, and canonically too; *scope is the canonical
 * directory of its path. Shared by the URL-prefix form and Cloud-CDN-Cookie. */
static mg_reason_t prefix_check(const mg_fmt_req_t *rq, const gc_opts_t *o, const char *sp,
                                const char **scope, mg_fmt_result_t *out)
{
    const char *why;
    /* signed: now the prefix is the signer's word; it must name our origin and be a
     * byte prefix of the URL received (no query: Google's signers refuse one) */
    if (strncmp(sp, o->origin, o->origin_n) != 0 || sp[o->origin_n] != '/' ||
        strpbrk(sp, "?#") != NULL)
        return refuse(out, MG_R_TOKEN_SCOPE, "URLPrefix is not a path on the key's origin");
    const char *ppath = sp + o->origin_n;
    if (strncmp(rq->raw_path, ppath, strlen(ppath)) != 0)
        return refuse(out, MG_R_TOKEN_SCOPE, "the URL does not start with URLPrefix");
    /* and canonically too: "/v/l1" (no final '/') matches the raw "/v/l1/../l2/x",
     * whose canonical path /v/l2/x the prefix never meant */
    mg_canon_t pcn;
    if (mg_canon_path(rq->pool, ppath, NULL, &pcn, &why) != 0 || pcn.tr != NULL)
        return refuse(out, MG_R_TOKEN_MALFORMED, "URLPrefix is not a plain path");
    if (strncmp(rq->cn->path, pcn.path, strlen(pcn.path)) != 0)
        return refuse(out, MG_R_TOKEN_SCOPE, "the canonical path is not under URLPrefix");
    /* the directory of the prefix, checked as a canonical scope by mg_token.c */
    *scope =
        apr_pstrmemdup(rq->pool, pcn.path, (apr_size_t)(strrchr(pcn.path, '/') - pcn.path + 1));
    return MG_R_ALLOWED;
}

static mg_reason_t gc_verify(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out)
{
    const gc_opts_t *o = k->priv;
    const char *v[4], *rest, *why;
    size_t n[4];
    const char *q = rq->raw_query;
    if (mg_fmt_split_query(rq->pool, rq->cn, q, gc_names, v, n, &rest, &why) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, why);
    if (!v[0] && !v[1] && !v[2] && !v[3])
        return MG_R_TOKEN_MISSING;
    if (!v[GC_EXPIRES] || !v[GC_KEYNAME] || !v[GC_SIG])
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "a Cloud CDN signed URL needs Expires, KeyName and Signature");
    /* the layout Google's signers write: [URLPrefix=P&]Expires=E&KeyName=K&Signature=S last
     * (the values point into the raw query, so adjacency is checked on the bytes) */
    size_t qn = strlen(q);
    if (v[GC_SIG] + n[GC_SIG] != q + qn ||
        v[GC_SIG] != v[GC_KEYNAME] + n[GC_KEYNAME] + sizeof("&Signature=") - 1 ||
        v[GC_KEYNAME] != v[GC_EXPIRES] + n[GC_EXPIRES] + sizeof("&KeyName=") - 1 ||
        (v[GC_PREFIX] && v[GC_EXPIRES] != v[GC_PREFIX] + n[GC_PREFIX] + sizeof("&Expires=") - 1))
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "the Cloud CDN parameters must come last, in the order [URLPrefix,] "
                      "Expires, KeyName, Signature");
    if (n[GC_KEYNAME] != strlen(o->key_name) ||
        memcmp(v[GC_KEYNAME], o->key_name, n[GC_KEYNAME]) != 0)
        return refuse(out, MG_R_TOKEN_UNKNOWN_KEY, "KeyName is not this key's name");
    unsigned char sig[GC_MAC_LEN + 2], mac[MG_FMT_SIG_MAX];
    const char *s = v[GC_SIG];
    size_t sn = n[GC_SIG];
    int padded = (sn == GC_SIG_B64 + 1 && s[GC_SIG_B64] == '=') ||
                 (sn == GC_SIG_B64 + 3 && memcmp(s + GC_SIG_B64, "%3D", 3) == 0);
    if (!padded || mg_b64url_decode(s, GC_SIG_B64, sig, sizeof(sig)) != GC_MAC_LEN)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "Signature is not 28 characters of padded base64url (HMAC-SHA1)");
    int64_t exp = 0;
    if (mg_fmt_parse_epoch(v[GC_EXPIRES], n[GC_EXPIRES], &exp) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, "Expires is not epoch seconds");
    const char *signed_end = v[GC_KEYNAME] + n[GC_KEYNAME];
    const char *scope = NULL;
    int rc;
    size_t mac_n = 0;
    if (v[GC_PREFIX] != NULL) {
        const char *sp;
        mg_reason_t pr = prefix_decode(rq, v[GC_PREFIX], n[GC_PREFIX], &sp, out);
        if (pr != MG_R_ALLOWED)
            return pr;
        const char *start = v[GC_PREFIX] - (sizeof("URLPrefix=") - 1);
        mg_fmt_piece_t pc[1] = {{start, (size_t)(signed_end - start)}};
        rc = mg_fmt_mac(k, pc, 1, mac, &mac_n);
        if (rc != 0 || mac_n != GC_MAC_LEN || !mg_fmt_equal(mac, sig, GC_MAC_LEN))
            return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
        pr = prefix_check(rq, o, sp, &scope, out);
        if (pr != MG_R_ALLOWED)
            return pr;
    } else {
        mg_fmt_piece_t pc[4] = {{o->origin, o->origin_n},
                                {rq->raw_path, strlen(rq->raw_path)},
                                {"?", 1},
                                {q, (size_t)(signed_end - q)}};
        rc = mg_fmt_mac(k, pc, 4, mac, &mac_n);
        if (rc != 0 || mac_n != GC_MAC_LEN || !mg_fmt_equal(mac, sig, GC_MAC_LEN))
            return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
    }
    out->exp = exp;
    out->scope = scope;
    return MG_R_ALLOWED;
}

/* ---- Cloud-CDN-Cookie ------------------------------------------------------
 * "Cloud-CDN-Cookie=URLPrefix=P:Expires=E:KeyName=K:Signature=S" (Google's
 * "Using signed cookies"; python-docs-samples cdn/snippets.py
 * sign_cookie): S the padded base64url HMAC-SHA1 of the value up to and
 * including K, the same key as signed URLs. The fields in that order, as
 * every signer writes them. */
static const char *const gc_cookie_names[] = {"Cloud-CDN-Cookie", NULL};

static const char *const *gc_cookies(const mg_fkey_t *k)
{
    (void)k;
    return gc_cookie_names;
}

/* Match the literal `lit` at *p (not past end) and move past it. */
static int take(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return 0;
    *p += n;
    return 1;
}

static mg_reason_t cookie_one(const mg_fmt_req_t *rq, const mg_fkey_t *k, const char *val,
                              size_t len, mg_fmt_result_t *out)
{
    const gc_opts_t *o = k->priv;
    const char *p = val, *end = val + len, *pre, *exp_s, *kn, *sig_s;
    if (len > GC_PREFIX_MAX + 256)
        return refuse(out, MG_R_TOKEN_MALFORMED, "the Cloud-CDN-Cookie is too long");
    if (!take(&p, end, "URLPrefix="))
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "a Cloud-CDN-Cookie is URLPrefix=P:Expires=E:KeyName=K:Signature=S");
    pre = p;
    while (p < end && *p != ':')
        p++;
    size_t pre_n = (size_t)(p - pre);
    if (!take(&p, end, ":Expires="))
        return refuse(out, MG_R_TOKEN_MALFORMED, "the Cloud-CDN-Cookie has no Expires");
    exp_s = p;
    while (p < end && *p != ':')
        p++;
    size_t exp_n = (size_t)(p - exp_s);
    if (!take(&p, end, ":KeyName="))
        return refuse(out, MG_R_TOKEN_MALFORMED, "the Cloud-CDN-Cookie has no KeyName");
    kn = p;
    while (p < end && *p != ':')
        p++;
    size_t kn_n = (size_t)(p - kn);
    const char *signed_end = p;
    if (!take(&p, end, ":Signature="))
        return refuse(out, MG_R_TOKEN_MALFORMED, "the Cloud-CDN-Cookie has no Signature");
    sig_s = p;
    if (kn_n != strlen(o->key_name) || memcmp(kn, o->key_name, kn_n) != 0)
        return refuse(out, MG_R_TOKEN_UNKNOWN_KEY, "KeyName is not this key's name");
    unsigned char sig[GC_MAC_LEN + 2], mac[MG_FMT_SIG_MAX];
    size_t mac_n = 0;
    if ((size_t)(end - sig_s) != GC_SIG_B64 + 1 || sig_s[GC_SIG_B64] != '=' ||
        mg_b64url_decode(sig_s, GC_SIG_B64, sig, sizeof(sig)) != GC_MAC_LEN)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "Signature is not 28 characters of padded base64url (HMAC-SHA1)");
    int64_t exp = 0;
    if (mg_fmt_parse_epoch(exp_s, exp_n, &exp) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, "Expires is not epoch seconds");
    const char *sp;
    mg_reason_t r = prefix_decode(rq, pre, pre_n, &sp, out);
    if (r != MG_R_ALLOWED)
        return r;
    mg_fmt_piece_t pc[1] = {{val, (size_t)(signed_end - val)}};
    if (mg_fmt_mac(k, pc, 1, mac, &mac_n) != 0 || mac_n != GC_MAC_LEN ||
        !mg_fmt_equal(mac, sig, GC_MAC_LEN))
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
    const char *scope = NULL;
    r = prefix_check(rq, o, sp, &scope, out);
    if (r != MG_R_ALLOWED)
        return r;
    out->exp = exp;
    out->scope = scope;
    return MG_R_ALLOWED;
}

static mg_reason_t gc_verify_cookie(const mg_fmt_req_t *rq, const mg_fkey_t *k,
                                    mg_fmt_result_t *out)
{
    /* one per path, when a site sets several */
    return mg_fmt_cookie_each(rq, k, gc_cookie_names[0], cookie_one, out);
}

static mg_status_t sign_any(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                            const mg_fmt_claims_t *c, int cookie, const char **out,
                            const char **why)
{
    const gc_opts_t *o = k->priv;
    const char *origin = "", *path, *query = NULL;
    mg_canon_t cn;
    if (cookie) {
        if (c->scope == NULL || c->scope[0] != '/') {
            *why = "a Cloud-CDN-Cookie covers a prefix (--prefix /DIR/)";
            return MG_EINVAL;
        }
        /* the prefix is compared with the raw path: it must be written as
         * browsers send it (no byte they percent-encode, no '%' to guess) */
        for (const unsigned char *b = (const unsigned char *)c->scope; *b; b++) {
            if (*b <= 0x20 || *b >= 0x7f || strchr("\"<>\\^`{|}%?#", *b) != NULL) {
                *why = "a Cloud-CDN-Cookie prefix must be a path as browsers send it, without "
                       "bytes they percent-encode";
                return MG_EINVAL;
            }
        }
        path = c->scope;
    } else if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, why) != MG_OK) {
        return MG_EINVAL;
    }
    if (*origin != '\0' && strcmp(origin, o->origin) != 0) {
        *why =
            apr_psprintf(pool, "the key signs for %s, not %s (option origin)", o->origin, origin);
        return MG_EINVAL;
    }
    if (c->ip != NULL) {
        *why = "Cloud CDN links cannot be bound to an address";
        return MG_EINVAL;
    }
    if (c->exp == 0) {
        *why = "Cloud CDN links always expire";
        return MG_EINVAL;
    }
    const char *exp = apr_psprintf(pool, "%" APR_INT64_T_FMT, c->exp);
    const char *head = apr_pstrcat(pool, o->origin, path, "?", query ? query : "",
                                   query && *query ? "&" : "", NULL);
    const char *tail;
    if (c->scope != NULL) {
        if (strncmp(path, c->scope, strlen(c->scope)) != 0) {
            *why = "the path is not under the prefix";
            return MG_EINVAL;
        }
        const char *prefix = apr_pstrcat(pool, o->origin, c->scope, NULL);
        size_t pn = strlen(prefix);
        char *b64 = apr_palloc(pool, (pn + 2) / 3 * 4 + 1);
        size_t bn = mg_b64url_encode((const unsigned char *)prefix, pn, b64);
        while (bn % 4 != 0)
            b64[bn++] = '=';
        b64[bn] = '\0';
        /* the cookie's fields are ':'-separated, the URL's '&'-separated */
        const char *sep = cookie ? ":" : "&";
        tail = apr_pstrcat(pool, "URLPrefix=", b64, sep, "Expires=", exp, sep,
                           "KeyName=", o->key_name, NULL);
    } else {
        tail = apr_pstrcat(pool, "Expires=", exp, "&KeyName=", o->key_name, NULL);
    }
    unsigned char mac[MG_FMT_SIG_MAX];
    size_t mac_n = 0;
    mg_fmt_piece_t pc[2] = {{c->scope ? "" : head, c->scope ? 0 : strlen(head)},
                            {tail, strlen(tail)}};
    if (mg_fmt_mac(k, pc, 2, mac, &mac_n) != 0 || mac_n != GC_MAC_LEN) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    char sig[GC_SIG_B64 + 2];
    mg_b64url_encode(mac, GC_MAC_LEN, sig);
    sig[GC_SIG_B64] = '=';
    sig[GC_SIG_B64 + 1] = '\0';
    if (cookie)
        *out = apr_pstrcat(pool, gc_cookie_names[0], "=", tail, ":Signature=", sig, NULL);
    else
        *out = apr_pstrcat(pool, head, tail, "&Signature=", sig, NULL);
    return MG_OK;
}

static mg_status_t gc_sign(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why)
{
    return sign_any(pool, k, url, c, 0, out, why);
}

static mg_status_t gc_sign_cookie(apr_pool_t *pool, const mg_fkey_t *k, const mg_fmt_claims_t *c,
                                  const char **out, const char **why)
{
    return sign_any(pool, k, NULL, c, 1, out, why);
}

const mg_fmt_t mg_fmt_gcp = {
    .name = "gcp-cdn",
    .caps = MG_FMT_CAP_SCOPE | MG_FMT_CAP_COOKIE,
    .algs = MG_FALG_HMAC_SHA1,
    .default_alg = MG_FALG_HMAC_SHA1,
    .secret = MG_SECRET_B64URL,
    .options = gc_options,
    .key_init = gc_key_init,
    .params = gc_params,
    .verify = gc_verify,
    .sign = gc_sign,
    .cookies = gc_cookies,
    .verify_cookie = gc_verify_cookie,
    .sign_cookie = gc_sign_cookie,
};
