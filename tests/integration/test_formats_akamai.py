"""Akamai EdgeAuth tokens and the foreign signed cookies (Akamai __token__,
Google Cloud CDN's Cloud-CDN-Cookie) against a real Apache (docs/token-formats.md):
one location accepts native links, EdgeAuth links in the query, and both
signed cookies at once; ACLs never reach past the canonical path; mgctl
explain -H 'Cookie: ...' decides what Apache decides; a plain-md5 EdgeAuth key
is refused at configtest."""

import json
import pathlib
import re
import socket
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "signers"))
import sign_formats  # noqa: E402  (the independent Python signer)

MP4 = bytes(range(256)) * 16
K2026 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"
AK_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
GCP_KEY = "q83vEjRWeJASNFZ4kKvN7w=="
GCP_ORIGIN = "https://media.example.test"

POLICY = """\
version: 1
name: edge
keys:
  - id: k2026
    file: keys/k2026.key
    sign: true
  - id: ak
    format: akamai-edgeauth
    file: keys/akamai.hex
    options: {salt: pepper}
  - id: gc
    format: gcp-cdn
    file: keys/gcp.secret
    options: {origin: "%s"}
tokens:
  clock_skew: 5s
rules:
  - id: media
    path: /v/
    token: required
""" % GCP_ORIGIN

CONF = """\
MediaGuardPolicy edge @POLICIES@/edge.yaml
MediaGuardReasonHeader On
<Location "/v/">
    Require media-guard edge
</Location>
"""

FILES = {
    "v/a.mp4": MP4,
    "v/l1/index.m3u8": "#EXTM3U\nseg-1.ts\n",
    "v/l1/seg-1.ts": MP4,
    "v/l2/seg-1.ts": MP4,
}


