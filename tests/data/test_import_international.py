"""Real export shapes with rows from many countries (issue 12).

Headers are the documented column sets of each export (Shopify admin orders and customers,
current and older; Salesforce Data Export / Data Loader / report exports; HubSpot companies
and deals); the rows are small, hand-written, and hold real places with their real postal
codes and subdivisions.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from territorium.data import import_file, read_file

# Shopify admin "Export orders" (one row per line item), current column set
SHOPIFY_ORDERS = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City",
    "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at",
    "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee",
    "Location", "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name",
    "Tax 1 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name", "Shipping Province Name",
    "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
]

# (order, currency, city, zip, province code, country code, province name)
ORDERS_ABROAD = [
    ("#2001", "USD", "Boston", "'02134", "MA", "US", "Massachusetts"),
    ("#2002", "CAD", "Toronto", "M5V 2T6", "ON", "CA", "Ontario"),
    ("#2003", "GBP", "London", "SW1A 1AA", "", "GB", ""),
    ("#2004", "AUD", "Sydney", "2000", "NSW", "AU", "New South Wales"),
    ("#2005", "ZAR", "Johannesburg", "2196", "GP", "ZA", "Gauteng"),
    ("#2006", "CLP", "Santiago", "8320000", "RM", "CL", "Santiago Metropolitan"),
    ("#2007", "KRW", "Seoul", "03051", "KR-11", "KR", "Seoul"),
    ("#2008", "HKD", "Kowloon", "", "KL", "HK", "Kowloon"),
    ("#2009", "INR", "Mumbai", "400001", "MH", "IN", "Maharashtra"),
    ("#2010", "SGD", "Singapore", "018956", "", "SG", ""),
    ("#2011", "EUR", "Paris", "75007", "", "FR", ""),
    ("#2012", "EUR", "Zagreb", "10090", "", "HR", ""),
]


def _shopify_orders(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=SHOPIFY_ORDERS)
        w.writeheader()
        for name, cur, city, zip_, prov, country, prov_name in rows:
            w.writerow({"Name": name, "Email": f"{name[1:]}@example.com", "Financial Status": "paid",
                        "Currency": cur, "Subtotal": "40.00", "Total": "44.00",
                        "Created at": "2025-03-01 10:00:00 +0000", "Lineitem quantity": "2",
                        "Lineitem name": "Glow Serum", "Lineitem price": "20.00", "Lineitem sku": "GS-1",
                        "Billing City": city, "Billing Zip": zip_, "Billing Province": prov,
                        "Billing Country": country, "Shipping City": city, "Shipping Zip": zip_,
                        "Shipping Province": prov, "Shipping Country": country, "Id": "'5" + name[1:] + "00000001",
                        "Billing Province Name": prov_name, "Shipping Province Name": prov_name})
    return path


def _problems(r, severity="error"):
    p = r.problems
    return p.loc[p["severity"] == severity].reset_index(drop=True)


def test_shopify_orders_from_twelve_countries_import_with_their_countries(tmp_path, today):
    r = read_file(_shopify_orders(tmp_path / "orders_export_1.csv", ORDERS_ABROAD), "orders", today=today)
    assert r.ok, _problems(r).to_string()
    o = r.frames["orders"].set_index("order_id")
    assert list(o["shipping_country"]) == [c[5] for c in ORDERS_ABROAD]
    # only the US order has a US ZIP and state; every other keeps its own postal code
    assert o.loc["#2001", "shipping_zip"] == "02134" and o.loc["#2001", "shipping_state"] == "MA"
    assert (o.drop(index="#2001")["shipping_zip"].fillna("") == "").all()
    assert (o.drop(index="#2001")["shipping_state"].fillna("") == "").all()
    assert o.loc["#2002", "shipping_postal_code"] == "M5V 2T6"
    assert o.loc["#2005", "shipping_postal_code"] == "2196"  # not zero-padded into Massachusetts
    assert o.loc["#2010", "shipping_postal_code"] == "018956"
    assert o.loc["#2002", "shipping_subdivision"] == "CA-ON"
    assert o.loc["#2004", "shipping_subdivision"] == "AU-NSW"
    assert o.loc["#2007", "shipping_subdivision"] == "KR-11"
    assert o.loc["#2009", "shipping_subdivision"] == "IN-MH"
    assert o.loc["#2006", "shipping_subdivision"] == "CL-RM"
    assert o.loc["#2008", "shipping_subdivision"] == "Kowloon"  # Shopify's code KL (no ISO 3166-2 code)
    assert len(_problems(r, "warning")) == 0, _problems(r, "warning").to_string()
    # placed only where the ZIP is a US ZIP: Paris 75007 is not Carrollton, TX; Zagreb 10090 is not Manhattan
    assert np.isfinite(o.loc["#2001", "lat"])
    assert o.drop(index="#2001")["lat"].isna().all()
    assert r.outside_us == {c[5]: 1 for c in ORDERS_ABROAD if c[5] != "US"}
    # the file-level warning counts US orders that cannot be placed, not foreign ones
    assert not r.problems["reason"].str.contains("no known shipping ZIP").any()


def test_foreign_postal_code_checked_by_its_country(tmp_path, today):
    rows = [
        ("#3001", "CAD", "Toronto", "12345", "ON", "CA", "Ontario"),       # not a Canadian postal code
        ("#3002", "CAD", "Vancouver", "V5K 0A1", "ON", "CA", "Ontario"),   # a BC code with Ontario
        ("#3003", "AUD", "Perth", "6000", "WA", "AU", "Western Australia"),  # fine
        ("#3004", "CLP", "Santiago", "75007", "RM", "CL", "Santiago"),     # Chile has 7 digits
        ("#3005", "EUR", "Paris", "75007", "", "Narnia", ""),              # no such country
    ]
    r = read_file(_shopify_orders(tmp_path / "o.csv", rows), "orders", today=today)
    p = _problems(r)
    got = {(int(x.row), x.column): x.reason for x in p.itertuples()}
    assert got[(2, "Shipping Zip")] == "not a postal code of Canada (e.g. H3Z 2Y7)"
    assert got[(3, "Shipping Zip")] == "postal code V5K 0A1 is not in CA-ON (ON)"
    assert got[(5, "Shipping Zip")] == "not a postal code of Chile (e.g. 8340457)"
    assert got[(6, "Shipping Country")] == "unknown country (not an ISO 3166 country code or name)"
    assert 4 not in {int(x) for x in p["row"]}
    assert set(r.frames["orders"]["order_id"]) == {"#3003"}


# Shopify customers: the current export and the older one (no Customer ID column)
CUSTOMERS_NOW = ("Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
                 "Default Address Address1,Default Address Address2,Default Address City,"
                 "Default Address Province Code,Default Address Country Code,Default Address Zip,"
                 "Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags")
CUSTOMERS_OLD = ("First Name,Last Name,Email,Company,Address1,Address2,City,Province,Province Code,Country,"
                 "Country Code,Zip,Phone,Accepts Marketing,Total Spent,Total Orders,Tags,Note,Tax Exempt")


def test_shopify_customers_current_header_apostrophe_ids(tmp_path, today):
    rows = [
        "'6011110949048,Ann,Lee,ann@example.com,yes,,1 Main St,,Boston,MA,US,'02134,,,no,120.50,3,,no,",
        "'6011110949049,Jo,Kim,jo@example.kr,no,,12 Sejong-daero,,Seoul,KR-11,KR,03051,,,no,80.00,1,,no,",
        "'6011110949050,Priya,Rao,priya@example.in,no,,1 MG Road,,Mumbai,MH,IN,400001,,,no,10.00,1,,no,",
    ]
    (tmp_path / "customers_export.csv").write_text("\n".join([CUSTOMERS_NOW, *rows]) + "\n", encoding="utf-8")
    r = read_file(tmp_path / "customers_export.csv", "customers", today=today)
    assert r.ok, _problems(r).to_string()
    c = r.frames["customers"]
    assert list(c["customer_id"]) == ["6011110949048", "6011110949049", "6011110949050"]
    assert list(c["country"]) == ["US", "KR", "IN"]
    assert list(c["zip"].fillna("")) == ["02134", "", ""]
    assert list(c["postal_code"]) == ["02134", "03051", "400001"]
    assert list(c["subdivision"]) == ["US-MA", "KR-11", "IN-MH"]


def test_shopify_customers_older_header_without_customer_id(tmp_path, today):
    rows = [
        "Ann,Lee,Ann@Example.com,,1 Main St,,Boston,Massachusetts,MA,United States,US,02134,,yes,120.50,3,,,no",
        "Tom,Smith,tom@example.co.za,,5 Jan Smuts Ave,,Johannesburg,Gauteng,GP,South Africa,ZA,2196,,no,40.00,1,,,no",
        "Eve,Ng,eve@example.ca,,1 Rue,,Montréal,Québec,QC,Canada,CA,H3Z 2Y7,,no,15.00,1,,,no",
    ]
    (tmp_path / "customers_export.csv").write_text("\n".join([CUSTOMERS_OLD, *rows]) + "\n", encoding="utf-8")
    r = read_file(tmp_path / "customers_export.csv", "customers", today=today)
    assert r.ok, _problems(r).to_string()
    c = r.frames["customers"]
    assert list(c["customer_id"]) == ["ann@example.com", "tom@example.co.za", "eve@example.ca"]
    assert list(c["country"]) == ["US", "ZA", "CA"]
    assert list(c["postal_code"]) == ["02134", "2196", "H3Z 2Y7"]
    assert list(c["subdivision"]) == ["US-MA", "ZA-GP", "CA-QC"]


def test_shopify_customers_older_header_missing_email_is_the_missing_key(tmp_path, today):
    rows = ["Ann,Lee,,,1 Main St,,Boston,Massachusetts,MA,United States,US,02134,,yes,1,1,,,no"]
    (tmp_path / "c.csv").write_text("\n".join([CUSTOMERS_OLD, *rows]) + "\n", encoding="utf-8")
    r = read_file(tmp_path / "c.csv", "customers", today=today)
    p = _problems(r)
    assert list(p["column"]) == ["Email"] and p.loc[0, "reason"] == "required value is missing"


# Salesforce: Data Export (API names), Data Loader (API names in upper case, all quoted), report
SF_EXPORT = ("Id,IsDeleted,MasterRecordId,Name,Type,ParentId,BillingStreet,BillingCity,BillingState,"
             "BillingPostalCode,BillingCountry,BillingLatitude,BillingLongitude,ShippingStreet,ShippingCity,"
             "ShippingState,ShippingPostalCode,ShippingCountry,Phone,Fax,Website,Industry,AnnualRevenue,"
             "NumberOfEmployees,OwnerId,CreatedDate")
SF_ROWS = [
    ["0015g00000AbCdEAAV", "false", "", "Salon Toronto", "Customer", "", "1 King St W", "Toronto", "ON",
     "M5H 1A1", "Canada", "", "", "", "", "", "", "", "", "", "", "Salon", "250000", "6", "0055g00000XyZAAA",
     "2024-01-02T10:00:00.000Z"],
    ["0015g00000AbCdFAAV", "false", "", "Spa Vancouver", "Customer", "", "2 Main", "Vancouver", "British Columbia",
     "V6B 1A1", "CA", "", "", "", "", "", "", "", "", "", "", "Spa", "100000", "3", "0055g00000XyZAAA",
     "2024-01-02T10:00:00.000Z"],
    ["0015g00000AbCdGAAV", "false", "", "Boutique Boston", "Customer", "", "3 Oak", "Boston", "MA", "02134",
     "United States", "", "", "", "", "", "", "", "", "", "", "Boutique", "50000", "2", "0055g00000XyZAAA",
     "2024-01-02T10:00:00.000Z"],
    ["0015g00000AbCdHAAV", "false", "", "Salon Paris", "Prospect", "", "7 Rue", "Paris", "", "75007",
     "France", "", "", "", "", "", "", "", "", "", "", "Salon", "", "", "0055g00000XyZAAA",
     "2024-01-02T10:00:00.000Z"],
]


def _write_rows(path, header, rows, quote_all=False):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        w.writerow(header.split(",") if isinstance(header, str) else header)
        w.writerows(rows)
    return path


def _check_sf_accounts(r):
    assert r.ok, _problems(r).to_string()
    a = r.frames["accounts"].set_index("account_id")
    assert list(a["country"]) == ["CA", "CA", "US", "FR"]
    assert list(a["subdivision"].fillna("")) == ["CA-ON", "CA-BC", "US-MA", ""]
    assert list(a["postal_code"]) == ["M5H 1A1", "V6B 1A1", "02134", "75007"]
    assert list(a["zip"].fillna("")) == ["", "", "02134", ""]
    assert list(a["geocode"].fillna("none")) == ["city", "city", "zip", "city"]
    # Paris stays in Paris (not ZIP 75007 in Carrollton, TX); Toronto in Toronto
    assert a.loc["0015g00000AbCdHAAV", "lat"] == pytest.approx(48.86, abs=0.1)
    assert a.loc["0015g00000AbCdHAAV", "lon"] == pytest.approx(2.35, abs=0.1)
    assert a.loc["0015g00000AbCdEAAV", "lat"] == pytest.approx(43.7, abs=0.1)
    assert r.outside_us == {"CA": 2, "FR": 1}


def test_salesforce_data_export_with_canadian_and_french_accounts(tmp_path, today):
    _check_sf_accounts(read_file(_write_rows(tmp_path / "Account.csv", SF_EXPORT, SF_ROWS), "accounts", today=today))


def test_salesforce_data_loader_export_upper_case_all_quoted(tmp_path, today):
    path = _write_rows(tmp_path / "extract.csv", SF_EXPORT.upper(), SF_ROWS, quote_all=True)
    _check_sf_accounts(read_file(path, "accounts", today=today))


def test_salesforce_report_export_with_footer(tmp_path, today):
    header = ("Account Name,Account ID,Type,Industry,Billing Street,Billing City,Billing State/Province,"
              "Billing Zip/Postal Code,Billing Country,Annual Revenue,Employees,Account Owner ID")
    rows = [[r[3], r[0], r[4], r[21], r[6], r[7], r[8], r[9], r[10], r[22], r[23], r[24]] for r in SF_ROWS]
    rows += [[""] * 12, ['"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved."'] + [""] * 11,
             ["Confidential Information - Do Not Distribute"] + [""] * 11]
    path = _write_rows(tmp_path / "report1712345.csv", header, rows)
    _check_sf_accounts(read_file(path, "accounts", today=today))


# HubSpot CRM exports
HS_COMPANIES = ("Record ID,Company name,Company owner,Create Date,Phone Number,Last Activity Date,City,"
                "Country/Region,Industry,State/Region,Postal Code,Annual Revenue,Number of Employees,"
                "Company Domain Name")


def test_hubspot_companies_export_with_international_rows(tmp_path, today):
    rows = [
        ["5012345678", "Glow Sydney", "Ann Lee", "2024-01-02 10:00", "", "", "Sydney", "Australia", "Beauty",
         "New South Wales", "2000", "1000000", "12", "glow.com.au"],
        ["5012345679", "Lumen London", "Ann Lee", "2024-01-02 10:00", "", "", "London", "United Kingdom", "Beauty",
         "", "EC1A 1BB", "", "", "lumen.co.uk"],
        ["5012345680", "Seoul Skin", "Ann Lee", "2024-01-02 10:00", "", "", "Seoul", "South Korea", "Beauty",
         "Seoul", "03051", "", "", "seoulskin.kr"],
        ["5012345681", "Harbour HK", "Ann Lee", "2024-01-02 10:00", "", "", "Hong Kong", "Hong Kong", "Beauty",
         "Hong Kong Island", "", "", "", "harbour.hk"],
        ["5012345682", "Marina SG", "Ann Lee", "2024-01-02 10:00", "", "", "Singapore", "Singapore", "Beauty",
         "", "018956", "", "", "marina.sg"],
        ["5012345683", "Cape Glow", "Ann Lee", "2024-01-02 10:00", "", "", "Cape Town", "South Africa", "Beauty",
         "Western Cape", "8001", "", "", "capeglow.co.za"],
        ["5012345684", "Andes Spa", "Ann Lee", "2024-01-02 10:00", "", "", "Santiago", "Chile", "Beauty",
         "Region Metropolitana", "8320000", "", "", "andes.cl"],
    ]
    r = read_file(_write_rows(tmp_path / "hubspot-crm-exports-all-companies.csv", HS_COMPANIES, rows),
                  "companies", today=today)
    assert r.ok, _problems(r).to_string()
    a = r.frames["accounts"]
    assert list(a["country"]) == ["AU", "GB", "KR", "HK", "SG", "ZA", "CL"]
    assert list(a["subdivision"].fillna("")) == ["AU-NSW", "", "KR-11", "Hong Kong Island", "", "ZA-WC", "CL-RM"]
    assert list(a["postal_code"].fillna("")) == ["2000", "EC1A 1BB", "03051", "", "018956", "8001", "8320000"]
    assert (a["zip"].fillna("") == "").all() and (a["state"].fillna("") == "").all()
    assert a["lat"].notna().all()  # every one of these cities is in the offline world-city table


def test_hubspot_deals_export(tmp_path, today):
    header = "Record ID,Deal Name,Deal Stage,Close Date,Deal owner,Amount,Associated Company IDs,Pipeline"
    rows = [["9001", "Sydney launch", "closedwon", "2025-02-01", "Ann Lee", "12000", "5012345678", "default"],
            ["9002", "London pilot", "Appointment Scheduled", "2025-05-01", "Ann Lee", "3000",
             "5012345679;5012345680", "default"]]
    r = read_file(_write_rows(tmp_path / "hubspot-crm-exports-all-deals.csv", header, rows), "deals", today=today)
    assert r.ok
    d = r.frames["opportunities"]
    assert list(d["account_id"]) == ["5012345678", "5012345679"]
    assert list(d["is_won"]) == [True, False] and list(d["amount"]) == pytest.approx([12000.0, 3000.0])


# a missing country is inferred from the province and postal code
MINIMAL = "Id,Name,BillingCity,BillingState,BillingPostalCode"


def test_country_inferred_from_province_and_postal_code(tmp_path, today):
    rows = [["1", "Ottawa Spa", "Ottawa", "ON", "K1A 0B1"],
            ["2", "Perth Salon", "Perth", "WA", "6000"],
            ["3", "Seattle Salon", "Seattle", "WA", "98101"],
            ["4", "Sydney Salon", "Sydney", "NSW", "2000"],
            ["5", "Boston Salon", "Boston", "MA", "2134"]]
    r = read_file(_write_rows(tmp_path / "a.csv", MINIMAL, rows), "accounts", format="salesforce", today=today)
    assert r.ok, _problems(r).to_string()
    a = r.frames["accounts"]
    assert list(a["country"]) == ["CA", "AU", "US", "AU", "US"]
    assert list(a["zip"].fillna("")) == ["", "", "98101", "", "02134"]
    assert len(_problems(r, "warning")) == 0


def test_foreign_zip_without_country_is_not_placed_in_the_us(tmp_path, today):
    rows = [["1", "Salon Paris", "Paris", "", "75007"],      # ZIP 75007 is Carrollton, TX
            ["2", "Salon Zagreb", "Zagreb", "", "10090"],    # ZIP 10090 is in Manhattan
            ["3", "Salon Carrollton", "Carrollton", "", "75007"],
            ["4", "Salon Joburg", "Johannesburg", "", "2196"]]  # never padded into 02196 (Boston)
    r = read_file(_write_rows(tmp_path / "a.csv", MINIMAL, rows), "accounts", format="salesforce", today=today)
    assert r.ok
    a = r.frames["accounts"]
    assert list(a["country"].fillna("")) == ["", "", "US", ""]
    assert list(a["zip"].fillna("")) == ["", "", "75007", ""]
    assert np.isnan(a["lat"].iloc[3])
    assert a["lat"].iloc[:2].isna().all() and np.isfinite(a["lat"].iloc[2])
    w = _problems(r, "warning")
    first = w.loc[w["row"] == 2].iloc[0]
    assert first["column"] == "BillingPostalCode" and first["value"] == "75007"
    assert first["reason"] == ("no country given, and ZIP 75007 is Carrollton, TX in the US ZIP table, not Paris: "
                               "not placed (add the country)")
    assert 4 not in set(w["row"])  # Carrollton with ZIP 75007 is simply US
    assert "not Johannesburg" in w.loc[w["row"] == 5, "reason"].iloc[0]


def test_ambiguous_province_warns(tmp_path, today):
    # no postal code: WA is Washington and Western Australia; the US is assumed, with a warning
    rows = [["1", "Salon", "", "WA", ""]]
    r = read_file(_write_rows(tmp_path / "a.csv", MINIMAL, rows), "accounts", format="salesforce", today=today)
    w = _problems(r, "warning")
    hit = w.loc[w["reason"].str.startswith("no country given: WA fits US, AU; assumed US")]
    assert len(hit) == 1 and hit.iloc[0]["column"] == "BillingState"
    assert r.frames["accounts"].loc[0, "country"] == "US"


def test_state_only_account_is_not_labelled_city(tmp_path, today):
    rows = [["1", "Salon", "", "MA", ""]]
    r = read_file(_write_rows(tmp_path / "a.csv", MINIMAL + ",BillingCountry", [rows[0] + ["US"]]),
                  "accounts", format="salesforce", today=today)
    a = r.frames["accounts"]
    assert pd.isna(a.loc[0, "geocode"]) and np.isnan(a.loc[0, "lat"]) and r.unplaced == 1
    w = _problems(r, "warning")
    assert list(w["column"]) == ["BillingState"] and w.loc[0, "value"] == "MA"
    assert w.loc[0, "reason"] == "cannot be placed: only a state (no ZIP or city)"


def test_stored_countries_and_places_in_units(tmp_path, today, db_engine):
    """Stored with their countries (SQLite and PostgreSQL); US state units never hold the
    foreign accounts, custom polygons drawn around Toronto do."""
    import json

    from territorium.plan.workspace import Workspace

    r = import_file(_write_rows(tmp_path / "Account.csv", SF_EXPORT, SF_ROWS), "accounts",
                    engine=db_engine, today=today)
    assert r.stored
    ws = Workspace(engine=db_engine)
    acc = ws.table("accounts").set_index("account_id")
    assert acc.loc["0015g00000AbCdEAAV", "country"] == "CA" and acc.loc["0015g00000AbCdEAAV", "postal_code"] == "M5H 1A1"
    assert acc.loc["0015g00000AbCdEAAV", "subdivision"] == "CA-ON"
    load = ws.load_units("state", states=["MA", "NY"])
    placed = load.accounts.set_index("account_id")["unit"]
    assert placed["0015g00000AbCdGAAV"] >= 0
    assert (placed.drop("0015g00000AbCdGAAV") < 0).all()
    assert load.accounts_abroad == {"CA": 2, "FR": 1}
    assert any("outside the US" in n for n in load.notes)
    # a user's own polygons in Canada: Toronto and Vancouver (lon/lat boxes)
    feats = [{"type": "Feature", "properties": {"name": n},
              "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}}
             for n, (x0, y0, x1, y1) in {"Toronto": (-80.0, 43.0, -79.0, 44.5),
                                        "Vancouver": (-123.6, 49.0, -122.5, 49.6)}.items()]
    path = tmp_path / "canada.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    load = ws.load_units("custom", custom=path, id_column="name")
    u = load.units.table["unit_id"].astype(str).tolist()
    placed = load.accounts.set_index("account_id")["unit"]
    assert u[placed["0015g00000AbCdEAAV"]] == "Toronto" and u[placed["0015g00000AbCdFAAV"]] == "Vancouver"
    assert placed["0015g00000AbCdGAAV"] < 0 and placed["0015g00000AbCdHAAV"] < 0


def test_cli_import_and_summary_report_rows_outside_the_us(tmp_path):
    from typer.testing import CliRunner

    from territorium.cli import app

    url = f"sqlite:///{tmp_path / 'ws.db'}"
    path = _write_rows(tmp_path / "Account.csv", SF_EXPORT, SF_ROWS)
    run = CliRunner().invoke
    res = run(app, ["import", "accounts", str(path), "--database", url, "--today", "2025-06-30"],
              env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "Account.csv: 3 row(s) outside the US, kept and not placed in US units: CA 2, FR 1" in res.output
    res = run(app, ["import", "accounts", str(path), "--database", url, "--replace", "--json"])
    assert json.loads(res.output)["files"][0]["outside_us"] == {"CA": 2, "FR": 1}
    res = run(app, ["summary", "--units", "state", "--states", "MA", "--database", url], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "accounts outside the US (not placed in US units): CA 2, FR 1" in res.output


def test_generic_mapping_may_name_postal_code_and_province(tmp_path, today):
    (tmp_path / "m.yaml").write_text("table: accounts\ncolumns:\n  account_id: Kundennr\n  name: Firma\n"
                                     "  city: Ort\n  postal_code: PLZ\n  subdivision: Bundesland\n  country: Land\n")
    _write_rows(tmp_path / "kunden.csv", "Kundennr,Firma,Ort,PLZ,Bundesland,Land",
                [["K1", "Salon Mitte", "Berlin", "10115", "Berlin", "DE"],
                 ["K2", "Salon Boston", "Boston", "02134", "MA", "US"]])
    r = read_file(tmp_path / "kunden.csv", "accounts", mapping=tmp_path / "m.yaml", today=today)
    assert r.ok, _problems(r).to_string()
    a = r.frames["accounts"]
    assert list(a["postal_code"]) == ["10115", "02134"] and list(a["subdivision"]) == ["DE-BE", "US-MA"]
    assert list(a["zip"].fillna("")) == ["", "02134"]


def test_orders_from_twelve_countries_stored(tmp_path, today, db_engine):
    r = import_file(_shopify_orders(tmp_path / "orders_export_1.csv", ORDERS_ABROAD), "orders",
                    engine=db_engine, today=today)
    assert r.stored and r.imported == len(ORDERS_ABROAD)
    import sqlalchemy as sa

    with db_engine.connect() as conn:
        got = conn.execute(sa.text("SELECT order_id, shipping_country, shipping_zip, shipping_postal_code, "
                                   "shipping_subdivision FROM orders ORDER BY order_id")).all()
    got = {r_[0]: tuple(r_[1:]) for r_ in got}
    assert got["#2001"] == ("US", "02134", "02134", "US-MA")
    assert got["#2002"] == ("CA", None, "M5V 2T6", "CA-ON")
    assert got["#2005"] == ("ZA", None, "2196", "ZA-GP")
    assert got["#2011"] == ("FR", None, "75007", None)
