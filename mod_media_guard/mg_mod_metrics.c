/* mg_mod_metrics.c — Prometheus metrics of mod_media_guard.
 *
 * Decision counters live in one anonymous shared-memory segment that the
 * parent creates in post_config, so every child (and every thread) of the
 * server adds to the same table: one 64-bit cell per policy name × outcome
 * × reason, plus one cell for policies beyond MG_MOD_METRICS_MAX_POLICIES.
 * Counting is one atomic add into a cell whose index was fixed at
 * configuration time (mg_mod_policy_t.metrics_slot): no allocation, no lock,
 * no lookup on the request path.
 *
 * The segment belongs to the configuration pool, so it is created anew on
 * every (graceful or full) restart and the counters start again from zero;
 * children of the previous generation that are still finishing requests keep
 * counting into the old segment, which nobody reads any more. Prometheus
 * treats a counter that went down as a reset (rate() and increase() handle
 * it), and mediaguard_counters_reset_time_seconds says when it happened.
 *
 * `SetHandler media-guard-metrics` serves the table in the Prometheus text
 * exposition format 0.0.4 (docs/directives.md, "Prometheus metrics"), but
 * only where `MediaGuardMetrics On` is in force: a directive httpd takes in
 * a <Location> only, never in .htaccess. SetHandler, AddHandler and
 * RewriteRule [H=] are all allowed in a .htaccess under AllowOverride
 * FileInfo, so the handler name alone would let any user with such a
 * directory (mod_userdir) publish the server's metrics under their own URL.
 */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

#define MG_MOD_METRICS_HANDLER "media-guard-metrics"
#define MG_MOD_METRICS_OUTCOMES 4 /* mg_outcome_t: deny allow login auth */
/* Rows in the table: bounds the segment (256 × 4 × MG_R__COUNT cells of 8
 * bytes, about 230 KB) whatever the configuration declares. */
#define MG_MOD_METRICS_MAX_POLICIES 256

typedef struct mg_mod_metrics {
    apr_shm_t *shm;
    volatile apr_uint64_t *cells; /* npol * OUTCOMES * MG_R__COUNT, then overflow */
    int npol;                     /* policy names with a row in the table */
    const char **names;           /* slot - 1 -> policy name, sorted bytewise */
    apr_array_header_t *policies; /* every distinct mg_mod_policy_t*, for the info */
    apr_time_t created;
} mg_mod_metrics_t;

/* This generation's table (in pconf); reset in pre_config because the DSO
 * may stay loaded across a restart whose post_config fails to create it. */
static mg_mod_metrics_t *metrics;

static apr_size_t cell_index(int slot, int outcome, int reason)
{
    return ((apr_size_t)(slot - 1) * MG_MOD_METRICS_OUTCOMES + (apr_size_t)outcome) * MG_R__COUNT +
           (apr_size_t)reason;
}

static apr_size_t overflow_index(const mg_mod_metrics_t *mt)
{
    return (apr_size_t)mt->npol * MG_MOD_METRICS_OUTCOMES * MG_R__COUNT;
}

/* After the overflow cell: the claim store's counters and its state. */
enum { STORE_OPS, STORE_ERRORS, STORE_INCIDENTS, STORE_DOWN, STORE_RETENTION_SAID, STORE__CELLS };

static apr_size_t store_index(const mg_mod_metrics_t *mt, int which)
{
    return overflow_index(mt) + 1 + (apr_size_t)which;
}

int mg_mod_metrics_store_result(int failed, int *local_down)
{
    mg_mod_metrics_t *mt = metrics;
    volatile apr_uint64_t *down;

    if (mt == NULL) {
        int changed = *local_down != failed;
        *local_down = failed;
        return changed;
    }
    apr_atomic_inc64(&mt->cells[store_index(mt, STORE_OPS)]);
    if (failed)
        apr_atomic_inc64(&mt->cells[store_index(mt, STORE_ERRORS)]);
    down = &mt->cells[store_index(mt, STORE_DOWN)];
    /* exactly one process wins the flip, so one line per incident */
    if (apr_atomic_cas64(down, failed ? 1 : 0, failed ? 0 : 1) != (failed ? 0u : 1u))
        return 0;
    if (failed)
        apr_atomic_inc64(&mt->cells[store_index(mt, STORE_INCIDENTS)]);
    return 1;
}

