/* mg_dirs.c — writable directories above a trusted file (mg_dirs.h). */
#include "mg_dirs.h"

#include <stdlib.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_strings.h>
#include <apr_tables.h>

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
} where_t;

static int walk(apr_pool_t *pool, const char *abs, const char *what, const char *how,
                mg_dirs_who_t who, apr_array_header_t *seen, const where_t *w)
{
    char *dir = apr_pstrdup(pool, abs);
    int n = 0;
    if (dir[0] != '/')
        return 0;
    to_parent(dir);
    for (;;) {
        apr_finfo_t fi;
        apr_status_t rv =
            apr_stat(&fi, dir, APR_FINFO_TYPE | APR_FINFO_PROT | APR_FINFO_IDENT, pool);
        /* stat follows a link: a directory named through a link is judged
         * by its target's mode (a link's own mode means nothing), and the
         * directory holding the link is the next one up */
        if ((rv == APR_SUCCESS || rv == APR_INCOMPLETE) && (fi.valid & APR_FINFO_PROT) &&
            (fi.valid & APR_FINFO_IDENT) == APR_FINFO_IDENT && fi.filetype == APR_DIR &&
            !seen_before(seen, &fi) && !(fi.protection & APR_FPROT_WSTICKY)) {
            const char *by = NULL, *fix = NULL;
            int others = (fi.protection & APR_FPROT_WWRITE) != 0;
            int group = who == MG_DIRS_GROUP_OR_OTHERS && (fi.protection & APR_FPROT_GWRITE);
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
                mg_diag_add(w->diags, MG_SEV_WARNING, w->file, w->line, w->col, w->code,
                            "directory '%s' above %s%s is writable by %s and has no sticky bit: "
                            "whoever can write the directory can rename a file of their own "
                            "over it, whatever its own mode says (chmod %s '%s', or +t)",
                            dir, what, how, by, fix, dir);
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
                  mg_diags_t *diags, const char *file, int line, int col, const char *code)
{
    const where_t w = {diags, file, line, col, code};
    char *abs = NULL;
    int n;
    apr_array_header_t *seen = apr_array_make(pool, 8, sizeof(seen_t));

    if (path == NULL || *path == '\0' ||
        apr_filepath_merge(&abs, NULL, path, 0, pool) != APR_SUCCESS)
        return 0;
    /* the path as given: the directories that hold it and each link on it */
    n = walk(pool, abs, what, "", who, seen, &w);
    /* the path with every link resolved: the directories that hold the
     * bytes (realpath mallocs its answer) */
    char *real = realpath(abs, NULL);
    if (real != NULL) {
        if (strcmp(real, abs) != 0)
            n += walk(pool, real, what, " (its path with symbolic links resolved)", who, seen, &w);
        free(real);
    }
    return n;
}
