/* mg_ip.c — IPv4/IPv6 address and CIDR parsing, matching and formatting.
 *
 * Addresses are parsed with inet_pton(), whose grammar is strict: no
 * whitespace, no zone ids ("fe80::1%eth0"), no octal-looking IPv4 octets
 * ("010.1.1.1"), no shortened IPv4 ("10.1"). An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is stored as plain IPv4 so that an ACL written for
 * 192.0.2.0/24 also covers a client that reached a dual-stack socket.
 * Matching compares whole bytes and then one masked byte; it never allocates.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_ip.h"

/* Longest textual IPv6 address incl. an embedded IPv4 part is 45 chars. */
#define MG_IP_TEXT_MAX 46

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parse without normalisation; *mapped tells whether a v6 address is
 * IPv4-mapped. The text must fit the local buffer (refuses absurd input
 * before inet_pton sees it). */
/* The common case, a dotted quad as Apache hands it over, without libc's
 * general parser (a third of a decision's address work): exactly four
 * decimal parts of 1-3 digits, no leading zero, each <= 255 — the set
 * inet_pton(AF_INET) accepts. Anything else returns 0 and goes to
 * inet_pton, so what is accepted and its value never change. */
static int ipv4_fast(const char *s, size_t n, uint8_t *addr)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    for (int part = 0; part < 4; part++) {
        unsigned v;
        if (p == end || (v = (unsigned)(*p - '0')) > 9)
            return 0;
        p++;
        if (p < end && (unsigned)(*p - '0') <= 9) {
            if (v == 0) /* a leading zero */
                return 0;
            v = v * 10 + (unsigned)(*p++ - '0');
            if (p < end && (unsigned)(*p - '0') <= 9) {
                v = v * 10 + (unsigned)(*p++ - '0');
                if (v > 255)
                    return 0;
            }
        }
        addr[part] = (uint8_t)v;
        /* a fourth digit fails here: it is neither a '.' nor the end */
        if (part < 3 && (p == end || *p++ != '.'))
            return 0;
    }
    return p == end;
}

static int ip_parse_raw(const char *s, size_t n, mg_ip_t *out, int *mapped)
{
    char buf[MG_IP_TEXT_MAX];

    memset(out, 0, sizeof(*out));
    *mapped = 0;
    if (n <= 15 && ipv4_fast(s, n, out->addr)) {
        out->family = 4;
        return 0;
    }
    if (n == 0 || n >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (memchr(buf, ':', n) != NULL) {
        if (inet_pton(AF_INET6, buf, out->addr) != 1) {
            memset(out, 0, sizeof(*out));
            return -1;
        }
        out->family = 6;
        *mapped = memcmp(out->addr, mapped_prefix, sizeof(mapped_prefix)) == 0;
        return 0;
    }
    if (inet_pton(AF_INET, buf, out->addr) != 1) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    out->family = 4;
    return 0;
}

static void unmap(mg_ip_t *ip)
{
    memmove(ip->addr, ip->addr + 12, 4);
    memset(ip->addr + 4, 0, 12);
    ip->family = 4;
}

/* ipv4_fast on a NUL-terminated string, without its length: every
 * request's client address is parsed, and a dotted quad is short enough
 * that counting its bytes first costs about as much as reading them. Each
 * byte is read only after the one before it was a digit or a '.', so
 * nothing after the NUL is read. The same set as ipv4_fast (test_ip
 * compares both with inet_pton). */
static int ipv4_fast_str(const char *s, uint8_t *addr)
{
    const unsigned char *p = (const unsigned char *)s;
    for (int part = 0; part < 4; part++) {
        unsigned v = (unsigned)(p[0] - '0');
        if (v > 9)
            return 0;
        if ((unsigned)(p[1] - '0') > 9) {
            p += 1;
        } else if (v == 0) { /* a leading zero */
            return 0;
        } else if ((unsigned)(p[2] - '0') > 9) {
            v = v * 10 + (unsigned)(p[1] - '0');
            p += 2;
        } else {
            v = v * 100 + (unsigned)(p[1] - '0') * 10 + (unsigned)(p[2] - '0');
            if (v > 255)
                return 0;
            p += 3;
        }
        addr[part] = (uint8_t)v;
        /* a fourth digit fails here: it is neither a '.' nor the end */
        if (*p++ != (part < 3 ? '.' : '\0'))
            return 0;
    }
    return 1;
}

int mg_ip_parse(const char *s, mg_ip_t *out)
{
    int mapped;

    if (s == NULL) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (ipv4_fast_str(s, out->addr)) {
        out->family = 4;
        return 0;
    }
    if (ip_parse_raw(s, strlen(s), out, &mapped) != 0) {
        return -1;
    }
    if (mapped) {
        unmap(out);
    }
    return 0;
}

/* Does `ip` have any bit set at or after position `bits`? */
static int host_bits_set(const mg_ip_t *ip, unsigned bits)
{
    unsigned nbytes = ip->family == 4 ? 4 : 16;
    unsigned i = bits / 8;

    if (bits % 8 != 0) {
        if (ip->addr[i] & (uint8_t)(0xffu >> (bits % 8))) {
            return 1;
        }
        i++;
    }
    for (; i < nbytes; i++) {
        if (ip->addr[i] != 0) {
            return 1;
        }
    }
    return 0;
}

static void clear_host_bits(mg_ip_t *ip, unsigned bits)
{
    unsigned nbytes = ip->family == 4 ? 4 : 16;
    unsigned i = bits / 8;

    if (bits % 8 != 0) {
        ip->addr[i] &= (uint8_t)(0xff00u >> (bits % 8));
        i++;
    }
    for (; i < nbytes; i++) {
        ip->addr[i] = 0;
    }
}

/* Prefix: 1-3 decimal digits, no sign, no spaces, no leading zero (so that
 * "/024" cannot be read as octal by a human or another tool). */
static int parse_prefix(const char *p, unsigned max, unsigned *bits)
{
    unsigned v = 0;
    size_t n = strlen(p);

    if (n == 0 || n > 3 || (n > 1 && p[0] == '0')) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > max) {
        return -1;
    }
    *bits = v;
    return 0;
}

