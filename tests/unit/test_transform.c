/* test_transform.c — ImageKit-style transformation strings: grammar, limits
 * and normalisation (docs/canonical-urls.md, "Transformation strings"). */
#include <string.h>

#include <apr_strings.h>

#include "mg_transform.h"
#include "mg_test.h"

typedef struct tr_case {
    const char *in;
    const char *norm; /* expected mg_transform_normalize(); NULL = refused */
    const char *why;  /* refused: a word the reason must contain */
} tr_case_t;

static const tr_case_t cases[] = {
    /* accepted; normalisation sorts each step, keeps step order */
    {"w-300", "w-300", NULL},
    {"w-300,h-300", "h-300,w-300", NULL},
    {"h-300,w-300", "h-300,w-300", NULL},
    {"w-300,h-300:rt-90,oi-logo.png", "h-300,w-300:oi-logo.png,rt-90", NULL},
    {"rt-90:w-300", "rt-90:w-300", NULL},
    {"w-1:w-2", "w-1:w-2", NULL},
    {"bg-FF0000", "bg-FF0000", NULL},
    {"x-N10,y-N20", "x-N10,y-N20", NULL},
    {"ar-4-3", "ar-4-3", NULL},
    {"e-grayscale", "e-grayscale", NULL},
    {"c-at_max,fo-auto", "c-at_max,fo-auto", NULL},
    {"oi-folder@@logo.png", "oi-folder@@logo.png", NULL},
    {"ie-SGVsbG8=", "ie-SGVsbG8=", NULL},
    {"q-80,f-webp,w-1200,h-800,dpr-2", "dpr-2,f-webp,h-800,q-80,w-1200", NULL},
    {"w2-1,w10-2,w1-3", "w1-3,w10-2,w2-1", NULL},
    {"e-sharpen-10", "e-sharpen-10", NULL},
    {"t-(x)*~!$+", "t-(x)*~!$+", NULL},
    /* refused */
    {"", NULL, "empty"},
    {"w", NULL, "'-'"},
    {"w-", NULL, "empty value"},
    {"-100", NULL, "key"},
    {"W-100", NULL, "key"},
    {"Wi-100", NULL, "key"},
    {"w_x-1", NULL, "key"},
    {"\xc3\xa9-1", NULL, "key"},
    {"w-100,", NULL, "empty"},
    {",w-100", NULL, "empty"},
    {"w-100,,h-1", NULL, "empty"},
    {"w-100::h-1", NULL, "empty"},
    {":w-100", NULL, "empty"},
    {"w-100:", NULL, "empty"},
    {"w-1,w-2", NULL, "duplicate"},
    {"w-1,h-2,w-3", NULL, "duplicate"},
    {"l-image,i-a.png,l-end", NULL, "duplicate"},
    {"w-1 0", NULL, "character"},
    {"w-1/2", NULL, "character"},
    {"oi-../x.png", NULL, "character"},
    {"oi-a%20b", NULL, "character"},
    {"w-1\t", NULL, "character"},
    {"w-1\x7f", NULL, "character"},
    {"oi-logo.png?x", NULL, "character"},
    {"w-1;h-2", NULL, "character"},
    {"w-1&h-2", NULL, "character"},
    {"w-\xc3\xa9", NULL, "character"},
    {"w-\"x\"", NULL, "character"},
    {"w-a\\b", NULL, "character"},
    {"oi-logo.", NULL, "dot"},
    {"w-1,oi-a.:h-1", NULL, "dot"},
};

#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

START_TEST(test_transform_table_case_parses_and_normalises_or_is_refused)
{
    const tr_case_t *c = &cases[_i];
    mg_tr_t tr;
    const char *why = NULL;
    int rc = mg_transform_parse(mg_test_pool, c->in, &tr, &why);

    if (c->norm == NULL) {
        ck_assert_msg(rc == -1, "case %d '%s' should be refused", _i, c->in);
        ck_assert_ptr_nonnull(why);
        ck_assert_msg(strstr(why, c->why) != NULL, "case %d '%s': reason '%s' lacks '%s'", _i,
                      c->in, why, c->why);
        ck_assert_uint_le(strlen(why), 64);
        ck_assert_int_eq(tr.nsteps, 0);
        return;
    }
    ck_assert_msg(rc == 0, "case %d '%s' refused: %s", _i, c->in, why ? why : "?");
    ck_assert_str_eq(mg_transform_normalize(mg_test_pool, &tr), c->norm);
    /* normalising is idempotent */
    mg_tr_t again;
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, c->norm, &again, &why), 0);
    ck_assert_str_eq(mg_transform_normalize(mg_test_pool, &again), c->norm);
}
END_TEST

START_TEST(test_parse_keeps_steps_and_parameter_order_and_splits_at_first_dash)
{
    mg_tr_t tr;
    const char *why = NULL;
    ck_assert_int_eq(
        mg_transform_parse(mg_test_pool, "w-300,h-300:rt-90,oi-logo.png,ar-4-3", &tr, &why), 0);
    ck_assert_int_eq(tr.nsteps, 2);
    ck_assert_int_eq(tr.steps[0].nparams, 2);
    ck_assert_str_eq(tr.steps[0].params[0].key, "w");
    ck_assert_str_eq(tr.steps[0].params[0].value, "300");
    ck_assert_str_eq(tr.steps[0].params[1].key, "h");
    ck_assert_int_eq(tr.steps[1].nparams, 3);
    ck_assert_str_eq(tr.steps[1].params[0].key, "rt");
    ck_assert_str_eq(tr.steps[1].params[1].key, "oi");
    ck_assert_str_eq(tr.steps[1].params[1].value, "logo.png");
    ck_assert_str_eq(tr.steps[1].params[2].key, "ar");
    ck_assert_str_eq(tr.steps[1].params[2].value, "4-3");
}
END_TEST

