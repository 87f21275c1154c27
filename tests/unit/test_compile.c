/* test_compile.c — the policy compiler: which rule owns a path (trie,
 * globs, tie-breaks), extension classes, method bits, and the shadowed /
 * overlapping-rule warnings. Policies are built by hand here so that the
 * compiler is tested on its own; test_eval.c goes through the YAML loader. */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_policy.h"
#include "mg_test.h"

/* ------------------------------------------------------------------ */
/* Building policies by hand                                           */
/* ------------------------------------------------------------------ */

static mg_policy_t *mk_policy(void)
{
    mg_policy_t *p = apr_pcalloc(mg_test_pool, sizeof(*p));
    p->pool = mg_test_pool;
    p->file = "hand.yaml";
    p->name = "hand";
    p->version = 1;
    p->classes = apr_array_make(mg_test_pool, 8, sizeof(mg_class_t));
    mg_classes_add_builtin(mg_test_pool, p->classes);
    p->roles = apr_array_make(mg_test_pool, 4, sizeof(const char *));
    p->rules = apr_array_make(mg_test_pool, 16, sizeof(mg_rule_t));
    p->authenticated_role = -1;
    return p;
}

/* Add a user-defined class; returns its index. */
static int add_class(mg_policy_t *p, const char *name, const char *const *exts)
{
    mg_class_t *c = apr_array_push(p->classes);
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->exts = apr_array_make(mg_test_pool, 4, sizeof(const char *));
    for (; *exts; exts++)
        APR_ARRAY_PUSH(c->exts, const char *) = *exts;
    return p->classes->nelts - 1;
}

/* A rule at "line" index+1 with one or more '|'-separated paths. */
static mg_rule_t *add_rule(mg_policy_t *p, const char *id, const char *paths, mg_classset_t classes,
                           unsigned methods, mg_access_t anon)
{
    mg_rule_t *r = apr_array_push(p->rules);
    memset(r, 0, sizeof(*r));
    r->id = id;
    r->index = p->rules->nelts - 1;
    r->pos.line = 10 * (r->index + 1);
    r->pos.col = 5;
    r->classes = classes;
    r->methods = methods;
    r->deny.status = 403;
    r->paths = apr_array_make(mg_test_pool, 2, sizeof(mg_pathpat_t));
    char *last, *copy = apr_pstrdup(mg_test_pool, paths);
    int k = 0;
    for (char *t = apr_strtok(copy, "|", &last); t; t = apr_strtok(NULL, "|", &last), k++) {
        mg_pathpat_t *pp = apr_array_push(r->paths);
        pp->text = t;
        pp->is_glob = strpbrk(t, "*?") != NULL;
        pp->pos.line = r->pos.line + 1 + k;
        pp->pos.col = 7;
    }
    r->access = apr_array_make(mg_test_pool, 2, sizeof(mg_role_access_t));
    mg_role_access_t *a = apr_array_push(r->access);
    a->role = MG_ROLE_ANONYMOUS;
    a->access = anon;
    return r;
}

#define IMG ((mg_classset_t)1 << MG_CLASS_IMAGE)
#define VID ((mg_classset_t)1 << MG_CLASS_VIDEO)
#define STREAM ((mg_classset_t)1 << MG_CLASS_STREAM)
#define MEDIA ((mg_classset_t)1 << MG_CLASS_MEDIA)
#define AUDIO ((mg_classset_t)1 << MG_CLASS_AUDIO)
#define GH (MG_M_GET | MG_M_HEAD)

static mg_diags_t *compile_ok(mg_policy_t *p)
{
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_compile(p, ds), MG_OK);
    ck_assert_int_eq(ds->errors, 0);
    return ds;
}

static const char *owner(const mg_policy_t *p, const char *path, const char *ext, unsigned m)
{
    const mg_rule_t *r = mg_policy_match(p, path, mg_class_of_ext(p, ext), m);
    return r ? r->id : "(none)";
}

static int count_code(const mg_diags_t *ds, const char *code, int line)
{
    int n = 0;
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, i, mg_diag_t);
        if (d->code && strcmp(d->code, code) == 0 && (line == 0 || d->line == line)) {
            ck_assert_int_eq(d->severity, MG_SEV_WARNING);
            n++;
        }
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Methods and classes                                                 */
/* ------------------------------------------------------------------ */

START_TEST(test_method_bits_are_case_sensitive_and_unknown_is_other)
{
    ck_assert_uint_eq(mg_method_bit("GET"), MG_M_GET);
    ck_assert_uint_eq(mg_method_bit("HEAD"), MG_M_HEAD);
    ck_assert_uint_eq(mg_method_bit("POST"), MG_M_POST);
    ck_assert_uint_eq(mg_method_bit("PUT"), MG_M_PUT);
    ck_assert_uint_eq(mg_method_bit("DELETE"), MG_M_DELETE);
    ck_assert_uint_eq(mg_method_bit("OPTIONS"), MG_M_OPTIONS);
    ck_assert_uint_eq(mg_method_bit("PATCH"), MG_M_PATCH);
    ck_assert_uint_eq(mg_method_bit("PROPFIND"), MG_M_OTHER);
    ck_assert_uint_eq(mg_method_bit("get"), MG_M_OTHER);
    ck_assert_uint_eq(mg_method_bit(NULL), 0);
    ck_assert_uint_eq(mg_method_bit(""), 0);
}
END_TEST

START_TEST(test_class_of_ext_is_case_insensitive_and_includes_user_classes)
{
    mg_policy_t *p = mk_policy();
    static const char *const raw[] = {"arw", "cr2", "nrw", NULL};
    int k = add_class(p, "raw-photo", raw);
    compile_ok(p);
    ck_assert_uint_eq(mg_class_of_ext(p, "jpg"), IMG | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "JPG"), IMG | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "m3u8"), VID | STREAM | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "mp4"), VID | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "Cr2"), IMG | MEDIA | ((mg_classset_t)1 << k));
    ck_assert_uint_eq(mg_class_of_ext(p, "txt"), 0);
    ck_assert_uint_eq(mg_class_of_ext(p, ""), 0);
    ck_assert_uint_eq(mg_class_of_ext(p, "jpgx"), 0);
}
END_TEST

/* The method table as it was before mg_method_bit picked candidates by
 * the first byte: strcmp against every name. */
static unsigned method_bit_reference(const char *m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } t[] = {{"GET", MG_M_GET},    {"HEAD", MG_M_HEAD},     {"POST", MG_M_POST},
             {"PUT", MG_M_PUT},    {"DELETE", MG_M_DELETE}, {"OPTIONS", MG_M_OPTIONS},
             {"PATCH", MG_M_PATCH}};
    if (m == NULL || *m == '\0')
        return 0;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(m, t[i].name) == 0)
            return t[i].bit;
    return MG_M_OTHER;
}

