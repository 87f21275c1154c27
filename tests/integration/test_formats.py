"""Foreign signed-link formats (docs/token-formats.md) against a real Apache:
one path accepts ImageKit, nginx secure_link, Bunny and Google Cloud CDN links
at once, minted
by `mgctl sign --token-format`, while native (mg-v1) links keep working;
every refusal has the reason our own tokens get; a policy that pairs a
format with an algorithm it does not define is refused at configtest."""

import re
import time

import pytest

MP4 = bytes(range(256)) * 16
K2026 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"

POLICY = """\
version: 1
name: fmt
keys:
  - id: k2026
    file: keys/k2026.key
    sign: true
  - id: ik
    format: imagekit
    file: keys/imagekit.secret
    options: {endpoint: /media/}
  - id: ng
    format: nginx-secure-link
    file: keys/nginx.secret
    options:
      expression: "$secret$uri$arg_e$remote_addr"
      hash_param: st
      expires_param: e
  - id: bn
    format: bunny
    file: keys/bunny.secret
tokens:
  clock_skew: 5s
rules:
  - id: media
    path: /media/
    token: required
"""

# Cloud CDN's Expires and Bunny's expires differ in case only, and some
# stacks read query names case-insensitively: one policy may not hold both,
# so Cloud CDN links get a policy (and a location) of their own here
GCP_POLICY = """\
version: 1
name: gcp
keys:
  - id: k2026
    file: keys/k2026.key
    sign: true
  - id: gcp-key
    format: gcp-cdn
    file: keys/gcp.secret
    options: {origin: "https://media.example.test"}
  - id: ik
    format: imagekit
    file: keys/imagekit.secret
    options: {endpoint: /cdn/}
rules:
  - id: cdn
    path: /cdn/
    token: required
"""

FMT_CONF = """\
MediaGuardPolicy fmt @POLICIES@/fmt.yaml
MediaGuardReasonHeader On
<Location "/media/">
    Require media-guard fmt
</Location>
"""

CONF = FMT_CONF + """\
MediaGuardPolicy gcp @POLICIES@/gcp.yaml
<Location "/cdn/">
    Require media-guard gcp
</Location>
"""

# the public origin Cloud CDN links were signed for (option origin): Apache is
# reached on 127.0.0.1, and the Host header is never what is verified
GCP_ORIGIN = "https://media.example.test"
GCP_KEY = "q83vEjRWeJASNFZ4kKvN7w==\n"

FILES = {
    "media/a.jpg": b"\xff\xd8\xff\xe0 jpeg bytes " * 8,
    "media/film.mp4": MP4,
    "media/l1/index.m3u8": "#EXTM3U\nseg-1.ts\n",
    "media/l1/seg-1.ts": MP4,
    "media/l2/seg-1.ts": MP4,
    "cdn/a.jpg": b"\xff\xd8\xff\xe0 jpeg bytes " * 8,
    "cdn/l1/index.m3u8": "#EXTM3U\nseg-1.ts\n",
    "cdn/l1/seg-1.ts": MP4,
    "cdn/l2/seg-1.ts": MP4,
}


