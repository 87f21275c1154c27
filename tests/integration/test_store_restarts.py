"""A store that loses its records by a restart (docs/directives.md, "A store
that loses its records"): a redis-server without persistence forgets every
claim when it restarts, and a used one-time link would work again. The
claim script keeps an epoch record (PREFIX"epoch", no expiry, with the id of
the Redis process): no record, or another process after a restart that was
not appendonly yes + appendfsync always, starts a new epoch, and a link
that a server could have granted before it (mg_exp - tokens.max_ttl, or
mg_nbf, minus tokens.clock_skew) is refused (500) rather than granted
again; a link signed after it works once. ?lost_records=warn serves as
before. A Redis that persists every write keeps its records, and nothing is
refused.

The same rule for memcached (an epoch per server, read after the slot
operation, on that slot's server), for MediaGuardOnceCache shmcb (the
cache's creation), for revocations lost with the store, and a new epoch
dated by the later of the claimer's clock and the store's.

Real redis-servers and memcached on free loopback ports, stopped and started
again on the same port; about 30 s for the file (most of it waiting for a new
epoch's second to pass)."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from storeharness import (Racers, http_get, init_epoch_with_mgctl, mc_epoch_key, redis_command,
                          source_address)
from test_store_cluster import CONF, POLICY, Cluster, make_node, reason
from test_store_evictions import start_store, tagged  # noqa: F401 (start_store: a fixture)

# every link here is bounded: max_ttl, with a clock_skew short enough that a
# link signed two seconds after a new epoch is past it
BOUNDED = POLICY.replace("tokens:\n  clock_skew: 30s\n",
                         "tokens:\n  clock_skew: 1s\n  max_ttl: 10m\n")
assert BOUNDED != POLICY
# Cluster.sign signs for 10m = max_ttl: a link could be used from its signing on


@pytest.fixture
def redis(start_store):
    return lambda args=(): start_store("redis", args=args)


def used_then_restarted(c, node, src):
    """A one-time link used from `src`, then the store restarted (no `mgctl
    store init`: what a real restart looks like); the link and the log mark."""
    used = c.sign("/media/film.mp4", "--once")
    assert http_get(node.port, used, src)[0] == 200
    mark = node.mark()
    c.store.stop()
    c.store.start(init_epoch=False)
    return used, mark


def epoch_of(line):
    """The Unix time of the epoch an MG00617/MG00618/MG00619 line names."""
    t = re.search(r"(?:new epoch|used before|revoked before) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", line).group(1)
    return int(time.mktime(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)


def wait_past(since):
    """Until a link signed now is past the epoch (skew 1s, on both sides)."""
    while time.time() < since + 2.2:
        time.sleep(0.1)


def test_a_redis_restart_without_persistence_refuses_a_used_link_and_serves_one_signed_after(
        redis, apache_factory, mgctl):
    store = redis()
    node = make_node(apache_factory, "restart-plain", store.url(), policy=BOUNDED)
    try:
        c = Cluster("redis", store, [node], mgctl)
        used, mark = used_then_restarted(c, node, "127.0.30.1")  # --save "": the claim is gone
        for src in ("127.0.30.2", "127.0.30.1"):
            st, h, body = http_get(node.port, used, src)
            assert (st, reason(h)) == (500, "internal-error"), (src, st, h)
            assert body != b"" and not body.startswith(b"\x00\x01\x02")
        log = node.error_log_since(mark)
        started = tagged(log, "MG00617")
        assert len(started) == 1, log
        assert "has no epoch record: it lost its records" in started[0]
        assert "links limited in uses that a server could have granted before it are refused" \
            in started[0]
        refused = tagged(log, "MG00618")
        assert len(refused) == 2, log
        tid = re.search(r"mg_id=([A-Za-z0-9_-]+)", used).group(1)
        assert all(f"token {tid} could have been used or revoked before" in ln for ln in refused), refused
        since = epoch_of(started[0])
        assert {epoch_of(ln) for ln in refused} == {since}
        # the same second, seen by mgctl
        p = mgctl("store", "check", "--store", store.url())
        assert p.returncode == 0, p.stderr
        assert f"epoch {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(since))}: it lost its " \
            "records then" in p.stdout, p.stdout
        assert "a restart may lose records (appendonly no" in p.stdout
        # a link signed after the new epoch works once
        wait_past(since)
        fresh = c.sign("/media/film.mp4", "--once")
        assert http_get(node.port, fresh, "127.0.30.3")[0] == 200
        st, h, _ = http_get(node.port, fresh, "127.0.30.4")
        assert (st, reason(h)) == (403, "token-used")
        # a shorter link is bounded by max_ttl only from its expiry back: a
        # server could have granted it 5 minutes before the epoch; mg_nbf
        # bounds its use but not its signing, and with the store's
        # revocation list (revocation=on, the default) it could have been
        # revoked then
        def sign5(*opts):
            p = mgctl("sign", "--key-file", node.policy_dir / "keys" / "k2026.key", "--key-id",
                      "k2026", "--ttl", "5m", "--once", *opts, input="/media/film.mp4\n")
            assert p.returncode == 0, p.stderr
            return p.stdout.strip()
        st, h, _ = http_get(node.port, sign5("--not-before", "none"), "127.0.30.5")
        assert (st, reason(h)) == (500, "internal-error")
        for i, opts in enumerate(((), ("--not-before", str(int(time.time()))))):
            st, h, _ = http_get(node.port, sign5(*opts), f"127.0.30.{6 + i}")
            assert (st, reason(h)) == (500, "internal-error"), opts
        # without the revocation list, the signing time mgctl sign writes as
        # mg_nbf on every link limited in uses (unless told --not-before
        # none) is what lets such a link work at once after the epoch
        norev = make_node(apache_factory, "restart-norev",
                          store.url(options="timeout=2s&revocation=off"), policy=BOUNDED)
        try:
            st, h, _ = http_get(norev.port, sign5("--not-before", "none"), "127.0.30.8")
            assert (st, reason(h)) == (500, "internal-error")
            assert http_get(norev.port, sign5(), "127.0.30.9")[0] == 200
            assert http_get(norev.port, sign5("--not-before", str(int(time.time()))),
                            "127.0.30.10")[0] == 200
        finally:
            norev.stop()
    finally:
        node.stop()


def build_fault(tmp_path, name, *defines):
    """faults/NAME.c built into a shared object to preload into Apache."""
    shim = tmp_path / f"{name}.so"
    cflags = subprocess.run(["pkg-config", "--cflags", "apr-1"], capture_output=True, text=True,
                            check=True).stdout.split()
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", *cflags, *defines,
                    "-o", str(shim), str(Path(__file__).parent / "faults" / f"{name}.c"), "-ldl"],
                   check=True, timeout=60)
    return shim


def test_a_new_epoch_begins_at_the_later_of_the_claimers_clock_and_the_stores(
        redis, apache_factory, mgctl, tmp_path):
    """The first claim after a loss comes to a server whose clock is 120 s
    behind (faults/clock_behind.c: its apr_time_now only), far more than
    clock_skew (1s). Dated by that clock, the epoch would begin 120 s before
    the loss, and a link granted in those 120 s by a server with the right
    clock — before the loss — would be granted again. The claim script
    takes Redis's TIME when it is later: the link is refused."""
    store = redis()
    shim = build_fault(tmp_path, "clock_behind", "-DCLOCK_BEHIND=120")
    right = make_node(apache_factory, "clock-right", store.url(), policy=BOUNDED)
    behind = make_node(apache_factory, "clock-behind", store.url(), policy=BOUNDED,
                       preload=[shim])
    try:
        c = Cluster("redis", store, [right, behind], mgctl)
        mark = behind.mark()
        used, _ = used_then_restarted(c, right, "127.0.35.1")
        lost = int(time.time())
        # a link the server behind accepts (5 min of the 10 min max_ttl; no
        # mg_nbf, which that server would find 120 s ahead): its claim
        # starts the epoch, and is refused by it
        p = mgctl("sign", "--key-file", right.policy_dir / "keys" / "k2026.key", "--key-id",
                  "k2026", "--ttl", "5m", "--once", "--not-before", "none",
                  input="/media/film.mp4\n")
        st, h, _ = http_get(behind.port, p.stdout.strip(), "127.0.35.2")
        assert (st, reason(h)) == (500, "internal-error"), (st, h)
        # the link used before the loss is refused by the server with the right clock
        st, h, _ = http_get(right.port, used, "127.0.35.3")
        assert (st, reason(h)) == (500, "internal-error"), (st, h)
        started = tagged(behind.error_log_since(mark), "MG00617")
        assert len(started) == 1 and epoch_of(started[0]) >= lost - 1, started
    finally:
        right.stop()
        behind.stop()


