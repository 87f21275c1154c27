/* mg_mod_once.c — one-time and N-use signed links (mg_uses) and the
 * store-backed revocation list (docs/token-spec.md, docs/directives.md).
 *
 * libmg verifies a token and says how many uses it grants (mg_decision_t
 * token_uses); counting them needs state shared by every process — and, for
 * a cluster, every server — which lives in a claim store (lib/mg_store.h):
 *   MediaGuardStore redis://... | memcache://...   shared by several servers
 *   MediaGuardOnceCache shmcb:...                  one server (APR socache)
 * The claim itself (the slot walk of mg_store.h: one slot per use, each
 * owned by the client address that added it first) is lib's
 * mg_store_claim; here are the directives, the per-child store, the socache
 * adapter and the mapping of outcomes to decisions.
 *
 * A "use" is a distinct client address: a client that already claimed the
 * token keeps access while it is valid, so the many Range requests of a
 * video, HEAD requests and reloads never consume another use. A HEAD from
 * a new address is answered while uses are left but claims none.
 *
 * The socache has no atomic add-if-absent; the adapter makes one with a
 * global mutex around retrieve+store, which is exact across the processes
 * of one server — and why shared socache providers (memcache:, redis:) are
 * refused in favour of MediaGuardStore. The shmcb cache and its mutex live
 * in the process pool and are handed from one configuration generation to
 * the next while the MediaGuardOnceCache line is unchanged: a graceful
 * restart must not give every one-time link its uses back. Records in a
 * MediaGuardStore outlive any Apache restart.
 *
 * Fail closed, stay up: no store, a store that does not answer within its
 * timeout or answers garbage → the link that needs it is refused (500
 * internal-error); the error log says so once per incident (the first
 * failure after a success, and again when the store answers), not once per
 * request; mediaguard_store_* metrics count the failures. The store
 * connects again on the next request, so claims resume without a restart.
 *
 * Also here, because they run at the same point (a grant by a token with an
 * mg_id): tokens.revocation_file, looked at again by every child at most
 * every tokens.revocation_refresh, and the store's revocation list
 * (`mgctl revoke --store`), looked up for every token with an id — in the
 * same round trip as the claim on Redis — so a revoked id is refused by
 * every server from the next request on.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "util_mutex.h"

#include <apr_atomic.h>
#include <apr_global_mutex.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "mg_ip.h"
#include "mg_mod.h"
#include "mg_store.h"
#include "mg_time.h"
#include "mg_token.h"

APLOG_USE_MODULE(media_guard);

#define MG_ONCE_MUTEX "media-guard-once" /* Mutex directive name */
#define MG_ONCE_CNAME "mg-once"          /* socache consumer name (<= 16 chars) */
/* process-pool userdata: the cache kept. Renamed whenever once_kept_t
 * changes: a graceful restart onto a new .so must not read an older, smaller
 * one (it makes a new cache instead, as for a changed directive). */
#define MG_ONCE_KEEP "media-guard-once-2"

/* What survives restarts (process pool): the instance and its mutex. */
typedef struct once_kept {
    const char *spec;
    ap_socache_instance_t *inst;
    apr_global_mutex_t *mutex;
    apr_int64_t created; /* Unix second the cache was made: its epoch (an shmcb cache keeps
                            nothing across a stop of Apache) */
} once_kept_t;

/* What this child found when it first asked the store whether it may drop
 * live records (store_retention): RET_UNASKED until a thread publishes. */
enum { RET_UNASKED = 0, RET_PUBLISHING, RET_KEEPS, RET_UNSAID, RET_EVICTS };

/* MediaGuardStore: the URL (configuration pool) and this child's store. */
static struct {
    const mg_store_url_t *url;
    mg_store_t *st;                  /* child_init: the engine, or the socache adapter */
    int down;                        /* per-process incident flag when metrics are off */
    volatile apr_uint32_t retention; /* RET_*, set once per child */
    int retention_said;         /* per-process "said" bits (1 << answer) when metrics are off */
    char retention_detail[512]; /* why links are refused; written before `retention` */
} store;

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
    int lost_refuse;                       /* lost_records=refuse (default) */
    apr_int64_t since;                     /* from once_kept_t: the cache's epoch */
} once;

