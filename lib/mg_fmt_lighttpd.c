/* mg_fmt_lighttpd.c — lighttpd mod_secdownload links (keys[].format:
 * lighttpd-secdownload), from lighttpd1.4 src/mod_secdownload.c (its
 * grammar comment, secdl_verify_mac and mod_secdownload_uri_handler) and
 * the lighttpd documentation of the module.
 *
 *   URL := <uri_prefix> <mac> '/' <timestamp> <rel-path>
 *   timestamp := lower-case hex epoch seconds, when the link was made
 *   md5:         mac = hex(MD5(secret + rel-path + timestamp))           32
 *   hmac-sha1:   mac = b64url(HMAC-SHA1(secret, '/' timestamp rel-path)) 27
 *   hmac-sha256: mac = b64url(HMAC-SHA256(...same...))                   43
 * The link is valid while |now - timestamp| <= timeout (default 60 s).
 * path_segments N signs only the first N segments of rel-path: a link for
 * a directory, reported as its scope (signed_rel); hash_querystr appends
 * '?' + the query.
 *
 * The token lives in the path (lib/mg_fmt.h, mg_fmt_path_t): the request
 * is judged, canonicalised and served as <uri_prefix> + rel-path, and the
 * MAC covers our canonical rel-path (decoded, as lighttpd's uri.path is),
 * so a link can never reach outside the prefix or another file.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_fmt.h"
#include "mg_keys.h"

#define LT_TIMEOUT_MAX 31536000 /* one year: see lt_parse_ts */

typedef struct lt_opts {
    const char *prefix; /* canonical directory, "/dl/" */
    size_t prefix_n;
    int64_t timeout;
    int path_segments;
    int hash_querystr;
} lt_opts_t;

static const char *const lt_options[] = {"uri_prefix", "timeout", "path_segments", "hash_querystr",
                                         NULL};
static const char *const lt_no_params[] = {NULL};

static size_t mac_chars(mg_falg_t alg)
{
    return alg == MG_FALG_MD5 ? 32 : alg == MG_FALG_HMAC_SHA1 ? 27 : 43;
}

static size_t mac_bytes(mg_falg_t alg)
{
    return alg == MG_FALG_MD5 ? 16 : alg == MG_FALG_HMAC_SHA1 ? 20 : 32;
}

/* "/dl/": starts and ends with '/', no empty, dot, encoded or odd segment
 * (mg_canon_path gives it back unchanged), no 'tr:' segment. */
static int prefix_ok(apr_pool_t *pool, const char *p)
{
    mg_canon_t cn;
    const char *why;
    size_t n = strlen(p);
    if (n == 0 || n > 256 || p[0] != '/' || p[n - 1] != '/' || strchr(p, '%') || strchr(p, ';'))
        return 0;
    return mg_canon_path(pool, p, NULL, &cn, &why) == 0 && cn.tr == NULL && strcmp(cn.path, p) == 0;
}

