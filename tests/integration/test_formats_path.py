"""Foreign signed links whose token lives in the URL path (docs/token-formats.md,
"Tokens in the path"), against a real Apache: lighttpd mod_secdownload links,
nginx secure_link_secret links and Bunny's path-embedded form. The module maps
such a request as its effective path (the path without the token segments),
so the bytes served are the file the token covers; traversal and encoding
tricks inside and around the token segments are refused; native links and
query-form foreign links on other paths keep working."""

import re
import time

import pytest

K2026 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"

POLICY = """\
version: 1
name: path
keys:
  - id: k2026
    file: keys/k2026.key
    sign: true
  - id: lt
    format: lighttpd-secdownload
    file: keys/lt.secret
    options: {uri_prefix: /dl/, timeout: "600"}
  - id: lt256
    format: lighttpd-secdownload
    alg: hmac-sha256
    file: keys/lt.secret
    options: {uri_prefix: /dls/, timeout: "600", path_segments: "1"}
  - id: ik
    format: imagekit
    file: keys/ik.secret
    options: {endpoint: /media/}
tokens:
  clock_skew: 5s
rules:
  - {id: dl, path: /dl/, token: required}
  - {id: dls, path: /dls/, token: required}
  - {id: media, path: /media/, token: required}
  - {id: secret, path: /secret/, token: required}
  - {id: public, path: /pub/, access: {anonymous: view}}
"""

CONF = """\
MediaGuardPolicy path @POLICIES@/path.yaml
MediaGuardReasonHeader On
<Location "/">
    Require media-guard path
</Location>
"""

JPG = b"\xff\xd8\xff\xe0 covered jpeg " * 8
FILES = {
    "dl/a/x.jpg": JPG,
    "dl/a/y.jpg": b"\xff\xd8 another file " * 8,
    "dl/b/x.jpg": b"\xff\xd8 b's file " * 8,
    "dls/l1/index.m3u8": "#EXTM3U\nseg-1.ts\n",
    "dls/l1/seg-1.ts": bytes(range(256)) * 4,
    "dls/l2/seg-1.ts": b"other rendition " * 16,
    "secret/x.jpg": b"\xff\xd8 the secret " * 8,
    "media/a.jpg": b"\xff\xd8 media " * 8,
    "pub/p.jpg": b"\xff\xd8 public " * 8,
}


def write_key(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = apache_factory("formats-path", CONF, policies={"path.yaml": POLICY}, files=FILES,
                       start=False)
    keys = s.policy_dir / "keys"
    write_key(keys / "k2026.key", K2026)
    write_key(keys / "lt.secret", "lighttpd-secret-for-the-tests\n")
    write_key(keys / "ik.secret", "private_imagekit_key_for_tests\n")
    s.start()
    return s


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    def run(fmt, url, *opts, key=None):
        args = ["sign", "--policy", srv.policy_dir / "path.yaml"]
        if fmt != "mg-v1":
            args += ["--token-format", fmt]
        if key:
            args += ["--key-id", key]
        p = mgctl(*args, *opts, url)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    return run


def reason(r):
    return r.headers.get("X-Media-Guard-Reason")


def assert_denied(r, why):
    assert r.status_code == 403, (r.status_code, reason(r), r.content[:60])
    assert reason(r) == why


LT = re.compile(r"^/dl/([0-9a-f]{32})/([0-9a-f]+)/a/x\.jpg$")


def test_lighttpd_link_serves_exactly_the_covered_file(srv, sign):
    url = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--ttl", "5m", key="lt")
    assert LT.match(url), url
    r = srv.get(url)
    assert r.status_code == 200, reason(r)
    assert r.content == JPG
    line = srv.last_access(url[:20])
    assert "reason=allowed-by-token rule=dl" in line
    # the same token on another file, another directory: the MAC covers the path
    mac, ts = LT.match(url).groups()
    assert_denied(srv.get(f"/dl/{mac}/{ts}/a/y.jpg"), "token-bad-signature")
    assert_denied(srv.get(f"/dl/{mac}/{ts}/b/x.jpg"), "token-bad-signature")
    # the plain path without a token is judged as itself
    assert_denied(srv.get("/dl/a/x.jpg"), "token-missing")


def test_lighttpd_link_expired_and_not_yet_valid(srv, sign):
    now = int(time.time())
    past = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--expires", str(now - 60),
                "--now", str(now - 700), key="lt")
    assert_denied(srv.get(past), "token-expired")
    # lighttpd's window is both ways: a timestamp far in the future is not yet valid
    future = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--expires", str(now + 3000), key="lt")
    assert_denied(srv.get(future), "token-not-yet-valid")


@pytest.mark.parametrize("tail", [
    "a/../../secret/x.jpg",       # dot segments out of the prefix
    "a/%2e%2e/%2e%2e/secret/x.jpg",
    "a/..%2f..%2fsecret/x.jpg",   # encoded separator
    "a/x.jpg%00.png",             # NUL
    "a/%c0%ae%c0%ae/x.jpg",       # overlong UTF-8 dots
    "a/tr:w-100/x.jpg",           # a transformation inside a path token
])
def test_traversal_and_encodings_after_the_token_are_refused(srv, sign, tail):
    url = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--ttl", "5m", key="lt")
    mac, ts = LT.match(url).groups()
    r = srv.raw(f"/dl/{mac}/{ts}/{tail}")
    assert r.status_code in (400, 403, 404), (tail, r.status_code)
    assert b"the secret" not in r.content
    if r.status_code == 403:
        assert r.headers.get("X-Media-Guard-Reason") in ("bad-url", "token-bad-signature",
                                                         "token-out-of-scope"), tail


