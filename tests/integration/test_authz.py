"""Roles, outcomes and response headers of `Require media-guard` in a real Apache."""

import html
import time
import urllib.parse

import pytest

from conftest import htpasswd

JPEG = b"\xff\xd8\xff\xe0 not really a jpeg"

POLICY = """\
version: 1
name: site
default: deny
login:
  url: /login
roles: [subscriber, staff]
identity:
  users:
    alice: [subscriber]
    bob: [staff]
  roles_from:
    - users
    - env: TEST_ROLES
rules:
  - id: thumbs
    path: /photos/thumbs/
    classes: [image]
    access: {anonymous: view}
  - id: originals
    path: /photos/
    classes: [image]
    corp: same-site
    access: {anonymous: none, subscriber: view, staff: download}
  - id: auth-originals
    path: /auth/
    classes: [image]
    corp: same-origin
    access: {anonymous: none, subscriber: view, staff: download}
  - id: members-message
    path: /msg/
    access: {anonymous: none}
    login: false
    corp: same-site
    deny: {message: "Subscribers <only>"}
  - id: message-like-a-url
    path: /msgc/
    access: {anonymous: none}
    login: false
    deny: {message: "Note: members only"}
  - id: message-like-a-path
    path: /msgs/
    access: {anonymous: none}
    login: false
    deny: {message: "/ no"}
  - id: message-is-a-url
    path: /msgu/
    access: {anonymous: none}
    login: false
    deny: {message: "https://x"}
  - id: message-quoted
    path: /msgq/
    access: {anonymous: none}
    login: false
    deny: {message: '"quoted" & <b>'}
  - id: signed-in-message
    path: /auth-msg/
    access: {anonymous: none, staff: view}
    login: false
    deny: {message: "Staff only: ask the desk"}
  - id: members-message-utf8
    path: /msg8/
    access: {anonymous: none}
    login: false
    deny: {message: "Nur für Abonnenten – <bitte> anmelden 🙂"}
  - id: members-page
    path: /page/
    access: {anonymous: none}
    login: false
    deny: {page: /errors/denied.html}
  - id: gone
    path: /gone/
    access: {anonymous: none}
    login: false
    corp: same-origin
    deny: {status: 404, message: "Nothing to see"}
  - id: gone-colon
    path: /gonec/
    access: {anonymous: none}
    login: false
    deny: {status: 410, message: "Gone: see /help"}
  - id: gone-slash
    path: /gones/
    access: {anonymous: none}
    login: false
    deny: {status: 404, message: "/nothing here"}
  - id: gone-url
    path: /goneu/
    access: {anonymous: none}
    login: false
    deny: {status: 451, message: "http://example.com/why"}
  - id: legal
    path: /legal/
    access: {anonymous: none}
    login: false
    corp: cross-origin
    deny: {status: 451, page: /errors/legal.html}
  - id: plain
    path: /plain/
    access: {anonymous: none}
    login: false
"""

CONF = """\
MediaGuardPolicy site @POLICIES@/site.yaml
SetEnvIf X-Test-Roles "^(.+)$" TEST_ROLES=$1
MediaGuardReasonHeader On
<Location "/photos/">
    Require media-guard site
</Location>
<Location "/auth/">
    AuthType Basic
    AuthName "media"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    Require media-guard site
</Location>
Alias "/auth/" "@HTDOCS@/photos/"
<LocationMatch "^/(msg|msg8|msgc|msgs|msgu|msgq|page|gone|gonec|gones|goneu|legal|plain)/">
    Require media-guard site
</LocationMatch>
# a signed-in user who is refused: 401 (a new password prompt) unless
# AuthzSendForbiddenOnFailure On, which makes it the 403 with the message
<Location "/auth-msg/">
    AuthType Basic
    AuthName "media"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    AuthzSendForbiddenOnFailure On
    Require media-guard site
</Location>
<Location "/auth-msg/plain401/">
    AuthzSendForbiddenOnFailure Off
</Location>
"""

