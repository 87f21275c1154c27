/* test_mgctl.c — mgctl's shared helpers (mgctl_util.h) and the policy test
 * file reader (mgctl_testfile.c): JSON escaping, the request a test or
 * explain builds, test-file diagnostics, option parsing, policies read
 * from standard input and the line reader of `mgctl sign`. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_file_info.h>
#include <apr_strings.h>

#include "mg.h"
#include "mg_http.h"
#include "mg_policy.h"
#include "mg_test.h"
#include "mgctl_testfile.h"
#include "mgctl_util.h"

static const char policy_yaml[] = "version: 1\n"
                                  "name: t\n"
                                  "roles: [staff, member]\n"
                                  "identity:\n"
                                  "  roles_from:\n"
                                  "    - env: GROUPS\n"
                                  "    - note: more-groups\n"
                                  "rules:\n"
                                  "  - id: all\n"
                                  "    path: /\n"
                                  "    access: {staff: download, member: view}\n";

static mg_policy_t *load_policy(void)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    mg_policy_t *p = NULL;
    ck_assert_int_eq(mg_policy_load_buffer(mg_test_pool, "t.yaml", NULL, policy_yaml,
                                           strlen(policy_yaml), &p, ds),
                     MG_OK);
    ck_assert_ptr_nonnull(p);
    return p;
}

static mgctl_testfile_t *parse_ok(const char *yaml)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    mgctl_testfile_t *tf = NULL;
    mg_status_t st =
        mgctl_testfile_parse(mg_test_pool, "dir/t.test.yaml", yaml, strlen(yaml), &tf, ds);
    if (st != MG_OK) {
        const mg_diag_t *d = (const mg_diag_t *)ds->items->elts;
        ck_abort_msg("unexpected error: %s", mg_diag_format(mg_test_pool, &d[0]));
    }
    return tf;
}

/* The first diagnostic, formatted, of a test file that must be refused. */
static const char *parse_error(const char *yaml)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    mgctl_testfile_t *tf = NULL;
    ck_assert_int_eq(mgctl_testfile_parse(mg_test_pool, "t.yaml", yaml, strlen(yaml), &tf, ds),
                     MG_EINVAL);
    ck_assert_ptr_null(tf);
    ck_assert_int_gt(ds->errors, 0);
    mg_diags_sort(ds);
    return mg_diag_format(mg_test_pool, (const mg_diag_t *)ds->items->elts);
}

START_TEST(test_json_str_escapes_quotes_controls_and_invalid_utf8)
{
    ck_assert_str_eq(mgctl_json_str(mg_test_pool, NULL), "null");
    ck_assert_str_eq(mgctl_json_str(mg_test_pool, "a\"b\\c\n\t\x01"),
                     "\"a\\\"b\\\\c\\n\\t\\u0001\"");
    /* valid UTF-8 passes, a lone continuation byte and an overlong '/' do not */
    ck_assert_str_eq(mgctl_json_str(mg_test_pool, "\xe2\x86\x92"), "\"\xe2\x86\x92\"");
    ck_assert_str_eq(mgctl_json_str(mg_test_pool, "x\x80y"), "\"x\\ufffdy\"");
    ck_assert_str_eq(mgctl_json_str(mg_test_pool, "\xc0\xaf"), "\"\\ufffd\\ufffd\"");
}
END_TEST

START_TEST(test_request_from_absolute_url_takes_scheme_and_host_and_drops_fragment)
{
    mg_policy_t *p = load_policy();
    mgctl_reqspec_t *s = mgctl_reqspec_make(mg_test_pool);
    mg_request_t req;
    const char *why;
    s->url = "HTTPS://Media.Example.com/a/b.jpg?x=1&y=%20#frag";
    ck_assert_int_eq(mgctl_request_build(mg_test_pool, p, s, &req, &why), MG_OK);
    ck_assert_str_eq(req.scheme, "https");
    ck_assert_str_eq(req.host, "Media.Example.com");
    ck_assert_str_eq(req.lookup(req.lookup_ctx, MG_LOOKUP_HEADER, "Host"), "Media.Example.com");
    ck_assert_str_eq(req.raw_path, "/a/b.jpg");
    ck_assert_str_eq(req.query, "x=1&y=%20");
    ck_assert_str_eq(req.method, "GET");
    ck_assert_str_eq(req.client_ip, "127.0.0.1");
    ck_assert_str_eq(req.peer_ip, "127.0.0.1");
}
END_TEST

START_TEST(test_testfile_server_policies_resolve_against_the_test_file)
{
    const char *base = "policy: p.yaml\ntests:\n  - name: a\n    request: {url: /a}\n"
                       "    expect: {decision: allow}\n";
    mgctl_testfile_t *tf = parse_ok(base);
    ck_assert_int_eq(tf->server_policies->nelts, 0);
    /* a list, or one file; relative to the test file, absolute kept */
    tf =
        parse_ok(apr_pstrcat(mg_test_pool, "server_policies: [a.yaml, /etc/b.yaml]\n", base, NULL));
    ck_assert_int_eq(tf->server_policies->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(tf->server_policies, 0, mgctl_policy_ref_t).path, "dir/a.yaml");
    ck_assert_int_eq(APR_ARRAY_IDX(tf->server_policies, 0, mgctl_policy_ref_t).line, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(tf->server_policies, 1, mgctl_policy_ref_t).path, "/etc/b.yaml");
    tf = parse_ok(apr_pstrcat(mg_test_pool, "server_policies: a.yaml\n", base, NULL));
    ck_assert_int_eq(tf->server_policies->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(tf->server_policies, 0, mgctl_policy_ref_t).path, "dir/a.yaml");
    ck_assert_ptr_nonnull(
        strstr(parse_error(apr_pstrcat(mg_test_pool, "server_policies: {a: 1}\n", base, NULL)),
               "'server_policies' must be a string"));
    ck_assert_ptr_nonnull(
        strstr(parse_error(apr_pstrcat(mg_test_pool, "server_policy: a.yaml\n", base, NULL)),
               "unknown key 'server_policy'"));
}
END_TEST

