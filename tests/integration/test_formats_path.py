"""Foreign signed links whose token lives in the URL path (docs/token-formats.md,
"Tokens in the path"), against a real Apache: lighttpd mod_secdownload links,
nginx secure_link_secret links and Bunny's path-embedded form. The module maps
such a request as its effective path (the path without the token segments),
so the bytes served are the file the token covers; traversal and encoding
tricks inside and around the token segments are refused; native links and
query-form foreign links on other paths keep working."""

import json
import re
import time

import pytest

from conftest import htpasswd, keyed_server, mgctl_signer, write_secrets

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
  - id: ng
    format: nginx-secure-link
    file: keys/ng.secret
    options: {secret_prefix: /p/, no_expiry: allow}
  - id: bn
    format: bunny
    file: keys/bn.secret
    options: {sign_form: path}
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
  - {id: p, path: /p/, token: required}
  - {id: videos, path: /videos/, token: required}
  - {id: public, path: /pub/, access: {anonymous: view}}
"""

# Bunny's path form puts token_path (%2F...) in the path: httpd answers 404
# to an encoded slash before any module runs unless it is told NoDecode;
# libmg still refuses %2F in the path it judges (docs/token-formats.md)
CONF = """\
AllowEncodedSlashes NoDecode
# lighttpd's secdownload.document-root: the effective path /dl/a/x.jpg maps here
Alias "/dl/" "@HTDOCS@/store/"
MediaGuardPolicy path @POLICIES@/path.yaml
MediaGuardReasonHeader On
<Location "/">
    Require media-guard path
