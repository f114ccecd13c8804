"""Exports of territories staffed by several reps: head counts (`assign territories --slots`)
and predefined teams (`--by team`) on the small demo (county units, one territory per
state), through Salesforce ETM, HubSpot, the generic CSV, the maps and the workbook."""
import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from territorium.commands import export as export_cmd
from territorium.plan import exporting as ex

TWO = ("S_NY", "S_PA")          # head count 2; the other seven states 1


@pytest.fixture(scope="module")
def staffed(rules_demo, tmp_path_factory):
    """The assign service's real output files: a head-count assignment (2, 2, 1 x 7) and a
    team assignment (9 teams of the 40 account executives, 5 or 4 members each)."""
    from territorium.plan.assigning import TerritoryJob, run_assign_territories, write_territory_outputs
    from territorium.plan.workspace import Workspace

    d = tmp_path_factory.mktemp("multirep")
    ws = Workspace(rules_demo["url"])
    load = rules_demo["load"]
    slots = d / "slots.csv"
    pd.DataFrame({"territory": list(TWO), "slots": [2, 2]}).to_csv(slots, index=False)
    hc = run_assign_territories(TerritoryJob(alignment=rules_demo["alignment"], level="county", slots=str(slots)),
                                ws, load=load)
    hc_files = write_territory_outputs(hc, d / "hc.csv")
    reps = ws.table("reps")
    ae = sorted(reps.loc[~reps["title"].str.contains("Manager"), "rep_id"].astype(str))
    assert len(ae) == 40
    sizes, rows, k = [5, 5, 5, 5, 4, 4, 4, 4, 4], [], 0
    for i, s in enumerate(sizes):
        rows += [(f"Team{i + 1}", r) for r in ae[k:k + s]]
        k += s
    teams = pd.DataFrame(rows, columns=["team", "rep_id"])
    teams.to_csv(d / "teams.csv", index=False)
    tm = run_assign_territories(TerritoryJob(alignment=rules_demo["alignment"], level="county", by="team",
                                             teams=d / "teams.csv"), ws, load=load)
    tm_files = write_territory_outputs(tm, d / "team.csv")
    return {"ws": ws, "load": load, "dir": d, "hc": hc_files, "team": tm_files, "teams": teams,
            "reps": reps.assign(rep_id=reps["rep_id"].astype(str))}


def _plan(rules_demo, staffed, *files):
    return ex.build_plan(staffed["ws"], alignment=rules_demo["alignment"], assignment=list(files),
                         hierarchy="state", level="county", load=staffed["load"])


def _leaf_users(sf_dir) -> pd.DataFrame:
    back = ex.read_salesforce(sf_dir)
    leaves = set(back["territories"].loc[back["territories"]["leaf"], "territory_id"])
    u = back["users"]
    return u[u["territory_id"].isin(leaves)]