START_TEST(test_request_with_userinfo_is_refused_as_the_module_refuses_it)
{
    mg_policy_t *p = load_policy();
    mgctl_reqspec_t *s = mgctl_reqspec_make(mg_test_pool);
    mg_request_t req;
    mg_decision_t d;
    const char *why;
    s->url = "https://user:pw@media.example/a/b.jpg";
    ck_assert_int_eq(mgctl_request_build(mg_test_pool, p, s, &req, &why), MG_EINVAL);
    ck_assert_str_eq(why, "userinfo (user@) in an http(s) URL");
    mg_evaluate(mg_test_pool, p, &req, 0, &d);
    ck_assert_int_eq(d.reason, MG_R_BAD_URL);
}
END_TEST

START_TEST(test_request_host_header_wins_over_url_and_peer_defaults_to_ip)
{
    mg_policy_t *p = load_policy();
    mgctl_reqspec_t *s = mgctl_reqspec_make(mg_test_pool);
    mg_request_t req;
    const char *why;
    s->url = "http://a.example/x.jpg";
    s->ip = "192.0.2.1";
    apr_table_set(s->headers, "host", "b.example");
    apr_table_set(s->headers, "sec-fetch-site", "cross-site");
    apr_table_set(s->headers, "REFERER", "https://evil.example/");
    ck_assert_int_eq(mgctl_request_build(mg_test_pool, p, s, &req, &why), MG_OK);
    ck_assert_str_eq(req.host, "b.example");
    ck_assert_str_eq(req.sec_fetch_site, "cross-site");
    ck_assert_str_eq(req.referer, "https://evil.example/");
    ck_assert_str_eq(req.peer_ip, "192.0.2.1");
    ck_assert_ptr_null(req.query);
}
END_TEST

START_TEST(test_request_lookup_serves_env_notes_and_headers_separately)
{
    mg_policy_t *p = load_policy();
    mgctl_reqspec_t *s = mgctl_reqspec_make(mg_test_pool);
    mg_request_t req;
    const char *why;
    s->url = "/x";
    apr_table_set(s->env, "GROUPS", "staff");
    apr_table_set(s->notes, "more-groups", "member");
    apr_table_set(s->headers, "X-Roles", "h");
    ck_assert_int_eq(mgctl_request_build(mg_test_pool, p, s, &req, &why), MG_OK);
    ck_assert_str_eq(req.lookup(req.lookup_ctx, MG_LOOKUP_ENV, "groups"), "staff");
    ck_assert_ptr_null(req.lookup(req.lookup_ctx, MG_LOOKUP_ENV, "more-groups"));
    ck_assert_str_eq(req.lookup(req.lookup_ctx, MG_LOOKUP_NOTE, "more-groups"), "member");
    ck_assert_str_eq(req.lookup(req.lookup_ctx, MG_LOOKUP_HEADER, "x-roles"), "h");
    ck_assert_ptr_null(req.lookup(req.lookup_ctx, MG_LOOKUP_HEADER, "GROUPS"));
}
END_TEST

START_TEST(test_env_roles_reach_the_evaluator_through_the_built_request)
{
    mg_policy_t *p = load_policy();
    mgctl_reqspec_t *s = mgctl_reqspec_make(mg_test_pool);
    mg_request_t req;
    mg_decision_t d;
    const char *why;
    s->url = "/x.jpg?download=1";
    s->user = "u";
    apr_table_set(s->env, "GROUPS", "staff");
    ck_assert_int_eq(mgctl_request_build(mg_test_pool, p, s, &req, &why), MG_OK);
    memset(&d, 0, sizeof(d));
    mg_evaluate(mg_test_pool, p, &req, 0, &d);
    ck_assert_int_eq(d.outcome, MG_OUTCOME_ALLOW);
    ck_assert_int_eq(d.access, MG_ACCESS_DOWNLOAD);
    ck_assert_int_eq(mg_decision_http_status(&d), 200);
}
END_TEST

START_TEST(test_http_status_follows_the_outcome)
{
    mg_decision_t d;
    memset(&d, 0, sizeof(d));
    /* zero value: deny internal-error, the module's 500 */
    ck_assert_int_eq(mg_decision_http_status(&d), 500);
    d.reason = MG_R_NO_RULE;
    ck_assert_int_eq(mg_decision_http_status(&d), 403);
    d.status = 451;
    ck_assert_int_eq(mg_decision_http_status(&d), 451);
    d.outcome = MG_OUTCOME_LOGIN;
    ck_assert_int_eq(mg_decision_http_status(&d), 302);
    d.outcome = MG_OUTCOME_AUTH;
    ck_assert_int_eq(mg_decision_http_status(&d), 401);
}
END_TEST

