"""Reps → territories: the linear assignment must equal brute force over every permutation."""
import itertools

import numpy as np
import pandas as pd
import pytest

from territorium.assign import AssignInputError, RepWeights, assign_reps


def _instance(seed, R=6, T=6):
    rng = np.random.default_rng(seed)
    reps = pd.DataFrame({
        "rep_id": [f"r{i}" for i in range(R)],
        "home_lat": rng.uniform(40, 44, R), "home_lon": rng.uniform(-76, -70, R),
        "capacity_hours": rng.uniform(800, 1600, R),
        "skills": [";".join(s for s in ("skincare", "haircare", "enterprise") if rng.random() < 0.5) for _ in range(R)],
    })
    terr = pd.DataFrame({"territory_id": [f"T{j}" for j in range(T)], "lat": rng.uniform(40, 44, T),
                         "lon": rng.uniform(-76, -70, T), "workload": rng.uniform(700, 1800, T)})
    demand = pd.DataFrame(rng.uniform(0, 1, (T, 3)), index=terr["territory_id"],
                          columns=["skincare", "haircare", "enterprise"])
    own = pd.DataFrame(rng.uniform(0, 1, (T, R)) * (rng.random((T, R)) < 0.3), index=terr["territory_id"],
                       columns=reps["rep_id"])
    return reps, terr, demand, own


def _brute(cost, vac=None, allowed=None):
    """Minimum over every injective map of the smaller side into the larger (with vacancies)."""
    R, T = cost.shape
    best = np.inf
    if R <= T:
        for terrs in itertools.permutations(range(T), R):
            if allowed is not None and not all(allowed[r, t] for r, t in enumerate(terrs)):
                continue
            c = sum(cost[r, t] for r, t in enumerate(terrs))
            c += sum(vac[t] for t in set(range(T)) - set(terrs)) if R < T else 0.0
            best = min(best, c)
    else:
        for reps in itertools.permutations(range(R), T):
            if allowed is not None and not all(allowed[r, t] for t, r in enumerate(reps)):
                continue
            best = min(best, sum(cost[r, t] for t, r in enumerate(reps)))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_lap_equals_brute_force_on_6x6(seed):
    reps, terr, demand, own = _instance(seed)
    r = assign_reps(reps, terr, skill_demand=demand, ownership=own)
    cost = r.components["cost"]
    assert r.objective == pytest.approx(_brute(cost), abs=1e-9)
    # the components add up to the cost with the default weights, recomputed here by hand
    w = RepWeights()
    km = r.components["travel_km"]
    cap = reps["capacity_hours"].to_numpy()
    over = np.maximum(0, terr["workload"].to_numpy()[None, :] - cap[:, None]) / cap[:, None]
    has = np.array([[s in k.split(";") for s in demand.columns] for k in reps["skills"]], float)
    miss = ((1 - has) @ demand.to_numpy().T) / demand.to_numpy().sum(1)[None, :]
    by_hand = w.travel * km + w.skill * miss + w.capacity * over - w.continuity * own.to_numpy().T
    np.testing.assert_allclose(cost, by_hand, atol=1e-9)
    # one rep per territory, each rep once
    assert sorted(r.rep_of_territory.tolist()) == list(range(6))
    assert r.table["cost"].sum() == pytest.approx(r.objective)


@pytest.mark.parametrize("seed", range(3))
def test_mip_gives_the_same_optimum(seed):
    reps, terr, demand, own = _instance(seed + 10)
    lap = assign_reps(reps, terr, skill_demand=demand, ownership=own)
    mip = assign_reps(reps, terr, skill_demand=demand, ownership=own, method="mip")
    assert mip.objective == pytest.approx(lap.objective, abs=1e-6)


def test_fewer_reps_leaves_the_cheapest_territories_vacant():
    reps, terr, demand, own = _instance(3, R=4, T=6)
    w = RepWeights(vacancy=300.0)
    r = assign_reps(reps, terr, skill_demand=demand, ownership=own, weights=w)
    wl = terr["workload"].to_numpy()
    vac = 300.0 * wl / wl.mean()
    assert r.objective == pytest.approx(_brute(r.components["cost"], vac), abs=1e-9)
    assert len(r.vacant) == 2 and r.benched == ()
    assert r.table.loc[r.table["rep_id"].isna(), "reason"].str.startswith("vacant").all()


