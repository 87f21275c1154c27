#!/usr/bin/python3
"""tests/differential/gen.py — the generated requests of the differential check (tests/differential/README.md).

Writes `mgctl test` files (docs/policy-tests.md) into OUT/cases/: the same requests for the old and the new build,
each case expecting only `decision: allow` so that both builds print what they decided (`mgctl test -f json`).
Signed links come from `mgctl sign` of BOTH builds over the same lines and keys (their outputs are compared
line by line first: tests/differential/compare.py reads OUT/sign-*.txt), then are tampered with.

Deterministic for a given --seed and --n. Nothing it writes is committed (the run script puts OUT in a
temporary directory).
"""
import argparse
import json
import os
import random
import subprocess
import sys

T0 = 1795431600  # 2026-11-23T11:00:00Z: links are minted at T0 and judged around it
CASES_PER_FILE = 4000

# --- the hard bytes ------------------------------------------------------------------------------------------

SEG_HARD = [
    "%2e%2e", "%2E%2E", "..", ".", "%2e", ".%2e", "%2e.", "...", "", "", ";", ";x", ";jsessionid=1", "..;",
    "%00", "%2f", "%2F", "%5c", "%5C", "%3b", "%3B", "%c0%ae", "%c0%af", "%e0%80%ae", "%f0%80%80%af", "%ed%a0%80",
    "%c2%80", "%c2%a0", "%ff", "%", "%z", "%zz", "%4", "%u002e", "+", "#", "[", "]", "%23", "%3f", "%3F", "~",
    "%7e", "%7E", "%25", "%252e", "%2541", "100%25", "a b", "%20", "a%20", "a.", "\u00e9", "%c3%a9", "e%cc%81",
    "%ef%bc%8f", "tr:w-100", "tr%3aw-100", "TR:w-100", "tr:w-100,oi-logo.png", "tr:", "tr:w-1,,h-2", "*", "@",
    ":", "%3a", "!$&'()*+,=:@", "\\", "a?b", "%09", "%7f", "%e2%80%8b",
]
EXTS = ["a", "A", "ab", "abcdefg", "abcdefgh", "ABCDEFGH", "abcdefgI", "abcdefghi", "abcdefgha", "abcdefghijklmno",
        "abcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnoP", "x1234567", "x123456", "x12345678", "bcdefgh",
        "jpg", "JPG", "Jpg", "jpeg", "png", "webp", "gif", "svg", "mp4", "MP4", "m3u8", "ts", "m4s", "mpd", "mov",
        "txt", "html", "php", "", "jpg.", "jpg%20", "jpg;.php", "jpg%00.php", "jpg%2ephp", "jpg/", "jpg%2f",
        "tar.gz", "JPEG", "jPg", "m3U8", "key"]
LENS = [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 100]
QNAMES = ["tr", "TR", "Tr", "tR", " tr", "+tr", "%20tr", "tr[]", "tr[0]", "tr[x", "[tr]", "tr]", "%5Btr%5D",
          "tr.x", "t%C2%ADr", "%2574r", "%2Btr", "%74r", "tr%00", "tr%20", "t.r", "tr_", "trk", "TR_ID",
          "download", "Download", "DOWNLOAD", "download[]", "download.x", "%64ownload", "down%C2%ADload",
          "mg_sig", "MG_SIG", "mg.sig", "mg%20sig", "mg[sig", "mg_a.b", "mg_%C5%BFig", "mg_exp", "mg_kid",
          "mg_foo", "mg", "mg-sig", "Mg_sig", "mg%5fsig", "mg_sig[]", "utm_source", "page[size]", "filter[tr]",
          "a.b", "x y", "x+y", "caf%C3%A9", "_", "x", "q", "w", "return_to", "=", "", "%ef%bc%b4r", "%e2%84%aa",
          "%c4%b0", "%ef%bb%bftr", "ik-s", "token", "expires", "md5", "Expires", "Signature", "Key-Pair-Id",
          "__gda__", "hdnts", "URLPrefix"]
