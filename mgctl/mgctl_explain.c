/* mgctl_explain.c — `mgctl explain --policy FILE|- URL ...`: evaluate one
 * request with the module's own code and show the decision, the owning rule,
 * the reason and the trace.
 */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg.h"
#include "mg_ip.h"
#include "mg_time.h"
#include "mgctl_util.h"

static const char usage_text[] =
    "Usage: mgctl explain --policy FILE [OPTIONS] URL\n"
    "\n"
    "Evaluate one request against a policy exactly as mod_media_guard would and\n"
    "show the decision, access level, owning rule, reason, HTTP status and the\n"
    "evaluation trace. URL is a path with an optional query, raw as a client\n"
    "sends it (/photos/a.jpg?tr=w-300), or an absolute http(s) URL whose scheme\n"
    "and host are used as well.\n"
    "\n"
    "Options:\n"
    "  -p, --policy FILE        the policy (required); '-' reads it from standard\n"
    "                           input (relative paths in it resolve against the\n"
    "                           current directory)\n"
    "      --stdin-name N       with --policy -: name standard input N in messages\n"
    "                           and resolve its relative paths against N's directory\n"
    "  -s, --server-policy FILE another policy the same server declares\n"
    "                           (MediaGuardPolicy; repeatable): the module maps a\n"
    "                           path token of a key of any of them to the path it\n"
    "                           serves, which --policy then decides as well, as\n"
    "                           Apache does; without it such a request may be\n"
    "                           allowed here and refused by Apache\n"
    "  -X, --method M           request method (default GET)\n"
    "  -u, --user U             authenticated user (REMOTE_USER); when the request\n"
    "                           without the user is decided auth or login, a deny's\n"
    "                           status adds the 401 Apache sends instead without\n"
    "                           AuthzSendForbiddenOnFailure On\n"
    "  -r, --role R             a role the user has (repeatable)\n"
    "      --require LINE       a Require line ('PROVIDER ARGS') that passes for this\n"
    "                           request, for roles_from apache: entries\n"
    "                           (repeatable), e.g. --require 'group editors';\n"
    "                           without it such roles are never held (mgctl has\n"
    "                           no Apache to ask the provider)\n"
    "      --ip ADDR            client IP address (default 127.0.0.1)\n"
    "      --peer ADDR          TCP peer's IP address, for trusted_proxies\n"
    "                           (default: --ip)\n"
    "  -H, --header 'N: V'      a request header (repeatable; a name given twice is\n"
    "                           joined with ', ', as httpd does), e.g. 'Referer: ...'\n"
    "  -e, --env NAME=VALUE     an environment variable set by another module\n"
    "                           (repeatable; e.g. OIDC claims, MM_COUNTRY_CODE)\n"
    "  -n, --note NAME=VALUE    a request note (repeatable)\n"
    "  -t, --time TIME          request time: RFC 3339 with a 'T' (2026-11-23T10:00:00Z,\n"
    "                           2026-11-23T11:00:00+01:00) or epoch seconds (default now)\n"
    "  -c, --country CC         the client's country (ISO 3166 alpha-2, or T1 for\n"
    "                           Tor), bypassing the policy's country source\n"
    "  -f, --format FMT         text (default) or json (one stable JSON object)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Options that take a value may be given once, except the repeatable ones.\n"
    "\n"
    "Exit status: 0 evaluated (whatever the decision), 1 invalid policy (over the\n"
    "16 MiB size limit too), 2 usage error or unreadable policy file.\n";

enum { OPT_IP = MGCTL_OPT_LONG + 1, OPT_PEER, OPT_REQUIRE };

static const apr_getopt_option_t opts[] = {
    {"policy", 'p', 1, "a policy file, or - for standard input"},
    {"method", 'X', 1, "an HTTP method such as GET"},
    {"user", 'u', 1, "a user name (REMOTE_USER)"},
    {"role", 'r', 1, "a role the policy declares (repeatable)"},
    {"require", OPT_REQUIRE, 1, "'PROVIDER ARGS' that passes (repeatable)"},
    {"ip", OPT_IP, 1, "a client IP address such as 192.0.2.1"},
    {"peer", OPT_PEER, 1, "the TCP peer's IP address"},
    {"header", 'H', 1, "'Name: value' (repeatable)"},
    {"env", 'e', 1, "NAME=VALUE (repeatable)"},
    {"note", 'n', 1, "NAME=VALUE (repeatable)"},
    {"time", 't', 1, "RFC 3339 time such as 2026-11-23T10:00:00Z, or epoch seconds"},
    {"country", 'c', 1, "a two-letter country code"},
    {"format", 'f', 1, "text (default) or json"},
    {"help", 'h', 0, "show this help"},
    {"stdin-name", MGCTL_OPT_STDIN_NAME, 1, "the file name standard input stands for"},
    {"server-policy", 's', 1, "another policy file the server declares (repeatable)"},
    {NULL, 0, 0, NULL},
};

