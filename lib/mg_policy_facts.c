/* mg_policy_facts.c — what a loaded policy means, for callers that must not
 * re-derive it from the rule structures (mg.h, "What a policy means"):
 * whether a grant is the same for every client (the module's Cache-Control),
 * and which rule reaches above a directory (the module's configtest warning
 * about a narrow <Location>). Neither runs in the evaluator; both read the
 * rules exactly as the loader normalised them.
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_policy.h"

static const mg_rule_t *rule_by_id(const mg_policy_t *pol, const char *id)
{
    int i;
    for (i = 0; pol->rules != NULL && i < pol->rules->nelts; i++) {
        const mg_rule_t *x = &APR_ARRAY_IDX(pol->rules, i, mg_rule_t);
        if (x->id != NULL && strcmp(x->id, id) == 0)
            return x;
    }
    return NULL;
}

int mg_policy_same_for_everyone(const mg_policy_t *policy, const mg_decision_t *d)
{
    const mg_rule_t *rule;
    int i;

    if (d->outcome != MG_OUTCOME_ALLOW)
        return 0;
    if (d->reason == MG_R_DEFAULT_ALLOW)
        return 1;
    if (d->reason != MG_R_ALLOWED || policy == NULL || d->rule_id == NULL)
        return 0;
    rule = rule_by_id(policy, d->rule_id);
    /* a condition that can tell clients apart makes the answer private */
    if (rule == NULL || rule->ip_allow || rule->ip_deny || rule->hotlink ||
        (rule->country_allow && rule->country_allow->nelts) ||
        (rule->country_deny && rule->country_deny->nelts) || (rule->time && rule->time->nelts))
        return 0;
    for (i = 0; rule->access && i < rule->access->nelts; i++) {
        const mg_role_access_t *ra = &APR_ARRAY_IDX(rule->access, i, mg_role_access_t);
        if (ra->role == MG_ROLE_ANONYMOUS)
            return ra->access >= d->access;
    }
    return 0;
}

/* The literal directory a pattern judges, normalised as the loader does
 * (docs/policy.md, "Paths"): its leading literal segments (literal_depth),
 * so "/photos" and "/photos/" are both "/photos/", and a glob such as
 * "/thumbs/x-?.jpg" is "/thumbs/". */
static const char *pattern_dir(apr_pool_t *p, const mg_pathpat_t *pat)
{
    const char *t = pat->text ? pat->text : "/", *q = t;
    int i;

    for (i = 0; i < pat->literal_depth && *q != '\0'; i++) {
        q += strspn(q, "/");
        q += strcspn(q, "/");
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, t, (apr_size_t)(q - t)), "/", NULL);
}

int mg_policy_rule_above(apr_pool_t *pool, const mg_policy_t *policy, const char *dir, int part,
                         const char **rule_id, const char **pattern)
{
    int i, j;

    for (i = 0; policy != NULL && policy->rules != NULL && i < policy->rules->nelts; i++) {
        const mg_rule_t *rule = &APR_ARRAY_IDX(policy->rules, i, mg_rule_t);
        for (j = 0; rule->paths != NULL && j < rule->paths->nelts; j++) {
            const mg_pathpat_t *pat = &APR_ARRAY_IDX(rule->paths, j, mg_pathpat_t);
            const char *pd = pattern_dir(pool, pat);
            size_t n = strlen(pd);
            if (strncmp(dir, pd, n) != 0 || (!part && dir[n] == '\0'))
                continue;
            *rule_id = rule->id;
            *pattern = pat->text ? pat->text : "/";
            return 1;
        }
    }
    return 0;
}
