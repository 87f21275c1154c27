/* test_identity.c — identity and geo sources that need another system:
 * roles_from `apache:` entries (loader, canonical form, the evaluator's
 * questions to the embedding program) and country.from `mmdb:` (mg_geo on
 * a MaxMind DB that `make check` writes with tests/geo/make-test-mmdb.pl,
 * and the evaluator's use of it). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "mg_geo.h"
#include "mg_policy.h"
#include "mg_request.h"
#include "mg_test.h"

#define MMDB MG_BUILDDIR "/tests/unit/test-country.mmdb"

static mg_policy_t *load_st(const char *yaml, mg_diags_t **out)
{
    mg_policy_t *p = NULL;
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    mg_policy_load_buffer(mg_test_pool, "test.yaml", NULL, yaml, strlen(yaml), &p, ds);
    *out = ds;
    return ds->errors == 0 ? p : NULL;
}

static mg_policy_t *load(const char *yaml)
{
    mg_diags_t *ds;
    mg_policy_t *p = load_st(yaml, &ds);
    for (int i = 0; p == NULL && i < ds->items->nelts; i++)
        fprintf(stderr, "%s\n",
                mg_diag_format(mg_test_pool, &APR_ARRAY_IDX(ds->items, i, mg_diag_t)));
    ck_assert_ptr_nonnull(p);
    return p;
}

/* The first error of a policy that must be refused, formatted. */
static const char *refused(const char *yaml)
{
    mg_diags_t *ds;
    ck_assert_ptr_null(load_st(yaml, &ds));
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, i, mg_diag_t);
        if (d->severity == MG_SEV_ERROR)
            return mg_diag_format(mg_test_pool, d);
    }
    ck_abort_msg("no error");
    return NULL;
}

/* ------------------------------------------------------------------ */
/* roles_from apache:                                                  */
/* ------------------------------------------------------------------ */

static const char *GROUPS =
    "version: 1\n"
    "roles: [editors, staff, viewer]\n"
    "identity:\n"
    "  users: {carol: [viewer]}\n"
    "  roles_from:\n"
    "    - users\n"
    "    - apache:\n"
    "        editors: \"group editors\"\n"
    "        staff: \"  ldap-group   cn=staff,ou=groups,dc=example,dc=com \"\n"
    "rules:\n"
    "  - {id: drafts, path: /drafts/, access: {editors: download, staff: view, viewer: view}}\n"
    "  - {id: pub, path: /pub/, access: {anonymous: view}}\n";

typedef struct asked {
    int calls;
    int index[8];
    mg_grant_t answer[8]; /* by entry index */
} asked_t;

static mg_grant_t grant_fn(void *ctx, int index, const struct mg_role_grant *g)
{
    asked_t *a = ctx;
    ck_assert_ptr_nonnull(g);
    if (a->calls < 8)
        a->index[a->calls] = index;
    a->calls++;
    return index >= 0 && index < 8 ? a->answer[index] : MG_GRANT_ERROR;
}

static mg_decision_t *decide(const mg_policy_t *p, const char *url, const char *user,
                             const char *ip, asked_t *a)
{
    mg_request_t *r = apr_pcalloc(mg_test_pool, sizeof(*r));
    mg_decision_t *d = apr_pcalloc(mg_test_pool, sizeof(*d));
    const char *why = NULL;
    const char *q = strchr(url, '?');
    r->method = "GET";
    r->raw_path = q ? apr_pstrndup(mg_test_pool, url, (apr_size_t)(q - url)) : url;
    r->query = q ? q + 1 : NULL;
    r->scheme = "https";
    r->host = "example.com";
    r->client_ip = r->peer_ip = ip ? ip : "198.51.100.7";
    r->user = user;
    r->now = apr_time_now();
    if (a) {
        r->grant_check = grant_fn;
        r->grant_ctx = a;
    }
    mg_request_prepare(mg_test_pool, p, r, &why);
    mg_evaluate(mg_test_pool, p, r, 1, d);
    return d;
}

