"""The web app in a real browser (Debian's chromium via Playwright) against a real server
process: log in, see the plan, move units by clicking and by lasso, watch the balance bars
change before the server answers, undo, lock, meet a conflict, and a rep who sees only their
own territory. Any browser console error fails a test (see ``page`` in conftest.py)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import shapely

from _e2e import db_units as _db_units
from _e2e import login, plan_copy, screenshot

pytestmark = pytest.mark.timeout(600)


def _state(page) -> dict:
    """What the page holds (territory per unit, version, selection) as plain JSON."""
    return page.evaluate("""() => { const S = window.__territorium; return {
        unitT: Array.from(S.unitT).map((t) => t < 0 ? null : S.data.territories[t].id),
        version: S.data.plan.version, sel: [...S.sel].sort((a, b) => a - b), plan: S.data.plan.name,
        territories: S.data.territories.map((t) => t.id), lastBalanceMs: S.lastBalanceMs ?? null }; }""")


def _bars(page, measure: str = "workload") -> dict[str, float]:
    page.select_option("#bal-measure", measure)
    rows = page.locator("#bars .row")
    return {rows.nth(k).get_attribute("data-t"): float(rows.nth(k).locator(".val").get_attribute("data-value"))
            for k in range(rows.count())}


def _server_map(page, server, plan: str) -> dict:
    r = page.request.get(f"{server.url}/api/plans/{plan}/map?detail=0")
    assert r.ok, r.text()
    return r.json()


def _zoom_to(page, unit: int, zoom: float = 10.5) -> None:
    page.evaluate("""([i, z]) => new Promise((ok) => { const S = window.__territorium;
        S.map.jumpTo({ center: S.data.centroids[i], zoom: z }); S.map.once('idle', ok); })""", [unit, zoom])


def _pixel(page, unit: int) -> tuple[float, float]:
    """Screen position (page pixels) of a unit's centroid."""
    return tuple(page.evaluate("""(i) => { const S = window.__territorium; const p = S.map.project(S.data.centroids[i]);
        const r = S.map.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", unit))


def _parts(edges, unit_t, territory: str) -> int:
    """Connected parts of a territory over the unit graph (scipy, independent of the page)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    idx = [i for i, t in enumerate(unit_t) if t == territory]
    pos = {u: k for k, u in enumerate(idx)}
    e = [(pos[a], pos[b]) for a, b in edges if a in pos and b in pos]
    g = coo_matrix((np.ones(len(e)), ([a for a, _ in e], [b for _, b in e])), shape=(len(idx), len(idx)))
    return connected_components(g, directed=False)[0]


def _wait_version(page, v: int) -> None:
    page.wait_for_selector(f"body[data-version='{v}']", timeout=30_000)


def _inside_unit(m: dict, i: int, lon_lat) -> bool:
    g = shapely.from_geojson(json.dumps(m["units"]["features"][i]["geometry"]))
    return g.distance(shapely.Point(lon_lat)) < 1e-3


def test_planner_moves_by_click_and_lasso_and_undoes(page, server, tmp_path):
    plan_copy(server, "e2e-moves")
    login(page, server, "planner")
    st = _state(page)
    assert st["plan"] == "e2e-moves"
    m = _server_map(page, server, "e2e-moves")
    assert st["unitT"] == [f["properties"]["t"] for f in m["units"]["features"]]
    screenshot(page, "map-planner", tmp_path)

    # a unit on the border of two territories, so it has a neighbour across
    t_of = st["unitT"]
    border = [(a, b) for a, b in m["edges"] if t_of[a] != t_of[b]]
    wl = np.asarray(m["measures"]["workload"])
    a, b = next((a, b) for a, b in border if wl[a] > 0 and _inside_unit(m, a, m["centroids"][a]))
    src, dst = t_of[a], t_of[b]
    _zoom_to(page, a)
    before = _bars(page)
    page.select_option("#target", dst)
    x, y = _pixel(page, a)
    page.mouse.click(x, y)
    assert _state(page)["sel"] == [a]
    page.get_by_role("button", name="Move", exact=True).click()
    after = _bars(page)   # read at once: the server has not necessarily answered
    assert after[src] == pytest.approx(before[src] - wl[a], abs=1e-6)
    assert after[dst] == pytest.approx(before[dst] + wl[a], abs=1e-6)
    assert {t: v for t, v in after.items() if t not in (src, dst)} == \
        pytest.approx({t: v for t, v in before.items() if t not in (src, dst)})
    assert _state(page)["lastBalanceMs"] < 100
    _wait_version(page, st["version"] + 1)
    stored = _db_units(server, "e2e-moves")
    assert all(stored[z] == dst for z in m["members"][a])

    # lasso: a ring of 60 px around a unit of the source territory
    others = [i for i, t in enumerate(_state(page)["unitT"]) if t == src and i != a]
    c = min(others, key=lambda i: np.hypot(*(np.subtract(m["centroids"][i], m["centroids"][a]))))
    _zoom_to(page, c, 8.5)
    cx, cy = _pixel(page, c)
    ring = [(cx + 70 * np.cos(t), cy + 50 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 24)]
    page.keyboard.press("l")
    page.mouse.move(*ring[0])
    page.mouse.down()
    for p in ring[1:]:
        page.mouse.move(*p)
    page.mouse.up()
    # the units whose centroid lies in the ring, computed here from the screen positions
    pix = page.evaluate("""() => { const S = window.__territorium; const r = S.map.getCanvas().getBoundingClientRect();
        return S.data.centroids.map((c) => { const p = S.map.project(c); return [r.left + p.x, r.top + p.y]; }); }""")
    poly = shapely.Polygon(ring)
    expect = sorted(i for i, p in enumerate(pix) if poly.contains(shapely.Point(p)))
    assert c in expect and _state(page)["sel"] == expect
    screenshot(page, "lasso", tmp_path)
    t_before = _state(page)["unitT"]
    page.keyboard.press("m")
    st2 = _state(page)
    assert all(st2["unitT"][i] == dst for i in expect)
    _wait_version(page, st["version"] + 2)
    stored = _db_units(server, "e2e-moves")
    assert all(stored[z] == dst for i in expect for z in m["members"][i])
    bars_after_lasso = _bars(page)
    assert bars_after_lasso[dst] == pytest.approx(after[dst] + sum(wl[i] for i in expect if t_before[i] != dst), abs=1e-6)

    # undo the lasso move: page, bars and stored plan are back to the state after the click
    page.keyboard.press("Control+z")
    assert _bars(page) == pytest.approx(after)
    _wait_version(page, st["version"] + 3)
    stored = _db_units(server, "e2e-moves")
    assert all(stored[z] == t_before[i] for i in expect for z in m["members"][i])
    # redo, then undo again through the button
    page.keyboard.press("Control+y")
    _wait_version(page, st["version"] + 4)
    page.get_by_role("button", name="Undo").click()
    _wait_version(page, st["version"] + 5)
    assert _bars(page) == pytest.approx(after)


def test_lock_contiguity_and_conflict(page, server, tmp_path):
    plan_copy(server, "e2e-lock")
    login(page, server, "planner")
    st = _state(page)
    m = _server_map(page, server, "e2e-lock")
    t_of = st["unitT"]
    # a unit whose neighbours are all in its own territory, moved to a far territory: split
    adj: dict[int, set] = {}
    for a, b in m["edges"]:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    inner = next(i for i in range(len(t_of)) if adj.get(i) and all(t_of[j] == t_of[i] for j in adj[i])
                 and _inside_unit(m, i, m["centroids"][i]))
    far = next(t for t in st["territories"] if t not in {t_of[j] for j in adj[inner]} and t in set(t_of))
    _zoom_to(page, inner)
    x, y = _pixel(page, inner)
    # lock it (stored in the plan: a new version): a move leaves it where it is
    page.mouse.click(x, y)
    page.get_by_role("button", name="Lock").click()
    _wait_version(page, st["version"] + 1)
    page.select_option("#target", far)
    page.get_by_role("button", name="Move", exact=True).click()
    assert _state(page)["unitT"][inner] == t_of[inner]
    assert "locked" in page.locator("#status").inner_text()
    # unlock (version + 2) and move: the far territory is now in two parts
    page.get_by_role("button", name="Lock").click()
    _wait_version(page, st["version"] + 2)
    page.get_by_role("button", name="Move", exact=True).click()
    assert _state(page)["unitT"][inner] == far
    parts = _parts(m["edges"], _state(page)["unitT"], far)   # counted here, over the server's unit graph
    assert parts >= 2
    assert f"{far} is split into {parts} parts" in page.locator("#warnings").inner_text()
    _wait_version(page, st["version"] + 3)
    screenshot(page, "contiguity", tmp_path)

    # someone else changes the plan meanwhile: the next move is refused with what changed
    from territorium import store
    from territorium.plan import plans

    eng = store.engine(f"sqlite:///{server.db}")
    other = next(i for i in range(len(t_of)) if i != inner and t_of[i] != far)
    uid = m["members"][other][0]
    plans.move_units(eng, "e2e-lock", {uid: far}, expected_version=st["version"] + 3, actor="admin", reason="by hand")
    eng.dispose()
    page.allowed_errors.append("409")   # the browser logs the refused request itself
    page.keyboard.press("Control+z")
    page.wait_for_selector("#conflict >> text=the plan changed meanwhile", timeout=30_000)
    text = page.locator("#conflict").inner_text()
    assert "admin" in text and uid in text
    assert _state(page)["unitT"][inner] == far   # the refused undo is rolled back on the page
    assert _db_units(server, "e2e-lock")[m["members"][inner][0]] == far
    page.get_by_role("button", name="Reload the plan").click()
    page.wait_for_function(f"window.__territorium.data.plan.version === {st['version'] + 4}")


def test_choropleth_and_hover(page, server, tmp_path):
    login(page, server, "planner")
    m = _server_map(page, server, _state(page)["plan"])
    i = int(np.argmax(m["measures"]["revenue"]))
    _zoom_to(page, i, 9)
    page.select_option("#colour-by", "unit:revenue")
    legend = page.locator("#legend").inner_text()
    assert "Revenue per unit" in legend
    x, y = _pixel(page, i)
    page.mouse.move(x, y)
    page.wait_for_selector("#hover h2")
    hover = page.locator("#hover").inner_text()
    assert m["units"]["features"][i]["properties"]["u"] in hover or not _inside_unit(m, i, m["centroids"][i])
    page.evaluate("() => window.__territorium.map.fitBounds([[-80.6, 38.8], [-66.8, 47.5]], {duration: 0})")
    page.wait_for_timeout(500)
    screenshot(page, "choropleth", tmp_path)


def test_rep_sees_only_their_territory(page, server, tmp_path):
    facts = server.facts
    login(page, server, "rep")
    st = _state(page)
    assert st["territories"] == [facts["rep_territory"]]
    assert set(st["unitT"]) == {facts["rep_territory"]}
    rows = page.locator("#bars .row")
    assert rows.count() == 1 and rows.first.get_attribute("data-t") == facts["rep_territory"]
    assert not page.locator("#edit-tools").is_visible()
    labels = page.locator(".tlabel").all_inner_texts()
    assert labels == [facts["rep_territory"]]
    # the API behind the page refuses the rest too
    other = next(t for t in facts["territories"] if t != facts["rep_territory"])
    r = page.request.get(f"{server.url}/api/plans/demo/units?territory={other}")
    assert r.ok and r.json()["total"] == 0
    csrf = page.evaluate("() => sessionStorage.getItem('territorium-csrf')")
    r = page.request.post(f"{server.url}/api/plans/demo/moves", headers={"X-CSRF-Token": csrf},
                          data={"moves": {"10001": other}, "expected_version": 1})
    assert r.status == 403 and "rep may not" in r.text()
    screenshot(page, "map-rep", tmp_path)


def test_login_with_the_keyboard_and_a_wrong_password(page, server):
    page.goto(server.url + "/")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'username'")
    page.keyboard.type("planner")   # the user name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.allowed_errors.append("401")
    page.keyboard.press("Enter")
    page.wait_for_selector("#login-error >> text=wrong user name or password")
    page.get_by_label("Password").fill("correct horse battery staple")
    t0 = time.monotonic()
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert time.monotonic() - t0 < 60
    page.keyboard.press("b")
    assert page.get_by_role("button", name="Box").get_attribute("aria-pressed") == "true"


def test_rebalance_job_accept_then_cancel(page, server, tmp_path):
    plan_copy(server, "e2e-job")
    login(page, server, "planner")
    st = _state(page)
    page.get_by_role("button", name="Rebalance…").click()
    page.get_by_label("Time limit").fill("4")
    # run to the end: the proposal is highlighted, not applied, until accepted
    page.get_by_role("button", name="Start").click()
    page.wait_for_selector("#job-progress", state="visible")
    deadline = time.monotonic() + 400
    while page.locator("#job-result").is_hidden():
        assert time.monotonic() < deadline, (page.locator("#job-message").inner_text(),
                                             page.locator("#status").inner_text(), server.log.read_text()[-3000:])
        page.wait_for_timeout(500)
    job = page.evaluate("() => window.__territorium.job")
    proposal = _db_units(server, job["copy"])
    assert _db_units(server, "e2e-job") == _db_units(server, "demo")        # nothing applied yet
    m = _server_map(page, server, "e2e-job")
    mp = _server_map(page, server, job["copy"])
    changed = [i for i, (a, b) in enumerate(zip(m["units"]["features"], mp["units"]["features"]))
               if a["properties"]["t"] != b["properties"]["t"]]
    assert changed, "the realignment moved nothing"
    assert f"{len(changed)} units would change territory" in page.locator("#job-summary").inner_text()
    rows = page.locator("#job-table tr[data-t]")
    assert rows.count() == len({m["units"]["features"][i]["properties"]["t"] for i in changed}
                               | {mp["units"]["features"][i]["properties"]["t"] for i in changed})
    screenshot(page, "rebalance-proposal", tmp_path)
    page.get_by_role("button", name="Accept").click()
    _wait_version(page, st["version"] + 1)
    after = _db_units(server, "e2e-job")
    for i in changed:
        for z in m["members"][i]:
            assert after[z] == proposal[z]
    assert _state(page)["unitT"] == [f["properties"]["t"] for f in mp["units"]["features"]]
    # a cancelled job leaves the plan as it was
    page.get_by_role("button", name="Rebalance…").click()
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("window.__territorium.job && window.__territorium.job.id !== " + json.dumps(job["id"]))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_selector("#status >> text=cancelled", timeout=120_000)
    assert _db_units(server, "e2e-job") == after
