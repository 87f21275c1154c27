/* mg_store_redis.c — the Redis engine of the claim store (mg_store.h).
 *
 * hiredis rather than APR-util's apr_redis: apr_redis has no SET NX (its
 * "add" is a GET then a SET), no EVAL and no AUTH, and the claim needs an
 * atomic add-if-absent. With hiredis, add is `SET key val NX EX ttl` and the
 * whole slot walk of a claim (plus the revocation check) is one EVAL of a
 * short Lua script: Redis runs a script atomically, so a claim costs one
 * round trip whatever N is.
 *
 * A redisContext is not thread-safe: connections wait in a small stack
 * guarded by a thread mutex, each used by one thread at a time. A
 * connection that saw any error is closed, never reused (a late reply to a
 * timed-out command would otherwise answer the next one); the next
 * operation connects again, so claims resume by themselves when Redis is
 * back. Connect, read and write all have the URL's timeout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <apr_cstr.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include <hiredis/hiredis.h>

#include "mg_store.h"

#define IDLE_MAX 16 /* connections kept between operations */

typedef struct redis_impl {
    const mg_store_url_t *url;
    apr_thread_mutex_t *lock; /* guards idle/nidle */
    redisContext *idle[IDLE_MAX];
    int nidle;
} redis_impl_t;

/* Outcomes as the script returns them (same order as mg_claim_outcome_t). */
static const char CLAIM_LUA[] =
    "local addr, ttl, peek = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'\n"
    "local n = #KEYS\n"
    "if ARGV[4] == '1' then\n"
    "  if redis.call('EXISTS', KEYS[n]) == 1 then return {4, 0} end\n"
    "  n = n - 1\n"
    "end\n"
    "for i = 1, n do\n"
    "  local v = redis.call('GET', KEYS[i])\n"
    "  if not v then\n"
    "    if peek then return {2, 0} end\n"
    "    redis.call('SET', KEYS[i], addr, 'EX', ttl)\n"
    "    return {0, i}\n"
    "  end\n"
    "  if v == addr then return {1, i} end\n"
    "end\n"
    "return {3, 0}\n";

static apr_status_t close_all(void *data)
{
    redis_impl_t *r = data;
    while (r->nidle > 0)
        redisFree(r->idle[--r->nidle]);
    return APR_SUCCESS;
}

/* An idle connection (*reused = 1) unless `fresh`, else a new one. */
static redisContext *conn_get(redis_impl_t *r, int fresh, int *reused, apr_pool_t *p,
                              const char **why)
{
    const mg_store_url_t *u = r->url;
    struct timeval tv;
    redisContext *c = NULL;
    redisReply *rep;

    apr_thread_mutex_lock(r->lock);
    if (r->nidle > 0 && !fresh)
        c = r->idle[--r->nidle];
    apr_thread_mutex_unlock(r->lock);
    *reused = c != NULL;
    if (c != NULL)
        return c;
    tv.tv_sec = (time_t)apr_time_sec(u->timeout);
    tv.tv_usec = (suseconds_t)apr_time_usec(u->timeout);
    c = redisConnectWithTimeout(u->host[0], u->port[0], tv);
    if (c == NULL || c->err) {
        *why = apr_psprintf(p, "cannot connect to redis %s:%d (%s)", u->host[0], u->port[0],
                            c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        *why = "cannot set the redis timeout";
        redisFree(c);
        return NULL;
    }
    if (u->password != NULL) {
        rep = redisCommand(c, "AUTH %s", u->password);
        if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
            *why = apr_psprintf(p, "redis %s:%d refused the password from %s", u->host[0],
                                u->port[0], u->password_file);
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(rep);
    }
    if (u->db != 0) {
        rep = redisCommand(c, "SELECT %d", u->db);
        if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
            *why = apr_psprintf(p, "redis %s:%d: cannot select database %d", u->host[0], u->port[0],
                                u->db);
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(rep);
    }
    return c;
}

static void conn_put(redis_impl_t *r, redisContext *c)
{
    apr_thread_mutex_lock(r->lock);
    if (r->nidle < IDLE_MAX) {
        r->idle[r->nidle++] = c;
        c = NULL;
    }
    apr_thread_mutex_unlock(r->lock);
    if (c != NULL)
        redisFree(c);
}

/* Run one command; an error reply is returned (the caller frees it). A
 * reply of an unexpected shape closes the connection: the caller reports
 * ERROR. An idle connection that the server (or a
 * restart of it) closed is found out by the command failing with EOF or a
 * reset: it is tried again once on a new connection. That is safe because
 * every command here can run twice: SET NX then finds its own value, the
 * claim script finds the address as the owner of its slot, GET and DEL are
 * idempotent. A timeout is never retried. */
static redisReply *run_any(mg_store_t *st, apr_pool_t *p, const char **why, int argc,
                           const char **argv)
{
    redis_impl_t *r = st->impl;
    int fresh = 0, reused;
    redisContext *c;
    redisReply *rep;

again:
    c = conn_get(r, fresh, &reused, p, why);
    if (c == NULL)
        return NULL;
    rep = redisCommandArgv(c, argc, argv, NULL);
    if (rep == NULL && reused &&
        (c->err == REDIS_ERR_EOF ||
         (c->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE)))) {
        redisFree(c);
        fresh = 1;
        goto again;
    }
    if (rep == NULL) {
        *why = apr_psprintf(p, "redis %s:%d: %s", r->url->host[0], r->url->port[0],
                            c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
                                ? "no answer within the timeout"
                                : c->errstr);
        redisFree(c);
        return NULL;
    }
    conn_put(r, c); /* an error reply too: the protocol is in step */
    return rep;
}

