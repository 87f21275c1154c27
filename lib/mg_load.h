/* mg_load.h — internals shared by the policy loader's files
 * (mg_policy_load.c: entry points and policy-level sections;
 * mg_profiles_load.c: time windows, hotlink and transforms profiles;
 * mg_rules_load.c: the rules section; mg_load_util.c: typed accessors with
 * diagnostics).
 * Not part of the library's interface. */
#ifndef MG_LOAD_H
#define MG_LOAD_H

#include <apr_hash.h>

#include "mg_policy.h"
#include "mg_yaml.h"

typedef struct mg_lctx {
    apr_pool_t *pool; /* the policy's pool: everything kept */
    apr_pool_t *tmp;  /* scratch: the YAML tree, lookup tables */
    const char *file; /* name used in diagnostics */
    const char *base_dir;
    mg_diags_t *diags;
    mg_policy_t *p;
    /* name -> index + 1 (cast to a pointer), for O(1) reference checks */
    apr_hash_t *roles, *classes, *ipsets, *timewins, *hotlinks, *transforms;
    int have_keys;
    /* `roles` itself is broken (wrong type) or misspelt (`rols:`): every
     * reference to a role would be a cascade of "undefined role" errors */
    int roles_failed;
    /* keys[].fingerprint nodes (or NULL), parallel to p->keys */
    apr_array_header_t *key_pins;
    /* mg_rules_load.c: path segments the canonicaliser accepted (in the
     * scratch pool of the whole load), and the rule ids seen so far
     * (id -> line + 1 of the first, cast to a pointer) */
    apr_hash_t *seg_memo, *rule_ids;
    /* a pool cleared after every rule: while a rule loads, c->tmp is this
     * pool, so that what one rule needs only while it loads (lists,
     * canonicalisation probes, hint candidates) does not pile up */
    apr_pool_t *rule_tmp;
    /* streamed rules: p->rules->elts is this malloc'd block, which grows
     * by realloc (pages move, bytes do not) and a cleanup of the policy
     * pool frees; NULL when the rules array is the pool's own */
    void **rules_mem;
    /* zone names whose file was checked for writers (mg_ltimezone): one
     * warning per zone, at its first mention; NULL until the first */
    apr_hash_t *tz_checked;
} mg_lctx_t;

