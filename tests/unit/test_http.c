/* test_http.c — the HTTP edges shared by the module and mgctl (lib/mg_http.c):
 * the request-target rule of docs/canonical-urls.md ("The request target"),
 * the request-from-headers step and the decision's HTTP status.
 */
#include <ctype.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "mg_http.h"
#include "mg_test.h"

/* path and query of an accepted target, as "PATH|QUERY" ("-" for none) */
static const char *split(const char *target)
{
    mg_target_t t;
    const char *why = "untouched";
    ck_assert_int_eq(mg_target_split(mg_test_pool, target, &t, &why), MG_OK);
    ck_assert_ptr_null(why);
    ck_assert_ptr_null(t.refused);
    return apr_pstrcat(mg_test_pool, t.path, "|", t.query ? t.query : "-", NULL);
}

/* the reason an unaccepted target is refused; the target is never echoed */
static const char *refused(const char *target)
{
    mg_target_t t;
    const char *why = NULL;
    ck_assert_int_eq(mg_target_split(mg_test_pool, target, &t, &why), MG_EINVAL);
    ck_assert_ptr_nonnull(why);
    ck_assert_str_eq(t.refused, why);
    ck_assert_str_eq(t.path, "");
    ck_assert_ptr_null(t.query);
    ck_assert_ptr_null(t.scheme);
    ck_assert_ptr_null(t.authority);
    ck_assert_uint_le(strlen(why), 64);
    if (target != NULL && strlen(target) > 3)
        ck_assert_ptr_null(strstr(why, target));
    return why;
}

START_TEST(test_origin_form_is_split_at_the_first_question_mark)
{
    ck_assert_str_eq(split("/a/b.jpg"), "/a/b.jpg|-");
    ck_assert_str_eq(split("/a/b.jpg?"), "/a/b.jpg|");
    ck_assert_str_eq(split("/a.jpg?x=1&y=2?z"), "/a.jpg|x=1&y=2?z");
    ck_assert_str_eq(split("/%2e%2e/a.jpg?q=%41"), "/%2e%2e/a.jpg|q=%41"); /* raw, not decoded */
    ck_assert_str_eq(split("/"), "/|-");
}
END_TEST

START_TEST(test_fragment_is_dropped_as_httpd_drops_it)
{
    ck_assert_str_eq(split("/a.jpg#f"), "/a.jpg|-");
    ck_assert_str_eq(split("/a.jpg?x=1#f?y=2"), "/a.jpg|x=1");
    ck_assert_str_eq(split("http://h/a.jpg#f"), "/a.jpg|-");
    ck_assert_str_eq(split("http://h#f"), "/|-");
    ck_assert_str_eq(split("/a.jpg#f?x=1"), "/a.jpg|-");
    ck_assert_str_eq(split("/a.jpg?#"), "/a.jpg|");
    ck_assert_str_eq(split("/a.jpg??x#"), "/a.jpg|?x");
    ck_assert_str_eq(split("/#"), "/|-");
}
END_TEST

/* A part that ends where the target ends is not copied; one that does not
 * is a string of its own (the target itself is never written). */
START_TEST(test_parts_ending_with_the_target_point_into_it)
{
    static const char target[] = "/v/a.mp4?mg_exp=1&mg_sig=abc";
    static const char bare[] = "/v/a.mp4";
    mg_target_t t;

    ck_assert_int_eq(mg_target_split(mg_test_pool, target, &t, NULL), MG_OK);
    ck_assert_str_eq(t.path, "/v/a.mp4");
    ck_assert_ptr_eq(t.query, target + 9);
    ck_assert_int_eq(mg_target_split(mg_test_pool, bare, &t, NULL), MG_OK);
    ck_assert_ptr_eq(t.path, bare);
    ck_assert_ptr_null(t.query);
    ck_assert_int_eq(mg_target_split(mg_test_pool, "/v/a.mp4?x=1#f", &t, NULL), MG_OK);
    ck_assert_str_eq(t.path, "/v/a.mp4");
    ck_assert_str_eq(t.query, "x=1");
    ck_assert_str_eq(target, "/v/a.mp4?mg_exp=1&mg_sig=abc");
}
END_TEST

