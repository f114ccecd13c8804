"""The balance bars against each territory's own capacity target, in a real browser.

A plan whose territories have unequal capacity targets (its staffing names reps of planted
capacities): the smallest territory, staffed by a rep whose capacity is that small, is within
10 % of its target (while it is far below the plain mean, so a page that compares with the mean
flags it), and the territory whose rep has 1.5x its workload in capacity is flagged. Targets and
deviations are computed here from the planted capacities and the server's per-unit workload."""
from __future__ import annotations

import math

import numpy as np
import pytest

from _e2e import login, screenshot

pytestmark = pytest.mark.timeout(300)
PLAN = "e2e-targets"


def _plant(server, workload: dict[str, float], small: str, over: str) -> dict[str, float]:
    """Plan ``PLAN`` = plan demo's alignment, each leaf staffed by a new (inactive) rep whose
    capacity is its territory's workload, ``over``'s 1.5 times it. Returns the capacities."""
    import sqlalchemy as sa

    from territorium import store
    from territorium.plan import plans

    cap = {t: (1.5 if t == over else 1.0) * w for t, w in workload.items()}
    eng = store.engine(f"sqlite:///{server.db}")
    try:
        with eng.begin() as conn:
            conn.execute(sa.text("INSERT INTO reps (rep_id, name, title, capacity_hours, fte, active) "
                                 "VALUES (:r, :n, 'Account Executive', :c, 1.0, 0)"),
                         [{"r": f"cap-{t}", "n": f"Rep of {t}", "c": c} for t, c in cap.items()])
        c = plans.plan_content(eng, "demo")
        plans.create_plan(eng, PLAN, units=dict(zip(c.units["unit_id"], c.units["territory_id"])),
                          territories={t: {"reps": [f"cap-{t}"]} for t in cap}, actor="seed",
                          reason="planted capacity targets")
    finally:
        eng.dispose()
    return cap


def _rows(page) -> dict[str, dict]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#bars .row')].map((r) =>
        [r.dataset.t, { off: r.classList.contains('off'), dev: Number(r.dataset.dev), ref: Number(r.dataset.ref),
                        title: r.title, shown: r.querySelector('.dev').textContent }]))""")


def test_bars_compare_each_territory_with_its_capacity_target(page, server, tmp_path):
    login(page, server, "planner")
    head = page.request.get(f"{server.url}/api/plans/demo/map?detail=0&part=head").json()
    leaves = [t["id"] for t in head["territories"] if t["leaf"]]
    w = dict.fromkeys(leaves, 0.0)
    for t, x in zip(head["unit_territories"], head["measures"]["workload"]):
        if t in w:
            w[t] += x
    mean = sum(w.values()) / len(w)
    small = min(w, key=w.get)
    over = max(w, key=w.get)
    assert w[small] < 0.8 * mean, "the planted case needs a territory far below the mean"
    cap = _plant(server, w, small, over)
    target = {t: sum(w.values()) * cap[t] / sum(cap.values()) for t in leaves}
    assert abs(w[small] / target[small] - 1) < 0.10 < abs(w[over] / target[over] - 1)

    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert page.evaluate("() => window.__territorium.data.plan.name") == PLAN
    page.select_option("#bal-measure", "workload")
    rows = _rows(page)
    assert set(rows) == set(leaves)
    # what a user reads (the red row, the % shown): on its small target; a rep with 1.5x the workload
    assert not rows[small]["off"] and rows[over]["off"]
    for t in leaves:
        dev = 100 * (w[t] / target[t] - 1)
        n = math.floor(dev + 0.5)   # JavaScript's Math.round
        assert rows[t]["shown"] == f"{'+' if n > 0 else ''}{n}%"
        assert rows[t]["off"] == (abs(dev) > 10)
    for t in leaves:   # every row's tick and deviation against its own target
        assert rows[t]["ref"] == pytest.approx(target[t], rel=1e-6)
        assert rows[t]["dev"] == pytest.approx(100 * (w[t] / target[t] - 1), abs=1e-6)
    assert page.input_value("#bal-basis") == "target" and page.is_visible("#bal-basis")
    assert "vs capacity target" in page.inner_text("#bars .hint")
    assert f"capacity {_fmt(cap[small])} h" in rows[small]["title"]
    screenshot(page, "balance-targets-planted", tmp_path)

    # the plain mean on request: the small territory is now flagged, the tick at the mean
    page.select_option("#bal-basis", "mean")
    rows = _rows(page)
    assert "vs mean" in page.inner_text("#bars .hint")
    assert rows[small]["off"] and rows[small]["ref"] == pytest.approx(mean, rel=1e-9)
    assert rows[small]["dev"] == pytest.approx(100 * (w[small] / mean - 1), abs=1e-6)
    # the rebalance and trade-off jobs balance towards the capacity targets unless told "equal territories"
    page.get_by_role("button", name="Rebalance…").click()
    assert page.locator("#job-targets").is_visible() and page.input_value("#job-targets") == "plan"
    page.get_by_role("button", name="Trade-offs…").click()
    assert page.locator("#tro-targets").is_visible() and page.input_value("#tro-targets") == "plan"
    sent: list[dict] = []

    def refuse(route):   # what the page asks for, without running the job
        sent.append(route.request.post_data_json)
        route.fulfill(status=400, content_type="application/json", body='{"detail": "refused by the test"}')

    page.allowed_errors.append("status of 400")   # the browser logs the refused request itself
    page.route("**/api/plans/*/jobs", refuse)
    page.fill("#tro-caps", "0")
    for choice in ("plan", "equal"):
        page.select_option("#tro-targets", choice)
        n = len(sent)
        page.get_by_role("button", name="Run", exact=True).click()
        for _ in range(100):
            if len(sent) > n:
                break
            page.wait_for_timeout(100)
    page.unroute("**/api/plans/*/jobs", refuse)
    assert [(b["kind"], b["targets"]) for b in sent] == [("tradeoff", "plan"), ("tradeoff", "equal")]

    page.select_option("#bal-basis", "target")
    np.testing.assert_allclose(sorted(r["ref"] for r in _rows(page).values()), sorted(target.values()), rtol=1e-6)


def _fmt(v: float) -> str:
    """The page's number format (main.js ``fmt``)."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}".removesuffix(".0")
