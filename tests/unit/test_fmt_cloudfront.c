/* test_fmt_cloudfront.c — the cloudfront format (lib/mg_fmt_cloudfront.c):
 * the AWS SDK's vectors, every field and refusal of canned and custom
 * policies, signed cookies, the policy parser, wildcards, CloudFront's
 * base64, load-time refusals (algorithm confusion, key types, the
 * parameter names gcp-cdn shares) and the signer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fmt_fixture.h"
#include "mg_fmt.h"
#include "mg_fmt_cloudfront.h"
#include "mg_keys.h"
#include "mg_test.h"
#include "mg_token.h"

/* aws/aws-sdk-ruby gems/aws-sdk-cloudfront/spec/cf_private_key.pem (the
 * SDK's test key) and its public half (openssl pkey -pubout) */
static const char RUBY_PRIV[] = "-----BEGIN RSA PRIVATE KEY-----\n"
                                "MIICXQIBAAKBgQC6YewnvN7Jj4vrhqqgL6A45Gy4ju82dPcUoTEpg7wCc3gByuvn\n"
                                "H6QgcGsIB0UDklyEJ8gOlmeskAviGHxAhfRJ43yWKpKpIpjHk3Q6ORA547CWxE9Q\n"
                                "79t7SE61zGW7AuvD4NvTyeNxlEQxmZLtt/NC4WFhfs5oskfgYxeqE3bP1QIDAQAB\n"
                                "AoGAW0DMVdxkG717XRJvAcSvpos4K9hXiIsV2fTd1ByadXzBWedXPq7ANd20mZat\n"
                                "lIUZZN7xVSsQkW1pVAZ290ReiONwl5cMxHgr91kzH1vxYk5cKRrBftJMCqBgF6gR\n"
                                "saiuxYCfyuNOem0aeZCwsBoHzAvDYq2xja7UWailwQ6P7gECQQD0ETqMZuJYisZc\n"
                                "Dy7dQUHUqgdzf3j4b3yROdcF3kPfRra+wan8oOY1dZXony3oeBllsYH9w9FcKl5C\n"
                                "XE6KDe6BAkEAw360fbhp/G8rHfzuUzW8T6mDWU/d75iiXOeqNIPs2SPNHLLS+yXz\n"
                                "ySqsKkSu0aTfPZKKkPz4HDdm6fMSjHUfVQJBALoc1S+xWNK56C7VKSBxHbkEezAY\n"
                                "uW+A3FWF7LC937XIH5xw46YQL9v+MXU0xPYrdvp0FLMk+mY0rLIf34govYECQHom\n"
                                "UDaBpM+S0pkRMgSR/dC0tRp3+c88Sq7MHaBkkff3E7EL1yIPy6x1Wk+qzKS3ZLl/\n"
                                "N89yEMDoqQgi1gMnJ2UCQQDvKuHMk2F3tuxp7qyCgnxi1HAfQq0Vft5NiH9aww59\n"
                                "d/UD7FyWdtpd8VlZal0GR30ZpWKgAGol8c8hCIKV5D6W\n"
                                "-----END RSA PRIVATE KEY-----\n";
static const char RUBY_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC6YewnvN7Jj4vrhqqgL6A45Gy4\n"
                               "ju82dPcUoTEpg7wCc3gByuvnH6QgcGsIB0UDklyEJ8gOlmeskAviGHxAhfRJ43yW\n"
                               "KpKpIpjHk3Q6ORA547CWxE9Q79t7SE61zGW7AuvD4NvTyeNxlEQxmZLtt/NC4WFh\n"
                               "fs5oskfgYxeqE3bP1QIDAQAB\n"
                               "-----END PUBLIC KEY-----\n";

/* url_signer_spec.rb 'can generate signed urls with canned policy' */
#define RUBY_CANNED_SIG                                                                            \
    "GvrDx3aAG1u1sAQF68c~xD6LVORt36mRTvC2u5RwLjsvusXI0sJPxy3D0R8AQp4qFZlRehwh~mablw8DBNRFLQ81mazm" \
    "brUOhXbuepav5ZmCU-KgOmXtpMS49L7TLGUSfwSksDx1qriAtB4mS4iJaNt2mfo0C5G-vlt9qMftkJg_"
/* url_signer_spec.rb 'can generate signed urls with custom policy' (Resource
 * "images/image.jpg", SourceIp 10.52.176.0/24) */
#define RUBY_CUSTOM_POLICY                                                                         \
    "eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaW1hZ2VzL2ltYWdlLmpwZyIsIkNvbmRpdGlvbiI6eyJJcEFkZHJlc3Mi" \
    "OnsiQVdTOlNvdXJjZUlwIjoiMTAuNTIuMTc2LjAvMjQifSwiRGF0ZUxlc3NUaGFuIjp7IkFXUzpFcG9jaFRpbWUiOjEz" \
    "NTcwMzQ0MDB9fX1dfQ__"
#define RUBY_CUSTOM_SIG                                                                            \
    "n4V7xum3wA-w1PaCMyEMpWVXdfw-Yt8I26RpZJKc~"                                                    \
    "Nk8yQh8LYOxewItGJXFq0BxnKuSEKoEVYVTFEteFAGKXwhkbC7K~"                                         \
    "JfL83aroPbRagjyG-V9Y5wMLccBAzMj5nHXxjvjlOu541VUR-RlR0KK106HT4-Hp1c~nyOmXs4R5mU_"
