/* mg_store_memcache.c — the memcached engine of the claim store (mg_store.h).
 *
 * memcached's `add` is an atomic add-if-absent on its server, which is all
 * the slot walk of mg_store_claim needs. This file speaks the three text
 * protocol commands it uses (add, get, delete) over APR sockets rather
 * than through APR-util's apr_memcache, for two reasons that matter to a
 * limit that must hold: apr_memcache has no I/O timeout (a memcached that
 * stops answering would hold the request forever, and the brief is to fail
 * closed within the URL's timeout), and when a server fails it silently
 * moves that server's keys to another one, where a slot would be free
 * again — a second claim of a one-time link. Here a key belongs to one
 * server (FNV-1a of the key, modulo the server list, which must be the
 * same list in the same order on every Apache server), and a server that
 * does not answer is an error: the claim fails closed.
 *
 * Connections wait in one stack per server under a thread mutex; each has
 * its own unmanaged pool (sockets come and go for as long as the child
 * lives). A connection that saw an error is closed, never reused.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_network_io.h>
#include <apr_poll.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "mg_store.h"

#define IDLE_MAX 16
#define REPLY_MAX 512 /* our replies: a status line or one short value */

typedef struct mc_conn {
    apr_pool_t *pool;
    apr_socket_t *sock;
} mc_conn_t;

typedef struct mc_server {
    const char *host;
    int port;
    const char *epoch_key;    /* epoch_key_for: of this list and this place in it */
    apr_thread_mutex_t *lock; /* guards idle, nidle, gate */
    mc_conn_t *idle[IDLE_MAX];
    int nidle;
    mg_store_gate_t gate;
} mc_server_t;

typedef struct mc_impl {
    const mg_store_url_t *url;
    mc_server_t *servers;
    int n;
} mc_impl_t;

static void conn_close(mc_conn_t *c)
{
    apr_socket_close(c->sock);
    apr_pool_destroy(c->pool);
}

static apr_status_t close_all(void *data)
{
    mc_impl_t *m = data;
    int i;
    for (i = 0; i < m->n; i++)
        while (m->servers[i].nidle > 0)
            conn_close(m->servers[i].idle[--m->servers[i].nidle]);
    return APR_SUCCESS;
}

/* Wait for the socket at most until the deadline: 0, or -1 when it passed. */
static int wait_until(apr_socket_t *sock, apr_time_t deadline)
{
    apr_interval_time_t left = deadline - mg_store_clock();

    if (left <= 0)
        return -1;
    apr_socket_timeout_set(sock, left);
    return 0;
}

/* Whether nothing came on an idle connection since its last answer: a
 * server that closed it, or sent what no command asked for (an answer
 * read now would be taken as the next command's), leaves it unusable. */
static int conn_quiet(mc_conn_t *c)
{
    apr_pollfd_t pfd;
    apr_int32_t n = 0;

    memset(&pfd, 0, sizeof(pfd));
    pfd.p = c->pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLIN;
    pfd.desc.s = c->sock;
    return apr_poll(&pfd, 1, &n, 0) == APR_TIMEUP && n == 0;
}

/* An idle connection (*reused = 1) unless `fresh`, else a new one,
 * connected by the deadline; NULL with *why, and *slow when the server did
 * not answer in time. */
static mc_conn_t *conn_get(mc_server_t *s, int fresh, int *reused, apr_time_t deadline, int *slow,
                           apr_pool_t *p, const char **why)
{
    apr_pool_t *cp;
    apr_sockaddr_t *sa;
    mc_conn_t *c = NULL;
    apr_status_t rv;
    char err[120];

    apr_thread_mutex_lock(s->lock);
    if (s->nidle > 0 && !fresh)
        c = s->idle[--s->nidle];
    apr_thread_mutex_unlock(s->lock);
    if (c != NULL && !conn_quiet(c)) {
        conn_close(c);
        c = NULL;
    }
    *reused = c != NULL;
    if (c != NULL)
        return c;
    if (apr_pool_create_unmanaged_ex(&cp, NULL, NULL) != APR_SUCCESS) {
        *why = "out of memory";
        return NULL;
    }
    c = apr_pcalloc(cp, sizeof(*c));
    c->pool = cp;
    rv = apr_sockaddr_info_get(&sa, s->host, APR_UNSPEC, (apr_port_t)s->port, 0, cp);
    if (rv == APR_SUCCESS)
        rv = apr_socket_create(&c->sock, sa->family, SOCK_STREAM, APR_PROTO_TCP, cp);
    if (rv == APR_SUCCESS) {
        apr_socket_opt_set(c->sock, APR_TCP_NODELAY, 1);
        rv = wait_until(c->sock, deadline) == 0 ? apr_socket_connect(c->sock, sa) : APR_TIMEUP;
        if (rv != APR_SUCCESS)
            apr_socket_close(c->sock);
    }
    if (rv != APR_SUCCESS) {
        *slow = APR_STATUS_IS_TIMEUP(rv) || APR_STATUS_IS_EAGAIN(rv) || APR_STATUS_IS_ETIMEDOUT(rv);
        *why = apr_psprintf(p, "cannot connect to memcached %s:%d (%s)", s->host, s->port,
                            apr_strerror(rv, err, sizeof(err)));
        apr_pool_destroy(cp);
        return NULL;
    }
    return c;
}