</Location>
"""

JPG = b"\xff\xd8\xff\xe0 covered jpeg " * 8
FILES = {
    "store/a/x.jpg": JPG,
    "store/a/y.jpg": b"\xff\xd8 another file " * 8,
    "store/b/x.jpg": b"\xff\xd8 b's file " * 8,
    "dls/l1/index.m3u8": "#EXTM3U\nseg-1.ts\n",
    "dls/l1/seg-1.ts": bytes(range(256)) * 4,
    "dls/l2/seg-1.ts": b"other rendition " * 16,
    "secret/x.jpg": b"\xff\xd8 the secret " * 8,
    "media/a.jpg": b"\xff\xd8 media " * 8,
    "pub/p.jpg": b"\xff\xd8 public " * 8,
    "p/link.jpg": b"\xff\xd8 nginx link " * 8,
    "p/other.jpg": b"\xff\xd8 nginx other " * 8,
    "videos/l1/index.m3u8": "#EXTM3U\nseg-1.ts\n",
    "videos/l1/seg-1.ts": b"bunny l1 segment " * 16,
    "videos/l2/seg-1.ts": b"bunny l2 segment " * 16,
}


KEYS = {"k2026.key": K2026, "lt.secret": "lighttpd-secret-for-the-tests\n",
        "ik.secret": "private_imagekit_key_for_tests\n", "ng.secret": "nginx-secret-word-for-tests\n",
        "bn.secret": "bunny-security-key-for-tests\n"}


def write_keys(s):
    """The secrets POLICY's keys name, in the server's policy directory."""
    write_secrets(s, KEYS)


@pytest.fixture(scope="module")
def srv(apache_factory):
    return keyed_server(apache_factory, "formats-path", CONF, {"path.yaml": POLICY}, FILES, KEYS)


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    signer = mgctl_signer(mgctl, srv.policy_dir / "path.yaml")
    return lambda fmt, url, *opts, key=None: signer(fmt, *opts, url, key=key)


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
    # ranges and HEAD on the covered file
    r = srv.get(url, headers={"Range": "bytes=4-11"})
    assert r.status_code == 206 and r.content == JPG[4:12]
    r = srv.head(url)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(JPG)


def test_absolute_form_target_is_mapped_like_the_path(srv, sign):
    url = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--ttl", "5m", key="lt")
    r = srv.raw("http://127.0.0.1:%d%s" % (srv.port, url))
    assert r.status_code == 200 and r.content == JPG
    mac, ts = LT.match(url).groups()
    r = srv.raw("http://127.0.0.1:%d/dl/%s/%s/a/../../secret/x.jpg" % (srv.port, mac, ts))
    assert r.status_code in (400, 403) and b"the secret" not in r.content


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


def test_lighttpd_path_segments_link_covers_its_directory_only(srv, sign, mgctl):
    # path_segments 1 signs /l1 for every path under /dls/l1/: mgctl mints
    # such a link only when asked for that directory
    p = mgctl("sign", "--policy", srv.policy_dir / "path.yaml", "--token-format",
              "lighttpd-secdownload", "--key-id", "lt256", "--ttl", "5m", "/dls/l1/index.m3u8")
    assert p.returncode == 1 and p.stdout.strip() == "", p.stdout
    assert "covers the whole directory /dls/l1/: give --prefix /dls/l1/" in p.stderr, p.stderr
    url = sign("lighttpd-secdownload", "/dls/l1/index.m3u8", "--ttl", "5m", "--prefix", "/dls/l1/",
               key="lt256")
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
    # the directory's own name has the same MAC, but is outside the scope
    assert_denied(srv.get(f"/dls/{mac}/{ts}/l1"), "token-out-of-scope")
    # mgctl verify shows the scope the module judged with
    p = mgctl("verify", "--policy", srv.policy_dir / "path.yaml", f"/dls/{mac}/{ts}/l1/seg-1.ts")
    assert p.returncode == 0 and "scope: /dls/l1/" in p.stdout, p.stdout + p.stderr
    p = mgctl("verify", "--policy", srv.policy_dir / "path.yaml", f"/dls/{mac}/{ts}/l1")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "reason: token-out-of-scope" in p.stdout and "scope: /dls/l1/" in p.stdout, p.stdout


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


def test_nginx_secure_link_secret_serves_the_link_and_covers_its_query(srv, sign):
    url = sign("nginx-secure-link", "/p/link.jpg", "--expires", "never", key="ng")
    m = re.match(r"^/p/([0-9a-f]{32})/link\.jpg$", url)
    assert m, url
    r = srv.get(url)
    assert r.status_code == 200, reason(r)
    assert r.content == FILES["p/link.jpg"]
    assert "reason=allowed-by-token rule=p" in srv.last_access(m.group(1))
    h = m.group(1)
    assert_denied(srv.get(f"/p/{h}/other.jpg"), "token-bad-signature")
    # nginx hashes the whole target after the hash: the query is covered
    assert_denied(srv.get(url + "?v=2"), "token-bad-signature")
    withq = sign("nginx-secure-link", "/p/link.jpg?v=2", "--expires", "never", key="ng")
    r = srv.get(withq)
    assert r.status_code == 200 and r.content == FILES["p/link.jpg"]
    r = srv.raw(f"/p/{h}/../secret/x.jpg")
    assert r.status_code in (400, 403) and b"the secret" not in r.content
    assert_denied(srv.get(f"/p/{h.upper()}/link.jpg"), "token-malformed")


def test_bunny_path_form_directory_token_covers_its_rendition(srv, sign):
    url = sign("bunny", "/videos/l1/index.m3u8", "--ttl", "5m", "--prefix", "/videos/l1/",
               key="bn")
    m = re.match(r"^/(bcdn_token=HS256-[A-Za-z0-9_-]{43}&token_path=%2Fvideos%2Fl1%2F"
                 r"&expires=\d+)/videos/l1/index\.m3u8$", url)
    assert m, url
    seg = m.group(1)
    r = srv.get(url)
    assert r.status_code == 200 and r.text.startswith("#EXTM3U"), reason(r)
    # the player resolves seg-1.ts under the token segment
    r = srv.get(f"/{seg}/videos/l1/seg-1.ts")
    assert r.status_code == 200 and r.content == FILES["videos/l1/seg-1.ts"]
    assert_denied(srv.get(f"/{seg}/videos/l2/seg-1.ts"), "token-out-of-scope")
    r = srv.raw(f"/{seg}/videos/l1/../l2/seg-1.ts")
    assert r.status_code == 403 and r.content != FILES["videos/l2/seg-1.ts"]
    # a query next to the token in the path is not signed
    assert_denied(srv.get(url + "?x=1"), "token-malformed")
    assert_denied(srv.get(url.replace("l1%2F&", "l2%2F&")), "token-bad-signature")
    # the query form of the same key keeps working
    q = sign("bunny", "/videos/l1/seg-1.ts", "--ttl", "5m", key="bn")
    assert q.startswith("/bcdn_token=")


def test_verify_and_explain_agree_with_apache(srv, sign, mgctl):
    url = sign("lighttpd-secdownload", "/dl/a/x.jpg", "--ttl", "5m", key="lt")
    p = mgctl("verify", "--policy", srv.policy_dir / "path.yaml", url)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "format: lighttpd-secdownload" in p.stdout and "from: path" in p.stdout
    p = mgctl("explain", "--policy", srv.policy_dir / "path.yaml", url)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "allowed-by-token" in p.stdout
    assert srv.get(url).status_code == 200
    # migrate-report reads old lighttpd/nginx/Bunny links from a log
    ng = sign("nginx-secure-link", "/p/link.jpg", "--expires", "never", key="ng")
    p = mgctl("migrate-report", "--policy", srv.policy_dir / "path.yaml", "-",
              input="%s\n%s\n%s\n" % (url, ng, url.replace("/a/x.jpg", "/a/y.jpg")))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "valid    lighttpd-secdownload lt expires" in p.stdout, p.stdout
    assert "valid    nginx-secure-link ng " in p.stdout, p.stdout
    assert "invalid  token-bad-signature lighttpd-secdownload lt" in p.stdout, p.stdout


def test_configtest_refuses_overlapping_path_prefixes(apache_factory):
    bad = POLICY.replace("  - id: ik\n", """\
  - id: lt-md5-too
    format: lighttpd-secdownload
    file: keys/lt.secret
    options: {uri_prefix: /dl/a/}
  - id: ik
