/* mgctl_verify.c — `mgctl verify URL`: run the module's token check
 * (mg_token_check) on one link and print the decision, the reason and the
 * claims. Exit 0 valid, 1 invalid, 2 usage. */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_time.h"
#include "mg_token.h"
#include "mgctl_keyopt.h"
#include "mgctl_util.h"

enum { OPT_NOW = MGCTL_KEYOPT_NEXT, OPT_IP, OPT_COOKIE, OPT_GRACE, OPT_SKEW, OPT_FORMAT };

static const apr_getopt_option_t opts[] = {{"help", 'h', 0, "show this help"},
                                           MGCTL_KEYOPT_OPTIONS,
                                           {"now", OPT_NOW, 1, "verify as if at TIME"},
                                           {"ip", OPT_IP, 1, "client address"},
                                           {"cookie", OPT_COOKIE, 1, "signed cookie value"},
                                           {"grace", OPT_GRACE, 1, "grace period"},
                                           {"clock-skew", OPT_SKEW, 1, "clock skew tolerance"},
                                           {"format", OPT_FORMAT, 1, "text|json"},
                                           {NULL, 0, 0, NULL}};

static const char usage_text[] =
    "Usage: mgctl verify (--policy FILE | --key-file F --key-id ID [--alg A])\n"
    "                    [--now TIME] [--ip ADDR] [--cookie VALUE] [--format text|json] URL\n"
    "\n"
    "Check a signed link exactly as mod_media_guard does and print the decision,\n"
    "the reason code and the claims.\n"
    "\n"
    "  -p, --policy FILE       the policy's keys and `tokens:` settings (grace, clock skew,\n"
    "                          cookie name, max_ttl)\n"
    "      --key-file F        or one key file, with --key-id ID [--alg A]\n"
    "      --grace D           grace after expiry (--key-file only; default 0)\n"
    "      --clock-skew D      clock-skew tolerance (--key-file only; default 30s)\n"
    "      --now TIME          verify as if at TIME (RFC 3339 or epoch seconds)\n"
    "      --ip ADDR           the client address (for IP-bound tokens)\n"
    "      --cookie VALUE      the signed cookie (its value, or NAME=VALUE) sent with URL\n"
    "      --format F          text (default) | json\n"
    "  -h, --help              show this help\n"
    "\n"
    "Exit status: 0 valid, 1 invalid, 2 usage or I/O error.\n";

static const char *time_text(apr_pool_t *pool, apr_time_t t)
{
    char buf[32];
    if (t == 0)
        return NULL;
    return apr_psprintf(pool, "%s (%" APR_INT64_T_FMT ")", mg_time_format(t, buf, sizeof(buf)),
                        (apr_int64_t)apr_time_sec(t));
}

static void print_text(apr_pool_t *pool, mg_reason_t r, const mg_token_claims_t *c)
{
    printf("valid: %s\n", r == MG_R_ALLOWED ? "yes" : "no");
    printf("reason: %s\n", r == MG_R_ALLOWED ? "allowed-by-token" : mg_reason_name(r));
    if (c->detail)
        printf("detail: %s\n", c->detail);
    printf("from: %s\n", c->from ? c->from : "-");
    printf("kid: %s\n", c->kid ? c->kid : "-");
    printf("expires: %s\n", c->expires ? time_text(pool, c->expires) : "-");
    printf("not-before: %s\n", c->not_before ? time_text(pool, c->not_before) : "-");
    printf("access: %s\n", r == MG_R_ALLOWED ? mg_access_name(c->access) : "-");
    printf("scope: %s\n", c->scope ? c->scope : "-");
    printf("ip: %s\n", c->ip ? c->ip : "-");
    printf("id: %s\n", c->id ? c->id : "-");
    if (c->uses > 0)
        printf("uses: %d (counted by the web server, not here)\n", c->uses);
    else
        printf("uses: -\n");
    if (r == MG_R_ALLOWED)
        printf("in-grace: %s\n", c->in_grace ? "yes" : "no");
}

static void print_json(apr_pool_t *pool, mg_reason_t r, const mg_token_claims_t *c)
{
    char b1[32], b2[32];
    printf(
        "{\"valid\":%s,\"reason\":%s,\"detail\":%s,\"from\":%s,\"kid\":%s,"
        "\"expires\":%s,\"not_before\":%s,\"access\":%s,\"scope\":%s,\"ip\":%s,"
        "\"id\":%s,\"uses\":%d,\"in_grace\":%s}\n",
        r == MG_R_ALLOWED ? "true" : "false",
        mgctl_json_str(pool, r == MG_R_ALLOWED ? "allowed-by-token" : mg_reason_name(r)),
        mgctl_json_str(pool, c->detail), mgctl_json_str(pool, c->from),
        mgctl_json_str(pool, c->kid),
        mgctl_json_str(pool, c->expires ? mg_time_format(c->expires, b1, sizeof(b1)) : NULL),
        mgctl_json_str(pool, c->not_before ? mg_time_format(c->not_before, b2, sizeof(b2)) : NULL),
        mgctl_json_str(pool, r == MG_R_ALLOWED ? mg_access_name(c->access) : NULL),
        mgctl_json_str(pool, c->scope), mgctl_json_str(pool, c->ip), mgctl_json_str(pool, c->id),
        c->uses, r == MG_R_ALLOWED && c->in_grace ? "true" : "false");
}

