/* mgctl_store.c — `mgctl uses show|reset`, `mgctl revoke` and `mgctl store
 * check`: the claim store (lib/mg_store.h) as support staff and CI see it:
 * who holds the uses of a link, give a link its uses back, revoke token ids
 * on every server that shares the store, and whether its servers keep a
 * record until it expires (docs/token-spec.md, docs/mgctl.md). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_keys.h"
#include "mg_store.h"
#include "mg_time.h"
#include "mg_token.h"
#include "mgctl_util.h"

enum { OPT_STORE = MGCTL_OPT_LONG + 1, OPT_KID, OPT_ID, OPT_UNDO, OPT_TTL, OPT_FORCE };

static const apr_getopt_option_t uses_opts[] = {{"help", 'h', 0, "show this help"},
                                                {"store", OPT_STORE, 1, "a store URL"},
                                                {"kid", OPT_KID, 1, "the link's mg_kid"},
                                                {"id", OPT_ID, 1, "the link's mg_id"},
                                                {NULL, 0, 0, NULL}};

static const char uses_usage[] =
    "Usage: mgctl uses show|reset --store URL --kid KID --id ID\n"
    "\n"
    "Inspect or reset the uses of a one-time or N-use link (mgctl sign --once /\n"
    "--uses N) in the claim store that the servers share (MediaGuardStore).\n"
    "  show    list the client addresses that hold a use, one per slot\n"
    "  reset   delete every slot: the link has all its uses again\n"
    "\n"
    "      --store URL  redis://HOST[:PORT][/DB][?OPTIONS] or\n"
    "                   memcache://HOST[:PORT][,HOST[:PORT]...][?OPTIONS]\n"
    "                   (the MediaGuardStore URL of the servers)\n"
    "      --kid KID    the link's key id (mg_kid)\n"
    "      --id ID      the link's token id (mg_id)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0 done, 2 usage error or the store cannot be reached.\n";

static const apr_getopt_option_t revoke_opts[] = {
    {"help", 'h', 0, "show this help"},
    {"store", OPT_STORE, 1, "a store URL"},
    {"undo", OPT_UNDO, 0, "lift the revocation"},
    {"ttl", OPT_TTL, 1, "how long the revocation lasts"},
    {NULL, 0, 0, NULL}};

static const char revoke_usage[] =
    "Usage: mgctl revoke --store URL [--ttl DURATION] [--undo] ID...\n"
    "\n"
    "Revoke signed-link token ids (mg_id) in the store the servers share\n"
    "(MediaGuardStore): every server refuses them (403 token-revoked) from the\n"
    "next request on, without a reload. The file form (tokens.revocation_file)\n"
    "keeps working next to it.\n"
    "\n"
    "      --store URL     redis://... or memcache://... (the MediaGuardStore URL)\n"
    "      --ttl DURATION  drop the entry after DURATION (e.g. 30d): at least the\n"
    "                      longest lifetime of the links concerned (tokens.max_ttl)\n"
    "                      + tokens.grace + 2 x tokens.clock_skew + 1s, or every\n"
    "                      server grants them again within their grace (a link\n"
    "                      expiring further ahead than max_ttl: the time left\n"
    "                      until its expiry instead of its lifetime); default:\n"
    "                      keep it (memcached may still evict it when full)\n"
    "      --undo          lift the revocation of the ids instead\n"
    "  -h, --help          show this help\n"
    "\n"
    "An id that starts with '-' (an old one, or one chosen with sign --id) goes\n"
    "after --: mgctl revoke --store URL -- -abc. mgctl sign makes none.\n"
    "A store that may evict records when full (mgctl store check) is a warning:\n"
    "it may drop the revocation, and the id is valid again.\n"
    "\n"
    "Exit status: 0 done, 2 usage error or the store cannot be reached.\n";

static const apr_getopt_option_t store_opts[] = {{"help", 'h', 0, "show this help"},
                                                 {"store", OPT_STORE, 1, "a store URL"},
                                                 {"format", 'f', 1, "text (default) or json"},
                                                 {"force", OPT_FORCE, 0, "init: write anyway"},
                                                 {NULL, 0, 0, NULL}};

static const char store_usage[] =
    "Usage: mgctl store check --store URL [--format text|json]\n"
    "       mgctl store init --store URL [--force]\n"
    "\n"
    "check: ask every server of a claim store (the MediaGuardStore URL) whether it\n"
    "keeps a record until the record expires. A store that evicts when full (Redis\n"
    "with a maxmemory-policy other than noeviction, memcached without -M) gives a\n"
    "one-time or N-use link its use back once the record is dropped; Apache\n"
    "refuses such links on it (500) unless the URL says evicting=warn.\n"
    "Prints one line per server: keeps, may evict (with the fix) or cannot tell;\n"
    "then the store's epoch (memcache://: every server's): since when its records\n"
    "are known to be complete, and whether a restart keeps them (Redis: appendonly\n"
    "yes, appendfsync always; memcached never). Links that could have been used\n"
    "before the epoch are refused. A Redis replica (INFO role not master) is\n"
    "said and exits 1: Apache refuses every link that needs the store on it.\n"
    "\n"
    "init: before the first start of a version that keeps an epoch, say that the\n"
    "records in this store are complete (epoch 0), so that the links in\n"
    "flight keep working. Once, by hand, on upgrade; never from automation. Writes\n"
    "nothing if the store has an epoch record already. Refuses (1) a store with no\n"
    "claim records (a new store and one that lost everything look alike: after a\n"
    "loss do not init; on a new store use --force; memcache://: a server holding\n"
    "no item, other applications' items counted), one that refuses INFO, or a\n"
    "Redis replica.\n"
    "memcache://: give the list as MediaGuardStore has it (the epoch records are\n"
    "the list's); never init after changing the list.\n"
    "--force writes epoch 0 whatever is there: only when you know the store lost\n"
    "nothing.\n"
    "\n"
    "      --store URL  redis://HOST[:PORT][/DB][?OPTIONS] or\n"
    "                   memcache://HOST[:PORT][,HOST[:PORT]...][?OPTIONS]\n"
    "  -f, --format F   text (default) | json: {\"keeps\": BOOL, \"servers\": [{\"server\",\n"
    "                   \"retention\": keeps|evicts|unsaid, \"setting\", \"fix\"}], \"epoch\":\n"
    "                   null | {\"server\", \"found\": BOOL, \"since\": SECONDS, \"durable\":\n"
    "                   BOOL, \"setting\", \"replica\": BOOL}}\n"
    "      --force      init: write epoch 0 on an empty store, an INFO refused, or\n"
    "                   over an epoch record\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status (check): 0 every server keeps its records, 1 a server may evict\n"
    "them or does not say (INFO and CONFIG refused), 2 usage error or the store\n"
    "cannot be reached or cannot answer now (at its connection limit, busy,\n"
    "loading). init: 0 written or present, 1 refused (no claim records, or INFO\n"
    "refused, without --force), 2 usage error or no answer.\n";

static int open_store(apr_pool_t *pool, const char *cmd, const char *url, mg_store_t **st)
{
    mg_store_url_t *u = apr_pcalloc(pool, sizeof(*u));
    const char *why;

    if (url == NULL)
        return mgctl_usage_error(cmd, "--store URL is required");
    /* a store that closes the connection must be an error (exit 2), not a
     * SIGPIPE that kills mgctl without a word (Apache ignores it already) */
    signal(SIGPIPE, SIG_IGN);
    if (mg_store_url_parse(pool, url, u, &why) != 0)
        return mgctl_usage_error(cmd, "--store %s: %s", url, why);
    /* the password file, as Apache warns about it (lib/mg_store.h) */
    mg_diags_t *warnings = mg_diags_make(pool);
    mg_store_password_warn(pool, u, warnings, NULL);
    for (int i = 0; i < warnings->items->nelts; i++)
        mgctl_err(cmd, "warning: %s", APR_ARRAY_IDX(warnings->items, i, mg_diag_t).msg);
    if (mg_store_open(pool, u, st, &why) != 0) {
        mgctl_err(cmd, "%s", why);
        return MGCTL_EXIT_USAGE;
    }
    return MGCTL_EXIT_OK;
}

