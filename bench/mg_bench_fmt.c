/* mg_bench_fmt.c — cost of a decision on a foreign-format link against a
 * native one (bench/run-formats; issue 12's target: ≤ 1.3×).
 *
 *   mg_bench_fmt -d DIR -f FORMAT [-n K]
 *       write test keys into DIR, load a policy with a native key and an
 *       imagekit, an nginx-secure-link and a bunny (or gcp-cdn) key, sign one link of
 *       FORMAT (mg-v1 or a foreign format) for /img/photos/2026/a.jpg?w=300,
 *       make one warm-up decision, then K full decisions exactly as
 *       mod_media_guard makes them (mg_request_prepare + mg_evaluate) in a
 *       request pool cleared between requests.
 *
 * Everything before the loop is the same whatever K is, so callgrind's
 * totals for K = 0 and K = N differ by exactly N decisions. Every decision
 * must allow (allowed-by-token) or the driver exits 1. Not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "mg.h"
#include "mg_fmt.h"
#include "mg_keys.h"
#include "mg_policy.h"
#include "mg_token.h"

#define BENCH_NOW 1790000000
#define BENCH_URL "/img/photos/2026/a.jpg?w=300"

static const char POLICY[] =
    "version: 1\n"
    "keys:\n"
    "  - {id: k2026, file: k.key, sign: true}\n"
    "  - {id: ik, format: imagekit, file: ik.secret}\n"
    "  - id: ng\n"
    "    format: nginx-secure-link\n"
    "    file: ng.secret\n"
    "    options: {expression: '$secure_link_expires$uri$remote_addr $secret', hash_param: st, "
    "expires_param: e}\n"
    "%s"
    "rules:\n"
    "  - {id: img, path: /img/, token: required}\n";
/* Bunny's expires and Cloud CDN's Expires differ in case only, which one
 * policy may not hold: the gcp-cdn run has the gcp-cdn key instead */
static const char BUNNY_KEY[] = "  - {id: bn, format: bunny, file: bn.secret}\n";
static const char GCP_KEY[] =
    "  - {id: gc, format: gcp-cdn, file: gc.secret, options: {origin: 'https://bench.example'}}\n";

static const struct {
    const char *name, *text;
} KEYS[] = {{"k.key", "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"},
            {"ik.secret", "private_imagekit_key_for_the_bench\n"},
            {"ng.secret", "nginx-secret-for-the-bench\n"},
            {"bn.secret", "bunny-security-key-for-the-bench\n"},
            {"gc.secret", "q83vEjRWeJASNFZ4kKvN7w==\n"}};

static int decide(apr_pool_t *rp, const mg_policy_t *p, const char *path, const char *query)
{
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.raw_path = path;
    req.query = query;
    req.host = "127.0.0.1:8080";
    req.scheme = "http";
    req.client_ip = req.peer_ip = "127.0.0.1";
    req.now = apr_time_from_sec(BENCH_NOW);
    req.accept = "*/*";
    (void)mg_request_prepare(rp, p, &req, &why);
    memset(&d, 0, sizeof(d));
    mg_evaluate(rp, p, &req, 0, &d);
    return d.outcome == MG_OUTCOME_ALLOW && d.reason == MG_R_ALLOWED_BY_TOKEN;
}

/* The measured loop, out of line for callgrind --toggle-collect. */
__attribute__((noinline)) static long bench_loop(apr_pool_t *rp, const mg_policy_t *p,
                                                 const char *path, const char *query, long k)
{
    long ok = 0;
    for (long i = 0; i < k; i++) {
        apr_pool_clear(rp);
        ok += decide(rp, p, path, query);
    }
    return ok;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *fmt = NULL, *url = NULL, *why = NULL;
    long k = 1000;
    int c;
    while ((c = getopt(argc, argv, "d:f:n:")) != -1) {
        if (c == 'd')
            dir = optarg;
        else if (c == 'f')
            fmt = optarg;
        else if (c == 'n')
            k = atol(optarg);
        else
            return 2;
    }
    if (dir == NULL || fmt == NULL || k < 0) {
        fputs("usage: mg_bench_fmt -d DIR -f FORMAT [-n K]\n", stderr);
        return 2;
    }
    apr_initialize();
    apr_pool_t *pool, *rp;
    apr_pool_create(&pool, NULL);
    apr_pool_create(&rp, pool);
    for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++) {
        const char *path = apr_pstrcat(pool, dir, "/", KEYS[i].name, NULL);
        FILE *f = fopen(path, "w");
        if (f == NULL || fputs(KEYS[i].text, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "mg_bench_fmt: cannot write %s\n", path);
            return 2;
        }
    }
    mg_policy_t *p;
    mg_diags_t *d = mg_diags_make(pool);
    const char *text =
        apr_psprintf(pool, POLICY, strcmp(fmt, "gcp-cdn") == 0 ? GCP_KEY : BUNNY_KEY);
    if (mg_policy_load_buffer(pool, "bench-fmt.yaml", dir, text, strlen(text), &p, d) != MG_OK) {
        fputs("mg_bench_fmt: the policy does not load\n", stderr);
        return 1;
    }
    if (strcmp(fmt, MG_FMT_NATIVE) == 0) {
        mg_token_claims_t cl;
        memset(&cl, 0, sizeof(cl));
        cl.expires = apr_time_from_sec(BENCH_NOW + 3600);
        if (mg_token_sign_url(pool, mg_keys_signing(p), BENCH_URL, &cl, &url, &why) != MG_OK)
            url = NULL;
    } else {
        const mg_fkey_t *fk = NULL;
        for (int i = 0; i < p->keys->nelts; i++) {
            const mg_fkey_t *f = APR_ARRAY_IDX(p->keys, i, mg_keyref_t).fkey;
            if (f != NULL && strcmp(f->fmt->name, fmt) == 0)
                fk = f;
        }
        mg_fmt_claims_t fc = {.exp = BENCH_NOW + 3600, .ip = NULL, .scope = NULL};
        if (fk != NULL && (fk->fmt->caps & MG_FMT_CAP_IP) && strcmp(fmt, "bunny") != 0)
            fc.ip = "127.0.0.1"; /* nginx: the expression has $remote_addr */
        if (fk == NULL || fk->fmt->sign(pool, fk, BENCH_URL, &fc, &url, &why) != MG_OK)
            url = NULL;
    }
    if (url == NULL) {
        fprintf(stderr, "mg_bench_fmt: cannot sign a %s link%s%s\n", fmt, why ? ": " : "",
                why ? why : "");
        return 1;
    }
    if (url[0] != '/') { /* Cloud CDN links are absolute: the request is the path */
        const char *a = strstr(url, "://");
        url = a ? strchr(a + 3, '/') : NULL;
        if (url == NULL)
            return 1;
    }
    const char *qm = strchr(url, '?');
    const char *path = apr_pstrmemdup(pool, url, (apr_size_t)(qm - url));
    if (bench_loop(rp, p, path, qm + 1, 1) != 1 || bench_loop(rp, p, path, qm + 1, k) != k) {
        fprintf(stderr, "mg_bench_fmt: a %s decision did not allow\n", fmt);
        return 1;
    }
    printf("%s %ld decisions\n", fmt, k);
    return 0;
}