FILES = {
    "photos/thumbs/t.jpg": JPEG,
    "photos/b.jpg": JPEG,
    "photos/Déjà vu \"x\".jpg": JPEG,
    "msg/a.jpg": JPEG,
    "msg8/a.jpg": JPEG,
    "msgc/a.jpg": JPEG,
    "msgs/a.jpg": JPEG,
    "msgu/a.jpg": JPEG,
    "msgq/a.jpg": JPEG,
    "gonec/a.jpg": JPEG,
    "gones/a.jpg": JPEG,
    "goneu/a.jpg": JPEG,
    "auth-msg/a.jpg": JPEG,
    "auth-msg/plain401/a.jpg": JPEG,
    "help": "help page\n",
    "nothing here": "not a body\n",
    "page/a.jpg": JPEG,
    "gone/a.jpg": JPEG,
    "legal/a.jpg": JPEG,
    "plain/a.jpg": JPEG,
    "errors/denied.html": "<html><body>custom denied page</body></html>\n",
    "errors/legal.html": "<html><body>unavailable for legal reasons</body></html>\n",
    "login": "login page\n",
}

NAV = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}
IMG = {"Accept": "image/avif,image/webp,*/*", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = apache_factory("authz", CONF, policies={"site.yaml": POLICY}, files=FILES, start=False)
    htpasswd(s.root / "htpasswd", {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"})
    return s.start()


def decision(srv, fragment):
    line = srv.last_access(fragment)
    assert line, f"no access-log line for {fragment}"
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv and kv.split("=")[0] in
                ("mg", "reason", "rule", "policy", "user"))


# ------------------------------------------------------------------ allow + headers

def test_anonymous_view_rule_serves_with_view_only_headers(srv):
    r = srv.get("/photos/thumbs/t.jpg", headers=IMG)
    assert r.status_code == 200
    assert r.content == JPEG
    assert r.headers["Content-Disposition"] == "inline"
    assert r.headers["Cache-Control"] == "private, no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Media-Guard-Reason" not in r.headers
    d = decision(srv, "/photos/thumbs/t.jpg")
    assert d == {"mg": "allow", "reason": "allowed", "rule": "thumbs", "policy": "site",
                 "user": "-"}


def test_range_request_gets_view_only_headers_on_206(srv):
    r = srv.get("/photos/thumbs/t.jpg", headers={**IMG, "Range": "bytes=0-3"})
    assert r.status_code == 206
    assert r.content == JPEG[:4]
    assert r.headers["Cache-Control"] == "private, no-store"


def test_decision_is_logged_with_rule_reason_and_canonical_path(srv):
    srv.get("/photos/thumbs/./t.jpg", headers=IMG)
    log = srv.error_log()
    assert "decision=allow reason=allowed rule=thumbs" in log
    assert "path=/photos/thumbs/t.jpg" in log


# ------------------------------------------------------------------ roles: AuthType Basic

def test_basic_user_with_view_role_gets_view_only(srv):
    r = srv.get("/auth/b.jpg", headers=IMG, auth=("alice", "alicepw"))
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == "inline"
    assert r.headers["Cache-Control"] == "private, no-store"
    assert decision(srv, "/auth/b.jpg")["user"] == "alice"


def test_view_only_user_asking_for_download_is_refused(srv):
    r = srv.get("/auth/b.jpg?download=1", headers=IMG, auth=("alice", "alicepw"))
    # signed in and denied: Apache answers an authenticated failure with 401
    assert r.status_code in (401, 403)
    assert r.headers.get("X-Media-Guard-Reason") == "download-not-allowed"
    assert decision(srv, "/auth/b.jpg?download=1")["reason"] == "download-not-allowed"


def test_download_role_gets_attachment_with_file_name(srv):
    r = srv.get("/auth/b.jpg?download=1", headers=IMG, auth=("bob", "bobpw"))
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith('attachment; filename="b.jpg"')
    assert "filename*=UTF-8''b.jpg" in r.headers["Content-Disposition"]
    assert "no-store" not in r.headers.get("Cache-Control", "")


def test_download_file_name_is_safely_quoted(srv):
    path = "/auth/" + urllib.parse.quote('Déjà vu "x".jpg') + "?download=1"
    r = srv.get(path, headers=IMG, auth=("bob", "bobpw"))
    assert r.status_code == 200
    cd = r.headers["Content-Disposition"]
    # the quoted form never contains a raw quote or non-ASCII byte
    quoted = cd.split('filename="', 1)[1].split('"', 1)[0]
    assert all(0x20 <= ord(c) < 0x7f and c not in '"\\' for c in quoted)
    assert "filename*=UTF-8''D%C3%A9j%C3%A0%20vu%20%22x%22.jpg" in cd


def test_basic_user_without_any_role_is_denied(srv):
    r = srv.get("/auth/b.jpg", headers=IMG, auth=("carol", "carolpw"))
    assert r.status_code in (401, 403)
    assert r.headers.get("X-Media-Guard-Reason") == "role-insufficient"


def test_anonymous_non_navigation_gets_apache_authentication(srv):
    r = srv.get("/auth/b.jpg", headers=IMG)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_password_is_not_accepted(srv):
    r = srv.get("/auth/b.jpg", headers=IMG, auth=("alice", "wrong"))
    assert r.status_code == 401


def test_navigation_with_credentials_authenticates_instead_of_redirecting(srv):
    r = srv.get("/auth/b.jpg", headers=NAV, auth=("alice", "alicepw"))
    assert r.status_code == 200


# ------------------------------------------------------------------ roles: environment

def test_role_from_environment_variable_grants(srv):
    r = srv.get("/photos/b.jpg", headers={**IMG, "X-Test-Roles": "staff"})
    assert r.status_code == 200
    r = srv.get("/photos/b.jpg?download=yes", headers={**IMG, "X-Test-Roles": "staff"})
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment")


def test_unknown_role_from_environment_grants_nothing(srv):
    r = srv.get("/photos/b.jpg", headers={**IMG, "X-Test-Roles": "admin"})
    assert r.status_code == 403


def test_anonymous_non_navigation_without_authtype_is_403(srv):
    r = srv.get("/photos/b.jpg", headers=IMG)
    assert r.status_code == 403
    assert r.headers["X-Media-Guard-Reason"] == "login-required"
    assert decision(srv, "/photos/b.jpg")["mg"] == "auth"


# ------------------------------------------------------------------ login redirect

def _return_to(location):
    q = urllib.parse.urlsplit(location).query
    return urllib.parse.parse_qs(q)["return_to"][0]


def test_navigation_without_user_redirects_to_login_with_return_url(srv):
    r = srv.get("/photos/b.jpg?size=2", headers=NAV)
    assert r.status_code == 302
    loc = r.headers["Location"]
    parts = urllib.parse.urlsplit(loc)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", f"127.0.0.1:{srv.port}", "/login")
    assert _return_to(loc) == "/photos/b.jpg?size=2"
    assert decision(srv, "/photos/b.jpg?size=2")["mg"] == "login"


def test_login_redirect_leaves_token_parameters_out_of_the_return_url(srv):
    target = "/photos/b.jpg?size=2&mg_kid=k&mg_exp=1900000000&mg_sig=c2lnbmF0dXJl"
    r = srv.get(target, headers=NAV)
    assert r.status_code == 302
    loc = r.headers["Location"]
    assert "mg_" not in urllib.parse.unquote(urllib.parse.unquote(loc))
    assert "c2lnbmF0dXJl" not in loc
    assert _return_to(loc) == "/photos/b.jpg?size=2"


@pytest.mark.parametrize("target,host", [
    ("/photos/b.jpg", "evil.example"),
    ("/photos/b.jpg", "evil.example:8443"),
    ("http://evil.example/photos/b.jpg", "evil.example"),
])
def test_local_login_redirect_uses_the_server_name_never_the_client_host(srv, target, host):
    r = srv.raw(target, headers={**NAV, "Host": host})
    assert r.status_code == 302
    parts = urllib.parse.urlsplit(r.headers["Location"])
    assert (parts.scheme, parts.netloc, parts.path) == ("http", f"127.0.0.1:{srv.port}", "/login")
    assert _return_to(r.headers["Location"]) == "/photos/b.jpg"


@pytest.mark.parametrize("headers", [
    {"X-Forwarded-Host": "evil.example"},
    {"Forwarded": "host=evil.example;proto=https"},
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Host": "evil.example:8443", "X-Forwarded-Proto": "https",
     "X-Forwarded-Port": "8443", "X-Forwarded-Server": "evil.example"},
    {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example",
     "X-Forwarded-Proto": "https"},
])
def test_local_login_redirect_ignores_forwarding_headers(srv, headers):
    """No trusted proxy is configured: what a front proxy would say about the
    host and scheme, sent by the client itself, changes neither (UseCanonicalName
    Off, httpd's default, is in force: ap_construct_url would use the Host)."""
    r = srv.raw("/photos/b.jpg", headers={**NAV, **headers})
    assert r.status_code == 302
    parts = urllib.parse.urlsplit(r.headers["Location"])
    assert (parts.scheme, parts.netloc, parts.path) == ("http", f"127.0.0.1:{srv.port}", "/login")
    assert _return_to(r.headers["Location"]) == "/photos/b.jpg"


WHOLE_SITE_POLICY = """\
version: 1
default: deny
login:
  url: https://login.example/signin
  return_param: next
roles: [member]
rules:
  - id: everything
    path: /
    access: {anonymous: none, member: view}
"""


@pytest.fixture(scope="module")
def whole_site(apache_factory):
    return apache_factory("openredirect", """
MediaGuardPolicy all @POLICIES@/all.yaml
<Location "/">
    Require media-guard all
</Location>
""", policies={"all.yaml": WHOLE_SITE_POLICY})


@pytest.mark.parametrize("target", [
    "/photos/a.jpg",
    "//evil.example/photos/b.jpg",
    "/\\evil.example/photos/b.jpg",
    "/%2F%2Fevil.example/photos/b.jpg",
    "/%5Cevil.example/b.jpg",
    "/photos/..//evil.example/b.jpg",
    "/./\\/evil.example/b.jpg",
    "///evil.example",
])
def test_login_return_url_can_never_leave_the_site(whole_site, target):
    r = whole_site.raw(target, headers=NAV)
    if r.status_code != 302:
        # refused outright as a malformed URL is also safe, never a redirect
        assert r.status_code in (400, 403, 404), (target, r.status_code)
        assert "Location" not in r.headers
        return
    loc = r.headers["Location"]
    parts = urllib.parse.urlsplit(loc)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "login.example", "/signin")
    ret = urllib.parse.parse_qs(parts.query)["next"][0]
    assert ret.startswith("/") and not ret.startswith("//") and "\\" not in ret, ret
    # a browser resolving the return URL against the site stays on the site
    site = f"http://127.0.0.1:{whole_site.port}/"
    assert urllib.parse.urlsplit(urllib.parse.urljoin(site, ret)).netloc == \
        f"127.0.0.1:{whole_site.port}"


