"""Real claim stores for the integration tests: a private redis-server and
memcached on free loopback ports (stoppable and restartable on the same
port, for fault tests), a small TCP proxy that can pass, delay, drop or
answer garbage (iptables is not available), and barrier-released raw HTTP
clients, each from its own loopback source address (the whole 127/8 is
loopback on Linux; the module counts uses per r->useragent_ip, which is the
TCP peer here: no mod_remoteip in these tests)."""

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import MGCTL, PORT_ATTEMPTS, PortInUse, check_port_in_use, free_port, listens


def _wait_port(port, proc, what, timeout=10, output=None):
    """Until it listens on port. output: the file its output goes to, read
    when it exits (PortInUse when its address was taken)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            text = output.read_text(errors="replace") if output else ""
            check_port_in_use(text, what)
            pytest.fail(f"{what} exited with {proc.returncode}:\n{text}")
        if listens(proc.pid, port):
            return
        time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def _wait_redis_loaded(port, proc, timeout=10):
    """Until redis answers PING with PONG: it listens before it has loaded its
    AOF or RDB, and answers -LOADING until then (a claim in that window is a
    store error, 500, which is right but not what a test after a restart
    means to look at)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"redis exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                if c.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"redis on 127.0.0.1:{port} did not finish loading within {timeout} s")


class StoreServer:
    """redis-server or memcached, started on a fixed free port. memcached
    runs with -M (no evictions: the module refuses one-time links on a store
    that may drop their records) unless `evictions`; `args` go last on the
    command line (e.g. "--maxmemory", "2mb" for redis, "-m", "2")."""

    def __init__(self, kind, workdir, args=(), evictions=False):
        self.kind = kind
        self.workdir = workdir
        self.args = list(args)
        self.evictions = evictions
        self._port = free_port()
        self._port_given = False  # read from outside: start() keeps it then
        self.proc = None
        exe = shutil.which("redis-server" if kind == "redis" else "memcached")
        if exe is None:
            pytest.skip(f"{kind} server is not installed (scripts/quickstart installs it)")
        self.exe = exe

    @property
    def port(self):
        """Its port: a restart keeps it. Once read from outside (or the
        server started), a start() that finds it taken fails (PortInUse)
        instead of moving to another one."""
        self._port_given = True
        return self._port

    @port.setter
    def port(self, port):
        """A port chosen by the test (another store's, to take its place):
        kept as it is."""
        self._port = port
        self._port_given = True

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def url(self, port=None, options="timeout=2s"):
        # generous: the CI machine is shared and loaded, and a store that
        # answers late is refused (500), which a race round counts as wrong
        port = port or self.port
        base = f"redis://127.0.0.1:{port}/0" if self.kind == "redis" else \
            f"memcache://127.0.0.1:{port}"
        return base + (f"?{options}" if options else "")

    def start(self, init_epoch=None):
        """Start it. It gets `mgctl store init` (epoch 0: "its records
        are complete", the upgrade step of docs/directives.md) at its first
        start, unless init_epoch is False; a restart gets none unless
        init_epoch is True: the module then sees what a real restart
        without persistence looks like."""
        first = not getattr(self, "_started_once", False)
        self._started_once = True
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._start()
                break
            except PortInUse:
                # another process took the port since free_port(): a new
                # one, unless someone already has this one
                if self._port_given or attempt == PORT_ATTEMPTS - 1:
                    raise
                self._port = free_port()
        self._port_given = True
        if init_epoch or (init_epoch is None and first):
            init_epoch_with_mgctl(self.url())
        return self

    def _start(self):
        if self.kind == "redis":
            cmd = [self.exe, "--bind", "127.0.0.1", "--port", str(self._port), "--save", "",
                   "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"]
        else:
            cmd = [self.exe, "-l", "127.0.0.1", "-p", str(self._port), "-U", "0", "-m", "32",
                   "-c", "1024"] + ([] if self.evictions else ["-M"])
            if os.geteuid() == 0:
                cmd += ["-u", "nobody"]
        cmd += self.args
        out = Path(self.workdir) / f"{self.kind}-{self._port}.out"
        with open(out, "w") as f:
            self.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _wait_port(self._port, self.proc, self.kind, output=out)
        if self.kind == "redis":
            _wait_redis_loaded(self._port, self.proc)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


