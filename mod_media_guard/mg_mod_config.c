/* mg_mod_config.c — configuration of mod_media_guard: `MediaGuardPolicy`,
 * `MediaGuardReasonHeader`, server/directory config merging, and the
 * last-good store that keeps a policy serving across a graceful reload whose
 * new policy file is broken.
 *
 * Policies are loaded and compiled in the directive handler, so `apache2 -t`
 * (which never runs post_config) refuses a broken policy with every
 * file:line:column diagnostic of the loader.
 *
 * A graceful reload re-reads the whole configuration in the running parent,
 * and a directive error there makes the parent exit. So on a reload (config
 * generation > 1, normal run mode) a policy that fails to load is logged and
 * replaced by its last good version. The store keeps the policy's TEXT, not
 * the compiled structure: mod_so unloads and reloads this DSO on every
 * restart, and a compiled policy kept across that would hold pointers into
 * the old mapping (built-in tables, string constants). Recompiling the
 * stored text yields the same policy (same digest) in the new pconf.
 */
#include <stdlib.h>
#include <string.h>

#include "mg_ascii.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"

#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

#define MG_MOD_MAX_NAME 64
#define MG_MOD_STORE_KEY "media_guard:last-good-policies"

/* ------------------------------------------------------------------ */
/* last-good store (process pool: survives pconf and the DSO)          */
/* ------------------------------------------------------------------ */

typedef struct mg_mod_good {
    apr_pool_t *pool; /* owns this entry; destroyed when superseded */
    const char *key;  /* NAME "\n" FILE */
    const char *buf;
    apr_size_t len;
    int generation; /* last config generation that declared it */
} mg_mod_good_t;

typedef struct mg_mod_store {
    apr_pool_t *pool;
    apr_hash_t *entries; /* key -> mg_mod_good_t* */
} mg_mod_store_t;

static mg_mod_store_t *store_get(process_rec *proc)
{
    void *data = NULL;
    mg_mod_store_t *st;
    apr_pool_t *p;

    apr_pool_userdata_get(&data, MG_MOD_STORE_KEY, proc->pool);
    if (data != NULL)
        return data;
    if (apr_pool_create(&p, proc->pool) != APR_SUCCESS)
        return NULL;
    apr_pool_tag(p, "media_guard_last_good");
    st = apr_pcalloc(p, sizeof(*st));
    st->pool = p;
    st->entries = apr_hash_make(p);
    /* apr_pool_userdata_set copies the key: the literal above goes away
     * with this DSO on restart. */
    apr_pool_userdata_set(st, MG_MOD_STORE_KEY, apr_pool_cleanup_null, proc->pool);
    return st;
}

static void store_put(mg_mod_store_t *st, const char *key, const char *buf, apr_size_t len)
{
    mg_mod_good_t *old = apr_hash_get(st->entries, key, APR_HASH_KEY_STRING);
    mg_mod_good_t *g;
    apr_pool_t *p;
    char *copy;

    if (old && old->len == len && memcmp(old->buf, buf, len) == 0) {
        old->generation = ap_state_query(AP_SQ_CONFIG_GEN);
        return;
    }
    if (apr_pool_create(&p, st->pool) != APR_SUCCESS)
        return;
    g = apr_pcalloc(p, sizeof(*g));
    g->pool = p;
    g->key = apr_pstrdup(p, key);
    copy = apr_palloc(p, len + 1);
    memcpy(copy, buf, len);
    copy[len] = '\0';
    g->buf = copy;
    g->len = len;
    g->generation = ap_state_query(AP_SQ_CONFIG_GEN);
    if (old) {
        /* The hash keeps the first key pointer it was given; remove the
         * entry before the pool holding that key is destroyed. */
        apr_hash_set(st->entries, old->key, APR_HASH_KEY_STRING, NULL);
        apr_pool_destroy(old->pool);
    }
    apr_hash_set(st->entries, g->key, APR_HASH_KEY_STRING, g);
}

static mg_mod_good_t *store_find(mg_mod_store_t *st, const char *key)
{
    mg_mod_good_t *g = apr_hash_get(st->entries, key, APR_HASH_KEY_STRING);
    if (g)
        g->generation = ap_state_query(AP_SQ_CONFIG_GEN);
    return g;
}

