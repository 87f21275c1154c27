"""Foreign links grant the renditions their vendor would serve, no more
(red team 22; docs/token-formats.md, "How a foreign link is checked"): a
'tr:' segment is part of the path an Akamai ACL or a Bunny token_path is
compared with, a query transformation (?tr=) needs a signature over the
query or a wildcard, and a Bunny link's signed pairs cannot be merged into
one by encoding their separators. Apache serves every file here as it is
(a 200 is a grant), and `mgctl verify` gives the reason Apache gives."""

import hashlib
import hmac
import json
import pathlib
import sys
import time
from base64 import urlsafe_b64encode

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "signers"))
import sign_formats  # noqa: E402  (the independent Python signer)
from conftest import keyed_server, mgctl_signer, write_secrets  # noqa: E402

JPG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
AK_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
BN_KEY = "bunny-security-key-0001"
NG_KEY = "nginx-secret-0001"

POLICY = """\
version: 1
name: rend
keys:
  - {id: ak, format: akamai-edgeauth, file: keys/akamai.hex}
  - {id: bn, format: bunny, file: keys/bunny.secret}
  - id: ng
    format: nginx-secure-link
    file: keys/nginx.secret
    options: {expression: "$secure_link_expires$uri $secret", expires_param: e}
  - id: ng-args
    format: nginx-secure-link
    file: keys/nginx.secret
    options: {expression: "$secure_link_expires$uri?$args $secret", expires_param: e}
rules:
  - {id: media, path: /v/, token: required}
"""

CONF = """\
MediaGuardPolicy rend @POLICIES@/rend.yaml
MediaGuardReasonHeader On
<Location "/">
    Require media-guard rend
</Location>
"""

# every path a request below names exists: a refusal is the module's
FILES = {"v/a.jpg": JPG, "v/tr:w-300/a.jpg": JPG, "tr:w-300/v/a.jpg": JPG, "v/a.jp": JPG,
         "v/index.html": "<p>the directory</p>"}


KEYS = {"akamai.hex": AK_KEY + "\n", "bunny.secret": BN_KEY + "\n", "nginx.secret": NG_KEY + "\n"}


@pytest.fixture(scope="module")
def srv(apache_factory):
    return keyed_server(apache_factory, "formats-renditions", CONF, {"rend.yaml": POLICY}, FILES,
                        KEYS)


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    """sign(fmt, *args, key=KEY-ID): a link valid for ten minutes."""
    return mgctl_signer(mgctl, srv.policy_dir / "rend.yaml", "--ttl", "10m")


def decide(srv, mgctl, target):
    """Apache's answer and mgctl verify's reason for the same target, which
    must agree; the reason ('allowed-by-token' when served)."""
    r = srv.raw(target)
    got = "allowed-by-token" if r.status_code == 200 else r.headers.get("X-Media-Guard-Reason")
    assert r.status_code in (200, 403), (target, r.status_code)
    p = mgctl("verify", "--policy", srv.policy_dir / "rend.yaml", "-f", "json", target)
    assert json.loads(p.stdout)["reason"] == got, (target, p.stdout)
    return got


def query(link):
    return link.split("?", 1)[1]


def test_akamai_acl_names_renditions_as_akamai_sees_the_path(srv, mgctl):
    exp = int(time.time()) + 600
    one = sign_formats.akamai_token(AK_KEY, {}, "hmac-sha256", exp, acl=["/v/a.jpg"])
    assert decide(srv, mgctl, "/v/a.jpg?__token__=" + one) == "allowed-by-token"
    for target in ("/v/tr:w-300/a.jpg?__token__=" + one, "/tr:w-300/v/a.jpg?__token__=" + one,
                   "/v/a.jpg?tr=w-300&__token__=" + one):
        assert decide(srv, mgctl, target) == "token-out-of-scope", target
    rend = sign_formats.akamai_token(AK_KEY, {}, "hmac-sha256", exp, acl=["/v/tr:w-300/a.jpg"])
    assert decide(srv, mgctl, "/v/tr:w-300/a.jpg?__token__=" + rend) == "allowed-by-token"
    star = sign_formats.akamai_token(AK_KEY, {}, "hmac-sha256", exp, acl=["/v/*"])
    assert decide(srv, mgctl, "/v/tr:w-300/a.jpg?__token__=" + star) == "allowed-by-token"
    assert decide(srv, mgctl, "/v/a.jpg?tr=w-300&__token__=" + star) == "allowed-by-token"
    assert decide(srv, mgctl, "/tr:w-300/v/a.jpg?__token__=" + star) == "token-out-of-scope"


