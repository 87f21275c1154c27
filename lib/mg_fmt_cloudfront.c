/* mg_fmt_cloudfront.c — Amazon CloudFront signed URLs and signed cookies
 * (keys[].format: cloudfront), from the CloudFront Developer Guide ("Create
 * a signed URL using a canned policy / a custom policy", "Set signed
 * cookies") and the AWS SDK signers and their tests (aws-sdk-ruby
 * gems/aws-sdk-cloudfront/spec, botocore's CloudFrontSigner,
 * aws-sdk-js-v3 packages/cloudfront-signer).
 *
 * A link carries, after its own query:
 *  - canned policy: Expires=E&Signature=S&Key-Pair-Id=K, S the signature
 *    of {"Statement":[{"Resource":"<URL>","Condition":{"DateLessThan":
 *    {"AWS:EpochTime":E}}}]} (no whitespace), <URL> the link without the
 *    three parameters: scheme, host, path and the remaining query;
 *  - custom policy: Policy=P&Signature=S&Key-Pair-Id=K, P the policy JSON
 *    (Resource with '*' and '?' wildcards, DateLessThan, optional
 *    DateGreaterThan and IpAddress.SourceIp), S its signature;
 *  - optionally Hash-Algorithm=SHA256 (SHA-1 without it).
 * Signed cookies carry the same values as CloudFront-Expires or
 * CloudFront-Policy, CloudFront-Signature, CloudFront-Key-Pair-Id (and
 * CloudFront-Hash-Algorithm); the policy's Resource then matches the URL
 * requested. P and S are base64 with '+' '=' '/' written '-' '_' '~'.
 *
 * Signatures are RSASSA-PKCS1-v1_5 or ECDSA (P-256, DER) under the
 * public key in the key file, as CloudFront's key groups hold it: the
 * server never needs the private key (mgctl sign --private-key mints).
 * The EVP_PKEY is parsed once at load, with a DigestVerify context per hash
 * initialised once and copied per request (no fetch, no key parsing per
 * request); successful verifications are kept in a bounded per-process
 * cache keyed on the key's serial and a digest of message and signature,
 * as mg_keys.c does for Ed25519 — an RSA verification costs tens of
 * thousands of instructions more than a MAC.
 *
 * The policy JSON is parsed by hand, strictly and for the subset AWS
 * defines only: one statement, the members above in any order, none twice,
 * nothing else (a member we do not understand could be a restriction we
 * would silently drop: fail closed). A general JSON library would accept
 * much more than CloudFront defines and then need the same checks on its
 * tree; the project's YAML parser is no JSON parser for duplicate keys.
 * It is parsed only after its signature verified.
 *
 * Scheme and host: the Resource is a full URL. As for gcp-cdn the public
 * origin is a key option (`origin`, required); the Host header is never
 * read. Canonicalisation stays ours: a custom policy's Resource must match
 * both the URL as received and its canonical form, so a wildcard never
 * lets /img/../secret/x through a policy for https://host/img/ and a star.
 */
#include <pthread.h>
#include <string.h>

#include <apr_strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mg_fmt.h"
#include "mg_fmt_cloudfront.h"
#include "mg_ip.h"
#include "mg_keys.h"

#define CF_KPID_MAX 64
#define CF_POLICY_B64_MAX ((MG_CF_POLICY_MAX + 2) / 3 * 4)
#define CF_SIG_B64_MAX ((MG_CF_SIG_MAX + 2) / 3 * 4)
#define CF_PRIVATE_KEY_MAX 16384

typedef struct cf_key {
    const char *origin; /* "https://host[:port]", no trailing '/' */
    size_t origin_n;
    const char *kpid; /* Key-Pair-Id */
    int sign_sha256;  /* mgctl sign writes Hash-Algorithm=SHA256 */
    int is_rsa;
    size_t sig_max;        /* RSA: exactly this; ECDSA: at most */
    EVP_PKEY *pkey;        /* parsed once */
    EVP_MD_CTX *verify[2]; /* SHA1, SHA256: initialised once, only copied from */
} cf_key_t;

static const char *const cf_options[] = {"origin", "key_pair_id", "sign_hash", NULL};
/* order matters: indexes below (the query names and the cookie names) */
static const char *const cf_names[] = {"Expires",     "Policy",         "Signature",
                                       "Key-Pair-Id", "Hash-Algorithm", NULL};
static const char *const cf_cookie_names[] = {"CloudFront-Expires",        "CloudFront-Policy",
                                              "CloudFront-Signature",      "CloudFront-Key-Pair-Id",
                                              "CloudFront-Hash-Algorithm", NULL};
enum { CF_EXPIRES, CF_POLICY, CF_SIG, CF_KPID, CF_HASH, CF_N };

/* ---- CloudFront's base64 --------------------------------------------------- */

/* CloudFront's alphabet: value + 1, 0 for a byte outside it ('_' is
 * padding, handled apart) */
static const unsigned char cf_dec[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['~'] = 64};

