/* mg_file.c — bounded whole-file reads (mg_file.h). */
#include "mg_file.h"

#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/crypto.h>

static mg_status_t fail(apr_pool_t *pool, const char *path, mg_file_t *f, mg_file_error_t e,
                        apr_status_t rv, apr_size_t max, const char **why)
{
    char ebuf[256];
    f->error = e;
    f->rv = rv;
    if (why != NULL) {
        switch (e) {
        case MG_FILE_NOT_REGULAR:
            *why = apr_psprintf(pool, "%s: not a regular file", path);
            break;
        case MG_FILE_TOO_LARGE:
            *why = apr_psprintf(pool, "%s: larger than %lu bytes", path, (unsigned long)max);
            break;
        default:
            *why = apr_psprintf(pool, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
            break;
        }
    }
    return e == MG_FILE_TOO_LARGE ? MG_EINVAL : MG_EIO;
}

mg_status_t mg_file_read(apr_pool_t *pool, const char *path, apr_size_t max, mg_file_t *f,
                         const char **why)
{
    apr_file_t *fd;
    apr_finfo_t fi;

    memset(f, 0, sizeof(*f));
    /* Look before opening, so a device is never opened at all; then open
     * non-blocking, so a file swapped for a FIFO in between cannot block,
     * and check the type again on the open descriptor. */
    apr_status_t rv = apr_stat(&fi, path, APR_FINFO_TYPE, pool);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG)
        return fail(pool, path, f, MG_FILE_NOT_REGULAR, APR_SUCCESS, max, why);
    rv = apr_file_open(&fd, path, APR_FOPEN_READ | APR_FOPEN_BINARY | APR_FOPEN_NONBLOCK,
                       APR_FPROT_OS_DEFAULT, pool);
    if (rv != APR_SUCCESS)
        return fail(pool, path, f, MG_FILE_CANNOT_OPEN, rv, max, why);
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE | APR_FINFO_PROT, fd);
    if (rv != APR_SUCCESS) {
        apr_file_close(fd);
        return fail(pool, path, f, MG_FILE_READ_ERROR, rv, max, why);
    }
    if (fi.filetype != APR_REG) {
        apr_file_close(fd);
        return fail(pool, path, f, MG_FILE_NOT_REGULAR, APR_SUCCESS, max, why);
    }
    if ((apr_uint64_t)fi.size > (apr_uint64_t)max) {
        apr_file_close(fd);
        return fail(pool, path, f, MG_FILE_TOO_LARGE, APR_SUCCESS, max, why);
    }
    f->protection = fi.protection;

    /* The size is only a first guess (the file may change while it is
     * read); the bound holds for what is actually read. */
    apr_size_t cap = (apr_size_t)fi.size, n = 0;
    char *b = apr_palloc(pool, cap + 1);
    for (;;) {
        if (n == cap) {
            /* Full: one byte more means the file goes on (grown since the
             * stat, or over the bound); none means it ended right here. */
            char probe;
            apr_size_t one = 1;
            rv = apr_file_read(fd, &probe, &one);
            if (APR_STATUS_IS_EOF(rv) || (rv == APR_SUCCESS && one == 0))
                break;
            if (rv != APR_SUCCESS || cap >= max) {
                apr_file_close(fd);
                OPENSSL_cleanse(b, n);
                return rv != APR_SUCCESS
                           ? fail(pool, path, f, MG_FILE_READ_ERROR, rv, max, why)
                           : fail(pool, path, f, MG_FILE_TOO_LARGE, APR_SUCCESS, max, why);
            }
            apr_size_t ncap = cap < 32 ? 64 : cap * 2; /* > cap, as cap < max */
            if (ncap > max || cap > max / 2)
                ncap = max;
            char *nb = apr_palloc(pool, ncap + 1);
            memcpy(nb, b, n);
            OPENSSL_cleanse(b, n);
            b = nb;
            cap = ncap;
            b[n++] = probe;
            continue;
        }
        apr_size_t want = cap - n;
        rv = apr_file_read(fd, b + n, &want);
        n += want;
        if (APR_STATUS_IS_EOF(rv))
            break;
        if (rv != APR_SUCCESS) {
            apr_file_close(fd);
            OPENSSL_cleanse(b, n);
            return fail(pool, path, f, MG_FILE_READ_ERROR, rv, max, why);
        }
    }
    apr_file_close(fd);
    b[n] = '\0';
    f->data = b;
    f->len = n;
    return MG_OK;
}