def test_lost_records_warn_serves_as_before_and_says_so(redis, apache_factory, mgctl):
    store = redis()
    url = store.url(options="timeout=2s&lost_records=warn")
    node = make_node(apache_factory, "restart-warn", url, policy=BOUNDED)
    try:
        c = Cluster("redis", store, [node], mgctl)
        used, mark = used_then_restarted(c, node, "127.0.31.1")
        # the use is given back, as before this version: the admin chose it
        assert http_get(node.port, used, "127.0.31.2")[0] == 200
        st, h, _ = http_get(node.port, used, "127.0.31.3")
        assert (st, reason(h)) == (403, "token-used")
        log = node.error_log_since(mark)
        assert len(tagged(log, "MG00619")) == 1, log
        assert "(lost_records=warn)" in tagged(log, "MG00619")[0]
        assert tagged(log, "MG00617") == [] and tagged(log, "MG00618") == []
    finally:
        node.stop()


def test_a_redis_that_persists_every_write_keeps_its_records_and_refuses_nothing(
        redis, apache_factory, mgctl):
    store = redis(args=("--appendonly", "yes", "--appendfsync", "always"))
    node = make_node(apache_factory, "restart-aof", store.url(), policy=BOUNDED)
    try:
        c = Cluster("redis", store, [node], mgctl)
        p = mgctl("store", "check", "--store", store.url())
        assert "a restart keeps its records (appendonly yes, appendfsync always)" in p.stdout, \
            p.stdout
        used, mark = used_then_restarted(c, node, "127.0.32.1")
        # the claim survived: the owner keeps it, anyone else is told it is used
        assert http_get(node.port, used, "127.0.32.1")[0] == 200
        st, h, _ = http_get(node.port, used, "127.0.32.2")
        assert (st, reason(h)) == (403, "token-used")
        log = node.error_log_since(mark)
        assert tagged(log, "MG00617") == [] and tagged(log, "MG00618") == [], log
        assert "epoch 0: its records are complete" in mgctl(
            "store", "check", "--store", store.url()).stdout
    finally:
        node.stop()


