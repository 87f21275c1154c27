/* mgctl_opt.c — option parsing for every mgctl subcommand: apr_getopt_long
 * with interleaved operands, "-" as standard input, options given twice,
 * usage errors, --format values and what a time option expects.
 */
#include "mgctl_util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

/* What one parse remembers: getopt's last complaint (kept, not printed, so
 * that a missing argument can be reported with the option's full name and
 * its values) and which options were already given, with their values (a
 * single-value option given twice is a usage error, not "last one wins"). */
#define SEEN_MAX 512
typedef struct parse_state {
    char err[256];
    const char *seen[SEEN_MAX];
} parse_state_t;

/* getopt's complaints arrive as "CMD: missing argument: x\n" (or --name);
 * kept for mgctl_getopt_next. (The attribute lets clang's
 * -Wformat-nonliteral accept the vsnprintf.) */
static void getopt_err(void *arg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void getopt_err(void *arg, const char *fmt, ...)
{
    parse_state_t *ps = arg;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, sizeof(ps->err), fmt, ap);
    va_end(ap);
}

/* APR's getopt refuses a bare "-" as an invalid option, but "-" is the
 * operand "standard input" (and the value of options such as -o -). Each
 * "-" is swapped for this stand-in, which getopt takes for an operand,
 * and swapped back (by address: a user's own text never matches) when it
 * comes out as an option's value or as an operand. */
static const char stdin_standin[] = "(standard input)";

apr_getopt_t *mgctl_getopt_init(apr_pool_t *pool, const char *cmd, int argc,
                                const char *const *argv)
{
    apr_getopt_t *os;
    const char **args = apr_palloc(pool, sizeof(*args) * ((size_t)argc + 1));
    (void)cmd;
    for (int i = 0; i < argc; i++)
        args[i] = strcmp(argv[i], "-") == 0 ? stdin_standin : argv[i];
    args[argc] = NULL;
    apr_getopt_init(&os, pool, argc, args);
    os->interleave = 1;
    os->errfn = getopt_err;
    os->errarg = apr_pcalloc(pool, sizeof(parse_state_t));
    return os;
}

const char *mgctl_opt_name(apr_pool_t *pool, const apr_getopt_option_t *opt)
{
    if (opt->optch > 0 && opt->optch < 256)
        return apr_psprintf(pool, "-%c/--%s", opt->optch, opt->name);
    return apr_pstrcat(pool, "--", opt->name, NULL);
}

/* The option getopt named in a complaint: "f", "--format" or "format". */
static const apr_getopt_option_t *opt_named(const apr_getopt_option_t *opts, const char *s)
{
    if (s[0] == '-' && s[1] == '-')
        s += 2;
    for (; opts->name != NULL || opts->optch != 0; opts++) {
        if (s[1] == '\0' && opts->optch == (unsigned char)s[0])
            return opts;
        if (opts->name != NULL && strcmp(opts->name, s) == 0)
            return opts;
    }
    return NULL;
}

/* Options with a value are given once; the tables mark the exceptions
 * (-r/--role, -H/--header, ...) in their description. */
static int repeatable(const apr_getopt_option_t *opt)
{
    return !opt->has_arg || (opt->description && strstr(opt->description, "(repeatable)"));
}