long mg_cf_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    size_t pad = s[n - 1] == '_' ? (s[n - 2] == '_' ? 2 : 1) : 0;
    size_t m = n - pad, o = 0, full = m / 4 * 4;
    if ((m / 4) * 3 + (pad ? 3 - pad : 0) > cap)
        return -1;
    const unsigned char *p = (const unsigned char *)s;
    /* value - 1 is the 6-bit value, UINT_MAX outside the alphabet: OR-ing
     * the four gives a value above 63 exactly when one is bad */
    unsigned bad = 0;
    for (size_t i = 0; i < full; i += 4) {
        unsigned a = cf_dec[p[i]] - 1u, b = cf_dec[p[i + 1]] - 1u, c = cf_dec[p[i + 2]] - 1u,
                 d = cf_dec[p[i + 3]] - 1u;
        bad |= a | b | c | d;
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (pad) {
        unsigned a = cf_dec[p[full]] - 1u, b = cf_dec[p[full + 1]] - 1u;
        unsigned c = pad == 1 ? cf_dec[p[full + 2]] - 1u : 0;
        bad |= a | b | c;
        unsigned v = a << 18 | b << 12 | c << 6;
        out[o++] = (unsigned char)(v >> 16);
        if (pad == 1) {
            out[o++] = (unsigned char)(v >> 8);
            bad |= (v & 0xff) != 0 ? 64u : 0u; /* unused bits set: another spelling */
        } else {
            bad |= (v & 0xffff) != 0 ? 64u : 0u;
        }
    }
    return bad > 63 ? -1 : (long)o;
}

size_t mg_cf_b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t len = mg_b64url_encode(in, n, out);
    for (size_t i = 0; i < len; i++)
        if (out[i] == '_')
            out[i] = '~';
    while (len % 4 != 0)
        out[len++] = '_';
    out[len] = '\0';
    return len;
}

/* ---- wildcards ------------------------------------------------------------- */

int mg_cf_glob(const char *pat, size_t pn, const char *s, size_t sn)
{
    size_t p = 0, i = 0, star = (size_t)-1, mark = 0;
    while (i < sn) {
        if (p < pn && pat[p] == '*') {
            star = p++;
            mark = i;
        } else if (p < pn && (pat[p] == '?' || pat[p] == s[i])) {
            p++;
            i++;
        } else if (star != (size_t)-1) {
            /* the last '*' swallows one more byte; earlier ones never need
             * to be revisited, so this is O(pn * sn) at worst */
            p = star + 1;
            i = ++mark;
        } else {
            return 0;
        }
    }
    while (p < pn && pat[p] == '*')
        p++;
    return p == pn;
}

/* ---- the policy parser ----------------------------------------------------- */

typedef struct jp {
    apr_pool_t *pool;
    const char *p, *e;
    const char *why;
} jp_t;

static int jfail(jp_t *j, const char *why)
{
    if (j->why == NULL)
        j->why = why;
    return -1;
}

