/* mg_mod_hls.c — HLS playlists carry the viewer's prefix token onwards.
 *
 * A player that fetched index.m3u8?mg_...&mg_scope=/videos/l1/ would request
 * the variants and segments without the token. With `MediaGuardHLSRewrite On`
 * an output filter appends the viewer's mg_* parameters, byte for byte and in
 * the order received, to every URI of the playlist that resolves to a path
 * inside the token's scope on the same site. Everything else stays
 * byte-identical; on any doubt the playlist passes through unchanged, because
 * a wrong rewrite could hand the token to another host. The rules are
 * documented in docs/directives.md ("MediaGuardHLSRewrite"). This file
 * decides which responses are playlists and collects them; the text
 * rewriting itself is lib/mg_hls.c (unit-tested and fuzzed without httpd).
 *
 * The filter only decides *where* to append; whether a segment request is
 * allowed is decided again, as always, when the player asks for it.
 */
/* before any APR header: with offsetof defined, APR_OFFSETOF (and so the
 * bucket-ring macros) uses it instead of a null-pointer expression that
 * UBSan reports */
#include <stddef.h>
#include <string.h>

#include "mg_ascii.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <apr_strings.h>

#include "mg_canon.h"
#include "mg_hls.h"
#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

#define MG_HLS_FILTER "MEDIA_GUARD_HLS"

/* Registered once in mg_mod_hls_register: adding by handle skips the lookup
 * of the filter's name on every request. */
static ap_filter_rec_t *hls_filter_handle;

typedef struct hls_ctx {
    request_rec *q;             /* the request whose token grant we pass on */
    const mg_mod_memo_t *grant; /* q's decision that granted it */
    int keep_out_only;          /* not rewritten: only keep a playlist out of mod_cache */
    int prepared;               /* the fields below are filled */
    apr_bucket_brigade *held;   /* the playlist so far (NULL before the first call) */
    apr_off_t len;
    mg_hls_ctx_t h; /* what the rewriter (lib/mg_hls.c) needs */
} hls_ctx_t;

const char *mg_mod_cmd_hls_rewrite(cmd_parms *cmd, void *dconf, int flag)
{
    mg_mod_dir_conf_t *dc = dconf;
    (void)cmd;
    dc->hls_rewrite = flag ? 1 : 0;
    return NULL;
}

/* The request that holds a token grant for r: r itself, or the request an
 * internal redirect with the same per-dir config came from (authz is skipped
 * then, see mg_mod_headers.c); *grant the decision. */
static request_rec *token_granted_request(request_rec *r, const mg_mod_memo_t **grant)
{
    request_rec *q;
    for (q = r; q != NULL;
         q = (q->prev && q->prev->per_dir_config == q->per_dir_config) ? q->prev : NULL) {
        const mg_mod_req_t *rq = mg_mod_req_peek(q);
        const mg_mod_memo_t *m;
        if (rq == NULL)
            continue;
        for (m = rq->memos; m != NULL; m = m->next) {
            if (m->d.outcome == MG_OUTCOME_ALLOW && m->mapped &&
                m->d.reason == MG_R_ALLOWED_BY_TOKEN &&
                (m->user == r->user || (m->user && r->user && strcmp(m->user, r->user) == 0))) {
                *grant = m;
                return q;
            }
        }
        if (rq->memos)
            return NULL; /* decided here, not by a token */
    }
    return NULL;
}

/* A token parameter's name: mg_*, or exactly one of a foreign key's. */
static int is_token_name(const char *s, size_t n, const char *const *names)
{
    if (names == NULL)
        return n >= 3 && strncmp(s, "mg_", 3) == 0;
    for (; *names != NULL; names++)
        if (strlen(*names) == n && memcmp(s, *names, n) == 0)
            return 1;
    return 0;
}

/* The raw token pairs of the query (mg_*, or the foreign key's `names`), in
 * order. NULL when there are none or when the raw text and the decoded
 * query disagree about which pairs are token parameters (an encoded name
 * such as mg%5Fexp): the verifier reads decoded names, and we would not
 * copy exactly what it checked. */
