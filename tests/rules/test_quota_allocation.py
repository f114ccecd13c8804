"""Quotas: the formula, caps/floors, exact totals after rounding, seasonality, backtest numbers
recomputed by hand on a 4-territory example, rate goals, bottom-up."""
import numpy as np
import pandas as pd
import pytest

from territorium.analytics import quota as Q

S = np.array([100.0, 200.0, 300.0, 400.0])   # last year's sales
P = np.array([100.0, 100.0, 100.0, 700.0])   # potential


def test_formula_by_hand():
    a = Q.allocate(1000, S, P, 0.5)
    # 0.5 * S/1000 + 0.5 * P/1000 = [.1, .15, .2, .55]
    assert a.quota == pytest.approx([100, 150, 200, 550])
    assert Q.allocate(1000, S, P, 1.0).quota == pytest.approx(S)
    assert Q.allocate(1000, S, P, 0.0).quota == pytest.approx(P)
    assert Q.allocate(2000, S, P, 0.25).quota == pytest.approx(2000 * (0.25 * S / 1000 + 0.75 * P / 1000))


def test_caps_and_floors_clamp_and_redistribute_by_hand():
    a = Q.allocate(1000, S, P, 0.5, cap=0.30, floor=-0.10)
    # unbounded [100, 150, 200, 550]; floors [90, 180, 270, 360], caps [130, 260, 390, 520]
    # round 1: under-violation 100 > over 30 -> T2, T3 to their floors; T1, T4 share 550 as .1 : .55
    #          -> T1 84.6 < 90; round 2: T1 to its floor; T4 gets the rest: 1000 - 90 - 180 - 270 = 460
    assert a.quota == pytest.approx([90, 180, 270, 460])
    assert a.bound.tolist() == ["floor", "floor", "floor", ""]
    assert a.quota.sum() == pytest.approx(1000)
    # the result is the exact solution clip(lambda * share, floor, cap) with the total kept
    lam = 460 / 0.55
    assert np.clip(lam * a.share, a.lower, a.upper) == pytest.approx(a.quota)


def test_cap_only_redistributes_proportionally():
    a = Q.allocate(1000, S, P, 0.5, cap=0.30)
    # T4 550 > 520: capped; the other 480 split as .1 : .15 : .2
    assert a.quota == pytest.approx([480 * .1 / .45, 480 * .15 / .45, 480 * .2 / .45, 520])


def test_infeasible_caps_say_by_how_much():
    with pytest.raises(Q.QuotaInfeasible, match="caps allow at most 1,300 but the company number is 2,000: 700 short"):
        Q.allocate(2000, S, P, 0.5, cap=0.30)
    with pytest.raises(Q.QuotaInfeasible, match="floors need at least 900 .* 100 over"):
        Q.allocate(800, S, P, 0.5, floor=-0.10)


def test_rounding_keeps_totals_exactly():
    rng = np.random.default_rng(4)
    s = rng.gamma(2, 200_000, 40)
    p = rng.gamma(2, 2_000_000, 40)
    for total, unit in ((12_000_000, 1000), (12_345_678, 1000), (9_999_999, 5000)):
        for kw in ({}, {"cap": 0.3, "floor": -0.1}):
            try:
                a = Q.allocate(total, s, p, 0.5, round_to=unit, **kw)
            except Q.QuotaInfeasible:
                continue
            assert float(np.sum(a.quota)) == total, (total, kw)     # exact, not approximately
            whole = a.quota % unit == 0
            assert whole.sum() >= len(a.quota) - 1                   # at most one carries the sub-unit rest
    # largest remainder, planted: floors [1, 2, 3, 0] = 6 units; 2 more go to .963 and .457
    assert Q.round_total([1234.5, 2345.6, 3456.7, 963.2], 1000).tolist() == [1000, 2000, 4000, 1000]


def test_rounding_respects_caps_when_it_can():
    a = Q.allocate(10_000, [1000, 1000, 8000], [1, 1, 8], 1.0, cap=[0.0, 10, 10], round_to=1000)
    assert a.quota.tolist() == [1000.0, 1000.0, 8000.0] and a.quota.sum() == 10_000


# ---------------------------------------------------------------------------- backtest
ACTUAL = np.array([110.0, 190.0, 330.0, 370.0])


def _gini_double_sum(x):
    x = np.asarray(x, float)
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())


def test_backtest_numbers_by_hand():
    bt = Q.backtest(S, P, ACTUAL, weights=(0.0, 0.5, 1.0))
    assert bt.total == 1000.0  # default: the actual total of year Y
    for w in (0.0, 0.5, 1.0):
        quota = 1000 * (w * S / S.sum() + (1 - w) * P / P.sum())
        att = ACTUAL / quota
        row = bt.table.set_index("weight").loc[w]
        assert row["share_90_110"] == pytest.approx(np.mean((att >= 0.9) & (att <= 1.1)))
        assert row["gini"] == pytest.approx(_gini_double_sum(att))
        assert row["median"] == pytest.approx(np.median(att))
        assert row["p90"] == pytest.approx(np.quantile(att, 0.9))
    t = bt.table.set_index("weight")
    # w = 1: attainment [1.1, .95, 1.1, .925]: all four within 90-110 %
    assert t.loc[1.0, "share_90_110"] == 1.0
    # w = 0: quotas [100, 100, 100, 700] -> attainment [1.1, 1.9, 3.3, .529]: one within
    assert t.loc[0.0, "share_90_110"] == 0.25
    assert t.loc[0.0, "gini"] == pytest.approx(_gini_double_sum([1.1, 1.9, 3.3, 370 / 700]))
    assert bt.best_weight == 1.0
    att = bt.attainment[bt.attainment["weight"] == 0.5].set_index("territory")["attainment"]
    assert att.tolist() == pytest.approx([110 / 100, 190 / 150, 330 / 200, 370 / 550])


