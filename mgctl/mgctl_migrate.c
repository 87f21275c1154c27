/* mgctl_migrate.c — `mgctl migrate-report FILE`: for a site moving its
 * links to mod_media_guard, check every URL of a file (one per line, or
 * access-log lines in the common/combined format) against a policy's keys
 * — native and foreign formats alike, with the module's own
 * mg_token_check() — and say which still verify, under which key and
 * format, and when they expire. Streaming, one pool cleared per line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>

#include "mg_ip.h"
#include "mg_time.h"
#include "mg_token.h"
#include "mgctl_keyopt.h"
#include "mgctl_util.h"

#define MIGRATE_LINE_MAX (16 * 1024)

enum { OPT_NOW = MGCTL_KEYOPT_NEXT, OPT_IP };

static const apr_getopt_option_t opts[] = {
    {"help", 'h', 0, "show this help"},
    MGCTL_KEYOPT_OPTIONS,
    {"now", OPT_NOW, 1, "RFC 3339 time or epoch seconds"},
    {"ip", OPT_IP, 1, "client address for plain URL lines (default 127.0.0.1)"},
    {"format", 'f', 1, "text (default) or json"},
    {NULL, 0, 0, NULL}};

static const char usage_text[] =
    "Usage: mgctl migrate-report --policy FILE [--now TIME] [--ip ADDR] [-f text|json]\n"
    "                            [FILE | -]\n"
    "\n"
    "Check every link of FILE (standard input when absent or '-') against the policy's\n"
    "keys, as mod_media_guard would: native (mg-v1) links and every foreign format the\n"
    "policy has keys for (docs/token-formats.md). A line is a URL or path, or an\n"
    "access-log line in the common or combined format (its client address is used\n"
    "for links bound to one; plain URLs use --ip). Blank lines and lines starting\n"
    "with '#' are skipped. A line over 16 KiB (or with a NUL byte) is an error at\n"
    "FILE:LINE:COLUMN, never read whole, and the next line is read (exit 1).\n"
    "\n"
    "Text output: one line per link —\n"
    "  valid    FORMAT KEY expires TIME   URL\n"
    "  invalid  REASON [FORMAT KEY]       URL\n"
    "then a summary: links per format and key, refusals per reason, and the last\n"
    "expiry among the valid links (when the old keys can go); control bytes of a\n"
    "URL are written as \\r, \\xNN. JSON: one object per link, then a summary object.\n"
    "\n"
    "  -p, --policy FILE   the policy (its keys and tokens: settings)\n"
    "      --now TIME      check as if at TIME (RFC 3339 or epoch seconds)\n"
    "      --ip ADDR       client address for lines that are plain URLs\n"
    "  -f, --format F      text (default) | json\n"
    "  -h, --help          show this help\n"
    "\n"
    "Each option may be given once.\n"
    "\n"
    "Exit status: 0 every link verifies, 1 some do not (or the policy is invalid),\n"
    "2 usage or I/O error.\n";

/* From an access-log line  IP - user [date] "GET /target HTTP/1.1" ...
 * the client address and the request target; 0 when it is not one. */
static int parse_log_line(apr_pool_t *pool, const char *line, const char **ip, const char **target)
{
    const char *sp = strchr(line, ' ');
    const char *q = strchr(line, '"');
    if (sp == NULL || q == NULL || q < sp)
        return 0;
    const char *m = q + 1, *t = strchr(m, ' ');
    if (t == NULL)
        return 0;
    const char *te = strchr(t + 1, ' ');
    const char *qe = strchr(t + 1, '"');
    if (qe == NULL)
        return 0;
    if (te == NULL || te > qe)
        te = qe;
    mg_ip_t addr;
    const char *a = apr_pstrmemdup(pool, line, (apr_size_t)(sp - line));
    if (mg_ip_parse(a, &addr) != 0)
        return 0;
    *ip = a;
    *target = apr_pstrmemdup(pool, t + 1, (apr_size_t)(te - t - 1));
    return 1;
}

typedef struct tally {
    apr_hash_t *valid;  /* "format key" -> count */
    apr_hash_t *reason; /* reason -> count */
    long total, ok;
    apr_time_t last;
} tally_t;

static void bump(apr_pool_t *pool, apr_hash_t *h, const char *k)
{
    long *n = apr_hash_get(h, k, APR_HASH_KEY_STRING);
    if (n == NULL) {
        n = apr_pcalloc(pool, sizeof(*n));
        apr_hash_set(h, apr_pstrdup(pool, k), APR_HASH_KEY_STRING, n);
    }
    (*n)++;
}

