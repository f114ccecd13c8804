"""Exports are safe to open in a spreadsheet (issue 13): names that a spreadsheet would run
as formulas are neutralised in every CSV (a leading quote, as OWASP's CSV-injection
guidance says) and written as string cells in the workbook, numbers stay numbers, and
reading the files back gives the exact names again. Rep names holding ``|`` stay one rep
in the KML description."""
import csv
import re
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import pytest

from territorium.data.cells import RISKY_FIRST, neutralize, restore
from territorium.plan import exporting as ex

EVIL = '=HYPERLINK("http://evil.example","T")'
TERR_NAMES = [EVIL, "+1 Metro", "-North", "@South"]
ACC_NAMES = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTabbed", "\rReturned", "'=quoted already",
             "Joe's Bar", "Plain Co", "-5", "#REF!"]
REPS = pd.DataFrame({"rep_id": ["0058d00000000001AA", "0058d00000000002AA", "0058d00000000003AA", "0058d00000000004AA"],
                     "name": ["Ann | Lee", "=cmd|' /C calc'!A0", "Lee, Ann", "Di Eve"],
                     "email": ["ann@x.com", "bo@x.com", "cy@x.com", "di@x.com"], "title": ["AE"] * 4})


@pytest.fixture(scope="module")
def hostile():
    import geopandas as gpd
    from shapely.geometry import box

    ids, geoms, terr = [], [], []
    for j in range(2):
        for i in range(2):
            ids.append(f"{10001 + j * 2 + i:05d}")
            geoms.append(box(-74 + i * 0.1, 40 + j * 0.1, -74 + (i + 1) * 0.1, 40 + (j + 1) * 0.1))
            terr.append(f"T{j * 2 + i + 1}")
    units = pd.DataFrame({"unit_id": ids, "name": [f"zip {z}" for z in ids], "territory": terr})
    n = len(ACC_NAMES)
    acc = pd.DataFrame({"account_id": [f"0018d{i:013d}" for i in range(n)], "name": ACC_NAMES,
                        "city": ["-Town"] * n, "state": None, "zip": None,
                        "territory_id": [terr[i % 4] for i in range(n)]})
    rep_of = {"T1": "0058d00000000001AA", "T2": "0058d00000000002AA", "T3": "0058d00000000003AA",
              "T4": "0058d00000000004AA"}
    acc["owner_id"] = acc["territory_id"].map(rep_of)
    acc["previous_owner_id"] = acc["owner_id"]
    acc["potential"] = np.linspace(100.0, 5000.0, n)
    acc["revenue_12m"] = np.linspace(-1234.5, 5000.0, n)        # refunds: a negative amount stays a number
    tt = pd.DataFrame({"territory_id": ["T1", "T2", "T3", "T4"], "name": TERR_NAMES,
                       "rep_id": list(rep_of.values())})
    tt["reps"] = ["0058d00000000001AA;0058d00000000003AA", "0058d00000000002AA", "0058d00000000003AA",
                  "0058d00000000004AA"]
    tt["account_count"] = tt["territory_id"].map(acc["territory_id"].value_counts()).astype(float)
    return ex.ExportPlan(units=units, territories=tt, accounts=acc, reps=REPS.copy(), hierarchy=None,
                         geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), level="zip", model_name="=Plan",
                         account_source="hubspot")


def test_neutralize_is_reversible_and_leaves_numbers_and_plain_text():
    for v in TERR_NAMES + ACC_NAMES + ["'", "''", "'a", "'6011110949048", "", "x=1"]:
        assert restore(neutralize(v)) == v
        assert not str(neutralize(v)).startswith(RISKY_FIRST)
    assert neutralize(-5.5) == -5.5 and neutralize(None) is None
    assert neutralize("'6011110949048") == "'6011110949048"           # Shopify's own guard untouched
    assert neutralize("Plain Co") == "Plain Co" and neutralize("-5") == "'-5"


