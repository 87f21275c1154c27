/* test_cookie_names.c — the cookie check with its names prepared when the
 * policy loads (mg_cookie_reserved_check_table over a mg_cookie_table_t,
 * what mg_request_prepare runs) gives exactly the verdicts of the check it
 * replaces on the hot path (mg_cookie_reserved_check, kept in lib/ as the
 * reference and for policies built by hand): the same return value and the
 * same sentence for every header. A differential test, over download
 * parameters of every shape the API accepts (the default, short, one
 * letter, starting with 't' or 'tr', upper case, the longest allowed, too
 * long, empty, NULL, and bytes no policy allows) and cookie names:
 *   - every name of one and two bytes (every byte value), and of three
 *     bytes over the bytes that matter (letters of the names, '%', hex
 *     digits, '+', blanks, '.', '[', ']', separators, UTF-8 lead and
 *     continuation bytes);
 *   - "tr" and each download parameter with every byte value put in, put
 *     over, and taken out at every place, in every case variant, with each
 *     letter as %XX (either hex case), %25XX, fullwidth, and with ignorable
 *     code points and PHP/Rack/qs spellings around it;
 * each in headers that put the name first, after ';', after ',', with and
 * without '=', with blanks around it, and after 0 to 40 bytes of other
 * cookies (the separator scan reads 32 and 16 bytes at a time; the names
 * with every byte put in or over after 12 of those lengths); then random
 * headers of the bytes that split and name cookies. Counted, asserted once
 * per download parameter, with counts of both verdicts so that a check that
 * always answered the same would fail.
 *
 * Every build runs all of that for the default parameter "download". The
 * plain build's make check also runs it whole for the other 15 parameters
 * (11.7 M headers in all); a sanitizer build (ASan+UBSan, about 10 times
 * slower, run in CI next to the plain one) gives those 15 a deterministic
 * sample of the same shapes (SAMPLED below): the one-byte names after the
 * 12 pad lengths around the scan's steps instead of all 41, two- and
 * three-byte names over the bytes that matter (the third one of the
 * letters of "tr" and "download") instead of every byte. The differential verdicts are the plain
 * build's to prove; the sanitizers see every code path, length and scan step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_canon.h"
#include "mg_test.h"

typedef struct {
    long cases, refused, passed, disagree;
    char first[600]; /* the first disagreement, for the failure message */
} tally_t;

/* a sanitizer build: the non-default parameters get the sample above */
#ifdef __SANITIZE_ADDRESS__
#define SAMPLED 1
#else
#define SAMPLED 0
#endif

typedef struct {
    const char *dp; /* the download parameter given to both */
    int sample;     /* SAMPLED and not the default parameter */
    mg_cookie_table_t t;
    tally_t n;
} ctx_t;

static void check_header(ctx_t *c, const char *h)
{
    const char *w1 = NULL, *w2 = NULL;
    int a = mg_cookie_reserved_check(h, c->dp, &w1);
    int b = mg_cookie_reserved_check_table(h, &c->t, &w2);
    c->n.cases++;
    if (a != 0)
        c->n.refused++;
    else
        c->n.passed++;
    if (a == b && (a == 0 || (w1 != NULL && w2 != NULL && strcmp(w1, w2) == 0)))
        return;
    if (c->n.disagree++ == 0) {
        /* non-printable bytes as \xNN, so that the message names the case */
        char esc[400];
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *)h; *p && o + 5 < sizeof(esc); p++)
            o += (size_t)snprintf(esc + o, sizeof(esc) - o,
                                  *p >= 0x20 && *p < 0x7f ? "%c" : "\\x%02x", *p);
        snprintf(c->n.first, sizeof(c->n.first), "header '%s': reference %d, table %d", esc, a, b);
    }
}

/* tmpl with every '@' replaced by name, into out (truncated to size). */
static void subst(char *out, size_t size, const char *tmpl, const char *name)
{
    size_t o = 0, nl = strlen(name);
    for (const char *p = tmpl; *p != '\0' && o + 1 < size; p++) {
        if (*p != '@') {
            out[o++] = *p;
            continue;
        }
        size_t k = nl < size - 1 - o ? nl : size - 1 - o;
        memcpy(out + o, name, k);
        o += k;
    }
    out[o] = '\0';
}

/* The name in the headers a browser, a proxy joining lines and an attacker
 * would send ('@' is the name). */