/* Every name, every truncation of it, every one-byte extension, and every
 * byte value (1-255) at every position of it, against the strcmp table. */
START_TEST(test_method_bit_agrees_with_strcmp_on_every_one_byte_change)
{
    static const char *const names[] = {"GET",    "HEAD",    "POST",  "PUT",
                                        "DELETE", "OPTIONS", "PATCH", "PROPFIND"};
    /* counted, asserted once at the end: a ck_assert per case is a write
     * to check's pipe, which would make this test take seconds */
    long checked = 0, bad = 0;
    char first[64] = "";
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        char buf[16];
        size_t n = strlen(names[k]);
        for (size_t len = 0; len <= n; len++) {
            memcpy(buf, names[k], len);
            buf[len] = '\0';
            ck_assert_uint_eq(mg_method_bit(buf), method_bit_reference(buf));
            for (int b = 1; b < 256; b++) {
                buf[len] = (char)b; /* one byte more */
                buf[len + 1] = '\0';
                if (mg_method_bit(buf) != method_bit_reference(buf) && bad++ == 0)
                    snprintf(first, sizeof(first), "%s + %d", names[k], b);
                checked++;
            }
        }
        for (size_t pos = 0; pos < n; pos++) {
            for (int b = 1; b < 256; b++) {
                memcpy(buf, names[k], n + 1);
                buf[pos] = (char)b;
                if (mg_method_bit(buf) != method_bit_reference(buf) && bad++ == 0)
                    snprintf(first, sizeof(first), "%s [%zu]=%d", names[k], pos, b);
                checked++;
            }
        }
    }
    ck_assert_msg(bad == 0, "%ld of %ld differ, first: %s", bad, checked, first);
    ck_assert_int_gt(checked, 10000);
}
END_TEST

/* The definition of the extension classes, from the class lists alone:
 * each extension lower-cased (ASCII) with the set of classes that list it
 * (a walk over every class); class_of_ext_reference looks a lower-cased
 * query up in it by length and bytes. */
typedef struct {
    char lc[64];
    size_t len;
    mg_classset_t set;
} ext_ref_t;

static size_t ascii_lower(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; s[n] != '\0' && n + 1 < cap; n++)
        out[n] = s[n] >= 'A' && s[n] <= 'Z' ? (char)(s[n] + 32) : s[n];
    out[n] = '\0';
    return n;
}

static int ext_ref_build(const mg_policy_t *p, ext_ref_t *t, int cap)
{
    int n = 0;
    const mg_class_t *cls = (const mg_class_t *)p->classes->elts;
    for (int i = 0; i < p->classes->nelts && i < MG_MAX_CLASSES; i++) {
        for (int j = 0; cls[i].exts != NULL && j < cls[i].exts->nelts; j++) {
            char lc[64];
            size_t len = ascii_lower(APR_ARRAY_IDX(cls[i].exts, j, const char *), lc, sizeof(lc));
            int k = 0;
            while (k < n && !(t[k].len == len && memcmp(t[k].lc, lc, len) == 0))
                k++;
            if (k == n) {
                ck_assert_int_lt(n, cap);
                memcpy(t[n].lc, lc, len + 1);
                t[n].len = len;
                t[n].set = 0;
                n++;
            }
            t[k].set |= (mg_classset_t)1 << i;
        }
    }
    return n;
}

static mg_classset_t class_of_ext_reference(const ext_ref_t *t, int n, const char *ext)
{
    char lc[64];
    size_t len = ascii_lower(ext, lc, sizeof(lc));
    if (len == 0)
        return 0;
    for (int k = 0; k < n; k++)
        if (t[k].len == len && memcmp(t[k].lc, lc, len) == 0)
            return t[k].set;
    return 0;
}

/* Every extension of every class (built-in and user, including ones of
 * 7, 8 and 9 bytes around the lookup's one-word form, and 15, 16, 17 and 24
 * bytes), in lower, upper and original case, truncated, extended by every
 * byte, and with every byte value at every position, against the walk over
 * the lists. The user class also lists extensions with the bytes next to
 * A-Z ('@' '[' '`' '{') and with bytes of 0x80 and more whose low seven
 * bits are a letter (0xe1 is 0xc1 lower-cased by a rule that forgot the
 * top bit): the word's lower-casing must leave all of them alone. */
START_TEST(test_class_of_ext_agrees_with_a_walk_over_the_classes)
{
    mg_policy_t *p = mk_policy();
    static const char *const user[] = {"arw",
                                       "CR2",
                                       "abcdefg",
                                       "abcdefgh",
                                       "aBcdefghi",
                                       "Zyxwvuts",
                                       "a{b",
                                       "`z@[",
                                       "\xe1rw",
                                       "x\xfa\xc1\xdb",
                                       "abcdefghijklmno",
                                       "abcdefghijklmnop",
                                       "abcdefghijklmnopq",
                                       "Abcdefghijklmnopqrstuvwx",
                                       NULL};
    add_class(p, "long-names", user);
    compile_ok(p);
    static ext_ref_t ref[512];
    int nref = ext_ref_build(p, ref, 512);
    long checked = 0, bad = 0; /* asserted once at the end, as above */
    char first[128] = "";
    const mg_class_t *cls = (const mg_class_t *)p->classes->elts;
    for (int i = 0; i < p->classes->nelts; i++) {
        for (int j = 0; cls[i].exts != NULL && j < cls[i].exts->nelts; j++) {
            const char *e = APR_ARRAY_IDX(cls[i].exts, j, const char *);
            char buf[64];
            size_t n = strlen(e);
            ck_assert_uint_lt(n, sizeof(buf) - 2);
            for (int variant = 0; variant < 2; variant++) {
                for (size_t k = 0; k <= n; k++) {
                    char ch = e[k];
                    buf[k] = variant == 0 || ch < 'a' || ch > 'z' ? ch : (char)(ch - 32);
                }
                ck_assert_msg(mg_class_of_ext(p, buf) == class_of_ext_reference(ref, nref, buf),
                              "%s", buf);
                ck_assert_uint_ne(mg_class_of_ext(p, buf), 0);
            }
            for (size_t len = 0; len <= n; len++) {
                memcpy(buf, e, len);
                buf[len] = '\0';
                ck_assert_uint_eq(mg_class_of_ext(p, buf), class_of_ext_reference(ref, nref, buf));
                for (int b = 1; b < 256; b++) {
                    buf[len] = (char)b;
                    buf[len + 1] = '\0';
                    if (mg_class_of_ext(p, buf) != class_of_ext_reference(ref, nref, buf) &&
                        bad++ == 0)
                        snprintf(first, sizeof(first), "%s + %d", e, b);
                    checked++;
                }
            }
            for (size_t pos = 0; pos < n; pos++) {
                for (int b = 1; b < 256; b++) {
                    memcpy(buf, e, n + 1);
                    buf[pos] = (char)b;
                    if (mg_class_of_ext(p, buf) != class_of_ext_reference(ref, nref, buf) &&
                        bad++ == 0)
                        snprintf(first, sizeof(first), "%s [%zu]=%d", e, pos, b);
                    checked++;
                }
            }
        }
    }
    ck_assert_msg(bad == 0, "%ld of %ld differ, first: %s", bad, checked, first);
    ck_assert_int_gt(checked, 100000);
}
END_TEST

