/* mgctl_util.c — what the mgctl subcommands share: option parsing glue,
 * file reading, JSON escaping, diagnostic output, and the one function that
 * turns a request description into an mg_request_t the way the module does.
 */
#include "mgctl_util.h"

#include <stdarg.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "mg_diag.h"
#include "mg_policy.h"

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

int mgctl_usage_error(const char *cmd, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        fprintf(stderr, "mgctl %s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    fprintf(stderr, "Try 'mgctl %s --help'.\n", cmd);
    return MGCTL_EXIT_USAGE;
}

const char *mgctl_duration_text(apr_pool_t *pool, apr_interval_time_t d)
{
    static const struct {
        char unit;
        apr_int64_t secs;
    } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    apr_int64_t left = (apr_int64_t)apr_time_sec(d);
    const char *out = "";
    if (left <= 0)
        return "0s";
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (left >= units[i].secs) {
            out = apr_psprintf(pool, "%s%" APR_INT64_T_FMT "%c", out, left / units[i].secs,
                               units[i].unit);
            left %= units[i].secs;
        }
    }
    return out;
}

const char *mgctl_path_byte_why(apr_pool_t *pool, const char *url)
{
    size_t start = 0;
    if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
        const char *a = strstr(url, "://") + 3;
        start = (size_t)(a - url) + strcspn(a, "/?");
    }
    /* the bytes lib/mg_canon.c refuses in a raw path, up to the query */
    for (size_t i = start; url[i] != '\0' && url[i] != '?'; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c == ' ')
            return apr_psprintf(pool, "space in the path at byte offset %lu: write it as %%20",
                                (unsigned long)i);
        if (c == '\\')
            return apr_psprintf(pool,
                                "backslash in the path at byte offset %lu: not allowed, "
                                "raw or encoded (%%5C); paths use '/'",
                                (unsigned long)i);
        if (c < 0x20 || c == 0x7f || c == '#')
            return apr_psprintf(pool,
                                "%s (0x%02X) in the path at byte offset %lu: not allowed, "
                                "raw or percent-encoded",
                                c == '#'    ? "'#'"
                                : c == '\t' ? "tab"
                                            : "control byte",
                                c, (unsigned long)i);
    }
    return NULL;
}