#define RUBY_EXP 1357034400

/* Keys no signer makes, whose verification anyone passes (red team 23b): an RSA
 * key with e = 1 (a signature is its own message: the padded digest verified)
 * and the P-256 point at infinity (BIT STRING 00, which OpenSSL decodes). */
static const char RSA_E1_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEAmpzndL9S2Gl1egLWcLhZ\n"
    "TQ+yLSRwRoWlgMyJrS/6b8ho7xzRCnkxDu8MnWve/HQFazc85SLic0zpgPXdqFXk\n"
    "Dxqc53S/UthpdXoC1nC4WU0Psi0kcEaFpYDMia0v+m/IaO8c0Qp5MQ7vDJ1r3vx0\n"
    "BWs3POUi4nNM6YD13ahV5A8anOd0v1LYaXV6AtZwuFlND7ItJHBGhaWAzImtL/pv\n"
    "yGjvHNEKeTEO7wyda978dAVrNzzlIuJzTOmA9d2oVeQPGpzndL9S2Gl1egLWcLhZ\n"
    "TQ+yLSRwRoWlgMyJrS/6b8ho7xzRCnkxDu8MnWve/HQFazc85SLic0zpgPXdqFXk\n"
    "DwIBAQ==\n"
    "-----END PUBLIC KEY-----\n";
static const char EC_INFINITY_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                                      "MBkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDAgAA\n"
                                      "-----END PUBLIC KEY-----\n";

static const char *pem_of(EVP_PKEY *k, int private)
{
    BIO *b = BIO_new(BIO_s_mem());
    ck_assert_ptr_nonnull(b);
    ck_assert(private ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
                      : PEM_write_bio_PUBKEY(b, k));
    char *data;
    long n = BIO_get_mem_data(b, &data);
    const char *s = apr_pstrmemdup(mg_test_pool, data, (apr_size_t)n);
    BIO_free(b);
    return s;
}

static const char *g_ec_priv, *g_ec_pub;

static void setup(void)
{
    mg_fx_setup("cf");
    mg_fx_write_file("rsa.pub", RUBY_PUB);
    mg_fx_write_file("rsa.pem", RUBY_PRIV);
    mg_fx_write_file("hmac.key", "a-longer-shared-secret-for-tests\n");
    mg_fx_write_file("gc.key", "nZtRohdNF9m3cKM24IcK4w==\n");
    mg_fx_write_file("e1.pub", RSA_E1_PUB);
    mg_fx_write_file("ecinf.pub", EC_INFINITY_PUB);
    /* ECDSA P-256 and a too-small RSA key, made for the test */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)768);
    ck_assert(ec && ec384 && small);
    g_ec_priv = pem_of(ec, 1);
    g_ec_pub = pem_of(ec, 0);
    mg_fx_write_file("ec.pub", g_ec_pub);
    mg_fx_write_file("ec384.pub", pem_of(ec384, 0));
    mg_fx_write_file("small.pub", pem_of(small, 0));
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(small);
}

/* url: a path with query ("/a?b") or an absolute URL, whose origin is dropped */
static mg_reason_t check_cookie(const mg_policy_t *p, const char *url, const char *cookie,
                                int64_t now, const char *ip, mg_token_claims_t *c)
{
    const char *a = strstr(url, "://");
    if (a != NULL)
        url = strchr(a + 3, '/');
    return mg_fx_check_cookie(p, url, cookie, now, ip, c);
}

static mg_reason_t check(const mg_policy_t *p, const char *url, int64_t now, const char *ip,
                         mg_token_claims_t *c)
{
    return check_cookie(p, url, NULL, now, ip, c);
}

static const char *fsign(const mg_policy_t *p, const char *id, const char *url, mg_fmt_claims_t c)
{
    if (c.private_key == NULL)
        c.private_key = RUBY_PRIV;
    return mg_fx_sign(p, id, url, &c);
}

static const char P_CF[] = "version: 1\n"
                           "keys:\n"
                           "  - id: cf\n"
                           "    format: cloudfront\n"
                           "    file: rsa.pub\n"
                           "    options: {origin: 'https://abc.cloudfront.net', key_pair_id: "
                           "CF_KEYPAIR_ID}\n"
                           "  - id: ec\n"
                           "    format: cloudfront\n"
                           "    alg: ecdsa-sha1\n"
                           "    file: ec.pub\n"
                           "    options: {origin: 'https://abc.cloudfront.net', key_pair_id: "
                           "KEC}\n"
                           "  - id: native\n"
                           "    file: n.key\n"
                           "rules:\n"
                           "  - {id: all, path: /, token: required}\n";

static mg_policy_t *load_cf(void)
{
    mg_fx_write_file("n.key", "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n");
    mg_policy_t *p = mg_fx_load_ok(P_CF);
    unlink(apr_pstrcat(mg_test_pool, mg_fx_dir, "/n.key", NULL));
    return p;
}

/* ------------------------------------------------------------------ */

