/* mg_keys.c — signed-link keys: key files, OpenSSL key objects, per-thread
 * MAC/digest contexts, signing and verification primitives, and the bounded
 * per-process cache of successful Ed25519 verifications.
 *
 * Threading: a loaded key is immutable and shared by all threads; its
 * pre-keyed HMAC digest states are only ever read (copied from). Each thread
 * keeps its own working EVP_MD_CTX (OpenSSL contexts that are written must
 * never be shared between threads) in thread-specific data. Nothing in a
 * thread's state depends on a key, so a reloaded policy can never meet a
 * stale context. The only lock is around the Ed25519 cache, held for a few
 * memcmp/memcpy of < 128 bytes.
 *
 * Supported OpenSSL 3 APIs only: the build defines OPENSSL_NO_DEPRECATED
 * (configure.ac), so a deprecated call does not compile.
 */
#include <pthread.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "mg_dirs.h"
#include "mg_file.h"
#include "mg_fmt.h"
#include "mg_keys.h"

#define MG_KEY_FILE_MAX 16384 /* no legitimate key file is larger */

struct mg_key {
    const char *id;
    size_t id_len; /* strlen(id): mg_keys_find_ref compares lengths first */
    mg_alg_t alg;
    uint64_t serial;                 /* process-unique: Ed25519 verification cache key */
    EVP_MD_CTX *hin, *hout;          /* HMAC: digest states after the inner and outer
                                        key blocks (RFC 2104), computed once, then
                                        only copied from (never written) */
    EVP_PKEY *pkey;                  /* Ed25519 */
    int is_private;                  /* Ed25519 private key: can sign */
    EVP_MD_CTX *ed_sign, *ed_verify; /* Ed25519: initialised once, copied per use
                                        (no algorithm fetch per request) */
};

/* ------------------------------------------------------------------ */
/* Process-wide OpenSSL state, fetched once                             */
/* ------------------------------------------------------------------ */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static EVP_MD *g_sha256; /* fetched once: no per-request algorithm fetch */
static EVP_MD *g_sha1;
static pthread_key_t g_tls_key;
static int g_tls_ok;
static uint64_t g_serial;

typedef struct mg_tls {
    EVP_MD_CTX *hmac; /* HMAC: a copy of a key's inner, then outer state */
    EVP_MD_CTX *md;   /* Ed25519 sign/verify */
} mg_tls_t;

/* This thread's mg_tls_t once tls_get has found it: a thread-local load
 * instead of pthread_once and pthread_getspecific per MAC. The pthread key
 * stays: its destructor frees the contexts when the thread ends. */
static _Thread_local mg_tls_t *g_tls_cached;

static void tls_free(void *p)
{
    mg_tls_t *t = p;
    if (t == NULL)
        return;
    if (g_tls_cached == t) /* run by the ending thread: a MAC after this allocates anew */
        g_tls_cached = NULL;
    EVP_MD_CTX_free(t->hmac);
    EVP_MD_CTX_free(t->md);
    OPENSSL_free(t);
}

