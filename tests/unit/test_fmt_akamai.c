/* test_fmt_akamai.c — Akamai EdgeAuth tokens (lib/mg_fmt_akamai.c) and the
 * signed-cookie forms of foreign formats (Akamai __token__, Google Cloud
 * CDN's Cloud-CDN-Cookie): the SDK's and Google's vectors, every field and
 * refusal, ACL wildcards against the canonical path, load-time refusals,
 * and the adversarial cases (algorithm confusion, two formats at once, one
 * secret under two formats, cookies of several formats). */
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
#include "mg_token.h"

/* the keys of the vectors (examples/signers/format-vectors.json) */
#define K1 "aabbccddeeff00112233445566778899"
#define K2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define EXP 1893456000
#define NOW 1800000000

static void setup(void)
{
    mg_fx_setup("fmtak");
    mg_fx_write_file("k1.hex", K1 "\n");
    mg_fx_write_file("k2.hex", K2 "\n");
    mg_fx_write_file("gc.key", "nZtRohdNF9m3cKM24IcK4w==\n");
    mg_fx_write_file("k1.b64",
                     "qrvM3e7_ABEiM0RVZneImQ\n"); /* the bytes of K1, as Google shows keys */
    mg_fx_write_file("odd.hex", "abc\n");
    mg_fx_write_file("native.key", "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n");
}
/* A policy with one akamai key (alg and options as given) on k1.hex. */
static mg_policy_t *ak_policy(const char *file, const char *alg, const char *options)
{
    return mg_fx_load_ok(apr_psprintf(mg_test_pool,
                                      "version: 1\n"
                                      "tokens: {revoked_ids: [leaked-1]}\n"
                                      "keys:\n"
                                      "  - id: ak\n"
                                      "    format: akamai-edgeauth\n"
                                      "    file: %s\n"
                                      "%s%s%s"
                                      "    options: {%s}\n"
                                      "rules:\n"
                                      "  - {id: all, path: /, token: required}\n",
                                      file, alg ? "    alg: " : "", alg ? alg : "", alg ? "\n" : "",
                                      options ? options : ""));
}

static mg_reason_t check(const mg_policy_t *p, const char *url, mg_token_claims_t *c)
{
    return mg_fx_check_cookie(p, url, NULL, NOW, NULL, c);
}

/* An EdgeAuth token over `fields` (plus `hidden`, hashed but not sent),
 * computed here with OpenSSL directly, independently of the verifier. */
static const char *ak_tok(const char *keyhex, const char *digest, const char *fields,
                          const char *hidden)
{
    unsigned char key[64], mac[64];
    size_t kn = strlen(keyhex) / 2, mn = 0;
    for (size_t i = 0; i < kn; i++)
        sscanf(keyhex + 2 * i, "%2hhx", &key[i]);
    const char *msg = apr_pstrcat(mg_test_pool, fields, hidden ? hidden : "", NULL);
    ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, key, kn,
                                    (const unsigned char *)msg, strlen(msg), mac, sizeof(mac),
                                    &mn));
    char hex[129];
    for (size_t i = 0; i < mn; i++)
        sprintf(hex + 2 * i, "%02x", mac[i]);
    return apr_pstrcat(mg_test_pool, fields, "~hmac=", hex, NULL);
}

static const char *with_tok(const char *path, const char *tok)
{
    return apr_pstrcat(mg_test_pool, path, strchr(path, '?') ? "&" : "?", "__token__=", tok, NULL);
}

static const char *fsign(const mg_policy_t *p, const char *url, int64_t exp, const char *ip,
                         const char *scope)
{
    mg_fmt_claims_t c = {.exp = exp, .ip = ip, .scope = scope};
    return mg_fx_sign(p, NULL, url, &c); /* the policy's first key */
}
/* The same query on another path. */
static const char *replace_path(const char *url, const char *path)
{
    return apr_pstrcat(mg_test_pool, path, strchr(url, '?'), NULL);
}

/* ------------------------------------------------------------------ */

