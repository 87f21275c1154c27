/* mg_ip.h — IPv4/IPv6 addresses and CIDR blocks (mg_ip.c).
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is normalised to IPv4 so that one
 * address never has two spellings. Allocation-free matching. */
#ifndef MG_IP_H
#define MG_IP_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>

typedef struct mg_ip {
    uint8_t family; /* 4 or 6; 0 = invalid */
    uint8_t addr[16];
} mg_ip_t;

typedef struct mg_cidr {
    mg_ip_t net;  /* host bits cleared */
    uint8_t bits; /* prefix length: 0..32 or 0..128 */
} mg_cidr_t;

/* Parse "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1". 0 ok, -1 invalid
 * (no zone ids, no leading zeros ambiguity: inet_pton rules). */
int mg_ip_parse(const char *s, mg_ip_t *out);
/* Parse "192.0.2.0/24", "2001:db8::/32", or a bare address (/32 or /128).
 * The prefix is 0..32 / 0..128 in plain decimal ("/024", "/+24", "/ 24" are
 * refused). "::ffff:192.0.2.0/120" becomes 192.0.2.0/24.
 * Host bits set below the prefix are an error ("192.0.2.1/24": *why says so,
 * and *out then holds the corrected network 192.0.2.0/24 for a hint).
 * 0 ok, -1 invalid with *why set to a static sentence (why may be NULL). */
int mg_cidr_parse(const char *s, mg_cidr_t *out, const char **why);
/* Same; *why is allocated from pool and, for host bits set, names the
 * network that was probably meant ("... did you mean 192.0.2.0/24?"). */
int mg_cidr_parse_pool(apr_pool_t *pool, const char *s, mg_cidr_t *out, const char **why);
/* The IPv4 address an IPv6 address carries for its client, in the four
 * forms that name one (docs/policy.md, "IPv6 addresses that carry an IPv4
 * address"): IPv4-compatible ::a.b.c.d (not ::/104: ::, ::1), 6to4
 * 2002:AABB:CCDD::/48, Teredo 2001:0::/32 (the client's address, its last 32
 * bits inverted; not the Teredo server's) and NAT64's well-known prefix
 * 64:ff9b::/96. 1 with *v4 set (family 4), else 0. IPv4-mapped addresses
 * are IPv4 already (mg_ip_parse). */
int mg_ip_embedded_v4(const mg_ip_t *ip, mg_ip_t *v4);
/* A short name of that form for messages ("6to4"), or NULL. */
const char *mg_ip_embedded_kind(const mg_ip_t *ip);
/* 1 if ip is inside c. Families must agree (mapped addresses are IPv4). */
int mg_cidr_match(const mg_cidr_t *c, const mg_ip_t *ip);
/* 1 if the n networks in cidrs together hold every address of family (4
 * or 6): 0.0.0.0/0, or 0.0.0.0/1 with 128.0.0.0/1, or any other split.
 * Networks of the other family are ignored. Scratch memory from pool;
 * O(n log n). */
int mg_cidrs_cover_family(apr_pool_t *pool, const mg_cidr_t *cidrs, int n, int family);
/* Text form into buf (>= 64 bytes); "(invalid)" for family 0. Returns buf. */
const char *mg_ip_format(const mg_ip_t *ip, char *buf, size_t len);
const char *mg_cidr_format(const mg_cidr_t *c, char *buf, size_t len);

#endif