START_TEST(test_undeclared_role_is_named)
{
    mg_policy_t *p = load_policy();
    apr_array_header_t *roles = apr_array_make(mg_test_pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(roles, const char *) = "member";
    ck_assert_ptr_null(mgctl_undeclared_role(p, roles));
    APR_ARRAY_PUSH(roles, const char *) = "stafff";
    ck_assert_str_eq(mgctl_undeclared_role(p, roles), "stafff");
}
END_TEST

START_TEST(test_testfile_resolves_policy_next_to_the_test_file)
{
    mgctl_testfile_t *tf = parse_ok("policy: ../p.yaml\n"
                                    "tests:\n"
                                    "  - name: a\n"
                                    "    request: {url: /a}\n"
                                    "    expect: {decision: allow, status: 0200, rule: ~}\n");
    ck_assert_str_eq(tf->policy_path, "dir/../p.yaml");
    ck_assert_int_eq(tf->cases->nelts, 1);
    const mgctl_case_t *c = &APR_ARRAY_IDX(tf->cases, 0, mgctl_case_t);
    ck_assert_int_eq(c->line, 3);
    ck_assert_int_eq(c->expect->nelts, 3);
    const mgctl_expect_t *e = (const mgctl_expect_t *)c->expect->elts;
    ck_assert_str_eq(e[1].field, "status");
    ck_assert_str_eq(e[1].value, "200"); /* normalised, compares with the decision's text */
    ck_assert_str_eq(e[2].field, "rule");
    ck_assert_ptr_null(e[2].value); /* ~ = expected absent */
}
END_TEST

START_TEST(test_testfile_defaults_merge_and_null_takes_values_back)
{
    mgctl_testfile_t *tf =
        parse_ok("policy: p.yaml\n"
                 "defaults:\n"
                 "  user: eve\n"
                 "  roles: [staff]\n"
                 "  time: 2026-11-23T10:00:00Z\n"
                 "  headers: {Host: h.example, Sec-Fetch-Site: same-origin}\n"
                 "tests:\n"
                 "  - name: merged\n"
                 "    request: {url: /a, headers: {Referer: 'https://r.example/'}}\n"
                 "    expect: {decision: allow}\n"
                 "  - name: taken back\n"
                 "    request: {url: /b, user: ~, roles: ~, headers: {Sec-Fetch-Site: ~}}\n"
                 "    expect: {decision: allow}\n");
    const mgctl_case_t *c = (const mgctl_case_t *)tf->cases->elts;
    ck_assert_str_eq(c[0].spec->user, "eve");
    ck_assert_int_eq(c[0].time_set, 1);
    ck_assert_str_eq(apr_table_get(c[0].spec->headers, "Host"), "h.example");
    ck_assert_str_eq(apr_table_get(c[0].spec->headers, "Sec-Fetch-Site"), "same-origin");
    ck_assert_str_eq(apr_table_get(c[0].spec->headers, "Referer"), "https://r.example/");
    ck_assert_int_eq(c[0].spec->roles->nelts, 1);
    ck_assert_ptr_null(c[1].spec->user);
    ck_assert_int_eq(c[1].spec->roles->nelts, 0);
    ck_assert_ptr_null(apr_table_get(c[1].spec->headers, "Sec-Fetch-Site"));
    ck_assert_str_eq(apr_table_get(c[1].spec->headers, "Host"), "h.example");
    ck_assert_ptr_null(apr_table_get(c[1].spec->headers, "Referer")); /* no leak between cases */
}
END_TEST

START_TEST(test_testfile_unknown_key_has_position_and_hint)
{
    ck_assert_str_eq(parse_error("policy: p.yaml\n"
                                 "tests:\n"
                                 "  - name: a\n"
                                 "    request: {url: /a}\n"
                                 "    expct: {decision: allow}\n"),
                     "t.yaml:3:5: error: test 'a' needs an 'expect'");
    ck_assert_str_eq(parse_error("policy: p.yaml\n"
                                 "tests:\n"
                                 "  - name: a\n"
                                 "    request: {url: /a, rols: [x]}\n"
                                 "    expect: {decision: allow}\n"),
                     "t.yaml:4:24: error: unknown key 'rols' in request (did you mean 'roles'?)");
}
END_TEST

static const char *reason_error(const char *reason)
{
    return parse_error(apr_psprintf(mg_test_pool,
                                    "policy: p.yaml\n"
                                    "tests:\n"
                                    "  - name: a\n"
                                    "    request: {url: /a}\n"
                                    "    expect: {decision: deny, reason: %s}\n",
                                    reason));
}

/* Reason codes are several words: a word left out or shortened is far from
 * the code by edit distance, yet the code is plain to see. */
START_TEST(test_testfile_reason_with_a_word_left_out_or_shortened_gets_did_you_mean)
{
    ck_assert_str_eq(reason_error("outside-window"),
                     "t.yaml:5:38: error: unknown reason 'outside-window' (did you mean "
                     "'outside-time-window'?)");
    ck_assert_str_eq(reason_error("token-sig"), "t.yaml:5:38: error: unknown reason 'token-sig' "
                                                "(did you mean 'token-bad-signature'?)");
    ck_assert_str_eq(reason_error("outside_windw"),
                     "t.yaml:5:38: error: unknown reason 'outside_windw' (did you mean "
                     "'outside-time-window'?)");
    /* a few candidates are all named; the parts must come in order */
    ck_assert_str_eq(reason_error("denied"), "t.yaml:5:38: error: unknown reason 'denied' (did "
                                             "you mean 'ip-denied' or 'country-denied'?)");
    ck_assert_str_eq(reason_error("window-outside"),
                     "t.yaml:5:38: error: unknown reason 'window-outside' (see the reason codes "
                     "in docs/policy.md)");
    /* too many candidates, or none: the list in the docs */
    ck_assert_str_eq(reason_error("not-allowed"),
                     "t.yaml:5:38: error: unknown reason 'not-allowed' (see the reason codes in "
                     "docs/policy.md)");
    ck_assert_str_eq(reason_error("xyzzy"), "t.yaml:5:38: error: unknown reason 'xyzzy' (see the "
                                            "reason codes in docs/policy.md)");
    /* close typos still go through mg_suggest */
    ck_assert_str_eq(reason_error("hotlnk"),
                     "t.yaml:5:38: error: unknown reason 'hotlnk' (did you mean 'hotlink'?)");
}
END_TEST

START_TEST(test_testfile_bad_values_are_refused_where_written)
{
    ck_assert_str_eq(parse_error("policy: p.yaml\n"
                                 "tests:\n"
                                 "  - name: a\n"
                                 "    request: {url: /a}\n"
                                 "    expect: {decision: allow, reason: hotlnk}\n"),
                     "t.yaml:5:39: error: unknown reason 'hotlnk' (did you mean 'hotlink'?)");
    ck_assert_str_eq(parse_error("policy: p.yaml\n"
                                 "tests:\n"
                                 "  - name: a\n"
                                 "    request: {url: /a, time: tomorrow}\n"
                                 "    expect: {decision: allow}\n"),
                     "t.yaml:4:30: error: 'time' is not an RFC 3339 time: 'tomorrow' (write e.g. "
                     "2026-11-23T10:00:00Z or 2026-11-23T11:00:00+01:00)");
    ck_assert_str_eq(parse_error("policy: p.yaml\n"
                                 "defaults: {url: /x}\n"
                                 "tests:\n"
                                 "  - name: a\n"
                                 "    request: {url: /a}\n"
                                 "    expect: {decision: allow}\n"),
                     "t.yaml:2:12: error: 'url' belongs in each test's request, not in defaults");
}
END_TEST

/* T1 (CF-IPCountry's Tor) is a country to the policy and to the module:
 * a test's request may name it, in either case; T2 is no country. */
START_TEST(test_testfile_country_takes_t1_as_the_policy_does)
{
    mgctl_testfile_t *tf = parse_ok("policy: p.yaml\n"
                                    "tests:\n"
                                    "  - name: tor\n"
                                    "    request: {url: /a, country: t1}\n"
                                    "    expect: {decision: deny}\n");
    ck_assert_str_eq(APR_ARRAY_IDX(tf->cases, 0, mgctl_case_t).spec->country, "T1");
    ck_assert_str_eq(parse_error("policy: p.yaml\n"
                                 "tests:\n"
                                 "  - name: a\n"
                                 "    request: {url: /a, country: T2}\n"
                                 "    expect: {decision: allow}\n"),
                     "t.yaml:4:33: error: 'country' must be a two-letter ISO 3166 code or T1 "
                     "(Tor), got 'T2'");
}
END_TEST

START_TEST(test_testfile_needs_decision_unique_names_and_some_tests)
{
    ck_assert_str_eq(
        parse_error("policy: p.yaml\n"
                    "tests:\n"
                    "  - name: a\n"
                    "    request: {url: /a}\n"
                    "    expect: {rule: x}\n"),
        "t.yaml:5:13: error: 'expect' needs a 'decision' (allow, deny, login or auth)");
    ck_assert_str_eq(parse_error("policy: p.yaml\n"
                                 "tests:\n"
                                 "  - {name: a, request: {url: /a}, expect: {decision: deny}}\n"
                                 "  - {name: a, request: {url: /b}, expect: {decision: deny}}\n"),
                     "t.yaml:4:12: error: two test cases are named 'a'");
    ck_assert_str_eq(parse_error("policy: p.yaml\ntests: []\n"),
                     "t.yaml:2:8: error: 'tests' is empty: a test file without tests proves "
                     "nothing");
}
END_TEST

START_TEST(test_expect_actual_reports_absent_fields_as_null)
{
    mg_decision_t d;
    memset(&d, 0, sizeof(d));
    d.outcome = MG_OUTCOME_ALLOW;
    d.access = MG_ACCESS_VIEW;
    d.reason = MG_R_ALLOWED;
    d.rule_id = "r";
    ck_assert_str_eq(mgctl_expect_actual(mg_test_pool, "decision", &d), "allow");
    ck_assert_str_eq(mgctl_expect_actual(mg_test_pool, "access", &d), "view");
    ck_assert_str_eq(mgctl_expect_actual(mg_test_pool, "status", &d), "200");
    ck_assert_ptr_null(mgctl_expect_actual(mg_test_pool, "location", &d));
    d.outcome = MG_OUTCOME_DENY; /* a denial grants nothing, whatever access says */
    ck_assert_str_eq(mgctl_expect_actual(mg_test_pool, "access", &d), "none");
    for (const char *const *f = mgctl_expect_fields; *f; f++)
        (void)mgctl_expect_actual(mg_test_pool, *f, &d); /* every field is answered */
}
END_TEST

/* ------------------------------------------------ options and standard input */

static const apr_getopt_option_t test_opts[] = {{"output", 'o', 1, "out"},
                                                {"quiet", 'q', 0, "quiet"},
                                                {"help", 'h', 0, "help"},
                                                {NULL, 0, 0, NULL}};

/* APR's getopt alone calls a bare "-" an invalid option. */
START_TEST(test_getopt_passes_a_bare_dash_as_operand_and_as_option_value)
{
    const char *argv[] = {"compile", "-", "-o", "-", "--quiet", "x.yaml", NULL};
    apr_getopt_t *os = mgctl_getopt_init(mg_test_pool, "compile", 6, argv);
    const char *arg;
    int rc = -7;
    ck_assert_int_eq(mgctl_getopt_next(os, test_opts, "usage", &arg, &rc), 'o');
    ck_assert_str_eq(arg, "-");
    ck_assert_int_eq(mgctl_getopt_next(os, test_opts, "usage", &arg, &rc), 'q');
    ck_assert_int_eq(mgctl_getopt_next(os, test_opts, "usage", &arg, &rc), 0);
    ck_assert_int_eq(rc, -7);
    ck_assert_int_eq(os->argc - os->ind, 2);
    ck_assert_str_eq(os->argv[os->ind], "-");
    ck_assert_str_eq(os->argv[os->ind + 1], "x.yaml");
    /* the caller's argv is left as it was */
    ck_assert_str_eq(argv[1], "-");
}
END_TEST

START_TEST(test_getopt_ends_the_command_on_help_and_on_an_unknown_option)
{
    const char *help[] = {"validate", "-q", "--help", NULL};
    const char *bad[] = {"validate", "--nope", NULL};
    const char *arg;
    int rc = -7;
    apr_getopt_t *os = mgctl_getopt_init(mg_test_pool, "validate", 3, help);
    ck_assert_int_eq(mgctl_getopt_next(os, test_opts, "", &arg, &rc), 'q');
    ck_assert_int_eq(mgctl_getopt_next(os, test_opts, "", &arg, &rc), -1);
    ck_assert_int_eq(rc, MGCTL_EXIT_OK);
    os = mgctl_getopt_init(mg_test_pool, "validate", 2, bad);
    ck_assert_int_eq(mgctl_getopt_next(os, test_opts, "", &arg, &rc), -1);
    ck_assert_int_eq(rc, MGCTL_EXIT_USAGE);
}
END_TEST

START_TEST(test_stdin_dash_at_most_once_and_stdin_name_only_with_it)
{
    const char *one[] = {"a.yaml", "-", "b.yaml"};
    const char *two[] = {"-", "a.yaml", "-"};
    ck_assert_int_eq(mgctl_stdin_check("validate", one, 3, NULL), MGCTL_EXIT_OK);
    ck_assert_int_eq(mgctl_stdin_check("validate", one, 3, "p/site.yaml"), MGCTL_EXIT_OK);
    ck_assert_int_eq(mgctl_stdin_check("validate", two, 3, NULL), MGCTL_EXIT_USAGE);
    ck_assert_int_eq(mgctl_stdin_check("validate", one + 2, 1, "p/site.yaml"), MGCTL_EXIT_USAGE);
    ck_assert_int_eq(mgctl_stdin_check("validate", one, 3, ""), MGCTL_EXIT_USAGE);
    ck_assert_str_eq(mgctl_source_name("-", NULL), "<stdin>");
    ck_assert_str_eq(mgctl_source_name("-", "p/site.yaml"), "p/site.yaml");
    ck_assert_str_eq(mgctl_source_name("a.yaml", "p/site.yaml"), "a.yaml");
}
END_TEST

/* Put `text` on file descriptor 0 (check runs each test in its own
 * process; the old stdin is put back anyway). Returns the saved fd. */
static int stdin_from(const char *text)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = apr_psprintf(mg_test_pool, "%s/mg-test-stdin-%ld", dir, (long)getpid());
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    int fd = open(path, O_RDONLY), saved = dup(0);
    unlink(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, 0), 0);
    close(fd);
    return saved;
}

