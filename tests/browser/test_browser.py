"""What a person sees in a real browser (headless Chromium) when pages on other
origins embed or link media that mod_media_guard protects.

Three origins on loopback, all plain HTTP (Chromium counts 127.0.0.0/8 as
potentially trustworthy, so it sends Fetch Metadata as it does to HTTPS):

  media    http://127.0.0.1:M    the protected server; also its own pages
  foreign  http://127.0.0.2:P    another site (not allowed)
  partner  http://127.0.0.3:P    a partner listed in allowed_origins
  sibling  http://127.0.0.1:P    the same host on another port: another site

and the same servers as media.test, foreign.test and partner.test (Chromium
maps them to those addresses): not localhost, so Chromium sends no Fetch
Metadata there, as to any plain-HTTP site, and the module falls back to
Origin/Referer and Accept.

Every case asserts what the page shows (an image's naturalWidth, a video's
currentTime and readyState, the URL the browser ends on) and what the module
decided (the access log), and saves a screenshot under the test's tmp_path.
"""

import base64
import html
import os
import re
import subprocess
import urllib.parse

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import mg_integration_harness as harness
from conftest import image_state, wait_for

PHOTO_W, PHOTO_H = 64, 48

POLICY = """\
version: 1
name: browser
default: deny
login: {url: /signin}
roles: [member]
identity:
  users: {alice: [member]}
keys:
  - {id: k1, file: keys/k1.key, sign: true}
  # links and cookies already in the wild (docs/token-formats.md)
  - {id: gc, format: gcp-cdn, file: keys/gcp.secret, options: {origin: "http://127.0.0.1:@PORT@"}}
  - {id: ak, format: akamai-edgeauth, file: keys/akamai.hex}
tokens: {cookie: mg_token}
hotlink:
  site:                       # anyone may open it; this site and the partner embed it
    allowed_origins: ["http://127.0.0.3:@PAGES@"]
    navigation: allow
  insist:                     # the combination issue 11 shipped: the browser blocks the partner
    allowed_origins: ["http://127.0.0.3:@PAGES@"]
    corp: same-origin
  closed: {}                  # navigation: check, no partners
rules:
  - {id: photos, path: /photos/, classes: [image], hotlink: site, access: {anonymous: view}}
  - {id: insist, path: /insist/, classes: [image], hotlink: insist, access: {anonymous: view}}
  - {id: closed, path: /closed/, classes: [image], hotlink: closed, access: {anonymous: view}}
  - id: members
    path: /members/
    classes: [image]
    access: {anonymous: none, member: view}
  - {id: videos, path: /videos/, hotlink: site, token: required}
  - {id: hls, path: /hls/, hotlink: site, token: required}
  - {id: cdn, path: /cdn/, hotlink: site, token: required}
  # HLS under prefix query links, MediaGuardHLSRewrite carrying them onwards
  - {id: vod, path: /vod/, hotlink: site, token: required}
"""

# CloudFront's keys read Expires and Signature as Cloud CDN's do, and Bunny's
# expires differs from them in case only: neither may share a policy with the
# gcp-cdn key, so /vod/cf/ and /vod/bn/ each have one of their own
SOLO_POLICY = """\
version: 1
name: browser@D@
keys:
  - @KEY@
rules:
  - {id: vod, path: /vod/, token: required}
"""
SOLO_KEYS = {
    "cf": '{id: cf, format: cloudfront, file: keys/cf.pub, '
          'options: {origin: "http://127.0.0.1:@PORT@", key_pair_id: K2JCJMDEHXQW5F}}',
    "bn": "{id: bn, format: bunny, file: keys/bunny.secret}",
}

MEDIA_CONF = """\
MediaGuardPolicy browser @POLICIES@/browser.yaml
MediaGuardPolicy browsercf @POLICIES@/browsercf.yaml
MediaGuardPolicy browserbn @POLICIES@/browserbn.yaml
# what Chromium sent, for the corpus check below (tab-separated)
LogFormat "%U\t%{Accept}i\t%{Sec-Fetch-Site}i\t%{Sec-Fetch-Mode}i\t%{Sec-Fetch-Dest}i\t%{Sec-Fetch-User}i\t%{Referer}i\t%{Origin}i" fetchmeta
CustomLog "@ROOT@/logs/headers.log" fetchmeta
MediaGuardReasonHeader On
AddType application/vnd.apple.mpegurl .m3u8
AddType video/mp2t .ts
AddType image/vnd.microsoft.icon .ico
<LocationMatch "^/(photos|insist|closed|members|videos|hls|cdn|vod)/">
    AuthType Basic
    AuthName "media-guard browser test"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    AuthzSendForbiddenOnFailure On
    Require media-guard browser
</LocationMatch>
# the demo's stand-in login page (demo/site/signin.html)
Alias "/signin" "@HTDOCS@/signin.html"
<Location "/signin">
    AuthType Basic
    AuthName "media-guard browser test"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    Require valid-user
</Location>
# the site hands the player its signed cookie with the watch page
<Location "/watch.html">
    Header set Set-Cookie "@COOKIE@"
</Location>
# a site that came from Google Cloud CDN and Akamai: its pages still hand out
# their signed cookies, made by mgctl sign --token-format F --cookie
<Location "/cdnwatch.html">
    Header set Set-Cookie "@GCP_COOKIE@"
</Location>
<Location "/akamai.html">
    Header set Set-Cookie "@AKAMAI_COOKIE@"
</Location>
# playlists fetched with a prefix link in the query carry it onwards, except
# under /vod/off/ (the negative case: the player asks for bare URIs)
<Location "/vod/">
    MediaGuardHLSRewrite On
</Location>
<Location "/vod/off/">
    MediaGuardHLSRewrite Off
</Location>
<Location "/vod/cf/">
    Require media-guard browsercf
</Location>
<Location "/vod/bn/">
    Require media-guard browserbn
</Location>
"""

