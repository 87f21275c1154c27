"""One-time and N-use links (mg_id/mg_uses, docs/token-spec.md) and revocation
against a real Apache: uses are counted per distinct client address in a
shmcb socache shared by all processes (MediaGuardOnceCache); distinct clients
are simulated with mod_remoteip trusting 127.0.0.1 and X-Forwarded-For. Two
servers sharing a memcached, and two sharing a redis, run where memcached and
redis-server are installed (scripts/quickstart installs both)."""

import concurrent.futures
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import HERE
from storeharness import StoreServer

MP4 = bytes(range(256)) * 64
JPEG = b"\xff\xd8\xff\xe0 one-time picture" * 8
K2026 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"
KOLD = "mg-hmac-sha256:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n"

POLICY = """\
version: 1
name: once
keys:
  - id: k2026
    file: keys/k2026.key
    sign: true
  - id: kold
    file: keys/kold.key
{kold_revoked}tokens:
  clock_skew: 30s
{revoked_ids}rules:
  - id: media
    path: /media/
    token: required
"""

CONF_REMOTEIP = """\
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
MediaGuardPolicy once @POLICIES@/once.yaml
MediaGuardReasonHeader On
<Location "/media/">
    Require media-guard once
</Location>
"""
# these tests are not about what a stop of Apache loses (test_store_restarts.py is)
CONF = "MediaGuardOnceCache shmcb:@ROOT@/logs/mg-once(512000) lost_records=warn\n" + CONF_REMOTEIP

FILES = {"media/film.mp4": MP4, "media/a.jpg": JPEG}


def policy(revoked_ids=(), kold_revoked=False, revocation_file=None):
    ids = ("  revoked_ids: [" + ", ".join(revoked_ids) + "]\n") if revoked_ids else ""
    if revocation_file:
        ids += f"  revocation_file: {revocation_file}\n  revocation_refresh: 1s\n"
    return POLICY.format(revoked_ids=ids,
                         kold_revoked="    revoked: true\n" if kold_revoked else "")


def make(apache_factory, name, conf, pol, extra_modules=()):
    srv = apache_factory(name, conf, policies={"once.yaml": pol}, files=FILES,
                         extra_modules=["remoteip", "socache_shmcb", *extra_modules], start=False)
    kd = srv.policy_dir / "keys"
    kd.mkdir(parents=True, exist_ok=True)
    for fname, text in (("k2026.key", K2026), ("kold.key", KOLD)):
        (kd / fname).write_text(text)
        (kd / fname).chmod(0o600)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def srv(apache_factory):
    return make(apache_factory, "once", CONF, policy())


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    def run(url, *opts, key="k2026", ttl="10m"):
        life = ("--ttl", ttl) if ttl else ()
        p = mgctl("sign", "--key-file", srv.policy_dir / "keys" / f"{key}.key", "--key-id", key,
                  *life, *opts, url)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    return run


def get(srv, url, ip, **kw):
    headers = {"X-Forwarded-For": ip}
    headers.update(kw.pop("headers", {}))
    return srv.get(url, headers=headers, **kw)


def reason(r):
    return r.headers.get("X-Media-Guard-Reason")


def test_once_link_carries_a_random_id_and_one_use(sign):
    a, b = sign("/media/a.jpg", "--once"), sign("/media/a.jpg", "--once")
    assert "&mg_uses=1&" in a
    ida = re.search(r"mg_id=([A-Za-z0-9_-]+)", a).group(1)
    idb = re.search(r"mg_id=([A-Za-z0-9_-]+)", b).group(1)
    assert len(ida) == 22 and ida != idb


def test_a_shmcb_cache_is_said_to_drop_its_oldest_records_once_per_start(srv):
    said = [ln for ln in srv.error_log().splitlines() if "MG00616: " in ln]
    assert len(said) == 1 and "[media_guard:warn]" in said[0], said
    assert "drops its oldest records when full" in said[0] and "mg-once(512000)" in said[0]


def test_random_ids_never_start_with_a_dash(mgctl, srv):
    """1 of 64 base64url ids would start with '-', which a command line
    reads as an option (`mgctl revoke --store URL ID`): mgctl never makes one."""
    paths = "".join(f"/media/a{i}.jpg\n" for i in range(2000))
    p = mgctl("sign", "--key-file", srv.policy_dir / "keys" / "k2026.key", "--key-id", "k2026",
              "--ttl", "10m", "--once", input=paths)
    assert p.returncode == 0, p.stderr
    ids = re.findall(r"mg_id=([A-Za-z0-9_-]+)", p.stdout)
    assert len(ids) == 2000 and len(set(ids)) == 2000
    assert not [i for i in ids if i.startswith("-")]
    assert any(i.startswith("_") for i in ids) and any(i.startswith("6") for i in ids)


def nbf_of(link):
    m = re.search(r"[?&]mg_nbf=(\d+)", link)
    return int(m.group(1)) if m else None


