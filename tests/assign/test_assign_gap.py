"""Accounts → reps (GAP): bound ≤ exact optimum ≤ plan, capacities, infeasibility, reasons."""
import numpy as np
import pytest

from territorium.assign import AssignInputError, assign_accounts, gap_mip, haversine_km


def _instance(seed, n=40, R=5, tight=0.9, skills=True):
    rng = np.random.default_rng(seed)
    lat = rng.uniform(40, 43, n)
    lon = rng.uniform(-76, -71, n)
    rlat = rng.uniform(40, 43, R)
    rlon = rng.uniform(-76, -71, R)
    w = rng.choice([8.0, 16.0, 32.0, 62.0], n, p=[0.4, 0.3, 0.2, 0.1])
    cap = np.full(R, w.sum() / R / tight)
    needs = [("enterprise" if (skills and rng.random() < 0.2) else "") for _ in range(n)]
    rep_sk = ["enterprise" if (skills and r % 2 == 0) else "" for r in range(R)]
    cur = rng.integers(-1, R, n)
    return dict(lat=lat, lon=lon, rlat=rlat, rlon=rlon, w=w, cap=cap, needs=needs, rep_sk=rep_sk, cur=cur)


def _solve(I, **kw):
    return assign_accounts(I["w"], I["cap"], account_lat=I["lat"], account_lon=I["lon"], rep_lat=I["rlat"],
                           rep_lon=I["rlon"], account_needs=I["needs"], rep_skills=I["rep_sk"],
                           vocabulary=["enterprise"], current=I["cur"], **kw)


def _exact_cost(I, continuity=10.0):
    D = haversine_km(I["lat"], I["lon"], I["rlat"], I["rlon"])
    elig = np.array([[(not nd) or (nd in sk.split(";")) for sk in I["rep_sk"]] for nd in I["needs"]])
    C = np.where(elig, D, np.inf)
    on = I["cur"] >= 0
    C[np.flatnonzero(on), I["cur"][on]] -= continuity
    return C


@pytest.mark.parametrize("seed", range(4))
def test_bound_le_exact_optimum_le_plan(seed):
    I = _instance(seed)
    g = _solve(I, time_limit=10, seed=1)
    C = _exact_cost(I)
    mip = gap_mip(C, I["w"], I["cap"], time_limit=60)
    assert mip["status"] == "Optimal"
    opt = mip["objective"]
    assert g.status == "feasible"
    assert g.lower_bound <= opt + 1e-6
    assert opt <= g.objective + 1e-6
    # the plan's cost recomputed from its assignment
    assert g.objective == pytest.approx(C[np.arange(len(g.rep)), g.rep].sum())
    # optimum within the reported gap, and the gap is small on these instances
    assert g.objective - opt <= g.gap * abs(g.objective) + 1e-6
    assert g.gap < 0.03
    # the subgradient bound alone (no LP) is valid too, and no better than the LP bound
    g2 = _solve(I, time_limit=10, seed=1, use_lp=False)
    assert g2.lower_bound <= g.lower_bound + 1e-6 and g2.lower_bound <= opt + 1e-6 <= g2.objective + 2e-6


def test_capacity_never_exceeded_when_feasible():
    for seed in range(3):
        I = _instance(100 + seed, n=400, R=12, tight=0.95)
        g = _solve(I, time_limit=5)
        load = np.bincount(g.rep, I["w"], len(I["cap"]))
        assert g.status == "feasible"
        assert (load <= I["cap"] + 1e-9).all()
        np.testing.assert_allclose(load, g.load)
        # skills: every enterprise account went to an enterprise rep
        for i, nd in enumerate(I["needs"]):
            if nd:
                assert "enterprise" in I["rep_sk"][g.rep[i]]