static void conn_put(mc_server_t *s, mc_conn_t *c)
{
    apr_thread_mutex_lock(s->lock);
    if (s->nidle < IDLE_MAX) {
        s->idle[s->nidle++] = c;
        c = NULL;
    }
    apr_thread_mutex_unlock(s->lock);
    if (c != NULL)
        conn_close(c);
}

/* FNV-1a: cheap, stable across builds and hosts */
static mc_server_t *server_for(mc_impl_t *m, const char *key)
{
    apr_uint32_t h = 2166136261u;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return &m->servers[h % (apr_uint32_t)m->n];
}

enum { REPLY_LINE, REPLY_GET, REPLY_STATS };

static int reply_complete(const char *buf, apr_size_t len, int kind)
{
    if (len < 2 || buf[len - 2] != '\r' || buf[len - 1] != '\n')
        return 0;
    if (kind == REPLY_GET && strncmp(buf, "VALUE ", 6) == 0)
        return len >= 7 && memcmp(buf + len - 7, "\r\nEND\r\n", 7) == 0;
    if (kind == REPLY_STATS && strncmp(buf, "STAT ", 5) == 0)
        return len >= 7 && memcmp(buf + len - 7, "\r\nEND\r\n", 7) == 0;
    return 1; /* one status line: END, STORED, an error... */
}

/* Send `req`, read the whole reply into buf (NUL-terminated). An idle
 * connection that memcached (or its restart) closed shows as EOF or a
 * reset before any byte of the reply: tried again once on a new
 * connection, which is safe for our commands (an add that did run finds
 * its own value, get and delete are idempotent). A timeout is never
 * retried. The URL's timeout bounds the whole exchange (connecting,
 * sending, the complete reply, the retry), not each read: a server that
 * drips its reply a byte at a time, each within the timeout, would
 * otherwise hold the request for `size` reads. */
static mg_store_status_t exchange_conn(mc_impl_t *m, mc_server_t *s, const char *req, int kind,
                                       char *buf, apr_size_t size, int *slow, apr_pool_t *p,
                                       const char **why)
{
    mc_conn_t *c;
    apr_size_t len = strlen(req), off, got;
    apr_status_t rv;
    int fresh = 0, reused;
    char err[120];
    apr_time_t deadline = mg_store_clock() + m->url->timeout;

again:
    off = got = 0;
    rv = APR_SUCCESS;
    buf[0] = '\0';
    c = conn_get(s, fresh, &reused, deadline, slow, p, why);
    if (c == NULL)
        return MG_STORE_ERROR;
    while (off < len && rv == APR_SUCCESS) {
        apr_size_t n = len - off;
        if (wait_until(c->sock, deadline) != 0) {
            rv = APR_TIMEUP;
            break;
        }
        rv = apr_socket_send(c->sock, req + off, &n);
        off += n;
    }
    while (rv == APR_SUCCESS && !reply_complete(buf, got, kind)) {
        apr_size_t n = size - 1 - got;
        if (n == 0) {
            *why = apr_psprintf(p, "memcached %s:%d: an over-long reply", s->host, s->port);
            conn_close(c);
            return MG_STORE_ERROR;
        }
        if (wait_until(c->sock, deadline) != 0) {
            rv = APR_TIMEUP;
            break;
        }
        rv = apr_socket_recv(c->sock, buf + got, &n);
        got += n;
        buf[got] = '\0';
        if (rv == APR_EOF && n > 0)
            rv = APR_SUCCESS;
    }
    if (rv != APR_SUCCESS && reused && got == 0 &&
        (rv == APR_EOF || APR_STATUS_IS_ECONNRESET(rv) || APR_STATUS_IS_EPIPE(rv))) {
        conn_close(c);
        fresh = 1;
        goto again;
    }
    if (rv != APR_SUCCESS) {
        *slow = APR_STATUS_IS_TIMEUP(rv) || APR_STATUS_IS_EAGAIN(rv);
        *why = apr_psprintf(p, "memcached %s:%d: %s", s->host, s->port,
                            *slow ? "no answer within the timeout"
                                  : apr_strerror(rv, err, sizeof(err)));
        conn_close(c);
        return MG_STORE_ERROR;
    }
    buf[got] = '\0';
    conn_put(s, c);
    return MG_STORE_OK;
}