""")
    s = apache_factory("formats-path-ok", CONF, policies={"path.yaml": bad}, files={}, start=False)
    write_keys(s)
    rc, out = s.configtest()
    # two keys of one format may nest (rotation); the refusal is for two formats
    assert rc == 0, out
    both = POLICY.replace("secret_prefix: /p/", "secret_prefix: /dl/")
    s2 = apache_factory("formats-path-bad", CONF, policies={"path.yaml": both}, files={},
                        start=False)
    write_secrets(s2, {"k2026.key": K2026, "lt.secret": "x" * 20 + "\n", "ik.secret": "y\n",
                       "ng.secret": "z\n", "bn.secret": "w\n"})
    rc, out = s2.configtest()
    assert rc != 0
    assert "a link could not tell the two formats apart" in out, out
    assert re.search(r"path\.yaml:\d+:\d+", out), out


REWRITE_CONF = CONF + """\
RewriteEngine On
RewriteRule "^/dl/a/x\\.jpg$" "/secret/x.jpg" [PT]
"""


def test_a_later_rewrite_of_the_covered_path_is_refused(apache_factory, mgctl):
    """Another module changing r->uri after the module mapped the token's path
    (a server RewriteRule [PT]) serves something the token does not cover:
    the served-path check refuses it."""
    s = apache_factory("formats-path-rewrite", REWRITE_CONF, policies={"path.yaml": POLICY},
                       files=FILES, extra_modules=["rewrite"], start=False)
    write_keys(s)
    s.start()
    try:
        p = mgctl("sign", "--policy", s.policy_dir / "path.yaml", "--token-format",
                  "lighttpd-secdownload", "--key-id", "lt", "--ttl", "5m", "/dl/a/x.jpg")
        assert p.returncode == 0, p.stderr
        r = s.get(p.stdout.strip())
        assert r.status_code == 403, r.status_code
        assert b"the secret" not in r.content
        assert "served URI /secret/x.jpg differs" in s.error_log()
        # another file of the prefix is not rewritten and is served
        p = mgctl("sign", "--policy", s.policy_dir / "path.yaml", "--token-format",
                  "lighttpd-secdownload", "--key-id", "lt", "--ttl", "5m", "/dl/a/y.jpg")
        r = s.get(p.stdout.strip())
        assert r.status_code == 200 and r.content == FILES["store/a/y.jpg"]
    finally:
        s.stop()


# The mapping runs only in servers where some policy has a path-form key (the hook is skipped
# elsewhere, for every request): a virtual host's own policy and one inherited from the main server
# must both count, and a server with path-form keys in none of its policies serves the path as sent.
PLAIN = """\
version: 1
default: deny
rules:
  - {id: dl, path: /dl/, access: {anonymous: view}}
