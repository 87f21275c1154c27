/* test_store.c — store URLs, the claim walk of mg_store_claim over an
 * in-memory engine (atomic add-if-absent, as memcached's add), its races
 * between threads, broken engines, and the real engines failing closed on a
 * closed port. The engines against real servers: tests/integration/
 * test_store_cluster.py. */
#include <stdio.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "mg_store.h"
#include "mg_test.h"

/* ---- URLs ---- */

START_TEST(test_url_redis_defaults_and_options)
{
    mg_store_url_t u;
    const char *why = NULL;

    ck_assert_int_eq(mg_store_url_parse(mg_test_pool, "redis://cache1", &u, &why), MG_OK);
    ck_assert_str_eq(u.scheme, "redis");
    ck_assert_int_eq(u.nservers, 1);
    ck_assert_str_eq(u.host[0], "cache1");
    ck_assert_int_eq(u.port[0], 6379);
    ck_assert_int_eq(u.db, 0);
    ck_assert(u.timeout == apr_time_from_msec(500));
    ck_assert_str_eq(u.prefix, "mg:");
    ck_assert_int_eq(u.revocation, 1);
    ck_assert_int_eq(u.evicting_refuse, 1); /* fail closed on a store that evicts */
    ck_assert_int_eq(u.lost_refuse, 1);     /* and on one that lost its records */

    ck_assert_int_eq(mg_store_url_parse(mg_test_pool,
                                        "redis://10.0.0.5:7000/3?timeout=250ms&prefix=site1:"
                                        "&revocation=off&evicting=warn&lost_records=warn",
                                        &u, &why),
                     0);
    ck_assert_int_eq(u.evicting_refuse, 0);
    ck_assert_int_eq(u.lost_refuse, 0);
    ck_assert_int_eq(u.port[0], 7000);
    ck_assert_int_eq(u.db, 3);
    ck_assert(u.timeout == apr_time_from_msec(250));
    ck_assert_str_eq(u.prefix, "site1:");
    ck_assert_int_eq(u.revocation, 0);
}
END_TEST

START_TEST(test_url_memcache_several_servers_and_ipv6)
{
    mg_store_url_t u;
    const char *why = NULL;

    ck_assert_int_eq(mg_store_url_parse(mg_test_pool,
                                        "memcache://a:11211,b,[2001:db8::1]:11300?timeout=2s", &u,
                                        &why),
                     0);
    ck_assert_int_eq(u.nservers, 3);
    ck_assert_str_eq(u.host[1], "b");
    ck_assert_int_eq(u.port[1], 11211);
    ck_assert_str_eq(u.host[2], "2001:db8::1");
    ck_assert_int_eq(u.port[2], 11300);
    ck_assert(u.timeout == apr_time_from_sec(2));
}
END_TEST

static const struct {
    const char *url, *why;
} bad_urls[] = {
    {"redis:/h", "starts with redis:// or memcache://"},
    {"memcached://h", "starts with redis:// or memcache://"},
    {"redis://", "no server"},
    {"redis://h:0", "is not HOST[:PORT]"},
    {"redis://h:65536", "is not HOST[:PORT]"},
    {"redis://h:6379x", "is not HOST[:PORT]"},
    {"redis://h_1:6379", "is not HOST[:PORT]"},
    {"redis://a,b", "takes one server"},
    {"redis://h/x", "the redis database is a number"},
    {"redis://user:pw@h", "no password in the URL"},
    {"memcache://h/0", "takes no /DB"},
    {"memcache://h?password_file=/etc/passwd", "has no password"},
    {"redis://h?timeout=0", "give 1ms to 30s"},
    {"redis://h?timeout=31s", "give 1ms to 30s"},
    {"redis://h?timeout=5m", "give 1ms to 30s"},
    {"redis://h?revocation=maybe", "on or off"},
    {"redis://h?evicting=allow", "evicting= must be refuse or warn"},
    {"redis://h?lost_records=allow", "lost_records= must be refuse or warn"},
    {"redis://h?prefix=a b", "prefix="},
    {"redis://h?timeout", "has no value"},
    {"redis://h?tls=on", "unknown option 'tls'"},
    {"redis://h?password_file=/nonexistent/mg-pw", "cannot be read"},
};

START_TEST(test_url_refused_with_a_sentence)
{
    mg_store_url_t u;
    const char *why = NULL;

    /* a password file that cannot be read is an I/O error, the rest bad input */
    mg_status_t want = strstr(bad_urls[_i].why, "cannot be read") ? MG_EIO : MG_EINVAL;
    ck_assert_msg(mg_store_url_parse(mg_test_pool, bad_urls[_i].url, &u, &why) == want,
                  "'%s' should be refused with status %d", bad_urls[_i].url, (int)want);
    ck_assert_msg(why != NULL && strstr(why, bad_urls[_i].why) != NULL, "'%s': got '%s'",
                  bad_urls[_i].url, why ? why : "(null)");
}
END_TEST

START_TEST(test_url_password_file_first_line)
{
    char path[] = "/tmp/mg-test-pw-XXXXXX";
    apr_file_t *f;
    mg_store_url_t u;
    const char *why = NULL;

    ck_assert_int_eq(
        apr_file_mktemp(&f, path,
                        APR_FOPEN_CREATE | APR_FOPEN_READ | APR_FOPEN_WRITE | APR_FOPEN_EXCL,
                        mg_test_pool),
        APR_SUCCESS);
    apr_file_puts("s3cret\nignored\n", f);
    apr_file_close(f);
    ck_assert_int_eq(
        mg_store_url_parse(mg_test_pool,
                           apr_pstrcat(mg_test_pool, "redis://h?password_file=", path, NULL), &u,
                           &why),
        0);
    ck_assert_str_eq(u.password, "s3cret");
    /* the URL as shown in messages never carries the password */
    ck_assert_ptr_null(strstr(u.display, "s3cret"));
    apr_file_remove(path, mg_test_pool);
}
END_TEST

/* ---- an in-memory engine: add is atomic under a mutex ---- */

typedef struct mem {
    apr_thread_mutex_t *lock;
    apr_hash_t *h;
    apr_pool_t *pool;
    int broken; /* 1: add says EXISTS, get says NOTFOUND; 2: add fails; 3: add says FULL */
    int restart_before_add; /* the next add of a slot finds the store restarted (emptied) */
    apr_interval_time_t
        slow;             /* each add and get takes this long (a store answering just in time) */
    const char *slow_key; /* and a get of this key takes slow_key_by */
    apr_interval_time_t slow_key_by;
} mem_t;

static mg_store_status_t mem_add(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                                 apr_pool_t *p, const char **why)
{
    mem_t *m = st->impl;
    mg_store_status_t rv = MG_STORE_OK;
    (void)ttl;
    (void)p;
    if (m->slow > 0)
        apr_sleep(m->slow);
    if (m->broken == 1)
        return MG_STORE_EXISTS;
    if (m->broken == 2) {
        *why = "down";
        return MG_STORE_ERROR;
    }
    if (m->broken == 3) {
        *why = "full";
        return MG_STORE_FULL;
    }
    apr_thread_mutex_lock(m->lock);
    if (m->restart_before_add && strstr(key, ":use:") != NULL) {
        m->restart_before_add = 0;
        apr_hash_clear(m->h);
    }
    if (apr_hash_get(m->h, key, APR_HASH_KEY_STRING) != NULL)
        rv = MG_STORE_EXISTS;
    else
        apr_hash_set(m->h, apr_pstrdup(m->pool, key), APR_HASH_KEY_STRING,
                     apr_pstrdup(m->pool, val));
    apr_thread_mutex_unlock(m->lock);
    return rv;
}

