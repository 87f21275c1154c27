/* mgctl_util.h — helpers shared by the mgctl subcommands, one file per job
 * (the sections below name it).
 *
 * Option parsing: every subcommand parses its options with apr_getopt_long
 * through mgctl_getopt_init(), which lets options and operands interleave
 * ("mgctl explain /a.jpg --policy p.yaml") and prints getopt's own complaints
 * as "mgctl CMD: ..." on stderr. A subcommand follows this pattern:
 *
 *     static const apr_getopt_option_t opts[] = {
 *         {"help", 'h', 0, "show this help"},
 *         {"output", 'o', 1, "a file name, or - for standard output"},
 *         {"header", 'H', 1, "'Name: value' (repeatable)"},
 *         {"werror", MGCTL_OPT_LONG + 1, 0, "..."},   // long-only option
 *         {NULL, 0, 0, NULL}};
 *     apr_getopt_t *os = mgctl_getopt_init(pool, "compile", argc, argv);
 *     int ch, rc; const char *arg;
 *     while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, &rc)) > 0) { switch (ch) ... }
 *     if (ch < 0) return rc;   // --help was answered, or a getopt complaint
 *     // operands: os->argv[os->ind .. os->argc-1]
 *
 * `argv` starts at the subcommand name (argv[0] == "compile"), as passed to
 * mgctl_cmd_*. --help prints the usage on stdout and returns 0; usage errors
 * go to stderr and return MGCTL_EXIT_USAGE (2).
 *
 * The description of an option that takes a value describes that value: a
 * missing value is reported as "-o/--output needs a value: <description>".
 * Such an option may be given once ("--ttl given twice" is a usage error,
 * never "last one wins") unless its description contains "(repeatable)".
 *
 * Requests: mgctl_request_build() is the ONE place where mgctl turns a
 * request description (from a test file or from explain's options) into an
 * mg_request_t, mirroring what mod_media_guard does with a request_rec.
 */
#ifndef MGCTL_UTIL_H
#define MGCTL_UTIL_H

#include <stdio.h>

#include <apr_getopt.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "mg.h"
#include "mgctl.h"

/* ---- mgctl_opt.c: option parsing ------------------------------------------ */

/* Option ids for long-only options start here (above any character);
 * a command's own start at MGCTL_OPT_LONG + 1. */
#define MGCTL_OPT_LONG 256
/* --stdin-name NAME, the one long-only option several commands share. */
#define MGCTL_OPT_STDIN_NAME MGCTL_OPT_LONG

/* Prepare apr_getopt_long over argv[0..argc-1] (argv[0] = subcommand, which
 * getopt's messages name; `cmd` is the same name, kept for symmetry with
 * mgctl_usage_error). */
apr_getopt_t *mgctl_getopt_init(apr_pool_t *pool, const char *cmd, int argc,
                                const char *const *argv);

/* The next option for a subcommand's switch: its id (> 0) with *arg set;
 * 0 when the options are over (operands: os->argv[os->ind ..]); -1 when the
 * command is over, with *rc its exit status: 0 after -h/--help printed
 * `usage` on stdout, MGCTL_EXIT_USAGE after getopt's complaint and the
 * "Try 'mgctl CMD --help'." hint. Every table has {"help", 'h', 0, ...};
 * 'h' never reaches the caller. */
int mgctl_getopt_next(apr_getopt_t *os, const apr_getopt_option_t *opts, const char *usage,
                      const char **arg, int *rc);

/* "-f/--format", or "--ttl" for a long-only option (pool memory). */
const char *mgctl_opt_name(apr_pool_t *pool, const apr_getopt_option_t *opt);

/* Print "mgctl CMD: <message>" (when fmt is non-NULL) and "Try 'mgctl CMD
 * --help'." on stderr; returns MGCTL_EXIT_USAGE. The message is one line
 * whatever the arguments it echoes hold (mg_one_line: control bytes, an
 * ESC sequence, a newline are written as \xNN, \n). */
int mgctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "mgctl CMD: <message>" on stderr, the message made one line as by
 * mgctl_usage_error: for messages that echo an argument, a URL, a path or
 * a sentence built from them. */
void mgctl_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* fsync the directory that holds `path`, so that a name just renamed or
 * linked there survives a crash. A filesystem that cannot sync a directory
 * (EINVAL, ENOTSUP) is no error. */
apr_status_t mgctl_sync_dir_of(apr_pool_t *pool, const char *path);

/* Output formats for --format. */
typedef enum { MGCTL_FMT_TEXT = 0, MGCTL_FMT_JSON, MGCTL_FMT_GITHUB } mgctl_format_t;
/* Parse a --format argument; `allowed` is a bitmask (1 << MGCTL_FMT_*).
 * 0 ok, -1 unknown or not allowed. */
int mgctl_format_parse(const char *s, unsigned allowed, mgctl_format_t *out);

/* What a time option expects, for "--now 'X' is not <this>": RFC 3339 or
 * epoch seconds, and for "2026-11-23 10:00:00Z" that the space must be a
 * 'T'. */
const char *mgctl_time_expected(const char *arg);

/* ---- mgctl_duration.c ------------------------------------------------------ */

/* A duration as "7d", "1d2h30m", "90s" -> "1m30s" (whole seconds; "0s"). */
const char *mgctl_duration_text(apr_pool_t *pool, apr_interval_time_t d);

/* ---- mgctl_input.c: policies in (other files: mg_file_read, lib/mg_file.h) -- */

/* Policies from standard input. A command that takes a policy FILE reads
 * standard input for "-" (validate, compile, explain --policy): diagnostics
 * name it MGCTL_STDIN_NAME or the --stdin-name NAME, and relative paths
 * inside it (key files, tokens.revocation_file) resolve against NAME's
 * directory, or against the current directory without --stdin-name. */
#define MGCTL_STDIN_NAME "<stdin>"

/* How diagnostics name the policy at `path`: the path, or for "-" the
 * --stdin-name NAME or MGCTL_STDIN_NAME. */
const char *mgctl_source_name(const char *path, const char *stdin_name);

/* The policy arguments of such a command, before anything is read: "-" at
 * most once, --stdin-name (non-empty) only with "-". 0 ok, or the usage
 * error (MGCTL_EXIT_USAGE). */
int mgctl_stdin_check(const char *cmd, const char *const *paths, int n, const char *stdin_name);

/* Load, validate and compile the policy at `path` ("-": standard input,
 * read with mg_policy_read_stream). Diagnostics are appended to `diags`
 * and sorted; unless the policy is valid they hold at least one error.
 * Returns MGCTL_EXIT_OK (*out set), MGCTL_EXIT_FAIL (invalid, a file or
 * standard input over the 16 MiB bound included: a policy that large is
 * refused whichever way it arrives), or MGCTL_EXIT_USAGE when the policy
 * could not be read: a missing or unreadable file, a read error. */
int mgctl_policy_load(apr_pool_t *pool, const char *path, const char *stdin_name, mg_policy_t **out,
                      mg_diags_t *diags);

/* ---- mgctl_lines.c: the lines of standard input, in large blocks ---------- */

typedef struct mgctl_lines mgctl_lines_t;

/* A reader of the lines of `fd` (its buffer is freed with `pool`). Before a
 * read that would wait for input, `flush` (stdout, or NULL) is flushed.
 * Lines longer than `max` bytes (without their LF) are never held whole:
 * the reader's memory stays under `max` plus two blocks of 64 KiB, however
 * long a line the input has (an admin's log with no LF, /dev/zero). */
mgctl_lines_t *mgctl_lines_open(apr_pool_t *pool, int fd, FILE *flush, size_t max);

