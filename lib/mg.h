/* mg.h — public API of the media-guard core library (libmg).
 *
 * Everything that decides lives behind this header: policy loading and
 * compiling, request preparation (canonical URL, identity, country) and the
 * evaluator. The httpd module and mgctl both call exactly these functions, so
 * `mgctl explain` and Apache can never disagree. No httpd header is included
 * anywhere in lib/.
 */
#ifndef MG_H
#define MG_H

#include <stddef.h>
#include <stdint.h>

#include <apr_file_io.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "mg_diag.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mg_policy mg_policy_t; /* defined in mg_policy.h */
typedef struct mg_key mg_key_t;       /* a signed-link key, mg_keys.h */

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* Load, validate and compile a policy file. All errors of the file are
 * appended to `diags` (each with file:line:column); returns MG_OK and sets
 * *out only when there is no error-severity diagnostic. Warnings (shadowed
 * rules, world-readable key files, ...) are appended too but do not fail.
 * Everything is allocated from `pool`, whose lifetime is the policy's. */
mg_status_t mg_policy_load_file(apr_pool_t *pool, const char *path, mg_policy_t **out,
                                mg_diags_t *diags);

/* Same, from a buffer; `name` is used as the file name in diagnostics and
 * `base_dir` resolves relative key-file paths (NULL: current directory). */
mg_status_t mg_policy_load_buffer(apr_pool_t *pool, const char *name, const char *base_dir,
                                  const char *buf, size_t len, mg_policy_t **out,
                                  mg_diags_t *diags);

/* Read a policy file as the loader does (a regular file only — a FIFO would
 * block —, at most 16 MiB, NUL-terminated) without loading it: for callers
 * that keep the text, such as the module's last-good copy on reload. */
mg_status_t mg_policy_read_file(apr_pool_t *pool, const char *path, char **buf, apr_size_t *len,
                                mg_diags_t *diags);

/* Read a policy from an open stream (mgctl's standard input, a pipe) with
 * the same bound and the same "file-too-large" error as
 * mg_policy_read_file, in bounded chunks: input over the bound is refused
 * (MG_EINVAL; the rest of the stream is left unread), never truncated. A
 * read error is MG_EIO. Diagnostics name `name` (e.g. "<stdin>"). */
mg_status_t mg_policy_read_stream(apr_pool_t *pool, apr_file_t *f, const char *name, char **buf,
                                  apr_size_t *len, mg_diags_t *diags);

/* A policy that holds one key and nothing else, for signers and verifiers
 * given a key file instead of a policy (mgctl sign/verify --key-file): the
 * loader's defaults everywhere (no rules, default deny, tokens.cookie
 * mg_token, ...), the key under its own id, a signing key when it can
 * sign. `grace` and `skew` are its tokens.grace and tokens.clock_skew; a
 * negative value keeps the default (0 and 30 s). Not compiled: it decides
 * tokens (mg_token_check), not requests. MG_OK with *out, or MG_EINVAL. */
mg_status_t mg_policy_from_key(apr_pool_t *pool, mg_key_t *key, const char *key_file,
                               apr_interval_time_t grace, apr_interval_time_t skew,
                               mg_policy_t **out);

const char *mg_policy_name(const mg_policy_t *policy);
/* Hex SHA-256 of the policy's canonical compiled form (see mg_policy_emit). */
const char *mg_policy_digest(const mg_policy_t *policy);

/* Canonical text form of the policy (valid policy YAML, deterministic; the
 * output of `mgctl compile`), whose SHA-256 is mg_policy_digest. */
const char *mg_policy_emit(apr_pool_t *pool, const mg_policy_t *policy);

/* What callers may ask about a loaded policy (mg_policy_query.c); its
 * structures stay inside the library (mg_policy.h). */
int mg_policy_rule_count(const mg_policy_t *policy);
/* 1 when some rule depends on the time of day (time windows): a decision
 * then depends on when it is asked. */
int mg_policy_uses_time(const mg_policy_t *policy);
/* The declared roles (`roles:`), in file order: how many, and the name of
 * the index-th (NULL out of range). */
