/* mg_http.c — the request target, the request-from-headers step and the
 * decision's HTTP status (mg_http.h): the one copy the module and mgctl use.
 */
#include <stddef.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_http.h"

/* Path up to the first '?' or '#', query after that '?' up to a '#'. A part
 * that ends where s ends (a query, a path without one: the usual target,
 * which has no fragment) points into s instead of being copied. */
static void split_path_query(apr_pool_t *pool, const char *s, mg_target_t *out)
{
    const char *q = strchr(s, '?');
    size_t n = q != NULL ? (size_t)(q - s) : strlen(s);
    const char *h = memchr(s, '#', n);

    if (h != NULL) { /* a fragment before any '?': no query */
        out->path = apr_pstrmemdup(pool, s, (size_t)(h - s));
        out->query = NULL;
        return;
    }
    if (q == NULL) {
        out->path = s;
        out->query = NULL;
        return;
    }
    out->path = apr_pstrmemdup(pool, s, n);
    h = strchr(q + 1, '#');
    out->query = h != NULL ? apr_pstrmemdup(pool, q + 1, (size_t)(h - q - 1)) : q + 1;
}

static mg_status_t refuse(mg_target_t *out, const char *reason, const char **why)
{
    out->path = "";
    out->query = NULL;
    out->scheme = NULL;
    out->authority = NULL;
    out->refused = reason;
    if (why != NULL)
        *why = reason;
    return MG_EINVAL;
}

/* Length of "http://" or "https://" at the very start (any case), else 0.
 * Only these: a media request is HTTP, and another scheme in a proxy
 * request (ftp://) names a resource the policy's paths do not describe. */
static size_t http_scheme_len(const char *s)
{
    if (apr_cstr_casecmpn(s, "http://", 7) == 0)
        return 7;
    if (apr_cstr_casecmpn(s, "https://", 8) == 0)
        return 8;
    return 0;
}

mg_status_t mg_target_split(apr_pool_t *pool, const char *target, mg_target_t *out,
                            const char **why)
{
    const char *s = target ? target : "", *a, *e;
    size_t sl;

    memset(out, 0, sizeof(*out));
    if (why != NULL)
        *why = NULL;
    if (*s == '/') {
        split_path_query(pool, s, out);
        return MG_OK;
    }
    sl = http_scheme_len(s);
    if (sl == 0)
        return refuse(out, "the request target is neither a path nor an http(s) URL", why);
    a = s + sl;
    for (e = a; *e != '\0' && *e != '/' && *e != '?' && *e != '#'; e++) {
        if ((unsigned char)*e <= 0x20 || *e == 0x7f)
            return refuse(out, "control byte or space in the URL's host", why);
        /* RFC 9110 4.2.4: userinfo in an http(s) URI is to be treated as
         * an error; it only serves to disguise the host */
        if (*e == '@')
            return refuse(out, "userinfo (user@) in an http(s) URL", why);
    }
    if (e == a)
        return refuse(out, "an http(s) URL without a host", why);
    if (*e == '/') {
        split_path_query(pool, e, out);
    } else {
        out->path = "/";
        out->query = *e == '?' ? apr_pstrmemdup(pool, e + 1, strcspn(e + 1, "#")) : NULL;
    }
    out->scheme = sl == 7 ? "http" : "https";
    out->authority = apr_pstrmemdup(pool, a, (apr_size_t)(e - a));
    return MG_OK;
}

/* The request headers the view reads, each with the field it fills: the
 * one list both forms below read. */
typedef struct view_header {
    const char *name;
    size_t off; /* offsetof(mg_request_t, field) */
} view_header_t;

enum {
    VH_HOST,
    VH_REFERER,
    VH_ORIGIN,
    VH_SITE,
    VH_MODE,
    VH_DEST,
    VH_ACCEPT,
    VH_COOKIE,
    VH_CLEN,
    VH_TE,
    VH_URL /* view_index: VH_URL + k is url_headers[k] */
};

#define MG_VIEW(k, name, field) [k] = {name, offsetof(mg_request_t, field)}
static const view_header_t view_headers[] = {
    MG_VIEW(VH_HOST, "Host", host),
    MG_VIEW(VH_REFERER, "Referer", referer),
    MG_VIEW(VH_ORIGIN, "Origin", origin),
    MG_VIEW(VH_SITE, "Sec-Fetch-Site", sec_fetch_site),
    MG_VIEW(VH_MODE, "Sec-Fetch-Mode", sec_fetch_mode),
    MG_VIEW(VH_DEST, "Sec-Fetch-Dest", sec_fetch_dest),
    MG_VIEW(VH_ACCEPT, "Accept", accept),
    MG_VIEW(VH_COOKIE, "Cookie", cookie),
    MG_VIEW(VH_CLEN, "Content-Length", content_length),
    MG_VIEW(VH_TE, "Transfer-Encoding", transfer_encoding),
};
#undef MG_VIEW