# The other sites: one Apache answering on three addresses.
PAGES_CONF = """\
Listen 127.0.0.2:@PORT@
Listen 127.0.0.3:@PORT@
"""

EMBED_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
<img id="photo" src="{media}/photos/photo.png" alt="photo">
<img id="insist" src="{media}/insist/photo.png" alt="insist">
<p><a id="link" href="{media}/photos/photo.png">open the photo</a>
<a id="closed-link" href="{media}/closed/photo.png">open the closed photo</a></p>
<iframe id="frame" src="{media}/photos/framed.png" width="100" height="80"></iframe>
</body></html>
"""

OWN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>own page</title></head>
<body><img id="photo" src="/photos/photo.png" alt="photo">
<img id="icon" src="/photos/icon.ico" alt="icon">
<img id="closed" src="/closed/photo.png" alt="closed"></body></html>
"""

# A foreign page that sends no Referer (a hotlinker hiding itself)
NOREF_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>no referrer</title>
<meta name="referrer" content="no-referrer"></head>
<body><img id="photo" src="{media}/photos/photo.png" alt="photo">
<img id="closed" src="{media}/closed/photo.png" alt="closed"></body></html>
"""

AKAMAI_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>akamai</title></head>
<body><img id="photo" src="/cdn/img/photo.png" alt="photo">
<img id="other" src="/cdn/other/photo.png" alt="other"></body></html>
"""

# the multivariant playlist of the /vod/ streams: one H.264 variant in v0/
# (Constrained Baseline, level 1.0, as ffmpeg makes it below) with its AAC
# audio rendition in a0/ (an EXT-X-MEDIA URI attribute)
VOD_MASTER = """\
#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="tone",DEFAULT=YES,AUTOSELECT=YES,URI="a0/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=150000,RESOLUTION=160x120,CODECS="avc1.42c00a,mp4a.40.2",AUDIO="aud"
v0/index.m3u8
"""
VOD_PLAYLISTS = ["v0/index.m3u8", "a0/index.m3u8"]  # what VOD_MASTER names

# /vod/DIR/ for each kind of prefix query link (mgctl sign --token-format)
# and the layout of its video variant: "seg" files, or "range"s of one file
# (EXT-X-BYTERANGE: the same URI on every segment line)
VOD_CASES = {"mg": (None, "seg"), "gcp": ("gcp-cdn", "seg"),
             "akamai": ("akamai-edgeauth", "seg"), "cf": ("cloudfront", "seg"),
             "bn": ("bunny", "seg"), "range": (None, "range")}

# fragmented MP4 HLS (-hls_segment_type fmp4): the media playlist names its
# init segment with EXT-X-MAP:URI="init.mp4" and its media segments seg*.m4s.
# One H.264 variant; /vod/DIR/ for a native prefix link and an Akamai ACL one
FMP4_MASTER = """\
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-STREAM-INF:BANDWIDTH=150000,RESOLUTION=160x120,CODECS="avc1.42c00a"
v0/index.m3u8
"""
FMP4_CASES = {"fm": None, "fmak": "akamai-edgeauth"}