int mg_policy_role_count(const mg_policy_t *policy);
const char *mg_policy_role_name(const mg_policy_t *policy, int index);
/* Index of the declared role `name` (a slice of `len` bytes), or -1. */
int mg_policy_role_index(const mg_policy_t *policy, const char *name, size_t len);
/* The file the policy was loaded from (as given), for diagnostics. */
const char *mg_policy_file(const mg_policy_t *policy);

/* A signed link whose token lives in the URL path (lighttpd mod_secdownload,
 * nginx secure_link_secret, Bunny's path form; docs/token-formats.md,
 * "Tokens in the path"): when `raw_path` (percent-encoded, no query) has
 * the path form of one of the policy's keys, the canonical effective path —
 * the path without the token segments, which the policy judges and the web
 * server must serve — else NULL (also when that path is refused: a
 * decision on the request denies it). mg_fmt.c. */
const char *mg_path_token_effective(apr_pool_t *pool, const mg_policy_t *policy,
                                    const char *raw_path);
/* 1 when the policy has a key whose links carry their token in the path
 * (where mg_path_token_effective can ever answer), else 0. mg_fmt.c. */
int mg_policy_has_path_tokens(const mg_policy_t *policy);
/* The query parameter names (NULL-terminated) of the policy's foreign-format
 * key `kid` (docs/token-formats.md), or NULL when there is no such key (or
 * it is a native one). The HLS rewrite carries them onwards. mg_fmt.c. */
const char *const *mg_policy_key_params(const mg_policy_t *policy, const char *kid);
/* The `apache:` role sources (identity.roles_from), in file order, as an
 * embedding program with Apache's authz providers binds them at
 * configuration time; `index` is the one mg_grant_fn receives. */
