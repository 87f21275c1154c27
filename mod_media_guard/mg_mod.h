/* mg_mod.h — shared declarations of the httpd glue (the mg_mod_*.c files).
 *
 * The glue is thin: mg_mod_config.c loads policies at configuration time and
 * keeps the last good text of each for graceful reloads, mg_mod_authz.c is
 * the `Require media-guard` provider and maps decisions to HTTP,
 * mg_mod_recheck.c judges sub-requests that inherit a grant, mg_mod_narrow.c
 * warns at configtest about a narrow <Location>, and mg_mod_headers.c puts
 * the access-level headers on the real response.
 * Every decision is made by libmg (mg.h), exactly as in `mgctl explain`.
 */
#ifndef MG_MOD_H
#define MG_MOD_H

#include "httpd.h"
#include "http_config.h"
#include "mod_auth.h"
#include "util_filter.h"

#include "mg.h"
#include "mg_http.h"

extern module AP_MODULE_DECLARE_DATA media_guard_module;

/* The tag of each error-log message, as httpd's APLOGNO(nnnnn) gives its own
 * ("AH01630: "), in our own namespace: "MG00203: ". "AH" numbers belong to
 * httpd (its docs/log-message-tags), so ours must not look like them. One
 * number per message, never reused; each file has a range (config 001xx,
 * authz 002xx, narrow 0025x, recheck 0028x, roles 003xx, hls 004xx, metrics
 * 005xx, once/store 006xx, headers 007xx, mod_media_guard.c 008xx, pathtok
 * 009xx, export 010xx, skipped 011xx, cache 012xx): a new
 * message takes the next free number of its file. docs/directives.md
 * ("Error-log messages") lists them all; tests/logno.sh fails on a log call
 * without a tag, a number used twice or a number missing from that list.
 * Only the APLOG_STARTUP lines of `apache2 -t` stay untagged: they are the
 * policy's file:line:column diagnostics, which editors parse at the start
 * of the line. */
#define MG_LOGNO(n) "MG" #n ": "

/* A roles_from `apache:` entry bound to its authz provider (mg_mod_roles.c). */
typedef struct mg_mod_grant mg_mod_grant_t;

/* One `MediaGuardPolicy NAME FILE`. Lives in the configuration pool. */
typedef struct mg_mod_policy {
    const char *name;          /* NAME as written in the directive */
    const char *file;          /* FILE resolved against ServerRoot */
    const mg_policy_t *policy; /* NULL only after a failed reload of a policy
                                  that never loaded: every request is denied */
    int stale;                 /* the file failed on a graceful reload; serving the
                                  last good text of it */
    int metrics_slot;          /* row in the metrics table (mg_mod_metrics.c,
                                  set in post_config); 0 = none */
    mg_mod_grant_t *grants;    /* parallel to policy->role_grants, or NULL */
    int ngrants;
    int shadowed;               /* a main-server policy that some virtual host declares its own
                                   of the same NAME (mg_mod_merge_srv_conf): check_authorization
                                   then looks for the host's own */
    const mg_diags_t *warnings; /* the load's warnings (in ptemp), held for
                                   post_config to log; NULL once logged */
} mg_mod_policy_t;

typedef struct mg_mod_srv_conf {
    apr_hash_t *policies; /* NAME -> mg_mod_policy_t* */
    int reload_failure;   /* MediaGuardReloadFailure (main server only):
                             MG_MOD_RELOAD_KEEP (default) or _DENY; -1 = unset */
    int path_tokens;      /* one of `policies` has a key with tokens in the path
                             (set in post_config: mg_mod_path_token_scan) */
    int shadows;          /* a virtual host declares a policy under a NAME the main
                             server declares too (merge): a Require in a main-server
                             section then means the host's own (check_authorization) */
} mg_mod_srv_conf_t;

#define MG_MOD_RELOAD_KEEP 0
#define MG_MOD_RELOAD_DENY 1

/* Every field is -1 when its directive is not set in the section; a new
 * field goes into dir_conf_unset() (mg_mod_config.c) as well, which lets
 * the per-request merge share a side that sets nothing. */
