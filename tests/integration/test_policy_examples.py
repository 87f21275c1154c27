"""The shipped example policies decide in Apache what their test files say.

`mgctl test` runs policies/tests/*.test.yaml through libmg; here every case
that a real request can reproduce is sent to Apache with the policy loaded by
mod_media_guard, and the decision, rule and reason in the access log, the HTTP
status, the login Location, the deny message and the CORP header are checked
against the same expectations.

A case cannot be reproduced, and is skipped with the reason, when it needs
what a client cannot choose: a fixed time on a rule with time windows, a TCP
peer other than 127.0.0.1, request notes, roles given directly, a country
bypassing the policy's source, or an absolute URL.
"""

import base64
import re
from pathlib import Path

import pytest
import yaml

from conftest import htpasswd

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def _null(v):
    # the test files are read with BaseLoader (every scalar a string, as
    # mgctl reads them): spell YAML's nulls ourselves
    return v is None or v in ("~", "null", "Null", "NULL", "")


def _merge(defaults, request):
    req = {k: v for k, v in defaults.items()}
    for k, v in request.items():
        if k in ("headers", "env", "notes"):
            m = dict(req.get(k) or {})
            for name, val in (v or {}).items():
                if _null(val):
                    m = {n: x for n, x in m.items() if n.lower() != name.lower()}
                else:
                    m = {n: x for n, x in m.items() if n.lower() != name.lower()}
                    m[name] = val
            req[k] = m
        elif _null(v):
            req.pop(k, None)
        else:
            req[k] = v
    return req


def _time_rules(policy):
    return {r["id"] for r in policy.get("rules", []) if r.get("time")}


def _cases():
    out = []
    for tf in sorted((POLICIES / "tests").glob("*.test.yaml")):
        doc = yaml.load(tf.read_text(), Loader=yaml.BaseLoader)
        pfile = (tf.parent / doc["policy"]).resolve()
        policy = yaml.safe_load(pfile.read_text())
        timed = _time_rules(policy)
        for t in doc["tests"]:
            req = _merge(doc.get("defaults") or {}, t["request"])
            exp = t["expect"]
            why = None
            if exp.get("rule") in timed:
                why = "a rule with time windows: Apache decides at the real time"
            elif re.search(r"%2[fF]", req["url"]):
                why = "Apache refuses an encoded slash itself (AllowEncodedSlashes Off), before authz"
            elif "peer" in req:
                why = "Apache's TCP peer is always 127.0.0.1"
            elif req.get("notes"):
                why = "request notes cannot be sent by a client"
            elif req.get("roles"):
                why = "roles given directly exist only in mgctl"
            elif "country" in req:
                why = "country bypassing the policy's source exists only in mgctl"
            elif not req["url"].startswith("/"):
                why = "absolute URL"
            out.append(pytest.param(pfile, policy, req, exp,
                                    id=f"{tf.stem.replace('.test', '')}: {t['name']}",
                                    marks=[pytest.mark.skip(reason=why)] if why else []))
    return out


CASES = _cases()


def _conf(name, env_names):
    setenv = "\n".join(f'SetEnvIf X-Test-Env-{n} "^(.+)$" {n}=$1' for n in sorted(env_names))
    return f"""\
MediaGuardPolicy {name} @POLICIES@/{name}.yaml
RemoteIPHeader X-Test-Client-IP
RemoteIPInternalProxy 127.0.0.1
{setenv}
<Location "/">
    AuthType Basic
    AuthName "{name}"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    # a signed-in user who is refused gets the policy's status, not Basic's 401
    AuthzSendForbiddenOnFailure On
    Require media-guard {name}
</Location>
"""


@pytest.fixture(scope="module")
def servers(apache_factory):
    """One Apache per example policy, with every user of its tests."""
    made = {}
    for pfile in sorted({c.values[0] for c in CASES}):
        name = pfile.stem
        cases = [c.values for c in CASES if c.values[0] == pfile]
        users = {r["user"] for _, _, r, _ in cases if r.get("user")}
        env_names = {n for _, _, r, _ in cases for n in (r.get("env") or {})}
        # files for plain paths, so that an allowed request is a 200
        files = {}
        for _, _, r, e in cases:
            path = r["url"].split("?", 1)[0]
            if e.get("decision") == "allow" and re.fullmatch(r"(/[A-Za-z0-9._-]+)+", path):
                files[path.lstrip("/")] = b"example media"
        srv = apache_factory(f"examples-{name}", _conf(name, env_names),
                             policies={f"{name}.yaml": pfile.read_text()}, files=files,
                             extra_modules=["remoteip"], start=False)
        htpasswd(srv.root / "htpasswd", {u: u for u in users} or {"nobody-signs-in": "x"})
        made[pfile] = srv.start()
    return made


@pytest.mark.parametrize("pfile,policy,req,exp", CASES)
def test_apache_decides_like_the_policy_test(servers, pfile, policy, req, exp):
    srv = servers[pfile]
    headers = dict(req.get("headers") or {})
    headers["X-Test-Client-IP"] = req.get("ip", "127.0.0.1")
    for n, v in (req.get("env") or {}).items():
        headers[f"X-Test-Env-{n}"] = v
    if req.get("user"):
        cred = f"{req['user']}:{req['user']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
    # a marker makes the access-log line unique to this request
    marker = f"mgex={srv.requests_sent + 1}"
    url = req["url"] + ("&" if "?" in req["url"] else "?") + marker
    # a header naming the request target (X-Original-URI from a front that
    # did not rewrite) names it with the marker, as that front would
    headers = {k: (url if v == req["url"] else v) for k, v in headers.items()}
    resp = srv.raw(url, headers=headers, method=req.get("method", "GET"))

    line = srv.last_access(marker)
    assert line, srv.access_log()
    got = dict(kv.split("=", 1) for kv in line.split() if kv.split("=")[0] in
               ("mg", "reason", "rule"))
    assert got["mg"] == exp["decision"], line
    if "rule" in exp:
        assert got["rule"] == ("-" if _null(exp["rule"]) else exp["rule"]), line
    if "reason" in exp:
        assert got["reason"] == exp["reason"], line

    hdrs = resp.headers  # case-insensitive
    if exp["decision"] == "allow":
        path = req["url"].split("?", 1)[0]
        assert resp.status_code == (200 if (srv.htdocs / path.lstrip("/")).is_file() else 404), line
    elif exp["decision"] == "auth":
        assert resp.status_code == 401, line
    elif exp["decision"] == "login":
        assert resp.status_code == 302, line
        if not _null(exp.get("location")) and "location" in exp:
            # the marker rides along in the return URL; compare without it
            loc = re.sub(r"(%3F|%26)mgex%3D\d+", "", hdrs["location"])
            assert loc.endswith(exp["location"]), (hdrs["location"], exp["location"])
    else:
        assert resp.status_code == int(exp.get("status", 403)), line
        if not _null(exp.get("message")) and "message" in exp:
            assert exp["message"] in resp.text, resp.text
    if "corp" in exp and not _null(exp["corp"]):
        assert hdrs.get("cross-origin-resource-policy") == exp["corp"], hdrs
