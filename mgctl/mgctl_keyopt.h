/* mgctl_keyopt.h — where `mgctl sign` and `mgctl verify` get their keys:
 * a policy (--policy FILE: all its keys, the `sign: true` one signs) or one
 * key file given directly (--key-file F --key-id ID [--alg A]). */
#ifndef MGCTL_KEYOPT_H
#define MGCTL_KEYOPT_H

#include <apr_pools.h>

#include "mg_keys.h"
#include "mgctl_util.h"

typedef struct mgctl_keyopt {
    const char *policy_file;
    const char *key_file;
    const char *key_id;
    const char *alg;
    const char *grace, *skew; /* verify --grace/--clock-skew: the key file's token
                                 tolerances (a policy sets its own in `tokens:`) */
} mgctl_keyopt_t;

/* The key options in a command's option table; the command's own
 * long-only option ids start at MGCTL_KEYOPT_NEXT. */
enum {
    MGCTL_KEYOPT_KEY_FILE = MGCTL_OPT_LONG + 1,
    MGCTL_KEYOPT_KEY_ID,
    MGCTL_KEYOPT_ALG,
    MGCTL_KEYOPT_NEXT
};
#define MGCTL_KEYOPT_OPTIONS                                                                       \
    {"policy", 'p', 1, "a policy file"}, {"key-file", MGCTL_KEYOPT_KEY_FILE, 1, "a key file"},     \
        {"key-id", MGCTL_KEYOPT_KEY_ID, 1, "the key id (mg_kid)"},                                 \
    {                                                                                              \
        "alg", MGCTL_KEYOPT_ALG, 1, "hmac-sha256, hmac-sha1 or ed25519"                            \
    }

/* Take option `ch` (from mgctl_getopt_next) when it is one of the key
 * options: 1 taken, 0 not a key option. */
int mgctl_keyopt_take(mgctl_keyopt_t *o, int ch, const char *arg);

/* An --alg value: 0 with *alg set, or the usage error (exit code 2) naming
 * the algorithms. */
int mgctl_alg_parse(const char *cmd, const char *name, mg_alg_t *alg);

/* Load the keys. With --key-file a policy holding just that key is made
 * (mg_policy_from_key: the loader's defaults, o->grace and o->skew when
 * given), so verification runs the very same mg_token_check(). Returns an
 * exit code (0 ok); messages go to stderr. */
int mgctl_keyopt_load(apr_pool_t *pool, const char *cmd, const mgctl_keyopt_t *o,
                      mg_policy_t **policy);

#endif