typedef struct mg_mod_dir_conf {
    int reason_header; /* MediaGuardReasonHeader; -1 = unset (off) */
    int hls_rewrite;   /* MediaGuardHLSRewrite; -1 = unset (off) */
    int export_to;     /* MediaGuardExport: MG_MOD_EXPORT_* bits; -1 = unset
                          (MG_MOD_EXPORT_DEFAULT) */
    int guarded;       /* a `Require [not] media-guard` is in this section or
                          one merged into it; -1 = unset (mg_mod_skipped.c) */
    int metrics;       /* MediaGuardMetrics (a <Location> only, never .htaccess):
                          the metrics handler answers here; -1 = unset (off) */
} mg_mod_dir_conf_t;

/* Where a decision's MG_DECISION, MG_REASON, MG_RULE and MG_POLICY go
 * (MediaGuardExport, mg_mod_export.c): the request notes, the environment
 * (r->subprocess_env), both (the default) or neither. */
#define MG_MOD_EXPORT_NOTES 1
#define MG_MOD_EXPORT_ENV 2
#define MG_MOD_EXPORT_DEFAULT (MG_MOD_EXPORT_NOTES | MG_MOD_EXPORT_ENV)

/* One decision, memoised per request: check_authorization runs before and
 * after authentication, and a request may name several policies. */
typedef struct mg_mod_memo {
    struct mg_mod_memo *next;
    const mg_mod_policy_t *mp;
    const char *user; /* r->user the decision was made for (NULL = none) */
    mg_decision_t d;
    const char *canon;   /* canonical path, for the log (NULL if refused) */
    const char *served;  /* the served path when it was decided too and was
                            stricter than the target (else NULL) */
    authz_status result; /* the mapped result (valid when mapped) */
    int mapped;          /* map_decision ran: its side effects are done */
    int negated;         /* MG_MOD_NEG_ODD, MG_MOD_NEG_EVEN: a line under an
                            odd, an even number of negations asked */
    int served_allowed;  /* the served path differs from the target and the
                            policy allows it (or refuses its form): under a
                            negation that counts as allowing the request */
} mg_mod_memo_t;

/* What `Require [not] media-guard NAME` resolves to at configuration time. */
#define MG_MOD_NEG_ODD 1  /* the policy's grant refuses, a refusal is neutral */
#define MG_MOD_NEG_EVEN 2 /* (two, four, ...) its refusal refuses, a grant is neutral */
typedef struct mg_mod_require {
    const mg_mod_policy_t *mp;
    int negated; /* 0, or under `Require not` and <RequireNone>s: MG_MOD_NEG_ODD
                    or MG_MOD_NEG_EVEN (no login redirect, deny page or
                    one-time use: the line's answer passes a negation) */
} mg_mod_require_t;

typedef struct mg_mod_req {
    mg_mod_memo_t *memos;
    /* The deny whose response we render through the internal redirect to
     * MG_MOD_DENY_URI (a status other than 403, see mg_mod_authz.c). */
    const mg_mod_memo_t *deny;
    const char *deny_uri; /* where that 403 was redirected to */
    int deny_is_page;     /* deny_uri is the policy's deny.page */
    /* A refusal of this request put Cache-Control and (the rule's corp)
     * Cross-Origin-Resource-Policy in err_headers_out: a later grant of the
     * same request (after authentication, or by another provider) takes
     * them out again. */
    int refusal_headers; /* MG_MOD_REFUSAL_* bits (mg_mod_authz.c) */
    /* While authorization runs, a proxied request's r->filename
     * ("proxy:http://origin/a.jpg?mg_sig=...", with nocanon or a forward
     * proxy) is held without its query, so that authz_core's AH01630 line
     * never carries a signed link; mg_mod_restore_filename() puts it back
     * when the request goes on (mg_mod_authz.c). */
    const char *proxy_filename; /* the original, or NULL */
    const char *proxy_shown;    /* what r->filename was set to */
    /* The lookup of a script's PATH_INFO that media-guard refuses has no
     * r->filename until it is granted after all: httpd's CGI environment
     * (ap_add_cgi_vars, for mod_cgi, mod_cgid, mod_proxy_fcgi, ...) sets
     * PATH_TRANSLATED from its file name whatever its status
     * (mg_mod_authz.c). */
    char *refused_filename;  /* the file name held, or NULL */
    char *refused_path_info; /* and its path info */
    char *refused_blank;     /* the "" shown to authentication, or NULL */
    int authz_ran;           /* httpd's authorization phase started for this request
                                (mg_mod_skipped.c) */
} mg_mod_req_t;

