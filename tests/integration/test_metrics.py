"""Prometheus metrics (`SetHandler media-guard-metrics`): decision counters shared by
every child and thread of the server, counted exactly; the text exposition format
0.0.4; no invented policy names; the handler only where SetHandler puts it; the
counters start again from zero on a graceful restart; the policy info follows a
reload that kept the last good version."""

import concurrent.futures
import re

import requests

JPEG = b"\xff\xd8\xff\xe0 metrics"
IMG = {"Accept": "image/webp,*/*", "Connection": "close"}

POLICY = """\
version: 1
default: deny
rules:
  - id: open
    path: /m/open/
    access: {anonymous: view}
  - id: closed
    path: /m/closed/
    access: {anonymous: none}
    login: false
"""

OTHER = """\
version: 1
default: allow
rules: []
"""

BROKEN = "version: 1\ndefault: deny\nrules:\n  - id: x\n    path: [\n"

# Several children with few threads each, so that parallel requests land in
# different processes (the PID of each request goes to pid.log).
CONF = """\
StartServers 3
ServerLimit 4
ThreadsPerChild 4
MinSpareThreads 12
MaxSpareThreads 16
MaxRequestWorkers 16
MediaGuardPolicy metrics-a @POLICIES@/a.yaml
MediaGuardPolicy unused_b @POLICIES@/b.yaml
LogFormat "%P %>s %<{MG_DECISION}n/%<{MG_REASON}n \\"%r\\"" mgpid
CustomLog "@ROOT@/logs/pid.log" mgpid
<Location "/m/">
    Require media-guard metrics-a
</Location>
<Location "/server-metrics">
    SetHandler media-guard-metrics
    MediaGuardMetrics On
    Require ip 127.0.0.1
</Location>
"""

FILES = {"m/open/a.jpg": JPEG, "m/closed/a.jpg": JPEG, "m/none/a.jpg": JPEG,
         "plain/metrics": b"not the handler\n"}

KNOWN_REASONS = {
    "internal-error", "allowed", "allowed-by-token", "default-allow", "no-rule", "bad-url",
    "method-not-allowed", "ip-denied", "ip-not-allowed", "country-denied", "country-unknown",
    "outside-time-window", "hotlink", "transform-not-allowed", "transform-required-missing",
    "login-required", "role-insufficient", "download-not-allowed", "token-missing",
    "token-malformed", "token-bad-signature", "token-expired", "token-not-yet-valid",
    "token-wrong-ip", "token-out-of-scope", "token-unknown-key", "token-used", "token-revoked",
}

# ------------------------------------------------------------------ a tiny parser
# The text exposition format 0.0.4: metric name, optional {label="value",...}
# with \\ \" \n escapes, a float value, an optional integer timestamp.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABEL = rf"[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE}"
VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)"
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*,?)?\}})? ({VALUE})(?: -?\d+)?$")
LABEL_RE = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({LABEL_VALUE})")
HELP = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v[1:-1])