/* 1: the next line in *line (*len bytes; its LF replaced by a NUL, any CR
 * kept; NUL bytes inside are kept and counted), valid until the next call;
 * a last line without LF counts. 2: a line longer than `max`, skipped to
 * its LF: *line NULL, *len its length. 0 at the end of input; -1 on a read
 * error or out of memory (errno). */
int mgctl_lines_next(mgctl_lines_t *in, char **line, size_t *len);
/* Bytes the reader's buffer holds now (for tests of the bound). */
size_t mgctl_lines_capacity(const mgctl_lines_t *in);

/* ---- mgctl_json.c ---------------------------------------------------------- */

/* JSON string literal (with quotes) for s; "null" for NULL. Quotes,
 * backslashes and control characters are escaped; valid UTF-8 passes
 * through and any invalid byte becomes U+FFFD, so the output is always
 * valid JSON even when a message echoes hostile input. */
const char *mgctl_json_str(apr_pool_t *pool, const char *s);

/* ---- mgctl_diags.c: diagnostics out ---------------------------------------- */

/* Print diagnostics (already sorted) in the given format to `out`.
 * Text: mg_diag_format; github: "::error file=F,line=L,col=C::message".
 * JSON is not handled here (callers embed diagnostics in their document);
 * see mgctl_diag_json. `warnings` 0 skips warnings. */
void mgctl_diags_print(FILE *out, apr_pool_t *pool, const mg_diags_t *ds, mgctl_format_t fmt,
                       int warnings);
/* One diagnostic as a JSON object. */
const char *mgctl_diag_json(apr_pool_t *pool, const mg_diag_t *d);

/* ---- mgctl_request.c: the request a test or explain describes -------------- */

/* A request as written in a test file or on explain's command line. */
typedef struct mgctl_reqspec {
    const char *method;           /* default "GET" */
    const char *url;              /* "/path?query" (raw, percent-encoded as sent), or an
                                     absolute http(s) URL whose scheme and host are used */
    const char *scheme;           /* default: from url, else "http" */
    const char *user;             /* REMOTE_USER, or NULL */
    apr_array_header_t *roles;    /* const char*: roles given directly, or NULL */
    apr_array_header_t *requires; /* const char*: "PROVIDER ARGS" Require lines that pass
                                     (roles_from `apache:`; mgctl has no Apache), or NULL */
    const char *ip;               /* client IP (after mod_remoteip); default 127.0.0.1 */
    const char *peer;             /* TCP peer; default = ip */
    const char *country;          /* already-known country, or NULL (policy source decides) */
    apr_time_t now;               /* request time */
    apr_table_t *headers;         /* request headers (case-insensitive names) */
    apr_table_t *env;             /* subprocess_env: MG_LOOKUP_ENV */
    apr_table_t *notes;           /* r->notes: MG_LOOKUP_NOTE */
} mgctl_reqspec_t;

/* Fresh spec with empty tables and the defaults above (now = current time). */
mgctl_reqspec_t *mgctl_reqspec_make(apr_pool_t *pool);

/* Fill `req` from `spec` exactly as the module fills it from a request_rec:
 * the path/query split of the URL, Host, Referer, Origin, Sec-Fetch-(Site, Mode, Dest, User),
 * Accept, Cookie from the headers, and a lookup callback that serves env, notes and headers. Then
 * runs mg_request_prepare(); its status is returned and *why set when the URL was refused (the
 * evaluator then denies with bad-url, so callers simply go on to mg_evaluate). */
mg_status_t mgctl_request_build(apr_pool_t *pool, const mg_policy_t *policy,
                                const mgctl_reqspec_t *spec, mg_request_t *req, const char **why);
struct mg_target; /* mg_http.h */
/* The same on a target split already (the served path explain decides as
 * well: mgctl_served.c); spec->url is not read. */
mg_status_t mgctl_request_build_at(apr_pool_t *pool, const mg_policy_t *policy,
                                   const mgctl_reqspec_t *spec, const struct mg_target *t,
                                   mg_request_t *req, const char **why);

/* ---- mgctl_served.c: the path Apache serves, decided as well -------------- */

