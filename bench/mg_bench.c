/* mg_bench.c — benchmark driver for libmg (bench/run; bench/README.md).
 *
 *   mg_bench load   -p POLICY [-r RUNS]
 *       load and compile POLICY RUNS times (fresh pool each time) and print
 *       every wall time, their median and the median CPU time in
 *       milliseconds (P4).
 *   mg_bench decide -p POLICY -k KEYFILE -i KID -d DIR [-n K] [-l LINKS] [-a]
 *                   [-c COOKIEFILE]
 *       sign LINKS+1 links DIR/img-NNNNNN.jpg with the key, make one warm-up
 *       decision, then K full decisions exactly as mod_media_guard makes them
 *       (mg_request_prepare: canonicalise, parse, classify; mg_evaluate:
 *       match, check, verify the token) in a request pool cleared between
 *       requests (P2). Decision i uses link i % LINKS: LINKS 1 repeats one
 *       link (an Ed25519 signature then comes from the verification cache),
 *       LINKS >= K makes every decision verify a new signature. Prints the
 *       wall and CPU time per decision (meaningful in native runs only),
 *       then with -a (P2a) the same K decisions and K bare HMACs of the link's string
 *       to sign (mg_key_sign, the pre-keyed HMAC a decision runs) in
 *       alternating slices in this process, and the ratio of their CPU times.
 *       With -c every request also carries the first line of COOKIEFILE as
 *       its Cookie header (bench/cookie-browser.txt: what the cookie check,
 *       mg_cookie_reserved_check, costs on a browser's cookies).
 *   mg_bench hmac   -k KEYFILE -i KID -d DIR -v VARIANT [-n K]
 *       K HMAC-SHA256s of the string to sign of DIR/img-000000.jpg through
 *       one way of using OpenSSL (VARIANT: lib = mg_key_sign, mac-reinit =
 *       EVP_MAC_init of a per-thread keyed EVP_MAC_CTX, mac-dup =
 *       EVP_MAC_CTX_dup of a keyed context, q-mac = EVP_Q_mac, md-fresh =
 *       EVP_DigestInit_ex2 and both padded key blocks per MAC, all = each
 *       in turn natively); every tag is checked against EVP_Q_mac. The
 *       loop of variant X is cand_X() for callgrind --toggle-collect.
 *   mg_bench sign   -k KEYFILE -i KID [-r RUNS] < PATHS
 *       (P3) the bare HMAC throughput over the strings to sign that
 *       `mgctl sign` makes of the same paths: the strings are built first,
 *       then RUNS timed passes of mg_key_sign over all of them; prints the
 *       median passes' HMACs per second of wall and of CPU time.
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

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

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
          "       mg_bench decide -p POLICY -k KEYFILE -i KID -d DIR [-n K] [-l LINKS] [-a]\n"
          "                       [-c COOKIEFILE]\n"
          "       mg_bench hmac -k KEYFILE -i KID -d DIR -v VARIANT [-n K]\n"
          "       mg_bench sign -k KEYFILE -i KID [-r RUNS] < PATHS\n",
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

/* The request view mod_media_guard builds for a plain browser GET; cookie
 * is its Cookie header or NULL. */
static void fill_request(mg_request_t *req, const link_t *l, const char *cookie)
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
    req->cookie = cookie;
}

static int decide_one(apr_pool_t *rp, const mg_policy_t *policy, const link_t *l,
                      const char *cookie)
{
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;

    fill_request(&req, l, cookie);
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
                                                   const link_t *links, long nlinks, long k,
                                                   const char *cookie)
{
    long ok = 0;
    for (long i = 0; i < k; i++) {
        apr_pool_clear(rp);
        ok += decide_one(rp, policy, &links[i % nlinks], cookie);
    }
    return ok;
}

/* ------------------------------------------------------------------ P2a */

#define P2A_SLICES 9

/* The bare pre-keyed HMAC of a decision: K mg_key_sign of one string. */
__attribute__((noinline)) static long bench_hmac(const mg_key_t *key, const char *sts, long k)
{
    unsigned char sig[MG_SIG_MAX];
    size_t n = 0;
    long ok = 0;
    size_t len = strlen(sts);
    for (long i = 0; i < k; i++)
        ok += mg_key_sign(key, (const unsigned char *)sts, len, sig, &n) == MG_OK;
    return ok;
}