static const char *raw_token_params(apr_pool_t *p, const char *args,
                                    const apr_array_header_t *params, const char *const *names)
{
    const char *s;
    char *out = NULL;
    int raw = 0, decoded = 0, i;

    for (i = 0; i < params->nelts; i++) {
        const char *nm = APR_ARRAY_IDX(params, i, mg_qparam_t).name;
        decoded += is_token_name(nm, strlen(nm), names);
    }
    for (s = args; *s;) {
        size_t n = strcspn(s, "&");
        if (n > 0 && is_token_name(s, strcspn(s, "=&"), names)) {
            const char *pair = apr_pstrmemdup(p, s, n);
            out = out ? apr_pstrcat(p, out, "&", pair, NULL) : (char *)pair;
            raw++;
        }
        s += n;
        if (*s == '&')
            s++;
    }
    return (raw > 0 && raw == decoded) ? out : NULL;
}

static int is_playlist_type(const char *ct)
{
    static const char *const types[] = {"application/vnd.apple.mpegurl", "audio/mpegurl",
                                        "application/x-mpegurl", "audio/x-mpegurl"};
    size_t i, n;
    if (ct == NULL)
        return 0;
    n = strcspn(ct, "; \t");
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (n == strlen(types[i]) && apr_cstr_casecmpn(ct, types[i], n) == 0)
            return 1;
    return 0;
}

static int has_m3u8_ext(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n >= 5 && apr_cstr_casecmp(path + n - 5, ".m3u8") == 0;
}

static int not_rewritten(request_rec *r, const char *reason)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  MG_LOGNO(00401) "media-guard HLS: playlist not rewritten: %s", reason);
    return -1;
}

/* The host absolute URIs may name: the Host the client sent, but only when
 * it is one of the virtual host's own names (ServerName, ServerAlias) and
 * any port it carries is the connection's, the server's, or, where
 * ServerName states a scheme, that scheme's default port (443 under
 * `ServerName https://NAME` behind a proxy that terminates TLS and sends
 * `Host: NAME:443`: the same origin as NAME without a port). Under
 * UseCanonicalName Off (the default) httpd takes any Host, an unknown one is
 * served by the first virtual host, and ap_get_server_port() takes the
 * Host's port (vhost.c keeps it in r->parsed_uri): a client that forged it
 * would choose which hosts a playlist names get the token. NULL (no
 * absolute URI gets it, relative ones still do) for any other Host.
 * X-Forwarded-Host and Forwarded are never read. */
static const char *own_host(const request_rec *r)
{
    const server_rec *s = r->server;
    const char *h = r->hostname;
    int i;

    if (h == NULL || *h == '\0')
        return NULL;
    if (r->parsed_uri.port_str != NULL && r->parsed_uri.port != r->connection->local_addr->port &&
        (s->port == 0 || r->parsed_uri.port != s->port) &&
        (s->server_scheme == NULL || r->parsed_uri.port != ap_default_port(r)))
        return NULL;
    if (s->server_hostname != NULL && apr_cstr_casecmp(h, s->server_hostname) == 0)
        return h;
    for (i = 0; s->names != NULL && i < s->names->nelts; i++)
        if (apr_cstr_casecmp(h, APR_ARRAY_IDX(s->names, i, const char *)) == 0)
            return h;
    for (i = 0; s->wild_names != NULL && i < s->wild_names->nelts; i++)
        if (mg_ascii_casematch(h, APR_ARRAY_IDX(s->wild_names, i, const char *)))
            return h;
    return NULL;
}

/* Fill ctx from the granting request q: the token parameters, the scope
 * and the base URL. -1 (with a debug line) when the playlist must stay as it
 * is. Runs once per playlist, not per segment. */
