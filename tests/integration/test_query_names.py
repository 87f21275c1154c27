"""Issue 14 against a real Apache in the shipped configuration (media_guard.conf):

- query-parameter names that the origin's server stack reads as `tr`, `mg_*` or
  the download parameter without being exactly them are refused (403 bad-url)
  before they reach a **real PHP origin** (`php -S` with a router that reads
  `$_GET['tr']`), a **real Rack 2 origin** (Debian's ruby-rack on WEBrick) or
  a **real Node origin** (`qs` from npm, Express's parser, and Node's
  `querystring`), and the ordinary forms keep working (the origin applies
  exactly the transformation the policy saw);
- a generated corpus of about 3,000 names around `tr` and `download` (every
  byte value, percent forms, brackets, dots, nesting, Unicode, long names,
  the parsers' parameter limits) goes through Apache once: whenever a real
  parser would read a `tr` or download value other than the one the policy
  checked, the module refused the request;
- a prefix token minted without a transformation cannot get one with `&+tr=`;
- refused proxied signed links (ProxyPass nocanon) leave no `mg_sig` in httpd's
  error log (authz_core's AH01630), and granted ones still reach the origin
  with their query;
- TRACE on a protected URL is refused (media_guard.conf ships TraceEnable Off).
"""

import json
import os
import shutil
import socket
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import requests

from conftest import SRCDIR, npm_ci, php_dev_server, ready_server

MEDIA_GUARD_CONF = SRCDIR / "mod_media_guard" / "media_guard.conf"
ORIGINS = SRCDIR / "tests" / "integration" / "origins"
NODE_CACHE = Path(os.environ.get("MG_NODE_ORIGINS_CACHE", SRCDIR / ".cache" / "test-origins"))
K1 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"

POLICY = """\
version: 1
default: deny
keys:
  - {id: k1, file: k1.key, sign: true}
transforms:
  wm:
    params:
      w: {max: 1000}
      oi: {values: [logo.png]}
    require: ["oi-logo.png"]
rules:
  - id: php
    path: /php/
    transforms: wm
    access: {anonymous: view}
  - id: rack
    path: /rack/
    transforms: wm
    access: {anonymous: view}
  - id: qs
    path: /qs/
    transforms: wm
    access: {anonymous: view}
  - id: signed
    path: /sphp/
    token: required
  - id: viewonly
    path: /vphp/
    access: {anonymous: view}
  - id: files
    path: /files/
    access: {anonymous: view}
"""

CONF = """\
Include "{media_guard_conf}"
MediaGuardPolicy q @POLICIES@/q.yaml
MediaGuardReasonHeader On
<LocationMatch "^/(php|rack|qs|sphp|vphp|files)/">
    Require media-guard q
</LocationMatch>
ProxyPass "/php/" "{php}/php/" nocanon
ProxyPass "/sphp/" "{php}/sphp/" nocanon
ProxyPass "/vphp/" "{php}/vphp/" nocanon
ProxyPass "/rack/" "{rack}/rack/"
ProxyPass "/qs/" "{qs}/qs/" nocanon
"""

# What an image server built on PHP does: $_GET['tr'] (an array's last item
# for tr[]/tr[0]), and whether it sends the file as a download; and what one
# that reads $_REQUEST gets (php -n: PHP's built-in defaults, request_order
# unset, so $_REQUEST is G, P, then C: a cookie overrides the query).
ROUTER = r"""<?php
if ($_SERVER['REQUEST_METHOD'] === 'POST' && $_SERVER['REQUEST_URI'] === '/parse') {
  /* the corpus check: parse_str (what fills $_GET) of each query */
  $out = [];
  foreach (json_decode(file_get_contents('php://input')) as $q) {
    $a = [];
    parse_str($q, $a);
    $out[] = ['get' => ['tr' => $a['tr'] ?? null, 'download' => $a['download'] ?? null]];
  }
  header('Content-Type: application/json');
  echo json_encode($out);
  return;
}
$tr = $_GET['tr'] ?? null;
if (is_array($tr)) { $tr = end($tr); }
$rtr = $_REQUEST['tr'] ?? null;
if (is_array($rtr)) { $rtr = end($rtr); }
header('Content-Type: application/json');
echo json_encode(['origin' => 'php', 'tr' => $tr, 'request_tr' => $rtr,
                  'download' => $_GET['download'] ?? null,
                  'request_download' => $_REQUEST['download'] ?? null,
                  'readings' => ['get' => ['tr' => $_GET['tr'] ?? null,
                                           'download' => $_GET['download'] ?? null]],
                  'query' => $_SERVER['QUERY_STRING'] ?? '']);
"""


