/* mg_mod_headers.c — the response headers an allowed access level needs.
 *
 * view-only:  Content-Disposition: inline, Cache-Control: private, no-store,
 *             X-Content-Type-Options: nosniff
 * download:   Content-Disposition: attachment; filename="..."; filename*=...
 *             (when the request asked for a download)
 * any allow:  Cross-Origin-Resource-Policy when the decision carries one;
 *             Cache-Control: private (the origin's directives for shared
 *             caches removed) unless every client would get the same answer
 *
 * They must be on the real 200/206 response, whoever produces it. A handler
 * such as mod_proxy replaces r->headers_out with the origin's headers, so the
 * headers are set by an output filter on the first brigade, after the
 * handler has decided the status and before the HTTP header filter.
 */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "util_filter.h"

#include <apr_atomic.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mg_mod.h"
#include "mg_response.h"

APLOG_USE_MODULE(media_guard);

#define MG_MOD_FILTER "MEDIA_GUARD_HEADERS"

/* Registered once in register_hooks: adding by handle skips the lookup of
 * the filter's name that ap_add_output_filter makes on every request. */
static ap_filter_rec_t *headers_filter_handle, *utf8_filter_handle;

static const char *last_segment(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path;
}

/* The filters whose by-hand instance this child has logged (MG00701), by
 * their ap_filter_rec_t: a slot is claimed once (apr_atomic_casptr, the
 * child's threads race for it) and never cleared. More slots than the
 * module registers filters; a filter past them is logged every time. */
#define MG_MOD_NAMED_SLOTS 8
static volatile void *named_said[MG_MOD_NAMED_SLOTS];

/* Whether this child is the first to see `frec` named by hand (and now
 * remembers it). */
static int first_named(ap_filter_rec_t *frec)
{
    for (int i = 0; i < MG_MOD_NAMED_SLOTS; i++) {
        void *was = apr_atomic_casptr(&named_said[i], frec, NULL);
        if (was == NULL)
            return 1;
        if (was == frec)
            return 0;
    }
    return 1;
}

/* The module adds its filters itself, each with the state it works on.
 * Registered by name, they can also be named in the configuration
 * (SetOutputFilter, AddOutputFilter, mod_filter): such an instance has no
 * state (it crashed the child on its first brigade before) and nothing to
 * do. It leaves, and says so, as mod_cache does for a CACHE filter it
 * ignores (AH00776) — once per child and filter: the configuration names it
 * for every response, and a warning per response buries the error log. */
apr_status_t mg_mod_filter_named_by_hand(ap_filter_t *f, apr_bucket_brigade *bb)
{
    if (first_named(f->frec))
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, f->r,
                      MG_LOGNO(00701) "media-guard: the output filter %s is added by the module "
                                      "where it is needed; the one named in the configuration "
                                      "is ignored (said once per child process)",
                      f->frec->name);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t headers_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    const mg_mod_memo_t *m = f->ctx;

    if (m == NULL)
        return mg_mod_filter_named_by_hand(f, bb);
    if (r->status == HTTP_OK || r->status == HTTP_PARTIAL_CONTENT) {
        apr_table_t *h = r->headers_out;
        /* apr_table_setn: every value is a constant, lives in r->pool or
         * in the policy (the configuration pool), all of which outlive
         * headers_out; apr_table_set would copy each one, per response */
        if (m->d.download && m->d.access == MG_ACCESS_DOWNLOAD) {
            const char *name = m->d.filename ? m->d.filename : last_segment(m->canon);
            apr_table_setn(h, "Content-Disposition",
                           mg_content_disposition(r->pool, "attachment", name));
        } else if (m->d.access == MG_ACCESS_VIEW) {
            apr_table_setn(h, "Content-Disposition", "inline");
            apr_table_setn(h, "Cache-Control", "private, no-store");
        }
        /* a shared cache may keep only what every client would get */
        if (m->d.access != MG_ACCESS_VIEW &&
            !mg_policy_same_for_everyone(m->mp ? m->mp->policy : NULL, &m->d))
            apr_table_setn(h, "Cache-Control",
                           mg_private_cache_control(r->pool, apr_table_get(h, "Cache-Control")));
        apr_table_setn(h, "X-Content-Type-Options", "nosniff");
        if (m->d.corp)
            apr_table_setn(h, "Cross-Origin-Resource-Policy", m->d.corp);
    }
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* The decision that granted this request: one for the final user; when
 * several policies allowed it, the most restrictive level wins. */
