"""Head counts (several reps per territory) and predefined teams: planted answers, brute force,
the MIP against the LAP, and the CLI with its errors."""
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _cli import command_app
from _assign_ws import write_tiny_workspace
from territorium.assign import AssignInputError, RepWeights, aggregate_teams, assign_reps, head_counts
from territorium.commands import assign as assign_cmd


def _km(lat1, lon1, lat2, lon2):
    """Great-circle km, written out here (not the engine's helper)."""
    p1, p2 = np.radians(np.asarray(lat1))[:, None], np.radians(np.asarray(lat2))[None, :]
    dl = np.radians(np.asarray(lon2))[None, :] - np.radians(np.asarray(lon1))[:, None]
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def _instance(seed, R=5, wl=(2600.0, 2100.0, 900.0)):
    rng = np.random.default_rng(seed)
    T = len(wl)
    reps = pd.DataFrame({"rep_id": [f"r{i}" for i in range(R)], "home_lat": rng.uniform(40, 44, R),
                         "home_lon": rng.uniform(-76, -70, R), "capacity_hours": rng.uniform(800, 1600, R)})
    terr = pd.DataFrame({"territory_id": [f"T{j}" for j in range(T)], "lat": rng.uniform(40, 44, T),
                         "lon": rng.uniform(-76, -70, T), "workload": list(wl)})
    own = pd.DataFrame(rng.uniform(0, 1, (T, R)) * (rng.random((T, R)) < 0.4), index=terr["territory_id"],
                       columns=reps["rep_id"])
    return reps, terr, own


def _by_hand(reps, terr, own, slots, w=RepWeights()):
    """cost[r, t] with the overload measured on the workload per head."""
    km = _km(reps["home_lat"], reps["home_lon"], terr["lat"], terr["lon"])
    cap = reps["capacity_hours"].to_numpy()[:, None]
    each = terr["workload"].to_numpy()[None, :] / np.asarray(slots)[None, :]
    return w.travel * km + w.capacity * np.maximum(0, each - cap) / cap - w.continuity * own.to_numpy().T


def _brute(cost, slots, allowed=None):
    """Every map rep → territory or bench (-1) that fills each territory's slots exactly."""
    R, T = cost.shape
    best, arg = np.inf, None
    for choice in itertools.product(range(-1, T), repeat=R):
        if any(choice.count(t) != slots[t] for t in range(T)):
            continue
        if allowed is not None and not all(allowed[r, t] for r, t in enumerate(choice) if t >= 0):
            continue
        c = sum(cost[r, t] for r, t in enumerate(choice) if t >= 0)
        if c < best:
            best, arg = c, choice
    return best, arg


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("R", [5, 6])
def test_slots_lap_and_mip_equal_brute_force(seed, R):
    reps, terr, own = _instance(seed, R=R)
    slots = [2, 2, 1]
    cost = _by_hand(reps, terr, own, slots)
    best, arg = _brute(cost, slots)
    for method in ("lap", "mip"):
        r = assign_reps(reps, terr, ownership=own, slots=slots, method=method)
        np.testing.assert_allclose(r.components["cost"], cost, atol=1e-9)
        assert r.objective == pytest.approx(best, abs=1e-6)
        # every territory got exactly its head count, no rep twice, the table costs add up
        assert r.territories["filled"].tolist() == slots
        assert r.table.groupby("territory_id").size().tolist() == slots
        assert r.table["rep_id"].is_unique and len(r.benched) == R - 5
        assert r.table["cost"].sum() == pytest.approx(best, abs=1e-6)
    # the optimum is unique on these random costs: the same reps as brute force
    got = {rid: t for t, rid in zip(r.table["territory_id"], r.table["rep_id"])}
    want = {f"r{i}": f"T{t}" for i, t in enumerate(arg) if t >= 0}
    assert got == want


