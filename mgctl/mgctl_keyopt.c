/* mgctl_keyopt.c — the key options shared by `mgctl sign` and `mgctl verify`
 * (--policy, --key-file, --key-id, --alg) and key loading; the --alg check
 * is keygen's too. */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

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
        fprintf(stderr, "mgctl %s: %s\n", cmd, why);
        return MGCTL_EXIT_USAGE;
    }
    if (insecure)
        fprintf(stderr,
                "mgctl %s: warning: key file '%s' is readable by group or others "
                "(chmod 600 it)\n",
                cmd, o->key_file);
    mg_policy_t *p = apr_pcalloc(pool, sizeof(*p));
    p->pool = pool;
    p->file = o->key_file;
    p->name = "command-line key";
    p->version = 1;
    p->tokens.grace = 0;
    p->tokens.skew = apr_time_from_sec(30);
    p->tokens.cookie_name = "mg_token";
    p->keys = apr_array_make(pool, 1, sizeof(mg_keyref_t));
    mg_keyref_t *r = apr_array_push(p->keys);
    r->id = o->key_id;
    r->alg = mg_alg_name(mg_key_alg(key));
    r->file = o->key_file;
    r->sign = mg_key_can_sign(key);
    r->key = key;
    *out = p;
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
