/* fmt_fixture.c — the foreign-format unit tests' shared fixture
 * (fmt_fixture.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>

#include "fmt_fixture.h"

char mg_fx_dir[64];

/* The files written, for the teardown: a test's few keys. The fixture runs
 * in check's forked child, so this starts empty for every test. */
#define MG_FX_MAX_FILES 32
static const char *g_written[MG_FX_MAX_FILES];
static int g_nwritten;

void mg_fx_setup(const char *tag)
{
    mg_test_setup();
    /* a mkdtemp(3) template: the six X become a unique suffix */
    ck_assert_int_lt(snprintf(mg_fx_dir, sizeof(mg_fx_dir), "/tmp/mg-test-%s-XXXXXX", tag),
                     (int)sizeof(mg_fx_dir));
    ck_assert_ptr_nonnull(mkdtemp(mg_fx_dir));
    g_nwritten = 0;
}

void mg_fx_teardown(void)
{
    for (int i = 0; i < g_nwritten; i++)
        unlink(apr_pstrcat(mg_test_pool, mg_fx_dir, "/", g_written[i], NULL));
    rmdir(mg_fx_dir);
    g_nwritten = 0;
    mg_test_teardown();
}

void mg_fx_write_file(const char *name, const char *text)
{
    char *path = apr_pstrcat(mg_test_pool, mg_fx_dir, "/", name, NULL);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
    for (int i = 0; i < g_nwritten; i++)
        if (strcmp(g_written[i], name) == 0)
            return;
    ck_assert_int_lt(g_nwritten, MG_FX_MAX_FILES);
    g_written[g_nwritten++] = apr_pstrdup(mg_test_pool, name);
}

mg_policy_t *mg_fx_load(const char *yaml, mg_diags_t **diags)
{
    mg_policy_t *p = NULL;
    mg_diags_t *d = mg_diags_make(mg_test_pool);
    mg_status_t st =
        mg_policy_load_buffer(mg_test_pool, "t.yaml", mg_fx_dir, yaml, strlen(yaml), &p, d);
    if (diags)
        *diags = d;
    return st == MG_OK ? p : NULL;
}

mg_policy_t *mg_fx_load_ok(const char *yaml)
{
    mg_diags_t *d;
    mg_policy_t *p = mg_fx_load(yaml, &d);
    ck_assert_msg(p != NULL, "policy refused: %s",
                  d->items->nelts ? APR_ARRAY_IDX(d->items, 0, mg_diag_t).msg : "?");
    return p;
}

const char *mg_fx_load_error(const char *yaml)
{
    mg_diags_t *d;
    if (mg_fx_load(yaml, &d) != NULL)
        return "";
    for (int i = 0; i < d->items->nelts; i++) {
        const mg_diag_t *x = &APR_ARRAY_IDX(d->items, i, mg_diag_t);
        if (x->severity == MG_SEV_ERROR)
            return x->msg;
    }
    return "?";
}

mg_reason_t mg_fx_check_cookie(const mg_policy_t *p, const char *url, const char *cookie,
                               int64_t now, const char *ip, mg_token_claims_t *c)
{
    mg_request_t req;
    memset(&req, 0, sizeof(req));
    const char *q = strchr(url, '?');
    req.raw_path = q ? apr_pstrmemdup(mg_test_pool, url, (apr_size_t)(q - url)) : url;
    req.query = q ? q + 1 : NULL;
    req.client_ip = ip ? ip : "127.0.0.1";
    req.cookie = cookie;
    req.now = apr_time_from_sec(now);
    return mg_token_check(mg_test_pool, p, &req, c);
}

mg_reason_t mg_fx_check(const mg_policy_t *p, const char *url, int64_t now, const char *ip,
                        mg_token_claims_t *c)
{
    return mg_fx_check_cookie(p, url, NULL, now, ip, c);
}

const mg_fkey_t *mg_fx_fkey(const mg_policy_t *p, const char *id)
{
    for (int i = 0; i < p->keys->nelts; i++) {
        const mg_keyref_t *r = &APR_ARRAY_IDX(p->keys, i, mg_keyref_t);
        if (id == NULL || strcmp(r->id, id) == 0)
            return r->fkey;
    }
    ck_abort_msg("no key %s", id ? id : "at all");
    return NULL;
}

mg_status_t mg_fx_try_sign(const mg_policy_t *p, const char *id, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why)
{
    const mg_fkey_t *k = mg_fx_fkey(p, id);
    return k->fmt->sign(mg_test_pool, k, url, c, out, why);
}

const char *mg_fx_sign(const mg_policy_t *p, const char *id, const char *url,
                       const mg_fmt_claims_t *c)
{
    const char *out = NULL, *why = NULL;
    ck_assert_msg(mg_fx_try_sign(p, id, url, c, &out, &why) == MG_OK, "signing %s: %s", url, why);
    return out;
}

const char *mg_fx_replace_str(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    ck_assert_msg(at != NULL, "no '%s' in %s", from, s);
    return apr_pstrcat(mg_test_pool, apr_pstrmemdup(mg_test_pool, s, (apr_size_t)(at - s)), to,
                       at + strlen(from), NULL);
}
