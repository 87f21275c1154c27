/* test_loader.c — the policy loader: every kind of mistake is reported at
 * the right line:column with a stable code, valid policies load into the
 * structures of mg_policy.h, and the canonical emitter round-trips. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <openssl/evp.h>

#include "mg.h"
#include "mg_canon.h"
#include "mg_keys.h"
#include "mg_policy.h"
#include "mg_test.h"
#include "mg_yaml.h"

#define DATA MG_SRCDIR "/tests/unit/data"

static mg_diags_t *ds;

static int str_same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Every load of this file is made twice: as callers load (the rules
 * streamed when `rules:` comes last) and with the whole YAML tree built
 * first (MG_LOAD_NO_STREAM). Both must give the same status, the same
 * diagnostics in the same order and the same digest. */
static mg_policy_t *load_len(const char *yaml, size_t len)
{
    mg_policy_t *p = NULL, *q = NULL;
    mg_diags_t *tree = mg_diags_make(mg_test_pool);
    ds = mg_diags_make(mg_test_pool);
    mg_status_t st = mg_policy_load_buffer(mg_test_pool, "t.yaml", DATA, yaml, len, &p, ds);
    ck_assert_int_eq(st == MG_OK, p != NULL);
    mg_status_t st2 = mg_policy_load_buffer_ex(mg_test_pool, "t.yaml", DATA, yaml, len,
                                               MG_LOAD_NO_STREAM, &q, tree);
    ck_assert_int_eq(st, st2);
    ck_assert_int_eq(ds->errors, tree->errors);
    ck_assert_int_eq(ds->warnings, tree->warnings);
    ck_assert_int_eq(ds->items->nelts, tree->items->nelts);
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *a = &APR_ARRAY_IDX(ds->items, i, mg_diag_t);
        const mg_diag_t *b = &APR_ARRAY_IDX(tree->items, i, mg_diag_t);
        ck_assert_msg(a->severity == b->severity && a->line == b->line && a->col == b->col &&
                          str_same(a->code, b->code) && str_same(a->msg, b->msg) &&
                          str_same(a->hint, b->hint),
                      "diagnostic %d streamed: %s; tree: %s", i, mg_diag_format(mg_test_pool, a),
                      mg_diag_format(mg_test_pool, b));
    }
    if (p != NULL)
        ck_assert_str_eq(mg_policy_digest(p), mg_policy_digest(q));
    return p;
}

static mg_policy_t *load(const char *yaml)
{
    return load_len(yaml, strlen(yaml));
}

static const char *all_diags(void)
{
    const char *s = "";
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, i, mg_diag_t);
        s = apr_psprintf(mg_test_pool, "%s  %s [%s]\n", s, mg_diag_format(mg_test_pool, d),
                         d->code);
    }
    return s;
}

static const mg_diag_t *find_diag(int line, int col, const char *code)
{
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, i, mg_diag_t);
        if (d->line == line && d->col == col && strcmp(d->code, code) == 0)
            return d;
    }
    return NULL;
}

#define ck_diag(line, col, code)                                                                   \
    ck_assert_msg(find_diag(line, col, code), "expected %d:%d [%s], got:\n%s", line, col, code,    \
                  all_diags())

static mg_policy_t *load_ok(const char *yaml)
{
    mg_policy_t *p = load(yaml);
    ck_assert_msg(p != NULL, "policy refused:\n%s", all_diags());
    ck_assert_int_eq(ds->errors, 0);
    return p;
}

/* ------------------------------------------------------------ error table */

typedef struct err_case {
    const char *what;
    const char *yaml;
    int line, col;
    const char *code;
    const char *hint; /* expected hint, or NULL for "don't care" */
    const char *msg;  /* substring of the message, or NULL */
} err_case_t;

#define V1 "version: 1\n"
#define R0 "rules: []\n"
#define RULE "rules:\n  - id: a\n    path: /\n" /* lines 2-4 after V1 */

