/* mgctl_test.c — `mgctl test FILE...`: run policy test files, in the spirit
 * of `opa test`. Each case is a request and the decision it must get; the
 * request goes through the same mg_request_prepare/mg_evaluate as in
 * Apache. A failing case prints expected vs got and the evaluation trace.
 */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg.h"
#include "mg_diag.h"
#include "mg_file.h"
#include "mgctl_testfile.h"
#include "mgctl_util.h"

#define MGCTL_TESTFILE_MAX (4 * 1024 * 1024)

static const char usage_text[] =
    "Usage: mgctl test [OPTIONS] FILE...\n"
    "\n"
    "Run policy test files. Each file names a policy ('policy:', relative to the\n"
    "test file) and a list of cases, each a request and the expected decision\n"
    "(format: docs/policy-tests.md, mgctl(1)). Every case prints PASS or FAIL;\n"
    "a failure shows expected vs got and the evaluation trace.\n"
    "\n"
    "Options:\n"
    "  -r, --run TEXT    only cases whose name contains TEXT\n"
    "  -v, --verbose     print the decision and trace of passing cases too\n"
    "  -q, --quiet       print failures and the summary only\n"
    "  -f, --format FMT  text (default), github (adds ::error annotations\n"
    "                    pointing at failing cases) or json (one object: every\n"
    "                    case with expected vs got and the decision, and the\n"
    "                    diagnostics of invalid files)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Each option may be given once.\n"
    "\n"
    "Exit status: 0 all cases passed, 1 a case failed or a test file or policy\n"
    "is invalid, 2 usage error or a file that cannot be read.\n";

static const apr_getopt_option_t opts[] = {
    {"run", 'r', 1, "text in the names of the cases to run"},
    {"verbose", 'v', 0, "verbose"},
    {"quiet", 'q', 0, "quiet"},
    {"format", 'f', 1, "text (default), json or github"},
    {"help", 'h', 0, "show this help"},
    {NULL, 0, 0, NULL},
};

typedef struct topts {
    const char *run;
    int verbose, quiet;
    mgctl_format_t fmt;
    /* --format json: results are collected (in the command's pool, which
     * outlives the per-file pools) and printed as one object at the end */
    apr_pool_t *jpool;
    apr_array_header_t *jcases; /* const char*: JSON objects */
    apr_array_header_t *jdiags;
} topts_t;

/* Diagnostics of an invalid test file or policy, in the chosen format. */
static void emit_diags(const topts_t *o, apr_pool_t *pool, mg_diags_t *ds)
{
    mg_diags_sort(ds);
    if (o->fmt != MGCTL_FMT_JSON) {
        mgctl_diags_print(stdout, pool, ds, o->fmt, 1);
        return;
    }
    const mg_diag_t *items = (const mg_diag_t *)ds->items->elts;
    for (int i = 0; i < ds->items->nelts && i < MG_DIAG_SHOW_MAX; i++)
        APR_ARRAY_PUSH(o->jdiags, const char *) = mgctl_diag_json(o->jpool, &items[i]);
}

typedef struct tally {
    int passed, failed, skipped, io, invalid;
} tally_t;

/* Expected and actual compare as text; NULL (YAML ~) matches only NULL. */
static int expect_holds(const mgctl_expect_t *e, const char *got)
{
    if (!e->value || !got)
        return e->value == got;
    return strcmp(e->value, got) == 0;
}

static void show(apr_pool_t *pool, const char *v, FILE *out)
{
    if (v)
        fprintf(out, "'%s'", mg_one_line(pool, v));
    else
        fputs("(none)", out);
}

