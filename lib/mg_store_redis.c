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
 * back. The URL's timeout is a deadline for each operation as a whole
 * (connect, AUTH/SELECT, the command and its complete answer, the retry),
 * on the monotonic clock (mg_store_clock); a server that timed out is
 * asked again by one request at a time (mg_store_gate_t).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_cstr.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include <hiredis/hiredis.h>

#include "mg_store.h"

#define IDLE_MAX 16 /* connections kept between operations */

/* Outcomes as the script returns them (same order as mg_claim_outcome_t),
 * then the slot, the epoch's SINCE (-1: not asked) and why this claim
 * started the epoch (0, MG_EPOCH_NEW_NONE, MG_EPOCH_NEW_RESTART,
 * MG_EPOCH_NEW_PROMOTED). The epoch record (mg_store.h) is read and renewed
 * in the same script as the walk, so no claim can land between a loss and
 * the epoch that says so.
 *
 * The run id alone does not tell a dataset replaced in the same process: a
 * primary made a replica (a failover, REPLICAOF) drops its data for its new
 * primary's, the writes it had not replicated with it, and keeps its run
 * id when it is promoted again; the epoch record it got back names it. A
 * promotion gives the process a new replication id (master_replid, with
 * second_repl_offset set), so a promoted process keeps the epoch only if
 * the tenure record, PREFIX"epoch:tenure" = "RUNID REPLID", names its
 * present tenure; one written in another tenure (or none) is a new epoch.
 * The replication state is read at each claim, from the process itself: a
 * connection outlives a demotion. A replica (role:slave) is refused: its
 * data lags its primary's, a revocation among what it lacks. */
static const char CLAIM_LUA[] =
    /* Redis 3.2-4.x replicate a script verbatim unless told otherwise, and
     * refuse a write after TIME then; 5 and later replicate its effects
     * (the call is a no-op there; 7.x only keeps it for compatibility) */
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local addr, ttl, peek = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'\n"
    "local n = #KEYS\n"
    "local since, started = -1, 0\n"
    "if ARGV[5] == '1' then\n"
    "  local ek, tk, now, runid, durable = KEYS[n - 1], KEYS[n], tonumber(ARGV[9]), ARGV[10], "
    "ARGV[11]\n"
    "  local tenure\n"
    "  n = n - 2\n"
    /* a new epoch begins at the later of the caller's clock and Redis's:
     * a caller whose clock is behind must not date the loss before it
     * happened (a link granted in between would be granted again) */
    "  local t = tonumber(redis.call('TIME')[1])\n"
    "  if t > now then now = t end\n"
    /* the connection was identified once: a replica attached since makes
     * this primary not durable (a failover loses what it lacks), and a
     * demotion and promotion since replaced its data (above). Run id "-":
     * INFO refused, lost_records=warn: nothing to tell */
    "  if runid ~= '-' then\n"
    "    local i = redis.pcall('INFO', 'replication')\n"
    "    if type(i) ~= 'string' then\n"
    "      return redis.error_reply('ERR media-guard: INFO replication refused: a failover "
    "cannot be told')\n"
    "    end\n"
    "    if not string.find(i, '\\nrole:master\\r', 1, true) then\n"
    "      return redis.error_reply('ERR media-guard: a replica (its data lags its primary): "
    "point MediaGuardStore at the primary')\n"
    "    end\n"
    "    if not string.find(i, '\\nconnected_slaves:0\\r', 1, true) then durable = '0' end\n"
    "    local second = string.match(i, '\\nsecond_repl_offset:(%-?%d+)\\r')\n"
    "    if second and second ~= '-1' then\n"
    "      durable = '0'\n"
    "      tenure = runid .. ' ' .. (string.match(i, '\\nmaster_replid:(%x+)\\r') or '-')\n"
    "    end\n"
    "  end\n"
    "  local e = redis.call('GET', ek)\n"
    "  local s, rid, dur\n"
    "  if e then\n"
    "    s, rid, dur = string.match(e, '^(%d+) (%S+) ([01])$')\n"
    "    if not s then\n"
    "      return redis.error_reply('ERR media-guard: the epoch record is not SINCE RUNID "
    "DURABLE')\n"
    "    end\n"
    "    if rid ~= runid and (dur ~= '1' or durable ~= '1') then s = now; started = 2 end\n"
    "  else\n"
    "    s = now; started = 1\n"
    "  end\n"
    "  if tenure then\n"
    "    local tv = redis.call('GET', tk)\n"
    "    if started == 0 and tv ~= tenure then s = now; started = 4 end\n"
    "    if tv ~= tenure then redis.call('SET', tk, tenure) end\n"
    "  end\n"
    "  if started ~= 0 or rid ~= runid or dur ~= durable then\n"
    "    redis.call('SET', ek, s .. ' ' .. runid .. ' ' .. durable)\n"
    "  end\n"
    "  since = tonumber(s)\n"
    "end\n"
    "if ARGV[4] == '1' then\n"
    "  if redis.call('EXISTS', KEYS[n]) == 1 then return {4, 0, since, started} end\n"
    "  n = n - 1\n"
    "end\n"
    "if ARGV[5] == '1' and ARGV[8] == '1' and since > 0 then\n"
    "  local from = tonumber(ARGV[6])\n"
    "  if from <= 0 or from < since + tonumber(ARGV[7]) then return {5, 0, since, started} end\n"
    "end\n"
    "for i = 1, n do\n"
    "  local v = redis.call('GET', KEYS[i])\n"
    "  if not v then\n"
    "    if peek then return {2, 0, since, started} end\n"
    "    redis.call('SET', KEYS[i], addr, 'EX', ttl)\n"
    "    return {0, i, since, started}\n"
    "  end\n"
    "  if v == addr then return {1, i, since, started} end\n"
    "end\n"
    "return {3, 0, since, started}\n";