/* A revocation entry is a record like any other: a store that evicts when
 * full may drop it, and the id is valid again. Said, not refused: the
 * revocation is written, and the operator decides. */
static void warn_if_evicting(apr_pool_t *pool, mg_store_t *st)
{
    apr_array_header_t *res;
    mg_store_keep_t worst;
    const char *why;

    if (mg_store_retention(st, &res, &worst, pool, &why) != MG_STORE_OK)
        return;
    for (int i = 0; i < res->nelts; i++) {
        const mg_store_retention_t *e = &APR_ARRAY_IDX(res, i, mg_store_retention_t);
        if (e->keeps == MG_STORE_EVICTS)
            mgctl_err("revoke",
                      "warning: %s may drop live records when full (%s): a revoked "
                      "id is valid again once its entry is dropped; fix: %s",
                      e->server, e->setting, e->fix);
    }
}

int mgctl_cmd_uses(apr_pool_t *pool, int argc, const char *const *argv)
{
    const char *url = NULL, *kid = NULL, *id = NULL, *arg, *action, *why = NULL;
    apr_getopt_t *os = mgctl_getopt_init(pool, "uses", argc, argv);
    mg_store_t *st;
    int ch, rc, i, n = 0, reset;

    while ((ch = mgctl_getopt_next(os, uses_opts, uses_usage, &arg, &rc)) > 0) {
        if (ch == OPT_STORE)
            url = arg;
        else if (ch == OPT_KID)
            kid = arg;
        else if (ch == OPT_ID)
            id = arg;
    }
    if (ch < 0)
        return rc;
    if (os->ind != os->argc - 1)
        return mgctl_usage_error("uses", os->ind == os->argc ? "show or reset is required"
                                                             : "one action: show or reset");
    action = os->argv[os->ind];
    if (strcmp(action, "show") != 0 && strcmp(action, "reset") != 0)
        return mgctl_usage_error("uses", "unknown action '%s' (show or reset)", action);
    reset = action[0] == 'r';
    if (kid == NULL || !mg_key_id_valid(kid))
        return mgctl_usage_error("uses", "--kid KID is required (1-64 of A-Z a-z 0-9 . _ -)");
    if (id == NULL || !mg_token_id_valid(id))
        return mgctl_usage_error("uses", "--id ID is required (1-32 base64url characters)");
    if ((rc = open_store(pool, "uses", url, &st)) != MGCTL_EXIT_OK)
        return rc;
    /* every slot, not just up to the first free one: a reset races claims */
    for (i = 1; i <= MG_TOKEN_USES_MAX; i++) {
        const char *key = mg_store_slot_key(pool, st, kid, id, i);
        mg_store_status_t s;
        char *owner;
        if (reset) {
            s = st->ops->del(st, key, pool, &why);
            if (s == MG_STORE_OK)
                n++;
        } else {
            s = st->ops->get(st, key, &owner, pool, &why);
            if (s == MG_STORE_OK) {
                printf("slot %d: %s\n", i, owner);
                n++;
            }
        }
        if (s == MG_STORE_ERROR) {
            mgctl_err("uses", "%s", why);
            return MGCTL_EXIT_USAGE;
        }
    }
    if (reset)
        printf("link %s/%s: %d use(s) released\n", kid, id, n);
    else
        printf("link %s/%s: %d use(s) claimed\n", kid, id, n);
    return MGCTL_EXIT_OK;
}

