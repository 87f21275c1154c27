"""tests/differential/known.py — the intentional changes since the old revision (f6bb962, issue 13 filed) that
explain a difference between the old and the new build, each with the CHANGELOG or docs entry it comes from.

explain(old_case, new_case, old_view, new_view) returns the explanation of a difference, or None (a bug until
someone explains it). check_new(case) holds the new build to an independent statement of the reserved query
names (docs/canonical-urls.md, "Reserved parameter names") whether or not the old build agreed.

An explanation is accepted only when the input really has the property the change is about (a reserved spelling
by the reading below, written from the docs and not from lib/mg_canon.c; userinfo in the URL; ...), never from
the new build's sentence alone.
"""
import collections
import re

CHECKED = collections.Counter()  # how many cases each statement of check_new applied to

RESERVED_SENTENCES = ("query name that some servers read as", "reserved query parameter given more than once",
                      "repeated 'tr' query parameter")
TARGET_SENTENCES = ("userinfo (user@) in an http(s) URL", "control byte or space in the URL's host",
                    "an http(s) URL without a host")

DOWNLOAD_PARAM = "download"  # every policy of tests/differential uses the default or sets it to "download"

IGNORABLE = [(0xAD, 0xAD), (0x34F, 0x34F), (0x61C, 0x61C), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
             (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F),
             (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
             (0xE0000, 0xE0FFF)]
HEX = "0123456789abcdefABCDEF"


def _decode(part):
    """Form-decode a query name as mg_query_parse does ('+' is a space, %XX once); None if it would refuse."""
    b = bytearray()
    i = 0
    while i < len(part):
        c = part[i]
        if c == "+":
            b.append(0x20)
            i += 1
        elif c == "%":
            if i + 2 >= len(part) + 0 and not (i + 2 < len(part) + 1 and len(part) - i >= 3):
                return None
            h = part[i + 1:i + 3]
            if len(h) != 2 or h[0] not in HEX or h[1] not in HEX:
                return None
            b.append(int(h, 16))
            i += 3
        else:
            b.extend(c.encode("utf-8"))
            i += 1
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or 0x80 <= ord(ch) <= 0x9F for ch in s):
        return None
    return s


def _fold(s):
    """The name as a stack that ignores case (and decodes once more) may read it: a list of ASCII characters,
    '\x80' for any other character, ignorable code points left out."""
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "%" and i + 2 < len(s) and s[i + 1] in HEX and s[i + 2] in HEX:
            v = int(s[i + 1:i + 3], 16)
            i += 3
            out.append("\x80" if v >= 0x80 else " " if v == 0x2B else chr(v).lower())
            continue
        i += 1
        cp = ord(ch)
        if ch == "+":
            out.append(" ")
        elif cp < 0x80:
            out.append(ch.lower())
        elif cp in (0x130, 0x131):
            out.append("i")
        elif cp == 0x17F:
            out.append("s")
        elif cp == 0x212A:
            out.append("k")
        elif 0xFF01 <= cp <= 0xFF5E:
            out.append(chr(cp - 0xFEE0).lower())
        elif any(a <= cp <= b for a, b in IGNORABLE):
            continue
        else:
            out.append("\x80")
    return out


def _reading_cut(f):
    r = []
    started = False
    for c in f:
        if c in "[].":
            if started:
                break
            continue
        if c == " " and not started:
            continue
        started = True
        r.append(c)
    return "".join(r)


def _reading_php(f):
    r = []
    i = 0
    while i < len(f) and f[i] == " ":
        i += 1
    mangle_all = False
    for j in range(i, len(f)):
        c = f[j]
        if c in " .":
            r.append("_")
        elif c == "[":
            if not mangle_all and "]" in f[j + 1:]:
                break
            r.append("_")
            mangle_all = True
        else:
            r.append(c)
    return "".join(r)


def _plain(s):
    # '+' too: a '+' left in a decoded name ("%2Btr") is a space to a component that decodes again (79f25df)
    return not any(c in " .[]%+" or ord(c) >= 0x80 for c in s)


