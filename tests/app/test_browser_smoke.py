"""Real-browser smoke test: serve the dashboard on localhost, load every page in headless Chromium, wait until
the page has rendered, check that no exception is shown, and save a screenshot.

Skips (with the reason) when Chromium is not installed: `scripts/install_browser.sh` installs it. Each page is
captured whole (the viewport grown to the page's height) into $ROOFLINE_SCREENSHOTS when set, else into the test
artifacts folder out/test-artifacts/screenshots/ (git-ignored); `scripts/screenshots.py` turns them into the
README's small pictures.

Chromium is driven over its DevTools protocol rather than with `--screenshot --virtual-time-budget`: virtual
time does not wait for Streamlit's websocket, so on a loaded machine a one-shot screenshot often catches the
loading skeleton. Here the test waits (in real time) for the page title and the charts, then captures.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# page -> (url path, title it must show, charts it must draw); Hardware is the default page, served at "/"
PAGES = {"hardware": ("", "Hardware", 1), "workload": ("workload", "Workload", 6),
         "measurements": ("measurements", "Measurements", 3), "selection": ("selection", "Hardware selection", 1),
         "energy": ("energy", "Energy and IPW", 4), "compare": ("compare", "Compare two configurations", 1)}
ARTIFACTS = ROOT / "out" / "test-artifacts" / "screenshots"
MAX_PAGE_PX = 9000  # a taller page is captured down to here
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/install_browser.sh)")
LOAD_TIMEOUT_S = 90  # 2 shared cores: a cold first run of a page imports the engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout_s: float, expect: bytes | None = None) -> bytes:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                body = r.read()
                if expect is None or body.strip() == expect:
                    return body
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


class Browser:
    """Headless Chromium with one tab, driven over the DevTools protocol (JSON over a websocket)."""

    def __init__(self, profile: Path):
        from websockets.sync.client import connect

        port = _free_port()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000",
             f"--remote-debugging-port={port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            targets = json.loads(_wait_http(f"http://127.0.0.1:{port}/json/list", 30))
        except TimeoutError:
            self.proc.kill()
            raise
        page = next(t for t in targets if t["type"] == "page")
        self._conn = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.ws = self._conn.__enter__()  # websockets wants connect() entered as a context manager
        self._id = 0

    def call(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float) -> bool:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.js(expression):
                return True
            time.sleep(0.25)
        return False

    def screenshot(self, path: Path, full: bool = True) -> None:
        """The page as rendered; ``full``: the viewport grown to the height of Streamlit's scrolling main area
        first (it scrolls inside a container, so a plain full-page capture would stop at the window)."""
        if full:
            h = self.js("Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
                        "[data-testid=\"stAppViewContainer\"], section.main')].map(e => e.scrollHeight), "
                        "document.body.scrollHeight)") or 1000
            self.call("Emulation.setDeviceMetricsOverride", width=1400, height=int(min(max(h, 1000), MAX_PAGE_PX)),
                      deviceScaleFactor=1, mobile=False)
            time.sleep(1.5)  # plotly re-lays out on resize
        try:
            path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        finally:
            if full:
                self.call("Emulation.clearDeviceMetricsOverride")

    def close(self) -> None:
        self._conn.__exit__(None, None, None)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory, write_traces):
    pytest.importorskip("websockets.sync.client", reason="websockets (a streamlit dependency) not installed")

    traces = tmp_path_factory.mktemp("traces")
    write_traces(traces)
    port = _free_port()
    env = {**os.environ, "ROOFLINE_TRACES": str(traces)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "dashboard.py"),
                             "--server.headless", "true", "--server.port", str(port), "--server.address",
                             "127.0.0.1", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/_stcore/health", 60, expect=b"ok")
    except TimeoutError:
        proc.kill()
        pytest.fail(f"streamlit did not come up: {proc.communicate(timeout=5)[0].decode()[-2000:]}")
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield url, browser
    browser.close()
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("page", list(PAGES))
def test_page_loads_in_a_real_browser(server, page, tmp_path):
    url, browser = server
    path, title, n_charts = PAGES[page]
    browser.call("Page.navigate", url=f"{url}/{path}")
    rendered = (f"[...document.querySelectorAll('h1')].some(h => h.innerText.trim() === {json.dumps(title)})"
                " && !document.querySelector('[data-testid=\"stSkeleton\"]')"
                " && [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.main-svg'))"
                f".length >= {n_charts}")
    ok = browser.wait_for(rendered, LOAD_TIMEOUT_S)
    browser.wait_for("!document.querySelector('[data-testid=\"stStatusWidget\"]')", 10)  # script run finished
    out_dir = Path(os.environ.get("ROOFLINE_SCREENSHOTS", ARTIFACTS))
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / f"{page}.png"
    browser.screenshot(shot)
    body = browser.js("document.body.innerText") or ""
    assert ok, f"{page}: not rendered within {LOAD_TIMEOUT_S} s (screenshot {shot}): {body[:500]}"
    assert shot.stat().st_size > 20_000
    assert not browser.js("document.querySelector('[data-testid=\"stException\"]') !== null"), body[:2000]
    assert "Page not found" not in body and "Traceback" not in body
    words = set(body.replace("(", " ").replace(")", " ").replace(",", " ").split())
    assert not words & {"None", "nan", "NaN"}, f"{page}: a missing value rendered as text"