static void global_init(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    g_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

/* The thread key is made on first use, not with the algorithms: Apache's
 * parent loads policies (and so keys) but never verifies, and unloads the
 * module on every restart — a key made there would leak one pthread key per
 * restart and keep a destructor pointing into unmapped code. */
static pthread_once_t g_tls_once = PTHREAD_ONCE_INIT;
static void tls_init(void)
{
    g_tls_ok = pthread_key_create(&g_tls_key, tls_free) == 0;
}

static int ensure_init(void)
{
    pthread_once(&g_once, global_init);
    return g_sha256 != NULL && g_sha1 != NULL;
}

static mg_tls_t *tls_get(void)
{
    if (g_tls_cached != NULL)
        return g_tls_cached;
    pthread_once(&g_tls_once, tls_init);
    if (!g_tls_ok)
        return NULL;
    mg_tls_t *t = pthread_getspecific(g_tls_key);
    if (t == NULL) {
        t = OPENSSL_zalloc(sizeof(*t));
        if (t == NULL)
            return NULL;
        if (pthread_setspecific(g_tls_key, t) != 0) {
            OPENSSL_free(t);
            return NULL;
        }
    }
    g_tls_cached = t;
    return t;
}

/* This thread's working context (`hmac` selects which of the two), or
 * NULL. When TLS is unavailable the caller gets a private context
 * (*owned = 1) to free after use. */
static EVP_MD_CTX *md_ctx_get(int hmac, int *owned)
{
    *owned = 0;
    mg_tls_t *t = tls_get();
    if (t == NULL) {
        *owned = 1;
        return EVP_MD_CTX_new();
    }
    EVP_MD_CTX **slot = hmac ? &t->hmac : &t->md;
    if (*slot == NULL)
        *slot = EVP_MD_CTX_new();
    return *slot;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

mg_alg_t mg_alg_parse(const char *name)
{
    if (name == NULL)
        return MG_ALG_NONE;
    if (strcmp(name, "hmac-sha256") == 0)
        return MG_ALG_HMAC_SHA256;
    if (strcmp(name, "hmac-sha1") == 0)
        return MG_ALG_HMAC_SHA1;
    if (strcmp(name, "ed25519") == 0)
        return MG_ALG_ED25519;
    return MG_ALG_NONE;
}

const char *mg_alg_name(mg_alg_t alg)
{
    switch (alg) {
    case MG_ALG_HMAC_SHA256:
        return "hmac-sha256";
    case MG_ALG_HMAC_SHA1:
        return "hmac-sha1";
    case MG_ALG_ED25519:
        return "ed25519";
    default:
        return "none";
    }
}

int mg_key_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > MG_KEY_ID_MAX || id[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

const char *mg_key_id(const mg_key_t *key)
{
    return key->id;
}
mg_alg_t mg_key_alg(const mg_key_t *key)
{
    return key->alg;
}
int mg_key_can_sign(const mg_key_t *key)
{
    return key->alg != MG_ALG_ED25519 || key->is_private;
}

/* ------------------------------------------------------------------ */
/* base64url                                                           */
/* ------------------------------------------------------------------ */

/* Hand-written because OpenSSL's EVP_DecodeBlock accepts whitespace and
 * requires padding, and APR's decoder is lenient; a signature must have
 * exactly one accepted spelling. */
static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Every pair of base64url characters, indexed by the 12 bits they encode:
 * a group of three bytes is two lookups and two 2-byte copies instead of
 * four lookups (the signer encodes a tag per link). 8 KiB, made by the
 * compiler from B64U_CHAR, the alphabet above as arithmetic;
 * test_token compares every entry with a six-bits-at-a-time reference. */
#define B64U_CHAR(v)                                                                               \
    ((v) < 26    ? 'A' + (v)                                                                       \
     : (v) < 52  ? 'a' + ((v)-26)                                                                  \
     : (v) < 62  ? '0' + ((v)-52)                                                                  \
     : (v) == 62 ? '-'                                                                             \
                 : '_')
#define B64U_P(h, l)                                                                               \
    {                                                                                              \
        (char)B64U_CHAR(h), (char)B64U_CHAR(l)                                                     \
    }
#define B64U_P8(h, l)                                                                              \
    B64U_P(h, l), B64U_P(h, l + 1), B64U_P(h, l + 2), B64U_P(h, l + 3), B64U_P(h, l + 4),          \
        B64U_P(h, l + 5), B64U_P(h, l + 6), B64U_P(h, l + 7)
#define B64U_ROW(h)                                                                                \
    B64U_P8(h, 0), B64U_P8(h, 8), B64U_P8(h, 16), B64U_P8(h, 24), B64U_P8(h, 32), B64U_P8(h, 40),  \
        B64U_P8(h, 48), B64U_P8(h, 56)
#define B64U_ROW8(h)                                                                               \
    B64U_ROW(h), B64U_ROW(h + 1), B64U_ROW(h + 2), B64U_ROW(h + 3), B64U_ROW(h + 4),               \
        B64U_ROW(h + 5), B64U_ROW(h + 6), B64U_ROW(h + 7)
static const char b64u_pair[4096][2] = {B64U_ROW8(0),  B64U_ROW8(8),  B64U_ROW8(16), B64U_ROW8(24),
                                        B64U_ROW8(32), B64U_ROW8(40), B64U_ROW8(48), B64U_ROW8(56)};

size_t mg_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3, o += 4) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        memcpy(out + o, b64u_pair[v >> 12], 2);
        memcpy(out + o + 2, b64u_pair[v & 0xfff], 2);
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[(v >> 12) & 63];
        out[o++] = b64u[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

/* Decoding tables, one per position in a group of four: the complement
 * of the character's 6-bit value shifted into place, 0 for a character
 * outside the alphabet. ANDing a group's four gives the complement of its
 * 24 bits with the top byte 0xff exactly when all four are in the
 * alphabet: one AND per character, no test per character. */
// clang-format off
#define B64U_ALPHABET(X) \
    X('A', 0) X('B', 1) X('C', 2) X('D', 3) X('E', 4) X('F', 5) X('G', 6) X('H', 7) \
    X('I', 8) X('J', 9) X('K', 10) X('L', 11) X('M', 12) X('N', 13) X('O', 14) X('P', 15) \
    X('Q', 16) X('R', 17) X('S', 18) X('T', 19) X('U', 20) X('V', 21) X('W', 22) X('X', 23) \
    X('Y', 24) X('Z', 25) X('a', 26) X('b', 27) X('c', 28) X('d', 29) X('e', 30) X('f', 31) \
    X('g', 32) X('h', 33) X('i', 34) X('j', 35) X('k', 36) X('l', 37) X('m', 38) X('n', 39) \
    X('o', 40) X('p', 41) X('q', 42) X('r', 43) X('s', 44) X('t', 45) X('u', 46) X('v', 47) \
    X('w', 48) X('x', 49) X('y', 50) X('z', 51) X('0', 52) X('1', 53) X('2', 54) X('3', 55) \
    X('4', 56) X('5', 57) X('6', 58) X('7', 59) X('8', 60) X('9', 61) X('-', 62) X('_', 63)
// clang-format on
#define B64U_D18(c, v) [c] = ~((uint32_t)(v) << 18),
#define B64U_D12(c, v) [c] = ~((uint32_t)(v) << 12),
#define B64U_D6(c, v) [c] = ~((uint32_t)(v) << 6),
#define B64U_D0(c, v) [c] = ~(uint32_t)(v),
/* The four tables are one array: the decoder reaches all four from one
 * base register (an offset per position) instead of four, so it saves
 * fewer registers on entry and loads fewer table addresses (-11
 * instructions for a 43-character signature). */
static const uint32_t b64u_dec[4][256] = {{B64U_ALPHABET(B64U_D18)},
                                          {B64U_ALPHABET(B64U_D12)},
                                          {B64U_ALPHABET(B64U_D6)},
                                          {B64U_ALPHABET(B64U_D0)}};
#define b64u_d18 b64u_dec[0]
#define b64u_d12 b64u_dec[1]
#define b64u_d6 b64u_dec[2]
#define b64u_d0 b64u_dec[3]

long mg_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4 == 1 || (len * 3) / 4 > cap)
        return -1;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, i = 0;
    uint32_t all = 0xffffffffu, stray = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Two groups (six bytes) per step, written with one 8-byte store while
     * that store stays inside out[0, cap): a signature's 43 characters
     * cost a fifth less than group by group. The two bytes after the six
     * are overwritten by the next step or lie past the result. The top
     * byte of each ~x is 0 when all four characters are in the alphabet
     * (else `all` refuses the input and the output does not matter), so
     * the shifts need no masks. */
    size_t steps = len / 8;
    if (cap < 8)
        steps = 0;
    else if (steps > (cap - 8) / 6 + 1)
        steps = (cap - 8) / 6 + 1;
    for (const unsigned char *end = p + 8 * steps; p < end; p += 8, o += 6) {
        uint32_t x = b64u_d18[p[0]] & b64u_d12[p[1]] & b64u_d6[p[2]] & b64u_d0[p[3]];
        uint32_t y = b64u_d18[p[4]] & b64u_d12[p[5]] & b64u_d6[p[6]] & b64u_d0[p[7]];
        all &= x & y;
        uint64_t v = __builtin_bswap64((uint64_t)~x << 40 | (uint64_t)~y << 16);
        memcpy(out + o, &v, 8);
    }
    len -= 8 * steps;
#endif
    for (; i + 4 <= len; i += 4) {
        uint32_t x = b64u_d18[p[i]] & b64u_d12[p[i + 1]] & b64u_d6[p[i + 2]] & b64u_d0[p[i + 3]];
        uint32_t v = ~x;
        all &= x;
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
        o += 3;
    }
    if (len - i >= 2) {
        uint32_t x = b64u_d18[p[i]] & b64u_d12[p[i + 1]];
        if (len - i == 3)
            x &= b64u_d6[p[i + 2]];
        uint32_t v = ~x & 0xffffffu;
        all &= x;
        out[o++] = (unsigned char)(v >> 16);
        if (len - i == 3) {
            out[o++] = (unsigned char)(v >> 8);
            stray = v & 0xff; /* unused bits set: another spelling */
        } else {
            stray = v & 0xffff;
        }
    }
    return (all >> 24) != 0xff || stray != 0 ? -1 : (long)o;
}

/* ------------------------------------------------------------------ */
/* Key objects                                                          */
/* ------------------------------------------------------------------ */

static apr_status_t key_cleanup(void *p)
{
    mg_key_t *k = p;
    EVP_MD_CTX_free(k->hin); /* the provider cleanses the freed states */
    EVP_MD_CTX_free(k->hout);
    EVP_MD_CTX_free(k->ed_sign);
    EVP_MD_CTX_free(k->ed_verify);
    EVP_PKEY_free(k->pkey);
    k->hin = k->hout = NULL;
    k->ed_sign = k->ed_verify = NULL;
    k->pkey = NULL;
    return APR_SUCCESS;
}

static mg_key_t *key_new(apr_pool_t *pool, const char *id, mg_alg_t alg)
{
    mg_key_t *k = apr_pcalloc(pool, sizeof(*k));
    k->id_len = strlen(id);
    k->id = apr_pstrmemdup(pool, id, k->id_len);
    k->alg = alg;
    k->serial = __atomic_add_fetch(&g_serial, 1, __ATOMIC_RELAXED);
    apr_pool_cleanup_register(pool, k, key_cleanup, apr_pool_cleanup_null);
    return k;
}

/* Hash the padded key blocks once (RFC 2104): each MAC then starts from a
 * copy of these states and costs the message's blocks plus one outer block. */
static int hmac_prekey(mg_key_t *k, const EVP_MD *md, const unsigned char *secret, size_t len)
{
    unsigned char kb[EVP_MAX_MD_SIZE > 128 ? EVP_MAX_MD_SIZE : 128], pad[sizeof(kb)];
    int bs = EVP_MD_get_block_size(md);
    unsigned int dn = 0;
    int ok = bs > 0 && (size_t)bs <= sizeof(kb);
    memset(kb, 0, sizeof(kb));
    if (ok && len > (size_t)bs)
        ok = EVP_Digest(secret, len, kb, &dn, md, NULL);
    else if (ok)
        memcpy(kb, secret, len);
    k->hin = EVP_MD_CTX_new();
    k->hout = EVP_MD_CTX_new();
    ok = ok && k->hin != NULL && k->hout != NULL;
    for (int i = 0; ok && i < bs; i++)
        pad[i] = kb[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex2(k->hin, md, NULL) && EVP_DigestUpdate(k->hin, pad, (size_t)bs);
    for (int i = 0; ok && i < bs; i++)
        pad[i] = kb[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex2(k->hout, md, NULL) && EVP_DigestUpdate(k->hout, pad, (size_t)bs);
    OPENSSL_cleanse(kb, sizeof(kb));
    OPENSSL_cleanse(pad, sizeof(pad));
    return ok;
}

mg_status_t mg_key_from_secret(apr_pool_t *pool, const char *id, mg_alg_t alg,
                               const unsigned char *secret, size_t len, mg_key_t **out,
                               const char **why)
{
    if (!mg_key_id_valid(id)) {
        *why = "key id must be 1-64 characters A-Z a-z 0-9 . _ - (not starting with '.')";
        return MG_EINVAL;
    }
    if (alg != MG_ALG_HMAC_SHA256 && alg != MG_ALG_HMAC_SHA1) {
        *why = "not an HMAC algorithm";
        return MG_EINVAL;
    }
    size_t min = alg == MG_ALG_HMAC_SHA256 ? MG_HMAC_MIN_SHA256 : MG_HMAC_MIN_SHA1;
    if (len < min || len > MG_HMAC_MAX) {
        *why = apr_psprintf(pool,
                            "an %s secret must be %" APR_SIZE_T_FMT " to %d bytes, this one has "
                            "%" APR_SIZE_T_FMT,
                            mg_alg_name(alg), (apr_size_t)min, MG_HMAC_MAX, (apr_size_t)len);
        return MG_EINVAL;
    }
    if (!ensure_init()) {
        *why = "OpenSSL has no HMAC or SHA-256";
        return MG_ECRYPTO;
    }
    mg_key_t *k = key_new(pool, id, alg);
    if (!hmac_prekey(k, alg == MG_ALG_HMAC_SHA256 ? g_sha256 : g_sha1, secret, len)) {
        ERR_clear_error();
        *why = "OpenSSL refused to initialise the HMAC";
        return MG_ECRYPTO;
    }
    *out = k;
    return MG_OK;
}

static mg_status_t key_from_hmac_line(apr_pool_t *pool, const char *id, mg_alg_t alg,
                                      const char *text, size_t len, mg_key_t **out,
                                      const char **why)
{
    const char *colon = memchr(text, ':', len);
    if (colon == NULL || colon - text < 3) {
        *why = "not a key file: expected 'mg-hmac-sha256:<base64url>' or a PEM Ed25519 key";
        return MG_EINVAL;
    }
    const char *name = apr_pstrmemdup(pool, text + 3, (apr_size_t)(colon - text - 3));
    mg_alg_t falg = mg_alg_parse(name);
    if (falg != MG_ALG_HMAC_SHA256 && falg != MG_ALG_HMAC_SHA1) {
        *why = apr_psprintf(
            pool, "unknown key type 'mg-%s' (expected mg-hmac-sha256 or mg-hmac-sha1)", name);
        return MG_EINVAL;
    }
    if (alg != MG_ALG_NONE && alg != falg) {
        *why = apr_psprintf(pool, "the file holds an %s key but %s was asked for",
                            mg_alg_name(falg), mg_alg_name(alg));
        return MG_EINVAL;
    }
    const char *b = colon + 1;
    size_t blen = len - (size_t)(b - text);
    if (blen > 0 && b[blen - 1] == '\n')
        blen--; /* exactly one optional final newline */
    unsigned char secret[MG_HMAC_MAX + 3];
    long n = mg_b64url_decode(b, blen, secret, sizeof(secret));
    if (n < 0) {
        *why = "the secret is not valid base64url without padding on a single line";
        return MG_EINVAL;
    }
    mg_status_t st = mg_key_from_secret(pool, id, falg, secret, (size_t)n, out, why);
    OPENSSL_cleanse(secret, sizeof(secret));
    return st;
}

/* An Ed25519 public key of small order accepts one fixed signature for every
 * message (with the identity point, R = the identity and S = 0 verify
 * anything), and OpenSSL takes such keys: refuse them, and any encoding whose
 * y is not below p (a second spelling of a point). The small-order points are
 * libsodium's list, compared without the sign bit; p and p + 1 (0 and 1 again)
 * are among the non-canonical ones. */
static int ed25519_public_weak(const unsigned char pk[32])
{
    static const unsigned char small[5][32] = {
        {0},
        {1},
        {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
         0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
         0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
        {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
         0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
         0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
        {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    };
    for (size_t j = 0; j < sizeof(small) / sizeof(small[0]); j++)
        if (memcmp(pk, small[j], 31) == 0 && (pk[31] & 0x7f) == small[j][31])
            return 1;
    if ((pk[31] & 0x7f) != 0x7f || pk[0] < 0xed)
        return 0;
    for (size_t i = 1; i < 31; i++)
        if (pk[i] != 0xff)
            return 0;
    return 1; /* y >= 2^255 - 19 */
}

static mg_status_t key_from_pem(apr_pool_t *pool, const char *id, mg_alg_t alg, const char *text,
                                size_t len, mg_key_t **out, const char **why)
{
    if (alg != MG_ALG_NONE && alg != MG_ALG_ED25519) {
        *why = apr_psprintf(pool,
                            "the file holds a PEM key but %s was asked for (for an Ed25519 key, "
                            "write 'alg: ed25519' in the key entry, or give mgctl --alg ed25519)",
                            mg_alg_name(alg));
        return MG_EINVAL;
    }
    if (!mg_key_id_valid(id)) {
        *why = "key id must be 1-64 characters A-Z a-z 0-9 . _ - (not starting with '.')";
        return MG_EINVAL;
    }
    if (!ensure_init()) {
        *why = "OpenSSL has no HMAC or SHA-256";
        return MG_ECRYPTO;
    }
    int is_private = strstr(text, "-----BEGIN PRIVATE KEY-----") != NULL;
    int is_public = strstr(text, "-----BEGIN PUBLIC KEY-----") != NULL;
    if (is_private == is_public) {
        *why = "expected one PEM 'PRIVATE KEY' (PKCS#8) or 'PUBLIC KEY' block";
        return MG_EINVAL;
    }
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *pkey = NULL;
    if (bio != NULL)
        pkey = is_private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                          : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (pkey == NULL) {
        *why = "the PEM block could not be decoded (encrypted keys are not supported)";
        return MG_EINVAL;
    }
    if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        EVP_PKEY_free(pkey);
        *why = "the PEM key is not an Ed25519 key";
        return MG_EINVAL;
    }
    unsigned char pub[32];
    size_t plen = sizeof(pub);
    if (EVP_PKEY_get_raw_public_key(pkey, pub, &plen) != 1 || plen != sizeof(pub) ||
        ed25519_public_weak(pub)) {
        ERR_clear_error();
        EVP_PKEY_free(pkey);
        *why = "the Ed25519 public key is a point of small order or not in canonical form: it "
               "would accept one forged signature for every link (not a key keygen makes)";
        return MG_EINVAL;
    }
    mg_key_t *k = key_new(pool, id, MG_ALG_ED25519);
    k->pkey = pkey;
    k->is_private = is_private;
    k->ed_verify = EVP_MD_CTX_new();
    k->ed_sign = is_private ? EVP_MD_CTX_new() : NULL;
    if (k->ed_verify == NULL ||
        EVP_DigestVerifyInit_ex(k->ed_verify, NULL, NULL, NULL, NULL, pkey, NULL) != 1 ||
        (is_private && (k->ed_sign == NULL || EVP_DigestSignInit_ex(k->ed_sign, NULL, NULL, NULL,
                                                                    NULL, pkey, NULL) != 1))) {
        ERR_clear_error();
        *why = "OpenSSL refused to prepare the Ed25519 key";
        return MG_ECRYPTO;
    }
    *out = k;
    return MG_OK;
}

mg_status_t mg_key_from_text(apr_pool_t *pool, const char *id, mg_alg_t alg, const char *text,
                             size_t len, mg_key_t **out, const char **why)
{
    if (len >= MG_KEY_FILE_MAX || memchr(text, '\0', len) != NULL) {
        *why = "not a key file (too large or binary)";
        return MG_EINVAL;
    }
    /* NUL-terminated copy for strstr; it holds secret material, so it is
     * cleansed below rather than left to the pool. */
    char *buf = apr_pstrmemdup(pool, text, len);
    mg_status_t st;
    if (len >= 3 && memcmp(buf, "mg-", 3) == 0)
        st = key_from_hmac_line(pool, id, alg, buf, len, out, why);
    else if (strstr(buf, "-----BEGIN ") != NULL)
        st = key_from_pem(pool, id, alg, buf, len, out, why);
    else {
        *why = "not a key file: expected 'mg-hmac-sha256:<base64url>' or a PEM Ed25519 key";
        st = MG_EINVAL;
    }
    OPENSSL_cleanse(buf, len);
    return st;
}

/* A missing key file is usually one nobody has made yet: name the mgctl
 * command that makes it (keygen writes DIR/ID.key, and DIR/ID.pub for
 * Ed25519), and say where it writes when the policy names another file. */
static const char *keygen_hint(apr_pool_t *pool, const char *id, mg_alg_t alg, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dir = slash == NULL   ? "."
                      : slash == path ? "/"
                                      : apr_pstrndup(pool, path, (apr_size_t)(slash - path));
    const char *base = slash == NULL ? path : slash + 1;
    const char *opt = alg == MG_ALG_ED25519     ? " --alg ed25519"
                      : alg == MG_ALG_HMAC_SHA1 ? " --alg hmac-sha1"
                                                : "";
    const char *cmd;
    if (id == NULL || id[0] == '\0')
        return "";
    cmd = apr_psprintf(pool, "mgctl keygen --id %s%s --out %s", id, opt, dir);
    if (strcmp(base, apr_pstrcat(pool, id, ".key", NULL)) == 0 ||
        (alg == MG_ALG_ED25519 && strcmp(base, apr_pstrcat(pool, id, ".pub", NULL)) == 0))
        return apr_psprintf(pool, " (create it with '%s')", cmd);
    return apr_psprintf(pool, " ('%s' creates %s/%s.key; name that file in the policy)", cmd, dir,
                        id);
}

mg_status_t mg_key_load_file(apr_pool_t *pool, const char *id, mg_alg_t alg, const char *path,
                             mg_key_t **out, int *insecure, const char **why)
{
    mg_file_t f;
    *insecure = 0;
    /* mg_file_read refuses a FIFO (or a device) named as a key file rather
     * than hang `apachectl configtest` until someone writes to it. */
    if (mg_file_read(pool, path, MG_KEY_FILE_MAX - 1, &f, NULL) != MG_OK) {
        char ebuf[128];
        switch (f.error) {
        case MG_FILE_CANNOT_OPEN:
            *why = apr_psprintf(pool, "cannot read key file '%s': %s%s", path,
                                apr_strerror(f.rv, ebuf, sizeof(ebuf)),
                                APR_STATUS_IS_ENOENT(f.rv) ? keygen_hint(pool, id, alg, path) : "");
            return MG_EIO;
        case MG_FILE_NOT_REGULAR:
            *why = apr_psprintf(pool, "key file '%s' is not a regular file", path);
            return MG_EIO;
        case MG_FILE_TOO_LARGE:
            *why = apr_psprintf(pool, "key file '%s' is empty or too large to be a key", path);
            return MG_EINVAL;
        default:
            *why = apr_psprintf(pool, "cannot read key file '%s'", path);
            return MG_EIO;
        }
    }
    if (f.len == 0) {
        *why = apr_psprintf(pool, "key file '%s' is empty or too large to be a key", path);
        return MG_EINVAL;
    }
    mg_status_t st = mg_key_from_text(pool, id, alg, f.data, f.len, out, why);
    OPENSSL_cleanse(f.data, f.len);
    if (st != MG_OK) {
        *why = apr_psprintf(pool, "key file '%s': %s", path, *why);
        return st;
    }
    /* public Ed25519 keys are meant to be readable, never writable: a
     * replaced verification key accepts the replacer's links */
    if (mg_key_can_sign(*out) && (f.protection & (APR_FPROT_GREAD | APR_FPROT_WREAD)) != 0)
        *insecure |= MG_KEY_FILE_READABLE;
    *insecure |= mg_key_file_writable(f.protection);
    return MG_OK;
}

int mg_key_file_writable(apr_fileperms_t protection)
{
    if (protection & APR_FPROT_WWRITE)
        return MG_KEY_FILE_WRITABLE_BY_ALL;
    return (protection & APR_FPROT_GWRITE) ? MG_KEY_FILE_WRITABLE : 0;
}

void mg_key_file_check(const mg_policy_t *policy, const mg_keyref_t *r, int insecure,
                       mg_diags_t *diags)
{
    if (insecure & MG_KEY_FILE_READABLE)
        mg_diag_add(diags, MG_SEV_WARNING, policy->file, r->pos.line, r->pos.col,
                    "key-file-permissions",
                    "key file '%s' of key '%s' is readable by group or others (chmod 600 it)",
                    r->file, r->id);
    if (insecure & MG_KEY_FILE_WRITABLE)
        mg_diag_add(diags, MG_SEV_WARNING, policy->file, r->pos.line, r->pos.col,
                    "key-file-permissions",
                    "key file '%s' of key '%s' is " MG_KEY_FILE_WRITABLE_MSG, r->file, r->id);
    if (insecure & MG_KEY_FILE_WRITABLE_BY_ALL)
        mg_diag_add(
            diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-file-permissions",
            "key file '%s' of key '%s' is " MG_KEY_FILE_WRITABLE_BY_ALL_MSG, r->file, r->id);
    /* a directory above the key that its group or everyone can write (no
     * sticky bit) lets them rename their own key over it: the same rule as
     * for the file's own write bits (mg_dirs.h) */
    mg_dirs_check(policy->pool, r->file,
                  apr_psprintf(policy->pool, "key file '%s' of key '%s'", r->file, r->id),
                  MG_DIRS_GROUP_OR_OTHERS, MG_SEV_ERROR, diags, policy->file, r->pos.line,
                  r->pos.col, "key-file-permissions");
}

mg_status_t mg_keys_load(mg_policy_t *policy, mg_diags_t *diags)
{
    mg_status_t result = MG_OK;
    if (policy->keys == NULL)
        return MG_OK;
    mg_keyref_t *refs = (mg_keyref_t *)policy->keys->elts;
    for (int i = 0; i < policy->keys->nelts; i++) {
        mg_keyref_t *r = &refs[i];
        const char *why = NULL;
        int insecure = 0;
        r->key = NULL;
        r->fkey = NULL;
        if (r->format != NULL) { /* a foreign format: lib/mg_fmt.c */
            mg_status_t st = mg_fmt_key_load(policy, r, diags);
            if (st != MG_OK)
                result = st;
            continue;
        }
        if (r->alg == NULL)
            r->alg = "hmac-sha256";
        mg_alg_t alg = mg_alg_parse(r->alg);
        if (alg == MG_ALG_NONE) {
            mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-alg",
                        "key '%s': unknown algorithm '%s' (hmac-sha256, hmac-sha1 or ed25519)",
                        r->id, r->alg);
            result = MG_EINVAL;
            continue;
        }
        if (r->file == NULL) {
            mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-file",
                        "key '%s' has no file", r->id);
            result = MG_EINVAL;
            continue;
        }
        mg_key_t *k;
        mg_status_t st = mg_key_load_file(policy->pool, r->id, alg, r->file, &k, &insecure, &why);
        if (st != MG_OK) {
            mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-file",
                        "key '%s': %s", r->id, why);
            result = st;
            continue;
        }
        if (r->sign && !mg_key_can_sign(k)) {
            mg_diag_add(
                diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-not-signing",
                "key '%s' has 'sign: true' but its file holds only an Ed25519 public key", r->id);
            result = MG_EINVAL;
            continue;
        }
        mg_key_file_check(policy, r, insecure, diags);
        r->key = k;
    }
    if (mg_fmt_check_params(policy, diags) != MG_OK)
        result = MG_EINVAL;
    return result;
}

/* a[0, n) == b[0, n) for key ids (public: no constant time needed). 8 to
 * 16 bytes, most ids, are two 8-byte words that overlap in the middle,
 * read only inside [0, n), without a memcmp call; other lengths call it. */
static inline int id_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, a, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b0, b, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return memcmp(a, b, n) == 0;
}

const mg_keyref_t *mg_keys_find_ref(const mg_policy_t *policy, const char *kid, size_t len)
{
    if (policy == NULL || policy->keys == NULL)
        return NULL;
    const mg_keyref_t *refs = (const mg_keyref_t *)policy->keys->elts;
    /* r->id is r->key->id (the key was loaded under it), whose length
     * the key keeps: no strlen per key and request */
    for (int i = 0; i < policy->keys->nelts; i++) {
        const mg_keyref_t *r = &refs[i];
        if (r->key != NULL && r->key->id_len == len && id_eq(r->key->id, kid, len))
            return r;
    }
    return NULL;
}

const mg_key_t *mg_keys_find(const mg_policy_t *policy, const char *kid, size_t len)
{
    const mg_keyref_t *r = mg_keys_find_ref(policy, kid, len);
    return r != NULL ? r->key : NULL;
}

const mg_key_t *mg_keys_signing(const mg_policy_t *policy)
{
    if (policy == NULL || policy->keys == NULL)
        return NULL;
    const mg_keyref_t *refs = (const mg_keyref_t *)policy->keys->elts;
    for (int i = 0; i < policy->keys->nelts; i++)
        if (refs[i].sign && !refs[i].revoked && refs[i].key != NULL)
            return refs[i].key;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Sign / verify                                                        */
/* ------------------------------------------------------------------ */

/* HMAC from the key's pre-keyed states, through EVP digests only: this
 * thread's context becomes a copy of the inner state, takes the message,
 * yields the inner hash; becomes a copy of the outer state, takes the inner
 * hash, yields the tag. Per MAC: the message's blocks and one outer block,
 * two EVP_MD_CTX_copy_ex (each a provider dupctx: malloc + memcpy, and the
 * cleansing free of the previous state), no algorithm fetch, no parameter
 * parsing, no lock. Of the supported ways measured (bench/RESULTS.md,
 * "HMAC candidates") this is the cheapest: EVP_MAC_init on a per-thread keyed
 * EVP_MAC_CTX makes the same two copies under the EVP_MAC dispatch and
 * parameter handling; EVP_MAC_CTX_dup allocates four contexts per MAC;
 * EVP_Q_mac fetches and keys from scratch.
 * From OpenSSL 3.5 on (openssl/openssl#25726, a provider copyctx) a copy
 * between two contexts of the same digest that both hold a state is a copy
 * in place, without the free and malloc: the second and every later copy
 * here is that case, so the glue shrinks there with no change to this code.
 * The tag stays in this thread's context until its next MAC (cleansed when
 * the copy frees it); it is less sensitive than the key states every thread
 * reads, and an EVP_MD_CTX_reset here would cost an atomic reference count
 * on the shared EVP_MD per MAC. */
static int hmac_compute(const mg_key_t *key, const unsigned char *msg, size_t len,
                        unsigned char *out, size_t *out_len)
{
    /* this thread's context, once it has one, without a call */
    int owned = 0;
    EVP_MD_CTX *c = g_tls_cached != NULL ? g_tls_cached->hmac : NULL;
    if (c == NULL)
        c = md_ctx_get(1, &owned);
    unsigned char inner[EVP_MAX_MD_SIZE];
    unsigned int n = 0, m = 0;
    int ok = c != NULL && EVP_MD_CTX_copy_ex(c, key->hin) && EVP_DigestUpdate(c, msg, len) &&
             EVP_DigestFinal_ex(c, inner, &n) && EVP_MD_CTX_copy_ex(c, key->hout) &&
             EVP_DigestUpdate(c, inner, n) && EVP_DigestFinal_ex(c, out, &m);
    OPENSSL_cleanse(inner, n);
    if (owned)
        EVP_MD_CTX_free(c);
    if (!ok)
        ERR_clear_error();
    *out_len = ok ? m : 0;
    return ok;
}

/* Non-zero when a[0, n) and b[0, n) differ, in time that depends on n only
 * (n is public: the tag length of the algorithm). CRYPTO_memcmp throughout;
 * OpenSSL's x86_64 CRYPTO_memcmp has a fast path for exactly 16 bytes and a
 * byte loop otherwise (~8 instructions a byte), so a 32-byte HMAC-SHA256
 * tag is compared as two 16-byte halves, both always compared. */
static int tag_differs(const unsigned char *a, const unsigned char *b, size_t n)
{
    if (n == 32) /* HMAC-SHA256: the two halves, no loop */
        return CRYPTO_memcmp(a, b, 16) | CRYPTO_memcmp(a + 16, b + 16, 16);
    int d = 0;
    size_t i = 0;
    for (; n - i >= 16; i += 16)
        d |= CRYPTO_memcmp(a + i, b + i, 16);
    if (i < n)
        d |= CRYPTO_memcmp(a + i, b + i, n - i);
    return d;
}

mg_status_t mg_key_sign(const mg_key_t *key, const unsigned char *msg, size_t msg_len,
                        unsigned char *sig, size_t *sig_len)
{
    if (key->alg != MG_ALG_ED25519)
        return hmac_compute(key, msg, msg_len, sig, sig_len) ? MG_OK : MG_ECRYPTO;
    if (!key->is_private)
        return MG_EINVAL;
    int owned;
    EVP_MD_CTX *md = md_ctx_get(0, &owned);
    *sig_len = MG_SIG_MAX;
    int ok = md != NULL && EVP_MD_CTX_copy_ex(md, key->ed_sign) == 1 &&
             EVP_DigestSign(md, sig, sig_len, msg, msg_len) == 1;
    if (md != NULL)
        EVP_MD_CTX_reset(md);
    if (owned)
        EVP_MD_CTX_free(md);
    if (!ok)
        ERR_clear_error();
    return ok ? MG_OK : MG_ECRYPTO;
}

/* Ed25519 verification cache: direct-mapped, bounded, per process. An entry
 * vouches that `sig` is a valid signature by key `serial` over a message
 * with SHA-256 `digest`; keying on the digest too means a valid signature
 * can never be replayed onto another path or claim set. */
#define MG_ED_CACHE 512
typedef struct ed_entry {
    uint64_t serial;
    int64_t valid_until;
    unsigned char digest[32];
    unsigned char sig[64];
} ed_entry_t;
static ed_entry_t g_ed_cache[MG_ED_CACHE];
static pthread_mutex_t g_ed_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned ed_slot(const unsigned char *sig)
{
    /* signature bytes are uniformly distributed: any two make a fine index */
    return ((unsigned)sig[0] | (unsigned)sig[1] << 8) % MG_ED_CACHE;
}

static int ed_cache_hit(uint64_t serial, const unsigned char *digest, const unsigned char *sig,
                        int64_t now)
{
    int hit = 0;
    ed_entry_t *e = &g_ed_cache[ed_slot(sig)];
    pthread_mutex_lock(&g_ed_lock);
    /* constant time: a cached signature belongs to someone else's link */
    if (e->serial == serial && e->valid_until >= now && CRYPTO_memcmp(e->sig, sig, 64) == 0 &&
        memcmp(e->digest, digest, 32) == 0)
        hit = 1;
    pthread_mutex_unlock(&g_ed_lock);
    return hit;
}

static void ed_cache_put(uint64_t serial, const unsigned char *digest, const unsigned char *sig,
                         int64_t now, int64_t valid_until)
{
    ed_entry_t *e = &g_ed_cache[ed_slot(sig)];
    pthread_mutex_lock(&g_ed_lock);
    /* keep a live entry of another token only if ours is already dead */
    if (valid_until >= now) {
        e->serial = serial;
        e->valid_until = valid_until;
        memcpy(e->digest, digest, 32);
        memcpy(e->sig, sig, 64);
    }
    pthread_mutex_unlock(&g_ed_lock);
}

/* Ed25519 verification with the cache; a function of its own so that the
 * HMAC path of mg_key_verify saves no registers for it. */
static __attribute__((noinline)) int ed_verify(const mg_key_t *key, const unsigned char *msg,
                                               size_t msg_len, const unsigned char *sig,
                                               size_t sig_len, int64_t now, int64_t valid_until)
{
    if (sig_len != 64)
        return 0;
    unsigned char digest[32];
    unsigned int dlen = 0;
    if (!EVP_Digest(msg, msg_len, digest, &dlen, g_sha256, NULL)) {
        ERR_clear_error();
        return 0;
    }
    if (ed_cache_hit(key->serial, digest, sig, now))
        return 1;
    int owned;
    EVP_MD_CTX *md = md_ctx_get(0, &owned);
    int ok = md != NULL && EVP_MD_CTX_copy_ex(md, key->ed_verify) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, msg, msg_len) == 1;
    if (md != NULL)
        EVP_MD_CTX_reset(md);
    if (owned)
        EVP_MD_CTX_free(md);
    ERR_clear_error();
    if (ok)
        ed_cache_put(key->serial, digest, sig, now, valid_until);
    return ok;
}

int mg_key_verify(const mg_key_t *key, const unsigned char *msg, size_t msg_len,
                  const unsigned char *sig, size_t sig_len, int64_t now, int64_t valid_until)
{
    /* No ensure_init here or in mg_key_sign: a key exists only once
     * mg_key_from_secret or key_from_pem have had it succeed. */
    if (key->alg == MG_ALG_ED25519)
        return ed_verify(key, msg, msg_len, sig, sig_len, now, valid_until);
    unsigned char mac[MG_SIG_MAX];
    size_t n = 0;
    if (!hmac_compute(key, msg, msg_len, mac, &n) || n != sig_len)
        return 0;
    return !tag_differs(mac, sig, n);
}

void mg_keys_warm_up(const mg_policy_t *policy)
{
    if (!ensure_init() || policy == NULL || policy->keys == NULL)
        return;
    const mg_keyref_t *refs = (const mg_keyref_t *)policy->keys->elts;
    static const unsigned char probe[] = "mg-warm-up";
    for (int i = 0; i < policy->keys->nelts; i++) {
        const mg_key_t *k = refs[i].key;
        unsigned char sig[MG_SIG_MAX];
        size_t n;
        if (k != NULL && k->alg != MG_ALG_ED25519)
            (void)hmac_compute(k, probe, sizeof(probe) - 1, sig, &n);
    }
}

/* ------------------------------------------------------------------ */
/* Generation                                                           */
/* ------------------------------------------------------------------ */

static const char *bio_text(apr_pool_t *pool, BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? apr_pstrmemdup(pool, data, (apr_size_t)n) : NULL;
}

mg_status_t mg_key_generate(apr_pool_t *pool, mg_alg_t alg, const char **key_text,
                            const char **pub_text, const char **why)
{
    *pub_text = NULL;
    if (alg == MG_ALG_HMAC_SHA256 || alg == MG_ALG_HMAC_SHA1) {
        unsigned char secret[32];
        char enc[48];
        if (RAND_bytes(secret, sizeof(secret)) != 1) {
            ERR_clear_error();
            *why = "the random number generator failed";
            return MG_ECRYPTO;
        }
        mg_b64url_encode(secret, sizeof(secret), enc);
        *key_text = apr_pstrcat(pool, "mg-", mg_alg_name(alg), ":", enc, "\n", NULL);
        OPENSSL_cleanse(secret, sizeof(secret));
        OPENSSL_cleanse(enc, sizeof(enc));
        return MG_OK;
    }
    if (alg != MG_ALG_ED25519) {
        *why = "unknown algorithm";
        return MG_EINVAL;
    }
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
    int ok = pkey != NULL && priv != NULL && pub != NULL &&
             PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) &&
             PEM_write_bio_PUBKEY(pub, pkey);
    if (ok) {
        *key_text = bio_text(pool, priv);
        *pub_text = bio_text(pool, pub);
        ok = *key_text != NULL && *pub_text != NULL;
    }
    EVP_PKEY_free(pkey);
    BIO_free(priv); /* BIO_s_mem frees its buffer; the copy lives in the pool */
    BIO_free(pub);
    if (!ok) {
        ERR_clear_error();
        *why = "OpenSSL could not generate an Ed25519 key";
        return MG_ECRYPTO;
    }
    return MG_OK;
}

