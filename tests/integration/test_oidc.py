"""OpenID Connect for real: Debian's mod_auth_openidc against a real OpenID
Provider on loopback (the `oidc-provider` npm package, tests/integration/oidc/),
the `groups` claim becomes roles through `roles_from: env: OIDC_CLAIM_groups`,
and the policy decides.

The provider's npm packages are installed at test time from the committed
package-lock.json into a git-ignored cache ($MG_NODE_CACHE, default
<source>/.cache/oidc-provider), once per lock-file version.
"""
import html.parser
import os
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from conftest import SRCDIR, free_port, npm_ci

OIDC_DIR = SRCDIR / "tests" / "integration" / "oidc"
CACHE = Path(os.environ.get("MG_NODE_CACHE", SRCDIR / ".cache" / "oidc-provider"))
CLIENT_ID = "media-guard-test"
CLIENT_SECRET = "test-only-client-secret-3b9f"
JPEG = b"\xff\xd8\xff\xe0" + b"oidc" * 40

POLICY = """\
version: 1
roles: [editors, viewers, admins]
identity:
  roles_from:
    - env: OIDC_CLAIM_groups      # mod_auth_openidc: claim `groups`, values joined by ","
      separator: ","
      prefix: "media-"
rules:
  - id: editors
    path: /media/edit/
    access: {editors: download, viewers: view}
  - id: admins
    path: /media/admin/
    access: {admins: view}
"""

CONF = """\
OIDCProviderMetadataURL @ISSUER@/.well-known/openid-configuration
OIDCClientID @CLIENT_ID@
OIDCClientSecret @CLIENT_SECRET@
OIDCRedirectURI http://127.0.0.1:@PORT@/oidc/callback
OIDCCryptoPassphrase test-only-passphrase-for-the-session-cookie
OIDCScope "openid profile groups"
OIDCRemoteUserClaim sub
OIDCClaimDelimiter ,
OIDCPKCEMethod S256
OIDCCacheType shm
MediaGuardPolicy oidc @POLICIES@/oidc.yaml
LogFormat "%u groups=%{OIDC_CLAIM_groups}e %U" claims
CustomLog "@ROOT@/logs/claims.log" claims
<Location "/oidc/">
    AuthType openid-connect
    Require valid-user
</Location>
<Location "/media/">
    AuthType openid-connect
    AuthzSendForbiddenOnFailure On
    Require media-guard oidc
</Location>
"""

FILES = {"media/edit/a.jpg": JPEG, "media/admin/b.jpg": JPEG}


def _npm_install():
    """node_modules for the provider in CACHE, matching the committed lock."""
    npm_ci(OIDC_DIR, CACHE, "oidc-provider", scripts=["provider.mjs"])