START_TEST(test_double_slash_origin_form_is_a_path_not_an_authority)
{
    mg_target_t t;
    ck_assert_str_eq(split("//evil.example/a.jpg"), "//evil.example/a.jpg|-");
    ck_assert_int_eq(mg_target_split(mg_test_pool, "//h/a", &t, NULL), MG_OK);
    ck_assert_ptr_null(t.scheme);
    ck_assert_ptr_null(t.authority);
}
END_TEST

START_TEST(test_scheme_text_in_the_query_never_chooses_the_path)
{
    ck_assert_str_eq(split("/secret.jpg?x=http://h/public.jpg"),
                     "/secret.jpg|x=http://h/public.jpg");
    ck_assert_str_eq(split("/secret.jpg?x=://h/public.jpg"), "/secret.jpg|x=://h/public.jpg");
    ck_assert_str_eq(split("http://h/secret.jpg?x=https://h/public.jpg"),
                     "/secret.jpg|x=https://h/public.jpg");
}
END_TEST

START_TEST(test_absolute_form_http_and_https_in_any_case)
{
    mg_target_t t;
    ck_assert_int_eq(
        mg_target_split(mg_test_pool, "HTTPS://Media.Example:8443/v/a.mp4?t=1", &t, NULL), MG_OK);
    ck_assert_str_eq(t.scheme, "https");
    ck_assert_str_eq(t.authority, "Media.Example:8443");
    ck_assert_str_eq(t.path, "/v/a.mp4");
    ck_assert_str_eq(t.query, "t=1");
    ck_assert_int_eq(mg_target_split(mg_test_pool, "http://[::1]:80/a", &t, NULL), MG_OK);
    ck_assert_str_eq(t.scheme, "http");
    ck_assert_str_eq(t.authority, "[::1]:80");
}
END_TEST

START_TEST(test_absolute_form_without_a_path_is_the_root)
{
    ck_assert_str_eq(split("http://h"), "/|-");
    ck_assert_str_eq(split("http://h?x=1"), "/|x=1");
    ck_assert_str_eq(split("https://h:1/"), "/|-");
}
END_TEST

START_TEST(test_userinfo_is_refused_not_stripped)
{
    ck_assert_str_eq(refused("http://user@h/a.jpg"), "userinfo (user@) in an http(s) URL");
    refused("http://user:secret@h/a.jpg");
    refused("https://trusted.example@evil.example/a.jpg");
    refused("http://@h/a.jpg");
    /* an '@' after the authority is the path's business (mg_canon_path) */
    ck_assert_str_eq(split("http://h/@a.jpg"), "/@a.jpg|-");
    ck_assert_str_eq(split("http://h?u=a@b"), "/|u=a@b");
}
END_TEST

START_TEST(test_other_forms_and_schemes_are_refused)
{
    const char *neither = "the request target is neither a path nor an http(s) URL";
    ck_assert_str_eq(refused("*"), neither);                 /* asterisk-form */
    ck_assert_str_eq(refused("media.example:443"), neither); /* authority-form */
    ck_assert_str_eq(refused("ftp://h/a.jpg"), neither);     /* another scheme */
    ck_assert_str_eq(refused("ws://h/a.jpg"), neither);
    ck_assert_str_eq(refused("http:/a.jpg"), neither); /* no "//" */
    ck_assert_str_eq(refused("x-y:/a.jpg?b=c://h/d"), neither);
    ck_assert_str_eq(refused("a.jpg"), neither); /* relative */
    ck_assert_str_eq(refused(""), neither);
    ck_assert_str_eq(refused(NULL), neither);
    ck_assert_str_eq(refused("httpx://h/a"), neither);
}
END_TEST