/* A connection, and the Redis process behind it once asked (conn_identify):
 * a TCP connection cannot outlive the process it reached, so what was
 * asked on it holds for every later command on it. */
typedef struct redis_impl redis_impl_t;

typedef struct redis_conn {
    redisContext *c;
    redis_impl_t *r; /* for the reader's functions: its privdata is this connection */
    long values;     /* reply objects made so far for the command under way (VALUES_MAX) */
    int io_errno;    /* the errno of the last command's I/O error, 0 for any other failure */
    int identified;
    char runid[48];   /* INFO run_id, or "-" (INFO refused, lost_records=warn) */
    int durable;      /* appendonly yes, appendfsync always, not a promoted replica, no replicas */
    int replica;      /* INFO's role is not master (the claim script refuses it at each claim) */
    char setting[96]; /* why (not) durable, for mgctl store check */
} redis_conn_t;

struct redis_impl {
    const mg_store_url_t *url;
    apr_thread_mutex_t *lock; /* guards idle/nidle and gate */
    redis_conn_t *idle[IDLE_MAX];
    int nidle;
    mg_store_gate_t gate;
    /* hiredis's reply functions (base), and ours (fn): base's, counted
     * against VALUES_MAX */
    redisReplyObjectFunctions base, fn;
};

static apr_status_t close_all(void *data)
{
    redis_impl_t *r = data;
    while (r->nidle > 0) {
        redis_conn_t *c = r->idle[--r->nidle];
        redisFree(c->c);
        free(c);
    }
    return APR_SUCCESS;
}

#define NO_ANSWER "no answer within the timeout"

/* A failed hiredis call on c: a timeout (hiredis reports a read or write
 * timeout as EAGAIN, a connect timeout as ETIMEDOUT) is said as one, in
 * c->errstr, so that timed_out() can tell it whatever errno became since.
 * Returns NULL, for the callers' convenience. */
static void *io_failed(redisContext *c)
{
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT))
        apr_cpystrn(c->errstr, NO_ANSWER, sizeof(c->errstr));
    return NULL;
}

static int timed_out(const redisContext *c)
{
    return c->err == REDIS_ERR_IO && strcmp(c->errstr, NO_ANSWER) == 0;
}

/* Why a command got no reply. */
static const char *io_why(redis_impl_t *r, redisContext *c, apr_pool_t *p)
{
    return apr_psprintf(p, "redis %s:%d: %s", r->url->host[0], r->url->port[0], c->errstr);
}

/* A reply larger than this is not one of ours (INFO is a few KiB): a
 * server that sends more is refused rather than buffered. Counted in bytes
 * received for the command, before hiredis sees them: hiredis parses an
 * array element by element and drops what it parsed, so what is left in
 * its buffer says nothing of an array of millions of small elements, each
 * one a reply object in memory. */
#define REPLY_MAX (1 << 20)

/* No reply of ours holds more values (hiredis reply objects: each string,
 * integer, nil and array, nested ones included) than this: the claim
 * script's is 5, CONFIG GET's 3, and the largest, a SCAN batch (any_key),
 * COUNT 1000 keys plus its cursor, which Redis overshoots by at most the
 * keys of the hash bucket it was in. REPLY_MAX alone let a store make a
 * reply object (a redisReply, 48 bytes, and its string) of every 3 bytes:
 * 0.96 MB of `+\r\n` in arrays was 320,041 of them, 33 MB per request
 * while it was read; at this bound, about 0.8 MB. An array that announces
 * more elements than are left is refused at its header, before hiredis
 * allocates their pointers (0.14 has no maxelements: `*1000000000`, 14
 * bytes from a hostile store, made it allocate 8 GB of address space and
 * walk all of it when freeing the reply, 39 s of CPU past any deadline). */
#define VALUES_MAX MG_STORE_REDIS_VALUES_MAX
#define OVER_VALUES                                                                                \
    "an over-long reply (more than " APR_STRINGIFY(MG_STORE_REDIS_VALUES_MAX) " values)"

