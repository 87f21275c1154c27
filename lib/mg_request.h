/* mg_request.h — what mg_request_prepare() derives from a request
 * (internal to libmg; mg_request.c). */
#ifndef MG_REQUEST_H
#define MG_REQUEST_H

#include "mg.h"
#include "mg_canon.h"
#include "mg_ip.h"
#include "mg_policy.h"
#include "mg_transform.h"

struct mg_fmt_path;

typedef struct mg_request_derived {
    int ok;                    /* 0: canonicalisation refused the URL */
    const char *why;           /* when !ok */
    mg_canon_t canon;          /* canonical path, ext, transformation */
    apr_array_header_t *query; /* mg_qparam_t, decoded */
    mg_tr_t tr;                /* parsed transformation (nsteps 0 if none) */
    int has_tr;
    mg_classset_t classes; /* classes of canon.ext */
    unsigned method_bit;
    mg_ip_t client; /* parsed client_ip (family 0 if unparsable) */
    mg_ip_t peer;
    int peer_trusted;    /* peer in policy->trusted_proxies */
    mg_roleset_t roles;  /* resolved roles */
    const char *country; /* upper-case, or NULL */
    int download;        /* query has download_param with a true value */
    int navigation;      /* a browser navigation (Sec-Fetch-Mode: navigate, or no
                            Sec-Fetch-Mode and Accept prefers text/html) */
    int fm_document;     /* Fetch Metadata says top-level navigation (Sec-Fetch-Dest:
                            document, Mode navigate or absent): 1, says something
                            else: 0, no Sec-Fetch-Dest/-Mode: -1 */
    int accepts_html;    /* Accept contains text/html */
    /* a foreign token in the path (mg_fmt.h), or NULL; canon is then the
     * canonical form of its effective path (the path without the token) */
    const struct mg_fmt_path *ptok;
} mg_request_derived_t;

/* What mg_request_prepare needs of the policy that no request changes,
 * built once when the policy is compiled (policy->req_tables; a policy
 * built by hand without mg_policy_compile has none, and requests then
 * derive the same per request). */
typedef struct mg_request_tables {
    mg_qreserved_t dl;          /* the download parameter as a reserved name */
    mg_qreserved_table_t names; /* "tr", "mg_*", then dl and reserved_params */
    size_t dl_len;              /* strlen(dl.name) */
    int dl_g;                   /* dl's place in names (its bit in mg_canon_path_table_hit's
                                   hit), or -1: every parameter is looked at */
    int has_foreign;            /* mg_fmt_policy_has_foreign's answer */
    mg_cookie_table_t cookie;   /* "tr" and dl for the cookie check */
} mg_request_tables_t;
/* Build policy->req_tables from the policy as it is now (its keys loaded,
 * its reserved_params complete); the policy must not change after. */
mg_status_t mg_request_tables_build(mg_policy_t *policy);

#endif
