/* mg_fmt.h — the verifier interface of foreign signed-link formats
 * (keys[].format other than "mg-v1"), and the registry and dispatcher that
 * use it (mg_fmt.c). docs/token-formats.md describes each format.
 *
 * A format is a `mg_fmt_t`: its parameter names, the algorithms and key
 * material it defines, and three functions — key_init (check a key's
 * options once, at load time), verify (one request against one key) and
 * sign (mint a link, for mgctl). Each format lives in its own file
 * (mg_fmt_imagekit.c, mg_fmt_nginx.c, ...) and the rest of the library
 * knows only this header: mg_token_check() calls mg_fmt_check() when a
 * request carries no format-v1 token, and a foreign token that verifies
 * comes back as ordinary claims (expiry, not-before, IP, scope, id) that
 * mg_token.c checks exactly as it checks its own: the same reason codes,
 * grace, clock skew, max_ttl, revocation, logs and `mgctl explain`.
 *
 * Rules every format keeps:
 *  - the algorithm comes from the key entry, never from the link, and a
 *    key entry may only name an algorithm its format defines (checked at
 *    load time: no algorithm confusion between formats);
 *  - every input is bounded and parsed strictly; signatures and MACs are
 *    compared in constant time (CRYPTO_memcmp);
 *  - canonicalisation stays ours: the rule that owns a request is found
 *    from our canonical path, and a scope a foreign token claims must be a
 *    canonical directory that the canonical path lies under, so a foreign
 *    token never widens what a path means.
 */
#ifndef MG_FMT_H
#define MG_FMT_H

#include <stdint.h>

#include "mg.h"
#include "mg_canon.h"
#include "mg_policy.h"

/* Algorithms a foreign key may use (keys[].alg). */
typedef enum {
    MG_FALG_NONE = 0,
    MG_FALG_HMAC_SHA256 = 1 << 0,
    MG_FALG_HMAC_SHA1 = 1 << 1,
    MG_FALG_MD5 = 1 << 2, /* a plain MD5 over a string that contains the secret */
    MG_FALG_HMAC_MD5 = 1 << 3,
    MG_FALG_RSA_SHA1 = 1 << 4,  /* RSASSA-PKCS1-v1_5 under a public key (CloudFront) */
    MG_FALG_ECDSA_SHA1 = 1 << 5 /* ECDSA P-256, DER signature, under a public key (CloudFront) */
} mg_falg_t;
mg_falg_t mg_falg_parse(const char *name); /* "hmac-sha1" -> MG_FALG_HMAC_SHA1 */
const char *mg_falg_name(mg_falg_t alg);

/* How a format's key file holds the secret (one optional final newline is
 * ignored in every case). */
typedef enum {
    MG_SECRET_TEXT = 1, /* the bytes as the vendor shows them (ImageKit private key,
                           nginx literal, lighttpd secret, Bunny security key) */
    MG_SECRET_HEX,      /* hexadecimal (Akamai EdgeAuth) */
    MG_SECRET_B64URL,   /* base64url, '=' padding optional (Google Cloud CDN) */
    MG_SECRET_PEM       /* a PEM public key, several lines, kept as is for the format's
                           key_init to parse (CloudFront): never a secret, but a key file
                           of the same shape for the loader */
} mg_secret_enc_t;

#define MG_FMT_SECRET_MIN                                                                          \
    1 /* bytes: existing links decide; shorter than                                                \
         MG_FMT_SECRET_WEAK is a load-time warning */
#define MG_FMT_SECRET_WEAK 16
#define MG_FMT_SECRET_MAX 1024 /* bytes */
#define MG_FMT_OPTION_MAX 1024 /* bytes of one option value */
#define MG_FMT_SIG_MAX 64      /* largest raw MAC or digest a format compares */

/* keys[].options: one entry as written (value is the scalar's text). */
typedef struct mg_fmt_opt {
    const char *name, *value;
    mg_pos_t pos;
} mg_fmt_opt_t;

typedef struct mg_fmt mg_fmt_t;

/* A loaded foreign key: immutable after load, shared by all threads. */
typedef struct mg_fkey {
    const mg_fmt_t *fmt;
    const char *id;        /* keys[].id */
    mg_falg_t alg;         /* keys[].alg, or the format's default */
    unsigned char *secret; /* cleansed on pool cleanup */
    size_t secret_len;
    const apr_array_header_t *opts; /* mg_fmt_opt_t, or NULL */
    void *priv;                     /* the format's parsed options (key_init) */
    void *mac_tmpl;                 /* HMAC: keyed EVP_MAC_CTX template (mg_fmt_util.c),
                                       duplicated once per thread, never used directly */
    uint64_t serial;                /* process-unique: finds this thread's context */
    const char *weak; /* set by key_init: why the key is accepted but weak (key-weak warning) */
} mg_fkey_t;

