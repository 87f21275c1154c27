/* test_hls.c — the HLS playlist rewriter (lib/mg_hls.c) rule by rule.
 *
 * The viewer fetched http://media.example:8080/videos/l1/index.m3u8 with a
 * token for the scope /videos/l1/; every URI of the playlist inside that
 * scope on that origin must carry the token's parameters, and nothing else
 * may change by a single byte. The rewriter works on the whole playlist (the
 * module's filter collects every bucket first), so lines split across
 * buckets are the filter's business (tests/integration/test_hls.py).
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_canon.h"
#include "mg_hls.h"
#include "mg_test.h"

#define TOK "mg_exp=1700000000&mg_scope=%2Fvideos%2Fl1%2F&mg_sig=abc"

static const mg_hls_ctx_t ctx = {
    .params = TOK,
    .scope = "/videos/l1/",
    .base_dir = "/videos/l1/",
    .scheme = "http",
    .host = "media.example",
    .port = 8080,
};

/* The rewritten playlist as a string, or NULL when it passes through. */
static const char *rw(const char *in, const char **why)
{
    char *out = NULL;
    apr_size_t n = 0;
    const char *w = NULL;
    if (mg_hls_rewrite(&ctx, mg_test_pool, in, strlen(in), &out, &n, &w) != 0) {
        ck_assert_ptr_nonnull(w);
        if (why)
            *why = w;
        return NULL;
    }
    return apr_pstrmemdup(mg_test_pool, out, n);
}

/* One line after the header: what it becomes. */
static const char *line(const char *l)
{
    const char *out = rw(apr_pstrcat(mg_test_pool, "#EXTM3U\n", l, "\n", NULL), NULL);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(strncmp(out, "#EXTM3U\n", 8), 0);
    ck_assert_int_eq(out[strlen(out) - 1], '\n');
    return apr_pstrndup(mg_test_pool, out + 8, strlen(out) - 9);
}

#define CK_REWRITTEN(in, want) ck_assert_str_eq(line(in), want)
#define CK_KEPT(in) ck_assert_str_eq(line(in), in)

START_TEST(uri_lines_relative_and_absolute)
{
    CK_REWRITTEN("seg1.ts", "seg1.ts?" TOK);
    CK_REWRITTEN("720p/index.m3u8", "720p/index.m3u8?" TOK);
    CK_REWRITTEN("/videos/l1/seg1.ts", "/videos/l1/seg1.ts?" TOK);
    CK_REWRITTEN("./seg1.ts", "./seg1.ts?" TOK);
    /* outside the scope: the token would be refused there anyway, and must
     * not be handed out */
    CK_KEPT("../l2/seg1.ts");
    CK_KEPT("/videos/l2/seg1.ts");
    CK_KEPT("/videos/l1");
    CK_KEPT("/other.ts");
    /* empty segments: RFC 3986 and our canonical form could disagree */
    CK_KEPT("/videos/l1//seg1.ts");
    CK_KEPT("a//../seg1.ts");
}
END_TEST

START_TEST(absolute_uris_only_own_origin)
{
    CK_REWRITTEN("http://media.example:8080/videos/l1/s.ts",
                 "http://media.example:8080/videos/l1/s.ts?" TOK);
    CK_REWRITTEN("HTTP://MEDIA.EXAMPLE:8080/videos/l1/s.ts",
                 "HTTP://MEDIA.EXAMPLE:8080/videos/l1/s.ts?" TOK);
    CK_REWRITTEN("//media.example:8080/videos/l1/s.ts", "//media.example:8080/videos/l1/s.ts?" TOK);
    CK_KEPT("http://evil.example:8080/videos/l1/s.ts");
    CK_KEPT("http://media.example.evil:8080/videos/l1/s.ts");
    CK_KEPT("http://media.example/videos/l1/s.ts");       /* port 80 */
    CK_KEPT("https://media.example:8080/videos/l1/s.ts"); /* scheme */
    CK_KEPT("http://media.example:73616/videos/l1/s.ts"); /* no wrapping */
    CK_KEPT("http://media.example:/videos/l1/s.ts");
    CK_KEPT("http://user@media.example:8080/videos/l1/s.ts");
    CK_KEPT("http://media.example%3a8080/videos/l1/s.ts");
    CK_KEPT("http://[::1]:8080/videos/l1/s.ts");
    CK_KEPT("//evil.example/videos/l1/s.ts");
    CK_KEPT("http://media.example:8080");
    CK_KEPT("data:text/plain,hi");
    CK_KEPT("skd://key-id");
    CK_KEPT("ftp://media.example:8080/videos/l1/s.ts");
    /* spellings URL parsers disagree about (a WHATWG parser, as in browsers
     * and hls.js, reads extra or back slashes after a special scheme as the
     * start of another host, a scheme without "//" as a relative path,
     * userinfo after a port, a trailing dot or an ideographic full stop in
     * the host): all kept, the token goes only where the bytes plainly say
     * this origin (red team 22) */
    CK_KEPT("http:///evil.example/videos/l1/s.ts");
    CK_KEPT("///evil.example/videos/l1/s.ts");
    CK_KEPT("/\\evil.example/videos/l1/s.ts");
    CK_KEPT("http:/\\evil.example/videos/l1/s.ts");
    CK_KEPT("http:evil.example/videos/l1/s.ts");
    CK_KEPT("//media.example:8080@evil.example/videos/l1/s.ts");
    CK_KEPT("//media.example:8080\\@evil.example/videos/l1/s.ts");
    CK_KEPT("//media.example.:8080/videos/l1/s.ts");
    CK_KEPT("//media\xe3\x80\x82"
            "example:8080/videos/l1/s.ts");
}
END_TEST

