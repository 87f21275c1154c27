/* mg_fmt.c — the registry of foreign signed-link formats, the loading of
 * their keys (keys[].format, keys[].options) and the dispatcher that
 * mg_token_check() calls for a request without a format-v1 token. The
 * formats themselves are in mg_fmt_<name>.c behind lib/mg_fmt.h.
 */
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "mg_ascii.h"
#include "mg_file.h"
#include "mg_fmt.h"
#include "mg_request.h"
#include "mg_keys.h"

#define MG_FMT_KEY_FILE_MAX 16384

static const mg_fmt_t *const g_formats[] = {
    &mg_fmt_imagekit, &mg_fmt_nginx,      &mg_fmt_bunny,    &mg_fmt_gcp,
    &mg_fmt_akamai,   &mg_fmt_cloudfront, &mg_fmt_lighttpd, NULL,
};

const mg_fmt_t *mg_fmt_find(const char *name)
{
    for (int i = 0; name != NULL && g_formats[i] != NULL; i++)
        if (strcmp(g_formats[i]->name, name) == 0)
            return g_formats[i];
    return NULL;
}

const char *mg_fmt_names(apr_pool_t *pool)
{
    const char *s = MG_FMT_NATIVE;
    for (int i = 0; g_formats[i] != NULL; i++)
        s = apr_pstrcat(pool, s, ", ", g_formats[i]->name, NULL);
    return s;
}

static const struct {
    const char *name;
    mg_falg_t alg;
} g_algs[] = {{"hmac-sha256", MG_FALG_HMAC_SHA256},
              {"hmac-sha1", MG_FALG_HMAC_SHA1},
              {"md5", MG_FALG_MD5},
              {"hmac-md5", MG_FALG_HMAC_MD5},
              {"rsa-sha1", MG_FALG_RSA_SHA1},
              {"ecdsa-sha1", MG_FALG_ECDSA_SHA1}};

mg_falg_t mg_falg_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(g_algs) / sizeof(g_algs[0]); i++)
        if (strcmp(g_algs[i].name, name) == 0)
            return g_algs[i].alg;
    return MG_FALG_NONE;
}

const char *mg_falg_name(mg_falg_t alg)
{
    for (size_t i = 0; i < sizeof(g_algs) / sizeof(g_algs[0]); i++)
        if (g_algs[i].alg == alg)
            return g_algs[i].name;
    return "none";
}

/* "hmac-sha1" or "md5, hmac-sha1 or hmac-sha256" */
static const char *alg_list(apr_pool_t *pool, unsigned algs)
{
    const char *s = NULL;
    int n = 0, total = 0;
    for (size_t i = 0; i < sizeof(g_algs) / sizeof(g_algs[0]); i++)
        total += (algs & g_algs[i].alg) != 0;
    for (size_t i = 0; i < sizeof(g_algs) / sizeof(g_algs[0]); i++) {
        if (!(algs & g_algs[i].alg))
            continue;
        n++;
        s = s == NULL    ? g_algs[i].name
            : n == total ? apr_pstrcat(pool, s, " or ", g_algs[i].name, NULL)
                         : apr_pstrcat(pool, s, ", ", g_algs[i].name, NULL);
    }
    return s ? s : "none";
}

const char *mg_fmt_opt(const mg_fkey_t *k, const char *name, int *index)
{
    if (index)
        *index = -1;
    for (int i = 0; k->opts != NULL && i < k->opts->nelts; i++) {
        const mg_fmt_opt_t *o = &APR_ARRAY_IDX(k->opts, i, mg_fmt_opt_t);
        if (strcmp(o->name, name) == 0) {
            if (index)
                *index = i;
            return o->value;
        }
    }
    return NULL;
}

static apr_status_t fkey_cleanup(void *p)
{
    mg_fkey_t *k = p;
    if (k->secret != NULL)
        OPENSSL_cleanse(k->secret, k->secret_len);
    return APR_SUCCESS;
}

