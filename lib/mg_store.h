/* mg_store.h — the claim and revocation store: one interface, several engines.
 *
 * One-time and N-use links (mg_uses) and store-backed revocation need state
 * shared by every server. The store is a struct of function pointers (the
 * way mod_md's md_store is), with engines in their own files:
 * mg_store_redis.c (hiredis), mg_store_memcache.c (the memcached text
 * protocol over APR sockets) and, in the module, an adapter over an APR
 * socache (shmcb: one server). The claim logic (mg_store_claim) knows only
 * the interface, so the module and mgctl share it and it is unit-testable.
 *
 * Record layout (docs/token-spec.md, "One-time and N-use links"): a link
 * KID/ID with N uses has slots PREFIX"use:KID:ID:1" .. ":N". A slot's value
 * is the text form of the client address that owns it, written once with an
 * atomic add-if-absent and never changed, expiring with the link. A client
 * address A walks the slots in order: add(slot i, A) succeeds → A owns a
 * new use; it fails and get(slot i) == A → A owns a use already (a Range
 * follow-up, a reload); else the next slot; no slot left → used up. Every
 * address walks the same order over immutable values, so at most N distinct
 * addresses win and no address takes two slots, whatever the races and
 * however many servers. A revoked id is PREFIX"rev:ID" (any value).
 *
 * The store's epoch (Redis; docs/directives.md, "A store that loses its
 * records"): PREFIX"epoch" holds "SINCE RUNID DURABLE", without expiry.
 * SINCE is the second (Unix time) from which the store's records are known
 * to be complete, 0 when `mgctl store init` said they always were; RUNID
 * the Redis process that holds them; DURABLE 1 when that process keeps
 * every acknowledged write across a restart (appendonly yes, appendfsync
 * always, not a promoted replica). The claim script reads it atomically
 * with the walk: no record (a restart that lost everything, FLUSHALL, the
 * first claim ever) or another RUNID where the old or the new process is
 * not DURABLE (a restart that may have lost writes; a promoted replica)
 * starts a new epoch (SINCE = now); a link that a server could have granted
 * before SINCE (+ margin) may have a use recorded in what was lost, and is
 * refused (MG_CLAIM_LOST) unless the URL says lost_records=warn.
 */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <apr_file_info.h>
#include <apr_tables.h>
#include <apr_thread_mutex.h>
#include <apr_pools.h>
#include <apr_time.h>

#include "mg_diag.h"

typedef enum {
    MG_STORE_OK = 0,   /* done / found */
    MG_STORE_EXISTS,   /* add: the key has a value already */
    MG_STORE_NOTFOUND, /* get/del: no such key */
    MG_STORE_ERROR,    /* the store did not answer, timed out or answered garbage */
    MG_STORE_FULL      /* add: refused for lack of memory (a store that does not evict, as
                          memcached -M): nothing stored, *why says so; the key may exist */
} mg_store_status_t;

#define MG_STORE_VAL_MAX 64  /* longest value the engines accept (an address is < 46) */
#define MG_STORE_KEY_MAX 200 /* memcached allows 250 */
/* Values (strings, integers, nils, arrays) in one Redis answer, nested
 * ones included: more fails the command (mg_store_redis.c says why) */
#define MG_STORE_REDIS_VALUES_MAX 8192
#define MG_STORE_SERVERS_MAX 16

typedef struct mg_store mg_store_t;

enum { MG_EPOCH_READ, MG_EPOCH_INIT, MG_EPOCH_FORCE };

/* What mgctl store check|init says about an epoch record. */
typedef struct mg_store_epoch_info {
    const char *server;  /* "redis 127.0.0.1:6379" */
    int found;           /* a record was there */
    apr_int64_t since;   /* its SINCE */
    int same_process;    /* its RUNID is the process that answered */
    int durable;         /* the process that answered keeps writes across a restart */
    const char *setting; /* why (not) durable: "appendonly yes, appendfsync always" */
    int empty;           /* MG_EPOCH_INIT: no key under the prefix: nothing written */
    int unidentified;    /* INFO refused (run id "-"): MG_EPOCH_INIT writes nothing */
    int replica;         /* Redis: the process that answered is a replica (role not master),
                            which the claim script refuses */
} mg_store_epoch_info_t;

