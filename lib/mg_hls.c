/* mg_hls.c — the HLS playlist rewriter (mg_hls.h).
 *
 * On any doubt a URI, a line or the whole playlist stays as it is, because a
 * wrong rewrite could hand the token to another host. The caller (the
 * module's output filter) only decides *where* the playlist comes from;
 * whether a segment request is allowed is decided again, as always, when the
 * player asks for it.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_canon.h"
#include "mg_hls.h"

static int has_mg_prefix(const char *s)
{
    return strncmp(s, "mg_", 3) == 0;
}

/* A token parameter: mg_*, or one of the foreign format's names. Compared
 * without case: some origins read query names so, and
 * a URI that may already be signed is not ours to touch. */
static int token_param(const mg_hls_ctx_t *ctx, const char *s)
{
    if (has_mg_prefix(s))
        return 1;
    for (const char *const *nm = ctx->names; nm != NULL && *nm != NULL; nm++)
        if (apr_cstr_casecmp(s, *nm) == 0)
            return 1;
    return 0;
}

/* scheme ":" at the start of a URI reference (RFC 3986 3.1), or 0 */
static size_t scheme_len(const char *u, size_t n)
{
    size_t i;
    if (n == 0 || !mg_ascii_isalpha(u[0]))
        return 0;
    for (i = 1; i < n && (mg_ascii_isalnum(u[i]) || u[i] == '+' || u[i] == '-' || u[i] == '.'); i++)
        ;
    return (i < n && u[i] == ':') ? i : 0;
}

/* "//authority/..." of the request's own origin: returns the offset of the
 * path, or 0. No userinfo, no IPv6 literal (never guessed at). */
static size_t own_authority(const mg_hls_ctx_t *ctx, const char *u, size_t n, const char *scheme)
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
        apr_cstr_casecmpn(u + a, ctx->host, h - a) != 0)
        return 0;
    if (h < e) {
        size_t i;
        unsigned long v = 0;
        if (h + 1 == e || e - h - 1 > 5)
            return 0;
        for (i = h + 1; i < e; i++) {
            if (!mg_ascii_isdigit(u[i]))
                return 0;
            v = v * 10 + (unsigned long)(u[i] - '0');
        }
        if (v > 65535)
            return 0; /* no wrapping 65616 into 80 */
        port = (apr_port_t)v;
    } else {
        port = apr_cstr_casecmp(scheme, "https") == 0 ? 443 : 80;
    }
    return (port == ctx->port && apr_cstr_casecmp(scheme, ctx->scheme) == 0) ? e : 0;
}

/* The URI u[0..n) with the token appended, or NULL to leave it as it is. */
const char *mg_hls_rewrite_uri(const mg_hls_ctx_t *ctx, apr_pool_t *p, const char *u, size_t n)
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
        if (apr_cstr_casecmp(scheme, "http") != 0 && apr_cstr_casecmp(scheme, "https") != 0)
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
        if (token_param(ctx, APR_ARRAY_IDX(c.params, i, mg_qparam_t).name))
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
static void rewrite_line(const mg_hls_ctx_t *ctx, apr_pool_t *p, outbuf_t *out, const char *s,
                         size_t n)
{
    size_t a, i, start = 0;
    const char *nu;

    if (n == 0) {
        return;
    } else if (s[0] != '#') {
        nu = mg_hls_rewrite_uri(ctx, p, s, n);
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
        while (i < n && (mg_ascii_isupper(s[i]) || mg_ascii_isdigit(s[i]) || s[i] == '-'))
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
    if (v != NULL && (nu = mg_hls_rewrite_uri(ctx, p, v, vn)) != NULL) {
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
    return n >= 13 && apr_cstr_casecmpn(s, "#EXT-X-DEFINE", 13) == 0;
}

/* The rewritten playlist in *out, or -1 (and *why) to leave it as it is: not
 * a playlist (RFC 8216: the first line is #EXTM3U), a lone CR (is it a line
 * break? players differ), or variables (#EXT-X-DEFINE: the player substitutes
 * {$name} in URIs before resolving them, so the filter cannot know which
 * host a URI names). Line endings are copied as they are. */
int mg_hls_rewrite(const mg_hls_ctx_t *ctx, apr_pool_t *p, const char *buf, apr_size_t len,
                   char **out_buf, apr_size_t *out_len, const char **why)
{
    apr_size_t i, skip = 0, lines = 1;
    apr_pool_t *lp;
    outbuf_t o, *out = &o;

    if (len > MG_HLS_MAX_BODY) {
        *why = "larger than the playlist bound";
        return -1;
    }
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
    if (apr_pool_create(&lp, p) != APR_SUCCESS) {
        *why = "out of memory";
        return -1;
    }
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
    if (out->overflow) {
        *why = "the rewritten playlist did not fit its buffer";
        return -1;
    }
    *out_buf = out->b;
    *out_len = out->n;
    return 0;
}
