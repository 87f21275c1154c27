/* mgctl_sign.c — `mgctl sign`: mint signed links (token format v1,
 * docs/token-spec.md) for URLs given as operands or read from stdin one per
 * line. The stream is processed in constant memory: one pool cleared per
 * line, one signer (claims serialised once, MAC context reused), and a large
 * stdio buffer so that a million links are a million MACs, not a million
 * write(2)s. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_date.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_canon.h"
#include "mg_file.h"
#include "mg_fmt.h"
#include "mg_ip.h"
#include "mg_time.h"
#include "mg_token.h"
#include "mg_tz.h"
#include "mgctl_keyopt.h"
#include "mgctl_util.h"

#define OUT_BUFFER (1 << 20)
/* The longest line of standard input read whole: four times what any
 * verifier takes (a path of MG_MAX_PATH, a query of MG_MAX_QUERY, a host);
 * a longer one is refused without being held in memory. */
#define SIGN_LINE_MAX (64 * 1024)

enum {
    OPT_TTL = MGCTL_KEYOPT_NEXT,
    OPT_TZ,
    OPT_NBF,
    OPT_IP,
    OPT_PREFIX,
    OPT_ACCESS,
    OPT_NOW,
    OPT_COOKIE,
    OPT_STS,
    OPT_ID,
    OPT_USES,
    OPT_ONCE,
    OPT_TFMT,
    OPT_PRIVKEY
};

static const apr_getopt_option_t opts[] = {
    {"help", 'h', 0, "show this help"},
    MGCTL_KEYOPT_OPTIONS,
    {"expires", 'e', 1, "RFC 3339 time, epoch seconds, end-of-day, end-of-week or end-of-month"},
    {"ttl", OPT_TTL, 1, "a duration such as 90s, 15m, 1h30m, 2d or 1w"},
    {"tz", OPT_TZ, 1, "a time zone such as Europe/Berlin"},
    {"not-before", OPT_NBF, 1, "RFC 3339 time, epoch seconds, or none"},
    {"ip", OPT_IP, 1, "an IP address or CIDR block such as 10.0.0.0/8"},
    {"prefix", OPT_PREFIX, 1, "a directory path such as /videos/lesson1/"},
    {"access", OPT_ACCESS, 1, "view (default) or download"},
    {"now", OPT_NOW, 1, "RFC 3339 time or epoch seconds"},
    {"cookie", OPT_COOKIE, 0, "print a Set-Cookie value"},
    {"format", 'f', 1, "text (default) or json"},
    {"string-to-sign", OPT_STS, 0, "add the string to sign to JSON output"},
    {"id", OPT_ID, 1, "a token id: 1-32 of A-Z a-z 0-9 - _"},
    {"uses", OPT_USES, 1, "a number of clients from 1 to 100"},
    {"once", OPT_ONCE, 0, "one-time link (--uses 1, random id)"},
    {"token-format", OPT_TFMT, 1, "mg-v1 (default) or a foreign format such as imagekit"},
    {"private-key", OPT_PRIVKEY, 1, "PEM private key file (cloudfront)"},
    {NULL, 0, 0, NULL}};