static int prepare(request_rec *r, hls_ctx_t *ctx)
{
    request_rec *q = ctx->q, *first;
    const mg_decision_t *d = &ctx->grant->d;
    apr_array_header_t *params;
    const char *why = NULL;
    size_t n;

    if (d->token_format != NULL && strcmp(d->token_format, "mg-v1") != 0) {
        /* a foreign format's prefix token: its key's parameter names */
        ctx->h.names = mg_policy_key_params(ctx->grant->mp->policy, d->token_kid);
        if (ctx->h.names == NULL)
            return not_rewritten(r, "the granting key is not in the policy");
    }
    if (mg_query_parse(r->pool, q->args, &params, &why) != 0 ||
        (ctx->h.params = raw_token_params(r->pool, q->args, params, ctx->h.names)) == NULL)
        return not_rewritten(r, ctx->h.names
                                    ? "the query's token parameters could not be copied exactly"
                                    : "the query's mg_* parameters could not be copied exactly");
    ctx->h.scope = ctx->h.names ? d->token_scope : mg_query_get(params, "mg_scope", NULL);
    if (ctx->h.scope == NULL)
        return not_rewritten(
            r, ctx->h.names
                   ? "the token is for this exact path (no prefix), it cannot cover segments"
                   : "the token is for this exact path (no mg_scope), it cannot cover segments");
    /* The base for relative URIs is the URL the client asked for; the token
     * was checked against q's target. Both must be the same origin-form
     * target, or we cannot be sure what the player resolves against. */
    for (first = r; first->prev != NULL; first = first->prev)
        ;
    if (q->unparsed_uri == NULL || q->unparsed_uri[0] != '/' || first->unparsed_uri == NULL ||
        strcmp(q->unparsed_uri, first->unparsed_uri) != 0)
        return not_rewritten(r,
                             "the request target was rewritten internally or is not origin-form");
    n = strcspn(q->unparsed_uri, "?#");
    while (n > 0 && q->unparsed_uri[n - 1] != '/')
        n--;
    ctx->h.base_dir = apr_pstrmemdup(r->pool, q->unparsed_uri, n);
    ctx->h.scheme = ap_http_scheme(r);
    ctx->h.host = own_host(r);
    if (ctx->h.host == NULL && r->hostname != NULL)
        ap_log_rerror(
            APLOG_MARK, APLOG_DEBUG, 0, r,
            MG_LOGNO(00406) "media-guard HLS: Host %s (port %s) is not a name and port of "
                            "this virtual host (ServerName, ServerAlias, the "
                            "connection's port): no absolute URI gets the token",
            ap_escape_logitem(r->pool, r->hostname),
            r->parsed_uri.port_str ? r->parsed_uri.port_str : "none");
    ctx->h.port = ap_get_server_port(r);
    return 0;
}

/* Whether r is a file that httpd serves itself with a media type that no
 * playlist has: the default handler sends r->content_type as mod_mime set
 * it before this hook, so the filter would only remove itself on the first
 * brigade. Segments are most of an HLS session's requests. A handler of any
 * kind (proxy, CGI, a script, a handler chosen by content type such as
 * application/x-httpd-php) may still produce a playlist: those keep the
 * filter, which decides on the response's own Content-Type. */
static int static_media_file(const request_rec *r)
{
    const char *ct = r->content_type;

    if (r->handler != NULL || r->finfo.filetype != APR_REG || ct == NULL || is_playlist_type(ct))
        return 0;
    return apr_cstr_casecmpn(ct, "video/", 6) == 0 || apr_cstr_casecmpn(ct, "audio/", 6) == 0 ||
           apr_cstr_casecmpn(ct, "image/", 6) == 0;
}

