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

from conftest import PORT_ATTEMPTS, SRCDIR, PortInUse, check_port_in_use, npm_ci, on_free_port

OIDC_DIR = SRCDIR / "tests" / "integration" / "oidc"
CACHE = Path(os.environ.get("MG_NODE_CACHE", SRCDIR / ".cache" / "oidc-provider"))
CLIENT_ID = "media-guard-test"
CLIENT_SECRET = "test-only-client-secret-3b9f"
JPEG = b"\xff\xd8\xff\xe0" + b"oidc" * 40

POLICY = """\
version: 1
roles: [editors, viewers, admins, members, staff, chiefs, heads, "\u00e9quipe"]
identity:
  roles_from:
    - env: OIDC_CLAIM_groups      # mod_auth_openidc: claim `groups`, values joined by ","
      separator: ","
      prefix: "media-"
    - apache:
        members: "valid-user"              # mod_authz_user
        staff: "claim groups:staff"        # mod_auth_openidc's own claim provider
        chiefs: "claim groups:media-admins" # each element of the claim compared whole
        heads: 'claim "groups~(?s)^media-admins(?!.)"'   # exact, whatever the version
rules:
  - id: editors
    path: /media/edit/
    access: {editors: download, viewers: view}
  - id: admins
    path: /media/admin/
    access: {admins: view}
  - id: chiefs
    path: /media/chief/
    access: {chiefs: view}
  - id: heads
    path: /media/head/
    access: {heads: view}
  - id: team
    path: /media/team/
    access: {"\u00e9quipe": view}
  - id: members
    path: /optional/members/
    access: {members: view}
  - id: staff
    path: /optional/staff/
    access: {staff: view}
  - id: optional-public
    path: /optional/pub/
    access: {anonymous: view}
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
# claims from the userinfo endpoint are fetched again after a second (the
# default, 0, keeps the login's claims for the whole session)
OIDCUserInfoRefreshInterval 1
# the ID token's claims as OIDC_id_token_payload, not as OIDC_CLAIM_*: set
# after the userinfo claims, they would keep the login's groups (2.4.12:
# server-wide only)
OIDCPassIDTokenAs payload
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
# sign-in optional: mod_auth_openidc lets a visitor without a session through
# as the user "" (and its own providers grant that user), the policy decides
<Location "/optional/">
    AuthType openid-connect
    OIDCUnAuthAction pass
    AuthzSendForbiddenOnFailure On
    Require media-guard oidc
</Location>
"""

FILES = {"media/edit/a.jpg": JPEG, "media/admin/b.jpg": JPEG, "media/chief/c.jpg": JPEG,
         "media/team/t.jpg": JPEG, "media/head/h.jpg": JPEG, "optional/members/m.jpg": JPEG,
         "optional/staff/s.jpg": JPEG, "optional/pub/p.jpg": JPEG}


def _npm_install():
    """node_modules for the provider in CACHE, matching the committed lock."""
    npm_ci(OIDC_DIR, CACHE, "oidc-provider", scripts=["provider.mjs"])