/* exchange_conn through the server's gate (mg_store_gate_t). */
static mg_store_status_t exchange_on(mc_impl_t *m, mc_server_t *s, const char *req, int kind,
                                     char *buf, apr_size_t size, apr_pool_t *p, const char **why)
{
    mg_store_gate_pass_t pass;
    int slow = 0;
    mg_store_status_t rv;

    if (!mg_store_gate_enter(&s->gate, s->lock, &pass)) {
        *why = apr_psprintf(p, "memcached %s:%d: %s", s->host, s->port, MG_STORE_GATE_WHY);
        return MG_STORE_ERROR;
    }
    rv = exchange_conn(m, s, req, kind, buf, size, &slow, p, why);
    mg_store_gate_leave(&s->gate, s->lock, &pass, m->url->timeout, rv != MG_STORE_OK, slow);
    return rv;
}

/* A command about `key`, on the server that owns it; replies fit REPLY_MAX. */
static mg_store_status_t exchange(mc_impl_t *m, const char *key, const char *req, int is_get,
                                  char *buf, apr_pool_t *p, const char **why)
{
    return exchange_on(m, server_for(m, key), req, is_get ? REPLY_GET : REPLY_LINE, buf, REPLY_MAX,
                       p, why);
}

static mg_store_status_t garbage(mc_server_t *s, const char *buf, apr_pool_t *p, const char **why)
{
    /* the server's words go into a log line and a terminal: one line, printable */
    *why = apr_psprintf(p, "memcached %s:%d gave an unexpected answer: %s", s->host, s->port,
                        mg_store_said(p, buf, 60));
    return MG_STORE_ERROR;
}

static int key_ok(const char *key)
{
    size_t n = strlen(key);
    return n > 0 && n <= MG_STORE_KEY_MAX && strcspn(key, " \t\r\n") == n;
}

/* memcached reads an exptime over 30 days as a Unix time in a signed 32-bit
 * field: a later time (2038-01-19 03:14:07 UTC on, or one wrapped past 2106
 * in 32 bits) is in the past to it and the record is gone at once — every
 * address would claim a "free" one-time slot, and a revocation would revoke
 * nothing. Such a record is kept without an expiry instead: longer than it
 * needs, never shorter (`mgctl uses reset` removes it). */
long mg_store_mc_exptime(apr_int64_t ttl, apr_int64_t now)
{
    if (ttl <= 0)
        return 0;
    if (ttl <= 2592000)
        return (long)ttl;
    return now + ttl > 2147483647 ? 0 : (long)(now + ttl);
}

