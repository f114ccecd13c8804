"""The assignment MIP with lazy contiguity cuts (design/_mip.py) against brute force."""
import itertools

import numpy as np
import pytest

from territorium.design._mip import contiguous_assignment_mip
from territorium.design._problem import build_problem
from territorium.geo.grid import grid_units


def _connected(P, a, t):
    units = set(np.flatnonzero(a == t).tolist())
    if not units:
        return False
    start = next(iter(units))
    seen, stack = {start}, [start]
    while stack:
        u = stack.pop()
        for v in P.indices[P.indptr[u]:P.indptr[u + 1]].tolist():
            if v in units and v not in seen:
                seen.add(v)
                stack.append(v)
    return seen == units


def _solve(seed, tol, root_sets=False):
    """4 x 3 grid, k = 3, random workload, a legacy plan that misses the tolerance: the MIP
    result, and every one of the 3^12 plans with a mask of those within the tolerance."""
    g = grid_units(4, 3, seed=seed)
    k = 3
    cur = np.array([0, 0, 1, 1, 0, 2, 1, 1, 2, 2, 2, 1])
    P = build_problem(g, k, balance={"workload": tol}, current=cur, disruption="account_count")
    pu = np.repeat(np.arange(P.n), k)
    pt = np.tile(np.arange(k), P.n)
    cost = np.where(pt == cur[pu], 0.0, P.dis[pu])
    rs = [np.flatnonzero(cur == t) for t in range(k)] if root_sets else None
    r = contiguous_assignment_mip(P, pu, pt, cost, time_limit=30, mip_gap=0.0, max_rounds=200, root_sets=rs)
    allp = np.array(list(itertools.product(range(k), repeat=P.n)))
    tot = np.stack([(P.A[:, 0] * (allp == t)).sum(1) for t in range(k)], 1)
    ok = (np.abs(tot / P.T[None, :, 0] - 1) <= tol + 1e-9).all(1)
    return P, cur, k, r, allp, ok


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_disruption_matches_brute_force(seed):
    # 4 x 3 grid, k = 3, random workload and a legacy plan that misses ±15 %: the least
    # disruption over all 3^12 plans (each territory one piece, every tolerance met)
    P, cur, k, r, allp, ok = _solve(seed, 0.15)
    best = np.inf
    for a in allp[ok]:
        if not all(_connected(P, a, t) for t in range(k)):
            continue
        best = min(best, float(P.dis[a != cur].sum()))
    if not np.isfinite(best):
        assert r.excess.max() > 0
        return
    assert r.contiguous and r.status == "Optimal" and r.excess.max() <= 1e-7
    a = r.assignment
    assert all(_connected(P, a, t) for t in range(k))
    assert float(P.dis[a != cur].sum()) == pytest.approx(best, abs=1e-6)
    assert r.bound <= best + 1e-6


@pytest.mark.parametrize("seed", [0, 3])
def test_root_sets_give_the_minimum_over_plans_keeping_one_own_unit(seed):
    """With ``root_sets`` (each territory keeps one of its current units), the MIP adds the
    neighbour rows and strong cuts; its optimum equals brute force over exactly those plans."""
    P, cur, k, r, allp, ok = _solve(seed, 0.2, root_sets=True)
    ok &= np.stack([((allp == t) & (cur == t)[None, :]).any(1) for t in range(k)], 1).all(1)
    best = min((float(P.dis[a != cur].sum()) for a in allp[ok] if all(_connected(P, a, t) for t in range(k))),
               default=np.inf)
    assert np.isfinite(best)
    assert r.contiguous and r.status == "Optimal" and r.excess.max() <= 1e-7
    assert float(P.dis[r.assignment != cur].sum()) == pytest.approx(best, abs=1e-6)
