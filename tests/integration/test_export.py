"""MediaGuardExport (issue 13, fourth round): where a decision's MG_DECISION,
MG_REASON, MG_RULE and MG_POLICY go. The default sets them in the request
notes and in the environment, as every release did, for every reader: the
shipped `media_guard` LogFormat (notes), `%{...}e`, mod_headers, `Require env`
in the same <RequireAll>, CGI. `MediaGuardExport notes` (env, none) leaves
the rest out: the decision, the refusal, its reason header and its error-log
line are the same, only the readers of what is left out see nothing, and a
sub-request does not see its parent's decision as its own. `apache2 -t`
refuses unknown values and warns about a `Require env MG_...` the setting
leaves without a decision."""

import os
import re

import pytest

from conftest import SRCDIR

JPEG = b"\xff\xd8\xff\xe0 export"
IMG = {"Accept": "image/webp,*/*"}
UNSET = "(null)"  # what mod_headers writes for %{NAME}e of an unset variable

POLICY = """\
version: 1
default: deny
rules:
  - id: open
    path: /
    access: {anonymous: view}
  - id: closed
    path: "/*/secret.jpg"
    access: {anonymous: none}
    login: false
"""

NAMES = ("MG_DECISION", "MG_REASON", "MG_RULE", "MG_POLICY")
# an SSI page that prints what its environment holds of the decision
# (mod_include's "(none)" when nothing): the same r->subprocess_env a CGI gets
SSI = "".join(f'{n}=<!--#echo var="{n}" -->\n' for n in NAMES)
NONE = [f"{n}=(none)" for n in NAMES]
ALLOW = ["MG_DECISION=allow", "MG_REASON=allowed", "MG_RULE=open", "MG_POLICY=ex"]

# a CGI that prints what it got of the decision ("unset" when nothing)
CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\n\\n'
for n in MG_DECISION MG_REASON MG_RULE MG_POLICY; do
    eval "v=\\${$n-unset}"
    printf '%s=%s\\n' "$n" "$v"
done
"""


def shipped_log_format():
    """The `media_guard` LogFormat line exactly as media_guard.conf ships it."""
    text = (SRCDIR / "mod_media_guard" / "media_guard.conf").read_text()
    line = next(ln.strip() for ln in text.splitlines()
                if ln.strip().startswith("LogFormat") and ln.strip().endswith(" media_guard"))
    return line


def section(prefix, export):
    line = f"    MediaGuardExport {export}\n" if export else ""
    return f"""<Location "/{prefix}/">
    Require media-guard ex
{line}    MediaGuardReasonHeader On
    Header always set X-Env-Decision "%{{MG_DECISION}}e"
</Location>
"""


CONF = (shipped_log_format() + """
CustomLog "@ROOT@/logs/shipped.log" media_guard
LogFormat "%>s %U env=%{MG_DECISION}e/%{MG_REASON}e/%{MG_RULE}e/%{MG_POLICY}e" mgenv
CustomLog "@ROOT@/logs/env.log" mgenv
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
<Directory "@HTDOCS@">
    Options +Includes
</Directory>
MediaGuardPolicy ex @POLICIES@/ex.yaml
""" + section("d", None) + section("n", "notes") + section("e", "env")
    + section("x", "none") + """
# the setting from the <Directory>, the reason header from the <Location>:
# httpd merges the two for every request
<Directory "@HTDOCS@/v">
    MediaGuardExport notes
</Directory>
<Location "/v/">
    Require media-guard ex
    MediaGuardReasonHeader On
    Header always set X-Env-Decision "%{MG_DECISION}e"
</Location>
# the setting from an .htaccess file (AllowOverride AuthConfig)
<Location "/h/">
    Require media-guard ex
    Header always set X-Env-Decision "%{MG_DECISION}e"
</Location>
# sub-requests read their own environment right after their own decision
<LocationMatch "^/[dn]/sub/">
    <RequireAll>
        Require media-guard ex
        Require env MG_DECISION
    </RequireAll>
</LocationMatch>
# a reader of the environment in the same <RequireAll>, right after the decision
<Location "/r/">
    <RequireAll>
        Require media-guard ex
        Require env MG_DECISION
    </RequireAll>
