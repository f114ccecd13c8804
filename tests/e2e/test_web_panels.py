"""The web app's comparison, trade-off picker, KPI dashboard and stored locks in a real browser
(Debian's chromium via Playwright) against a real server process. Expected figures are
computed here, from the database and the API, never read back from the page's own sums.
Any browser console error fails a test (see ``page`` in conftest.py)."""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from _e2e import db_units as _units
from _e2e import login, plan_copy, screenshot

pytestmark = pytest.mark.timeout(600)

BOOKED = ("paid", "partially_paid", "partially_refunded", "pending", "authorized")


def _eng(server):
    from territorium import store

    return store.engine(f"sqlite:///{server.db}")


def _scenario(server, base: str, name: str, n: int, seed: int) -> dict[str, str]:
    """A draft copy of ``base`` with ``n`` border units moved to a neighbouring territory
    (the map's unit graph); returns the moves."""
    from territorium.plan import plans

    eng = _eng(server)
    try:
        info = plans.copy_plan(eng, base, name, actor="seed")
        c = plans.plan_content(eng, name)
        t = dict(zip(c.units["unit_id"], c.units["territory_id"]))
        rng = np.random.default_rng(seed)
        ids = sorted(t)
        moves: dict[str, str] = {}
        for z in rng.permutation(ids):
            nb = [x for x in (f"{int(z) + d:05d}" for d in (-2, -1, 1, 2)) if x in t and t[x] != t[z]]
            if nb and z not in moves:
                moves[str(z)] = t[nb[0]]
            if len(moves) == n:
                break
        plans.move_units(eng, name, moves, expected_version=info.version, actor="seed", reason="scenario")
        return moves
    finally:
        eng.dispose()


def _map_changes(page, other: dict[str, str]) -> list[int]:
    """Map units whose territory in ``other`` differs from the page's plan: a map unit takes
    its own id's territory, else its first member's (as the map endpoint says)."""
    st = page.evaluate("""() => { const S = window.__territorium; return { members: S.data.members,
        own: S.data.units.features.map((f) => f.properties.u), t: S.data.units.features.map((f) => f.properties.t) }; }""")
    out = []
    for i, (mem, own, t) in enumerate(zip(st["members"], st["own"], st["t"])):
        key = own if own in other else next((z for z in mem if z in other), None)
        if key is not None and other[key] != t:
            out.append(i)
    return out


