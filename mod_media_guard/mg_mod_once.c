/* mg_mod_once.c — one-time and N-use signed links (mg_uses, docs/token-spec.md).
 *
 * libmg verifies a token and says how many uses it grants (mg_decision_t
 * token_uses); counting them needs state shared by every process of the
 * server, which lives here: an APR socache chosen with MediaGuardOnceCache
 * (shmcb for one server; memcache or redis for several), one record per
 * (mg_kid, mg_id) holding the client addresses that have claimed the token.
 *
 * A "use" is a distinct client address: a client that already claimed the
 * token keeps access while it is valid, so the many Range requests of a
 * video, HEAD requests and reloads never consume another use. A HEAD from
 * a new address is answered while uses are left but claims none.
 *
 * The socache API has no atomic add-if-absent, so every read-modify-write
 * runs under a global mutex: exact across the processes of one server.
 * Across servers (memcache/redis shared by several hosts) two hosts may race
 * between retrieve and store; the limit is then best-effort (documented in
 * docs/directives.md).
 *
 * The cache and its mutex live in the process pool and are handed from one
 * configuration generation to the next while the MediaGuardOnceCache line
 * is unchanged: a graceful restart (a policy reload, logrotate) must not
 * give every one-time link its uses back.
 *
 * Every failure denies: no cache configured, a cache that failed to start,
 * a lock or cache error — with a log line saying why.
 *
 * Also here, because it runs at the same point (a grant by a token with an
 * mg_id): tokens.revocation_file, looked at again by every child at most
 * every tokens.revocation_refresh, so that an id added to the file is
 * refused (token-revoked) within seconds, without a reload.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "util_mutex.h"

#include <apr_global_mutex.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "mg_ip.h"
#include "mg_mod.h"
#include "mg_token.h"

APLOG_USE_MODULE(media_guard);

#define MG_ONCE_MUTEX "media-guard-once" /* Mutex directive name */
#define MG_ONCE_CNAME "mg-once"          /* socache consumer name (<= 16 chars) */
#define MG_ONCE_ENTRY 17                 /* one claimant: family byte + 16 address bytes */
#define MG_ONCE_KEEP "media-guard-once"  /* process-pool userdata: the cache kept */

/* What survives restarts (process pool): the instance and its mutex. */
typedef struct once_kept {
    const char *spec;
    ap_socache_instance_t *inst;
    apr_global_mutex_t *mutex;
} once_kept_t;

/* One cache per server process tree: the directive is main-server only.
 * Reset in pre_config: every restart reads the configuration into it again
 * (and a module linked in statically keeps its statics across restarts). */
static struct {
    const ap_socache_provider_t *provider; /* looked up in this generation */
    ap_socache_instance_t *inst;           /* from once_kept_t */
    const char *spec;                      /* the directive's argument */
    const char *cfg;                       /* its provider part (after "NAME:"), or NULL */
    apr_global_mutex_t *mutex;             /* from once_kept_t */
    int ready;                             /* post_config found or made the cache */
} once;

const char *mg_mod_cmd_once_cache(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *sep, *name, *cfg;

    (void)dconf;
    if (err != NULL)
        return err;
    if (once.provider != NULL)
        return "MediaGuardOnceCache may be given only once";
    /* "shmcb:/path(size)", "memcache:host:port", "redis:host:port", "shmcb" */
    sep = strchr(arg, ':');
    name = sep ? apr_pstrmemdup(cmd->pool, arg, (apr_size_t)(sep - arg)) : arg;
    cfg = sep ? sep + 1 : NULL;
    once.provider =
        ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION);
    if (once.provider == NULL)
        return apr_psprintf(cmd->pool,
                            "MediaGuardOnceCache: unknown socache provider '%s' (load "
                            "mod_socache_%s first; e.g. 'shmcb:/run/mg-once(512000)', "
                            "'memcache:host:11211', 'redis:host:6379')",
                            name, name);
    /* checked here so that configtest refuses a bad argument; the instance
     * used at run time is made in post_config, in the process pool */
    err = once.provider->create(&once.inst, cfg, cmd->temp_pool, cmd->temp_pool);
    once.inst = NULL;
    if (err != NULL) {
        once.provider = NULL;
        return apr_psprintf(cmd->pool, "MediaGuardOnceCache %s: %s", arg, err);
    }
    once.spec = apr_pstrdup(cmd->pool, arg);
    once.cfg = cfg ? apr_pstrdup(cmd->pool, cfg) : NULL;
    return NULL;
}