def parse(text):
    """Every line must be a HELP, TYPE, comment or sample line; a sample's family
    must have been typed before it, once, and no series may appear twice.
    Returns {(name, frozenset(labels.items())): float} and {name: type}."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    samples, types, helps = {}, {}, set()
    for line in text.split("\n")[:-1]:
        assert line == line.strip(), f"stray whitespace: {line!r}"
        m = HELP.match(line)
        if m:
            assert m.group(1) not in helps, f"second HELP for {m.group(1)}"
            helps.add(m.group(1))
            continue
        m = TYPE.match(line)
        if m:
            assert m.group(1) not in types, f"second TYPE for {m.group(1)}"
            assert not any(k[0] == m.group(1) for k in samples), "TYPE after samples"
            types[m.group(1)] = m.group(2)
            continue
        assert not line.startswith("#") or line.startswith("# ") and not line.startswith(
            ("# HELP", "# TYPE")), f"malformed comment line: {line!r}"
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition-format sample line: {line!r}"
        name = m.group(1)
        assert name in types, f"{name} has no TYPE line before it"
        labels = {k: unescape(v) for k, v in LABEL_RE.findall(m.group(2) or "")}
        key = (name, frozenset(labels.items()))
        assert key not in samples, f"duplicate series: {line!r}"
        samples[key] = float(m.group(3))
    return samples, types


def series(samples, name):
    return {dict(k[1]).get("policy", ""): v for k, v in samples.items() if k[0] == name} \
        if name != "mediaguard_decisions_total" else {
            (dict(k[1])["policy"], dict(k[1])["decision"], dict(k[1])["reason"]): v
            for k, v in samples.items() if k[0] == name}


def scrape(srv):
    r = srv.get("/server-metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(r.text)


def test_parser_rejects_what_the_format_forbids():
    """The checker below is only worth something if it can fail."""
    good = '# TYPE x counter\nx{a="b\\"c\\\\d\\n"} 1\n'
    samples, _ = parse(good)
    assert samples[("x", frozenset({("a", 'b"c\\d\n')}))] == 1
    for bad in ['x 1\n',                                  # no TYPE first
                '# TYPE x counter\nx{a="b"c"} 1\n',       # unescaped quote
                '# TYPE x counter\nx{a=b} 1\n',           # unquoted value
                '# TYPE x counter\nx 1 \n',               # trailing space
                '# TYPE x counter\nx 1\nx 2\n',           # duplicate series
                '# TYPE x counter\nx one\n',              # not a number
                '# TYPE x counter\nx 1']:                 # no final newline
        try:
            parse(bad)
        except AssertionError:
            continue
        raise AssertionError(f"parser accepted {bad!r}")


# ------------------------------------------------------------------ tests
def fire(srv, paths):
    """Send every path once, 16 at a time, each on its own connection."""
    def one(p):
        return requests.get(srv.url(p), headers=IMG, allow_redirects=False, timeout=10).status_code
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
        return list(ex.map(one, paths))


def test_counters_count_every_decision_of_every_child_exactly(apache_factory):
    s = apache_factory("metrics-count", CONF, policies={"a.yaml": POLICY, "b.yaml": OTHER},
                       files=FILES)
    try:
        samples, types = scrape(s)
        assert types["mediaguard_decisions_total"] == "counter"
        assert series(samples, "mediaguard_decisions_total") == {}, "a fresh server counted"

        n_open, n_closed, n_none = 120, 90, 45
        paths = (["/m/open/a.jpg"] * n_open + ["/m/closed/a.jpg"] * n_closed
                 + ["/m/none/a.jpg"] * n_none)
        # interleave so that every child sees every kind
        paths = paths[0::3] + paths[1::3] + paths[2::3]
        statuses = fire(s, paths)
        assert statuses.count(200) == n_open
        assert statuses.count(403) == n_closed + n_none

        samples, _ = scrape(s)
        assert series(samples, "mediaguard_decisions_total") == {
            ("metrics-a", "allow", "allowed"): n_open,
            ("metrics-a", "deny", "role-insufficient"): n_closed,
            ("metrics-a", "deny", "no-rule"): n_none,
        }
        assert series(samples, "mediaguard_decisions_unlisted_total") == {"": 0}

        # the requests really were served by more than one child
        s.last_access("/server-metrics")
        pids = {line.split()[0] for line in (s.root / "logs" / "pid.log").read_text().splitlines()
                if '"GET /m/' in line}
        assert len(pids) >= 2, f"all requests went to one child: {pids}"

        # scraping counts nothing, and a second scrape reads the same numbers
        again, _ = scrape(s)
        assert series(again, "mediaguard_decisions_total") == series(
            samples, "mediaguard_decisions_total")
    finally:
        s.stop()


def test_exposition_format_labels_and_policy_info(apache_factory):
    s = apache_factory("metrics-format", CONF, policies={"a.yaml": POLICY, "b.yaml": OTHER},
                       files=FILES)
    try:
        fire(s, ["/m/open/a.jpg", "/m/closed/a.jpg", "/m/none/a.jpg"])
        s.raw("/m/open/%2e%2e/closed/a.jpg", headers={"Accept": "image/webp"})
        r = s.get("/server-metrics")
        text = r.text
        samples, types = parse(text)
        assert r.headers["Cache-Control"] == "no-store"
        for name in ("mediaguard_decisions_total", "mediaguard_decisions_unlisted_total",
                     "mediaguard_policy_info", "mediaguard_policy_loaded",
                     "mediaguard_counters_reset_time_seconds"):
            assert name in types
            assert f"# HELP {name} " in text
        decisions = series(samples, "mediaguard_decisions_total")
        # only declared names, known decisions and reasons, only non-zero series
        assert {p for p, _, _ in decisions} == {"metrics-a"}
        assert {d for _, d, _ in decisions} <= {"allow", "deny", "login", "auth"}
        assert {rs for _, _, rs in decisions} <= KNOWN_REASONS
        assert all(v > 0 for v in decisions.values())
        assert sum(decisions.values()) == 4
        # every series name of the module is ours
        assert {k[0] for k in samples} <= set(types)
        assert all(k[0].startswith("mediaguard_") for k in samples)

        info = [dict(k[1]) for k in samples if k[0] == "mediaguard_policy_info"]
        assert sorted(i["policy"] for i in info) == ["metrics-a", "unused_b"]
        for i in info:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", i["digest"]), i
            assert i["last_good"] == "0"
        assert series(samples, "mediaguard_policy_loaded") == {"metrics-a": 1, "unused_b": 1}
        assert samples[("mediaguard_counters_reset_time_seconds", frozenset())] > 1.7e9
    finally:
        s.stop()


def test_digest_is_the_one_mgctl_compile_prints(apache_factory, mgctl):
    s = apache_factory("metrics-digest", CONF, policies={"a.yaml": POLICY, "b.yaml": OTHER},
                       files=FILES)
    try:
        samples, _ = scrape(s)
        info = {dict(k[1])["policy"]: dict(k[1])["digest"]
                for k in samples if k[0] == "mediaguard_policy_info"}
        out = mgctl("compile", str(s.policy_dir / "a.yaml"))
        assert out.returncode == 0, out.stderr
        assert info["metrics-a"] in out.stdout.splitlines()[0]
    finally:
        s.stop()


def test_handler_is_only_where_sethandler_puts_it(apache_factory):
    s = apache_factory("metrics-where", CONF, policies={"a.yaml": POLICY, "b.yaml": OTHER},
                       files=FILES)
    try:
        r = s.get("/plain/metrics")
        assert r.status_code == 200 and r.text == "not the handler\n"
        for path in ("/metrics", "/media-guard-metrics", "/plain/metrics?handler=media-guard-metrics",
                     "/m/open/a.jpg"):
            r = s.get(path, headers=IMG)
            assert "mediaguard_" not in r.text, path
        # a handler name in a request header changes nothing either
        r = s.get("/plain/metrics", headers={"Handler": "media-guard-metrics"})
        assert "mediaguard_" not in r.text
        # only GET/HEAD on the endpoint itself
        r = requests.post(s.url("/server-metrics"), data=b"x", timeout=10)
        assert r.status_code == 405
        assert "GET" in r.headers.get("Allow", "")
        r = s.head("/server-metrics")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    finally:
        s.stop()


def test_endpoint_is_protected_like_any_location(apache_factory):
    conf = CONF.replace("Require ip 127.0.0.1", "Require ip 192.0.2.1")
    s = apache_factory("metrics-protected", conf, policies={"a.yaml": POLICY, "b.yaml": OTHER},
                       files=FILES)
    try:
        r = s.get("/server-metrics")
        assert r.status_code == 403
        assert "mediaguard_" not in r.text
    finally:
        s.stop()


def test_graceful_restart_starts_the_counters_from_zero(apache_factory):
    s = apache_factory("metrics-graceful", CONF, policies={"a.yaml": POLICY, "b.yaml": OTHER},
                       files=FILES)
    try:
        fire(s, ["/m/open/a.jpg"] * 10 + ["/m/closed/a.jpg"] * 5)
        before, _ = scrape(s)
        assert series(before, "mediaguard_decisions_total") == {
            ("metrics-a", "allow", "allowed"): 10, ("metrics-a", "deny", "role-insufficient"): 5}
        t0 = before[("mediaguard_counters_reset_time_seconds", frozenset())]

        s.graceful()
        after, _ = scrape(s)
        assert series(after, "mediaguard_decisions_total") == {}
        assert after[("mediaguard_counters_reset_time_seconds", frozenset())] > t0
        fire(s, ["/m/open/a.jpg"] * 3)
        after, _ = scrape(s)
        assert series(after, "mediaguard_decisions_total") == {("metrics-a", "allow", "allowed"): 3}
    finally:
        s.stop()


def test_reload_with_a_broken_policy_shows_the_last_good_version(apache_factory):
    s = apache_factory("metrics-lastgood", CONF, policies={"a.yaml": POLICY, "b.yaml": OTHER},
                       files=FILES)
    try:
        samples, _ = scrape(s)
        info = {dict(k[1])["policy"]: dict(k[1]) for k in samples if k[0] == "mediaguard_policy_info"}
        digest = info["metrics-a"]["digest"]

        s.graceful(new_policies={"a.yaml": BROKEN})  # SIGUSR1: the last good version serves
        samples, _ = scrape(s)
        info = [dict(k[1]) for k in samples if k[0] == "mediaguard_policy_info"]
        a = [i for i in info if i["policy"] == "metrics-a"]
        assert a == [{"policy": "metrics-a", "digest": digest, "last_good": "1"}]
        assert series(samples, "mediaguard_policy_loaded")["metrics-a"] == 1
        assert s.get("/m/open/a.jpg", headers=IMG).status_code == 200
        samples, _ = scrape(s)
        assert series(samples, "mediaguard_decisions_total") == {("metrics-a", "allow", "allowed"): 1}
    finally:
        s.stop()


def test_reload_failure_deny_reports_the_policy_as_not_loaded(apache_factory):
    conf = "MediaGuardReloadFailure deny\n" + CONF
    s = apache_factory("metrics-notloaded", conf, policies={"a.yaml": POLICY, "b.yaml": OTHER},
                       files=FILES)
    try:
        s.graceful(new_policies={"a.yaml": BROKEN})
        assert s.get("/m/open/a.jpg", headers=IMG).status_code == 500
        samples, _ = scrape(s)
        assert series(samples, "mediaguard_policy_loaded") == {"metrics-a": 0, "unused_b": 1}
        assert "metrics-a" not in {dict(k[1])["policy"] for k in samples
                                   if k[0] == "mediaguard_policy_info"}
        assert series(samples, "mediaguard_decisions_total") == {
            ("metrics-a", "deny", "internal-error"): 1}
    finally:
        s.stop()


def test_policies_beyond_the_table_are_counted_as_unlisted(apache_factory):
    names = [f"p{i:03d}" for i in range(257)]  # 256 rows; p256 is the 257th in byte order
    conf = "".join(f"MediaGuardPolicy {n} @POLICIES@/o.yaml\n" for n in names) + """\
