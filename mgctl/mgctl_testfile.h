/* mgctl_testfile.h — policy test files (mgctl_testfile.c): parsed and
 * validated into cases that `mgctl test` runs. The format is documented in
 * docs/policy-tests.md.
 */
#ifndef MGCTL_TESTFILE_H
#define MGCTL_TESTFILE_H

#include "mg.h"
#include "mgctl_util.h"

/* One expectation: `field` is one of the names in mgctl_expect_fields;
 * `value` NULL means "expected absent" (YAML null). */
typedef struct mgctl_expect {
    const char *field;
    const char *value;
    int line, col;
} mgctl_expect_t;

typedef struct mgctl_case {
    const char *name;
    int line, col;         /* where the case starts */
    mgctl_reqspec_t *spec; /* defaults merged in */
    int time_set;          /* request (or defaults) fixed the time */
    int time_line, time_col;
    apr_array_header_t *expect; /* mgctl_expect_t, in file order */
} mgctl_case_t;

/* A policy file a test file names, resolved against its directory. */
typedef struct mgctl_policy_ref {
    const char *path;
    int line, col;
} mgctl_policy_ref_t;

typedef struct mgctl_testfile {
    const char *file;        /* as given */
    const char *policy_path; /* resolved against the test file's directory */
    int policy_line, policy_col;
    apr_array_header_t *server_policies; /* mgctl_policy_ref_t: the server's other policies */
    apr_array_header_t *cases;           /* mgctl_case_t */
} mgctl_testfile_t;

/* Names `expect` accepts, NULL-terminated. */
extern const char *const mgctl_expect_fields[];

/* Parse `buf` (the contents of `file`). Every problem is appended to diags
 * with file:line:column; returns MG_OK only when there is none. */
mg_status_t mgctl_testfile_parse(apr_pool_t *pool, const char *file, const char *buf, size_t len,
                                 mgctl_testfile_t **out, mg_diags_t *diags);

/* The decision's value for an expectation field, as text ("allow", "403",
 * NULL when the decision has none), so expected and actual compare as
 * strings. */
const char *mgctl_expect_actual(apr_pool_t *pool, const char *field, const mg_decision_t *d);

#endif /* MGCTL_TESTFILE_H */