VIDEO_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>video</title></head>
<body><video id="v" src="{src}" muted preload="auto" width="320"></video></body></html>
"""


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   timeout=120)


@pytest.fixture(scope="module")
def sites(apache_factory, mgctl, tmp_path_factory):
    work = tmp_path_factory.mktemp("media")
    # real media made at test time (never committed): a PNG, an icon, a
    # 6-second VP8 WebM with a key frame every second, and an H.264 HLS VOD
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={PHOTO_W}x{PHOTO_H}", "-frames:v", "1",
           str(work / "photo.png"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32", "-frames:v", "1", str(work / "icon.ico"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "6", "-c:v", "libvpx",
           "-g", "10", "-b:v", "200k", str(work / "clip.webm"))
    hls = work / "hls"
    hls.mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "4", "-c:v", "libx264",
           "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "10", "-f", "hls",
           "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_segment_filename",
           str(hls / "seg%d.ts"), str(hls / "index.m3u8"))
    # the variants of the /vod/ streams: the same, encrypted (AES-128, its key
    # at the relative URI "k.bin": EXT-X-KEY), so the key is fetched too; in
    # segment files, or as byte ranges of one file
    (work / "k.bin").write_bytes(os.urandom(16))
    (work / "keyinfo").write_text(f"k.bin\n{work / 'k.bin'}\n")
    for layout, how in (("seg", ["-hls_segment_filename", str(work / "seg" / "seg%d.ts")]),
                        ("range", ["-hls_flags", "single_file"])):
        (work / layout).mkdir()
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "4", "-c:v", "libx264",
               "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "10", "-f", "hls",
               "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_key_info_file",
               str(work / "keyinfo"), *how, str(work / layout / "index.m3u8"))
    (work / "fmp4").mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "4", "-c:v", "libx264",
           "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "10", "-f", "hls",
           "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
           "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename",
           str(work / "fmp4" / "seg%d.m4s"), str(work / "fmp4" / "index.m3u8"))
    (work / "a0").mkdir()
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "4", "-c:a", "aac",
           "-b:a", "64k", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
           "-hls_segment_filename", str(work / "a0" / "seg%d.ts"), str(work / "a0" / "index.m3u8"))

    pages = apache_factory("pages", PAGES_CONF, start=False)
    keys = {"keys/k1.key": "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
            "keys/gcp.secret": "nZtRohdNF9m3cKM24IcK4w==\n",
            "keys/akamai.hex": "52a1" * 8 + "\n"}
    policy = POLICY.replace("@PAGES@", str(pages.port))
    files = {
        "photos/photo.png": (work / "photo.png").read_bytes(),
        "photos/icon.ico": (work / "icon.ico").read_bytes(),
        "photos/framed.png": (work / "photo.png").read_bytes(),
        "insist/photo.png": (work / "photo.png").read_bytes(),
        "closed/photo.png": (work / "photo.png").read_bytes(),
        "members/photo.png": (work / "photo.png").read_bytes(),
        "cdn/img/photo.png": (work / "photo.png").read_bytes(),
        "cdn/other/photo.png": (work / "photo.png").read_bytes(),
        "videos/clip.webm": (work / "clip.webm").read_bytes(),
        "page.html": OWN_PAGE,
        "signin.html": (harness.SRCDIR / "demo" / "site" / "signin.html").read_bytes(),
    }
    for f in hls.iterdir():
        files[f"hls/l1/{f.name}"] = f.read_bytes()
        files[f"cdn/hls/l1/{f.name}"] = f.read_bytes()
    for d, layout in [*((d, c[1]) for d, c in VOD_CASES.items()), ("off", "seg")]:
        files[f"vod/{d}/master.m3u8"] = VOD_MASTER
        files[f"vod/{d}/v0/k.bin"] = (work / "k.bin").read_bytes()
        for sub, src in (("v0", work / layout), ("a0", work / "a0")):
            text = (src / "index.m3u8").read_text()
            names = [ln for ln in text.splitlines() if ln[:1] not in ("", "#")]
            for name in ["index.m3u8", *names]:
                files[f"vod/{d}/{sub}/{name}"] = (src / name).read_bytes()
    for d in FMP4_CASES:
        files[f"vod/{d}/master.m3u8"] = FMP4_MASTER
        for f in (work / "fmp4").iterdir():
            files[f"vod/{d}/v0/{f.name}"] = f.read_bytes()
    # a CloudFront key pair: the policy holds the public half, mgctl signs
    # with the private one
    cf_key = rsa.generate_private_key(65537, 2048)
    (work / "cf.pem").write_bytes(cf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    keys["keys/cf.pub"] = cf_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    keys["keys/bunny.secret"] = "bunny-url-token-authentication-key\n"
    policies = {f"browser{d}.yaml": SOLO_POLICY.replace("@D@", d).replace("@KEY@", key)
                for d, key in SOLO_KEYS.items()}
    media = apache_factory("media", MEDIA_CONF,
                           policies={"browser.yaml": policy, **policies, **keys},
                           files=files, extra_modules=["headers"], start=False)
    harness.htpasswd(media.root / "htpasswd", {"alice": "alice-pw"})
    for k in ("k1.key", "gcp.secret", "akamai.hex", "cf.pub", "bunny.secret"):
        (media.policy_dir / "keys" / k).chmod(0o600)
    pol = media.policy_dir / "browser.yaml"

    def set_cookie(marker, *fmt, prefix):
        cookie = mgctl("sign", "--policy", pol, *fmt, "--ttl", "1h", "--prefix", prefix, "--cookie")
        assert cookie.returncode == 0, cookie.stderr
        value = re.sub(r"^Set-Cookie:\s*", "", cookie.stdout.strip())
        # mod_headers reads '%' as a format: the cookie's percent-encoding is doubled
        media.conf_snippet = media.conf_snippet.replace(
            marker, value.replace("%", "%%").replace('"', '\\"'))

    set_cookie("@COOKIE@", prefix="/hls/l1/")
    set_cookie("@GCP_COOKIE@", "--token-format", "gcp-cdn", prefix="/cdn/hls/l1/")
    set_cookie("@AKAMAI_COOKIE@", "--token-format", "akamai-edgeauth", prefix="/cdn/img/")
    media.write_conf()
    link = mgctl("sign", "--policy", pol, "--ttl", "1h", "/videos/clip.webm")
    assert link.returncode == 0, link.stderr
    base = f"http://127.0.0.1:{media.port}"

    def prefix_link(d, target, fmt=None):
        opts, policy_file = (("--token-format", fmt) if fmt else ()), pol
        if d in SOLO_KEYS:
            policy_file = media.policy_dir / f"browser{d}.yaml"
        if fmt == "cloudfront":
            opts += ("--private-key", work / "cf.pem")
        p = mgctl("sign", "--policy", policy_file, *opts, "--ttl", "1h", "--prefix",
                  f"/vod/{d}/", f"/vod/{d}/{target}")
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    for d, (fmt, _) in VOD_CASES.items():
        src = prefix_link(d, "master.m3u8", fmt)
        (media.htdocs / f"vod-{d}.html").write_text(VIDEO_PAGE.format(src=html.escape(src)))
    for d, fmt in FMP4_CASES.items():
        src = prefix_link(d, "master.m3u8", fmt)
        (media.htdocs / f"vod-{d}.html").write_text(VIDEO_PAGE.format(src=html.escape(src)))
    # the negative: the same native links where the playlists are not rewritten
    for page, target in (("vod-off.html", "master.m3u8"), ("vod-off-v0.html", "v0/index.m3u8")):
        src = prefix_link("off", target)
        (media.htdocs / page).write_text(VIDEO_PAGE.format(src=html.escape(src)))
    media_files = {
        "video.html": VIDEO_PAGE.format(src=link.stdout.strip()),
        "watch.html": VIDEO_PAGE.format(src="/hls/l1/index.m3u8"),
        "cdnwatch.html": VIDEO_PAGE.format(src="/cdn/hls/l1/index.m3u8"),
        "akamai.html": AKAMAI_PAGE,
    }
    for rel, text in media_files.items():
        (media.htdocs / rel).write_text(text)
    (pages.htdocs / "page.html").write_text(EMBED_PAGE.format(title="another site", media=base))
    # the same pages for names that are not localhost (no Fetch Metadata)
    named = f"http://media.test:{media.port}"
    (pages.htdocs / "named.html").write_text(EMBED_PAGE.format(title="another site", media=named))
    (pages.htdocs / "noref.html").write_text(NOREF_PAGE.format(media=named))
    media.start()
    pages.start()
    p = pages.port
    return {
        "media": media, "pages": pages, "base": base,
        "foreign": f"http://127.0.0.2:{p}", "partner": f"http://127.0.0.3:{p}",
        "sibling": f"http://127.0.0.1:{p}",
        "named_media": f"http://media.test:{media.port}",
        "named_foreign": f"http://foreign.test:{p}", "named_partner": f"http://partner.test:{p}",
    }


@pytest.fixture
def shot(browser, tmp_path):
    """Save a screenshot of the page when the test ends (pass or fail)."""
    yield
    path = tmp_path / "screenshot.png"
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")


MARKS = {}  # log -> its line count when the running test started


@pytest.fixture(autouse=True)
def log_marks(request):
    """Decisions and headers are read from the lines the running test caused."""
    MARKS.clear()
    if "sites" in request.fixturenames:
        root = request.getfixturevalue("sites")["media"].root / "logs"
        for name in ("access.log", "headers.log", "error.log"):
            f = root / name
            MARKS[name] = len(f.read_text().splitlines()) if f.exists() else 0


def _lines(srv, name):
    f = srv.root / "logs" / name
    return f.read_text(errors="replace").splitlines()[MARKS.get(name, 0):] if f.exists() else []


def _access_lines(srv, path, status=None):
    return [ln for ln in _lines(srv, "access.log")
            if (f" {path} HTTP/" in ln or f" {path}?" in ln)
            and (status is None or f" {status} " in ln)]


def decision(srv, path, *want, status=None):
    """The access-log line of this test's last request for path (and status).
    httpd writes it after the response, so wait until it is there and holds
    every `want` (a page may request the path more than once); then return it
    for the caller's assertion, whatever it holds."""
    def find():
        lines = _access_lines(srv, path, status)
        return lines[-1] if lines and all(w in lines[-1] for w in want) else None
    try:
        return wait_for(find, f"an access-log line for {path} with {want}", timeout=10)
    except AssertionError:
        lines = _access_lines(srv, path, status)
        return lines[-1] if lines else f"(no access-log line for {path} in this test)"