/* The epoch part of a claim (engines that keep one: Redis). In: the
 * earliest second a server could have granted the link (its mg_exp minus
 * tokens.max_ttl, or its mg_nbf, minus tokens.clock_skew; 0 = unknown:
 * no max_ttl and no mg_nbf), the margin for clocks that disagree between
 * servers, and whether such a link is refused. Out: the epoch and whether
 * this claim started it (said once in the log, by the one claim that did). */
typedef struct mg_store_epoch {
    apr_int64_t used_from; /* in: seconds, 0 = unknown */
    apr_int64_t rev_from;  /* in: the earliest second the link could have been revoked (signed),
                              0 = unknown: the epoch of the revocation key's server (memcached)
                              is held to it, a slot's to used_from; with one epoch (Redis) a
                              claim that checks the revocation list is held to it alone */
    apr_int64_t margin;    /* in: seconds (tokens.clock_skew) */
    int refuse;            /* in: lost_records=refuse */
    apr_int64_t now;       /* in: this server's clock, seconds: SINCE of a new epoch, unless
                              the store's clock is later (Redis TIME) */
    apr_int64_t since;     /* out: the epoch's SINCE */
    int started;           /* out: 0, or why this claim started it: MG_EPOCH_NEW_* */
    int durable;           /* out: the server keeps acknowledged writes across a restart */
    const char *server;    /* out (memcached): the server whose epoch this is, "HOST:PORT" */
} mg_store_epoch_t;

enum {
    MG_EPOCH_NEW_NONE = 1,    /* there was no epoch record */
    MG_EPOCH_NEW_RESTART = 2, /* another Redis process, and the old one was not durable */
    MG_EPOCH_NEW_SERVER = 3,  /* memcached: epoch->server had no epoch record */
    MG_EPOCH_NEW_PROMOTED = 4 /* Redis: the process was promoted (again) since the record:
                                 its data may be another primary's (mg_store_redis.c) */
};

/* What a claim asks. */
typedef struct mg_claim {
    const char *kid, *id;    /* the token's mg_kid and mg_id */
    int uses;                /* N, 1..MG_TOKEN_USES_MAX */
    const char *addr;        /* the client address, canonical text (mg_ip_format) */
    apr_int64_t ttl;         /* seconds the slots live (link expiry + grace + skew), >= 1;
                                64 bits: a link may be valid for centuries */
    int peek;                /* HEAD: say whether a use is owned or free, claim nothing */
    int check_revoked;       /* also look for PREFIX"rev:ID" */
    mg_store_epoch_t *epoch; /* NULL: no epoch check; engines without an epoch ignore it */
} mg_claim_t;

typedef enum {
    MG_CLAIM_NEW,     /* the address took slot `slot` now */
    MG_CLAIM_OWNER,   /* the address owned slot `slot` already */
    MG_CLAIM_FREE,    /* peek: not an owner, a slot is free */
    MG_CLAIM_USED,    /* every slot belongs to another address */
    MG_CLAIM_REVOKED, /* check_revoked and the id is revoked (nothing claimed) */
    MG_CLAIM_LOST     /* epoch: the link could have been used before the store lost its
                         records (mg_store_epoch_t.since); nothing claimed */
} mg_claim_outcome_t;

/* An engine. `why` gets a sentence (never a secret) on MG_STORE_ERROR.
 * Every function may be called from several threads at once. */
