#!/usr/bin/env python3
"""sign_formats.py - mint and check links of the foreign formats that
mod_media_guard verifies (docs/token-formats.md), written from the vendors'
own documentation, independently of the C code (lib/mg_fmt_*.c):

  imagekit           ik-s = hex HMAC-SHA1(private key, URL after the endpoint
                     + (ik-t or "9999999999"))
  nginx-secure-link  md5 = base64url(MD5(expression)), no padding
  bunny              token = "HS256-" ["1-"] base64url(HMAC-SHA256(key, path +
                     expires + [address bytes] + sorted "name=value" pairs))
                     (sign_form: path -> "/bcdn_token=T&<pairs>&expires=E" + path)
  gcp-cdn            Signature = padded base64url(HMAC-SHA1(base64url-decoded
                     key, origin + path + "?" + [query "&"] "Expires=E&KeyName=K"))
                     or, with a URL prefix, over "URLPrefix=P&Expires=E&KeyName=K";
                     the signed cookie Cloud-CDN-Cookie is the same with ':'
                     for '&': "URLPrefix=P:Expires=E:KeyName=K:Signature=S"
  akamai-edgeauth    __token__ = [ip=I~][st=S~]exp=E[~acl=A][~id=D][~data=P]~hmac=H,
                     H = hex HMAC-SHA256/SHA1/MD5(hex-decoded key, the fields
                     before it, then "~url=<path>" for a URL token (no acl),
                     then "~salt=<salt>"); in the query or as a cookie
  cloudfront         Signature = CloudFront base64 ('+' '=' '/' as '-' '_' '~') of the
                     RSA (PKCS#1 v1.5) or ECDSA signature, SHA-1 (or SHA-256 with
                     Hash-Algorithm=SHA256), of the canned policy JSON, or of the
                     custom policy JSON sent as Policy=
  lighttpd-secdownload  <uri_prefix> MAC "/" hex(ts) rel-path, ts = expires -
                     timeout; md5: hex(MD5(secret + rel + hex(ts))), hmac-sha1/256:
                     base64url(HMAC(secret, "/" + hex(ts) + rel)); rel cut after
                     path_segments segments (a link for that directory: its
                     "prefix"), "?" + query added with hash_querystr
  nginx-secure-link with secret_prefix (secure_link_secret):
                     <prefix> hex(MD5(link + secret)) "/" link, link = the rest of
                     the target as sent (query included)

The standard library only, except cloudfront (python3-cryptography, imported
when a cloudfront vector is met). run-format-vectors.sh checks that this file, the C
signer (mgctl sign --token-format) and the C verifier (mgctl verify) agree on
every vector of format-vectors.json:

    python3 sign_formats.py --vectors format-vectors.json
"""
import base64
import hashlib
import hmac
import ipaddress
import json
import re
import sys
from urllib.parse import parse_qsl, quote, unquote_to_bytes

NO_EXPIRY = "9999999999"


def split_url(url):
    """("https://host" or "", raw path, raw query or None)."""
    origin = ""
    m = re.match(r"^(https?://[^/?#]+)(/.*)$", url, re.I)
    if m:
        origin, url = m.group(1), m.group(2)
    if not url.startswith("/") or url.startswith("//") or "#" in url:
        raise ValueError("expected a path or an absolute http(s) URL")
    path, _, query = url.partition("?")
    return origin, path, (query if "?" in url else None)


def imagekit_sign(secret, url, expires, endpoint="/"):
    """expires: epoch seconds, or 0 for a link without expiry."""
    origin, path, query = split_url(url)
    if not path.startswith(endpoint):
        raise ValueError("the path is not under the endpoint")
    tail = path[len(endpoint):] + ("?" + query if query else "")
    exp = str(expires) if expires else NO_EXPIRY
    sig = hmac.new(secret.encode(), (tail + exp).encode(), hashlib.sha1).hexdigest()
    extra = ("ik-t=%s&" % exp if expires else "") + "ik-s=" + sig
    return origin + path + "?" + (query + "&" if query else "") + extra