START_TEST(test_akamai_sdk_vectors_verify_and_are_reproduced)
{
    mg_token_claims_t c;
    mg_policy_t *p = ak_policy("k1.hex", NULL, NULL);
    /* EdgeAuth-Token-Python 0.3.2: generate_url_token('/v/a.mp4'), end_time 1893456000 */
    const char *url = "/v/a.mp4?__token__=exp=1893456000~hmac="
                      "736a9bc4fbc1a08d3b022c9c3835389023e4c578f52f8fa2267782798b6a745a";
    ASSERT_REASON(check(p, url, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "akamai-edgeauth");
    ck_assert_int_eq(apr_time_sec(c.expires), EXP);
    ck_assert_str_eq(fsign(p, "/v/a.mp4", EXP, NULL, NULL), url);
    /* generate_acl_token for the ACL "/v/" + "*" with ip='1.2.3.4' */
    url = "/v/a.mp4?__token__=ip=1.2.3.4~exp=1893456000~acl=/v/*~hmac="
          "cab65ea66f4be0f96047ac84acc4b8857a75f7f10180fe6704bbcf317dffd359";
    ASSERT_REASON(mg_fx_check_cookie(p, url, NULL, NOW, "1.2.3.4", &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.ip, "1.2.3.4");
    ck_assert_str_eq(c.scope, "/v/");
    ck_assert_str_eq(fsign(p, "/v/a.mp4", EXP, "1.2.3.4", "/v/"), url);
    ASSERT_REASON(mg_fx_check_cookie(p, url, NULL, NOW, "1.2.3.5", &c), MG_R_TOKEN_WRONG_IP);

    /* algorithm='sha1', start_time, session_id, payload, two ACLs */
    p = ak_policy("k2.hex", "hmac-sha1", NULL);
    url = "/v/l2/x.mp4?__token__=st=1700000000~exp=1893456000~acl=/v/l1/*!/v/l2/*~id=abc123~"
          "data=plan=gold~hmac=a1504978d49e92b5869044b634669c5de9e51121";
    ASSERT_REASON(check(p, url, &c), MG_R_ALLOWED);
    ck_assert_int_eq(apr_time_sec(c.not_before), 1700000000);
    ck_assert_str_eq(c.id, "abc123");
    ck_assert_ptr_null(c.scope); /* two ACLs: matched by the verifier, no single prefix */
    ASSERT_REASON(mg_fx_check_cookie(p, url, NULL, 1600000000, NULL, &c), MG_R_TOKEN_NOT_YET);
    ASSERT_REASON(mg_fx_check_cookie(p, url, NULL, EXP + 3600, NULL, &c), MG_R_TOKEN_EXPIRED);

    /* algorithm='md5' (HMAC-MD5), escape_early, URL token for '/v/a b.mp4' */
    p = ak_policy("k2.hex", "hmac-md5", "escape_early: 'true'");
    url = "/v/a%20b.mp4?__token__=ip=1.2.3.4~exp=1893456000~hmac=310a615f57fe2026a1eaecf0f958dbd0";
    ASSERT_REASON(mg_fx_check_cookie(p, url, NULL, NOW, "1.2.3.4", &c), MG_R_ALLOWED);
    ck_assert_str_eq(fsign(p, "/v/a%20b.mp4", EXP, "1.2.3.4", NULL), url);

    /* salt='pepper': hashed after everything, never sent */
    p = ak_policy("k1.hex", NULL, "salt: pepper");
    ASSERT_REASON(check(p,
                        "/v/a.mp4?__token__=exp=1893456000~acl=/v/*~hmac="
                        "ae6a8dc729fc278f1e35cdd9e1bed2c5ae820866c375b7b3653acfedf8969263",
                        &c),
                  MG_R_ALLOWED);
    ASSERT_REASON(check(p,
                        "/v/a.mp4?__token__=exp=1893456000~hmac="
                        "cf5b6344a939c67bd06dd66c895d9102b720c68a2965fe1cec79f63db9a4674c",
                        &c),
                  MG_R_ALLOWED);
    /* without the salt the same token is forged */
    p = ak_policy("k1.hex", NULL, NULL);
    ASSERT_REASON(check(p,
                        "/v/a.mp4?__token__=exp=1893456000~hmac="
                        "cf5b6344a939c67bd06dd66c895d9102b720c68a2965fe1cec79f63db9a4674c",
                        &c),
                  MG_R_TOKEN_BAD_SIG);
}
END_TEST

START_TEST(test_akamai_every_signed_field_is_covered)
{
    mg_token_claims_t c;
    mg_policy_t *p = ak_policy("k1.hex", NULL, NULL);
    const char *f = "ip=1.2.3.4~st=1700000000~exp=1893456000~acl=/v/*~id=u1~data=x";
    const char *tok = ak_tok(K1, "SHA256", f, NULL);
    ASSERT_REASON(mg_fx_check_cookie(p, with_tok("/v/a.mp4", tok), NULL, NOW, "1.2.3.4", &c),
                  MG_R_ALLOWED);
    /* change any byte of any field: bad signature */
    static const char *const from[] = {"ip=1.2.3.4", "st=1700000000", "exp=1893456000",
                                       "acl=/v/*",   "id=u1",         "data=x"};
    static const char *const to[] = {"ip=1.2.3.5", "st=1700000001", "exp=1893456001",
                                     "acl=/*",     "id=u2",         "data=y"};
    for (int i = 0; i < 6; i++) {
        char *t = apr_pstrdup(mg_test_pool, tok);
        char *at = strstr(t, from[i]);
        ck_assert_ptr_nonnull(at);
        const char *bad =
            apr_pstrcat(mg_test_pool, apr_pstrmemdup(mg_test_pool, t, (apr_size_t)(at - t)), to[i],
                        at + strlen(from[i]), NULL);
        ASSERT_REASON(mg_fx_check_cookie(p, with_tok("/v/a.mp4", bad), NULL, NOW, "1.2.3.5", &c),
                      MG_R_TOKEN_BAD_SIG);
    }
    /* a field dropped: bad signature */
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", strstr(tok, "exp=")), &c), MG_R_TOKEN_BAD_SIG);
    /* a URL token covers its path (hashed as ~url=<raw path>), not the query */
    tok = ak_tok(K1, "SHA256", "exp=1893456000", "~url=/v/a.mp4");
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", tok), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/a.mp4?lang=en", tok), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/b.mp4", tok), &c), MG_R_TOKEN_BAD_SIG);
    /* ... but a transformation in the query is a rendition it never signed,
     * and the signer refuses to write such a link (fuzz_fmt's
     * regressions/fmt/akamai-url-token-with-query-transformation) */
    ASSERT_REASON(check(p, with_tok("/v/a.mp4?tr=w-100", tok), &c), MG_R_TOKEN_SCOPE);
    {
        const mg_fkey_t *k = APR_ARRAY_IDX(p->keys, 0, mg_keyref_t).fkey;
        mg_fmt_claims_t fc = {.exp = EXP, .ip = NULL, .scope = NULL};
        const char *out, *why;
        ck_assert_int_eq(k->fmt->sign(mg_test_pool, k, "/v/a.mp4?tr=w-100", &fc, &out, &why),
                         MG_EINVAL);
        ASSERT_REASON(check(p, fsign(p, "/v/tr:w-100/a.mp4", EXP, NULL, NULL), &c), MG_R_ALLOWED);
    }
    ASSERT_REASON(check(p, with_tok("/v/./a.mp4", tok), &c), MG_R_TOKEN_BAD_SIG);
    /* the id is the token's id: revocable */
    tok = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/*~id=leaked-1", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", tok), &c), MG_R_TOKEN_REVOKED);
    /* the expiry, the start and the address meet the usual checks */
    tok = ak_tok(K1, "SHA256", "exp=1700000000~acl=/v/*", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", tok), &c), MG_R_TOKEN_EXPIRED);
    tok = ak_tok(K1, "SHA256", "st=1850000000~exp=1893456000~acl=/v/*", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", tok), &c), MG_R_TOKEN_NOT_YET);
    tok = ak_tok(K1, "SHA256", "ip=2001:db8::1~exp=1893456000~acl=/v/*", NULL);
    ASSERT_REASON(mg_fx_check_cookie(p, with_tok("/v/a.mp4", tok), NULL, NOW, "2001:db8::1", &c),
                  MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check_cookie(p, with_tok("/v/a.mp4", tok), NULL, NOW, "2001:db8::2", &c),
                  MG_R_TOKEN_WRONG_IP);
}
END_TEST

START_TEST(test_akamai_acl_wildcards_match_the_canonical_path_and_never_widen)
{
    mg_token_claims_t c;
    mg_policy_t *p = ak_policy("k1.hex", NULL, NULL);
    const char *v = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/*", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", v), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/deep/er/a.mp4", v), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/x/../a.mp4", v), &c), MG_R_ALLOWED);
    /* the raw path starts with /v/, the canonical one does not */
    ASSERT_REASON(check(p, with_tok("/v/../secret", v), &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(p, with_tok("/v/%2e%2e/secret", v), &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(p, with_tok("/v", v), &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(p, with_tok("/vx/a.mp4", v), &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(p, with_tok("/w/a.mp4", v), &c), MG_R_TOKEN_SCOPE);
    /* a pattern with dot segments matches nothing canonical */
    const char *dots = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/../*", NULL);
    ASSERT_REASON(check(p, with_tok("/secret", dots), &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(p, with_tok("/v/../secret", dots), &c), MG_R_TOKEN_SCOPE);
    /* '*' inside a pattern, several patterns, an exact path */
    const char *mp4 = ak_tok(K1, "SHA256", "exp=1893456000~acl=/a/b.txt!/v/*.mp4", NULL);
    ASSERT_REASON(check(p, with_tok("/v/x/y.mp4", mp4), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/a/b.txt", mp4), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/x/y.mkv", mp4), &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(p, with_tok("/a/b.txt2", mp4), &c), MG_R_TOKEN_SCOPE);
    /* percent-encoded literals are decoded as the path is */
    const char *sp = ak_tok(K1, "SHA256", "exp=1893456000~acl=/my%20v/*", NULL);
    ASSERT_REASON(check(p, with_tok("/my%20v/a.mp4", sp), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/my%20v/a.mp4", sp), &c), MG_R_ALLOWED);
    /* an encoded star is no wildcard: refused rather than guessed */
    const char *es = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/%2a", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", es), &c), MG_R_TOKEN_MALFORMED);
    /* an ACL must be a path */
    const char *rel = ak_tok(K1, "SHA256", "exp=1893456000~acl=*", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", rel), &c), MG_R_TOKEN_MALFORMED);
    /* many stars cannot make the match expensive past the bounds */
    const char *star = "exp=1893456000~acl=/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
    ASSERT_REASON(
        check(p,
              with_tok(apr_pstrcat(mg_test_pool, "/",
                                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL),
                       ak_tok(K1, "SHA256", star, NULL)),
              &c),
        MG_R_TOKEN_SCOPE);
}
END_TEST

/* Akamai matches an ACL against the URL path as sent, 'tr:' segment
 * included: an ACL names a rendition, and /v/ then a star holds no
 * /tr:w-2000/v/a.jpg (red team 22: both were allowed, the ACL matched the
 * path with the transformation removed). */
START_TEST(test_akamai_acl_covers_the_tr_segment_where_it_stands)
{
    mg_token_claims_t c;
    mg_policy_t *p = ak_policy("k1.hex", NULL, NULL);
    const char *file = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/a.jpg", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.jpg", file), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/tr:w-2000/a.jpg", file), &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(p, with_tok("/tr:w-2000/v/a.jpg", file), &c), MG_R_TOKEN_SCOPE);
    /* an ACL for a rendition grants that rendition (it was refused before) */
    const char *rend = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/tr:w-300/a.jpg", NULL);
    ASSERT_REASON(check(p, with_tok("/v/tr:w-300/a.jpg", rend), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/a.jpg", rend), &c), MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(p, with_tok("/v/tr:w-2000/a.jpg", rend), &c), MG_R_TOKEN_SCOPE);
    /* a directory ACL: renditions below it, not in front of it */
    const char *dir = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/*", NULL);
    ASSERT_REASON(check(p, with_tok("/v/tr:w-2000/a.jpg", dir), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/tr:w-2000/v/a.jpg", dir), &c), MG_R_TOKEN_SCOPE);
    const char *l1 = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/l1/*", NULL);
    ASSERT_REASON(check(p, with_tok("/v/l1/tr:w-1/a.jpg", l1), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/tr:w-1/l1/a.jpg", l1), &c), MG_R_TOKEN_SCOPE);
    /* the query is not signed: an entry without a wildcard names one path,
     * not its renditions (?tr=); one with a wildcard does */
    ASSERT_REASON(check(p, with_tok("/v/a.jpg?tr=w-2000", file), &c), MG_R_TOKEN_SCOPE);
    ck_assert_ptr_nonnull(strstr(c.detail, "?tr="));
    ASSERT_REASON(check(p, with_tok("/v/a.jpg?tr=w-2000", dir), &c), MG_R_ALLOWED);
    const char *both = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/a.jpg!/v/*", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.jpg?tr=w-2000", both), &c), MG_R_ALLOWED);
}
END_TEST

/* A transformation in the query (?tr=) is the rendition the path form
 * names with its 'tr:' segment right before the file: an ACL entry grants
 * the one exactly when it grants the other (fix 22b: /v/a.jpg then a star
 * refused /v/tr:w-300/a.jpg and granted /v/a.jpg?tr=w-300, as every entry
 * with a star did). */
START_TEST(test_akamai_acl_grants_query_and_path_forms_of_a_rendition_alike)
{
    static const struct {
        const char *acl;
        mg_reason_t want;  /* every form of the rendition w-300 */
        mg_reason_t plain; /* /v/a.jpg itself */
    } tab[] = {
        {"/v/a.jpg*", MG_R_TOKEN_SCOPE, MG_R_ALLOWED},
        {"/v/*", MG_R_ALLOWED, MG_R_ALLOWED},
        {"/v/a.jpg", MG_R_TOKEN_SCOPE, MG_R_ALLOWED},
        {"/*", MG_R_ALLOWED, MG_R_ALLOWED},
        {"/v/tr:w-300/*", MG_R_ALLOWED, MG_R_TOKEN_SCOPE},
        {"/v/tr:w-300/a.jpg", MG_R_ALLOWED, MG_R_TOKEN_SCOPE},
        {"/v/tr:w-2000/*", MG_R_TOKEN_SCOPE, MG_R_TOKEN_SCOPE},
        {"/v/*/a.jpg", MG_R_ALLOWED, MG_R_TOKEN_SCOPE},
        {"/v/a.jpg!/x/*", MG_R_TOKEN_SCOPE, MG_R_ALLOWED},
        {"/x/*!/v/tr:w-300/a.jpg", MG_R_ALLOWED, MG_R_TOKEN_SCOPE},
    };
    static const char *const forms[] = {"/v/tr:w-300/a.jpg", "/v/a.jpg?tr=w-300",
                                        "/v/a.jpg?tr=w-300&x=1", "/v/./a.jpg?x=1&tr=w-300"};
    mg_token_claims_t c;
    mg_policy_t *p = ak_policy("k1.hex", NULL, NULL);
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        const char *tok = ak_tok(
            K1, "SHA256", apr_pstrcat(mg_test_pool, "exp=1893456000~acl=", tab[i].acl, NULL), NULL);
        for (size_t j = 0; j < sizeof(forms) / sizeof(forms[0]); j++) {
            mg_reason_t r = check(p, with_tok(forms[j], tok), &c);
            ck_assert_msg(r == tab[i].want, "acl %s, %s: %s", tab[i].acl, forms[j],
                          mg_reason_name(r));
        }
        /* the file itself, untransformed, as the entry says */
        mg_reason_t r = check(p, with_tok("/v/a.jpg", tok), &c);
        ck_assert_msg(r == tab[i].plain, "acl %s, /v/a.jpg: %s", tab[i].acl, mg_reason_name(r));
    }
    /* the refusal says which path was matched */
    const char *star = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/a.jpg*", NULL);
    ASSERT_REASON(check(p, with_tok("/v/a.jpg?tr=w-300", star), &c), MG_R_TOKEN_SCOPE);
    ck_assert_ptr_nonnull(strstr(c.detail, "?tr="));
    /* a file at the root: the segment goes right after the root */
    const char *root = ak_tok(K1, "SHA256", "exp=1893456000~acl=/tr:w-300/a.jpg", NULL);
    ASSERT_REASON(check(p, with_tok("/a.jpg?tr=w-300", root), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/tr:w-300/a.jpg", root), &c), MG_R_ALLOWED);
    /* one place only: renditions in front of a directory are not the path
     * form of a query transformation (docs/token-formats.md) */
    const char *front = ak_tok(K1, "SHA256", "exp=1893456000~acl=/tr:w-300/*", NULL);
    ASSERT_REASON(check(p, with_tok("/tr:w-300/v/a.jpg", front), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, with_tok("/v/a.jpg?tr=w-300", front), &c), MG_R_TOKEN_SCOPE);
}
END_TEST

START_TEST(test_akamai_signed_prefix_is_encoded_so_no_delimiter_ends_it)
{
    /* fuzz_fmt's regressions/fmt/akamai-prefix-with-field-delimiter: a prefix
     * holding '~' was written raw into the ACL and split the token */
    mg_token_claims_t c;
    mg_policy_t *p = ak_policy("k1.hex", NULL, NULL);
    const char *url = fsign(p, "/a~b%20c!/x.mp4", EXP, NULL, "/a~b c!/");
    ck_assert_ptr_nonnull(strstr(url, "~acl=/a%7Eb%20c%21/*~hmac="));
    ASSERT_REASON(check(p, url, &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, replace_path(url, "/a~b%20c!/y/z.mp4"), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, replace_path(url, "/a~b%20d!/x.mp4"), &c), MG_R_TOKEN_SCOPE);
    /* a star in the prefix would be a wildcard nobody meant */
    const mg_fkey_t *k = APR_ARRAY_IDX(p->keys, 0, mg_keyref_t).fkey;
    mg_fmt_claims_t fc = {.exp = EXP, .ip = NULL, .scope = "/a*/"};
    const char *out, *why;
    ck_assert_int_eq(k->fmt->sign(mg_test_pool, k, "/a*/x.mp4", &fc, &out, &why), MG_EINVAL);
    ck_assert_int_eq(k->fmt->sign_cookie(mg_test_pool, k, &fc, &out, &why), MG_EINVAL);
}
END_TEST

START_TEST(test_akamai_malformed_tokens_are_token_malformed)
{
    mg_token_claims_t c;
    mg_policy_t *p = ak_policy("k1.hex", NULL, NULL);
    const char *good = ak_tok(K1, "SHA256", "exp=1893456000~acl=/v/*", NULL);
    static const char *const bad[] = {
        "",                                               /* empty */
        "exp=1893456000~acl=/v/*",                        /* no hmac */
        "acl=/v/*~hmac=00",                               /* no exp */
        "exp=1893456000~acl=/v/*~hmac=00~id=x",           /* hmac not last */
        "exp=1893456000~exp=1893456000~acl=/v/*~hmac=00", /* repeated */
        "exp=1893456000~url=/v/a.mp4~hmac=00",            /* url is never sent */
        "exp=1893456000~salt=x~hmac=00",                  /* nor the salt */
        "exp=1893456000~acl=/v/*~hmac=0",                 /* odd hex */
        "exp=1893456000~acl=/v/*~hmac=ZZ",                /* not hex */
        "exp=01893456000~acl=/v/*~hmac=00",               /* leading zero */
        "exp=18934560000~acl=/v/*~hmac=00",               /* past 10 digits */
        "exp=1893456000~~acl=/v/*~hmac=00",               /* empty field */
        "exp=1893456000~acl~hmac=00",                     /* not name=value */
        "exp=1893456000~acl=/v/*~hmac=00~",               /* trailing delimiter */
        "EXP=1893456000~acl=/v/*~hmac=00",                /* names are lower case */
        "hmac=00",                                        /* hmac alone */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(check(p, with_tok("/v/a.mp4", bad[i]), &c) == MG_R_TOKEN_MALFORMED, "%s: %s",
                      bad[i], R(check(p, with_tok("/v/a.mp4", bad[i]), &c)));
    /* upper-case hex: the SDKs write hexdigest() */
    char *upper = apr_pstrdup(mg_test_pool, good);
    for (char *h = strstr(upper, "hmac=") + 5; *h; h++)
        if (*h >= 'a' && *h <= 'f')
            *h = (char)(*h - 32);
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", upper), &c), MG_R_TOKEN_MALFORMED);
    /* the parameter twice, or an encoded spelling of its name */
    ASSERT_REASON(
        check(p, apr_pstrcat(mg_test_pool, with_tok("/v/a.mp4", good), "&__token__=", good, NULL),
              &c),
        MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(check(p, apr_pstrcat(mg_test_pool, "/v/a.mp4?__token%5F_=", good, NULL), &c),
                  MG_R_TOKEN_MALFORMED);
    /* signed, but nonsense: st not before exp, an address that is a network */
    ASSERT_REASON(check(p,
                        with_tok("/v/a.mp4", ak_tok(K1, "SHA256",
                                                    "st=1893456000~exp=1893456000~acl=/v/*", NULL)),
                        &c),
                  MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(check(p,
                        with_tok("/v/a.mp4", ak_tok(K1, "SHA256",
                                                    "ip=1.2.3.0/24~exp=1893456000~acl=/v/*", NULL)),
                        &c),
                  MG_R_TOKEN_MALFORMED);
    /* too long */
    char *big = apr_palloc(mg_test_pool, 5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    ASSERT_REASON(check(p,
                        with_tok("/v/a.mp4", apr_pstrcat(mg_test_pool, "exp=1893456000~data=", big,
                                                         "~hmac=00", NULL)),
                        &c),
                  MG_R_TOKEN_MALFORMED);
}
END_TEST

START_TEST(test_akamai_options_token_name_delimiters_and_load_refusals)
{
    mg_token_claims_t c;
    mg_policy_t *p = ak_policy("k1.hex", NULL,
                               "token_name: hdnea, field_delimiter: ':', "
                               "acl_delimiter: '@'");
    const char *t = ak_tok(K1, "SHA256", "exp=1893456000:acl=/a/*@/v/*", NULL);
    /* ak_tok joins hmac with '~': rebuild with ':' */
    char *tt = apr_pstrdup(mg_test_pool, t);
    *strstr(tt, "~hmac=") = ':';
    ASSERT_REASON(check(p, apr_pstrcat(mg_test_pool, "/v/a.mp4?hdnea=", tt, NULL), &c),
                  MG_R_ALLOWED);
    ASSERT_REASON(check(p, apr_pstrcat(mg_test_pool, "/v/a.mp4?__token__=", tt, NULL), &c),
                  MG_R_TOKEN_MISSING);
    ASSERT_REASON(mg_fx_check_cookie(p, "/v/a.mp4", apr_pstrcat(mg_test_pool, "hdnea=", tt, NULL),
                                     NOW, NULL, &c),
                  MG_R_ALLOWED);

    static const char *const refused[][2] = {
        {"token_name: 'a b'", "token_name"},
        {"token_name: ''", "token_name"},
        {"token_name: mg_token", "mg_ names"},
        {"field_delimiter: '&'", "field_delimiter"},
        {"field_delimiter: '~~'", "field_delimiter"},
        {"acl_delimiter: '/'", "acl_delimiter"},
        {"acl_delimiter: '~'", "must differ"},
        {"escape_early: yes", "escape_early"},
        {"colour: blue", "no option"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const char *e = mg_fx_load_error(apr_psprintf(mg_test_pool,
                                                      "version: 1\n"
                                                      "keys:\n"
                                                      "  - id: ak\n"
                                                      "    format: akamai-edgeauth\n"
                                                      "    file: k1.hex\n"
                                                      "    options: {%s}\n"
                                                      "rules:\n"
                                                      "  - {id: all, path: /, token: required}\n",
                                                      refused[i][0]));
        ck_assert_msg(strstr(e, refused[i][1]) != NULL, "%s: %s", refused[i][0], e);
    }
    /* the key is hex */
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: ak, format: akamai-edgeauth, file: "
                                                  "odd.hex}\n"
                                                  "rules:\n"
                                                  "  - {id: all, path: /, token: required}\n"),
                                 "hexadecimal"));
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: ak, format: akamai-edgeauth, file: "
                                                  "gc.key}\n"
                                                  "rules:\n"
                                                  "  - {id: all, path: /, token: required}\n"),
                                 "hexadecimal"));
}
END_TEST

START_TEST(test_akamai_algorithm_comes_from_the_key_never_the_token)
{
    mg_token_claims_t c;
    /* the SDK's "md5" is HMAC-MD5: a plain md5 key is refused at load */
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: ak, format: akamai-edgeauth, file: "
                                                  "k1.hex, alg: md5}\n"
                                                  "rules:\n"
                                                  "  - {id: all, path: /, token: required}\n"),
                                 "hmac-sha256, hmac-sha1 or hmac-md5"));
    ck_assert_ptr_nonnull(strstr(mg_fx_load_error("version: 1\n"
                                                  "keys:\n"
                                                  "  - {id: ak, format: akamai-edgeauth, file: "
                                                  "k1.hex, alg: ed25519}\n"
                                                  "rules:\n"
                                                  "  - {id: all, path: /, token: required}\n"),
                                 "signs with"));
    const char *f = "exp=1893456000~acl=/v/*";
    const char *t256 = ak_tok(K1, "SHA256", f, NULL), *t1 = ak_tok(K1, "SHA1", f, NULL),
               *tmd5 = ak_tok(K1, "MD5", f, NULL);
    mg_policy_t *p256 = ak_policy("k1.hex", NULL, NULL);
    mg_policy_t *p1 = ak_policy("k1.hex", "hmac-sha1", NULL);
    mg_policy_t *pmd5 = ak_policy("k1.hex", "hmac-md5", NULL);
    ASSERT_REASON(check(p256, with_tok("/v/a", t256), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p256, with_tok("/v/a", t1), &c), MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(p256, with_tok("/v/a", tmd5), &c), MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(p1, with_tok("/v/a", t1), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p1, with_tok("/v/a", t256), &c), MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(pmd5, with_tok("/v/a", tmd5), &c), MG_R_ALLOWED);
    ASSERT_REASON(check(pmd5, with_tok("/v/a", t1), &c), MG_R_TOKEN_BAD_SIG);
    /* a truncated MAC of the right algorithm is no shortcut */
    char *trunc = apr_pstrndup(mg_test_pool, t256, strlen(t256) - 24);
    ASSERT_REASON(check(p256, with_tok("/v/a", trunc), &c), MG_R_TOKEN_BAD_SIG);
}
END_TEST

/* The policy of the mixed tests: native, akamai, gcp-cdn and imagekit. */
static const char P_MIX[] = "version: 1\n"
                            "keys:\n"
                            "  - {id: k2026, file: native.key, sign: true}\n"
                            "  - id: ak\n"
                            "    format: akamai-edgeauth\n"
                            "    file: k1.hex\n"
                            "    alg: hmac-sha1\n"
                            "  - id: gc\n"
                            "    format: gcp-cdn\n"
                            "    file: k1.b64\n"
                            "    options: {origin: 'http://h.example', key_name: kk}\n"
                            "  - id: gcg\n"
                            "    format: gcp-cdn\n"
                            "    file: gc.key\n"
                            "    options: {origin: 'http://www.example.com', key_name: my-key}\n"
                            "rules:\n"
                            "  - {id: all, path: /, token: required}\n";

START_TEST(test_parameters_of_two_formats_at_once_are_malformed)
{
    mg_token_claims_t c;
    mg_policy_t *p = mg_fx_load_ok(P_MIX);
    const char *ak = with_tok("/v/a.mp4", ak_tok(K1, "SHA1", "exp=1893456000~acl=/v/*", NULL));
    ASSERT_REASON(check(p, ak, &c), MG_R_ALLOWED);
    ASSERT_REASON(check(p, apr_pstrcat(mg_test_pool, ak, "&mg_exp=1893456000", NULL), &c),
                  MG_R_TOKEN_MALFORMED);
    ck_assert_ptr_nonnull(strstr(c.detail, "two token formats"));
    ASSERT_REASON(check(p, apr_pstrcat(mg_test_pool, ak, "&Expires=1893456000", NULL), &c),
                  MG_R_TOKEN_MALFORMED);
    ck_assert_ptr_nonnull(strstr(c.detail, "two token formats"));
}
END_TEST

START_TEST(test_one_secret_under_two_formats_never_crosses_over)
{
    /* K1's bytes are both the akamai key (hex) and the gcp key (base64url),
     * both HMAC-SHA1: a MAC made for one format's string is refused by the
     * other, moved as it is or re-encoded */
    mg_token_claims_t c;
    mg_policy_t *p = mg_fx_load_ok(P_MIX);
    const char *gsig_src = "http://h.example/v/a.mp4?Expires=1893456000&KeyName=kk";
    unsigned char key[16], mac[20];
    size_t mn = 0;
    for (int i = 0; i < 16; i++)
        sscanf(&K1[2 * i], "%2hhx", &key[i]);
    ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA1", NULL, key, 16,
                                    (const unsigned char *)gsig_src, strlen(gsig_src), mac,
                                    sizeof(mac), &mn));
    char hex[41], b64[40];
    for (int i = 0; i < 20; i++)
        sprintf(hex + 2 * i, "%02x", mac[i]);
    size_t bn = mg_b64url_encode(mac, 20, b64);
    b64[bn++] = '=';
    b64[bn] = '\0';
    const char *gurl =
        apr_pstrcat(mg_test_pool, "/v/a.mp4?Expires=1893456000&KeyName=kk&Signature=", b64, NULL);
    ASSERT_REASON(check(p, gurl, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "gcp-cdn");
    /* the gcp MAC as an akamai hmac */
    ASSERT_REASON(
        check(p, with_tok("/v/a.mp4", apr_pstrcat(mg_test_pool, "exp=1893456000~hmac=", hex, NULL)),
              &c),
        MG_R_TOKEN_BAD_SIG);
    /* an akamai MAC as a gcp signature */
    const char *at = ak_tok(K1, "SHA1", "exp=1893456000", "~url=/v/a.mp4");
    ASSERT_REASON(check(p, with_tok("/v/a.mp4", at), &c), MG_R_ALLOWED);
    for (int i = 0; i < 20; i++)
        sscanf(strstr(at, "hmac=") + 5 + 2 * i, "%2hhx", &mac[i]);
    bn = mg_b64url_encode(mac, 20, b64);
    b64[bn++] = '=';
    b64[bn] = '\0';
    ASSERT_REASON(check(p,
                        apr_pstrcat(mg_test_pool,
                                    "/v/a.mp4?Expires=1893456000&KeyName=kk&Signature=", b64, NULL),
                        &c),
                  MG_R_TOKEN_BAD_SIG);
}
END_TEST

/* ---- signed cookies ---------------------------------------------------- */

#define GC_COOKIE_FOO                                                                              \
    "Cloud-CDN-Cookie=URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v:Expires=1549751401:"          \
    "KeyName=my-key:Signature=Z9uYAu73YHioRScZDxnP-TnS274="

START_TEST(test_gcp_cookie_sample_vectors_verify_and_are_reproduced)
{
    mg_token_claims_t c;
    mg_policy_t *p = mg_fx_load_ok(P_MIX);
    /* python-docs-samples cdn/snippets_test.py test_sign_cookie */
    ASSERT_REASON(mg_fx_check_cookie(p, "/foo/bar.mp4", GC_COOKIE_FOO, 1549751000, NULL, &c),
                  MG_R_ALLOWED);
    ck_assert_str_eq(c.from, "cookie");
    ck_assert_str_eq(c.format, "gcp-cdn");
    ck_assert_str_eq(c.kid, "gcg");
    ck_assert_str_eq(c.scope, "/foo/");
    ck_assert_int_eq(apr_time_sec(c.expires), 1549751401);
    ASSERT_REASON(mg_fx_check_cookie(p, "/foo/bar.mp4", GC_COOKIE_FOO, 1549752000, NULL, &c),
                  MG_R_TOKEN_EXPIRED);
    /* with other cookies around it, quoted, or among several of its name */
    ASSERT_REASON(
        mg_fx_check_cookie(p, "/foo/bar.mp4", "a=1; " GC_COOKIE_FOO "; b=2", 1549751000, NULL, &c),
        MG_R_ALLOWED);
    ASSERT_REASON(
        mg_fx_check_cookie(
            p, "/foo/bar.mp4",
            "Cloud-CDN-Cookie=URLPrefix=AAAA:Expires=1:KeyName=x:Signature=y; " GC_COOKIE_FOO,
            1549751000, NULL, &c),
        MG_R_ALLOWED);
    /* out of the prefix, raw or canonically */
    ASSERT_REASON(mg_fx_check_cookie(p, "/bar/x.mp4", GC_COOKIE_FOO, 1549751000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    ASSERT_REASON(mg_fx_check_cookie(p, "/foo/../secret", GC_COOKIE_FOO, 1549751000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    /* the sign side: mgctl sign --token-format gcp-cdn --cookie --prefix /foo/ */
    const mg_fkey_t *k = APR_ARRAY_IDX(p->keys, 3, mg_keyref_t).fkey;
    mg_fmt_claims_t fc = {.exp = 1549751401, .ip = NULL, .scope = "/foo/"};
    const char *out, *why;
    ck_assert_int_eq(k->fmt->sign_cookie(mg_test_pool, k, &fc, &out, &why), MG_OK);
    ck_assert_str_eq(out, GC_COOKIE_FOO);
    fc.scope = NULL;
    ck_assert_int_eq(k->fmt->sign_cookie(mg_test_pool, k, &fc, &out, &why), MG_EINVAL);
    /* the first sample: a prefix that is a file, on another origin */
    mg_policy_t *q =
        mg_fx_load_ok("version: 1\n"
                      "keys:\n"
                      "  - id: g\n"
                      "    format: gcp-cdn\n"
                      "    file: gc.key\n"
                      "    options: {origin: 'http://35.186.234.33', key_name: my-key}\n"
                      "rules:\n"
                      "  - {id: all, path: /, token: required}\n");
    const char *ip_cookie = "Cloud-CDN-Cookie=URLPrefix=aHR0cDovLzM1LjE4Ni4yMzQuMzMvaW5kZXguaHRtbA"
                            "==:Expires=1549751401:KeyName=my-key:Signature=uImwlOBCPs91mlCyG9vyy"
                            "ZRrNWU=";
    ASSERT_REASON(mg_fx_check_cookie(q, "/index.html", ip_cookie, 1549751000, NULL, &c),
                  MG_R_ALLOWED);
    ASSERT_REASON(mg_fx_check_cookie(q, "/other.html", ip_cookie, 1549751000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
    /* the same cookie under the www.example.com key is out of its origin */
    ASSERT_REASON(mg_fx_check_cookie(p, "/index.html", ip_cookie, 1549751000, NULL, &c),
                  MG_R_TOKEN_SCOPE);
}
END_TEST

START_TEST(test_gcp_cookie_refusals)
{
    mg_token_claims_t c;
    mg_policy_t *p = mg_fx_load_ok(P_MIX);
    static const char *const bad[][2] = {
        /* the URL form's '&' separators */
        {"Cloud-CDN-Cookie=URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v&Expires=1549751401&"
         "KeyName=my-key&Signature=Z9uYAu73YHioRScZDxnP-TnS274=",
         "token-malformed"},
        /* fields out of order */
        {"Cloud-CDN-Cookie=Expires=1549751401:URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v:"
         "KeyName=my-key:Signature=Z9uYAu73YHioRScZDxnP-TnS274=",
         "token-malformed"},
        /* unpadded signature */
        {"Cloud-CDN-Cookie=URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v:Expires=1549751401:"
         "KeyName=my-key:Signature=Z9uYAu73YHioRScZDxnP-TnS274",
         "token-malformed"},
        /* a later expiry */
        {"Cloud-CDN-Cookie=URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v:Expires=1549751402:"
         "KeyName=my-key:Signature=Z9uYAu73YHioRScZDxnP-TnS274=",
         "token-bad-signature"},
        /* a wider prefix: http://www.example.com/ */
        {"Cloud-CDN-Cookie=URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS8=:Expires=1549751401:"
         "KeyName=my-key:Signature=Z9uYAu73YHioRScZDxnP-TnS274=",
         "token-bad-signature"},
        /* no key of that name */
        {"Cloud-CDN-Cookie=URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v:Expires=1549751401:"
         "KeyName=other:Signature=Z9uYAu73YHioRScZDxnP-TnS274=",
         "token-unknown-key"},
        /* trailing bytes after the signature */
        {GC_COOKIE_FOO ":x", "token-malformed"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(
            strcmp(R(mg_fx_check_cookie(p, "/foo/a.mp4", bad[i][0], 1549751000, NULL, &c)),
                   bad[i][1]) == 0,
            "%s: %s", bad[i][0],
            R(mg_fx_check_cookie(p, "/foo/a.mp4", bad[i][0], 1549751000, NULL, &c)));
    /* a cookie of another name is not read */
    ASSERT_REASON(mg_fx_check_cookie(
                      p, "/foo/a.mp4",
                      "cloud-cdn-cookie=URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v:"
                      "Expires=1549751401:KeyName=my-key:Signature=Z9uYAu73YHioRScZDxnP-TnS274=",
                      1549751000, NULL, &c),
                  MG_R_TOKEN_MISSING);
}
END_TEST

START_TEST(test_akamai_cookie_query_first_and_several_cookie_formats)
{
    mg_token_claims_t c;
    mg_policy_t *p = mg_fx_load_ok(P_MIX);
    const char *akc = apr_pstrcat(
        mg_test_pool, "__token__=", ak_tok(K1, "SHA1", "exp=1893456000~acl=/v/*", NULL), NULL);
    ASSERT_REASON(mg_fx_check_cookie(p, "/v/a.mp4", akc, NOW, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.from, "cookie");
    ck_assert_str_eq(c.kid, "ak");
    ASSERT_REASON(mg_fx_check_cookie(p, "/w/a.mp4", akc, NOW, NULL, &c), MG_R_TOKEN_SCOPE);
    ck_assert_str_eq(c.from, "cookie");
    /* a cookie signed by mgctl sign --cookie (the sign_cookie hook) */
    const mg_fkey_t *k = APR_ARRAY_IDX(p->keys, 1, mg_keyref_t).fkey;
    mg_fmt_claims_t fc = {.exp = EXP, .ip = NULL, .scope = "/v/"};
    const char *out, *why;
    ck_assert_int_eq(k->fmt->sign_cookie(mg_test_pool, k, &fc, &out, &why), MG_OK);
    ck_assert_str_eq(out, akc);
    /* a query token is read first, whatever the cookies say */
    const char *bad_q = with_tok("/v/a.mp4", "exp=1893456000~acl=/v/*~hmac=00");
    ASSERT_REASON(mg_fx_check_cookie(p, bad_q, akc, NOW, NULL, &c), MG_R_TOKEN_BAD_SIG);
    ck_assert_str_eq(c.from, "query");
    /* a browser holding cookies of several formats: the one that verifies
     * wins, in any order, next to a native cookie for another path */
    mg_token_claims_t nc;
    memset(&nc, 0, sizeof(nc));
    nc.expires = apr_time_from_sec(EXP);
    nc.scope = "/w/";
    nc.access = MG_ACCESS_VIEW;
    const char *nv;
    ck_assert_int_eq(mg_token_sign_cookie(mg_test_pool, mg_keys_signing(p), &nc, &nv, &why), MG_OK);
    const char *jar =
        apr_pstrcat(mg_test_pool, "mg_token=", nv, "; ", GC_COOKIE_FOO, "; ", akc, NULL);
    ASSERT_REASON(mg_fx_check_cookie(p, "/v/a.mp4", jar, NOW, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "akamai-edgeauth");
    ASSERT_REASON(mg_fx_check_cookie(p, "/w/a.mp4", jar, NOW, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "mg-v1");
    ck_assert_str_eq(c.kid, "k2026");
    ASSERT_REASON(mg_fx_check_cookie(p, "/foo/a.mp4", jar, 1549751000, NULL, &c), MG_R_ALLOWED);
    ck_assert_str_eq(c.format, "gcp-cdn");
    /* none fits: the native cookie's reason comes first */
    ASSERT_REASON(mg_fx_check_cookie(p, "/x/a.mp4", jar, NOW, NULL, &c), MG_R_TOKEN_SCOPE);
    /* several __token__ cookies (nested paths): the first that verifies */
    const char *two = apr_pstrcat(mg_test_pool, "__token__=exp=1~hmac=00; ", akc, NULL);
    ASSERT_REASON(mg_fx_check_cookie(p, "/v/a.mp4", two, NOW, NULL, &c), MG_R_ALLOWED);
    /* a forged one alone: bad signature, from the cookie */
    const char *forged = apr_pstrcat(
        mg_test_pool, "__token__=", ak_tok(K2, "SHA1", "exp=1893456000~acl=/v/*", NULL), NULL);
    ASSERT_REASON(mg_fx_check_cookie(p, "/v/a.mp4", forged, NOW, NULL, &c), MG_R_TOKEN_BAD_SIG);
    ck_assert_str_eq(c.from, "cookie");
}
END_TEST

static Suite *fmt_akamai_suite(void)
{
    Suite *s = suite_create("fmt_akamai");
    TCase *tc = tcase_create("akamai");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_akamai_sdk_vectors_verify_and_are_reproduced);
    tcase_add_test(tc, test_akamai_every_signed_field_is_covered);
    tcase_add_test(tc, test_akamai_acl_wildcards_match_the_canonical_path_and_never_widen);
    tcase_add_test(tc, test_akamai_acl_covers_the_tr_segment_where_it_stands);
    tcase_add_test(tc, test_akamai_acl_grants_query_and_path_forms_of_a_rendition_alike);
    tcase_add_test(tc, test_akamai_signed_prefix_is_encoded_so_no_delimiter_ends_it);
    tcase_add_test(tc, test_akamai_malformed_tokens_are_token_malformed);
    tcase_add_test(tc, test_akamai_options_token_name_delimiters_and_load_refusals);
    tcase_add_test(tc, test_akamai_algorithm_comes_from_the_key_never_the_token);
    suite_add_tcase(s, tc);
    tc = tcase_create("adversarial");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_parameters_of_two_formats_at_once_are_malformed);
    tcase_add_test(tc, test_one_secret_under_two_formats_never_crosses_over);
    suite_add_tcase(s, tc);
    tc = tcase_create("cookies");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_add_test(tc, test_gcp_cookie_sample_vectors_verify_and_are_reproduced);
    tcase_add_test(tc, test_gcp_cookie_refusals);
    tcase_add_test(tc, test_akamai_cookie_query_first_and_several_cookie_formats);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(fmt_akamai_suite)
