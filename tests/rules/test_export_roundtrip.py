"""Export → re-import gives the same plan: generic CSV and HubSpot through the project's
readers, Salesforce ETM through read_salesforce; maps and the Excel workbook read back."""
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from territorium.hierarchy import Hierarchy
from territorium.plan import exporting as ex

TERR = pd.DataFrame({
    "territory_id": ["T1", "T2", "T3", "T4"],
    "name": ["Summary", "North/East: [Metro]*?", "A very long territory name beyond Excel's limit",
             "a very long territory name beyond excel's limit, too"],
    "rep_id": ["0058d00000000001AA", "0058d00000000002AA", "0058d00000000003AA", None],
})
REPS = pd.DataFrame({"rep_id": ["0058d00000000001AA", "0058d00000000002AA", "0058d00000000003AA", "0058d00000000004AA"],
                     "name": ["Ann Lee", "Bo Chen", "Cy Diaz", "Di Eve"],
                     "email": ["ann@x.com", "bo@x.com", "cy@x.com", "di@x.com"],
                     "title": ["AE"] * 4})


@pytest.fixture(scope="module")
def plan():
    from shapely.geometry import box

    # 4 x 3 grid of square "ZIP" units; territories are column pairs / rows
    ids, geoms, terr = [], [], []
    for j in range(3):
        for i in range(4):
            ids.append(f"{10001 + j * 4 + i:05d}")
            geoms.append(box(-74 + i * 0.1, 40 + j * 0.1, -74 + (i + 1) * 0.1, 40 + (j + 1) * 0.1))
            terr.append("T1" if j == 0 and i < 2 else "T2" if j == 0 else "T3" if j == 1 else "T4")
    units = pd.DataFrame({"unit_id": ids, "name": [f"zip {z}" for z in ids], "territory": terr})
    rng = np.random.default_rng(8)
    n = 40
    ut = rng.integers(0, len(ids), n)
    acc = pd.DataFrame({
        "account_id": [f"0018d{i:013d}" for i in range(n)],
        "name": [f"Account {i}" for i in range(n)],
        "city": "Town", "state": None, "zip": None,
        "territory_id": np.asarray(terr, dtype=object)[ut],
    })
    rep_of = dict(zip(TERR["territory_id"], TERR["rep_id"]))
    acc["owner_id"] = acc["territory_id"].map(rep_of)
    acc.loc[[3, 7], "owner_id"] = "0058d00000000004AA"      # account-level assignments override
    acc["previous_owner_id"] = "0058d00000000001AA"
    acc["potential"] = rng.gamma(2, 1000, n)
    h = Hierarchy.from_levels(pd.DataFrame({"territory": ["T1", "T2", "T3", "T4"],
                                            "area": ["North", "North", "South", "South"],
                                            "region": ["All", "All", "All", "All"]}),
                              ["territory", "area", "region"], managers={"North": "0058d00000000004AA"})
    tt = TERR.copy()
    tt["area"] = ["North", "North", "South", "South"]
    tt["region"] = "All"
    tt["account_count"] = tt["territory_id"].map(acc["territory_id"].value_counts()).fillna(0)
    import geopandas as gpd

    return ex.ExportPlan(units=units, territories=tt, accounts=acc, reps=REPS.copy(), hierarchy=h,
                         geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), level="zip", model_name="FY27 Plan")


def test_generic_csv_round_trip_through_the_readers(plan, tmp_path):
    from territorium.data import read_file

    acc_path, units_path = ex.export(plan, "csv", tmp_path / "plan.csv")
    back = read_file(acc_path, "accounts", format="generic")
    assert back.ok, back.problems
    got = back.frames["accounts"].set_index("account_id")["owner_id"]
    want = plan.accounts.set_index("account_id")["owner_id"]
    assert got.reindex(want.index).fillna("").tolist() == want.fillna("").tolist()
    al = read_file(units_path, "alignment")
    assert al.ok, al.problems
    a = al.frames["alignment"].set_index("unit_id")["territory_id"]
    assert a.to_dict() == dict(zip(plan.units["unit_id"], plan.units["territory"]))
    # one row per unit before the import groups them: every row of a territory must agree
    t = al.frames["territories"]
    assert (t.groupby("territory_id")[["name", "rep_id"]].nunique(dropna=False) == 1).all().all()
    terr = t.drop_duplicates("territory_id").set_index("territory_id")
    assert terr["rep_id"].fillna("").to_dict() == dict(zip(TERR["territory_id"], TERR["rep_id"].fillna("")))
    assert terr.loc["T2", "name"] == "North/East: [Metro]*?"
    # the accounts file says territory and rep in words too
    df = pd.read_csv(acc_path, dtype=str)
    assert {"territory_id", "territory_name", "owner_id", "rep_name", "rep_email", "area", "region"} <= set(df.columns)