/* "Name: value" -> table entry. Header names are RFC 9110 tokens. */
static int add_header(apr_pool_t *pool, apr_table_t *t, const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg)
        return -1;
    for (const char *p = arg; p < colon; p++)
        if (!mg_ascii_isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return -1;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    char *val = apr_pstrdup(pool, v);
    size_t l = strlen(val);
    while (l > 0 && (val[l - 1] == ' ' || val[l - 1] == '\t'))
        val[--l] = '\0';
    /* a name given twice is one value joined by ", ", as httpd joins a
     * request header a client sends twice (HTTP/1.1): the module reads
     * that value, never the first line alone */
    apr_table_merge(t, apr_pstrmemdup(pool, arg, (apr_size_t)(colon - arg)), val);
    return 0;
}

static int add_var(apr_pool_t *pool, apr_table_t *t, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return -1;
    apr_table_set(t, apr_pstrmemdup(pool, arg, (apr_size_t)(eq - arg)), eq + 1);
    return 0;
}

int mgctl_cmd_explain(apr_pool_t *pool, int argc, const char *const *argv)
{
    const char *policy_file = NULL, *stdin_name = NULL;
    mgctl_format_t fmt = MGCTL_FMT_TEXT;
    mgctl_reqspec_t *spec = mgctl_reqspec_make(pool);
    apr_array_header_t *server_files = apr_array_make(pool, 2, sizeof(const char *));
    apr_getopt_t *os = mgctl_getopt_init(pool, "explain", argc, argv);
    int ch, rc;
    const char *arg;
    mg_ip_t addr;

    while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, &rc)) > 0) {
        switch (ch) {
        case 'p':
            policy_file = arg;
            break;
        case MGCTL_OPT_STDIN_NAME:
            stdin_name = arg;
            break;
        case 's':
            if (strcmp(arg, "-") == 0)
                return mgctl_usage_error("explain", "--server-policy must be a file: standard "
                                                    "input ('-') is for --policy");
            APR_ARRAY_PUSH(server_files, const char *) = arg;
            break;
        case 'X':
            spec->method = arg;
            break;
        case 'u':
            spec->user = arg;
            break;
        case 'r':
            APR_ARRAY_PUSH(spec->roles, const char *) = arg;
            break;
        case OPT_REQUIRE:
            if (arg[strspn(arg, " \t")] == '\0')
                return mgctl_usage_error("explain", "--require expects 'PROVIDER ARGS', e.g. "
                                                    "'group editors'");
            APR_ARRAY_PUSH(spec->requires, const char *) = arg;
            break;
        case OPT_IP:
        case OPT_PEER:
            /* the module gets parsed addresses from httpd; an address that
             * does not parse is a typo here, never a request to explain */
            if (mg_ip_parse(arg, &addr) != 0)
                return mgctl_usage_error("explain", "%s '%s' is not an IPv4 or IPv6 address",
                                         ch == OPT_IP ? "--ip" : "--peer", arg);
            *(ch == OPT_IP ? &spec->ip : &spec->peer) = arg;
            break;
        case 'H':
            if (add_header(pool, spec->headers, arg) != 0)
                return mgctl_usage_error("explain", "--header expects 'Name: value', got '%s'",
                                         arg);
            break;
        case 'e':
            if (add_var(pool, spec->env, arg) != 0)
                return mgctl_usage_error("explain", "--env expects NAME=VALUE, got '%s'", arg);
            break;
        case 'n':
            if (add_var(pool, spec->notes, arg) != 0)
                return mgctl_usage_error("explain", "--note expects NAME=VALUE, got '%s'", arg);
            break;
        case 't':
            if (mg_time_parse(arg, &spec->now) != 0)
                return mgctl_usage_error("explain", "-t/--time '%s' is not %s", arg,
                                         mgctl_time_expected(arg));
            break;
        case 'c':
            if ((spec->country = mg_country_norm(pool, arg)) == NULL)
                return mgctl_usage_error(
                    "explain", "--country expects a two-letter code or T1 (Tor), got '%s'", arg);
            break;
        case 'f':
            if (mgctl_format_parse(arg, (1u << MGCTL_FMT_TEXT) | (1u << MGCTL_FMT_JSON), &fmt) != 0)
                return mgctl_usage_error("explain", "unknown format '%s' (text, json)", arg);
            break;
        }
    }
    if (ch < 0)
        return rc;
    if (!policy_file)
        return mgctl_usage_error("explain", "--policy FILE is required");
    if ((rc = mgctl_stdin_check("explain", &policy_file, 1, stdin_name)) != 0)
        return rc;
    if (os->argc - os->ind != 1)
        return mgctl_usage_error("explain", "expected exactly one URL");
    spec->url = os->argv[os->ind];
    if (spec->url[0] != '/' && apr_cstr_casecmpn(spec->url, "http://", 7) != 0 &&
        apr_cstr_casecmpn(spec->url, "https://", 8) != 0)
        return mgctl_usage_error("explain", "URL must start with '/' or http(s)://, got '%s'",
                                 spec->url);

    mg_diags_t *diags = mg_diags_make(pool);
    mg_policy_t *policy = NULL;
    rc = mgctl_policy_load(pool, policy_file, stdin_name, &policy, diags);
    if (rc != MGCTL_EXIT_OK) {
        mgctl_diags_print(stderr, pool, diags, MGCTL_FMT_TEXT, 1);
        return rc;
    }

    /* the server's other policies: only their path-form keys are used
     * (mgctl_served.c); one that Apache would refuse is refused here too */
    apr_array_header_t *others = apr_array_make(pool, server_files->nelts, sizeof(mg_policy_t *));
    for (int i = 0; i < server_files->nelts; i++) {
        mg_policy_t *o = NULL;
        mg_diags_t *odiags = mg_diags_make(pool);
        rc =
            mgctl_policy_load(pool, APR_ARRAY_IDX(server_files, i, const char *), NULL, &o, odiags);
        if (rc != MGCTL_EXIT_OK) {
            mgctl_diags_print(stderr, pool, odiags, MGCTL_FMT_TEXT, 1);
            return rc;
        }
        APR_ARRAY_PUSH(others, mg_policy_t *) = o;
    }

    const char *bad_role = mgctl_undeclared_role(policy, spec->roles);
    if (bad_role) {
        mgctl_err("explain", "--role %s: the policy declares no such role (roles: [...])",
                  bad_role);
        return MGCTL_EXIT_USAGE;
    }

    const char *unverified = mgctl_unverified_cert_field(spec->env);
    if (unverified)
        mgctl_err("explain",
                  "note: --env %s is not used without --env SSL_CLIENT_VERIFY=SUCCESS: the "
                  "module takes a client certificate's fields only from one mod_ssl verified "
                  "(MG00208)",
                  mg_one_line(pool, unverified));

    mg_request_t req;
    const char *why = NULL;
    mgctl_request_build(pool, policy, spec, &req, &why);
    mg_decision_t d;
    memset(&d, 0, sizeof(d));
    mg_evaluate(pool, policy, &req, 1, &d);
    /* the path Apache serves, when a path token maps the request there */
    mgctl_served_decide(pool, policy, others, spec, &req, 1, &d);
    int authn = mgctl_spec_authenticates(pool, policy, others, spec);

    if (fmt == MGCTL_FMT_JSON) {
        printf("%s\n", mgctl_decision_json(pool, policy, &d, authn));
        return MGCTL_EXIT_OK;
    }
    char tbuf[64];
    printf("policy:   %s (sha256:%s)\n", mg_one_line(pool, mg_policy_name(policy)),
           mg_policy_digest(policy));
    printf("request:  %s %s at %s\n", mg_one_line(pool, req.method), mg_one_line(pool, spec->url),
           mg_time_format(spec->now, tbuf, sizeof(tbuf)));
    if (why)
        printf("url:      refused: %s\n", mg_one_line(pool, why));
    mgctl_decision_print(stdout, pool, &d, authn, 0);
    return MGCTL_EXIT_OK;
}
