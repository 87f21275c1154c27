/* mg_fmt_cloudfront.h — the parts of the CloudFront format (keys[].format:
 * cloudfront, lib/mg_fmt_cloudfront.c) that unit tests and the fuzz target
 * call directly: the custom-policy parser, the Resource wildcard match and
 * CloudFront's base64 variant. The format itself is mg_fmt_cloudfront
 * behind lib/mg_fmt.h.
 */
#ifndef MG_FMT_CLOUDFRONT_H
#define MG_FMT_CLOUDFRONT_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>

#define MG_CF_POLICY_MAX 4096 /* bytes of a decoded custom policy */
#define MG_CF_RESOURCE_MAX 2048
#define MG_CF_SIG_MAX 512 /* RSA-4096 */

/* A custom policy (the subset AWS defines for signed URLs and cookies). */
typedef struct mg_cf_policy {
    const char *resource; /* never NULL after a successful parse */
    int64_t date_less_than;
    int64_t date_greater_than; /* 0 = absent */
    const char *source_ip;     /* CIDR text, or NULL */
} mg_cf_policy_t;

/* Parse `json[0, n)` strictly: exactly {"Statement":[{"Resource":S,
 * "Condition":{"DateLessThan":{"AWS:EpochTime":N}[,"DateGreaterThan":
 * {"AWS:EpochTime":N}][,"IpAddress":{"AWS:SourceIp":S}]}}]} with the members
 * of each object in any order, JSON whitespace between tokens, no member
 * twice, no other member, one statement. 0, or -1 with *why. */
int mg_cf_policy_parse(apr_pool_t *pool, const char *json, size_t n, mg_cf_policy_t *out,
                       const char **why);

/* CloudFront's wildcards: '*' any run of bytes (also empty), '?' one byte;
 * every other byte matches itself. 1 match, 0 not. */
int mg_cf_glob(const char *pat, size_t pn, const char *s, size_t sn);

/* CloudFront's base64 ('+' '=' '/' written '-' '_' '~'), padded, strict.
 * Decoded length, or -1. */
long mg_cf_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap);
/* Encode; out needs (n + 2) / 3 * 4 + 1 bytes. Returns the length. */
size_t mg_cf_b64_encode(const unsigned char *in, size_t n, char *out);

#endif /* MG_FMT_CLOUDFRONT_H */