START_TEST(test_absolute_form_needs_a_clean_host)
{
    ck_assert_str_eq(refused("http:///a.jpg"), "an http(s) URL without a host");
    ck_assert_str_eq(refused("https://?x"), "an http(s) URL without a host");
    ck_assert_str_eq(refused("http://h h/a.jpg"), "control byte or space in the URL's host");
    ck_assert_str_eq(refused("http://h\t/a.jpg"), "control byte or space in the URL's host");
    ck_assert_str_eq(refused("http://h\x7f/a.jpg"), "control byte or space in the URL's host");
}
END_TEST

/* The request view as lookups by name would give it (apr_table_get, the
 * first header of each name without case): the reference the one pass of
 * mg_request_from_header_table is compared with. url_header is not a
 * lookup by name (every spelling, every line): copied from `got`, and
 * tested by test_url_headers_are_read_in_every_spelling. */
static void by_lookups(mg_request_t *a, const mg_target_t *t, apr_table_t *h,
                       const mg_request_t *got)
{
    memset(a, 0, sizeof(*a));
    a->raw_path = t->path ? t->path : "";
    a->query = t->query;
    a->target_refused = t->refused;
    a->scheme = t->scheme ? t->scheme : "http";
    if (h != NULL) {
        a->host = apr_table_get(h, "Host");
        a->referer = apr_table_get(h, "Referer");
        a->origin = apr_table_get(h, "Origin");
        a->sec_fetch_site = apr_table_get(h, "Sec-Fetch-Site");
        a->sec_fetch_mode = apr_table_get(h, "Sec-Fetch-Mode");
        a->sec_fetch_dest = apr_table_get(h, "Sec-Fetch-Dest");
        a->accept = apr_table_get(h, "Accept");
        a->cookie = apr_table_get(h, "Cookie");
        a->content_length = apr_table_get(h, "Content-Length");
        a->transfer_encoding = apr_table_get(h, "Transfer-Encoding");
    }
    if (a->host == NULL)
        a->host = t->authority;
    a->url_header = got->url_header;
    a->url_header_name = got->url_header_name;
}

START_TEST(test_request_from_headers_fills_target_and_header_fields)
{
    apr_table_t *h = apr_table_make(mg_test_pool, 8);
    mg_target_t t;
    mg_request_t req;

    apr_table_set(h, "host", "site.example");
    apr_table_set(h, "REFERER", "https://blog.example/p");
    apr_table_set(h, "Origin", "https://blog.example");
    apr_table_set(h, "Sec-Fetch-Site", "cross-site");
    apr_table_set(h, "Sec-Fetch-Mode", "no-cors");
    apr_table_set(h, "Sec-Fetch-Dest", "image");
    apr_table_set(h, "Sec-Fetch-User", "?1");
    apr_table_set(h, "Accept", "image/avif");
    apr_table_set(h, "Cookie", "mg_token=x");
    apr_table_set(h, "Content-Length", "0");
    apr_table_set(h, "Transfer-Encoding", "chunked");
    apr_table_set(h, "X-Forwarded-Path", "/a.jpg?q");
    ck_assert_int_eq(mg_target_split(mg_test_pool, "https://other.example/a.jpg?q", &t, NULL),
                     MG_OK);
    memset(&req, 0xff, sizeof(req)); /* every field is written */
    mg_request_from_header_table(&req, &t, h);
    ck_assert_str_eq(req.raw_path, "/a.jpg");
    ck_assert_str_eq(req.query, "q");
    ck_assert_ptr_null(req.target_refused);
    ck_assert_str_eq(req.scheme, "https");
    ck_assert_str_eq(req.host, "site.example"); /* the Host header wins */
    ck_assert_str_eq(req.referer, "https://blog.example/p");
    ck_assert_str_eq(req.origin, "https://blog.example");
    ck_assert_str_eq(req.sec_fetch_site, "cross-site");
    ck_assert_str_eq(req.sec_fetch_mode, "no-cors");
    ck_assert_str_eq(req.sec_fetch_dest, "image");
    ck_assert_str_eq(req.accept, "image/avif");
    ck_assert_str_eq(req.cookie, "mg_token=x");
    ck_assert_str_eq(req.content_length, "0");
    ck_assert_str_eq(req.transfer_encoding, "chunked");
    ck_assert_int_eq(req.url_header, MG_URL_HEADER_SAME);
    apr_table_set(h, "X-Rewrite-URL", "/b.jpg");
    mg_request_from_header_table(&req, &t, h);
    ck_assert_int_eq(req.url_header, MG_URL_HEADER_OTHER);
    ck_assert_ptr_null(req.method);
    ck_assert_ptr_null(req.client_ip);
    ck_assert_ptr_null(req.user);
    ck_assert_ptr_null(req.lookup);
    ck_assert_ptr_null(req.grant_check);
    ck_assert_ptr_null(req.d);
}
END_TEST

