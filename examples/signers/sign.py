#!/usr/bin/env python3
"""sign.py - mint mod_media_guard signed links (token format v1) in Python.

Standard library only for HMAC-SHA256 / HMAC-SHA1. Ed25519 needs the
`cryptography` package (the standard library has no Ed25519); without it,
Ed25519 keys are refused with a clear message.

The normative description is docs/token-spec.md; vectors.json holds test
vectors this file reproduces:

    python3 sign.py --vectors vectors.json

Use as a library:

    from sign import Key, sign_url
    key = Key.from_text("k2026", open("k2026.key").read())
    url = sign_url(key, "/photos/a.jpg?w=300", expires=1798761599)

or from the command line:

    python3 sign.py --key-file k2026.key --key-id k2026 --expires 1798761599 /photos/a.jpg
"""
import base64
import hashlib
import hmac
import json
import re
import sys
from urllib.parse import quote, unquote_to_bytes

TAG = "mg-token-v1"
CLAIMS = ("mg_acc", "mg_exp", "mg_id", "mg_ip", "mg_kid", "mg_nbf", "mg_scope",
          "mg_uses")  # byte order


class TokenError(ValueError):
    """Input that cannot be signed (the C signer refuses it too)."""


# ---------------------------------------------------------------- encoding

_TOKEN_SAFE = re.compile(r"[A-Za-z0-9\-._~/:,@]*\Z")


def token_encode(text):
    """Keep RFC 3986 unreserved and / : , @ ; every other UTF-8 byte is %XX."""
    if _TOKEN_SAFE.match(text):  # the common case, and much faster than quote()
        return text
    return quote(text, safe="/:,@", encoding="utf-8", errors="strict")


def cookie_encode(text):
    """Cookie values keep unreserved only (a cookie may not contain ',')."""
    return quote(text, safe="", encoding="utf-8", errors="strict")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------- canonical form
# A signer-side subset of docs/canonical-urls.md: enough to canonicalise every
# URL a server accepts; where the server would refuse, we refuse.

_HEX = re.compile(r"%[0-9A-Fa-f]{2}")
_TR_KEY = re.compile(r"^[a-z0-9]+$")
_TR_VALUE = re.compile(r"^[A-Za-z0-9\-._~!$()*+=@]+$")


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _pct_decode(raw, where, plus_is_space=False):
    """Decode %XX exactly once into strict UTF-8; '+' is a space in queries."""
    if _BAD_ESCAPE.search(raw):
        raise TokenError("malformed percent escape in " + where)
    if plus_is_space:
        raw = raw.replace("+", " ")
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeError:  # also a str with lone surrogates (surrogateescape input)
        raise TokenError("invalid UTF-8 in " + where)
    if _CONTROL.search(text):
        raise TokenError("control character in " + where)
    return text


def normalize_tr(text):
    """Sort the parameters of each step by key; keep the steps in order."""
    if not text:
        raise TokenError("empty transformation")
    steps = []
    for step in text.split(":"):
        params = {}
        for param in step.split(","):
            key, dash, value = param.partition("-")
            if not dash or not _TR_KEY.match(key) or not _TR_VALUE.match(value):
                raise TokenError("malformed transformation parameter %r" % param)
            if key in params:
                raise TokenError("duplicate transformation key %r" % key)
            params[key] = value
        steps.append(",".join(k + "-" + params[k] for k in sorted(params)))
    return ":".join(steps)


def parse_query(raw):
    """Decoded (name, value) pairs; '&' separates, '+' is a space."""
    if raw and ";" in raw:
        # Like mg_canon: origins that also split on ';' would see another query.
        raise TokenError("raw ';' in query (encode it as %3B)")
    pairs = []
    for part in (raw or "").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = _pct_decode(name, "query", True)
        if not name:
            raise TokenError("query parameter without a name")
        pairs.append((name, _pct_decode(value, "query", True)))
    return pairs