/* Headers that some origins take the request URL from instead of the
 * request line: an origin behind ProxyPass would serve the URL they name,
 * which the policy never judged (docs/canonical-urls.md, "A header that names
 * another URL"). Written as the refusal names them; url_header_index knows
 * this order. */
static const char *const url_headers[] = {"X-Original-URL",   "X-Rewrite-URL",
                                          "X-Original-URI",   "X-Forwarded-Uri",
                                          "X-Forwarded-Path", "X-Envoy-Original-Path"};
#define MG_NURL (sizeof(url_headers) / sizeof(url_headers[0]))

/* Whether v is the target as the client wrote it: its path, and "?" and
 * its query when it has one. A front proxy that records a URL it did not
 * change sends that; anything else names another resource. */
static int is_target(const mg_target_t *t, const char *v)
{
    const char *path = t->path != NULL ? t->path : "";
    size_t n = strlen(path);
    if (strncmp(v, path, n) != 0)
        return 0;
    if (t->query == NULL)
        return v[n] == '\0';
    return v[n] == '?' && strcmp(v + n + 1, t->query) == 0;
}

/* One line of the URL header url_headers[which]: the worst of all lines
 * counts, and the first that names another URL is the one named. */
static void note_url_header(mg_request_t *req, const mg_target_t *t, const char *v, size_t which)
{
    int k = (v != NULL && is_target(t, v)) ? MG_URL_HEADER_SAME : MG_URL_HEADER_OTHER;
    if (k > req->url_header) {
        req->url_header = k;
        if (k == MG_URL_HEADER_OTHER)
            req->url_header_name = url_headers[which];
    }
}

static const char **view_field(mg_request_t *req, const view_header_t *v)
{
    return (const char **)(void *)((char *)req + v->off);
}

static void from_target(mg_request_t *req, const mg_target_t *t)
{
    memset(req, 0, sizeof(*req));
    req->raw_path = t->path ? t->path : "";
    req->query = t->query;
    req->target_refused = t->refused;
    req->scheme = t->scheme ? t->scheme : "http";
}

/* ASCII case folding: header names are ASCII tokens, matched without case
 * (RFC 9110 5.1), whatever the process's locale. */
static unsigned char fold(unsigned char c)
{
    return (unsigned char)((unsigned)c - 'A' < 26u ? c + ('a' - 'A') : c);
}

/* Whether name, from its byte `from` on, is exactly `lower` (lower case)
 * without case. */
static int same_from(const char *name, size_t from, const char *lower)
{
    const unsigned char *a = (const unsigned char *)name + from;
    const unsigned char *b = (const unsigned char *)lower + from;

    while (*b != '\0' && fold(*a) == *b) {
        a++;
        b++;
    }
    return *b == '\0' && *a == '\0';
}

/* same_from, with '_' and '.' read as '-' as well: PHP's $_SERVER
 * (HTTP_X_...) gives X_Original_URL and X.Original.URL to the application
 * as X-Original-URL (php -S; its variable names turn '.' into '_'), and
 * httpd forwards such names (both are HTTP tokens) to the origin. */
static int same_dashed_from(const char *name, size_t from, const char *lower)
{
    const unsigned char *a = (const unsigned char *)name + from;
    const unsigned char *b = (const unsigned char *)lower + from;
    while (*b != '\0' && (fold(*a) == *b || ((*a == '_' || *a == '.') && *b == '-'))) {
        a++;
        b++;
    }
    return *b == '\0' && *a == '\0';
}

/* Which of url_headers name is (an index), without case and with '_' or
 * '.' for '-', or -1; name[0] is known to be 'x' or 'X'. The length picks the one
 * candidate and its last byte is compared first: a proxied request's
 * X-Forwarded-For (15 bytes, as X-Forwarded-Uri), -Proto, -Host (16, as
 * X-Forwarded-Path) and X-Real-IP cost a strlen and a byte. */
