"""The bridge argument (design/_bridge.py): a region that reaches the rest of the map through
one link, on planted grids, checked against every contiguous plan of small instances."""
import itertools

import numpy as np
import pytest
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from territorium.design import design
from territorium.design._bridge import bridge_bound, bridge_regions
from territorium.design._certificate import violation_bound
from territorium.design._problem import build_problem
from territorium.geo.grid import grid_units
from territorium.model import Adjacency, Units


def _bridged(nx, ny, x_from, row=0):
    """A grid whose columns from ``x_from`` on reach the rest only through the edge between
    columns ``x_from - 1`` and ``x_from`` in ``row``. Returns (units, east units, the east end)."""
    g = grid_units(nx, ny)
    adj = g.adjacency
    src = np.repeat(np.arange(g.n), np.diff(adj.indptr))
    dst = adj.indices
    col = np.arange(g.n) % nx
    east = col >= x_from
    link = (src == row * nx + x_from - 1) & (dst == row * nx + x_from)
    keep = (src < dst) & ((east[src] == east[dst]) | link)
    u = Units("custom", g.table, Adjacency.from_edges(g.n, np.column_stack([src[keep], dst[keep]])))
    return u, np.flatnonzero(east), row * nx + x_from


def _planted():
    """8 x 3 grid whose last 3 columns hang on one link; measure A = 1 per unit, B 1.3 per unit
    east of the link (1 elsewhere); both ±5 %. Returns (units, east units, the east end, balance)."""
    u, east, r = _bridged(8, 3, 5)
    b = np.ones(u.n)
    b[east] = 1.3
    u = u.with_measures({"workload": np.ones(u.n), "potential": b})
    return u, east, r, {"workload": 0.05, "potential": 0.05}


def _best_plan_excess(u, k, balance):
    """The least worst excess over every plan of one-piece territories (brute force)."""
    P = build_problem(u, k, balance=balance)
    n = P.n
    g = csr_array((np.ones(len(P.indices)), P.indices, P.indptr), shape=(n, n))
    best = np.inf
    for a in itertools.product(range(k), repeat=n - 1):
        a = np.array((0,) + a)  # territory labels are symmetric: unit 0 in territory 0
        if len(np.unique(a)) < k:
            continue
        ok = True
        for t in range(k):
            m = a == t
            if connected_components(g[m][:, m], directed=False)[0] != 1:
                ok = False
                break
        if not ok:
            continue
        tot = np.zeros((k, P.m))
        np.add.at(tot, a, P.A)
        best = min(best, float((np.abs(tot / P.T - 1) - P.tol[None, :]).max()))
    return max(best, 0.0)


def test_regions_behind_a_bridge_are_found():
    u, east, r = _bridged(6, 3, 4)
    P = build_problem(u, 3, balance={"workload": 0.05})
    regs = bridge_regions(P)
    west = np.setdiff1d(np.arange(u.n), east)
    assert sorted((x[0], x[1], sorted(x[2].tolist())) for x in regs) == \
        [(r - 1, r, west.tolist()), (r, r - 1, east.tolist())]


def test_planted_bridge_gets_a_region_certificate():
    # 8 x 3 grid, k = 3, measure A = 1 per unit (target 8), measure B 1.3 per unit east of the
    # link (9 units: 1.125 / 1.315 targets). One territory inside the east needs the crossing
    # part to take exactly the link's end (A), which leaves B at +16.9 %; taking one more
    # unit leaves A at -12.5 %: the least excess is 7.5 % (A), and nothing else proves it
    u, east, r, bal = _planted()
    P = build_problem(u, 3, balance=bal)
    bb, cert = bridge_bound(P, u.ids)
    assert bb == pytest.approx(0.075, abs=1e-6)
    assert cert.kind == "region" and sorted(cert.units) == sorted(east.tolist())
    assert str(u.ids[r]) in cert.text and "7.50%" in cert.text
    vb = violation_bound(P, u.ids, time_limit=5)
    assert vb.lower_bound == pytest.approx(0.075, abs=1e-6) and vb.method == "regions behind one link"
    # the engine reports it, and its plan respects it
    res = design(u, 3, balance=bal, seed=1, n_jobs=1, time_limit=3)
    rep = res.report
    assert rep.status == "infeasible" and rep.certificate is not None
    assert rep.certificate.bound == pytest.approx(0.075, abs=1e-6)
    T = rep.territories
    worst = max(float((np.abs(T[f"{m}_dev"]) - t).max()) for m, t in bal.items())
    assert worst >= 0.075 - 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_bridge_bound_never_exceeds_the_best_plan(seed):
    """Random measures on a 5 x 2 grid whose last two columns hang on one link: the bound is
    at most the least worst excess over every contiguous plan (brute force), k = 2 and 3."""
    rng = np.random.default_rng(seed)
    u, east, _ = _bridged(5, 2, 3)
    u = u.with_measures({"workload": rng.uniform(0.5, 2.0, u.n), "potential": rng.uniform(0.2, 3.0, u.n)})
    bal = {"workload": 0.05, "potential": 0.10}
    for k in (2, 3):
        P = build_problem(u, k, balance=bal)
        bb, _ = bridge_bound(P, u.ids, time_limit=10)
        assert bb <= _best_plan_excess(u, k, bal) + 1e-7
        if k == 3:  # three territories for 10 units: the link always binds here (not a vacuous check)
            assert bb > 0.01


def test_not_applied_with_locks_or_unequal_targets():
    u, _, _, bal = _planted()
    assert bridge_bound(build_problem(u, 3, balance=bal, locks={0: 0}), u.ids) == (0.0, None)
    assert bridge_bound(build_problem(u, 3, balance=bal, targets=[0.5, 0.25, 0.25]), u.ids) == (0.0, None)