def test_head_counts_to_salesforce_hubspot_and_cli(rules_demo, staffed, tmp_path):
    main = pd.read_csv(staffed["hc"]["main"], dtype=str)
    # the assignment itself: two reps for NY and PA, one elsewhere (11 rows for 9 territories)
    assert main.groupby("territory_id").size().to_dict() == {t: 2 if t in TWO else 1 for t in main["territory_id"]}
    owner_want = dict(main.loc[main["slot"] == "1", ["territory_id", "rep_id"]].values)
    want = {(t, r, "Owner" if s == "1" else "Sales Rep") for t, r, s in main[["territory_id", "rep_id", "slot"]].values}

    # the territory file alone: every rep associated, slot 1 the Owner, the accounts with the primary
    plan = _plan(rules_demo, staffed, staffed["hc"]["main"])
    ex.export(plan, "salesforce", tmp_path / "sf")
    users = _leaf_users(tmp_path / "sf")
    assert len(users) == 11
    assert set(map(tuple, users[["territory_id", "user_id", "role"]].values)) == want
    assert (users["role"] == "Owner").groupby(users["territory_id"]).sum().eq(1).all()
    (hs,) = ex.export(plan, "hubspot", tmp_path / "hs.csv")
    hub = pd.read_csv(hs, dtype=str, keep_default_na=False)
    email = dict(zip(staffed["reps"]["rep_id"], staffed["reps"]["email"]))
    for t in TWO:
        assert set(hub.loc[hub["Territory"] == t, "Company owner"]) == {email[owner_want[t]]}
    assert any("go to the primary rep" in n for n in plan.notes)

    # + the accounts file (through the CLI, --assignment twice): the accounts are split as assign split them
    app = typer.Typer()
    app.callback()(lambda: None)
    export_cmd.register(app)
    r = CliRunner().invoke(app, ["export", "--database", rules_demo["url"], "--units", "county",
                                 "--alignment", str(rules_demo["alignment"]),
                                 "--assignment", str(staffed["hc"]["main"]),
                                 "--assignment", str(staffed["hc"]["accounts"]), "--format", "salesforce",
                                 "--format", "hubspot", "--out", str(tmp_path / "both"), "--json"])
    assert r.exit_code == 0, r.output
    users = _leaf_users(tmp_path / "both" / "salesforce")
    assert set(map(tuple, users[["territory_id", "user_id", "role"]].values)) == want
    hub = pd.read_csv(json.loads(r.stdout)["files"]["hubspot"][0], dtype=str, keep_default_na=False)
    acc = pd.read_csv(staffed["hc"]["accounts"], dtype=str, keep_default_na=False)
    # Salesforce accounts: keyed by company domain (from the contacts' e-mail), one per account here
    domain = ex.account_domains(staffed["ws"].table("accounts"), staffed["ws"].table("contacts"))
    dom_of = dict(zip(staffed["ws"].table("accounts")["account_id"].astype(str), domain))
    got = hub.set_index("Company Domain Name")["Company owner"]
    assert got.reindex(acc["account_id"].map(dom_of)).tolist() == acc["new_owner"].map(email).tolist()
    for t in TWO:   # both heads of a shared territory own some of its accounts
        planned = acc.loc[(acc["territory"] == t) & (acc["reason_code"] != "protected"), "new_owner"]
        assert set(planned) == set(main.loc[main["territory_id"] == t, "rep_id"])


def test_team_assignment_every_member_in_salesforce(rules_demo, staffed, tmp_path):
    main = pd.read_csv(staffed["team"]["main"], dtype=str)
    team_of = dict(main[["territory_id", "team_id"]].values)
    members = staffed["teams"].groupby("team")["rep_id"].apply(set).to_dict()     # the planted teams
    plan = _plan(rules_demo, staffed, staffed["team"]["main"], staffed["team"]["accounts"])
    ex.export(plan, "salesforce", tmp_path / "sf")
    users = _leaf_users(tmp_path / "sf")
    for t, g in users.groupby("territory_id"):
        assert set(g["user_id"]) == members[team_of[t]], t
        first = main.loc[main["territory_id"] == t, "members"].iloc[0].split(";")[0]
        assert g.loc[g["role"] == "Owner", "user_id"].tolist() == [first], t
        assert (g["role"] == "Sales Rep").sum() == len(members[team_of[t]]) - 1
    assert len(users) == 40 and users["user_id"].is_unique
    # the generic CSV names the team and its reps beside each account's own rep
    (path, _) = ex.export(plan, "csv", tmp_path / "plan.csv")
    gen = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert (gen["team_id"] == gen["territory_id"].map(team_of)).all()
    assert all(set(r.split(";")) == members[team_of[t]] for t, r in zip(gen["territory_id"], gen["reps"]))


def test_generic_csv_round_trip(rules_demo, staffed, tmp_path):
    from territorium.data import read_file

    plan = _plan(rules_demo, staffed, staffed["hc"]["main"], staffed["hc"]["accounts"])
    acc_path, units_path = ex.export(plan, "csv", tmp_path / "plan.csv")
    gen = pd.read_csv(acc_path, dtype=str, keep_default_na=False)
    assert gen.columns.get_loc("reps") == gen.columns.get_loc("rep_email") + 1
    units = pd.read_csv(units_path, dtype=str, keep_default_na=False)
    assert units.columns.tolist()[-2:] == ["rep_id", "reps"]
    want_reps = {t: tuple(r) for t, r in plan.territory_reps().items()}
    assert {t: len(r) for t, r in want_reps.items() if len(r) > 1} == {t: 2 for t in TWO}
    # the project's accounts reader: the owner is each account's own rep
    back = read_file(acc_path, "accounts", format="generic")
    assert back.ok, back.problems
    got = back.frames["accounts"].set_index("account_id")["owner_id"]
    owners = plan.accounts.set_index("account_id")["owner_id"]
    assert got.reindex(owners.index).fillna("").tolist() == owners.fillna("").tolist()
    # either file back as an assignment: the same reps per territory, primary first
    a = ex.read_assignment_file(acc_path)
    assert a.territory_reps == want_reps and a.account_rep == owners.dropna().to_dict()
    assert ex.read_assignment_file(units_path).territory_reps == want_reps
    # and a plan built from the exported file is the same plan
    again = _plan(rules_demo, staffed, acc_path)
    assert again.territory_reps() == plan.territory_reps()
    assert again.accounts["owner_id"].fillna("").tolist() == plan.accounts["owner_id"].fillna("").tolist()