static const err_case_t err_cases[] = {
    {"unknown top-level key gets a hint", V1 "rols: [a]\n" R0, 2, 1, "unknown-key",
     "did you mean 'roles'?", "unknown key 'rols' in the policy"},
    {"unknown key in a rule gets a hint and names the rule",
     V1 RULE "    acess: {anonymous: view}\n", 5, 5, "unknown-key", "did you mean 'access'?",
     "unknown key 'acess' in rule 'a'"},
    {"unknown key far from any name has no hint", V1 "colour: red\n" R0, 2, 1, "unknown-key", NULL,
     NULL},
    {"a boolean where a mapping belongs", V1 "login: true\n" R0, 2, 8, "wrong-type", NULL,
     "expected a mapping for login, got the boolean true"},
    {"a number where a list belongs", V1 "roles: 5\n" R0, 2, 8, "wrong-type", NULL,
     "got the number 5"},
    {"a list where a mapping belongs", V1 "login: [x]\n" R0, 2, 8, "wrong-type", NULL,
     "expected a mapping for login, got a list"},
    {"a mapping where a list of strings belongs", V1 "roles: {a: 1}\n" R0, 2, 8, "wrong-type", NULL,
     "expected a list of strings for 'roles', got a mapping"},
    {"a string where a list belongs gets a hint",
     "version: 1\nroles: [staff]\nidentity: {users: {bob: staff}}\n" R0, 3, 25, "wrong-type",
     "write [staff]", "expected a list of strings for 'bob'"},
    {"a list item that is not a string", V1 "roles: [a, [b]]\n" R0, 2, 12, "wrong-type", NULL,
     NULL},
    {"a string where a boolean belongs", V1 RULE "    access: {anonymous: view}\n    login: yes\n",
     6, 12, "wrong-type", NULL, "expected true or false"},
    {"a quoted number is not an integer",
     V1 RULE "    access: {anonymous: none}\n    deny: {status: \"404\"}\n", 6, 20, "wrong-type",
     NULL, "expected an integer"},
    {"duplicate key", V1 R0 "version: 1\n", 3, 1, "duplicate-key", NULL, "first defined at line 1"},
    {"duplicate key in a nested mapping",
     V1 RULE "    access: {anonymous: view, anonymous: none}\n", 5, 31, "duplicate-key", NULL,
     NULL},
    {"bad CIDR carries mg_cidr_parse's sentence", V1 "trusted_proxies: [10.0.0.1/24]\n" R0, 2, 19,
     "bad-cidr", NULL, "host bits"},
    {"bad IP address", V1 "ip_sets:\n  office: [192.0.2.300]\n" R0, 3, 12, "bad-cidr", NULL, NULL},
    {"unknown time zone", V1 "timezone: Mars/Base\n" R0, 2, 11, "unknown-timezone", NULL,
     "Mars/Base"},
    {"unknown time zone in a window", V1 "time_windows:\n  w: {timezone: Europe/Nowhere}\n" R0, 3,
     17, "unknown-timezone", NULL, NULL},
    /* a right/ zone counts leap seconds: refused at its line:column, not read 27 s off */
    {"leap-second zone", V1 "time_windows:\n  w: {timezone: right/Europe/Berlin}\n" R0, 3, 17,
     "unknown-timezone", NULL, "counts leap seconds"},
    {"bad duration", V1 "tokens: {grace: 5 minutes}\n" R0, 2, 17, "bad-duration", NULL,
     "'5 minutes'"},
    {"bad hh:mm", V1 "time_windows:\n  w: {hours: [\"9-17\"]}\n" R0, 3, 15, "bad-time", NULL, NULL},
    {"hour 25 is not a time", V1 "time_windows:\n  w: {hours: [\"09:00-25:00\"]}\n" R0, 3, 15,
     "bad-time", NULL, NULL},
    {"empty hours range", V1 "time_windows:\n  w: {hours: [\"10:00-10:00\"]}\n" R0, 3, 15,
     "bad-time", NULL, "empty"},
    {"impossible date", V1 "time_windows:\n  w: {dates: [\"2026-02-30\"]}\n" R0, 3, 15, "bad-date",
     NULL, NULL},
    {"reversed date range", V1 "time_windows:\n  w: {dates: [\"2026-12-31..2026-01-01\"]}\n" R0, 3,
     15, "reversed-range", NULL, "ends before it starts"},
    {"unknown weekday gets a hint", V1 "time_windows:\n  w: {days: [mon, fryday]}\n" R0, 3, 19,
     "unknown-weekday", "did you mean 'fri'?", NULL},
    {"bad indentation reports libyaml's problem", V1 "rules:\n  - id: a\n   path: /\n", 4, 4,
     "yaml-syntax", NULL, "did not find expected '-' indicator"},
    {"tab indentation gets a hint", V1 "rules:\n\t- id: a\n", 3, 1, "yaml-syntax",
     "indent with spaces: YAML does not allow tabs there", "cannot start any token"},
    {"unclosed bracket says where it opened", V1 "rules: [a, b\n", 3, 1, "yaml-syntax",
     "it started at line 2, column 8", "did not find expected ',' or ']'"},
    {"mapping value in the wrong place", V1 "rules:\n  - id: a\n      path: /\n", 4, 11,
     "yaml-syntax", NULL, "mapping values are not allowed"},
    {"undefined role in access gets a hint",
     "version: 1\nroles: [staff]\n" RULE "    access: {staf: view}\n", 6, 14, "undefined-role",
     "did you mean 'staff'?", "undefined role 'staf'"},
    {"undefined role for a user",
     "version: 1\nroles: [staff]\nidentity:\n  users:\n    bob: [ghost]\n" R0, 5, 11,
     "undefined-role", NULL, NULL},
    {"undefined authenticated_role", V1 "identity: {authenticated_role: member}\n" R0, 2, 32,
     "undefined-role", NULL, NULL},
    {"undefined class gets a hint", V1 RULE "    classes: [imgae]\n    access: {anonymous: view}\n",
     5, 15, "undefined-class", "did you mean 'image'?", NULL},
    {"undefined ip set gets a hint",
     V1 "ip_sets: {office: [192.0.2.0/24]}\n" RULE "    ip: {allow: [ofice]}\n"
        "    access: {anonymous: view}\n",
     6, 18, "undefined-ip-set", "did you mean 'office'?", NULL},
    {"undefined time window", V1 RULE "    time: lunch\n    access: {anonymous: view}\n", 5, 11,
     "undefined-time-window", NULL, NULL},
    {"undefined hotlink profile", V1 RULE "    hotlink: own\n    access: {anonymous: view}\n", 5,
     14, "undefined-hotlink", NULL, NULL},
    {"undefined transforms profile",
     V1 RULE "    transforms: preview\n    access: {anonymous: view}\n", 5, 17,
     "undefined-transforms", NULL, NULL},
    {"token without keys", V1 RULE "    token: required\n", 5, 12, "undefined-key", NULL, NULL},
    {"access level other than none|view|download", V1 RULE "    access: {anonymous: read}\n", 5, 25,
     "bad-access", NULL, "none, view, download"},
    {"deny status outside 400-599",
     V1 RULE "    access: {anonymous: none}\n    deny: {status: 302}\n", 6, 20, "bad-status", NULL,
     NULL},
    {"deny status 401 needs a challenge a denial cannot send",
     V1 RULE "    access: {anonymous: none}\n    deny: {status: 401}\n", 6, 20, "bad-status",
     "use 403, or let the rule's access require a role so that a login is asked for",
     "deny status 401 needs an authentication challenge"},
    {"deny status 407 is refused like 401",
     V1 RULE "    access: {anonymous: none}\n    deny: {status: 407, message: no}\n", 6, 20,
     "bad-status", NULL, "deny status 407 needs an authentication challenge"},
    {"a misspelt anonymous gets a hint",
     "version: 1\nroles: [staff]\n" RULE "    access: {anonymus: view}\n", 6, 14, "undefined-role",
     "did you mean 'anonymous'?", "undefined role 'anonymus'"},
    {"a misspelt anonymous is reported although roles is misspelt too",
     "version: 1\nrols: [staff]\n" RULE "    access: {anonymus: view}\n", 6, 14, "undefined-role",
     "did you mean 'anonymous'?", NULL},
    {"unknown weekday far from any has the list as its only hint",
     V1 "time_windows:\n  w: {days: [xyzzy]}\n" R0, 3, 14, "unknown-weekday",
     "use mon, tue, wed, thu, fri, sat, sun or the full English names", "unknown weekday 'xyzzy'"},
    {"a flow mapping value with ': ' gets a quoting hint",
     V1 RULE "    access: {anonymous: none}\n    deny: {message: Note: members only}\n", 6, 25,
     "yaml-syntax", "quote values that contain ': ', e.g. \"Note: members only\"",
     "did not find expected ',' or '}'"},
    {"a missing ',' before a key with a nested mapping gets the comma hint, not quoting",
     V1 "rules:\n  - {id: a, path: /a/ access: {anonymous: view}}\n", 3, 29, "yaml-syntax",
     "a ',' missing before 'access'?", "did not find expected ',' or '}'"},
    {"a missing ',' across lines of a flow mapping gets the comma hint",
     V1 "rules:\n  - {id: a, path: /a/\n     access: {anonymous: view}}\n", 4, 12, "yaml-syntax",
     "a ',' missing before 'access'?", NULL},
    {"several words before ': ' and a plain value after get both hints",
     V1 RULE "    access: {anonymous: none}\n    deny: {message: Hello world: welcome}\n", 6, 32,
     "yaml-syntax",
     "a ',' missing before 'world'? If not, quote values that contain ': ', e.g. \"Note: members "
     "only\"",
     NULL},
    {"words before ': ' that are no key get only the quoting hint",
     V1 RULE "    access: {anonymous: none}\n    deny: {message: see /x/y: here}\n", 6, 29,
     "yaml-syntax", "quote values that contain ': ', e.g. \"Note: members only\"", NULL},
    {"deny with message and page",
     V1 RULE "    access: {anonymous: none}\n    deny: {message: no, page: /x.html}\n", 6, 25,
     "deny-conflict", NULL, NULL},
    {"login url with another scheme", V1 "login: {url: \"ftp://example.com/\"}\n" R0, 2, 14,
     "bad-login-url", NULL, NULL},
    {"protocol-relative login url", V1 "login: {url: \"//evil.example/\"}\n" R0, 2, 14,
     "bad-login-url", NULL, NULL},
    {"login without login.url", V1 RULE "    access: {anonymous: none}\n    login: true\n", 6, 12,
     "login-without-url", NULL, NULL},
    {"access missing without token: required", V1 RULE, 3, 5, "missing-access", NULL, NULL},
    {"version missing", "rules: []\n", 1, 1, "missing-key", NULL, "version"},
    {"version other than 1", "version: 2\n" R0, 1, 10, "bad-version", NULL, NULL},
    {"rules missing", V1 "name: x\n", 1, 1, "missing-key", NULL, "rules"},
    {"rules not a list", V1 "rules: {a: 1}\n", 2, 8, "wrong-type", NULL, NULL},
    {"alias refused", V1 "rules: *x\n", 2, 8, "yaml-alias", NULL, "aliases are not supported"},
    {"anchor refused", V1 "roles: &r [a]\n" R0, 2, 8, "yaml-alias", NULL, NULL},
    {"custom tag refused", V1 "name: !foo bar\n" R0, 2, 7, "yaml-tag", NULL, NULL},
    {"two documents refused", V1 R0 "---\nversion: 1\n", 3, 1, "yaml-syntax", NULL, NULL},
    {"invalid UTF-8 refused with a position", V1 "name: \xff\n" R0, 2, 7, "bad-encoding", NULL,
     NULL},
    {"root must be a mapping", "- a\n", 1, 1, "wrong-type", NULL, NULL},
    {"duplicate rule id",
     V1 RULE "    access: {anonymous: view}\n  - id: a\n    path: /x\n"
             "    access: {anonymous: view}\n",
     6, 9, "duplicate-id", NULL, "already used at line 3"},
    {"duplicate role", V1 "roles: [a, b, a]\n" R0, 2, 15, "duplicate-name", NULL, NULL},
    {"reserved role name", V1 "roles: [anonymous]\n" R0, 2, 9, "bad-value", NULL, NULL},
    /* issue 14: a download parameter every server stack reads literally */
    {"download_param with a dot", V1 "download_param: dl.x\n" R0, 2, 17, "bad-value", NULL,
     "not a valid parameter name"},
    {"download_param with brackets", V1 "download_param: \"dl[]\"\n" R0, 2, 17, "bad-value", NULL,
     NULL},
    {"download_param in the mg_ namespace", V1 "download_param: MG_dl\n" R0, 2, 17, "bad-value",
     NULL, NULL},
    {"download_param tr", V1 "download_param: TR\n" R0, 2, 17, "bad-value", NULL, NULL},
    /* red team 20: a cookie named as tr or the download parameter is
     * refused at request time, so the signed cookie may not be named so */
    {"signed cookie named tr", V1 "tokens: {cookie: tr}\n" R0, 2, 18, "bad-value", NULL,
     "reads as 'tr' or the download parameter"},
    {"signed cookie named as the download parameter",
     V1 "download_param: dl\ntokens: {cookie: DL}\n" R0, 3, 18, "bad-value", NULL, NULL},
    {"signed cookie named as tr with brackets", V1 "tokens: {cookie: \"tr.\"}\n" R0, 2, 18,
     "bad-value", NULL, NULL},
    {"duplicate key id", V1 "keys:\n  - {id: k, file: keys/k2026.key}\n  - {id: k, file: x}\n" R0,
     4, 10, "duplicate-id", NULL, NULL},
    {"two signing keys",
     V1 "keys:\n  - {id: a, file: a.key, sign: true}\n  - {id: b, file: b.key, sign: true}\n" R0, 4,
     32, "multiple-signing-keys", NULL, NULL},
    {"unknown key algorithm gets a hint",
     V1 "keys:\n  - {id: a, file: a.key, alg: hmac-sha265}\n" R0, 3, 31, "bad-value",
     "did you mean 'hmac-sha256'?", NULL},
    {"built-in class cannot be redefined", V1 "classes:\n  image: [jpg]\n" R0, 3, 3,
     "builtin-class", NULL, NULL},
    {"extension with a dot gets a hint", V1 "classes:\n  raw: [.CR2]\n" R0, 3, 9, "bad-extension",
     "write 'cr2'", NULL},
    {"path without a leading slash",
     V1 "rules:\n  - id: a\n    path: photos/\n"
        "    access: {anonymous: view}\n",
     4, 11, "bad-path", "write '/photos/'", NULL},
    {"path with an empty segment",
     V1 "rules:\n  - id: a\n    path: [/a, /b//c]\n"
        "    access: {anonymous: view}\n",
     4, 16, "bad-path", NULL, NULL},
    {"** inside a segment",
     V1 "rules:\n  - id: a\n    path: \"/a/x**/b\"\n"
        "    access: {anonymous: view}\n",
     4, 11, "bad-path", NULL, NULL},
    {"lower-case method gets a hint", V1 RULE "    methods: [get]\n    access: {anonymous: view}\n",
     5, 15, "bad-method", "did you mean 'GET'?", NULL},
    {"bad country code", V1 RULE "    country: {deny: [DEU]}\n    access: {anonymous: view}\n", 5,
     22, "bad-country", NULL, NULL},
    {"origin with a path gets a hint",
     V1 "hotlink:\n  h: {allowed_origins: [\"https://a.example/\"]}\n" R0, 3, 25, "bad-origin",
     "write 'https://a.example' without the path", NULL},
    {"bad navigation value", V1 "hotlink:\n  h: {navigation: open}\n" R0, 3, 19, "bad-value", NULL,
     NULL},
    {"bad empty_referer value", V1 "hotlink:\n  h: {empty_referer: block}\n" R0, 3, 22, "bad-value",
     NULL, NULL},
    {"bad transformation set", V1 "transforms:\n  p: {sets: [\"w-,h-5\"]}\n" R0, 3, 14,
     "bad-transform", NULL, NULL},
    {"require entry must be key-value parameters",
     V1 "transforms:\n  p: {require: [\"w-1,h\"]}\n" R0, 3, 17, "bad-transform", NULL, NULL},
    {"min above max", V1 "transforms:\n  p:\n    params:\n      w: {min: 500, max: 100}\n" R0, 5,
     26, "reversed-range", NULL, NULL},
    {"unknown roles_from source gets a hint", V1 "identity:\n  roles_from: [user]\n" R0, 3, 16,
     "bad-value", "did you mean 'users'?", NULL},
    {"roles_from entry with two sources",
     V1 "identity:\n  roles_from:\n    - {env: A, header: B}\n" R0, 4, 16, "bad-value", NULL,
     "exactly one"},
    {"policy name with a space", V1 "name: my policy\n" R0, 2, 7, "bad-value", NULL, NULL},
    {"bad default", V1 "default: permit\n" R0, 2, 10, "bad-value", NULL, NULL},
    {"integer too large", V1 "transforms: {p: {params: {w: {max: 12345678901}}}}\n" R0, 2, 36,
     "bad-value", NULL, "too large"},
    /* red team 26c: what an admin writes for a country, a time window, the
     * proxies and a directory glob that would have loaded and granted */
    {"UK is no assigned country code: the United Kingdom is GB",
     V1 RULE "    country: {deny: [FR, uk]}\n    access: {anonymous: view}\n", 5, 26, "bad-country",
     "the United Kingdom is GB", "country.deny would never match it"},
    {"EL is no assigned country code: Greece is GR",
     V1 RULE "    country: {allow: [EL]}\n    access: {anonymous: view}\n", 5, 23, "bad-country",
     "Greece is GR; EL is the European Union's abbreviation", "country.allow"},
    {"EU is no country", V1 RULE "    country: {deny: [EU]}\n    access: {anonymous: view}\n", 5,
     22, "bad-country", "EU is no country: list the member states, AT, BE, ... SE", NULL},
    {"a reserved country code gets the generic hint",
     V1 RULE "    country: {deny: [YU]}\n    access: {anonymous: view}\n", 5, 22, "bad-country",
     "ISO 3166-1 reserves 'YU' or leaves it unassigned: write the country's assigned code",
     "'YU' is not an assigned ISO 3166-1 country code"},
    {"an empty hours list is not 'no hours': it would hold all day",
     V1 "time_windows:\n  w: {days: [sat], hours: []}\n" R0, 3, 27, "bad-value",
     "leave 'hours' out for all day, or list ranges, e.g. [\"09:00-17:00\"]",
     "hours must list at least one entry: an empty list would mean all day"},
    {"an empty dates list is not 'no dates': it would hold on any date",
     V1 "time_windows:\n  w:\n    dates: []\n" R0, 4, 12, "bad-value",
     "leave 'dates' out for any date, or list dates, e.g. [\"2026-12-24\"]",
     "an empty list would mean any date"},
    {"an empty days list", V1 "time_windows:\n  w: {days: []}\n" R0, 3, 13, "bad-value",
     "leave 'days' out for every day, or list weekdays, e.g. [mon, tue]", NULL},
    {"trusting 0.0.0.0/0 lets every client send the roles header",
     V1 "trusted_proxies: [10.0.0.5, 0.0.0.0/0]\nroles: [staff]\n"
        "identity: {roles_from: [{header: X-Roles}]}\n" R0,
     2, 29, "trusted-everyone", "list only your proxies' addresses, e.g. 10.0.0.5/32",
     "trusted_proxies entry '0.0.0.0/0' trusts every IPv4 client, so any of them can send header "
     "'X-Roles' and choose its own roles"},
    {"trusting ::/0 lets every client send the country header",
     V1 "trusted_proxies: [\"::/0\"]\ncountry: {from: {header: CF-IPCountry}}\n" R0, 2, 19,
     "trusted-everyone", NULL,
     "trusts every IPv6 client, so any of them can send header "
     "'CF-IPCountry' and choose its own country"},
    {"trusting ::ffff:0:0/96 is trusting 0.0.0.0/0",
     V1 "trusted_proxies: [\"::ffff:0:0/96\"]\ncountry: {from: {header: CF-IPCountry}}\n" R0, 2, 19,
     "trusted-everyone", NULL, "every IPv4 client"},
    {"trusting 0.0.0.0/1 and 128.0.0.0/1 is trusting 0.0.0.0/0",
     V1 "trusted_proxies: [10.0.0.5, 0.0.0.0/1, 128.0.0.0/1]\nroles: [staff]\n"
        "identity: {roles_from: [{header: X-Roles}]}\n" R0,
     2, 18, "trusted-everyone", "list only your proxies' addresses, e.g. 10.0.0.5/32",
     "trusted_proxies entries together hold every IPv4 address, so any IPv4 client can send "
     "header 'X-Roles' and choose its own roles"},
    {"trusting ::/1 and 8000::/1 is trusting ::/0",
     V1 "trusted_proxies:\n  - \"::/1\"\n  - \"8000::/1\"\n"
        "country: {from: {header: CF-IPCountry}}\n" R0,
     3, 3, "trusted-everyone", NULL,
     "together hold every IPv6 address, so any IPv6 client can send header 'CF-IPCountry' and "
     "choose its own country"},
    {"a glob ending in '/' owns the directory, not its files",
     V1 "rules:\n  - {id: a, path: \"/*/private/\", access: {anonymous: none}}\n", 3, 19,
     "bad-path", "write '/*/private/**' for everything below it",
     "glob pattern '/*/private/' ends in '/', so it matches only the directory itself"},
    {"an integer with a leading 0 is octal to YAML 1.1 tools",
     V1 RULE "    deny: {status: 0403}\n    access: {anonymous: view}\n", 5, 20, "bad-value",
     "write 403",
     "0403 for 'status' has a leading 0, which YAML 1.1 tools read as an octal number"},
    {"a negative integer with leading zeros",
     V1 "transforms: {p: {params: {w: {max: 9, min: -007}}}}\n" R0, 2, 44, "bad-value", "write -7",
     NULL},
    {"a glob ending in '/**/' gets '/**' as the fix",
     V1 "rules:\n  - {id: a, path: [/a/, \"/b/**/\"], access: {anonymous: none}}\n", 3, 25,
     "bad-path", "write '/b/**' for everything below it", NULL},
};

START_TEST(test_each_error_kind_has_exact_position_and_code)
{
    const err_case_t *tc = &err_cases[_i];
    mg_policy_t *p = load(tc->yaml);
    ck_assert_msg(p == NULL, "%s: policy was accepted", tc->what);
    const mg_diag_t *d = find_diag(tc->line, tc->col, tc->code);
    ck_assert_msg(d != NULL, "%s: expected %d:%d [%s], got:\n%s", tc->what, tc->line, tc->col,
                  tc->code, all_diags());
    ck_assert_int_eq(d->severity, MG_SEV_ERROR);
    ck_assert_str_eq(d->file, "t.yaml");
    if (tc->hint)
        ck_assert_msg(d->hint && strcmp(d->hint, tc->hint) == 0, "%s: hint '%s', expected '%s'",
                      tc->what, d->hint ? d->hint : "(none)", tc->hint);
    else if (strcmp(tc->what, "unknown key far from any name has no hint") == 0)
        ck_assert_ptr_null(d->hint);
    if (tc->msg)
        ck_assert_msg(strstr(d->msg, tc->msg), "%s: message '%s' lacks '%s'", tc->what, d->msg,
                      tc->msg);
}
END_TEST

/* ------------------------------------------------------------ patterns a canonical path never has
 */

/* YAML double-quoted text of s ('\\' and '"' escaped). */
static const char *yq(const char *s)
{
    const char *out = "";
    for (; *s; s++) {
        if ((unsigned char)s[0] == 0xc2 && (unsigned char)s[1] >= 0x80 &&
            (unsigned char)s[1] <= 0x9f) {
            /* a C1 control: libyaml takes it only escaped */
            out = apr_psprintf(mg_test_pool, "%s\\u00%02X", out, (unsigned char)s[1]);
            s++;
            continue;
        }
        out = apr_pstrcat(mg_test_pool, out,
                          *s == '\\'  ? "\\\\"
                          : *s == '"' ? "\\\""
                                      : apr_pstrmemdup(mg_test_pool, s, 1),
                          NULL);
    }
    return out;
}

static mg_policy_t *load_pattern(const char *pattern)
{
    return load(apr_psprintf(mg_test_pool,
                             "version: 1\ndefault: allow\nrules:\n"
                             "  - {id: secret, path: \"%s\", access: {anonymous: none}}\n",
                             yq(pattern)));
}

/* review3 #2: the loader refuses exactly the literal segments that the
 * canonicaliser never leaves in a path. For each segment the canonicaliser
 * is asked directly (its encoded spelling, and its spelling as written,
 * must canonicalise back to it); an accepted pattern must then own that
 * request, and a refused one is a bad-path error at the pattern. */
