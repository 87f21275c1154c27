"""Configuration-time behaviour: `apache2 -t` refuses bad policies with
file:line:column, names are resolved at configuration time, and a graceful
reload with a broken policy keeps the last good one serving."""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import APACHE

JPEG = b"\xff\xd8\xff\xe0 reload"
IMG = {"Accept": "image/webp,*/*"}

GOOD_OPEN = """\
version: 1
default: deny
rules:
  - id: open
    path: /media/
    access: {anonymous: view}
"""

GOOD_CLOSED = """\
version: 1
default: deny
rules:
  - id: closed
    path: /media/
    access: {anonymous: none}
"""

# two independent errors: an unknown key on line 3 and a bad CIDR on line 7
BROKEN = """\
version: 1
default: deny
rols: [x]
rules:
  - id: a
    path: /media/
    ip: {allow: [10.0.0.300/8]}
    access: {anonymous: view}
"""

CONF = """\
MediaGuardPolicy p @POLICIES@/p.yaml
MediaGuardReasonHeader On
<Location "/media/">
    Require media-guard p
</Location>
"""


def make(apache_factory, name, policy, conf=CONF, start=False):
    return apache_factory(name, conf, policies={"p.yaml": policy},
                          files={"media/a.jpg": JPEG}, start=start)


def test_configtest_accepts_a_good_policy(apache_factory):
    s = make(apache_factory, "t-good", GOOD_OPEN)
    rc, out = s.configtest()
    assert rc == 0, out
    assert "Syntax OK" in out


def test_configtest_refuses_a_broken_policy_with_every_file_line_column(apache_factory):
    s = make(apache_factory, "t-broken", BROKEN)
    rc, out = s.configtest()
    assert rc != 0
    path = re.escape(str(s.policy_dir / "p.yaml"))
    assert re.search(path + r":3:\d+: error: ", out), out
    assert re.search(path + r":7:\d+: error: ", out), out
    assert "MediaGuardPolicy p:" in out


def test_first_start_with_a_broken_policy_fails(apache_factory):
    s = make(apache_factory, "start-broken", BROKEN)
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert re.search(r"p\.yaml:3:\d+", str(e.value))


def test_missing_policy_file_is_a_config_error(apache_factory):
    s = apache_factory("t-missing", CONF, start=False)
    rc, out = s.configtest()
    assert rc != 0 and "cannot open the policy: No such file or directory" in out


@pytest.mark.parametrize("conf,message", [
    ("<Location /media/>\n Require media-guard nosuch\n</Location>\n",
     "Require media-guard nosuch: no policy of that name"),
    ("<Location /media/>\n Require media-guard p\n</Location>\nMediaGuardPolicy p @POLICIES@/p.yaml\n",
     "Require media-guard p: no policy of that name"),
    ("MediaGuardPolicy p @POLICIES@/p.yaml\nMediaGuardPolicy p @POLICIES@/p.yaml\n",
     "already declared"),
    ("MediaGuardPolicy 'bad name' @POLICIES@/p.yaml\n", "must be 1 to 64"),
    ("MediaGuardPolicy p @POLICIES@/p.yaml\n<Location /media/>\n Require media-guard p q\n</Location>\n",
     "exactly one policy name"),
    ("<Location /media/>\n MediaGuardPolicy p @POLICIES@/p.yaml\n</Location>\n",
     "MediaGuardPolicy not allowed"),
])
def test_configuration_mistakes_are_refused_at_configtest(apache_factory, conf, message):
    s = apache_factory("t-conf", conf, policies={"p.yaml": GOOD_OPEN}, start=False)
    rc, out = s.configtest()
    assert rc != 0
    assert message in out, out


@pytest.mark.parametrize("name,hint", [
    ("mysit", "did you mean 'mysite'?"),
    ("Mysite", "did you mean 'mysite'?"),
    ("other", None),
])
def test_an_unknown_policy_name_suggests_a_declared_one(apache_factory, name, hint):
    """review4 #6: a misspelt `Require media-guard NAME` names the declared policy it is closest to."""
    conf = ("MediaGuardPolicy mysite @POLICIES@/p.yaml\n"
            "MediaGuardPolicy video @POLICIES@/p.yaml\n"
            "<Location /media/>\n Require media-guard %s\n</Location>\n" % name)
    s = apache_factory("t-suggest", conf, policies={"p.yaml": GOOD_OPEN}, start=False)
    rc, out = s.configtest()
    assert rc != 0
    assert "Require media-guard %s: no policy of that name" % name in out, out
    if hint:
        assert hint in out, out
    else:
        assert "did you mean" not in out, out