def canonicalize(raw_path, raw_query):
    """Return (path, signed_path, tr, params) like mg_canon_path()."""
    if not raw_path.startswith("/"):
        raise TokenError("path does not start with '/'")
    if re.search(r"[\x00-\x20\x7f\\?#]", raw_path):
        raise TokenError("control byte, space, backslash, '?' or '#' in path")
    segs = []          # kept decoded segments
    tr_index = None
    is_dir = True
    for raw in raw_path.split("/")[1:]:
        params = raw.find(";")
        if params >= 0:
            if re.search(r"%(?![0-9A-Fa-f]{2})", raw[params:]):
                raise TokenError("malformed percent escape in path parameters")
            raw = raw[:params]
        seg = _pct_decode(raw, "path")
        if params >= 0 and seg in ("", ".", ".."):
            raise TokenError("dot or empty segment with ';' parameters")
        if "/" in seg or "\\" in seg or ";" in seg:
            raise TokenError("encoded '/', '\\' or ';' in path")
        if "%25" in raw.upper() and _HEX.search(seg):
            raise TokenError("double percent-encoding in path")
        if seg in ("", "."):
            is_dir = True
            continue
        if seg == "..":
            if not segs:
                raise TokenError("'..' climbs above the root")
            if tr_index == len(segs) - 1:
                raise TokenError("'..' would remove the transformation segment")
            segs.pop()
            is_dir = True
            continue
        if set(seg) == {"."}:
            raise TokenError("path segment made only of dots")
        if seg.endswith(".") or seg.endswith(" "):
            raise TokenError("path segment ends in a dot or a space")
        if seg[:3].lower() == "tr:":
            if seg[:3] != "tr:":
                raise TokenError("transformation segment must be written 'tr:'")
            if tr_index is not None:
                raise TokenError("more than one transformation segment")
            tr_index = len(segs)
            seg = "tr:" + normalize_tr(seg[3:])
        segs.append(seg)
        is_dir = False
    params = parse_query(raw_query)
    tr_values = [v for n, v in params if n == "tr"]
    if any(n.lower() == "tr" and n != "tr" for n, _ in params):
        raise TokenError("transformation parameter must be 'tr'")
    if len(tr_values) > 1 or (tr_values and tr_index is not None):
        raise TokenError("more than one transformation")
    if tr_index is not None and tr_index == len(segs) - 1:
        raise TokenError("transformation segment is not followed by a file")
    tr = None
    if tr_index is not None:
        tr = segs[tr_index][3:]
    elif tr_values:
        tr = normalize_tr(tr_values[0])
    if tr is not None and is_dir:
        raise TokenError("transformation of a directory")
    signed = "/" + "/".join(segs) + ("/" if is_dir and segs else "")
    path = "/" + "/".join(s for i, s in enumerate(segs) if i != tr_index)
    path += "/" if is_dir and segs else ""
    return path, signed, tr, params


# ---------------------------------------------------------------- keys

class Key:
    def __init__(self, kid, alg, secret=None, ed_private=None):
        if not re.match(r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,63}$", kid):
            raise TokenError("bad key id")
        self.kid, self.alg, self.secret, self.ed_private = kid, alg, secret, ed_private
        if secret is not None:  # keyed once; each signature copies it
            self._mac = hmac.new(secret, None, hashlib.sha256 if alg == "hmac-sha256" else hashlib.sha1)

    @classmethod
    def from_text(cls, kid, text):
        """A key file: 'mg-hmac-sha256:<base64url>' or a PEM Ed25519 private key."""
        m = re.match(r"^mg-(hmac-sha256|hmac-sha1):([A-Za-z0-9_-]+)\n?$", text)
        if m:
            secret = b64url_decode(m.group(2))
            if len(secret) < (32 if m.group(1) == "hmac-sha256" else 20):
                raise TokenError("secret too short")
            return cls(kid, m.group(1), secret=secret)
        if "-----BEGIN PRIVATE KEY-----" in text:
            try:
                from cryptography.hazmat.primitives import serialization
            except ImportError:
                raise NotImplementedError(
                    "Ed25519 needs the 'cryptography' package (pip install cryptography); "
                    "the Python standard library has no Ed25519")
            return cls(kid, "ed25519", ed_private=serialization.load_pem_private_key(
                text.encode("ascii"), password=None))
        raise TokenError("not a signing key file")

    def sign(self, message):
        data = message.encode("utf-8")
        if self.secret is not None:
            mac = self._mac.copy()
            mac.update(data)
            return mac.digest()
        return self.ed_private.sign(data)