static const char usage_text[] =
    "Usage: mgctl sign (--policy FILE | --key-file F --key-id ID [--alg A])\n"
    "                  (--expires WHEN | --ttl DURATION) [options] [URL|PATH ...]\n"
    "\n"
    "Mint signed links (token format v1, docs/token-spec.md). Without URL operands,\n"
    "reads one URL or path per line from standard input and writes one signed link\n"
    "per line, streaming (a line that cannot be signed gives an empty output line,\n"
    "a message naming the line on stderr and exit status 1; a line over 64 KiB is\n"
    "such a line, never read whole; blank lines and lines starting with '#' give an\n"
    "empty output line and no message).\n"
    "\n"
    "With --policy, sign refuses (exit 1) what that policy's web server would\n"
    "refuse: a lifetime (from now, or --now, to the expiry, a bucket's end\n"
    "included) over tokens.max_ttl, and an --id in tokens.revoked_ids or the\n"
    "revocation file. An exact --access download link whose query lacks the\n"
    "policy's download parameter (?download=1) gets a warning: it can never\n"
    "download, and the parameter cannot be added after signing.\n"
    "\n"
    "Keys:\n"
    "  -p, --policy FILE     sign with the policy's key marked `sign: true`\n"
    "      --key-file F      sign with this key file ...\n"
    "      --key-id ID       ... under this key id\n"
    "      --alg A           hmac-sha256 | hmac-sha1 | ed25519 (default: from the file)\n"
    "                        A key file that everyone may write, or one below a\n"
    "                        directory everyone may write without the sticky bit,\n"
    "                        is refused (exit 2): anyone could put their key there\n"
    "Expiry (one of):\n"
    "  -e, --expires WHEN    2026-12-31T23:59:59Z, epoch seconds, or a bucket:\n"
    "                        end-of-day | end-of-week | end-of-month (23:59:59 local\n"
    "                        time on the last day; weeks end on Sunday)\n"
    "      --ttl DURATION    relative: 90s, 15m, 1h30m, 2d, 1w (not 0: such a link\n"
    "                        is expired when it is made)\n"
    "      --tz ZONE         time zone of the buckets, Area/City (default UTC)\n"
    "      --now TIME        mint as if the time were TIME (tests, back-dating)\n"
    "Claims:\n"
    "      --not-before WHEN not valid before WHEN (RFC 3339 or epoch seconds);\n"
    "                        links limited in uses (--uses, --once) get the\n"
    "                        signing time (now, or --now) unless WHEN is given:\n"
    "                        after the claim store loses its records (Redis,\n"
    "                        memcached; shmcb at each start of Apache) they work\n"
    "                        at once on shmcb or a store with revocation=off\n"
    "                        (with the store's revocation list, the default,\n"
    "                        only the policy's tokens.max_ttl dates a link's\n"
    "                        signing); none leaves mg_nbf out\n"
    "      --ip ADDR[/BITS]  valid only for this client address or CIDR block\n"
    "      --prefix /DIR/    valid for everything under /DIR/ (HLS/DASH renditions)\n"
    "      --access LEVEL    view (default) | download\n"
    "      --id ID           token id (mg_id, 1-32 of A-Z a-z 0-9 - _): lets the\n"
    "                        policy revoke the link (tokens.revoked_ids)\n"
    "      --uses N          usable by N distinct client addresses (1-100), enforced\n"
    "                        by the module's MediaGuardStore (mgctl uses); without\n"
    "                        --id every link gets its own random id\n"
    "      --once            the same as --uses 1\n"
    "      --cookie          print a Set-Cookie header value for --prefix instead of\n"
    "                        links (for players that drop query strings)\n"
    "Foreign formats (docs/token-formats.md), for sites migrating to mod_media_guard:\n"
    "      --token-format F  mint links of format F (imagekit, nginx-secure-link,\n"
    "                        bunny, gcp-cdn, akamai-edgeauth, cloudfront,\n"
    "                        lighttpd-secdownload) with the policy's key of\n"
    "                        that format (--key-id ID picks one when there are several);\n"
    "                        --expires never for a key that allows links without expiry\n"
    "                        (no_expiry: allow); --ip for formats that bind an address\n"
    "                        (nginx-secure-link, bunny, akamai-edgeauth), --prefix for\n"
    "                        bunny (token_path), gcp-cdn (URLPrefix), akamai-edgeauth\n"
    "                        (the ACL /DIR/*) and lighttpd-secdownload (required for a\n"
    "                        link its key's path_segments makes a directory link: the\n"
    "                        directory of the path's first N segments); --cookie\n"
    "                        --prefix /DIR/ (no URL) for gcp-cdn (Cloud-CDN-Cookie),\n"
    "                        akamai-edgeauth (__token__) and cloudfront (the\n"
    "                        CloudFront-* cookies, one Set-Cookie line each);\n"
    "                        the other claims are refused (the format cannot carry\n"
    "                        them); gcp-cdn links are absolute, on the key's origin;\n"
    "                        lighttpd-secdownload, nginx's secure_link_secret\n"
    "                        (secret_prefix) and bunny with sign_form: path write the\n"
    "                        token in the path\n"
    "      --private-key FILE  cloudfront: the PEM private key (the key entry holds\n"
    "                        the public key only); a canned policy, or a custom one\n"
    "                        with --prefix (Resource https://host/DIR/*), --ip and\n"
    "                        --not-before; links are absolute, on the key's origin\n"
    "Output:\n"
    "  -f, --format F        text (default) | json (one object per line)\n"
    "      --string-to-sign  with --format json: add the exact string that was signed\n"
    "                        (to debug another signer against docs/token-spec.md)\n"
    "  -h, --help            show this help\n"
    "\n"
    "Each option may be given once.\n"
    "\n"
    "Exit status: 0 all signed, 1 some line could not be signed or the policy is\n"
    "invalid or refuses the links (max_ttl, revoked id), 2 usage or I/O error.\n";

typedef struct sign_opts {
    mgctl_keyopt_t keys;
    const char *expires, *ttl, *tz, *nbf, *ip, *prefix, *access, *now, *id;
    int cookie, sts, uses, random_id;
    int no_nbf; /* --not-before none: no mg_nbf, not even on links limited in uses */
    mgctl_format_t format;
    const mg_key_t *key;
    const mg_token_claims_t *claims;
    const char *download_param; /* --access download on exact links: the policy's */
    int *download_warned;       /* the missing-download-parameter warning is given once */
    const char *token_format;   /* --token-format */
    const char *private_key;    /* --private-key FILE */
    const mg_fkey_t *fkey;      /* a foreign format's key: its signer is used instead */
    const mg_policy_t *policy;  /* its reserved query names (download, foreign formats) */
    int path_forms;             /* some key of it has a token in the path (has_path_forms) */
    mg_fmt_claims_t fclaims;
} sign_opts_t;

/* Resolve --now, --expires/--ttl/--tz and --not-before into claims; *now is
 * the minting time. */