static const char *const pattern_segments[] = {
    "my%20photos", "caf%C3%A9", "a%41",      "100%25",    "%2f",   "tr:w-100", "tr:",
    "TR:w-100",    "Tr:x",      "q;v=1",     ";x",        "r.",    "r ",       "s\\t",
    "...",         "..a",       "a..b",      "100%",      "%",     "%2",       "%2g",
    "%zz",         "a#b",       "my photos", "café",      "日本",  "B.JPG",    ".htaccess",
    "a:b",         "tr",        "tr-x:1",    "x\xc2\x80", "~user", "a+b,c=d",  "@x",
};

START_TEST(test_literal_pattern_segments_are_refused_exactly_when_canonicalisation_drops_them)
{
    const char *seg = pattern_segments[_i];
    const char *pattern = apr_pstrcat(mg_test_pool, "/", seg, "/", NULL);
    const char *probe = apr_pstrcat(mg_test_pool, "/", seg, "/f.jpg", NULL);
    mg_canon_t cn;
    const char *why;
    int canon_keeps = mg_canon_path(mg_test_pool, mg_pct_encode_path(mg_test_pool, probe), NULL,
                                    &cn, &why) == 0 &&
                      strcmp(cn.path, probe) == 0;
    /* spelt as written (as copied from a browser), it never reaches the
     * segment either when the canonical form cannot hold it */
    int raw_keeps =
        mg_canon_path(mg_test_pool, probe, NULL, &cn, &why) == 0 && strcmp(cn.path, probe) == 0;
    mg_policy_t *p = load_pattern(pattern);
    if (canon_keeps) {
        ck_assert_msg(p != NULL, "'%s' refused although a request can have it:\n%s", pattern,
                      all_diags());
        mg_canon_t req;
        ck_assert_int_eq(
            mg_canon_path(mg_test_pool, mg_pct_encode_path(mg_test_pool, probe), NULL, &req, &why),
            0);
        const mg_rule_t *r =
            mg_policy_match(p, req.path, mg_class_of_ext(p, req.ext), mg_method_bit("GET"));
        ck_assert_msg(r != NULL && strcmp(r->id, "secret") == 0, "'%s' does not own %s", pattern,
                      probe);
    } else {
        ck_assert_msg(p == NULL, "'%s' accepted although no canonical path has it", pattern);
        ck_assert_msg(!raw_keeps, "'%s' as written canonicalises to itself", pattern);
        ck_diag(4, 24, "bad-path");
        ck_assert_int_eq(ds->errors, 1);
    }
}
END_TEST

static const struct {
    const char *pattern;
    int ok;
} glob_patterns[] = {
    {"/a/*%20*/", 0}, {"/a/%2?/b", 1},  {"/a/?%2/b", 1}, {"/a/*.JPG", 1}, {"/a/tr:*/", 0},
    {"/a/TR:*", 0},   {"/a/t?:*/b", 1}, {"/a/*tr:x", 1}, {"/a/*.", 0},    {"/a/*.?", 1},
    {"/a/* ", 0},     {"/a/*;x", 0},    {"/a/x*\\", 0},  {"/a/*%*", 1},   {"/a/**/b.jpg", 1},
    {"/a/...*", 1},   {"/**/x%41*", 0}, {"/a/?./", 0},   {"/a/ *", 1},
};

START_TEST(test_glob_pattern_segments_are_refused_when_their_literal_text_never_matches)
{
    mg_policy_t *p = load_pattern(glob_patterns[_i].pattern);
    ck_assert_msg((p != NULL) == glob_patterns[_i].ok, "%s: expected %s:\n%s",
                  glob_patterns[_i].pattern, glob_patterns[_i].ok ? "accepted" : "refused",
                  all_diags());
    if (!glob_patterns[_i].ok)
        ck_diag(4, 24, "bad-path");
}
END_TEST

static const err_case_t never_matching_patterns[] = {
    {"an encoded space", "/my%20photos/", 4, 24, "bad-path",
     "patterns match the decoded path: write '/my photos/'", "has a %XX escape"},
    {"encoded UTF-8", "/caf%C3%A9/", 4, 24, "bad-path",
     "patterns match the decoded path: write '/café/'", NULL},
    {"an encoded slash has no decoded spelling", "/a%2Fb/", 4, 24, "bad-path",
     "patterns match the decoded path: write the characters themselves (a literal '%' is fine)",
     NULL},
    {"a transformation segment", "/p/tr:w-100/", 4, 24, "bad-path",
     "write '/p/'; limit transformations with 'transforms'", "is a transformation segment"},
    {"upper-case TR:", "/p/TR:w-100/", 4, 24, "bad-path", NULL, "in lower case"},
    {"path parameters", "/q;v=1/", 4, 24, "bad-path", "write '/q/'", "';' starts path parameters"},
    {"a trailing dot", "/r./", 4, 24, "bad-path", NULL, "ends in '.'"},
    {"a trailing space", "/r /", 4, 24, "bad-path", NULL, "ends in a space"},
    {"a backslash", "/s\\t/", 4, 24, "bad-path", NULL, "has a '\\'"},
    {"only dots", "/a/.../", 4, 24, "bad-path", NULL, "made only of dots"},
};

START_TEST(test_never_matching_pattern_is_explained_with_a_fix)
{
    const err_case_t *tc = &never_matching_patterns[_i];
    ck_assert_ptr_null(load_pattern(tc->yaml));
    const mg_diag_t *d = find_diag(tc->line, tc->col, tc->code);
    ck_assert_msg(d != NULL, "%s: got\n%s", tc->what, all_diags());
    ck_assert_ptr_nonnull(strstr(d->msg, apr_psprintf(mg_test_pool, "'%s'", tc->yaml)));
    if (tc->hint)
        ck_assert_msg(d->hint && strcmp(d->hint, tc->hint) == 0, "%s: hint '%s'", tc->what,
                      d->hint ? d->hint : "(none)");
    if (tc->msg)
        ck_assert_msg(strstr(d->msg, tc->msg), "%s: message '%s'", tc->what, d->msg);
}
END_TEST

/* ------------------------------------------------------------ named error tests */

START_TEST(test_all_errors_of_a_file_are_reported_in_one_pass)
{
    mg_policy_t *p = load("version: 1\n"
                          "rols: [a]\n"                     /* 2:1 unknown-key */
                          "timezone: Mars/Base\n"           /* 3:11 */
                          "trusted_proxies: [1.2.3.4/40]\n" /* 4:19 */
                          "rules:\n"
                          "  - id: a\n"
                          "    path: /a\n"
                          "    classes: [imgae]\n"          /* 8:15 */
                          "    access: {anonymous: read}\n" /* 9:25 */
                          "  - id: a\n"                     /* 10:9 duplicate */
                          "    path: /b\n"
                          "    access: {anonymous: view}\n");
    ck_assert_ptr_null(p);
    ck_diag(2, 1, "unknown-key");
    ck_diag(3, 11, "unknown-timezone");
    ck_diag(4, 19, "bad-cidr");
    ck_diag(8, 15, "undefined-class");
    ck_diag(9, 25, "bad-access");
    ck_diag(10, 9, "duplicate-id");
    ck_assert_int_eq(ds->errors, 6);
}
END_TEST

START_TEST(test_a_broken_definition_is_not_reported_again_where_it_is_used)
{
    ck_assert_ptr_null(load("version: 1\n"
                            "roles: [\"a b\"]\n"
                            "classes: {raw: [.cr2]}\n"
                            "ip_sets: {office: [10.0.0.1/8]}\n"
                            "time_windows: {w: {days: [someday]}}\n"
                            "hotlink: {h: {corp: none}}\n"
                            "transforms: {t: {forms: [url]}}\n"
                            "rules:\n  - id: a\n    path: /\n    classes: [raw]\n"
                            "    ip: {allow: [office], deny: [office, 10.0.0.0/8]}\n"
                            "    time: w\n    hotlink: h\n    transforms: t\n"
                            "    access: {\"a b\": view}\n"));
    ck_assert_int_eq(ds->errors, 6); /* one per broken definition, none in the rule */
    for (int i = 0; i < ds->items->nelts; i++)
        ck_assert_int_lt(APR_ARRAY_IDX(ds->items, i, mg_diag_t).line, 8);
}
END_TEST

/* review3 #16: one typo in `roles` is one error, not one more per use */
START_TEST(test_a_misspelt_or_mistyped_roles_key_does_not_cascade_into_undefined_roles)
{
    static const char *const roles_lines[] = {"rols: [member, staff]\n", "roles: member\n",
                                              "roles: {member: 1}\n"};
    for (int i = 0; i < 3; i++) {
        const char *yaml =
            apr_pstrcat(mg_test_pool, "version: 1\n", roles_lines[i],
                        "identity: {users: {bob: [member]}, "
                        "authenticated_role: member}\n"
                        "rules:\n"
                        "  - {id: a, path: /a/, access: {member: view}}\n"
                        "  - {id: b, path: /b/, access: {staff: view, member: none}}\n",
                        NULL);
        ck_assert_ptr_null(load(yaml));
        ck_assert_msg(ds->errors == 1, "%s: expected one error, got:\n%s", roles_lines[i],
                      all_diags());
        ck_assert_int_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).line, 2);
    }
    /* with `roles` fine, an undeclared role is still an error at each use */
    ck_assert_ptr_null(load("version: 1\nroles: [staff]\n"
                            "rules:\n  - {id: a, path: /a/, access: {member: view}}\n"
                            "  - {id: b, path: /b/, access: {member: view}}\n"));
    ck_diag(4, 33, "undefined-role");
    ck_diag(5, 33, "undefined-role");
    ck_assert_int_eq(ds->errors, 2);
    /* and a top-level typo of something else does not hide them */
    ck_assert_ptr_null(load("version: 1\nroles: [staff]\nnmae: x\n"
                            "rules:\n  - {id: a, path: /a/, access: {member: view}}\n"));
    ck_diag(5, 33, "undefined-role");
}
END_TEST

START_TEST(test_every_duplicate_key_is_reported_not_only_the_first)
{
    ck_assert_ptr_null(load("version: 1\nrules: []\nname: a\nname: b\nname: c\n"));
    ck_diag(4, 1, "duplicate-key");
    ck_diag(5, 1, "duplicate-key");
}
END_TEST

START_TEST(test_nesting_deeper_than_64_levels_is_refused)
{
    char yaml[256] = "version: 1\nrules: ";
    size_t n = strlen(yaml);
    for (int i = 0; i < 70; i++)
        yaml[n++] = '[';
    for (int i = 0; i < 70; i++)
        yaml[n++] = ']';
    yaml[n++] = '\n';
    yaml[n] = 0;
    ck_assert_ptr_null(load(yaml));
    /* the root mapping is level 1; the 64th '[' would be level 65 */
    ck_diag(2, 8 + 63, "yaml-depth");
}
END_TEST

START_TEST(test_more_than_64_roles_is_refused_at_the_65th)
{
    char *yaml = "version: 1\nrules: []\nroles:\n";
    for (int i = 0; i < 65; i++)
        yaml = apr_psprintf(mg_test_pool, "%s  - r%d\n", yaml, i);
    ck_assert_ptr_null(load(yaml));
    ck_diag(3 + 65, 5, "too-many-roles");
    ck_assert_int_eq(ds->errors, 1);
}
END_TEST

START_TEST(test_more_than_64_classes_is_refused_built_ins_included)
{
    /* one user class more than the built-ins leave room for */
    const int n = MG_MAX_CLASSES - MG_N_BUILTIN_CLASSES + 1;
    char *yaml = "version: 1\nrules: []\nclasses:\n";
    for (int i = 0; i < n; i++)
        yaml = apr_psprintf(mg_test_pool, "%s  c%d: [x%d]\n", yaml, i, i);
    ck_assert_ptr_null(load(yaml));
    ck_diag(3 + n, 3, "too-many-classes");
    ck_assert_int_eq(ds->errors, 1);
}
END_TEST

START_TEST(test_file_larger_than_16_mib_is_refused)
{
    size_t len = 16 * 1024 * 1024 + 1;
    char *buf = apr_palloc(mg_test_pool, len);
    memset(buf, '#', len);
    ck_assert_ptr_null(load_len(buf, len));
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "file-too-large");
}
END_TEST

START_TEST(test_empty_file_is_refused)
{
    ck_assert_ptr_null(load("# nothing but a comment\n"));
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "file-empty");
}
END_TEST

START_TEST(test_missing_file_is_an_io_error)
{
    mg_policy_t *p = NULL;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_load_file(mg_test_pool, DATA "/no-such.yaml", &p, ds), MG_EIO);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "io");
}
END_TEST

START_TEST(test_header_roles_without_trusted_proxies_warn_but_load)
{
    mg_policy_t *p =
        load_ok("version: 1\nidentity:\n  roles_from: [{header: X-Roles}]\nrules: []\n");
    ck_assert_int_eq(ds->warnings, 1);
    ck_diag(3, 25, "untrusted-header");
    ck_assert_int_eq(APR_ARRAY_IDX(p->role_sources, 0, mg_role_source_t).kind, MG_SRC_HEADER);
}
END_TEST

START_TEST(test_key_file_errors_come_from_the_key_loader_at_the_key)
{
    /* valid policy text, but the key file does not exist */
    ck_assert_ptr_null(
        load("version: 1\nkeys:\n  - id: k\n    file: keys/missing.key\nrules: []\n"));
    ck_assert_int_ge(ds->errors, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).line, 3);
}
END_TEST

/* ------------------------------------------------------------ valid policies */

START_TEST(test_minimal_policy_gets_documented_defaults)
{
    mg_policy_t *p = load_ok("version: 1\nrules:\n  - id: a\n    path: /\n"
                             "    access: {anonymous: view}\n");
    ck_assert_str_eq(mg_policy_name(p), "t");
    ck_assert_int_eq(p->version, 1);
    ck_assert_int_eq(p->deflt, MG_DEFAULT_DENY);
    ck_assert_str_eq(p->tz_name, "UTC");
    ck_assert_str_eq(p->download_param, "download");
    ck_assert_ptr_null(p->login_url);
    ck_assert_str_eq(p->login_return_param, "return_to");
    ck_assert_int_eq(p->role_sources->nelts, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(p->role_sources, 0, mg_role_source_t).kind, MG_SRC_USERS);
    ck_assert_int_eq(p->authenticated_role, -1);
    ck_assert_int_eq(p->tokens.skew, apr_time_from_sec(30));
    ck_assert_int_eq(p->tokens.grace, 0);
    ck_assert_int_eq(p->tokens.max_ttl, 0);
    ck_assert_str_eq(p->tokens.cookie_name, "mg_token");
    const mg_rule_t *r = &APR_ARRAY_IDX(p->rules, 0, mg_rule_t);
    ck_assert_int_eq(r->methods, MG_M_GET | MG_M_HEAD);
    ck_assert_int_eq(r->deny.status, 403);
    ck_assert_int_eq(r->login, 0);
    ck_assert_int_eq(r->token, MG_TOKEN_NONE);
    ck_assert_int_eq(r->classes, 0);
    ck_assert_int_eq(r->pos.line, 3);
    ck_assert_int_eq(r->pos.col, 5);
    ck_assert_ptr_nonnull(p->digest);
    ck_assert_uint_eq(strlen(mg_policy_digest(p)), 64);
}
END_TEST