/* httpd reads the configuration twice when it starts (server/main.c): a
 * first reading (AP_SQ_MS_CREATE_PRE_CONFIG) lets log files and the like
 * settle, opens the error log and runs post_config; then the main loop
 * reads it again (AP_SQ_MS_CREATE_CONFIG, generation 1) and serves. A
 * warning logged by a directive handler came twice per start: the first
 * reading's on the terminal or journal (stderr), the second's in the error
 * log (stderr redirected there) in the foreground, or nowhere for a daemon
 * (apr_proc_detach points stderr at /dev/null before that reading). So a
 * warning is logged in post_config, with the error log open, and not in
 * the first reading's post_config: once per start and per graceful restart
 * (one reading, in the running parent), in the error log. `apache2 -t` (and
 * -S, -M...) read once and run no post_config: there a warning is logged
 * at once, to the terminal. `apache2 -k graceful` signals the parent before
 * its own post_config, so it prints none; the parent logs them. Errors are
 * never held back: a bad configuration stops the first reading. */
int mg_mod_warn_now(void)
{
    return ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL;
}

int mg_mod_warn_in_post_config(void)
{
    return ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG;
}

/* post_config: forget policies the new configuration no longer declares. */
int mg_mod_store_prune(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    mg_mod_store_t *st = store_get(s->process);
    int gen = ap_state_query(AP_SQ_CONFIG_GEN);
    apr_hash_index_t *hi;

    if (st == NULL)
        return OK;
    for (hi = apr_hash_first(ptemp, st->entries); hi; hi = apr_hash_next(hi)) {
        mg_mod_good_t *g = apr_hash_this_val(hi);
        if (g->generation < gen) {
            apr_hash_set(st->entries, g->key, APR_HASH_KEY_STRING, NULL);
            apr_pool_destroy(g->pool);
        }
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* config records                                                       */
/* ------------------------------------------------------------------ */

void *mg_mod_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    mg_mod_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));
    sc->policies = apr_hash_make(p);
    sc->reload_failure = -1;
    return sc;
}

void *mg_mod_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    mg_mod_srv_conf_t *base = basev, *add = addv;
    mg_mod_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));
    apr_hash_index_t *hi;
    /* A virtual host sees the main server's policies; its own win — also
     * for a Require in a main-server section, which httpd merges into the
     * host's requests with the main server's policy bound (shadows). */
    sc->policies = apr_hash_overlay(p, add->policies, base->policies);
    for (hi = apr_hash_first(p, add->policies); hi != NULL; hi = apr_hash_next(hi)) {
        mg_mod_policy_t *main_mp =
            apr_hash_get(base->policies, apr_hash_this_key(hi), APR_HASH_KEY_STRING);
        if (main_mp != NULL)
            sc->shadows = main_mp->shadowed = 1;
    }
    sc->reload_failure = base->reload_failure; /* global: the main server's */
    return sc;
}

void *mg_mod_create_dir_conf(apr_pool_t *p, char *dir)
{
    mg_mod_dir_conf_t *dc = apr_pcalloc(p, sizeof(*dc));
    dc->reason_header = -1;
    dc->hls_rewrite = -1;
    dc->export_to = -1;
    dc->guarded = -1;
    dc->metrics = -1;
    return dc;
}

/* Whether dc sets none of our per-directory directives: every field of
 * mg_mod_dir_conf_t, so a new field must be added here too. */
static int dir_conf_unset(const mg_mod_dir_conf_t *dc)
{
    return dc->reason_header == -1 && dc->hls_rewrite == -1 && dc->export_to == -1 &&
           dc->guarded == -1 && dc->metrics == -1;
}

void *mg_mod_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    mg_mod_dir_conf_t *base = basev, *add = addv;
    mg_mod_dir_conf_t *dc;

    /* httpd merges a <Location> with one of our directives onto the
     * directory's config for every request (the server's default config,
     * all unset, when no other section sets ours): when one side sets
     * nothing, the merge is the other side as it is. Nothing writes a
     * directory config after the configuration has been read, so sharing
     * it is safe; it saves the allocation (~100 instructions a request). */
    if (dir_conf_unset(base))
        return add;
    if (dir_conf_unset(add))
        return base;
    dc = apr_pcalloc(p, sizeof(*dc));
    dc->reason_header = add->reason_header != -1 ? add->reason_header : base->reason_header;
    dc->hls_rewrite = add->hls_rewrite != -1 ? add->hls_rewrite : base->hls_rewrite;
    dc->export_to = add->export_to != -1 ? add->export_to : base->export_to;
    dc->guarded = add->guarded != -1 ? add->guarded : base->guarded;
    dc->metrics = add->metrics != -1 ? add->metrics : base->metrics;
    return dc;
}

