"""Certificates that no contiguous plan meets the tolerances, and the valid lower bound on
the worst excess (design/_certificate.py), on planted grids."""
import numpy as np
import pytest

from territorium.design import design
from territorium.design._certificate import violation_bound
from territorium.design._problem import build_problem
from territorium.geo.grid import grid_units
from territorium.model import Adjacency, Units


def _worst_excess(u, r, balance):
    k = len(r.labels)
    T = r.report.territories
    return max(float((np.abs(T[f"{m}_dev"]) - tol).max()) for m, tol in balance.items()), k


def _cut_off(nx, ny, x_from):
    """A grid whose columns from ``x_from`` on have no link to the rest (water)."""
    g = grid_units(nx, ny)
    adj = g.adjacency
    src = np.repeat(np.arange(g.n), np.diff(adj.indptr))
    dst = adj.indices
    xs = g.table["x"].to_numpy()
    west = xs < x_from
    keep = (src < dst) & (west[src] == west[dst])
    u = Units("custom", g.table, Adjacency.from_edges(g.n, np.column_stack([src[keep], dst[keep]])))
    return u, np.flatnonzero(~west)


def test_unit_heavier_than_the_band_gets_a_unit_certificate():
    g = grid_units(6, 6)
    w = g.measure("workload").copy()
    w[14] = 20.0  # the others are 1: T = 55/4 = 13.75, upper bound 14.44
    g = g.with_measures({"workload": w})
    r = design(g, 4, balance={"workload": 0.05}, oversized="keep", seed=1, n_jobs=1, time_limit=3)
    rep = r.report
    assert rep.status == "infeasible"
    c = rep.certificate
    assert c is not None and c.kind == "unit" and c.units == (14,) and c.measure == "workload"
    assert c.bound == pytest.approx(20 / 13.75 - 1.05, abs=1e-9)
    assert rep.violation_bound == pytest.approx(c.bound)
    worst, _ = _worst_excess(g, r, {"workload": 0.05})
    assert worst >= c.bound - 1e-9
    assert str(g.ids[14]) in c.text and "certificate (unit, workload)" in rep.summary()
    assert any(d.startswith("proof:") for d in rep.diagnostics)
    # the CLI's --json report carries it, with the territory labels the user gave
    import json

    from territorium.plan.designing import report_json

    js = json.loads(json.dumps(report_json(r, ["north", "south", "east", "west"])))
    assert js["certificate"]["kind"] == "unit" and js["certificate"]["bound"] == pytest.approx(c.bound)
    assert js["violation_bound"] == pytest.approx(c.bound) and str(g.ids[14]) in js["certificate"]["text"]


def test_region_cut_off_by_water_gets_a_region_certificate():
    # 40 units, the eastern 12 (30 %) with no link to the rest; k = 4 equal territories:
    # whole territories give the island 25 % or 50 %, so one misses by 20 % - 5 % = 15 %
    u, island = _cut_off(10, 4, 70_000)
    r = design(u, 4, balance={"workload": 0.05}, seed=1, n_jobs=1, time_limit=3)
    c = r.report.certificate
    assert r.report.status == "infeasible"
    assert c is not None and c.kind == "region"
    assert c.bound == pytest.approx(0.15, abs=2e-4) and c.bound <= 0.15 + 1e-12
    assert sorted(c.units) == island.tolist() and "30.0% of workload" in c.text
    worst, _ = _worst_excess(u, r, {"workload": 0.05})
    assert worst >= c.bound - 1e-9


def test_homes_at_one_end_of_a_corridor_get_a_path_certificate():
    # a 1 x 20 corridor, both homes at its west end: the territory of the second home
    # holds every unit east of it, 19 of the 20, so it is +90 % (tolerance 5 %)
    u = grid_units(20, 1)
    r = design(u, centers=[(5_000.0, 5_000.0), (15_000.0, 5_000.0)], balance={"workload": 0.05},
               seed=1, n_jobs=1, time_limit=3)
    c = r.report.certificate
    assert c is not None and c.kind == "lp" and c.bound == pytest.approx(0.85, abs=1e-6)
    worst, _ = _worst_excess(u, r, {"workload": 0.05})
    assert worst == pytest.approx(0.85, abs=1e-9)  # the plan meets the bound: it is optimal


def test_feasible_instance_gets_no_certificate():
    g = grid_units(8, 8)
    for centers in (None, [(5e3, 5e3), (75e3, 5e3), (5e3, 75e3), (75e3, 75e3)]):
        r = design(g, 4, centers=centers, balance={"workload": 0.05}, seed=1, n_jobs=1, time_limit=3)
        assert r.report.status == "feasible"
        assert r.report.certificate is None and r.report.violation_bound == 0.0
        P = build_problem(g, 4, centers=centers, balance={"workload": 0.05})
        vb = violation_bound(P, g.ids)
        assert vb.lower_bound == 0.0 and vb.certificate is None


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_lower_bound_never_exceeds_the_violation_found(seed):
    """Random grids, random measures, tight tolerances, free centres or random homes, a
    heavy unit on some seeds: whatever the engine returns, its worst excess is at least the
    valid lower bound (and a certificate comes only with a positive bound)."""
    rng = np.random.default_rng(seed)
    g = grid_units(7, 6, seed=seed)
    if seed % 2:
        w = g.measure("workload").copy()
        w[rng.integers(g.n)] *= 12
        g = g.with_measures({"workload": w})
    if seed % 3 == 2:
        g, _ = _cut_off(7, 6, 50_000)
        g = g.with_measures({"potential": rng.gamma(2.0, 1.0, g.n)})
    k = 3 + seed % 2
    balance = {"workload": 0.03, "potential": 0.08}
    centers = None
    if seed >= 3:
        cells = rng.choice(g.n, k, replace=False)
        centers = [tuple(g.table[["x", "y"]].to_numpy()[c]) for c in cells]
    r = design(g, k, centers=centers, balance=balance, oversized="keep", seed=seed, n_jobs=1, time_limit=2)
    rep = r.report
    worst, _ = _worst_excess(g, r, balance)
    assert rep.violation_bound is not None and rep.violation_bound <= max(worst, 0.0) + 1e-9
    assert (rep.certificate is not None) == (rep.violation_bound > 0)
    if rep.status == "feasible":
        assert rep.violation_bound == 0.0