def test_slots_per_territory_reported_by_hand():
    reps, terr, own = _instance(7)
    r = assign_reps(reps, terr, ownership=own, slots={"T0": 2, "T1": 2})   # T2 left out: one rep
    assert r.slots.tolist() == [2, 2, 1]
    cap = reps.set_index("rep_id")["capacity_hours"]
    for _, row in r.territories.iterrows():
        members = row["reps"].split(";")
        assert len(members) == row["slots"]
        assert row["capacity"] == pytest.approx(cap[members].sum())           # combined capacity
        assert row["overload_h"] == pytest.approx(max(0.0, row["workload"] - cap[members].sum()))
    t0 = r.table[r.table["territory_id"] == "T0"]
    assert t0["workload_share"].tolist() == [1300.0, 1300.0]
    assert t0["slot"].tolist() == [1, 2] and t0["cost"].is_monotonic_increasing
    assert t0["reason"].str.contains("workload 2,600 h / 2 = 1,300 h each vs capacity").all()


def test_slots_auto_from_workload():
    # capacity 1,600 h, 5 % slack: one rep carries up to 1,680 h
    assert head_counts([1000, 1680, 1700, 4000, 5100, 0], 1600).tolist() == [1, 1, 2, 3, 4, 1]
    reps = pd.DataFrame({"rep_id": [f"r{i}" for i in range(8)], "home_lat": np.linspace(40, 41, 8),
                         "home_lon": np.linspace(-75, -74, 8), "capacity_hours": 1600.0})
    terr = pd.DataFrame({"territory_id": ["a", "b", "c", "d"], "lat": [40.0, 40.3, 40.6, 41.0],
                         "lon": [-75.0, -74.7, -74.4, -74.0], "workload": [1000.0, 1700.0, 3300.0, 4900.0]})
    r = assign_reps(reps, terr, slots="auto")
    assert r.slots.tolist() == [1, 2, 2, 3] and r.benched == ()
    # with 10 % slack 1,700 h fits one rep: one head fewer, one rep benched
    r = assign_reps(reps, terr, slots="auto", slack=0.10)
    assert r.slots.tolist() == [1, 1, 2, 3] and len(r.benched) == 1
    # auto from the reps' mean capacity: 1,000 h each → [1, 2, 4, 5] = 12 > 8
    with pytest.raises(AssignInputError, match="need 12 reps .* but there are 8: short by 4 reps"):
        assign_reps(reps.assign(capacity_hours=1000.0), terr, slots="auto")


def test_team_aggregation_by_hand():
    reps = pd.DataFrame({
        "rep_id": ["a", "b", "c", "d", "e"],
        "home_lat": [40.0, 42.0, 34.0, 34.2, 41.8], "home_lon": [-74.0, -71.0, -118.0, -118.4, -87.6],
        "capacity_hours": [1600.0, 800.0, 1200.0, 1200.0, 1500.0],
        "skills": ["spanish", "skincare;Spanish", "haircare", None, ""],
        "team": ["East", "East", "West", "West", "Central"]})
    t = aggregate_teams(reps).set_index("team_id")
    assert t.loc["East", "home_lat"] == pytest.approx((40.0 * 1600 + 42.0 * 800) / 2400)
    assert t.loc["East", "home_lon"] == pytest.approx((-74.0 * 1600 - 71.0 * 800) / 2400)
    assert t.loc["West", "home_lat"] == pytest.approx(34.1)          # equal capacities: plain mean
    assert t["capacity_hours"].to_dict() == {"East": 2400.0, "West": 2400.0, "Central": 1500.0}
    assert t.loc["East", "skills"] == "skincare;spanish" and t.loc["West", "skills"] == "haircare"
    assert t.loc["East", "members"] == ("a", "b")

    terr = pd.DataFrame({"territory_id": ["Boston", "LA", "Chicago"], "lat": [42.36, 34.05, 41.88],
                         "lon": [-71.06, -118.24, -87.63], "workload": [3000.0, 2000.0, 1000.0]})
    # c owns all of Chicago: continuity 100 km-eq. is far from the ~2,800 km the West team would travel
    own = pd.DataFrame(0.0, index=terr["territory_id"], columns=reps["rep_id"])
    own.loc["Boston", "a"], own.loc["Boston", "b"], own.loc["Chicago", "c"] = 0.25, 0.5, 1.0
    r = assign_reps(reps, terr, ownership=own, by="team")
    assert r.rep_ids == ("East", "West", "Central") and r.id_column == "team_id"
    tab = r.table.set_index("territory_id")
    assert tab["team_id"].to_dict() == {"Boston": "East", "LA": "West", "Chicago": "Central"}
    assert tab.loc["Boston", "members"] == "a;b" and tab.loc["LA", "members"] == "c;d"
    # travel from the centroid, capacity the sum, continuity the members' shares summed
    km = _km(t["home_lat"], t["home_lon"], terr["lat"], terr["lon"])
    np.testing.assert_allclose(r.components["travel_km"], km, atol=1e-9)
    assert tab.loc["Boston", "capacity"] == 2400.0
    assert tab.loc["Boston", "overload_h"] == pytest.approx(600.0)
    assert tab.loc["Boston", "c_capacity"] == pytest.approx(200.0 * 600 / 2400)
    assert tab.loc["Boston", "owned_share"] == pytest.approx(0.75)
    assert r.components["owned_share"][1, 2] == pytest.approx(1.0)       # West owns Chicago through c
    assert "team of 2: a, b" in tab.loc["Boston", "reason"]
    assert r.territories.set_index("territory_id").loc["LA", "reps"] == "c;d"
    # three teams, three territories: the optimum equals brute force over the 6 permutations
    cost = r.components["cost"]
    assert r.objective == pytest.approx(min(sum(cost[i, p[i]] for i in range(3))
                                            for p in itertools.permutations(range(3))))
    # must rules name teams
    r2 = assign_reps(reps, terr, ownership=own, by="team", must={"West": "Chicago"}, method="mip")
    assert r2.table.set_index("territory_id").loc["Chicago", "team_id"] == "West"
    with pytest.raises(AssignInputError, match="unknown team 'South'"):
        assign_reps(reps, terr, by="team", must={"South": "LA"})
    with pytest.raises(AssignInputError, match="reps without a team: e"):
        assign_reps(reps.assign(team=["East", "East", "West", "West", None]), terr, by="team")


