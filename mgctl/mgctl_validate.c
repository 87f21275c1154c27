/* mgctl_validate.c — `mgctl validate FILE...`: load every policy file (or
 * standard input, "-") with the same loader the module uses and report all
 * diagnostics.
 *
 * Exit status: 0 all valid, 1 at least one invalid, 2 usage error or at
 * least one file that could not be read. Every file is checked even when
 * an earlier one is missing, so one run reports everything; an I/O error
 * (2) outranks an invalid policy (1) because the check was incomplete.
 */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg.h"
#include "mgctl_util.h"

static const char usage_text[] =
    "Usage: mgctl validate [OPTIONS] FILE...\n"
    "\n"
    "Check policy files with the module's own loader and compiler. Every error\n"
    "and warning of every file is reported with file:line:column.\n"
    "A FILE of '-' (at most one) is standard input, named <stdin> in the\n"
    "output; its relative key and revocation file paths resolve against the\n"
    "current directory.\n"
    "\n"
    "Options:\n"
    "  -f, --format FMT    text (default), json, or github (::error annotations)\n"
    "  -q, --quiet         print errors only (no warnings, no 'ok' lines)\n"
    "      --stdin-name N  name standard input N in the output and resolve its\n"
    "                      relative paths against N's directory, as if it were\n"
    "                      the file N (e.g. git show HEAD:p/site.yaml |\n"
    "                      mgctl validate --stdin-name p/site.yaml -)\n"
    "  -h, --help          show this help\n"
    "\n"
    "Each option may be given once.\n"
    "\n"
    "Exit status: 0 all valid, 1 some file invalid (a file or standard input\n"
    "over the 16 MiB policy size limit too), 2 usage error or a file that\n"
    "cannot be read (the other files are still checked).\n";

static const apr_getopt_option_t opts[] = {
    {"format", 'f', 1, "text (default), json or github"},
    {"quiet", 'q', 0, "errors only"},
    {"stdin-name", MGCTL_OPT_STDIN_NAME, 1, "the file name standard input stands for"},
    {"help", 'h', 0, "show this help"},
    {NULL, 0, 0, NULL},
};

typedef struct file_result {
    const char *file;
    int valid;
    int io_error;
    const mg_policy_t *policy;
    mg_diags_t *diags;
} file_result_t;

static void check_file(apr_pool_t *pool, const char *path, const char *stdin_name, file_result_t *r)
{
    mg_policy_t *policy = NULL;
    r->diags = mg_diags_make(pool);
    int rc = mgctl_policy_load(pool, path, stdin_name, &policy, r->diags);
    r->file = mgctl_source_name(path, stdin_name);
    r->io_error = rc == MGCTL_EXIT_USAGE;
    r->valid = rc == MGCTL_EXIT_OK;
    r->policy = policy;
}

int mgctl_cmd_validate(apr_pool_t *pool, int argc, const char *const *argv)
{
    mgctl_format_t fmt = MGCTL_FMT_TEXT;
    int quiet = 0;
    const char *stdin_name = NULL;
    apr_getopt_t *os = mgctl_getopt_init(pool, "validate", argc, argv);
    int ch, rc;
    const char *arg;

    while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, &rc)) > 0) {
        switch (ch) {
        case 'f':
            if (mgctl_format_parse(
                    arg, (1u << MGCTL_FMT_TEXT) | (1u << MGCTL_FMT_JSON) | (1u << MGCTL_FMT_GITHUB),
                    &fmt) != 0)
                return mgctl_usage_error("validate", "unknown format '%s' (text, json, github)",
                                         arg);
            break;
        case 'q':
            quiet = 1;
            break;
        case MGCTL_OPT_STDIN_NAME:
            stdin_name = arg;
            break;
        }
    }
    if (ch < 0)
        return rc;
    int nfiles = os->argc - os->ind;
    if (nfiles < 1)
        return mgctl_usage_error("validate", "no policy FILE given");
    if ((rc = mgctl_stdin_check("validate", os->argv + os->ind, nfiles, stdin_name)) != 0)
        return rc;

    file_result_t *res = apr_pcalloc(pool, sizeof(*res) * (size_t)nfiles);
    int invalid = 0, io = 0, errors = 0, warnings = 0;
    for (int i = 0; i < nfiles; i++) {
        check_file(pool, os->argv[os->ind + i], stdin_name, &res[i]);
        invalid += !res[i].valid;
        io += res[i].io_error;
        errors += res[i].diags->errors;
        warnings += res[i].diags->warnings;
    }

    if (fmt == MGCTL_FMT_JSON) {
        apr_array_header_t *files = apr_array_make(pool, nfiles, sizeof(char *));
        apr_array_header_t *diags = apr_array_make(pool, 16, sizeof(char *));
        for (int i = 0; i < nfiles; i++) {
            const file_result_t *r = &res[i];
            APR_ARRAY_PUSH(files, const char *) =
                apr_psprintf(pool,
                             "{\"file\":%s,\"valid\":%s,\"policy\":%s,\"digest\":%s,\"rules\":%d,"
                             "\"errors\":%d,\"warnings\":%d}",
                             mgctl_json_str(pool, r->file), r->valid ? "true" : "false",
                             mgctl_json_str(pool, r->policy ? mg_policy_name(r->policy) : NULL),
                             mgctl_json_str(pool, r->policy ? mg_policy_digest(r->policy) : NULL),
                             r->policy ? mg_policy_rule_count(r->policy) : 0, r->diags->errors,
                             r->diags->warnings);
            const mg_diag_t *items = (const mg_diag_t *)r->diags->items->elts;
            int shown = 0;
            for (int j = 0; j < r->diags->items->nelts; j++) {
                if (quiet && items[j].severity == MG_SEV_WARNING)
                    continue;
                /* the counts above stay exact; the list stops at the cap */
                if (shown++ == MG_DIAG_SHOW_MAX)
                    break;
                APR_ARRAY_PUSH(diags, const char *) = mgctl_diag_json(pool, &items[j]);
            }
        }
        printf("{\"valid\":%s,\"errors\":%d,\"warnings\":%d,\"files\":[%s],"
               "\"diagnostics\":[%s]}\n",
               invalid ? "false" : "true", errors, warnings, apr_array_pstrcat(pool, files, ','),
               apr_array_pstrcat(pool, diags, ','));
    } else {
        /* Diagnostics go to stdout: they are the command's output (and CI
         * annotations are read from stdout). */
        for (int i = 0; i < nfiles; i++) {
            const file_result_t *r = &res[i];
            mgctl_diags_print(stdout, pool, r->diags, fmt, !quiet);
            if (fmt == MGCTL_FMT_TEXT && !quiet && r->valid)
                printf("%s: ok (policy %s, %d rules, sha256:%s)\n", mg_one_line(pool, r->file),
                       mg_one_line(pool, mg_policy_name(r->policy)),
                       mg_policy_rule_count(r->policy), mg_policy_digest(r->policy));
        }
        if (fmt == MGCTL_FMT_TEXT && !quiet && nfiles > 1)
            printf("%d of %d files valid; %d errors, %d warnings\n", nfiles - invalid, nfiles,
                   errors, warnings);
    }
    if (io)
        return MGCTL_EXIT_USAGE;
    return invalid ? MGCTL_EXIT_FAIL : MGCTL_EXIT_OK;
}
