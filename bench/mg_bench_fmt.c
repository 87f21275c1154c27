/* mg_bench_fmt.c — cost of a decision on a foreign-format link against a
 * native one (bench/run-formats; issue 12's target: ≤ 1.3×).
 *
 *   mg_bench_fmt -d DIR -f FORMAT [-n K] [-u M]
 *       write test keys into DIR, load a policy with a native key and an
 *       imagekit, an nginx-secure-link, an akamai-edgeauth and a bunny (or gcp-cdn,
 *       or cloudfront: RSA-2048) key, sign one link of
 *       FORMAT (mg-v1 or a foreign format) for /img/photos/2026/a.jpg?w=300
 *       (the formats whose token lives in the path: lighttpd-secdownload,
 *       nginx-secret for nginx's secure_link_secret, bunny-path for Bunny's
 *       path form, each with its key added to the same policy),
 *       make one warm-up decision, then K full decisions exactly as
 *       mod_media_guard makes them (mg_request_prepare + mg_evaluate) in a
 *       request pool cleared between requests.
 *
 * -u M: sign M links that differ in their expiry instead of one, and let
 * decision i use link i mod M: with K <= M no decision meets a link verified
 * before, which measures a first verification (CloudFront's RSA signatures
 * are otherwise verified once and then answered from the per-process cache,
 * as a player fetching one URL or many segments under one policy does).
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
    "  - {id: ak, format: akamai-edgeauth, file: ak.secret}\n"
    "%s"
    "rules:\n"
    "  - {id: img, path: /img/, token: required}\n";
/* Bunny's expires and Cloud CDN's Expires differ in case only, which one
 * policy may not hold: the gcp-cdn run has the gcp-cdn key instead */
static const char BUNNY_KEY[] = "  - {id: bn, format: bunny, file: bn.secret}\n";
static const char GCP_KEY[] =
    "  - {id: gc, format: gcp-cdn, file: gc.secret, options: {origin: 'https://bench.example'}}\n";

/* CloudFront: Expires and Signature are Cloud CDN's names too, and Expires
 * is Bunny's expires in another case: the cloudfront run has this key instead */
static const char CF_KEY[] = "  - {id: cf, format: cloudfront, file: cf.pub, options: {origin: "
                             "'https://bench.example'}}\n";
/* tokens in the path: two of them may not share /img/ (a link could not
 * tell them apart), so each run adds its own */
static const char LT_KEY[] =
    "  - {id: lt, format: lighttpd-secdownload, alg: hmac-sha256, file: ng.secret,\n"
    "     options: {uri_prefix: /img/, timeout: '3600', hash_querystr: 'true'}}\n";
static const char NGS_KEY[] = "  - {id: ngs, format: nginx-secure-link, file: ng.secret,\n"
                              "     options: {secret_prefix: /img/, no_expiry: allow}}\n";
static const char BUNNY_PATH_KEY[] =
    "  - {id: bnp, format: bunny, file: bn.secret, options: {sign_form: path}}\n";

/* each run: the key it signs with and the keys the policy adds for it */
static const struct {
    const char *bench, *kid, *keys;
} RUNS[] = {{"imagekit", "ik", BUNNY_KEY},
            {"nginx-secure-link", "ng", BUNNY_KEY},
            {"akamai-edgeauth", "ak", BUNNY_KEY},
            {"bunny", "bn", BUNNY_KEY},
            {"gcp-cdn", "gc", GCP_KEY},
            {"cloudfront", "cf", CF_KEY},
            {"lighttpd-secdownload", "lt", LT_KEY},
            {"nginx-secret", "ngs", NGS_KEY},
            {"bunny-path", "bnp", BUNNY_PATH_KEY}};