@pytest.fixture(scope="module")
def php_origin(tmp_path_factory):
    d = tmp_path_factory.mktemp("php-origin")
    (d / "router.php").write_text(ROUTER)
    with php_dev_server(d) as url:
        yield url


@pytest.fixture(scope="module")
def rack_origin():
    if shutil.which("ruby") is None:
        pytest.fail("ruby is not installed (scripts/quickstart installs ruby-rack and ruby-webrick)")
    with ready_server(["ruby", ORIGINS / "rack_origin.rb", "@PORT@", "download"]) as url:
        yield url


@pytest.fixture(scope="module")
def qs_origin():
    npm_ci(ORIGINS, NODE_CACHE, "qs", scripts=["qs_origin.mjs"])
    with ready_server(["node", NODE_CACHE / "qs_origin.mjs", "@PORT@", "download"],
                      cwd=NODE_CACHE) as url:
        yield url


@pytest.fixture(scope="module")
def srv(apache_factory, php_origin, rack_origin, qs_origin):
    conf = CONF.format(media_guard_conf=MEDIA_GUARD_CONF, php=php_origin, rack=rack_origin,
                       qs=qs_origin)
    s = apache_factory("query-names", conf, policies={"q.yaml": POLICY},
                       files={"files/a.jpg": b"\xff\xd8\xff\xe0 file"},
                       extra_modules=["proxy", "proxy_http"], loglevel="info", start=False)
    key = s.policy_dir / "k1.key"
    key.write_text(K1)
    key.chmod(0o600)
    return s.start()


def origin_json(r):
    assert r.status_code == 200, (r.status_code, r.headers.get("X-Media-Guard-Reason"))
    return json.loads(r.content)


def assert_refused(r):
    assert r.status_code == 403, (r.status_code, r.content[:200])
    assert r.headers.get("X-Media-Guard-Reason") == "bad-url"
    assert b'"origin"' not in r.content


# The bypasses of issue 14: each is refused, never reaches the origin.
PHP_BYPASSES = [
    "tr=oi-logo.png,w-100&+tr=w-100",
    "tr=oi-logo.png&%20tr=w-5000",
    "tr=oi-logo.png&tr[]=w-100",
    "tr=oi-logo.png&tr[0]=w-5000",
    "tr=oi-logo.png&tr%5B%5D=w-5000",
    "tr=oi-logo.png&tr.x=w-5000",
    "tr=oi-logo.png&TR=w-5000",
    "tr=oi-logo.png&Tr[]=w-5000",
    "tr=oi-logo.png&++tr=w-5000",
]
RACK_BYPASSES = [
    "tr=oi-logo.png&[tr]=w-5000",
    "tr=oi-logo.png&tr]=w-5000",
    "tr=oi-logo.png&%5Btr%5D=w-5000",
    "tr=oi-logo.png&]]tr=w-5000",
    "tr=oi-logo.png&[tr=w-5000",
]


def test_the_origins_really_read_these_names_as_tr(php_origin, rack_origin):
    """Without the guard, each bypass makes the origin apply a transformation
    without the watermark (what the issue's attack run found): the test
    origins are faithful, so the refusals below mean something."""
    for q in PHP_BYPASSES[:5]:
        d = requests.get(f"{php_origin}/php/a.jpg?{q}", timeout=10).json()
        assert d["tr"] in ("w-100", "w-5000"), (q, d)
    for q in RACK_BYPASSES[:4]:
        d = requests.get(f"{rack_origin}/rack/a.jpg?{q}", timeout=10).json()
        assert d["tr"] == "w-5000", (q, d)


@pytest.mark.parametrize("query", PHP_BYPASSES)
def test_php_name_rules_are_refused(srv, query):
    assert_refused(srv.raw(f"/php/a.jpg?{query}"))


@pytest.mark.parametrize("query", RACK_BYPASSES)
def test_rack_name_rules_are_refused(srv, query):
    assert_refused(srv.raw(f"/rack/a.jpg?{query}"))


@pytest.mark.parametrize("query", ["+download=1", "download[]=1", "Download=1", "%20download=1"])
def test_download_parameter_spellings_are_refused(srv, query):
    assert_refused(srv.raw(f"/vphp/a.jpg?{query}"))