def test_hubspot_round_trip_by_record_id(plan, tmp_path):
    """Accounts that came from HubSpot: keyed by Record ID, read back by the HubSpot reader."""
    from dataclasses import replace

    from territorium.data import read_file

    hp = replace(plan, account_source="hubspot", notes=[])
    (path,) = ex.export(hp, "hubspot", tmp_path)
    assert pd.read_csv(path, nrows=0).columns.tolist() == ["Record ID", "Company name", "Company owner", "Territory"]
    assert any("keyed by Record ID" in n for n in hp.notes)
    back = read_file(path, "accounts", format="hubspot")
    assert back.ok, back.problems
    email_to_rep = dict(zip(REPS["email"], REPS["rep_id"]))
    got = back.frames["accounts"].set_index("account_id")["owner_id"].map(email_to_rep)
    want = plan.accounts.set_index("account_id")["owner_id"]
    assert got.reindex(want.index).fillna("").tolist() == want.fillna("").tolist()


def test_hubspot_by_company_domain_for_accounts_from_elsewhere(plan, tmp_path):
    """Salesforce accounts: their ids match no HubSpot company, so the file is keyed by the
    company domain (HubSpot's dedup key); accounts without one are listed apart."""
    from dataclasses import replace

    from territorium.data.io import read_raw

    acc = plan.accounts.copy()
    acc["domain"] = [f"acct{i}.example.com" if i % 5 else None for i in range(len(acc))]
    sp = replace(plan, accounts=acc, account_source="salesforce", notes=[])
    path, rest = ex.export(sp, "hubspot", tmp_path / "hs.csv")
    raw = read_raw(path).frame
    assert raw.columns.tolist() == ["Company Domain Name", "Company name", "Company owner", "Territory"]
    assert "0018d" not in " ".join(raw.to_numpy().ravel())        # no Salesforce id in the HubSpot file
    back = dict(zip(raw["Company Domain Name"], raw["Company owner"]))
    email = dict(zip(REPS["rep_id"], REPS["email"]))
    want = {d: email.get(o, "") for d, o in zip(acc["domain"], acc["owner_id"].fillna("")) if isinstance(d, str)}
    assert back == want
    left = read_raw(rest).frame
    assert sorted(left["account_id"]) == sorted(acc.loc[acc["domain"].isna(), "account_id"])
    assert any("keyed by Company Domain Name" in n and "32 of 40" in n for n in sp.notes)
    assert ex.account_domains(pd.DataFrame({"account_id": ["a", "b", "c"], "website": ["https://www.A.com/x", None, ""]}),
                              pd.DataFrame({"account_id": ["b", "b", "b", "c"],
                                            "email": ["x@gmail.com", "y@b.io", "z@gmail.com", "q@yahoo.com"]})
                              ).tolist() == ["a.com", "b.io", None]