START_TEST(test_built_in_classes_come_first_then_user_classes)
{
    mg_policy_t *p = load_ok("version: 1\nclasses:\n  raw-photo: [arw, cr2]\nrules:\n"
                             "  - id: a\n    path: /\n    classes: [media, raw-photo]\n"
                             "    access: {anonymous: view}\n");
    static const char *const names[] = {"image", "video", "stream", "media", "audio", "raw-photo"};
    ck_assert_int_eq(p->classes->nelts, 6);
    for (int i = 0; i < 6; i++) {
        const mg_class_t *c = &APR_ARRAY_IDX(p->classes, i, mg_class_t);
        ck_assert_str_eq(c->name, names[i]);
        ck_assert_int_eq(c->builtin, i < MG_N_BUILTIN_CLASSES);
    }
    const mg_class_t *media = &APR_ARRAY_IDX(p->classes, MG_CLASS_MEDIA, mg_class_t);
    const mg_class_t *img = &APR_ARRAY_IDX(p->classes, MG_CLASS_IMAGE, mg_class_t);
    const mg_class_t *vid = &APR_ARRAY_IDX(p->classes, MG_CLASS_VIDEO, mg_class_t);
    const mg_class_t *aud = &APR_ARRAY_IDX(p->classes, MG_CLASS_AUDIO, mg_class_t);
    ck_assert_int_eq(media->exts->nelts, img->exts->nelts + vid->exts->nelts + aud->exts->nelts);
    ck_assert_int_eq(APR_ARRAY_IDX(p->rules, 0, mg_rule_t).classes,
                     (1u << MG_CLASS_MEDIA) | (1u << 5));
}
END_TEST

START_TEST(test_path_patterns_are_measured_for_specificity)
{
    mg_policy_t *p = load_ok("version: 1\nrules:\n  - id: a\n"
                             "    path: [/photos/thumbs/, /photos/*/x.jpg, /, "
                             "\"/videos/**/*.m3u8\", /photos]\n"
                             "    access: {anonymous: view}\n");
    const apr_array_header_t *pp = APR_ARRAY_IDX(p->rules, 0, mg_rule_t).paths;
    static const int depth[] = {2, 1, 0, 1, 1};
    static const int glob[] = {0, 1, 0, 1, 0};
    ck_assert_int_eq(pp->nelts, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(APR_ARRAY_IDX(pp, i, mg_pathpat_t).literal_depth, depth[i]);
        ck_assert_int_eq(APR_ARRAY_IDX(pp, i, mg_pathpat_t).is_glob, glob[i]);
    }
    ck_assert_str_eq(APR_ARRAY_IDX(pp, 0, mg_pathpat_t).text, "/photos/thumbs/");
    ck_assert_int_eq(APR_ARRAY_IDX(pp, 1, mg_pathpat_t).pos.col, 29);
}
END_TEST

START_TEST(test_ip_lists_merge_named_sets_and_inline_cidrs)
{
    mg_policy_t *p = load_ok("version: 1\nip_sets:\n  office: [192.0.2.0/24, \"2001:db8::/32\"]\n"
                             "rules:\n  - id: a\n    path: /\n"
                             "    ip: {allow: [office, 198.51.100.7], deny: [office]}\n"
                             "    access: {anonymous: view}\n");
    const mg_rule_t *r = &APR_ARRAY_IDX(p->rules, 0, mg_rule_t);
    ck_assert_ptr_null(r->ip_allow->name);
    ck_assert_int_eq(r->ip_allow->cidrs->nelts, 3);
    mg_ip_t ip;
    ck_assert_int_eq(mg_ip_parse("198.51.100.7", &ip), 0);
    ck_assert(mg_cidr_match(&APR_ARRAY_IDX(r->ip_allow->cidrs, 2, mg_cidr_t), &ip));
    /* a lone set name points at the set itself */
    ck_assert_ptr_eq(r->ip_deny, &APR_ARRAY_IDX(p->ipsets, 0, mg_ipset_t));
    ck_assert_str_eq(r->ip_deny->name, "office");
}
END_TEST

START_TEST(test_identity_resolves_roles_to_bits)
{
    mg_policy_t *p =
        load_ok("version: 1\nroles: [subscriber, staff, member]\n"
                "trusted_proxies: [10.0.0.0/8]\n"
                "identity:\n  users:\n    alice: [subscriber]\n    bob: [staff, subscriber]\n"
                "  roles_from:\n    - users\n    - {note: ldap-groups, separator: \" \", "
                "prefix: media-}\n    - header: X-Roles\n"
                "  authenticated_role: member\n"
                "rules:\n  - id: a\n    path: /\n"
                "    access: {anonymous: none, staff: download, authenticated: view}\n");
    ck_assert_int_eq(p->roles->nelts, 3);
    ck_assert_int_eq(p->users->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(p->users, 1, mg_user_roles_t).user, "bob");
    ck_assert_uint_eq(APR_ARRAY_IDX(p->users, 1, mg_user_roles_t).roles, 3);
    ck_assert_int_eq(p->authenticated_role, 2);
    const mg_role_source_t *s = &APR_ARRAY_IDX(p->role_sources, 1, mg_role_source_t);
    ck_assert_int_eq(s->kind, MG_SRC_NOTE);
    ck_assert_str_eq(s->name, "ldap-groups");
    ck_assert_str_eq(s->separator, " ");
    ck_assert_str_eq(s->prefix, "media-");
    ck_assert_str_eq(APR_ARRAY_IDX(p->role_sources, 2, mg_role_source_t).separator, ",");
    const apr_array_header_t *acc = APR_ARRAY_IDX(p->rules, 0, mg_rule_t).access;
    ck_assert_int_eq(acc->nelts, 3);
    ck_assert_int_eq(APR_ARRAY_IDX(acc, 0, mg_role_access_t).role, MG_ROLE_ANONYMOUS);
    ck_assert_int_eq(APR_ARRAY_IDX(acc, 1, mg_role_access_t).role, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(acc, 1, mg_role_access_t).access, MG_ACCESS_DOWNLOAD);
    ck_assert_int_eq(APR_ARRAY_IDX(acc, 2, mg_role_access_t).role, MG_ROLE_AUTHENTICATED);
    ck_assert_int_eq(ds->warnings, 0);
}
END_TEST

START_TEST(test_time_windows_parse_days_hours_dates_and_zone)
{
    mg_policy_t *p =
        load_ok("version: 1\ntimezone: Europe/Berlin\ntime_windows:\n"
                "  night: {days: [Saturday, sun], hours: [\"22:00-06:00\", "
                "\"12:00-24:00\"], dates: [\"2026-01-01..2026-03-31\", \"2026-12-24\"]}\n"
                "  ny: {timezone: America/New_York}\n"
                "rules:\n  - id: a\n    path: /\n    time: [night, ny]\n"
                "    access: {anonymous: view}\n");
    const mg_timewin_t *w = &APR_ARRAY_IDX(p->timewins, 0, mg_timewin_t);
    ck_assert_str_eq(w->tz_name, "Europe/Berlin");
    ck_assert_uint_eq(w->days, (1u << 6) | 1u);
    ck_assert_int_eq(APR_ARRAY_IDX(w->hours, 0, mg_hours_t).from_min, 22 * 60);
    ck_assert_int_eq(APR_ARRAY_IDX(w->hours, 0, mg_hours_t).to_min, 6 * 60);
    ck_assert_int_eq(APR_ARRAY_IDX(w->hours, 1, mg_hours_t).to_min, 24 * 60);
    ck_assert_int_eq(APR_ARRAY_IDX(w->dates, 0, mg_daterange_t).to_ymd, 20260331);
    ck_assert_int_eq(APR_ARRAY_IDX(w->dates, 1, mg_daterange_t).from_ymd, 20261224);
    ck_assert_int_eq(APR_ARRAY_IDX(w->dates, 1, mg_daterange_t).to_ymd, 20261224);
    const mg_timewin_t *ny = &APR_ARRAY_IDX(p->timewins, 1, mg_timewin_t);
    ck_assert_str_eq(ny->tz_name, "America/New_York");
    ck_assert_uint_eq(ny->days, 0x7f);
    ck_assert_int_eq(ny->hours->nelts, 0);
    const apr_array_header_t *t = APR_ARRAY_IDX(p->rules, 0, mg_rule_t).time;
    ck_assert_ptr_eq(APR_ARRAY_IDX(t, 1, const mg_timewin_t *), ny);
}
END_TEST

START_TEST(test_hotlink_inline_and_named_profiles)
{
    mg_policy_t *p = load_ok(
        "version: 1\nhotlink:\n  own: {allowed_origins: [\"HTTPS://*.Example.com\", "
        "example.org:8443]}\n"
        "rules:\n  - id: a\n    path: /a\n    hotlink: own\n    access: {anonymous: view}\n"
        "  - id: b\n    path: /b\n    hotlink: {same_origin: false, empty_referer: deny, corp: "
        "same-origin}\n    access: {anonymous: view}\n");
    const mg_hotlink_t *own = &APR_ARRAY_IDX(p->hotlinks, 0, mg_hotlink_t);
    ck_assert_str_eq(APR_ARRAY_IDX(own->allowed_origins, 0, const char *), "https://*.example.com");
    ck_assert_int_eq(own->same_origin, 1);
    ck_assert_int_eq(own->fetch_metadata, 1);
    ck_assert_int_eq(own->empty_referer, MG_EMPTY_REF_ALLOW);
    ck_assert_ptr_eq(APR_ARRAY_IDX(p->rules, 0, mg_rule_t).hotlink, own);
    const mg_hotlink_t *in = APR_ARRAY_IDX(p->rules, 1, mg_rule_t).hotlink;
    ck_assert_ptr_null(in->name);
    ck_assert_int_eq(in->same_origin, 0);
    ck_assert_int_eq(in->empty_referer, MG_EMPTY_REF_DENY);
    ck_assert_str_eq(in->corp, "same-origin");
}
END_TEST

START_TEST(test_transform_profiles_keep_normalised_sets)
{
    mg_policy_t *p = load_ok("version: 1\ntransforms:\n  preview:\n    forms: [path]\n"
                             "    params:\n      w: {max: 1200}\n      q: {min: 10, max: 90}\n"
                             "      f: {values: [webp, jpg]}\n      oi:\n"
                             "    sets: [\"w-500,h-500,oi-logo.png\"]\n    require: [oi-logo.png]\n"
                             "rules:\n  - id: a\n    path: /a\n    transforms: preview\n"
                             "    access: {anonymous: view}\n"
                             "  - id: b\n    path: /b\n    transforms: none\n"
                             "    access: {anonymous: view}\n");
    const mg_transform_policy_t *t = &APR_ARRAY_IDX(p->transforms, 0, mg_transform_policy_t);
    ck_assert_int_eq(t->forms, MG_TR_FORM_PATH);
    ck_assert_int_eq(t->params->nelts, 4);
    const mg_tr_constraint_t *q = &APR_ARRAY_IDX(t->params, 1, mg_tr_constraint_t);
    ck_assert(q->has_min && q->has_max && q->min == 10 && q->max == 90);
    const mg_tr_constraint_t *oi = &APR_ARRAY_IDX(t->params, 3, mg_tr_constraint_t);
    ck_assert(!oi->has_min && !oi->has_max && !oi->values);
    ck_assert_str_eq(APR_ARRAY_IDX(t->sets, 0, const char *), "h-500,oi-logo.png,w-500");
    ck_assert_int_eq(t->allow_none, 0);
    ck_assert_ptr_eq(APR_ARRAY_IDX(p->rules, 0, mg_rule_t).transforms, t);
    ck_assert_int_eq(APR_ARRAY_IDX(p->rules, 1, mg_rule_t).transforms_none, 1);
}
END_TEST

START_TEST(test_key_files_resolve_against_the_policy_directory)
{
    mg_policy_t *p = NULL;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_load_file(mg_test_pool, DATA "/full.yaml", &p, ds), MG_OK);
    ck_assert_int_eq(ds->errors, 0);
    const mg_keyref_t *k = &APR_ARRAY_IDX(p->keys, 0, mg_keyref_t);
    char dir[4096];
    ck_assert_ptr_nonnull(realpath(DATA, dir));
    ck_assert_str_eq(k->file, apr_pstrcat(mg_test_pool, dir, "/keys/k2026.key", NULL));
    ck_assert_int_eq(k->sign, 1);
    ck_assert_ptr_nonnull(k->key);
    ck_assert_str_eq(mg_policy_name(p), "photo-site");
    ck_assert_str_eq(p->login_url, "https://example.com/login");
    ck_assert_int_eq(p->country_kind, MG_SRC_ENV);
    ck_assert_int_eq(p->tokens.grace, apr_time_from_sec(300));
    ck_assert_int_eq(p->tokens.max_ttl, apr_time_from_sec(400 * 86400));
    /* login defaults to true once login.url is set */
    ck_assert_int_eq(APR_ARRAY_IDX(p->rules, 0, mg_rule_t).login, 1);
    const mg_rule_t *orig = &APR_ARRAY_IDX(p->rules, 1, mg_rule_t);
    ck_assert_str_eq(orig->deny.message, "Subscribers only");
    ck_assert_str_eq(APR_ARRAY_IDX(orig->country_deny, 0, const char *), "KP");
    ck_assert_int_eq(orig->token, MG_TOKEN_ALTERNATIVE);
}
END_TEST

/* ------------------------------------------------------------ canonical form */

static const char *sha256_hex(const char *s)
{
    unsigned char md[32];
    unsigned int n = 0;
    ck_assert(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL));
    char *hex = apr_palloc(mg_test_pool, 65);
    for (unsigned i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return hex;
}