void mg_mod_hls_insert_filter(request_rec *r)
{
    const mg_mod_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &media_guard_module);
    request_rec *q;
    hls_ctx_t *ctx;
    int m3u8;

    if (dc == NULL || dc->hls_rewrite != 1 || r->main != NULL || r->method_number != M_GET)
        return;
    m3u8 = has_m3u8_ext(r->uri);
    /* Whoever it is for, a playlist here is never stored by mod_cache:
     * rewritten, it holds this viewer's token; as it came, a cache hit would
     * hand it to a query-token viewer without the rewrite. */
    if (m3u8)
        mg_mod_cache_keep_out(r, "an HLS playlist under MediaGuardHLSRewrite On");
    if (!m3u8 && static_media_file(r))
        return; /* a segment, key or image: no playlist, no filter */
    const mg_mod_memo_t *grant = NULL;
    q = token_granted_request(r, &grant);
    /* a token in the query (a signed cookie covers segments by itself, and
     * so does a token in the path: relative URIs resolve under it) */
    if (q == NULL || q->args == NULL || grant->d.token_from == NULL ||
        strcmp(grant->d.token_from, "query") != 0) {
        /* Not rewritten for this request. A playlist known by its
         * Content-Type only must not be stored by mod_cache either: a hit
         * would hand it, as it came, to a viewer whose query link needs the
         * rewrite. The filter looks at the response and leaves. */
        if (!m3u8 && mg_mod_cache_loaded()) {
            ctx = apr_pcalloc(r->pool, sizeof(*ctx));
            ctx->keep_out_only = 1;
            ap_add_output_filter_handle(hls_filter_handle, ctx, r, r->connection);
        }
        return;
    }
    ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->q = q;
    ctx->grant = grant;
    if (m3u8) {
        if (prepare(r, ctx) != 0)
            return;
        ctx->prepared = 1;
        /* A slice of a playlist cannot be rewritten, and slices of the
         * original and of the rewritten text must never be mixed: playlists
         * are small, so the whole rewritten playlist is sent (RFC 9110 lets a
         * server ignore Range). Done before the handler, so that mod_proxy
         * does not forward the Range either. */
        apr_table_unset(r->headers_in, "Range");
        apr_table_unset(r->headers_in, "If-Range");
    }
    /* Other URLs may still turn out to be playlists by their Content-Type:
     * the filter decides on its first call, and prepares only then. */
    ap_add_output_filter_handle(hls_filter_handle, ctx, r, r->connection);
}

/* ------------------------------------------------------------------ */
/* the filter                                                           */
/* ------------------------------------------------------------------ */

