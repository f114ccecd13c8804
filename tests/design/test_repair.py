"""The exact local repair of out-of-band territories (design/_repair.py) on planted grids."""
import numpy as np

from territorium.design._problem import build_problem
from territorium.design._repair import _excess, forced_territories, local_repair
from territorium.design.engine import _pieces
from territorium.geo.grid import grid_units


def _blocks(nx, ny, bx, by):
    """Each unit's block (bx x by blocks of equal size) on an nx x ny grid (row-major)."""
    x = np.tile(np.arange(nx), ny)
    y = np.repeat(np.arange(ny), nx)
    return (y // (ny // by)) * bx + x // (nx // bx)


def _bad(P, a):
    tot = np.zeros((P.k, P.m))
    np.add.at(tot, a, P.A)
    ex = _excess(P, tot, np.arange(P.k))
    return int((ex[~forced_territories(P, a)] > 1e-9).sum()), ex


def test_repair_brings_block_territories_within_two_measures():
    # 12 x 12 grid cut into 9 square blocks; two independent random measures at ±5 %:
    # the blocks miss by up to ~20 %, and the MIP on clusters brings them within
    g = grid_units(12, 12, seed=3)
    rng = np.random.default_rng(5)
    g = g.with_measures({"p": rng.uniform(1, 10, g.n), "q": rng.lognormal(0, 0.5, g.n)})
    P = build_problem(g, 9, balance={"p": 0.05, "q": 0.05})
    a = _blocks(12, 12, 3, 3)
    assert (_pieces(P, a)[0] == 1).all()
    bad0, ex0 = _bad(P, a)
    assert bad0 >= 4
    import time

    b, info = local_repair(P, a, time.monotonic() + 30)
    bad1, ex1 = _bad(P, b)
    assert info["bad_before"] == bad0 and info["bad_after"] == bad1
    assert (_pieces(P, b)[0] == 1).all()  # every territory still one piece
    assert bad1 < bad0 and ex1.max() < ex0.max()
    assert info["kept"] >= 1


def test_repair_leaves_a_stranded_units_territory_and_the_rest_alone():
    # a unit no contiguous territory can hold within ±5 % (alone 91 % of a target, every
    # neighbour adds 20 %): its territory is left out of every cluster, and with every other
    # territory already within its band nothing changes
    g = grid_units(10, 8, seed=4)
    ip, ix = g.adjacency.indptr, g.adjacency.indices
    w = np.ones(g.n)
    w[ix[ip[44]:ip[45]]] = 6.0
    w[44] = 0.0
    w[44] = 0.91 * (w.sum() / 4) / (1 - 0.91 / 4)
    g = g.with_measures({"workload": w})
    P = build_problem(g, 4, balance={"workload": 0.05})
    f = forced_territories(P, np.zeros(g.n, np.int64))
    assert f[0] and f.sum() == 1
    import time

    a = np.zeros(g.n, np.int64)  # one territory holds everything: the others are empty
    a[:3] = [1, 2, 3]
    b, info = local_repair(P, a, time.monotonic() + 10)
    assert (_pieces(P, b)[0] == 1).all()
    assert (b[a == 0] == 0).all() and (b == 0).sum() == (a == 0).sum()  # territory 0 untouched


def test_large_map_path_runs_the_repair(monkeypatch):
    # the quick-bisection path (above BISECT_MAX_N units, lowered here) ends with the repair
    # rounds; the plan stays one piece per territory and the repair is recorded
    from territorium.design import _worker, design

    monkeypatch.setattr(_worker, "BISECT_MAX_N", 100)
    seen = []
    real = _worker.local_repair

    def spy(P, a, deadline, **kw):
        out = real(P, a, deadline, **kw)
        seen.append(out[1])
        return out

    monkeypatch.setattr(_worker, "local_repair", spy)
    g = grid_units(24, 20, seed=2)
    rng = np.random.default_rng(1)
    g = g.with_measures({"p": rng.uniform(1, 10, g.n), "q": rng.lognormal(0, 1, g.n)})
    r = design(g, 16, balance={"p": 0.01, "q": 0.01}, seed=1, n_jobs=1, n_starts=1, time_limit=8)
    assert (r.report.pieces == 1).all()
    if r.report.status == "infeasible":
        assert seen and all(s["bad_after"] <= s["bad_before"] for s in seen)


def test_rep_home_design_ends_with_the_repair_on_large_clusters(monkeypatch):
    # a design around fixed homes with several measures: the annealing takes half of what is
    # left and the repair, with the larger rep-home clusters, the rest; the plan stays one
    # piece per territory with each home inside, and the repair never leaves more outside
    from territorium.design import _worker, design

    seen = []
    real = _worker.local_repair

    def spy(P, a, deadline, **kw):
        out = real(P, a, deadline, **kw)
        seen.append((kw.get("levels"), out[1]))
        return out

    monkeypatch.setattr(_worker, "local_repair", spy)
    g = grid_units(16, 12, seed=2)
    rng = np.random.default_rng(4)
    g = g.with_measures({"p": rng.lognormal(0, 1, g.n), "q": rng.lognormal(0, 1, g.n)})
    homes = [20, 27, 100, 107, 164, 171]
    # ±0.2 % on two independent heavy-tailed measures: the annealing cannot meet it
    r = design(g, 6, centers=homes, balance={"p": 0.002, "q": 0.002}, seed=1, n_jobs=1, n_starts=1,
               time_limit=8)
    assert (r.report.pieces == 1).all()
    assert (r.assignment[homes] == np.arange(6)).all()
    assert seen, "the repair did not run"
    assert all(levels == _worker.REPAIR_HOMES_LEVELS for levels, _ in seen)
    assert all(info["bad_after"] <= info["bad_before"] for _, info in seen)


def test_highs_mips_presolve_only_at_the_root():
    # HiGHS 1.16 ran MIPs more than 10 minutes past their limits in presolves inside the
    # search (a restart's, on make demo's rep-home design; a RINS sub-MIP's, on real_cz);
    # every HiGHS instance the engine makes presolves the root only and never restarts
    from territorium.design._lp import _highs

    h, _ = _highs()

    def opt(name):
        v = h.getOptionValue(name)
        return v[1] if isinstance(v, tuple) else v

    assert opt("mip_allow_restart") is False
    assert opt("mip_root_presolve_only") is True