/* A token that lives in the URL path (lighttpd-secdownload, nginx
 * secure_link_secret, Bunny's path form): what a format's path_split found
 * in the raw path. The request is then judged, canonicalised and served as
 * its effective path — the raw path without the token segments — which
 * mg_fmt_canon() holds under `prefix` (docs/token-formats.md, "Tokens in
 * the path"). */
typedef struct mg_fmt_path {
    const mg_fkey_t *key;  /* the key whose path form the raw path has */
    const char *prefix;    /* canonical directory the effective path stays under */
    const char *effective; /* raw path without the token segments: "/dl/a/x.jpg" */
    const char *token;     /* the raw token segment(s), as received */
    size_t token_n;
    const char *rest; /* raw bytes after the token segments ("a/x.jpg") */
} mg_fmt_path_t;

/* What a format's verifier sees of a request. */
typedef struct mg_fmt_req {
    apr_pool_t *pool;          /* request pool */
    const mg_canon_t *cn;      /* our canonical form (decoded query in cn->params) */
    const char *raw_path;      /* as received, percent-encoded, no query */
    const char *raw_query;     /* as received without '?', or NULL */
    const char *client_ip;     /* text, after mod_remoteip, or NULL */
    int64_t now;               /* seconds since the epoch */
    const char *cookie;        /* the Cookie header as received, or NULL (signed-cookie forms) */
    const mg_fmt_path_t *path; /* the token in the path, or NULL; cn is then the
                                  canonical form of path->effective */
} mg_fmt_req_t;

/* What a token that verified claims, in our terms. */
typedef struct mg_fmt_result {
    int64_t exp;       /* last valid second; 0 = the link has no expiry */
    int64_t nbf;       /* 0 = none */
    const char *ip;    /* address or CIDR the token is bound to, or NULL */
    const char *scope; /* canonical directory ("/v/l1/") it covers, or NULL = exact */
    const char *id;    /* token id, or NULL */
    mg_access_t access;
    const char *detail; /* why, when refused */
} mg_fmt_result_t;

/* What `mgctl sign --token-format F` asks for. */
typedef struct mg_fmt_claims {
    int64_t exp;       /* required unless the key allows links without expiry (0) */
    const char *ip;    /* client address, for formats that bind one (MG_FMT_CAP_IP) */
    const char *scope; /* canonical directory, for formats with prefixes (MG_FMT_CAP_SCOPE) */
    int64_t nbf;       /* not before (0 = none), for formats with MG_FMT_CAP_NBF */
    /* PEM text of the private key, for formats whose key entry holds only
     * the public half (MG_FMT_CAP_PRIVATE: CloudFront) */
    const char *private_key;
} mg_fmt_claims_t;

/* What a format's links can carry besides an expiry (mg_fmt_t.caps). */
#define MG_FMT_CAP_IP 0x1
#define MG_FMT_CAP_SCOPE 0x2
#define MG_FMT_CAP_COOKIE 0x4   /* a signed-cookie form (sign_cookie) */
#define MG_FMT_CAP_NBF 0x8      /* a not-before time (CloudFront DateGreaterThan) */
#define MG_FMT_CAP_PRIVATE 0x10 /* signing needs a private key the key entry does not hold */

