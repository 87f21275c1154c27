/* test_fmt_path.c — foreign tokens that live in the URL path (lib/mg_fmt.h,
 * mg_fmt_path_t): lighttpd-secdownload (md5, hmac-sha1, hmac-sha256,
 * timeout window, path_segments, hash_querystr), nginx secure_link_secret
 * and Bunny's path-embedded form. The vendors' vectors, every field and
 * refusal, the effective path the request is judged as (mg_fmt_canon,
 * mg_request_prepare), and load-time refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>

#include "fmt_fixture.h"
#include "mg_fmt.h"
#include "mg_keys.h"
#include "mg_request.h"
#include "mg_test.h"
#include "mg_token.h"

static void setup(void)
{
    mg_fx_setup("fmtp");
    mg_fx_write_file("lt.key", "verysecret\n");  /* lighttpd's tests/mod-secdownload.t */
    mg_fx_write_file("ng.key", "secret\n");      /* nginx's secure_link_secret example */
    mg_fx_write_file("bn.key", "SecurityKey\n"); /* Bunny's e2e/inputs.json */
    mg_fx_write_file("long.key", "a-longer-shared-secret-for-tests\n");
    mg_fx_write_file("native.key", "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n");
}

static mg_status_t try_sign(const mg_policy_t *p, const char *id, const char *url, int64_t exp,
                            const char *ip, const char *scope, const char **out, const char **why)
{
    mg_fmt_claims_t c = {.exp = exp, .ip = ip, .scope = scope};
    return mg_fx_try_sign(p, id, url, &c, out, why);
}

static const char *fsign(const mg_policy_t *p, const char *id, const char *url, int64_t exp,
                         const char *ip, const char *scope)
{
    mg_fmt_claims_t c = {.exp = exp, .ip = ip, .scope = scope};
    return mg_fx_sign(p, id, url, &c);
}

/* ------------------------------------------------------------------ */
/* lighttpd-secdownload                                                 */
/* ------------------------------------------------------------------ */

/* lighttpd's own test (tests/mod-secdownload.t): secret "verysecret",
 * uri-prefix "/sec/", file "/index.html", timestamp sprintf("%08x", time);
 * here the time is fixed at 0x6b36de6f (1798757999) and the expected MACs
 * are what that test's Perl (md5_hex, hmac_sha1/hmac_sha256 with
 * encode_base64url) gives, computed with Python's hashlib/hmac. */
#define LT_TS 1798757999
static const char P_LT[] = "version: 1\n"
                           "keys:\n"
                           "  - id: md5\n"
                           "    format: lighttpd-secdownload\n"
                           "    file: lt.key\n"
                           "    options: {uri_prefix: /sec/, timeout: \"3600\"}\n"
                           "  - id: sha1\n"
                           "    format: lighttpd-secdownload\n"
                           "    alg: hmac-sha1\n"
                           "    file: lt.key\n"
                           "    options: {uri_prefix: /sec1/, timeout: \"3600\"}\n"
                           "  - id: sha256\n"
                           "    format: lighttpd-secdownload\n"
                           "    alg: hmac-sha256\n"
                           "    file: lt.key\n"
                           "    options: {uri_prefix: /sec256/, timeout: \"3600\"}\n"
                           "  - id: seg\n"
                           "    format: lighttpd-secdownload\n"
                           "    alg: hmac-sha256\n"
                           "    file: lt.key\n"
                           "    options: {uri_prefix: /hls/, path_segments: \"1\"}\n"
                           "  - id: qs\n"
                           "    format: lighttpd-secdownload\n"
                           "    file: lt.key\n"
                           "    options: {uri_prefix: /q/, hash_querystr: \"true\"}\n"
                           "  - id: seg2\n"
                           "    format: lighttpd-secdownload\n"
                           "    file: lt.key\n"
                           "    options: {uri_prefix: /s/, timeout: \"3600\",\n"
                           "              path_segments: \"2\"}\n"
                           "rules:\n"
                           "  - {id: all, path: /, token: required}\n";

START_TEST(test_lighttpd_vectors_of_its_own_test_verify_and_are_reproduced)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    mg_token_claims_t c;
    const struct {
        const char *key, *url;
    } v[] = {
        {"md5", "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.html"},
        {"sha1", "/sec1/58RbQD4VTPM2IE468wPoMgsHxcM/6b36de6f/index.html"},
        {"sha256", "/sec256/U3__ZMHe3Du1uv4WQJ_gJd9SSREvmuZnZ71gFOS8E0g/6b36de6f/index.html"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ASSERT_REASON(mg_fx_check(p, v[i].url, LT_TS + 10, NULL, &c), MG_R_ALLOWED);
        ck_assert_str_eq(c.format, "lighttpd-secdownload");
        ck_assert_str_eq(c.kid, v[i].key);
        ck_assert_str_eq(c.from, "path");
        ck_assert_int_eq(apr_time_sec(c.expires), LT_TS + 3600);
        ck_assert_int_eq(apr_time_sec(c.not_before), LT_TS - 3600);
        ck_assert_ptr_null(c.scope);
        /* the signer writes the timestamp expiry - timeout */
        const char *prefix =
            apr_pstrndup(mg_test_pool, v[i].url, strchr(v[i].url + 1, '/') - v[i].url + 1);
        ck_assert_str_eq(fsign(p, v[i].key, apr_pstrcat(mg_test_pool, prefix, "index.html", NULL),
                               LT_TS + 3600, NULL, NULL),
                         v[i].url);
    }
}
END_TEST