/* Internal-redirect target of a deny with a status other than 403. It only
 * has a meaning when our own deny redirected there (r->prev carries the
 * deny); a client asking for it directly gets whatever the site serves. */
#define MG_MOD_DENY_URI "/.media-guard/deny"

/* mg_mod_authz.c: type_checker and fixups hook (DECLINED) */
int mg_mod_restore_filename(request_rec *r);
/* Whether r is httpd's lookup of its parent's PATH_INFO as a URL (for a CGI
 * script's PATH_TRANSLATED: ap_add_cgi_vars), whatever translate_name made
 * of its r->uri (mg_mod_authz.c) */
int mg_mod_is_path_info_lookup(const request_rec *r);
/* register_hooks: check_user_id of a refused PATH_INFO lookup (mg_mod_authz.c) */
void mg_mod_authz_register(apr_pool_t *p);

/* mg_mod_config.c */
void *mg_mod_create_srv_conf(apr_pool_t *p, server_rec *s);
void *mg_mod_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
void *mg_mod_create_dir_conf(apr_pool_t *p, char *dir);
void *mg_mod_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
const char *mg_mod_cmd_policy(cmd_parms *cmd, void *dconf, const char *name, const char *file);
const char *mg_mod_cmd_reason_header(cmd_parms *cmd, void *dconf, int flag);
const char *mg_mod_cmd_reload_failure(cmd_parms *cmd, void *dconf, const char *arg);
/* post_config: under `MediaGuardReloadFailure deny`, drop the last good
 * versions kept for policies refused on this reload. */
int mg_mod_apply_reload_failure(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                server_rec *s);
/* The policy NAME as visible from server s (its own, else the main server's
 * — declared earlier in the configuration); NULL if none. */
const mg_mod_policy_t *mg_mod_find_policy(server_rec *s, const char *name);
/* The declared policy name visible from server s closest to `name` (a
 * misspelling), or NULL. */
const char *mg_mod_suggest_policy(server_rec *s, const char *name, apr_pool_t *p);
/* Call fn for every policy of every server (s and the servers after it in
 * s->next: the main server, then each virtual host), in each server's hash
 * order. A virtual host also sees the main server's policies (the merge
 * overlays them), so the same mg_mod_policy_t may come more than once:
 * callers that must act once per policy keep their own `seen` set. */
