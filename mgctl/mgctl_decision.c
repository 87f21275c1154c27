/* mgctl_decision.c — a decision as mgctl shows it: the HTTP status the module
 * answers with (mg_decision_http_status, lib/mg_http.h: the module's own
 * mapping), what changes when Apache authenticated the user first, and the
 * decision as text or one JSON object.
 */
#include "mgctl_util.h"

#include "mg_http.h"

#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

int mgctl_spec_authenticates(apr_pool_t *pool, const mg_policy_t *policy,
                             const apr_array_header_t *others, const mgctl_reqspec_t *spec)
{
    if (spec->user == NULL)
        return 0;
    /* the module's first pass: no REMOTE_USER, and none of the roles given
     * for the user; the rest of the request is the same */
    mgctl_reqspec_t anon = *spec;
    anon.user = NULL;
    anon.roles = NULL;
    anon.requires = NULL; /* group providers need a user: AUTHZ_DENIED_NO_USER */
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;
    mgctl_request_build(pool, policy, &anon, &req, &why);
    memset(&d, 0, sizeof(d));
    mg_evaluate(pool, policy, &req, 0, &d);
    /* the module's first pass decides the served path too (mgctl_served.c) */
    mgctl_served_decide(pool, policy, others, &anon, &req, 0, &d);
    return d.outcome == MG_OUTCOME_AUTH || d.outcome == MG_OUTCOME_LOGIN;
}

int mgctl_decision_signed_in_status(const mg_decision_t *d, int authenticated)
{
    /* mod_authz_core answers a refusal after authentication with 401 (a new
     * password prompt), never reaching the module's status or message,
     * unless AuthzSendForbiddenOnFailure On makes it the 403 that carries
     * them (docs/directives.md). An internal error stays a 500. */
    return authenticated && d->outcome == MG_OUTCOME_DENY && d->reason != MG_R_INTERNAL ? 401 : 0;
}

void mgctl_decision_print(FILE *out, apr_pool_t *pool, const mg_decision_t *d, int authenticated,
                          int indent)
{
    int in = indent;
    int alt = mgctl_decision_signed_in_status(d, authenticated);
    fprintf(out, "%*sdecision: %s\n", in, "", mg_outcome_name(d->outcome));
    if (d->outcome == MG_OUTCOME_ALLOW)
        fprintf(out, "%*saccess:   %s%s\n", in, "", mg_access_name(d->access),
                d->download ? " (download requested)" : "");
    fprintf(out, "%*srule:     %s\n", in, "",
            d->rule_id ? mg_one_line(pool, d->rule_id) : "(none)");
    fprintf(out, "%*sreason:   %s\n", in, "", mg_reason_name(d->reason));
    if (alt != 0)
        fprintf(out, "%*sstatus:   %d (%d without AuthzSendForbiddenOnFailure On)\n", in, "",
                mg_decision_http_status(d), alt);
    else
        fprintf(out, "%*sstatus:   %d\n", in, "", mg_decision_http_status(d));
    /* what Apache's decision line says under `Require not` for such a refusal */
    if (d->outcome != MG_OUTCOME_ALLOW && d->reason != MG_R_INTERNAL &&
        mg_decision_counts_under_negation(d))
        fprintf(out,
                "%*snegated:  counted as allowed (a refusal of the request's form): "
                "Require not media-guard refuses\n",
                in, "");
    if (d->location)
        fprintf(out, "%*slocation: %s\n", in, "", mg_one_line(pool, d->location));
    if (d->message)
        fprintf(out, "%*smessage:  %s\n", in, "", mg_one_line(pool, d->message));
    if (d->page)
        fprintf(out, "%*spage:     %s\n", in, "", mg_one_line(pool, d->page));
    if (d->filename)
        fprintf(out, "%*sfilename: %s\n", in, "", mg_one_line(pool, d->filename));
    if (d->corp)
        fprintf(out, "%*scorp:     %s\n", in, "", mg_one_line(pool, d->corp));
    if (d->detail)
        fprintf(out, "%*sdetail:   %s\n", in, "", mg_one_line(pool, d->detail));
    if (d->trace && d->trace->nelts > 0) {
        fprintf(out, "%*strace:\n", in, "");
        for (int i = 0; i < d->trace->nelts; i++)
            fprintf(out, "%*s  %s\n", in, "",
                    mg_one_line(pool, APR_ARRAY_IDX(d->trace, i, const char *)));
    }
}

const char *mgctl_decision_json(apr_pool_t *pool, const mg_policy_t *policy, const mg_decision_t *d,
                                int authenticated)
{
    int alt = mgctl_decision_signed_in_status(d, authenticated);
    const char *trace = "[]";
    if (d->trace && d->trace->nelts > 0) {
        apr_array_header_t *parts = apr_array_make(pool, d->trace->nelts, sizeof(char *));
        for (int i = 0; i < d->trace->nelts; i++)
            APR_ARRAY_PUSH(parts, const char *) =
                mgctl_json_str(pool, APR_ARRAY_IDX(d->trace, i, const char *));
        trace = apr_pstrcat(pool, "[", apr_array_pstrcat(pool, parts, ','), "]", NULL);
    }
    return apr_psprintf(
        pool,
        "{\"policy\":%s,\"digest\":%s,\"decision\":%s,\"access\":%s,\"rule\":%s,"
        "\"reason\":%s,\"status\":%d,\"status_without_forbidden_on_failure\":%s,\"location\":%s,"
        "\"message\":%s,\"page\":%s,"
        "\"download\":%s,\"filename\":%s,\"corp\":%s,\"detail\":%s,\"trace\":%s}",
        mgctl_json_str(pool, policy ? mg_policy_name(policy) : NULL),
        mgctl_json_str(pool, policy ? mg_policy_digest(policy) : NULL),
        mgctl_json_str(pool, mg_outcome_name(d->outcome)),
        mgctl_json_str(pool, d->outcome == MG_OUTCOME_ALLOW ? mg_access_name(d->access)
                                                            : mg_access_name(MG_ACCESS_NONE)),
        mgctl_json_str(pool, d->rule_id), mgctl_json_str(pool, mg_reason_name(d->reason)),
        mg_decision_http_status(d), alt ? apr_itoa(pool, alt) : "null",
        mgctl_json_str(pool, d->location), mgctl_json_str(pool, d->message),
        mgctl_json_str(pool, d->page), d->download ? "true" : "false",
        mgctl_json_str(pool, d->filename), mgctl_json_str(pool, d->corp),
        mgctl_json_str(pool, d->detail), trace);
}
