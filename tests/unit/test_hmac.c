/* test_hmac.c — the HMAC that signs and verifies links (mg_key_sign,
 * mg_key_verify) is exactly RFC 2104 HMAC for every key and message length:
 * RFC 4231 / RFC 2202 vectors and OpenSSL's own one-shot HMAC as the
 * reference around the block-size edges where a hand-keyed HMAC could slip
 * (keys of 64 and 65 bytes, messages of 55, 56 and 64 bytes), and under
 * threads: each thread's working context must never mix keys or messages. */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "mg_keys.h"
#include "mg_test.h"

static mg_key_t *make_key(mg_alg_t alg, const unsigned char *secret, size_t len)
{
    mg_key_t *k = NULL;
    const char *why = NULL;
    ck_assert_msg(mg_key_from_secret(mg_test_pool, "k1", alg, secret, len, &k, &why) == MG_OK, "%s",
                  why ? why : "");
    return k;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static const char *mac_hex(const mg_key_t *k, const void *msg, size_t len)
{
    unsigned char sig[MG_SIG_MAX];
    size_t n = 0;
    static char out[2 * MG_SIG_MAX + 1];
    ck_assert_int_eq(mg_key_sign(k, msg, len, sig, &n), MG_OK);
    hex(sig, n, out);
    return out;
}

/* RFC 4231 test cases 6 and 7: a 131-byte key, hashed first. */
START_TEST(test_hmac_sha256_matches_rfc4231_long_key_vectors)
{
    unsigned char key[131];
    memset(key, 0xaa, sizeof(key));
    mg_key_t *k = make_key(MG_ALG_HMAC_SHA256, key, sizeof(key));
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    ck_assert_str_eq(mac_hex(k, m6, strlen(m6)),
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    ck_assert_str_eq(mac_hex(k, m7, strlen(m7)),
                     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}
END_TEST

/* RFC 2202 test cases 1 (20-byte key) and 6 (80-byte key, hashed first). */
START_TEST(test_hmac_sha1_matches_rfc2202_vectors)
{
    unsigned char key1[20], key6[80];
    memset(key1, 0x0b, sizeof(key1));
    memset(key6, 0xaa, sizeof(key6));
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    ck_assert_str_eq(mac_hex(make_key(MG_ALG_HMAC_SHA1, key1, sizeof(key1)), "Hi There", 8),
                     "b617318655057264e28bc0b6fb378c8ef146be00");
    ck_assert_str_eq(mac_hex(make_key(MG_ALG_HMAC_SHA1, key6, sizeof(key6)), m6, strlen(m6)),
                     "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}
END_TEST

/* Every key length class (short, one block, over a block, the maximum)
 * against every message length class (empty, one padding block edge, two
 * blocks, long), compared with OpenSSL's one-shot HMAC. */
START_TEST(test_hmac_equals_openssl_hmac_at_block_edges)
{
    static const size_t klens[] = {32, 63, 64, 65, 200, MG_HMAC_MAX};
    static const size_t mlens[] = {0, 1, 55, 56, 63, 64, 65, 119, 120, 1000};
    static const struct {
        mg_alg_t alg;
        const char *md;
    } algs[] = {{MG_ALG_HMAC_SHA256, "SHA256"}, {MG_ALG_HMAC_SHA1, "SHA1"}};
    unsigned char key[MG_HMAC_MAX], msg[1000];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 37 + 11);
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 101 + 7);
    for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        for (size_t ki = 0; ki < sizeof(klens) / sizeof(klens[0]); ki++) {
            mg_key_t *k = make_key(algs[a].alg, key, klens[ki]);
            for (size_t mi = 0; mi < sizeof(mlens) / sizeof(mlens[0]); mi++) {
                unsigned char want[EVP_MAX_MD_SIZE], got[MG_SIG_MAX];
                size_t wn = 0, gn = 0;
                ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, algs[a].md, NULL, key,
                                                klens[ki], msg, mlens[mi], want, sizeof(want),
                                                &wn));
                ck_assert_int_eq(mg_key_sign(k, msg, mlens[mi], got, &gn), MG_OK);
                ck_assert_msg(gn == wn && memcmp(got, want, wn) == 0,
                              "%s key %zu bytes, message %zu bytes", algs[a].md, klens[ki],
                              mlens[mi]);
                ck_assert_int_eq(mg_key_verify(k, msg, mlens[mi], want, wn, 0, 0), 1);
            }
        }
    }
}
END_TEST