def test_warnings_do_not_fail_configtest(apache_factory):
    shadowed = GOOD_OPEN + """\
  - id: open-again
    path: /media/
    access: {anonymous: none}
"""
    s = make(apache_factory, "t-warn", shadowed)
    rc, out = s.configtest()
    assert rc == 0, out
    assert re.search(r"p\.yaml:7:\d+: warning: rule 'open-again'", out), out
    assert "Syntax OK" in out


# ------------------------------------------------------------------ graceful reload

def test_graceful_reload_with_a_good_policy_switches_decisions(apache_factory):
    s = make(apache_factory, "reload-good", GOOD_OPEN, start=True)
    try:
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
        s.graceful(new_policies={"p.yaml": GOOD_CLOSED})
        r = s.get("/media/a.jpg", headers=IMG)
        assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "role-insufficient"
        s.graceful(new_policies={"p.yaml": GOOD_OPEN}, method="k")
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
    finally:
        s.stop()


def test_graceful_reload_with_a_broken_policy_keeps_the_old_one(apache_factory):
    s = make(apache_factory, "reload-broken", GOOD_OPEN, start=True)
    try:
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
        mark = s.mark()
        s.graceful(new_policies={"p.yaml": BROKEN})          # SIGUSR1 to the running parent
        assert s.alive()
        for _ in range(5):
            assert s.get("/media/a.jpg", headers=IMG).status_code == 200
        log = s.error_log_since(mark)
        assert re.search(r"p\.yaml:3:\d+: error: ", log), log
        assert re.search(r"p\.yaml:7:\d+: error: ", log), log
        assert "last good version" in log and "keeps serving" in log
        # and every decision made with it says so
        assert "its file was refused on reload" in s.error_log_since(mark)

        # a second broken reload still has the same good version
        s.graceful(new_policies={"p.yaml": BROKEN + "\n# still broken\n"})
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200

        # and fixing the file takes effect on the next reload
        s.graceful(new_policies={"p.yaml": GOOD_CLOSED})
        assert s.get("/media/a.jpg", headers=IMG).status_code == 403
    finally:
        s.stop()


def test_apache2_k_graceful_with_a_broken_policy_refuses_and_the_server_keeps_serving(
        apache_factory):
    s = make(apache_factory, "reload-k", GOOD_OPEN, start=True)
    try:
        rc, out = s.graceful(new_policies={"p.yaml": BROKEN}, method="k")
        assert rc != 0
        assert re.search(r"p\.yaml:3:\d+: error: ", out), out
        assert s.alive()
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
    finally:
        s.stop()


def test_reload_adding_a_new_broken_policy_denies_under_it_and_keeps_the_server(apache_factory):
    s = make(apache_factory, "reload-new", GOOD_OPEN, start=True)
    try:
        conf = CONF + """\
MediaGuardPolicy fresh @POLICIES@/fresh.yaml
<Location "/fresh/">
    Require media-guard fresh
</Location>
"""
        s.graceful(new_conf_snippet=conf, new_policies={"fresh.yaml": BROKEN})
        assert s.alive()
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
        r = s.get("/fresh/a.jpg", headers=IMG)
        # an internal error, not a refusal: 500, so no composition can turn it into a grant
        assert r.status_code == 500 and r.headers["X-Media-Guard-Reason"] == "internal-error"
        assert "no good version of it can be rebuilt" in s.error_log()
    finally:
        s.stop()


def test_require_not_cannot_turn_an_internal_error_into_a_grant(apache_factory):
    # RequireAll { all granted; not media-guard P }: a refusal of P under `not` is neutral, so the
    # request would be granted if the module reported "policy never loaded" as a refusal
    conf = """\
MediaGuardPolicy p @POLICIES@/p.yaml
MediaGuardPolicy fresh @POLICIES@/fresh.yaml
<Location "/media/">
    <RequireAll>
        Require all granted
        Require not media-guard fresh
    </RequireAll>
</Location>
"""
    s = apache_factory("reload-not", conf, policies={"p.yaml": GOOD_OPEN, "fresh.yaml": GOOD_CLOSED},
                       files={"media/a.jpg": JPEG})
    try:
        # GOOD_CLOSED refuses everything: under `not` that is neutral, and `all granted` grants
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
        s.graceful(new_policies={"fresh.yaml": BROKEN})
        assert s.alive()
        # kept as the last good version: same answer
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
        conf2 = conf.replace("fresh.yaml", "fresh2.yaml")
        s.graceful(new_conf_snippet=conf2, new_policies={"fresh2.yaml": BROKEN})
        assert s.alive()
        r = s.get("/media/a.jpg", headers=IMG)
        assert r.status_code == 500, r.status_code
        assert JPEG not in r.content
    finally:
        s.stop()


