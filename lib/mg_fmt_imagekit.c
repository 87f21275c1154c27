/* mg_fmt_imagekit.c — ImageKit signed URLs (keys[].format: imagekit).
 *
 * From ImageKit's documentation ("Signed URLs") and its SDKs: the
 * signature `ik-s` is the lower-case hex HMAC-SHA1, under the account's
 * private key, of the URL after the URL endpoint (transformations, in a
 * `tr:` path segment or a `tr=` parameter, included; `ik-s`/`ik-t` not)
 * followed by the expiry `ik-t` in epoch seconds, or by `9999999999` for a
 * link that never expires (it then has no `ik-t`). The endpoint is the
 * path prefix that stands for ImageKit's URL endpoint on this server
 * (option `endpoint`, default "/"). The signed bytes are the bytes the
 * client sends (no re-encoding); the rule that owns the request is still
 * found from our canonical path. Links without `ik-t` are refused unless
 * the key says `no_expiry: allow`.
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_fmt.h"

#define IK_NO_EXPIRY "9999999999"
#define IK_SIG_LEN 20 /* HMAC-SHA1 */

typedef struct ik_opts {
    const char *endpoint; /* starts and ends with '/' */
    size_t endpoint_n;
    int no_expiry; /* links without ik-t are accepted */
} ik_opts_t;

static const char *const ik_options[] = {"endpoint", "no_expiry", NULL};
static const char *const ik_names[] = {"ik-s", "ik-t", NULL};

static mg_status_t ik_key_init(apr_pool_t *pool, mg_fkey_t *k, const char **why, int *bad)
{
    ik_opts_t *o = apr_pcalloc(pool, sizeof(*o));
    int i_ep, i_ne;
    const char *ep = mg_fmt_opt(k, "endpoint", &i_ep);
    const char *ne = mg_fmt_opt(k, "no_expiry", &i_ne);
    o->endpoint = ep ? ep : "/";
    size_t n = strlen(o->endpoint);
    if (n == 0 || o->endpoint[0] != '/' || o->endpoint[n - 1] != '/' ||
        strcspn(o->endpoint, "?#%;\\ ") != n || strstr(o->endpoint, "//") != NULL ||
        strstr(o->endpoint, "/./") != NULL || strstr(o->endpoint, "/../") != NULL) {
        *bad = i_ep;
        *why = "option endpoint must be a plain path that starts and ends with '/' (the part of "
               "the URL that stands for ImageKit's URL endpoint, e.g. /your_imagekit_id/)";
        return MG_EINVAL;
    }
    o->endpoint_n = n;
    if (ne != NULL && strcmp(ne, "allow") != 0 && strcmp(ne, "refuse") != 0) {
        *bad = i_ne;
        *why = "option no_expiry is 'allow' or 'refuse' (the default)";
        return MG_EINVAL;
    }
    o->no_expiry = ne != NULL && strcmp(ne, "allow") == 0;
    k->priv = o;
    return MG_OK;
}

static const char *const *ik_params(const mg_fkey_t *k)
{
    (void)k;
    return ik_names;
}

/* MAC of  path-after-endpoint ["?" rest] expiry-text */
static int ik_mac(const mg_fkey_t *k, const char *tail, size_t tail_n, const char *rest,
                  const char *exp, size_t exp_n, unsigned char *mac, size_t *mac_n)
{
    size_t rest_n = strlen(rest);
    mg_fmt_piece_t pc[4] = {{tail, tail_n}, {"?", rest_n ? 1 : 0}, {rest, rest_n}, {exp, exp_n}};
    return mg_fmt_mac(k, pc, 4, mac, mac_n);
}

static mg_reason_t refuse(mg_fmt_result_t *out, mg_reason_t r, const char *detail)
{
    out->detail = detail;
    return r;
}