START_TEST(default_port)
{
    mg_hls_ctx_t c = ctx;
    char *out;
    apr_size_t n;
    const char *why = NULL;
    const char *in =
        "#EXTM3U\nhttps://media.example/videos/l1/a.ts\n"
        "https://media.example:443/videos/l1/b.ts\nhttp://media.example/videos/l1/c.ts\n";
    c.scheme = "https";
    c.port = 443;
    ck_assert_int_eq(mg_hls_rewrite(&c, mg_test_pool, in, strlen(in), &out, &n, &why), 0);
    ck_assert_str_eq(apr_pstrmemdup(mg_test_pool, out, n),
                     "#EXTM3U\nhttps://media.example/videos/l1/a.ts?" TOK
                     "\nhttps://media.example:443/videos/l1/b.ts?" TOK
                     "\nhttp://media.example/videos/l1/c.ts\n");
    /* no host known: no absolute URI is ever rewritten */
    c.host = NULL;
    ck_assert_int_eq(mg_hls_rewrite(&c, mg_test_pool, in, strlen(in), &out, &n, &why), 0);
    ck_assert_str_eq(apr_pstrmemdup(mg_test_pool, out, n), in);
}
END_TEST

START_TEST(existing_queries)
{
    CK_REWRITTEN("seg1.ts?v=2", "seg1.ts?v=2&" TOK);
    CK_REWRITTEN("seg1.ts?", "seg1.ts?" TOK);
    CK_REWRITTEN("seg1.ts?v=2&", "seg1.ts?v=2&" TOK);
    /* already carries a token (any mg_ parameter): not ours to touch */
    CK_KEPT("seg1.ts?mg_exp=1");
    CK_KEPT("seg1.ts?v=2&mg_sig=x");
    CK_KEPT("seg1.ts?v=2&mg%5Fsig=x");
    CK_KEPT("?v=2");
}
END_TEST

/* A foreign format's prefix token (Akamai's __token__): its parameter is
 * appended, and a URI with one of its names (any case) or an mg_* one is
 * left alone. */
START_TEST(foreign_token_names)
{
    static const char *const names[] = {"__token__", NULL};
    mg_hls_ctx_t c = ctx;
    const char *u;
    c.params = "__token__=exp=1~acl=/videos/l1/*~hmac=ab";
    c.names = names;
    u = "seg1.ts?v=2";
    ck_assert_str_eq(mg_hls_rewrite_uri(&c, mg_test_pool, u, strlen(u)),
                     "seg1.ts?v=2&__token__=exp=1~acl=/videos/l1/*~hmac=ab");
    u = "seg1.ts?__TOKEN__=x";
    ck_assert_ptr_null(mg_hls_rewrite_uri(&c, mg_test_pool, u, strlen(u)));
    u = "seg1.ts?mg_sig=x";
    ck_assert_ptr_null(mg_hls_rewrite_uri(&c, mg_test_pool, u, strlen(u)));
    u = "../other/seg1.ts";
    ck_assert_ptr_null(mg_hls_rewrite_uri(&c, mg_test_pool, u, strlen(u)));
    /* the native rewrite does not know the foreign names */
    u = "seg1.ts?__token__=x";
    ck_assert_str_eq(mg_hls_rewrite_uri(&ctx, mg_test_pool, u, strlen(u)),
                     "seg1.ts?__token__=x&" TOK);
}
END_TEST

