/* mg_dirs.c — writable directories above a trusted file (mg_dirs.h). */
#include "mg_dirs.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_file_info.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_user.h>

typedef struct seen {
    apr_dev_t dev;
    apr_ino_t ino;
} seen_t;

/* Whether the directory (dev, ino) was examined already on this file's
 * walks; notes it if not. */
static int seen_before(apr_array_header_t *seen, const apr_finfo_t *fi)
{
    for (int i = 0; i < seen->nelts; i++) {
        const seen_t *s = &APR_ARRAY_IDX(seen, i, seen_t);
        if (s->dev == fi->device && s->ino == fi->inode)
            return 1;
    }
    seen_t *s = apr_array_push(seen);
    s->dev = fi->device;
    s->ino = fi->inode;
    return 0;
}

/* The parent of an absolute path, in place ("/a/b" -> "/a", "/a" -> "/"). */
static void to_parent(char *p)
{
    char *slash = strrchr(p, '/');
    if (slash == NULL || slash == p)
        p[1] = '\0';
    else
        *slash = '\0';
}

typedef struct where {
    mg_diags_t *diags;
    const char *file;
    int line, col;
    const char *code;
    mg_severity_t everyone; /* of a directory anyone may write (mg_dirs.h) */
} where_t;

/* Whether a file owned by `uid` can be trusted by this process: owned by
 * root or by the user the process runs as (Apache reads its configuration
 * as root; mgctl runs as whoever runs it). Any other owner may rename
 * entries in a directory of theirs, or replace a file of theirs. */