def test_salesforce_round_trip(plan, tmp_path):
    files = ex.export(plan, "salesforce", tmp_path / "sf")
    names = {f.name for f in files}
    assert set(ex.SALESFORCE_FILES) <= names and "README.txt" in names
    # without Salesforce ids only the first two loads can be written
    assert not any(n[:2] in ("3_", "4_", "5_") for n in names)
    hdr = {f: pd.read_csv(tmp_path / "sf" / f, nrows=0).columns.tolist() for f in ex.SALESFORCE_FILES}
    assert hdr["2_Territory2Model.csv"] == ["DeveloperName", "Name", "Description"]
    assert hdr["1_Territory2Type.csv"] == ["DeveloperName", "MasterLabel", "Priority", "Description"]
    assert hdr["plan_ObjectTerritory2Association.csv"] == ["ObjectId", "Territory2DeveloperName"]
    assert hdr["plan_UserTerritory2Association.csv"] == ["UserId", "Territory2DeveloperName", "RoleInTerritory2"]
    t2 = pd.read_csv(tmp_path / "sf" / "plan_Territory2.csv", dtype=str, keep_default_na=False)
    dev = re.compile(r"^[A-Za-z](?!.*__)[A-Za-z0-9_]{0,79}(?<!_)$")
    assert all(dev.match(d) for d in t2["DeveloperName"]) and t2["DeveloperName"].str.lower().is_unique
    # parents come before their children (loadable top-down)
    seen = set()
    for d, p in zip(t2["DeveloperName"], t2["ParentDeveloperName"]):
        assert p == "" or p in seen
        seen.add(d)
    readme = (tmp_path / "sf" / "README.txt").read_text()
    assert "--ids-from" in readme and "3_Territory2_level1.csv" in readme
    back = ex.read_salesforce(tmp_path / "sf")
    assert back["model"] == "FY27_Plan"
    assert back["accounts"] == dict(zip(plan.accounts["account_id"], plan.accounts["territory_id"]))
    tb = back["territories"].set_index("territory_id")
    assert set(tb.index[tb["leaf"]]) == {"T1", "T2", "T3", "T4"}
    assert tb.loc["T2", "parent"] == "North" and tb.loc["North", "parent"] == "All" and tb.loc["All", "parent"] is None
    assert tb.loc["T2", "name"] == "North/East: [Metro]*?"
    users = back["users"]
    owners = users[users["territory_id"].isin(["T1", "T2", "T3", "T4"])].set_index("territory_id")["user_id"].to_dict()
    assert owners == {"T1": "0058d00000000001AA", "T2": "0058d00000000002AA", "T3": "0058d00000000003AA"}
    assert ("0058d00000000004AA", "North", "Owner") in set(map(tuple, users.values.tolist()))  # area manager


def test_excel_sheet_names_sanitized_unique_and_round_trip(plan, tmp_path):
    from openpyxl import load_workbook

    (path,) = ex.export(plan, "excel", tmp_path)
    wb = load_workbook(path, read_only=True)
    names = wb.sheetnames
    assert names[0] == "Summary" and len(names) == 5
    assert all(len(n) <= 31 and not re.search(r"[\[\]:*?/\\]", n) for n in names)
    assert len({n.casefold() for n in names}) == len(names)
    summ = pd.read_excel(path, sheet_name="Summary", dtype=str)
    by_sheet = dict(zip(summ["territory_id"], summ["sheet"]))
    assert by_sheet["T1"] != "Summary"                                   # the reserved name was renamed
    for t, sheet in by_sheet.items():
        got = pd.read_excel(path, sheet_name=sheet, dtype=str)
        want = plan.accounts.loc[plan.accounts["territory_id"] == t]
        assert sorted(got["account_id"]) == sorted(want["account_id"]), t
        assert got.set_index("account_id")["owner_id"].fillna("").to_dict() == \
            want.set_index("account_id")["owner_id"].fillna("").to_dict()
    assert ex.sheet_names(["a" * 40, "A" * 40, "x:y", "History", "'quoted'", "  "]) == \
        ["a" * 31, "A" * 27 + " (2)", "x y", "History (2)", "quoted", "Sheet"]


def test_geojson_and_gpkg_dissolve_units(plan, tmp_path):
    import geopandas as gpd

    (gj,) = ex.export(plan, "geojson", tmp_path)
    g = gpd.read_file(gj)
    assert sorted(g["territory_id"]) == ["T1", "T2", "T3", "T4"]
    areas = g.set_index("territory_id").geometry.to_crs("EPSG:5070").area / 1e6  # km²
    cell = gpd.GeoSeries(plan.geometry.iloc[:1]).to_crs("EPSG:5070").area.iloc[0] / 1e6
    assert areas.loc["T1"] == pytest.approx(2 * cell, rel=1e-3) and areas.loc["T3"] == pytest.approx(4 * cell, rel=1e-2)
    assert g.set_index("territory_id").loc["T2", "rep_email"] == "bo@x.com"
    (gp,) = ex.export(plan, "gpkg", tmp_path)
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(gp)}
    assert layers == {"territories", "units"}
    u = gpd.read_file(gp, layer="units")
    assert dict(zip(u["unit_id"], u["territory_id"])) == dict(zip(plan.units["unit_id"], plan.units["territory"]))
    assert not list(tmp_path.glob(".export-*"))  # scratch folders cleaned up


