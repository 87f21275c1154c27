/* fuzz_hls.c — mg_hls_rewrite() (the HLS playlist rewriter) on arbitrary
 * playlists.
 *
 * The first byte picks the origin (http on port 8080, or https on the default
 * port) and the token (native mg_* parameters, or a foreign format's, as an
 * Akamai ACL token: the rewriter then knows its parameter name); the rest is
 * the playlist. Beyond "no crash", for every playlist the
 * rewriter accepts:
 *   - it has as many lines as the input, and each line is the input line or
 *     the input line with the token inserted once, as "?TOKEN", "&TOKEN" or
 *     "TOKEN" — nothing else changes by a byte;
 *   - a URI line is changed exactly when mg_hls_rewrite_uri() says so;
 *   - a changed URI line names no other host: if its part before the query
 *     contains "//", that names the request's own host;
 *   - rewriting the output again changes nothing (every rewritten URI now
 *     carries the token's parameters), so a playlist passed through two filters does
 *     not get the token twice.
 */
#include <string.h>
#include <strings.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "mg_fuzz.h"
#include "mg_hls.h"

#define TOK "mg_exp=1700000000&mg_scope=%2Fv%2F&mg_sig=AbC-_"
#define FTOK "__token__=exp=1700000000~acl=/v/*~hmac=0a1b"
static const char *const fnames[] = {"__token__", NULL};

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

/* Is out[0..on) in[0..in_n) with the token tok inserted once (after an
 * optional '?' or '&')? */
static int is_inserted(const char *tok, const char *in, size_t in_n, const char *out, size_t on)
{
    size_t tl = strlen(tok), k;
    for (k = 0; k + tl <= on; k++) {
        if (memcmp(out + k, tok, tl) != 0)
            continue;
        for (size_t sep = 0; sep <= 1 && sep <= k; sep++) {
            size_t pre = k - sep;
            if (sep == 1 && out[pre] != '?' && out[pre] != '&')
                continue;
            if (pre + (on - k - tl) == in_n && memcmp(out, in, pre) == 0 &&
                memcmp(out + k + tl, in + pre, on - k - tl) == 0)
                return 1;
        }
    }
    return 0;
}

static void check_lines(const mg_hls_ctx_t *ctx, apr_pool_t *p, const char *in, size_t in_n,
                        const char *out, size_t on)
{
    size_t i = 0, o = 0;
    for (;;) {
        const char *ie = memchr(in + i, '\n', in_n - i), *oe = memchr(out + o, '\n', on - o);
        size_t il = ie ? (size_t)(ie - in) - i : in_n - i,
               ol = oe ? (size_t)(oe - out) - o : on - o;
        MG_FUZZ_ASSERT((ie == NULL) == (oe == NULL), "line count differs");
        if (il != ol || memcmp(in + i, out + o, il) != 0) {
            MG_FUZZ_ASSERT(is_inserted(ctx->params, in + i, il, out + o, ol),
                           "line changed beyond the token");
            /* the authority of a URI line: before its query */
            const char *q = memchr(out + o, '?', ol);
            const char *line = apr_pstrmemdup(p, out + o, q ? (size_t)(q - out) - o : ol);
            const char *dbl = strstr(line, "//");
            if (line[0] != '#' && dbl != NULL)
                MG_FUZZ_ASSERT(strncasecmp(dbl + 2, ctx->host, strlen(ctx->host)) == 0,
                               "token handed to another authority: %s", line);
        }
        /* a URI line (no CR counted) changes exactly when the URI rule says so */
        size_t un = il;
        if (un > 0 && in[i + un - 1] == '\r')
            un--;
        if (un > 0 && in[i] != '#' && i > 0) {
            const char *nu = mg_hls_rewrite_uri(ctx, p, in + i, un);
            int changed = il != ol || memcmp(in + i, out + o, il) != 0;
            MG_FUZZ_ASSERT(changed == (nu != NULL), "URI line and URI rule disagree");
        }
        if (ie == NULL)
            break;
        i += il + 1;
        o += ol + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    mg_hls_ctx_t ctx = {.params = TOK, .scope = "/v/", .base_dir = "/v/a/", .host = "m.example"};
    char *out, *again;
    apr_size_t on, an;
    const char *why = NULL, *in;

    if (size < 1)
        return 0;
    if (data[0] & 1)
        ctx.scheme = "https", ctx.port = 443;
    else
        ctx.scheme = "http", ctx.port = 8080;
    if (data[0] & 2)
        ctx.params = FTOK, ctx.names = fnames;
    apr_pool_create(&pool, root);
    /* no NUL after the playlist: the rewriter must stay within len */
    in = size > 1 ? apr_pmemdup(pool, data + 1, size - 1) : "";
    if (mg_hls_rewrite(&ctx, pool, in, size - 1, &out, &on, &why) == 0) {
        MG_FUZZ_ASSERT(on >= size - 1, "output shorter than input");
        check_lines(&ctx, pool, in, size - 1, out, on);
        MG_FUZZ_ASSERT(mg_hls_rewrite(&ctx, pool, out, on, &again, &an, &why) == 0,
                       "output refused: %s", why);
        MG_FUZZ_ASSERT(an == on && memcmp(again, out, on) == 0, "rewriting is not idempotent");
    } else {
        MG_FUZZ_ASSERT(why != NULL, "refused without a reason");
    }
    apr_pool_destroy(pool);
    return 0;
}
