"""Plans in the database: versions, conflicts, audit, restore, promotion, ownership history,
comparison, import / export — on a real SQLite file and a real PostgreSQL schema."""
from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
import pytest
import sqlalchemy as sa

from territorium.plan import plans
from territorium.plan.plans import Conflict, NotFound, PlanError

from _planws import REVENUE, base_plan, fill


@pytest.fixture
def eng(db_engine):
    fill(db_engine)
    return db_engine


def units_of(eng, ref):
    c = plans.plan_content(eng, ref)
    return dict(zip(c.units["unit_id"], c.units["territory_id"]))


def test_create_stores_content_settings_and_one_event(eng):
    p = base_plan(eng)
    assert (p.status, p.version, p.model, p.kind, p.seed) == ("draft", 1, "geographic", "geographic", 3)
    assert p.settings == {"balance": {"workload": 0.05}}
    c = plans.plan_content(eng, "base")
    assert units_of(eng, "base") == {"10001": "T1", "10002": "T1", "10003": "T2"}
    t = c.territories.set_index("territory_id")
    assert t.loc["T1", "reps"] == [("r1", "rep")]
    assert t.loc["T1", "quota"] == pytest.approx(1000.0)
    assert t.loc["East", "manager"] == "m1" and t.loc["T2", "parent"] == "East"
    ev, n = plans.events(eng, "base")
    assert n == 1 and ev["field"].tolist() == ["created"] and ev["actor"].tolist() == ["alice"]


def test_bad_content_is_refused_and_nothing_is_stored(eng):
    with pytest.raises(NotFound, match="parent 'Nowhere'"):
        plans.create_plan(eng, "x", units={"10001": "T1"}, territories={"T1": {"parent": "Nowhere"}}, actor="a")
    with pytest.raises(PlanError, match="cycle"):
        plans.create_plan(eng, "x", units={"10001": "T1"},
                          territories={"T1": {"parent": "R"}, "R": {"parent": "T1"}}, actor="a")
    assert plans.list_plans(eng)[1] == 0
    base_plan(eng)
    with pytest.raises(PlanError, match="exists already"):
        base_plan(eng)


def test_two_clients_one_gets_a_conflict_and_no_update_is_lost(eng):
    base_plan(eng)
    # both clients loaded version 1
    v_a = v_b = plans.get_plan(eng, "base").version
    a = plans.move_units(eng, "base", {"10002": "T2"}, expected_version=v_a, actor="bob", reason="balance")
    assert a.version == 2
    with pytest.raises(Conflict) as exc:
        plans.move_units(eng, "base", {"10001": "T2"}, expected_version=v_b, actor="carol")
    e = exc.value
    assert (e.expected, e.current) == (1, 2)
    assert [(c["actor"], c["entity_id"], c["old_value"], c["new_value"]) for c in e.changes] == [
        ("bob", "10002", "T1", "T2")]
    assert "bob" in str(e) and "10002" in str(e)
    # carol's refused write left nothing behind; bob's move is there
    assert units_of(eng, "base") == {"10001": "T1", "10002": "T2", "10003": "T2"}
    assert plans.events(eng, "base")[1] == 2
    # carol reloads and retries: both changes are kept
    plans.move_units(eng, "base", {"10001": "T2"}, expected_version=2, actor="carol")
    assert units_of(eng, "base") == {"10001": "T2", "10002": "T2", "10003": "T2"}