static int run_case(apr_pool_t *pool, const mgctl_testfile_t *tf, const mg_policy_t *policy,
                    const apr_array_header_t *others, const mgctl_case_t *tc, const topts_t *o)
{
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;
    mgctl_request_build(pool, policy, tc->spec, &req, &why);
    memset(&d, 0, sizeof(d));
    mg_evaluate(pool, policy, &req, 1, &d);
    /* the path Apache serves, as explain decides it (mgctl_served.c) */
    mgctl_served_decide(pool, policy, others, tc->spec, &req, 1, &d);
    int authn = mgctl_spec_authenticates(pool, policy, others, tc->spec);

    int failed = 0;
    apr_array_header_t *jexp = apr_array_make(pool, tc->expect->nelts, sizeof(const char *));
    for (int i = 0; i < tc->expect->nelts; i++) {
        const mgctl_expect_t *e = &APR_ARRAY_IDX(tc->expect, i, mgctl_expect_t);
        const char *got = mgctl_expect_actual(pool, e->field, &d);
        int bad = !expect_holds(e, got);
        failed |= bad;
        if (o->fmt == MGCTL_FMT_JSON)
            APR_ARRAY_PUSH(jexp, const char *) =
                apr_psprintf(pool, "{\"field\":%s,\"expected\":%s,\"got\":%s,\"ok\":%s}",
                             mgctl_json_str(pool, e->field), mgctl_json_str(pool, e->value),
                             mgctl_json_str(pool, got), bad ? "false" : "true");
    }
    if (o->fmt == MGCTL_FMT_JSON) {
        APR_ARRAY_PUSH(o->jcases, const char *) = apr_psprintf(
            o->jpool,
            "{\"file\":%s,\"line\":%d,\"name\":%s,\"passed\":%s,\"method\":%s,\"url\":%s,"
            "\"url_refused\":%s,\"expect\":[%s],\"decision\":%s}",
            mgctl_json_str(pool, tf->file), tc->line, mgctl_json_str(pool, tc->name),
            failed ? "false" : "true", mgctl_json_str(pool, req.method),
            mgctl_json_str(pool, tc->spec->url), mgctl_json_str(pool, why),
            apr_array_pstrcat(pool, jexp, ','), mgctl_decision_json(pool, policy, &d, authn));
        return failed;
    }

    if (!failed) {
        if (!o->quiet)
            printf("PASS %s\n", mg_one_line(pool, tc->name));
        if (o->verbose)
            mgctl_decision_print(stdout, pool, &d, authn, 5);
        return 0;
    }
    printf("FAIL %s (%s:%d)\n", mg_one_line(pool, tc->name), mg_one_line(pool, tf->file), tc->line);
    for (int i = 0; i < tc->expect->nelts; i++) {
        const mgctl_expect_t *e = &APR_ARRAY_IDX(tc->expect, i, mgctl_expect_t);
        const char *got = mgctl_expect_actual(pool, e->field, &d);
        int bad = !expect_holds(e, got);
        printf("     %s %-8s expected ", bad ? "x" : " ", e->field);
        show(pool, e->value, stdout);
        fputs(", got ", stdout);
        show(pool, got, stdout);
        fputc('\n', stdout);
    }
    printf("     request: %s %s\n", mg_one_line(pool, req.method),
           mg_one_line(pool, tc->spec->url));
    if (why)
        printf("     url refused: %s\n", mg_one_line(pool, why));
    mgctl_decision_print(stdout, pool, &d, authn, 5);
    if (o->fmt == MGCTL_FMT_GITHUB) {
        /* one annotation per failing case, at the case */
        mg_diags_t *ds = mg_diags_make(pool);
        mg_diag_add(ds, MG_SEV_ERROR, tf->file, tc->line, tc->col, "test-failed",
                    "test '%s' failed: got %s (rule %s, reason %s)", tc->name,
                    mg_outcome_name(d.outcome), d.rule_id ? d.rule_id : "none",
                    mg_reason_name(d.reason));
        mgctl_diags_print(stdout, pool, ds, MGCTL_FMT_GITHUB, 1);
    }
    return 1;
}

/* A policy the test file names (its own, or one of the server's others),
 * or NULL once the load's diagnostics and the naming line:column are
 * reported and the file is counted as unreadable or invalid. */