START_TEST(uris_we_cannot_be_sure_about)
{
    CK_KEPT("seg1.ts#t=10");
    CK_KEPT("seg 1.ts");
    CK_KEPT("seg1\".ts");
    CK_KEPT("seg1\\.ts");
    CK_KEPT("seg1\t.ts");
    /* variable substitution: the player replaces {$name} first */
    CK_KEPT("{$base}/seg1.ts");
    CK_KEPT("seg{$n}.ts");
    CK_REWRITTEN("seg{1}.ts", "seg{1}.ts?" TOK);
}
END_TEST

START_TEST(tags_with_uri_attributes)
{
    CK_REWRITTEN("#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin\",IV=0x0123",
                 "#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin?" TOK "\",IV=0x0123");
    CK_REWRITTEN("#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"",
                 "#EXT-X-MAP:URI=\"init.mp4?" TOK "\",BYTERANGE=\"720@0\"");
    CK_REWRITTEN(
        "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"en, main\",URI=\"audio/en.m3u8\"",
        "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"en, main\",URI=\"audio/en.m3u8?" TOK "\"");
    CK_REWRITTEN("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"if.m3u8?x=1\"",
                 "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"if.m3u8?x=1&" TOK "\"");
    CK_REWRITTEN("#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"/videos/l1/k\"",
                 "#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"/videos/l1/k?" TOK "\"");
    CK_REWRITTEN("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p.mp4\"",
                 "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p.mp4?" TOK "\"");
    CK_REWRITTEN("#EXT-X-PART:DURATION=1,URI=\"p.mp4\"",
                 "#EXT-X-PART:DURATION=1,URI=\"p.mp4?" TOK "\"");
    CK_REWRITTEN("#EXT-X-RENDITION-REPORT:URI=\"../l1/r.m3u8\",LAST-MSN=1",
                 "#EXT-X-RENDITION-REPORT:URI=\"../l1/r.m3u8?" TOK "\",LAST-MSN=1");
    CK_REWRITTEN("#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"d.json\"",
                 "#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"d.json?" TOK "\"");
    /* the URI attribute follows the same rules as a URI line */
    CK_KEPT("#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k\"");
    CK_KEPT("#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://k\"");
    CK_KEPT("#EXT-X-MAP:URI=\"../l2/init.mp4\"");
    CK_KEPT("#EXT-X-MAP:URI=\"{$v}/init.mp4\"");
}
END_TEST

START_TEST(tags_left_alone)
{
    /* other tags, comments and lines that do not parse as attribute lists */
    CK_KEPT("#EXT-X-STREAM-INF:BANDWIDTH=1,URI=\"x.m3u8\"");
    CK_KEPT("#EXTINF:10,seg1.ts");
    CK_KEPT("# seg1.ts");
    CK_KEPT("#ext-x-key:METHOD=AES-128,URI=\"key.bin\"");
    CK_KEPT("#EXT-X-KEY:METHOD=AES-128,URI=key.bin");                       /* unquoted */
    CK_KEPT("#EXT-X-KEY:URI=\"a.bin\",URI=\"b.bin\"");                      /* two URIs */
    CK_KEPT("#EXT-X-KEY:method=AES-128,URI=\"key.bin\"");                   /* lower case */
    CK_KEPT("#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin");                     /* open quote */
    CK_KEPT("#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin\"x");                  /* junk */
    CK_KEPT("#EXT-X-KEY: METHOD=AES-128,URI=\"key.bin\"");                  /* blank */
    CK_KEPT("#EXT-X-KEY:METHOD=AES-128,,URI=\"key.bin\"");                  /* empty */
    CK_KEPT("#EXT-X-KEY:METHOD=AES-128");                                   /* no URI */
    CK_REWRITTEN("#EXT-X-KEY:URI=\"k\",", "#EXT-X-KEY:URI=\"k?" TOK "\","); /* trailing , */
}
END_TEST

START_TEST(whole_playlist_bytes)
{
    const char *why = NULL;
    /* CRLF kept as CRLF, blank lines and a missing final newline kept */
    ck_assert_str_eq(rw("#EXTM3U\r\n#EXTINF:10,\r\nseg1.ts\r\n\r\nseg2.ts", &why),
                     "#EXTM3U\r\n#EXTINF:10,\r\nseg1.ts?" TOK "\r\n\r\nseg2.ts?" TOK);
    /* a UTF-8 BOM before #EXTM3U is kept */
    ck_assert_str_eq(rw("\xEF\xBB\xBF#EXTM3U\nseg1.ts\n", &why),
                     "\xEF\xBB\xBF#EXTM3U\nseg1.ts?" TOK "\n");
    /* nothing to rewrite: byte-identical */
    ck_assert_str_eq(rw("#EXTM3U\n#EXT-X-ENDLIST\n", &why), "#EXTM3U\n#EXT-X-ENDLIST\n");
    ck_assert_str_eq(rw("#EXTM3U", &why), "#EXTM3U");
}
END_TEST

