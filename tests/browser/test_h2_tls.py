"""Chromium over HTTP/2 and TLS (red team 26a): what the other browser tests
see on plain HTTP/1.1, on https://media.test:M with mod_ssl and mod_http2
(the integration harness's `tls=True`: a throwaway CA and server certificate
for media.test and other.test, which Chromium trusts by its key only,
`--ignore-certificate-errors-spki-list`).

other.test is a second virtual host of the same server, on the same address
and certificate, with a policy that refuses its photos: a browser may
coalesce its requests onto the media.test connection (the access log would
show the SNI media.test next to the vhost other.test; Chromium 156 with
--host-resolver-rules opened a connection of its own), and each is judged
under its own vhost's `Require media-guard` (test_h2_tls.py in
tests/integration coalesces on purpose).
"""

import subprocess

import pytest

import mg_integration_harness as harness
from conftest import image_state, wait_for

POLICY = """\
version: 1
name: @NAME@
default: deny
keys:
  - {id: k1, file: keys/k1.key, sign: true}
tokens: {cookie: mg_token}
hotlink:
  own: {}                     # this site's own pages only
rules:
  - {id: photos, path: /photos/, classes: [image], hotlink: own, access: {anonymous: @V@}}
  - {id: c, path: /c/, classes: [image], token: required}
  - {id: secret, path: /secret/, access: {anonymous: none}}
"""

VHOST = """\
<VirtualHost 127.0.0.1:@PORT@>
    ServerName {name}
    CustomLog "@ROOT@/logs/vh.log" vh
    <LocationMatch "^/(photos|c|secret)/">
        Require media-guard {policy}
    </LocationMatch>
    # the page hands out the signed cookie for /c/ (mgctl sign --cookie:
    # Secure; HttpOnly; SameSite=Lax)
    <Location "/page.html">
        Header set Set-Cookie "@COOKIE@"
    </Location>
</VirtualHost>
"""

CONF = """\
MediaGuardPolicy open @POLICIES@/open.yaml
MediaGuardPolicy closed @POLICIES@/closed.yaml
LogFormat "%v|%{SSL_TLS_SNI}x|%H|%>s|%U|mg=%<{{MG_DECISION}}n|reason=%<{{MG_REASON}}n|policy=%<{{MG_POLICY}}n|site=%{{Sec-Fetch-Site}}i|dest=%{{Sec-Fetch-Dest}}i|cookie=%{{Cookie}}i" vh
""".replace("{{", "{").replace("}}", "}") + VHOST.format(name="media.test", policy="open") + \
    VHOST.format(name="other.test", policy="closed")

PAGE = """<!DOCTYPE html><html><body>
<img id="own" src="/photos/photo.png">
<img id="cookie" src="/c/photo.png">
<img id="secret" src="/secret/photo.png">
<img id="coalesced" src="https://other.test:@PORT@/photos/photo.png?from=media">
</body></html>
"""

# a page of the other site embedding the media site's photo and cookie path
FOREIGN = """<!DOCTYPE html><html><body>
<img id="own" src="https://media.test:@PORT@/photos/photo.png?from=other">
<img id="cookie" src="https://media.test:@PORT@/c/photo.png?from=other">
</body></html>
"""


