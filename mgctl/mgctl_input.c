/* mgctl_input.c — what mgctl reads: bounded files, and policies from a
 * path or standard input (with the --stdin-name rules).
 */
#include "mgctl_util.h"

#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "mg_diag.h"

int mgctl_read_file(apr_pool_t *pool, const char *path, size_t max, char **buf, size_t *len,
                    const char **err)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char ebuf[256];
    /* Refuse FIFOs, devices and directories before opening: opening a FIFO
     * for reading blocks until a writer appears. NONBLOCK covers a file
     * swapped for a FIFO between the stat and the open. */
    apr_status_t rv = apr_stat(&fi, path, APR_FINFO_TYPE, pool);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        *err = apr_psprintf(pool, "%s: not a regular file", path);
        return -1;
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY | APR_FOPEN_NONBLOCK,
                       APR_FPROT_OS_DEFAULT, pool);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(pool, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return -1;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        apr_file_close(f);
        *err = apr_psprintf(pool, "%s: not a regular file", path);
        return -1;
    }
    if (rv == APR_SUCCESS && (apr_uint64_t)fi.size > (apr_uint64_t)max) {
        apr_file_close(f);
        *err = apr_psprintf(pool, "%s: larger than %lu bytes", path, (unsigned long)max);
        return -1;
    }
    /* The size is only a first guess (the file may change while we read);
     * the limit is enforced on what is actually read. */
    size_t cap = rv == APR_SUCCESS ? (size_t)fi.size : 4096, n = 0;
    if (cap > max)
        cap = max;
    if (cap < 64)
        cap = 64;
    char *b = apr_palloc(pool, cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                char probe;
                apr_size_t one = 1;
                if (apr_file_read(f, &probe, &one) == APR_SUCCESS && one == 1) {
                    apr_file_close(f);
                    *err =
                        apr_psprintf(pool, "%s: larger than %lu bytes", path, (unsigned long)max);
                    return -1;
                }
                break;
            }
            size_t ncap = cap * 2 > max ? max : cap * 2;
            char *nb = apr_palloc(pool, ncap + 1);
            memcpy(nb, b, n);
            b = nb;
            cap = ncap;
        }
        apr_size_t want = cap - n;
        rv = apr_file_read(f, b + n, &want);
        n += want;
        if (rv == APR_EOF)
            break;
        if (rv != APR_SUCCESS) {
            apr_file_close(f);
            *err = apr_psprintf(pool, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
            return -1;
        }
    }
    apr_file_close(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

const char *mgctl_source_name(const char *path, const char *stdin_name)
{
    if (strcmp(path, "-") != 0)
        return path;
    return stdin_name ? stdin_name : MGCTL_STDIN_NAME;
}

int mgctl_stdin_check(const char *cmd, const char *const *paths, int n, const char *stdin_name)
{
    int dashes = 0;
    for (int i = 0; i < n; i++)
        dashes += paths[i] != NULL && strcmp(paths[i], "-") == 0;
    if (dashes > 1)
        return mgctl_usage_error(cmd, "'-' (standard input) may be given only once");
    if (stdin_name != NULL && *stdin_name == '\0')
        return mgctl_usage_error(cmd, "--stdin-name needs a NAME");
    if (stdin_name != NULL && dashes == 0)
        return mgctl_usage_error(cmd, "--stdin-name goes with the policy '-' (standard input)");
    return MGCTL_EXIT_OK;
}

/* Standard input as a policy: the text is not kept (the loader copies what
 * the policy needs), and a stream that could not be read to its end is an
 * I/O failure, never a shorter policy. */
static mg_status_t load_stdin(apr_pool_t *pool, const char *stdin_name, mg_policy_t **out,
                              mg_diags_t *diags)
{
    const char *name = mgctl_source_name("-", stdin_name);
    const char *base_dir = NULL, *slash = stdin_name ? strrchr(stdin_name, '/') : NULL;
    apr_pool_t *rp;
    apr_file_t *in;
    char *buf, ebuf[128];
    apr_size_t len;

    if (apr_pool_create(&rp, pool) != APR_SUCCESS)
        return MG_ENOMEM;
    apr_status_t rv = apr_file_open_stdin(&in, rp);
    if (rv != APR_SUCCESS) {
        mg_diag_add(diags, MG_SEV_ERROR, name, 0, 0, "io", "cannot open standard input: %s",
                    apr_strerror(rv, ebuf, sizeof(ebuf)));
        apr_pool_destroy(rp);
        return MG_EIO;
    }
    mg_status_t st = mg_policy_read_stream(rp, in, name, &buf, &len, diags);
    if (st == MG_OK) {
        /* as mg_policy_load_file does for a path: the name's directory */
        if (slash)
            base_dir = slash == stdin_name
                           ? "/"
                           : apr_pstrmemdup(rp, stdin_name, (apr_size_t)(slash - stdin_name));
        st = mg_policy_load_buffer(pool, name, base_dir, buf, len, out, diags);
    } else if (st != MG_EINVAL) {
        /* MG_EINVAL is the size bound: over it the policy is invalid, as a
         * policy file over the bound is */
        st = MG_EIO;
    }
    apr_pool_destroy(rp);
    return st;
}

int mgctl_policy_load(apr_pool_t *pool, const char *path, const char *stdin_name, mg_policy_t **out,
                      mg_diags_t *diags)
{
    const char *name = mgctl_source_name(path, stdin_name);
    int errors = diags->errors;
    mg_status_t st = strcmp(path, "-") == 0 ? load_stdin(pool, stdin_name, out, diags)
                                            : mg_policy_load_file(pool, path, out, diags);
    int valid = st == MG_OK && *out != NULL && diags->errors == errors;
    /* The loader explains every refusal; these only guard against a
     * refusal without a word (out of memory). */
    if (st == MG_EIO && diags->errors == errors)
        mg_diag_add(diags, MG_SEV_ERROR, name, 0, 0, "io", "cannot read the file");
    else if (!valid && diags->errors == errors)
        mg_diag_add(diags, MG_SEV_ERROR, name, 0, 0, "internal",
                    "the policy was refused without a diagnostic (status %d)", (int)st);
    mg_diags_sort(diags);
    if (!valid)
        *out = NULL;
    return valid ? MGCTL_EXIT_OK : st == MG_EIO ? MGCTL_EXIT_USAGE : MGCTL_EXIT_FAIL;
}
