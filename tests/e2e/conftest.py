"""End-to-end fixtures: the real server (``territorium serve`` in its own process on a free
loopback port) over a web workspace (``_webws.py``), and Debian's chromium driven by
Playwright. Without chromium (or Playwright) the tests skip with the reason, except in CI
(``CI`` set), where they fail, as the PostgreSQL tests do."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _e2e import missing as _missing  # noqa: E402
from _webws import PASSWORD, make_workspace  # noqa: E402

CHROMIUM = os.environ.get("TERRITORIUM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
STATIC = Path(__file__).parents[2] / "src" / "territorium" / "web" / "static" / "index.html"


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e .[dev])")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    if not STATIC.is_file():
        _missing("the web app is not built (make web)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def web_template(demo_small, tmp_path_factory):
    """(database path, facts) of the web workspace, made once."""
    out, _ = demo_small
    path = tmp_path_factory.mktemp("web-template") / "web.db"
    facts = make_workspace(out / "ws.db", path)
    return path, facts


class Server:
    def __init__(self, url: str, db: Path, facts: dict, proc: subprocess.Popen, log: Path):
        self.url, self.db, self.facts, self.proc, self.log = url, db, facts, proc, log


def _start(db: Path, log: Path) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    exe = Path(sys.executable).with_name("territorium")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--database", f"sqlite:///{db}",
                             "--log-level", "warning"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1) as r:
                if r.status == 200:
                    return url, proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not answer in 60 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def server(web_template, tmp_path_factory):
    """A copy of the workspace served by a real ``territorium serve`` process (one per session;
    tests that write work on their own copy of plan ``demo``, see :func:`plan_copy`)."""
    src, facts = web_template
    tmp = tmp_path_factory.mktemp("web-server")
    db = tmp / "web.db"
    shutil.copy(src, db)
    url, proc = _start(db, tmp / "server.log")
    try:
        yield Server(url, db, facts, proc, tmp / "server.log")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def page(browser, server):
    """A fresh browser page (1366x768, a laptop screen); any console error or uncaught
    exception fails the test, except messages a test declares with ``page.expect_errors``."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = ctx.new_page()
    errors: list[str] = []
    allowed: list[str] = []
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}\n{e.stack}"))
    pg.allowed_errors = allowed
    yield pg
    ctx.close()
    bad = [e for e in errors if not any(a in e for a in allowed)]
    assert not bad, "browser console errors:\n" + "\n".join(bad)