static void stdin_restore(int saved)
{
    dup2(saved, 0);
    close(saved);
}

/* The test key as the loader resolves it (MG_SRCDIR may hold "..") */
static const char *data_key_path(void)
{
    char *path;
    ck_assert_int_eq(apr_filepath_merge(&path, NULL, MG_SRCDIR "/tests/unit/data/keys/k2026.key", 0,
                                        mg_test_pool),
                     APR_SUCCESS);
    return path;
}

START_TEST(test_policy_on_stdin_resolves_key_paths_against_the_stdin_name_directory)
{
    static const char yaml[] = "version: 1\nkeys: [{id: k, file: keys/k2026.key}]\n"
                               "rules: [{id: all, path: /, access: {anonymous: view}}]\n";
    mg_policy_t *p = NULL;
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    int saved = stdin_from(yaml);
    int rc = mgctl_policy_load(mg_test_pool, "-", MG_SRCDIR "/tests/unit/data/site.yaml", &p, ds);
    stdin_restore(saved);
    ck_assert_int_eq(rc, MGCTL_EXIT_OK);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->file, MG_SRCDIR "/tests/unit/data/site.yaml");
    ck_assert_str_eq(mg_policy_name(p), "site"); /* as for the file of that name */
    ck_assert_str_eq(APR_ARRAY_IDX(p->keys, 0, mg_keyref_t).file, data_key_path());
}
END_TEST