def open_page(browser, url):
    browser.get(url)
    wait_for(lambda: browser.execute_script("return document.readyState") == "complete",
             f"{url} to load")


# ---------------------------------------------------------------------------


def test_apache_warns_about_the_corp_that_blocks_the_partner(sites):
    rc, out = sites["media"].configtest()
    assert rc == 0, out
    assert "warning: corp: same-origin makes browsers refuse every embed" in out, out


def test_same_origin_embed_renders(browser, sites, shot):
    open_page(browser, sites["base"] + "/page.html")
    assert image_state(browser, "photo") == [PHOTO_W, PHOTO_H]
    line = decision(sites["media"], "/photos/photo.png", "mg=allow reason=allowed rule=photos")
    assert "mg=allow reason=allowed rule=photos" in line
    # .ico is in the built-in image class (issue 11 #5): the rule owns it
    assert image_state(browser, "icon") == [32, 32]
    line = decision(sites["media"], "/photos/icon.ico", "mg=allow reason=allowed rule=photos")
    assert "mg=allow reason=allowed rule=photos" in line
    # a profile without partners (corp derived: same-origin) still lets its own site embed
    assert image_state(browser, "closed") == [PHOTO_W, PHOTO_H]


def test_foreign_embed_is_refused(browser, sites, shot):
    open_page(browser, sites["foreign"] + "/page.html")
    assert image_state(browser, "photo") == [0, 0]
    line = decision(
        sites["media"], "/photos/photo.png", " 403 ", "mg=deny reason=hotlink rule=photos")
    assert " 403 " in line and "mg=deny reason=hotlink rule=photos" in line
    # an <iframe> navigates, but Sec-Fetch-Dest: iframe makes it an embed
    line = decision(
        sites["media"], "/photos/framed.png", " 403 ", "mg=deny reason=hotlink rule=photos")
    assert " 403 " in line and "mg=deny reason=hotlink rule=photos" in line
    assert sent_headers(sites["media"], "/photos/framed.png")["Sec-Fetch-Dest"] == "iframe"


def test_same_host_other_port_is_another_site(browser, sites, shot):
    # issue 11 #3: same_origin compared the host only, so this passed
    open_page(browser, sites["sibling"] + "/page.html")
    assert image_state(browser, "photo") == [0, 0]
    line = decision(
        sites["media"], "/photos/photo.png", " 403 ", "mg=deny reason=hotlink rule=photos")
    assert " 403 " in line and "mg=deny reason=hotlink rule=photos" in line


def test_partner_embed_renders(browser, sites, shot):
    open_page(browser, sites["partner"] + "/page.html")
    assert image_state(browser, "photo") == [PHOTO_W, PHOTO_H]
    line = decision(sites["media"], "/photos/photo.png", "mg=allow reason=allowed rule=photos")
    assert "mg=allow reason=allowed rule=photos" in line


def test_partner_embed_under_a_same_origin_corp_is_blocked_by_the_browser(browser, sites, shot):
    # issue 11 #1: the server grants (200), the browser refuses to show it;
    # mgctl validate and apache2 -t warn (corp-blocks-partners)
    open_page(browser, sites["partner"] + "/page.html")
    assert image_state(browser, "insist") == [0, 0]
    line = decision(
        sites["media"], "/insist/photo.png", " 200 ", "mg=allow reason=allowed rule=insist")
    assert " 200 " in line and "mg=allow reason=allowed rule=insist" in line


def test_link_from_a_foreign_page_opens_when_navigations_are_allowed(browser, sites, shot):
    open_page(browser, sites["foreign"] + "/page.html")
    browser.find_element("id", "link").click()
    target = sites["base"] + "/photos/photo.png"
    wait_for(lambda: browser.current_url == target, f"the browser to open {target}")
    # Chromium's image document: one <img> showing the file
    assert browser.execute_script(
        "var i = document.images[0]; return i && i.complete ? i.naturalWidth : -1") == PHOTO_W
    line = decision(
        sites["media"], "/photos/photo.png", " 200 ", "mg=allow reason=allowed rule=photos")
    assert " 200 " in line and "mg=allow reason=allowed rule=photos" in line


