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

static int once_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    memset(&once, 0, sizeof(once));
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

static void once_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;
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

    if (d->outcome != MG_OUTCOME_ALLOW || d->token_uses <= 0)
        return;
    if (d->token_kid == NULL || d->token_id == NULL) {
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