static int resolve_times(apr_pool_t *pool, const sign_opts_t *o, mg_token_claims_t *c,
                         apr_time_t *nowp)
{
    apr_time_t now = apr_time_now();
    if (o->now != NULL && mg_time_parse(o->now, &now) != 0)
        return mgctl_usage_error("sign", "--now '%s' is not %s", o->now,
                                 mgctl_time_expected(o->now));
    *nowp = now;
    if ((o->expires != NULL) == (o->ttl != NULL))
        return mgctl_usage_error("sign", "give exactly one of --expires and --ttl");
    if (o->tz != NULL && (o->expires == NULL || strncmp(o->expires, "end-of-", 7) != 0))
        return mgctl_usage_error("sign", "--tz applies only to --expires end-of-day|week|month");
    if (o->ttl != NULL) {
        apr_interval_time_t d;
        if (mg_duration_parse(o->ttl, &d) != 0)
            return mgctl_usage_error("sign", "--ttl '%s' is not a duration such as 15m or 1h30m",
                                     o->ttl);
        /* "0" is a duration (policy.md), but a link that expires as it is
         * made is refused by every verifier once the grace is over */
        if (d <= 0)
            return mgctl_usage_error("sign",
                                     "--ttl %s: a link with no lifetime is expired as soon as "
                                     "it is made; give a lifetime such as 15m",
                                     o->ttl);
        c->expires = now + d;
    } else if (strncmp(o->expires, "end-of-", 7) == 0) {
        const mg_tz_t *tz = mg_tz_utc();
        const char *why;
        if (o->tz != NULL && mg_tz_load(pool, o->tz, &tz, &why) != 0)
            return mgctl_usage_error("sign", "--tz: %s", why);
        if (mg_token_bucket_expiry(o->expires, tz, now, &c->expires) != 0)
            return mgctl_usage_error("sign",
                                     "--expires '%s': buckets are end-of-day, "
                                     "end-of-week and end-of-month",
                                     o->expires);
    } else if (mg_time_parse(o->expires, &c->expires) != 0) {
        return mgctl_usage_error("sign",
                                 "--expires '%s' is not %s, nor a bucket (end-of-day, "
                                 "end-of-week, end-of-month)",
                                 o->expires, mgctl_time_expected(o->expires));
    }
    if (apr_time_sec(c->expires) <= apr_time_sec(now))
        mgctl_err("sign", "warning: the links are already expired");
    if (o->nbf != NULL && mg_time_parse(o->nbf, &c->not_before) != 0)
        return mgctl_usage_error("sign", "--not-before '%s' is not %s, nor none", o->nbf,
                                 mgctl_time_expected(o->nbf));
    /* A link limited in uses says when it was signed, so that a server
     * whose claim store lost its records knows it was not used before
     * (docs/directives.md, "A store that loses its records"). The signing
     * second itself: a server whose clock is behind accepts it within
     * tokens.clock_skew (docs/token-spec.md, step 7), and an earlier
     * second would only refuse it longer after a loss. An expired link
     * gets none (mg_nbf must be earlier than mg_exp). */
    if (o->nbf == NULL && !o->no_nbf && o->uses > 0 && apr_time_sec(now) < apr_time_sec(c->expires))
        c->not_before = apr_time_from_sec(apr_time_sec(now));
    return MGCTL_EXIT_OK;
}

/* A fresh token id: 16 random bytes, base64url (22 characters), never
 * starting with '-': an id is typed or pasted as an argument
 * (`mgctl revoke --store URL ID`), where a leading '-' reads as an option.
 * The first character is the top six bits of raw[0]; '-' is 62
 * (0b111110), so clearing one of them makes it 58 ('6'): 1 of 128 bits
 * loses a little of its randomness in 1 of 64 ids. */
static const char *random_id(apr_pool_t *pool)
{
    unsigned char raw[16];
    char *b64 = apr_palloc(pool, 24);
    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS)
        return NULL;
    if ((raw[0] >> 2) == 62)
        raw[0] &= (unsigned char)~0x10;
    b64[mg_b64url_encode(raw, sizeof(raw), b64)] = '\0';
    return b64;
}

/* Claims for one link: with --uses/--once but no --id, every link is its
 * own N-use link and gets its own id. */
static mg_status_t link_signer(apr_pool_t *pool, const mg_token_signer_t *shared,
                               const sign_opts_t *o, const mg_token_signer_t **signer,
                               const char **why)
{
    if (!o->random_id) {
        *signer = shared;
        return MG_OK;
    }
    mg_token_claims_t c = *o->claims;
    mg_token_signer_t *s;
    if ((c.id = random_id(pool)) == NULL) {
        *why = "no random bytes for a token id";
        return MG_ECRYPTO;
    }
    mg_status_t st = mg_token_signer_make(pool, o->key, &c, &s, why);
    *signer = s;
    return st;
}

/* A line or argument that cannot be signed: a message on stderr, an empty
 * line (or a JSON error object) in its place so outputs stay line-aligned. */
static int refuse_one(apr_pool_t *pool, const sign_opts_t *o, const char *url, long lineno,
                      const char *why)
{
    if (lineno > 0)
        mgctl_err("sign", "line %ld: %s", lineno, why);
    else
        mgctl_err("sign", "%s: %s", url, why);
    if (o->format == MGCTL_FMT_JSON)
        printf("{\"input\":%s,\"error\":%s}\n", mgctl_json_str(pool, url),
               mgctl_json_str(pool, why));
    else
        putchar('\n');
    return 1;
}

/* The request for a download is the query's download parameter with a
 * true value (lib/mg_request.c; its test is private, and this one only
 * decides a warning). */
static int asks_download(apr_pool_t *pool, const char *url, const char *param)
{
    const char *q = strchr(url, '?');
    apr_array_header_t *params;
    const char *why;
    if (q == NULL)
        return 0;
    if (mg_query_parse(pool, q + 1, &params, &why) != 0)
        return 1; /* the signer reports the query */
    for (int i = 0; i < params->nelts; i++) {
        const mg_qparam_t *p = &APR_ARRAY_IDX(params, i, mg_qparam_t);
        if (strcmp(p->name, param) == 0 &&
            (strcmp(p->value, "1") == 0 || apr_cstr_casecmp(p->value, "true") == 0 ||
             apr_cstr_casecmp(p->value, "yes") == 0))
            return 1;
    }
    return 0;
}

/* An exact download link must ask for the download itself: the parameter
 * is covered by the signature, so it cannot be added later
 * (docs/token-spec.md, "Access claim"). A warning, not a refusal: the link
 * still works for viewing. */
static void check_download(apr_pool_t *pool, const sign_opts_t *o, const char *url)
{
    if (o->download_param == NULL || *o->download_warned ||
        asks_download(pool, url, o->download_param))
        return;
    *o->download_warned = 1;
    mgctl_err("sign",
              "warning: %s: this download link (--access download) never downloads: "
              "the web server serves a download only when the query has %s=1, and adding it to "
              "the signed link breaks the signature; sign '%s%c%s=1' instead (only the first such "
              "link is named)",
              url, o->download_param, url, strchr(url, '?') ? '&' : '?', o->download_param);
}