static void jws(jp_t *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jlit(jp_t *j, char c)
{
    jws(j);
    if (j->p < j->e && *j->p == c) {
        j->p++;
        return 0;
    }
    return -1;
}

/* A JSON string of at most MG_CF_RESOURCE_MAX bytes. Escapes: \" \\ \/
 * only (Java's JSON writers escape '/'); \u and raw control bytes are
 * refused: no URL or address AWS accepts needs them. */
static int jstr(jp_t *j, const char **out)
{
    if (jlit(j, '"') != 0)
        return jfail(j, "a string was expected");
    /* never more than the input left: a policy of many short strings must
     * not cost a Resource's worth of memory each */
    size_t left = (size_t)(j->e - j->p);
    char *buf = apr_palloc(j->pool, (left < MG_CF_RESOURCE_MAX ? left : MG_CF_RESOURCE_MAX) + 1);
    size_t cap = left < MG_CF_RESOURCE_MAX ? left : MG_CF_RESOURCE_MAX;
    size_t n = 0;
    while (j->p < j->e && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20 || c == 0x7f)
            return jfail(j, "a control byte in a string");
        if (c == '\\') {
            if (j->p >= j->e)
                break;
            c = (unsigned char)*j->p++;
            if (c != '"' && c != '\\' && c != '/')
                return jfail(j, "a string escape other than \\\" \\\\ \\/");
        }
        if (n >= cap)
            return jfail(j, "a string is too long");
        buf[n++] = (char)c;
    }
    if (j->p >= j->e)
        return jfail(j, "an unterminated string");
    j->p++;
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* AWS:EpochTime: epoch seconds as a JSON integer (mg_fmt_parse_epoch). */
static int jepoch(jp_t *j, int64_t *v)
{
    jws(j);
    const char *s = j->p;
    while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
        j->p++;
    if (mg_fmt_parse_epoch(s, (size_t)(j->p - s), v) != 0)
        return jfail(j, "AWS:EpochTime is not epoch seconds (digits, no leading zero)");
    return 0;
}

/* Members of one object: calls member(j, index of name in names, ctx) for
 * each; a name not in `names` or given twice is refused. */
typedef int (*jmember_fn)(jp_t *j, int which, void *ctx);
static int jobject(jp_t *j, const char *const *names, jmember_fn member, void *ctx, unsigned *seen)
{
    *seen = 0;
    if (jlit(j, '{') != 0)
        return jfail(j, "an object was expected");
    if (jlit(j, '}') == 0)
        return 0;
    for (;;) {
        const char *name;
        if (jstr(j, &name) != 0)
            return -1;
        int which = -1;
        for (int i = 0; names[i] != NULL; i++)
            if (strcmp(names[i], name) == 0)
                which = i;
        if (which < 0)
            return jfail(j, apr_psprintf(j->pool, "unknown member \"%.64s\"", name));
        if (*seen & (1u << which))
            return jfail(j, apr_psprintf(j->pool, "member \"%s\" given twice", name));
        *seen |= 1u << which;
        if (jlit(j, ':') != 0)
            return jfail(j, "':' was expected");
        if (member(j, which, ctx) != 0)
            return -1;
        if (jlit(j, ',') == 0)
            continue;
        if (jlit(j, '}') == 0)
            return 0;
        return jfail(j, "',' or '}' was expected");
    }
}

static int m_epoch(jp_t *j, int which, void *ctx)
{
    (void)which;
    return jepoch(j, ctx);
}

static int m_source_ip(jp_t *j, int which, void *ctx)
{
    (void)which;
    const char **ip = ctx;
    if (jstr(j, ip) != 0)
        return -1;
    mg_cidr_t c;
    const char *why;
    if (mg_cidr_parse(*ip, &c, &why) != 0)
        return jfail(j, "AWS:SourceIp is not an address or CIDR block");
    return 0;
}

static int m_condition(jp_t *j, int which, void *ctx)
{
    mg_cf_policy_t *pol = ctx;
    static const char *const epoch[] = {"AWS:EpochTime", NULL};
    static const char *const ipn[] = {"AWS:SourceIp", NULL};
    unsigned seen;
    int rc;
    if (which == 0)
        rc = jobject(j, epoch, m_epoch, &pol->date_less_than, &seen);
    else if (which == 1)
        rc = jobject(j, epoch, m_epoch, &pol->date_greater_than, &seen);
    else
        rc = jobject(j, ipn, m_source_ip, (void *)&pol->source_ip, &seen);
    if (rc == 0 && seen != 1)
        return jfail(j, which == 2 ? "IpAddress needs AWS:SourceIp"
                                   : "a date condition needs AWS:EpochTime");
    return rc;
}

static int m_statement(jp_t *j, int which, void *ctx)
{
    mg_cf_policy_t *pol = ctx;
    static const char *const cond[] = {"DateLessThan", "DateGreaterThan", "IpAddress", NULL};
    unsigned seen;
    if (which == 0)
        return jstr(j, &pol->resource);
    if (jobject(j, cond, m_condition, pol, &seen) != 0)
        return -1;
    if (!(seen & 1u))
        return jfail(j, "the Condition has no DateLessThan (CloudFront requires one)");
    return 0;
}

static int m_top(jp_t *j, int which, void *ctx)
{
    (void)which;
    static const char *const st[] = {"Resource", "Condition", NULL};
    unsigned seen;
    if (jlit(j, '[') != 0)
        return jfail(j, "Statement is not an array");
    if (jobject(j, st, m_statement, ctx, &seen) != 0)
        return -1;
    if (seen != 3u)
        return jfail(j, "the statement needs Resource and Condition (a policy without "
                        "Resource, valid for every URL of the origin, is not accepted)");
    if (jlit(j, ']') != 0)
        return jfail(j, "a policy has exactly one statement");
    return 0;
}

int mg_cf_policy_parse(apr_pool_t *pool, const char *json, size_t n, mg_cf_policy_t *out,
                       const char **why)
{
    static const char *const top[] = {"Statement", NULL};
    jp_t j = {pool, json, json + n, NULL};
    unsigned seen;
    memset(out, 0, sizeof(*out));
    if (n > MG_CF_POLICY_MAX) {
        *why = "the policy is longer than 4096 bytes";
        return -1;
    }
    if (jobject(&j, top, m_top, out, &seen) == 0 && seen != 1u)
        jfail(&j, "the policy has no Statement");
    if (j.why == NULL) {
        jws(&j);
        if (j.p != j.e)
            jfail(&j, "bytes after the policy");
    }
    if (j.why == NULL && out->date_greater_than != 0 &&
        out->date_greater_than >= out->date_less_than)
        jfail(&j, "DateGreaterThan is not before DateLessThan");
    if (j.why != NULL) {
        *why = apr_pstrcat(pool, "the policy is not valid: ", j.why, NULL);
        return -1;
    }
    return 0;
}

/* ---- keys ------------------------------------------------------------------ */

static int kpid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CF_KPID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static apr_status_t cf_key_cleanup(void *p)
{
    cf_key_t *o = p;
    EVP_MD_CTX_free(o->verify[0]);
    EVP_MD_CTX_free(o->verify[1]);
    EVP_PKEY_free(o->pkey);
    return APR_SUCCESS;
}

/* The public key in the key file; NULL with *why. */
static EVP_PKEY *read_public(apr_pool_t *pool, const unsigned char *pem, size_t n, const char **why)
{
    int has_private = 0;
    for (size_t i = 0; i + 11 <= n && !has_private; i++)
        has_private = memcmp(pem + i, "PRIVATE KEY", 11) == 0;
    if (has_private) {
        *why = "the key file holds a private key: give the server the public key only "
               "(openssl pkey -in private.pem -pubout), and the private key to mgctl sign "
               "--private-key";
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (pk == NULL)
        *why = apr_pstrdup(pool, "the key file is not a PEM public key (-----BEGIN PUBLIC "
                                 "KEY-----, as CloudFront's key groups take it): a cloudfront "
                                 "key is never an HMAC secret");
    return pk;
}

static mg_status_t cf_key_init(apr_pool_t *pool, mg_fkey_t *k, const char **why, int *bad)
{
    cf_key_t *o = apr_pcalloc(pool, sizeof(*o));
    int i_or, i_kp, i_sh;
    o->origin = mg_fmt_opt(k, "origin", &i_or);
    o->kpid = mg_fmt_opt(k, "key_pair_id", &i_kp);
    const char *sh = mg_fmt_opt(k, "sign_hash", &i_sh);
    if (o->origin == NULL || !mg_fmt_origin_valid(o->origin)) {
        *bad = i_or;
        *why = "option origin is required: the public scheme and host the links were signed "
               "for, lower case, without path (e.g. https://d111111abcdef8.cloudfront.net); the "
               "Host header is never trusted for it";
        return MG_EINVAL;
    }
    o->origin_n = strlen(o->origin);
    if (o->kpid == NULL)
        o->kpid = k->id;
    if (!kpid_valid(o->kpid)) {
        *bad = i_kp;
        *why = "the Key-Pair-Id (option key_pair_id, default the key id) must be 1 to 64 "
               "letters, digits, '-' or '_'";
        return MG_EINVAL;
    }
    if (sh != NULL && strcmp(sh, "sha1") != 0 && strcmp(sh, "sha256") != 0) {
        *bad = i_sh;
        *why = "option sign_hash is sha1 (default) or sha256 (the hash mgctl sign uses; "
               "links of either verify)";
        return MG_EINVAL;
    }
    o->sign_sha256 = sh != NULL && strcmp(sh, "sha256") == 0;
    o->pkey = read_public(pool, k->secret, k->secret_len, why);
    if (o->pkey == NULL)
        return MG_EINVAL;
    apr_pool_cleanup_register(pool, o, cf_key_cleanup, apr_pool_cleanup_null);
    int bits = EVP_PKEY_get_bits(o->pkey);
    if (k->alg == MG_FALG_RSA_SHA1) {
        if (!EVP_PKEY_is_a(o->pkey, "RSA")) {
            *why = "alg rsa-sha1 needs an RSA public key; this one is not (an EC key is "
                   "alg: ecdsa-sha1)";
            return MG_EINVAL;
        }
        if (bits < 1024 || bits > 4096) {
            *why = apr_psprintf(pool,
                                "an RSA key of %d bits: CloudFront's are 2048 (1024 to 4096 "
                                "accepted)",
                                bits);
            return MG_EINVAL;
        }
        /* e = 1 makes every signature its own message: a link "signed" with
         * the padded digest itself verified (red team 23b) */
        BIGNUM *e = NULL;
        int e_ok = EVP_PKEY_get_bn_param(o->pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) &&
                   !BN_is_one(e) && BN_num_bits(e) <= 256;
        BN_free(e);
        if (!e_ok) {
            ERR_clear_error();
            *why = "the RSA public exponent is 1, even or above 2^256: not a real key "
                   "(CloudFront's is 65537; with 1, every signature is its own message)";
            return MG_EINVAL;
        }
        if (bits < 2048)
            k->weak = apr_psprintf(pool,
                                   "an RSA key of %d bits (CloudFront's are 2048): accepted so "
                                   "that existing links keep working, but replace it soon",
                                   bits);
        o->is_rsa = 1;
    } else {
        char group[64] = "";
        if (!EVP_PKEY_is_a(o->pkey, "EC") ||
            EVP_PKEY_get_utf8_string_param(o->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof(group), NULL) != 1 ||
            strcmp(group, "prime256v1") != 0) {
            ERR_clear_error();
            *why = "alg ecdsa-sha1 needs an ECDSA P-256 (prime256v1) public key, the only "
                   "curve CloudFront takes";
            return MG_EINVAL;
        }
        /* OpenSSL decodes the point at infinity (BIT STRING 00) as a public
         * key, and ECDSA then verifies signatures anyone can compute
         * (red team 23b): the full public-key check refuses it */
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, o->pkey, NULL);
        int pub_ok = pc != NULL && EVP_PKEY_public_check(pc) == 1;
        EVP_PKEY_CTX_free(pc);
        if (!pub_ok) {
            ERR_clear_error();
            *why = "the ECDSA public key is not a valid P-256 point (the point at infinity or "
                   "off the curve): not a real key";
            return MG_EINVAL;
        }
    }
    o->sig_max = (size_t)EVP_PKEY_get_size(o->pkey);
    static const char *const mds[2] = {"SHA1", "SHA256"};
    for (int i = 0; i < 2; i++) {
        o->verify[i] = EVP_MD_CTX_new();
        if (o->verify[i] == NULL ||
            EVP_DigestVerifyInit_ex(o->verify[i], NULL, mds[i], NULL, NULL, o->pkey, NULL) != 1) {
            ERR_clear_error();
            *why = "OpenSSL refused to prepare the verification";
            return MG_EINVAL;
        }
    }
    k->priv = o;
    return MG_OK;
}

static const char *const *cf_params(const mg_fkey_t *k)
{
    (void)k;
    return cf_names;
}

static const char *const *cf_cookies(const mg_fkey_t *k)
{
    (void)k;
    return cf_cookie_names;
}

/* ---- verification cache ---------------------------------------------------- */

/* Direct-mapped, bounded, per process: an entry vouches that the key of
 * `serial` signed `msg` under the hash `sha256` with exactly the signature
 * `sig`, until the policy's DateLessThan. The signature is kept whole and
 * compared in constant time (for a canned policy the message is guessable
 * from the URL: the signature is what only the signer can make); the
 * message is kept whole too when it fits (canned and usual custom
 * policies), else as its SHA-256 — hashing every request would cost more
 * than the rest of the decision. The scheme of mg_keys.c's Ed25519 cache. */
#define CF_CACHE 256
#define CF_CACHE_MSG 512
typedef struct cf_entry {
    uint64_t serial;
    int64_t valid_until;
    int sha256;
    size_t sig_len, msg_len;
    unsigned char sig[MG_CF_SIG_MAX];
    unsigned char msg[CF_CACHE_MSG]; /* the message, or its SHA-256 when longer */
} cf_entry_t;
static cf_entry_t g_cache[CF_CACHE];
static pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static EVP_MD *g_sha256; /* fetched once: no per-request algorithm fetch */

static void fetch_once(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* What the cache keeps of a message: itself, or its SHA-256. 0: none. */
static size_t msg_key(const unsigned char *msg, size_t mn, unsigned char key[CF_CACHE_MSG])
{
    if (mn <= CF_CACHE_MSG) {
        memcpy(key, msg, mn);
        return mn;
    }
    pthread_once(&g_once, fetch_once);
    unsigned int dn = 0;
    if (g_sha256 == NULL || EVP_Digest(msg, mn, key, &dn, g_sha256, NULL) != 1) {
        ERR_clear_error();
        return 0;
    }
    return 32;
}

static cf_entry_t *slot(const unsigned char *sig)
{
    /* signature bytes are uniformly distributed: any two make an index */
    return &g_cache[((unsigned)sig[0] | (unsigned)sig[1] << 8) % CF_CACHE];
}

static int cache_hit(uint64_t serial, int sha256, size_t mn, size_t keyn, const unsigned char *key,
                     const unsigned char *sig, size_t sn, int64_t now)
{
    const cf_entry_t *e = slot(sig);
    int hit;
    pthread_mutex_lock(&g_cache_lock);
    hit = e->serial == serial && e->valid_until >= now && e->sha256 == sha256 && e->sig_len == sn &&
          e->msg_len == mn && CRYPTO_memcmp(e->sig, sig, sn) == 0 && memcmp(e->msg, key, keyn) == 0;
    pthread_mutex_unlock(&g_cache_lock);
    return hit;
}

static void cache_put(uint64_t serial, int sha256, size_t mn, const unsigned char *key, size_t keyn,
                      const unsigned char *sig, size_t sn, int64_t now, int64_t valid_until)
{
    cf_entry_t *e = slot(sig);
    if (valid_until < now || keyn == 0)
        return;
    pthread_mutex_lock(&g_cache_lock);
    e->serial = serial;
    e->valid_until = valid_until;
    e->sha256 = sha256;
    e->sig_len = sn;
    e->msg_len = mn;
    memcpy(e->sig, sig, sn);
    memcpy(e->msg, key, keyn);
    pthread_mutex_unlock(&g_cache_lock);
}

typedef struct cf_vouch {
    unsigned char key[CF_CACHE_MSG];
    size_t keyn, mn;
    int fresh; /* verified now: cache_put once the policy's expiry is known */
} cf_vouch_t;

/* 1: `sig` is the key's signature of `msg` under SHA-1 or SHA-256. */
static int sig_verify(const mg_fkey_t *k, int sha256, const unsigned char *msg, size_t mn,
                      const unsigned char *sig, size_t sn, int64_t now, cf_vouch_t *v)
{
    const cf_key_t *o = k->priv;
    v->mn = mn;
    v->keyn = msg_key(msg, mn, v->key);
    v->fresh = 0;
    if (v->keyn > 0 && cache_hit(k->serial, sha256, mn, v->keyn, v->key, sig, sn, now))
        return 1;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_MD_CTX_copy_ex(c, o->verify[sha256]) == 1 &&
             EVP_DigestVerify(c, sig, sn, msg, mn) == 1;
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    v->fresh = ok;
    return ok;
}

/* ---- verification ---------------------------------------------------------- */

static mg_reason_t refuse(mg_fmt_result_t *out, mg_reason_t r, const char *detail)
{
    out->detail = detail;
    return r;
}

/* The canonical directory of a wildcard Resource's literal path prefix
 * (Resource https://h/v/l1/ then star ".ts" gives "/v/l1/"), for mg_token.c's scope check and
 * mgctl explain; NULL when there is none to take (a wildcard in the host). */
static const char *resource_scope(apr_pool_t *pool, const cf_key_t *o, const char *res)
{
    size_t lit = strcspn(res, "*?");
    if (res[lit] != '*' || strncmp(res, o->origin, o->origin_n) != 0 || lit <= o->origin_n ||
        res[o->origin_n] != '/')
        return NULL;
    const char *path = apr_pstrmemdup(pool, res + o->origin_n, lit - o->origin_n);
    char *slash = strrchr(path, '/');
    slash[1] = '\0';
    mg_canon_t cn;
    const char *why;
    if (mg_canon_path(pool, path, NULL, &cn, &why) != 0 || cn.tr != NULL)
        return NULL;
    if (strcmp(cn.path, "/") != 0 && cn.path[strlen(cn.path) - 1] != '/')
        return apr_pstrcat(pool, cn.path, "/", NULL);
    return cn.path;
}

/* The query form (from_cookie 0) or the signed cookies (1): mg_fmt.c offers
 * the cookies only to a request without a query token of any format. */
static mg_reason_t cf_check(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out,
                            int from_cookie)
{
    const cf_key_t *o = k->priv;
    const char *v[CF_N] = {NULL}, *rest = "", *why;
    size_t n[CF_N] = {0};
    const char *q = rq->raw_query;
    int any = 0;
    if (!from_cookie) {
        if (mg_fmt_split_query(rq->pool, rq->cn, q, cf_names, v, n, &rest, &why) != 0)
            return refuse(out, MG_R_TOKEN_MALFORMED, why);
        for (int i = 0; i < CF_N; i++)
            any |= v[i] != NULL;
    } else if (rq->cookie != NULL) {
        /* the signed cookies: the whole query is the resource's */
        for (int i = 0; i < CF_N; i++) {
            int rc = mg_fmt_cookie_get(rq->cookie, cf_cookie_names[i], &v[i], &n[i]);
            if (rc < 0)
                return refuse(
                    out, MG_R_TOKEN_MALFORMED,
                    apr_psprintf(rq->pool, "the cookie %s is given twice", cf_cookie_names[i]));
            if (rc == 0)
                v[i] = NULL;
            any |= v[i] != NULL;
        }
        rest = q != NULL ? q : "";
    }
    if (!any)
        return MG_R_TOKEN_MISSING;
    if (!v[CF_SIG] || !v[CF_KPID] || (v[CF_EXPIRES] != NULL) == (v[CF_POLICY] != NULL))
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      from_cookie ? "CloudFront signed cookies need CloudFront-Signature, "
                                    "CloudFront-Key-Pair-Id and one of CloudFront-Expires or "
                                    "CloudFront-Policy"
                                  : "a CloudFront signed URL needs Signature, Key-Pair-Id and "
                                    "one of Expires (canned policy) or Policy (custom policy)");
    if (n[CF_KPID] != strlen(o->kpid) || memcmp(v[CF_KPID], o->kpid, n[CF_KPID]) != 0)
        return refuse(out, MG_R_TOKEN_UNKNOWN_KEY, "Key-Pair-Id is not this key's");
    int sha256 = 0;
    if (v[CF_HASH] != NULL) {
        if (n[CF_HASH] == 6 && memcmp(v[CF_HASH], "SHA256", 6) == 0)
            sha256 = 1;
        else if (!(n[CF_HASH] == 4 && memcmp(v[CF_HASH], "SHA1", 4) == 0))
            return refuse(out, MG_R_TOKEN_MALFORMED, "Hash-Algorithm is not SHA1 or SHA256");
    }
    unsigned char sig[MG_CF_SIG_MAX];
    long sn =
        n[CF_SIG] <= CF_SIG_B64_MAX ? mg_cf_b64_decode(v[CF_SIG], n[CF_SIG], sig, sizeof(sig)) : -1;
    if (sn <= 0 || (o->is_rsa && (size_t)sn != o->sig_max) || (size_t)sn > o->sig_max)
        return refuse(out, MG_R_TOKEN_MALFORMED,
                      "Signature is not CloudFront base64 of a signature of this key's size");
    /* the URL the policy speaks of: our origin, the path as received, the
     * query without CloudFront's parameters */
    const char *qs = *rest ? "?" : "";
    const char *url = apr_pstrcat(rq->pool, o->origin, rq->raw_path, qs, rest, NULL);
    cf_vouch_t vc;
    int64_t exp = 0;
    if (v[CF_EXPIRES] != NULL) {
        if (mg_fmt_parse_epoch(v[CF_EXPIRES], n[CF_EXPIRES], &exp) != 0)
            return refuse(out, MG_R_TOKEN_MALFORMED, "Expires is not epoch seconds");
        const char *msg =
            apr_pstrcat(rq->pool, "{\"Statement\":[{\"Resource\":\"", url,
                        "\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":",
                        apr_pstrmemdup(rq->pool, v[CF_EXPIRES], n[CF_EXPIRES]), "}}}]}", NULL);
        size_t mn = strlen(msg);
        if (!sig_verify(k, sha256, (const unsigned char *)msg, mn, sig, (size_t)sn, rq->now, &vc))
            return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
        if (vc.fresh)
            cache_put(k->serial, sha256, vc.mn, vc.key, vc.keyn, sig, (size_t)sn, rq->now, exp);
        out->exp = exp;
        return MG_R_ALLOWED;
    }
    if (n[CF_POLICY] > CF_POLICY_B64_MAX)
        return refuse(out, MG_R_TOKEN_MALFORMED, "Policy is longer than 4096 bytes decoded");
    unsigned char *json = apr_palloc(rq->pool, MG_CF_POLICY_MAX + 3);
    long jn = mg_cf_b64_decode(v[CF_POLICY], n[CF_POLICY], json, MG_CF_POLICY_MAX + 2);
    if (jn <= 0 || jn > MG_CF_POLICY_MAX)
        return refuse(out, MG_R_TOKEN_MALFORMED, "Policy is not CloudFront base64");
    if (!sig_verify(k, sha256, json, (size_t)jn, sig, (size_t)sn, rq->now, &vc))
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the signature does not match");
    /* signed: now the policy is the signer's word */
    mg_cf_policy_t pol;
    if (mg_cf_policy_parse(rq->pool, (const char *)json, (size_t)jn, &pol, &why) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, why);
    if (vc.fresh)
        cache_put(k->serial, sha256, vc.mn, vc.key, vc.keyn, sig, (size_t)sn, rq->now,
                  pol.date_less_than);
    size_t rn = strlen(pol.resource);
    if (!mg_cf_glob(pol.resource, rn, url, strlen(url)))
        return refuse(out, MG_R_TOKEN_SCOPE, "the URL does not match the policy's Resource");
    /* the canonical path, percent-encoded our way or decoded (a Resource may
     * spell ']' or '(' either way): one of them must match too, which no
     * dot segment or encoded '/' that leaves the Resource's directory does */
    const char *canon = apr_pstrcat(
        rq->pool, o->origin, mg_pct_encode_path(rq->pool, rq->cn->signed_path), qs, rest, NULL);
    const char *decoded = apr_pstrcat(rq->pool, o->origin, rq->cn->signed_path, qs, rest, NULL);
    if (!mg_cf_glob(pol.resource, rn, canon, strlen(canon)) &&
        !mg_cf_glob(pol.resource, rn, decoded, strlen(decoded)))
        return refuse(out, MG_R_TOKEN_SCOPE,
                      "the canonical URL does not match the policy's Resource");
    out->exp = pol.date_less_than;
    out->nbf = pol.date_greater_than;
    out->ip = pol.source_ip;
    out->scope = resource_scope(rq->pool, o, pol.resource);
    return MG_R_ALLOWED;
}

static mg_reason_t cf_verify(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out)
{
    return cf_check(rq, k, out, 0);
}

static mg_reason_t cf_verify_cookie(const mg_fmt_req_t *rq, const mg_fkey_t *k,
                                    mg_fmt_result_t *out)
{
    return cf_check(rq, k, out, 1);
}

/* ---- signing (mgctl sign) --------------------------------------------------- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1; /* never prompt */
}

