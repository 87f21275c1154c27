/* mg_fmt_bunny.c — bunny.net token authentication, HMAC-SHA256 tokens
 * (keys[].format: bunny), from BunnyWay/BunnyCDN.TokenAuthentication (the
 * vendor's SDKs and their e2e vectors).
 *
 * token = "HS256-" ["1-"] base64url(HMAC-SHA256(security key,
 *           signature path + expires + [client address bytes] + signing data))
 * - signature path: `token_path` when present (the token then covers every
 *   path under it), else the request path (our canonical path, decoded);
 * - expires: the `expires` parameter, epoch seconds;
 * - client address, with the "1-" flag only: 4 bytes for IPv4, the /64
 *   prefix (8 bytes, then 8 zero bytes) for IPv6;
 * - signing data: every other query parameter (decoded) but `token` and
 *   `expires`, sorted by name, "name=value" joined by '&' — or only
 *   token_ignore_params (and token_path) when token_ignore_params=true.
 * A token_path becomes a scope: a canonical directory (a '/' is added when
 * it lacks one, which can only narrow it), checked by mg_token.c like ours.
 * Country lists (token_countries, token_countries_blocked) are refused:
 * refusing is the only safe reading of a restriction we do not enforce.
 *
 * The path-embedded form (the SDKs' isDirectory: "/bcdn_token=<token>
 * [&name=value...]&expires=<n>/path") carries the same parameters in the
 * first path segment instead of the query, "bcdn_token" for "token"; the
 * request is judged and served as "/path" (lib/mg_fmt.h, mg_fmt_path_t).
 * The SDKs move the query into that segment, so a request query next to
 * it is not signed and is refused. mgctl signs that form when the key's
 * option sign_form is "path".
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_fmt.h"
#include "mg_ip.h"
#include "mg_keys.h"

#define BN_PREFIX "HS256-"
#define BN_IP_FLAG "1-"
#define BN_MAC_LEN 32
#define BN_PATH_PREFIX "/bcdn_token="

static const char *const bn_names[] = {"token",
                                       "expires",
                                       "token_path",
                                       "token_ignore_params",
                                       "token_countries",
                                       "token_countries_blocked",
                                       NULL};
static const char *const bn_options[] = {"sign_form", NULL};

static mg_status_t bn_key_init(apr_pool_t *pool, mg_fkey_t *k, const char **why, int *bad)
{
    int i;
    const char *f = mg_fmt_opt(k, "sign_form", &i);
    (void)pool;
    *bad = -1;
    if (f != NULL && strcmp(f, "query") != 0 && strcmp(f, "path") != 0) {
        *bad = i;
        *why = "option sign_form is 'query' (the default) or 'path' (the token in the first path "
               "segment); it only says which form mgctl sign writes, both are verified";
        return MG_EINVAL;
    }
    k->priv = (void *)(f != NULL && strcmp(f, "path") == 0 ? "path" : "query");
    return MG_OK;
}

static const char *const *bn_params(const mg_fkey_t *k)
{
    (void)k;
    return bn_names;
}

typedef struct bn_pair {
    const char *name, *value;
} bn_pair_t;

static int pair_cmp(const void *a, const void *b)
{
    return strcmp(((const bn_pair_t *)a)->name, ((const bn_pair_t *)b)->name);
}

/* The signing data of a query (decoded parameters), NULL when a name is
 * repeated (the SDKs refuse to sign such URLs) or a signed name or value
 * holds a decoded '&' or '=' (*ambiguous set): the data joins decoded
 * pairs with those very bytes, so ?a=1&tr=oi-logo.png and
 * ?a=1%26tr%3Doi-logo.png (no transformation at all) would sign alike. */
