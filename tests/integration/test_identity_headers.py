"""Roles and the country from request headers (`roles_from: [{header: ...}]`,
`country.from: {header: CF-IPCountry}`): believed only from a TCP peer in the
policy's trusted_proxies — never from the client, and never because
mod_remoteip took a forwarded address that names a trusted proxy. mgctl
explain decides the same requests alike.
"""
import http.client
import json

import pytest

JPEG = b"\xff\xd8\xff\xe0" + b"hdr" * 50

POLICY = """\
version: 1
trusted_proxies: [@TRUSTED@]
roles: [editors]
identity:
  roles_from:
    - header: X-Roles
country:
  from: {header: CF-IPCountry}
rules:
  - id: editors
    path: /ed/
    access: {editors: view}
  - id: eu
    path: /eu/
    country: {allow: [DE]}
    access: {anonymous: view}
"""

CONF = """\
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
MediaGuardPolicy hdr @POLICIES@/hdr.yaml
<LocationMatch "^/(ed|eu)/">
    Require media-guard hdr
</LocationMatch>
"""

FILES = {"ed/a.jpg": JPEG, "eu/a.jpg": JPEG}
HEADERS = {"X-Roles": "editors", "CF-IPCountry": "DE"}


def server(apache_factory, name, trusted):
    return apache_factory(name, CONF, policies={"hdr.yaml": POLICY.replace("@TRUSTED@", trusted)},
                          files=FILES, extra_modules=["remoteip"])


@pytest.fixture(scope="module")
def untrusted(apache_factory):
    return server(apache_factory, "hdr-untrusted", "10.9.9.9")   # the TCP peer is 127.0.0.1


@pytest.fixture(scope="module")
def trusted(apache_factory):
    return server(apache_factory, "hdr-trusted", "127.0.0.1")


def reason(srv, tag):
    line = srv.last_access(tag)
    assert line, tag
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)["reason"]


@pytest.mark.parametrize("xff", [None, "10.9.9.9"], ids=["direct", "forwarded-as-the-proxy"])
def test_headers_from_a_peer_outside_trusted_proxies_are_not_believed(untrusted, mgctl, xff):
    """The client sends X-Roles and CF-IPCountry itself; forwarding
    "10.9.9.9" makes mod_remoteip take the trusted proxy's address as the
    client's, but the peer is still 127.0.0.1."""
    h = dict(HEADERS)
    if xff:
        h["X-Forwarded-For"] = xff
    tag = f"h=untrusted-{xff}"
    assert untrusted.get(f"/ed/a.jpg?{tag}-ed", headers=h).status_code in (401, 403)
    assert reason(untrusted, f"{tag}-ed") in ("login-required", "role-insufficient")
    assert untrusted.get(f"/eu/a.jpg?{tag}-eu", headers=h).status_code == 403
    assert reason(untrusted, f"{tag}-eu") == "country-unknown"
    pol = str(untrusted.policy_dir / "hdr.yaml")
    p = mgctl("explain", "--policy", pol, "--ip", xff or "127.0.0.1", "--peer", "127.0.0.1",
              "-H", "CF-IPCountry: DE", "--format", "json", "/eu/a.jpg")
    assert json.loads(p.stdout)["reason"] == "country-unknown", p.stdout + p.stderr


def test_headers_from_a_trusted_peer_are_believed(trusted, mgctl):
    assert trusted.get("/ed/a.jpg?h=trusted-ed", headers=HEADERS).status_code == 200
    r = trusted.get("/eu/a.jpg?h=trusted-eu", headers=HEADERS)
    assert r.status_code == 200 and r.content == JPEG
    # a line the client added next to the proxy's is joined by httpd: "DE, US" is no country
    c = http.client.HTTPConnection("127.0.0.1", trusted.port, timeout=10)
    c.putrequest("GET", "/eu/a.jpg?h=trusted-two")
    c.putheader("CF-IPCountry", "DE")
    c.putheader("CF-IPCountry", "US")
    c.endheaders()
    assert c.getresponse().status == 403
    c.close()
    assert reason(trusted, "h=trusted-two") == "country-unknown"
    p = mgctl("explain", "--policy", str(trusted.policy_dir / "hdr.yaml"), "--ip", "127.0.0.1",
              "-H", "CF-IPCountry: DE", "--format", "json", "/eu/a.jpg")
    assert json.loads(p.stdout)["reason"] == "allowed", p.stdout + p.stderr