static int trusted_owner(apr_uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* "user 'nobody' (uid 65534)", or "uid 4242" for a uid with no name. */
static const char *owner_name(apr_pool_t *pool, apr_uid_t uid)
{
    char *name = NULL;
    if (apr_uid_name_get(&name, uid, pool) == APR_SUCCESS && name != NULL)
        return apr_psprintf(pool, "user '%s' (uid %lu)", name, (unsigned long)uid);
    return apr_psprintf(pool, "uid %lu", (unsigned long)uid);
}

/* A symbolic link named `path` that another user owns: in a directory with
 * the sticky bit (/tmp) its owner may replace it and so point the path
 * anywhere. Secrets only (the owner rule, mg_dirs.h). */
static int link_owner(apr_pool_t *pool, const char *path, const char *what, const char *how,
                      const where_t *w)
{
    apr_finfo_t li;
    apr_status_t rv = apr_stat(&li, path, APR_FINFO_LINK | APR_FINFO_TYPE | APR_FINFO_USER, pool);
    if ((rv != APR_SUCCESS && rv != APR_INCOMPLETE) || !(li.valid & APR_FINFO_USER) ||
        li.filetype != APR_LNK || trusted_owner(li.user))
        return 0;
    mg_diag_add(w->diags, MG_SEV_WARNING, w->file, w->line, w->col, w->code,
                "symbolic link '%s' on the path of %s%s is owned by %s, neither root nor the "
                "user reading it: that user can point it at a file of their own (chown -h root "
                "'%s')",
                path, what, how, owner_name(pool, li.user), path);
    return 1;
}

static int walk(apr_pool_t *pool, const char *abs, const char *what, const char *how,
                mg_dirs_who_t who, apr_array_header_t *seen, const where_t *w)
{
    char *dir = apr_pstrdup(pool, abs);
    int n = 0;
    const int owners = who == MG_DIRS_GROUP_OR_OTHERS;
    if (dir[0] != '/')
        return 0;
    if (owners)
        n += link_owner(pool, dir, what, how, w);
    to_parent(dir);
    for (;;) {
        apr_finfo_t fi;
        if (owners)
            n += link_owner(pool, dir, what, how, w);
        apr_status_t rv = apr_stat(&fi, dir,
                                   APR_FINFO_TYPE | APR_FINFO_PROT | APR_FINFO_IDENT |
                                       (owners ? APR_FINFO_USER : 0),
                                   pool);
        /* stat follows a link: a directory named through a link is judged
         * by its target's mode (a link's own mode means nothing), and the
         * directory holding the link is the next one up */
        if ((rv == APR_SUCCESS || rv == APR_INCOMPLETE) && (fi.valid & APR_FINFO_PROT) &&
            (fi.valid & APR_FINFO_IDENT) == APR_FINFO_IDENT && fi.filetype == APR_DIR &&
            !seen_before(seen, &fi)) {
            const char *by = NULL, *fix = NULL;
            int sticky = (fi.protection & APR_FPROT_WSTICKY) != 0;
            int others = !sticky && (fi.protection & APR_FPROT_WWRITE) != 0;
            int group =
                !sticky && who == MG_DIRS_GROUP_OR_OTHERS && (fi.protection & APR_FPROT_GWRITE);
            /* the whole fix at once: "go-w" when both bits count */
            if (others && group) {
                by = "its group and by everyone";
                fix = "go-w";
            } else if (others) {
                by = "everyone";
                fix = "o-w";
            } else if (group) {
                by = "its group";
                fix = "g-w";
            }
            if (by != NULL) {
                /* anyone on the machine: w->everyone (an error for what
                 * decides access); a group: a warning (mg_dirs.h) */
                mg_diag_add(w->diags, others ? w->everyone : MG_SEV_WARNING, w->file, w->line,
                            w->col, w->code,
                            "directory '%s' above %s%s is writable by %s and has no sticky bit: "
                            "whoever can write the directory can rename a file of their own "
                            "over it, whatever its own mode says (chmod %s '%s', or +t)",
                            dir, what, how, by, fix, dir);
                n++;
            }
            /* its owner may rename entries whatever the mode (and sticky
             * bit) says: a secret is only as safe as the least trusted
             * owner above it */
            if (owners && (fi.valid & APR_FINFO_USER) && !trusted_owner(fi.user)) {
                mg_diag_add(w->diags, MG_SEV_WARNING, w->file, w->line, w->col, w->code,
                            "directory '%s' above %s%s is owned by %s, neither root nor the user "
                            "reading it: that user can rename a file of their own over it "
                            "(chown root '%s')",
                            dir, what, how, owner_name(pool, fi.user), dir);
                n++;
            }
        }
        if (strcmp(dir, "/") == 0)
            break;
        to_parent(dir);
    }
    return n;
}

int mg_dirs_check(apr_pool_t *pool, const char *path, const char *what, mg_dirs_who_t who,
                  mg_severity_t everyone, mg_diags_t *diags, const char *file, int line, int col,
                  const char *code)
{
    const where_t w = {diags, file, line, col, code, everyone};
    char *abs = NULL;
    int n, n_file = 0;
    apr_array_header_t *seen = apr_array_make(pool, 8, sizeof(seen_t));

    if (path == NULL || *path == '\0' ||
        apr_filepath_merge(&abs, NULL, path, 0, pool) != APR_SUCCESS)
        return 0;
    /* a secret's own owner: another user can write a new secret into it
     * whatever its mode (chmod is the owner's) */
    if (who == MG_DIRS_GROUP_OR_OTHERS) {
        apr_finfo_t fi;
        apr_status_t rv = apr_stat(&fi, abs, APR_FINFO_TYPE | APR_FINFO_USER, pool);
        if ((rv == APR_SUCCESS || rv == APR_INCOMPLETE) && (fi.valid & APR_FINFO_USER) &&
            !trusted_owner(fi.user)) {
            mg_diag_add(diags, MG_SEV_WARNING, file, line, col, code,
                        "%s is owned by %s, neither root nor the user reading it: that user can "
                        "replace it (chown root '%s')",
                        what, owner_name(pool, fi.user), abs);
            n_file = 1;
        }
    }
    /* the path as given: the directories that hold it and each link on it */
    n = n_file + walk(pool, abs, what, "", who, seen, &w);
    /* the path with every link resolved: the directories that hold the
     * bytes (realpath mallocs its answer) */
    char *real = realpath(abs, NULL);
    const char *resolved = NULL;
    if (real != NULL) {
        resolved = apr_pstrdup(pool, real);
        free(real);
    } else {
        /* a file not written yet (mgctl keygen's new key): resolve the
         * directory that will hold it, so that the directories above a
         * linked --out are judged too, not only the link's target */
        char *slash = strrchr(abs, '/');
        char *dir = slash != NULL && slash != abs
                        ? apr_pstrmemdup(pool, abs, (apr_size_t)(slash - abs))
                        : NULL;
        char *rdir = dir != NULL ? realpath(dir, NULL) : NULL;
        if (rdir != NULL) {
            resolved = apr_pstrcat(pool, strcmp(rdir, "/") == 0 ? "" : rdir, slash, NULL);
            free(rdir);
        }
    }
    if (resolved != NULL && strcmp(resolved, abs) != 0)
        n += walk(pool, resolved, what, " (its path with symbolic links resolved)", who, seen, &w);
    return n;
}
