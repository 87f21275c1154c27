/* test_fmt.c — foreign signed-link formats (lib/mg_fmt.h): the vendors'
 * own vectors (docs/token-formats.md cites them), every field and refusal
 * of each format, load-time refusals (algorithms, options, expressions),
 * and the adversarial cases: parameters of two formats at once, one secret
 * under two formats, an mg_kid naming a foreign key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>

#include <openssl/evp.h>

#include "fmt_fixture.h"
#include "mg_fmt.h"
#include "mg_keys.h"
#include "mg_test.h"
#include "mg_time.h"
#include "mg_token.h"

static void setup(void)
{
    mg_fx_setup("fmt");
    /* the secrets of the vendors' vectors */
    mg_fx_write_file("ik.key", "private_key_test\n");
    mg_fx_write_file("ng.key", "secret\n");
    mg_fx_write_file("long.key", "a-longer-shared-secret-for-tests\n");
    mg_fx_write_file("bn.key", "SecurityKey\n");
    mg_fx_write_file("gc.key", "nZtRohdNF9m3cKM24IcK4w==\n");
    mg_fx_write_file("gca.key", "aaaaaaaaaaaaaaaaaaaaaa\n"); /* padding is optional */
    mg_fx_write_file("native.key", "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n");
}

static const char *fsign(const mg_policy_t *p, const char *id, const char *url, int64_t exp,
                         const char *ip)
{
    mg_fmt_claims_t c = {.exp = exp, .ip = ip, .scope = NULL};
    return mg_fx_sign(p, id, url, &c);
}

/* ------------------------------------------------------------------ */
/* ImageKit                                                             */
/* ------------------------------------------------------------------ */

static const char P_IK[] = "version: 1\n"
                           "keys:\n"
                           "  - id: ik1\n"
                           "    format: imagekit\n"
                           "    file: ik.key\n"
                           "    options: {endpoint: /test-endpoint/}\n"
                           "rules:\n"
                           "  - {id: all, path: /, token: required}\n";

/* imagekit-developer/imagekit-java, UrlGenTest.signUrl_tests and
 * signUrl_tests_expire_zero (expire 0 = 9999999999). */