const char *mg_mod_cmd_once_cache(cmd_parms *cmd, void *dconf, const char *arg, const char *opt)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *sep, *name, *cfg;

    (void)dconf;
    if (err != NULL)
        return err;
    if (once.provider != NULL)
        return "MediaGuardOnceCache may be given only once";
    /* what a full stop of Apache loses (docs/directives.md, "A store that
     * loses its records"): refused by default, as a MediaGuardStore's */
    once.lost_refuse = 1;
    if (opt != NULL && strcmp(opt, "lost_records=warn") == 0)
        once.lost_refuse = 0;
    else if (opt != NULL && strcmp(opt, "lost_records=refuse") != 0)
        return apr_psprintf(cmd->pool,
                            "MediaGuardOnceCache %s %s: the second argument is "
                            "lost_records=refuse or lost_records=warn",
                            arg, opt);
    /* "shmcb:/path(size)", "memcache:host:port", "redis:host:port", "shmcb" */
    if (store.url != NULL)
        return "MediaGuardOnceCache and MediaGuardStore: give one (MediaGuardStore for several "
               "servers, MediaGuardOnceCache shmcb:... for one)";
    sep = strchr(arg, ':');
    name = sep ? apr_pstrmemdup(cmd->pool, arg, (apr_size_t)(sep - arg)) : arg;
    cfg = sep ? sep + 1 : NULL;
    if (strcmp(name, "memcache") == 0 || strcmp(name, "redis") == 0) {
        /* a shared socache cannot add-if-absent: two servers would both win */
        return apr_psprintf(cmd->pool,
                            "MediaGuardOnceCache %s: a shared socache cannot claim a use "
                            "atomically across servers (two servers could both grant a "
                            "one-time link); use 'MediaGuardStore %s://%s' instead, or "
                            "MediaGuardOnceCache shmcb:... for one server (docs/directives.md)",
                            arg, name,
                            cfg && *cfg ? cfg : (name[0] == 'm' ? "HOST:11211" : "HOST:6379/0"));
    }
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

static void warn_password_file(server_rec *s, apr_pool_t *p)
{
    mg_diags_t *warnings = mg_diags_make(p);

    mg_store_password_warn(p, store.url, warnings, NULL);
    for (int i = 0; i < warnings->items->nelts; i++)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     MG_LOGNO(00611) "MediaGuardStore %s: warning: %s", store.url->display,
                     APR_ARRAY_IDX(warnings->items, i, mg_diag_t).msg);
}

const char *mg_mod_cmd_store(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY), *why;
    mg_store_url_t *u;

    (void)dconf;
    if (err != NULL)
        return err;
    if (store.url != NULL)
        return "MediaGuardStore may be given only once";
    if (once.provider != NULL)
        return "MediaGuardOnceCache and MediaGuardStore: give one (MediaGuardStore for several "
               "servers, MediaGuardOnceCache shmcb:... for one)";
    u = apr_pcalloc(cmd->pool, sizeof(*u));
    /* checked here so that configtest refuses a bad URL or an unreadable
     * password file; nothing connects before the first request */
    if (mg_store_url_parse(cmd->pool, arg, u, &why) != 0)
        return apr_psprintf(cmd->pool, "MediaGuardStore %s: %s", arg, why);
    store.url = u;
    /* the password file is a secret: warned as key files are (lib/mg_store.h),
     * under configtest now, else once per start or reload from post_config */
    if (mg_mod_warn_now())
        warn_password_file(cmd->server, cmd->temp_pool);
    return NULL;
}

static int once_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    memset(&once, 0, sizeof(once));
    memset(&store, 0, sizeof(store));
    revfiles = NULL;
    return ap_mutex_register(pconf, MG_ONCE_MUTEX, NULL, APR_LOCK_DEFAULT, 0);
}

/* The cache of an earlier generation with the same directive, or a new one
 * in the process pool. A cache left behind by a changed directive stays
 * until Apache stops (its provider's code may have been reloaded since, so
 * it is not called again). */
