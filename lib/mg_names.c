/* mg_names.c — the public names of reasons, outcomes and access levels.
 *
 * These strings appear in access logs, response headers and test files, so
 * they are part of the interface: never rename one, only add. The tables are
 * indexed by the enum value; a designated-initialiser table makes a missing
 * entry a NULL that the lookups turn into a safe fallback.
 */
#include <string.h>

#include "mg.h"

static const char *const reason_names[MG_R__COUNT] = {
    [MG_R_INTERNAL] = "internal-error",
    [MG_R_ALLOWED] = "allowed",
    [MG_R_ALLOWED_BY_TOKEN] = "allowed-by-token",
    [MG_R_DEFAULT_ALLOW] = "default-allow",
    [MG_R_NO_RULE] = "no-rule",
    [MG_R_BAD_URL] = "bad-url",
    [MG_R_METHOD] = "method-not-allowed",
    [MG_R_IP_DENIED] = "ip-denied",
    [MG_R_IP_NOT_ALLOWED] = "ip-not-allowed",
    [MG_R_COUNTRY_DENIED] = "country-denied",
    [MG_R_COUNTRY_UNKNOWN] = "country-unknown",
    [MG_R_OUTSIDE_TIME] = "outside-time-window",
    [MG_R_HOTLINK] = "hotlink",
    [MG_R_TRANSFORM_DENIED] = "transform-not-allowed",
    [MG_R_TRANSFORM_MISSING] = "transform-required-missing",
    [MG_R_LOGIN_REQUIRED] = "login-required",
    [MG_R_ROLE] = "role-insufficient",
    [MG_R_DOWNLOAD] = "download-not-allowed",
    [MG_R_TOKEN_MISSING] = "token-missing",
    [MG_R_TOKEN_MALFORMED] = "token-malformed",
    [MG_R_TOKEN_BAD_SIG] = "token-bad-signature",
    [MG_R_TOKEN_EXPIRED] = "token-expired",
    [MG_R_TOKEN_NOT_YET] = "token-not-yet-valid",
    [MG_R_TOKEN_WRONG_IP] = "token-wrong-ip",
    [MG_R_TOKEN_SCOPE] = "token-out-of-scope",
    [MG_R_TOKEN_UNKNOWN_KEY] = "token-unknown-key",
    [MG_R_TOKEN_USED] = "token-used",
    [MG_R_TOKEN_REVOKED] = "token-revoked",
};

const char *mg_reason_name(mg_reason_t r)
{
    /* An out-of-range value is a bug somewhere; report it as what it is
     * treated as (a denial for an internal error), never as NULL. */
    if ((int)r < 0 || r >= MG_R__COUNT || reason_names[r] == NULL)
        return "internal-error";
    return reason_names[r];
}

int mg_reason_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < MG_R__COUNT; i++) {
        if (reason_names[i] != NULL && strcmp(reason_names[i], name) == 0)
            return i;
    }
    return -1;
}

const char *mg_outcome_name(mg_outcome_t o)
{
    switch (o) {
    case MG_OUTCOME_DENY:
        return "deny";
    case MG_OUTCOME_ALLOW:
        return "allow";
    case MG_OUTCOME_LOGIN:
        return "login";
    case MG_OUTCOME_AUTH:
        return "auth";
    }
    return "deny";
}

const char *mg_access_name(mg_access_t a)
{
    switch (a) {
    case MG_ACCESS_NONE:
        return "none";
    case MG_ACCESS_VIEW:
        return "view";
    case MG_ACCESS_DOWNLOAD:
        return "download";
    }
    return "none";
}