/* P2a: decisions and bare HMACs over the same string to sign, in
 * alternating slices (a drift of the machine's load falls on both), CPU
 * time of each; the figure is the median over slices of their ratio. */
static int p2a(apr_pool_t *pool, apr_pool_t *rp, const mg_policy_t *policy, const mg_key_t *key,
               const link_t *l, long k)
{
    mg_token_claims_t c;
    const char *why = NULL, *sts = NULL;
    memset(&c, 0, sizeof(c));
    c.expires = apr_time_from_sec(BENCH_NOW + BENCH_TTL);
    const char *url = apr_pstrcat(pool, l->path, NULL);
    if (mg_token_string_to_sign(pool, key, url, &c, &sts, &why) != MG_OK) {
        fprintf(stderr, "mg_bench: string to sign: %s\n", why);
        return 0;
    }
    long per = k / P2A_SLICES;
    double d[P2A_SLICES], h[P2A_SLICES], r[P2A_SLICES];
    for (int i = 0; i < P2A_SLICES; i++) {
        double c0 = cpu_ms();
        if (bench_decide(rp, policy, l, 1, per, NULL) != per)
            return 0;
        double c1 = cpu_ms();
        if (bench_hmac(key, sts, per) != per)
            return 0;
        double c2 = cpu_ms();
        d[i] = (c1 - c0) * 1e6 / (double)per;
        h[i] = (c2 - c1) * 1e6 / (double)per;
        r[i] = d[i] / h[i];
    }
    printf("p2a slices %d per_slice %ld sts_bytes %zu ratios", P2A_SLICES, per, strlen(sts));
    for (int i = 0; i < P2A_SLICES; i++)
        printf(" %.3f", r[i]);
    qsort(d, P2A_SLICES, sizeof(double), cmp_double);
    qsort(h, P2A_SLICES, sizeof(double), cmp_double);
    qsort(r, P2A_SLICES, sizeof(double), cmp_double);
    printf("\np2a_ratio %.3f min %.3f max %.3f decision_cpu_ns %.0f hmac_cpu_ns %.0f\n",
           r[P2A_SLICES / 2], r[0], r[P2A_SLICES - 1], d[P2A_SLICES / 2], h[P2A_SLICES / 2]);
    return 1;
}

/* ------------------------------------------------------------------ HMAC candidates */

typedef struct cand {
    const mg_key_t *key;
    unsigned char secret[64];
    size_t secret_len;
    const unsigned char *msg;
    size_t len;
    EVP_MAC *mac;
    EVP_MAC_CTX *keyed; /* mac-reinit: this thread's keyed context */
    EVP_MAC_CTX *tmpl;  /* mac-dup: the keyed template, never finalised */
    EVP_MD *md;
    EVP_MD_CTX *mdctx;
    unsigned char want[32];
} cand_t;

static int cand_check(const cand_t *c, const unsigned char *tag, size_t n)
{
    return n == 32 && memcmp(tag, c->want, 32) == 0;
}

__attribute__((noinline)) static long cand_lib(const cand_t *c, long k)
{
    unsigned char t[MG_SIG_MAX];
    size_t n = 0;
    long ok = 0;
    for (long i = 0; i < k; i++)
        ok += mg_key_sign(c->key, c->msg, c->len, t, &n) == MG_OK && cand_check(c, t, n);
    return ok;
}

__attribute__((noinline)) static long cand_mac_reinit(const cand_t *c, long k)
{
    unsigned char t[32];
    size_t n = 0;
    long ok = 0;
    for (long i = 0; i < k; i++)
        ok += EVP_MAC_init(c->keyed, NULL, 0, NULL) && EVP_MAC_update(c->keyed, c->msg, c->len) &&
              EVP_MAC_final(c->keyed, t, &n, sizeof(t)) && cand_check(c, t, n);
    return ok;
}

__attribute__((noinline)) static long cand_mac_dup(const cand_t *c, long k)
{
    unsigned char t[32];
    size_t n = 0;
    long ok = 0;
    for (long i = 0; i < k; i++) {
        EVP_MAC_CTX *x = EVP_MAC_CTX_dup(c->tmpl);
        ok += x != NULL && EVP_MAC_update(x, c->msg, c->len) &&
              EVP_MAC_final(x, t, &n, sizeof(t)) && cand_check(c, t, n);
        EVP_MAC_CTX_free(x);
    }
    return ok;
}

