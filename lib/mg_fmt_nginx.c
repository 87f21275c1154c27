/* mg_fmt_nginx.c — nginx secure_link links (keys[].format:
 * nginx-secure-link), from the ngx_http_secure_link_module documentation.
 *
 * nginx checks `secure_link $arg_md5,$arg_expires;` against
 * `secure_link_md5 "<expression>";`: the hash parameter is the base64url
 * MD5 (no padding) of the expression with its variables substituted, and
 * the link is expired after the second in the expires parameter. Here the
 * expression is the key's option `expression`, in nginx's syntax, with
 * the literal secret replaced by `$secret` (the key file holds it, the
 * policy does not). Variables: $uri (our canonical path, decoded, as
 * nginx's normalised $uri), $secure_link_expires, $remote_addr (the client
 * address after mod_remoteip), $args (the query without the hash and
 * expires parameters: nginx's own $args would contain the hash itself),
 * $secret. Refused at load time: an expression without $secret (anyone
 * could compute the hash), without $uri (one link would open every path),
 * or without $secure_link_expires unless the key says `no_expiry: allow`
 * (the expiry would not be signed).
 *
 * The older secure_link_secret form (option secret_prefix: /p/) puts the
 * token in the path: /p/<hash>/<link>, hash = hex(MD5(link + secret)),
 * with link the rest of the request target as received (percent-encoded,
 * with '?' and the query when there is one), as ngx_http_secure_link's
 * old variable reads r->unparsed_uri. Those links never expire, so the key
 * must say no_expiry: allow. The request is judged and served as /p/<link>
 * (lib/mg_fmt.h, mg_fmt_path_t; mod_media_guard maps it).
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_fmt.h"
#include "mg_keys.h"

#define NG_MD5_LEN 16
#define NG_MAX_PARTS 32

typedef enum { P_LIT, P_URI, P_EXPIRES, P_ADDR, P_ARGS, P_SECRET } ng_kind_t;
typedef struct ng_part {
    ng_kind_t kind;
    const char *lit;
    size_t n;
} ng_part_t;

typedef struct ng_opts {
    const char *secret_prefix; /* secure_link_secret form: "/p/", else NULL */
    size_t sp_n;
    ng_part_t parts[NG_MAX_PARTS];
    int nparts;
    int has_addr, has_expires, has_args;
    int no_expiry;
    const char *names[3]; /* hash, expires, NULL */
} ng_opts_t;

static const char *const ng_options[] = {"expression", "hash_param",    "expires_param",
                                         "no_expiry",  "secret_prefix", NULL};
static const struct {
    const char *name;
    ng_kind_t kind;
} ng_vars[] = {{"uri", P_URI},
               {"secure_link_expires", P_EXPIRES},
               {"remote_addr", P_ADDR},
               {"args", P_ARGS},
               {"secret", P_SECRET}};

static int var_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* $args must have a fixed boundary on both sides: the MD5 covers the
 * concatenation, and $uri$args signed /v/a.jpg?x=1 exactly as /v/?a.jpgx=1
 * or /v/a.jp?gx=1 (red team 22). So: once, after a literal ending in '?'
 * (the verifier refuses a '?' in $uri and in $args, and no other variable
 * can hold one), before the end, $secret or a literal starting with a
 * space (a query never holds a raw space). */
static mg_status_t args_delimited(const ng_opts_t *o, const char **why)
{
    int count = 0;
    for (int i = 0; i < o->nparts; i++) {
        if (o->parts[i].kind != P_ARGS)
            continue;
        const ng_part_t *b = i > 0 ? &o->parts[i - 1] : NULL;
        const ng_part_t *a = i + 1 < o->nparts ? &o->parts[i + 1] : NULL;
        if (++count > 1 || b == NULL || b->kind != P_LIT || b->lit[b->n - 1] != '?' ||
            (a != NULL && a->kind != P_SECRET && (a->kind != P_LIT || a->lit[0] != ' '))) {
            *why = "option expression must write $args once, right after a '?' and before a "
                   "space, $secret or the end (\"$secure_link_expires$uri?$args $secret\"): "
                   "without those boundaries a query could move into the path under the same hash";
            return MG_EINVAL;
        }
    }
    return MG_OK;
}

/* Parse nginx's variable syntax: $name or ${name}; everything else is a
 * literal. */