typedef struct mg_store_ops {
    const char *scheme;
    /* Set key to val (NUL-terminated, < MG_STORE_VAL_MAX) if it has no value;
     * ttl in seconds, 0 = no expiry; an engine that cannot hold an expiry that
     * far away keeps the record without one, never for less time. OK /
     * EXISTS / FULL / ERROR. */
    mg_store_status_t (*add)(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                             apr_pool_t *p, const char **why);
    /* OK (*val NUL-terminated, from p) / NOTFOUND / ERROR. */
    mg_store_status_t (*get)(mg_store_t *st, const char *key, char **val, apr_pool_t *p,
                             const char **why);
    /* OK / NOTFOUND / ERROR. */
    mg_store_status_t (*del)(mg_store_t *st, const char *key, apr_pool_t *p, const char **why);
    /* Optional: the whole slot walk (and revocation check) in one round trip.
     * NULL: mg_store_claim walks with add and get. */
    mg_store_status_t (*claim)(mg_store_t *st, const mg_claim_t *c, mg_claim_outcome_t *out,
                               int *slot, apr_pool_t *p, const char **why);
    /* Optional: ask every server whether it may drop a live record when
     * full; appends one mg_store_retention_t per server to `out`. OK, or
     * ERROR when a server cannot be asked (down, timeout, busy, loading, at
     * its connection limit, an error reply, garbage). Only a server that
     * refuses the question itself (a renamed, unknown or forbidden command;
     * memcached stats without the setting) is an answer: MG_STORE_UNSAID.
     * NULL: the engine cannot say. */
    mg_store_status_t (*retention)(mg_store_t *st, apr_array_header_t *out, apr_pool_t *p,
                                   const char **why);
    /* Optional: the epoch record (layout above). MG_EPOCH_READ: *out
     * describes it (*found 0: none yet); MG_EPOCH_INIT: write SINCE 0 if
     * there is none (*found 1: there was one, left as it is), unless the
     * store holds no key under the prefix at all (*empty: a new store and
     * one that lost everything look alike) or INFO is refused
     * (*unidentified); MG_EPOCH_FORCE: write SINCE 0 whatever is there. OK
     * or ERROR. NULL: no epoch. */
    mg_store_status_t (*epoch)(mg_store_t *st, int op, mg_store_epoch_info_t *out, apr_pool_t *p,
                               const char **why);
    /* Optional, for engines that keep an epoch per server and no claim of
     * their own (memcached): the epoch of the server that holds `key` —
     * read, or started (add-if-absent, SINCE = the later of ep->now and the
     * server's clock) when it has none; sets ep->since, ep->started,
     * ep->server. mg_store_claim asks it after the slot operation that
     * decides a grant, on that slot's server (why that order: mg_store.c).
     * OK or ERROR. */
    mg_store_status_t (*key_epoch)(mg_store_t *st, const char *key, mg_store_epoch_t *ep,
                                   apr_pool_t *p, const char **why);
    /* Optional (mgctl revoke): key present with the expiry ttl (as for add)
     * whether or not it had a value — never absent on the way, and a write
     * that fails leaves the old record: a revocation written again with
     * another --ttl stays in force throughout. An existing record may keep
     * its value (memcached touches it). OK / FULL / ERROR. */
    mg_store_status_t (*set)(mg_store_t *st, const char *key, const char *val, apr_int64_t ttl,
                             apr_pool_t *p, const char **why);
    /* Optional: get of n keys at once, vals[i] NULL where keys[i] has no
     * value, in one round trip per server holding some of them (memcached's
     * multi-key get), none started past `until` (mg_store_clock; 0: no
     * bound): an ERROR then. mg_store_claim reads an N-use link's slots
     * with it before it walks them. OK / ERROR. */
    mg_store_status_t (*get_many)(mg_store_t *st, int n, const char *const *keys, char **vals,
                                  apr_time_t until, apr_pool_t *p, const char **why);
} mg_store_ops_t;

/* Whether a store server keeps a record until it expires. A one-time link
 * is exact only on a store that never drops a live record: one that evicts
 * when full gives the use back (docs/directives.md, "Guarantees"). */