static mg_store_status_t mem_get(mg_store_t *st, const char *key, char **val, apr_pool_t *p,
                                 const char **why)
{
    mem_t *m = st->impl;
    const char *v;
    (void)why;
    if (m->slow > 0)
        apr_sleep(m->slow);
    if (m->slow_key != NULL && strcmp(key, m->slow_key) == 0)
        apr_sleep(m->slow_key_by);
    if (m->broken == 1)
        return MG_STORE_NOTFOUND;
    apr_thread_mutex_lock(m->lock);
    v = apr_hash_get(m->h, key, APR_HASH_KEY_STRING);
    if (v != NULL)
        *val = apr_pstrdup(p, v);
    apr_thread_mutex_unlock(m->lock);
    return v ? MG_STORE_OK : MG_STORE_NOTFOUND;
}

static mg_store_status_t mem_del(mg_store_t *st, const char *key, apr_pool_t *p, const char **why)
{
    mem_t *m = st->impl;
    (void)p;
    (void)why;
    apr_thread_mutex_lock(m->lock);
    apr_hash_set(m->h, key, APR_HASH_KEY_STRING, NULL);
    apr_thread_mutex_unlock(m->lock);
    return MG_STORE_OK;
}

/* memcached's multi-key get, one key after another (the walk only needs
 * each value as it was at some point during the call) */
static mg_store_status_t mem_get_many(mg_store_t *st, int n, const char *const *keys, char **vals,
                                      apr_time_t until, apr_pool_t *p, const char **why)
{
    (void)until;
    for (int i = 0; i < n; i++)
        if (mem_get(st, keys[i], &vals[i], p, why) == MG_STORE_NOTFOUND)
            vals[i] = NULL;
    return MG_STORE_OK;
}

static const mg_store_ops_t mem_ops = {"mem", mem_add, mem_get, mem_del, NULL,
                                       NULL,  NULL,    NULL,    NULL,    NULL};
static const mg_store_ops_t mem_many_ops = {"mem", mem_add, mem_get, mem_del, NULL,
                                            NULL,  NULL,    NULL,    NULL,    mem_get_many};

/* memcached's epoch, kept the same way (one record, added when missing) */
static mg_store_status_t mem_key_epoch(mg_store_t *st, const char *key, mg_store_epoch_t *ep,
                                       apr_pool_t *p, const char **why)
{
    char *v;
    (void)key;
    ep->server = "mem";
    ep->started = 0;
    if (mem_add(st, "mg:epoch", apr_psprintf(p, "%" APR_INT64_T_FMT, ep->now), 0, p, why) ==
        MG_STORE_OK) {
        ep->since = ep->now;
        ep->started = MG_EPOCH_NEW_SERVER;
        return MG_STORE_OK;
    }
    ck_assert_int_eq(mem_get(st, "mg:epoch", &v, p, why), MG_STORE_OK);
    ep->since = apr_atoi64(v);
    return MG_STORE_OK;
}

static const mg_store_ops_t mem_epoch_ops = {"mem", mem_add, mem_get,       mem_del, NULL,
                                             NULL,  NULL,    mem_key_epoch, NULL,    NULL};

static mg_store_t *mem_store(void)
{
    mg_store_t *st = apr_pcalloc(mg_test_pool, sizeof(*st));
    mem_t *m = apr_pcalloc(mg_test_pool, sizeof(*m));
    apr_pool_create(&m->pool, mg_test_pool);
    apr_thread_mutex_create(&m->lock, APR_THREAD_MUTEX_DEFAULT, mg_test_pool);
    m->h = apr_hash_make(m->pool);
    st->ops = &mem_ops;
    st->impl = m;
    st->prefix = "mg:";
    st->display = "mem";
    return st;
}

static mg_claim_outcome_t claim(mg_store_t *st, int uses, const char *addr, int peek, int *slot)
{
    mg_claim_t c = {"k1", "abc", uses, addr, 600, peek, 1, NULL};
    mg_claim_outcome_t out;
    const char *why = NULL;
    ck_assert_int_eq(mg_store_claim(st, &c, &out, slot, mg_test_pool, &why), MG_STORE_OK);
    return out;
}

/* A store answering each operation just within its timeout held a walk
 * over a used-up N-use link for 2N timeouts (memcached: add and get per
 * slot; a 100-use link at the default 500 ms: 100 s). The walk as a whole
 * stops at MG_STORE_WALK_FACTOR timeouts (red team 25b). */
/* A store where every slot of link c (c->uses of them) is another
 * address's; c->addr then a new address. */
static mg_store_t *used_up_store(mg_claim_t *c)
{
    mg_store_t *st = mem_store();
    mg_claim_outcome_t out;
    int slot;
    const char *why = NULL;

    for (int i = 0; i < c->uses; i++) {
        c->addr = apr_psprintf(mg_test_pool, "192.0.2.%d", i + 1);
        ck_assert_int_eq(mg_store_claim(st, c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
        ck_assert_int_eq(out, MG_CLAIM_NEW);
    }
    c->addr = "198.51.100.1";
    return st;
}

START_TEST(test_a_slot_walk_on_a_slow_store_stops_at_twice_the_timeout)
{
    mg_claim_t c = {"k1", "walk", 20, NULL, 600, 0, 0, NULL};
    mg_store_t *st = used_up_store(&c);
    mem_t *m = st->impl;
    mg_claim_outcome_t out;
    int slot;
    const char *why = NULL;

    st->timeout = apr_time_from_msec(10);
    m->slow = apr_time_from_msec(4); /* each in time; 40 of them: 160 ms */
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_ptr_nonnull(strstr(why, "to the claim as a whole"));
    m->slow = 0; /* the same walk in time: used up */
    st->timeout = apr_time_from_sec(10);
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_USED);
}
END_TEST

/* A claim on st (a 50 ms timeout) where the get of slow_key answers past
 * the walk's bound (150 ms): an error, the slots walked said ("k of N"). */
static void claim_stops_at_the_bound(mg_store_t *st, mg_claim_t *c, const char *slow_key,
                                     const char *walked)
{
    mem_t *m = st->impl;
    mg_claim_outcome_t out;
    int slot;
    const char *why = NULL;

    st->timeout = apr_time_from_msec(50);
    m->slow_key = slow_key;
    m->slow_key_by = apr_time_from_msec(150); /* past 2 x 50 ms */
    ck_assert_int_eq(mg_store_claim(st, c, &out, &slot, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_str_eq(why, apr_psprintf(mg_test_pool,
                                       "mem: no answer within the timeout to the claim as a whole "
                                       "(2 times the timeout; %s slots walked)",
                                       walked));
    m->slow_key = NULL;
}

/* The message of a walk stopped at its bound counts the slots it walked:
 * the get of slot 3 passes the bound, so slots 1 to 3 were walked and slot
 * 4 is not started. */
START_TEST(test_a_slot_walk_stopped_at_its_bound_says_how_many_slots_it_walked)
{
    mg_claim_t c = {"k1", "count", 6, NULL, 600, 0, 0, NULL};

    claim_stops_at_the_bound(used_up_store(&c), &c, "mg:use:k1:count:3", "3 of 6");
}
END_TEST

/* With the slots read at once (get_many), slot 1's add is started like any
 * other slot: not past the walk's bound. A revocation read that answers
 * past it leaves the link unclaimed. Planted: no check before slot 1's
 * add -> the address takes slot 1 (NEW). */
START_TEST(test_a_claim_past_its_bound_before_slot_one_takes_nothing)
{
    mg_store_t *st = mem_store();
    mg_claim_t c = {"k1", "late", 3, "192.0.2.1", 600, 0, 1, NULL};
    mg_claim_outcome_t out = MG_CLAIM_USED;
    int slot;
    const char *why = NULL;

    st->ops = &mem_many_ops;
    claim_stops_at_the_bound(st, &c, "mg:rev:late", "0 of 3");
    /* nothing was taken */
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_NEW);
    ck_assert_int_eq(slot, 1);
}
END_TEST

START_TEST(test_claim_n_addresses_win_and_an_owner_keeps_its_slot)
{
    mg_store_t *st = mem_store();
    int slot;
    char *v;
    const char *why;

    ck_assert_int_eq(claim(st, 3, "192.0.2.1", 0, &slot), MG_CLAIM_NEW);
    ck_assert_int_eq(slot, 1);
    ck_assert_int_eq(claim(st, 3, "192.0.2.1", 0, &slot), MG_CLAIM_OWNER);
    ck_assert_int_eq(slot, 1);
    ck_assert_int_eq(claim(st, 3, "192.0.2.2", 0, &slot), MG_CLAIM_NEW);
    ck_assert_int_eq(slot, 2);
    /* HEAD from a new address while a use is left: answered, nothing taken */
    ck_assert_int_eq(claim(st, 3, "192.0.2.9", 1, &slot), MG_CLAIM_FREE);
    ck_assert_int_eq(claim(st, 3, "2001:db8::3", 0, &slot), MG_CLAIM_NEW);
    ck_assert_int_eq(slot, 3);
    ck_assert_int_eq(claim(st, 3, "192.0.2.4", 0, &slot), MG_CLAIM_USED);
    ck_assert_int_eq(claim(st, 3, "192.0.2.9", 1, &slot), MG_CLAIM_USED);
    ck_assert_int_eq(claim(st, 3, "192.0.2.2", 1, &slot), MG_CLAIM_OWNER);
    ck_assert_int_eq(slot, 2);
    /* the layout: PREFIX use:KID:ID:SLOT = address */
    ck_assert_int_eq(st->ops->get(st, "mg:use:k1:abc:3", &v, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_str_eq(v, "2001:db8::3");
}
END_TEST

/* An engine with an epoch per server (memcached) is asked for it after
 * the add that decides a grant: a restart just before that add (the slot
 * of the use granted before it lost) is seen — the epoch read afterwards
 * is new — and the claim is LOST, not NEW. Asked before the add, the old
 * epoch would pass and the add on the emptied store would grant the link
 * again. */
START_TEST(test_a_restart_right_before_the_add_is_seen_by_the_epoch_read_after_it)
{
    mg_store_t *st = mem_store();
    mem_t *m = st->impl;
    mg_store_epoch_t ep = {.used_from = 100, .margin = 1, .refuse = 1, .now = 1000};
    mg_claim_t c = {"k1", "abc", 1, "192.0.2.1", 600, 0, 0, &ep};
    mg_claim_outcome_t out;
    const char *why = NULL;
    int slot;

    st->ops = &mem_epoch_ops;
    ck_assert_int_eq(mem_add(st, "mg:epoch", "0", 0, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_NEW);
    ck_assert_int_eq(ep.started, 0);
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_OWNER);
    /* another address, and the store restarts right before its add */
    m->restart_before_add = 1;
    c.addr = "192.0.2.2";
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_LOST);
    ck_assert_int_eq(ep.started, MG_EPOCH_NEW_SERVER);
    ck_assert_int_eq(ep.since, 1000);
    /* and again: it owns the slot now, and is still refused (an owner is
     * a grant: checked too) */
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_LOST);
    ck_assert_int_eq(ep.started, 0);
    /* a link that could only be used after the new epoch is granted */
    ep.used_from = 1001;
    c.id = "def";
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_NEW);
    /* one usable a second earlier, within the margin (clock skew) of the new epoch,
     * could have been used on a server whose clock is behind: refused */
    ep.used_from = 1000;
    c.id = "ghi";
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_LOST);
}
END_TEST

