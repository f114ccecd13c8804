"""The web app on a laptop screen (1366x768, the ``page`` fixture's viewport) in a real browser:
the header is one line with every control whole, narrower windows wrap it without cutting
anything off, and the keyboard focus is visible on every header control."""
from __future__ import annotations

import pytest
from _e2e import HEADER_BOXES_JS, header_problems, login, plan_copy

pytestmark = pytest.mark.timeout(300)

# the header's controls that take the keyboard focus, in tab order (shown and enabled)
FOCUSABLE_JS = """() => [...document.querySelectorAll('header.bar button, header.bar select')]
  .filter((e) => !e.disabled && e.getClientRects().length > 0).map((e) => e.id || e.textContent.trim())"""


def test_header_is_one_line_on_a_laptop_screen_and_wraps_without_cutting_when_narrower(page, server):
    plan_copy(server, "e2e-layout-a-plan-with-a-rather-long-name")
    login(page, server, "planner")
    assert page.viewport_size == {"width": 1366, "height": 768}
    boxes = page.evaluate(HEADER_BOXES_JS)
    names = {c["name"] for c in boxes["controls"]}
    assert {"plan", "move", "undo", "redo", "rebalance", "compare", "tradeoff", "dashboard", "colour-by",
            "logout", "who"} <= names
    assert header_problems(boxes) == []
    # the map and the side panel take the rest of the window
    m, side = page.locator("#map").bounding_box(), page.locator("aside.side").bounding_box()
    assert m["y"] == pytest.approx(boxes["header"]["bottom"], abs=1.5) and m["y"] + m["height"] == pytest.approx(768, abs=1)
    assert m["width"] + side["width"] == pytest.approx(1366, abs=1) and m["width"] > 950

    # narrower: the header wraps (the check sees it), but no control is cut off or overlaps
    page.set_viewport_size({"width": 1024, "height": 768})
    narrow = header_problems(page.evaluate(HEADER_BOXES_JS))
    assert narrow and all("line" in p for p in narrow), narrow


def test_keyboard_focus_is_visible_on_every_header_control(page, server):
    login(page, server, "planner")
    page.evaluate("() => document.activeElement?.blur()")
    want = page.evaluate(FOCUSABLE_JS)
    seen = []
    for _ in range(len(want)):
        page.keyboard.press("Tab")
        f = page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();
            return { id: e.id || e.textContent.trim(), inHeader: !!e.closest('header.bar'), style: s.outlineStyle,
                     width: parseFloat(s.outlineWidth), colour: s.outlineColor, left: r.left, right: r.right,
                     visible: e.matches(':focus-visible') }; }""")
        assert f["inHeader"], f
        assert f["visible"] and f["style"] == "solid" and f["width"] >= 2, f"no visible focus ring on {f}"
        assert f["colour"] == "rgb(242, 169, 0)", f
        assert f["left"] - f["width"] - 1 >= 0 and f["right"] + f["width"] + 1 <= 1366, f"{f['id']}'s ring is cut off"
        seen.append(f["id"])
    assert seen == want