/* A URL whose query already has a parameter some key of the policy reads
 * (another format's, or this policy's nginx names) would be refused by the
 * web server as parameters of two formats: refuse to sign it. */
static mg_status_t foreign_reserved(apr_pool_t *pool, const mg_policy_t *policy, const char *url,
                                    const char **why)
{
    const char *q = strchr(url, '?');
    apr_array_header_t *params;
    if (q == NULL || mg_query_parse(pool, q + 1, &params, why) != 0)
        return MG_OK; /* the format's signer reports a bad query */
    for (int i = 0; i < params->nelts; i++) {
        const char *name = APR_ARRAY_IDX(params, i, mg_qparam_t).name;
        if (mg_fmt_is_reserved_param(policy, name)) {
            *why = apr_psprintf(pool,
                                "the URL already has '%s', a token parameter of a key of the "
                                "policy",
                                name);
            return MG_EINVAL;
        }
    }
    return MG_OK;
}

/* The web server refuses (bad-url) a query that spells the policy's download
 * parameter or a foreign key's parameter so that PHP, Rack or ASP.NET could
 * read it as that name without being exactly it ("Download=1", "ik-S=…",
 * docs/canonical-urls.md): never sign such a link. mg_canon_path, run by
 * every signer, already refuses the spellings of tr and mg_*. */
static mg_status_t policy_reserved(apr_pool_t *pool, const sign_opts_t *o, const char *url,
                                   const char **why)
{
    const mg_policy_t *policy = o->policy;
    const char *q = strchr(url, '?');
    apr_array_header_t *params;
    /* a path that already has a token in it (lighttpd, nginx's
     * secure_link_secret, Bunny's path form): the web server would judge
     * its effective path and see two tokens; the URL to sign is the file's */
    const mg_fmt_path_t *pt = NULL;
    if (o->path_forms) {
        const char *path = url, *sep = url[0] != '/' ? strstr(url, "://") : NULL;
        if (sep != NULL)
            path = sep + 3 + strcspn(sep + 3, "/?#");
        pt = mg_fmt_path_find(pool, policy, apr_pstrmemdup(pool, path, strcspn(path, "?#")));
    }
    if (pt != NULL) {
        *why = apr_psprintf(pool,
                            "the URL's path already has a %s token in it (key '%s'): give the "
                            "file's own URL",
                            pt->key->fmt->name, pt->key->id);
        return MG_EINVAL;
    }
    if (policy == NULL || q == NULL || mg_query_parse(pool, q + 1, &params, why) != 0)
        return MG_OK; /* the signer reports a bad query */
    if (mg_policy_query_check(pool, policy, params, why) != 0)
        return MG_EINVAL;
    return MG_OK;
}

/* Whether some key of the policy reads a token from the path (the keys
 * mg_fmt_path_find tries): asked once, not per link. */
static int has_path_forms(const mg_policy_t *policy)
{
    for (int i = 0; policy != NULL && policy->keys != NULL && i < policy->keys->nelts; i++) {
        const mg_fkey_t *k = APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).fkey;
        if (k != NULL && k->fmt->path_split != NULL)
            return 1;
    }
    return 0;
}

/* Sign one URL and write its line; returns 0 or 1 (line refused). */
static int sign_one(apr_pool_t *pool, const mg_token_signer_t *shared, const sign_opts_t *o,
                    const char *kid, const char *exp_text, const char *url, long lineno)
{
    const char *out, *why = NULL;
    size_t out_len = 0; /* 0: count it */
    const mg_token_signer_t *signer;
    mg_status_t st;
    st = policy_reserved(pool, o, url, &why);
    if (st != MG_OK) {
        /* reported below */
    } else if (o->fkey != NULL) {
        st = foreign_reserved(pool, o->policy, url, &why);
        if (st == MG_OK)
            st = o->fkey->fmt->sign(pool, o->fkey, url, &o->fclaims, &out, &why);
    } else {
        st = link_signer(pool, shared, o, &signer, &why);
        if (st == MG_OK)
            st = mg_token_signer_sign_n(signer, pool, url, &out, &out_len, &why);
    }
    if (st != MG_OK) {
        /* the canonicaliser names a class of bytes; say which one, where */
        const char *which =
            strstr(why, "control byte, space") ? mgctl_path_byte_why(pool, url) : NULL;
        return refuse_one(pool, o, url, lineno, which ? which : why);
    }
    check_download(pool, o, url);
    if (o->format == MGCTL_FMT_JSON) {
        const char *sts = NULL;
        if (o->sts && o->fkey == NULL &&
            mg_token_string_to_sign(pool, o->key, url, o->claims, &sts, &why) != MG_OK)
            sts = NULL;
        printf("{\"input\":%s,\"url\":%s,\"kid\":%s,\"expires\":%s%s%s}\n",
               mgctl_json_str(pool, url), mgctl_json_str(pool, out), mgctl_json_str(pool, kid),
               exp_text, o->sts ? ",\"string_to_sign\":" : "",
               o->sts ? mgctl_json_str(pool, sts) : "");
    } else {
        fwrite_unlocked(out, 1, out_len ? out_len : strlen(out), stdout);
        putchar_unlocked('\n');
    }
    return 0;
}