START_TEST(test_sdk_vectors_verify_and_are_reproduced)
{
    mg_policy_t *p = load_cf();
    mg_token_claims_t c;
    const char *url = "/images/image.jpg?color=red&Expires=1357034400&Signature=" RUBY_CANNED_SIG
                      "&Key-Pair-Id=CF_KEYPAIR_ID";
    ASSERT_REASON(check(p, url, RUBY_EXP - 10, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "cloudfront");
    ck_assert_str_eq(c.kid, "cf");
    ck_assert_int_eq(apr_time_sec(c.expires), RUBY_EXP);
    ck_assert_ptr_null(c.scope);
    /* and again: the cached verification answers the same */
    ASSERT_REASON(check(p, url, RUBY_EXP - 9, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, url, RUBY_EXP + 31, NULL, &c), MG_R_TOKEN_EXPIRED);
    /* the signer reproduces it byte for byte */
    ck_assert_str_eq(fsign(p, "cf", "https://abc.cloudfront.net/images/image.jpg?color=red",
                           (mg_fmt_claims_t){.exp = RUBY_EXP}),
                     apr_pstrcat(mg_test_pool, "https://abc.cloudfront.net", url, NULL));
    /* cookie_signer_spec.rb: the same signature as CloudFront-* cookies */
    ASSERT_REASON(
        check_cookie(
            p, "/images/image.jpg?color=red",
            "session=x; CloudFront-Expires=1357034400; CloudFront-Signature=" RUBY_CANNED_SIG
            "; CloudFront-Key-Pair-Id=CF_KEYPAIR_ID",
            RUBY_EXP - 10, NULL, &c),
        MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "cloudfront");
    /* the custom-policy vector: its signature verifies over the decoded
     * policy, whose Resource "images/image.jpg" is no URL of the origin */
    const char *custom = "/images/image.jpg?Policy=" RUBY_CUSTOM_POLICY
                         "&Signature=" RUBY_CUSTOM_SIG "&Key-Pair-Id=CF_KEYPAIR_ID";
    ASSERT_REASON(check(p, custom, RUBY_EXP - 10, "10.52.176.9", &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(
        check(p, mg_fx_replace_str(custom, "n4V7", "n4V8"), RUBY_EXP - 10, "10.52.176.9", &c),
        MG_R_TOKEN_BAD_SIG);
}
END_TEST

START_TEST(test_canned_policy_covers_every_field)
{
    mg_policy_t *p = load_cf();
    mg_token_claims_t c;
    const char *u = fsign(p, "cf", "/v/a.mp4?x=1&y=2", (mg_fmt_claims_t){.exp = 2000});
    ck_assert_str_eq(apr_pstrndup(mg_test_pool, u, 41),
                     "https://abc.cloudfront.net/v/a.mp4?x=1&y=");
    const char *path = u + strlen("https://abc.cloudfront.net");
    ASSERT_REASON(check(p, path, 1000, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_eq(apr_time_sec(c.expires), 2000);
    /* path, query, expiry, an extra parameter: each is signed */
    ASSERT_REASON(check(p, mg_fx_replace_str(path, "a.mp4", "b.mp4"), 1000, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(p, mg_fx_replace_str(path, "x=1", "x=2"), 1000, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(p, mg_fx_replace_str(path, "Expires=2000", "Expires=2001"), 1000, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(p, apr_pstrcat(mg_test_pool, path, "&z=3", NULL), 1000, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    /* CloudFront's parameters may sit between the others: the rest keeps its order */
    ASSERT_REASON(
        check(p, apr_pstrcat(mg_test_pool, mg_fx_replace_str(path, "&y=2", ""), "&y=2", NULL), 1000,
              NULL, &c),
        MG_R_ALLOWED);
    ASSERT_REASON(
        check(p, apr_pstrcat(mg_test_pool, mg_fx_replace_str(path, "x=1&", ""), "&x=1", NULL), 1000,
              NULL, &c),
        MG_R_TOKEN_BAD_SIG); /* y=2&x=1: another Resource */
    /* expiry, grace */
    ASSERT_REASON(check(p, path, 2000, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, path, 2100, NULL, &c), MG_R_TOKEN_EXPIRED);
    /* the key pair id chooses the key */
    ASSERT_REASON(check(p,
                        mg_fx_replace_str(path, "Key-Pair-Id=CF_KEYPAIR_ID", "Key-Pair-Id=OTHER"),
                        1000, NULL, &c),
                  MG_R_TOKEN_UNKNOWN_KEY);
    /* malformed parts */
    static const struct {
        const char *from, *to;
    } bad[] = {
        {"&Key-Pair-Id=CF_KEYPAIR_ID", ""},                  /* no key pair id */
        {"Expires=2000&", ""},                               /* no policy at all */
        {"Expires=2000", "Expires=02000"},                   /* leading zero */
        {"Expires=2000", "Expires=-2000"},                   /* not digits */
        {"Expires=2000", "Expires=2000&Policy=e30_"},        /* canned and custom */
        {"&Key-Pair-Id", "&Hash-Algorithm=MD5&Key-Pair-Id"}, /* unknown hash */
        {"Signature=", "Signature=%2B"},                     /* encoded: not the alphabet */
        {"&Key-Pair-Id", "&Signature=AAAA&Key-Pair-Id"},     /* given twice */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(check(p, mg_fx_replace_str(path, bad[i].from, bad[i].to), 1000, NULL, &c) ==
                          MG_R_TOKEN_MALFORMED,
                      "%s -> %s: %s", bad[i].from, bad[i].to,
                      R(check(p, mg_fx_replace_str(path, bad[i].from, bad[i].to), 1000, NULL, &c)));
    /* the signature's encoding: length, padding, alphabet */
    const char *sig = strstr(path, "Signature=") + 10;
    size_t sn = strcspn(sig, "&");
    const char *s = apr_pstrmemdup(mg_test_pool, sig, sn);
    ck_assert_uint_eq(sn, 172); /* 128 bytes, padded */
    const char *variants[] = {
        apr_pstrmemdup(mg_test_pool, s, sn - 1),    /* padding cut */
        apr_pstrcat(mg_test_pool, "AAAA", s, NULL), /* too long */
        apr_pstrcat(mg_test_pool, apr_pstrmemdup(mg_test_pool, s, 4), "_", s + 5,
                    NULL), /* '_' inside */
        apr_pstrcat(mg_test_pool, apr_pstrmemdup(mg_test_pool, s, 4), "/", s + 5, NULL), /* '/' */
        "AAAA", /* far too short */
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
        ASSERT_REASON(check(p, mg_fx_replace_str(path, s, variants[i]), 1000, NULL, &c),
                      MG_R_TOKEN_MALFORMED);
    /* the cache vouches for this signature of this message only: the message
     * verified a moment ago with one signature byte changed is not it */
    char *flip = apr_pstrdup(mg_test_pool, path);
    char *b = strstr(flip, "Signature=") + 10 + 40;
    *b = *b == 'A' ? 'B' : 'A';
    ASSERT_REASON(check(p, path, 1000, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, flip, 1000, NULL, &c), MG_R_TOKEN_BAD_SIG);
    /* SHA-256 declared over a SHA-1 signature */
    ASSERT_REASON(
        check(p, apr_pstrcat(mg_test_pool, path, "&Hash-Algorithm=SHA256", NULL), 1000, NULL, &c),
        MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(
        check(p, apr_pstrcat(mg_test_pool, path, "&Hash-Algorithm=SHA1", NULL), 1000, NULL, &c),
        MG_R_ALLOWED);
}
END_TEST

START_TEST(test_custom_policy_wildcards_address_and_start)
{
    mg_policy_t *p = load_cf();
    mg_token_claims_t c;
    const char *u =
        fsign(p, "cf", "/v/l1/index.m3u8", (mg_fmt_claims_t){.exp = 2000, .scope = "/v/l1/"});
    ck_assert_ptr_nonnull(strstr(u, "?Policy="));
    const char *q = strchr(u, '?');
    /* the same policy for every file under the prefix */
    const char *other = apr_pstrcat(mg_test_pool, "/v/l1/seg/7.ts", q, NULL);
    ASSERT_REASON(check(p, other, 1000, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.scope, "/v/l1/");
    ASSERT_REASON(check(p, apr_pstrcat(mg_test_pool, "/v/l2/7.ts", q, NULL), 1000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    /* the wildcard matches the bytes received, never a path that leaves the prefix */
    ASSERT_REASON(check(p, apr_pstrcat(mg_test_pool, "/v/l1/../l2/7.ts", q, NULL), 1000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    ASSERT_REASON(
        check(p, apr_pstrcat(mg_test_pool, "/v/l1/%2e%2e/l2/7.ts", q, NULL), 1000, NULL, &c),
        MG_R_TOKEN_SCOPE);
    /* an address block and a start */
    u = fsign(p, "cf", "/d/r.pdf",
              (mg_fmt_claims_t){.exp = 2000, .ip = "192.0.2.0/24", .nbf = 1500});
    const char *path = strstr(u, "/d/");
    ASSERT_REASON(check(p, path, 1600, "192.0.2.77", &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.ip, "192.0.2.0/24");
    ck_assert_int_eq(apr_time_sec(c.not_before), 1500);
    ASSERT_REASON(check(p, path, 1600, "192.0.3.1", &c), MG_R_TOKEN_WRONG_IP);
    ASSERT_REASON(check(p, path, 1000, "192.0.2.77", &c), MG_R_TOKEN_NOT_YET);
    ASSERT_REASON(check(p, path, 2100, "192.0.2.77", &c), MG_R_TOKEN_EXPIRED);
    ASSERT_REASON(check(p, mg_fx_replace_str(path, "r.pdf", "s.pdf"), 1600, "192.0.2.77", &c),
                  MG_R_TOKEN_SCOPE); /* an exact Resource: another file is not it */
    /* a single address becomes a /32 in the policy */
    u = fsign(p, "cf", "/d/r.pdf", (mg_fmt_claims_t){.exp = 2000, .ip = "192.0.2.8"});
    ASSERT_REASON(check(p, strstr(u, "/d/"), 1600, "192.0.2.8", &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.ip, "192.0.2.8/32");
    ASSERT_REASON(check(p, strstr(u, "/d/"), 1600, "192.0.2.9", &c), MG_R_TOKEN_WRONG_IP);
    /* a Policy changed after signing */
    const char *pol = strstr(u, "Policy=") + 7;
    char *t = apr_pstrdup(mg_test_pool, strstr(u, "/d/"));
    char *at = strstr(t, pol);
    at[10] = at[10] == 'A' ? 'B' : 'A';
    ASSERT_REASON(check(p, t, 1600, "192.0.2.8", &c), MG_R_TOKEN_BAD_SIG);
}
END_TEST

START_TEST(test_signed_cookies)
{
    mg_policy_t *p = load_cf();
    mg_token_claims_t c;
    const char *u =
        fsign(p, "cf", "/v/l1/index.m3u8", (mg_fmt_claims_t){.exp = 2000, .scope = "/v/l1/"});
    const char *pol = strstr(u, "Policy=") + 7, *sig = strstr(u, "Signature=") + 10;
    pol = apr_pstrmemdup(mg_test_pool, pol, strcspn(pol, "&"));
    sig = apr_pstrmemdup(mg_test_pool, sig, strcspn(sig, "&"));
    const char *jar =
        apr_pstrcat(mg_test_pool, "CloudFront-Policy=", pol, "; CloudFront-Signature=", sig,
                    "; CloudFront-Key-Pair-Id=CF_KEYPAIR_ID; theme=dark", NULL);
    ASSERT_REASON(check_cookie(p, "/v/l1/seg/1.ts?bitrate=3", jar, 1000, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.scope, "/v/l1/");
    ASSERT_REASON(check_cookie(p, "/v/l2/seg/1.ts", jar, 1000, NULL, &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check_cookie(p, "/v/l1/seg/1.ts", jar, 2100, NULL, &c), MG_R_TOKEN_EXPIRED);
    /* one cookie missing, one given twice */
    ASSERT_REASON(check_cookie(p, "/v/l1/a.ts",
                               mg_fx_replace_str(jar, "; CloudFront-Key-Pair-Id=CF_KEYPAIR_ID", ""),
                               1000, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(check_cookie(p, "/v/l1/a.ts",
                               apr_pstrcat(mg_test_pool, jar, "; CloudFront-Signature=", sig, NULL),
                               1000, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    /* cookies are ambient: a native link next to them is still the native link */
    const mg_key_t *nk = NULL;
    for (int i = 0; i < p->keys->nelts; i++)
        if (strcmp(APR_ARRAY_IDX(p->keys, i, mg_keyref_t).id, "native") == 0)
            nk = APR_ARRAY_IDX(p->keys, i, mg_keyref_t).key;
    ck_assert_ptr_nonnull(nk);
    mg_token_claims_t nc;
    memset(&nc, 0, sizeof(nc));
    nc.expires = apr_time_from_sec(2000);
    const char *native, *why;
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, nk, "/x/y.jpg", &nc, &native, &why), MG_OK);
    ASSERT_REASON(check_cookie(p, native, jar, 1000, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "native");
    /* a stale CloudFront cookie does not hide a valid native signed cookie;
     * alone, it is the answer (from the cookie) */
    mg_token_claims_t ck;
    memset(&ck, 0, sizeof(ck));
    ck.expires = apr_time_from_sec(3000);
    ck.scope = "/v/";
    const char *cval;
    ck_assert_int_eq(mg_token_sign_cookie(mg_test_pool, nk, &ck, &cval, &why), MG_OK);
    const char *both = apr_pstrcat(mg_test_pool, jar, "; mg_token=", cval, NULL);
    ASSERT_REASON(check_cookie(p, "/v/l1/seg/1.ts", both, 2100, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "native");
    ASSERT_REASON(check_cookie(p, "/v/l1/seg/1.ts", jar, 2100, NULL, &c), MG_R_TOKEN_EXPIRED);
    ck_assert_str_eq(c.from, "cookie");
    ck_assert_str_eq(c.format, "cloudfront");
    /* no CloudFront cookie, no CloudFront parameter: missing */
    ASSERT_REASON(check_cookie(p, "/v/l1/a.ts", "theme=dark", 1000, NULL, &c), MG_R_TOKEN_MISSING);
}
END_TEST

START_TEST(test_ecdsa_keys)
{
    mg_policy_t *p = load_cf();
    mg_token_claims_t c;
    const char *u =
        fsign(p, "ec", "/e/a.jpg", (mg_fmt_claims_t){.exp = 2000, .private_key = g_ec_priv});
    ck_assert_ptr_nonnull(strstr(u, "Key-Pair-Id=KEC"));
    const char *path = strstr(u, "/e/");
    ASSERT_REASON(check(p, path, 1000, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "ec");
    ASSERT_REASON(check(p, mg_fx_replace_str(path, "a.jpg", "b.jpg"), 1000, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    /* an RSA signature under the EC key's id: the wrong size for this key */
    const char *rsa = fsign(p, "cf", "/e/a.jpg", (mg_fmt_claims_t){.exp = 2000});
    ASSERT_REASON(
        check(p, mg_fx_replace_str(strstr(rsa, "/e/"), "CF_KEYPAIR_ID", "KEC"), 1000, NULL, &c),
        MG_R_TOKEN_MALFORMED);
    /* the signer refuses another key's private half */
    const char *out, *why;
    mg_fmt_claims_t wrong = {.exp = 2000, .private_key = RUBY_PRIV};
    ck_assert_int_eq(mg_fx_try_sign(p, "ec", "/e/a.jpg", &wrong, &out, &why), MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "not the one of key 'ec'"));
}
END_TEST

START_TEST(test_signer_refusals)
{
    mg_policy_t *p = load_cf();
    const char *out, *why;
    mg_fmt_claims_t c = {.exp = 2000};
    ck_assert_int_eq(mg_fx_try_sign(p, "cf", "/a.jpg", &c, &out, &why), MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "--private-key"));
    c.private_key = RUBY_PRIV;
    ck_assert_int_eq(mg_fx_try_sign(p, "cf", "https://other.example/a.jpg", &c, &out, &why),
                     MG_EINVAL);
    ck_assert_int_eq(mg_fx_try_sign(p, "cf", "/a\"b.jpg", &c, &out, &why), MG_EINVAL);
    c.private_key = "not a key";
    ck_assert_int_eq(mg_fx_try_sign(p, "cf", "/a.jpg", &c, &out, &why), MG_EINVAL);
    mg_fmt_claims_t never = {.exp = 0, .private_key = RUBY_PRIV};
    ck_assert_int_eq(mg_fx_try_sign(p, "cf", "/a.jpg", &never, &out, &why), MG_EINVAL);
    mg_fmt_claims_t late = {.exp = 2000, .nbf = 2000, .private_key = RUBY_PRIV};
    ck_assert_int_eq(mg_fx_try_sign(p, "cf", "/a.jpg", &late, &out, &why), MG_EINVAL);
}
END_TEST

static const char *cf_key(const char *file, const char *alg, const char *opts)
{
    return apr_psprintf(mg_test_pool,
                        "version: 1\nkeys:\n  - id: k\n    format: cloudfront\n    file: %s\n%s%s"
                        "\nrules:\n  - {id: all, path: /, token: required}\n",
                        file, alg ? apr_pstrcat(mg_test_pool, "    alg: ", alg, "\n", NULL) : "",
                        opts ? opts : "    options: {origin: 'https://a.example'}");
}

START_TEST(test_load_refusals_and_algorithm_confusion)
{
    /* the SDK's 1024-bit test key loads, with a warning */
    mg_diags_t *d;
    ck_assert_ptr_nonnull(mg_fx_load(cf_key("rsa.pub", NULL, NULL), &d));
    int weak = 0;
    for (int i = 0; i < d->items->nelts; i++) {
        const mg_diag_t *x = &APR_ARRAY_IDX(d->items, i, mg_diag_t);
        weak |= x->severity == MG_SEV_WARNING && strstr(x->msg, "RSA key of 1024 bits") != NULL;
    }
    ck_assert_msg(weak, "no key-weak warning for RSA 1024");
    mg_fx_load_ok(cf_key("ec.pub", "ecdsa-sha1", NULL));
    ASSERT_LOAD_ERROR(cf_key("rsa.pub", NULL, "    options: {}"), "option origin is required");
    ASSERT_LOAD_ERROR(cf_key("rsa.pub", NULL, "    options: {origin: 'https://a.example/p'}"),
                      "option origin is required");
    ASSERT_LOAD_ERROR(
        cf_key("rsa.pub", NULL, "    options: {origin: 'https://a.example', key_pair_id: 'a b'}"),
        "Key-Pair-Id");
    ASSERT_LOAD_ERROR(
        cf_key("rsa.pub", NULL, "    options: {origin: 'https://a.example', sign_hash: md5}"),
        "sign_hash");
    ASSERT_LOAD_ERROR(
        cf_key("rsa.pub", NULL, "    options: {origin: 'https://a.example', expires: x}"),
        "has no option 'expires'");
    /* an HMAC secret as a CloudFront key, and HMAC algorithms under cloudfront */
    ASSERT_LOAD_ERROR(cf_key("hmac.key", NULL, NULL), "not a PEM public key");
    ASSERT_LOAD_ERROR(cf_key("rsa.pub", "hmac-sha1", NULL), "signs with rsa-sha1 or ecdsa-sha1");
    ASSERT_LOAD_ERROR(cf_key("rsa.pub", "ed25519", NULL), "signs with");
    /* a public key under an HMAC format, RSA algorithms under an HMAC format */
    ASSERT_LOAD_ERROR("version: 1\nkeys:\n  - id: g\n    format: gcp-cdn\n    file: rsa.pub\n"
                      "    options: {origin: 'https://a.example'}\nrules: []\n",
                      "one line");
    ASSERT_LOAD_ERROR("version: 1\nkeys:\n  - id: g\n    format: gcp-cdn\n    alg: rsa-sha1\n"
                      "    file: gc.key\n    options: {origin: 'https://a.example'}\nrules: []\n",
                      "signs with hmac-sha1");
    ASSERT_LOAD_ERROR("version: 1\nkeys:\n  - id: n\n    alg: rsa-sha1\n    file: rsa.pub\n"
                      "rules: []\n",
                      "rsa-sha1");
    /* key type against alg, curve, size, private key on the server */
    ASSERT_LOAD_ERROR(cf_key("ec.pub", NULL, NULL), "needs an RSA public key");
    ASSERT_LOAD_ERROR(cf_key("rsa.pub", "ecdsa-sha1", NULL), "P-256");
    ASSERT_LOAD_ERROR(cf_key("ec384.pub", "ecdsa-sha1", NULL), "P-256");
    ASSERT_LOAD_ERROR(cf_key("small.pub", NULL, NULL), "768 bits");
    ASSERT_LOAD_ERROR(cf_key("e1.pub", NULL, NULL), "RSA public exponent is 1, even");
    ASSERT_LOAD_ERROR(cf_key("ecinf.pub", "ecdsa-sha1", NULL), "not a valid P-256 point");
    ASSERT_LOAD_ERROR(cf_key("rsa.pem", NULL, NULL), "holds a private key");
    ASSERT_LOAD_ERROR(
        "version: 1\nkeys:\n  - {id: k, format: cloudfront, file: rsa.pub, sign: true, options: "
        "{origin: 'https://a.example'}}\nrules: []\n",
        "cannot be the policy's signing key");
}
END_TEST

START_TEST(test_gcp_and_cloudfront_names_collide_at_load)
{
    /* Expires and Signature are both formats' names: a link could not say which */
    const char *yaml = "version: 1\nkeys:\n"
                       "  - {id: g, format: gcp-cdn, file: gc.key, options: {origin: "
                       "'https://a.example'}}\n"
                       "  - {id: k, format: cloudfront, file: rsa.pub, options: {origin: "
                       "'https://a.example'}}\n"
                       "rules: []\n";
    const char *e = mg_fx_load_error(yaml);
    ck_assert_msg(strstr(e, "reads the query parameter 'Expires'") != NULL, "%s", e);
    ck_assert_ptr_nonnull(strstr(e, "gcp-cdn"));
}
END_TEST

START_TEST(test_two_keys_rotate_by_key_pair_id)
{
    mg_policy_t *p =
        mg_fx_load_ok("version: 1\nkeys:\n"
                      "  - {id: old, format: cloudfront, file: ec.pub, alg: ecdsa-sha1, "
                      "options: {origin: 'https://a.example', key_pair_id: K1}}\n"
                      "  - {id: new, format: cloudfront, file: rsa.pub, "
                      "options: {origin: 'https://a.example', key_pair_id: K2}}\n"
                      "rules: []\n");
    mg_token_claims_t c;
    const char *u = fsign(p, "new", "/a.jpg", (mg_fmt_claims_t){.exp = 2000});
    ASSERT_REASON(check(p, u, 1000, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "new");
    u = fsign(p, "old", "/a.jpg", (mg_fmt_claims_t){.exp = 2000, .private_key = g_ec_priv});
    ASSERT_REASON(check(p, u, 1000, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "old");
}
END_TEST

/* ------------------------------------------------------------------ */
/* the policy parser, wildcards, base64                                 */
/* ------------------------------------------------------------------ */

static int parse(const char *json, mg_cf_policy_t *pol, const char **why)
{
    *why = NULL;
    return mg_cf_policy_parse(mg_test_pool, json, strlen(json), pol, why);
}

START_TEST(test_policy_parser)
{
    mg_cf_policy_t pol;
    const char *why;
    ck_assert_int_eq(parse("{\"Statement\":[{\"Resource\":\"https://h/a\",\"Condition\":{"
                           "\"DateLessThan\":{\"AWS:EpochTime\":2000}}}]}",
                           &pol, &why),
                     0);
    ck_assert_str_eq(pol.resource, "https://h/a");
    ck_assert_int_eq(pol.date_less_than, 2000);
    ck_assert_int_eq(pol.date_greater_than, 0);
    ck_assert_ptr_null(pol.source_ip);
    /* whitespace, any member order, '\/' escapes (Java's writers) */
    ck_assert_int_eq(
        parse(" {\n \"Statement\" : [ {\"Condition\": {\"IpAddress\":{\"AWS:SourceIp\":"
              "\"10.0.0.0\\/8\"}, \"DateGreaterThan\":{\"AWS:EpochTime\":1000},\r\n"
              "\"DateLessThan\":{\"AWS:EpochTime\":2000}},\t\"Resource\":"
              "\"https:\\/\\/h\\/*\"} ] }\n",
              &pol, &why),
        0);
    ck_assert_str_eq(pol.resource, "https://h/*");
    ck_assert_str_eq(pol.source_ip, "10.0.0.0/8");
    ck_assert_int_eq(pol.date_greater_than, 1000);
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"", "an object"},
        {"[]", "an object"},
        {"{}", "no Statement"},
        {"{\"Statement\":[]}", "an object"},
        {"{\"Statement\":{}}", "not an array"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2}}},{}]}",
         "exactly one statement"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2}}}]}x",
         "bytes after"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2}}}],\"Statement\":[]}",
         "given twice"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Resource\":\"s\",\"Condition\":{\"DateLessThan\":"
         "{\"AWS:EpochTime\":2}}}]}",
         "\"Resource\" given twice"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2},\"DateLessThan\":{\"AWS:EpochTime\":3}}}]}",
         "\"DateLessThan\" given twice"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2,\"AWS:EpochTime\":3}}}]}",
         "given twice"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2},\"StringLike\":{}}}]}",
         "unknown member \"StringLike\""},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Effect\":\"Allow\",\"Condition\":{}}]}",
         "unknown member"},
        {"{\"Statement\":[{\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":2}}}]}",
         "without Resource"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{}}]}", "no DateLessThan"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{}}}]}",
         "needs AWS:EpochTime"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "\"2\"}}}]}",
         "epoch seconds"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "02}}}]}",
         "epoch seconds"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2.5}}}]}",
         "',' or '}'"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "-2}}}]}",
         "epoch seconds"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "99999999999}}}]}",
         "epoch seconds"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2},\"DateGreaterThan\":{\"AWS:EpochTime\":2}}}]}",
         "not before DateLessThan"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2},\"IpAddress\":{\"AWS:SourceIp\":\"10.0.0.0/33\"}}}]}",
         "not an address"},
        {"{\"Statement\":[{\"Resource\":\"\\u0072\",\"Condition\":{\"DateLessThan\":{"
         "\"AWS:EpochTime\":2}}}]}",
         "escape"},
        {"{\"Statement\":[{\"Resource\":\"a\nb\",\"Condition\":{\"DateLessThan\":{"
         "\"AWS:EpochTime\":2}}}]}",
         "control byte"},
        {"{\"Statement\":[{\"Resource\":\"r", "unterminated"},
        {"{\"Statement\":[{\"Resource\":\"r\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":"
         "2}}}]",
         "',' or '}'"},
        {"{\"Statement\":[{\"Resource\":\"r\" \"Condition\":{}}]}", "',' or '}'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse(bad[i].json, &pol, &why) == -1, "accepted: %s", bad[i].json);
        ck_assert_msg(why != NULL && strstr(why, bad[i].why) != NULL, "%s: '%s', not '%s'",
                      bad[i].json, why ? why : "(null)", bad[i].why);
    }
    /* bounded: a Resource of 2049 bytes, a policy of 4097 */
    char *big = apr_palloc(mg_test_pool, 6000);
    memset(big, 'a', 2049);
    big[2049] = '\0';
    ck_assert_int_eq(
        parse(apr_pstrcat(mg_test_pool, "{\"Statement\":[{\"Resource\":\"", big,
                          "\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":2}}}]}", NULL),
              &pol, &why),
        -1);
    ck_assert_ptr_nonnull(strstr(why, "too long"));
    memset(big, ' ', 4097);
    ck_assert_int_eq(mg_cf_policy_parse(mg_test_pool, big, 4097, &pol, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "4096"));
}
END_TEST

