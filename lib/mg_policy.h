/* mg_policy.h — the in-memory policy (internal to libmg).
 *
 * The loader (mg_policy_load.c) fills these structures from YAML, resolving
 * every name reference (roles, classes, ip sets, time windows, transform and
 * hotlink profiles, keys) to a pointer or index, so the compiler and the
 * evaluator never look anything up by name. The compiler
 * (mg_policy_compile.c) then builds `compiled` (path trie + extension
 * tables) that the per-request lookups (mg_policy_query.c) read. Everything
 * lives in the policy's pool and is read-only after loading, so it is
 * shared by all threads without locks.
 *
 * The YAML language is documented in docs/policy.md; the field comments
 * below name the YAML key they come from.
 */
#ifndef MG_POLICY_H
#define MG_POLICY_H

#include <apr_hash.h>

#include "mg.h"
#include "mg_ip.h"
#include "mg_tz.h"

/* Where a thing was written: for diagnostics and traces. */
typedef struct mg_pos {
    int line, col;
} mg_pos_t;

/* ---- roles ------------------------------------------------------------ */
/* Roles are small integers: index into policy->roles. A user's roles are a
 * bitset of MG_MAX_ROLES bits so membership tests are one AND. */
#define MG_MAX_ROLES 64
typedef uint64_t mg_roleset_t;

/* identity.roles_from[] entry; country.from (env, note, header, mmdb) */
typedef enum {
    MG_SRC_USERS = 1,
    MG_SRC_ENV,
    MG_SRC_NOTE,
    MG_SRC_HEADER,
    MG_SRC_APACHE, /* roles_from: {apache: {ROLE: "PROVIDER ARGS"}} */
    MG_SRC_MMDB    /* country.from: {mmdb: FILE} */
} mg_src_kind_t;
typedef struct mg_role_source {
    mg_src_kind_t kind;           /* users | env: NAME | note: NAME | header: NAME | apache */
    const char *name;             /* variable / note / header name (NULL for users) */
    const char *separator;        /* default "," ; whitespace around items trimmed */
    const char *prefix;           /* optional: only items starting with it, prefix stripped */
    int grant_first, grant_count; /* apache: its entries in policy->role_grants */
    mg_pos_t pos;
} mg_role_source_t;

/* One `apache:` mapping entry: `role` is held when `Require PROVIDER ARGS`
 * would pass. Only an embedding program that has Apache's authz providers
 * (the module) can evaluate it, through mg_request_t.grant_check; the
 * evaluator asks only when the owning rule's access list could use the
 * role. */
typedef struct mg_role_grant {
    int role;             /* index into policy->roles */
    const char *provider; /* "group", "ldap-group", "dbd-group", ... */
    const char *args;     /* the rest of the Require line, whitespace-normalised ("" if none) */
    const char *line;     /* provider + " " + args, as mgctl --require compares it */
    mg_pos_t pos;
} mg_role_grant_t;

typedef struct mg_user_roles {
    const char *user;
    mg_roleset_t roles;
} mg_user_roles_t;

/* ---- media classes ------------------------------------------------------ */
/* Class ids are indexes into policy->classes; built-ins first (image, video,
 * stream, media, audio), then user-defined. A rule's class filter is a bitset. */
#define MG_MAX_CLASSES 64
typedef uint64_t mg_classset_t;
typedef struct mg_class {
    const char *name;
    apr_array_header_t *exts; /* const char*, lower-case, no dot */
    int builtin;
    mg_pos_t pos;
} mg_class_t;

/* Built-in classes (mg_classes.c), always policy->classes[0..4] in this
 * order; `media` lists the union of image, video and audio extensions. */
#define MG_CLASS_IMAGE 0
#define MG_CLASS_VIDEO 1
#define MG_CLASS_STREAM 2
#define MG_CLASS_MEDIA 3
#define MG_CLASS_AUDIO 4
#define MG_N_BUILTIN_CLASSES 5
/* Append the built-in classes to `classes` (an array of mg_class_t). */
void mg_classes_add_builtin(apr_pool_t *pool, apr_array_header_t *classes);
/* Index of a built-in class name ("image" -> MG_CLASS_IMAGE), or -1. */
int mg_class_builtin_index(const char *name);

/* ---- ip sets ------------------------------------------------------------ */
typedef struct mg_ipset {
    const char *name;          /* NULL for inline lists in a rule */
    apr_array_header_t *cidrs; /* mg_cidr_t */
    mg_pos_t pos;
} mg_ipset_t;