START_TEST(test_imagekit_sdk_vectors_verify_and_are_reproduced)
{
    mg_policy_t *p = mg_fx_load_ok(P_IK);
    mg_token_claims_t c;
    const char *v1 = "/test-endpoint/tr:w-100/test-signed-url.png?ik-t=100&ik-s="
                     "5e5037a31a7121cbe2964e220b4338cc6e1ba66d";
    ASSERT_REASON(mg_fx_check(p, v1, 50, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "imagekit");
    ck_assert_str_eq(c.kid, "ik1");
    ck_assert_int_eq(apr_time_sec(c.expires), 100);
    ck_assert_str_eq(fsign(p, "ik1",
                           "https://test-domain.com/test-endpoint/tr:w-100/"
                           "test-signed-url.png",
                           100, NULL),
                     "https://test-domain.com/test-endpoint/tr:w-100/test-signed-url.png?ik-t=100&"
                     "ik-s=5e5037a31a7121cbe2964e220b4338cc6e1ba66d");
    /* no expiry: refused unless the key allows it */
    const char *v2 = "/test-endpoint/tr:w-100/test-signed-url.png?ik-s="
                     "41b3075c40bc84147eb71b8b49ae7fbf349d0f00";
    ASSERT_REASON(mg_fx_check(p, v2, 50, NULL, &c), MG_R_TOKEN_MALFORMED);
    ck_assert_ptr_nonnull(strstr(c.detail, "no_expiry"));
    mg_policy_t *q = mg_fx_load_ok("version: 1\n"
                                   "keys:\n"
                                   "  - id: ik1\n"
                                   "    format: imagekit\n"
                                   "    file: ik.key\n"
                                   "    options: {endpoint: /test-endpoint/, no_expiry: allow}\n"
                                   "rules:\n"
                                   "  - {id: all, path: /, token: required}\n");
    ASSERT_REASON(mg_fx_check(q, v2, 4000000000, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_eq(c.expires, 0);
    ck_assert_str_eq(fsign(q, "ik1", "/test-endpoint/tr:w-100/test-signed-url.png", 0, NULL), v2);
}
END_TEST

START_TEST(test_imagekit_covers_path_query_transformation_and_expiry)
{
    mg_policy_t *p = mg_fx_load_ok(P_IK);
    mg_token_claims_t c;
    const char *u = fsign(p, "ik1", "/test-endpoint/a/b.jpg?tr=w-300,h-200&v=2", 1000, NULL);
    ck_assert_str_eq(u, apr_pstrcat(mg_test_pool,
                                    "/test-endpoint/a/b.jpg?tr=w-300,h-200&v=2&ik-t=1000&ik-s=",
                                    strstr(u, "ik-s=") + 5, NULL));
    ASSERT_REASON(mg_fx_check(p, u, 500, NULL, &c), MG_R_ALLOWED);
    /* ik-s and ik-t may sit anywhere in the query */
    const char *sig = strstr(u, "ik-s=");
    ASSERT_REASON(mg_fx_check(p,
                              apr_pstrcat(mg_test_pool, "/test-endpoint/a/b.jpg?", sig,
                                          "&tr=w-300,h-200&ik-t=1000&v=2", NULL),
                              500, NULL, &c),
                  MG_R_ALLOWED);
    const char *tampered[] = {
        "/test-endpoint/a/c.jpg?tr=w-300,h-200&v=2&ik-t=1000&",
        "/test-endpoint/a/b.jpg?tr=w-300,h-201&v=2&ik-t=1000&",
        "/test-endpoint/a/b.jpg?tr=w-300,h-200&v=3&ik-t=1000&",
        "/test-endpoint/a/b.jpg?tr=w-300,h-200&ik-t=1000&",
        "/test-endpoint/a/b.jpg?tr=w-300,h-200&v=2&ik-t=1001&",
        "/test-endpoint/a/b.jpg?tr=w-300,h-200&v=2&w=1&ik-t=1000&",
        "/test-endpoint/tr:w-300,h-200/a/b.jpg?v=2&ik-t=1000&",
    };
    for (size_t i = 0; i < sizeof(tampered) / sizeof(tampered[0]); i++)
        ASSERT_REASON(
            mg_fx_check(p, apr_pstrcat(mg_test_pool, tampered[i], sig, NULL), 500, NULL, &c),
            MG_R_TOKEN_BAD_SIG);
    /* expiry: the common checks, with grace and skew */
    ASSERT_REASON(mg_fx_check(p, u, 1030, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_eq(c.in_grace, 1);
    ASSERT_REASON(mg_fx_check(p, u, 1031, NULL, &c), MG_R_TOKEN_EXPIRED);
    /* outside the endpoint: the signer refuses, the verifier too */
    const mg_fkey_t *k = mg_fx_fkey(p, "ik1");
    mg_fmt_claims_t fc = {.exp = 1000, .ip = NULL, .scope = NULL};
    const char *out, *why;
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/other/a.jpg", &fc, &out, &why), MG_OK);
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, "/other/a/b.jpg?ik-t=1000&", sig, NULL),
                              500, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
}
END_TEST

START_TEST(test_imagekit_malformed_parameters_are_token_malformed)
{
    mg_policy_t *p = mg_fx_load_ok(P_IK);
    mg_token_claims_t c;
    const char *good = "5e5037a31a7121cbe2964e220b4338cc6e1ba66d";
    const char *bad[] = {
        "?ik-t=100",                                                 /* no ik-s */
        "?ik-t=100&ik-s=5E5037A31A7121CBE2964E220B4338CC6E1BA66D",   /* upper case */
        "?ik-t=100&ik-s=5e5037a31a7121cbe2964e220b4338cc6e1ba66",    /* 39 digits */
        "?ik-t=100&ik-s=5e5037a31a7121cbe2964e220b4338cc6e1ba66d00", /* 42 digits */
        "?ik-t=100&ik-s=5e5037a31a7121cbe2964e220b4338cc6e1ba66g",   /* not hex */
        "?ik-t=0100&ik-s=SIG",                                       /* leading zero */
        "?ik-t=-1&ik-s=SIG",                                         /* sign */
        "?ik-t=1234567890123&ik-s=SIG",                              /* 13 digits */
        "?ik-t=100&ik-s=SIG&ik-s=SIG",                               /* repeated */
        "?ik-t=100&ik-t=100&ik-s=SIG",                               /* repeated */
        "?ik-t=100&ik%2Ds=SIG&ik-s=SIG",                             /* encoded twin */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *q = bad[i], *at;
        while ((at = strstr(q, "SIG")) != NULL)
            q = apr_pstrcat(mg_test_pool, apr_pstrmemdup(mg_test_pool, q, (apr_size_t)(at - q)),
                            good, at + 3, NULL);
        const char *url =
            apr_pstrcat(mg_test_pool, "/test-endpoint/tr:w-100/test-signed-url.png", q, NULL);
        ASSERT_REASON(mg_fx_check(p, url, 50, NULL, &c), MG_R_TOKEN_MALFORMED);
        ck_assert_ptr_nonnull(c.detail);
    }
    /* no ImageKit parameter at all */
    ASSERT_REASON(mg_fx_check(p, "/test-endpoint/a.jpg", 50, NULL, &c), MG_R_TOKEN_MISSING);
}
END_TEST

/* ------------------------------------------------------------------ */
/* nginx secure_link                                                    */
/* ------------------------------------------------------------------ */

static const char *ng_policy(const char *expression, const char *extra)
{
    return apr_psprintf(mg_test_pool,
                        "version: 1\n"
                        "keys:\n"
                        "  - id: ng1\n"
                        "    format: nginx-secure-link\n"
                        "    file: ng.key\n"
                        "    options:\n"
                        "      expression: '%s'\n%s"
                        "rules:\n"
                        "  - {id: all, path: /, token: required}\n",
                        expression, extra ? extra : "");
}

/* nginx.org, ngx_http_secure_link_module documentation: the example
 * "$secure_link_expires$uri$remote_addr secret" for /s/link, expires
 * 2147483647, client 127.0.0.1 gives md5=_e4Nc3iduzkWRm01TBBNYw. */
START_TEST(test_nginx_documentation_vector_verifies_and_is_reproduced)
{
    mg_policy_t *p = mg_fx_load_ok(ng_policy("$secure_link_expires$uri$remote_addr $secret", NULL));
    mg_token_claims_t c;
    const char *v = "/s/link?md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647";
    ASSERT_REASON(mg_fx_check(p, v, 1700000000, "127.0.0.1", &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "nginx-secure-link");
    ck_assert_str_eq(c.ip, "127.0.0.1");
    ck_assert_int_eq(apr_time_sec(c.expires), 2147483647);
    ck_assert_str_eq(fsign(p, "ng1", "/s/link", 2147483647, "127.0.0.1"), v);
    /* another client address: the hash itself is bound to it */
    ASSERT_REASON(mg_fx_check(p, v, 1700000000, "127.0.0.2", &c), MG_R_TOKEN_BAD_SIG);
    /* $uri is the canonical path: another spelling of the same path verifies */
    ASSERT_REASON(mg_fx_check(p, "/s//./x/../link?md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647",
                              1700000000, "127.0.0.1", &c),
                  MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, "/s/link?md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483646",
                              1700000000, "127.0.0.1", &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(mg_fx_check(p, v, (int64_t)2147483647 + 31, "127.0.0.1", &c), MG_R_TOKEN_EXPIRED);
}
END_TEST

START_TEST(test_nginx_arg_expires_args_and_parameter_names)
{
    /* the common "secret$uri$arg_e" spelling, with the names of the site */
    mg_policy_t *p = mg_fx_load_ok(
        ng_policy("$secret$uri$arg_e", "      hash_param: st\n      expires_param: e\n"));
    mg_token_claims_t c;
    const char *u = fsign(p, "ng1", "/on_play/vid3.mp4?quality=hd", 5000, NULL);
    ck_assert_ptr_nonnull(strstr(u, "?quality=hd&st="));
    ck_assert_ptr_nonnull(strstr(u, "&e=5000"));
    ASSERT_REASON(mg_fx_check(p, u, 100, "203.0.113.9", &c), MG_R_ALLOWED);
    ck_assert_ptr_null(c.ip);
    /* $args is not in the expression: other parameters are not covered */
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, u, "&x=1", NULL), 100, NULL, &c),
                  MG_R_ALLOWED);
    mg_policy_t *a = mg_fx_load_ok(ng_policy("$secure_link_expires$uri?$args $secret", NULL));
    const char *ua = fsign(a, "ng1", "/v/a.mp4?quality=hd", 5000, NULL);
    ASSERT_REASON(mg_fx_check(a, ua, 100, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(a, apr_pstrcat(mg_test_pool, ua, "&x=1", NULL), 100, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
}
END_TEST

/* Without $args the query is unsigned, and so would be its transformation:
 * ?tr= next to such a link is token-out-of-scope, as for an EdgeAuth URL
 * token (red team 22: it was allowed, a rendition nobody signed); in the
 * path, tr: is part of $uri and signed; with $args the query is signed. */
START_TEST(test_nginx_without_args_signs_no_query_transformation)
{
    mg_policy_t *p = mg_fx_load_ok(ng_policy("$secure_link_expires$uri $secret", NULL));
    mg_token_claims_t c;
    const char *u = fsign(p, "ng1", "/v/a.jpg", 5000, NULL);
    const char *q = strchr(u, '?') + 1;
    ASSERT_REASON(mg_fx_check(p, u, 100, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/a.jpg?tr=w-2000&", q, NULL), 100, NULL, &c),
        MG_R_TOKEN_SCOPE);
    ck_assert_ptr_nonnull(strstr(c.detail, "$args"));
    ASSERT_REASON(mg_fx_check(p, fsign(p, "ng1", "/v/tr:w-300/a.jpg", 5000, NULL), 100, NULL, &c),
                  MG_R_ALLOWED);
    const mg_fkey_t *k = mg_fx_fkey(p, "ng1");
    mg_fmt_claims_t fc = {.exp = 5000};
    const char *out, *why;
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/v/a.jpg?tr=w-300", &fc, &out, &why), MG_OK);
    mg_policy_t *a = mg_fx_load_ok(ng_policy("$secure_link_expires$uri?$args $secret", NULL));
    const char *ua = fsign(a, "ng1", "/v/a.jpg?tr=w-300", 5000, NULL);
    ASSERT_REASON(mg_fx_check(a, ua, 100, NULL, &c), MG_R_ALLOWED);
}
END_TEST

/* base64url MD5 without padding, as nginx's secure_link compares it */
static const char *ng_md5(const char *text)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t n = 0;
    ck_assert_int_eq(EVP_Q_digest(NULL, "MD5", NULL, text, strlen(text), md, &n), 1);
    char *out = apr_palloc(mg_test_pool, 32);
    size_t len = mg_b64url_encode(md, n, out);
    out[len] = '\0';
    return out;
}

/* $uri$args hashed /v/a.jpg?x=1 exactly as /v/?a.jpgx=1 (the directory),
 * /v/a.jp?gx=1 or /v/a.jpgx=1 (red team 22): $args needs a '?' before it
 * and a space, $secret or the end after it, and $uri no '?' of its own. */
START_TEST(test_nginx_args_has_fixed_boundaries)
{
    const char *refused[] = {"$secure_link_expires$uri$args $secret",
                             "$secure_link_expires$uri?$args$remote_addr $secret",
                             "$secure_link_expires$args?$uri $secret",
                             "$secure_link_expires$uri?$args$uri $secret",
                             "$secure_link_expires$uri?$args $secret?$args"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        ck_assert_msg(strstr(mg_fx_load_error(ng_policy(refused[i], NULL)), "$args") != NULL, "%s",
                      refused[i]);
    mg_fx_load_ok(ng_policy("$secure_link_expires$uri?$args$secret", NULL));
    mg_fx_load_ok(ng_policy("$secret$uri?$args", "      no_expiry: allow\n"));
    mg_policy_t *p = mg_fx_load_ok(ng_policy("$secure_link_expires$uri?$args $secret", NULL));
    mg_token_claims_t c;
    const char *u = fsign(p, "ng1", "/v/a.jpg?x=1", 5000, NULL);
    const char *t = strstr(u, "&md5=");
    ASSERT_REASON(mg_fx_check(p, u, 100, NULL, &c), MG_R_ALLOWED);
    const char *moved[] = {"/v/?a.jpgx=1", "/v/a.jp?gx=1", "/?v/a.jpgx=1"};
    for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++)
        ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, moved[i], t, NULL), 100, NULL, &c),
                      MG_R_TOKEN_BAD_SIG);
    /* a '?' in $uri (encoded) or in $args could stand for the boundary: a
     * link another signer made for the file "a?b" with the query c hashes
     * what /v/a with the query b?c does; both are refused */
    const char *h = ng_md5("5000/v/a?b?c secret");
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/a%3Fb?c&md5=", h, "&expires=5000", NULL), 100,
                    NULL, &c),
        MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(mg_fx_check(p,
                              apr_pstrcat(mg_test_pool, "/v/a?b?c&md5=", h, "&expires=5000", NULL),
                              100, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    /* and the same hash where nothing is ambiguous verifies (the check is
     * the '?', not the hash) */
    ASSERT_REASON(mg_fx_check(p,
                              apr_pstrcat(mg_test_pool, "/v/a?bc&md5=",
                                          ng_md5("5000/v/a?bc secret"), "&expires=5000", NULL),
                              100, NULL, &c),
                  MG_R_ALLOWED);
    const mg_fkey_t *k = mg_fx_fkey(p, "ng1");
    mg_fmt_claims_t fc = {.exp = 5000};
    const char *out, *why;
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/v/a%3Fb.jpg", &fc, &out, &why), MG_OK);
}
END_TEST

START_TEST(test_nginx_malformed_parameters_are_token_malformed)
{
    mg_policy_t *p = mg_fx_load_ok(ng_policy("$secure_link_expires$uri$remote_addr $secret", NULL));
    mg_token_claims_t c;
    const char *bad[] = {
        "/s/link?expires=2147483647",                              /* no hash */
        "/s/link?md5=_e4Nc3iduzkWRm01TBBNYw",                      /* no expiry */
        "/s/link?md5=_e4Nc3iduzkWRm01TBBNYw==&expires=2147483647", /* padding */
        "/s/link?md5=_e4Nc3iduzkWRm01TBBNY&expires=2147483647",    /* 21 characters */
        "/s/link?md5=_e4Nc3iduzkWRm01TBBNYx&expires=2147483647",   /* trailing bits */
        "/s/link?md5=/e4Nc3iduzkWRm01TBBNYw&expires=2147483647",   /* base64, not url */
        "/s/link?md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647x",  /* not a number */
        "/s/link?md5=_e4Nc3iduzkWRm01TBBNYw&expires=1&expires=2147483647",
        "/s/link?md5=_e4Nc3iduzkWRm01TBBNYw&md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_REASON(mg_fx_check(p, bad[i], 1700000000, "127.0.0.1", &c), MG_R_TOKEN_MALFORMED);
}
END_TEST

START_TEST(test_nginx_expressions_that_cannot_be_safe_are_refused_at_load)
{
    /* at the option's own line and column */
    mg_diags_t *d;
    ck_assert_ptr_null(mg_fx_load(ng_policy("$secure_link_expires$uri secret", NULL), &d));
    const mg_diag_t *x = &APR_ARRAY_IDX(d->items, 0, mg_diag_t);
    ck_assert_str_eq(x->code, "key-option");
    ck_assert_int_eq(x->line, 7);
    ck_assert_int_eq(x->col, 7);
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error(ng_policy("$secure_link_expires$uri secret", NULL)), "$secret"));
    ck_assert_ptr_nonnull(strstr(
        mg_fx_load_error(ng_policy("$secure_link_expires$remote_addr $secret", NULL)), "$uri"));
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error(ng_policy("$uri $secret", NULL)), "$secure_link_expires"));
    ck_assert_str_eq(mg_fx_load_error(ng_policy("$uri $secret", "      no_expiry: allow\n")), "");
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error(ng_policy("$secure_link_expires$uri$http_host $secret", NULL)),
               "$http_host"));
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error(ng_policy("${secure_link_expires$uri $secret", NULL)), "'}'"));
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error(ng_policy("$secure_link_expires$uri $secret",
                                                            "      hash_param: mg_sig\n")),
                                 "hash_param"));
    /* no expression at all */
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error("version: 1\n"
                                "keys:\n"
                                "  - {id: n, format: nginx-secure-link, file: ng.key}\n"
                                "rules: []\n"),
               "expression"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bunny                                                                */