int mgctl_cmd_revoke(apr_pool_t *pool, int argc, const char *const *argv)
{
    const char *url = NULL, *arg, *why = NULL;
    apr_getopt_t *os = mgctl_getopt_init(pool, "revoke", argc, argv);
    apr_interval_time_t ttl = 0;
    mg_store_t *st;
    int ch, rc, i, undo = 0;

    while ((ch = mgctl_getopt_next(os, revoke_opts, revoke_usage, &arg, &rc)) > 0) {
        if (ch == OPT_STORE)
            url = arg;
        else if (ch == OPT_UNDO)
            undo = 1;
        else if (ch == OPT_TTL) {
            if (mg_duration_parse(arg, &ttl) != 0 || ttl < apr_time_from_sec(1) ||
                apr_time_sec(ttl) > 0xffffffffLL)
                return mgctl_usage_error("revoke", "--ttl '%s' is not a duration (e.g. 30d)", arg);
        }
    }
    if (ch < 0)
        return rc;
    if (os->ind == os->argc)
        return mgctl_usage_error("revoke", "give at least one token id");
    if (undo && ttl != 0)
        return mgctl_usage_error("revoke", "--ttl and --undo do not go together");
    for (i = os->ind; i < os->argc; i++)
        if (!mg_token_id_valid(os->argv[i]))
            return mgctl_usage_error("revoke", "'%s' is not a token id (1-32 base64url characters)",
                                     os->argv[i]);
    if ((rc = open_store(pool, "revoke", url, &st)) != MGCTL_EXIT_OK)
        return rc;
    for (i = os->ind; i < os->argc; i++) {
        const char *key = mg_store_rev_key(pool, st, os->argv[i]);
        mg_store_status_t s;
        /* one overwrite, never a delete and an add: a revocation written
         * again (another --ttl) is never absent in between, and a write that
         * fails leaves the one before in force */
        s = undo ? st->ops->del(st, key, pool, &why)
                 : st->ops->set(st, key, "1", apr_time_sec(ttl), pool, &why);
        if (s == MG_STORE_ERROR || s == MG_STORE_FULL) {
            mgctl_err("revoke", "%s: %s", os->argv[i], why);
            return MGCTL_EXIT_USAGE;
        }
        printf("%s %s\n", os->argv[i],
               undo ? (s == MG_STORE_OK ? "no longer revoked" : "was not revoked") : "revoked");
    }
    if (!undo)
        warn_if_evicting(pool, st);
    return MGCTL_EXIT_OK;
}

