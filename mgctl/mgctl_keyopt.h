/* mgctl_keyopt.h — where `mgctl sign` and `mgctl verify` get their keys:
 * a policy (--policy FILE: all its keys, the `sign: true` one signs) or one
 * key file given directly (--key-file F --key-id ID [--alg A]). */
#ifndef MGCTL_KEYOPT_H
#define MGCTL_KEYOPT_H

#include <apr_pools.h>

#include "mg_keys.h"
#include "mg_policy.h"

typedef struct mgctl_keyopt {
    const char *policy_file;
    const char *key_file;
    const char *key_id;
    const char *alg;
} mgctl_keyopt_t;

/* Load the keys. With --key-file a minimal policy holding just that key
 * (default token settings) is made, so verification runs the very same
 * mg_token_check(). Returns an exit code (0 ok); messages go to stderr. */
int mgctl_keyopt_load(apr_pool_t *pool, const char *cmd, const mgctl_keyopt_t *o,
                      mg_policy_t **policy);

#endif