static int sign_stream(apr_pool_t *pool, const mg_token_signer_t *signer, const sign_opts_t *o,
                       const char *kid, const char *exp_text)
{
    apr_pool_t *lp;
    char *line;
    size_t len;
    long lineno = 0;
    int failed = 0, more;
    apr_pool_create(&lp, pool);
    /* stdout is flushed whenever reading would wait: streaming for a
     * program that feeds one path and reads its link back, one large write
     * per megabyte otherwise */
    mgctl_lines_t *in = mgctl_lines_open(lp, 0, stdout, SIGN_LINE_MAX);
    apr_pool_t *tp; /* per line; lp keeps the reader */
    apr_pool_create(&tp, lp);
    while ((more = mgctl_lines_next(in, &line, &len)) > 0) {
        lineno++;
        if (more == 2) { /* never held whole: no URL a server takes is so long */
            failed |= refuse_one(tp, o, "", lineno,
                                 apr_psprintf(tp, "the line is longer than %d bytes (%lu)",
                                              SIGN_LINE_MAX, (unsigned long)len));
            apr_pool_clear(tp);
            continue;
        }
        size_t n = len;
        while (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        /* blank and comment lines (first non-blank '#': never a URL) are
         * skipped like empty ones, keeping the output line-aligned */
        size_t lead = strspn(line, " \t");
        if (lead == n || line[lead] == '#') {
            if (o->format != MGCTL_FMT_JSON)
                putchar_unlocked('\n');
            continue;
        }
        /* a line may hold NUL bytes but the signer reads a C string: the
         * URL would end at the NUL and a prefix of the line (another file, a
         * directory) would be signed. Refuse the whole line instead. */
        if (memchr(line, '\0', n) != NULL)
            failed |= refuse_one(tp, o, line, lineno, "NUL byte in the line");
        else
            failed |= sign_one(tp, signer, o, kid, exp_text, line, lineno);
        apr_pool_clear(tp);
    }
    apr_pool_destroy(lp);
    if (more < 0) {
        fputs("mgctl sign: error reading standard input\n", stderr);
        return MGCTL_EXIT_USAGE;
    }
    return failed ? MGCTL_EXIT_FAIL : MGCTL_EXIT_OK;
}

/* What the verifier refuses and a signer with the policy knows in advance
 * (docs/token-spec.md: "A signer refuses to produce a link that a verifier
 * would refuse"): a lifetime over tokens.max_ttl, a revoked token id.
 * Revoked keys never sign (mg_keys_signing). Exit 1, like a refused line. */
static int check_policy_limits(apr_pool_t *pool, const sign_opts_t *o, const mg_policy_t *policy,
                               const mg_token_claims_t *c, apr_time_t now)
{
    const mg_token_settings_t *ts = &policy->tokens;
    const char *name = o->keys.policy_file;
    /* the verifier's test at the moment of minting, in whole seconds as
     * mg_exp is; a bucket expiry counts with its rounding to the period's
     * end, and the clock-skew allowance is for clocks, not for lifetimes */
    apr_interval_time_t life = apr_time_from_sec(apr_time_sec(c->expires) - apr_time_sec(now));
    if (name != NULL && ts->max_ttl > 0 && life > ts->max_ttl) {
        char tbuf[32];
        mgctl_err("sign",
                  "the links would be valid for %s (until %s), longer than "
                  "tokens.max_ttl %s of %s allows: the web server refuses them "
                  "(token-malformed); give a shorter --ttl or --expires",
                  mgctl_duration_text(pool, life), mg_time_format(c->expires, tbuf, sizeof(tbuf)),
                  mgctl_duration_text(pool, ts->max_ttl), name);
        return MGCTL_EXIT_FAIL;
    }
    if (name != NULL && c->id != NULL && ts->revoked_set != NULL &&
        apr_hash_get(ts->revoked_set, c->id, APR_HASH_KEY_STRING) != NULL) {
        mgctl_err("sign",
                  "token id '%s' is revoked by %s (tokens.revoked_ids or "
                  "tokens.revocation_file): the web server refuses its links (token-revoked)",
                  c->id, name);
        return MGCTL_EXIT_FAIL;
    }
    return MGCTL_EXIT_OK;
}

static int sign_cookie(apr_pool_t *pool, const mg_policy_t *policy, const mg_key_t *key,
                       const mg_token_claims_t *c, const sign_opts_t *o)
{
    const char *value, *why;
    if (c->scope == NULL)
        return mgctl_usage_error("sign", "--cookie needs --prefix /DIR/");
    if (mg_token_sign_cookie(pool, key, c, &value, &why) != MG_OK) {
        mgctl_err("sign", "%s", why);
        return MGCTL_EXIT_FAIL;
    }
    const char *name = policy->tokens.cookie_name ? policy->tokens.cookie_name : "mg_token";
    char date[APR_RFC822_DATE_LEN];
    apr_rfc822_date(date, c->expires);
    const char *header =
        apr_pstrcat(pool, name, "=", value, "; Path=", mg_token_encode(pool, c->scope),
                    "; Expires=", date, "; Secure; HttpOnly; SameSite=Lax", NULL);
    if (o->format == MGCTL_FMT_JSON)
        printf("{\"name\":%s,\"value\":%s,\"set_cookie\":%s}\n", mgctl_json_str(pool, name),
               mgctl_json_str(pool, value), mgctl_json_str(pool, header));
    else
        printf("%s\n", header);
    return MGCTL_EXIT_OK;
}

/* The URLs of the operands, or of standard input. */
static int sign_all(apr_pool_t *pool, const mg_token_signer_t *signer, const sign_opts_t *o,
                    apr_getopt_t *os, const char *kid, const char *exp_text)
{
    int rc;
    static char outbuf[OUT_BUFFER];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if (os->ind >= os->argc)
        rc = sign_stream(pool, signer, o, kid, exp_text);
    else {
        int failed = 0;
        for (int i = os->ind; i < os->argc; i++)
            failed |= sign_one(pool, signer, o, kid, exp_text, os->argv[i], 0);
        rc = failed ? MGCTL_EXIT_FAIL : MGCTL_EXIT_OK;
    }
    /* ferror: a write that failed earlier, when a full buffer or a wait
     * for input flushed it */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        /* errno is the last failed write's (ENOSPC, EPIPE with SIGPIPE
         * ignored); cleared so that main does not say it a second time */
        fprintf(stderr, "mgctl sign: error writing to standard output: %s\n", strerror(errno));
        clearerr(stdout);
        return MGCTL_EXIT_USAGE;
    }
    return rc;
}

