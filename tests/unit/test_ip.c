/* test_ip.c — address/CIDR parsing, prefix edges, mapped addresses, formatting. */
#include <arpa/inet.h>
#include <string.h>

#include "mg_ip.h"
#include "mg_test.h"

static mg_ip_t ip(const char *s)
{
    mg_ip_t a;
    ck_assert_msg(mg_ip_parse(s, &a) == 0, "address '%s' should parse", s);
    return a;
}

static mg_cidr_t cidr(const char *s)
{
    mg_cidr_t c;
    const char *why = NULL;
    ck_assert_msg(mg_cidr_parse(s, &c, &why) == 0, "CIDR '%s' should parse: %s", s, why ? why : "");
    return c;
}

/* ---- match edges: {cidr, address, expected} ---- */
static const struct {
    const char *cidr, *addr;
    int match;
} match_cases[] = {
    /* /0 covers its whole family and nothing of the other */
    {"0.0.0.0/0", "0.0.0.0", 1},
    {"0.0.0.0/0", "255.255.255.255", 1},
    {"0.0.0.0/0", "::1", 0},
    {"::/0", "::", 1},
    {"::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1},
    {"::/0", "192.0.2.1", 0},
    /* /32 and /128: exactly one address */
    {"192.0.2.7/32", "192.0.2.7", 1},
    {"192.0.2.7/32", "192.0.2.6", 0},
    {"192.0.2.7/32", "192.0.2.8", 0},
    {"192.0.2.7", "192.0.2.7", 1},
    {"2001:db8::1/128", "2001:db8::1", 1},
    {"2001:db8::1/128", "2001:db8::", 0},
    {"2001:db8::1/128", "2001:db8::2", 0},
    /* /1 splits the space in halves */
    {"128.0.0.0/1", "128.0.0.0", 1},
    {"128.0.0.0/1", "255.255.255.255", 1},
    {"128.0.0.0/1", "127.255.255.255", 0},
    {"8000::/1", "8000::", 1},
    {"8000::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0},
    /* /31 and /127: two addresses */
    {"192.0.2.4/31", "192.0.2.4", 1},
    {"192.0.2.4/31", "192.0.2.5", 1},
    {"192.0.2.4/31", "192.0.2.3", 0},
    {"192.0.2.4/31", "192.0.2.6", 0},
    {"2001:db8::4/127", "2001:db8::5", 1},
    {"2001:db8::4/127", "2001:db8::6", 0},
    {"2001:db8::4/127", "2001:db8::3", 0},
    /* /24 first/last address and just outside */
    {"192.0.2.0/24", "192.0.2.0", 1},
    {"192.0.2.0/24", "192.0.2.255", 1},
    {"192.0.2.0/24", "192.0.1.255", 0},
    {"192.0.2.0/24", "192.0.3.0", 0},
    /* prefix not on a byte boundary */
    {"10.0.16.0/20", "10.0.16.0", 1},
    {"10.0.16.0/20", "10.0.31.255", 1},
    {"10.0.16.0/20", "10.0.15.255", 0},
    {"10.0.16.0/20", "10.0.32.0", 0},
    {"2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1},
    {"2001:db8::/32", "2001:db9::", 0},
    {"2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 0},
    {"2001:db8:8000::/33", "2001:db8:8000::", 1},
    {"2001:db8:8000::/33", "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", 0},
    /* mapped addresses are IPv4 on both sides */
    {"192.0.2.0/24", "::ffff:192.0.2.9", 1},
    {"192.0.2.0/24", "::ffff:c000:0209", 1},
    {"192.0.2.0/24", "::ffff:192.0.3.9", 0},
    {"::ffff:192.0.2.0/120", "192.0.2.200", 1},
    {"::ffff:0:0/96", "203.0.113.5", 1},
    {"::ffff:0:0/96", "2001:db8::1", 0},
    /* IPv4-compatible (not mapped) stays IPv6 */
    {"192.0.2.0/24", "::192.0.2.9", 0},
    /* family mismatch never matches, even with identical leading bytes */
    {"0.0.0.0/8", "::", 0},
    {"::/8", "0.0.0.1", 0},
};

START_TEST(test_cidr_match_edges)
{
    mg_cidr_t c = cidr(match_cases[_i].cidr);
    mg_ip_t a = ip(match_cases[_i].addr);
    ck_assert_msg(mg_cidr_match(&c, &a) == match_cases[_i].match, "%s in %s should be %d",
                  match_cases[_i].addr, match_cases[_i].cidr, match_cases[_i].match);
}
END_TEST

/* ---- invalid CIDRs and addresses ---- */
static const char *const bad_cidrs[] = {
    "",
    "/",
    "/24",
    "192.0.2.0/",
    "192.0.2.0/33",
    "192.0.2.0/-1",
    "192.0.2.0/ 24",
    "192.0.2.0 /24",
    "192.0.2.0/24 ",
    " 192.0.2.0/24",
    "192.0.2.0/024",
    "192.0.2.0/+24",
    "192.0.2.0/2a",
    "192.0.2.0/24/24",
    "192.0.2.0/1000",
    "2001:db8::/129",
    "2001:db8::/0128",
    "010.1.1.1",
    "10.1.1",
    "10.1.1.1.1",
    "256.1.1.1",
    "1.2.3.-4",
    "0x7f.0.0.1",
    "fe80::1%eth0",
    "fe80::1%eth0/64",
    "2001:db8:::1",
    "2001:db8::g",
    "1:2:3:4:5:6:7:8:9",
    "[2001:db8::1]",
    "localhost",
    "192.0.2.0\n",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

START_TEST(test_invalid_cidr_is_refused_with_reason)
{
    mg_cidr_t c;
    const char *why = NULL;
    ck_assert_msg(mg_cidr_parse(bad_cidrs[_i], &c, &why) == -1, "'%s' must be refused",
                  bad_cidrs[_i]);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_gt(strlen(why), 10);
    ck_assert_int_eq(c.net.family, 0);
}
END_TEST

START_TEST(test_invalid_address_is_refused)
{
    mg_ip_t a;
    /* the bare address forms of the list, where there is no slash */
    if (strchr(bad_cidrs[_i], '/') != NULL) {
        return;
    }
    ck_assert_msg(mg_ip_parse(bad_cidrs[_i], &a) == -1, "'%s' must be refused", bad_cidrs[_i]);
    ck_assert_int_eq(a.family, 0);
}
END_TEST

START_TEST(test_whitespace_and_zone_ids_are_refused_by_ip_parse)
{
    mg_ip_t a;
    ck_assert_int_eq(mg_ip_parse(" 192.0.2.1", &a), -1);
    ck_assert_int_eq(mg_ip_parse("192.0.2.1 ", &a), -1);
    ck_assert_int_eq(mg_ip_parse("192.0.2.1\t", &a), -1);
    ck_assert_int_eq(mg_ip_parse(" ::1", &a), -1);
    ck_assert_int_eq(mg_ip_parse("fe80::1%1", &a), -1);
    ck_assert_int_eq(mg_ip_parse("01.2.3.4", &a), -1);
    ck_assert_int_eq(mg_ip_parse(NULL, &a), -1);
    ck_assert_int_eq(mg_ip_parse("", &a), -1);
}
END_TEST

START_TEST(test_host_bits_set_is_refused_with_hint_naming_network)
{
    mg_cidr_t c;
    const char *why = NULL;
    char buf[64];

    ck_assert_int_eq(mg_cidr_parse_pool(mg_test_pool, "192.0.2.1/24", &c, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "192.0.2.0/24"));
    ck_assert_ptr_nonnull(strstr(why, "host bits"));
    /* the pool-less variant leaves the corrected network in *out */
    ck_assert_int_eq(mg_cidr_parse("192.0.2.1/24", &c, &why), -1);
    ck_assert_str_eq(mg_cidr_format(&c, buf, sizeof(buf)), "192.0.2.0/24");
    ck_assert_int_eq(mg_cidr_parse_pool(mg_test_pool, "2001:db8::1/64", &c, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "2001:db8::/64"));
    ck_assert_int_eq(mg_cidr_parse_pool(mg_test_pool, "10.0.17.0/20", &c, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "10.0.16.0/20"));
    ck_assert_int_eq(mg_cidr_parse_pool(mg_test_pool, "::ffff:192.0.2.1/120", &c, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "192.0.2.0/24"));
    /* a mapped address under /96 would cover non-mapped IPv6 too */
    ck_assert_int_eq(mg_cidr_parse("::ffff:0.0.0.0/95", &c, &why), -1);
}
END_TEST

START_TEST(test_prefix_bounds_are_inclusive)
{
    mg_cidr_t c;
    ck_assert_int_eq(cidr("0.0.0.0/0").bits, 0);
    ck_assert_int_eq(cidr("255.255.255.255/32").bits, 32);
    ck_assert_int_eq(cidr("::/0").bits, 0);
    ck_assert_int_eq(cidr("::1/128").bits, 128);
    ck_assert_int_eq(cidr("::1").bits, 128);
    ck_assert_int_eq(cidr("198.51.100.1").bits, 32);
    ck_assert_int_eq(mg_cidr_parse("0.0.0.0/33", &c, NULL), -1);
    ck_assert_int_eq(mg_cidr_parse("::/129", &c, NULL), -1);
}
END_TEST

START_TEST(test_mapped_address_is_normalised_to_ipv4)
{
    mg_ip_t a = ip("::ffff:192.0.2.1");
    mg_ip_t b = ip("192.0.2.1");
    char buf[64];

    ck_assert_int_eq(a.family, 4);
    ck_assert_mem_eq(&a, &b, sizeof(a));
    ck_assert_str_eq(mg_ip_format(&a, buf, sizeof(buf)), "192.0.2.1");
    mg_cidr_t c = cidr("::ffff:10.0.0.0/104");
    ck_assert_int_eq(c.net.family, 4);
    ck_assert_str_eq(mg_cidr_format(&c, buf, sizeof(buf)), "10.0.0.0/8");
    c = cidr("::ffff:0:0/96");
    ck_assert_str_eq(mg_cidr_format(&c, buf, sizeof(buf)), "0.0.0.0/0");
}
END_TEST

/* The IPv4 client an IPv6 address carries: 6to4 bits 16-47, Teredo the
 * last 32 bits inverted (not the server's bits 32-63), IPv4-compatible and
 * NAT64 the last 32; none for ::, ::1, native IPv6, IPv4 or other 2001: */
START_TEST(test_embedded_ipv4_is_the_clients_in_each_form)
{
    static const struct {
        const char *in, *v4, *kind;
    } cases[] = {
        {"2002:c000:20a::1", "192.0.2.10", "6to4"},
        {"2002:c000:20a:ffff:ffff:ffff:ffff:ffff", "192.0.2.10", "6to4"},
        {"2001:0:c633:6401::3fff:fdf5", "192.0.2.10", "Teredo"},
        {"2001:0:c633:6401:8000:f227:3fff:fdf5", "192.0.2.10", "Teredo"},
        {"::192.0.2.10", "192.0.2.10", "IPv4-compatible"},
        {"::1.0.0.0", "1.0.0.0", "IPv4-compatible"},
        {"64:ff9b::192.0.2.10", "192.0.2.10", "NAT64"},
        {"::", NULL, NULL},
        {"::1", NULL, NULL},
        {"::0.255.255.255", NULL, NULL},
        {"2001:db8::c000:20a", NULL, NULL},
        {"2001:1::1", NULL, NULL},
        {"64:ff9b:1::c000:20a", NULL, NULL},
        {"192.0.2.10", NULL, NULL},
        {"::ffff:192.0.2.10", NULL, NULL}, /* IPv4 already */
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_ip_t a = ip(cases[i].in), v4;
        memset(&v4, 0xaa, sizeof(v4));
        int got = mg_ip_embedded_v4(&a, &v4);
        ck_assert_msg(got == (cases[i].v4 != NULL), "%s", cases[i].in);
        if (got) {
            ck_assert_int_eq(v4.family, 4);
            ck_assert_str_eq(mg_ip_format(&v4, buf, sizeof(buf)), cases[i].v4);
            ck_assert_str_eq(mg_ip_embedded_kind(&a), cases[i].kind);
        } else {
            ck_assert_ptr_null(mg_ip_embedded_kind(&a));
        }
    }
}
END_TEST

START_TEST(test_format_gives_canonical_text)
{
    char buf[64];
    mg_ip_t a = ip("2001:0db8:0000:0000:0000:0000:0000:0001");
    ck_assert_str_eq(mg_ip_format(&a, buf, sizeof(buf)), "2001:db8::1");
    mg_cidr_t c = cidr("2001:DB8::/32");
    ck_assert_str_eq(mg_cidr_format(&c, buf, sizeof(buf)), "2001:db8::/32");
    c = cidr("203.0.113.0/24");
    ck_assert_str_eq(mg_cidr_format(&c, buf, sizeof(buf)), "203.0.113.0/24");
    mg_ip_t z;
    memset(&z, 0, sizeof(z));
    ck_assert_str_eq(mg_ip_format(&z, buf, sizeof(buf)), "(invalid)");
    /* a short buffer truncates but stays terminated */
    ck_assert_str_eq(mg_cidr_format(&c, buf, 5), "203.");
}
END_TEST

START_TEST(test_invalid_cidr_or_address_never_matches)
{
    mg_cidr_t c;
    mg_ip_t a;
    memset(&c, 0, sizeof(c));
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(mg_cidr_match(&c, &a), 0);
    c = cidr("0.0.0.0/0");
    ck_assert_int_eq(mg_cidr_match(&c, &a), 0);
    ck_assert_int_eq(mg_cidr_match(&c, NULL), 0);
}
END_TEST

/* mg_ip_parse's own dotted-quad parser must accept exactly what
 * inet_pton(AF_INET) accepts, with the same value: 200,000 strings of
 * digits and dots (lengths 0-17, pseudo-random, plus 3-digit and
 * leading-zero edges) compared one by one. */
START_TEST(test_ipv4_parse_agrees_with_inet_pton)
{
    static const char alphabet[] = "0123456789.25.0.";
    static const char *const edges[] = {"0.0.0.0",   "255.255.255.255", "256.0.0.0", "1.2.3.04",
                                        "1.2.3.4.",  ".1.2.3.4",        "1..2.3",    "1.2.3",
                                        "1.2.3.4.5", "1234.1.1.1",      "00.1.1.1",  "9.99.199.249",
                                        "1.2.3.299"};
    unsigned x = 12345;
    char buf[32];
    for (int i = 0; i < 200000 + (int)(sizeof(edges) / sizeof(edges[0])); i++) {
        if (i < (int)(sizeof(edges) / sizeof(edges[0]))) {
            strcpy(buf, edges[i]);
        } else {
            x = x * 1103515245u + 12345u;
            size_t n = (x >> 16) % 18;
            for (size_t j = 0; j < n; j++) {
                x = x * 1103515245u + 12345u;
                buf[j] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
            }
            buf[n] = '\0';
        }
        unsigned char want[4];
        mg_ip_t got;
        int ok = inet_pton(AF_INET, buf, want) == 1;
        int r = mg_ip_parse(buf, &got);
        ck_assert_msg((r == 0) == ok, "'%s': mg_ip_parse %d, inet_pton %d", buf, r, ok);
        if (ok)
            ck_assert_msg(got.family == 4 && memcmp(got.addr, want, 4) == 0, "'%s': value", buf);
    }
}
END_TEST

/* mg_ip_parse against inet_pton for every byte value at every offset of
 * dotted quads of every part length (its own parser reads the C string
 * without its length and one to three digits per part: a byte after the
 * NUL must never count, a fourth digit or a leading zero must fail), and
 * at every length of them cut short. */
static void ip_parse_as_inet_pton(const char *s)
{
    unsigned char want[16];
    mg_ip_t got;
    int r = mg_ip_parse(s, &got);
    if (inet_pton(AF_INET, s, want) == 1) {
        if (r != 0 || got.family != 4 || memcmp(got.addr, want, 4) != 0)
            ck_abort_msg("'%s': inet_pton AF_INET accepts it, mg_ip_parse %d family %d", s, r,
                         got.family);
    } else if (strchr(s, ':') != NULL && inet_pton(AF_INET6, s, want) == 1) {
        if (r != 0 || (got.family != 6 && got.family != 4))
            ck_abort_msg("'%s': inet_pton AF_INET6 accepts it, mg_ip_parse %d", s, r);
    } else if (r != -1 || got.family != 0) {
        ck_abort_msg("'%s': inet_pton refuses it, mg_ip_parse %d family %d", s, r, got.family);
    }
}

START_TEST(test_ipv4_parse_every_byte_at_every_offset_agrees_with_inet_pton)
{
    static const char *const base[] = {"192.168.100.255", "1.2.3.4",         "10.20.30.40",
                                       "0.0.0.0",         "255.255.255.255", "127.0.0.1"};
    char buf[32];
    long n = 0;
    for (size_t k = 0; k < sizeof(base) / sizeof(base[0]); k++) {
        size_t len = strlen(base[k]);
        for (size_t at = 0; at <= len; at++) {
            for (int b = 1; b < 256; b++) {
                memcpy(buf, base[k], len + 1);
                buf[at] = (char)b;
                if (at == len) /* one more byte at the end */
                    buf[at + 1] = '\0';
                ip_parse_as_inet_pton(buf);
                n++;
            }
            memcpy(buf, base[k], at);
            buf[at] = '\0';
            ip_parse_as_inet_pton(buf);
        }
    }
    ck_assert_int_eq(n, (15 + 7 + 11 + 7 + 15 + 9 + 6) * 255);
}
END_TEST

/* Networks that together hold every address of a family, however split:
 * the check behind trusted-everyone and deny-one-family. */
START_TEST(test_cidrs_cover_a_family_only_without_a_gap)
{
    static const struct {
        const char *list[5];
        int family, covers;
    } cases[] = {
        {{"0.0.0.0/0"}, 4, 1},
        {{"::/0"}, 6, 1},
        {{"::/0"}, 4, 0},
        {{"0.0.0.0/0"}, 6, 0},
        {{"::ffff:0:0/96"}, 4, 1},
        {{"128.0.0.0/1", "0.0.0.0/1"}, 4, 1},
        {{"8000::/1", "::/1"}, 6, 1},
        {{"::ffff:0:0/97", "::ffff:128.0.0.0/97"}, 4, 1},
        {{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"}, 4, 1},
        {{"0.0.0.0/1", "10.0.0.0/8", "128.0.0.0/1"}, 4, 1},
        {{"0.0.0.0/1"}, 4, 0},
        {{"0.0.0.0/1", "192.0.0.0/2"}, 4, 0},
        {{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "255.255.255.255"}, 4, 0},
        {{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/3"}, 4, 1},
        {{"::/1", "8000::/2", "c000::/2", "0.0.0.0/0"}, 6, 1},
        {{"::/1", "c000::/2", "0.0.0.0/0"}, 6, 0},
        {{"::/1", "8000::/1"}, 4, 0},
        {{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/1"}, 6, 0},
        {{NULL}, 4, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_cidr_t v[5];
        int n = 0;
        for (; n < 5 && cases[i].list[n]; n++)
            v[n] = cidr(cases[i].list[n]);
        ck_assert_msg(mg_cidrs_cover_family(mg_test_pool, v, n, cases[i].family) == cases[i].covers,
                      "case %zu (%s, ...), IPv%d: expected %d", i,
                      cases[i].list[0] ? cases[i].list[0] : "none", cases[i].family,
                      cases[i].covers);
    }
}
END_TEST

static Suite *ip_suite(void)
{
    Suite *s = suite_create("ip");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_loop_test(tc, test_cidr_match_edges, 0,
                        (int)(sizeof(match_cases) / sizeof(match_cases[0])));
    tcase_add_loop_test(tc, test_invalid_cidr_is_refused_with_reason, 0,
                        (int)(sizeof(bad_cidrs) / sizeof(bad_cidrs[0])));
    tcase_add_loop_test(tc, test_invalid_address_is_refused, 0,
                        (int)(sizeof(bad_cidrs) / sizeof(bad_cidrs[0])));
    tcase_add_test(tc, test_whitespace_and_zone_ids_are_refused_by_ip_parse);
    tcase_add_test(tc, test_host_bits_set_is_refused_with_hint_naming_network);
    tcase_add_test(tc, test_prefix_bounds_are_inclusive);
    tcase_add_test(tc, test_mapped_address_is_normalised_to_ipv4);
    tcase_add_test(tc, test_embedded_ipv4_is_the_clients_in_each_form);
    tcase_add_test(tc, test_format_gives_canonical_text);
    tcase_add_test(tc, test_invalid_cidr_or_address_never_matches);
    tcase_add_test(tc, test_ipv4_parse_agrees_with_inet_pton);
    tcase_add_test(tc, test_ipv4_parse_every_byte_at_every_offset_agrees_with_inet_pton);
    tcase_add_test(tc, test_cidrs_cover_a_family_only_without_a_gap);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(ip_suite)