QVALUES = ["1", "0", "", "w-150,h-150", "h-150,w-150", "w-300,h-300", "w-800,oi-logo.png", "oi-logo.png,w-800",
           "w-2000", "w-100:oi-logo.png", "w-1,,h-2", "%", "%zz", "%00", "a+b", "a%2Bb", "%23", "#", "[", "]",
           "x%3By", "x;y", "%c0%ae", "%252e", "http://h/public.jpg", "%E2%80%8B", "true", "yes", "no", "a" * 33,
           "1795431600", "k256"]
REFERERS = [None, "https://site.example/", "https://a.site.example/p", "https://site.example.evil.com/",
            "https://evil.example/", "http://site.example/", "https://SITE.EXAMPLE/", "https://site.example:443/",
            "https://site.example:8443/", "null", "", "https://user@site.example/", "about:blank", "//site.example/",
            "https://photos.example.com/gallery", "https://x.photos.example.com/", "https://photos.example.com.evil/",
            "https://intranet.example.com/", "https://a.intranet.example.com/", "http://partner.example/",
            "https://xsite.example/", "https://site.example%2f.evil/", "https://*.site.example/"]
ORIGINS = [None, "https://site.example", "https://a.site.example", "https://evil.example", "null",
           "https://photos.example.com", "https://intranet.example.com", "https://site.example:443", "http://site.example",
           "https://SITE.example", ""]
SFS = [None, "same-origin", "same-site", "cross-site", "none", "Same-Origin", "bogus", ""]
SFM = [None, "navigate", "no-cors", "cors", "same-origin", "websocket", "NAVIGATE"]
SFD = [None, "image", "video", "document", "iframe", "empty", "audio", "script", "Image"]
ACCEPTS = [None, "text/html", "text/html,application/xhtml+xml", "image/webp,*/*", "*/*", "TEXT/HTML"]
METHODS = ["GET"] * 12 + ["HEAD", "HEAD", "POST", "OPTIONS", "get", "PUT", "DELETE", "Get"]
HOSTS = [None, "site.example", "photos.example.com", "intranet.example.com", "SITE.EXAMPLE", "site.example:8080",
         "evil.example", "[::1]", "a b"]
IPS = ["127.0.0.1", "192.0.2.10", "192.0.2.200", "198.51.100.7", "198.51.100.200", "10.1.2.3", "10.9.1.1",
       "10.0.0.5", "2001:db8:100:7::42", "2001:db8:1::5", "2001:db8:200::1", "::1", "203.0.113.9",
       "::ffff:10.1.2.3", "fd00::1"]
COUNTRIES = [None, "DE", "NL", "BE", "KP", "US", "de", "", "XX", "IR"]


def rand_name(r, n):
    alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
    s = "".join(r.choice(alpha) for _ in range(n))
    return s