def test_the_corpus_replays_the_headers_chromium_sends(browser, sites, shot):
    """tests/adversarial/corpus.yaml nav-01 (a click) and nav-02 (an <img>) are
    Chromium's own headers: checked here against what it sends today."""
    corpus = {c["id"]: c for c in yaml.safe_load(
        (harness.SRCDIR / "tests" / "adversarial" / "corpus.yaml").read_text())}
    log = sites["media"].root / "logs" / "headers.log"
    mark = len(log.read_text().splitlines()) if log.exists() else 0
    open_page(browser, sites["foreign"] + "/page.html")
    image_state(browser, "photo")
    browser.find_element("id", "link").click()
    wait_for(lambda: browser.current_url.endswith("/photos/photo.png"), "the navigation")
    names = ["path", "Accept", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest",
             "Sec-Fetch-User", "Referer", "Origin"]

    def sent(dest):
        rows = [dict(zip(names, ln.split("\t"))) for ln in log.read_text().splitlines()[mark:]]
        return [r for r in rows if r["path"] == "/photos/photo.png" and r["Sec-Fetch-Dest"] == dest]
    for case_id, dest in (("nav-01", "document"), ("nav-02", "image")):
        got = wait_for(lambda: sent(dest), f"Chromium's {dest} request in the log")[-1]
        want = corpus[case_id]["headers"]
        for h in names[1:6]:
            assert got[h] == str(want.get(h, "-")), f"{case_id} {h}: Chromium sent {got[h]!r}"
        assert got["Referer"] == sites["foreign"] + "/" and got["Origin"] == "-"


def test_link_to_a_navigation_checked_profile_is_refused(browser, sites, shot):
    open_page(browser, sites["foreign"] + "/page.html")
    browser.find_element("id", "closed-link").click()
    wait_for(lambda: browser.current_url.endswith("/closed/photo.png"), "the navigation")
    line = decision(
        sites["media"], "/closed/photo.png", " 403 ", "mg=deny reason=hotlink rule=closed")
    assert " 403 " in line and "mg=deny reason=hotlink rule=closed" in line
    assert browser.execute_script("return document.images.length") == 0


def sent_headers(srv, path):
    """What the browser sent with this test's last request for path (headers.log,
    written just after the access-log line)."""
    names = ["path", "Accept", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest",
             "Sec-Fetch-User", "Referer", "Origin"]

    def rows():
        r = [dict(zip(names, ln.split("\t"))) for ln in _lines(srv, "headers.log")]
        r = [x for x in r if x["path"] == path]
        return r if r and len(r) >= len(_access_lines(srv, path)) else None
    return wait_for(rows, f"the headers of {path}")[-1]


# Plain HTTP to names that are not localhost: no Sec-Fetch-* at all, so the
# module falls back to Origin/Referer (embeds) and Accept (navigations).

def test_without_fetch_metadata_the_referer_decides(browser, sites, shot):
    media = sites["media"]
    open_page(browser, sites["named_foreign"] + "/named.html")
    assert image_state(browser, "photo") == [0, 0]
    line = decision(media, "/photos/photo.png", " 403 ", "mg=deny reason=hotlink rule=photos")
    assert " 403 " in line and "mg=deny reason=hotlink rule=photos" in line
    got = sent_headers(media, "/photos/photo.png")
    assert got["Sec-Fetch-Site"] == "-" and got["Referer"] == sites["named_foreign"] + "/"
    # The documented limit: without Fetch Metadata an <iframe> cannot be told
    # from a page (its Accept asks for HTML), so navigation: allow lets it in
    # (docs/policy.md: serve over HTTPS, or forbid framing with frame-ancestors)
    line = decision(media, "/photos/framed.png", " 200 ", "mg=allow reason=allowed rule=photos")
    assert " 200 " in line and "mg=allow reason=allowed rule=photos" in line
    assert sent_headers(media, "/photos/framed.png")["Sec-Fetch-Dest"] == "-"
    # the partner's name is not in allowed_origins (its address is): refused too
    open_page(browser, sites["named_partner"] + "/named.html")
    assert image_state(browser, "photo") == [0, 0]
    # this site's own page passes by same_origin (scheme, host and port)
    open_page(browser, sites["named_media"] + "/page.html")
    assert image_state(browser, "photo") == [PHOTO_W, PHOTO_H]
    got = sent_headers(media, "/photos/photo.png")
    assert got["Sec-Fetch-Site"] == "-" and got["Referer"] == sites["named_media"] + "/page.html"
    line = decision(media, "/photos/photo.png", "mg=allow reason=allowed rule=photos")
    assert "mg=allow reason=allowed rule=photos" in line


def test_without_fetch_metadata_a_link_opens_by_its_accept(browser, sites, shot):
    open_page(browser, sites["named_foreign"] + "/named.html")
    browser.find_element("id", "link").click()
    target = sites["named_media"] + "/photos/photo.png"
    wait_for(lambda: browser.current_url == target, f"the browser to open {target}")
    assert browser.execute_script(
        "var i = document.images[0]; return i && i.complete ? i.naturalWidth : -1") == PHOTO_W
    got = sent_headers(sites["media"], "/photos/photo.png")
    assert got["Sec-Fetch-Dest"] == "-" and got["Accept"].startswith("text/html")
    line = decision(
        sites["media"], "/photos/photo.png", " 200 ", "mg=allow reason=allowed rule=photos")
    assert " 200 " in line and "mg=allow reason=allowed rule=photos" in line


