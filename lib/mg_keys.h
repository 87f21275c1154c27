/* mg_keys.h — signed-link keys: key files, in-memory keys, per-thread MAC
 * contexts (mg_keys.c). Key file formats are specified in
 * docs/token-spec.md ("Key files"). */
#ifndef MG_KEYS_H
#define MG_KEYS_H

#include <stddef.h>

#include <apr_file_info.h>

#include "mg.h"
#include "mg_policy.h"

typedef enum {
    MG_ALG_NONE = 0,
    MG_ALG_HMAC_SHA256 = 1,
    MG_ALG_HMAC_SHA1 = 2,
    MG_ALG_ED25519 = 3
} mg_alg_t;

#define MG_KEY_ID_MAX 64      /* key ids: [A-Za-z0-9._-]{1,64}, not starting with '.' */
#define MG_HMAC_MIN_SHA256 32 /* minimum secret bytes */
#define MG_HMAC_MIN_SHA1 20
#define MG_HMAC_MAX 1024
#define MG_SIG_MAX 64 /* largest raw signature (Ed25519) */

/* "hmac-sha256" -> MG_ALG_HMAC_SHA256; MG_ALG_NONE when unknown. */
mg_alg_t mg_alg_parse(const char *name);
const char *mg_alg_name(mg_alg_t alg);
/* 1 when `id` is a valid key id. */
int mg_key_id_valid(const char *id);

/* Accessors of the opaque key. */
const char *mg_key_id(const mg_key_t *key);
mg_alg_t mg_key_alg(const mg_key_t *key);
int mg_key_can_sign(const mg_key_t *key); /* HMAC, or Ed25519 private key */

/* Load a key file. `alg` MG_ALG_NONE infers the algorithm from the file
 * (the HMAC line names it; PEM is Ed25519); otherwise the file must agree.
 * On success *out is allocated from `pool` (OpenSSL objects are freed by a
 * pool cleanup) and *insecure gets MG_KEY_FILE_READABLE when secret material
 * is readable by group or others, and mg_key_file_writable()'s bits for
 * the file, public keys included (whoever can write it can put their own
 * key there). On failure returns MG_EIO / MG_EINVAL with *why. */
#define MG_KEY_FILE_READABLE 1
#define MG_KEY_FILE_WRITABLE 2        /* by its group only: a warning */
#define MG_KEY_FILE_WRITABLE_BY_ALL 4 /* by everyone: refused (an error) */
/* The sentences after "key file 'F'[ of key 'K'] is " */
#define MG_KEY_FILE_WRITABLE_MSG                                                                   \
    "writable by its group: whoever in it can write it can put their own key there, and the "      \
    "server then accepts the links they sign (chmod g-w it)"
#define MG_KEY_FILE_WRITABLE_BY_ALL_MSG                                                            \
    "writable by everyone: anyone on the machine can put their own key there, and the server "     \
    "would then accept the links they sign (chmod go-w it)"
/* The MG_KEY_FILE_WRITABLE* bit of a key file of mode `protection`. */
int mg_key_file_writable(apr_fileperms_t protection);
mg_status_t mg_key_load_file(apr_pool_t *pool, const char *id, mg_alg_t alg, const char *path,
                             mg_key_t **out, int *insecure, const char **why);

/* Key from a buffer holding the key file's text (same formats). */
mg_status_t mg_key_from_text(apr_pool_t *pool, const char *id, mg_alg_t alg, const char *text,
                             size_t len, mg_key_t **out, const char **why);

/* HMAC key from raw secret bytes (tests, signers embedding the library). */
mg_status_t mg_key_from_secret(apr_pool_t *pool, const char *id, mg_alg_t alg,
                               const unsigned char *secret, size_t len, mg_key_t **out,
                               const char **why);

/* Load the material of every policy->keys[] entry (file relative to the
 * policy's directory). Unreadable/malformed files are errors at the keyref's
 * position; group/world-readable files are warnings. Called by the loader. */
mg_status_t mg_keys_load(mg_policy_t *policy, mg_diags_t *diags);
/* The key-file-permissions diagnostics for key reference r whose file is
 * `insecure` (MG_KEY_FILE_* bits), at r's place in the policy: the one
 * wording for native and foreign keys. A file, or a directory above it,
 * that everyone may write is an error (the policy is refused); the rest
 * are warnings (mg_dirs.h says why). */
void mg_key_file_check(const mg_policy_t *policy, const mg_keyref_t *r, int insecure,
                       mg_diags_t *diags);

/* The key with id `kid` among the policy's loaded keys, or NULL.
 * `len` is the length of kid (it need not be NUL-terminated). */
const mg_key_t *mg_keys_find(const mg_policy_t *policy, const char *kid, size_t len);
/* The same, as the policy's keys[] entry (revoked flag, position), or NULL. */
const mg_keyref_t *mg_keys_find_ref(const mg_policy_t *policy, const char *kid, size_t len);
/* The policy's active signing key (sign: true), or NULL. */
const mg_key_t *mg_keys_signing(const mg_policy_t *policy);

/* Sign `msg` with `key`: HMAC tag (32 or 20 bytes) or Ed25519 signature
 * (64 bytes) into sig (>= MG_SIG_MAX). Uses this thread's cached context.
 * MG_OK, or MG_ECRYPTO / MG_EINVAL (Ed25519 public key). */
mg_status_t mg_key_sign(const mg_key_t *key, const unsigned char *msg, size_t msg_len,
                        unsigned char *sig, size_t *sig_len);

/* Verify; 1 valid, 0 invalid (including OpenSSL errors: fail closed).
 * HMAC tags are compared in constant time. Ed25519 successes are cached per
 * process (bounded, keyed by key, message digest and signature) until
 * `valid_until` (seconds since the epoch) so that the many Range requests
 * of one video verify once. */
int mg_key_verify(const mg_key_t *key, const unsigned char *msg, size_t msg_len,
                  const unsigned char *sig, size_t sig_len, int64_t now, int64_t valid_until);

/* The key's fingerprint, "sha256:" and 64 lower-case hex digits, from the
 * loaded material (HMAC: of a MAC over a fixed string, never the secret;
 * Ed25519: of the public key, equal for both files of a pair); the policy
 * digest covers it, so a key file replaced in place changes the digest
 * (docs/policy.md, keys[].fingerprint). MG_OK with *fp, or MG_ECRYPTO /
 * MG_EINVAL with *why. */
mg_status_t mg_key_fingerprint(apr_pool_t *pool, const mg_key_t *key, const char **fp,
                               const char **why);

/* Prepare OpenSSL once per process and this thread's contexts for `policy`
 * (module child_init: the first HMAC in a process is expensive). */
void mg_keys_warm_up(const mg_policy_t *policy);

/* Key generation for `mgctl keygen`: the key file text (and, for Ed25519,
 * the public key file text in *pub_text; NULL for HMAC). */
mg_status_t mg_key_generate(apr_pool_t *pool, mg_alg_t alg, const char **key_text,
                            const char **pub_text, const char **why);

/* base64url without padding (RFC 4648 section 5). Decoding is strict:
 * alphabet only, no padding, no whitespace, unused trailing bits zero, so
 * every byte string has exactly one encoding. mg_b64url_decode returns the
 * decoded length or -1; `out` must hold (len * 3) / 4 bytes. */
size_t mg_b64url_encode(const unsigned char *in, size_t len, char *out);
long mg_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

#endif