static int cidr_parse(apr_pool_t *pool, const char *s, mg_cidr_t *out, const char **why)
{
    const char *slash;
    const char *dummy;
    size_t alen;
    int mapped;
    unsigned bits, max;

    if (why == NULL) {
        why = &dummy;
    }
    memset(out, 0, sizeof(*out));
    if (s == NULL || *s == '\0') {
        *why = "empty address";
        return -1;
    }
    slash = strchr(s, '/');
    alen = slash ? (size_t)(slash - s) : strlen(s);
    if (ip_parse_raw(s, alen, &out->net, &mapped) != 0) {
        *why = "not an IPv4 or IPv6 address (no spaces, zone ids or leading zeros)";
        return -1;
    }
    max = out->net.family == 4 ? 32 : 128;
    if (slash == NULL) {
        bits = max;
    } else if (parse_prefix(slash + 1, max, &bits) != 0) {
        memset(out, 0, sizeof(*out));
        *why = max == 32 ? "the prefix length must be a number from 0 to 32 without leading zeros"
                         : "the prefix length must be a number from 0 to 128 without leading zeros";
        return -1;
    }
    out->bits = (uint8_t)bits;
    if (host_bits_set(&out->net, bits)) {
        /* Leave the corrected network in *out so that callers without a
         * pool can still suggest it. */
        clear_host_bits(&out->net, bits);
        if (mapped && bits >= 96) {
            unmap(&out->net);
            out->bits = (uint8_t)(bits - 96);
        }
        if (pool != NULL) {
            char net[MG_IP_TEXT_MAX + 8];
            mg_cidr_format(out, net, sizeof(net));
            *why = apr_psprintf(pool, "host bits are set below the /%u prefix; did you mean %s?",
                                bits, net);
        } else {
            *why = "host bits are set below the prefix length";
        }
        return -1;
    }
    /* A mapped network with a prefix shorter than /96 always has host bits
     * set (the ffff part), so it was refused above. */
    if (mapped) {
        unmap(&out->net);
        out->bits = (uint8_t)(bits - 96);
    }
    return 0;
}

int mg_cidr_parse(const char *s, mg_cidr_t *out, const char **why)
{
    return cidr_parse(NULL, s, out, why);
}

int mg_cidr_parse_pool(apr_pool_t *pool, const char *s, mg_cidr_t *out, const char **why)
{
    return cidr_parse(pool, s, out, why);
}

int mg_cidr_match(const mg_cidr_t *c, const mg_ip_t *ip)
{
    unsigned whole, rest;

    if (c == NULL || ip == NULL || c->net.family == 0 || c->net.family != ip->family) {
        return 0;
    }
    whole = c->bits / 8u;
    rest = c->bits % 8u;
    if (memcmp(c->net.addr, ip->addr, whole) != 0) {
        return 0;
    }
    if (rest != 0) {
        uint8_t mask = (uint8_t)(0xff00u >> rest);
        if ((ip->addr[whole] & mask) != c->net.addr[whole]) {
            return 0;
        }
    }
    return 1;
}

static int cidr_net_cmp(const void *a, const void *b)
{
    const mg_cidr_t *x = a, *y = b;
    return memcmp(x->net.addr, y->net.addr, x->net.family == 4 ? 4 : 16);
}