def test_a_restart_that_kept_a_snapshot_is_still_a_new_epoch(redis, apache_factory, mgctl):
    # RDB only: redis saves on a clean shutdown, so the records (and the
    # epoch record) come back; but a crash would have lost what came after
    # the last snapshot, and the module cannot tell the two apart
    store = redis(args=("--save", "3600 1"))
    node = make_node(apache_factory, "restart-rdb", store.url(), policy=BOUNDED)
    try:
        c = Cluster("redis", store, [node], mgctl)
        used, mark = used_then_restarted(c, node, "127.0.33.1")
        assert store.workdir.joinpath("dump.rdb").exists()
        st, h, _ = http_get(node.port, used, "127.0.33.2")
        assert (st, reason(h)) == (500, "internal-error")
        started = tagged(node.error_log_since(mark), "MG00617")
        assert len(started) == 1 and "restarted (another Redis process) without appendonly" \
            in started[0], started
    finally:
        node.stop()


def stop_all(racers, nodes):
    racers.close()
    for n in nodes:
        n.stop()


def tagged_since(nodes, marks, tag):
    """The error-log lines with `tag` of every node since its mark."""
    return [ln for n, m in zip(nodes, marks) for ln in tagged(n.error_log_since(m), tag)]


def one_winner_after(since, c, racers, first):
    """Past the epoch `since`: a fresh one-time link raced by 30 addresses
    (source_address(first...)) over the cluster's servers, released
    together: exactly one winner."""
    wait_past(since)
    fresh = c.sign("/media/film.mp4", "--once")
    res = racers.round([(c.nodes[i % len(c.nodes)].port, fresh, source_address(first + i), {})
                        for i in range(30)])
    assert sorted(st for st, _, _ in res) == [200] + [403] * 29


def test_three_servers_racing_after_a_restart_agree_on_one_epoch_started_once(
        redis, apache_factory, mgctl):
    store = redis()
    nodes = []
    racers = Racers(30)
    try:
        for i in range(3):
            nodes.append(make_node(apache_factory, f"restart-race-{i}", store.url(),
                                   policy=BOUNDED))
        c = Cluster("redis", store, nodes, mgctl)
        started = None
        for rnd in range(3):
            if started:  # a link that works before the restart: signed past the last epoch
                wait_past(epoch_of(started[0]))
            marks = [n.mark() for n in nodes]
            used, _ = used_then_restarted(c, nodes[rnd % 3], "127.0.34.1")
            # 30 addresses over the 3 servers, released together: every one
            # of them races to start the epoch with its claim
            res = racers.round([(nodes[i % 3].port, used, source_address(i), {})
                                for i in range(30)])
            assert [(st, reason(h)) for st, h, _ in res] == [(500, "internal-error")] * 30, rnd
            started = tagged_since(nodes, marks, "MG00617")
            assert len(started) == 1, (rnd, started)
            refused = tagged_since(nodes, marks, "MG00618")
            assert len(refused) == 30 and {epoch_of(ln) for ln in refused} == \
                {epoch_of(started[0])}, rnd
        # after the last epoch: one winner among 30 on a fresh link
        one_winner_after(epoch_of(started[0]), c, racers, 0)
    finally:
        stop_all(racers, nodes)