/* run_any, with an error reply (an OOM refusal, a missing script...) an
 * error like any other: NULL and *why. */
static redisReply *run(mg_store_t *st, apr_pool_t *p, const char **why, int argc, const char **argv)
{
    redis_impl_t *r = st->impl;
    redisReply *rep = run_any(st, p, why, argc, argv);

    if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
        /* the server's words go into a log line and a terminal: one line, printable */
        *why = apr_psprintf(p, "redis %s:%d answered: %s", r->url->host[0], r->url->port[0],
                            mg_store_said(p, rep->str, 100));
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static mg_store_status_t garbage(mg_store_t *st, redisReply *rep, apr_pool_t *p, const char **why)
{
    redis_impl_t *r = st->impl;
    *why = apr_psprintf(p, "redis %s:%d gave an answer of an unexpected type (%d)", r->url->host[0],
                        r->url->port[0], rep->type);
    freeReplyObject(rep);
    return MG_STORE_ERROR;
}

static mg_store_status_t r_add(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                               apr_pool_t *p, const char **why)
{
    const char *argv[6] = {"SET", key, val, "NX", "EX", NULL};
    redisReply *rep;

    argv[5] = apr_psprintf(p, "%" APR_INT64_T_FMT, ttl);
    rep = run(st, p, why, ttl ? 6 : 4, argv);
    if (rep == NULL)
        return MG_STORE_ERROR;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return MG_STORE_EXISTS;
    }
    if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "OK") != 0)
        return garbage(st, rep, p, why);
    freeReplyObject(rep);
    return MG_STORE_OK;
}

static mg_store_status_t r_get(mg_store_t *st, const char *key, char **val, apr_pool_t *p,
                               const char **why)
{
    const char *argv[2] = {"GET", key};
    redisReply *rep = run(st, p, why, 2, argv);

    if (rep == NULL)
        return MG_STORE_ERROR;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return MG_STORE_NOTFOUND;
    }
    if (rep->type != REDIS_REPLY_STRING || rep->len >= MG_STORE_VAL_MAX)
        return garbage(st, rep, p, why);
    *val = apr_pstrmemdup(p, rep->str, rep->len);
    freeReplyObject(rep);
    return MG_STORE_OK;
}

static mg_store_status_t r_del(mg_store_t *st, const char *key, apr_pool_t *p, const char **why)
{
    const char *argv[2] = {"DEL", key};
    redisReply *rep = run(st, p, why, 2, argv);
    long long n;

    if (rep == NULL)
        return MG_STORE_ERROR;
    if (rep->type != REDIS_REPLY_INTEGER)
        return garbage(st, rep, p, why);
    n = rep->integer;
    freeReplyObject(rep);
    return n > 0 ? MG_STORE_OK : MG_STORE_NOTFOUND;
}