START_TEST(test_emit_round_trip_is_byte_identical)
{
    mg_policy_t *p1 = NULL, *p2 = NULL;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_load_file(mg_test_pool, DATA "/full.yaml", &p1, ds), MG_OK);
    const char *e1 = mg_policy_emit(mg_test_pool, p1);
    ck_assert_int_eq(
        mg_policy_load_buffer(mg_test_pool, "full.yaml", DATA, e1, strlen(e1), &p2, ds), MG_OK);
    const char *e2 = mg_policy_emit(mg_test_pool, p2);
    ck_assert_str_eq(e1, e2);
    ck_assert_str_eq(mg_policy_digest(p1), mg_policy_digest(p2));
    ck_assert_str_eq(mg_policy_digest(p1), sha256_hex(e1));
    ck_assert_int_eq(p2->rules->nelts, p1->rules->nelts);
}
END_TEST

/* The loader hashes the canonical text a buffer (64 KiB) at a time without
 * keeping it: the digest must still be the SHA-256 of exactly what
 * mg_policy_emit returns, across buffer boundaries and for one string
 * longer than the buffer. */
START_TEST(test_digest_of_a_large_policy_is_the_sha256_of_its_canonical_text)
{
    char *msg = apr_palloc(mg_test_pool, 70001);
    memset(msg, 'm', 70000);
    msg[70000] = 0;
    apr_array_header_t *parts = apr_array_make(mg_test_pool, 2010, sizeof(const char *));
    APR_ARRAY_PUSH(parts, const char *) =
        apr_pstrcat(mg_test_pool, "version: 1\nrules:\n  - id: long\n    path: /l/\n",
                    "    access: {anonymous: view}\n    deny: {message: \"", msg, "\"}\n", NULL);
    for (int i = 0; i < 2000; i++)
        APR_ARRAY_PUSH(parts, const char *) = apr_psprintf(
            mg_test_pool, "  - id: r%d\n    path: /media/s%d/\n    access: {anonymous: view}\n", i,
            i);
    mg_policy_t *p = load_ok(apr_array_pstrcat(mg_test_pool, parts, 0));
    ck_assert_int_eq(p->rules->nelts, 2001);
    const char *e = mg_policy_emit(mg_test_pool, p);
    ck_assert_uint_gt(strlen(e), 3 * 64 * 1024);
    ck_assert_str_eq(mg_policy_digest(p), sha256_hex(e));
}
END_TEST

START_TEST(test_emit_writes_every_default_explicitly)
{
    mg_policy_t *p = load_ok("version: 1\nrules:\n  - id: a\n    path: /\n"
                             "    access: {anonymous: view}\n");
    const char *e = mg_policy_emit(mg_test_pool, p);
    ck_assert_ptr_nonnull(strstr(e, "default: deny\n"));
    ck_assert_ptr_nonnull(strstr(e, "timezone: UTC\n"));
    ck_assert_ptr_nonnull(strstr(e, "download_param: download\n"));
    ck_assert_ptr_nonnull(strstr(e, "  roles_from:\n    - users\n"));
    ck_assert_ptr_nonnull(strstr(e, "  clock_skew: \"30s\"\n"));
    ck_assert_ptr_nonnull(strstr(e, "    methods: [GET, HEAD]\n"));
    ck_assert_ptr_nonnull(strstr(e, "    token: none\n"));
    ck_assert_ptr_nonnull(strstr(e, "    deny: {status: 403}\n"));
    ck_assert_ptr_nonnull(strstr(e, "    login: false\n"));
}
END_TEST

START_TEST(test_emit_quotes_strings_that_yaml_would_misread)
{
    mg_policy_t *p = load_ok("version: 1\nroles: [\"yes\", \"a:b\", \"3\", \"x\\\"y\", \"-z\"]\n"
                             "rules:\n  - id: a\n    path: \"/*.jpg\"\n"
                             "    access: {\"yes\": view, \"a:b\": view, \"3\": view, \"x\\\"y\": "
                             "view, \"-z\": view}\n"
                             "    deny: {message: \"line1\\nline2\"}\n");
    const char *e = mg_policy_emit(mg_test_pool, p);
    ck_assert_ptr_nonnull(strstr(e, "roles: [\"yes\", \"a:b\", \"3\", \"x\\\"y\", \"-z\"]"));
    ck_assert_ptr_nonnull(strstr(e, "path: [\"/*.jpg\"]"));
    ck_assert_ptr_nonnull(strstr(e, "message: \"line1\\x0aline2\""));
    mg_policy_t *p2 = load_ok(e);
    ck_assert_str_eq(mg_policy_emit(mg_test_pool, p2), e);
    ck_assert_str_eq(APR_ARRAY_IDX(p2->rules, 0, mg_rule_t).deny.message, "line1\nline2");
    ck_assert_str_eq(APR_ARRAY_IDX(p2->roles, 3, const char *), "x\"y");
}
END_TEST

START_TEST(test_digest_changes_when_a_decision_changes)
{
    mg_policy_t *a = load_ok("version: 1\nrules:\n  - id: a\n    path: /\n"
                             "    access: {anonymous: view}\n");
    mg_policy_t *b = load_ok("version: 1\nrules:\n  - id: a\n    path: /\n"
                             "    access: {anonymous: download}\n");
    mg_policy_t *c = load_ok("version: 1\n# a comment changes nothing\nrules:\n  - {id: a, path: "
                             "/, access: {anonymous: view}}\n");
    ck_assert_str_ne(mg_policy_digest(a), mg_policy_digest(b));
    ck_assert_str_eq(mg_policy_digest(a), mg_policy_digest(c));
}
END_TEST

START_TEST(test_every_complete_example_in_the_policy_docs_loads)
{
    apr_file_t *f;
    apr_finfo_t fi;
    ck_assert_int_eq(
        apr_file_open(&f, MG_SRCDIR "/docs/policy.md", APR_FOPEN_READ, 0, mg_test_pool),
        APR_SUCCESS);
    ck_assert_int_eq(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    char *doc = apr_palloc(mg_test_pool, (apr_size_t)fi.size + 1);
    apr_size_t got = 0;
    ck_assert_int_eq(apr_file_read_full(f, doc, (apr_size_t)fi.size, &got), APR_SUCCESS);
    doc[got] = 0;
    apr_file_close(f);
    int examples = 0;
    for (char *p = strstr(doc, "```yaml\n"); p; p = strstr(p, "```yaml\n")) {
        p += 8;
        char *end = strstr(p, "```");
        ck_assert_ptr_nonnull(end);
        if (strncmp(p, "version: 1\n", 11) == 0) {
            mg_policy_t *pol = load_len(p, (size_t)(end - p));
            ck_assert_msg(pol != NULL, "docs example %d refused:\n%s", examples + 1, all_diags());
            examples++;
        }
        p = end + 3;
    }
    ck_assert_int_ge(examples, 1);
}
END_TEST

START_TEST(test_warnings_do_not_refuse_the_policy)
{
    mg_policy_t *p = load_ok("version: 1\n"
                             "keys: [{id: k, file: keys/k2026.key}]\n"
                             "transforms:\n  t: {params: {w: {max: 9}}, require: [oi-x]}\n"
                             "rules:\n"
                             "  - id: a\n    path: /a\n    token: required\n"
                             "    access: {anonymous: view}\n" /* 9:13 unused-access */
                             "  - id: b\n    path: /b\n    country: {allow: [de]}\n"
                             "    ip: {allow: []}\n    access: {anonymous: view}\n");
    ck_diag(4, 40, "unsatisfiable");
    ck_diag(9, 13, "unused-access");
    ck_diag(12, 14, "no-country-source");
    ck_diag(13, 17, "empty-allow");
    /* (a fresh checkout's key file may be group-readable: one more warning, from mg_keys) */
    int loader_warnings = 0;
    for (int i = 0; i < ds->items->nelts; i++)
        loader_warnings += APR_ARRAY_IDX(ds->items, i, mg_diag_t).line >= 4;
    ck_assert_int_eq(loader_warnings, 4);
    ck_assert_str_eq(
        APR_ARRAY_IDX(APR_ARRAY_IDX(p->rules, 1, mg_rule_t).country_allow, 0, const char *), "DE");
}
END_TEST

/* red team 26c: a country list takes exactly the codes a source can send —
 * the 249 assigned ones and those ISO 3166-1 leaves to users (XK, XX, ...)
 * — in either case; no other pair of letters. */
START_TEST(test_country_lists_take_assigned_and_user_assigned_codes_only)
{
    int accepted = 0;
    for (char a = 'A'; a <= 'Z'; a++)
        for (char b = 'A'; b <= 'Z'; b++) {
            const char *yaml = apr_psprintf(mg_test_pool,
                                            "version: 1\nrules:\n  - id: a\n    path: /\n"
                                            "    country: {deny: [%c%c]}\n"
                                            "    access: {anonymous: view}\n",
                                            a, b + ('a' - 'A'));
            mg_policy_t *p = load(yaml);
            accepted += p != NULL;
            if (p == NULL)
                ck_diag(5, 22, "bad-country");
        }
    /* 249 assigned + AA, QM-QZ (14), XA-XZ (26), ZZ; and the digit T1 below */
    ck_assert_int_eq(accepted, 249 + 1 + 14 + 26 + 1);
    mg_policy_t *p = load_ok(V1 "rules:\n  - id: a\n    path: /\n"
                                "    country: {deny: [gb, NO, XK, xx], allow: [GR, Qz]}\n"
                                "    access: {anonymous: view}\n");
    const mg_rule_t *r = &APR_ARRAY_IDX(p->rules, 0, mg_rule_t);
    ck_assert_str_eq(APR_ARRAY_IDX(r->country_deny, 0, const char *), "GB");
    ck_assert_str_eq(APR_ARRAY_IDX(r->country_deny, 1, const char *), "NO");
    ck_assert_str_eq(APR_ARRAY_IDX(r->country_deny, 3, const char *), "XX");
    ck_assert_str_eq(APR_ARRAY_IDX(r->country_allow, 1, const char *), "QZ");
    /* CF-IPCountry's Tor code loads in either case; other letter-digit pairs do not */
    p = load_ok(V1 "rules:\n  - id: a\n    path: /\n"
                   "    country: {deny: [T1, t1]}\n"
                   "    access: {anonymous: view}\n");
    r = &APR_ARRAY_IDX(p->rules, 0, mg_rule_t);
    ck_assert_str_eq(APR_ARRAY_IDX(r->country_deny, 1, const char *), "T1");
    ck_assert_ptr_null(load(V1 "rules:\n  - id: a\n    path: /\n"
                               "    country: {deny: [T2]}\n"
                               "    access: {anonymous: view}\n"));
}
END_TEST

/* Trusting every address is refused only where a header decides: without
 * one, trusted_proxies only marks forwarded requests of unknown origin. */
START_TEST(test_trusting_every_address_loads_when_no_header_is_read)
{
    load_ok(V1 "trusted_proxies: [0.0.0.0/0, \"::/0\"]\ncountry: {from: {env: CC}}\n"
               "identity: {roles_from: [users, {env: G}]}\n" R0);
    load_ok(V1
            "trusted_proxies: [0.0.0.0/1, \"::/1\"]\nidentity: {roles_from: [{header: X}]}\n" R0);
}
END_TEST

/* red team 26c: patterns, roles and deny lists that load and match, but not
 * what their author reads — warnings at the value, the policy still loads. */
START_TEST(test_misread_patterns_names_and_deny_lists_warn_at_the_value)
{
    mg_policy_t *p = load_ok(
        "version: 1\n"
        "roles: [staff, \"staff\\u200b\"]\n"
        "identity:\n  users:\n    \"alice\\u00a0\": [staff]\n"
        "ip_sets:\n  all4: [0.0.0.0/0]\n"
        "rules:\n"
        "  - {id: a, path: \"/p\\u2215private/\", access: {anonymous: none}}\n"
        "  - {id: b, path: \"/v/*.{mp4,mov}\", access: {anonymous: none}}\n"
        "  - {id: c, path: \"/photos/[0-9]*.jpg\", access: {anonymous: none}}\n"
        "  - {id: d, path: [\"/a{b}/\", \"/a]/x\", \"/x[/\"], access: {anonymous: none}}\n"
        "  - {id: e, path: /e/, ip: {deny: [0.0.0.0/0]}, access: {anonymous: view}}\n"
        "  - {id: f, path: /f/, ip: {deny: [0.0.0.0/0, \"::/0\"]}, access: {anonymous: view}}\n"
        "  - {id: g, path: /g/, ip: {deny: [\"::/0\"]}, access: {anonymous: view}}\n"
        "  - {id: h, path: /h/, ip: {deny: [0.0.0.0/0, \"2001:db8::/32\"]}, access: {anonymous: "
        "view}}\n"
        "  - {id: i, path: /i/, ip: {deny: [all4]}, access: {anonymous: view}}\n"
        "  - {id: j, path: /j/, ip: {allow: [0.0.0.0/0]}, access: {anonymous: view}}\n"
        "  - {id: k, path: /k/, ip: {deny: [\"::/1\", \"8000::/1\"]}, access: {anonymous: "
        "view}}\n"
        "  - {id: l, path: /l/, ip: {deny: [0.0.0.0/1, 128.0.0.0/2]}, access: {anonymous: "
        "view}}\n");
    ck_assert_int_eq(p->rules->nelts, 12);
    ck_diag(2, 16, "confusable");
    ck_diag(5, 5, "confusable");
    ck_diag(9, 19, "confusable");
    ck_diag(10, 19, "literal-glob");
    ck_diag(11, 19, "literal-glob");
    ck_diag(13, 35, "deny-one-family");
    ck_diag(15, 35, "deny-one-family");
    ck_diag(17, 35, "deny-one-family");
    ck_diag(19, 35, "deny-one-family"); /* ::/1 and 8000::/1 are ::/0 */
    ck_assert_int_eq(ds->warnings, 9);  /* d, f, h, j and l (a gap): none */
    ck_assert_str_eq(find_diag(9, 19, "confusable")->msg,
                     "path pattern '/p\xe2\x88\x95private/' holds U+2215 DIVISION SLASH, which "
                     "looks like '/': it matches only paths with that very character, so the "
                     "rule does not own what it seems to");
    ck_assert_str_eq(find_diag(13, 35, "deny-one-family")->hint,
                     "add \"::/0\" to deny IPv6 clients too");
}
END_TEST

/* Look-alike spaces and invisible characters beyond the first list (an
 * ideographic or em space, a tag character, a Hangul filler), and shell-glob
 * syntax anywhere in a pattern, not only at its first '[' or '{'. */
START_TEST(test_every_look_alike_and_every_bracket_is_found)
{
    load_ok("version: 1\n"
            "roles: [\"a\\u3000b\", \"c\\u2003\", \"d\\U000E0041\", \"e\\u3164\", f-g]\n"
            "rules:\n"
            "  - {id: a, path: \"/a/{b}/[0-9].jpg\", access: {anonymous: none}}\n"
            "  - {id: b, path: \"/a/{b}/c,d\", access: {anonymous: none}}\n"
            "  - {id: c, path: \"/a[/b]\", access: {anonymous: none}}\n"
            "  - {id: d, path: \"/a/{x}/{p,q}/\", access: {anonymous: none}}\n");
    ck_diag(2, 9, "confusable");
    ck_diag(2, 21, "confusable");
    ck_diag(2, 32, "confusable");
    ck_diag(2, 47, "confusable");
    ck_diag(4, 19, "literal-glob");
    ck_diag(7, 19, "literal-glob");
    ck_assert_int_eq(ds->warnings, 6); /* f-g, b and c: none */
    ck_assert_str_eq(find_diag(2, 9, "confusable")->msg,
                     "role name 'a\xe3\x80\x80"
                     "b' holds U+3000 IDEOGRAPHIC SPACE, which looks like a "
                     "space: a source must send exactly these bytes for the role to be held");
    ck_assert_ptr_nonnull(strstr(find_diag(2, 32, "confusable")->msg,
                                 "a tag character (U+E0041), which is invisible"));
    ck_assert_ptr_nonnull(strstr(find_diag(4, 19, "literal-glob")->msg, "'[' is an ordinary"));
}
END_TEST

START_TEST(test_utf8_byte_order_mark_and_crlf_line_ends_are_accepted)
{
    mg_policy_t *p = load_ok("\xef\xbb\xbfversion: 1\r\nroles: [\"caf\xc3\xa9\"]\r\nrules: []\r\n");
    ck_assert_str_eq(APR_ARRAY_IDX(p->roles, 0, const char *), "caf\xc3\xa9");
    /* positions count characters, not bytes */
    ck_assert_ptr_null(load("version: 1\nrules: [{id: \"\xc3\xa9\xc3\xa9\", acess: 1}]\n"));
    ck_diag(2, 20, "unknown-key");
}
END_TEST

START_TEST(test_empty_allow_lists_warn_that_they_refuse_everyone)
{
    load_ok("version: 1\ncountry: {from: {env: CC}}\nrules:\n  - id: a\n    path: /\n"
            "    country: {allow: []}\n    ip: {allow: []}\n    access: {anonymous: view}\n");
    ck_diag(6, 22, "empty-allow");
    ck_diag(7, 17, "empty-allow");
    ck_assert_int_eq(ds->warnings, 2);
}
END_TEST

/* A grace or clock skew so long that expiry means little (a unit slip:
 * 5w for 5m, or years) is a warning at the value; the bounds themselves
 * (7d, 1h) are not. */
START_TEST(test_a_grace_or_clock_skew_of_years_warns_at_the_value)
{
    const char *rules = "rules:\n  - {id: a, path: /, access: {anonymous: view}}\n";
    load_ok(apr_pstrcat(mg_test_pool, "version: 1\ntokens:\n  grace: 7d\n  clock_skew: 1h\n", rules,
                        NULL));
    ck_assert_msg(ds->warnings == 0, "%s", all_diags());
    load_ok(apr_pstrcat(mg_test_pool, "version: 1\ntokens:\n  grace: 1w1s\n  clock_skew: 1h1s\n",
                        rules, NULL));
    ck_diag(3, 10, "long-token-window");
    ck_diag(4, 15, "long-token-window");
    ck_assert_int_eq(ds->warnings, 2);
    load_ok(apr_pstrcat(mg_test_pool, "version: 1\ntokens: {grace: 520w, clock_skew: 2w}\n", rules,
                        NULL));
    ck_diag(2, 17, "long-token-window");
    ck_diag(2, 35, "long-token-window");
    ck_assert_ptr_nonnull(strstr(all_diags(), "tokens.grace of 520w accepts every link for 520w"));
    ck_assert_ptr_nonnull(strstr(all_diags(), "tokens.clock_skew of 2w accepts every link 2w "
                                              "before its not-before and 2w after its expiry"));
}
END_TEST

/* `claim NAME:VALUE` warns (claim-loose-match) with the exact form to
 * write; a word quoted as httpd reads it gets the same advice, its quotes
 * not carried into it; the anchored regex form gives none. */
START_TEST(test_a_loose_claim_warns_with_the_exact_form_also_when_quoted)
{
    const char *rules = "rules:\n  - {id: a, path: /, access: {anonymous: view}}\n";
    const char *want = "write 'claim \"groups~(?s)^media-admins(?!.)\"' for an exact match";
    load_ok(apr_pstrcat(mg_test_pool,
                        "version: 1\nroles: [chiefs]\nidentity:\n  roles_from:\n    - apache:\n"
                        "        chiefs: 'claim \"groups:media-admins\"'\n",
                        rules, NULL));
    ck_diag(6, 17, "claim-loose-match");
    ck_assert_msg(strstr(all_diags(), want) != NULL, "%s", all_diags());
    ck_assert_msg(strstr(all_diags(), "'Require claim groups:media-admins'") != NULL, "%s",
                  all_diags());
    load_ok(apr_pstrcat(mg_test_pool,
                        "version: 1\nroles: [chiefs]\nidentity:\n  roles_from:\n    - apache:\n"
                        "        chiefs: claim groups:media-admins\n",
                        rules, NULL));
    ck_assert_msg(strstr(all_diags(), want) != NULL, "%s", all_diags());
    load_ok(apr_pstrcat(mg_test_pool,
                        "version: 1\nroles: [chiefs]\nidentity:\n  roles_from:\n    - apache:\n"
                        "        chiefs: 'claim \"groups~(?s)^media-admins(?!.)\"'\n",
                        rules, NULL));
    ck_assert_msg(ds->warnings == 0, "%s", all_diags());
}
END_TEST

START_TEST(test_corp_that_blocks_the_partners_warns)
{
    /* issue 11 #1: the server allows the partner, the browser refuses it */
    load_ok("version: 1\nhotlink:\n  h:\n    allowed_origins: [\"https://partner.example\"]\n"
            "    corp: same-origin\n"
            "rules:\n  - {id: a, path: /a/, hotlink: h, access: {anonymous: view}}\n"
            "  - {id: b, path: /b/, hotlink: {allowed_origins: [x.example]}, corp: same-origin,\n"
            "     access: {anonymous: view}}\n");
    ck_diag(5, 11, "corp-blocks-partners");
    ck_diag(8, 71, "corp-blocks-partners");
    ck_assert_int_eq(ds->warnings, 2);
    /* same-site: partners on two different sites cannot both be this server's site */
    load_ok("version: 1\nhotlink:\n  h:\n    allowed_origins: [\"https://a.example\", "
            "\"https://*.b.example\"]\n    corp: same-site\nrules: []\n");
    ck_diag(5, 11, "corp-blocks-partners");
    ck_assert_int_eq(ds->warnings, 1);
    /* ... partners of one site may be this server's site; cross-origin and derived: quiet */
    mg_policy_t *p =
        load_ok("version: 1\nhotlink:\n  h:\n    allowed_origins: [\"https://photos.example.com\", "
                "\"https://*.photos.example.com\"]\n    corp: same-site\n"
                "  x: {allowed_origins: [a.example], corp: cross-origin}\n"
                "  d: {allowed_origins: [a.example]}\n  s: {navigation: allow}\nrules: []\n");
    ck_assert_int_eq(ds->warnings, 0);
    ck_assert_str_eq(APR_ARRAY_IDX(p->hotlinks, 2, mg_hotlink_t).corp, "cross-origin");
    ck_assert_int_eq(APR_ARRAY_IDX(p->hotlinks, 2, mg_hotlink_t).corp_set, 0);
    ck_assert_str_eq(APR_ARRAY_IDX(p->hotlinks, 3, mg_hotlink_t).corp, "same-origin");
    ck_assert_int_eq(APR_ARRAY_IDX(p->hotlinks, 3, mg_hotlink_t).navigation, MG_NAV_ALLOW);
    /* the canonical form keeps navigation and the derived corp */
    const char *emitted = mg_policy_emit(mg_test_pool, p);
    ck_assert_ptr_nonnull(strstr(emitted, "  s:\n    allowed_origins: []\n    same_origin: true\n"
                                          "    fetch_metadata: true\n    empty_referer: allow\n"
                                          "    navigation: allow\n    corp: same-origin\n"));
    ck_assert_ptr_nonnull(load_ok(emitted));
    ck_assert_int_eq(ds->warnings, 0);
}
END_TEST

START_TEST(test_buffer_without_name_or_directory_loads)
{
    const char *yaml = "version: 1\nrules: []\n";
    mg_policy_t *p = NULL;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_load_buffer(mg_test_pool, NULL, NULL, yaml, strlen(yaml), &p, ds),
                     MG_OK);
    ck_assert_str_eq(mg_policy_name(p), "policy");
    /* the canonical form of a nameless buffer is itself loadable */
    ck_assert_ptr_nonnull(load_ok(mg_policy_emit(mg_test_pool, p)));
}
END_TEST