# ------------------------------------------------------------------------------ comparison
def test_compare_shows_the_diff_layer_and_table_then_promote_and_restore(page, server, tmp_path):
    moves = _scenario(server, "demo", "e2e-cmp~alt", 6, seed=3)
    plan_copy(server, "e2e-cmp")
    # a later change on the base, so that version 1 can be restored
    from territorium.plan import plans

    eng = _eng(server)
    z = sorted(_units(server, "e2e-cmp"))[10]
    t_other = next(t for t in server.facts["territories"] if t != _units(server, "e2e-cmp")[z])
    plans.move_units(eng, "e2e-cmp", {z: t_other}, expected_version=1, actor="seed", reason="later change")
    eng.dispose()
    login(page, server, "admin")
    assert page.evaluate("() => window.__territorium.data.plan.name") == "e2e-cmp"

    page.get_by_role("button", name="Compare…").click()
    page.select_option("#cmp-with", "e2e-cmp~alt")
    page.get_by_role("button", name="Show changes").click()
    page.wait_for_selector("body[data-compare='e2e-cmp~alt']", timeout=30_000)

    base, alt = _units(server, "e2e-cmp"), _units(server, "e2e-cmp~alt")
    moved = sorted(u for u in base if base[u] != alt[u])
    assert len(moved) >= len(moves)
    summary = page.locator("#cmp-summary")
    assert summary.locator("[data-k='units_moved']").inner_text() == str(len(moved))
    # the diff layer: exactly the map units that change, each filled with its new territory
    expect = _map_changes(page, alt)
    got = page.evaluate("() => window.__territorium.compare.changed.map((c) => c[0]).sort((a, b) => a - b)")
    assert got == expect and expect
    states = page.evaluate("""(ids) => ids.map((i) => window.__territorium.map.getFeatureState({ source: 'units', id: i }).proposed)""",
                           expect)
    assert all(isinstance(s, str) and s.startswith("#") for s in states)
    # the table: one row per territory whose units change, with the counts of both plans
    n_base = pd.Series(base).value_counts()
    n_alt = pd.Series(alt).value_counts()
    changed_t = sorted(t for t in set(n_base.index) | set(n_alt.index) if n_base.get(t, 0) != n_alt.get(t, 0))
    rows = page.locator("#cmp-table tr[data-t]")
    table = {rows.nth(k).get_attribute("data-t"): (int(rows.nth(k).get_attribute("data-units-from")),
                                                   int(rows.nth(k).get_attribute("data-units-to")))
             for k in range(rows.count())}
    assert {t: v for t, v in table.items() if v[0] != v[1]} == {t: (int(n_base.get(t, 0)), int(n_alt.get(t, 0)))
                                                                for t in changed_t}
    screenshot(page, "compare", tmp_path)

    # promote the scenario through the review steps, as an admin may
    for step, status in (("Propose", "proposed"), ("Approve", "approved"), ("Promote from today", "active")):
        page.get_by_role("button", name=f"{step} e2e-cmp~alt").click()
        page.wait_for_selector(f"body[data-reviewed='e2e-cmp~alt:{status}']", timeout=30_000)
    eng = _eng(server)
    assert plans.get_plan(eng, "e2e-cmp~alt").status == "active"
    eng.dispose()

    # restore the base's version 1 from the comparison with it
    page.select_option("#cmp-with", "@version")
    page.fill("#cmp-version", "1")
    page.get_by_role("button", name="Show changes").click()
    page.wait_for_selector("body[data-compare='e2e-cmp@1']", timeout=30_000)
    assert page.evaluate("() => window.__territorium.compare.changed.length") >= 1
    page.get_by_role("button", name="Restore version 1").click()
    page.wait_for_function("window.__territorium.data.plan.version === 3", timeout=30_000)
    eng = _eng(server)
    assert _units(server, "e2e-cmp") == dict(zip(*[plans.plan_content(eng, "e2e-cmp", 1).units[c]
                                                   for c in ("unit_id", "territory_id")]))
    eng.dispose()


def _reps_named(server) -> dict[str, str]:
    eng = _eng(server)
    try:
        with eng.connect() as c:
            return {r: n for r, n in c.exec_driver_sql("SELECT rep_id, name FROM reps").all()}
    finally:
        eng.dispose()


def _camera(page, which: str) -> list[float]:
    return page.evaluate(f"""() => {{ const m = {which}; const c = m.getCenter();
        return [c.lng, c.lat, m.getZoom(), m.getBearing()]; }}""")


def _swatch(page, territory: str) -> tuple[int, ...]:
    css = page.locator(f"#bars .row[data-t='{territory}'] .sw").evaluate("(e) => getComputedStyle(e).backgroundColor")
    return tuple(int(x) for x in css[css.index("(") + 1:css.index(")")].split(",")[:3])