static mg_store_status_t r_claim(mg_store_t *st, const mg_claim_t *c, mg_claim_outcome_t *out,
                                 int *slot, apr_pool_t *p, const char **why)
{
    int nkeys = c->uses + (c->check_revoked ? 1 : 0), argc = 3 + nkeys + 4, i, k = 0;
    const char **argv = apr_palloc(p, sizeof(*argv) * (apr_size_t)argc);
    redisReply *rep;
    long long o, s;

    argv[k++] = "EVAL";
    argv[k++] = CLAIM_LUA;
    argv[k++] = apr_itoa(p, nkeys);
    for (i = 1; i <= c->uses; i++)
        argv[k++] = mg_store_slot_key(p, st, c->kid, c->id, i);
    if (c->check_revoked)
        argv[k++] = mg_store_rev_key(p, st, c->id);
    argv[k++] = c->addr;
    argv[k++] = apr_psprintf(p, "%" APR_INT64_T_FMT, c->ttl);
    argv[k++] = c->peek ? "1" : "0";
    argv[k++] = c->check_revoked ? "1" : "0";
    rep = run(st, p, why, k, argv);
    if (rep == NULL)
        return MG_STORE_ERROR;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER ||
        rep->element[1]->type != REDIS_REPLY_INTEGER)
        return garbage(st, rep, p, why);
    o = rep->element[0]->integer;
    s = rep->element[1]->integer;
    freeReplyObject(rep);
    if (o < MG_CLAIM_NEW || o > MG_CLAIM_REVOKED || s < 0 || s > c->uses) {
        *why = "redis: the claim script answered out of range";
        return MG_STORE_ERROR;
    }
    *out = (mg_claim_outcome_t)o;
    *slot = (int)s;
    return MG_STORE_OK;
}

/* ---- retention: does this Redis drop live records when full? ---- */

#define REDIS_FIX                                                                                  \
    "set maxmemory-policy noeviction on that Redis (the policy is per instance, so give the "      \
    "claims a Redis of their own if others need eviction; volatile-* policies evict these "        \
    "records too, as they expire)"

void mg_store_redis_policy_retention(apr_pool_t *p, const char *policy, const char *maxmemory,
                                     mg_store_retention_t *r)
{
    /* noeviction is Redis's only policy that never drops a key for memory;
     * any other name, including one a later Redis adds, may */
    r->keeps = strcmp(policy, "noeviction") == 0 ? MG_STORE_KEEPS : MG_STORE_EVICTS;
    policy = mg_store_said(p, policy, 40); /* for the log line */
    if (maxmemory != NULL)
        maxmemory = mg_store_said(p, maxmemory, 24);
    if (maxmemory == NULL)
        r->setting = apr_psprintf(p, "maxmemory-policy %s", policy);
    else if (strcmp(maxmemory, "0") == 0 && r->keeps == MG_STORE_EVICTS)
        /* nothing is evicted while there is no limit, but one CONFIG SET
         * maxmemory starts it, without a restart of anything */
        r->setting = apr_psprintf(p, "maxmemory-policy %s, maxmemory 0 (no limit yet)", policy);
    else
        r->setting = apr_psprintf(p, "maxmemory-policy %s, maxmemory %s", policy, maxmemory);
    r->fix = r->keeps == MG_STORE_KEEPS ? NULL : REDIS_FIX;
}

/* The value of "name:value" in INFO's text, or NULL. */
static const char *info_field(apr_pool_t *p, const char *info, const char *name)
{
    size_t n = strlen(name);

    for (const char *l = info; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, name, n) == 0 && l[n] == ':')
            return apr_pstrmemdup(p, l + n + 1, strcspn(l + n + 1, "\r\n"));
    return NULL;
}

int mg_store_redis_info_retention(apr_pool_t *p, const char *info, mg_store_retention_t *r)
{
    const char *policy = info_field(p, info, "maxmemory_policy");

    if (policy == NULL || *policy == '\0')
        return 0;
    mg_store_redis_policy_retention(p, policy, info_field(p, info, "maxmemory"), r);
    return 1;
}

int mg_store_redis_refusal(const char *err)
{
    /* what Redis says to a command renamed away (rename-command X ""), one
     * a managed service disables, a subcommand it lacks, and an ACL's
     * refusal; the wording is Redis's since 2.x ("Unknown subcommand" in
     * 6.x). Anything else (max number of clients reached, BUSY, LOADING,
     * MASTERDOWN, OOM...) is the server unable to answer now, not refusing
     * the question: an error, asked again by the next request. */
    static const char *const refusals[] = {"NOPERM", "ERR unknown command",
                                           "ERR unknown subcommand", "ERR unknown or disabled"};

    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
        if (apr_cstr_casecmpn(err, refusals[i], strlen(refusals[i])) == 0)
            return 1;
    return 0;
}

