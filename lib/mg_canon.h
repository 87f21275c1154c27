/* mg_canon.h — canonical URLs for matching and signing (mg_canon.c).
 * The rules are written down in docs/canonical-urls.md. Malformed input is
 * refused, never guessed. */
#ifndef MG_CANON_H
#define MG_CANON_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#define MG_MAX_PATH 4096    /* raw path bytes */
#define MG_MAX_QUERY 8192   /* raw query bytes */
#define MG_MAX_SEGMENTS 128 /* non-empty raw segments, dot segments included */
#define MG_MAX_QPARAMS 256  /* non-empty query parameters */
/* '&'-separated pieces of a query, empty ones included: qs and Node's
 * querystring stop reading at 1,000 of them (docs/canonical-urls.md) */
#define MG_MAX_QPIECES 512

/* Same values as in mg_policy.h (identical redefinition is allowed). */
#ifndef MG_TR_FORM_PATH
#define MG_TR_FORM_PATH 1
#define MG_TR_FORM_QUERY 2
#endif

typedef struct mg_canon {
    const char *path;           /* canonical path: decoded, '/'-separated, no dot segments,
                                   no empty segments, no ';' params, transformation segment
                                   removed; always starts with '/'; ends with '/' exactly
                                   when it names a directory (see trailing_slash) */
    const char *signed_path;    /* canonical path INCLUDING the transformation segment
                                   where it was (what a token signs), as "tr:" + the
                                   normalised transformation; == path without one */
    size_t signed_path_len;     /* strlen(signed_path), set by mg_canon_path so that the
                                   string to sign needs no second scan; 0 in a struct
                                   filled by hand (readers then take strlen) */
    const char *basename;       /* last segment of path ("" for a directory) */
    const char *ext;            /* lower-case extension of basename without the dot, or "" */
    const char *tr;             /* normalised transformation (mg_transform_normalize) without
                                   "tr:" / "tr=", or NULL */
    int tr_form;                /* MG_TR_FORM_PATH or MG_TR_FORM_QUERY when tr != NULL, else 0 */
    int trailing_slash;         /* path ends in '/': the raw path ended in '/' or in a "." or
                                   ".." segment, or is the root */
    apr_array_header_t *params; /* the decoded query (mg_qparam_t, in order), as
                                   mg_query_parse() gives it; never NULL on success */
} mg_canon_t;

/* Canonicalise a raw (percent-encoded) path and pick the transformation
 * from the path ("/tr:w-300,h-300/...") or from the query's "tr" parameter.
 * Both forms at once, or a repeated "tr", is refused; so is a transformation
 * that mg_transform_parse() refuses. `query` may be NULL. The query is parsed
 * once and handed back in out->params. Returns 0, or -1 with *why set to a
 * short sentence that never echoes the input (out is then zeroed).
 * Example: "/tr:w-100/a/B.JPG" -> path "/a/B.JPG", signed_path
 * "/tr:w-100/a/B.JPG", basename "B.JPG", ext "jpg", tr "w-100". */
int mg_canon_path(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                  const char **why);
/* The same with flags, for the tests and fuzzers that prove that the fast
 * path for already-canonical paths gives byte-identical results (callers
 * use mg_canon_path): MG_CANON_NO_FAST takes the general way for every
 * path and query (mg_query_parse_ex); MG_CANON_FAST_ONLY refuses ("not on
 * the fast path") a path the fast path does not take. */
#define MG_CANON_NO_FAST 1u
#define MG_CANON_FAST_ONLY 2u
int mg_canon_path_ex(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                     const char **why, unsigned flags);
/* mg_canon_path_ex that also checks the query against the caller's
 * reserved names (mg_request_prepare: the policy's) in the same pass over
 * the parameters as the built-in ones, where mg_policy_query_check() would
 * take a second one. A query that only those names refuse is not refused
 * here: when the call returns 0, *names_why is why (NULL: no objection),
 * for the caller to refuse where it checks them. names_why may be NULL
 * (then the lists are not looked at). */
struct mg_qreserved_list;
int mg_canon_path_names(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                        const char **why, unsigned flags, const struct mg_qreserved_list *names,
                        int nnames, const char **names_why);

/* Query parameters, decoded. Duplicate names are kept in order. The
 * lengths (strlen of name and value) spare the hot path from counting
 * again; decoded text has no NUL, so they are exact. */
typedef struct mg_qparam {
    const char *name, *value;
    size_t name_len, value_len;
    int name_plain; /* 1: mg_query_parse saw that the decoded name has no byte some
                       server stack rewrites (' ' '.' '[' ']' '%' '+', non-ASCII;
                       docs/canonical-urls.md, "The normalisation"); 0: not known */
} mg_qparam_t;
/* Parse a raw query ("a=1&b=%20"): pairs split on '&' only, name and value
 * at the first '=', '+' is a space, empty pairs skipped, a pair without '='
 * has value "". NULL or "" gives an empty array. -1 with *why on malformed
 * or forbidden encoding, a pair without a name, or too many pairs. */