START_TEST(test_apache_entries_are_split_like_a_require_line)
{
    mg_policy_t *p = load(GROUPS);
    ck_assert_int_eq(p->role_grants->nelts, 2);
    const mg_role_grant_t *g = &APR_ARRAY_IDX(p->role_grants, 1, mg_role_grant_t);
    ck_assert_str_eq(g->provider, "ldap-group");
    ck_assert_str_eq(g->args, "cn=staff,ou=groups,dc=example,dc=com");
    ck_assert_str_eq(g->line, "ldap-group cn=staff,ou=groups,dc=example,dc=com");
    ck_assert_int_eq(g->pos.line, 9);
    ck_assert_int_eq(g->pos.col, 16);
    ck_assert_uint_eq(p->grant_roles, 3u); /* editors, staff */
}
END_TEST

START_TEST(test_apache_source_survives_the_canonical_form)
{
    mg_policy_t *p = load(GROUPS);
    const char *text = mg_policy_emit(mg_test_pool, p);
    ck_assert_ptr_nonnull(strstr(text, "    - apache:\n        editors: \"group editors\"\n"));
    mg_policy_t *q = load(text);
    ck_assert_str_eq(mg_policy_digest(p), mg_policy_digest(q));
    ck_assert_int_eq(q->role_grants->nelts, 2);
}
END_TEST

START_TEST(test_bad_apache_entries_are_refused_with_their_position)
{
    const char *head = "version: 1\nroles: [editors]\nidentity:\n  roles_from:\n    - apache:\n";
    const char *tail = "rules: []\n";
    ck_assert_ptr_nonnull(strstr(
        refused(apr_pstrcat(mg_test_pool, head, "        editor: \"group editors\"\n", tail, NULL)),
        "test.yaml:6:9: error:"));
    ck_assert_ptr_nonnull(
        strstr(refused(apr_pstrcat(mg_test_pool, head, "        editors: \"media-guard x\"\n", tail,
                                   NULL)),
               "media-guard itself"));
    ck_assert_ptr_nonnull(strstr(
        refused(apr_pstrcat(mg_test_pool, head, "        editors: \"not group x\"\n", tail, NULL)),
        "'not' is Require syntax"));
    ck_assert_ptr_nonnull(
        strstr(refused(apr_pstrcat(mg_test_pool, head, "        editors: \"  \"\n", tail, NULL)),
               "test.yaml:6:18: error: 'editors' must start with an authorization provider name"));
    ck_assert_ptr_nonnull(
        strstr(refused(apr_pstrcat(mg_test_pool, head, "        {}\n", tail, NULL)),
               "expected a mapping of role"));
    ck_assert_ptr_nonnull(strstr(refused("version: 1\nroles: [a]\nidentity:\n  roles_from:\n"
                                         "    - {apache: {a: group x}, env: X}\nrules: []\n"),
                                 "error:"));
}
END_TEST

START_TEST(test_no_question_when_the_rule_needs_no_role)
{
    mg_policy_t *p = load(GROUPS);
    asked_t a = {0};
    a.answer[0] = a.answer[1] = MG_GRANT_ERROR; /* any question would deny */
    mg_decision_t *d = decide(p, "/pub/a.jpg", "bob", NULL, &a);
    ck_assert_int_eq(d->outcome, MG_OUTCOME_ALLOW);
    ck_assert_int_eq(a.calls, 0);
}
END_TEST

START_TEST(test_a_passing_require_grants_its_role)
{
    mg_policy_t *p = load(GROUPS);
    asked_t a = {0};
    a.answer[0] = MG_GRANT_YES;
    mg_decision_t *d = decide(p, "/drafts/a.jpg?download=1", "alice", NULL, &a);
    ck_assert_int_eq(d->outcome, MG_OUTCOME_ALLOW);
    ck_assert_int_eq(d->access, MG_ACCESS_DOWNLOAD);
    /* editors already gives the highest level: staff is not asked */
    ck_assert_int_eq(a.calls, 1);
    ck_assert_int_eq(a.index[0], 0);
}
END_TEST