/* Every kind of value the emitter writes, in one policy. */
static const char *const kitchen_sink =
    "version: 1\nname: sink\ndefault: allow\ntimezone: Europe/Berlin\ndownload_param: dl\n"
    "login: {url: /login, return_param: back}\n"
    "trusted_proxies: [10.0.0.0/8, \"fd00::/8\"]\n"
    "roles: [staff, member, \"team:x\"]\n"
    "identity:\n  users: {alice: [staff, member], \"bob smith\": [\"team:x\"]}\n"
    "  roles_from: [{header: X-Roles, separator: \";\", prefix: \"mg-\"}, users]\n"
    "  authenticated_role: member\n"
    "country: {from: {header: CF-IPCountry}}\n"
    "classes: {docs: [pdf, odt], raw: [cr2]}\n"
    "ip_sets: {office: [192.0.2.0/24, \"2001:db8::/32\"], vpn: [198.51.100.0/25]}\n"
    "time_windows:\n  nights: {days: [Friday, sat], hours: [\"22:00-06:00\"]}\n"
    "  xmas: {timezone: UTC, dates: [\"2026-12-24..2026-12-26\"]}\n"
    "hotlink:\n  own: {allowed_origins: [\"*.example.com\", \"http://[2001:db8::1]:8080\"], "
    "fetch_metadata: false, corp: cross-origin}\n"
    "transforms:\n  thumbs: {forms: [query], params: {w: {min: 1, max: 640}, f: {values: [webp]}, "
    "e: null}}\n  fixed: {sets: [\"w-100\", \"h-5,w-5:rt-90\"], require: [\"l-x,i-y\"]}\n"
    "keys:\n  - {id: k2026, file: keys/k2026.key, sign: true}\n  - {id: old, alg: hmac-sha256, "
    "file: "
    "keys/k2026.key}\n"
    "tokens: {grace: 1h30m, clock_skew: 90s, cookie: mgc, max_ttl: 2w}\n"
    "rules:\n"
    "  - id: a\n    path: [/a/, \"/a/**/*.jpg\"]\n    classes: [raw, image]\n"
    "    methods: [POST, GET]\n    ip: {allow: [office, vpn, 203.0.113.9], deny: [vpn]}\n"
    "    country: {allow: [de, AT], deny: [kp]}\n    time: [nights, xmas]\n"
    "    hotlink: {allowed_origins: [example.org], empty_referer: deny}\n    transforms: thumbs\n"
    "    token: alternative\n    access: {anonymous: none, \"team:x\": download, authenticated: "
    "view}\n"
    "    deny: {status: 451, page: /errors/451.html}\n    login: false\n    corp: same-origin\n"
    "  - {id: b, path: /b, transforms: none, hotlink: own, token: required}\n"
    "  - {id: c, path: /c, access: {staff: view}, deny: {message: \"Staff \\\"only\\\"\"}}\n";

START_TEST(test_emit_round_trip_covers_every_kind_of_value)
{
    mg_policy_t *p1 = load_ok(kitchen_sink);
    const char *e1 = mg_policy_emit(mg_test_pool, p1);
    mg_policy_t *p2 = load_ok(e1);
    const char *e2 = mg_policy_emit(mg_test_pool, p2);
    ck_assert_str_eq(e1, e2);
    ck_assert_str_eq(mg_policy_digest(p1), mg_policy_digest(p2));
    /* spot checks that the canonical form kept the meaning */
    const mg_rule_t *a = &APR_ARRAY_IDX(p2->rules, 0, mg_rule_t);
    ck_assert_int_eq(a->ip_allow->cidrs->nelts, 4); /* office (2), vpn (1), one inline */
    ck_assert_str_eq(a->ip_deny->name, "vpn");
    ck_assert_int_eq(a->methods, MG_M_GET | MG_M_POST);
    ck_assert_int_eq(a->deny.status, 451);
    ck_assert_str_eq(a->deny.page, "/errors/451.html");
    ck_assert_ptr_null(a->hotlink->name);
    ck_assert_int_eq(a->hotlink->empty_referer, MG_EMPTY_REF_DENY);
    ck_assert_int_eq(a->time->nelts, 2);
    ck_assert_int_eq(a->login, 0);
    ck_assert_int_eq(APR_ARRAY_IDX(p2->rules, 1, mg_rule_t).login, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(p2->rules, 1, mg_rule_t).access->nelts, 0);
    ck_assert_str_eq(APR_ARRAY_IDX(p2->rules, 2, mg_rule_t).deny.message, "Staff \"only\"");
    ck_assert_int_eq(p2->tokens.grace, apr_time_from_sec(5400));
    ck_assert_int_eq(p2->tokens.max_ttl, apr_time_from_sec(14 * 86400));
    ck_assert_uint_eq(APR_ARRAY_IDX(p2->timewins, 0, mg_timewin_t).days, (1u << 5) | (1u << 6));
    ck_assert_str_eq(APR_ARRAY_IDX(APR_ARRAY_IDX(p2->transforms, 1, mg_transform_policy_t).sets, 1,
                                   const char *),
                     "h-5,w-5:rt-90");
    ck_assert_int_eq(p2->deflt, MG_DEFAULT_ALLOW);
    ck_assert_str_eq(APR_ARRAY_IDX(p2->users, 1, mg_user_roles_t).user, "bob smith");
}
END_TEST

/* ------------------------------------------------------------ digest: key material, not location
 */