def test_login_redirect_to_absolute_login_url_carries_return_path(whole_site):
    r = whole_site.raw("/photos/a.jpg?x=1&y=%C3%A9", headers=NAV)
    assert r.status_code == 302
    parts = urllib.parse.urlsplit(r.headers["Location"])
    assert urllib.parse.parse_qs(parts.query)["next"][0] == "/photos/a.jpg?x=1&y=%C3%A9"


# ------------------------------------------------------------------ deny forms

def test_custom_message_is_exactly_the_escaped_body_of_the_403(srv):
    r = srv.get("/msg/a.jpg", headers=IMG)
    assert r.status_code == 403
    # exactly the message: no '"' (httpd's text marker) before it, nothing after it
    assert r.content == b"Subscribers &lt;only&gt;"
    # policies are UTF-8: not httpd's "text/html; charset=iso-8859-1" for error bodies
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert decision(srv, "/msg/a.jpg")["reason"] == "role-insufficient"


def test_custom_message_in_utf8_is_sent_as_utf8_and_labelled_so(srv):
    r = srv.get("/msg8/a.jpg", headers=IMG)
    assert r.status_code == 403
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.content == "Nur für Abonnenten – &lt;bitte&gt; anmelden 🙂".encode()
    assert html.unescape(r.text) == "Nur für Abonnenten – <bitte> anmelden 🙂"


