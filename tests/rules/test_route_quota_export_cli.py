"""`territorium route`, `quota` and `export` end to end on the imported small demo
(in-process Typer app, real SQLite, county units)."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from _cli import command_app
from territorium.commands import export as export_cmd
from territorium.commands import quota as quota_cmd
from territorium.commands import route as route_cmd

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    return command_app(route_cmd, quota_cmd, export_cmd)


def _run(app, demo, *args):
    return runner.invoke(app, [*args, "--database", demo["url"]])


def test_route_validate_only_reports_lines_and_exits_2(app, rules_demo, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("rules:\n  - name: a\n    when: {industri: Salon}\n    assign: {territory: S_NY}\n"
                   "  - name: b\n    when: {employees: {range: [10, 5]}}\n    assign: {rep: nobody}\n")
    r = _run(app, rules_demo, "route", "--rules", str(bad), "--validate-only", "--units", "county",
             "--alignment", str(rules_demo["alignment"]), "--json")
    assert r.exit_code == 2, r.output
    issues = json.loads(r.stdout)["issues"]
    got = {(i["code"], i["line"]) for i in issues}
    assert ("unknown_field", 3) in got and ("unknown_rep", 7) in got and ("empty", 6) in got
    assert any("did you mean 'industry'" in i["message"] for i in issues)


def test_route_demo_rules_account_by_account(app, rules_demo, tmp_path):
    out = tmp_path / "routed.csv"
    r = _run(app, rules_demo, "route", "--units", "county", "--alignment", str(rules_demo["alignment"]),
             "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["accounts"] == 1500 and payload["unrouted"] == 0
    assert payload["credit"]["ok"] and payload["credit"]["credited"] == pytest.approx(payload["credit"]["revenue"])
    routed = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("account_id")
    from territorium.plan.workspace import Workspace

    acc = Workspace(rules_demo["url"]).table("accounts").set_index("account_id")
    acc = acc.loc[routed.index]
    # the example rules, recomputed here from the raw fields, account by account
    ds = (acc["industry"] == "Department Store") & (acc["segment"] == "Enterprise")
    z = acc["zip"].fillna("")
    metro = ds & (z >= "10000") & (z <= "11999")
    mid = ds & ~metro & acc["state"].isin(["NY", "NJ", "PA"])
    sne = ds & ~metro & acc["state"].isin(["CT", "MA", "RI"])
    assert (routed.loc[metro, "rep_id"] == "0058d0000Ggr5sLAQQ").all() and metro.sum() > 0
    assert (routed.loc[mid, "rep_id"] == "0058d0000Ggr5spAQA").all() and mid.sum() > 0
    assert (routed.loc[sne, "rep_id"] == "0058d0000Ggr5t9AQA").all()
    manhattan = ~ds & acc["segment"].isin(["Enterprise", "Mid-Market"]) & (z >= "10001") & (z <= "10282")
    assert (routed.loc[manhattan, "rule"] == "manhattan-enterprise").all() and manhattan.sum() > 0
    # round robin: members take turns in account-id order
    rr = routed.loc[manhattan].sort_index()["rep_id"].tolist()
    members = sorted(set(rr))
    assert len(members) > 1 and all(rr[i] != rr[i + 1] for i in range(len(rr) - 1))
    channel = ~ds & ~manhattan & acc["account_type"].str.startswith("Customer - Channel")
    assert (routed.loc[channel, "rule"] == "channel-partners").all()
    # everything else: the territory its county is in (one territory per state here)
    rest = ~(ds | manhattan | channel)
    expect_t = "S_" + acc.loc[rest, "state"]
    assert (routed.loc[rest, "territory"] == expect_t).all() and (routed.loc[rest, "via"] == "fallback").all()
    assert routed["explanation"].str.contains(r"\(line \d+\)").all()
    changes = pd.read_csv(tmp_path / "routed_changes.csv", dtype=str)
    assert len(changes) == payload["changed"] == int((routed["changed"] == "True").sum())


def test_route_dry_run_writes_only_the_change_list(app, rules_demo, tmp_path):
    out = tmp_path / "r.csv"
    r = _run(app, rules_demo, "route", "--units", "county", "--alignment", str(rules_demo["alignment"]),
             "--out", str(out), "--dry-run")
    assert r.exit_code == 0, r.output
    assert not out.exists() and (tmp_path / "r_changes.csv").exists()
    assert "Would change" in r.output


def test_quota_totals_bounds_backtest(app, rules_demo, tmp_path):
    out = tmp_path / "q.csv"
    r = _run(app, rules_demo, "quota", "--units", "county", "--alignment", str(rules_demo["alignment"]),
             "--total", "1.5M", "--cap", "+30%", "--floor", "-10%", "--round", "1000", "--backtest",
             "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    p = json.loads(r.stdout)
    q = pd.read_csv(out)
    assert q["quota"].sum() == 1_500_000 and p["quota_sum"] == 1_500_000
    assert ((q["quota"] % 1000) == 0).sum() >= len(q) - 1
    last = q["sales_last_12m"]
    assert (q["quota"] <= last * 1.3 + 1000).all() and (q["quota"] >= last * 0.9 - 1000).all()
    monthly = pd.read_csv(tmp_path / "q_monthly.csv").set_index("territory")
    assert monthly.sum(axis=1).tolist() == q.set_index("territory")["quota"].tolist()
    bt = pd.read_csv(tmp_path / "q_backtest.csv")
    assert bt["weight"].tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert p["backtest"]["best_weight"] in bt["weight"].tolist()
    best = bt.sort_values(["share_90_110", "gini"], ascending=[False, True]).iloc[0]["weight"]
    assert p["backtest"]["best_weight"] == best
    roll = pd.read_csv(tmp_path / "q_rollup.csv").set_index("node")
    assert roll.loc[roll["depth"] == 0, "quota"].iloc[0] == 1_500_000
    goals = pd.read_csv(tmp_path / "q_goals.csv")
    for col in ("visits_goal", "new_accounts_goal", "conversion_goal", "aov_goal"):
        assert col in goals.columns


def test_quota_infeasible_caps_exit_2(app, rules_demo, tmp_path):
    r = _run(app, rules_demo, "quota", "--units", "county", "--alignment", str(rules_demo["alignment"]),
             "--total", "5M", "--cap", "+30%", "--no-goals", "--out", str(tmp_path / "q.csv"))
    assert r.exit_code == 2
    assert "caps allow at most" in r.output and "short" in r.output
    assert not (tmp_path / "q.csv").exists()


def test_export_salesforce_and_csv_agree(app, rules_demo, tmp_path):
    from territorium.plan.exporting import read_salesforce

    r = _run(app, rules_demo, "export", "--units", "county", "--alignment", str(rules_demo["alignment"]),
             "--format", "salesforce", "--format", "csv", "--format", "excel", "--out", str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    files = json.loads(r.stdout)["files"]
    sf = read_salesforce(tmp_path / "salesforce")
    gen = pd.read_csv(files["csv"][0], dtype=str, keep_default_na=False)
    assert sf["accounts"] == dict(zip(gen["account_id"], gen["territory_id"]))
    assert len(gen) == 1500 and set(gen["territory_id"]) == {f"S_{s}" for s in
                                                              ("CT", "MA", "ME", "NH", "NJ", "NY", "PA", "RI", "VT")}
    # each account sits in its state's territory (the alignment is one territory per state)
    assert (gen["territory_id"] == "S_" + gen["state"]).all()


def test_export_bad_alignment_exit_2(app, rules_demo, tmp_path):
    bad = tmp_path / "al.csv"
    pd.DataFrame({"unit_id": ["36061", "99999"], "territory": ["T1", "T2"]}).to_csv(bad, index=False)
    r = _run(app, rules_demo, "export", "--units", "county", "--alignment", str(bad), "--out", str(tmp_path))
    assert r.exit_code == 2
    assert "row 3 ('99999')" in r.output and "county unit" in r.output


def test_route_a_file_of_new_accounts(app, rules_demo, tmp_path):
    new = tmp_path / "new_accounts.csv"
    pd.DataFrame({
        "account_id": ["N1", "N2", "N3"], "name": ["Fifth Ave Store", "Hoboken Salon", "Portland Spa"],
        "state": ["NY", "NJ", "ME"], "zip": ["10022", "07030", "04101"],
        "industry": ["Department Store", "Salon", "Spa"], "segment": ["Enterprise", "SMB", "SMB"],
        "account_type": ["Prospect", "Prospect", "Customer - Channel"],
    }).to_csv(new, index=False)
    out = tmp_path / "new_routed.csv"
    r = _run(app, rules_demo, "route", "--accounts", str(new), "--units", "county",
             "--alignment", str(rules_demo["alignment"]), "--out", str(out))
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("account_id")
    assert got.loc["N1", "rep_id"] == "0058d0000Ggr5sLAQQ" and got.loc["N1", "rule"] == "house-accounts-new-york-metro"
    assert got.loc["N2", "territory"] == "S_NJ" and got.loc["N2", "via"] == "fallback"
    assert got.loc["N3", "rule"] == "channel-partners" and got.loc["N3", "territory"] == "S_ME"
    bad = tmp_path / "bad_accounts.csv"
    bad.write_text("account_id,name,employees\nX1,Shop,many\n")
    r = _run(app, rules_demo, "route", "--accounts", str(bad), "--units", "county",
             "--alignment", str(rules_demo["alignment"]), "--out", str(tmp_path / "x.csv"))
    assert r.exit_code == 2 and "bad_accounts.csv" in r.output and "employees" in r.output
