/* mg_token.h — signed links, token format v1 (mg_token.c).
 * The format is specified in docs/token-spec.md. */
#ifndef MG_TOKEN_H
#define MG_TOKEN_H

#include "mg.h"
#include "mg_canon.h"
#include "mg_keys.h"
#include "mg_policy.h"

typedef struct mg_token_claims {
    const char *kid;       /* key id */
    apr_time_t expires;    /* 0 = none (refused unless policy allows) */
    apr_time_t not_before; /* 0 = none */
    mg_access_t access;    /* claimed access level (default view) */
    const char *scope;     /* prefix scope ("/videos/lesson1/"), or NULL = exact path */
    const char *ip;        /* bound IP/CIDR text, or NULL */
    const char *id;        /* mg_id: token id (revocation, use counting), or NULL */
    int uses;              /* mg_uses: distinct clients that may use it; 0 = unlimited */
    const char *from;      /* "query", "cookie" or "path" (a foreign token in the path) */
    int in_grace;          /* valid only thanks to tokens.grace / clock skew */
    const char *detail;    /* one sentence on why a token was refused, or NULL */
    const char *format;    /* "mg-v1", or the foreign format (keys[].format) of the key */
} mg_token_claims_t;

/* Verify the token carried by the request (query parameters or the signed
 * cookie) against the policy's keys at req->now, applying the policy's grace
 * and clock skew. Returns MG_R_ALLOWED when valid (claims filled) or the
 * specific MG_R_TOKEN_* reason (MG_R_BAD_URL when it canonicalises the
 * request itself and canonicalisation refuses it). Never allocates proportional to the policy;
 * OpenSSL state is prepared per thread.
 * Uses req->d (canonical path, client address) when mg_request_prepare()
 * succeeded, else canonicalises req->raw_path / req->query itself, so that
 * `mgctl verify` needs no rules. */
mg_reason_t mg_token_check(apr_pool_t *pool, const mg_policy_t *policy, const mg_request_t *req,
                           mg_token_claims_t *claims);

#define MG_TOKEN_ID_MAX 32    /* mg_id: base64url characters */
#define MG_TOKEN_USES_MAX 100 /* mg_uses: bounds the module's per-token record */
#define MG_STR_(x) #x
#define MG_STR(x) MG_STR_(x)

/* 1 when `id` is a valid mg_id (1-32 base64url characters). */
int mg_token_id_valid(const char *id);
/* 1 when `scope` is a prefix (mg_scope) a token may carry: a canonical
 * directory path, starting and ending with '/' (docs/token-spec.md). */
int mg_token_scope_valid(apr_pool_t *pool, const char *scope);

/* Revocation file (tokens.revocation_file): one mg_id per line; blank lines
 * and lines starting with '#' are skipped, surrounding blanks ignored. Adds
 * the ids to `set` (keys and values are pool strings). The file must be a
 * regular file of at most MG_REVOCATION_FILE_MAX bytes. MG_EIO / MG_EINVAL
 * with *why (naming the line of a bad id). When `prot` is not NULL it gets
 * the mode of the file as opened (fstat of the descriptor read, not of the
 * path looked at again): the caller refuses a file everyone may write. */
#define MG_REVOCATION_FILE_MAX (4 * 1024 * 1024)
mg_status_t mg_token_revocations_parse(apr_pool_t *pool, const char *text, size_t len,
                                       apr_hash_t *set, const char **why);
mg_status_t mg_token_revocations_load(apr_pool_t *pool, const char *path, apr_hash_t *set,
                                      apr_fileperms_t *prot, const char **why);

/* Query-parameter names of format v1 (everything starting "mg_" is reserved). */
int mg_token_is_reserved_param(const char *name);

/* ---- signing ------------------------------------------------------------- */

/* Split a URL to sign, "https://host/p?q" (scheme any case, a non-empty
 * authority without controls or spaces) or "/p?q", into origin
 * ("https://host" or ""), raw path and raw query (NULL when none); refuses a
 * fragment and a protocol-relative "//host". Every signer uses it. */
mg_status_t mg_token_split_url(apr_pool_t *pool, const char *url, const char **origin,
                               const char **path, const char **query, const char **why);

/* Sign `url` ("/path?query" or "https://host/path?query"; no fragment) with
 * `key`, claims from `c` (expires required; not_before, access, scope, ip
 * optional; kid comes from the key). *out is the signed URL in canonical
 * form: scheme and authority as given, the canonical path, the query sorted,
 * the token parameters appended. MG_EINVAL with *why for bad input. */
mg_status_t mg_token_sign_url(apr_pool_t *pool, const mg_key_t *key, const char *url,
                              const mg_token_claims_t *c, const char **out, const char **why);

/* A signer prepared once for many URLs (mgctl sign's stdin stream): the
 * claims are validated and serialised once; each URL then costs one
 * canonicalisation and one MAC. */
typedef struct mg_token_signer mg_token_signer_t;
mg_status_t mg_token_signer_make(apr_pool_t *pool, const mg_key_t *key, const mg_token_claims_t *c,
                                 mg_token_signer_t **out, const char **why);
mg_status_t mg_token_signer_sign(const mg_token_signer_t *s, apr_pool_t *pool, const char *url,
                                 const char **out, const char **why);
/* The same, with the link's length in *out_len (NULL: not wanted), for a
 * caller that writes it out without counting it again. */
mg_status_t mg_token_signer_sign_n(const mg_token_signer_t *s, apr_pool_t *pool, const char *url,
                                   const char **out, size_t *out_len, const char **why);

/* Signed-cookie value for a prefix token (c->scope required). */
mg_status_t mg_token_sign_cookie(apr_pool_t *pool, const mg_key_t *key, const mg_token_claims_t *c,
                                 const char **value, const char **why);

/* The exact string to sign for `url` and claims (docs/token-spec.md);
 * for test vectors and debugging other signers. */
mg_status_t mg_token_string_to_sign(apr_pool_t *pool, const mg_key_t *key, const char *url,
                                    const mg_token_claims_t *c, const char **sts, const char **why);

/* Token percent-encoding (docs/token-spec.md, "Encoding"): unreserved
 * characters and / : , @ are kept, every other byte becomes %XX. */
const char *mg_token_encode(apr_pool_t *pool, const char *s);

/* Expiry buckets: the last second (23:59:59 local) of the day, week (ending
 * Sunday) or month containing `now`, in `tz`. `bucket` is "end-of-day",
 * "end-of-week" or "end-of-month". 0 ok, -1 unknown bucket. */
int mg_token_bucket_expiry(const char *bucket, const mg_tz_t *tz, apr_time_t now, apr_time_t *out);

#endif
