"""Red team 21: what an origin behind ProxyPass reads besides the path and
the query.

Request headers that name the URL. Zend Framework 1's request object and
Symfony's HttpFoundation before 3.4.14 / 4.1.3 (CVE-2018-14773) take the
request URI from `X-Original-URL` or `X-Rewrite-URL` (IIS's URL Rewrite and
ISAPI_Rewrite) over REQUEST_URI; applications behind nginx's `auth_request`,
Traefik and Envoy read `X-Original-URI`, `X-Forwarded-Uri`,
`X-Forwarded-Path` and `X-Envoy-Original-Path` the same way. Behind
`ProxyPass`, `GET /o/pub/a.jpg` with `X-Original-URL: /o/secret/s.jpg` was
judged as the public file (200) and such an origin sent the secret one. A
**real PHP origin** (`php -n -S`, a router that finds the request URI as
those frameworks did) checks that it really does; through Apache, such a
header whose value is not the request target itself is refused (`bad-url`),
in any case and with `_` or `.` for `-` (PHP's `$_SERVER` reads `X_Original_URL`
and `X.Original.URL` as `X-Original-URL`, and httpd forwards both); `mgctl
explain` agrees.
"""

import json
import subprocess

import pytest
import requests

from conftest import php_dev_server

SECRET = b"MG-SECRET bytes of s.jpg"
PUBLIC = b"public bytes of a.jpg"

POLICY = """\
version: 1
default: deny
rules:
  - id: pub
    path: /o/pub/
    access: {anonymous: view}
"""

CONF = """\
MediaGuardPolicy h @POLICIES@/h.yaml
MediaGuardReasonHeader On
<LocationMatch "^/o/">
    Require media-guard h
</LocationMatch>
ProxyPass "/o/" "{php}/o/" nocanon
"""

# The request URI as Zend_Controller_Request_Http::setRequestUri (ZF 1.12)
# and Symfony's Request::prepareRequestUri (before 3.4.14) found it: the IIS
# rewrite headers first, then REQUEST_URI; here also the headers other
# proxies set, for origins that read those. The file is then served from
# the router's directory, as a static-file or image front controller does.
ROUTER = r"""<?php
if (isset($_GET['echo'])) {   // what a host-picking origin would read
    echo json_encode(['xfh' => $_SERVER['HTTP_X_FORWARDED_HOST'] ?? null,
                      'fwd' => $_SERVER['HTTP_FORWARDED'] ?? null]);
    return true;
}
$uri = $_SERVER['REQUEST_URI'];
foreach (['HTTP_X_ORIGINAL_URL', 'HTTP_X_REWRITE_URL', 'HTTP_X_ORIGINAL_URI',
          'HTTP_X_FORWARDED_URI', 'HTTP_X_FORWARDED_PATH', 'HTTP_X_ENVOY_ORIGINAL_PATH'] as $h) {
    if (isset($_SERVER[$h])) { $uri = $_SERVER[$h]; break; }
}
$path = parse_url($uri, PHP_URL_PATH);
$root = realpath(__DIR__ . '/files');
$file = realpath($root . $path);
if ($file === false || strpos($file, $root . '/') !== 0 || !is_file($file)) {
    http_response_code(404);
    echo "origin: no such file\n";
    return true;
}
header('Content-Type: image/jpeg');
readfile($file);
return true;
"""

URL_HEADERS = ["X-Original-URL", "X-Rewrite-URL", "X-Original-URI", "X-Forwarded-Uri",
               "X-Forwarded-Path", "X-Envoy-Original-Path"]


@pytest.fixture(scope="module")
def php_origin(tmp_path_factory):
    d = tmp_path_factory.mktemp("php-url-origin")
    (d / "router.php").write_text(ROUTER)
    (d / "files/o/pub").mkdir(parents=True)
    (d / "files/o/secret").mkdir(parents=True)
    (d / "files/o/pub/a.jpg").write_bytes(PUBLIC)
    (d / "files/o/secret/s.jpg").write_bytes(SECRET)
    with php_dev_server(d) as url:
        yield url


@pytest.fixture(scope="module")
def srv(apache_factory, php_origin):
    return apache_factory("origin-headers", CONF.format(php=php_origin),
                          policies={"h.yaml": POLICY}, extra_modules=["proxy", "proxy_http"])


def assert_refused(r):
    assert r.status_code == 403, (r.status_code, r.content[:200])
    assert r.headers.get("X-Media-Guard-Reason") == "bad-url"
    assert SECRET not in r.content and PUBLIC not in r.content