/* tokens.revocation_file per policy: const mg_policy_t* -> revfile_t (below),
 * built in child_init */
static apr_hash_t *revfiles;

static int once_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    memset(&once, 0, sizeof(once));
    revfiles = NULL;
    return ap_mutex_register(pconf, MG_ONCE_MUTEX, NULL, APR_LOCK_DEFAULT, 0);
}

/* The cache of an earlier generation with the same directive, or a new one
 * in the process pool. A cache left behind by a changed directive stays
 * until Apache stops (its provider's code may have been reloaded since, so
 * it is not called again). */
static once_kept_t *once_keep(server_rec *s, apr_pool_t *ptemp, const char **what, apr_status_t *rv)
{
    apr_pool_t *proc = s->process->pool;
    struct ap_socache_hints hints = {64, MG_ONCE_ENTRY * 2, apr_time_from_sec(60)};
    once_kept_t *k = NULL;
    const char *err;

    apr_pool_userdata_get((void **)&k, MG_ONCE_KEEP, proc);
    if (k != NULL && strcmp(k->spec, once.spec) == 0)
        return k;
    k = apr_pcalloc(proc, sizeof(*k));
    k->spec = apr_pstrdup(proc, once.spec);
    *rv = APR_EGENERAL;
    err = once.provider->create(&k->inst, once.cfg, ptemp, proc);
    if (err != NULL) {
        *what = err;
        return NULL;
    }
    *rv = ap_global_mutex_create(&k->mutex, NULL, MG_ONCE_MUTEX, NULL, s, proc, 0);
    if (*rv != APR_SUCCESS) {
        *what = "cannot create its mutex";
        return NULL;
    }
    *rv = once.provider->init(k->inst, MG_ONCE_CNAME, &hints, s, proc);
    if (*rv != APR_SUCCESS) {
        *what = "cannot initialise the cache";
        return NULL;
    }
    apr_pool_userdata_set(k, MG_ONCE_KEEP, apr_pool_cleanup_null, proc);
    return k;
}

/* Never fails the restart: a cache that cannot start leaves once.ready 0,
 * and every token limited in uses is then refused with a log line. */
static int once_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    const char *what = NULL;
    apr_status_t rv = APR_SUCCESS;
    once_kept_t *k;

    (void)pconf;
    (void)plog;
    if (once.provider == NULL)
        return OK;
    k = once_keep(s, ptemp, &what, &rv);
    if (k == NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "media-guard: MediaGuardOnceCache %s: %s; links limited in uses will be "
                     "refused",
                     once.spec, what);
        return OK;
    }
    once.inst = k->inst;
    once.mutex = k->mutex;
    once.ready = 1;
    return OK;
}

static void revfiles_child_init(apr_pool_t *p, server_rec *s);

static void once_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;
    revfiles_child_init(p, s);
    if (once.mutex == NULL)
        return;
    rv = apr_global_mutex_child_init(&once.mutex, apr_global_mutex_lockfile(once.mutex), p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "media-guard: MediaGuardOnceCache: cannot attach to its mutex in this "
                     "child; links limited in uses will be refused here");
        once.ready = 0;
    }
}

/* ------------------------------------------------------------------ */
/* revocation files                                                     */
/* ------------------------------------------------------------------ */

/* One policy's tokens.revocation_file as this child last read it. */
typedef struct revfile {
    const mg_policy_t *policy;
    apr_thread_mutex_t *lock; /* guards everything below */
    apr_pool_t *parent;       /* the child's pool */
    apr_pool_t *pool;         /* holds `set`; replaced when the file changes */
    apr_hash_t *set;          /* ids as last read, or NULL: not read yet (the
                                 policy's load-time list still applies) */
    apr_time_t checked;       /* last stat */
    apr_time_t mtime;         /* of the version in `set` */
    apr_off_t size;
} revfile_t;