<Location "/m/first/">
    Require media-guard p000
</Location>
<Location "/m/last/">
    Require media-guard p256
</Location>
<Location "/server-metrics">
    SetHandler media-guard-metrics
    MediaGuardMetrics On
    Require ip 127.0.0.1
</Location>
"""
    s = apache_factory("metrics-cap", conf, policies={"o.yaml": OTHER},
                       files={"m/first/a.jpg": JPEG, "m/last/a.jpg": JPEG})
    try:
        assert s.get("/m/first/a.jpg", headers=IMG).status_code == 200
        for _ in range(3):
            assert s.get("/m/last/a.jpg", headers=IMG).status_code == 200
        samples, _ = scrape(s)
        assert series(samples, "mediaguard_decisions_total") == {
            ("p000", "allow", "default-allow"): 1}
        assert series(samples, "mediaguard_decisions_unlisted_total") == {"": 3}
        # configuration-derived series still name every policy
        assert len(series(samples, "mediaguard_policy_loaded")) == 257
        assert "mediaguard_decisions_unlisted_total only" in s.error_log()
    finally:
        s.stop()


AUTH_POLICY = """\
version: 1
default: deny
login:
  url: /login
roles: [staff]
identity:
  users:
    bob: [staff]
rules:
  - id: staff
    path: /s/
    access: {anonymous: none, staff: download}
  - id: nav
    path: /nav/
    access: {anonymous: none, staff: download}
