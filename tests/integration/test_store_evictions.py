"""The "one use" of a one-time link against a store that may lose its
records (docs/directives.md, MediaGuardStore, "Guarantees"): a Redis whose
maxmemory-policy evicts, or a memcached without -M, drops a used link's
record when it fills up, and the link works again. The module asks the
store how it is configured (once per child, at its first store operation),
says so once per start in the error log, and refuses links limited in uses
on such a store (500 internal-error) unless the URL says evicting=warn;
`mgctl store check` asks the same for CI. A store that does not evict fails
closed when full: a new claim is refused (500), never granted.

Every test starts its own small redis-server or memcached on a free
loopback port (and stops it) and fills it for real."""

import json
import re
import socket

import pytest

from conftest import free_port
from storeharness import (StoreServer, fill_store, http_get, mc_epoch_key, memcached_set,
                          redis_command)
from test_store_cluster import CONF, Cluster, make_node, reason

# a store that evicts when full, small enough to fill in a fraction of a second
EVICTING = {
    "redis": dict(args=("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")),
    "memcache": dict(args=("-m", "2"), evictions=True),
}
# the same sizes, configured to refuse writes when full instead
KEEPING = {
    "redis": dict(args=("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")),
    "memcache": dict(args=("-m", "2")),
}
SETTING = {"redis": "maxmemory-policy allkeys-lru", "memcache": "evictions on"}
FIX = {"redis": "set maxmemory-policy noeviction", "memcache": "start memcached with -M"}


@pytest.fixture
def start_store(tmp_path):
    started = []

    def start(kind, args=(), evictions=False):
        d = tmp_path / f"{kind}-{len(started)}"
        d.mkdir()
        s = StoreServer(kind, d, args=args, evictions=evictions)
        started.append(s)
        return s.start()

    yield start
    for s in started:
        s.stop()


def token_id(link):
    return re.search(r"mg_id=([A-Za-z0-9_-]+)", link).group(1)


def slot_key(link):
    return f"mg:use:k2026:{token_id(link)}:1"


def tagged(log, tag):
    return [ln for ln in log.splitlines() if f"{tag}: " in ln]


@pytest.mark.parametrize("kind", ["redis", "memcache"])
def test_a_store_that_evicts_refuses_one_time_links_and_says_how_to_fix_it(
        kind, start_store, apache_factory, mgctl):
    store = start_store(kind, **EVICTING[kind])
    node = make_node(apache_factory, f"evict-refuse-{kind}", store.url())
    try:
        c = Cluster(kind, store, [node], mgctl)
        plain, with_id = c.sign("/media/film.mp4"), c.sign("/media/film.mp4", "--id", "kept")
        for i in range(12):
            link = c.sign("/media/film.mp4", *(("--once",) if i % 2 else ("--uses", "2")))
            st, h, _ = http_get(node.port, link, f"127.0.9.{i + 1}")
            assert (st, reason(h)) == (500, "internal-error"), i
            # the rest is served: a plain link, and an id (the store's
            # revocation list answers; only the use count cannot be kept)
            assert http_get(node.port, plain, f"127.0.9.{i + 1}")[0] == 200
            assert http_get(node.port, with_id, f"127.0.9.{i + 1}")[0] == 200
        log = node.error_log()
        said = tagged(log, "MG00612")
        assert len(said) == 1, said  # once per start, not per child or request
        assert "[media_guard:error]" in said[0]
        for words in (store.url(), SETTING[kind], FIX[kind], "links limited in uses are refused",
                      "?evicting=warn"):
            assert words in said[0], (words, said[0])
        # every refusal's decision line says why
        assert len([ln for ln in tagged(log, "MG00203") if "reason=internal-error" in ln
                    and "may drop live records when full" in ln]) == 12
        # a graceful restart is a new start: asked again by the new children, said once more
        node.graceful()
        st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.9.99")
        assert (st, reason(h)) == (500, "internal-error")
        assert len(tagged(node.error_log(), "MG00612")) == 2
    finally:
        node.stop()
    p = mgctl("store", "check", "--store", store.url())
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert SETTING[kind] in p.stdout and FIX[kind] in p.stdout
    assert "may drop live records when full" in p.stdout
    p = mgctl("store", "check", "--store", store.url(), "--format", "json")
    assert p.returncode == 1, (p.stdout, p.stderr)
    out = json.loads(p.stdout)
    assert out["keeps"] is False and len(out["servers"]) == 1
    assert out["servers"][0]["retention"] == "evicts"
    assert SETTING[kind] in out["servers"][0]["setting"] and FIX[kind] in out["servers"][0]["fix"]
    # a revocation is a record too: written, with a warning
    p = mgctl("revoke", "--store", store.url(), "leaked")
    assert p.returncode == 0 and p.stdout == "leaked revoked\n", (p.stdout, p.stderr)
    assert "warning:" in p.stderr and "a revoked id is valid again" in p.stderr
    assert SETTING[kind] in p.stderr and FIX[kind] in p.stderr