def nginx_uri(path):
    """nginx's $uri for a path: decoded once, empty and '.' segments
    dropped, '..' resolved, a final '/' kept (the canonical path of
    docs/canonical-urls.md for the paths of the vectors)."""
    raw = unquote_to_bytes(path).decode("utf-8")
    out = []
    segs = raw.split("/")[1:]
    for s in segs:
        if s in ("", "."):
            continue
        if s == "..":
            if out:
                out.pop()
            continue
        out.append(s)
    trailing = raw.endswith("/") or (segs and segs[-1] in (".", ".."))
    return "/" + "/".join(out) + ("/" if trailing and out else "")


def nginx_sign(secret, url, expires, expression, ip=None, hash_param="md5",
               expires_param="expires"):
    origin, path, query = split_url(url)
    exp = str(expires) if expires else ""
    values = {
        "uri": nginx_uri(path),
        "secure_link_expires": exp,
        "arg_" + expires_param: exp,
        "remote_addr": ip or "",
        "args": query or "",
        "secret": secret,
    }

    def var(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise ValueError("unsupported variable $" + name)
        return values[name]

    text = re.sub(r"\$\{(\w+)\}|\$(\w+)", var, expression)
    digest = hashlib.md5(text.encode("utf-8")).digest()
    h = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    extra = "%s=%s" % (hash_param, h) + ("&%s=%s" % (expires_param, exp) if expires else "")
    return origin + path + "?" + (query + "&" if query else "") + extra


def bunny_sign(secret, url, expires, ip=None, prefix=None, form="query"):
    origin, path, query = split_url(url)
    params = dict(parse_qsl(query or "", keep_blank_values=True))
    if prefix:
        params["token_path"] = prefix
    data = "&".join("%s=%s" % (k, params[k]) for k in sorted(params))
    addr = b""
    if ip:
        a = ipaddress.ip_address(ip)
        addr = a.packed if a.version == 4 else a.packed[:8] + bytes(8)
    msg = (prefix or nginx_uri(path)).encode() + str(expires).encode() + addr + data.encode()
    mac = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    token = "HS256-" + ("1-" if ip else "") + \
        base64.urlsafe_b64encode(mac).decode().rstrip("=")
    if form == "path":  # the SDKs' isDirectory: every signed pair in the first segment
        pairs = "".join("&%s=%s" % (quote(k, safe=""), quote(params[k], safe=""))
                        for k in sorted(params))
        return origin + "/bcdn_token=" + token + pairs + "&expires=" + str(expires) + path
    tail = "&token_path=" + quote(prefix, safe="") if prefix else ""
    return origin + path + "?" + (query + "&" if query else "") + "token=" + token + tail + \
        "&expires=" + str(expires)


def lighttpd_sign(secret, url, expires, alg, prefix, timeout=60, path_segments=0,
                  hash_querystr=False, scope=None):
    """lighttpd mod_secdownload: the timestamp is when the link was made,
    valid for timeout seconds either side; the link expires at ts + timeout.
    With path_segments N, a path deeper than N segments is signed as the
    directory of its first N: a link for that directory, which the caller
    names as `scope` (a path of exactly N segments has the directory's MAC
    but lies outside it: refused)."""
    origin, path, query = split_url(url)
    if not path.startswith(prefix):
        raise ValueError("the path is not under the uri_prefix")
    rel = nginx_uri(path)[len(prefix) - 1:]  # lighttpd signs the decoded path
    covers = None
    if path_segments:
        segs = rel[1:].split("/")
        if len(segs) > path_segments:
            rel = "/" + "/".join(segs[:path_segments])
            covers = prefix[:-1] + rel + "/"
        elif len(segs) == path_segments and segs[-1] != "":
            raise ValueError("a path of exactly path_segments segments has no link of its own")
    if covers != scope:
        raise ValueError("the link covers %s, not the prefix %s" % (covers, scope))
    ts = "%x" % (expires - timeout)
    q = "?" + query if hash_querystr and query else ""
    if alg == "md5":
        mac = hashlib.md5((secret + rel + q + ts).encode()).hexdigest()
    else:
        dig = hashlib.sha1 if alg == "hmac-sha1" else hashlib.sha256
        raw = hmac.new(secret.encode(), ("/" + ts + rel + q).encode(), dig).digest()
        mac = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return origin + prefix + mac + "/" + ts + "/" + path[len(prefix):] + \
        ("?" + query if query else "")


def nginx_secret_sign(secret, url, prefix):
    """nginx secure_link_secret: the link is everything after the hash, as sent."""
    origin, path, query = split_url(url)
    if not path.startswith(prefix):
        raise ValueError("the path is not under the prefix")
    link = path[len(prefix):] + ("?" + query if query is not None else "")
    return origin + prefix + hashlib.md5((link + secret).encode()).hexdigest() + "/" + link


def gcp_key(text):
    """The key as Google shows it: base64url, '=' padding optional."""
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def gcp_sign(secret, url, expires, origin, key_name, prefix=None):
    """Google Cloud CDN signed URL, or signed URL prefix when prefix is a
    path ("/videos/"); the link is always absolute, on the key's origin."""
    u_origin, path, query = split_url(url)
    if u_origin and u_origin != origin:
        raise ValueError("the key signs for " + origin)
    head = origin + path + "?" + (query + "&" if query else "")
    tail = "Expires=%d&KeyName=%s" % (expires, key_name)
    if prefix:
        if not path.startswith(prefix):
            raise ValueError("the path is not under the prefix")
        enc = base64.urlsafe_b64encode((origin + prefix).encode()).decode()
        tail = "URLPrefix=" + enc + "&" + tail
        signed = tail
    else:
        signed = head + tail
    mac = hmac.new(gcp_key(secret), signed.encode(), hashlib.sha1).digest()
    return head + tail + "&Signature=" + base64.urlsafe_b64encode(mac).decode()


def gcp_cookie(secret, expires, origin, key_name, prefix):
    """Cloud-CDN-Cookie=... for a URL prefix (a path on the key's origin)."""
    enc = base64.urlsafe_b64encode((origin + prefix).encode()).decode()
    value = "URLPrefix=%s:Expires=%d:KeyName=%s" % (enc, expires, key_name)
    mac = hmac.new(gcp_key(secret), value.encode(), hashlib.sha1).digest()
    return "Cloud-CDN-Cookie=" + value + ":Signature=" + base64.urlsafe_b64encode(mac).decode()


AKAMAI_DIGESTS = {"hmac-sha256": hashlib.sha256, "hmac-sha1": hashlib.sha1,
                  "hmac-md5": hashlib.md5}


def akamai_escape(text):
    """escape_early: percent-encode all but A-Z a-z 0-9 _ . - ~, space as
    '+', escapes in lower case."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "_.-~"):
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append("%%%02x" % b)
    return "".join(out)


def akamai_token(secret_hex, opts, alg, expires, url_path=None, acl=None, ip=None, st=None,
                 token_id=None, data=None):
    """The EdgeAuth token text: an ACL token (acl: a list of patterns) or a
    URL token (url_path: the path as the client sends it, percent-encoded)."""
    fd = opts.get("field_delimiter", "~")
    ad = opts.get("acl_delimiter", "!")
    early = opts.get("escape_early", "false") == "true"
    esc = akamai_escape if early else (lambda t: t)
    fields = []
    if ip:
        fields.append("ip=" + esc(ip))
    if st:
        fields.append("st=%d" % st)
    fields.append("exp=%d" % expires)
    if acl is not None:
        fields.append("acl=" + ad.join(acl))
    if token_id:
        fields.append("id=" + esc(token_id))
    if data:
        fields.append("data=" + esc(data))
    hashed = list(fields)
    if acl is None:
        path = unquote_to_bytes(url_path).decode("utf-8") if early else url_path
        hashed.append("url=" + esc(path))
    if opts.get("salt"):
        hashed.append("salt=" + opts["salt"])
    key = bytes.fromhex(secret_hex.strip())
    mac = hmac.new(key, fd.join(hashed).encode(), AKAMAI_DIGESTS[alg]).hexdigest()
    return fd.join(fields + ["hmac=" + mac])


def akamai_acl(prefix):
    """The ACL of a directory: "<dir>*", the directory's bytes other than
    A-Z a-z 0-9 - . _ / percent-encoded (no delimiter can end it early)."""
    if "*" in prefix:
        raise ValueError("a prefix cannot hold '*'")
    keep = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._/")
    return "".join(chr(b) if b in keep else "%%%02X" % b for b in prefix.encode("utf-8")) + "*"


def akamai_sign(secret_hex, opts, alg, url, expires, ip=None, prefix=None, **fields):
    """A link with __token__ in its query; a prefix "/dir/" is the ACL
    "/dir/*", else the token signs the URL's path."""
    origin, path, query = split_url(url)
    acl = fields.pop("acl", None)
    if prefix:
        acl = [akamai_acl(prefix)]
    tok = akamai_token(secret_hex, opts, alg, expires, path if acl is None else None, acl, ip,
                       **fields)
    name = opts.get("token_name", "__token__")
    return origin + path + "?" + (query + "&" if query else "") + name + "=" + tok


def cf_b64(data):
    """CloudFront's base64: standard, padded, '+' '=' '/' written '-' '_' '~'."""
    return base64.b64encode(data).decode().translate(str.maketrans("+=/", "-_~"))


def cf_b64_decode(text):
    return base64.b64decode(text.translate(str.maketrans("-_~", "+=/")), validate=True)


def cf_policy(resource, expires, ip=None, not_before=None):
    """The policy JSON as AWS's signers write it: no whitespace, canned when
    only DateLessThan is given."""
    cond = '"DateLessThan":{"AWS:EpochTime":%d}' % expires
    if not_before:
        cond += ',"DateGreaterThan":{"AWS:EpochTime":%d}' % not_before
    if ip:
        cidr = ip if "/" in ip else ip + ("/128" if ":" in ip else "/32")
        cond += ',"IpAddress":{"AWS:SourceIp":"%s"}' % cidr
    return '{"Statement":[{"Resource":"%s","Condition":{%s}}]}' % (resource, cond)


def cf_hash(sha256):
    from cryptography.hazmat.primitives import hashes
    return hashes.SHA256() if sha256 else hashes.SHA1()


def cloudfront_sign(private_pem, url, expires, origin, key_pair_id, prefix=None, ip=None,
                    not_before=None, sha256=False):
    """A CloudFront signed URL: canned policy unless a prefix (Resource
    origin + prefix + '*'), an address or a start time asks for a custom one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    u_origin, path, query = split_url(url)
    if u_origin and u_origin != origin:
        raise ValueError("the key signs for " + origin)
    base = origin + path + ("?" + query if query else "")
    custom = bool(prefix or ip or not_before)
    resource = origin + prefix + "*" if prefix else base
    policy = cf_policy(resource, expires, ip, not_before).encode()
    key = serialization.load_pem_private_key(private_pem.encode(), None)
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(policy, padding.PKCS1v15(), cf_hash(sha256))
    else:
        sig = key.sign(policy, ec.ECDSA(cf_hash(sha256)))
    params = ("Policy=" + cf_b64(policy)) if custom else "Expires=%d" % expires
    params += "&Signature=" + cf_b64(sig) + "&Key-Pair-Id=" + key_pair_id
    if sha256:
        params += "&Hash-Algorithm=SHA256"
    return base + ("&" if query else "?") + params


def cloudfront_verify(public_pem, link, origin):
    """Check a CloudFront signed URL's signature (ECDSA signatures differ on
    every signing: such vectors are checked, not reproduced)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    _, path, query = split_url(link)
    names = ("Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm")
    pairs = [p.split("=", 1) for p in query.split("&")]
    got = {n: v for n, v in pairs if n in names}
    rest = "&".join("=".join(p) for p in pairs if p[0] not in names)
    base = origin + path + ("?" + rest if rest else "")
    if "Policy" in got:
        policy = cf_b64_decode(got["Policy"])  # its Resource is the C verifier's to match
    else:
        policy = cf_policy(base, int(got["Expires"])).encode()
    sha256 = got.get("Hash-Algorithm") == "SHA256"
    key = serialization.load_pem_public_key(public_pem.encode())
    sig = cf_b64_decode(got["Signature"])
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, policy, padding.PKCS1v15(), cf_hash(sha256))
        else:
            key.verify(sig, policy, ec.ECDSA(cf_hash(sha256)))
    except InvalidSignature:
        return False
    return True


