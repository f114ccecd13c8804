"""``territorium plan ...`` through the Typer app on a real SQLite file."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1]))
from _cli import command_app  # noqa: E402
from _planws import REVENUE, fill  # noqa: E402

from territorium import store  # noqa: E402
from territorium.commands import plan as plan_cmd  # noqa: E402

APP = command_app(plan_cmd)


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'ws.db'}"
    eng = store.engine(url)
    fill(eng)
    eng.dispose()
    (tmp_path / "plan.csv").write_text("unit_id,name,territory,moved_from,reason\n10001,A,T1,,\n10002,B,T1,,\n"
                                       "10003,C,T2,,\n")
    (tmp_path / "staff.csv").write_text("territory_id,rep_id,rep_name\nT1,r1,Ann\nT2,r2,Bo\n")
    return url, tmp_path


def run(*args):
    r = CliRunner().invoke(APP, ["plan", *map(str, args)])
    return r.exit_code, r.output


def test_import_edit_review_promote_and_ask_who_owned(db):
    url, d = db
    bad = d / "bad.csv"
    bad.write_text("territory_id,rep_id\nT1,\nT2,r2\n")
    code, out = run("import", "p1", "--alignment", d / "plan.csv", "--staffing", bad, "--database", url)
    assert code == 2 and "bad.csv: row 2, column 'rep_id': empty rep id" in " ".join(out.split())
    code, out = run("import", "p1", "--alignment", d / "plan.csv", "--staffing", d / "staff.csv", "--seed", "4",
                    "--database", url)
    assert code == 0, out
    code, out = run("copy", "p1", "s1", "--actor", "bob", "--database", url)
    assert code == 0 and "version 1" in out
    code, out = run("move", "s1", "10002=T2", "--reason", "balance", "--actor", "bob", "--database", url)
    assert code == 0 and "version 2" in out
    # a stale version is refused with exit 3 and says who changed what
    code, out = run("move", "s1", "10001=T2", "--expect-version", "1", "--database", url)
    assert code == 3 and "bob" in out and "10002" in out
    code, out = run("diff", "p1", "s1", "--out", d / "moved.csv", "--database", url)
    assert code == 0, out
    moved = pd.read_csv(d / "moved.csv")
    assert sorted(moved["account_id"]) == ["b1", "b2", "b3"]
    assert moved["revenue"].sum() == pytest.approx(REVENUE["b1"] + REVENUE["b2"] + REVENUE["b3"])
    code, out = run("promote", "p1", "--effective", "2026-01-01", "--database", url)
    assert code == 2 and "only an approved plan" in out
    code, out = run("promote", "p1", "--effective", "2026-01-01", "--through-review", "--database", url)
    assert code == 0 and "active" in out
    code, out = run("promote", "s1", "--effective", "2026-03-15", "--through-review", "--database", url)
    assert code == 0, out
    code, out = run("owner", "b1", "--at", "2026-03-01", "--database", url)
    assert code == 0 and "rep r1, territory T1 (plan p1 v4" in out
    code, out = run("owner", "b1", "--database", url)
    assert [line.split()[4] for line in out.strip().splitlines()] == ["r1", "r2"]
    code, out = run("list", "--json", "--database", url)
    st = {p["name"]: p["status"] for p in json.loads(out)}
    assert st == {"p1": "archived", "s1": "active"}
    code, out = run("history", "s1", "--out", d / "ev.csv", "--database", url)
    ev = pd.read_csv(d / "ev.csv")
    assert ev["field"].tolist() == ["created", "territory", "status", "status", "status", "effective"]


def test_restore_and_show_an_old_version(db):
    url, d = db
    run("import", "p1", "--alignment", d / "plan.csv", "--database", url)
    run("move", "p1", "10001=T2", "10002=T2", "--database", url)
    code, out = run("show", "p1@1", "--json", "--database", url)
    units = {t["territory_id"]: t["units"] for t in json.loads(out)["territories"]}
    assert units == {"T1": 2, "T2": 1}
    code, out = run("restore", "p1", "1", "--database", url)
    assert code == 0 and "version 3" in out
    code, out = run("show", "p1", "--json", "--database", url)
    assert {t["territory_id"]: t["units"] for t in json.loads(out)["territories"]} == {"T1": 2, "T2": 1}
    code, out = run("restore", "p1", "9", "--database", url)
    assert code == 2 and "earlier versions 1 to 3" in " ".join(out.split())
    code, out = run("show", "nope", "--database", url)
    assert code == 2 and "no plan 'nope'" in out


def test_diff_with_unit_measures_built_from_the_workspace(tmp_path):
    from _planws import grid_plan

    url = f"sqlite:///{tmp_path / 'grid.db'}"
    grid_plan(url)
    run("copy", "grid", "even", "--database", url)
    moves = [f"acc{i:02d}=T2" for i in range(20, 30)]
    assert run("move", "even", *moves, "--database", url)[0] == 0
    code, out = run("diff", "grid", "even", "--measures", "account_count", "--json", "--database", url)
    assert code == 0, out
    d = json.loads(out)
    t = {(r["plan"], r["territory_id"]): r["account_count"] for r in d["territories"]}
    assert t == {("grid", "T1"): 30, ("grid", "T2"): 10, ("even", "T1"): 20, ("even", "T2"): 20}
    b = {(r["plan"], r["measure"]): r["max_abs_dev"] for r in d["balance"]}
    assert b[("grid", "account_count")] == pytest.approx(0.5) and b[("even", "account_count")] == pytest.approx(0.0)
    s = {r["plan"]: r for r in d["summary"]}
    assert (s["even"]["units_moved"], s["even"]["accounts_moved"], s["even"]["reps"]) == (10, 10, "r1;r2")
    code, out = run("diff", "grid", "even", "--measures", "bogus", "--database", url)
    assert code == 2 and "no unit measure 'bogus'" in out
