"""Choropleths of analytics in a real browser (issue 15): attainment per territory from the
stored quotas, and a numeric column of an analytic CSV the user picks (a forecast file as
`territorium forecast` writes it). The expected order is computed here from the database's
quotas and the server's per-unit revenue, never from the page's own sums; the colours are
the ones the map draws (its feature state). Any browser console error fails the test."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from _e2e import HEADER_BOXES_JS, header_problems, login, plan_copy

pytestmark = pytest.mark.timeout(300)

RAMP = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]
NONE = "#dddddd"
PLAN = "e2e-choro"


def _drawn(page) -> list[str]:
    """The fill colour the map draws for every unit (its feature state)."""
    return page.evaluate("""() => { const S = window.__territorium;
        return Array.from(S.unitT, (t, i) => S.map.getFeatureState({ source: 'units', id: i }).colour); }""")


def _check_order(values: np.ndarray, colours: list[str]) -> None:
    """NaN units grey; others in ramp classes that never fall as the value rises; the largest
    value in the top class."""
    nan = np.isnan(values)
    assert all(c == NONE for c, n in zip(colours, nan) if n)
    ok = ~nan
    cls = np.array([RAMP.index(c) for c, n in zip(colours, nan) if not n])
    v = values[ok]
    order = np.argsort(v, kind="stable")
    ranked = cls[order]
    # equal values share a class; a larger value never gets a lower class
    assert all(ranked[k] <= ranked[k + 1] or np.isclose(v[order][k], v[order][k + 1]) for k in range(len(v) - 1))
    assert cls[np.argmax(v)] == len(RAMP) - 1
    assert len(set(cls.tolist())) >= 3   # the classes do separate the values


def _set_quotas(server) -> dict[str, float | None]:
    """Quotas on every leaf territory of the plan but one (seeded); returns them as stored."""
    from territorium import store
    from territorium.plan import plans

    eng = store.engine(f"sqlite:///{server.db}")
    try:
        info = plans.get_plan(eng, PLAN)
        leaves = sorted(server.facts["territories"])
        rng = np.random.default_rng(15)
        changes = {t: {"quota": float(round(rng.uniform(50_000, 400_000), -3))} for t in leaves[1:]}
        plans.update_territories(eng, PLAN, changes, expected_version=info.version, actor="seed", reason="quotas")
        t = plans.plan_content(eng, PLAN).territories.set_index("territory_id")["quota"]
        return {k: (None if pd.isna(q) else float(q)) for k, q in t.items()}
    finally:
        eng.dispose()


def test_attainment_and_a_forecast_file_are_painted_in_order(page, server):
    plan_copy(server, PLAN)
    quota = _set_quotas(server)
    login(page, server, "planner")
    assert page.evaluate("() => window.__territorium.data.plan.name") == PLAN
    head = page.request.get(f"{server.url}/api/plans/{PLAN}/map?detail=0&part=head").json()
    tids = [t["id"] for t in head["territories"]]
    unit_t = head["unit_territories"]
    rev = np.asarray(head["measures"]["revenue"], dtype=float)
    sums = {t: 0.0 for t in tids}
    for t, r in zip(unit_t, rev):
        if t in sums:
            sums[t] += r
    att = {t: (sums[t] / quota[t] if quota.get(t) else np.nan) for t in tids}
    no_quota = sorted(server.facts["territories"])[0]
    assert np.isnan(att[no_quota]) and np.nanmax(list(att.values())) > 0

    options = page.eval_on_selector_all("#colour-by option", "os => os.map((o) => o.value)")
    assert {"territory:attainment", "territory:quota", "unit:white_space", "territory:white_space"} <= set(options)
    page.select_option("#colour-by", "territory:attainment")
    colours = _drawn(page)
    values = np.array([att.get(t, np.nan) if t is not None else np.nan for t in unit_t])
    _check_order(values, colours)
    top = max((t for t in tids if not np.isnan(att[t])), key=lambda t: att[t])
    assert {c for c, t in zip(colours, unit_t) if t == top} == {RAMP[-1]}
    assert {c for c, t in zip(colours, unit_t) if t == no_quota} == {NONE}
    legend = page.inner_text("#legend")
    assert "no quota" in legend and "trailing 12 months" in legend and "%" in legend

    # white space per unit: max(potential - revenue, 0) of the server's unit measures
    page.select_option("#colour-by", "unit:white_space")
    pot = np.asarray(head["measures"]["potential"], dtype=float)
    _check_order(np.maximum(pot - rev, 0), _drawn(page))

    # a forecast file as written by `territorium forecast`: level/name/period rows, two months
    # per territory (summed), a total row, an id not in the plan and a value that is no number
    leaves = sorted(server.facts["territories"])
    planted = leaves[len(leaves) // 2]
    rng = np.random.default_rng(7)
    rows = [("total", "total", "2026-01", "ets", 9e6)]
    fc = {}
    for t in leaves:
        for month in ("2026-01", "2026-02"):
            v = 1e6 if t == planted else float(round(rng.uniform(1_000, 90_000)))
            rows.append(("territory", t, month, "ets", v))
            fc[t] = fc.get(t, 0.0) + v
    rows.append(("territory", "T-NOT-IN-PLAN", "2026-01", "ets", 5.0))
    rows.append(("territory", leaves[-1], "2026-03", "ets", "n/a"))
    bad_row = len(rows) + 1   # the file's line: the header is line 1
    df = pd.DataFrame(rows, columns=["level", "name", "period", "model", "forecast"])
    df["lower"] = pd.to_numeric(df["forecast"], errors="coerce") * 0.8
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    with page.expect_file_chooser(timeout=10_000) as chooser:   # "From a file…" opens the file chooser
        page.select_option("#colour-by", "file-pick")
    chooser.value.set_files(files=[{"name": "forecast.csv", "mimeType": "text/csv", "buffer": buf.getvalue().encode()}])
    page.wait_for_function("() => document.getElementById('colour-by').value === 'file:'", timeout=10_000)
    assert page.input_value("#colour-column") == "forecast"
    status = page.inner_text("#status")
    assert "T-NOT-IN-PLAN" in status and f"row {bad_row}" in status and '"n/a"' in status, status
    colours = _drawn(page)
    values = np.array([fc.get(t, np.nan) if t is not None else np.nan for t in unit_t])
    _check_order(values, colours)
    assert {c for c, t in zip(colours, unit_t) if t == planted} == {RAMP[-1]}
    assert "forecast per territory (forecast.csv)" in page.inner_text("#legend")
    assert header_problems(page.evaluate(HEADER_BOXES_JS)) == []   # the column list is in the legend

    # another column of the same file (its own values: the n/a row's lower is empty, skipped)
    page.select_option("#colour-column", "lower")
    lower = df[(df["level"] == "territory") & df["name"].isin(leaves)].groupby("name")["lower"].sum()
    _check_order(np.array([lower.get(t, np.nan) if t is not None else np.nan for t in unit_t]), _drawn(page))
    assert "lower per territory" in page.inner_text("#legend")

    # a file without a key column is refused with what it lacks, and the map keeps its colours
    page.set_input_files("#colour-file", files=[{"name": "bad.csv", "mimeType": "text/csv",
                                                  "buffer": b"id,value\nA,1\n"}])
    page.wait_for_function("() => document.getElementById('status').textContent.includes('bad.csv')", timeout=10_000)
    assert "no column unit_id" in page.inner_text("#status")
    assert _drawn(page) == colours