START_TEST(test_wildcards)
{
#define G(p, s) mg_cf_glob(p, strlen(p), s, strlen(s))
    ck_assert(G("https://h/a.jpg", "https://h/a.jpg"));
    ck_assert(!G("https://h/a.jpg", "https://h/a.jpg?x=1"));
    ck_assert(G("https://h/v/*", "https://h/v/"));
    ck_assert(G("https://h/v/*", "https://h/v/a/b.ts?x=1"));
    ck_assert(!G("https://h/v/*", "https://h/w/a"));
    ck_assert(G("https://h/v/*.ts", "https://h/v/a/b.ts"));
    ck_assert(!G("https://h/v/*.ts", "https://h/v/a/b.tsx"));
    ck_assert(G("https://h/?.jpg", "https://h/a.jpg"));
    ck_assert(!G("https://h/?.jpg", "https://h/ab.jpg"));
    ck_assert(!G("https://h/?.jpg", "https://h/.jpg"));
    ck_assert(G("*", ""));
    ck_assert(G("https://*/a", "https://x.example/a"));
    ck_assert(G("*a*b*c*", "xxaxxbxxc"));
    ck_assert(!G("*a*b*c*", "xxaxxcxxb"));
    ck_assert(G("**?", "x"));
    ck_assert(!G("", "x"));
#undef G
}
END_TEST