@pytest.mark.parametrize("engine", ["etree", "gdal"])
def test_kml_both_writers(plan, tmp_path, engine):
    if engine == "gdal" and not ex.kml_driver_available():
        pytest.skip("GDAL KML driver not available")
    (k,) = ex.write_kml(plan, tmp_path / f"t_{engine}.kml", engine=engine)
    root = ET.parse(k).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    names = sorted(p.findtext("k:name", namespaces=ns) for p in root.iter("{http://www.opengis.net/kml/2.2}Placemark"))
    assert names == ["T1", "T2", "T3", "T4"]
    polys = list(root.iter("{http://www.opengis.net/kml/2.2}Polygon"))
    assert len(polys) == 4
    import geopandas as gpd

    back = gpd.read_file(k)   # and GDAL reads either file back
    assert len(back) == 4


def test_export_rejects_bad_inputs(tmp_path):
    bad = tmp_path / "al.csv"
    bad.write_text("unit_id,territory\n10001,T1\n10002,\n")
    with pytest.raises(ex.ExportError, match=r"al.csv: row 3, column 'territory': empty"):
        ex.read_alignment_file(bad)
    asg = tmp_path / "asg.csv"
    asg.write_text("territory,rep_id,slot\nT1,R1,1\nT1,R2,1\n")   # two rows per territory are a head count; one slot twice is not
    with pytest.raises(ex.ExportError, match=r"row 3: territory 'T1' has two assignees for slot 1 \(R1 in row 2, R2\)"):
        ex.read_assignment_file(asg)
    with pytest.raises(ex.ExportError, match="unknown format 'pdf'"):
        ex.export(None, "pdf", tmp_path)
    assert ex.developer_names(["T 1", "T_1", "t-1"]) == ["T_1", "T_1_2", "t_1_3"]


def test_assignment_files_of_assign_and_route(tmp_path):
    terr = tmp_path / "assignment.csv"
    terr.write_text("territory_id,rep_id,rep_name\nT1,R1,Ann\nT2,R2,Bo\n")
    a = ex.read_assignment_file(terr)
    assert a.territory_rep == {"T1": "R1", "T2": "R2"} and a.account_rep == {}
    acc = tmp_path / "assignment_accounts.csv"
    acc.write_text("account_id,territory,owner_id,planned_rep,new_owner\nA1,T1,OLD,R1,R1\nA2,T1,OLD,R1,R9\nA3,T2,OLD,R2,R2\n")
    b = ex.read_assignment_file(acc)
    assert b.account_rep == {"A1": "R1", "A2": "R9", "A3": "R2"}       # the new owner, not the old one
    assert b.territory_rep == {"T1": "R1", "T2": "R2"}                  # most of each territory's accounts


def test_hubspot_key_follows_where_the_accounts_came_from(tmp_path):
    """A workspace whose companies were imported from HubSpot exports Record IDs (the
    HubSpot ids it holds); the same companies imported as a generic file export domains."""
    from territorium.data import import_file, read_file
    from territorium.plan.workspace import Workspace

    (tmp_path / "companies.csv").write_text(
        "Record ID,Company name,Company Domain Name,State/Region,Postal Code,Company owner\n"
        "9001,Acme Salon,acme.com,NY,10001,ann@x.com\n9002,=Bolt Spa,bolt.io,NY,10002,bo@x.com\n"
        "9003,Cove Beauty,,NJ,07030,ann@x.com\n")
    (tmp_path / "reps.csv").write_text("rep_id,name,email\nann@x.com,Ann Lee,ann@x.com\nbo@x.com,Bo Chen,bo@x.com\n")
    (tmp_path / "states.csv").write_text("unit_id,territory\nNY,East\nNJ,West\n")
    (tmp_path / "asg.csv").write_text("territory,rep_id\nEast,bo@x.com\nWest,ann@x.com\n")
    url = f"sqlite:///{tmp_path / 'ws.db'}"
    assert import_file(tmp_path / "reps.csv", "reps", format="generic", url=url).ok
    assert import_file(tmp_path / "companies.csv", "accounts", format="hubspot", url=url).ok
    ws = Workspace(url)
    assert ex.accounts_source(ws) == "hubspot"
    plan = ex.build_plan(ws, alignment=tmp_path / "states.csv", assignment=tmp_path / "asg.csv",
                         hierarchy="none", level="state")
    (path,) = ex.export(plan, "hubspot", tmp_path / "hs.csv")
    back = read_file(path, "accounts", format="hubspot")
    assert back.ok, back.problems
    got = back.frames["accounts"].set_index("account_id")
    assert got["owner_id"].to_dict() == {"9001": "bo@x.com", "9002": "bo@x.com", "9003": "ann@x.com"}
    assert got.loc["9002", "name"] == "=Bolt Spa"
    assert any("keyed by Record ID" in n for n in plan.notes)