static void check_name_in(ctx_t *c, const char *name, int every_pad)
{
    static const char *const forms[] = {
        "@",          "@=1",        "@=",        " @=1",     "@ =1",   "\t@\t=v",  "a=1; @=2",
        "a=1;@",      "a=1; @",     "a=1, @=2",  "a=1,@",    "a=1, @", "@=1; b=2", "@; b=2",
        "a=1,x; @=v", "a=b=c; @=d", "a=x,y;@=1", ";;@=1",    ",@=1",   "@=1,",     "a=1,, @",
        "a=1, ;@",    "@,b=2",      "=@",        "a=@; z=@",
    };
    char h[512];
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        subst(h, sizeof(h), forms[f], name);
        check_header(c, h);
    }
    /* after other cookies of every length: the name and the separators
     * before and after it at every place of the 32- and 16-byte steps (or
     * at the places around their ends only) */
    static const int some_pads[] = {0, 1, 13, 14, 15, 16, 17, 29, 30, 31, 32, 33};
    int npads = every_pad ? 41 : (int)(sizeof(some_pads) / sizeof(some_pads[0]));
    for (int q = 0; q < npads; q++) {
        int pad = every_pad ? q : some_pads[q];
        char v[48];
        memset(v, 'x', (size_t)pad);
        v[pad] = '\0';
        snprintf(h, sizeof(h), "a=%s; %s=1", v, name);
        check_header(c, h);
        snprintf(h, sizeof(h), "a=%s;%s", v, name);
        check_header(c, h);
        snprintf(h, sizeof(h), "a=%s,%s=1; b=%s", v, name, v);
        check_header(c, h);
    }
}

static void check_name(ctx_t *c, const char *name)
{
    check_name_in(c, name, 1);
}

/* ---- names ---------------------------------------------------------------- */

/* The bytes that can change how a name reads, and some that cannot. */
static const unsigned char some[] = {
    't', 'T', 'r', 'R', 'd', 'D',  'o',  'w',  'n',  'l',  'a',  'x',  '_',  '-',  '0',
    '2', '4', '5', '7', 'B', 'b',  'e',  'E',  'f',  'F',  '%',  '+',  ' ',  '\t', '.',
    '[', ']', '=', ';', ',', 0x80, 0xad, 0xb0, 0xb1, 0xbc, 0xbd, 0xc2, 0xc4, 0xe2, 0xef,
};

/* A two-byte name in three headers only. */
static void two_byte_name(ctx_t *c, int a, int b)
{
    char nm[3] = {(char)a, (char)b, '\0'}, h[16];
    snprintf(h, sizeof(h), "%s=1", nm);
    check_header(c, h);
    snprintf(h, sizeof(h), "a;%s", nm);
    check_header(c, h);
    snprintf(h, sizeof(h), "a=1,%s", nm);
    check_header(c, h);
}

static void exhaustive_short(ctx_t *c)
{
    char nm[4];
    for (int a = 1; a < 256; a++) {
        nm[0] = (char)a;
        nm[1] = '\0';
        check_name_in(c, nm, !c->sample);
        /* every two-byte name: 65,025 (sampled: those over some[], below) */
        for (int b = 1; b < 256 && !c->sample; b++)
            two_byte_name(c, a, b);
    }
    /* sampled: the third byte one of the letters of "tr" and "download" */
    size_t nd = c->sample ? 8 : sizeof(some);
    for (size_t a = 0; a < sizeof(some); a++)
        for (size_t b = 0; b < sizeof(some); b++) {
            if (c->sample)
                two_byte_name(c, some[a], some[b]);
            for (size_t d = 0; d < nd; d++) {
                char h[16];
                nm[0] = (char)some[a];
                nm[1] = (char)some[b];
                nm[2] = (char)some[d];
                nm[3] = '\0';
                snprintf(h, sizeof(h), "%s=1", nm);
                check_header(c, h);
                snprintf(h, sizeof(h), "x;%s", nm);
                check_header(c, h);
            }
        }
}

/* r with every byte value put in at every place, put over every byte, and
 * every byte taken out. */
static void every_byte(ctx_t *c, const char *r)
{
    size_t n = strlen(r);
    char nm[MG_QR_NAME_MAX + 8];
    if (n + 2 > sizeof(nm))
        return;
    for (size_t j = 0; j <= n; j++) {
        /* a long name: its first and last places (a reading stops
         * agreeing early or runs to the end) */
        if (j > 10 && j + 2 < n)
            continue;
        for (int b = 0; b < 256; b++) {
            /* put in (b 0: the name ends there, as it would in a C string) */
            memcpy(nm, r, j);
            nm[j] = (char)b;
            memcpy(nm + j + 1, r + j, n - j + 1);
            check_name_in(c, nm, 0);
            if (j < n) { /* put over */
                memcpy(nm, r, n + 1);
                nm[j] = (char)b;
                check_name_in(c, nm, 0);
            }
        }
        if (j < n) { /* taken out */
            memcpy(nm, r, j);
            memcpy(nm + j, r + j + 1, n - j);
            check_name_in(c, nm, 0);
        }
    }
}

