"""Rule conditions end to end: IP (also behind mod_remoteip), time windows, country,
hotlink, transformations — on local files and on a proxied origin."""

import datetime
import json
import socket
import zoneinfo

import pytest
import requests

JPEG = b"\xff\xd8\xff\xe0 conditions"
IMG = {"Accept": "image/webp,*/*", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}


def pick_zone():
    """The zone (of a few) whose local time is farthest from midnight, so that
    "today" cannot change while the test runs."""
    best = None
    for name in ("America/New_York", "Europe/Berlin", "Asia/Tokyo", "Pacific/Auckland",
                 "America/Los_Angeles", "Asia/Kolkata"):
        now = datetime.datetime.now(zoneinfo.ZoneInfo(name))
        minutes = now.hour * 60 + now.minute
        dist = min(minutes, 1440 - minutes)
        if best is None or dist > best[0]:
            best = (dist, name, now)
    return best[1], best[2]


def hhmm(minutes):
    minutes %= 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def time_policy():
    zone, now = pick_zone()
    m = now.hour * 60 + now.minute
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    today = days[now.weekday()]
    others = [d for d in days if d != today]
    return zone, f"""\
version: 1
default: deny
timezone: {zone}
time_windows:
  around-now:
    hours: ["{hhmm(m - 90)}-{hhmm(m + 90)}"]
  later-today:
    hours: ["{hhmm(m + 120)}-{hhmm(m + 180)}"]
  today:
    days: [{today}]
  other-days:
    days: [{", ".join(others)}]
rules:
  - id: open-now
    path: /t/now/
    time: [around-now]
    access: {{anonymous: view}}
  - id: open-later
    path: /t/later/
    time: [later-today]
    access: {{anonymous: view}}
  - id: open-today
    path: /t/today/
    time: [today]
    access: {{anonymous: view}}
  - id: open-other-days
    path: /t/otherdays/
    time: [other-days]
    access: {{anonymous: view}}
"""


POLICY = """\
version: 1
default: deny
country:
  from: {env: TEST_COUNTRY}
ip_sets:
  private10: [10.0.0.0/8]
hotlink:
  strict:
    allowed_origins: ["https://good.example", "https://*.partner.example"]
    empty_referer: deny
    corp: same-site
  lenient:
    allowed_origins: ["https://good.example"]
    empty_referer: allow
transforms:
  preview:
    params:
      w: {max: 1200}
      h: {max: 1200}
      oi: {values: [logo.png]}
    require: ["oi-logo.png"]
rules:
  - id: office-only
    path: /ip/office/
    ip: {allow: [private10]}
    access: {anonymous: view}
  - id: loopback-blocked
    path: /ip/blocked/
    ip: {deny: [127.0.0.0/8]}
    access: {anonymous: view}
  - id: loopback-only
    path: /ip/local/
    ip: {allow: [127.0.0.1/32, "::1/128"]}
    access: {anonymous: view}
  - id: eu-only
    path: /geo/eu/
    country: {allow: [DE, FR, NL]}
    access: {anonymous: view}
  - id: no-kp
    path: /geo/open/
    country: {deny: [KP]}
    access: {anonymous: view}
  - id: strict-hotlink
    path: /hot/strict/
    hotlink: strict
    access: {anonymous: view}
  - id: lenient-hotlink
    path: /hot/lenient/
    hotlink: lenient
    access: {anonymous: view}
  - id: previews
    path: /photos/
    classes: [image]
    transforms: preview
    access: {anonymous: view}
  - id: origin-previews
    path: /img/
    classes: [image]
    transforms: preview
    hotlink: lenient
    access: {anonymous: view}
  - id: origin-plain
    path: /origin/
    access: {anonymous: view}
"""

CONF = """\
MediaGuardPolicy cond @POLICIES@/cond.yaml
MediaGuardPolicy time @POLICIES@/time.yaml
MediaGuardReasonHeader On
SetEnvIf X-Test-Country "^([A-Z][A-Z])$" TEST_COUNTRY=$1
<LocationMatch "^/(ip|geo|hot|photos|tr:[^/]*/photos)/">
    Require media-guard cond
</LocationMatch>
<Location "/t/">
    Require media-guard time
</Location>
ProxyPass "/img/" "@BACKEND@/img/"
ProxyPass "/origin/" "@BACKEND@/origin/"
<Location "/img/">
    Require media-guard cond
</Location>
<Location "/origin/">
    Require media-guard cond
</Location>
"""