__attribute__((noinline)) static long cand_q_mac(const cand_t *c, long k)
{
    unsigned char t[32];
    size_t n = 0;
    long ok = 0;
    for (long i = 0; i < k; i++)
        ok += EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, c->secret, c->secret_len, c->msg,
                        c->len, t, sizeof(t), &n) != NULL &&
              cand_check(c, t, n);
    return ok;
}

/* RFC 2104 from scratch per MAC: no state kept but the key (two more
 * blocks per MAC than a pre-keyed state, no context copy) */
__attribute__((noinline)) static long cand_md_fresh(const cand_t *c, long k)
{
    unsigned char t[32], inner[32], ipad[64], opad[64];
    unsigned int n = 0;
    long ok = 0;
    memset(ipad, 0x36, sizeof(ipad));
    memset(opad, 0x5c, sizeof(opad));
    for (size_t i = 0; i < c->secret_len; i++) {
        ipad[i] ^= c->secret[i];
        opad[i] ^= c->secret[i];
    }
    for (long i = 0; i < k; i++)
        ok += EVP_DigestInit_ex2(c->mdctx, c->md, NULL) && EVP_DigestUpdate(c->mdctx, ipad, 64) &&
              EVP_DigestUpdate(c->mdctx, c->msg, c->len) &&
              EVP_DigestFinal_ex(c->mdctx, inner, &n) &&
              EVP_DigestInit_ex2(c->mdctx, c->md, NULL) && EVP_DigestUpdate(c->mdctx, opad, 64) &&
              EVP_DigestUpdate(c->mdctx, inner, 32) && EVP_DigestFinal_ex(c->mdctx, t, &n) &&
              cand_check(c, t, n);
    OPENSSL_cleanse(ipad, sizeof(ipad));
    OPENSSL_cleanse(opad, sizeof(opad));
    return ok;
}

static const struct {
    const char *name;
    long (*fn)(const cand_t *, long);
} cands[] = {{"lib", cand_lib},
             {"mac-reinit", cand_mac_reinit},
             {"mac-dup", cand_mac_dup},
             {"q-mac", cand_q_mac},
             {"md-fresh", cand_md_fresh}};
#define NCANDS (sizeof(cands) / sizeof(cands[0]))

/* The HMAC-SHA256 secret of an "mg-hmac-sha256:<base64url>" key file. */
static int read_secret(apr_pool_t *pool, const char *path, unsigned char *out, size_t *len)
{
    FILE *f = fopen(path, "r");
    char line[256];
    int ok = f != NULL && fgets(line, sizeof(line), f) != NULL;
    if (f != NULL)
        fclose(f);
    const char *prefix = "mg-hmac-sha256:";
    if (!ok || strncmp(line, prefix, strlen(prefix)) != 0)
        return 0;
    const char *b = line + strlen(prefix);
    size_t n = strcspn(b, "\n");
    long got = mg_b64url_decode(b, n, out, 64);
    (void)pool;
    *len = got > 0 ? (size_t)got : 0;
    return got > 0;
}