/* Every case variant of r (its first 10 letters), alone and spelt. */
static void case_variants(ctx_t *c, const char *r)
{
    size_t n = strlen(r);
    char nm[MG_QR_NAME_MAX + 8], sp[MG_QR_NAME_MAX + 16];
    if (n + 1 > sizeof(nm))
        return;
    unsigned lim = 1u << (n < 10 ? n : 10);
    for (unsigned m = 0; m < lim; m++) {
        for (size_t j = 0; j <= n; j++) {
            unsigned char ch = (unsigned char)r[j];
            if (j < 10 && (m >> j & 1) && ch >= 'a' && ch <= 'z')
                ch = (unsigned char)(ch - 'a' + 'A');
            else if (j < 10 && (m >> j & 1) && ch >= 'A' && ch <= 'Z')
                ch = (unsigned char)(ch - 'A' + 'a');
            nm[j] = (char)ch;
        }
        check_name(c, nm);
        subst(sp, sizeof(sp), "@[]", nm);
        check_name(c, sp);
        subst(sp, sizeof(sp), " +@.x", nm);
        check_name(c, sp);
    }
}

/* r with its byte at each place spelt another way: %XX in either hex case,
 * %25XX (decoded once, still "%XX"), fullwidth, and an ignorable code point
 * or a '+' before it; and the spellings PHP, Rack and qs read. */
static void spellings(ctx_t *c, const char *r)
{
    static const char *const around[] = {
        "@",
        " @",
        "+@",
        "%20@",
        "%2B@",
        "%2b@",
        "@[]",
        "@[0]",
        "@[x",
        "[@]",
        "@]",
        "]@",
        "]]@",
        "@.x",
        ".@",
        "@%5B",
        "%5B@%5D",
        "@%2E",
        "[ @]",
        "@[",
        "@[x]y",
        "@ x",
        "@_",
        "_@",
        "@%00",
        "@\xc2\xad",
        "\xe2\x80\x8b@",
        "@\xef\xbb\xbf",
        "@%C2%AD",
    };
    size_t n = strlen(r);
    char nm[MG_QR_NAME_MAX * 4 + 16], sp[MG_QR_NAME_MAX * 4 + 64];
    if (n > 40)
        n = 40; /* the places that matter are near the start; the longest
                 * name is also spelt whole below */
    for (size_t j = 0; j < n; j++) {
        unsigned char ch = (unsigned char)r[j];
        for (size_t k = 0; k < 7; k++) {
            size_t o = j;
            memcpy(nm, r, j);
            if (k == 0) /* %XX, upper-case hex */
                o += (size_t)snprintf(nm + o, sizeof(nm) - o, "%%%02X", ch);
            else if (k == 1) /* lower-case hex */
                o += (size_t)snprintf(nm + o, sizeof(nm) - o, "%%%02x", ch);
            else if (k == 2) /* encoded twice: "%25XX" reads as "%XX" */
                o += (size_t)snprintf(nm + o, sizeof(nm) - o, "%%25%02X", ch);
            else if (k == 3) /* the byte twice, encoded */
                o += (size_t)snprintf(nm + o, sizeof(nm) - o, "%%%02X%%%02X", ch, ch);
            else if (k == 4 && ch >= 0x21 && ch <= 0x7e) { /* fullwidth */
                unsigned cp = 0xfee0u + ch;
                nm[o++] = (char)(0xe0 | cp >> 12);
                nm[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                nm[o++] = (char)(0x80 | (cp & 0x3f));
            } else if (k == 5) { /* a soft hyphen before it */
                nm[o++] = (char)0xc2;
                nm[o++] = (char)0xad;
                nm[o++] = (char)ch;
            } else {
                nm[o++] = '+';
                nm[o++] = (char)ch;
            }
            snprintf(nm + o, sizeof(nm) - o, "%s", r + j + 1);
            check_name(c, nm);
        }
    }
    for (size_t a = 0; a < sizeof(around) / sizeof(around[0]); a++) {
        subst(sp, sizeof(sp), around[a], r);
        check_name(c, sp);
    }
}

/* Random headers of the bytes that split and name cookies; a fixed seed. */
static void random_headers(ctx_t *c, long count)
{
    unsigned long long x = 0x9e3779b97f4a7c15ULL;
    const char *dp = c->t.n == 2 ? c->t.name[1] : "tr";
    char h[160];
    for (long i = 0; i < count; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = (size_t)(x % 120), o = 0;
        while (o < len) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned pick = (unsigned)(x >> 32) % 16;
            if (pick < 3) { /* a reserved name, or most of one */
                const char *r = pick == 0 ? "tr" : pick == 1 ? "TR" : dp;
                size_t rn = strlen(r), take = rn - (size_t)(x >> 20) % 2;
                for (size_t j = 0; j < take && o < len; j++)
                    h[o++] = r[j];
            } else {
                h[o++] = (char)some[(x >> 40) % sizeof(some)];
            }
        }
        h[o] = '\0';
        check_header(c, h);
    }
}