static once_kept_t *once_keep(server_rec *s, apr_pool_t *ptemp, const char **what, apr_status_t *rv,
                              int *fresh)
{
    apr_pool_t *proc = s->process->pool;
    struct ap_socache_hints hints = {64, MG_STORE_VAL_MAX, apr_time_from_sec(60)};
    once_kept_t *k = NULL;
    const char *err;

    apr_pool_userdata_get((void **)&k, MG_ONCE_KEEP, proc);
    *fresh = 0;
    if (k != NULL && strcmp(k->spec, once.spec) == 0)
        return k;
    k = apr_pcalloc(proc, sizeof(*k));
    k->spec = apr_pstrdup(proc, once.spec);
    k->created = apr_time_sec(apr_time_now());
    *fresh = 1;
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
    int fresh = 0;
    char when[32];

    (void)pconf;
    (void)plog;
    /* the first of the two passes at startup only checks the configuration:
     * the pass that serves makes the cache (and says MG00601 once, not twice) */
    if (!mg_mod_warn_in_post_config())
        return OK;
    if (store.url != NULL)
        warn_password_file(s, ptemp);
    if (once.provider == NULL)
        return OK;
    k = once_keep(s, ptemp, &what, &rv, &fresh);
    if (k == NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     MG_LOGNO(00601) "media-guard: MediaGuardOnceCache %s: %s; "
                                     "links limited in uses will be refused",
                     once.spec, what);
        return OK;
    }
    once.inst = k->inst;
    once.mutex = k->mutex;
    once.since = k->created;
    once.ready = 1;
    /* a new cache is an empty one: the uses recorded before Apache stopped
     * are gone, and its epoch begins now (said once per new cache) */
    if (fresh && once.lost_refuse)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     MG_LOGNO(00620) "media-guard: MediaGuardOnceCache %s is new (Apache started; "
                                     "an shmcb cache keeps nothing across a stop): new epoch %s: "
                                     "links limited in uses that could have been granted before "
                                     "it are refused (500) until they expire, links signed after "
                                     "it work (MG00618 for each refusal; lost_records=warn "
                                     "serves them instead)",
                     once.spec, mg_time_format(apr_time_from_sec(k->created), when, sizeof(when)));
    else if (fresh)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     MG_LOGNO(00621) "media-guard: MediaGuardOnceCache %s is new (Apache started; "
                                     "an shmcb cache keeps nothing across a stop): new epoch %s: "
                                     "links limited in uses used before it may be used again "
                                     "(lost_records=warn)",
                     once.spec, mg_time_format(apr_time_from_sec(k->created), when, sizeof(when)));
    /* shmcb makes room by dropping its oldest records: the hole refused on
     * a memcached without -M, which no setting closes here. Not refused (a
     * cache sized for the links in flight is the documented one-server
     * setup), but said once per start, as the store's MG00612 is */
    if (strncmp(once.spec, "shmcb", 5) == 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     MG_LOGNO(00616) "media-guard: MediaGuardOnceCache %s drops its oldest "
                                     "records when full, which gives a one-time or N-use link its "
                                     "use back; size it for the links in flight, or use "
                                     "MediaGuardStore with a store that keeps records",
                     once.spec);
    return OK;
}

static void revfiles_child_init(apr_pool_t *p, server_rec *s);

static mg_store_t *socache_store(apr_pool_t *p);

static void once_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;
    const char *why;

    revfiles_child_init(p, s);
    if (store.url != NULL) {
        if (mg_store_open(p, store.url, &store.st, &why) != 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         MG_LOGNO(00602) "media-guard: MediaGuardStore %s: %s; "
                                         "links that need the store will be refused in this child",
                         store.url->display, why);
            store.st = NULL;
        }
        return;
    }
    if (once.mutex == NULL)
        return;
    rv = apr_global_mutex_child_init(&once.mutex, apr_global_mutex_lockfile(once.mutex), p);
    if (rv != APR_SUCCESS) {
        ap_log_error(
            APLOG_MARK, APLOG_ERR, rv, s,
            MG_LOGNO(00603) "media-guard: MediaGuardOnceCache: cannot attach to its mutex in this "
                            "child; links limited in uses will be refused here");
        once.ready = 0;
        return;
    }
    store.st = socache_store(p);
}

/* ------------------------------------------------------------------ */
/* revocation files                                                     */
/* ------------------------------------------------------------------ */

/* What tells one version of the file from another: its device, inode,
 * size, modification time and status-change time. The modification time
 * and size alone miss a file replaced by one of the same size whose mtime
 * the deploy kept or set (rsync -a, cp -p, tar, a Nix store's mtime 1):
 * two of mgctl's 22-character ids swapped left the new one granted. A
 * rename gives another inode; a write in place moves ctime, which no tool
 * sets. But the kernel stamps ctime from a coarse clock (a tick of up to
 * 10 ms; a whole second on some file systems): a version that changed
 * within a second of the stat may change again, in place and to the same
 * size, with the same stamps after it was read. Such a version is read
 * again at the next look (git's "racily clean" index entries). */
#define REVFILE_RACY APR_USEC_PER_SEC
typedef struct revfile_id {
    apr_dev_t device;
    apr_ino_t inode;
    apr_off_t size;
    apr_time_t mtime, ctime;
} revfile_id_t;

static revfile_id_t revfile_id(const apr_finfo_t *fi)
{
    revfile_id_t id = {fi->device, fi->inode, fi->size, fi->mtime, fi->ctime};
    return id;
}

static int revfile_same(const revfile_id_t *a, const revfile_id_t *b)
{
    return a->device == b->device && a->inode == b->inode && a->size == b->size &&
           a->mtime == b->mtime && a->ctime == b->ctime;
}

/* One policy's tokens.revocation_file as this child last read it. */
typedef struct revfile {
    const mg_policy_t *policy;
    apr_thread_mutex_t *lock; /* guards everything below */
    apr_pool_t *parent;       /* the child's pool */
    apr_pool_t *pool;         /* holds `set`; replaced when the file changes */
    apr_hash_t *set;          /* ids as last read, or NULL: not read yet (the
                                 policy's load-time list still applies) */
    apr_time_t checked;       /* last stat */
    revfile_id_t seen;        /* of the version in `set` */
    int racy;                 /* `seen` may hide a later change: read again */
} revfile_t;