@pytest.mark.parametrize("mangle", [
    lambda m, t: f"/dl/{m.upper()}/{t}/a/x.jpg",          # hex case
    lambda m, t: f"/dl/{m}/0{t}/a/x.jpg",                 # leading zero (digit shifting)
    lambda m, t: f"/dl/{m}/{t.upper()}/a/x.jpg",
    lambda m, t: f"/dl/{m}//{t}/a/x.jpg",                 # empty segment in the token
    lambda m, t: f"/dl/{m}/{t}//a/x.jpg",                 # "//" after it: the canonical path
    lambda m, t: f"/dl/{m[:31]}%{m[31]}/{t}/a/x.jpg",
    lambda m, t: f"/DL/{m}/{t}/a/x.jpg",                  # case of the prefix
    lambda m, t: f"/dl/{m};x/{t}/a/x.jpg",
    lambda m, t: f"/dl;x/{m}/{t}/a/x.jpg",
])
def test_tampered_token_segments_never_serve(srv, sign, mangle):
    url = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--ttl", "5m", key="lt")
    mac, ts = LT.match(url).groups()
    target = mangle(mac, ts)
    r = srv.raw(target)
    if target == f"/dl/{mac}/{ts}//a/x.jpg":
        # an empty segment is dropped by our canonical form: the same file
        assert r.status_code == 200 and r.content == JPG
        return
    assert r.status_code in (400, 403, 404), (target, r.status_code)
    assert r.content != JPG


def test_lighttpd_query_is_not_signed_and_refused(srv, sign):
    url = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--ttl", "5m", key="lt")
    assert_denied(srv.get(url + "?download=1"), "token-malformed")


def test_lighttpd_path_segments_link_covers_its_directory_only(srv, sign):
    url = sign("lighttpd-secdownload", "/dls/l1/index.m3u8", "--ttl", "5m", key="lt256")
    m = re.match(r"^/dls/([A-Za-z0-9_-]{43})/([0-9a-f]+)/l1/index\.m3u8$", url)
    assert m, url
    mac, ts = m.groups()
    r = srv.get(f"/dls/{mac}/{ts}/l1/seg-1.ts")
    assert r.status_code == 200, reason(r)
    assert r.content == FILES["dls/l1/seg-1.ts"]
    # relative URIs of the playlist resolve under the token: seg-1.ts is found
    assert srv.get(f"/dls/{mac}/{ts}/l1/index.m3u8").text.startswith("#EXTM3U")
    assert_denied(srv.get(f"/dls/{mac}/{ts}/l2/seg-1.ts"), "token-bad-signature")
    r = srv.raw(f"/dls/{mac}/{ts}/l1/../l2/seg-1.ts")
    assert r.status_code == 403 and r.content != FILES["dls/l2/seg-1.ts"]


def test_other_formats_and_paths_keep_working(srv, sign):
    for fmt in ("mg-v1", "imagekit"):
        r = srv.get(sign(fmt, "/media/a.jpg", "--ttl", "5m"))
        assert r.status_code == 200, (fmt, reason(r))
        assert r.content == FILES["media/a.jpg"]
    r = srv.get("/pub/p.jpg")
    assert r.status_code == 200 and r.content == FILES["pub/p.jpg"]
    # a native link for the effective path works too (it is the same path)
    r = srv.get(sign("mg-v1", "/dl/a/x.jpg", "--ttl", "5m"))
    assert r.status_code == 200 and r.content == JPG
    # a native token next to a token in the path: neither is believed
    mg = sign("mg-v1", "/dl/a/x.jpg", "--ttl", "5m").split("?", 1)[1]
    lt = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--ttl", "5m", key="lt")
    assert_denied(srv.get(lt + "?" + mg), "token-malformed")


def test_verify_and_explain_agree_with_apache(srv, sign, mgctl):
    url = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--ttl", "5m", key="lt")
    p = mgctl("verify", "--policy", srv.policy_dir / "path.yaml", url)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "format: lighttpd-secdownload" in p.stdout and "from: path" in p.stdout
    p = mgctl("explain", "--policy", srv.policy_dir / "path.yaml", url)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "allowed-by-token" in p.stdout
    assert srv.get(url).status_code == 200


def test_configtest_refuses_overlapping_path_prefixes(apache_factory):
    bad = POLICY.replace("  - id: ik\n", """\
  - id: lt-md5-too
    format: lighttpd-secdownload
    file: keys/lt.secret
    options: {uri_prefix: /dl/a/}
  - id: ik
""")
    s = apache_factory("formats-path-ok", CONF, policies={"path.yaml": bad}, files={}, start=False)
    keys = s.policy_dir / "keys"
    write_key(keys / "k2026.key", K2026)
    write_key(keys / "lt.secret", "lighttpd-secret-for-the-tests\n")
    write_key(keys / "ik.secret", "private_imagekit_key_for_tests\n")
    rc, out = s.configtest()
    # two keys of one format may nest (rotation); the refusal is for two formats
    assert rc == 0, out