def test_store_init_refuses_an_empty_store_or_a_refused_info_without_force(redis, mgctl):
    """A new store and one that lost everything look alike: init on a store
    with no key under the prefix writes nothing and exits 1 unless --force;
    so does init where INFO is refused (a restart could not be told). A
    store with claim records and no epoch (the upgrade) gets epoch 0."""
    store = redis()
    init = ("store", "init", "--store", store.url())
    assert redis_command(store, "FLUSHALL") == "OK"
    p = mgctl(*init)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "the store holds no claim records: a new store and one that lost everything look " \
        "alike; after a loss do not init" in p.stderr and "--force" in p.stderr, p.stderr
    assert redis_command(store, "DBSIZE") == "0"  # nothing written
    p = mgctl(*init, "--force")
    assert p.returncode == 0 and "epoch 0 written" in p.stdout, (p.stdout, p.stderr)
    assert re.fullmatch(r"0 [0-9a-f]{40} 0", redis_command(store, "GET", "mg:epoch"))
    # claim records from before the upgrade, no epoch: init writes epoch 0
    assert redis_command(store, "DEL", "mg:epoch") == "1"
    assert redis_command(store, "SET", "mg:use:k2026:some-id:1", "127.0.0.1") == "OK"
    p = mgctl(*init)
    assert p.returncode == 0 and "epoch 0 written" in p.stdout, (p.stdout, p.stderr)
    assert redis_command(store, "GET", "mg:epoch").startswith("0 ")
    # another prefix's keys are not this store's records
    p = mgctl("store", "init", "--store", store.url(options="timeout=2s&prefix=other:"))
    assert p.returncode == 1 and "holds no claim records" in p.stderr, p.stderr
    assert redis_command(store, "EXISTS", "other:epoch") == "0"

    # INFO refused (renamed away): init cannot tell a restart, so exit 1
    # and nothing written, unless --force
    noinfo = redis(args=("--rename-command", "INFO", ""))
    assert redis_command(noinfo, "SET", "mg:use:k2026:some-id:1", "127.0.0.1") == "OK"
    assert redis_command(noinfo, "DEL", "mg:epoch") in ("0", "1")
    init = ("store", "init", "--store", noinfo.url())
    p = mgctl(*init)
    assert p.returncode == 1 and "INFO refused" in p.stderr, (p.returncode, p.stdout, p.stderr)
    assert redis_command(noinfo, "EXISTS", "mg:epoch") == "0"
    p = mgctl(*init, "--force")
    assert p.returncode == 0 and "INFO refused" in p.stdout, (p.stdout, p.stderr)
    assert redis_command(noinfo, "GET", "mg:epoch") == "0 - 0"


# a replica's full resync at once, not after Redis's default 5 s wait for more replicas
QUICK_SYNC = ("--repl-diskless-sync-delay", "0")


def wait_for(what, cond, timeout=10):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)


def test_a_replica_promoted_and_restarted_after_its_durable_primary_died_starts_a_new_epoch(
        redis, apache_factory, mgctl):
    """A primary with appendonly yes + appendfsync always and a replica is
    not durable (connected_slaves:1: what it acknowledged and had not
    replicated is lost in a failover), so the record says so; the primary
    dies, the replica is promoted (REPLICAOF NO ONE) and restarted before
    any claim (second_repl_offset -1 again: it reads as durable itself), on
    the primary's port: another process after a primary that was not
    durable is a new epoch, and a used link is refused."""
    aof = ("--appendonly", "yes", "--appendfsync", "always", *QUICK_SYNC)
    primary = redis(args=aof)
    replica = redis(args=aof)  # started alone (init writes on it), then made a replica
    node = make_node(apache_factory, "restart-replica", primary.url(), policy=BOUNDED)
    try:
        c = Cluster("redis", primary, [node], mgctl)
        # a claim before the replica: durable, on a connection the module keeps
        assert http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.33.9")[0] == 200
        assert redis_command(primary, "GET", "mg:epoch").endswith(" 1")
        assert redis_command(replica, "REPLICAOF", "127.0.0.1", str(primary.port)) == "OK"
        wait_for("the replica in sync", lambda: "master_link_status:up" in redis_command(
            replica, "INFO", "replication") and "connected_slaves:1" in redis_command(
            primary, "INFO", "replication"))
        p = mgctl("store", "check", "--store", primary.url())
        assert "a restart may lose records (appendonly yes, appendfsync always, " \
            "connected_slaves:1: a replica promoted" in p.stdout, p.stdout
        used = c.sign("/media/film.mp4", "--once")
        assert http_get(node.port, used, "127.0.33.1")[0] == 200
        # not durable now, though the connection was identified before the
        # replica came: the claim script looks again
        assert redis_command(primary, "GET", "mg:epoch").endswith(" 0")
        assert redis_command(primary, "WAIT", "1", "5000") == "1"
        mark = node.mark()
        primary.stop()
        assert redis_command(replica, "REPLICAOF", "NO", "ONE") == "OK"
        replica.stop()
        replica.port = primary.port
        replica.start(init_epoch=False)
        assert "connected_slaves:0" in redis_command(replica, "INFO", "replication")
        refused_in_a_new_epoch(node, used, "127.0.33.2", mark)
    finally:
        node.stop()


def refused_in_a_new_epoch(node, link, src, mark):
    """The link from `src` is refused (500) as possibly used before an
    epoch that one claim started since `mark` (MG00617 once, MG00618)."""
    st, h, _ = http_get(node.port, link, src)
    assert (st, reason(h)) == (500, "internal-error"), (st, h)
    log = node.error_log_since(mark)
    assert len(tagged(log, "MG00617")) == 1 and len(tagged(log, "MG00618")) == 1, log