def test_best_weight_ties_go_to_lower_gini():
    # actual = 0.5 S + 0.5 P (normalised): w = 0.5 is perfect (Gini 0)
    actual = 1000 * (0.5 * S / S.sum() + 0.5 * P / P.sum())
    bt = Q.backtest(S, P, actual)
    assert bt.best_weight == 0.5 and bt.table.set_index("weight").loc[0.5, "gini"] == pytest.approx(0.0, abs=1e-12)


def test_gini_formula():
    rng = np.random.default_rng(2)
    x = rng.gamma(2, 1, 37)
    assert Q.gini(x) == pytest.approx(_gini_double_sum(x))


# ------------------------------------------------------------------------- seasonality
F = np.array([6, 9, 8, 8, 9, 7, 7, 8, 10, 8, 9, 11], dtype=float)   # planted monthly factors


def _daily_orders(start, months, growth_per_year):
    end = pd.Timestamp(start) + pd.DateOffset(months=months) - pd.Timedelta(days=1)
    days = pd.date_range(start, end, freq="D")
    t = (days.year - days[0].year) * 12 + days.month - days[0].month
    g = (1 + growth_per_year) ** (t / 12)
    amount = F[days.month - 1] * g / days.days_in_month
    return days + pd.Timedelta(hours=10), np.asarray(amount)


def test_seasonality_recovers_planted_factors_despite_growth():
    d, a = _daily_orders("2024-01-01", 24, 0.30)
    s = Q.seasonality(d, a, smoothing=0.0)
    assert s.months_used == 24 and "trend" in s.method
    assert s.shares == pytest.approx(F / F.sum(), rel=1e-9)
    assert s.trend_per_year == pytest.approx(0.30, rel=1e-9)
    # a plain mean share would confuse growth with season (later months look bigger)
    naive = np.bincount(pd.DatetimeIndex(d).month - 1, a) / a.sum()
    assert np.abs(naive - F / F.sum()).max() > 5e-3


def test_seasonality_short_history_and_smoothing():
    d, a = _daily_orders("2024-03-01", 15, 0.0)   # 15 months, no growth: mean share per month
    s = Q.seasonality(d, a, smoothing=0.0)
    assert s.months_used == 15 and s.shares == pytest.approx(F / F.sum(), rel=1e-9)
    sm = Q.seasonality(d, a, smoothing=0.5)
    assert sm.shares.sum() == pytest.approx(1.0) and sm.shares.std() < s.shares.std()
    f = F / F.sum()
    expect = 0.5 * f + 0.5 * (np.roll(f, 1) + np.roll(f, -1)) / 2
    assert sm.shares == pytest.approx(expect / expect.sum())
    with pytest.raises(Q.QuotaError, match="12 complete months"):
        Q.seasonality(*_daily_orders("2024-03-01", 11, 0.0))


def test_partial_months_are_dropped():
    d, a = _daily_orders("2024-01-01", 24, 0.0)
    keep = (d >= pd.Timestamp("2024-01-10"))           # January 2024 now incomplete
    s = Q.seasonality(d[keep], a[keep], smoothing=0.0)
    assert s.first_month == "2024-02" and s.months_used == 23


def test_monthly_split_keeps_each_territory_total():
    q = np.array([1_234_000.0, 987_000.0, 15_000.0])
    m = Q.monthly_split(q, F / F.sum(), ids=["A", "B", "C"], unit=1000, start_month=7)
    assert list(m.columns[1:4]) == ["Jul", "Aug", "Sep"]
    assert m.iloc[:, 1:].sum(axis=1).tolist() == q.tolist()
    assert (m.iloc[:, 1:].to_numpy() % 1000 == 0).all()


# ------------------------------------------------------------------------ other goals
def test_rate_goals_weighted_mean_is_the_target():
    hist = np.array([0.20, 0.40, 0.30, np.nan])
    vol = np.array([100.0, 50.0, 50.0, 0.0])
    for w in (0.0, 0.5, 1.0):
        g = Q.rate_goals(0.33, hist, vol, w)
        assert np.dot(g[:3], vol[:3]) / vol[:3].sum() == pytest.approx(0.33)
        assert g[3] == pytest.approx(0.33)       # no history: the target
    # w = 1: proportional to history; company history = (20 + 20 + 15) / 200 = .275
    assert Q.rate_goals(0.33, hist, vol, 1.0)[:3] == pytest.approx(0.33 * hist[:3] / 0.275)


def test_count_goals_and_bottom_up():
    visits = Q.allocate(1100, [100, 300, 600], [50, 50, 100], 0.5, round_to=1)
    assert visits.quota.sum() == 1100 and (visits.quota == np.round(visits.quota)).all()
    plans = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "plan": [10.0, 20.0, 5.0, 7.0]})
    bu = Q.bottom_up(plans, pd.Series({"a": "T1", "b": "T1", "c": "T2"}))
    assert bu.set_index("territory")["plan"].to_dict() == {"(unassigned)": 7.0, "T1": 30.0, "T2": 5.0}
    with pytest.raises(Q.QuotaError, match="account plan row 4: plan is not a number"):
        Q.bottom_up(plans.assign(plan=["1", "2", "x", "4"]), pd.Series({"a": "T1"}))