struct mg_fmt {
    const char *name;           /* keys[].format */
    unsigned caps;              /* MG_FMT_CAP_* */
    unsigned algs;              /* MG_FALG_* bits the format defines */
    mg_falg_t default_alg;      /* when keys[].alg is absent */
    mg_secret_enc_t secret;     /* key file encoding */
    const char *const *options; /* keys[].options names it accepts (NULL-terminated) */
    /* Check the key's options (unknown names and over-long values are
     * refused before) and prepare k->priv. MG_EINVAL with *why, a sentence
     * naming the option, and *bad its index in k->opts (left -1 when the
     * fault is no single option): the diagnostic's file:line:column. */
    mg_status_t (*key_init)(apr_pool_t *pool, mg_fkey_t *k, const char **why, int *bad);
    /* The query names this key reserves (NULL-terminated, static or pool). */
    const char *const *(*params)(const mg_fkey_t *k);
    /* Verify the request against one key: MG_R_TOKEN_MISSING when it
     * carries none of the key's parameters, MG_R_TOKEN_MALFORMED,
     * MG_R_TOKEN_BAD_SIG, or MG_R_ALLOWED with *out filled. Claims
     * (expiry, IP, scope) are checked by the caller, not here. */
    mg_reason_t (*verify)(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out);
    /* Mint a link for `url` ("/path?q" or "https://host/path?q"), with only
     * the claims the format can carry (caps); MG_EINVAL with *why for input
     * a verifier would refuse. Use mg_fmt_split_url() for the URL. */
    mg_status_t (*sign)(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                        const mg_fmt_claims_t *c, const char **out, const char **why);
    /* Formats whose token can live in the path (NULL otherwise): 1 when the
     * raw path has this key's path form (*out filled from the pool), else
     * 0. Only the shape is checked here (the vendor's own grammar); the
     * verifier is strict about the values. */
    int (*path_split)(apr_pool_t *pool, const mg_fkey_t *k, const char *raw_path,
                      mg_fmt_path_t *out);
    /* The raw path prefix every path token of this key starts with ("/dl/",
     * "/bcdn_token="), or NULL when the key has no path form. */
    const char *(*path_prefix)(const mg_fkey_t *k);
    /* Signed-cookie form (both NULL when the format has none): the cookie
     * names the key reads (NULL-terminated), and the verifier of the Cookie
     * header (rq->cookie), called only for a request without a query token
     * of any format. Same returns as verify; several cookies of one name
     * (nested paths) are the format's to try. */
    const char *const *(*cookies)(const mg_fkey_t *k);
    mg_reason_t (*verify_cookie)(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out);
    /* Mint the signed cookie covering c->scope (required): *out is
     * "NAME=VALUE", without attributes (mgctl adds Path and Expires), or
     * several such lines joined by '\n' for a format that sets several
     * cookies (CloudFront): one Set-Cookie each. */
    mg_status_t (*sign_cookie)(apr_pool_t *pool, const mg_fkey_t *k, const mg_fmt_claims_t *c,
                               const char **out, const char **why);
};

/* ---- registry -------------------------------------------------------------- */

#define MG_FMT_NATIVE "mg-v1"
/* The format named `name`, or NULL (also for "mg-v1", which is mg_token.c). */
const mg_fmt_t *mg_fmt_find(const char *name);
/* "mg-v1, imagekit, nginx-secure-link" — for error messages and --help. */
const char *mg_fmt_names(apr_pool_t *pool);

/* ---- keys ----------------------------------------------------------------- */

/* Load the material of a foreign keys[] entry (its file read as the format
 * says, its alg and options checked). Errors at the entry (or at the
 * option at fault); a group/world-readable file is a warning. Called by
 * mg_keys_load() for entries whose format is not mg-v1. */
mg_status_t mg_fmt_key_load(mg_policy_t *policy, mg_keyref_t *ref, mg_diags_t *diags);

/* After loading: two keys of different formats must not read the same
 * query parameter (errors at the later key). Called by mg_keys_load(). */
mg_status_t mg_fmt_check_params(mg_policy_t *policy, mg_diags_t *diags);

/* A foreign key from a secret in memory. MG_EINVAL with *why, and
 * *bad_opt the index in `opts` of the option at fault (-1: the entry). */
mg_status_t mg_fmt_key_from_secret(apr_pool_t *pool, const mg_fmt_t *fmt, const char *id,
                                   const char *alg, const unsigned char *secret, size_t len,
                                   const apr_array_header_t *opts, mg_fkey_t **out,
                                   const char **why, int *bad_opt);

/* "sha256:<hex>" of the key: SHA-256 over a domain-separated string of the
 * format, the algorithm and an HMAC-SHA256 of a fixed string under the
 * secret (a key check value: no secret byte is hashed as is). */
const char *mg_fmt_key_fingerprint(apr_pool_t *pool, const mg_fkey_t *k);

/* The option `name` of a key, or NULL. */
const char *mg_fmt_opt(const mg_fkey_t *k, const char *name, int *index);

/* ---- requests -------------------------------------------------------------- */

/* 1 when the policy has at least one foreign key (answered when the policy
 * was compiled: policy->req_tables). */