int mg_mod_metrics_store_retention_first(int *local_said, int answer)
{
    mg_mod_metrics_t *mt = metrics;
    apr_uint64_t bit = (apr_uint64_t)1 << answer, was;
    volatile apr_uint64_t *cell;

    if (mt == NULL) {
        int first = !(*local_said & (int)bit);
        *local_said |= (int)bit;
        return first;
    }
    /* one bit per answer: the first process of this generation to get an
     * answer says it, and a different answer later (CONFIG SET by an admin,
     * a server of several that differs) is said too, once */
    cell = &mt->cells[store_index(mt, STORE_RETENTION_SAID)];
    do {
        was = apr_atomic_read64(cell);
        if (was & bit)
            return 0;
    } while (apr_atomic_cas64(cell, was | bit, was) != was);
    return 1;
}

void mg_mod_metrics_count(const mg_mod_policy_t *mp, mg_outcome_t outcome, mg_reason_t reason)
{
    mg_mod_metrics_t *mt = metrics;
    int slot = mp ? mp->metrics_slot : 0;

    if (mt == NULL)
        return;
    if (slot < 1 || slot > mt->npol) {
        apr_atomic_inc64(&mt->cells[overflow_index(mt)]);
        return;
    }
    /* the same fallbacks as the decision line: unknown values deny */
    if ((int)outcome < 0 || (int)outcome >= MG_MOD_METRICS_OUTCOMES)
        outcome = MG_OUTCOME_DENY;
    if ((int)reason < 0 || (int)reason >= MG_R__COUNT)
        reason = MG_R_INTERNAL;
    apr_atomic_inc64(&mt->cells[cell_index(slot, (int)outcome, (int)reason)]);
}

/* ------------------------------------------------------------------ */
/* configuration time                                                   */
/* ------------------------------------------------------------------ */

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    metrics = NULL;
    return OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The policies and names the configuration declares, each once. */
typedef struct declared {
    apr_pool_t *ptemp;
    apr_hash_t *seen;             /* mg_mod_policy_t* -> itself */
    apr_hash_t *named;            /* NAME -> int* slot (0 = none) */
    apr_array_header_t *names;    /* of const char* */
    apr_array_header_t *policies; /* of mg_mod_policy_t* */
} declared_t;

static void declare(void *ctx, server_rec *s, mg_mod_policy_t *mp)
{
    declared_t *dl = ctx;
    (void)s;
    if (apr_hash_get(dl->seen, &mp, sizeof(mp)) != NULL)
        return;
    apr_hash_set(dl->seen, apr_pmemdup(dl->ptemp, &mp, sizeof(mp)), sizeof(mp), mp);
    APR_ARRAY_PUSH(dl->policies, mg_mod_policy_t *) = mp;
    if (apr_hash_get(dl->named, mp->name, APR_HASH_KEY_STRING) == NULL) {
        apr_hash_set(dl->named, mp->name, APR_HASH_KEY_STRING, apr_pcalloc(dl->ptemp, sizeof(int)));
        APR_ARRAY_PUSH(dl->names, const char *) = mp->name;
    }
}

/* post_config: give every declared policy NAME a row (the first
 * MG_MOD_METRICS_MAX_POLICIES names in byte order; a NAME declared in
 * several virtual hosts shares one row) and create the shared table. A
 * failure only disables metrics: post_config must not stop a graceful
 * restart. */
