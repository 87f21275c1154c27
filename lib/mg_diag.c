/* mg_diag.c — diagnostics: collection, formatting, "did you mean" hints. */
#include "mg_diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

mg_diags_t *mg_diags_make(apr_pool_t *pool)
{
    mg_diags_t *ds = apr_pcalloc(pool, sizeof(*ds));
    ds->pool = pool;
    ds->items = apr_array_make(pool, 8, sizeof(mg_diag_t));
    return ds;
}

/* A message quotes what a policy wrote (a name, a path): one that quotes a
 * 1 MiB scalar printed 1 MiB per diagnostic, into a CI log and its
 * annotations. Cut at MG_DIAG_MSG_MAX bytes, at a UTF-8 character's start,
 * and say so. */
#define CUT_NOTE "... (cut: the message is longer than %d bytes)"
static const char *clip(apr_pool_t *pool, const char *msg)
{
    size_t n = strlen(msg);

    if (n <= MG_DIAG_MSG_MAX)
        return msg;
    n = MG_DIAG_MSG_MAX - (sizeof(CUT_NOTE) + 8);
    while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
        n--;
    return apr_psprintf(pool, "%.*s" CUT_NOTE, (int)n, msg, MG_DIAG_MSG_MAX);
}

const char *mg_diag_hint(apr_pool_t *pool, const mg_diag_t *d)
{
    return d->hint ? clip(pool, d->hint) : NULL;
}

mg_diag_t *mg_diag_addv(mg_diags_t *ds, mg_severity_t sev, const char *file, int line, int col,
                        const char *code, const char *fmt, va_list ap)
{
    mg_diag_t *d = apr_array_push(ds->items);
    d->severity = sev;
    d->file = file ? apr_pstrdup(ds->pool, file) : "<input>";
    d->line = line;
    d->col = col;
    d->code = code ? code : "error";
    d->msg = clip(ds->pool, apr_pvsprintf(ds->pool, fmt, ap));
    d->hint = NULL;
    if (sev == MG_SEV_ERROR)
        ds->errors++;
    else
        ds->warnings++;
    return d;
}

mg_diag_t *mg_diag_add(mg_diags_t *ds, mg_severity_t sev, const char *file, int line, int col,
                       const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_diag_t *d = mg_diag_addv(ds, sev, file, line, col, code, fmt, ap);
    va_end(ap);
    return d;
}

const char *mg_diags_more(apr_pool_t *pool, const char *file, int n)
{
    return apr_psprintf(pool, "%s: ... and %d more diagnostic%s (the first %d are shown)",
                        file ? file : "<input>", n, n == 1 ? "" : "s", MG_DIAG_SHOW_MAX);
}

/* One diagnostic is one line: a control byte that a policy put into a
 * quoted key or value (a YAML "\n", a file name with a line break) is
 * written as an escape. Else a pull request's policy could print lines of
 * its choosing into a CI log, where a line starting with "::" is a GitHub
 * workflow command and "file:line:col: error:" a problem matcher's match. */
const char *mg_one_line(apr_pool_t *pool, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p >= 0x20 && *p != 0x7f)
        p++;
    if (*p == '\0')
        return s;
    char *out = apr_palloc(pool, strlen(s) * 4 + 1), *o = out;
    for (p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n')
            o = stpcpy(o, "\\n");
        else if (*p == '\r')
            o = stpcpy(o, "\\r");
        else if (*p == '\t')
            o = stpcpy(o, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            o += sprintf(o, "\\x%02X", *p);
        else
            *o++ = (char)*p;
    }
    *o = '\0';
    return out;
}

const char *mg_diag_format(apr_pool_t *pool, const mg_diag_t *d)
{
    const char *sev = d->severity == MG_SEV_ERROR ? "error" : "warning";
    const char *hint = d->hint ? apr_psprintf(pool, " (%s)", mg_diag_hint(pool, d)) : "";
    if (d->line > 0 && d->col > 0)
        return mg_one_line(pool, apr_psprintf(pool, "%s:%d:%d: %s: %s%s", d->file, d->line, d->col,
                                              sev, d->msg, hint));
    if (d->line > 0)
        return mg_one_line(
            pool, apr_psprintf(pool, "%s:%d: %s: %s%s", d->file, d->line, sev, d->msg, hint));
    return mg_one_line(pool, apr_psprintf(pool, "%s: %s: %s%s", d->file, sev, d->msg, hint));
}

static int diag_cmp(const void *a, const void *b)
{
    const mg_diag_t *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    /* keep insertion order for equal positions: compare addresses */
    return x < y ? -1 : (x > y);
}

void mg_diags_sort(mg_diags_t *ds)
{
    qsort(ds->items->elts, ds->items->nelts, sizeof(mg_diag_t), diag_cmp);
}

/* Levenshtein distance, bounded: candidate lists are short key names. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            cur[j] = v;
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

const char *mg_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    int best_d = 3;
    for (; candidates && *candidates; candidates++) {
        int d = edit_distance(word, *candidates);
        if (d < best_d) {
            best_d = d;
            best = *candidates;
        }
    }
    return best;
}