typedef struct mg_grant_view {
    const char *role;     /* the declared role it grants */
    const char *provider; /* "group", "ldap-group", "dbd-group", ... */
    const char *args;     /* the rest of the Require line, whitespace-normalised ("" if none) */
    const char *line;     /* provider + " " + args (mg_role_grant_line) */
    int line_no, col;     /* its position in the policy file */
} mg_grant_view_t;
int mg_policy_grant_count(const mg_policy_t *policy);
/* 0 with *out filled, -1 when `index` is out of range. */
int mg_policy_grant(const mg_policy_t *policy, int index, mg_grant_view_t *out);

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* A country code as the policy, the request's sources, `mgctl explain
 * --country` and a policy test's `country:` read it: two letters A-Z
 * (case-insensitive), or T1 (CF-IPCountry's Tor). Upper case, or NULL. */
const char *mg_country_norm(apr_pool_t *pool, const char *c);

/* Where mg_request_prepare may look up identity and country sources named in
 * the policy (environment variables / notes set by other modules, request
 * headers). Return NULL when absent. `kind` is MG_LOOKUP_*. */
typedef enum { MG_LOOKUP_ENV = 1, MG_LOOKUP_NOTE = 2, MG_LOOKUP_HEADER = 3 } mg_lookup_kind_t;
typedef const char *(*mg_lookup_fn)(void *ctx, mg_lookup_kind_t kind, const char *name);

/* A client certificate's field in mod_ssl's variables: 1 for SSL_CLIENT_*
 * other than SSL_CLIENT_VERIFY, without regard to case (mod_ssl and an
 * apr_table read names so). Such a value counts only when
 * mg_ssl_verified(SSL_CLIENT_VERIFY): under SSLVerifyClient optional or
 * optional_no_ca anyone's self-made certificate has fields too. The module
 * asks mod_ssl (mod_media_guard/mg_mod_ssl.c); mgctl reads its --env. */
int mg_ssl_client_cert_field(const char *name);
int mg_ssl_verified(const char *verify);

/* Roles from another Apache authz provider (identity.roles_from `apache:`
 * entries, mg_policy.h's mg_role_grant_t). The evaluator calls this only
 * for an entry whose role could raise the owning rule's access level and
 * that the user does not already hold; `index` is the entry's position in
 * policy->role_grants. Return MG_GRANT_YES when `Require PROVIDER ARGS`
 * would pass, MG_GRANT_NO when it would not (including "no user yet"), and
 * MG_GRANT_ERROR when it could not be decided: the request is then denied
 * (internal-error), never decided as if the role were simply absent. */
typedef enum { MG_GRANT_NO = 0, MG_GRANT_YES = 1, MG_GRANT_ERROR = -1 } mg_grant_t;
struct mg_role_grant;
typedef mg_grant_t (*mg_grant_fn)(void *ctx, int index, const struct mg_role_grant *grant);
/* The entry's `PROVIDER ARGS` ("group editors"), as `Require` would take it
 * and as mgctl --require compares it. */
const char *mg_role_grant_line(const struct mg_role_grant *grant);

enum { MG_URL_HEADER_NONE = 0, MG_URL_HEADER_SAME = 1, MG_URL_HEADER_OTHER = 2 };

/* The request as the evaluator sees it. The caller fills the "input" part;
 * mg_request_prepare() fills the "derived" part. Strings are borrowed. */
typedef struct mg_request {
    /* input */
    const char *method;       /* "GET", "HEAD", ... */
    const char *raw_path;     /* path as received, still percent-encoded, no query */
    const char *query;        /* raw query string without '?', or NULL */
    const char *host;         /* Host header (for same-origin checks), or NULL */
    const char *scheme;       /* "http" or "https" */
    const char *client_ip;    /* the client (after mod_remoteip) */
    const char *peer_ip;      /* the TCP peer (decides whether proxy headers are trusted) */
    const char *user;         /* authenticated user, or NULL */
    const char **extra_roles; /* roles given directly (mgctl --role), or NULL */
    int n_extra_roles;
    const char *country; /* if already known (mgctl --country); else from policy source */
    apr_time_t now;      /* request time */
    const char *referer, *origin;
    const char *sec_fetch_site, *sec_fetch_mode, *sec_fetch_dest;
    const char *accept; /* Accept header: browser-navigation detection */
    const char *cookie; /* Cookie header (signed-cookie mode) */
    /* Content-Length and Transfer-Encoding: a GET or HEAD with a body is
     * refused (an origin could read parameters from it) */
    const char *content_length, *transfer_encoding;
    /* Request headers that some origins read as the request URL instead of
     * the request line (X-Original-URL, X-Rewrite-URL, ...: mg_http.h):
     * MG_URL_HEADER_NONE, _SAME (each is the target itself, byte for byte)
     * or _OTHER (one names another URL: refused) */
    int url_header;
    /* With _OTHER: the first of them that names another URL, spelt as
     * mg_http.h writes it ("X-Envoy-Original-Path", whatever the case or
     * '_' and '.' sent), for the refusal's sentence; NULL otherwise */
    const char *url_header_name;
    mg_lookup_fn lookup; /* may be NULL */
    void *lookup_ctx;
    mg_grant_fn grant_check; /* roles_from `apache:`; NULL: such roles are never held */
    void *grant_ctx;
    /* Why the request target was refused (mg_target_split, mg_http.h), or
     * NULL: mg_request_prepare then refuses the request (bad-url). */
    const char *target_refused;

    /* derived by mg_request_prepare() */
    struct mg_request_derived *d;
} mg_request_t;

/* Canonicalise the path, parse the query and transformations, resolve the
 * user's roles and the country from the policy's sources, parse the client
 * IP. On malformed input returns MG_EINVAL and sets *why to a short sentence;
 * the evaluator then denies with reason "bad-url". */
mg_status_t mg_request_prepare(apr_pool_t *pool, const mg_policy_t *policy, mg_request_t *req,
                               const char **why);

/* The policy's own reserved query names (its download parameter, the names
 * its foreign-format keys read): 0, or -1 with *why when a parameter of
 * `params` (mg_query_parse) spells one so that some server stack could read
 * it as that name without being exactly it (docs/canonical-urls.md).
 * mg_request_prepare refuses such a request (bad-url); signers that know
 * the policy (mgctl sign) refuse to sign it. */
int mg_policy_query_check(apr_pool_t *pool, const mg_policy_t *policy,
                          const apr_array_header_t *params, const char **why);

/* ------------------------------------------------------------------ */
/* Decisions                                                           */
/* ------------------------------------------------------------------ */

typedef enum {
    MG_OUTCOME_DENY = 0, /* zero value denies: fail closed */
    MG_OUTCOME_ALLOW,    /* serve it; see access */
    MG_OUTCOME_LOGIN,    /* 302 to decision->location */
    MG_OUTCOME_AUTH      /* a role is needed and nobody is signed in: let
                            Apache authenticate (AUTHZ_DENIED_NO_USER) */
} mg_outcome_t;

typedef enum { MG_ACCESS_NONE = 0, MG_ACCESS_VIEW = 1, MG_ACCESS_DOWNLOAD = 2 } mg_access_t;

/* Machine-readable reasons. Names (mg_reason_name) are part of the public
 * interface: they appear in logs, headers and test files. */
typedef enum {
    MG_R_INTERNAL = 0,      /* "internal-error" — zero value denies */
    MG_R_ALLOWED,           /* "allowed" */
    MG_R_ALLOWED_BY_TOKEN,  /* "allowed-by-token" */
    MG_R_DEFAULT_ALLOW,     /* "default-allow": no rule matched, policy default allow */
    MG_R_NO_RULE,           /* "no-rule": no rule matched, default deny */
    MG_R_BAD_URL,           /* "bad-url": refused by canonicalisation */
    MG_R_METHOD,            /* "method-not-allowed" */
    MG_R_IP_DENIED,         /* "ip-denied": on a deny list */
    MG_R_IP_NOT_ALLOWED,    /* "ip-not-allowed": not on the allow list */
    MG_R_COUNTRY_DENIED,    /* "country-denied" */
    MG_R_COUNTRY_UNKNOWN,   /* "country-unknown": rule needs a country, none known */
    MG_R_OUTSIDE_TIME,      /* "outside-time-window" */
    MG_R_HOTLINK,           /* "hotlink" */
    MG_R_TRANSFORM_DENIED,  /* "transform-not-allowed" */
    MG_R_TRANSFORM_MISSING, /* "transform-required-missing" (e.g. watermark removed) */
    MG_R_LOGIN_REQUIRED,    /* "login-required" (outcome LOGIN or AUTH) */
    MG_R_ROLE,              /* "role-insufficient" */
    MG_R_DOWNLOAD,          /* "download-not-allowed": view only */
    MG_R_TOKEN_MISSING,     /* "token-missing" */
    MG_R_TOKEN_MALFORMED,   /* "token-malformed" */
    MG_R_TOKEN_BAD_SIG,     /* "token-bad-signature" */
    MG_R_TOKEN_EXPIRED,     /* "token-expired" */
    MG_R_TOKEN_NOT_YET,     /* "token-not-yet-valid" */
    MG_R_TOKEN_WRONG_IP,    /* "token-wrong-ip" */
    MG_R_TOKEN_SCOPE,       /* "token-out-of-scope" */
    MG_R_TOKEN_UNKNOWN_KEY, /* "token-unknown-key" */
    MG_R_TOKEN_USED,        /* "token-used" (one-time links) */
    MG_R_TOKEN_REVOKED,     /* "token-revoked" */
    MG_R__COUNT
} mg_reason_t;

const char *mg_reason_name(mg_reason_t r);
/* Parse a reason name back (for test files); returns -1 if unknown. */
int mg_reason_parse(const char *name);
const char *mg_outcome_name(mg_outcome_t o); /* "deny" "allow" "login" "auth" */
const char *mg_access_name(mg_access_t a);   /* "none" "view" "download" */

typedef struct mg_decision {
    mg_outcome_t outcome;
    mg_access_t access; /* granted level when outcome == ALLOW */
    mg_reason_t reason;
    const char *rule_id;       /* matching rule, or NULL */
    int status;                /* HTTP status for DENY (default 403) */
    const char *message;       /* custom deny message (body), or NULL */
    const char *page;          /* custom deny page (local URL path), or NULL */
    const char *location;      /* LOGIN: full redirect target, already encoded */
    int download;              /* ALLOW: the request asked for a download */
    const char *filename;      /* ALLOW+download: file name for Content-Disposition */
    const char *corp;          /* Cross-Origin-Resource-Policy value, or NULL */
    const char *detail;        /* one human sentence on why (never a secret) */
    apr_array_header_t *trace; /* const char* lines, or NULL when not tracing */
    /* ALLOW by a token: its key id, format ("mg-v1" or keys[].format),
     * where it came from ("query", "cookie", "path") and its scope (a
     * canonical directory, NULL for an exact-path token) — what the HLS
     * rewrite needs to carry a prefix token onwards. */
    const char *token_kid, *token_format, *token_from, *token_scope;
    /* ... with an id (mg_id): the caller may count uses (mg_uses;
     * mod_media_guard: MediaGuardOnceCache) and check the id against
     * tokens.revocation_file as it is now; token_uses 0 = unlimited */
    const char *token_id;
    int token_uses;
    apr_time_t token_until; /* expiry + grace + skew: keep the count until then */
    /* the earliest moment a server could have granted it: max(expiry −
     * tokens.max_ttl, not-before) − tokens.clock_skew; 0 = unknown (no
     * max_ttl, no mg_nbf). The claim store's epoch refuses a link limited
     * in uses that could have been used before the store lost its records. */
    apr_time_t token_used_from;
    /* the earliest moment it could have been signed, hence revoked:
     * expiry − tokens.max_ttl − tokens.clock_skew (mgctl sign refuses a
     * longer lifetime; mg_nbf says nothing about signing); 0 = unknown (no
     * max_ttl). The epoch refuses an id whose revocation may have been lost. */
    apr_time_t token_revocable_from;
    /* DENY by a broken token under `token: alternative` with nobody signed
     * in, where `access` would grant a signed-in user what the request
     * needs: a caller that can authenticate the client (credentials on the
     * way) should, and decide again with the user (the token is then not
     * looked at). mod_media_guard answers AUTHZ_DENIED_NO_USER. */
    int user_may_allow;
} mg_decision_t;

/* Evaluate. Never fails: any internal problem yields outcome DENY with
 * reason MG_R_INTERNAL. `trace` non-zero records the steps in d->trace
 * (mgctl explain/test, debug logging); with trace == 0 the hot path
 * allocates nothing proportional to the policy. The request must have been
 * passed through mg_request_prepare() (if that failed, mg_evaluate denies
 * with MG_R_BAD_URL). */
void mg_evaluate(apr_pool_t *pool, const mg_policy_t *policy, const mg_request_t *req, int trace,
                 mg_decision_t *d);

/* ------------------------------------------------------------------ */
/* What a policy means (mg_policy_facts.c)                             */
/* ------------------------------------------------------------------ */

/* Whether an allow decision of `policy` is the same for every client, so
 * that a shared cache may keep the response: the policy's default allow, or
 * a rule whose `anonymous` entry alone grants the level given and whose
 * other checks cannot tell clients apart (no IP, country, time window or
 * hotlink condition). 0 for anything granted to a role, a user, a token, an
 * address or a Referer, and for every refusal. */
int mg_policy_same_for_everyone(const mg_policy_t *policy, const mg_decision_t *d);

/* A rule whose paths reach beyond the directory `dir` (ending in '/')
 * towards the root: the literal directory one of its patterns judges
 * (docs/policy.md, "Paths": "/photos" and "/photos/" are both "/photos/",
 * "/thumbs/x-?.jpg" is "/thumbs/") is a proper ancestor of `dir` — or `dir`
 * itself when `part` (the caller covers only part of dir). 1 with *rule_id
 * and *pattern (as written) set from the first such rule, else 0. */
int mg_policy_rule_above(apr_pool_t *pool, const mg_policy_t *policy, const char *dir, int part,
                         const char **rule_id, const char **pattern);

#ifdef __cplusplus
}
#endif
#endif /* MG_H */