START_TEST(test_built_in_classes_cover_audio_subtitles_and_newer_formats)
{
    mg_policy_t *p = mk_policy();
    compile_ok(p);
    static const char *const audio[] = {"aac", "mp3",  "m4a", "wav", "flac", "ogg",
                                        "oga", "opus", "ac3", "ec3", NULL};
    for (const char *const *e = audio; *e; e++)
        ck_assert_msg((mg_class_of_ext(p, *e) & (AUDIO | MEDIA)) == (AUDIO | MEDIA) &&
                          (mg_class_of_ext(p, *e) & (IMG | VID)) == 0,
                      "%s", *e);
    ck_assert_uint_eq(mg_class_of_ext(p, "AAC"), AUDIO | STREAM | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "cmfa"), AUDIO | STREAM | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "cmfv"), VID | STREAM | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "vtt"), VID | STREAM | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "webvtt"), VID | STREAM | MEDIA);
    ck_assert_uint_eq(mg_class_of_ext(p, "srt"), VID | MEDIA);
    static const char *const video[] = {"mpg", "mpeg", "3gp", "3g2", "ogv", "m2ts", "mts", NULL};
    for (const char *const *e = video; *e; e++)
        ck_assert_msg(mg_class_of_ext(p, *e) == (VID | MEDIA), "%s", *e);
    static const char *const image[] = {"jxl", "dng", "nef", "orf", "rw2", NULL};
    for (const char *const *e = image; *e; e++)
        ck_assert_msg(mg_class_of_ext(p, *e) == (IMG | MEDIA), "%s", *e);
    /* HLS key files have no fixed extension: not a class (see class-gap) */
    ck_assert_uint_eq(mg_class_of_ext(p, "key"), 0);
    ck_assert_uint_eq(mg_class_of_ext(p, "bin"), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Which rule applies                                                  */
/* ------------------------------------------------------------------ */

START_TEST(test_prefix_matches_whole_segments_only)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "ab", "/a/b/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "photos", "/photos", 0, GH, MG_ACCESS_VIEW);
    compile_ok(p);
    ck_assert_str_eq(owner(p, "/a/b", "", MG_M_GET), "ab");
    ck_assert_str_eq(owner(p, "/a/b/c.jpg", "jpg", MG_M_GET), "ab");
    ck_assert_str_eq(owner(p, "/a/bc", "", MG_M_GET), "(none)");
    ck_assert_str_eq(owner(p, "/a/bc/x.jpg", "jpg", MG_M_GET), "(none)");
    ck_assert_str_eq(owner(p, "/a", "", MG_M_GET), "(none)");
    ck_assert_str_eq(owner(p, "/photos", "", MG_M_GET), "photos");
    ck_assert_str_eq(owner(p, "/photos/x/y.jpg", "jpg", MG_M_GET), "photos");
    ck_assert_str_eq(owner(p, "/photos2/a.jpg", "jpg", MG_M_GET), "(none)");
}
END_TEST

START_TEST(test_deeper_literal_prefix_beats_shallower_glob)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "glob1", "/photos/*/x.jpg", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "thumbs", "/photos/thumbs/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "root", "/", 0, GH, MG_ACCESS_VIEW);
    compile_ok(p);
    ck_assert_str_eq(owner(p, "/photos/thumbs/x.jpg", "jpg", MG_M_GET), "thumbs");
    ck_assert_str_eq(owner(p, "/photos/other/x.jpg", "jpg", MG_M_GET), "glob1");
    ck_assert_str_eq(owner(p, "/photos/other/y.jpg", "jpg", MG_M_GET), "root");
    ck_assert_str_eq(owner(p, "/", "", MG_M_GET), "root");
}
END_TEST

START_TEST(test_at_equal_depth_glob_beats_prefix_then_classes_then_file_order)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "prefix-any", "/v/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "prefix-img", "/v/", IMG, GH, MG_ACCESS_VIEW);
    add_rule(p, "glob-any", "/v/*.m3u8", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "glob-any-2", "/v/*.m3u8", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "glob-stream", "/v/**/*.m3u8", STREAM, GH, MG_ACCESS_VIEW);
    compile_ok(p);
    /* glob with classes > glob without > prefix with classes > prefix without */
    ck_assert_str_eq(owner(p, "/v/a.m3u8", "m3u8", MG_M_GET), "glob-stream");
    ck_assert_str_eq(owner(p, "/v/a.jpg", "jpg", MG_M_GET), "prefix-img");
    ck_assert_str_eq(owner(p, "/v/a.txt", "txt", MG_M_GET), "prefix-any");
    ck_assert_str_eq(owner(p, "/v/x/a.m3u8", "m3u8", MG_M_GET), "glob-stream");
    /* a rule whose classes do not fit is no candidate */
    ck_assert_str_eq(owner(p, "/v/x/a.mp4", "mp4", MG_M_GET), "prefix-any");
}
END_TEST

START_TEST(test_file_order_breaks_remaining_ties)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "first", "/v/*.m3u8", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "second", "/v/*.m3u8", 0, GH, MG_ACCESS_VIEW);
    compile_ok(p);
    ck_assert_str_eq(owner(p, "/v/a.m3u8", "m3u8", MG_M_GET), "first");
}
END_TEST