static int cmd_hmac(apr_pool_t *pool, const char *keyfile, const char *kid, const char *dir,
                    const char *variant, long k)
{
    cand_t c;
    const char *why = NULL, *sts = NULL;
    mg_key_t *key = NULL;
    int insecure = 0;
    memset(&c, 0, sizeof(c));
    if (mg_key_load_file(pool, kid, MG_ALG_HMAC_SHA256, keyfile, &key, &insecure, &why) != MG_OK ||
        !read_secret(pool, keyfile, c.secret, &c.secret_len)) {
        fprintf(stderr, "mg_bench: %s: %s\n", keyfile, why ? why : "not an HMAC-SHA256 key");
        return 1;
    }
    mg_token_claims_t cl;
    memset(&cl, 0, sizeof(cl));
    cl.expires = apr_time_from_sec(BENCH_NOW + BENCH_TTL);
    if (mg_token_string_to_sign(pool, key, apr_psprintf(pool, "%simg-%06d.jpg", dir, 0), &cl, &sts,
                                &why) != MG_OK) {
        fprintf(stderr, "mg_bench: %s\n", why);
        return 1;
    }
    c.key = key;
    c.msg = (const unsigned char *)sts;
    c.len = strlen(sts);
    size_t wn = 0;
    c.mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    c.md = EVP_MD_fetch(NULL, "SHA256", NULL);
    c.mdctx = EVP_MD_CTX_new();
    c.keyed = c.mac ? EVP_MAC_CTX_new(c.mac) : NULL;
    c.tmpl = c.mac ? EVP_MAC_CTX_new(c.mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (c.md == NULL || c.mdctx == NULL || c.keyed == NULL || c.tmpl == NULL ||
        !EVP_MAC_init(c.keyed, c.secret, c.secret_len, params) ||
        !EVP_MAC_init(c.tmpl, c.secret, c.secret_len, params) ||
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, c.secret, c.secret_len, c.msg, c.len, c.want,
                  sizeof(c.want), &wn) == NULL ||
        wn != 32) {
        fputs("mg_bench: OpenSSL has no HMAC-SHA256\n", stderr);
        return 1;
    }
    int rc = 0, found = 0;
    for (size_t i = 0; i < NCANDS; i++) {
        if (strcmp(variant, "all") != 0 && strcmp(variant, cands[i].name) != 0)
            continue;
        found = 1;
        /* one warm-up MAC (OpenSSL's lazy initialisation), then K timed:
         * the median of 5 slices of CPU time */
        if (cands[i].fn(&c, 1) != 1) {
            fprintf(stderr, "mg_bench: %s: wrong tag\n", cands[i].name);
            rc = 1;
            continue;
        }
        double t[5];
        long per = k / 5 > 0 ? k / 5 : 1, ok = 0;
        for (int j = 0; j < 5; j++) {
            double c0 = cpu_ms();
            ok += cands[i].fn(&c, per);
            t[j] = (cpu_ms() - c0) * 1e6 / (double)per;
        }
        qsort(t, 5, sizeof(double), cmp_double);
        printf("variant %s sts_bytes %zu macs %ld correct %ld cpu_ns_per_mac %.0f min %.0f max "
               "%.0f\n",
               cands[i].name, c.len, 5 * per, ok, t[2], t[0], t[4]);
        if (ok != 5 * per)
            rc = 1;
    }
    EVP_MAC_CTX_free(c.keyed);
    EVP_MAC_CTX_free(c.tmpl);
    EVP_MAC_free(c.mac);
    EVP_MD_CTX_free(c.mdctx);
    EVP_MD_free(c.md);
    OPENSSL_cleanse(c.secret, sizeof(c.secret));
    if (!found)
        fprintf(stderr, "mg_bench: unknown variant '%s'\n", variant);
    return found ? rc : 2;
}

/* ------------------------------------------------------------------ P3 */

__attribute__((noinline)) static long bench_sign_pass(const mg_key_t *key, const char **sts,
                                                      const size_t *len, long n)
{
    unsigned char sig[MG_SIG_MAX];
    size_t sn = 0;
    long ok = 0;
    for (long i = 0; i < n; i++)
        ok += mg_key_sign(key, (const unsigned char *)sts[i], len[i], sig, &sn) == MG_OK;
    return ok;
}

/* Bare HMAC throughput over the strings mgctl sign signs for the same
 * paths (same claims: --expires from -e). */
static int cmd_sign(apr_pool_t *pool, const char *keyfile, const char *kid, long expires, int runs)
{
    mg_key_t *key = NULL;
    int insecure = 0;
    const char *why = NULL;
    if (mg_key_load_file(pool, kid, MG_ALG_NONE, keyfile, &key, &insecure, &why) != MG_OK) {
        fprintf(stderr, "mg_bench: %s: %s\n", keyfile, why);
        return 1;
    }
    mg_token_claims_t cl;
    memset(&cl, 0, sizeof(cl));
    cl.expires = apr_time_from_sec(expires);
    long cap = 1024, n = 0;
    const char **sts = malloc(sizeof(*sts) * (size_t)cap);
    size_t *len = malloc(sizeof(*len) * (size_t)cap);
    char line[4096];
    apr_pool_t *tmp;
    apr_pool_create(&tmp, pool);
    while (sts != NULL && len != NULL && fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (n == cap) {
            cap *= 2;
            sts = realloc(sts, sizeof(*sts) * (size_t)cap);
            len = realloc(len, sizeof(*len) * (size_t)cap);
            if (sts == NULL || len == NULL)
                break;
        }
        const char *t = NULL;
        apr_pool_clear(tmp); /* the signer made per string stays out of the kept pool */
        if (mg_token_string_to_sign(tmp, key, line, &cl, &t, &why) != MG_OK) {
            fprintf(stderr, "mg_bench: %s: %s\n", line, why);
            return 1;
        }
        len[n] = strlen(t);
        sts[n] = apr_pstrmemdup(pool, t, len[n]);
        n++;
    }
    if (sts == NULL || len == NULL || n == 0) {
        fputs("mg_bench: no paths on stdin\n", stderr);
        return 1;
    }
    double w[BENCH_MAX_RUNS], c[BENCH_MAX_RUNS];
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms(), c0 = cpu_ms();
        if (bench_sign_pass(key, sts, len, n) != n)
            return 1;
        w[i] = now_ms() - t0;
        c[i] = cpu_ms() - c0;
    }
    qsort(w, (size_t)runs, sizeof(double), cmp_double);
    qsort(c, (size_t)runs, sizeof(double), cmp_double);
    printf("hmacs %ld runs %d per_s %.0f per_cpu_s %.0f\n", n, runs, (double)n / w[runs / 2] * 1e3,
           (double)n / c[runs / 2] * 1e3);
    free(sts);
    free(len);
    return 0;
}

