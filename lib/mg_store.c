/* mg_store.c — store URLs, the key layout and the claim walk (mg_store.h).
 *
 * Engine-neutral: everything here goes through mg_store_ops_t, so the walk
 * is the same for memcached, Redis (which has its own one-round-trip walk,
 * a Lua script doing exactly this) and the module's socache adapter.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "mg_dirs.h"
#include "mg_file.h"
#include "mg_store.h"

#define DEFAULT_TIMEOUT apr_time_from_msec(500)
#define TIMEOUT_MAX apr_time_from_sec(30)

/* ms or s: "250ms", "1s", "2" (seconds) */
static int parse_timeout(const char *v, apr_interval_time_t *out)
{
    char *end;
    long n;

    if (*v < '0' || *v > '9')
        return -1;
    n = strtol(v, &end, 10);
    if (n <= 0 || n > 30000)
        return -1;
    if (strcmp(end, "ms") == 0)
        *out = apr_time_from_msec(n);
    else if (strcmp(end, "s") == 0 || *end == '\0')
        *out = apr_time_from_sec(n);
    else
        return -1;
    return *out > TIMEOUT_MAX ? -1 : 0;
}

static int parse_port(const char *s, int *port)
{
    char *end;
    long n;

    if (*s < '0' || *s > '9')
        return -1;
    n = strtol(s, &end, 10);
    if (*end != '\0' || n < 1 || n > 65535)
        return -1;
    *port = (int)n;
    return 0;
}