def hard_segment(r):
    k = r.random()
    if k < 0.35:
        return r.choice(SEG_HARD)
    if k < 0.6:
        return rand_name(r, r.choice(LENS))
    if k < 0.8:  # a name with a hard piece inside, at a word boundary
        n = r.choice(LENS)
        base = rand_name(r, n)
        at = r.choice([0, n // 2, max(0, n - 1), min(n, 7), min(n, 8), min(n, 15), min(n, 16)])
        return base[:at] + r.choice(SEG_HARD) + base[at:]
    return "%" + "".join(r.choice("0123456789abcdefABCDEF") for _ in range(2))


ODD = ["/", "//", ".", "..", "/.", "./", "/..", "%2e", "%2E", "%2f", ";", ";x", "%", "%4", "%41", "%3b", ":", "tr:",
       "\u00e9", "%c3%a9", "%c0%ae", "%ff", "%00", " ", "+", "#", "[", "]", "~", "@", "*", "%25", "%252e", "A", "Z",
       "\u20ac", "%e2%82%ac", "%f0%9f%98%80", "a.", "/./", "%2e%2e"]


def odd_path(r, prefixes):
    """An already-canonical path with one odd piece at one place: the SSE2 and word-at-a-time fast paths' edges
    (16-byte blocks, 8-byte words) are crossed at every offset."""
    p = r.choice(prefixes)
    n = r.randint(1, 70)
    body = "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(n))
    ext = r.choice(["jpg", "mp4", "png", "m3u8", "JPG", "ts"])
    path = p + body + "." + ext
    at = r.randrange(1, len(path) + 1)
    odd = r.choice(ODD)
    return path[:at] + odd + path[at:]


def gen_path(r, prefixes):
    p = r.choice(prefixes)
    k = r.random()
    if k < 0.2:
        return odd_path(r, prefixes)
    if k < 0.35:  # clean, the fast path
        segs = [rand_name(r, r.choice(LENS)).replace(".", "x") for _ in range(r.randint(0, 3))]
        name = rand_name(r, r.choice(LENS)).replace(".", "x") + "." + r.choice(EXTS)
        return p + "/".join(segs + [name])
    if k < 0.38 and len(p) > 2:  # the prefix one byte off: changed, shorter, longer (word compares' edges)
        i = r.randrange(1, len(p))
        p = r.choice([p[:i] + r.choice("aAzZ09-._~") + p[i + 1:], p[:i] + p[i + 1:], p[:i] + r.choice("aZ.") + p[i:]])
    elif k < 0.42:  # case games on the prefix
        p = "".join(c.upper() if r.random() < 0.3 else c for c in p)
    if k < 0.5 and len(p) > 2:  # percent-encode one byte of the prefix
        i = r.randrange(1, len(p))
        if p[i] != "/":
            p = p[:i] + ("%%%02X" if r.random() < 0.5 else "%%%02x") % ord(p[i]) + p[i + 1:]
    segs = [hard_segment(r) for _ in range(r.randint(0, 4))]
    last = rand_name(r, r.choice(LENS)) if r.random() < 0.8 else hard_segment(r)
    ext = r.choice(EXTS)
    name = last + ("." + ext if ext and r.random() < 0.9 else "")
    if r.random() < 0.1:
        name = ""
    joiner = "/" if r.random() < 0.85 else r.choice(["//", "/./", "/%2e/", "///"])
    path = p + joiner.join(segs + [name]) if segs else p + name
    if r.random() < 0.05:
        path = path + r.choice(["/", "/.", "/..", "#frag", "%23x", ";v=2"])
    if r.random() < 0.03:
        path = "/" + "a" * r.choice([4090, 4095, 4096, 4097])
    if r.random() < 0.02:
        path = path.replace("/", "/x/" * 50, 1)
    return path


QODD = ["&", "=", "&&", "==", ".", "[", "]", "[]", "+", "%", "%2B", "%41", "%2e", ";", "#", " ", "\u00e9", "%c3%a9",
        "%00", "%ff", "tr", "T", "R", "_", "mg_", "MG_", "%5B", "%20", "download", "D", "\u0130"]


def odd_query(r):
    """A query of ordinary bytes, '&' and '=' (the query fast path) with one odd piece at one place."""
    pairs = []
    for _ in range(r.choice([1, 2, 3, 7, 8, 9, 16, 17])):
        pairs.append(rand_name(r, r.choice([1, 2, 7, 8, 15, 16])).replace(".", "_") + "=" +
                     rand_name(r, r.choice([0, 1, 8, 15, 16, 17, 33])).replace(".", "-"))
    q = "&".join(pairs)
    at = r.randrange(0, len(q) + 1)
    return q[:at] + r.choice(QODD) + q[at:]


def gen_query(r):
    k = r.random()
    if k < 0.3:
        return None
    if k < 0.45:
        return odd_query(r)
    n = r.choice([1, 1, 1, 2, 2, 3, 5, 8, 9, 16, 17])
    pairs = []
    # half the queries use only names no stack reads as a reserved one, so that what comes after the reserved
    # names check (rules, transformations, hotlink, roles) is compared too
    hard = r.random() < 0.5
    for _ in range(n):
        if hard and r.random() < 0.7:
            name = r.choice(QNAMES)
        elif r.random() < 0.5:
            name = r.choice(["tr", "download", "x", "q", "w", "utm_source", "page[size]", "filter[tr]", "a.b",
                             "x+y", "caf%C3%A9", "_", "return_to", "trk", "TR_ID", "tr_", "mg", "mg-sig"])
        else:
            name = rand_name(r, r.choice([1, 2, 7, 8, 15, 16, 17]))
        if r.random() < 0.1:
            pairs.append(name)
        else:
            pairs.append(name + "=" + r.choice(QVALUES))
    sep = "&" if r.random() < 0.93 else r.choice([";", "&&", "&amp;"])
    q = sep.join(pairs)
    if r.random() < 0.05:
        q = r.choice(["&", "=", "&&"]) + q
    if r.random() < 0.05:
        q += r.choice(["&", "#x", "%", "%2"])
    return q


def maybe(r, p, pool):
    return r.choice(pool) if r.random() < p else None


def gen_headers(r, profile):
    h = {}
    for name, p, pool in (("Referer", 0.4, REFERERS), ("Origin", 0.2, ORIGINS), ("Sec-Fetch-Site", 0.3, SFS),
                          ("Sec-Fetch-Mode", 0.25, SFM), ("Sec-Fetch-Dest", 0.25, SFD), ("Accept", 0.3, ACCEPTS),
                          ("Host", 0.3, HOSTS)):
        v = maybe(r, p, pool)
        if v is not None:
            h[r.choice([name, name, name.lower(), name.upper()])] = v
    if r.random() < 0.05:
        h["Sec-Fetch-User"] = r.choice(["?1", "?0", "1"])
    if "role_header" in profile and r.random() < 0.35:
        h[r.choice([profile["role_header"], profile["role_header"].lower()])] = r.choice(
            ["staff", "member", "subscriber", "staff,member", " staff ", "STAFF", "", "media-team", "admin"])
    if "country_header" in profile and r.random() < 0.4:
        h[profile["country_header"]] = r.choice([c for c in COUNTRIES if c is not None])
    if r.random() < 0.1:
        h["Cookie"] = r.choice(["a=b", "mg_token=", "mg_token=garbage", "session=1; mg_token=x.y.z", "",
                                "tr=w-100", "a=b; TR=w-1", "download=1", "tr[]=x", "trx=1", "__token__=a"])
    return h


PROFILES = {
    # prefixes requests start from; where roles and country come from (headers, env, notes)
    "photo-site": {"prefixes": ["/photos/thumbs/", "/photos/previews/", "/photos/originals/", "/photos/", "/",
                                "/photos/thumbsx/", "/tr:w-300,h-300/photos/thumbs/", "/photos/thumbs/tr:w-150,h-150/",
                                "/tr:w-800,oi-logo.png/photos/previews/"],
                   "users": [None, "alice", "bob", "mallory"], "env": {"OIDC_CLAIM_groups": ["subscriber", "staff",
                                                                                           "subscriber,staff", ""]}},
    "video-course": {"prefixes": ["/courses/", "/courses/intro/", "/courses/a/trailer.", "/live/", "/live/qa/",
                                  "/masters/", "/", "/coursesx/"],
                     "users": [None, "carol", "dave", "eve"], "role_header": "X-Course-Roles"},
    "intranet-media": {"prefixes": ["/media/", "/media/press/", "/media/events/", "/", "/mediax/"],
                       "users": [None, "eve", "frank"], "env": {"MM_COUNTRY_CODE": ["NL", "DE", "KP", "US", ""]},
                       "notes": {"ldap-groups": ["intranet-media-team", "intranet-employee", "media-team",
                                                 "intranet-media-team intranet-x", ""]}},
    "full": {"prefixes": ["/photos/thumbs/", "/photos/", "/photos/x/preview-", "/photos/thumbs/preview-", "/",
                          "/photosx/"],
             "users": [None, "alice", "bob", "carol"], "role_header": "X-Roles",
             "env": {"OIDC_CLAIM_groups": ["staff", "member,subscriber", ""], "MM_COUNTRY_CODE": ["DE", "US", ""]},
             "notes": {"ldap-groups": ["media-staff", "staff", "media-subscriber media-x", ""]},
             "sign": {"keys": [("k2026", "hmac-sha256", "keys/k2026.key")],
                      "paths": ["/photos/a.jpg", "/photos/x/preview-1.jpg", "/photos/thumbs/a.jpg",
                                "/photos/x/preview-1.jpg?download=1", "/photos/%C3%A9.png", "/photos/a.arw"]}},
    "diff-edge": {"prefixes": ["/public/", "/secret/", "/secretx/", "/secre", "/media/", "/office/", "/geo/", "/hot/",
                               "/img/", "/img/tr:w-10,oi-logo.png/", "/signed/", "/members/", "/g/a/",
                               "/g/a/private-", "/g/", "/abcdefg/", "/abcdefgh/", "/abcdefghijklmno/",
                               "/abcdefghijklmnop/", "/abcdefghijklmnopq/", "/abcdefghijklmnopqrstuvwxyz01234/",
                               "/abcdefghijklmnopqrstuvwxyz012345/", "/abcdefghijklmnopqrstuvwxyz0123456/",
                               "/a/b/c/d/e/f/g/h/", "/a/b/c/d/e/f/g/", "/x/", "/", "/e/", "/e/x.", "/a/", "/ab/",
                               "/abcdefghi/", "/abcdefgh/abcdefgh/abcdefgh/", "/abcdefgh/abcdefgh/"],
                  "users": [None, "alice", "bob"], "role_header": "X-Roles", "country_header": "CF-IPCountry",
                  "sign": {"keys": [("adv", "hmac-sha256", "keys/k256.key")],
                           "paths": ["/signed/a.jpg", "/signed/abcdefgh/b.mp4", "/public/a.jpg", "/signed/x/"]}},
    "diff-tokens": {"prefixes": ["/signed/", "/simg/", "/alt/", "/v/", "/pub/", "/g/a/p-", "/dl/", "/"],
                    "users": [None, "alice"], "sign": {"keys": None, "paths": None}},
}


def gen_request(r, profile, t_base):
    path = gen_path(r, profile["prefixes"])
    q = gen_query(r)
    url = path + ("?" + q if q is not None else "")
    if r.random() < 0.03:
        # (mgctl test files refuse a URL that is neither a path nor http(s)://: no ftp:// or * here)
        url = r.choice(["http://", "https://", "HTTP://", "http://u@", "http://u:p@", "http:///", "Https://",
                        "http://h:8080", "http://%41"]) + (r.choice(HOSTS) or "h") + url
    req = {"url": url}
    m = r.choice(METHODS)
    if m != "GET":
        req["method"] = m
    u = r.choice(profile["users"])
    if u:
        req["user"] = u
    if r.random() < 0.6:
        req["ip"] = r.choice(IPS)
    if r.random() < 0.2:
        req["peer"] = r.choice(IPS)
    h = gen_headers(r, profile)
    if h:
        req["headers"] = h
    for key, fld in (("env", "env"), ("notes", "notes")):
        if key in profile and r.random() < 0.5:
            name, vals = r.choice(list(profile[key].items()))
            req[fld] = {name: r.choice(vals)}
    if r.random() < 0.1:
        req["country"] = r.choice(["DE", "NL", "KP", "US"])
    req["time"] = t_base + r.choice([0, 3600 * 5, 3600 * 10, 86400 * 2, 86400 * 5, -3600 * 7])
    return req


# --- signed links ----------------------------------------------------------------------------------------------

KEYS = [("k256", "hmac-sha256", "keys/k256.key"), ("k1", "hmac-sha1", "keys/k1.key"),
        ("ked", "ed25519", "keys/ked.key"), ("kold", "hmac-sha256", "keys/kold.key")]
SIGN_PATHS = ["/signed/a.jpg", "/signed/dir/b.mp4", "/simg/tr:w-800,oi-logo.png/a.jpg", "/simg/a.jpg?tr=w-100,oi-logo.png",
              "/simg/a.jpg", "/alt/a.jpg", "/v/l1/index.m3u8", "/v/l1/seg1.ts", "/g/x/p-1.jpg", "/dl/a.pdf?download=1",
              "/dl/a.pdf", "/signed/abcdefg.jpg", "/signed/abcdefgh.jpg", "/signed/abcdefghijklmnop.jpg",
              "/signed/abcdefghijklmnopqrstuvwxyz012345.jpg", "/signed/" + "d" * 64 + ".mp4", "/signed/%C3%A9.jpg",
              "/signed//x/../a.jpg", "/signed/%2e/a.jpg", "/signed/a.jpg?x=1&y=2", "/pub/a.jpg", "/signed/a+b.jpg",
              "/signed/a%20b.jpg", "/signed/~u/a.jpg", "/v/l1/", "/signed/a.jpg?z=%2B&a=%20"]
CLAIMS = [[], ["--prefix", "/v/"], ["--prefix", "/signed/"], ["--access", "download"], ["--ip", "192.0.2.10"],
          ["--ip", "192.0.2.0/24"], ["--ip", "2001:db8:100::/48"], ["--not-before", str(T0 + 600)],
          ["--id", "leak-1"], ["--id", "ok-7"], ["--prefix", "/v/", "--cookie"], ["--ttl", "40d"],
          ["--expires", "end-of-day", "--tz", "Europe/Berlin"], ["--access", "download", "--prefix", "/dl/"]]


def sign_all(mgctl, work, tag, keys, paths):
    """Sign every path under every key and claim set with one build; returns [(key, claims, line, link)]."""
    out = []
    for kid, alg, kfile in keys:
        for claims in CLAIMS:
            lines = paths
            if "--prefix" in claims:
                pre = claims[claims.index("--prefix") + 1]
                lines = [p for p in paths if p.startswith(pre) and "?" not in p]
            if not lines:
                continue
            cmd = [mgctl, "sign", "--key-file", kfile, "--key-id", kid, "--alg", alg, "--now", str(T0)]
            if "--ttl" not in claims and "--expires" not in claims:
                cmd += ["--ttl", "1h"]
            cmd += claims
            if "--cookie" in claims:  # one Set-Cookie value for the prefix, no URL lines
                lines = ["(cookie)"]
                p = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
            else:
                p = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=work)
            got = p.stdout.split("\n")
            for i, line in enumerate(lines):
                out.append((kid, tuple(claims), line, got[i] if i < len(got) else ""))
    with open(os.path.join(work, "sign-%s.txt" % tag), "a") as f:
        for kid, claims, line, link in out:
            f.write(json.dumps([kid, list(claims), line, link]) + "\n")
    return out


def split_link(link):
    if "?" in link:
        p, q = link.split("?", 1)
        return p, q.split("&")
    return link, []


def tamper(r, link):
    """One change to a signed link (or none), and its name."""
    path, pairs = split_link(link)
    k = r.randrange(24)
    if k == 0 or not pairs:
        return "as-is", link
    def join(p, ps):
        return p + ("?" + "&".join(ps) if ps else "")
    sig = [i for i, x in enumerate(pairs) if x.startswith("mg_sig=")]
    if k == 1 and sig:
        i = sig[0]
        v = pairs[i]
        j = r.randrange(7, len(v))
        c = "A" if v[j] != "A" else "B"
        pairs[i] = v[:j] + c + v[j + 1:]
        return "sig-flip", join(path, pairs)
    if k == 2 and sig:
        pairs[sig[0]] = pairs[sig[0]][:-1]
        return "sig-trunc", join(path, pairs)
    if k == 3:
        for i, x in enumerate(pairs):
            if x.startswith("mg_exp="):
                pairs[i] = "mg_exp=%d" % (int(x[7:]) + 1)
        return "exp+1", join(path, pairs)
    if k == 4:
        del pairs[r.randrange(len(pairs))]
        return "drop-param", join(path, pairs)
    if k == 5:
        pairs.insert(r.randrange(len(pairs) + 1), r.choice(pairs))
        return "dup-param", join(path, pairs)
    if k == 6:
        i = r.randrange(len(pairs))
        n, _, v = pairs[i].partition("=")
        pairs[i] = r.choice([n.upper(), n.replace("_", "%5F"), n.replace("_", "."), n + "[]", " " + n, "+" + n,
                             n.replace("mg", "Mg")]) + "=" + v
        return "name-spelling", join(path, pairs)
    if k == 7:
        r.shuffle(pairs)
        return "reorder", join(path, pairs)
    if k == 8:
        pairs.insert(r.randrange(len(pairs) + 1), r.choice(["x=1", "utm_source=a", "tr=w-100", "download=1",
                                                             "mg_foo=1", "a=%2B", "z"]))
        return "extra-param", join(path, pairs)
    if k == 9:
        segs = path.split("/")
        i = r.randrange(1, len(segs))
        if segs[i]:
            c = segs[i][0]
            segs[i] = "%%%02X" % ord(c) + segs[i][1:] if c.isalnum() else segs[i]
        return "pct-path", join("/".join(segs), pairs)
    if k == 10:
        return "double-slash", join(path.replace("/", "//", 2), pairs)
    if k == 11:
        return "path-case", join(path.upper(), pairs)
    if k == 12:
        return "dot-seg", join(path.replace("/", "/x/../", 1), pairs)
    if k == 13:
        for i, x in enumerate(pairs):
            if x.startswith("mg_kid="):
                pairs[i] = "mg_kid=" + r.choice(["k256", "k1", "ked", "kold", "nope", "", "K256"])
        return "kid-swap", join(path, pairs)
    if k == 14:
        return "other-file", join(path[:-1] + ("x" if path[-1] != "x" else "y"), pairs)
    if k == 15:
        return "tr-added", join(path, pairs + ["tr=w-100,oi-logo.png"])
    if k == 16:
        sib = path.replace("/signed/", "/signedx/").replace("/v/", "/v2/").replace("/photos/", "/photosx/")
        return ("sibling" if sib != path else "as-is"), join(sib, pairs)
    if k == 17:
        for i, x in enumerate(pairs):
            if "=" in x:
                n, _, v = x.partition("=")
                pairs[i] = n + "=" + v.replace("-", "%2D").replace("_", "%5F")
        return "pct-values", join(path, pairs)
    if k == 18:
        return "semicolon", join(path, [";".join(pairs)])
    if k == 19:
        return "fragment", link + "#frag"
    if k == 20:
        return "acc-forged", join(path, pairs + ["mg_acc=download"])
    if k == 21:
        return "path-param", join(path + ";x=1", pairs)
    if k == 22:
        return "sig-empty", join(path, [x if not x.startswith("mg_sig=") else "mg_sig=" for x in pairs])
    return "trailing-amp", link + "&"


def token_cases(r, links, n):
    """n requests built from the signed links: the link (tampered or not), at a time around its window."""
    cases = []
    usable = [x for x in links if x[3]]
    for _ in range(n):
        kid, claims, line, link = r.choice(usable)
        req = {}
        if "--cookie" in claims:
            # a Set-Cookie value for a prefix: send it as a cookie with a URL under the prefix
            val = link.split(";", 1)[0]
            if r.random() < 0.3:
                val = val[:-2] + ("AA" if not val.endswith("AA") else "BB")
            req["url"] = r.choice(["/v/l1/seg1.ts", "/v/l1/index.m3u8", "/v/l2/seg1.ts", "/v2/a.mp4", "/v/a.ts?x=1",
                                   "/v/l1/seg1.ts?mg_sig=x"])
            req["headers"] = {"Cookie": r.choice([val, "a=b; " + val, val + "; " + val, val.replace("mg_token", "MG_TOKEN")])}
            name = "cookie"
        else:
            name, url = tamper(r, link)
            req["url"] = url
        req["time"] = T0 + r.choice([0, 1, 599, 600, 601, 3600 - 31, 3600, 3600 + 29, 3600 + 30, 3600 + 31,
                                     3600 + 299, 3600 + 300, 3600 + 330, 3600 + 331, 3600 + 400, -31, -30, 86400,
                                     86400 * 35])
        if r.random() < 0.5:
            req["ip"] = r.choice(["192.0.2.10", "192.0.2.11", "198.51.100.1", "2001:db8:100::5", "127.0.0.1"])
        if r.random() < 0.15:
            req["user"] = "alice"
        if r.random() < 0.1:
            req["method"] = r.choice(["HEAD", "POST"])
        # label: what was done to the link, the key, and which claims it carries (CLAIMS index), for the
        # invariants of known.check_new
        ci = CLAIMS.index(list(claims)) if list(claims) in CLAIMS else -1
        cases.append(("%s:%s:c%d" % (name, kid, ci), req))
    return cases


def write_files(outdir, policy_path, tag, cases):
    os.makedirs(outdir, exist_ok=True)
    files = []
    for start in range(0, len(cases), CASES_PER_FILE):
        fn = os.path.join(outdir, "%s-%04d.test.yaml" % (tag, start // CASES_PER_FILE))
        with open(fn, "w") as f:
            f.write("policy: %s\n" % json.dumps(policy_path))
            f.write("tests:\n")
            for i, (label, req) in enumerate(cases[start:start + CASES_PER_FILE], start):
                f.write("  - {name: %s, request: %s, expect: {decision: allow}}\n"
                        % (json.dumps("%s#%d %s" % (tag, i, label)), json.dumps(req, ensure_ascii=False)))
        files.append(fn)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=200000, help="requests per policy (default 200000)")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--policy", action="append", required=True, help="TAG=FILE (absolute), TAG a PROFILES key")
    ap.add_argument("--old-mgctl", required=True)
    ap.add_argument("--new-mgctl", required=True)
    a = ap.parse_args()
    r = random.Random(a.seed)
    work = a.out
    for t in ("old", "new"):
        open(os.path.join(work, "sign-%s.txt" % t), "w").close()
    for spec in a.policy:
        tag, _, pfile = spec.partition("=")
        prof = PROFILES[tag]
        cases = []
        share = 0
        if "sign" in prof:
            keys = prof["sign"]["keys"] or KEYS
            paths = prof["sign"]["paths"] or SIGN_PATHS
            sign_all(a.old_mgctl, work, "old", keys, paths)
            new = sign_all(a.new_mgctl, work, "new", keys, paths)
            share = a.n * 4 // 5 if tag == "diff-tokens" else a.n // 5
            cases += token_cases(r, new, share)
        n_plain = a.n - share
        for _ in range(n_plain):
            cases.append(("gen", gen_request(r, prof, T0)))
        files = write_files(os.path.join(work, "cases"), pfile, tag, cases)
        print("%s: %d cases in %d files" % (tag, len(cases), len(files)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