@pytest.mark.parametrize("seed", range(3))
def test_mip_with_slots_equals_lap(seed):
    reps, terr, own = _instance(seed + 20, R=9, wl=(3000.0, 1200.0, 2500.0, 4100.0))
    slots = [2, 1, 2, 3]
    lap = assign_reps(reps, terr, ownership=own, slots=slots)
    mip = assign_reps(reps, terr, ownership=own, slots=slots, method="mip")
    assert mip.objective == pytest.approx(lap.objective, abs=1e-6)
    assert sorted(mip.territories["filled"]) == sorted(slots) and len(mip.benched) == 1


def test_rules_with_slots_match_constrained_brute_force():
    reps, terr, own = _instance(3, R=6)
    slots = [2, 2, 1]
    must = {"r4": "T0"}                        # one of T0's two slots; the other stays open
    forbid = [("r0", "T0"), ("r1", "T1")]
    allowed = np.ones((6, 3), bool)
    allowed[0, 0] = allowed[1, 1] = False
    cost = _by_hand(reps, terr, own, slots)
    # brute force over the maps that fill every slot, respect must-not, and place r4 on T0
    best = min(sum(cost[r, t] for r, t in enumerate(ch) if t >= 0)
               for ch in itertools.product(range(-1, 3), repeat=6)
               if all(ch.count(t) == slots[t] for t in range(3)) and ch[4] == 0
               and all(allowed[r, t] for r, t in enumerate(ch) if t >= 0))
    assert best > _brute(cost, slots)[0] + 1e-6          # the rules bind: the free optimum is cheaper
    for method in ("lap", "mip"):
        r = assign_reps(reps, terr, ownership=own, slots=slots, must=must, forbid=forbid, method=method)
        assert r.objective == pytest.approx(best, abs=1e-6)
        t0 = r.table[r.table["territory_id"] == "T0"]
        assert "r4" in t0["rep_id"].tolist() and len(t0) == 2
        assert t0.set_index("rep_id").loc["r4", "reason"].startswith("rule")
    with pytest.raises(AssignInputError, match="to 3 reps .* but its head count is 2"):
        assign_reps(reps, terr, slots=slots, must={"r0": "T0", "r1": "T0", "r2": "T0"})


