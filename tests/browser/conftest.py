"""Browser suite harness: the integration harness (tests/integration/conftest.py:
throwaway Apache instances) plus one headless Chromium driven by Selenium.

Chromium, chromedriver and Selenium are Debian's (chromium, chromium-driver,
python3-selenium). A missing one fails the suite: it never skips.
"""

import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "mg_integration_harness", Path(__file__).resolve().parent.parent / "integration" / "conftest.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)
sys.modules["mg_integration_harness"] = harness  # for the test files

# the integration fixtures and the report hook (error logs of failing tests)
apache_factory = harness.apache_factory
mgctl = harness.mgctl
pytest_runtest_makereport = harness.pytest_runtest_makereport

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

# Without the background-networking flags Chromium keeps dialling Google
# services, which this machine (and CI) refuses.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required", "--window-size=1000,800",
    # Names that are not localhost: Chromium sends no Fetch Metadata to plain
    # HTTP there, as to any http:// site on the internet (tests/browser).
    # other.test: a second name of the protected server, on the same address
    # and certificate (HTTP/2 connection coalescing, test_h2_tls.py)
    "--host-resolver-rules=MAP media.test 127.0.0.1, MAP foreign.test 127.0.0.2, "
    "MAP partner.test 127.0.0.3, MAP other.test 127.0.0.1",
]


@pytest.fixture(scope="session")
def browser(apache_factory):
    """One headless Chromium for the session, with a fresh profile and an empty
    download directory (``browser.download_dir``). It trusts the session's
    throwaway server key (tls=True servers) and no other invalid certificate:
    `--ignore-certificate-errors-spki-list` names that key only."""
    for what, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not Path(path).exists():
            pytest.fail(f"{what} not found at {path}: install Debian's chromium and "
                        "chromium-driver (scripts/quickstart does)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:  # pragma: no cover - the package list installs it
        pytest.fail(f"selenium not importable ({e}): install Debian's python3-selenium "
                    "and run with /usr/bin/python3")
    profile = tempfile.mkdtemp(prefix="mg-chromium-")
    downloads = tempfile.mkdtemp(prefix="mg-downloads-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--ignore-certificate-errors-spki-list={harness._HARNESS.tls().spki}")
    opts.add_experimental_option("prefs", {
        "download.default_directory": downloads,
        "download.prompt_for_download": False,
    })
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(30)
    drv.download_dir = Path(downloads)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(downloads, ignore_errors=True)


# helpers the test files import (from conftest import wait_for, image_state)

def wait_for(fn, what, timeout=15):
    """Poll until fn() is truthy; a page that never gets there fails with `what`."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            assert v, f"timed out waiting for {what}"
            return v
        time.sleep(0.05)


def image_state(browser, elem_id):
    """(complete, naturalWidth, naturalHeight) once the image has loaded or failed."""
    js = ("var i = document.getElementById(arguments[0]);"
          "return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null;")
    return wait_for(lambda: browser.execute_script(js, elem_id), f"<img id={elem_id}> to settle")