/* --token-format F --cookie: the Set-Cookie value of a format's signed
 * cookie (Cloud-CDN-Cookie, Akamai __token__) for --prefix, one line (or
 * JSON object) per cookie for a format that sets several (CloudFront). */
static int sign_foreign_cookie(apr_pool_t *pool, sign_opts_t *o, const mg_token_claims_t *c,
                               const char *kid)
{
    const char *pairs, *why = NULL;
    mg_status_t st = o->fkey->fmt->sign_cookie(pool, o->fkey, &o->fclaims, &pairs, &why);
    if (st != MG_OK) {
        mgctl_err("sign", "%s", why);
        return MGCTL_EXIT_FAIL;
    }
    const char *attrs = apr_pstrcat(pool, "; Path=", mg_token_encode(pool, o->prefix), NULL);
    if (c->expires != 0) {
        char date[APR_RFC822_DATE_LEN];
        apr_rfc822_date(date, c->expires);
        attrs = apr_pstrcat(pool, attrs, "; Expires=", date, NULL);
    }
    attrs = apr_pstrcat(pool, attrs, "; Secure; HttpOnly; SameSite=Lax", NULL);
    for (const char *p = pairs; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        const char *pair = apr_pstrmemdup(pool, p, n);
        const char *eq = strchr(pair, '=');
        const char *name = apr_pstrmemdup(pool, pair, (apr_size_t)(eq - pair));
        const char *header = apr_pstrcat(pool, pair, attrs, NULL);
        if (o->format == MGCTL_FMT_JSON)
            printf("{\"name\":%s,\"value\":%s,\"set_cookie\":%s,\"kid\":%s}\n",
                   mgctl_json_str(pool, name), mgctl_json_str(pool, eq + 1),
                   mgctl_json_str(pool, header), mgctl_json_str(pool, kid));
        else
            printf("%s\n", header);
        p += n + (p[n] == '\n');
    }
    return fflush(stdout) == 0 ? MGCTL_EXIT_OK : MGCTL_EXIT_USAGE;
}

/* --token-format F: links of a foreign format (lib/mg_fmt.h), with the
 * policy's key of that format. Only the claims the format can carry. */
static int sign_foreign(apr_pool_t *pool, sign_opts_t *o, apr_getopt_t *os)
{
    const char *why;
    const mg_fmt_t *fmt = mg_fmt_find(o->token_format);
    if (fmt == NULL)
        return mgctl_usage_error("sign", "--token-format '%s' is not one of %s", o->token_format,
                                 mg_fmt_names(pool));
    if ((o->prefix && !(fmt->caps & MG_FMT_CAP_SCOPE)) || (o->ip && !(fmt->caps & MG_FMT_CAP_IP)) ||
        (o->cookie && !(fmt->caps & MG_FMT_CAP_COOKIE)) ||
        (o->nbf && !(fmt->caps & MG_FMT_CAP_NBF)) || o->access || o->id || o->uses || o->sts)
        return mgctl_usage_error("sign",
                                 "--token-format %s carries an expiry%s%s%s%s only (no %s%s%s%s"
                                 "--access, --id, --uses, --once or --string-to-sign)",
                                 fmt->name, fmt->caps & MG_FMT_CAP_IP ? ", an address" : "",
                                 fmt->caps & MG_FMT_CAP_SCOPE ? ", a prefix" : "",
                                 fmt->caps & MG_FMT_CAP_NBF ? ", a not-before time" : "",
                                 fmt->caps & MG_FMT_CAP_COOKIE ? " (as a link or a cookie)" : "",
                                 fmt->caps & MG_FMT_CAP_IP ? "" : "--ip, ",
                                 fmt->caps & MG_FMT_CAP_SCOPE ? "" : "--prefix, ",
                                 fmt->caps & MG_FMT_CAP_COOKIE ? "" : "--cookie, ",
                                 fmt->caps & MG_FMT_CAP_NBF ? "" : "--not-before, ");
    if (o->cookie && o->prefix == NULL)
        return mgctl_usage_error("sign", "--cookie needs --prefix /DIR/");
    if (o->cookie && os->ind < os->argc)
        return mgctl_usage_error("sign", "--cookie signs the --prefix, not URLs");
    /* a directory, as for native links: the formats' prefixes are string
     * prefixes (an ACL "/v/l1*", a URLPrefix ".../v/l1", a token_path), so
     * "/v/l1" would also grant /v/l10/ and /v/l1-staff/ */
    if (o->prefix != NULL && !mg_token_scope_valid(pool, o->prefix))
        return mgctl_usage_error("sign",
                                 "--prefix '%s': the prefix must be a canonical directory path "
                                 "starting and ending with '/'",
                                 o->prefix);
    if (o->keys.policy_file == NULL)
        return mgctl_usage_error("sign",
                                 "--token-format %s needs --policy (its key entry holds "
                                 "the format's options)",
                                 fmt->name);
    if ((o->private_key != NULL) != ((fmt->caps & MG_FMT_CAP_PRIVATE) != 0))
        return mgctl_usage_error("sign",
                                 o->private_key ? "--private-key is for formats whose key entry "
                                                  "holds a public key (cloudfront), not %s"
                                                : "--token-format %s signs with a private key "
                                                  "the policy does not hold: give "
                                                  "--private-key FILE",
                                 fmt->name);
    if (o->private_key != NULL) {
        mg_file_t pk;
        if (mg_file_read(pool, o->private_key, 16384, &pk, &why) != MG_OK) {
            mgctl_err("sign", "--private-key: %s", why);
            return MGCTL_EXIT_USAGE;
        }
        o->fclaims.private_key = pk.data;
    }
    const char *want = o->keys.key_id;
    o->keys.key_id = NULL;
    mg_token_claims_t c;
    apr_time_t now = 0;
    memset(&c, 0, sizeof(c));
    int never = o->expires != NULL && strcmp(o->expires, "never") == 0;
    int rc;
    if (never) {
        if (o->ttl != NULL || o->tz != NULL)
            return mgctl_usage_error("sign", "--expires never goes without --ttl and --tz");
        if (o->now != NULL && mg_time_parse(o->now, &now) != 0)
            return mgctl_usage_error("sign", "--now '%s' is not %s", o->now,
                                     mgctl_time_expected(o->now));
    } else if ((rc = resolve_times(pool, o, &c, &now)) != MGCTL_EXIT_OK) {
        return rc;
    }
    mg_cidr_t cidr;
    if (o->ip != NULL && mg_cidr_parse_pool(pool, o->ip, &cidr, &why) != 0)
        return mgctl_usage_error("sign", "--ip '%s': %s", o->ip, why);
    mg_policy_t *policy;
    if ((rc = mgctl_keyopt_load(pool, "sign", &o->keys, &policy)) != MGCTL_EXIT_OK)
        return rc;
    const mg_keyref_t *ref = NULL;
    for (int i = 0; ref == NULL && i < policy->keys->nelts; i++) {
        const mg_keyref_t *r = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
        if (r->fkey != NULL && r->fkey->fmt == fmt && !r->revoked &&
            (want == NULL || strcmp(r->id, want) == 0))
            ref = r;
    }
    if (ref == NULL) {
        mgctl_err("sign", "%s has no %skey of format %s%s%s", o->keys.policy_file,
                  want ? "" : "unrevoked ", fmt->name, want ? " named " : "", want ? want : "");
        return MGCTL_EXIT_USAGE;
    }
    c.format = fmt->name;
    if ((rc = check_policy_limits(pool, o, policy, &c, now)) != MGCTL_EXIT_OK)
        return rc;
    if (never && policy->tokens.max_ttl > 0) {
        mgctl_err("sign", "links without expiry are refused by tokens.max_ttl of %s",
                  o->keys.policy_file);
        return MGCTL_EXIT_FAIL;
    }
    o->fkey = ref->fkey;
    o->policy = policy;
    o->path_forms = has_path_forms(policy);
    o->fclaims.exp = never ? 0 : apr_time_sec(c.expires);
    o->fclaims.ip = o->ip;
    o->fclaims.scope = o->prefix;
    o->fclaims.nbf = o->nbf ? apr_time_sec(c.not_before) : 0;
    if (o->cookie)
        return sign_foreign_cookie(pool, o, &c, ref->id);
    char tbuf[32];
    const char *exp_text =
        never ? "null"
              : apr_pstrcat(pool, "\"", mg_time_format(c.expires, tbuf, sizeof(tbuf)), "\"", NULL);
    return sign_all(pool, NULL, o, os, ref->id, exp_text);
}