/* An error reply that is not a refusal of the question: MG_STORE_ERROR. */
static mg_store_status_t unanswered(mg_store_t *st, redisReply *rep, const char *cmd, apr_pool_t *p,
                                    const char **why)
{
    redis_impl_t *r = st->impl;
    *why = apr_psprintf(p, "redis %s:%d answered %s with: %s", r->url->host[0], r->url->port[0],
                        cmd, mg_store_said(p, rep->str, 100));
    freeReplyObject(rep);
    return MG_STORE_ERROR;
}

/* INFO memory first (allowed where CONFIG is not, as on most managed
 * services), then CONFIG GET; either may be renamed away or forbidden by
 * an ACL: the answer is then UNSAID, with both refusals. Any other error
 * reply (the server at maxclients, BUSY, LOADING) is no answer: ERROR,
 * never cached as UNSAID (that would serve one-time links on a store that
 * evicts, for the child's life). */
static mg_store_status_t r_retention(mg_store_t *st, apr_array_header_t *out, apr_pool_t *p,
                                     const char **why)
{
    redis_impl_t *r = st->impl;
    const char *info_argv[2] = {"INFO", "memory"};
    const char *cfg_argv[3] = {"CONFIG", "GET", "maxmemory-policy"};
    mg_store_retention_t *res = apr_array_push(out);
    const char *info_said;
    redisReply *rep;

    memset(res, 0, sizeof(*res));
    res->server = apr_psprintf(p, "redis %s:%d", r->url->host[0], r->url->port[0]);
    if ((rep = run_any(st, p, why, 2, info_argv)) == NULL)
        return MG_STORE_ERROR;
    if (rep->type == REDIS_REPLY_STRING &&
        mg_store_redis_info_retention(p, apr_pstrmemdup(p, rep->str, rep->len), res)) {
        freeReplyObject(rep);
        return MG_STORE_OK;
    }
    if (rep->type == REDIS_REPLY_ERROR && !mg_store_redis_refusal(rep->str))
        return unanswered(st, rep, "INFO memory", p, why);
    info_said = rep->type == REDIS_REPLY_ERROR
                    ? apr_psprintf(p, "INFO memory: %s", mg_store_said(p, rep->str, 100))
                    : "INFO memory: no maxmemory_policy line";
    freeReplyObject(rep);
    if ((rep = run_any(st, p, why, 3, cfg_argv)) == NULL)
        return MG_STORE_ERROR;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[1]->type == REDIS_REPLY_STRING && rep->element[1]->len > 0) {
        mg_store_redis_policy_retention(
            p, apr_pstrmemdup(p, rep->element[1]->str, rep->element[1]->len), NULL, res);
        freeReplyObject(rep);
        return MG_STORE_OK;
    }
    if (rep->type == REDIS_REPLY_ERROR && !mg_store_redis_refusal(rep->str))
        return unanswered(st, rep, "CONFIG GET maxmemory-policy", p, why);
    /* an empty array is a server without that setting (a Redis-like
     * server): it would not say; any other shape is garbage */
    if (rep->type != REDIS_REPLY_ERROR && !(rep->type == REDIS_REPLY_ARRAY && rep->elements == 0))
        return garbage(st, rep, p, why);
    res->keeps = MG_STORE_UNSAID;
    res->setting = apr_psprintf(p, "%s; CONFIG GET maxmemory-policy: %s", info_said,
                                rep->type == REDIS_REPLY_ERROR ? mg_store_said(p, rep->str, 100)
                                                               : "no such setting");
    res->fix = "make sure its maxmemory-policy is noeviction (ask whoever runs it)";
    freeReplyObject(rep);
    return MG_STORE_OK;
}

static const mg_store_ops_t redis_ops = {"redis", r_add, r_get, r_del, r_claim, r_retention};

mg_status_t mg_store_redis_open(apr_pool_t *p, const mg_store_url_t *u, mg_store_t **out,
                                const char **why)
{
    mg_store_t *st = apr_pcalloc(p, sizeof(*st));
    redis_impl_t *r = apr_pcalloc(p, sizeof(*r));

    if (apr_thread_mutex_create(&r->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS) {
        *why = "cannot create a mutex";
        return MG_EINTERNAL;
    }
    r->url = u;
    apr_pool_cleanup_register(p, r, close_all, apr_pool_cleanup_null);
    st->ops = &redis_ops;
    st->impl = r;
    st->prefix = u->prefix;
    st->display = u->display;
    *out = st;
    return MG_OK;
}
