/* mgctl_lines.c — the lines of a file descriptor, read in large blocks and
 * cut with memchr (mgctl sign reads a million paths a second: getline()
 * costs a call, a lock and a copy per line, and stdio reads 4 KiB at a
 * time). Before a read that would wait (a pipe or terminal with nothing
 * ready), the given output stream is flushed: a program that writes one
 * path and waits for its link gets it, while a file or a busy pipe still
 * gives few, large writes. */
#include "mgctl_util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINES_BLOCK (64 * 1024)

struct mgctl_lines {
    int fd;
    FILE *flush; /* flushed before a read that would wait, or NULL */
    size_t max;  /* longest line returned whole */
    size_t skip; /* > 0: bytes of a line over max thrown away so far */
    char *buf;
    size_t cap;  /* bytes allocated; one more than can be read, for the NUL */
    size_t pos;  /* start of the next line */
    size_t scan; /* bytes from pos already known to hold no LF */
    size_t end;  /* bytes read */
    int eof;
};

static apr_status_t lines_free(void *data)
{
    mgctl_lines_t *in = data;
    free(in->buf);
    in->buf = NULL;
    return APR_SUCCESS;
}

mgctl_lines_t *mgctl_lines_open(apr_pool_t *pool, int fd, FILE *flush, size_t max)
{
    mgctl_lines_t *in = apr_pcalloc(pool, sizeof(*in));
    in->fd = fd;
    in->flush = flush;
    in->max = max;
    apr_pool_cleanup_register(pool, in, lines_free, apr_pool_cleanup_null);
    return in;
}

/* Nothing to read right now (a read would block)? Regular files are always
 * ready; poll errors count as ready, and the read then says what is wrong. */
static int would_wait(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

/* Room for at least one more block after the partial line at pos: move it
 * to the front, and grow the buffer only for a line longer than a block. */
static int make_room(mgctl_lines_t *in)
{
    if (in->pos > 0) {
        memmove(in->buf, in->buf + in->pos, in->end - in->pos);
        in->end -= in->pos;
        in->pos = 0;
    }
    if (in->buf != NULL && in->cap - in->end > LINES_BLOCK)
        return 0;
    size_t cap = in->cap ? 2 * in->cap : LINES_BLOCK + 1;
    while (cap - in->end <= LINES_BLOCK)
        cap *= 2;
    char *b = realloc(in->buf, cap);
    if (b == NULL) {
        errno = ENOMEM;
        return -1;
    }
    in->buf = b;
    in->cap = cap;
    return 0;
}

int mgctl_lines_next(mgctl_lines_t *in, char **line, size_t *len)
{
    for (;;) {
        size_t have = in->end - in->pos;
        if (have > in->scan || (in->eof && have > 0)) {
            char *s = in->buf + in->pos;
            char *nl = have > in->scan ? memchr(s + in->scan, '\n', have - in->scan) : NULL;
            if (nl != NULL || in->eof) {
                /* a line, or the last one without its LF */
                *len = nl != NULL ? (size_t)(nl - s) : have;
                in->pos += *len + (nl != NULL);
                in->scan = 0;
                if (in->skip > 0 || *len > in->max) {
                    *len += in->skip;
                    *line = NULL;
                    in->skip = 0;
                    return 2;
                }
                s[*len] = '\0'; /* the LF, or the spare byte after the data */
                *line = s;
                return 1;
            }
        }
        if (in->eof) {
            if (in->skip == 0)
                return 0;
            *len = in->skip; /* an overlong last line, its end just read */
            *line = NULL;
            in->skip = 0;
            return 2;
        }
        if (have > in->max) {
            /* no LF within max bytes: the line is too long whatever
             * follows; count what is read of it from now on, keep none */
            in->skip += have;
            in->pos = in->end;
            have = 0;
        }
        in->scan = have;
        if (make_room(in) != 0)
            return -1;
        if (in->flush != NULL && would_wait(in->fd))
            fflush(in->flush); /* a failure stays in ferror(), checked at the end */
        ssize_t n = read(in->fd, in->buf + in->end, in->cap - in->end - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            in->eof = 1;
        in->end += (size_t)n;
    }
}

size_t mgctl_lines_capacity(const mgctl_lines_t *in)
{
    return in->cap;
}