static void revfile_add(void *ctx, server_rec *s, mg_mod_policy_t *mp)
{
    apr_pool_t *p = ctx;
    revfile_t *rf;

    if (mp->policy == NULL || mp->policy->tokens.revocation_file == NULL ||
        apr_hash_get(revfiles, &mp->policy, sizeof(mp->policy)) != NULL)
        return;
    rf = apr_pcalloc(p, sizeof(*rf));
    rf->policy = mp->policy;
    rf->parent = p;
    if (apr_thread_mutex_create(&rf->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS) {
        /* no entry: revoked_now() then refuses every link with an id under
         * this policy (fail closed) rather than skip the file */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     MG_LOGNO(00610) "media-guard: revocation file %s: cannot create its lock "
                                     "in this process; links with an mg_id are refused",
                     mp->policy->tokens.revocation_file);
        return;
    }
    apr_hash_set(revfiles, &rf->policy, sizeof(rf->policy), rf);
}

static void revfiles_child_init(apr_pool_t *p, server_rec *s)
{
    revfiles = apr_hash_make(p);
    mg_mod_each_policy(s, p, revfile_add, p);
}

/* Under rf->lock: read the file again when it changed. A file that cannot
 * be read keeps the last list (an outage of every link with an id would be
 * worse than a late revocation) and says so in the error log. */
static void revfile_refresh(revfile_t *rf, request_rec *r)
{
    const char *path = rf->policy->tokens.revocation_file, *why = NULL;
    apr_finfo_t fi;
    revfile_id_t now;
    apr_time_t stat_at = apr_time_now();
    apr_pool_t *np;
    apr_hash_t *set;
    apr_fileperms_t prot = 0;
    apr_status_t rv;
    mg_status_t st;

    rf->checked = r->request_time;
    rv = apr_stat(&fi, path,
                  APR_FINFO_MTIME | APR_FINFO_CTIME | APR_FINFO_SIZE | APR_FINFO_INODE |
                      APR_FINFO_DEV,
                  r->pool);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, rv, r,
            MG_LOGNO(00604) "media-guard: revocation file %s cannot be read; keeping the ids read "
                            "before",
            path);
        return;
    }
    now = revfile_id(&fi);
    if (rf->set != NULL && !rf->racy && revfile_same(&now, &rf->seen))
        return;
    if (apr_pool_create(&np, rf->parent) != APR_SUCCESS)
        return;
    set = apr_hash_make(np);
    /* the load-time rule, kept at every re-read: a file that everyone may
     * write (the mode of the descriptor read) is no longer trusted — anyone
     * could take a revoked link off it — so the last list stays */
    st = mg_token_revocations_load(np, path, set, &prot, &why);
    if (st == MG_OK && (prot & APR_FPROT_WWRITE)) {
        why = "it is writable by everyone: whoever can write it can take a revoked link off the "
              "list (chmod o-w it)";
        st = MG_EINVAL;
    }
    if (st != MG_OK) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            MG_LOGNO(00605) "media-guard: revocation file %s: %s; keeping the ids read before",
            path, why);
        apr_pool_destroy(np);
        return;
    }
    if (rf->pool != NULL)
        apr_pool_destroy(rf->pool); /* nobody reads it: lookups hold the lock */
    rf->pool = np;
    rf->set = set;
    rf->seen = now;
    rf->racy = now.ctime > stat_at - REVFILE_RACY;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  MG_LOGNO(00606) "media-guard: revocation file %s: %u id(s)", path,
                  apr_hash_count(set));
}

/* Is `id` in the policy's revocation file as it is now? 1 yes, 0 no, -1 the
 * file's state cannot be read in this process (no entry or no lock): the
 * caller refuses, never skips the file. */