# ---------------------------------------------------------------- signing

def _claims(key, expires, not_before=None, ip=None, prefix=None, access=None, token_id=None,
            uses=None):
    if not isinstance(expires, int) or expires <= 0:
        raise TokenError("expires must be epoch seconds")
    claims = {"mg_exp": str(expires), "mg_kid": key.kid}
    if not_before is not None:
        if not_before >= expires:
            raise TokenError("not-before is not earlier than the expiry")
        claims["mg_nbf"] = str(not_before)
    if ip is not None:
        claims["mg_ip"] = ip
    if prefix is not None:
        if not (prefix.startswith("/") and prefix.endswith("/")):
            raise TokenError("the prefix must start and end with '/'")
        if canonicalize(token_encode(prefix), None)[0] != prefix:
            raise TokenError("the prefix is not a canonical directory path")
        claims["mg_scope"] = prefix
    if access == "download":
        claims["mg_acc"] = "download"
    elif access not in (None, "view"):
        raise TokenError("access is view or download")
    if token_id is not None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", token_id):
            raise TokenError("the token id must be 1-32 base64url characters")
        claims["mg_id"] = token_id
    if uses is not None:
        if not isinstance(uses, int) or not 1 <= uses <= 100:
            raise TokenError("uses must be 1-100")
        if token_id is None:
            raise TokenError("a token limited in uses needs a token id")
        claims["mg_uses"] = str(uses)
    return claims


def _claims_line(claims, enc=token_encode):
    return "&".join(n + "=" + enc(claims[n]) for n in CLAIMS if n in claims)


def _query(params, with_tr, tr):
    pairs = []
    for name, value in params:
        if name.startswith("mg_"):
            raise TokenError("the URL already has a token parameter %r" % name)
        if name == "tr":
            if not with_tr:
                continue
            value = tr
        pairs.append((token_encode(name), token_encode(value)))
    pairs.sort(key=lambda p: (p[0].encode(), p[1].encode()))
    return "&".join(n + "=" + v for n, v in pairs)


def string_to_sign(url, claims):
    origin, path_q = _split(url)
    raw_path, _, raw_query = path_q.partition("?")
    path, signed, tr, params = canonicalize(raw_path, raw_query)
    scope = claims.get("mg_scope")
    if scope is not None and not path.startswith(scope):
        raise TokenError("the path is not under the prefix")
    q_sts = _query(params, False, tr)
    q_url = _query(params, True, tr)
    lines = [TAG,
             token_encode(scope if scope is not None else signed),
             tr or "",
             "" if scope is not None else q_sts,
             _claims_line(claims)]
    return "\n".join(lines), origin + token_encode(signed), q_url


def _split(url):
    if "#" in url:
        raise TokenError("a URL to sign must not have a fragment")
    if url.startswith("//"):
        raise TokenError("a protocol-relative URL (//host/...) is ambiguous")
    m = re.match(r"^((?i:https?)://[^/?\x00-\x20\x7f]+)(/.*)$", url, re.S)
    if m:
        return m.group(1), m.group(2)
    if not url.startswith("/"):
        raise TokenError("expected a path or an absolute http(s) URL with a host and a path")
    return "", url


def sign_url(key, url, expires, not_before=None, ip=None, prefix=None, access=None,
             token_id=None, uses=None):
    """The signed URL for `url` (a path with query, or an absolute URL).
    token_id (mg_id) makes it revocable; uses (mg_uses, needs token_id) limits
    it to that many distinct client addresses."""
    claims = _claims(key, expires, not_before, ip, prefix, access, token_id, uses)
    sts, base, q_url = string_to_sign(url, claims)
    sig = b64url(key.sign(sts))
    query = (q_url + "&" if q_url else "") + _claims_line(claims) + "&mg_sig=" + sig
    _check_limits(base, query)
    return base + "?" + query