static mg_status_t parse_expression(apr_pool_t *pool, const char *e, ng_opts_t *o, const char **why)
{
    const char *p = e;
    int seen[P_SECRET + 1] = {0};
    while (*p) {
        if (o->nparts == NG_MAX_PARTS) {
            *why = "option expression has too many parts";
            return MG_EINVAL;
        }
        ng_part_t *part = &o->parts[o->nparts];
        if (*p != '$') {
            const char *d = strchr(p, '$');
            size_t n = d ? (size_t)(d - p) : strlen(p);
            part->kind = P_LIT;
            part->lit = apr_pstrmemdup(pool, p, n);
            part->n = n;
            p += n;
            o->nparts++;
            continue;
        }
        p++;
        int brace = *p == '{';
        if (brace)
            p++;
        const char *s = p;
        while (var_char(*p))
            p++;
        size_t n = (size_t)(p - s);
        if (brace && *p++ != '}') {
            *why = "option expression has a '${' without its '}'";
            return MG_EINVAL;
        }
        int k = -1;
        for (size_t i = 0; i < sizeof(ng_vars) / sizeof(ng_vars[0]) && k < 0; i++)
            if (strlen(ng_vars[i].name) == n && memcmp(ng_vars[i].name, s, n) == 0)
                k = (int)i;
        /* nginx configurations often name the argument itself:
         * "$arg_expires" is $secure_link_expires when it is the expires
         * parameter of the key */
        if (k < 0 && n == 4 + strlen(o->names[1]) && memcmp(s, "arg_", 4) == 0 &&
            memcmp(s + 4, o->names[1], n - 4) == 0)
            k = 1;
        if (k < 0) {
            *why = apr_psprintf(pool,
                                "option expression uses $%.*s; supported are $uri, "
                                "$secure_link_expires (or $arg_%s), $remote_addr, $args and "
                                "$secret",
                                (int)(n > 40 ? 40 : n), s, o->names[1]);
            return MG_EINVAL;
        }
        part->kind = ng_vars[k].kind;
        seen[part->kind] = 1;
        o->nparts++;
    }
    if (!seen[P_SECRET]) {
        *why = "option expression must contain $secret (put nginx's literal secret in the key "
               "file and write $secret in its place): without it anyone can compute the hash";
        return MG_EINVAL;
    }
    if (!seen[P_URI]) {
        *why = "option expression must contain $uri: a link that does not cover its path "
               "would open every path";
        return MG_EINVAL;
    }
    if (!seen[P_EXPIRES] && !o->no_expiry) {
        *why = "option expression must contain $secure_link_expires, or the key must say "
               "no_expiry: allow (the expiry would not be signed)";
        return MG_EINVAL;
    }
    o->has_addr = seen[P_ADDR];
    o->has_expires = seen[P_EXPIRES];
    o->has_args = seen[P_ARGS];
    return args_delimited(o, why);
}

static int param_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_-") == n;
}

/* secure_link_secret: the prefix is one segment ("an arbitrary string
 * without slashes", nginx reads the first segment of the target), the
 * links never expire, and the query-form options mean nothing. */
static mg_status_t secret_form_init(apr_pool_t *pool, mg_fkey_t *k, ng_opts_t *o, const char *sp,
                                    int i_sp, const char **why, int *bad)
{
    mg_canon_t cn;
    const char *w;
    size_t n = strlen(sp);
    int i;
    if (n < 3 || n > 256 || sp[0] != '/' || sp[n - 1] != '/' || memchr(sp + 1, '/', n - 2) ||
        strpbrk(sp, "%;") || mg_canon_path(pool, sp, NULL, &cn, &w) != 0 || cn.tr != NULL ||
        strcmp(cn.path, sp) != 0) {
        *bad = i_sp;
        *why = "option secret_prefix is the one-segment location of secure_link_secret, such as "
               "/p/";
        return MG_EINVAL;
    }
    if (mg_fmt_opt(k, "expression", &i) || mg_fmt_opt(k, "hash_param", &i) ||
        mg_fmt_opt(k, "expires_param", &i)) {
        *bad = i;
        *why = "option secret_prefix (secure_link_secret) takes no expression, hash_param or "
               "expires_param: those are the secure_link_md5 form";
        return MG_EINVAL;
    }
    if (!o->no_expiry) {
        *bad = i_sp;
        *why = "secure_link_secret links never expire: the key must say no_expiry: allow (and "
               "tokens.max_ttl must be unset)";
        return MG_EINVAL;
    }
    o->secret_prefix = sp;
    o->sp_n = n;
    o->names[0] = NULL; /* nothing in the query */
    k->priv = o;
    return MG_OK;
}