/* ------------------------------------------------------------------ */

static const char P_BN[] = "version: 1\n"
                           "keys:\n"
                           "  - {id: bn1, format: bunny, file: bn.key}\n"
                           "rules:\n"
                           "  - {id: all, path: /, token: required}\n";

/* BunnyWay/BunnyCDN.TokenAuthentication, e2e/vectors.json (inputs.json:
 * key "SecurityKey", expires 1598024587): every query-form vector without
 * country lists. */
START_TEST(test_bunny_sdk_vectors_verify)
{
    mg_policy_t *p = mg_fx_load_ok(P_BN);
    mg_token_claims_t c;
    static const struct {
        const char *url, *ip, *scope, *bound;
    } v[] = {
        {"/300kb.jpg?token=HS256-o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX4&expires=1598024587",
         "9.9.9.9", NULL, NULL},
        {"/abc/300kb.jpg?token=HS256-uVZvT3SbEoVKYJyDJgbcsDmSFf73cv-uNUVaJiKWpbQ&token_path=%2Fabc&"
         "expires=1598024587",
         "9.9.9.9", "/abc/", NULL},
        {"/300kb.jpg?token=HS256-1lwWBD_c1IAGSj1UKPoxreu8ePDQ-Z9FoWLcRn_RRH0&token_ignore_params="
         "true&expires=1598024587",
         "9.9.9.9", NULL, NULL},
        {"/300kb.jpg?token=HS256-DAVapqNNED3Z7JkjRTYX0UOIHNtbHEuuhRNEc4A7mMQ&limit=1000&expires="
         "1598024587",
         "9.9.9.9", NULL, NULL},
        {"/300kb.jpg?token=HS256-1-L2rISTLcujMY9UFf2tbZ41d5i-Bme1g1oTK_Z2QMLJk&expires=1598024587",
         "1.2.3.4", NULL, "1.2.3.4/32"},
        {"/300kb.jpg?token=HS256-1-Z1BaGdhTZdU4iANcyKpurFR2VgCNdqC6hlBv5x_TyaI&expires=1598024587",
         "2001:db8:85a3::8a2e:370:7334", NULL, "2001:db8:85a3::/64"},
        {"/abc/"
         "300kb.jpg?token=HS256-1-wag9tC0r1QWfg-2eMj5QcdzgPLCIdQb-D0WVU1Mhg2w&token_path=%2Fabc&"
         "expires=1598024587",
         "1.2.3.4", "/abc/", "1.2.3.4/32"},
        {"/300kb.jpg?token=HS256-1-rWalmQRJ-A_qrb08-JoeU3b-gOS5mJiJjPOfDWa0gsQ&token_ignore_params="
         "true&expires=1598024587",
         "1.2.3.4", NULL, "1.2.3.4/32"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ck_assert_msg(mg_fx_check(p, v[i].url, 1598024000, v[i].ip, &c) == MG_R_ALLOWED, "%s: %s",
                      v[i].url, c.detail);
        ck_assert_str_eq(c.format, "bunny");
        if (v[i].scope)
            ck_assert_str_eq(c.scope, v[i].scope);
        else
            ck_assert_ptr_null(c.scope);
        if (v[i].bound)
            ck_assert_str_eq(c.ip, v[i].bound);
        else
            ck_assert_ptr_null(c.ip);
    }
    /* the IP-bound vector from another address of the /64, and from outside it */
    ASSERT_REASON(mg_fx_check(p, v[5].url, 1598024000, "2001:db8:85a3::1", &c), MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, v[5].url, 1598024000, "2001:db8:85a4::1", &c), MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(mg_fx_check(p, v[4].url, 1598024000, "1.2.3.5", &c), MG_R_TOKEN_BAD_SIG);
    /* token_path /abc is read as the directory /abc/: never wider */
    ASSERT_REASON(mg_fx_check(p,
                              "/abcd/300kb.jpg?token=HS256-uVZvT3SbEoVKYJyDJgbcsDmSFf73cv-"
                              "uNUVaJiKWpbQ&token_path=%2Fabc&expires=1598024587",
                              1598024000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    ASSERT_REASON(mg_fx_check(p,
                              "/abc/../x.jpg?token=HS256-uVZvT3SbEoVKYJyDJgbcsDmSFf73cv-"
                              "uNUVaJiKWpbQ&token_path=%2Fabc&expires=1598024587",
                              1598024000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    /* signed parameters: another value breaks it, ignore_params frees them */
    ASSERT_REASON(mg_fx_check(p, mg_fx_replace_str(v[3].url, "limit=1000", "limit=9999"),
                              1598024000, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, v[0].url, "&w=1", NULL), 1598024000, NULL, &c),
        MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, v[2].url, "&w=1", NULL), 1598024000, NULL, &c),
        MG_R_ALLOWED);
    /* ... but not a transformation of a link to one file: a rendition
     * nobody signed (red team 22) */
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, v[2].url, "&tr=w-2000", NULL),
                              1598024000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    ck_assert_ptr_nonnull(strstr(c.detail, "token_ignore_params"));
    ASSERT_REASON(mg_fx_check(p, v[0].url, 1598024587 + 31, NULL, &c), MG_R_TOKEN_EXPIRED);
}
END_TEST

/* A token_path holds the paths Bunny's edge finds under it in the URL as
 * sent, 'tr:' segment included: /tr:w-2000/v/l1/a.ts does not start with
 * /v/l1/ (red team 22: the scope was checked on the path with the
 * transformation removed, mg_token.c now checks both). */
START_TEST(test_bunny_token_path_holds_no_tr_segment_in_front_of_it)
{
    mg_policy_t *p = mg_fx_load_ok(P_BN);
    mg_token_claims_t c;
    const mg_fkey_t *k = mg_fx_fkey(p, "bn1");
    mg_fmt_claims_t fc = {.exp = 2000, .ip = NULL, .scope = "/v/l1/"};
    const char *out, *why;
    ck_assert_int_eq(k->fmt->sign(mg_test_pool, k, "/v/l1/a.jpg", &fc, &out, &why), MG_OK);
    const char *q = strchr(out, '?');
    ASSERT_REASON(mg_fx_check(p, out, 100, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/l1/tr:w-2000/a.jpg", q, NULL), 100, NULL, &c),
        MG_R_ALLOWED);
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/tr:w-2000/v/l1/a.jpg", q, NULL), 100, NULL, &c),
        MG_R_TOKEN_SCOPE);
    ck_assert_ptr_nonnull(strstr(c.detail, "tr:"));
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/tr:w-2000/l1/a.jpg", q, NULL), 100, NULL, &c),
        MG_R_TOKEN_SCOPE);
}
END_TEST