class Provider:
    def __init__(self, redirect_uri, logdir):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log = open(logdir / "openid-provider.log", "w+")
        self.proc = subprocess.Popen(
            ["node", str(CACHE / "provider.mjs"), str(self.port), CLIENT_ID, CLIENT_SECRET,
             redirect_uri], cwd=CACHE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()  # blocks until "ready" or exit
        if not line.startswith("ready "):
            self.stop()
            self.log.seek(0)
            pytest.fail(f"the OpenID Provider did not start: {line}{self.log.read()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def oidc(apache_factory):
    _npm_install()
    srv = apache_factory("oidc", CONF, policies={"oidc.yaml": POLICY}, files=FILES,
                         extra_modules=["auth_openidc"], start=False)
    (srv.root / "logs").mkdir(parents=True, exist_ok=True)
    op = Provider(f"http://127.0.0.1:{srv.port}/oidc/callback", srv.root / "logs")
    try:
        srv.conf_snippet = (CONF.replace("@ISSUER@", op.issuer)
                            .replace("@CLIENT_ID@", CLIENT_ID)
                            .replace("@CLIENT_SECRET@", CLIENT_SECRET))
        srv.write_conf()
        srv.start()
        yield srv, op
    finally:
        srv.stop()
        op.stop()


class _Form(html.parser.HTMLParser):
    """The first <form> of a page: its action and its named inputs."""

    def __init__(self):
        super().__init__()
        self.action, self.fields, self._in = None, {}, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action, self._in = a.get("action"), True
        elif tag == "input" and self._in and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in = False


def _form(resp):
    f = _Form()
    f.feed(resp.text)
    assert f.action, f"no form on {resp.url}: {resp.text[:300]}"
    return urllib.parse.urljoin(resp.url, f.action), f.fields


BROWSER = {"Accept": "text/html,application/xhtml+xml,image/avif,*/*;q=0.8",
           "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


def login(srv, op, user, path):
    """A browser's way through the redirect flow: the protected URL, the
    provider's login form, its consent form, the callback; returns the
    session and the final response."""
    s = requests.Session()
    s.headers.update(BROWSER)
    r = s.get(srv.url(path), timeout=15)
    assert r.status_code == 200 and r.url.startswith(op.issuer + "/interaction/"), r.url
    action, fields = _form(r)
    assert fields.get("prompt") == "login"
    fields.update(login=user, password="any password: development interactions")
    r = s.post(action, data=fields, timeout=15)
    assert r.status_code == 200 and r.url.startswith(op.issuer + "/interaction/"), r.url
    action, fields = _form(r)
    assert fields.get("prompt") == "consent"
    r = s.post(action, data=fields, timeout=15)
    # ... /auth/... -> /oidc/callback?code=... -> the protected URL again
    assert any(h.url.startswith(srv.url("/oidc/callback?")) for h in r.history), \
        [h.url for h in r.history]
    return s, r


def claims_logged(srv, text, timeout=3):
    """Apache writes its logs after the response: wait for the line."""
    path = srv.root / "logs" / "claims.log"
    end = time.monotonic() + timeout
    while True:
        if path.exists() and text in path.read_text():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def test_login_flow_claim_becomes_a_role_and_the_policy_decides(oidc):
    srv, op = oidc
    s, r = login(srv, op, "alice", "/media/edit/a.jpg?download=1")
    assert r.status_code == 200
    assert r.content == JPEG
    assert r.url == srv.url("/media/edit/a.jpg?download=1")
    assert r.headers["Content-Disposition"].startswith("attachment")  # editors: download
    # the first request of the flow was logged too (mg=auth): wait for the last
    line = srv.last_access('/media/edit/a.jpg?download=1 HTTP/1.1" mg=allow')
    assert line and "mg=allow reason=allowed rule=editors policy=oidc user=alice" in line
    # the variable and separator mod_auth_openidc really sets
    assert claims_logged(srv, "alice groups=media-editors,staff /media/edit/a.jpg")

    # the same session, a rule for a role the claim does not carry
    r = s.get(srv.url("/media/admin/b.jpg"), timeout=15, allow_redirects=False)
    assert r.status_code == 403
    assert r.content != JPEG
    assert "mg=deny reason=role-insufficient rule=admins" in srv.last_access("/media/admin/b.jpg")


def test_other_user_gets_only_what_their_groups_allow(oidc):
    srv, op = oidc
    s, r = login(srv, op, "bob", "/media/edit/a.jpg")
    assert r.status_code == 200 and r.content == JPEG     # viewers: view
    r = s.get(srv.url("/media/edit/a.jpg?download=1&who=bob"), timeout=15,
              allow_redirects=False)
    assert r.status_code == 403
    assert "reason=download-not-allowed" in srv.last_access("who=bob")
    assert claims_logged(srv, "bob groups=media-viewers /media/edit/a.jpg")


def test_without_a_session_the_module_sends_the_browser_to_the_provider(oidc):
    srv, op = oidc
    r = requests.get(srv.url("/media/edit/a.jpg?anon=1"), headers=BROWSER, timeout=15,
                     allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(op.issuer + "/auth?")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
    assert q["client_id"] == [CLIENT_ID] and "groups" in q["scope"][0].split()
    assert "mg=auth reason=login-required rule=editors" in srv.last_access("anon=1")