"""

VHOSTS = """\
AllowEncodedSlashes NoDecode
Alias "/dl/" "@HTDOCS@/store/"
MediaGuardPolicy @MAIN@ @POLICIES@/@MAINFILE@
<VirtualHost 127.0.0.1:@PORT@>
    ServerName inherit.test
    <Location "/">
        Require media-guard @MAIN@
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName own.test
    MediaGuardPolicy path @POLICIES@/path.yaml
    <Location "/">
        Require media-guard path
    </Location>
</VirtualHost>
"""


@pytest.mark.parametrize("main", ["plain", "path"])
def test_path_tokens_map_in_virtual_hosts_with_a_path_form_key(apache_factory, mgctl, main):
    conf = VHOSTS.replace("@MAIN@", main).replace("@MAINFILE@", main + ".yaml")
    policies = {"path.yaml": POLICY}
    if main == "plain":
        policies["plain.yaml"] = PLAIN
    s = apache_factory("formats-path-vhosts-" + main, conf, policies=policies, files=FILES,
                       start=False)
    write_keys(s)
    s.start()
    try:
        p = mgctl("sign", "--policy", s.policy_dir / "path.yaml", "--token-format",
                  "lighttpd-secdownload", "--key-id", "lt", "--ttl", "5m", "/dl/a/x.jpg")
        assert p.returncode == 0, p.stderr
        url = p.stdout.strip()
        # the virtual host's own policy has the key: mapped, served
        r = s.get(url, headers={"Host": "own.test"})
        assert r.status_code == 200 and r.content == JPG, reason(r)
        r = s.get(url, headers={"Host": "inherit.test"})
        if main == "path":
            # inherited from the main server: mapped as well
            assert r.status_code == 200 and r.content == JPG, reason(r)
        else:
            # no policy of this host reads path tokens: the path is judged (the rule allows it)
            # and served as sent, and no such file exists
            assert r.status_code == 404, (r.status_code, reason(r))
            assert JPG not in r.content
    finally:
        s.stop()


# A path token of a key of policy A, requested where policy B decides: the translate_name hook
# maps the path for any policy the server declares, so Apache decides B on the effective path as
# well (the served path: the stricter decision counts). `mgctl explain -p B` must say the same.
OTHER = """\
version: 1
name: other
default: deny
rules:
  - {id: members, path: /dl/a/, access: {anonymous: none}}
  - {id: open, path: /dl/, access: {anonymous: view}}
"""

OTHER_CONF = """\
Alias "/dl/" "@HTDOCS@/store/"
MediaGuardPolicy path @POLICIES@/path.yaml
MediaGuardPolicy other @POLICIES@/other.yaml
MediaGuardReasonHeader On
<Location "/">
    Require media-guard other