/* RFC 3339, UTC (mg_time_format) */
static const char *utc(apr_pool_t *pool, apr_int64_t sec)
{
    return mg_time_format(apr_time_from_sec(sec), apr_palloc(pool, 32), 32);
}

/* The epoch part of store check: one sentence (text). */
static void print_epoch(apr_pool_t *pool, const mg_store_epoch_info_t *e)
{
    const char *restart =
        e->durable
            ? apr_psprintf(pool, "a restart keeps its records (%s)", e->setting)
            : apr_psprintf(pool,
                           "a restart may lose records (%s): links signed before a restart are "
                           "refused after it",
                           e->setting);
    if (!e->found)
        printf("%s: no epoch record yet: the first claim starts one now, and links limited in "
               "uses signed before it are refused (run mgctl store init first to keep them); "
               "%s\n",
               e->server, restart);
    else if (e->since == 0)
        printf("%s: epoch 0: its records are complete since claims began (mgctl store init); "
               "%s\n",
               e->server, restart);
    else
        printf("%s: epoch %s: it lost its records then (or claims began then); links limited in "
               "uses that could have been used before it are refused; %s\n",
               e->server, utc(pool, e->since), restart);
    if (e->found && !e->same_process)
        printf("%s: the epoch record names another Redis process: it restarted since the last "
               "claim, which decides at the next claim whether a new epoch begins\n",
               e->server);
}

/* A Redis replica: the claim script refuses it (lib/mg_store_redis.c), so
 * store check must not pass it. */
#define REPLICA_SAID                                                                               \
    "a replica (INFO role not master): its data lags its primary's, a revocation among what it "   \
    "may lack, so Apache refuses every link that needs the store on it (500, MG00607); point "     \
    "the URL at the primary"

static int store_init(apr_pool_t *pool, mg_store_t *st, int force)
{
    mg_store_epoch_info_t e;
    const char *why;

    if (mg_store_epoch_info(st, force ? MG_EPOCH_FORCE : MG_EPOCH_INIT, &e, pool, &why) !=
        MG_STORE_OK) {
        mgctl_err("store", "%s", why);
        return MGCTL_EXIT_USAGE;
    }
    if (e.replica) {
        fprintf(stderr, "mgctl store: %s: %s; nothing written\n", e.server, REPLICA_SAID);
        return MGCTL_EXIT_FAIL;
    }
    if (!force && !e.found && e.empty) {
        mgctl_err("store",
                  "%s: the store holds no claim records: a new store and one that "
                  "lost everything look alike; after a loss do not init (the first claim starts "
                  "a new epoch, as it must); on a new store run with --force; nothing written",
                  e.server);
        return MGCTL_EXIT_FAIL;
    }
    if (!force && !e.found && e.unidentified) {
        mgctl_err("store",
                  "%s: INFO refused: which Redis process holds the records cannot be "
                  "told, so a restart that loses them cannot be either; allow INFO, or run with "
                  "--force to write epoch 0 anyway; nothing written",
                  e.server);
        return MGCTL_EXIT_FAIL;
    }
    if (e.found && !force)
        printf("%s: has an epoch record already (epoch %s); left as it is (--force overwrites "
               "it: only if you know the store lost nothing)\n",
               e.server, e.since ? utc(pool, e.since) : "0");
    else
        printf("%s: epoch 0 written: links limited in uses signed before now keep working%s%s\n",
               e.server, e.found ? apr_psprintf(pool, " (was %s)", utc(pool, e.since)) : "",
               e.unidentified ? "; INFO refused: a restart that loses the records cannot be told"
                              : "");
    return MGCTL_EXIT_OK;
}

