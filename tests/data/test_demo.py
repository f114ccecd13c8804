"""The demo company (``territorium.data.demo``), on the small size."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from territorium.cli import app
from territorium.data.demo import SHOPIFY_LINE_COLUMNS, generate
from territorium.geo.reference import normalize_state, zip_table

STATES = ["NY", "NJ", "PA", "CT", "MA", "RI", "NH", "VT", "ME"]
FILES = ["users.csv", "accounts.csv", "contacts.csv", "opportunities.csv", "activities.csv",
         "shopify_customers.csv", "shopify_orders.csv", "territories.csv",
         "legacy_alignment.csv"]

# The headers as the real systems export them, written out here on purpose (not imported).
EXPECTED_HEADERS = {
    "users.csv": "Id,FirstName,LastName,Email,Title,IsActive,PostalCode,Capacity_Hours__c,"
                 "FTE__c,Skills__c",
    "accounts.csv": "Id,Name,Type,Industry,BillingStreet,BillingCity,BillingState,"
                    "BillingPostalCode,BillingCountry,AnnualRevenue,NumberOfEmployees,OwnerId,"
                    "Segment__c,Tier__c,Product_Lines__c,Potential__c",
    "contacts.csv": "Id,AccountId,FirstName,LastName,Email,Phone",
    "opportunities.csv": "Id,AccountId,Name,StageName,Amount,CloseDate,Probability,OwnerId,"
                         "IsWon,IsClosed",
    "activities.csv": "Id,WhatId,OwnerId,Subject,Type,ActivityDate,DurationInMinutes,Status",
    "territories.csv": "Territory,Name,OwnerId",
    "legacy_alignment.csv": "Zip,Territory",
    "shopify_customers.csv": "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,"
                             "Default Address Company,Default Address Address1,"
                             "Default Address Address2,Default Address City,"
                             "Default Address Province Code,Default Address Country Code,"
                             "Default Address Zip,Default Address Phone,Phone,"
                             "Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags",
    "shopify_orders.csv": "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,"
                          "Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,"
                          "Discount Code,Discount Amount,Shipping Method,Created at,"
                          "Lineitem quantity,Lineitem name,Lineitem price,"
                          "Lineitem compare at price,Lineitem sku,Lineitem requires shipping,"
                          "Lineitem taxable,Lineitem fulfillment status,Billing Name,"
                          "Billing Street,Billing Address1,Billing Address2,Billing Company,"
                          "Billing City,Billing Zip,Billing Province,Billing Country,"
                          "Billing Phone,Shipping Name,Shipping Street,Shipping Address1,"
                          "Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
                          "Shipping Province,Shipping Country,Shipping Phone,Notes,"
                          "Note Attributes,Cancelled at,Payment Method,Payment Reference,"
                          "Refunded Amount,Vendor,Outstanding Balance,Employee,Location,"
                          "Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,"
                          "Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,"
                          "Tax 4 Name,Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,"
                          "Duties,Billing Province Name,Shipping Province Name,Payment ID,"
                          "Payment Terms Name,Next Payment Due At,Payment References",
}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    summary = generate(out, seed=7, size="small")
    assert summary.out_dir == out
    return out


@pytest.fixture(scope="module")
def t(demo_dir) -> dict[str, pd.DataFrame]:
    return {f: pd.read_csv(demo_dir / f, dtype=str, keep_default_na=False) for f in FILES}


@pytest.fixture(scope="module")
def orders(t) -> pd.DataFrame:
    o = t["shopify_orders.csv"].copy()
    o["first"] = o["Name"].ne(o["Name"].shift())
    return o


def _money(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.replace("", "0"))


def test_same_seed_same_bytes_and_cli_json(demo_dir, tmp_path):
    out = tmp_path / "again"
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--size", "small", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["seed"] == 7 and summary["size"] == "small"
    assert [f["file"] for f in summary["files"]] == FILES
    for f in FILES + ["manifest.yaml", "README.txt", "states.txt", "truth.yaml"]:
        assert (demo_dir / f).read_bytes() == (out / f).read_bytes(), f


def test_other_seed_other_data(demo_dir, tmp_path):
    generate(tmp_path, seed=8, size="small")
    for f in ["users.csv", "accounts.csv", "contacts.csv", "activities.csv",
              "shopify_orders.csv", "shopify_customers.csv"]:
        assert (demo_dir / f).read_bytes() != (tmp_path / f).read_bytes(), f


def test_headers_verbatim(demo_dir):
    for f, expected in EXPECTED_HEADERS.items():
        with open(demo_dir / f, newline="", encoding="utf-8") as fh:
            assert next(csv.reader(fh)) == expected.split(","), f
    # Shopify writes its header unquoted
    first = (demo_dir / "shopify_orders.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == EXPECTED_HEADERS["shopify_orders.csv"]


def test_manifest_states_readme(demo_dir):
    m = yaml.safe_load((demo_dir / "manifest.yaml").read_text(encoding="utf-8"))
    assert m["company"] == "Lumière & Co." and m["seed"] == 7 and m["size"] == "small"
    assert m["today"] == "2026-11-01" and m["states"] == STATES
    assert [(e["file"], e["table"]) for e in m["files"]] == [
        ("users.csv", "reps"), ("accounts.csv", "accounts"), ("contacts.csv", "contacts"),
        ("opportunities.csv", "opportunities"), ("activities.csv", "activities"),
        ("shopify_customers.csv", "customers"), ("shopify_orders.csv", "orders"),
        ("territories.csv", "territories"), ("legacy_alignment.csv", "alignment")]
    assert all(e["format"] in ("salesforce", "shopify", "generic") for e in m["files"])
    assert (demo_dir / "states.txt").read_text().strip() == "NY,NJ,PA,CT,MA,RI,NH,VT,ME"
    assert "shopify_orders.csv" in (demo_dir / "README.txt").read_text(encoding="utf-8")


def test_sizes(t, orders):
    assert 1_300 <= len(t["accounts.csv"]) <= 1_700
    assert 15_000 <= len(orders) <= 25_000
    users = t["users.csv"]
    assert (users["Title"] == "Account Executive").sum() == 40
    assert (users["Title"] == "Regional Sales Manager").sum() >= 1
    assert len(t["territories.csv"]) == 40
    cap = users["Capacity_Hours__c"].astype(float)
    ae = users["Title"] == "Account Executive"
    fte = users["FTE__c"].astype(float)
    assert (fte[ae] == 0.5).sum() >= 2
    assert cap[ae & (fte == 1)].between(1300, 1700).all()
    skills = users["Skills__c"].str.split(";").explode()
    assert set(skills) <= {"Skincare", "Haircare", "Fragrance", "Apparel", "Enterprise"}


def test_salesforce_ids(t):
    suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    for f, prefix in [("users.csv", "005"), ("accounts.csv", "001"), ("contacts.csv", "003"),
                      ("opportunities.csv", "006")]:
        ids = t[f]["Id"]
        assert ids.is_unique and ids.str.len().eq(18).all() and ids.str.startswith(prefix).all()
        for i in ids.iloc[:50]:
            chk = "".join(suffix[sum(1 << b for b in range(5) if i[5 * k + b].isupper())]
                          for k in range(3))
            assert i[15:] == chk, i
    acts = t["activities.csv"]
    assert acts["Id"].is_unique
    assert acts.loc[acts["Type"] == "Visit", "Id"].str.startswith("00U").all()
    assert acts.loc[acts["Type"] != "Visit", "Id"].str.startswith("00T").all()


def test_references(t):
    users = set(t["users.csv"]["Id"])
    accts = set(t["accounts.csv"]["Id"])
    assert set(t["accounts.csv"]["OwnerId"]) <= users
    assert set(t["contacts.csv"]["AccountId"]) <= accts
    assert set(t["opportunities.csv"]["AccountId"]) <= accts
    assert set(t["opportunities.csv"]["OwnerId"]) <= users
    assert set(t["activities.csv"]["WhatId"]) <= accts
    assert set(t["activities.csv"]["OwnerId"]) <= users
    assert set(t["territories.csv"]["OwnerId"]) <= users
    assert t["territories.csv"]["OwnerId"].is_unique
    assert set(t["legacy_alignment.csv"]["Territory"]) == set(t["territories.csv"]["Territory"])
    # every account has at least one contact, all on the account's own e-mail domain
    con = t["contacts.csv"]
    assert set(con["AccountId"]) == accts
    domain = con["Email"].str.split("@").str[1].str.lower()
    assert domain.groupby(con["AccountId"]).nunique().max() == 1
    assert domain.groupby(con["AccountId"]).first().is_unique
    assert not con["Email"].str.lower().duplicated().any()


def test_zips_real_and_in_region(t, orders):
    z = zip_table()
    region = z[z["state"].isin(STATES)]
    state_of = region["state"].to_dict()
    acc = t["accounts.csv"]
    pc = acc["BillingPostalCode"]
    assert pc.str.fullmatch(r"\d{5}(-\d{4})?").all()
    assert pc.str.len().eq(10).any() and pc.str.len().eq(5).any()
    z5 = pc.str[:5]
    assert z5.isin(state_of).all()
    assert (acc["BillingState"].map(normalize_state) == z5.map(state_of)).all()
    assert acc["BillingState"].str.len().gt(2).any()          # a few full state names
    assert set(acc["BillingCountry"]) == {"United States", "US", "USA"}
    assert (region.loc[z5, "zip_type"] == "STANDARD").all()
    assert t["users.csv"]["PostalCode"].isin(state_of).all()
    first = orders[orders["first"]]
    for col, st in [("Billing Zip", "Billing Province"), ("Shipping Zip", "Shipping Province")]:
        assert first[col].isin(state_of).all()
        assert (first[col].map(state_of) == first[st]).all()
    cust = t["shopify_customers.csv"]
    assert cust["Default Address Zip"].isin(state_of).all()
    # every region has some accounts: all nine states and most counties
    assert set(z5.map(state_of)) == set(STATES)


def test_accounts_concentrate_in_big_cities(t):
    z = zip_table()
    std = z[z["state"].isin(STATES) & (z["zip_type"] == "STANDARD")]
    nyc = {"New York County", "Kings County", "Queens County", "Bronx County", "Richmond County"}
    nyc_zips = set(std.loc[(std["state"] == "NY") & std["county"].isin(nyc), "zip"])
    zip_share = len(nyc_zips) / len(std)
    acc_share = t["accounts.csv"]["BillingPostalCode"].str[:5].isin(nyc_zips).mean()
    assert acc_share > 3 * zip_share, (acc_share, zip_share)


def test_accounts_believable(t):
    a = t["accounts.csv"]
    assert set(a["Industry"]) == {"Salon", "Spa", "Boutique", "Pharmacy", "Department Store",
                                  "Medspa"}
    assert set(a["Type"]) == {"Customer - Direct", "Customer - Channel", "Prospect"}
    dept = a[a["Industry"] == "Department Store"]
    assert (dept["Segment__c"] == "Enterprise").mean() > 0.8
    pot = a["Potential__c"].astype(float)
    by_tier = pot.groupby(a["Tier__c"]).median()
    assert by_tier["A"] > by_tier["B"] > by_tier["C"]
    ent = a["Segment__c"] == "Enterprise"
    assert (a.loc[ent, "Tier__c"] == "A").mean() > (a.loc[~ent, "Tier__c"] == "A").mean()
    lines = a["Product_Lines__c"].str.split(";").explode()
    assert set(lines) == {"Skincare", "Haircare", "Fragrance", "Apparel"}
    assert a["AnnualRevenue"].str.fullmatch(r"\d+").all()


def test_order_totals_consistent(orders):
    first = orders[orders["first"]]
    total = _money(first["Total"])
    calc = (_money(first["Subtotal"]) - _money(first["Discount Amount"])
            + _money(first["Shipping"]) + _money(first["Taxes"]))
    assert (total - calc).abs().max() < 0.005
    line_amt = (orders["Lineitem quantity"].astype(int)
                * _money(orders["Lineitem price"])).groupby(orders["Name"]).sum()
    sub = _money(first.set_index("Name")["Subtotal"])
    assert (line_amt.loc[sub.index] - sub).abs().max() < 0.005
    assert set(first["Currency"]) == {"USD"}
    assert first["Created at"].str.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d -0[45]00").all()
    assert (first["Created at"].str[:10] < "2026-11-01").all()


def test_order_level_fields_only_on_first_line(orders):
    names = orders["Name"]
    # each order is one block of rows
    assert names.ne(names.shift()).sum() == names.nunique()
    order_cols = [c for c in orders.columns if c not in SHOPIFY_LINE_COLUMNS and c != "first"]
    rest = orders[~orders["first"]]
    assert len(rest) > 0
    assert (rest[order_cols] == "").all().all()
    first = orders[orders["first"]]
    for c in ["Financial Status", "Created at", "Total", "Billing Zip", "Id"]:
        assert (first[c] != "").all(), c
    for c in ["Lineitem name", "Lineitem sku", "Lineitem price", "Email"]:
        assert (orders[c] != "").all(), c


def test_wholesale_orders_placed_by_account_contacts(t, orders):
    con = t["contacts.csv"].merge(t["accounts.csv"][["Id", "Name", "BillingPostalCode"]],
                                  left_on="AccountId", right_on="Id", suffixes=("", "_acc"))
    first = orders[orders["first"]]
    w = first[first["Tags"] == "wholesale"]
    assert 0.03 < len(w) / len(first) < 0.5
    assert w["Email"].isin(con["Email"]).all()
    j = w.merge(con, on="Email")
    assert (j["Billing Company"] == j["Name_y"]).all()
    assert (j["Shipping Zip"] == j["BillingPostalCode"].str[:5]).all()
    dtc = first[first["Tags"] != "wholesale"]
    assert not dtc["Email"].isin(con["Email"]).any()
    qty = orders["Lineitem quantity"].astype(int)
    is_w = orders["Name"].isin(w["Name"])
    assert qty[is_w].mean() > 3 * qty[~is_w].mean()


def test_customers_match_orders(t, orders):
    cust = t["shopify_customers.csv"]
    assert cust["Email"].is_unique and cust["Customer ID"].is_unique
    first = orders[orders["first"]]
    assert first["Email"].isin(cust["Email"]).all()
    n = first.groupby("Email").size()
    c = cust.set_index("Email")
    assert (c["Total Orders"].astype(int) == n.reindex(c.index, fill_value=0)).all()
    ok = first["Financial Status"] != "voided"
    spent = (_money(first["Total"]) - _money(first["Refunded Amount"]))[ok]
    spent = spent.groupby(first.loc[ok, "Email"]).sum().reindex(c.index, fill_value=0)
    assert (c["Total Spent"].astype(float) - spent).abs().max() < 0.01
    assert (c.loc[c["Tags"] == "wholesale"].index.isin(t["contacts.csv"]["Email"])).all()


def test_seasonality_and_growth(orders):
    first = orders[orders["first"] & (orders["Tags"] != "wholesale")]
    month = first["Created at"].str[:7]
    per_month = month.value_counts().sort_index()
    q4 = per_month[per_month.index.str[5:].isin(["11", "12"])].mean()
    assert q4 > 1.2 * per_month.mean()
    assert per_month.iloc[12:].sum() > 1.1 * per_month.iloc[:12].sum()   # year 2 > year 1


def test_legacy_alignment_covers_region_and_is_unbalanced(t):
    z = zip_table()
    std = z[z["state"].isin(STATES) & (z["zip_type"] == "STANDARD")]
    al = t["legacy_alignment.csv"]
    assert al["Zip"].is_unique
    assert set(al["Zip"]) == set(std["zip"])
    terr = al.set_index("Zip")["Territory"]
    acc_terr = t["accounts.csv"]["BillingPostalCode"].str[:5].map(terr)
    counts = acc_terr.value_counts().reindex(t["territories.csv"]["Territory"], fill_value=0)
    assert counts.min() > 0
    assert counts.max() / counts.min() > 1.5
    # most accounts are owned by their territory's rep (legacy owner), not all
    owner = t["territories.csv"].set_index("Territory")["OwnerId"]
    same = (t["accounts.csv"]["OwnerId"].to_numpy() == acc_terr.map(owner).to_numpy()).mean()
    assert 0.8 < same < 1.0


def test_opportunities_and_activities(t):
    o = t["opportunities.csv"]
    assert set(o["IsWon"]) == {"TRUE", "FALSE"} and set(o["IsClosed"]) == {"TRUE", "FALSE"}
    assert ((o["StageName"] == "Closed Won") == (o["IsWon"] == "TRUE")).all()
    assert (o.loc[o["IsClosed"] == "FALSE", "CloseDate"] >= "2026-11-01").all()
    assert (o.loc[o["IsClosed"] == "TRUE", "CloseDate"] < "2026-11-01").all()
    a = t["activities.csv"]
    assert set(a["Type"]) == {"Visit", "Call", "Email"}
    assert set(a["Status"]) == {"Completed"}
    d = pd.to_datetime(a["ActivityDate"])
    assert d.min() >= pd.Timestamp("2024-11-01") and d.max() < pd.Timestamp("2026-11-01")
    assert (d.dt.day_of_week < 5).all()
    assert len(a) > 3 * len(t["accounts.csv"])


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, size="huge")
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--size", "huge"])
    assert res.exit_code != 0
    assert not any(tmp_path.iterdir())
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--today", "1 Nov"])
    assert res.exit_code != 0
    with pytest.raises(TypeError):
        generate(tmp_path, today="2026-11-01")


def test_truth_file_written_and_not_imported(demo_dir):
    from territorium.data.demo_effects import load_truth

    truth = load_truth(demo_dir / "truth.yaml")
    m = yaml.safe_load((demo_dir / "manifest.yaml").read_text(encoding="utf-8"))
    assert "truth.yaml" not in [e["file"] for e in m["files"]]
    assert truth["seed"] == 7 and truth["size"] == "small"
    assert set(truth) >= {"history", "revenue", "campaign", "visits", "realignment"}
    assert truth["campaign"]["realised"]["state_month"]["att_log"] > 0
    assert truth["realignment"]["realised"]["lost_revenue"] >= 0
    assert "truth.yaml" in (demo_dir / "README.txt").read_text(encoding="utf-8")


def test_planted_effects_leave_the_company_unchanged(demo_dir, tmp_path, monkeypatch):
    """The effects draw from their own stream: switching them off changes orders only (and the
    owners of activities and deals before the realignment), never accounts, reps, territories."""
    from territorium.data import demo_effects as E

    monkeypatch.setattr(E, "CAMPAIGN_WAVES", ())
    monkeypatch.setattr(E, "VISIT_EXTRA_ORDERS", 0.0)
    monkeypatch.setattr(E, "DIP", 0.0)
    generate(tmp_path, seed=7, size="small")
    for f in ["users.csv", "accounts.csv", "contacts.csv", "territories.csv",
              "legacy_alignment.csv"]:
        assert (demo_dir / f).read_bytes() == (tmp_path / f).read_bytes(), f
    assert (demo_dir / "shopify_orders.csv").read_bytes() != (tmp_path / "shopify_orders.csv").read_bytes()
    plain = pd.read_csv(tmp_path / "activities.csv", dtype=str)
    planted = pd.read_csv(demo_dir / "activities.csv", dtype=str)
    assert (plain.drop(columns="OwnerId") == planted.drop(columns="OwnerId")).all().all()