START_TEST(test_lighttpd_window_is_both_ways_with_the_policy_skew)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    mg_token_claims_t c;
    const char *u = "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.html";
    ASSERT_REASON(mg_fx_check(p, u, LT_TS - 3600, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, u, LT_TS + 3600, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, u, LT_TS + 3600 + 31, NULL, &c),
                  MG_R_TOKEN_EXPIRED); /* skew 30 s */
    ASSERT_REASON(mg_fx_check(p, u, LT_TS - 3600 - 31, NULL, &c), MG_R_TOKEN_NOT_YET);
    /* the default timeout is lighttpd's 60 s */
    const char *s = fsign(p, "seg", "/hls/l1/a.ts", 2000000060, NULL, "/hls/l1/");
    ASSERT_REASON(mg_fx_check(p, s, 2000000000 - 60, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_eq(apr_time_sec(c.expires), 2000000060);
    ASSERT_REASON(mg_fx_check(p, s, 2000000000 + 91, NULL, &c), MG_R_TOKEN_EXPIRED);
}
END_TEST

START_TEST(test_lighttpd_mac_covers_path_file_and_prefix)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    mg_token_claims_t c;
    const char *bad[] = {
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.htm",
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/a/index.html",
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de70/index.html",
        "/sec/e4e8fb629639a81b7a13f3ff5f34dede/6b36de6f/index.html",
        /* one MAC under another key's prefix (the same secret) */
        "/sec1/58RbQD4VTPM2IE468wPoMgsHxcM/6b36de6f/index.htm",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_REASON(mg_fx_check(p, bad[i], LT_TS, NULL, &c), MG_R_TOKEN_BAD_SIG);
    /* the same token, another prefix of the same format: not this key's form */
    ASSERT_REASON(mg_fx_check(p, "/sec1/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.html",
                              LT_TS, NULL, &c),
                  MG_R_TOKEN_MISSING);
    /* our canonical rel-path is signed: an encoded spelling is the same file */
    ASSERT_REASON(mg_fx_check(p, "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/%69ndex.html",
                              LT_TS, NULL, &c),
                  MG_R_ALLOWED);
}
END_TEST

START_TEST(test_lighttpd_malformed_tokens_are_token_malformed)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    mg_token_claims_t c;
    const char *bad[] = {
        "/sec/E4E8FB629639A81B7A13F3FF5F34DEDB/6b36de6f/index.html",  /* upper-case hex */
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedZ/6b36de6f/index.html",  /* not hex */
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/06b36de6f/index.html", /* leading zero */
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6B36DE6F/index.html",  /* upper-case */
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/fffffffff/index.html", /* past 9999999999 */
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/0/index.html",
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.html?x=1", /* query not signed */
        "/sec1/58RbQD4VTPM2IE468wPoMgsHxcN/6b36de6f/index.html",         /* non-zero unused bits */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_REASON(mg_fx_check(p, bad[i], LT_TS, NULL, &c), MG_R_TOKEN_MALFORMED);
        ck_assert_ptr_nonnull(c.detail);
    }
    /* not lighttpd's grammar at all: the path is judged as it is */
    const char *plain[] = {
        "/sec/e4e8fb629639a81b7a13f3ff5f34ded/6b36de6f/index.html",   /* 31 characters */
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb0/6b36de6f/index.html", /* 33 */
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6g/index.html",
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/12345678901234567/index.html", /* 17 digits */
        "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f",
        "/sec/index.html",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        ASSERT_REASON(mg_fx_check(p, plain[i], LT_TS, NULL, &c), MG_R_TOKEN_MISSING);
}
END_TEST

START_TEST(test_lighttpd_path_segments_is_a_directory_scope)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    mg_token_claims_t c;
    /* HMAC-SHA256 over "/6b36de6f/l1" (path-segments 1), from Python */
    const char *tok = "/hls/wTBkLDIdI_RMoROGTDJkTmdKMWVxusGpxXOcazEZUcc/6b36de6f";
    const char *files[] = {"/l1/index.m3u8", "/l1/seg-1.ts", "/l1/x/y.ts", "/l1/"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        ASSERT_REASON(
            mg_fx_check(p, apr_pstrcat(mg_test_pool, tok, files[i], NULL), LT_TS, NULL, &c),
            MG_R_ALLOWED);
        ck_assert_str_eq(c.scope, "/hls/l1/");
    }
    /* the directory's own name hashes the same message, so its token is
     * the directory's, reported as such: the path is outside that scope
     * (lighttpd grants it; a token is never reported narrower than what it
     * verifies) */
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, tok, "/l1", NULL), LT_TS, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    ck_assert_str_eq(c.scope, "/hls/l1/");
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, tok, "/l2/seg-1.ts", NULL), LT_TS, NULL, &c),
        MG_R_TOKEN_BAD_SIG);
    /* minted as a prefix link: asked for with its directory */
    ck_assert_str_eq(fsign(p, "seg", "/hls/l1/seg-9.ts", LT_TS + 60, NULL, "/hls/l1/"),
                     apr_pstrcat(mg_test_pool, tok, "/l1/seg-9.ts", NULL));
}
END_TEST

