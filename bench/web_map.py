"""The web map in a real browser (Debian's chromium via Playwright) against a real server:
time to the first meaningful paint (log in → the plan's map drawn and idle) and the map
request itself. (A move's balance update is timed in the page by tests/e2e/test_web_map.py,
which asserts < 100 ms.)

    python bench/web_map.py [--size small|medium] [--repeat 3]

It generates the demo company of ``--size`` (ZIP units of its states), imports it, makes plan
``demo`` from its alignment (tests/e2e/_webws.py) and serves it. The first request after a
server start builds the geography (once per unit level, kept in memory): reported apart as
"cold"; the paint figures are with a warm server, as a planner meets it after the first user.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="small")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from _webws import PASSWORD, make_workspace
    from territorium.data import import_directory
    from territorium.data.demo import generate

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    generate(tmp / "demo", seed=7, size=a.size)
    assert import_directory(tmp / "demo", url=f"sqlite:///{tmp / 'demo' / 'ws.db'}", replace=True).ok
    make_workspace(tmp / "demo" / "ws.db", tmp / "web.db")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(Path(sys.executable).with_name("territorium")), "serve", "--port", str(port),
                             "--database", f"sqlite:///{tmp / 'web.db'}", "--log-level", "warning"])
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            paints, fetches, cold = [], [], None
            for k in range(a.repeat + 1):
                pg = b.new_page(viewport={"width": 1366, "height": 768})
                pg.on("pageerror", lambda e: print("page error:", e, file=sys.stderr))
                pg.goto(url + "/")
                pg.get_by_label("User name").fill("planner")
                pg.get_by_label("Password").fill(PASSWORD)
                t0 = time.perf_counter()
                pg.get_by_role("button", name="Log in").click()
                pg.wait_for_selector("body[data-ready='1']", timeout=600_000)
                dt = time.perf_counter() - t0
                n = pg.evaluate("() => window.__territorium.unitT.length")
                fetch = pg.evaluate("() => window.__territorium.timing.fetched") / 1000
                if k == 0:
                    cold = dt
                else:
                    paints.append(dt)
                    fetches.append(fetch)
                pg.close()
            b.close()
        print(f"{n:,} {a.size} demo ZIP units, chromium {a.repeat} runs (loopback, machine shared):")
        print(f"  cold server (geography built on the first request): {cold:.2f} s to the first paint")
        print(f"  warm: first meaningful paint median {statistics.median(paints):.2f} s "
              f"(min {min(paints):.2f}), of which the map request {statistics.median(fetches):.2f} s")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