static mg_policy_t *load_named(apr_pool_t *pool, const topts_t *o, tally_t *t, const char *file,
                               const char *path, int line, int col, const char *what)
{
    mg_policy_t *policy = NULL;
    mg_diags_t *diags = mg_diags_make(pool);
    mg_status_t st = mg_policy_load_file(pool, path, &policy, diags);
    mg_diags_sort(diags);
    if (st == MG_OK && policy != NULL && diags->errors == 0)
        return policy;
    mg_diag_add(diags, MG_SEV_ERROR, file, line, col, "policy", "the %s %s could not be loaded",
                what, path);
    emit_diags(o, pool, diags);
    if (st == MG_EIO)
        t->io++;
    else
        t->invalid++;
    return NULL;
}

static void run_file(apr_pool_t *pool, const char *file, const topts_t *o, tally_t *t)
{
    mg_file_t in;
    const char *err;
    if (mg_file_read(pool, file, MGCTL_TESTFILE_MAX, &in, &err) != MG_OK) {
        mgctl_err("test", "%s", err);
        if (o->fmt == MGCTL_FMT_JSON) {
            mg_diags_t *ds = mg_diags_make(pool);
            mg_diag_add(ds, MG_SEV_ERROR, file, 0, 0, "io", "%s", err);
            emit_diags(o, pool, ds);
        }
        t->io++;
        return;
    }
    mg_diags_t *diags = mg_diags_make(pool);
    mgctl_testfile_t *tf = NULL;
    if (mgctl_testfile_parse(pool, file, in.data, in.len, &tf, diags) != MG_OK) {
        emit_diags(o, pool, diags);
        if (o->fmt != MGCTL_FMT_JSON)
            printf("%s: invalid test file\n", mg_one_line(pool, file));
        t->invalid++;
        return;
    }

    mg_policy_t *policy =
        load_named(pool, o, t, file, tf->policy_path, tf->policy_line, tf->policy_col, "policy");
    if (policy == NULL)
        return;

    /* the server's other policies: loaded as the policy is, refused alike */
    apr_array_header_t *others =
        apr_array_make(pool, tf->server_policies->nelts, sizeof(mg_policy_t *));
    for (int i = 0; i < tf->server_policies->nelts; i++) {
        const mgctl_policy_ref_t *r = &APR_ARRAY_IDX(tf->server_policies, i, mgctl_policy_ref_t);
        mg_policy_t *op = load_named(pool, o, t, file, r->path, r->line, r->col, "server policy");
        if (op == NULL)
            return;
        APR_ARRAY_PUSH(others, mg_policy_t *) = op;
    }

    /* Refuse cases whose result would depend on the wall clock, or that
     * give roles the policy ignores because it does not declare them. */
    {
        int bad = 0, uses_time = mg_policy_uses_time(policy);
        for (int i = 0; i < tf->cases->nelts; i++) {
            const mgctl_case_t *tc = &APR_ARRAY_IDX(tf->cases, i, mgctl_case_t);
            const char *role = mgctl_undeclared_role(policy, tc->spec->roles);
            if (role) {
                mg_diag_t *dg = mg_diag_add(
                    diags, MG_SEV_ERROR, file, tc->line, tc->col, "undefined-role",
                    "test '%s' gives role '%s', which the policy does not declare", tc->name, role);
                int nroles = mg_policy_role_count(policy);
                apr_array_header_t *cands = apr_array_make(pool, nroles + 1, sizeof(const char *));
                for (int k = 0; k < nroles; k++)
                    APR_ARRAY_PUSH(cands, const char *) = mg_policy_role_name(policy, k);
                APR_ARRAY_PUSH(cands, const char *) = NULL; /* mg_suggest's terminator */
                const char *s = mg_suggest(role, (const char *const *)cands->elts);
                if (s)
                    dg->hint = apr_psprintf(pool, "did you mean '%s'?", s);
                bad = 1;
            }
            if (uses_time && !tc->time_set) {
                mg_diag_t *dg = mg_diag_add(
                    diags, MG_SEV_ERROR, file, tc->line, tc->col, "missing-time",
                    "test '%s' does not fix the request time, but the policy has time windows",
                    tc->name);
                dg->hint = "add 'time: 2026-11-23T10:00:00Z' to the request or to defaults";
                bad = 1;
            }
        }
        if (bad) {
            emit_diags(o, pool, diags);
            if (o->fmt != MGCTL_FMT_JSON)
                printf("%s: invalid test file\n", mg_one_line(pool, file));
            t->invalid++;
            return;
        }
    }

    if (!o->quiet && o->fmt != MGCTL_FMT_JSON)
        printf("# %s (policy %s, sha256:%.12s)\n", mg_one_line(pool, file), mg_policy_name(policy),
               mg_policy_digest(policy));
    int passed = 0, failed = 0;
    for (int i = 0; i < tf->cases->nelts; i++) {
        const mgctl_case_t *tc = &APR_ARRAY_IDX(tf->cases, i, mgctl_case_t);
        if (o->run && !strstr(tc->name, o->run)) {
            t->skipped++;
            continue;
        }
        apr_pool_t *cp;
        apr_pool_create(&cp, pool);
        if (run_case(cp, tf, policy, others, tc, o))
            failed++;
        else
            passed++;
        apr_pool_destroy(cp);
    }
    t->passed += passed;
    t->failed += failed;
}