/* What a signer writes, as a link's parameters or as cookies: the base URL
 * (origin, path, query), the expiry (canned) or the encoded policy
 * (custom), and the encoded signature. */
typedef struct {
    const char *base, *exp, *p64, *s64;
    int custom;
} cf_signed_t;

/* Sign path (and query, or NULL) on the key's origin with the claims c:
 * a canned policy, or a custom one when c has a scope, an address or a
 * not-before time. */
static mg_status_t cf_sign_policy(apr_pool_t *pool, const mg_fkey_t *k, const char *path,
                                  const char *query, const mg_fmt_claims_t *c, cf_signed_t *sg,
                                  const char **why)
{
    const cf_key_t *o = k->priv;
    if (c->exp == 0) {
        *why = "CloudFront links always expire";
        return MG_EINVAL;
    }
    if (c->private_key == NULL) {
        *why = "a CloudFront link is signed with the private key, which the policy's key "
               "entry does not hold (mgctl sign --private-key FILE)";
        return MG_EINVAL;
    }
    /* the verifier rebuilds the query from its pairs, so an empty pair
     * ("?&a=1", "a=1&&b", "a=1&") would be signed but not rebuilt */
    if (query != NULL &&
        (query[0] == '&' || strstr(query, "&&") != NULL || query[strlen(query) - 1] == '&')) {
        *why = "the query has an empty parameter (a '&' at its start or end, or '&&')";
        return MG_EINVAL;
    }
    const char *base =
        apr_pstrcat(pool, o->origin, path, query ? "?" : "", query ? query : "", NULL);
    if (strpbrk(base, "\"\\*") != NULL) {
        *why = "the URL holds '\"', '\\' or '*', which a CloudFront policy cannot hold as is";
        return MG_EINVAL;
    }
    const char *exp = apr_psprintf(pool, "%" APR_INT64_T_FMT, c->exp);
    const char *policy;
    int custom = c->scope != NULL || c->ip != NULL || c->nbf != 0;
    if (custom) {
        const char *res = base;
        if (c->scope != NULL) {
            if (strncmp(path, c->scope, strlen(c->scope)) != 0) {
                *why = "the path is not under the prefix";
                return MG_EINVAL;
            }
            res = apr_pstrcat(pool, o->origin, c->scope, "*", NULL);
        } else if (query != NULL) {
            /* '?' is a wildcard in a policy's Resource: "/v/a.j?g" would
             * also cover /v/a.jpg */
            *why = "a custom-policy CloudFront link cannot sign a query ('?' is a wildcard in "
                   "its Resource): sign the path, or a prefix";
            return MG_EINVAL;
        }
        const char *ip = NULL;
        if (c->ip != NULL)
            ip = strchr(c->ip, '/')
                     ? c->ip
                     : apr_pstrcat(pool, c->ip, strchr(c->ip, ':') ? "/128" : "/32", NULL);
        if (c->nbf != 0 && c->nbf >= c->exp) {
            *why = "--not-before is not before the expiry";
            return MG_EINVAL;
        }
        policy = apr_pstrcat(
            pool, "{\"Statement\":[{\"Resource\":\"", res,
            "\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":", exp, "}",
            c->nbf ? apr_psprintf(pool,
                                  ",\"DateGreaterThan\":{\"AWS:EpochTime\":%" APR_INT64_T_FMT "}",
                                  c->nbf)
                   : "",
            ip ? apr_pstrcat(pool, ",\"IpAddress\":{\"AWS:SourceIp\":\"", ip, "\"}", NULL) : "",
            "}}]}", NULL);
    } else {
        policy = apr_pstrcat(pool, "{\"Statement\":[{\"Resource\":\"", base,
                             "\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":", exp, "}}}]}",
                             NULL);
    }
    size_t pn = strlen(policy);
    if (pn > MG_CF_POLICY_MAX) {
        *why = "the policy would be longer than verifiers accept";
        return MG_EINVAL;
    }
    size_t kn = strlen(c->private_key);
    BIO *bio = kn < CF_PRIVATE_KEY_MAX ? BIO_new_mem_buf(c->private_key, (int)kn) : NULL;
    EVP_PKEY *priv = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    EVP_MD_CTX *ctx = NULL;
    unsigned char sig[MG_CF_SIG_MAX];
    size_t sn = sizeof(sig);
    mg_status_t st = MG_OK;
    if (priv == NULL) {
        *why = "the private key file is not an unencrypted PEM private key";
        st = MG_EINVAL;
    } else if (EVP_PKEY_eq(priv, o->pkey) != 1) {
        *why = apr_psprintf(pool,
                            "the private key is not the one of key '%s' (its public key "
                            "is in the key file)",
                            k->id);
        st = MG_EINVAL;
    } else if ((ctx = EVP_MD_CTX_new()) == NULL ||
               EVP_DigestSignInit_ex(ctx, NULL, o->sign_sha256 ? "SHA256" : "SHA1", NULL, NULL,
                                     priv, NULL) != 1 ||
               EVP_DigestSign(ctx, sig, &sn, (const unsigned char *)policy, pn) != 1) {
        *why = "signing failed (OpenSSL)";
        st = MG_ECRYPTO;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(priv);
    ERR_clear_error();
    if (st != MG_OK)
        return st;
    char *s64 = apr_palloc(pool, CF_SIG_B64_MAX + 1);
    mg_cf_b64_encode(sig, sn, s64);
    sg->base = base;
    sg->exp = exp;
    sg->s64 = s64;
    sg->custom = custom;
    sg->p64 = NULL;
    if (custom) {
        char *p64 = apr_palloc(pool, CF_POLICY_B64_MAX + 1);
        mg_cf_b64_encode((const unsigned char *)policy, pn, p64);
        sg->p64 = p64;
    }
    return MG_OK;
}