@pytest.mark.parametrize("kind", ["redis", "memcache"])
def test_evicting_warn_serves_and_a_used_link_comes_back_when_the_store_drops_it(
        kind, start_store, apache_factory, mgctl):
    """What every evicting store did before this check, and still does
    where the admin accepts it (evicting=warn): used, filled, used again.
    lost_records=warn too: filling an allkeys-lru Redis may evict the epoch
    record as well, and a new epoch would refuse the link instead."""
    store = start_store(kind, **EVICTING[kind])
    node = make_node(apache_factory, f"evict-warn-{kind}",
                     store.url(options="timeout=2s&evicting=warn&lost_records=warn"))
    try:
        c = Cluster(kind, store, [node], mgctl)
        link = c.sign("/media/film.mp4", "--once")
        assert http_get(node.port, link, "127.0.10.1")[0] == 200
        st, h, _ = http_get(node.port, link, "127.0.10.2")
        assert (st, reason(h)) == (403, "token-used")
        assert fill_store(store, watch=slot_key(link)) == "evicted"
        # the one-time link works for a second address: the risk the
        # warning names
        assert http_get(node.port, link, "127.0.10.2")[0] == 200
        said = tagged(node.error_log(), "MG00615")
        assert len(said) == 1 and "[media_guard:warn]" in said[0], said
        assert SETTING[kind] in said[0] and FIX[kind] in said[0] and "evicting=warn" in said[0]
    finally:
        node.stop()


