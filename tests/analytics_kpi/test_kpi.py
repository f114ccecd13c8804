"""KPIs against values computed by hand on a small fixture, and against an independent pandas
implementation on random data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from territorium.analytics import kpi as K


@pytest.fixture
def orders():
    # customer a: first order in Dec 2024 (before the window), then two in Jan 2025 (T1)
    # customer b: one paid and one refunded order in Jan (T1); c: Feb, T2; d: voided only
    return pd.DataFrame({
        "order_id": ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7"],
        "customer": ["a", "a", "a", "b", "b", "c", "c", "d"],
        "created_at": pd.to_datetime(["2024-12-20", "2025-01-03", "2025-01-20", "2025-01-05", "2025-01-06",
                                      "2025-02-01", "2025-02-27", "2025-02-10"]),
        "total": [40.0, 100.0, 60.0, 30.0, 50.0, 200.0, 10.0, 999.0],
        "subtotal": [40.0, 110.0, 60.0, 30.0, 50.0, 250.0, 10.0, 999.0],
        "discounts": [0.0, 10.0, 0.0, 0.0, 0.0, 50.0, 0.0, 0.0],
        "financial_status": ["paid", "paid", "partially_refunded", "paid", "refunded", "paid", "pending", "voided"],
        "units": [1, 3, 2, 1, 1, 4, 2, 9],
        "territory": ["T1", "T1", "T1", "T1", "T1", "T2", "T2", "T2"],
    })


def test_commerce_kpis_match_hand_computed_values(orders):
    k = K.commerce(orders, by="territory", period="month", start="2025-01-01", end="2025-03-01")
    assert k[["territory", "period"]].astype(str).values.tolist() == [["T1", "2025-01-01"], ["T2", "2025-02-01"]]
    t1, t2 = k.iloc[0], k.iloc[1]
    # T1, January: booked = o1, o2 (partially refunded still counts), o3; o4 refunded is not revenue
    assert t1["orders"] == 3 and t1["revenue"] == pytest.approx(190.0)
    assert t1["aov"] == pytest.approx(190.0 / 3)
    assert t1["units_per_order"] == pytest.approx((3 + 2 + 1) / 3)
    # buyers a (2 orders, first ever in Dec: returning) and b (new in January)
    assert (t1["customers"], t1["new_customers"], t1["returning_customers"]) == (2, 1, 1)
    assert t1["repeat_purchase_rate"] == pytest.approx(0.5)
    assert t1["discount_rate"] == pytest.approx(10.0 / 200.0)
    # refund rate over placed orders: o2 and o4 of o1..o4
    assert t1["refund_rate"] == pytest.approx(2 / 4)
    # T2, February: o5 paid + o6 pending are booked; the voided o7 counts nowhere
    assert t2["orders"] == 2 and t2["revenue"] == pytest.approx(210.0)
    assert (t2["customers"], t2["new_customers"], t2["repeat_purchase_rate"]) == (1, 1, 1.0)
    assert t2["discount_rate"] == pytest.approx(50.0 / 260.0) and t2["refund_rate"] == pytest.approx(0.0)


def test_new_customers_are_new_to_the_business_not_to_the_window(orders):
    inside = K.commerce(orders, by=None, period="all", start="2025-01-01")
    assert inside["new_customers"].item() == 2        # b and c; a's first order was in December
    everything = K.commerce(orders, by=None, period="all")
    assert everything["new_customers"].item() == 3    # a too (d only has a voided order)
    assert everything["customers"].item() == 3


def test_unknown_period_and_missing_columns_are_clear_errors(orders):
    with pytest.raises(K.KpiError, match="unknown period 'fortnight'"):
        K.commerce(orders, period="fortnight")
    with pytest.raises(K.KpiError, match="lack the column.*territory"):
        K.commerce(orders.drop(columns="territory"))


def test_commerce_agrees_with_an_independent_pandas_computation():
    rng = np.random.default_rng(3)
    n = 4000
    o = pd.DataFrame({
        "order_id": np.arange(n).astype(str),
        "customer": rng.integers(0, 600, n).astype(str),
        "created_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D"),
        "total": rng.gamma(2.0, 80.0, n).round(2),
        "financial_status": rng.choice(["paid", "refunded", "pending", "voided"], n, p=[.8, .08, .07, .05]),
        "units": rng.integers(1, 6, n),
        "territory": rng.choice(["A", "B", "C"], n),
    })
    got = K.commerce(o, by="territory", period="quarter").set_index(["territory", "period"])
    booked = o[o["financial_status"].isin(["paid", "pending"])].copy()
    booked["period"] = booked["created_at"].dt.to_period("Q").dt.start_time
    exp = booked.groupby(["territory", "period"]).agg(orders=("order_id", "size"), revenue=("total", "sum"),
                                                      customers=("customer", "nunique"), units=("units", "sum"))
    placed = o[o["financial_status"] != "voided"]
    first = placed.groupby("customer")["created_at"].min()
    booked["first_ever"] = booked["customer"].map(first)
    firsts_here = booked.groupby(["territory", "period", "customer"])["created_at"].min().reset_index()
    firsts_here["new"] = firsts_here["created_at"].to_numpy() == firsts_here["customer"].map(first).to_numpy()
    exp["new_customers"] = firsts_here.groupby(["territory", "period"])["new"].sum()
    got = got.loc[exp.index]
    np.testing.assert_array_equal(got["orders"], exp["orders"])
    np.testing.assert_allclose(got["revenue"], exp["revenue"], rtol=1e-9)
    np.testing.assert_allclose(got["units_per_order"], exp["units"] / exp["orders"], rtol=1e-12)
    np.testing.assert_array_equal(got["customers"], exp["customers"])
    np.testing.assert_array_equal(got["new_customers"], exp["new_customers"])


def test_field_sales_pipeline_win_rate_and_cycle():
    opp = pd.DataFrame({
        "amount": [100.0, 50.0, 30.0, 20.0, 70.0],
        "close_date": pd.to_datetime(["2025-01-10", "2025-02-01", "2025-03-30", "2025-02-15", "2025-04-02"]),
        "created_date": pd.to_datetime(["2024-12-01", "2025-01-01", "2025-03-01", "2025-01-15", "2025-03-01"]),
        "is_closed": [True, True, False, True, False], "is_won": [True, False, False, True, False],
        "territory": ["T1", "T1", "T1", "T1", "T1"]})
    f = K.field_sales(opportunities=opp, period="quarter")
    q1 = f.iloc[0]
    assert q1["pipeline"] == pytest.approx(30.0) and q1["won_amount"] == pytest.approx(120.0)
    assert q1["win_rate"] == pytest.approx(2 / 3) and q1["win_rate_amount"] == pytest.approx(120 / 170)
    assert q1["sales_cycle_days"] == pytest.approx((40 + 31) / 2)   # won deals: 40 and 31 days
    assert f.iloc[1]["pipeline"] == pytest.approx(70.0)


def test_coverage_counts_a_trailing_year_of_completed_visits():
    acc = pd.DataFrame({"account_id": ["x", "y", "z"], "visits_per_year": [2.0, 1.5, 0.0],
                        "territory": ["T1", "T1", "T1"]})
    vi = pd.DataFrame({"date": pd.to_datetime(["2024-06-01", "2025-01-15", "2025-02-10"]),
                       "account_id": ["x", "x", "y"], "rep_id": ["r", "r", "r"], "territory": ["T1"] * 3})
    f = K.field_sales(visits=vi, accounts=acc, period="month").set_index("period")
    # January 2025 (ends 1 Feb): x has 2 visits in the trailing year (needs 2), y none (needs 1)
    assert f.loc[pd.Timestamp("2025-01-01"), "coverage"] == pytest.approx(0.5)
    # February (ends 1 Mar): x 2, y 1 -> both; z plans no visits and is not counted
    assert f.loc[pd.Timestamp("2025-02-01"), "coverage"] == pytest.approx(1.0)
    # June 2024: x's one visit (needs 2) -> not covered, y none
    assert f.loc[pd.Timestamp("2024-06-01"), "coverage"] == pytest.approx(0.0)
    assert f.loc[pd.Timestamp("2025-02-01"), "visits_per_rep"] == pytest.approx(1.0)


def test_balance_indices_by_hand():
    t = pd.DataFrame({"w": [80.0, 100.0, 120.0, 100.0]})
    b = K.balance_indices(t).set_index("measure").loc["w"]
    assert b["max_dev"] == pytest.approx(0.2)
    assert b["cv"] == pytest.approx(np.sqrt((400 + 0 + 400 + 0) / 4) / 100)
    # Gini = Σ|xi − xj| / (2 n² mean) = (6 pairs ordered twice: 20,40,20,20,0,20 → 2·120) / (2·16·100)
    assert b["gini"] == pytest.approx(240 / 3200)
    tb = K.balance_indices(t, targets=pd.DataFrame({"w": [80.0, 90.0, 120.0, 100.0]})).iloc[0]
    assert tb["max_dev"] == pytest.approx(10 / 90)


def test_attainment_and_pace():
    a = K.attainment(pd.Series({"T1": 30.0, "T2": np.nan}), pd.Series({"T1": 120.0, "T2": 50.0}), elapsed=0.25)
    assert a.loc["T1", "attainment"] == pytest.approx(0.25) and a.loc["T1", "pace"] == pytest.approx(1.0)
    assert a.loc["T2", "actual"] == 0.0
    with pytest.raises(K.KpiError):
        K.attainment(pd.Series({"T1": 1.0}), pd.Series({"T1": 1.0}), elapsed=0)
