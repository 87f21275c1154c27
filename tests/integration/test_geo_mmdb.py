"""Country from a MaxMind DB file (country.from: {mmdb: FILE}).

The database is written at test time by tests/geo/make-test-mmdb.pl (Debian's
libmaxmind-db-writer-perl; never downloaded). Clients get their addresses
through mod_remoteip from a trusted proxy (127.0.0.1), the module looks up the
address mod_remoteip settled on, and the rules decide.
"""
import json
import re
import shutil
import subprocess
import time

import pytest

from conftest import SRCDIR

JPEG = b"\xff\xd8\xff\xe0" + b"geo" * 50
WRITER = SRCDIR / "tests" / "geo" / "make-test-mmdb.pl"

POLICY = """\
version: 1
country:
  from: {mmdb: @ROOT@/country.mmdb}
rules:
  - id: eu
    path: /eu/
    country: {allow: [DE, FR]}
    access: {anonymous: view}
  - id: not-us
    path: /world/
    country: {deny: [US]}
    access: {anonymous: view}
  - id: open
    path: /open/
    access: {anonymous: view}
  - id: ipdeny
    path: /ipdeny/
    ip: {deny: [192.0.2.0/24]}
    access: {anonymous: view}
  - id: ipallow
    path: /ipallow/
    ip: {allow: [192.0.2.0/24]}
    access: {anonymous: view}
"""

CONF = """\
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy @PROXY@
MediaGuardPolicy geo @POLICIES@/geo.yaml
<LocationMatch "^/(eu|world|open|ipdeny|ipallow)/">
    Require media-guard geo
</LocationMatch>
"""

FILES = {"eu/a.jpg": JPEG, "world/a.jpg": JPEG, "open/a.jpg": JPEG, "ipdeny/a.jpg": JPEG,
         "ipallow/a.jpg": JPEG}


OTHERS = ("asn", "bare-country", "ipv4")


def make_mmdb(path, *flags, also=()):
    """make-test-mmdb.pl [FLAGS] PATH, and the (KIND, PATH) pairs of `also`
    in the same run (the writer takes half a second to start)."""
    more = [a for kind, out in also for a in ("--" + kind, str(out))]
    subprocess.run(["perl", str(WRITER), *flags, str(path), *more], check=True, timeout=60)


@pytest.fixture(scope="module")
def mmdb(tmp_path_factory):
    """The test database, written once for this file (perl takes a second)."""
    d = tmp_path_factory.mktemp("mmdb")
    path = d / "country.mmdb"
    # and the databases of other kinds, in the same run
    make_mmdb(path, also=[(kind, d / f"{kind}.mmdb") for kind in OTHERS])
    return path


def server(apache_factory, name, db, proxy="127.0.0.1"):
    s = apache_factory(name, CONF.replace("@PROXY@", proxy), policies={"geo.yaml": POLICY},
                       files=FILES, extra_modules=["remoteip"], start=False)
    shutil.copy(db, s.root / "country.mmdb")
    return s


@pytest.fixture(scope="module")
def srv(apache_factory, mmdb):
    return server(apache_factory, "geo", mmdb).start()


def decision(srv, fragment):
    line = srv.last_access(fragment)
    assert line, f"no access-log line for {fragment}"
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


@pytest.mark.parametrize("client,path,status,reason", [
    ("192.0.2.10", "/eu/a.jpg", 200, "allowed"),                 # DE
    ("203.0.113.10", "/eu/a.jpg", 200, "allowed"),               # registered_country FR
    ("198.51.100.10", "/eu/a.jpg", 403, "country-denied"),       # US
    ("2001:db8:1::10", "/eu/a.jpg", 403, "country-denied"),      # JP
    ("203.0.113.200", "/eu/a.jpg", 403, "country-unknown"),      # a record without a country
    ("192.0.2.10", "/world/a.jpg", 200, "allowed"),
    ("198.51.100.10", "/world/a.jpg", 403, "country-denied"),
    ("198.51.100.10", "/open/a.jpg", 200, "allowed"),
])
def test_country_of_the_forwarded_client_decides(srv, client, path, status, reason):
    tag = f"c={client.replace(':', '-')}-{path.strip('/').split('/')[0]}"
    r = srv.get(f"{path}?{tag}", headers={"X-Forwarded-For": client})
    assert r.status_code == status
    if status == 200:
        assert r.content == JPEG
    assert decision(srv, tag)["reason"] == reason


