/* mg_mod_hls.c — HLS playlists carry the viewer's prefix token onwards.
 *
 * A player that fetched index.m3u8?mg_...&mg_scope=/videos/l1/ would request
 * the variants and segments without the token. With `MediaGuardHLSRewrite On`
 * an output filter appends the viewer's mg_* parameters, byte for byte and in
 * the order received, to every URI of the playlist that resolves to a path
 * inside the token's scope on the same site. Everything else stays
 * byte-identical; on any doubt the playlist passes through unchanged, because
 * a wrong rewrite could hand the token to another host. The rules are
 * documented in docs/directives.md ("MediaGuardHLSRewrite").
 *
 * The filter only decides *where* to append; whether a segment request is
 * allowed is decided again, as always, when the player asks for it.
 */
/* before any APR header: with offsetof defined, APR_OFFSETOF (and so the
 * bucket-ring macros) uses it instead of a null-pointer expression that
 * UBSan reports */
#include <stddef.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <apr_lib.h>
#include <apr_strings.h>

#include "mg_canon.h"
#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

#define MG_HLS_FILTER "MEDIA_GUARD_HLS"
/* Playlists are small (a 2-hour VOD rendition with 2 s segments is ~200 KiB);
 * anything larger is passed through rather than held in memory. */
#define MG_HLS_MAX_BODY (4 * 1024 * 1024)

typedef struct hls_ctx {
    request_rec *q;           /* the request whose token grant we pass on */
    int prepared;             /* the fields below are filled */
    apr_bucket_brigade *held; /* the playlist so far (NULL before the first call) */
    apr_off_t len;
    const char *params;   /* the viewer's raw mg_* pairs joined by '&' */
    const char *scope;    /* the token's scope, decoded canonical directory path */
    const char *base_dir; /* raw path of the playlist up to its last '/' */
    const char *scheme;   /* the request's scheme, host and port: the only */
    const char *host;     /* origin absolute URIs may name */
    apr_port_t port;
} hls_ctx_t;

const char *mg_mod_cmd_hls_rewrite(cmd_parms *cmd, void *dconf, int flag)
{
    mg_mod_dir_conf_t *dc = dconf;
    (void)cmd;
    dc->hls_rewrite = flag ? 1 : 0;
    return NULL;
}

static int has_mg_prefix(const char *s)
{
    return strncmp(s, "mg_", 3) == 0;
}

/* The request that holds a token grant for r: r itself, or the request an
 * internal redirect with the same per-dir config came from (authz is skipped
 * then, see mg_mod_headers.c). */
static request_rec *token_granted_request(request_rec *r)
{
    request_rec *q;
    for (q = r; q != NULL;
         q = (q->prev && q->prev->per_dir_config == q->per_dir_config) ? q->prev : NULL) {
        const mg_mod_req_t *rq = mg_mod_req_get(q, 0);
        const mg_mod_memo_t *m;
        if (rq == NULL)
            continue;
        for (m = rq->memos; m != NULL; m = m->next) {
            if (m->d.outcome == MG_OUTCOME_ALLOW && m->mapped &&
                m->d.reason == MG_R_ALLOWED_BY_TOKEN &&
                (m->user == r->user || (m->user && r->user && strcmp(m->user, r->user) == 0)))
                return q;
        }
        if (rq->memos)
            return NULL; /* decided here, not by a token */
    }
    return NULL;
}

/* The raw "mg_" pairs of the query, in order. NULL when there are none or
 * when the raw text and the decoded query disagree about which pairs are
 * token parameters (an encoded name such as mg%5Fexp): the verifier reads
 * decoded names, and we would not copy exactly what it checked. */