int mgctl_cmd_verify(apr_pool_t *pool, int argc, const char *const *argv)
{
    mgctl_keyopt_t ko;
    const char *now_s = NULL, *ip = NULL, *cookie = NULL, *grace = NULL, *skew = NULL;
    mgctl_format_t format = MGCTL_FMT_TEXT;
    memset(&ko, 0, sizeof(ko));
    apr_getopt_t *os = mgctl_getopt_init(pool, "verify", argc, argv);
    int ch, rc;
    const char *arg;

    while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, &rc)) > 0) {
        switch (ch) {
        case OPT_NOW:
            now_s = arg;
            break;
        case OPT_IP:
            ip = arg;
            break;
        case OPT_COOKIE:
            cookie = arg;
            break;
        case OPT_GRACE:
            grace = arg;
            break;
        case OPT_SKEW:
            skew = arg;
            break;
        case OPT_FORMAT:
            if (mgctl_format_parse(arg, 1u << MGCTL_FMT_TEXT | 1u << MGCTL_FMT_JSON, &format))
                return mgctl_usage_error("verify", "--format is text or json");
            break;
        default:
            mgctl_keyopt_take(&ko, ch, arg);
            break;
        }
    }
    if (ch < 0)
        return rc;
    if (os->argc - os->ind != 1)
        return mgctl_usage_error("verify", "expected exactly one URL");
    const char *url = os->argv[os->ind];

    mg_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.now = apr_time_now();
    if (now_s != NULL && mg_time_parse(now_s, &req.now) != 0)
        return mgctl_usage_error("verify", "--now '%s' is not an RFC 3339 time or epoch seconds",
                                 now_s);
    if ((grace || skew) && ko.key_file == NULL)
        return mgctl_usage_error("verify", "--grace and --clock-skew go with --key-file (a "
                                           "policy sets them in `tokens:`)");
    mg_policy_t *policy;
    rc = mgctl_keyopt_load(pool, "verify", &ko, &policy);
    if (rc != MGCTL_EXIT_OK)
        return rc;
    if (grace && mg_duration_parse(grace, &policy->tokens.grace) != 0)
        return mgctl_usage_error("verify", "--grace '%s' is not a duration", grace);
    if (skew && mg_duration_parse(skew, &policy->tokens.skew) != 0)
        return mgctl_usage_error("verify", "--clock-skew '%s' is not a duration", skew);

    /* The path and query of the URL, as the module gets them. */
    const char *p = url;
    const char *scheme_end = strstr(url, "://");
    if (url[0] != '/' && scheme_end != NULL) {
        p = strchr(scheme_end + 3, '/');
        if (p == NULL)
            return mgctl_usage_error("verify", "the URL has no path");
    } else if (url[0] != '/') {
        return mgctl_usage_error("verify", "expected a path starting with '/' or an http(s) URL");
    }
    const char *hash = strchr(p, '#');
    if (hash != NULL)
        p = apr_pstrmemdup(pool, p, (apr_size_t)(hash - p));
    const char *qm = strchr(p, '?');
    req.raw_path = qm ? apr_pstrmemdup(pool, p, (apr_size_t)(qm - p)) : p;
    req.query = qm ? qm + 1 : NULL;
    req.client_ip = ip;
    req.peer_ip = ip;
    if (cookie != NULL) {
        const char *name = policy->tokens.cookie_name ? policy->tokens.cookie_name : "mg_token";
        size_t nl = strlen(name);
        if (strncmp(cookie, name, nl) == 0 && cookie[nl] == '=')
            cookie += nl + 1;
        const char *semi = strchr(cookie, ';');
        if (semi != NULL)
            cookie = apr_pstrmemdup(pool, cookie, (apr_size_t)(semi - cookie));
        req.cookie = apr_pstrcat(pool, name, "=", cookie, NULL);
    }

    mg_token_claims_t claims;
    mg_reason_t r = mg_token_check(pool, policy, &req, &claims);
    if (format == MGCTL_FMT_JSON)
        print_json(pool, r, &claims);
    else
        print_text(pool, r, &claims);
    return r == MG_R_ALLOWED ? MGCTL_EXIT_OK : MGCTL_EXIT_FAIL;
}
