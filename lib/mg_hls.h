/* mg_hls.h — rewrite an HLS playlist so that its URIs carry a token onwards.
 *
 * Pure text processing (APR only, no httpd): the module's output filter
 * (mod_media_guard/mg_mod_hls.c) collects the playlist and hands it here.
 * Every URI of the playlist that resolves to a path inside the token's scope
 * on the request's own origin gets the viewer's token parameters appended
 * (mg_*, or a foreign format's prefix token from the query);
 * everything else stays byte-identical. The rules are documented in
 * docs/directives.md ("MediaGuardHLSRewrite").
 */
#ifndef MG_HLS_H
#define MG_HLS_H

#include <apr_network_io.h>
#include <apr_pools.h>

/* Playlists are small (a 2-hour VOD rendition with 2 s segments is ~200 KiB);
 * anything larger is passed through rather than held in memory. */
#define MG_HLS_MAX_BODY (4 * 1024 * 1024)

/* What the rewriter needs to know about the request that fetched the
 * playlist. All strings are NUL-terminated; host may be NULL (then no
 * absolute URI is ever rewritten). */
typedef struct mg_hls_ctx {
    const char *params; /* the viewer's raw token pairs joined by '&' */
    /* A foreign format's token (docs/token-formats.md): its parameter names
     * (NULL-terminated); NULL for the native mg_* parameters. A URI that
     * already has a parameter of either kind is left alone. */
    const char *const *names;
    const char *scope;    /* the token's scope, decoded canonical directory path */
    const char *base_dir; /* raw path of the playlist up to its last '/' */
    const char *scheme;   /* the request's scheme, host and port: the only */
    const char *host;     /* origin absolute URIs may name */
    apr_port_t port;
} mg_hls_ctx_t;

/* The rewritten playlist buf[0..len) in *out and *out_len (allocated from p), or
 * -1 and *why (a static sentence) when it must pass through unchanged: not a
 * playlist (no #EXTM3U first line), a lone CR, variables (#EXT-X-DEFINE), or
 * larger than MG_HLS_MAX_BODY. Line endings are copied as they are. */
int mg_hls_rewrite(const mg_hls_ctx_t *ctx, apr_pool_t *p, const char *buf, apr_size_t len,
                   char **out, apr_size_t *out_len, const char **why);

/* The URI u[0..n) with the token appended (allocated from p), or NULL to
 * leave it as it is. Exposed for the unit tests and the fuzz target. */
const char *mg_hls_rewrite_uri(const mg_hls_ctx_t *ctx, apr_pool_t *p, const char *u, size_t n);

#endif