def _pixel_near(png: bytes, xy, want, opacity: float) -> bool:
    """Whether a pixel within 2 px of ``xy`` has colour ``want`` drawn at ``opacity`` over the
    map background (#eef1f4)."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    blend = [opacity * c + (1 - opacity) * b for c, b in zip(want, (0xEE, 0xF1, 0xF4))]
    x, y = round(xy[0]), round(xy[1])
    return any(max(abs(p - q) for p, q in zip(img.getpixel((x + dx, y + dy)), blend)) <= 24
               for dx in range(-2, 3) for dy in range(-2, 3))


def test_compare_side_by_side_on_two_synced_maps_with_rep_names(page, server, tmp_path):
    _scenario(server, "demo", "e2e-side~alt", 8, seed=5)
    plan_copy(server, "e2e-side")
    login(page, server, "admin")
    page.get_by_role("button", name="Compare…").click()
    page.select_option("#cmp-with", "e2e-side~alt")
    page.get_by_role("button", name="Show changes").click()
    page.wait_for_selector("body[data-compare='e2e-side~alt']", timeout=30_000)

    # the reps affected by name (the id on hover), the ids those of the server's comparison
    api = page.request.get(f"{server.url}/api/compare?plan=e2e-side&plan=e2e-side~alt").json()
    ids = api["summary"][1]["reps"].split(";")
    shown = page.locator("#cmp-summary .rep")
    assert [shown.nth(k).get_attribute("data-rep") for k in range(shown.count())] == ids and ids
    names = _reps_named(server)
    assert [shown.nth(k).inner_text() for k in range(shown.count())] == [names.get(r) or r for r in ids]
    assert any(names.get(r) for r in ids)

    page.get_by_role("button", name="Side by side").click()
    page.wait_for_selector("body[data-side='ready']", timeout=60_000)
    left, right = page.locator("#map").bounding_box(), page.locator("#map2").bounding_box()
    assert abs(left["width"] - right["width"]) <= 2 and left["width"] > 400
    assert abs(right["x"] - (left["x"] + left["width"])) <= 3 and right["y"] == left["y"]
    assert _camera(page, "window.__territorium.map") == pytest.approx(_camera(page, "window.__territorium.side.map"))
    screenshot(page, "compare-side", tmp_path)
    # the right map: the other plan's territories (computed here), the units that change outlined
    alt = _units(server, "e2e-side~alt")
    expect = _map_changes(page, alt)
    st = page.evaluate("""(ids) => { const S = window.__territorium; return {
        right: ids.map((i) => S.side.map.getFeatureState({ source: 'units', id: i }).proposed ?? null),
        left: ids.map((i) => S.map.getFeatureState({ source: 'units', id: i }).proposed ?? null),
        other: Array.from(S.side.territories, (t) => t < 0 ? null : S.data.territories[t].id) }; }""", expect)
    assert all(isinstance(x, str) for x in st["right"]) and not any(st["left"])
    own = page.evaluate("() => window.__territorium.data.units.features.map((f) => f.properties.u)")
    members = page.evaluate("() => window.__territorium.data.members")
    assert st["other"] == [alt[u] if u in alt else alt[next(z for z in m if z in alt)] for u, m in zip(own, members)]

    # a drag on the left map moves the right one; the wheel on the right zooms the left one
    box = page.locator("#map canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    before = _camera(page, "window.__territorium.map")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 60, steps=6)
    page.mouse.up()
    page.wait_for_function("() => !window.__territorium.map.isMoving() && !window.__territorium.side.map.isMoving()")
    after = _camera(page, "window.__territorium.map")
    assert after[:2] != pytest.approx(before[:2])
    assert _camera(page, "window.__territorium.side.map") == pytest.approx(after)
    page.mouse.move(right["x"] + right["width"] / 2, right["y"] + right["height"] / 2)
    page.mouse.wheel(0, -600)
    page.wait_for_function(f"() => window.__territorium.side.map.getZoom() > {after[2] + 0.3} && "
                           "!window.__territorium.side.map.isMoving()", timeout=20_000)
    assert _camera(page, "window.__territorium.map") == pytest.approx(_camera(page, "window.__territorium.side.map"))

    # pixels: a unit that changes shows its old territory on the left and its new one on the right
    i = expect[0]
    page.evaluate("""(i) => new Promise((ok) => { const S = window.__territorium;
        S.map.jumpTo({ center: S.data.centroids[i], zoom: 10.5 });
        let n = 0; for (const m of [S.map, S.side.map]) m.once('idle', () => ++n === 2 && ok()); })""", i)
    xy = page.evaluate("""(i) => { const S = window.__territorium; return [S.map, S.side.map].map((m) => {
        const p = m.project(S.data.centroids[i]), r = m.getCanvas().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }); }""", i)
    t_from = page.evaluate("(i) => window.__territorium.data.territories[window.__territorium.unitT[i]].id", i)
    png = page.screenshot()
    assert _pixel_near(png, xy[0], _swatch(page, t_from), 0.78)
    assert _pixel_near(png, xy[1], _swatch(page, st["other"][i]), 0.95)

    # back to the diff layer: one map, the changed units marked on it
    page.get_by_role("button", name="Diff layer").click()
    assert page.locator("#map2").is_hidden()
    assert page.locator("#map").bounding_box()["width"] > left["width"] * 1.8
    assert page.evaluate("(ids) => ids.every((i) => window.__territorium.map.getFeatureState({ source: 'units', id: i }).proposed)",
                         expect)


# ------------------------------------------------------------------------------ trade-off
def _workload_deviation(page, alt: dict[str, str], shares: dict[str, float] | None = None) -> float:
    """Largest |total / target - 1| of the territories' workload under alignment ``alt``, from
    the map's per-unit workload (a map unit counted in its own id's territory); the target is
    the territory's share of the total (``shares``: the plan's capacity targets) or the mean."""
    st = page.evaluate("""() => { const S = window.__territorium; return { members: S.data.members,
        own: S.data.units.features.map((f) => f.properties.u), wl: S.data.measures.workload }; }""")
    tot: dict[str, float] = {}
    for mem, own, w in zip(st["members"], st["own"], st["wl"]):
        key = own if own in alt else next(z for z in mem if z in alt)
        tot[alt[key]] = tot.get(alt[key], 0.0) + w
    x = np.array(list(tot.values()))
    if shares:
        ref = np.array([shares[t] for t in tot]) / sum(shares[t] for t in tot) * x.sum()
        return float(np.abs(x / ref - 1).max())
    return float(np.abs(x / x.mean() - 1).max())


def _shares(server, plan: str) -> dict[str, float] | None:
    """The plan's capacity targets (``plan/targets.py``), read from the server's database."""
    from territorium import store
    from territorium.plan import plans
    from territorium.plan.targets import stored_targets

    eng = _eng(server)
    try:
        tg = stored_targets(eng, plans.plan_content(eng, plan))
    finally:
        eng.dispose()
    return None if tg is None else tg.shares


def test_tradeoff_job_draws_the_curve_and_shows_the_point_picked(page, server, tmp_path):
    plan_copy(server, "e2e-tro")
    login(page, server, "planner")
    page.get_by_role("button", name="Trade-offs…").click()
    page.fill("#tro-caps", "0, 5")
    page.fill("#tro-time", "2")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_selector("body[data-tradeoff='job:2']", timeout=300_000)
    pts = page.evaluate("() => window.__territorium.tradeoff.points")
    assert [(p["cap"], p["scenario"]) for p in pts] == [(0.0, "e2e-tro~cap0"), (0.05, "e2e-tro~cap5")]
    base = _units(server, "e2e-tro")
    for p in pts:   # the job's moved units are the stored scenario's difference from the plan
        alt = _units(server, p["scenario"])
        assert p["moved_units"] == sum(base[u] != alt.get(u) for u in base)
        assert p["worst"] == pytest.approx(max(p["max_deviation"].values()))
    # the stored scenarios drawn again, measured in the page on the workload against the capacity
    # targets when the plan has them (the bars' default), else the mean: recomputed here
    shares = _shares(server, "e2e-tro")
    assert page.input_value("#bal-basis") == ("target" if shares else "mean")
    page.get_by_role("button", name="Stored scenarios").click()
    page.wait_for_selector("body[data-tradeoff='stored:2']", timeout=30_000)
    for p in page.evaluate("() => window.__territorium.tradeoff.points"):
        alt = _units(server, p["scenario"])
        assert p["moved_units"] == len(_map_changes(page, alt))
        assert p["worst"] == pytest.approx(_workload_deviation(page, alt, shares), rel=1e-9)
    # picking a point (keyboard: its radio button) shows that scenario against the plan
    k = [p["scenario"] for p in page.evaluate("() => window.__territorium.tradeoff.points")].index("e2e-tro~cap5")
    page.locator(f"#tro-p{k}").focus()
    page.keyboard.press("Space")
    page.wait_for_selector("body[data-compare='e2e-tro~cap5']", timeout=30_000)
    alt = _units(server, "e2e-tro~cap5")
    assert page.evaluate("() => window.__territorium.compare.changed.length") == len(_map_changes(page, alt))
    screenshot(page, "tradeoff", tmp_path)


# ------------------------------------------------------------------------------ dashboard
def _placed_orders(server, plan: str, start: str, end: str) -> pd.DataFrame:
    """Booked orders in [start, end) with their territory (``territory``), computed here: an
    order's ZIP is its account's ZIP, else its shipping ZIP; the ZIP's unit (the geography's
    cell holding it) takes the plan territory of the cell's own id."""
    from territorium.geo import locate
    from territorium.plan.workspace import Workspace

    eng = _eng(server)
    try:
        with eng.connect() as c:
            o = pd.read_sql("SELECT o.total, o.financial_status, o.created_at, o.shipping_zip, o.account_id, "
                            "a.zip AS azip FROM orders o LEFT JOIN accounts a ON a.account_id = o.account_id", c)
        units = Workspace(engine=eng).load_units("zip").units
    finally:
        eng.dispose()
    plan = _units(server, plan)
    z = o["azip"].where(o["account_id"].notna(), o["shipping_zip"])
    pos = locate(units, zips=z.to_numpy(dtype=object))
    cell = units.table["unit_id"].astype(str).to_numpy()
    o["territory"] = [plan.get(cell[p]) if p >= 0 else None for p in pos]
    t = pd.to_datetime(o["created_at"])
    keep = (o["financial_status"].isna() | o["financial_status"].isin(BOOKED)) & (t >= start) & (t < end)
    return o[keep].assign(month=t[keep].dt.strftime("%Y-%m"))