START_TEST(test_glob_star_question_and_doublestar)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "hls", "/videos/**/*.m3u8", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "thumb", "/photos/*/thumb-?.jpg", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "tail", "/t/**", 0, GH, MG_ACCESS_VIEW);
    compile_ok(p);
    ck_assert_str_eq(owner(p, "/videos/a.m3u8", "m3u8", MG_M_GET), "hls");
    ck_assert_str_eq(owner(p, "/videos/x/y/z/a.m3u8", "m3u8", MG_M_GET), "hls");
    ck_assert_str_eq(owner(p, "/videos/x/a.m3u8/b.ts", "ts", MG_M_GET), "(none)");
    ck_assert_str_eq(owner(p, "/photos/2026/thumb-1.jpg", "jpg", MG_M_GET), "thumb");
    ck_assert_str_eq(owner(p, "/photos/2026/thumb-12.jpg", "jpg", MG_M_GET), "(none)");
    ck_assert_str_eq(owner(p, "/photos/a/b/thumb-1.jpg", "jpg", MG_M_GET), "(none)");
    ck_assert_str_eq(owner(p, "/t", "", MG_M_GET), "tail");
    ck_assert_str_eq(owner(p, "/t/a/b", "", MG_M_GET), "tail");
    /* globs are case-sensitive like the file system */
    ck_assert_str_eq(owner(p, "/Videos/a.m3u8", "m3u8", MG_M_GET), "(none)");
}
END_TEST

START_TEST(test_method_mismatch_is_reported_separately)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "ro", "/photos/", IMG, GH, MG_ACCESS_VIEW);
    compile_ok(p);
    const mg_pathpat_t *pat = NULL;
    const mg_rule_t *mr = NULL;
    const mg_rule_t *r =
        mg_policy_match_ex(p, "/photos/a.jpg", mg_class_of_ext(p, "jpg"), MG_M_POST, &pat, &mr);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(mr);
    ck_assert_str_eq(mr->id, "ro");
    r = mg_policy_match_ex(p, "/photos/a.jpg", mg_class_of_ext(p, "jpg"), MG_M_HEAD, &pat, &mr);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(pat->text, "/photos/");
    ck_assert_ptr_null(mr);
    /* a class mismatch is not a method mismatch */
    r = mg_policy_match_ex(p, "/photos/a.mp4", mg_class_of_ext(p, "mp4"), MG_M_POST, &pat, &mr);
    ck_assert_ptr_null(r);
    ck_assert_ptr_null(mr);
}
END_TEST

START_TEST(test_rule_with_several_paths_ranks_by_the_path_that_matched)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "mid", "/a/b/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "multi", "/x/|/a/b/c/", 0, GH, MG_ACCESS_VIEW);
    compile_ok(p);
    ck_assert_str_eq(owner(p, "/a/b/c/d", "", MG_M_GET), "multi");
    ck_assert_str_eq(owner(p, "/a/b/d", "", MG_M_GET), "mid");
    ck_assert_str_eq(owner(p, "/x/y", "", MG_M_GET), "multi");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Warnings                                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_identical_earlier_rule_with_wider_classes_shadows_later)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "media", "/p/", MEDIA, GH, MG_ACCESS_VIEW);
    add_rule(p, "img", "/p", IMG, MG_M_GET, MG_ACCESS_NONE);
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "shadowed-rule", 20), 1);
    ck_assert_int_eq(count_code(ds, "overlapping-rules", 0), 0);
    ck_assert_int_eq(ds->warnings, 1);
    ck_assert_str_eq(owner(p, "/p/a.jpg", "jpg", MG_M_GET), "media");
}
END_TEST

START_TEST(test_later_rule_with_classes_is_not_shadowed_by_classless_one)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "any", "/p/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "img", "/p/", IMG, GH, MG_ACCESS_NONE);
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "shadowed-rule", 0), 0);
    ck_assert_str_eq(owner(p, "/p/a.jpg", "jpg", MG_M_GET), "img");
}
END_TEST

/* review3 #15: docs/policy.md's class-gap fix (a class-less rule next to a
 * class rule on the same path, deciding differently) is a split, not a
 * competition: the class rule owns every file of its classes and methods,
 * the class-less one everything else, whichever comes first in the file. */
START_TEST(test_class_rule_and_classless_rule_on_one_path_split_without_overlap_warning)
{
    for (int order = 0; order < 2; order++) {
        mg_policy_t *p = mk_policy();
        if (order == 0)
            add_rule(p, "courses", "/courses/", MEDIA, MG_M_GET, MG_ACCESS_VIEW);
        add_rule(p, "courses-rest", "/courses/", 0, GH, MG_ACCESS_NONE);
        if (order == 1)
            add_rule(p, "courses", "/courses/", MEDIA, MG_M_GET, MG_ACCESS_VIEW);
        mg_diags_t *ds = compile_ok(p);
        ck_assert_int_eq(count_code(ds, "overlapping-rules", 0), 0);
        ck_assert_int_eq(ds->warnings, 0);
        ck_assert_str_eq(owner(p, "/courses/l1/a.mp4", "mp4", MG_M_GET), "courses");
        ck_assert_str_eq(owner(p, "/courses/l1/key.bin", "bin", MG_M_GET), "courses-rest");
        ck_assert_str_eq(owner(p, "/courses/", "", MG_M_GET), "courses-rest");
        /* a method only the class-less rule has: the rest as well */
        ck_assert_str_eq(owner(p, "/courses/l1/a.mp4", "mp4", MG_M_HEAD), "courses-rest");
    }
}
END_TEST

START_TEST(test_rules_that_compete_on_one_path_still_warn_overlapping)
{
    /* two class-less rules: the later gets only what the earlier lacks */
    mg_policy_t *p = mk_policy();
    add_rule(p, "a", "/p/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "b", "/p/", 0, MG_M_GET | MG_M_POST, MG_ACCESS_NONE);
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "overlapping-rules", 20), 1);
    ck_assert_int_eq(ds->warnings, 1);
    const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, 0, mg_diag_t);
    ck_assert_ptr_nonnull(strstr(d->msg, "rules 'a' (line 10) and 'b'"));
    ck_assert_ptr_nonnull(strstr(d->msg, "earlier one"));
    ck_assert_str_eq(owner(p, "/p/x", "", MG_M_GET), "a");
    /* two class rules whose classes share extensions (jpg) */
    p = mk_policy();
    add_rule(p, "img", "/p/", IMG, GH, MG_ACCESS_VIEW);
    add_rule(p, "media", "/p/", MEDIA, GH, MG_ACCESS_NONE);
    ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "overlapping-rules", 20), 1);
    ck_assert_str_eq(owner(p, "/p/a.jpg", "jpg", MG_M_GET), "img");
    ck_assert_str_eq(owner(p, "/p/a.mp4", "mp4", MG_M_GET), "media");
}
END_TEST