@pytest.mark.parametrize("kind", ["redis", "memcache"])
def test_a_full_store_that_does_not_evict_refuses_new_claims_and_keeps_serving_owners(
        kind, start_store, apache_factory, mgctl):
    store = start_store(kind, **KEEPING[kind])
    p = mgctl("store", "check", "--store", store.url())
    assert p.returncode == 0 and "keeps records until they expire" in p.stdout, (p.stdout, p.stderr)
    p = mgctl("store", "check", "--store", store.url(), "-f", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["keeps"] is True, p.stdout
    assert json.loads(p.stdout)["servers"][0]["fix"] is None
    p = mgctl("revoke", "--store", store.url(), "leaked")
    assert (p.returncode, p.stderr) == (0, ""), p.stderr  # nothing to warn about
    node = make_node(apache_factory, f"full-{kind}", store.url())
    try:
        c = Cluster(kind, store, [node], mgctl)
        plain = c.sign("/media/film.mp4")
        owned = c.sign("/media/film.mp4", "--once")
        assert http_get(node.port, owned, "127.0.11.1", {"Range": "bytes=0-9"})[0] == 206
        assert fill_store(store, watch=slot_key(owned)) == "full"
        mark = node.mark()
        for i in range(3):
            st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.11.1")
            assert (st, reason(h)) == (500, "internal-error"), i  # never a grant
        # the address that owns a use keeps seeking; the others are told
        # the link is used, as before the store filled up
        assert http_get(node.port, owned, "127.0.11.1", {"Range": "bytes=10-19"})[0] == 206
        st, h, _ = http_get(node.port, owned, "127.0.11.2")
        assert (st, reason(h)) == (403, "token-used")
        assert http_get(node.port, plain, "127.0.11.3")[0] == 200
        log = node.error_log_since(mark)
        full = "OOM command not allowed" if kind == "redis" else "is full (SERVER_ERROR out of memory"
        assert full in log and "are refused until it answers again" in log, log
        assert tagged(node.error_log(), "MG00614") and not tagged(node.error_log(), "MG00612")
    finally:
        node.stop()


def test_the_store_is_asked_once_per_child_not_per_request(start_store, apache_factory, mgctl):
    store = start_store("redis")
    node = make_node(apache_factory, "asked-once", store.url())
    try:
        c = Cluster("redis", store, [node], mgctl)
        for i in range(20):
            assert http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.12.1")[0] == 200
    finally:
        node.stop()
    stats = redis_command(store, "INFO", "commandstats")
    calls = int(re.search(r"cmdstat_info:calls=(\d+)", stats).group(1))
    # ServerLimit 4: per child one INFO memory (eviction) and one INFO per
    # connection (the Redis process behind it, for the epoch: one connection
    # here, the requests come one at a time); and the claim script's own
    # INFO replication, one per claim (a failover or a demotion since, which
    # a connection outlives: mg_store_redis.c)
    assert 20 + 1 <= calls <= 20 + 8, stats


def test_a_redis_that_will_not_say_is_warned_about_and_one_whose_info_is_renamed_is_asked_by_config(
        start_store, apache_factory, mgctl):
    info_renamed = start_store("redis", args=("--rename-command", "INFO", "",
                                              "--maxmemory-policy", "volatile-lru"))
    p = mgctl("store", "check", "--store", info_renamed.url())
    assert p.returncode == 1 and "maxmemory-policy volatile-lru" in p.stdout, (p.stdout, p.stderr)
    silent = start_store("redis", args=("--rename-command", "INFO", "", "--rename-command",
                                        "CONFIG", ""))
    p = mgctl("store", "check", "--store", silent.url())
    assert p.returncode == 1 and "cannot tell" in p.stdout, (p.stdout, p.stderr)
    # nor whether it restarted (INFO gives the run id): refused, unless the
    # admin accepts that risk too (test_store_restarts.py)
    node = make_node(apache_factory, "unsaid-refuse", silent.url())
    try:
        c = Cluster("redis", silent, [node], mgctl)
        st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.13.1")
        assert (st, reason(h)) == (500, "internal-error")
        assert "answered INFO with: ERR unknown command" in node.error_log()
        assert "accept the risk with ?lost_records=warn" in node.error_log()
    finally:
        node.stop()
    node = make_node(apache_factory, "unsaid",
                     silent.url(options="timeout=2s&lost_records=warn"))
    try:
        c = Cluster("redis", silent, [node], mgctl)
        # not known to evict: served, with a warning
        assert http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.13.1")[0] == 200
        said = tagged(node.error_log(), "MG00613")
        assert len(said) == 1 and "cannot tell whether redis" in said[0], said
    finally:
        node.stop()


def test_mgctl_store_check_usage(mgctl):
    p = mgctl("store", "--help")
    assert p.returncode == 0 and p.stdout.startswith("Usage: mgctl store check --store URL")
    for args, msg in [((), "check or init is required"), (("list",), "unknown action 'list'"),
                      (("check", "--force"), "--force goes with init"),
                      (("init", "--store", "redis://127.0.0.1:1/0?lost_records=maybe"),
                       "lost_records= must be refuse or warn"),
                      (("check",), "--store URL is required"),
                      (("check", "--store", "redis://127.0.0.1:1/0", "--format", "github"),
                       "--format is text or json"),
                      (("check", "--store", "redis://127.0.0.1:1/0?evicting=maybe"),
                       "evicting= must be refuse or warn"),
                      (("check", "--store", "memcache://127.0.0.1:1?timeout=200ms"),
                       "cannot connect to memcached 127.0.0.1:1")]:
        p = mgctl("store", *args)
        assert p.returncode == 2 and msg in p.stderr, (args, p.returncode, p.stderr)


def _held_redis_connection(store):
    """A client connection that Redis has accepted and counts (PING
    answered). The harness's port probe may still count until Redis has seen
    it close: try again until there is room."""
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", store.port), timeout=10)
        s.sendall(b"PING\r\n")
        if s.recv(64) == b"+PONG\r\n":
            return s
        s.close()
    pytest.fail("redis never had room for one client")


def test_a_redis_that_cannot_answer_now_is_asked_again_not_taken_for_would_not_say(
        start_store, apache_factory, mgctl):
    """A Redis at maxclients answers every new connection with
    '-ERR max number of clients reached': no answer about eviction. It was
    read as "would not say" and kept for the child's life, so that child
    then served one-time links on a store that evicts."""
    store = start_store("redis", args=EVICTING["redis"]["args"] + ("--maxclients", "1"))
    held = _held_redis_connection(store)
    try:
        p = mgctl("store", "check", "--store", store.url())
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        assert "max number of clients reached" in p.stderr and "cannot tell" not in p.stdout
        node = make_node(apache_factory, "evict-maxclients", store.url())
        try:
            c = Cluster("redis", store, [node], mgctl)
            st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.14.1")
            assert (st, reason(h)) == (500, "internal-error")
            log = node.error_log()
            assert "max number of clients reached" in log, log
            assert not tagged(log, "MG00613")  # not "cannot tell"
            # room again (on the held connection: no race with its close)
            held.sendall(b"CONFIG SET maxclients 100\r\n")
            assert held.recv(64) == b"+OK\r\n"
            # asked again: the store evicts, so links limited in uses stay refused
            for i in range(3):
                st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--once"),
                                    f"127.0.14.{i + 2}")
                assert (st, reason(h)) == (500, "internal-error"), i
            said = tagged(node.error_log(), "MG00612")
            assert len(said) == 1 and SETTING["redis"] in said[0], said
            assert not tagged(node.error_log(), "MG00613")
        finally:
            node.stop()
    finally:
        held.close()


