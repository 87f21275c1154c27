/* mg_response.h — the text of what the module answers (public API, with
 * mg.h): the body of a policy's deny message, the Content-Disposition of a
 * download and the Cache-Control of a private grant. Pure text work on
 * untrusted bytes (a policy's message, a file name from the URL, an origin's
 * header), kept out of the httpd glue so that unit tests can pin it
 * (tests/unit/test_response.c).
 */
#ifndef MG_RESPONSE_H
#define MG_RESPONSE_H

#include <apr_pools.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A policy's deny message as the body of an error response that httpd's
 * ap_custom_response() sends as text: HTML-escaped (< > & " '), valid UTF-8
 * kept (policies are UTF-8) and every byte of an invalid sequence replaced
 * by U+FFFD, so the body is always valid UTF-8 and labelled
 * `text/html; charset=utf-8`. ap_custom_response() takes a string that
 * starts with '/' or reads as a URL (letters, digits, '+', '-', '.' up to a
 * ':', as in "Note: members only") for a redirect target: such a message
 * gets its first character as a numeric reference (&#x4E; for 'N'), which
 * a browser shows as the same text. Never NULL (msg NULL: ""). */
const char *mg_message_html(apr_pool_t *p, const char *msg);

/* The Content-Disposition value `TYPE; filename="ASCII"; filename*=UTF-8''ENC`
 * for any bytes of `filename` (RFC 6266, RFC 8187): the quoted fallback keeps
 * printable ASCII except '"', '\' and '%' (which some browsers decode), each
 * other byte becoming '_'; the extended value is the name in UTF-8 — valid
 * sequences as they are, each byte of an invalid one as U+FFFD — with every
 * byte that is no RFC 8187 attr-char percent-encoded. No CR, LF or quote of
 * the input can reach the header. Names over MG_DISPOSITION_MAX_NAME bytes
 * are cut there, before the first UTF-8 sequence that would not fit whole.
 * Without a name (NULL or ""): just TYPE. */
#define MG_DISPOSITION_MAX_NAME 1024
const char *mg_content_disposition(apr_pool_t *p, const char *type, const char *filename);

/* Cache-Control of a grant that is not the same for every client:
 * "private", then the origin's other directives (max-age, no-cache, ...)
 * except those that address shared caches (public, private, s-maxage,
 * proxy-revalidate). `origin_cc` may be NULL. */
const char *mg_private_cache_control(apr_pool_t *p, const char *origin_cc);

#ifdef __cplusplus
}
#endif
#endif /* MG_RESPONSE_H */