def test_error_without_a_policy_message_keeps_httpds_label(srv):
    # a refusal without a message is httpd's own page, which is Latin-1
    r = srv.get("/plain/a.jpg", headers=IMG)
    assert r.status_code == 403
    assert r.headers["Content-Type"] == "text/html; charset=iso-8859-1"


@pytest.mark.parametrize("path,body,text", [
    # ap_custom_response would take these for a URL (a 302) or a local path
    # (an internal redirect): the first character is a numeric reference
    ("/msgc/a.jpg", b"&#x4E;ote: members only", "Note: members only"),
    ("/msgs/a.jpg", b"&#x2F; no", "/ no"),
    ("/msgu/a.jpg", b"&#x68;ttps://x", "https://x"),
    # a leading quote is escaped like every quote, never httpd's text marker
    ("/msgq/a.jpg", b"&quot;quoted&quot; &amp; &lt;b&gt;", '"quoted" & <b>'),
])
def test_custom_message_that_looks_like_a_url_or_path_is_sent_as_text(srv, path, body, text):
    r = srv.get(path, headers=IMG)
    assert r.status_code == 403
    assert "Location" not in r.headers
    assert r.content == body
    assert html.unescape(r.text) == text


def test_custom_page_is_served_with_403(srv):
    r = srv.get("/page/a.jpg", headers=IMG)
    assert r.status_code == 403
    assert "custom denied page" in r.text
    # %< reads the original request: the decision survives the internal redirect
    d = decision(srv, "/page/a.jpg")
    assert d["mg"] == "deny" and d["rule"] == "members-page"


