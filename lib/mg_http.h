/* mg_http.h — the HTTP edges of a decision, shared by mod_media_guard and
 * mgctl (public API, with mg.h).
 *
 * What an HTTP server hands libmg (the request target and the request
 * headers) and what it answers (the HTTP status of a decision) are written
 * once, here, so that Apache, `mgctl explain`, `mgctl test` and `mgctl
 * verify` agree by construction: the module reads the target and headers
 * from its request_rec, mgctl from its options and test files, both as an
 * apr_table_t. No httpd header is needed (docs/canonical-urls.md,
 * "The request target").
 */
#ifndef MG_HTTP_H
#define MG_HTTP_H

#include <apr_tables.h>

#include "mg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A request target split into what libmg judges. */
typedef struct mg_target {
    const char *path;      /* raw (percent-encoded) path without query and
                              fragment; "" when refused */
    const char *query;     /* raw query without '?', or NULL */
    const char *scheme;    /* absolute-form: "http" or "https" (lower case);
                              NULL for origin-form */
    const char *authority; /* absolute-form: host[:port] as sent; else NULL */
    const char *refused;   /* why the target was refused (a short sentence
                              that never echoes it), or NULL */
} mg_target_t;

/* Split a request target (RFC 9112 3.2) into path and query exactly as the
 * client sent them — neither decoded nor normalised: mg_request_prepare
 * canonicalises (and refuses) them itself. Accepted, and nothing else:
 *
 *   origin-form    "/path?query"   (a target starting "//" is a path)
 *   absolute-form  "http://authority/path?query" or "https://...", the
 *                  scheme in any case; no path is "/"; the authority must
 *                  be non-empty, without userinfo ("user@", RFC 9110 4.2.4)
 *                  and without control bytes or spaces
 *
 * A fragment ("#...") is dropped, as httpd drops it. Anything else — "*",
 * an authority-form ("host:443"), another scheme ("ftp://"), "http:/x" —
 * is refused: MG_EINVAL, out->refused and *why (may be NULL) set, out->path
 * "" and out->query NULL, so that a decision on it denies (bad-url). The
 * scheme is recognised at the start only: "/a?x=http://h/b" is a path with
 * a query, never a URL whose path is /b. The path and the query may point
 * into `target` (no copy where a part ends where the target ends): keep
 * it as long as `out`. */
mg_status_t mg_target_split(apr_pool_t *pool, const char *target, mg_target_t *out,
                            const char **why);

/* The request-from-headers step, from a table of headers (httpd's
 * r->headers_in, mgctl's options), in one pass over it. It zeroes *req and
 * fills what the target and the headers say — raw_path, query and
 * target_refused from `t`; scheme from an absolute-form target, else "http"
 * (a caller that knows the connection's scheme sets req->scheme
 * afterwards); host from the Host header, else an absolute-form target's
 * authority; referer, origin, sec_fetch_site/mode/dest, accept, cookie,
 * content_length and transfer_encoding from their headers: each the value
 * of the first header of its name, matched without case (ASCII), exactly
 * what apr_table_get would return. url_header from the headers that some
 * origins read as the request URL: X-Original-URL, X-Rewrite-URL (Zend
 * Framework 1, Symfony before 3.4.14), X-Original-URI, X-Forwarded-Uri,
 * X-Forwarded-Path, X-Envoy-Original-Path — in any case and with "_" or "."
 * for "-" (PHP's $_SERVER gives X_Original_URL and X.Original.URL as
 * X-Original-URL, and httpd forwards such names), every line of them:
 * MG_URL_HEADER_OTHER when one line is not the target's path (and "?"
 * query) byte for byte, and url_header_name the first such header as
 * written here. There is no form of this step through a lookup by name:
 * one could not see every spelling and every line of those headers (it was
 * removed for that). `headers` may be NULL (no headers). Values are not
 * copied: they live as long as the table's. The caller then adds what the
 * connection and the server know: method, client_ip, peer_ip, user, now,
 * lookup, grant_check. */
void mg_request_from_header_table(mg_request_t *req, const mg_target_t *t,
                                  const apr_table_t *headers);

/* The HTTP status the client gets for a decision, as mod_media_guard answers
 * it: allow 200, login 302, auth 401; a deny with reason internal-error 500
 * (an error, not a refusal); any other deny the rule's deny.status when it
 * is an error status the module can send (400-599 except 401 and 407, which
 * need a challenge), else 403. */
int mg_decision_http_status(const mg_decision_t *d);

/* Whether `status` is a deny status the module can send (see above). */
int mg_deny_status_valid(int status);

/* Whether decision d counts as the policy allowing the request under
 * `Require not media-guard` (an odd number of negations): an allow, or a
 * refusal of the request's form rather than of the client — bad-url,
 * method-not-allowed, download-not-allowed, transform-not-allowed,
 * transform-required-missing — so that the negated line refuses it. */
int mg_decision_counts_under_negation(const mg_decision_t *d);

#ifdef __cplusplus
}
#endif
#endif /* MG_HTTP_H */
