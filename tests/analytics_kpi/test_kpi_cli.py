"""`territorium kpi` on the imported small demo: the totals agree with plain SQL over the
database, by territory and by state, and bad options are one-line errors."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from _cli import command_app
from territorium.commands import kpi as kpi_cmd

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    return command_app(kpi_cmd)


@pytest.fixture(scope="module")
def county_alignment(demo_small, tmp_path_factory):
    from territorium.plan.workspace import Workspace

    _, url = demo_small
    u = Workspace(url).load_units("county").units.table
    al = pd.DataFrame({"unit_id": u["unit_id"], "territory": ["S_" + n.split(", ")[-1] for n in u["name"]]})
    path = tmp_path_factory.mktemp("kpi") / "county_alignment.csv"
    al.to_csv(path, index=False)
    return path


def _sql(url, q):
    eng = sa.create_engine(url)
    with eng.connect() as c:
        out = pd.read_sql(sa.text(q), c)
    eng.dispose()
    return out


BOOKED = "(financial_status IS NULL OR financial_status IN ('paid','partially_paid','partially_refunded','pending','authorized'))"


def test_kpi_by_territory_adds_up_to_the_database(app, demo_small, county_alignment, tmp_path):
    _, url = demo_small
    r = runner.invoke(app, ["kpi", "--units", "county", "--alignment", str(county_alignment), "--period", "year",
                            "--out", str(tmp_path / "k"), "--json", "--database", url])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    c = pd.DataFrame(res["commerce"])
    total = _sql(url, f"SELECT COUNT(*) AS n, SUM(total) AS rev FROM orders WHERE {BOOKED}")
    assert c["orders"].sum() == total["n"].item()
    assert c["revenue"].sum() == pytest.approx(total["rev"].item(), rel=1e-9)
    # one territory per state here, so territory S_XX must equal the orders of XX's accounts
    # (+ the account-less orders shipped to XX) -- computed independently in SQL
    by_state = _sql(url, f"""
        SELECT COALESCE(a.state, o.shipping_state) AS st, SUM(o.total) AS rev
        FROM orders o LEFT JOIN accounts a ON a.account_id = o.account_id
        WHERE {BOOKED.replace('financial_status', 'o.financial_status')} GROUP BY 1""").dropna()
    got = c.assign(st=c["territory"].str[2:]).groupby("st")["revenue"].sum()
    for st, rev in zip(by_state["st"], by_state["rev"]):
        assert got.get(st, 0.0) == pytest.approx(rev, rel=1e-6), st
    assert (tmp_path / "k" / "commerce.csv").exists() and (tmp_path / "k" / "balance.csv").exists()
    b = pd.DataFrame(res["balance"]).set_index("measure")
    assert {"account_count", "workload"} <= set(b.index) and (b["max_dev"] >= 0).all()


def test_kpi_by_state_and_quarter_in_the_console(app, demo_small, county_alignment, tmp_path):
    _, url = demo_small
    r = runner.invoke(app, ["kpi", "--by", "state", "--period", "quarter", "--units", "county",
                            "--alignment", str(county_alignment), "--out", str(tmp_path / "k"), "--database", url])
    assert r.exit_code == 0, r.output
    assert "Commerce KPIs, quarter from" in r.output and "Plan balance" in r.output
    f = pd.read_csv(tmp_path / "k" / "field_sales.csv")
    assert {"state", "period", "pipeline", "win_rate", "visits", "coverage"} <= set(f.columns)
    assert f["coverage"].dropna().between(0, 1).all() and f["win_rate"].dropna().between(0, 1).all()


@pytest.mark.parametrize("args, msg", [
    (["--by", "planet"], "unknown group planet"),
    (["--period", "fortnight"], "unknown period 'fortnight'"),
    (["--from", "2025-13-01"], "--from: '2025-13-01' is not a date"),
])
def test_kpi_bad_options_are_one_line_errors(app, demo_small, county_alignment, tmp_path, args, msg):
    _, url = demo_small
    r = runner.invoke(app, ["kpi", *args, "--units", "county", "--alignment", str(county_alignment),
                            "--out", str(tmp_path / "k"), "--database", url])
    assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output


def test_conversion_cac_and_customer_value_from_real_shaped_files(app, demo_small, county_alignment, tmp_path):
    """Sessions in the shape of Shopify's "Sessions by location" export (state names), spend by
    state and channel: conversion = booked orders / sessions and CAC = spend / new customers,
    checked against SQL over the database."""
    _, url = demo_small
    states = _sql(url, "SELECT DISTINCT state FROM accounts WHERE state IS NOT NULL ORDER BY 1")["state"].tolist()
    import pycountry

    names = {s: pycountry.subdivisions.get(code=f"US-{s}").name for s in states}
    sess = pd.DataFrame({"Session country": "United States", "Session region": [names[s] for s in states],
                         "Session city": "", "Sessions": [10_000 + 100 * i for i in range(len(states))]})
    sess.to_csv(tmp_path / "sessions.csv", index=False)
    spend = pd.DataFrame({"Date": ["2026-01-15"] * len(states) * 2, "Region": states * 2,
                          "Channel": ["search"] * len(states) + ["social"] * len(states),
                          "Spend": [1000.0 + i for i in range(2 * len(states))]})
    spend.to_csv(tmp_path / "spend.csv", index=False)
    r = runner.invoke(app, ["kpi", "--units", "county", "--alignment", str(county_alignment), "--period", "year",
                            "--from", "2026-01-01", "--to", "2027-01-01", "--sessions", str(tmp_path / "sessions.csv"),
                            "--spend", str(tmp_path / "spend.csv"), "--out", str(tmp_path / "k"), "--json",
                            "--database", url])
    import traceback
    assert r.exit_code == 0, "".join(traceback.format_exception(*r.exc_info)) if r.exc_info else r.output
    res = json.loads(r.stdout)
    conv = pd.DataFrame(res["conversion"]).set_index("region")
    orders = _sql(url, f"""
        SELECT COALESCE(a.state, o.shipping_state) AS st, COUNT(*) AS n FROM orders o
        LEFT JOIN accounts a ON a.account_id = o.account_id
        WHERE {BOOKED.replace('financial_status', 'o.financial_status')}
          AND o.created_at >= '2026-01-01' AND o.created_at < '2027-01-01' GROUP BY 1""").dropna().set_index("st")["n"]
    for i, s in enumerate(states):
        row = conv.loc[f"US-{s}"]
        assert row["sessions"] == 10_000 + 100 * i
        assert row["orders"] == orders.get(s, 0)
        assert row["conversion_rate"] == pytest.approx(orders.get(s, 0) / (10_000 + 100 * i))
    cac = pd.DataFrame(res["cac"]).set_index("region")
    ch = pd.DataFrame(res["spend_by_channel"])
    assert ch["spend"].sum() == pytest.approx(spend["Spend"].sum())
    s0 = states[0]
    assert cac.loc[f"US-{s0}", "spend"] == pytest.approx(1000.0 + 1000.0 + len(states))
    if cac.loc[f"US-{s0}", "new_customers"] > 0:
        assert cac.loc[f"US-{s0}", "cac"] == pytest.approx(cac.loc[f"US-{s0}", "spend"] / cac.loc[f"US-{s0}", "new_customers"])
    clv = pd.DataFrame(res["clv"])
    assert len(clv) and (clv["value"] > 0).all() and (clv["orders"] >= 1).all()


def test_bad_rows_of_a_sessions_file_are_named(app, demo_small, county_alignment, tmp_path):
    _, url = demo_small
    pd.DataFrame({"Session country": ["United States", "United States", "Atlantis"],
                  "Session region": ["New York", "Gondor", "Nowhere"],
                  "Sessions": ["100", "12.5", "7"]}).to_csv(tmp_path / "s.csv", index=False)
    r = runner.invoke(app, ["kpi", "--units", "county", "--alignment", str(county_alignment), "--sessions",
                            str(tmp_path / "s.csv"), "--out", str(tmp_path / "k"), "--database", url])
    assert r.exit_code == 2 and "Traceback" not in r.output
    text = " ".join(r.output.split())
    assert "row 3, column Session region: 'Gondor' is not a region of US" in text
    assert "row 4, column Session country: 'Atlantis' is not a country" in text
    assert "row 3, column Sessions: '12.5' is not a whole number" in text