START_TEST(whole_playlist_refused)
{
    const char *why = NULL;
    ck_assert_ptr_null(rw("seg1.ts\n", &why));
    ck_assert_str_eq(why, "no #EXTM3U first line");
    ck_assert_ptr_null(rw("", &why));
    ck_assert_ptr_null(rw("#EXTM3", &why));
    ck_assert_ptr_null(rw(" #EXTM3U\nseg1.ts\n", &why));
    /* a lone CR: is it a line break? players differ */
    ck_assert_ptr_null(rw("#EXTM3U\rseg1.ts\n", &why));
    ck_assert_str_eq(why, "a lone CR");
    ck_assert_ptr_null(rw("#EXTM3U\nseg1.ts\r", &why));
    /* variables: the player substitutes before resolving, in any spelling a
     * lenient player might accept */
    ck_assert_ptr_null(
        rw("#EXTM3U\n#EXT-X-DEFINE:NAME=\"h\",VALUE=\"evil.example\"\nseg1.ts\n", &why));
    ck_assert_str_eq(why, "it defines variables (#EXT-X-DEFINE)");
    ck_assert_ptr_null(rw("#EXTM3U\n#ext-x-define:IMPORT=\"h\"\nseg1.ts\n", &why));
    ck_assert_ptr_null(rw("#EXTM3U\n \t#EXT-X-DEFINE:IMPORT=\"h\"\nseg1.ts\n", &why));
    ck_assert_ptr_null(rw("#EXTM3U\r\nseg1.ts\r\n#EXT-X-DEFINE:QUERYPARAM=\"t\"\r\n", &why));
    /* but a URI line that merely mentions it is no tag */
    ck_assert_str_eq(rw("#EXTM3U\nx#EXT-X-DEFINE.ts\n", &why), "#EXTM3U\nx#EXT-X-DEFINE.ts\n");
}
END_TEST

START_TEST(limits)
{
    const char *why = NULL;
    char *out;
    apr_size_t n, big = MG_HLS_MAX_BODY + 1, at;
    char *buf = apr_palloc(mg_test_pool, big);

    /* larger than the bound: passes through */
    memset(buf, '\n', big);
    memcpy(buf, "#EXTM3U\n", 8);
    ck_assert_int_eq(mg_hls_rewrite(&ctx, mg_test_pool, buf, big, &out, &n, &why), -1);
    ck_assert_ptr_nonnull(why);
    /* at the bound, full of URI lines: every one rewritten, in a buffer
     * sized once */
    for (at = 8; at + 3 <= MG_HLS_MAX_BODY; at += 3)
        memcpy(buf + at, "s\n\n", 3);
    ck_assert_int_eq(mg_hls_rewrite(&ctx, mg_test_pool, buf, MG_HLS_MAX_BODY, &out, &n, &why), 0);
    ck_assert_uint_eq(n, MG_HLS_MAX_BODY + ((MG_HLS_MAX_BODY - 8) / 3) * (strlen(TOK) + 1));
    ck_assert_int_eq(memcmp(out + 8, "s?" TOK "\n\ns?", 5 + strlen(TOK)), 0);

    /* a URI longer than a request target can be: kept */
    {
        size_t len = MG_MAX_PATH + MG_MAX_QUERY + 1;
        char *u = apr_palloc(mg_test_pool, len + 1);
        memset(u, 'a', len);
        u[len] = '\0';
        ck_assert_ptr_null(mg_hls_rewrite_uri(&ctx, mg_test_pool, u, len));
        ck_assert_ptr_null(mg_hls_rewrite_uri(&ctx, mg_test_pool, u, 0));
        ck_assert_str_eq(
            mg_hls_rewrite_uri(&ctx, mg_test_pool, u, 100),
            apr_pstrcat(mg_test_pool, apr_pstrndup(mg_test_pool, u, 100), "?", TOK, NULL));
    }
}
END_TEST

static Suite *hls_suite(void)
{
    Suite *s = suite_create("hls");
    TCase *tc = tcase_create("rewrite");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, uri_lines_relative_and_absolute);
    tcase_add_test(tc, absolute_uris_only_own_origin);
    tcase_add_test(tc, default_port);
    tcase_add_test(tc, existing_queries);
    tcase_add_test(tc, foreign_token_names);
    tcase_add_test(tc, uris_we_cannot_be_sure_about);
    tcase_add_test(tc, tags_with_uri_attributes);
    tcase_add_test(tc, tags_left_alone);
    tcase_add_test(tc, whole_playlist_bytes);
    tcase_add_test(tc, whole_playlist_refused);
    tcase_add_test(tc, limits);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(hls_suite)