static int revoked_now(request_rec *r, const mg_policy_t *policy, const char *id)
{
    revfile_t *rf = revfiles ? apr_hash_get(revfiles, &policy, sizeof(policy)) : NULL;
    int hit;

    if (rf == NULL || apr_thread_mutex_lock(rf->lock) != APR_SUCCESS)
        return -1;
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
/* the socache adapter (MediaGuardOnceCache shmcb)                      */
/* ------------------------------------------------------------------ */

/* add-if-absent made atomic by the global mutex: exact within one server */
static mg_store_status_t sc_add(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                                apr_pool_t *p, const char **why)
{
    unsigned char buf[MG_STORE_VAL_MAX];
    unsigned int len = sizeof(buf), klen = (unsigned int)strlen(key);
    mg_store_status_t res = MG_STORE_ERROR;
    apr_status_t rv;

    (void)st;
    if (apr_global_mutex_lock(once.mutex) != APR_SUCCESS) {
        *why = "cannot take the once-cache lock";
        return MG_STORE_ERROR;
    }
    rv = once.provider->retrieve(once.inst, ap_server_conf, (const unsigned char *)key, klen, buf,
                                 &len, p);
    if (rv == APR_SUCCESS) {
        res = MG_STORE_EXISTS;
    } else if (rv != APR_NOTFOUND) {
        *why = "the once-cache could not be read";
    } else {
        rv = once.provider->store(once.inst, ap_server_conf, (const unsigned char *)key, klen,
                                  apr_time_now() + apr_time_from_sec(ttl),
                                  (unsigned char *)apr_pstrdup(p, val), (unsigned int)strlen(val),
                                  p);
        if (rv == APR_SUCCESS)
            res = MG_STORE_OK;
        else
            *why = "the once-cache could not record the use";
    }
    apr_global_mutex_unlock(once.mutex);
    return res;
}

static mg_store_status_t sc_get(mg_store_t *st, const char *key, char **val, apr_pool_t *p,
                                const char **why)
{
    unsigned char buf[MG_STORE_VAL_MAX];
    unsigned int len = sizeof(buf) - 1;
    apr_status_t rv;

    (void)st;
    /* values are written once and never changed: no lock needed to read */
    rv = once.provider->retrieve(once.inst, ap_server_conf, (const unsigned char *)key,
                                 (unsigned int)strlen(key), buf, &len, p);
    if (rv == APR_NOTFOUND)
        return MG_STORE_NOTFOUND;
    if (rv != APR_SUCCESS) {
        *why = "the once-cache could not be read";
        return MG_STORE_ERROR;
    }
    *val = apr_pstrmemdup(p, (const char *)buf, len);
    return MG_STORE_OK;
}

static mg_store_status_t sc_del(mg_store_t *st, const char *key, apr_pool_t *p, const char **why)
{
    (void)st;
    (void)why;
    once.provider->remove(once.inst, ap_server_conf, (const unsigned char *)key,
                          (unsigned int)strlen(key), p);
    return MG_STORE_OK;
}

/* The cache's epoch: the second it was made (kept across graceful and
 * plain restarts with it, new after a stop). Said at startup, not here. */
static mg_store_status_t sc_key_epoch(mg_store_t *st, const char *key, mg_store_epoch_t *ep,
                                      apr_pool_t *p, const char **why)
{
    (void)st;
    (void)key;
    (void)p;
    (void)why;
    ep->since = once.since;
    ep->started = 0;
    ep->server = once.spec;
    return MG_STORE_OK;
}

static const mg_store_ops_t socache_ops = {"shmcb", sc_add, sc_get,       sc_del, NULL,
                                           NULL,    NULL,   sc_key_epoch, NULL,   NULL};

static mg_store_t *socache_store(apr_pool_t *p)
{
    mg_store_t *st = apr_pcalloc(p, sizeof(*st));
    st->ops = &socache_ops;
    st->prefix = "mg-once:";
    st->display = once.spec;
    return st;
}

/* ------------------------------------------------------------------ */
/* claiming                                                             */
/* ------------------------------------------------------------------ */

/* One error-log line per incident: the first failure after a success, and
 * one when the store answers again (shared by every process through the
 * metrics segment; per process when metrics could not start). */
static void store_result(request_rec *r, int failed, const char *why)
{
    int changed = mg_mod_metrics_store_result(failed, &store.down);

    if (!changed)
        return;
    if (failed)
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            MG_LOGNO(00607) "media-guard: claim store %s: %s; links that need the store (mg_uses, "
                            "revocation) are refused until it answers again",
            store.st ? store.st->display : "-", why);
    else
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      MG_LOGNO(00608) "media-guard: claim store %s answers again; claims resume",
                      store.st ? store.st->display : "-");
}

/* Does the store keep a record until it expires? A store that evicts when
 * full (Redis with a maxmemory-policy other than noeviction, memcached
 * without -M) gives a one-time link its use back once the record is
 * dropped, and nothing in the protocol says so when it happens: the only
 * moment to find out is by asking the store how it is configured. Asked once
 * per child, at its first store operation (nothing connects at startup, and
 * one round trip per request would be waste), said once per start in the
 * error log (shared by every process, as the incident line). Threads that
 * come while another is asking ask too (one more round trip, once) rather
 * than claim before the answer is known. MG_STORE_OK with *keeps and
 * *detail, or MG_STORE_ERROR with *why: the store cannot be asked, which
 * the caller treats as any store error; the next request asks again.
 * *asked is 1 when this call had the store's answer (not a kept one). */
/* MG00612 (refused) and MG00615 (evicting=warn: served): one sentence */
#define EVICTS_SAID                                                                                \
    "media-guard: MediaGuardStore %s: %s may drop live records when full, which gives a one-time " \
    "or N-use link its use back (and a revoked id its validity); %s. Fix: %s%s"