def test_the_origin_really_serves_the_file_a_header_names(php_origin):
    """Without the guard each header makes the origin send /o/secret/: the
    test origin is faithful, so the refusals below mean something."""
    for name in URL_HEADERS + ["X_Original_URL", "x-rewrite-url"]:
        r = requests.get(f"{php_origin}/o/pub/a.jpg", headers={name: "/o/secret/s.jpg"},
                         timeout=10)
        assert r.content == SECRET, name
    assert requests.get(f"{php_origin}/o/pub/a.jpg", timeout=10).content == PUBLIC


@pytest.mark.parametrize("name", URL_HEADERS + ["x-original-url", "X_Original_URL",
                                                "X_REWRITE_URL", "x_forwarded_uri"])
def test_a_header_naming_another_url_is_refused(srv, name):
    assert_refused(srv.raw("/o/pub/a.jpg", headers={name: "/o/secret/s.jpg"}))


@pytest.mark.parametrize("value", [
    "http://127.0.0.1/o/secret/s.jpg",      # an absolute URL (Symfony kept only its path)
    "/o/pub/a.jpg?x=1",                      # the same path with another query
    "/o/pub/a.jpg/",                         # one byte more
    "",                                      # empty
])
def test_any_value_but_the_target_itself_is_refused(srv, value):
    assert_refused(srv.raw("/o/pub/a.jpg", headers={"X-Original-URL": value}))


def test_a_second_line_of_the_header_is_refused(srv):
    """httpd joins two lines with ", ": the target, then another URL."""
    import socket
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /o/pub/a.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"X-Original-URL: /o/pub/a.jpg\r\nX-Original-URL: /o/secret/s.jpg\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 403") and b"X-Media-Guard-Reason: bad-url" in data, data[:300]
    assert SECRET not in data


# RFC 9110 tchar: what a header name may hold (httpd refuses anything else)
TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_every_header_name_php_reads_as_one_is_refused(srv, php_origin):
    """Every name with one byte of X-Original-URL or X-Rewrite-URL replaced
    by a tchar (PHP drops no byte of a header name, so a longer or shorter
    one is never read as them), and three with every dash replaced, that the
    real PHP origin reads as one of them (PHP turns '-' and '.' into '_' and
    ignores case: X.Original.URL is HTTP_X_ORIGINAL_URL) is refused through
    Apache."""
    names = {"X.Original.URL", "x_original_url", "X.REWRITE_URL"}
    for base in ("X-Original-URL", "X-Rewrite-URL"):
        for i in range(len(base)):
            for c in TCHARS:
                names.add(base[:i] + c + base[i + 1:])
    read = []
    with requests.Session() as s:
        for n in sorted(names):
            r = s.get(f"{php_origin}/o/pub/a.jpg", headers={n: "/o/secret/s.jpg"}, timeout=10)
            if r.content == SECRET:
                read.append(n)
    # '-' itself, '_', '.' at each dash, and case: the spellings PHP folds
    assert {"X.Original.URL", "X.REWRITE_URL", "X-Original.URL", "X_Rewrite-URL",
            "X-ORiginal-URL"} <= set(read), read
    let_through = [n for n in read
                   if srv.raw("/o/pub/a.jpg", headers={n: "/o/secret/s.jpg"}).status_code != 403]
    assert let_through == [], let_through


def test_the_target_itself_and_other_forwarded_headers_still_pass(srv):
    """A front proxy that records the URL it did not change (its value is the
    request target, byte for byte) and the X-Forwarded-* headers that only
    build links (prefix, host, proto) are not refused."""
    assert srv.raw("/o/pub/a.jpg").content == PUBLIC
    r = srv.raw("/o/pub/a.jpg?v=2", headers={"X-Original-URL": "/o/pub/a.jpg?v=2",
                                            "X-Forwarded-Uri": "/o/pub/a.jpg?v=2"})
    assert r.status_code == 200 and r.content == PUBLIC
    r = srv.raw("/o/pub/a.jpg", headers={"X-Forwarded-Prefix": "/media",
                                         "X-Forwarded-Host": "cdn.example",
                                         "X-Forwarded-Proto": "https",
                                         "Forwarded": "for=192.0.2.1;host=cdn.example;proto=https"})
    assert r.status_code == 200 and r.content == PUBLIC


def test_mgctl_explain_agrees(srv, mgctl):
    p = mgctl("explain", "-p", srv.policy_dir / "h.yaml", "-H", "X_Original_URL: /o/secret/s.jpg",
              "/o/pub/a.jpg")
    assert "\ndecision: deny" in p.stdout and "reason:   bad-url" in p.stdout, p.stdout
    # the header by name, as mg_http.h spells it, whatever the spelling sent
    assert "X-Original-URL names another URL than the request target" in p.stdout, p.stdout
    p = mgctl("explain", "-p", srv.policy_dir / "h.yaml", "-H", "X-Original-URL: /o/pub/a.jpg",
              "/o/pub/a.jpg")
    assert "\ndecision: allow" in p.stdout, p.stdout


