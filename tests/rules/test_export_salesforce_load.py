"""The Salesforce export loads (issue 12): staged insert files whose every column is a
creatable field of the object reference, every required field filled, lookups by the ids of
records inserted before (DeveloperName lookups are not accepted by Data Loader), and a
``--ids-from`` step that reads Data Loader's success files.

No org can be reached from the tests, so :class:`StandIn` plays the part of Data Loader and
the org: it checks each file against the field lists below, taken from the Salesforce
Object Reference (Territory2Type, Territory2Model, Territory2, UserTerritory2Association,
ObjectTerritory2Association: fields with the *Create* property, and of those the ones
neither nillable nor defaulted on create), checks picklist values and that every id refers
to a record of the right object inserted before, and writes success files as Data Loader
does (``ID`` first, the input columns, ``STATUS`` last, named ``success<timestamp>.csv``)."""
import csv
import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from territorium.hierarchy import Hierarchy
from territorium.plan import exporting as ex

CREATABLE = {
    "Territory2Type": {"DeveloperName", "MasterLabel", "Priority", "Description", "Language"},
    "Territory2Model": {"DeveloperName", "Name", "Description"},
    "Territory2": {"DeveloperName", "Name", "Territory2ModelId", "Territory2TypeId", "ParentTerritory2Id",
                   "AccountAccessLevel", "OpportunityAccessLevel", "CaseAccessLevel", "Description"},
    "UserTerritory2Association": {"UserId", "Territory2Id", "RoleInTerritory2"},
    "ObjectTerritory2Association": {"ObjectId", "Territory2Id", "AssociationCause"},
}
REQUIRED = {
    "Territory2Type": {"DeveloperName", "MasterLabel", "Priority"},
    "Territory2Model": {"DeveloperName", "Name"},
    "Territory2": {"DeveloperName", "Name", "Territory2ModelId", "Territory2TypeId", "AccountAccessLevel",
                   "OpportunityAccessLevel", "CaseAccessLevel"},
    "UserTerritory2Association": {"UserId", "Territory2Id"},
    "ObjectTerritory2Association": {"ObjectId", "Territory2Id", "AssociationCause"},
}
PICKLISTS = {"AccountAccessLevel": {"Read", "Edit", "All"}, "OpportunityAccessLevel": {"None", "Read", "Edit"},
             "CaseAccessLevel": {"None", "Read", "Edit"}, "RoleInTerritory2": {"Owner", "Administrator", "Sales Rep", ""},
             "AssociationCause": {"Territory2Manual"}}
PREFIX = {"Territory2Type": "0M5", "Territory2Model": "0MA", "Territory2": "0MI",
          "UserTerritory2Association": "0R0", "ObjectTerritory2Association": "0R0"}
REFS = {"Territory2ModelId": "Territory2Model", "Territory2TypeId": "Territory2Type",
        "ParentTerritory2Id": "Territory2", "Territory2Id": "Territory2"}


class StandIn:
    """Data Loader + org: inserts checked files and writes Data Loader success files."""

    def __init__(self, ids_dir: Path):
        self.ids_dir = ids_dir
        ids_dir.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict[str, dict]] = {o: {} for o in CREATABLE}
        self.counter = itertools.count(1)

    def insert(self, obj: str, path: Path) -> None:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
            header = list(rows[0]) if rows else []
        assert set(header) <= CREATABLE[obj], f"{path.name}: not creatable: {set(header) - CREATABLE[obj]}"
        assert REQUIRED[obj] <= set(header), f"{path.name}: missing required {REQUIRED[obj] - set(header)}"
        out = []
        for i, r in enumerate(rows):
            for f in REQUIRED[obj]:
                assert r[f] != "", f"{path.name} row {i + 2}: {f} empty"
            for f, allowed in PICKLISTS.items():
                if f in r:
                    assert r[f] in allowed, f"{path.name} row {i + 2}: {f} {r[f]!r}"
            for f, target in REFS.items():
                if r.get(f):
                    assert r[f] in self.records[target], f"{path.name} row {i + 2}: {f} {r[f]} is no {target}"
            if "DeveloperName" in r:
                scope = r.get("Territory2ModelId", "")
                taken = {(x.get("Territory2ModelId", ""), x["DeveloperName"].lower())
                         for x in self.records[obj].values()}
                assert (scope, r["DeveloperName"].lower()) not in taken, f"duplicate {r['DeveloperName']}"
            sid = f"{PREFIX[obj]}{next(self.counter):012d}AAA"
            self.records[obj][sid] = dict(r)
            out.append({"ID": sid, **r, "STATUS": "Item Created"})
        name = self.ids_dir / f"success{120520260000000 + next(self.counter)}.csv"
        with open(name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=["ID"] + header + ["STATUS"], quoting=csv.QUOTE_ALL)
            w.writeheader()
            w.writerows(out)


