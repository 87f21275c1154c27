"""CloudFront signed URLs and signed cookies (docs/token-formats.md#cloudfront)
against a real Apache: canned and custom-policy links minted by
`mgctl sign --token-format cloudfront --private-key` (links and, with
--cookie, the CloudFront-* cookies for a prefix), signed cookies and an
ECDSA key minted by the independent Python signer (examples/signers/
sign_formats.py), next to native and ImageKit links on one path; the
refusals get the reasons our own tokens get; configtest refuses a policy
with cloudfront and gcp-cdn keys (both read Expires and Signature)."""

import importlib.util
import json
import pathlib
import re
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("sign_formats",
                                               ROOT / "examples/signers/sign_formats.py")
sign_formats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sign_formats)

K2026 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"
ORIGIN = "https://d111111abcdef8.cloudfront.net"
MP4 = bytes(range(256)) * 16

POLICY = """\
version: 1
name: cf
keys:
  - id: k2026
    file: keys/k2026.key
    sign: true
  - id: cf-rsa
    format: cloudfront
    file: keys/cf-rsa.pub
    options: {origin: "%(origin)s", key_pair_id: K2JCJMDEHXQW5F}
  - id: cf-rsa256                 # the same key pair, signing with SHA-256
    format: cloudfront
    file: keys/cf-rsa.pub
    options: {origin: "%(origin)s", key_pair_id: K2SHA256, sign_hash: sha256}
  - id: cf-ec
    format: cloudfront
    alg: ecdsa-sha1
    file: keys/cf-ec.pub
    options: {origin: "%(origin)s", key_pair_id: K3ECDSA}
  - id: ik
    format: imagekit
    file: keys/imagekit.secret
    options: {endpoint: /media/}
tokens:
  clock_skew: 5s
rules:
  - id: media
    path: /media/
    token: required
""" % {"origin": ORIGIN}

CONF = """\
MediaGuardPolicy cf @POLICIES@/cf.yaml
MediaGuardReasonHeader On
<Location "/media/">
    Require media-guard cf
    MediaGuardHLSRewrite On
</Location>
"""

FILES = {
    "media/a.jpg": b"\xff\xd8\xff\xe0 jpeg bytes " * 8,
    "media/l1/index.m3u8": "#EXTM3U\nseg-1.ts\n",
    "media/l1/seg-1.ts": MP4,
    "media/l2/seg-1.ts": MP4,
}


def _keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    out = {}
    for name, key in (("cf-rsa", rsa.generate_private_key(65537, 2048)),
                      ("cf-ec", ec.generate_private_key(ec.SECP256R1()))):
        out[name] = (
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
            key.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode())
    return out