</Location>
""")

FILES = {}
for _p in ("d", "n", "e", "x", "r", "v", "h"):
    FILES[f"{_p}/a.jpg"] = JPEG
    FILES[f"{_p}/secret.jpg"] = JPEG
    FILES[f"{_p}/env.shtml"] = SSI
FILES["h/.htaccess"] = "MediaGuardExport notes\n"
# an SSI page under the default that includes a file under `notes` and one
# under the default: sub-requests, which start with a copy of the page's
# environment, and are decided with `Require env MG_DECISION` after their own
# decision (/[dn]/sub/ above). Under `notes` the copy of the page's
# MG_DECISION must not count as the sub-request's own.
FILES["d/page.shtml"] = ('{<!--#include virtual="/n/sub/probe.txt" -->}\n'
                         '{<!--#include virtual="/d/sub/probe.txt" -->}\n')
FILES["n/sub/probe.txt"] = "included"
FILES["d/sub/probe.txt"] = "included"


def start(apache_factory, name="export", conf=CONF, **kw):
    return apache_factory(name, conf, policies={"ex.yaml": POLICY}, files=FILES,
                          extra_modules=["headers", "include"], **kw)


def lines(path):
    return path.read_text().splitlines()


def logged(shipped, path, status, decision):
    """The shipped media_guard format wrote `decision` for GET path with status."""
    return any(f'"GET {path} HTTP/1.1" {status}' in ln and decision in ln for ln in shipped)


DENIED = "mg=deny reason=role-insufficient rule=closed policy=ex"
ALLOWED = "mg=allow reason=allowed rule=open policy=ex"


def test_default_sets_notes_and_environment_for_every_reader(apache_factory):
    s = start(apache_factory, "export-default")
    try:
        r = s.get("/d/a.jpg", headers=IMG)
        assert r.status_code == 200
        assert r.headers["X-Env-Decision"] == "allow"           # mod_headers, %{...}e
        r = s.get("/d/secret.jpg", headers=IMG)
        assert r.status_code == 403
        assert r.headers["X-Env-Decision"] == "deny"
        assert r.headers["X-Media-Guard-Reason"] == "role-insufficient"
        r = s.get("/d/env.shtml")                                # SSI
        assert r.status_code == 200 and r.text.split() == ALLOW
        # Require env MG_DECISION after the decision in the same <RequireAll>
        assert s.get("/r/a.jpg", headers=IMG).status_code == 200
        s.stop()
        shipped = lines(s.root / "logs" / "shipped.log")
        assert logged(shipped, "/d/a.jpg", 200, ALLOWED)
        assert logged(shipped, "/d/secret.jpg", 403, DENIED)
        env = lines(s.root / "logs" / "env.log")
        assert "200 /d/a.jpg env=allow/allowed/open/ex" in env
        assert "403 /d/secret.jpg env=deny/role-insufficient/closed/ex" in env
        assert "200 /r/a.jpg env=allow/allowed/open/ex" in env
    finally:
        s.stop()


def test_notes_only_keeps_the_decision_the_log_and_the_refusal(apache_factory):
    s = start(apache_factory, "export-notes", loglevel="info")
    try:
        r = s.get("/n/a.jpg", headers=IMG)
        assert r.status_code == 200 and r.content == JPEG
        assert r.headers["X-Env-Decision"] == UNSET    # nothing in the environment
        r = s.get("/n/secret.jpg", headers=IMG)
        assert r.status_code == 403                              # still refused
        assert r.headers["X-Media-Guard-Reason"] == "role-insufficient"
        assert r.headers["Cache-Control"] == "private, no-store"
        assert r.headers["X-Env-Decision"] == UNSET
        r = s.get("/n/env.shtml")
        assert r.status_code == 200 and r.text.split() == NONE
        # the same from a <Directory>, merged with the <Location>'s reason header
        r = s.get("/v/secret.jpg", headers=IMG)
        assert r.status_code == 403
        assert r.headers["X-Media-Guard-Reason"] == "role-insufficient"
        assert r.headers["X-Env-Decision"] == UNSET
        # and from an .htaccess file
        r = s.get("/h/secret.jpg", headers=IMG)
        assert r.status_code == 403 and r.headers["X-Env-Decision"] == UNSET
        assert s.get("/h/env.shtml").text.split() == NONE
        # the refusal's line in the error log, as without the setting
        assert re.search(r"MG00203: media-guard policy=ex decision=deny reason=role-insufficient "
                         r"rule=closed user=- path=/n/secret\.jpg", s.error_log())
        s.stop()
        shipped = lines(s.root / "logs" / "shipped.log")
        assert logged(shipped, "/n/a.jpg", 200, ALLOWED)
        assert logged(shipped, "/n/secret.jpg", 403, DENIED)
        assert logged(shipped, "/v/secret.jpg", 403, DENIED)
        env = lines(s.root / "logs" / "env.log")
        assert "403 /v/secret.jpg env=-/-/-/-" in env
        assert "403 /h/secret.jpg env=-/-/-/-" in env
        assert logged(shipped, "/h/secret.jpg", 403, DENIED)
        assert "200 /n/a.jpg env=-/-/-/-" in env
        assert "403 /n/secret.jpg env=-/-/-/-" in env
    finally:
        s.stop()


def test_env_only_and_none(apache_factory):
    s = start(apache_factory, "export-env-none", loglevel="info")
    try:
        # env: the environment's readers see it, the notes' do not
        r = s.get("/e/secret.jpg", headers=IMG)
        assert r.status_code == 403 and r.headers["X-Env-Decision"] == "deny"
        assert s.get("/e/env.shtml").text.split() == ALLOW
        # none: neither, and the refusal is still a refusal with its reason
        r = s.get("/x/secret.jpg", headers=IMG)
        assert r.status_code == 403
        assert r.headers["X-Media-Guard-Reason"] == "role-insufficient"
        assert r.headers["X-Env-Decision"] == UNSET
        assert s.get("/x/a.jpg", headers=IMG).status_code == 200
        assert "path=/x/secret.jpg" in s.error_log()
        s.stop()
        shipped = lines(s.root / "logs" / "shipped.log")
        for path, status in (("/e/secret.jpg", 403), ("/x/secret.jpg", 403), ("/x/a.jpg", 200)):
            assert logged(shipped, path, status, "mg=- reason=- rule=- policy=-"), path
        env = lines(s.root / "logs" / "env.log")
        assert "403 /e/secret.jpg env=deny/role-insufficient/closed/ex" in env
        assert "403 /x/secret.jpg env=-/-/-/-" in env
    finally:
        s.stop()


def test_a_sub_request_without_env_does_not_see_its_parents_decision(apache_factory):
    s = start(apache_factory, "export-subreq")
    try:
        r = s.get("/d/page.shtml")
        assert r.status_code == 200
        parts = re.findall(r"{(.*?)}", r.text, re.S)
        assert len(parts) == 2, r.text
        # the page's own decision (allow/open) is in its environment, which
        # the sub-request copies: under `notes` Require env finds none of it
        # (refused), under the default it finds the sub-request's own
        assert parts[0] == "[an error occurred while processing this directive]"
        assert parts[1] == "included"
    finally:
        s.stop()


def test_require_env_after_the_decision_needs_the_environment(apache_factory):
    conf = CONF.replace("""        Require env MG_DECISION
    </RequireAll>""", """        Require env MG_DECISION
    </RequireAll>
    MediaGuardExport notes""")
    s = start(apache_factory, "export-require-env", conf=conf)
    try:
        # the documented consequence, which configtest warns about (below)
        assert s.get("/r/a.jpg", headers=IMG).status_code == 403
    finally:
        s.stop()


CGI_CONF = """\
ScriptSock "@ROOT@/run/cgid.sock"
AddHandler cgi-script .cgi
<Directory "@HTDOCS@">
    Options +ExecCGI