/* hiredis 1.x counts an array's elements in a size_t */
#if HIREDIS_MAJOR >= 1
typedef size_t elements_t;
#else
typedef int elements_t;
#endif

static redis_impl_t *impl_of(const redisReadTask *task)
{
    return ((redis_conn_t *)task->privdata)->r;
}

/* An array: the elements it announces are counted here, at its header,
 * before hiredis allocates their pointers, and the answer itself (no
 * parent) counts one; every other value is an element of an array, so no
 * other reply function needs to count (rc->values is then the answer's
 * values, nested ones included). Counted as they came instead, each array
 * open at once could announce what was left: a wide array's first element
 * nearly the whole bound again, and in hiredis 1.x, which nests without
 * limit, a chain of them 8192 times (268 MB of pointers from 57 KB). NULL
 * (more than VALUES_MAX) makes the reader fail, said as out of memory:
 * command_by tells the two apart by rc->values. */
static void *create_array(const redisReadTask *task, elements_t elements)
{
    redis_conn_t *rc = task->privdata;
    long have = rc->values + (task->parent == NULL);

    if ((long long)elements > VALUES_MAX - have) {
        rc->values = VALUES_MAX + 1;
        return NULL;
    }
    rc->values = have + (long)elements;
    return impl_of(task)->base.createArray(task, elements);
}

static redisReply *failed_as(redisContext *c, int err, const char *str)
{
    c->err = err;
    apr_cpystrn(c->errstr, str, sizeof(c->errstr));
    return NULL;
}

/* Wait at most `left` for what the server sends and give it to c's reader;
 * *got counts the reply's bytes, never more than REPLY_MAX. 0 (also when a
 * signal cut the wait short: the caller looks at the deadline again), or
 * -1 with c->err (errno kept for an I/O error: command_by keeps it). */
static int read_by(redisContext *c, apr_interval_time_t left, apr_size_t *got)
{
    char buf[16384];
    struct pollfd pfd;
    apr_size_t want = REPLY_MAX + 1 - *got;
    ssize_t n;
    int rv;

    pfd.fd = c->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    rv = poll(&pfd, 1, left / 1000 >= INT_MAX ? INT_MAX : (int)((left + 999) / 1000));
    if (rv < 0 && errno == EINTR)
        return 0;
    if (rv < 0) {
        failed_as(c, REDIS_ERR_IO, strerror(errno));
        return -1;
    }
    if (rv == 0) {
        failed_as(c, REDIS_ERR_IO, NO_ANSWER);
        return -1;
    }
    n = read(c->fd, buf, want < sizeof(buf) ? want : sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n < 0) {
        failed_as(c, REDIS_ERR_IO, strerror(errno));
        return -1;
    }
    if (n == 0) {
        failed_as(c, REDIS_ERR_EOF, "Server closed the connection");
        return -1;
    }
    *got += (apr_size_t)n;
    if (*got > REPLY_MAX) {
        failed_as(c, REDIS_ERR_PROTOCOL, "an over-long reply");
        return -1;
    }
    if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
        failed_as(c, REDIS_ERR_OOM, "out of memory");
        return -1;
    }
    return 0;
}

/* One command with a deadline: the URL's timeout bounds the whole exchange
 * (sending it and reading its complete reply), not each read. hiredis's own
 * redisCommand waits `timeout` per read(): a server that drips its reply a
 * byte at a time, each within the timeout, would hold the request (and its
 * Apache worker) for ever. Each wait is at most what is left until the
 * deadline; a reply past the deadline or over REPLY_MAX is an error (the
 * connection is then unusable: the caller closes it). NULL with c->err set,
 * a deadline or a timeout as NO_ANSWER (timed_out). */
static redisReply *command_io(redis_conn_t *rc, apr_time_t deadline, int argc, const char **argv)
{
    redisContext *c = rc->c;
    void *reply = NULL;
    apr_size_t got = 0;
    int done = 0;

    rc->values = 0;
    if (redisAppendCommandArgv(c, argc, argv, NULL) != REDIS_OK)
        return io_failed(c);
    for (;;) {
        apr_interval_time_t left;
        struct timeval tv;

        if (done) {
            if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
                return c->err != REDIS_ERR_OOM ? io_failed(c)
                       : rc->values > VALUES_MAX
                           ? failed_as(c, REDIS_ERR_PROTOCOL, OVER_VALUES)
                           : failed_as(c, REDIS_ERR_PROTOCOL, "out of memory");
            /* pos and len are the reader's (read.h declares them; no
             * function says how much of its buffer is unread, in 0.14 or
             * 1.x) */
            if (reply != NULL && c->reader->pos != c->reader->len) {
                /* more than the answer: out of step with the commands */
                freeReplyObject(reply);
                return failed_as(c, REDIS_ERR_PROTOCOL, "more than one answer to a command");
            }
            if (reply != NULL)
                return reply;
        }
        left = deadline - mg_store_clock();
        if (left <= 0)
            return failed_as(c, REDIS_ERR_IO, NO_ANSWER);
        if (done) {
            if (read_by(c, left, &got) != 0)
                return NULL;
            continue;
        }
        tv.tv_sec = (time_t)apr_time_sec(left);
        tv.tv_usec = (suseconds_t)apr_time_usec(left);
        if (redisSetTimeout(c, tv) != REDIS_OK || redisBufferWrite(c, &done) != REDIS_OK)
            return io_failed(c);
    }
}