/* ------------------------------------------------------------------ */
/* Fingerprints                                                         */
/* ------------------------------------------------------------------ */

/* SHA-256 over a domain-separated string of the algorithm and
 *   HMAC:    the MAC of a fixed string under the key (a key check value:
 *            one-way, and never a token's signature, whose string to sign
 *            starts "mg-token-v1"), so no secret byte is ever hashed as is;
 *   Ed25519: the raw public key, the same for the private and the public
 *            key of one pair.
 * Computed from the loaded key: reading the file again could see another
 * key than the one the policy holds. */
#define MG_FP_DOMAIN "mg-key-fingerprint-v1"

mg_status_t mg_key_fingerprint(apr_pool_t *pool, const mg_key_t *key, const char **fp,
                               const char **why)
{
    static const unsigned char msg[] = MG_FP_DOMAIN "\n";
    unsigned char mat[MG_SIG_MAX], md[EVP_MAX_MD_SIZE];
    size_t mlen = 0;
    unsigned int mdlen = 0;
    *fp = NULL;
    if (key == NULL) {
        *why = "no key material";
        return MG_EINVAL;
    }
    if (key->alg == MG_ALG_ED25519) {
        mlen = sizeof(mat);
        if (key->pkey == NULL || EVP_PKEY_get_raw_public_key(key->pkey, mat, &mlen) != 1 ||
            mlen != 32) {
            ERR_clear_error();
            *why = "OpenSSL could not read the Ed25519 public key for its fingerprint";
            return MG_ECRYPTO;
        }
    } else if (mg_key_sign(key, msg, sizeof(msg) - 1, mat, &mlen) != MG_OK) {
        *why = "the key could not compute its fingerprint";
        return MG_ECRYPTO;
    }
    const char *name = mg_alg_name(key->alg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, MG_FP_DOMAIN, sizeof(MG_FP_DOMAIN)) == 1 && /* with its NUL */
             EVP_DigestUpdate(ctx, name, strlen(name) + 1) == 1 &&
             EVP_DigestUpdate(ctx, mat, mlen) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(mat, sizeof(mat));
    if (!ok) {
        ERR_clear_error();
        *why = "OpenSSL could not compute the key fingerprint";
        return MG_ECRYPTO;
    }
    char *hex = apr_palloc(pool, 7 + 2 * mdlen + 1);
    memcpy(hex, "sha256:", 7);
    for (unsigned int i = 0; i < mdlen; i++) {
        hex[7 + 2 * i] = "0123456789abcdef"[md[i] >> 4];
        hex[7 + 2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    hex[7 + 2 * mdlen] = '\0';
    *fp = hex;
    return MG_OK;
}