static mg_status_t cf_sign(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why)
{
    const cf_key_t *o = k->priv;
    const char *origin, *path, *query;
    mg_canon_t cn;
    cf_signed_t sg;
    if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, why) != MG_OK)
        return MG_EINVAL;
    if (*origin != '\0' && strcmp(origin, o->origin) != 0) {
        *why =
            apr_psprintf(pool, "the key signs for %s, not %s (option origin)", o->origin, origin);
        return MG_EINVAL;
    }
    /* "PATH?" is PATH: the verifier rebuilds the URL without an empty query,
     * as the Python signer writes it */
    if (query != NULL && *query == '\0')
        query = NULL;
    mg_status_t st = cf_sign_policy(pool, k, path, query, c, &sg, why);
    if (st != MG_OK)
        return st;
    const char *sep = query ? "&" : "?";
    const char *tail = o->sign_sha256 ? "&Hash-Algorithm=SHA256" : "";
    if (sg.custom)
        *out = apr_pstrcat(pool, sg.base, sep, "Policy=", sg.p64, "&Signature=", sg.s64,
                           "&Key-Pair-Id=", o->kpid, tail, NULL);
    else
        *out = apr_pstrcat(pool, sg.base, sep, "Expires=", sg.exp, "&Signature=", sg.s64,
                           "&Key-Pair-Id=", o->kpid, tail, NULL);
    return MG_OK;
}

