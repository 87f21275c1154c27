/* mg_mod_export.c — `MediaGuardExport`: where a decision's MG_DECISION,
 * MG_REASON, MG_RULE and MG_POLICY go (the request notes, the environment,
 * both, neither), and the configtest warnings about readers the setting
 * leaves without them (MG01001 per section, MG01002 for log formats).
 *
 * The default (both) is what every release did. Setting them costs a
 * guarded request ~100 instructions a name and table (bench/RESULTS.md,
 * issue 13's fourth round), and who reads them cannot be known at
 * configuration time (a LogFormat, mod_headers, Require env, expressions in
 * .htaccess files read per request, CGI, SSI, third-party modules), so the
 * module cannot leave them out on its own: the admin, who knows the
 * readers, says so. mg_mod_record (mg_mod_authz.c) applies it.
 */
#include <string.h>

#include "mg_ascii.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include <apr_strings.h>

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

/* "notes" or "env" as its bit, "none" as 0; -1 for anything else */
static int export_word(const char *w)
{
    if (apr_cstr_casecmp(w, "notes") == 0)
        return MG_MOD_EXPORT_NOTES;
    if (apr_cstr_casecmp(w, "env") == 0)
        return MG_MOD_EXPORT_ENV;
    if (apr_cstr_casecmp(w, "none") == 0)
        return 0;
    return -1;
}

/* The bits of `MediaGuardExport a1 [a2]`, or an error sentence. */
static const char *export_parse(apr_pool_t *p, const char *a1, const char *a2, int *out)
{
    int b1 = export_word(a1), b2 = a2 ? export_word(a2) : 0;

    if (b1 < 0 || b2 < 0)
        return apr_psprintf(p,
                            "MediaGuardExport: unknown value '%s': use 'notes', 'env', "
                            "'notes env' (the default) or 'none'",
                            b1 < 0 ? a1 : a2);
    if (a2 != NULL && (b1 == 0 || b2 == 0))
        return "MediaGuardExport: 'none' stands alone";
    if (a2 != NULL && b1 == b2)
        return apr_psprintf(p, "MediaGuardExport: '%s' given twice", a1);
    *out = b1 | b2;
    return NULL;
}

const char *mg_mod_cmd_export(cmd_parms *cmd, void *dconf, const char *a1, const char *a2)
{
    mg_mod_dir_conf_t *dc = dconf;
    return export_parse(cmd->pool, a1, a2, &dc->export_to);
}

/* ------------------------------------------------------------------ */
/* apache2 -t: readers the setting leaves without the decision         */
/* ------------------------------------------------------------------ */

static const char *const mg_names[] = {"MG_DECISION", "MG_REASON", "MG_RULE", "MG_POLICY", NULL};

static int names_mg(const char *s)
{
    int i;
    for (i = 0; mg_names[i] != NULL; i++)
        if (strstr(s, mg_names[i]) != NULL)
            return 1;
    return 0;
}

/* Whether a format string (mod_log_config, mod_headers) reads an MG_ name
 * from the environment: %{MG_DECISION}e, also with a log format's '<'/'>'
 * or status conditions between the '%' and the '{'. */
static int env_format(const char *args, apr_pool_t *p)
{
    int i;
    for (i = 0; mg_names[i] != NULL; i++)
        if (strstr(args, apr_pstrcat(p, "{", mg_names[i], "}e", NULL)) != NULL)
            return 1;
    return 0;
}

/* What a directive needs to read a decision: MG_MOD_EXPORT_ENV,
 * MG_MOD_EXPORT_NOTES, both bits for "either of them" (ap_expr's env()
 * looks in the notes first, then the environment), 0 for nothing. Only
 * what can be told from the text: `Require env NAME...`, `Require expr`
 * with reqenv / note / env and an MG_ name, and a mod_headers format
 * `%{MG_...}e`. */
static int reader_needs(const ap_directive_t *d, apr_pool_t *p)
{
    const char *args = d->args ? d->args : "", *w;

    if (apr_cstr_casecmp(d->directive, "Header") == 0 ||
        apr_cstr_casecmp(d->directive, "RequestHeader") == 0)
        return env_format(args, p) ? MG_MOD_EXPORT_ENV : 0;
    if (apr_cstr_casecmp(d->directive, "Require") != 0)
        return 0;
    w = ap_getword_conf(p, &args);
    if (apr_cstr_casecmp(w, "not") == 0)
        w = ap_getword_conf(p, &args);
    if (apr_cstr_casecmp(w, "env") == 0) {
        while (*(w = ap_getword_conf(p, &args)) != '\0') {
            int i;
            for (i = 0; mg_names[i] != NULL; i++)
                if (strcmp(w, mg_names[i]) == 0)
                    return MG_MOD_EXPORT_ENV;
        }
        return 0;
    }
    if (apr_cstr_casecmp(w, "expr") != 0 || !names_mg(args))
        return 0;
    if (strstr(args, "reqenv") != NULL)
        return MG_MOD_EXPORT_ENV;
    if (strstr(args, "note") != NULL)
        return MG_MOD_EXPORT_NOTES;
    if (strstr(args, "env") != NULL)
        return MG_MOD_EXPORT_NOTES | MG_MOD_EXPORT_ENV;
    return 0;
}

/* The setting in force in one section as written, and where it was set
 * (NULL: the default). */
typedef struct export_scope {
    int bits;
    const ap_directive_t *where;
} export_scope_t;

/* Containers whose lines belong to the section around them: configuration
 * conditionals (taken as true: the check cannot tell) and the authz and
 * method containers. Every other container is a section of its own. */