START_TEST(test_roles_already_held_are_not_asked_again)
{
    mg_policy_t *p = load(GROUPS);
    asked_t a = {0};
    /* carol has viewer (view) from users: only editors (download) could
     * raise her level; staff (view) could not */
    mg_decision_t *d = decide(p, "/drafts/a.jpg", "carol", NULL, &a);
    ck_assert_int_eq(d->outcome, MG_OUTCOME_ALLOW);
    ck_assert_int_eq(d->access, MG_ACCESS_VIEW);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_int_eq(a.index[0], 0);
}
END_TEST

START_TEST(test_no_passing_require_is_role_insufficient)
{
    mg_policy_t *p = load(GROUPS);
    asked_t a = {0};
    mg_decision_t *d = decide(p, "/drafts/a.jpg", "bob", NULL, &a);
    ck_assert_int_eq(d->outcome, MG_OUTCOME_DENY);
    ck_assert_int_eq(d->reason, MG_R_ROLE);
    ck_assert_int_eq(a.calls, 2);
}
END_TEST

START_TEST(test_nobody_signed_in_and_no_passing_require_asks_for_authentication)
{
    mg_policy_t *p = load(GROUPS);
    asked_t a = {0};
    mg_decision_t *d = decide(p, "/drafts/a.jpg", NULL, NULL, &a);
    ck_assert_int_eq(d->outcome, MG_OUTCOME_AUTH);
    ck_assert_int_eq(d->reason, MG_R_LOGIN_REQUIRED);
}
END_TEST

START_TEST(test_a_provider_error_denies_even_if_another_role_might_pass)
{
    mg_policy_t *p = load(GROUPS);
    asked_t a = {0};
    a.answer[0] = MG_GRANT_ERROR;
    a.answer[1] = MG_GRANT_YES;
    mg_decision_t *d = decide(p, "/drafts/a.jpg", "alice", NULL, &a);
    ck_assert_int_eq(d->outcome, MG_OUTCOME_DENY);
    ck_assert_int_eq(d->reason, MG_R_INTERNAL);
    ck_assert_ptr_nonnull(strstr(d->detail, "'Require group editors' could not be decided"));
}
END_TEST

START_TEST(test_without_a_grant_callback_apache_roles_are_never_held)
{
    mg_policy_t *p = load(GROUPS);
    mg_decision_t *d = decide(p, "/drafts/a.jpg", "alice", NULL, NULL);
    ck_assert_int_eq(d->reason, MG_R_ROLE);
    int said = 0;
    for (int i = 0; d->trace && i < d->trace->nelts; i++)
        said |= strstr(APR_ARRAY_IDX(d->trace, i, const char *), "not asked") != NULL;
    ck_assert(said);
}
END_TEST

/* ------------------------------------------------------------------ */
/* country.from mmdb:                                                  */
/* ------------------------------------------------------------------ */

static mg_geo_result_t geo(const char *path, const char *ip, char cc[3], const char **why)
{
    mg_geo_t *g = NULL;
    const char *w = NULL;
    mg_ip_t a;
    ck_assert_int_eq(mg_geo_open(mg_test_pool, path, &g, &w), MG_OK);
    ck_assert_int_eq(mg_ip_parse(ip, &a), 0);
    return mg_geo_country(g, &a, cc, why);
}