def test_slot_errors_say_how_many_are_short():
    reps, terr, own = _instance(1)
    with pytest.raises(AssignInputError, match=r"need 7 reps for 3 territories \(T0 3, T1 3; the rest 1\) "
                                               r"but there are 5: short by 2 reps"):
        assign_reps(reps, terr, slots=[3, 3, 1])
    with pytest.raises(AssignInputError, match="slots for territory T1: 1.5 is not a whole number"):
        assign_reps(reps, terr, slots=[1, 1.5, 1])
    with pytest.raises(AssignInputError, match="slots: unknown territory 'T9'"):
        assign_reps(reps, terr, slots={"T9": 2})
    # without head counts, fewer reps than territories still leaves the cheapest vacant
    r = assign_reps(reps.iloc[:2], terr)
    assert len(r.vacant) == 1 and r.territories["filled"].sum() == 2
    # asking for one each makes vacancies an error
    with pytest.raises(AssignInputError, match="short by 1 rep$"):
        assign_reps(reps.iloc[:2], terr, slots=1)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

runner = CliRunner()
HOMES = {"A1": (40.75, -73.99), "A2": (40.70, -74.02), "B1": (39.95, -75.16), "B2": (39.99, -75.22),
         "C1": (42.36, -71.06)}


@pytest.fixture(scope="module")
def team_ws(tmp_path_factory):
    """(SQLite URL, alignment CSV, reps CSV) — the tiny workspace of the assign tests with five
    reps in a file: two in NYC (team East), two in Philadelphia (Mid), one in Boston (North)."""
    d = tmp_path_factory.mktemp("teams-ws")
    url, al = write_tiny_workspace(d)
    reps = d / "reps.csv"
    pd.DataFrame({"rep_id": list(HOMES), "name": ["Ann", "Art", "Bob", "Bea", "Cat"],
                  "home_lat": [h[0] for h in HOMES.values()], "home_lon": [h[1] for h in HOMES.values()],
                  "capacity_hours": 50.0, "team": ["East", "East", "Mid", "Mid", "North"]}).to_csv(reps, index=False)
    return url, al, reps


@pytest.fixture(scope="module")
def app():
    return command_app(assign_cmd)


def _base(ws):
    url, al, reps = ws
    return ["assign", "territories", "--database", url, "--alignment", str(al), "--units", "account",
            "--reps-from", str(reps), "--no-protect-open-opps"]


