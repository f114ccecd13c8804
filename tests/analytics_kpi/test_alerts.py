"""Alert rules: parsing with line numbers, drift over consecutive periods, snapshots at
mid-quarter, a planted overload in the demo workspace that fires (and does not without the
plant), and webhook posts to a real HTTP server on loopback."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from _cli import command_app
from territorium.analytics import alerts as A
from territorium.commands import alerts as alerts_cmd

runner = CliRunner()


def test_rule_file_problems_are_reported_with_their_lines():
    text = ("alerts:\n"
            "  - name: a\n    metric: load\n    above: 1.1\n    for: 0\n"          # line 2: for 0
            "  - name: b\n    metrc: load\n    above: 1\n"                          # line 7: typo
            "  - name: c\n    metric: pace\n    below: 0.7\n    at: tea-time\n"     # line 12: at
            "  - name: d\n    metric: revenue\n    above: 1\n    below: 2\n")        # line 13: both
    with pytest.raises(A.AlertRuleError) as e:
        A.parse_rules(text, "rules.yaml")
    msg = str(e.value)
    assert "rules.yaml:5: a: 'for' is a whole number" in msg
    assert "rules.yaml:7: unknown field 'metrc' (did you mean 'metric'?)" in msg
    assert "rules.yaml:12: c: 'at' is quarter-start, mid-quarter, quarter-end or a share 0–1" in msg
    assert "rules.yaml:13: d: give exactly one of 'above' or 'below'" in msg
    with pytest.raises(A.AlertRuleError, match="not valid YAML"):
        A.parse_rules("alerts: [", "x")


def test_drift_needs_consecutive_complete_periods():
    rule = A.AlertRule("hot", "load", "above", 1.1, periods=3)
    weeks = list(pd.date_range("2025-03-03", periods=5, freq="7D"))
    d = pd.DataFrame({"group": ["A"] * 5 + ["B"] * 5 + ["C"] * 4,
                      "period": weeks + weeks + weeks[:2] + weeks[3:],
                      "load": [1.0, 1.2, 1.2, 1.2, 1.2,      # A: four in a row
                               1.2, 1.2, 1.2, 1.0, 1.3,      # B: broken last-but-one
                               1.2, 1.2, 1.2, 1.2]})         # C: a week with no data is a gap
    got = {a.group: a for a in A.evaluate(rule, d)}
    assert set(got) == {"A"} and got["A"].periods == 4 and got["A"].since == weeks[1]
    # the running week does not count: with it excluded A has three, still enough; B never
    cut = A.evaluate(rule, d, complete_before=weeks[4] + pd.Timedelta(days=6))
    assert [a.group for a in cut] == ["A"] and cut[0].periods == 3


def test_snapshot_waits_for_mid_quarter():
    rule = A.parse_rules("alerts:\n  - name: q\n    metric: pace\n    below: 0.7\n    at: mid-quarter\n")[0]
    d = pd.DataFrame({"group": ["T1", "T2"], "pace": [0.5, 0.9]})
    assert A.evaluate(rule, d, elapsed=0.3) == []
    fired = A.evaluate(rule, d, elapsed=0.6)
    assert [a.group for a in fired] == ["T1"] and fired[0].value == pytest.approx(0.5)


def test_the_packaged_example_rules_are_valid():
    r = runner.invoke(command_app(alerts_cmd), ["alerts", "--validate-only"])
    assert r.exit_code == 0, r.output
    assert "rule(s) OK" in r.output and "load > 1.1 for 4 weeks" in r.output


@pytest.fixture(scope="module")
def alert_ws(demo_small, tmp_path_factory):
    """A copy of the small demo database, its county alignment (one territory per state)."""
    from territorium.plan.workspace import Workspace

    out, url = demo_small
    d = tmp_path_factory.mktemp("alerts")
    db = d / "ws.db"
    shutil.copy(url.removeprefix("sqlite:///"), db)
    u = Workspace(f"sqlite:///{db}").load_units("county").units.table
    al = pd.DataFrame({"unit_id": u["unit_id"], "territory": ["S_" + n.split(", ")[-1] for n in u["name"]]})
    al.to_csv(d / "alignment.csv", index=False)
    return d, f"sqlite:///{db}"


RULE = ("alerts:\n  - name: overloaded\n    metric: load\n    by: territory\n    period: week\n"
        "    above: 1.1\n    for: 4\n")


def _run(url, folder, rules_text, *extra):
    rules = folder / "rules.yaml"
    rules.write_text(rules_text)
    return runner.invoke(command_app(alerts_cmd), [
        "alerts", "--rules", str(rules), "--units", "county", "--alignment", str(folder / "alignment.csv"),
        "--out", str(folder / "alerts.csv"), "--json", "--database", url, *extra])


def test_planted_overload_fires_and_nothing_fires_without_it(alert_ws):
    folder, url = alert_ws
    r = _run(url, folder, RULE)
    assert r.exit_code == 0, r.output
    base = json.loads(r.stdout)
    assert base["evaluated"] == ["overloaded"] and base["alerts"] == []     # the demo's reps are not overloaded
    asof = pd.Timestamp(base["asof"])
    # plant: 60 hours of visits a week (one rep has < 35 h a week of capacity) in NJ, for the
    # six complete weeks before the evaluation date
    eng = sa.create_engine(url)
    with eng.begin() as c:
        acc = [r[0] for r in c.execute(sa.text("SELECT account_id FROM accounts WHERE state = 'NJ' LIMIT 3"))]
        week0 = (asof - pd.Timedelta(days=asof.weekday())) - pd.Timedelta(weeks=6)
        rows = []
        for w in range(6):
            for i in range(12):
                day = (week0 + pd.Timedelta(weeks=w, days=i % 5)).date()
                rows.append({"id": f"plant-{w}-{i}", "acc": acc[i % len(acc)], "d": day})
        c.execute(sa.text("INSERT INTO activities (activity_id, account_id, rep_id, type, date, duration_min, status) "
                          "VALUES (:id, :acc, 'x', 'Visit', :d, 285, 'Completed')"), rows)
    eng.dispose()
    r = _run(url, folder, RULE, "--asof", base["asof"])
    assert r.exit_code == 0, r.output
    fired = json.loads(r.stdout)["alerts"]
    assert [a["group"] for a in fired] == ["S_NJ"]
    assert fired[0]["periods"] >= 4 and fired[0]["value"] > 1.1
    assert pd.Timestamp(fired[0]["since"]) <= week0 + pd.Timedelta(weeks=2)
    # cron: --fail-on-alert exits 3 when something fired
    assert _run(url, folder, RULE, "--asof", base["asof"], "--fail-on-alert").exit_code == 3


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alerts_are_posted_to_a_webhook_on_loopback(alert_ws):
    folder, url = alert_ws
    srv = HTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        hook = f"http://127.0.0.1:{srv.server_port}/hooks/territorium"
        rules = ("alerts:\n  - name: few visits\n    metric: visits\n    by: state\n    period: month\n"
                 f"    below: 1000000\n    for: 2\n    webhook: {hook}\n"
                 "  - name: dead hook\n    metric: visits\n    by: state\n    period: month\n    below: 1000000\n"
                 "    webhook: http://127.0.0.1:9/nothing-listens-here\n")
        r = _run(url, folder, rules, "--post")
        assert r.exit_code == 0, r.output
        res = json.loads(r.stdout)
    finally:
        srv.shutdown()
    assert len(_Hook.received) == 1
    path, ctype, body = _Hook.received[0]
    assert path == "/hooks/territorium" and ctype == "application/json"
    assert body["rule"] == "few visits" and len(body["alerts"]) == sum(a["rule"] == "few visits" for a in res["alerts"])
    assert any(p.startswith("dead hook: could not post") for p in res["posted"])


def test_outputs_follow_the_cli_output_rule(alert_ws, tmp_path):
    """A file Territorium did not write is not replaced without --force; an input never."""
    folder, url = alert_ws
    mine = tmp_path / "alerts.csv"
    mine.write_text("my own notes\n")
    rules = folder / "r.yaml"
    rules.write_text(RULE)
    args = ["alerts", "--rules", str(rules), "--units", "county", "--alignment", str(folder / "alignment.csv"),
            "--database", url]
    from territorium.commands._outputs import OutputRefused

    with pytest.raises(OutputRefused, match="was not written by Territorium"):
        runner.invoke(command_app(alerts_cmd), [*args, "--out", str(mine)], catch_exceptions=False)
    assert mine.read_text() == "my own notes\n"
    with pytest.raises(OutputRefused, match="is an input of this command"):
        runner.invoke(command_app(alerts_cmd), [*args, "--out", str(folder / "x.csv"), "--propose", str(rules)],
                      catch_exceptions=False)
    r = runner.invoke(command_app(alerts_cmd), [*args, "--out", str(mine), "--force"])
    assert r.exit_code == 0 and mine.read_text().startswith("rule,severity")