def reserved_verdict(query):
    """Why the reserved-names rule refuses this raw query ('tr', 'mg_', 'download', 'repeat'), or None.
    Also None when the query does not decode (another rule refuses it first)."""
    if query is None:
        return None
    if ";" in query or "#" in query:
        return None
    seen_tr = 0
    for pair in query.split("&"):
        if pair == "":
            continue
        name = _decode(pair.split("=", 1)[0])
        if name is None:
            return None
        if name == "tr":
            seen_tr += 1
            if seen_tr > 1:
                return "repeat"
            continue
        if _plain(name):
            low = name.lower()
            if low == "tr" or low == DOWNLOAD_PARAM and name != DOWNLOAD_PARAM:
                return "tr" if low == "tr" else "download"
            if low.startswith("mg_") and not name.startswith("mg_"):
                return "mg_"
            continue
        f = _fold(name)
        for reading in (_reading_cut(f), _reading_php(f)):
            if reading == "tr":
                return "tr"
            if reading == DOWNLOAD_PARAM:
                return "download"
            if reading.startswith("mg_"):
                return "mg_"
    return None


def _query_of(url):
    u = url.split("#", 1)[0]
    return u.split("?", 1)[1] if "?" in u else None


def _has_userinfo(url):
    m = re.match(r"(?i)https?://([^/?#]*)", url)
    return bool(m and "@" in m.group(1))


COOKIE_SENTENCE = "cookie named as a query parameter that some servers read as 'tr' or the download parameter"


def _cookie_reserved(co):
    """The case sends a cookie whose name some stack reads as tr or the download parameter."""
    cookie = (co.get("_headers") or {}).get("cookie") or ""
    for part in re.split(r"[;,]", cookie):
        name = _decode(part.strip().split("=", 1)[0])
        if not name:
            continue
        readings = [name.lower()] if _plain(name) else [_reading_cut(_fold(name)), _reading_php(_fold(name))]
        if "tr" in readings or DOWNLOAD_PARAM in readings:
            return True
    return False


def _headers(case):
    return {k.lower(): v for k, v in ((case.get("request") or {}).get("headers") or {}).items()}


def _origin_triple(u):
    m = re.match(r"(?i)^([a-z][a-z0-9+.-]*)://([^/?#@]*)(?:[/?#]|$)", u or "")
    if not m:
        return None
    scheme = m.group(1).lower()
    hostport = m.group(2).lower()
    host, _, port = hostport.rpartition(":") if re.search(r":\d+$", hostport) else (hostport, "", "")
    return scheme, host, int(port) if port else {"http": 80, "https": 443}.get(scheme)


def _same_host_other_origin(co):
    """The case's Origin (else Referer) names the request's Host, but with another scheme or port."""
    h = co.get("_headers")
    if h is None:
        return False
    src = h.get("origin")
    if not src or src == "null":
        src = h.get("referer")
    o = _origin_triple(src)
    url = co["url"]
    m = re.match(r"(?i)^(https?)://([^/?#]*)", url)
    scheme = m.group(1).lower() if m else "http"
    host = h.get("host") or (m.group(2) if m else None)
    if o is None or not host:
        return False
    hp = host.lower()
    hh, _, hport = hp.rpartition(":") if re.search(r":\d+$", hp) else (hp, "", "")
    port = int(hport) if hport else {"http": 80, "https": 443}[scheme]
    return o[1] == hh and (o[0], o[2]) != (scheme, port)