/* command_io, and the errno of an I/O error kept with the connection
 * (rc->io_errno) for run_conn, which decides on it after more calls
 * (conn_identify formats its message first). A timeout is not one: it is
 * said by us (NO_ANSWER), errno then being whatever an earlier call left,
 * such as a reset on another connection of this thread. */
static redisReply *command_by(redis_conn_t *rc, apr_time_t deadline, int argc, const char **argv)
{
    redisReply *rep = command_io(rc, deadline, argc, argv);

    rc->io_errno = rep == NULL && rc->c->err == REDIS_ERR_IO && !timed_out(rc->c) ? errno : 0;
    return rep;
}

static void conn_free(redis_conn_t *rc)
{
    redisFree(rc->c);
    free(rc);
}

/* Whether nothing came on an idle connection since its last answer: a
 * server that closed it, or sent what no command asked for (an answer
 * read now would be taken as the next command's), leaves it unusable. */
static int conn_quiet(redisContext *c)
{
    struct pollfd pfd;

    pfd.fd = c->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    return poll(&pfd, 1, 0) == 0;
}

/* An idle connection (*reused = 1) unless `fresh`, else a new one,
 * connected (and AUTH, SELECT) by the deadline; NULL with *why, and *slow
 * when the server did not answer in time. */
static redis_conn_t *conn_get(redis_impl_t *r, int fresh, int *reused, apr_time_t deadline,
                              int *slow, apr_pool_t *p, const char **why)
{
    const mg_store_url_t *u = r->url;
    struct timeval tv;
    redis_conn_t *rc = NULL;
    redisContext *c;
    redisReply *rep;
    apr_interval_time_t left;
    char db[16];

    apr_thread_mutex_lock(r->lock);
    if (r->nidle > 0 && !fresh)
        rc = r->idle[--r->nidle];
    apr_thread_mutex_unlock(r->lock);
    if (rc != NULL && !conn_quiet(rc->c)) {
        conn_free(rc);
        rc = NULL;
    }
    *reused = rc != NULL;
    if (rc != NULL)
        return rc;
    left = deadline - mg_store_clock();
    if (left <= 0) {
        *why = apr_psprintf(p, "redis %s:%d: " NO_ANSWER, u->host[0], u->port[0]);
        *slow = 1;
        return NULL;
    }
    /* outlives any pool: idle connections are kept for the child's life */
    if ((rc = calloc(1, sizeof(*rc))) == NULL) {
        *why = "out of memory";
        return NULL;
    }
    tv.tv_sec = (time_t)apr_time_sec(left);
    tv.tv_usec = (suseconds_t)apr_time_usec(left);
    c = redisConnectWithTimeout(u->host[0], u->port[0], tv);
    if (c != NULL && c->err) {
        io_failed(c);
        *slow = timed_out(c);
    }
    if (c == NULL || c->err) {
        *why = apr_psprintf(p, "cannot connect to redis %s:%d (%s)", u->host[0], u->port[0],
                            c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        free(rc);
        return NULL;
    }
    rc->c = c;
    rc->r = r;
    c->reader->fn = &r->fn;
    c->reader->privdata = rc;
    if (u->password != NULL) {
        const char *argv[] = {"AUTH", u->password};
        rep = command_by(rc, deadline, 2, argv);
        if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
            *why = rep == NULL ? io_why(r, c, p)
                               : apr_psprintf(p, "redis %s:%d refused the password from %s",
                                              u->host[0], u->port[0], u->password_file);
            *slow = rep == NULL && timed_out(c);
            if (rep)
                freeReplyObject(rep);
            conn_free(rc);
            return NULL;
        }
        freeReplyObject(rep);
    }
    if (u->db != 0) {
        const char *argv[] = {"SELECT", db};
        apr_snprintf(db, sizeof(db), "%d", u->db);
        rep = command_by(rc, deadline, 2, argv);
        if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
            *why = rep == NULL ? io_why(r, c, p)
                               : apr_psprintf(p, "redis %s:%d: cannot select database %d",
                                              u->host[0], u->port[0], u->db);
            *slow = rep == NULL && timed_out(c);
            if (rep)
                freeReplyObject(rep);
            conn_free(rc);
            return NULL;
        }
        freeReplyObject(rep);
    }
    return rc;
}