def test_a_primary_demoted_resynced_and_promoted_again_starts_a_new_epoch(redis, apache_factory,
                                                                           mgctl):
    """A failover and back, without a restart: the primary's last claim is
    not replicated (its replica followed another primary for a moment), the
    replica is promoted, the old primary made its replica (a full resync:
    its own data replaced by the replica's, the claim gone) and promoted
    again, with no claim in between. Its run id never changed, and the
    epoch record it got back from the replica names it: the used link's
    slot was free, and the link granted again. A promotion is a new
    replication id, which the tenure record must name. While it is a
    replica, it is not asked at all."""
    primary = redis(args=QUICK_SYNC)
    replica = redis(args=QUICK_SYNC)
    node = make_node(apache_factory, "failback", primary.url(), policy=BOUNDED)
    try:
        c = Cluster("redis", primary, [node], mgctl)
        assert http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.34.9")[0] == 200
        assert redis_command(replica, "REPLICAOF", "127.0.0.1", str(primary.port)) == "OK"
        wait_for("the replica in sync", lambda: "master_link_status:up" in redis_command(
            replica, "INFO", "replication") and "connected_slaves:1" in redis_command(
            primary, "INFO", "replication"))
        assert redis_command(primary, "WAIT", "1", "5000") == "1"
        # the replica loses its primary (a partition), keeping its data
        assert redis_command(replica, "REPLICAOF", "127.0.0.1", "1") == "OK"
        wait_for("the primary without its replica",
                 lambda: "connected_slaves:0" in redis_command(primary, "INFO", "replication"))
        used = c.sign("/media/film.mp4", "--once")
        assert http_get(node.port, used, "127.0.34.1")[0] == 200  # never replicated
        # failover: the replica promoted, the old primary follows it ...
        assert redis_command(replica, "REPLICAOF", "NO", "ONE") == "OK"
        assert redis_command(primary, "REPLICAOF", "127.0.0.1", str(replica.port)) == "OK"
        wait_for("the old primary resynced from the new one", lambda: "master_link_status:up"
                 in redis_command(primary, "INFO", "replication"))
        # a replica answers from data that lags (a revocation may be missing): refused
        mark = node.mark()
        st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--id", "r1"), "127.0.34.3")
        assert (st, reason(h)) == (500, "internal-error"), (st, h)
        assert "a replica (its data lags its primary)" in node.error_log_since(mark)
        # and mgctl store check does not pass what Apache refuses (it did: exit 0)
        p = mgctl("store", "check", "--store", primary.url())
        assert p.returncode == 1 and "a replica (INFO role not master)" in p.stdout, \
            (p.returncode, p.stdout, p.stderr)
        p = mgctl("store", "check", "--format", "json", "--store", primary.url())
        assert p.returncode == 1 and json.loads(p.stdout)["epoch"]["replica"] is True, p.stdout
        p = mgctl("store", "init", "--store", primary.url())
        assert p.returncode != 0 and "replica" in p.stderr, (p.returncode, p.stderr)
        assert json.loads(mgctl("store", "check", "--format", "json", "--store", replica.url())
                          .stdout)["epoch"]["replica"] is False
        # ... and back: the old primary promoted again, same process
        assert redis_command(primary, "REPLICAOF", "NO", "ONE") == "OK"
        replica.stop()
        refused_in_a_new_epoch(node, used, "127.0.34.2", node.mark())
    finally:
        node.stop()


# ---- memcached: an epoch per server (docs/directives.md, "A store that loses its records") ----

@pytest.fixture
def memcached(start_store):
    return lambda: start_store("memcache")


def mc_server_of(link, n):
    """Which of n memcached servers holds the link's first slot (FNV-1a of
    the key modulo the list, as lib/mg_store_memcache.c)."""
    h = 2166136261
    for b in f"mg:use:k2026:{re.search(r'mg_id=([A-Za-z0-9_-]+)', link).group(1)}:1".encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % n


def test_a_memcached_restart_refuses_the_links_used_on_that_server_only(
        memcached, apache_factory, mgctl):
    """Two memcached servers; the one that holds a used link's slot
    restarts (memcached keeps nothing). That server's epoch record is gone
    with the slot: the next claim starts a new epoch there, and the link is
    refused (500, MG00617 naming that server, MG00618) rather than granted
    again. A link whose slot lives on the other server keeps its use."""
    stores = [memcached(), memcached()]
    url = f"memcache://{stores[0].addr},{stores[1].addr}?timeout=2s"
    init_epoch_with_mgctl(url)  # the epoch records are the list's
    node = make_node(apache_factory, "mc-restart", url, policy=BOUNDED)
    try:
        c = Cluster("memcache", stores[0], [node], mgctl)
        links = c.sign("/media/film.mp4", "--once", count=12)
        on = {mc_server_of(ln, 2): ln for ln in links}
        assert set(on) == {0, 1}
        for ln in on.values():
            assert http_get(node.port, ln, "127.0.36.1")[0] == 200
        mark = node.mark()
        stores[0].stop()
        stores[0].start(init_epoch=False)
        st, h, _ = http_get(node.port, on[0], "127.0.36.2")
        assert (st, reason(h)) == (500, "internal-error"), (st, h)
        st, h, _ = http_get(node.port, on[0], "127.0.36.1")  # the owner's record is lost too
        assert (st, reason(h)) == (500, "internal-error"), (st, h)
        # the other server lost nothing
        assert http_get(node.port, on[1], "127.0.36.1")[0] == 200
        st, h, _ = http_get(node.port, on[1], "127.0.36.2")
        assert (st, reason(h)) == (403, "token-used")
        log = node.error_log_since(mark)
        started = tagged(log, "MG00617")
        assert len(started) == 1, log
        assert f"server memcached {stores[0].addr} has no epoch record: it lost its records" \
            in started[0]
        assert len(tagged(log, "MG00618")) == 2, log
        p = mgctl("store", "check", "--store", url)
        assert "a restart may lose records (memcached keeps nothing across a restart)" \
            in p.stdout, p.stdout
        # a link signed after the epoch: the race below
    finally:
        node.stop()


