"""Readers: Shopify orders/customers, HubSpot, Salesforce, generic CSV/Excel/Parquet + YAML mapping."""
from __future__ import annotations

import pandas as pd
import pytest
from _importfiles import GOOD_ORDERS, SHOPIFY_HEADER, shopify_line, write

from territorium.data import ImportFailed, read_file


def test_shopify_multi_line_orders(tmp_path, today):
    r = read_file(write(tmp_path / "orders_export.csv", SHOPIFY_HEADER, GOOD_ORDERS), "orders", today=today)
    assert r.ok, r.problems
    assert r.format == "shopify" and r.rows_read == 6
    orders, lines = r.frames["orders"], r.frames["order_lines"]
    assert list(orders["order_id"]) == ["#1001", "#1002", "#1003"]
    # order-level fields come from the first line only
    o = orders.set_index("order_id")
    assert o.loc["#1001", "customer_email"] == "ann@example.com"
    assert o.loc["#1001", "total"] == 36.95 and o.loc["#1001", "currency"] == "USD"
    assert o.loc["#1001", "shipping_zip"] == "02134"  # Shopify's leading apostrophe removed
    assert o.loc["#1002", "shipping_state"] == "NY" and o.loc["#1002", "shipping_country"] == "US"
    assert o.loc["#1001", "created_at"] == pd.Timestamp("2025-03-01 15:00:00", tz="UTC")
    assert o["lat"].notna().all()
    assert list(lines["order_id"]) == ["#1001", "#1001", "#1002", "#1003", "#1003", "#1003"]
    assert list(lines["line_no"]) == [1, 2, 1, 1, 2, 3]
    assert list(lines["quantity"]) == [1, 2, 1, 3, 1, 1]
    assert lines.loc[1, "name"] == "Silk Shampoo"


def test_shopify_bad_line_rejects_whole_order(tmp_path, today):
    rows = list(GOOD_ORDERS)
    rows[4] = shopify_line("#1003", created="2025-03-03 12:00:00 -0500", qty="-2", item="Hydra Mask", sku="SKU-5")
    r = read_file(write(tmp_path / "orders.csv", SHOPIFY_HEADER, rows), "orders", today=today)
    p = r.problems
    assert list(p["row"]) == [6] and p.loc[0, "column"] == "Lineitem quantity"
    assert "negative" in p.loc[0, "reason"]
    assert r.rejected == 3  # all lines of #1003
    assert list(r.frames["orders"]["order_id"]) == ["#1001", "#1002"]
    assert len(r.frames["order_lines"]) == 3


def test_shopify_order_level_errors_point_at_first_line(tmp_path, today):
    rows = [shopify_line("#1", "a@b.com", "paid", "USD", "-5", "10", "2030-01-01 10:00:00 -0500",
                         zip_="02134", prov="MA", country="US"),
            shopify_line("#1", created="2030-01-01 10:00:00 -0500", qty="1"),
            shopify_line("#2", "b@b.com", "paid", "USD", "10", "10", "2025-01-01 10:00:00 -0500",
                         zip_="10001", prov="TX", country="US")]
    r = read_file(write(tmp_path / "orders.csv", SHOPIFY_HEADER, rows), "orders", today=today)
    p = r.problems.set_index(["row", "column"])
    assert "negative" in p.loc[(2, "Subtotal"), "reason"]
    assert "future" in p.loc[(2, "Created at"), "reason"]
    assert "is in NY, not TX" in p.loc[(4, "Shipping Zip"), "reason"]
    assert r.rejected == 3


def test_shopify_duplicate_order_blocks(tmp_path, today):
    rows = [GOOD_ORDERS[0], GOOD_ORDERS[2], GOOD_ORDERS[0]]
    r = read_file(write(tmp_path / "orders.csv", SHOPIFY_HEADER, rows), "orders", today=today)
    p = r.problems
    assert list(p["row"]) == [4] and "already started on row 2" in p.loc[0, "reason"]


def test_shopify_customers_both_header_generations(tmp_path, today):
    new = ("Customer ID,First Name,Last Name,Email,Default Address Zip,Default Address Province Code,"
           "Default Address Country Code,Total Spent,Total Orders")
    old = "Customer ID,First Name,Last Name,Email,Zip,Province Code,Country Code,Total Spent,Total Orders"
    for header in (new, old):
        path = write(tmp_path / "customers_export.csv", header,
                     ["7001,Ann,Lee,Ann@Example.com,2134,MA,US,$120.50,3", "7002,Bo,Ng,bo@x.com,10001,NY,US,0,0"])
        r = read_file(path, "customers", today=today)
        assert r.ok and r.format == "shopify", r.problems
        c = r.frames["customers"]
        assert list(c["zip"]) == ["02134", "10001"] and c.loc[0, "total_spent"] == 120.5
        assert c.loc[0, "email"] == "ann@example.com" and c.loc[0, "orders_count"] == 3