typedef enum {
    MG_STORE_KEEPS = 0, /* refuses writes when full: Redis noeviction, memcached -M */
    MG_STORE_UNSAID,    /* would not say: INFO and CONFIG refused (NOPERM, unknown command),
                           memcached stats settings unknown or without 'evictions' */
    MG_STORE_EVICTS     /* may drop a live record when full */
} mg_store_keep_t;

typedef struct mg_store_retention {
    const char *server; /* "redis 127.0.0.1:6379", "memcached cache1:11211" */
    mg_store_keep_t keeps;
    const char *setting; /* what the server said, e.g. "maxmemory-policy allkeys-lru" */
    const char *fix;     /* how to make it keep records; NULL when it does */
} mg_store_retention_t;

/* A parsed store URL (docs/directives.md, MediaGuardStore):
 *   redis://HOST[:PORT][/DB][?OPTIONS]
 *   memcache://HOST[:PORT][,HOST[:PORT]...][?OPTIONS]
 * OPTIONS, '&'-separated: timeout=DURATION (ms or s, default 500ms),
 * password_file=PATH (redis: AUTH with the file's first line),
 * prefix=TEXT (key prefix, default "mg:"), revocation=on|off (default on),
 * evicting=refuse|warn (default refuse), lost_records=refuse|warn (default
 * refuse). */
typedef struct mg_store_url {
    const char *scheme; /* "redis" or "memcache" */
    int nservers;
    const char *host[MG_STORE_SERVERS_MAX];
    int port[MG_STORE_SERVERS_MAX];
    int db; /* redis SELECT, 0 = none */
    apr_interval_time_t timeout;
    const char *password_file;           /* or NULL */
    const char *password;                /* read from password_file by mg_store_url_parse */
    apr_fileperms_t password_protection; /* the password file's mode, for the warnings */
    const char *prefix;
    int revocation;
    int evicting_refuse; /* evicting=refuse (default): links limited in uses are refused on a
                            store that may evict (mg_store_retention); evicting=warn: logged */
    int lost_refuse;     /* lost_records=refuse (default): links that could have been used
                            before the store lost its records are refused (the epoch) */
    const char *display; /* the URL as written (it never holds the password) */
} mg_store_url_t;

struct mg_store {
    const mg_store_ops_t *ops;
    void *impl;
    const char *prefix;
    const char *display;         /* for messages */
    apr_interval_time_t timeout; /* the URL's, per operation; 0 = none (shmcb). A claim that
                                    walks slots operation by operation (memcached) is refused
                                    past MG_STORE_WALK_FACTOR times it as a whole */
};

/* A slot walk of several operations (two per slot: add, get) must not hold
 * a request for N times the timeout on a store that answers each just in
 * time: it starts no further slot, nor get_many on a further server, past
 * this many timeouts in all (the slot
 * under way may add two operations: about twice this at most, and then
 * the epoch of the deciding slot's server, key_epoch: one operation, three
 * when its epoch begins). */
#define MG_STORE_WALK_FACTOR 2

/* Parse and check a store URL; reads password_file. MG_OK, or with *why
 * MG_EINVAL (the URL, an empty password file) or MG_EIO (the password file
 * could not be read). */
mg_status_t mg_store_url_parse(apr_pool_t *p, const char *text, mg_store_url_t *out,
                               const char **why);

/* Warnings (code "store-password-file-permissions", at `file`:0:0) about
 * the password file of a parsed URL, by the rules of key files: the file
 * readable by group or others (whoever reads it has the store's password),
 * writable by group or others (whoever writes it decides what AUTH sends:
 * the server's claims fail, one-time links are refused), and any directory
 * above it that its group or everyone may write without the sticky bit
 * (mg_dirs.h). No password file: nothing. The password is never in a
 * message. Returns how many warnings were added. */
int mg_store_password_warn(apr_pool_t *p, const mg_store_url_t *u, mg_diags_t *diags,
                           const char *file);