static int check_line(apr_pool_t *lp, apr_pool_t *pool, const mg_policy_t *policy, const char *line,
                      const char *ip, apr_time_t now, mgctl_format_t format, tally_t *t)
{
    const char *url = line, *client = ip;
    parse_log_line(lp, line, &client, &url);
    mg_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.now = now;
    req.client_ip = client;
    req.peer_ip = client;
    const char *p = url, *s = strstr(url, "://");
    if (url[0] != '/' && s != NULL)
        p = strchr(s + 3, '/');
    mg_token_claims_t c;
    mg_reason_t r;
    memset(&c, 0, sizeof(c));
    if (p == NULL || p[0] != '/') {
        r = MG_R_TOKEN_MALFORMED;
        c.detail = "not a URL or path";
    } else {
        const char *qm = strchr(p, '?');
        req.raw_path = qm ? apr_pstrmemdup(lp, p, (apr_size_t)(qm - p)) : p;
        req.query = qm ? qm + 1 : NULL;
        r = mg_token_check(lp, policy, &req, &c);
    }
    char tb[32];
    const char *exp = c.expires ? mg_time_format(c.expires, tb, sizeof(tb)) : NULL;
    const char *fmt = c.format ? c.format : "-", *kid = c.kid ? c.kid : "-";
    t->total++;
    if (r == MG_R_ALLOWED) {
        t->ok++;
        bump(pool, t->valid, apr_pstrcat(lp, fmt, " ", kid, NULL));
        if (c.expires == 0 || (t->last != -1 && c.expires > t->last))
            t->last = c.expires == 0 ? -1 : c.expires;
    } else {
        bump(pool, t->reason, mg_reason_name(r));
    }
    if (format == MGCTL_FMT_JSON) {
        printf("{\"url\":%s,\"valid\":%s,\"reason\":%s,\"detail\":%s,\"format\":%s,\"kid\":%s,"
               "\"expires\":%s,\"client\":%s}\n",
               mgctl_json_str(lp, url), r == MG_R_ALLOWED ? "true" : "false",
               mgctl_json_str(lp, r == MG_R_ALLOWED ? "allowed-by-token" : mg_reason_name(r)),
               mgctl_json_str(lp, r == MG_R_ALLOWED ? NULL : c.detail),
               mgctl_json_str(lp, c.format), mgctl_json_str(lp, c.kid),
               mgctl_json_str(lp, r == MG_R_ALLOWED ? exp : NULL), mgctl_json_str(lp, client));
    } else if (r == MG_R_ALLOWED) {
        printf("valid    %s %s expires %s   %s\n", fmt, mg_one_line(lp, kid), exp ? exp : "never",
               mg_one_line(lp, url));
    } else {
        /* the URL is the input's: a CR or an ESC sequence in a log line must
         * not redraw the terminal (an "invalid" line shown as "valid") */
        printf("invalid  %s%s%s%s%s   %s\n", mg_reason_name(r), c.format ? " " : "",
               c.format ? fmt : "", c.kid ? " " : "", c.kid ? mg_one_line(lp, kid) : "",
               mg_one_line(lp, url));
    }
    return r == MG_R_ALLOWED ? 0 : 1;
}

static void print_summary(apr_pool_t *pool, const tally_t *t, mgctl_format_t format)
{
    char tb[32];
    const char *last = t->last == -1 ? "never"
                       : t->last     ? mg_time_format(t->last, tb, sizeof(tb))
                                     : NULL;
    if (format == MGCTL_FMT_JSON) {
        printf("{\"summary\":{\"links\":%ld,\"valid\":%ld,\"last_expiry\":%s,\"by_key\":{",
               t->total, t->ok, mgctl_json_str(pool, last));
        int first = 1;
        for (apr_hash_index_t *hi = apr_hash_first(pool, t->valid); hi; hi = apr_hash_next(hi)) {
            const void *k;
            void *v;
            apr_hash_this(hi, &k, NULL, &v);
            printf("%s%s:%ld", first ? "" : ",", mgctl_json_str(pool, k), *(long *)v);
            first = 0;
        }
        printf("},\"refused\":{");
        first = 1;
        for (apr_hash_index_t *hi = apr_hash_first(pool, t->reason); hi; hi = apr_hash_next(hi)) {
            const void *k;
            void *v;
            apr_hash_this(hi, &k, NULL, &v);
            printf("%s%s:%ld", first ? "" : ",", mgctl_json_str(pool, k), *(long *)v);
            first = 0;
        }
        printf("}}}\n");
        return;
    }
    printf("\n%ld link(s), %ld valid, %ld refused\n", t->total, t->ok, t->total - t->ok);
    for (apr_hash_index_t *hi = apr_hash_first(pool, t->valid); hi; hi = apr_hash_next(hi)) {
        const void *k;
        void *v;
        apr_hash_this(hi, &k, NULL, &v);
        printf("  valid under %s: %ld\n", (const char *)k, *(long *)v);
    }
    for (apr_hash_index_t *hi = apr_hash_first(pool, t->reason); hi; hi = apr_hash_next(hi)) {
        const void *k;
        void *v;
        apr_hash_this(hi, &k, NULL, &v);
        printf("  refused %s: %ld\n", (const char *)k, *(long *)v);
    }
    if (last != NULL)
        printf("last expiry of a valid link: %s\n", last);
}