/* Bunny's signing data joins decoded pairs with '&' and '=': a link for
 * ?a=1&tr=oi-logo.png also signed ?a=1%26tr%3Doi-logo.png, the same file
 * without the watermark (red team 22). Such a name or value is refused,
 * by the verifier and the signer. */
START_TEST(test_bunny_encoded_separators_in_signed_pairs_are_refused)
{
    mg_policy_t *p = mg_fx_load_ok(P_BN);
    mg_token_claims_t c;
    const char *url = fsign(p, "bn1", "/v/a.jpg?a=1&tr=oi-logo.png", 2000, NULL);
    const char *tok = strstr(url, "&token=");
    ASSERT_REASON(mg_fx_check(p, url, 100, NULL, &c), MG_R_ALLOWED);
    const char *moved[] = {"/v/a.jpg?a=1%26tr%3Doi-logo.png", "/v/a.jpg?a=1%26tr=oi-logo.png",
                           "/v/a.jpg?a%3D1%26tr=oi-logo.png"};
    for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
        ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, moved[i], tok, NULL), 100, NULL, &c),
                      MG_R_TOKEN_MALFORMED);
        ck_assert_ptr_nonnull(strstr(c.detail, "encoded '&'"));
    }
    /* an '=' in a value is no separator there: signed and verified */
    ASSERT_REASON(mg_fx_check(p, fsign(p, "bn1", "/v/a.jpg?a=x%3Dy", 2000, NULL), 100, NULL, &c),
                  MG_R_ALLOWED);
    const mg_fkey_t *k = mg_fx_fkey(p, "bn1");
    mg_fmt_claims_t fc = {.exp = 2000};
    const char *out, *why;
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/v/a.jpg?a=1%26b", &fc, &out, &why), MG_OK);
    ck_assert_ptr_nonnull(strstr(why, "encoded '&'"));
}
END_TEST