def _placed_revenue(server, plan: str, start: str, end: str) -> pd.DataFrame:
    """Booked revenue and orders per territory in [start, end) (see :func:`_placed_orders`)."""
    return _placed_orders(server, plan, start, end).groupby("territory").agg(revenue=("total", "sum"),
                                                                             orders=("total", "size"))


def _cards(page) -> dict[str, float | None]:
    cards = page.locator("#dash-cards .card")
    out = {}
    for k in range(cards.count()):
        v = cards.nth(k).locator("strong").get_attribute("data-value")
        out[cards.nth(k).get_attribute("data-kpi")] = float(v) if v else None
    return out


def _open_dashboard(page) -> None:
    page.get_by_role("button", name="Dashboard").click()
    page.wait_for_selector("body[data-dash='ready']", timeout=60_000)


def test_dashboard_cards_chart_and_exports(page, server, tmp_path):
    plan_copy(server, "e2e-dash")
    # a territory name a spreadsheet would run as a formula: the CSV neutralises it
    from territorium.plan import plans

    eng = _eng(server)
    east = server.facts["east"]
    plans.update_territories(eng, "e2e-dash", {east[0]: {"name": "=HYPERLINK(\"http://x.example\")"}},
                             expected_version=1, actor="seed")
    eng.dispose()
    login(page, server, "planner")
    _open_dashboard(page)
    start, end = page.input_value("#dash-start"), page.input_value("#dash-end")
    want = _placed_revenue(server, "e2e-dash", start, end)
    cards = _cards(page)
    assert cards["revenue"] == pytest.approx(want["revenue"].sum(), rel=1e-9)
    assert cards["orders"] == want["orders"].sum()
    assert cards["aov"] == pytest.approx(want["revenue"].sum() / want["orders"].sum(), rel=1e-9)
    # the monthly chart adds up to the card
    chart = page.evaluate("() => window.__territorium.dashboard.chart")
    assert len(chart["labels"]) == 12 and sum(chart["values"]) == pytest.approx(cards["revenue"], rel=1e-9)
    # filter by hierarchy: the East region, then one territory
    page.select_option("#dash-node", "node:East")
    cards = _cards(page)
    assert cards["revenue"] == pytest.approx(want.loc[want.index.isin(east), "revenue"].sum(), rel=1e-9)
    assert page.locator("#dash-table tbody tr").count() == len(east)
    screenshot(page, "dashboard", tmp_path)

    with page.expect_download() as dl:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(dl.value.path().read_text(encoding="utf-8"))))
    assert [r["territory"] for r in rows] == sorted(east)
    for r in rows:
        assert float(r["revenue"]) == pytest.approx(want.loc[r["territory"], "revenue"], rel=1e-9)
        assert (r["start"], r["end"]) == (start, end)
    assert rows[0]["name"] == "'=HYPERLINK(\"http://x.example\")"      # shown as text by a spreadsheet

    page.select_option("#dash-node", "group:" + east[1])
    assert _cards(page)["revenue"] == pytest.approx(want.loc[east[1], "revenue"], rel=1e-9)
    page.select_option("#dash-axis", "group")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export PNG").click()
    from PIL import Image

    img = Image.open(dl.value.path())
    assert img.format == "PNG" and img.width >= 300 and img.height >= 200
    px = np.asarray(img.convert("RGB")).reshape(-1, 3)
    assert (np.abs(px - [0x4e, 0x79, 0xa7]).sum(axis=1) < 10).sum() > 100   # the bar is drawn
    # keyboard: back to the map
    page.get_by_role("button", name="Back to the map").focus()
    page.keyboard.press("Enter")
    assert page.locator("#dash").is_hidden()