int mg_cidrs_cover_family(apr_pool_t *pool, const mg_cidr_t *cidrs, int n, int family)
{
    unsigned nbytes = family == 4 ? 4 : 16;
    mg_cidr_t *v = apr_palloc(pool, sizeof(*v) * (size_t)(n > 0 ? n : 1));
    uint8_t next[16] = {0}; /* the lowest address not yet covered */
    int m = 0;

    for (int i = 0; i < n; i++)
        if (cidrs[i].net.family == family)
            v[m++] = cidrs[i];
    qsort(v, (size_t)m, sizeof(*v), cidr_net_cmp);
    for (int i = 0; i < m; i++) {
        uint8_t last[16];
        int carry = 1;
        if (memcmp(v[i].net.addr, next, nbytes) > 0)
            return 0; /* a gap before this network */
        /* its last address: the network with every host bit set */
        memcpy(last, v[i].net.addr, nbytes);
        for (unsigned b = v[i].bits; b < nbytes * 8u; b++)
            last[b / 8] |= (uint8_t)(0x80u >> (b % 8));
        /* inside what is covered already? */
        if (memcmp(last, next, nbytes) < 0)
            continue;
        memcpy(next, last, nbytes); /* next = last + 1 */
        for (unsigned k = nbytes; k-- > 0 && carry;)
            carry = ++next[k] == 0;
        if (carry)
            return 1; /* last was the highest address */
    }
    return 0;
}

/* The forms of mg_ip_embedded_v4: prefix bytes, their number, where the
 * IPv4 address starts, and whether it is inverted (Teredo obfuscates the
 * client's address so that NATs leave it alone, RFC 4380 section 4). */
typedef struct embedded_form {
    const char *kind;
    uint8_t prefix[12];
    uint8_t prefix_len, at, inverted;
} embedded_form_t;

static const embedded_form_t embedded_forms[] = {
    {"IPv4-compatible", {0}, 12, 12, 0},
    {"6to4", {0x20, 0x02}, 2, 2, 0},
    {"Teredo", {0x20, 0x01, 0, 0}, 4, 12, 1},
    {"NAT64", {0, 0x64, 0xff, 0x9b}, 12, 12, 0},
};

static const embedded_form_t *embedded_form(const mg_ip_t *ip)
{
    if (ip == NULL || ip->family != 6)
        return NULL;
    for (size_t i = 0; i < sizeof(embedded_forms) / sizeof(embedded_forms[0]); i++) {
        const embedded_form_t *f = &embedded_forms[i];
        if (memcmp(ip->addr, f->prefix, f->prefix_len) != 0)
            continue;
        /* ::/104 holds ::, ::1 and other special addresses, no IPv4 client */
        if (i == 0 && ip->addr[12] == 0)
            return NULL;
        return f;
    }
    return NULL;
}

int mg_ip_embedded_v4(const mg_ip_t *ip, mg_ip_t *v4)
{
    const embedded_form_t *f = embedded_form(ip);
    if (f == NULL)
        return 0;
    memset(v4, 0, sizeof(*v4));
    v4->family = 4;
    for (int i = 0; i < 4; i++)
        v4->addr[i] = f->inverted ? (uint8_t)~ip->addr[f->at + i] : ip->addr[f->at + i];
    return 1;
}

const char *mg_ip_embedded_kind(const mg_ip_t *ip)
{
    const embedded_form_t *f = embedded_form(ip);
    return f ? f->kind : NULL;
}

const char *mg_ip_format(const mg_ip_t *ip, char *buf, size_t len)
{
    char tmp[MG_IP_TEXT_MAX];
    const char *r = NULL;

    if (buf == NULL || len == 0) {
        return NULL;
    }
    if (ip != NULL && ip->family == 4) {
        r = inet_ntop(AF_INET, ip->addr, tmp, sizeof(tmp));
    } else if (ip != NULL && ip->family == 6) {
        r = inet_ntop(AF_INET6, ip->addr, tmp, sizeof(tmp));
    }
    apr_cpystrn(buf, r ? r : "(invalid)", len);
    return buf;
}

const char *mg_cidr_format(const mg_cidr_t *c, char *buf, size_t len)
{
    char tmp[MG_IP_TEXT_MAX];

    if (buf == NULL || len == 0) {
        return NULL;
    }
    if (c == NULL || (c->net.family != 4 && c->net.family != 6)) {
        apr_cpystrn(buf, "(invalid)", len);
        return buf;
    }
    mg_ip_format(&c->net, tmp, sizeof(tmp));
    apr_snprintf(buf, len, "%s/%u", tmp, (unsigned)c->bits);
    return buf;
}