# IPv6 clients that carry an IPv4 address (docs/policy.md, "IPv6 addresses
# that carry an IPv4 address"): 192.0.2.10 (DE) as 6to4, IPv4-compatible,
# NAT64 and Teredo (its last 32 bits inverted; the Teredo server's address,
# bits 32-63, is what the database's alias finds: 198.51.100.1 US or
# 192.0.2.1 DE); 195.100.100.10 is in no country, 198.51.100.10 is US
SIXTOFOUR, COMPAT, NAT64 = "2002:c000:20a::1", "::192.0.2.10", "64:ff9b::192.0.2.10"
TEREDO_US_SERVER_DE_CLIENT = "2001:0:c633:6401::3fff:fdf5"
TEREDO_DE_SERVER_UNKNOWN_CLIENT = "2001:0:c000:201::3c9b:9bf5"
TEREDO_DE_SERVER_US_CLIENT = "2001:0:c000:201::39cc:9bf5"


@pytest.mark.parametrize("client,path,status,reason", [
    # a deny list denies the carried IPv4 address too; an allow list never grants it
    (SIXTOFOUR, "/ipdeny/a.jpg", 403, "ip-denied"),
    (COMPAT, "/ipdeny/a.jpg", 403, "ip-denied"),
    (NAT64, "/ipdeny/a.jpg", 403, "ip-denied"),
    (TEREDO_US_SERVER_DE_CLIENT, "/ipdeny/a.jpg", 403, "ip-denied"),
    ("::ffff:192.0.2.10", "/ipdeny/a.jpg", 403, "ip-denied"),
    (TEREDO_DE_SERVER_UNKNOWN_CLIENT, "/ipdeny/a.jpg", 200, "allowed"),
    ("2001:db8:1::10", "/ipdeny/a.jpg", 200, "allowed"),
    (SIXTOFOUR, "/ipallow/a.jpg", 403, "ip-not-allowed"),
    (NAT64, "/ipallow/a.jpg", 403, "ip-not-allowed"),
    ("::ffff:192.0.2.10", "/ipallow/a.jpg", 200, "allowed"),
    # the database answers for the address as connected (6to4 and
    # IPv4-compatible: the client's, NAT64: nothing); the carried address
    # must pass the lists too, so the Teredo server's country never decides
    (SIXTOFOUR, "/eu/a.jpg", 200, "allowed"),
    (COMPAT, "/eu/a.jpg", 200, "allowed"),
    (NAT64, "/eu/a.jpg", 403, "country-unknown"),
    (TEREDO_US_SERVER_DE_CLIENT, "/eu/a.jpg", 403, "country-denied"),
    (TEREDO_DE_SERVER_UNKNOWN_CLIENT, "/eu/a.jpg", 403, "country-unknown"),
    (TEREDO_DE_SERVER_US_CLIENT, "/world/a.jpg", 403, "country-denied"),
    (TEREDO_DE_SERVER_UNKNOWN_CLIENT, "/world/a.jpg", 200, "allowed"),
])
def test_ipv6_clients_carrying_an_ipv4_address_are_denied_under_either(srv, mgctl, client, path,
                                                                       status, reason):
    tag = f"c={client.replace(':', '-')}-{path.strip('/').split('/')[0]}"
    r = srv.get(f"{path}?{tag}", headers={"X-Forwarded-For": client})
    assert r.status_code == status
    assert decision(srv, tag)["reason"] == reason
    p = mgctl("explain", "--policy", srv.policy_dir / "geo.yaml", "--ip", client, "--format",
              "json", path)
    assert json.loads(p.stdout)["reason"] == reason, p.stdout


def test_direct_client_not_in_the_database_is_unknown(srv):
    r = srv.get("/eu/a.jpg?c=direct")
    assert r.status_code == 403
    assert decision(srv, "c=direct")["reason"] == "country-unknown"
    # a deny list lets an unknown country through
    assert srv.get("/world/a.jpg?c=direct2").status_code == 200