static const char *raw_token_params(apr_pool_t *p, const char *args,
                                    const apr_array_header_t *params)
{
    const char *s;
    char *out = NULL;
    int raw = 0, decoded = 0, i;

    for (i = 0; i < params->nelts; i++)
        decoded += has_mg_prefix(APR_ARRAY_IDX(params, i, mg_qparam_t).name);
    for (s = args; *s;) {
        size_t n = strcspn(s, "&");
        if (n > 0 && strncmp(s, "mg_", 3) == 0) {
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
        if (n == strlen(types[i]) && strncasecmp(ct, types[i], n) == 0)
            return 1;
    return 0;
}

static int has_m3u8_ext(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n >= 5 && strcasecmp(path + n - 5, ".m3u8") == 0;
}

/* Fill ctx from the granting request q: the token parameters, the scope
 * and the base URL. -1 (with a debug line) when the playlist must stay as it
 * is. Runs once per playlist, not per segment. */
static int prepare(request_rec *r, hls_ctx_t *ctx)
{
    request_rec *q = ctx->q, *first;
    apr_array_header_t *params;
    const char *why = NULL, *reason = NULL;
    size_t n;

    if (mg_query_parse(r->pool, q->args, &params, &why) != 0 ||
        (ctx->params = raw_token_params(r->pool, q->args, params)) == NULL) {
        reason = "the query's mg_* parameters could not be copied exactly";
    } else if ((ctx->scope = mg_query_get(params, "mg_scope", NULL)) == NULL) {
        reason = "the token is for this exact path (no mg_scope), it cannot cover segments";
    } else {
        /* The base for relative URIs is the URL the client asked for; the
         * token was checked against q's target. Both must be the same
         * origin-form target, or we cannot be sure what the player resolves
         * against. */
        for (first = r; first->prev != NULL; first = first->prev)
            ;
        if (q->unparsed_uri == NULL || q->unparsed_uri[0] != '/' || first->unparsed_uri == NULL ||
            strcmp(q->unparsed_uri, first->unparsed_uri) != 0)
            reason = "the request target was rewritten internally or is not origin-form";
    }
    if (reason != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "media-guard HLS: playlist not rewritten: %s",
                      reason);
        return -1;
    }
    n = strcspn(q->unparsed_uri, "?#");
    while (n > 0 && q->unparsed_uri[n - 1] != '/')
        n--;
    ctx->base_dir = apr_pstrmemdup(r->pool, q->unparsed_uri, n);
    ctx->scheme = ap_http_scheme(r);
    ctx->host = r->hostname;
    ctx->port = ap_get_server_port(r);
    return 0;
}

void mg_mod_hls_insert_filter(request_rec *r)
{
    const mg_mod_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &media_guard_module);
    request_rec *q;
    hls_ctx_t *ctx;

    if (dc == NULL || dc->hls_rewrite != 1 || r->main != NULL || r->method_number != M_GET)
        return;
    q = token_granted_request(r);
    /* a token in the query (a signed cookie covers segments by itself) */
    if (q == NULL || q->args == NULL || strstr(q->args, "mg_") == NULL)
        return;
    ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->q = q;
    if (has_m3u8_ext(r->uri)) {
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
    ap_add_output_filter(MG_HLS_FILTER, ctx, r, r->connection);
}

/* ------------------------------------------------------------------ */
/* rewriting                                                            */
/* ------------------------------------------------------------------ */

/* scheme ":" at the start of a URI reference (RFC 3986 3.1), or 0 */
static size_t scheme_len(const char *u, size_t n)
{
    size_t i;
    if (n == 0 || !apr_isalpha(u[0]))
        return 0;
    for (i = 1; i < n && (apr_isalnum(u[i]) || u[i] == '+' || u[i] == '-' || u[i] == '.'); i++)
        ;
    return (i < n && u[i] == ':') ? i : 0;
}

/* "//authority/..." of the request's own origin: returns the offset of the
 * path, or 0. No userinfo, no IPv6 literal (never guessed at). */
static size_t own_authority(const hls_ctx_t *ctx, const char *u, size_t n, const char *scheme)
{
    size_t a = 2, e, h;
    apr_port_t port;

    if (n < 3 || u[0] != '/' || u[1] != '/')
        return 0;
    for (e = a; e < n && u[e] != '/' && u[e] != '?'; e++)
        if (u[e] == '@' || u[e] == '[' || u[e] == '%')
            return 0;
    if (e >= n || u[e] != '/')
        return 0;
    for (h = a; h < e && u[h] != ':'; h++)
        ;
    if (ctx->host == NULL || h - a != strlen(ctx->host) ||
        strncasecmp(u + a, ctx->host, h - a) != 0)
        return 0;
    if (h < e) {
        size_t i;
        unsigned long v = 0;
        if (h + 1 == e || e - h - 1 > 5)
            return 0;
        for (i = h + 1; i < e; i++) {
            if (!apr_isdigit(u[i]))
                return 0;
            v = v * 10 + (unsigned long)(u[i] - '0');
        }
        if (v > 65535)
            return 0; /* no wrapping 65616 into 80 */
        port = (apr_port_t)v;
    } else {
        port = strcasecmp(scheme, "https") == 0 ? 443 : 80;
    }
    return (port == ctx->port && strcasecmp(scheme, ctx->scheme) == 0) ? e : 0;
}

/* The URI u[0..n) with the token appended, or NULL to leave it as it is. */
static const char *rewrite_uri(const hls_ctx_t *ctx, apr_pool_t *p, const char *u, size_t n)
{
    const char *path, *query = NULL, *why = NULL;
    size_t i, sl, off = 0, q;
    mg_canon_t c;

    if (n == 0 || n > MG_MAX_PATH + MG_MAX_QUERY)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char b = (unsigned char)u[i];
        if (b <= 0x20 || b == 0x7f || b == '#' || b == '"' || b == '\\')
            return NULL; /* not a URI we can be sure about (fragment, spaces) */
        /* "{$name}" is variable substitution (RFC 8216bis 4.3): the player
         * replaces it before resolving, so the URI may name any host. The
         * whole playlist already passes through when it has #EXT-X-DEFINE;
         * this also covers variables a parent playlist defines. */
        if (b == '{' && i + 1 < n && u[i + 1] == '$')
            return NULL;
    }
    sl = scheme_len(u, n);
    if (sl > 0) {
        const char *scheme = apr_pstrmemdup(p, u, sl);
        if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
            return NULL; /* data:, skd:, ... */
        off = own_authority(ctx, u + sl + 1, n - sl - 1, scheme);
        if (off == 0)
            return NULL; /* another host, port or scheme: never */
        off += sl + 1;
    } else if (n >= 2 && u[0] == '/' && u[1] == '/') {
        off = own_authority(ctx, u, n, ctx->scheme);
        if (off == 0)
            return NULL;
    } else if (u[0] == '?') {
        return NULL;
    }
    for (q = off; q < n && u[q] != '?'; q++)
        ;
    if (off > 0 || u[0] == '/')
        path = apr_pstrmemdup(p, u + off, q - off);
    else
        path = apr_pstrcat(p, ctx->base_dir, apr_pstrmemdup(p, u, q), NULL);
    if (q < n)
        query = apr_pstrmemdup(p, u + q + 1, n - q - 1);
    /* RFC 3986 resolution keeps empty segments where our canonical form drops
     * them ("/a//../b"): the two could disagree about the path. */
    if (strstr(path, "//") != NULL)
        return NULL;
    if (mg_canon_path(p, path, query, &c, &why) != 0)
        return NULL;
    for (i = 0; i < (size_t)c.params->nelts; i++)
        if (has_mg_prefix(APR_ARRAY_IDX(c.params, i, mg_qparam_t).name))
            return NULL; /* already carries a token: not ours to touch */
    if (strncmp(c.path, ctx->scope, strlen(ctx->scope)) != 0)
        return NULL;
    if (query == NULL)
        return apr_pstrcat(p, apr_pstrmemdup(p, u, n), "?", ctx->params, NULL);
    if (*query == '\0' || u[n - 1] == '&')
        return apr_pstrcat(p, apr_pstrmemdup(p, u, n), ctx->params, NULL);
    return apr_pstrcat(p, apr_pstrmemdup(p, u, n), "&", ctx->params, NULL);
}