START_TEST(test_claim_of_a_revoked_id_takes_nothing)
{
    mg_store_t *st = mem_store();
    const char *why;
    int slot;
    char *v;

    ck_assert_int_eq(
        st->ops->add(st, mg_store_rev_key(mg_test_pool, st, "abc"), "1", 0, mg_test_pool, &why),
        MG_STORE_OK);
    ck_assert_int_eq(claim(st, 1, "192.0.2.1", 0, &slot), MG_CLAIM_REVOKED);
    ck_assert_int_eq(st->ops->get(st, "mg:use:k1:abc:1", &v, mg_test_pool, &why),
                     MG_STORE_NOTFOUND);
}
END_TEST

START_TEST(test_claim_on_a_broken_engine_is_an_error_not_a_loop)
{
    mg_store_t *st = mem_store();
    mg_claim_t c = {"k1", "abc", 2, "192.0.2.1", 600, 0, 0, NULL};
    mg_claim_outcome_t out;
    const char *why = NULL;
    int slot;

    ((mem_t *)st->impl)->broken = 1;
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_ptr_nonnull(strstr(why, "keeps answering"));
    ((mem_t *)st->impl)->broken = 2;
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_ERROR);
    c.uses = 0;
    ((mem_t *)st->impl)->broken = 0;
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_ERROR);
}
END_TEST

START_TEST(test_claim_on_a_full_store_keeps_owners_and_refuses_a_free_slot)
{
    mg_store_t *st = mem_store();
    mg_claim_t c = {"k1", "abc", 2, "192.0.2.1", 600, 0, 0, NULL};
    mg_claim_outcome_t out;
    const char *why = NULL;
    int slot;

    ck_assert_int_eq(claim(st, 2, "192.0.2.1", 0, &slot), MG_CLAIM_NEW);
    /* full (memcached -M allocates before it looks for the key): an owner
     * is still found by a get, a free slot cannot be taken: an error,
     * never a grant */
    ((mem_t *)st->impl)->broken = 3;
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_OWNER);
    ck_assert_int_eq(slot, 1);
    c.addr = "192.0.2.2";
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_str_eq(why, "full");
    ((mem_t *)st->impl)->broken = 0;
    ck_assert_int_eq(claim(st, 2, "192.0.2.2", 0, &slot), MG_CLAIM_NEW);
    ((mem_t *)st->impl)->broken = 3;
    c.addr = "192.0.2.3";
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_int_eq(out, MG_CLAIM_USED); /* every slot is someone else's */
}
END_TEST

/* ---- retention: what the servers' answers say about eviction ---- */