def _resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def _replies(sock, n, sep=b"\r\n"):
    """Read until `n` one-line replies have arrived (our fill commands
    answer with one line each)."""
    got = b""
    while got.count(sep) < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            pytest.fail("the store closed the connection while being filled")
        got += chunk
    return got.split(sep)[:n]


def fill_store(store, watch=None, max_bytes=64 << 20):
    """Write records into `store` until it is full or has dropped the key
    `watch`: "evicted" (`watch` is gone), "full" (the store refused a write
    for lack of memory: redis OOM, memcached SERVER_ERROR); fails the test
    when neither happens within `max_bytes`. Every record expires in 10
    minutes, so volatile-* policies may evict them too. memcached gets
    records of a slot's own size (they compete for its slab class), redis
    1 KB values in pipelined batches, then — past the first OOM, which a
    big batch's query buffer alone can cause — one 100-byte value at a time
    until the data itself is over maxmemory; then maxmemory goes half a
    megabyte under the data, which no client's buffers can make up for."""
    s = socket.create_connection(("127.0.0.1", store.port), timeout=10)
    try:
        n, written, batch = 0, 0, 200
        while written < max_bytes:
            if store.kind == "redis":
                size = 1000 if batch > 1 else 100
                s.sendall(b"".join(_resp("SET", f"fill:{n + i}", b"x" * size, "EX", 600)
                                   for i in range(batch)))
                oom = any(r.startswith(b"-OOM") for r in _replies(s, batch))
                if oom and batch == 1:
                    # this connection's own buffers count against maxmemory
                    # too, and are freed when it closes: bring the limit
                    # half a megabyte under the data, so the store stays full
                    used = int(re.search(r"^used_memory:(\d+)",
                                         redis_command(store, "INFO", "memory"), re.M).group(1))
                    assert redis_command(store, "CONFIG", "SET", "maxmemory",
                                         used - (512 << 10)) == "OK"
                    return "full"
                if oom:
                    batch = 1
                elif watch is not None:
                    s.sendall(_resp("EXISTS", watch))
                    if _replies(s, 1)[0] == b":0":
                        return "evicted"
            else:
                size = 64
                # a slot record: key "mg:use:KID:ID:N", an address as value
                s.sendall(b"".join(b"add mg:fil:k2026:%022d:1 0 600 9\r\n127.0.9.9\r\n" % (n + i)
                                   for i in range(batch)))
                if any(r.startswith(b"SERVER_ERROR out of memory") for r in _replies(s, batch)):
                    return "full"
                if watch is not None:
                    s.sendall(b"me " + watch.encode() + b"\r\n")  # meta debug: no LRU bump
                    if _replies(s, 1)[0] == b"EN":
                        return "evicted"
            n += batch
            written += batch * size
        pytest.fail(f"{store.kind} neither dropped {watch} nor filled up after {written} bytes")
    finally:
        s.close()