/* Tags whose URI attribute names a resource of the presentation. */
static int uri_tag(const char *line, size_t n, size_t *attrs)
{
    static const char *const tags[] = {
        "#EXT-X-KEY:",   "#EXT-X-SESSION-KEY:",        "#EXT-X-MAP:",
        "#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:", "#EXT-X-PRELOAD-HINT:",
        "#EXT-X-PART:",  "#EXT-X-RENDITION-REPORT:",   "#EXT-X-SESSION-DATA:"};
    size_t i, l;
    for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        l = strlen(tags[i]);
        if (n >= l && memcmp(line, tags[i], l) == 0) {
            *attrs = l;
            return 1;
        }
    }
    return 0;
}

/* Output buffer sized once: each line gains at most one "?"/"&" + params. */
typedef struct outbuf {
    char *b;
    apr_size_t n, cap;
    int overflow; /* cannot happen by construction; if it did, pass through */
} outbuf_t;

static void put(outbuf_t *o, const char *s, apr_size_t n)
{
    if (o->overflow || n > o->cap - o->n) {
        o->overflow = 1;
        return;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

/* Append the line s[0..n) (without its line ending) to out, rewritten. */
static void rewrite_line(const hls_ctx_t *ctx, apr_pool_t *p, outbuf_t *out, const char *s,
                         size_t n)
{
    size_t a, i, start = 0;
    const char *nu;

    if (n == 0) {
        return;
    } else if (s[0] != '#') {
        nu = rewrite_uri(ctx, p, s, n);
        if (nu != NULL)
            s = nu, n = strlen(nu);
        put(out, s, n);
        return;
    } else if (!uri_tag(s, n, &a)) {
        put(out, s, n);
        return;
    }
    /* attribute-list (RFC 8216 4.2): NAME=value pairs separated by ',';
     * quoted-string values contain no '"' and no line break. Anything that
     * does not parse leaves the line as it is. */
    const char *v = NULL;
    size_t vn = 0;
    for (i = a; i < n;) {
        size_t ns = i;
        while (i < n && (apr_isupper(s[i]) || apr_isdigit(s[i]) || s[i] == '-'))
            i++;
        if (i == ns || i >= n || s[i] != '=')
            goto verbatim;
        int is_uri = (i - ns == 3 && memcmp(s + ns, "URI", 3) == 0);
        i++;
        if (i < n && s[i] == '"') {
            size_t vs = ++i;
            while (i < n && s[i] != '"')
                i++;
            if (i >= n)
                goto verbatim;
            if (is_uri) {
                if (v != NULL)
                    goto verbatim; /* two URI attributes: which one counts? */
                v = s + vs, vn = i - vs;
            }
            i++;
        } else {
            if (is_uri)
                goto verbatim; /* URI is always a quoted-string */
            while (i < n && s[i] != ',')
                i++;
        }
        if (i < n) {
            if (s[i] != ',')
                goto verbatim;
            i++;
        }
    }
    if (v != NULL && (nu = rewrite_uri(ctx, p, v, vn)) != NULL) {
        size_t pre = (size_t)(v - s), nl = strlen(nu);
        put(out, s, pre);
        put(out, nu, nl);
        start = pre + vn;
    }
verbatim:
    put(out, s + start, n - start);
}

/* Does the line at s start an #EXT-X-DEFINE tag? Tag names are
 * case-sensitive and start the line (RFC 8216 4.1); other cases and leading
 * blanks count too, because a lenient player might accept them. */
static int is_define_tag(const char *s, apr_size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    return n >= 13 && strncasecmp(s, "#EXT-X-DEFINE", 13) == 0;
}

/* The rewritten playlist in *out, or -1 (and *why) to leave it as it is: not
 * a playlist (RFC 8216: the first line is #EXTM3U), a lone CR (is it a line
 * break? players differ), or variables (#EXT-X-DEFINE: the player substitutes
 * {$name} in URIs before resolving them, so the filter cannot know which
 * host a URI names). Line endings are copied as they are. */
static int rewrite_playlist(const hls_ctx_t *ctx, apr_pool_t *p, const char *buf, apr_size_t len,
                            outbuf_t *out, const char **why)
{
    apr_size_t i, skip = 0, lines = 1;
    apr_pool_t *lp;

    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        skip = 3;
    if (len - skip < 7 || memcmp(buf + skip, "#EXTM3U", 7) != 0) {
        *why = "no #EXTM3U first line";
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (buf[i] == '\r' && (i + 1 == len || buf[i + 1] != '\n')) {
            *why = "a lone CR";
            return -1;
        }
        if (buf[i] == '\n') {
            lines++;
            if (is_define_tag(buf + i + 1, len - i - 1)) {
                *why = "it defines variables (#EXT-X-DEFINE)";
                return -1;
            }
        }
    }
    out->cap = len + lines * (strlen(ctx->params) + 1);
    out->b = apr_palloc(p, out->cap);
    out->n = 0;
    out->overflow = 0;
    /* each URI costs a canonicalisation; its memory is freed line by line,
     * so a playlist near the bound does not grow the request pool by tens
     * of MB (put() copies what is kept) */
    if (apr_pool_create(&lp, p) != APR_SUCCESS)
        return -1;
    put(out, buf, skip);
    for (i = skip; i < len;) {
        apr_size_t e = i, n;
        while (e < len && buf[e] != '\n')
            e++;
        n = e - i;
        if (n > 0 && buf[i + n - 1] == '\r')
            n--;
        rewrite_line(ctx, lp, out, buf + i, n);
        apr_pool_clear(lp);
        put(out, buf + i + n, e - i - n); /* the CR, if any */
        if (e < len)
            put(out, "\n", 1);
        i = e + 1;
    }
    apr_pool_destroy(lp);
    return out->overflow ? -1 : 0;
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
    char *buf;
    apr_size_t len;
    outbuf_t out;
    const char *why = NULL;
    apr_status_t rv;

    if (ctx->held == NULL) {
        const char *ce = apr_table_get(r->headers_out, "Content-Encoding");
        if (r->status != HTTP_OK || !(has_m3u8_ext(r->uri) || is_playlist_type(r->content_type)))
            return pass_unchanged(f, bb);
        if (ce != NULL && strcasecmp(ce, "identity") != 0) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                          "media-guard HLS: playlist not rewritten: it is content-encoded");
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
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "media-guard HLS: playlist not rewritten: larger than %d bytes",
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
        return pass_unchanged(f, bb);
    }
    if (rewrite_playlist(ctx, r->pool, buf, len, &out, &why) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "media-guard HLS: not rewritten: %s", why);
        return pass_unchanged(f, bb);
    }
    apr_brigade_cleanup(ctx->held);
    ap_remove_output_filter(f);
    /* The length changes; the content-length filter sets the new one. The
     * validators were those of the unrewritten bytes. */
    apr_table_unset(r->headers_out, "Content-Length");
    apr_table_unset(r->headers_out, "ETag");
    e = apr_bucket_pool_create(out.b, out.n, r->pool, f->c->bucket_alloc);
    APR_BRIGADE_INSERT_HEAD(bb, e);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "media-guard HLS: playlist rewritten for scope %s (%" APR_SIZE_T_FMT
                  " -> %" APR_SIZE_T_FMT " bytes)",
                  ctx->scope, len, out.n);
    return ap_pass_brigade(f->next, bb);
}

void mg_mod_hls_register(apr_pool_t *p)
{
    (void)p;
    ap_register_output_filter(MG_HLS_FILTER, hls_filter, NULL, AP_FTYPE_RESOURCE);
    ap_hook_insert_filter(mg_mod_hls_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
}
