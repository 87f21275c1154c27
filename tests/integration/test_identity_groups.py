"""Roles from other Apache authz providers (identity.roles_from `apache:`).

A real Apache with mod_authz_groupfile (`Require group`) and mod_authz_dbd
over mod_dbd's sqlite3 driver (`Require dbd-group`): the groups are never
copied into the policy, the providers are asked at request time, their
errors deny, and a provider that Apache does not have refuses configtest.
"""
import sqlite3

import pytest

from conftest import free_port, htpasswd

JPEG = b"\xff\xd8\xff\xe0" + b"groups" * 40

POLICY = """\
version: 1
roles: [editors, reviewers, staff]
identity:
  users:
    carol: [reviewers]
  roles_from:
    - users
    - apache:
        editors: "group editors"
        staff: "dbd-group staff"
rules:
  - id: drafts
    path: /drafts/
    access: {editors: download, reviewers: view}
  - id: staffroom
    path: /staff/
    access: {staff: view}
  - id: public
    path: /pub/
    access: {anonymous: view, editors: download}
  - id: broken-db
    path: /broken/db/
    access: {staff: view}
  - id: broken-file
    path: /broken/file/
    access: {editors: view}
"""

AUTH = """\
    AuthType Basic
    AuthName "media"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    AuthzSendForbiddenOnFailure On
"""

CONF = f"""\
DBDriver sqlite3
DBDParams "@ROOT@/groups.sqlite"
MediaGuardPolicy site @POLICIES@/site.yaml
<LocationMatch "^/(drafts|staff|pub)/">
{AUTH}    AuthGroupFile "@ROOT@/groups"
    AuthzDBDQuery "SELECT grp FROM memberships WHERE usr = %s"
    Require media-guard site
</LocationMatch>
# the same policy where the providers cannot answer: mod_authz_dbd's query
# fails when it runs (SQLite's integer overflow error: the statement itself
# prepares, so mod_dbd's connections stay up), mod_authz_groupfile cannot
# read its file (a refusal)
<Location "/broken/">
{AUTH}    AuthGroupFile "@ROOT@/no-such-groups-file"
    AuthzDBDQuery "SELECT grp FROM memberships WHERE usr = %s AND abs(-9223372036854775807 - 1) > 0"
    Require media-guard site
</Location>
Alias "/broken/" "@HTDOCS@/drafts/"
"""

FILES = {"drafts/a.jpg": JPEG, "drafts/db/a.jpg": JPEG, "drafts/file/a.jpg": JPEG,
         "staff/b.jpg": JPEG, "pub/c.jpg": JPEG}
MODS = ["authz_groupfile", "dbd", "authz_dbd"]
USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "dave": "davepw"}