static const char *signing_data(apr_pool_t *pool, const apr_array_header_t *params, int *ambiguous)
{
    const mg_qparam_t *p = (const mg_qparam_t *)params->elts;
    bn_pair_t *v = apr_palloc(pool, sizeof(*v) * (size_t)(params->nelts + 1));
    int n = 0, ignore = 0;
    const char *path = NULL;
    *ambiguous = 0;
    for (int i = 0; i < params->nelts; i++) {
        if (strcmp(p[i].name, "token") == 0 || strcmp(p[i].name, "expires") == 0)
            continue;
        if (strpbrk(p[i].name, "&=") != NULL || strchr(p[i].value, '&') != NULL) {
            *ambiguous = 1;
            return NULL;
        }
        if (strcmp(p[i].name, "token_ignore_params") == 0 && strcmp(p[i].value, "true") == 0)
            ignore = 1;
        if (strcmp(p[i].name, "token_path") == 0)
            path = p[i].value;
        v[n].name = p[i].name;
        v[n].value = p[i].value;
        n++;
    }
    if (ignore) {
        n = 0;
        v[n++] = (bn_pair_t){"token_ignore_params", "true"};
        if (path != NULL)
            v[n++] = (bn_pair_t){"token_path", path};
    }
    qsort(v, (size_t)n, sizeof(*v), pair_cmp);
    size_t total = 1;
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i - 1].name, v[i].name) == 0)
            return NULL;
        total += strlen(v[i].name) + strlen(v[i].value) + 2;
    }
    char *out = apr_palloc(pool, total), *w = out;
    for (int i = 0; i < n; i++) {
        w += sprintf(w, "%s%s=%s", i ? "&" : "", v[i].name, v[i].value);
    }
    *w = '\0';
    return out;
}

/* The address bytes the token covers: IPv4 4 bytes, IPv6 its /64. */
static size_t ip_bytes(const mg_ip_t *ip, unsigned char out[16])
{
    if (ip->family == 4) {
        memcpy(out, ip->addr, 4);
        return 4;
    }
    memcpy(out, ip->addr, 8);
    memset(out + 8, 0, 8);
    return 16;
}

static int bn_mac(const mg_fkey_t *k, const char *path, const char *expires, size_t expires_n,
                  const unsigned char *ip, size_t ip_n, const char *data, unsigned char *mac)
{
    size_t n = 0;
    mg_fmt_piece_t pc[4] = {
        {path, strlen(path)}, {expires, expires_n}, {ip, ip_n}, {data, strlen(data)}};
    return mg_fmt_mac(k, pc, 4, mac, &n) != 0 || n != BN_MAC_LEN ? -1 : 0;
}

static mg_reason_t refuse(mg_fmt_result_t *out, mg_reason_t r, const char *detail)
{
    out->detail = detail;
    return r;
}

/* token_path as a scope: a canonical directory (never wider). */
static const char *scope_of(apr_pool_t *pool, const char *token_path)
{
    size_t n = strlen(token_path);
    return n > 0 && token_path[n - 1] == '/' ? token_path
                                             : apr_pstrcat(pool, token_path, "/", NULL);
}

static int bn_path_split(apr_pool_t *pool, const mg_fkey_t *k, const char *raw, mg_fmt_path_t *out)
{
    (void)k;
    if (strncmp(raw, BN_PATH_PREFIX, sizeof(BN_PATH_PREFIX) - 1) != 0)
        return 0;
    const char *slash = strchr(raw + 1, '/');
    if (slash == NULL)
        return 0;
    out->prefix = "/";
    out->token = raw + 1;
    out->token_n = (size_t)(slash - raw - 1);
    out->rest = slash + 1;
    out->effective = slash;
    (void)pool;
    return 1;
}

static const char *bn_path_prefix(const mg_fkey_t *k)
{
    (void)k;
    return BN_PATH_PREFIX;
}

static mg_reason_t bn_check(const mg_fmt_req_t *rq, const mg_fkey_t *k,
                            const apr_array_header_t *params, mg_fmt_result_t *out);

static mg_reason_t bn_verify(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out)
{
    const char *why;
    apr_array_header_t *params;
    if (rq->path == NULL)
        return bn_check(rq, k, rq->cn->params, out);
    if (rq->path->key != k)
        return MG_R_TOKEN_MISSING;
    if (rq->raw_query != NULL && *rq->raw_query)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "a Bunny token in the path signs no query: the link's query is not covered");
    /* "bcdn_token=...&...": the query form's parameters, token spelt bcdn_token */
    const char *seg = apr_pstrmemdup(rq->pool, rq->path->token + 5, rq->path->token_n - 5);
    if (mg_query_parse(rq->pool, seg, &params, &why) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, "the Bunny path segment is not name=value pairs");
    return bn_check(rq, k, params, out);
}

