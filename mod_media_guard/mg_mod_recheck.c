/* mg_mod_recheck.c — sub-requests and internal redirects that inherit a grant.
 *
 * httpd runs no authn/authz for an internal redirect or a sub-request whose
 * per-dir config is its predecessor's (AP_AUTH_INTERNAL_PER_CONF): mod_dir's
 * DirectoryIndex lookup, an ErrorDocument, a MultiViews variant, an SSI
 * include would be served on the strength of a decision taken for another
 * URL. mg_mod_recheck_fixup (fixups, first) judges such a request's own URL
 * with every policy that granted the request it inherits from, through the
 * provider's mg_mod_evaluate and mg_mod_record (mg_mod_authz.c); the
 * stricter decision counts.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"

#include <apr_strings.h>

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

/* The request whose authorization r inherits: httpd runs no authn/authz
 * for an internal redirect or a sub-request whose per-dir config is its
 * predecessor's (request.c, AP_AUTH_INTERNAL_PER_CONF), and copies r->user
 * from it. NULL when authorization ran for r itself. */
static request_rec *inherited_from(request_rec *r)
{
    if (r->prev != NULL && r->prev->per_dir_config == r->per_dir_config)
        return r->prev;
    if (r->main != NULL && r->main->per_dir_config == r->per_dir_config)
        return r->main;
    return NULL;
}

/* The inherited decision was taken before authentication (an anonymous
 * grant makes mod_authz_core skip it), but this URL needs a user: run the
 * configured authentication for it when the client sent credentials. */
static int authenticate(request_rec *r)
{
    if (r->user != NULL || ap_auth_type(r) == NULL ||
        apr_table_get(r->headers_in, "Authorization") == NULL)
        return 0;
    return ap_run_check_user_id(r) == OK && r->user != NULL;
}

