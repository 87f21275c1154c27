/* test_token.c — signed links (token format v1): every test vector of
 * examples/signers/vectors.json through the C signer and the verifier, every
 * refusal reason, grace and skew, scopes, cookies, rotation, key files,
 * base64url strictness and expiry buckets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <yaml.h>

#include "mg_fmt.h"
#include "mg_keys.h"
#include "mg_test.h"
#include "mg_time.h"
#include "mg_token.h"
#include "mg_tz.h"

#define VECTORS MG_SRCDIR "/examples/signers/vectors.json"

static const char *const K_SHA256 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n";
static const char *const K_OTHER = "mg-hmac-sha256:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n";

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static mg_policy_t *policy_new(void)
{
    mg_policy_t *p = apr_pcalloc(mg_test_pool, sizeof(*p));
    p->pool = mg_test_pool;
    p->file = "test.yaml";
    p->tokens.skew = apr_time_from_sec(30);
    p->tokens.cookie_name = "mg_token";
    p->keys = apr_array_make(mg_test_pool, 2, sizeof(mg_keyref_t));
    return p;
}

static const mg_key_t *policy_add_key(mg_policy_t *p, const char *id, const char *text, int sign)
{
    mg_key_t *k = NULL;
    const char *why = NULL;
    mg_status_t st = mg_key_from_text(mg_test_pool, id, MG_ALG_NONE, text, strlen(text), &k, &why);
    ck_assert_msg(st == MG_OK, "key %s: %s", id, why);
    mg_keyref_t *r = apr_array_push(p->keys);
    memset(r, 0, sizeof(*r));
    r->id = id;
    r->alg = mg_alg_name(mg_key_alg(k));
    r->sign = sign;
    r->key = k;
    return k;
}

static apr_time_t t_of(const char *s)
{
    apr_time_t t;
    ck_assert_int_eq(mg_time_parse(s, &t), 0);
    return t;
}

/* Verify `url` ("/p?q" or absolute) as the module would. */
static mg_reason_t check(const mg_policy_t *p, const char *url, const char *now, const char *ip,
                         const char *cookie, mg_token_claims_t *c)
{
    mg_request_t req;
    memset(&req, 0, sizeof(req));
    const char *s = strstr(url, "://");
    if (url[0] != '/' && s != NULL)
        url = strchr(s + 3, '/');
    const char *q = strchr(url, '?');
    req.raw_path = q ? apr_pstrmemdup(mg_test_pool, url, (apr_size_t)(q - url)) : url;
    req.query = q ? q + 1 : NULL;
    req.client_ip = ip ? ip : "192.0.2.200";
    req.cookie = cookie;
    req.now = t_of(now);
    return mg_token_check(mg_test_pool, p, &req, c);
}

static const char *sign(const mg_key_t *k, const char *url, const mg_token_claims_t *c)
{
    const char *out = NULL, *why = NULL;
    mg_status_t st = mg_token_sign_url(mg_test_pool, k, url, c, &out, &why);
    ck_assert_msg(st == MG_OK, "signing %s: %s", url, why);
    return out;
}

static mg_token_claims_t claims_exp(const char *exp)
{
    mg_token_claims_t c;
    memset(&c, 0, sizeof(c));
    c.expires = t_of(exp);
    return c;
}

/* Replace the first occurrence of `from` by `to`. */
static const char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    ck_assert_msg(at != NULL, "'%s' not in '%s'", from, s);
    return apr_pstrcat(mg_test_pool, apr_pstrmemdup(mg_test_pool, s, (apr_size_t)(at - s)), to,
                       at + strlen(from), NULL);
}

#define ASSERT_REASON(got, want)                                                                   \
    ck_assert_msg((got) == (want), "reason %s, expected %s", mg_reason_name(got),                  \
                  mg_reason_name(want))

/* ------------------------------------------------------------------ */
/* vectors.json through libyaml (JSON is YAML)                          */
/* ------------------------------------------------------------------ */

static yaml_document_t doc;

static void doc_load(void)
{
    FILE *f = fopen(VECTORS, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", VECTORS);
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    ck_assert_msg(yaml_parser_load(&parser, &doc) == 1, "vectors.json does not parse");
    yaml_parser_delete(&parser);
    fclose(f);
}

static yaml_node_t *node_get(yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&doc, p->value);
    }
    return NULL;
}

