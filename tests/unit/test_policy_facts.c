/* test_policy_facts.c — what a loaded policy means (lib/mg_policy_facts.c):
 * which grants are the same for every client (the module's Cache-Control)
 * and which rule reaches above a directory (the configtest warning about a
 * narrow <Location>). Decisions come from mg_evaluate, not written by hand,
 * so the query is tested against what the evaluator really returns.
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_http.h"
#include "mg_test.h"

static const char policy_text[] = "version: 1\n"
                                  "default: allow\n"
                                  "roles: [member]\n"
                                  "identity:\n"
                                  "  users:\n"
                                  "    ann: [member]\n"
                                  "hotlink:\n"
                                  "  own:\n"
                                  "    allowed_origins: [\"https://site.example\"]\n"
                                  "    empty_referer: allow\n"
                                  "time_windows:\n"
                                  "  always:\n"
                                  "    timezone: UTC\n"
                                  "    days: [mon, tue, wed, thu, fri, sat, sun]\n"
                                  "    hours: [\"00:00-24:00\"]\n"
                                  "rules:\n"
                                  "  - id: public\n"
                                  "    path: /public/\n"
                                  "    access: {anonymous: view, member: download}\n"
                                  "  - id: open\n"
                                  "    path: /open\n"
                                  "    access: {anonymous: download}\n"
                                  "  - id: members\n"
                                  "    path: /members/\n"
                                  "    access: {member: download}\n"
                                  "  - id: by-ip\n"
                                  "    path: /office/\n"
                                  "    ip: {allow: [\"0.0.0.0/0\", \"::/0\"]}\n"
                                  "    access: {anonymous: download}\n"
                                  "  - id: embedded\n"
                                  "    path: /embed/\n"
                                  "    hotlink: own\n"
                                  "    access: {anonymous: download}\n"
                                  "  - id: timed\n"
                                  "    path: /timed/\n"
                                  "    time: always\n"
                                  "    access: {anonymous: download}\n"
                                  "  - id: thumbs\n"
                                  "    path: /thumbs/x-?.jpg\n"
                                  "    access: {anonymous: view}\n"
                                  "  - id: deep\n"
                                  "    path: /a/b/c/\n"
                                  "    access: {anonymous: view}\n";

static mg_policy_t *load(void)
{
    mg_policy_t *p = NULL;
    mg_diags_t *diags = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_load_buffer(mg_test_pool, "facts.yaml", NULL, policy_text,
                                           sizeof(policy_text) - 1, &p, diags),
                     MG_OK);
    return p;
}

/* mg_evaluate's decision for an anonymous GET (or `user`'s) of `target` */
static mg_decision_t decide(const mg_policy_t *p, const char *target, const char *user)
{
    mg_target_t t;
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;
    (void)mg_target_split(mg_test_pool, target, &t, NULL);
    mg_request_from_header_table(&req, &t, NULL);
    req.method = "GET";
    req.client_ip = req.peer_ip = "192.0.2.7";
    req.user = user;
    req.now = apr_time_from_sec(1767225600); /* 2026-01-01T00:00:00Z */
    (void)mg_request_prepare(mg_test_pool, p, &req, &why);
    mg_evaluate(mg_test_pool, p, &req, 0, &d);
    return d;
}

START_TEST(test_anonymous_grant_without_client_conditions_is_shared)
{
    mg_policy_t *p = load();
    mg_decision_t d = decide(p, "/public/a.jpg", NULL);
    ck_assert_int_eq(d.outcome, MG_OUTCOME_ALLOW);
    ck_assert(mg_policy_same_for_everyone(p, &d));
    d = decide(p, "/open/a.jpg?download=1", NULL);
    ck_assert_int_eq(d.access, MG_ACCESS_DOWNLOAD);
    ck_assert(mg_policy_same_for_everyone(p, &d));
    d = decide(p, "/elsewhere/a.jpg", NULL); /* the policy's default allow */
    ck_assert_int_eq(d.reason, MG_R_DEFAULT_ALLOW);
    ck_assert(mg_policy_same_for_everyone(p, &d));
}
END_TEST