def test_normal_forms_keep_working_and_the_origin_applies_what_was_checked(srv):
    d = origin_json(srv.raw("/php/a.jpg?tr=oi-logo.png,w-300&page[size]=2&utm_source=x&a.b=1"))
    assert d["tr"] == "oi-logo.png,w-300"
    d = origin_json(srv.raw("/rack/a.jpg?tr=w-300,oi-logo.png&filter[tr]=1"))
    assert d["tr"] == "w-300,oi-logo.png"
    d = origin_json(srv.raw("/php/tr:oi-logo.png,w-300/a.jpg?x%20y=1"))
    assert d["tr"] is None
    d = origin_json(srv.raw("/vphp/a.jpg?download=0"))
    assert d["download"] == "0"
    # the width limit still holds on the exact name
    r = srv.raw("/php/a.jpg?tr=oi-logo.png,w-5000")
    assert r.status_code == 403 and r.headers.get("X-Media-Guard-Reason") == \
        "transform-not-allowed"


# Red team 20: PHP's $_REQUEST (built-in defaults, as in the official Docker
# images) takes a cookie over the query, so `?tr=oi-logo.png` judged with its
# watermark was served without it when the client also sent `Cookie:
# tr=w-100`. A cookie some stack reads as `tr` or the download parameter is
# refused like such a query name; other cookies pass.
COOKIE_BYPASSES = ["tr=w-100", "session=1; tr[]=w-100", "a=1; TR=w-100", " tr=w-100"]


def test_the_php_origin_really_takes_a_cookie_over_the_query(php_origin):
    for c in COOKIE_BYPASSES[:2]:
        d = requests.get(f"{php_origin}/php/a.jpg?tr=oi-logo.png", headers={"Cookie": c},
                         timeout=10).json()
        assert d["tr"] == "oi-logo.png" and d["request_tr"] == "w-100", (c, d)
    d = requests.get(f"{php_origin}/vphp/a.jpg", headers={"Cookie": "download=1"},
                     timeout=10).json()
    assert d["request_download"] == "1", d


@pytest.mark.parametrize("cookie", COOKIE_BYPASSES)
def test_a_cookie_named_as_tr_is_refused(srv, mgctl, cookie):
    r = srv.raw("/php/a.jpg?tr=oi-logo.png", headers={"Cookie": cookie})
    assert_refused(r)
    p = mgctl("explain", "-p", srv.policy_dir / "q.yaml", "-H", f"Cookie: {cookie}",
              "/php/a.jpg?tr=oi-logo.png")
    assert "\ndecision: deny" in p.stdout and "reason:   bad-url" in p.stdout, p.stdout


def test_a_cookie_named_as_the_download_parameter_is_refused(srv):
    assert_refused(srv.raw("/vphp/a.jpg", headers={"Cookie": "x=1; download=1"}))


def test_other_cookies_still_reach_the_origin(srv):
    d = origin_json(srv.raw("/php/a.jpg?tr=oi-logo.png",
                            headers={"Cookie": "trx=1; session=tr; a=download; mg_token=x"}))
    assert d["tr"] == d["request_tr"] == "oi-logo.png"


# A browser's kilobyte of analytics, consent and session cookies (the one
# bench/run measures the cookie check on) reaches the origin; the same header
# with one of its cookies renamed to a spelling of `tr` or `download`, in the
# middle or at the end, is refused.
def test_a_browsers_cookies_pass_and_one_renamed_to_tr_among_them_is_refused(srv):
    browser = (SRCDIR / "bench" / "cookie-browser.txt").read_text().strip()
    assert len(browser) > 1000
    d = origin_json(srv.raw("/php/a.jpg?tr=oi-logo.png", headers={"Cookie": browser}))
    assert d["tr"] == d["request_tr"] == "oi-logo.png"
    for old, new in (("; theme=", "; tr="), ("; trk_uid=", "; tr[]="), ("; tz=", "; Tr="),
                     ("; cart=", "; download=")):
        assert old in browser
        assert_refused(srv.raw("/php/a.jpg?tr=oi-logo.png",
                               headers={"Cookie": browser.replace(old, new)}))