def explain(co, cn, vo, vn):
    url = co["url"]
    q = _query_of(url)
    refused_new = vn["url_refused"] or ""
    refused_old = vo["url_refused"] or ""
    changed = {f for f in vo if vo[f] != vn[f]}

    # 1. Reserved query names (issue 14's rule; docs/canonical-urls.md "Reserved parameter names", commits
    #    db5d8f7, 1dc4b98, 79f25df; CHANGELOG 1.0.0 "query names that PHP, Rack, ASP.NET, Java, Python or Go
    #    could read as tr, a token parameter or the download parameter ... are refused"). The old build read
    #    such names as ordinary parameters.
    if refused_new.startswith(RESERVED_SENTENCES) and reserved_verdict(q) is not None:
        return "reserved query name (CHANGELOG 1.0.0; canonical-urls.md 'Reserved parameter names')"

    # 2. The request target split (90d1ee2, docs/canonical-urls.md "The request target"): userinfo in an
    #    http(s) URL is refused ("mgctl used to strip userinfo and judge the path"), and so is a host with a
    #    space or control byte or none at all.
    if refused_new == "userinfo (user@) in an http(s) URL" and _has_userinfo(url):
        return "userinfo refused (90d1ee2; canonical-urls.md 'The request target')"
    if refused_new in TARGET_SENTENCES[1:] and re.match(r"(?i)https?://", url):
        return "absolute URL with a bad host refused (90d1ee2; canonical-urls.md 'The request target')"

    # 2b. A cookie named as 'tr' or the download parameter (36827e1, red team 20; CHANGELOG Unreleased "a cookie
    #     named as tr or the download parameter is refused (bad-url)"): PHP's $_REQUEST took it over the query.
    if refused_new == COOKIE_SENTENCE and _cookie_reserved(co):
        return "cookie named as tr/download refused (36827e1; CHANGELOG Unreleased)"

    # 3. Cross-Origin-Resource-Policy derived from a hotlink profile with allowed_origins (issue 11; CHANGELOG
    #    1.0.0 "a CORP header derived from the profile so browsers never block an allowed partner";
    #    docs/policy.md "corp"): the old build sent none when the profile named no corp.
    if "corp" in changed and vo["corp"] is None and vn["corp"] in ("cross-origin", "same-origin"):
        rest = changed - {"corp"}
        if not rest:
            return "CORP derived from the hotlink profile (CHANGELOG 1.0.0; policy.md 'Until issue 11')"
        if rest <= {"decision", "access", "reason", "status", "message", "location", "download", "filename",
                    "status_without_forbidden_on_failure"} and _same_host_other_origin(co):
            return ("same_origin compares scheme, host and port, and CORP follows the profile "
                    "(policy.md 'Until issue 11')")

    # 4. same_origin compares scheme, host and port since issue 11 (docs/policy.md, "Until issue 11, same_origin
    #    compared the host only"; CHANGELOG 1.0.0 "origins compared as scheme, host and port"): an Origin or
    #    Referer on the request's host but with another scheme or port no longer passes as the site itself.
    if vo["reason"] != "hotlink" and vn["reason"] == "hotlink" and _same_host_other_origin(co):
        return "same_origin compares scheme, host and port (policy.md 'Until issue 11')"

    return None


# Changes to a signed link that the signature covers: such a link must never be allowed by its token
# (gen.py's tamper() names; "other-file" and "path-case" only for links without a prefix scope).
FORGED = {"sig-flip", "sig-trunc", "sig-empty", "exp+1", "acc-forged", "sibling"}
SCOPED_CLAIMS = {1, 2, 10, 13}  # gen.CLAIMS entries with --prefix


# Changes that keep a link's canonical form (docs/canonical-urls.md): the link must still be allowed by its token
# when it is used in time, by GET or HEAD, on a /signed/ path of diff-tokens.yaml, with claims that need nothing
# of the request (none, download, a token id that is not revoked, an end-of-day bucket).
KEPT = {"as-is", "reorder", "double-slash", "dot-seg", "fragment", "trailing-amp", "pct-path", "path-param"}
FREE_CLAIMS = {0, 3, 9, 12}