int mgctl_cmd_store(apr_pool_t *pool, int argc, const char *const *argv)
{
    const char *url = NULL, *arg, *why = NULL;
    apr_getopt_t *os = mgctl_getopt_init(pool, "store", argc, argv);
    static const char *const names[] = {"keeps", "unsaid", "evicts"};
    mgctl_format_t format = MGCTL_FMT_TEXT;
    apr_array_header_t *res;
    mg_store_keep_t worst;
    mg_store_epoch_info_t epoch;
    int ch, rc, force = 0, init, have_epoch;
    mg_store_t *st;

    while ((ch = mgctl_getopt_next(os, store_opts, store_usage, &arg, &rc)) > 0) {
        if (ch == OPT_STORE)
            url = arg;
        else if (ch == OPT_FORCE)
            force = 1;
        else if (ch == 'f' &&
                 mgctl_format_parse(arg, 1u << MGCTL_FMT_TEXT | 1u << MGCTL_FMT_JSON, &format))
            return mgctl_usage_error("store", "--format is text or json");
    }
    if (ch < 0)
        return rc;
    if (os->ind == os->argc)
        return mgctl_usage_error("store", "check or init is required");
    if (os->ind != os->argc - 1 ||
        (strcmp(os->argv[os->ind], "check") != 0 && strcmp(os->argv[os->ind], "init") != 0))
        return mgctl_usage_error("store", "unknown action '%s' (check or init)", os->argv[os->ind]);
    init = os->argv[os->ind][0] == 'i';
    if (force && !init)
        return mgctl_usage_error("store", "--force goes with init");
    if ((rc = open_store(pool, "store", url, &st)) != MGCTL_EXIT_OK)
        return rc;
    if (init)
        return store_init(pool, st, force);
    if (mg_store_retention(st, &res, &worst, pool, &why) != MG_STORE_OK) {
        mgctl_err("store", "%s", why);
        return MGCTL_EXIT_USAGE;
    }
    /* a store without an epoch (memcache://) says so; one that cannot be
     * asked now is an error, as the retention question */
    have_epoch = st->ops->epoch != NULL;
    if (have_epoch && mg_store_epoch_info(st, MG_EPOCH_READ, &epoch, pool, &why) != MG_STORE_OK) {
        mgctl_err("store", "%s", why);
        return MGCTL_EXIT_USAGE;
    }
    if (format == MGCTL_FMT_JSON) {
        printf("{\"keeps\":%s,\"servers\":[", worst == MG_STORE_KEEPS ? "true" : "false");
        for (int i = 0; i < res->nelts; i++) {
            const mg_store_retention_t *e = &APR_ARRAY_IDX(res, i, mg_store_retention_t);
            printf("%s{\"server\":%s,\"retention\":\"%s\",\"setting\":%s,\"fix\":%s}", i ? "," : "",
                   mgctl_json_str(pool, e->server), names[e->keeps],
                   mgctl_json_str(pool, e->setting), mgctl_json_str(pool, e->fix));
        }
        if (have_epoch)
            printf("],\"epoch\":{\"server\":%s,\"found\":%s,\"since\":%" APR_INT64_T_FMT
                   ",\"durable\":%s,\"setting\":%s,\"replica\":%s}}\n",
                   mgctl_json_str(pool, epoch.server), epoch.found ? "true" : "false", epoch.since,
                   epoch.durable ? "true" : "false", mgctl_json_str(pool, epoch.setting),
                   epoch.replica ? "true" : "false");
        else
            printf("],\"epoch\":null}\n");
        return worst == MG_STORE_KEEPS && !(have_epoch && epoch.replica) ? MGCTL_EXIT_OK
                                                                         : MGCTL_EXIT_FAIL;
    }
    for (int i = 0; i < res->nelts; i++) {
        const mg_store_retention_t *e = &APR_ARRAY_IDX(res, i, mg_store_retention_t);
        if (e->keeps == MG_STORE_KEEPS)
            printf("%s: keeps records until they expire (%s)\n", e->server, e->setting);
        else if (e->keeps == MG_STORE_EVICTS)
            printf("%s: may drop live records when full (%s): one-time and N-use links can be "
                   "used again; fix: %s\n",
                   e->server, e->setting, e->fix);
        else
            printf("%s: cannot tell whether it drops live records when full (%s); %s\n", e->server,
                   e->setting, e->fix);
    }
    if (have_epoch && epoch.replica)
        printf("%s: %s\n", epoch.server, REPLICA_SAID);
    if (have_epoch)
        print_epoch(pool, &epoch);
    else
        printf("%s keeps no epoch: a restart that loses records gives the links used before it "
               "their uses back, unnoticed\n",
               st->display);
    return worst == MG_STORE_KEEPS && !(have_epoch && epoch.replica) ? MGCTL_EXIT_OK
                                                                     : MGCTL_EXIT_FAIL;
}
