"""The demo's truth file agrees with the data it describes, and the planted effects show in
the raw data (``territorium.data.demo_effects``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from territorium.plan.panels import campaign_treatment, revenue_panel


def test_truth_file_beside_exports_not_in_manifest(impact_demo):
    out, _, truth = impact_demo
    manifest = yaml.safe_load((out / "manifest.yaml").read_text(encoding="utf-8"))
    assert "truth.yaml" not in [f["file"] for f in manifest["files"]]
    assert truth["seed"] == 7 and truth["size"] == "medium"
    assert truth["history"] == {**truth["history"], "start": "2024-11-01", "end": "2026-11-01"}
    waves = truth["campaign"]["waves"]
    assert [w["start"] for w in waves] == ["2025-02-01", "2025-07-01", "2026-01-01"]
    states = [s for w in waves for s in w["states"]] + truth["campaign"]["never_treated"]["states"]
    assert sorted(states) == sorted(["NY", "NJ", "PA", "CT", "MA", "RI", "NH", "VT", "ME"])
    # the effect path ramps up to each wave's maximum, and the waves differ
    for w in waves:
        path = w["uplift_by_month_since_start"]
        assert path == sorted(path) and path[0] < 0.1 * w["uplift_max"]
        assert path[-1] == pytest.approx(w["uplift_max"])
    assert len({w["uplift_max"] for w in waves}) == 3


def test_campaign_truth_matches_the_panel(impact_ws, impact_demo):
    """Sum of Y(1) over treated state-months in the workspace = what the truth implies, to the cent."""
    truth = impact_demo[2]
    h, real = truth["history"], truth["campaign"]["realised"]["state_month"]
    p = campaign_treatment(revenue_panel(impact_ws, level="state", freq="month", channel="dtc",
                                         start=h["start"], end=h["end"]), truth)
    assert (p["unit"].nunique(), p["period"].nunique()) == (real["units"], real["periods"])
    treated = p[p["treated"] == 1]
    assert len(treated) == real["treated_cells"]
    extra = truth["campaign"]["extra_revenue"]
    assert real["att_usd"] * real["treated_cells"] == pytest.approx(extra, rel=1e-6)
    # relative = extra / Y0 and Y1 = Y0 + extra over the treated cells
    y1 = treated["revenue"].sum()
    assert y1 == pytest.approx(extra / real["relative"] + extra, rel=1e-5)


def test_campaign_visible_in_raw_revenue(impact_ws, impact_demo):
    """Raw ratio of DTC revenue, treated states vs the held-out state, after vs before the
    start: wave 1's grows by about its planted uplift once the ramp is over."""
    truth = impact_demo[2]
    h = truth["history"]
    p = revenue_panel(impact_ws, level="state", freq="month", channel="dtc", start=h["start"],
                      end=h["end"]).pivot(index="period", columns="unit", values="revenue")
    w1 = truth["campaign"]["waves"][0]
    ratio = p[w1["states"]].sum(axis=1) / p["NJ"]
    start = pd.Timestamp(w1["start"])
    before = ratio[ratio.index < start].mean()
    late = ratio[ratio.index >= start + pd.DateOffset(months=12)].mean()
    assert late / before - 1 == pytest.approx(w1["uplift_max"], abs=0.15)
    # before its start, wave 3 against NJ does not move: the ratio is flat (parallel trends)
    w3 = truth["campaign"]["waves"][2]
    pre3 = (p[w3["states"]].sum(axis=1) / p["NJ"])[p.index < pd.Timestamp(w3["start"])]
    first, second = pre3.iloc[: len(pre3) // 2].mean(), pre3.iloc[len(pre3) // 2:].mean()
    assert abs(second / first - 1) < 0.1


def test_visit_truth_matches_the_data(impact_ws, impact_demo):
    truth = impact_demo[2]
    v = truth["visits"]
    with impact_ws.engine.connect() as c:
        n = c.execute(sa.text(
            "SELECT COUNT(*) FROM activities a JOIN accounts ac ON ac.account_id = a.account_id "
            "WHERE LOWER(a.type) = 'visit' AND ac.account_type = :t"), {"t": v["population"]}).scalar()
    assert n == v["realised"]["visits"]
    # Poisson(mean) orders per visit, minus those that would fall after the history's end
    mean = v["expected_extra_orders_per_visit"]
    expected = mean * n * (1 - 0.5 * v["window_days"] / 730)
    assert v["realised"]["extra_orders"] == pytest.approx(expected, rel=0.06)
    assert v["realised"]["per_visit_usd"] > 0


def test_realignment_truth_matches_the_data(impact_ws, impact_demo):
    truth = impact_demo[2]
    rl = truth["realignment"]
    moved = pd.DataFrame(rl["moved_accounts"])
    acc = impact_ws.table("accounts").set_index("account_id")
    assert (acc.loc[moved["account"], "owner_id"].to_numpy() == moved["to_owner"].to_numpy()).all()
    assert (moved["from_owner"] != moved["to_owner"]).all()
    # the strips are in the receiving territory today
    al = impact_ws.table("alignment").set_index("unit_id")["territory_id"]
    for ch in rl["changes"]:
        assert (al.loc[ch["zips"]] == ch["territory"]).all()
        assert ch["from_territory"] != ch["territory"]
    # activities before the date carry the previous owner (bar manager ride-alongs), after it the new
    act = impact_ws.table("activities")
    act = act[act["account_id"].isin(set(moved["account"]))].merge(
        moved, left_on="account_id", right_on="account")
    before = act["date"] < pd.Timestamp(rl["date"])
    assert (act.loc[before, "rep_id"] == act.loc[before, "from_owner"]).mean() > 0.9
    assert (act.loc[~before, "rep_id"] == act.loc[~before, "to_owner"]).mean() > 0.9
    assert not (act.loc[before, "rep_id"] == act.loc[before, "to_owner"]).any()


def test_realignment_dip_visible_in_raw_orders(impact_ws, impact_demo):
    """Orders per moved account fall by about the planted share in the dip months, relative to
    the unmoved accounts, and recover after."""
    truth = impact_demo[2]
    rl = truth["realignment"]
    moved = {m["account"] for m in rl["moved_accounts"]}
    with impact_ws.engine.connect() as c:
        o = pd.DataFrame(c.execute(sa.text(
            "SELECT o.account_id, o.created_at FROM orders o JOIN accounts ac "
            "ON ac.account_id = o.account_id WHERE ac.account_type = 'Customer - Direct'")).fetchall(),
            columns=["account_id", "created_at"])
    o["created_at"] = pd.to_datetime(o["created_at"])
    o["moved"] = o["account_id"].isin(moved)
    start, end = pd.Timestamp(rl["date"]), pd.Timestamp(rl["dip_end"])
    win = {"pre": (start - pd.DateOffset(months=12), start), "dip": (start, end)}
    share = {k: o.loc[o["created_at"].between(a, b, inclusive="left"), "moved"].mean()
             for k, (a, b) in win.items()}
    drop = 1 - (share["dip"] / (1 - share["dip"])) / (share["pre"] / (1 - share["pre"]))
    assert drop == pytest.approx(rl["dip_share_of_orders"], abs=0.12)
    assert rl["realised"]["relative"] == pytest.approx(-rl["dip_share_of_orders"], abs=0.06)
    assert np.isclose(rl["realised"]["att_usd_per_account_month"] * rl["realised"]["moved_direct_accounts"]
                      * rl["dip_months"], -rl["realised"]["lost_revenue"], rtol=1e-6)