# Red team 20: Rack's params (Sinatra) and ASP.NET Core's model binding read
# a form body over the query, and ProxyPass forwards a GET's body: `?tr=…`
# judged with its watermark reached the origin with a body `tr=w-100`. A GET
# or HEAD with a body is refused.
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_the_rack_origin_really_takes_a_form_body_over_the_query(rack_origin):
    d = requests.get(f"{rack_origin}/rack/a.jpg?tr=oi-logo.png", data="tr=w-100", headers=FORM,
                     timeout=10).json()
    assert d["tr"] == "w-100", d


@pytest.mark.parametrize("headers", [{"Content-Length": "8"}, {"Transfer-Encoding": "chunked"}])
def test_a_get_with_a_body_is_refused(srv, mgctl, headers):
    chunked = "Transfer-Encoding" in headers
    body = b"8\r\ntr=w-100\r\n0\r\n\r\n" if chunked else b"tr=w-100"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        head = "".join(f"{k}: {v}\r\n" for k, v in {**FORM, **headers}.items())
        s.sendall(f"GET /rack/a.jpg?tr=oi-logo.png HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                  f"Connection: close\r\n\r\n".encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 403"), data[:300]
    assert b"X-Media-Guard-Reason: bad-url" in data and b'"origin"' not in data, data[:600]
    name, value = next(iter(headers.items()))
    p = mgctl("explain", "-p", srv.policy_dir / "q.yaml", "-H", f"{name}: {value}",
              "/rack/a.jpg?tr=oi-logo.png")
    assert "\ndecision: deny" in p.stdout and "reason:   bad-url" in p.stdout, p.stdout


def test_a_get_with_an_empty_body_still_reaches_the_origin(srv):
    d = origin_json(srv.raw("/rack/a.jpg?tr=oi-logo.png", headers={"Content-Length": "0"}))
    assert d["tr"] == "oi-logo.png"


def sign(srv, mgctl, url, *opts):
    p = mgctl("sign", "--policy", srv.policy_dir / "q.yaml", "--ttl", "10m", *opts, url)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_prefix_token_cannot_gain_a_transformation_with_plus_tr(srv, mgctl):
    link = sign(srv, mgctl, "/sphp/p/x.jpg", "--prefix", "/sphp/p/")
    d = origin_json(srv.raw(link))
    assert d["tr"] is None
    for extra in ("&+tr=w-5000", "&tr[]=w-5000", "&%20tr=w-5000"):
        assert_refused(srv.raw(link + extra))
    r = srv.raw(link + "&tr=w-5000")           # the exact name: the token does not cover it
    assert r.status_code == 403


def test_signed_links_stay_out_of_the_error_log(srv, mgctl):
    """authz_core logs AH01630 with r->filename, which for ProxyPass nocanon is
    the origin URL with the query: the module holds it without the query."""
    mark = srv.mark()
    link = sign(srv, mgctl, "/sphp/a.jpg")
    token = link.split("?", 1)[1]
    refused = [
        "/sphp/b.jpg?" + token,                                   # another file
        link.replace("mg_sig=", "mg_sig=A"),                      # a broken signature
        link + "&+tr=w-5000",                                     # bad-url
        "/php/a.jpg?tr=w-1&" + token,                             # another area
    ]
    for target in refused:
        assert srv.raw(target).status_code == 403, target
    # a granted link still reaches the origin with its whole query
    d = origin_json(srv.raw(link))
    assert "mg_sig=" in d["query"]
    log = srv.error_log_since(mark)
    assert "AH01630" in log, log          # authz_core did log the refusals ...
    assert "mg_sig" not in log, log       # ... without the signed link
    assert "mg_exp" not in log, log


def test_trace_is_refused_on_protected_urls(srv):
    """httpd answers TRACE in map_to_storage, before authorization: only
    TraceEnable Off (shipped in media_guard.conf) stops it."""
    assert srv.raw("/files/a.jpg").status_code == 200
    r = srv.raw("/files/a.jpg", method="TRACE")
    assert r.status_code == 405, (r.status_code, r.content[:200])
    r = srv.raw("/php/a.jpg?tr=oi-logo.png", method="TRACE")
    assert r.status_code in (403, 405), r.status_code
    assert b"origin" not in r.content