START_TEST(test_cloudfront_base64)
{
    unsigned char out[16];
    char enc[32];
    const unsigned char in[] = {0xfb, 0xff, 0xbf, 0x00};
    ck_assert_uint_eq(mg_cf_b64_encode(in, 4, enc), 8);
    ck_assert_str_eq(enc, "-~-~AA__"); /* "+/+/AA==" in standard base64 */
    ck_assert_int_eq(mg_cf_b64_decode(enc, 8, out, sizeof(out)), 4);
    ck_assert_mem_eq(out, in, 4);
    ck_assert_int_eq(mg_cf_b64_decode("-~~~", 4, out, sizeof(out)), 3);
    ck_assert_int_eq(mg_cf_b64_decode("-~~~AA", 6, out, sizeof(out)), -1);   /* unpadded */
    ck_assert_int_eq(mg_cf_b64_decode("+///AA==", 8, out, sizeof(out)), -1); /* standard */
    ck_assert_int_eq(mg_cf_b64_decode("-_~~AA__", 8, out, sizeof(out)), -1); /* '_' inside */
    ck_assert_int_eq(mg_cf_b64_decode("-~~~AB__", 8, out, sizeof(out)), -1); /* unused bits */
    ck_assert_int_eq(mg_cf_b64_decode("-~~~A___", 8, out, sizeof(out)), -1); /* 3 pads */
    ck_assert_int_eq(mg_cf_b64_decode("-~~~AA__", 8, out, 3), -1);           /* too long */
    ck_assert_int_eq(mg_cf_b64_decode("", 0, out, sizeof(out)), -1);
}
END_TEST

static Suite *cf_suite(void)
{
    Suite *s = suite_create("fmt-cloudfront");
    TCase *tc = tcase_create("cloudfront");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sdk_vectors_verify_and_are_reproduced);
    tcase_add_test(tc, test_canned_policy_covers_every_field);
    tcase_add_test(tc, test_custom_policy_wildcards_address_and_start);
    tcase_add_test(tc, test_signed_cookies);
    tcase_add_test(tc, test_ecdsa_keys);
    tcase_add_test(tc, test_signer_refusals);
    tcase_add_test(tc, test_load_refusals_and_algorithm_confusion);
    tcase_add_test(tc, test_gcp_and_cloudfront_names_collide_at_load);
    tcase_add_test(tc, test_two_keys_rotate_by_key_pair_id);
    suite_add_tcase(s, tc);
    tc = tcase_create("parser");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_policy_parser);
    tcase_add_test(tc, test_wildcards);
    tcase_add_test(tc, test_cloudfront_base64);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(cf_suite)