START_TEST(test_policy_on_stdin_without_a_name_resolves_against_the_current_directory)
{
    static const char yaml[] = "version: 1\nkeys: [{id: k, file: keys/k2026.key}]\n"
                               "rules: [{id: all, path: /, access: {anonymous: view}}]\n";
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(MG_SRCDIR "/tests/unit/data"), 0);
    mg_policy_t *p = NULL;
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    int saved = stdin_from(yaml);
    int rc = mgctl_policy_load(mg_test_pool, "-", NULL, &p, ds);
    stdin_restore(saved);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(rc, MGCTL_EXIT_OK);
    ck_assert_str_eq(p->file, "<stdin>");
    ck_assert_str_eq(APR_ARRAY_IDX(p->keys, 0, mg_keyref_t).file, data_key_path());
}
END_TEST

START_TEST(test_invalid_policy_on_stdin_is_refused_with_stdin_positions)
{
    mg_policy_t *p = NULL;
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    int saved = stdin_from("version: 1\nrules:\n  - id: a\n    path: /\n    acess: {}\n");
    int rc = mgctl_policy_load(mg_test_pool, "-", NULL, &p, ds);
    stdin_restore(saved);
    ck_assert_int_eq(rc, MGCTL_EXIT_FAIL);
    ck_assert_ptr_null(p);
    const mg_diag_t *last = &APR_ARRAY_IDX(ds->items, ds->items->nelts - 1, mg_diag_t);
    ck_assert_str_eq(last->file, "<stdin>");
    ck_assert_int_eq(last->line, 5);
    ck_assert_int_eq(last->col, 5);
    ck_assert_str_eq(last->code, "unknown-key");
}
END_TEST

START_TEST(test_unreadable_file_and_empty_stdin_keep_their_exit_classes)
{
    mg_policy_t *p = NULL;
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mgctl_policy_load(mg_test_pool, MG_SRCDIR "/no/such.yaml", NULL, &p, ds),
                     MGCTL_EXIT_USAGE);
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "io");
    ds = mg_diags_make(mg_test_pool);
    int saved = stdin_from("");
    int rc = mgctl_policy_load(mg_test_pool, "-", NULL, &p, ds);
    stdin_restore(saved);
    ck_assert_int_eq(rc, MGCTL_EXIT_FAIL); /* as an empty file: invalid, not unreadable */
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "file-empty");
}
END_TEST

/* ------------------------------------------------ review3: messages and limits */

static const apr_getopt_option_t value_opts[] = {
    {"format", 'f', 1, "text (default), json or github"},
    {"ttl", MGCTL_OPT_LONG + 1, 1, "a duration such as 15m"},
    {"header", 'H', 1, "'Name: value' (repeatable)"},
    {"quiet", 'q', 0, "quiet"},
    {"help", 'h', 0, "help"},
    {NULL, 0, 0, NULL}};

/* Run getopt over argv to its end with stderr in a file; returns what was
 * printed and sets *rc (0 when every option was taken). */
static const char *getopt_stderr(int argc, const char **argv, int *rc)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = apr_psprintf(mg_test_pool, "%s/mg-test-stderr-%ld", dir, (long)getpid());
    fflush(stderr);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), saved = dup(2);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    apr_getopt_t *os = mgctl_getopt_init(mg_test_pool, argv[0], argc, argv);
    const char *arg;
    int ch;
    *rc = 0;
    while ((ch = mgctl_getopt_next(os, value_opts, "", &arg, rc)) > 0)
        ;
    if (ch == 0)
        *rc = 0;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    buf[n > 0 ? n : 0] = '\0';
    return apr_pstrdup(mg_test_pool, buf);
}

START_TEST(test_missing_option_value_names_the_option_and_its_values)
{
    const char *shortf[] = {"validate", "-f", NULL};
    const char *longf[] = {"validate", "--format", NULL};
    const char *ttl[] = {"sign", "--ttl", NULL};
    int rc;
    ck_assert_str_eq(getopt_stderr(2, shortf, &rc),
                     "mgctl validate: -f/--format needs a value: text (default), json or github\n"
                     "Try 'mgctl validate --help'.\n");
    ck_assert_int_eq(rc, MGCTL_EXIT_USAGE);
    ck_assert_ptr_nonnull(
        strstr(getopt_stderr(2, longf, &rc), "-f/--format needs a value: text (default)"));
    ck_assert_ptr_nonnull(
        strstr(getopt_stderr(2, ttl, &rc), "mgctl sign: --ttl needs a value: a duration"));
}
END_TEST

START_TEST(test_other_getopt_complaints_keep_getopts_words)
{
    const char *bad[] = {"validate", "--nope", NULL};
    int rc;
    ck_assert_str_eq(getopt_stderr(2, bad, &rc),
                     "mgctl validate: invalid option: --nope\nTry 'mgctl validate --help'.\n");
    ck_assert_int_eq(rc, MGCTL_EXIT_USAGE);
}
END_TEST

