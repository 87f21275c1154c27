#!/usr/bin/python3
"""tests/differential/apache.py — the module glue of two builds side by side (tests/differential/README.md).

Starts one real Apache per build and policy (the Debian apache2 binary, event MPM, its own ServerRoot on a free
loopback port, always stopped), sends both the same raw HTTP/1.1 requests made by gen.py's generators (hard paths
and queries, Referer/Origin/Sec-Fetch-*/Cookie headers, some of them twice, signed links of every key format minted
now by `mgctl sign`), and compares per request the status and the decision, reason and rule the module left in its
notes (`%<{MG_DECISION}n`, ...). Differences are explained by known.py, as for the mgctl comparison.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402
import known  # noqa: E402

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
MODULES = ["mpm_event", "authz_core", "authz_host", "authn_core", "mime", "dir"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Apache:
    def __init__(self, root, module, policy_name, policy_file):
        self.root = root
        self.port = free_port()
        os.makedirs(os.path.join(root, "logs"), exist_ok=True)
        os.makedirs(os.path.join(root, "run"), exist_ok=True)
        os.makedirs(os.path.join(root, "htdocs"), exist_ok=True)
        self.log = os.path.join(root, "logs", "access.log")
        # the children run as nobody: they must reach the document root (mktemp -d makes 0700 directories);
        # the keys directory stays 0700, the policies are read by the parent
        for d in (os.path.dirname(root), root, os.path.join(root, "htdocs")):
            os.chmod(d, 0o755)
        user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
        mods = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, MODDIR, m) for m in MODULES)
        conf = f"""ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile "{root}/logs/httpd.pid"
DefaultRuntimeDir "{root}/run"
Mutex file:{root}/run default
{user}{mods}
LoadModule media_guard_module {module}
ErrorLog "{root}/logs/error.log"
LogLevel warn
LogFormat "%{{X-Diff-Id}}i %>s mg=%<{{MG_DECISION}}n reason=%<{{MG_REASON}}n rule=%<{{MG_RULE}}n" diff
CustomLog "{self.log}" diff
TypesConfig /etc/mime.types
StartServers 1
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
KeepAlive Off
Timeout 10
DocumentRoot "{root}/htdocs"
MediaGuardPolicy {policy_name} "{policy_file}"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Location />
    Require media-guard {policy_name}