START_TEST(test_bunny_signer_and_refusals)
{
    mg_policy_t *p = mg_fx_load_ok(P_BN);
    mg_token_claims_t c;
    ck_assert_str_eq(fsign(p, "bn1", "https://token-tester.b-cdn.net/300kb.jpg", 1598024587, NULL),
                     "https://token-tester.b-cdn.net/300kb.jpg?token=HS256-"
                     "o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX4&expires=1598024587");
    ck_assert_str_eq(fsign(p, "bn1", "/300kb.jpg", 1598024587, "1.2.3.4"),
                     "/300kb.jpg?token=HS256-1-L2rISTLcujMY9UFf2tbZ41d5i-Bme1g1oTK_Z2QMLJk&"
                     "expires=1598024587");
    const mg_fkey_t *k = mg_fx_fkey(p, "bn1");
    mg_fmt_claims_t fc = {.exp = 2000, .ip = NULL, .scope = "/v/l1/"};
    const char *out, *why;
    ck_assert_int_eq(k->fmt->sign(mg_test_pool, k, "/v/l1/seg-1.ts?q=1", &fc, &out, &why), MG_OK);
    ASSERT_REASON(mg_fx_check(p, out, 100, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.scope, "/v/l1/");
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/v/l2/a.ts", &fc, &out, &why), MG_OK);
    const char *bad[] = {
        "/a.jpg?expires=1598024587",
        "/a.jpg?token=HS256-o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX4",
        "/a.jpg?token=o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX4&expires=1598024587",
        "/a.jpg?token=HS256-o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX&expires=1598024587",
        "/a.jpg?token=HS256-o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX4&expires=15980245870000",
        "/a.jpg?token=HS256-o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX4&expires=1&expires=2",
        ("/a.jpg?token=HS256-o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX4&token_countries=CA%2CUS&"
         "expires=1598024587"),
        "/a.jpg?token=HS256-o10JRWlsAItyAsdKS6jJKjabHN4FrFsplDHPV1idcX4&a=1&a=2&expires=1598024587",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(mg_fx_check(p, bad[i], 100, NULL, &c) == MG_R_TOKEN_MALFORMED, "%s", bad[i]);
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error("version: 1\n"
                                "keys:\n"
                                "  - {id: b, format: bunny, alg: hmac-sha1, file: "
                                "bn.key}\n"
                                "rules: []\n"),
               "bunny signs with hmac-sha256"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Google Cloud CDN                                                     */
/* ------------------------------------------------------------------ */

/* One key file under several origins: a key is bound to the origin its
 * links were signed for (the Host header is never read). */
static const char P_GC[] =
    "version: 1\n"
    "keys:\n"
    "  - {id: g-ip, format: gcp-cdn, file: gc.key,\n"
    "     options: {origin: 'http://35.186.234.33', key_name: my-key}}\n"
    "  - {id: g-www, format: gcp-cdn, file: gc.key,\n"
    "     options: {origin: 'https://www.google.com', key_name: my-key}}\n"
    "  - {id: g-ex, format: gcp-cdn, file: gc.key,\n"
    "     options: {origin: 'https://www.example.com', key_name: my-key}}\n"
    "  - {id: g-media, format: gcp-cdn, file: gc.key,\n"
    "     options: {origin: 'https://media.example.com', key_name: my-key}}\n"
    "  - {id: j-ex, format: gcp-cdn, file: gca.key,\n"
    "     options: {origin: 'https://www.example.com', key_name: my-key}}\n"
    "  - {id: my-key, format: gcp-cdn, file: gca.key,\n"
    "     options: {origin: 'https://media.example.com'}}\n"
    "rules:\n"
    "  - {id: all, path: /, token: required}\n";

/* GoogleCloudPlatform/golang-samples cdn/signedurls (TestSignURL,
 * TestSignURLWithPrefix: key nZtRohdNF9m3cKM24IcK4w==) and
 * GoogleCloudPlatform/java-docs-samples cdn/signed-urls (SignedUrlsTest,
 * SignedUrlWithPrefixTest: key aaaaaaaaaaaaaaaaaaaaaa==). */
START_TEST(test_gcp_sample_vectors_verify_and_are_reproduced)
{
    mg_policy_t *p = mg_fx_load_ok(P_GC);
    mg_token_claims_t c;
    static const struct {
        const char *url, *key, *scope;
        int64_t exp;
    } v[] = {
        {"/index.html?Expires=1558131350&KeyName=my-key&Signature=fm6JZSmKNsB5sys8VGr-JE4LiiE=",
         "g-ip", NULL, 1558131350},
        {"/?Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=", "g-www",
         NULL, 1549751401},
        {"/some/path?some=query&another=param&Expires=1549751461&KeyName=my-key&Signature="
         "sTqqGX5hUJmlRJ84koAIhWW_c3M=",
         "g-ex", NULL, 1549751461},
        {"/segments/?URLPrefix=aHR0cHM6Ly9tZWRpYS5leGFtcGxlLmNvbS9zZWdtZW50cy8=&Expires="
         "1558131350&KeyName=my-key&Signature=HWE5tBTZgnYVoZzVLG7BtRnOsgk=",
         "g-media", "/segments/", 1558131350},
        {"/?URLPrefix=aHR0cHM6Ly93d3cuZ29vZ2xlLmNvbS8=&Expires=1549751401&KeyName=my-key&"
         "Signature=o0zZ77jb7BgtGRPQEaXmX3cCLh8=",
         "g-www", "/", 1549751401},
        {"/foo?Expires=1518135754&KeyName=my-key&Signature=vUfG4yv47dyns1j9e_OI6_5meuA=", "j-ex",
         NULL, 1518135754},
        {"/videos/id/main.m3u8?userID=abc123&starting_profile=1&URLPrefix="
         "aHR0cHM6Ly9tZWRpYS5leGFtcGxlLmNvbS92aWRlb3Mv&Expires=1518135754&KeyName=my-key&"
         "Signature=SPov5sp5XKefUpuJaqUckinUO_4=",
         "my-key", "/videos/", 1518135754},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t exp = v[i].exp;
        ck_assert_msg(mg_fx_check(p, v[i].url, exp - 10, NULL, &c) == MG_R_ALLOWED, "%s: %s",
                      v[i].url, c.detail);
        ck_assert_str_eq(c.format, "gcp-cdn");
        ck_assert_str_eq(c.kid, v[i].key);
        if (v[i].scope)
            ck_assert_str_eq(c.scope, v[i].scope);
        else
            ck_assert_ptr_null(c.scope);
        ASSERT_REASON(mg_fx_check(p, v[i].url, exp + 31, NULL, &c), MG_R_TOKEN_EXPIRED);
    }
    /* the signer reproduces the URL-form vectors byte for byte */
    ck_assert_str_eq(fsign(p, "g-ip", "http://35.186.234.33/index.html", 1558131350, NULL),
                     "http://35.186.234.33/index.html?Expires=1558131350&KeyName=my-key&"
                     "Signature=fm6JZSmKNsB5sys8VGr-JE4LiiE=");
    ck_assert_str_eq(fsign(p, "g-ex", "/some/path?some=query&another=param", 1549751461, NULL),
                     "https://www.example.com/some/path?some=query&another=param&Expires="
                     "1549751461&KeyName=my-key&Signature=sTqqGX5hUJmlRJ84koAIhWW_c3M=");
    /* and the prefix form (the Java sample's request URL and prefix) */
    const mg_fkey_t *k = mg_fx_fkey(p, "my-key");
    mg_fmt_claims_t fc = {.exp = 1518135754, .ip = NULL, .scope = "/videos/"};
    const char *out, *why;
    ck_assert_int_eq(k->fmt->sign(mg_test_pool, k,
                                  "https://media.example.com/videos/id/"
                                  "main.m3u8?userID=abc123&starting_profile=1",
                                  &fc, &out, &why),
                     MG_OK);
    ck_assert_str_eq(out, apr_pstrcat(mg_test_pool, "https://media.example.com", v[6].url, NULL));
}
END_TEST

START_TEST(test_gcp_covers_origin_path_query_and_prefix)
{
    mg_policy_t *p = mg_fx_load_ok(P_GC);
    mg_token_claims_t c;
    const char *u = fsign(p, "g-media", "/v/a.ts?x=1", 2000, NULL);
    const char *path = u + strlen("https://media.example.com");
    ASSERT_REASON(mg_fx_check(p, path, 1000, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_eq(apr_time_sec(c.expires), 2000);
    /* every signed byte counts: path, query, expiry, key name */
    ASSERT_REASON(mg_fx_check(p, mg_fx_replace_str(path, "/v/a.ts", "/v/b.ts"), 1000, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(mg_fx_check(p, mg_fx_replace_str(path, "x=1", "x=2"), 1000, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(
        mg_fx_check(p, mg_fx_replace_str(path, "Expires=2000", "Expires=2001"), 1000, NULL, &c),
        MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(
        mg_fx_check(p, mg_fx_replace_str(path, "KeyName=my-key", "KeyName=my-kez"), 1000, NULL, &c),
        MG_R_TOKEN_UNKNOWN_KEY);
    /* a link signed for another origin does not verify here */
    mg_policy_t *other = mg_fx_load_ok("version: 1\n"
                                       "keys:\n"
                                       "  - {id: my-key, format: gcp-cdn, file: gc.key,\n"
                                       "     options: {origin: 'https://evil.example.com'}}\n"
                                       "rules:\n"
                                       "  - {id: all, path: /, token: required}\n");
    ASSERT_REASON(mg_fx_check(other, path, 1000, NULL, &c), MG_R_TOKEN_BAD_SIG);
    /* the signature may arrive percent-encoded ('=' as %3D) */
    size_t n = strlen(path);
    ck_assert(path[n - 1] == '=');
    ASSERT_REASON(mg_fx_check(p,
                              apr_pstrcat(mg_test_pool, apr_pstrmemdup(mg_test_pool, path, n - 1),
                                          "%3D", NULL),
                              1000, NULL, &c),
                  MG_R_ALLOWED);
    /* prefix form: any URL under the prefix, nothing outside, no dot-segment escape */
    const mg_fkey_t *k = mg_fx_fkey(p, "g-media");
    mg_fmt_claims_t fc = {.exp = 2000, .ip = NULL, .scope = "/v/l1/"};
    const char *out, *why;
    ck_assert_int_eq(k->fmt->sign(mg_test_pool, k, "/v/l1/seg-1.ts", &fc, &out, &why), MG_OK);
    const char *q = strchr(out, '?');
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/l1/seg-2.ts", q, NULL), 1000, NULL, &c),
        MG_R_ALLOWED);
    ck_assert_str_eq(c.scope, "/v/l1/");
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/l1/x/y.ts?a=b&", q + 1, NULL), 1000, NULL, &c),
        MG_R_ALLOWED);
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/l2/seg-1.ts", q, NULL), 1000, NULL, &c),
        MG_R_TOKEN_SCOPE);
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/l1/../../etc/x", q, NULL), 1000, NULL, &c),
        MG_R_TOKEN_SCOPE);
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/v/l2/a.ts", &fc, &out, &why), MG_OK);
    /* a prefix without a final '/' (Google's are plain string prefixes): /v/l1x.ts is
     * under "https://media.example.com/v/l1", the raw /v/l1/../l2/x is not (canonically) */
    static const char pq[] = "?URLPrefix=aHR0cHM6Ly9tZWRpYS5leGFtcGxlLmNvbS92L2wx&Expires=2000&"
                             "KeyName=my-key&Signature=iSXndb5dl7TuzJZuYRAaEFX2Q38=";
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/l1x.ts", pq, NULL), 1000, NULL, &c),
                  MG_R_ALLOWED);
    ck_assert_str_eq(c.scope, "/v/");
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/l1/../l2/x.ts", pq, NULL), 1000, NULL, &c),
        MG_R_TOKEN_SCOPE);
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, "/v/l2x.ts", pq, NULL), 1000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
}
END_TEST

START_TEST(test_gcp_malformed_parameters_and_load_refusals)
{
    mg_policy_t *p = mg_fx_load_ok(P_GC);
    mg_token_claims_t c;
    const char *bad[] = {
        "/?Expires=1549751401&KeyName=my-key",
        "/?KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=",
        "/?Expires=1549751401&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=",
        /* order and position */
        "/?KeyName=my-key&Expires=1549751401&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=",
        "/?Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=&a=1",
        "/?Expires=1549751401&a=1&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=",
        "/?URLPrefix=aHR0cHM6Ly93d3cuZ29vZ2xlLmNvbS8=&a=1&Expires=1549751401&KeyName=my-key&"
        "Signature=o0zZ77jb7BgtGRPQEaXmX3cCLh8=",
        /* repeated, encoded names */
        "/?Expires=1&Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=",
        "/?%45xpires=1&Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=",
        /* signature shape */
        "/?Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc",
        "/?Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO+MDr0uhDFuc=",
        "/?Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc==",
        "/?Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFud=",
        /* expiry */
        "/?Expires=01549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=",
        "/?Expires=-1&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=",
        /* URLPrefix not base64url */
        "/?URLPrefix=aHR0cHM6Ly93d3cuZ29vZ2xlLmNvbS8*&Expires=1549751401&KeyName=my-key&"
        "Signature=o0zZ77jb7BgtGRPQEaXmX3cCLh8=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(mg_fx_check(p, bad[i], 100, NULL, &c) == MG_R_TOKEN_MALFORMED, "%s: %s",
                      bad[i], R(mg_fx_check(p, bad[i], 100, NULL, &c)));
    /* parameters of two formats at once: neither is believed */
    mg_policy_t *two = mg_fx_load_ok("version: 1\n"
                                     "keys:\n"
                                     "  - {id: my-key, format: gcp-cdn, file: gc.key,\n"
                                     "     options: {origin: 'https://www.google.com'}}\n"
                                     "  - {id: ik1, format: imagekit, file: ik.key}\n"
                                     "rules:\n"
                                     "  - {id: all, path: /, token: required}\n");
    static const char gv[] =
        "/?Expires=1549751401&KeyName=my-key&Signature=M_QO7BGHi2sGqrJO-MDr0uhDFuc=";
    ASSERT_REASON(mg_fx_check(two, gv, 100, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(two, mg_fx_replace_str(gv, "?", "?ik-s=00&"), 100, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    /* a signed prefix on another origin is out of scope even with a good signature */
    const mg_fkey_t *k = mg_fx_fkey(p, "g-www");
    mg_fmt_claims_t fc = {.exp = 2000, .ip = NULL, .scope = "/v/"};
    const char *out, *why;
    ck_assert_int_eq(k->fmt->sign(mg_test_pool, k, "/v/a", &fc, &out, &why), MG_OK);
    ck_assert_ptr_nonnull(strstr(out, "URLPrefix="));
    /* refusals of the signer */
    mg_fmt_claims_t ip = {.exp = 2000, .ip = "1.2.3.4", .scope = NULL},
                    noexp = {.exp = 0, .ip = NULL, .scope = NULL};
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/v/a", &ip, &out, &why), MG_OK);
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/v/a", &noexp, &out, &why), MG_OK);
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "https://other.example/v/a", &fc, &out, &why),
                     MG_OK);
    ck_assert_int_ne(k->fmt->sign(mg_test_pool, k, "/v/a?Expires=1", &fc, &out, &why), MG_OK);
    /* load time: origin, key name, key length, algorithm */
    static const struct {
        const char *key, *want;
    } lr[] = {
        {"{id: g, format: gcp-cdn, file: gc.key}", "option origin is required"},
        {"{id: g, format: gcp-cdn, file: gc.key, options: {origin: 'https://a.example/x'}}",
         "option origin is required"},
        {"{id: g, format: gcp-cdn, file: gc.key, options: {origin: 'ftp://a.example'}}",
         "option origin is required"},
        {"{id: g, format: gcp-cdn, file: gc.key, options: {origin: 'https://A.example'}}",
         "option origin is required"},
        {"{id: g, format: gcp-cdn, file: gc.key, options: {origin: 'https://a', key_name: 'a b'}}",
         "key_name"},
        {"{id: g, format: gcp-cdn, file: gc.key, options: {origin: 'https://a', expires: 1}}",
         "has no option 'expires'"},
        {"{id: g, format: gcp-cdn, file: bn.key, options: {origin: 'https://a'}}",
         "a Cloud CDN key is 16 bytes"},
        {"{id: g, format: gcp-cdn, file: ik.key, options: {origin: 'https://a'}}",
         "a Cloud CDN key is 16 bytes"},
        {"{id: g, format: gcp-cdn, file: long.key, options: {origin: 'https://a'}}",
         "a Cloud CDN key is 16 bytes"},
        {"{id: g, format: gcp-cdn, alg: hmac-sha256, file: gc.key, options: {origin: 'https://a'}}",
         "gcp-cdn signs with hmac-sha1"},
        /* Expires next to Bunny's expires: one name to case-insensitive stacks */
        {"{id: g, format: gcp-cdn, file: gc.key, options: {origin: 'https://a'}}\n"
         "  - {id: bn1, format: bunny, file: bn.key}",
         "differ only in case"},
    };
    for (size_t i = 0; i < sizeof(lr) / sizeof(lr[0]); i++) {
        const char *e = mg_fx_load_error(
            apr_pstrcat(mg_test_pool, "version: 1\nkeys:\n  - ", lr[i].key, "\nrules: []\n", NULL));
        ck_assert_msg(strstr(e, lr[i].want) != NULL, "%s: %s", lr[i].key, e);
    }
    /* padding, when present, is complete; the alphabet is base64url's */
    const char *badkeys[] = {"nZtRohdNF9m3cKM24IcK4w=\n", "nZtRohdNF9m3cKM24IcK4w+=\n",
                             "nZtRohdNF9m3cKM24IcK4w===\n", NULL};
    for (int i = 0; badkeys[i] != NULL; i++) {
        mg_fx_write_file("bad.key", badkeys[i]);
        const char *e = mg_fx_load_error("version: 1\nkeys:\n  - {id: g, format: gcp-cdn, file: "
                                         "bad.key, options: {origin: 'https://a'}}\nrules: []\n");
        ck_assert_msg(strstr(e, "must be base64url") != NULL, "%s: %s", badkeys[i], e);
    }
    unlink(apr_pstrcat(mg_test_pool, mg_fx_dir, "/bad.key", NULL));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Keys and adversarial cases                                           */
/* ------------------------------------------------------------------ */

START_TEST(test_algorithms_a_format_does_not_define_are_refused_at_load)
{
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: i, format: imagekit, alg: hmac-sha256, "
                                                  "file: ik.key}\n"
                                                  "rules: []\n"),
                                 "imagekit signs with hmac-sha1"));
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error("version: 1\n"
                                "keys:\n"
                                "  - {id: i, format: imagekit, alg: md5, file: ik.key}\n"
                                "rules: []\n"),
               "not md5"));
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: n, format: nginx-secure-link, alg: "
                                                  "hmac-sha1, file: ng.key, options: {expression: "
                                                  "'$uri$secure_link_expires$secret'}}\n"
                                                  "rules: []\n"),
                                 "signs with md5"));
    /* a native key cannot be md5, nor have options */
    ck_assert_str_ne(mg_fx_load_error("version: 1\n"
                                      "keys:\n"
                                      "  - {id: m, alg: md5, file: long.key}\n"
                                      "rules: []\n"),
                     "");
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: m, file: long.key, options: {a: b}}\n"
                                                  "rules: []\n"),
                                 "foreign format"));
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: i, format: imagekt, file: ik.key}\n"
                                                  "rules: []\n"),
                                 "unknown key format"));
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: i, format: imagekit, file: ik.key, "
                                                  "options: {endpoints: /}}\n"
                                                  "rules: []\n"),
                                 "no option 'endpoints'"));
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: i, format: imagekit, file: ik.key, "
                                                  "options: {endpoint: /a/../b/}}\n"
                                                  "rules: []\n"),
                                 "endpoint"));
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: i, format: imagekit, file: ik.key, "
                                                  "sign: true}\n"
                                                  "rules: []\n"),
                                 "signing key"));
}
END_TEST