typedef void mg_mod_policy_fn(void *ctx, server_rec *s, mg_mod_policy_t *mp);
void mg_mod_each_policy(server_rec *s, apr_pool_t *p, mg_mod_policy_fn *fn, void *ctx);
/* post_config: drop last-good texts of policies no longer declared. */
int mg_mod_store_prune(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
/* Warnings about the configuration are logged once per reading that
 * serves (mg_mod_config.c says why): at once under `apache2 -t` and the
 * like, which run no post_config (mg_mod_warn_now), else from post_config,
 * the second reading's at a start (mg_mod_warn_in_post_config). */
int mg_mod_warn_now(void);
int mg_mod_warn_in_post_config(void);
/* post_config: the policies' load warnings held by mg_mod_cmd_policy. */
int mg_mod_log_load_warnings(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);

/* mg_mod_authz.c */
extern const authz_provider mg_mod_authz_provider;
int mg_mod_deny_handler(request_rec *r, int lookup_uri);
/* This request's state: mg_mod_req_peek only looks (NULL when media-guard
 * has not touched r; inline: every hook asks), mg_mod_req_make creates it. */
static inline mg_mod_req_t *mg_mod_req_peek(request_rec *r)
{
    return ap_get_module_config(r->request_config, &media_guard_module);
}
mg_mod_req_t *mg_mod_req_make(request_rec *r);
/* A request served normally although media-guard refused it (another
 * provider granted it): drop the refusal's headers. */
void mg_mod_drop_refusal_headers(request_rec *r);
/* One of the module's output filters without its state: named in the
 * configuration, not added by the module. Logs, leaves the chain, passes bb. */
apr_status_t mg_mod_filter_named_by_hand(ap_filter_t *f, apr_bucket_brigade *bb);
/* A file sub-request's URL as a target: 0 not one; 1 t->path set; -1 one
 * without a URL (t->path is "", which libmg refuses: bad-url). */
int mg_mod_file_subreq_target(request_rec *r, mg_target_t *t);
/* Decide mp for r on target t (and on the served path when it differs),
 * into m->d, m->canon, m->served. */
void mg_mod_evaluate(request_rec *r, const mg_mod_policy_t *mp, mg_mod_memo_t *m,
                     const mg_target_t *t);
/* Notes, environment, metrics, refusal headers and the log line of a
 * decision; `why` (or NULL) is added to the log line. */
void mg_mod_record(request_rec *r, const mg_mod_memo_t *m, const char *why, int negated);

/* mg_mod_export.c */
/* MediaGuardExport notes [env] | env | none */
const char *mg_mod_cmd_export(cmd_parms *cmd, void *dconf, const char *a1, const char *a2);
/* test_config: warn about a `Require env MG_…` (or an expression reading
 * MG_… from the environment or the notes) in a section where
 * MediaGuardExport, as written around it, leaves them out. */
void mg_mod_warn_export_readers(apr_pool_t *pconf, server_rec *s);

/* mg_mod_narrow.c */
/* parse_require, under `apache2 -t` only: note a Require media-guard inside
 * a <Location>/<LocationMatch> for the check below. */
void mg_mod_note_location(cmd_parms *cmd, const mg_mod_policy_t *mp, int negated);
/* test_config: warn about a Require media-guard in a <Location> narrower
 * than its policy's rules (noted while the configuration was read). */
void mg_mod_warn_narrow_locations(apr_pool_t *pconf, server_rec *s);

/* mg_mod_recheck.c */
/* fixups: judge a sub-request / internal redirect that inherited a grant. */
int mg_mod_recheck_fixup(request_rec *r);

/* mg_mod_headers.c */
void mg_mod_insert_filter(request_rec *r);
void mg_mod_register_filters(void);
/* ap_custom_response() for a policy's message (UTF-8 `body`), with the
 * error response labelled text/html; charset=utf-8 instead of httpd's
 * ISO-8859-1. */
void mg_mod_message_response(request_rec *r, int status, const char *body);

/* mg_mod_hls.c */
const char *mg_mod_cmd_hls_rewrite(cmd_parms *cmd, void *dconf, int flag);
void mg_mod_hls_insert_filter(request_rec *r);
/* register_hooks: the HLS output filter and its insert_filter hook */
void mg_mod_hls_register(apr_pool_t *p);

/* mg_mod_cache.c */
/* Whether mod_cache is loaded in this configuration. */
int mg_mod_cache_loaded(void);
/* Whether mod_cache's quick handler will store r's response (its save
 * filter is on r before the handler runs): a stored answer is then served
 * without asking the policy. */
int mg_mod_cache_stores_before_authz(const request_rec *r);
/* Tell mod_cache, when it is loaded, not to store r's response (the
 * no-cache environment variable), with a debug line saying why. */
void mg_mod_cache_keep_out(request_rec *r, const char *why);
/* register_hooks: find mod_cache's save filters once per configuration */
void mg_mod_cache_register(apr_pool_t *p);

/* mg_mod_roles.c */
/* Configuration time: look up the provider of every roles_from `apache:`
 * entry and let it parse its arguments. 0 and *out set (NULL when there are
 * none), or -1 with an error per entry in diags (file:line:column). */
int mg_mod_bind_grants(cmd_parms *cmd, const mg_policy_t *policy, mg_mod_grant_t **out,
                       mg_diags_t *diags);
/* Request time: let the evaluator ask mp's providers (req->grant_check). */
void mg_mod_grants_attach(request_rec *r, const mg_mod_policy_t *mp, mg_request_t *req);

/* mg_mod_metrics.c */
/* Count one decision in the shared table: lock-free, allocates nothing. */
void mg_mod_metrics_count(const mg_mod_policy_t *mp, mg_outcome_t outcome, mg_reason_t reason);
/* A claim store operation ended (failed or not): count it; 1 when it
 * starts or ends an incident (the caller logs one line), else 0. Shared by
 * every process; `local_down` is the per-process fallback without metrics. */
int mg_mod_metrics_store_result(int failed, int *local_down);
/* 1 for the first caller with this `answer` (an mg_store_keep_t) since
 * this configuration generation started (shared by every process, as the
 * incident flag; `local_said` is the per-process fallback without
 * metrics): each distinct answer about whether the store keeps its records
 * is said once per start, not once per child. */
int mg_mod_metrics_store_retention_first(int *local_said, int answer);
/* MediaGuardMetrics On|Off, in a <Location> only: where the
 * `SetHandler media-guard-metrics` handler may answer */
const char *mg_mod_cmd_metrics(cmd_parms *cmd, void *dconf, int flag);
/* register_hooks: the shared counters (post_config) and the
 * `SetHandler media-guard-metrics` handler */
void mg_mod_metrics_register(apr_pool_t *p);

/* mg_mod_once.c */
/* MediaGuardOnceCache shmcb[:ARG] [lost_records=refuse|warn] (main server only) */
const char *mg_mod_cmd_once_cache(cmd_parms *cmd, void *dconf, const char *arg, const char *opt);
/* MediaGuardStore redis://...|memcache://... (main server only) */
const char *mg_mod_cmd_store(cmd_parms *cmd, void *dconf, const char *arg);
/* After a decision: a grant by a token limited in uses (mg_uses) claims a
 * use for the client address, or becomes a deny (token-used; any cache
 * problem: internal-error). Call once per memo (the memo is per request). */
void mg_mod_once_apply(request_rec *r, mg_mod_memo_t *m);
/* register_hooks: the cache and its mutex (pre_config, post_config, child_init) */
void mg_mod_once_register(apr_pool_t *p);

/* mg_mod_pathtok.c */
/* translate_name (really first): a request whose path carries a foreign
 * token (lighttpd, nginx secure_link_secret, Bunny's path form) is mapped
 * as its effective path, the one the token covers. */
int mg_mod_path_token_translate(request_rec *r);
int mg_mod_path_token_scan(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);

/* mg_mod_status.c: the request line mod_status shows (ExtendedStatus) has
 * no query; `path` (the effective path of a token in the path) replaces the
 * target's path when not NULL. */
void mg_mod_status_hide(request_rec *r, const char *path);
void mg_mod_status_register(apr_pool_t *p);

/* mg_mod_ssl.c: an environment variable as a policy source reads it; SSL_*
 * names on a connection mod_ssl serves come from mod_ssl itself (its table
 * entries appear only after authorization), a client certificate's fields
 * only from a verified certificate */
const char *mg_mod_ssl_env(request_rec *r, const char *name);
void mg_mod_ssl_register(apr_pool_t *p);

/* mg_mod_narrow.c: `apache2 -t` warns about a Require inside <Limit> */
void mg_mod_warn_limit(cmd_parms *cmd, const mg_mod_policy_t *mp);

/* mg_mod_skipped.c: `Satisfy Any` must not skip `Require media-guard` */
void mg_mod_mark_guarded(cmd_parms *cmd);
void mg_mod_skipped_register(apr_pool_t *p);

#endif /* MG_MOD_H */