static mg_store_status_t store_retention(request_rec *r, mg_store_keep_t *keeps,
                                         const char **detail, int *asked, const char **why)
{
    apr_uint32_t state = apr_atomic_read32(&store.retention);
    const char *servers = NULL, *fixes = NULL;
    apr_array_header_t *res;
    mg_store_keep_t worst;

    if (state >= RET_KEEPS) {
        *keeps = state == RET_KEEPS    ? MG_STORE_KEEPS
                 : state == RET_UNSAID ? MG_STORE_UNSAID
                                       : MG_STORE_EVICTS;
        *detail = store.retention_detail;
        return MG_STORE_OK;
    }
    if (mg_store_retention(store.st, &res, &worst, r->pool, why) != MG_STORE_OK)
        return MG_STORE_ERROR;
    *asked = 1;
    for (int i = 0; i < res->nelts; i++) {
        const mg_store_retention_t *e = &APR_ARRAY_IDX(res, i, mg_store_retention_t);
        if (e->keeps != worst)
            continue;
        servers = apr_psprintf(r->pool, "%s%s%s (%s)", servers ? servers : "", servers ? ", " : "",
                               e->server, e->setting);
        if (e->fix != NULL && (fixes == NULL || strstr(fixes, e->fix) == NULL))
            fixes = fixes ? apr_pstrcat(r->pool, fixes, "; ", e->fix, NULL) : e->fix;
    }
    *keeps = worst;
    *detail = worst == MG_STORE_EVICTS
                  ? apr_psprintf(r->pool,
                                 "the claim store may drop live records when full: %s; links "
                                 "limited in uses are refused (MG00612)",
                                 servers)
                  : "";
    if (apr_atomic_cas32(&store.retention, RET_PUBLISHING, RET_UNASKED) != RET_UNASKED)
        return MG_STORE_OK;
    apr_cpystrn(store.retention_detail, *detail, sizeof(store.retention_detail));
    apr_atomic_set32(&store.retention, worst == MG_STORE_KEEPS    ? RET_KEEPS
                                       : worst == MG_STORE_UNSAID ? RET_UNSAID
                                                                  : RET_EVICTS);
    if (!mg_mod_metrics_store_retention_first(&store.retention_said, (int)worst))
        return MG_STORE_OK;
    /* a server-wide condition, not this request's: the main server's error
     * log (as httpd says its own), whichever vhost asked first */
    if (worst == MG_STORE_EVICTS && store.url->evicting_refuse)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ap_server_conf, MG_LOGNO(00612) EVICTS_SAID,
                     store.url->display, servers,
                     "links limited in uses are refused (500) until it keeps them", fixes,
                     ". Or accept the risk with ?evicting=warn");
    else if (worst == MG_STORE_EVICTS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf, MG_LOGNO(00615) EVICTS_SAID,
                     store.url->display, servers, "served anyway (evicting=warn)", fixes, "");
    else if (worst == MG_STORE_UNSAID)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                     MG_LOGNO(00613) "media-guard: MediaGuardStore %s: cannot tell whether %s "
                                     "may drop live records when full: %s; a store that evicts "
                                     "gives one-time links their uses back",
                     store.url->display, servers, fixes);
    else
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf,
                     MG_LOGNO(00614) "media-guard: MediaGuardStore %s: %s keeps records until "
                                     "they expire",
                     store.url->display, servers);
    return MG_STORE_OK;
}

/* ------------------------------------------------------------------ */
/* the store's epoch (lib/mg_store.h): a store that lost its records    */
/* ------------------------------------------------------------------ */

/* RFC 3339, UTC (mg_time_format) */
static const char *epoch_time(apr_pool_t *p, apr_int64_t sec)
{
    return mg_time_format(apr_time_from_sec(sec), apr_palloc(p, 32), 32);
}

/* What the claim asks about the epoch: the earliest second a server could
 * have granted this link (mg_eval.c), clocks that disagree by up to
 * tokens.clock_skew, and this server's clock for a new epoch. */
static mg_store_epoch_t *epoch_in(mg_store_epoch_t *ep, const mg_mod_memo_t *m,
                                  const mg_decision_t *d, int store_rev)
{
    memset(ep, 0, sizeof(*ep));
    ep->used_from = d->token_used_from > 0 ? apr_time_sec(d->token_used_from) : 0;
    /* with the store's revocation list, the earliest moment the link could
     * have been revoked (signed), never later than its first use: held to
     * it on the revocation key's server (on memcached; on Redis, whose one
     * epoch holds both, the whole claim is) */
    ep->rev_from =
        store_rev && d->token_revocable_from > 0 ? apr_time_sec(d->token_revocable_from) : 0;
    ep->margin = m->mp->policy != NULL ? apr_time_sec(m->mp->policy->tokens.skew) : 30;
    ep->refuse = store.url != NULL ? store.url->lost_refuse : once.lost_refuse;
    ep->now = apr_time_sec(apr_time_now());
    return ep;
}