/* An engine for a parsed URL. Connects lazily (the first operation), so it
 * can be made before a fork and at startup while the store is down.
 * MG_OK, or MG_EINVAL with *why. The store lives as long as `p`. */
mg_status_t mg_store_open(apr_pool_t *p, const mg_store_url_t *u, mg_store_t **out,
                          const char **why);
mg_status_t mg_store_redis_open(apr_pool_t *p, const mg_store_url_t *u, mg_store_t **out,
                                const char **why);
mg_status_t mg_store_memcache_open(apr_pool_t *p, const mg_store_url_t *u, mg_store_t **out,
                                   const char **why);

/* Keys of the layout above. */
const char *mg_store_slot_key(apr_pool_t *p, const mg_store_t *st, const char *kid, const char *id,
                              int slot);
const char *mg_store_rev_key(apr_pool_t *p, const mg_store_t *st, const char *id);

/* Claim a use (see the layout above). OK with *out (and *slot for NEW and
 * OWNER), or ERROR with *why: the caller fails closed. */
mg_store_status_t mg_store_claim(mg_store_t *st, const mg_claim_t *c, mg_claim_outcome_t *out,
                                 int *slot, apr_pool_t *p, const char **why);

/* Ask the store whether it keeps records (the ops' retention): *out gets
 * one mg_store_retention_t per server, *worst the worst of them (EVICTS
 * over UNSAID over KEEPS). OK, or ERROR with *why (a server cannot be
 * asked; an engine that cannot say). One round trip per server: callers
 * ask once (the module once per child, at its first store operation). */
mg_store_status_t mg_store_retention(mg_store_t *st, apr_array_header_t **out,
                                     mg_store_keep_t *worst, apr_pool_t *p, const char **why);

/* The epoch record (the ops' epoch). ERROR with *why for an engine that
 * keeps none (memcached, shmcb: not yet). */
mg_store_status_t mg_store_epoch_info(mg_store_t *st, int op, mg_store_epoch_info_t *out,
                                      apr_pool_t *p, const char **why);
const char *mg_store_epoch_key(apr_pool_t *p, const mg_store_t *st);
/* Redis: PREFIX"epoch:tenure", the promoted process and replication id the
 * epoch record was last confirmed in (mg_store_redis.c). */
const char *mg_store_tenure_key(apr_pool_t *p, const mg_store_t *st);

/* Microseconds on the monotonic clock, for deadlines and durations (never
 * dates): apr_time_now() is the wall clock, and a clock stepped back by
 * NTP or an admin during an operation would lengthen its wait by the step
 * (an hour back: an hour's wait), forward would cut it short. */
apr_time_t mg_store_clock(void);

/* A server whose last operation timed out (a store that accepts and never
 * answers, drops SYNs, or answers too slowly): while one request asks it
 * again, every other one is refused at once instead of each holding an
 * Apache worker for the whole timeout — an attacker with many one-time
 * links would otherwise tie up every worker. The first request after the
 * probe's answer goes through again: claims resume as soon as the server
 * answers. Guarded by the engine's lock (one gate per server). */
typedef struct mg_store_gate {
    int slow;    /* the last operation that finished timed out */
    int probing; /* a request is asking the slow server now */
} mg_store_gate_t;

/* One operation's pass through a gate. */
typedef struct mg_store_gate_pass {
    apr_time_t t0; /* mg_store_clock() when it came to the gate */
    int probe;     /* it is the request asking the slow server */
} mg_store_gate_pass_t;

/* Before an operation on the server (takes `lock`, the engine's lock for
 * the gate): 1 = go, 0 = refuse now (another request is asking the slow
 * one; say MG_STORE_GATE_WHY). */
int mg_store_gate_enter(mg_store_gate_t *g, apr_thread_mutex_t *lock, mg_store_gate_pass_t *pass);
/* After an operation that went: whether it failed, and whether it timed out
 * (slow); a failure that took the whole `timeout` counts as slow too. */
