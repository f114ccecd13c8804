"""Small things of the web app in a real browser: the hover box names the value the map is
coloured by, a quota of 0 is a quota (not "no quota"), and the dashboard's line chart names
its lines by territory and rep names. Expected values are computed here from the stored plan
and the server's per-unit data."""
from __future__ import annotations

import numpy as np
import pytest

from _e2e import login, plan_copy

pytestmark = pytest.mark.timeout(300)
PLAN = "e2e-details"


def _eng(server):
    from territorium import store

    return store.engine(f"sqlite:///{server.db}")


def _hover_unit_of(page, head: dict, territory: str) -> int:
    """Hover (real mouse) a unit of ``territory``; returns the index of the unit the hover box
    shows (its id in the box), which lies in ``territory``."""
    idx = [i for i, t in enumerate(head["unit_territories"]) if t == territory]
    for i in idx[:25]:
        page.evaluate("""(i) => new Promise((ok) => { const S = window.__territorium;
            S.map.jumpTo({ center: S.data.centroids[i], zoom: 10.5 }); S.map.once('idle', ok); })""", i)
        x, y = page.evaluate("""(i) => { const S = window.__territorium; const p = S.map.project(S.data.centroids[i]);
            const r = S.map.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", i)
        page.mouse.move(x - 3, y)
        page.mouse.move(x, y)
        page.wait_for_selector("#hover h2")
        uid = page.locator("#hover h2 small").inner_text().split(",")[0].strip()
        j = head["unit_ids"].index(uid)
        if head["unit_territories"][j] == territory:
            return j
    raise AssertionError(f"could not hover a unit of {territory}")


def test_hover_shows_the_colour_value_and_a_zero_quota_is_a_quota(page, server):
    from territorium.plan import plans

    plan_copy(server, PLAN)
    leaves = sorted(server.facts["territories"])
    zero, none = leaves[0], leaves[1]
    quotas = {t: 100_000.0 + 10_000 * k for k, t in enumerate(leaves)}
    quotas[zero] = 0.0
    del quotas[none]
    eng = _eng(server)
    try:
        v = plans.get_plan(eng, PLAN).version
        plans.update_territories(eng, PLAN, {t: {"quota": q} for t, q in quotas.items()}, expected_version=v,
                                 actor="seed", reason="quotas")
    finally:
        eng.dispose()
    login(page, server, "planner")
    assert page.evaluate("() => window.__territorium.data.plan.name") == PLAN
    head = page.request.get(f"{server.url}/api/plans/{PLAN}/map?detail=0&part=head").json()
    got_q = {t["id"]: t["quota"] for t in head["territories"]}
    assert got_q[zero] == 0.0 and got_q[none] is None   # the API keeps 0 apart from no quota
    rev = dict.fromkeys(leaves, 0.0)
    for t, r in zip(head["unit_territories"], head["measures"]["revenue"]):
        rev[t] += r

    # quota per territory: 0 is a value (class 0, shown as 0), no quota is grey
    page.select_option("#colour-by", "territory:quota")
    assert "no quota" in page.inner_text("#legend")
    i = _hover_unit_of(page, head, zero)
    box = page.locator("#hover .colour-value")
    assert box.is_visible() and "Quota per territory" in box.inner_text()
    assert box.locator("strong").inner_text() == "0" and box.get_attribute("data-value") == "0"
    colour = page.evaluate("(i) => window.__territorium.map.getFeatureState({ source: 'units', id: i }).colour", i)
    assert colour == "#f7fbff"   # the zero class, not the grey of no value

    # attainment: a quota of 0 has none, and says so; another territory's value is its revenue / quota
    page.select_option("#colour-by", "territory:attainment")
    assert "no quota, or a quota of 0" in page.inner_text("#legend")
    _hover_unit_of(page, head, zero)
    assert page.locator("#hover .colour-value strong").inner_text() == "quota of 0: no attainment"
    _hover_unit_of(page, head, none)
    assert page.locator("#hover .colour-value strong").inner_text() == "no quota"
    other = leaves[2]
    _hover_unit_of(page, head, other)
    shown = float(page.locator("#hover .colour-value").get_attribute("data-value"))
    assert shown == pytest.approx(rev[other] / quotas[other], rel=1e-6)
    assert page.locator("#hover .colour-value strong").inner_text() == f"{100 * rev[other] / quotas[other]:.0f} %"

    # back to territory colours: the hover box has no colour value
    page.select_option("#colour-by", "territory")
    _hover_unit_of(page, head, other)
    assert page.locator("#hover .colour-value").is_hidden()


def test_dashboard_lines_are_named_by_territory_and_rep_names(page, server):
    from territorium.plan import plans

    plan_copy(server, PLAN + "-dash")
    east = server.facts["east"]
    eng = _eng(server)
    try:
        v = plans.get_plan(eng, PLAN + "-dash").version
        plans.update_territories(eng, PLAN + "-dash", {east[0]: {"name": "Harbour & Hills"}}, expected_version=v,
                                 actor="seed", reason="a name")
        import sqlalchemy as sa

        with eng.connect() as c:
            rep_name = dict(c.execute(sa.text("SELECT rep_id, name FROM reps")).fetchall())
        c = plans.plan_content(eng, PLAN + "-dash", units=False).territories.set_index("territory_id")
    finally:
        eng.dispose()
    name = {t: (c.loc[t, "name"] or t) for t in east}
    login(page, server, "planner")
    page.get_by_role("button", name="Dashboard").click()
    page.wait_for_selector("body[data-dash='ready']", timeout=60_000)
    page.select_option("#dash-kind", "lines")
    page.select_option("#dash-node", "group:" + east[0])
    series = page.evaluate("() => window.__territorium.dashboard.chart.series")
    assert [(s["group"], s["name"]) for s in series] == [(east[0], f"{east[0]} – Harbour & Hills")]
    page.select_option("#dash-node", "node:East")
    for s in page.evaluate("() => window.__territorium.dashboard.chart.series")[:-1]:
        assert s["name"] == (s["group"] if name[s["group"]] == s["group"] else f"{s['group']} – {name[s['group']]}")
    # by rep: the reps' names, never their ids
    page.select_option("#dash-by", "rep")
    page.wait_for_selector("body[data-dash='ready']", timeout=60_000)
    page.wait_for_function("() => window.__territorium.dashboard.chart.series?.length > 0")
    series = page.evaluate("() => window.__territorium.dashboard.chart.series")
    named = [s for s in series if s["group"] is not None]
    assert named and all(s["name"] == rep_name[s["group"]] != s["group"] for s in named)
    assert np.all([s["name"].endswith("others") for s in series if s["group"] is None])
    # and the table's rows by rep: the name shown, the id on hover
    rows = page.locator("#dash-table tbody th")
    assert rows.count() > 0
    for k in range(rows.count()):
        rid = rows.nth(k).get_attribute("title")
        assert rows.nth(k).inner_text() == rep_name[rid] != rid
