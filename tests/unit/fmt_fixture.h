/* fmt_fixture.h — what the foreign-format unit tests (test_fmt*.c) share: a
 * key directory of their own per test, policies loaded from text against it,
 * the request mg_token_check judges, the format keys' signers. One copy, so
 * that the four programs build their requests and load their policies the
 * same way (issue 15). Linked into those programs only (Makefile.am).
 */
#ifndef MG_FMT_FIXTURE_H
#define MG_FMT_FIXTURE_H

#include <stdint.h>

#include "mg_fmt.h"
#include "mg_keys.h"
#include "mg_test.h"
#include "mg_token.h"

/* The running test's key directory: mkdtemp(3) makes it from the template
 * /tmp/mg-test-TAG-XXXXXX, replacing the six X with a unique suffix. */
extern char mg_fx_dir[64];

/* A checked fixture's halves: mg_test_setup() and a new key directory;
 * every file mg_fx_write_file() wrote, the directory, mg_test_teardown(). */
void mg_fx_setup(const char *tag);
void mg_fx_teardown(void);

/* Write `text` to the key directory's `name`, mode 0600. */
void mg_fx_write_file(const char *name, const char *text);

/* A policy from text, its key files read from the key directory: NULL when
 * refused (*diags, if asked, says why); asserted to load; the first error's
 * message ("" when the policy loads). */
mg_policy_t *mg_fx_load(const char *yaml, mg_diags_t **diags);
mg_policy_t *mg_fx_load_ok(const char *yaml);
const char *mg_fx_load_error(const char *yaml);

/* mg_token_check on `url` (a path with its query, "/a?b") at `now` (seconds)
 * from `ip` (NULL: 127.0.0.1), with a Cookie header or not. */
mg_reason_t mg_fx_check_cookie(const mg_policy_t *p, const char *url, const char *cookie,
                               int64_t now, const char *ip, mg_token_claims_t *c);
mg_reason_t mg_fx_check(const mg_policy_t *p, const char *url, int64_t now, const char *ip,
                        mg_token_claims_t *c);

/* The format key `id` of the policy (NULL: the first key); asserted to exist. */
const mg_fkey_t *mg_fx_fkey(const mg_policy_t *p, const char *id);

/* `url` signed with that key's format signer; the second asserts success. */
mg_status_t mg_fx_try_sign(const mg_policy_t *p, const char *id, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why);
const char *mg_fx_sign(const mg_policy_t *p, const char *id, const char *url,
                       const mg_fmt_claims_t *c);

/* `s` with the first `from` (asserted present) replaced by `to`. */
const char *mg_fx_replace_str(const char *s, const char *from, const char *to);

#define R(x) mg_reason_name(x)
#define ASSERT_REASON(got, want) ck_assert_str_eq(R(got), R(want))
#define ASSERT_LOAD_ERROR(yaml, needle)                                                            \
    do {                                                                                           \
        const char *e_ = mg_fx_load_error(yaml);                                                   \
        ck_assert_msg(strstr(e_, needle) != NULL, "expected '%s' in '%s'", needle, e_);            \
    } while (0)

#endif