def test_each_distinct_answer_is_said_once_per_start(start_store, apache_factory, mgctl):
    """The first child finds a store that keeps (MG00614); an admin then
    turns eviction on, and the next child finds it evicting: said too."""
    store = start_store("redis", **KEEPING["redis"])
    # a new child for every connection: each asks the store afresh
    node = make_node(apache_factory, "said-per-answer", store.url(),
                     CONF.format(url=store.url()) + "MaxConnectionsPerChild 1\n")
    try:
        c = Cluster("redis", store, [node], mgctl)
        assert http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.15.1")[0] == 200
        assert len(tagged(node.error_log(), "MG00614")) == 1
        assert redis_command(store, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == "OK"
        for i in range(3):
            st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--once"),
                                f"127.0.15.{i + 2}")
            assert (st, reason(h)) == (500, "internal-error"), i
        log = node.error_log()
        assert len(tagged(log, "MG00614")) == 1, tagged(log, "MG00614")
        said = tagged(log, "MG00612")
        assert len(said) == 1 and SETTING["redis"] in said[0], said
    finally:
        node.stop()


def test_an_id_without_uses_is_served_while_one_memcached_of_several_is_down(
        start_store, apache_factory, mgctl):
    """Whether the store evicts matters only to links limited in uses: a
    revocation lookup is not refused because one server cannot be asked."""
    up = start_store("memcache")
    down_port = free_port()  # nothing listens there
    url = f"memcache://127.0.0.1:{up.port},127.0.0.1:{down_port}?timeout=2s"
    # epoch 0 on the live one for this list (mgctl store init asks both)
    memcached_set(up.port, mc_epoch_key([up.addr, f"127.0.0.1:{down_port}"], 0), "0")
    node = make_node(apache_factory, "rev-one-down", url)
    try:
        c = Cluster("memcache", up, [node], mgctl)
        ids = [f"rev{i}" for i in range(8)]
        got = [http_get(node.port, c.sign("/media/film.mp4", "--id", i), "127.0.16.1")[0]
               for i in ids]
        # each id's revocation entry lives on one server: those on the
        # live one are served, those on the dead one fail closed
        assert 200 in got and set(got) <= {200, 500}, got
    finally:
        node.stop()