/* ---- time windows -------------------------------------------------------- */
typedef struct mg_hours {
    int from_min, to_min; /* minutes after local midnight; to exclusive; from > to wraps midnight */
} mg_hours_t;
typedef struct mg_daterange {
    int from_ymd, to_ymd; /* yyyymmdd local, inclusive */
} mg_daterange_t;
typedef struct mg_timewin {
    const char *name;
    const mg_tz_t *tz; /* time_windows.X.timezone, else policy timezone */
    const char *tz_name;
    unsigned days;             /* bit 0 = Sunday ... bit 6 = Saturday; 0x7f if absent */
    apr_array_header_t *hours; /* mg_hours_t; empty = all day */
    apr_array_header_t *dates; /* mg_daterange_t; empty = any date */
    mg_pos_t pos;
} mg_timewin_t;

/* ---- hotlink profiles ---------------------------------------------------- */
typedef enum { MG_EMPTY_REF_ALLOW = 0, MG_EMPTY_REF_DENY = 1 } mg_empty_ref_t;
/* navigation: what a top-level navigation (a click on a link, a typed URL)
 * meets; embeds (img, video, iframe, fetch, ...) always meet the checks */
typedef enum { MG_NAV_CHECK = 0, MG_NAV_ALLOW = 1 } mg_nav_t;
typedef struct mg_hotlink {
    const char *name;
    apr_array_header_t *allowed_origins; /* const char*: "https://example.com", "*.example.com" with
                                            or without "https://" */
    int same_origin;                     /* allow the request's own origin (default 1) */
    int fetch_metadata;                  /* honour Sec-Fetch-Site/-Mode/-Dest (default 1) */
    mg_empty_ref_t empty_referer;        /* no Referer and no Origin and no Sec-Fetch-Site */
    mg_nav_t navigation;                 /* default MG_NAV_CHECK */
    /* Cross-Origin-Resource-Policy: same-site|same-origin|cross-origin. The
     * loader always sets it: when the profile does not, it follows from the
     * profile (partners listed: cross-origin, else same-origin). */
    const char *corp;
    int corp_set; /* corp written in the policy */
    mg_pos_t pos;
} mg_hotlink_t;

/* ---- transformation profiles --------------------------------------------- */
typedef struct mg_tr_constraint {
    const char *param; /* "w", "h", "q", "f", "oi", ... */
    int has_min, has_max;
    long min, max;              /* numeric constraints */
    apr_array_header_t *values; /* const char*: allowed values, or NULL */
    mg_pos_t pos;
} mg_tr_constraint_t;
typedef struct mg_transform_policy {
    const char *name;
    int forms;                  /* MG_TR_FORM_PATH | MG_TR_FORM_QUERY (default both) */
    apr_array_header_t *params; /* mg_tr_constraint_t; params not listed are refused */
    apr_array_header_t *sets;   /* const char*: whole allowed transformation strings,
                                   compared after normalisation (mg_transform_normalize) */
    apr_array_header_t
        *require;   /* const char*: "oi-logo.png" — key-value pairs that must be present */
    int allow_none; /* a request without any transformation is allowed (default 1,
                       0 when `require` is non-empty) */
    mg_pos_t pos;
} mg_transform_policy_t;
#define MG_TR_FORM_PATH 1
#define MG_TR_FORM_QUERY 2

/* ---- keys (signed links; filled by mg_keys.c) ----------------------------- */
typedef struct mg_keyref {
    const char *id;   /* keys[].id */
    const char *alg;  /* "hmac-sha256" (default) | "hmac-sha1" | "ed25519" */
    const char *file; /* resolved absolute-or-relative-to-policy path */
    int sign;         /* keys[].sign: the active signing key */
    int revoked;      /* keys[].revoked: its tokens are refused (token-revoked) */
    mg_key_t *key;    /* loaded material, set by mg_keys_load() */
    mg_pos_t pos;
    const char *fingerprint; /* "sha256:<hex>" of the loaded material (HMAC: of a MAC
                                over a fixed string, Ed25519: of the public key), set
                                by the loader once keys are loaded; NULL otherwise */
    /* Foreign signed-link formats (lib/mg_fmt.h, docs/token-formats.md). For
     * them `key` stays NULL (an mg_kid can never name a foreign key) and
     * `fkey` holds the material. */
    const char *format;          /* keys[].format: NULL or "mg-v1" = native */
    apr_array_header_t *options; /* keys[].options: mg_fmt_opt_t, or NULL */
    struct mg_fkey *fkey;        /* loaded foreign key, set by mg_keys_load() */
} mg_keyref_t;