class Provider:
    def __init__(self, redirect_uri, logdir):
        self.log = open(logdir / "openid-provider.log", "w+")
        on_free_port(lambda port: self._start(port, redirect_uri))

    def _start(self, port, redirect_uri):
        self.port = port
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log.seek(0)
        self.log.truncate()
        self.proc = subprocess.Popen(
            ["node", str(CACHE / "provider.mjs"), str(self.port), CLIENT_ID, CLIENT_SECRET,
             redirect_uri], cwd=CACHE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()  # blocks until "ready" or exit
        if not line.startswith("ready "):
            self.proc.wait(timeout=10)
            self.proc.stdout.close()
            self.log.seek(0)
            out = self.log.read()
            check_port_in_use(out, "the OpenID Provider")
            self.stop()
            pytest.fail(f"the OpenID Provider did not start: {line}{out}")

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
    for attempt in range(PORT_ATTEMPTS):
        # the provider knows Apache's port before Apache binds it: when
        # another process took it meanwhile, both start again on new ones
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
            break
        except PortInUse:
            srv.stop()
            op.stop()
            if attempt == PORT_ATTEMPTS - 1:
                raise
    try:
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


def refused(srv, s, path, tag, rule):
    """GET path?tag in session s: 403 without the file, role-insufficient
    for `rule` in the access log."""
    r = s.get(srv.url(f"{path}?{tag}"), timeout=15, allow_redirects=False)
    assert r.status_code == 403 and r.content != JPEG, (path, tag, r.status_code)
    assert f"mg=deny reason=role-insufficient rule={rule}" in srv.last_access(tag)


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


@pytest.mark.parametrize("kind,headers", [
    ("img", {"Accept": "image/avif,image/webp,*/*", "Sec-Fetch-Mode": "no-cors",
             "Sec-Fetch-Dest": "image"}),
    ("xhr", {"Accept": "*/*", "X-Requested-With": "XMLHttpRequest"}),
    ("fetch", {"Accept": "*/*", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}),
])
def test_without_a_session_an_embed_or_script_gets_401_not_the_provider(oidc, kind, headers):
    """Only a navigation is sent to the provider: an <img>, an XHR or a
    fetch() without a session gets mod_auth_openidc's 401 (OIDCUnAuthAction
    auth, the default), no redirect and no state cookie — what
    docs/policy.md promises for requests that are not navigations."""
    srv, _ = oidc
    r = requests.get(srv.url(f"/media/edit/a.jpg?anon={kind}"), headers=headers, timeout=15,
                     allow_redirects=False)
    assert r.status_code == 401, (r.status_code, r.headers)
    assert "Location" not in r.headers and r.content != JPEG
    assert "mod_auth_openidc_state" not in r.headers.get("Set-Cookie", "")
    assert "mg=auth reason=login-required rule=editors" in srv.last_access(f"anon={kind}")


@pytest.mark.parametrize("path", ["/optional/members/m.jpg", "/optional/staff/s.jpg"])
@pytest.mark.parametrize("browser", [True, False], ids=["navigation", "embed"])
def test_visitor_passed_through_without_a_session_holds_no_role_from_a_provider(oidc, path,
                                                                                browser):
    """OIDCUnAuthAction pass lets a visitor without a session through as the
    user "" — and then `Require valid-user` and mod_auth_openidc's own
    `Require claim` grant that user. Roles from such providers were held by
    nobody-at-all: the module's own sources say "" is not signed in, the
    providers are now asked as if no user were set."""
    srv, _ = oidc
    tag = f"pass={path.split('/')[2]}-{int(browser)}"
    r = requests.get(srv.url(f"{path}?{tag}"), headers=BROWSER if browser else {},
                     timeout=15, allow_redirects=False)
    assert r.status_code == 403, (r.status_code, r.headers)
    assert r.content != JPEG
    line = srv.last_access(tag)
    assert "mg=allow" not in line and "user= " not in line + " ", line
    # the visitor is someone: a rule anonymous users may see still lets them in
    r = requests.get(srv.url(f"/optional/pub/p.jpg?{tag}-pub"), timeout=15)
    assert r.status_code == 200 and r.content == JPEG


def test_signed_in_user_holds_provider_roles_where_sign_in_is_optional(oidc):
    srv, op = oidc
    s, r = login(srv, op, "alice", "/media/edit/a.jpg?pass=login")
    assert r.status_code == 200
    for path in ("/optional/members/m.jpg", "/optional/staff/s.jpg"):  # alice: groups has staff
        r = s.get(srv.url(path + "?pass=alice"), timeout=15, allow_redirects=False)
        assert r.status_code == 200 and r.content == JPEG, (path, r.status_code)
        assert "mg=allow" in srv.last_access(path + "?pass=alice")


def test_group_named_with_the_delimiter_is_not_two_groups(oidc):
    """mallory is in "media-viewers" and in a group she named
    "x,media-admins". mod_auth_openidc joins the claim with "," for
    OIDC_CLAIM_groups: 2.4.20 and later escape the comma inside the name
    ("x\\,media-admins"), which the module honours (one item, no role);
    earlier versions (Debian 12's 2.4.12) do not, and the variable cannot tell
    her group from two (docs/directives.md: take such roles from `claim`).
    mod_auth_openidc's own `Require claim groups:media-admins` compares each
    string element whole but for white space: not hers, carol's."""
    srv, op = oidc
    s, r = login(srv, op, "mallory", "/media/edit/a.jpg?who=mallory")
    assert r.status_code == 200 and r.content == JPEG                    # viewers: view
    refused(srv, s, "/media/chief/c.jpg", "who=mallory-chief", "chiefs")
    if claims_logged(srv, "mallory groups=media-viewers,x\\,media-admins", timeout=0.5):
        r = s.get(srv.url("/media/admin/b.jpg?who=mallory-admin"), timeout=15,
                  allow_redirects=False)
        assert r.status_code == 403
    else:  # the joined form of mod_auth_openidc < 2.4.20, as docs/directives.md says
        assert claims_logged(srv, "mallory groups=media-viewers,x,media-admins")
    s, r = login(srv, op, "carol", "/media/chief/c.jpg?who=carol")
    assert r.status_code == 200 and r.content == JPEG
    # the login flow's requests are not counted by the harness, and httpd
    # logs a request after its response: wait for the grant's own line
    deadline = time.time() + 10
    while "mg=allow" not in (srv.last_access("who=carol") or "") and time.time() < deadline:
        time.sleep(0.05)
    assert "mg=allow reason=allowed rule=chiefs" in srv.last_access("who=carol")


def test_groups_that_only_look_like_a_role_give_none(oidc):
    """Role names are compared byte for byte, after the prefix, with no case
    folding or Unicode normalisation: trudy's groups look like media-admins
    (`media-Admins`, a long s, a Cyrillic dze, a zero-width or a no-break
    space) and like media-équipe (its decomposed form), and hold neither
    role — through OIDC_CLAIM_groups nor through mod_auth_openidc's `claim`
    provider; her display name `media-admins` is no group. carol's exact
    `media-équipe` (composed, as the policy writes it) is the role."""
    srv, op = oidc
    s, r = login(srv, op, "trudy", "/media/edit/a.jpg?who=trudy")
    assert r.status_code == 200 and r.content == JPEG                      # viewers: view
    for path, rule in (("/media/admin/b.jpg", "admins"), ("/media/chief/c.jpg", "chiefs"),
                       ("/media/head/h.jpg", "heads"), ("/media/team/t.jpg", "team")):
        refused(srv, s, path, f"who=trudy-{rule}", rule)
    # what mod_auth_openidc put in the variable: every string element as sent
    # (apache escapes the log's non-ASCII bytes), the number left out
    assert claims_logged(srv, "trudy groups=media-viewers,media-Admins,media-admin\\xc5\\xbf,"
                         "media-admin\\xd1\\x95,media-admins\\xe2\\x80\\x8b,"
                         "\\xc2\\xa0media-admins,media-e\\xcc\\x81quipe,,1 ")
    s, r = login(srv, op, "carol", "/media/team/t.jpg?who=carol-team")
    assert r.status_code == 200 and r.content == JPEG


def test_group_removed_at_the_provider_stops_counting_at_the_userinfo_refresh(oidc):
    """The module holds no roles of its own: each request reads the claims
    mod_auth_openidc sets from its session. A group taken away at the
    provider counts until mod_auth_openidc fetches the userinfo claims again
    (OIDCUserInfoRefreshInterval, here 1 s; without it, until the session
    ends: OIDCSessionMaxDuration, 8 h by default). erin's groups are in her
    ID token too, which mod_auth_openidc never refreshes: through
    OIDC_CLAIM_groups (with OIDCPassIDTokenAs payload) they stop counting as
    dave's do, but its `claim` provider merges the ID token's claims over
    userinfo's and keeps granting for the whole session — docs/directives.md."""
    srv, op = oidc
    sessions = {}
    for who in ("dave", "erin"):
        sessions[who], r = login(srv, op, who, f"/media/admin/b.jpg?who={who}")
        assert r.status_code == 200 and r.content == JPEG
        r = sessions[who].get(srv.url(f"/media/chief/c.jpg?who={who}-chief"), timeout=15)
        assert r.status_code == 200 and r.content == JPEG
        r = requests.post(op.issuer + "/test/groups", params={"account": who,
                                                              "remove": "media-admins"}, timeout=5)
        assert r.status_code == 204
    time.sleep(1.1)                   # past the refresh interval, counted from the logins
    for who in ("dave", "erin"):
        tag = f"who={who}-revoked"
        refused(srv, sessions[who], "/media/admin/b.jpg", tag, "admins")
        r = sessions[who].get(srv.url(f"/media/chief/c.jpg?{tag}-chief"), timeout=15,
                              allow_redirects=False)
        # `claim groups:media-admins`: dave's userinfo no longer has it;
        # erin's ID token, from the login, still does
        assert r.status_code == (200 if who == "erin" else 403), who


def _openidc_version():
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libapache2-mod-auth-openidc"],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else ""


def _older(version, than):
    return subprocess.run(["dpkg", "--compare-versions", version, "lt", than]).returncode == 0


def test_claim_provider_is_exact_only_in_its_regex_form(oidc):
    """mod_auth_openidc before 2.4.13.2 (Debian 12: 2.4.12) passes `Require
    claim groups:media-admins` for zed, whose groups hold the number 0
    (compared with atoi("media-admins") = 0) and "media- admins" (white
    space skipped): the role chiefs. The anchored regex form is exact (heads:
    carol only), and configtest warns about the `:` form (claim-loose-match)."""
    srv, op = oidc
    s, r = login(srv, op, "zed", "/media/edit/a.jpg?who=zed")
    assert r.status_code == 200 and r.content == JPEG                      # viewers: view
    refused(srv, s, "/media/head/h.jpg", "who=zed-head", "heads")
    r = s.get(srv.url("/media/chief/c.jpg?who=zed-chief"), timeout=15, allow_redirects=False)
    version = _openidc_version()
    if version and _older(version, "2.4.13.2"):
        assert r.status_code == 200, version        # what the warning says
    s, r = login(srv, op, "carol", "/media/head/h.jpg?who=carol-head")
    assert r.status_code == 200 and r.content == JPEG
    rc, out = srv.configtest()
    assert rc == 0, out
    assert ("warning: role chiefs: mod_auth_openidc before 2.4.13.2 (Debian 12: 2.4.12) passes "
            "'Require claim groups:media-admins' for a claim or element that is the number 0 and "
            "ignores white space; write 'claim \"groups~(?s)^media-admins(?!.)\"' for an exact "
            "match") in out, out
    assert "role heads:" not in out and "role staff:" in out


FORGED = [("OIDC_CLAIM_groups", "media-admins"), ("OIDC-CLAIM-groups", "media-admins"),
          ("oidc_claim_GROUPS", "media-admins")]


@pytest.mark.parametrize("name,value", FORGED)
def test_claims_a_client_sends_as_headers_are_no_roles(oidc, name, value):
    """mod_auth_openidc also passes claims as request headers; the policy
    reads the environment variable, which no client can set: a forged header
    gives no role — without a session where sign-in is optional, and to a
    signed-in user whose claim does not carry the group."""
    srv, op = oidc
    tag = "forged=" + name.replace("_", "u").replace("-", "d")
    r = requests.get(srv.url(f"/optional/members/m.jpg?{tag}"), headers={name: value},
                     timeout=15, allow_redirects=False)
    assert r.status_code == 403
    s, r = login(srv, op, "bob", f"/media/edit/a.jpg?{tag}-login")
    r = s.get(srv.url(f"/media/admin/b.jpg?{tag}-bob"), headers={name: value}, timeout=15,
              allow_redirects=False)
    assert r.status_code == 403 and r.content != JPEG
    assert "mg=deny reason=role-insufficient" in srv.last_access(f"{tag}-bob")