static mg_store_status_t add_on(mc_impl_t *m, mc_server_t *s, const char *key, const char *val,
                                apr_int64_t ttl, apr_pool_t *p, const char **why)
{
    char buf[REPLY_MAX];
    size_t vlen = strlen(val);

    if (!key_ok(key) || vlen >= MG_STORE_VAL_MAX) {
        *why = "a key or value memcached cannot hold";
        return MG_STORE_ERROR;
    }
    if (exchange_on(m, s,
                    apr_psprintf(p, "add %s 0 %ld %" APR_SIZE_T_FMT "\r\n%s\r\n", key,
                                 mg_store_mc_exptime(ttl, apr_time_sec(apr_time_now())), vlen, val),
                    REPLY_LINE, buf, REPLY_MAX, p, why) != MG_STORE_OK)
        return MG_STORE_ERROR;
    if (strcmp(buf, "STORED\r\n") == 0)
        return MG_STORE_OK;
    if (strcmp(buf, "NOT_STORED\r\n") == 0)
        return MG_STORE_EXISTS;
    if (strcmp(buf, "SERVER_ERROR out of memory storing object\r\n") == 0) {
        /* full, under -M (it refuses rather than evicts, which is what
         * keeps a one-time link exact); memcached allocates before it looks
         * for the key, so this says nothing about whether the key exists */
        *why = apr_psprintf(p,
                            "memcached %s:%d is full (SERVER_ERROR out of memory storing "
                            "object): no new use can be recorded",
                            s->host, s->port);
        return MG_STORE_FULL;
    }
    return garbage(s, buf, p, why);
}

static mg_store_status_t mc_add(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                                apr_pool_t *p, const char **why)
{
    mc_impl_t *m = st->impl;
    return add_on(m, server_for(m, key), key, val, ttl, p, why);
}

/* Not memcached's `set`: one that cannot allocate its item (-M, full)
 * deletes the old one (memcached does so lest stale data persist), which
 * would drop a revocation written before. `add`, then `touch` the existing
 * item's expiry (a full memcached refuses the `add` before it looks at the
 * key; `touch` allocates nothing), changes neither its value nor its
 * presence; an item deleted in between (`revoke --undo`) is added again. */
static mg_store_status_t mc_set(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                                apr_pool_t *p, const char **why)
{
    mc_impl_t *m = st->impl;
    mc_server_t *s = server_for(m, key);
    char buf[REPLY_MAX];

    for (int tries = 0; tries < 3; tries++) {
        const char *added = NULL;
        mg_store_status_t rv = add_on(m, s, key, val, ttl, p, &added);
        if (rv == MG_STORE_OK || rv == MG_STORE_ERROR) {
            *why = added;
            return rv;
        }
        if (exchange_on(m, s,
                        apr_psprintf(p, "touch %s %ld\r\n", key,
                                     mg_store_mc_exptime(ttl, apr_time_sec(apr_time_now()))),
                        REPLY_LINE, buf, REPLY_MAX, p, why) != MG_STORE_OK)
            return MG_STORE_ERROR;
        if (strcmp(buf, "TOUCHED\r\n") == 0)
            return MG_STORE_OK;
        if (strcmp(buf, "NOT_FOUND\r\n") != 0)
            return garbage(s, buf, p, why);
        if (rv == MG_STORE_FULL) { /* absent, and no room to add it */
            *why = apr_psprintf(p,
                                "memcached %s:%d is full (SERVER_ERROR out of memory storing "
                                "object): the revocation was not written",
                                s->host, s->port);
            return rv;
        }
    }
    *why = apr_psprintf(
        p, "memcached %s:%d: %s was deleted each time it was found (revoke --undo at once?)",
        s->host, s->port, key);
    return MG_STORE_ERROR;
}

static mg_store_status_t get_on(mc_impl_t *m, mc_server_t *s, const char *key, char **val,
                                apr_pool_t *p, const char **why)
{
    char buf[REPLY_MAX], *line_end, *sp;
    apr_size_t klen = strlen(key);
    long n;

    if (!key_ok(key)) {
        *why = "a key memcached cannot hold";
        return MG_STORE_ERROR;
    }
    if (exchange_on(m, s, apr_pstrcat(p, "get ", key, "\r\n", NULL), REPLY_GET, buf, REPLY_MAX, p,
                    why) != MG_STORE_OK)
        return MG_STORE_ERROR;
    if (strcmp(buf, "END\r\n") == 0)
        return MG_STORE_NOTFOUND;
    /* VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n */
    if (strncmp(buf, "VALUE ", 6) != 0 || strncmp(buf + 6, key, klen) != 0 || buf[6 + klen] != ' ')
        return garbage(s, buf, p, why);
    line_end = strstr(buf, "\r\n");
    sp = strrchr(buf + 6 + klen, ' ');
    if (line_end == NULL || sp == NULL || sp > line_end)
        return garbage(s, buf, p, why);
    n = strtol(sp + 1, NULL, 10);
    /* lengths compared, not pointers past the buffer (undefined in C) */
    if (n < 0 || n >= MG_STORE_VAL_MAX || strlen(line_end) != (size_t)n + 9 ||
        memcmp(line_end + 2 + n, "\r\nEND\r\n", 7) != 0)
        return garbage(s, buf, p, why);
    *val = apr_pstrmemdup(p, line_end + 2, (apr_size_t)n);
    return MG_STORE_OK;
}