typedef struct mg_token_settings {
    apr_interval_time_t grace; /* tokens.grace (default 0) */
    apr_interval_time_t skew;  /* tokens.clock_skew (default 30s) */
    const char *cookie_name;   /* tokens.cookie (default "mg_token") */
    apr_interval_time_t
        max_ttl; /* tokens.max_ttl: refuse tokens valid longer than this (0 = no limit) */
    apr_array_header_t *revoked_ids; /* tokens.revoked_ids: const char*, as written, or NULL */
    apr_hash_t *revoked_set;         /* the same ids and the revocation file's, for O(1) lookup,
                                        or NULL */
    const char *revocation_file;     /* tokens.revocation_file (resolved path), or NULL */
    apr_interval_time_t revocation_refresh; /* tokens.revocation_refresh: how often the module
                                               looks at the file (default 10s) */
} mg_token_settings_t;

/* ---- rules ---------------------------------------------------------------- */
typedef enum { MG_TOKEN_NONE = 0, MG_TOKEN_REQUIRED, MG_TOKEN_ALTERNATIVE } mg_token_mode_t;

/* One path pattern of a rule. */
typedef struct mg_pathpat {
    const char *text;  /* as written, e.g. "/photos/" or a glob such as "/photos/thumb-*.jpg" */
    int is_glob;       /* contains * or ? */
    int literal_depth; /* number of leading literal segments */
    mg_pos_t pos;
} mg_pathpat_t;

typedef struct mg_role_access {
    int role; /* index into policy->roles, or MG_ROLE_ANONYMOUS / MG_ROLE_AUTHENTICATED */
    mg_access_t access;
} mg_role_access_t;
#define MG_ROLE_ANONYMOUS (-1)
#define MG_ROLE_AUTHENTICATED (-2)

typedef struct mg_deny_spec {
    int status;          /* deny.status (default 403) */
    const char *message; /* deny.message */
    const char *page;    /* deny.page (local path starting with '/') */
} mg_deny_spec_t;

typedef struct mg_rule {
    const char *id;                    /* rules[].id (required, unique) */
    int index;                         /* position in the file, 0-based */
    apr_array_header_t *paths;         /* mg_pathpat_t; rules[].path (string or list) */
    mg_classset_t classes;             /* rules[].classes; 0 = any file */
    unsigned methods;                  /* MG_M_* bits; rules[].methods (default GET|HEAD) */
    const mg_ipset_t *ip_allow;        /* rules[].ip.allow (names and/or inline CIDRs merged) */
    const mg_ipset_t *ip_deny;         /* rules[].ip.deny */
    apr_array_header_t *country_allow; /* const char* upper-case ISO 3166 alpha-2 */
    apr_array_header_t *country_deny;
    apr_array_header_t *time;                /* const mg_timewin_t*; any of them must hold */
    const mg_hotlink_t *hotlink;             /* rules[].hotlink (name or inline mapping) */
    const mg_transform_policy_t *transforms; /* rules[].transforms; NULL = not checked */
    int transforms_none;        /* rules[].transforms: none — any transformation refused */
    mg_token_mode_t token;      /* rules[].token: none|required|alternative */
    apr_array_header_t *access; /* mg_role_access_t; rules[].access */
    mg_deny_spec_t deny;        /* rules[].deny */
    int login;                  /* rules[].login (default 1 when policy has login.url) */
    const char *corp;           /* rules[].corp overrides hotlink corp */
    mg_pos_t pos;
} mg_rule_t;

#define MG_M_GET 0x01
#define MG_M_HEAD 0x02
#define MG_M_POST 0x04
#define MG_M_PUT 0x08
#define MG_M_DELETE 0x10
#define MG_M_OPTIONS 0x20
#define MG_M_PATCH 0x40
#define MG_M_OTHER 0x80
unsigned mg_method_bit(const char *method); /* mg_policy_query.c */

/* ---- the policy ----------------------------------------------------------- */
typedef enum { MG_DEFAULT_DENY = 0, MG_DEFAULT_ALLOW = 1 } mg_default_t;

struct mg_policy {
    apr_pool_t *pool;
    const char *file;   /* path it was loaded from */
    const char *name;   /* name (default: file's base name) */
    int version;        /* version: 1 */
    mg_default_t deflt; /* default: deny|allow */
    const mg_tz_t *tz;  /* timezone (default UTC) */
    const char *tz_name;
    const char *download_param;          /* download_param (default "download") */
    apr_array_header_t *reserved_params; /* mg_qreserved_t (mg_canon.h): query names besides
                                            "tr", "mg_*" and download_param that no other
                                            spelling may stand for (foreign token formats
                                            add theirs); NULL = none */
    const char *login_url;               /* login.url, or NULL */
    const char *login_return_param;      /* login.return_param (default "return_to") */
    apr_array_header_t *trusted_proxies; /* mg_cidr_t; trusted_proxies */