static void conn_put(redis_impl_t *r, redis_conn_t *rc)
{
    apr_thread_mutex_lock(r->lock);
    if (r->nidle < IDLE_MAX) {
        r->idle[r->nidle++] = rc;
        rc = NULL;
    }
    apr_thread_mutex_unlock(r->lock);
    if (rc != NULL)
        conn_free(rc);
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

int mg_store_redis_durability(apr_pool_t *p, const char *info, const char *appendfsync,
                              const char **setting)
{
    const char *aof = info_field(p, info, "aof_enabled");
    const char *second = info_field(p, info, "second_repl_offset");
    const char *replicas = info_field(p, info, "connected_slaves");

    if (aof == NULL || strcmp(aof, "1") != 0) {
        *setting = "appendonly no: a restart loses what the last snapshot does not hold";
        return 0;
    }
    if (second != NULL && strcmp(second, "-1") != 0) {
        /* a replica promoted to primary: what the old primary acknowledged
         * and had not replicated yet is lost, whatever the fsync */
        *setting = "a replica promoted to primary (second_repl_offset set): writes not "
                   "replicated before the failover are lost";
        return 0;
    }
    if (appendfsync == NULL) {
        *setting = "appendonly yes, appendfsync unknown (CONFIG GET appendfsync refused)";
        return 0;
    }
    if (strcmp(appendfsync, "always") != 0) {
        *setting = apr_psprintf(p,
                                "appendonly yes, appendfsync %s: a restart after a crash loses "
                                "up to the last second of writes",
                                mg_store_said(p, appendfsync, 20));
        return 0;
    }
    if (replicas == NULL || strcmp(replicas, "0") != 0) {
        /* a primary with replicas: one of them may be promoted (and
         * restarted) without what this process acknowledged last; the
         * record must then not say durable, or the promoted one, durable
         * itself, would keep the epoch (any run id change starts one) */
        *setting = replicas == NULL
                       ? "appendonly yes, appendfsync always, connected_slaves unknown: a "
                         "replica promoted after a failover lacks the writes it had not received"
                       : apr_psprintf(p,
                                      "appendonly yes, appendfsync always, connected_slaves:%s: a "
                                      "replica promoted after a failover lacks the writes it had "
                                      "not received",
                                      mg_store_said(p, replicas, 20));
        return 0;
    }
    *setting = "appendonly yes, appendfsync always";
    return 1;
}

/* Which Redis process is behind this connection, and whether it keeps
 * every acknowledged write across a restart: INFO (run_id, aof_enabled,
 * second_repl_offset) and, with the AOF on, CONFIG GET appendfsync. Asked
 * once per connection, the first time a claim with an epoch runs on it. A
 * refused INFO (renamed, an ACL) leaves no way to tell a restart: an error
 * under lost_records=refuse, run id "-" under warn or when `lenient` (mgctl
 * store check|init, which say so). 0, or -1 with *why (the connection is
 * then unusable). */
static int conn_identify(redis_impl_t *r, redis_conn_t *rc, int lenient, apr_time_t deadline,
                         apr_pool_t *p, const char **why)
{
    const char *info_argv[] = {"INFO"}, *fsync_argv[] = {"CONFIG", "GET", "appendfsync"};
    redisReply *rep = command_by(rc, deadline, 1, info_argv);
    const char *info, *runid, *fsync = NULL, *setting;

    if (rep == NULL) {
        *why = io_why(r, rc->c, p);
        return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR && mg_store_redis_refusal(rep->str) &&
        (lenient || !r->url->lost_refuse)) {
        freeReplyObject(rep);
        apr_cpystrn(rc->runid, "-", sizeof(rc->runid));
        apr_cpystrn(rc->setting, "INFO refused: a restart cannot be told", sizeof(rc->setting));
        rc->identified = 1;
        return 0;
    }
    if (rep->type != REDIS_REPLY_STRING) {
        *why = apr_psprintf(p,
                            "redis %s:%d answered INFO with: %s; without it a restart that lost "
                            "records cannot be told (allow INFO, or accept the risk with "
                            "?lost_records=warn)",
                            r->url->host[0], r->url->port[0],
                            rep->type == REDIS_REPLY_ERROR ? mg_store_said(p, rep->str, 100)
                                                           : "an answer of an unexpected type");
        freeReplyObject(rep);
        return -1;
    }
    info = apr_pstrmemdup(p, rep->str, rep->len);
    freeReplyObject(rep);
    runid = info_field(p, info, "run_id");
    if (runid == NULL || *runid == '\0' || strlen(runid) >= sizeof(rc->runid) ||
        strspn(runid, "0123456789abcdef") != strlen(runid)) {
        *why = apr_psprintf(p, "redis %s:%d: INFO has no run_id", r->url->host[0], r->url->port[0]);
        return -1;
    }
    if (info_field(p, info, "aof_enabled") != NULL &&
        strcmp(info_field(p, info, "aof_enabled"), "1") == 0) {
        rep = command_by(rc, deadline, 3, fsync_argv);
        if (rep == NULL) {
            *why = io_why(r, rc->c, p);
            return -1;
        }
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[1]->type == REDIS_REPLY_STRING)
            fsync = apr_pstrmemdup(p, rep->element[1]->str, rep->element[1]->len);
        freeReplyObject(rep);
    }
    rc->durable = mg_store_redis_durability(p, info, fsync, &setting);
    rc->replica =
        info_field(p, info, "role") != NULL && strcmp(info_field(p, info, "role"), "master") != 0;
    apr_cpystrn(rc->runid, runid, sizeof(rc->runid));
    apr_cpystrn(rc->setting, setting, sizeof(rc->setting));
    rc->identified = 1;
    return 0;
}

