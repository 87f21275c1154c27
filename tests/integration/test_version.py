"""One version everywhere: configure.ac's AC_INIT is what mgctl --version
prints, what the module adds to a real Apache's Server header and start line,
what debian/changelog packages, what CHANGELOG.md describes and what the docs
(mgctl(1), README) name."""

import re
import subprocess

from conftest import MGCTL, SRCDIR


def configure_version():
    m = re.search(r"^AC_INIT\(\[mod_media_guard\], \[([^]]+)\]", (SRCDIR / "configure.ac").read_text(), re.M)
    assert m, "no AC_INIT([mod_media_guard], [VERSION]) in configure.ac"
    return m.group(1)


def test_mgctl_debian_and_changelog_say_configures_version():
    v = configure_version()
    out = subprocess.run([str(MGCTL), "--version"], capture_output=True, text=True, check=True).stdout
    assert out == f"mgctl (mod_media_guard) {v}\n"
    # the newest entry of debian/changelog packages this version (revision -N)
    first = (SRCDIR / "debian" / "changelog").read_text().splitlines()[0]
    m = re.match(r"^mod-media-guard \(([^)]+)\) ", first)
    assert m and re.fullmatch(re.escape(v) + r"-\d+", m.group(1)), first
    # the newest release in CHANGELOG.md is this one (changes since it wait
    # under "## Unreleased", at the top)
    heads = re.findall(r"^## (\S+)", (SRCDIR / "CHANGELOG.md").read_text(), re.M)
    if heads and heads[0] == "Unreleased":
        heads = heads[1:]
    assert heads and heads[0] == v, heads
    # the docs that name the version: mgctl(1)'s header, README's package names and Server token
    th = re.search(r'^\.TH MGCTL 1 "[^"]*" "mod_media_guard ([^"]+)"', (SRCDIR / "docs" / "mgctl.1").read_text(), re.M)
    assert th and th.group(1) == v, th
    readme = (SRCDIR / "README.md").read_text()
    named = re.findall(r"_(\d+\.\d+\.\d+)-\d+_amd64\.deb", readme) + re.findall(r"mod_media_guard/(\d+\.\d+\.\d+)", readme)
    assert named and set(named) == {v}, named


def test_apache_server_header_and_start_line_name_the_module_version(apache_factory):
    v = configure_version()
    srv = apache_factory("version", "", files={"a.txt": "a\n"})
    r = srv.get("/a.txt")
    # ServerTokens Full (httpd's default) lists the modules' version components
    assert f"mod_media_guard/{v}" in r.headers["Server"].split(), r.headers["Server"]
    # "Apache/2.4.x (Debian) mod_media_guard/1.0.0 configured -- resuming normal operations"
    assert re.search(rf" mod_media_guard/{re.escape(v)} .*configured -- resuming normal operations",
                     srv.error_log()), srv.error_log()[-2000:]