</Location>
"""


@pytest.fixture(scope="module")
def other_srv(apache_factory):
    s = apache_factory("formats-path-other", OTHER_CONF,
                       policies={"path.yaml": POLICY, "other.yaml": OTHER}, files=FILES,
                       start=False)
    write_keys(s)
    s.start()
    yield s
    s.stop()


def explain_json(mgctl, s, url, *extra):
    p = mgctl("explain", "--policy", s.policy_dir / "other.yaml", "--format", "json", *extra, url)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


def logged(s, url):
    line = s.last_access(" " + url + " HTTP/1.1")
    assert line, s.access_log()
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    return f["mg"], f["reason"], f["rule"]


def test_explain_of_another_policy_agrees_with_apache_on_a_path_token(other_srv, mgctl):
    """Reproduced first: Apache refused (the served path /dl/a/x.jpg is under
    'members') what `mgctl explain -p other` allowed (the raw path is under
    'open'). With --server-policy naming the server's other policy, explain
    decides the served path too, as Apache does."""
    s = other_srv
    server = ["--server-policy", s.policy_dir / "path.yaml"]
    p = mgctl("sign", "--policy", s.policy_dir / "path.yaml", "--token-format",
              "lighttpd-secdownload", "--key-id", "lt", "--ttl", "5m", "/dl/a/x.jpg", "/dl/b/x.jpg")
    assert p.returncode == 0, p.stderr
    members, public = p.stdout.split()
    r = s.get(members)
    assert r.status_code == 403 and JPG not in r.content, (r.status_code, reason(r))
    assert logged(s, members) == ("deny", "role-insufficient", "members")
    assert "served URI /dl/a/x.jpg differs" in s.error_log()
    d = explain_json(mgctl, s, members, *server)
    assert (d["decision"], d["reason"], d["rule"], d["status"]) == \
        ("deny", "role-insufficient", "members", 403), d
    assert d["detail"].startswith("served URI /dl/a/x.jpg differs from the request target /dl/"), d
    assert "the path token of policy path maps the request there" in d["trace"][0], d
    # a path token under "open": served and allowed by both, the served path noted in the trace
    r = s.get(public)
    assert r.status_code == 200 and r.content == FILES["store/b/x.jpg"], (r.status_code, reason(r))
    assert logged(s, public) == ("allow", "allowed", "open")
    d = explain_json(mgctl, s, public, *server)
    assert (d["decision"], d["reason"], d["rule"]) == ("allow", "allowed", "open"), d
    assert "served path /dl/b/x.jpg" in d["trace"][0] and "not stricter" in d["trace"][0], d
    # a served path that httpd escapes back (a space): the same decisions on both sides
    p = mgctl("sign", "--policy", s.policy_dir / "path.yaml", "--token-format",
              "lighttpd-secdownload", "--key-id", "lt", "--ttl", "5m", "/dl/a/x%20y.jpg",
              "/dl/b/x%20y.jpg")
    assert p.returncode == 0, p.stderr
    for url, want in zip(p.stdout.split(), [("deny", "role-insufficient", "members"),
                                            ("allow", "allowed", "open")]):
        s.get(url)
        assert logged(s, url) == want, url
        d = explain_json(mgctl, s, url, *server)
        assert (d["decision"], d["reason"], d["rule"]) == want, d
    # the text form says it too
    p = mgctl("explain", "--policy", s.policy_dir / "other.yaml", *server, members)
    assert p.returncode == 0, p.stderr
    assert "decision: deny" in p.stdout and "rule:     members" in p.stdout, p.stdout
    # a policy test file says the same with server_policies (docs/policy-tests.md)
    tf = s.root / "other.test.yaml"
    tf.write_text("policy: %s\nserver_policies: [%s]\ntests:\n"
                  "  - name: another policy's path token\n    request: {url: '%s'}\n"
                  "    expect: {decision: deny, rule: members, reason: role-insufficient}\n"
                  % (s.policy_dir / "other.yaml", s.policy_dir / "path.yaml", members))
    p = mgctl("test", tf)
    assert p.returncode == 0 and "1 passed, 0 failed" in p.stdout, p.stdout + p.stderr
    # without the server's other policies explain cannot know the path is mapped: the raw path
    # alone is decided (docs/mgctl.md, "explain"); this is the disagreement --server-policy closes
    d = explain_json(mgctl, s, members)
    assert (d["decision"], d["rule"]) == ("allow", "open"), d
    # a policy Apache would refuse is refused here too; '-' is for --policy only
    p = mgctl("explain", "--policy", s.policy_dir / "other.yaml", "--server-policy",
              s.policy_dir / "missing.yaml", members)
    assert p.returncode == 2 and "missing.yaml" in p.stderr, p.stderr
    p = mgctl("explain", "--policy", s.policy_dir / "other.yaml", "--server-policy", "-", members)
    assert p.returncode == 2 and "--server-policy must be a file" in p.stderr, p.stderr


OTHER_AUTH = """\
version: 1
name: other
default: deny
roles: [member]
identity:
  users:
    alice: [member]