/* Run one command; an error reply is returned (the caller frees it). A
 * reply of an unexpected shape closes the connection: the caller reports
 * ERROR. An idle connection that the server (or a
 * restart of it) closed is found out by the command failing with EOF or a
 * reset: it is tried again once on a new connection. That is safe because
 * every command here can run twice: SET NX then finds its own value, the
 * claim script finds the address as the owner of its slot, GET and DEL are
 * idempotent. A timeout is never retried. With `ident` >= 0, argv[ident]
 * and argv[ident + 1] get the run id and durability of the process behind
 * the connection the command runs on (conn_identify), and *seen a copy. */
static redisReply *run_conn(mg_store_t *st, apr_pool_t *p, const char **why, int argc,
                            const char **argv, int ident, int lenient, redis_conn_t *seen,
                            int *slow)
{
    redis_impl_t *r = st->impl;
    int fresh = 0, reused, failed;
    redis_conn_t *rc;
    redisReply *rep = NULL;
    /* one deadline for the whole operation: connecting (AUTH, SELECT),
     * identifying the process, the command, and the one retry below */
    apr_time_t deadline = mg_store_clock() + r->url->timeout;

again:
    rc = conn_get(r, fresh, &reused, deadline, slow, p, why);
    if (rc == NULL)
        return NULL;
    failed = ident >= 0 && !rc->identified && conn_identify(r, rc, lenient, deadline, p, why) != 0;
    if (!failed) {
        if (ident >= 0) {
            argv[ident] = rc->runid;
            argv[ident + 1] = rc->durable ? "1" : "0";
            if (seen != NULL)
                *seen = *rc;
        }
        rep = command_by(rc, deadline, argc, argv);
    }
    if (rep == NULL && reused &&
        (rc->c->err == REDIS_ERR_EOF || rc->io_errno == ECONNRESET || rc->io_errno == EPIPE)) {
        conn_free(rc);
        fresh = 1;
        goto again;
    }
    if (failed || rep == NULL) {
        *slow = timed_out(rc->c);
        if (!failed)
            *why = io_why(r, rc->c, p);
        conn_free(rc);
        return NULL;
    }
    conn_put(r, rc); /* an error reply too: the protocol is in step */
    return rep;
}

/* run_conn through the server's gate (mg_store_gate_t). */
static redisReply *run_ident(mg_store_t *st, apr_pool_t *p, const char **why, int argc,
                             const char **argv, int ident, int lenient, redis_conn_t *seen)
{
    redis_impl_t *r = st->impl;
    mg_store_gate_pass_t pass;
    int slow = 0;
    redisReply *rep;

    if (!mg_store_gate_enter(&r->gate, r->lock, &pass)) {
        *why =
            apr_psprintf(p, "redis %s:%d: %s", r->url->host[0], r->url->port[0], MG_STORE_GATE_WHY);
        return NULL;
    }
    rep = run_conn(st, p, why, argc, argv, ident, lenient, seen, &slow);
    mg_store_gate_leave(&r->gate, r->lock, &pass, r->url->timeout, rep == NULL, slow);
    return rep;
}

static redisReply *run_any(mg_store_t *st, apr_pool_t *p, const char **why, int argc,
                           const char **argv)
{
    return run_ident(st, p, why, argc, argv, -1, 0, NULL);
}

/* run_any, with an error reply (an OOM refusal, a missing script...) an
 * error like any other: NULL and *why. */
static redisReply *run_ex(mg_store_t *st, apr_pool_t *p, const char **why, int argc,
                          const char **argv, int ident, int lenient, redis_conn_t *seen)
{
    redis_impl_t *r = st->impl;
    redisReply *rep = run_ident(st, p, why, argc, argv, ident, lenient, seen);

    if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
        /* the server's words go into a log line and a terminal: one line, printable */
        *why = apr_psprintf(p, "redis %s:%d answered: %s", r->url->host[0], r->url->port[0],
                            mg_store_said(p, rep->str, 100));
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static redisReply *run(mg_store_t *st, apr_pool_t *p, const char **why, int argc, const char **argv)
{
    return run_ex(st, p, why, argc, argv, -1, 0, NULL);
}

static mg_store_status_t garbage(mg_store_t *st, redisReply *rep, apr_pool_t *p, const char **why)
{
    redis_impl_t *r = st->impl;
    *why = apr_psprintf(p, "redis %s:%d gave an answer of an unexpected type (%d)", r->url->host[0],
                        r->url->port[0], rep->type);
    freeReplyObject(rep);
    return MG_STORE_ERROR;
}

/* SET key val [NX] [EX ttl]: add (nx) or set */
static mg_store_status_t r_write(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                                 int nx, apr_pool_t *p, const char **why)
{
    const char *argv[6] = {"SET", key, val};
    int argc = 3;
    redisReply *rep;

    if (nx)
        argv[argc++] = "NX";
    if (ttl) {
        argv[argc++] = "EX";
        argv[argc++] = apr_psprintf(p, "%" APR_INT64_T_FMT, ttl);
    }
    rep = run(st, p, why, argc, argv);
    if (rep == NULL)
        return MG_STORE_ERROR;
    if (nx && rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return MG_STORE_EXISTS;
    }
    if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "OK") != 0)
        return garbage(st, rep, p, why);
    freeReplyObject(rep);
    return MG_STORE_OK;
}