START_TEST(test_parameters_of_two_formats_at_once_are_malformed)
{
    mg_policy_t *p =
        mg_fx_load_ok("version: 1\n"
                      "keys:\n"
                      "  - {id: k2026, file: native.key}\n"
                      "  - id: ik1\n"
                      "    format: imagekit\n"
                      "    file: ik.key\n"
                      "    options: {endpoint: /test-endpoint/}\n"
                      "  - id: ng1\n"
                      "    format: nginx-secure-link\n"
                      "    file: ng.key\n"
                      "    options: {expression: '$secure_link_expires$uri$remote_addr "
                      "$secret'}\n"
                      "rules:\n"
                      "  - {id: all, path: /, token: required}\n");
    mg_token_claims_t c;
    const char *ik = "/test-endpoint/tr:w-100/test-signed-url.png?ik-t=100&ik-s="
                     "5e5037a31a7121cbe2964e220b4338cc6e1ba66d";
    ASSERT_REASON(mg_fx_check(p, ik, 50, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, ik, "&md5=_e4Nc3iduzkWRm01TBBNYw", NULL),
                              50, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ck_assert_ptr_nonnull(strstr(c.detail, "two token formats"));
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, ik, "&mg_exp=100", NULL), 50, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ck_assert_ptr_nonnull(strstr(c.detail, "two token formats"));
    /* an mg_kid never names a foreign key */
    ASSERT_REASON(mg_fx_check(p, "/a.jpg?mg_exp=100&mg_kid=ik1&mg_sig=AAAA", 50, NULL, &c),
                  MG_R_TOKEN_UNKNOWN_KEY);
}
END_TEST