static int transparent(const ap_directive_t *d)
{
    const char *n = d->directive;
    return apr_cstr_casecmpn(n, "<If", 3) == 0 && apr_cstr_casecmp(n, "<If") != 0 ? 1
           : apr_cstr_casecmpn(n, "<Require", 8) == 0                             ? 1
           : apr_cstr_casecmpn(n, "<Limit", 6) == 0                               ? 1
                                                                                  : 0;
}

static void scope_export(const ap_directive_t *d, apr_pool_t *p, export_scope_t *sc)
{
    for (; d != NULL; d = d->next) {
        if (apr_cstr_casecmp(d->directive, "MediaGuardExport") == 0) {
            const char *args = d->args ? d->args : "";
            const char *a1 = ap_getword_conf(p, &args), *a2 = ap_getword_conf(p, &args);
            int bits;
            if (export_parse(p, a1, *a2 ? a2 : NULL, &bits) == NULL) {
                sc->bits = bits;
                sc->where = d;
            }
        } else if (d->first_child != NULL && transparent(d))
            scope_export(d->first_child, p, sc);
    }
}

static const char *export_text(int bits)
{
    return bits == MG_MOD_EXPORT_NOTES ? "notes" : bits == MG_MOD_EXPORT_ENV ? "env" : "none";
}

static void check_scope(const ap_directive_t *d, apr_pool_t *p, server_rec *s, export_scope_t sc)
{
    for (; d != NULL; d = d->next) {
        int needs;
        if (d->first_child != NULL) {
            export_scope_t inner = sc;
            if (!transparent(d))
                scope_export(d->first_child, p, &inner);
            check_scope(d->first_child, p, s, inner);
            continue;
        }
        needs = reader_needs(d, p);
        if (needs == 0 || (needs & sc.bits) != 0 || sc.where == NULL)
            continue;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     MG_LOGNO(01001) "%s %s on line %d of %s reads the media-guard decision "
                                     "from %s, but 'MediaGuardExport %s' on line %d of %s leaves "
                                     "it out there: it will never see a decision",
                     d->directive, ap_escape_logitem(p, d->args ? d->args : ""), d->line_num,
                     d->filename,
                     needs == MG_MOD_EXPORT_ENV     ? "the environment"
                     : needs == MG_MOD_EXPORT_NOTES ? "the request notes"
                                                    : "the notes or the environment",
                     export_text(sc.bits), sc.where->line_num, sc.where->filename);
    }
}

/* The first MediaGuardExport anywhere that leaves the environment out. */
static const ap_directive_t *first_env_off(const ap_directive_t *d, apr_pool_t *p, int *bits)
{
    for (; d != NULL; d = d->next) {
        if (apr_cstr_casecmp(d->directive, "MediaGuardExport") == 0) {
            export_scope_t sc = {MG_MOD_EXPORT_DEFAULT, NULL};
            scope_export(d, p, &sc); /* d and its siblings: the last one wins */
            if (sc.where == d && !(sc.bits & MG_MOD_EXPORT_ENV)) {
                *bits = sc.bits;
                return d;
            }
        } else if (d->first_child != NULL) {
            const ap_directive_t *f = first_env_off(d->first_child, p, bits);
            if (f != NULL)
                return f;
        }
    }
    return NULL;
}

/* A log format is the server's, while MediaGuardExport is per directory:
 * with the environment left out anywhere, every LogFormat or CustomLog
 * reading %{MG_...}e logs "-" for the requests there. */
static void check_log_formats(const ap_directive_t *d, apr_pool_t *p, server_rec *s,
                              const ap_directive_t *off, int bits)
{
    for (; d != NULL; d = d->next) {
        if (d->first_child != NULL) {
            check_log_formats(d->first_child, p, s, off, bits);
            continue;
        }
        if ((apr_cstr_casecmp(d->directive, "LogFormat") != 0 &&
             apr_cstr_casecmp(d->directive, "CustomLog") != 0) ||
            !env_format(d->args ? d->args : "", p))
            continue;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     MG_LOGNO(01002) "%s on line %d of %s reads the media-guard decision from "
                                     "the environment (%%{MG_...}e), but 'MediaGuardExport %s' on "
                                     "line %d of %s leaves it out: requests there log '-'. Read "
                                     "the notes instead (%%<{MG_DECISION}n, the media_guard "
                                     "LogFormat) where the setting keeps them",
                     d->directive, d->line_num, d->filename, export_text(bits), off->line_num,
                     off->filename);
    }
}

/* test_config: the configuration as written, each section with the
 * MediaGuardExport in force around it (its own, else the enclosing
 * section's, the virtual host's, the main server's). What httpd merges
 * from elsewhere at request time (a <Location> over a <Directory>, an
 * .htaccess file) is not seen: docs/directives.md says so. */
void mg_mod_warn_export_readers(apr_pool_t *pconf, server_rec *s)
{
    export_scope_t top = {MG_MOD_EXPORT_DEFAULT, NULL};
    apr_pool_t *p;
    const ap_directive_t *off;
    int bits = 0;

    if (ap_conftree == NULL || apr_pool_create(&p, pconf) != APR_SUCCESS)
        return;
    scope_export(ap_conftree, p, &top);
    check_scope(ap_conftree, p, s, top);
    if ((off = first_env_off(ap_conftree, p, &bits)) != NULL)
        check_log_formats(ap_conftree, p, s, off, bits);
    apr_pool_destroy(p);
}