def test_dashboard_lines_per_territory_over_time_and_png(page, server, tmp_path):
    login(page, server, "planner")
    plan = page.evaluate("() => window.__territorium.data.plan.name")
    _open_dashboard(page)
    start, end = page.input_value("#dash-start"), page.input_value("#dash-end")
    east = server.facts["east"]
    page.select_option("#dash-kind", "lines")
    page.select_option("#dash-node", "node:East")
    chart = page.evaluate("() => window.__territorium.dashboard.chart")
    assert chart["kind"] == "lines" and len(chart["labels"]) == 12
    o = _placed_orders(server, plan, start, end)
    want = (o[o["territory"].isin(east)].pivot_table(index="territory", columns="month", values="total", aggfunc="sum")
            .reindex(index=east, columns=chart["labels"]).fillna(0.0))
    ranked = sorted(east, key=lambda t: (-want.loc[t].sum(), t))
    # five lines for the largest territories, one for the 15 others together
    assert [x["group"] for x in chart["series"]] == ranked[:5] + [None]
    assert chart["series"][5]["name"] == f"{len(east) - 5} others"
    for x in chart["series"][:5]:
        assert x["values"] == pytest.approx(want.loc[x["group"]].tolist(), rel=1e-9, abs=1e-6)
    assert chart["series"][5]["values"] == pytest.approx(want.loc[ranked[5:]].sum().tolist(), rel=1e-9, abs=1e-6)
    screenshot(page, "dashboard-lines", tmp_path)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export PNG").click()
    assert dl.value.suggested_filename.endswith("-lines.png")
    from PIL import Image

    px = np.asarray(Image.open(dl.value.path()).convert("RGB")).reshape(-1, 3).astype(int)
    for colour in ((0x4e, 0x79, 0xa7), (0xf2, 0x8e, 0x2b), (0x76, 0xb7, 0xb2)):   # lines 1, 2 and 6
        assert (np.abs(px - colour).sum(axis=1) < 10).sum() > 40, colour
    # one territory: one line, its monthly revenue
    page.select_option("#dash-node", "group:" + east[1])
    chart = page.evaluate("() => window.__territorium.dashboard.chart")
    assert [x["group"] for x in chart["series"]] == [east[1]]
    assert chart["series"][0]["values"] == pytest.approx(want.loc[east[1]].tolist(), rel=1e-9, abs=1e-6)
    # per territory (not a time series): bars, the choice disabled
    page.select_option("#dash-axis", "group")
    assert page.locator("#dash-kind").is_disabled()
    assert page.evaluate("() => window.__territorium.dashboard.chart.kind") == "bars"


