/* mgctl_verify.c — `mgctl verify URL`: run the module's token check
 * (mg_token_check) on one link and print the decision, the reason and the
 * claims. Exit 0 valid, 1 invalid, 2 usage. */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_http.h"
#include "mg_ip.h"
#include "mg_time.h"
#include "mg_token.h"
#include "mgctl_keyopt.h"
#include "mgctl_util.h"

enum { OPT_NOW = MGCTL_KEYOPT_NEXT, OPT_IP, OPT_COOKIE, OPT_GRACE, OPT_SKEW };

static const apr_getopt_option_t opts[] = {
    {"help", 'h', 0, "show this help"},
    MGCTL_KEYOPT_OPTIONS,
    {"now", OPT_NOW, 1, "RFC 3339 time or epoch seconds"},
    {"ip", OPT_IP, 1, "a client IP address (default 127.0.0.1)"},
    {"cookie", OPT_COOKIE, 1, "the cookie value, or NAME=VALUE"},
    {"grace", OPT_GRACE, 1, "a duration such as 2m"},
    {"clock-skew", OPT_SKEW, 1, "a duration such as 30s"},
    {"format", 'f', 1, "text (default) or json"},
    {NULL, 0, 0, NULL}};

static const char usage_text[] =
    "Usage: mgctl verify (--policy FILE | --key-file F --key-id ID [--alg A])\n"
    "                    [--now TIME] [--ip ADDR] [--cookie VALUE] [-f text|json] URL\n"
    "\n"
    "Check a signed link exactly as mod_media_guard does and print the decision,\n"
    "the reason code and the claims.\n"
    "\n"
    "  -p, --policy FILE       the policy's keys and `tokens:` settings (grace, clock skew,\n"
    "                          cookie name, max_ttl)\n"
    "      --key-file F        or verify with this key file ...\n"
    "      --key-id ID         ... under this key id\n"
    "      --alg A             hmac-sha256 | hmac-sha1 | ed25519 (default: from the file);\n"
    "                          a key file everyone may write (or a directory above it,\n"
    "                          without the sticky bit) is refused (exit 2)\n"
    "      --grace D           grace after expiry (--key-file only; default 0)\n"
    "      --clock-skew D      clock-skew tolerance (--key-file only; default 30s)\n"
    "      --now TIME          verify as if at TIME (RFC 3339 or epoch seconds)\n"
    "      --ip ADDR           the client address, for IP-bound tokens (default\n"
    "                          127.0.0.1, as in explain)\n"
    "      --cookie VALUE      the signed cookie sent with URL: its value, or NAME=VALUE\n"
    "                          with NAME the policy's tokens.cookie (another name is a\n"
    "                          cookie the web server ignores: token-missing)\n"
    "  -f, --format F          text (default) | json (absent claims are null)\n"
    "  -h, --help              show this help\n"
    "\n"
    "Each option may be given once.\n"
    "\n"
    "Exit status: 0 valid, 1 invalid link or invalid policy, 2 usage or I/O error.\n";

/* --cookie NAME=VALUE with a NAME other than tokens.cookie: that NAME, or
 * NULL. A bare value starts with a token parameter (mg_exp=...), so the text
 * before its first '=' is a name only when it is not an mg_ parameter. */
static const char *cookie_other_name(apr_pool_t *pool, const char *arg, const char *name)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return NULL;
    const char *n = apr_pstrmemdup(pool, arg, (apr_size_t)(eq - arg));
    if (strcmp(n, name) == 0 || mg_token_is_reserved_param(n))
        return NULL;
    return n;
}

