"""What operators see: notes and environment for LogFormat, the decision line in
the error log at a level chosen with LogLevel, the evaluator's trace at trace1."""

JPEG = b"\xff\xd8\xff\xe0 observability"
IMG = {"Accept": "image/webp,*/*"}

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

CONF = """\
MediaGuardPolicy obs @POLICIES@/obs.yaml
LogFormat "%>s env=%{MG_DECISION}e/%{MG_REASON}e/%{MG_RULE}e/%{MG_POLICY}e \\"%r\\"" mgenv
CustomLog "@ROOT@/logs/env.log" mgenv
<Location "/m/">
    Require media-guard obs
</Location>
"""

FILES = {"m/open/a.jpg": JPEG, "m/closed/a.jpg": JPEG}


def test_environment_variables_carry_the_decision(apache_factory):
    s = apache_factory("obs-env", CONF, policies={"obs.yaml": POLICY}, files=FILES)
    try:
        s.get("/m/open/a.jpg", headers=IMG)
        s.get("/m/closed/a.jpg", headers=IMG)
        s.stop()
        env_log = (s.root / "logs" / "env.log").read_text()
        assert '200 env=allow/allowed/open/obs "GET /m/open/a.jpg' in env_log
        assert '403 env=deny/role-insufficient/closed/obs "GET /m/closed/a.jpg' in env_log
    finally:
        s.stop()


def test_info_level_logs_refusals_but_not_grants(apache_factory):
    s = apache_factory("obs-info", CONF, policies={"obs.yaml": POLICY}, files=FILES,
                       loglevel="info")
    try:
        s.get("/m/open/a.jpg", headers=IMG)
        s.get("/m/closed/a.jpg", headers=IMG)
        log = s.error_log()
        assert "decision=deny reason=role-insufficient rule=closed" in log
        assert "path=/m/closed/a.jpg" in log
        # the tag admins search for (docs/directives.md, "Error-log messages")
        assert "MG00203: media-guard policy=obs decision=deny" in log
        assert "decision=allow" not in log
        assert "trace:" not in log
    finally:
        s.stop()


def test_trace1_logs_the_evaluation_steps(apache_factory):
    s = apache_factory("obs-trace", CONF, policies={"obs.yaml": POLICY}, files=FILES,
                       loglevel="trace1")
    try:
        s.get("/m/open/a.jpg", headers=IMG)
        log = s.error_log()
        assert "MG00201: media-guard obs trace: rule 'open' owns /m/open/a.jpg" in log
        assert "decision=allow reason=allowed rule=open" in log
    finally:
        s.stop()


def test_warn_level_is_silent_about_decisions(apache_factory):
    s = apache_factory("obs-warn", CONF, policies={"obs.yaml": POLICY}, files=FILES,
                       loglevel="warn")
    try:
        s.get("/m/closed/a.jpg", headers=IMG)
        assert "media-guard policy=" not in s.error_log()
        assert "mg=deny reason=role-insufficient rule=closed" in s.last_access("/m/closed/a.jpg")
    finally:
        s.stop()


def test_reason_header_is_off_by_default(apache_factory):
    s = apache_factory("obs-noheader", CONF, policies={"obs.yaml": POLICY}, files=FILES)
    try:
        r = s.get("/m/closed/a.jpg", headers=IMG)
        assert r.status_code == 403
        assert "X-Media-Guard-Reason" not in r.headers
    finally:
        s.stop()
