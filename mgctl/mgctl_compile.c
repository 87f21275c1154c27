/* mgctl_compile.c — `mgctl compile FILE|- [-o OUT]`: write the canonical
 * compiled form of a policy (itself valid policy YAML, so the module loads
 * it like any policy) under a first line that names its SHA-256 digest.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "mg.h"
#include "mgctl_util.h"

static const char usage_text[] =
    "Usage: mgctl compile [OPTIONS] FILE\n"
    "\n"
    "Load and compile a policy and write its canonical compiled form: defaults\n"
    "made explicit, keys in a fixed order, comments removed. The first line is\n"
    "  # mod_media_guard compiled policy v1 sha256:<digest>\n"
    "and the output is valid policy YAML that mod_media_guard loads like the\n"
    "original (with the same digest). Key and revocation files inside the\n"
    "policy's directory are written relative to it, so load the output from a\n"
    "directory with the same layout; each key's fingerprint pins the key (other\n"
    "key material is refused). Warnings about rules that can never match\n"
    "(shadowed) and overlapping rules with different outcomes go to stderr.\n"
    "A FILE of '-' is standard input, named <stdin> in messages; its relative\n"
    "key and revocation file paths resolve against the current directory.\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT    write to OUT (atomically: a temporary file, then\n"
    "                      rename; a FIFO or device is written into; only\n"
    "                      root's and your own links are followed)\n"
    "                      instead of standard output\n"
    "      --werror        treat warnings as errors (exit 1, nothing written)\n"
    "  -q, --quiet         do not print warnings\n"
    "      --stdin-name N  with FILE '-': name standard input N in messages and\n"
    "                      resolve its relative paths against N's directory\n"
    "  -h, --help          show this help\n"
    "\n"
    "Each option may be given once.\n"
    "\n"
    "Exit status: 0 compiled (warnings allowed), 1 invalid policy (over the\n"
    "16 MiB size limit too) or warnings with --werror, 2 usage or I/O error.\n";

#define OPT_WERROR (MGCTL_OPT_LONG + 1)

static const apr_getopt_option_t opts[] = {
    {"output", 'o', 1, "a file to write, or - for standard output"},
    {"werror", OPT_WERROR, 0, "warnings fail"},
    {"quiet", 'q', 0, "no warnings"},
    {"stdin-name", MGCTL_OPT_STDIN_NAME, 1, "the file name standard input stands for"},
    {"help", 'h', 0, "show this help"},
    {NULL, 0, 0, NULL},
};

/* OUT that is not a regular file — /dev/stdout, a FIFO, a device — is
 * written into, as any tool would: renaming over it would replace the
 * device node itself (as root, -o /dev/null put a regular file in place of
 * /dev/null for every program on the machine). `path` is what `fi` (a stat
 * that followed links) described: the file opened must be that one — a name
 * swapped in between (a link to /etc/shadow) is closed unwritten; nothing
 * is truncated, so opening the wrong file changes nothing. */
static int write_in_place(apr_pool_t *pool, const char *out, const char *path,
                          const apr_finfo_t *fi, const char *text)
{
    char ebuf[256];
    apr_file_t *f;
    apr_finfo_t got;
    apr_status_t rv =
        apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_BINARY, APR_FPROT_OS_DEFAULT, pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&got, APR_FINFO_IDENT | APR_FINFO_TYPE, f);
        if (rv == APR_SUCCESS &&
            (got.device != fi->device || got.inode != fi->inode || got.filetype != fi->filetype)) {
            apr_file_close(f);
            mgctl_err("compile", "cannot write %s: it was replaced while being opened", out);
            return MGCTL_EXIT_USAGE;
        }
        if (rv == APR_SUCCESS)
            rv = apr_file_write_full(f, text, strlen(text), NULL);
        apr_status_t crv = apr_file_close(f);
        if (rv == APR_SUCCESS)
            rv = crv;
    }
    if (rv != APR_SUCCESS) {
        mgctl_err("compile", "cannot write %s: %s", out, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return MGCTL_EXIT_USAGE;
    }
    return MGCTL_EXIT_OK;
}

/* The name OUT's symbolic links lead to, following each only when it
 * belongs to root or to the user running mgctl: another user's link (in a
 * directory they may write) would otherwise make root replace, or write
 * into, whatever file or disk they point it at. Each link is read between
 * two lstat(2)s of the same inode and owner, and the name is built from
 * what was read, never resolved again, so a link swapped meanwhile is not
 * followed. The walk stops at a link whose target is no name (a dangling
 * link, /proc/self/fd/1's "pipe:[...]"): that link is `*path`. */
static int follow_own_links(apr_pool_t *pool, const char *out, const char **path)
{
    const char *p = out;
    for (int depth = 0;; depth++) {
        struct stat a, b;
        char buf[PATH_MAX];
        if (lstat(p, &a) != 0 || !S_ISLNK(a.st_mode))
            break;
        if (a.st_uid != 0 && a.st_uid != geteuid()) {
            mgctl_err("compile",
                      "cannot write %s: %s is a symbolic link owned by uid %lu, neither root "
                      "nor you (mgctl follows no other user's link)",
                      out, p, (unsigned long)a.st_uid);
            return MGCTL_EXIT_USAGE;
        }
        ssize_t n = depth < 40 ? readlink(p, buf, sizeof(buf)) : -1;
        if (n <= 0 || (size_t)n >= sizeof(buf) || lstat(p, &b) != 0 || b.st_ino != a.st_ino ||
            b.st_dev != a.st_dev || b.st_uid != a.st_uid) {
            mgctl_err("compile", "cannot write %s: %s", out,
                      depth < 40 ? "a link on it changed while being read"
                                 : "too many levels of symbolic links");
            return MGCTL_EXIT_USAGE;
        }
        buf[n] = '\0';
        const char *slash = strrchr(p, '/');
        const char *next = buf[0] == '/' || !slash
                               ? apr_pstrdup(pool, buf)
                               : apr_psprintf(pool, "%.*s/%s", (int)(slash - p), p, buf);
        if (lstat(next, &b) != 0)
            break;
        p = next;
    }
    *path = p;
    return MGCTL_EXIT_OK;
}