static int hex_nibble(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

mg_status_t mg_fmt_key_from_secret(apr_pool_t *pool, const mg_fmt_t *fmt, const char *id,
                                   const char *alg, const unsigned char *secret, size_t len,
                                   const apr_array_header_t *opts, mg_fkey_t **out,
                                   const char **why, int *bad_opt)
{
    int bad = -1;
    *bad_opt = -1;
    mg_falg_t a = alg ? mg_falg_parse(alg) : fmt->default_alg;
    if (a == MG_FALG_NONE || !(fmt->algs & a)) {
        /* no algorithm confusion: a format verifies only what it defines */
        *why = apr_psprintf(pool, "format %s signs with %s, not %s", fmt->name,
                            alg_list(pool, fmt->algs), alg ? alg : "?");
        return MG_EINVAL;
    }
    if (len < MG_FMT_SECRET_MIN || len > MG_FMT_SECRET_MAX) {
        *why = apr_psprintf(pool, "a %s secret must be %d to %d bytes, this one has %lu", fmt->name,
                            MG_FMT_SECRET_MIN, MG_FMT_SECRET_MAX, (unsigned long)len);
        return MG_EINVAL;
    }
    mg_fkey_t *k = apr_pcalloc(pool, sizeof(*k));
    k->fmt = fmt;
    k->id = apr_pstrdup(pool, id);
    k->alg = a;
    k->secret = apr_pmemdup(pool, secret, len);
    k->secret_len = len;
    k->opts = opts;
    apr_pool_cleanup_register(pool, k, fkey_cleanup, apr_pool_cleanup_null);
    if (mg_fmt_mac_prepare(pool, k) != 0) {
        *why = "OpenSSL refused to prepare the MAC";
        return MG_ECRYPTO;
    }
    for (int i = 0; opts != NULL && i < opts->nelts; i++) {
        const mg_fmt_opt_t *o = &APR_ARRAY_IDX(opts, i, mg_fmt_opt_t);
        int known = 0;
        for (int j = 0; fmt->options != NULL && fmt->options[j] != NULL; j++)
            known |= strcmp(fmt->options[j], o->name) == 0;
        if (!known) {
            *bad_opt = i;
            *why = apr_psprintf(pool, "format %s has no option '%s'", fmt->name, o->name);
            return MG_EINVAL;
        }
        if (strlen(o->value) > MG_FMT_OPTION_MAX) {
            *bad_opt = i;
            *why = apr_psprintf(pool, "option '%s' is longer than %d bytes", o->name,
                                MG_FMT_OPTION_MAX);
            return MG_EINVAL;
        }
    }
    if (fmt->key_init(pool, k, why, &bad) != MG_OK) {
        *bad_opt = bad;
        return MG_EINVAL;
    }
    *out = k;
    return MG_OK;
}

/* Decode the key file's text as the format says. */
static long secret_decode(const mg_fmt_t *fmt, const char *text, size_t len, unsigned char *out,
                          size_t cap, const char **why)
{
    if (fmt->secret == MG_SECRET_PEM) {
        /* several lines: the format's key_init parses them (and refuses
         * anything that is not a public key of its algorithm) */
        if (len > cap) {
            *why = "the key file is too long for a public key";
            return -1;
        }
        memcpy(out, text, len);
        return (long)len;
    }
    if (len > 0 && text[len - 1] == '\n')
        len--; /* exactly one optional final newline */
    if (len > 0 && text[len - 1] == '\r')
        len--;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
            *why = "the secret must be one line without control characters";
            return -1;
        }
    }
    if (fmt->secret == MG_SECRET_HEX) {
        if (len % 2 != 0 || len / 2 > cap) {
            *why = "the secret must be an even number of hexadecimal digits";
            return -1;
        }
        for (size_t i = 0; i < len / 2; i++) {
            int hi = hex_nibble((unsigned char)text[2 * i]),
                lo = hex_nibble((unsigned char)text[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                *why = "the secret must be hexadecimal digits";
                return -1;
            }
            out[i] = (unsigned char)(hi << 4 | lo);
        }
        return (long)(len / 2);
    }
    if (fmt->secret == MG_SECRET_B64URL) {
        size_t pad = 0;
        while (pad < 2 && len > pad && text[len - 1 - pad] == '=')
            pad++;
        static const char abc[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t m = len - pad;
        char tmp[MG_FMT_KEY_FILE_MAX];
        long n = -1;
        if ((pad == 0 || len % 4 == 0) && m * 3 / 4 <= cap && m < sizeof(tmp)) {
            /* Google's samples decode leniently (Java's own test key
             * "aaaaaaaaaaaaaaaaaaaaaa==" has non-zero unused bits): the key
             * file is the admin's, so its unused trailing bits are dropped
             * here, where a token's encoding stays strict */
            memcpy(tmp, text, m);
            const char *c = m % 4 ? memchr(abc, tmp[m - 1], 64) : NULL;
            if (c != NULL)
                tmp[m - 1] = abc[(c - abc) & (m % 4 == 2 ? 0x30 : 0x3c)];
            n = mg_b64url_decode(tmp, m, out, cap);
            OPENSSL_cleanse(tmp, m);
        }
        if (n < 0)
            *why = "the secret must be base64url (as Google shows it: 22 characters, '==' "
                   "optional)";
        return n;
    }
    if (len > cap) {
        *why = "the secret is too long";
        return -1;
    }
    memcpy(out, text, len);
    return (long)len;
}

mg_status_t mg_fmt_key_load(mg_policy_t *policy, mg_keyref_t *r, mg_diags_t *diags)
{
    apr_pool_t *pool = policy->pool;
    const mg_fmt_t *fmt = mg_fmt_find(r->format);
    const char *why = NULL;
    char ebuf[128];
    if (fmt == NULL) {
        mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-format",
                    "key '%s': unknown format '%s' (%s)", r->id, r->format, mg_fmt_names(pool));
        return MG_EINVAL;
    }
    if (r->file == NULL) {
        mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-file",
                    "key '%s' has no file", r->id);
        return MG_EINVAL;
    }
    if (r->sign) {
        mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-not-signing",
                    "key '%s' of format %s cannot be the policy's signing key ('sign: true' "
                    "is for mg-v1 keys; mint %s links with mgctl sign --token-format %s)",
                    r->id, fmt->name, fmt->name, fmt->name);
        return MG_EINVAL;
    }
    /* mg_file_read refuses a FIFO named as a key file: it must not hang
     * configtest */
    mg_file_t f;
    unsigned char secret[MG_FMT_KEY_FILE_MAX];
    (void)mg_file_read(pool, r->file, MG_FMT_KEY_FILE_MAX - 1, &f, NULL); /* f.error says */
    if (f.error == MG_FILE_CANNOT_OPEN) {
        mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-file",
                    "key '%s': cannot read key file '%s': %s", r->id, r->file,
                    apr_strerror(f.rv, ebuf, sizeof(ebuf)));
        return MG_EIO;
    }
    if (f.error == MG_FILE_NOT_REGULAR || f.error == MG_FILE_TOO_LARGE ||
        (f.error == MG_FILE_OK && f.len == 0)) {
        mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col, "key-file",
                    "key '%s': key file '%s' is not a regular file of 1 to %d bytes", r->id,
                    r->file, MG_FMT_KEY_FILE_MAX - 1);
        return MG_EIO;
    }
    long n = -1;
    if (f.error == MG_FILE_OK)
        n = secret_decode(fmt, f.data, f.len, secret, sizeof(secret), &why);
    else
        why = "cannot read it";
    mg_status_t st = MG_EINVAL;
    mg_fkey_t *k = NULL;
    int bad = -1;
    if (n >= 0)
        st = mg_fmt_key_from_secret(pool, fmt, r->id, r->alg, secret, (size_t)n, r->options, &k,
                                    &why, &bad);
    if (f.data != NULL)
        OPENSSL_cleanse(f.data, f.len);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (st != MG_OK) {
        /* at the option at fault when there is one: file:line:column */
        mg_pos_t at = r->pos;
        if (bad >= 0 && r->options != NULL && bad < r->options->nelts)
            at = APR_ARRAY_IDX(r->options, bad, mg_fmt_opt_t).pos;
        mg_diag_add(diags, MG_SEV_ERROR, policy->file, at.line, at.col,
                    bad >= 0 ? "key-option" : "key-file", "key '%s' (format %s): %s", r->id,
                    fmt->name, why);
        return st;
    }
    /* a vendor's secret: never readable nor writable by others; a PEM
     * public key (the only PEM a format loads) may be read, as a native
     * Ed25519 public key may */
    mg_key_file_check(
        policy, r,
        (fmt->secret != MG_SECRET_PEM && (f.protection & (APR_FPROT_GREAD | APR_FPROT_WREAD))
             ? MG_KEY_FILE_READABLE
             : 0) |
            mg_key_file_writable(f.protection),
        diags);
    if (k->weak != NULL)
        mg_diag_add(diags, MG_SEV_WARNING, policy->file, r->pos.line, r->pos.col, "key-weak",
                    "key '%s': %s", r->id, k->weak);
    else if (k->secret_len < MG_FMT_SECRET_WEAK && fmt->secret != MG_SECRET_PEM)
        mg_diag_add(diags, MG_SEV_WARNING, policy->file, r->pos.line, r->pos.col, "key-weak",
                    "key '%s': a secret of %lu bytes can be found by brute force from one link; "
                    "accepted so that existing links keep working, but re-issue them under a "
                    "longer secret (or an mg-v1 key) soon",
                    r->id, (unsigned long)k->secret_len);
    r->alg = mg_falg_name(k->alg);
    r->fkey = k;
    return MG_OK;
}