def test_a_changed_memcached_list_refuses_the_links_used_before(
        memcached, apache_factory, mgctl):
    """A slot's server is its key's hash modulo the list: a server added
    (or removed, or moved) sends a used link's slot key to a server that
    never held it. Its epoch record is the list's (PREFIX epoch:LIST:I), so
    with the new list no server has one: a new epoch, and the link is
    refused (500) rather than granted again by the free slot there."""
    a, b, cc = memcached(), memcached(), memcached()
    url2 = f"memcache://{a.addr},{b.addr}?timeout=2s"
    url3 = f"memcache://{a.addr},{b.addr},{cc.addr}?timeout=2s"
    init_epoch_with_mgctl(url2)
    nodes = [make_node(apache_factory, "mc-list-2", url2, policy=BOUNDED)]
    try:
        c = Cluster("memcache", a, nodes, mgctl)
        # on A with [A,B], on B (whose epoch is 0, and no slot) with [A,B,C]
        used = next(ln for ln in c.sign("/media/film.mp4", "--once", count=40)
                    if mc_server_of(ln, 2) == 0 and mc_server_of(ln, 3) == 1)
        assert http_get(nodes[0].port, used, "127.0.39.1")[0] == 200
        st, h, _ = http_get(nodes[0].port, used, "127.0.39.2")
        assert (st, reason(h)) == (403, "token-used")
        nodes.append(make_node(apache_factory, "mc-list-3", url3, policy=BOUNDED))
        st, h, _ = http_get(nodes[1].port, used, "127.0.39.2")
        assert (st, reason(h)) == (500, "internal-error"), (st, h)
        log = nodes[1].error_log()
        started = tagged(log, "MG00617")
        # B's (the slot's) or, first, that of the server of the revocation key
        assert len(started) == 1 and re.search(
            rf"server memcached ({a.addr}|{b.addr}|{cc.addr}) has no epoch record", started[0]), log
        assert b.proc.poll() is None  # nothing restarted: the list changed
        assert mc_epoch_key([a.addr, b.addr, cc.addr], 1) != mc_epoch_key([a.addr, b.addr], 1)
    finally:
        for n in nodes:
            n.stop()


def test_three_servers_racing_over_a_memcached_restart_grant_a_link_once(
        memcached, apache_factory, mgctl):
    """30 addresses over 3 Apache servers, released together at a barrier:
    one winner for a one-time link; memcached restarts; the same link raced
    again by 30 others (and its owner): no winner at all, one epoch started
    (MG00617 once over the three servers); a link signed after it: one
    winner."""
    store = memcached()
    nodes = []
    racers = Racers(30)
    try:
        for i in range(3):
            nodes.append(make_node(apache_factory, f"mc-race-{i}", store.url(), policy=BOUNDED))
        c = Cluster("memcache", store, nodes, mgctl)
        link = c.sign("/media/film.mp4", "--once")
        res = racers.round([(nodes[i % 3].port, link, source_address(i), {})
                            for i in range(30)])
        assert sorted(st for st, _, _ in res) == [200] + [403] * 29
        winner = source_address([st for st, _, _ in res].index(200))
        marks = [n.mark() for n in nodes]
        store.stop()
        store.start(init_epoch=False)
        res = racers.round([(nodes[i % 3].port, link, winner if i == 0 else source_address(30 + i),
                             {}) for i in range(30)])
        assert [st for st, _, _ in res].count(200) == 0, "granted again after the restart"
        assert [(st, reason(h)) for st, h, _ in res] == [(500, "internal-error")] * 30
        started = tagged_since(nodes, marks, "MG00617")
        assert len(started) == 1, started
        assert len(tagged_since(nodes, marks, "MG00618")) == 30
        one_winner_after(epoch_of(started[0]), c, racers, 60)
    finally:
        stop_all(racers, nodes)