/* a test key pair (RSA 2048, also in examples/signers/format-vectors.json) */
static const char CF_PRIV[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCSK98qKvPrlmik\n"
                              "S+sW/vpmsS6w3NAjNMigTWc1E3OMxwA01eNvWWEntPMwzmGuwTQ4Id8TeYV6DAsb\n"
                              "AxrKSslOkohJCjqzpmvzx1cEQLdk7TJpkzOKTifobutd8HNe8oJ6z2e6BtYlHkOO\n"
                              "J3rumVnY9P9TfU8BlKi/rcxO+qlXSB1c1jFLybI2b1Rmy4heYCynyjx4r9WflIXH\n"
                              "rJBv5QQTohY3mxDaRf4LZDYVrSVv+nh4uVfa6E4LNJfcOS7+q9kGXmcK4n1b3fRR\n"
                              "lQirkLCFPDe9W+PiHaPinHYq2QhDyU7WLsKGHo1+Aogt+PG+Exae9cY1TJG131RG\n"
                              "uaTKdGmzAgMBAAECggEAGCtZ7LqKd594sQX+muBRXi6Y9lSks9WUAPGbiaqsNhBn\n"
                              "p9TgFPbV+j9Q4PaXL1KyBEARh0JWQD6CjZZfVSi1jaDsGQuwdikj+3ywFjtvN6iC\n"
                              "5/MXmBxhO+0vTOqn4QC/c3gdAiUEPsH40KYVjSNdOGMWXuM+75d5qawetsZ6vrwl\n"
                              "Z2AApqg90NaFaFpCc0xuv3lB1x4j8eopZ8BTB+0E7lc+N123wz2KB/p4gQR3Eimv\n"
                              "OWE19vTSg5d0r/QAdUAyzMoovGQNGrvKdezFQJABbASbdkDGz43NzKP0r2C6LJUS\n"
                              "IGHxqlmSDqsyOz537nA7gTxGuscJi2c+GL7Ih3KSDQKBgQDE5DQcjB90R7bogAxq\n"
                              "4IVBZxbAokXb2Bb6niAAMtI2iPhkZ0+D6F6AeJS8OOEVjMCUaGePKqZ/cqOnp6mC\n"
                              "Ez8A0YhL8sDZF6R0dhzgkIkQcQk5FWQE+3L7Rdqsmhc2GjwQthQ6z+hgx2E3mSm5\n"
                              "Fs1L252hFiz/4/V8mUuCzTxahQKBgQC+DaeYuz/4efmhHfml4fPFKVZEs9E46ajo\n"
                              "0jfRZip9PFJwQT4L5ou9px14exPmb78k2cYEW8JwjSgTwuoG66tmO7xIyx9lw0m8\n"
                              "e5wtyoN5SbfnMGn+/4EhoHvIPBFQY50HwZU4Mt6COePgmweVbTCCHtU47c1c3lUz\n"
                              "fezqYooU1wKBgQCX3QCIyFd2g94DpMhvIzAFCzOUb1V8xUasFYzPOmPDppAYOUsu\n"
                              "jeteIiNurlyGF6NulLzTw2zavpyWMw7egmPFCNic4+d1SvQQ1A1f9HuTz+vyOJqF\n"
                              "8UB1qSKKoOuoUkHkDdy6pCQziXVlweBZn8nHaeRCHG2nDbgKW97PS+fyVQKBgQCw\n"
                              "3IwmubqiRQBlSzvTfx4XUIyTirMdP3SMlXSUTXsk6EnfZReUg4tvhmEKiZ7PRxad\n"
                              "+Hsp+ypLC1FMcorOvenXTae+JiilzsKDwJRqmJcY+91EK+23+5Xz8SDACgYixVCQ\n"
                              "szll/xDKJ41Eq4C3MdF+harvO31s+wpWzMz4oZLWKQKBgFEFcZFgjkHbwVuYR2BN\n"
                              "Y9srNiE+IdaJJofeu8c8xHqJ/45UsrNvcUffAJdir97Q4TEIDDTyVUkIm3hIwuxI\n"
                              "b3AzTF7JbJvfEdOaCJU5YVwuk2SLXPeXPuv6EVD7+Csi8Nv2d6EjMznt3bhItdDQ\n"
                              "YmJWj7mPlG7DLyVCNN9s+WBS\n"
                              "-----END PRIVATE KEY-----\n";

static const struct {
    const char *name, *text;
} KEYS[] = {{"k.key", "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"},
            {"ik.secret", "private_imagekit_key_for_the_bench\n"},
            {"ng.secret", "nginx-secret-for-the-bench\n"},
            {"bn.secret", "bunny-security-key-for-the-bench\n"},
            {"gc.secret", "q83vEjRWeJASNFZ4kKvN7w==\n"},
            {"ak.secret", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"},
            {"cf.pub", "-----BEGIN PUBLIC KEY-----\n"
                       "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkivfKirz65ZopEvrFv76\n"
                       "ZrEusNzQIzTIoE1nNRNzjMcANNXjb1lhJ7TzMM5hrsE0OCHfE3mFegwLGwMaykrJ\n"
                       "TpKISQo6s6Zr88dXBEC3ZO0yaZMzik4n6G7rXfBzXvKCes9nugbWJR5Djid67plZ\n"
                       "2PT/U31PAZSov63MTvqpV0gdXNYxS8myNm9UZsuIXmAsp8o8eK/Vn5SFx6yQb+UE\n"
                       "E6IWN5sQ2kX+C2Q2Fa0lb/p4eLlX2uhOCzSX3Dku/qvZBl5nCuJ9W930UZUIq5Cw\n"
                       "hTw3vVvj4h2j4px2KtkIQ8lO1i7Chh6NfgKILfjxvhMWnvXGNUyRtd9URrmkynRp\n"
                       "swIDAQAB\n"
                       "-----END PUBLIC KEY-----\n"}};

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
                                                 const char *const *path, const char *const *query,
                                                 long m, long k)
{
    long ok = 0;
    for (long i = 0; i < k; i++) {
        apr_pool_clear(rp);
        ok += decide(rp, p, path[i % m], query[i % m]);
    }
    return ok;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *fmt = NULL, *url = NULL, *why = NULL;
    long k = 1000, m = 1;
    int c;
    while ((c = getopt(argc, argv, "d:f:n:u:")) != -1) {
        if (c == 'd')
            dir = optarg;
        else if (c == 'f')
            fmt = optarg;
        else if (c == 'n')
            k = atol(optarg);
        else if (c == 'u')
            m = atol(optarg);
        else
            return 2;
    }
    if (dir == NULL || fmt == NULL || k < 0 || m < 1) {
        fputs("usage: mg_bench_fmt -d DIR -f FORMAT [-n K] [-u M]\n", stderr);
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
    int run = -1;
    for (int i = 0; i < (int)(sizeof(RUNS) / sizeof(RUNS[0])); i++)
        if (strcmp(RUNS[i].bench, fmt) == 0)
            run = i;
    if (run < 0 && strcmp(fmt, MG_FMT_NATIVE) != 0) {
        fprintf(stderr, "mg_bench_fmt: no run named %s\n", fmt);
        return 2;
    }
    const char *text = apr_psprintf(pool, POLICY, run >= 0 ? RUNS[run].keys : BUNNY_KEY);
    if (mg_policy_load_buffer(pool, "bench-fmt.yaml", dir, text, strlen(text), &p, d) != MG_OK) {
        fputs("mg_bench_fmt: the policy does not load\n", stderr);
        return 1;
    }
    const char **paths = apr_pcalloc(pool, sizeof(*paths) * (size_t)m);
    const char **queries = apr_pcalloc(pool, sizeof(*queries) * (size_t)m);
    for (long i = 0; i < m; i++) {
        int64_t exp = BENCH_NOW + 3600 + i;
        if (strcmp(fmt, MG_FMT_NATIVE) == 0) {
            mg_token_claims_t cl;
            memset(&cl, 0, sizeof(cl));
            cl.expires = apr_time_from_sec(exp);
            if (mg_token_sign_url(pool, mg_keys_signing(p), BENCH_URL, &cl, &url, &why) != MG_OK)
                url = NULL;
        } else {
            const mg_fkey_t *fk = NULL;
            for (int j = 0; j < p->keys->nelts; j++) {
                const mg_keyref_t *r = &APR_ARRAY_IDX(p->keys, j, mg_keyref_t);
                if (r->fkey != NULL && strcmp(r->id, RUNS[run].kid) == 0)
                    fk = r->fkey;
            }
            /* nginx's secure_link_secret links never expire */
            mg_fmt_claims_t fc = {.exp = strcmp(fmt, "nginx-secret") == 0 ? 0 : exp,
                                  .private_key = CF_PRIV};
            if (fk != NULL && strcmp(fmt, "nginx-secure-link") == 0)
                fc.ip = "127.0.0.1"; /* nginx: the expression has $remote_addr */
            if (fk == NULL || fk->fmt->sign(pool, fk, BENCH_URL, &fc, &url, &why) != MG_OK)
                url = NULL;
        }
        if (url == NULL) {
            fprintf(stderr, "mg_bench_fmt: cannot sign a %s link%s%s\n", fmt, why ? ": " : "",
                    why ? why : "");
            return 1;
        }
        if (url[0] != '/') { /* Cloud CDN and CloudFront links are absolute */
            const char *a = strstr(url, "://");
            url = a ? strchr(a + 3, '/') : NULL;
            if (url == NULL)
                return 1;
        }
        const char *qm = strchr(url, '?'); /* Bunny's path form has no query */
        paths[i] = qm ? apr_pstrmemdup(pool, url, (apr_size_t)(qm - url)) : url;
        queries[i] = qm ? qm + 1 : NULL;
    }
    /* the warm-up decision uses the last link: with -u, the loop's first
     * K <= M - 1 decisions still meet links never verified */
    if (bench_loop(rp, p, paths + m - 1, queries + m - 1, 1, 1) != 1 ||
        bench_loop(rp, p, paths, queries, m, k) != k) {
        fprintf(stderr, "mg_bench_fmt: a %s decision did not allow\n", fmt);
        return 1;
    }
    printf("%s %ld decisions\n", fmt, k);
    return 0;
}
