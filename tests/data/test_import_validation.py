"""Every validation rule of the import, each with a failing fixture written as a real file."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _importfiles import GOOD_ACCOUNTS, SF_ACCOUNT_HEADER, write

from territorium.data import ImportFailed, read_file


def problems_of(result, severity="error"):
    p = result.problems
    return p.loc[p["severity"] == severity].reset_index(drop=True)


def one_problem(result, column, reason_part, severity="error"):
    p = problems_of(result, severity)
    hit = p.loc[(p["column"] == column) & p["reason"].str.contains(reason_part, regex=False)]
    assert len(hit) == 1, f"expected one {reason_part!r} on {column}, got:\n{p.to_string()}"
    return hit.iloc[0]


def accounts(tmp_path, rows, today, name="accounts.csv", **kw):
    return read_file(write(tmp_path / name, SF_ACCOUNT_HEADER, rows, **kw), "accounts", today=today)


# ------------------------------------------------------------------ clean file
def test_clean_salesforce_accounts(tmp_path, today):
    r = accounts(tmp_path, GOOD_ACCOUNTS, today)
    assert r.ok and r.format == "salesforce" and r.rows_read == 3 and r.rejected == 0
    a = r.frames["accounts"]
    assert list(a["account_id"]) == ["001A", "001B", "001C"]
    assert list(a["zip"]) == ["02134", "62701", "10001"]
    assert a["employees"].dtype == "Int64" and a["annual_revenue"].dtype == np.float64
    assert list(a["geocode"]) == ["zip", "zip", "zip"]
    assert a["lat"].between(24, 50).all() and a["lon"].between(-125, -66).all()
    assert a.loc[0, "product_lines"] == "skincare;haircare"


# ------------------------------------------------------------------ encodings, delimiters, blank lines
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_encodings(tmp_path, today, encoding):
    rows = ["001A,Café Lumière,Customer,Salon,,Boston,MA,02134,US,1,1,005X,,,,"]
    r = accounts(tmp_path, rows, today, encoding=encoding)
    assert r.ok
    assert r.frames["accounts"].loc[0, "name"] == "Café Lumière"
    assert r.frames["accounts"].columns[0] == "account_id"  # BOM not glued to the first header


@pytest.mark.parametrize("delim", [";", "\t", "|"])
def test_delimiters(tmp_path, today, delim):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\n")
    for line in [SF_ACCOUNT_HEADER, *GOOD_ACCOUNTS]:
        w.writerow(next(csv.reader([line])))
    (tmp_path / "a.csv").write_text(buf.getvalue(), encoding="utf-8")
    r = read_file(tmp_path / "a.csv", "accounts", today=today)
    assert r.ok, r.problems
    assert r.delimiter == delim and r.rows_read == 3
    assert r.frames["accounts"].loc[0, "product_lines"] == "skincare;haircare"


def test_blank_lines_keep_spreadsheet_row_numbers(tmp_path, today):
    rows = [GOOD_ACCOUNTS[0], "", "", GOOD_ACCOUNTS[1], "", "001Z,,Customer,,,,,,,,,,,,,"]
    r = accounts(tmp_path, rows, today, newline="\r\n")
    assert r.blank_rows == 3 and r.rows_read == 3
    p = one_problem(r, "Name", "required value is missing")
    assert p["row"] == 7  # header 1, data 2, blank 3-4, data 5, blank 6, the bad row 7


# ------------------------------------------------------------------ numbers
def test_currency_strings_thousands_and_percent(tmp_path, today):
    rows = [
        '001A,A,,,,Boston,MA,02134,US,"$1,200,000.00","1,250",005X,,,,"1.200,50 €"',
        "001B,B,,,,Boston,MA,02134,US,USD 300,7,005X,,,,(0)",
    ]
    r = accounts(tmp_path, rows, today)
    assert r.ok, r.problems
    a = r.frames["accounts"]
    assert a.loc[0, "annual_revenue"] == 1_200_000.0
    assert a.loc[0, "employees"] == 1250
    assert a.loc[0, "potential"] == pytest.approx(1200.50)
    assert a.loc[1, "annual_revenue"] == 300.0


def test_percentages(tmp_path, today):
    header = "Id,AccountId,Name,StageName,Amount,CloseDate,Probability,OwnerId,IsWon,IsClosed"
    rows = ["006A,001A,Deal A,Prospecting,\"$12,000\",2025-09-30,45%,005X,false,false",
            "006B,001A,Deal B,Closed Won,500,6/1/2025,100%,005X,true,true"]
    r = read_file(write(tmp_path / "opps.csv", header, rows), "opportunities", today=today)
    assert r.ok, r.problems
    o = r.frames["opportunities"]
    assert list(o["probability"]) == [0.45, 1.0]
    assert o.loc[1, "close_date"] == pd.Timestamp("2025-06-01")
    assert o.loc[1, "is_won"] is True or bool(o.loc[1, "is_won"])


def test_salesforce_probability_without_percent_sign(tmp_path, today):
    header = "Id,AccountId,Name,StageName,Amount,CloseDate,Probability,OwnerId,IsWon,IsClosed"
    rows = ["006A,001A,A,Prospecting,1,2025-09-30,10,005X,false,false",
            "006B,001A,B,Negotiation,1,2025-09-30,90,005X,false,false"]
    r = read_file(write(tmp_path / "opps.csv", header, rows), "opportunities", today=today)
    assert list(r.frames["opportunities"]["probability"]) == [0.10, 0.90]


def test_non_numeric_numbers(tmp_path, today):
    r = accounts(tmp_path, ["001A,A,,,,Boston,MA,02134,US,lots,twelve,005X,,,,"], today)
    assert one_problem(r, "AnnualRevenue", "not an amount")["value"] == "lots"
    assert one_problem(r, "NumberOfEmployees", "not a whole number")["row"] == 2
    assert r.rejected == 1 and len(r.frames["accounts"]) == 0


def test_fractional_employees(tmp_path, today):
    r = accounts(tmp_path, ["001A,A,,,,Boston,MA,02134,US,1,2.5,005X,,,,"], today)
    one_problem(r, "NumberOfEmployees", "not a whole number")


def test_negative_employees_and_amounts(tmp_path, today):
    r = accounts(tmp_path, ["001A,A,,,,Boston,MA,02134,US,-100,-3,005X,,,,"], today)
    one_problem(r, "AnnualRevenue", "negative")
    one_problem(r, "NumberOfEmployees", "negative")


# ------------------------------------------------------------------ places
def test_zip_lost_leading_zero_zip4_and_state_names(tmp_path, today):
    rows = [
        "001A,A,,,,Boston, massachusetts ,2134,USA,1,1,005X,,,,",
        "001B,B,,,,Boston,MA,02134-1234,US,1,1,005X,,,,",
        "001C,C,,,,New York,New York,'10001,United States,1,1,005X,,,,",
    ]
    r = accounts(tmp_path, rows, today)
    assert r.ok, r.problems
    a = r.frames["accounts"]
    assert list(a["zip"]) == ["02134", "02134", "10001"]
    assert list(a["state"]) == ["MA", "MA", "NY"]
    assert list(a["country"]) == ["US", "US", "US"]


def test_zip_00000(tmp_path, today):
    r = accounts(tmp_path, ["001A,A,,,,Boston,MA,00000,US,1,1,005X,,,,"], today)
    assert one_problem(r, "BillingPostalCode", "00000")["value"] == "00000"


def test_zip_not_in_state(tmp_path, today):
    r = accounts(tmp_path, ["001A,A,,,,Austin,TX,10001,US,1,1,005X,,,,"], today)
    p = one_problem(r, "BillingPostalCode", "is in NY, not TX")
    assert p["row"] == 2 and p["value"] == "10001"


def test_not_a_zip_and_unknown_state(tmp_path, today):
    r = accounts(tmp_path, ["001A,A,,,,Nowhere,Narnia,ABCDE,US,1,1,005X,,,,"], today)
    one_problem(r, "BillingPostalCode", "not a US ZIP code")
    one_problem(r, "BillingState", "not a US state")


def test_foreign_postal_codes_are_not_checked_as_zips(tmp_path, today):
    r = accounts(tmp_path, ["001A,A,,,,Paris,,75008,FR,1,1,005X,,,,"], today)
    assert r.ok


# ------------------------------------------------------------------ ids, required, dates, currencies
def test_duplicate_ids(tmp_path, today):
    r = accounts(tmp_path, [GOOD_ACCOUNTS[0], GOOD_ACCOUNTS[1], GOOD_ACCOUNTS[0]], today)
    p = problems_of(r)
    assert list(p["row"]) == [2, 4] and set(p["column"]) == {"Id"}
    assert "also on row 4" in p.loc[0, "reason"] and "also on row 2" in p.loc[1, "reason"]


def test_missing_required_values(tmp_path, today):
    r = accounts(tmp_path, [",No Id,,,,Boston,MA,02134,US,1,1,005X,,,,", "001B,,,,,Boston,MA,02134,US,1,1,,,,,"], today)
    assert one_problem(r, "Id", "required")["row"] == 2
    assert one_problem(r, "Name", "required")["row"] == 3


def test_missing_required_column_is_a_clear_message(tmp_path, today):
    path = write(tmp_path / "a.csv", "Name,BillingCity", ["A,Boston"])
    with pytest.raises(ImportFailed, match=r"missing required column.*account_id.*'Id'"):
        read_file(path, "accounts", format="salesforce", today=today)


def test_dates_in_the_future_and_unparseable(tmp_path, today):
    header = "Id,WhatId,OwnerId,Subject,Type,ActivityDate,DurationInMinutes,Status"
    rows = ["00TA,001A,005X,Visit,Visit,2025-06-01,30,Completed",
            "00TB,001A,005X,Call,Call,2025-07-15,10,Completed",      # future, done: error
            "00TC,001A,005X,Visit,Visit,2025-08-01,60,Not Started",  # future but planned: fine
            "00TD,001A,005X,Email,Email,31/31/2025,5,Completed"]
    r = read_file(write(tmp_path / "tasks.csv", header, rows), "activities", today=today)
    assert one_problem(r, "ActivityDate", "in the future")["row"] == 3
    assert one_problem(r, "ActivityDate", "not a date")["value"] == "31/31/2025"
    assert r.rejected == 2
    assert list(r.frames["activities"]["type"]) == ["visit", "visit"]


def test_today_is_injectable(tmp_path):
    import datetime as dt

    header = "Id,WhatId,OwnerId,Subject,Type,ActivityDate,DurationInMinutes,Status"
    path = write(tmp_path / "tasks.csv", header, ["00TB,001A,005X,Call,Call,2025-07-15,10,Completed"])
    assert not read_file(path, "activities", today=dt.date(2025, 7, 1)).ok
    assert read_file(path, "activities", today=dt.date(2025, 8, 1)).ok


def test_unknown_currency(tmp_path, today):
    from _importfiles import SHOPIFY_HEADER, shopify_line

    rows = [shopify_line("#1", "a@b.com", "paid", "XYZ", "10", "10", "2025-03-01 10:00:00 -0500", zip_="02134",
                         prov="MA", country="US")]
    r = read_file(write(tmp_path / "orders.csv", SHOPIFY_HEADER, rows), "orders", today=today)
    assert one_problem(r, "Currency", "ISO 4217")["value"] == "XYZ"


def test_bad_email(tmp_path, today):
    path = write(tmp_path / "contacts.csv", "Id,AccountId,FirstName,LastName,Email,Phone",
                 ["003A,001A,Ann,Lee,ANN@EXAMPLE.COM,1", "003B,001A,Bo,Ng,not-an-email,2"])
    r = read_file(path, "contacts", today=today)
    assert one_problem(r, "Email", "e-mail")["row"] == 3
    assert r.frames["contacts"].loc[0, "email"] == "ann@example.com"


# ------------------------------------------------------------------ unreadable input
def test_unreadable_inputs_raise_import_failed(tmp_path, today):
    with pytest.raises(ImportFailed, match="not found"):
        read_file(tmp_path / "missing.csv", "accounts", today=today)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ImportFailed, match="empty"):
        read_file(tmp_path / "empty.csv", "accounts", today=today)
    (tmp_path / "fake.xlsx").write_text("this is not a workbook")
    with pytest.raises(ImportFailed, match="cannot read"):
        read_file(tmp_path / "fake.xlsx", "accounts", today=today)
    (tmp_path / "ragged.csv").write_text('Id,Name\n1,"unterminated\n2,b,c,d,e\n')
    with pytest.raises(ImportFailed):
        read_file(tmp_path / "ragged.csv", "accounts", today=today)
    with pytest.raises(ImportFailed, match="unknown table"):
        read_file(tmp_path / "ragged.csv", "planets", today=today)


# ------------------------------------------------------------------ geocoding
def test_geocoding_zip_then_city_then_unplaced(tmp_path, today):
    rows = [
        "001A,A,,,,Boston,MA,02134,US,1,1,005X,,,,",
        "001B,B,,,,Saint Louis,MO,,US,1,1,005X,,,,",
        "001C,C,,,,St. Louis,Missouri,,US,1,1,005X,,,,",
        "001D,D,,,,Atlantis,MA,,US,1,1,005X,,,,",
    ]
    r = accounts(tmp_path, rows, today)
    assert r.ok and r.unplaced == 1
    a = r.frames["accounts"]
    assert list(a["geocode"].fillna("none")) == ["zip", "city", "city", "none"]
    assert a.loc[1, "lat"] == pytest.approx(38.6, abs=0.3)
    # the warning names the column that holds the unplaceable value (the city), not the ZIP column
    w = one_problem(r, "BillingCity", "cannot be placed: city not found in MA", severity="warning")
    assert w["row"] == 5 and w["value"] == "Atlantis"


def test_rep_homes_from_zip(tmp_path, today):
    header = "Id,FirstName,LastName,Email,Title,IsActive,PostalCode,Capacity_Hours__c,FTE__c,Skills__c"
    rows = ["005X,Ann,Lee,ann@x.com,AE,true,02134,1600,1,Haircare;Enterprise",
            "005Y,Bo,Ng,bo@x.com,AE,false,,\"1,200\",0.5,"]
    r = read_file(write(tmp_path / "users.csv", header, rows), "reps", today=today)
    assert r.ok and r.unplaced == 1
    reps = r.frames["reps"]
    assert list(reps["name"]) == ["Ann Lee", "Bo Ng"]
    assert reps.loc[1, "capacity_hours"] == 1200.0
    assert not np.isnan(reps.loc[0, "home_lat"]) and np.isnan(reps.loc[1, "home_lat"])


def test_date_formats_from_crm_exports():
    from territorium.data.validate import parse_datetime

    s = pd.Series(["2025-06-01T10:00:00.000+0000", "6/1/2025 3:45 PM", "2025-06-01 10:00:00 UTC",
                   "2025-06-01 05:00:00 -0500", "06/01/2025", "2025-13-01", ""])
    v, bad = parse_datetime(s)
    assert list(bad) == [False, False, False, False, False, True, False]
    assert v[0] == v[2] == v[3] == pd.Timestamp("2025-06-01 10:00", tz="UTC")
    assert v[1] == pd.Timestamp("2025-06-01 15:45", tz="UTC")


def test_windows_1252_euro_amounts(tmp_path, today):
    rows = ['001A,Crème,,,,Boston,MA,02134,US,"1.200,50 €",1,005X,,,,']
    r = accounts(tmp_path, rows, today, encoding="cp1252")
    assert r.ok and r.encoding == "cp1252"
    a = r.frames["accounts"]
    assert a.loc[0, "name"] == "Crème" and a.loc[0, "annual_revenue"] == pytest.approx(1200.5)


def test_salesforce_report_footer_is_ignored(tmp_path, today):
    footer = ['""', '"Total"', '"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved."',
              '"Confidential Information - Do Not Distribute"', '"Generated By:  Ann Lee  6/1/2025 10:00 AM"',
              '"Lumiere & Co."']
    r = accounts(tmp_path, GOOD_ACCOUNTS + footer, today)
    assert r.ok, r.problems
    assert r.rows_read == 3