void mg_mod_each_policy(server_rec *s, apr_pool_t *p, mg_mod_policy_fn *fn, void *ctx)
{
    for (; s != NULL; s = s->next) {
        mg_mod_srv_conf_t *sc = ap_get_module_config(s->module_config, &media_guard_module);
        apr_hash_index_t *hi;
        if (sc == NULL || sc->policies == NULL)
            continue;
        for (hi = apr_hash_first(p, sc->policies); hi; hi = apr_hash_next(hi))
            fn(ctx, s, apr_hash_this_val(hi));
    }
}

const mg_mod_policy_t *mg_mod_find_policy(server_rec *s, const char *name)
{
    mg_mod_srv_conf_t *sc = ap_get_module_config(s->module_config, &media_guard_module);
    const mg_mod_policy_t *mp = NULL;

    /* httpd creates a virtual host's config only when one of our directives
     * appears in it, and merges only after reading: until then fall back to
     * the main server (ap_server_conf is set before any directive runs). */
    if (sc != NULL)
        mp = apr_hash_get(sc->policies, name, APR_HASH_KEY_STRING);
    if (mp == NULL && ap_server_conf != NULL && s != ap_server_conf) {
        sc = ap_get_module_config(ap_server_conf->module_config, &media_guard_module);
        if (sc != NULL)
            mp = apr_hash_get(sc->policies, name, APR_HASH_KEY_STRING);
    }
    return mp;
}

static void add_names(apr_array_header_t *names, server_rec *s)
{
    mg_mod_srv_conf_t *sc = s ? ap_get_module_config(s->module_config, &media_guard_module) : NULL;
    apr_hash_index_t *hi;

    if (sc == NULL)
        return;
    for (hi = apr_hash_first(names->pool, sc->policies); hi; hi = apr_hash_next(hi))
        APR_ARRAY_PUSH(names, const char *) =
            ((const mg_mod_policy_t *)apr_hash_this_val(hi))->name;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *mg_mod_suggest_policy(server_rec *s, const char *name, apr_pool_t *p)
{
    apr_array_header_t *names = apr_array_make(p, 8, sizeof(const char *));

    /* the same servers mg_mod_find_policy looks in; sorted, so that a tie
     * is broken the same way on every run (hash order is random) */
    add_names(names, s);
    if (ap_server_conf != NULL && s != ap_server_conf)
        add_names(names, ap_server_conf);
    qsort(names->elts, (size_t)names->nelts, sizeof(const char *), name_cmp);
    APR_ARRAY_PUSH(names, const char *) = NULL;
    return mg_suggest(name, (const char *const *)names->elts);
}

/* ------------------------------------------------------------------ */
/* MediaGuardPolicy NAME FILE                                           */
/* ------------------------------------------------------------------ */

static int name_ok(const char *name)
{
    size_t n = strlen(name), i;
    if (n == 0 || n > MG_MOD_MAX_NAME)
        return 0;
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!mg_ascii_isalnum(c) && c != '-' && c != '_' && c != '.')
            return 0;
    }
    return 1;
}

/* Load, compile and bind (roles_from `apache:` providers) one policy text
 * into mp; nothing of mp changes unless all of it succeeds. */
static mg_status_t load_text(cmd_parms *cmd, mg_mod_policy_t *mp, const char *path, const char *buf,
                             apr_size_t len, mg_diags_t *diags)
{
    apr_pool_t *p = cmd->pool;
    char *dir = ap_make_dirstr_parent(p, path);
    mg_policy_t *pol = NULL;
    mg_mod_grant_t *grants = NULL;
    mg_status_t st = mg_policy_load_buffer(p, path, dir, buf, len, &pol, diags);
    if (st == MG_OK && (pol == NULL || diags->errors > 0))
        st = MG_EINTERNAL;
    if (st == MG_OK && mg_mod_bind_grants(cmd, pol, &grants, diags) != 0)
        st = MG_EINVAL;
    if (st != MG_OK)
        return st;
    mp->policy = pol;
    mp->grants = grants;
    mp->ngrants = mg_policy_grant_count(pol);
    return MG_OK;
}

