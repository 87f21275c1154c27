/* mg_http.c — the request target, the request-from-headers step and the
 * decision's HTTP status (mg_http.h): the one copy the module and mgctl use.
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "mg_http.h"

static void split_path_query(apr_pool_t *pool, const char *s, mg_target_t *out)
{
    size_t n = strcspn(s, "?#");

    out->path = apr_pstrmemdup(pool, s, n);
    out->query = s[n] == '?' ? apr_pstrmemdup(pool, s + n + 1, strcspn(s + n + 1, "#")) : NULL;
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
    if (strncasecmp(s, "http://", 7) == 0)
        return 7;
    if (strncasecmp(s, "https://", 8) == 0)
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

void mg_request_from_headers(mg_request_t *req, const mg_target_t *t, mg_header_fn header,
                             void *ctx)
{
#define MG_HDR(name) (header != NULL ? header(ctx, name) : NULL)
    memset(req, 0, sizeof(*req));
    req->raw_path = t->path ? t->path : "";
    req->query = t->query;
    req->target_refused = t->refused;
    req->scheme = t->scheme ? t->scheme : "http";
    req->host = MG_HDR("Host");
    if (req->host == NULL)
        req->host = t->authority;
    req->referer = MG_HDR("Referer");
    req->origin = MG_HDR("Origin");
    req->sec_fetch_site = MG_HDR("Sec-Fetch-Site");
    req->sec_fetch_mode = MG_HDR("Sec-Fetch-Mode");
    req->sec_fetch_dest = MG_HDR("Sec-Fetch-Dest");
    req->sec_fetch_user = MG_HDR("Sec-Fetch-User");
    req->accept = MG_HDR("Accept");
    req->cookie = MG_HDR("Cookie");
#undef MG_HDR
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