/* ---- diagnostics ---- */
mg_diag_t *mg_lerr(mg_lctx_t *c, const mg_ynode_t *at, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
mg_diag_t *mg_lwarn(mg_lctx_t *c, const mg_ynode_t *at, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Attach "did you mean 'x'?" when a candidate is close. */
void mg_lhint(mg_lctx_t *c, mg_diag_t *d, const char *word, const char *const *candidates);

/* ---- typed accessors: NULL / -1 after reporting an error ---- */
/* Check that `map` is a mapping whose keys are all in `names`; fill vals[i]
 * (and keys[i] if non-NULL) with the value of names[i] or NULL. */
int mg_lmap(mg_lctx_t *c, const mg_ynode_t *map, const char *where, const char *const *names,
            mg_ynode_t **vals, mg_ynode_t **keys);
/* A non-null scalar, copied into the policy pool. */
const char *mg_lstr(mg_lctx_t *c, const mg_ynode_t *n, const char *key);
int mg_lbool(mg_lctx_t *c, const mg_ynode_t *n, const char *key, int *out);
int mg_lint(mg_lctx_t *c, const mg_ynode_t *n, const char *key, long *out);
/* A list of non-null scalars (or one scalar when allow_scalar). Returns an
 * array of const mg_ynode_t*, or NULL after an error. */
apr_array_header_t *mg_llist(mg_lctx_t *c, const mg_ynode_t *n, const char *key, int allow_scalar);
/* Index of the scalar's text in `names`, or -1 with an error naming them. */
int mg_lenum(mg_lctx_t *c, const mg_ynode_t *n, const char *key, const char *const *names);
/* The same with another diagnostic code than "bad-value". */
int mg_lenum_code(mg_lctx_t *c, const mg_ynode_t *n, const char *key, const char *const *names,
                  const char *code);
int mg_lduration(mg_lctx_t *c, const mg_ynode_t *n, const char *key, apr_interval_time_t *out);
/* Parse a CIDR (bad-cidr error with mg_cidr_parse's sentence). */
int mg_lcidr(mg_lctx_t *c, const mg_ynode_t *n, mg_cidr_t *out);
/* [A-Za-z0-9._-]{1,64}: names of profiles, sets, keys, rule ids. */
int mg_lname_ok(const char *s);
/* No control characters. */
int mg_lprintable(const char *s);
/* The first character of s that is invisible or looks like '/' or a space
 * (a zero-width space, U+2215 DIVISION SLASH, ...), described; or NULL. */
const char *mg_lconfusable(apr_pool_t *pool, const char *s);
/* RFC 7230 token characters, 1-128: header, cookie, variable, parameter names. */
int mg_ltoken_ok(const char *s);
/* A file the policy names whose contents change what it decides (the
 * country database, the revocation file, a time zone's TZif file): an
 * error `code` at `at` when everyone may write it ("WHAT 'PATH' is
 * writable by everyone: whoever can write it POWER (chmod o-w it)"), and
 * for each directory above it that everyone may write without the sticky
 * bit (mg_dirs.h). Group write is left alone, as for the policy itself. */
void mg_lrefuse_world_writable(mg_lctx_t *c, const mg_ynode_t *at, const char *code,
                               const char *what, const char *path, const char *power);
/* An IANA zone name: loads it into *tz and sets *tz_name, or unknown-timezone;
 * its file writable by everyone is a timezone-file-permissions warning. */
void mg_ltimezone(mg_lctx_t *c, const mg_ynode_t *v, const mg_tz_t **tz, const char **tz_name);
/* Names whose definition had errors map to MG_LBROKEN: references to them
 * fail without a second, misleading "undefined" error. */
#define MG_LBROKEN ((void *)(intptr_t)-1)
/* After a section (a mapping of names, or a list of names): every name of
 * it that did not get registered in `h` is marked MG_LBROKEN. */
void mg_lmark_broken(apr_hash_t *h, const mg_ynode_t *section);
/* Look a name up in one of the ctx hashes: index, or -1 with `code`
 * (-2 and no diagnostic for a broken definition). */
int mg_llookup(mg_lctx_t *c, apr_hash_t *h, const mg_ynode_t *n, const char *code,
               const char *what);
/* The same, with `extra` names (NULL-terminated, or NULL) also offered as
 * "did you mean" (the reserved access names next to the roles). A lookup
 * in c->roles while c->roles_failed reports nothing (-2) unless one of
 * `extra` is close. */
int mg_llookup_ex(mg_lctx_t *c, apr_hash_t *h, const mg_ynode_t *n, const char *code,
                  const char *what, const char *const *extra);

/* ---- sections ---- */
void mg_load_rules(mg_lctx_t *c, const mg_ynode_t *rules); /* mg_rules_load.c */
/* The same one rule at a time (the loader streams the rules of a file
 * whose `rules:` comes last, mg_policy_load.c): begin once (0 ok; streamed:
 * the number of rules is not known yet), then each item of the list with
 * its 0-based index. The item's nodes are not kept beyond the call. */
int mg_load_rules_begin(mg_lctx_t *c, int streamed);
void mg_load_rule(mg_lctx_t *c, const mg_ynode_t *item, int index);
/* mg_profiles_load.c: one named time window / transforms profile (k: its
 * name key, n: its mapping); the hotlink: section; one hotlink profile
 * body, named or inline (0 ok, -1 after errors). */
void mg_load_timewin(mg_lctx_t *c, const mg_ynode_t *k, const mg_ynode_t *n);
void mg_load_transform(mg_lctx_t *c, const mg_ynode_t *k, const mg_ynode_t *n);
void mg_load_hotlinks(mg_lctx_t *c, const mg_ynode_t *n);
int mg_load_hotlink(mg_lctx_t *c, const mg_ynode_t *n, mg_hotlink_t *out);
/* Warn (corp-blocks-partners) when `corp` written at `at` makes browsers
 * refuse embeds that the profile `h` lets through. */
void mg_lcheck_corp(mg_lctx_t *c, const mg_ynode_t *at, const char *corp, const mg_hotlink_t *h);

#endif /* MG_LOAD_H */