int mgctl_cmd_test(apr_pool_t *pool, int argc, const char *const *argv)
{
    topts_t o = {NULL,
                 0,
                 0,
                 MGCTL_FMT_TEXT,
                 pool,
                 apr_array_make(pool, 32, sizeof(char *)),
                 apr_array_make(pool, 4, sizeof(char *))};
    apr_getopt_t *os = mgctl_getopt_init(pool, "test", argc, argv);
    int ch, rc;
    const char *arg;

    while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, &rc)) > 0) {
        switch (ch) {
        case 'r':
            o.run = arg;
            break;
        case 'v':
            o.verbose = 1;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'f':
            if (mgctl_format_parse(
                    arg, (1u << MGCTL_FMT_TEXT) | (1u << MGCTL_FMT_JSON) | (1u << MGCTL_FMT_GITHUB),
                    &o.fmt) != 0)
                return mgctl_usage_error("test", "unknown format '%s' (text, json, github)", arg);
            break;
        }
    }
    if (ch < 0)
        return rc;
    if (os->argc - os->ind < 1)
        return mgctl_usage_error("test", "no test FILE given");
    /* A test file names its policy by a path relative to its own
     * directory, which standard input does not have. */
    for (int i = os->ind; i < os->argc; i++)
        if (strcmp(os->argv[i], "-") == 0)
            return mgctl_usage_error("test", "test FILEs are read from files: standard input "
                                             "('-') is read by validate, compile and explain "
                                             "--policy");

    tally_t t = {0, 0, 0, 0, 0};
    for (int i = os->ind; i < os->argc; i++) {
        apr_pool_t *fp;
        apr_pool_create(&fp, pool);
        run_file(fp, os->argv[i], &o, &t);
        apr_pool_destroy(fp);
    }
    if (o.fmt == MGCTL_FMT_JSON) {
        printf("{\"passed\":%d,\"failed\":%d,\"skipped\":%d,\"invalid_files\":%d,"
               "\"unreadable_files\":%d,\"cases\":[%s],\"diagnostics\":[%s]}\n",
               t.passed, t.failed, t.skipped, t.invalid, t.io,
               apr_array_pstrcat(pool, o.jcases, ','), apr_array_pstrcat(pool, o.jdiags, ','));
    } else {
        printf("%d passed, %d failed", t.passed, t.failed);
        if (t.skipped)
            printf(", %d skipped", t.skipped);
        if (t.invalid)
            printf(", %d invalid file%s", t.invalid, t.invalid == 1 ? "" : "s");
        if (t.io)
            printf(", %d unreadable file%s", t.io, t.io == 1 ? "" : "s");
        putchar('\n');
    }
    if (t.io)
        return MGCTL_EXIT_USAGE;
    if (t.failed || t.invalid)
        return MGCTL_EXIT_FAIL;
    if (t.passed == 0) {
        mgctl_err("test", "no test case ran%s", o.run ? " (check --run)" : "");
        return MGCTL_EXIT_FAIL;
    }
    return MGCTL_EXIT_OK;
}