/* The signed cookies for the prefix c->scope: CloudFront-Policy (a custom
 * policy whose Resource is the prefix on the key's origin, with a
 * trailing wildcard), CloudFront-Signature,
 * CloudFront-Key-Pair-Id and, for a SHA-256 key, CloudFront-Hash-Algorithm
 * (the values of a prefix link's parameters, as AWS's cookie signers write
 * them), one "NAME=VALUE" per line. */
static mg_status_t cf_sign_cookie(apr_pool_t *pool, const mg_fkey_t *k, const mg_fmt_claims_t *c,
                                  const char **out, const char **why)
{
    const cf_key_t *o = k->priv;
    cf_signed_t sg;
    if (c->scope == NULL || c->scope[0] != '/') {
        *why = "a CloudFront signed cookie covers a prefix (/DIR/)";
        return MG_EINVAL;
    }
    mg_status_t st = cf_sign_policy(pool, k, c->scope, NULL, c, &sg, why);
    if (st != MG_OK)
        return st;
    *out = apr_pstrcat(pool, cf_cookie_names[CF_POLICY], "=", sg.p64, "\n", cf_cookie_names[CF_SIG],
                       "=", sg.s64, "\n", cf_cookie_names[CF_KPID], "=", o->kpid,
                       o->sign_sha256 ? "\n" : "", o->sign_sha256 ? cf_cookie_names[CF_HASH] : "",
                       o->sign_sha256 ? "=SHA256" : "", NULL);
    return MG_OK;
}

const mg_fmt_t mg_fmt_cloudfront = {
    .name = "cloudfront",
    .caps =
        MG_FMT_CAP_IP | MG_FMT_CAP_SCOPE | MG_FMT_CAP_COOKIE | MG_FMT_CAP_NBF | MG_FMT_CAP_PRIVATE,
    .algs = MG_FALG_RSA_SHA1 | MG_FALG_ECDSA_SHA1,
    .default_alg = MG_FALG_RSA_SHA1,
    .secret = MG_SECRET_PEM,
    .options = cf_options,
    .key_init = cf_key_init,
    .params = cf_params,
    .verify = cf_verify,
    .sign = cf_sign,
    .cookies = cf_cookies,
    .verify_cookie = cf_verify_cookie,
    .sign_cookie = cf_sign_cookie,
};
