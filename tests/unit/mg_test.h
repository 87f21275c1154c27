/* mg_test.h — shared helpers for the check-based unit tests. */
#ifndef MG_TEST_H
#define MG_TEST_H

#include <check.h>
#include <stdlib.h>

#include <apr_general.h>
#include <apr_pools.h>

/* One pool per test case, created in setup and destroyed in teardown. */
extern apr_pool_t *mg_test_pool;

static inline void mg_test_setup(void)
{
    apr_pool_create(&mg_test_pool, NULL);
}
static inline void mg_test_teardown(void)
{
    apr_pool_destroy(mg_test_pool);
    mg_test_pool = NULL;
}

/* Standard main: run one suite built by `make_suite`, exit non-zero on any
 * failure. Define MG_TEST_MAIN(make_suite) once per test program. */
#define MG_TEST_MAIN(make_suite)                                          \
    apr_pool_t *mg_test_pool;                                             \
    int main(void)                                                        \
    {                                                                     \
        apr_initialize();                                                 \
        SRunner *sr = srunner_create(make_suite());                       \
        srunner_run_all(sr, CK_NORMAL);                                   \
        int failed = srunner_ntests_failed(sr);                           \
        srunner_free(sr);                                                 \
        apr_terminate();                                                  \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                 \
    }

#endif
