"""Integration test harness: throwaway Apache httpd 2.4 instances with mod_media_guard.

Every test file uses the session-scoped ``apache_factory`` fixture:

    srv = apache_factory("photos", CONF, policies={"p.yaml": POLICY},
                         files={"photos/a.jpg": JPEG})
    r = srv.get("/photos/a.jpg")

See tests/integration/README.md for the whole API. The harness starts the
Debian apache2 binary in the foreground (event MPM) on a free 127.0.0.1 port,
with its own ServerRoot, logs and pid file in a temporary directory, stops
every server at the end of the session and prints a server's error log when a
test that used it fails.
"""

import atexit
import base64
import contextlib
import fcntl
import hashlib
import http.client
import http.server
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
SRCDIR = HERE.parent.parent
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"
MODDIR = Path("/usr/lib/apache2/modules")

# Modules every instance loads (log_config, unixd, so are compiled in).
BASE_MODULES = [
    "mpm_event", "authz_core", "authz_host", "authz_user", "authn_core",
    "authn_file", "auth_basic", "mime", "setenvif", "env", "alias", "dir",
]


def _find_module():
    env = os.environ.get("MG_MODULE")
    if env:
        return Path(env)
    found = sorted(SRCDIR.glob("_build*/mod_media_guard/.libs/mod_media_guard.so"),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


def _find_mgctl():
    env = os.environ.get("MGCTL")
    if env:
        return Path(env)
    found = sorted(SRCDIR.glob("_build*/mgctl/mgctl"),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


MODULE = _find_module()
MGCTL = _find_mgctl()


def free_port():
    """A loopback port free now. Nothing holds it until the server that gets
    it binds it, so another process (the other pytest-xdist worker) may take
    it first: every server started on one retries with a new port when its
    bind fails with "address in use" (PortInUse, on_free_port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# what apache2, php -S, node, ruby, redis-server, memcached and scripts/demo say when their
# listening address is taken (EADDRINUSE): nothing else is retried
ADDR_IN_USE = re.compile(r"Address already in use|EADDRINUSE|AH00072|:[0-9]+ is in use")
PORT_ATTEMPTS = 5


class PortInUse(RuntimeError):
    """A server could not bind its free_port(): someone took it meanwhile."""


def check_port_in_use(output, what):
    """Raise PortInUse when a server that failed to start said its address
    was in use (output: what it printed)."""
    if ADDR_IN_USE.search(output or ""):
        raise PortInUse(f"{what}: address in use:\n{output}")


def on_free_port(start, attempts=PORT_ATTEMPTS):
    """start(port) with a free_port(), again with a new one while it raises
    PortInUse (at most `attempts` times); its result."""
    for i in range(attempts):
        try:
            return start(free_port())
        except PortInUse:
            if i == attempts - 1:
                raise


def listens(pid, port):
    """Whether process pid itself has a socket listening on 127.0.0.1:port
    (Linux /proc): that the port accepts says nothing when another process
    took it first."""
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            inodes = {fields[9] for fields in (line.split() for line in f.readlines()[1:])
                      if fields[1] == want and fields[3] == "0A"}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    except OSError:  # it exited meanwhile
        pass
    return False


def _output_file(path):
    """The text of a server's captured output file, "" if there is none."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def php_dev_server(docroot, router="router.php"):
    """A real `php -n -S` origin (PHP's built-in defaults, no php.ini) serving
    docroot through its router script on a free loopback port: yields its base
    URL, and stops it afterwards."""
    php = shutil.which("php")
    if php is None:
        pytest.fail("php-cli is not installed (scripts/quickstart installs it)")
    err = tempfile.TemporaryFile("w+")

    def start(port):
        err.seek(0)
        err.truncate()
        proc = subprocess.Popen([php, "-n", "-S", f"127.0.0.1:{port}", router], cwd=docroot,
                                stdout=subprocess.DEVNULL, stderr=err)
        for _ in range(200):
            if listens(proc.pid, port):
                return port, proc
            if proc.poll() is not None:
                err.seek(0)
                out = err.read()
                check_port_in_use(out, "php -S")
                pytest.fail(f"php -S exited:\n{out}")
            time.sleep(0.05)
        return port, proc

    port, proc = on_free_port(start)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        err.close()


def npm_ci(pkg_dir, cache, package, scripts=()):
    """node_modules for the package.json and committed package-lock.json of
    pkg_dir, installed with `npm ci` into the git-ignored directory cache once
    per lock-file version (two pytest runs may share it); package is one that
    must be there afterwards. The scripts are copied next to node_modules (ESM
    resolves packages from the script's own directory)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed (Debian package nodejs)")
    stamp = hashlib.sha256((pkg_dir / "package-lock.json").read_bytes() +
                           (pkg_dir / "package.json").read_bytes()).hexdigest()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not ((cache / ".stamp").exists() and (cache / ".stamp").read_text() == stamp and
                (cache / "node_modules" / package).is_dir()):
            shutil.rmtree(cache / "node_modules", ignore_errors=True)
            for f in ("package.json", "package-lock.json"):
                shutil.copy(pkg_dir / f, cache / f)
            p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                               cwd=cache, capture_output=True, text=True, timeout=300)
            if p.returncode != 0:
                pytest.fail(f"npm ci in {cache} failed:\n{p.stdout}{p.stderr}")
            (cache / ".stamp").write_text(stamp)
        for f in scripts:
            shutil.copy(pkg_dir / f, cache / f)


@contextlib.contextmanager
def ready_server(argv, cwd=None):
    """A server process started as argv with "@PORT@" replaced by a free
    port: it prints "ready PORT" on its standard output once it listens on
    127.0.0.1:PORT. Yields its base URL, and stops it afterwards."""
    err = tempfile.TemporaryFile("w+")

    def start(port):
        err.seek(0)
        err.truncate()
        proc = subprocess.Popen([str(a).replace("@PORT@", str(port)) for a in argv], cwd=cwd,
                                stdout=subprocess.PIPE, stderr=err, text=True)
        line = proc.stdout.readline()  # blocks until "ready" or exit
        if not line.startswith("ready "):
            proc.wait(timeout=10)
            proc.stdout.close()
            err.seek(0)
            out = err.read()
            check_port_in_use(out, argv[0])
            pytest.fail(f"{argv[0]} did not start: {line!r}\n{out}")
        return port, proc

    port, proc = on_free_port(start)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        err.close()


def _write(path, data, mode=0o644):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    path.chmod(mode)


# Names the throwaway server certificate covers (tls=True servers): the
# vhost and coalescing tests' names, which clients map to 127.0.0.1 (curl
# --resolve, node's servername, Chromium's --host-resolver-rules).
TLS_NAMES = ("media.test", "*.media.test", "other.test", "localhost")


class TLSMaterial:
    """A throwaway CA and one server certificate (P-256, two days, SANs
    TLS_NAMES and 127.0.0.1) made with the openssl CLI in `directory` once
    per test session: `ca` (PEM), `cert`, `key`, client certificates
    (`client_cert`/`client_key`: issued by the CA, subject CN=carol,
    OU=staff; `rogue_cert`/`rogue_key`: self-signed, the same subject), and
    `spki` (base64 SHA-256 of
    the server key's SubjectPublicKeyInfo, for Chromium's
    --ignore-certificate-errors-spki-list, which trusts this key only)."""

    def __init__(self, directory):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.ca, self.cert, self.key = d / "ca.pem", d / "server.pem", d / "server.key"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        ext = d / "server.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=serverAuth\nsubjectAltName="
                       + ",".join([f"DNS:{n}" for n in TLS_NAMES] + ["IP:127.0.0.1"]) + "\n")
        for argv in (
                ["req", "-x509", *ec, "-keyout", d / "ca.key", "-out", self.ca, "-days", "2",
                 "-subj", "/CN=mod_media_guard test CA", "-addext",
                 "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
                ["req", *ec, "-keyout", self.key, "-out", d / "server.csr", "-subj", "/CN=media.test"],
                ["x509", "-req", "-in", d / "server.csr", "-CA", self.ca, "-CAkey", d / "ca.key",
                 "-set_serial", "1", "-days", "2", "-extfile", ext, "-out", self.cert]):
            p = subprocess.run(["openssl", *map(str, argv)], capture_output=True, text=True,
                               timeout=30)
            if p.returncode != 0:
                pytest.fail(f"openssl {argv[0]} failed:\n{p.stderr}")
        # client certificates: one the CA issued (OU=staff) and a self-signed
        # one that claims the same subject
        self.client_cert, self.client_key = d / "client.pem", d / "client.key"
        self.rogue_cert, self.rogue_key = d / "rogue.pem", d / "rogue.key"
        subj = "/CN=carol/OU=staff"
        (d / "client.ext").write_text("basicConstraints=critical,CA:FALSE\n"
                                      "extendedKeyUsage=clientAuth\n")
        for argv in (
                ["req", *ec, "-keyout", self.client_key, "-out", d / "client.csr", "-subj", subj],
                ["x509", "-req", "-in", d / "client.csr", "-CA", self.ca, "-CAkey", d / "ca.key",
                 "-set_serial", "2", "-days", "2", "-extfile", d / "client.ext",
                 "-out", self.client_cert],
                ["req", "-x509", *ec, "-keyout", self.rogue_key, "-out", self.rogue_cert,
                 "-days", "2", "-subj", subj]):
            p = subprocess.run(["openssl", *map(str, argv)], capture_output=True, text=True,
                               timeout=30)
            if p.returncode != 0:
                pytest.fail(f"openssl {argv[0]} failed:\n{p.stderr}")
        self.key.chmod(0o644)  # read by the server's children (User nobody)
        der = subprocess.run(["openssl", "pkey", "-in", str(self.key), "-pubout", "-outform", "DER"],
                             capture_output=True, check=True, timeout=30).stdout
        self.spki = base64.b64encode(hashlib.sha256(der).digest()).decode()


class RawResponse:
    """What Apache answered to a request sent byte for byte (http.client)."""

    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = requests.structures.CaseInsensitiveDict(headers)
        self.content = body
        self.text = body.decode("utf-8", "replace")


class Apache:
    """One throwaway Apache instance. Created by ``apache_factory``."""

    def __init__(self, harness, name, conf, policies, files, extra_modules, loglevel, tls=False):
        self.harness = harness
        # tls: https with mod_ssl and mod_http2 (`Protocols h2 http/1.1`) on
        # the session's throwaway certificate (Harness.tls())
        self.tls = harness.tls() if tls else None
        self.name = name
        self.root = harness.base / name
        n = 1
        while self.root.exists():
            n += 1
            self.root = harness.base / f"{name}-{n}"
        self._port = free_port()
        self._port_given = False  # read from outside: start() keeps it then
        self.extra_modules = list(extra_modules or []) + (["ssl", "http2"] if tls else [])
        self.loglevel = loglevel
        self.proc = None
        self._policies = {}
        self._stopped = False
        self.sanitizer_seen = 0
        self.sanitizer_done = False  # stopped, and its last reports seen
        # where a sanitizer build writes its reports: make check-integration-asan
        # gives a directory under the build tree (MG_SANITIZER_DIR), which it
        # checks after pytest, whatever this harness did or missed
        self.sanitizer_dir = self.root / "logs"
        if os.environ.get("MG_SANITIZER_DIR"):
            self.sanitizer_dir = (Path(os.environ["MG_SANITIZER_DIR"]) / harness.base.name
                                  / self.root.name)
        self.requests_sent = 0  # through get/head/raw: each logs one access line
        # shared objects preloaded into apache2 (a fault to inject), after a
        # sanitizer runtime (MG_APACHE_PRELOAD), which must come first
        self.preload = []
        # target prefixes that this server proxies to itself (ProxyPass to its
        # own port): such a request logs two access lines, the backend's first
        self.self_proxied = ()
        for d in ("htdocs", "policies", "logs", "run"):
            (self.root / d).mkdir(parents=True)
        os.chmod(self.root, 0o755)
        for d in ("htdocs", "policies"):
            os.chmod(self.root / d, 0o755)
        self.write_policies(policies or {})
        for rel, data in (files or {}).items():
            _write(self.root / "htdocs" / rel, data)
            for parent in (self.root / "htdocs" / rel).parents:
                if parent == self.root:
                    break
                os.chmod(parent, 0o755)
        self.conf_snippet = conf or ""
        self.write_conf()
        self.sanitizer_dir.mkdir(parents=True, exist_ok=True)
        # a CGI runs as the server's user (nobody under root) with the
        # sanitizer runtime preloaded too: its reports must land here as well
        os.chmod(self.sanitizer_dir, 0o1777)
        harness.all.append(self)

    # ------------------------------------------------------------- paths
    @property
    def port(self):
        """Its port. Once read from outside (or the server started), a
        start() that finds it taken does not move to another one."""
        self._port_given = True
        return self._port

    @property
    def conf_file(self):
        return self.root / "httpd.conf"

    @property
    def htdocs(self):
        return self.root / "htdocs"

    @property
    def policy_dir(self):
        return self.root / "policies"

    @property
    def error_log_path(self):
        return self.root / "logs" / "error.log"

    @property
    def access_log_path(self):
        return self.root / "logs" / "access.log"

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def url(self, path="/", host="127.0.0.1"):
        return f"{self.scheme}://{host}:{self.port}{path}"

    def _verify(self, kw):
        if self.tls:
            kw.setdefault("verify", str(self.tls.ca))

    # ------------------------------------------------------------- config
    def subst(self, text):
        text = (text.replace("@ROOT@", str(self.root))
                .replace("@HTDOCS@", str(self.htdocs))
                .replace("@POLICIES@", str(self.policy_dir))
                .replace("@PORT@", str(self._port)))
        if self.tls:
            text = (text.replace("@CERT@", str(self.tls.cert)).replace("@KEY@", str(self.tls.key))
                    .replace("@CA@", str(self.tls.ca)))
        if "@BACKEND@" in text:
            text = text.replace("@BACKEND@", self.harness.origin().url)
        return text

    def write_policies(self, policies):
        self._policies.update(policies)  # written again on a new port
        for fname, text in policies.items():
            _write(self.policy_dir / fname, self.subst(text) if isinstance(text, str) else text)

    def write_conf(self):
        mods = []
        seen = set()
        for m in BASE_MODULES + self.extra_modules:
            if m in seen:
                continue
            seen.add(m)
            mods.append(f"LoadModule {m}_module {MODDIR}/mod_{m}.so")
        user = ""
        # a browser keeps its HTTP/2 connection open (coalescing, push)
        tls = ("KeepAlive On\nProtocols h2 http/1.1\nSSLEngine on\n"
               f'SSLCertificateFile "{self.tls.cert}"\nSSLCertificateKeyFile "{self.tls.key}"\n'
               if self.tls else "KeepAlive Off\n")
        if os.geteuid() == 0:
            user = "User nobody\nGroup nogroup\n"
        conf = f"""# generated by tests/integration/conftest.py
ServerRoot "{self.root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{self._port}
PidFile "{self.root}/logs/httpd.pid"
DefaultRuntimeDir "{self.root}/run"
Mutex file:{self.root}/run default
{user}{chr(10).join(mods)}
LoadModule media_guard_module {MODULE}
ErrorLog "{self.error_log_path}"
LogLevel notice media_guard:{self.loglevel}
LogFormat "%h %>s \\"%r\\" mg=%<{{MG_DECISION}}n reason=%<{{MG_REASON}}n rule=%<{{MG_RULE}}n policy=%<{{MG_POLICY}}n user=%u" mg
CustomLog "{self.access_log_path}" mg
TypesConfig /etc/mime.types
StartServers 1
ServerLimit 4
ThreadsPerChild 10
MinSpareThreads 5
MaxSpareThreads 30
MaxRequestWorkers 40
{tls}Timeout 20
GracefulShutdownTimeout 3
DocumentRoot "{self.htdocs}"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{self.htdocs}">
    AllowOverride AuthConfig
    Options None
    Require all granted
</Directory>

# ---- test snippet
{self.subst(self.conf_snippet)}
"""
        _write(self.conf_file, conf)

    # ------------------------------------------------------------- lifecycle
    def _env(self):
        env = dict(os.environ)
        preload = os.environ.get("MG_APACHE_PRELOAD")
        if preload:
            # a sanitizer build of the module: its runtime must come first
            env["LD_PRELOAD"] = preload
            env.setdefault("ASAN_OPTIONS", f"detect_leaks=0:log_path={self.sanitizer_dir}/asan")
            env.setdefault("UBSAN_OPTIONS",
                           f"print_stacktrace=1:log_path={self.sanitizer_dir}/ubsan")
        if self.preload:
            env["LD_PRELOAD"] = " ".join(([preload] if preload else [])
                                         + [str(p) for p in self.preload])
        env.setdefault("APACHE_LOG_DIR", str(self.root / "logs"))
        env.setdefault("APACHE_RUN_DIR", str(self.root / "run"))
        env.setdefault("APACHE_LOCK_DIR", str(self.root / "run"))
        return env

    def configtest(self):
        """Run ``apache2 -t`` on the current configuration: (returncode, output)."""
        p = subprocess.run([APACHE, "-f", str(self.conf_file), "-t"], capture_output=True,
                           text=True, env=self._env(), timeout=30)
        return p.returncode, p.stdout + p.stderr

    def start(self, timeout=15):
        """Start it and wait until it answers. When its port was taken
        (another process bound it since free_port()), it starts again on a
        new port (port, @PORT@ in its configuration and policies), unless
        the port was already read (port, url()) or the server started
        before: then PortInUse (a test holding the old port would miss)."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._start(timeout)
                self._port_given = True
                return self
            except PortInUse:
                if self._port_given or attempt == PORT_ATTEMPTS - 1:
                    raise
                self._port = free_port()
                self.write_conf()
                self.write_policies(self._policies)

    def _start(self, timeout):
        self.sanitizer_done = False
        if self not in self.harness.live:
            self.harness.live.append(self)
        self._stopped = False
        self._stderr = open(self.root / "logs" / "stderr.log", "w")
        log_mark = self.mark()
        self.proc = subprocess.Popen([APACHE, "-f", str(self.conf_file), "-DFOREGROUND"],
                                     stdout=self._stderr, stderr=subprocess.STDOUT,
                                     env=self._env(), start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._stderr.close()
                check_port_in_use(_output_file(self.root / "logs" / "stderr.log")
                                  + self.error_log_since(log_mark), "apache2")
                raise RuntimeError(f"apache2 exited with {self.proc.returncode}:\n"
                                   + self.startup_output())
            # The port accepts as soon as the parent listens, before it has
            # installed its signal handlers: wait for the line it logs after.
            if self.generations() >= 1:
                try:
                    with socket.create_connection(("127.0.0.1", self._port), timeout=0.5):
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("apache2 did not answer in time:\n" + self.startup_output())

    def sanitizer_reports(self):
        """Reports written by a sanitizer build (MG_APACHE_PRELOAD), if any."""
        return "".join(p.read_text(errors="replace")
                       for p in sorted(self.sanitizer_dir.glob("*san.*")))

    def new_sanitizer_reports(self):
        """Reports that appeared since the last call (every server ever
        started is asked after each test phase and at the end of the
        session: a stopped one included, whose reports may have been
        written at its shutdown)."""
        if self.sanitizer_done:
            return ""
        stopped = not self.alive()
        san = self.sanitizer_reports()
        new = san[self.sanitizer_seen:]
        self.sanitizer_seen = len(san)
        # nothing writes after stop() has killed the process group
        self.sanitizer_done = stopped and self.proc is not None and self._stopped
        return new

    def startup_output(self):
        out = ""
        for p in (self.root / "logs" / "stderr.log", self.error_log_path):
            if p.exists():
                out += f"--- {p.name}\n" + p.read_text(errors="replace")
        return out

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def generations(self):
        return self.error_log().count("resuming normal operations")

    def graceful(self, new_conf_snippet=None, new_policies=None, method="signal", timeout=15):
        """Graceful restart after optionally rewriting the snippet and policy files.

        method="signal" sends SIGUSR1 to the parent (what a running server gets
        from any restart tool) and waits until it says "resuming normal
        operations" again; returns None. method="k" runs ``apache2 -k graceful``,
        which parses the configuration itself first and only signals when it
        is valid; returns (returncode, output).
        """
        if new_conf_snippet is not None:
            self.conf_snippet = new_conf_snippet
            self.write_conf()
        if new_policies:
            self.write_policies(new_policies)
        before = self.generations()
        result = None
        if method == "k":
            p = subprocess.run([APACHE, "-f", str(self.conf_file), "-k", "graceful"],
                               capture_output=True, text=True, env=self._env(), timeout=30)
            result = (p.returncode, p.stdout + p.stderr)
            if p.returncode != 0:
                return result
        else:
            os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError("apache2 exited during graceful restart:\n"
                                   + self.startup_output())
            if self.generations() > before:
                time.sleep(0.5)  # let the new generation's children take over
                return result
            time.sleep(0.05)
        raise RuntimeError("graceful restart did not complete:\n" + self.error_log())

    def stop(self, timeout=15):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # children exit with the parent; make sure none is left in the group
        try:
            os.killpg(self.proc.pid, 0)
            time.sleep(0.2)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:
            pass
        self._stderr.close()
        self._stopped = True
        if self in self.harness.live:
            self.harness.live.remove(self)

    # ------------------------------------------------------------- requests
    def _count(self, target):
        """One more request sent: how many access-log lines last_access()
        waits for (two for a target this server proxies to itself)."""
        self.requests_sent += 2 if target.startswith(self.self_proxied) else 1

    def get(self, path, headers=None, **kw):
        self._count(path)
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 10)
        self._verify(kw)
        return requests.get(self.url(path), headers=headers, **kw)

    def head(self, path, headers=None, **kw):
        self._count(path)
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 10)
        self._verify(kw)
        return requests.head(self.url(path), headers=headers, **kw)

    def raw(self, target, headers=None, method="GET"):
        """Send the request target byte for byte (no client-side normalisation)."""
        self._count(target)
        c = self._connection()
        try:
            c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            h = {"Host": f"127.0.0.1:{self.port}"}
            h.update(headers or {})
            for k, v in h.items():
                c.putheader(k, v)
            c.endheaders()
            r = c.getresponse()
            return RawResponse(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def _connection(self):
        if self.tls:
            ctx = ssl.create_default_context(cafile=str(self.tls.ca))
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def raw_many(self, targets, method="GET"):
        """raw() for many targets over one keep-alive connection: a
        RawResponse for each, in order."""
        out = []
        c = self._connection()
        try:
            for target in targets:
                self._count(target)
                c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                c.putheader("Host", f"127.0.0.1:{self.port}")
                c.endheaders()
                r = c.getresponse()
                out.append(RawResponse(r.status, r.getheaders(), r.read()))
                if r.will_close:
                    c.close()
        finally:
            c.close()
        return out

    # ------------------------------------------------------------- logs
    def error_log(self):
        p = self.error_log_path
        return p.read_text(errors="replace") if p.exists() else ""

    def access_log(self):
        p = self.access_log_path
        return p.read_text(errors="replace") if p.exists() else ""

    def last_access(self, path_fragment, timeout=10):
        """The last access-log line whose request contains path_fragment.

        httpd writes the line after it has sent the response, so first wait
        until the log has a line for every request sent through get/head/raw."""
        deadline = time.time() + timeout
        while True:
            all_lines = self.access_log().splitlines()
            lines = [ln for ln in all_lines if path_fragment in ln]
            if (lines and len(all_lines) >= self.requests_sent) or time.time() > deadline:
                return lines[-1] if lines else None
            time.sleep(0.02)

    def mark(self):
        """Current length of the error log, for error_log_since()."""
        return len(self.error_log())

    def error_log_since(self, mark):
        return self.error_log()[mark:]


class _OriginHandler(http.server.BaseHTTPRequestHandler):
    """The origin / image server behind ProxyPass: answers any path."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"origin:{self.path}\n".encode()
        ext = self.path.split("?")[0].rsplit(".", 1)[-1].lower()
        ctype = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
                 "mp4": "video/mp4"}.get(ext, "application/octet-stream")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        # headers the module must override on the proxied response
        self.send_header("Cache-Control", "public, max-age=3600")
        self.send_header("Content-Disposition", "attachment; filename=\"origin.bin\"")
        self.send_header("X-Origin", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


class Origin:
    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OriginHandler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Harness:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="mg-it-"))
        os.chmod(self.base, 0o755)
        self.live = []
        self.all = []  # every server ever made: their sanitizer reports are checked
        self._origin = None
        self._tls = None

    def tls(self):
        """The session's TLSMaterial, made on first use."""
        if self._tls is None:
            self._tls = TLSMaterial(self.base / "tls")
        return self._tls

    def origin(self):
        if self._origin is None:
            self._origin = Origin()
        return self._origin

    def make(self, name, conf_snippet="", policies=None, files=None, extra_modules=None,
             loglevel="debug", start=True, tls=False):
        if MODULE is None or not Path(MODULE).exists():
            pytest.skip("mod_media_guard.so not built (set MG_MODULE or run make check-integration)")
        srv = Apache(self, name, conf_snippet, policies, files, extra_modules, loglevel, tls)
        if start:
            srv.start()
        else:
            self.live.append(srv)
        return srv

    def new_sanitizer_reports(self):
        """{server name: report text} for reports not seen before."""
        out = {}
        for srv in self.all:
            new = srv.new_sanitizer_reports()
            if new:
                out[srv.root.name] = new
        return out

    def close(self):
        """Stop every server; returns the sanitizer reports not seen
        before, written at their shutdown included ({server: text})."""
        # SIGTERM every server first, then wait for each: a server's shutdown
        # (its children's exit) overlaps the others' instead of adding up
        for srv in list(self.live):
            if srv.alive():
                with contextlib.suppress(OSError):
                    srv.proc.send_signal(signal.SIGTERM)
        for srv in list(self.live):
            try:
                srv.stop()
            except Exception:  # keep stopping the others
                pass
        if self._origin:
            self._origin.stop()
            self._origin = None
        reports = self.new_sanitizer_reports()
        if os.environ.get("MG_KEEP_TMP") != "1":
            shutil.rmtree(self.base, ignore_errors=True)
        return reports


_HARNESS = None


@pytest.fixture(scope="session")
def apache_factory():
    """``make(name, conf_snippet, policies={file: yaml}, files={relpath: bytes|str},
    extra_modules=[...], loglevel="debug", start=True, tls=False) -> Apache``."""
    global _HARNESS
    _HARNESS = Harness()
    # also when the session dies without running fixture teardown
    atexit.register(_HARNESS.close)
    yield _HARNESS.make
    reports = _HARNESS.close()
    _HARNESS = None
    if reports:
        # written at a server's shutdown by the session's end: the run fails
        pytest.fail("sanitizer reports from Apache at the end of the session:\n"
                    + _sanitizer_text(reports), pytrace=False)


@pytest.fixture(scope="session")
def origin(apache_factory):
    """The Python origin server (the same one @BACKEND@ refers to)."""
    return _HARNESS.origin()


@pytest.fixture(scope="session")
def mgctl():
    """Run the built mgctl: mgctl(*args, input=None) -> CompletedProcess (text)."""
    if MGCTL is None or not Path(MGCTL).exists():
        pytest.skip("mgctl not built (set MGCTL)")

    def run(*args, input=None):
        return subprocess.run([str(MGCTL), *map(str, args)], capture_output=True, text=True,
                              input=input, timeout=60)
    return run


# an HMAC-SHA256 key in keygen's format (bytes 0..31), for policies that
# need one to sign with
TEST_KEY = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"


def write_secrets(srv, secrets):
    """Write {file name: text} as 0600 files in srv's policy directory's keys/,
    where the policies' ``file: keys/...`` entries look."""
    for name, text in secrets.items():
        _write(srv.policy_dir / "keys" / name, text, 0o600)


def keyed_server(apache_factory, name, conf, policies, files, secrets, **kw):
    """An Apache (apache_factory's arguments) whose key files, as
    write_secrets takes them, are written before it starts."""
    s = apache_factory(name, conf, policies=policies, files=files, start=False, **kw)
    write_secrets(s, secrets)
    s.start()
    return s


def mgctl_signer(mgctl, policy, *always):
    """``sign(fmt, *args, key=None) -> link``: `mgctl sign --policy POLICY`
    in token format `fmt` ("mg-v1", the native one, passes no
    --token-format) with key `key`, then `always`, then `args`; the command
    must succeed."""
    def sign(fmt, *args, key=None):
        cmd = ["sign", "--policy", policy]
        if fmt != "mg-v1":
            cmd += ["--token-format", fmt]
        if key:
            cmd += ["--key-id", key]
        p = mgctl(*cmd, *always, *args)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    return sign


def htpasswd(path, users):
    """Write an htpasswd file (bcrypt) with {user: password}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    first = True
    for user, pw in users.items():
        args = [HTPASSWD, "-b", "-B", "-C", "5"] + (["-c"] if first else []) + [str(path), user, pw]
        subprocess.run(args, check=True, capture_output=True)
        first = False
    path.chmod(0o644)
    return path


def _sanitizer_text(reports):
    return "".join(f"--- apache {name}\n{text}" for name, text in reports.items())


def _sanitizing():
    return bool(os.environ.get("MG_APACHE_PRELOAD") or os.environ.get("MG_SANITIZER_DIR"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if _HARNESS is not None and _sanitizing():
        # a sanitizer report from any server ever started (a live one, one
        # this test stopped, one a module fixture stopped in its teardown)
        # fails the test phase during which it appeared
        reports = _HARNESS.new_sanitizer_reports()
        if reports and rep.failed:  # keep the test's own failure in front
            rep.sections.append((f"sanitizer report(s) during {rep.when}",
                                 _sanitizer_text(reports)))
        elif reports:
            rep.outcome = "failed"
            rep.longrepr = (f"sanitizer report(s) during {rep.when}:\n"
                            + _sanitizer_text(reports))
    if rep.failed and _HARNESS is not None:
        for srv in _HARNESS.live:
            log = srv.error_log().splitlines()[-150:]
            if log:
                rep.sections.append((f"apache {srv.root.name} error log (last 150 lines)",
                                     "\n".join(log)))
            san = srv.sanitizer_reports()
            if san:
                rep.sections.append((f"apache {srv.root.name} sanitizer reports", san))