static mg_reason_t bn_check(const mg_fmt_req_t *rq, const mg_fkey_t *k,
                            const apr_array_header_t *params, mg_fmt_result_t *out)
{
    int nt = 0, ne = 0, np = 0, nc = 0, nb = 0;
    const char *tok = mg_query_get(params, "token", &nt);
    const char *exp_s = mg_query_get(params, "expires", &ne);
    const char *tpath = mg_query_get(params, "token_path", &np);
    (void)mg_query_get(params, "token_countries", &nc);
    (void)mg_query_get(params, "token_countries_blocked", &nb);
    if (nt == 0 && ne == 0 && np == 0)
        return MG_R_TOKEN_MISSING;
    if (nt != 1 || ne != 1 || np > 1)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "a Bunny token needs one token and one expires parameter");
    if (nc || nb)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "Bunny country restrictions (token_countries, token_countries_blocked) "
                      "are not supported: use the rule's country lists");
    size_t tn = strlen(tok);
    if (tn < sizeof(BN_PREFIX) - 1 || memcmp(tok, BN_PREFIX, sizeof(BN_PREFIX) - 1) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "the Bunny token is not an HS256- token (older SHA-256 tokens are not "
                      "supported)");
    const char *b64 = tok + sizeof(BN_PREFIX) - 1;
    /* the flag is read by length: a signature's own base64url may start with "1-" */
    int with_ip = strlen(b64) == 43 + sizeof(BN_IP_FLAG) - 1 &&
                  strncmp(b64, BN_IP_FLAG, sizeof(BN_IP_FLAG) - 1) == 0;
    if (with_ip)
        b64 += sizeof(BN_IP_FLAG) - 1;
    unsigned char sig[BN_MAC_LEN + 3], mac[MG_FMT_SIG_MAX], ipb[16];
    if (strlen(b64) != 43 || mg_b64url_decode(b64, 43, sig, sizeof(sig)) != BN_MAC_LEN)
        return refuse(out, MG_R_TOKEN_MALFORMED, "the Bunny token is not 43 base64url characters");
    int64_t exp = 0;
    if (mg_fmt_parse_epoch(exp_s, strlen(exp_s), &exp) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, "expires is not epoch seconds");
    int ambiguous;
    const char *data = signing_data(rq->pool, params, &ambiguous);
    if (data == NULL)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      ambiguous
                          ? "a query parameter's name holds an encoded '&' or '=', or its value an "
                            "encoded '&': Bunny's signing data cannot tell them from separators"
                          : "a query parameter is repeated");
    size_t ip_n = 0;
    mg_ip_t client;
    if (with_ip) {
        if (rq->client_ip == NULL || mg_ip_parse(rq->client_ip, &client) != 0)
            return refuse(out, MG_R_TOKEN_WRONG_IP, "the client address is unknown");
        ip_n = ip_bytes(&client, ipb);
    }
    if (tpath != NULL && (tpath[0] != '/' || strlen(tpath) > MG_MAX_PATH))
        return refuse(out, MG_R_TOKEN_MALFORMED, "token_path is not a path");
    const char *spath = tpath ? tpath : rq->cn->signed_path;
    if (bn_mac(k, spath, exp_s, strlen(exp_s), ipb, ip_n, data, mac) != 0 ||
        !mg_fmt_equal(mac, sig, BN_MAC_LEN))
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
    /* token_ignore_params=true signs no query: for a link to one file
     * (no token_path), a transformation there (?tr=) is a rendition
     * nobody signed, as for an EdgeAuth URL token */
    const char *ign = mg_query_get(params, "token_ignore_params", NULL);
    if (tpath == NULL && ign != NULL && strcmp(ign, "true") == 0 && rq->cn->tr != NULL &&
        rq->cn->tr_form == MG_TR_FORM_QUERY)
        return refuse(out, MG_R_TOKEN_SCOPE,
                      "a Bunny link with token_ignore_params=true and no token_path signs no "
                      "query, so not its transformation (?tr=)");
    out->exp = exp;
    out->scope = tpath ? scope_of(rq->pool, tpath) : NULL;
    if (with_ip) {
        /* bound by the MAC; reported as the block it covers */
        char buf[64];
        mg_cidr_t c;
        memset(&c, 0, sizeof(c));
        c.net = client;
        c.bits = client.family == 4 ? 32 : 64;
        if (client.family == 6)
            memset(c.net.addr + 8, 0, 8);
        out->ip = apr_pstrdup(rq->pool, mg_cidr_format(&c, buf, sizeof(buf)));
    }
    return MG_R_ALLOWED;
}