#define MG_FP_DOMAIN "mg-key-fingerprint-v1"
const char *mg_fmt_key_fingerprint(apr_pool_t *pool, const mg_fkey_t *k)
{
    static const char check[] = MG_FP_DOMAIN " foreign key check";
    unsigned char kcv[32], md[32];
    size_t kcv_len = 0;
    unsigned int md_len = 0;
    int ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->secret, k->secret_len,
                       (const unsigned char *)check, sizeof(check) - 1, kcv, sizeof(kcv),
                       &kcv_len) != NULL;
    const char *alg = mg_falg_name(k->alg);
    EVP_MD_CTX *ctx = ok ? EVP_MD_CTX_new() : NULL;
    ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, MG_FP_DOMAIN, sizeof(MG_FP_DOMAIN)) == 1 &&
         EVP_DigestUpdate(ctx, k->fmt->name, strlen(k->fmt->name) + 1) == 1 &&
         EVP_DigestUpdate(ctx, alg, strlen(alg) + 1) == 1 &&
         EVP_DigestUpdate(ctx, kcv, kcv_len) == 1 && EVP_DigestFinal_ex(ctx, md, &md_len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(kcv, sizeof(kcv));
    if (!ok) {
        ERR_clear_error();
        return NULL;
    }
    char *hex = apr_palloc(pool, 7 + 64 + 1);
    memcpy(hex, "sha256:", 7);
    mg_fmt_hex_encode(md, 32, hex + 7);
    return hex;
}