static mg_store_status_t mc_get(mg_store_t *st, const char *key, char **val, apr_pool_t *p,
                                const char **why)
{
    mc_impl_t *m = st->impl;
    return get_on(m, server_for(m, key), key, val, p, why);
}

/* One `get` of several keys on one server: the keys of `keys` (n of them)
 * that idx[0..k) names, all held by s. memcached answers with a VALUE block
 * for each key that has a value, in the order asked, then END. */
static mg_store_status_t get_many_on(mc_impl_t *m, mc_server_t *s, const char *const *keys,
                                     const int *idx, int k, char **vals, apr_pool_t *p,
                                     const char **why)
{
    apr_size_t size = 8 + (apr_size_t)k * (MG_STORE_KEY_MAX + MG_STORE_VAL_MAX + 48);
    char *buf = apr_palloc(p, size), *b = buf, *req = "get";
    const char *stop;
    int next = 0;

    for (int j = 0; j < k; j++)
        req = apr_pstrcat(p, req, " ", keys[idx[j]], NULL);
    if (exchange_on(m, s, apr_pstrcat(p, req, "\r\n", NULL), REPLY_GET, buf, size, p, why) !=
        MG_STORE_OK)
        return MG_STORE_ERROR;
    /* VALUE <key> <flags> <bytes>\r\n<data>\r\n ... END\r\n */
    stop = buf + strlen(buf);
    while (strncmp(b, "VALUE ", 6) == 0) {
        char *line_end = strstr(b, "\r\n"), *sp = strchr(b + 6, ' '), *end;
        apr_size_t klen = sp ? (apr_size_t)(sp - (b + 6)) : 0;
        long n;

        if (line_end == NULL || sp == NULL || sp > line_end)
            return garbage(s, buf, p, why);
        while (next < k &&
               (strlen(keys[idx[next]]) != klen || strncmp(keys[idx[next]], b + 6, klen) != 0))
            next++;
        if (next == k) /* a key not asked, or not in the order asked */
            return garbage(s, buf, p, why);
        sp = strchr(sp + 1, ' ');
        if (sp == NULL || sp > line_end)
            return garbage(s, buf, p, why);
        n = strtol(sp + 1, &end, 10);
        if (end != line_end || n < 0 || n >= MG_STORE_VAL_MAX ||
            (size_t)(stop - line_end) < (size_t)n + 4 || memcmp(line_end + 2 + n, "\r\n", 2) != 0)
            return garbage(s, buf, p, why);
        vals[idx[next++]] = apr_pstrmemdup(p, line_end + 2, (apr_size_t)n);
        b = line_end + 2 + n + 2;
    }
    return strcmp(b, "END\r\n") == 0 ? MG_STORE_OK : garbage(s, buf, p, why);
}

/* get of n keys: one `get` per server that holds some of them. */
static mg_store_status_t mc_get_many(mg_store_t *st, int n, const char *const *keys, char **vals,
                                     apr_time_t until, apr_pool_t *p, const char **why)
{
    mc_impl_t *m = st->impl;
    int *idx = apr_palloc(p, sizeof(*idx) * (apr_size_t)n);

    for (int i = 0; i < n; i++) {
        vals[i] = NULL;
        if (!key_ok(keys[i])) {
            *why = "a key memcached cannot hold";
            return MG_STORE_ERROR;
        }
    }
    for (int si = 0, asked = 0; si < m->n; si++) {
        mc_server_t *s = &m->servers[si];
        int k = 0;

        for (int i = 0; i < n; i++)
            if (server_for(m, keys[i]) == s)
                idx[k++] = i;
        if (k == 0)
            continue;
        /* a get per server, each answered just in time, would hold the
         * claim a timeout per server past the walk's bound */
        if (until != 0 && mg_store_clock() > until) {
            *why = apr_psprintf(p,
                                "%s: no answer within the timeout to the claim as a whole (%d "
                                "times the timeout; the slots read from %d servers, not all)",
                                st->display, MG_STORE_WALK_FACTOR, asked);
            return MG_STORE_ERROR;
        }
        if (get_many_on(m, s, keys, idx, k, vals, p, why) != MG_STORE_OK)
            return MG_STORE_ERROR;
        asked++;
    }
    return MG_STORE_OK;
}