@pytest.fixture(scope="module")
def plan():
    ids, geoms, terr = [], [], []
    for j in range(2):
        for i in range(2):
            ids.append(f"{10001 + j * 2 + i:05d}")
            geoms.append(box(-74 + i * 0.1, 40 + j * 0.1, -74 + (i + 1) * 0.1, 40 + (j + 1) * 0.1))
            terr.append(f"T{j * 2 + i + 1}")
    units = pd.DataFrame({"unit_id": ids, "name": ids, "territory": terr})
    n = 30
    rng = np.random.default_rng(3)
    acc = pd.DataFrame({"account_id": [f"0018d{i:013d}" for i in range(n)], "name": [f"A{i}" for i in range(n)],
                        "territory_id": np.asarray(terr, dtype=object)[rng.integers(0, 4, n)]})
    reps = pd.DataFrame({"rep_id": [f"0058d0000000000{k}AA" for k in range(1, 7)],
                         "name": list("ABCDEF"), "email": [f"{c}@x.com" for c in "abcdef"], "title": ["AE"] * 6})
    tt = pd.DataFrame({"territory_id": terr, "name": ["Manhattan", "Brooklyn", "=Queens", "Bronx"],
                       "rep_id": reps["rep_id"][:4].tolist()})
    tt["reps"] = [f"{r};0058d00000000005AA" if t == "T1" else r for t, r in zip(tt["territory_id"], tt["rep_id"])]
    acc["owner_id"] = acc["territory_id"].map(dict(zip(tt["territory_id"], tt["rep_id"])))
    h = Hierarchy.from_levels(pd.DataFrame({"territory": terr, "area": ["North", "North", "South", "South"],
                                            "region": ["All"] * 4}),
                              ["territory", "area", "region"], managers={"North": "0058d00000000006AA"})
    return ex.ExportPlan(units=units, territories=tt, accounts=acc, reps=reps, hierarchy=h,
                         geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), model_name="FY27 Plan")


def _staged(files):
    return sorted(f.name for f in files if f.name[:2] in ("3_", "4_", "5_"))


