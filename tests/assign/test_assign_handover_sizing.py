"""Protection of open deals, the hand-over list, and the sizing curve on a planted grid."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from territorium.assign import ProtectionRule, handover, open_deals, size


def _opps():
    return pd.DataFrame({
        "opportunity_id": ["o1", "o2", "o3", "o4", "o5"],
        "account_id": ["a1", "a1", "a2", "a3", "a4"],
        "stage": ["Proposal/Price Quote", "Closed Won", "Prospecting", "Negotiation/Review", "Closed Lost"],
        "amount": [1000.0, 500.0, 200.0, 50.0, 70.0],
        "close_date": pd.to_datetime(["2027-01-15", "2026-03-01", "2027-04-30", "2026-11-20", "2026-12-01"]),
        "probability": [60.0, 100.0, 10.0, 80.0, 0.0],
        "is_closed": [False, True, False, False, True],
    })


def test_open_deals_protect_until_close_and_the_rule_is_configurable():
    d = open_deals(_opps()).set_index("account_id")
    assert sorted(d.index) == ["a1", "a2", "a3"]              # a4's only deal is closed
    assert d.loc["a1", "open_opps"] == 1 and d.loc["a1", "open_amount"] == 1000.0
    assert d.loc["a1", "protect_until"] == pd.Timestamp("2027-01-15")
    near = open_deals(_opps(), rule=ProtectionRule(horizon_days=90), asof=dt.date(2026, 11, 1))
    assert sorted(near["account_id"]) == ["a1", "a3"]         # a2 closes in April
    likely = open_deals(_opps(), rule=ProtectionRule(min_probability=50))
    assert sorted(likely["account_id"]) == ["a1", "a3"]
    assert open_deals(_opps(), rule=ProtectionRule(enabled=False)).empty
    # a missing IsClosed flag falls back to the stage name
    o = _opps().assign(is_closed=[None, None, False, None, None])
    assert sorted(open_deals(o)["account_id"]) == ["a1", "a2", "a3"]


def test_handover_gains_losses_and_protected_accounts():
    acc = pd.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4", "a5"],
        "owner_id": ["r1", "r1", "r2", "r2", "r3"],
        "planned_rep": ["r2", "r3", "r2", "r1", "r3"],
        "new_owner": ["r1", "r3", "r2", "r1", "r3"],      # a1 protected (stays with r1)
        "revenue": [100.0, 40.0, 7.0, 25.0, 3.0],
    })
    acts = pd.DataFrame({"account_id": ["a2", "a2", "a4"], "status": ["Open", "Completed", "Not Started"]})
    h = handover(acc, planned="planned_rep", deals=open_deals(_opps()), activities=acts)
    s = h.summary.set_index("rep_id")
    assert s.loc["r1", ["gained", "gained_revenue", "lost", "lost_revenue"]].tolist() == [1, 25.0, 1, 40.0]
    assert s.loc["r3", ["gained", "gained_revenue", "kept"]].tolist() == [1, 40.0, 1]
    assert s.loc["r2", ["lost_revenue", "net_revenue"]].tolist() == [25.0, -25.0]
    assert s["gained_revenue"].sum() == s["lost_revenue"].sum() == 65.0
    mv = h.moves.set_index("account_id")
    assert set(mv.index) == {"a2", "a4"}
    assert mv.loc["a2", "open_opps"] == 1 and mv.loc["a2", "open_amount"] == 200.0   # the deal follows
    assert mv.loc["a2", "open_activities"] == 1 and mv.loc["a4", "open_activities"] == 1
    assert h.protected["account_id"].tolist() == ["a1"]
    assert h.protected.iloc[0][["owner", "planned_rep", "open_amount"]].tolist() == ["r1", "r2", 1000.0]
    assert s.loc["r1", "protected"] == 1


def test_sizing_recommends_the_smallest_head_count_that_fits():
    from territorium.geo.grid import grid_units

    u = grid_units(12, 12)
    # 3,600 h of work: 3 reps of 1,000 h cannot cover it, 4 can (900 h each)
    u = u.with_measures({"workload": np.full(144, 25.0), "potential": np.arange(144, dtype=float) + 1})
    s = size(u, [2, 3, 4, 6], capacity_hours=1000, coverage_target=0.95, tolerance=0.05, time_limit=3, seed=1)
    t = s.table.set_index("n")
    assert s.recommended == 4
    assert t.loc[3, "coverage"] == 0.0 and t.loc[3, "within_capacity"] == 0
    assert t.loc[4, "coverage"] == 1.0
    assert t.loc[6, "mean_workload"] == pytest.approx(600.0)
    assert t.loc[2, "mean_utilisation"] == pytest.approx(1.8)
    # coverage recomputed from the plan of n=4
    a = s.assignments[4]
    wl = np.bincount(a, u.measure("workload"), 4)
    pot = np.bincount(a, u.measure("potential"), 4)
    assert t.loc[4, "coverage"] == pytest.approx(pot[wl <= 1000].sum() / pot.sum())
    assert t.loc[4, "max_workload"] == pytest.approx(wl.max())
    s2 = size(u, [2, 3], capacity_hours=1000, time_limit=2)
    assert s2.recommended is None and "at least 4 reps" in s2.reason and s2.oversized == ()


def test_sizing_sets_oversized_units_aside():
    from territorium.geo.grid import grid_units

    u = grid_units(6, 6)
    wl = np.full(36, 20.0)
    wl[0] = 900.0                      # one unit alone needs 900 h > 500 h · 1.1
    u = u.with_measures({"workload": wl, "potential": np.ones(36)})
    s = size(u, [2, 3, 4], capacity_hours=500, coverage_target=0.9, tolerance=0.1, time_limit=2, seed=2)
    assert s.oversized == (u.ids[0],)
    t = s.table.set_index("n")
    for n, a in s.assignments.items():
        tw = np.bincount(a, wl, n)
        assert t.loc[n, "max_regular"] == pytest.approx(tw[np.arange(n) != a[0]].max())
        units_per_t = np.bincount(a, minlength=n)
        assert t.loc[n, "coverage"] == pytest.approx(units_per_t[tw <= 500].sum() / 36)  # potential 1 per unit
    assert "need more than one rep on their own" in s.reason


def test_sizing_plot_is_a_png(tmp_path):
    from territorium.geo.grid import grid_units
    from territorium.plan.assigning import plot_sizing

    u = grid_units(6, 6).with_measures({"workload": np.full(36, 50.0), "potential": np.ones(36)})
    s = size(u, [1, 2, 3], capacity_hours=700, time_limit=2)
    p = tmp_path / "sizing.png"
    plot_sizing(s, p)
    import matplotlib.image as mpimg

    img = mpimg.imread(p)
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and img.shape[0] > 300 and img.shape[1] > 600
    assert s.recommended == 3