def test_a_hidden_referer_passes_the_server_and_the_derived_corp_stops_the_browser(
        browser, sites, shot):
    # empty_referer: allow lets a request without Referer through; the profile
    # without partners answers with CORP same-origin, and the browser refuses
    # to show it on the foreign page ("Hotlinking, explained")
    media = sites["media"]
    open_page(browser, sites["named_foreign"] + "/noref.html")
    assert image_state(browser, "closed") == [0, 0]
    line = decision(media, "/closed/photo.png", " 200 ", "mg=allow reason=allowed rule=closed")
    assert " 200 " in line and "mg=allow reason=allowed rule=closed" in line
    got = sent_headers(media, "/closed/photo.png")
    assert got["Referer"] == "-" and got["Sec-Fetch-Site"] == "-"
    r = media.get("/closed/photo.png")
    assert r.status_code == 200 and r.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_view_only_image_opens_inline_and_is_not_downloaded(browser, sites, shot):
    url = sites["base"] + "/photos/photo.png"
    open_page(browser, url)
    assert browser.current_url == url
    assert browser.execute_script("return document.images[0].naturalWidth") == PHOTO_W
    r = sites["media"].get("/photos/photo.png", headers={"Sec-Fetch-Site": "none"})
    assert r.headers["Content-Disposition"] == "inline"
    assert list(browser.download_dir.iterdir()) == []


def test_signed_video_plays_and_seeks(browser, sites, shot):
    open_page(browser, sites["base"] + "/video.html")
    js_state = ("var v = document.getElementById('v');"
                "return [v.readyState, v.currentTime, v.duration, v.error && v.error.code];")
    wait_for(lambda: browser.execute_script(js_state)[0] >= 2, "the video to have data")
    browser.execute_script("document.getElementById('v').play()")
    wait_for(lambda: browser.execute_script(js_state)[1] > 0.3, "the video to play")
    browser.execute_script(
        "var v = document.getElementById('v'); v.pause(); window.seeked = false;"
        "v.addEventListener('seeked', function () { window.seeked = true; }); v.currentTime = 4.5;")
    wait_for(lambda: browser.execute_script("return window.seeked"), "the seek to finish")
    ready, t, duration, err = browser.execute_script(js_state)
    assert err is None and ready >= 2 and 4.4 <= t <= duration
    # Chromium fetched the file in ranges, each decided by the token
    line = decision(sites["media"], "/videos/clip.webm",
                    "mg=allow reason=allowed-by-token rule=videos", status=206)
    assert "mg=allow reason=allowed-by-token rule=videos" in line


def play_stream(browser, url):
    """Open the watch page at url, play its <video> past 1.5 s, without an error."""
    open_page(browser, url)
    js_state = ("var v = document.getElementById('v');"
                "return [v.readyState, v.currentTime, v.error && v.error.code];")
    # a player that gives up (error set) fails at once, not at the timeout
    state = wait_for(lambda: (s := browser.execute_script(js_state))[0] >= 2 or s[2] and s,
                     "the stream to have data")
    assert state is True, f"the player gave up: readyState, currentTime, error = {state}"
    browser.execute_script("document.getElementById('v').play()")
    state = wait_for(lambda: (s := browser.execute_script(js_state))[1] > 1.5 or s[2] and s,
                     "the stream to play past 1.5 s")
    assert state is True, f"the player gave up: readyState, currentTime, error = {state}"
    assert browser.execute_script(js_state)[2] is None


def test_hls_with_a_signed_cookie_plays_natively(browser, sites, shot):
    native = browser.execute_script(
        "return document.createElement('video').canPlayType('application/vnd.apple.mpegurl')")
    assert native, ("this Chromium has no native HLS player (Chromium 141 and later have one): "
                    "the test needs hls.js (npm) instead")
    play_stream(browser, sites["base"] + "/watch.html")
    # playlist and segments carried no token in the URL: the cookie granted them
    for path in ("/hls/l1/index.m3u8", "/hls/l1/seg1.ts"):
        line = decision(sites["media"], path, "mg=allow reason=allowed-by-token rule=hls")
        assert "mg=allow reason=allowed-by-token rule=hls" in line and "mg_" not in line


def test_hls_under_a_cloud_cdn_cookie_plays(browser, sites, shot):
    """A page of a site that came from Google Cloud CDN sets its
    Cloud-CDN-Cookie (URLPrefix=…:Expires=…:KeyName=…:Signature=…, ':' and
    '=' in the value, Secure) on plain http://127.0.0.1: Chromium keeps it and
    sends it with the playlist and every segment."""
    play_stream(browser, sites["base"] + "/cdnwatch.html")
    # the cookie's Path is the prefix, so the page itself does not see it
    kept = browser.execute_cdp_cmd(
        "Network.getCookies", {"urls": [sites["base"] + "/cdn/hls/l1/index.m3u8"]})["cookies"]
    assert [(c["name"], c["path"], c["secure"], c["httpOnly"]) for c in kept] == [
        ("Cloud-CDN-Cookie", "/cdn/hls/l1/", True, True)], kept
    for path in ("/cdn/hls/l1/index.m3u8", "/cdn/hls/l1/seg1.ts"):
        line = decision(sites["media"], path, "mg=allow reason=allowed-by-token rule=cdn")
        assert "mg=allow reason=allowed-by-token rule=cdn" in line


def vod_uris(srv, d, playlist):
    """What a media playlist under /vod/<d>/ names, as paths: its key
    (EXT-X-KEY's URI attribute: the video's) and its segments' files."""
    text = (srv.htdocs / "vod" / d / playlist).read_text()
    keys = re.findall(r'^#EXT-X-KEY:.*URI="([^"]+)"', text, re.M)
    segs = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(segs) >= 3, text  # several segments
    assert keys == (["k.bin"] if playlist.startswith("v") else []), text  # the video encrypted
    base = f"/vod/{d}/" + playlist.rsplit("/", 1)[0] + "/"
    return [base + u for u in keys + sorted(set(segs))]


