"""The existing CLI outputs become a plan: ``design --realign`` and ``assign territories`` on
the imported small demo, ``plan import`` of their CSVs, promotion, and the ownership the
stored plan gives every account (its ZIP's territory and that territory's rep)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from territorium.cli import app

sys.path.insert(0, str(Path(__file__).parent))

runner = CliRunner()


@pytest.mark.slow
def test_design_and_assign_outputs_become_an_active_plan(demo_small, tmp_path):
    from territorium import store
    from territorium.plan import plans

    out_dir, url = demo_small
    db = tmp_path / "ws.db"
    shutil.copy(url.removeprefix("sqlite:///"), db)  # the session's demo stays untouched
    url = f"sqlite:///{db}"
    design = tmp_path / "realigned.csv"
    r = runner.invoke(app, ["design", "--database", url, "--jobs", "1", "--units", "zip", "--realign",
                            "--balance", "workload:10%", "--time-limit", "10", "--seed", "1", "--out", str(design)])
    assert r.exit_code == 0, r.output
    staff = tmp_path / "assignment.csv"
    r = runner.invoke(app, ["assign", "territories", "--alignment", str(design), "--out", str(staff),
                            "--database", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["plan", "import", "fy", "--alignment", str(design), "--staffing", str(staff),
                            "--seed", "1", "--database", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["plan", "promote", "fy", "--through-review", "--effective", "2026-01-01",
                            "--database", url])
    assert r.exit_code == 0, r.output
    eng = store.engine(url)
    al = pd.read_csv(design, dtype=str)
    st = pd.read_csv(staff, dtype=str)
    c = plans.plan_content(eng, "fy")
    assert dict(zip(c.units["unit_id"], c.units["territory_id"])) == dict(zip(al["unit_id"], al["territory"]))
    first_rep = st.groupby("territory_id")["rep_id"].first()
    acc = store.read_table(eng, "accounts").set_index("account_id")
    zip_terr = dict(zip(al["unit_id"], al["territory"]))
    own = plans.plan_owners(eng, "fy").set_index("account_id")
    placed = [a for a in acc.index if acc.loc[a, "zip"] in zip_terr][:200]
    assert len(placed) >= 100
    for a in placed:
        t = zip_terr[acc.loc[a, "zip"]]
        assert own.loc[a, "territory_id"] == t
        assert own.loc[a, "rep_id"] == first_rep.get(t)
    a = placed[0]
    o = plans.owner_at(eng, a, "2026-02-01")
    assert (o["territory_id"], o["rep_id"], o["plan"]) == (own.loc[a, "territory_id"], own.loc[a, "rep_id"], "fy")


@pytest.mark.slow
def test_design_writes_and_reads_stored_plans(demo_small, tmp_path):
    from territorium import store
    from territorium.plan import plans

    db = tmp_path / "ws.db"
    shutil.copy(demo_small[1].removeprefix("sqlite:///"), db)
    url = f"sqlite:///{db}"
    base = ["design", "--database", url, "--jobs", "1", "--units", "zip", "--time-limit", "8", "--seed", "2"]
    r = runner.invoke(app, [*base, "--realign", "--balance", "workload:15%", "--out", str(tmp_path / "a.csv"),
                            "--plan", "stage1"])
    assert r.exit_code == 0, r.output
    eng = store.engine(url)
    p = plans.get_plan(eng, "stage1")
    assert p.seed == 2 and p.unit_level == "zip" and p.settings["balance"] == {"workload": 0.15}
    assert p.settings["realign"] is True and p.settings["report"]["status"]
    a = pd.read_csv(tmp_path / "a.csv", dtype=str)
    c = plans.plan_content(eng, "stage1")
    assert dict(zip(c.units["unit_id"], c.units["territory_id"])) == dict(zip(a["unit_id"], a["territory"]))
    # realign the stored plan more tightly, into a second plan
    r = runner.invoke(app, [*base, "--from-plan", "stage1", "--balance", "workload:8%", "--out",
                            str(tmp_path / "b.csv"), "--plan", "stage2"])
    assert r.exit_code == 0, r.output
    q = plans.get_plan(eng, "stage2")
    assert q.settings["from"] == "stage1" and q.settings["balance"] == {"workload": 0.08}
    b = pd.read_csv(tmp_path / "b.csv", dtype=str)
    moved = b["moved_from"].notna() & (b["moved_from"] != "")
    assert (b.loc[moved, "moved_from"].to_numpy() == a.set_index("unit_id").loc[b.loc[moved, "unit_id"], "territory"]
            .to_numpy()).all()
    r = runner.invoke(app, [*base, "--realign", "--out", str(tmp_path / "c.csv"), "--plan", "stage1"])
    assert r.exit_code == 2 and "exists already" in r.output
    r = runner.invoke(app, [*base, "--units", "county", "--from-plan", "stage1", "--out", str(tmp_path / "d.csv")])
    assert r.exit_code == 2 and "its units are zip" in " ".join(r.output.split())