static int same_user(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* For a file sub-request, whose per-dir config need not be its parent's:
 * the nearest request up the r->main chain (or an internal redirect's
 * predecessor on the way) that media-guard judged. */
static request_rec *judged_ancestor(request_rec *r, mg_mod_req_t **qrq)
{
    request_rec *m, *q;

    for (m = r->main; m != NULL; m = m->main)
        for (q = m; q != NULL; q = q->prev) {
            *qrq = mg_mod_req_peek(q);
            if (*qrq != NULL && (*qrq)->memos != NULL)
                return q;
        }
    return NULL;
}

/* fixups (first): a sub-request or internal redirect to another URL under
 * the same configuration — mod_dir's DirectoryIndex lookup, an
 * ErrorDocument, a MultiViews variant, an SSI include — would be served on
 * the strength of a decision taken for a different URL. Judge its own URL
 * with every policy that granted the request it inherits from, and refuse
 * it unless each allows at least the same level (the response headers of a
 * sub-request served through ap_internal_fast_redirect are the parent's).
 * A refused index makes mod_dir try the next one. */
int mg_mod_recheck_fixup(request_rec *r)
{
    request_rec *q = r;
    mg_mod_req_t *rq, *qrq = NULL, *prq;
    const mg_mod_memo_t *m;
    const char *why;
    mg_target_t t;
    int file_sub;

    if (r->main == NULL && r->prev == NULL)
        return DECLINED;
    rq = mg_mod_req_peek(r);
    if (rq != NULL && rq->memos != NULL)
        return DECLINED; /* authorization ran for this very URL */
    file_sub = mg_mod_file_subreq_target(r, &t);
    if (file_sub != 0) {
        q = judged_ancestor(r, &qrq);
    } else {
        while ((q = inherited_from(q)) != NULL) {
            qrq = mg_mod_req_peek(q);
            if (qrq != NULL && qrq->memos != NULL)
                break;
        }
    }
    if (q == NULL)
        return DECLINED; /* no media-guard decision is inherited */
    /* the body of our own refusal (deny status, deny.page) */
    prq = r->prev ? mg_mod_req_peek(r->prev) : NULL;
    if (prq != NULL && prq->deny != NULL && r->unparsed_uri != NULL &&
        strcmp(r->unparsed_uri, prq->deny_uri) == 0)
        return DECLINED;

    if (file_sub != 0) {
        /* t: the file's URL without a query, or "" (bad-url) */
    } else if (r->unparsed_uri != NULL &&
               (q->unparsed_uri == NULL || strcmp(r->unparsed_uri, q->unparsed_uri) != 0)) {
        (void)mg_target_split(r->pool, r->unparsed_uri, &t, NULL); /* refused: bad-url */
    } else if (r->uri != NULL && r->uri[0] == '/') {
        t.path = ap_os_escape_path(r->pool, r->uri, 1);
        t.query = r->args;
    } else {
        t.path = ""; /* refused by libmg: bad-url */
    }
    why = apr_psprintf(r->pool, "%s of %s, judged on its own URL",
                       file_sub  ? "file sub-request"
                       : r->main ? "sub-request"
                                 : "internal redirect",
                       ap_escape_logitem(r->pool, q->uri ? q->uri : "-"));

    for (m = qrq->memos; m != NULL; m = m->next) {
        mg_mod_memo_t *nm;
        if (m->negated != 0) {
            /* The request passed `Require not` of this policy: the URL it
             * inherits must not be one the policy allows either (under two
             * negations: must not be one it refuses); nor an error. */
            const char *how = NULL;

            if (rq == NULL)
                rq = mg_mod_req_make(r);
            nm = apr_pcalloc(r->pool, sizeof(*nm));
            nm->mp = m->mp;
            nm->user = r->user;
            nm->negated = m->negated;
            mg_mod_evaluate(r, m->mp, nm, &t);
            nm->next = rq->memos;
            rq->memos = nm;
            if (nm->d.reason == MG_R_INTERNAL)
                how = "; under a negation: an error";
            else if ((m->negated & MG_MOD_NEG_ODD) != 0 && nm->d.outcome == MG_OUTCOME_ALLOW)
                how = "; under a negation: refused";
            else if ((m->negated & MG_MOD_NEG_ODD) != 0 &&
                     (mg_decision_counts_under_negation(&nm->d) || nm->served_allowed))
                how = "; under a negation, counted as allowed: refused";
            else if ((m->negated & MG_MOD_NEG_EVEN) != 0 && nm->d.outcome != MG_OUTCOME_ALLOW)
                how = "; under two negations: refused";
            if (how != NULL) {
                mg_mod_record(r, nm, apr_pstrcat(r->pool, why, how, NULL), 1);
                if (mg_mod_is_path_info_lookup(r))
                    r->filename = NULL;
                return nm->d.reason == MG_R_INTERNAL ? HTTP_INTERNAL_SERVER_ERROR : HTTP_FORBIDDEN;
            }
        }
        if (m->d.outcome != MG_OUTCOME_ALLOW || !m->mapped || !same_user(m->user, r->user))
            continue; /* only grants that counted, for this user */
        if (rq == NULL)
            rq = mg_mod_req_make(r);
        nm = apr_pcalloc(r->pool, sizeof(*nm));
        nm->mp = m->mp;
        nm->user = r->user;
        mg_mod_evaluate(r, m->mp, nm, &t);
        if ((nm->d.outcome == MG_OUTCOME_AUTH || nm->d.outcome == MG_OUTCOME_LOGIN) &&
            authenticate(r)) {
            nm->user = r->user;
            mg_mod_evaluate(r, m->mp, nm, &t);
        }
        mg_mod_once_apply(r, nm);
        nm->next = rq->memos;
        rq->memos = nm;
        nm->mapped = 1;
        if (nm->d.outcome == MG_OUTCOME_ALLOW && r->main != NULL && nm->d.access < m->d.access) {
            nm->d.outcome = MG_OUTCOME_DENY;
            nm->d.reason = MG_R_DOWNLOAD;
            nm->d.detail = "allowed at a lower access level than the URL it is served for";
        }
        if (nm->d.outcome != MG_OUTCOME_ALLOW) {
            nm->result = nm->d.reason == MG_R_INTERNAL ? AUTHZ_GENERAL_ERROR : AUTHZ_DENIED;
            mg_mod_record(r, nm, why, 0);
            /* a refused lookup of a script's PATH_INFO names no file:
             * httpd's CGI environment takes PATH_TRANSLATED from its file
             * name whatever its status (mg_mod_authz.c) */
            if (mg_mod_is_path_info_lookup(r))
                r->filename = NULL;
            return nm->d.reason == MG_R_INTERNAL ? HTTP_INTERNAL_SERVER_ERROR : HTTP_FORBIDDEN;
        }
        nm->result = AUTHZ_GRANTED;
        mg_mod_record(r, nm, why, 0);
    }
    return DECLINED;
}
