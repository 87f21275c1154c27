"""Every ```apache block of docs/directives.md, docs/canonical-urls.md and
policies/README.md is configuration that httpd accepts as written: an admin pastes it (the module's LoadModule, paths and
host names aside) and `apache2 -t` says Syntax OK. httpd has no trailing
comments: `Require media-guard media   # ...` is three more arguments.
(README.md's block is tested, and run, by test_shipped_config.py.)"""

import re

import pytest

from conftest import SRCDIR

DOCS = ["docs/directives.md", "docs/canonical-urls.md", "policies/README.md"]

POLICY = """\
version: 1
roles: [staff]
identity:
  roles_from:
    - {env: OIDC_CLAIM_groups, separator: ",", prefix: "media-"}
    - {apache: {staff: "group staff"}}
rules:
  - id: all
    path: /
    access: {anonymous: view}
"""

# what a block needs besides the base modules (conftest.BASE_MODULES)
EXTRA_MODULES = ["proxy", "proxy_http", "authz_groupfile", "auth_openidc", "socache_shmcb",
                 "headers", "speling"]


def _blocks():
    for doc in DOCS:
        text = (SRCDIR / doc).read_text()
        for m in re.finditer(r"```apache\n(.*?)```", text, re.S):
            yield f"{doc}:{text[:m.start()].count(chr(10)) + 1}", m.group(1)


def _local(block, root):
    """The paths and hosts of a block on this test's server. The module's own LoadModule
    line goes (the harness loads the built one); other modules' lines stay as written
    (httpd skips a module loaded twice with a warning)."""
    out = []
    for line in block.splitlines():
        if re.match(r"\s*LoadModule\s+media_guard_module\s", line):
            continue
        out.append(line)
    conf = "\n".join(out) + "\n"
    for name in ("photos", "site", "media", "videos", "photo-site"):
        conf = conf.replace(f"/etc/apache2/media-guard/{name}.yaml", "@POLICIES@/p.yaml")
    conf = (conf.replace("/var/www/html", "@HTDOCS@")
            .replace("/etc/apache2/media.htpasswd", "@ROOT@/htpasswd")
            .replace("/etc/apache2/media.groups", "@ROOT@/groups")
            .replace("/etc/apache2/mg-redis.pw", "@ROOT@/redis.pw")
            .replace("/run/apache2/", "@ROOT@/run/")
            .replace("${APACHE_LOG_DIR}", "@ROOT@/logs"))
    # a policy every block's Require names, declared once before them
    names = set(re.findall(r"Require media-guard (\S+)", conf))
    declared = set(re.findall(r"MediaGuardPolicy (\S+)", conf))
    head = "".join(f"MediaGuardPolicy {n} @POLICIES@/p.yaml\n" for n in sorted(names - declared))
    return head + conf


BLOCKS = list(_blocks())


@pytest.mark.parametrize("where,block", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_documented_apache_block_passes_configtest(apache_factory, where, block):
    s = apache_factory("doc-snippet", "", policies={"p.yaml": POLICY},
                       files={"members/a.jpg": b"x", "photos/a.jpg": b"x"},
                       extra_modules=EXTRA_MODULES, start=False)
    s.conf_snippet = _local(block, s.root)
    s.write_conf()
    for f in ("htpasswd", "groups"):
        (s.root / f).write_text("")
    pw = s.root / "redis.pw"
    pw.write_text("secret\n")
    pw.chmod(0o600)
    rc, out = s.configtest()
    assert rc == 0 and "Syntax OK" in out, f"{where}: the block\n{block}\n{out}"