/* ---- requests -------------------------------------------------------------- */

/* The walk over the keys, for mg_request_tables_build and a policy built by
 * hand (no req_tables). */
int mg_fmt_policy_keys_foreign(const mg_policy_t *policy)
{
    if (policy == NULL || policy->keys == NULL)
        return 0;
    for (int i = 0; i < policy->keys->nelts; i++)
        if (APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).fkey != NULL)
            return 1;
    return 0;
}

int mg_fmt_policy_has_foreign(const mg_policy_t *policy)
{
    if (policy != NULL && policy->req_tables != NULL)
        return policy->req_tables->has_foreign;
    return mg_fmt_policy_keys_foreign(policy);
}

static int in_list(const char *const *names, const char *name)
{
    for (int i = 0; names != NULL && names[i] != NULL; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

const char *const *mg_fmt_all_params(void)
{
    static const char *const all[] = {"ik-s",
                                      "ik-t",
                                      "md5",
                                      "expires",
                                      "token",
                                      "token_path",
                                      "token_ignore_params",
                                      "token_countries",
                                      "token_countries_blocked",
                                      "URLPrefix",
                                      "Expires",
                                      "KeyName",
                                      "Signature",
                                      "__token__",
                                      "Policy",
                                      "Key-Pair-Id",
                                      "Hash-Algorithm",
                                      NULL};
    return all;
}

int mg_fmt_is_reserved_param(const mg_policy_t *policy, const char *name)
{
    if (name == NULL)
        return 0;
    if (policy == NULL)
        return in_list(mg_fmt_all_params(), name);
    for (int i = 0; policy->keys != NULL && i < policy->keys->nelts; i++) {
        const mg_fkey_t *k = APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).fkey;
        if (k != NULL && in_list(k->fmt->params(k), name))
            return 1;
    }
    return 0;
}

/* Does the request carry one of the key's parameters? */
static int key_present(const mg_fmt_req_t *rq, const mg_fkey_t *k)
{
    const char *const *names = k->fmt->params(k);
    const mg_qparam_t *p = (const mg_qparam_t *)rq->cn->params->elts;
    for (int i = 0; i < rq->cn->params->nelts; i++)
        if (in_list(names, p[i].name))
            return 1;
    return 0;
}

const char *mg_fmt_present(const mg_policy_t *policy, const mg_fmt_req_t *rq)
{
    for (int i = 0; policy->keys != NULL && i < policy->keys->nelts; i++) {
        const mg_fkey_t *k = APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).fkey;
        if (k != NULL && key_present(rq, k))
            return k->fmt->name;
    }
    return NULL;
}

/* The names the policy's foreign keys read become reserved query names
 * (mg_canon.h, docs/canonical-urls.md): a request whose query spells one of
 * them so that PHP, Rack, ASP.NET, ... could read it as that name without
 * being exactly it ("ik-S", "token[]", " expires") is refused as bad-url
 * (the exact name given twice is token-malformed, from the verifier). Otherwise an origin behind
 * ProxyPass could read a value the verifier never saw. */
