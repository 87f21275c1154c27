/* test_response.c — the text of the module's answers (lib/mg_response.c):
 * deny message bodies, Content-Disposition values and private
 * Cache-Control, on hostile input.
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_response.h"
#include "mg_test.h"

#define MSG(in) mg_message_html(mg_test_pool, in)
#define CD(name) mg_content_disposition(mg_test_pool, "attachment", name)

/* 1 when s is valid UTF-8 (the checker is the test's own, not lib's) */
static int valid_utf8(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        int n = *u < 0x80             ? 1
                : (*u & 0xE0) == 0xC0 ? 2
                : (*u & 0xF0) == 0xE0 ? 3
                : (*u & 0xF8) == 0xF0 ? 4
                                      : 0;
        if (n == 0)
            return 0;
        for (int i = 1; i < n; i++)
            if ((u[i] & 0xC0) != 0x80)
                return 0;
        u += n;
    }
    return 1;
}

START_TEST(test_message_is_html_escaped)
{
    ck_assert_str_eq(MSG("Members only."), "Members only.");
    ck_assert_str_eq(MSG("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
    ck_assert_str_eq(MSG("Tom & Jerry"), "Tom &amp; Jerry");
    /* inert in an attribute too, should a page ever quote it there */
    ck_assert_str_eq(MSG("it's <'x'>"), "it&#x27;s &lt;&#x27;x&#x27;&gt;");
    ck_assert_str_eq(MSG(""), "");
    ck_assert_str_eq(MSG(NULL), "");
}
END_TEST

START_TEST(test_message_quote_never_reaches_httpd_as_a_quote)
{
    /* ap_custom_response marks text with a leading '"' of its own */
    ck_assert_str_eq(MSG("\"quoted\""), "&quot;quoted&quot;");
    ck_assert_ptr_null(strchr(MSG("a\"b\"\"c"), '"'));
}
END_TEST

START_TEST(test_message_that_reads_as_url_or_path_is_not_a_redirect)
{
    /* ap_is_url: letters, digits, + - . up to a ':' */
    ck_assert_str_eq(MSG("Note: members only"), "&#x4E;ote: members only");
    ck_assert_str_eq(MSG("https://evil.example/"), "&#x68;ttps://evil.example/");
    ck_assert_str_eq(MSG("a+b-c.d: x"), "&#x61;+b-c.d: x");
    ck_assert_str_eq(MSG("/login"), "&#x2F;login");
    /* not a URL: a space before the ':', a ':' first, no ':' */
    ck_assert_str_eq(MSG("Note : members"), "Note : members");
    ck_assert_str_eq(MSG(":x"), ":x");
    ck_assert_str_eq(MSG("Members only"), "Members only");
    /* only the first character changes */
    ck_assert_str_eq(MSG("x: /y"), "&#x78;: /y");
}
END_TEST

START_TEST(test_message_keeps_utf8_and_replaces_invalid_bytes)
{
    ck_assert_str_eq(MSG("Réservé aux abonnés ✓ 🎬"), "Réservé aux abonnés ✓ 🎬");
    ck_assert_str_eq(MSG("a\xff"
                         "b"),
                     "a\xEF\xBF\xBD"
                     "b");                                         /* not a lead byte */
    ck_assert_str_eq(MSG("a\x80"), "a\xEF\xBF\xBD");               /* stray continuation */
    ck_assert_str_eq(MSG("a\xC3"), "a\xEF\xBF\xBD");               /* truncated */
    ck_assert_str_eq(MSG("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD"); /* overlong '/' */
    ck_assert_str_eq(MSG("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* surrogate */
    ck_assert_str_eq(MSG("\xF4\x90\x80\x80"),
                     "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* > U+10FFFF */
    ck_assert(valid_utf8(MSG("\xfe\xfe\xc3(\xe2\x82")));
}
END_TEST

START_TEST(test_message_worst_case_fits)
{
    /* every byte expanding as far as it can: a quote is 6 bytes */
    char in[4097];
    memset(in, '"', sizeof(in) - 1);
    in[sizeof(in) - 1] = '\0';
    ck_assert_uint_eq(strlen(MSG(in)), 6 * 4096);
    memset(in, 0xff, sizeof(in) - 1);
    ck_assert_uint_eq(strlen(MSG(in)), 3 * 4096);
    in[0] = '/';
    ck_assert_uint_eq(strlen(MSG(in)), 6 + 3 * 4095);
    memset(in, '\'', sizeof(in) - 1);
    ck_assert_uint_eq(strlen(MSG(in)), 6 * 4096);
}
END_TEST

START_TEST(test_disposition_quotes_ascii_and_encodes_utf8)
{
    ck_assert_str_eq(CD("a.jpg"), "attachment; filename=\"a.jpg\"; filename*=UTF-8''a.jpg");
    ck_assert_str_eq(CD("my photo.jpg"),
                     "attachment; filename=\"my photo.jpg\"; filename*=UTF-8''my%20photo.jpg");
    ck_assert_str_eq(CD("été.mp4"),
                     "attachment; filename=\"__t__.mp4\"; filename*=UTF-8''%C3%A9t%C3%A9.mp4");
    ck_assert_str_eq(CD(NULL), "attachment");
    ck_assert_str_eq(CD(""), "attachment");
    ck_assert_str_eq(mg_content_disposition(mg_test_pool, "inline", "x"),
                     "inline; filename=\"x\"; filename*=UTF-8''x");
}
END_TEST

START_TEST(test_disposition_resists_header_injection)
{
    const char *v = CD("a\r\nSet-Cookie: x=1\".jpg");
    ck_assert_ptr_null(strchr(v, '\r'));
    ck_assert_ptr_null(strchr(v, '\n'));
    ck_assert_str_eq(v, "attachment; filename=\"a__Set-Cookie: x=1_.jpg\"; "
                        "filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1%22.jpg");
    /* a quote, a backslash and a per-cent sign never reach the quoted form */
    ck_assert_str_eq(CD("\"\\%.jpg"),
                     "attachment; filename=\"___.jpg\"; filename*=UTF-8''%22%5C%25.jpg");
    ck_assert_str_eq(CD("a;b,c.jpg"),
                     "attachment; filename=\"a;b,c.jpg\"; filename*=UTF-8''a%3Bb%2Cc.jpg");
    ck_assert_str_eq(CD("\x7f\x01.jpg"),
                     "attachment; filename=\"__.jpg\"; filename*=UTF-8''%7F%01.jpg");
}
END_TEST

START_TEST(test_disposition_extended_name_is_always_utf8)
{
    /* filename* says UTF-8: each byte that starts no valid sequence is
     * U+FFFD there (fuzz_http, regressions/http); the quoted form has '_' */
    ck_assert_str_eq(CD("a\xff.jpg"),
                     "attachment; filename=\"a_.jpg\"; filename*=UTF-8''a%EF%BF%BD.jpg");
    ck_assert_str_eq(CD("\xC0\xAF.jpg"), /* overlong '/' */
                     "attachment; filename=\"__.jpg\"; filename*=UTF-8''%EF%BF%BD%EF%BF%BD.jpg");
    ck_assert_str_eq(CD("\xC3(.jpg"), /* truncated */
                     "attachment; filename=\"_(.jpg\"; filename*=UTF-8''%EF%BF%BD%28.jpg");
    ck_assert_str_eq(CD("\xED\xA0\x80"), /* a surrogate */
                     "attachment; filename=\"___\"; "
                     "filename*=UTF-8''%EF%BF%BD%EF%BF%BD%EF%BF%BD");
    ck_assert_str_eq(CD("\xF0\x9F\x8E\xAC.mp4"),
                     "attachment; filename=\"____.mp4\"; filename*=UTF-8''%F0%9F%8E%AC.mp4");
}
END_TEST

START_TEST(test_disposition_cuts_over_long_names)
{
    char name[MG_DISPOSITION_MAX_NAME + 100];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    const char *v = CD(name);
    const char *want =
        apr_psprintf(mg_test_pool, "attachment; filename=\"%.*s\"; filename*=UTF-8''%.*s",
                     MG_DISPOSITION_MAX_NAME, name, MG_DISPOSITION_MAX_NAME, name);
    ck_assert_str_eq(v, want);
    /* the cut never splits a UTF-8 sequence: a character that does not fit
     * whole is left out of both forms (fuzz_http, regressions/http) */
    memset(name, 'a', sizeof(name) - 1);
    memcpy(name + MG_DISPOSITION_MAX_NAME - 1, "\xC3\xA9", 2);
    v = CD(name);
    ck_assert_ptr_nonnull(strstr(v, "aa\"; filename*="));
    ck_assert_ptr_null(strstr(v, "%C3"));
    ck_assert_ptr_null(strstr(v, "%A9"));
    ck_assert_uint_eq(strlen(v), strlen("attachment; filename=\"\"; filename*=UTF-8''") +
                                     2 * (MG_DISPOSITION_MAX_NAME - 1));
    /* one that fits exactly stays */
    memcpy(name + MG_DISPOSITION_MAX_NAME - 2, "\xC3\xA9", 2);
    v = CD(name);
    ck_assert_str_eq(v + strlen(v) - 8, "aa%C3%A9");
}
END_TEST

START_TEST(test_private_cache_control_keeps_only_private_directives)
{
    ck_assert_str_eq(mg_private_cache_control(mg_test_pool, NULL), "private");
    ck_assert_str_eq(mg_private_cache_control(mg_test_pool, "public, max-age=3600"),
                     "private, max-age=3600");
    ck_assert_str_eq(
        mg_private_cache_control(mg_test_pool, "s-maxage=600, PUBLIC,proxy-revalidate, no-cache"),
        "private, no-cache");
    ck_assert_str_eq(mg_private_cache_control(mg_test_pool, "private, private"), "private");
    ck_assert_str_eq(mg_private_cache_control(mg_test_pool, " , ,"), "private");
    ck_assert_str_eq(mg_private_cache_control(mg_test_pool, "max-age = 60"), "private, max-age=60");
}
END_TEST

static Suite *response_suite(void)
{
    Suite *s = suite_create("response");
    TCase *tc = tcase_create("message");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_message_is_html_escaped);
    tcase_add_test(tc, test_message_quote_never_reaches_httpd_as_a_quote);
    tcase_add_test(tc, test_message_that_reads_as_url_or_path_is_not_a_redirect);
    tcase_add_test(tc, test_message_keeps_utf8_and_replaces_invalid_bytes);
    tcase_add_test(tc, test_message_worst_case_fits);
    suite_add_tcase(s, tc);
    tc = tcase_create("headers");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_disposition_quotes_ascii_and_encodes_utf8);
    tcase_add_test(tc, test_disposition_resists_header_injection);
    tcase_add_test(tc, test_disposition_extended_name_is_always_utf8);
    tcase_add_test(tc, test_disposition_cuts_over_long_names);
    tcase_add_test(tc, test_private_cache_control_keeps_only_private_directives);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(response_suite)