static const mg_mod_memo_t *granting_decision(request_rec *r)
{
    const mg_mod_memo_t *best = NULL, *m;
    const mg_mod_req_t *rq;
    request_rec *q;

    /* An internal redirect that kept the same per-dir config skips authz
     * (request.c); its decision is the one of the request it came from. */
    for (q = r; q != NULL;
         q = (q->prev && q->prev->per_dir_config == q->per_dir_config) ? q->prev : NULL) {
        rq = mg_mod_req_peek(q);
        if (rq == NULL)
            continue;
        for (m = rq->memos; m != NULL; m = m->next) {
            /* only decisions used as grants (not one seen under `Require not`) */
            if (m->d.outcome != MG_OUTCOME_ALLOW || !m->mapped)
                continue;
            if (!(m->user == r->user || (m->user && r->user && strcmp(m->user, r->user) == 0)))
                continue;
            if (best == NULL || m->d.access < best->d.access)
                best = m;
        }
        if (best)
            return best;
        if (q != r && rq->memos)
            return NULL; /* that request decided and did not allow */
    }
    return NULL;
}

void mg_mod_insert_filter(request_rec *r)
{
    const mg_mod_memo_t *m;
    const mg_mod_req_t *rq = mg_mod_req_peek(r);

    /* most requests on a server are not under media-guard: nothing of
     * ours on r and nothing it could inherit (no internal redirect) */
    if (r->prev == NULL && rq == NULL)
        return;
    m = granting_decision(r);

    /* r reached its handler: if media-guard refused it, another provider
     * granted it (<RequireAny>), and the refusal's headers do not apply */
    if (rq != NULL && rq->refusal_headers) {
        mg_mod_drop_refusal_headers(r);
        /* that grant depends on who asks as much as the policy's would:
         * mod_cache's quick handler must not hand it to everyone */
        if (mg_mod_cache_stores_before_authz(r))
            mg_mod_cache_keep_out(r, "media-guard refused and another Require line granted, and "
                                     "CacheQuickHandler On would serve it without asking either");
    }
    if (m == NULL)
        return;
    /* mod_cache's quick handler would serve a stored copy of this answer
     * without asking the policy: only one that every client gets may be
     * stored (as for caches outside Apache, below) */
    if (mg_mod_cache_stores_before_authz(r) &&
        !mg_policy_same_for_everyone(m->mp ? m->mp->policy : NULL, &m->d))
        mg_mod_cache_keep_out(r, "the grant depends on who asks, and CacheQuickHandler On would "
                                 "serve it without asking the policy");
    ap_add_output_filter_handle(headers_filter_handle, (void *)m, r, r->connection);
}

/* Policy messages are UTF-8, but ap_send_error_response() labels every
 * error body `text/html; charset=iso-8859-1` just before it writes it. The
 * note remembers which status carries the policy's message; the
 * insert_error_filter hook (run by ap_send_error_response after that label)
 * adds a filter that relabels the body before the headers go out. */
#define MG_MOD_MESSAGE_NOTE "media-guard-message-status"
#define MG_MOD_UTF8_FILTER "MEDIA_GUARD_UTF8"

void mg_mod_message_response(request_rec *r, int status, const char *body)
{
    ap_custom_response(r, status, body);
    apr_table_setn(r->notes, MG_MOD_MESSAGE_NOTE, apr_itoa(r->pool, status));
}

static apr_status_t utf8_label_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    if (f->ctx == NULL)
        return mg_mod_filter_named_by_hand(f, bb);
    ap_set_content_type(f->r, "text/html; charset=utf-8");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static void insert_error_filter(request_rec *r)
{
    const char *st = apr_table_get(r->notes, MG_MOD_MESSAGE_NOTE);
    /* only the error response that sends the message (not, say, a 500
     * after it) */
    if (st != NULL && atoi(st) == r->status)
        ap_add_output_filter_handle(utf8_filter_handle, (void *)MG_MOD_UTF8_FILTER, r,
                                    r->connection);
}

void mg_mod_register_filters(void)
{
    headers_filter_handle =
        ap_register_output_filter(MG_MOD_FILTER, headers_filter, NULL, AP_FTYPE_CONTENT_SET);
    utf8_filter_handle =
        ap_register_output_filter(MG_MOD_UTF8_FILTER, utf8_label_filter, NULL, AP_FTYPE_RESOURCE);
    ap_hook_insert_error_filter(insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
}