def test_links_limited_in_uses_start_at_their_signing_unless_told_otherwise(srv, sign, mgctl):
    """After a claim store loses its records, a link limited in uses is
    refused unless it proves it was signed after the loss (mg_nbf, or
    tokens.max_ttl): mgctl sign gives every such link, on the command line
    or from standard input, the signing second; --not-before none leaves it
    out, --not-before WHEN sets it; links not limited in uses are as before."""
    t0 = int(time.time())
    once, three = sign("/media/a.jpg", "--once"), sign("/media/a.jpg", "--uses", "3")
    t1 = int(time.time())
    assert t0 <= nbf_of(once) <= t1 and t0 <= nbf_of(three) <= t1, (once, three)
    assert nbf_of(sign("/media/a.jpg", "--once", "--now", "2026-06-01T00:00:00Z")) == 1780272000
    p = mgctl("sign", "--key-file", srv.policy_dir / "keys/k2026.key", "--key-id", "k2026",
              "--ttl", "10m", "--uses", "2", "--now", "2026-06-01T00:00:00Z",
              input="/media/a.jpg\n/media/film.mp4\n")
    assert p.returncode == 0, p.stderr
    assert [nbf_of(ln) for ln in p.stdout.split()] == [1780272000, 1780272000]
    assert nbf_of(sign("/media/a.jpg", "--once", "--not-before", "none")) is None
    assert nbf_of(sign("/media/a.jpg", "--once", "--not-before", str(t0 - 5))) == t0 - 5
    assert nbf_of(sign("/media/a.jpg")) is None


def test_a_server_behind_the_signer_by_less_than_clock_skew_serves_a_fresh_link(srv, sign,
                                                                                 mgctl):
    """mg_nbf is the signer's clock: a server whose clock is behind it by up
    to tokens.clock_skew (30s here) serves a link it has just signed, one
    further behind refuses it (token-not-yet-valid) until its clock gets
    there; mgctl verify and mgctl explain say what Apache does."""
    now = int(time.time())
    for ahead, want in ((20, "allowed-by-token"), (50, "token-not-yet-valid")):
        link = sign("/media/a.jpg", "--once", "--now", str(now + ahead))
        assert nbf_of(link) == now + ahead
        r = get(srv, link, f"198.51.100.{150 + ahead}")
        assert (r.status_code, reason(r) or "allowed-by-token") == \
            ((200, want) if want == "allowed-by-token" else (403, want)), reason(r)
        v = mgctl("verify", "--policy", srv.policy_dir / "once.yaml", link)
        assert re.search(r"^reason: (\S+)", v.stdout, re.M).group(1) == want, v.stdout
        e = mgctl("explain", "--policy", srv.policy_dir / "once.yaml", "--format", "json", link)
        assert json.loads(e.stdout)["reason"] == want, e.stdout


def test_once_link_works_for_one_client_then_token_used_for_another(srv, sign):
    url = sign("/media/a.jpg", "--once")
    r = get(srv, url, "198.51.100.1")
    assert r.status_code == 200, reason(r)
    assert r.content == JPEG
    # the same client again (a reload): still its link
    assert get(srv, url, "198.51.100.1").status_code == 200
    r = get(srv, url, "198.51.100.2")
    assert r.status_code == 403 and reason(r) == "token-used"
    assert "reason=token-used" in srv.last_access("198.51.100.2")