START_TEST(test_a_single_value_option_given_twice_is_a_usage_error)
{
    const char *twice[] = {"sign", "--ttl", "1h", "--ttl", "2h", NULL};
    const char *mixed[] = {"validate", "-f", "json", "--format=text", NULL};
    const char *repeat[] = {"explain", "-H", "A: 1", "--header", "B: 2", "-q", "-q", NULL};
    int rc;
    ck_assert_str_eq(getopt_stderr(5, twice, &rc),
                     "mgctl sign: --ttl given twice ('1h', then '2h'); give it once\n"
                     "Try 'mgctl sign --help'.\n");
    ck_assert_int_eq(rc, MGCTL_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(getopt_stderr(4, mixed, &rc), "-f/--format given twice"));
    ck_assert_int_eq(rc, MGCTL_EXIT_USAGE);
    /* marked (repeatable), and flags, may come again */
    ck_assert_str_eq(getopt_stderr(7, repeat, &rc), "");
    ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(test_duration_text_is_the_largest_units_without_zeros)
{
    ck_assert_str_eq(mgctl_duration_text(mg_test_pool, apr_time_from_sec(7 * 86400)), "7d");
    ck_assert_str_eq(mgctl_duration_text(mg_test_pool, apr_time_from_sec(90)), "1m30s");
    ck_assert_str_eq(mgctl_duration_text(mg_test_pool, apr_time_from_sec(86400 + 9000)), "1d2h30m");
    ck_assert_str_eq(mgctl_duration_text(mg_test_pool, apr_time_from_sec(29 * 86400 - 1)),
                     "28d23h59m59s");
    ck_assert_str_eq(mgctl_duration_text(mg_test_pool, 0), "0s");
}
END_TEST

START_TEST(test_path_byte_why_names_the_byte_and_its_offset)
{
    ck_assert_str_eq(mgctl_path_byte_why(mg_test_pool, "/a b.jpg"),
                     "space in the path at byte offset 2: write it as %20");
    ck_assert_str_eq(mgctl_path_byte_why(mg_test_pool, "https://cdn.example/x\\y"),
                     "backslash in the path at byte offset 21: not allowed, raw or encoded "
                     "(%5C); paths use '/'");
    ck_assert_str_eq(mgctl_path_byte_why(mg_test_pool, "/a\x01"),
                     "control byte (0x01) in the path at byte offset 2: not allowed, raw or "
                     "percent-encoded");
    ck_assert_str_eq(mgctl_path_byte_why(mg_test_pool, "/p;x\ty"),
                     "tab (0x09) in the path at byte offset 4: not allowed, raw or "
                     "percent-encoded");
    /* the query is not the path; a clean path has nothing to name */
    ck_assert_ptr_null(mgctl_path_byte_why(mg_test_pool, "/a.jpg?q=a b"));
    ck_assert_ptr_null(mgctl_path_byte_why(mg_test_pool, "https://h/a.jpg"));
}
END_TEST

START_TEST(test_time_expected_asks_for_the_T_when_a_space_separates)
{
    ck_assert_ptr_nonnull(strstr(mgctl_time_expected("2026-11-23 19:30:00Z"), "with a 'T'"));
    ck_assert_ptr_null(strstr(mgctl_time_expected("tomorrow"), "with a 'T'"));
    ck_assert_ptr_nonnull(strstr(mgctl_time_expected("tomorrow"), "epoch seconds"));
}
END_TEST

START_TEST(test_signed_in_deny_notes_the_401_without_forbidden_on_failure)
{
    mg_decision_t d;
    memset(&d, 0, sizeof(d));
    d.outcome = MG_OUTCOME_DENY;
    d.reason = MG_R_ROLE;
    d.status = 451;
    ck_assert_int_eq(mgctl_decision_signed_in_status(&d, 1), 401);
    ck_assert_int_eq(mgctl_decision_signed_in_status(&d, 0), 0);
    const char *j = mgctl_decision_json(mg_test_pool, NULL, &d, 1);
    ck_assert_ptr_nonnull(strstr(j, "\"status\":451,\"status_without_forbidden_on_failure\":401,"));
    j = mgctl_decision_json(mg_test_pool, NULL, &d, 0);
    ck_assert_ptr_nonnull(
        strstr(j, "\"status\":451,\"status_without_forbidden_on_failure\":null,"));
    /* only a deny: an allowed signed-in user gets the file */
    d.outcome = MG_OUTCOME_ALLOW;
    ck_assert_int_eq(mgctl_decision_signed_in_status(&d, 1), 0);
    /* test files still compare the module's status */
    d.outcome = MG_OUTCOME_DENY;
    ck_assert_str_eq(mgctl_expect_actual(mg_test_pool, "status", &d), "451");

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    d.message = "a\n::warning::x"; /* policy text is printed as one line */
    mgctl_decision_print(f, mg_test_pool, &d, 1, 0);
    fclose(f);
    ck_assert_ptr_nonnull(
        strstr(text, "status:   451 (401 without AuthzSendForbiddenOnFailure On)\n"));
    ck_assert_ptr_nonnull(strstr(text, "message:  a\\n::warning::x\n"));
    free(text);
}
END_TEST

/* Apache authenticates (and without AuthzSendForbiddenOnFailure answers a
 * refusal with 401) only when the request without the user is decided
 * auth/login; a hotlink is refused before the user counts. */
START_TEST(test_401_note_only_when_the_anonymous_decision_asks_for_authentication)
{
    static const char yaml[] =
        "version: 1\n"
        "download_param: dl\n"
        "rules:\n"
        "  - {id: d, path: /d/, access: {anonymous: none, authenticated: view}}\n"
        "  - {id: h, path: /h/, hotlink: {allowed_origins: [\"https://www.example.com\"]},\n"
        "     access: {anonymous: none, authenticated: view}}\n";
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    mg_policy_t *p = NULL;
    ck_assert_int_eq(
        mg_policy_load_buffer(mg_test_pool, "a.yaml", NULL, yaml, strlen(yaml), &p, ds), MG_OK);
    mgctl_reqspec_t *spec = mgctl_reqspec_make(mg_test_pool);
    spec->user = "anna";
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;

    /* download-not-allowed: anonymous would be asked to authenticate */
    spec->url = "/d/a.jpg?dl=1";
    mgctl_request_build(mg_test_pool, p, spec, &req, &why);
    memset(&d, 0, sizeof(d));
    mg_evaluate(mg_test_pool, p, &req, 0, &d);
    ck_assert_int_eq(d.reason, MG_R_DOWNLOAD);
    int authn = mgctl_spec_authenticates(mg_test_pool, p, NULL, spec);
    ck_assert_int_eq(authn, 1);
    ck_assert_int_eq(mgctl_decision_signed_in_status(&d, authn), 401);
    ck_assert_ptr_nonnull(strstr(mgctl_decision_json(mg_test_pool, p, &d, authn),
                                 "\"status\":403,\"status_without_forbidden_on_failure\":401,"));

    /* hotlink: refused for anonymous too, so never authenticated */
    spec->url = "/h/a.jpg";
    apr_table_set(spec->headers, "Referer", "https://evil.example/");
    mgctl_request_build(mg_test_pool, p, spec, &req, &why);
    memset(&d, 0, sizeof(d));
    mg_evaluate(mg_test_pool, p, &req, 0, &d);
    ck_assert_int_eq(d.reason, MG_R_HOTLINK);
    authn = mgctl_spec_authenticates(mg_test_pool, p, NULL, spec);
    ck_assert_int_eq(authn, 0);
    ck_assert_int_eq(mgctl_decision_signed_in_status(&d, authn), 0);
    ck_assert_ptr_nonnull(strstr(mgctl_decision_json(mg_test_pool, p, &d, authn),
                                 "\"status\":403,\"status_without_forbidden_on_failure\":null,"));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    mgctl_decision_print(f, mg_test_pool, &d, authn, 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "status:   403\n"));
    free(text);

    /* no user: nothing to authenticate */
    spec->user = NULL;
    spec->url = "/d/a.jpg?dl=1";
    ck_assert_int_eq(mgctl_spec_authenticates(mg_test_pool, p, NULL, spec), 0);
}
END_TEST