def test_custom_status_with_message(srv):
    r = srv.get("/gone/a.jpg", headers=IMG)
    assert r.status_code == 404
    assert r.content == b"Nothing to see"
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["X-Media-Guard-Reason"] == "role-insufficient"
    assert decision(srv, "/gone/a.jpg")["rule"] == "gone"


@pytest.mark.parametrize("path,status,body,text", [
    ("/gonec/a.jpg", 410, b"&#x47;one: see /help", "Gone: see /help"),
    ("/gones/a.jpg", 404, b"&#x2F;nothing here", "/nothing here"),
    ("/goneu/a.jpg", 451, b"&#x68;ttp://example.com/why", "http://example.com/why"),
])
def test_custom_status_message_that_looks_like_a_url_or_path_is_sent_as_text(
        srv, path, status, body, text):
    r = srv.get(path, headers=IMG)
    assert r.status_code == status
    assert "Location" not in r.headers
    assert r.content == body
    assert html.unescape(r.text) == text


def test_custom_status_with_page(srv):
    r = srv.get("/legal/a.jpg", headers=IMG)
    assert r.status_code == 451
    assert "unavailable for legal reasons" in r.text


def test_head_request_to_custom_status_has_no_body(srv):
    r = srv.head("/gone/a.jpg", headers=IMG)
    assert r.status_code == 404
    assert r.content == b""


# ------------------------------------------------------------------ headers of refusals

@pytest.mark.parametrize("path,kw,status,corp", [
    ("/msg/a.jpg", {"headers": IMG}, 403, "same-site"),          # deny.message
    ("/gone/a.jpg", {"headers": IMG}, 404, "same-origin"),       # deny.status, deny handler
    ("/legal/a.jpg", {"headers": IMG}, 451, "cross-origin"),     # deny.status + deny.page
    ("/photos/b.jpg", {"headers": NAV}, 302, "same-site"),       # login redirect
    ("/photos/b.jpg", {"headers": IMG}, 403, "same-site"),       # auth without an AuthType
    ("/auth/b.jpg", {"headers": IMG}, 401, "same-origin"),       # Apache's authentication
    ("/auth/b.jpg", {"headers": IMG, "auth": ("carol", "carolpw")}, 401, "same-origin"),
])
def test_refusal_carries_the_rules_corp_and_private_no_store(srv, path, kw, status, corp):
    r = srv.get(path, **kw)
    assert r.status_code == status
    assert r.headers["Cross-Origin-Resource-Policy"] == corp
    assert r.headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("path,status", [
    ("/plain/a.jpg", 403),          # a rule without corp
    ("/page/a.jpg", 403),           # deny.page with 403
    ("/photos/notes.txt", 403),     # no rule owns it
    ("/msgc/a.jpg", 403),
])
def test_refusal_without_a_corp_is_still_private_no_store(srv, path, status):
    r = srv.get(path, headers=IMG)
    assert r.status_code == status
    assert r.headers["Cache-Control"] == "private, no-store"
    assert "Cross-Origin-Resource-Policy" not in r.headers


def test_refusal_before_authentication_leaves_no_header_on_the_grant(srv):
    # first decided anonymous (auth: 401 headers), then allowed for the user
    r = srv.get("/auth/b.jpg", headers=IMG, auth=("alice", "alicepw"))
    assert r.status_code == 200
    assert r.headers["Cross-Origin-Resource-Policy"] == "same-origin"   # once, not twice
    assert r.headers["Cache-Control"] == "private, no-store"             # the view level's
    r = srv.get("/auth/b.jpg?download=1", headers=IMG, auth=("bob", "bobpw"))
    assert r.status_code == 200
    assert r.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert r.headers["Cache-Control"] == "private"                       # the download level's