static mg_status_t bn_sign(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why)
{
    const char *origin, *path, *query;
    mg_canon_t cn;
    if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, why) != MG_OK)
        return MG_EINVAL;
    const mg_qparam_t *p = (const mg_qparam_t *)cn.params->elts;
    for (int i = 0; i < cn.params->nelts; i++) {
        for (int j = 0; bn_names[j] != NULL; j++) {
            if (strcmp(p[i].name, bn_names[j]) == 0) {
                *why =
                    apr_psprintf(pool, "the URL already has the Bunny parameter '%s'", p[i].name);
                return MG_EINVAL;
            }
        }
    }
    if (c->exp < 0 || c->exp > INT64_C(9999999999)) {
        *why = "the expiry is not epoch seconds the verifier accepts (1 to 9999999999)";
        return MG_EINVAL;
    }
    if (c->exp == 0) {
        *why = "Bunny links always expire";
        return MG_EINVAL;
    }
    unsigned char ipb[16], mac[MG_FMT_SIG_MAX];
    size_t ip_n = 0;
    if (c->ip != NULL) {
        mg_ip_t ip;
        if (mg_ip_parse(c->ip, &ip) != 0) {
            *why = "Bunny binds a link to one address (IPv6: its /64), not to a CIDR block";
            return MG_EINVAL;
        }
        ip_n = ip_bytes(&ip, ipb);
    }
    apr_array_header_t *params = apr_array_copy(pool, cn.params);
    if (c->scope != NULL) {
        if (strncmp(cn.path, c->scope, strlen(c->scope)) != 0) {
            *why = "the path is not under the prefix";
            return MG_EINVAL;
        }
        mg_qparam_t tp = {"token_path", c->scope, 10, strlen(c->scope), 0};
        APR_ARRAY_PUSH(params, mg_qparam_t) = tp;
    }
    int ambiguous;
    const char *data = signing_data(pool, params, &ambiguous);
    if (data == NULL) {
        *why =
            ambiguous
                ? "a query parameter's name holds an encoded '&' or '=', or its value an encoded "
                  "'&' (Bunny's signing data could not tell them from separators)"
                : "a query parameter is repeated (Bunny cannot sign that)";
        return MG_EINVAL;
    }
    const char *exp = apr_psprintf(pool, "%" APR_INT64_T_FMT, c->exp);
    char b64[64];
    if (bn_mac(k, c->scope ? c->scope : cn.signed_path, exp, strlen(exp), ipb, ip_n, data, mac) !=
        0) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    mg_b64url_encode(mac, BN_MAC_LEN, b64);
    if (strcmp((const char *)k->priv, "path") == 0) {
        /* the SDKs' isDirectory form: every signed parameter, sorted, in
         * the first segment (values percent-encoded: no raw '/'), then
         * expires, then the path */
        const char *seg =
            apr_pstrcat(pool, "/bcdn_token=" BN_PREFIX, c->ip ? BN_IP_FLAG : "", b64, NULL);
        bn_pair_t *v = apr_palloc(pool, sizeof(*v) * (size_t)(params->nelts + 1));
        const mg_qparam_t *pp = (const mg_qparam_t *)params->elts;
        int n = 0;
        for (int i = 0; i < params->nelts; i++)
            v[n++] = (bn_pair_t){pp[i].name, pp[i].value};
        qsort(v, (size_t)n, sizeof(*v), pair_cmp);
        for (int i = 0; i < n; i++)
            seg = apr_pstrcat(pool, seg, "&", mg_pct_encode_query(pool, v[i].name), "=",
                              mg_pct_encode_query(pool, v[i].value), NULL);
        *out = apr_pstrcat(pool, origin, seg, "&expires=", exp, path, NULL);
        return MG_OK;
    }
    /* the SDKs' order: token, the other signed parameters, expires */
    *out = apr_pstrcat(pool, origin, path, "?", query ? query : "", query ? "&" : "",
                       "token=" BN_PREFIX, c->ip ? BN_IP_FLAG : "", b64,
                       c->scope ? "&token_path=" : "",
                       c->scope ? mg_pct_encode_query(pool, c->scope) : "", "&expires=", exp, NULL);
    return MG_OK;
}

const mg_fmt_t mg_fmt_bunny = {
    .name = "bunny",
    .caps = MG_FMT_CAP_IP | MG_FMT_CAP_SCOPE,
    .algs = MG_FALG_HMAC_SHA256,
    .default_alg = MG_FALG_HMAC_SHA256,
    .secret = MG_SECRET_TEXT,
    .options = bn_options,
    .key_init = bn_key_init,
    .params = bn_params,
    .verify = bn_verify,
    .sign = bn_sign,
    .path_split = bn_path_split,
    .path_prefix = bn_path_prefix,
};