START_TEST(test_parse_does_not_modify_its_input)
{
    mg_tr_t tr;
    const char *why = NULL;
    char in[] = "w-1,h-2:rt-90";
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, in, &tr, &why), 0);
    ck_assert_str_eq(in, "w-1,h-2:rt-90");
}
END_TEST

static const char *steps_of(int n)
{
    const char *s = "a-1";
    for (int i = 1; i < n; i++)
        s = apr_pstrcat(mg_test_pool, s, ":a-1", NULL);
    return s;
}

START_TEST(test_step_limit_is_inclusive)
{
    mg_tr_t tr;
    const char *why = NULL;
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, steps_of(MG_TR_MAX_STEPS), &tr, &why), 0);
    ck_assert_int_eq(tr.nsteps, MG_TR_MAX_STEPS);
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, steps_of(MG_TR_MAX_STEPS + 1), &tr, &why),
                     -1);
    ck_assert_str_eq(why, "too many transformation steps");
}
END_TEST

static const char *params_of(int n, char sep)
{
    const char *s = "k0-1";
    for (int i = 1; i < n; i++)
        s = apr_psprintf(mg_test_pool, "%s%ck%d-1", s, sep, i);
    return s;
}

START_TEST(test_parameter_limit_counts_all_steps)
{
    mg_tr_t tr;
    const char *why = NULL;
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, params_of(MG_TR_MAX_PARAMS, ','), &tr, &why),
                     0);
    ck_assert_int_eq(tr.steps[0].nparams, MG_TR_MAX_PARAMS);
    ck_assert_int_eq(
        mg_transform_parse(mg_test_pool, params_of(MG_TR_MAX_PARAMS + 1, ','), &tr, &why), -1);
    ck_assert_str_eq(why, "too many transformation parameters");
    /* 4 steps of 8 = 32 is fine; a 33rd in a later step is not */
    const char *s = "a-1,b-1,c-1,d-1,e-1,f-1,g-1,h-1";
    const char *four = apr_pstrcat(mg_test_pool, s, ":", s, ":", s, ":", s, NULL);
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, four, &tr, &why), 0);
    ck_assert_int_eq(
        mg_transform_parse(mg_test_pool, apr_pstrcat(mg_test_pool, four, ":z-1", NULL), &tr, &why),
        -1);
}
END_TEST

START_TEST(test_length_limit_is_inclusive)
{
    mg_tr_t tr;
    const char *why = NULL;
    char *s = apr_palloc(mg_test_pool, MG_TR_MAX_LEN + 2);
    memset(s, 'x', MG_TR_MAX_LEN + 1);
    s[0] = 'w';
    s[1] = '-';
    s[MG_TR_MAX_LEN] = '\0';
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, s, &tr, &why), 0);
    ck_assert_uint_eq(strlen(tr.steps[0].params[0].value), MG_TR_MAX_LEN - 2);
    s[MG_TR_MAX_LEN] = 'x';
    s[MG_TR_MAX_LEN + 1] = '\0';
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, s, &tr, &why), -1);
    ck_assert_str_eq(why, "transformation string too long");
}
END_TEST

START_TEST(test_normalize_of_empty_or_null_is_null)
{
    mg_tr_t tr = {0, NULL};
    ck_assert_ptr_null(mg_transform_normalize(mg_test_pool, NULL));
    ck_assert_ptr_null(mg_transform_normalize(mg_test_pool, &tr));
}
END_TEST

START_TEST(test_same_parameters_in_another_order_normalise_equal_but_steps_do_not)
{
    mg_tr_t a, b, c;
    const char *why = NULL;
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, "oi-logo.png,w-500,h-500", &a, &why), 0);
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, "w-500,h-500,oi-logo.png", &b, &why), 0);
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, "w-500,h-500:oi-logo.png", &c, &why), 0);
    ck_assert_str_eq(mg_transform_normalize(mg_test_pool, &a),
                     mg_transform_normalize(mg_test_pool, &b));
    ck_assert_str_ne(mg_transform_normalize(mg_test_pool, &a),
                     mg_transform_normalize(mg_test_pool, &c));
}
END_TEST

START_TEST(test_null_input_is_refused)
{
    mg_tr_t tr;
    const char *why = NULL;
    ck_assert_int_eq(mg_transform_parse(mg_test_pool, NULL, &tr, &why), -1);
    ck_assert_ptr_nonnull(why);
}
END_TEST

static Suite *transform_suite(void)
{
    Suite *s = suite_create("transform");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_loop_test(tc, test_transform_table_case_parses_and_normalises_or_is_refused, 0,
                        NCASES);
    suite_add_tcase(s, tc);

    tc = tcase_create("structure");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_parse_keeps_steps_and_parameter_order_and_splits_at_first_dash);
    tcase_add_test(tc, test_parse_does_not_modify_its_input);
    tcase_add_test(tc, test_step_limit_is_inclusive);
    tcase_add_test(tc, test_parameter_limit_counts_all_steps);
    tcase_add_test(tc, test_length_limit_is_inclusive);
    tcase_add_test(tc, test_normalize_of_empty_or_null_is_null);
    tcase_add_test(tc, test_same_parameters_in_another_order_normalise_equal_but_steps_do_not);
    tcase_add_test(tc, test_null_input_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(transform_suite)