def test_range_and_head_from_the_claiming_client_keep_working(srv, sign):
    url = sign("/media/film.mp4", "--once")
    assert get(srv, url, "203.0.113.5", headers={"Range": "bytes=0-99"}).status_code == 206
    for start in (1000, 5000, 16000):
        r = get(srv, url, "203.0.113.5", headers={"Range": f"bytes={start}-{start + 9}"})
        assert r.status_code == 206 and r.content == MP4[start:start + 10]
    assert srv.head(url, headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 200
    r = get(srv, url, "203.0.113.6", headers={"Range": "bytes=0-99"})
    assert r.status_code == 403 and reason(r) == "token-used"


def test_head_from_a_new_client_does_not_use_up_the_link(srv, sign):
    url = sign("/media/a.jpg", "--once")
    # a link checker or chat preview asks first
    assert srv.head(url, headers={"X-Forwarded-For": "198.51.100.201"}).status_code == 200
    assert get(srv, url, "198.51.100.202").status_code == 200
    r = srv.head(url, headers={"X-Forwarded-For": "198.51.100.201"})
    assert r.status_code == 403


def test_n_use_link_allows_n_distinct_clients(srv, sign):
    url = sign("/media/a.jpg", "--uses", "3")
    for i in range(3):
        assert get(srv, url, f"192.0.2.{10 + i}").status_code == 200
    # the three claimants keep access; a fourth client does not
    assert get(srv, url, "192.0.2.11").status_code == 200
    r = get(srv, url, "192.0.2.99")
    assert r.status_code == 403 and reason(r) == "token-used"


def test_ipv6_clients_count_like_ipv4_ones(srv, sign):
    url = sign("/media/a.jpg", "--uses", "2")
    assert get(srv, url, "2001:db8::1").status_code == 200
    assert get(srv, url, "198.51.100.77").status_code == 200
    assert get(srv, url, "2001:db8::2").status_code == 403


def test_explicit_id_shares_the_uses_of_links_with_that_id(srv, sign):
    a = sign("/media/a.jpg", "--uses", "1", "--id", "shared-id-1")
    b = sign("/media/film.mp4", "--uses", "1", "--id", "shared-id-1")
    assert get(srv, a, "198.51.100.40").status_code == 200
    r = get(srv, b, "198.51.100.41")
    assert r.status_code == 403 and reason(r) == "token-used"


def test_every_spelling_of_a_link_shares_its_uses(srv, sign):
    """The count belongs to the key id and token id as verified (decoded), not
    to the URL's spelling: respelt path, reordered and percent-encoded
    parameters are the same link (red team 22)."""
    url = sign("/media/a.jpg", "--uses", "2")
    path, query = url.split("?", 1)
    params = query.split("&")
    kid = next(p for p in params if p.startswith("mg_kid="))
    tid = next(p for p in params if p.startswith("mg_id="))
    spellings = [
        "/media/./x/../a.jpg?" + "&".join(reversed(params)),
        "/media//%61.jpg?" + query.replace(kid, kid.replace("=k", "=%6B", 1)),
        path + "?" + query.replace("mg_kid=", "mg_%6Bid="),
        path + "?" + query.replace(tid, "mg_id=%" + format(ord(tid[6]), "02X") + tid[7:]),
    ]
    assert get(srv, url, "198.51.100.150").status_code == 200
    for sp in spellings:
        assert srv.raw(sp, headers={"X-Forwarded-For": "198.51.100.150"}).status_code == 200, sp
    assert srv.raw(spellings[0], headers={"X-Forwarded-For": "198.51.100.151"}).status_code == 200
    for sp in spellings + [url]:
        r = srv.raw(sp, headers={"X-Forwarded-For": "198.51.100.152"})
        assert r.status_code == 403 and reason(r) == "token-used", sp


def test_concurrent_clients_never_exceed_the_uses(srv, sign):
    n = 5
    url = sign("/media/a.jpg", "--uses", str(n))
    ips = [f"10.9.{i // 200}.{i % 200 + 1}" for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as ex:
        codes = list(ex.map(lambda ip: get(srv, url, ip).status_code, ips))
    assert codes.count(200) == n, codes
    assert codes.count(403) == len(ips) - n


def test_tampered_uses_or_id_is_bad_signature(srv, sign):
    url = sign("/media/a.jpg", "--uses", "1", "--id", "tamper1")
    r = get(srv, url.replace("mg_uses=1", "mg_uses=9"), "198.51.100.50")
    assert r.status_code == 403 and reason(r) == "token-bad-signature"
    r = get(srv, url.replace("mg_id=tamper1", "mg_id=tamper2"), "198.51.100.50")
    assert reason(r) == "token-bad-signature"
    # dropping the limit breaks the signature too
    r = get(srv, url.replace("&mg_uses=1", ""), "198.51.100.50")
    assert reason(r) == "token-bad-signature"


def test_uses_without_id_is_malformed(srv, sign):
    url = sign("/media/a.jpg", "--uses", "1", "--id", "x1")
    r = get(srv, url.replace("mg_id=x1&", ""), "198.51.100.60")
    assert r.status_code == 403 and reason(r) == "token-malformed"


def test_links_without_uses_are_not_counted(srv, sign):
    url = sign("/media/a.jpg", "--id", "plain-id")
    for i in range(5):
        assert get(srv, url, f"198.51.100.{100 + i}").status_code == 200


def test_no_cache_configured_refuses_links_limited_in_uses(apache_factory, sign):
    s = make(apache_factory, "once-nocache", CONF_REMOTEIP, policy())
    try:
        url = sign("/media/a.jpg", "--once")
        mark = s.mark()
        r = get(s, url, "198.51.100.1")
        assert r.status_code == 500
        assert "no MediaGuardStore or MediaGuardOnceCache is configured" in s.error_log_since(mark)
        # an ordinary link is unaffected
        assert get(s, sign("/media/a.jpg"), "198.51.100.1").status_code == 200
    finally:
        s.stop()


def test_revoked_id_and_revoked_key_are_token_revoked_after_graceful(apache_factory, sign):
    s = make(apache_factory, "once-revoke", CONF, policy())
    try:
        bad = sign("/media/a.jpg", "--id", "leaked-42")
        good = sign("/media/a.jpg", "--id", "fine-43")
        old = sign("/media/a.jpg", key="kold")
        once = sign("/media/a.jpg", "--once")
        for u in (bad, good, old, once):
            assert get(s, u, "198.51.100.1").status_code == 200
        s.graceful(new_policies={"once.yaml": policy(revoked_ids=["leaked-42"],
                                                       kold_revoked=True)})
        # the reload kept the use counts: the one-time link stays claimed
        assert get(s, once, "198.51.100.1").status_code == 200
        r = get(s, once, "198.51.100.2")
        assert r.status_code == 403 and reason(r) == "token-used"
        r = get(s, bad, "198.51.100.1")
        assert r.status_code == 403 and reason(r) == "token-revoked"
        r = get(s, old, "198.51.100.1")
        assert r.status_code == 403 and reason(r) == "token-revoked"
        assert get(s, good, "198.51.100.1").status_code == 200
    finally:
        s.stop()


def test_a_revocation_file_without_its_lock_refuses_links_with_an_id(apache_factory, sign,
                                                                     tmp_path):
    """MG00610: when a child cannot create the lock of a policy's
    tokens.revocation_file (injected: faults/fail_mutex.c, preloaded, fails
    apr_thread_mutex_create for the module's own calls only), that child
    cannot know the file's ids, so every link with an mg_id under the policy
    is refused with 500 internal-error, never checked against the policy's
    list alone (the ids the file held when the policy loaded are refused
    anyway); links without an id are served. The error log says so once per
    child at its start, and per refusal."""
    shim = tmp_path / "fail_mutex.so"
    cflags = subprocess.run(["pkg-config", "--cflags", "apr-1"], capture_output=True, text=True,
                            check=True).stdout.split()
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", *cflags, "-o", str(shim),
                    str(HERE / "faults" / "fail_mutex.c"), "-ldl"], check=True, timeout=60)
    s = apache_factory("once-revfile-nolock", CONF, policies={"once.yaml": policy(
        revocation_file="revoked.txt")}, files=FILES,
        extra_modules=["remoteip", "socache_shmcb"], start=False)
    kd = s.policy_dir / "keys"
    kd.mkdir(parents=True, exist_ok=True)
    for fname, text in (("k2026.key", K2026), ("kold.key", KOLD)):
        (kd / fname).write_text(text)
        (kd / fname).chmod(0o600)
    (s.policy_dir / "revoked.txt").write_text("early-1\n")
    s.preload = [shim]
    s.start()
    try:
        for link in (sign("/media/a.jpg", "--id", "late-2"), sign("/media/a.jpg", "--once")):
            r = get(s, link, "198.51.100.1")
            assert r.status_code == 500 and reason(r) == "internal-error", link
            assert r.content != JPEG
        # the ids the file held when the policy loaded are refused by the policy itself
        r = get(s, sign("/media/a.jpg", "--id", "early-1"), "198.51.100.1")
        assert r.status_code == 403 and reason(r) == "token-revoked"
        r = get(s, sign("/media/a.jpg"), "198.51.100.1")
        assert r.status_code == 200 and r.content == JPEG
        log = s.error_log()
        assert ("MG00610: media-guard: revocation file %s: cannot create its lock in this "
                "process; links with an mg_id are refused" % (s.policy_dir / "revoked.txt")) in log
        assert log.count("the revocation file's state cannot be read in this process "
                         "(MG00610)") == 2, log
        assert "exit signal" not in log
    finally:
        s.stop()