static mg_status_t reserve_params(mg_policy_t *policy, mg_diags_t *diags)
{
    const char *dp = policy->download_param ? policy->download_param : "download";
    for (int i = 0; policy->keys != NULL && i < policy->keys->nelts; i++) {
        const mg_keyref_t *r = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
        if (r->fkey == NULL)
            continue;
        const char *const *names = r->fkey->fmt->params(r->fkey);
        for (int n = 0; names != NULL && names[n] != NULL; n++) {
            const char *name = names[n];
            int dup = 0;
            for (int j = 0; policy->reserved_params != NULL && j < policy->reserved_params->nelts;
                 j++) {
                const char *other = APR_ARRAY_IDX(policy->reserved_params, j, mg_qreserved_t).name;
                if (strcmp(other, name) == 0) {
                    dup = 1;
                } else if (apr_cstr_casecmp(other, name) == 0) {
                    /* ASP.NET and others read names case-insensitively */
                    mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col,
                                "key-format",
                                "key '%s' (%s) reads the query parameter '%s' and another key "
                                "reads '%s': names that differ only in case are one name to "
                                "some server stacks",
                                r->id, r->fkey->fmt->name, name, other);
                    return MG_EINVAL;
                }
            }
            if (dup)
                continue;
            if (apr_cstr_casecmp(name, dp) == 0) {
                mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col,
                            "key-format",
                            "key '%s' (%s) reads the query parameter '%s', which is the policy's "
                            "download parameter",
                            r->id, r->fkey->fmt->name, name);
                return MG_EINVAL;
            }
            if (!mg_query_reserved_name_ok(name)) {
                mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col,
                            "key-format",
                            "key '%s' (%s) reads the query parameter '%s': a token parameter "
                            "name may hold only A-Z a-z 0-9 '_' '-' (other stacks read other "
                            "bytes differently)",
                            r->id, r->fkey->fmt->name, name);
                return MG_EINVAL;
            }
            if (policy->reserved_params == NULL)
                policy->reserved_params = apr_array_make(policy->pool, 8, sizeof(mg_qreserved_t));
            if (policy->reserved_params->nelts >= 63) {
                mg_diag_add(diags, MG_SEV_ERROR, policy->file, r->pos.line, r->pos.col,
                            "key-format", "the policy's keys read more than 63 query parameters");
                return MG_EINVAL;
            }
            mg_qreserved_t *q = apr_array_push(policy->reserved_params);
            memset(q, 0, sizeof(*q));
            q->name = name;
            /* an exact repeat is the verifier's to refuse (token-malformed),
             * as the token layer does for a repeated mg_* name */
            q->flags = MG_QR_REPEAT;
        }
    }
    return MG_OK;
}

static const char *path_prefix_of(const mg_fkey_t *k)
{
    return k != NULL && k->fmt->path_prefix != NULL ? k->fmt->path_prefix(k) : NULL;
}

/* Two keys of different formats whose path forms could both read one path
 * (lighttpd's 32-character MD5 and nginx's 32-digit hash under the same
 * prefix): the link could not tell the formats apart. */
static mg_status_t check_path_prefixes(mg_policy_t *policy, mg_diags_t *diags)
{
    for (int i = 0; policy->keys != NULL && i < policy->keys->nelts; i++) {
        const mg_keyref_t *a = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
        const char *pa = path_prefix_of(a->fkey);
        if (pa == NULL)
            continue;
        for (int j = 0; j < i; j++) {
            const mg_keyref_t *b = &APR_ARRAY_IDX(policy->keys, j, mg_keyref_t);
            const char *pb = path_prefix_of(b->fkey);
            if (pb == NULL || b->fkey->fmt == a->fkey->fmt)
                continue;
            size_t n = strlen(pa) < strlen(pb) ? strlen(pa) : strlen(pb);
            if (strncmp(pa, pb, n) != 0)
                continue;
            mg_diag_add(diags, MG_SEV_ERROR, policy->file, a->pos.line, a->pos.col, "key-format",
                        "key '%s' (%s) reads tokens in paths under '%s' and key '%s' (%s) under "
                        "'%s': a link could not tell the two formats apart (give them prefixes "
                        "that do not contain each other)",
                        a->id, a->fkey->fmt->name, pa, b->id, b->fkey->fmt->name, pb);
            return MG_EINVAL;
        }
    }
    return MG_OK;
}

