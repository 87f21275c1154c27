/* mg_mod_status.c — the request line mod_status shows.
 *
 * With mod_status loaded, httpd copies each request's line (r->the_request)
 * into the worker's scoreboard slot (ExtendedStatus, on by default since
 * 2.3.6) before any hook of the request runs, and leaves it there while the
 * response is sent and after it, until the worker's next request:
 * /server-status shows it to whoever may read that page (Debian's
 * `Require local`: every local user, every application on the host that
 * fetches a URL for a client). A signed link's query, or a token in the
 * path, is a bearer credential until it expires, and httpd hides only a
 * URL's password there. So on a server that declares a policy, the quick
 * handler (the first hook after the copy) writes the line again without the
 * query — `GET /v/a.jpg?... HTTP/1.1` — and translate_name, when the path
 * carries a token (mg_mod_pathtok.c), with the effective path instead.
 * httpd copies r->the_request once more when the request ends (the EOR
 * bucket's cleanup, just before log_transaction), so log_transaction writes
 * the hidden line back, and that is what the slot keeps; a request that
 * failed before the quick handler (400, 417, a header timeout) gets its
 * hidden line there only. The access log's
 * %r is not changed: docs/directives.md, "Keep signed links out of the
 * access log".
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "scoreboard.h"

#include <apr_strings.h>
#include <apr_uri.h>

#include "mg_mod.h"

/* the hidden line of a request, for log_transaction (r->pool userdata) */
#define MG_MOD_STATUS_KEY "media_guard:status-line"

static void put_line(request_rec *r, const char *line)
{
    worker_score *ws;

    if (r->connection->sbh == NULL)
        return;
    ws = ap_get_scoreboard_worker(r->connection->sbh);
    if (ws != NULL)
        ap_update_child_status_descr(r->connection->sbh, ws->status, line);
}

void mg_mod_status_hide(request_rec *r, const char *path)
{
    const char *target, *line;

    /* only the client's own request is in the slot (internal redirects and
     * sub-requests never update it). An HTTP/2 stream has no slot until it
     * ends (mod_http2 then gives it its session's, and httpd copies the
     * line there): the line is kept for log_transaction all the same. */
    if (!ap_extended_status || r->main != NULL || r->prev != NULL || r->the_request == NULL)
        return;
    /* the target without query, fragment or password (absolute-form keeps
     * its scheme and host, as httpd's own copy shows them) */
    target = path != NULL ? path
                          : apr_uri_unparse(r->pool, &r->parsed_uri,
                                            APR_URI_UNP_OMITPASSWORD | APR_URI_UNP_OMITQUERY);
    line = apr_pstrcat(r->pool, r->method ? r->method : "-", " ", target,
                       r->parsed_uri.query != NULL ? "?..." : "", r->assbackwards ? NULL : " ",
                       r->protocol, NULL);
    apr_pool_userdata_setn(line, MG_MOD_STATUS_KEY, NULL, r->pool);
    put_line(r, line);
}

static int has_policy(const request_rec *r)
{
    const mg_mod_srv_conf_t *sc =
        ap_get_module_config(r->server->module_config, &media_guard_module);
    return sc != NULL && sc->policies != NULL && apr_hash_count(sc->policies) > 0;
}

/* whether the line as sent has a query or a fragment to hide (a token in
 * the path is hidden by translate_name, mg_mod_pathtok.c) */
static int line_has_query(const request_rec *r)
{
    return r->the_request != NULL && strpbrk(r->the_request, "?#") != NULL;
}

/* quick_handler (really first): every request of a server with a policy,
 * whether or not a Require media-guard will judge it — which <Location>
 * applies is not known yet, and the line must be replaced before the
 * response starts. A line without a query is left as httpd copied it. */
static int hide_request_line(request_rec *r, int lookup)
{
    if (lookup || !ap_extended_status || !line_has_query(r) || !has_policy(r))
        return DECLINED;
    mg_mod_status_hide(r, NULL);
    return DECLINED;
}

/* The line of a request that failed before the quick handler (a bad
 * header's 400, a 417, a header read timing out): httpd may not have parsed
 * its target, and its method and protocol may be unset, so the line is cut
 * as sent — up to the query, then "?...", then what follows the target. */
static const char *hidden_as_sent(request_rec *r)
{
    const char *line = r->the_request, *q = strpbrk(line, "?#");
    const char *rest = strchr(q, ' ');

    /* a password in an absolute-form target: httpd's own copy omits it */
    if (r->parsed_uri.password != NULL && r->method != NULL)
        return apr_pstrcat(r->pool, r->method, " ",
                           apr_uri_unparse(r->pool, &r->parsed_uri,
                                           APR_URI_UNP_OMITPASSWORD | APR_URI_UNP_OMITQUERY),
                           "?...", r->assbackwards || r->protocol == NULL ? NULL : " ", r->protocol,
                           NULL);
    return apr_pstrcat(r->pool, apr_pstrmemdup(r->pool, line, (apr_size_t)(q - line)), "?...", rest,
                       NULL);
}

/* log_transaction (really first): right after httpd copied the whole line
 * back (eor_bucket.c), before the slot is left to show it until the
 * worker's next request */
static int hide_again(request_rec *r)
{
    void *line = NULL;

    if (!ap_extended_status)
        return DECLINED;
    apr_pool_userdata_get(&line, MG_MOD_STATUS_KEY, r->pool);
    if (line == NULL && r->main == NULL && r->prev == NULL && line_has_query(r) && has_policy(r))
        line = (void *)hidden_as_sent(r);
    if (line != NULL)
        put_line(r, line);
    return DECLINED;
}

void mg_mod_status_register(apr_pool_t *p)
{
    (void)p;
    ap_hook_quick_handler(hide_request_line, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_log_transaction(hide_again, NULL, NULL, APR_HOOK_REALLY_FIRST);
}
