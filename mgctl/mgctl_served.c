/* mgctl_served.c — explain's second decision: the path Apache serves when a
 * path token maps the request (docs/token-formats.md, "Tokens in the path").
 *
 * The module's translate_name hook (mod_media_guard/mg_mod_pathtok.c) sets
 * r->uri to the effective path of a path token of a key of ANY policy the
 * server declares, not only of the policy a <Location> then names; that
 * policy's authorization (mg_mod_evaluate, mg_mod_authz.c) decides the
 * request target and, because r->uri names another resource, the served
 * path as well, and the stricter decision counts. A policy without that
 * key decides the raw path /dl/<mac>/<time>/a/x.jpg under one rule and the
 * served /dl/a/x.jpg under another: explain decides both, the same way, on
 * the policies it is told the server declares (--server-policy).
 */
#include "mgctl_util.h"

#include <string.h>

#include <apr_strings.h>

#include "mg_http.h"
#include "mg_request.h"

/* What ap_os_escape_path(p, s, 1) makes of a decoded path (the module
 * escapes r->uri with it before deciding it): httpd keeps ASCII letters,
 * digits and "$-_.+!*'(),:;@&=/~" (server/gen_test_char.c,
 * T_OS_ESCAPE_PATH) and writes every other byte as %xx in lower-case hex
 * (server/util.c's c2x_table).
 * Not apr_pescape_path: APR's set differs (it escapes ';'). */
static const char *httpd_escape_path(apr_pool_t *pool, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    char *out = apr_palloc(pool, 3 * n + 1), *o = out;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("$-_.+!*'(),:;@&=/~", c) != NULL) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* mg_mod_authz.c's stricter(): b refuses where a allows, or grants less. */
static int stricter(const mg_decision_t *a, const mg_decision_t *b)
{
    if (b->outcome != MG_OUTCOME_ALLOW)
        return a->outcome == MG_OUTCOME_ALLOW;
    return a->outcome == MG_OUTCOME_ALLOW && b->access < a->access;
}

static void trace_note(apr_pool_t *pool, mg_decision_t *d, const char *line)
{
    apr_array_header_t *t =
        apr_array_make(pool, (d->trace ? d->trace->nelts : 0) + 1, sizeof(const char *));
    APR_ARRAY_PUSH(t, const char *) = line;
    if (d->trace != NULL)
        apr_array_cat(t, d->trace);
    d->trace = t;
}

void mgctl_served_decide(apr_pool_t *pool, const mg_policy_t *policy,
                         const apr_array_header_t *others, const mgctl_reqspec_t *spec,
                         const mg_request_t *req, int trace, mg_decision_t *d)
{
    mg_target_t t, st;
    const char *found = NULL, *by = NULL, *served_raw, *canon, *why = NULL;
    mg_request_t sreq;
    mg_decision_t d2;
    int n = others ? others->nelts : 0;

    /* as mg_mod_evaluate: a refusal or a refused URL is the answer already */
    if (d->outcome != MG_OUTCOME_ALLOW || req->d == NULL || !req->d->ok)
        return;
    canon = req->d->canon.path;
    /* as the hook: the target as authorization reads it, an origin path */
    if (mg_target_split(pool, spec->url ? spec->url : "/", &t, NULL) != MG_OK || t.path[0] != '/')
        return;
    for (int i = -1; i < n; i++) {
        const mg_policy_t *p = i < 0 ? policy : APR_ARRAY_IDX(others, i, const mg_policy_t *);
        const char *eff = mg_path_token_effective(pool, p, t.path);
        if (eff == NULL)
            continue;
        if (found != NULL && strcmp(found, eff) != 0)
            return; /* two readings: the hook leaves the path as sent (MG00901) */
        found = eff;
        by = mg_policy_name(p);
    }
    if (found == NULL)
        return;
    /* the same resource, byte for byte or once canonicalised: decided */
    served_raw = httpd_escape_path(pool, found);
    if (strcmp(served_raw, t.path) == 0)
        return;
    st = t; /* the same scheme, authority and query */
    st.path = served_raw;
    mgctl_request_build_at(pool, policy, spec, &st, &sreq, &why);
    if (sreq.d != NULL && sreq.d->ok && strcmp(sreq.d->canon.path, canon) == 0)
        return;
    memset(&d2, 0, sizeof(d2));
    mg_evaluate(pool, policy, &sreq, trace, &d2);
    const char *served = (sreq.d != NULL && sreq.d->ok) ? sreq.d->canon.path : found;
    if (!stricter(d, &d2)) {
        if (trace)
            trace_note(pool, d,
                       apr_psprintf(pool,
                                    "served path %s (the path token of policy %s maps the "
                                    "request there): decided as well, %s %s, not stricter",
                                    served, by, mg_outcome_name(d2.outcome),
                                    mg_access_name(d2.access)));
        return;
    }
    d2.detail = apr_psprintf(
        pool,
        "served URI %s differs from the request target %s and is decided more strictly%s%s; put "
        "Require media-guard on the public URL or give the served path its own rule",
        served, canon, d2.detail ? ": " : "", d2.detail ? d2.detail : "");
    *d = d2;
    if (trace)
        trace_note(pool, d,
                   apr_psprintf(pool,
                                "served path %s (the path token of policy %s maps the request "
                                "there): decided more strictly than the target %s, which was "
                                "allowed",
                                served, by, canon));
}