mg_status_t mg_fmt_check_params(mg_policy_t *policy, mg_diags_t *diags)
{
    mg_status_t st = check_path_prefixes(policy, diags);
    if (st != MG_OK)
        return st;
    for (int i = 0; policy->keys != NULL && i < policy->keys->nelts; i++) {
        const mg_keyref_t *a = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
        if (a->fkey == NULL)
            continue;
        for (int j = 0; j < i; j++) {
            const mg_keyref_t *b = &APR_ARRAY_IDX(policy->keys, j, mg_keyref_t);
            if (b->fkey == NULL || b->fkey->fmt == a->fkey->fmt)
                continue;
            const char *const *na = a->fkey->fmt->params(a->fkey);
            for (int n = 0; na != NULL && na[n] != NULL; n++) {
                if (!in_list(b->fkey->fmt->params(b->fkey), na[n]))
                    continue;
                mg_diag_add(diags, MG_SEV_ERROR, policy->file, a->pos.line, a->pos.col,
                            "key-format",
                            "key '%s' (%s) reads the query parameter '%s' that key '%s' (%s) "
                            "reads too: a link could not tell the two formats apart",
                            a->id, a->fkey->fmt->name, na[n], b->id, b->fkey->fmt->name);
                st = MG_EINVAL;
                break;
            }
        }
    }
    if (st == MG_OK)
        st = reserve_params(policy, diags);
    return st;
}

/* Does the Cookie header carry one of the key's cookies? */
static int key_cookie_present(const mg_fmt_req_t *rq, const mg_fkey_t *k)
{
    const char *const *names = k->fmt->cookies ? k->fmt->cookies(k) : NULL;
    for (int i = 0; rq->cookie != NULL && names != NULL && names[i] != NULL; i++) {
        const char *pos = rq->cookie, *v;
        size_t n;
        if (mg_fmt_cookie_next(names[i], &pos, &v, &n) == 0)
            return 1;
    }
    return 0;
}

mg_reason_t mg_fmt_check_cookie(const mg_policy_t *policy, const mg_fmt_req_t *rq,
                                const mg_keyref_t **ref, mg_fmt_result_t *out)
{
    mg_reason_t first = MG_R_TOKEN_MISSING;
    const char *first_detail = NULL;
    const mg_keyref_t *first_ref = NULL;
    int seen = 0;
    *ref = NULL;
    memset(out, 0, sizeof(*out));
    if (policy->keys == NULL || rq->cookie == NULL)
        return MG_R_TOKEN_MISSING;
    /* unlike query parameters, cookies of two formats at once are normal:
     * a browser keeps every cookie its sites set (each for its own path),
     * so each is tried, and the first that verifies wins */
    for (int i = 0; i < policy->keys->nelts; i++) {
        const mg_keyref_t *r = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
        if (r->fkey == NULL || r->fkey->fmt->verify_cookie == NULL ||
            !key_cookie_present(rq, r->fkey))
            continue;
        seen = 1;
        mg_fmt_result_t res;
        memset(&res, 0, sizeof(res));
        res.access = MG_ACCESS_VIEW;
        mg_reason_t why = r->fkey->fmt->verify_cookie(rq, r->fkey, &res);
        if (why == MG_R_ALLOWED) {
            *out = res;
            *ref = r;
            return MG_R_ALLOWED;
        }
        if (why != MG_R_TOKEN_MISSING &&
            (first == MG_R_TOKEN_MISSING ||
             (first == MG_R_TOKEN_UNKNOWN_KEY && why != MG_R_TOKEN_UNKNOWN_KEY))) {
            first = why;
            first_detail = res.detail;
            first_ref = r;
        }
    }
    if (!seen)
        return MG_R_TOKEN_MISSING;
    if (first == MG_R_TOKEN_MISSING) {
        first = MG_R_TOKEN_MALFORMED;
        first_detail = "the signed cookie is for none of the policy's keys";
    }
    *ref = first_ref;
    out->detail = first_detail;
    return first;
}