static mg_store_status_t r_add(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                               apr_pool_t *p, const char **why)
{
    return r_write(st, key, val, ttl, 1, p, why);
}

static mg_store_status_t r_set(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                               apr_pool_t *p, const char **why)
{
    return r_write(st, key, val, ttl, 0, p, why);
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
    mg_store_epoch_t *ep = c->epoch;
    int nkeys = c->uses + (c->check_revoked ? 1 : 0) + (ep ? 2 : 0), argc = 3 + nkeys + 11, i,
        k = 0, ident;
    const char **argv = apr_palloc(p, sizeof(*argv) * (apr_size_t)argc);
    redis_conn_t seen;
    redisReply *rep;
    long long o, s, since, started;

    argv[k++] = "EVAL";
    argv[k++] = CLAIM_LUA;
    argv[k++] = apr_itoa(p, nkeys);
    for (i = 1; i <= c->uses; i++)
        argv[k++] = mg_store_slot_key(p, st, c->kid, c->id, i);
    if (c->check_revoked)
        argv[k++] = mg_store_rev_key(p, st, c->id);
    if (ep) {
        argv[k++] = mg_store_epoch_key(p, st);
        argv[k++] = mg_store_tenure_key(p, st);
    }
    argv[k++] = c->addr;
    argv[k++] = apr_psprintf(p, "%" APR_INT64_T_FMT, c->ttl);
    argv[k++] = c->peek ? "1" : "0";
    argv[k++] = c->check_revoked ? "1" : "0";
    argv[k++] = ep ? "1" : "0";
    /* one epoch for the revocation and the slots: the stricter date */
    argv[k++] = apr_psprintf(p, "%" APR_INT64_T_FMT,
                             ep == NULL         ? 0
                             : c->check_revoked ? ep->rev_from
                                                : ep->used_from);
    argv[k++] = apr_psprintf(p, "%" APR_INT64_T_FMT, ep ? ep->margin : 0);
    argv[k++] = ep && ep->refuse ? "1" : "0";
    argv[k++] = apr_psprintf(p, "%" APR_INT64_T_FMT, ep ? ep->now : 0);
    ident = k; /* the run id and durability of the connection's process */
    argv[k++] = "-";
    argv[k++] = "0";
    rep = run_ex(st, p, why, k, argv, ep ? ident : -1, 0, &seen);
    if (rep == NULL)
        return MG_STORE_ERROR;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER ||
        rep->element[1]->type != REDIS_REPLY_INTEGER ||
        rep->element[2]->type != REDIS_REPLY_INTEGER ||
        rep->element[3]->type != REDIS_REPLY_INTEGER)
        return garbage(st, rep, p, why);
    o = rep->element[0]->integer;
    s = rep->element[1]->integer;
    since = rep->element[2]->integer;
    started = rep->element[3]->integer;
    freeReplyObject(rep);
    if (o < MG_CLAIM_NEW || o > MG_CLAIM_LOST || s < 0 || s > c->uses ||
        (ep == NULL && o == MG_CLAIM_LOST) || started < 0 || started > MG_EPOCH_NEW_PROMOTED ||
        started == MG_EPOCH_NEW_SERVER) {
        *why = "redis: the claim script answered out of range";
        return MG_STORE_ERROR;
    }
    if (ep) {
        ep->since = since;
        ep->started = (int)started;
        ep->durable = seen.durable;
    }
    *out = (mg_claim_outcome_t)o;
    *slot = (int)s;
    return MG_STORE_OK;
}

/* The epoch record for mgctl store check|init. A script, as the claim's:
 * it reads (and writes) the record with the run id of the connection it
 * runs on. Reading renews nothing: the next claim does. */