START_TEST(test_mmdb_country_iso_code)
{
    char cc[3] = "";
    const char *why = NULL;
    ck_assert_int_eq(geo(MMDB, "192.0.2.77", cc, &why), MG_GEO_FOUND);
    ck_assert_str_eq(cc, "DE");
    ck_assert_int_eq(geo(MMDB, "198.51.100.1", cc, &why), MG_GEO_FOUND);
    ck_assert_str_eq(cc, "US");
    ck_assert_int_eq(geo(MMDB, "2001:db8:1::5", cc, &why), MG_GEO_FOUND);
    ck_assert_str_eq(cc, "JP");
    /* an IPv4-mapped IPv6 client is its IPv4 address (mg_ip_parse) */
    ck_assert_int_eq(geo(MMDB, "::ffff:192.0.2.1", cc, &why), MG_GEO_FOUND);
    ck_assert_str_eq(cc, "DE");
}
END_TEST

START_TEST(test_mmdb_registered_country_is_the_fallback)
{
    char cc[3] = "";
    const char *why = NULL;
    ck_assert_int_eq(geo(MMDB, "203.0.113.9", cc, &why), MG_GEO_FOUND);
    ck_assert_str_eq(cc, "FR");
}
END_TEST

START_TEST(test_mmdb_absent_address_or_record_without_country_is_unknown)
{
    char cc[3] = "";
    const char *why = NULL;
    ck_assert_int_eq(geo(MMDB, "203.0.113.200", cc, &why), MG_GEO_UNKNOWN);
    ck_assert_int_eq(geo(MMDB, "127.0.0.1", cc, &why), MG_GEO_UNKNOWN);
    ck_assert_int_eq(geo(MMDB, "2001:db8:2::1", cc, &why), MG_GEO_UNKNOWN);
}
END_TEST

/* A copy of the test database whose search tree is overwritten: the
 * metadata still opens, every lookup fails. */