START_TEST(test_wider_methods_in_later_rule_prevent_shadowing)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "get", "/p/", 0, MG_M_GET, MG_ACCESS_VIEW);
    add_rule(p, "all", "/p/", 0, MG_M_GET | MG_M_POST, MG_ACCESS_VIEW);
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "shadowed-rule", 0), 0);
    ck_assert_int_eq(count_code(ds, "overlapping-rules", 0), 0);
    ck_assert_str_eq(owner(p, "/p/a", "", MG_M_POST), "all");
}
END_TEST

START_TEST(test_disjoint_classes_or_equal_outcomes_give_no_overlap_warning)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "img", "/p/*.x", IMG, GH, MG_ACCESS_VIEW);
    add_rule(p, "vid", "/p/*.x", VID, GH, MG_ACCESS_NONE);
    add_rule(p, "media-same", "/p/*.x", MEDIA, GH, MG_ACCESS_VIEW);
    mg_diags_t *ds = compile_ok(p);
    /* img vs vid: disjoint; media-same vs img: same outcome; media-same vs
     * vid: overlapping and different */
    ck_assert_int_eq(count_code(ds, "overlapping-rules", 0), 1);
    ck_assert_int_eq(count_code(ds, "overlapping-rules", 30), 1);
    ck_assert_int_eq(count_code(ds, "shadowed-rule", 0), 0);
}
END_TEST

START_TEST(test_different_globs_are_not_identical_patterns)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "a", "/p/*.jpg", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "b", "/p/*.png", 0, GH, MG_ACCESS_NONE);
    add_rule(p, "c", "/p/", 0, GH, MG_ACCESS_NONE);
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(ds->warnings, 0);
}
END_TEST

START_TEST(test_partly_shadowed_rule_names_the_dead_path)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "a", "/x/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "b", "/x/|/y/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "c", "/x/|/y/", 0, GH, MG_ACCESS_VIEW);
    mg_diags_t *ds = compile_ok(p);
    /* b's /x/ is dead (pattern position line 21); all of c is dead (line 30) */
    ck_assert_int_eq(count_code(ds, "shadowed-rule", 21), 1);
    ck_assert_int_eq(count_code(ds, "shadowed-rule", 30), 1);
    ck_assert_int_eq(ds->warnings, 2);
}
END_TEST

START_TEST(test_dead_rule_is_not_reported_as_overlapping)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "media", "/p/", MEDIA, GH, MG_ACCESS_VIEW);
    add_rule(p, "img", "/p/", IMG, GH, MG_ACCESS_NONE); /* dead: media wins */
    add_rule(p, "any", "/p/", 0, GH, MG_ACCESS_VIEW);   /* decides like media */
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "shadowed-rule", 20), 1);
    ck_assert_int_eq(count_code(ds, "overlapping-rules", 0), 0);
    ck_assert_int_eq(ds->warnings, 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 10,000 rules against a linear reference                            */
/* ------------------------------------------------------------------ */

static unsigned long rng_state;
static unsigned rnd(unsigned n)
{
    /* xorshift64*: deterministic across platforms, unlike rand() */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (unsigned)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

static const char *const words[] = {"a", "b", "c", "photos", "v", "x1", "ab", "img"};
#define NWORDS (sizeof(words) / sizeof(words[0]))
static const char *const exts[] = {"jpg", "mp4", "m3u8", "txt", "ts", "png"};
#define NEXTS (sizeof(exts) / sizeof(exts[0]))

static const char *rand_pattern(apr_pool_t *pool)
{
    int depth = (int)rnd(4);
    const char *s = "";
    for (int i = 0; i < depth; i++)
        s = apr_pstrcat(pool, s, "/", words[rnd(NWORDS)], NULL);
    if (rnd(2) == 0)
        return *s ? apr_pstrcat(pool, s, rnd(2) ? "/" : "", NULL) : "/";
    /* glob tail */
    int n = 1 + (int)rnd(3);
    for (int i = 0; i < n; i++) {
        static const char *const globs[] = {"*", "**", "?", "a*", "*.jpg", "*.m3u8", "x?", "b"};
        s = apr_pstrcat(pool, s, "/", globs[rnd(8)], NULL);
    }
    return s;
}

static const char *rand_path(apr_pool_t *pool, const char **ext)
{
    int depth = (int)rnd(6);
    const char *s = "";
    for (int i = 0; i < depth; i++) {
        const char *w = words[rnd(NWORDS)];
        if (rnd(5) == 0)
            w = apr_psprintf(pool, "x%u", rnd(3));
        s = apr_pstrcat(pool, s, "/", w, NULL);
    }
    *ext = "";
    if (rnd(3) != 0) {
        *ext = exts[rnd(NEXTS)];
        s = apr_pstrcat(pool, s, "/f.", *ext, NULL);
    }
    return *s ? s : "/";
}

/* Reference: split, then naive recursion — obviously right, slow. */
static int ref_split(const char *s, const char **segs, size_t *lens, int max)
{
    int n = 0;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, '/');
        if (!e)
            e = s + strlen(s);
        if (n >= max) /* not a ck_assert per segment: each is a write to check's pipe */
            ck_abort_msg("more than %d segments", max);
        segs[n] = s;
        lens[n++] = (size_t)(e - s);
        s = e;
    }
    return n;
}

static int ref_seg(const char *p, size_t pl, const char *s, size_t sl)
{
    if (pl == 0)
        return sl == 0;
    if (*p == '*')
        return ref_seg(p + 1, pl - 1, s, sl) || (sl > 0 && ref_seg(p, pl, s + 1, sl - 1));
    return sl > 0 && (*p == '?' || *p == *s) && ref_seg(p + 1, pl - 1, s + 1, sl - 1);
}

static int ref_glob(const char **ps, size_t *pl, int np, const char **ss, size_t *sl, int ns)
{
    if (np == 0)
        return ns == 0;
    if (pl[0] == 2 && memcmp(ps[0], "**", 2) == 0)
        return ref_glob(ps + 1, pl + 1, np - 1, ss, sl, ns) ||
               (ns > 0 && ref_glob(ps, pl, np, ss + 1, sl + 1, ns - 1));
    return ns > 0 && ref_seg(ps[0], pl[0], ss[0], sl[0]) &&
           ref_glob(ps + 1, pl + 1, np - 1, ss + 1, sl + 1, ns - 1);
}