def test_the_refusal_names_the_header_and_warns_once_per_child(apache_factory, php_origin):
    """Behind a front that rewrites the URL and records the original (Envoy's
    prefix_rewrite, IIS ARR) every request is refused: the admin must learn
    which header to remove. At the default LogLevel (warn) the error log
    says so once per child process (MG00205, the header by name), not once
    per request; each refusal's detail names it too (at info)."""
    s = apache_factory("origin-headers-warn", CONF.format(php=php_origin),
                       policies={"h.yaml": POLICY}, extra_modules=["proxy", "proxy_http"],
                       loglevel="warn")
    try:
        rounds = 6  # more requests than the harness's ServerLimit (4) has children
        for _ in range(rounds):
            assert_refused(s.raw("/o/pub/a.jpg",
                                 headers={"x-envoy-original-path": "/media/o/pub/a.jpg"}))
        log = s.error_log()
        said = log.count("MG00205: media-guard: refused (bad-url): X-Envoy-Original-Path names "
                         "another URL than the request target")
        assert 1 <= said <= 4 and said < rounds, (said, log[-2000:])
        assert "RequestHeader unset X-Envoy-Original-Path early" in log
        assert "MG00203" not in log  # the per-request line stays at info
    finally:
        s.stop()
    s = apache_factory("origin-headers-info", CONF.format(php=php_origin),
                       policies={"h.yaml": POLICY}, extra_modules=["proxy", "proxy_http"],
                       loglevel="info")
    try:
        assert_refused(s.raw("/o/pub/a.jpg", headers={"X_Rewrite_URL": "/o/secret/s.jpg"}))
        assert ('reason=bad-url rule=- user=- path=(refused) detail="the URL was refused: '
                'X-Rewrite-URL names another URL than the request target"') in s.error_log()
    finally:
        s.stop()


def test_a_rewriting_front_can_remove_its_header_before_the_module(apache_factory, php_origin):
    """docs/canonical-urls.md: a front that rewrites and records the original
    URL (Envoy's prefix_rewrite) is refused on every request, unless the
    header is removed with mod_headers' `early` form, before authorization:
    then neither the module nor the origin sees it. The same for the
    client's X-Forwarded-Host and Forwarded (docs: the host is the origin's
    to check): mod_proxy then sends only the host Apache served."""
    conf = CONF.format(php=php_origin) + (
        "RequestHeader unset X-Envoy-Original-Path early\n"
        "RequestHeader unset X-Forwarded-Host early\n"
        "RequestHeader unset Forwarded early\n")
    s = apache_factory("origin-headers-unset", conf, policies={"h.yaml": POLICY},
                       extra_modules=["proxy", "proxy_http", "headers"])
    try:
        r = s.raw("/o/pub/a.jpg", headers={"X-Envoy-Original-Path": "/media/o/secret/s.jpg"})
        assert r.status_code == 200 and r.content == PUBLIC
        assert_refused(s.raw("/o/pub/a.jpg", headers={"X-Original-URL": "/o/secret/s.jpg"}))
        r = s.raw("/o/pub/a.jpg?echo=1", headers={"X-Forwarded-Host": "tenant-b.example",
                                                  "Forwarded": "host=tenant-b.example"})
        assert json.loads(r.content) == {"xfh": f"127.0.0.1:{s.port}", "fwd": None}, r.content
    finally:
        s.stop()


def test_over_http2_too(apache_factory, php_origin):
    """mod_http2 hands the module the same header table: a lower-case
    x_original_url (h2 names are lower case) is refused, the target itself
    passes."""
    s = apache_factory("origin-headers-h2", "Protocols h2c http/1.1\n" + CONF.format(php=php_origin),
                       policies={"h.yaml": POLICY}, extra_modules=["proxy", "proxy_http", "http2"])
    try:
        def h2(header):
            p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-H", header,
                                s.url("/o/pub/a.jpg")], capture_output=True, timeout=20)
            assert p.returncode == 0, p.stderr
            return p.stdout
        out = h2("x_original_url: /o/secret/s.jpg")
        assert out.startswith(b"HTTP/2 403") and b"x-media-guard-reason: bad-url" in out.lower()
        assert SECRET not in out
        out = h2("x-original-url: /o/pub/a.jpg")
        assert out.startswith(b"HTTP/2 200") and out.endswith(PUBLIC), out[:300]
    finally:
        s.stop()