def test_the_answer_goes_to_the_main_servers_error_log_not_the_first_vhosts(
        start_store, apache_factory, mgctl):
    """Whether the store keeps records is a server-wide condition: said in
    the main server's ErrorLog, whichever virtual host asked first."""
    store = start_store("redis", **KEEPING["redis"])
    conf = (f"MediaGuardStore {store.url()}\n"
            "MediaGuardPolicy cl @POLICIES@/cl.yaml\n"
            "MediaGuardReasonHeader On\n"
            "<VirtualHost 127.0.0.1:@PORT@>\n"
            "    ServerName vhost.test\n"
            "    ErrorLog \"@ROOT@/logs/vhost-error.log\"\n"
            "    <Location \"/media/\">\n"
            "        Require media-guard cl\n"
            "    </Location>\n"
            "</VirtualHost>\n")
    node = make_node(apache_factory, "said-main-log", store.url(), conf)
    try:
        c = Cluster("redis", store, [node], mgctl)
        assert http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.17.1")[0] == 200
        assert http_get(node.port, "/media/film.mp4", "127.0.17.2")[0] == 403
        vhost_log = (node.root / "logs" / "vhost-error.log").read_text(errors="replace")
        assert "MG00203" in vhost_log, vhost_log  # a request's own lines are the vhost's
        assert not tagged(vhost_log, "MG00614"), vhost_log
        assert len(tagged(node.error_log(), "MG00614")) == 1, node.error_log()
    finally:
        node.stop()


def test_an_incident_ends_when_the_store_answers_the_retention_question(tmp_path, apache_factory,
                                                                        mgctl):
    """A store that was down and comes back evicting is asked how it keeps its
    records before any claim: under evicting=refuse no claim follows, so that
    answer is the only sign it is back. It ends the incident (MG00608,
    mediaguard_store_up 1) as a claim would."""
    store = StoreServer("redis", tmp_path, args=EVICTING["redis"]["args"])  # not started yet
    node = make_node(apache_factory, "evict-incident", store.url())
    try:
        c = Cluster("redis", store, [node], mgctl)
        st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--once"), "127.0.13.1")
        assert (st, reason(h)) == (500, "internal-error")
        assert len(tagged(node.error_log(), "MG00607")) == 1
        assert "mediaguard_store_up 0\n" in http_get(node.port, "/metrics")[2].decode()
        store.start()
        for i in range(3):
            st, h, _ = http_get(node.port, c.sign("/media/film.mp4", "--once"), f"127.0.13.{2 + i}")
            assert (st, reason(h)) == (500, "internal-error"), i  # evicts: refused, as before
        log = node.error_log()
        assert len(tagged(log, "MG00612")) == 1
        back = tagged(log, "MG00608")
        assert len(back) == 1 and "answers again" in back[0], back
        metrics = http_get(node.port, "/metrics")[2].decode()
        assert "mediaguard_store_up 1\n" in metrics
        assert "mediaguard_store_incidents_total 1\n" in metrics
    finally:
        node.stop()
        store.stop()
