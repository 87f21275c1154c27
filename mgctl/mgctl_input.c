/* mgctl_input.c — policies mgctl reads, from a path or standard input (with
 * the --stdin-name rules). Other files: mg_file_read (lib/mg_file.h).
 */
#include "mgctl_util.h"

#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "mg_diag.h"

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