def test_infeasibility_reported_with_the_amount():
    km = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 3.0], [4.0, 2.0]])
    w = np.array([30.0, 30.0, 25.0, 15.0])           # 100 h of work
    cap = np.array([40.0, 40.0])                      # 80 h of capacity: short by 20 h
    g = assign_accounts(w, cap, distance_km=km)
    total = g.shortfall.set_index("skill").loc["all accounts"]
    assert total["short_h"] == pytest.approx(20.0)
    assert g.status == "overloaded" and g.lower_bound is None
    assert g.overload.sum() >= 20.0 - 1e-9
    # per skill: enterprise accounts need 55 h, the one enterprise rep has 40 h → short by 15 h
    g2 = assign_accounts(np.array([30.0, 25.0, 5.0]), np.array([40.0, 100.0]), distance_km=km[:3],
                         account_needs=["enterprise", "enterprise", ""], rep_skills=["enterprise", ""],
                         vocabulary=["enterprise"])
    ent = g2.shortfall.set_index("skill").loc["enterprise"]
    assert (ent["demand_h"], ent["capacity_h"], ent["short_h"]) == pytest.approx((55.0, 40.0, 15.0))
    assert "short by 15.0 h" in g2.summary()


def test_soft_capacity_reports_overload_per_rep():
    km = np.array([[1.0, 50.0], [1.0, 50.0], [1.0, 50.0]])
    g = assign_accounts(np.array([10.0, 10.0, 10.0]), np.array([15.0, 5.0]), distance_km=km, overload_penalty=2.0)
    # 30 h for 20 h: 10 h over somewhere; at 2 km/h overload is cheaper than 49 km of travel
    assert g.rep.tolist() == [0, 0, 0]
    assert g.overload.tolist() == pytest.approx([15.0, 0.0])
    assert g.objective == pytest.approx(3.0 + 2.0 * 15.0)
    assert g.lower_bound <= g.objective + 1e-9


def test_explanations_name_the_planted_reason():
    # reps on a line at km 0 (A), 10 (B), 20 (C); A has 10 h, B lacks the enterprise skill
    km = np.array([
        [1.0, 9.0, 19.0],    # 0: nearest A, fits                    -> nearest
        [2.0, 8.0, 18.0],    # 1: nearest A but A full (after 0)     -> capacity (to B)
        [9.0, 1.0, 11.0],    # 2: needs enterprise, B lacks it       -> skill (to A or C)
        [12.0, 3.0, 8.0],    # 3: current owner C, bonus 10 > 5 km   -> continuity
        [5.0, 5.5, 30.0],    # 4: locked to C                        -> locked
    ])
    w = np.array([10.0, 10.0, 5.0, 1.0, 1.0])
    cap = np.array([10.0, 100.0, 100.0])
    g = assign_accounts(w, cap, distance_km=km, account_needs=["", "", "enterprise", "", ""],
                        rep_skills=["", "", "enterprise"], vocabulary=["enterprise"],
                        current=np.array([-1, -1, -1, 2, -1]), locked=np.array([-1, -1, -1, -1, 2]),
                        lock_reasons=[None, None, None, None, "protected: 1 open opportunity"],
                        rep_ids=["A", "B", "C"])
    ex = g.explanations
    assert g.rep.tolist() == [0, 1, 2, 2, 2]
    assert ex["reason_code"].tolist() == ["nearest", "capacity", "skill", "continuity", "locked"]
    assert "the nearer one is at capacity (nearest A, 2.0 km)" in ex["reason"][1]
    assert "needs enterprise (1 of 3 reps have it)" in ex["reason"][2] and "B (1.0 km) lacks it" in ex["reason"][2]
    assert ex["reason"][4].startswith("protected: 1 open opportunity")
    assert ex["distance_rank"].tolist() == [1, 2, 1, 2, 3]


def test_same_seed_same_plan():
    I = _instance(7, n=600, R=15, tight=0.97)
    a = _solve(I, time_limit=5, seed=3)
    b = _solve(I, time_limit=5, seed=3)
    np.testing.assert_array_equal(a.rep, b.rep)
    assert a.objective == b.objective and a.lower_bound == b.lower_bound


def test_account_without_eligible_rep_and_bad_inputs():
    g = assign_accounts(np.array([1.0, 1.0]), np.array([5.0]), distance_km=np.array([[1.0], [2.0]]),
                        account_needs=["spanish", ""], rep_skills=[""], vocabulary=["spanish"], rep_ids=["A"])
    assert g.rep.tolist() == [-1, 0]
    assert g.explanations["reason_code"][0] == "no_eligible_rep"
    with pytest.raises(AssignInputError, match="without a home location: B"):
        assign_accounts(np.ones(2), np.ones(2), account_lat=[40, 41], account_lon=[-74, -73],
                        rep_lat=[40, np.nan], rep_lon=[-74, np.nan], rep_ids=["A", "B"])