static void revfiles_child_init(apr_pool_t *p, server_rec *s)
{
    revfiles = apr_hash_make(p);
    for (; s != NULL; s = s->next) {
        mg_mod_srv_conf_t *sc = ap_get_module_config(s->module_config, &media_guard_module);
        apr_hash_index_t *hi;
        if (sc == NULL || sc->policies == NULL)
            continue;
        for (hi = apr_hash_first(p, sc->policies); hi; hi = apr_hash_next(hi)) {
            const mg_mod_policy_t *mp = apr_hash_this_val(hi);
            revfile_t *rf;
            if (mp->policy == NULL || mp->policy->tokens.revocation_file == NULL ||
                apr_hash_get(revfiles, &mp->policy, sizeof(mp->policy)) != NULL)
                continue;
            rf = apr_pcalloc(p, sizeof(*rf));
            rf->policy = mp->policy;
            rf->parent = p;
            if (apr_thread_mutex_create(&rf->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS)
                continue; /* no entry: the load-time list keeps applying */
            apr_hash_set(revfiles, &rf->policy, sizeof(rf->policy), rf);
        }
    }
}

/* Under rf->lock: read the file again when it changed. A file that cannot
 * be read keeps the last list (an outage of every link with an id would be
 * worse than a late revocation) and says so in the error log. */
static void revfile_refresh(revfile_t *rf, request_rec *r)
{
    const char *path = rf->policy->tokens.revocation_file, *why = NULL;
    apr_finfo_t fi;
    apr_pool_t *np;
    apr_hash_t *set;
    apr_status_t rv;

    rf->checked = r->request_time;
    rv = apr_stat(&fi, path, APR_FINFO_MTIME | APR_FINFO_SIZE, r->pool);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "media-guard: revocation file %s cannot be read; keeping the ids read "
                      "before",
                      path);
        return;
    }
    if (rf->set != NULL && fi.mtime == rf->mtime && fi.size == rf->size)
        return;
    if (apr_pool_create(&np, rf->parent) != APR_SUCCESS)
        return;
    set = apr_hash_make(np);
    if (mg_token_revocations_load(np, path, set, &why) != MG_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "media-guard: revocation file %s: %s; keeping the ids read before", path,
                      why);
        apr_pool_destroy(np);
        return;
    }
    if (rf->pool != NULL)
        apr_pool_destroy(rf->pool); /* nobody reads it: lookups hold the lock */
    rf->pool = np;
    rf->set = set;
    rf->mtime = fi.mtime;
    rf->size = fi.size;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "media-guard: revocation file %s: %u id(s)", path,
                  apr_hash_count(set));
}

/* Is `id` in the policy's revocation file as it is now? */
static int revoked_now(request_rec *r, const mg_policy_t *policy, const char *id)
{
    revfile_t *rf = revfiles ? apr_hash_get(revfiles, &policy, sizeof(policy)) : NULL;
    int hit;

    if (rf == NULL || apr_thread_mutex_lock(rf->lock) != APR_SUCCESS)
        return 0;
    if (rf->checked == 0 || r->request_time - rf->checked >= policy->tokens.revocation_refresh)
        revfile_refresh(rf, r);
    hit = rf->set != NULL && apr_hash_get(rf->set, id, APR_HASH_KEY_STRING) != NULL;
    apr_thread_mutex_unlock(rf->lock);
    return hit;
}

