/* mgctl_testfile.c — reads policy test files (docs/policy-tests.md) with the
 * loader's YAML node tree (lib/mg_yaml.h), so that a mistake in a test file
 * is reported with file:line:column exactly like a mistake in a policy:
 * unknown keys (with "did you mean"), wrong types, bad values.
 */
#include "mg_ascii.h"
#include "mgctl_testfile.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "mg_diag.h"
#include "mg_http.h"
#include "mg_time.h"
#include "mg_yaml.h"

const char *const mgctl_expect_fields[] = {"decision", "access",   "rule",    "reason",
                                           "status",   "location", "message", "page",
                                           "corp",     "filename", NULL};

/* A reason name's parts: '-' separates them ('_' and ' ' are taken as
 * misspelt '-'). */
static int reason_sep(char c)
{
    return c == '-' || c == '_' || c == ' ';
}

/* Does the written part w[0..wn) stand for the candidate's part c[0..cn)?
 * The same word, its start ("sig" for "signature"), or for words of five
 * letters or more a typo mg_suggest accepts. Case-insensitive. */
static int reason_part_matches(apr_pool_t *pool, const char *w, size_t wn, const char *c, size_t cn)
{
    if (wn == 0)
        return 0;
    if (wn <= cn && apr_cstr_casecmpn(w, c, wn) == 0)
        return wn == cn || wn >= 2;
    if (wn < 5)
        return 0;
    const char *cand[] = {apr_pstrmemdup(pool, c, cn), NULL};
    return mg_suggest(apr_pstrmemdup(pool, w, wn), cand) != NULL;
}

/* All of word's parts stand, in order, for parts of candidate: 'outside-window'
 * for 'outside-time-window', 'token-sig' for 'token-bad-signature'. Greedy
 * earliest matching finds an in-order match whenever one exists. */
static int reason_parts_match(apr_pool_t *pool, const char *word, const char *cand)
{
    const char *w = word, *c = cand;
    while (*w) {
        while (reason_sep(*w))
            w++;
        if (!*w)
            break;
        size_t wn = strcspn(w, "-_ ");
        int found = 0;
        while (*c && !found) {
            while (*c == '-')
                c++;
            size_t cn = strcspn(c, "-");
            found = reason_part_matches(pool, w, wn, c, cn);
            c += cn;
        }
        if (!found)
            return 0;
        w += wn;
    }
    return 1;
}

/* The hint for an unknown reason name. mg_suggest finds typos (edit
 * distance up to 2); reason names are several words, so a name with a
 * word left out or shortened is far from its code by that measure: also
 * offer every reason whose parts the name's parts stand for, in order,
 * when there are at most three of them. */
static const char *reason_hint(apr_pool_t *pool, const char *word)
{
    const char *names[MG_R__COUNT + 1];
    for (int r = 0; r < MG_R__COUNT; r++)
        names[r] = mg_reason_name((mg_reason_t)r);
    names[MG_R__COUNT] = NULL;
    const char *sug = mg_suggest(word, names);
    if (sug)
        return apr_psprintf(pool, "did you mean '%s'?", sug);
    const char *found[3];
    int n = 0;
    for (int r = 0; r < MG_R__COUNT; r++) {
        if (!reason_parts_match(pool, word, names[r]))
            continue;
        if (n == 3)
            return "see the reason codes in docs/policy.md";
        found[n++] = names[r];
    }
    switch (n) {
    case 1:
        return apr_psprintf(pool, "did you mean '%s'?", found[0]);
    case 2:
        return apr_psprintf(pool, "did you mean '%s' or '%s'?", found[0], found[1]);
    case 3:
        return apr_psprintf(pool, "did you mean '%s', '%s' or '%s'?", found[0], found[1], found[2]);
    }
    return "see the reason codes in docs/policy.md";
}