def test_a_revocation_file_changed_just_before_a_look_is_read_again_at_the_next(
        apache_factory, sign):
    """The kernel stamps ctime from a coarse clock (a tick; a second on
    some file systems): a version read within a second of its change may be
    rewritten in place to the same size within the same tick, and look
    unchanged ever after. So such a version is read again at the next look
    (MG00606 at debug), by the same child: one keep-alive connection; then
    no more. With the stamps alone it was not read again, and such an
    in-place rewrite was missed until the file changed once more."""
    s = apache_factory("once-revfile-racy", "KeepAlive On\nKeepAliveTimeout 20\n" + CONF,
                       policies={"once.yaml": policy(revocation_file="revoked.txt")},
                       files=FILES, extra_modules=["remoteip", "socache_shmcb"], start=False)
    kd = s.policy_dir / "keys"
    kd.mkdir(parents=True, exist_ok=True)
    (kd / "k2026.key").write_text(K2026)
    (kd / "k2026.key").chmod(0o600)
    (kd / "kold.key").write_text(KOLD)
    (kd / "kold.key").chmod(0o600)
    (s.policy_dir / "revoked.txt").write_text("# revoked\n")
    s.start()
    link = sign("/media/a.jpg", "--id", "racy-link")
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)

    def look():
        mark = s.mark()
        conn.request("GET", link)
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
        return re.findall(r"\[pid (\d+)[^\]]*\].*MG00606: ", s.error_log_since(mark))

    try:
        for attempt, ids in enumerate(("racy-aaaa\n", "racy-bbbb\n", "racy-cccc\n")):
            if attempt:
                time.sleep(1.1)  # the child looks again only after revocation_refresh
            with open(s.policy_dir / "revoked.txt", "r+") as f:  # in place
                f.seek(0, os.SEEK_END)
                f.write(ids)
            changed = time.time()
            read = look()
            if time.time() - changed < 0.8:  # this look was within the second
                break
        else:
            pytest.skip("no look within a second of the change: the machine is too slow")
        assert len(read) == 1, read
        time.sleep(1.1)  # revocation_refresh: 1s; the file is as it was
        assert look() == read
        time.sleep(1.1)  # read more than a second after the change: settled
        assert look() == []
    finally:
        conn.close()
        s.stop()