def test_staged_load_with_success_files_gives_back_the_plan(plan, tmp_path):
    out, org = tmp_path / "sf", StandIn(tmp_path / "ids")
    files = ex.export(plan, "salesforce", out)
    assert _staged(files) == []
    org.insert("Territory2Type", out / "1_Territory2Type.csv")
    org.insert("Territory2Model", out / "2_Territory2Model.csv")
    seen = []
    for _ in range(3):                               # region, area, territory: one level per run
        files = ex.export(plan, "salesforce", out, ids_from=tmp_path / "ids")
        new = [n for n in _staged(files) if n.startswith("3_") and n not in seen]
        assert len(new) == 1 and not (out / "4_UserTerritory2Association.csv").exists()
        org.insert("Territory2", out / new[0])
        seen.append(new[0])
    assert seen == ["3_Territory2_level1.csv", "3_Territory2_level2.csv", "3_Territory2_level3.csv"]
    files = ex.export(plan, "salesforce", out, ids_from=tmp_path / "ids")
    assert _staged(files) == seen + ["4_UserTerritory2Association.csv", "5_ObjectTerritory2Association.csv"]
    org.insert("UserTerritory2Association", out / "4_UserTerritory2Association.csv")
    org.insert("ObjectTerritory2Association", out / "5_ObjectTerritory2Association.csv")
    # what the org holds is the plan
    t2 = org.records["Territory2"]
    tid = {sid: r["Description"].removeprefix("Territorium id: ") for sid, r in t2.items()}
    parent = {tid[sid]: tid.get(r["ParentTerritory2Id"]) for sid, r in t2.items()}
    assert parent == {"All": None, "North": "All", "South": "All", "T1": "North", "T2": "North",
                      "T3": "South", "T4": "South"}
    model = next(iter(org.records["Territory2Model"]))
    assert {r["Territory2ModelId"] for r in t2.values()} == {model}
    types = {sid: r["DeveloperName"] for sid, r in org.records["Territory2Type"].items()}
    assert {tid[s]: types[r["Territory2TypeId"]] for s, r in t2.items() if tid[s].startswith("T")} == \
        {t: "Territory" for t in ("T1", "T2", "T3", "T4")}
    assert {r["Name"] for s, r in t2.items() if tid[s] == "T3"} == {"'=Queens"}   # spreadsheet-safe, see notes
    got = {r["ObjectId"]: tid[r["Territory2Id"]] for r in org.records["ObjectTerritory2Association"].values()}
    assert got == dict(zip(plan.accounts["account_id"], plan.accounts["territory_id"]))
    users = {(r["UserId"], tid[r["Territory2Id"]], r["RoleInTerritory2"])
             for r in org.records["UserTerritory2Association"].values()}
    want = {(r, t, "Owner") for t, r in zip(plan.territories["territory_id"], plan.territories["rep_id"])}
    want |= {("0058d00000000005AA", "T1", "Sales Rep"), ("0058d00000000006AA", "North", "Owner")}
    assert users == want
    assert any("load 4_UserTerritory2Association.csv" in n for n in plan.notes)


def test_ids_from_rejects_bad_files_with_file_row_and_column(plan, tmp_path):
    ids = tmp_path / "ids"
    ids.mkdir()
    (ids / "success1.csv").write_text('"ID","DeveloperName","MasterLabel","Priority","Description","STATUS"\n'
                                      '"0M5XYZ","Territory","Territory","10","","Item Created"\n')
    with pytest.raises(ex.ExportError, match=r"success1.csv: row 2, column 'ID': '0M5XYZ' is not a Salesforce id"):
        ex.export(plan, "salesforce", tmp_path / "sf", ids_from=ids)
    (ids / "success1.csv").write_text('"ID","DeveloperName","MasterLabel","Priority","Description","STATUS"\n'
                                      '"0M5000000000001AAA","Territory","Territory","10","","Item Created"\n')
    (ids / "success2.csv").write_text('"ID","DeveloperName","MasterLabel","Priority","Description","STATUS"\n'
                                      '"0M5000000000002AAA","Territory","Territory","10","","Item Created"\n')
    with pytest.raises(ex.ExportError, match=r"success2.csv: row 2: Territory has id 0M5000000000002AAA here but "
                                             r"0M5000000000001AAA in success1.csv row 2"):
        ex.export(plan, "salesforce", tmp_path / "sf", ids_from=ids)
    (ids / "success2.csv").unlink()
    (ids / "ids.csv").write_text("Id,DeveloperName\n0MA000000000009AAA,FY27_Plan\n")
    with pytest.raises(ex.ExportError, match=r"ids.csv: cannot tell whether it holds Territory2Type, Territory2Model"):
        ex.export(plan, "salesforce", tmp_path / "sf", ids_from=ids)
    (ids / "ids.csv").rename(ids / "Territory2Model_ids.csv")       # a query export named by its object
    (ids / "error1.csv").write_text('"DeveloperName","MasterLabel","Priority","Description","ERROR"\n'
                                    '"Territory_Group","Territory group","20","","DUPLICATE_DEVELOPER_NAME"\n')
    ex.export(plan, "salesforce", tmp_path / "sf", ids_from=ids)
    assert not (tmp_path / "sf" / "3_Territory2_level1.csv").exists()     # the group type has no id yet
    assert any("error1.csv: 1 row failed (first: DUPLICATE_DEVELOPER_NAME)" in n for n in plan.notes)
    # Bulk API 2.0 results: sf__Id / sf__Created before the input columns, sf__Error for failures
    (ids / "error1.csv").unlink()
    (ids / "bulk_success.csv").write_text('"sf__Id","sf__Created","DeveloperName","MasterLabel","Priority","Description"\n'
                                          '"0M5000000000003AAA","true","Territory_Group","Territory group","20",""\n')
    (ids / "bulk_failed.csv").write_text('"sf__Id","sf__Error","DeveloperName","MasterLabel","Priority","Description"\n')
    ex.export(plan, "salesforce", tmp_path / "sf", ids_from=ids)
    t2 = pd.read_csv(tmp_path / "sf" / "3_Territory2_level1.csv", dtype=str, keep_default_na=False)
    assert t2[["Territory2ModelId", "Territory2TypeId"]].values.tolist() == [["0MA000000000009AAA", "0M5000000000003AAA"]]
    with pytest.raises(ex.ExportError, match=r"--ids-from .*nowhere: not a folder"):
        ex.export(plan, "salesforce", tmp_path / "sf", ids_from=tmp_path / "nowhere")