static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *named = apr_hash_make(ptemp); /* NAME -> int* slot (0 = none) */
    apr_array_header_t *names = apr_array_make(ptemp, 16, sizeof(const char *));
    apr_array_header_t *policies = apr_array_make(pconf, 16, sizeof(mg_mod_policy_t *));
    declared_t dl;
    mg_mod_metrics_t *mt;
    apr_size_t ncells;
    apr_status_t rv;
    int i, npol;

    /* the first pass at startup only checks the configuration: its pool is
     * cleared before the server runs */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;

    dl.ptemp = ptemp;
    dl.seen = apr_hash_make(ptemp);
    dl.named = named;
    dl.names = names;
    dl.policies = policies;
    mg_mod_each_policy(s, ptemp, declare, &dl);
    qsort(names->elts, (size_t)names->nelts, sizeof(const char *), cmp_names);
    npol = names->nelts < MG_MOD_METRICS_MAX_POLICIES ? names->nelts : MG_MOD_METRICS_MAX_POLICIES;
    if (names->nelts > MG_MOD_METRICS_MAX_POLICIES)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     MG_LOGNO(00501) "media-guard metrics: %d policy names are "
                                     "declared; decisions of the %d "
                                     "after '%s' (byte order) are counted in "
                                     "mediaguard_decisions_unlisted_total only",
                     names->nelts, names->nelts - npol,
                     APR_ARRAY_IDX(names, npol - 1, const char *));

    mt = apr_pcalloc(pconf, sizeof(*mt));
    mt->npol = npol;
    mt->names = apr_pcalloc(pconf, sizeof(const char *) * (apr_size_t)(npol + 1));
    for (i = 0; i < npol; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        mt->names[i] = name;
        *(int *)apr_hash_get(named, name, APR_HASH_KEY_STRING) = i + 1;
    }
    /* names beyond the cap keep slot 0: counted as unlisted */
    for (i = 0; i < policies->nelts; i++) {
        mg_mod_policy_t *mp = APR_ARRAY_IDX(policies, i, mg_mod_policy_t *);
        mp->metrics_slot = *(int *)apr_hash_get(named, mp->name, APR_HASH_KEY_STRING);
    }
    mt->policies = policies;

    ncells = overflow_index(mt) + 1 + STORE__CELLS;
    rv = apr_shm_create(&mt->shm, ncells * sizeof(apr_uint64_t), NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     MG_LOGNO(00502) "media-guard metrics: cannot create the shared counters "
                                     "(%" APR_SIZE_T_FMT " bytes); the metrics handler answers 503",
                     ncells * sizeof(apr_uint64_t));
        return OK;
    }
    mt->cells = apr_shm_baseaddr_get(mt->shm);
    /* an anonymous mapping is zero-filled, but say so rather than rely on it */
    memset((void *)mt->cells, 0, ncells * sizeof(apr_uint64_t));
    mt->created = apr_time_now();
    metrics = mt;
    return OK;
}

/* ------------------------------------------------------------------ */
/* the handler                                                          */
/* ------------------------------------------------------------------ */

const char *mg_mod_cmd_metrics(cmd_parms *cmd, void *dconf, int flag)
{
    mg_mod_dir_conf_t *dc = dconf;
    /* ACCESS_CONF already keeps it out of the server context and .htaccess;
     * a <Directory> would reach every .htaccess below it */
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIRECTORY | NOT_IN_FILES | NOT_IN_PROXY);

    if (err != NULL)
        return apr_pstrcat(cmd->pool, err,
                           ": put it in the <Location> of the metrics endpoint only", NULL);
    dc->metrics = flag ? 1 : 0;
    return NULL;
}

/* A label value as the exposition format wants it: backslash, double quote
 * and newline escaped. Policy names cannot contain them today (see
 * MediaGuardPolicy), but the output must stay parseable whatever a future
 * name or reason looks like. */