def init_epoch_with_mgctl(url):
    """`mgctl store init --force --store URL`: what an admin runs before the
    first start of a version that keeps an epoch (docs/directives.md), on a
    new, empty store (without --force init refuses one: a new store and one
    that lost everything look alike)."""
    if MGCTL is None or not Path(MGCTL).exists():
        pytest.skip("mgctl not built (set MGCTL)")
    p = subprocess.run([str(MGCTL), "store", "init", "--force", "--store", url],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def mc_epoch_key(servers, i, prefix="mg:"):
    """The epoch record's key of the i-th memcached of `servers` ("host:port"
    each, in the MediaGuardStore order): FNV-1a 64 of the list, as
    lib/mg_store_memcache.c."""
    h = 14695981039346656037
    for b in "".join(f"{s}," for s in servers).encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{prefix}epoch:{h:016x}:{i}"


def memcached_set(port, key, value):
    """One memcached `set` on 127.0.0.1:port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(value), value.encode()))
        assert s.makefile("rb").readline() == b"STORED\r\n"
    finally:
        s.close()


def memcached_stats(port):
    """memcached's `stats` on 127.0.0.1:port: {name: value} (numbers as int)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"stats\r\n")
        got = b""
        while not got.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                pytest.fail("memcached closed the connection during stats")
            got += chunk
    finally:
        s.close()
    out = {}
    for line in got.decode().splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = int(parts[2]) if parts[2].isdigit() else parts[2]
    return out


def redis_command(store, *args):
    """One redis command: its reply as text (a simple, error or bulk string,
    an integer as its digits)."""
    s = socket.create_connection(("127.0.0.1", store.port), timeout=10)
    try:
        s.sendall(_resp(*args))
        f = s.makefile("rb")
        line = f.readline().rstrip(b"\r\n")
        if line[:1] == b"$":
            n = int(line[1:])
            return "" if n < 0 else f.read(n + 2)[:n].decode()
        return line[1:].decode()
    finally:
        s.close()


class Proxy:
    """TCP proxy on a free loopback port in front of `upstream_port`.
    mode: "pass" (forward), "delay" (hold every upstream answer `delay`
    seconds), "delay-once" (hold the next upstream answer `delay` seconds,
    then pass), "twice-once" (send the next upstream answer twice, in one
    write), "twice-later-once" (the next upstream answer, and again 0.2 s
    later while the others pass), "drop" (accept, read, never answer), "garbage" (answer
    every read with a line no store speaks)."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.delay = 4.0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        self.conns = []
        # what the clients sent, one count per read: a client that waits for
        # each answer before its next command (ours do) sends each in one
        self.requests = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _pump(self, src, dst, delayed):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not delayed:
                    self.requests += 1
                if delayed and self.mode == "delay":
                    time.sleep(self.delay)
                if delayed and self.mode == "delay-once":
                    self.mode = "pass"
                    time.sleep(self.delay)
                if delayed and self.mode == "twice-once":
                    self.mode = "pass"
                    data += data
                if delayed and self.mode == "twice-later-once":
                    self.mode = "pass"
                    threading.Timer(0.2, dst.sendall, [data]).start()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve(self, c):
        mode = self.mode
        if mode in ("drop", "garbage"):
            try:
                while True:
                    data = c.recv(65536)
                    if not data:
                        break
                    if mode == "garbage":
                        c.sendall(b"HELLO I AM NOT A STORE\r\n")
            except OSError:
                pass
            c.close()
            return
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            up.settimeout(None)
        except OSError:
            c.close()
            return
        self.conns.append(up)
        threading.Thread(target=self._pump, args=(c, up, False), daemon=True).start()
        self._pump(up, c, True)

    def reset_connections(self):
        """Close every connection, so that the next ones see the new mode."""
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns = []

    def stop(self):
        self.stopping = True
        self.reset_connections()
        self.lsock.close()


def source_address(i):
    """The i-th client address (i from 0): 127.0.0.2, 127.0.0.3, ..."""
    return f"127.0.{(i + 2) // 254}.{(i + 2) % 254 or 254}"


def http_get(port, target, src="127.0.0.1", headers=None, method="GET", timeout=15):
    """One request from source address `src`: (status, headers dict, body)."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    try:
        _send(s, target, headers, method)
        return _read(s)
    finally:
        s.close()


def _send(s, target, headers, method="GET"):
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    s.sendall(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              f"{extra}\r\n".encode())


def _read(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


class Racers:
    """`n` threads that each open a connection from their own source address
    to a server, wait together at a barrier with the connection open, then
    send their request bytes at the same instant and read the answer."""

    def __init__(self, n):
        self.n = n
        self.ready = threading.Barrier(n + 1)
        self.go = threading.Barrier(n)
        self.done = threading.Barrier(n + 1)
        self.tasks = [None] * n
        self.results = [None] * n
        self.closing = False
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, i):
        while True:
            self.ready.wait()
            if self.closing:
                return
            port, target, src, headers = self.tasks[i]
            s = None
            try:
                s = socket.socket()
                s.settimeout(20)
                s.bind((src, 0))
                s.connect(("127.0.0.1", port))
                self.go.wait()
                _send(s, target, headers)
                self.results[i] = _read(s)
            except Exception as e:  # reported by the round, never swallowed
                self.results[i] = e
                try:
                    self.go.abort()
                except Exception:
                    pass
            finally:
                if s is not None:
                    s.close()
            self.done.wait()

    def round(self, tasks):
        """tasks: n tuples (port, target, source address, headers) -> n results."""
        assert len(tasks) == self.n
        self.tasks = list(tasks)
        self.results = [None] * self.n
        self.ready.wait()
        self.done.wait()
        if self.go.broken:
            self.go.reset()
        for r in self.results:
            if isinstance(r, Exception):
                raise r
        return list(self.results)

    def close(self):
        self.closing = True
        self.ready.wait()
        for t in self.threads:
            t.join(timeout=5)