static int url_header_index(const char *name)
{
    size_t n = strlen(name);
    const char *want;
    int which;
    switch (n) {
    case 13:
        want = "x-rewrite-url", which = 1;
        break;
    case 14:
        if (fold((unsigned char)name[13]) == 'l')
            want = "x-original-url", which = 0;
        else
            want = "x-original-uri", which = 2;
        break;
    case 15:
        want = "x-forwarded-uri", which = 3;
        break;
    case 16:
        want = "x-forwarded-path", which = 4;
        break;
    case 21:
        want = "x-envoy-original-path", which = 5;
        break;
    default:
        return -1;
    }
    return fold((unsigned char)name[n - 1]) == (unsigned char)want[n - 1] &&
                   same_dashed_from(name, 1, want)
               ? which
               : -1;
}

/* Whether bytes from..n-1 of name are those of `lower` without case (a
 * shorter name differs at its NUL). */
static int prefix_from(const char *name, size_t from, const char *lower, size_t n)
{
    size_t i;

    for (i = from; i < n; i++)
        if (fold((unsigned char)name[i]) != (unsigned char)lower[i])
            return 0;
    return 1;
}

/* Which of view_headers `name` is (an index), VH_URL, or -1: one switch on the
 * first byte, then one comparison — most names of a request are none. */
static int view_index(const char *name)
{
    switch (fold((unsigned char)name[0])) {
    case 'h':
        return same_from(name, 1, "host") ? VH_HOST : -1;
    case 'r':
        return same_from(name, 1, "referer") ? VH_REFERER : -1;
    case 'o':
        return same_from(name, 1, "origin") ? VH_ORIGIN : -1;
    case 's':
        if (!prefix_from(name, 1, "sec-fetch-", 10))
            return -1;
        switch (fold((unsigned char)name[10])) {
        case 's':
            return same_from(name, 11, "sec-fetch-site") ? VH_SITE : -1;
        case 'm':
            return same_from(name, 11, "sec-fetch-mode") ? VH_MODE : -1;
        case 'd':
            return same_from(name, 11, "sec-fetch-dest") ? VH_DEST : -1;
        }
        return -1;
    case 'a':
        return same_from(name, 1, "accept") ? VH_ACCEPT : -1;
    case 'c':
        if (fold((unsigned char)name[1]) == 'o' && fold((unsigned char)name[2]) == 'o')
            return same_from(name, 3, "cookie") ? VH_COOKIE : -1;
        return same_from(name, 1, "content-length") ? VH_CLEN : -1;
    case 't':
        return same_from(name, 1, "transfer-encoding") ? VH_TE : -1;
    case 'x': {
        int which = url_header_index(name);
        return which >= 0 ? VH_URL + which : -1;
    }
    }
    return -1;
}

void mg_request_from_header_table(mg_request_t *req, const mg_target_t *t,
                                  const apr_table_t *headers)
{
    const apr_array_header_t *a = headers != NULL ? apr_table_elts(headers) : NULL;
    const apr_table_entry_t *e = a != NULL ? (const apr_table_entry_t *)a->elts : NULL;
    const char **f;
    int i, k;

    from_target(req, t);
    for (i = 0; a != NULL && i < a->nelts; i++) {
        if (e[i].key == NULL || (k = view_index(e[i].key)) == -1)
            continue;
        if (k >= VH_URL) { /* every line: the worst counts */
            note_url_header(req, t, e[i].val, (size_t)(k - VH_URL));
            continue;
        }
        f = view_field(req, &view_headers[k]);
        if (*f == NULL) /* the first of its name, as apr_table_get finds it */
            *f = e[i].val;
    }
    if (req->host == NULL)
        req->host = t->authority;
}

int mg_deny_status_valid(int status)
{
    return status >= 400 && status <= 599 && status != 401 && status != 407;
}

int mg_decision_http_status(const mg_decision_t *d)
{
    switch (d->outcome) {
    case MG_OUTCOME_ALLOW:
        return 200;
    case MG_OUTCOME_LOGIN:
        return 302;
    case MG_OUTCOME_AUTH:
        return 401;
    case MG_OUTCOME_DENY:
        break;
    }
    if (d->reason == MG_R_INTERNAL)
        return 500;
    return mg_deny_status_valid(d->status) ? d->status : 403;
}

int mg_decision_counts_under_negation(const mg_decision_t *d)
{
    if (d->outcome == MG_OUTCOME_ALLOW)
        return 1;
    switch (d->reason) {
    case MG_R_BAD_URL:
    case MG_R_METHOD:
    case MG_R_DOWNLOAD:
    case MG_R_TRANSFORM_DENIED:
    case MG_R_TRANSFORM_MISSING:
        return 1;
    default:
        return 0;
    }
}
