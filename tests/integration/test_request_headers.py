"""The request headers the module reads (docs/directives.md, "How a decision
becomes a response"), found in one pass over the request's header table: each
by its exact name in any case, never a header whose name only starts like one
of them (Accept-Encoding is not Accept), in a real Apache over HTTP/1.1 with
the names written byte for byte."""

import pytest

PNG = b"\x89PNG\r\n\x1a\n request headers"

POLICY = """\
version: 1
name: rh
default: deny
login:
  url: /login
roles: [member]
identity:
  roles_from:
    - env: TEST_ROLES
hotlink:
  strict:
    allowed_origins: ["https://partner.example"]
    empty_referer: deny
rules:
  - {id: hot, path: /hot/, hotlink: strict, access: {anonymous: view}}
  - {id: members, path: /members/, access: {anonymous: none, member: view}}
"""

CONF = """\
MediaGuardPolicy rh @POLICIES@/rh.yaml
MediaGuardReasonHeader On
<LocationMatch "^/(hot|members)/">
    Require media-guard rh
</LocationMatch>
"""


@pytest.fixture(scope="module")
def srv(apache_factory):
    files = {"hot/a.png": PNG, "members/a.png": PNG}
    return apache_factory("request-headers", CONF, policies={"rh.yaml": POLICY}, files=files)


def _reason(r):
    return r.headers.get("X-Media-Guard-Reason")


@pytest.mark.parametrize("name", ["Referer", "referer", "REFERER", "rEfErEr"])
def test_referer_is_read_in_any_case(srv, name):
    r = srv.raw("/hot/a.png", headers={name: "https://partner.example/page"})
    assert r.status_code == 200 and r.content == PNG
    r = srv.raw("/hot/a.png", headers={name: "https://foreign.example/page"})
    assert r.status_code == 403 and _reason(r) == "hotlink"


@pytest.mark.parametrize("name", ["Referrer", "Refere", "X-Referer", "Referer-Policy"])
def test_a_name_that_is_not_referer_is_no_referer(srv, name):
    # empty_referer: deny refuses a request without one, whatever the value
    r = srv.raw("/hot/a.png", headers={name: "https://partner.example/page"})
    assert r.status_code == 403 and _reason(r) == "hotlink"


@pytest.mark.parametrize("headers", [
    {"Accept": "text/html"}, {"ACCEPT": "text/html,*/*"}, {"sec-fetch-mode": "navigate"},
    {"SEC-FETCH-MODE": "navigate", "Accept-Encoding": "gzip"},
])
def test_a_navigation_is_seen_whatever_the_case_of_its_headers(srv, headers):
    r = srv.raw("/members/a.png", headers=headers)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


@pytest.mark.parametrize("headers", [
    {"Accept-Encoding": "text/html"}, {"Accept-Language": "text/html"},
    {"Sec-Fetch-Modes": "navigate"}, {"Sec-Fetch-Mod": "navigate"},
    {"Accept": "image/png", "Accept-Encoding": "text/html"},
    {"Sec-Fetch-Mode": "no-cors", "Accept": "text/html"},
])
def test_headers_that_only_look_like_a_navigation_are_refused_not_redirected(srv, headers):
    r = srv.raw("/members/a.png", headers=headers)
    # not a navigation: decided "auth", which no AuthType here can answer
    assert r.status_code == 403 and _reason(r) == "login-required"
    assert "Location" not in r.headers
