/* mg_bench.c — benchmark driver for libmg (bench/run; bench/README.md).
 *
 *   mg_bench load   -p POLICY [-r RUNS]
 *       load and compile POLICY RUNS times (fresh pool each time) and print
 *       every wall time, their median and the median CPU time in
 *       milliseconds (P4).
 *   mg_bench decide -p POLICY -k KEYFILE -i KID -d DIR [-n K] [-l LINKS]
 *       sign LINKS+1 links DIR/img-NNNNNN.jpg with the key, make one warm-up
 *       decision, then K full decisions exactly as mod_media_guard makes them
 *       (mg_request_prepare: canonicalise, parse, classify; mg_evaluate:
 *       match, check, verify the token) in a request pool cleared between
 *       requests (P2). Decision i uses link i % LINKS: LINKS 1 repeats one
 *       link (an Ed25519 signature then comes from the verification cache),
 *       LINKS >= K makes every decision verify a new signature. Prints the
 *       wall and CPU time per decision (meaningful in native runs only).
 *
 * Everything before the decision loop is the same whatever K is, so
 * callgrind's totals for K = 0 and K = N differ by exactly N decisions; the
 * loop lives in bench_decide() so that --toggle-collect can profile it
 * alone. Every decision must allow (reason allowed-by-token), or the driver
 * exits 1: a benchmark that measured refusals would measure the wrong thing.
 * Not a test: nothing here is timed against a threshold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "mg.h"
#include "mg_keys.h"
#include "mg_token.h"

#define BENCH_NOW 1790000000 /* a fixed instant: runs are reproducible */
#define BENCH_TTL 3600
#define BENCH_MAX_LINKS 1000000
#define BENCH_MAX_RUNS 1000

typedef struct link {
    const char *path;  /* raw path as a client sends it */
    const char *query; /* raw query */
} link_t;

static void usage(void)
{
    fputs("usage: mg_bench load -p POLICY [-r RUNS]\n"
          "       mg_bench decide -p POLICY -k KEYFILE -i KID -d DIR [-n K] [-l LINKS]\n",
          stderr);
}

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* CPU time of this process: on a shared machine, wall time also counts
 * the time spent waiting for a core */