static const mg_rule_t *ref_match(const mg_policy_t *p, const char *path, mg_classset_t cls,
                                  unsigned m)
{
    const char *ss[64], *ps[64];
    size_t sl[64], pl[64];
    int ns = ref_split(path, ss, sl, 64);
    const mg_rule_t *best = NULL;
    int bd = -1, bg = 0, bc = 0;
    for (int i = 0; i < p->rules->nelts; i++) {
        const mg_rule_t *r = &APR_ARRAY_IDX(p->rules, i, mg_rule_t);
        if ((r->methods & m) == 0 || (r->classes != 0 && (r->classes & cls) == 0))
            continue;
        for (int k = 0; k < r->paths->nelts; k++) {
            const char *t = APR_ARRAY_IDX(r->paths, k, mg_pathpat_t).text;
            int np = ref_split(t, ps, pl, 64), glob = strpbrk(t, "*?") != NULL, depth = 0, ok;
            while (depth < np && !memchr(ps[depth], '*', pl[depth]) &&
                   !memchr(ps[depth], '?', pl[depth]))
                depth++;
            if (glob) {
                ok = ref_glob(ps, pl, np, ss, sl, ns);
            } else {
                ok = np <= ns;
                for (int j = 0; ok && j < np; j++)
                    ok = pl[j] == sl[j] && memcmp(ps[j], ss[j], pl[j]) == 0;
            }
            if (!ok)
                continue;
            int c = r->classes != 0;
            /* strictly better only: equal rank keeps the earlier rule */
            if (depth > bd || (depth == bd && (glob > bg || (glob == bg && c > bc)))) {
                best = r;
                bd = depth;
                bg = glob;
                bc = c;
            }
        }
    }
    return best;
}

START_TEST(test_ten_thousand_rules_match_like_linear_reference)
{
    rng_state = 0x9E3779B97F4A7C15ULL;
    mg_policy_t *p = mk_policy();
    static const mg_classset_t cls[] = {0, 0, IMG, VID, STREAM, MEDIA};
    static const unsigned meth[] = {GH, GH, MG_M_GET, MG_M_POST | MG_M_GET, MG_M_HEAD};
    for (int i = 0; i < 10000; i++) {
        const char *paths = rand_pattern(mg_test_pool);
        if (rnd(10) == 0)
            paths = apr_pstrcat(mg_test_pool, paths, "|", rand_pattern(mg_test_pool), NULL);
        add_rule(p, apr_psprintf(mg_test_pool, "r%d", i), paths, cls[rnd(6)], meth[rnd(5)],
                 MG_ACCESS_VIEW);
    }
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_compile(p, ds), MG_OK);
    ck_assert_int_eq(ds->errors, 0);
    ck_assert_int_gt(ds->warnings, 0); /* random identical patterns must be noticed */

    int matched = 0;
    for (int i = 0; i < 600; i++) {
        const char *ext;
        const char *path = rand_path(mg_test_pool, &ext);
        unsigned m = (i % 3 == 0) ? MG_M_POST : (i % 3 == 1 ? MG_M_GET : MG_M_HEAD);
        mg_classset_t c = mg_class_of_ext(p, ext);
        const mg_rule_t *want = ref_match(p, path, c, m);
        const mg_rule_t *got = mg_policy_match(p, path, c, m);
        ck_assert_msg(want == got, "%s (%s, method %u): reference %s, trie %s", path, ext, m,
                      want ? want->id : "(none)", got ? got->id : "(none)");
        matched += got != NULL;
    }
    /* the comparison means something only if most paths have an owner */
    ck_assert_int_gt(matched, 300);
}
END_TEST

/* The trie walk looks a segment of 1-8 bytes up by one word (built while
 * its end is found when the segment starts in the path's first 7 bytes,
 * else the 8 bytes that end at its end, shifted) and a longer one by hash
 * and bytes. Literal prefixes with segments of 1-20 bytes, at the path's
 * start, one byte in, 7 and 8 bytes in and deeper, next to siblings one
 * byte apart; every path made of them, with each byte of the segment
 * changed to 25 bytes (the letters, the bytes next to them, '/', '.', the
 * top bit), and extended by them, against the linear reference. */
START_TEST(test_segments_of_every_length_match_like_linear_reference)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz";
    static const char *const lead[] = {"", "/q", "/qqqqq", "/qqqqqq", "/qqqqqqq", "/q/qqqqqqqqqq"};
    mg_policy_t *p = mk_policy();
    int nr = 0;
    for (size_t l = 0; l < sizeof(lead) / sizeof(lead[0]); l++) {
        for (size_t len = 1; len <= 20; len++) {
            const char *seg = apr_pstrndup(mg_test_pool, alpha, len);
            /* a sibling one byte apart (last byte) and one of the next
             * length, so that the word of a near miss has a slot to meet */
            const char *near = apr_psprintf(mg_test_pool, "%.*sZ", (int)len - 1, alpha);
            add_rule(p, apr_psprintf(mg_test_pool, "r%d", nr++),
                     apr_psprintf(mg_test_pool, "%s/%s/", lead[l], seg), 0, GH, MG_ACCESS_VIEW);
            add_rule(p, apr_psprintf(mg_test_pool, "r%d", nr++),
                     apr_psprintf(mg_test_pool, "%s/%s/", lead[l], near), 0, GH, MG_ACCESS_VIEW);
            add_rule(p, apr_psprintf(mg_test_pool, "r%d", nr++),
                     apr_psprintf(mg_test_pool, "%s/%s/x/*.jpg", lead[l], seg), IMG, GH,
                     MG_ACCESS_VIEW);
        }
        if (*lead[l])
            add_rule(p, apr_psprintf(mg_test_pool, "r%d", nr++),
                     apr_psprintf(mg_test_pool, "%s/", lead[l]), 0, GH, MG_ACCESS_VIEW);
    }
    mg_diags_t *ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_compile(p, ds), MG_OK);
    ck_assert_int_eq(ds->errors, 0);
    long checked = 0, bad = 0, owned = 0;
    char first[160] = "";
    static const char *const tails[] = {"", "/x/f.jpg"};
    /* the bytes around the alphabet's and the separators, the letters
     * themselves (a changed byte may spell a sibling) and the top bit */
    static const unsigned char bytes[] = {1,   '-', '.', '/', '0',  '@',  'A', 'Y', 'Z',
                                          '[', '`', 'a', 'b', 'c',  'k',  's', 't', 'y',
                                          'z', '{', 127, 128, 0xe1, 0xfa, 255};
    for (size_t l = 0; l < sizeof(lead) / sizeof(lead[0]); l++) {
        for (size_t len = 1; len <= 21; len++) {
            for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
                char path[128];
                size_t ll = strlen(lead[l]);
                for (size_t pos = 0; pos <= len + 1; pos++) {
                    for (size_t bi = 0; bi < sizeof(bytes); bi++) {
                        /* pos < len: byte pos changed to b; pos == len: b
                         * added at the end; pos == len + 1: as it is (once) */
                        int b = bytes[bi];
                        if (pos == len + 1 && bi > 0)
                            break;
                        memcpy(path, lead[l], ll);
                        path[ll] = '/';
                        memcpy(path + ll + 1, alpha, len);
                        size_t e = ll + 1 + len;
                        if (pos < len)
                            path[ll + 1 + pos] = (char)b;
                        else if (pos == len)
                            path[e++] = (char)b;
                        strcpy(path + e, tails[t]);
                        const char *ext = strrchr(path, '.') ? strrchr(path, '.') + 1 : "";
                        mg_classset_t c = mg_class_of_ext(p, ext);
                        const mg_rule_t *want = ref_match(p, path, c, MG_M_GET);
                        const mg_rule_t *got = mg_policy_match(p, path, c, MG_M_GET);
                        if (want != got && bad++ == 0)
                            snprintf(first, sizeof(first), "%s: reference %s, trie %s", path,
                                     want ? want->id : "(none)", got ? got->id : "(none)");
                        owned += got != NULL;
                        checked++;
                    }
                }
            }
        }
    }
    ck_assert_msg(bad == 0, "%ld of %ld differ, first: %s", bad, checked, first);
    ck_assert_int_gt(checked, 50000);
    ck_assert_int_gt(owned, checked / 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* class-gap: a class rule stricter than what owns its other files      */
/* ------------------------------------------------------------------ */

static void set_token_required(mg_rule_t *r)
{
    r->token = MG_TOKEN_REQUIRED;
    r->access = NULL;
}

START_TEST(test_class_rule_under_an_anonymous_parent_rule_warns_class_gap)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "site", "/", 0, GH, MG_ACCESS_VIEW);
    set_token_required(add_rule(p, "courses", "/courses/", MEDIA, GH, MG_ACCESS_NONE));
    mg_diags_t *ds = compile_ok(p);
    /* at the pattern (line 21), naming both rules and the path */
    ck_assert_int_eq(count_code(ds, "class-gap", 21), 1);
    ck_assert_int_eq(count_code(ds, "class-gap", 0), 1);
    const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, 0, mg_diag_t);
    ck_assert_ptr_nonnull(strstr(d->msg, "rule 'courses'"));
    ck_assert_ptr_nonnull(strstr(d->msg, "under /courses/"));
    ck_assert_ptr_nonnull(strstr(d->msg, "rule 'site'"));
}
END_TEST

