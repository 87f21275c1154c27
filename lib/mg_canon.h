/* mg_canon.h — canonical URLs for matching and signing (mg_canon.c).
 * The rules are written down in docs/canonical-urls.md. Malformed input is
 * refused, never guessed. */
#ifndef MG_CANON_H
#define MG_CANON_H

#include <stddef.h>

#include <apr_pools.h>

#define MG_MAX_PATH 4096   /* raw path bytes */
#define MG_MAX_QUERY 8192  /* raw query bytes */
#define MG_MAX_SEGMENTS 128

typedef struct mg_canon {
    const char *path;     /* canonical path: decoded, '/'-separated, no dot segments,
                             no empty segments, no ';' params, transformation segment
                             removed; always starts with '/' */
    const char *signed_path; /* canonical path INCLUDING the transformation segment
                                where it was (what a token signs), normalised */
    const char *basename; /* last segment of path ("" for a directory) */
    const char *ext;      /* lower-case extension of basename without the dot, or "" */
    const char *tr;       /* transformation string (without "tr:" / "tr="), or NULL */
    int tr_form;          /* MG_TR_FORM_PATH or MG_TR_FORM_QUERY when tr != NULL */
    int trailing_slash;   /* the raw path ended in '/' */
} mg_canon_t;

/* Canonicalise a raw (percent-encoded) path and pick the transformation
 * from the path ("/tr:w-300,h-300/...") or from the query's "tr" parameter.
 * Both forms at once, or a repeated "tr", is refused. Returns 0, or -1 with
 * *why set to a sentence. */
int mg_canon_path(apr_pool_t *pool, const char *raw_path, const char *query,
                  mg_canon_t *out, const char **why);

/* Query parameters, decoded. Duplicate names are kept in order. */
typedef struct mg_qparam {
    const char *name, *value;
} mg_qparam_t;
/* Parse a raw query ("a=1&b=%20"); -1 with *why on malformed encoding. */
int mg_query_parse(apr_pool_t *pool, const char *query,
                   apr_array_header_t **params, const char **why);
/* First value of `name`, or NULL; *count (if non-NULL) = occurrences. */
const char *mg_query_get(const apr_array_header_t *params, const char *name,
                         int *count);

/* Percent-encode for a URL path (RFC 3986 unreserved and '/' kept) or a
 * query value (unreserved kept). Used by signers and redirects. */
const char *mg_pct_encode_path(apr_pool_t *pool, const char *s);
const char *mg_pct_encode_query(apr_pool_t *pool, const char *s);

#endif