static void log_diags(server_rec *s, int level, const char *name, const mg_diags_t *diags,
                      mg_severity_t which, apr_pool_t *p)
{
    int i, shown = 0;
    const char *file = NULL;
    for (i = 0; i < diags->items->nelts; i++) {
        const mg_diag_t *d = &APR_ARRAY_IDX(diags->items, i, mg_diag_t);
        if (d->severity != which)
            continue;
        file = d->file;
        if (shown++ < MG_DIAG_SHOW_MAX)
            ap_log_error(APLOG_MARK, level, 0, s, MG_LOGNO(00101) "MediaGuardPolicy %s: %s", name,
                         mg_diag_format(p, d));
    }
    if (shown > MG_DIAG_SHOW_MAX)
        ap_log_error(APLOG_MARK, level, 0, s, MG_LOGNO(00102) "MediaGuardPolicy %s: %s", name,
                     mg_diags_more(p, file, shown - MG_DIAG_SHOW_MAX));
}

static void log_held_warnings(void *ctx, server_rec *s, mg_mod_policy_t *mp)
{
    apr_pool_t *ptemp = ctx;

    /* a virtual host also sees the main server's policies: the first
     * server to come is the one that declared it */
    if (mp->warnings == NULL)
        return;
    if (mg_mod_warn_in_post_config())
        log_diags(s, APLOG_WARNING, mp->name, mp->warnings, MG_SEV_WARNING, ptemp);
    mp->warnings = NULL; /* ptemp goes after post_config */
}

int mg_mod_log_load_warnings(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    mg_mod_each_policy(s, ptemp, log_held_warnings, ptemp);
    return OK;
}

const char *mg_mod_cmd_policy(cmd_parms *cmd, void *dconf, const char *name, const char *file)
{
    mg_mod_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &media_guard_module);
    const char *path, *key;
    mg_mod_policy_t *mp;
    mg_mod_store_t *st;
    mg_mod_good_t *good;
    mg_diags_t *diags;
    char *buf = NULL;
    apr_size_t len = 0;
    const mg_policy_t *pol = NULL;
    mg_status_t rc;
    int reload, i;

    if (!name_ok(name))
        return apr_psprintf(cmd->pool,
                            "MediaGuardPolicy: the name '%s' must be 1 to %d letters, digits, "
                            "'-', '_' or '.'",
                            name, MG_MOD_MAX_NAME);
    if (apr_hash_get(sc->policies, name, APR_HASH_KEY_STRING))
        return apr_psprintf(cmd->pool,
                            "MediaGuardPolicy: a policy named '%s' is already declared in "
                            "this server",
                            name);
    path = ap_server_root_relative(cmd->pool, file);
    if (path == NULL)
        return apr_psprintf(cmd->pool, "MediaGuardPolicy %s: invalid file path '%s'", name, file);

    diags = mg_diags_make(cmd->temp_pool);
    /* the text in the policy's own pool: nothing compiled may point into
     * memory that is reused once the configuration has been read */
    mp = apr_pcalloc(cmd->pool, sizeof(*mp));
    mp->name = apr_pstrdup(cmd->pool, name);
    mp->file = path;
    rc = mg_policy_read_file(cmd->pool, path, &buf, &len, diags);
    if (rc == MG_OK)
        rc = load_text(cmd, mp, path, buf, len, diags);
    mg_diags_sort(diags);
    key = apr_pstrcat(cmd->temp_pool, name, "\n", path, NULL);
    st = store_get(cmd->server->process);

    if (rc == MG_OK) {
        if (mg_mod_warn_now())
            log_diags(cmd->server, APLOG_WARNING, name, diags, MG_SEV_WARNING, cmd->temp_pool);
        else if (diags->warnings > 0)
            mp->warnings = diags; /* cmd->temp_pool is post_config's ptemp */
        if (st)
            store_put(st, key, buf, len);
        apr_hash_set(sc->policies, mp->name, APR_HASH_KEY_STRING, mp);
        return NULL;
    }

    reload =
        ap_state_query(AP_SQ_CONFIG_GEN) > 1 && ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_NORMAL;
    if (!reload) {
        /* configtest, first start or `apache2 -k graceful` parsing the new
         * configuration: refuse. Each diagnostic goes to stderr on its own
         * line, compiler style (httpd escapes newlines inside the directive
         * error itself), and the directive error repeats the first one. */
        const mg_diag_t *first = NULL;
        for (i = 0; i < diags->items->nelts; i++) {
            const mg_diag_t *d = &APR_ARRAY_IDX(diags->items, i, mg_diag_t);
            if (d->severity == MG_SEV_ERROR && first == NULL)
                first = d;
            if (i < MG_DIAG_SHOW_MAX)
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, NULL, "%s",
                             mg_diag_format(cmd->temp_pool, d));
        }
        if (diags->items->nelts > MG_DIAG_SHOW_MAX)
            ap_log_error(
                APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, NULL, "%s",
                mg_diags_more(cmd->temp_pool, path, diags->items->nelts - MG_DIAG_SHOW_MAX));
        return apr_psprintf(cmd->pool, "MediaGuardPolicy %s: %s was refused (%d %s%s): %s", name,
                            path, diags->errors, diags->errors == 1 ? "error" : "errors",
                            diags->errors <= 1                       ? ""
                            : diags->items->nelts > MG_DIAG_SHOW_MAX ? ", the first listed above"
                                                                     : ", all listed above",
                            first ? mg_diag_format(cmd->pool, first) : "unknown error");
    }

    /* graceful reload: never make the running parent exit */
    log_diags(cmd->server, APLOG_ERR, name, diags, MG_SEV_ERROR, cmd->temp_pool);
    log_diags(cmd->server, APLOG_WARNING, name, diags, MG_SEV_WARNING, cmd->temp_pool);
    good = st ? store_find(st, key) : NULL;
    if (good) {
        mg_diags_t *again = mg_diags_make(cmd->temp_pool);
        const char *copy = apr_pstrmemdup(cmd->pool, good->buf, good->len);
        if (load_text(cmd, mp, path, copy, good->len, again) == MG_OK) {
            pol = mp->policy;
            mp->stale = 1;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, cmd->server,
                         MG_LOGNO(00103) "MediaGuardPolicy %s: %s was refused on reload; "
                                         "the last good version "
                                         "(digest %s) keeps serving",
                         name, path, mg_policy_digest(pol));
        } else {
            log_diags(cmd->server, APLOG_ERR, name, again, MG_SEV_ERROR, cmd->temp_pool);
        }
    }
    if (mp->policy == NULL)
        ap_log_error(
            APLOG_MARK, APLOG_ERR, 0, cmd->server,
            MG_LOGNO(00104) "MediaGuardPolicy %s: %s was refused on reload "
                            "and no good version of it "
                            "can be rebuilt; every request under it is denied until it is fixed",
            name, path);
    apr_hash_set(sc->policies, mp->name, APR_HASH_KEY_STRING, mp);
    return NULL;
}