static const char *corrupt_copy(void)
{
    char *path =
        apr_psprintf(mg_test_pool, "%s/mg-geo-%d.mmdb", MG_BUILDDIR "/tests/unit", (int)getpid());
    apr_file_t *in, *out;
    char buf[8192];
    apr_size_t n = sizeof(buf);
    ck_assert_int_eq(apr_file_open(&in, MMDB, APR_FOPEN_READ, 0, mg_test_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_read(in, buf, &n), APR_SUCCESS);
    apr_file_close(in);
    ck_assert_uint_gt(n, 64);
    memset(buf, 0xff, 48);
    ck_assert_int_eq(apr_file_open(&out, path,
                                   APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE,
                                   APR_FPROT_OS_DEFAULT, mg_test_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(out, buf, n, NULL), APR_SUCCESS);
    apr_file_close(out);
    return path;
}

START_TEST(test_mmdb_corrupt_tree_is_an_error)
{
    char cc[3] = "";
    const char *why = NULL;
    const char *path = corrupt_copy();
    ck_assert_int_eq(geo(path, "192.0.2.77", cc, &why), MG_GEO_ERROR);
    ck_assert_ptr_nonnull(why);
    apr_file_remove(path, mg_test_pool);
}
END_TEST

static const char *geo_policy(const char *file)
{
    return apr_psprintf(mg_test_pool,
                        "version: 1\ncountry:\n  from: {mmdb: \"%s\"}\nrules:\n"
                        "  - {id: eu, path: /eu/, country: {allow: [DE, FR]}, access: {anonymous: "
                        "view}}\n"
                        "  - {id: any, path: /any/, access: {anonymous: view}}\n",
                        file);
}

START_TEST(test_mmdb_decides_the_country_of_a_rule)
{
    mg_policy_t *p = load(geo_policy(MMDB));
    ck_assert_int_eq(decide(p, "/eu/a.jpg", NULL, "192.0.2.1", NULL)->outcome, MG_OUTCOME_ALLOW);
    ck_assert_int_eq(decide(p, "/eu/a.jpg", NULL, "203.0.113.1", NULL)->outcome, MG_OUTCOME_ALLOW);
    ck_assert_int_eq(decide(p, "/eu/a.jpg", NULL, "198.51.100.1", NULL)->reason,
                     MG_R_COUNTRY_DENIED);
    ck_assert_int_eq(decide(p, "/eu/a.jpg", NULL, "127.0.0.1", NULL)->reason, MG_R_COUNTRY_UNKNOWN);
}
END_TEST

START_TEST(test_mmdb_lookup_error_denies_only_rules_that_check_the_country)
{
    const char *path = corrupt_copy();
    mg_policy_t *p = load(geo_policy(path));
    mg_decision_t *d = decide(p, "/eu/a.jpg", NULL, "192.0.2.1", NULL);
    ck_assert_int_eq(d->outcome, MG_OUTCOME_DENY);
    ck_assert_int_eq(d->reason, MG_R_INTERNAL);
    ck_assert_ptr_nonnull(strstr(d->detail, "country lookup of 192.0.2.1 failed"));
    ck_assert_int_eq(decide(p, "/any/a.jpg", NULL, "192.0.2.1", NULL)->outcome, MG_OUTCOME_ALLOW);
    apr_file_remove(path, mg_test_pool);
}
END_TEST

START_TEST(test_missing_or_foreign_mmdb_refuses_the_policy)
{
    const char *e = refused(geo_policy(MG_BUILDDIR "/tests/unit/no-such.mmdb"));
    ck_assert_ptr_nonnull(strstr(e, "test.yaml:3:16: error: country.from.mmdb: cannot read"));
    ck_assert_ptr_nonnull(strstr(e, "No such file or directory"));
    e = refused(geo_policy(MG_SRCDIR "/tests/geo/make-test-mmdb.pl"));
    ck_assert_ptr_nonnull(strstr(e, "is not a MaxMind DB file"));
    /* a directory (or a FIFO, which would block) is not opened at all */
    e = refused(geo_policy(MG_SRCDIR "/tests/geo"));
    ck_assert_ptr_nonnull(strstr(e, "is not a regular file"));
    e = refused("version: 1\ncountry:\n  from: {mmdb: x.mmdb, env: X}\nrules: []\n");
    ck_assert_ptr_nonnull(strstr(e, "error:"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("identity");
    TCase *t = tcase_create("apache");
    tcase_add_checked_fixture(t, mg_test_setup, mg_test_teardown);
    tcase_add_test(t, test_apache_entries_are_split_like_a_require_line);
    tcase_add_test(t, test_apache_source_survives_the_canonical_form);
    tcase_add_test(t, test_bad_apache_entries_are_refused_with_their_position);
    tcase_add_test(t, test_no_question_when_the_rule_needs_no_role);
    tcase_add_test(t, test_a_passing_require_grants_its_role);
    tcase_add_test(t, test_roles_already_held_are_not_asked_again);
    tcase_add_test(t, test_no_passing_require_is_role_insufficient);
    tcase_add_test(t, test_nobody_signed_in_and_no_passing_require_asks_for_authentication);
    tcase_add_test(t, test_a_provider_error_denies_even_if_another_role_might_pass);
    tcase_add_test(t, test_without_a_grant_callback_apache_roles_are_never_held);
    suite_add_tcase(s, t);
    t = tcase_create("mmdb");
    tcase_add_checked_fixture(t, mg_test_setup, mg_test_teardown);
    tcase_add_test(t, test_mmdb_country_iso_code);
    tcase_add_test(t, test_mmdb_registered_country_is_the_fallback);
    tcase_add_test(t, test_mmdb_absent_address_or_record_without_country_is_unknown);
    tcase_add_test(t, test_mmdb_corrupt_tree_is_an_error);
    tcase_add_test(t, test_mmdb_decides_the_country_of_a_rule);
    tcase_add_test(t, test_mmdb_lookup_error_denies_only_rules_that_check_the_country);
    tcase_add_test(t, test_missing_or_foreign_mmdb_refuses_the_policy);
    suite_add_tcase(s, t);
    return s;
}

MG_TEST_MAIN(suite)
