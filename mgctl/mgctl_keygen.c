/* mgctl_keygen.c — `mgctl keygen`: write a new signing key (HMAC secret or
 * Ed25519 key pair) as files of mode 0600 that are never overwritten, and
 * print the policy snippet that uses it, only into a directory nobody else
 * can change (mg_dirs.h). Formats: docs/token-spec.md. */
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_portable.h>
#include <apr_file_info.h>
#include <apr_strings.h>

#include "mg_dirs.h"
#include "mg_keys.h"
#include "mgctl_keyopt.h"
#include "mgctl_util.h"

enum { OPT_ALG = MGCTL_OPT_LONG + 1, OPT_ID, OPT_OUT };

static const apr_getopt_option_t opts[] = {
    {"help", 'h', 0, "show this help"},
    {"alg", OPT_ALG, 1, "hmac-sha256 (default), hmac-sha1 or ed25519"},
    {"id", OPT_ID, 1, "a key id: 1-64 of A-Z a-z 0-9 . _ -"},
    {"out", OPT_OUT, 1, "a directory"},
    {NULL, 0, 0, NULL}};

static const char usage_text[] =
    "Usage: mgctl keygen --id ID [--alg hmac-sha256|hmac-sha1|ed25519] [--out DIR]\n"
    "\n"
    "Generate a signed-link key. HMAC keys are written to DIR/ID.key; Ed25519 keys\n"
    "to DIR/ID.key (private, for signers) and DIR/ID.pub (public, enough for web\n"
    "servers). Files are created with mode 0600 and never overwritten, and only in\n"
    "a directory that nobody but you and root can change: one that another user\n"
    "owns or its group or everyone may write (without the sticky bit), below such\n"
    "a directory or reached through another user's link, is refused. The policy\n"
    "`keys:` entry to use is printed on standard output; its `file:` is the path\n"
    "written to (DIR/ID.key), relative to the directory keygen ran in, while a\n"
    "policy resolves a relative `file:` against its own directory: run keygen\n"
    "next to the policy (--out keys for keys/ID.key), give an absolute --out,\n"
    "or edit the path.\n"
    "\n"
    "      --id ID      key id: 1-64 characters A-Z a-z 0-9 . _ - (mg_kid in links)\n"
    "      --alg A      hmac-sha256 (default) | hmac-sha1 | ed25519\n"
    "      --out DIR    directory for the files (default: current directory;\n"
    "                   created with mode 0700 if missing)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Each option may be given once.\n"
    "\n"
    "Exit status: 0 written, 2 usage or I/O error (including an existing file).\n";

/* Write `text` to a new file `path`, mode 0600, never over an existing
 * one, and never as a part: the key goes to a temporary file in the same
 * directory (mkstemp, then fchmod 0600 whatever the umask), is synced, and is then
 * hard-linked to `path` — link(2) fails on an existing name, as O_EXCL did,
 * and makes the whole file appear at once. A keygen killed mid-write
 * (SIGINT, SIGKILL, SIGXFSZ under ulimit -f) left an empty ID.key that the
 * next keygen refused to replace and no policy could load; now at most a
 * .ID.key.XXXXXX stays, which nothing reads by that name. */