void mg_mod_once_register(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(once_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(once_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(once_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}

/* ------------------------------------------------------------------ */
/* counting                                                             */
/* ------------------------------------------------------------------ */

typedef enum { ONCE_OK, ONCE_USED, ONCE_ERROR } once_result_t;

/* Claim the token for `client` under the lock: already a claimant, or a
 * free use left (recorded until the token's last valid second), or used up.
 * The record is the claimants' addresses, MG_ONCE_ENTRY bytes each. */
static once_result_t claim(request_rec *r, const mg_decision_t *d, const mg_ip_t *client,
                           const char **why)
{
    unsigned char buf[MG_TOKEN_USES_MAX * MG_ONCE_ENTRY];
    unsigned char me[MG_ONCE_ENTRY];
    unsigned int len = sizeof(buf), n, i;
    const char *key = apr_pstrcat(r->pool, "mg-once:", d->token_kid, ":", d->token_id, NULL);
    unsigned int klen = (unsigned int)strlen(key);
    once_result_t res = ONCE_ERROR;
    apr_status_t rv;

    me[0] = client->family;
    memcpy(me + 1, client->addr, 16);
    rv = apr_global_mutex_lock(once.mutex);
    if (rv != APR_SUCCESS) {
        *why = "cannot take the once-cache lock";
        return ONCE_ERROR;
    }
    rv = once.provider->retrieve(once.inst, r->server, (const unsigned char *)key, klen, buf, &len,
                                 r->pool);
    if (rv == APR_NOTFOUND) {
        len = 0;
    } else if (rv != APR_SUCCESS) {
        *why = "the once-cache could not be read";
        goto out;
    } else if (len % MG_ONCE_ENTRY != 0 || len > sizeof(buf)) {
        *why = "the once-cache holds a damaged record for this token";
        goto out;
    }
    n = len / MG_ONCE_ENTRY;
    for (i = 0; i < n; i++) {
        if (memcmp(buf + i * MG_ONCE_ENTRY, me, MG_ONCE_ENTRY) == 0) {
            res = ONCE_OK; /* this client claimed it before: Range, HEAD, reload */
            goto out;
        }
    }
    if (n >= (unsigned int)d->token_uses) {
        res = ONCE_USED;
        goto out;
    }
    if (r->header_only) {
        /* HEAD gets no content: a link checker or a chat app's preview must
         * not burn the use meant for the person the link was sent to */
        res = ONCE_OK;
        goto out;
    }
    memcpy(buf + len, me, MG_ONCE_ENTRY);
    rv = once.provider->store(once.inst, r->server, (const unsigned char *)key, klen,
                              d->token_until, buf, len + MG_ONCE_ENTRY, r->pool);
    if (rv != APR_SUCCESS) {
        *why = "the once-cache could not record the use";
        goto out;
    }
    res = ONCE_OK;
out:
    apr_global_mutex_unlock(once.mutex);
    return res;
}

void mg_mod_once_apply(request_rec *r, mg_mod_memo_t *m)
{
    mg_decision_t *d = &m->d;
    const char *why = NULL;
    mg_ip_t client;
    once_result_t res;

    if (d->outcome != MG_OUTCOME_ALLOW || d->token_id == NULL)
        return;
    if (m->mp->policy != NULL && m->mp->policy->tokens.revocation_file != NULL &&
        revoked_now(r, m->mp->policy, d->token_id)) {
        d->outcome = MG_OUTCOME_DENY;
        d->access = MG_ACCESS_NONE;
        d->download = 0;
        d->reason = MG_R_TOKEN_REVOKED;
        d->status = HTTP_FORBIDDEN;
        d->detail = "the token id is revoked (tokens.revocation_file)";
        return;
    }
    if (d->token_uses <= 0)
        return;
    if (d->token_kid == NULL) {
        why = "a token limited in uses without a key id or token id";
        res = ONCE_ERROR;
    } else if (once.provider == NULL) {
        why = "a link limited in uses (mg_uses) arrived but no MediaGuardOnceCache is "
              "configured";
        res = ONCE_ERROR;
    } else if (!once.ready || once.mutex == NULL) {
        why = "the MediaGuardOnceCache failed to start (see the startup log)";
        res = ONCE_ERROR;
    } else if (r->useragent_ip == NULL || mg_ip_parse(r->useragent_ip, &client) != 0) {
        why = "the client address is unknown";
        res = ONCE_ERROR;
    } else {
        res = claim(r, d, &client, &why);
    }
    if (res == ONCE_OK)
        return;
    d->outcome = MG_OUTCOME_DENY;
    d->access = MG_ACCESS_NONE;
    d->download = 0;
    if (res == ONCE_USED) {
        d->reason = MG_R_TOKEN_USED;
        d->status = HTTP_FORBIDDEN;
        d->detail = apr_psprintf(r->pool,
                                 "token %s is used up: its %d use(s) went to other client "
                                 "addresses",
                                 d->token_id, d->token_uses);
        return;
    }
    /* fail closed, as a server error: the limit cannot be enforced */
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "media-guard %s: %s; refusing token %s", m->mp->name,
                  why, d->token_id ? d->token_id : "-");
    d->reason = MG_R_INTERNAL;
    d->status = HTTP_INTERNAL_SERVER_ERROR;
    d->detail = why;
}
