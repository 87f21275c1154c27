"""Signed links (docs/token-spec.md) against a real Apache: links minted by
`mgctl sign` are served or refused with the right reason, for every claim,
both HMAC and Ed25519, query and cookie tokens, Range requests and a key
rotation through graceful restarts."""

import re
import select
import subprocess
import time
import pytest

JPEG = b"\xff\xd8\xff\xe0 not really a jpeg, but long enough for a range" * 4
MP4 = bytes(range(256)) * 8
K2025 = "mg-hmac-sha256:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n"
K2026 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"
ED_PRIV = ("-----BEGIN PRIVATE KEY-----\n"
           "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
           "-----END PRIVATE KEY-----\n")
ED_PUB = ("-----BEGIN PUBLIC KEY-----\n"
          "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
          "-----END PUBLIC KEY-----\n")

POLICY = """\
version: 1
name: tok
keys:
  - id: k2026
    file: keys/k2026.key
    sign: true
  - id: ed1
    alg: ed25519
    file: keys/ed1.pub
tokens:
  grace: 5m
  clock_skew: 30s
  cookie: mg_token
rules:
  - id: photos
    path: /photos/
    token: required
  - id: videos
    path: /videos/
    token: required
  - id: img
    path: /img/
    token: required
  - id: gallery
    path: /gallery/
    token: alternative
    access: {anonymous: view}
"""

CONF = """\
MediaGuardPolicy tok @POLICIES@/tok.yaml
MediaGuardReasonHeader On
<LocationMatch "^/(photos|videos|gallery)/">
    Require media-guard tok
</LocationMatch>
<Location "/img/">
    Require media-guard tok
</Location>
ProxyPass "/img/" "@BACKEND@/img/"
"""

FILES = {
    "photos/a.jpg": JPEG,
    "photos/b.jpg": JPEG,
    "videos/lesson1/index.m3u8": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n",
    "videos/lesson1/720p/index.m3u8": "#EXTM3U\nseg-1.ts\nseg-2.ts\n",
    "videos/lesson1/720p/seg-1.ts": MP4,
    "videos/lesson1/720p/seg-2.ts": MP4,
    "videos/lesson10/seg-1.ts": MP4,
    "videos/lesson2/seg-1.ts": MP4,
    "videos/film.mp4": MP4,
    "gallery/v.jpg": JPEG,
}