/* Write via a temporary file in the target's directory and rename, so that
 * a server reloading concurrently never reads a half-written policy. A
 * link to a regular file stays a link: its target is the file replaced. */
static int write_atomically(apr_pool_t *pool, const char *out, const char *text)
{
    char ebuf[256];
    apr_file_t *f;
    apr_finfo_t fi;
    const char *path;
    int rc = follow_own_links(pool, out, &path);
    if (rc != MGCTL_EXIT_OK)
        return rc;
    if (apr_stat(&fi, path, APR_FINFO_TYPE | APR_FINFO_IDENT, pool) == APR_SUCCESS) {
        if (fi.filetype == APR_DIR) {
            mgctl_err("compile", "cannot write %s: it is a directory", out);
            return MGCTL_EXIT_USAGE;
        }
        if (fi.filetype != APR_REG)
            return write_in_place(pool, out, path, &fi, text);
    }
    out = path;
    char *tmpl = apr_pstrcat(pool, out, ".XXXXXX", NULL);
    apr_status_t rv = apr_file_mktemp(&f, tmpl,
                                      APR_FOPEN_CREATE | APR_FOPEN_READ | APR_FOPEN_WRITE |
                                          APR_FOPEN_EXCL | APR_FOPEN_BINARY,
                                      pool);
    if (rv != APR_SUCCESS) {
        mgctl_err("compile", "cannot create a file next to %s: %s", out,
                  apr_strerror(rv, ebuf, sizeof(ebuf)));
        return MGCTL_EXIT_USAGE;
    }
    /* A policy is not a secret (keys live in their own files): the usual
     * rw-r--r-- so that the server can read it. Set on the descriptor: a
     * chmod by name after the close followed whatever link someone who may
     * write the directory had put there under that name (/etc/shadow). */
    apr_os_file_t fd;
    if (apr_os_file_get(&fd, f) == APR_SUCCESS &&
        fchmod(fd, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH) != 0)
        rv = APR_FROM_OS_ERROR(errno);
    apr_size_t len = strlen(text);
    if (rv == APR_SUCCESS)
        rv = apr_file_write_full(f, text, len, NULL);
    if (rv == APR_SUCCESS)
        rv = apr_file_flush(f);
    if (rv == APR_SUCCESS)
        rv = apr_file_sync(f);
    apr_status_t crv = apr_file_close(f);
    if (rv == APR_SUCCESS)
        rv = crv;
    if (rv == APR_SUCCESS)
        rv = apr_file_rename(tmpl, out, pool);
    if (rv == APR_SUCCESS)
        rv = mgctl_sync_dir_of(pool, out);
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmpl, pool);
        mgctl_err("compile", "cannot write %s: %s", out, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return MGCTL_EXIT_USAGE;
    }
    return MGCTL_EXIT_OK;
}

int mgctl_cmd_compile(apr_pool_t *pool, int argc, const char *const *argv)
{
    const char *out = NULL, *stdin_name = NULL;
    int werror = 0, quiet = 0;
    apr_getopt_t *os = mgctl_getopt_init(pool, "compile", argc, argv);
    int ch, rc;
    const char *arg;

    while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, &rc)) > 0) {
        switch (ch) {
        case 'o':
            out = arg;
            break;
        case MGCTL_OPT_STDIN_NAME:
            stdin_name = arg;
            break;
        case OPT_WERROR:
            werror = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        }
    }
    if (ch < 0)
        return rc;
    if (os->argc - os->ind != 1)
        return mgctl_usage_error("compile", "expected exactly one policy FILE");
    if ((rc = mgctl_stdin_check("compile", os->argv + os->ind, 1, stdin_name)) != 0)
        return rc;
    const char *file = mgctl_source_name(os->argv[os->ind], stdin_name);

    mg_diags_t *diags = mg_diags_make(pool);
    mg_policy_t *policy = NULL;
    rc = mgctl_policy_load(pool, os->argv[os->ind], stdin_name, &policy, diags);
    mgctl_diags_print(stderr, pool, diags, MGCTL_FMT_TEXT, !quiet || werror);
    if (rc != MGCTL_EXIT_OK)
        return rc;
    if (werror && diags->warnings > 0) {
        mgctl_err("compile", "%d warning(s) treated as errors (--werror)", diags->warnings);
        return MGCTL_EXIT_FAIL;
    }

    const char *body = mg_policy_emit(pool, policy);
    if (!body) {
        /* mg_policy_emit fails only when malloc does: the policy is valid */
        mgctl_err("compile", "%s: out of memory writing the compiled form (see ulimit -v)", file);
        return MGCTL_EXIT_USAGE;
    }
    const char *text =
        apr_pstrcat(pool, "# mod_media_guard compiled policy v1 sha256:", mg_policy_digest(policy),
                    "\n", body, NULL);
    if (out && strcmp(out, "-") != 0)
        return write_atomically(pool, out, text);
    if (fputs(text, stdout) == EOF) {
        fputs("mgctl compile: error writing to standard output\n", stderr);
        return MGCTL_EXIT_USAGE;
    }
    return MGCTL_EXIT_OK;
}
