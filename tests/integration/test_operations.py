"""The multi-server procedures of the docs, walked as an admin walks them,
on three real Apache servers that share a real redis-server: a key rotated
one server at a time (docs/token-spec.md, "Key rotation without
downtime"), the check that every server runs the policy the admin means
(`mediaguard_policy_info` against `mgctl compile`), an id revoked in each
server's `tokens.revocation_file` (appended to, then replaced as rsync -a
does) and in the store with `mgctl revoke --store --ttl` as docs/mgctl.md
says to size it, and revoked again. Clients of a check are released
together through a barrier, one per server. About 7.5 s."""

import os
import re
import signal
import socket
import time

import pytest

from storeharness import Racers, StoreServer, http_get, redis_command
from test_store_cluster import reason

NODES = 3
K2026 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"
K2027 = "mg-hmac-sha256:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n"
JPG = b"\xff\xd8\xff\xe0" + bytes(200)

KEY = """\
  - id: {kid}
    file: keys/{kid}.key
"""
POLICY = """\
version: 1
name: ops
keys:
{keys}tokens:
  grace: {grace}
  clock_skew: 1s
  revocation_file: revoked.txt
  revocation_refresh: 1s
rules:
  - id: media
    path: /media/
    token: required
"""

CONF = """\
MediaGuardStore {url}
MediaGuardPolicy ops @POLICIES@/ops.yaml
MediaGuardReasonHeader On
<Location "/media/">
    Require media-guard ops
</Location>
<Location "/server-metrics">
    SetHandler media-guard-metrics
    MediaGuardMetrics On
</Location>
"""


def policy(*kids, signing="k2026", grace="10s"):
    keys = "".join(KEY.format(kid=k) + ("    sign: true\n" if k == signing else "")
                   for k in kids)
    return POLICY.format(keys=keys, grace=grace)


