/* test_diag.c — diagnostics formatting, ordering and suggestions. */
#include <string.h>

#include <apr_strings.h>

#include "mg_diag.h"
#include "mg_test.h"

START_TEST(test_diag_format_has_file_line_col_and_hint)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    mg_diag_t *d = mg_diag_add(ds, MG_SEV_ERROR, "p.yaml", 7, 3, "unknown-key",
                               "unknown key '%s' in a rule", "rols");
    d->hint = "did you mean 'roles'?";
    ck_assert_str_eq(mg_diag_format(mg_test_pool, d),
                     "p.yaml:7:3: error: unknown key 'rols' in a rule (did you mean 'roles'?)");
    ck_assert_int_eq(ds->errors, 1);
    ck_assert_int_eq(ds->warnings, 0);
}
END_TEST

/* A policy's quoted key with a line break printed a second line of its
 * choosing: a GitHub workflow command in a CI log (red team 23b). */
START_TEST(test_diag_format_is_one_line_whatever_the_policy_quotes)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    mg_diag_t *d = mg_diag_add(ds, MG_SEV_ERROR, "p\r.yaml", 2, 1, "unknown-key",
                               "unknown key '%s' in the policy",
                               "a\n::warning file=x.yaml::injected\t\x01\x7f");
    ck_assert_str_eq(mg_diag_format(mg_test_pool, d),
                     "p\\r.yaml:2:1: error: unknown key 'a\\n::warning file=x.yaml::injected"
                     "\\t\\x01\\x7F' in the policy");
    const char *plain = "p.yaml:1:1: caf\xc3\xa9";
    ck_assert_ptr_eq(mg_one_line(mg_test_pool, plain), plain);
}
END_TEST

/* A policy name of 1 MiB was quoted whole: 1 MiB per diagnostic in a CI
 * log (red team 25b). Cut at a character's start, and said. */
START_TEST(test_diag_message_quoting_a_huge_scalar_is_cut)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    char *big = apr_palloc(mg_test_pool, (1 << 20) + 1);
    /* e-acute (2 bytes) around the cut, at both parities: never half of one */
    for (int shift = 0; shift < 2; shift++) {
        memset(big, 'a', 1 << 20);
        big[1 << 20] = '\0';
        for (int k = 800 + shift; k < 1200; k += 2) {
            big[k] = '\xc3';
            big[k + 1] = '\xa9';
        }
        mg_diag_t *d =
            mg_diag_add(ds, MG_SEV_ERROR, "p.yaml", 2, 7, "name", "policy name '%s'", big);
        ck_assert_uint_le(strlen(d->msg), MG_DIAG_MSG_MAX);
        const char *cut = strstr(d->msg, "... (cut: the message is longer than 1024 bytes)");
        ck_assert_ptr_nonnull(cut);
        ck_assert_int_ne((unsigned char)cut[-1], 0xc3);
        ck_assert_uint_le(strlen(mg_diag_format(mg_test_pool, d)), MG_DIAG_MSG_MAX + 40);
    }
    mg_diag_t *d = mg_diag_add(ds, MG_SEV_ERROR, "p.yaml", 2, 7, "name", "short '%s'", "x");
    ck_assert_str_eq(d->msg, "short 'x'");
}
END_TEST

/* A hint quotes the policy too ("write 'aaa...'" for a 1 MiB extension
 * in capitals): it was printed whole past the message's cut (mgctl
 * validate: 1,049,697 bytes). Every output takes it through mg_diag_hint. */
START_TEST(test_diag_hint_quoting_a_huge_scalar_is_cut)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    char *big = apr_palloc(mg_test_pool, (1 << 20) + 1);

    memset(big, 'a', 1 << 20);
    big[1 << 20] = '\0';
    mg_diag_t *d = mg_diag_add(ds, MG_SEV_ERROR, "p.yaml", 2, 7, "bad-extension", "short");
    d->hint = apr_psprintf(mg_test_pool, "write '%s'", big);
    ck_assert_uint_le(strlen(mg_diag_hint(mg_test_pool, d)), MG_DIAG_MSG_MAX);
    ck_assert_uint_le(strlen(mg_diag_format(mg_test_pool, d)), MG_DIAG_MSG_MAX + 40);
    d->hint = "write 'jpg'";
    ck_assert_str_eq(mg_diag_format(mg_test_pool, d), "p.yaml:2:7: error: short (write 'jpg')");
}
END_TEST

START_TEST(test_diags_sort_orders_by_line_then_column)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    mg_diag_add(ds, MG_SEV_WARNING, "a", 9, 1, NULL, "third");
    mg_diag_add(ds, MG_SEV_ERROR, "a", 2, 5, NULL, "second");
    mg_diag_add(ds, MG_SEV_ERROR, "a", 2, 1, NULL, "first");
    mg_diags_sort(ds);
    mg_diag_t *v = (mg_diag_t *)ds->items->elts;
    ck_assert_str_eq(v[0].msg, "first");
    ck_assert_str_eq(v[1].msg, "second");
    ck_assert_str_eq(v[2].msg, "third");
    ck_assert_int_eq(ds->warnings, 1);
}
END_TEST

START_TEST(test_suggest_finds_close_key_and_rejects_far_one)
{
    static const char *const keys[] = {"roles", "rules", "classes", NULL};
    ck_assert_str_eq(mg_suggest("rols", keys), "roles");
    ck_assert_str_eq(mg_suggest("clases", keys), "classes");
    ck_assert_ptr_null(mg_suggest("timezone", keys));
}
END_TEST

static Suite *diag_suite(void)
{
    Suite *s = suite_create("diag");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_diag_format_has_file_line_col_and_hint);
    tcase_add_test(tc, test_diag_format_is_one_line_whatever_the_policy_quotes);
    tcase_add_test(tc, test_diag_message_quoting_a_huge_scalar_is_cut);
    tcase_add_test(tc, test_diag_hint_quoting_a_huge_scalar_is_cut);
    tcase_add_test(tc, test_diags_sort_orders_by_line_then_column);
    tcase_add_test(tc, test_suggest_finds_close_key_and_rejects_far_one);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(diag_suite)