/* Remove a directory of files and directories of files (what mk_dir gets). */
static apr_status_t rm_tree(void *data)
{
    const char *dir = data;
    apr_pool_t *tmp;
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_pool_create(&tmp, NULL);
    if (apr_dir_open(&d, dir, tmp) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS) {
            if (strcmp(fi.name, ".") == 0 || strcmp(fi.name, "..") == 0)
                continue;
            const char *path = apr_pstrcat(tmp, dir, "/", fi.name, NULL);
            if (fi.filetype == APR_DIR)
                rm_tree((void *)path);
            else
                apr_file_remove(path, tmp);
        }
        apr_dir_close(d);
    }
    apr_dir_remove(dir, tmp);
    apr_pool_destroy(tmp);
    return APR_SUCCESS;
}

/* A fresh directory, removed with the test pool: policy text, key files. */
static const char *mk_dir(void)
{
    char *dir = apr_pstrdup(mg_test_pool, "/tmp/mg-loader-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    apr_pool_cleanup_register(mg_test_pool, dir, rm_tree, apr_pool_cleanup_null);
    return dir;
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, 0600), 0);
}

/* dir/keys/NAME with a new key of `alg`; returns the key file text. */
static const char *put_key(const char *dir, const char *name, mg_alg_t alg, const char **pub)
{
    const char *text = NULL, *pubtext = NULL, *why = NULL;
    ck_assert_int_eq(mg_key_generate(mg_test_pool, alg, &text, &pubtext, &why), MG_OK);
    mkdir(apr_pstrcat(mg_test_pool, dir, "/keys", NULL), 0700);
    put_file(apr_pstrcat(mg_test_pool, dir, "/keys/", name, NULL), text);
    if (pub)
        *pub = pubtext;
    return text;
}

static mg_policy_t *load_in(const char *dir, const char *yaml)
{
    const char *path = apr_pstrcat(mg_test_pool, dir, "/policy.yaml", NULL);
    mg_policy_t *p = NULL;
    put_file(path, yaml);
    ds = mg_diags_make(mg_test_pool);
    mg_status_t st = mg_policy_load_file(mg_test_pool, path, &p, ds);
    ck_assert_int_eq(st == MG_OK, p != NULL);
    return p;
}

static const char *const keyed_policy =
    "version: 1\nkeys:\n  - {id: k, file: keys/k.key, sign: true}\n"
    "tokens: {revocation_file: revoked.txt}\n"
    "rules:\n  - {id: v, path: /v/, token: required}\n";

/* review3 #4: the same files in two places have one digest (CI's checkout
 * and the server's /etc/apache2 agree), and a key replaced in place,
 * which changes every token decision, changes it. */
START_TEST(test_digest_is_the_same_in_any_directory_and_changes_with_the_key)
{
    const char *a = mk_dir(), *b = mk_dir();
    const char *key = put_key(a, "k.key", MG_ALG_HMAC_SHA256, NULL);
    mkdir(apr_pstrcat(mg_test_pool, b, "/keys", NULL), 0700);
    put_file(apr_pstrcat(mg_test_pool, b, "/keys/k.key", NULL), key);
    put_file(apr_pstrcat(mg_test_pool, a, "/revoked.txt", NULL), "# none\n");
    put_file(apr_pstrcat(mg_test_pool, b, "/revoked.txt", NULL), "# none\n");
    mg_policy_t *pa = load_in(a, keyed_policy);
    ck_assert_msg(pa != NULL, "%s", all_diags());
    mg_policy_t *pb = load_in(b, keyed_policy);
    ck_assert_msg(pb != NULL, "%s", all_diags());
    ck_assert_str_eq(mg_policy_digest(pa), mg_policy_digest(pb));
    const char *e = mg_policy_emit(mg_test_pool, pa);
    ck_assert_ptr_nonnull(strstr(e, "    file: keys/k.key\n"));
    ck_assert_ptr_nonnull(strstr(e, "  revocation_file: revoked.txt\n"));
    ck_assert_ptr_null(strstr(e, a));
    ck_assert_str_eq(e, mg_policy_emit(mg_test_pool, pb));

    /* a new key under the same name */
    put_key(b, "k.key", MG_ALG_HMAC_SHA256, NULL);
    pb = load_in(b, keyed_policy);
    ck_assert_msg(pb != NULL, "%s", all_diags());
    ck_assert_str_ne(mg_policy_digest(pa), mg_policy_digest(pb));
    const mg_keyref_t *ka = &APR_ARRAY_IDX(pa->keys, 0, mg_keyref_t),
                      *kb = &APR_ARRAY_IDX(pb->keys, 0, mg_keyref_t);
    ck_assert_str_ne(ka->fingerprint, kb->fingerprint);
    ck_assert_uint_eq(strlen(ka->fingerprint), 7 + 64);
    ck_assert_ptr_nonnull(
        strstr(e, apr_psprintf(mg_test_pool, "    fingerprint: \"%s\"\n", ka->fingerprint)));
    /* the fingerprint is one-way: no part of the secret is in the text */
    const char *secret = strchr(key, ':') + 1;
    ck_assert_ptr_null(strstr(e, apr_pstrndup(mg_test_pool, secret, 12)));
}
END_TEST

START_TEST(test_key_file_outside_the_policy_directory_stays_absolute)
{
    const char *a = mk_dir(), *b = mk_dir();
    put_key(b, "k.key", MG_ALG_HMAC_SHA256, NULL);
    mg_policy_t *p =
        load_in(a, apr_psprintf(mg_test_pool,
                                "version: 1\nkeys: [{id: k, file: ../%s/keys/k.key}]\nrules: []\n",
                                strrchr(b, '/') + 1));
    ck_assert_msg(p != NULL, "%s", all_diags());
    ck_assert_ptr_nonnull(strstr(mg_policy_emit(mg_test_pool, p),
                                 apr_psprintf(mg_test_pool, "    file: %s/keys/k.key\n", b)));
}
END_TEST

START_TEST(test_ed25519_private_and_public_key_files_have_one_fingerprint)
{
    const char *a = mk_dir(), *pub = NULL;
    put_key(a, "ed.key", MG_ALG_ED25519, &pub);
    put_file(apr_pstrcat(mg_test_pool, a, "/keys/ed.pub", NULL), pub);
    mg_policy_t *p = load_in(a, "version: 1\nkeys:\n  - {id: s, alg: ed25519, file: keys/ed.key}\n"
                                "  - {id: v, alg: ed25519, file: keys/ed.pub}\nrules: []\n");
    ck_assert_msg(p != NULL, "%s", all_diags());
    const char *f1 = APR_ARRAY_IDX(p->keys, 0, mg_keyref_t).fingerprint,
               *f2 = APR_ARRAY_IDX(p->keys, 1, mg_keyref_t).fingerprint;
    ck_assert_ptr_nonnull(f1);
    ck_assert_str_eq(f1, f2);
    /* another pair, another fingerprint */
    put_key(a, "ed.key", MG_ALG_ED25519, NULL);
    p = load_in(a, "version: 1\nkeys:\n  - {id: s, alg: ed25519, file: keys/ed.key}\nrules: []\n");
    ck_assert_msg(p != NULL, "%s", all_diags());
    ck_assert_str_ne(APR_ARRAY_IDX(p->keys, 0, mg_keyref_t).fingerprint, f1);
}
END_TEST

/* mgctl compile writes the fingerprint; loading that text with another key
 * under the same file name is an error, not a policy that silently decides
 * differently from the one that was compiled. */
START_TEST(test_a_compiled_policy_refuses_a_key_other_than_the_one_it_pins)
{
    const char *a = mk_dir();
    put_key(a, "k.key", MG_ALG_HMAC_SHA256, NULL);
    put_file(apr_pstrcat(mg_test_pool, a, "/revoked.txt", NULL), "\n");
    mg_policy_t *p = load_in(a, keyed_policy);
    ck_assert_msg(p != NULL, "%s", all_diags());
    const char *compiled = mg_policy_emit(mg_test_pool, p);
    mg_policy_t *again = load_in(a, compiled);
    ck_assert_msg(again != NULL, "%s", all_diags());
    ck_assert_str_eq(mg_policy_digest(again), mg_policy_digest(p));
    put_key(a, "k.key", MG_ALG_HMAC_SHA256, NULL);
    ck_assert_ptr_null(load_in(a, compiled));
    ck_assert_int_eq(ds->errors, 1);
    const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, 0, mg_diag_t);
    ck_assert_str_eq(d->code, "key-fingerprint");
    ck_assert_int_eq(d->col, 18);
    ck_assert_ptr_nonnull(strstr(d->msg, "key 'k'"));
    /* a pin that is not a fingerprint */
    ck_assert_ptr_null(
        load_in(a, "version: 1\nkeys: [{id: k, file: keys/k.key, fingerprint: abc}]\nrules: []\n"));
    ck_diag(2, 47, "bad-value");
}
END_TEST

/* ------------------------------------------------------------ scale */

/* ------------------------------------------------------------ streamed rules */

typedef struct stream_seen {
    int began, items, root_pairs;
    const mg_ynode_t *first_item;
    int same_node; /* items after the first reused its node */
    char ids[64];
} stream_seen_t;

static int seen_begin(void *arg, const mg_ynode_t *root, const mg_ynode_t *list)
{
    stream_seen_t *s = arg;
    s->began++;
    s->root_pairs = root->n;
    ck_assert_int_eq(list->kind, MG_Y_SEQ);
    ck_assert_str_eq(root->pairs[0].key->str, "version");
    return 0;
}

static void seen_item(void *arg, const mg_ynode_t *item, int index)
{
    stream_seen_t *s = arg;
    ck_assert_int_eq(index, s->items);
    ck_assert_int_eq(item->kind, MG_Y_MAP);
    ck_assert_int_eq(item->line, 4 + index);
    if (index == 0)
        s->first_item = item;
    else
        s->same_node += item == s->first_item;
    strncat(s->ids, mg_ynode_get(item, "id")->str, sizeof(s->ids) - strlen(s->ids) - 1);
    s->items++;
}

/* mg_yaml_parse_stream hands over the items of the root's list one by
 * one, after begin() saw the pairs before it, and gives each item's memory
 * back (the next item is built in the same place); the tree keeps the
 * list as streamed with its count, and the pairs after it. */
START_TEST(test_yaml_stream_hands_over_items_one_by_one_and_reuses_their_nodes)
{
    static const char y[] = "version: 1\nname: x\nrules:\n  - {id: a}\n  - {id: b}\n"
                            "  - {id: c}\n  - {id: d}\nafter: 2\n";
    stream_seen_t seen = {0};
    mg_ystream_t st = {"rules", seen_begin, seen_item, &seen};
    mg_ynode_t *root = NULL;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_yaml_parse_stream(mg_test_pool, "t.yaml", y, sizeof(y) - 1, &st, &root, ds),
                     MG_OK);
    ck_assert_int_eq(seen.began, 1);
    ck_assert_int_eq(seen.root_pairs, 2);
    ck_assert_int_eq(seen.items, 4);
    ck_assert_str_eq(seen.ids, "abcd");
    ck_assert_int_eq(seen.same_node, 3);
    const mg_ynode_t *rules = mg_ynode_get(root, "rules");
    ck_assert_int_eq(rules->streamed, 1);
    ck_assert_int_eq(rules->n, 4);
    ck_assert_ptr_null(rules->items);
    ck_assert_str_eq(mg_ynode_get(root, "after")->str, "2");
    /* without a stream: the same tree, the list built */
    root = NULL;
    ck_assert_int_eq(mg_yaml_parse(mg_test_pool, "t.yaml", y, sizeof(y) - 1, &root, ds), MG_OK);
    rules = mg_ynode_get(root, "rules");
    ck_assert_int_eq(rules->streamed, 0);
    ck_assert_int_eq(rules->n, 4);
    ck_assert_str_eq(mg_ynode_get(rules->items[3], "id")->str, "d");
}
END_TEST

/* A section after `rules:` is loaded before the rules that refer to it, as
 * everywhere (the loader starts again without streaming). */
START_TEST(test_a_section_after_the_rules_is_still_known_to_them)
{
    mg_policy_t *p = load_ok("version: 1\nrules:\n  - id: a\n    path: /a/\n"
                             "    access: {editor: download}\n    hotlink: partners\n"
                             "roles: [editor]\nhotlink:\n  partners: {allowed_origins: "
                             "[\"https://p.example\"]}\n");
    const mg_rule_t *r = &APR_ARRAY_IDX(p->rules, 0, mg_rule_t);
    ck_assert_int_eq(APR_ARRAY_IDX(r->access, 0, mg_role_access_t).role, 0);
    ck_assert_ptr_nonnull(r->hotlink);
    ck_assert_str_eq(r->hotlink->name, "partners");
}
END_TEST

/* A YAML error after rules that were loaded while parsing reports only
 * itself: the rules' own errors are not shown (as when the tree was built
 * first, the file cannot be interpreted). */
START_TEST(test_yaml_error_after_streamed_rules_reports_only_itself)
{
    mg_policy_t *p = load("version: 1\nrules:\n  - id: a\n    path: a/\n    colour: red\n"
                          "  - id: b\n    path: /b/\n    access: {anonymous: view}\n"
                          "  - id: c\n    path: /c/\n   bad: indent\n");
    ck_assert_ptr_null(p);
    ck_assert_int_eq(ds->errors, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "yaml-syntax");
    p = load("version: 1\nrules:\n  - id: a\n    path: a/\n  - {id: b, path: /b/, id: c}\n");
    ck_assert_ptr_null(p);
    ck_assert_int_eq(ds->errors, 1);
    ck_diag(5, 24, "duplicate-key");
}
END_TEST

/* Rules whose nodes are given back after each one: ids, lines and a rule
 * larger than the parser's slabs (256 KiB) come out right. */
START_TEST(test_streamed_rules_keep_their_ids_lines_and_long_strings)
{
    size_t big = 300 * 1024;
    char *msg = apr_palloc(mg_test_pool, big + 1);
    memset(msg, 'x', big);
    msg[big] = 0;
    apr_array_header_t *parts = apr_array_make(mg_test_pool, 3100, sizeof(const char *));
    APR_ARRAY_PUSH(parts, const char *) = "version: 1\nrules:\n";
    for (int i = 0; i < 3000; i++) {
        APR_ARRAY_PUSH(parts, const char *) = apr_psprintf(
            mg_test_pool, "  - id: r%d\n    path: /s%d/\n    access: {anonymous: view}\n", i, i);
        if (i == 1000 || i == 2000) /* 4 lines each, the message on a line of its own */
            APR_ARRAY_PUSH(parts, const char *) =
                apr_pstrcat(mg_test_pool, "  - id: long", i == 1000 ? "1" : "2",
                            "\n    path: /long/\n    access: {anonymous: view}\n    deny: "
                            "{message: ",
                            msg, "}\n", NULL);
    }
    APR_ARRAY_PUSH(parts, const char *) = "  - id: r1500\n    path: /again/\n";
    mg_policy_t *p = load(apr_array_pstrcat(mg_test_pool, parts, 0));
    ck_assert_ptr_null(p);
    /* the last rule starts after 3,000 rules of 3 lines and 2 of 4; the
     * first r1500 at line 3 + 1500 * 3 + 4 (after long1) */
    ck_assert_int_eq(ds->errors, 2);
    ck_diag(3 + 3000 * 3 + 8, 9, "duplicate-id");
    ck_diag(3 + 3000 * 3 + 8, 5, "missing-access");
    ck_assert_ptr_nonnull(strstr(all_diags(), "rule id 'r1500' is already used at line 4507"));
}
END_TEST

