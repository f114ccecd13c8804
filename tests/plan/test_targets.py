"""A plan's capacity targets (plan/targets.py): from its staffing, from the design's settings,
none when designed with equal targets or when every share is the same."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from territorium.plan.targets import design_rep_pool, plan_targets, rep_capacity


def _reps():
    return pd.DataFrame({"rep_id": ["r3", "r1", "r2", "m1", "r4"],
                         "capacity_hours": [1500.0, 750.0, 1400.0, 500.0, 1600.0],
                         "fte": [1.0, 0.5, 1.0, 1.0, 1.0],
                         "active": pd.array([True, True, True, True, False], dtype="boolean"),
                         "title": ["AE", "AE", "AE", "Regional Sales Manager", "AE"]})


def _plan(reps: dict[str, list[str]], parents: dict[str, str] | None = None):
    parents = parents or {}
    ids = list(reps) + sorted(set(parents.values()))
    return pd.DataFrame({"territory_id": ids, "parent": [parents.get(t) for t in ids],
                         "reps": [[(r, "rep") for r in reps.get(t, [])] for t in ids]})


def test_staffing_sums_the_reps_of_each_leaf():
    t = plan_targets(_plan({"A": ["r1"], "B": ["r2", "r3"], "C": ["r3"]}, {"A": "East", "B": "East", "C": "West"}),
                     _reps())
    assert t.source == "staffing" and t.unit == "hours" and t.vacant == ()
    assert set(t.shares) == {"A", "B", "C"}   # regions hold no target
    assert t.shares == pytest.approx({"A": 750 / 5150, "B": 2900 / 5150, "C": 1500 / 5150})
    assert sum(t.shares.values()) == pytest.approx(1.0)


def test_fte_when_no_rep_has_hours_and_unknown_reps_at_the_median():
    reps = _reps().assign(capacity_hours=np.nan)
    t = plan_targets(_plan({"A": ["r1"], "B": ["r2"], "C": ["nobody"]}), reps)
    assert t.unit == "fte"
    assert t.capacity == pytest.approx({"A": 0.5, "B": 1.0, "C": 1.0})   # no FTE: 1.0, as the design reads it
    t = plan_targets(_plan({"A": ["r1"], "B": ["r2"], "C": ["nobody"]}), _reps())
    assert t.unit == "hours"
    assert t.capacity == pytest.approx({"A": 750.0, "B": 1400.0, "C": 1075.0})   # no hours: the median


def test_the_design_settings_without_staffing_give_the_designs_own_targets():
    # design --centers reps --capacity-targets --plan: T01.. = the active non-manager reps by id
    pool, labels, ids = design_rep_pool(_reps())
    assert (labels, ids) == (["T01", "T02", "T03"], ["r1", "r2", "r3"])
    settings = {"command": "design", "centers": "reps", "capacity_targets": True}
    t = plan_targets(_plan({"T01": [], "T02": [], "T03": []}), _reps(), settings)
    assert t.source == "design"
    assert t.shares == pytest.approx({"T01": 750 / 3650, "T02": 1400 / 3650, "T03": 1500 / 3650})
    cap, unit = rep_capacity(pool)
    assert unit == "hours" and list(cap) == [750.0, 1400.0, 1500.0]


def test_no_targets_for_equal_designs_equal_shares_or_no_staffing():
    staffed = _plan({"A": ["r1"], "B": ["r2"]})
    assert plan_targets(staffed, _reps(), {"capacity_targets": False}) is None
    assert plan_targets(_plan({"A": ["r2"], "B": ["r2"]}), _reps()) is None   # equal: the mean is the target
    assert plan_targets(_plan({"A": [], "B": []}), _reps()) is None


def test_the_design_reads_capacity_as_the_plan_does(demo_small):
    """``design --capacity-targets`` (rep_centers) and a plan's targets read one capacity per rep:
    on the demo's reps, part-timers at half their hours, managers left out."""
    import sqlite3

    from territorium import store
    from territorium.geo.grid import grid_units
    from territorium.plan.designing import rep_centers
    from territorium.plan.workspace import Workspace

    _, url = demo_small
    eng = store.engine(url)
    try:
        _, cap, labels, rep_ids = rep_centers(Workspace(engine=eng), grid_units(2, 2))
    finally:
        eng.dispose()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
        rows = con.execute("SELECT rep_id, capacity_hours FROM reps WHERE active AND title NOT LIKE '%manager%' "
                           "ORDER BY rep_id").fetchall()
    assert rep_ids == [r for r, _ in rows] and labels[0] == "T01"
    assert list(cap) == [h for _, h in rows]
    assert min(cap) < 0.6 * max(cap)   # part-time reps
    t = plan_targets(_plan({lab: [r] for lab, r in zip(labels, rep_ids)}), store_reps(url))
    assert t.shares == pytest.approx({lab: c / cap.sum() for lab, c in zip(labels, cap)}, rel=1e-12)


def store_reps(url: str) -> pd.DataFrame:
    from territorium import store

    eng = store.engine(url)
    try:
        return store.read_table(eng, "reps")
    finally:
        eng.dispose()
