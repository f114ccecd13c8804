"""The web app in Firefox: Debian's firefox-esr driven over WebDriver BiDi by puppeteer-core
(``web/e2e/firefox.mjs``, no browser download) against the same real server as the chromium
tests. The script logs in as a planner, reads the header's layout, waits for the map's first
paint, clicks a unit, moves it and reads the balance bars, opens the dashboard, compares the
plan with its version before the move side by side, then logs in as a rep; this test checks
what it saw against the database, the server's answers, the screenshot's pixels and the
layout rules of test_web_layout.py, and fails on any console error.

Headless Firefox has no WebGL on Linux (Mozilla bug 1375585: "WebGL creation failed: *
tryNativeGL () * Exhausted GL driver options. (FEATURE_FAILURE_WEBGL_EXHAUSTED_DRIVERS)"), so
Firefox runs with a window on a virtual X display (Xvfb), where Mesa draws WebGL in software.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
from pathlib import Path

import pytest
from _e2e import HEADER_BOXES_JS, db_units, header_problems, missing, plan_copy
from _webws import PASSWORD

pytestmark = pytest.mark.timeout(600)

FIREFOX = os.environ.get("TERRITORIUM_FIREFOX", "/usr/bin/firefox-esr")
WEB = Path(__file__).parents[2] / "web"
SCRIPT = WEB / "e2e" / "firefox.mjs"
BACKGROUND = (0xEE, 0xF1, 0xF4)   # the map's background layer
FILL_OPACITY = 0.78               # units-fill's opacity for a plain unit


@pytest.fixture(scope="module")
def firefox():
    if not (os.path.isfile(FIREFOX) and os.access(FIREFOX, os.X_OK)):
        pytest.skip(f"no Firefox at {FIREFOX} (apt-get install -y firefox-esr)")
    if not shutil.which("node") or not (WEB / "node_modules" / "puppeteer-core").is_dir():
        missing("node or web/node_modules/puppeteer-core is missing (make web runs npm ci)")
    if not (WEB.parent / "src" / "territorium" / "web" / "static" / "index.html").is_file():
        missing("the web app is not built (make web)")
    return FIREFOX


@pytest.fixture(scope="module")
def xdisplay():
    """A virtual X display (Xvfb picks a free number and writes it to a pipe)."""
    if not shutil.which("Xvfb"):
        missing("no Xvfb (apt-get install -y xvfb): headless Firefox has no WebGL on Linux")
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 30)
        number = os.read(r, 64).decode().strip() if ready else ""
        assert number.isdigit(), f"Xvfb gave no display number ({proc.poll()=})"
        yield f":{number}"
    finally:
        os.close(r)
        proc.terminate()
        proc.wait(10)


def _run(server, firefox: str, display: str, out: Path) -> dict:
    cfg = {"url": server.url, "firefox": firefox, "planner": "planner", "rep": "rep", "password": PASSWORD,
           "out": str(out), "headerJs": HEADER_BOXES_JS}
    p = subprocess.run(["node", str(SCRIPT), json.dumps(cfg)], cwd=WEB, env={**os.environ, "DISPLAY": display},
                       capture_output=True, text=True, timeout=420)
    path = out / "report.json"
    assert path.is_file(), f"no report from firefox.mjs (exit {p.returncode}): {p.stderr[-3000:]}"
    report = json.loads(path.read_text())
    assert not report.get("failure"), report["failure"] + "\nconsole errors: " + "\n".join(report["errors"])
    return report


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(x) for x in css[css.index("(") + 1:css.index(")")].split(",")[:3])


def _painted_share(png: Path, units: list[dict], box: dict) -> tuple[float, int]:
    """Share of the units whose centroid pixel has their territory's fill colour (blended over
    the background), and how many centroids lay inside the map."""
    from PIL import Image

    img = Image.open(png).convert("RGB")
    hits = seen = 0
    for u in units:
        x, y = round(u["x"]), round(u["y"])
        if not (u["colour"] and box["left"] + 2 < x < box["left"] + box["width"] - 2 and box["top"] + 2 < y < box["top"] + box["height"] - 2):
            continue
        seen += 1
        want = [FILL_OPACITY * c + (1 - FILL_OPACITY) * b for c, b in zip(_rgb(u["colour"]), BACKGROUND)]
        # the centroid's pixel or one of its 8 neighbours (a unit outline may run through it)
        near = [img.getpixel((x + dx, y + dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        if any(max(abs(p - q) for p, q in zip(px, want)) <= 24 for px in near):
            hits += 1
    return hits / max(1, seen), seen


def test_firefox_draws_the_map_moves_a_unit_and_scopes_a_rep(server, firefox, xdisplay, tmp_path):
    plan_copy(server, "e2e-firefox")
    report = _run(server, firefox, xdisplay, tmp_path)
    assert report["errors"] == [], "console errors in Firefox:\n" + "\n".join(report["errors"])
    assert report["browser"].startswith("firefox/")
    pl = report["planner"]
    assert pl["plan"] == "e2e-firefox"
    assert pl["webgl"]["version"].startswith("WebGL")
    assert header_problems(pl["header"]) == [], "Firefox, 1366x768"

    # first paint: the units are drawn in their territory's colour
    share, seen = _painted_share(tmp_path / "firefox.png", pl["units"], pl["mapBox"])
    assert seen > 1000, seen
    assert share > 0.5, f"only {share:.0%} of {seen} unit centroids show their territory's colour"
    if os.environ.get("TERRITORIUM_DOCS_IMG"):
        shutil.copy(tmp_path / "firefox.png", Path(os.environ["TERRITORIUM_DOCS_IMG"]) / "firefox.png")

    # a click selects the unit; the move changes the two bars by its workload at once
    mv = pl["move"]
    assert mv, "no unit with a neighbour in another territory could be clicked"
    assert mv["selected"] == [mv["unit"]]
    assert mv["workload"] > 0
    assert mv["after"][mv["from"]] == pytest.approx(mv["before"][mv["from"]] - mv["workload"], abs=1e-6)
    assert mv["after"][mv["to"]] == pytest.approx(mv["before"][mv["to"]] + mv["workload"], abs=1e-6)
    assert {t: v for t, v in mv["after"].items() if t not in (mv["from"], mv["to"])} == pytest.approx(
        {t: v for t, v in mv["before"].items() if t not in (mv["from"], mv["to"])})
    assert mv["saved"] == pl["version"] + 1
    stored = db_units(server, "e2e-firefox")
    assert {stored[u] for u in mv["members"]} == {mv["to"]}
    assert pl["dashboard"]["revenue"] > 0
    # the plan against its version before the move, side by side: the moved unit on the right
    side = pl["side"]
    assert side["changed"] == [mv["unit"]] and isinstance(side["right"][0], str)
    assert side["cameras"][0] == pytest.approx(side["cameras"][1])
    assert side["widths"][0] == pytest.approx(side["widths"][1], abs=2) and side["widths"][0] > 400

    # the rep sees their own territory only, and may not write
    rep, t = report["rep"], server.facts["rep_territory"]
    assert rep["territories"] == [t] and rep["unitTerritories"] == [t]
    plan_units = db_units(server, rep["plan"])
    assert sorted(rep["units"]) == sorted(u for u, tt in plan_units.items() if tt == t)
    assert rep["editToolsHidden"] and rep["plannerToolsHidden"]
    assert rep["writeStatus"] == 403