def test_forwarded_header_from_an_untrusted_peer_is_ignored(apache_factory, mmdb):
    # mod_remoteip trusts 10.9.9.9 only: the header is ignored, the TCP
    # peer 127.0.0.1 is the client and it is in no country
    s = server(apache_factory, "geo-untrusted", mmdb, proxy="10.9.9.9").start()
    try:
        r = s.get("/eu/a.jpg?c=untrusted", headers={"X-Forwarded-For": "192.0.2.10"})
        assert r.status_code == 403
        assert decision(s, "c=untrusted")["reason"] == "country-unknown"
    finally:
        s.stop()


def test_lookup_error_denies_with_500_and_logs(apache_factory, mmdb, tmp_path):
    data = bytearray(mmdb.read_bytes())
    data[0:48] = b"\xff" * 48       # the search tree: metadata still opens
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(bytes(data))
    s = server(apache_factory, "geo-corrupt", bad).start()
    try:
        mark = s.mark()
        r = s.get("/eu/a.jpg?c=corrupt", headers={"X-Forwarded-For": "192.0.2.10"})
        assert r.status_code == 500
        assert decision(s, "c=corrupt")["reason"] == "internal-error"
        log = s.error_log_since(mark)
        assert "[media_guard:error]" in log
        assert "the country lookup of 192.0.2.10 failed" in log
        # rules that do not check the country do not look it up
        assert s.get("/open/a.jpg?c=corrupt-open",
                     headers={"X-Forwarded-For": "192.0.2.10"}).status_code == 200
    finally:
        s.stop()


def test_replaced_database_counts_after_a_graceful_reload(apache_factory, mmdb):
    s = server(apache_factory, "geo-reload", mmdb).start()
    try:
        xff = {"X-Forwarded-For": "192.0.2.10"}
        assert s.get("/eu/a.jpg?c=before", headers=xff).status_code == 200       # DE
        # the way a database is updated: a new file renamed over the old one
        make_mmdb(s.root / "country.mmdb.new", "--next")
        (s.root / "country.mmdb.new").rename(s.root / "country.mmdb")
        # until the reload the mapped old file still answers
        assert s.get("/eu/a.jpg?c=mapped", headers=xff).status_code == 200
        s.graceful()
        r = s.get("/eu/a.jpg?c=after", headers=xff)                              # AT
        assert r.status_code == 403
        assert decision(s, "c=after")["reason"] == "country-denied"
        # each reload closes the previous generation's database: the parent
        # holds one mapping of it however often it reloads, and none of a
        # replaced (deleted) file
        for _ in range(3):
            s.graceful()
        maps = open(f"/proc/{s.proc.pid}/maps").read()
        assert maps.count("/memfd:mg-country-db ") == 1, maps
        assert "country.mmdb" not in maps  # the private copy is mapped, not the file
    finally:
        s.stop()


def test_database_overwritten_in_place_does_not_touch_the_running_server(apache_factory, mmdb):
    # cp over the file (or an updater that truncates and rewrites it) must
    # not reach the children: the file itself was mapped before, and a child
    # touching a page past the truncated end died of SIGBUS (connection reset)
    s = server(apache_factory, "geo-inplace", mmdb).start()
    try:
        xff = {"X-Forwarded-For": "192.0.2.10"}
        assert s.get("/eu/a.jpg?c=inplace-before", headers=xff).status_code == 200   # DE
        with open(s.root / "country.mmdb", "r+b") as f:
            f.truncate(0)                        # cp's first step; and it stops there
        r = s.get("/eu/a.jpg?c=inplace-truncated", headers=xff)
        assert r.status_code == 200 and r.content == JPEG
        assert decision(s, "c=inplace-truncated")["reason"] == "allowed"
        # the next database, written in place: counts after a graceful reload
        make_mmdb(s.root / "next.mmdb", "--next")
        (s.root / "country.mmdb").write_bytes((s.root / "next.mmdb").read_bytes())
        assert s.get("/eu/a.jpg?c=inplace-written", headers=xff).status_code == 200
        s.graceful()
        assert s.get("/eu/a.jpg?c=inplace-reloaded", headers=xff).status_code == 403   # AT
    finally:
        s.stop()