def test_without_max_ttl_a_memcached_slot_server_restart_serves_a_link_signed_after_it(
        memcached, apache_factory, mgctl):
    """No tokens.max_ttl: a link could have been revoked at any time (its
    revocation key's server is held to that), but a one-time link with
    mg_nbf (mgctl sign --once) could only have been used from then: after a
    restart of its slot's server (not its revocation key's), one signed
    after the new epoch works once, and the one used before is refused."""
    stores = [memcached(), memcached(), memcached()]
    url = "memcache://" + ",".join(s.addr for s in stores) + "?timeout=2s"
    init_epoch_with_mgctl(url)
    unbounded = POLICY.replace("clock_skew: 30s", "clock_skew: 1s")
    assert unbounded != POLICY and "max_ttl" not in unbounded
    node = make_node(apache_factory, "mc-nbf", url, policy=unbounded)

    def slot_on_0_rev_elsewhere(links):
        return [ln for ln in links if mc_server_of(ln, 3) == 0 and fnv_server(
            f"mg:rev:{re.search(r'mg_id=([^&]+)', ln).group(1)}", 3) != 0]
    try:
        c = Cluster("memcache", stores[0], [node], mgctl)
        used = slot_on_0_rev_elsewhere(c.sign("/media/film.mp4", "--once", count=40))[0]
        assert http_get(node.port, used, "127.0.40.1")[0] == 200
        mark = node.mark()
        stores[0].stop()
        stores[0].start(init_epoch=False)
        st, h, _ = http_get(node.port, used, "127.0.40.2")
        assert (st, reason(h)) == (500, "internal-error"), (st, h)
        started = tagged(node.error_log_since(mark), "MG00617")
        assert len(started) == 1 and stores[0].addr in started[0], started
        wait_past(epoch_of(started[0]))
        fresh = slot_on_0_rev_elsewhere(c.sign("/media/film.mp4", "--once", count=40))[0]
        st, h, _ = http_get(node.port, fresh, "127.0.40.3")
        assert st == 200, (st, h, node.error_log_since(mark))
        st, h, _ = http_get(node.port, fresh, "127.0.40.4")
        assert (st, reason(h)) == (403, "token-used")
    finally:
        node.stop()


# ---- MediaGuardOnceCache shmcb: the epoch is the cache's creation ----

def test_a_full_stop_of_apache_refuses_the_links_used_on_its_shmcb_cache(apache_factory, mgctl):
    """An shmcb cache is kept across graceful restarts and emptied when
    Apache stops: its epoch is the second it was made (MG00620 at each
    start that makes one). A link used before a stop is refused after the
    start (500, MG00618) rather than granted again; a graceful restart
    keeps the cache, the epoch and the use; a link signed after the start
    works once (the one used before the stop)."""
    conf = CONF.replace("MediaGuardStore {url}",
                        "MediaGuardOnceCache shmcb:@ROOT@/logs/mg-once(512000)")
    node = make_node(apache_factory, "shmcb-stop", None, conf=conf, policy=BOUNDED,
                     extra_modules=["socache_shmcb"])
    try:
        started = tagged(node.error_log(), "MG00620")
        assert len(started) == 1 and "MediaGuardOnceCache shmcb:" in started[0] \
            and "is new (Apache started" in started[0], started
        c = Cluster("shmcb", None, [node], mgctl)
        wait_past(epoch_of(started[0]))
        used = c.sign("/media/film.mp4", "--once")
        assert http_get(node.port, used, "127.0.37.1")[0] == 200
        node.graceful()
        st, h, _ = http_get(node.port, used, "127.0.37.2")
        assert (st, reason(h)) == (403, "token-used")
        assert len(tagged(node.error_log(), "MG00620")) == 1
        mark = node.mark()
        node.stop()
        node.start()
        for src in ("127.0.37.2", "127.0.37.1"):
            st, h, _ = http_get(node.port, used, src)
            assert (st, reason(h)) == (500, "internal-error"), (src, st, h)
        log = node.error_log_since(mark)
        assert len(tagged(log, "MG00620")) == 1 and len(tagged(log, "MG00618")) == 2, log
    finally:
        node.stop()


# ---- revocations lost with the store (mgctl revoke --store) ----

def fnv_server(key, n):
    h = 2166136261
    for b in key.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % n