static mg_store_status_t mc_del(mg_store_t *st, const char *key, apr_pool_t *p, const char **why)
{
    mc_impl_t *m = st->impl;
    mc_server_t *s = server_for(m, key);
    char buf[REPLY_MAX];

    if (!key_ok(key)) {
        *why = "a key memcached cannot hold";
        return MG_STORE_ERROR;
    }
    if (exchange(m, key, apr_pstrcat(p, "delete ", key, "\r\n", NULL), 0, buf, p, why) !=
        MG_STORE_OK)
        return MG_STORE_ERROR;
    if (strcmp(buf, "DELETED\r\n") == 0)
        return MG_STORE_OK;
    if (strcmp(buf, "NOT_FOUND\r\n") == 0)
        return MG_STORE_NOTFOUND;
    return garbage(s, buf, p, why);
}

/* ---- retention: does this memcached drop live records when full? ---- */

#define STATS_MAX 16384 /* `stats settings` is about 2 KB */

int mg_store_memcache_settings_retention(apr_pool_t *p, const char *stats, mg_store_retention_t *r,
                                         const char **why)
{
    size_t n = strlen(stats);
    const char *l, *v;

    /* only a whole STAT...END is an answer, and memcached's bare ERROR (a
     * command it does not know) a refusal of the question; ERROR Too many
     * open connections, SERVER_ERROR... say nothing about eviction */
    if (strcmp(stats, "ERROR\r\n") == 0) {
        r->keeps = MG_STORE_UNSAID;
        r->setting = "stats settings: ERROR (an unknown command)";
        r->fix = "make sure it runs with -M (ask whoever runs it)";
        return 1;
    }
    if (strncmp(stats, "STAT ", 5) != 0 || n < 7 || strcmp(stats + n - 7, "\r\nEND\r\n") != 0) {
        *why = apr_psprintf(p, "stats settings: not an answer: '%s'", mg_store_said(p, stats, 60));
        return 0;
    }
    for (l = stats; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, "STAT evictions ", 15) != 0)
            continue;
        v = mg_store_said(p, l + 15, 20);
        if (strcmp(v, "off") == 0) {
            r->keeps = MG_STORE_KEEPS;
            r->setting = "evictions off";
            r->fix = NULL;
            return 1;
        }
        r->keeps = MG_STORE_EVICTS;
        r->setting = apr_psprintf(p, "evictions %s", v);
        r->fix = "start memcached with -M (--disable-evictions): when full it then refuses new "
                 "records (those links are refused, 500) instead of dropping live ones; size -m "
                 "for the links in flight";
        return 1;
    }
    r->keeps = MG_STORE_UNSAID;
    r->setting = "stats settings has no 'evictions' line";
    r->fix = "make sure it runs with -M (ask whoever runs it)";
    return 1;
}

static mg_store_status_t mc_retention(mg_store_t *st, apr_array_header_t *out, apr_pool_t *p,
                                      const char **why)
{
    mc_impl_t *m = st->impl;
    char *buf = apr_palloc(p, STATS_MAX);

    for (int i = 0; i < m->n; i++) {
        mc_server_t *s = &m->servers[i];
        mg_store_retention_t *r = apr_array_push(out);
        memset(r, 0, sizeof(*r));
        r->server = apr_psprintf(p, "memcached %s:%d", s->host, s->port);
        if (exchange_on(m, s, "stats settings\r\n", REPLY_STATS, buf, STATS_MAX, p, why) !=
            MG_STORE_OK)
            return MG_STORE_ERROR;
        if (!mg_store_memcache_settings_retention(p, buf, r, why)) {
            *why = apr_psprintf(p, "memcached %s:%d: %s", s->host, s->port, *why);
            return MG_STORE_ERROR;
        }
    }
    return MG_STORE_OK;
}

/* ---- the epoch: one record per server (mg_store.h, mg_store.c) ---- */