static const char *str_get(yaml_node_t *map, const char *key)
{
    yaml_node_t *n = node_get(map, key);
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int seq_len(yaml_node_t *seq)
{
    ck_assert_ptr_nonnull(seq);
    return (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static yaml_node_t *seq_at(yaml_node_t *seq, int i)
{
    return yaml_document_get_node(&doc, seq->data.sequence.items.start[i]);
}

/* Claims of a vector. */
static mg_token_claims_t vector_claims(yaml_node_t *v)
{
    mg_token_claims_t c;
    memset(&c, 0, sizeof(c));
    c.expires = t_of(str_get(v, "expires"));
    if (str_get(v, "not_before"))
        c.not_before = t_of(str_get(v, "not_before"));
    c.ip = str_get(v, "ip");
    c.scope = str_get(v, "prefix");
    c.access = str_get(v, "access") && strcmp(str_get(v, "access"), "download") == 0
                   ? MG_ACCESS_DOWNLOAD
                   : MG_ACCESS_VIEW;
    c.id = str_get(v, "id");
    c.uses = str_get(v, "uses") ? atoi(str_get(v, "uses")) : 0;
    return c;
}

/* An address inside the vector's bound IP/CIDR. */
static const char *address_in(const char *ipspec)
{
    mg_cidr_t c;
    char buf[64];
    ck_assert_int_eq(mg_cidr_parse(ipspec, &c, NULL), 0);
    mg_ip_t ip = c.net;
    if ((c.net.family == 4 && c.bits < 32) || (c.net.family == 6 && c.bits < 128))
        ip.addr[c.net.family == 4 ? 3 : 15] |= 1;
    return apr_pstrdup(mg_test_pool, mg_ip_format(&ip, buf, sizeof(buf)));
}

START_TEST(test_every_vector_is_reproduced_by_the_c_signer)
{
    doc_load();
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *keys = node_get(root, "keys"), *vs = node_get(root, "vectors");
    ck_assert_int_ge(seq_len(vs), 12);
    for (int i = 0; i < seq_len(vs); i++) {
        yaml_node_t *v = seq_at(vs, i);
        const char *kid = str_get(v, "key");
        const char *text = str_get(node_get(keys, kid), "key");
        mg_key_t *k;
        const char *why = NULL, *out = NULL;
        ck_assert_int_eq(
            mg_key_from_text(mg_test_pool, kid, MG_ALG_NONE, text, strlen(text), &k, &why), MG_OK);
        mg_token_claims_t c = vector_claims(v);
        if (str_get(v, "cookie") != NULL) {
            ck_assert_int_eq(mg_token_sign_cookie(mg_test_pool, k, &c, &out, &why), MG_OK);
        } else {
            const char *sts = NULL;
            ck_assert_int_eq(
                mg_token_string_to_sign(mg_test_pool, k, str_get(v, "url"), &c, &sts, &why), MG_OK);
            ck_assert_msg(strcmp(sts, str_get(v, "string_to_sign")) == 0,
                          "vector '%s': string to sign\n%s\nexpected\n%s", str_get(v, "name"), sts,
                          str_get(v, "string_to_sign"));
            ck_assert_int_eq(mg_token_sign_url(mg_test_pool, k, str_get(v, "url"), &c, &out, &why),
                             MG_OK);
        }
        ck_assert_msg(strcmp(out, str_get(v, "expected")) == 0, "vector '%s': got %s",
                      str_get(v, "name"), out);
    }
    yaml_document_delete(&doc);
}
END_TEST

START_TEST(test_every_vector_verifies_with_verification_keys_only)
{
    doc_load();
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *keys = node_get(root, "keys"), *vs = node_get(root, "vectors");
    for (int i = 0; i < seq_len(vs); i++) {
        yaml_node_t *v = seq_at(vs, i);
        const char *kid = str_get(v, "key");
        yaml_node_t *kn = node_get(keys, kid);
        /* Ed25519: the web server holds only the public key */
        const char *text = str_get(kn, "public") ? str_get(kn, "public") : str_get(kn, "key");
        mg_policy_t *p = policy_new();
        const mg_key_t *k = policy_add_key(p, kid, text, 0);
        if (str_get(kn, "public"))
            ck_assert(!mg_key_can_sign(k));
        const char *ip = str_get(v, "ip") ? address_in(str_get(v, "ip")) : NULL;
        mg_token_claims_t c;
        mg_reason_t r;
        if (str_get(v, "cookie") != NULL) {
            const char *url =
                apr_pstrcat(mg_test_pool, mg_token_encode(mg_test_pool, str_get(v, "prefix")),
                            "720p/seg-00001.ts", NULL);
            const char *cookie =
                apr_pstrcat(mg_test_pool, "theme=dark; mg_token=", str_get(v, "expected"), NULL);
            r = check(p, url, "2026-06-01T00:00:00Z", ip, cookie, &c);
            ck_assert_str_eq(c.from, "cookie");
        } else {
            r = check(p, str_get(v, "expected"), "2026-06-01T00:00:00Z", ip, NULL, &c);
        }
        ck_assert_msg(r == MG_R_ALLOWED, "vector '%s': %s (%s)", str_get(v, "name"),
                      mg_reason_name(r), c.detail ? c.detail : "");
        ck_assert_str_eq(c.kid, kid);
        ck_assert_int_eq(apr_time_sec(c.expires), 1798761599);
        ck_assert_int_eq(c.access, vector_claims(v).access);
        if (vector_claims(v).id != NULL)
            ck_assert_str_eq(c.id, vector_claims(v).id);
        else
            ck_assert_ptr_null(c.id);
        ck_assert_int_eq(c.uses, vector_claims(v).uses);
        /* one flipped signature character breaks every vector */
        if (str_get(v, "cookie") == NULL) {
            const char *url = str_get(v, "expected");
            const char *sig = strstr(url, "mg_sig=") + 7;
            char *bad = apr_pstrdup(mg_test_pool, url);
            bad[sig - url] = sig[0] == 'A' ? 'B' : 'A';
            r = check(p, bad, "2026-06-01T00:00:00Z", ip, NULL, &c);
            ASSERT_REASON(r, MG_R_TOKEN_BAD_SIG);
        }
    }
    yaml_document_delete(&doc);
}
END_TEST

START_TEST(test_every_bucket_vector_expires_at_the_end_of_its_period)
{
    doc_load();
    yaml_node_t *bs = node_get(yaml_document_get_root_node(&doc), "buckets");
    ck_assert_int_ge(seq_len(bs), 5);
    for (int i = 0; i < seq_len(bs); i++) {
        yaml_node_t *b = seq_at(bs, i);
        const mg_tz_t *tz;
        const char *why;
        apr_time_t exp;
        char buf[32];
        ck_assert_int_eq(mg_tz_load(mg_test_pool, str_get(b, "tz"), &tz, &why), 0);
        ck_assert_int_eq(
            mg_token_bucket_expiry(str_get(b, "bucket"), tz, t_of(str_get(b, "now")), &exp), 0);
        ck_assert_str_eq(mg_time_format(exp, buf, sizeof(buf)), str_get(b, "expires"));
    }
    yaml_document_delete(&doc);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Refusals                                                             */
/* ------------------------------------------------------------------ */

static mg_policy_t *P;
static const mg_key_t *K;
static const char *URL; /* a valid token for /tr:w-500,oi-logo.png/photos/a.jpg?x=1 */
#define NOW "2026-06-01T00:00:00Z"

static void tok_setup(void)
{
    mg_test_setup();
    P = policy_new();
    K = policy_add_key(P, "k2026", K_SHA256, 1);
    policy_add_key(P, "other", K_OTHER, 0);
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z");
    URL = sign(K, "/tr:w-500,oi-logo.png/photos/a.jpg?x=1", &c);
}

START_TEST(test_valid_link_is_allowed_with_view_access)
{
    mg_token_claims_t c;
    ASSERT_REASON(check(P, URL, NOW, NULL, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_eq(c.access, MG_ACCESS_VIEW);
    ck_assert_str_eq(c.from, "query");
    ck_assert_int_eq(c.in_grace, 0);
}
END_TEST

START_TEST(test_other_spellings_of_the_same_url_verify)
{
    mg_token_claims_t c;
    /* encoded ':' and ',', reordered query, dot segment, duplicate slash */
    const char *u = replace(URL, "/tr:oi-logo.png,w-500/photos/a.jpg?x=1&",
                            "/tr%3Aoi-logo.png%2Cw-500/photos/./x/..//a.jpg?");
    u = apr_pstrcat(mg_test_pool, u, "&x=1", NULL);
    ASSERT_REASON(check(P, u, NOW, NULL, NULL, &c), MG_R_ALLOWED);
}
END_TEST

START_TEST(test_tampered_path_transformation_query_expiry_or_kid_breaks_the_signature)
{
    mg_token_claims_t c;
    ASSERT_REASON(check(P, replace(URL, "a.jpg", "b.jpg"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    /* removing the watermark overlay */
    ASSERT_REASON(check(P, replace(URL, "/tr:oi-logo.png,w-500", "/tr:w-500"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(P, replace(URL, "/tr:oi-logo.png,w-500", ""), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(P, replace(URL, "x=1", "x=2"), NOW, NULL, NULL, &c), MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(P, replace(URL, "x=1", "x=1&y=2"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(
        check(P, replace(URL, "mg_exp=1798761599", "mg_exp=1898761599"), NOW, NULL, NULL, &c),
        MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(P, replace(URL, "mg_kid=k2026", "mg_kid=other"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    /* adding a claim (download) the signer did not grant */
    ASSERT_REASON(check(P, replace(URL, "mg_exp", "mg_acc=download&mg_exp"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
    /* moving the transformation from the path to the query */
    ASSERT_REASON(check(P,
                        replace(URL, "/tr:oi-logo.png,w-500/photos/a.jpg?",
                                "/photos/a.jpg?tr=oi-logo.png,w-500&"),
                        NOW, NULL, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
}
END_TEST

START_TEST(test_unknown_key_id_is_reported_as_such)
{
    mg_token_claims_t c;
    ASSERT_REASON(check(P, replace(URL, "mg_kid=k2026", "mg_kid=k1999"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_UNKNOWN_KEY);
}
END_TEST

START_TEST(test_malformed_tokens_are_refused_as_malformed)
{
    mg_token_claims_t c;
    const char *sig = strstr(URL, "mg_sig=") + 7;
    /* not base64url */
    ASSERT_REASON(check(P, replace(URL, sig, "abc!def"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    /* padding */
    ASSERT_REASON(check(P, apr_pstrcat(mg_test_pool, URL, "=", NULL), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    /* duplicate parameters */
    ASSERT_REASON(
        check(P, apr_pstrcat(mg_test_pool, URL, "&mg_exp=1798761599", NULL), NOW, NULL, NULL, &c),
        MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(
        check(P, apr_pstrcat(mg_test_pool, URL, "&mg_sig=AAAA", NULL), NOW, NULL, NULL, &c),
        MG_R_TOKEN_MALFORMED);
    /* a parameter of a future format */
    ASSERT_REASON(check(P, apr_pstrcat(mg_test_pool, URL, "&mg_v=2", NULL), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    /* missing pieces and bad claim syntax */
    ASSERT_REASON(check(P, replace(URL, "mg_exp=1798761599&", ""), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(
        check(P, replace(URL, "mg_exp=1798761599", "mg_exp=01798761599"), NOW, NULL, NULL, &c),
        MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(check(P, replace(URL, "mg_exp", "mg_acc=all&mg_exp"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(check(P, replace(URL, "mg_exp", "mg_ip=300.1.1.1&mg_exp"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(check(P, replace(URL, "mg_exp", "mg_scope=/a/../b/&mg_exp"), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_MALFORMED);
}
END_TEST

START_TEST(test_each_token_parameter_name_is_known_and_near_misses_are_unknown)
{
    /* every v1 name is recognised (twice is "repeated"), and no name that
     * merely shares a first letter or a prefix with one is taken for it */
    static const char *const known[] = {"mg_acc", "mg_exp",   "mg_id",   "mg_ip", "mg_kid",
                                        "mg_nbf", "mg_scope", "mg_uses", "mg_sig"};
    static const char *const unknown[] = {
        "mg_",     "mg_a",   "mg_ac",   "mg_accx", "mg_e",      "mg_expx",  "mg_i",   "mg_ix",
        "mg_idx",  "mg_ipx", "mg_k",    "mg_ki",   "mg_n",      "mg_nb",    "mg_s",   "mg_si",
        "mg_sigx", "mg_sc",  "mg_scop", "mg_u",    "mg_use",    "mg_usesx", "mg_Exp", "mg_EXP",
        "mg_v",    "mg_x",   "mg_zzz",  "mg_sig2", "mg_scopes", "mg_id_",   "mg_kidd"};
    mg_token_claims_t c;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const char *u = apr_psprintf(mg_test_pool, "%s&%s=1&%s=1", URL, known[i], known[i]);
        ASSERT_REASON(check(P, u, NOW, NULL, NULL, &c), MG_R_TOKEN_MALFORMED);
        ck_assert_msg(strcmp(c.detail, "repeated token parameter") == 0, "%s: %s", known[i],
                      c.detail);
    }
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        const char *u = apr_psprintf(mg_test_pool, "%s&%s=1", URL, unknown[i]);
        ASSERT_REASON(check(P, u, NOW, NULL, NULL, &c), MG_R_TOKEN_MALFORMED);
        ck_assert_msg(strcmp(c.detail, "unknown token parameter (not format v1)") == 0, "%s: %s",
                      unknown[i], c.detail);
    }
    /* "mg" without the underscore is an ordinary, signed parameter */
    ASSERT_REASON(check(P, apr_pstrcat(mg_test_pool, URL, "&mgexp=1", NULL), NOW, NULL, NULL, &c),
                  MG_R_TOKEN_BAD_SIG);
}
END_TEST

/* token_slot picks a name by its fourth byte and confirms the rest byte by
 * byte: every truncation of every v1 name, every byte appended, and every
 * byte value at every position, sent twice, against strcmp over the nine
 * names: a v1 name is "repeated", another "mg_" name "unknown", anything
 * else an ordinary parameter (covered by the signature, so a bad one). */
START_TEST(test_token_parameter_names_agree_with_strcmp_on_every_one_byte_change)
{
    static const char *const known[] = {"mg_acc", "mg_exp",   "mg_id",   "mg_ip", "mg_kid",
                                        "mg_nbf", "mg_scope", "mg_uses", "mg_sig"};
    const size_t nk = sizeof(known) / sizeof(known[0]);
    long checked = 0, refused_by_parser = 0;
    for (size_t k = 0; k < nk; k++) {
        size_t n = strlen(known[k]);
        for (int mode = 0; mode < 2; mode++) {
            /* mode 0: truncated to len and one byte appended; 1: byte at pos */
            for (size_t at = 0; at <= n; at++) {
                if (mode == 1 && at == n)
                    break;
                for (int b = 1; b < 256; b++) {
                    char name[16];
                    size_t len = mode == 0 ? at + 1 : n;
                    memcpy(name, known[k], mode == 0 ? at : n);
                    name[at] = (char)b;
                    name[len] = '\0';
                    char enc[64], *w = enc;
                    for (size_t i = 0; i < len; i++)
                        w += sprintf(w, "%%%02X", (unsigned char)name[i]);
                    const char *q = strchr(URL, '?') + 1;
                    const char *query = apr_psprintf(mg_test_pool, "%s&%s=1&%s=1", q, enc, enc);
                    /* the canonicaliser refuses some names before any
                     * token parameter is looked at (a name some servers
                     * read as a token one): not this function's answer */
                    mg_canon_t cn;
                    const mg_fmt_path_t *ptok;
                    const char *why;
                    if (mg_fmt_canon(mg_test_pool, P, "/photos/a.jpg", query, &cn, &ptok, &why) !=
                        0) {
                        refused_by_parser++;
                        continue;
                    }
                    int is_known = 0;
                    for (size_t j = 0; j < nk; j++)
                        is_known |= strcmp(name, known[j]) == 0;
                    mg_token_claims_t c;
                    const char *u = apr_pstrcat(mg_test_pool, "/tr:w-500,oi-logo.png/photos/a.jpg?",
                                                query, NULL);
                    mg_reason_t r = check(P, u, NOW, NULL, NULL, &c);
                    if (is_known) {
                        ASSERT_REASON(r, MG_R_TOKEN_MALFORMED);
                        ck_assert_msg(strcmp(c.detail, "repeated token parameter") == 0, "%s: %s",
                                      enc, c.detail);
                    } else if (strncmp(name, "mg_", 3) == 0) {
                        ASSERT_REASON(r, MG_R_TOKEN_MALFORMED);
                        ck_assert_msg(strcmp(c.detail, "unknown token parameter (not format v1)") ==
                                          0,
                                      "%s: %s", enc, c.detail);
                    } else {
                        ck_assert_msg(r != MG_R_ALLOWED, "%s allowed", enc);
                        ck_assert_msg(c.detail == NULL ||
                                          (strcmp(c.detail, "unknown token parameter (not "
                                                            "format v1)") != 0 &&
                                           strcmp(c.detail, "repeated token parameter") != 0),
                                      "%s: %s", enc, c.detail);
                    }
                    checked++;
                }
            }
        }
    }
    /* controls, non-ASCII bytes and the like are the canonicaliser's to
     * refuse (about 60 %); the rest are compared */
    ck_assert_int_gt(checked, 10000);
    ck_assert_int_lt(refused_by_parser, 2 * checked);
}
END_TEST

/* The verifier copies mg_exp, mg_nbf and mg_kid into the string to sign as
 * they are (8-16 bytes with two overlapping moves), the signer encodes them:
 * every key id length from 1 to MG_KEY_ID_MAX and every expiry length from
 * 1 to 12 digits (with a not-before one digit shorter) must verify, and a
 * change of the last byte of the id must not. */
START_TEST(test_claims_copied_as_they_are_verify_at_every_length)
{
    for (int n = 1; n <= MG_KEY_ID_MAX; n++) {
        mg_policy_t *p = policy_new();
        char id[MG_KEY_ID_MAX + 1];
        for (int i = 0; i < n; i++)
            id[i] = "abcdefghijklmnopqrstuvwxyz0123456789-_."[i % 39];
        id[n] = '\0';
        const mg_key_t *k = policy_add_key(p, apr_pstrdup(mg_test_pool, id), K_SHA256, 1);
        char other[MG_KEY_ID_MAX + 1];
        memcpy(other, id, (size_t)n + 1);
        other[n - 1] = other[n - 1] == 'Z' ? 'Y' : 'Z';
        policy_add_key(p, apr_pstrdup(mg_test_pool, other), K_SHA256, 0);
        for (int digits = 1; digits <= 12; digits++) {
            int64_t exp = 1;
            for (int i = 1; i < digits; i++)
                exp = exp * 10 + (i % 10);
            mg_token_claims_t c;
            memset(&c, 0, sizeof(c));
            c.expires = apr_time_from_sec(exp);
            if (digits > 1)
                c.not_before = apr_time_from_sec(exp / 10);
            const char *url = sign(k, "/photos/a.jpg", &c);
            mg_request_t req;
            memset(&req, 0, sizeof(req));
            const char *q = strchr(url, '?');
            req.raw_path = apr_pstrmemdup(mg_test_pool, url, (apr_size_t)(q - url));
            req.query = q + 1;
            req.client_ip = "192.0.2.1";
            req.now = apr_time_from_sec(exp > 2 ? exp - 1 : exp);
            mg_token_claims_t got;
            mg_reason_t r = mg_token_check(mg_test_pool, p, &req, &got);
            ck_assert_msg(r == MG_R_ALLOWED, "kid %d bytes, exp %d digits: %s", n, digits,
                          got.detail);
            ck_assert_int_eq(got.expires, apr_time_from_sec(exp));
            ck_assert_int_eq(got.not_before, digits > 1 ? apr_time_from_sec(exp / 10) : 0);
            /* the same link under the other key id (one byte apart, the
             * same secret): the id is signed, so the signature breaks */
            req.query = replace(q + 1, apr_pstrcat(mg_test_pool, "mg_kid=", id, NULL),
                                apr_pstrcat(mg_test_pool, "mg_kid=", other, NULL));
            ASSERT_REASON(mg_token_check(mg_test_pool, p, &req, &got), MG_R_TOKEN_BAD_SIG);
        }
    }
}
END_TEST

/* mg_exp as the verifier read it before it took eight digits at a time:
 * 1-12 digits, no leading zero, one digit after another. */
static int epoch_reference(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 12 || (s[0] == '0' && n > 1))
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Every byte value at every position of expiries of 1 to 13 characters,
 * sent percent-encoded so that the decoded claim holds the byte itself:
 * what the reference reads as epoch seconds (and not 0) must be minted
 * with exactly that spelling and verify with that expiry; anything else
 * must be refused as malformed, and for every printable byte by the
 * verifier's own "mg_exp is not epoch seconds" (the canonicaliser refuses
 * the others first). 23,296 expiries. */
START_TEST(test_mg_exp_agrees_with_a_digit_loop_for_every_byte_at_every_position)
{
    static const char digits[] = "9876543210987";
    apr_pool_t *sub = NULL;
    ck_assert_int_eq(apr_pool_create(&sub, mg_test_pool), APR_SUCCESS);
    /* a valid link whose mg_exp is replaced below */
    const char *base = strchr(URL, '?');
    ck_assert_ptr_nonnull(base);
    const char *exp_at = strstr(base, "mg_exp=");
    ck_assert_ptr_nonnull(exp_at);
    size_t exp_end = strcspn(exp_at, "&");
    long bad = 0, minted = 0, refused = 0, by_verifier = 0;
    char first[160] = "";
    for (size_t len = 1; len <= 13; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (int b = 0; b < 256; b++) {
                apr_pool_clear(sub);
                char val[16];
                memcpy(val, digits, len);
                val[pos] = (char)b;
                int64_t want = 0;
                int ok = epoch_reference(val, len, &want) == 0 && want != 0;
                mg_request_t req;
                memset(&req, 0, sizeof(req));
                req.client_ip = "192.0.2.1";
                mg_token_claims_t got;
                mg_reason_t r;
                if (ok) {
                    mg_token_claims_t c;
                    memset(&c, 0, sizeof(c));
                    c.expires = apr_time_from_sec(want);
                    const char *url = NULL, *why = NULL;
                    if (mg_token_sign_url(sub, K, "/photos/a.jpg", &c, &url, &why) != MG_OK) {
                        if (bad++ == 0)
                            snprintf(first, sizeof(first), "%zu/%zu/%d not minted: %s", len, pos, b,
                                     why);
                        continue;
                    }
                    const char *q = strchr(url, '?');
                    char spelled[32];
                    snprintf(spelled, sizeof(spelled), "mg_exp=%.*s&", (int)len, val);
                    req.raw_path = apr_pstrmemdup(sub, url, (apr_size_t)(q - url));
                    req.query = q + 1;
                    req.now = apr_time_from_sec(want > 1 ? want - 1 : want);
                    r = mg_token_check(sub, P, &req, &got);
                    minted++;
                    if ((strstr(q, spelled) == NULL || r != MG_R_ALLOWED ||
                         got.expires != apr_time_from_sec(want)) &&
                        bad++ == 0)
                        snprintf(first, sizeof(first), "%zu/%zu/%d: %s", len, pos, b,
                                 got.detail ? got.detail : mg_reason_name(r));
                } else {
                    char enc[3 * 16 + 1];
                    for (size_t i = 0; i < len; i++)
                        snprintf(enc + 3 * i, 4, "%%%02X", (unsigned char)val[i]);
                    const char *query = apr_pstrcat(
                        sub, apr_pstrmemdup(sub, base + 1, (apr_size_t)(exp_at - base - 1)),
                        "mg_exp=", enc, exp_at + exp_end, NULL);
                    req.raw_path = apr_pstrmemdup(sub, URL, (apr_size_t)(base - URL));
                    req.query = query;
                    req.now = t_of(NOW);
                    r = mg_token_check(sub, P, &req, &got);
                    refused++;
                    /* bytes the canonicaliser refuses (controls, NUL, DEL,
                     * bytes >= 0x80 that are no UTF-8) never reach the
                     * claim: bad-url, as the module answers them; every
                     * printable one must reach it */
                    int reaches = b >= 0x20 && b < 0x7f;
                    int by_parser = r == MG_R_TOKEN_MALFORMED && got.detail != NULL &&
                                    strcmp(got.detail, "mg_exp is not epoch seconds") == 0;
                    by_verifier += by_parser;
                    if ((reaches ? !by_parser : r != MG_R_BAD_URL) && bad++ == 0)
                        snprintf(first, sizeof(first), "%zu/%zu/%d: %s, %s", len, pos, b,
                                 mg_reason_name(r), got.detail ? got.detail : "-");
                }
            }
        }
    }
    apr_pool_destroy(sub);
    ck_assert_msg(bad == 0, "%ld differ, first: %s", bad, first);
    ck_assert_int_eq(minted + refused, 23296);
    ck_assert_int_eq(minted, 768); /* 9 + 10 (len - 1) for each length 1-12 */
    ck_assert_int_gt(by_verifier, 7000);
}
END_TEST

/* The key lookup compares ids of 8-16 bytes as two overlapping words:
 * with keys whose ids are the first 1, 2, ..., MG_KEY_ID_MAX characters of
 * one string, every id finds its own key, and the id with any one byte
 * changed (to a byte no id has) or cut or extended by one finds the key it
 * then names or none. */
START_TEST(test_key_lookup_finds_each_id_and_no_id_one_byte_apart)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    mg_policy_t *p = policy_new();
    char all[MG_KEY_ID_MAX + 2];
    for (int i = 0; i <= MG_KEY_ID_MAX; i++)
        all[i] = chars[i % (sizeof(chars) - 1)];
    all[MG_KEY_ID_MAX + 1] = '\0';
    for (int n = 1; n <= MG_KEY_ID_MAX; n++)
        policy_add_key(p, apr_pstrndup(mg_test_pool, all, (apr_size_t)n), K_SHA256, 0);
    const mg_keyref_t *refs = (const mg_keyref_t *)p->keys->elts;
    long bad = 0;
    char first[160] = "";
    for (int n = 1; n <= MG_KEY_ID_MAX; n++) {
        char id[MG_KEY_ID_MAX + 2];
        memcpy(id, all, sizeof(id));
        const mg_keyref_t *r = mg_keys_find_ref(p, id, (size_t)n);
        if (r != &refs[n - 1] && bad++ == 0)
            snprintf(first, sizeof(first), "id of %d bytes not found", n);
        /* one byte more names the next key; past the longest, none */
        r = mg_keys_find_ref(p, id, (size_t)n + 1);
        if (r != (n < MG_KEY_ID_MAX ? &refs[n] : NULL) && bad++ == 0)
            snprintf(first, sizeof(first), "id of %d + 1 bytes", n);
        for (int pos = 0; pos < n; pos++) {
            id[pos] = '!';
            r = mg_keys_find_ref(p, id, (size_t)n);
            if (r != NULL && bad++ == 0)
                snprintf(first, sizeof(first), "id of %d bytes with '!' at %d found key '%s'", n,
                         pos, r->id);
            id[pos] = all[pos];
        }
    }
    ck_assert_msg(bad == 0, "%ld wrong, first: %s", bad, first);
}
END_TEST

START_TEST(test_string_to_sign_holds_paths_scopes_and_claims_encoded_three_bytes_per_byte)
{
    /* The string to sign is written into one buffer sized for the worst
     * case: here every byte of the path, the scope and the scope claim
     * becomes %XX. Expected strings are built with mg_token_encode. */
    enum { N = 300 };
    char *raw = apr_palloc(mg_test_pool, 6 * N + 32), *dec = apr_palloc(mg_test_pool, 2 * N + 8);
    char *r = raw, *d = dec;
    *r++ = *d++ = '/';
    for (int i = 0; i < N; i++) {
        memcpy(r, "%C3%A9", 6); /* U+00E9 */
        r += 6;
        memcpy(d, "\xc3\xa9", 2);
        d += 2;
    }
    *d++ = '/';
    *d = '\0';
    strcpy(r, "/a%20b.jpg");
    const char *enc_dir = mg_token_encode(mg_test_pool, dec);
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z");
    const char *sts = NULL, *why = NULL;

    const char *url = apr_pstrcat(mg_test_pool, raw, "?q=%C3%A9", NULL);
    ck_assert_int_eq(mg_token_string_to_sign(mg_test_pool, K, url, &c, &sts, &why), MG_OK);
    ck_assert_str_eq(sts,
                     apr_pstrcat(mg_test_pool, "mg-token-v1\n", enc_dir, "a%20b.jpg\n\nq=%C3%A9\n",
                                 "mg_exp=1798761599&mg_kid=k2026", NULL));
    mg_token_claims_t v;
    ASSERT_REASON(check(P, sign(K, url, &c), NOW, NULL, NULL, &v), MG_R_ALLOWED);

    c.scope = dec;
    ck_assert_int_eq(mg_token_string_to_sign(mg_test_pool, K, url, &c, &sts, &why), MG_OK);
    ck_assert_str_eq(sts, apr_pstrcat(mg_test_pool, "mg-token-v1\n", enc_dir, "\n\n\n",
                                      "mg_exp=1798761599&mg_kid=k2026&mg_scope=", enc_dir, NULL));
    ASSERT_REASON(check(P, sign(K, url, &c), NOW, NULL, NULL, &v), MG_R_ALLOWED);
    ck_assert_str_eq(v.scope, dec);
}
END_TEST

START_TEST(test_non_canonical_base64_spelling_of_a_valid_signature_is_refused)
{
    /* 32-byte HMAC: 43 characters, the last carries 2 unused bits. Setting
     * them gives another spelling of the same bytes in lenient decoders. */
    mg_token_claims_t c;
    const char *sig = strstr(URL, "mg_sig=") + 7;
    ck_assert_int_eq(strlen(sig), 43);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alphabet, sig[42]) - alphabet);
    char *bad = apr_pstrdup(mg_test_pool, URL);
    bad[strlen(bad) - 1] = alphabet[v | 1];
    ASSERT_REASON(check(P, bad, NOW, NULL, NULL, &c), MG_R_TOKEN_MALFORMED);
}
END_TEST

/* Red team: mg_exp=0 is not "never" (that is the foreign formats' absent
 * expiry): the spec reads it as expired, and a one-time link with it kept
 * its use for one second. The signer made it from an expiry under 1s. */
START_TEST(test_mg_exp_zero_is_refused_and_never_minted)
{
    mg_token_claims_t c;
    memset(&c, 0, sizeof(c));
    c.expires = 1; /* one microsecond after the epoch */
    const char *out = NULL, *why = NULL;
    ck_assert_int_ne(mg_token_sign_url(mg_test_pool, K, "/photos/a.jpg", &c, &out, &why), MG_OK);
    /* the same token spelled by another signer: a valid signature over mg_exp=0 */
    mg_token_claims_t one = claims_exp("1970-01-01T00:00:01Z");
    const char *u = sign(K, "/photos/a.jpg", &one), *sts = NULL;
    ck_assert_int_eq(mg_token_string_to_sign(mg_test_pool, K, "/photos/a.jpg", &one, &sts, &why),
                     MG_OK);
    sts = replace(sts, "mg_exp=1", "mg_exp=0");
    unsigned char sig[MG_SIG_MAX];
    size_t sn = 0;
    char b64[128];
    ck_assert_int_eq(mg_key_sign(K, (const unsigned char *)sts, strlen(sts), sig, &sn), MG_OK);
    b64[mg_b64url_encode(sig, sn, b64)] = '\0';
    const char *z = replace(u, "mg_exp=1&", "mg_exp=0&");
    z = apr_pstrcat(mg_test_pool,
                    apr_pstrndup(mg_test_pool, z, (apr_size_t)(strstr(z, "mg_sig=") - z)),
                    "mg_sig=", b64, NULL);
    ASSERT_REASON(check(P, u, NOW, NULL, NULL, &c), MG_R_TOKEN_EXPIRED);
    ASSERT_REASON(check(P, z, NOW, NULL, NULL, &c), MG_R_TOKEN_MALFORMED);
}
END_TEST

START_TEST(test_missing_token_is_token_missing)
{
    mg_token_claims_t c;
    ASSERT_REASON(check(P, "/photos/a.jpg?x=1", NOW, NULL, NULL, &c), MG_R_TOKEN_MISSING);
    ASSERT_REASON(check(P, "/photos/a.jpg", NOW, NULL, "other=1", &c), MG_R_TOKEN_MISSING);
}
END_TEST

START_TEST(test_expired_link_within_grace_is_allowed_and_beyond_is_expired)
{
    mg_token_claims_t c;
    /* expires 23:59:59; skew 30s, grace 5m */
    P->tokens.grace = apr_time_from_sec(300);
    ASSERT_REASON(check(P, URL, "2026-12-31T23:59:59Z", NULL, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_eq(c.in_grace, 0);
    ASSERT_REASON(check(P, URL, "2027-01-01T00:05:29Z", NULL, NULL, &c), MG_R_ALLOWED);
    ck_assert_int_eq(c.in_grace, 1);
    ASSERT_REASON(check(P, URL, "2027-01-01T00:05:30Z", NULL, NULL, &c), MG_R_TOKEN_EXPIRED);
    P->tokens.grace = 0;
    ASSERT_REASON(check(P, URL, "2027-01-01T00:00:29Z", NULL, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(check(P, URL, "2027-01-01T00:00:30Z", NULL, NULL, &c), MG_R_TOKEN_EXPIRED);
}
END_TEST

START_TEST(test_not_yet_valid_link_is_refused_except_within_clock_skew)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z");
    c.not_before = t_of("2026-07-01T00:00:00Z");
    const char *u = sign(K, "/photos/a.jpg", &c);
    ASSERT_REASON(check(P, u, "2026-06-30T23:59:00Z", NULL, NULL, &c), MG_R_TOKEN_NOT_YET);
    /* the skew's first second is the edge: one second earlier is refused */
    ASSERT_REASON(check(P, u, "2026-06-30T23:59:29Z", NULL, NULL, &c), MG_R_TOKEN_NOT_YET);
    ASSERT_REASON(check(P, u, "2026-06-30T23:59:30Z", NULL, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(check(P, u, "2026-07-01T00:00:00Z", NULL, NULL, &c), MG_R_ALLOWED);
}
END_TEST

START_TEST(test_max_ttl_refuses_tokens_valid_for_too_long)
{
    mg_token_claims_t c;
    P->tokens.max_ttl = apr_time_from_sec(86400);
    ASSERT_REASON(check(P, URL, NOW, NULL, NULL, &c), MG_R_TOKEN_MALFORMED);
    ck_assert_ptr_nonnull(strstr(c.detail, "max_ttl"));
    ASSERT_REASON(check(P, URL, "2026-12-31T12:00:00Z", NULL, NULL, &c), MG_R_ALLOWED);
    /* expiry 2026-12-31T23:59:59Z, skew 30s: valid for max_ttl + skew at most, not a
     * second more */
    ASSERT_REASON(check(P, URL, "2026-12-30T23:59:29Z", NULL, NULL, &c), MG_R_ALLOWED);
    ASSERT_REASON(check(P, URL, "2026-12-30T23:59:28Z", NULL, NULL, &c), MG_R_TOKEN_MALFORMED);
}
END_TEST

START_TEST(test_ip_bound_link_works_only_from_that_address_or_block)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    c.ip = "203.0.113.7";
    const char *u = sign(K, "/photos/a.jpg", &c);
    ASSERT_REASON(check(P, u, NOW, "203.0.113.7", NULL, &out), MG_R_ALLOWED);
    ASSERT_REASON(check(P, u, NOW, "::ffff:203.0.113.7", NULL, &out), MG_R_ALLOWED);
    ASSERT_REASON(check(P, u, NOW, "203.0.113.8", NULL, &out), MG_R_TOKEN_WRONG_IP);
    ASSERT_REASON(check(P, u, NOW, "garbage", NULL, &out), MG_R_TOKEN_WRONG_IP);
    c.ip = "2001:db8::/32";
    u = sign(K, "/photos/a.jpg", &c);
    ASSERT_REASON(check(P, u, NOW, "2001:db8:ffff::1", NULL, &out), MG_R_ALLOWED);
    ASSERT_REASON(check(P, u, NOW, "2001:db9::1", NULL, &out), MG_R_TOKEN_WRONG_IP);
    ASSERT_REASON(check(P, u, NOW, "192.0.2.1", NULL, &out), MG_R_TOKEN_WRONG_IP);
}
END_TEST

START_TEST(test_prefix_token_covers_its_directory_segment_aware)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    c.scope = "/a/b/";
    const char *u = sign(K, "/a/b/index.m3u8", &c);
    const char *tok = strchr(u, '?');
    ASSERT_REASON(check(P, u, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    ck_assert_str_eq(out.scope, "/a/b/");
    ASSERT_REASON(
        check(P, apr_pstrcat(mg_test_pool, "/a/b/720p/seg-1.ts", tok, NULL), NOW, NULL, NULL, &out),
        MG_R_ALLOWED);
    /* other query parameters of segment URIs are not covered by a prefix token */
    ASSERT_REASON(check(P, apr_pstrcat(mg_test_pool, "/a/b/seg-2.ts", tok, "&cdn=7", NULL), NOW,
                        NULL, NULL, &out),
                  MG_R_ALLOWED);
    ASSERT_REASON(
        check(P, apr_pstrcat(mg_test_pool, "/a/bc/x.ts", tok, NULL), NOW, NULL, NULL, &out),
        MG_R_TOKEN_SCOPE);
    ASSERT_REASON(check(P, apr_pstrcat(mg_test_pool, "/a/x.ts", tok, NULL), NOW, NULL, NULL, &out),
                  MG_R_TOKEN_SCOPE);
    ASSERT_REASON(
        check(P, apr_pstrcat(mg_test_pool, "/a/b/../c/x.ts", tok, NULL), NOW, NULL, NULL, &out),
        MG_R_TOKEN_SCOPE);
    /* the transformation is still covered */
    ASSERT_REASON(
        check(P, apr_pstrcat(mg_test_pool, "/tr:w-10/a/b/x.jpg", tok, NULL), NOW, NULL, NULL, &out),
        MG_R_TOKEN_BAD_SIG);
    /* widening the scope breaks the signature */
    ASSERT_REASON(check(P, replace(u, "mg_scope=/a/b/", "mg_scope=/a/"), NOW, NULL, NULL, &out),
                  MG_R_TOKEN_BAD_SIG);
}
END_TEST

START_TEST(test_signing_refuses_bad_input)
{
    const char *out, *why;
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z");
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg?mg_exp=1", &c, &out, &why),
                     MG_EINVAL);
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg#frag", &c, &out, &why), MG_EINVAL);
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/../a.jpg", &c, &out, &why), MG_EINVAL);
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "a.jpg", &c, &out, &why), MG_EINVAL);
    static const char *const bad_urls[] = {"-:///",     "ftp://h/a.jpg", "https:///a.jpg",
                                           "https://h", "https://h?x=1", "//h/a.jpg"};
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++)
        ck_assert_msg(mg_token_sign_url(mg_test_pool, K, bad_urls[i], &c, &out, &why) == MG_EINVAL,
                      "%s was signed", bad_urls[i]);
    /* links the verifier would refuse are never minted: encoding expands the
     * query past MG_MAX_QUERY, or the token pushes it past MG_MAX_QPARAMS */
    char *wide = apr_palloc(mg_test_pool, 3000 + 16);
    memcpy(wide, "/a.jpg?x=", 9);
    memset(wide + 9, '(', 3000);
    wide[3009] = '\0';
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, wide, &c, &out, &why), MG_EINVAL);
    const char *many = "/a.jpg?p=0";
    for (int i = 1; i < MG_MAX_QPARAMS - 2; i++)
        many = apr_psprintf(mg_test_pool, "%s&p=%d", many, i);
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, many, &c, &out, &why), MG_EINVAL);
    many = apr_pstrndup(mg_test_pool, many, (apr_size_t)(strrchr(many, '&') - many));
    many = apr_pstrndup(mg_test_pool, many, (apr_size_t)(strrchr(many, '&') - many));
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, many, &c, &out, &why), MG_OK);
    mg_token_claims_t got;
    ASSERT_REASON(check(P, out, NOW, NULL, NULL, &got), MG_R_ALLOWED);
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "HTTPS://h:8443/a.jpg", &c, &out, &why),
                     MG_OK);
    ck_assert_str_eq(apr_pstrndup(mg_test_pool, out, 20), "HTTPS://h:8443/a.jpg");
    c.scope = "/a/b";
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a/b/c.ts", &c, &out, &why), MG_EINVAL);
    c.scope = "/a/b/";
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a/bc/c.ts", &c, &out, &why), MG_EINVAL);
    c.scope = NULL;
    c.ip = "192.0.2.1/24";
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg", &c, &out, &why), MG_EINVAL);
    c.ip = NULL;
    c.not_before = c.expires;
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg", &c, &out, &why), MG_EINVAL);
    c.not_before = 0;
    c.expires = 0;
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg", &c, &out, &why), MG_EINVAL);
}
END_TEST

START_TEST(test_cookie_token_is_accepted_only_under_its_scope)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    const char *value, *why;
    c.scope = "/videos/lesson1/";
    ck_assert_int_eq(mg_token_sign_cookie(mg_test_pool, K, &c, &value, &why), MG_OK);
    const char *cookie = apr_pstrcat(mg_test_pool, "a=1; mg_token=", value, "; b=2", NULL);
    ASSERT_REASON(check(P, "/videos/lesson1/720p/seg-9.ts", NOW, NULL, cookie, &out), MG_R_ALLOWED);
    ck_assert_str_eq(out.from, "cookie");
    ASSERT_REASON(check(P, "/videos/lesson2/seg-9.ts", NOW, NULL, cookie, &out), MG_R_TOKEN_SCOPE);
    /* a quoted cookie value is the same value */
    ASSERT_REASON(check(P, "/videos/lesson1/a.ts", NOW, NULL,
                        apr_pstrcat(mg_test_pool, "mg_token=\"", value, "\"", NULL), &out),
                  MG_R_ALLOWED);
    /* nested scopes: the browser sends both cookies; the valid one wins */
    c.scope = "/videos/";
    c.expires = t_of("2026-01-01T00:00:00Z");
    const char *old;
    ck_assert_int_eq(mg_token_sign_cookie(mg_test_pool, K, &c, &old, &why), MG_OK);
    const char *both = apr_pstrcat(mg_test_pool, "mg_token=", old, "; mg_token=", value, NULL);
    ASSERT_REASON(check(P, "/videos/lesson1/a.ts", NOW, NULL, both, &out), MG_R_ALLOWED);
    ASSERT_REASON(check(P, "/videos/lesson3/a.ts", NOW, NULL, both, &out), MG_R_TOKEN_EXPIRED);
    /* a cookie without a scope is not a cookie token */
    ASSERT_REASON(check(P, "/videos/lesson1/a.ts", NOW, NULL,
                        "mg_token=mg_exp=1798761599&mg_kid=k2026&mg_sig=AAAA", &out),
                  MG_R_TOKEN_MALFORMED);
    /* a query token takes precedence over the cookie */
    ASSERT_REASON(check(P, replace(URL, "x=1", "x=3"), NOW, NULL, cookie, &out),
                  MG_R_TOKEN_BAD_SIG);
}
END_TEST

START_TEST(test_download_claim_is_reported)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    c.access = MG_ACCESS_DOWNLOAD;
    const char *u = sign(K, "/photos/a.jpg?download=1", &c);
    ASSERT_REASON(check(P, u, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    ck_assert_int_eq(out.access, MG_ACCESS_DOWNLOAD);
}
END_TEST

START_TEST(test_id_and_uses_are_signed_claims_in_name_order)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    c.id = "t-1_A";
    c.uses = 3;
    const char *u = sign(K, "/photos/a.jpg", &c);
    ck_assert_ptr_nonnull(
        strstr(u, "?mg_exp=1798761599&mg_id=t-1_A&mg_kid=k2026&mg_uses=3&mg_sig="));
    ASSERT_REASON(check(P, u, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    ck_assert_str_eq(out.id, "t-1_A");
    ck_assert_int_eq(out.uses, 3);
    /* each is covered: changing or dropping one breaks the signature */
    ASSERT_REASON(check(P, replace(u, "mg_uses=3", "mg_uses=9"), NOW, NULL, NULL, &out),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(P, replace(u, "mg_id=t-1_A", "mg_id=t-1_B"), NOW, NULL, NULL, &out),
                  MG_R_TOKEN_BAD_SIG);
    ASSERT_REASON(check(P, replace(u, "&mg_uses=3", ""), NOW, NULL, NULL, &out),
                  MG_R_TOKEN_BAD_SIG);
    /* an id alone: revocable, no use limit */
    c.uses = 0;
    u = sign(K, "/photos/a.jpg", &c);
    ck_assert_ptr_null(strstr(u, "mg_uses"));
    ASSERT_REASON(check(P, u, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    ck_assert_int_eq(out.uses, 0);
    /* a link without them is byte-identical to a format v1 link of before */
    c.id = NULL;
    ck_assert_str_eq(sign(K, "/photos/a.jpg", &c),
                     "/photos/a.jpg?mg_exp=1798761599&mg_kid=k2026&mg_sig="
                     "FtUP1BhVK2iquiyvB7SITs0ex_aPP6ZEgWz-2nU6sqQ");
}
END_TEST

START_TEST(test_bad_id_or_uses_combinations_are_refused)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    const char *out_url = NULL, *why = NULL;
    /* signer: uses without id, uses out of range, bad ids */
    c.uses = 1;
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg", &c, &out_url, &why), MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "token id"));
    c.id = "ok";
    c.uses = MG_TOKEN_USES_MAX + 1;
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg", &c, &out_url, &why), MG_EINVAL);
    c.uses = -1;
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg", &c, &out_url, &why), MG_EINVAL);
    c.uses = 1;
    static const char *const bad_ids[] = {"",    "a.b", "a b",
                                          "a+b", "a=b", "0123456789abcdef0123456789abcdefX"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        c.id = bad_ids[i];
        ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg", &c, &out_url, &why),
                         MG_EINVAL);
    }
    c.id = "0123456789abcdef0123456789abcdef"; /* 32: the longest */
    ck_assert_int_eq(mg_token_sign_url(mg_test_pool, K, "/a.jpg", &c, &out_url, &why), MG_OK);

    /* verifier: syntax is checked before the signature */
    c.id = "x1";
    c.uses = 2;
    const char *u = sign(K, "/photos/a.jpg", &c);
    static const char *const from[] = {"mg_id=x1&", "mg_uses=2", "mg_uses=2", "mg_uses=2",
                                       "mg_uses=2", "mg_id=x1",  "mg_id=x1"};
    static const char *const to[] = {"",
                                     "mg_uses=0",
                                     "mg_uses=02",
                                     "mg_uses=101",
                                     "mg_uses=x",
                                     "mg_id=x%2E1",
                                     "mg_id=0123456789abcdef0123456789abcdefX"};
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
        ASSERT_REASON(check(P, replace(u, from[i], to[i]), NOW, NULL, NULL, &out),
                      MG_R_TOKEN_MALFORMED);
    ASSERT_REASON(check(P, apr_pstrcat(mg_test_pool, u, "&mg_uses=2", NULL), NOW, NULL, NULL, &out),
                  MG_R_TOKEN_MALFORMED);
}
END_TEST

START_TEST(test_revoked_ids_and_keys_are_token_revoked)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    c.id = "leaked";
    const char *leaked = sign(K, "/photos/a.jpg", &c);
    c.id = "fine";
    const char *fine = sign(K, "/photos/a.jpg", &c);
    c.id = NULL;
    const char *plain = sign(K, "/photos/a.jpg", &c);
    P->tokens.revoked_set = apr_hash_make(mg_test_pool);
    apr_hash_set(P->tokens.revoked_set, "leaked", APR_HASH_KEY_STRING, "leaked");
    ASSERT_REASON(check(P, leaked, NOW, NULL, NULL, &out), MG_R_TOKEN_REVOKED);
    ASSERT_REASON(check(P, fine, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    ASSERT_REASON(check(P, plain, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    /* a forged revoked id is a bad signature, not a revocation */
    ASSERT_REASON(check(P, replace(fine, "mg_id=fine", "mg_id=leaked"), NOW, NULL, NULL, &out),
                  MG_R_TOKEN_BAD_SIG);
    /* keys[].revoked: every link of that key, whatever its id */
    ((mg_keyref_t *)P->keys->elts)[0].revoked = 1;
    ASSERT_REASON(check(P, fine, NOW, NULL, NULL, &out), MG_R_TOKEN_REVOKED);
    ASSERT_REASON(check(P, plain, NOW, NULL, NULL, &out), MG_R_TOKEN_REVOKED);
    ck_assert_ptr_null(mg_keys_signing(P));
}
END_TEST

START_TEST(test_rotation_keeps_old_links_until_the_old_key_is_removed)
{
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    /* step 1: old key signs */
    mg_policy_t *p = policy_new();
    const mg_key_t *old = policy_add_key(p, "k2025", K_OTHER, 1);
    const char *old_link = sign(mg_keys_signing(p), "/photos/a.jpg", &c);
    ck_assert_ptr_eq(mg_keys_signing(p), old);
    /* step 2: new key added verify-only; step 3: new key signs */
    mg_policy_t *p2 = policy_new();
    policy_add_key(p2, "k2025", K_OTHER, 0);
    const mg_key_t *nk = policy_add_key(p2, "k2026", K_SHA256, 1);
    ck_assert_ptr_eq(mg_keys_signing(p2), nk);
    const char *new_link = sign(mg_keys_signing(p2), "/photos/a.jpg", &c);
    ck_assert_ptr_nonnull(strstr(new_link, "mg_kid=k2026"));
    ASSERT_REASON(check(p2, old_link, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    ASSERT_REASON(check(p2, new_link, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    /* step 4: old key removed: its links stop verifying */
    mg_policy_t *p3 = policy_new();
    policy_add_key(p3, "k2026", K_SHA256, 1);
    ASSERT_REASON(check(p3, old_link, NOW, NULL, NULL, &out), MG_R_TOKEN_UNKNOWN_KEY);
    ASSERT_REASON(check(p3, new_link, NOW, NULL, NULL, &out), MG_R_ALLOWED);
}
END_TEST

START_TEST(test_bucket_expiry_gives_byte_identical_links_within_a_period)
{
    const mg_tz_t *tz;
    const char *why;
    apr_time_t e1, e2, e3;
    ck_assert_int_eq(mg_tz_load(mg_test_pool, "Europe/Berlin", &tz, &why), 0);
    ck_assert_int_eq(mg_token_bucket_expiry("end-of-month", tz, t_of("2026-03-01T08:00:00Z"), &e1),
                     0);
    ck_assert_int_eq(mg_token_bucket_expiry("end-of-month", tz, t_of("2026-03-31T21:59:00Z"), &e2),
                     0);
    ck_assert_int_eq(mg_token_bucket_expiry("end-of-month", tz, t_of("2026-03-31T22:00:00Z"), &e3),
                     0);
    mg_token_claims_t c1 = claims_exp("2026-01-01T00:00:00Z"), c2 = c1, c3 = c1;
    c1.expires = e1;
    c2.expires = e2;
    c3.expires = e3;
    ck_assert_str_eq(sign(K, "/a.jpg", &c1), sign(K, "/a.jpg", &c2));
    ck_assert_str_ne(sign(K, "/a.jpg", &c1), sign(K, "/a.jpg", &c3));
    ck_assert_int_eq(mg_token_bucket_expiry("end-of-year", tz, e1, &e3), -1);
}
END_TEST

/* Where the clocks went back past midnight, the day that repeats ends at its
 * second midnight: America/Moncton left DST at Sun 2006-10-29 00:01 ADT,
 * back to Sat 23:01 AST; Antarctica/Casey went from +11 to +8 at Fri
 * 2010-03-05 02:00, back to Thu 23:00. A link minted in the repeat used to
 * get the first midnight, behind it: expired when made. */
START_TEST(test_bucket_in_a_day_repeated_past_midnight_ends_after_now)
{
    static const struct {
        const char *zone, *bucket, *now, *exp;
    } v[] = {
        {"America/Moncton", "end-of-day", "2006-10-29T03:01:01Z", "2006-10-29T03:59:59Z"},
        {"America/Moncton", "end-of-day", "2006-10-29T03:00:30Z", "2006-10-30T03:59:59Z"},
        {"America/Moncton", "end-of-day", "2006-10-29T02:30:00Z", "2006-10-29T02:59:59Z"},
        {"America/Moncton", "end-of-week", "2006-10-29T03:30:00Z", "2006-10-30T03:59:59Z"},
        {"Antarctica/Casey", "end-of-day", "2010-03-04T15:00:01Z", "2010-03-04T15:59:59Z"},
        /* and a next day that begins in a gap right after now: Beirut skips
         * 00:00-00:59 on 2022-03-27; at 23:59:59 the day ends now */
        {"Asia/Beirut", "end-of-day", "2022-03-26T21:59:59Z", "2022-03-26T21:59:59Z"},
        {"Asia/Beirut", "end-of-day", "2022-03-26T21:59:58Z", "2022-03-26T21:59:59Z"},
        {"Antarctica/Casey", "end-of-month", "2010-03-04T15:00:01Z", "2010-03-31T15:59:59Z"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const mg_tz_t *tz;
        const char *why;
        apr_time_t e;
        char buf[32];
        ck_assert_int_eq(mg_tz_load(mg_test_pool, v[i].zone, &tz, &why), 0);
        ck_assert_int_eq(mg_token_bucket_expiry(v[i].bucket, tz, t_of(v[i].now), &e), 0);
        ck_assert_msg(strcmp(mg_time_format(e, buf, sizeof(buf)), v[i].exp) == 0,
                      "%s %s at %s: %s, want %s", v[i].zone, v[i].bucket, v[i].now, buf, v[i].exp);
        ck_assert(e >= t_of(v[i].now));
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Ed25519, keys, base64url                                             */
/* ------------------------------------------------------------------ */

static const char *const ED_PRIV =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
static const char *const ED_PUB = "-----BEGIN PUBLIC KEY-----\n"
                                  "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
                                  "-----END PUBLIC KEY-----\n";

START_TEST(test_ed25519_verifies_repeatedly_and_cache_never_accepts_another_message)
{
    mg_policy_t *signer = policy_new(), *server = policy_new();
    const mg_key_t *priv = policy_add_key(signer, "ed1", ED_PRIV, 1);
    policy_add_key(server, "ed1", ED_PUB, 0);
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    c.scope = "/v/";
    const char *u = sign(priv, "/v/film.mp4", &c);
    for (int i = 0; i < 3; i++) /* Range requests: the later ones hit the cache */
        ASSERT_REASON(check(server, u, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    /* same signature on another claim set: the cache entry must not match */
    ASSERT_REASON(check(server, replace(u, "mg_scope=/v/", "mg_scope=/"), NOW, NULL, NULL, &out),
                  MG_R_TOKEN_BAD_SIG);
    /* a verified signature is still subject to expiry */
    ASSERT_REASON(check(server, u, "2027-02-01T00:00:00Z", NULL, NULL, &out), MG_R_TOKEN_EXPIRED);
    /* a public key cannot sign */
    const char *o, *why;
    ck_assert_int_eq(
        mg_token_sign_url(mg_test_pool, mg_keys_find(server, "ed1", 3), "/v/a.mp4", &c, &o, &why),
        MG_EINVAL);
}
END_TEST

/* A public key of small order (red team 23b): with the identity point, the
 * signature R = identity, S = 0 verified every link, any path, scope and
 * expiry. Each of the 8 small-order points, with either sign bit, and each
 * encoding whose y is not below p must be refused at load. */
static const char *ed_pub_pem(const unsigned char raw[32])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    BIO *bio = BIO_new(BIO_s_mem());
    ck_assert(pk != NULL && bio != NULL && PEM_write_bio_PUBKEY(bio, pk) == 1);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    const char *pem = apr_pstrmemdup(mg_test_pool, data, (apr_size_t)n);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return pem;
}

START_TEST(test_ed25519_public_keys_of_small_order_are_refused)
{
    static const char *const weak[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p: 0 */
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p + 1: 1 */
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* y >= p */
    };
    for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
        for (int sign = 0; sign < 2; sign++) {
            unsigned char raw[32];
            for (int j = 0; j < 32; j++)
                ck_assert_int_eq(sscanf(weak[i] + 2 * j, "%2hhx", &raw[j]), 1);
            raw[31] |= (unsigned char)(sign << 7);
            const char *pem = ed_pub_pem(raw);
            mg_key_t *k = NULL;
            const char *why = NULL;
            ck_assert_msg(mg_key_from_text(mg_test_pool, "ed", MG_ALG_NONE, pem, strlen(pem), &k,
                                           &why) == MG_EINVAL,
                          "%s (sign %d) was loaded", weak[i], sign);
            ck_assert_ptr_nonnull(strstr(why, "small order"));
        }
    }
    /* a real key still loads */
    mg_key_t *k = NULL;
    const char *why = NULL;
    ck_assert_int_eq(
        mg_key_from_text(mg_test_pool, "ed", MG_ALG_NONE, ED_PUB, strlen(ED_PUB), &k, &why), MG_OK);
}
END_TEST

/* Two policies of one server may each name a key ed1 (a second
 * MediaGuardPolicy, another key file): a signature verified, and so cached,
 * under one of them must never be accepted under the other. */
START_TEST(test_ed25519_cache_never_accepts_a_signature_under_another_key_of_the_same_id)
{
    mg_policy_t *signer = policy_new(), *server = policy_new(), *other = policy_new();
    const mg_key_t *priv = policy_add_key(signer, "ed1", ED_PRIV, 1);
    policy_add_key(server, "ed1", ED_PUB, 0);
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    unsigned char raw[32];
    size_t rn = sizeof(raw);
    ck_assert(pk != NULL && EVP_PKEY_get_raw_public_key(pk, raw, &rn) == 1 && rn == 32);
    EVP_PKEY_free(pk);
    policy_add_key(other, "ed1", ed_pub_pem(raw), 0);
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    const char *u = sign(priv, "/v/film.mp4", &c);
    ASSERT_REASON(check(server, u, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    ASSERT_REASON(check(other, u, NOW, NULL, NULL, &out), MG_R_TOKEN_BAD_SIG);
}
END_TEST

START_TEST(test_key_text_formats_are_checked)
{
    mg_key_t *k;
    const char *why;
#define KT(text, alg) mg_key_from_text(mg_test_pool, "k", alg, text, strlen(text), &k, &why)
    ck_assert_int_eq(KT(K_SHA256, MG_ALG_NONE), MG_OK);
    ck_assert_int_eq(mg_key_alg(k), MG_ALG_HMAC_SHA256);
    ck_assert_int_eq(KT(K_SHA256, MG_ALG_HMAC_SHA1), MG_EINVAL); /* mismatch */
    ck_assert_int_eq(KT("mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\n", MG_ALG_NONE),
                     MG_EINVAL); /* 30 bytes: short */
    ck_assert_int_eq(KT("mg-hmac-md5:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", MG_ALG_NONE),
                     MG_EINVAL);
    ck_assert_int_eq(
        KT("mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", MG_ALG_NONE),
        MG_EINVAL); /* padding */
    ck_assert_int_eq(
        KT("mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n\n", MG_ALG_NONE),
        MG_EINVAL); /* two newlines */
    ck_assert_int_eq(KT("secret", MG_ALG_NONE), MG_EINVAL);
    ck_assert_int_eq(KT(ED_PUB, MG_ALG_NONE), MG_OK);
    ck_assert_int_eq(mg_key_alg(k), MG_ALG_ED25519);
    ck_assert(!mg_key_can_sign(k));
    ck_assert_int_eq(KT(ED_PRIV, MG_ALG_HMAC_SHA256), MG_EINVAL);
    ck_assert_int_eq(
        KT("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", MG_ALG_NONE), MG_EINVAL);
    ck_assert_int_eq(
        mg_key_from_text(mg_test_pool, "bad id", MG_ALG_NONE, K_SHA256, strlen(K_SHA256), &k, &why),
        MG_EINVAL);
#undef KT
}
END_TEST

/* Removes the directory load_policy_text made, with its key files. */
static apr_status_t remove_key_dir(void *data)
{
    const char *dir = data;
    unlink(apr_pstrcat(mg_test_pool, dir, "/new.key", NULL));
    unlink(apr_pstrcat(mg_test_pool, dir, "/old.key", NULL));
    rmdir(dir);
    return APR_SUCCESS;
}

/* A policy text with `keys:` pointing at key files in a fresh directory. */
static mg_status_t load_policy_text(const char *yaml, mg_policy_t **p, mg_diags_t **ds)
{
    char *dir = apr_pstrdup(mg_test_pool, "/tmp/mg-test-revoke-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    apr_pool_cleanup_register(mg_test_pool, dir, remove_key_dir, apr_pool_cleanup_null);
    const char *names[] = {"/new.key", "/old.key"}, *texts[] = {K_SHA256, K_OTHER};
    for (int i = 0; i < 2; i++) {
        const char *path = apr_pstrcat(mg_test_pool, dir, names[i], NULL);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(texts[i], f);
        fclose(f);
        chmod(path, 0600);
    }
    *ds = mg_diags_make(mg_test_pool);
    return mg_policy_load_buffer(mg_test_pool, "r.yaml", dir, yaml, strlen(yaml), p, *ds);
}

START_TEST(test_policy_revocations_load_refuse_tokens_and_are_emitted)
{
    static const char yaml[] = "version: 1\n"
                               "keys:\n"
                               "  - {id: new, file: new.key, sign: true}\n"
                               "  - {id: old, file: old.key, revoked: true}\n"
                               "tokens:\n"
                               "  revoked_ids: [leaked-1, Xq3v9k2LmN0pR7sT1uWy8A, leaked-1]\n"
                               "rules:\n"
                               "  - {id: r, path: /photos/, token: required}\n";
    mg_policy_t *p = NULL;
    mg_diags_t *ds;
    ck_assert_int_eq(load_policy_text(yaml, &p, &ds), MG_OK);
    ck_assert_int_eq(p->tokens.revoked_ids->nelts, 2); /* the repeat is dropped */
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    const mg_key_t *nk = mg_keys_find(p, "new", 3), *ok = mg_keys_find(p, "old", 3);
    ck_assert_ptr_eq(mg_keys_signing(p), nk);
    const char *plain_old = sign(ok, "/photos/a.jpg", &c);
    c.id = "leaked-1";
    const char *leaked = sign(nk, "/photos/a.jpg", &c);
    c.id = "leaked-2";
    const char *other = sign(nk, "/photos/a.jpg", &c);
    ASSERT_REASON(check(p, plain_old, NOW, NULL, NULL, &out), MG_R_TOKEN_REVOKED);
    ASSERT_REASON(check(p, leaked, NOW, NULL, NULL, &out), MG_R_TOKEN_REVOKED);
    ASSERT_REASON(check(p, other, NOW, NULL, NULL, &out), MG_R_ALLOWED);
    const char *emitted = mg_policy_emit(mg_test_pool, p);
    ck_assert_ptr_nonnull(strstr(emitted, "    revoked: true\n"));
    ck_assert_ptr_nonnull(strstr(emitted, "  revoked_ids: [leaked-1, Xq3v9k2LmN0pR7sT1uWy8A]\n"));

    /* refused: a revoked signing key; an id that no token could carry */
    static const char *const bad[] = {
        "version: 1\nkeys:\n  - {id: old, file: old.key, sign: true, revoked: true}\nrules: []\n",
        "version: 1\nkeys:\n  - {id: new, file: new.key}\ntokens:\n  revoked_ids: [ok, "
        "not.base64]\nrules: []\n",
        "version: 1\nkeys:\n  - {id: new, file: new.key}\ntokens:\n  revoked_ids: "
        "[0123456789abcdef0123456789abcdefX]\nrules: []\n",
        "version: 1\nkeys:\n  - {id: new, file: new.key, revoked: maybe}\nrules: []\n",
    };
    static const int bad_line[] = {3, 5, 5, 3};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(load_policy_text(bad[i], &p, &ds), MG_EINVAL);
        ck_assert_int_ge(ds->errors, 1);
        const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, 0, mg_diag_t);
        ck_assert_msg(d->line == bad_line[i], "case %zu: %s", i, mg_diag_format(mg_test_pool, d));
    }
}
END_TEST

START_TEST(test_revocation_file_lines_are_ids_comments_or_blank)
{
    apr_hash_t *set = apr_hash_make(mg_test_pool);
    const char *why = NULL;
    static const char good[] =
        "# revoked 2026-03\nleak-1\r\n\n   spaced_2  \n\t# indented comment\nlast";
    ck_assert_int_eq(mg_token_revocations_parse(mg_test_pool, good, strlen(good), set, &why),
                     MG_OK);
    ck_assert_int_eq(apr_hash_count(set), 3);
    ck_assert_ptr_nonnull(apr_hash_get(set, "leak-1", APR_HASH_KEY_STRING));
    ck_assert_ptr_nonnull(apr_hash_get(set, "spaced_2", APR_HASH_KEY_STRING));
    ck_assert_ptr_nonnull(apr_hash_get(set, "last", APR_HASH_KEY_STRING));
    static const char bad[] = "ok-1\n\nnot an id\n";
    ck_assert_int_eq(mg_token_revocations_parse(mg_test_pool, bad, strlen(bad), set, &why),
                     MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "line 3"));
    ck_assert_int_eq(
        mg_token_revocations_load(mg_test_pool, "/nonexistent/revoked.txt", set, NULL, &why),
        MG_EIO);
}
END_TEST

START_TEST(test_policy_revocation_file_is_read_at_load)
{
    char dir[] = "/tmp/mg-test-revfile-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *path = apr_pstrcat(mg_test_pool, dir, "/revoked.txt", NULL);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("# ids\nfrom-file\n", f);
    fclose(f);
    const char *yaml = apr_psprintf(mg_test_pool,
                                    "version: 1\n"
                                    "keys:\n"
                                    "  - {id: new, file: new.key, sign: true}\n"
                                    "tokens:\n"
                                    "  revoked_ids: [from-list]\n"
                                    "  revocation_file: %s\n"
                                    "  revocation_refresh: 2s\n"
                                    "rules: []\n",
                                    path);
    mg_policy_t *p = NULL;
    mg_diags_t *ds;
    ck_assert_int_eq(load_policy_text(yaml, &p, &ds), MG_OK);
    ck_assert_str_eq(p->tokens.revocation_file, path);
    ck_assert_int_eq(p->tokens.revocation_refresh, apr_time_from_sec(2));
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
    const mg_key_t *k = mg_keys_signing(p);
    const char *ids[] = {"from-file", "from-list", "neither"};
    const mg_reason_t want[] = {MG_R_TOKEN_REVOKED, MG_R_TOKEN_REVOKED, MG_R_ALLOWED};
    for (int i = 0; i < 3; i++) {
        c.id = ids[i];
        ASSERT_REASON(check(p, sign(k, "/photos/a.jpg", &c), NOW, NULL, NULL, &out), want[i]);
    }
    ck_assert_ptr_nonnull(strstr(mg_policy_emit(mg_test_pool, p), "  revocation_file: "));
    /* a bad line or a missing file is an error at the policy's key */
    f = fopen(path, "w");
    fputs("ok\nbad id\n", f);
    fclose(f);
    ck_assert_int_eq(load_policy_text(yaml, &p, &ds), MG_EINVAL);
    const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, 0, mg_diag_t);
    ck_assert_int_eq(d->line, 6);
    ck_assert_ptr_nonnull(strstr(d->msg, "line 2"));
    unlink(path);
    ck_assert_int_eq(load_policy_text(yaml, &p, &ds), MG_EINVAL);
    rmdir(dir);
}
END_TEST

START_TEST(test_keys_load_reports_errors_and_warnings_at_the_keyref)
{
    char dir[] = "/tmp/mg-test-keys-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *good = apr_pstrcat(mg_test_pool, dir, "/good.key", NULL);
    const char *open_ = apr_pstrcat(mg_test_pool, dir, "/open.key", NULL);
    const char *bad = apr_pstrcat(mg_test_pool, dir, "/bad.key", NULL);
    const char *pub = apr_pstrcat(mg_test_pool, dir, "/ed.pub", NULL);
    const char *files[] = {good, open_, bad, pub};
    const char *texts[] = {K_SHA256, K_OTHER, "nonsense\n", ED_PUB};
    const int modes[] = {0600, 0644, 0600, 0644};
    for (int i = 0; i < 4; i++) {
        FILE *f = fopen(files[i], "w");
        ck_assert_ptr_nonnull(f);
        fputs(texts[i], f);
        fclose(f);
        chmod(files[i], (mode_t)modes[i]);
    }
    mg_policy_t *p = policy_new();
    struct {
        const char *id, *alg, *file;
        int sign, line;
    } refs[] = {
        {"good", "hmac-sha256", good, 1, 3}, {"open", NULL, open_, 0, 6},
        {"bad", "hmac-sha256", bad, 0, 9},   {"missing", "hmac-sha1", "/nonexistent/k", 0, 12},
        {"edpub", "ed25519", pub, 0, 15},    {"edsign", "ed25519", pub, 1, 18},
        {"weird", "rsa", good, 0, 21}};
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        mg_keyref_t *r = apr_array_push(p->keys);
        memset(r, 0, sizeof(*r));
        r->id = refs[i].id;
        r->alg = refs[i].alg;
        r->file = refs[i].file;
        r->sign = refs[i].sign;
        r->pos.line = refs[i].line;
        r->pos.col = 5;
    }
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    ck_assert_int_ne(mg_keys_load(p, ds), MG_OK);
    ck_assert_int_eq(ds->errors, 4);   /* bad, missing, edsign, weird */
    ck_assert_int_eq(ds->warnings, 1); /* open (the public key is fine) */
    const mg_diag_t *d = (const mg_diag_t *)ds->items->elts;
    int lines_err[32] = {0};
    for (int i = 0; i < ds->items->nelts; i++) {
        ck_assert_int_eq(d[i].col, 5);
        ck_assert_str_eq(d[i].file, "test.yaml");
        lines_err[d[i].line] = d[i].severity == MG_SEV_ERROR ? 1 : 2;
    }
    ck_assert_int_eq(lines_err[6], 2);
    ck_assert_int_eq(lines_err[9], 1);
    ck_assert_int_eq(lines_err[12], 1);
    ck_assert_int_eq(lines_err[18], 1);
    ck_assert_int_eq(lines_err[21], 1);
    ck_assert_ptr_nonnull(mg_keys_find(p, "good", 4));
    ck_assert_ptr_nonnull(mg_keys_find(p, "edpub", 5));
    ck_assert_ptr_null(mg_keys_find(p, "bad", 3));
    ck_assert_ptr_eq(mg_keys_signing(p), mg_keys_find(p, "good", 4));
    for (int i = 0; i < 4; i++)
        unlink(files[i]);
    rmdir(dir);
}
END_TEST

START_TEST(test_key_file_that_is_a_fifo_is_refused_without_blocking)
{
    char dir[] = "/tmp/mg-test-fifo-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *fifo = apr_pstrcat(mg_test_pool, dir, "/k.key", NULL);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    mg_key_t *k;
    int insecure;
    const char *why = NULL;
    /* check's per-test timeout fails this test if the open blocks */
    ck_assert_int_eq(mg_key_load_file(mg_test_pool, "k", MG_ALG_NONE, fifo, &k, &insecure, &why),
                     MG_EIO);
    ck_assert_ptr_nonnull(strstr(why, "not a regular file"));
    unlink(fifo);
    rmdir(dir);
}
END_TEST

START_TEST(test_pem_key_under_an_hmac_entry_says_to_write_alg_ed25519)
{
    mg_key_t *k;
    const char *why = NULL;
    ck_assert_int_eq(mg_key_from_text(mg_test_pool, "ed", MG_ALG_HMAC_SHA256, ED_PRIV,
                                      strlen(ED_PRIV), &k, &why),
                     MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "holds a PEM key but hmac-sha256 was asked for"));
    ck_assert_ptr_nonnull(strstr(why, "alg: ed25519"));
}
END_TEST

START_TEST(test_short_secret_message_names_the_sizes)
{
    mg_key_t *k;
    const char *why = NULL;
    static const unsigned char secret[30] = {1};
    ck_assert_int_eq(
        mg_key_from_secret(mg_test_pool, "k", MG_ALG_HMAC_SHA256, secret, sizeof(secret), &k, &why),
        MG_EINVAL);
    ck_assert_str_eq(why, "an hmac-sha256 secret must be 32 to 1024 bytes, this one has 30");
}
END_TEST

START_TEST(test_generated_keys_load_and_sign)
{
    mg_alg_t algs[] = {MG_ALG_HMAC_SHA256, MG_ALG_HMAC_SHA1, MG_ALG_ED25519};
    for (int i = 0; i < 3; i++) {
        const char *text, *pub, *why;
        mg_key_t *k, *kp;
        ck_assert_int_eq(mg_key_generate(mg_test_pool, algs[i], &text, &pub, &why), MG_OK);
        ck_assert_int_eq(mg_key_from_text(mg_test_pool, "g", algs[i], text, strlen(text), &k, &why),
                         MG_OK);
        mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z"), out;
        const char *u = sign(k, "/a.jpg", &c);
        mg_policy_t *p = policy_new();
        policy_add_key(p, "g", pub ? pub : text, 0);
        ASSERT_REASON(check(p, u, NOW, NULL, NULL, &out), MG_R_ALLOWED);
        if (pub) {
            ck_assert_int_eq(
                mg_key_from_text(mg_test_pool, "g", algs[i], pub, strlen(pub), &kp, &why), MG_OK);
            ck_assert(!mg_key_can_sign(kp));
        }
    }
}
END_TEST

/* Fingerprints computed independently (Python: SHA-256 over
 * "mg-key-fingerprint-v1\0" + alg name + "\0" + HMAC of
 * "mg-key-fingerprint-v1\n" under the secret, or the raw Ed25519 public
 * key): policies that pin a fingerprint keep loading across releases, and
 * the private and public files of one pair give the same one. */
START_TEST(test_key_fingerprint_is_the_documented_hash_of_the_loaded_key)
{
    static const char ed_priv[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n"
        "-----END PRIVATE KEY-----\n";
    static const char ed_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                                 "MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\n"
                                 "-----END PUBLIC KEY-----\n";
    static const char ed_fp[] =
        "sha256:d7687d44407452f21ee4c00433ae5e198cb20769d84d692457ef8796446115de";
    mg_key_t *k = NULL;
    const char *why = NULL, *fp = NULL;

    ck_assert_int_eq(
        mg_key_from_text(mg_test_pool, "h", MG_ALG_NONE, K_SHA256, strlen(K_SHA256), &k, &why),
        MG_OK);
    ck_assert_int_eq(mg_key_fingerprint(mg_test_pool, k, &fp, &why), MG_OK);
    ck_assert_str_eq(fp, "sha256:46450a7247cdadd53082e907ea44b773145d2c74830899c936a3392f1f8ec320");

    ck_assert_int_eq(
        mg_key_from_text(mg_test_pool, "e", MG_ALG_NONE, ed_priv, strlen(ed_priv), &k, &why),
        MG_OK);
    ck_assert_int_eq(mg_key_fingerprint(mg_test_pool, k, &fp, &why), MG_OK);
    ck_assert_str_eq(fp, ed_fp);
    ck_assert_int_eq(
        mg_key_from_text(mg_test_pool, "e", MG_ALG_NONE, ed_pub, strlen(ed_pub), &k, &why), MG_OK);
    ck_assert_int_eq(mg_key_fingerprint(mg_test_pool, k, &fp, &why), MG_OK);
    ck_assert_str_eq(fp, ed_fp);

    ck_assert_int_eq(mg_key_fingerprint(mg_test_pool, NULL, &fp, &why), MG_EINVAL);
    ck_assert_ptr_null(fp);
}
END_TEST

START_TEST(test_base64url_round_trips_and_decoding_is_strict)
{
    unsigned char in[40], out[40];
    char enc[64];
    for (size_t n = 0; n <= sizeof(in); n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(i * 37 + n);
        size_t el = mg_b64url_encode(in, n, enc);
        ck_assert_uint_eq(el, (n * 4 + 2) / 3);
        ck_assert_ptr_null(strpbrk(enc, "+/="));
        ck_assert_int_eq(mg_b64url_decode(enc, el, out, sizeof(out)), (long)n);
        ck_assert_int_eq(memcmp(in, out, n), 0);
    }
    ck_assert_int_eq(mg_b64url_decode("AA==", 4, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("A", 1, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("AB", 2, out, sizeof(out)), -1); /* unused bits set */
    ck_assert_int_eq(mg_b64url_decode("AAB", 3, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("AAE", 3, out, sizeof(out)), 2);
    ck_assert_int_eq(mg_b64url_decode("AQ", 2, out, sizeof(out)), 1);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(mg_b64url_decode("AAA=", 4, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("AA\nA", 4, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("A A", 3, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("a+/A", 4, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("AAAAAAAA", 8, out, 5), -1); /* too long for buffer */
}
END_TEST

/* base64url without padding, six bits at a time: what mg_b64url_encode's
 * pair table must reproduce. */
static size_t b64url_encode_reference(const unsigned char *in, size_t len, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, bits = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8 | in[i]) & 0xffffu;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}

/* Every entry of the encoder's 4,096-pair table in both halves of a group
 * (the 12-bit value in the high half with a fixed low half, and the other
 * way round), every byte value at every position of a 32-byte tag, and
 * every length from 0 to 70, against the six-bits-at-a-time reference. */
START_TEST(test_base64url_encoder_agrees_with_the_reference_for_every_pair)
{
    unsigned char in[72];
    char got[128], want[128];
    /* counted, asserted once at the end: a ck_assert per case is a write
     * to check's pipe */
    long bad = 0;
    char first[320] = "";
    for (unsigned v = 0; v < 4096; v++) {
        for (int half = 0; half < 2; half++) {
            unsigned x = half == 0 ? v << 12 | 0xa5c : 0x3e1u << 12 | v;
            in[0] = (unsigned char)(x >> 16);
            in[1] = (unsigned char)(x >> 8);
            in[2] = (unsigned char)x;
            size_t n = mg_b64url_encode(in, 3, got);
            if ((n != b64url_encode_reference(in, 3, want) || strcmp(got, want) != 0) && bad++ == 0)
                snprintf(first, sizeof(first), "%06x: %s, expected %s", x, got, want);
        }
    }
    for (size_t pos = 0; pos < 32; pos++) {
        for (int b = 0; b < 256; b++) {
            for (size_t i = 0; i < 32; i++)
                in[i] = (unsigned char)(i * 73 + 11);
            in[pos] = (unsigned char)b;
            size_t n = mg_b64url_encode(in, 32, got);
            b64url_encode_reference(in, 32, want);
            if ((n != 43 || strcmp(got, want) != 0) && bad++ == 0)
                snprintf(first, sizeof(first), "byte %d at %zu", b, pos);
        }
    }
    for (size_t len = 0; len <= 70; len++) {
        for (size_t i = 0; i < len; i++)
            in[i] = (unsigned char)(i * 151 + len * 7);
        size_t n = mg_b64url_encode(in, len, got);
        if ((n != b64url_encode_reference(in, len, want) || strcmp(got, want) != 0) && bad++ == 0)
            snprintf(first, sizeof(first), "length %zu", len);
    }
    ck_assert_msg(bad == 0, "%ld differ, first: %s", bad, first);
}
END_TEST

/* Strict base64url without padding, six bits at a time: what
 * mg_b64url_decode must answer (the length a multiple of 4 plus 0, 2 or
 * 3, the result within cap, every character in the alphabet, the unused
 * low bits of the last character zero). */
static long b64url_decode_reference(const char *in, size_t len, unsigned char *out, size_t cap)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    static signed char val[256];
    if (val['B'] == 0) {
        memset(val, -1, sizeof(val));
        for (int i = 0; i < 64; i++)
            val[(unsigned char)a[i]] = (signed char)i;
    }
    if (len % 4 == 1 || len * 3 / 4 > cap)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = val[(unsigned char)in[i]];
        if (v < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (acc & ((1u << bits) - 1)) != 0 ? -1 : (long)o;
}

/* Every byte value at every position of inputs of 0-48, 64, 86 and 88
 * characters (signatures are 43 and 86), each decoded into a buffer of
 * exactly the result's size, of 8 bytes more and of one byte less, against
 * the reference: the same answer, the same bytes, and nothing written at
 * or after out[cap] (the decoder stores 8 bytes at a time). */
START_TEST(test_base64url_decoder_agrees_with_the_reference_for_every_byte_at_every_position)
{
    static const size_t lens[] = {64, 86, 88};
    unsigned char raw[72], got[80], want[80];
    char s[96];
    long bad = 0, decoded = 0, cases = 0;
    char first[200] = "";
    for (size_t li = 0; li < 49 + sizeof(lens) / sizeof(lens[0]); li++) {
        size_t len = li < 49 ? li : lens[li - 49];
        size_t need = len * 3 / 4;
        /* a canonical encoding of `need` bytes (for len % 4 == 1 the first
         * len characters of a longer one) */
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = (unsigned char)(i * 151 + len * 7 + 3);
        char enc[100];
        mg_b64url_encode(raw, (len * 3 + 3) / 4, enc);
        for (size_t pos = 0; pos < (len ? len : 1); pos++) {
            for (int b = 0; b < (len ? 256 : 1); b++) {
                memcpy(s, enc, len);
                if (len)
                    s[pos] = (char)b;
                for (int k = 0; k < 3; k++) {
                    size_t cap = k == 0 ? need : k == 1 ? need + 8 : need - 1;
                    if (k == 2 && need == 0)
                        continue;
                    memset(got, 0xa5, sizeof(got));
                    long r = mg_b64url_decode(s, len, got, cap);
                    long e = b64url_decode_reference(s, len, want, cap);
                    int ok = r == e && (r < 0 || memcmp(got, want, (size_t)r) == 0);
                    int past = 0; /* bytes written at or after out[cap] */
                    for (size_t i = cap; i < sizeof(got); i++)
                        past += got[i] != 0xa5;
                    cases++;
                    decoded += r >= 0;
                    if ((!ok || past) && bad++ == 0)
                        snprintf(first, sizeof(first),
                                 "length %zu, byte %d at %zu, cap %zu: %ld, expected %ld, %d "
                                 "bytes written past cap",
                                 len, b, pos, cap, r, e, past);
                }
            }
        }
    }
    ck_assert_msg(bad == 0, "%ld of %ld differ, first: %s", bad, cases, first);
    ck_assert_int_gt(decoded, 10000);
}
END_TEST

START_TEST(test_base64url_refuses_every_byte_outside_the_alphabet_in_every_position)
{
    /* each of the 256 byte values in each position of a full group, of a
     * following group and of a 3- and 2-character tail */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    static const char *const bases[] = {"AAAA", "AAAAAAAA", "AAAAAAE", "AAAAAQ"};
    unsigned char out[8];
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
        size_t len = strlen(bases[b]);
        for (size_t pos = 0; pos < len; pos++) {
            for (int c = 0; c < 256; c++) {
                char s[9];
                memcpy(s, bases[b], len);
                s[pos] = (char)c;
                int in_alphabet = c != 0 && strchr(alphabet, c) != NULL;
                long d = mg_b64url_decode(s, len, out, sizeof(out));
                if (!in_alphabet)
                    ck_assert_msg(d == -1, "'%s' with byte %d at %zu accepted", bases[b], c, pos);
                else if (pos + 1 < len || len % 4 == 0)
                    /* any alphabet character is fine except in the last
                     * position of a tail, where unused bits must be zero */
                    ck_assert_msg(d == (long)(len * 3 / 4), "'%s' with '%c' at %zu: %ld", bases[b],
                                  c, pos, d);
            }
        }
    }
}
END_TEST

/* The decoder takes two groups per step where its 8-byte store fits the
 * buffer and one group otherwise: a 43-character signature (both ways and
 * the 3-character tail) with every byte value at every position decodes to
 * what a character-by-character reference gives, or is refused exactly
 * when the reference refuses it; and the same string into a buffer of its
 * exact size (no room for the 8-byte stores) gives the same bytes. */
START_TEST(test_base64url_decodes_a_signature_like_the_reference_at_every_position)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char sig[32], want[32], got[40], exact[32];
    char s[44];
    for (int i = 0; i < 32; i++)
        sig[i] = (unsigned char)(i * 73 + 11);
    ck_assert_uint_eq(mg_b64url_encode(sig, sizeof(sig), s), 43);
    for (size_t pos = 0; pos < 43; pos++) {
        char keep = s[pos];
        for (int c = 0; c < 256; c++) {
            s[pos] = (char)c;
            /* reference: six bits per character, big-endian, strict tail */
            const char *a = c != 0 ? strchr(alphabet, c) : NULL;
            int ok = a != NULL;
            if (ok) {
                uint32_t acc = 0;
                int bits = 0;
                size_t o = 0;
                for (size_t k = 0; k < 43; k++) {
                    acc = acc << 6 | (uint32_t)(strchr(alphabet, s[k]) - alphabet);
                    bits += 6;
                    if (bits >= 8) {
                        bits -= 8;
                        want[o++] = (unsigned char)(acc >> bits);
                    }
                }
                ok = (acc & ((1u << bits) - 1)) == 0; /* unused bits zero */
            }
            long d = mg_b64url_decode(s, 43, got, sizeof(got));
            long e = mg_b64url_decode(s, 43, exact, sizeof(exact));
            ck_assert_msg(d == (ok ? 32 : -1) && e == d, "byte %d at %zu: %ld %ld", c, pos, d, e);
            if (ok) {
                ck_assert_mem_eq(got, want, 32);
                ck_assert_mem_eq(exact, want, 32);
            }
        }
        s[pos] = keep;
    }
}
END_TEST

START_TEST(test_base64url_accepts_exactly_the_canonical_spellings)
{
    /* Every string of 1-3 characters over the alphabet plus a few strangers:
     * accepted exactly when it is the encoding of what it decodes to. */
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .";
    const size_t nc = sizeof(chars) - 1;
    unsigned char out[8];
    char s[4], re[8];
    long accepted = 0;
    for (size_t len = 1; len <= 3; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= nc;
        for (size_t n = 0; n < total; n++) {
            size_t x = n;
            for (size_t i = 0; i < len; i++, x /= nc)
                s[i] = chars[x % nc];
            long d = mg_b64url_decode(s, len, out, sizeof(out));
            int canonical = 0;
            if (d >= 0) {
                size_t el = mg_b64url_encode(out, (size_t)d, re);
                canonical = el == len && memcmp(re, s, len) == 0;
                accepted++;
            }
            ck_assert_msg(d < 0 || canonical, "accepted non-canonical '%.*s'", (int)len, s);
        }
    }
    /* exactly one spelling for each of the 2^8 one-byte and 2^16 two-byte strings */
    ck_assert_int_eq(accepted, (1 << 8) + (1 << 16));
}
END_TEST

START_TEST(test_token_encoding_keeps_only_unreserved_and_four_delimiters)
{
    ck_assert_str_eq(mg_token_encode(mg_test_pool, "/tr:w-1,h-2/a@b~c_d.e"),
                     "/tr:w-1,h-2/a@b~c_d.e");
    ck_assert_str_eq(mg_token_encode(mg_test_pool, "a b+c&d=e%f?g#h;i\xc3\xa9"),
                     "a%20b%2Bc%26d%3De%25f%3Fg%23h%3Bi%C3%A9");
    ck_assert(mg_token_is_reserved_param("mg_anything"));
    ck_assert(!mg_token_is_reserved_param("mgx"));
}
END_TEST

/* The encoder reads sixteen bytes at a time where the CPU can (SSE2), eight
 * at a time, and byte by byte: every byte value at every offset of a
 * 40-byte string (all three ways, a byte that is not kept inside a run of
 * kept ones) encodes as the documented set says (docs/token-spec.md:
 * unreserved plus / : , @ kept, the rest %XX upper-case). */
START_TEST(test_token_encoding_of_every_byte_at_every_offset_follows_the_set)
{
    static const char kept[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                               "-._~/:,@";
    char in[41], want[41 * 3];
    for (int b = 1; b < 256; b++) {
        for (int at = 0; at < 40; at++) {
            memset(in, 'a', 40);
            in[40] = '\0';
            in[at] = (char)b;
            if (strchr(kept, b) != NULL)
                memcpy(want, in, 41);
            else
                snprintf(want, sizeof(want), "%.*s%%%02X%s", at, in, (unsigned)b, in + at + 1);
            ck_assert_str_eq(mg_token_encode(mg_test_pool, in), want);
        }
        apr_pool_clear(mg_test_pool);
    }
}
END_TEST

/* Threads verifying concurrently with shared keys: each thread has its own
 * MAC/digest contexts, and the shared Ed25519 cache stays consistent. */
typedef struct thread_job {
    const mg_policy_t *policy;
    const char *good, *bad;
    int ok, wrong;
} thread_job_t;

static void *APR_THREAD_FUNC verify_thread(apr_thread_t *th, void *arg)
{
    thread_job_t *j = arg;
    apr_pool_t *pool;
    apr_pool_create(&pool, NULL);
    for (int i = 0; i < 300; i++) {
        mg_request_t req;
        mg_token_claims_t c;
        const char *url = (i % 3 == 2) ? j->bad : j->good;
        const char *q = strchr(url, '?');
        memset(&req, 0, sizeof(req));
        req.raw_path = apr_pstrmemdup(pool, url, (apr_size_t)(q - url));
        req.query = q + 1;
        req.now = apr_time_from_sec(1780000000);
        mg_reason_t r = mg_token_check(pool, j->policy, &req, &c);
        if ((r == MG_R_ALLOWED) == (url == j->good))
            j->ok++;
        else
            j->wrong++;
        apr_pool_clear(pool);
    }
    apr_pool_destroy(pool);
    /* return rather than apr_thread_exit(): pthread_exit's unwinding leaves
     * poisoned stack that trips ASan's own thread teardown */
    (void)th;
    return NULL;
}

START_TEST(test_concurrent_verification_in_threads_is_correct)
{
    mg_policy_t *p = policy_new();
    const mg_key_t *h = policy_add_key(p, "k2026", K_SHA256, 1);
    const mg_key_t *e = policy_add_key(p, "ed1", ED_PRIV, 0);
    mg_token_claims_t c = claims_exp("2026-12-31T23:59:59Z");
    enum { N = 8 };
    thread_job_t jobs[N];
    apr_thread_t *th[N];
    for (int i = 0; i < N; i++) {
        const mg_key_t *k = i % 2 ? e : h;
        const char *path = apr_psprintf(mg_test_pool, "/t/%d.jpg", i);
        jobs[i].policy = p;
        jobs[i].good = sign(k, path, &c);
        jobs[i].bad = replace(jobs[i].good, ".jpg", ".png");
        jobs[i].ok = jobs[i].wrong = 0;
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, verify_thread, &jobs[i], mg_test_pool),
                         APR_SUCCESS);
    }
    for (int i = 0; i < N; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
        ck_assert_int_eq(jobs[i].wrong, 0);
        ck_assert_int_eq(jobs[i].ok, 300);
    }
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("vectors");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_every_vector_is_reproduced_by_the_c_signer);
    tcase_add_test(tc, test_every_vector_verifies_with_verification_keys_only);
    tcase_add_test(tc, test_every_bucket_vector_expires_at_the_end_of_its_period);
    tcase_add_test(tc, test_bucket_in_a_day_repeated_past_midnight_ends_after_now);
    suite_add_tcase(s, tc);

    tc = tcase_create("verify");
    tcase_add_checked_fixture(tc, tok_setup, mg_test_teardown);
    tcase_add_test(tc, test_valid_link_is_allowed_with_view_access);
    tcase_add_test(tc, test_other_spellings_of_the_same_url_verify);
    tcase_add_test(tc, test_tampered_path_transformation_query_expiry_or_kid_breaks_the_signature);
    tcase_add_test(tc, test_unknown_key_id_is_reported_as_such);
    tcase_add_test(tc, test_malformed_tokens_are_refused_as_malformed);
    tcase_add_test(tc, test_each_token_parameter_name_is_known_and_near_misses_are_unknown);
    tcase_add_test(tc, test_token_parameter_names_agree_with_strcmp_on_every_one_byte_change);
    tcase_add_test(tc, test_claims_copied_as_they_are_verify_at_every_length);
    tcase_add_test(tc, test_key_lookup_finds_each_id_and_no_id_one_byte_apart);
    tcase_add_test(tc, test_mg_exp_agrees_with_a_digit_loop_for_every_byte_at_every_position);
    tcase_add_test(tc,
                   test_string_to_sign_holds_paths_scopes_and_claims_encoded_three_bytes_per_byte);
    tcase_add_test(tc, test_non_canonical_base64_spelling_of_a_valid_signature_is_refused);
    tcase_add_test(tc, test_missing_token_is_token_missing);
    tcase_add_test(tc, test_mg_exp_zero_is_refused_and_never_minted);
    tcase_add_test(tc, test_expired_link_within_grace_is_allowed_and_beyond_is_expired);
    tcase_add_test(tc, test_not_yet_valid_link_is_refused_except_within_clock_skew);
    tcase_add_test(tc, test_max_ttl_refuses_tokens_valid_for_too_long);
    tcase_add_test(tc, test_ip_bound_link_works_only_from_that_address_or_block);
    tcase_add_test(tc, test_prefix_token_covers_its_directory_segment_aware);
    tcase_add_test(tc, test_signing_refuses_bad_input);
    tcase_add_test(tc, test_cookie_token_is_accepted_only_under_its_scope);
    tcase_add_test(tc, test_download_claim_is_reported);
    tcase_add_test(tc, test_id_and_uses_are_signed_claims_in_name_order);
    tcase_add_test(tc, test_bad_id_or_uses_combinations_are_refused);
    tcase_add_test(tc, test_revoked_ids_and_keys_are_token_revoked);
    tcase_add_test(tc, test_rotation_keeps_old_links_until_the_old_key_is_removed);
    tcase_add_test(tc, test_bucket_expiry_gives_byte_identical_links_within_a_period);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_ed25519_verifies_repeatedly_and_cache_never_accepts_another_message);
    tcase_add_test(tc, test_ed25519_public_keys_of_small_order_are_refused);
    tcase_add_test(tc,
                   test_ed25519_cache_never_accepts_a_signature_under_another_key_of_the_same_id);
    tcase_add_test(tc, test_pem_key_under_an_hmac_entry_says_to_write_alg_ed25519);
    tcase_add_test(tc, test_key_text_formats_are_checked);
    tcase_add_test(tc, test_keys_load_reports_errors_and_warnings_at_the_keyref);
    tcase_add_test(tc, test_policy_revocations_load_refuse_tokens_and_are_emitted);
    tcase_add_test(tc, test_revocation_file_lines_are_ids_comments_or_blank);
    tcase_add_test(tc, test_policy_revocation_file_is_read_at_load);
    tcase_add_test(tc, test_key_file_that_is_a_fifo_is_refused_without_blocking);
    tcase_add_test(tc, test_short_secret_message_names_the_sizes);
    tcase_add_test(tc, test_generated_keys_load_and_sign);
    tcase_add_test(tc, test_key_fingerprint_is_the_documented_hash_of_the_loaded_key);
    tcase_add_test(tc, test_base64url_round_trips_and_decoding_is_strict);
    tcase_add_test(tc, test_base64url_accepts_exactly_the_canonical_spellings);
    tcase_add_test(tc, test_base64url_decodes_a_signature_like_the_reference_at_every_position);
    tcase_add_test(tc, test_base64url_refuses_every_byte_outside_the_alphabet_in_every_position);
    tcase_add_test(
        tc, test_base64url_decoder_agrees_with_the_reference_for_every_byte_at_every_position);
    tcase_add_test(tc, test_base64url_encoder_agrees_with_the_reference_for_every_pair);
    tcase_add_test(tc, test_token_encoding_keeps_only_unreserved_and_four_delimiters);
    tcase_add_test(tc, test_token_encoding_of_every_byte_at_every_offset_follows_the_set);
    tcase_add_test(tc, test_concurrent_verification_in_threads_is_correct);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(token_suite)