def test_revocation_file_takes_effect_without_a_reload(apache_factory, sign):
    s = apache_factory("once-revfile", CONF, policies={"once.yaml": policy(
        revocation_file="revoked.txt")}, files=FILES,
        extra_modules=["remoteip", "socache_shmcb"], start=False)
    kd = s.policy_dir / "keys"
    kd.mkdir(parents=True, exist_ok=True)
    for fname, text in (("k2026.key", K2026), ("kold.key", KOLD)):
        (kd / fname).write_text(text)
        (kd / fname).chmod(0o600)
    revfile = s.policy_dir / "revoked.txt"
    revfile.write_text("# revoked at start\nearly-1\n")
    s.start()
    try:
        early = sign("/media/a.jpg", "--id", "early-1")
        late = sign("/media/a.jpg", "--id", "late-2")
        once = sign("/media/a.jpg", "--once")
        r = get(s, early, "198.51.100.1")
        assert r.status_code == 403 and reason(r) == "token-revoked"
        assert get(s, late, "198.51.100.1").status_code == 200
        assert get(s, once, "198.51.100.1").status_code == 200
        once_id = re.search(r"mg_id=([A-Za-z0-9_-]+)", once).group(1)
        revfile.write_text(f"early-1\nlate-2\n{once_id}\n")
        deadline = time.time() + 10
        while time.time() < deadline and reason(get(s, late, "198.51.100.1")) != "token-revoked":
            time.sleep(0.3)
        # every child picks it up within revocation_refresh: no reload
        for _ in range(10):
            r = get(s, late, "198.51.100.1")
            assert r.status_code == 403 and reason(r) == "token-revoked"
            r = get(s, once, "198.51.100.1")
            assert r.status_code == 403 and reason(r) == "token-revoked"
        # a broken file keeps the list read before, and says so
        mark = s.mark()
        revfile.write_text("late-2\nnot an id\n")
        time.sleep(1.5)
        for _ in range(5):
            assert reason(get(s, late, "198.51.100.1")) == "token-revoked"
            assert reason(get(s, early, "198.51.100.1")) == "token-revoked"
        assert "line 2 is not a token id" in s.error_log_since(mark)
        # a file that becomes writable by everyone is no longer trusted:
        # a list without late-2 in it, written there, takes nothing off
        mark = s.mark()
        revfile.write_text("early-1\n")
        revfile.chmod(0o666)
        time.sleep(1.5)
        for _ in range(5):
            assert reason(get(s, late, "198.51.100.1")) == "token-revoked"
        assert "MG00605" in s.error_log_since(mark)
        assert "writable by everyone" in s.error_log_since(mark)
    finally:
        s.stop()


@pytest.fixture(scope="module")
def memcached(tmp_path_factory):
    """A private memcached on a free port (skipped where memcached is not installed),
    with -M: the module refuses one-time links on a memcached that evicts."""
    store = StoreServer("memcached", tmp_path_factory.mktemp("memcached"), args=["-m", "16"])
    try:
        store.start()
        yield store.addr
    finally:
        store.stop()


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """A private redis-server on a free port, nothing persisted (skipped where
    redis-server is not installed)."""
    store = StoreServer("redis", tmp_path_factory.mktemp("redis"))
    try:
        store.start()
        yield store.addr
    finally:
        store.stop()


def _redis_keys(addr):
    """KEYS * over RESP with a raw socket (no client library needed)."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as c:
        c.sendall(b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
        data = b""
        while not data.endswith(b"\r\n") or data.count(b"\r\n") < 1 + 2 * int(data[1:data.index(b"\r\n")]):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    return [line for line in data.split(b"\r\n")[1:] if line and not line.startswith(b"$")]


def _two_servers_share_one_count(apache_factory, sign, provider, addr):
    conf = f"MediaGuardStore {provider}://{addr}\n" + CONF_REMOTEIP
    servers = []
    try:
        for name in (f"once-{provider}-a", f"once-{provider}-b"):
            s = apache_factory(name, conf, policies={"once.yaml": policy()}, files=FILES,
                               extra_modules=["remoteip"], start=False)
            kd = s.policy_dir / "keys"
            kd.mkdir(parents=True, exist_ok=True)
            for fname, text in (("k2026.key", K2026), ("kold.key", KOLD)):
                (kd / fname).write_text(text)
                (kd / fname).chmod(0o600)
            s.start()
            servers.append(s)
        a, b = servers
        url = sign("/media/film.mp4", "--uses", "2")
        assert get(a, url, "198.51.100.1").status_code == 200
        # the same client on the other server: already a claimant
        assert get(b, url, "198.51.100.1", headers={"Range": "bytes=0-9"}).status_code == 206
        assert get(b, url, "198.51.100.2").status_code == 200
        r = get(a, url, "198.51.100.3")
        assert r.status_code == 403 and reason(r) == "token-used"
        r = get(b, url, "198.51.100.3")
        assert r.status_code == 403 and reason(r) == "token-used"
    finally:
        for s in servers:
            s.stop()


def test_two_servers_sharing_memcache_count_one_set_of_uses(apache_factory, sign, memcached):
    _two_servers_share_one_count(apache_factory, sign, "memcache", memcached)


def test_two_servers_sharing_redis_count_one_set_of_uses(apache_factory, sign, redis):
    _two_servers_share_one_count(apache_factory, sign, "redis", redis)
    # the uses really are in the shared redis: one slot per use of the one
    # link, "mg:use:KID:ID:SLOT" (docs/token-spec.md)
    keys = sorted(k for k in _redis_keys(redis) if k != b"mg:epoch")
    assert len(keys) == 2 and all(k.startswith(b"mg:use:k2026:") for k in keys), keys
    assert keys[0].endswith(b":1") and keys[1].endswith(b":2"), keys


@pytest.mark.parametrize("provider", ["memcache", "redis"])
def test_configtest_refuses_a_shared_socache_with_a_migration_message(apache_factory, provider):
    s = apache_factory(f"once-old-{provider}",
                       CONF.replace("shmcb:@ROOT@/logs/mg-once(512000)", f"{provider}:127.0.0.1:1"),
                       policies={"once.yaml": policy()}, files=FILES,
                       extra_modules=["remoteip", "socache_shmcb"], start=False)
    rc, out = s.configtest()
    assert rc != 0
    assert f"use 'MediaGuardStore {provider}://127.0.0.1:1' instead" in out


def test_configtest_refuses_an_unknown_cache_provider(apache_factory):
    s = apache_factory("once-badcache", CONF.replace("shmcb:", "nosuchcache:"),
                       policies={"once.yaml": policy()}, files=FILES,
                       extra_modules=["remoteip", "socache_shmcb"], start=False)
    kd = s.policy_dir / "keys"
    kd.mkdir(parents=True, exist_ok=True)
    for fname, text in (("k2026.key", K2026), ("kold.key", KOLD)):
        (kd / fname).write_text(text)
        (kd / fname).chmod(0o600)
    rc, out = s.configtest()
    assert rc != 0
    assert "unknown socache provider 'nosuchcache'" in out


# Expiries that a store's own expiry field cannot hold: memcached reads an
# expiry over 30 days as a Unix time in a signed 32-bit field (after
# 2038-01-19 03:14:07 UTC the record was gone at once, and every address got
# a "free" slot), a 32-bit Unix time wraps in 2106, and a 32-bit lifetime in
# seconds wraps after 136 years (the slots died decades before the link).
FAR_EXPIRIES = ["2040-01-01T00:00:00Z", "2110-01-01T00:00:00Z", "2170-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z"]


def _resp(addr, *args):
    """One command over RESP with a raw socket; the reply's first line."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as c:
        c.sendall(f"*{len(args)}\r\n".encode()
                  + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args))
        return c.recv(4096).split(b"\r\n")[0]