static mg_status_t ng_key_init(apr_pool_t *pool, mg_fkey_t *k, const char **why, int *bad)
{
    ng_opts_t *o = apr_pcalloc(pool, sizeof(*o));
    int i_ne, i_hp, i_ep, i_e;
    const char *ne = mg_fmt_opt(k, "no_expiry", &i_ne);
    if (ne != NULL && strcmp(ne, "allow") != 0 && strcmp(ne, "refuse") != 0) {
        *bad = i_ne;
        *why = "option no_expiry is 'allow' or 'refuse' (the default)";
        return MG_EINVAL;
    }
    o->no_expiry = ne != NULL && strcmp(ne, "allow") == 0;
    int i_sp;
    const char *sp = mg_fmt_opt(k, "secret_prefix", &i_sp);
    if (sp != NULL)
        return secret_form_init(pool, k, o, sp, i_sp, why, bad);
    const char *hp = mg_fmt_opt(k, "hash_param", &i_hp);
    const char *ep = mg_fmt_opt(k, "expires_param", &i_ep);
    o->names[0] = hp ? hp : "md5";
    o->names[1] = ep ? ep : "expires";
    o->names[2] = NULL;
    if (!param_name_ok(o->names[0]) || !param_name_ok(o->names[1]) ||
        strcmp(o->names[0], o->names[1]) == 0 || strncmp(o->names[0], "mg_", 3) == 0 ||
        strncmp(o->names[1], "mg_", 3) == 0) {
        *bad = i_hp >= 0 ? i_hp : i_ep;
        *why = "options hash_param and expires_param must be two different query names of "
               "letters, digits, '_' and '-' (not mg_*)";
        return MG_EINVAL;
    }
    const char *e = mg_fmt_opt(k, "expression", &i_e);
    if (e == NULL) {
        *why = "option expression is required: nginx's secure_link_md5 expression, with "
               "$secret in place of the literal secret";
        return MG_EINVAL;
    }
    if (parse_expression(pool, e, o, why) != MG_OK) {
        *bad = i_e;
        return MG_EINVAL;
    }
    k->priv = o;
    return MG_OK;
}

static const char *const *ng_params(const mg_fkey_t *k)
{
    return ((const ng_opts_t *)k->priv)->names;
}

/* MD5 of the expression for these values. */
static int ng_hash(const mg_fkey_t *k, const char *uri, const char *expires, size_t expires_n,
                   const char *addr, const char *args, unsigned char *md, size_t *md_n)
{
    const ng_opts_t *o = k->priv;
    mg_fmt_piece_t pc[NG_MAX_PARTS];
    for (int i = 0; i < o->nparts; i++) {
        const ng_part_t *p = &o->parts[i];
        switch (p->kind) {
        case P_LIT:
            pc[i] = (mg_fmt_piece_t){p->lit, p->n};
            break;
        case P_URI:
            pc[i] = (mg_fmt_piece_t){uri, strlen(uri)};
            break;
        case P_EXPIRES:
            pc[i] = (mg_fmt_piece_t){expires, expires_n};
            break;
        case P_ADDR:
            pc[i] = (mg_fmt_piece_t){addr, strlen(addr)};
            break;
        case P_ARGS:
            pc[i] = (mg_fmt_piece_t){args, strlen(args)};
            break;
        case P_SECRET:
            pc[i] = (mg_fmt_piece_t){k->secret, k->secret_len};
            break;
        }
    }
    return mg_fmt_mac(k, pc, o->nparts, md, md_n);
}

static mg_reason_t refuse(mg_fmt_result_t *out, mg_reason_t r, const char *detail)
{
    out->detail = detail;
    return r;
}

static int hex_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* nginx's grammar: <prefix> [0-9A-Fa-f]{32} '/' link, link not empty. */
static int ng_path_split(apr_pool_t *pool, const mg_fkey_t *k, const char *raw, mg_fmt_path_t *out)
{
    const ng_opts_t *o = k->priv;
    if (o->secret_prefix == NULL || strncmp(raw, o->secret_prefix, o->sp_n) != 0)
        return 0;
    const char *h = raw + o->sp_n;
    for (int i = 0; i < 32; i++)
        if (!hex_char(h[i]))
            return 0;
    if (h[32] != '/' || h[33] == '\0')
        return 0;
    out->prefix = o->secret_prefix;
    out->token = h;
    out->token_n = 32;
    out->rest = h + 33;
    out->effective = apr_pstrcat(pool, o->secret_prefix, out->rest, NULL);
    return 1;
}

static const char *ng_path_prefix(const mg_fkey_t *k)
{
    return ((const ng_opts_t *)k->priv)->secret_prefix;
}