def test_reload_failure_deny_serves_nothing_under_a_policy_refused_on_reload(apache_factory):
    # e.g. an edit that retires a compromised key but has a typo: the last good version would still trust it
    conf = "MediaGuardReloadFailure deny\n" + CONF
    s = make(apache_factory, "reload-deny", GOOD_OPEN, conf=conf, start=True)
    try:
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
        mark = s.mark()
        s.graceful(new_policies={"p.yaml": BROKEN})
        assert s.alive()
        r = s.get("/media/a.jpg", headers=IMG)
        assert r.status_code == 500 and r.headers["X-Media-Guard-Reason"] == "internal-error"
        assert JPEG not in r.content
        assert "MediaGuardReloadFailure is deny" in s.error_log_since(mark)
        s.graceful(new_policies={"p.yaml": GOOD_OPEN})
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
    finally:
        s.stop()


def test_reload_failure_takes_keep_or_deny_in_the_server_config_only(apache_factory):
    s = make(apache_factory, "reload-bad-arg", GOOD_OPEN, conf="MediaGuardReloadFailure maybe\n" + CONF)
    rc, out = s.configtest()
    assert rc != 0 and "MediaGuardReloadFailure must be 'keep' or 'deny'" in out
    s = make(apache_factory, "reload-in-location", GOOD_OPEN,
             conf=CONF + '<Location "/x/">\n    MediaGuardReloadFailure deny\n</Location>\n')
    rc, out = s.configtest()
    assert rc != 0 and "MediaGuardReloadFailure" in out


KEYED_OPEN = """\
version: 1
default: deny
keys:
  - {id: k1, file: keys/k1.key}
rules:
  - id: open
    path: /media/
    access: {anonymous: view}
"""


def test_configuration_warnings_are_logged_once_per_start_reload_and_configtest(
        apache_factory):
    """httpd reads its configuration twice when it starts (the first
    reading's output goes to the terminal, the second's to the error log;
    post_config runs after both), once under `apache2 -t` and once per
    graceful restart. Each warning about the configuration — here the policy
    and its key file writable or readable by others, and the MediaGuardStore
    password file readable by others — is said exactly once each time: in
    `apache2 -t`'s output; in the error log, and not on the terminal, of a
    start in the foreground and of a daemon start (`apache2 -k start`, as
    apache2ctl and the systemd unit start it); in the error log of a
    SIGUSR1 restart and of `apache2 -k graceful`, whose own output stays
    quiet. Nothing listens on the store's port: nothing connects before a
    request needs the store."""
    srv = apache_factory(
        "warn-once",
        "MediaGuardStore redis://127.0.0.1:1/0?password_file=@ROOT@/redis.pw\n"
        "MediaGuardPolicy p @POLICIES@/p.yaml\n",
        policies={"p.yaml": KEYED_OPEN}, start=False)
    key = srv.policy_dir / "keys" / "k1.key"
    key.parent.mkdir()
    key.parent.chmod(0o775)
    key.write_text("mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n")
    key.chmod(0o644)
    (srv.root / "redis.pw").write_text("pw\n")
    (srv.root / "redis.pw").chmod(0o644)
    warnings = {
        "directory": "warning: directory '%s' above key file '%s' of key 'k1' is writable by "
                     "its group" % (key.parent, key),
        "key": "key file '%s' of key 'k1' is readable by group or others" % key,
        "store": "MG00611: MediaGuardStore redis://127.0.0.1:1/0?password_file=%s: warning: "
                 "password_file '%s' is readable by group or others" % (
                     srv.root / "redis.pw", srv.root / "redis.pw"),
    }
    stderr_log = srv.root / "logs" / "stderr.log"

    def counts(text):
        return {k: text.count(w) for k, w in warnings.items()}

    once, none = dict.fromkeys(warnings, 1), dict.fromkeys(warnings, 0)
    rc, out = srv.configtest()
    assert rc == 0 and counts(out) == once, out
    srv.start()
    try:
        assert srv.get("/media/x.jpg").status_code == 404  # the policy serves
        assert counts(srv.error_log()) == once, srv.error_log()
        assert counts(stderr_log.read_text()) == none, stderr_log.read_text()
        mark = srv.mark()
        srv.graceful()
        assert counts(srv.error_log_since(mark)) == once, srv.error_log_since(mark)
        mark = srv.mark()
        rc, out = srv.graceful(method="k")
        assert rc == 0 and counts(out) == none, out
        assert counts(srv.error_log_since(mark)) == once, srv.error_log_since(mark)
        assert counts(stderr_log.read_text()) == none, stderr_log.read_text()
    finally:
        srv.stop()
    # a daemon start: the first reading's stderr is the terminal
    srv.error_log_path.unlink()
    pidfile = srv.root / "logs" / "httpd.pid"
    p = subprocess.run([APACHE, "-f", str(srv.conf_file), "-k", "start"], capture_output=True,
                       text=True, env=srv._env(), timeout=30)
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        assert counts(p.stdout + p.stderr) == none, p.stdout + p.stderr
        deadline = time.time() + 15
        while srv.generations() < 1 and time.time() < deadline:
            time.sleep(0.05)
        assert srv.generations() == 1, srv.error_log()
        assert counts(srv.error_log()) == once, srv.error_log()
    finally:
        pid = int(pidfile.read_text()) if pidfile.exists() else None
        subprocess.run([APACHE, "-f", str(srv.conf_file), "-k", "stop"], capture_output=True,
                       env=srv._env(), timeout=30)
        deadline = time.time() + 15
        while pid is not None and time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            if pid is not None:
                os.kill(pid, signal.SIGKILL)