static int parse_uint(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (s == NULL || *s == '\0' || (s[0] == '0' && s[1] != '\0'))
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > max / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static mg_status_t lt_key_init(apr_pool_t *pool, mg_fkey_t *k, const char **why, int *bad)
{
    lt_opts_t *o = apr_pcalloc(pool, sizeof(*o));
    int i_p, i_t, i_s, i_q;
    int64_t v;
    const char *p = mg_fmt_opt(k, "uri_prefix", &i_p);
    const char *t = mg_fmt_opt(k, "timeout", &i_t);
    const char *s = mg_fmt_opt(k, "path_segments", &i_s);
    const char *q = mg_fmt_opt(k, "hash_querystr", &i_q);
    if (p == NULL) {
        *why = "option uri_prefix is required: lighttpd's secdownload.uri-prefix, a directory "
               "such as /dl/";
        return MG_EINVAL;
    }
    if (!prefix_ok(pool, p)) {
        *bad = i_p;
        *why = "option uri_prefix must be a canonical directory that starts and ends with '/' "
               "(lighttpd prefixes that do not end in '/' are not supported)";
        return MG_EINVAL;
    }
    o->prefix = p;
    o->prefix_n = strlen(p);
    o->timeout = 60; /* lighttpd's default */
    if (t != NULL) {
        if (parse_uint(t, LT_TIMEOUT_MAX, &v) != 0 || v == 0) {
            *bad = i_t;
            *why = "option timeout is seconds, 1 to 31536000 (one year; lighttpd's default is 60)";
            return MG_EINVAL;
        }
        o->timeout = v;
    }
    if (s != NULL) {
        if (parse_uint(s, MG_MAX_SEGMENTS, &v) != 0) {
            *bad = i_s;
            *why = "option path_segments is a number of segments, 0 to 128";
            return MG_EINVAL;
        }
        o->path_segments = (int)v;
    }
    if (q != NULL) {
        if (strcmp(q, "true") != 0 && strcmp(q, "false") != 0) {
            *bad = i_q;
            *why = "option hash_querystr is 'true' or 'false' (the default)";
            return MG_EINVAL;
        }
        o->hash_querystr = strcmp(q, "true") == 0;
    }
    k->priv = o;
    return MG_OK;
}

static const char *const *lt_params(const mg_fkey_t *k)
{
    (void)k;
    return lt_no_params; /* nothing in the query: the token is in the path */
}

static const char *lt_path_prefix(const mg_fkey_t *k)
{
    return ((const lt_opts_t *)k->priv)->prefix;
}

static int b64url_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int hex_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* lighttpd's grammar, as its handler reads it: <prefix> mac{len} '/'
 * [0-9a-fA-F]{1,16} '/' rest. */
static int lt_path_split(apr_pool_t *pool, const mg_fkey_t *k, const char *raw, mg_fmt_path_t *out)
{
    const lt_opts_t *o = k->priv;
    size_t ml = mac_chars(k->alg), i;
    if (strncmp(raw, o->prefix, o->prefix_n) != 0)
        return 0;
    const char *mac = raw + o->prefix_n;
    for (i = 0; i < ml; i++)
        if (!b64url_char(mac[i]))
            return 0;
    if (mac[ml] != '/')
        return 0;
    const char *ts = mac + ml + 1;
    for (i = 0; i < 16 && hex_char(ts[i]); i++)
        ;
    if (i == 0 || ts[i] != '/')
        return 0;
    out->prefix = o->prefix;
    out->token = mac;
    out->token_n = (size_t)(ts + i - mac);
    out->rest = ts + i + 1;
    out->effective = apr_pstrcat(pool, o->prefix, out->rest, NULL);
    return 1;
}

/* The timestamp: lower-case hex, no leading zero, at most 9999999999.
 * MD5 signs rel-path and timestamp with nothing between them, so a
 * character can move from the end of the path to the start of the
 * timestamp or back under the same MAC: with no leading zero, a move
 * changes the value by at least 16^7 s (8.5 years), more than any window
 * (timeout <= 1 year), so the moved link is always out of its window. */
static int lt_parse_ts(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0 || n > 9 || s[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    if (v > INT64_C(9999999999))
        return -1;
    *out = v;
    return 0;
}

/* The MAC over rel (already truncated to path_segments), the optional
 * query and the timestamp text. */
static int lt_mac(const mg_fkey_t *k, const char *rel, size_t rel_n, const char *query,
                  const char *ts, size_t ts_n, unsigned char *mac, size_t *mac_n)
{
    mg_fmt_piece_t pc[6];
    int n = 0;
    if (k->alg == MG_FALG_MD5) {
        pc[n++] = (mg_fmt_piece_t){k->secret, k->secret_len};
        pc[n++] = (mg_fmt_piece_t){rel, rel_n};
        if (query != NULL) {
            pc[n++] = (mg_fmt_piece_t){"?", 1};
            pc[n++] = (mg_fmt_piece_t){query, strlen(query)};
        }
        pc[n++] = (mg_fmt_piece_t){ts, ts_n};
    } else {
        pc[n++] = (mg_fmt_piece_t){"/", 1};
        pc[n++] = (mg_fmt_piece_t){ts, ts_n};
        pc[n++] = (mg_fmt_piece_t){rel, rel_n};
        if (query != NULL) {
            pc[n++] = (mg_fmt_piece_t){"?", 1};
            pc[n++] = (mg_fmt_piece_t){query, strlen(query)};
        }
    }
    return mg_fmt_mac(k, pc, n, mac, mac_n);
}

/* rel-path as lighttpd signs it: the canonical path after the prefix
 * (from its '/'), cut before the '/' that ends segment N (path_segments).
 * Every path of more than N segments shares the MAC of its first N: the
 * token covers that directory, *scope (prefix + N segments + '/'). A path
 * of exactly N segments ("/dl/v/l1", N = 2) is signed as those same bytes,
 * so its token is that directory's too: *scope is the directory and
 * *dir_name is set — the path itself lies outside it (token-out-of-scope),
 * since our scopes are directories and a token must never be reported
 * narrower than what it verifies. Fewer segments, or path_segments 0: the
 * whole path, an exact token (*scope NULL). */
static size_t signed_rel(apr_pool_t *pool, const lt_opts_t *o, const char *cpath, const char **rel,
                         const char **scope, int *dir_name)
{
    const char *r = cpath + o->prefix_n - 1, *e = r;
    size_t n = strlen(r);
    int count = o->path_segments;
    *rel = r;
    *scope = NULL;
    *dir_name = 0;
    if (count == 0)
        return n;
    do {
        e = strchr(e + 1, '/');
    } while (e != NULL && --count);
    if (e != NULL) {
        *scope = apr_pstrmemdup(pool, cpath, (apr_size_t)(e - cpath + 1));
        return (size_t)(e - r);
    }
    /* count == 1: r has exactly N slashes, so N segments unless the last
     * one is the trailing '/' of a directory */
    if (count == 1 && r[n - 1] != '/') {
        *scope = apr_pstrcat(pool, cpath, "/", NULL);
        *dir_name = 1;
    }
    return n;
}

static mg_reason_t refuse(mg_fmt_result_t *out, mg_reason_t r, const char *detail)
{
    out->detail = detail;
    return r;
}

static mg_reason_t lt_verify(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out)
{
    const lt_opts_t *o = k->priv;
    const mg_fmt_path_t *pt = rq->path;
    if (pt == NULL || pt->key != k)
        return MG_R_TOKEN_MISSING;
    if (strncmp(rq->cn->path, o->prefix, o->prefix_n) != 0) /* mg_fmt_canon holds it there */
        return refuse(out, MG_R_TOKEN_MALFORMED, "the path is not under the key's uri_prefix");
    size_t ml = mac_chars(k->alg), mb = mac_bytes(k->alg);
    const char *mac_s = pt->token, *ts = pt->token + ml + 1;
    size_t ts_n = pt->token_n - ml - 1;
    unsigned char sig[MG_FMT_SIG_MAX], mac[MG_FMT_SIG_MAX];
    if (k->alg == MG_FALG_MD5) {
        if (mg_fmt_hex_decode(mac_s, ml, sig, mb) != 0)
            return refuse(out, MG_R_TOKEN_MALFORMED,
                          "the lighttpd MD5 is not 32 lower-case hexadecimal digits");
    } else if (mg_b64url_decode(mac_s, ml, sig, sizeof(sig)) != (long)mb) {
        return refuse(out, MG_R_TOKEN_MALFORMED, "the lighttpd MAC is not base64url");
    }
    int64_t t = 0;
    if (lt_parse_ts(ts, ts_n, &t) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "the lighttpd timestamp is not lower-case hex epoch seconds without a "
                      "leading zero");
    const char *query = rq->raw_query != NULL && *rq->raw_query ? rq->raw_query : NULL;
    if (query != NULL && !o->hash_querystr)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "the link has a query that its MAC does not cover (the key's "
                      "hash_querystr is false)");
    const char *rel, *scope;
    int dir_name;
    size_t rel_n = signed_rel(rq->pool, o, rq->cn->path, &rel, &scope, &dir_name);
    size_t mac_n = 0;
    if (lt_mac(k, rel, rel_n, query, ts, ts_n, mac, &mac_n) != 0 || mac_n != mb ||
        !mg_fmt_equal(mac, sig, mb))
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
    /* lighttpd's window is |now - timestamp| <= timeout: not before
     * timestamp - timeout, expired after timestamp + timeout */
    out->exp = t + o->timeout;
    out->nbf = t - o->timeout > 0 ? t - o->timeout : 1;
    /* the directory the MAC covers; for a path of exactly path_segments
     * segments it does not hold the path, and mg_token.c refuses it */
    out->scope = scope;
    return MG_R_ALLOWED;
}

/* A link the key's path_segments makes a directory link is minted only
 * when asked for as one (c->scope, mgctl's --prefix): the admin sees what
 * it grants. A path of exactly path_segments segments has no link of its
 * own (its MAC is the directory's, which does not hold it). */
static mg_status_t lt_scope_check(apr_pool_t *pool, const lt_opts_t *o, const char *cpath,
                                  const char *scope, int dir_name, const char *want,
                                  const char **why)
{
    if (dir_name) {
        *why = apr_psprintf(pool,
                            "with the key's path_segments %d, %s would get the link of the "
                            "directory %s (lighttpd signs the same bytes), which does not hold "
                            "%s itself: sign a path inside it, with --prefix %s",
                            o->path_segments, cpath, scope, cpath, scope);
        return MG_EINVAL;
    }
    if (scope != NULL && want == NULL) {
        *why = apr_psprintf(pool,
                            "with the key's path_segments %d this link covers the whole "
                            "directory %s: give --prefix %s to mint it",
                            o->path_segments, scope, scope);
        return MG_EINVAL;
    }
    if (scope != NULL && strcmp(want, scope) != 0) {
        *why = apr_psprintf(pool,
                            "with the key's path_segments %d this link covers the directory %s, "
                            "not the prefix %s",
                            o->path_segments, scope, want);
        return MG_EINVAL;
    }
    if (scope == NULL && want != NULL) {
        *why = o->path_segments == 0
                   ? "a lighttpd link covers a directory only under a key with path_segments: "
                     "this one signs the whole path (give no --prefix)"
                   : apr_psprintf(pool,
                                  "the path has fewer than the key's path_segments (%d) segments "
                                  "after uri_prefix: its link is for exactly that path (give no "
                                  "--prefix)",
                                  o->path_segments);
        return MG_EINVAL;
    }
    return MG_OK;
}

static mg_status_t lt_sign(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why)
{
    const lt_opts_t *o = k->priv;
    const char *origin, *path, *query;
    mg_canon_t cn;
    if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, why) != MG_OK)
        return MG_EINVAL;
    if (strncmp(path, o->prefix, o->prefix_n) != 0 ||
        strncmp(cn.path, o->prefix, o->prefix_n) != 0) {
        *why = apr_psprintf(pool, "the URL's path is not under the key's uri_prefix %s", o->prefix);
        return MG_EINVAL;
    }
    if (cn.tr_form == MG_TR_FORM_PATH) {
        *why = "a lighttpd link cannot carry a 'tr:' segment";
        return MG_EINVAL;
    }
    if (query != NULL && *query && !o->hash_querystr) {
        *why = "the key does not sign the query (hash_querystr: false): give the URL without one";
        return MG_EINVAL;
    }
    if (c->ip != NULL) {
        *why = "lighttpd links carry no address binding";
        return MG_EINVAL;
    }
    /* the link holds when it was made; the window ends timeout later */
    int64_t t = c->exp - o->timeout;
    if (c->exp <= 0 || t < 1 || t > INT64_C(9999999999)) {
        *why = "the expiry must be after the key's timeout and at most 9999999999 (a lighttpd link "
               "is valid until its timestamp + timeout)";
        return MG_EINVAL;
    }
    char ts[20], text[MG_FMT_SIG_MAX * 2 + 1];
    snprintf(ts, sizeof(ts), "%llx", (unsigned long long)t);
    const char *rel, *scope;
    int dir_name;
    size_t rel_n = signed_rel(pool, o, cn.path, &rel, &scope, &dir_name);
    if (lt_scope_check(pool, o, cn.path, scope, dir_name, c->scope, why) != MG_OK)
        return MG_EINVAL;
    unsigned char mac[MG_FMT_SIG_MAX];
    size_t mac_n = 0;
    if (lt_mac(k, rel, rel_n, query && *query ? query : NULL, ts, strlen(ts), mac, &mac_n) != 0) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    if (k->alg == MG_FALG_MD5)
        mg_fmt_hex_encode(mac, mac_n, text);
    else
        mg_b64url_encode(mac, mac_n, text);
    *out = apr_pstrcat(pool, origin, o->prefix, text, "/", ts, "/", path + o->prefix_n,
                       query ? "?" : "", query ? query : "", NULL);
    return MG_OK;
}

const mg_fmt_t mg_fmt_lighttpd = {
    .name = "lighttpd-secdownload",
    .caps = MG_FMT_CAP_SCOPE, /* path_segments: the key decides the directory */
    .algs = MG_FALG_MD5 | MG_FALG_HMAC_SHA1 | MG_FALG_HMAC_SHA256,
    .default_alg = MG_FALG_MD5,
    .secret = MG_SECRET_TEXT,
    .options = lt_options,
    .key_init = lt_key_init,
    .params = lt_params,
    .verify = lt_verify,
    .sign = lt_sign,
    .path_split = lt_path_split,
    .path_prefix = lt_path_prefix,
};