def write_key(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def start_server(apache_factory, name, policy, keys):
    srv = apache_factory(name, CONF, policies={"tok.yaml": policy}, files=FILES,
                         extra_modules=["proxy", "proxy_http"], start=False)
    for fname, text in keys.items():
        write_key(srv.policy_dir / "keys" / fname, text)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = start_server(apache_factory, "tokens", POLICY,
                     {"k2026.key": K2026, "ed1.pub": ED_PUB})
    write_key(s.root / "signer" / "ed1.key", ED_PRIV)
    return s


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    """sign(url, *options) -> signed URL, with the policy's signing key."""
    def run(url, *opts, key=None):
        keyopts = (["--policy", srv.policy_dir / "tok.yaml"] if key is None
                   else ["--key-file", srv.root / "signer" / f"{key}.key", "--key-id", key])
        p = mgctl("sign", *keyopts, *opts, url)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    return run


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def reason(r):
    """The reason of a denial (MediaGuardReasonHeader On)."""
    return r.headers.get("X-Media-Guard-Reason")


def assert_denied(r, why):
    assert r.status_code == 403, (r.status_code, reason(r))
    assert reason(r) == why


# ---------------------------------------------------------------- basics

def test_valid_link_is_served(srv, sign):
    url = sign("/photos/a.jpg", "--ttl", "10m")
    r = srv.get(url)
    assert r.status_code == 200, reason(r)
    assert r.content == JPEG
    assert "reason=allowed-by-token rule=photos" in srv.last_access("/photos/a.jpg?mg_")


def test_sign_as_a_coprocess_answers_each_path_before_the_next(srv, mgctl):
    """An application keeps one `mgctl sign` running, writes a path, waits for
    its link and serves it before it sends the next path: sign flushes each
    link before it waits for more input (a buffered link would never come).
    A missing link fails after 30 s instead of hanging the suite."""
    from conftest import MGCTL
    p = subprocess.Popen([str(MGCTL), "sign", "--policy", str(srv.policy_dir / "tok.yaml"),
                          "--ttl", "10m"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        for name in ("a.jpg", "b.jpg", "a.jpg"):
            p.stdin.write(f"/photos/{name}\n")
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], 30)
            assert ready, f"no link for /photos/{name} while sign waits for the next path"
            link = p.stdout.readline().strip()
            assert link.startswith(f"/photos/{name}?mg_exp="), link
            r = srv.get(link)
            assert r.status_code == 200, reason(r)
        p.stdin.close()
        assert p.wait(timeout=30) == 0, p.stderr.read()
        assert p.stdout.read() == ""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_link_without_token_is_token_missing(srv):
    assert_denied(srv.get("/photos/a.jpg"), "token-missing")


def test_tampered_path_expiry_and_signature_are_bad_signature(srv, sign):
    url = sign("/photos/a.jpg", "--ttl", "10m")
    assert_denied(srv.get(url.replace("a.jpg", "b.jpg")), "token-bad-signature")
    exp = re.search(r"mg_exp=(\d+)", url).group(1)
    assert_denied(srv.get(url.replace(exp, str(int(exp) + 86400))), "token-bad-signature")
    sig = url.rsplit("=", 1)[1]
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
    assert_denied(srv.get(url.replace(sig, flipped)), "token-bad-signature")
    # another loaded key's id: the signature no longer matches
    assert_denied(srv.get(url.replace("mg_kid=k2026", "mg_kid=ed1")), "token-bad-signature")


def test_unknown_key_id_is_token_unknown_key(srv, sign):
    url = sign("/photos/a.jpg", "--ttl", "10m")
    assert_denied(srv.get(url.replace("mg_kid=k2026", "mg_kid=k1999")), "token-unknown-key")


def test_malformed_tokens_are_token_malformed(srv, sign):
    url = sign("/photos/a.jpg", "--ttl", "10m")
    assert_denied(srv.get(url + "&mg_exp=1"), "token-malformed")
    assert_denied(srv.get(url + "&mg_v=2"), "token-malformed")
    assert_denied(srv.get(url[: url.rindex("=") + 1] + "not*base64"), "token-malformed")


def test_another_spelling_of_the_signed_url_is_served(srv, sign):
    url = sign("/photos/a.jpg?b=2&a=1", "--ttl", "10m")
    path, query = url.split("?", 1)
    params = query.split("&")
    respelled = "/photos/./x/../%61.jpg?" + "&".join(reversed(params))
    r = srv.raw(respelled)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")


# ---------------------------------------------------------------- transformations

def test_transformation_is_covered_by_the_signature(srv, sign, origin):
    url = sign("/img/tr:w-500,h-500,oi-logo.png/a.jpg", "--ttl", "10m")
    assert "/img/tr:h-500,oi-logo.png,w-500/a.jpg?" in url
    r = srv.get(url)
    assert r.status_code == 200, reason(r)
    assert r.text.startswith("origin:/img/tr:h-500,oi-logo.png,w-500/a.jpg")
    # removing the watermark overlay breaks the link
    assert_denied(srv.get(url.replace("h-500,oi-logo.png,w-500", "h-500,w-500")),
                  "token-bad-signature")
    # moving the transformation into the query breaks it too
    moved = url.replace("/tr:h-500,oi-logo.png,w-500", "").replace("?", "?tr=h-500,oi-logo.png,w-500&")
    assert_denied(srv.get(moved), "token-bad-signature")


def test_query_form_transformation_is_covered(srv, sign, origin):
    url = sign("/img/a.jpg?tr=w-300,h-300", "--ttl", "10m")
    assert srv.get(url).status_code == 200
    assert_denied(srv.get(url.replace("tr=h-300,w-300", "tr=h-300,w-3000")),
                  "token-bad-signature")


# ---------------------------------------------------------------- time

def test_expired_beyond_grace_is_refused(srv, sign):
    now = int(time.time())
    url = sign("/photos/a.jpg", "--now", iso(now - 3600), "--ttl", "10m")
    assert_denied(srv.get(url), "token-expired")


def test_expired_within_grace_is_served(srv, sign, mgctl):
    now = int(time.time())
    url = sign("/photos/a.jpg", "--now", iso(now - 720), "--ttl", "10m")  # expired 2 min ago
    r = srv.get(url)
    assert r.status_code == 200, reason(r)
    v = mgctl("verify", "--policy", srv.policy_dir / "tok.yaml", url)
    assert v.returncode == 0 and "in-grace: yes" in v.stdout, v.stdout


def test_not_yet_valid_link_is_refused(srv, sign):
    now = int(time.time())
    url = sign("/photos/a.jpg", "--ttl", "2h", "--not-before", iso(now + 3600))
    assert_denied(srv.get(url), "token-not-yet-valid")


def test_end_of_month_links_are_identical_within_a_month_and_differ_across(srv, sign):
    a = sign("/photos/a.jpg", "--expires", "end-of-month", "--tz", "Europe/Berlin",
             "--now", "2026-03-02T08:00:00Z")
    b = sign("/photos/a.jpg", "--expires", "end-of-month", "--tz", "Europe/Berlin",
             "--now", "2026-03-31T21:30:00Z")
    c = sign("/photos/a.jpg", "--expires", "end-of-month", "--tz", "Europe/Berlin",
             "--now", "2026-03-31T22:30:00Z")  # already April in Berlin
    assert a == b
    assert a != c
    assert "mg_exp=1774994399" in a  # 2026-03-31T23:59:59+02:00
    current = sign("/photos/a.jpg", "--expires", "end-of-month", "--tz", "Europe/Berlin")
    assert current == sign("/photos/a.jpg", "--expires", "end-of-month", "--tz", "Europe/Berlin")
    assert srv.get(current).status_code == 200


# ---------------------------------------------------------------- binding and scope

def test_ip_bound_link_works_only_from_that_address(srv, sign):
    ok = sign("/photos/a.jpg", "--ttl", "10m", "--ip", "127.0.0.1")
    assert srv.get(ok).status_code == 200
    block = sign("/photos/a.jpg", "--ttl", "10m", "--ip", "127.0.0.0/8")
    assert srv.get(block).status_code == 200
    other = sign("/photos/a.jpg", "--ttl", "10m", "--ip", "192.0.2.1")
    assert_denied(srv.get(other), "token-wrong-ip")


def test_prefix_token_serves_a_whole_hls_rendition(srv, sign):
    url = sign("/videos/lesson1/index.m3u8", "--ttl", "10m", "--prefix", "/videos/lesson1/")
    token = url.split("?", 1)[1]
    for path in ("/videos/lesson1/index.m3u8", "/videos/lesson1/720p/index.m3u8",
                 "/videos/lesson1/720p/seg-1.ts", "/videos/lesson1/720p/seg-2.ts"):
        r = srv.get(path + "?" + token)
        assert r.status_code == 200, (path, reason(r))
    assert_denied(srv.get("/videos/lesson2/seg-1.ts?" + token), "token-out-of-scope")
    assert_denied(srv.get("/videos/lesson10/seg-1.ts?" + token), "token-out-of-scope")
    # widening the scope breaks the signature
    wider = token.replace("mg_scope=/videos/lesson1/", "mg_scope=/videos/")
    assert_denied(srv.get("/videos/lesson2/seg-1.ts?" + wider), "token-bad-signature")


def test_signed_cookie_serves_segments_without_query_strings(srv, mgctl):
    p = mgctl("sign", "--policy", srv.policy_dir / "tok.yaml", "--ttl", "10m", "--cookie",
              "--prefix", "/videos/lesson1/")
    assert p.returncode == 0, p.stderr
    set_cookie = p.stdout.strip()
    assert "; Path=/videos/lesson1/;" in set_cookie and "HttpOnly" in set_cookie
    pair = set_cookie.split(";", 1)[0]
    assert pair.startswith("mg_token=")
    r = srv.get("/videos/lesson1/720p/seg-1.ts", headers={"Cookie": "theme=dark; " + pair})
    assert r.status_code == 200, reason(r)
    assert_denied(srv.get("/videos/lesson2/seg-1.ts", headers={"Cookie": pair}),
                  "token-out-of-scope")
    assert_denied(srv.get("/videos/lesson1/720p/seg-1.ts"), "token-missing")
    tampered = pair.replace("lesson1", "lesson2")
    assert_denied(srv.get("/videos/lesson2/seg-1.ts", headers={"Cookie": tampered}),
                  "token-bad-signature")


# ---------------------------------------------------------------- Ed25519, Range

def test_ed25519_link_verifies_with_the_public_key_and_ranges_work(srv, sign):
    url = sign("/videos/film.mp4", "--ttl", "10m", key="ed1")
    assert "mg_kid=ed1" in url and len(url.rsplit("=", 1)[1]) == 86
    assert srv.get(url).status_code == 200
    for start in (0, 100, 1000, 2000):  # a player seeking: the later checks hit the cache
        r = srv.get(url, headers={"Range": f"bytes={start}-{start + 9}"})
        assert r.status_code == 206, reason(r)
        assert r.content == MP4[start:start + 10]
    assert_denied(srv.get(url.replace("film.mp4", "film2.mp4")), "token-bad-signature")


def test_range_request_with_hmac_link_gets_206(srv, sign):
    url = sign("/photos/a.jpg", "--ttl", "10m")
    r = srv.get(url, headers={"Range": "bytes=0-3"})
    assert r.status_code == 206
    assert r.content == JPEG[:4]


# ---------------------------------------------------------------- access claim

def test_download_claim_grants_download_of_a_view_only_asset(srv, sign):
    assert srv.get("/gallery/v.jpg").status_code == 200
    assert_denied(srv.get("/gallery/v.jpg?download=1"), "download-not-allowed")
    view = sign("/gallery/v.jpg?download=1", "--ttl", "10m")
    assert_denied(srv.get(view), "download-not-allowed")
    dl = sign("/gallery/v.jpg?download=1", "--ttl", "10m", "--access", "download")
    r = srv.get(dl)
    assert r.status_code == 200, reason(r)
    assert r.headers["Content-Disposition"].startswith("attachment")
    # a view link cannot be turned into a download by adding the parameter
    plain = sign("/gallery/v.jpg", "--ttl", "10m")
    assert_denied(srv.get(plain + "&download=1"), "token-bad-signature")


def test_mgctl_verify_agrees_with_apache(srv, sign, mgctl):
    now = int(time.time())
    links = [sign("/photos/a.jpg", "--ttl", "10m"),
             sign("/photos/a.jpg", "--now", iso(now - 3600), "--ttl", "10m"),
             sign("/photos/a.jpg", "--ttl", "10m", "--ip", "192.0.2.1")]
    links.append(links[0].replace("a.jpg", "b.jpg"))
    for url in links:
        r = srv.get(url)
        v = mgctl("verify", "--policy", srv.policy_dir / "tok.yaml", "--ip", "127.0.0.1", url)
        got = re.search(r"^reason: (\S+)", v.stdout, re.M).group(1)
        apache = "allowed-by-token" if r.status_code == 200 else reason(r)
        assert got == apache, (url, v.stdout)
        assert (v.returncode == 0) == (r.status_code == 200)


def test_key_and_algorithm_confusion_is_refused_and_mgctl_verify_agrees(srv, sign, mgctl):
    """The algorithm comes from the key, never the link: a signature of the
    other algorithm, or a key id spelt another way, never verifies, and mgctl
    verify says exactly what Apache says (red team 22)."""
    hmac = sign("/videos/film.mp4", "--ttl", "10m")
    ed = sign("/videos/film.mp4", "--ttl", "10m", key="ed1")
    hsig, esig = hmac.rsplit("mg_sig=", 1)[1], ed.rsplit("mg_sig=", 1)[1]
    cases = [
        # an Ed25519 signature under the HMAC key id, and the other way round
        (hmac.replace(hsig, esig), "token-bad-signature"),
        (ed.replace(esig, hsig), "token-bad-signature"),
        # the HMAC tag cut to an Ed25519-looking length, or padded
        (hmac + "AAAA", "token-bad-signature"),
        (hmac + "=", "token-malformed"),
        # key ids are compared byte for byte
        (hmac.replace("mg_kid=k2026", "mg_kid=K2026"), "token-unknown-key"),
        (hmac.replace("mg_kid=k2026", "mg_kid="), "token-unknown-key"),
        (hmac.replace("mg_kid=k2026", "mg_kid=k2026."), "token-unknown-key"),
        (hmac.replace("mg_kid=k2026", "mg_kid=" + "k" * 65), "token-unknown-key"),
        (hmac.replace("mg_kid=k2026", "mg_kid=k%32026"), "allowed-by-token"),
        (hmac.replace("mg_kid=k2026", "mg_kid=k2026&mg_kid=ed1"), "token-malformed"),
    ]
    for url, want in cases:
        r = srv.raw(url)
        apache = "allowed-by-token" if r.status_code == 200 else reason(r)
        v = mgctl("verify", "--policy", srv.policy_dir / "tok.yaml", "--ip", "127.0.0.1", url)
        got = re.search(r"^reason: (\S+)", v.stdout, re.M).group(1)
        assert (apache, got) == (want, want), url


# ---------------------------------------------------------------- rotation

ROT_V1 = """\
version: 1
name: tok
keys:
  - {id: k2025, file: keys/k2025.key, sign: true}
rules:
  - {id: photos, path: /photos/, token: required}
  - {id: videos, path: /videos/, token: required}
  - {id: img, path: /img/, token: required}
  - {id: gallery, path: /gallery/, token: required}
"""
ROT_V2 = ROT_V1.replace("""  - {id: k2025, file: keys/k2025.key, sign: true}
""", """  - {id: k2025, file: keys/k2025.key}
  - {id: k2026, file: keys/k2026.key, sign: true}
""")
ROT_V3 = ROT_V1.replace("""  - {id: k2025, file: keys/k2025.key, sign: true}
""", """  - {id: k2026, file: keys/k2026.key, sign: true}
""")


def test_key_rotation_without_downtime(apache_factory, mgctl):
    srv = start_server(apache_factory, "rotation", ROT_V1,
                       {"k2025.key": K2025, "k2026.key": K2026})
    policy = srv.policy_dir / "tok.yaml"

    def mint():
        p = mgctl("sign", "--policy", policy, "--ttl", "1h", "/photos/a.jpg")
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    old = mint()
    assert "mg_kid=k2025" in old
    assert srv.get(old).status_code == 200
    srv.graceful(new_policies={"tok.yaml": ROT_V2})  # add k2026, it signs from now on
    new = mint()
    assert "mg_kid=k2026" in new
    assert srv.get(old).status_code == 200  # old links keep working
    assert srv.get(new).status_code == 200
    srv.graceful(new_policies={"tok.yaml": ROT_V3})  # retire k2025
    assert_denied(srv.get(old), "token-unknown-key")
    assert srv.get(new).status_code == 200