static mg_reason_t ik_verify(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out)
{
    const ik_opts_t *o = k->priv;
    const char *v[2], *rest, *why;
    size_t n[2];
    if (mg_fmt_split_query(rq->pool, rq->cn, rq->raw_query, ik_names, v, n, &rest, &why) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, why);
    if (v[0] == NULL && v[1] == NULL)
        return MG_R_TOKEN_MISSING;
    if (v[0] == NULL)
        return refuse(out, MG_R_TOKEN_MALFORMED, "ik-t without ik-s");
    unsigned char sig[IK_SIG_LEN], mac[MG_FMT_SIG_MAX];
    if (mg_fmt_hex_decode(v[0], n[0], sig, sizeof(sig)) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, "ik-s is not 40 lower-case hex digits");
    int64_t exp = 0;
    if (v[1] != NULL && mg_fmt_parse_epoch(v[1], n[1], &exp) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, "ik-t is not epoch seconds");
    /* written out, ImageKit's "never" signs exactly as the link without
     * ik-t: the same link, so the same no_expiry rule */
    int never =
        v[1] == NULL || (n[1] == sizeof(IK_NO_EXPIRY) - 1 && memcmp(v[1], IK_NO_EXPIRY, n[1]) == 0);
    if (never)
        exp = 0;
    if (never && !o->no_expiry)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "the ImageKit link has no ik-t (no expiry) and the key does not allow "
                      "that (options: no_expiry: allow)");
    size_t pn = strlen(rq->raw_path);
    if (pn < o->endpoint_n || memcmp(rq->raw_path, o->endpoint, o->endpoint_n) != 0)
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the path is not under the key's endpoint");
    size_t mac_n = 0;
    if (ik_mac(k, rq->raw_path + o->endpoint_n, pn - o->endpoint_n, rest,
               v[1] ? v[1] : IK_NO_EXPIRY, v[1] ? n[1] : sizeof(IK_NO_EXPIRY) - 1, mac,
               &mac_n) != 0 ||
        mac_n != IK_SIG_LEN || !mg_fmt_equal(mac, sig, IK_SIG_LEN))
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
    out->exp = exp;
    return MG_R_ALLOWED;
}

static mg_status_t ik_sign(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why)
{
    const ik_opts_t *o = k->priv;
    const char *origin, *path, *query, *v[2], *rest;
    size_t n[2];
    mg_canon_t cn;
    if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, why) != MG_OK)
        return MG_EINVAL;
    if (mg_fmt_split_query(pool, &cn, query, ik_names, v, n, &rest, why) != 0)
        return MG_EINVAL;
    if (v[0] != NULL || v[1] != NULL) {
        *why = "the URL already has ik-s or ik-t";
        return MG_EINVAL;
    }
    if (c->ip != NULL) {
        *why = "ImageKit links cannot be bound to an address";
        return MG_EINVAL;
    }
    if (c->exp < 0 || c->exp > INT64_C(9999999998)) {
        *why = "the expiry is not epoch seconds the verifier accepts (1 to 9999999998)";
        return MG_EINVAL;
    }
    if (c->exp == 0 && !o->no_expiry) {
        *why = "the key does not allow links without expiry (options: no_expiry: allow)";
        return MG_EINVAL;
    }
    size_t pn = strlen(path);
    if (pn < o->endpoint_n || memcmp(path, o->endpoint, o->endpoint_n) != 0) {
        *why = apr_psprintf(pool, "the path is not under the key's endpoint %s", o->endpoint);
        return MG_EINVAL;
    }
    const char *exp = c->exp ? apr_psprintf(pool, "%" APR_INT64_T_FMT, c->exp) : IK_NO_EXPIRY;
    unsigned char mac[MG_FMT_SIG_MAX];
    char hex[2 * MG_FMT_SIG_MAX + 1];
    size_t mac_n = 0;
    if (ik_mac(k, path + o->endpoint_n, pn - o->endpoint_n, rest, exp, strlen(exp), mac, &mac_n) !=
        0) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    mg_fmt_hex_encode(mac, mac_n, hex);
    /* the SDKs append ik-t, then ik-s, after the query the signature covers */
    *out =
        apr_pstrcat(pool, origin, path, "?", rest, *rest ? "&" : "",
                    c->exp ? apr_pstrcat(pool, "ik-t=", exp, "&", NULL) : "", "ik-s=", hex, NULL);
    return MG_OK;
}

const mg_fmt_t mg_fmt_imagekit = {
    .name = "imagekit",
    .algs = MG_FALG_HMAC_SHA1,
    .default_alg = MG_FALG_HMAC_SHA1,
    .secret = MG_SECRET_TEXT,
    .options = ik_options,
    .key_init = ik_key_init,
    .params = ik_params,
    .verify = ik_verify,
    .sign = ik_sign,
};