def test_configtest_refuses_a_missing_database(apache_factory):
    s = apache_factory("geo-missing", CONF.replace("@PROXY@", "127.0.0.1"),
                       policies={"geo.yaml": POLICY}, extra_modules=["remoteip"], start=False)
    rc, out = s.configtest()
    assert rc != 0
    assert "geo.yaml:3:16: error: country.from.mmdb: cannot read" in out
    assert "No such file or directory" in out


@pytest.mark.parametrize("kind,dbtype", [("asn", "GeoLite2-ASN"),
                                          ("bare-country", "vendor-country")])
def test_configtest_refuses_a_database_without_country_records(apache_factory, mgctl, mmdb,
                                                               kind, dbtype):
    """A database of another kind — GeoLite2-ASN next to GeoLite2-Country in
    /var/lib/GeoIP, or a vendor's file whose `country` is a bare string —
    opens as any MaxMind DB does and knows no address's country: every
    client was country-unknown, and a country.deny list let all of them
    through (US here). Refused at configtest and by mgctl alike."""
    s = server(apache_factory, "geo-" + kind, mmdb.parent / f"{kind}.mmdb")
    rc, out = s.configtest()
    assert rc != 0, out
    assert ("geo.yaml:3:16: error: country.from.mmdb: '%s' holds no country records (database "
            "type '%s')" % (s.root / "country.mmdb", dbtype)) in out, out
    p = mgctl("validate", str(s.policy_dir / "geo.yaml"))
    assert p.returncode == 1 and "holds no country records" in p.stdout + p.stderr, p


def _aged(db, days):
    """The database with its metadata's build_epoch `days` in the past."""
    data = bytearray(db.read_bytes())
    i = data.rindex(b"build_epoch") + len(b"build_epoch")
    assert data[i:i + 2] == b"\x04\x02", data[i:i + 6]   # uint64 in 4 bytes
    data[i + 2:i + 6] = (int(time.time()) - days * 86400).to_bytes(4, "big")
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("kind,age,warning", [
    ("ipv4", 0, "warning: country database '%s' is IPv4-only: every IPv6 client is of unknown "
                "country (a country.deny list lets it through, country.allow refuses it)"),
    ("country", 45, "warning: country database '%s' was built 45 days ago"),
    ("country", 29, None),
])
def test_configtest_warns_of_an_ipv4_only_or_stale_database(apache_factory, mgctl, mmdb,
                                                           kind, age, warning):
    """What the database cannot say is said at configtest (and by mgctl):
    an IPv4-only one makes every IPv6 client country-unknown (a deny list
    lets them all through); one not updated for over 30 days gives
    countries that have since changed (mmdb-stale). Both still load."""
    s = server(apache_factory, f"geo-warn-{kind}-{age}", mmdb.parent / f"{kind}.mmdb")
    db = s.root / "country.mmdb"
    if age:
        _aged(db, age)
    p = mgctl("validate", str(s.policy_dir / "geo.yaml"))
    assert p.returncode == 0, p
    if warning is None:
        assert "warning" not in p.stdout + p.stderr, p
        return
    assert warning % db in p.stdout + p.stderr, p
    rc, out = s.configtest()
    assert rc == 0, out
    assert "geo.yaml:3:16: " + warning % db in out, out


def test_mgctl_explain_looks_up_the_same_database(srv, mgctl):
    pol = str(srv.policy_dir / "geo.yaml")
    for ip, reason in [("192.0.2.10", "allowed"), ("198.51.100.10", "country-denied"),
                       ("203.0.113.10", "allowed"), ("127.0.0.1", "country-unknown")]:
        p = mgctl("explain", "--policy", pol, "--ip", ip, "--format", "json", "/eu/a.jpg")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["reason"] == reason, (ip, p.stdout)
    p = mgctl("explain", "--policy", pol, "--ip", "192.0.2.10", "/eu/a.jpg")
    assert "country: DE for 192.0.2.10 (MaxMind DB)" in p.stdout


def test_configtest_refuses_a_database_anyone_may_write(apache_factory, mmdb):
    """Whoever can write the country database decides which country a client
    is in: a world-writable one is refused at configtest (mmdb-file-permissions
    at the mmdb line), as a policy or key file anyone may write is; group
    write is left alone."""
    s = server(apache_factory, "geo-writable", mmdb)
    db = s.root / "country.mmdb"
    db.chmod(0o666)
    rc, out = s.configtest()
    assert rc != 0, out
    assert re.search(r"geo\.yaml:\d+:\d+: error: country database '%s' is writable by everyone"
                     % re.escape(str(db)), out), out
    db.chmod(0o664)
    rc, out = s.configtest()
    assert rc == 0 and "writable" not in out, out


