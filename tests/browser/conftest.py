"""JupyterLab on 127.0.0.1 and headless Debian Chromium (driven by Playwright) for the widget tests.

Skipped with a message when Chromium or Playwright is missing, except in CI (CI or KIT_REQUIRE_BROWSER set),
where a missing browser is a failure. Every process started here is stopped here. `jupyter_server` and
`chromium_page` also serve test_widgets_in_notebook6.py (classic Notebook 6.5, Colab's versions).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from tests.conftest import free_port

CHROMIUM = os.environ.get("KIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
# Time limits, wide multiples of what was measured on a quiet 2-core machine: the server answered 4-6 s after its
# start, a widget redrew 0.1-0.5 s after a key press. A busy machine is many times slower; only a hang should fail.
SERVER_START_SECONDS = 300
PAGE_TIMEOUT_MS = 60_000  # every Playwright action and expect() without its own timeout (Playwright's default: 5 s)


def _required() -> bool:
    return any(os.environ.get(v, "").lower() in {"1", "true", "yes"} for v in ("CI", "KIT_REQUIRE_BROWSER"))


def _missing_browser_message() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian/Ubuntu: sudo apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser_available():
    message = _missing_browser_message()
    if message and _required():
        pytest.fail(f"browser tests must run in CI, but {message}")
    if message:
        pytest.skip(f"browser tests skipped: {message}")


def _write_settings(folder: Path) -> None:
    settings = {
        # No "get notified about news?" toast covering the notebook.
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                             "checkForUpdates": False},
        # Keep every cell in the page, so off-screen widgets exist for the selectors.
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, value in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@contextlib.contextmanager
def jupyter_server(command: list[str], env: dict, url: str, log: Path, token: str = ""):
    """Start a Jupyter server `command` that will answer at `url`, wait until /api/status answers, and yield.

    Afterwards its kernels are shut down through the API and the server is stopped (killed if it hangs).
    """
    headers = {"Authorization": f"token {token}"} if token else {}

    def api(path: str, method: str = "GET", timeout: float = 30):
        return urllib.request.urlopen(urllib.request.Request(f"{url}{path}", headers=headers, method=method),
                                      timeout=timeout)

    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                              start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                api("/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server ({' '.join(command[1:3])}) did not start; see {log}:\n"
                                + log.read_text()[-2000:])
                time.sleep(0.3)
        yield url
    finally:
        try:
            for kernel in json.load(api("/api/kernels")):
                api(f"/api/kernels/{kernel['id']}", method="DELETE", timeout=60)
        except OSError:
            pass
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


def server_env(scratch: Path) -> dict:
    """The environment of a test's Jupyter server: quick mode, its own runtime folder, plots left inline."""
    env = {**os.environ, "KIT_QUICK": "1", "JUPYTER_RUNTIME_DIR": str(scratch / "runtime")}
    env.pop("MPLBACKEND", None)  # would stop plots from showing inside the kernels
    return env


@pytest.fixture(scope="module")
def lab_url(browser_available):
    """Start JupyterLab on the repository (quick mode, no token) and yield its URL; stop it afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="kit-lab-"))
    _write_settings(scratch / "settings")
    # Lab serves a copy: Run All plus autosave would otherwise write outputs into the repository's notebooks.
    root = scratch / "lab"
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port = free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
               f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={scratch / 'settings'}",
               f"--LabApp.workspaces_dir={scratch / 'workspaces'}", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"]
    try:
        with jupyter_server(command, server_env(scratch), f"http://127.0.0.1:{port}", scratch / "server.log") as url:
            yield url
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def chromium_page():
    """Yield a Chromium page (fresh profile, deleted afterwards); page.errors collects the page's JavaScript errors."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    profile = tempfile.mkdtemp(prefix="kit-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                           args=CHROMIUM_ARGS,
                                                           viewport={"width": 1280, "height": 1400})
            try:
                errors: list[str] = []
                page = context.new_page()
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.errors = errors
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(lab_url):
    """A Chromium page (fresh profile, outside the Lab root); closed with the module."""
    with chromium_page() as page:
        yield page