/* One option of the command line: MGCTL_EXIT_OK, or the usage error. */
static int parse_option(sign_opts_t *o, int ch, const char *arg)
{
    switch (ch) {
    case 'e':
        o->expires = arg;
        break;
    case OPT_TTL:
        o->ttl = arg;
        break;
    case OPT_TZ:
        o->tz = arg;
        break;
    case OPT_NBF:
        if (strcmp(arg, "none") == 0)
            o->no_nbf = 1;
        else
            o->nbf = arg;
        break;
    case OPT_IP:
        o->ip = arg;
        break;
    case OPT_PREFIX:
        o->prefix = arg;
        break;
    case OPT_ACCESS:
        o->access = arg;
        break;
    case OPT_NOW:
        o->now = arg;
        break;
    case OPT_COOKIE:
        o->cookie = 1;
        break;
    case OPT_STS:
        o->sts = 1;
        break;
    case OPT_ID:
        o->id = arg;
        break;
    case OPT_USES: {
        char *end;
        long n = strtol(arg, &end, 10);
        if (*arg < '1' || *arg > '9' || *end != '\0' || n < 1 || n > MG_TOKEN_USES_MAX)
            return mgctl_usage_error("sign", "--uses takes a number from 1 to %d",
                                     MG_TOKEN_USES_MAX);
        if (o->uses != 0 && o->uses != (int)n)
            return mgctl_usage_error("sign", "--once is --uses 1; give one of them");
        o->uses = (int)n;
        break;
    }
    case OPT_ONCE:
        if (o->uses > 1)
            return mgctl_usage_error("sign", "--once is --uses 1; give one of them");
        o->uses = 1;
        break;
    case 'f':
        if (mgctl_format_parse(arg, 1u << MGCTL_FMT_TEXT | 1u << MGCTL_FMT_JSON, &o->format))
            return mgctl_usage_error("sign", "--format is text or json%s",
                                     mg_fmt_find(arg) ? " (a token format is "
                                                        "--token-format)"
                                                      : "");
        break;
    case OPT_TFMT:
        o->token_format = arg;
        break;
    case OPT_PRIVKEY:
        o->private_key = arg;
        break;
    default:
        mgctl_keyopt_take(&o->keys, ch, arg);
        break;
    }
    return MGCTL_EXIT_OK;
}

/* Step 1: the options (docs/mgctl.md, "sign"). 1 when signing goes on;
 * 0 when the command is over (--help answered, or a usage error), with *rc
 * its exit code. */