def test_maps_and_workbook_list_every_rep(rules_demo, staffed, tmp_path):
    import geopandas as gpd

    plan = _plan(rules_demo, staffed, staffed["hc"]["main"])
    main = pd.read_csv(staffed["hc"]["main"], dtype=str).sort_values(["territory_id", "slot"])
    want = main.groupby("territory_id", sort=False)["rep_id"].agg(";".join).to_dict()
    (gj,) = ex.export(plan, "geojson", tmp_path)
    g = gpd.read_file(gj)
    assert dict(zip(g["territory_id"], g["reps"])) == want
    (k,) = ex.write_kml(plan, tmp_path / "t.kml", engine="etree")
    ns = "{http://www.opengis.net/kml/2.2}"
    kml = {pm.findtext(f"{ns}name"): {d.get("name"): d.findtext(f"{ns}value") for d in pm.iter(f"{ns}Data")}
           for pm in ET.parse(k).getroot().iter(f"{ns}Placemark")}
    assert {t: v["reps"] for t, v in kml.items()} == want
    (xl,) = ex.export(plan, "excel", tmp_path)
    summ = pd.read_excel(xl, sheet_name="Summary", dtype=str)
    assert dict(zip(summ["territory_id"], summ["reps"])) == want
    name = dict(zip(staffed["reps"]["rep_id"], staffed["reps"]["name"]))
    assert dict(zip(summ["territory_id"], summ["rep_names"])) == \
        {t: ";".join(name[r] for r in v.split(";")) for t, v in want.items()}


def test_conflicts_name_file_and_row(rules_demo, staffed, tmp_path):
    f = tmp_path / "acc.csv"
    f.write_text("account_id,territory,rep_id\nA1,S_NY,R1\nA2,S_NY,R2\nA1,S_NY,R3\n")
    with pytest.raises(ex.ExportError, match=r"acc.csv: row 4: account 'A1' has two reps \(R1 in row 2, R3\)"):
        ex.read_assignment_file(f)
    f.write_text("territory_id,rep_id,slot\nS_NY,R1,1\nS_NY,R2,2\nS_NY,R1,3\n")
    with pytest.raises(ex.ExportError, match=r"row 4: rep R1 is listed twice for territory 'S_NY' \(slot 1 in row 2"):
        ex.read_assignment_file(f)
    f.write_text("territory_id,team_id,members,slot\nS_NY,East,R1;R2,1\nS_NY,West,R3,1\n")
    with pytest.raises(ex.ExportError, match=r"row 3: territory 'S_NY' has two assignees for slot 1 \(East in row 2"):
        ex.read_assignment_file(f)
    # the same row twice is no conflict; slots order the reps whatever the row order
    f.write_text("territory_id,rep_id,slot\nS_NY,R2,2\nS_NY,R1,1\nS_NY,R2,2\nS_PA,R3,1\n")
    a = ex.read_assignment_file(f)
    assert a.territory_reps == {"S_NY": ("R1", "R2"), "S_PA": ("R3",)} and a.territory_rep["S_NY"] == "R1"
    # an account of the real accounts file given another rep by a second file
    acc = pd.read_csv(staffed["hc"]["accounts"], dtype=str, keep_default_na=False)
    a0, r0 = acc.loc[0, ["account_id", "new_owner"]]
    other = next(r for r in staffed["reps"]["rep_id"] if r != r0)
    g = tmp_path / "override.csv"
    pd.DataFrame({"account_id": [a0], "rep_id": [other]}).to_csv(g, index=False)
    msg = rf"override.csv: account '{a0}' has rep {other} but .*_accounts.csv gives {r0}"
    with pytest.raises(ex.ExportError, match=msg):
        _plan(rules_demo, staffed, staffed["hc"]["main"], staffed["hc"]["accounts"], g)
    # a team member who is not an imported user
    bad = tmp_path / "team_bad.csv"
    pd.DataFrame({"territory_id": ["S_NY"], "team_id": ["East"],
                  "members": ["nobody;" + other]}).to_csv(bad, index=False)
    with pytest.raises(ex.ExportError, match="unknown rep.*nobody"):
        _plan(rules_demo, staffed, bad)