def test_access_levels_are_checked_against_the_picklists():
    assert ex.salesforce_access("all, none, edit") == {"AccountAccessLevel": "All", "OpportunityAccessLevel": "None",
                                                       "CaseAccessLevel": "Edit"}
    with pytest.raises(ex.ExportError, match=r"AccountAccessLevel 'None' is not one of Read, Edit, All"):
        ex.salesforce_access("None,Read,Read")
    with pytest.raises(ex.ExportError, match="give three values"):
        ex.salesforce_access("Edit")


def test_cli_ids_from_writes_the_next_load(rules_demo, tmp_path):
    import json

    from typer.testing import CliRunner

    from _cli import command_app
    from territorium.commands import export as export_cmd

    app = command_app(export_cmd)
    base = ["export", "--database", rules_demo["url"], "--units", "county", "--alignment", str(rules_demo["alignment"]),
            "--format", "salesforce", "--hierarchy", "none", "--out", str(tmp_path / "sf"), "--json"]
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 0, r.output
    assert _staged(Path(p) for p in json.loads(r.stdout)["files"]["salesforce"]) == []
    org = StandIn(tmp_path / "ids")
    org.insert("Territory2Type", tmp_path / "sf" / "1_Territory2Type.csv")
    org.insert("Territory2Model", tmp_path / "sf" / "2_Territory2Model.csv")
    r = CliRunner().invoke(app, base + ["--ids-from", str(tmp_path / "ids")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert _staged(Path(p) for p in out["files"]["salesforce"]) == ["3_Territory2_level1.csv"]
    assert any("load 3_Territory2_level1.csv into Territory2 next" in n for n in out["notes"])
    org.insert("Territory2", tmp_path / "sf" / "3_Territory2_level1.csv")       # 9 state territories, flat
    r = CliRunner().invoke(app, base + ["--ids-from", str(tmp_path / "ids"), "--salesforce-access", "All,Read,None"])
    assert r.exit_code == 0, r.output
    ota = pd.read_csv(tmp_path / "sf" / "5_ObjectTerritory2Association.csv", dtype=str)
    assert ota["Territory2Id"].isin(set(org.records["Territory2"])).all() and len(ota) > 0
    t2 = pd.read_csv(tmp_path / "sf" / "3_Territory2_level1.csv", dtype=str, keep_default_na=False)
    assert set(t2["AccountAccessLevel"]) == {"All"} and set(t2["CaseAccessLevel"]) == {"None"}
    r = CliRunner().invoke(app, base + ["--salesforce-access", "None,Read,Read"])
    assert r.exit_code == 2 and "AccountAccessLevel 'None' is not one of Read, Edit, All" in " ".join(r.output.split())