int mg_query_parse(apr_pool_t *pool, const char *query, apr_array_header_t **params,
                   const char **why);
/* The same with flags, for the tests and fuzzers that prove that the fast
 * path for queries with nothing to decode gives the same parameters as the
 * general way: MG_CANON_NO_FAST takes the general way for every query;
 * MG_CANON_FAST_ONLY refuses ("not on the fast path") a non-empty query
 * the fast path does not take. */
int mg_query_parse_ex(apr_pool_t *pool, const char *query, apr_array_header_t **params,
                      const char **why, unsigned flags);
/* First value of `name`, or NULL; *count (if non-NULL) = occurrences. */
const char *mg_query_get(const apr_array_header_t *params, const char *name, int *count);

/* Reserved query parameter names (docs/canonical-urls.md, "Reserved
 * parameter names"). A name that a common server stack (PHP, Rack/Rails,
 * qs/Express, ASP.NET, Java, Python, Go) could read as a reserved one
 * without being exactly it is refused: " tr", "tr[]", "[tr]", "TR",
 * "mg.sig", "MG_SIG", ... mg_canon_path() checks the built-in names ("tr"
 * and the "mg_" namespace); mg_request_prepare() the policy's (its
 * download parameter, and whatever a policy adds: mg_policy_t
 * reserved_params, for foreign token formats). */
/* MG_QR_PREFIX: every name that starts with `name` (a namespace whose owner
 * refuses unknown and repeated names itself); MG_QR_REPEAT: the exact name
 * may repeat (its reader takes the strictest value: the download parameter) */
#define MG_QR_PREFIX 1u
#define MG_QR_REPEAT 2u
#define MG_QR_NAME_MAX 128 /* longest reserved name */
typedef struct mg_qreserved {
    const char *name;         /* ASCII, 1..MG_QR_NAME_MAX bytes of [A-Za-z0-9_-] */
    unsigned flags;           /* MG_QR_* */
    const char *why_spelling; /* refusal of another spelling, or NULL for a generic one */
    const char *why_case;     /* ... that differs in case only, or NULL: why_spelling */
    const char *why_repeated; /* refusal of a repeat, or NULL for a generic one */
} mg_qreserved_t;
/* 0, or -1 with *why: some parameter is spelt so that a stack could read
 * it as one of names[0..n-1] without being exactly it, or an exact name
 * without MG_QR_REPEAT/MG_QR_PREFIX is given twice. At most 64 names. */
int mg_query_reserved_check(const apr_array_header_t *params, const mg_qreserved_t *names, int n,
                            const char **why);
/* The same over several lists of names in one pass over the parameters
 * (the built-in names and a policy's, which are not one array). A refusal
 * for a name of now[0, nnow) returns -1 with *why at once; the first one
 * for a name of later_lists[0, nlater) (in the order of the parameters,
 * then of the names) is left in *later (NULL: none; later_lists are only
 * looked at when later != NULL) and the pass goes on for the first lists
 * alone, so that the caller can report it where a second pass would have.
 * At most 64 names in now and 64 in later_lists. */
typedef struct mg_qreserved_list {
    const mg_qreserved_t *names;
    int n;
} mg_qreserved_list_t;
int mg_query_reserved_check_lists(const apr_array_header_t *params, const mg_qreserved_list_t *now,
                                  int nnow, const mg_qreserved_list_t *later_lists, int nlater,
                                  const char **why, const char **later);
/* The same lists flattened and indexed once, when the policy loads, so
 * that a request does not flatten them again: the names in order (`now`
 * then `later`, as mg_query_reserved_check_lists numbers them), their
 * lengths, and for each folded first byte (byte | 0x20) the set of names
 * that start with it. mg_query_reserved_check_table() gives exactly what
 * mg_query_reserved_check_lists() gives for the lists the table was built
 * from (tests/unit/test_qnames.c compares them). The table points into the
 * lists' names: they must outlive it and not change. */
typedef struct mg_qreserved_table {
    const mg_qreserved_t *e[128];
    size_t el[128]; /* strlen(e[g]->name) */
    /* idx[off[f], off[f + 1]): the g of every name whose first byte | 0x20
     * is f, in ascending order */
    unsigned char off[257];
    unsigned char idx[128];
    /* names of at most 4 bytes (el[g] <= 4, w_mask[g] != 0) as words, for
     * parameter names of 4 bytes or more: the name's bytes (w_exact), the
     * same folded to lower case (w_fold) and 0x20 in each letter's byte
     * (w_lmask), each under w_mask (el[g] bytes) */
    uint32_t w_exact[128], w_fold[128], w_lmask[128], w_mask[128];
    int nfirst, total;       /* now names: [0, nfirst); later: [nfirst, total) */
    const char *now_error;   /* more than 64 now names: every check refuses */
    const char *later_error; /* more than 64 later names: every check says so */
} mg_qreserved_table_t;
void mg_qreserved_table_build(mg_qreserved_table_t *t, const mg_qreserved_list_t *now, int nnow,
                              const mg_qreserved_list_t *later_lists, int nlater);