START_TEST(test_grant_above_the_anonymous_level_is_private)
{
    mg_policy_t *p = load();
    mg_decision_t d = decide(p, "/public/a.jpg?download=1", "ann");
    ck_assert_int_eq(d.outcome, MG_OUTCOME_ALLOW);
    ck_assert_int_eq(d.access, MG_ACCESS_DOWNLOAD);
    ck_assert(!mg_policy_same_for_everyone(p, &d));
    d = decide(p, "/members/a.jpg", "ann");
    ck_assert_int_eq(d.outcome, MG_OUTCOME_ALLOW);
    ck_assert(!mg_policy_same_for_everyone(p, &d));
}
END_TEST

START_TEST(test_grant_under_a_client_condition_is_private)
{
    mg_policy_t *p = load();
    static const char *const targets[] = {"/office/a.jpg", "/embed/a.jpg", "/timed/a.jpg"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        mg_decision_t d = decide(p, targets[i], NULL);
        ck_assert_msg(d.outcome == MG_OUTCOME_ALLOW, "%s: %s", targets[i], d.detail);
        ck_assert_msg(!mg_policy_same_for_everyone(p, &d), "%s", targets[i]);
    }
}
END_TEST

START_TEST(test_refusals_are_never_shared)
{
    mg_policy_t *p = load();
    mg_decision_t d = decide(p, "/members/a.jpg", NULL);
    ck_assert_int_ne(d.outcome, MG_OUTCOME_ALLOW);
    ck_assert(!mg_policy_same_for_everyone(p, &d));
    d = decide(p, "http://u@h/public/a.jpg", NULL);
    ck_assert_int_eq(d.reason, MG_R_BAD_URL);
    ck_assert(!mg_policy_same_for_everyone(p, &d));
    ck_assert(!mg_policy_same_for_everyone(NULL, &d));
}
END_TEST

/* "RULE PATTERN" of the rule above dir, or "-" */
static const char *above(const mg_policy_t *p, const char *dir, int part)
{
    const char *id = NULL, *pat = NULL;
    if (!mg_policy_rule_above(mg_test_pool, p, dir, part, &id, &pat))
        return "-";
    return apr_pstrcat(mg_test_pool, id, " ", pat, NULL);
}

START_TEST(test_rule_above_a_directory_uses_the_normalised_pattern)
{
    mg_policy_t *p = load();
    ck_assert_str_eq(above(p, "/public/private/", 0), "public /public/");
    /* "/open" judges "/open/": above /open/x/, not above /openx/ */
    ck_assert_str_eq(above(p, "/open/x/", 0), "open /open");
    ck_assert_str_eq(above(p, "/openx/", 0), "-");
    /* a glob judges its literal directory */
    ck_assert_str_eq(above(p, "/thumbs/big/", 0), "thumbs /thumbs/x-?.jpg");
    /* a rule below the directory does not reach above it */
    ck_assert_str_eq(above(p, "/a/", 0), "-");
    ck_assert_str_eq(above(p, "/a/b/", 0), "-");
    ck_assert_str_eq(above(p, "/a/b/c/d/", 0), "deep /a/b/c/");
    ck_assert_str_eq(above(p, "/nowhere/", 0), "-");
    ck_assert_str_eq(above(NULL, "/x/", 0), "-");
}
END_TEST

START_TEST(test_rule_on_the_directory_itself_counts_only_for_part_of_it)
{
    mg_policy_t *p = load();
    ck_assert_str_eq(above(p, "/public/", 0), "-");
    ck_assert_str_eq(above(p, "/public/", 1), "public /public/");
    ck_assert_str_eq(above(p, "/thumbs/", 0), "-");
    ck_assert_str_eq(above(p, "/thumbs/", 1), "thumbs /thumbs/x-?.jpg");
}
END_TEST

static Suite *facts_suite(void)
{
    Suite *s = suite_create("policy_facts");
    TCase *tc = tcase_create("facts");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_anonymous_grant_without_client_conditions_is_shared);
    tcase_add_test(tc, test_grant_above_the_anonymous_level_is_private);
    tcase_add_test(tc, test_grant_under_a_client_condition_is_private);
    tcase_add_test(tc, test_refusals_are_never_shared);
    tcase_add_test(tc, test_rule_above_a_directory_uses_the_normalised_pattern);
    tcase_add_test(tc, test_rule_on_the_directory_itself_counts_only_for_part_of_it);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(facts_suite)
