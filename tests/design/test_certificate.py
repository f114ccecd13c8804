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


def _stranded(nb=6.0):
    """An 80-unit grid, workload 1 per unit, unit 44 at 0.91 of a territory's target and its
    neighbours ``nb`` each (k=4, ±5 %): alone below the band, with any neighbour above it."""
    g = grid_units(10, 8, seed=4)
    ip, ix = g.adjacency.indptr, g.adjacency.indices
    w = np.ones(g.n)
    w[ix[ip[44]:ip[45]]] = nb
    w[44] = 0.0
    X = 0.91 * (w.sum() / 4) / (1 - 0.91 / 4)
    w[44] = X
    return g.with_measures({"workload": w})


def test_cheap_proofs_are_given_when_the_time_limit_is_spent():
    # a limit too short for the LP bound (less than 2 s is left for it): the unit and
    # region arguments still run and the report proves the infeasibility with the unit
    u = _stranded()
    T = u.measure("workload").sum() / 4
    r = design(u, 4, balance={"workload": 0.05}, seed=1, n_jobs=1, n_starts=1, time_limit=0.4)
    rep = r.report
    assert rep.status == "infeasible"
    c = rep.certificate
    X = u.measure("workload")[44]
    assert c is not None and c.kind == "unit" and c.units == (44,) and c.measure == "workload"
    assert c.bound == pytest.approx(min(0.95 - X / T, (X + 6.0) / T - 1.05), rel=1e-9) and c.bound > 0
    assert rep.violation_bound == pytest.approx(c.bound)
    proof = [d for d in rep.diagnostics if d.startswith("proof:")]
    assert len(proof) == 1 and str(u.ids[44]) in proof[0]
    worst, _ = _worst_excess(u, r, {"workload": 0.05})
    assert worst >= c.bound - 1e-9


def test_cheap_proofs_are_given_when_the_design_is_cancelled():
    # a cancel skips the LP bound but not the region argument: the island (30 % of the
    # workload, k = 4) cannot be covered by whole territories within ±5 %
    import threading

    u, island = _cut_off(10, 4, 70_000)
    ev = threading.Event()
    ev.set()
    r = design(u, 4, balance={"workload": 0.05}, seed=1, n_jobs=1, n_starts=2, time_limit=30, cancel=ev)
    assert r.report.stopped == "cancelled"
    c = r.report.certificate
    if r.report.status == "infeasible":  # always, unless the cancelled plan were balanced
        assert c is not None and c.kind == "region" and c.bound == pytest.approx(0.15, abs=2e-4)
        assert sorted(c.units) == island.tolist()
    # without a proof the line says why the LP bound is missing
    g = _stranded(2.0)  # the same unit fits with light neighbours: no unit argument
    r = design(g, 4, balance={"workload": 1e-4}, seed=1, n_jobs=1, n_starts=1, time_limit=30, cancel=ev)
    said = [d for d in r.report.diagnostics if d.startswith("no proof")]
    assert r.report.status == "infeasible" and r.report.certificate is None
    assert len(said) == 1 and "LP bound skipped (the design was cancelled)" in said[0]