def vod_requests(srv, d):
    """This test's requests under /vod/<d>/ from the access log, in order:
    (path, query or None, status, the line)."""
    pat = re.compile(r'^\S+ (\d{3}) "GET (/vod/' + d + r'/[^ ?]*)(?:\?(\S*))? HTTP/')
    return [(m.group(2), m.group(3), m.group(1), ln)
            for ln in _lines(srv, "access.log") if (m := pat.search(ln))]


def vod_granted_by_link(media, d, vod, want, link, what):
    """Wait until the player has asked for every URL of `want`, then check
    that each request under /vod/<d>/ was one of them, carried the link's own
    parameters as received, and was granted by them (rule vod): a playlist
    whole (200), since a rewritten one is never a range; a segment as
    Chromium asked (it asks for everything with Range). Returns the requests."""
    wait_for(lambda: set(want) <= {r[0] for r in vod_requests(media, d)},
             f"requests for {what} under {vod}")
    reqs = vod_requests(media, d)
    for path, query, status, line in reqs:
        assert path in want, line
        assert query == link.query, line
        assert status == "200" if path.endswith(".m3u8") else status in ("200", "206"), line
        assert "mg=allow reason=allowed-by-token rule=vod" in line, line
    return reqs


def page_link(srv, page):
    """The signed playlist link the page's <video> plays (as the browser requests it)."""
    src = re.search(r'src="([^"]*)"', (srv.htdocs / page).read_text()).group(1)
    return urllib.parse.urlsplit(html.unescape(src))


@pytest.mark.parametrize("d", list(VOD_CASES))
def test_hls_under_a_prefix_query_link_plays(browser, sites, shot, d):
    """A master playlist opened with a prefix link in the query (mgctl sign
    --prefix, native or a foreign format): MediaGuardHLSRewrite hands its
    parameters to the variant playlist, its key and every segment (files, or
    byte ranges of one file), and the stream plays with nothing but the
    query to carry the token."""
    media, vod = sites["media"], f"/vod/{d}/"
    link = page_link(media, f"vod-{d}.html")
    assert link.path == vod + "master.m3u8" and link.query
    if VOD_CASES[d][0] is None:
        assert "mg_scope=" in link.query
    else:
        # no mg_* parameter name (a base64url signature may contain "mg_")
        assert not [kv for kv in link.query.split("&") if kv.startswith("mg_")]
        assert link.query.startswith(
            {"gcp": "URLPrefix=", "akamai": "__token__=", "cf": "Policy=", "bn": "token="}[d])
    play_stream(browser, sites["base"] + f"/vod-{d}.html")
    # the player buffers ahead: wait until it has asked for both media
    # playlists, the key and every segment
    want = [vod + "master.m3u8"] + [
        u for pl in VOD_PLAYLISTS for u in [vod + pl, *vod_uris(media, d, pl)]]
    # every request carried the link's own parameters, as received, in its
    # query (the rewriter's doing below the master) and was granted by them
    reqs = vod_granted_by_link(media, d, vod, want, link,
                               "the playlists, the key and every segment")
    for _, _, _, line in reqs:
        assert f"policy=browser{d if d in SOLO_KEYS else ''} " in line, line
    # ... and not by a cookie: the browser holds none for this path
    assert browser.execute_cdp_cmd(
        "Network.getCookies", {"urls": [sites["base"] + vod + "v0/seg0.ts"]})["cookies"] == []
    # the module rewrote each playlist it served (master, video and audio:
    # its line is written before the access log's, which was read above),
    # and logged the scope, never the token
    rewrites = [ln for ln in _lines(media, "error.log")
                if "media-guard HLS: playlist rewritten" in ln]
    assert len(rewrites) >= len([r for r in reqs if r[0].endswith(".m3u8")]) >= 3, rewrites
    assert all(f"for scope {vod} " in ln for ln in rewrites), rewrites
    assert not any(link.query in ln for ln in _lines(media, "error.log"))


def test_hls_query_link_without_the_rewrite_does_not_play(browser, sites, shot):
    """The same native prefix links under MediaGuardHLSRewrite Off: the player
    asks for the variant playlist and the segments without the token and is
    refused, so the stream never plays (what the test above would see if
    the rewrite stopped working)."""
    media = sites["media"]
    js_state = ("var v = document.getElementById('v');"
                "return [v.readyState, v.currentTime, v.error && v.error.code];")
    for page, refused in (("vod-off-v0.html", vod_uris(media, "off", "v0/index.m3u8")),
                          ("vod-off.html", ["/vod/off/" + pl for pl in VOD_PLAYLISTS])):
        link = page_link(media, page)
        open_page(browser, sites["base"] + "/" + page)
        browser.execute_script("document.getElementById('v').play().catch(function () {})")
        ready, t, err = wait_for(lambda: (s := browser.execute_script(js_state))[2] and s,
                                 f"{page}: the player to give up")
        assert err is not None and t == 0 and ready < 2, (page, ready, t, err)
        # the playlist of the link was granted by its token (Chromium asks
        # for a playlist with Range: 206 when nothing rewrites it) ...
        line = decision(media, link.path, "mg=allow reason=allowed-by-token rule=vod")
        assert f"{link.path}?{link.query} HTTP/" in line, line
        assert re.match(r"\S+ 20[06] ", line), line
        assert "mg=allow reason=allowed-by-token rule=vod" in line, line
        # ... and what it names (the variant or the audio; the key or a
        # segment, after which the player gives up) was asked for bare, and
        # refused
        bare = wait_for(lambda: [r for r in vod_requests(media, "off")
                                 if r[0] in refused and r[1] is None],
                        f"{page}: a request for {refused}")
        for _, _, status, line in bare:
            assert status == "403" and "mg=deny reason=token-missing rule=vod" in line, line
    # nothing under /vod/off/ was served but the two signed playlists
    served = [r for r in vod_requests(media, "off") if r[2] in ("200", "206")]
    assert sorted(r[0] for r in served) == ["/vod/off/master.m3u8", "/vod/off/v0/index.m3u8"]
    assert all(r[1] for r in served), served
    assert not [ln for ln in _lines(media, "error.log") if "media-guard HLS:" in ln]