/* hex(MD5(link + secret)), link = rest [+ '?' query] */
static int secret_hash(const mg_fkey_t *k, const char *rest, const char *query, unsigned char *md,
                       size_t *md_n)
{
    mg_fmt_piece_t pc[4] = {{rest, strlen(rest)},
                            {"?", query ? 1 : 0},
                            {query ? query : "", query ? strlen(query) : 0},
                            {k->secret, k->secret_len}};
    return mg_fmt_mac(k, pc, 4, md, md_n);
}

static mg_reason_t secret_verify(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out)
{
    const mg_fmt_path_t *pt = rq->path;
    unsigned char sig[NG_MD5_LEN], md[MG_FMT_SIG_MAX];
    size_t md_n = 0;
    if (pt == NULL || pt->key != k)
        return MG_R_TOKEN_MISSING;
    if (mg_fmt_hex_decode(pt->token, 32, sig, NG_MD5_LEN) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "the secure_link_secret hash is not 32 lower-case hexadecimal digits");
    if (secret_hash(k, pt->rest, rq->raw_query, md, &md_n) != 0 || md_n != NG_MD5_LEN ||
        !mg_fmt_equal(md, sig, NG_MD5_LEN))
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
    out->exp = 0; /* the key allows it (no_expiry: allow); max_ttl still refuses */
    return MG_R_ALLOWED;
}

static mg_status_t secret_sign(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                               const mg_fmt_claims_t *c, const char **out, const char **why)
{
    const ng_opts_t *o = k->priv;
    const char *origin, *path, *query;
    mg_canon_t cn;
    unsigned char md[MG_FMT_SIG_MAX];
    char hex[2 * MG_FMT_SIG_MAX + 1];
    size_t md_n = 0;
    if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, why) != MG_OK)
        return MG_EINVAL;
    if (strncmp(path, o->secret_prefix, o->sp_n) != 0 || path[o->sp_n] == '\0' ||
        strncmp(cn.path, o->secret_prefix, o->sp_n) != 0 || cn.tr_form == MG_TR_FORM_PATH) {
        *why = apr_psprintf(pool, "the URL's path is not a file under the key's secret_prefix %s",
                            o->secret_prefix);
        return MG_EINVAL;
    }
    if (c->exp != 0 || c->ip != NULL) {
        *why = "secure_link_secret links carry no expiry and no address (sign with --expires "
               "never)";
        return MG_EINVAL;
    }
    if (secret_hash(k, path + o->sp_n, query, md, &md_n) != 0) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    mg_fmt_hex_encode(md, md_n, hex);
    *out = apr_pstrcat(pool, origin, o->secret_prefix, hex, "/", path + o->sp_n, query ? "?" : "",
                       query ? query : "", NULL);
    return MG_OK;
}

static mg_reason_t ng_verify(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out)
{
    const ng_opts_t *o = k->priv;
    if (o->secret_prefix != NULL)
        return secret_verify(rq, k, out);
    const char *v[2], *rest, *why;
    size_t n[2];
    if (mg_fmt_split_query(rq->pool, rq->cn, rq->raw_query, o->names, v, n, &rest, &why) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, why);
    if (v[0] == NULL && v[1] == NULL)
        return MG_R_TOKEN_MISSING;
    if (v[0] == NULL)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      apr_psprintf(rq->pool, "%s without %s", o->names[1], o->names[0]));
    unsigned char sig[NG_MD5_LEN + 3], md[MG_FMT_SIG_MAX];
    if (n[0] != 22 || mg_b64url_decode(v[0], n[0], sig, sizeof(sig)) != NG_MD5_LEN)
        return refuse(
            out, MG_R_TOKEN_MALFORMED,
            apr_psprintf(rq->pool, "%s is not a base64url MD5 (22 characters)", o->names[0]));
    int64_t exp = 0;
    if (v[1] != NULL && mg_fmt_parse_epoch(v[1], n[1], &exp) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      apr_psprintf(rq->pool, "%s is not epoch seconds", o->names[1]));
    if (v[1] == NULL && !o->no_expiry)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      apr_psprintf(rq->pool,
                                   "the link has no %s and the key does not allow links "
                                   "without expiry",
                                   o->names[1]));
    if (v[1] != NULL && !o->has_expires)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      apr_psprintf(rq->pool,
                                   "the link has %s but the key's expression does not sign it",
                                   o->names[1]));
    if (o->has_addr && rq->client_ip == NULL)
        return refuse(out, MG_R_TOKEN_WRONG_IP, "the client address is unknown");
    if (o->has_args && (strchr(rq->cn->signed_path, '?') != NULL || strchr(rest, '?') != NULL))
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "the path (encoded) or the query holds a '?', which the key's $args "
                      "boundary cannot tell from the one before the query");
    size_t md_n = 0;
    if (ng_hash(k, rq->cn->signed_path, v[1] ? v[1] : "", v[1] ? n[1] : 0,
                rq->client_ip ? rq->client_ip : "", rest, md, &md_n) != 0 ||
        md_n != NG_MD5_LEN || !mg_fmt_equal(md, sig, NG_MD5_LEN))
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
    /* without $args the query is not signed: a transformation given there
     * (?tr=) is a rendition nobody signed, as for an EdgeAuth URL token
     * (in the path, tr: is part of $uri and signed) */
    if (!o->has_args && rq->cn->tr != NULL && rq->cn->tr_form == MG_TR_FORM_QUERY)
        return refuse(out, MG_R_TOKEN_SCOPE,
                      "the key's expression does not sign the query ($args), so not its "
                      "transformation (?tr=)");
    out->exp = exp;
    /* bound by the hash itself; reported so that explain shows it */
    out->ip = o->has_addr ? rq->client_ip : NULL;
    return MG_R_ALLOWED;
}