def sign_vector(keys, v):
    k = keys[v["key"]]
    opts = k.get("options", {})
    if k["format"] == "imagekit":
        return imagekit_sign(k["secret"], v["url"], v["expires"], opts.get("endpoint", "/"))
    if k["format"] == "nginx-secure-link" and "secret_prefix" in opts:
        return nginx_secret_sign(k["secret"], v["url"], opts["secret_prefix"])
    if k["format"] == "lighttpd-secdownload":
        return lighttpd_sign(k["secret"], v["url"], v["expires"], k.get("alg", "md5"),
                             opts["uri_prefix"], int(opts.get("timeout", 60)),
                             int(opts.get("path_segments", 0)),
                             opts.get("hash_querystr") == "true", v.get("prefix"))
    if k["format"] == "nginx-secure-link":
        return nginx_sign(k["secret"], v["url"], v["expires"], opts["expression"], v.get("ip"),
                          opts.get("hash_param", "md5"), opts.get("expires_param", "expires"))
    if k["format"] == "bunny":
        return bunny_sign(k["secret"], v["url"], v["expires"], v.get("ip"), v.get("prefix"),
                          opts.get("sign_form", "query"))
    if k["format"] == "gcp-cdn" and v.get("cookie"):
        return gcp_cookie(k["secret"], v["expires"], opts["origin"],
                          opts.get("key_name", v["key"]), v["prefix"])
    if k["format"] == "akamai-edgeauth":
        alg = k.get("alg", "hmac-sha256")
        extra = {n: v[n] for n in ("st", "token_id", "data", "acl") if n in v}
        if v.get("cookie"):
            acl = extra.pop("acl", None) or [akamai_acl(v["prefix"])]
            return opts.get("token_name", "__token__") + "=" + akamai_token(
                k["secret"], opts, alg, v["expires"], None, acl, v.get("ip"), **extra)
        return akamai_sign(k["secret"], opts, alg, v["url"], v["expires"], v.get("ip"),
                           v.get("prefix"), **extra)
    if k["format"] == "gcp-cdn":
        return gcp_sign(k["secret"], v["url"], v["expires"], opts["origin"],
                        opts.get("key_name", v["key"]), v.get("prefix"))
    if k["format"] == "cloudfront":
        return cloudfront_sign(k["private_key"], v["url"], v["expires"], opts["origin"],
                               opts.get("key_pair_id", v["key"]), v.get("prefix"), v.get("ip"),
                               v.get("not_before"), opts.get("sign_hash") == "sha256")
    raise ValueError("unknown format " + k["format"])


def main(argv):
    if len(argv) == 3 and argv[1] == "--vectors":
        data = json.load(open(argv[2], encoding="utf-8"))
        failed = 0
        for v in data["vectors"]:
            k = data["keys"][v["key"]]
            if v.get("verify_only") and k["format"] == "cloudfront":
                # ECDSA: a new signature each time; check the vector's instead
                ok = cloudfront_verify(k["secret"], v["expected"], k["options"]["origin"])
                print(("ok    " if ok else "FAIL  ") + v["name"] + " (signature checked)")
                failed += not ok
                continue
            got = sign_vector(data["keys"], v)
            if got == v["expected"]:
                print("ok    " + v["name"])
            else:
                failed += 1
                print("FAIL  %s\n  expected %s\n  got      %s" % (v["name"], v["expected"], got))
        return 1 if failed else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
