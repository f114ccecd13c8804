"""Multi-measure recursive bisection (design/_bisect.py): a start for several measures."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _geo import county_units  # noqa: E402
from test_design import pieces  # noqa: E402

from territorium.design import design  # noqa: E402
from territorium.design._bisect import applicable, bisect_plan  # noqa: E402
from territorium.design._problem import build_problem  # noqa: E402
from territorium.geo.grid import grid_units  # noqa: E402


def _dev(P, a):
    tot = np.zeros((P.k, P.m))
    np.add.at(tot, a, P.A)
    return tot / P.T - 1


@pytest.fixture(scope="module")
def georgia2():
    """Georgia's 159 counties: land area (large in the rural south) and a population-like
    count (large around Atlanta) do not move together."""
    ga = county_units(("13",))
    return ga.with_measures({"area": ga.table["area_km2"].to_numpy(),
                             "people": ga.measure("account_count")})


def _apart_grid():
    """20 x 20 cells, k = 8: measure p lives in the west third, q in the east half (ten times
    the density each); a territory meets both tolerances only if it reaches from the west
    edge to the east half, so compact k-means-like cells are far off on both."""
    u = grid_units(20, 20, seed=0)
    x = np.arange(u.n) % 20 / 19
    rng = np.random.default_rng(0)
    p = np.where(x < 0.3, 10.0, 1.0) * rng.uniform(0.5, 1.5, u.n)
    q = np.where(x > 0.5, 10.0, 1.0) * rng.uniform(0.5, 1.5, u.n)
    return u.with_measures({"p": p, "q": q})


@pytest.mark.parametrize("seed", [0, 1])
def test_bisection_balances_two_independent_measures_on_georgia(georgia2, seed):
    # k=4 (two levels of cuts): the cuts alone land within ±5 % on both measures; deeper
    # recursions can end a few percent outside (k=6, seed 2: 11 %), which the search after
    # it fine-tunes (test_design_with_bisection_start_meets_both_tolerances)
    k = 4
    P = build_problem(georgia2, k, balance={"area": 0.05, "people": 0.05})
    assert applicable(P)
    a = bisect_plan(P, np.random.default_rng(seed))
    assert sorted(np.unique(a)) == list(range(k))
    assert (pieces(georgia2, a) == 1).all()
    dev = np.abs(_dev(P, a)).max(0)
    assert (dev <= 0.05).all(), dev
    # deterministic for a seed
    np.testing.assert_array_equal(a, bisect_plan(P, np.random.default_rng(seed)))


def test_bisection_reaches_across_regions_where_compact_cells_cannot():
    u = _apart_grid()
    k = 8
    P = build_problem(u, k, balance={"p": 0.05, "q": 0.05})
    a = bisect_plan(P, np.random.default_rng(0))
    assert (pieces(u, a) == 1).all()
    dev = np.abs(_dev(P, a)).max(0)
    assert (dev <= 0.05).all(), dev
    # the planted structure: compact cells (weighted k-means on the grid) miss both badly
    from sklearn.cluster import KMeans

    km = KMeans(k, n_init=4, random_state=0).fit(P.xy).labels_
    assert (np.abs(_dev(P, km)).max(0) > 0.3).all()
    # every territory spans the west third and the east half
    x = np.arange(u.n) % 20 / 19
    for t in range(k):
        assert x[a == t].min() < 0.3 and x[a == t].max() > 0.5


def test_bisection_past_its_deadline_still_returns_a_contiguous_plan(georgia2):
    P = build_problem(georgia2, 6, balance={"area": 0.05, "people": 0.05})
    t = time.monotonic()
    a = bisect_plan(P, np.random.default_rng(0), deadline=time.monotonic() - 1.0)
    assert time.monotonic() - t < 10.0
    assert sorted(np.unique(a)) == list(range(6))
    assert (pieces(georgia2, a) == 1).all()


def test_bisection_not_used_for_one_measure_or_locks(georgia2):
    assert not applicable(build_problem(georgia2, 6, balance={"people": 0.05}))
    assert not applicable(build_problem(georgia2, 6, balance={"area": 0.05, "people": 0.05}, locks={0: 1}))


def test_design_with_bisection_start_meets_both_tolerances(georgia2):
    r = design(georgia2, 6, balance={"area": 0.05, "people": 0.05}, n_jobs=1, n_starts=1, seed=3,
               time_limit=8)
    assert r.report.status == "feasible", r.report.summary()
    assert (r.report.pieces == 1).all()
    assert max(r.report.max_abs_dev.values()) <= 0.05 + 1e-9