def deploy(d, text):
    """What config management puts on a host: the policy, both key files,
    the revocation file (kept when it is there)."""
    (d / "keys").mkdir(parents=True, exist_ok=True)
    for kid, material in (("k2026", K2026), ("k2027", K2027)):
        (d / "keys" / f"{kid}.key").write_text(material)
        (d / "keys" / f"{kid}.key").chmod(0o600)
    if not (d / "revoked.txt").exists():
        (d / "revoked.txt").write_text("# revoked token ids\n")
    (d / "ops.yaml").write_text(text)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = StoreServer("redis", tmp_path_factory.mktemp("ops-redis")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def nodes(apache_factory, store):
    started = []
    try:
        for i in range(NODES):
            srv = apache_factory(f"ops-{i}", CONF.format(url=store.url()),
                                 files={"media/a.jpg": JPG}, loglevel="info", start=False)
            deploy(srv.policy_dir, policy("k2026"))
            srv.start()
            started.append(srv)
        yield started
    finally:
        for n in started:
            n.stop()


@pytest.fixture(scope="module")
def racers():
    r = Racers(NODES)
    yield r
    r.close()


def everywhere(racers, nodes, link):
    """(status, reason) of `link` on every server, the requests released together."""
    res = racers.round([(n.port, link, "127.0.0.1", None) for n in nodes])
    return [(st, reason(h)) for st, h, _ in res]


def graceful_all(nodes, text):
    """The policy on every server, then every server reloaded at once (what
    Apache.graceful does one at a time, without waiting in between)."""
    before = [n.generations() for n in nodes]
    for n in nodes:
        n.write_policies({"ops.yaml": text})
        os.kill(n.proc.pid, signal.SIGUSR1)
    deadline = time.time() + 15
    while any(n.generations() <= b for n, b in zip(nodes, before)):
        assert time.time() < deadline, "a graceful reload did not complete"
        time.sleep(0.05)
    time.sleep(0.5)  # the new generations' children take over


def served_digest(node):
    st, _, body = http_get(node.port, "/server-metrics")
    assert st == 200
    m = re.search(r'^mediaguard_policy_info\{policy="ops",digest="sha256:([0-9a-f]{64})",'
                  r'last_good="(\d)"\} 1$', body.decode(), re.M)
    assert m, body
    return m.group(1), m.group(2)


def compiled_digest(mgctl, d):
    p = mgctl("compile", d / "ops.yaml")
    assert p.returncode == 0, p.stderr
    return re.match(r"# mod_media_guard compiled policy v1 sha256:([0-9a-f]{64})",
                    p.stdout).group(1)


def test_an_id_appended_to_each_servers_revocation_file_is_refused_everywhere_within_the_refresh(
        nodes, racers, mgctl):
    """docs/policy.md: an id added to `tokens.revocation_file` is refused
    within `revocation_refresh` (1s here) without a reload. Each server
    reads its own copy: config management writes them one after another,
    appending, then replacing the file as rsync -a does."""
    link = mgctl("sign", "--key-file", nodes[0].policy_dir / "keys" / "k2026.key", "--key-id",
                 "k2026", "--ttl", "10m", "--id", "leak-file", "/media/a.jpg").stdout.strip()
    assert everywhere(racers, nodes, link) == [(200, None)] * NODES
    for n in nodes:
        with open(n.policy_dir / "revoked.txt", "a") as f:
            f.write("leak-file\n")
    time.sleep(1.1)
    assert everywhere(racers, nodes, link) == [(403, "token-revoked")] * NODES
    # the next deploy copies the file as `rsync -a` does: a new file renamed
    # over the old one, its mtime kept; one id swapped for another of the
    # same length leaves the size as it was. Only the inode (and ctime)
    # tell the versions apart: with mtime and size alone, the new id stayed
    # granted on every server until a reload
    other = mgctl("sign", "--key-file", nodes[0].policy_dir / "keys" / "k2026.key", "--key-id",
                  "k2026", "--ttl", "10m", "--id", "leak-fil2", "/media/a.jpg").stdout.strip()
    for n in nodes:
        f, tmp = n.policy_dir / "revoked.txt", n.policy_dir / ".revoked.txt.tmp"
        st = f.stat()
        tmp.write_text(f.read_text().replace("leak-file", "leak-fil2"))
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.rename(tmp, f)
        assert (f.stat().st_size, f.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    time.sleep(1.1)
    assert everywhere(racers, nodes, other) == [(403, "token-revoked")] * NODES


def test_a_store_revocation_with_the_ttl_the_docs_give_outlasts_the_link(
        nodes, racers, store, mgctl):
    """docs/mgctl.md: `mgctl revoke --store --ttl D` with D the links'
    longest lifetime + tokens.grace + 2 x tokens.clock_skew + 1s. A link
    valid for 1s under grace 10s and clock_skew 1s is accepted until 12 s
    after it was signed (whole seconds: a stall of up to ~10 s on a loaded
    CI still finds it unexpired); revoked with --ttl 1s, its
    lifetime — what the docs said before — the entry was gone after a
    second and every server served the revoked link again."""
    link = mgctl("sign", "--key-file", nodes[0].policy_dir / "keys" / "k2026.key", "--key-id",
                 "k2026", "--ttl", "1s", "--id", "leak-ttl", "/media/a.jpg").stdout.strip()
    p = mgctl("revoke", "--store", store.url(), "--ttl", "14s", "leak-ttl")
    assert p.returncode == 0, p.stderr
    revoked = time.time()
    assert everywhere(racers, nodes, link) == [(403, "token-revoked")] * NODES
    time.sleep(max(0.0, revoked + 1.3 - time.time()))
    assert everywhere(racers, nodes, link) == [(403, "token-revoked")] * NODES


def test_an_id_revoked_again_stays_revoked_when_the_new_write_fails(nodes, racers, store, mgctl):
    """Revoking an id again (a longer --ttl, as the CHANGELOG tells those
    who sized it short) deleted the entry and then added it: between the
    two every server granted the link, and when the add failed (here the
    store refuses SET, as an ACL or a full store does) it stayed deleted
    while mgctl said only that the write failed. It is one overwrite now."""
    link = mgctl("sign", "--key-file", nodes[0].policy_dir / "keys" / "k2026.key", "--key-id",
                 "k2026", "--ttl", "10m", "--id", "leak-again", "/media/a.jpg").stdout.strip()
    assert mgctl("revoke", "--store", store.url(), "--ttl", "1h", "leak-again").returncode == 0
    assert redis_command(store, "ACL", "SETUSER", "default", "-set") == "OK"
    try:
        p = mgctl("revoke", "--store", store.url(), "--ttl", "1d", "leak-again")
    finally:
        assert redis_command(store, "ACL", "SETUSER", "default", "+set") == "OK"
    assert p.returncode == 2 and "NOPERM" in p.stderr, (p.returncode, p.stderr)
    assert everywhere(racers, nodes, link) == [(403, "token-revoked")] * NODES
    p = mgctl("revoke", "--store", store.url(), "--ttl", "1d", "leak-again")
    assert p.returncode == 0 and p.stdout == "leak-again revoked\n", p
    assert 3600 < int(redis_command(store, "TTL", "mg:rev:leak-again")) <= 86400
    assert everywhere(racers, nodes, link) == [(403, "token-revoked")] * NODES


def memcached_expiry(store, key):
    """Seconds left before memcached drops `key` (its `me` debug command;
    -1: never), or None when it has no such item."""
    s = socket.create_connection(("127.0.0.1", store.port), timeout=10)
    try:
        s.sendall(f"me {key}\r\n".encode())
        got = b""
        while not got.endswith(b"\r\n"):
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
    finally:
        s.close()
    m = re.match(rb"ME \S+ exp=(-?\d+) ", got)
    assert m or got == b"EN\r\n", got
    if m is None:
        return None
    # memcached 1.6 prints the time left negated (now - exptime); -1 is never
    exp = int(m.group(1))
    return -1 if exp == -1 else abs(exp)


def test_an_id_revoked_again_on_memcached_gets_the_new_expiry(tmp_path, mgctl):
    """memcached has no overwrite that keeps an item when it cannot store
    the new one (`set` deletes it then): mgctl adds, and touches the item
    that is there. The new --ttl must land, and no --ttl keeps it for good."""
    mc = StoreServer("memcache", tmp_path).start(init_epoch=False)
    try:
        for ttl in ("1h", "1d"):
            p = mgctl("revoke", "--store", mc.url(), "--ttl", ttl, "leak-mc")
            assert p.returncode == 0 and p.stdout == "leak-mc revoked\n", p
        assert 86000 < memcached_expiry(mc, "mg:rev:leak-mc") <= 86400
        assert mgctl("revoke", "--store", mc.url(), "leak-mc").returncode == 0
        assert memcached_expiry(mc, "mg:rev:leak-mc") == -1
    finally:
        mc.proc.kill()  # its graceful stop takes most of a second
        mc.proc.wait(timeout=10)


def fill_with_revocations(store):
    """Revocation-sized items into memcached until it refuses one for lack
    of memory (-M: it refuses rather than evicts); how many went in."""
    s = socket.create_connection(("127.0.0.1", store.port), timeout=10)
    try:
        f, n = s.makefile("rb"), 0
        while n < 200000:
            s.sendall(b"".join(b"add mg:rev:fill%011d 0 0 1\r\n1\r\n" % (n + i)
                               for i in range(500)))
            replies = [f.readline() for _ in range(500)]
            if any(r.startswith(b"SERVER_ERROR out of memory") for r in replies):
                return n
            assert set(replies) == {b"STORED\r\n"}, replies
            n += 500
        pytest.fail("memcached did not fill up")
    finally:
        s.close()


def test_an_id_revoked_again_on_a_full_memcached_stays_revoked(tmp_path, mgctl):
    """Why not memcached's `set`: a full memcached (-M) that cannot store
    the new item deletes the old one, and the revoked link is granted
    again. `add` is refused before the key is looked at, and `touch` needs
    no memory: the entry stays, with its new expiry. A new id cannot be
    written: exit 2, saying the revocation was not written."""
    mc = StoreServer("memcache", tmp_path, args=["-m", "2"]).start(init_epoch=False)
    try:
        p = mgctl("revoke", "--store", mc.url(), "--ttl", "1h", "leak-full")
        assert p.returncode == 0, p.stderr
        assert fill_with_revocations(mc) > 1000
        p = mgctl("revoke", "--store", mc.url(), "--ttl", "1d", "leak-full")
        assert p.returncode == 0 and p.stdout == "leak-full revoked\n", p
        assert 86000 < memcached_expiry(mc, "mg:rev:leak-full") <= 86400
        p = mgctl("revoke", "--store", mc.url(), "--ttl", "1d", "leak-new")
        assert p.returncode == 2 and p.stdout == "", p
        assert ("leak-new: memcached 127.0.0.1:%d is full (SERVER_ERROR out of memory storing "
                "object): the revocation was not written" % mc.port) in p.stderr, p.stderr
        assert memcached_expiry(mc, "mg:rev:leak-new") is None
    finally:
        mc.proc.kill()
        mc.proc.wait(timeout=10)


def test_a_key_rotated_one_server_at_a_time_never_refuses_a_fresh_link(
        nodes, racers, mgctl, tmp_path):
    """(Last: it leaves the servers without k2026.) docs/token-spec.md's
    rotation, with the servers reloaded one after
    another as a rolling deploy does, and the docs' check before signing
    with the new key: every server's mediaguard_policy_info digest is the
    one `mgctl compile` gives for the policy the admin deployed. A server
    that kept the old policy (its reload refused) shows another digest."""
    signer = tmp_path / "signer"  # the host that mints links, with its own copy
    deploy(signer, policy("k2026"))

    def sign():
        p = mgctl("sign", "--policy", signer / "ops.yaml", "--ttl", "10m", "/media/a.jpg")
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    old = sign()
    # step 1, one server at a time: the new key verify-only; the old key
    # still signs, and its links work everywhere at every moment
    step1 = policy("k2026", "k2027")
    deploy(signer, step1)
    want = compiled_digest(mgctl, signer)
    for i, n in enumerate(nodes):
        n.graceful(new_policies={"ops.yaml": step1})
        assert everywhere(racers, nodes, sign()) == [(200, None)] * NODES
        # the docs' check tells the admin which servers are not there yet
        assert [served_digest(m) == (want, "0") for m in nodes] == \
            [j <= i for j in range(NODES)]
    # step 2: the signing host moves `sign: true` to the new key
    deploy(signer, policy("k2026", "k2027", signing="k2027"))
    new = sign()
    assert "mg_kid=k2027" in new
    assert everywhere(racers, nodes, new) == [(200, None)] * NODES
    assert everywhere(racers, nodes, old) == [(200, None)] * NODES
    # step 4 (after the old links expired): the old key retired, one server
    # at a time; the new key's links work everywhere throughout
    graceful_all(nodes, policy("k2027", signing="k2027"))
    assert everywhere(racers, nodes, new) == [(200, None)] * NODES
    assert everywhere(racers, nodes, old) == [(403, "token-unknown-key")] * NODES