static int parse_options(apr_pool_t *pool, int argc, const char *const *argv, sign_opts_t *o,
                         apr_getopt_t **osp, int *rc)
{
    apr_getopt_t *os = mgctl_getopt_init(pool, "sign", argc, argv);
    int ch;
    const char *arg;

    *osp = os;
    while ((ch = mgctl_getopt_next(os, opts, usage_text, &arg, rc)) > 0) {
        *rc = parse_option(o, ch, arg);
        if (*rc != MGCTL_EXIT_OK)
            return 0;
    }
    if (ch < 0)
        return 0;
    if (o->sts && o->format != MGCTL_FMT_JSON) {
        *rc = mgctl_usage_error("sign", "--string-to-sign needs --format json");
        return 0;
    }
    return 1;
}

/* Step 2: the claims of the links from the options: times, address, scope,
 * id and uses, access. */
static int claims_from_options(apr_pool_t *pool, sign_opts_t *o, mg_token_claims_t *c,
                               apr_time_t *now)
{
    mg_cidr_t cidr;
    const char *why;
    memset(c, 0, sizeof(*c));
    int rc = resolve_times(pool, o, c, now);
    if (rc != MGCTL_EXIT_OK)
        return rc;
    if (o->ip != NULL && mg_cidr_parse_pool(pool, o->ip, &cidr, &why) != 0)
        return mgctl_usage_error("sign", "--ip '%s': %s", o->ip, why);
    c->ip = o->ip;
    c->scope = o->prefix;
    c->id = o->id;
    c->uses = o->uses;
    if (o->id != NULL && !mg_token_id_valid(o->id))
        return mgctl_usage_error("sign", "--id '%s' is not 1-32 of A-Z a-z 0-9 - _", o->id);
    o->random_id = o->uses > 0 && o->id == NULL;
    if (o->random_id && o->sts)
        return mgctl_usage_error("sign", "--string-to-sign with --uses/--once needs --id");
    c->access = MG_ACCESS_VIEW;
    if (o->access != NULL) {
        if (strcmp(o->access, "download") == 0)
            c->access = MG_ACCESS_DOWNLOAD;
        else if (strcmp(o->access, "view") != 0)
            return mgctl_usage_error("sign", "--access is view or download");
    }
    return MGCTL_EXIT_OK;
}

/* Step 3: the key: the policy's `sign: true` key, or the --key-file. */
static int choose_key(apr_pool_t *pool, const sign_opts_t *o, mg_policy_t **policy,
                      const mg_key_t **key)
{
    int rc = mgctl_keyopt_load(pool, "sign", &o->keys, policy);
    if (rc != MGCTL_EXIT_OK)
        return rc;
    *key = mg_keys_signing(*policy);
    if (*key == NULL && o->keys.key_file != NULL) {
        mgctl_err("sign",
                  "%s holds an Ed25519 public key; signing needs the private key "
                  "(the .key file mgctl keygen wrote next to the .pub)",
                  o->keys.key_file);
        return MGCTL_EXIT_USAGE;
    }
    if (*key == NULL) {
        mgctl_err("sign",
                  "%s has no signing key (mark one key `sign: true`; an "
                  "Ed25519 key needs its private half)",
                  o->keys.policy_file);
        return MGCTL_EXIT_USAGE;
    }
    return MGCTL_EXIT_OK;
}

/* Step 4: the output: one signed link per URL of the operands or standard
 * input (text or JSON). */
static int sign_links(apr_pool_t *pool, sign_opts_t *o, apr_getopt_t *os, const mg_policy_t *policy,
                      const mg_key_t *key, mg_token_claims_t *c)
{
    int download_warned = 0;
    const char *why;
    if (c->access == MG_ACCESS_DOWNLOAD && c->scope == NULL) {
        o->download_param = policy->download_param ? policy->download_param : "download";
        o->download_warned = &download_warned;
    }
    mg_token_signer_t *signer;
    o->policy = policy;
    o->path_forms = has_path_forms(policy);
    o->key = key;
    o->claims = c;
    /* validates the claims once, also when every link gets its own id */
    if (mg_token_signer_make(pool, key, c, &signer, &why) != MG_OK)
        return mgctl_usage_error("sign", "%s", why);
    char tbuf[32];
    const char *exp_text =
        apr_pstrcat(pool, "\"", mg_time_format(c->expires, tbuf, sizeof(tbuf)), "\"", NULL);

    return sign_all(pool, signer, o, os, mg_key_id(key), exp_text);
}

int mgctl_cmd_sign(apr_pool_t *pool, int argc, const char *const *argv)
{
    sign_opts_t o;
    apr_getopt_t *os;
    mg_token_claims_t c;
    apr_time_t now = 0;
    mg_policy_t *policy;
    const mg_key_t *key;
    int rc;

    memset(&o, 0, sizeof(o));
    if (!parse_options(pool, argc, argv, &o, &os, &rc))
        return rc;
    if (o.token_format != NULL && strcmp(o.token_format, MG_FMT_NATIVE) != 0)
        return sign_foreign(pool, &o, os);
    if (o.private_key != NULL)
        return mgctl_usage_error("sign", "--private-key goes with --token-format cloudfront");
    if ((rc = claims_from_options(pool, &o, &c, &now)) != MGCTL_EXIT_OK)
        return rc;
    if ((rc = choose_key(pool, &o, &policy, &key)) != MGCTL_EXIT_OK)
        return rc;
    if ((rc = check_policy_limits(pool, &o, policy, &c, now)) != MGCTL_EXIT_OK)
        return rc;
    if (o.random_id && (c.id = random_id(pool)) == NULL) {
        fputs("mgctl sign: no random bytes for a token id\n", stderr);
        return MGCTL_EXIT_USAGE;
    }
    if (o.cookie)
        return sign_cookie(pool, policy, key, &c, &o);
    return sign_links(pool, &o, os, policy, key, &c);
}