def test_more_reps_benches_the_least_useful():
    reps, terr, demand, own = _instance(4, R=6, T=4)
    r = assign_reps(reps, terr, skill_demand=demand, ownership=own)
    assert r.objective == pytest.approx(_brute(r.components["cost"]), abs=1e-9)
    assert len(r.benched) == 2 and r.vacant == ()


def test_hard_rules_match_constrained_brute_force():
    reps, terr, demand, own = _instance(5)
    must = {"r2": "T4"}
    forbid = [("r0", "T0"), ("r0", "T1"), ("r5", "T3")]
    required = {"T2": "enterprise"}
    for method in ("lap", "mip"):
        r = assign_reps(reps, terr, skill_demand=demand, ownership=own, must=must, forbid=forbid,
                        required_skills=required, method=method)
        allowed = np.ones((6, 6), bool)
        allowed[0, 0] = allowed[0, 1] = allowed[5, 3] = False
        for i, sk in enumerate(reps["skills"]):
            if "enterprise" not in sk.split(";"):
                allowed[i, 2] = False
        allowed[2, :] = False
        allowed[:, 4] = False
        allowed[2, 4] = True
        base = assign_reps(reps, terr, skill_demand=demand, ownership=own).components["cost"]
        assert r.objective == pytest.approx(_brute(base, allowed=allowed), abs=1e-6)
        tab = r.table.set_index("territory_id")
        assert tab.loc["T4", "rep_id"] == "r2" and tab.loc["T4", "reason"].startswith("rule")
        assert "enterprise" in reps.set_index("rep_id").loc[tab.loc["T2", "rep_id"], "skills"]


def test_planted_geography_continuity_and_reasons():
    # two reps, two territories 300 km apart: each rep takes the one at home
    reps = pd.DataFrame({"rep_id": ["ny", "bos"], "home_lat": [40.71, 42.36], "home_lon": [-74.01, -71.06]})
    terr = pd.DataFrame({"territory_id": ["Boston", "NYC"], "lat": [42.35, 40.72], "lon": [-71.05, -74.0]})
    r = assign_reps(reps, terr)
    assert r.table["rep_id"].tolist() == ["bos", "ny"]
    assert r.table["reason"].str.contains("lowest-cost of 2 eligible").all()
    # a continuity bonus large enough beats ~600 km of extra travel (2 × 306 km)
    own = pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], index=["Boston", "NYC"], columns=["ny", "bos"])
    r2 = assign_reps(reps, terr, ownership=own, weights=RepWeights(continuity=400))
    assert r2.table["rep_id"].tolist() == ["ny", "bos"]
    r3 = assign_reps(reps, terr, ownership=own, weights=RepWeights(continuity=200))
    assert r3.table["rep_id"].tolist() == ["bos", "ny"]


def test_errors_name_the_rep_and_the_rule():
    reps = pd.DataFrame({"rep_id": ["a", "b"], "home_lat": [40.0, np.nan], "home_lon": [-74.0, np.nan]})
    terr = pd.DataFrame({"territory_id": ["T1", "T2"], "lat": [40.0, 41.0], "lon": [-74.0, -73.0]})
    with pytest.raises(AssignInputError, match="without a home location: b"):
        assign_reps(reps, terr)
    reps.loc[1, ["home_lat", "home_lon"]] = [41.0, -73.0]
    with pytest.raises(AssignInputError, match="unknown rep 'zed'"):
        assign_reps(reps, terr, must={"zed": "T1"})
    with pytest.raises(AssignInputError, match="unknown territory 'T9'"):
        assign_reps(reps, terr, forbid=[("a", "T9")])
    with pytest.raises(AssignInputError, match="no valid staffing"):
        assign_reps(reps, terr, forbid=[("a", "T1"), ("b", "T1")])
    with pytest.raises(AssignInputError, match="two reps"):
        assign_reps(reps, terr, must={"a": "T1", "b": "T1"})
    with pytest.raises(AssignInputError, match="NAME=NUMBER"):
        RepWeights.parse("speed=3")