/* The Cookie header for a value given bare or as tokens.cookie=VALUE. */
static const char *cookie_value_named(apr_pool_t *pool, const char *arg, const char *name)
{
    size_t nl = strlen(name);
    if (strncmp(arg, name, nl) == 0 && arg[nl] == '=')
        arg += nl + 1;
    return apr_pstrcat(pool, name, "=", arg, NULL);
}

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
    printf("format: %s\n", c->format ? c->format : "-");
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
        "{\"valid\":%s,\"reason\":%s,\"detail\":%s,\"from\":%s,\"format\":%s,\"kid\":%s,"
        "\"expires\":%s,\"not_before\":%s,\"access\":%s,\"scope\":%s,\"ip\":%s,"
        "\"id\":%s,\"uses\":%s,\"in_grace\":%s}\n",
        r == MG_R_ALLOWED ? "true" : "false",
        mgctl_json_str(pool, r == MG_R_ALLOWED ? "allowed-by-token" : mg_reason_name(r)),
        mgctl_json_str(pool, c->detail), mgctl_json_str(pool, c->from),
        mgctl_json_str(pool, c->format), mgctl_json_str(pool, c->kid),
        mgctl_json_str(pool, c->expires ? mg_time_format(c->expires, b1, sizeof(b1)) : NULL),
        mgctl_json_str(pool, c->not_before ? mg_time_format(c->not_before, b2, sizeof(b2)) : NULL),
        mgctl_json_str(pool, r == MG_R_ALLOWED ? mg_access_name(c->access) : NULL),
        mgctl_json_str(pool, c->scope), mgctl_json_str(pool, c->ip), mgctl_json_str(pool, c->id),
        c->uses > 0 ? apr_itoa(pool, c->uses) : "null",
        r == MG_R_ALLOWED && c->in_grace ? "true" : "false");
}

int mgctl_cmd_verify(apr_pool_t *pool, int argc, const char *const *argv)
{
    mgctl_keyopt_t ko;
    const char *now_s = NULL, *ip = "127.0.0.1", *cookie = NULL, *grace = NULL, *skew = NULL;
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
        case 'f':
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
        return mgctl_usage_error("verify", "--now '%s' is not %s", now_s,
                                 mgctl_time_expected(now_s));
    mg_ip_t addr;
    if (mg_ip_parse(ip, &addr) != 0)
        return mgctl_usage_error("verify", "--ip '%s' is not an IPv4 or IPv6 address", ip);
    if ((grace || skew) && ko.key_file == NULL)
        return mgctl_usage_error("verify", "--grace and --clock-skew go with --key-file (a "
                                           "policy sets them in `tokens:`)");
    mg_policy_t *policy;
    ko.grace = grace;
    ko.skew = skew;
    rc = mgctl_keyopt_load(pool, "verify", &ko, &policy);
    if (rc != MGCTL_EXIT_OK)
        return rc;

    /* The path and query of the URL, split as the module splits a request
     * target (mg_target_split: a path, or an http(s) URL without userinfo). */
    mg_target_t target;
    const char *twhy = NULL;
    if (mg_target_split(pool, url, &target, &twhy) != MG_OK)
        return mgctl_usage_error("verify",
                                 "%s: expected a path starting with '/' or an http(s) "
                                 "URL",
                                 twhy);
    req.raw_path = target.path;
    req.query = target.query;
    req.client_ip = ip;
    req.peer_ip = ip;
    const char *other_name = NULL;
    if (cookie != NULL) {
        const char *name = policy->tokens.cookie_name ? policy->tokens.cookie_name : "mg_token";
        const char *semi = strchr(cookie, ';');
        if (semi != NULL)
            cookie = apr_pstrmemdup(pool, cookie, (apr_size_t)(semi - cookie));
        other_name = cookie_other_name(pool, cookie, name);
        /* as the browser sends it: under its own name, which the module
         * ignores unless it is tokens.cookie */
        req.cookie = other_name != NULL ? cookie : cookie_value_named(pool, cookie, name);
    }

    mg_token_claims_t claims;
    mg_reason_t r = mg_token_check(pool, policy, &req, &claims);
    if (r == MG_R_TOKEN_MISSING && other_name != NULL)
        claims.detail = apr_psprintf(
            pool,
            "cookie name '%s' is not the policy's tokens.cookie '%s' (the web server "
            "ignores it)",
            other_name, policy->tokens.cookie_name ? policy->tokens.cookie_name : "mg_token");
    if (format == MGCTL_FMT_JSON)
        print_json(pool, r, &claims);
    else
        print_text(pool, r, &claims);
    return r == MG_R_ALLOWED ? MGCTL_EXIT_OK : MGCTL_EXIT_FAIL;
}