# Every name that PHP itself (parse_str: the same php_register_variable_ex as
# $_GET) reads as tr, mg_* or download, built from the characters PHP treats
# specially, must be refused: checked with one `mgctl test` run (the same
# libmg as the module) over all of them.
PHP_NAMES = r"""<?php
$alpha = ['', '%20', '+', '.', '[', ']', '%5B', '%5D', '_', 'x', '%2E'];
$bases = ['tr', 'mg_sig', 'download', 'mg.sig', 'mg%20sig', 'mg[sig'];
$seen = [];
foreach ($bases as $b)
  foreach ($alpha as $p1) foreach ($alpha as $p2) foreach ($alpha as $s1) foreach ($alpha as $s2) {
    $raw = $p1 . $p2 . $b . $s1 . $s2;
    if ($raw === 'tr' || $raw === 'download' ||
        (strncmp($raw, 'mg_', 3) === 0 && strpbrk($raw, ' .[]%+') === false))
      continue;                          /* exactly the name, or a plain mg_ name */
    $arr = [];
    parse_str($raw . '=v', $arr);
    foreach (array_keys($arr) as $k) {
      $k = (string)$k;
      if ($k === 'tr' || $k === 'download' || strncmp($k, 'mg_', 3) === 0)
        $seen[$raw] = $k;
    }
  }
echo json_encode($seen);
"""


def test_every_name_php_reads_as_a_reserved_one_is_refused(srv, mgctl, tmp_path):
    script = tmp_path / "names.php"
    script.write_text(PHP_NAMES)
    p = subprocess.run([shutil.which("php"), "-n", str(script)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    names = json.loads(p.stdout)
    assert len(names) > 1000 and "+tr" in names and "tr[]" in names and "mg.sig" in names
    cases = [{"name": f"php reads {raw!r} as {k!r}", "request": {"url": f"/php/a.jpg?{raw}=v"},
              "expect": {"decision": "deny", "reason": "bad-url"}}
             for raw, k in sorted(names.items())]
    # and the exact names still pass the canonicaliser
    cases.append({"name": "exact tr", "request": {"url": "/php/a.jpg?tr=oi-logo.png"},
                  "expect": {"decision": "allow"}})
    cases.append({"name": "exact download", "request": {"url": "/vphp/a.jpg?download=0"},
                  "expect": {"decision": "allow"}})
    testfile = srv.policy_dir / "names.test.yaml"
    testfile.write_text(json.dumps({"policy": "q.yaml", "tests": cases}))
    r = mgctl("test", testfile)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])


# Over HTTP/2 a request's end is a flag: on its HEADERS frame, or on a DATA
# frame after it. mod_http2 gives httpd `Transfer-Encoding: chunked` for a
# request whose HEADERS did not end the stream and carried no content-length,
# so a GET ended by a separate, empty DATA frame that arrives after httpd
# started the request is a GET with a body (refused, as over HTTP/1.1); with
# `content-length: 0` it is not. curl (h2c and h2 over TLS), Chromium
# (navigation, <img>, <video> with Range, fetch) and h2load without -d end
# a GET on its HEADERS frame (docs/canonical-urls.md).
H2_POLICY = """\
version: 1
default: deny
rules:
  - {id: open, path: /h2/, access: {anonymous: view}}
"""


def _h2_frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") \
        + payload


def _h2_get(port, path, extra=(), end_on_headers=True):
    """A GET on stream 1 of a new h2c connection, its header block as HPACK
    literals (no Huffman, no table). Without end_on_headers, an empty DATA
    frame ends the stream once the server's response HEADERS frame is in."""
    def lit(name, value):
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    block = b"".join(lit(n, v) for n, v in ((b":method", b"GET"), (b":scheme", b"http"),
                                            (b":path", path.encode()),
                                            (b":authority", b"127.0.0.1"), *extra))
    end_headers, end_stream = 0x4, 0x1
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _h2_frame(4, 0, 0)
                  + _h2_frame(1, end_headers | (end_stream if end_on_headers else 0), 1, block))
        buf = b""
        while True:  # frames until the response's HEADERS on stream 1
            while len(buf) < 9:
                chunk = s.recv(65536)
                assert chunk, "connection closed before a response"
                buf += chunk
            n = int.from_bytes(buf[:3], "big")
            while len(buf) < 9 + n:
                buf += s.recv(65536)
            kind, stream = buf[3], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            buf = buf[9 + n:]
            if kind == 1 and stream == 1:
                break
        if not end_on_headers:
            s.sendall(_h2_frame(0, end_stream, 1))


