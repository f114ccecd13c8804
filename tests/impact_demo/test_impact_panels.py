"""Long panels from the workspace (``territorium.plan.panels``): exact on a hand-made workspace,
consistent with the stored orders on the medium demo."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from territorium.plan.panels import (account_frame, activity_panel, campaign_treatment,
                                     period_start, realignment_treatment, revenue_panel)
from territorium.plan.workspace import Workspace
from territorium.store.db import write_frames


@pytest.fixture()
def tiny(tmp_path) -> Workspace:
    """Two accounts, one consumer, six orders around month and week boundaries (UTC)."""
    ws = Workspace(f"sqlite:///{tmp_path / 'tiny.db'}", create=True)
    frames = {
        "accounts": pd.DataFrame({"account_id": ["A1", "A2"], "name": ["Salon A", "Spa B"],
                                  "state": ["NJ", "NY"], "zip": ["07001", "10001"],
                                  "account_type": ["Customer - Direct", "Prospect"],
                                  "tier": ["A", "C"], "potential": [1000.0, 50.0],
                                  "product_lines": ["Skincare;Haircare", "Skincare"]}),
        "contacts": pd.DataFrame({"contact_id": ["C1"], "account_id": ["A1"],
                                  "email": ["buyer@salon-a.com"]}),
        "orders": pd.DataFrame({
            "order_id": ["#1", "#2", "#3", "#4", "#5", "#6"],
            "customer_email": ["buyer@salon-a.com", "buyer@salon-a.com", "jo@gmail.com",
                               "jo@gmail.com", "jo@gmail.com", "jo@gmail.com"],
            # Sun 2025-03-02 23:59 is in the week of Mon 2025-02-24; 03-31 23:30 is March
            "created_at": ["2025-03-02 23:59:00", "2025-03-31 23:30:00", "2025-03-03 00:00:00",
                           "2025-04-01 00:00:00", "2025-04-02 10:00:00", "2025-04-03 10:00:00"],
            "total": [100.0, 200.0, 10.0, 20.0, 40.0, 80.0],
            "financial_status": ["paid", "paid", "paid", "partially_refunded", "refunded", "voided"],
            "shipping_zip": ["07001", "07001", "10001", "10001", "10001", "10001"],
            "shipping_state": ["NJ", "NJ", "NY", "NY", "NY", "NY"]}),
        "activities": pd.DataFrame({"activity_id": ["V1", "V2", "V3", "E1"],
                                    "account_id": ["A1", "A1", "A2", "A1"],
                                    "type": ["visit", "Visit", "visit", "email"],
                                    "date": ["2025-03-05", "2025-04-30", "2025-04-01", "2025-03-05"],
                                    "duration_min": [60, 45, 30, 5]}),
        "alignment": pd.DataFrame({"unit_id": ["07001", "10001"], "territory_id": ["T1", "T2"]}),
    }
    with ws.engine.begin() as conn:
        write_frames(conn, frames)
    return ws


def test_revenue_panel_exact_months_and_weeks(tiny):
    p = revenue_panel(tiny, level="state", freq="month", start="2025-03-01", end="2025-05-01")
    got = p.set_index(["unit", "period"])[["revenue", "orders"]]
    assert got.loc[("NJ", pd.Timestamp("2025-03-01"))].tolist() == [300.0, 2]
    assert got.loc[("NJ", pd.Timestamp("2025-04-01"))].tolist() == [0.0, 0]      # zero-filled
    # refunded and voided orders do not count; partially refunded ones do
    assert got.loc[("NY", pd.Timestamp("2025-04-01"))].tolist() == [20.0, 1]
    assert p["log_revenue"].to_numpy() == pytest.approx(np.log1p(p["revenue"].to_numpy()))
    w = revenue_panel(tiny, level="state", freq="week", start="2025-02-24", end="2025-04-07",
                      statuses=None)
    wk = w.set_index(["unit", "period"])["revenue"]
    assert wk[("NJ", pd.Timestamp("2025-02-24"))] == 100.0     # Sunday belongs to its Monday
    assert wk[("NY", pd.Timestamp("2025-03-03"))] == 10.0
    assert wk[("NY", pd.Timestamp("2025-03-31"))] == 140.0     # all statuses
    assert sorted(w["period"].dt.day_of_week.unique()) == [0]
    assert len(w) == 2 * 6


def test_revenue_panel_levels_and_channels(tiny):
    kw = dict(freq="month", start="2025-03-01", end="2025-05-01")
    dtc = revenue_panel(tiny, level="zip", channel="dtc", **kw)
    assert set(dtc["unit"]) == {"10001"} and dtc["revenue"].sum() == 30.0
    wh = revenue_panel(tiny, level="territory", channel="wholesale", **kw)
    assert set(wh["unit"]) == {"T1"} and wh["revenue"].sum() == 300.0
    acc = revenue_panel(tiny, level="account", **kw)
    assert set(acc["unit"]) == {"A1", "A2"}                  # every account, with zeros
    assert acc.groupby("unit")["revenue"].sum().to_dict() == {"A1": 300.0, "A2": 0.0}
    with pytest.raises(ValueError, match="level"):
        revenue_panel(tiny, level="county")
    with pytest.raises(ValueError, match="freq"):
        revenue_panel(tiny, freq="day")
    with pytest.raises(ValueError, match="empty"):
        revenue_panel(tiny, start="2025-05-01", end="2025-03-01")


def test_activity_panel_and_account_frame(tiny):
    a = activity_panel(tiny, freq="month", start="2025-03-01", end="2025-05-01")
    v = a.set_index(["unit", "period"])["activities"]
    assert v[("A1", pd.Timestamp("2025-03-01"))] == 1 and v[("A1", pd.Timestamp("2025-04-01"))] == 1
    assert v[("A2", pd.Timestamp("2025-04-01"))] == 1 and a["activities"].sum() == 3
    allt = activity_panel(tiny, freq="month", start="2025-03-01", end="2025-05-01", types=None)
    assert allt["activities"].sum() == 4 and allt["minutes"].sum() == 140
    f = account_frame(tiny, start="2025-03-01", end="2025-05-01").set_index("account_id")
    assert f.loc["A1", ["revenue", "orders", "visits"]].tolist() == [300.0, 2, 2]
    assert f.loc["A2", ["revenue", "orders", "visits"]].tolist() == [0.0, 0, 1]
    d = account_frame(tiny, start="2025-03-01", end="2025-05-01", account_types=["Customer - Direct"])
    assert d["account_id"].tolist() == ["A1"]


def test_period_start():
    assert period_start(["2025-03-02", "2025-03-03"], "week").strftime("%Y-%m-%d").tolist() == \
        ["2025-02-24", "2025-03-03"]
    with pytest.raises(ValueError, match="freq"):
        period_start(["2025-03-02"], "quarter")


def test_panels_on_the_demo_add_up(impact_ws, impact_demo):
    truth = impact_demo[2]
    h = truth["history"]
    kw = dict(freq="month", start=h["start"], end=h["end"])
    with impact_ws.engine.connect() as c:
        total = c.execute(sa.text(
            "SELECT SUM(total) FROM orders WHERE created_at >= :s AND created_at < :e AND "
            "financial_status IN ('paid', 'partially_refunded')"),
            {"s": "2024-11-01 00:00:00", "e": "2026-11-01 00:00:00"}).scalar()
    st = revenue_panel(impact_ws, level="state", **kw)
    assert st["revenue"].sum() == pytest.approx(total, rel=1e-9)
    assert len(st) == 9 * 24 and not st.duplicated(["unit", "period"]).any()
    dtc = revenue_panel(impact_ws, level="state", channel="dtc", **kw)
    wh = revenue_panel(impact_ws, level="state", channel="wholesale", **kw)
    assert dtc["revenue"].sum() + wh["revenue"].sum() == pytest.approx(total, rel=1e-9)
    te = revenue_panel(impact_ws, level="territory", **kw)
    assert te["unit"].nunique() == 40 and te["revenue"].sum() == pytest.approx(total, rel=1e-9)
    acc = revenue_panel(impact_ws, level="account", channel="wholesale", **kw)
    assert acc["revenue"].sum() == pytest.approx(wh["revenue"].sum(), rel=1e-9)
    wk = revenue_panel(impact_ws, level="state", freq="week", start=h["start"], end=h["end"])
    assert wk["revenue"].sum() == pytest.approx(total, rel=1e-9)
    assert wk["period"].nunique() == truth["campaign"]["realised"]["state_week"]["periods"]


def test_treatment_columns(impact_ws, impact_demo):
    truth = impact_demo[2]
    h = truth["history"]
    p = campaign_treatment(revenue_panel(impact_ws, level="territory", freq="month", channel="dtc",
                                         start=h["start"], end=h["end"]), truth)
    by_unit = p.groupby("unit").agg(first=("first_treat", "first"), wave=("wave", "first"),
                                    treated=("treated", "sum"))
    never = truth["campaign"]["never_treated"]["territories"]
    assert by_unit.loc[never, "first"].isna().all() and (by_unit.loc[never, "treated"] == 0).all()
    for w in truth["campaign"]["waves"]:
        rows = by_unit.loc[w["territories"]]
        assert (rows["first"] == pd.Timestamp(w["start"])).all() and (rows["wave"] == w["name"]).all()
    assert p.loc[p["treated"] == 1, "period"].ge(p.loc[p["treated"] == 1, "first_treat"]).all()
    with pytest.raises(ValueError, match="neither in a campaign wave"):
        campaign_treatment(pd.DataFrame({"unit": ["10001"], "period": [pd.Timestamp("2025-01-01")]}),
                           truth)
    acc = realignment_treatment(revenue_panel(impact_ws, level="account", freq="month",
                                              start="2026-01-01", end="2026-07-01"), truth)
    moved = acc.groupby("unit")["moved"].first()
    assert moved.sum() == len(truth["realignment"]["moved_accounts"])
    post = acc.groupby("period")["post"].first()
    assert post[post == 1].index.strftime("%Y-%m").tolist() == ["2026-03", "2026-04", "2026-05"]
    assert (acc["dip"] == acc["moved"] * acc["post"]).all()