START_TEST(test_hmac_verify_refuses_changed_message_tag_or_length)
{
    unsigned char key[32];
    memset(key, 0x42, sizeof(key));
    mg_key_t *k = make_key(MG_ALG_HMAC_SHA256, key, sizeof(key));
    const unsigned char msg[] = "mg-token-v1\n/photos/a.jpg\n\n\nmg_exp=1&mg_kid=k1";
    unsigned char sig[MG_SIG_MAX];
    size_t n = 0;
    ck_assert_int_eq(mg_key_sign(k, msg, sizeof(msg) - 1, sig, &n), MG_OK);
    ck_assert_int_eq(n, 32);
    ck_assert_int_eq(mg_key_verify(k, msg, sizeof(msg) - 1, sig, n, 0, 0), 1);
    ck_assert_int_eq(mg_key_verify(k, msg, sizeof(msg) - 2, sig, n, 0, 0), 0);
    ck_assert_int_eq(mg_key_verify(k, msg, sizeof(msg) - 1, sig, n - 1, 0, 0), 0);
    sig[31] ^= 1;
    ck_assert_int_eq(mg_key_verify(k, msg, sizeof(msg) - 1, sig, n, 0, 0), 0);
    /* a key with another secret never verifies this tag */
    sig[31] ^= 1;
    key[0] ^= 1;
    ck_assert_int_eq(mg_key_verify(make_key(MG_ALG_HMAC_SHA256, key, sizeof(key)), msg,
                                   sizeof(msg) - 1, sig, n, 0, 0),
                     0);
}
END_TEST