/* The module's second decision (mg_mod_evaluate, mod_media_guard/
 * mg_mod_authz.c) for a request whose path carries a path token that a
 * policy the server declares maps (its translate_name hook,
 * mg_mod_pathtok.c): `policy` (the one that decides) and `others` (the
 * other policies the server declares, mg_policy_t *; may be NULL) are asked
 * for the effective path as the hook asks them; when they agree on one and
 * it is another resource than the one decided, `policy` decides it too and
 * the stricter decision replaces *d, with the module's detail. `req` is the
 * request decided into *d. A trace line says what was done. */
void mgctl_served_decide(apr_pool_t *pool, const mg_policy_t *policy,
                         const apr_array_header_t *others, const mgctl_reqspec_t *spec,
                         const mg_request_t *req, int trace, mg_decision_t *d);

/* The first of `roles` (const char*) that the policy does not declare, or
 * NULL. The core ignores undeclared roles, so a typo in a test or on the
 * command line would otherwise only show up as a puzzling denial. */
const char *mgctl_undeclared_role(const mg_policy_t *policy, const apr_array_header_t *roles);
/* The first SSL_CLIENT_* name in `env` (a client certificate's field) when
 * env's SSL_CLIENT_VERIFY is not SUCCESS: the module gives such a name no
 * value (MG00208), and so does the lookup mgctl_request_build installs. */
const char *mgctl_unverified_cert_field(const apr_table_t *env);

/* Which byte of `url`'s path the canonicaliser refuses as "control byte,
 * space, backslash, '?' or '#' in path", as a sentence naming the byte and
 * its offset in `url` (0-based), or NULL when the path has none. */
const char *mgctl_path_byte_why(apr_pool_t *pool, const char *url);

/* ---- mgctl_decision.c: a decision as mgctl shows it ------------------------ */

/* The HTTP status of a decision is lib's mg_decision_http_status (mg_http.h),
 * the one mapping the module answers with. */

/* 1 when Apache authenticates the user of `spec` for this decision: spec
 * has a user and the same request without the user (and without --role
 * roles) is decided auth or login. mod_authz_core asks the provider first
 * without a user and authenticates only when it answers
 * AUTHZ_DENIED_NO_USER, which media-guard does only for auth/login; any
 * other anonymous refusal (hotlink, no-rule, ...) is final before the user
 * counts. Evaluates the request once more through mg_evaluate, and the
 * served path as mgctl_served_decide does with `others` (the server's other
 * policies, may be NULL), as the module's first pass does. */
int mgctl_spec_authenticates(apr_pool_t *pool, const mg_policy_t *policy,
                             const apr_array_header_t *others, const mgctl_reqspec_t *spec);

/* What the client gets instead of a deny's status when the user was
 * authenticated for this decision (`authenticated`, see
 * mgctl_spec_authenticates) and the server does not set
 * AuthzSendForbiddenOnFailure On: 401 for a refusal, else 0. */
int mgctl_decision_signed_in_status(const mg_decision_t *d, int authenticated);

/* Human-readable decision ("decision: allow", "access: view", ...), then the
 * trace indented by `indent` spaces when present. A refusal after
 * authentication shows "status: 403 (401 without AuthzSendForbiddenOnFailure On)". */
/* Text lines echo policy text (rule ids, messages, locations): each value
 * is written as one line (mg_one_line), so a policy cannot print lines of
 * its choosing into a CI log. */
void mgctl_decision_print(FILE *out, apr_pool_t *pool, const mg_decision_t *d, int authenticated,
                          int indent);
/* The decision as one JSON object with a fixed key order (stable output for
 * scripts and the integration tests); "status" is the module's status and
 * "status_without_forbidden_on_failure" the 401 of the line above, or null. */
const char *mgctl_decision_json(apr_pool_t *pool, const mg_policy_t *policy, const mg_decision_t *d,
                                int authenticated);

#endif /* MGCTL_UTIL_H */