"""

AUTH_CONF = """\
MediaGuardPolicy staff @POLICIES@/s.yaml
<Location "/s/">
    AuthType Basic
    AuthName "media"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    Require media-guard staff
</Location>
<Location "/nav/">
    Require media-guard staff
</Location>
Alias "/nav/" "@HTDOCS@/s/"
<Location "/server-metrics">
    SetHandler media-guard-metrics
    MediaGuardMetrics On
    Require ip 127.0.0.1
</Location>
"""


def test_login_auth_and_the_decision_after_authentication_are_each_counted(apache_factory):
    from conftest import htpasswd
    s = apache_factory("metrics-auth", AUTH_CONF, policies={"s.yaml": AUTH_POLICY},
                       files={"s/a.jpg": JPEG, "login": "login\n"}, start=False)
    htpasswd(s.root / "htpasswd", {"bob": "bobpw"})
    s.start()
    try:
        nav = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
        assert s.get("/nav/a.jpg", headers=nav).status_code == 302        # login
        assert s.get("/s/a.jpg", headers=IMG).status_code == 401          # auth
        # credentials on the way: decided anonymously (auth), then as bob (allow)
        assert s.get("/s/a.jpg", headers=IMG, auth=("bob", "bobpw")).status_code == 200
        samples, _ = scrape(s)
        assert series(samples, "mediaguard_decisions_total") == {
            ("staff", "login", "login-required"): 1,
            ("staff", "auth", "login-required"): 2,
            ("staff", "allow", "allowed"): 1,
        }
    finally:
        s.stop()


# ------------------------------------------------------------------ .htaccess
# mod_userdir as Debian's userdir.conf sets it up: every user's public_html
# under AllowOverride FileInfo, which allows SetHandler, AddHandler, AddType
# (httpd takes a content type as the handler when none is set) and
# RewriteRule [H=] in a .htaccess.
USERDIR_CONF = CONF + """\
UserDir "@ROOT@/home/*/public_html"
<Directory "@ROOT@/home/*/public_html">
    AllowOverride FileInfo AuthConfig Limit Indexes
    Options SymLinksIfOwnerMatch
    Require all granted