def write_key(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = apache_factory("formats-akamai", CONF, policies={"edge.yaml": POLICY}, files=FILES,
                       start=False)
    keys = s.policy_dir / "keys"
    write_key(keys / "k2026.key", K2026)
    write_key(keys / "akamai.hex", AK_KEY + "\n")
    write_key(keys / "gcp.secret", GCP_KEY + "\n")
    s.start()
    return s


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    def run(fmt, *args):
        cmd = ["sign", "--policy", srv.policy_dir / "edge.yaml"]
        if fmt != "mg-v1":
            cmd += ["--token-format", fmt]
        p = mgctl(*cmd, *args)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    return run


def cookie_pair(set_cookie):
    """NAME=VALUE of a Set-Cookie value, as a browser sends it back."""
    return set_cookie.split(";", 1)[0]


def reason(r):
    return r.headers.get("X-Media-Guard-Reason")


def assert_denied(r, why):
    assert r.status_code == 403, (r.status_code, reason(r))
    assert reason(r) == why


def test_akamai_query_links_next_to_native_links(srv, sign):
    for fmt in ("mg-v1", "akamai-edgeauth"):
        r = srv.get(sign(fmt, "--ttl", "10m", "/v/a.mp4"))
        assert r.status_code == 200, (fmt, reason(r))
        assert r.content == MP4
    url = sign("akamai-edgeauth", "--ttl", "10m", "/v/a.mp4")
    assert "?__token__=exp=" in url
    assert srv.get(url).status_code == 200
    assert "reason=allowed-by-token rule=media" in srv.last_access("/v/a.mp4")
    # a URL token signs its path
    assert_denied(srv.get(url.replace("/v/a.mp4", "/v/l1/seg-1.ts")), "token-bad-signature")
    r = srv.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == MP4[10:20]
    past = sign("akamai-edgeauth", "--expires", str(int(time.time()) - 60),
                "--now", str(int(time.time()) - 120), "/v/a.mp4")
    assert_denied(srv.get(past), "token-expired")
    assert_denied(srv.get("/v/a.mp4"), "token-missing")


def test_akamai_acl_covers_the_canonical_prefix_only(srv, sign):
    url = sign("akamai-edgeauth", "--ttl", "10m", "--prefix", "/v/l1/", "/v/l1/index.m3u8")
    tok = url.split("?", 1)[1]
    assert "acl=/v/l1/*" in tok
    assert srv.get("/v/l1/index.m3u8?" + tok).status_code == 200
    assert srv.get("/v/l1/seg-1.ts?" + tok).status_code == 200
    assert_denied(srv.get("/v/l2/seg-1.ts?" + tok), "token-out-of-scope")
    # the raw path starts with /v/l1/, the canonical one is /v/l2/...
    r = srv.raw("/v/l1/../l2/seg-1.ts?" + tok)
    assert r.status_code == 403 and r.headers.get("X-Media-Guard-Reason") == "token-out-of-scope"


def test_akamai_sdk_fields_signed_by_the_independent_signer(srv):
    """st, id, data and two ACLs (what mgctl sign does not mint), signed by
    examples/signers/sign_formats.py with the key's salt."""
    now = int(time.time())
    tok = sign_formats.akamai_token(AK_KEY, {"salt": "pepper"}, "hmac-sha256", now + 600,
                                    acl=["/v/l2/*", "/v/l1/*"], st=now - 60,
                                    token_id="session-1", data="plan=gold")
    assert srv.get("/v/l1/seg-1.ts?__token__=" + tok).status_code == 200
    assert srv.get("/v/l2/seg-1.ts?__token__=" + tok).status_code == 200
    assert_denied(srv.get("/v/a.mp4?__token__=" + tok), "token-out-of-scope")
    assert_denied(srv.get("/v/l1/seg-1.ts?__token__=" + tok.replace("gold", "gilt")),
                  "token-bad-signature")
    later = sign_formats.akamai_token(AK_KEY, {"salt": "pepper"}, "hmac-sha256", now + 600,
                                      acl=["/v/*"], st=now + 300)
    assert_denied(srv.get("/v/a.mp4?__token__=" + later), "token-not-yet-valid")
    nosalt = sign_formats.akamai_token(AK_KEY, {}, "hmac-sha256", now + 600, acl=["/v/*"])
    assert_denied(srv.get("/v/a.mp4?__token__=" + nosalt), "token-bad-signature")


def test_akamai_and_gcp_signed_cookies_on_the_same_path(srv, sign):
    ak = cookie_pair(sign("akamai-edgeauth", "--ttl", "10m", "--prefix", "/v/l1/", "--cookie"))
    assert ak.startswith("__token__=")
    gc = cookie_pair(sign("gcp-cdn", "--ttl", "10m", "--prefix", "/v/l2/", "--cookie"))
    assert gc.startswith("Cloud-CDN-Cookie=URLPrefix=")
    r = srv.get("/v/l1/seg-1.ts", headers={"Cookie": ak})
    assert r.status_code == 200, reason(r)
    assert "reason=allowed-by-token" in srv.last_access("/v/l1/seg-1.ts")
    r = srv.get("/v/l2/seg-1.ts", headers={"Cookie": gc})
    assert r.status_code == 200, reason(r)
    assert_denied(srv.get("/v/l2/seg-1.ts", headers={"Cookie": ak}), "token-out-of-scope")
    assert_denied(srv.get("/v/l1/seg-1.ts", headers={"Cookie": gc}), "token-out-of-scope")
    # a browser holding both (and a native cookie for another prefix): each path gets in
    native = cookie_pair(sign("mg-v1", "--ttl", "10m", "--prefix", "/v/", "--cookie"))
    jar = "; ".join([gc, "theme=dark", ak])
    for path in ("/v/l1/seg-1.ts", "/v/l2/seg-1.ts"):
        assert srv.get(path, headers={"Cookie": jar}).status_code == 200, path
    assert_denied(srv.get("/v/a.mp4", headers={"Cookie": jar}), "token-out-of-scope")
    assert srv.get("/v/a.mp4", headers={"Cookie": jar + "; " + native}).status_code == 200
    # a query token is read first, whatever the cookies
    bad = "/v/l1/seg-1.ts?__token__=exp=1~hmac=00"
    assert_denied(srv.get(bad, headers={"Cookie": ak}), "token-bad-signature")
    # a tampered cookie
    forged = re.sub(r"Expires=\d+", "Expires=%d" % (int(time.time()) + 86400), gc)
    assert_denied(srv.get("/v/l2/seg-1.ts", headers={"Cookie": forged}), "token-bad-signature")


def test_mgctl_explain_reads_the_cookie_header_as_apache_does(srv, sign, mgctl):
    ak = cookie_pair(sign("akamai-edgeauth", "--ttl", "10m", "--prefix", "/v/l1/", "--cookie"))
    for path, want in (("/v/l1/seg-1.ts", "allowed-by-token"),
                       ("/v/l2/seg-1.ts", "token-out-of-scope")):
        p = mgctl("explain", "--policy", srv.policy_dir / "edge.yaml", "-H", "Cookie: " + ak,
                  path)
        assert p.returncode == 0, p.stdout + p.stderr
        assert want in p.stdout, p.stdout
        r = srv.get(path, headers={"Cookie": ak})
        assert (r.status_code == 200) == (want == "allowed-by-token")
        assert want == "allowed-by-token" or reason(r) == want
    p = mgctl("verify", "--policy", srv.policy_dir / "edge.yaml", "--cookie", ak,
              "/v/l1/seg-1.ts")
    assert p.returncode == 0 and "from: cookie" in p.stdout, p.stdout


def send_headers(srv, target, headers):
    """GET with headers given as (name, value) pairs, a name possibly twice
    (requests and http.client's helpers keep one value per name)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nConnection: close\r\n"
        s.sendall((head + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    srv.requests_sent += 1
    status = int(data.split(b" ", 2)[1])
    m = re.search(rb"\r\nX-Media-Guard-Reason: (\S+)", data.split(b"\r\n\r\n", 1)[0])
    return status, m.group(1).decode() if m else None


def test_mgctl_explain_joins_a_repeated_header_as_apache_does(srv, sign, mgctl):
    """Red team 18: httpd joins a request header sent twice into one value
    with ", " (HTTP/1.1); mgctl explain read only the first -H of a name, so
    a valid cookie followed by another Cookie line was 'allow' in explain
    and token-malformed in Apache."""
    ak = cookie_pair(sign("akamai-edgeauth", "--ttl", "10m", "--prefix", "/v/l1/", "--cookie"))
    for pair in ([ak, "theme=dark"], ["theme=dark", ak]):
        headers = [("Cookie", c) for c in pair]
        status, why = send_headers(srv, "/v/l1/seg-1.ts", headers)
        p = mgctl("explain", "--policy", srv.policy_dir / "edge.yaml", "--format", "json",
                  *[a for k, v in headers for a in ("-H", f"{k}: {v}")], "/v/l1/seg-1.ts")
        assert p.returncode == 0, p.stdout + p.stderr
        d = json.loads(p.stdout)
        assert status == 403, (pair, status)
        assert (d["decision"], d["reason"]) == ("deny", why), (pair, why, d)


@pytest.mark.parametrize("fmt", ["akamai-edgeauth", "gcp-cdn"])
def test_mgctl_sign_takes_a_directory_prefix_only(srv, mgctl, fmt):
    """Red team 18: `--prefix /v/l1` (no final '/') became an ACL "/v/l1*" or a
    URLPrefix ".../v/l1", which the vendors (and this verifier) read as string
    prefixes: the link also opened /v/l10/ and /v/l1-staff/. --prefix is a
    directory for every format, as for native links."""
    for prefix in ("/v/l1", "/v/l1/../", "/v//l1/", "/v/./l1/"):
        for target in (["/v/l1/seg-1.ts"], ["--cookie"]):
            p = mgctl("sign", "--policy", srv.policy_dir / "edge.yaml", "--token-format", fmt,
                      "--ttl", "10m", "--prefix", prefix, *target)
            assert p.returncode == 2, (prefix, target, p.stdout)
            assert "must be a canonical directory path" in p.stderr, p.stderr
            assert p.stdout == ""


def test_configtest_refuses_plain_md5_for_edgeauth(apache_factory):
    bad = POLICY.replace("    options: {salt: pepper}\n",
                         "    alg: md5\n    options: {salt: pepper}\n")
    s = apache_factory("formats-akamai-bad", CONF, policies={"edge.yaml": bad}, files={},
                       start=False)
    keys = s.policy_dir / "keys"
    write_key(keys / "k2026.key", K2026)
    write_key(keys / "akamai.hex", AK_KEY + "\n")
    write_key(keys / "gcp.secret", GCP_KEY + "\n")
    rc, out = s.configtest()
    assert rc != 0
    assert "format akamai-edgeauth signs with hmac-sha256, hmac-sha1 or hmac-md5, not md5" in out
    assert re.search(r"edge\.yaml:\d+:\d+", out), out