static const char *label(apr_pool_t *p, const char *v)
{
    size_t n = 0;
    const char *s;
    char *out, *o;

    for (s = v; *s; s++)
        n += (*s == '\\' || *s == '"' || *s == '\n') ? 2 : 1;
    if (n == (size_t)(s - v))
        return v;
    out = o = apr_palloc(p, n + 1);
    for (s = v; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *o++ = '\\';
            *o++ = *s;
        } else if (*s == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static void header(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void print_decisions(request_rec *r, const mg_mod_metrics_t *mt)
{
    int slot, o, reason;

    header(r, "mediaguard_decisions_total", "counter",
           "Decisions of media-guard policies since the counters were created, by policy, "
           "decision and reason (series that are still zero are left out).");
    for (slot = 1; slot <= mt->npol; slot++) {
        const char *pol = label(r->pool, mt->names[slot - 1]);
        for (o = 0; o < MG_MOD_METRICS_OUTCOMES; o++) {
            for (reason = 0; reason < MG_R__COUNT; reason++) {
                apr_uint64_t n = apr_atomic_read64(&mt->cells[cell_index(slot, o, reason)]);
                const char *rn = mg_reason_name((mg_reason_t)reason);
                if (n == 0)
                    continue;
                ap_rprintf(
                    r,
                    "mediaguard_decisions_total{policy=\"%s\",decision=\"%s\",reason=\"%s\"} "
                    "%" APR_UINT64_T_FMT "\n",
                    pol, label(r->pool, mg_outcome_name((mg_outcome_t)o)),
                    label(r->pool, rn ? rn : "internal-error"), n);
            }
        }
    }
    header(r, "mediaguard_decisions_unlisted_total", "counter",
           "Decisions of policies whose names come after the first " APR_STRINGIFY(
               MG_MOD_METRICS_MAX_POLICIES) " in byte order (not broken down).");
    ap_rprintf(r, "mediaguard_decisions_unlisted_total %" APR_UINT64_T_FMT "\n",
               apr_atomic_read64(&mt->cells[overflow_index(mt)]));
}

/* One info series per distinct (name, digest, last_good): a NAME declared
 * in several virtual hosts may have several; `loaded` is 0 for a NAME when
 * any of its declarations serves nothing. */
static void print_policies(request_rec *r, const mg_mod_metrics_t *mt)
{
    apr_hash_t *info = apr_hash_make(r->pool), *loaded = apr_hash_make(r->pool);
    apr_array_header_t *names = apr_array_make(r->pool, 16, sizeof(const char *));
    int i;

    header(r, "mediaguard_policy_info", "gauge",
           "The compiled policy in force: SHA-256 digest of its canonical form (as printed by "
           "mgctl compile) and whether it is the last good version kept because its file was "
           "refused on a graceful reload.");
    for (i = 0; i < mt->policies->nelts; i++) {
        const mg_mod_policy_t *mp = APR_ARRAY_IDX(mt->policies, i, const mg_mod_policy_t *);
        const char *line, *digest;
        int *up = apr_hash_get(loaded, mp->name, APR_HASH_KEY_STRING);

        if (up == NULL) {
            up = apr_palloc(r->pool, sizeof(*up));
            *up = 1;
            apr_hash_set(loaded, mp->name, APR_HASH_KEY_STRING, up);
            APR_ARRAY_PUSH(names, const char *) = mp->name;
        }
        if (mp->policy == NULL) {
            *up = 0;
            continue;
        }
        digest = mg_policy_digest(mp->policy);
        line = apr_psprintf(r->pool,
                            "mediaguard_policy_info{policy=\"%s\",digest=\"sha256:%s\","
                            "last_good=\"%d\"} 1\n",
                            label(r->pool, mp->name), label(r->pool, digest ? digest : ""),
                            mp->stale ? 1 : 0);
        if (apr_hash_get(info, line, APR_HASH_KEY_STRING) != NULL)
            continue;
        apr_hash_set(info, line, APR_HASH_KEY_STRING, line);
        ap_rputs(line, r);
    }
    header(r, "mediaguard_policy_loaded", "gauge",
           "1 when the policy decides requests, 0 when every request under it fails with 500 "
           "(refused on reload with no good version to keep, or MediaGuardReloadFailure deny).");
    qsort(names->elts, (size_t)names->nelts, sizeof(const char *), cmp_names);
    for (i = 0; i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        const int *up = apr_hash_get(loaded, name, APR_HASH_KEY_STRING);
        ap_rprintf(r, "mediaguard_policy_loaded{policy=\"%s\"} %d\n", label(r->pool, name), *up);
    }
}

static int handler(request_rec *r)
{
    const mg_mod_metrics_t *mt = metrics;
    const mg_mod_dir_conf_t *dc;
    int rc;

    /* every request passes here: the first byte rules out nearly all */
    if (r->handler == NULL || r->handler[0] != MG_MOD_METRICS_HANDLER[0] ||
        strcmp(r->handler, MG_MOD_METRICS_HANDLER) != 0)
        return DECLINED;
    /* the handler name can come from a .htaccess; MediaGuardMetrics cannot */
    dc = ap_get_module_config(r->per_dir_config, &media_guard_module);
    if (dc == NULL || dc->metrics != 1) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      MG_LOGNO(00504) "media-guard metrics: handler set for %s where "
                                      "MediaGuardMetrics On is not in force (it belongs in the "
                                      "<Location> of the endpoint; a .htaccess cannot set it): "
                                      "refused",
                      ap_escape_logitem(r->pool, r->uri));
        return HTTP_FORBIDDEN;
    }
    /* the Allow header of a 405 is built from allowed_methods, not r->allowed */
    r->allowed = (AP_METHOD_BIT << M_GET);
    ap_allow_methods(r, REPLACE_ALLOW, "GET", "HEAD", NULL);
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    if ((rc = ap_discard_request_body(r)) != OK)
        return rc;
    if (mt == NULL) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            MG_LOGNO(00503) "media-guard metrics: no shared counters in this generation (see the "
                            "error logged at startup)");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only)
        return OK;
    print_decisions(r, mt);
    print_policies(r, mt);
    header(r, "mediaguard_store_operations_total", "counter",
           "Claim store operations (one per request that needed MediaGuardStore or "
           "MediaGuardOnceCache: a claim or a revocation lookup).");
    ap_rprintf(r, "mediaguard_store_operations_total %" APR_UINT64_T_FMT "\n",
               apr_atomic_read64(&mt->cells[store_index(mt, STORE_OPS)]));
    header(r, "mediaguard_store_errors_total", "counter",
           "Claim store operations that failed (no answer within the timeout, refused "
           "connection, unexpected answer); each refused its request with 500 internal-error.");
    ap_rprintf(r, "mediaguard_store_errors_total %" APR_UINT64_T_FMT "\n",
               apr_atomic_read64(&mt->cells[store_index(mt, STORE_ERRORS)]));
    header(r, "mediaguard_store_incidents_total", "counter",
           "Times the claim store went from answering to failing (one error-log line each).");
    ap_rprintf(r, "mediaguard_store_incidents_total %" APR_UINT64_T_FMT "\n",
               apr_atomic_read64(&mt->cells[store_index(mt, STORE_INCIDENTS)]));
    header(r, "mediaguard_store_up", "gauge",
           "0 while the last claim store operation failed, else 1.");
    ap_rprintf(r, "mediaguard_store_up %d\n",
               apr_atomic_read64(&mt->cells[store_index(mt, STORE_DOWN)]) ? 0 : 1);
    header(r, "mediaguard_counters_reset_time_seconds", "gauge",
           "Unix time at which the decision counters were created (server start or restart: "
           "they start from zero on every restart).");
    ap_rprintf(r,
               "mediaguard_counters_reset_time_seconds %" APR_TIME_T_FMT ".%06" APR_TIME_T_FMT "\n",
               apr_time_sec(mt->created), apr_time_usec(mt->created));
    return OK;
}

void mg_mod_metrics_register(apr_pool_t *p)
{
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
}