const char *mg_mod_cmd_reason_header(cmd_parms *cmd, void *dconf, int flag)
{
    mg_mod_dir_conf_t *dc = dconf;
    dc->reason_header = flag ? 1 : 0;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* MediaGuardReloadFailure keep|deny                                    */
/* ------------------------------------------------------------------ */

const char *mg_mod_cmd_reload_failure(cmd_parms *cmd, void *dconf, const char *arg)
{
    mg_mod_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &media_guard_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err != NULL)
        return err;
    if (apr_cstr_casecmp(arg, "keep") == 0)
        sc->reload_failure = MG_MOD_RELOAD_KEEP;
    else if (apr_cstr_casecmp(arg, "deny") == 0)
        sc->reload_failure = MG_MOD_RELOAD_DENY;
    else
        return "MediaGuardReloadFailure must be 'keep' or 'deny'";
    return NULL;
}

/* The directive may come after the MediaGuardPolicy lines it governs, so
 * it is applied once the whole configuration has been read: with `deny`, a
 * policy refused on this reload serves nothing (500, internal-error) rather
 * than its last good version — which may still trust a key the failed
 * edit meant to remove. */
static void drop_stale(void *ctx, server_rec *v, mg_mod_policy_t *mp)
{
    (void)ctx;
    if (!mp->stale || mp->policy == NULL)
        return;
    mp->policy = NULL;
    mp->stale = 0;
    ap_log_error(
        APLOG_MARK, APLOG_ERR, 0, v,
        MG_LOGNO(00105) "MediaGuardPolicy %s: %s was refused on reload and "
                        "MediaGuardReloadFailure is deny: every request under it fails (500) "
                        "until it is fixed",
        mp->name, mp->file);
}

int mg_mod_apply_reload_failure(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                server_rec *s)
{
    mg_mod_srv_conf_t *main_sc = ap_get_module_config(s->module_config, &media_guard_module);

    if (main_sc == NULL || main_sc->reload_failure != MG_MOD_RELOAD_DENY)
        return OK;
    mg_mod_each_policy(s, ptemp, drop_stale, NULL);
    return OK;
}