def test_an_http2_get_ended_by_an_empty_data_frame(apache_factory):
    s = apache_factory("h2-empty-data", "Protocols h2c http/1.1\nMediaGuardPolicy h2 @POLICIES@/h2.yaml\n"
                       '<Location "/h2/">\n    Require media-guard h2\n</Location>\n',
                       policies={"h2.yaml": H2_POLICY}, files={"h2/a.jpg": b"\xff\xd8 h2"},
                       extra_modules=["http2"])
    try:
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                            "%{http_code} %{http_version}", s.url("/h2/a.jpg?by=curl")],
                           capture_output=True, text=True, timeout=20)
        assert p.stdout == "200 2", (p.stdout, p.stderr)
        cases = (("eos-on-headers", (), True, " 200 "),
                 ("cl0-then-data", ((b"content-length", b"0"),), False, " 200 "),
                 ("no-cl-then-data", (), False, " 403 "))
        for tag, extra, eoh, status in cases:
            _h2_get(s.port, f"/h2/a.jpg?by={tag}", extra, eoh)
        for tag, _, _, status in cases:
            line = s.last_access(f"by={tag} ")
            assert line is not None and status in line, (tag, line)
        line = s.last_access("by=no-cl-then-data ")
        assert "reason=bad-url" in line, line
        assert "GET or HEAD request with a body" in s.error_log()
    finally:
        s.stop()


# The attack corpus: names in and around `tr` and `download`, each sent as
# `tr=oi-logo.png&NAME=w-5000` (a second transformation, without the
# watermark, or a download asked for on a view-only rule) and a few queries at
# the parsers' limits. What each real parser reads from each query is asked of
# the origins once (POST /parse: parse_str, Rack::Utils.parse_nested_query and
# parse_query, qs.parse with and without allowDots, querystring.parse,
# URLSearchParams: the functions their HTTP paths call), every query goes
# through Apache to the Node origin once, and a sample of the ones the module
# lets through goes to the PHP and Rack origins too, to see that their HTTP
# answer is the reading asked for.
_RAW = [chr(b) for b in range(0x21, 0x7f) if chr(b) not in "%&=#"]
_PCT = ["%%%02X" % b for b in range(256)]
_TWO = ["", "+", ".", "[", "]", "%5B", "%5D", "%2E", "%20", "_", "x", "%2B"]
_SHAPES = [
    "{b}[]", "{b}[0]", "{b}[a][b]", "{b}[][x]", "{b}[]x", "[{b}]", "{b}]", "]{b}", "[{b}", "{b}[",
    ".{b}", "{b}.x", "{b}..", "[[{b}]]", "{b}[[x]]", "[]{b}", "%5B%5D{b}", "{b}[]]", "{b}]]",
    "..{b}", "+.{b}", "{b}%5B%5D", "%5B{b}%5D", "{b}%2Ex", "amp%3B{b}", "a[b][c][d][e][f][{b}]",
    "{b}" + "[x]" * 30, "[{b}]" + "[x]" * 6, "x" * 500 + "{b}", "{b}" + "x" * 500,
    "{b}[" + "a" * 500 + "]", "{b}[20]", "{b}[21]", "{b}[1000]", "__proto__[{b}]",
    "constructor[{b}]", "{b}[__proto__]", "{b}.__proto__", "{b}[constructor]", "%2574{r}",
    "%2B{b}", "{B}", "{b}%E2%80%8B", "%EF%BB%BF{b}", "{b}%C2%A0", "{b}%E3%80%80",
]


def corpus_names():
    names = set()
    for b in ("tr", "download"):
        for ins in _RAW + _PCT:
            names |= {ins + b, b + ins, b[0] + ins + b[1:]}
        for p in _TWO:
            for q in _TWO:
                names |= {p + b + q, p + q + b, b + p + q}
        for shape in _SHAPES:
            names.add(shape.format(b=b, B=b.upper(), r=b[1:]))
        # every letter percent-encoded, upper case, fullwidth (U+FF54 'ｔ')
        names.add("".join("%%%02X" % ord(c) for c in b))
        names.add(b[0].upper() + b[1:])
        names.add("".join(urllib.parse.quote(chr(ord(c) + 0xfee0)) for c in b))
    names -= {"tr", "download"}
    return sorted(names)