def test_akamai_acl_grants_query_and_path_forms_of_a_rendition_alike(srv, mgctl):
    """/v/a.jpg?tr=w-300 is the rendition /v/tr:w-300/a.jpg: an ACL entry
    grants both or neither (fix 22b: /v/a.jpg then a star refused the path
    form and granted the query form)."""
    exp = int(time.time()) + 600
    for acl, want in (("/v/a.jpg*", "token-out-of-scope"), ("/v/*", "allowed-by-token"),
                      ("/v/a.jpg", "token-out-of-scope"), ("/*", "allowed-by-token"),
                      ("/v/tr:w-300/*", "allowed-by-token")):
        tok = sign_formats.akamai_token(AK_KEY, {}, "hmac-sha256", exp, acl=[acl])
        path = decide(srv, mgctl, "/v/tr:w-300/a.jpg?__token__=" + tok)
        query_form = decide(srv, mgctl, "/v/a.jpg?tr=w-300&__token__=" + tok)
        assert (path, query_form) == (want, want), acl


def test_bunny_token_path_holds_no_tr_segment_in_front(srv, mgctl, sign):
    q = query(sign("bunny", "--prefix", "/v/", "/v/a.jpg", key="bn"))
    assert decide(srv, mgctl, "/v/a.jpg?" + q) == "allowed-by-token"
    assert decide(srv, mgctl, "/v/tr:w-300/a.jpg?" + q) == "allowed-by-token"
    assert decide(srv, mgctl, "/tr:w-300/v/a.jpg?" + q) == "token-out-of-scope"


def test_bunny_signed_pairs_cannot_be_merged_by_encoding(srv, mgctl, sign):
    link = sign("bunny", "/v/a.jpg?a=1&tr=w-300", key="bn")
    assert decide(srv, mgctl, link) == "allowed-by-token"
    merged = link.replace("a=1&tr=w-300", "a=1%26tr%3Dw-300")
    assert merged != link
    assert decide(srv, mgctl, merged) == "token-malformed"


def test_bunny_ignore_params_link_signs_no_query_transformation(srv, mgctl):
    exp = int(time.time()) + 600
    mac = hmac.new(BN_KEY.encode(), b"/v/a.jpg%dtoken_ignore_params=true" % exp,
                   hashlib.sha256).digest()
    q = "token=HS256-%s&token_ignore_params=true&expires=%d" % (
        urlsafe_b64encode(mac).decode().rstrip("="), exp)
    assert decide(srv, mgctl, "/v/a.jpg?" + q) == "allowed-by-token"
    assert decide(srv, mgctl, "/v/a.jpg?x=1&" + q) == "allowed-by-token"
    assert decide(srv, mgctl, "/v/a.jpg?tr=w-300&" + q) == "token-out-of-scope"


def test_nginx_without_args_signs_no_query_transformation(srv, mgctl, sign):
    q = query(sign("nginx-secure-link", "/v/a.jpg", key="ng"))
    assert decide(srv, mgctl, "/v/a.jpg?" + q) == "allowed-by-token"
    assert decide(srv, mgctl, "/v/a.jpg?tr=w-300&" + q) == "token-out-of-scope"
    assert decide(srv, mgctl, sign("nginx-secure-link", "/v/tr:w-300/a.jpg", key="ng")) == \
        "allowed-by-token"


def test_nginx_args_cannot_move_the_query_into_the_path(srv, mgctl, sign):
    link = sign("nginx-secure-link", "/v/a.jpg?x=1", key="ng-args")
    assert decide(srv, mgctl, link) == "allowed-by-token"
    t = link[link.index("&md5="):]
    for moved in ("/v/?a.jpgx=1", "/v/a.jp?gx=1"):
        assert decide(srv, mgctl, moved + t) == "token-bad-signature", moved
    # a '?' in the query could be taken for the boundary (the first key's
    # refusal, a bad signature, is the one reported; test_fmt has ng-args's)
    assert decide(srv, mgctl, "/v/a.jpg?x=1?" + t) != "allowed-by-token"


def test_configtest_refuses_args_without_boundaries(apache_factory):
    """$uri$args hashed /v/a.jpg?x=1 as /v/?a.jpgx=1: such a key is refused."""
    bad = POLICY.replace("$uri?$args $secret", "$uri$args $secret")
    assert bad != POLICY
    s = apache_factory("formats-renditions-bad", CONF, policies={"rend.yaml": bad}, files={},
                       start=False)
    write_secrets(s, KEYS)
    rc, out = s.configtest()
    assert rc != 0
    assert "option expression must write $args once, right after a '?'" in out