def test_concurrent_writers_on_the_same_version_exactly_one_wins(eng):
    base_plan(eng)
    results: dict[str, object] = {}
    barrier = threading.Barrier(4)

    def write(name: str, unit: str):
        barrier.wait()
        try:
            results[name] = plans.move_units(eng, "base", {unit: "T2"}, expected_version=1, actor=name).version
        except Conflict as exc:
            results[name] = exc

    threads = [threading.Thread(target=write, args=(f"w{i}", u)) for i, u in enumerate(["10001", "10002", "10001", "10002"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [k for k, v in results.items() if v == 2]
    assert len(wins) == 1, results
    assert sum(isinstance(v, Conflict) for v in results.values()) == 3
    assert plans.get_plan(eng, "base").version == 2
    ev, n = plans.events(eng, "base", since_version=1)
    assert n == 1 and ev["actor"].tolist() == wins


def test_restore_an_old_version(eng):
    base_plan(eng)
    plans.move_units(eng, "base", {"10002": "T2"}, expected_version=1, actor="bob")
    plans.update_territories(eng, "base", {"T1": {"quota": 900, "reps": ["r1", "r3"]}, "T3": {"parent": "East"}},
                             expected_version=2, actor="bob")
    plans.move_units(eng, "base", {"10003": "T3"}, expected_version=3, actor="bob")
    plans.move_accounts(eng, "base", {"a1": {"rep": "r9"}}, expected_version=4, actor="bob")
    v1 = plans.plan_content(eng, "base", 1)
    v3 = plans.plan_content(eng, "base@3")
    assert dict(zip(v3.units["unit_id"], v3.units["territory_id"])) == {"10001": "T1", "10002": "T2", "10003": "T2"}
    assert v3.territories.set_index("territory_id").loc["T1", "reps"] == [("r1", "rep"), ("r3", "rep")]
    p = plans.restore(eng, "base", 1, expected_version=5, actor="dave")
    assert p.version == 6
    now = plans.plan_content(eng, "base")
    pd.testing.assert_frame_equal(now.units, v1.units)
    pd.testing.assert_frame_equal(now.territories, v1.territories)
    assert now.accounts.empty and "T3" not in set(now.territories["territory_id"])
    # the restore is itself audited, and the later versions can still be rebuilt
    ev, _ = plans.events(eng, "base", since_version=5)
    assert ev["field"].iloc[0] == "restored" and ev["new_value"].iloc[0] == "1"
    assert set(ev["actor"]) == {"dave"}
    v5 = plans.plan_content(eng, "base", 5)
    assert v5.accounts.to_dict("records") == [{"account_id": "a1", "territory_id": None, "rep_id": "r9"}]
    with pytest.raises(NotFound, match="versions 1 to 6"):
        plans.plan_content(eng, "base", 7)


def test_only_drafts_are_edited_and_status_follows_the_workflow(eng):
    base_plan(eng)
    with pytest.raises(PlanError, match="only an approved plan"):
        plans.promote(eng, "base", expected_version=1, actor="x")
    p = plans.set_status(eng, "base", "proposed", expected_version=1, actor="planner")
    with pytest.raises(PlanError, match="only draft plans are edited"):
        plans.move_units(eng, "base", {"10001": "T2"}, expected_version=p.version, actor="x")
    with pytest.raises(PlanError, match="cannot become"):
        plans.set_status(eng, "base", "proposed", expected_version=p.version, actor="x")
    p = plans.set_status(eng, "base", "approved", expected_version=p.version, actor="manager")
    assert p.status == "approved" and p.version == 3
    c = plans.copy_plan(eng, "base", "c", actor="x")
    assert (c.status, c.version, c.parent_id) == ("draft", 1, p.id)
    with pytest.raises(NotFound, match="territory 'T9'"):
        plans.move_units(eng, "c", {"10001": "T9"}, expected_version=1, actor="x")
    with pytest.raises(NotFound, match="unit '99999'"):
        plans.move_units(eng, "c", {"99999": "T1"}, expected_version=1, actor="x")


def _approve(eng, name):
    p = plans.get_plan(eng, name)
    p = plans.set_status(eng, name, "proposed", expected_version=p.version, actor="planner")
    return plans.set_status(eng, name, "approved", expected_version=p.version, actor="manager")


def test_promotion_ownership_history_and_one_active_plan_per_model(eng):
    base_plan(eng, "plan-2026")
    plans.copy_plan(eng, "plan-2026", "mid-year", actor="bob")
    plans.move_units(eng, "mid-year", {"10002": "T2"}, expected_version=1, actor="bob")
    p = _approve(eng, "plan-2026")
    plans.promote(eng, "plan-2026", expected_version=p.version, actor="admin", effective=dt.date(2026, 1, 1))
    q = _approve(eng, "mid-year")
    with pytest.raises(PlanError, match="before the last activation"):
        plans.promote(eng, "mid-year", expected_version=q.version, actor="admin", effective="2025-12-01")
    plans.promote(eng, "mid-year", expected_version=q.version, actor="admin", effective="2026-03-15")
    assert plans.get_plan(eng, "plan-2026").status == "archived"
    assert plans.get_plan(eng, "mid-year").status == "active"
    # who owned b2 (ZIP 10002) on 1 March and on 1 April?
    mar = plans.owner_at(eng, "b2", dt.date(2026, 3, 1))
    apr = plans.owner_at(eng, "b2", "2026-04-01")
    assert (mar["rep_id"], mar["territory_id"], mar["plan"]) == ("r1", "T1", "plan-2026")
    assert (apr["rep_id"], apr["territory_id"], apr["plan"]) == ("r2", "T2", "mid-year")
    assert mar["valid_to"] == dt.datetime(2026, 3, 15)
    assert plans.owner_at(eng, "b2", "2025-12-31") is None
    assert plans.owner_at(eng, "a1", "2026-06-01")["rep_id"] == "r1"  # a1 did not move
    h = plans.ownership_history(eng, "b2")
    assert h["rep_id"].tolist() == ["r1", "r2"] and h["plan"].tolist() == ["plan-2026", "mid-year"]
    # an overlay model has its own active plan beside the geographic one
    plans.create_plan(eng, "beauty-book", units={}, accounts=pd.DataFrame(
        {"account_id": ["a1", "c1"], "territory_id": ["B1", "B1"], "rep_id": ["s1", "s1"]}),
        model="industry:beauty", unit_level="account", actor="bob")
    o = _approve(eng, "beauty-book")
    plans.promote(eng, "beauty-book", expected_version=o.version, actor="admin", effective="2026-04-01")
    assert plans.get_plan(eng, "mid-year").status == "active"
    assert plans.owner_at(eng, "a1", "2026-05-01", model="industry:beauty")["rep_id"] == "s1"
    assert plans.owner_at(eng, "a1", "2026-05-01")["rep_id"] == "r1"
    # the database itself refuses a second active plan of a model
    with pytest.raises(sa.exc.IntegrityError):
        with eng.begin() as conn:
            conn.execute(sa.text("UPDATE plans SET status = 'active' WHERE name = 'plan-2026'"))


def test_compare_counts_accounts_revenue_and_reps_that_change_owner(eng):
    base_plan(eng)
    plans.copy_plan(eng, "base", "scenario", actor="bob")
    plans.move_units(eng, "scenario", {"10002": "T2"}, expected_version=1, actor="bob")
    plans.move_accounts(eng, "scenario", {"a3": {"territory": "T2", "rep": "r2"}}, expected_version=2, actor="bob")
    um = pd.DataFrame({"workload": [10.0, 20.0, 40.0]}, index=["10001", "10002", "10003"])
    cmp = plans.compare(eng, ["base", "scenario"], unit_measures=um)
    s = cmp.summary.set_index("plan")
    assert s.loc["scenario", "units_moved"] == 1
    assert s.loc["scenario", "accounts_moved"] == 4  # b1, b2, b3 with their ZIP, a3 by hand
    moved_rev = REVENUE["b1"] + REVENUE["b2"] + REVENUE["b3"] + REVENUE["a3"]
    assert s.loc["scenario", "revenue_moved"] == pytest.approx(moved_rev)
    assert s.loc["scenario", "reps"] == "r1;r2" and s.loc["base", "accounts_moved"] == 0
    t = cmp.territories.set_index(["plan", "territory_id"])
    base_t1 = sum(v for k, v in REVENUE.items() if k[0] in "ab")  # the old a1 order is outside the window
    assert t.loc[("base", "T1"), "revenue"] == pytest.approx(base_t1)
    assert t.loc[("scenario", "T2"), "revenue"] == pytest.approx(sum(REVENUE.values()) - REVENUE["a1"] - REVENUE["a2"])
    assert t.loc[("scenario", "T2"), "workload"] == pytest.approx(60.0)
    assert t.loc[("base", "T1"), "accounts"] == 6 and t.loc[("scenario", "T1"), "accounts"] == 2
    b = cmp.balance.set_index(["plan", "measure"])
    # base: workload 30 vs 40, mean 35 -> 1/7 off
    assert b.loc[("base", "workload"), "max_abs_dev"] == pytest.approx(5 / 35)
    assert b.loc[("scenario", "workload"), "max_abs_dev"] == pytest.approx(25 / 35)
    assert sorted(cmp.moved["account_id"]) == ["a3", "b1", "b2", "b3"]


def test_import_from_cli_outputs_names_row_and_column_and_round_trips(eng, tmp_path):
    al = tmp_path / "plan.csv"
    al.write_text("unit_id,name,territory,moved_from,reason\n10001,A,T1,,\n10002,B,T1,,\n10003,C,T2,T1,balance\n")
    st = tmp_path / "staff.csv"
    st.write_text("territory_id,rep_id,rep_name,members,slot\nT1,r1,Ann,,1\nT1,r3,Cy,,2\nT2,r2,Bo,,1\n")
    qu = tmp_path / "quota.csv"
    qu.write_text("territory,quota\nT1,\"1,200\"\nT2,oops\n")
    with pytest.raises(plans.PlanImportError, match=r"quota.csv: row 3, column 'quota': 'oops'"):
        plans.import_plan(eng, "imp", actor="x", alignment=al, staffing=st, quotas=qu)
    assert plans.list_plans(eng)[1] == 0
    qu.write_text("territory,quota\nT1,\"1,200\"\nT2,800\n")
    dup = tmp_path / "dup.csv"
    dup.write_text("unit_id,territory\n10001,T1\n10001,T2\n")
    with pytest.raises(plans.PlanImportError, match="row 3, column 'unit_id': unit 10001 is listed twice"):
        plans.import_plan(eng, "imp", actor="x", alignment=dup)
    p = plans.import_plan(eng, "imp", actor="x", alignment=al, staffing=st, quotas=qu, seed=5)
    c = plans.plan_content(eng, "imp")
    t = c.territories.set_index("territory_id")
    assert t.loc["T1", "reps"] == [("r1", "rep"), ("r3", "rep")] and t.loc["T1", "quota"] == pytest.approx(1200)
    assert p.settings["files"]["alignment"] == str(al)
    paths = plans.export_plan(eng, "imp", tmp_path / "out")
    back = plans.import_plan(eng, "imp2", actor="x", alignment=paths["alignment"], staffing=paths["staffing"],
                             quotas=paths["territories"], accounts=None)
    c2 = plans.plan_content(eng, back.id)
    pd.testing.assert_frame_equal(c2.units, c.units)
    pd.testing.assert_frame_equal(c2.territories, c.territories)
    own = pd.read_csv(paths["owners"], dtype=str).set_index("account_id")
    assert own.loc["b1", "rep_id"] == "r1" and own.loc["c2", "territory_id"] == "T2"
    ev = pd.read_csv(paths["events"])
    assert ev["field"].tolist() == ["created"]


def test_list_and_pagination(eng):
    for i in range(5):
        plans.create_plan(eng, f"p{i}", units={"10001": "T1"}, actor="a", model="geographic" if i < 3 else "ovl")
    page, total = plans.list_plans(eng, limit=2, offset=1)
    assert total == 5 and [p.name for p in page] == ["p3", "p2"]
    assert plans.list_plans(eng, model="ovl")[1] == 2
    with pytest.raises(PlanError, match="status 'bogus'"):
        plans.list_plans(eng, status="bogus")


def test_summary_read_and_paged_units_agree_with_the_full_read(eng):
    base_plan(eng)
    plans.move_units(eng, "base", {"10002": "T2"}, expected_version=1, actor="bob")
    full = plans.plan_content(eng, "base")
    light = plans.plan_content(eng, "base", units=False)
    assert light.units.empty and light.unit_counts == full.unit_counts == {"T1": 1, "T2": 2}
    pd.testing.assert_frame_equal(light.territories, full.territories)
    assert plans.plan_content(eng, "base@1", units=False).unit_counts == {"T1": 2, "T2": 1}  # rebuilt, not current
    page, total = plans.plan_units(eng, "base", territories={"T2"}, limit=1, offset=1)
    assert total == 2 and page.to_dict("records") == [{"unit_id": "10003", "territory_id": "T2"}]


def test_concurrent_creates_and_promotions_are_refused_cleanly(eng):
    errors, made = [], []
    barrier = threading.Barrier(4)

    def create(i):
        barrier.wait()
        try:
            made.append(plans.create_plan(eng, "same", units={"10001": "T1"}, actor=f"c{i}").name)
        except PlanError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == ["same"] and len(errors) == 3 and all("exists already" in e for e in errors)
