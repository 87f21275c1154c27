"""scripts/demo: every printed command behaves as printed, and Ctrl-C leaves no
process behind."""

import html
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import MODULE, SRCDIR, check_port_in_use, free_port, on_free_port

pytestmark = pytest.mark.skipif(bool(os.environ.get("MG_APACHE_PRELOAD")),
                                reason="a user tool, not run against a sanitizer build")

DEMO = SRCDIR / "scripts" / "demo"


def build_dir():
    if MODULE is None or not Path(MODULE).exists():
        pytest.skip("mod_media_guard.so not built")
    return Path(MODULE).resolve().parents[2]


def demo_env(tmp_path, port=None):
    env = dict(os.environ)
    env["MG_DEMO_PORT"] = str(port or free_port())
    env["MG_DEMO_DIR"] = str(tmp_path / "demo-state")
    return env


def test_demo_check_mode_runs_every_printed_command(tmp_path):
    # under a umask of 002 (a user-private-group setup): the demo still makes
    # its key, which mgctl keygen refuses in a directory its group can write
    def run(port):
        shutil.rmtree(tmp_path / "demo-state", ignore_errors=True)
        p = subprocess.run([str(DEMO), str(build_dir()), "--check"],
                           env=demo_env(tmp_path, port), capture_output=True, text=True,
                           timeout=120, preexec_fn=lambda: os.umask(0o002))
        if p.returncode != 0:
            check_port_in_use(p.stdout + p.stderr, "scripts/demo")
        return p
    p = on_free_port(run)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"demo check: (\d+) of \1 commands behave as printed", p.stdout), p.stdout
    assert int(re.search(r"of (\d+) commands", p.stdout).group(1)) >= 6


def _restore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_demo_serves_until_ctrl_c_and_leaves_no_process(tmp_path):
    env = demo_env(tmp_path)
    p = subprocess.Popen([str(DEMO), str(build_dir())], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, preexec_fn=_restore_sigint)
    lines = []
    deadline = time.time() + 60
    try:
        for line in p.stdout:
            lines.append(line)
            if line.startswith("Watch the decisions") or time.time() > deadline:
                break
        out = "".join(lines)
        cmds = [ln.strip() for ln in lines if ln.startswith("curl ")]
        assert len(cmds) >= 6, out
        # the first printed command, pasted as is
        r = subprocess.run(["bash", "-c", cmds[0]], capture_output=True, text=True, timeout=30)
        assert r.stdout.startswith("200 image/png"), r.stdout + r.stderr
        # the page's embedded media and its signed link all load, as a browser would fetch them
        base = f"http://127.0.0.1:{env['MG_DEMO_PORT']}"
        page = requests.get(base + "/", timeout=10).text
        srcs = re.findall(r'(?:src|href)="(/media/[^"]+)"', page)
        assert any("mg_sig=" in u for u in srcs), page
        for u in srcs:
            u = html.unescape(u)
            if "originals" in u or "tr:w-400/" in u:
                continue  # members-only / the deliberately tampered preview
            r = requests.get(base + u, headers={"Sec-Fetch-Site": "same-origin",
                                                "Referer": base + "/"}, timeout=10)
            assert r.status_code == 200, (u, r.status_code, r.headers)
        pidfile = Path(env["MG_DEMO_DIR"]) / "run" / "httpd.pid"
        apache_pid = int(pidfile.read_text())
        os.kill(apache_pid, 0)
    finally:
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=30)
    assert rc == 130
    # the Apache parent and its children are gone
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(apache_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("apache2 still running after Ctrl-C")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert env["MG_DEMO_DIR"] not in ps