def test_hubspot_companies_and_deals(tmp_path, today):
    companies = write(
        tmp_path / "hubspot-companies.csv",
        "Record ID,Company name,Company Domain Name,Industry,City,State/Region,Postal Code,Country/Region,"
        "Annual Revenue,Number of Employees,Company owner,Lifecycle Stage",
        ["9001,Glow Spa,glow.com,Spa,Boston,Massachusetts,02134,United States,\"1,000,000\",25,Ann Lee,customer"],
    )
    r = read_file(companies, "accounts", today=today)
    assert r.ok and r.format == "hubspot", r.problems
    a = r.frames["accounts"]
    assert a.loc[0, "account_id"] == "9001" and a.loc[0, "state"] == "MA" and a.loc[0, "owner_id"] == "Ann Lee"
    deals = write(
        tmp_path / "hubspot-deals.csv",
        "Record ID,Deal Name,Deal Stage,Amount,Close Date,Associated Company IDs,Deal owner,Pipeline",
        ["5001,Spring order,Closed Won,2500,2025-04-01,9001;9002,Ann Lee,Sales Pipeline",
         "5002,Summer order,appointmentscheduled,$800.00,2025-08-01,9001,Ann Lee,Sales Pipeline"],
    )
    r = read_file(deals, "deals", today=today)
    assert r.ok and r.format == "hubspot", r.problems
    d = r.frames["opportunities"]
    assert list(d["account_id"]) == ["9001", "9001"]
    assert list(d["is_won"]) == [True, False] and list(d["is_closed"]) == [True, False]


def test_salesforce_contacts_opportunities_and_tasks(tmp_path, today):
    c = read_file(write(tmp_path / "contacts.csv", "Id,AccountId,FirstName,LastName,Email,Phone",
                        ["003A,001A,Ann,Lee,ann@x.com,555"]), "contacts", today=today)
    assert c.ok and c.format == "salesforce"
    t = read_file(write(tmp_path / "tasks.csv", "Id,WhatId,OwnerId,Subject,Type,ActivityDate,DurationInMinutes,Status",
                        ["00TA,001A,005X,Call with buyer,,2025-06-01,15,Completed",
                         "00TB,001A,005X,Quarterly review,Meeting,2025-06-02,60,Completed"]),
                  "activities", today=today)
    assert t.ok and list(t.frames["activities"]["type"]) == ["call", "meeting"]


MAPPING = """\
table: accounts
columns:
  account_id: "Cust No"
  name: "Customer"
  city: "Town"
  state: "St"
  zip: "Postcode"
  annual_revenue: "Revenue"
"""


def _generic_frame():
    return pd.DataFrame({"Cust No": ["C1", "C2"], "Customer": ["Ann's Salon", "Bo Spa"], "Town": ["Boston", "Austin"],
                         "St": ["MA", "Texas"], "Postcode": ["2134", "78701"], "Revenue": ["$1,000", "2500"]})


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_generic_with_yaml_mapping(tmp_path, today, suffix):
    (tmp_path / "map.yaml").write_text(MAPPING)
    df = _generic_frame()
    path = tmp_path / f"customers{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".xlsx":
        df["Postcode"] = [2134, 78701]  # a spreadsheet turned the ZIPs into numbers
        df.to_excel(path, index=False)
    else:
        df.to_parquet(path, index=False)
    r = read_file(path, "accounts", mapping=tmp_path / "map.yaml", today=today)
    assert r.ok, r.problems
    a = r.frames["accounts"]
    assert list(a["account_id"]) == ["C1", "C2"] and list(a["zip"]) == ["02134", "78701"]
    assert list(a["state"]) == ["MA", "TX"] and list(a["annual_revenue"]) == [1000.0, 2500.0]
    assert r.format == "generic+mapping"


def test_generic_excel_errors_have_sheet_rows(tmp_path, today):
    (tmp_path / "map.yaml").write_text(MAPPING)
    df = _generic_frame()
    df.loc[1, "Revenue"] = "n/a"
    df.to_excel(tmp_path / "c.xlsx", index=False)
    r = read_file(tmp_path / "c.xlsx", "accounts", mapping=tmp_path / "map.yaml", today=today)
    p = r.problems
    assert list(p["row"]) == [3] and p.loc[0, "column"] == "Revenue" and p.loc[0, "value"] == "n/a"


def test_bad_mapping_is_a_clear_message(tmp_path, today):
    (tmp_path / "map.yaml").write_text("table: accounts\ncolumns:\n  acount_id: X\n")
    _generic_frame().to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ImportFailed, match="unknown column.*acount_id"):
        read_file(tmp_path / "c.csv", "accounts", mapping=tmp_path / "map.yaml", today=today)


def test_alignment_and_territories(tmp_path, today):
    a = read_file(write(tmp_path / "alignment.csv", "Zip,Territory", ["2134,T01", "10001,T02", "02134,T02"]),
                  "alignment", today=today)
    assert list(a.problems["row"]) == [2, 4]  # 2134 and 02134 are the same ZIP
    t = read_file(write(tmp_path / "territories.csv", "Territory,Name,OwnerId", ["T01,Boston,005X", "T02,NYC,005Y"]),
                  "territories", format="generic", today=today)
    assert t.ok and list(t.frames["territories"]["rep_id"]) == ["005X", "005Y"]


def test_unknown_shipping_zip_is_a_warning_and_counted_unplaced(tmp_path, today):
    rows = [shopify_line("#1", "a@b.com", "paid", "USD", "10", "10", "2025-03-01 10:00:00 -0500",
                         zip_="99998", prov="AK", country="US")]
    r = read_file(write(tmp_path / "orders.csv", SHOPIFY_HEADER, rows), "orders", today=today)
    assert r.ok and r.unplaced == 1 and r.n_warnings == 2
    p = r.problems
    assert p["row"].isna().sum() == 1  # the file-level "cannot be placed" count
    assert "not found in the US ZIP table" in p.loc[p["row"] == 2, "reason"].iloc[0]


def test_excel_blank_rows_count(tmp_path, today):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["account_id", "name", "zip"])
    ws.append(["A1", "Ann", "02134"])
    ws.append([])
    ws.append(["A2", "", "10001"])
    wb.save(tmp_path / "acc.xlsx")
    r = read_file(tmp_path / "acc.xlsx", "accounts", format="generic", today=today)
    assert r.rows_read == 2 and list(r.problems["row"]) == [4]