mg_reason_t mg_fmt_check(const mg_policy_t *policy, const mg_fmt_req_t *rq, const mg_keyref_t **ref,
                         mg_fmt_result_t *out)
{
    const mg_fmt_t *seen = NULL;
    mg_reason_t first = MG_R_TOKEN_MISSING;
    const char *first_detail = NULL;
    const mg_keyref_t *first_ref = NULL;
    *ref = NULL;
    memset(out, 0, sizeof(*out));
    if (policy->keys == NULL)
        return MG_R_TOKEN_MISSING;
    /* parameters of two formats at once: neither is believed */
    for (int i = 0; i < policy->keys->nelts; i++) {
        const mg_fkey_t *k = APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).fkey;
        if (k == NULL || !key_present(rq, k))
            continue;
        if (seen != NULL && seen != k->fmt) {
            out->detail = apr_psprintf(rq->pool,
                                       "the request carries parameters of two token formats "
                                       "(%s and %s)",
                                       seen->name, k->fmt->name);
            return MG_R_TOKEN_MALFORMED;
        }
        seen = k->fmt;
    }
    if (seen == NULL)
        return MG_R_TOKEN_MISSING;
    for (int i = 0; i < policy->keys->nelts; i++) {
        const mg_keyref_t *r = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
        if (r->fkey == NULL || r->fkey->fmt != seen)
            continue;
        mg_fmt_result_t res;
        memset(&res, 0, sizeof(res));
        res.access = MG_ACCESS_VIEW;
        mg_reason_t why = seen->verify(rq, r->fkey, &res);
        if (why == MG_R_ALLOWED) {
            *out = res;
            *ref = r;
            return MG_R_ALLOWED;
        }
        /* the first refusal that says something beats "not for this key"
         * (missing, or a key name that is another key's: Cloud CDN's KeyName) */
        if (why != MG_R_TOKEN_MISSING &&
            (first == MG_R_TOKEN_MISSING ||
             (first == MG_R_TOKEN_UNKNOWN_KEY && why != MG_R_TOKEN_UNKNOWN_KEY))) {
            first = why;
            first_detail = res.detail;
            first_ref = r;
        }
    }
    if (first == MG_R_TOKEN_MISSING) {
        first = MG_R_TOKEN_MALFORMED;
        first_detail = apr_psprintf(rq->pool, "incomplete %s token", seen->name);
    }
    *ref = first_ref;
    out->detail = first_detail;
    return first;
}

/* ---- tokens in the path ------------------------------------------------------ */

const mg_fmt_path_t *mg_fmt_path_find(apr_pool_t *pool, const mg_policy_t *policy,
                                      const char *raw_path)
{
    for (int i = 0;
         policy != NULL && policy->keys != NULL && raw_path != NULL && i < policy->keys->nelts;
         i++) {
        const mg_fkey_t *k = APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).fkey;
        if (k == NULL || k->fmt->path_split == NULL)
            continue;
        mg_fmt_path_t one;
        memset(&one, 0, sizeof(one));
        if (k->fmt->path_split(pool, k, raw_path, &one) == 1) {
            mg_fmt_path_t *pt = apr_pmemdup(pool, &one, sizeof(one));
            pt->key = k;
            return pt;
        }
    }
    return NULL;
}

int mg_fmt_canon(apr_pool_t *pool, const mg_policy_t *policy, const char *raw_path,
                 const char *query, mg_canon_t *out, const mg_fmt_path_t **pt, const char **why)
{
    return mg_fmt_canon_names(pool, policy, raw_path, query, out, pt, why, NULL, 0, NULL);
}

/* A foreign token in the path, or NULL. */
static const mg_fmt_path_t *path_token(apr_pool_t *pool, const mg_policy_t *policy,
                                       const char *raw_path)
{
    return mg_fmt_policy_has_foreign(policy) ? mg_fmt_path_find(pool, policy, raw_path) : NULL;
}

static int path_token_check(const mg_fmt_path_t *p, mg_canon_t *out, const mg_fmt_path_t **pt,
                            const char **why);

int mg_fmt_canon_names(apr_pool_t *pool, const mg_policy_t *policy, const char *raw_path,
                       const char *query, mg_canon_t *out, const mg_fmt_path_t **pt,
                       const char **why, const mg_qreserved_list_t *names, int nnames,
                       const char **names_why)
{
    const mg_fmt_path_t *p = path_token(pool, policy, raw_path);
    *pt = NULL;
    if (mg_canon_path_names(pool, p ? p->effective : raw_path, query, out, why, 0, names, nnames,
                            names_why) != 0)
        return -1;
    return p == NULL ? 0 : path_token_check(p, out, pt, why);
}

int mg_fmt_canon_table(apr_pool_t *pool, const mg_policy_t *policy, const char *raw_path,
                       const char *query, mg_canon_t *out, const mg_fmt_path_t **pt,
                       const char **why, const mg_qreserved_table_t *names, const char **names_why,
                       unsigned long long hit[2])
{
    /* the tables' answer read here: no call per request for it */
    const mg_request_tables_t *rt = policy->req_tables;
    const mg_fmt_path_t *p = (rt != NULL ? rt->has_foreign : mg_fmt_policy_keys_foreign(policy))
                                 ? mg_fmt_path_find(pool, policy, raw_path)
                                 : NULL;
    *pt = NULL;
    if (mg_canon_path_table_hit(pool, p ? p->effective : raw_path, query, out, why, names,
                                names_why, hit) != 0)
        return -1;
    return p == NULL ? 0 : path_token_check(p, out, pt, why);
}

