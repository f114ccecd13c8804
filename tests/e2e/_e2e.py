"""Helpers of the browser tests: log in, copy the demo plan, save screenshots."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from _webws import PASSWORD


def missing(what: str):
    """Skip for want of ``what`` (a browser, a build); fail instead in CI (``CI`` set)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must run the browser tests: .ci/run installs chromium, firefox-esr and xvfb, "
                    "make test builds the app)")
    pytest.skip(what)


def login(page, server, user: str, password: str = PASSWORD) -> None:
    page.goto(server.url + "/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)


def plan_copy(server, name: str) -> None:
    """A draft copy of plan ``demo`` named ``name`` (the newest plan, so the page opens it)."""
    from territorium import store
    from territorium.plan import plans

    eng = store.engine(f"sqlite:///{server.db}")
    try:
        plans.copy_plan(eng, "demo", name, actor="seed")
    finally:
        eng.dispose()


def db_units(server, plan: str) -> dict[str, str]:
    """unit id -> territory of the stored plan (read from the server's database)."""
    from territorium import store
    from territorium.plan import plans

    eng = store.engine(f"sqlite:///{server.db}")
    try:
        c = plans.plan_content(eng, plan)
        return dict(zip(c.units["unit_id"], c.units["territory_id"]))
    finally:
        eng.dispose()


def screenshot(page, name: str, tmp_path) -> None:
    """Save a screenshot (and into ``TERRITORIUM_DOCS_IMG`` when set, for docs/img)."""
    page.screenshot(path=str(tmp_path / f"{name}.png"))
    dest = os.environ.get("TERRITORIUM_DOCS_IMG")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(dest) / f"{name}.png"))


# the header's controls and their boxes, as the layout tests read them (page coordinates)
HEADER_BOXES_JS = """() => {
  const h = document.querySelector('header.bar'), box = (e) => { const r = e.getBoundingClientRect();
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; };
  const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  const controls = [...h.querySelectorAll('button, select, input, #who, .brand')].filter(shown).map((e) => ({
    name: e.id || e.getAttribute('aria-label') || e.textContent.trim().slice(0, 20), ...box(e),
    clipped: e.tagName === 'BUTTON' && e.scrollWidth > e.clientWidth + 1 }));
  return { header: box(h), width: document.documentElement.clientWidth, controls };
}"""


def header_problems(boxes: dict, max_height: float = 44) -> list[str]:
    """What is wrong with the header's layout: more than one line, a control outside the
    window or the header, two controls overlapping, a button whose text overflows it."""
    h, out = boxes["header"], []
    if h["bottom"] - h["top"] > max_height:
        out.append(f"the header is {h['bottom'] - h['top']:.0f} px high (more than one line)")
    cs = boxes["controls"]
    mid = sorted((c["top"] + c["bottom"]) / 2 for c in cs)
    if mid and mid[-1] - mid[0] > 6:
        out.append(f"controls on several lines (centres from {mid[0]:.0f} to {mid[-1]:.0f} px)")
    for c in cs:
        if c["left"] < 0 or c["right"] > boxes["width"] or c["top"] < h["top"] or c["bottom"] > h["bottom"]:
            out.append(f"{c['name']} is cut off ({c['left']:.0f}-{c['right']:.0f} of {boxes['width']} px)")
        if c["clipped"]:
            out.append(f"{c['name']}'s text overflows it")
    for k, a in enumerate(cs):
        for b in cs[k + 1:]:
            if min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5 and \
                    min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5:
                out.append(f"{a['name']} and {b['name']} overlap")
    return out
