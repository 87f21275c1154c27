"""`make install` puts the module and Debian-style mods-available files in place;
the installed media_guard.conf is valid Apache configuration."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import MODULE

pytestmark = pytest.mark.skipif(bool(os.environ.get("MG_APACHE_PRELOAD")),
                                reason="a user tool, not run against a sanitizer build")


def test_make_install_writes_module_load_and_conf(tmp_path, apache_factory):
    if MODULE is None or not Path(MODULE).exists():
        pytest.skip("mod_media_guard.so not built")
    build = Path(MODULE).resolve().parents[2]
    dest = tmp_path / "dest"
    p = subprocess.run(["make", "-C", str(build), "install", f"DESTDIR={dest}"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    loads = list(dest.rglob("mods-available/media_guard.load"))
    confs = list(dest.rglob("mods-available/media_guard.conf"))
    sos = list(dest.rglob("mod_media_guard.so"))
    assert len(loads) == 1 and len(confs) == 1 and len(sos) == 1
    assert not list(dest.rglob("mod_media_guard.la"))
    m = re.search(r"^LoadModule media_guard_module (\S+)$", loads[0].read_text(), re.M)
    assert m, loads[0].read_text()
    # the .load names the installed module's final location
    assert str(dest) + m.group(1) == str(sos[0])

    # the installed .conf parses (it defines the media_guard LogFormat)
    s = apache_factory("install", f'Include "{confs[0]}"\nCustomLog "@ROOT@/logs/mg.log" media_guard\n',
                       start=False)
    rc, out = s.configtest()
    assert rc == 0, out