int mgctl_cmd_migrate_report(apr_pool_t *pool, int argc, const char *const *argv)
{
    mgctl_keyopt_t ko;
    const char *now_s = NULL, *ip = "127.0.0.1", *arg;
    mgctl_format_t format = MGCTL_FMT_TEXT;
    int ch, rc;
    memset(&ko, 0, sizeof(ko));
    apr_getopt_t *os = mgctl_getopt_init(pool, "migrate-report", argc, argv);
    while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, &rc)) > 0) {
        switch (ch) {
        case OPT_NOW:
            now_s = arg;
            break;
        case OPT_IP:
            ip = arg;
            break;
        case 'f':
            if (mgctl_format_parse(arg, 1u << MGCTL_FMT_TEXT | 1u << MGCTL_FMT_JSON, &format))
                return mgctl_usage_error("migrate-report", "--format is text or json");
            break;
        default:
            mgctl_keyopt_take(&ko, ch, arg);
            break;
        }
    }
    if (ch < 0)
        return rc;
    if (os->argc - os->ind > 1)
        return mgctl_usage_error("migrate-report", "expected at most one FILE");
    if (ko.policy_file == NULL)
        return mgctl_usage_error("migrate-report", "--policy FILE is required");
    apr_time_t now = apr_time_now();
    if (now_s != NULL && mg_time_parse(now_s, &now) != 0)
        return mgctl_usage_error("migrate-report", "--now '%s' is not %s", now_s,
                                 mgctl_time_expected(now_s));
    mg_ip_t addr;
    if (mg_ip_parse(ip, &addr) != 0)
        return mgctl_usage_error("migrate-report", "--ip '%s' is not an IPv4 or IPv6 address", ip);
    const char *file = os->ind < os->argc ? os->argv[os->ind] : "-";
    mg_policy_t *policy;
    if ((rc = mgctl_keyopt_load(pool, "migrate-report", &ko, &policy)) != MGCTL_EXIT_OK)
        return rc;
    const int from_stdin = strcmp(file, "-") == 0;
    int fd = from_stdin ? 0 : open(file, O_RDONLY | O_CLOEXEC);
    const char *name = from_stdin ? "<stdin>" : file;
    if (fd < 0) {
        mgctl_err("migrate-report", "cannot read '%s': %s", file, strerror(errno));
        return MGCTL_EXIT_USAGE;
    }
    tally_t t;
    memset(&t, 0, sizeof(t));
    t.valid = apr_hash_make(pool);
    t.reason = apr_hash_make(pool);
    apr_pool_t *lp;
    apr_pool_create(&lp, pool);
    /* the reader holds at most MIGRATE_LINE_MAX bytes of a line (plus its
     * blocks): a log with no LF, or /dev/zero, is refused line by line,
     * never read whole into memory first */
    apr_pool_t *rp;
    apr_pool_create(&rp, pool);
    mgctl_lines_t *in = mgctl_lines_open(rp, fd, NULL, MIGRATE_LINE_MAX);
    char *line;
    size_t n;
    long lineno = 0;
    int failed = 0, more;
    while ((more = mgctl_lines_next(in, &line, &n)) > 0) {
        lineno++;
        if (more == 2) {
            /* file:line:column of the first byte that cannot be read */
            fprintf(stderr, "%s:%ld:%d: error: the line is longer than %d bytes\n",
                    mg_one_line(pool, name), lineno, MIGRATE_LINE_MAX + 1, MIGRATE_LINE_MAX);
            failed = 1;
            continue;
        }
        while (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        size_t lead = strspn(line, " \t");
        if (lead == n || line[lead] == '#')
            continue;
        const char *nul = memchr(line, '\0', n);
        if (nul != NULL) {
            fprintf(stderr, "%s:%ld:%ld: error: a NUL byte in the line\n", mg_one_line(pool, name),
                    lineno, (long)(nul - line) + 1);
            failed = 1;
            continue;
        }
        failed |= check_line(lp, pool, policy, line + lead, ip, now, format, &t);
        apr_pool_clear(lp);
    }
    int read_errno = errno;
    apr_pool_destroy(rp);
    if (!from_stdin)
        close(fd);
    if (more < 0) {
        mgctl_err("migrate-report", "cannot read '%s': %s", name, strerror(read_errno));
        return MGCTL_EXIT_USAGE;
    }
    print_summary(pool, &t, format);
    return failed ? MGCTL_EXIT_FAIL : MGCTL_EXIT_OK;
}