int mg_query_reserved_check_table(const apr_array_header_t *params, const mg_qreserved_table_t *t,
                                  const char **why, const char **later);
/* A table of the built-in names ("tr", "mg_*": mg_canon_path's) as the now
 * names and the caller's as the later ones, for mg_canon_path_table. */
void mg_canon_names_table(mg_qreserved_table_t *t, const mg_qreserved_list_t *names, int nnames);
/* mg_canon_path_names with the names in a table from mg_canon_names_table
 * (mg_request_prepare: the policy's, built when it loaded). */
int mg_canon_path_table(apr_pool_t *pool, const char *raw_path, const char *query, mg_canon_t *out,
                        const char **why, unsigned flags, const mg_qreserved_table_t *names,
                        const char **names_why);
/* mg_canon_path_table (flags 0) that also sets bit g of hit[2] when a
 * plain parameter (none of the bytes some stack rewrites) is exactly the
 * table's name g, a name without MG_QR_PREFIX; hit is not cleared first.
 * Complete only on success with names_why non-NULL and left NULL (no later
 * refusal), and for names of mg_query_reserved_name_ok's bytes (any
 * parameter spelled exactly as one is plain): mg_request_prepare reads its
 * download parameter's bit instead of looking at every parameter again. */
int mg_canon_path_table_hit(apr_pool_t *pool, const char *raw_path, const char *query,
                            mg_canon_t *out, const char **why, const mg_qreserved_table_t *names,
                            const char **names_why, unsigned long long hit[2]);
/* 1 when `name` is usable as a reserved name: 1..MG_QR_NAME_MAX bytes of
 * A-Z a-z 0-9 '_' '-' (every stack reads those literally, up to case). */
int mg_query_reserved_name_ok(const char *name);

/* 0, or -1 with *why: a cookie in the Cookie header `cookie` (NULL: none)
 * is named so that some stack could read it as "tr" or as `download_param`
 * (exactly, in another case, or spelt as mg_query_reserved_check refuses in
 * a query). Origins that read parameters from the cookies too (PHP's
 * $_REQUEST with PHP's built-in defaults lets a cookie override the query;
 * classic ASP.NET's Request["tr"]) would otherwise apply a transformation
 * or a download that the policy never saw. Cookies are split on ';' and on
 * ',' (httpd joins repeated Cookie lines with ", "); a name is what comes
 * before the first '=', without surrounding blanks; a piece without '='
 * is a name after ';' (PHP registers it) and the rest of the previous
 * value after ',' ("langs=en,tr"). Other names ("mg_token",
 * "__token__", "trx") pass. */
int mg_cookie_reserved_check(const char *cookie, const char *download_param, const char **why);

/* The names mg_cookie_reserved_check looks for, prepared once for a
 * download parameter (mg_request_tables_build: the policy's). */
enum {
    MG_CK_SKIP,    /* a piece whose name starts with this byte is never one */
    MG_CK_PICK,    /* ... may be one: a first letter of a name, not rewritten */
    MG_CK_SPECIAL, /* ... may be one: a byte some reading drops or rewrites */
    MG_CK_SEP,     /* ';' ',': an empty piece */
    MG_CK_BLANK,   /* dropped before a name */
    MG_CK_END      /* NUL */
};
typedef struct {
    unsigned char cls[256];           /* MG_CK_*: the first byte of a piece that is not blank */
    unsigned char ord[256];           /* 1: a byte that, after a name's first, is its second
                                         as it is, folded (not blank, '=', ';', ',', NUL or
                                         rewritten) */
    char name[2][MG_QR_NAME_MAX + 1]; /* "tr", the download parameter; folded to lower case */
    size_t len[2];
    unsigned pair[2]; /* a name's first two bytes, folded, as b0 | b1 << 8; ~0u: one byte */
    int n;            /* 1, or 2 with a download parameter of 1..MG_QR_NAME_MAX bytes */
} mg_cookie_table_t;
void mg_cookie_table_build(mg_cookie_table_t *t, const char *download_param);
/* mg_cookie_reserved_check(cookie, download_param, why) for the
 * download_param t was built for: the same answer, for less work on a
 * browser's kilobyte of cookies (one pass for the separators; only a name
 * whose bytes could read as "tr" or the download parameter is read the
 * ways mg_query_reserved_check reads names). t must not be NULL. */
int mg_cookie_reserved_check_table(const char *cookie, const mg_cookie_table_t *t,
                                   const char **why);

/* Percent-encode for a URL path (RFC 3986 unreserved, '/' and the sub-delims
 * ! $ & ' ( ) * + , = plus ':' '@' kept; ';' '%' and everything else encoded)
 * or a query name/value (unreserved kept, space is %20). Uppercase hex.
 * mg_canon_path(mg_pct_encode_path(c.path)) gives back c.path. Used by
 * signers and redirects. NULL in, NULL out. */
const char *mg_pct_encode_path(apr_pool_t *pool, const char *s);
const char *mg_pct_encode_query(apr_pool_t *pool, const char *s);

#endif