def corpus_queries():
    qs = [f"tr=oi-logo.png&{n}=w-5000" for n in corpus_names()]
    qs += [f"{n}=w-5000&tr=oi-logo.png" for n in ("[tr]", "tr[]", "%5Btr%5D", "+tr", "tr.x")]
    # the parsers' limits: qs's parameterLimit and querystring's maxKeys
    # (1000) count empty pieces and drop what comes after; Rack refuses
    # more than 4096; PHP's max_input_vars (1000) counts names
    for k in (255, 256, 300, 999, 1000, 1001, 4096):
        qs.append("&" * k + "tr=oi-logo.png")
    qs.append("a=1&" * 200 + "&" * 900 + "tr=oi-logo.png")
    qs.append("tr=oi-logo.png" + "&" * 1000 + "download=1")
    # an HTML-escaped '&', ';' (Rack 2 splits on it), repeats
    qs += ["tr=oi-logo.png&amp;tr=w-5000", "tr=oi-logo.png;tr=w-5000", "tr=oi-logo.png&tr",
           "tr=oi-logo.png&tr=oi-logo.png", "tr=oi-logo.png&download=0&download=1",
           "tr=oi-logo.png&download=0;download=1", "tr=oi-logo.png&download"]
    return qs


def module_view(query):
    """The exact `tr` and download values of query as the module parses it."""
    tr, dl = [], []
    for pair in query.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            name = urllib.parse.unquote_plus(name)
            value = urllib.parse.unquote_plus(value)
            (tr if name == "tr" else dl if name == "download" else []).append(value)
    return tr, dl


def agrees(reading, tr, dl):
    """Does a parser's reading give the origin nothing beyond what the module
    checked: the one exact `tr` (or none) and download values among the exact
    ones (or none)? A parser that raised serves nothing."""
    if "error" in reading:
        return True
    want = tr[0] if len(tr) == 1 else None
    d = reading["download"]
    ds = d if isinstance(d, list) else [] if d is None else [d]
    return reading["tr"] == want and all(isinstance(x, str) and x in dl for x in ds)


def batch(url, queries):
    r = requests.post(f"{url}/parse", data=json.dumps(queries), timeout=60)
    assert r.status_code == 200, r.text[:300]
    return r.json()


def test_no_name_a_real_parser_reads_as_tr_or_download_gets_through(srv, php_origin, rack_origin,
                                                                    qs_origin):
    queries = corpus_queries()
    assert len(queries) > 2500
    readings = [{**p, **r, **q} for p, r, q in zip(batch(php_origin, queries),
                                                   batch(rack_origin, queries),
                                                   batch(qs_origin, queries))]
    # the corpus has teeth: each parser reads something the module does not
    # see in many of these queries
    least = {"get": 40, "params": 100, "parse_query": 4, "qs": 70, "qs_dots": 120,
             "querystring": 4, "urlsearchparams": 1}
    for parser, m in least.items():
        n = sum(not agrees(r[parser], *module_view(q)) for q, r in zip(queries, readings))
        assert n >= m, (parser, n)
    answers = srv.raw_many([f"/qs/a.jpg?{q}" for q in queries])
    passed = []
    bypass = []
    for q, a, rd in zip(queries, answers, readings):
        if a.status_code == 403 and a.headers.get("X-Media-Guard-Reason") in \
                ("bad-url", "transform-not-allowed", "transform-required-missing",
                 "download-not-allowed"):
            continue
        assert a.status_code == 200, (q[:200], a.status_code, a.headers.get("X-Media-Guard-Reason"))
        tr, dl = module_view(q)
        passed.append(q)
        # Node's answer through Apache, and PHP's and Rack's parsers
        got = json.loads(a.content)["readings"]
        for parser, r in {**got, "get": rd["get"], "params": rd["params"],
                          "parse_query": rd["parse_query"]}.items():
            if not agrees(r, tr, dl):
                bypass.append((parser, f"{q.count('&')} '&': {q[-60:]}", r))
    assert not bypass, bypass[:20]
    assert len(passed) > 500, len(passed)
    # the PHP and Rack origins answer through Apache what their parser read
    # (WEBrick answers a proxied request in about 40 ms: a sample)
    sample = passed[::100]
    for prefix, key in (("php", "get"), ("rack", "params")):
        for q, a in zip(sample, srv.raw_many([f"/{prefix}/a.jpg?{q}" for q in sample])):
            assert a.status_code == 200, (prefix, q[:200], a.status_code)
            assert json.loads(a.content)["readings"][key] == readings[queries.index(q)][key], q