static int write_new(apr_pool_t *pool, const char *path, const char *text)
{
    apr_file_t *f;
    char ebuf[128];
    const char *slash = strrchr(path, '/');
    char *tmp = slash
                    ? apr_psprintf(pool, "%.*s.%s.XXXXXX", (int)(slash + 1 - path), path, slash + 1)
                    : apr_psprintf(pool, ".%s.XXXXXX", path);
    apr_status_t rv = apr_file_mktemp(
        &f, tmp, APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL | APR_FOPEN_BINARY, pool);
    if (rv != APR_SUCCESS) {
        mgctl_err("keygen", "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return -1;
    }
    /* mkstemp's 0600 is less the umask (0277 made the key 0400): set it */
    apr_os_file_t fd;
    if (apr_os_file_get(&fd, f) == APR_SUCCESS && fchmod(fd, S_IRUSR | S_IWUSR) != 0)
        rv = APR_FROM_OS_ERROR(errno);
    apr_size_t n = strlen(text);
    if (rv == APR_SUCCESS)
        rv = apr_file_write_full(f, text, n, NULL);
    if (rv == APR_SUCCESS)
        rv = apr_file_flush(f);
    if (rv == APR_SUCCESS)
        rv = apr_file_sync(f);
    apr_status_t crv = apr_file_close(f);
    if (rv == APR_SUCCESS)
        rv = crv;
    if (rv == APR_SUCCESS && link(tmp, path) != 0)
        rv = APR_FROM_OS_ERROR(errno);
    apr_file_remove(tmp, pool);
    if (rv == APR_SUCCESS)
        rv = mgctl_sync_dir_of(pool, path);
    if (rv != APR_SUCCESS) {
        mgctl_err("keygen", "%s: %s%s", path, apr_strerror(rv, ebuf, sizeof(ebuf)),
                  APR_STATUS_IS_EEXIST(rv) ? " (keygen never overwrites a key)" : "");
        return -1;
    }
    return 0;
}

int mgctl_cmd_keygen(apr_pool_t *pool, int argc, const char *const *argv)
{
    const char *alg_name = "hmac-sha256", *id = NULL, *dir = ".";
    apr_getopt_t *os = mgctl_getopt_init(pool, "keygen", argc, argv);
    int ch, rc;
    const char *arg;

    while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, &rc)) > 0) {
        switch (ch) {
        case OPT_ALG:
            alg_name = arg;
            break;
        case OPT_ID:
            id = arg;
            break;
        case OPT_OUT:
            dir = arg;
            break;
        }
    }
    if (ch < 0)
        return rc;
    if (os->ind != os->argc)
        return mgctl_usage_error("keygen", "unexpected operand '%s'", os->argv[os->ind]);
    if (id == NULL)
        return mgctl_usage_error("keygen", "--id ID is required");
    if (!mg_key_id_valid(id))
        return mgctl_usage_error("keygen",
                                 "key id '%s' must be 1-64 characters A-Z a-z 0-9 . _ - "
                                 "(not starting with '.')",
                                 id);
    mg_alg_t alg;
    if ((rc = mgctl_alg_parse("keygen", alg_name, &alg)) != MGCTL_EXIT_OK)
        return rc;

    const char *key_text, *pub_text, *why;
    if (mg_key_generate(pool, alg, &key_text, &pub_text, &why) != MG_OK) {
        mgctl_err("keygen", "%s", why);
        return MGCTL_EXIT_USAGE;
    }
    /* A missing key directory is made private (0700): it holds secrets. */
    apr_status_t rv =
        apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE, pool);
    if (rv != APR_SUCCESS) {
        char ebuf[128];
        mgctl_err("keygen", "cannot create directory %s: %s", dir,
                  apr_strerror(rv, ebuf, sizeof(ebuf)));
        return MGCTL_EXIT_USAGE;
    }
    /* the paths as written to, and so as printed: "keys/k1.key", not
     * "keys//k1.key" for --out keys/, and "k1.key" for the default "." */
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    const char *prefix = strcmp(dir, ".") == 0 ? ""
                         : dl == 1 && dir[0] == '/'
                             ? "/"
                             : apr_pstrcat(pool, apr_pstrmemdup(pool, dir, dl), "/", NULL);
    const char *key_path = apr_pstrcat(pool, prefix, id, ".key", NULL);
    const char *pub_path = apr_pstrcat(pool, prefix, id, ".pub", NULL);
    /* A key written where another user can rename entries (their
     * directory, one above it, their link in /tmp, a group- or world-
     * writable directory) can be swapped for one they know before the
     * policy ever reads it, and then nothing warns: the swapped file is
     * theirs to chmod 600. Refuse, with the loader's own sentences (mg_dirs.h):
     * checked after the directory exists, when nothing above a directory
     * that passes can be changed by another user any more. */
    mg_diags_t *unsafe = mg_diags_make(pool);
    if (mg_dirs_check(pool, key_path, apr_psprintf(pool, "the new key file '%s'", key_path),
                      MG_DIRS_GROUP_OR_OTHERS, MG_SEV_ERROR, unsafe, key_path, 0, 0,
                      "key-file-permissions") > 0) {
        for (int i = 0; i < unsafe->items->nelts; i++)
            mgctl_err("keygen", "%s", APR_ARRAY_IDX(unsafe->items, i, mg_diag_t).msg);
        mgctl_err("keygen",
                  "refused: no key written to %s (write it into a directory that "
                  "only you or root can change)",
                  dir);
        return MGCTL_EXIT_USAGE;
    }
    apr_finfo_t fi;
    if (pub_text != NULL && apr_stat(&fi, pub_path, APR_FINFO_TYPE, pool) == APR_SUCCESS) {
        mgctl_err("keygen", "%s: file exists (keygen never overwrites a key)", pub_path);
        return MGCTL_EXIT_USAGE;
    }
    if (write_new(pool, key_path, key_text) != 0)
        return MGCTL_EXIT_USAGE;
    if (pub_text != NULL && write_new(pool, pub_path, pub_text) != 0) {
        apr_file_remove(key_path, pool);
        return MGCTL_EXIT_USAGE;
    }
    mgctl_err("keygen", "wrote %s%s%s", key_path, pub_text ? " and " : "",
              pub_text ? pub_path : "");
    printf("keys:\n  - id: %s\n    alg: %s\n", id, mg_alg_name(alg));
    if (pub_text != NULL)
        printf("    file: %s    # web servers; signing hosts use %s with sign: true\n", pub_path,
               key_path);
    else
        printf("    file: %s\n    sign: true     # on the host that mints links\n", key_path);
    return MGCTL_EXIT_OK;
}