int mg_fmt_policy_has_foreign(const mg_policy_t *policy);
/* The same by a walk over the keys (what mg_request_tables_build keeps). */
int mg_fmt_policy_keys_foreign(const mg_policy_t *policy);

/* Reserved query names (issue 14's reserved-name table hooks in here):
 * 1 when `name` is a parameter of some foreign format that has a key in
 * `policy`. Only names of formats the policy uses are reserved, so a site
 * without Bunny keys keeps its own ?token=. NULL policy: every format's
 * fixed names (mg_fmt_all_params). */
int mg_fmt_is_reserved_param(const mg_policy_t *policy, const char *name);
/* Every fixed parameter name of every foreign format, NULL-terminated. */
const char *const *mg_fmt_all_params(void);

/* The name of the first foreign format whose parameters the request
 * carries, or NULL. */
const char *mg_fmt_present(const mg_policy_t *policy, const mg_fmt_req_t *rq);

/* Verify a foreign token: every key of every foreign format the request
 * carries parameters of is tried (in policy order; the first that verifies
 * wins). Parameters of two formats at once are token-malformed. Returns
 * MG_R_TOKEN_MISSING when no foreign parameters are present, the first
 * key's refusal when none verifies, or MG_R_ALLOWED with *ref and *out. */
mg_reason_t mg_fmt_check(const mg_policy_t *policy, const mg_fmt_req_t *rq, const mg_keyref_t **ref,
                         mg_fmt_result_t *out);

/* ---- tokens in the path ------------------------------------------------------ */

/* The path token of a raw path: the first key (policy order) whose path
 * form it has, or NULL. Two keys of different formats never claim
 * overlapping prefixes (refused at load, mg_fmt_check_params). */
const mg_fmt_path_t *mg_fmt_path_find(apr_pool_t *pool, const mg_policy_t *policy,
                                      const char *raw_path);

/* mg_canon_path() as the policy sees the request: for a raw path with a
 * path token, the canonical form of its effective path, which must stay
 * under the form's prefix and carry no 'tr:' segment (a token in the path
 * never reaches outside the directory it was issued for); *pt is the token
 * (NULL when none). 0, or -1 with *why (out zeroed). */
int mg_fmt_canon(apr_pool_t *pool, const mg_policy_t *policy, const char *raw_path,
                 const char *query, mg_canon_t *out, const mg_fmt_path_t **pt, const char **why);
/* The same, with the caller's reserved query names checked in the same
 * pass as the built-in ones (mg_canon_path_names: a refusal for them
 * alone comes back in *names_why). */
int mg_fmt_canon_names(apr_pool_t *pool, const mg_policy_t *policy, const char *raw_path,
                       const char *query, mg_canon_t *out, const mg_fmt_path_t **pt,
                       const char **why, const mg_qreserved_list_t *names, int nnames,
                       const char **names_why);

/* The same with the names in a table (mg_canon_path_table_hit): the
 * policy's req_tables, built when it loaded; hit[2] as there. */
int mg_fmt_canon_table(apr_pool_t *pool, const mg_policy_t *policy, const char *raw_path,
                       const char *query, mg_canon_t *out, const mg_fmt_path_t **pt,
                       const char **why, const mg_qreserved_table_t *names, const char **names_why,
                       unsigned long long hit[2]);

/* Verify a path token (rq->path): every key whose path form the request
 * has is tried in policy order, the first that verifies wins; otherwise
 * the first refusal. MG_R_TOKEN_MISSING when rq->path is NULL. */
mg_reason_t mg_fmt_check_path(const mg_policy_t *policy, const mg_fmt_req_t *rq,
                              const mg_keyref_t **ref, mg_fmt_result_t *out);
/* Verify a foreign signed cookie (formats with verify_cookie): every key
 * whose cookie the Cookie header carries is tried in policy order; the
 * first that verifies wins. MG_R_TOKEN_MISSING when the header carries
 * none of them, else as mg_fmt_check(). mg_token_check() calls it after
 * its own cookie, when the query carries no token of any format. */
mg_reason_t mg_fmt_check_cookie(const mg_policy_t *policy, const mg_fmt_req_t *rq,
                                const mg_keyref_t **ref, mg_fmt_result_t *out);

/* ---- helpers for format files (mg_fmt_util.c) ------------------------------- */

/* MAC or digest of the concatenation of `n` pieces under `alg` (MD5: the
 * plain digest; the secret is one of the pieces). 0 ok. */