rules:
  - {id: members, path: /dl/a/, access: {anonymous: none, member: view}}
  - {id: open, path: /dl/, access: {anonymous: view}}
"""

OTHER_AUTH_CONF = OTHER_CONF.replace("    Require media-guard other\n", """\
    AuthType Basic
    AuthName "members"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    Require media-guard other
""")


def test_explain_of_another_policy_says_when_apache_authenticates_for_the_served_path(
        apache_factory, mgctl):
    """mod_authz_core asks the policy first without the user; the module's
    answer to that first pass covers the served path too (here 'auth': signing
    in would grant it), so Apache authenticates, and refuses a signed-in user
    without the role with its own 401 (no AuthzSendForbiddenOnFailure). explain
    --server-policy says both, as for any other request."""
    s = apache_factory("formats-path-other-auth", OTHER_AUTH_CONF,
                       policies={"path.yaml": POLICY, "other.yaml": OTHER_AUTH}, files=FILES,
                       start=False)
    htpasswd(s.root / "htpasswd", {"alice": "a", "bob": "b"})
    write_keys(s)
    s.start()
    try:
        server = ["--server-policy", s.policy_dir / "path.yaml"]
        p = mgctl("sign", "--policy", s.policy_dir / "path.yaml", "--token-format",
                  "lighttpd-secdownload", "--key-id", "lt", "--ttl", "5m", "/dl/a/x.jpg")
        assert p.returncode == 0, p.stderr
        url = p.stdout.strip()
        r = s.get(url)  # nobody signed in: Apache asks for a password
        assert r.status_code == 401, (r.status_code, reason(r))
        d = explain_json(mgctl, s, url, *server)
        assert (d["decision"], d["rule"], d["status"]) == ("auth", "members", 401), d
        r = s.get(url, auth=("bob", "b"))  # signed in, without the role
        assert r.status_code == 401 and JPG not in r.content, (r.status_code, reason(r))
        d = explain_json(mgctl, s, url, "--user", "bob", *server)
        assert (d["decision"], d["rule"], d["status"],
                d["status_without_forbidden_on_failure"]) == ("deny", "members", 403, 401), d
        r = s.get(url, auth=("alice", "a"))  # a member: the covered file
        assert r.status_code == 200 and r.content == JPG, (r.status_code, reason(r))
        d = explain_json(mgctl, s, url, "--user", "alice", *server)
        # both decisions allow view: the target's (rule 'open') stands, in Apache's log too
        assert (d["decision"], d["reason"], d["rule"]) == logged(s, url) == \
            ("allow", "allowed", "open"), d
        assert "served path /dl/a/x.jpg" in d["trace"][0] and "not stricter" in d["trace"][0], d
    finally:
        s.stop()