/* The first line of path, without its line end, or NULL (said why). */
static const char *read_line(apr_pool_t *pool, const char *path)
{
    char buf[16384];
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
        fprintf(stderr, "mg_bench: cannot read %s\n", path);
        if (f != NULL)
            fclose(f);
        return NULL;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return apr_pstrdup(pool, buf);
}

static int cmd_decide(apr_pool_t *pool, const char *ppath, const char *keyfile, const char *kid,
                      const char *dir, long k, long nlinks, int with_p2a, const char *cookiefile)
{
    mg_policy_t *policy = load_policy(pool, ppath);
    if (policy == NULL)
        return 1;
    const char *cookie = NULL;
    if (cookiefile != NULL && (cookie = read_line(pool, cookiefile)) == NULL)
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
    if (!decide_one(rp, policy, &links[nlinks], cookie))
        return 1;

    double t0 = now_ms(), c0 = cpu_ms();
    long ok = bench_decide(rp, policy, links, nlinks, k, cookie);
    double ms = now_ms() - t0, cms = cpu_ms() - c0;
    /* times are for native runs; under callgrind only the counts mean anything */
    double per = k > 0 ? 1e6 / (double)k : 0.0;
    printf("policy %s key %s decisions %ld allowed %ld links %ld ns_per_decision %.0f "
           "cpu_ns_per_decision %.0f\n",
           mg_policy_name(policy), kid, k, ok, nlinks, ms * per, cms * per);
    if (ok != k)
        return 1;
    if (with_p2a && k >= P2A_SLICES && nlinks == 1)
        return p2a(pool, rp, policy, key, links, k) ? 0 : 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *policy = NULL, *keyfile = NULL, *kid = NULL, *dir = NULL, *variant = NULL,
               *cookiefile = NULL;
    long k = 1000, nlinks = 1, expires = BENCH_NOW + BENCH_TTL;
    int runs = 9, opt, rc, with_p2a = 0;

    if (argc < 2) {
        usage();
        return 2;
    }
    const char *cmd = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "p:k:i:d:n:l:r:v:e:ac:")) != -1) {
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
        case 'a':
            with_p2a = 1;
            break;
        case 'v':
            variant = optarg;
            break;
        case 'e':
            expires = strtol(optarg, NULL, 10);
            break;
        case 'c':
            cookiefile = optarg;
            break;
        default:
            usage();
            return 2;
        }
    }
    int needs_policy = strcmp(cmd, "load") == 0 || strcmp(cmd, "decide") == 0;
    if ((needs_policy && policy == NULL) || k < 0 || nlinks < 1 || nlinks > BENCH_MAX_LINKS ||
        runs < 1 || runs > BENCH_MAX_RUNS) {
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
        rc = cmd_decide(pool, policy, keyfile, kid, dir, k, nlinks, with_p2a, cookiefile);
    } else if (strcmp(cmd, "hmac") == 0 && keyfile && kid && dir && dir[0] == '/' && variant) {
        rc = cmd_hmac(pool, keyfile, kid, dir, variant, k > 0 ? k : 1);
    } else if (strcmp(cmd, "sign") == 0 && keyfile && kid) {
        rc = cmd_sign(pool, keyfile, kid, expires, runs);
    } else {
        usage();
        rc = 2;
    }
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