static double cpu_ms(void)
{
    return clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_diags(const mg_diags_t *diags)
{
    for (int i = 0; diags->items != NULL && i < diags->items->nelts; i++) {
        const mg_diag_t *d = &APR_ARRAY_IDX(diags->items, i, mg_diag_t);
        if (d->severity == MG_SEV_ERROR)
            fprintf(stderr, "mg_bench: %s\n", mg_diag_format(diags->pool, d));
    }
}

__attribute__((noinline)) static mg_policy_t *load_policy(apr_pool_t *pool, const char *path)
{
    mg_diags_t *diags = mg_diags_make(pool);
    mg_policy_t *policy = NULL;
    if (mg_policy_load_file(pool, path, &policy, diags) != MG_OK) {
        print_diags(diags);
        fprintf(stderr, "mg_bench: %s: the policy does not load\n", path);
        return NULL;
    }
    return policy;
}

/* ------------------------------------------------------------------ P4 */

static int cmd_load(apr_pool_t *pool, const char *path, int runs)
{
    double *t = apr_pcalloc(pool, sizeof(*t) * (size_t)runs);
    double *c = apr_pcalloc(pool, sizeof(*c) * (size_t)runs);
    const char *name = NULL;
    for (int i = 0; i < runs; i++) {
        apr_pool_t *p;
        apr_pool_create(&p, pool);
        double t0 = now_ms(), c0 = cpu_ms();
        mg_policy_t *policy = load_policy(p, path);
        t[i] = now_ms() - t0;
        c[i] = cpu_ms() - c0;
        if (policy == NULL)
            return 1;
        if (i == 0)
            name = apr_pstrdup(pool, mg_policy_name(policy));
        apr_pool_destroy(p);
    }
    printf("policy %s runs %d times_ms", name, runs);
    for (int i = 0; i < runs; i++)
        printf(" %.2f", t[i]);
    qsort(t, (size_t)runs, sizeof(*t), cmp_double);
    qsort(c, (size_t)runs, sizeof(*c), cmp_double);
    printf("\nmedian_ms %.2f min_ms %.2f max_ms %.2f cpu_median_ms %.2f\n", t[runs / 2], t[0],
           t[runs - 1], c[runs / 2]);
    return 0;
}

/* ------------------------------------------------------------------ P2 */

/* The request view mod_media_guard builds for a plain browser GET. */
static void fill_request(mg_request_t *req, const link_t *l)
{
    memset(req, 0, sizeof(*req));
    req->method = "GET";
    req->raw_path = l->path;
    req->query = l->query;
    req->host = "127.0.0.1:8080";
    req->scheme = "http";
    req->client_ip = "127.0.0.1";
    req->peer_ip = "127.0.0.1";
    req->now = apr_time_from_sec(BENCH_NOW);
    req->accept = "*/*";
}

static int decide_one(apr_pool_t *rp, const mg_policy_t *policy, const link_t *l)
{
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;

    fill_request(&req, l);
    (void)mg_request_prepare(rp, policy, &req, &why);
    memset(&d, 0, sizeof(d));
    mg_evaluate(rp, policy, &req, 0, &d);
    if (d.outcome != MG_OUTCOME_ALLOW || d.reason != MG_R_ALLOWED_BY_TOKEN) {
        fprintf(stderr, "mg_bench: %s?%s: %s [%s] %s\n", l->path, l->query,
                mg_outcome_name(d.outcome), mg_reason_name(d.reason), d.detail ? d.detail : "");
        return 0;
    }
    return 1;
}

/* The measured loop: K decisions, one request pool cleared per request as
 * httpd does. Kept out of line for callgrind --toggle-collect. */
__attribute__((noinline)) static long bench_decide(apr_pool_t *rp, const mg_policy_t *policy,
                                                   const link_t *links, long nlinks, long k)
{
    long ok = 0;
    for (long i = 0; i < k; i++) {
        apr_pool_clear(rp);
        ok += decide_one(rp, policy, &links[i % nlinks]);
    }
    return ok;
}

static int cmd_decide(apr_pool_t *pool, const char *ppath, const char *keyfile, const char *kid,
                      const char *dir, long k, long nlinks)
{
    mg_policy_t *policy = load_policy(pool, ppath);
    if (policy == NULL)
        return 1;
    mg_key_t *key = NULL;
    int insecure = 0;
    const char *why = NULL;
    if (mg_key_load_file(pool, kid, MG_ALG_NONE, keyfile, &key, &insecure, &why) != MG_OK) {
        fprintf(stderr, "mg_bench: %s: %s\n", keyfile, why);
        return 1;
    }
    mg_token_claims_t c;
    memset(&c, 0, sizeof(c));
    c.expires = apr_time_from_sec(BENCH_NOW + BENCH_TTL);

    /* links[nlinks] is the warm-up link, never used in the loop */
    link_t *links = apr_pcalloc(pool, sizeof(*links) * (size_t)(nlinks + 1));
    for (long i = 0; i <= nlinks; i++) {
        const char *url = apr_psprintf(pool, "%simg-%06ld.jpg", dir, i), *signed_url = NULL;
        if (mg_token_sign_url(pool, key, url, &c, &signed_url, &why) != MG_OK) {
            fprintf(stderr, "mg_bench: cannot sign %s: %s\n", url, why);
            return 1;
        }
        const char *q = strchr(signed_url, '?');
        links[i].path = apr_pstrmemdup(pool, signed_url, (apr_size_t)(q - signed_url));
        links[i].query = q + 1;
    }

    apr_pool_t *rp;
    apr_pool_create(&rp, pool);
    /* the first MAC or verification of a process is far dearer than the
     * rest (OpenSSL's lazy initialisation); the module warms up in
     * child_init, so does the benchmark */
    mg_keys_warm_up(policy);
    if (!decide_one(rp, policy, &links[nlinks]))
        return 1;

    double t0 = now_ms(), c0 = cpu_ms();
    long ok = bench_decide(rp, policy, links, nlinks, k);
    double ms = now_ms() - t0, cms = cpu_ms() - c0;
    /* times are for native runs; under callgrind only the counts mean anything */
    double per = k > 0 ? 1e6 / (double)k : 0.0;
    printf("policy %s key %s decisions %ld allowed %ld links %ld ns_per_decision %.0f "
           "cpu_ns_per_decision %.0f\n",
           mg_policy_name(policy), kid, k, ok, nlinks, ms * per, cms * per);
    return ok == k ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *policy = NULL, *keyfile = NULL, *kid = NULL, *dir = NULL;
    long k = 1000, nlinks = 1;
    int runs = 9, opt, rc;

    if (argc < 2) {
        usage();
        return 2;
    }
    const char *cmd = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "p:k:i:d:n:l:r:")) != -1) {
        switch (opt) {
        case 'p':
            policy = optarg;
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 'i':
            kid = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'n':
            k = strtol(optarg, NULL, 10);
            break;
        case 'l':
            nlinks = strtol(optarg, NULL, 10);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (policy == NULL || k < 0 || nlinks < 1 || nlinks > BENCH_MAX_LINKS || runs < 1 ||
        runs > BENCH_MAX_RUNS) {
        usage();
        return 2;
    }
    if (apr_app_initialize(&argc, (const char *const **)&argv, NULL) != APR_SUCCESS) {
        fputs("mg_bench: cannot initialise APR\n", stderr);
        return 2;
    }
    apr_pool_t *pool;
    apr_pool_create(&pool, NULL);
    if (strcmp(cmd, "load") == 0) {
        rc = cmd_load(pool, policy, runs);
    } else if (strcmp(cmd, "decide") == 0 && keyfile && kid && dir && dir[0] == '/') {
        rc = cmd_decide(pool, policy, keyfile, kid, dir, k, nlinks);
    } else {
        usage();
        rc = 2;
    }
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