typedef struct mg_fmt_piece {
    const void *p;
    size_t n;
} mg_fmt_piece_t;
int mg_fmt_mac(const mg_fkey_t *k, const mg_fmt_piece_t *pieces, int n, unsigned char *out,
               size_t *out_len);
/* Prepare k->mac_tmpl and k->serial (HMAC algorithms; a pool cleanup
 * frees the template). 0 ok, -1 OpenSSL refused. */
int mg_fmt_mac_prepare(apr_pool_t *pool, mg_fkey_t *k);
/* Constant-time equality of a[0,n) and b[0,n). */
int mg_fmt_equal(const unsigned char *a, const unsigned char *b, size_t n);
/* Lower-case hex decoding, strict (exactly 2*cap characters); -1 bad. */
int mg_fmt_hex_decode(const char *s, size_t len, unsigned char *out, size_t cap);
void mg_fmt_hex_encode(const unsigned char *in, size_t n, char *out); /* NUL-terminated */
/* A key's `origin` option ("https://host[:port]" or "http://..."; lower-case
 * host name, IPv4 or [IPv6], no path): 1 valid, 0 not (gcp-cdn, cloudfront). */
int mg_fmt_origin_valid(const char *o);
/* Epoch seconds: 1-10 digits, no leading zero, not 0 (see mg_fmt_util.c). */
int mg_fmt_parse_epoch(const char *s, size_t n, int64_t *out);

/* The raw query split into the pairs named in `names` (raw name equal,
 * byte for byte) and the rest. values[i]/lens[i] are the raw value of the
 * one occurrence of names[i] (NULL when absent); *rest is the other pairs
 * in order, joined by '&' ("" when none). -1 (*why) when a name occurs
 * twice, or its decoded form occurs in cn->params more often than its raw
 * spelling (an encoded name such as ik%2Ds must not hide from the split). */
int mg_fmt_split_query(apr_pool_t *pool, const mg_canon_t *cn, const char *raw_query,
                       const char *const *names, const char **values, size_t *lens,
                       const char **rest, const char **why);

/* The next cookie called `name` in a Cookie header, from *pos (start with
 * the header): its raw value (one pair of DQUOTEs removed) in *val and *len,
 * *pos moved past it. 0 found, -1 none left. Values are not decoded. */
#define MG_FMT_COOKIE_TRIES 4 /* cookies of one name a verifier tries */
int mg_fmt_cookie_next(const char *name, const char **pos, const char **val, size_t *len);

/* Verify the cookies called `name` in rq->cookie with `one`, at most
 * MG_FMT_COOKIE_TRIES of them (a site may set one per path): the first that
 * verifies wins (its result in *out), else the first one's reason and detail
 * (MG_R_TOKEN_MISSING when there is none). */
typedef mg_reason_t mg_fmt_cookie_fn(const mg_fmt_req_t *rq, const mg_fkey_t *k, const char *val,
                                     size_t len, mg_fmt_result_t *out);
mg_reason_t mg_fmt_cookie_each(const mg_fmt_req_t *rq, const mg_fkey_t *k, const char *name,
                               mg_fmt_cookie_fn *one, mg_fmt_result_t *out);

/* Split a URL to sign into origin ("https://h" or ""), raw path and raw
 * query (NULL when none); refuses what mg_canon_path() refuses, bytes a
 * browser would encode (so the signed bytes are the bytes it sends), a
 * fragment, and a query that already has a token parameter of any format
 * (mg_*, mg_fmt_all_params()). */
mg_status_t mg_fmt_split_url(apr_pool_t *pool, const char *url, const char **origin,
                             const char **path, const char **query, mg_canon_t *cn,
                             const char **why);

/* The value of the cookie `name` in a Cookie header (raw, not unquoted):
 * 1 with *val and *len set, 0 absent, -1 given twice (a browser sends two cookies
 * of one name for two paths or domains: which one was meant is unknown). */
int mg_fmt_cookie_get(const char *header, const char *name, const char **val, size_t *len);

/* The formats (one file each). */
extern const mg_fmt_t mg_fmt_imagekit;
extern const mg_fmt_t mg_fmt_nginx;
extern const mg_fmt_t mg_fmt_bunny;
extern const mg_fmt_t mg_fmt_gcp;
extern const mg_fmt_t mg_fmt_lighttpd;
extern const mg_fmt_t mg_fmt_akamai;
extern const mg_fmt_t mg_fmt_cloudfront;

#endif /* MG_FMT_H */