def test_cli_slots_file_splits_accounts_among_the_territory_reps(app, team_ws, tmp_path):
    slots = tmp_path / "slots.csv"
    pd.DataFrame({"territory": ["NYC", "PHL"], "slots": [2, 2]}).to_csv(slots, index=False)   # BOS: 1
    out = tmp_path / "a.csv"
    r = runner.invoke(app, _base(team_ws) + ["--slots", str(slots), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["slots"] == {"BOS": 1, "NYC": 2, "PHL": 2}
    t = pd.read_csv(out)
    assert sorted(t.groupby("territory_id")["rep_id"].apply(lambda s: ";".join(sorted(s))).items()) == [
        ("BOS", "C1"), ("NYC", "A1;A2"), ("PHL", "B1;B2")]
    summ = pd.read_csv(out.with_name("a_territories.csv")).set_index("territory_id")
    assert summ.loc["NYC", "capacity"] == 100.0 and summ.loc["NYC", "workload"] == pytest.approx(95.0)
    assert summ.loc["NYC", "rep_names"] in ("Ann;Art", "Art;Ann")
    acc = pd.read_csv(out.with_name("a_accounts.csv")).set_index("account_id")
    nyc = acc[acc["territory"] == "NYC"]
    assert set(nyc["planned_rep"]) == {"A1", "A2"}                 # both NYC reps get accounts
    assert nyc["reason"].str.contains("2 reps share NYC").all()
    load = nyc.groupby("planned_rep")["workload"].sum()
    assert load.min() >= 95.0 - 50 * 1.05 - 1e-9                   # neither above its share of the hours
    assert set(acc.loc[acc["territory"] == "BOS", "planned_rep"]) == {"C1"}


def test_cli_by_team_lists_members(app, team_ws, tmp_path):
    out = tmp_path / "t.csv"
    r = runner.invoke(app, _base(team_ws) + ["--by", "team", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Per territory" in r.stdout
    t = pd.read_csv(out).set_index("territory_id")
    assert t["team_id"].to_dict() == {"BOS": "North", "NYC": "East", "PHL": "Mid"}
    assert t.loc["NYC", "members"] == "A1;A2" and t.loc["NYC", "member_names"] == "Ann;Art"
    assert t.loc["NYC", "capacity"] == 100.0
    acc = pd.read_csv(out.with_name("t_accounts.csv"))
    assert set(acc.loc[acc["territory"] == "PHL", "new_owner"]) == {"B1", "B2"}
    assert acc.loc[acc["territory"] == "PHL", "reason"].str.contains(r"\(team Mid\)").all()
    # a team must-rule, and the head count check in teams
    r = runner.invoke(app, _base(team_ws) + ["--by", "team", "--must", "North=NYC", "--out", str(tmp_path / "m.csv")])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "m.csv").set_index("territory_id").loc["NYC", "team_id"] == "North"
    r = runner.invoke(app, _base(team_ws) + ["--by", "team", "--slots", "2", "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2 and "short by 3 teams" in " ".join(r.output.split())


def test_cli_errors_name_file_row_and_count(app, team_ws, tmp_path):
    url, al, reps = team_ws
    base = _base(team_ws) + ["--out", str(tmp_path / "e.csv")]

    def err(args):
        r = runner.invoke(app, base + args)
        assert r.exit_code == 2, r.output
        return " ".join(r.output.split())

    # auto: ceil(95 / 52.5) + ceil(80 / 52.5) + ceil(80 / 52.5) = 6 heads for 5 reps
    assert "need 6 reps for 3 territories (BOS 2, NYC 2, PHL 2) but there are 5: short by 1 rep" in err(
        ["--slots", "auto"])
    bad = tmp_path / "slots_bad.csv"
    pd.DataFrame({"territory": ["NYC", "LA"], "slots": ["2", "1"]}).to_csv(bad, index=False)
    assert f"{bad}: row 3, column 'territory': unknown territory 'LA'" in err(["--slots", str(bad)])
    pd.DataFrame({"territory": ["NYC"], "slots": ["two"]}).to_csv(bad, index=False)
    assert f"{bad}: row 2, column 'slots': 'two' is not a whole number" in err(["--slots", str(bad)])
    assert "not 'auto', a whole number or an existing file" in err(["--slots", "lots"])

    teams = tmp_path / "teams.csv"
    pd.DataFrame({"team": ["East", "East", "North", "Mid"], "rep_id": ["A1", "A2", "C1", "Z9"]}).to_csv(teams, index=False)
    assert f"{teams}: row 5, column 'rep_id': unknown rep 'Z9'" in err(["--by", "team", "--teams", str(teams)])
    pd.DataFrame({"team": ["East", "North", "Mid", "South"], "rep_id": ["A1", "C1", "B1", None]}).to_csv(teams, index=False)
    assert f"{teams}: team 'South' (row 5) has no members" in err(["--by", "team", "--teams", str(teams)])
    # the teams file is the list of teams: Mid (reps.csv rows 4, 5) is not in it
    pd.DataFrame({"team": ["East", "North"], "rep_id": ["A1", "C1"]}).to_csv(teams, index=False)
    assert f"B1 ({reps} row 4): unknown team 'Mid'" in err(["--by", "team", "--teams", str(teams)])
    # workspace reps have no team column
    ws_base = ["assign", "territories", "--database", url, "--alignment", str(al), "--units", "account",
               "--out", str(tmp_path / "e.csv")]
    r = runner.invoke(app, ws_base + ["--by", "team"])
    assert r.exit_code == 2 and "the reps have no team" in r.output
    # ... a teams file gives them one; a team of only the manager (not in the pool) has no members
    pd.DataFrame({"team": ["East", "Mid", "North", "Bosses"], "rep_id": ["A", "B", "C", "M"]}).to_csv(teams, index=False)
    r = runner.invoke(app, ws_base + ["--by", "team", "--teams", str(teams)])
    msg = " ".join(r.output.split())
    assert r.exit_code == 2 and "team 'Bosses' (row 5) has no members: its reps M are not in the rep pool" in msg
    pd.DataFrame({"team": ["East", "Mid"], "rep_id": ["A", "B"]}).to_csv(teams, index=False)
    r = runner.invoke(app, ws_base + ["--by", "team", "--teams", str(teams)])
    assert r.exit_code == 2 and "reps without a team: C" in " ".join(r.output.split())
    assert not (tmp_path / "e.csv").exists()                       # failed jobs wrote nothing