def write_key(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = apache_factory("formats", CONF, policies={"fmt.yaml": POLICY, "gcp.yaml": GCP_POLICY},
                       files=FILES, start=False)
    keys = s.policy_dir / "keys"
    write_key(keys / "k2026.key", K2026)
    write_key(keys / "imagekit.secret", "private_imagekit_key_for_tests\n")
    write_key(keys / "nginx.secret", "nginx-secret-for-the-tests\n")
    write_key(keys / "bunny.secret", "bunny-security-key-for-tests\n")
    write_key(keys / "gcp.secret", GCP_KEY)
    s.start()
    return s


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    def run(fmt, url, *opts, policy=None):
        pol = policy or ("gcp.yaml" if fmt == "gcp-cdn" else "fmt.yaml")
        args = ["sign", "--policy", srv.policy_dir / pol]
        if fmt != "mg-v1":
            args += ["--token-format", fmt]
        p = mgctl(*args, *opts, url)
        assert p.returncode == 0, p.stderr
        out = p.stdout.strip()
        if fmt == "gcp-cdn":  # absolute links on the key's origin; we request the path
            assert out.startswith(GCP_ORIGIN + "/"), out
            out = out[len(GCP_ORIGIN):]
        return out
    return run


def reason(r):
    return r.headers.get("X-Media-Guard-Reason")


def assert_denied(r, why):
    assert r.status_code == 403, (r.status_code, reason(r))
    assert reason(r) == why


FORMATS = [("mg-v1", []), ("imagekit", []), ("nginx-secure-link", ["--ip", "127.0.0.1"]),
           ("bunny", [])]


@pytest.mark.parametrize("fmt,opts", FORMATS, ids=[f for f, _ in FORMATS])
def test_each_format_is_served_on_the_same_path(srv, sign, fmt, opts):
    url = sign(fmt, "/media/a.jpg", "--ttl", "10m", *opts)
    r = srv.get(url)
    assert r.status_code == 200, reason(r)
    assert r.content == FILES["media/a.jpg"]
    assert "reason=allowed-by-token rule=media" in srv.last_access("/media/a.jpg")


@pytest.mark.parametrize("fmt,opts", FORMATS, ids=[f for f, _ in FORMATS])
def test_each_format_tampered_is_bad_signature_and_expired_is_expired(srv, sign, fmt, opts):
    url = sign(fmt, "/media/a.jpg", "--ttl", "10m", *opts)
    assert_denied(srv.get(url.replace("a.jpg", "film.mp4")), "token-bad-signature")
    past = sign(fmt, "/media/a.jpg", "--expires", str(int(time.time()) - 60),
                "--now", str(int(time.time()) - 120), *opts)
    assert_denied(srv.get(past), "token-expired")


def test_range_request_with_a_foreign_token(srv, sign):
    url = sign("bunny", "/media/film.mp4", "--ttl", "10m")
    r = srv.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206, reason(r)
    assert r.content == MP4[100:200]


def test_nginx_link_is_bound_to_the_client_address(srv, sign):
    other = sign("nginx-secure-link", "/media/a.jpg", "--ttl", "10m", "--ip", "10.9.9.9")
    assert_denied(srv.get(other), "token-bad-signature")


def test_bunny_prefix_token_covers_the_rendition_only(srv, sign):
    url = sign("bunny", "/media/l1/index.m3u8", "--ttl", "10m", "--prefix", "/media/l1/")
    query = url.split("?", 1)[1]
    assert srv.get("/media/l1/index.m3u8?" + query).status_code == 200
    assert srv.get("/media/l1/seg-1.ts?" + query).status_code == 200
    assert_denied(srv.get("/media/l2/seg-1.ts?" + query), "token-out-of-scope")
    # a dot segment cannot walk out of the prefix: canonicalisation is ours
    r = srv.raw("/media/l1/../l2/seg-1.ts?" + query)
    assert r.status_code == 403
    assert r.headers.get("X-Media-Guard-Reason") == "token-out-of-scope"


def test_gcp_links_next_to_native_prefix_host_header_and_refusals(srv, sign):
    # served, next to native and ImageKit links on the same location
    for fmt in ("gcp-cdn", "mg-v1", "imagekit"):
        r = srv.get(sign(fmt, "/cdn/a.jpg?w=1", "--ttl", "10m", policy="gcp.yaml"))
        assert r.status_code == 200, (fmt, reason(r))
    one = sign("gcp-cdn", "/cdn/a.jpg?w=1", "--ttl", "10m")
    assert "reason=allowed-by-token rule=cdn" in srv.last_access("/cdn/a.jpg")
    assert_denied(srv.get(one.replace("w=1", "w=2")), "token-bad-signature")
    assert_denied(srv.get(one + "&x=1"), "token-malformed")  # nothing rides after Signature
    past = sign("gcp-cdn", "/cdn/a.jpg", "--expires", str(int(time.time()) - 60),
                "--now", str(int(time.time()) - 120))
    assert_denied(srv.get(past), "token-expired")
    # a URL prefix covers the rendition only
    url = sign("gcp-cdn", "/cdn/l1/index.m3u8", "--ttl", "10m", "--prefix", "/cdn/l1/")
    query = url.split("?", 1)[1]
    assert "URLPrefix=" in query
    assert srv.get("/cdn/l1/seg-1.ts?" + query).status_code == 200
    # the signature covers the key's origin, not the Host the client sends
    r = srv.get("/cdn/l1/seg-1.ts?" + query, headers={"Host": "evil.example"})
    assert r.status_code == 200, reason(r)
    assert_denied(srv.get("/cdn/l2/seg-1.ts?" + query), "token-out-of-scope")
    r = srv.raw("/cdn/l1/../l2/seg-1.ts?" + query)
    assert r.status_code == 403
    assert r.headers.get("X-Media-Guard-Reason") == "token-out-of-scope"
    # a Cloud CDN link on the location of the Bunny policy: Expires is a case variant of
    # Bunny's reserved expires there, which some stacks would read as it (issue 14)
    assert_denied(srv.get(one.replace("/cdn/a.jpg", "/media/a.jpg")), "bad-url")


def test_parameters_of_two_formats_at_once_are_malformed(srv, sign):
    ik = sign("imagekit", "/media/a.jpg", "--ttl", "10m")
    mg = sign("mg-v1", "/media/a.jpg", "--ttl", "10m")
    assert_denied(srv.get(ik + "&" + mg.split("?", 1)[1]), "token-malformed")
    bn = sign("bunny", "/media/a.jpg", "--ttl", "10m")
    assert_denied(srv.get(ik + "&" + bn.split("?", 1)[1]), "token-malformed")
    assert_denied(srv.get("/media/a.jpg"), "token-missing")


def test_malformed_foreign_parameters(srv, sign):
    ik = sign("imagekit", "/media/a.jpg", "--ttl", "10m")
    assert_denied(srv.get(re.sub(r"ik-s=[0-9a-f]+", "ik-s=XYZ", ik)), "token-malformed")
    assert_denied(srv.get(ik + "&ik-s=00"), "token-malformed")


def test_explain_agrees_with_apache(srv, sign, mgctl):
    url = sign("imagekit", "/media/a.jpg", "--ttl", "10m")
    p = mgctl("explain", "--policy", srv.policy_dir / "fmt.yaml", url)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "allowed-by-token" in p.stdout
    assert srv.get(url).status_code == 200


def test_configtest_refuses_bunny_and_gcp_cdn_in_one_policy(apache_factory):
    both = POLICY.replace("tokens:\n", """\
  - id: gcp-key
    format: gcp-cdn
    file: keys/gcp.secret
    options: {origin: "https://media.example.test"}
tokens:
""")
    s = apache_factory("formats-case", FMT_CONF, policies={"fmt.yaml": both}, files={}, start=False)
    keys = s.policy_dir / "keys"
    write_key(keys / "k2026.key", K2026)
    for f in ("imagekit.secret", "nginx.secret", "bunny.secret"):
        write_key(keys / f, "some-secret-for-the-test\n")
    write_key(keys / "gcp.secret", GCP_KEY)
    rc, out = s.configtest()
    assert rc != 0
    assert "names that differ only in case" in out, out


def test_configtest_refuses_an_algorithm_the_format_does_not_define(apache_factory):
    bad = POLICY.replace("format: imagekit\n", "format: imagekit\n    alg: hmac-sha256\n")
    s = apache_factory("formats-bad", FMT_CONF, policies={"fmt.yaml": bad}, files={}, start=False)
    keys = s.policy_dir / "keys"
    write_key(keys / "k2026.key", K2026)
    for f in ("imagekit.secret", "nginx.secret", "bunny.secret"):
        write_key(keys / f, "some-secret-for-the-test\n")
    rc, out = s.configtest()
    assert rc != 0
    assert "format imagekit signs with hmac-sha1, not hmac-sha256" in out
    assert re.search(r"fmt\.yaml:\d+:\d+", out), out