static void run_all(ctx_t *c, long nrandom)
{
    mg_cookie_table_build(&c->t, c->dp);
    exhaustive_short(c);
    every_byte(c, "tr");
    case_variants(c, "tr");
    spellings(c, "tr");
    if (c->dp != NULL && c->dp[0] != '\0') {
        every_byte(c, c->dp);
        case_variants(c, c->dp);
        spellings(c, c->dp);
    }
    random_headers(c, nrandom);
}

static void expect_agreement(const char *dp, long min_refused, long nrandom)
{
    ctx_t *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->dp = dp;
    c->sample = SAMPLED && !(dp != NULL && strcmp(dp, "download") == 0);
    run_all(c, nrandom);
    ck_assert_msg(c->n.disagree == 0, "download '%s': %ld of %ld headers disagree; first: %s",
                  dp ? dp : "(null)", c->n.disagree, c->n.cases, c->n.first);
    /* both verdicts, many times: a check that always said the same fails */
    ck_assert_msg(c->n.refused >= min_refused && c->n.passed >= 100000,
                  "download '%s': %ld refused, %ld passed", dp ? dp : "(null)", c->n.refused,
                  c->n.passed);
    free(c);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_default_download_param_table_agrees_with_reference)
{
    expect_agreement("download", 50000, 200000);
}
END_TEST

START_TEST(test_short_and_t_download_params_table_agrees_with_reference)
{
    /* one letter, the first letter of "tr", "tr" itself followed by more,
     * upper case, digits and '-' */
    static const char *const dps[] = {"d", "t", "T", "tx", "trx", "DL", "get-file", "x_9"};
    for (size_t i = 0; i < sizeof(dps) / sizeof(dps[0]); i++)
        expect_agreement(dps[i], 10000, 50000);
}
END_TEST

START_TEST(test_odd_download_params_table_agrees_with_reference)
{
    /* what mg_cookie_reserved_check accepts but no policy loads: no name,
     * an empty one, the longest and one byte too long, and bytes a reading
     * rewrites or never produces */
    char longest[MG_QR_NAME_MAX + 2];
    memset(longest, 'd', sizeof(longest));
    longest[MG_QR_NAME_MAX] = '\0';
    expect_agreement(NULL, 5000, 50000);
    expect_agreement("", 5000, 50000);
    expect_agreement(longest, 5000, 50000);
    longest[MG_QR_NAME_MAX] = 'd';
    longest[MG_QR_NAME_MAX + 1] = '\0';
    expect_agreement(longest, 5000, 50000);
    expect_agreement("tr", 5000, 50000);
    expect_agreement("a.b", 5000, 50000);
    expect_agreement("d\xc3\xa9", 5000, 50000);
}
END_TEST

START_TEST(test_browser_header_passes_and_each_name_is_read_alike)
{
    /* bench/cookie-browser.txt's cookies: none is refused; with each name
     * swapped for "tr", "TR" or "download" every one is */
    static const char *const hdr =
        "_ga=GA1.1.1847392015.1764921600; _ga_K7P4QX2ZRW=GS1.1.1764921600.3.1.1764922355.0.0.0; "
        "OptanonAlertBoxClosed=2026-12-05T08:12:44.512Z; sessionid=eyJfZnJlc2giOnRydWV9.aVKmxA."
        "LXEWQrcmsEQBYnyp; theme=dark; tz=Europe%2FBerlin; trk_uid=9f8e7d6c-5b4a-4392";
    ctx_t *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->dp = "download";
    mg_cookie_table_build(&c->t, c->dp);
    check_header(c, hdr);
    ck_assert_int_eq(c->n.refused, 0);
    static const char *const names[] = {
        "_ga", "_ga_K7P4QX2ZRW", "OptanonAlertBoxClosed", "sessionid", "theme", "tz", "trk_uid"};
    static const char *const bad[] = {"tr", "TR", "download", " tr[]", "t%72"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            char h[512];
            const char *at = strstr(hdr, names[i]);
            size_t pre = (size_t)(at - hdr);
            snprintf(h, sizeof(h), "%.*s%s%s", (int)pre, hdr, bad[b], at + strlen(names[i]));
            check_header(c, h);
        }
    ck_assert_msg(c->n.disagree == 0, "%s", c->n.first);
    ck_assert_int_eq(c->n.refused, 7 * 5);
    free(c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("cookie_names");
    TCase *tc = tcase_create("differential");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_default_download_param_table_agrees_with_reference);
    tcase_add_test(tc, test_short_and_t_download_params_table_agrees_with_reference);
    tcase_add_test(tc, test_odd_download_params_table_agrees_with_reference);
    tcase_add_test(tc, test_browser_header_passes_and_each_name_is_read_alike);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(make_suite)