START_TEST(test_one_secret_under_two_formats_never_crosses_over)
{
    /* the same file under both formats: a link of one never verifies as
     * the other, and the fingerprints differ */
    mg_policy_t *p = mg_fx_load_ok("version: 1\n"
                                   "keys:\n"
                                   "  - id: a\n"
                                   "    format: imagekit\n"
                                   "    file: long.key\n"
                                   "  - id: b\n"
                                   "    format: nginx-secure-link\n"
                                   "    file: long.key\n"
                                   "    options: {expression: '$secure_link_expires$uri $secret'}\n"
                                   "rules:\n"
                                   "  - {id: all, path: /, token: required}\n");
    mg_token_claims_t c;
    const char *ik = fsign(p, "a", "/x/a.jpg", 1000, NULL);
    const char *ng = fsign(p, "b", "/x/a.jpg", 1000, NULL);
    ASSERT_REASON(mg_fx_check(p, ik, 10, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "a");
    ASSERT_REASON(mg_fx_check(p, ng, 10, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "b");
    /* one format's signature under the other's names */
    const char *b64 = strstr(ng, "md5=") + 4;
    ASSERT_REASON(mg_fx_check(p,
                              apr_pstrcat(mg_test_pool, "/x/a.jpg?ik-t=1000&ik-s=",
                                          apr_pstrmemdup(mg_test_pool, b64, 22), NULL),
                              10, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    const mg_keyref_t *ra = &APR_ARRAY_IDX(p->keys, 0, mg_keyref_t);
    const mg_keyref_t *rb = &APR_ARRAY_IDX(p->keys, 1, mg_keyref_t);
    ck_assert_str_ne(ra->fingerprint, rb->fingerprint);
    /* two formats that would read the same parameters: refused at load */
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error("version: 1\n"
                                "keys:\n"
                                "  - {id: a, format: imagekit, file: long.key}\n"
                                "  - id: b\n"
                                "    format: nginx-secure-link\n"
                                "    file: long.key\n"
                                "    options: {expression: '$secure_link_expires$uri $secret', "
                                "hash_param: ik-s, expires_param: x}\n"
                                "rules: []\n"),
               "ik-s"));
}
END_TEST

/* Red team: no format separates the expiry from what is signed next to it,
 * so digits can move between them ("v=2"+"1700000000" is also
 * "v="+"21700000000" and "v=2170000000"+"0"). An expiry of 0 must not read
 * as "never" and one beyond 10 digits (after 2286) must not exist; and
 * ImageKit's 9999999999 written out is its "no expiry". */
START_TEST(test_foreign_expiry_cannot_be_stretched_by_moving_digits)
{
    mg_token_claims_t c;
    mg_policy_t *p = mg_fx_load_ok(P_IK);
    const char *u = fsign(p, "ik1", "/test-endpoint/a/b.jpg?v=2", 1700000000, NULL);
    ASSERT_REASON(mg_fx_check(p, u, 1600000000, NULL, &c), MG_R_ALLOWED);
    /* after the real expiry, the two forgeries */
    ck_assert_int_ne(mg_fx_check(p,
                                 mg_fx_replace_str(u, "v=2&ik-t=1700000000", "v=&ik-t=21700000000"),
                                 1800000000, NULL, &c),
                     MG_R_ALLOWED);
    ck_assert_int_ne(mg_fx_check(p,
                                 mg_fx_replace_str(u, "v=2&ik-t=1700000000", "v=2170000000&ik-t=0"),
                                 1800000000, NULL, &c),
                     MG_R_ALLOWED);
    /* a link without expiry, made where the key allows it, is refused where
     * it does not, also with its implied ik-t written out */
    mg_policy_t *a = mg_fx_load_ok("version: 1\n"
                                   "keys:\n"
                                   "  - id: ik1\n"
                                   "    format: imagekit\n"
                                   "    file: ik.key\n"
                                   "    options: {endpoint: /test-endpoint/, no_expiry: allow}\n"
                                   "rules:\n"
                                   "  - {id: all, path: /, token: required}\n");
    const char *forever = fsign(a, "ik1", "/test-endpoint/a/b.jpg", 0, NULL);
    ASSERT_REASON(mg_fx_check(a, forever, 1800000000, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, forever, 1800000000, NULL, &c), MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(mg_fx_check(p, mg_fx_replace_str(forever, "ik-s=", "ik-t=9999999999&ik-s="),
                              1800000000, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    /* nginx: "$uri$secure_link_expires" */
    mg_policy_t *n = mg_fx_load_ok(ng_policy("$uri$secure_link_expires $secret", NULL));
    const char *g = fsign(n, "ng1", "/s/a1", 1700000000, NULL);
    ASSERT_REASON(mg_fx_check(n, g, 1600000000, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_ne(mg_fx_check(n,
                                 mg_fx_replace_str(mg_fx_replace_str(g, "/s/a1", "/s/a"),
                                                   "=1700000000", "=11700000000"),
                                 1800000000, NULL, &c),
                     MG_R_ALLOWED);
    ck_assert_int_ne(mg_fx_check(n,
                                 mg_fx_replace_str(mg_fx_replace_str(g, "/s/a1", "/s/a1170000000"),
                                                   "=1700000000", "=0"),
                                 1800000000, NULL, &c),
                     MG_R_ALLOWED);
    /* Bunny: the signed path then the expiry */
    mg_policy_t *b = mg_fx_load_ok(P_BN);
    const char *bu = fsign(b, "bn1", "/v/a1", 1700000000, NULL);
    ASSERT_REASON(mg_fx_check(b, bu, 1600000000, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_ne(mg_fx_check(b,
                                 mg_fx_replace_str(mg_fx_replace_str(bu, "/v/a1", "/v/a"),
                                                   "=1700000000", "=11700000000"),
                                 1800000000, NULL, &c),
                     MG_R_ALLOWED);
    ck_assert_int_ne(mg_fx_check(b,
                                 mg_fx_replace_str(mg_fx_replace_str(bu, "/v/a1", "/v/a1170000000"),
                                                   "=1700000000", "=0"),
                                 1800000000, NULL, &c),
                     MG_R_ALLOWED);
}
END_TEST

START_TEST(test_foreign_claims_meet_the_policy_token_settings)
{
    mg_policy_t *p = mg_fx_load_ok("version: 1\n"
                                   "tokens: {max_ttl: 1h, grace: 1m}\n"
                                   "keys:\n"
                                   "  - id: ik1\n"
                                   "    format: imagekit\n"
                                   "    file: ik.key\n"
                                   "    options: {no_expiry: allow}\n"
                                   "  - id: gone\n"
                                   "    format: imagekit\n"
                                   "    file: long.key\n"
                                   "    revoked: true\n"
                                   "rules:\n"
                                   "  - {id: all, path: /, token: required}\n");
    mg_token_claims_t c;
    ASSERT_REASON(mg_fx_check(p, fsign(p, "ik1", "/a.jpg", 0, NULL), 10, NULL, &c),
                  MG_R_TOKEN_MALFORMED); /* no expiry is longer than max_ttl */
    ASSERT_REASON(mg_fx_check(p, fsign(p, "ik1", "/a.jpg", 10 + 7200, NULL), 10, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(mg_fx_check(p, fsign(p, "ik1", "/a.jpg", 1000, NULL), 10, NULL, &c),
                  MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, fsign(p, "ik1", "/a.jpg", 1000, NULL), 1080, NULL, &c),
                  MG_R_ALLOWED);
    ck_assert_int_eq(c.in_grace, 1);
    ASSERT_REASON(mg_fx_check(p, fsign(p, "gone", "/a.jpg", 1000, NULL), 10, NULL, &c),
                  MG_R_TOKEN_REVOKED);
}
END_TEST

START_TEST(test_reserved_names_are_those_of_the_formats_a_policy_uses)
{
    mg_policy_t *p = mg_fx_load_ok(P_IK);
    ck_assert_int_eq(mg_fmt_is_reserved_param(p, "ik-s"), 1);
    ck_assert_int_eq(mg_fmt_is_reserved_param(p, "ik-t"), 1);
    ck_assert_int_eq(mg_fmt_is_reserved_param(p, "md5"), 0);
    ck_assert_int_eq(mg_fmt_is_reserved_param(NULL, "md5"), 1);
    ck_assert_int_eq(mg_fmt_is_reserved_param(NULL, "w"), 0);
    mg_policy_t *n = mg_fx_load_ok(ng_policy("$secret$uri$arg_e", "      hash_param: st\n      "
                                                                  "expires_param: e\n"));
    ck_assert_int_eq(mg_fmt_is_reserved_param(n, "st"), 1);
    ck_assert_int_eq(mg_fmt_is_reserved_param(n, "e"), 1);
    ck_assert_int_eq(mg_fmt_is_reserved_param(n, "md5"), 0);
}
END_TEST

/* What PHP, Rack or ASP.NET could read as a foreign token parameter without
 * being exactly it is refused before any verifier runs (issue 14's rule,
 * extended to the names a policy's foreign keys read). */
static mg_reason_t decide_url(const mg_policy_t *p, const char *url)
{
    mg_request_t req;
    memset(&req, 0, sizeof(req));
    const char *q = strchr(url, '?');
    req.method = "GET";
    req.scheme = "http";
    req.raw_path = q ? apr_pstrmemdup(mg_test_pool, url, (apr_size_t)(q - url)) : url;
    req.query = q ? q + 1 : NULL;
    req.client_ip = req.peer_ip = "127.0.0.1";
    req.now = apr_time_from_sec(50);
    const char *why = NULL;
    (void)mg_request_prepare(mg_test_pool, p, &req, &why);
    mg_decision_t d;
    mg_evaluate(mg_test_pool, p, &req, 0, &d);
    return d.reason;
}

START_TEST(test_spellings_of_a_foreign_parameter_name_are_bad_urls)
{
    mg_policy_t *p = mg_fx_load_ok(P_IK);
    const char *good = "/test-endpoint/tr:w-100/test-signed-url.png?ik-t=100&ik-s="
                       "5e5037a31a7121cbe2964e220b4338cc6e1ba66d";
    ASSERT_REASON(decide_url(p, good), MG_R_ALLOWED_BY_TOKEN);
    static const char *const smuggled[] = {
        "&ik-S=0", "&IK-T=5000", "&+ik-t=5000", "&%20ik-s=0", "&ik-t[]=5000", "&ik-t%5B0%5D=5000",
    };
    for (size_t i = 0; i < sizeof(smuggled) / sizeof(*smuggled); i++) {
        const char *url = apr_pstrcat(mg_test_pool, good, smuggled[i], NULL);
        ck_assert_msg(decide_url(p, url) == MG_R_BAD_URL, "%s", url);
    }
    /* the exact name twice: the verifier's token-malformed, as for mg_* */
    ASSERT_REASON(decide_url(p, apr_pstrcat(mg_test_pool, good, "&ik-t=5000", NULL)),
                  MG_R_TOKEN_MALFORMED);
    /* names no stack reads as ik-s/ik-t are no bad URL (ImageKit signs the
     * whole query, so the signature, not the canonicaliser, refuses them) */
    ASSERT_REASON(decide_url(p, apr_pstrcat(mg_test_pool, good, "&ik=1&iks=2", NULL)),
                  MG_R_TOKEN_BAD_SIG);
    /* a token parameter that is the download parameter is refused at load */
    const char *e = mg_fx_load_error(
        ng_policy("$secure_link_expires$uri$secret", "      hash_param: download\n"));
    ck_assert_msg(strstr(e, "download parameter") != NULL, "%s", e);
}
END_TEST

START_TEST(test_compiled_form_keeps_format_options_and_digest)
{
    mg_policy_t *p = mg_fx_load_ok(ng_policy("$secure_link_expires$uri$remote_addr $secret", NULL));
    const char *text = mg_policy_emit(mg_test_pool, p);
    ck_assert_ptr_nonnull(strstr(text, "format: nginx-secure-link"));
    ck_assert_ptr_nonnull(strstr(text, "alg: md5"));
    ck_assert_ptr_nonnull(strstr(text, "expression: "));
    mg_policy_t *q = mg_fx_load_ok(text);
    ck_assert_str_eq(mg_policy_digest(p), mg_policy_digest(q));
    mg_policy_t *r = mg_fx_load_ok(ng_policy("$secure_link_expires$uri $secret", NULL));
    ck_assert_str_ne(mg_policy_digest(p), mg_policy_digest(r));
}
END_TEST

START_TEST(test_login_return_url_drops_foreign_token_parameters)
{
    /* a foreign link is a bearer credential too: it never reaches the
     * login site, whose logs are not ours */
    mg_policy_t *p = mg_fx_load_ok("version: 1\n"
                                   "login: {url: 'https://sso.example/login'}\n"
                                   "roles: [staff]\n"
                                   "keys:\n"
                                   "  - {id: ik1, format: imagekit, file: ik.key}\n"
                                   "rules:\n"
                                   "  - {id: r, path: /, access: {staff: view}}\n");
    mg_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.raw_path = "/a.jpg";
    req.query = "v=2&ik-t=100&ik-s=5e5037a31a7121cbe2964e220b4338cc6e1ba66d";
    req.host = "example.com";
    req.scheme = "https";
    req.client_ip = req.peer_ip = "198.51.100.7";
    req.now = apr_time_from_sec(50);
    req.sec_fetch_mode = "navigate";
    req.sec_fetch_dest = "document";
    req.accept = "text/html";
    const char *why = NULL;
    mg_decision_t d;
    memset(&d, 0, sizeof(d));
    mg_request_prepare(mg_test_pool, p, &req, &why);
    mg_evaluate(mg_test_pool, p, &req, 0, &d);
    ck_assert_int_eq(d.outcome, MG_OUTCOME_LOGIN);
    ck_assert_str_eq(d.location, "https://sso.example/login?return_to=%2Fa.jpg%3Fv%3D2");
}
END_TEST

static Suite *fmt_suite(void)
{
    Suite *s = suite_create("fmt");
    TCase *tc = tcase_create("imagekit");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_imagekit_sdk_vectors_verify_and_are_reproduced);
    tcase_add_test(tc, test_imagekit_covers_path_query_transformation_and_expiry);
    tcase_add_test(tc, test_imagekit_malformed_parameters_are_token_malformed);
    suite_add_tcase(s, tc);
    tc = tcase_create("nginx");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_nginx_documentation_vector_verifies_and_is_reproduced);
    tcase_add_test(tc, test_nginx_arg_expires_args_and_parameter_names);
    tcase_add_test(tc, test_nginx_without_args_signs_no_query_transformation);
    tcase_add_test(tc, test_nginx_args_has_fixed_boundaries);
    tcase_add_test(tc, test_nginx_malformed_parameters_are_token_malformed);
    tcase_add_test(tc, test_nginx_expressions_that_cannot_be_safe_are_refused_at_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("bunny");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_bunny_sdk_vectors_verify);
    tcase_add_test(tc, test_bunny_signer_and_refusals);
    tcase_add_test(tc, test_bunny_token_path_holds_no_tr_segment_in_front_of_it);
    tcase_add_test(tc, test_bunny_encoded_separators_in_signed_pairs_are_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("gcp-cdn");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_gcp_sample_vectors_verify_and_are_reproduced);
    tcase_add_test(tc, test_gcp_covers_origin_path_query_and_prefix);
    tcase_add_test(tc, test_gcp_malformed_parameters_and_load_refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_algorithms_a_format_does_not_define_are_refused_at_load);
    tcase_add_test(tc, test_parameters_of_two_formats_at_once_are_malformed);
    tcase_add_test(tc, test_one_secret_under_two_formats_never_crosses_over);
    tcase_add_test(tc, test_foreign_claims_meet_the_policy_token_settings);
    tcase_add_test(tc, test_foreign_expiry_cannot_be_stretched_by_moving_digits);
    tcase_add_test(tc, test_reserved_names_are_those_of_the_formats_a_policy_uses);
    tcase_add_test(tc, test_spellings_of_a_foreign_parameter_name_are_bad_urls);
    tcase_add_test(tc, test_compiled_form_keeps_format_options_and_digest);
    tcase_add_test(tc, test_login_return_url_drops_foreign_token_parameters);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(fmt_suite)