static mg_status_t ng_sign(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why)
{
    const ng_opts_t *o = k->priv;
    if (o->secret_prefix != NULL)
        return secret_sign(pool, k, url, c, out, why);
    const char *origin, *path, *query, *v[2], *rest;
    size_t n[2];
    mg_canon_t cn;
    if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, why) != MG_OK)
        return MG_EINVAL;
    if (mg_fmt_split_query(pool, &cn, query, o->names, v, n, &rest, why) != 0)
        return MG_EINVAL;
    if (v[0] != NULL || v[1] != NULL) {
        *why = apr_psprintf(pool, "the URL already has %s or %s", o->names[0], o->names[1]);
        return MG_EINVAL;
    }
    if (o->has_addr && c->ip == NULL) {
        *why = "the key's expression uses $remote_addr: give the client address (--ip)";
        return MG_EINVAL;
    }
    if (!o->has_addr && c->ip != NULL) {
        *why = "the key's expression has no $remote_addr: its links cannot be bound to an "
               "address";
        return MG_EINVAL;
    }
    if (c->ip != NULL && strchr(c->ip, '/') != NULL) {
        *why = "nginx binds a link to one address ($remote_addr), not to a CIDR block";
        return MG_EINVAL;
    }
    if (c->exp < 0 || c->exp > INT64_C(9999999999)) {
        *why = "the expiry is not epoch seconds the verifier accepts (1 to 9999999999)";
        return MG_EINVAL;
    }
    if (c->exp == 0 && !o->no_expiry) {
        *why = "the key does not allow links without expiry (options: no_expiry: allow)";
        return MG_EINVAL;
    }
    if (c->exp != 0 && !o->has_expires) {
        *why = "the key's expression has no $secure_link_expires: its links cannot expire";
        return MG_EINVAL;
    }
    if (o->has_args && (strchr(cn.signed_path, '?') != NULL || strchr(rest, '?') != NULL)) {
        *why = "the path (encoded) or the query holds a '?', which the key's $args boundary "
               "cannot tell from the one before the query";
        return MG_EINVAL;
    }
    if (!o->has_args && cn.tr != NULL && cn.tr_form == MG_TR_FORM_QUERY) {
        *why = "the key's expression does not sign the query ($args), so not its transformation "
               "(?tr=): put it in the path (/tr:...)";
        return MG_EINVAL;
    }
    const char *exp = c->exp ? apr_psprintf(pool, "%" APR_INT64_T_FMT, c->exp) : "";
    unsigned char md[MG_FMT_SIG_MAX];
    char b64[32];
    size_t md_n = 0;
    if (ng_hash(k, cn.signed_path, exp, strlen(exp), c->ip ? c->ip : "", rest, md, &md_n) != 0) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    mg_b64url_encode(md, md_n, b64);
    *out = apr_pstrcat(pool, origin, path, "?", rest, *rest ? "&" : "", o->names[0], "=", b64,
                       c->exp ? apr_pstrcat(pool, "&", o->names[1], "=", exp, NULL) : "", NULL);
    return MG_OK;
}

const mg_fmt_t mg_fmt_nginx = {
    .name = "nginx-secure-link",
    .caps = MG_FMT_CAP_IP,
    .algs = MG_FALG_MD5,
    .default_alg = MG_FALG_MD5,
    .secret = MG_SECRET_TEXT,
    .options = ng_options,
    .key_init = ng_key_init,
    .params = ng_params,
    .verify = ng_verify,
    .sign = ng_sign,
    .path_split = ng_path_split,
    .path_prefix = ng_path_prefix,
};
