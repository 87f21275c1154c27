/* mgctl_keyopt.c — the key options shared by `mgctl sign` and `mgctl verify`
 * (--policy, --key-file, --key-id, --alg) and key loading; the --alg check
 * is keygen's too. */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_dirs.h"
#include "mg_time.h"
#include "mgctl_keyopt.h"
#include "mgctl_util.h"

int mgctl_keyopt_take(mgctl_keyopt_t *o, int ch, const char *arg)
{
    switch (ch) {
    case 'p':
        o->policy_file = arg;
        return 1;
    case MGCTL_KEYOPT_KEY_FILE:
        o->key_file = arg;
        return 1;
    case MGCTL_KEYOPT_KEY_ID:
        o->key_id = arg;
        return 1;
    case MGCTL_KEYOPT_ALG:
        o->alg = arg;
        return 1;
    }
    return 0;
}

int mgctl_alg_parse(const char *cmd, const char *name, mg_alg_t *alg)
{
    if ((*alg = mg_alg_parse(name)) == MG_ALG_NONE)
        return mgctl_usage_error(cmd, "unknown --alg '%s' (hmac-sha256, hmac-sha1, ed25519)", name);
    return MGCTL_EXIT_OK;
}

static int from_key_file(apr_pool_t *pool, const char *cmd, const mgctl_keyopt_t *o,
                         mg_policy_t **out)
{
    mg_alg_t alg = MG_ALG_NONE;
    if (o->key_id == NULL)
        return mgctl_usage_error(cmd, "--key-file needs --key-id");
    int rc = o->alg != NULL ? mgctl_alg_parse(cmd, o->alg, &alg) : MGCTL_EXIT_OK;
    if (rc != MGCTL_EXIT_OK)
        return rc;
    mg_key_t *key;
    int insecure = 0;
    const char *why;
    mg_status_t st = mg_key_load_file(pool, o->key_id, alg, o->key_file, &key, &insecure, &why);
    if (st != MG_OK) {
        mgctl_err(cmd, "%s", why);
        return MGCTL_EXIT_USAGE;
    }
    if (insecure & MG_KEY_FILE_READABLE)
        mgctl_err(cmd, "warning: key file '%s' is readable by group or others (chmod 600 it)",
                  o->key_file);
    if (insecure & MG_KEY_FILE_WRITABLE)
        mgctl_err(cmd, "warning: key file '%s' is " MG_KEY_FILE_WRITABLE_MSG, o->key_file);
    if (insecure & MG_KEY_FILE_WRITABLE_BY_ALL)
        mgctl_err(cmd, "error: key file '%s' is " MG_KEY_FILE_WRITABLE_BY_ALL_MSG, o->key_file);
    /* and the directories above it, as for a policy's key (mg_dirs.h):
     * what the loader refuses, sign and verify refuse too */
    mg_diags_t *dirs = mg_diags_make(pool);
    mg_dirs_check(pool, o->key_file, apr_psprintf(pool, "key file '%s'", o->key_file),
                  MG_DIRS_GROUP_OR_OTHERS, MG_SEV_ERROR, dirs, o->key_file, 0, 0,
                  "key-file-permissions");
    for (int i = 0; i < dirs->items->nelts; i++) {
        const mg_diag_t *d = &APR_ARRAY_IDX(dirs->items, i, mg_diag_t);
        mgctl_err(cmd, "%s: %s", d->severity == MG_SEV_ERROR ? "error" : "warning", d->msg);
    }
    if (dirs->errors > 0 || (insecure & MG_KEY_FILE_WRITABLE_BY_ALL)) {
        mgctl_err(cmd, "refused: anyone on the machine can replace key file '%s'", o->key_file);
        return MGCTL_EXIT_USAGE;
    }
    apr_interval_time_t grace = -1, skew = -1;
    if (o->grace && mg_duration_parse(o->grace, &grace) != 0)
        return mgctl_usage_error(cmd, "--grace '%s' is not a duration", o->grace);
    if (o->skew && mg_duration_parse(o->skew, &skew) != 0)
        return mgctl_usage_error(cmd, "--clock-skew '%s' is not a duration", o->skew);
    if (mg_policy_from_key(pool, key, o->key_file, grace, skew, out) != MG_OK) {
        mgctl_err(cmd, "the key of '%s' could not be used", o->key_file);
        return MGCTL_EXIT_FAIL;
    }
    return MGCTL_EXIT_OK;
}

int mgctl_keyopt_load(apr_pool_t *pool, const char *cmd, const mgctl_keyopt_t *o,
                      mg_policy_t **policy)
{
    if ((o->policy_file != NULL) == (o->key_file != NULL))
        return mgctl_usage_error(cmd, "give either --policy FILE or --key-file F --key-id ID");
    if (o->key_file != NULL)
        return from_key_file(pool, cmd, o, policy);
    if (o->key_id != NULL || o->alg != NULL)
        return mgctl_usage_error(cmd, "--key-id and --alg go with --key-file");
    /* sign reads its URLs from standard input, and one policy on stdin
     * for one verification is not worth a second convention */
    if (strcmp(o->policy_file, "-") == 0)
        return mgctl_usage_error(cmd, "--policy must be a file here: standard input ('-') is "
                                      "read by validate, compile and explain --policy");
    mg_diags_t *diags = mg_diags_make(pool);
    int rc = mgctl_policy_load(pool, o->policy_file, NULL, policy, diags);
    mgctl_diags_print(stderr, pool, diags, MGCTL_FMT_TEXT, 0);
    /* as for every command: an invalid policy 1, an unreadable one 2 */
    return rc;
}