def check_new(cn, label="gen", req=None, policy=None):
    """The new build alone against statements that do not depend on the old build. Returns a complaint or None.

    - the reserved-names statement: a query with a reserved spelling must be refused (bad-url) unless something
      earlier refused the request;
    - signed links: a link changed where its signature covers it is never `allowed-by-token`."""
    v = reserved_verdict(_query_of(cn["url"]))
    d = cn["decision"] or {}
    if v is not None:
        CHECKED["reserved spelling refused"] += 1
    if v is not None and d.get("reason") != "bad-url":
        return "reserved spelling (%s) not refused" % v
    parts = label.split(":")
    if len(parts) == 3:
        t = parts[0]
        if t in FORGED or t == "kid-swap" or (int(parts[2][1:]) not in SCOPED_CLAIMS and t in ("other-file",
                                                                                                "path-case")):
            CHECKED["forged link not allowed by its token"] += 1
    if len(parts) == 3 and d.get("reason") == "allowed-by-token":
        tamper, kid, claims = parts[0], parts[1], int(parts[2][1:])
        scoped = claims in SCOPED_CLAIMS
        if tamper in FORGED or (not scoped and tamper in ("other-file", "path-case")):
            return "a forged link (%s) was allowed by its token" % tamper
        if tamper == "kid-swap":
            m = re.search(r"[?&]mg_kid=([^&#]*)", cn["url"])
            if m and m.group(1) != kid:
                return "a link with another key id (%s for %s) was allowed by its token" % (m.group(1), kid)
    if (len(parts) == 3 and policy == "diff-tokens" and req is not None and parts[0] in KEPT
            and parts[1] in ("k256", "k1", "ked") and int(parts[2][1:]) in FREE_CLAIMS
            and req.get("method", "GET") in ("GET", "HEAD") and "user" not in req
            and req["url"].startswith("/signed/") and int(req.get("time", 0)) - 1795431600 <= 3600):
        CHECKED["link used as signed allowed by its token"] += 1
        if d.get("reason") == "allowed-by-token":
            return None
        return "a link used as signed (%s) was refused: %s" % (parts[0], d.get("reason"))
    return None


def explain_apache(co, vo, vn):
    """The same explanations for what two real Apaches logged (status, decision, reason, rule; no sentence, so
    a bad-url is explained only when the request really has what the change refuses)."""
    url = co["url"]
    if vn["reason"] == "bad-url" and vo["reason"] != "bad-url":
        if _cookie_reserved(co):
            return "cookie named as tr/download refused (36827e1; CHANGELOG Unreleased)"
        if reserved_verdict(_query_of(url)) is not None:
            return "reserved query name (CHANGELOG 1.0.0; canonical-urls.md 'Reserved parameter names')"
        if _has_userinfo(url):
            return "userinfo refused (90d1ee2; canonical-urls.md 'The request target')"
        if re.match(r"(?i)https?:///", url):
            return "an http(s) URL without a host refused (90d1ee2; canonical-urls.md 'The request target')"
    if vo["reason"] != "hotlink" and vn["reason"] == "hotlink" and _same_host_other_origin(co):
        return "same_origin compares scheme, host and port (policy.md 'Until issue 11')"
    return None


def explain_verify(req, old, new):
    """`mgctl verify` of both builds: (exit, json, stderr) each."""
    ro, oo, eo = old
    rn, on, en = new
    url = req["url"]
    # mgctl verify splits its URL with mg_target_split since 90d1ee2 and refuses what the module refuses (exit 2
    # for a URL it cannot take, docs/canonical-urls.md "The request target"); a reserved spelling in the query
    # is refused before any token is read (CHANGELOG 1.0.0).
    if reserved_verdict(_query_of(url)) is not None and (on or {}).get("reason") in (None, "bad-url",
                                                                                  "token-malformed"):
        if on is None or (on.get("detail") or "").startswith(RESERVED_SENTENCES):
            return "reserved query name (CHANGELOG 1.0.0; canonical-urls.md 'Reserved parameter names')"
    if ro == rn and isinstance(oo, dict) and isinstance(on, dict):
        # since 7110d0c verify names a URL canonicalisation refuses as the module does, bad-url, with the same
        # refusal sentence (CHANGELOG Unreleased); everything else must be equal
        rest_o = {k: v for k, v in oo.items() if k != "reason"}
        rest_n = {k: v for k, v in on.items() if k != "reason"}
        if (oo.get("reason"), on.get("reason")) == ("token-malformed", "bad-url") and rest_o == rest_n:
            return "verify: a canonicalisation refusal is bad-url since 7110d0c (CHANGELOG Unreleased)"
        rest_o = {k: v for k, v in oo.items() if k != "detail"}
        rest_n = {k: v for k, v in on.items() if k != "detail"}
        # the sentence names the claim in words since the foreign formats share the verifier (8414209,
        # docs/token-formats.md): "(mg_nbf)" became "(not-before)"
        if rest_o == rest_n and (oo.get("detail"), on.get("detail")) in WORDING:
            return "wording: the claim named in words since 8414209 (token-formats.md)"
    return None


WORDING = {("the token is not valid yet (mg_nbf)", "the token is not valid yet (not-before)")}
