/* mg_file.h — the one way the library and mgctl read a whole file: policies,
 * key files, revocation lists, time zones, store passwords, policy tests.
 *
 * Every such file is named by an administrator and read at configuration
 * time (apache2 -t, start, reload) or by mgctl, so the reader must neither
 * hang nor swallow memory: it refuses what is not a regular file (a FIFO
 * would block until a writer comes, a device may never end) and anything
 * over the caller's bound, counted on the bytes really read, so a file that
 * grows while it is read is refused, never truncated.
 */
#ifndef MG_FILE_H
#define MG_FILE_H

#include <apr_file_info.h>
#include <apr_pools.h>

#include "mg_diag.h"

/* Which way a read failed, for callers that word each case their own way. */
typedef enum {
    MG_FILE_OK = 0,
    MG_FILE_CANNOT_OPEN, /* open failed; `rv` says why (APR_STATUS_IS_ENOENT, ...) */
    MG_FILE_NOT_REGULAR, /* a FIFO, device, directory or socket */
    MG_FILE_TOO_LARGE,   /* more than `max` bytes */
    MG_FILE_READ_ERROR   /* a read failed part way; `rv` says why */
} mg_file_error_t;

typedef struct mg_file {
    char *data;                 /* the content, NUL-terminated; NULL on failure */
    apr_size_t len;             /* bytes, without the NUL */
    apr_fileperms_t protection; /* of the opened file (key files: readable by others?) */
    mg_file_error_t error;
    apr_status_t rv; /* APR status behind CANNOT_OPEN and READ_ERROR, else APR_SUCCESS */
} mg_file_t;

/* Read the regular file at `path`, at most `max` bytes, into `pool` memory.
 * MG_OK with f->data and f->len set; else f->error and one of
 *   MG_EIO    cannot open / not a regular file / read error,
 *   MG_EINVAL larger than `max`,
 * with *why (may be NULL) a sentence that starts with the path: "PATH: not
 * a regular file", "PATH: larger than N bytes", "PATH: <system error>".
 * Partial content of a failed read is wiped, so a secret never lingers in
 * the pool. */
mg_status_t mg_file_read(apr_pool_t *pool, const char *path, apr_size_t max, mg_file_t *f,
                         const char **why);

#endif /* MG_FILE_H */