const char *mgctl_time_expected(const char *arg)
{
    /* mg_time_parse (lib/) takes RFC 3339 with the 'T' only; say so rather
     * than guess what "2026-11-23 10:00:00Z" meant */
    if (strlen(arg) > 10 && arg[10] == ' ')
        return "an RFC 3339 time with a 'T' between date and time (2026-11-23T10:00:00Z)";
    return "an RFC 3339 time such as 2026-11-23T10:00:00Z or epoch seconds";
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

int mgctl_read_file(apr_pool_t *pool, const char *path, size_t max, char **buf, size_t *len,
                    const char **err)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char ebuf[256];
    /* Refuse FIFOs, devices and directories before opening: opening a FIFO
     * for reading blocks until a writer appears. NONBLOCK covers a file
     * swapped for a FIFO between the stat and the open. */
    apr_status_t rv = apr_stat(&fi, path, APR_FINFO_TYPE, pool);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        *err = apr_psprintf(pool, "%s: not a regular file", path);
        return -1;
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY | APR_FOPEN_NONBLOCK,
                       APR_FPROT_OS_DEFAULT, pool);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(pool, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return -1;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        apr_file_close(f);
        *err = apr_psprintf(pool, "%s: not a regular file", path);
        return -1;
    }
    if (rv == APR_SUCCESS && (apr_uint64_t)fi.size > (apr_uint64_t)max) {
        apr_file_close(f);
        *err = apr_psprintf(pool, "%s: larger than %lu bytes", path, (unsigned long)max);
        return -1;
    }
    /* The size is only a first guess (the file may change while we read);
     * the limit is enforced on what is actually read. */
    size_t cap = rv == APR_SUCCESS ? (size_t)fi.size : 4096, n = 0;
    if (cap > max)
        cap = max;
    if (cap < 64)
        cap = 64;
    char *b = apr_palloc(pool, cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                char probe;
                apr_size_t one = 1;
                if (apr_file_read(f, &probe, &one) == APR_SUCCESS && one == 1) {
                    apr_file_close(f);
                    *err =
                        apr_psprintf(pool, "%s: larger than %lu bytes", path, (unsigned long)max);
                    return -1;
                }
                break;
            }
            size_t ncap = cap * 2 > max ? max : cap * 2;
            char *nb = apr_palloc(pool, ncap + 1);
            memcpy(nb, b, n);
            b = nb;
            cap = ncap;
        }
        apr_size_t want = cap - n;
        rv = apr_file_read(f, b + n, &want);
        n += want;
        if (rv == APR_EOF)
            break;
        if (rv != APR_SUCCESS) {
            apr_file_close(f);
            *err = apr_psprintf(pool, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
            return -1;
        }
    }
    apr_file_close(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

const char *mgctl_source_name(const char *path, const char *stdin_name)
{
    if (strcmp(path, "-") != 0)
        return path;
    return stdin_name ? stdin_name : MGCTL_STDIN_NAME;
}

int mgctl_stdin_check(const char *cmd, const char *const *paths, int n, const char *stdin_name)
{
    int dashes = 0;
    for (int i = 0; i < n; i++)
        dashes += paths[i] != NULL && strcmp(paths[i], "-") == 0;
    if (dashes > 1)
        return mgctl_usage_error(cmd, "'-' (standard input) may be given only once");
    if (stdin_name != NULL && *stdin_name == '\0')
        return mgctl_usage_error(cmd, "--stdin-name needs a NAME");
    if (stdin_name != NULL && dashes == 0)
        return mgctl_usage_error(cmd, "--stdin-name goes with the policy '-' (standard input)");
    return MGCTL_EXIT_OK;
}

/* Standard input as a policy: the text is not kept (the loader copies what
 * the policy needs), and a stream that could not be read to its end is an
 * I/O failure, never a shorter policy. */
static mg_status_t load_stdin(apr_pool_t *pool, const char *stdin_name, mg_policy_t **out,
                              mg_diags_t *diags)
{
    const char *name = mgctl_source_name("-", stdin_name);
    const char *base_dir = NULL, *slash = stdin_name ? strrchr(stdin_name, '/') : NULL;
    apr_pool_t *rp;
    apr_file_t *in;
    char *buf, ebuf[128];
    apr_size_t len;

    if (apr_pool_create(&rp, pool) != APR_SUCCESS)
        return MG_ENOMEM;
    apr_status_t rv = apr_file_open_stdin(&in, rp);
    if (rv != APR_SUCCESS) {
        mg_diag_add(diags, MG_SEV_ERROR, name, 0, 0, "io", "cannot open standard input: %s",
                    apr_strerror(rv, ebuf, sizeof(ebuf)));
        apr_pool_destroy(rp);
        return MG_EIO;
    }
    mg_status_t st = mg_policy_read_stream(rp, in, name, &buf, &len, diags);
    if (st == MG_OK) {
        /* as mg_policy_load_file does for a path: the name's directory */
        if (slash)
            base_dir = slash == stdin_name
                           ? "/"
                           : apr_pstrmemdup(rp, stdin_name, (apr_size_t)(slash - stdin_name));
        st = mg_policy_load_buffer(pool, name, base_dir, buf, len, out, diags);
    } else if (st != MG_EINVAL) {
        /* MG_EINVAL is the size bound: over it the policy is invalid, as a
         * policy file over the bound is */
        st = MG_EIO;
    }
    apr_pool_destroy(rp);
    return st;
}

int mgctl_policy_load(apr_pool_t *pool, const char *path, const char *stdin_name, mg_policy_t **out,
                      mg_diags_t *diags)
{
    const char *name = mgctl_source_name(path, stdin_name);
    int errors = diags->errors;
    mg_status_t st = strcmp(path, "-") == 0 ? load_stdin(pool, stdin_name, out, diags)
                                            : mg_policy_load_file(pool, path, out, diags);
    int valid = st == MG_OK && *out != NULL && diags->errors == errors;
    /* The loader explains every refusal; these only guard against a
     * refusal without a word (out of memory). */
    if (st == MG_EIO && diags->errors == errors)
        mg_diag_add(diags, MG_SEV_ERROR, name, 0, 0, "io", "cannot read the file");
    else if (!valid && diags->errors == errors)
        mg_diag_add(diags, MG_SEV_ERROR, name, 0, 0, "internal",
                    "the policy was refused without a diagnostic (status %d)", (int)st);
    mg_diags_sort(diags);
    if (!valid)
        *out = NULL;
    return valid ? MGCTL_EXIT_OK : st == MG_EIO ? MGCTL_EXIT_USAGE : MGCTL_EXIT_FAIL;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

const char *mgctl_json_str(apr_pool_t *pool, const char *s)
{
    if (!s)
        return "null";
    size_t len = strlen(s);
    /* worst case: every byte becomes \ufffd or \u00XX (6 bytes) */
    char *out = apr_palloc(pool, len * 6 + 3), *o = out;
    const unsigned char *p = (const unsigned char *)s;
    *o++ = '"';
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            p++;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
            p++;
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
            p++;
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\u%04x", c);
            p++;
        } else {
            int n = utf8_len(p);
            if (n == 0) {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                p++;
            } else {
                memcpy(o, p, (size_t)n);
                o += n;
                p += n;
            }
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* GitHub workflow commands: data escapes %, CR, LF; properties also ':' and
 * ','. https://docs.github.com/actions/reference/workflow-commands */
static const char *gh_escape(apr_pool_t *pool, const char *s, int property)
{
    size_t len = strlen(s);
    char *out = apr_palloc(pool, len * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '%' || c == '\r' || c == '\n' || (property && (c == ':' || c == ','))) {
            o += sprintf(o, "%%%02X", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

void mgctl_diags_print(FILE *out, apr_pool_t *pool, const mg_diags_t *ds, mgctl_format_t fmt,
                       int warnings)
{
    const mg_diag_t *items = (const mg_diag_t *)ds->items->elts;
    int shown = 0, more = 0;
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *d = &items[i];
        if (d->severity == MG_SEV_WARNING && !warnings)
            continue;
        if (shown == MG_DIAG_SHOW_MAX) {
            more++;
            continue;
        }
        shown++;
        if (fmt == MGCTL_FMT_GITHUB) {
            const char *sev = d->severity == MG_SEV_ERROR ? "error" : "warning";
            const char *msg = d->hint ? apr_psprintf(pool, "%s (%s)", d->msg, d->hint) : d->msg;
            fprintf(out, "::%s file=%s", sev, gh_escape(pool, d->file, 1));
            if (d->line > 0)
                fprintf(out, ",line=%d", d->line);
            if (d->col > 0)
                fprintf(out, ",col=%d", d->col);
            fprintf(out, "::%s\n", gh_escape(pool, msg, 0));
        } else {
            fprintf(out, "%s\n", mg_diag_format(pool, d));
        }
    }
    if (more > 0) {
        const char *line = mg_diags_more(pool, items[0].file, more);
        if (fmt == MGCTL_FMT_GITHUB)
            fprintf(out, "::notice file=%s::%s\n", gh_escape(pool, items[0].file, 1),
                    gh_escape(pool, line, 0));
        else
            fprintf(out, "%s\n", line);
    }
}

const char *mgctl_diag_json(apr_pool_t *pool, const mg_diag_t *d)
{
    return apr_psprintf(pool,
                        "{\"file\":%s,\"line\":%d,\"col\":%d,\"severity\":\"%s\","
                        "\"code\":%s,\"message\":%s,\"hint\":%s}",
                        mgctl_json_str(pool, d->file), d->line, d->col,
                        d->severity == MG_SEV_ERROR ? "error" : "warning",
                        mgctl_json_str(pool, d->code), mgctl_json_str(pool, d->msg),
                        mgctl_json_str(pool, d->hint));
}

mgctl_reqspec_t *mgctl_reqspec_make(apr_pool_t *pool)
{
    mgctl_reqspec_t *s = apr_pcalloc(pool, sizeof(*s));
    s->method = "GET";
    s->url = "/";
    s->roles = apr_array_make(pool, 4, sizeof(const char *));
    s->requires = apr_array_make(pool, 2, sizeof(const char *));
    s->now = apr_time_now();
    s->headers = apr_table_make(pool, 8);
    s->env = apr_table_make(pool, 4);
    s->notes = apr_table_make(pool, 2);
    return s;
}

typedef struct lookup_ctx {
    apr_table_t *env, *notes, *headers;
} lookup_ctx_t;

/* The module serves these from r->subprocess_env, r->notes and
 * r->headers_in: all apr_tables, so names compare case-insensitively. */
static const char *spec_lookup(void *ctx, mg_lookup_kind_t kind, const char *name)
{
    lookup_ctx_t *lc = ctx;
    switch (kind) {
    case MG_LOOKUP_ENV:
        return apr_table_get(lc->env, name);
    case MG_LOOKUP_NOTE:
        return apr_table_get(lc->notes, name);
    case MG_LOOKUP_HEADER:
        return apr_table_get(lc->headers, name);
    }
    return NULL;
}

/* The module asks Apache's authz providers; mgctl answers from --require /
 * `require:`: a line passes when it is the entry's `PROVIDER ARGS` (the
 * provider name as written, the arguments compared after trimming
 * whitespace at both ends, as the policy loader trims them). */
static int same_require(const char *given, const char *line)
{
    const char *a = given, *e;
    size_t plen, alen;
    while (*a == ' ' || *a == '\t')
        a++;
    e = a + strcspn(a, " \t");
    plen = (size_t)(e - a);
    while (*e == ' ' || *e == '\t')
        e++;
    alen = strlen(e);
    while (alen > 0 && (e[alen - 1] == ' ' || e[alen - 1] == '\t'))
        alen--;
    if (strncmp(line, a, plen) != 0)
        return 0;
    if (alen == 0)
        return line[plen] == '\0';
    return line[plen] == ' ' && strncmp(line + plen + 1, e, alen) == 0 &&
           line[plen + 1 + alen] == '\0';
}

static mg_grant_t spec_grant(void *ctx, int index, const struct mg_role_grant *g)
{
    const apr_array_header_t *req = ctx;
    (void)index;
    for (int i = 0; req && i < req->nelts; i++)
        if (same_require(APR_ARRAY_IDX(req, i, const char *), g->line))
            return MG_GRANT_YES;
    return MG_GRANT_NO;
}

mg_status_t mgctl_request_build(apr_pool_t *pool, const mg_policy_t *policy,
                                const mgctl_reqspec_t *spec, mg_request_t *req, const char **why)
{
    const char *url = spec->url ? spec->url : "/";
    const char *scheme = spec->scheme;
    const char *url_host = NULL;

    memset(req, 0, sizeof(*req));

    /* An absolute URL contributes scheme and Host, like a browser would. */
    if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
        size_t slen = url[4] == ':' ? 4 : 5;
        if (!scheme)
            scheme = apr_pstrmemdup(pool, url, slen);
        const char *h = url + slen + 3;
        size_t hl = strcspn(h, "/?#");
        /* user:password@ is never part of Host */
        const char *at = memchr(h, '@', hl);
        if (at) {
            hl -= (size_t)(at + 1 - h);
            h = at + 1;
        }
        url_host = apr_pstrmemdup(pool, h, hl);
        url = h + hl;
        if (*url != '/')
            url = apr_pstrcat(pool, "/", url, NULL);
    }
    /* A client never sends the fragment. */
    size_t ul = strcspn(url, "#");
    size_t pl = strcspn(url, "?#");
    req->raw_path = apr_pstrmemdup(pool, url, pl);
    req->query = pl < ul ? apr_pstrmemdup(pool, url + pl + 1, ul - pl - 1) : NULL;

    req->method = spec->method ? spec->method : "GET";
    req->scheme = scheme ? scheme : "http";
    req->client_ip = spec->ip ? spec->ip : "127.0.0.1";
    req->peer_ip = spec->peer ? spec->peer : req->client_ip;
    req->user = spec->user;
    if (spec->roles && spec->roles->nelts > 0) {
        req->extra_roles = (const char **)spec->roles->elts;
        req->n_extra_roles = spec->roles->nelts;
    }
    req->country = spec->country;
    req->now = spec->now;

    apr_table_t *headers = spec->headers;
    if (url_host && !apr_table_get(headers, "Host")) {
        headers = apr_table_copy(pool, headers);
        apr_table_setn(headers, "Host", url_host);
    }
    req->host = apr_table_get(headers, "Host");
    req->referer = apr_table_get(headers, "Referer");
    req->origin = apr_table_get(headers, "Origin");
    req->sec_fetch_site = apr_table_get(headers, "Sec-Fetch-Site");
    req->sec_fetch_mode = apr_table_get(headers, "Sec-Fetch-Mode");
    req->sec_fetch_dest = apr_table_get(headers, "Sec-Fetch-Dest");
    req->sec_fetch_user = apr_table_get(headers, "Sec-Fetch-User");
    req->accept = apr_table_get(headers, "Accept");
    req->cookie = apr_table_get(headers, "Cookie");

    lookup_ctx_t *lc = apr_pcalloc(pool, sizeof(*lc));
    lc->env = spec->env ? spec->env : apr_table_make(pool, 1);
    lc->notes = spec->notes ? spec->notes : apr_table_make(pool, 1);
    lc->headers = headers;
    req->lookup = spec_lookup;
    req->lookup_ctx = lc;
    if (spec->requires != NULL && spec->requires->nelts > 0) {
        req->grant_check = spec_grant;
        req->grant_ctx = spec->requires;
    }

    *why = NULL;
    return mg_request_prepare(pool, policy, req, why);
}

const char *mgctl_undeclared_role(const mg_policy_t *policy, const apr_array_header_t *roles)
{
    for (int i = 0; roles && i < roles->nelts; i++) {
        const char *r = APR_ARRAY_IDX(roles, i, const char *);
        int found = 0;
        for (int j = 0; policy->roles && j < policy->roles->nelts && !found; j++)
            found = strcmp(APR_ARRAY_IDX(policy->roles, j, const char *), r) == 0;
        if (!found)
            return r;
    }
    return NULL;
}

int mgctl_decision_http_status(const mg_decision_t *d)
{
    switch (d->outcome) {
    case MG_OUTCOME_ALLOW:
        return 200;
    case MG_OUTCOME_LOGIN:
        return 302;
    case MG_OUTCOME_AUTH:
        return 401;
    case MG_OUTCOME_DENY:
        break;
    }
    return d->status > 0 ? d->status : 403;
}

int mgctl_spec_authenticates(apr_pool_t *pool, const mg_policy_t *policy,
                             const mgctl_reqspec_t *spec)
{
    if (spec->user == NULL)
        return 0;
    /* the module's first pass: no REMOTE_USER, and none of the roles given
     * for the user; the rest of the request is the same */
    mgctl_reqspec_t anon = *spec;
    anon.user = NULL;
    anon.roles = NULL;
    anon.requires = NULL; /* group providers need a user: AUTHZ_DENIED_NO_USER */
    mg_request_t req;
    mg_decision_t d;
    const char *why = NULL;
    mgctl_request_build(pool, policy, &anon, &req, &why);
    memset(&d, 0, sizeof(d));
    mg_evaluate(pool, policy, &req, 0, &d);
    return d.outcome == MG_OUTCOME_AUTH || d.outcome == MG_OUTCOME_LOGIN;
}

int mgctl_decision_signed_in_status(const mg_decision_t *d, int authenticated)
{
    /* mod_authz_core answers a refusal after authentication with 401 (a new
     * password prompt), never reaching the module's status or message,
     * unless AuthzSendForbiddenOnFailure On makes it the 403 that carries
     * them (docs/directives.md). An internal error stays a 500. */
    return authenticated && d->outcome == MG_OUTCOME_DENY && d->reason != MG_R_INTERNAL ? 401 : 0;
}

void mgctl_decision_print(FILE *out, const mg_decision_t *d, int authenticated, int indent)
{
    int in = indent;
    int alt = mgctl_decision_signed_in_status(d, authenticated);
    fprintf(out, "%*sdecision: %s\n", in, "", mg_outcome_name(d->outcome));
    if (d->outcome == MG_OUTCOME_ALLOW)
        fprintf(out, "%*saccess:   %s%s\n", in, "", mg_access_name(d->access),
                d->download ? " (download requested)" : "");
    fprintf(out, "%*srule:     %s\n", in, "", d->rule_id ? d->rule_id : "(none)");
    fprintf(out, "%*sreason:   %s\n", in, "", mg_reason_name(d->reason));
    if (alt != 0)
        fprintf(out, "%*sstatus:   %d (%d without AuthzSendForbiddenOnFailure On)\n", in, "",
                mgctl_decision_http_status(d), alt);
    else
        fprintf(out, "%*sstatus:   %d\n", in, "", mgctl_decision_http_status(d));
    if (d->location)
        fprintf(out, "%*slocation: %s\n", in, "", d->location);
    if (d->message)
        fprintf(out, "%*smessage:  %s\n", in, "", d->message);
    if (d->page)
        fprintf(out, "%*spage:     %s\n", in, "", d->page);
    if (d->filename)
        fprintf(out, "%*sfilename: %s\n", in, "", d->filename);
    if (d->corp)
        fprintf(out, "%*scorp:     %s\n", in, "", d->corp);
    if (d->detail)
        fprintf(out, "%*sdetail:   %s\n", in, "", d->detail);
    if (d->trace && d->trace->nelts > 0) {
        fprintf(out, "%*strace:\n", in, "");
        for (int i = 0; i < d->trace->nelts; i++)
            fprintf(out, "%*s  %s\n", in, "", APR_ARRAY_IDX(d->trace, i, const char *));
    }
}

const char *mgctl_decision_json(apr_pool_t *pool, const mg_policy_t *policy, const mg_decision_t *d,
                                int authenticated)
{
    int alt = mgctl_decision_signed_in_status(d, authenticated);
    const char *trace = "[]";
    if (d->trace && d->trace->nelts > 0) {
        apr_array_header_t *parts = apr_array_make(pool, d->trace->nelts, sizeof(char *));
        for (int i = 0; i < d->trace->nelts; i++)
            APR_ARRAY_PUSH(parts, const char *) =
                mgctl_json_str(pool, APR_ARRAY_IDX(d->trace, i, const char *));
        trace = apr_pstrcat(pool, "[", apr_array_pstrcat(pool, parts, ','), "]", NULL);
    }
    return apr_psprintf(
        pool,
        "{\"policy\":%s,\"digest\":%s,\"decision\":%s,\"access\":%s,\"rule\":%s,"
        "\"reason\":%s,\"status\":%d,\"status_without_forbidden_on_failure\":%s,\"location\":%s,"
        "\"message\":%s,\"page\":%s,"
        "\"download\":%s,\"filename\":%s,\"corp\":%s,\"detail\":%s,\"trace\":%s}",
        mgctl_json_str(pool, policy ? mg_policy_name(policy) : NULL),
        mgctl_json_str(pool, policy ? mg_policy_digest(policy) : NULL),
        mgctl_json_str(pool, mg_outcome_name(d->outcome)),
        mgctl_json_str(pool, d->outcome == MG_OUTCOME_ALLOW ? mg_access_name(d->access)
                                                            : mg_access_name(MG_ACCESS_NONE)),
        mgctl_json_str(pool, d->rule_id), mgctl_json_str(pool, mg_reason_name(d->reason)),
        mgctl_decision_http_status(d), alt ? apr_itoa(pool, alt) : "null",
        mgctl_json_str(pool, d->location), mgctl_json_str(pool, d->message),
        mgctl_json_str(pool, d->page), d->download ? "true" : "false",
        mgctl_json_str(pool, d->filename), mgctl_json_str(pool, d->corp),
        mgctl_json_str(pool, d->detail), trace);
}