START_TEST(test_hmac_verify_refuses_a_tag_with_any_one_bit_flipped)
{
    /* the tag compare (two 16-byte halves for SHA-256, 16 + 4 bytes for
     * SHA-1) must look at every bit of both parts */
    static const mg_alg_t algs[] = {MG_ALG_HMAC_SHA256, MG_ALG_HMAC_SHA1};
    unsigned char key[32];
    memset(key, 0x5a, sizeof(key));
    const unsigned char msg[] = "mg-token-v1\n/a.jpg\n\n\nmg_exp=1&mg_kid=k1";
    for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        mg_key_t *k = make_key(algs[a], key, sizeof(key));
        unsigned char sig[MG_SIG_MAX];
        size_t n = 0;
        ck_assert_int_eq(mg_key_sign(k, msg, sizeof(msg) - 1, sig, &n), MG_OK);
        ck_assert_uint_eq(n, algs[a] == MG_ALG_HMAC_SHA256 ? 32 : 20);
        for (size_t bit = 0; bit < 8 * n; bit++) {
            sig[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            ck_assert_msg(mg_key_verify(k, msg, sizeof(msg) - 1, sig, n, 0, 0) == 0,
                          "%s: bit %zu flipped verifies", mg_alg_name(algs[a]), bit);
            sig[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        }
        ck_assert_int_eq(mg_key_verify(k, msg, sizeof(msg) - 1, sig, n, 0, 0), 1);
    }
}
END_TEST

/* Six threads start together (a barrier) and sign and verify with four
 * keys of both algorithms, interleaved, each thread its own message
 * lengths: the pre-keyed states are shared by all threads, the working
 * context is per thread; every tag must equal OpenSSL's one-shot HMAC, and
 * each thread's first MAC runs while the others are already signing. */
#define HMAC_THREADS 6
#define HMAC_KEYS 4
#define HMAC_ROUNDS 4000
typedef struct hmac_job {
    const mg_key_t *keys[HMAC_KEYS];
    const unsigned char *secret[HMAC_KEYS];
    size_t secret_len[HMAC_KEYS];
    const char *md[HMAC_KEYS];
    pthread_barrier_t *barrier;
    int seed;
    int bad;
} hmac_job_t;

static void *hmac_thread(void *arg)
{
    hmac_job_t *j = arg;
    unsigned char msg[2000];
    pthread_barrier_wait(j->barrier);
    for (int r = 0; r < HMAC_ROUNDS; r++) {
        int ki = (r + j->seed) % HMAC_KEYS;
        size_t len = (size_t)((r * 7 + j->seed * 13) % (int)sizeof(msg));
        for (size_t i = 0; i < len; i++)
            msg[i] = (unsigned char)(i * 31 + (size_t)r + (size_t)j->seed);
        unsigned char want[EVP_MAX_MD_SIZE], got[MG_SIG_MAX];
        size_t wn = 0, gn = 0;
        if (EVP_Q_mac(NULL, "HMAC", NULL, j->md[ki], NULL, j->secret[ki], j->secret_len[ki], msg,
                      len, want, sizeof(want), &wn) == NULL ||
            mg_key_sign(j->keys[ki], msg, len, got, &gn) != MG_OK || gn != wn ||
            memcmp(got, want, wn) != 0 || mg_key_verify(j->keys[ki], msg, len, want, wn, 0, 0) != 1)
            j->bad++;
        want[0] ^= 1; /* and the wrong tag never verifies */
        if (mg_key_verify(j->keys[ki], msg, len, want, wn, 0, 0) != 0)
            j->bad++;
    }
    return NULL;
}

START_TEST(test_hmac_threads_share_keys_not_contexts)
{
    static unsigned char secrets[HMAC_KEYS][100];
    static const size_t lens[HMAC_KEYS] = {32, 64, 100, 20};
    static const mg_alg_t algs[HMAC_KEYS] = {MG_ALG_HMAC_SHA256, MG_ALG_HMAC_SHA256,
                                             MG_ALG_HMAC_SHA256, MG_ALG_HMAC_SHA1};
    hmac_job_t jobs[HMAC_THREADS];
    pthread_t th[HMAC_THREADS];
    pthread_barrier_t barrier;
    ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, HMAC_THREADS), 0);
    for (int k = 0; k < HMAC_KEYS; k++)
        for (size_t i = 0; i < sizeof(secrets[k]); i++)
            secrets[k][i] = (unsigned char)(k * 59 + (int)i * 17 + 3);
    for (int t = 0; t < HMAC_THREADS; t++) {
        memset(&jobs[t], 0, sizeof(jobs[t]));
        for (int k = 0; k < HMAC_KEYS; k++) {
            jobs[t].keys[k] = t == 0 ? make_key(algs[k], secrets[k], lens[k]) : jobs[0].keys[k];
            jobs[t].secret[k] = secrets[k];
            jobs[t].secret_len[k] = lens[k];
            jobs[t].md[k] = algs[k] == MG_ALG_HMAC_SHA256 ? "SHA256" : "SHA1";
        }
        jobs[t].barrier = &barrier;
        jobs[t].seed = t;
    }
    for (int t = 0; t < HMAC_THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, hmac_thread, &jobs[t]), 0);
    for (int t = 0; t < HMAC_THREADS; t++)
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    pthread_barrier_destroy(&barrier);
    for (int t = 0; t < HMAC_THREADS; t++)
        ck_assert_msg(jobs[t].bad == 0, "thread %d: %d wrong results", t, jobs[t].bad);
}
END_TEST

static Suite *hmac_suite(void)
{
    Suite *s = suite_create("hmac");
    TCase *tc = tcase_create("hmac");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_hmac_sha256_matches_rfc4231_long_key_vectors);
    tcase_add_test(tc, test_hmac_sha1_matches_rfc2202_vectors);
    tcase_add_test(tc, test_hmac_equals_openssl_hmac_at_block_edges);
    tcase_add_test(tc, test_hmac_verify_refuses_changed_message_tag_or_length);
    tcase_add_test(tc, test_hmac_verify_refuses_a_tag_with_any_one_bit_flipped);
    tcase_add_test(tc, test_hmac_threads_share_keys_not_contexts);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(hmac_suite)