def _check_limits(base, query):
    """Never return a link that verifiers refuse (docs/canonical-urls.md limits)."""
    path = base[base.index("/", base.index("//") + 2):] if "://" in base else base
    if len(path) > 4096 or len(query) > 8192 or query.count("&") + 1 > 256:
        raise TokenError("the signed link would exceed the URL limits verifiers enforce")


def sign_cookie(key, prefix, expires, not_before=None, ip=None, access=None, token_id=None,
                uses=None):
    """The value of the signed cookie (name from the policy, default mg_token)
    that grants everything under `prefix`."""
    claims = _claims(key, expires, not_before, ip, prefix, access, token_id, uses)
    sts = "\n".join([TAG, token_encode(prefix), "", "", _claims_line(claims)])
    return _claims_line(claims, cookie_encode) + "&mg_sig=" + b64url(key.sign(sts))


# ---------------------------------------------------------------- vectors / CLI

def run_vectors(path):
    data = json.load(open(path, encoding="utf-8"))
    failed = skipped = passed = 0
    for v in data["vectors"]:
        try:
            key = Key.from_text(v["key"], data["keys"][v["key"]]["key"])
        except NotImplementedError as e:
            print("skip  %s: %s" % (v["name"], e))
            skipped += 1
            continue
        kw = dict(expires=v["expires"], not_before=v.get("not_before"), ip=v.get("ip"),
                  access=v.get("access"), token_id=v.get("id"), uses=v.get("uses"))
        if v.get("cookie"):
            kw.pop("ip")
            got = sign_cookie(key, v["prefix"], ip=v.get("ip"), **kw)
        else:
            got = sign_url(key, v["url"], prefix=v.get("prefix"), **kw)
            sts = string_to_sign(v["url"], _claims(key, prefix=v.get("prefix"), **kw))[0]
            if sts != v["string_to_sign"]:
                print("FAIL  %s: string to sign %r" % (v["name"], sts))
                failed += 1
                continue
        if got == v["expected"]:
            passed += 1
            print("ok    %s" % v["name"])
        else:
            failed += 1
            print("FAIL  %s:\n  got      %s\n  expected %s" % (v["name"], got, v["expected"]))
    print("python: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Sign mod_media_guard links (token format v1).")
    ap.add_argument("--vectors", help="check the test vectors in this JSON file")
    ap.add_argument("--key-file")
    ap.add_argument("--key-id")
    ap.add_argument("--expires", type=int, help="epoch seconds")
    ap.add_argument("--not-before", type=int)
    ap.add_argument("--ip")
    ap.add_argument("--prefix")
    ap.add_argument("--access", choices=["view", "download"])
    ap.add_argument("--id", help="token id (mg_id)")
    ap.add_argument("--uses", type=int, help="distinct client addresses (mg_uses, needs --id)")
    ap.add_argument("urls", nargs="*")
    a = ap.parse_args(argv)
    if a.vectors:
        return run_vectors(a.vectors)
    if not (a.key_file and a.key_id and a.expires):
        ap.error("--key-file, --key-id and --expires are required")
    key = Key.from_text(a.key_id, open(a.key_file, encoding="ascii").read())
    status = 0
    # Like mgctl sign: one output line per input line; a URL that cannot be
    # signed gives an empty line, a message on stderr and exit status 1.
    # stdin is read as bytes and split at LF only (text mode would also split
    # at a lone CR and fail the whole stream on one undecodable byte).
    for url in a.urls or (line.rstrip(b"\r\n") for line in sys.stdin.buffer):
        try:
            if isinstance(url, bytes):
                try:
                    url = url.decode("utf-8")
                except UnicodeDecodeError:
                    url = url.decode("utf-8", "backslashreplace")
                    raise TokenError("invalid UTF-8")
            elif not url.isascii():
                try:  # argv arrives with surrogateescape
                    url.encode("utf-8")
                except UnicodeEncodeError:
                    url = url.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    raise TokenError("invalid UTF-8")
            print(sign_url(key, url, a.expires, a.not_before, a.ip, a.prefix, a.access, a.id,
                           a.uses))
        except TokenError as e:
            print("sign.py: %s: %s" % (url, e), file=sys.stderr)
            print()
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