def test_rep_sees_only_their_own_dashboard(page, server, tmp_path):
    facts = server.facts
    login(page, server, "rep")
    plan = page.evaluate("() => window.__territorium.data.plan.name")
    assert not page.locator("#planner-tools").is_visible()
    _open_dashboard(page)
    options = page.locator("#dash-node option").all_inner_texts()
    assert len(options) == 2 and facts["rep_territory"] in options[1]
    rows = page.locator("#dash-table tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-group") == facts["rep_territory"]
    want = _placed_revenue(server, plan, page.input_value("#dash-start"), page.input_value("#dash-end"))
    assert _cards(page)["revenue"] == pytest.approx(want.loc[facts["rep_territory"], "revenue"], rel=1e-9)
    page.select_option("#dash-by", "rep")
    page.wait_for_function("window.__territorium.dashboard && window.__territorium.dashboard.by === 'rep'", timeout=60_000)
    groups = page.locator("#dash-table tbody tr").evaluate_all("(rs) => rs.map((r) => r.dataset.group)")
    assert groups == [facts["rep_id"]]
    screenshot(page, "dashboard-rep", tmp_path)


# ------------------------------------------------------------------------------ locks
def _click_unit(page, server, plan: str) -> int:
    """Click (zoomed in) a map unit that stands for one plan unit and whose centre lies in its
    polygon; returns its position."""
    import json

    import shapely

    m = page.request.get(f"{server.url}/api/plans/{plan}/map?detail=0").json()
    i = next(k for k, (f, mem) in enumerate(zip(m["units"]["features"], m["members"]))
             if len(mem) == 1 and shapely.from_geojson(json.dumps(f["geometry"])).buffer(-0.002)
             .contains(shapely.Point(m["centroids"][k])))
    page.evaluate("""(i) => new Promise((ok) => { const S = window.__territorium;
        S.map.jumpTo({ center: S.data.centroids[i], zoom: 11 }); S.map.once('idle', ok); })""", i)
    x, y = page.evaluate("""(i) => { const S = window.__territorium; const p = S.map.project(S.data.centroids[i]);
        const r = S.map.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", i)
    page.mouse.click(x, y)
    assert page.evaluate("() => [...window.__territorium.sel]") == [i]
    return i


def test_locks_are_stored_and_survive_a_reload(page, server):
    plan_copy(server, "e2e-keep")
    login(page, server, "planner")
    v0 = page.evaluate("() => window.__territorium.data.plan.version")
    i = _click_unit(page, server, "e2e-keep")
    page.keyboard.press("k")
    page.wait_for_selector(f"body[data-version='{v0 + 1}']", timeout=30_000)
    uid = page.evaluate("(i) => window.__territorium.data.members[i][0]", i)
    from territorium.plan import plans

    eng = _eng(server)
    assert plans.plan_content(eng, "e2e-keep").locks == (uid,)
    eng.dispose()
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    page.wait_for_selector("body[data-locks='1']", timeout=30_000)
    assert page.evaluate("() => [...window.__territorium.locked]") == [i]
    # a move leaves it where it is; unlocking is stored too
    t = page.evaluate("(i) => window.__territorium.unitT[i]", i)
    assert _click_unit(page, server, "e2e-keep") == i
    target = page.evaluate("""(t) => window.__territorium.leaves.map((x) => x.id)
        .find((x) => window.__territorium.tIndex.get(x) !== t)""", t)
    page.select_option("#target", target)
    page.get_by_role("button", name="Move", exact=True).click()
    assert "locked" in page.locator("#status").inner_text()
    assert page.evaluate("(i) => window.__territorium.unitT[i]", i) == t
    page.get_by_role("button", name="Lock").click()
    page.wait_for_selector(f"body[data-version='{v0 + 2}']", timeout=30_000)
    eng = _eng(server)
    assert plans.plan_content(eng, "e2e-keep").locks == ()
    eng.dispose()