START_TEST(test_policy_on_stdin_over_the_bound_is_invalid_like_a_file_over_it)
{
    /* 16 MiB + 1 byte of comments */
    size_t n = 16 * 1024 * 1024 + 1;
    char *big = apr_palloc(mg_test_pool, n + 1);
    memset(big, '#', n);
    big[n] = '\0';
    mg_policy_t *p = NULL;
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    int saved = stdin_from(big);
    int rc = mgctl_policy_load(mg_test_pool, "-", NULL, &p, ds);
    stdin_restore(saved);
    ck_assert_int_eq(rc, MGCTL_EXIT_FAIL);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "file-too-large");
}
END_TEST

/* ---- mgctl_lines: the lines `mgctl sign` reads from standard input ---- */

/* A file holding data[0, len), open for reading (already unlinked). */
static int fd_with(const char *data, size_t len)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = apr_psprintf(mg_test_pool, "%s/mg-test-lines-%ld", dir, (long)getpid());
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    int fd = open(path, O_RDONLY);
    unlink(path);
    ck_assert_int_ge(fd, 0);
    return fd;
}

START_TEST(test_lines_cut_at_lf_keep_cr_and_nul_and_count_a_last_line_without_lf)
{
    static const char data[] = "a\nb\r\n\n\nx\0y\nlast";
    static const struct {
        const char *text;
        size_t len;
    } want[] = {{"a", 1}, {"b\r", 2}, {"", 0}, {"", 0}, {"x\0y", 3}, {"last", 4}};
    int fd = fd_with(data, sizeof(data) - 1);
    mgctl_lines_t *in = mgctl_lines_open(mg_test_pool, fd, NULL, 1 << 20);
    char *line;
    size_t len;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 1);
        ck_assert_uint_eq(len, want[i].len);
        ck_assert_int_eq(memcmp(line, want[i].text, len), 0);
        ck_assert_int_eq(line[len], '\0');
    }
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 0);
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 0);
    close(fd);
}
END_TEST

START_TEST(test_lines_across_block_ends_and_longer_than_a_block_come_whole)
{
    /* 50,000 numbered lines (several 64 KiB blocks: every block end cuts a
     * line), one line of 300,000 bytes, then more numbered lines */
    size_t n = 0;
    char *data = apr_palloc(mg_test_pool, 2000000), want[32], *line;
    for (int i = 0; i < 50000; i++)
        n += (size_t)sprintf(data + n, "/p/%d.jpg\n", i);
    memset(data + n, 'L', 300000);
    n += 300000;
    data[n++] = '\n';
    for (int i = 0; i < 1000; i++)
        n += (size_t)sprintf(data + n, "/q/%d\n", i);
    int fd = fd_with(data, n);
    mgctl_lines_t *in = mgctl_lines_open(mg_test_pool, fd, NULL, 1 << 20);
    size_t len;
    for (int i = 0; i < 50000; i++) {
        ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 1);
        sprintf(want, "/p/%d.jpg", i);
        ck_assert_str_eq(line, want);
        ck_assert_uint_eq(len, strlen(want));
    }
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 1);
    ck_assert_uint_eq(len, 300000);
    ck_assert_uint_eq(strspn(line, "L"), 300000);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 1);
        sprintf(want, "/q/%d", i);
        ck_assert_str_eq(line, want);
    }
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 0);
    close(fd);
}
END_TEST

/* A line over the bound is answered 2 with its whole length, skipped to its
 * LF without being held (the buffer stays near the bound plus a block), and
 * the next line comes as usual: the bound itself passes, one byte more does
 * not, wherever block ends fall, a last line without LF included. */
START_TEST(test_lines_over_the_bound_are_counted_and_skipped_never_held)
{
    const size_t max = 1000, big = 3000000;
    size_t n = 0;
    char *data = apr_palloc(mg_test_pool, big + 5000), *line;
    memset(data + n, 'a', max);
    n += max;
    data[n++] = '\n';
    memset(data + n, 'b', max + 1);
    n += max + 1;
    data[n++] = '\n';
    memset(data + n, 'c', big); /* many 64 KiB blocks without a LF */
    n += big;
    data[n++] = '\n';
    n += (size_t)sprintf(data + n, "/next.jpg\n");
    memset(data + n, 'd', 2 * max); /* the last line, no LF */
    n += 2 * max;
    int fd = fd_with(data, n);
    mgctl_lines_t *in = mgctl_lines_open(mg_test_pool, fd, NULL, max);
    size_t len;
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 1);
    ck_assert_uint_eq(len, max);
    ck_assert_uint_eq(strspn(line, "a"), max);
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 2);
    ck_assert_uint_eq(len, max + 1);
    ck_assert_ptr_null(line);
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 2);
    ck_assert_uint_eq(len, big);
    ck_assert_ptr_null(line);
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 1);
    ck_assert_str_eq(line, "/next.jpg");
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 2);
    ck_assert_uint_eq(len, 2 * max);
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 0);
    /* never held whole: the buffer grew to hold no more than the bound and
     * two blocks (the 3 MB line would need 4 MiB) */
    ck_assert_uint_lt(mgctl_lines_capacity(in), max + 3 * 64 * 1024);
    close(fd);
}
END_TEST