START_TEST(test_class_rule_under_default_allow_warns_class_gap)
{
    mg_policy_t *p = mk_policy();
    p->deflt = MG_DEFAULT_ALLOW;
    add_rule(p, "private", "/private", IMG, GH, MG_ACCESS_NONE);
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "class-gap", 11), 1);
    const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, 0, mg_diag_t);
    ck_assert_ptr_nonnull(strstr(d->msg, "default: allow"));
    ck_assert_ptr_nonnull(strstr(d->msg, "under /private/"));
}
END_TEST

START_TEST(test_sibling_rule_without_classes_closes_the_class_gap)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "site", "/", 0, GH, MG_ACCESS_VIEW);
    set_token_required(add_rule(p, "courses", "/courses/", MEDIA, GH, MG_ACCESS_NONE));
    add_rule(p, "courses-rest", "/courses/", 0, GH, MG_ACCESS_NONE);
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "class-gap", 0), 0);
}
END_TEST

START_TEST(test_no_class_gap_when_the_fallback_is_not_open_to_anyone)
{
    /* default deny and no parent rule */
    mg_policy_t *p = mk_policy();
    add_rule(p, "members", "/members/", IMG, GH, MG_ACCESS_NONE);
    ck_assert_int_eq(count_code(compile_ok(p), "class-gap", 0), 0);
    /* a parent that wants a token, or limits by address */
    p = mk_policy();
    set_token_required(add_rule(p, "all", "/", 0, GH, MG_ACCESS_NONE));
    add_rule(p, "members", "/members/", IMG, GH, MG_ACCESS_NONE);
    mg_rule_t *office = add_rule(p, "office", "/office/", 0, GH, MG_ACCESS_VIEW);
    office->ip_allow = apr_pcalloc(mg_test_pool, sizeof(mg_ipset_t));
    add_rule(p, "office-img", "/office/img/", IMG, GH, MG_ACCESS_NONE);
    ck_assert_int_eq(count_code(compile_ok(p), "class-gap", 0), 0);
    /* default allow, but the class-less parent path is protected for GET */
    p = mk_policy();
    p->deflt = MG_DEFAULT_ALLOW;
    add_rule(p, "posts", "/x/", 0, MG_M_POST, MG_ACCESS_NONE);
    add_rule(p, "x-img", "/x/", IMG, GH, MG_ACCESS_NONE);
    ck_assert_int_eq(count_code(compile_ok(p), "class-gap", 0), 0);
}
END_TEST

START_TEST(test_no_class_gap_when_the_class_rule_is_itself_open_or_a_glob)
{
    mg_policy_t *p = mk_policy();
    p->deflt = MG_DEFAULT_ALLOW;
    add_rule(p, "site", "/", 0, GH, MG_ACCESS_VIEW);
    /* as open as the fallback: nothing is exposed by the gap */
    add_rule(p, "thumbs", "/thumbs/", IMG, GH, MG_ACCESS_VIEW);
    /* a glob names files, not a directory with companions */
    add_rule(p, "masters", "/v/*/master.*", VID, GH, MG_ACCESS_NONE);
    ck_assert_int_eq(count_code(compile_ok(p), "class-gap", 0), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* glob-overridden (red team 26c): a protecting glob whose paths under a  */
/* more specific, open rule belong to that rule                           */
/* ------------------------------------------------------------------ */

START_TEST(test_glob_under_a_more_specific_open_rule_warns_glob_overridden)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "private", "/*/private/**", 0, GH, MG_ACCESS_NONE);
    add_rule(p, "photos", "/photos/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "keys", "/v/**/*.key", 0, GH, MG_ACCESS_NONE);
    add_rule(p, "courses", "/v/courses/", 0, GH, MG_ACCESS_VIEW);
    mg_diags_t *ds = compile_ok(p);
    /* what the warning says is what the matcher does */
    ck_assert_str_eq(owner(p, "/photos/private/a.jpg", "jpg", MG_M_GET), "photos");
    ck_assert_str_eq(owner(p, "/videos/private/a.jpg", "jpg", MG_M_GET), "private");
    ck_assert_str_eq(owner(p, "/v/courses/x/k.key", "key", MG_M_GET), "courses");
    ck_assert_int_eq(count_code(ds, "glob-overridden", 11), 1);
    ck_assert_int_eq(count_code(ds, "glob-overridden", 31), 1);
    ck_assert_int_eq(count_code(ds, "glob-overridden", 0), 2);
    const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, 0, mg_diag_t);
    ck_assert_str_eq(d->msg, "rule 'private' (/*/private/**) does not own /photos/private: rule "
                             "'photos' (/photos/) has more leading literal segments, so it owns "
                             "that path, and it lets anyone view it");
    ck_assert_str_eq(d->hint, "the most specific rule owns a request, not the first: add a rule "
                              "for /photos/private/** with the access of rule 'private'");
    d = &APR_ARRAY_IDX(ds->items, 1, mg_diag_t);
    ck_assert_str_eq(d->hint, "the most specific rule owns a request, not the first: add a rule "
                              "for /v/courses/**/*.key with the access of rule 'keys'");
}
END_TEST

