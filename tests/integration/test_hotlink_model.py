"""The hotlink model a browser agrees with (issue 11), at the HTTP level with the
headers Chromium sends (tests/browser shows the same in Chromium itself):
navigation: allow opens links and refuses embeds, same_origin is scheme + host
+ port, the Cross-Origin-Resource-Policy follows from the profile, and a
written corp that hides the partners is a warning at `apache2 -t`."""

import pytest

PNG = b"\x89PNG\r\n\x1a\n hotlink model"

POLICY = """\
version: 1
name: hm
hotlink:
  open:
    allowed_origins: ["https://partner.example"]
    navigation: allow
    empty_referer: deny
  own: {}
  insist:
    allowed_origins: ["https://partner.example"]
    corp: same-origin
rules:
  - {id: open, path: /open/, hotlink: open, access: {anonymous: view}}
  - {id: own, path: /own/, hotlink: own, access: {anonymous: view}}
  - {id: insist, path: /insist/, hotlink: insist, access: {anonymous: view}}
  - {id: override, path: /override/, hotlink: open, corp: same-site, access: {anonymous: view}}
"""

CONF = """\
MediaGuardPolicy hm @POLICIES@/hm.yaml
MediaGuardReasonHeader On
<LocationMatch "^/(open|own|insist|override)/">
    Require media-guard hm
</LocationMatch>
"""

FOREIGN = "https://foreign.example/"
# Chromium 156, byte for byte (tests/browser/test_browser.py checks them)
IMG = {"Accept": "image/jxl,image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
       "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
CLICK = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/jxl,image/avif,"
                   "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
         "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
         "Sec-Fetch-Dest": "document", "Sec-Fetch-User": "?1"}


@pytest.fixture(scope="module")
def srv(apache_factory):
    files = {f"{d}/a.png": PNG for d in ("open", "own", "insist", "override")}
    return apache_factory("hotlink-model", CONF, policies={"hm.yaml": POLICY}, files=files)


def test_a_link_clicked_on_another_site_opens_the_file(srv):
    r = srv.raw("/open/a.png", headers={**CLICK, "Referer": FOREIGN})
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["Content-Disposition"] == "inline"
    # a typed address has no Referer, which empty_referer: deny would refuse
    r = srv.raw("/open/a.png", headers={**CLICK, "Sec-Fetch-Site": "none"})
    assert r.status_code == 200


def test_the_same_site_embedding_it_is_refused(srv):
    for extra in ({}, {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate"},
                  {"Sec-Fetch-Dest": "video", "Accept": "*/*", "Range": "bytes=0-"}):
        r = srv.raw("/open/a.png", headers={**IMG, **extra, "Referer": FOREIGN})
        assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "hotlink", extra
        assert PNG not in r.content


def test_a_navigation_to_a_checked_profile_is_refused(srv):
    r = srv.raw("/own/a.png", headers={**CLICK, "Referer": FOREIGN})
    assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "hotlink"


def test_same_origin_is_scheme_host_and_port(srv):
    own = f"http://127.0.0.1:{srv.port}"
    assert srv.raw("/own/a.png", headers={"Referer": own + "/page.html"}).status_code == 200
    for other in (f"http://127.0.0.1:{srv.port + 1}/", f"https://127.0.0.1:{srv.port}/",
                  "http://127.0.0.2:%d/" % srv.port):
        r = srv.raw("/own/a.png", headers={"Referer": other})
        assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "hotlink", other


def test_forwarding_headers_never_make_another_page_this_origin(srv):
    """No trusted proxy is configured, and the module reads none of the headers
    a front proxy sets: X-Forwarded-Host, Forwarded and X-Forwarded-Proto cannot
    make another site's page (or this host under another scheme) this server's
    origin, nor this server's own page another one."""
    own = f"http://127.0.0.1:{srv.port}"
    for extra in ({"X-Forwarded-Host": "foreign.example"},
                  {"Forwarded": "host=foreign.example;proto=https"},
                  {"Forwarded": f'for=127.0.0.1;host="127.0.0.1:{srv.port}";proto=https'},
                  {"X-Forwarded-Proto": "https"},
                  {"X-Forwarded-Host": "foreign.example:443", "X-Forwarded-Proto": "https",
                   "X-Forwarded-Port": "443", "X-Forwarded-Server": "foreign.example"}):
        for ref in (FOREIGN, f"https://127.0.0.1:{srv.port}/"):
            r = srv.raw("/own/a.png", headers={**extra, "Referer": ref})
            assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "hotlink", (
                extra, ref)
            r = srv.raw("/own/a.png", headers={**extra, "Origin": ref.rstrip("/")})
            assert r.status_code == 403, (extra, ref)
        r = srv.raw("/own/a.png", headers={**extra, "Referer": own + "/page.html"})
        assert r.status_code == 200, extra
    # The Host itself is what a browser sent (it cannot forge it for a page's
    # embed): a client that forges Host can make a Referer naming that host
    # "this origin", which is no more than forging the Referer to name this
    # server, which any client but a browser can do anyway.
    r = srv.raw("/own/a.png", headers={"Host": "foreign.example", "Referer": own + "/"})
    assert r.status_code == 403


def test_corp_follows_the_profile_on_grants_and_refusals(srv):
    partner = {**IMG, "Referer": "https://partner.example/gallery"}
    r = srv.raw("/open/a.png", headers=partner)
    assert r.status_code == 200 and r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    r = srv.raw("/open/a.png", headers={**IMG, "Referer": FOREIGN})
    assert r.status_code == 403 and r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    r = srv.raw("/own/a.png", headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and r.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    # written values are sent as written, also a rule's over its profile's
    r = srv.raw("/insist/a.png", headers=partner)
    assert r.status_code == 200 and r.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    r = srv.raw("/override/a.png", headers=partner)
    assert r.status_code == 200 and r.headers["Cross-Origin-Resource-Policy"] == "same-site"


def test_configtest_warns_where_corp_hides_the_partners(srv):
    rc, out = srv.configtest()
    assert rc == 0, out
    warned = [ln for ln in out.splitlines() if "corp:" in ln and "warning" in ln]
    # the profile's same-origin, with file:line:column; the rule's same-site over
    # one partner is quiet (the partner may be on this server's site)
    assert len(warned) == 1, out
    assert "hm.yaml:11:11: warning: corp: same-origin makes browsers refuse" in warned[0]