/* The one claim (of every server sharing the store) whose script started a
 * new epoch says so, in the main server's error log. */
static void epoch_started(request_rec *r, const mg_store_epoch_t *ep)
{
    const char *what =
        ep->started == MG_EPOCH_NEW_NONE
            ? "has no epoch record: it lost its records (a restart without persistence, "
              "FLUSHALL, the record deleted) or no claim was ever made on it (the first start of "
              "this version: run mgctl store init before it to keep the links in flight)"
        : ep->started == MG_EPOCH_NEW_SERVER
            ? apr_psprintf(r->pool,
                           "server memcached %s has no epoch record: it lost its records (a "
                           "restart: memcached keeps nothing; flush_all; the record deleted) or "
                           "no claim was ever made on it (the first start of this version: run "
                           "mgctl store init before it to keep the links in flight)",
                           ep->server)
        : ep->started == MG_EPOCH_NEW_PROMOTED
            ? "was promoted to primary since its epoch record was written (the same Redis "
              "process, made a replica and promoted again, holds its former replica's data): "
              "it may have lost the last records written"
            : "restarted (another Redis process) without appendonly yes + appendfsync always, "
              "or failed over to a replica: it may have lost the last records written";

    if (ep->refuse)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ap_server_conf,
                     MG_LOGNO(00617) "media-guard: MediaGuardStore %s %s; new epoch %s: links "
                                     "limited in uses that a server could have granted before it "
                                     "are refused (500) until they expire, links signed after it "
                                     "work (MG00618 for each refusal; ?lost_records=warn serves "
                                     "them instead)",
                     store.url->display, what, epoch_time(r->pool, ep->since));
    else
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                     MG_LOGNO(00619) "media-guard: MediaGuardStore %s %s; new epoch %s: links "
                                     "limited in uses used before it may be used again "
                                     "(lost_records=warn)",
                     store.url->display, what, epoch_time(r->pool, ep->since));
}

/* MG00618: why a link is refused under the epoch (the caller fails closed). */
static const char *lost_refused(request_rec *r, const mg_mod_memo_t *m, const mg_store_epoch_t *ep,
                                int uses, int store_rev)
{
    const char *why = apr_psprintf(
        r->pool,
        "token %s could have been %s before %s, when the claim store %s lost its records "
        "(MG00617): refused, as its %s may be among them (lost_records=refuse)",
        m->d.token_id,
        !store_rev ? "used"
        : uses     ? "used or revoked"
                   : "revoked",
        epoch_time(r->pool, ep->since), store.st->display,
        !store_rev ? "use"
        : uses     ? "use or revocation"
                   : "revocation");
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  MG_LOGNO(00618) "media-guard %s: %s; sign a new link for whoever needs it",
                  m->mp->name, why);
    return why;
}

static void refuse(mg_decision_t *d, mg_reason_t reason, int status, const char *detail)
{
    d->outcome = MG_OUTCOME_DENY;
    d->access = MG_ACCESS_NONE;
    d->download = 0;
    d->reason = reason;
    d->status = status;
    d->detail = detail;
}