START_TEST(test_redis_info_says_whether_it_evicts)
{
    static const struct {
        const char *info;
        int found;
        mg_store_keep_t keeps;
        const char *setting;
    } cases[] = {
        {"# Memory\r\nused_memory:914664\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n"
         "maxmemory_policy:noeviction\r\n",
         1, MG_STORE_KEEPS, "maxmemory-policy noeviction, maxmemory 0"},
        {"maxmemory:2097152\r\nmaxmemory_policy:allkeys-lru\r\n", 1, MG_STORE_EVICTS,
         "maxmemory-policy allkeys-lru, maxmemory 2097152"},
        /* no limit yet: nothing is evicted today, one CONFIG SET away */
        {"maxmemory:0\r\nmaxmemory_policy:volatile-ttl\r\n", 1, MG_STORE_EVICTS,
         "maxmemory-policy volatile-ttl, maxmemory 0 (no limit yet)"},
        /* a policy a later Redis adds: only noeviction is known to keep */
        {"maxmemory_policy:allkeys-new\n", 1, MG_STORE_EVICTS, "maxmemory-policy allkeys-new"},
        {"maxmemory_policy_x:noeviction\r\nmaxmemory:1\r\n", 0, MG_STORE_KEEPS, NULL},
        {"# Memory\r\nused_memory:1\r\n", 0, MG_STORE_KEEPS, NULL},
        {"", 0, MG_STORE_KEEPS, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_store_retention_t r = {0};
        ck_assert_int_eq(mg_store_redis_info_retention(mg_test_pool, cases[i].info, &r),
                         cases[i].found);
        if (!cases[i].found)
            continue;
        ck_assert_int_eq(r.keeps, cases[i].keeps);
        ck_assert_str_eq(r.setting, cases[i].setting);
        ck_assert(r.keeps == MG_STORE_KEEPS ? r.fix == NULL
                                            : strstr(r.fix, "maxmemory-policy noeviction") != NULL);
    }
    /* CONFIG GET's answer, as the server wrote it, goes into a log line */
    mg_store_retention_t r = {0};
    mg_store_redis_policy_retention(mg_test_pool, "all\x1b[2Jkeys-lru", NULL, &r);
    ck_assert_int_eq(r.keeps, MG_STORE_EVICTS);
    ck_assert_str_eq(r.setting, "maxmemory-policy all?[2Jkeys-lru");
}
END_TEST

START_TEST(test_memcache_stats_settings_say_whether_it_evicts)
{
    mg_store_retention_t r = {0};
    const char *why = NULL;

    ck_assert(mg_store_memcache_settings_retention(
        mg_test_pool, "STAT maxbytes 2097152\r\nSTAT evictions off\r\nEND\r\n", &r, &why));
    ck_assert_int_eq(r.keeps, MG_STORE_KEEPS);
    ck_assert_ptr_null(r.fix);
    ck_assert(mg_store_memcache_settings_retention(
        mg_test_pool, "STAT maxbytes 2097152\r\nSTAT evictions on\r\nEND\r\n", &r, &why));
    ck_assert_int_eq(r.keeps, MG_STORE_EVICTS);
    ck_assert_str_eq(r.setting, "evictions on");
    ck_assert_ptr_nonnull(strstr(r.fix, "-M"));
    ck_assert(mg_store_memcache_settings_retention(mg_test_pool, "STAT evictionsx off\r\nEND\r\n",
                                                   &r, &why));
    ck_assert_int_eq(r.keeps, MG_STORE_UNSAID);
    /* a command it does not know: a refusal of the question */
    ck_assert(mg_store_memcache_settings_retention(mg_test_pool, "ERROR\r\n", &r, &why));
    ck_assert_int_eq(r.keeps, MG_STORE_UNSAID);
    ck_assert(mg_store_memcache_settings_retention(
        mg_test_pool, "STAT evictions o\x1b[2Jn\r\nEND\r\n", &r, &why));
    ck_assert_int_eq(r.keeps, MG_STORE_EVICTS);
    ck_assert_str_eq(r.setting, "evictions o?[2Jn");
}
END_TEST

/* A server that cannot answer now says nothing about eviction: not an
 * answer (the caller's ERROR, asked again), never UNSAID (which the module
 * keeps for the child's life and serves one-time links on) */
START_TEST(test_memcache_stats_settings_that_are_no_answer)
{
    static const char *const replies[] = {
        "ERROR Too many open connections\r\n",
        "SERVER_ERROR out of memory\r\n",
        "CLIENT_ERROR line too long\r\n",
        "STAT pid 7\r\nSTAT maxbytes 2097152\r\n", /* cut short */
        "END\r\n",
        "",
    };

    for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
        mg_store_retention_t r = {0};
        const char *why = NULL;
        ck_assert_msg(!mg_store_memcache_settings_retention(mg_test_pool, replies[i], &r, &why),
                      "reply %zu", i);
        ck_assert_ptr_nonnull(why);
    }
    mg_store_retention_t r = {0};
    const char *why = NULL;
    ck_assert(!mg_store_memcache_settings_retention(mg_test_pool, "SERVER_ERROR \x1b[2Jbusy\r\n",
                                                    &r, &why));
    ck_assert_str_eq(why, "stats settings: not an answer: 'SERVER_ERROR ?[2Jbusy'");
}
END_TEST

/* memcached holds an exptime over 30 days as a Unix time in a signed 32-bit
 * field: a record that must outlive 2038-01-19 03:14:07 UTC gets no expiry
 * rather than one memcached reads as past (the record gone at once). */
START_TEST(test_memcache_exptime_never_ends_a_record_early)
{
    const apr_int64_t now = 1796400000; /* 2026-12-04 */
    ck_assert_int_eq(mg_store_mc_exptime(0, now), 0);
    ck_assert_int_eq(mg_store_mc_exptime(1, now), 1);
    ck_assert_int_eq(mg_store_mc_exptime(2592000, now), 2592000);
    ck_assert_int_eq(mg_store_mc_exptime(2592001, now), now + 2592001);
    ck_assert_int_eq(mg_store_mc_exptime(2147483647 - now, now), 2147483647);
    ck_assert_int_eq(mg_store_mc_exptime(2147483648 - now, now), 0);   /* 2038 */
    ck_assert_int_eq(mg_store_mc_exptime(4449888000 - now, now), 0);   /* 2111: wrapped */
    ck_assert_int_eq(mg_store_mc_exptime(253402300800 - now, now), 0); /* 9999 */
}
END_TEST

/* Only appendonly yes + appendfsync always on a process that was never a
 * replica promoted and has no replica keeps every acknowledged write across
 * a restart (a replica promoted and restarted would read as durable). */
START_TEST(test_redis_durability_needs_aof_always_and_no_failover)
{
    static const struct {
        const char *info, *fsync;
        int durable;
        const char *setting;
    } cases[] = {
        {"aof_enabled:1\r\nconnected_slaves:0\r\nsecond_repl_offset:-1\r\n", "always", 1,
         "appendonly yes, appendfsync always"},
        {"aof_enabled:1\r\nconnected_slaves:0\r\n", "always", 1, "appendfsync always"},
        /* a primary with a replica: not durable, so a promoted replica that
         * restarts (second_repl_offset -1 again) starts a new epoch */
        {"aof_enabled:1\r\nconnected_slaves:1\r\nsecond_repl_offset:-1\r\n", "always", 0,
         "connected_slaves:1: a replica promoted after a failover lacks the writes"},
        {"role:master\r\nconnected_slaves:12\r\naof_enabled:1\r\n", "always", 0,
         "connected_slaves:12"},
        {"aof_enabled:1\r\nsecond_repl_offset:-1\r\n", "always", 0, "connected_slaves unknown"},
        {"aof_enabled:1\r\nconnected_slaves:0\x1b[2J\r\n", "always", 0, "connected_slaves:0?[2J"},
        {"aof_enabled:0\r\nsecond_repl_offset:-1\r\n", "always", 0, "appendonly no"},
        {"second_repl_offset:-1\r\n", "always", 0, "appendonly no"},
        {"aof_enabled:1\r\n", "everysec", 0, "appendfsync everysec: a restart after a crash"},
        {"aof_enabled:1\r\n", "no", 0, "appendfsync no"},
        {"aof_enabled:1\r\n", NULL, 0, "appendfsync unknown (CONFIG GET appendfsync refused)"},
        {"aof_enabled:1\r\nsecond_repl_offset:12345\r\n", "always", 0,
         "a replica promoted to primary"},
        {"aof_enabled:1\r\n", "always\x1b[2J", 0, "appendfsync always?[2J"},
    };
    const char *setting = NULL;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(
            mg_store_redis_durability(mg_test_pool, cases[i].info, cases[i].fsync, &setting),
            cases[i].durable);
        ck_assert_msg(strstr(setting, cases[i].setting) != NULL, "%zu: %s", i, setting);
    }
}
END_TEST

