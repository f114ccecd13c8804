"""``territorium assign territories --plan NAME``: the stored plan's alignment is staffed and
the reps of every territory are stored in it as one new version; a stale or non-draft plan is
refused before anything is stored."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1]))
from _cli import command_app  # noqa: E402
from _jobws import job_workspace  # noqa: E402

from territorium import store  # noqa: E402
from territorium.commands import assign as assign_cmd  # noqa: E402
from territorium.plan import plans  # noqa: E402

APP = command_app(assign_cmd)


def assign(url, out, *extra):
    r = CliRunner().invoke(APP, ["assign", "territories", "--plan", "grid", "--out", str(out), "--database", url,
                                 "--json", *extra])
    return r.exit_code, r.output


def reps_of(eng, ref="grid"):
    t = plans.plan_content(eng, ref).territories
    return {tid: [r[0] for r in rr] for tid, rr in zip(t["territory_id"], t["reps"])}


def test_assign_plan_stores_the_staffing_as_one_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'ws.db'}"
    job_workspace(url)
    eng = store.engine(url)
    code, out = assign(url, tmp_path / "out" / "a.csv", "--actor", "pat")
    assert code == 0, out
    res = json.loads(out[out.index("{"):])
    assert res["plan"] == {"name": "grid", "version": 2}
    # T2 holds the north rows where rA lives; T1 the south rows, by rB (from the stored plan, not a file)
    assert reps_of(eng) == {"T1": ["rB"], "T2": ["rA"]}
    assert {r["territory_id"]: r["rep_id"] for r in res["territories"]} == {"T1": "rB", "T2": "rA"}
    ev, n = plans.events(eng, "grid", since_version=1)
    assert n == 2 and set(ev["field"]) == {"reps"} and set(ev["actor"]) == {"pat"} and set(ev["version"]) == {2}
    assert (tmp_path / "out" / "a.csv").exists()
    # the same staffing again: nothing to store, the version stays
    code, out = assign(url, tmp_path / "out" / "b.csv")
    assert code == 0 and json.loads(out[out.index("{"):])["plan"]["version"] == 2
    # a stale version is refused with exit status 3, and nothing is stored
    plans.update_territories(eng, "grid", {"T1": {"reps": ["r1"]}}, expected_version=2, actor="bob")
    code, out = assign(url, tmp_path / "out" / "c.csv", "--expect-version", "2")
    assert code == 3 and "bob" in out and plans.get_plan(eng, "grid").version == 3
    assert not (tmp_path / "out" / "c.csv").exists()  # refused before the work
    # a plan that is not a draft is refused (exit 2) and stays as it is
    plans.set_status(eng, "grid", "proposed", expected_version=3, actor="t")
    code, out = assign(url, tmp_path / "out" / "d.csv")
    assert code == 2 and "only draft plans" in out and reps_of(eng)["T1"] == ["r1"]
    code, out = assign(url, tmp_path / "out" / "e.csv", "--plan", "nope")
    assert code == 2 and "nope" in out
    eng.dispose()
