/* mgctl_diags.c — diagnostics out: text, GitHub workflow annotations, and
 * one diagnostic as a JSON object.
 */
#include "mgctl_util.h"

#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_diag.h"

/* GitHub workflow commands: data escapes %, CR, LF; properties also ':' and
 * ','. https://docs.github.com/actions/reference/workflow-commands */
static const char *gh_escape(apr_pool_t *pool, const char *s, int property)
{
    size_t len = strlen(s);
    char *out = apr_palloc(pool, len * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '%' || c == '\r' || c == '\n' || (property && (c == ':' || c == ','))) {
            o += sprintf(o, "%%%02X", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

void mgctl_diags_print(FILE *out, apr_pool_t *pool, const mg_diags_t *ds, mgctl_format_t fmt,
                       int warnings)
{
    const mg_diag_t *items = (const mg_diag_t *)ds->items->elts;
    int shown = 0, more = 0;
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *d = &items[i];
        if (d->severity == MG_SEV_WARNING && !warnings)
            continue;
        if (shown == MG_DIAG_SHOW_MAX) {
            more++;
            continue;
        }
        shown++;
        if (fmt == MGCTL_FMT_GITHUB) {
            const char *sev = d->severity == MG_SEV_ERROR ? "error" : "warning";
            const char *msg =
                d->hint ? apr_psprintf(pool, "%s (%s)", d->msg, mg_diag_hint(pool, d)) : d->msg;
            fprintf(out, "::%s file=%s", sev, gh_escape(pool, d->file, 1));
            if (d->line > 0)
                fprintf(out, ",line=%d", d->line);
            if (d->col > 0)
                fprintf(out, ",col=%d", d->col);
            fprintf(out, "::%s\n", gh_escape(pool, msg, 0));
        } else {
            fprintf(out, "%s\n", mg_diag_format(pool, d));
        }
    }
    if (more > 0) {
        const char *line = mg_diags_more(pool, items[0].file, more);
        if (fmt == MGCTL_FMT_GITHUB)
            fprintf(out, "::notice file=%s::%s\n", gh_escape(pool, items[0].file, 1),
                    gh_escape(pool, line, 0));
        else
            fprintf(out, "%s\n", line);
    }
}

const char *mgctl_diag_json(apr_pool_t *pool, const mg_diag_t *d)
{
    return apr_psprintf(pool,
                        "{\"file\":%s,\"line\":%d,\"col\":%d,\"severity\":\"%s\","
                        "\"code\":%s,\"message\":%s,\"hint\":%s}",
                        mgctl_json_str(pool, d->file), d->line, d->col,
                        d->severity == MG_SEV_ERROR ? "error" : "warning",
                        mgctl_json_str(pool, d->code), mgctl_json_str(pool, d->msg),
                        mgctl_json_str(pool, mg_diag_hint(pool, d)));
}