/* 10,000 rules load, and each one owns its own path. How long that takes is
 * measured by bench/run (P4), never asserted in a test: this machine is a
 * noisy shared VM. */
START_TEST(test_ten_thousand_rules_load_and_each_owns_its_path)
{
    apr_pool_t *tmp;
    apr_pool_create(&tmp, mg_test_pool);
    size_t cap = 2 * 1024 * 1024, len = 0;
    char *buf = apr_palloc(tmp, cap);
    len += (size_t)snprintf(buf + len, cap - len,
                            "version: 1\nroles: [subscriber, staff]\n"
                            "ip_sets: {office: [192.0.2.0/24]}\nrules:\n");
    for (int i = 0; i < 10000; i++) {
        len += (size_t)snprintf(buf + len, cap - len,
                                "  - id: rule%d\n    path: /site%d/media%d/\n"
                                "    classes: [image]\n",
                                i, i % 100, i);
        if (i % 10 == 0) /* every tenth rule with an IP list */
            len += (size_t)snprintf(buf + len, cap - len,
                                    "    ip: {allow: [office, 10.%d.%d.0/24]}\n", i / 256, i % 256);
        len += (size_t)snprintf(buf + len, cap - len,
                                "    access: {anonymous: view, staff: download}\n");
    }
    ck_assert_uint_lt(len, cap);
    mg_policy_t *p = NULL;
    mg_diags_t *d = mg_diags_make(tmp);
    ck_assert_int_eq(mg_policy_load_buffer(tmp, "big.yaml", NULL, buf, len, &p, d), MG_OK);
    ck_assert_int_eq(p->rules->nelts, 10000);
    ck_assert_int_eq(d->errors, 0);
    mg_classset_t img = mg_class_of_ext(p, "jpg");
    for (int i = 0; i < 10000; i += 997) {
        const char *path = apr_psprintf(tmp, "/site%d/media%d/x/a.jpg", i % 100, i);
        const mg_rule_t *r = mg_policy_match(p, path, img, MG_M_GET);
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(r->id, apr_psprintf(tmp, "rule%d", i));
    }
    ck_assert_ptr_null(mg_policy_match(p, "/site1/media2/a.jpg", img, MG_M_GET));
    apr_pool_destroy(tmp);
}
END_TEST

/* open(2) on a FIFO blocks until a writer appears: the loader must look
 * first and refuse, or `apachectl configtest` and mgctl would hang. */
START_TEST(test_fifo_as_policy_file_is_refused_without_blocking)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = apr_psprintf(mg_test_pool, "%s/mg-test-fifo-%ld", dir, (long)getpid());
    unlink(path);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    mg_policy_t *p = NULL;
    mg_diags_t *d = mg_diags_make(mg_test_pool);
    mg_status_t st = mg_policy_load_file(mg_test_pool, path, &p, d);
    unlink(path);
    ck_assert_int_eq(st, MG_EIO);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(APR_ARRAY_IDX(d->items, 0, mg_diag_t).msg, "the policy is not a regular file");
}
END_TEST

/* ------------------------------------------------------------ streams */

/* A temporary file of `len` bytes of `c` after `head`, opened for reading
 * (any apr_file_t is a stream to mg_policy_read_stream). */
static apr_file_t *temp_stream(const char *head, char c, apr_size_t len)
{
    apr_file_t *f;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = apr_psprintf(mg_test_pool, "%s/mg-test-stream-XXXXXX", dir);
    ck_assert_int_eq(apr_file_mktemp(&f, path,
                                     APR_FOPEN_CREATE | APR_FOPEN_READ | APR_FOPEN_WRITE |
                                         APR_FOPEN_EXCL | APR_FOPEN_DELONCLOSE,
                                     mg_test_pool),
                     APR_SUCCESS);
    apr_size_t hl = strlen(head);
    char *body = apr_palloc(mg_test_pool, len);
    memcpy(body, head, hl);
    memset(body + hl, c, len - hl);
    ck_assert_int_eq(apr_file_write_full(f, body, len, NULL), APR_SUCCESS);
    apr_off_t off = 0;
    ck_assert_int_eq(apr_file_seek(f, APR_SET, &off), APR_SUCCESS);
    return f;
}

START_TEST(test_stream_is_read_whole_from_a_pipe_and_loads)
{
    static const char yaml[] = "version: 1\nrules:\n  - id: all\n    path: /\n"
                               "    access: {anonymous: view}\n";
    apr_file_t *in, *out;
    ck_assert_int_eq(apr_file_pipe_create(&in, &out, mg_test_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(out, yaml, strlen(yaml), NULL), APR_SUCCESS);
    apr_file_close(out);
    char *buf;
    apr_size_t len;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_read_stream(mg_test_pool, in, "<stdin>", &buf, &len, ds), MG_OK);
    ck_assert_uint_eq(len, strlen(yaml));
    ck_assert_str_eq(buf, yaml);
    ck_assert_int_eq(ds->items->nelts, 0);
    ck_assert_ptr_nonnull(load_len(buf, len));
}
END_TEST

START_TEST(test_empty_stream_reads_as_an_empty_policy)
{
    apr_file_t *in, *out;
    ck_assert_int_eq(apr_file_pipe_create(&in, &out, mg_test_pool), APR_SUCCESS);
    apr_file_close(out);
    char *buf;
    apr_size_t len = 1;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_read_stream(mg_test_pool, in, "<stdin>", &buf, &len, ds), MG_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(buf, "");
    /* the loader then says what it says of an empty file */
    ck_assert_ptr_null(load_len(buf, len));
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "file-empty");
}
END_TEST

START_TEST(test_stream_of_exactly_16_mib_is_read)
{
    apr_size_t max = 16 * 1024 * 1024;
    apr_file_t *f = temp_stream("# ", '#', max);
    char *buf;
    apr_size_t len;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_read_stream(mg_test_pool, f, "<stdin>", &buf, &len, ds), MG_OK);
    ck_assert_uint_eq(len, max);
    ck_assert_int_eq(buf[max], '\0');
    apr_file_close(f);
}
END_TEST

/* One byte over the bound is refused with the file's error, and the reader
 * stops within one chunk of the bound instead of draining the stream. */
START_TEST(test_stream_over_16_mib_is_refused_without_reading_it_all)
{
    apr_size_t max = 16 * 1024 * 1024, size = max + 4 * 1024 * 1024;
    apr_file_t *f = temp_stream("# ", '#', size);
    char *buf = (char *)"unchanged";
    apr_size_t len = 7;
    ds = mg_diags_make(mg_test_pool);
    ck_assert_int_eq(mg_policy_read_stream(mg_test_pool, f, "<stdin>", &buf, &len, ds), MG_EINVAL);
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
    const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, 0, mg_diag_t);
    ck_assert_str_eq(d->code, "file-too-large");
    ck_assert_str_eq(d->file, "<stdin>");
    ck_assert_str_eq(d->msg, "the policy is larger than 16 MiB");
    apr_off_t off = 0;
    ck_assert_int_eq(apr_file_seek(f, APR_CUR, &off), APR_SUCCESS);
    ck_assert_int_gt(off, (apr_off_t)max);
    ck_assert_int_lt(off, (apr_off_t)size);
    apr_file_close(f);
}
END_TEST

START_TEST(test_stream_read_error_is_an_io_error)
{
    apr_file_t *in, *out;
    ck_assert_int_eq(apr_file_pipe_create(&in, &out, mg_test_pool), APR_SUCCESS);
    char *buf;
    apr_size_t len;
    ds = mg_diags_make(mg_test_pool);
    /* the write end of a pipe cannot be read: EBADF */
    ck_assert_int_eq(mg_policy_read_stream(mg_test_pool, out, "<stdin>", &buf, &len, ds), MG_EIO);
    ck_assert_ptr_null(buf);
    ck_assert_str_eq(APR_ARRAY_IDX(ds->items, 0, mg_diag_t).code, "io");
    apr_file_close(in);
    apr_file_close(out);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_loop_test(tc, test_each_error_kind_has_exact_position_and_code, 0,
                        (int)(sizeof(err_cases) / sizeof(err_cases[0])));
    tcase_add_test(tc, test_all_errors_of_a_file_are_reported_in_one_pass);
    tcase_add_test(tc, test_a_misspelt_or_mistyped_roles_key_does_not_cascade_into_undefined_roles);
    tcase_add_loop_test(
        tc, test_literal_pattern_segments_are_refused_exactly_when_canonicalisation_drops_them, 0,
        (int)(sizeof(pattern_segments) / sizeof(pattern_segments[0])));
    tcase_add_loop_test(
        tc, test_glob_pattern_segments_are_refused_when_their_literal_text_never_matches, 0,
        (int)(sizeof(glob_patterns) / sizeof(glob_patterns[0])));
    tcase_add_loop_test(
        tc, test_never_matching_pattern_is_explained_with_a_fix, 0,
        (int)(sizeof(never_matching_patterns) / sizeof(never_matching_patterns[0])));
    tcase_add_test(tc, test_every_duplicate_key_is_reported_not_only_the_first);
    tcase_add_test(tc, test_a_broken_definition_is_not_reported_again_where_it_is_used);
    tcase_add_test(tc, test_nesting_deeper_than_64_levels_is_refused);
    tcase_add_test(tc, test_more_than_64_roles_is_refused_at_the_65th);
    tcase_add_test(tc, test_more_than_64_classes_is_refused_built_ins_included);
    tcase_add_test(tc, test_file_larger_than_16_mib_is_refused);
    tcase_add_test(tc, test_empty_file_is_refused);
    tcase_add_test(tc, test_missing_file_is_an_io_error);
    tcase_add_test(tc, test_header_roles_without_trusted_proxies_warn_but_load);
    tcase_add_test(tc, test_country_lists_take_assigned_and_user_assigned_codes_only);
    tcase_add_test(tc, test_trusting_every_address_loads_when_no_header_is_read);
    tcase_add_test(tc, test_misread_patterns_names_and_deny_lists_warn_at_the_value);
    tcase_add_test(tc, test_every_look_alike_and_every_bracket_is_found);
    tcase_add_test(tc, test_key_file_errors_come_from_the_key_loader_at_the_key);
    suite_add_tcase(s, tc);

    tc = tcase_create("valid");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_minimal_policy_gets_documented_defaults);
    tcase_add_test(tc, test_built_in_classes_come_first_then_user_classes);
    tcase_add_test(tc, test_path_patterns_are_measured_for_specificity);
    tcase_add_test(tc, test_ip_lists_merge_named_sets_and_inline_cidrs);
    tcase_add_test(tc, test_identity_resolves_roles_to_bits);
    tcase_add_test(tc, test_time_windows_parse_days_hours_dates_and_zone);
    tcase_add_test(tc, test_hotlink_inline_and_named_profiles);
    tcase_add_test(tc, test_transform_profiles_keep_normalised_sets);
    tcase_add_test(tc, test_key_files_resolve_against_the_policy_directory);
    tcase_add_test(tc, test_every_complete_example_in_the_policy_docs_loads);
    tcase_add_test(tc, test_warnings_do_not_refuse_the_policy);
    tcase_add_test(tc, test_buffer_without_name_or_directory_loads);
    tcase_add_test(tc, test_empty_allow_lists_warn_that_they_refuse_everyone);
    tcase_add_test(tc, test_a_grace_or_clock_skew_of_years_warns_at_the_value);
    tcase_add_test(tc, test_a_loose_claim_warns_with_the_exact_form_also_when_quoted);
    tcase_add_test(tc, test_corp_that_blocks_the_partners_warns);
    tcase_add_test(tc, test_utf8_byte_order_mark_and_crlf_line_ends_are_accepted);
    suite_add_tcase(s, tc);

    tc = tcase_create("emit");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_test(tc, test_emit_round_trip_is_byte_identical);
    tcase_add_test(tc, test_digest_of_a_large_policy_is_the_sha256_of_its_canonical_text);
    tcase_add_test(tc, test_yaml_stream_hands_over_items_one_by_one_and_reuses_their_nodes);
    tcase_add_test(tc, test_a_section_after_the_rules_is_still_known_to_them);
    tcase_add_test(tc, test_yaml_error_after_streamed_rules_reports_only_itself);
    tcase_add_test(tc, test_streamed_rules_keep_their_ids_lines_and_long_strings);
    tcase_add_test(tc, test_emit_writes_every_default_explicitly);
    tcase_add_test(tc, test_emit_quotes_strings_that_yaml_would_misread);
    tcase_add_test(tc, test_digest_changes_when_a_decision_changes);
    tcase_add_test(tc, test_digest_is_the_same_in_any_directory_and_changes_with_the_key);
    tcase_add_test(tc, test_key_file_outside_the_policy_directory_stays_absolute);
    tcase_add_test(tc, test_ed25519_private_and_public_key_files_have_one_fingerprint);
    tcase_add_test(tc, test_a_compiled_policy_refuses_a_key_other_than_the_one_it_pins);
    tcase_add_test(tc, test_emit_round_trip_covers_every_kind_of_value);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ten_thousand_rules_load_and_each_owns_its_path);
    tcase_add_test(tc, test_fifo_as_policy_file_is_refused_without_blocking);
    /* streams: the 16 MiB cases want the longer timeout too */
    tcase_add_test(tc, test_stream_is_read_whole_from_a_pipe_and_loads);
    tcase_add_test(tc, test_empty_stream_reads_as_an_empty_policy);
    tcase_add_test(tc, test_stream_of_exactly_16_mib_is_read);
    tcase_add_test(tc, test_stream_over_16_mib_is_refused_without_reading_it_all);
    tcase_add_test(tc, test_stream_read_error_is_an_io_error);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(loader_suite)
