/* mg_transform.c — parse and normalise ImageKit-style transformation strings
 * ("w-300,h-300:rt-90,oi-logo.png"). The grammar and the character sets are
 * written down in docs/canonical-urls.md ("Transformation strings"). Anything
 * outside the grammar is refused: an image server behind us must never apply
 * a transformation that the policy check did not see exactly as we parsed it.
 *
 * Hand-written rather than apr_strtok(): we need to refuse empty steps and
 * parameters (which strtok silently skips) and to bound the work. */
#include <string.h>

#include <apr_strings.h>

#include "mg_transform.h"

/* Characters allowed in a value. Deliberately narrower than "printable
 * ASCII": no separators of ours (',' ':'), no path or query syntax ('/' '\\'
 * '?' '#' '&' ';' '%'), no quotes, brackets or spaces — nothing that could
 * mean something else to the image server or to a log reader. */
static const unsigned char tr_value_ok[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1, ['-'] = 1, ['.'] = 1,
    ['_'] = 1,         ['~'] = 1,         ['!'] = 1,         ['$'] = 1, ['('] = 1,
    [')'] = 1,         ['*'] = 1,         ['+'] = 1,         ['='] = 1, ['@'] = 1,
};

static int tr_key_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Finish the parameter buf[start, end) of the current step. */
static int tr_add_param(char *buf, size_t start, size_t end, mg_tr_t *out, mg_tr_param_t *params,
                        int *nparams, const char **why)
{
    mg_tr_step_t *step = &out->steps[out->nsteps];
    size_t dash, i;

    if (end == start) {
        *why = "empty transformation step or parameter";
        return -1;
    }
    if (*nparams >= MG_TR_MAX_PARAMS) {
        *why = "too many transformation parameters";
        return -1;
    }
    for (dash = start; dash < end && buf[dash] != '-'; dash++) {
        if (!tr_key_ok((unsigned char)buf[dash])) {
            *why = "transformation key must be lower-case letters and digits";
            return -1;
        }
    }
    if (dash == start) {
        *why = "transformation parameter without a key";
        return -1;
    }
    if (dash == end) {
        *why = "transformation parameter without '-' and a value";
        return -1;
    }
    if (dash + 1 == end) {
        *why = "transformation parameter with an empty value";
        return -1;
    }
    for (i = dash + 1; i < end; i++) {
        if (!tr_value_ok[(unsigned char)buf[i]]) {
            *why = "transformation value contains a character that is not allowed";
            return -1;
        }
    }
    /* A value ending in '.' could end the "tr:" path segment, and a segment
     * ending in '.' is refused (Windows trailing dot); refusing it here keeps
     * the normalised segment a valid one wherever the value lands. */
    if (buf[end - 1] == '.') {
        *why = "transformation value ends in a dot";
        return -1;
    }
    buf[dash] = '\0';
    buf[end] = '\0';
    /* At most MG_TR_MAX_PARAMS per step, so the quadratic scan is bounded. */
    for (i = 0; i < (size_t)step->nparams; i++) {
        if (strcmp(step->params[i].key, buf + start) == 0) {
            *why = "duplicate transformation key in one step";
            return -1;
        }
    }
    params[*nparams].key = buf + start;
    params[*nparams].value = buf + dash + 1;
    (*nparams)++;
    step->nparams++;
    return 0;
}

int mg_transform_parse(apr_pool_t *pool, const char *s, mg_tr_t *out, const char **why)
{
    static const char *dummy;
    mg_tr_param_t *params;
    int nparams = 0;
    size_t len, i, start;
    char *buf;

    if (why == NULL)
        why = &dummy;
    if (out == NULL) {
        *why = "no transformation string";
        return -1;
    }
    out->nsteps = 0;
    out->steps = NULL;
    if (s == NULL) {
        *why = "no transformation string";
        return -1;
    }
    len = strnlen(s, MG_TR_MAX_LEN + 1);
    if (len > MG_TR_MAX_LEN) {
        *why = "transformation string too long";
        return -1;
    }
    if (len == 0) {
        *why = "empty transformation string";
        return -1;
    }
    /* One copy we cut with NULs, and fixed-size arrays: the bounds make the
     * allocation constant and the steps share one parameter array. */
    buf = apr_pstrmemdup(pool, s, len);
    out->steps = apr_pcalloc(pool, MG_TR_MAX_STEPS * sizeof(*out->steps));
    params = apr_palloc(pool, MG_TR_MAX_PARAMS * sizeof(*params));
    out->steps[0].params = params;

    start = 0;
    for (i = 0; i <= len; i++) {
        char c = buf[i];
        if (c != ',' && c != ':' && c != '\0')
            continue;
        if (tr_add_param(buf, start, i, out, params, &nparams, why) != 0) {
            out->nsteps = 0;
            return -1;
        }
        start = i + 1;
        if (c == ':') {
            if (out->nsteps + 1 >= MG_TR_MAX_STEPS) {
                *why = "too many transformation steps";
                out->nsteps = 0;
                return -1;
            }
            out->nsteps++;
            out->steps[out->nsteps].params = params + nparams;
        }
    }
    out->nsteps++;
    return 0;
}

const char *mg_transform_normalize(apr_pool_t *pool, const mg_tr_t *tr)
{
    const mg_tr_param_t *sorted[MG_TR_MAX_PARAMS];
    size_t total = 0;
    char *res, *w;
    int s, i, j;

    if (tr == NULL || tr->nsteps <= 0 || tr->nsteps > MG_TR_MAX_STEPS)
        return NULL;
    for (s = 0; s < tr->nsteps; s++) {
        const mg_tr_step_t *st = &tr->steps[s];
        if (st->nparams <= 0 || st->nparams > MG_TR_MAX_PARAMS)
            return NULL;
        for (i = 0; i < st->nparams; i++)
            total += strlen(st->params[i].key) + strlen(st->params[i].value) + 2;
    }
    res = w = apr_palloc(pool, total + 1);
    for (s = 0; s < tr->nsteps; s++) {
        const mg_tr_step_t *st = &tr->steps[s];
        /* Insertion sort: at most MG_TR_MAX_PARAMS entries, keys unique. */
        for (i = 0; i < st->nparams; i++) {
            const mg_tr_param_t *p = &st->params[i];
            for (j = i; j > 0 && strcmp(sorted[j - 1]->key, p->key) > 0; j--)
                sorted[j] = sorted[j - 1];
            sorted[j] = p;
        }
        if (s > 0)
            *w++ = ':';
        for (i = 0; i < st->nparams; i++) {
            size_t kl = strlen(sorted[i]->key), vl = strlen(sorted[i]->value);
            if (i > 0)
                *w++ = ',';
            memcpy(w, sorted[i]->key, kl);
            w += kl;
            *w++ = '-';
            memcpy(w, sorted[i]->value, vl);
            w += vl;
        }
    }
    *w = '\0';
    return res;
}