@pytest.mark.parametrize("kind", ["redis", "memcache"])
def test_a_revocation_lost_with_the_store_does_not_unrevoke_the_link(
        kind, start_store, apache_factory, mgctl):
    """`mgctl revoke --store` puts the id in the store; a restart loses it.
    The lookup runs under the epoch: a link that could have been signed —
    hence revoked — before the epoch (mg_exp - max_ttl - clock_skew) is
    refused (500, MG00618 "could have been revoked"), never served again.
    On memcached the revocation's server is
    the one whose epoch counts (here not the slot's: a one-time link whose
    revocation is lost on one server and whose slot is free on another)."""
    # three memcached servers: over two, FNV-1a modulo 2 is the parity of
    # the key's bytes, and a revocation and a slot of one id always share it
    stores = [start_store(kind)] + ([start_store(kind), start_store(kind)]
                                    if kind == "memcache" else [])
    url = stores[0].url() if kind == "redis" else \
        "memcache://" + ",".join(s.addr for s in stores) + "?timeout=2s"
    if kind == "memcache":
        init_epoch_with_mgctl(url)
    node = make_node(apache_factory, f"rev-lost-{kind}", url, policy=BOUNDED)
    n = len(stores)
    try:
        c = Cluster(kind, stores[0], [node], mgctl)
        rid = next(f"gone-{i}" for i in range(100) if fnv_server(f"mg:rev:gone-{i}", n) == 0)
        revoked = c.sign("/media/film.mp4", "--id", rid)
        once = next(ln for ln in c.sign("/media/film.mp4", "--once", count=40)
                    if fnv_server(f"mg:rev:{re.search(r'mg_id=([^&]+)', ln).group(1)}", n) == 0
                    and (n == 1 or mc_server_of(ln, n) != 0))
        oid = re.search(r"mg_id=([^&]+)", once).group(1)
        p = mgctl("revoke", "--store", url, rid, oid)
        assert p.returncode == 0, p.stderr
        for link in (revoked, once):
            st, h, _ = http_get(node.port, link, "127.0.38.1")
            assert (st, reason(h)) == (403, "token-revoked"), (link, st, h)
        mark = node.mark()
        stores[0].stop()
        stores[0].start(init_epoch=False)
        for link in (revoked, once):
            st, h, _ = http_get(node.port, link, "127.0.38.1")
            assert (st, reason(h)) == (500, "internal-error"), (link, st, h)
        log = node.error_log_since(mark)
        assert len(tagged(log, "MG00617")) == 1, log
        lost = tagged(log, "MG00618")
        assert len(lost) == 2 and f"token {rid} could have been revoked before" in lost[0], lost
        # a link signed after the epoch passes the same check: the first
        # test of this file (revocation=on there too)
    finally:
        node.stop()


def test_a_stopped_memcached_refuses_the_links_whose_slot_it_holds_and_no_other_server_grants_them(
        memcached, apache_factory, mgctl):
    """Three memcached servers, two Apache servers. apr_memcache moves a
    dead server's keys to the next live one, where a used link's slot would
    be free; here a key belongs to one server. The server holding a used
    one-time link's slot stops answering (SIGSTOP: the timeout, not a
    refused connection) while 10 addresses race the link over both Apache
    servers: every one is refused (500), none granted by another server; it
    answers again (SIGCONT): still used (403), its owner still served. Its
    revocation key lives on another server, so only the slot is at stake.
    A link signed while it is stopped (past any epoch another server could
    have started for it by then) is refused as long as it is stopped and
    owned by one address after: a slot moved to another server and back
    would have been granted there and then again."""
    stores = [memcached(), memcached(), memcached()]
    url = "memcache://" + ",".join(s.addr for s in stores) + "?timeout=300ms"
    init_epoch_with_mgctl(url)
    nodes = []
    racers = Racers(10)
    try:
        for i in range(2):
            nodes.append(make_node(apache_factory, f"mc-stop-{i}", url, policy=BOUNDED))
        c = Cluster("memcache", stores[0], nodes, mgctl)

        def on_stopped_server():
            return next(ln for ln in c.sign("/media/film.mp4", "--once", count=40)
                        if mc_server_of(ln, 3) == 0 and fnv_server(
                            "mg:rev:" + re.search(r"mg_id=([A-Za-z0-9_-]+)", ln).group(1), 3) != 0)

        def race(link, first):
            return [(st, reason(h)) for st, h, _ in racers.round(
                [(nodes[i % 2].port, link, source_address(first + i), {}) for i in range(10)])]

        link = on_stopped_server()
        assert http_get(nodes[0].port, link, "127.0.41.1")[0] == 200
        os.kill(stores[0].proc.pid, signal.SIGSTOP)
        try:
            assert race(link, 100) == [(500, "internal-error")] * 10
            wait_past(time.time())
            fresh = on_stopped_server()
            assert race(fresh, 200) == [(500, "internal-error")] * 10
        finally:
            os.kill(stores[0].proc.pid, signal.SIGCONT)
        # its owner is still served, on both Apache servers; each request is
        # alone, so it is the one that asks the woken server again: a server
        # that timed out is asked by one request at a time, the others
        # refused without waiting until it answers (docs/directives.md, "A
        # store that does not answer") — a race right after the wake-up
        # would be refused but for one
        for node in nodes:
            assert http_get(node.port, link, "127.0.41.1")[0] == 200
        assert race(link, 300) == [(403, "token-used")] * 10
        # the adds sent while it was stopped wait in its socket: woken, it
        # stores the first, for an address that was refused (500) — the use
        # is that address's (docs/directives.md, "Guarantees"), and no other
        assert race(fresh, 400) == [(403, "token-used")] * 10
        owners = [http_get(nodes[i % 2].port, fresh, source_address(200 + i))[0]
                  for i in range(10)]
        assert sorted(owners) == [200] + [403] * 9, owners
    finally:
        stop_all(racers, nodes)