def write_key(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


@pytest.fixture(scope="module")
def keys():
    return _keys()


@pytest.fixture(scope="module")
def srv(apache_factory, keys):
    s = apache_factory("formats-cf", CONF, policies={"cf.yaml": POLICY}, files=FILES,
                       start=False)
    d = s.policy_dir / "keys"
    write_key(d / "k2026.key", K2026)
    write_key(d / "imagekit.secret", "private_imagekit_key_for_tests\n")
    for name, (priv, pub) in keys.items():
        write_key(d / (name + ".pub"), pub)
        write_key(d / (name + ".pem"), priv)  # for mgctl sign only; Apache reads .pub
    s.start()
    return s


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    def run(fmt, url, *opts):
        args = ["sign", "--policy", srv.policy_dir / "cf.yaml"]
        if fmt == "cloudfront":
            args += ["--token-format", fmt, "--key-id", "cf-rsa",
                     "--private-key", srv.policy_dir / "keys" / "cf-rsa.pem"]
        elif fmt != "mg-v1":
            args += ["--token-format", fmt]
        p = mgctl(*args, *opts, url)
        assert p.returncode == 0, p.stderr
        out = p.stdout.strip()
        if out.startswith(ORIGIN):  # absolute links on the key's origin; we request the path
            out = out[len(ORIGIN):]
        return out
    return run


def reason(r):
    return r.headers.get("X-Media-Guard-Reason")


def assert_denied(r, why):
    assert r.status_code == 403, (r.status_code, reason(r))
    assert reason(r) == why


def test_canned_link_next_to_native_and_imagekit_on_one_path(srv, sign):
    for fmt in ("cloudfront", "mg-v1", "imagekit"):
        r = srv.get(sign(fmt, "/media/a.jpg?w=300", "--ttl", "10m"))
        assert r.status_code == 200, (fmt, reason(r))
        assert r.content == FILES["media/a.jpg"]
    url = sign("cloudfront", "/media/a.jpg?w=300", "--ttl", "10m")
    assert "Expires=" in url and "Key-Pair-Id=K2JCJMDEHXQW5F" in url
    assert srv.get(url).status_code == 200
    assert "reason=allowed-by-token rule=media" in srv.last_access("/media/a.jpg")
    # every part is signed
    assert_denied(srv.get(url.replace("w=300", "w=301")), "token-bad-signature")
    assert_denied(srv.get(url.replace("a.jpg", "b.jpg")), "token-bad-signature")
    assert_denied(srv.get(url.replace("K2JCJMDEHXQW5F", "KOTHER")), "token-unknown-key")
    assert_denied(srv.get(url.replace("Signature=", "Signature=AAAA")), "token-malformed")
    # the origin is the key's: the Host header the client sends is not what is verified
    r = srv.get(url, headers={"Host": "evil.example"})
    assert r.status_code == 200, reason(r)
    past = sign("cloudfront", "/media/a.jpg", "--expires", str(int(time.time()) - 60),
                "--now", str(int(time.time()) - 120))
    assert_denied(srv.get(past), "token-expired")


def test_custom_policy_with_a_wildcard_covers_the_rendition_only(srv, sign):
    url = sign("cloudfront", "/media/l1/index.m3u8", "--ttl", "10m", "--prefix", "/media/l1/")
    query = url.split("?", 1)[1]
    assert query.startswith("Policy=")
    assert srv.get("/media/l1/index.m3u8?" + query).status_code == 200
    r = srv.get("/media/l1/seg-1.ts?" + query, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206, reason(r)
    assert r.content == MP4[10:20]
    assert_denied(srv.get("/media/l2/seg-1.ts?" + query), "token-out-of-scope")
    # the wildcard matches the bytes received; the canonical path must match too
    r = srv.raw("/media/l1/../l2/seg-1.ts?" + query)
    assert r.status_code == 403
    assert r.headers.get("X-Media-Guard-Reason") == "token-out-of-scope"


def test_a_playlist_carries_a_custom_policy_prefix_link_onwards(srv, sign):
    url = sign("cloudfront", "/media/l1/index.m3u8", "--ttl", "10m", "--prefix", "/media/l1/")
    query = url.split("?", 1)[1]
    r = srv.get(url)
    assert r.status_code == 200, reason(r)
    assert r.text == "#EXTM3U\nseg-1.ts?" + query + "\n"
    r = srv.get("/media/l1/seg-1.ts?" + query)
    assert r.status_code == 200 and r.content == MP4
    # a canned policy names one URL: nothing to carry onwards
    url = sign("cloudfront", "/media/l1/index.m3u8", "--ttl", "10m")
    r = srv.get(url)
    assert r.status_code == 200, reason(r)
    assert r.text == FILES["media/l1/index.m3u8"]


def test_custom_policy_address_and_start(srv, sign):
    other = sign("cloudfront", "/media/a.jpg", "--ttl", "10m", "--ip", "192.0.2.0/24")
    assert_denied(srv.get(other), "token-wrong-ip")
    mine = sign("cloudfront", "/media/a.jpg", "--ttl", "10m", "--ip", "127.0.0.0/8")
    assert srv.get(mine).status_code == 200
    later = sign("cloudfront", "/media/a.jpg", "--ttl", "2h",
                 "--not-before", str(int(time.time()) + 3600))
    assert_denied(srv.get(later), "token-not-yet-valid")


def test_signed_cookies_from_the_python_signer(srv, keys):
    exp = int(time.time()) + 600
    link = sign_formats.cloudfront_sign(keys["cf-rsa"][0], "/media/l1/index.m3u8", exp, ORIGIN,
                                        "K2JCJMDEHXQW5F", prefix="/media/l1/")
    params = dict(p.split("=", 1) for p in link.split("?", 1)[1].split("&"))
    jar = ("theme=dark; CloudFront-Policy=%s; CloudFront-Signature=%s; "
           "CloudFront-Key-Pair-Id=%s" % (params["Policy"], params["Signature"],
                                          params["Key-Pair-Id"]))
    r = srv.get("/media/l1/seg-1.ts", headers={"Cookie": jar})
    assert r.status_code == 200, reason(r)
    assert r.content == MP4
    assert_denied(srv.get("/media/l2/seg-1.ts", headers={"Cookie": jar}), "token-out-of-scope")
    assert_denied(srv.get("/media/l1/seg-1.ts", headers={
        "Cookie": jar.replace("CloudFront-Key-Pair-Id", "X")}), "token-malformed")
    assert_denied(srv.get("/media/l1/seg-1.ts"), "token-missing")
    # canned cookies name one URL exactly
    canned = sign_formats.cloudfront_sign(keys["cf-rsa"][0], "/media/a.jpg", exp, ORIGIN,
                                          "K2JCJMDEHXQW5F")
    c = dict(p.split("=", 1) for p in canned.split("?", 1)[1].split("&"))
    jar = "CloudFront-Expires=%s; CloudFront-Signature=%s; CloudFront-Key-Pair-Id=%s" % (
        c["Expires"], c["Signature"], c["Key-Pair-Id"])
    assert srv.get("/media/a.jpg", headers={"Cookie": jar}).status_code == 200
    assert_denied(srv.get("/media/a.jpg?x=1", headers={"Cookie": jar}), "token-bad-signature")


def test_signed_cookies_from_mgctl_sign(srv, sign, mgctl, keys):
    args = ["sign", "--policy", srv.policy_dir / "cf.yaml", "--token-format", "cloudfront",
            "--key-id", "cf-rsa", "--private-key", srv.policy_dir / "keys" / "cf-rsa.pem",
            "--prefix", "/media/l1/", "--cookie"]
    exp = str(int(time.time()) + 600)
    p = mgctl(*args, "--expires", exp)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert [ln.split("=", 1)[0] for ln in lines] == [
        "CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"], lines
    for ln in lines:
        assert ln.endswith("; Secure; HttpOnly; SameSite=Lax") and "; Path=/media/l1/; " in ln
    pairs = [ln.split(";", 1)[0] for ln in lines]
    values = dict(pr.split("=", 1) for pr in pairs)
    assert values["CloudFront-Key-Pair-Id"] == "K2JCJMDEHXQW5F"
    # the values are a prefix link's parameters (RSA PKCS#1 v1.5 is deterministic)
    link = sign("cloudfront", "/media/l1/index.m3u8", "--expires", exp, "--prefix", "/media/l1/")
    params = dict(q.split("=", 1) for q in link.split("?", 1)[1].split("&"))
    assert (values["CloudFront-Policy"], values["CloudFront-Signature"]) == (
        params["Policy"], params["Signature"])
    # ... and the independent Python signer's, byte for byte
    py = sign_formats.cloudfront_sign(keys["cf-rsa"][0], "/media/l1/index.m3u8", int(exp), ORIGIN,
                                      "K2JCJMDEHXQW5F", prefix="/media/l1/")
    pyp = dict(q.split("=", 1) for q in py.split("?", 1)[1].split("&"))
    assert (pyp["Policy"], pyp["Signature"]) == (params["Policy"], params["Signature"])
    jar = "theme=dark; " + "; ".join(pairs)
    for path in ("/media/l1/index.m3u8", "/media/l1/seg-1.ts"):
        r = srv.get(path, headers={"Cookie": jar})
        assert r.status_code == 200, (path, reason(r))
    assert "reason=allowed-by-token rule=media" in srv.last_access("/media/l1/seg-1.ts")
    assert_denied(srv.get("/media/l2/seg-1.ts", headers={"Cookie": jar}), "token-out-of-scope")
    # -f json: one object per cookie
    p = mgctl(*args, "--expires", exp, "-f", "json")
    assert p.returncode == 0, p.stderr
    objs = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert [(o["name"], o["value"], o["kid"]) for o in objs] == [
        (k, values[k], "cf-rsa") for k in ("CloudFront-Policy", "CloudFront-Signature",
                                           "CloudFront-Key-Pair-Id")]
    # an address binding rides in the policy; a cookie needs a prefix
    p = mgctl(*args, "--expires", exp, "--ip", "192.0.2.0/24")
    assert p.returncode == 0, p.stderr
    bound = "; ".join(ln.split(";", 1)[0] for ln in p.stdout.splitlines())
    assert_denied(srv.get("/media/l1/seg-1.ts", headers={"Cookie": bound}), "token-wrong-ip")
    p = mgctl(*[a for a in args if a not in ("--prefix", "/media/l1/")], "--expires", exp)
    assert p.returncode == 2 and "--cookie needs --prefix" in p.stderr
    # a SHA-256 key adds CloudFront-Hash-Algorithm, which the verifier needs
    p = mgctl(*[("cf-rsa256" if a == "cf-rsa" else a) for a in args], "--expires", exp)
    assert p.returncode == 0, p.stderr
    pairs = [ln.split(";", 1)[0] for ln in p.stdout.splitlines()]
    assert pairs[3] == "CloudFront-Hash-Algorithm=SHA256" and len(pairs) == 4, pairs
    assert srv.get("/media/l1/seg-1.ts", headers={"Cookie": "; ".join(pairs)}).status_code == 200
    assert_denied(srv.get("/media/l1/seg-1.ts", headers={"Cookie": "; ".join(pairs[:3])}),
                  "token-bad-signature")


def test_ecdsa_and_sha256_links_from_the_python_signer(srv, keys):
    exp = int(time.time()) + 600
    for name, kpid in (("cf-ec", "K3ECDSA"), ("cf-rsa", "K2JCJMDEHXQW5F")):
        for sha256 in (False, True):
            link = sign_formats.cloudfront_sign(keys[name][0], "/media/a.jpg?w=1", exp, ORIGIN,
                                                kpid, sha256=sha256)
            path = link[len(ORIGIN):]
            r = srv.get(path)
            assert r.status_code == 200, (name, sha256, reason(r))
            assert_denied(srv.get(path.replace("w=1", "w=2")), "token-bad-signature")


def test_explain_and_verify_agree_with_apache(srv, sign, mgctl):
    url = sign("cloudfront", "/media/a.jpg", "--ttl", "10m")
    p = mgctl("verify", "--policy", srv.policy_dir / "cf.yaml", ORIGIN + url)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "format: cloudfront" in p.stdout and "kid: cf-rsa" in p.stdout
    p = mgctl("explain", "--policy", srv.policy_dir / "cf.yaml", url)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "allowed-by-token" in p.stdout
    assert srv.get(url).status_code == 200


def test_configtest_refuses_cloudfront_and_gcp_cdn_in_one_policy(apache_factory, keys):
    both = POLICY.replace("tokens:\n", """\
  - id: gcp-key
    format: gcp-cdn
    file: keys/gcp.secret
    options: {origin: "https://media.example.test"}
tokens:
""")
    s = apache_factory("formats-cf-gcp", CONF, policies={"cf.yaml": both}, files={},
                       start=False)
    d = s.policy_dir / "keys"
    write_key(d / "k2026.key", K2026)
    write_key(d / "imagekit.secret", "private_imagekit_key_for_tests\n")
    write_key(d / "gcp.secret", "q83vEjRWeJASNFZ4kKvN7w==\n")
    for name, (_, pub) in keys.items():
        write_key(d / (name + ".pub"), pub)
    rc, out = s.configtest()
    assert rc != 0
    assert "reads the query parameter 'Expires' that key" in out, out


def test_configtest_refuses_an_hmac_secret_as_a_cloudfront_key(apache_factory, keys):
    s = apache_factory("formats-cf-hmac", CONF, policies={"cf.yaml": POLICY}, files={},
                       start=False)
    d = s.policy_dir / "keys"
    write_key(d / "k2026.key", K2026)
    write_key(d / "imagekit.secret", "private_imagekit_key_for_tests\n")
    write_key(d / "cf-rsa.pub", "a-shared-hmac-secret-is-no-public-key\n")
    write_key(d / "cf-ec.pub", keys["cf-ec"][1])
    rc, out = s.configtest()
    assert rc != 0
    assert "not a PEM public key" in out, out
    assert re.search(r"cf\.yaml:\d+:\d+", out), out