/* A host name or IPv4 literal, or [IPv6]: letters, digits, '.', '-', ':' in brackets. */
static int parse_hostport(apr_pool_t *p, const char *s, int defport, const char **host, int *port)
{
    const char *colon;

    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close == s + 1)
            return -1;
        *host = apr_pstrmemdup(p, s + 1, (apr_size_t)(close - s - 1));
        if (strspn(*host, "0123456789abcdefABCDEF:.") != strlen(*host))
            return -1;
        if (close[1] == '\0') {
            *port = defport;
            return 0;
        }
        return close[1] == ':' ? parse_port(close + 2, port) : -1;
    }
    colon = strchr(s, ':');
    *host = colon ? apr_pstrmemdup(p, s, (apr_size_t)(colon - s)) : s;
    if (**host == '\0' || strspn(*host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789.-") != strlen(*host))
        return -1;
    if (colon == NULL) {
        *port = defport;
        return 0;
    }
    return parse_port(colon + 1, port);
}

/* The first line of the file, without its line end; refused when empty. */
#define MG_PASSWORD_FILE_MAX (64 * 1024)
static mg_status_t read_password(apr_pool_t *p, const char *path, const char **out,
                                 apr_fileperms_t *protection, const char **why)
{
    mg_file_t f;
    char err[120];

    /* mg_file_read: a FIFO is refused, not waited on */
    if (mg_file_read(p, path, MG_PASSWORD_FILE_MAX, &f, NULL) != MG_OK) {
        *why = apr_psprintf(p, "password_file %s cannot be read (%s)", path,
                            f.error == MG_FILE_NOT_REGULAR ? "not a regular file"
                            : f.error == MG_FILE_TOO_LARGE ? "larger than 64 KiB"
                                                           : apr_strerror(f.rv, err, sizeof(err)));
        return MG_EIO;
    }
    size_t n = strcspn(f.data, "\r\n");
    if (n == 0) {
        *why = apr_psprintf(p, "password_file %s is empty (the password is its first line)", path);
        return MG_EINVAL;
    }
    *out = apr_pstrmemdup(p, f.data, n);
    *protection = f.protection;
    memset(f.data, 0, f.len);
    return MG_OK;
}

int mg_store_password_warn(apr_pool_t *p, const mg_store_url_t *u, mg_diags_t *diags,
                           const char *file)
{
    const char *code = "store-password-file-permissions";
    int n = 0;

    if (u->password_file == NULL || u->password == NULL)
        return 0;
    /* a secret, as a key file is: group counts as well as others */
    if (u->password_protection & (APR_FPROT_GREAD | APR_FPROT_WREAD)) {
        mg_diag_add(diags, MG_SEV_WARNING, file, 0, 0, code,
                    "password_file '%s' is readable by group or others: whoever can read it has "
                    "the store's password (chmod 600 it)",
                    u->password_file);
        n++;
    }
    if (u->password_protection & (APR_FPROT_GWRITE | APR_FPROT_WWRITE)) {
        mg_diag_add(diags, MG_SEV_WARNING, file, 0, 0, code,
                    "password_file '%s' is writable by group or others: whoever can write it "
                    "decides what AUTH sends, and a wrong password refuses every link that "
                    "needs the store (chmod go-w it)",
                    u->password_file);
        n++;
    }
    /* a directory above it that its group or everyone may write: they can
     * rename a file of their own over it (mg_dirs.h) */
    n += mg_dirs_check(p, u->password_file, apr_psprintf(p, "password_file '%s'", u->password_file),
                       MG_DIRS_GROUP_OR_OTHERS, MG_SEV_WARNING, diags, file, 0, 0, code);
    return n;
}

/* An option with two values: *out = 1 for `yes`, 0 for `no`; -1 otherwise. */
static int parse_switch(const char *val, const char *yes, const char *no, int *out)
{
    if (strcmp(val, yes) != 0 && strcmp(val, no) != 0)
        return -1;
    *out = strcmp(val, yes) == 0;
    return 0;
}

static int parse_options(apr_pool_t *p, char *q, mg_store_url_t *u, const char **why)
{
    char *last = NULL, *opt;

    for (opt = apr_strtok(q, "&", &last); opt; opt = apr_strtok(NULL, "&", &last)) {
        char *eq = strchr(opt, '=');
        const char *name, *val;
        if (eq == NULL) {
            *why = apr_psprintf(p, "option '%s' has no value (NAME=VALUE)", opt);
            return -1;
        }
        *eq = '\0';
        name = opt;
        val = eq + 1;
        if (strcmp(name, "timeout") == 0) {
            if (parse_timeout(val, &u->timeout) != 0) {
                *why = apr_psprintf(p, "timeout=%s: give 1ms to 30s, e.g. timeout=250ms", val);
                return -1;
            }
        } else if (strcmp(name, "password_file") == 0) {
            if (*val == '\0') {
                *why = "password_file= needs a path";
                return -1;
            }
            u->password_file = apr_pstrdup(p, val);
        } else if (strcmp(name, "prefix") == 0) {
            if (*val == '\0' || strlen(val) > 32 ||
                strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._-") !=
                    strlen(val)) {
                *why = "prefix= must be 1-32 characters of A-Z a-z 0-9 : . _ -";
                return -1;
            }
            u->prefix = apr_pstrdup(p, val);
        } else if (strcmp(name, "revocation") == 0) {
            if (parse_switch(val, "on", "off", &u->revocation) != 0) {
                *why = "revocation= must be on or off";
                return -1;
            }
        } else if (strcmp(name, "evicting") == 0) {
            if (parse_switch(val, "refuse", "warn", &u->evicting_refuse) != 0) {
                *why = "evicting= must be refuse or warn";
                return -1;
            }
        } else if (strcmp(name, "lost_records") == 0) {
            if (parse_switch(val, "refuse", "warn", &u->lost_refuse) != 0) {
                *why = "lost_records= must be refuse or warn";
                return -1;
            }
        } else {
            *why = apr_psprintf(p,
                                "unknown option '%s' (known: timeout, password_file, prefix, "
                                "revocation, evicting, lost_records)",
                                name);
            return -1;
        }
    }
    return 0;
}

mg_status_t mg_store_url_parse(apr_pool_t *p, const char *text, mg_store_url_t *u, const char **why)
{
    char *rest, *q, *path, *last = NULL, *hp;
    int defport;

    memset(u, 0, sizeof(*u));
    u->timeout = DEFAULT_TIMEOUT;
    u->prefix = "mg:";
    u->revocation = 1;
    u->evicting_refuse = 1;
    u->lost_refuse = 1;
    u->display = apr_pstrdup(p, text);
    if (strncmp(text, "redis://", 8) == 0) {
        u->scheme = "redis";
        rest = apr_pstrdup(p, text + 8);
        defport = 6379;
    } else if (strncmp(text, "memcache://", 11) == 0) {
        u->scheme = "memcache";
        rest = apr_pstrdup(p, text + 11);
        defport = 11211;
    } else {
        *why = "a store URL starts with redis:// or memcache:// (e.g. redis://127.0.0.1:6379/0, "
               "memcache://cache1:11211,cache2:11211)";
        return MG_EINVAL;
    }
    if ((q = strchr(rest, '?')) != NULL) {
        *q++ = '\0';
        if (parse_options(p, q, u, why) != 0)
            return MG_EINVAL;
    }
    if (strchr(rest, '@') != NULL) {
        *why = "no password in the URL (it would show in logs and process lists): use "
               "?password_file=PATH";
        return MG_EINVAL;
    }
    if ((path = strchr(rest, '/')) != NULL) {
        *path++ = '\0';
        if (strcmp(u->scheme, "memcache") == 0 && *path != '\0') {
            *why = "memcache:// takes no /DB";
            return MG_EINVAL;
        }
        if (*path != '\0') {
            char *end;
            long db = strtol(path, &end, 10);
            if (*path < '0' || *path > '9' || *end != '\0' || db < 0 || db > 1000) {
                *why = apr_psprintf(p, "'/%s': the redis database is a number, e.g. /0", path);
                return MG_EINVAL;
            }
            u->db = (int)db;
        }
    }
    if (*rest == '\0') {
        *why = "no server in the URL";
        return MG_EINVAL;
    }
    for (hp = apr_strtok(rest, ",", &last); hp; hp = apr_strtok(NULL, ",", &last)) {
        if (u->nservers == MG_STORE_SERVERS_MAX) {
            *why = apr_psprintf(p, "at most %d servers", MG_STORE_SERVERS_MAX);
            return MG_EINVAL;
        }
        if (parse_hostport(p, hp, defport, &u->host[u->nservers], &u->port[u->nservers]) != 0) {
            *why = apr_psprintf(p, "'%s' is not HOST[:PORT] (port 1-65535)", hp);
            return MG_EINVAL;
        }
        u->nservers++;
    }
    if (strcmp(u->scheme, "redis") == 0 && u->nservers > 1) {
        /* the claim is exact because one server orders every claim on a link;
         * several primaries would each hold their own slots */
        *why = "redis:// takes one server (the primary); for several servers use memcache:// or "
               "put the redis behind one address";
        return MG_EINVAL;
    }
    if (u->password_file != NULL) {
        if (strcmp(u->scheme, "memcache") == 0) {
            *why = "memcache:// has no password (memcached's text protocol has none)";
            return MG_EINVAL;
        }
        mg_status_t st =
            read_password(p, u->password_file, &u->password, &u->password_protection, why);
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

mg_status_t mg_store_open(apr_pool_t *p, const mg_store_url_t *u, mg_store_t **out,
                          const char **why)
{
    if (strcmp(u->scheme, "redis") == 0)
        return mg_store_redis_open(p, u, out, why);
    if (strcmp(u->scheme, "memcache") == 0)
        return mg_store_memcache_open(p, u, out, why);
    *why = "unknown store";
    return MG_EINVAL;
}

const char *mg_store_slot_key(apr_pool_t *p, const mg_store_t *st, const char *kid, const char *id,
                              int slot)
{
    return apr_psprintf(p, "%suse:%s:%s:%d", st->prefix, kid, id, slot);
}

const char *mg_store_rev_key(apr_pool_t *p, const mg_store_t *st, const char *id)
{
    return apr_pstrcat(p, st->prefix, "rev:", id, NULL);
}

const char *mg_store_epoch_key(apr_pool_t *p, const mg_store_t *st)
{
    return apr_pstrcat(p, st->prefix, "epoch", NULL);
}

const char *mg_store_tenure_key(apr_pool_t *p, const mg_store_t *st)
{
    return apr_pstrcat(p, st->prefix, "epoch:tenure", NULL);
}

mg_store_status_t mg_store_epoch_info(mg_store_t *st, int op, mg_store_epoch_info_t *out,
                                      apr_pool_t *p, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (st->ops->epoch == NULL) {
        *why = apr_psprintf(p, "a %s store keeps no epoch (redis:// and memcache:// do)",
                            st->ops->scheme);
        return MG_STORE_ERROR;
    }
    return st->ops->epoch(st, op, out, p, why);
}

apr_time_t mg_store_clock(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return apr_time_now();
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + (apr_time_t)(ts.tv_nsec / 1000);
}

int mg_store_gate_enter(mg_store_gate_t *g, apr_thread_mutex_t *lock, mg_store_gate_pass_t *pass)
{
    int go = 1;

    pass->t0 = mg_store_clock();
    pass->probe = 0;
    apr_thread_mutex_lock(lock);
    if (g->slow) {
        if (g->probing)
            go = 0;
        else
            g->probing = pass->probe = 1;
    }
    apr_thread_mutex_unlock(lock);
    return go;
}

void mg_store_gate_leave(mg_store_gate_t *g, apr_thread_mutex_t *lock,
                         const mg_store_gate_pass_t *pass, apr_interval_time_t timeout, int failed,
                         int slow)
{
    /* a failure that took the whole timeout is slow whatever it was (a
     * name lookup that stalled: the resolver has no deadline of ours) */
    int timed_out = failed && (slow || mg_store_clock() - pass->t0 >= timeout);

    apr_thread_mutex_lock(lock);
    if (pass->probe)
        g->probing = 0;
    /* any answer opens the gate; a timeout closes it, also one that began
     * before the gate closed */
    g->slow = timed_out;
    apr_thread_mutex_unlock(lock);
}

const char *mg_store_said(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = strcspn(s, "\r\n");
    char *e = apr_pstrmemdup(p, s, n < max ? n : max);

    for (char *c = e; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
    return e;
}

mg_store_status_t mg_store_retention(mg_store_t *st, apr_array_header_t **out,
                                     mg_store_keep_t *worst, apr_pool_t *p, const char **why)
{
    mg_store_status_t rv;

    *out = apr_array_make(p, 2, sizeof(mg_store_retention_t));
    *worst = MG_STORE_KEEPS;
    if (st->ops->retention == NULL) {
        *why = apr_psprintf(p, "a %s store cannot say whether it evicts", st->ops->scheme);
        return MG_STORE_ERROR;
    }
    if ((rv = st->ops->retention(st, *out, p, why)) != MG_STORE_OK)
        return rv;
    for (int i = 0; i < (*out)->nelts; i++) {
        mg_store_keep_t k = APR_ARRAY_IDX(*out, i, mg_store_retention_t).keeps;
        if (k > *worst)
            *worst = k;
    }
    return MG_STORE_OK;
}

mg_store_status_t mg_store_revoked(mg_store_t *st, const char *id, int *revoked, apr_pool_t *p,
                                   const char **why)
{
    char *val;
    mg_store_status_t rv = st->ops->get(st, mg_store_rev_key(p, st, id), &val, p, why);

    if (rv == MG_STORE_ERROR)
        return rv;
    *revoked = rv == MG_STORE_OK;
    return MG_STORE_OK;
}

/* A grant the walk decided on `key` (NEW, OWNER, FREE; USED too, for the
 * same answer as Redis's), on an engine that
 * keeps an epoch per server: the epoch of the server holding `key`, read
 * AFTER the add or get that decided. Why after: a server's epoch record is
 * lost with its other records, and a new one is only ever added after that
 * server (re)started, dated no earlier than its clock then. If the slot
 * operation ran on a server that had lost an earlier use of this link, the
 * record read afterwards — from that process or from one started later
 * still — is dated after the loss, hence after the use, hence after the
 * link's used_from: refused. Read before, a restart between the read and
 * the add would go unseen (the old epoch, then an empty server). */
static mg_store_status_t walk_epoch(mg_store_t *st, const mg_claim_t *c, const char *key, int rev,
                                    mg_claim_outcome_t *out, apr_pool_t *p, const char **why)
{
    mg_store_epoch_t *ep = c->epoch;
    apr_int64_t from;

    if (ep == NULL || st->ops->key_epoch == NULL)
        return MG_STORE_OK;
    if (st->ops->key_epoch(st, key, ep, p, why) != MG_STORE_OK)
        return MG_STORE_ERROR;
    /* the revocation key's server: since the link could have been revoked;
     * a slot's: since it could have been used */
    from = rev ? ep->rev_from : ep->used_from;
    if (ep->refuse && ep->since > 0 && (from <= 0 || from < ep->since + ep->margin))
        *out = MG_CLAIM_LOST;
    return MG_STORE_OK;
}

mg_store_status_t mg_store_check_revoked(mg_store_t *st, const char *id, mg_store_epoch_t *ep,
                                         mg_claim_outcome_t *out, apr_pool_t *p, const char **why)
{
    mg_claim_t c;
    int revoked, slot;

    memset(&c, 0, sizeof(c));
    c.kid = "-";
    c.id = id;
    c.addr = "-";
    c.ttl = 1;
    c.peek = 1;
    c.check_revoked = 1;
    c.epoch = ep;
    if (st->ops->claim != NULL) {
        /* no slot: the script checks the revocation and the epoch, and
         * answers USED for "nothing else to do" */
        if (st->ops->claim(st, &c, out, &slot, p, why) != MG_STORE_OK)
            return MG_STORE_ERROR;
        if (*out != MG_CLAIM_REVOKED && *out != MG_CLAIM_LOST)
            *out = MG_CLAIM_FREE;
        return MG_STORE_OK;
    }
    if (mg_store_revoked(st, id, &revoked, p, why) != MG_STORE_OK)
        return MG_STORE_ERROR;
    *out = revoked ? MG_CLAIM_REVOKED : MG_CLAIM_FREE;
    return revoked ? MG_STORE_OK : walk_epoch(st, &c, mg_store_rev_key(p, st, id), 1, out, p, why);
}

/* Whether the walk is past its bound (`until`, 0: none), *why then says
 * so: it starts no further slot. */
static int walk_late(mg_store_t *st, apr_time_t until, int walked, int uses, apr_pool_t *p,
                     const char **why)
{
    if (until == 0 || mg_store_clock() <= until)
        return 0;
    *why = apr_psprintf(p,
                        "%s: no answer within the timeout to the claim as a whole (%d times the "
                        "timeout; %d of %d slots walked)",
                        st->display, MG_STORE_WALK_FACTOR, walked, uses);
    return 1;
}

mg_store_status_t mg_store_claim(mg_store_t *st, const mg_claim_t *c, mg_claim_outcome_t *out,
                                 int *slot, apr_pool_t *p, const char **why)
{
    mg_store_status_t rv;
    int i, retries = 0, full = 0;
    const char *full_why = NULL;
    char **seen = NULL; /* the slots' owners as get_many read them */
    apr_time_t until = st->timeout > 0 ? mg_store_clock() + MG_STORE_WALK_FACTOR * st->timeout : 0;

    *slot = 0;
    if (c->uses < 1 || c->ttl < 1 || c->kid == NULL || c->id == NULL || c->addr == NULL ||
        strlen(c->addr) >= MG_STORE_VAL_MAX) {
        *why = "a claim without uses, lifetime, key id, token id or address";
        return MG_STORE_ERROR;
    }
    if (st->ops->claim != NULL)
        return st->ops->claim(st, c, out, slot, p, why);
    if (c->check_revoked) {
        int revoked;
        if ((rv = mg_store_revoked(st, c->id, &revoked, p, why)) != MG_STORE_OK)
            return rv;
        if (revoked) {
            *out = MG_CLAIM_REVOKED;
            return MG_STORE_OK;
        }
        /* its revocation may have been on a server that lost it since
         * (memcached: another server than the slots'): nothing claimed */
        *out = MG_CLAIM_FREE;
        if (walk_epoch(st, c, mg_store_rev_key(p, st, c->id), 1, out, p, why) != MG_STORE_OK)
            return MG_STORE_ERROR;
        if (*out == MG_CLAIM_LOST)
            return MG_STORE_OK;
    }
    if (st->ops->get_many != NULL && c->uses > 1) {
        /* After an add of slot 1 (a link's first claim costs what it did),
         * the slots' owners read at once: memcached, one round trip per
         * server where an add and a get per slot taken were (a used-up
         * 100-use link took 200). An address that owns one is its owner;
         * the walk below then skips the slots another address held when
         * read: a slot is never given back while its link lives, so an add
         * there could only fail. Both promises hold: a NEW is still only an
         * add that succeeded (at most N addresses), and two requests of one
         * address each walk up from slots free when they read, so the
         * later one meets the earlier one's slot (its add fails, its get
         * says the address) before any slot past it. FULL: read as EXISTS
         * (slot 1, if free when read, is added again below: FULL again) */
        const char **keys = apr_palloc(p, sizeof(*keys) * (apr_size_t)c->uses);
        for (i = 0; i < c->uses; i++)
            keys[i] = mg_store_slot_key(p, st, c->kid, c->id, i + 1);
        if (walk_late(st, until, 0, c->uses, p, why))
            return MG_STORE_ERROR;
        if (!c->peek) {
            rv = st->ops->add(st, keys[0], c->addr, c->ttl, p, why);
            if (rv == MG_STORE_OK) {
                *out = MG_CLAIM_NEW;
                *slot = 1;
                return walk_epoch(st, c, keys[0], 0, out, p, why);
            }
            if (rv == MG_STORE_ERROR)
                return MG_STORE_ERROR;
        }
        seen = apr_pcalloc(p, sizeof(*seen) * (apr_size_t)c->uses);
        if (st->ops->get_many(st, c->uses, keys, seen, until, p, why) != MG_STORE_OK)
            return MG_STORE_ERROR;
        for (i = 0; i < c->uses; i++)
            if (seen[i] != NULL && strcmp(seen[i], c->addr) == 0) {
                *out = MG_CLAIM_OWNER;
                *slot = i + 1;
                return walk_epoch(st, c, keys[i], 0, out, p, why);
            }
    }
    for (i = 1; i <= c->uses; i++) {
        const char *key = mg_store_slot_key(p, st, c->kid, c->id, i);
        char *owner;
        if (seen != NULL && seen[i - 1] != NULL)
            continue; /* another address's when read */
        full = 0;
        if (walk_late(st, until, i - 1, c->uses, p, why))
            return MG_STORE_ERROR;
        if (!c->peek) {
            rv = st->ops->add(st, key, c->addr, c->ttl, p, why);
            if (rv == MG_STORE_OK) {
                *out = MG_CLAIM_NEW;
                *slot = i;
                return walk_epoch(st, c, key, 0, out, p, why);
            }
            if (rv == MG_STORE_FULL) {
                /* a store that refuses rather than evicts: the slot's owner
                 * (a Range follow-up) is still known by a get; a free slot
                 * cannot be taken, which is an error below */
                full = 1;
                full_why = *why;
            } else if (rv != MG_STORE_EXISTS)
                return MG_STORE_ERROR;
        }
        rv = st->ops->get(st, key, &owner, p, why);
        if (rv == MG_STORE_NOTFOUND && full) {
            *why = full_why;
            return MG_STORE_ERROR;
        }
        if (rv == MG_STORE_NOTFOUND) {
            if (c->peek) {
                *out = MG_CLAIM_FREE;
                return walk_epoch(st, c, key, 0, out, p, why);
            }
            /* expired or evicted between add and get: the slot is free
             * again, and the next add decides who owns it; a store that
             * keeps saying both is broken */
            if (++retries > 3) {
                *why = "the store keeps answering 'exists' to add and 'not found' to get";
                return MG_STORE_ERROR;
            }
            i--;
            continue;
        }
        if (rv != MG_STORE_OK)
            return MG_STORE_ERROR;
        if (strcmp(owner, c->addr) == 0) {
            *out = MG_CLAIM_OWNER;
            *slot = i;
            return walk_epoch(st, c, key, 0, out, p, why);
        }
    }
    /* used up: checked too, so that a link from before the epoch is
     * refused as such (500) whoever took its slot since, as on Redis */
    *out = MG_CLAIM_USED;
    return walk_epoch(st, c, mg_store_slot_key(p, st, c->kid, c->id, c->uses), 0, out, p, why);
}