void mg_mod_once_apply(request_rec *r, mg_mod_memo_t *m)
{
    mg_decision_t *d = &m->d;
    const char *why = NULL;
    int store_rev = store.url != NULL && store.url->revocation;
    mg_claim_outcome_t out = MG_CLAIM_USED;
    mg_store_keep_t keeps = MG_STORE_KEEPS;
    const char *evicts = NULL;
    int asked = 0;
    mg_store_status_t rv;
    mg_store_epoch_t ep;
    mg_claim_t c;
    mg_ip_t client;
    char addr[64];
    int slot;

    memset(&ep, 0, sizeof(ep));
    if (d->outcome != MG_OUTCOME_ALLOW || d->token_id == NULL)
        return;
    if (m->mp->policy != NULL && m->mp->policy->tokens.revocation_file != NULL) {
        int rev = revoked_now(r, m->mp->policy, d->token_id);
        if (rev > 0) {
            refuse(d, MG_R_TOKEN_REVOKED, HTTP_FORBIDDEN,
                   "the token id is revoked (tokens.revocation_file)");
            return;
        }
        if (rev < 0) {
            why = "the revocation file's state cannot be read in this process (MG00610)";
            goto internal;
        }
    }
    if (d->token_uses <= 0 && !store_rev)
        return;
    if (d->token_uses > 0 && d->token_kid == NULL) {
        why = "a token limited in uses without a key id or token id";
    } else if (store.url == NULL && once.provider == NULL) {
        why = "a link limited in uses (mg_uses) arrived but no MediaGuardStore or "
              "MediaGuardOnceCache is configured";
    } else if (store.url == NULL && (!once.ready || once.mutex == NULL)) {
        why = "the MediaGuardOnceCache failed to start (see the startup log)";
    } else if (store.st == NULL) {
        why = "the MediaGuardStore could not be set up in this process (see the startup log)";
    } else if (store.url != NULL && d->token_uses > 0 &&
               store_retention(r, &keeps, &evicts, &asked, &why) != MG_STORE_OK) {
        /* asked only where it matters: a lookup in the revocation list is
         * served on any store (an evicted revocation is documented, and
         * warned about by mgctl revoke), and must not 500 because one of
         * several memcached servers cannot be asked */
        /* as any failed operation: one timeout per request, not two */
        store_result(r, 1, why);
        why = apr_pstrcat(r->pool, "the claim store cannot be asked: ", why, NULL);
        goto internal;
    } else if (d->token_uses > 0 && keeps == MG_STORE_EVICTS && store.url->evicting_refuse) {
        /* the store answers, but cannot keep the promise: fail closed. No
         * claim follows, so when the answer came from the store now it is
         * this request's operation, and ends an incident as a claim would */
        if (asked)
            store_result(r, 0, NULL);
        why = evicts;
        goto internal;
    } else if (d->token_uses <= 0) {
        /* an id without uses: only the store's revocation list, under its
         * epoch (a revocation lost with the store's records must not
         * un-revoke the link) */
        rv = mg_store_check_revoked(store.st, d->token_id, epoch_in(&ep, m, d, 1), &out, r->pool,
                                    &why);
        store_result(r, rv != MG_STORE_OK, why);
        if (rv == MG_STORE_OK && ep.started)
            epoch_started(r, &ep);
        if (rv == MG_STORE_OK && out == MG_CLAIM_LOST) {
            why = lost_refused(r, m, &ep, 0, 1);
            goto internal;
        }
        if (rv == MG_STORE_OK) {
            if (out == MG_CLAIM_REVOKED)
                refuse(d, MG_R_TOKEN_REVOKED, HTTP_FORBIDDEN,
                       "the token id is revoked (mgctl revoke --store)");
            return;
        }
        why = apr_pstrcat(r->pool, "the claim store cannot be asked: ", why, NULL);
        goto internal;
    } else if (r->useragent_ip == NULL || mg_ip_parse(r->useragent_ip, &client) != 0) {
        why = "the client address is unknown";
    } else {
        /* another server whose clock is up to clock_skew behind this one
         * accepts the link that much later by the store's reckoning: its
         * slots must still be there then */
        apr_time_t left = d->token_until - r->request_time +
                          (m->mp->policy != NULL ? m->mp->policy->tokens.skew : 0);
        memset(&c, 0, sizeof(c));
        c.kid = d->token_kid;
        c.id = d->token_id;
        c.uses = d->token_uses;
        c.addr = mg_ip_format(&client, addr, sizeof(addr));
        /* the slots live as long as the link can be used anywhere, and a
         * second more (in 64 bits: a 32-bit lifetime wraps for a link valid
         * 136 years) */
        c.ttl = left > 0 ? apr_time_sec(left) + 1 : 1;
        /* HEAD gets no content: a link checker or a chat app's preview must
         * not burn the use meant for the person the link was sent to */
        c.peek = r->header_only;
        c.check_revoked = store_rev;
        c.epoch = epoch_in(&ep, m, d, store_rev);
        rv = mg_store_claim(store.st, &c, &out, &slot, r->pool, &why);
        store_result(r, rv != MG_STORE_OK, why);
        if (rv == MG_STORE_OK && ep.started)
            epoch_started(r, &ep);
        if (rv == MG_STORE_OK && out == MG_CLAIM_LOST) {
            why = lost_refused(r, m, &ep, 1, store_rev);
            goto internal;
        }
        if (rv == MG_STORE_OK) {
            if (out == MG_CLAIM_NEW || out == MG_CLAIM_OWNER || out == MG_CLAIM_FREE)
                return;
            if (out == MG_CLAIM_REVOKED) {
                refuse(d, MG_R_TOKEN_REVOKED, HTTP_FORBIDDEN,
                       "the token id is revoked (mgctl revoke --store)");
                return;
            }
            refuse(d, MG_R_TOKEN_USED, HTTP_FORBIDDEN,
                   apr_psprintf(r->pool,
                                "token %s is used up: its %d use(s) went to other client "
                                "addresses",
                                d->token_id, d->token_uses));
            return;
        }
        why = apr_pstrcat(r->pool, "the claim store cannot be asked: ", why, NULL);
        goto internal;
    }
    /* a configuration problem, not a store incident: said for every request */
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  MG_LOGNO(00609) "media-guard %s: %s; refusing token %s", m->mp->name, why,
                  d->token_id ? d->token_id : "-");
internal:
    /* fail closed, as a server error: the limit cannot be enforced */
    refuse(d, MG_R_INTERNAL, HTTP_INTERNAL_SERVER_ERROR, why);
}