/* The module's one pass over r->headers_in must fill every field exactly as
 * a lookup per name (apr_table_get) would: names in any case, duplicates
 * (the first counts), names that only start like one of ours, or that one of
 * ours starts like. 4,000 tables of up to 7 names drawn from the list, in a
 * fixed pseudo-random order. */
START_TEST(test_header_table_pass_fills_what_lookups_by_name_fill)
{
    static const char *const names[] = {
        "Host",
        "host",
        "HOST",
        "hOsT",
        "Hos",
        "Hostx",
        "X-Host",
        "Referer",
        "referer",
        "REFERER",
        "Referrer",
        "Refere",
        "Origin",
        "origin",
        "Origins",
        "Sec-Fetch-Site",
        "sec-fetch-site",
        "SEC-FETCH-SITE",
        "Sec-Fetch-Sites",
        "Sec-Fetch-Sit",
        "Sec-Fetch-Mode",
        "sec-fetch-MODE",
        "Sec-Fetch-Dest",
        "Sec-Fetch-User",
        "Sec-Fetch-",
        "Sec-Fetch",
        "Sec-Fetch-X",
        "Sec_Fetch_Site",
        "Sec-CH-UA",
        "S",
        "",
        "Accept",
        "accept",
        "ACCEPT",
        "Accept-Encoding",
        "Accept-Language",
        "Accep",
        "Cookie",
        "cookie",
        "COOKIE",
        "Cookie2",
        "Cooki",
        "Content-Length",
        "content-length",
        "CONTENT-LENGTH",
        "Content-Lengths",
        "Content-Lengt",
        "Content-Type",
        "Co",
        "C",
        "Transfer-Encoding",
        "transfer-ENCODING",
        "Transfer-Encodin",
        "Transfer-Encodings",
        "TE",
        "T",
        "X-Original-URL",
        "x-original-url",
        "X-Rewrite-URL",
        "X-Forwarded-Uri",
        "X-Forwarded-For",
        "X-Forwarded-Prefix",
        "X-Envoy-Original-Path",
        "X-Original-URLs",
        "X-Original",
        "X",
        "Connection",
        "Cache-Control",
        "Authorization",
        "User-Agent",
        "\x80ost",
        "H\x01ost",
    };
    const size_t nn = sizeof(names) / sizeof(names[0]);
    const mg_target_t *tt;
    mg_target_t abs, plain;
    unsigned seed = 12345;
    int round, k;

    ck_assert_int_eq(mg_target_split(mg_test_pool, "http://authority.example/a?q", &abs, NULL),
                     MG_OK);
    ck_assert_int_eq(mg_target_split(mg_test_pool, "/a", &plain, NULL), MG_OK);
    for (round = 0; round < 4000; round++) {
        apr_table_t *h = apr_table_make(mg_test_pool, 8);
        mg_request_t a, b;
        int n = round % 8;

        for (k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            apr_table_addn(h, names[(seed >> 8) % nn], apr_psprintf(mg_test_pool, "v%d", k));
        }
        tt = round % 2 ? &abs : &plain;
        memset(&a, 0xff, sizeof(a));
        memset(&b, 0xee, sizeof(b));
        mg_request_from_header_table(&b, tt, h);
        by_lookups(&a, tt, h, &b);
        /* "http": equal text, maybe another copy (ASan keeps each literal) */
        ck_assert_str_eq(a.scheme, b.scheme);
        a.scheme = b.scheme;
        ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
    }
    /* and without any table */
    {
        mg_request_t a, b;
        memset(&a, 0xff, sizeof(a));
        mg_request_from_header_table(&b, &abs, NULL);
        by_lookups(&a, &abs, NULL, &b);
        ck_assert_str_eq(a.scheme, b.scheme);
        a.scheme = b.scheme;
        ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
        ck_assert_str_eq(b.host, "authority.example");
    }
}
END_TEST