/* The fuzz finding kept as tests/fuzz/regressions/fmt/lighttpd-path-
 * segments-directory-name-link: path_segments 2 signs "/v/l1" for /s/v/l1
 * and for every path under /s/v/l1/, so such a token is the directory's. */
START_TEST(test_lighttpd_path_segments_token_reports_its_directory_as_scope)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    mg_token_claims_t c;
    const char *out, *why;
    const char *u = fsign(p, "seg2", "/s/v/l1/a.ts", LT_TS + 3600, NULL, "/s/v/l1/");
    const char *head = apr_pstrndup(mg_test_pool, u, strlen(u) - strlen("v/l1/a.ts"));
    const char *inside[] = {"v/l1/a.ts", "v/l1/..g/l2se-/1.ts", "v/l1/", "v/l1/x/y/z.ts"};
    for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
        ASSERT_REASON(
            mg_fx_check(p, apr_pstrcat(mg_test_pool, head, inside[i], NULL), LT_TS, NULL, &c),
            MG_R_ALLOWED);
        ck_assert_str_eq(c.scope, "/s/v/l1/");
        ck_assert_str_eq(c.kid, "seg2");
    }
    /* outside: the directory's own name (the same MAC), a sibling, a
     * longer name, another parent, a file one level up */
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, head, "v/l1", NULL), LT_TS, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    ck_assert_str_eq(c.scope, "/s/v/l1/");
    const char *outside[] = {"v/l2/a.ts", "v/l1x/a.ts", "w/l1/a.ts", "v/a.ts"};
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
        ASSERT_REASON(
            mg_fx_check(p, apr_pstrcat(mg_test_pool, head, outside[i], NULL), LT_TS, NULL, &c),
            MG_R_TOKEN_BAD_SIG);
    /* the signer mints a directory link only when asked for that directory */
    ck_assert_int_eq(try_sign(p, "seg2", "/s/v/l1/a.ts", LT_TS + 3600, NULL, NULL, &out, &why),
                     MG_EINVAL);
    ck_assert_msg(strstr(why, "--prefix /s/v/l1/") != NULL, "%s", why);
    ck_assert_int_eq(try_sign(p, "seg2", "/s/v/l1/a.ts", LT_TS + 3600, NULL, "/s/v/", &out, &why),
                     MG_EINVAL);
    ck_assert_msg(strstr(why, "not the prefix /s/v/") != NULL, "%s", why);
    /* a path of exactly 2 segments has no link of its own */
    ck_assert_int_eq(try_sign(p, "seg2", "/s/v/l1", LT_TS + 3600, NULL, NULL, &out, &why),
                     MG_EINVAL);
    ck_assert_msg(strstr(why, "does not hold /s/v/l1 itself") != NULL, "%s", why);
    ck_assert_int_eq(try_sign(p, "seg2", "/s/v/l1", LT_TS + 3600, NULL, "/s/v/l1/", &out, &why),
                     MG_EINVAL);
    /* the directory itself, written as one, is a directory link */
    ck_assert_str_eq(fsign(p, "seg2", "/s/v/l1/", LT_TS + 3600, NULL, "/s/v/l1/"),
                     apr_pstrcat(mg_test_pool, head, "v/l1/", NULL));
    /* fewer segments: an exact link, never with a prefix */
    const char *x = fsign(p, "seg2", "/s/v", LT_TS + 3600, NULL, NULL);
    ASSERT_REASON(mg_fx_check(p, x, LT_TS, NULL, &c), MG_R_ALLOWED);
    ck_assert_ptr_null(c.scope);
    ck_assert_int_eq(try_sign(p, "seg2", "/s/v", LT_TS + 3600, NULL, "/s/v/", &out, &why),
                     MG_EINVAL);
    ck_assert_msg(strstr(why, "fewer than") != NULL, "%s", why);
    /* a key without path_segments signs the whole path: no prefix */
    ck_assert_int_eq(try_sign(p, "md5", "/sec/a/b.jpg", LT_TS, NULL, "/sec/a/", &out, &why),
                     MG_EINVAL);
    ck_assert_msg(strstr(why, "path_segments") != NULL, "%s", why);
}
END_TEST