void mg_store_gate_leave(mg_store_gate_t *g, apr_thread_mutex_t *lock,
                         const mg_store_gate_pass_t *pass, apr_interval_time_t timeout, int failed,
                         int slow);
/* The sentence for a request the gate refused. */
#define MG_STORE_GATE_WHY                                                                          \
    "no answer within the timeout to an earlier request, and another request is asking again: "    \
    "refused without waiting"

/* What a server said, fit for a log line: at most `max` bytes up to its
 * first line end, unprintable bytes as '?'. */
const char *mg_store_said(apr_pool_t *p, const char *s, apr_size_t max);

/* The engines' readings of their servers' answers (unit-tested on canned
 * text): Redis `INFO memory` (maxmemory_policy, maxmemory) — 0 when the
 * text has no maxmemory_policy line; a policy alone (CONFIG GET
 * maxmemory-policy, maxmemory may be NULL); memcached `stats settings`
 * (STAT evictions on|off) — UNSAID for a complete STAT...END without that
 * line or memcached's bare ERROR (an unknown command); anything else
 * (ERROR Too many open connections, SERVER_ERROR, a reply cut short) is
 * not an answer: 0, with *why. `r->server` is set by the caller.
 * mg_store_redis_refusal: 1 when a Redis error reply refuses the question
 * (NOPERM, ERR unknown command or subcommand: renamed, disabled or
 * forbidden), 0 for any other error (max clients, BUSY, LOADING...), which
 * says nothing about eviction. */
int mg_store_redis_info_retention(apr_pool_t *p, const char *info, mg_store_retention_t *r);
void mg_store_redis_policy_retention(apr_pool_t *p, const char *policy, const char *maxmemory,
                                     mg_store_retention_t *r);
int mg_store_redis_refusal(const char *err);
/* Whether a Redis keeps every acknowledged write across a restart, from
 * its INFO text and CONFIG GET appendfsync (NULL: refused or not asked):
 * 1 for appendonly yes + appendfsync always on a process that is not a
 * promoted replica and has no replica (connected_slaves:0: a replica
 * promoted after a failover lacks what it had not received); *setting says
 * why (not). */
int mg_store_redis_durability(apr_pool_t *p, const char *info, const char *appendfsync,
                              const char **setting);
int mg_store_memcache_settings_retention(apr_pool_t *p, const char *stats, mg_store_retention_t *r,
                                         const char **why);

/* The exptime memcached is sent for a record that lives `ttl` seconds
 * (0: for ever) from Unix time `now`: the seconds themselves up to 30 days,
 * else the Unix time, which memcached holds in a signed 32-bit field; a
 * record that must outlive 2038-01-19 03:14:07 UTC gets 0, no expiry
 * (lib/mg_store_memcache.c). Exposed for the unit tests. */
long mg_store_mc_exptime(apr_int64_t ttl, apr_int64_t now);

/* Is the id revoked in the store? OK (*revoked set) or ERROR. */
mg_store_status_t mg_store_revoked(mg_store_t *st, const char *id, int *revoked, apr_pool_t *p,
                                   const char **why);

/* The same under the store's epoch (ep: used_from is the earliest second
 * the link could have been revoked, mg_decision_t token_revocable_from):
 * *out MG_CLAIM_REVOKED, MG_CLAIM_LOST (no revocation found, but the store
 * lost its records since the link could have been revoked: refused unless
 * ep->refuse is 0) or MG_CLAIM_FREE (not revoked). Redis: the claim script
 * without slots (one round trip, the epoch renewed as by a claim); others:
 * the get, then the epoch of the server holding the revocation key. OK or
 * ERROR. */
mg_store_status_t mg_store_check_revoked(mg_store_t *st, const char *id, mg_store_epoch_t *ep,
                                         mg_claim_outcome_t *out, apr_pool_t *p, const char **why);

#endif /* MG_STORE_H */