static apr_status_t pass_unchanged(ap_filter_t *f, apr_bucket_brigade *bb)
{
    hls_ctx_t *ctx = f->ctx;
    ap_remove_output_filter(f);
    if (ctx->held != NULL && !APR_BRIGADE_EMPTY(ctx->held)) {
        APR_BRIGADE_PREPEND(bb, ctx->held);
    }
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t hls_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    hls_ctx_t *ctx = f->ctx;
    apr_bucket *e, *eos = NULL;
    char *buf, *out;
    apr_size_t len, out_len;
    const char *why = NULL;
    apr_status_t rv;

    if (ctx == NULL)
        return mg_mod_filter_named_by_hand(f, bb);
    if (ctx->held == NULL) {
        const char *ce = apr_table_get(r->headers_out, "Content-Encoding");
        int playlist = has_m3u8_ext(r->uri) || is_playlist_type(r->content_type);
        /* known by its Content-Type only: kept out before mod_cache's save
         * filter, which comes after this one, sees anything. (A CACHE filter
         * placed by hand comes before: what it stores is the origin's text,
         * and its hits come through here to be rewritten like a miss.) */
        if (playlist)
            mg_mod_cache_keep_out(r, "an HLS playlist under MediaGuardHLSRewrite On");
        if (r->status != HTTP_OK || !playlist || ctx->keep_out_only)
            return pass_unchanged(f, bb);
        if (ce != NULL && apr_cstr_casecmp(ce, "identity") != 0) {
            ap_log_rerror(
                APLOG_MARK, APLOG_DEBUG, 0, r,
                MG_LOGNO(00402) "media-guard HLS: playlist not rewritten: it is content-encoded");
            return pass_unchanged(f, bb);
        }
        if (!ctx->prepared && prepare(r, ctx) != 0)
            return pass_unchanged(f, bb);
        ctx->prepared = 1;
        ctx->held = apr_brigade_create(r->pool, f->c->bucket_alloc);
    }

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_EOS(e)) {
            eos = e;
            break;
        }
        if (APR_BUCKET_IS_FLUSH(e))
            continue; /* nothing leaves before the end anyway */
        if (APR_BUCKET_IS_METADATA(e)) {
            /* an error bucket or the like: this is no playlist to touch */
            return pass_unchanged(f, bb);
        }
        if (e->length == (apr_size_t)-1) {
            const char *d;
            apr_size_t dn;
            rv = apr_bucket_read(e, &d, &dn, APR_BLOCK_READ);
            if (rv != APR_SUCCESS)
                return rv;
        }
        ctx->len += (apr_off_t)e->length;
        if (ctx->len > MG_HLS_MAX_BODY) {
            ap_log_rerror(
                APLOG_MARK, APLOG_WARNING, 0, r,
                MG_LOGNO(00403) "media-guard HLS: playlist not rewritten: larger than %d bytes",
                MG_HLS_MAX_BODY);
            return pass_unchanged(f, bb);
        }
    }
    if (eos == NULL) {
        /* keep it (file buckets stay file buckets until the end) */
        return ap_save_brigade(f, &ctx->held, &bb, r->pool);
    }

    /* bb = [data..., EOS, rest...]: hold the data, keep EOS and the rest */
    {
        apr_bucket_brigade *tail = apr_brigade_split_ex(bb, eos, NULL);
        rv = ap_save_brigade(f, &ctx->held, &bb, r->pool);
        if (rv != APR_SUCCESS)
            return rv;
        APR_BRIGADE_CONCAT(bb, tail);
    }
    for (e = APR_BRIGADE_FIRST(ctx->held); e != APR_BRIGADE_SENTINEL(ctx->held);) {
        apr_bucket *next = APR_BUCKET_NEXT(e);
        if (APR_BUCKET_IS_FLUSH(e))
            apr_bucket_delete(e);
        e = next;
    }
    rv = apr_brigade_pflatten(ctx->held, &buf, &len, r->pool);
    if (rv != APR_SUCCESS)
        return rv;

    if (len == 0 && r->header_only) {
        /* HEAD through a handler that sends no body: the length of the
         * playlist GET would send is not known. */
        apr_table_unset(r->headers_out, "Content-Length");
        apr_table_unset(r->headers_out, "ETag");
        apr_table_unset(r->headers_out, "Last-Modified");
        return pass_unchanged(f, bb);
    }
    if (mg_hls_rewrite(&ctx->h, r->pool, buf, len, &out, &out_len, &why) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      MG_LOGNO(00404) "media-guard HLS: not rewritten: %s", why);
        return pass_unchanged(f, bb);
    }
    apr_brigade_cleanup(ctx->held);
    ap_remove_output_filter(f);
    /* The length changes; the content-length filter sets the new one. Both
     * validators were those of the unrewritten bytes: a playlist known only
     * by its Content-Type keeps the client's Range, so with the origin's
     * Last-Modified a client resuming by If-Range would get a 206 slice of
     * the stored text and append it to its rewritten prefix. */
    apr_table_unset(r->headers_out, "Content-Length");
    apr_table_unset(r->headers_out, "ETag");
    apr_table_unset(r->headers_out, "Last-Modified");
    e = apr_bucket_pool_create(out, out_len, r->pool, f->c->bucket_alloc);
    APR_BRIGADE_INSERT_HEAD(bb, e);
    ap_log_rerror(
        APLOG_MARK, APLOG_DEBUG, 0, r,
        MG_LOGNO(00405) "media-guard HLS: playlist rewritten for scope %s (%" APR_SIZE_T_FMT
                        " -> %" APR_SIZE_T_FMT " bytes)",
        ctx->h.scope, len, out_len);
    return ap_pass_brigade(f->next, bb);
}

void mg_mod_hls_register(apr_pool_t *p)
{
    (void)p;
    hls_filter_handle =
        ap_register_output_filter(MG_HLS_FILTER, hls_filter, NULL, AP_FTYPE_RESOURCE);
    ap_hook_insert_filter(mg_mod_hls_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
}