START_TEST(test_lighttpd_hash_querystr_covers_the_query)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    mg_token_claims_t c;
    /* MD5("verysecret" "/index.html" "?v=2" "6b36de6f") */
    const char *u = "/q/e46a5fc347387f96c82707f7a91b0844/6b36de6f/index.html?v=2";
    ASSERT_REASON(mg_fx_check(p, u, LT_TS, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, "/q/e46a5fc347387f96c82707f7a91b0844/6b36de6f/index.html?v=3",
                              LT_TS, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(
        mg_fx_check(p, "/q/e46a5fc347387f96c82707f7a91b0844/6b36de6f/index.html", LT_TS, NULL, &c),
        MG_R_TOKEN_BAD_SIG);
    ck_assert_str_eq(fsign(p, "qs", "/q/index.html?v=2", LT_TS + 60, NULL, NULL), u);
}
END_TEST

START_TEST(test_lighttpd_effective_path_is_judged_and_stays_under_the_prefix)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    mg_token_claims_t c;
    mg_request_t req;
    const char *why = NULL;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.raw_path = "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.html";
    req.client_ip = req.peer_ip = "127.0.0.1";
    req.now = apr_time_from_sec(LT_TS);
    ck_assert_int_eq(mg_request_prepare(mg_test_pool, p, &req, &why), MG_OK);
    ck_assert_str_eq(req.d->canon.path, "/sec/index.html");
    ck_assert_ptr_nonnull(req.d->ptok);
    ck_assert_str_eq(req.d->ptok->effective, "/sec/index.html");
    mg_decision_t d;
    memset(&d, 0, sizeof(d));
    mg_evaluate(mg_test_pool, p, &req, 0, &d);
    ck_assert_int_eq(d.outcome, MG_OUTCOME_ALLOW);
    ck_assert_int_eq(d.reason, MG_R_ALLOWED_BY_TOKEN);
    /* leaving the prefix, a 'tr:' segment, bad encodings: bad-url */
    const char *tails[] = {"/../../secret/x.jpg", "/%2e%2e/%2e%2e/x.jpg", "/a/tr:w-100/x.jpg",
                           "/a%2fb.jpg",          "/%c0%ae%c0%ae/x.jpg",  "/x.jpg%00",
                           "/..;/x.jpg"};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        mg_canon_t cn;
        const mg_fmt_path_t *pt;
        const char *raw = apr_pstrcat(
            mg_test_pool, "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f", tails[i], NULL);
        ck_assert_msg(mg_fmt_canon(mg_test_pool, p, raw, NULL, &cn, &pt, &why) != 0, "%s", raw);
        ASSERT_REASON(mg_fx_check(p, raw, LT_TS, NULL, &c), MG_R_BAD_URL); /* as the module */
    }
    /* a dot segment that stays under the prefix is the canonical path */
    ASSERT_REASON(mg_fx_check(p, "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/a/../index.html",
                              LT_TS, NULL, &c),
                  MG_R_ALLOWED);
}
END_TEST

START_TEST(test_lighttpd_signer_refusals)
{
    mg_policy_t *p = mg_fx_load_ok(P_LT);
    const char *out, *why;
    ck_assert_int_ne(try_sign(p, "md5", "/other/a.jpg", LT_TS, NULL, NULL, &out, &why), MG_OK);
    ck_assert_int_ne(try_sign(p, "md5", "/sec/a.jpg?v=1", LT_TS, NULL, NULL, &out, &why), MG_OK);
    ck_assert_ptr_nonnull(strstr(why, "hash_querystr"));
    ck_assert_int_ne(try_sign(p, "md5", "/sec/a.jpg", 100, NULL, NULL, &out, &why), MG_OK);
    ck_assert_int_ne(try_sign(p, "md5", "/sec/a.jpg", 0, NULL, NULL, &out, &why), MG_OK);
    ck_assert_int_ne(try_sign(p, "md5", "/sec/a.jpg", LT_TS, "1.2.3.4", NULL, &out, &why), MG_OK);
    ck_assert_int_ne(try_sign(p, "md5", "/sec/a.jpg", LT_TS, NULL, "/sec/", &out, &why), MG_OK);
    ck_assert_int_ne(try_sign(p, "md5", "/sec/tr:w-1/a.jpg", LT_TS, NULL, NULL, &out, &why), MG_OK);
    /* an encoded path is signed as the client sends it */
    const char *u = fsign(p, "md5", "/sec/caf%C3%A9.jpg", LT_TS + 3600, NULL, NULL);
    mg_token_claims_t c;
    ASSERT_REASON(mg_fx_check(p, u, LT_TS, NULL, &c), MG_R_ALLOWED);
    ck_assert_ptr_nonnull(strstr(u, "/caf%C3%A9.jpg"));
}
END_TEST