static const char *const top_keys[] = {"policy", "server_policies", "defaults", "tests", NULL};
static const char *const case_keys[] = {"name", "request", "expect", NULL};
/* `url` only in a case's request, not in defaults (checked separately). */
static const char *const request_keys[] = {"url", "method", "scheme",  "user", "roles",
                                           "ip",  "peer",   "country", "time", "headers",
                                           "env", "notes",  "require", NULL};

typedef struct tctx {
    apr_pool_t *pool;
    const char *file;
    mg_diags_t *diags;
} tctx_t;

static mg_diag_t *terr(tctx_t *c, const mg_ynode_t *at, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static mg_diag_t *terr(tctx_t *c, const mg_ynode_t *at, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_diag_t *d = mg_diag_addv(c->diags, MG_SEV_ERROR, c->file, at ? at->line : 0,
                                at ? at->col : 0, code, fmt, ap);
    va_end(ap);
    return d;
}

/* Is `map` a mapping whose keys are all in `names`? Reports each stranger. */
static int check_map(tctx_t *c, const mg_ynode_t *map, const char *where, const char *const *names)
{
    if (!map || map->kind != MG_Y_MAP) {
        terr(c, map, "wrong-type", "%s must be a mapping, got %s", where,
             mg_ynode_describe(c->pool, map));
        return -1;
    }
    int ok = 0;
    for (int i = 0; i < map->n; i++) {
        const char *k = map->pairs[i].key->str;
        int known = 0;
        for (const char *const *n = names; *n; n++)
            if (strcmp(*n, k) == 0)
                known = 1;
        if (!known) {
            mg_diag_t *d =
                terr(c, map->pairs[i].key, "unknown-key", "unknown key '%s' in %s", k, where);
            const char *s = mg_suggest(k, names);
            if (s)
                d->hint = apr_psprintf(c->pool, "did you mean '%s'?", s);
            ok = -1;
        }
    }
    return ok;
}

/* A non-null scalar. */
static const char *scalar(tctx_t *c, const mg_ynode_t *n, const char *key)
{
    if (!n || n->kind != MG_Y_SCALAR || mg_ynode_is_null(n)) {
        terr(c, n, "wrong-type", "'%s' must be a string, got %s", key,
             mg_ynode_describe(c->pool, n));
        return NULL;
    }
    return n->str;
}

/* name: value mapping of scalars into a table (set: later keys win). */
static int scalar_map(tctx_t *c, const mg_ynode_t *n, const char *key, apr_table_t *t)
{
    if (n->kind != MG_Y_MAP) {
        terr(c, n, "wrong-type", "'%s' must be a mapping of names to values, got %s", key,
             mg_ynode_describe(c->pool, n));
        return -1;
    }
    int ok = 0;
    for (int i = 0; i < n->n; i++) {
        const mg_ynode_t *v = n->pairs[i].value;
        const char *name = n->pairs[i].key->str;
        if (v->kind != MG_Y_SCALAR) {
            terr(c, v, "wrong-type", "'%s.%s' must be a string, got %s", key, name,
                 mg_ynode_describe(c->pool, v));
            ok = -1;
            continue;
        }
        /* null removes a name set by `defaults` (e.g. test a request
         * without Sec-Fetch-Site when defaults send one) */
        if (mg_ynode_is_null(v))
            apr_table_unset(t, name);
        else
            apr_table_set(t, name, v->str);
    }
    return ok;
}

/* Apply a `request` (or `defaults`) mapping onto spec. */
static int parse_request(tctx_t *c, const mg_ynode_t *map, const char *where, mgctl_reqspec_t *spec,
                         mgctl_case_t *tc, int is_defaults)
{
    if (check_map(c, map, where, request_keys) != 0 && (!map || map->kind != MG_Y_MAP))
        return -1;
    int ok = 0;
    for (int i = 0; i < map->n; i++) {
        const char *k = map->pairs[i].key->str;
        const mg_ynode_t *v = map->pairs[i].value;
        const char *s = NULL;
        if (strcmp(k, "headers") == 0) {
            ok |= scalar_map(c, v, k, spec->headers);
            continue;
        }
        if (strcmp(k, "env") == 0) {
            ok |= scalar_map(c, v, k, spec->env);
            continue;
        }
        if (strcmp(k, "notes") == 0) {
            ok |= scalar_map(c, v, k, spec->notes);
            continue;
        }
        if (strcmp(k, "require") == 0) {
            /* Require lines that pass (roles_from apache:); a case's list
             * replaces the defaults' list, ~ takes it back */
            spec->requires = apr_array_make(c->pool, 2, sizeof(const char *));
            if (v->kind == MG_Y_SCALAR && mg_ynode_is_null(v)) {
            } else if (v->kind == MG_Y_SCALAR) {
                APR_ARRAY_PUSH(spec->requires, const char *) = v->str;
            } else if (v->kind == MG_Y_SEQ) {
                for (int j = 0; j < v->n; j++) {
                    const char *r = scalar(c, v->items[j], "require");
                    if (r)
                        APR_ARRAY_PUSH(spec->requires, const char *) = r;
                    else
                        ok = -1;
                }
            } else {
                terr(c, v, "wrong-type",
                     "'require' must be a list of Require lines such as 'group editors', got %s",
                     mg_ynode_describe(c->pool, v));
                ok = -1;
            }
            continue;
        }
        if (strcmp(k, "roles") == 0) {
            /* a case's roles replace the defaults' roles */
            spec->roles = apr_array_make(c->pool, 4, sizeof(const char *));
            if (v->kind == MG_Y_SCALAR && mg_ynode_is_null(v)) {
                /* roles: ~ takes the defaults' roles back */
            } else if (v->kind == MG_Y_SCALAR) {
                APR_ARRAY_PUSH(spec->roles, const char *) = v->str;
            } else if (v->kind == MG_Y_SEQ) {
                for (int j = 0; j < v->n; j++) {
                    const char *r = scalar(c, v->items[j], "roles");
                    if (r)
                        APR_ARRAY_PUSH(spec->roles, const char *) = r;
                    else
                        ok = -1;
                }
            } else {
                terr(c, v, "wrong-type", "'roles' must be a list of role names, got %s",
                     mg_ynode_describe(c->pool, v));
                ok = -1;
            }
            continue;
        }
        int known = 0;
        for (const char *const *n = request_keys; *n; n++)
            known |= strcmp(*n, k) == 0;
        if (!known)
            continue; /* already reported by check_map */
        /* null takes back a value from `defaults` (e.g. user: ~ for an
         * anonymous case in a file whose defaults sign everybody in) */
        if (v->kind == MG_Y_SCALAR && mg_ynode_is_null(v) &&
            (strcmp(k, "user") == 0 || strcmp(k, "country") == 0 || strcmp(k, "peer") == 0 ||
             strcmp(k, "ip") == 0 || strcmp(k, "scheme") == 0 || strcmp(k, "method") == 0)) {
            if (strcmp(k, "user") == 0)
                spec->user = NULL;
            else if (strcmp(k, "country") == 0)
                spec->country = NULL;
            else if (strcmp(k, "peer") == 0)
                spec->peer = NULL;
            else if (strcmp(k, "ip") == 0)
                spec->ip = NULL;
            else if (strcmp(k, "scheme") == 0)
                spec->scheme = NULL;
            else
                spec->method = "GET";
            continue;
        }
        if (!(s = scalar(c, v, k))) {
            ok = -1;
            continue;
        }
        if (strcmp(k, "url") == 0) {
            if (is_defaults) {
                terr(c, map->pairs[i].key, "unknown-key",
                     "'url' belongs in each test's request, not in defaults");
                ok = -1;
            } else if (s[0] != '/' && apr_cstr_casecmpn(s, "http://", 7) != 0 &&
                       apr_cstr_casecmpn(s, "https://", 8) != 0) {
                terr(c, v, "bad-url", "'url' must start with '/' or http(s)://, got '%s'", s);
                ok = -1;
            }
            spec->url = s;
        } else if (strcmp(k, "method") == 0) {
            spec->method = s;
        } else if (strcmp(k, "scheme") == 0) {
            if (strcmp(s, "http") != 0 && strcmp(s, "https") != 0) {
                terr(c, v, "bad-value", "'scheme' must be http or https, got '%s'", s);
                ok = -1;
            }
            spec->scheme = s;
        } else if (strcmp(k, "user") == 0) {
            spec->user = s;
        } else if (strcmp(k, "ip") == 0) {
            spec->ip = s;
        } else if (strcmp(k, "peer") == 0) {
            spec->peer = s;
        } else if (strcmp(k, "country") == 0) {
            if ((spec->country = mg_country_norm(c->pool, s)) == NULL) {
                terr(c, v, "bad-value",
                     "'country' must be a two-letter ISO 3166 code or T1 (Tor), got '%s'", s);
                ok = -1;
            }
        } else if (strcmp(k, "time") == 0) {
            if (mg_time_parse(s, &spec->now) != 0) {
                mg_diag_t *d = terr(c, v, "bad-time", "'time' is not an RFC 3339 time: '%s'", s);
                d->hint = "write e.g. 2026-11-23T10:00:00Z or 2026-11-23T11:00:00+01:00";
                ok = -1;
            }
            tc->time_set = 1;
            tc->time_line = v->line;
            tc->time_col = v->col;
        }
    }
    return ok;
}

static int parse_expect(tctx_t *c, const mg_ynode_t *map, mgctl_case_t *tc)
{
    if (check_map(c, map, "expect", mgctl_expect_fields) != 0 && (!map || map->kind != MG_Y_MAP))
        return -1;
    int ok = 0;
    if (!mg_ynode_get(map, "decision")) {
        terr(c, map, "missing-key", "'expect' needs a 'decision' (allow, deny, login or auth)");
        ok = -1;
    }
    for (int i = 0; i < map->n; i++) {
        const char *k = map->pairs[i].key->str;
        const mg_ynode_t *v = map->pairs[i].value;
        int known = 0;
        for (const char *const *n = mgctl_expect_fields; *n; n++)
            known |= strcmp(*n, k) == 0;
        if (!known)
            continue;
        mgctl_expect_t *e = apr_array_push(tc->expect);
        e->field = k;
        e->line = v->line;
        e->col = v->col;
        if (v->kind != MG_Y_SCALAR) {
            terr(c, v, "wrong-type", "'%s' must be a scalar, got %s", k,
                 mg_ynode_describe(c->pool, v));
            ok = -1;
            continue;
        }
        /* null = "the decision has none" (e.g. rule: ~ when no rule owns it) */
        e->value = mg_ynode_is_null(v) ? NULL : v->str;
        const char *s = e->value;
        if (strcmp(k, "decision") == 0) {
            if (!s || (strcmp(s, "allow") && strcmp(s, "deny") && strcmp(s, "login") &&
                       strcmp(s, "auth"))) {
                terr(c, v, "bad-value", "'decision' must be allow, deny, login or auth, got '%s'",
                     s ? s : "null");
                ok = -1;
            }
        } else if (strcmp(k, "access") == 0) {
            if (!s || (strcmp(s, "none") && strcmp(s, "view") && strcmp(s, "download"))) {
                terr(c, v, "bad-value", "'access' must be none, view or download, got '%s'",
                     s ? s : "null");
                ok = -1;
            }
        } else if (strcmp(k, "reason") == 0) {
            if (!s || mg_reason_parse(s) < 0) {
                mg_diag_t *d = terr(c, v, "bad-value", "unknown reason '%s'", s ? s : "null");
                d->hint = s ? reason_hint(c->pool, s) : "see the reason codes in docs/policy.md";
                ok = -1;
            }
        } else if (strcmp(k, "status") == 0) {
            char *end;
            long st = s ? strtol(s, &end, 10) : 0;
            if (!s || *end || st < 100 || st > 599) {
                terr(c, v, "bad-value", "'status' must be an HTTP status 100-599, got '%s'",
                     s ? s : "null");
                ok = -1;
            } else {
                e->value = apr_ltoa(c->pool, st);
            }
        }
    }
    return ok;
}

static mgctl_reqspec_t *spec_copy(apr_pool_t *pool, const mgctl_reqspec_t *d)
{
    mgctl_reqspec_t *s = apr_pmemdup(pool, d, sizeof(*d));
    s->roles = apr_array_copy(pool, d->roles);
    s->requires = apr_array_copy(pool, d->requires);
    s->headers = apr_table_copy(pool, d->headers);
    s->env = apr_table_copy(pool, d->env);
    s->notes = apr_table_copy(pool, d->notes);
    return s;
}

static const char *resolve_policy(apr_pool_t *pool, const char *testfile, const char *policy)
{
    if (policy[0] == '/')
        return policy;
    const char *slash = strrchr(testfile, '/');
    if (!slash)
        return policy;
    char *dir = apr_pstrmemdup(pool, testfile, (apr_size_t)(slash - testfile + 1));
    return apr_pstrcat(pool, dir, policy, NULL);
}

mg_status_t mgctl_testfile_parse(apr_pool_t *pool, const char *file, const char *buf, size_t len,
                                 mgctl_testfile_t **out, mg_diags_t *diags)
{
    tctx_t c = {pool, file, diags};
    int errors_before = diags->errors;
    mg_ynode_t *root = NULL;
    *out = NULL;
    if (mg_yaml_parse(pool, file, buf, len, &root, diags) != MG_OK || diags->errors > errors_before)
        return MG_EINVAL;
    if (!root) {
        mg_diag_add(diags, MG_SEV_ERROR, file, 0, 0, "empty", "the test file is empty");
        return MG_EINVAL;
    }
    if (root->kind == MG_Y_SCALAR) {
        /* never quoted (mg_ynode_describe_root: a key file's secret) */
        terr(&c, root, "wrong-type", "the test file must be a mapping, got %s",
             mg_ynode_describe_root(pool, root));
        return MG_EINVAL;
    }
    if (check_map(&c, root, "the test file", top_keys) != 0 && root->kind != MG_Y_MAP)
        return MG_EINVAL;

    mgctl_testfile_t *tf = apr_pcalloc(pool, sizeof(*tf));
    tf->file = file;
    tf->cases = apr_array_make(pool, 16, sizeof(mgctl_case_t));

    const mg_ynode_t *pn = mg_ynode_get(root, "policy");
    if (!pn) {
        terr(&c, root, "missing-key", "the test file needs 'policy: FILE' (relative to itself)");
    } else {
        const char *p = scalar(&c, pn, "policy");
        if (p)
            tf->policy_path = resolve_policy(pool, file, p);
        tf->policy_line = pn->line;
        tf->policy_col = pn->col;
    }

    /* the server's other policies (a list, or one file), relative to the
     * test file as `policy` is: their path tokens map the served path */
    tf->server_policies = apr_array_make(pool, 2, sizeof(mgctl_policy_ref_t));
    const mg_ynode_t *sn = mg_ynode_get(root, "server_policies");
    if (sn) {
        const mg_ynode_t *const *items =
            sn->kind == MG_Y_SEQ ? (const mg_ynode_t *const *)sn->items : &sn;
        int n = sn->kind == MG_Y_SEQ ? sn->n : 1;
        for (int i = 0; i < n; i++) {
            const char *p = scalar(&c, items[i], "server_policies");
            if (p == NULL)
                continue;
            mgctl_policy_ref_t *r = apr_array_push(tf->server_policies);
            r->path = resolve_policy(pool, file, p);
            r->line = items[i]->line;
            r->col = items[i]->col;
        }
    }

    mgctl_reqspec_t *defaults = mgctl_reqspec_make(pool);
    mgctl_case_t dcase;
    memset(&dcase, 0, sizeof(dcase));
    const mg_ynode_t *dn = mg_ynode_get(root, "defaults");
    if (dn)
        parse_request(&c, dn, "defaults", defaults, &dcase, 1);

    const mg_ynode_t *tests = mg_ynode_get(root, "tests");
    if (!tests) {
        terr(&c, root, "missing-key", "the test file needs a 'tests' list");
    } else if (tests->kind != MG_Y_SEQ) {
        terr(&c, tests, "wrong-type", "'tests' must be a list of test cases, got %s",
             mg_ynode_describe(pool, tests));
    } else if (tests->n == 0) {
        terr(&c, tests, "empty", "'tests' is empty: a test file without tests proves nothing");
    } else {
        apr_hash_t *names = apr_hash_make(pool);
        for (int i = 0; i < tests->n; i++) {
            const mg_ynode_t *t = tests->items[i];
            if (check_map(&c, t, "a test case", case_keys) != 0 && t->kind != MG_Y_MAP)
                continue;
            mgctl_case_t *tc = apr_array_push(tf->cases);
            memset(tc, 0, sizeof(*tc));
            tc->line = t->line;
            tc->col = t->col;
            tc->expect = apr_array_make(pool, 4, sizeof(mgctl_expect_t));
            tc->time_set = dcase.time_set;
            tc->time_line = dcase.time_line;
            tc->time_col = dcase.time_col;
            tc->spec = spec_copy(pool, defaults);
            tc->spec->url = NULL;

            const mg_ynode_t *nn = mg_ynode_get(t, "name");
            if (!nn) {
                terr(&c, t, "missing-key", "a test case needs a 'name'");
                tc->name = apr_psprintf(pool, "test #%d", i + 1);
            } else if ((tc->name = scalar(&c, nn, "name")) != NULL) {
                if (apr_hash_get(names, tc->name, APR_HASH_KEY_STRING))
                    terr(&c, nn, "duplicate-name", "two test cases are named '%s'", tc->name);
                apr_hash_set(names, tc->name, APR_HASH_KEY_STRING, tc);
            } else {
                tc->name = apr_psprintf(pool, "test #%d", i + 1);
            }

            const mg_ynode_t *rn = mg_ynode_get(t, "request");
            if (!rn)
                terr(&c, t, "missing-key", "test '%s' needs a 'request'", tc->name);
            else if (parse_request(&c, rn, "request", tc->spec, tc, 0) == 0 && !tc->spec->url)
                terr(&c, rn, "missing-key", "test '%s': the request needs a 'url'", tc->name);

            const mg_ynode_t *en = mg_ynode_get(t, "expect");
            if (!en)
                terr(&c, t, "missing-key", "test '%s' needs an 'expect'", tc->name);
            else
                parse_expect(&c, en, tc);
        }
    }
    if (diags->errors > errors_before)
        return MG_EINVAL;
    *out = tf;
    return MG_OK;
}

const char *mgctl_expect_actual(apr_pool_t *pool, const char *field, const mg_decision_t *d)
{
    if (strcmp(field, "decision") == 0)
        return mg_outcome_name(d->outcome);
    if (strcmp(field, "access") == 0)
        return mg_access_name(d->outcome == MG_OUTCOME_ALLOW ? d->access : MG_ACCESS_NONE);
    if (strcmp(field, "rule") == 0)
        return d->rule_id;
    if (strcmp(field, "reason") == 0)
        return mg_reason_name(d->reason);
    if (strcmp(field, "status") == 0)
        return apr_itoa(pool, mg_decision_http_status(d));
    if (strcmp(field, "location") == 0)
        return d->location;
    if (strcmp(field, "message") == 0)
        return d->message;
    if (strcmp(field, "page") == 0)
        return d->page;
    if (strcmp(field, "corp") == 0)
        return d->corp;
    if (strcmp(field, "filename") == 0)
        return d->filename;
    return NULL;
}