def test_a_tzdata_upgrade_takes_effect_at_the_next_graceful_reload(apache_factory, monkeypatch):
    """A zone's TZif file is read with the policy, into memory: a running server keeps the rules it loaded
    when the package manager replaces the file (an atomic rename, as dpkg does), and a graceful reload
    picks the new file up (docs/policy.md, "Time zone data"). Modelled with MG_ZONEINFO: Test/Zone is
    UTC first, then UTC+12 (Etc/GMT-12); the window is the 3 hours around now in UTC, so under UTC+12
    it does not hold. Then the directory itself goes: the reload names it and refuses every request (fail closed)."""
    h = time.gmtime().tm_hour
    hours = "%02d:00-%02d:00" % ((h - 1) % 24, (h + 2) % 24 or 24)
    policy = GOOD_OPEN.replace("rules:\n", "time_windows:\n  around-now: {timezone: Test/Zone, hours: [\"%s\"]}\n"
                               "rules:\n" % hours).replace("    access: {anonymous: view}\n",
                                                         "    time: around-now\n    access: {anonymous: view}\n")
    s = make(apache_factory, "tzdata-upgrade", policy)
    zi = s.root / "zoneinfo"
    (zi / "Test").mkdir(parents=True)
    zone = zi / "Test" / "Zone"
    zone.write_bytes(open("/usr/share/zoneinfo/Etc/UTC", "rb").read())
    monkeypatch.setenv("MG_ZONEINFO", str(zi))
    s.start()
    try:
        assert s.get("/media/a.jpg", headers=IMG).status_code == 200
        new = zi / "Test" / "Zone.new"
        new.write_bytes(open("/usr/share/zoneinfo/Etc/GMT-12", "rb").read())
        os.rename(new, zone)
        # the running server keeps the rules it read
        r = s.get("/media/a.jpg", headers=IMG)
        assert r.status_code == 200, r.headers.get("X-Media-Guard-Reason")
        s.graceful()
        r = s.get("/media/a.jpg", headers=IMG)
        assert r.status_code == 403 and r.headers["X-Media-Guard-Reason"] == "outside-time-window"
        # the whole zoneinfo directory gone at a reload (tzdata purged, a chroot): the policy is refused
        # with the directory named; its last good text needs the zone too, so it cannot be rebuilt and
        # every request under it is refused (MG00104, docs/directives.md "Graceful reload"), the server up
        os.rename(zi, s.root / "zoneinfo.gone")
        mark = s.mark()
        s.graceful()
        assert s.alive()
        log = s.error_log_since(mark)
        assert "unknown time zone 'Test/Zone': there is no time zone database at %s ($MG_ZONEINFO)" % zi in log, log
        assert "MG00104" in log, log
        r = s.get("/media/a.jpg", headers=IMG)
        assert r.status_code == 500 and r.headers["X-Media-Guard-Reason"] == "internal-error"
        assert JPEG not in r.content
        os.rename(s.root / "zoneinfo.gone", zi)
        s.graceful()
        assert s.get("/media/a.jpg", headers=IMG).status_code == 403
    finally:
        s.stop()