START_TEST(test_lighttpd_options_are_checked_at_load)
{
    const char *head = "version: 1\nkeys:\n  - id: l\n    format: lighttpd-secdownload\n"
                       "    file: lt.key\n";
    const char *tail = "rules:\n  - {id: all, path: /, token: required}\n";
    const struct {
        const char *opts, *want;
    } v[] = {
        {"", "option uri_prefix is required"},
        {"    options: {uri_prefix: /dl}\n", "canonical directory"},
        {"    options: {uri_prefix: dl/}\n", "canonical directory"},
        {"    options: {uri_prefix: /a/../dl/}\n", "canonical directory"},
        {"    options: {uri_prefix: /d%6c/}\n", "canonical directory"},
        {"    options: {uri_prefix: /dl/, timeout: \"0\"}\n", "option timeout"},
        {"    options: {uri_prefix: /dl/, timeout: \"31536001\"}\n", "option timeout"},
        {"    options: {uri_prefix: /dl/, timeout: \"60s\"}\n", "option timeout"},
        {"    options: {uri_prefix: /dl/, path_segments: \"129\"}\n", "option path_segments"},
        {"    options: {uri_prefix: /dl/, hash_querystr: \"yes\"}\n", "option hash_querystr"},
        {"    options: {uri_prefix: /dl/, algorithm: md5}\n", "has no option 'algorithm'"},
        {"    alg: hmac-md5\n    options: {uri_prefix: /dl/}\n",
         "signs with hmac-sha256, hmac-sha1 or md5, not hmac-md5"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *err = mg_fx_load_error(apr_pstrcat(mg_test_pool, head, v[i].opts, tail, NULL));
        ck_assert_msg(strstr(err, v[i].want) != NULL, "%s: got '%s'", v[i].opts, err);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* nginx secure_link_secret                                             */
/* ------------------------------------------------------------------ */

static const char P_NG[] = "version: 1\n"
                           "keys:\n"
                           "  - id: ng\n"
                           "    format: nginx-secure-link\n"
                           "    file: ng.key\n"
                           "    options: {secret_prefix: /p/, no_expiry: allow}\n"
                           "rules:\n"
                           "  - {id: all, path: /, token: required}\n";

/* nginx's documentation of secure_link_secret: "/p/5e814704a28d9bc1914ff19fa0c4a00a/link"
 * for the secret "secret" (echo -n 'linksecret' | openssl md5 -hex). */
START_TEST(test_nginx_secret_documentation_vector)
{
    mg_policy_t *p = mg_fx_load_ok(P_NG);
    mg_token_claims_t c;
    ASSERT_REASON(mg_fx_check(p, "/p/5e814704a28d9bc1914ff19fa0c4a00a/link", 2000000000, NULL, &c),
                  MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "nginx-secure-link");
    ck_assert_str_eq(c.from, "path");
    ck_assert_int_eq(c.expires, 0);
    ck_assert_str_eq(fsign(p, "ng", "/p/link", 0, NULL, NULL),
                     "/p/5e814704a28d9bc1914ff19fa0c4a00a/link");
    /* the query is part of the link: MD5("link?v=2" "secret") */
    ASSERT_REASON(mg_fx_check(p, "/p/964a4e648d401d105a7a10f5c529368e/link?v=2", 1, NULL, &c),
                  MG_R_ALLOWED);
    ck_assert_str_eq(fsign(p, "ng", "/p/link?v=2", 0, NULL, NULL),
                     "/p/964a4e648d401d105a7a10f5c529368e/link?v=2");
    ASSERT_REASON(mg_fx_check(p, "/p/5e814704a28d9bc1914ff19fa0c4a00a/link?v=2", 1, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(mg_fx_check(p, "/p/5e814704a28d9bc1914ff19fa0c4a00a/lin%6B", 1, NULL, &c),
                  MG_R_TOKEN_BAD_SIG); /* nginx hashes the bytes as sent */
    ASSERT_REASON(mg_fx_check(p, "/p/5E814704A28D9BC1914FF19FA0C4A00A/link", 1, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(mg_fx_check(p, "/p/5e814704a28d9bc1914ff19fa0c4a00a/", 1, NULL, &c),
                  MG_R_TOKEN_MISSING); /* no link: not the form */
    ASSERT_REASON(mg_fx_check(p, "/p/5e814704a28d9bc1914ff19fa0c4a00a/../x", 1, NULL, &c),
                  MG_R_BAD_URL);
    /* tokens.max_ttl refuses links without expiry, as for every format */
    mg_policy_t *q = mg_fx_load_ok("version: 1\n"
                                   "tokens: {max_ttl: 1d}\n"
                                   "keys:\n"
                                   "  - id: ng\n"
                                   "    format: nginx-secure-link\n"
                                   "    file: ng.key\n"
                                   "    options: {secret_prefix: /p/, no_expiry: allow}\n"
                                   "rules:\n"
                                   "  - {id: all, path: /, token: required}\n");
    ASSERT_REASON(mg_fx_check(q, "/p/5e814704a28d9bc1914ff19fa0c4a00a/link", 1, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    const char *out, *why;
    ck_assert_int_ne(try_sign(p, "ng", "/p/link", 100, NULL, NULL, &out, &why), MG_OK);
    ck_assert_int_ne(try_sign(p, "ng", "/q/link", 0, NULL, NULL, &out, &why), MG_OK);
    ck_assert_int_ne(try_sign(p, "ng", "/p/", 0, NULL, NULL, &out, &why), MG_OK);
}
END_TEST

START_TEST(test_nginx_secret_options_are_checked_at_load)
{
    const char *head = "version: 1\nkeys:\n  - id: n\n    format: nginx-secure-link\n"
                       "    file: ng.key\n";
    const char *tail = "rules:\n  - {id: all, path: /, token: required}\n";
    const struct {
        const char *opts, *want;
    } v[] = {
        {"    options: {secret_prefix: /p/}\n", "never expire"},
        {"    options: {secret_prefix: /a/b/, no_expiry: allow}\n", "one-segment"},
        {"    options: {secret_prefix: /p, no_expiry: allow}\n", "one-segment"},
        {"    options: {secret_prefix: /p/, no_expiry: allow, expression: \"$uri$secret\"}\n",
         "takes no expression"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *err = mg_fx_load_error(apr_pstrcat(mg_test_pool, head, v[i].opts, tail, NULL));
        ck_assert_msg(strstr(err, v[i].want) != NULL, "%s: got '%s'", v[i].opts, err);
    }
    /* a secret-form key reads no query parameter: md5/expires stay the site's */
    mg_policy_t *p = mg_fx_load_ok(P_NG);
    ck_assert_int_eq(mg_fmt_is_reserved_param(p, "md5"), 0);
    ck_assert_int_eq(mg_fmt_is_reserved_param(p, "expires"), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bunny, path-embedded form                                            */
/* ------------------------------------------------------------------ */

static const char P_BN[] = "version: 1\n"
                           "keys:\n"
                           "  - id: bn\n"
                           "    format: bunny\n"
                           "    file: bn.key\n"
                           "  - id: bnp\n"
                           "    format: bunny\n"
                           "    file: long.key\n"
                           "    options: {sign_form: path}\n"
                           "rules:\n"
                           "  - {id: all, path: /, token: required}\n";

/* BunnyWay/BunnyCDN.TokenAuthentication e2e/vectors.json 'ip_v4_limit'
 * (inputs.json: key SecurityKey, isDirectory, path /abc/, 1.2.3.4, limit). */
START_TEST(test_bunny_path_form_sdk_vector)
{
    mg_policy_t *p = mg_fx_load_ok(P_BN);
    mg_token_claims_t c;
    const char *v = "/bcdn_token=HS256-1-X01Z6A9xAo1_ds1XFf9y8gAIzk_JpmoevOx7EtgMQhY"
                    "&limit=5000&expires=1598024587/abc/";
    ASSERT_REASON(mg_fx_check(p, v, 1598024000, "1.2.3.4", &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "bn");
    ck_assert_str_eq(c.from, "path");
    ck_assert_str_eq(c.ip, "1.2.3.4/32");
    ASSERT_REASON(mg_fx_check(p, v, 1598024000, "1.2.3.5", &c), MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(
        mg_fx_check(p, mg_fx_replace_str(v, "limit=5000", "limit=5001"), 1598024000, "1.2.3.4", &c),
        MG_R_TOKEN_BAD_SIG);
    /* a query next to the token in the path is not signed */
    ASSERT_REASON(
        mg_fx_check(p, apr_pstrcat(mg_test_pool, v, "?limit=1", NULL), 1598024000, "1.2.3.4", &c),
        MG_R_TOKEN_MALFORMED);
    /* the query form's parameters next to the path form: two tokens */
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, v, "?token=x&expires=1", NULL),
                              1598024000, "1.2.3.4", &c),
                  MG_R_TOKEN_MALFORMED);
}
END_TEST

START_TEST(test_bunny_path_form_signer_scope_and_refusals)
{
    mg_policy_t *p = mg_fx_load_ok(P_BN);
    mg_token_claims_t c;
    /* the SDKs' isDirectory layout: sorted signed parameters, then expires */
    const char *u = fsign(p, "bnp", "/v/l1/index.m3u8?w=2", 2000000000, NULL, "/v/l1/");
    ck_assert_msg(strncmp(u, "/bcdn_token=HS256-", 18) == 0, "%s", u);
    ck_assert_ptr_nonnull(
        strstr(u, "&token_path=%2Fv%2Fl1%2F&w=2&expires=2000000000/v/l1/index.m3u8"));
    ck_assert_ptr_null(strchr(u, '?'));
    ASSERT_REASON(mg_fx_check(p, u, 1999999000, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.scope, "/v/l1/");
    const char *seg = apr_pstrmemdup(mg_test_pool, u, (apr_size_t)(strstr(u, "/v/l1/") - u));
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, seg, "/v/l1/seg-1.ts", NULL), 1999999000,
                              NULL, &c),
                  MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, seg, "/v/l2/seg-1.ts", NULL), 1999999000,
                              NULL, &c),
                  MG_R_TOKEN_SCOPE);
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, seg, "/v/l1/../l2/seg-1.ts", NULL),
                              1999999000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    ASSERT_REASON(mg_fx_check(p, u, 2000000031, NULL, &c), MG_R_TOKEN_EXPIRED);
    /* the same parameters in the query: the query form of the same key */
    const char *q = fsign(p, "bn", "/v/l1/index.m3u8", 2000000000, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(q, "?token=HS256-"));
    /* malformed segments */
    const char *bad[] = {
        "/bcdn_token=HS256-xyz&expires=2000000000/v/a.ts",
        "/bcdn_token=&expires=2000000000/v/a.ts",
        "/bcdn_token=HS256-X01Z6A9xAo1_ds1XFf9y8gAIzk_JpmoevOx7EtgMQhY/v/a.ts", /* no expires */
        "/bcdn_token=HS256-X01Z6A9xAo1_ds1XFf9y8gAIzk_JpmoevOx7EtgMQhY&expires=0/v/a.ts",
        "/bcdn_token=HS256-X01Z6A9xAo1_ds1XFf9y8gAIzk_JpmoevOx7EtgMQhY&expires=1;x/v/a.ts",
        ("/bcdn_token=HS256-X01Z6A9xAo1_ds1XFf9y8gAIzk_JpmoevOx7EtgMQhY&expires=1"
         "&token_countries=US/v/a.ts"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_REASON(mg_fx_check(p, bad[i], 1, NULL, &c), MG_R_TOKEN_MALFORMED);
    /* no path after the segment: not the form; a path that climbs out: bad-url */
    ASSERT_REASON(mg_fx_check(p, "/bcdn_token=HS256-x&expires=1", 1, NULL, &c), MG_R_TOKEN_MISSING);
    ASSERT_REASON(mg_fx_check(p, "/bcdn_token=HS256-x&expires=1/../a.ts", 1, NULL, &c),
                  MG_R_BAD_URL);
    ck_assert_ptr_nonnull(
        strstr(mg_fx_load_error("version: 1\nkeys:\n  - id: b\n    format: bunny\n"
                                "    file: bn.key\n    options: {sign_form: dir}\n"
                                "rules:\n  - {id: all, path: /, token: required}\n"),
               "option sign_form"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* the interface                                                        */
/* ------------------------------------------------------------------ */

START_TEST(test_overlapping_path_prefixes_of_two_formats_are_refused)
{
    const char *err = mg_fx_load_error("version: 1\n"
                                       "keys:\n"
                                       "  - id: l\n"
                                       "    format: lighttpd-secdownload\n"
                                       "    file: lt.key\n"
                                       "    options: {uri_prefix: /p/}\n"
                                       "  - id: n\n"
                                       "    format: nginx-secure-link\n"
                                       "    file: ng.key\n"
                                       "    options: {secret_prefix: /p/, no_expiry: allow}\n"
                                       "rules:\n"
                                       "  - {id: all, path: /, token: required}\n");
    ck_assert_ptr_nonnull(strstr(err, "could not tell the two formats apart"));
    err = mg_fx_load_error("version: 1\n"
                           "keys:\n"
                           "  - id: l\n"
                           "    format: lighttpd-secdownload\n"
                           "    file: lt.key\n"
                           "    options: {uri_prefix: /}\n"
                           "  - id: n\n"
                           "    format: nginx-secure-link\n"
                           "    file: ng.key\n"
                           "    options: {secret_prefix: /p/, no_expiry: allow}\n"
                           "rules:\n"
                           "  - {id: all, path: /, token: required}\n");
    ck_assert_ptr_nonnull(strstr(err, "could not tell the two formats apart"));
    /* rotation: two keys of one format under one prefix, the second verifies */
    mg_policy_t *p = mg_fx_load_ok("version: 1\n"
                                   "keys:\n"
                                   "  - id: new\n"
                                   "    format: lighttpd-secdownload\n"
                                   "    file: long.key\n"
                                   "    options: {uri_prefix: /sec/, timeout: \"3600\"}\n"
                                   "  - id: old\n"
                                   "    format: lighttpd-secdownload\n"
                                   "    file: lt.key\n"
                                   "    options: {uri_prefix: /sec/, timeout: \"3600\"}\n"
                                   "rules:\n"
                                   "  - {id: all, path: /, token: required}\n");
    mg_token_claims_t c;
    ASSERT_REASON(mg_fx_check(p, "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.html", LT_TS,
                              NULL, &c),
                  MG_R_ALLOWED);
    ck_assert_str_eq(c.kid, "old");
}
END_TEST

/* mod_media_guard's translate_name hook leaves at once for servers whose
 * policies have no path-form key: that is only safe if such a policy never
 * finds a token in a path */
START_TEST(test_only_policies_with_path_form_keys_read_tokens_in_paths)
{
    const char *u = "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.html";
    mg_policy_t *lt = mg_fx_load_ok(P_LT);
    mg_policy_t *native = mg_fx_load_ok("version: 1\n"
                                        "keys:\n"
                                        "  - {id: k, file: native.key}\n"
                                        "rules:\n"
                                        "  - {id: all, path: /, token: required}\n");
    ck_assert_int_eq(mg_policy_has_path_tokens(lt), 1);
    ck_assert_str_eq(mg_path_token_effective(mg_test_pool, lt, u), "/sec/index.html");
    ck_assert_int_eq(mg_policy_has_path_tokens(native), 0);
    ck_assert_ptr_null(mg_path_token_effective(mg_test_pool, native, u));
    ck_assert_int_eq(mg_policy_has_path_tokens(NULL), 0);
}
END_TEST

START_TEST(test_path_tokens_and_query_tokens_never_combine)
{
    mg_policy_t *p = mg_fx_load_ok("version: 1\n"
                                   "keys:\n"
                                   "  - {id: k, file: native.key}\n"
                                   "  - id: l\n"
                                   "    format: lighttpd-secdownload\n"
                                   "    file: lt.key\n"
                                   "    options: {uri_prefix: /sec/, hash_querystr: \"true\"}\n"
                                   "  - id: b\n"
                                   "    format: bunny\n"
                                   "    file: bn.key\n"
                                   "rules:\n"
                                   "  - {id: all, path: /, token: required}\n");
    mg_token_claims_t c;
    const char *u = "/sec/e4e8fb629639a81b7a13f3ff5f34dedb/6b36de6f/index.html";
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, u, "?mg_exp=1&mg_kid=k&mg_sig=AA", NULL),
                              LT_TS, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ck_assert_ptr_nonnull(strstr(c.detail, "mg-v1"));
    ASSERT_REASON(mg_fx_check(p, apr_pstrcat(mg_test_pool, u, "?token=HS256-x&expires=1", NULL),
                              LT_TS, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ck_assert_ptr_nonnull(strstr(c.detail, "bunny"));
    /* a policy without path-form keys sees such a path as a path */
    mg_policy_t *q = mg_fx_load_ok(P_NG);
    ASSERT_REASON(mg_fx_check(q, u, LT_TS, NULL, &c), MG_R_TOKEN_MISSING);
}
END_TEST

static Suite *fmt_path_suite(void)
{
    Suite *s = suite_create("fmt_path");
    TCase *tc = tcase_create("lighttpd");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_lighttpd_vectors_of_its_own_test_verify_and_are_reproduced);
    tcase_add_test(tc, test_lighttpd_window_is_both_ways_with_the_policy_skew);
    tcase_add_test(tc, test_lighttpd_mac_covers_path_file_and_prefix);
    tcase_add_test(tc, test_lighttpd_malformed_tokens_are_token_malformed);
    tcase_add_test(tc, test_lighttpd_path_segments_is_a_directory_scope);
    tcase_add_test(tc, test_lighttpd_path_segments_token_reports_its_directory_as_scope);
    tcase_add_test(tc, test_lighttpd_hash_querystr_covers_the_query);
    tcase_add_test(tc, test_lighttpd_effective_path_is_judged_and_stays_under_the_prefix);
    tcase_add_test(tc, test_lighttpd_signer_refusals);
    tcase_add_test(tc, test_lighttpd_options_are_checked_at_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("nginx-secret");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_nginx_secret_documentation_vector);
    tcase_add_test(tc, test_nginx_secret_options_are_checked_at_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("bunny-path");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_bunny_path_form_sdk_vector);
    tcase_add_test(tc, test_bunny_path_form_signer_scope_and_refusals);
    suite_add_tcase(s, tc);
    tc = tcase_create("interface");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_overlapping_path_prefixes_of_two_formats_are_refused);
    tcase_add_test(tc, test_path_tokens_and_query_tokens_never_combine);
    tcase_add_test(tc, test_only_policies_with_path_form_keys_read_tokens_in_paths);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(fmt_path_suite)