@pytest.fixture(scope="module")
def site(apache_factory, mgctl, tmp_path_factory):
    work = tmp_path_factory.mktemp("h2media")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=64x48", "-frames:v", "1", str(work / "photo.png")],
                   check=True, timeout=60)
    png = (work / "photo.png").read_bytes()
    s = apache_factory("h2browser", "", files={
        "photos/photo.png": png, "c/photo.png": png, "secret/photo.png": png,
        "page.html": PAGE, "foreign.html": FOREIGN}, extra_modules=["headers"], tls=True,
        start=False)
    harness.write_secrets(s, {"k1.key": harness.TEST_KEY})
    for name, v in (("open", "view"), ("closed", "none")):
        (s.policy_dir / f"{name}.yaml").write_text(
            POLICY.replace("@NAME@", name).replace("@V@", v))
    p = mgctl("sign", "--policy", s.policy_dir / "open.yaml", "--ttl", "10m", "--prefix", "/c/",
              "--cookie", "/c/")
    assert p.returncode == 0, p.stderr
    cookie = p.stdout.strip().split(": ", 1)[-1]
    assert "; Secure; HttpOnly; SameSite=Lax" in cookie, cookie
    s.conf_snippet = CONF.replace("@COOKIE@", cookie.replace("%", "%%"))
    s.write_conf()
    for f in ("page.html", "foreign.html"):
        (s.htdocs / f).write_text((s.htdocs / f).read_text().replace("@PORT@", str(s.port)))
    s.start()
    return s


def width(browser, elem_id):
    return image_state(browser, elem_id)[0]


def line(srv, vhost, path, query=""):
    """The vh.log fields of the request for path (%U has no query: the
    vhost and the Referer-free fields tell the cases apart)."""
    def find():
        p = srv.root / "logs" / "vh.log"
        rows = [ln.split("|") for ln in (p.read_text() if p.exists() else "").splitlines()]
        rows = [r for r in rows if r[0] == vhost and r[4] == path and query in "|".join(r)]
        return rows[-1] if rows else None
    return wait_for(find, f"a vh.log line for {vhost} {path}", timeout=10)


def test_chromium_over_h2_loads_allowed_media_and_is_refused_the_rest(browser, site, tmp_path):
    port = site.port
    browser.get(f"https://media.test:{port}/page.html")
    try:
        got = {i: width(browser, i) for i in ("own", "cookie", "secret", "coalesced")}
        assert got == {"own": 64, "cookie": 64, "secret": 0, "coalesced": 0}, got
        own = line(site, "media.test", "/photos/photo.png", "site=same-origin")
        assert own[1:4] == ["media.test", "HTTP/2.0", "200"], own
        assert own[5:8] == ["mg=allow", "reason=allowed", "policy=open"], own
        assert own[9] == "dest=image", own
        # the Secure, SameSite=Lax cookie the page set, sent back over h2
        ck = line(site, "media.test", "/c/photo.png", "site=same-origin")
        assert ck[2:4] == ["HTTP/2.0", "200"] and ck[6] == "reason=allowed-by-token", ck
        assert ck[10].startswith("cookie=mg_token="), ck
        secret = line(site, "media.test", "/secret/photo.png")
        assert secret[3] == "403" and secret[6] == "reason=role-insufficient", secret
        # judged by other.test's policy (a cross-site embed there), whether
        # Chromium coalesced it onto the media.test connection (SNI
        # media.test) or not (Chromium 156 here opens its own: SNI other.test)
        co = line(site, "other.test", "/photos/photo.png")
        assert co[2:4] == ["HTTP/2.0", "403"] and co[5:8] == [
            "mg=deny", "reason=hotlink", "policy=closed"], co
        assert co[1] in ("media.test", "other.test") and co[8] == "site=cross-site", co
        print(f"other.test's request came on a connection with SNI {co[1]}")

        # the other site's page: Fetch Metadata says cross-site over h2, the
        # SameSite=Lax cookie stays home
        browser.get(f"https://other.test:{port}/foreign.html")
        got = {i: width(browser, i) for i in ("own", "cookie")}
        assert got == {"own": 0, "cookie": 0}, got
        hot = line(site, "media.test", "/photos/photo.png", "site=cross-site")
        assert hot[2:4] == ["HTTP/2.0", "403"] and hot[6] == "reason=hotlink", hot
        lax = line(site, "media.test", "/c/photo.png", "site=cross-site")
        assert lax[3] == "403" and lax[6] == "reason=token-missing" and lax[10] == "cookie=-", lax
    finally:
        browser.save_screenshot(str(tmp_path / "screenshot.png"))
