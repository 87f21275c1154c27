/* mg_diag.h — status codes and diagnostics (file:line:column + sentence).
 *
 * Every core function that can fail returns an mg_status_t; those that
 * examine user input append mg_diag_t records to an mg_diags_t so that all
 * problems of a file are reported at once, not only the first.
 */
#ifndef MG_DIAG_H
#define MG_DIAG_H

#include <stdarg.h>

#include <apr_pools.h>
#include <apr_tables.h>

typedef enum {
    MG_OK = 0,
    MG_EINVAL = 1, /* bad input (policy, URL, token, ...) */
    MG_EIO = 2,    /* file not found / unreadable */
    MG_ENOMEM = 3,
    MG_ECRYPTO = 4, /* OpenSSL failure */
    MG_EINTERNAL = 5
} mg_status_t;

typedef enum { MG_SEV_ERROR = 0, MG_SEV_WARNING = 1 } mg_severity_t;

typedef struct mg_diag {
    mg_severity_t severity;
    const char *file; /* as given by the caller */
    int line;         /* 1-based; 0 = whole file */
    int col;          /* 1-based; 0 = unknown */
    const char *code; /* short stable identifier, e.g. "unknown-key" */
    const char *msg;  /* one sentence a human understands */
    const char *hint; /* optional suggestion ("did you mean 'roles'?"), or NULL */
} mg_diag_t;

typedef struct mg_diags {
    apr_pool_t *pool;
    apr_array_header_t *items; /* mg_diag_t */
    int errors;
    int warnings;
} mg_diags_t;

mg_diags_t *mg_diags_make(apr_pool_t *pool);

/* Append a diagnostic; msg is printf-style. Returns the new record so a hint
 * can be attached. */
mg_diag_t *mg_diag_add(mg_diags_t *ds, mg_severity_t sev, const char *file, int line, int col,
                       const char *code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
mg_diag_t *mg_diag_addv(mg_diags_t *ds, mg_severity_t sev, const char *file, int line, int col,
                        const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

/* "file:line:col: error: msg [hint]" — the one human format used by
 * mgctl and by the module's configtest errors. */
const char *mg_diag_format(apr_pool_t *pool, const mg_diag_t *d);

/* s with its control bytes written as escapes (\\n, \\r, \\t, \\xNN): one line of
 * output whatever a policy or test file put into it; s itself when it has none. */
const char *mg_one_line(apr_pool_t *pool, const char *s);

/* A diagnostic's message is at most this many bytes (before escapes):
 * longer ones, which quote what a policy wrote, are cut and say so. */
#define MG_DIAG_MSG_MAX 1024

/* d's hint, cut like a message (hints quote a policy too: "write '...'"),
 * or NULL. Every output of a hint goes through this. */
const char *mg_diag_hint(apr_pool_t *pool, const mg_diag_t *d);

/* At most this many diagnostics of one file are printed (apache2 -t, mgctl
 * validate/test in every format); the rest are counted in one line made by
 * mg_diags_more(): a file with 200,000 errors must not print 20 MB. */
#define MG_DIAG_SHOW_MAX 100
/* "FILE: ... and N more diagnostics (the first 100 are shown)" */
const char *mg_diags_more(apr_pool_t *pool, const char *file, int n);

/* Sort by file, line, column (stable) — diagnostics are reported in order. */
void mg_diags_sort(mg_diags_t *ds);

/* Closest candidate within edit distance 2, for "did you mean" hints. */
const char *mg_suggest(const char *word, const char *const *candidates);

#endif /* MG_DIAG_H */