/* A STAT line's value in a `stats` reply, as a number >= 0, or -1. */
static apr_int64_t stat_number(const char *stats, const char *name)
{
    size_t n = strlen(name);

    for (const char *l = stats; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        const char *v = l + 5 + n + 1;
        size_t d;
        if (strncmp(l, "STAT ", 5) != 0 || strncmp(l + 5, name, n) != 0 || l[5 + n] != ' ')
            continue;
        d = strspn(v, "0123456789");
        return d >= 1 && d <= 18 && v[d] == '\r' ? apr_atoi64(v) : -1;
    }
    return -1;
}

/* PREFIX"epoch" on the server that holds `key`: its value is SINCE, the
 * Unix second from which that server's records are complete. memcached
 * keeps nothing across a restart and flush_all empties it, the record
 * included: no record is a loss (or no claim yet), and a new epoch is added
 * (add: the claims racing to start it agree on the one that landed), dated
 * by the later of the caller's clock and memcached's own (`stats` time),
 * so a caller whose clock is behind cannot date it before the loss. */
static mg_store_status_t mc_key_epoch(mg_store_t *st, const char *key, mg_store_epoch_t *ep,
                                      apr_pool_t *p, const char **why)
{
    mc_impl_t *m = st->impl;
    mc_server_t *s = server_for(m, key);
    const char *ekey = s->epoch_key;
    char *val, *stats;
    apr_int64_t since;

    ep->server = apr_psprintf(p, "%s:%d", s->host, s->port);
    ep->started = 0;
    for (int added = 0;; added = 1) {
        mg_store_status_t rv = get_on(m, s, ekey, &val, p, why);
        if (rv == MG_STORE_OK) {
            size_t d = strspn(val, "0123456789");
            if (d < 1 || d > 18 || val[d] != '\0') {
                *why = apr_psprintf(p, "memcached %s:%d: the epoch record is not SINCE: %s",
                                    s->host, s->port, mg_store_said(p, val, 40));
                return MG_STORE_ERROR;
            }
            ep->since = apr_atoi64(val);
            return MG_STORE_OK;
        }
        if (rv != MG_STORE_NOTFOUND)
            return MG_STORE_ERROR;
        if (added) {
            *why = apr_psprintf(p, "memcached %s:%d: its epoch record was added and is gone",
                                s->host, s->port);
            return MG_STORE_ERROR;
        }
        stats = apr_palloc(p, STATS_MAX);
        if (exchange_on(m, s, "stats\r\n", REPLY_STATS, stats, STATS_MAX, p, why) != MG_STORE_OK)
            return MG_STORE_ERROR;
        if ((since = stat_number(stats, "time")) < 0)
            return garbage(s, stats, p, why);
        if (ep->now > since)
            since = ep->now;
        rv = add_on(m, s, ekey, apr_psprintf(p, "%" APR_INT64_T_FMT, since), 0, p, why);
        if (rv == MG_STORE_OK) {
            ep->since = since;
            ep->started = MG_EPOCH_NEW_SERVER;
            return MG_STORE_OK;
        }
        if (rv != MG_STORE_EXISTS) /* full, or no answer: fail closed */
            return MG_STORE_ERROR;
        /* another claim started it first: read its */
    }
}

/* mgctl store check|init: every server's record. found: every server has
 * one (since: the latest); init adds "0" on each server without one, or
 * on none when one of them holds no item at all (*empty: a new server and
 * one that lost everything look alike); force sets "0" on every server. */