FILES = {
    "ip/office/a.jpg": JPEG,
    "ip/blocked/a.jpg": JPEG,
    "ip/local/a.jpg": JPEG,
    "geo/eu/a.jpg": JPEG,
    "geo/open/a.jpg": JPEG,
    "hot/strict/a.jpg": JPEG,
    "hot/lenient/a.jpg": JPEG,
    "photos/a.jpg": JPEG,
    # the local layout of a transformation cache: one directory per tr: string
    "tr:w-300,oi-logo.png/photos/a.jpg": JPEG,
    "tr:w-300/photos/a.jpg": JPEG,
    "tr:w-5000,oi-logo.png/photos/a.jpg": JPEG,
    "t/now/a.jpg": JPEG,
    "t/later/a.jpg": JPEG,
    "t/today/a.jpg": JPEG,
    "t/otherdays/a.jpg": JPEG,
}


@pytest.fixture(scope="module")
def srv(apache_factory):
    zone, tpol = time_policy()
    return apache_factory("conditions", CONF, policies={"cond.yaml": POLICY, "time.yaml": tpol},
                          files=FILES, extra_modules=["proxy", "proxy_http"])


def reason(r):
    return r.headers.get("X-Media-Guard-Reason")


# ------------------------------------------------------------------ IP

def test_ip_allow_list_refuses_other_clients(srv):
    r = srv.get("/ip/office/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "ip-not-allowed"


def test_ip_allow_list_admits_listed_client(srv):
    assert srv.get("/ip/local/a.jpg", headers=IMG).status_code == 200


def test_ip_deny_list_refuses_listed_client(srv):
    r = srv.get("/ip/blocked/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "ip-denied"


def test_forwarded_for_is_ignored_without_remoteip(srv):
    r = srv.get("/ip/office/a.jpg", headers={**IMG, "X-Forwarded-For": "10.1.2.3"})
    assert r.status_code == 403 and reason(r) == "ip-not-allowed"


REMOTEIP_POLICY = """\
version: 1
default: deny
rules:
  - id: office-only
    path: /ip/office/
    ip: {allow: [10.0.0.0/8]}
    access: {anonymous: view}
"""


@pytest.mark.parametrize("trusted,expect", [("127.0.0.1", 200), ("192.0.2.1", 403)])
def test_client_ip_comes_from_mod_remoteip_only_for_a_trusted_proxy(apache_factory, trusted,
                                                                   expect):
    s = apache_factory("remoteip", f"""
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy {trusted}
MediaGuardPolicy p @POLICIES@/p.yaml
MediaGuardReasonHeader On
<Location "/ip/">
    Require media-guard p
</Location>
""", policies={"p.yaml": REMOTEIP_POLICY}, files={"ip/office/a.jpg": JPEG},
        extra_modules=["remoteip"])
    try:
        r = s.get("/ip/office/a.jpg", headers={**IMG, "X-Forwarded-For": "10.1.2.3"})
        assert r.status_code == expect, reason(r)
        if expect == 403:
            assert reason(r) == "ip-not-allowed"
        # without the header the peer itself (127.0.0.1) is the client
        assert s.get("/ip/office/a.jpg", headers=IMG).status_code == 403
    finally:
        s.stop()


PROXIED_IP_POLICY = """\
version: 1
default: deny
trusted_proxies: [127.0.0.1]
rules:
  - id: denied-net
    path: /ip/deny/
    ip: {deny: [192.0.2.0/24]}
    access: {anonymous: view}
  - id: internal
    path: /ip/internal/
    ip: {allow: [127.0.0.0/8]}
    access: {anonymous: view}
"""


@pytest.fixture(scope="module")
def proxied_ip(apache_factory):
    """The proxy 127.0.0.1 trusted by mod_remoteip and by the policy."""
    s = apache_factory("remoteip-ip", """
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
MediaGuardPolicy p @POLICIES@/p.yaml
MediaGuardReasonHeader On
<Location "/ip/">
    Require media-guard p
</Location>
""", policies={"p.yaml": PROXIED_IP_POLICY},
        files={"ip/deny/a.jpg": JPEG, "ip/internal/a.jpg": JPEG}, extra_modules=["remoteip"])
    yield s
    s.stop()


# forwarded client addresses of 192.0.2.10 that mod_remoteip cannot read: it
# leaves the proxy (127.0.0.1) as the client, which the deny list did not
# name and the internal allow list did (red team 24b)
UNREAD_FORWARDED = [
    {"X-Forwarded-For": "192.0.2.10:41234"},            # a port (Azure Application Gateway)
    {"X-Forwarded-For": "[2002:c000:20a::1]:443"},
    {"X-Forwarded-For": "2002:c000:20a::1%eth0"},       # a zone after a 6to4 address
    {"X-Forwarded-For": "unknown"},
    {"X-Forwarded-For": "192.0.2.10, "},                # an empty last element
    {"Forwarded": "for=192.0.2.10"},                    # a header mod_remoteip is not told of
]


@pytest.mark.parametrize("headers", UNREAD_FORWARDED)
def test_a_trusted_proxy_left_as_the_client_passes_no_ip_list(proxied_ip, mgctl, headers):
    s = proxied_ip
    r = s.get("/ip/deny/a.jpg", headers={**IMG, **headers})
    assert r.status_code == 403 and reason(r) == "ip-denied", (headers, r.status_code, reason(r))
    r = s.get("/ip/internal/a.jpg", headers={**IMG, **headers})
    assert r.status_code == 403 and reason(r) == "ip-not-allowed", (headers, r.status_code)
    # mgctl explain decides the same
    (name, value), = headers.items()
    p = mgctl("explain", "--policy", str(s.policy_dir / "p.yaml"), "--ip", "127.0.0.1",
              "-H", f"{name}: {value}", "--format", "json", "/ip/internal/a.jpg")
    assert json.loads(p.stdout)["reason"] == "ip-not-allowed", p.stdout + p.stderr


# forms mod_remoteip reads (it writes them as APR prints them); the deny list
# catches each, under the address it carries where it is IPv6
@pytest.mark.parametrize("xff", ["192.0.2.10", "::FFFF:C000:020A", "2002:C000:020A::1",
                                 "2001:0:4136:e378:8000:63bf:3fff:fdf5", "64:ff9b::192.0.2.10",
                                 "0300.0.2.10"])
def test_every_form_of_a_denied_client_forwarded_by_a_trusted_proxy_is_denied(proxied_ip, xff):
    r = proxied_ip.get("/ip/deny/a.jpg", headers={**IMG, "X-Forwarded-For": xff})
    assert r.status_code == 403 and reason(r) == "ip-denied", (xff, r.status_code)


def test_a_trusted_proxy_forwarding_a_readable_address_is_judged_by_it(proxied_ip):
    s = proxied_ip
    xff = {"X-Forwarded-For": "198.51.100.7"}
    assert s.get("/ip/deny/a.jpg", headers={**IMG, **xff}).status_code == 200
    r = s.get("/ip/internal/a.jpg", headers={**IMG, **xff})
    assert r.status_code == 403 and reason(r) == "ip-not-allowed"
    # the proxy's own requests (a health check) forward nobody: as before
    assert s.get("/ip/internal/a.jpg", headers=IMG).status_code == 200
    assert s.get("/ip/deny/a.jpg", headers=IMG).status_code == 200


# ------------------------------------------------------------------ time windows

def test_time_window_containing_now_allows(srv):
    assert srv.get("/t/now/a.jpg", headers=IMG).status_code == 200


def test_time_window_excluding_now_denies(srv):
    r = srv.get("/t/later/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "outside-time-window"


def test_day_of_week_window_follows_the_zone(srv):
    assert srv.get("/t/today/a.jpg", headers=IMG).status_code == 200
    r = srv.get("/t/otherdays/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "outside-time-window"


# ------------------------------------------------------------------ country

def test_country_from_environment_allowed(srv):
    assert srv.get("/geo/eu/a.jpg", headers={**IMG, "X-Test-Country": "DE"}).status_code == 200


def test_country_from_environment_not_in_allow_list(srv):
    r = srv.get("/geo/eu/a.jpg", headers={**IMG, "X-Test-Country": "US"})
    assert r.status_code == 403 and reason(r) == "country-denied"


def test_unknown_country_with_allow_list_is_refused(srv):
    r = srv.get("/geo/eu/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "country-unknown"


def test_country_deny_list(srv):
    r = srv.get("/geo/open/a.jpg", headers={**IMG, "X-Test-Country": "KP"})
    assert r.status_code == 403 and reason(r) == "country-denied"
    assert srv.get("/geo/open/a.jpg", headers=IMG).status_code == 200


# ------------------------------------------------------------------ hotlink

def test_cross_site_fetch_metadata_is_hotlink(srv):
    r = srv.get("/hot/lenient/a.jpg", headers={**IMG, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and reason(r) == "hotlink"


def test_same_origin_fetch_metadata_passes(srv):
    r = srv.get("/hot/strict/a.jpg", headers={**IMG, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    assert r.headers["Cross-Origin-Resource-Policy"] == "same-site"


def test_foreign_referer_is_hotlink(srv):
    r = srv.get("/hot/lenient/a.jpg", headers={**IMG, "Referer": "https://evil.example/page"})
    assert r.status_code == 403 and reason(r) == "hotlink"


def test_allowed_origin_and_wildcard_subdomain_pass(srv):
    for ref in ("https://good.example/gallery", "https://cdn.partner.example/x"):
        r = srv.get("/hot/strict/a.jpg", headers={**IMG, "Referer": ref})
        assert r.status_code == 200, ref
    r = srv.get("/hot/strict/a.jpg", headers={**IMG, "Referer": "https://partner.example/"})
    assert r.status_code == 403, "the apex is not matched by *.partner.example"


def test_own_site_referer_passes(srv):
    r = srv.get("/hot/strict/a.jpg", headers={**IMG, "Referer": srv.url("/index.html")})
    assert r.status_code == 200


def test_empty_referer_follows_the_profile(srv):
    r = srv.get("/hot/strict/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "hotlink"
    assert srv.get("/hot/lenient/a.jpg", headers=IMG).status_code == 200


# ------------------------------------------------------------------ transformations (local files)

def test_transformation_with_required_watermark_is_served(srv):
    r = srv.get("/tr:w-300,oi-logo.png/photos/a.jpg", headers=IMG)
    assert r.status_code == 200 and r.content == JPEG


def test_removing_the_watermark_is_refused(srv):
    r = srv.get("/tr:w-300/photos/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "transform-required-missing"


def test_untransformed_original_is_refused_when_a_watermark_is_required(srv):
    r = srv.get("/photos/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "transform-required-missing"


def test_parameter_out_of_range_is_refused(srv):
    r = srv.get("/tr:w-5000,oi-logo.png/photos/a.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "transform-not-allowed"


def test_query_form_transformation(srv):
    assert srv.get("/photos/a.jpg?tr=w-300,oi-logo.png", headers=IMG).status_code == 200
    r = srv.get("/photos/a.jpg?tr=w-300,oi-evil.png", headers=IMG)
    assert r.status_code == 403 and reason(r) == "transform-not-allowed"


# ------------------------------------------------------------------ proxied origin

def test_proxied_image_with_watermark_gets_view_headers_over_the_origin_headers(srv):
    r = srv.get("/img/tr:w-300,oi-logo.png/cat.jpg", headers=IMG)
    assert r.status_code == 200
    assert r.text.startswith("origin:/img/tr:w-300,oi-logo.png/cat.jpg")
    assert r.headers["X-Origin"] == "yes"
    # the origin said "public, max-age=3600" and "attachment": the module overrides both
    assert r.headers["Cache-Control"] == "private, no-store"
    assert r.headers["Content-Disposition"] == "inline"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_proxied_image_without_watermark_never_reaches_the_origin(srv):
    r = srv.get("/img/tr:w-300/cat.jpg", headers=IMG)
    assert r.status_code == 403 and reason(r) == "transform-required-missing"
    assert "X-Origin" not in r.headers


def test_proxied_hotlink_is_refused(srv):
    r = srv.get("/img/tr:w-300,oi-logo.png/cat.jpg",
                headers={**IMG, "Referer": "https://evil.example/"})
    assert r.status_code == 403 and reason(r) == "hotlink"


def test_proxied_origin_plain_file(srv):
    r = srv.get("/origin/videos/clip.mp4", headers=IMG)
    assert r.status_code == 200 and r.text.startswith("origin:/origin/videos/clip.mp4")
    assert r.headers["Content-Disposition"] == "inline"


# ------------------------------------------------------------------ IPv6 clients

IPV6_POLICY = """\
version: 1
default: deny
rules:
  - id: v6-only
    path: /ip/v6/
    ip: {allow: ["::1/128"]}
    access: {anonymous: view}
  - id: no-v6-loopback
    path: /ip/not-v6/
    ip: {deny: ["::1/128", "fe80::/10"]}
    access: {anonymous: view}
"""


def _free_port6():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def test_ipv6_client_address_is_matched(apache_factory):
    try:
        port6 = _free_port6()
    except OSError:
        pytest.skip("no IPv6 loopback")
    s = apache_factory("ipv6", f"""
Listen [::1]:{port6}
MediaGuardPolicy p @POLICIES@/p.yaml
MediaGuardReasonHeader On
<Location "/ip/">
    Require media-guard p
</Location>
""", policies={"p.yaml": IPV6_POLICY}, files={"ip/v6/a.jpg": JPEG, "ip/not-v6/a.jpg": JPEG})
    try:
        v6 = f"http://[::1]:{port6}"
        assert requests.get(v6 + "/ip/v6/a.jpg", headers=IMG, timeout=10).status_code == 200
        r = requests.get(v6 + "/ip/not-v6/a.jpg", headers=IMG, timeout=10)
        assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "ip-denied"
        # the same rules over IPv4
        r = s.get("/ip/v6/a.jpg", headers=IMG)
        assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "ip-not-allowed"
        assert s.get("/ip/not-v6/a.jpg", headers=IMG).status_code == 200
    finally:
        s.stop()