def _raw_cells(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return [c for row in csv.reader(fh) for c in row]


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("fmt", ["csv", "hubspot", "salesforce"])
def test_no_csv_cell_starts_like_a_formula(hostile, tmp_path, fmt):
    files = [f for f in ex.export(hostile, fmt, tmp_path / fmt) if f.suffix == ".csv"]
    assert files
    cells = [c for f in files for c in _raw_cells(f)]
    risky = [c for c in cells if c.startswith(RISKY_FIRST) and not _is_number(c)]
    assert risky == []
    text = "\n".join(cells)
    if fmt == "csv":                         # the names are there, behind a quote; the amount is a number
        assert "'" + EVIL in cells and "'-5" in cells and "'\tTabbed" in cells
        assert "-1234.5" in cells
    if fmt == "salesforce":
        assert "'" + EVIL in text                # Territory2 names in the plan file
    assert any("written with a leading '" in n for n in hostile.notes)


def test_generic_csv_reads_back_to_the_exact_names(hostile, tmp_path):
    from territorium.data import read_file
    from territorium.data.io import read_raw

    acc_path, units_path = ex.export(hostile, "csv", tmp_path / "plan.csv")
    raw = read_raw(acc_path).frame
    assert raw["name"].tolist() == ACC_NAMES                         # exact, tab and CR included
    assert set(raw["territory_name"]) == set(TERR_NAMES)
    back = read_file(acc_path, "accounts", format="generic")
    assert back.ok, back.problems
    got = back.frames["accounts"].set_index("account_id")["name"]
    want = hostile.accounts.set_index("account_id")["name"].str.strip()   # the importer trims whitespace
    assert got.reindex(want.index).tolist() == want.tolist()
    al = read_file(units_path, "alignment")
    assert al.ok, al.problems
    names = al.frames["territories"].drop_duplicates("territory_id").set_index("territory_id")["name"]
    assert names.to_dict() == dict(zip(hostile.territories["territory_id"], TERR_NAMES))
    # the Salesforce files read back to the same names, and an assignment file to the same reps
    ex.export(hostile, "salesforce", tmp_path / "sf")
    sf = ex.read_salesforce(tmp_path / "sf")
    assert sf["territories"].set_index("territory_id")["name"].to_dict() == dict(zip(["T1", "T2", "T3", "T4"],
                                                                                      TERR_NAMES))
    a = ex.read_assignment_file(units_path)
    assert a.territory_reps["T1"] == ("0058d00000000001AA", "0058d00000000003AA")


def test_hubspot_reads_back_to_the_exact_names(hostile, tmp_path):
    from territorium.data import read_file

    (path,) = ex.export(hostile, "hubspot", tmp_path)
    back = read_file(path, "accounts", format="hubspot")
    assert back.ok, back.problems
    assert sorted(back.frames["accounts"]["name"]) == sorted(n.strip() for n in ACC_NAMES)


def test_excel_holds_strings_never_formulas(hostile, tmp_path):
    from openpyxl import load_workbook

    (path,) = ex.export(hostile, "excel", tmp_path)
    with zipfile.ZipFile(path) as z:                 # the file itself: no formula element anywhere
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(re.search(rb"<f[ >]", z.read(n)) for n in sheets)
    wb = load_workbook(path)
    summ = wb["Summary"]
    hdr = [c.value for c in summ[1]]
    col = hdr.index("name") + 1
    names = [summ.cell(r, col) for r in range(2, summ.max_row + 1)]
    assert [c.value for c in names] == TERR_NAMES                       # exact, no quote in the value
    assert all(c.data_type == "s" and c.quotePrefix for c in names)     # text, marked as such
    rep_col = hdr.index("rep_names") + 1
    assert summ.cell(3, rep_col).value == "=cmd|' /C calc'!A0" and summ.cell(3, rep_col).data_type == "s"
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    sheet = wb[pd.read_excel(path, sheet_name="Summary", dtype=str)["sheet"].iloc[0]]
    hdr = [c.value for c in sheet[1]]
    pot = [sheet.cell(r, hdr.index("revenue_12m") + 1) for r in range(2, sheet.max_row + 1)]
    assert pot and all(c.data_type == "n" for c in pot)                 # numbers stay numbers
    assert min(c.value for c in pot) == pytest.approx(-1234.5)
    ref = [c for c in cells if c.value == "#REF!"]
    assert ref and ref[0].data_type == "s"                              # text, not an error value
    plain = [c for c in cells if c.value == "Plain Co"]
    assert plain and not plain[0].quotePrefix                           # ordinary text is left alone


@pytest.mark.parametrize("engine", ["etree", "gdal"])
def test_kml_keeps_a_rep_name_with_a_bar_whole(hostile, tmp_path, engine):
    if engine == "gdal" and not ex.kml_driver_available():
        pytest.skip("GDAL KML driver not available")
    (k,) = ex.write_kml(hostile, tmp_path / f"t_{engine}.kml", engine=engine)
    ns = "{http://www.opengis.net/kml/2.2}"
    desc = {p.findtext(f"{ns}name"): p.findtext(f"{ns}description") for p in ET.parse(k).getroot().iter(f"{ns}Placemark")}
    assert desc["T1"] == f"{EVIL} — reps: Ann | Lee (primary), Lee, Ann"
    assert desc["T2"] == "+1 Metro — rep: =cmd|' /C calc'!A0"
    assert desc["T3"] == "-North — rep: Lee, Ann"


def test_service_readers_restore_the_quote_once(tmp_path):
    """The files the exports write are inputs of other commands (--alignment, --assignment):
    the shared reader of the service layer removes the quote, exactly once."""
    from territorium.plan._files import read_table

    p = tmp_path / "al.csv"
    ex._write_csv(pd.DataFrame({"unit_id": ["10001", "10002", "10003"], "territory": ["=T1", "-T2", "'=T3"]}), p)
    assert p.read_text(encoding="utf-8").splitlines()[1:] == ["10001,'=T1", "10002,'-T2", "10003,''=T3"]
    assert ex.read_alignment_file(p)["territory"].tolist() == ["=T1", "-T2", "'=T3"]
    assert read_table(p)["territory"].tolist() == ["=T1", "-T2", "'=T3"]