@pytest.mark.parametrize("d", list(FMP4_CASES))
def test_fmp4_hls_under_a_prefix_query_link_plays(browser, sites, shot, d):
    """Fragmented-MP4 HLS: the media playlist's EXT-X-MAP names the init
    segment that every media segment needs. Opened with a prefix link in
    the query (native, or an Akamai ACL link), the rewritten playlists hand
    the link's parameters to the init segment and the .m4s segments, and
    the stream plays; the init segment asked for without them is refused."""
    media, vod = sites["media"], f"/vod/{d}/"
    link = page_link(media, f"vod-{d}.html")
    assert link.path == vod + "master.m3u8" and link.query
    assert ("mg_scope=" in link.query) if FMP4_CASES[d] is None else \
        (link.query.startswith("__token__=") and "mg_" not in link.query)
    stored = (media.htdocs / "vod" / d / "v0" / "index.m3u8").read_text()
    assert '#EXT-X-MAP:URI="init.mp4"\n' in stored, stored
    segs = [ln for ln in stored.splitlines() if ln and not ln.startswith("#")]
    assert len(segs) >= 3 and all(s.endswith(".m4s") for s in segs), stored
    play_stream(browser, sites["base"] + f"/vod-{d}.html")
    want = [vod + "master.m3u8", vod + "v0/index.m3u8", vod + "v0/init.mp4"] + \
        [vod + "v0/" + s for s in segs]
    reqs = vod_granted_by_link(media, d, vod, want, link,
                               "the playlists, the init segment and every segment")
    inits = [r for r in reqs if r[0] == vod + "v0/init.mp4"]
    assert inits and all(r[1] == link.query for r in inits), inits
    # both playlists were rewritten for the link's scope, and the token was
    # never logged
    rewrites = [ln for ln in _lines(media, "error.log")
                if "media-guard HLS: playlist rewritten" in ln]
    assert len(rewrites) >= 2 and all(f"for scope {vod} " in ln for ln in rewrites), rewrites
    assert not any(link.query in ln for ln in _lines(media, "error.log"))
    # the playlist the player was given: EXT-X-MAP's URI carries the link's
    # parameters exactly as they came (the file on disk has none), the
    # segments' too
    r = media.get(f"{vod}v0/index.m3u8?{link.query}")
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    want_text = stored.replace('URI="init.mp4"', f'URI="init.mp4?{link.query}"')
    for s in segs:
        want_text = want_text.replace(f"\n{s}\n", f"\n{s}?{link.query}\n")
    assert r.text == want_text

    # the init segment without the link's parameters: refused
    bare = media.get(vod + "v0/init.mp4", headers={"Range": "bytes=0-"})
    assert bare.status_code == 403 and bare.headers["X-Media-Guard-Reason"] == "token-missing"
    line = decision(media, vod + "v0/init.mp4", "mg=deny reason=token-missing rule=vod",
                    status=403)
    assert "mg=deny reason=token-missing rule=vod" in line, line


def test_images_under_an_akamai_cookie_show_inside_its_path_only(browser, sites, shot):
    """Akamai's __token__ cookie (exp=…~acl=/cdn/img/*~hmac=…, '~' '*' '/' in
    the value) grants what its cookie path and its ACL cover; the browser
    does not send it for another directory, which is refused."""
    open_page(browser, sites["base"] + "/akamai.html")
    assert image_state(browser, "photo") == [PHOTO_W, PHOTO_H]
    assert image_state(browser, "other") == [0, 0]
    line = decision(sites["media"], "/cdn/img/photo.png",
                    "mg=allow reason=allowed-by-token rule=cdn", status=200)
    assert "mg=allow reason=allowed-by-token rule=cdn" in line
    line = decision(sites["media"], "/cdn/other/photo.png",
                    "mg=deny reason=token-missing rule=cdn", status=403)
    assert "mg=deny reason=token-missing rule=cdn" in line


def test_login_redirect_round_trip(browser, sites, shot):
    base = sites["base"]
    target = base + "/members/photo.png"
    # a visitor opens a members-only photo: the module sends them to sign in
    open_page(browser, target)
    wait_for(lambda: "/signin?return_to=" in browser.current_url, "the login redirect")
    assert browser.current_url == base + "/signin?return_to=%2Fmembers%2Fphoto.png"
    line = decision(sites["media"], "/members/photo.png",
                    "mg=login reason=login-required rule=members")
    assert "mg=login reason=login-required rule=members" in line
    # They sign in. A person types the password into Chromium's Basic prompt,
    # and Chromium then sends it with every request to the site; headless
    # Chromium has no prompt, and credentials in the URL are used for that one
    # navigation only, so the test gives the browser the header the prompt
    # would have made it send (DevTools), and the sign-in page shows.
    token = base64.b64encode(b"alice:alice-pw").decode()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                            {"headers": {"Authorization": f"Basic {token}"}})
    try:
        browser.refresh()
        wait_for(lambda: "Signed in" in browser.title, "the sign-in page")
        line = decision(sites["media"], "/signin", "user=alice", status=200)
        assert "user=alice" in line
        # ... and the page's link takes them back to the photo, which now shows
        browser.find_element("id", "back").click()
        wait_for(lambda: browser.current_url == target, "the way back to the photo")
        assert browser.execute_script(
            "var i = document.images[0]; return i && i.complete ? i.naturalWidth : -1") == PHOTO_W
        line = decision(sites["media"], "/members/photo.png",
                        "mg=allow reason=allowed rule=members", "user=alice", status=200)
        assert "mg=allow reason=allowed rule=members" in line and "user=alice" in line
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
