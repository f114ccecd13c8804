"""Rep-home starts (design/_homes.py): the transport LP with shortest-path contiguity rows
around each home, grown into one-piece territories."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_design import pieces  # noqa: E402

from territorium.design import _homes, _worker, design  # noqa: E402
from territorium.design._problem import build_problem  # noqa: E402
from territorium.geo.grid import grid_units  # noqa: E402

N = 12


@pytest.fixture(scope="module")
def metro_rural():
    """A 12x12 grid whose potential sits in the north-west quadrant ("metro", 9 a cell
    against 1) and whose accounts sit in the south-east ("rural"); two homes in each. Each
    territory needs a quarter of both measures, so the ones anchored in a corner must reach
    across the map (the plan around the homes puts 3/4 of the potential in two territories)."""
    g = grid_units(N, N)
    x = (g.table["x"].to_numpy() // 10_000).astype(int)
    y = (g.table["y"].to_numpy() // 10_000).astype(int)
    h = N // 2
    g = g.with_measures({"potential": np.where((x < h) & (y < h), 9.0, 1.0),
                         "account_count": np.where((x >= h) & (y >= h), 9.0, 1.0)})

    def cell(i, j):
        return ((i + 0.5) * 10_000, (j + 0.5) * 10_000)

    homes = [cell(1, 1), cell(h - 2, h - 2), cell(N - 2, N - 2), cell(h + 1, h + 1)]
    return g, homes


def _problem(g, homes, tol=0.05):
    return build_problem(g, len(homes), centers=homes, balance={"potential": tol, "account_count": tol})


def test_path_lp_shares_follow_paths_from_the_homes(metro_rural):
    g, homes = metro_rural
    P = _problem(g, homes)
    sol = _homes.path_lp(P, time_limit=20)
    assert sol is not None and sol["slack"] < 1e-6  # the relaxation meets both tolerances
    x, pu, pt, D = sol["x"], sol["pu"], sol["pt"], sol["D"]
    X = np.zeros((P.k, P.n))
    X[pt, pu] = x
    np.testing.assert_allclose(X.sum(0), 1.0, atol=1e-6)  # every unit assigned once
    for j in range(P.m):  # fractional totals within the tolerance
        dev = (X * P.A[:, j][None, :]).sum(1) / P.T[:, j] - 1
        assert np.abs(dev).max() <= 0.05 + 1e-6
    # every share is covered by the shares of neighbours closer to the same home
    anchors = {int(a[0]) for a in _homes.anchors(P)}
    worst = 0.0
    for t in range(P.k):
        for u in np.flatnonzero(X[t] > 1e-9).tolist():
            if u in anchors:
                continue
            nb = g.adjacency.neighbors(u)
            closer = nb[D[t, nb] < D[t, u]]
            worst = max(worst, X[t, u] - X[t, closer].sum())
    assert worst <= 1e-6
    # the far corner reaches across the map: the corner home's territory has shares in the
    # south-east quadrant (its compact neighbourhood holds almost no accounts)
    y = (g.table["y"].to_numpy() // 10_000).astype(int)
    xx = (g.table["x"].to_numpy() // 10_000).astype(int)
    se = (xx >= N // 2) & (y >= N // 2)
    assert X[0, se].sum() > 1.0


def test_grown_plan_is_one_piece_per_territory_with_its_home(metro_rural):
    g, homes = metro_rural
    P = _problem(g, homes)
    a, info = _homes.homes_start(P, time_limit=20)
    assert info["slack"] < 1e-6
    assert (a >= 0).all() and (a < P.k).all()
    assert (pieces(g, a) == 1).all()
    for t, anc in enumerate(_homes.anchors(P)):
        assert (a[anc] == t).all()  # every home stays in its own territory


def test_not_applicable_without_fixed_homes(metro_rural):
    g, homes = metro_rural
    assert _homes.applicable(_problem(g, homes))
    free = build_problem(g, 4, balance={"potential": 0.05, "account_count": 0.05})
    assert not _homes.applicable(free)
    assert _homes.homes_start(free, time_limit=5) is None


def test_design_with_homes_start_meets_both_tolerances(metro_rural, monkeypatch):
    g, homes = metro_rural
    monkeypatch.setattr(_worker, "HOMES_EVERY", 2)
    r = design(g, centers=homes, balance={"potential": 0.05, "account_count": 0.05}, seed=1,
               n_jobs=1, n_starts=1, time_limit=4)
    assert r.report.status == "feasible"
    assert max(r.report.max_abs_dev.values()) <= 0.05 + 1e-9
    assert (pieces(g, r.assignment) == 1).all()
    P = _problem(g, homes)
    for t, anc in enumerate(_homes.anchors(P)):
        assert (r.assignment[anc] == t).all()
