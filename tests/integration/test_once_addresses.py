"""What "a client address" is for one-time links (docs/token-spec.md, "One-time
and N-use links"): an address, not a text. Apache (APR) reports an IPv4-mapped
IPv6 address from mod_remoteip's header as its IPv4 form, the module compares
addresses in binary, so spellings of one address are one client; an IPv4 and an
IPv6 address are two."""

import pytest

JPEG = b"\xff\xd8\xff\xe0 one-time" * 8
KEY = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"

POLICY = """\
version: 1
keys:
  - id: k1
    file: keys/k1.key
    sign: true
rules:
  - id: media
    path: /media/
    token: required
"""

CONF = """\
MediaGuardOnceCache shmcb:@ROOT@/logs/mg-once(512000) lost_records=warn
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
MediaGuardPolicy once @POLICIES@/once.yaml
MediaGuardReasonHeader On
<Location "/media/">
    Require media-guard once
</Location>
"""


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = apache_factory("once-addr", CONF, policies={"once.yaml": POLICY},
                       files={"media/a.jpg": JPEG},
                       extra_modules=["remoteip", "socache_shmcb"], start=False)
    kd = s.policy_dir / "keys"
    kd.mkdir(parents=True, exist_ok=True)
    (kd / "k1.key").write_text(KEY)
    (kd / "k1.key").chmod(0o600)
    return s.start()


@pytest.fixture
def once_link(srv, mgctl):
    p = mgctl("sign", "--policy", srv.policy_dir / "once.yaml", "--ttl", "10m", "--once",
              "/media/a.jpg")
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def get(srv, url, ip):
    return srv.get(url, headers={"X-Forwarded-For": ip})


def test_ipv4_mapped_ipv6_client_is_the_same_client_as_its_ipv4_address(srv, once_link):
    assert get(srv, once_link, "::ffff:203.0.113.7").status_code == 200
    assert get(srv, once_link, "203.0.113.7").status_code == 200      # the claimant again
    r = get(srv, once_link, "203.0.113.8")
    assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "token-used"


def test_spellings_of_one_ipv6_address_are_one_client(srv, once_link):
    assert get(srv, once_link, "2001:DB8:0:0:0:0:0:7").status_code == 200
    assert get(srv, once_link, "2001:db8::7").status_code == 200
    r = get(srv, once_link, "2001:db8::8")
    assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "token-used"


def test_ipv4_and_ipv6_addresses_are_different_clients(srv, once_link):
    assert get(srv, once_link, "2001:db8::9").status_code == 200
    r = get(srv, once_link, "203.0.113.9")
    assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "token-used"