int mgctl_getopt_next(apr_getopt_t *os, const apr_getopt_option_t *opts, const char *usage,
                      const char **arg, int *rc)
{
    parse_state_t *ps = os->errarg;
    const char *cmd = os->argv[0];
    int ch;
    ps->err[0] = '\0';
    apr_status_t rv = apr_getopt_long(os, opts, &ch, arg);
    if (rv == APR_EOF) {
        /* the operands, in the array mgctl_getopt_init made */
        const char **args = (const char **)os->argv;
        for (int i = os->ind; i < os->argc; i++)
            if (args[i] == stdin_standin)
                args[i] = "-";
        return 0;
    }
    if (rv != APR_SUCCESS) {
        static const char missing[] = ": missing argument: ";
        char *m = strstr(ps->err, missing), *what = strstr(ps->err, ": ");
        ps->err[strcspn(ps->err, "\n")] = '\0';
        const apr_getopt_option_t *opt = NULL;
        if (m != NULL) {
            m += sizeof(missing) - 1;
            opt = opt_named(opts, m);
        }
        if (opt != NULL)
            *rc = mgctl_usage_error(cmd, "%s needs a value: %s", mgctl_opt_name(os->cont, opt),
                                    opt->description);
        else
            *rc = mgctl_usage_error(cmd, "%s", what != NULL ? what + 2 : "bad option");
        return -1;
    }
    if (ch == 'h') {
        fputs(usage, stdout);
        *rc = MGCTL_EXIT_OK;
        return -1;
    }
    if (*arg == stdin_standin)
        *arg = "-";
    const apr_getopt_option_t *opt = opts;
    while ((opt->name != NULL || opt->optch != 0) && opt->optch != ch)
        opt++;
    if (opt->optch == ch && !repeatable(opt) && ch >= 0 && ch < SEEN_MAX) {
        if (ps->seen[ch] != NULL) {
            *rc = mgctl_usage_error(cmd, "%s given twice ('%s', then '%s'); give it once",
                                    mgctl_opt_name(os->cont, opt), ps->seen[ch], *arg);
            return -1;
        }
        ps->seen[ch] = *arg;
    }
    return ch;
}

/* "mgctl CMD: MESSAGE\n" on stderr, the message formatted whole and then
 * escaped (mg_one_line): an argument, URL or path echoed in it can neither
 * end the line nor send the terminal a control sequence. */
static void err_line(const char *cmd, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void err_line(const char *cmd, const char *fmt, va_list ap)
{
    apr_pool_t *p;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        fprintf(stderr, "mgctl %s: out of memory\n", cmd);
        return;
    }
    const char *msg = apr_pvsprintf(p, fmt, ap);
    fprintf(stderr, "mgctl %s: %s\n", mg_one_line(p, cmd), mg_one_line(p, msg));
    apr_pool_destroy(p);
}

void mgctl_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_line(cmd, fmt, ap);
    va_end(ap);
}

apr_status_t mgctl_sync_dir_of(apr_pool_t *pool, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dir = slash == NULL   ? "."
                      : slash == path ? "/"
                                      : apr_pstrndup(pool, path, (apr_size_t)(slash - path));
    apr_file_t *d;
    apr_status_t rv = apr_file_open(&d, dir, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_file_sync(d);
    apr_status_t crv = apr_file_close(d);
    if (rv == APR_FROM_OS_ERROR(EINVAL) || APR_STATUS_IS_ENOTIMPL(rv) ||
        rv == APR_FROM_OS_ERROR(ENOTSUP))
        rv = APR_SUCCESS;
    return rv != APR_SUCCESS ? rv : crv;
}

int mgctl_usage_error(const char *cmd, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        err_line(cmd, fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "Try 'mgctl %s --help'.\n", cmd);
    return MGCTL_EXIT_USAGE;
}

int mgctl_format_parse(const char *s, unsigned allowed, mgctl_format_t *out)
{
    static const char *const names[] = {"text", "json", "github"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, names[i]) == 0 && (allowed & (1u << i))) {
            *out = (mgctl_format_t)i;
            return 0;
        }
    }
    return -1;
}

const char *mgctl_time_expected(const char *arg)
{
    /* mg_time_parse (lib/) takes RFC 3339 with the 'T' only; say so rather
     * than guess what "2026-11-23 10:00:00Z" meant */
    if (strlen(arg) > 10 && arg[10] == ' ')
        return "an RFC 3339 time with a 'T' between date and time (2026-11-23T10:00:00Z)";
    return "an RFC 3339 time such as 2026-11-23T10:00:00Z or epoch seconds";
}