def test_signed_in_user_refused_gets_the_message_with_authz_send_forbidden_on_failure(srv):
    r = srv.get("/auth-msg/a.jpg", headers=IMG, auth=("alice", "alicepw"))
    assert r.status_code == 403
    assert r.content == b"Staff only: ask the desk"   # 'Staff only' is no URL scheme
    assert "WWW-Authenticate" not in r.headers
    assert r.headers["Cache-Control"] == "private, no-store"
    assert srv.get("/auth-msg/a.jpg", headers=IMG, auth=("bob", "bobpw")).status_code == 200


def test_signed_in_user_refused_without_authz_send_forbidden_on_failure_is_prompted_again(srv):
    r = srv.get("/auth-msg/plain401/a.jpg", headers=IMG, auth=("alice", "alicepw"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert b"ask the desk" not in r.content
    assert decision(srv, "/auth-msg/plain401/a.jpg")["reason"] == "role-insufficient"


@pytest.mark.parametrize("status", [401, 407])
def test_configtest_refuses_a_deny_status_that_needs_a_challenge(apache_factory, status):
    pol = ("version: 1\nrules:\n  - id: s\n    path: /s/\n    access: {anonymous: none}\n"
           f"    login: false\n    deny: {{status: {status}, message: nope}}\n")
    s = apache_factory(f"deny{status}", "MediaGuardPolicy p @POLICIES@/p.yaml\n",
                       policies={"p.yaml": pol}, start=False)
    rc, out = s.configtest()
    assert rc != 0, out
    assert "p.yaml:7:" in out and "error:" in out and f"deny status {status}" in out, out


def test_plain_deny_is_403(srv):
    r = srv.get("/plain/a.jpg", headers=NAV)
    assert r.status_code == 403
    assert "Forbidden" in r.text


def test_deny_uri_requested_directly_is_not_special(srv):
    r = srv.get("/.media-guard/deny")
    assert r.status_code == 404


def test_path_without_rule_is_denied_by_default(srv):
    r = srv.get("/photos/notes.txt")
    assert r.status_code == 403
    assert r.headers["X-Media-Guard-Reason"] == "no-rule"


def test_secrets_in_query_are_not_logged(srv):
    srv.get("/photos/b.jpg?mg_sig=SECRETSIGNATURE123", headers=IMG)
    assert "SECRETSIGNATURE123" not in srv.error_log()


def test_absolute_form_request_target_is_decided_on_its_path(srv):
    r = srv.raw(f"http://127.0.0.1:{srv.port}/photos/thumbs/t.jpg", headers=IMG)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
    r = srv.raw(f"http://127.0.0.1:{srv.port}/photos/b.jpg?x=1", headers=NAV)
    assert r.status_code == 302
    assert _return_to(r.headers["Location"]) == "/photos/b.jpg?x=1"


# ------------------------------------------------------------------ cookie-session authentication

FORM_POLICY = """\
version: 1
default: deny
login:
  url: /policy-login
roles: [subscriber]
identity:
  users:
    alice: [subscriber]
rules:
  - id: members
    path: /form/
    access: {anonymous: none, subscriber: view}
"""

FORM_CONF = """\
MediaGuardPolicy form @POLICIES@/form.yaml
<Location "/form/">
    AuthType form
    AuthName realm
    AuthFormProvider file
    AuthUserFile "@ROOT@/htpasswd"
    AuthFormLoginRequiredLocation "/formlogin.html"
    Session On
    SessionCookieName session path=/
    Require media-guard form
</Location>
"""


@pytest.fixture(scope="module")
def form_srv(apache_factory):
    s = apache_factory("authform", FORM_CONF, policies={"form.yaml": FORM_POLICY},
                       files={"form/a.jpg": JPEG, "formlogin.html": "form\n"},
                       extra_modules=["session", "session_cookie", "request", "auth_form"],
                       start=False)
    htpasswd(s.root / "htpasswd", {"alice": "alicepw"})
    return s.start()


def test_cookie_session_auth_module_runs_its_own_login_flow(form_srv):
    r = form_srv.get("/form/a.jpg", headers=NAV)
    assert r.status_code == 302
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/formlogin.html"


def test_cookie_session_user_is_recognised_without_a_login_redirect(form_srv):
    cookie = "session=" + urllib.parse.quote("realm-user=alice&realm-pw=alicepw", safe="=&")
    # httpd writes a request's access-log line after sending its response, so
    # the previous test's line can land after this one's: wait until every
    # request sent so far has its line, then read only lines after that mark
    deadline = time.time() + 10
    while (len(form_srv.access_log().splitlines()) < form_srv.requests_sent
           and time.time() < deadline):
        time.sleep(0.02)
    mark = len(form_srv.access_log().splitlines())
    r = form_srv.get("/form/a.jpg", headers={**NAV, "Cookie": cookie})
    assert r.status_code == 200 and r.content == JPEG
    deadline = time.time() + 10
    while True:
        mine = [ln for ln in form_srv.access_log().splitlines()[mark:] if "/form/a.jpg" in ln]
        if mine or time.time() > deadline:
            break
        time.sleep(0.02)
    assert len(mine) == 1, mine
    assert " user=alice" in mine[0] and " mg=allow " in mine[0], mine[0]


# ------------------------------------------------------------------ Cache-Control through a proxy

CACHE_POLICY = """\
version: 1
default: deny
roles: [staff]
identity:
  users:
    bob: [staff]
rules:
  - id: public
    path: /img/pub/
    access: {anonymous: download}
  - id: public-view
    path: /img/pubview/
    access: {anonymous: view}
  - id: staff
    path: /img/staff/
    access: {anonymous: none, staff: download}
  - id: mixed
    path: /img/mixed/
    access: {anonymous: view, staff: download}
  - id: office
    path: /img/office/
    ip: {allow: [127.0.0.0/8]}
    access: {anonymous: download}
  - id: signed
    path: /img/signed/
    token: required
keys:
  - id: k1
    file: keys/k1.key
    sign: true
"""

CACHE_CONF = """\
MediaGuardPolicy c @POLICIES@/c.yaml
ProxyPass "/img/" "@BACKEND@/img/"
<Location "/img/">
    AuthType Basic
    AuthName "media"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    Require media-guard c
</Location>
"""


@pytest.fixture(scope="module")
def cache_srv(apache_factory):
    s = apache_factory("cachectl", CACHE_CONF, policies={"c.yaml": CACHE_POLICY},
                       extra_modules=["proxy", "proxy_http"], start=False)
    htpasswd(s.root / "htpasswd", {"bob": "bobpw"})
    key = s.policy_dir / "keys" / "k1.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n")
    key.chmod(0o600)
    return s.start()


def test_token_gated_download_is_private(cache_srv, mgctl):
    p = mgctl("sign", "--policy", cache_srv.policy_dir / "c.yaml", "--ttl", "10m", "--access",
              "download", "/img/signed/a.jpg")
    assert p.returncode == 0, p.stderr
    r = cache_srv.raw(p.stdout.strip(), headers=IMG)
    assert r.status_code == 200
    cc = [d.strip() for d in r.headers["Cache-Control"].split(",")]
    assert cc[0] == "private" and "public" not in cc, cc


def test_role_gated_download_is_private_even_when_the_origin_says_public(cache_srv):
    for target in ("/img/staff/a.jpg", "/img/staff/a.jpg?download=1"):
        r = cache_srv.get(target, headers=IMG, auth=("bob", "bobpw"))
        assert r.status_code == 200 and r.text.startswith("origin:/img/staff/a.jpg")
        cc = [d.strip() for d in r.headers["Cache-Control"].split(",")]
        assert "private" in cc and "public" not in cc, cc
        assert "max-age=3600" in cc  # the origin's freshness is kept for the browser's own cache


def test_download_granted_by_a_role_where_anonymous_may_only_view_is_private(cache_srv):
    # anonymous may view, so only a download request makes Apache authenticate bob
    r = cache_srv.get("/img/mixed/a.jpg?download=1", headers=IMG, auth=("bob", "bobpw"))
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert "public" not in r.headers["Cache-Control"]
    assert r.headers["Cache-Control"].startswith("private")


def test_anonymous_download_keeps_the_origins_cache_control(cache_srv):
    r = cache_srv.get("/img/pub/a.jpg", headers=IMG)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=3600"


def test_anonymous_download_that_depends_on_the_client_address_is_private(cache_srv):
    r = cache_srv.get("/img/office/a.jpg", headers=IMG)
    assert r.status_code == 200
    assert r.headers["Cache-Control"].startswith("private")
    assert "public" not in r.headers["Cache-Control"]


def test_view_only_stays_private_no_store(cache_srv):
    r = cache_srv.get("/img/pubview/a.jpg", headers=IMG)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "private, no-store"