def test_configtest_refuses_a_directory_anyone_may_write_above_the_database(
        apache_factory, mmdb):
    """A directory above the database that everyone can write lets anyone
    rename another database over it: refused with mmdb-file-permissions,
    naming the directory; with the sticky bit (/tmp's 1777) nothing said."""
    s = apache_factory("geo-dir-writable", CONF.replace("@PROXY@", "127.0.0.1"),
                       policies={"geo.yaml": POLICY.replace("@ROOT@/country.mmdb",
                                                            "@ROOT@/db/country.mmdb")},
                       files=FILES, extra_modules=["remoteip"], start=False)
    d = s.root / "db"
    d.mkdir()
    shutil.copy(mmdb, d / "country.mmdb")
    (d / "country.mmdb").chmod(0o644)
    d.chmod(0o777)
    try:
        rc, out = s.configtest()
        assert rc != 0, out
        assert ("error: directory '%s' above the country database '%s' is writable by everyone "
                "and has no sticky bit" % (d, d / "country.mmdb")) in out, out
        d.chmod(0o1777)
        rc, out = s.configtest()
        assert rc == 0 and "above the country database" not in out, out
    finally:
        d.chmod(0o755)


@pytest.fixture(scope="module")
def proxied(apache_factory, mmdb):
    """The proxy 127.0.0.1 trusted by mod_remoteip and by the policy."""
    pol = POLICY.replace("country:\n", "trusted_proxies: [127.0.0.1]\ncountry:\n", 1)
    s = apache_factory("geo-proxied", CONF.replace("@PROXY@", "127.0.0.1"),
                       policies={"geo.yaml": pol}, files=FILES, extra_modules=["remoteip"],
                       start=False)
    shutil.copy(mmdb, s.root / "country.mmdb")
    return s.start()


@pytest.mark.parametrize("xff,reason", [
    ("198.51.100.10:41234", "country-unknown"),    # a port after the address (Azure, IIS ARR)
    ("[2001:db8:1::10]:443", "country-unknown"),
    ("unknown", "country-unknown"),
    ("198.51.100.10,", "country-unknown"),         # an empty last element
    ("198.51.100.10", "country-denied"),           # read: the client's own country
    ("192.0.2.10", "allowed"),
])
def test_proxy_left_as_the_client_is_of_unknown_country_also_for_a_deny_list(
        proxied, mgctl, xff, reason):
    """A forwarded address mod_remoteip cannot read leaves the proxy as the
    client: the database gave the proxy's country (here none), and a
    country.deny list let every client through, whatever their country. With
    the proxy in the policy's trusted_proxies, such a request is
    country-unknown (refused by deny lists too); mgctl explain agrees."""
    s = proxied
    tag = "c=proxy-" + "".join(ch if ch.isalnum() else "_" for ch in xff) + "-end"
    r = s.get(f"/world/a.jpg?{tag}", headers={"X-Forwarded-For": xff})
    assert r.status_code == (200 if reason == "allowed" else 403)
    assert decision(s, tag)["reason"] == reason
    # the proxy's own requests (a health check) forward nobody: as before
    assert s.get(f"/world/a.jpg?{tag}-own").status_code == 200
    # rules without a country do not care
    assert s.get(f"/open/a.jpg?{tag}-open", headers={"X-Forwarded-For": xff}).status_code == 200
    if reason == "country-unknown":
        p = mgctl("explain", "--policy", str(s.policy_dir / "geo.yaml"), "--ip", "127.0.0.1",
                  "-H", f"X-Forwarded-For: {xff}", "--format", "json", "/world/a.jpg")
        assert json.loads(p.stdout)["reason"] == "country-unknown", p.stdout + p.stderr
        p = mgctl("explain", "--policy", str(s.policy_dir / "geo.yaml"), "--ip", "127.0.0.1",
                  "-H", f"Forwarded: for=\"{xff}\"", "--format", "json", "/world/a.jpg")
        assert json.loads(p.stdout)["reason"] == "country-unknown", p.stdout + p.stderr