START_TEST(test_lines_read_error_is_an_error_not_the_end)
{
    int fd = open("/", O_RDONLY); /* read(2) of a directory: EISDIR */
    ck_assert_int_ge(fd, 0);
    mgctl_lines_t *in = mgctl_lines_open(mg_test_pool, fd, NULL, 1 << 20);
    char *line;
    size_t len;
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), -1);
    close(fd);
}
END_TEST

/* A program that writes one path and waits for its link (a coprocess)
 * gets the link before the reader waits for the next path: the output is
 * flushed before a read that would wait. The child plays that program: it
 * sends "a", waits for "link-a" (on failure it says so in its next line
 * after 20 s instead of hanging for ever), then sends "b" and ends. */
START_TEST(test_lines_flush_the_output_before_waiting_for_input)
{
    int to_reader[2], to_child[2];
    ck_assert_int_eq(pipe(to_reader), 0);
    ck_assert_int_eq(pipe(to_child), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(to_reader[0]);
        close(to_child[1]);
        char got[64];
        ssize_t k = 0;
        struct pollfd p = {.fd = to_child[0], .events = POLLIN};
        if (write(to_reader[1], "a\n", 2) != 2)
            _exit(1);
        if (poll(&p, 1, 20000) == 1)
            k = read(to_child[0], got, sizeof(got) - 1);
        got[k > 0 ? k : 0] = '\0';
        const char *next = strcmp(got, "link-a\n") == 0 ? "b\n" : "no link before the wait\n";
        _exit(write(to_reader[1], next, strlen(next)) < 0);
    }
    close(to_reader[1]);
    close(to_child[0]);
    FILE *out = fdopen(to_child[1], "w");
    ck_assert_ptr_nonnull(out);
    setvbuf(out, NULL, _IOFBF, 1 << 16); /* fully buffered, as mgctl sign's stdout */
    mgctl_lines_t *in = mgctl_lines_open(mg_test_pool, to_reader[0], out, 1 << 20);
    char *line;
    size_t len;
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 1);
    ck_assert_str_eq(line, "a");
    fputs("link-a\n", out);
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 1);
    ck_assert_str_eq(line, "b");
    ck_assert_int_eq(mgctl_lines_next(in, &line, &len), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fclose(out);
    close(to_reader[0]);
}
END_TEST

static Suite *mgctl_suite(void)
{
    Suite *s = suite_create("mgctl");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_json_str_escapes_quotes_controls_and_invalid_utf8);
    tcase_add_test(tc, test_request_from_absolute_url_takes_scheme_and_host_and_drops_fragment);
    tcase_add_test(tc, test_request_with_userinfo_is_refused_as_the_module_refuses_it);
    tcase_add_test(tc, test_testfile_server_policies_resolve_against_the_test_file);
    tcase_add_test(tc, test_request_host_header_wins_over_url_and_peer_defaults_to_ip);
    tcase_add_test(tc, test_request_lookup_serves_env_notes_and_headers_separately);
    tcase_add_test(tc, test_env_roles_reach_the_evaluator_through_the_built_request);
    tcase_add_test(tc, test_http_status_follows_the_outcome);
    tcase_add_test(tc, test_undeclared_role_is_named);
    tcase_add_test(tc, test_testfile_resolves_policy_next_to_the_test_file);
    tcase_add_test(tc, test_testfile_defaults_merge_and_null_takes_values_back);
    tcase_add_test(tc, test_testfile_unknown_key_has_position_and_hint);
    tcase_add_test(tc, test_testfile_bad_values_are_refused_where_written);
    tcase_add_test(tc, test_testfile_reason_with_a_word_left_out_or_shortened_gets_did_you_mean);
    tcase_add_test(tc, test_testfile_country_takes_t1_as_the_policy_does);
    tcase_add_test(tc, test_testfile_needs_decision_unique_names_and_some_tests);
    tcase_add_test(tc, test_expect_actual_reports_absent_fields_as_null);
    tcase_add_test(tc, test_getopt_passes_a_bare_dash_as_operand_and_as_option_value);
    tcase_add_test(tc, test_getopt_ends_the_command_on_help_and_on_an_unknown_option);
    tcase_add_test(tc, test_stdin_dash_at_most_once_and_stdin_name_only_with_it);
    tcase_add_test(tc, test_policy_on_stdin_resolves_key_paths_against_the_stdin_name_directory);
    tcase_add_test(tc, test_policy_on_stdin_without_a_name_resolves_against_the_current_directory);
    tcase_add_test(tc, test_invalid_policy_on_stdin_is_refused_with_stdin_positions);
    tcase_add_test(tc, test_unreadable_file_and_empty_stdin_keep_their_exit_classes);
    tcase_add_test(tc, test_missing_option_value_names_the_option_and_its_values);
    tcase_add_test(tc, test_other_getopt_complaints_keep_getopts_words);
    tcase_add_test(tc, test_a_single_value_option_given_twice_is_a_usage_error);
    tcase_add_test(tc, test_duration_text_is_the_largest_units_without_zeros);
    tcase_add_test(tc, test_path_byte_why_names_the_byte_and_its_offset);
    tcase_add_test(tc, test_time_expected_asks_for_the_T_when_a_space_separates);
    tcase_add_test(tc, test_signed_in_deny_notes_the_401_without_forbidden_on_failure);
    tcase_add_test(tc, test_401_note_only_when_the_anonymous_decision_asks_for_authentication);
    tcase_add_test(tc, test_policy_on_stdin_over_the_bound_is_invalid_like_a_file_over_it);
    tcase_add_test(tc, test_lines_cut_at_lf_keep_cr_and_nul_and_count_a_last_line_without_lf);
    tcase_add_test(tc, test_lines_across_block_ends_and_longer_than_a_block_come_whole);
    tcase_add_test(tc, test_lines_over_the_bound_are_counted_and_skipped_never_held);
    tcase_add_test(tc, test_lines_read_error_is_an_error_not_the_end);
    tcase_add_test(tc, test_lines_flush_the_output_before_waiting_for_input);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(mgctl_suite)