def _memcached_ttl(addr, key):
    """Seconds the record has left (-1: no expiry), by the meta get `mg KEY t`."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as c:
        c.sendall(f"mg {key} t\r\n".encode())
        line = c.recv(4096).split(b"\r\n")[0].decode()
    assert line.startswith("HD t"), line
    return int(line[4:])


def _far_expiry_links_keep_their_one_use(s, sign, base, slot_ttl=None):
    for i, when in enumerate(FAR_EXPIRIES):
        url = sign("/media/a.jpg", "--once", "--expires", when, ttl=None)
        first, other = f"{base}.{2 * i + 1}", f"{base}.{2 * i + 2}"
        r = get(s, url, first)
        assert r.status_code == 200, (when, r.status_code, reason(r))
        assert get(s, url, first).status_code == 200, when
        r = get(s, url, other)
        assert r.status_code == 403 and reason(r) == "token-used", (when, r.status_code,
                                                                      reason(r))
        if slot_ttl is not None:
            # the record outlives the link: no expiry, or one after the link's
            exp = int(re.search(r"mg_exp=(\d+)", url).group(1))
            key = "mg:use:k2026:" + re.search(r"mg_id=([A-Za-z0-9_-]+)", url).group(1) + ":1"
            left = slot_ttl(key)
            assert left == -1 or left >= exp - time.time(), (when, left, exp - time.time())


def test_a_one_time_link_expiring_after_2038_keeps_its_one_use_shmcb(srv, sign):
    _far_expiry_links_keep_their_one_use(srv, sign, "198.18.0")
    # The slots live exp - now + 2 * clock_skew + 1 seconds (grace 0): this
    # expiry, 136 years away, made the old 32-bit lifetime wrap to `wrap`
    # seconds, after which another address found the use free.
    wrap = 4
    now = int(time.time())
    url = sign("/media/a.jpg", "--once", "--expires", str(now + 2**32 - 2 * 30 - 1 + wrap),
               ttl=None)
    r = get(srv, url, "198.18.0.100")
    assert r.status_code == 200, (r.status_code, reason(r))
    # claimed early enough that the wrapped lifetime was at least a second
    assert time.time() < now + wrap - 1
    time.sleep(max(0.0, now + wrap + 1 - time.time()))
    r = get(srv, url, "198.18.0.101")
    assert r.status_code == 403 and reason(r) == "token-used", (r.status_code, reason(r))


@pytest.mark.parametrize("provider", ["memcache", "redis"])
def test_a_one_time_link_expiring_after_2038_keeps_its_one_use_on_a_store(apache_factory, sign,
                                                                           provider, request):
    addr = request.getfixturevalue("memcached" if provider == "memcache" else "redis")
    s = make(apache_factory, f"once-far-{provider}",
             f"MediaGuardStore {provider}://{addr}\n" + CONF_REMOTEIP, policy())
    if provider == "redis":
        def slot_ttl(key):
            return int(_resp(addr, "TTL", key)[1:])
    else:
        def slot_ttl(key):
            return _memcached_ttl(addr, key)
    try:
        _far_expiry_links_keep_their_one_use(s, sign, "198.18.1", slot_ttl)
        # an ordinary link: its slot outlives its last second on a server
        # whose clock is clock_skew (30 s) behind this one's: 600 + 30 + 30 + 1
        url = sign("/media/a.jpg", "--once")
        assert get(s, url, "198.18.2.1").status_code == 200
        key = "mg:use:k2026:" + re.search(r"mg_id=([A-Za-z0-9_-]+)", url).group(1) + ":1"
        exp = int(re.search(r"mg_exp=(\d+)", url).group(1))
        assert slot_ttl(key) >= exp + 60 - time.time(), (slot_ttl(key), exp - time.time())
    finally:
        s.stop()


def _curl_status(s, url, ip, head=False, h2=True):
    """The status of `url` by curl, over HTTP/2 on cleartext (h2c, prior
    knowledge) or over HTTP/1.1."""
    cmd = ["curl", "-sS", "--http2-prior-knowledge" if h2 else "--http1.1", "-o", "/dev/null", "-w",
           "%{http_version} %{http_code}", "--max-time", "10", "-H", f"X-Forwarded-For: {ip}"]
    if head:
        cmd.append("--head")
    p = subprocess.run(cmd + [s.url(url)], capture_output=True, text=True, timeout=15)
    assert p.returncode == 0, p.stderr
    version, code = p.stdout.split()
    assert version == ("2" if h2 else "1.1"), p.stdout
    return int(code)


def test_http2_and_http1_share_one_count_and_race_exactly(apache_factory, sign):
    """One link over HTTP/1.1 and HTTP/2 (mod_http2) is one link: a client
    that claimed it over one keeps it over the other, a HEAD over HTTP/2
    claims nothing, and twelve addresses released together by a barrier, half
    of them over each protocol, get exactly the three uses (red team 22)."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    s = make(apache_factory, "once-h2", "Protocols h2c http/1.1\n" + CONF, policy(),
             extra_modules=["http2"])
    try:
        url = sign("/media/film.mp4", "--once")
        assert _curl_status(s, url, "198.51.100.1", head=True) == 200
        assert _curl_status(s, url, "198.51.100.2") == 200
        r = get(s, url, "198.51.100.4")
        assert r.status_code == 403 and reason(r) == "token-used"
        assert get(s, url, "198.51.100.2", headers={"Range": "bytes=0-9"}).status_code == 206
        r = get(s, url, "198.51.100.1")
        assert r.status_code == 403 and reason(r) == "token-used"
        assert _curl_status(s, url, "198.51.100.3") == 403

        for round_ in range(3):
            url = sign("/media/a.jpg", "--uses", "3")
            ips = [f"10.22.{round_}.{i + 1}" for i in range(12)]
            barrier = threading.Barrier(len(ips))
            codes = [None] * len(ips)

            def client(i):
                barrier.wait()
                # HTTP/1.1 from this process (no process start between the
                # barrier and the request), HTTP/2 by curl
                codes[i] = (_curl_status(s, url, ips[i]) if i % 2
                            else get(s, url, ips[i]).status_code)
            threads = [threading.Thread(target=client, args=(i,)) for i in range(len(ips))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(codes) == [200] * 3 + [403] * 9, codes
    finally:
        s.stop()


def test_a_cache_that_cannot_start_is_said_once_per_start_and_refuses(apache_factory, sign):
    """httpd reads its configuration twice when it starts (the first pass only
    checks it): MG00601 is said for the pass that serves, once, and again once
    for each graceful restart that cannot start it either."""
    conf = ("Mutex file:/proc media-guard-once\n"  # a directory nobody can create a file in
            "MediaGuardOnceCache shmcb:@ROOT@/logs/mg-once(512000)\n" + CONF_REMOTEIP)
    s = make(apache_factory, "once-broken", conf, policy())
    try:
        said = [ln for ln in s.error_log().splitlines() if "MG00601: " in ln]
        assert len(said) == 1, said
        assert "cannot create its mutex" in said[0] and "will be refused" in said[0]
        mark = s.mark()
        r = get(s, sign("/media/a.jpg", "--once"), "198.51.100.1")
        assert r.status_code == 500 and reason(r) == "internal-error"
        assert "the MediaGuardOnceCache failed to start" in s.error_log_since(mark)
        assert get(s, sign("/media/a.jpg"), "198.51.100.1").status_code == 200
        s.graceful()
        said = [ln for ln in s.error_log().splitlines() if "MG00601: " in ln]
        assert len(said) == 2, said
    finally:
        s.stop()


def test_a_request_finished_after_a_graceful_reload_on_an_older_connection_is_not_granted_by_a_removed_key_or_revoked_id(  # noqa: E501
        apache_factory, sign):
    """httpd lets the old generation's children finish the connections they
    accepted, with the old configuration: a request sent on such a
    connection after the reload, at the client's pace (bounded only by
    mod_reqtimeout, or by Timeout between two bytes without it), was
    granted by a key the reload removed and an id it revoked, while the new
    generation refused both (measured: 20 s after the reload, with a
    header every 5 s). A grant by a token in a replaced process is now an
    error (500), which the client asks again for; the new generation then
    decides (a valid link: 200)."""
    s = make(apache_factory, "once-inflight", CONF_REMOTEIP, policy())
    try:
        links = {"old": sign("/media/a.jpg", key="kold"),
                 "leaked": sign("/media/a.jpg", "--id", "leaked-42"),
                 "good": sign("/media/a.jpg", "--id", "fine-43")}
        reloaded = policy(revoked_ids=["leaked-42"]).replace(
            "  - id: kold\n    file: keys/kold.key\n", "")
        # what the new generation answers; the old one now answers 500
        new_gen = {"old": (403, "token-unknown-key"), "leaked": (403, "token-revoked"),
                   "good": (200, None)}
        for attempt in range(3):
            if attempt:
                s.graceful(new_policies={"once.yaml": policy()})
            conns = {}
            for name, link in links.items():
                c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                c.sendall(f"GET {link} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
                conns[name] = c
            sent = time.monotonic()
            time.sleep(0.5)  # accepted and being read by the old generation
            s.graceful(new_policies={"once.yaml": reloaded})
            # past the second in which a request counts as in flight at the reload
            time.sleep(max(0.2, 1.5 - (time.monotonic() - sent)))
            got = {}
            for name, c in conns.items():
                c.sendall(b"X-Late: 1\r\n\r\n")
                head = c.makefile("rb").read().split(b"\r\n\r\n")[0].decode()
                c.close()
                got[name] = (int(head.split()[1]),
                             re.search(r"X-Media-Guard-Reason: (\S+)", head).group(1)
                             if "X-Media-Guard-Reason" in head else None)
            # never granted by the removed key or the revoked id, whichever
            # generation read the request
            for name, answer in got.items():
                assert answer in ((500, "internal-error"), new_gen[name]), got
            if (500, "internal-error") in got.values():
                break  # the old generation decided (a loaded machine may hand one over)
        else:
            pytest.fail(f"the old generation never decided a request: {got}")
        # asked again: the new generation decides
        assert reason(get(s, links["old"], "198.51.100.1")) == "token-unknown-key"
        assert reason(get(s, links["leaked"], "198.51.100.1")) == "token-revoked"
        assert get(s, links["good"], "198.51.100.1").status_code == 200
    finally:
        s.stop()


def _held_request(s, link):
    """A request whose request line and a header the current generation's
    child is reading; send_rest() sends the rest (after a reload) and
    returns (status, X-Gen of the answering generation, reason)."""
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    f = c.makefile("rb")
    c.sendall(f"GET {link} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    sent = time.monotonic()
    time.sleep(0.5)  # accepted and being read by this generation's child

    def send_rest():
        # past the second after its request line in which a request still
        # counts as in flight at the reload
        time.sleep(max(0.0, 1.5 - (time.monotonic() - sent)))
        c.sendall(b"X-Late: 1\r\nConnection: close\r\n\r\n")
        head = f.read().split(b"\r\n\r\n")[0].decode()
        c.close()
        return (int(head.split()[1]), re.search(r"X-Gen: (\S+)", head).group(1),
                re.search(r"X-Media-Guard-Reason: (\S+)", head).group(1)
                if "X-Media-Guard-Reason" in head else None)
    return send_rest


def test_a_request_in_flight_across_a_graceful_reload_keeps_its_grant_only_if_its_policy_is_unchanged(  # noqa: E501
        apache_factory, mgctl):
    """A replaced child lets a token's grant stand only when the new
    generation serves the policy's NAME with the same fingerprint (policy
    digest: rules, key ids, key material, revoked ids; and the FILE): a
    reload that changes nothing (logrotate's nightly one) no longer turns
    every in-flight HLS segment into a 500."""
    conf = CONF_REMOTEIP + "Header always set X-Gen {gen}\n"
    s = make(apache_factory, "once-inflight-fp", conf.format(gen=1), policy(),
             extra_modules=["headers"])
    keys = s.policy_dir / "keys"
    # what the running generation serves: NAME once from which file, and the
    # key file that file names (other.yaml names other.key)
    state = {"gen": 1, "material": K2026, "once": "once.yaml"}
    keyfile = {"once.yaml": "k2026.key", "other.yaml": "other.key"}

    def link(kf=None):
        p = mgctl("sign", "--key-file", keys / (kf or keyfile[state["once"]]), "--key-id",
                  "k2026", "--ttl", "10m", "/media/a.jpg")
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    def snippet():
        spare = "other.yaml" if state["once"] == "once.yaml" else "once.yaml"
        c = conf.format(gen=state["gen"])
        if state["once"] == "once.yaml":
            return c
        return c.replace("MediaGuardPolicy once @POLICIES@/once.yaml",
                         f"MediaGuardPolicy once @POLICIES@/{state['once']}\n"
                         f"MediaGuardPolicy spare @POLICIES@/{spare}")

    def across_reload(change):
        """A request held open, the change, a reload, the rest of the
        request: (status, reason) as the old generation decided it. A loaded
        machine may let the new generation take the request over; the case
        is then tried again (3 times), as only the old generation's answer
        tests the check."""
        for _ in range(3):
            rest = _held_request(s, link())
            change()
            old = state["gen"]
            state["gen"] += 1
            s.graceful(new_conf_snippet=snippet())
            status, gen, why = rest()
            if gen == str(old):
                return status, why
        pytest.fail("the old generation never decided the request")

    def swap_material():
        state["material"] = KOLD if state["material"] == K2026 else K2026
        (keys / "k2026.key").write_text(state["material"])

    def swap_file():
        state["once"] = "other.yaml" if state["once"] == "once.yaml" else "once.yaml"

    try:
        # (1) nothing changes but a header: the old child's grant stands
        assert across_reload(lambda: None) == (200, None)
        # (2) the key file replaced at the same path by other material
        assert across_reload(swap_material) == (500, "internal-error")
        assert reason(get(s, link(), "198.51.100.1")) is None  # the new key grants
        # (3) the NAME pointed at another file with another key; the old
        # file, unchanged, declared under another NAME (spare)
        (keys / "other.key").write_text(KOLD if state["material"] == K2026 else K2026)
        (keys / "other.key").chmod(0o600)
        s.write_policies({"other.yaml": policy().replace("keys/k2026.key", "keys/other.key")})
        assert across_reload(swap_file) == (500, "internal-error")
        assert get(s, link(), "198.51.100.1").status_code == 200
        assert "reload has replaced, and the new configuration changed the policy" in \
            s.error_log()
    finally:
        s.stop()