</Location>
"""
        self.conf = os.path.join(root, "httpd.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None

    def start(self):
        env = dict(os.environ, APACHE_LOG_DIR=os.path.join(self.root, "logs"),
                   APACHE_RUN_DIR=os.path.join(self.root, "run"), APACHE_LOCK_DIR=os.path.join(self.root, "run"))
        self.out = open(os.path.join(self.root, "logs", "stderr.log"), "w")
        self.proc = subprocess.Popen([APACHE, "-f", self.conf, "-DFOREGROUND"], stdout=self.out,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("apache2 exited: " + open(os.path.join(self.root, "logs", "stderr.log")).read()
                                   + open(os.path.join(self.root, "logs", "error.log")).read())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    time.sleep(0.3)
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("apache2 did not answer")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.proc = None


def raw_request(i, req):
    """The bytes of one HTTP/1.1 request for a gen.py request; some headers twice."""
    method = req.get("method", "GET")
    url = req["url"]
    lines = ["%s %s HTTP/1.1" % (method, url)]
    h = dict(req.get("headers") or {})
    if not any(k.lower() == "host" for k in h):
        h["Host"] = "site.example"
    for k, v in h.items():
        lines.append("%s: %s" % (k, v))
    for k, v in req.get("_twice", []):
        lines.append("%s: %s" % (k, v))
    lines.append("X-Diff-Id: %d" % i)
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def send_all(port, reqs, threads=2):
    def worker(part):
        for i, data in part:
            for attempt in range(3):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        s.sendall(data)
                        while s.recv(65536):
                            pass
                    break
                except OSError:
                    time.sleep(0.05)
    parts = [reqs[k::threads] for k in range(threads)]
    ts = [threading.Thread(target=worker, args=(p,)) for p in parts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


LOG = re.compile(r"^(\S+) (\d+) mg=(\S+) reason=(\S+) rule=(\S+)$")


def read_log(path):
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LOG.match(line.rstrip("\n"))
            if m and m.group(1) != "-":
                out[int(m.group(1))] = tuple(None if x == "-" else x for x in m.groups()[1:])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--old-module", required=True)
    ap.add_argument("--new-module", required=True)
    ap.add_argument("--old-mgctl", required=True)
    ap.add_argument("--new-mgctl", required=True)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--policy", action="append", required=True, help="TAG=FILE")
    ap.add_argument("--examples", type=int, default=3)
    a = ap.parse_args()
    r = random.Random(a.seed)
    bad = 0
    total = 0
    explained = collections.Counter()
    unexplained = collections.Counter()
    examples = collections.defaultdict(list)
    gen.T0 = int(time.time())  # links are minted now: Apache judges them at its own clock
    for spec in a.policy:
        tag, _, pfile = spec.partition("=")
        prof = gen.PROFILES[tag]
        reqs = []
        if "sign" in prof:
            keys = prof["sign"]["keys"] or gen.KEYS
            paths = prof["sign"]["paths"] or gen.SIGN_PATHS
            links = gen.sign_all(a.new_mgctl, a.work, "apache-" + tag, keys, paths)
            reqs += [req for _, req in gen.token_cases(r, links, a.n // 3)]
        while len(reqs) < a.n:
            req = gen.gen_request(r, prof, gen.T0)
            reqs.append(req)
        for req in reqs:
            req.pop("user", None)  # no authentication in these servers
            h = req.setdefault("headers", {})
            if not any(k.lower() == "host" for k in h):
                h["Host"] = "site.example"  # HTTP/1.1 needs one; known.py reads it for same_origin
            if r.random() < 0.1 and req.get("headers"):
                k = r.choice(list(req["headers"]))
                req["_twice"] = [(k, r.choice(gen.REFERERS[1:] + gen.SFS[1:]))]
        data = [(i, raw_request(i, q)) for i, q in enumerate(reqs)]
        results = {}
        for build, module in (("old", a.old_module), ("new", a.new_module)):
            srv = Apache(os.path.join(a.work, "apache-%s-%s" % (build, tag)), module, tag.replace("-", "_"), pfile)
            srv.start()
            try:
                send_all(srv.port, data)
                time.sleep(0.5)
            finally:
                srv.stop()
            results[build] = read_log(srv.log)
        o, n = results["old"], results["new"]
        for build, res in results.items():
            decided = sum(1 for v in res.values() if v[1] is not None)
            if decided < len(reqs) // 5:
                print("%s: the %s module decided only %d of %d requests: the servers are not set up right "
                      "(see %s)" % (tag, build, decided, len(reqs), a.work))
                bad += 1
        missing = [i for i in range(len(reqs)) if (i in o) != (i in n)]
        both = [i for i in range(len(reqs)) if i in o and i in n]
        total += len(both)
        print("%s: %d requests, %d logged by both (%d decided by the module), %d by one only"
              % (tag, len(reqs), len(both), sum(1 for i in both if n[i][1] is not None), len(missing)))
        if missing:
            bad += 1
            for i in missing[:a.examples]:
                print("   logged by one only: %r old=%r new=%r" % (reqs[i]["url"][:200], o.get(i), n.get(i)))
        for i in both:
            if o[i] == n[i]:
                continue
            req = reqs[i]
            hd = {k.lower(): v for k, v in (req.get("headers") or {}).items()}
            for k, v in req.get("_twice", []):  # httpd joins a header sent twice with ", "
                hd[k.lower()] = hd[k.lower()] + ", " + v if k.lower() in hd else v
            co = {"url": req["url"], "request": req, "_headers": hd}
            vo = dict(zip(("status", "decision", "reason", "rule"), o[i]))
            vn = dict(zip(("status", "decision", "reason", "rule"), n[i]))
            why = known.explain_apache(co, vo, vn)
            key = (tag, why or "UNEXPLAINED", vo["reason"], vn["reason"])
            (explained if why else unexplained)[key] += 1
            if len(examples[key]) < a.examples:
                examples[key].append((raw_request(i, req).decode("utf-8", "replace"), o[i], n[i]))
    print("apache: compared %d requests" % total)
    for title, table in (("explained differences", explained), ("UNEXPLAINED differences", unexplained)):
        print("%s: %d" % (title, sum(table.values())))
        for key, c in sorted(table.items(), key=lambda kv: -kv[1]):
            print("  %6d  %-14s %s -> %s  %s" % (c, key[0], key[2], key[3], key[1]))
            for raw, ov, nv in examples[key]:
                print("          old %s new %s\n%s" % (ov, nv, "\n".join("            " + l for l in
                                                                         raw.split("\r\n") if l)))
    bad += sum(unexplained.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