static const char EPOCH_LUA[] =
    "local e = redis.call('GET', KEYS[1])\n"
    "if ARGV[1] == 'force' or (ARGV[1] == 'init' and not e and ARGV[2] ~= '-') then\n"
    "  redis.call('SET', KEYS[1], '0 ' .. ARGV[2] .. ' ' .. ARGV[3])\n"
    /* a promoted process: the record is of this tenure (the claim script) */
    "  local i = redis.pcall('INFO', 'replication')\n"
    "  local second = type(i) == 'string' and string.match(i, "
    "'\\nsecond_repl_offset:(%-?%d+)\\r')\n"
    "  if second and second ~= '-1' then\n"
    "    redis.call('SET', KEYS[2], ARGV[2] .. ' ' .. (string.match(i, "
    "'\\nmaster_replid:(%x+)\\r') or '-'))\n"
    "  end\n"
    "end\n"
    "return e or false\n";

/* Whether the store holds any key under the prefix: 1, 0, or -1 with
 * *why. SCAN from here, a batch at a time, so a large keyspace does not
 * block the server the way one script walking it would. */
static int any_key(mg_store_t *st, apr_pool_t *p, const char **why)
{
    const char *cursor = "0";
    const char *argv[6] = {"SCAN",  NULL,  "MATCH", apr_pstrcat(p, st->prefix, "*", NULL),
                           "COUNT", "1000"};

    do {
        redisReply *rep;
        int found;

        argv[1] = cursor;
        if ((rep = run(st, p, why, 6, argv)) == NULL)
            return -1;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY) {
            garbage(st, rep, p, why);
            return -1;
        }
        cursor = apr_pstrmemdup(p, rep->element[0]->str, rep->element[0]->len);
        found = rep->element[1]->elements > 0;
        freeReplyObject(rep);
        if (found)
            return 1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static mg_store_status_t r_epoch(mg_store_t *st, int op, mg_store_epoch_info_t *out, apr_pool_t *p,
                                 const char **why)
{
    redis_impl_t *r = st->impl;
    int any = op == MG_EPOCH_INIT ? any_key(st, p, why) : 1;
    const char *argv[8] = {"EVAL",
                           EPOCH_LUA,
                           "2",
                           mg_store_epoch_key(p, st),
                           mg_store_tenure_key(p, st),
                           op == MG_EPOCH_FORCE              ? "force"
                           : op == MG_EPOCH_INIT && any == 1 ? "init"
                                                             : "read",
                           "-",
                           "0"};
    redis_conn_t seen;
    redisReply *rep;
    char *rec, *sp1, *sp2;

    if (any < 0)
        return MG_STORE_ERROR;
    /* mgctl: a refused INFO is said (the run id "-"), not an error */
    rep = run_ex(st, p, why, 8, argv, 6, 1, &seen);
    if (rep == NULL)
        return MG_STORE_ERROR;
    out->server = apr_psprintf(p, "redis %s:%d", r->url->host[0], r->url->port[0]);
    out->durable = seen.durable;
    out->replica = seen.replica;
    out->setting = apr_pstrdup(p, seen.setting);
    out->empty = any == 0;
    out->unidentified = strcmp(seen.runid, "-") == 0;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return MG_STORE_OK;
    }
    if (rep->type != REDIS_REPLY_STRING || rep->len >= 128)
        return garbage(st, rep, p, why);
    rec = apr_pstrmemdup(p, rep->str, rep->len);
    freeReplyObject(rep);
    sp1 = strchr(rec, ' ');
    sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == rec ||
        strspn(rec, "0123456789") != (size_t)(sp1 - rec)) {
        *why = apr_psprintf(p, "redis %s:%d: the epoch record is not SINCE RUNID DURABLE: %s",
                            r->url->host[0], r->url->port[0], mg_store_said(p, rec, 60));
        return MG_STORE_ERROR;
    }
    *sp1 = *sp2 = '\0';
    out->found = 1;
    out->since = apr_atoi64(rec);
    out->same_process = strcmp(sp1 + 1, seen.runid) == 0;
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

static const mg_store_ops_t redis_ops = {"redis",     r_add,   r_get, r_del, r_claim,
                                         r_retention, r_epoch, NULL,  r_set, NULL};

mg_status_t mg_store_redis_open(apr_pool_t *p, const mg_store_url_t *u, mg_store_t **out,
                                const char **why)
{
    mg_store_t *st = apr_pcalloc(p, sizeof(*st));
    redis_impl_t *r = apr_pcalloc(p, sizeof(*r));
    redisReader *rd;

    if (apr_thread_mutex_create(&r->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS) {
        *why = "cannot create a mutex";
        return MG_EINTERNAL;
    }
    rd = redisReaderCreate();
    if (rd == NULL) {
        *why = "out of memory";
        return MG_EINTERNAL;
    }
    r->base = r->fn = *rd->fn;
    r->fn.createArray = create_array;
    redisReaderFree(rd);
    r->url = u;
    apr_pool_cleanup_register(p, r, close_all, apr_pool_cleanup_null);
    st->ops = &redis_ops;
    st->impl = r;
    st->prefix = u->prefix;
    st->display = u->display;
    st->timeout = u->timeout;
    *out = st;
    return MG_OK;
}