static int path_token_check(const mg_fmt_path_t *p, mg_canon_t *out, const mg_fmt_path_t **pt,
                            const char **why)
{
    /* The effective path is canonicalised like any other (dot segments,
     * encodings, ...) and must still lie under the prefix the token was
     * issued for: "/dl/<mac>/<ts>/../../secret/x.jpg" is not "/secret/x.jpg"
     * with a token, it is refused. A 'tr:' segment would be served as
     * another resource than the one the vendor's format signed. */
    if (strncmp(out->path, p->prefix, strlen(p->prefix)) != 0 || out->tr_form == MG_TR_FORM_PATH) {
        *why = out->tr_form == MG_TR_FORM_PATH ? "a token in the path with a 'tr:' segment"
                                               : "a token in the path that leaves its prefix";
        memset(out, 0, sizeof(*out));
        return -1;
    }
    *pt = p;
    return 0;
}

int mg_policy_has_path_tokens(const mg_policy_t *policy)
{
    for (int i = 0; policy != NULL && policy->keys != NULL && i < policy->keys->nelts; i++) {
        const mg_fkey_t *k = APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).fkey;
        if (k != NULL && k->fmt->path_split != NULL)
            return 1;
    }
    return 0;
}

const char *const *mg_policy_key_params(const mg_policy_t *policy, const char *kid)
{
    for (int i = 0;
         policy != NULL && policy->keys != NULL && kid != NULL && i < policy->keys->nelts; i++) {
        const mg_keyref_t *kr = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
        if (kr->fkey != NULL && strcmp(kr->id, kid) == 0)
            return kr->fkey->fmt->params(kr->fkey);
    }
    return NULL;
}

const char *mg_path_token_effective(apr_pool_t *pool, const mg_policy_t *policy,
                                    const char *raw_path)
{
    mg_canon_t cn;
    const mg_fmt_path_t *pt = NULL;
    const char *why = NULL;
    /* a prefix compare per path-form key; canonicalise only a match */
    if (mg_fmt_path_find(pool, policy, raw_path) == NULL ||
        mg_fmt_canon(pool, policy, raw_path, NULL, &cn, &pt, &why) != 0 || pt == NULL)
        return NULL;
    return cn.path;
}

mg_reason_t mg_fmt_check_path(const mg_policy_t *policy, const mg_fmt_req_t *rq,
                              const mg_keyref_t **ref, mg_fmt_result_t *out)
{
    mg_reason_t first = MG_R_TOKEN_MISSING;
    const char *first_detail = NULL;
    const mg_keyref_t *first_ref = NULL;
    *ref = NULL;
    memset(out, 0, sizeof(*out));
    if (rq->path == NULL || policy->keys == NULL)
        return MG_R_TOKEN_MISSING;
    for (int i = 0; i < policy->keys->nelts; i++) {
        const mg_keyref_t *r = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
        const mg_fkey_t *k = r->fkey;
        mg_fmt_path_t pt;
        if (k == NULL || k->fmt != rq->path->key->fmt || k->fmt->path_split == NULL)
            continue;
        /* the same form under this key (rotation: two keys, one prefix) */
        memset(&pt, 0, sizeof(pt));
        if (k->fmt->path_split(rq->pool, k, rq->raw_path, &pt) != 1 ||
            strcmp(pt.effective, rq->path->effective) != 0)
            continue;
        pt.key = k;
        mg_fmt_req_t one = *rq;
        one.path = &pt;
        mg_fmt_result_t res;
        memset(&res, 0, sizeof(res));
        res.access = MG_ACCESS_VIEW;
        mg_reason_t why = k->fmt->verify(&one, k, &res);
        if (why == MG_R_ALLOWED) {
            *out = res;
            *ref = r;
            return MG_R_ALLOWED;
        }
        if (first == MG_R_TOKEN_MISSING && why != MG_R_TOKEN_MISSING) {
            first = why;
            first_detail = res.detail;
            first_ref = r;
        }
    }
    if (first == MG_R_TOKEN_MISSING) {
        first = MG_R_TOKEN_MALFORMED;
        first_detail = apr_psprintf(rq->pool, "incomplete %s token", rq->path->key->fmt->name);
    }
    *ref = first_ref;
    out->detail = first_detail;
    return first;
}