</Directory>
MediaGuardPolicy ex @POLICIES@/ex.yaml
<Location "/d/">
    Require media-guard ex
</Location>
<Location "/n/">
    Require media-guard ex
    MediaGuardExport notes
</Location>
"""


@pytest.mark.skipif("mg_asan_pool" in os.environ.get("MG_APACHE_PRELOAD", ""),
                    reason="Debian's mod_cgid crashes in its own post_config (apr_proc_create) "
                           "under tests/fuzz/mg_asan_pool.so, before any request")
def test_a_cgi_gets_the_decision_only_where_the_environment_is_exported(apache_factory):
    s = apache_factory("export-cgi", CGI_CONF, policies={"ex.yaml": POLICY},
                       files={"d/env.cgi": CGI, "n/env.cgi": CGI}, extra_modules=["cgid"],
                       start=False)
    for p in ("d", "n"):
        os.chmod(s.htdocs / p / "env.cgi", 0o755)
    s.start()
    try:
        r = s.get("/d/env.cgi")
        assert r.status_code == 200 and r.text.split() == ALLOW
        r = s.get("/n/env.cgi")
        assert r.status_code == 200
        assert r.text.split() == [f"{n}=unset" for n in NAMES]
    finally:
        s.stop()


# ------------------------------------------------------------- apache2 -t

def configtest(apache_factory, name, snippet):
    s = apache_factory(name, "MediaGuardPolicy ex @POLICIES@/ex.yaml\n" + snippet,
                       policies={"ex.yaml": POLICY}, extra_modules=["headers"], start=False)
    return s.configtest()


def test_configtest_refuses_unknown_values(apache_factory):
    cases = [
        ("MediaGuardExport notes envs", "MediaGuardExport: unknown value 'envs': use 'notes', "
         "'env', 'notes env' (the default) or 'none'"),
        ("MediaGuardExport yes", "MediaGuardExport: unknown value 'yes'"),
        ("MediaGuardExport none env", "MediaGuardExport: 'none' stands alone"),
        ("MediaGuardExport env env", "MediaGuardExport: 'env' given twice"),
        ("MediaGuardExport notes env none", "MediaGuardExport takes 1-2 arguments"),
    ]
    for i, (line, message) in enumerate(cases):
        rc, out = configtest(apache_factory, f"export-bad{i}",
                             f'<Location "/m/">\n    Require media-guard ex\n    {line}\n'
                             "</Location>\n")
        assert rc != 0, line
        assert message in out, (line, out)
    rc, out = configtest(apache_factory, "export-good",
                         "MediaGuardExport NOTES\n<Location \"/m/\">\n    Require media-guard ex\n"
                         "    MediaGuardExport env notes\n</Location>\n")
    assert rc == 0, out


def test_configtest_warns_about_environment_readers_left_without_it(apache_factory):
    rc, out = configtest(apache_factory, "export-warn", """\