/* The headers some origins read as the request URL (red team 21): every
 * name in any case and with '_' or '.' for '-', every line; the value is the
 * target itself (path, and "?" query when there is one) or another URL. */
static const char *url_header_named; /* the last url_header_of's url_header_name */

static int url_header_of(const char *target, const char *const *kv)
{
    apr_table_t *h = apr_table_make(mg_test_pool, 4);
    mg_target_t t;
    mg_request_t req;
    ck_assert_int_eq(mg_target_split(mg_test_pool, target, &t, NULL), MG_OK);
    for (; kv[0] != NULL; kv += 2)
        apr_table_addn(h, kv[0], kv[1]);
    mg_request_from_header_table(&req, &t, h);
    url_header_named = req.url_header_name;
    return req.url_header;
}

START_TEST(test_url_headers_are_read_in_every_spelling)
{
    static const char *const names[] = {"X-Original-URL",   "X-Rewrite-URL",
                                        "X-Original-URI",   "X-Forwarded-Uri",
                                        "X-Forwarded-Path", "X-Envoy-Original-Path"};
    static const char *const others[] = {"X-Forwarded-For",
                                         "X-Forwarded-Prefix",
                                         "X-Forwarded-Host",
                                         "X-Original-URLs",
                                         "X-Original-UR",
                                         "X-OriginalURL",
                                         "X-Rewrite-URI",
                                         "XX-Original-URL",
                                         "X,Original-URL",
                                         "X-Original-Host",
                                         "X-Envoy-Path",
                                         "X-Forwarded",
                                         "X-Original-URL\t",
                                         "X-",
                                         "x",
                                         "X-Real-IP"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *lower = apr_pstrdup(mg_test_pool, names[i]);
        char *under = apr_pstrdup(mg_test_pool, names[i]);
        char *dot = apr_pstrdup(mg_test_pool, names[i]);
        for (char *c = lower; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        for (char *c = under; *c; c++)
            if (*c == '-')
                *c = '_';
        for (char *c = dot; *c; c++)
            if (*c == '-')
                *c = '.';
        const char *spellings[] = {names[i], lower, under, dot};
        for (int k = 0; k < 4; k++) {
            const char *other[] = {spellings[k], "/b.jpg", NULL};
            const char *same[] = {spellings[k], "/a.jpg?q=1", NULL};
            ck_assert_msg(url_header_of("/a.jpg?q=1", other) == MG_URL_HEADER_OTHER, "%s",
                          spellings[k]);
            /* named as mg_http.h writes it, whatever the spelling sent */
            ck_assert_msg(url_header_named != NULL && strcmp(url_header_named, names[i]) == 0, "%s",
                          spellings[k]);
            ck_assert_msg(url_header_of("/a.jpg?q=1", same) == MG_URL_HEADER_SAME, "%s",
                          spellings[k]);
            ck_assert_ptr_null(url_header_named);
        }
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        const char *kv[] = {others[i], "/b.jpg", NULL};
        ck_assert_msg(url_header_of("/a.jpg", kv) == MG_URL_HEADER_NONE, "%s", others[i]);
    }
    {
        const char *q_none[] = {"X-Original-URL", "/a.jpg?", NULL};
        const char *q_empty[] = {"X-Original-URL", "/a.jpg?", NULL};
        const char *q_dropped[] = {"X-Original-URL", "/a.jpg", NULL};
        const char *empty[] = {"X-Original-URL", "", NULL};
        const char *absolute[] = {"X-Original-URL", "http://h.example/a.jpg", NULL};
        const char *same_then_other[] = {"X-Original-URL", "/a.jpg", "X_Rewrite_URL", "/b.jpg",
                                         NULL};
        const char *other_then_same[] = {"x-forwarded-uri", "/b.jpg", "X-Original-URL", "/a.jpg",
                                         NULL};
        const char *two_same[] = {"X-Original-URL", "/a.jpg", "X-Forwarded-Path", "/a.jpg", NULL};
        ck_assert_int_eq(url_header_of("/a.jpg", q_none), MG_URL_HEADER_OTHER);
        ck_assert_int_eq(url_header_of("/a.jpg?", q_empty), MG_URL_HEADER_SAME);
        ck_assert_int_eq(url_header_of("/a.jpg?", q_dropped), MG_URL_HEADER_OTHER);
        ck_assert_int_eq(url_header_of("/a.jpg", empty), MG_URL_HEADER_OTHER);
        ck_assert_int_eq(url_header_of("/a.jpg", absolute), MG_URL_HEADER_OTHER);
        ck_assert_int_eq(url_header_of("/a.jpg", same_then_other), MG_URL_HEADER_OTHER);
        ck_assert_str_eq(url_header_named, "X-Rewrite-URL");
        ck_assert_int_eq(url_header_of("/a.jpg", other_then_same), MG_URL_HEADER_OTHER);
        ck_assert_str_eq(url_header_named, "X-Forwarded-Uri");
        const char *two_other[] = {"X-Envoy-Original-Path", "/b.jpg", "X-Original-URL", "/c.jpg",
                                   NULL}; /* the first that names another URL */
        ck_assert_int_eq(url_header_of("/a.jpg", two_other), MG_URL_HEADER_OTHER);
        ck_assert_str_eq(url_header_named, "X-Envoy-Original-Path");
        ck_assert_int_eq(url_header_of("/a.jpg", two_same), MG_URL_HEADER_SAME);
        /* an absolute-form target: its path and query, not the URL */
        ck_assert_int_eq(url_header_of("http://h.example/a.jpg?x", two_same), MG_URL_HEADER_OTHER);
        const char *abs_same[] = {"X-Original-URL", "/a.jpg?x", NULL};
        ck_assert_int_eq(url_header_of("http://h.example/a.jpg?x", abs_same), MG_URL_HEADER_SAME);
    }
}
END_TEST

START_TEST(test_request_from_headers_without_host_uses_the_authority)
{
    mg_target_t t;
    mg_request_t req;

    ck_assert_int_eq(mg_target_split(mg_test_pool, "http://h.example:8080/a", &t, NULL), MG_OK);
    mg_request_from_header_table(&req, &t, NULL);
    ck_assert_str_eq(req.host, "h.example:8080");
    ck_assert_str_eq(req.scheme, "http");
    ck_assert_ptr_null(req.referer);
    ck_assert_int_eq(mg_target_split(mg_test_pool, "/a", &t, NULL), MG_OK);
    mg_request_from_header_table(&req, &t, NULL);
    ck_assert_ptr_null(req.host);
    ck_assert_str_eq(req.scheme, "http"); /* the caller sets the connection's */
}
END_TEST

START_TEST(test_refused_target_is_denied_as_bad_url_with_its_reason)
{
    static const char policy_text[] = "version: 1\n"
                                      "default: allow\n"
                                      "rules:\n"
                                      "  - id: all\n"
                                      "    path: /\n"
                                      "    access: {anonymous: download}\n";
    mg_policy_t *policy = NULL;
    mg_diags_t *diags = mg_diags_make(mg_test_pool);
    mg_target_t t;
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;

    ck_assert_int_eq(mg_policy_load_buffer(mg_test_pool, "t.yaml", NULL, policy_text,
                                           sizeof(policy_text) - 1, &policy, diags),
                     MG_OK);
    ck_assert_int_eq(mg_target_split(mg_test_pool, "http://u:p@h/a.jpg", &t, NULL), MG_EINVAL);
    mg_request_from_header_table(&req, &t, NULL);
    req.method = "GET";
    req.client_ip = req.peer_ip = "127.0.0.1";
    ck_assert_int_eq(mg_request_prepare(mg_test_pool, policy, &req, &why), MG_EINVAL);
    ck_assert_str_eq(why, "userinfo (user@) in an http(s) URL");
    mg_evaluate(mg_test_pool, policy, &req, 0, &d);
    ck_assert_int_eq(d.outcome, MG_OUTCOME_DENY);
    ck_assert_int_eq(d.reason, MG_R_BAD_URL);
    ck_assert_ptr_nonnull(strstr(d.detail, "userinfo"));
    ck_assert_int_eq(mg_decision_http_status(&d), 403);

    /* the same URL without userinfo is allowed */
    ck_assert_int_eq(mg_target_split(mg_test_pool, "http://h/a.jpg", &t, NULL), MG_OK);
    mg_request_from_header_table(&req, &t, NULL);
    req.method = "GET";
    req.client_ip = req.peer_ip = "127.0.0.1";
    ck_assert_int_eq(mg_request_prepare(mg_test_pool, policy, &req, &why), MG_OK);
    mg_evaluate(mg_test_pool, policy, &req, 0, &d);
    ck_assert_int_eq(d.outcome, MG_OUTCOME_ALLOW);
}
END_TEST

static int status_of(mg_outcome_t o, mg_reason_t r, int status)
{
    mg_decision_t d;
    memset(&d, 0, sizeof(d));
    d.outcome = o;
    d.reason = r;
    d.status = status;
    return mg_decision_http_status(&d);
}

START_TEST(test_decision_status_is_what_the_module_answers)
{
    ck_assert_int_eq(status_of(MG_OUTCOME_ALLOW, MG_R_ALLOWED, 200), 200);
    ck_assert_int_eq(status_of(MG_OUTCOME_ALLOW, MG_R_ALLOWED, 0), 200);
    ck_assert_int_eq(status_of(MG_OUTCOME_LOGIN, MG_R_LOGIN_REQUIRED, 302), 302);
    ck_assert_int_eq(status_of(MG_OUTCOME_AUTH, MG_R_LOGIN_REQUIRED, 401), 401);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_HOTLINK, 403), 403);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_HOTLINK, 0), 403);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_COUNTRY_DENIED, 451), 451);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_NO_RULE, 404), 404);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_NO_RULE, 599), 599);
    /* what the module cannot send as a refusal becomes 403 */
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_NO_RULE, 401), 403);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_NO_RULE, 407), 403);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_NO_RULE, 399), 403);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_NO_RULE, 600), 403);
    /* an internal error is an error whatever the rule's deny status */
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_INTERNAL, 403), 500);
    ck_assert_int_eq(status_of(MG_OUTCOME_DENY, MG_R_INTERNAL, 451), 500);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("target");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_origin_form_is_split_at_the_first_question_mark);
    tcase_add_test(tc, test_fragment_is_dropped_as_httpd_drops_it);
    tcase_add_test(tc, test_parts_ending_with_the_target_point_into_it);
    tcase_add_test(tc, test_double_slash_origin_form_is_a_path_not_an_authority);
    tcase_add_test(tc, test_scheme_text_in_the_query_never_chooses_the_path);
    tcase_add_test(tc, test_absolute_form_http_and_https_in_any_case);
    tcase_add_test(tc, test_absolute_form_without_a_path_is_the_root);
    tcase_add_test(tc, test_userinfo_is_refused_not_stripped);
    tcase_add_test(tc, test_other_forms_and_schemes_are_refused);
    tcase_add_test(tc, test_absolute_form_needs_a_clean_host);
    suite_add_tcase(s, tc);
    tc = tcase_create("request");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_request_from_headers_fills_target_and_header_fields);
    tcase_add_test(tc, test_request_from_headers_without_host_uses_the_authority);
    tcase_add_test(tc, test_url_headers_are_read_in_every_spelling);
    tcase_add_test(tc, test_header_table_pass_fills_what_lookups_by_name_fill);
    tcase_add_test(tc, test_refused_target_is_denied_as_bad_url_with_its_reason);
    tcase_add_test(tc, test_decision_status_is_what_the_module_answers);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(http_suite)