static mg_store_status_t mc_epoch(mg_store_t *st, int op, mg_store_epoch_info_t *out, apr_pool_t *p,
                                  const char **why)
{
    mc_impl_t *m = st->impl;
    char *stats = apr_palloc(p, STATS_MAX), **val = apr_pcalloc(p, sizeof(*val) * (size_t)m->n);
    char buf[REPLY_MAX];
    int missing = 0;

    out->found = 1;
    out->same_process = 1;
    out->setting = "memcached keeps nothing across a restart";
    for (int i = 0; i < m->n; i++) {
        mc_server_t *s = &m->servers[i];
        mg_store_status_t rv = get_on(m, s, s->epoch_key, &val[i], p, why);
        out->server = apr_psprintf(p, "%s%smemcached %s:%d", out->server ? out->server : "",
                                   out->server ? ", " : "", s->host, s->port);
        if (rv == MG_STORE_ERROR)
            return rv;
        if (rv == MG_STORE_NOTFOUND) {
            val[i] = NULL;
            out->found = 0;
            missing = 1;
            if (exchange_on(m, s, "stats\r\n", REPLY_STATS, stats, STATS_MAX, p, why) !=
                MG_STORE_OK)
                return MG_STORE_ERROR;
            if (stat_number(stats, "curr_items") < 0)
                return garbage(s, stats, p, why);
            if (stat_number(stats, "curr_items") == 0)
                out->empty = 1;
        } else if (strspn(val[i], "0123456789") != strlen(val[i]) || *val[i] == '\0') {
            *why = apr_psprintf(p, "memcached %s:%d: the epoch record is not SINCE: %s", s->host,
                                s->port, mg_store_said(p, val[i], 40));
            return MG_STORE_ERROR;
        } else if (apr_atoi64(val[i]) > out->since)
            out->since = apr_atoi64(val[i]);
    }
    if (op == MG_EPOCH_READ || (op == MG_EPOCH_INIT && (!missing || out->empty)))
        return MG_STORE_OK;
    for (int i = 0; i < m->n; i++) {
        mc_server_t *s = &m->servers[i];
        if (op == MG_EPOCH_INIT && val[i] != NULL)
            continue;
        if (exchange_on(m, s,
                        apr_psprintf(p, "%s %s 0 0 1\r\n0\r\n",
                                     op == MG_EPOCH_FORCE ? "set" : "add", s->epoch_key),
                        REPLY_LINE, buf, REPLY_MAX, p, why) != MG_STORE_OK)
            return MG_STORE_ERROR;
        /* NOT_STORED: a claim started this server's epoch meanwhile: kept */
        if (strcmp(buf, "STORED\r\n") != 0 && strcmp(buf, "NOT_STORED\r\n") != 0)
            return garbage(s, buf, p, why);
    }
    return MG_STORE_OK;
}

/* PREFIX"epoch:LIST:I": LIST is FNV-1a (64 bits) of the server list in its
 * order ("host:port," each, as written), I this server's place in it. A
 * slot's server is its key's hash modulo the list: when the list changes
 * (a server added, removed, moved), a slot key may now belong to a server
 * that never held it, whose own epoch could be older than the use made
 * elsewhere, and the free slot there would grant that use again. Keyed by
 * the list, no server has a record for the new one: each starts a new
 * epoch at its first claim, and the links in flight are refused as after
 * a loss. */
static const char *epoch_key_for(apr_pool_t *p, const mg_store_url_t *u, const char *prefix, int i)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);
    for (int k = 0; k < u->nservers; k++)
        for (const char *c = apr_psprintf(p, "%s:%d,", u->host[k], u->port[k]); *c; c++)
            h = (h ^ (unsigned char)*c) * APR_UINT64_C(1099511628211);
    return apr_psprintf(p, "%sepoch:%016" APR_UINT64_T_HEX_FMT ":%d", prefix, h, i);
}

static const mg_store_ops_t memcache_ops = {"memcache", mc_add,       mc_get,   mc_del,
                                            NULL,       mc_retention, mc_epoch, mc_key_epoch,
                                            mc_set,     mc_get_many};

mg_status_t mg_store_memcache_open(apr_pool_t *p, const mg_store_url_t *u, mg_store_t **out,
                                   const char **why)
{
    mg_store_t *st = apr_pcalloc(p, sizeof(*st));
    mc_impl_t *m = apr_pcalloc(p, sizeof(*m));
    int i;

    m->url = u;
    m->n = u->nservers;
    m->servers = apr_pcalloc(p, sizeof(*m->servers) * (apr_size_t)u->nservers);
    for (i = 0; i < u->nservers; i++) {
        m->servers[i].host = u->host[i];
        m->servers[i].port = u->port[i];
        m->servers[i].epoch_key = epoch_key_for(p, u, u->prefix, i);
        if (apr_thread_mutex_create(&m->servers[i].lock, APR_THREAD_MUTEX_DEFAULT, p) !=
            APR_SUCCESS) {
            *why = "cannot create a mutex";
            return MG_EINTERNAL;
        }
    }
    apr_pool_cleanup_register(p, m, close_all, apr_pool_cleanup_null);
    st->ops = &memcache_ops;
    st->impl = m;
    st->prefix = u->prefix;
    st->display = u->display;
    st->timeout = u->timeout;
    *out = st;
    return MG_OK;
}