MediaGuardExport notes
LogFormat "%h %>s %{MG_DECISION}e" envfmt
LogFormat "%h %>s %<{MG_DECISION}n" notesfmt
<Location "/a/">
    <RequireAll>
        Require media-guard ex
        Require env MG_DECISION
    </RequireAll>
</Location>
<Location "/b/">
    Require media-guard ex
    Require expr "reqenv('MG_REASON') != 'hotlink'"
    Header always set X-Decision "%{MG_DECISION}e"
</Location>
<Location "/c/">
    MediaGuardExport none
    Require media-guard ex
    Require expr "env('MG_DECISION') == 'allow'"
</Location>
<Location "/ok/">
    MediaGuardExport notes env
    <RequireAll>
        Require media-guard ex
        Require env MG_DECISION
    </RequireAll>
</Location>
<Location "/ok2/">
    Require media-guard ex
    Require expr "env('MG_DECISION') == 'allow'"
</Location>
""")
    assert rc == 0, out
    warnings = [ln for ln in out.splitlines() if "MG01001" in ln]
    conf = "httpd.conf"
    assert len(warnings) == 4, out
    assert "Require env MG_DECISION on line" in warnings[0]
    assert "reads the media-guard decision from the environment, but 'MediaGuardExport notes'" \
        in warnings[0]
    assert conf in warnings[0]
    assert "Require expr" in warnings[1] and "MG_REASON" in warnings[1]
    assert "Header always set X-Decision" in warnings[2]
    assert "from the notes or the environment, but 'MediaGuardExport none'" in warnings[3]
    # the log formats are the server's: one warning for the one reading %{...}e
    logs = [ln for ln in out.splitlines() if "MG01002" in ln]
    assert len(logs) == 1, out
    assert re.search(r"MG01002: LogFormat on line 5\d of \S+httpd\.conf reads the media-guard "
                     r"decision from the environment \(%\{MG_\.\.\.\}e\), but 'MediaGuardExport "
                     r"notes' on line 5\d of \S+httpd\.conf leaves it out", logs[0]), logs[0]
    # the default: no warning at all
    rc, out = configtest(apache_factory, "export-nowarn", """\
LogFormat "%h %>s %{MG_DECISION}e" envfmt
<Location "/a/">
    <RequireAll>
        Require media-guard ex
        Require env MG_DECISION
    </RequireAll>
</Location>
""")
    assert rc == 0 and "MG01001" not in out and "MG01002" not in out, out
