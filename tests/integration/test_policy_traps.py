"""Red team 26c: the policy language as an admin writes it. What loaded and
granted what its author did not mean is refused by `apache2 -t` exactly as by
`mgctl validate` (same file:line:column, same sentence); what loads with a
warning is warned about by Apache too, and decided the same way by Apache and
`mgctl explain` (docs/policy.md, "Paths", "ip_sets and trusted_proxies",
"time_windows", `rules` / `country`)."""

import json
import re

import pytest

RULE = "  - {id: a, path: /, access: {anonymous: view}}\n"

# name -> (policy, the diagnostic both must print, after "p.yaml:")
REFUSED = {
    "country-uk": (
        "version: 1\ncountry: {from: {env: CC}}\nrules:\n"
        "  - {id: a, path: /, country: {deny: [UK]}, access: {anonymous: view}}\n",
        "4:39: error: 'UK' is not an assigned ISO 3166-1 country code: no country source sends "
        "it, so country.deny would never match it (the United Kingdom is GB)"),
    "hours-empty": (
        "version: 1\ntime_windows:\n  w: {days: [sat], hours: []}\nrules:\n"
        "  - {id: a, path: /, time: w, access: {anonymous: view}}\n",
        "3:27: error: hours must list at least one entry"),
    "trust-everyone": (
        "version: 1\ntrusted_proxies: [\"::/0\"]\nroles: [staff]\n"
        "identity: {roles_from: [{header: X-Roles}]}\nrules:\n"
        "  - {id: a, path: /, access: {staff: view}}\n",
        "2:19: error: trusted_proxies entry '::/0' trusts every IPv6 client, so any of them can "
        "send header 'X-Roles' and choose its own roles"),
    "glob-dir": (
        "version: 1\ndefault: allow\nrules:\n"
        "  - {id: a, path: \"/*/private/\", access: {anonymous: none}}\n",
        "4:19: error: glob pattern '/*/private/' ends in '/', so it matches only the directory "
        "itself"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_apache_refuses_what_mgctl_refuses_at_the_same_place(apache_factory, mgctl, name):
    policy, diag = REFUSED[name]
    srv = apache_factory(f"trap-{name}", "MediaGuardPolicy p @POLICIES@/p.yaml\n", start=False)
    (srv.policy_dir / "p.yaml").write_text(policy)
    rc, out = srv.configtest()
    assert 0 < rc < 128, out[-2000:]
    assert f"p.yaml:{diag}" in out, out[-2000:]
    p = mgctl("validate", srv.policy_dir / "p.yaml")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"p.yaml:{diag}" in p.stdout, p.stdout


# Loads, with warnings; default: allow, so that a rule that does not own what
# it seems to shows as a grant.
POLICY = """\
version: 1
default: allow
time_windows:
  weekend: {days: [sat, sun]}
rules:
  - {id: priv, path: "/*/private/**", access: {anonymous: none}}
  - {id: vids, path: "/v/*.{mp4,mov}", access: {anonymous: none}}
  - {id: closed, path: /d/, ip: {deny: [0.0.0.0/0]}, access: {anonymous: view}}
  - {id: wknd, path: /w/, time: weekend, access: {anonymous: view}}
  - {id: photos, path: /photos/, access: {anonymous: view}}
"""

CASES = [
    "/x/private/a.jpg?n=1",          # '**': the files below, not only the directory
    "/x/private/s/b.jpg?n=2",
    "/x/private?n=3",
    "/v/a.mp4?n=4",                  # literal '{mp4,mov}': not owned, default allow (warned)
    "/v/a.%7Bmp4,mov%7D?n=5",        # ... owns only those very characters
    "/d/a.jpg?n=6",                  # 127.0.0.1 is in 0.0.0.0/0
    "/w/a.jpg?n=7",                  # a window without hours: all day on its days
    "/photos/private/a.jpg?n=8",     # the most specific rule, not priv (glob-overridden)
]


@pytest.fixture(scope="module")
def srv(apache_factory):
    conf = ("MediaGuardPolicy traps @POLICIES@/traps.yaml\n"
            "<Location \"/\">\n    Require media-guard traps\n</Location>\n")
    s = apache_factory("traps", conf, policies={"traps.yaml": POLICY}, start=False)
    s.configtest_result = s.configtest()
    return s.start()


def test_apache_warns_as_mgctl_does(srv, mgctl):
    rc, out = srv.configtest_result
    assert rc == 0, out[-2000:]
    p = mgctl("validate", srv.policy_dir / "traps.yaml")
    assert p.returncode == 0, (p.stdout, p.stderr)
    for where, code in (("7:22", "in path pattern '/v/*.{mp4,mov}', '{' is an ordinary character"),
                        ("8:40", "ip.deny holds 0.0.0.0/0, every IPv4 client, and no IPv6 "
                                 "network: every IPv6 client passes this deny list"),
                        # (one warning per glob: the first rule in file order that takes its paths)
                        ("6:22", "rule 'priv' (/*/private/**) does not own /d/private: rule "
                                 "'closed' (/d/) has more leading literal segments")):
        assert f"traps.yaml:{where}: warning: {code}" in out, out[-2000:]
        assert f"traps.yaml:{where}: warning: {code}" in p.stdout, p.stdout


@pytest.mark.parametrize("target", CASES, ids=[c.split("?n=")[1] for c in CASES])
def test_apache_and_explain_agree_on_what_the_warned_policy_means(srv, mgctl, target):
    resp = srv.raw(target, headers={"Accept": "image/webp,*/*"})
    line = srv.last_access(f" {target} HTTP/1.1")
    assert line, srv.access_log()
    fields = dict(kv.split("=", 1) for kv in line.split() if kv.split("=")[0] in
                  ("mg", "reason", "rule"))
    p = mgctl("explain", "--policy", srv.policy_dir / "traps.yaml", "--format", "json",
              "--ip", "127.0.0.1", "-H", "Accept: image/webp,*/*", target)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert (fields["mg"], fields["reason"], fields["rule"]) == \
        (d["decision"], d["reason"], d["rule"] or "-"), (line, d)
    assert resp.status_code == (404 if d["decision"] == "allow" else d["status"]), d
    expected = {"1": "priv", "2": "priv", "3": "priv", "4": None, "5": "vids", "6": "closed",
                "7": "wknd", "8": "photos"}[re.search(r"n=(\d+)", target).group(1)]
    assert d["rule"] == expected, d


def test_explain_and_policy_tests_take_t1_as_the_policy_and_module_do(tmp_path, mgctl):
    """T1 (CF-IPCountry's Tor) loads in a deny list and is a country at
    request time; `explain --country` and a test's `country:` took only two
    letters, so the one way to check such a policy offline refused it."""
    (tmp_path / "p.yaml").write_text(
        "version: 1\ncountry: {from: {env: CC}}\nrules:\n"
        "  - {id: a, path: /, country: {deny: [T1]}, access: {anonymous: view}}\n")
    for cc, decision in (("T1", "deny"), ("t1", "deny"), ("DE", "allow")):
        p = mgctl("explain", "--policy", tmp_path / "p.yaml", "--format", "json",
                  "--country", cc, "/a.jpg")
        assert p.returncode == 0, p.stderr
        d = json.loads(p.stdout)
        assert (d["decision"], d["reason"]) == \
            (decision, "country-denied" if decision == "deny" else d["reason"]), d
    p = mgctl("explain", "--policy", tmp_path / "p.yaml", "--country", "T2", "/a.jpg")
    assert p.returncode == 2 and "two-letter code or T1" in p.stderr, (p.returncode, p.stderr)
    (tmp_path / "p.test.yaml").write_text(
        "policy: p.yaml\ntests:\n"
        "  - {name: tor, request: {url: /a.jpg, country: t1}, "
        "expect: {decision: deny, reason: country-denied}}\n")
    p = mgctl("test", tmp_path / "p.test.yaml")
    assert p.returncode == 0, (p.stdout, p.stderr)