</Directory>
<Location "/forgot/">
    SetHandler media-guard-metrics
</Location>
"""

HTACCESS = {
    "alice": "SetHandler media-guard-metrics\n",
    "bob": "AddHandler media-guard-metrics .txt\n",
    "carol": "AddType media-guard-metrics .txt\n",
    "dave": "RewriteEngine On\nRewriteRule ^ - [H=media-guard-metrics]\n",
    "eve": "MediaGuardMetrics On\nSetHandler media-guard-metrics\n",
}


def test_metrics_handler_set_from_htaccess_is_refused(apache_factory):
    s = apache_factory("metrics-htaccess", USERDIR_CONF,
                       policies={"a.yaml": POLICY, "b.yaml": OTHER}, files=FILES,
                       extra_modules=["userdir", "rewrite"], start=False)
    for user, htaccess in HTACCESS.items():
        d = s.root / "home" / user / "public_html"
        d.mkdir(parents=True)
        (d / ".htaccess").write_text(htaccess)
        (d / "stats.txt").write_text("a user's file\n")
        for p in (d, d.parent, d.parent.parent):
            p.chmod(0o755)
    s.start()
    try:
        assert s.get("/m/open/a.jpg", headers=IMG).status_code == 200
        mark = s.mark()
        for user in ("alice", "bob", "carol", "dave"):
            r = s.get(f"/~{user}/stats.txt")
            assert r.status_code == 403, (user, r.status_code, r.text)
            assert "mediaguard_" not in r.text, user
        log = s.error_log_since(mark)
        assert log.count("MG00504") == 4, log
        assert "handler set for /~alice/stats.txt where MediaGuardMetrics On is not in force" in log
        # the directive itself is not allowed in a .htaccess: httpd answers 500
        r = s.get("/~eve/stats.txt")
        assert r.status_code == 500 and "mediaguard_" not in r.text
        assert "MediaGuardMetrics not allowed here" in s.error_log_since(mark)
        # a <Location> with the handler but not the directive (a configuration
        # written before MediaGuardMetrics existed) refuses too
        r = s.get("/forgot/x")
        assert r.status_code == 403 and "mediaguard_" not in r.text
        # while the endpoint the server configuration enabled serves, and
        # counted the one decision above
        samples, _ = scrape(s)
        assert series(samples, "mediaguard_decisions_total") == {
            ("metrics-a", "allow", "allowed"): 1}
    finally:
        s.stop()


def test_metrics_directive_only_in_a_location(apache_factory):
    for where, conf in {
        "server": "MediaGuardMetrics On\n",
        "directory": '<Directory "@HTDOCS@/plain">\n    MediaGuardMetrics On\n</Directory>\n',
        "files": '<Files "metrics">\n    MediaGuardMetrics On\n</Files>\n',
    }.items():
        s = apache_factory(f"metrics-ctx-{where}", conf, files=FILES, start=False)
        rc, out = s.configtest()
        assert rc != 0, (where, out)
        assert "MediaGuardMetrics" in out, (where, out)
    s = apache_factory("metrics-ctx-location",
                       '<LocationMatch "^/metrics$">\n    MediaGuardMetrics On\n</LocationMatch>\n',
                       files=FILES, start=False)
    rc, out = s.configtest()
    assert rc == 0, out