START_TEST(test_redis_refusal_is_told_from_an_error)
{
    static const struct {
        const char *err;
        int refusal;
    } cases[] = {
        {"NOPERM this user has no permissions to run the 'config|get' command", 1},
        {"NOPERM User default has no permissions to run the 'info' command", 1},
        {"ERR unknown command 'CONFIG', with args beginning with: 'GET' ", 1},
        {"ERR unknown command `INFO`, with args beginning with: `memory`, ", 1},
        {"ERR Unknown subcommand or wrong number of arguments for 'GET'. Try CONFIG HELP.", 1},
        {"ERR unknown subcommand 'GET'. Try CONFIG HELP.", 1},
        {"ERR max number of clients reached", 0},
        {"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
         0},
        {"LOADING Redis is loading the dataset in memory", 0},
        {"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", 0},
        {"NOAUTH Authentication required.", 0},
        {"ERR", 0},
        {"", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(mg_store_redis_refusal(cases[i].err) == cases[i].refusal, "%s", cases[i].err);
}
END_TEST

/* ---- races: 24 threads, 12 addresses (each twice), 3 uses ---- */

#define RACERS 24

typedef struct racer {
    mg_store_t *st;
    char addr[32];
    mg_claim_outcome_t out;
    int slot;
    mg_store_status_t rv;
} racer_t;

static volatile int go;

static void *APR_THREAD_FUNC race(apr_thread_t *t, void *data)
{
    racer_t *r = data;
    apr_pool_t *p;
    mg_claim_t c = {"k1", "race", 3, r->addr, 600, 0, 0, NULL};
    const char *why;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
        apr_thread_yield();
    r->rv = mg_store_claim(r->st, &c, &r->out, &r->slot, p, &why);
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(test_claim_race_gives_exactly_n_uses_and_one_slot_per_address)
{
    int round;

    for (round = 0; round < 20; round++) {
        mg_store_t *st = mem_store();
        apr_thread_t *th[RACERS];
        racer_t rs[RACERS];
        int i, j, winners = 0, slots[4] = {0};
        apr_status_t trv;

        if (_i == 1) /* the slots read at once first (memcached's multi-key get) */
            st->ops = &mem_many_ops;
        go = 0;
        for (i = 0; i < RACERS; i++) {
            rs[i].st = st;
            snprintf(rs[i].addr, sizeof(rs[i].addr), "198.51.100.%d", i / 2);
            ck_assert_int_eq(apr_thread_create(&th[i], NULL, race, &rs[i], mg_test_pool),
                             APR_SUCCESS);
        }
        __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
        for (i = 0; i < RACERS; i++)
            apr_thread_join(&trv, th[i]);
        for (i = 0; i < RACERS; i++) {
            ck_assert_int_eq(rs[i].rv, MG_STORE_OK);
            if (rs[i].out == MG_CLAIM_NEW) {
                winners++;
                ck_assert_int_eq(slots[rs[i].slot]++, 0); /* a slot is won once */
            }
            /* the twin of an address: both got a use or neither did, the same slot */
            j = i ^ 1;
            ck_assert_int_eq(rs[i].out == MG_CLAIM_USED, rs[j].out == MG_CLAIM_USED);
            if (rs[i].out != MG_CLAIM_USED)
                ck_assert_int_eq(rs[i].slot, rs[j].slot);
        }
        ck_assert_int_eq(winners, 3);
    }
}
END_TEST

/* ---- the real engines, nothing listening: refused fast, with a sentence ---- */

START_TEST(test_engines_fail_closed_when_nothing_listens)
{
    static const char *const urls[] = {"redis://127.0.0.1:1/0?timeout=200ms",
                                       "memcache://127.0.0.1:1?timeout=200ms"};
    mg_store_url_t u;
    mg_store_t *st;
    mg_claim_t c = {"k1", "abc", 1, "192.0.2.1", 60, 0, 1, NULL};
    mg_claim_outcome_t out;
    const char *why = NULL;
    int slot;

    ck_assert_int_eq(mg_store_url_parse(mg_test_pool, urls[_i], &u, &why), 0);
    ck_assert_int_eq(mg_store_open(mg_test_pool, &u, &st, &why), 0);
    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_msg(strstr(why, "cannot connect") != NULL, "%s", why);
}
END_TEST

/* ---- the memcached engine against a fake server's answers ---- */

/* One canned answer per connection: read the request, answer, close; or
 * the same answer to each of `answers` requests, then close. */
typedef struct fake {
    apr_socket_t *listen;
    const char *answer;
    int answers;
    apr_interval_time_t delay; /* before each answer */
    int conns;
} fake_t;

static void *APR_THREAD_FUNC fake_serve(apr_thread_t *t, void *data)
{
    fake_t *f = data;
    apr_pool_t *p;
    apr_socket_t *c;
    char buf[1024];
    apr_size_t n;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    while (apr_socket_accept(&c, f->listen, p) == APR_SUCCESS) {
        for (int i = 0; i < f->answers; i++) {
            apr_size_t len = strlen(f->answer);
            n = sizeof(buf);
            if (apr_socket_recv(c, buf, &n) != APR_SUCCESS && i > 0)
                break;
            if (f->delay > 0)
                apr_sleep(f->delay);
            apr_socket_send(c, f->answer, &len);
        }
        apr_socket_close(c);
        f->conns++;
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static const struct {
    const char *answer;
    mg_store_status_t get; /* what get("mg:k") makes of it */
    const char *value;
} mc_answers[] = {
    {"END\r\n", MG_STORE_NOTFOUND, NULL},
    {"VALUE mg:k 0 9\r\n192.0.2.1\r\nEND\r\n", MG_STORE_OK, "192.0.2.1"},
    {"VALUE mg:k 7 0\r\n\r\nEND\r\n", MG_STORE_OK, ""},
    {"VALUE mg:other 0 9\r\n192.0.2.1\r\nEND\r\n", MG_STORE_ERROR, NULL},
    {"VALUE mg:kk 0 9\r\n192.0.2.1\r\nEND\r\n", MG_STORE_ERROR, NULL},
    {"VALUE mg:k 0 5\r\n192.0.2.1\r\nEND\r\n", MG_STORE_ERROR, NULL},
    {"VALUE mg:k 0 12\r\n192.0.2.1\r\nEND\r\n", MG_STORE_ERROR, NULL},
    {"VALUE mg:k 0 -1\r\n\r\nEND\r\n", MG_STORE_ERROR, NULL},
    {"VALUE mg:k 0 70\r\n0123456789012345678901234567890123456789012345678901234567890123456789"
     "\r\nEND\r\n",
     MG_STORE_ERROR, NULL},
    {"VALUE mg:k 0 9\r\n192.0.2.1\r\nEND\r\nEND\r\n", MG_STORE_ERROR, NULL},
    {"SERVER_ERROR out of memory\r\n", MG_STORE_ERROR, NULL},
    {"ERROR\r\n", MG_STORE_ERROR, NULL},
    {"+OK\r\n", MG_STORE_ERROR, NULL},
    {"VALUE mg:k 0 9\r\n192.0.2.1", MG_STORE_ERROR, NULL}, /* cut short */
    {"", MG_STORE_ERROR, NULL},                            /* closed at once */
};

static fake_t *fake_start_as(const char *answer, int answers, apr_interval_time_t delay,
                             apr_thread_t **th, int *port)
{
    fake_t *f = apr_pcalloc(mg_test_pool, sizeof(*f));
    apr_sockaddr_t *sa;

    f->answer = answer;
    f->answers = answers;
    f->delay = delay;
    ck_assert_int_eq(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, mg_test_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(
        apr_socket_create(&f->listen, APR_INET, SOCK_STREAM, APR_PROTO_TCP, mg_test_pool),
        APR_SUCCESS);
    ck_assert_int_eq(apr_socket_bind(f->listen, sa), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_listen(f->listen, 8), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_addr_get(&sa, APR_LOCAL, f->listen), APR_SUCCESS);
    *port = sa->port;
    ck_assert_int_eq(apr_thread_create(th, NULL, fake_serve, f, mg_test_pool), APR_SUCCESS);
    return f;
}

static fake_t *fake_start(const char *answer, apr_thread_t **th, int *port)
{
    return fake_start_as(answer, 1, 0, th, port);
}

static void fake_stop(fake_t *f, apr_thread_t *th)
{
    apr_status_t trv;
    apr_socket_shutdown(f->listen, APR_SHUTDOWN_READWRITE);
    apr_socket_close(f->listen);
    apr_thread_join(&trv, th);
}

/* A store of scheme ("memcache" or "redis") on the fake server's port, with a
 * 2 s timeout. */
static mg_store_t *fake_store_open(const char *scheme, int port)
{
    mg_store_url_t *u = apr_pcalloc(mg_test_pool, sizeof(*u));
    mg_store_t *st = NULL;
    const char *why = NULL;

    ck_assert_int_eq(
        mg_store_url_parse(mg_test_pool,
                           apr_psprintf(mg_test_pool, "%s://127.0.0.1:%d?timeout=2s", scheme, port),
                           u, &why),
        0);
    ck_assert_int_eq(mg_store_open(mg_test_pool, u, &st, &why), 0);
    return st;
}

START_TEST(test_memcache_answers_are_checked_to_the_byte)
{
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start(mc_answers[_i].answer, &th, &port);
    mg_store_t *st;
    const char *why = NULL;
    char *val = NULL;
    mg_store_status_t rv;

    st = fake_store_open("memcache", port);
    rv = st->ops->get(st, "mg:k", &val, mg_test_pool, &why);
    ck_assert_msg(rv == mc_answers[_i].get, "answer %d: got %d (%s)", _i, rv, why ? why : "");
    if (mc_answers[_i].value)
        ck_assert_str_eq(val, mc_answers[_i].value);
    fake_stop(f, th);
}
END_TEST

/* A link's slots read with one multi-key get: memcached answers a VALUE
 * block per key that has a value, in the order asked, then END; anything
 * else (a key not asked, out of order, a length that lies, more after END)
 * is an error, never a slot read as free or as another address's. */
START_TEST(test_memcache_get_many_reads_only_what_was_asked_in_order)
{
    static const struct {
        const char *answer;
        mg_store_status_t rv;
        const char *vals[3];
    } cases[] = {
        {"END\r\n", MG_STORE_OK, {NULL, NULL, NULL}},
        {"VALUE mg:k1 0 9\r\n192.0.2.1\r\nVALUE mg:k3 0 9\r\n192.0.2.3\r\nEND\r\n",
         MG_STORE_OK,
         {"192.0.2.1", NULL, "192.0.2.3"}},
        {"VALUE mg:k3 0 9\r\n192.0.2.3\r\nVALUE mg:k1 0 9\r\n192.0.2.1\r\nEND\r\n",
         MG_STORE_ERROR,
         {NULL}},
        {"VALUE mg:k4 0 9\r\n192.0.2.4\r\nEND\r\n", MG_STORE_ERROR, {NULL}},
        {"VALUE mg:k 0 9\r\n192.0.2.4\r\nEND\r\n", MG_STORE_ERROR, {NULL}},
        {"VALUE mg:k2 0 8\r\n192.0.2.2\r\nEND\r\n", MG_STORE_ERROR, {NULL}},
        {"VALUE mg:k2 0 10\r\n192.0.2.2\r\nEND\r\n", MG_STORE_ERROR, {NULL}},
        {"VALUE mg:k2 0 9x\r\n192.0.2.2\r\nEND\r\n", MG_STORE_ERROR, {NULL}},
        {"VALUE mg:k2 0 9\r\n192.0.2.2\r\nEND\r\nEND\r\n", MG_STORE_ERROR, {NULL}},
        {"VALUE mg:k2 0 9\r\n192.0.2.2\r\nVALUE mg:k2 0 9\r\n192.0.2.2\r\nEND\r\n",
         MG_STORE_ERROR,
         {NULL}},
        {"SERVER_ERROR out of memory\r\n", MG_STORE_ERROR, {NULL}},
        {"VALUE mg:k1 0 9\r\n192.0", MG_STORE_ERROR, {NULL}},                /* cut short */
        {"VALUE mg:k1 0 9\r\n192.0.2.1\r\nVALUE mg:k2 0 9\r\n192.0.2.2\r\n", /* no END */
         MG_STORE_ERROR,
         {NULL}},
        {"VALUE mg:k1 0 31\r\n192.0.2.1\r\nVALUE mg:k2 0 9\r\n192.0.2.2\r\nEND\r\n",
         MG_STORE_ERROR, /* a length that swallows the next block and END */
         {NULL}},
    };
    static const char *const keys[] = {"mg:k1", "mg:k2", "mg:k3"};
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start(cases[_i].answer, &th, &port);
    mg_store_t *st = fake_store_open("memcache", port);
    const char *why = NULL;
    char *vals[3];

    ck_assert_int_eq(st->ops->get_many(st, 3, keys, vals, 0, mg_test_pool, &why), cases[_i].rv);
    for (int k = 0; cases[_i].rv == MG_STORE_OK && k < 3; k++)
        if (cases[_i].vals[k] == NULL)
            ck_assert_ptr_null(vals[k]);
        else
            ck_assert_str_eq(vals[k], cases[_i].vals[k]);
    fake_stop(f, th);
}
END_TEST

/* n fake memcached servers, the i-th answering answers[i] after delay,
 * and a store of the n of them in this order (a 2 s timeout). */
static mg_store_t *fake_servers_open(int n, const char *const *answers, apr_interval_time_t delay,
                                     fake_t **f, apr_thread_t **th)
{
    const char *url = "memcache://", *why = NULL;
    mg_store_url_t *u = apr_pcalloc(mg_test_pool, sizeof(*u));
    mg_store_t *st = NULL;
    int port;

    for (int i = 0; i < n; i++) {
        f[i] = fake_start_as(answers[i], 1, delay, &th[i], &port);
        url = apr_psprintf(mg_test_pool, "%s%s127.0.0.1:%d", url, i ? "," : "", port);
    }
    ck_assert_int_eq(mg_store_url_parse(mg_test_pool,
                                        apr_pstrcat(mg_test_pool, url, "?timeout=2s", NULL), u,
                                        &why),
                     0);
    ck_assert_int_eq(mg_store_open(mg_test_pool, u, &st, &why), 0);
    return st;
}

/* The slots' read is part of the walk and under its bound: no server's
 * get starts past `until` (one get per server, each answering just in
 * time, held a claim for a timeout per server). Four servers each
 * answering in 100 ms, the bound 150 ms away: two gets at most. Planted:
 * the bound not looked at -> all four servers asked. */
START_TEST(test_memcache_get_many_starts_no_server_past_the_walk_bound)
{
    enum { SERVERS = 4, KEYS = 20 };
    static const char *const ends[SERVERS] = {"END\r\n", "END\r\n", "END\r\n", "END\r\n"};
    apr_thread_t *th[SERVERS];
    fake_t *f[SERVERS];
    mg_store_t *st = fake_servers_open(SERVERS, ends, apr_time_from_msec(100), f, th);
    const char *keys[KEYS], *why = NULL;
    char *vals[KEYS];
    int asked = 0;

    for (int i = 0; i < KEYS; i++)
        keys[i] = apr_psprintf(mg_test_pool, "mg:use:k1:bound:%d", i + 1);
    ck_assert_int_eq(st->ops->get_many(st, KEYS, keys, vals,
                                       mg_store_clock() + apr_time_from_msec(150), mg_test_pool,
                                       &why),
                     MG_STORE_ERROR);
    ck_assert_msg(strstr(why, "no answer within the timeout to the claim as a whole") != NULL, "%s",
                  why);
    for (int i = 0; i < SERVERS; i++) {
        fake_stop(f[i], th[i]);
        asked += f[i]->conns;
    }
    ck_assert_msg(asked >= 1 && asked <= 2, "%d servers asked: %s", asked, why);
}
END_TEST

/* The server of a memcached key, as mg_store_memcache.c places it
 * (FNV-1a of the key, modulo the servers): the same list in the same
 * order on every Apache server, so this is part of the store's format. */
static int mc_server_of(const char *key, int servers)
{
    apr_uint32_t h = 2166136261u;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return (int)(h % (apr_uint32_t)servers);
}

/* The slots' read asks every server that holds some of the keys, and puts
 * each answer in its key's place: two servers, each answering for the one
 * key it holds. Planted: only the first server asked -> the other's slot
 * read as free (NULL). */
START_TEST(test_memcache_get_many_asks_each_server_for_its_own_keys)
{
    const char *keys[2] = {NULL, NULL}, *answers[2], *why = NULL;
    char *vals[2];
    apr_thread_t *th[2];
    fake_t *f[2];
    mg_store_t *st;

    for (int i = 1; keys[0] == NULL || keys[1] == NULL; i++) {
        const char *k = apr_psprintf(mg_test_pool, "mg:use:k1:shard:%d", i);
        if (keys[mc_server_of(k, 2)] == NULL)
            keys[mc_server_of(k, 2)] = k;
    }
    for (int i = 0; i < 2; i++)
        answers[i] =
            apr_psprintf(mg_test_pool, "VALUE %s 0 9\r\n192.0.2.%d\r\nEND\r\n", keys[i], i + 1);
    st = fake_servers_open(2, answers, 0, f, th);
    ck_assert_int_eq(st->ops->get_many(st, 2, keys, vals, 0, mg_test_pool, &why), MG_STORE_OK);
    ck_assert_pstr_eq(vals[0], "192.0.2.1");
    ck_assert_pstr_eq(vals[1], "192.0.2.2");
    for (int i = 0; i < 2; i++) {
        fake_stop(f[i], th[i]);
        ck_assert_int_eq(f[i]->conns, 1);
    }
}
END_TEST

START_TEST(test_memcache_add_knows_stored_from_not_stored_and_nothing_else)
{
    static const struct {
        const char *answer;
        mg_store_status_t rv;
    } cases[] = {{"STORED\r\n", MG_STORE_OK},
                 {"NOT_STORED\r\n", MG_STORE_EXISTS},
                 {"EXISTS\r\n", MG_STORE_ERROR},
                 {"STORED\r\nSTORED\r\n", MG_STORE_ERROR},
                 {"SERVER_ERROR object too large for cache\r\n", MG_STORE_ERROR},
                 /* memcached -M when full: refused, not evicted */
                 {"SERVER_ERROR out of memory storing object\r\n", MG_STORE_FULL}};
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start(cases[_i].answer, &th, &port);
    mg_store_t *st;
    const char *why = NULL;

    st = fake_store_open("memcache", port);
    ck_assert_int_eq(st->ops->add(st, "mg:k", "192.0.2.1", 60, mg_test_pool, &why), cases[_i].rv);
    /* a key memcached cannot hold never goes out */
    ck_assert_int_eq(st->ops->add(st, "mg:a b", "192.0.2.1", 60, mg_test_pool, &why),
                     MG_STORE_ERROR);
    fake_stop(f, th);
}
END_TEST

START_TEST(test_memcache_retention_over_the_wire)
{
    static const struct {
        const char *answer;
        mg_store_status_t rv;
        mg_store_keep_t keeps;
    } cases[] = {{"STAT pid 7\r\nSTAT evictions off\r\nEND\r\n", MG_STORE_OK, MG_STORE_KEEPS},
                 {"STAT pid 7\r\nSTAT evictions on\r\nEND\r\n", MG_STORE_OK, MG_STORE_EVICTS},
                 {"ERROR\r\n", MG_STORE_OK, MG_STORE_UNSAID},
                 {"STAT pid 7\r\nSTAT evictions off\r\n", MG_STORE_ERROR, 0}, /* cut short */
                 {"ERROR Too many open connections\r\n", MG_STORE_ERROR, 0},
                 {"SERVER_ERROR out of memory\r\n", MG_STORE_ERROR, 0}};
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start(cases[_i].answer, &th, &port);
    apr_array_header_t *res;
    mg_store_keep_t worst;
    mg_store_t *st;
    const char *why = NULL;

    st = fake_store_open("memcache", port);
    ck_assert_int_eq(mg_store_retention(st, &res, &worst, mg_test_pool, &why), cases[_i].rv);
    if (cases[_i].rv == MG_STORE_OK) {
        ck_assert_int_eq(res->nelts, 1);
        ck_assert_int_eq(worst, cases[_i].keeps);
        ck_assert_str_eq(APR_ARRAY_IDX(res, 0, mg_store_retention_t).server,
                         apr_psprintf(mg_test_pool, "memcached 127.0.0.1:%d", port));
    }
    fake_stop(f, th);
}
END_TEST

/* Redis over the wire (a canned answer to every command, as a server that
 * answers INFO and CONFIG alike): a refusal is UNSAID, a server that
 * cannot answer now is an error, and its words reach the message printable */
START_TEST(test_redis_retention_over_the_wire)
{
    static const struct {
        const char *answer;
        mg_store_status_t rv;
        const char *why;
    } cases[] = {
        {"-NOPERM this user has no permissions to run the 'info' command\r\n", MG_STORE_OK, NULL},
        {"-ERR unknown command 'INFO'\r\n", MG_STORE_OK, NULL},
        {"-ERR max number of clients reached\r\n", MG_STORE_ERROR,
         "answered INFO memory with: ERR max number of clients reached"},
        {"-BUSY Redis is busy running a script\r\n", MG_STORE_ERROR, "with: BUSY Redis is busy"},
        {"-LOADING Redis is loading the dataset in memory\r\n", MG_STORE_ERROR, "with: LOADING"},
        {"-ERR \x1b]0;owned\x07 no\r\n", MG_STORE_ERROR, "with: ERR ?]0;owned? no"},
        {":7\r\n", MG_STORE_ERROR, "unexpected type"},
    };
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start(cases[_i].answer, &th, &port);
    apr_array_header_t *res;
    mg_store_keep_t worst;
    mg_store_t *st;
    const char *why = NULL;
    char *val = NULL;

    st = fake_store_open("redis", port);
    ck_assert_int_eq(mg_store_retention(st, &res, &worst, mg_test_pool, &why), cases[_i].rv);
    if (cases[_i].rv == MG_STORE_OK)
        ck_assert_int_eq(worst, MG_STORE_UNSAID);
    else
        ck_assert_msg(strstr(why, cases[_i].why) != NULL, "%s", why);
    /* any command's error reply reaches the log printable */
    if (_i == 5) {
        ck_assert_int_eq(st->ops->get(st, "mg:k", &val, mg_test_pool, &why), MG_STORE_ERROR);
        ck_assert_msg(strstr(why, "answered: ERR ?]0;owned? no") != NULL, "%s", why);
    }
    fake_stop(f, th);
}
END_TEST

/* A claim with an epoch asks INFO first on each new connection (the Redis
 * process behind it): an answer that cannot tell a restart is an error, with
 * the way out, never a claim on a store that may have lost its records. */
START_TEST(test_redis_claim_with_an_epoch_needs_the_process_identified)
{
    static const struct {
        const char *answer;
        const char *why;
    } cases[] = {
        {"-ERR unknown command 'INFO'\r\n", "accept the risk with ?lost_records=warn"},
        {"-NOPERM this user has no permissions to run the 'info' command\r\n",
         "answered INFO with: NOPERM"},
        {"$13\r\naof_enabled:0\r\n", "INFO has no run_id"},
        {"$20\r\nrun_id:not-hex!\r\nx:1\r\n", "INFO has no run_id"},
        {"-LOADING Redis is loading the dataset in memory\r\n", "answered INFO with: LOADING"},
        {"", "redis 127.0.0.1:"},
    };
    apr_thread_t *th;
    int port, slot;
    fake_t *f = fake_start(cases[_i].answer, &th, &port);
    mg_store_epoch_t ep = {
        .used_from = 1, .margin = 30, .refuse = 1, .now = 1796474000, .since = -1};
    mg_claim_t c = {"k1", "abc", 1, "192.0.2.1", 60, 0, 0, &ep};
    mg_claim_outcome_t out = MG_CLAIM_NEW;
    mg_store_t *st = fake_store_open("redis", port);
    const char *why = NULL;

    ck_assert_int_eq(mg_store_claim(st, &c, &out, &slot, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_msg(why != NULL && strstr(why, cases[_i].why) != NULL, "%s", why);
    ck_assert_int_eq(ep.since, -1);
    fake_stop(f, th);
}
END_TEST

/* A Redis answer with more values than any of ours (each string,
 * integer, nil and array counts, nested ones too) is refused while it is
 * read, at MG_STORE_REDIS_VALUES_MAX exactly: below it, 1 MiB of `+\r\n` in
 * arrays made about 33 MB of reply objects per request. Two arrays of
 * leaves of one kind; the bound itself is still parsed (then refused as
 * not a GET's answer). Planted: an array's elements not counted at its
 * header lets each answer over the bound through ("unexpected type"). */
static const char *const leaves[] = {"+\r\n", ":1\r\n", "$-1\r\n", "*0\r\n", "$1\r\nx\r\n"};

static char *redis_answer_of(int values, const char *leaf)
{
    int first = (values - 3) / 2, second = values - 3 - first; /* 3: the arrays */
    size_t n = strlen(leaf);
    char *a = apr_palloc(mg_test_pool, 64 + (size_t)values * n), *e = a;

    e += sprintf(e, "*2\r\n*%d\r\n", first);
    for (int i = 0; i < first; i++, e += n)
        memcpy(e, leaf, n);
    e += sprintf(e, "*%d\r\n", second);
    for (int i = 0; i < second; i++, e += n)
        memcpy(e, leaf, n);
    *e = '\0';
    return a;
}

START_TEST(test_redis_answer_with_more_values_than_ours_is_refused_while_read)
{
    int over = _i % 2, values = MG_STORE_REDIS_VALUES_MAX + over;
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start(redis_answer_of(values, leaves[_i / 2]), &th, &port);
    mg_store_t *st = fake_store_open("redis", port);
    const char *why = NULL;
    char *val = NULL;

    ck_assert_int_eq(st->ops->get(st, "mg:k", &val, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_msg(
        strstr(why, over ? apr_psprintf(mg_test_pool, "an over-long reply (more than %d values)",
                                        MG_STORE_REDIS_VALUES_MAX)
                         : "an answer of an unexpected type (2)") != NULL,
        "%d values of %s: %s", values, leaves[_i / 2], why);
    fake_stop(f, th);
}
END_TEST

/* An array announcing more elements than the bound is refused at its
 * header: hiredis would allocate their pointers first. So is one announcing
 * more than is left once its ancestors' elements still to come are counted
 * (each array's at its header): counted only as they came, a wide array's
 * first element could announce nearly the whole bound, and in hiredis 1.x
 * (no depth limit) a chain of such arrays each did, 8 bytes per pointer:
 * about 268 MB from 57 KB. Planted: elements counted as they come ->
 * the last three are read to the end (the fake closes: "closed"). */
START_TEST(test_redis_array_header_over_the_bound_is_refused)
{
    static const char *const answers[] = {"*8192\r\n", "*1000000000\r\n", "*2\r\n*8190\r\n",
                                          "*8\r\n*8185\r\n",
                                          "*7\r\n*7\r\n*7\r\n*7\r\n*7\r\n*7\r\n*8170\r\n"};
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start(answers[_i], &th, &port);
    mg_store_t *st = fake_store_open("redis", port);
    const char *why = NULL;
    char *val = NULL;

    ck_assert_int_eq(st->ops->get(st, "mg:k", &val, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_msg(strstr(why, "an over-long reply (more than 8192 values)") != NULL, "%s: %s",
                  answers[_i], why);
    fake_stop(f, th);
}
END_TEST

/* The bound is per command: a connection kept for the next one starts
 * its count again. Each answer holds 5001 values (under the bound, two of
 * them over it); two gets on one connection both read theirs in full.
 * Planted: no reset per command -> the second is "an over-long reply". */
START_TEST(test_redis_values_are_counted_per_command_on_a_kept_connection)
{
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start_as(redis_answer_of(5001, ":1\r\n"), 2, 0, &th, &port);
    mg_store_t *st = fake_store_open("redis", port);

    for (int i = 0; i < 2; i++) {
        const char *why = NULL;
        char *val = NULL;
        ck_assert_int_eq(st->ops->get(st, "mg:k", &val, mg_test_pool, &why), MG_STORE_ERROR);
        ck_assert_msg(strstr(why, "an answer of an unexpected type (2)") != NULL, "get %d: %s", i,
                      why);
    }
    fake_stop(f, th);
    ck_assert_int_eq(f->conns, 1);
}
END_TEST

START_TEST(test_memcache_garbage_reaches_the_message_printable)
{
    apr_thread_t *th;
    int port;
    fake_t *f = fake_start("EXISTS \x1b[2J\x1b]0;owned\x07\r\n", &th, &port);
    mg_store_t *st;
    const char *why = NULL;

    st = fake_store_open("memcache", port);
    ck_assert_int_eq(st->ops->add(st, "mg:k", "192.0.2.1", 60, mg_test_pool, &why), MG_STORE_ERROR);
    ck_assert_str_eq(why, apr_psprintf(mg_test_pool,
                                       "memcached 127.0.0.1:%d gave an unexpected answer: "
                                       "EXISTS ?[2J?]0;owned?",
                                       port));
    fake_stop(f, th);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_url_redis_defaults_and_options);
    tcase_add_test(tc, test_url_memcache_several_servers_and_ipv6);
    tcase_add_loop_test(tc, test_url_refused_with_a_sentence, 0,
                        (int)(sizeof(bad_urls) / sizeof(bad_urls[0])));
    tcase_add_test(tc, test_url_password_file_first_line);
    tcase_add_test(tc, test_claim_n_addresses_win_and_an_owner_keeps_its_slot);
    tcase_add_test(tc, test_a_slot_walk_on_a_slow_store_stops_at_twice_the_timeout);
    tcase_add_test(tc, test_a_slot_walk_stopped_at_its_bound_says_how_many_slots_it_walked);
    tcase_add_test(tc, test_a_claim_past_its_bound_before_slot_one_takes_nothing);
    tcase_add_test(tc, test_a_restart_right_before_the_add_is_seen_by_the_epoch_read_after_it);
    tcase_add_test(tc, test_claim_of_a_revoked_id_takes_nothing);
    tcase_add_test(tc, test_claim_on_a_broken_engine_is_an_error_not_a_loop);
    tcase_add_loop_test(tc, test_claim_race_gives_exactly_n_uses_and_one_slot_per_address, 0, 2);
    tcase_add_loop_test(tc, test_engines_fail_closed_when_nothing_listens, 0, 2);
    tcase_add_loop_test(tc, test_memcache_answers_are_checked_to_the_byte, 0,
                        (int)(sizeof(mc_answers) / sizeof(mc_answers[0])));
    tcase_add_loop_test(tc, test_memcache_add_knows_stored_from_not_stored_and_nothing_else, 0, 6);
    tcase_add_loop_test(tc, test_memcache_get_many_reads_only_what_was_asked_in_order, 0, 14);
    tcase_add_test(tc, test_memcache_get_many_starts_no_server_past_the_walk_bound);
    tcase_add_test(tc, test_memcache_get_many_asks_each_server_for_its_own_keys);
    tcase_add_test(tc, test_claim_on_a_full_store_keeps_owners_and_refuses_a_free_slot);
    tcase_add_test(tc, test_redis_info_says_whether_it_evicts);
    tcase_add_test(tc, test_memcache_stats_settings_say_whether_it_evicts);
    tcase_add_test(tc, test_memcache_stats_settings_that_are_no_answer);
    tcase_add_test(tc, test_redis_refusal_is_told_from_an_error);
    tcase_add_test(tc, test_memcache_exptime_never_ends_a_record_early);
    tcase_add_test(tc, test_redis_durability_needs_aof_always_and_no_failover);
    tcase_add_loop_test(tc, test_memcache_retention_over_the_wire, 0, 6);
    tcase_add_loop_test(tc, test_redis_retention_over_the_wire, 0, 7);
    tcase_add_loop_test(tc, test_redis_claim_with_an_epoch_needs_the_process_identified, 0, 6);
    tcase_add_test(tc, test_memcache_garbage_reaches_the_message_printable);
    tcase_add_loop_test(tc, test_redis_answer_with_more_values_than_ours_is_refused_while_read, 0,
                        2 * (int)(sizeof(leaves) / sizeof(leaves[0])));
    tcase_add_loop_test(tc, test_redis_array_header_over_the_bound_is_refused, 0, 5);
    tcase_add_test(tc, test_redis_values_are_counted_per_command_on_a_kept_connection);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(make_suite)