START_TEST(test_no_glob_overridden_when_the_specific_rule_is_closed_or_disjoint)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "private", "/*/private/**", 0, GH, MG_ACCESS_NONE);
    add_rule(p, "members", "/members/", 0, GH, MG_ACCESS_NONE); /* keeps anonymous out */
    mg_rule_t *office = add_rule(p, "office", "/office/", 0, GH, MG_ACCESS_VIEW);
    office->ip_allow = apr_pcalloc(mg_test_pool, sizeof(mg_ipset_t)); /* not anyone */
    add_rule(p, "jpgs", "/m/*.jpg", 0, GH, MG_ACCESS_NONE);
    add_rule(p, "sub", "/m/sub/", 0, GH, MG_ACCESS_VIEW); /* no .jpg glob path is under it */
    add_rule(p, "open-glob", "/o/*/x/**", 0, GH, MG_ACCESS_VIEW); /* the glob itself is open */
    add_rule(p, "o", "/o/a/", 0, GH, MG_ACCESS_VIEW);
    ck_assert_int_eq(count_code(compile_ok(p), "glob-overridden", 0), 0);
}
END_TEST

START_TEST(test_class_gap_is_reported_per_path_of_the_rule)
{
    mg_policy_t *p = mk_policy();
    add_rule(p, "site", "/", 0, GH, MG_ACCESS_VIEW);
    add_rule(p, "closed", "/closed/", 0, GH, MG_ACCESS_NONE);
    add_rule(p, "media", "/a/|/closed/media/|/b/", MEDIA, GH, MG_ACCESS_NONE);
    mg_diags_t *ds = compile_ok(p);
    ck_assert_int_eq(count_code(ds, "class-gap", 31), 1);
    ck_assert_int_eq(count_code(ds, "class-gap", 32), 0); /* under rule 'closed' */
    ck_assert_int_eq(count_code(ds, "class-gap", 33), 1);
    ck_assert_int_eq(count_code(ds, "class-gap", 0), 2);
}
END_TEST

static Suite *compile_suite(void)
{
    Suite *s = suite_create("compile");
    TCase *tc = tcase_create("match");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_method_bits_are_case_sensitive_and_unknown_is_other);
    tcase_add_test(tc, test_class_of_ext_is_case_insensitive_and_includes_user_classes);
    tcase_add_test(tc, test_method_bit_agrees_with_strcmp_on_every_one_byte_change);
    tcase_add_test(tc, test_class_of_ext_agrees_with_a_walk_over_the_classes);
    tcase_add_test(tc, test_built_in_classes_cover_audio_subtitles_and_newer_formats);
    tcase_add_test(tc, test_prefix_matches_whole_segments_only);
    tcase_add_test(tc, test_deeper_literal_prefix_beats_shallower_glob);
    tcase_add_test(tc, test_at_equal_depth_glob_beats_prefix_then_classes_then_file_order);
    tcase_add_test(tc, test_file_order_breaks_remaining_ties);
    tcase_add_test(tc, test_glob_star_question_and_doublestar);
    tcase_add_test(tc, test_method_mismatch_is_reported_separately);
    tcase_add_test(tc, test_rule_with_several_paths_ranks_by_the_path_that_matched);
    suite_add_tcase(s, tc);

    TCase *tw = tcase_create("warnings");
    tcase_add_checked_fixture(tw, mg_test_setup, mg_test_teardown);
    tcase_add_test(tw, test_identical_earlier_rule_with_wider_classes_shadows_later);
    tcase_add_test(tw, test_later_rule_with_classes_is_not_shadowed_by_classless_one);
    tcase_add_test(tw,
                   test_class_rule_and_classless_rule_on_one_path_split_without_overlap_warning);
    tcase_add_test(tw, test_rules_that_compete_on_one_path_still_warn_overlapping);
    tcase_add_test(tw, test_wider_methods_in_later_rule_prevent_shadowing);
    tcase_add_test(tw, test_disjoint_classes_or_equal_outcomes_give_no_overlap_warning);
    tcase_add_test(tw, test_different_globs_are_not_identical_patterns);
    tcase_add_test(tw, test_partly_shadowed_rule_names_the_dead_path);
    tcase_add_test(tw, test_dead_rule_is_not_reported_as_overlapping);
    tcase_add_test(tw, test_class_rule_under_an_anonymous_parent_rule_warns_class_gap);
    tcase_add_test(tw, test_class_rule_under_default_allow_warns_class_gap);
    tcase_add_test(tw, test_sibling_rule_without_classes_closes_the_class_gap);
    tcase_add_test(tw, test_no_class_gap_when_the_fallback_is_not_open_to_anyone);
    tcase_add_test(tw, test_no_class_gap_when_the_class_rule_is_itself_open_or_a_glob);
    tcase_add_test(tw, test_class_gap_is_reported_per_path_of_the_rule);
    tcase_add_test(tw, test_glob_under_a_more_specific_open_rule_warns_glob_overridden);
    tcase_add_test(tw, test_no_glob_overridden_when_the_specific_rule_is_closed_or_disjoint);
    suite_add_tcase(s, tw);

    TCase *tb = tcase_create("scale");
    tcase_add_checked_fixture(tb, mg_test_setup, mg_test_teardown);
    tcase_set_timeout(tb, 60);
    tcase_add_test(tb, test_ten_thousand_rules_match_like_linear_reference);
    tcase_add_test(tb, test_segments_of_every_length_match_like_linear_reference);
    suite_add_tcase(s, tb);
    return s;
}

MG_TEST_MAIN(compile_suite)