def write_groups(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = apache_factory("groups", CONF, policies={"site.yaml": POLICY}, files=FILES,
                       extra_modules=MODS, start=False)
    htpasswd(s.root / "htpasswd", USERS)
    write_groups(s.root / "groups", ["editors: alice", "writers: bob"])
    db = sqlite3.connect(s.root / "groups.sqlite")
    db.execute("CREATE TABLE memberships (usr TEXT, grp TEXT)")
    db.executemany("INSERT INTO memberships VALUES (?, ?)", [("dave", "staff"), ("bob", "sales")])
    db.commit()
    db.close()
    (s.root / "groups.sqlite").chmod(0o644)
    return s.start()


def decision(srv, fragment):
    line = srv.last_access(fragment)
    assert line, f"no access-log line for {fragment}"
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def test_group_from_groupfile_becomes_a_role(srv):
    r = srv.get("/drafts/a.jpg?u=alice", auth=("alice", "alicepw"))
    assert r.status_code == 200 and r.content == JPEG
    d = decision(srv, "u=alice")
    assert d["mg"] == "allow" and d["reason"] == "allowed" and d["user"] == "alice"
    # editors: download
    r = srv.get("/drafts/a.jpg?download=1&u=alice2", auth=("alice", "alicepw"))
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment")


def test_user_outside_the_group_is_refused(srv):
    r = srv.get("/drafts/a.jpg?u=bob", auth=("bob", "bobpw"))
    assert r.status_code == 403
    d = decision(srv, "u=bob")
    assert d["mg"] == "deny" and d["reason"] == "role-insufficient"


def test_users_map_still_works_next_to_groups(srv):
    assert srv.get("/drafts/a.jpg?u=carol", auth=("carol", "carolpw")).status_code == 200
    r = srv.get("/drafts/a.jpg?download=1&u=carol2", auth=("carol", "carolpw"))
    assert r.status_code == 403
    assert decision(srv, "u=carol2")["reason"] == "download-not-allowed"


def test_no_credentials_makes_apache_authenticate(srv):
    r = srv.get("/drafts/a.jpg?u=none")
    assert r.status_code == 401
    assert "WWW-Authenticate" in r.headers
    assert decision(srv, "u=none")["reason"] == "login-required"


def test_anonymous_rule_asks_no_provider_and_a_group_still_raises_the_level(srv):
    # anonymous users see it; an editor may download it
    assert srv.get("/pub/c.jpg?u=anon-pub").status_code == 200
    r = srv.get("/pub/c.jpg?download=1&u=alice-pub", auth=("alice", "alicepw"))
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment")
    r = srv.get("/pub/c.jpg?download=1&u=bob-pub", auth=("bob", "bobpw"))
    assert r.status_code == 403
    assert decision(srv, "u=bob-pub")["reason"] == "download-not-allowed"


def test_database_group_from_mod_authz_dbd(srv):
    r = srv.get("/staff/b.jpg?u=dave", auth=("dave", "davepw"))
    assert r.status_code == 200 and r.content == JPEG
    r = srv.get("/staff/b.jpg?u=bob-staff", auth=("bob", "bobpw"))
    assert r.status_code == 403
    assert decision(srv, "u=bob-staff")["reason"] == "role-insufficient"


def test_group_membership_is_read_at_request_time_without_reload(srv):
    try:
        write_groups(srv.root / "groups", ["editors: alice bob", "writers: bob"])
        r = srv.get("/drafts/a.jpg?u=bob-added", auth=("bob", "bobpw"))
        assert r.status_code == 200
        write_groups(srv.root / "groups", ["editors: alice", "writers: bob"])
        r = srv.get("/drafts/a.jpg?u=bob-removed", auth=("bob", "bobpw"))
        assert r.status_code == 403
    finally:
        write_groups(srv.root / "groups", ["editors: alice", "writers: bob"])


def test_provider_error_denies_and_logs(srv):
    # AUTHZ_GENERAL_ERROR from mod_authz_dbd: unknown whether dave is staff
    mark = srv.mark()
    r = srv.get("/broken/db/a.jpg?u=dave-broken", auth=("dave", "davepw"))
    assert r.status_code == 500
    assert r.content != JPEG
    d = decision(srv, "u=dave-broken")
    assert d["mg"] == "deny" and d["reason"] == "internal-error"
    log = srv.error_log_since(mark)
    assert "role staff: 'Require dbd-group staff' failed" in log


def test_unreadable_group_file_is_the_providers_refusal(srv):
    # mod_authz_groupfile answers AUTHZ_DENIED (and logs AH01665) when it
    # cannot open its file: the role is not held, the request is refused
    mark = srv.mark()
    r = srv.get("/broken/file/a.jpg?u=alice-broken", auth=("alice", "alicepw"))
    assert r.status_code == 403
    assert decision(srv, "u=alice-broken")["reason"] == "role-insufficient"
    assert "AH01665" in srv.error_log_since(mark)


def _configtest(apache_factory, name, policy, mods):
    s = apache_factory(name, "MediaGuardPolicy site @POLICIES@/site.yaml\n",
                       policies={"site.yaml": policy}, extra_modules=mods, start=False)
    return s.configtest()


def test_configtest_refuses_a_provider_apache_does_not_have(apache_factory):
    policy = POLICY.replace('staff: "dbd-group staff"',
                            'staff: "ldap-group cn=staff,ou=groups,dc=example,dc=com"')
    rc, out = _configtest(apache_factory, "groups-noldap", policy, MODS)
    assert rc != 0
    assert "site.yaml:10:16: error:" in out
    assert "no authorization provider 'ldap-group'" in out
    assert "load mod_authnz_ldap" in out


def test_configtest_refuses_a_group_source_without_its_module(apache_factory):
    rc, out = _configtest(apache_factory, "groups-nogroupfile", POLICY, ["dbd", "authz_dbd"])
    assert rc != 0
    assert "no authorization provider 'group'" in out and "mod_authz_groupfile" in out


def test_configtest_shows_the_providers_own_refusal(apache_factory):
    policy = POLICY.replace('"group editors"', '"group %{unclosed"')
    rc, out = _configtest(apache_factory, "groups-badarg", policy, MODS)
    assert rc != 0
    assert "site.yaml:9:18: error:" in out
    assert "is refused by its provider" in out


def test_ldap_group_binds_to_mod_authnz_ldap_and_an_unreachable_directory_refuses(
        apache_factory):
    # No LDAP server is run here (slapd is not among the packages): the real
    # mod_authnz_ldap parses the entry at configtest, and at request time its
    # directory is a closed loopback port. mod_authnz_ldap answers
    # AUTHZ_DENIED when it cannot look the user up, so the role is not held.
    policy = POLICY.replace('staff: "dbd-group staff"',
                            'staff: "ldap-group cn=staff,ou=groups,dc=example,dc=com"')
    conf = f"""\
MediaGuardPolicy site @POLICIES@/site.yaml
<Location "/staff/">
{AUTH}    AuthGroupFile "@ROOT@/groups"
    AuthLDAPURL "ldap://127.0.0.1:{free_port()}/ou=people,dc=example,dc=com?uid"
    Require media-guard site
</Location>
"""
    s = apache_factory("groups-ldap", conf, policies={"site.yaml": policy},
                       files={"staff/b.jpg": JPEG},
                       extra_modules=["authz_groupfile", "ldap", "authnz_ldap"],
                       loglevel="trace1", start=False)
    htpasswd(s.root / "htpasswd", {"dave": "davepw"})
    write_groups(s.root / "groups", ["editors: alice"])
    rc, out = s.configtest()
    assert rc == 0, out
    s.start()
    try:
        r = s.get("/staff/b.jpg?u=dave-ldap", auth=("dave", "davepw"))
        assert r.status_code == 403 and r.content != JPEG
        assert decision(s, "u=dave-ldap")["reason"] == "role-insufficient"
        # the provider was asked (the evaluator's trace)
        assert ("role staff: 'Require ldap-group cn=staff,ou=groups,dc=example,dc=com' "
                "does not pass") in s.error_log()
    finally:
        s.stop()


def test_mgctl_explain_takes_require_lines(srv, mgctl):
    pol = str(srv.policy_dir / "site.yaml")
    p = mgctl("explain", "--policy", pol, "--user", "bob", "--format", "json", "/drafts/a.jpg")
    assert p.returncode == 0 and '"reason":"role-insufficient"' in p.stdout.replace(" ", "")
    p = mgctl("explain", "--policy", pol, "--user", "bob", "--require", "group editors",
              "--format", "json", "/drafts/a.jpg?download=1")
    assert p.returncode == 0 and '"decision":"allow"' in p.stdout.replace(" ", "")
    p = mgctl("explain", "--policy", pol, "--user", "bob", "--require", "group writers",
              "/drafts/a.jpg")
    assert "role-insufficient" in p.stdout and "'Require group editors' does not pass" in p.stdout


TESTFILE = """\
policy: site.yaml
defaults:
  require: ["group editors"]
tests:
  - name: an editor downloads
    request: {url: "/drafts/a.jpg?download=1", user: alice}
    expect: {decision: allow, access: download, rule: drafts}
  - name: require ~ takes the defaults back
    request: {url: /drafts/a.jpg, user: bob, require: ~}
    expect: {decision: deny, reason: role-insufficient}
  - name: a database group
    request: {url: /staff/b.jpg, user: dave, require: "dbd-group  staff "}
    expect: {decision: allow, rule: staffroom}
"""


def test_mgctl_test_files_take_require_lines(srv, mgctl, tmp_path):
    shutil_copy = (srv.policy_dir / "site.yaml").read_text()
    (tmp_path / "site.yaml").write_text(shutil_copy)
    (tmp_path / "site.test.yaml").write_text(TESTFILE)
    p = mgctl("test", str(tmp_path / "site.test.yaml"))
    assert p.returncode == 0, p.stdout + p.stderr
    # and a wrong expectation fails
    (tmp_path / "bad.test.yaml").write_text(TESTFILE.replace("reason: role-insufficient",
                                                             "reason: allowed"))
    p = mgctl("test", str(tmp_path / "bad.test.yaml"))
    assert p.returncode == 1