    /* identity */
    apr_array_header_t *roles;        /* const char*; roles: [...] declared */
    apr_array_header_t *role_sources; /* mg_role_source_t; identity.roles_from (default: [users]) */
    apr_array_header_t *users;        /* mg_user_roles_t; identity.users */
    apr_array_header_t *role_grants;  /* mg_role_grant_t; every roles_from `apache:` entry,
                                         in file order */
    mg_roleset_t grant_roles;         /* roles some role_grants entry can grant */
    int authenticated_role;           /* identity.authenticated_role index, or -1 */
    mg_src_kind_t country_kind;       /* country.from: env|note|header|mmdb; 0 = none */
    const char *country_name;         /* the variable, note or header; mmdb: the resolved path */
    struct mg_geo *geo;               /* mmdb: the open database (mg_geo.c), else NULL */

    apr_array_header_t *classes;    /* mg_class_t; built-ins then classes: */
    apr_array_header_t *ipsets;     /* mg_ipset_t; ip_sets: */
    apr_array_header_t *timewins;   /* mg_timewin_t; time_windows: */
    apr_array_header_t *hotlinks;   /* mg_hotlink_t; hotlink: */
    apr_array_header_t *transforms; /* mg_transform_policy_t; transforms: */
    apr_array_header_t *keys;       /* mg_keyref_t; keys: */
    mg_token_settings_t tokens;     /* tokens: */
    apr_array_header_t *rules;      /* mg_rule_t; rules: */

    const char *base_dir; /* absolute directory relative file paths resolve against
                             (the policy file's); NULL for a hand-built policy */
    const char *digest;   /* hex SHA-256 of the canonical form */
    void *compiled;       /* mg_policy_compiled.h; built by mg_policy_compile.c */
    /* mg_request.h: the reserved query names indexed, "has foreign keys";
     * built by mg_policy_compile, NULL for a policy built by hand */
    const struct mg_request_tables *req_tables;
};

/* Compiler: build policy->compiled; append warnings for shadowed rules and
 * overlapping rules with different outcomes. Called by the loader after a
 * successful parse. */
mg_status_t mg_policy_compile(mg_policy_t *policy, mg_diags_t *diags);

/* Find the rule that owns a canonical path (see docs/policy.md, "Which rule
 * applies"); NULL if none. `ext_class` is the class bitset of the path's
 * extension (mg_class_of_ext). Allocation-free. */
const mg_rule_t *mg_policy_match(const mg_policy_t *policy, const char *canon_path,
                                 mg_classset_t ext_classes, unsigned method_bit);

/* Class bitset for a lower-case extension (no dot); 0 when none. */
mg_classset_t mg_class_of_ext(const mg_policy_t *policy, const char *ext);

/* Lookups in the compiled policy used by mg_request.c and mg_eval.c; all
 * allocation-free and O(1) or O(path depth) (mg_policy_query.c). */
/* mg_policy_match that also reports the pattern that matched (for traces)
 * and, when no rule owns the path, the first rule that matched path and
 * class but not the method (reason method-not-allowed). Outputs may be NULL. */
const mg_rule_t *mg_policy_match_ex(const mg_policy_t *policy, const char *canon_path,
                                    mg_classset_t ext_classes, unsigned method_bit,
                                    const mg_pathpat_t **pattern, const mg_rule_t **method_rule);
/* mg_policy_role_index: mg.h */
/* identity.users roles of `user`; 0 if the user is not listed. */
mg_roleset_t mg_policy_user_roles(const mg_policy_t *policy, const char *user);
/* Transformation profile checks against sets and `require` parsed once at
 * compile time. in_sets: 1 when `tr` equals one of tp->sets (order of
 * parameters within a step ignored). has_required: 1 when every required
 * pair is present in some step, else 0 with *missing = the require entry. */
struct mg_tr;
int mg_policy_tr_in_sets(const mg_policy_t *policy, const mg_transform_policy_t *tp,
                         const struct mg_tr *tr);
int mg_policy_tr_has_required(const mg_policy_t *policy, const mg_transform_policy_t *tp,
                              const struct mg_tr *tr, const char **missing);

/* mg_policy_load_buffer with flags, for the tests and fuzzers that prove
 * that streaming the rules (mg_policy_load.c) gives what building the whole
 * YAML tree first gives: MG_LOAD_NO_STREAM builds the tree (callers use
 * mg_policy_load_buffer). */
#define MG_LOAD_NO_STREAM 1u
mg_status_t mg_policy_load_buffer_ex(apr_pool_t *pool, const char *name, const char *base_dir,
                                     const char *buf, size_t len, unsigned flags, mg_policy_t **out,
                                     mg_diags_t *diags);

/* mg_policy_emit (mg_policy_emit.c): mg.h. The hex SHA-256 of the bytes
 * mg_policy_emit would return, computed without keeping them (the loader's
 * policy digest); NULL when it cannot be computed. */
const char *mg_policy_emit_digest(apr_pool_t *pool, const mg_policy_t *p);

#endif /* MG_POLICY_H */
