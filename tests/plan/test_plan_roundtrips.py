"""The round-trip budget of the plan write and read paths (issue 14: a move under 100 ms p95
with 20 clients), counted on a real SQLite file and a real PostgreSQL schema: a move is four
statements in one transaction whatever the plan's size, a stale move three and writes nothing,
and reading an unchanged plan's summary is one query. A regression that adds a round trip
fails here instead of only showing up in ``bench/api_plans.py``."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from territorium.plan import plans
from territorium.plan.plans import Conflict, NotFound, PlanError

N_UNITS, N_TERR = 600, 12


@pytest.fixture
def eng(db_engine):
    units = {f"{u:05d}": f"T{u % N_TERR:02d}" for u in range(N_UNITS)}
    terr = {t: {"reps": [f"r{t[1:]}"], "quota": 100.0} for t in sorted(set(units.values()))}
    plans.create_plan(db_engine, "p", units=units, territories=terr, actor="seed")
    return db_engine


class Counter:
    """Statements sent (an ``executemany`` counts once) and connections checked out."""

    def __init__(self, eng):
        self.eng, self.statements, self.checkouts = eng, [], 0

    def _stmt(self, conn, cursor, statement, params, context, many):
        self.statements.append(statement.split(None, 1)[0].upper())

    def _checkout(self, *a):
        self.checkouts += 1

    def __enter__(self):
        sa.event.listen(self.eng, "before_cursor_execute", self._stmt)
        sa.event.listen(self.eng, "checkout", self._checkout)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.eng, "before_cursor_execute", self._stmt)
        sa.event.remove(self.eng, "checkout", self._checkout)


def territory_of(eng, unit):
    with eng.connect() as conn:
        return conn.execute(sa.text("SELECT territory_id FROM plan_units pu JOIN plans p ON p.id = pu.plan_id "
                                    "WHERE p.name = 'p' AND pu.unit_id = :u"), {"u": unit}).scalar_one()


@pytest.mark.parametrize("n_moved", [1, 5])
def test_a_move_is_four_statements_in_one_transaction(eng, n_moved):
    moves = {f"{u:05d}": f"T{(u + 1) % N_TERR:02d}" for u in range(0, 7 * n_moved, 7)}
    with Counter(eng) as c:
        info = plans.move_units(eng, "p", moves, expected_version=1, actor="bob", reason="balance")
    assert c.statements == ["UPDATE", "SELECT", "UPDATE", "INSERT"], c.statements
    assert c.checkouts == 1
    assert info.version == 2
    assert {u: territory_of(eng, u) for u in moves} == moves
    ev, n = plans.events(eng, "p", since_version=1)
    assert n == n_moved
    assert sorted(zip(ev["entity_id"], ev["old_value"], ev["new_value"])) == sorted(
        (u, f"T{int(u) % N_TERR:02d}", t) for u, t in moves.items())
    assert set(ev["actor"]) == {"bob"} and set(ev["reason"]) == {"balance"} and set(ev["version"]) == {2}
    assert ev["at"].notna().all()


def test_a_stale_move_is_three_statements_and_writes_nothing(eng):
    plans.move_units(eng, "p", {"00001": "T05"}, expected_version=1, actor="bob")
    with Counter(eng) as c, pytest.raises(Conflict) as exc:
        plans.move_units(eng, "p", {"00002": "T05"}, expected_version=1, actor="carol")
    assert len(c.statements) == 3, c.statements
    assert (exc.value.current, [x["entity_id"] for x in exc.value.changes]) == (2, ["00001"])
    assert territory_of(eng, "00002") == "T02"
    assert plans.get_plan(eng, "p").version == 2 and plans.events(eng, "p")[1] == 2


def test_refused_moves_name_the_reason_and_leave_the_version(eng):
    with pytest.raises(NotFound, match="unit 'nope'"):
        plans.move_units(eng, "p", {"nope": "T01"}, expected_version=1, actor="x")
    with pytest.raises(NotFound, match="territory 'T99'"):
        plans.move_units(eng, "p", {"00001": "T99"}, expected_version=1, actor="x")
    with pytest.raises(PlanError, match="nothing to change"):
        plans.move_units(eng, "p", {"00001": "T01"}, expected_version=1, actor="x")
    plans.set_locks(eng, "p", lock=["00003"], expected_version=1, actor="x")
    with pytest.raises(PlanError, match="unit '00003' is locked in territory 'T03'"):
        plans.move_units(eng, "p", {"00003": "T04", "00004": "T05"}, expected_version=2, actor="x")
    plans.set_locks(eng, "p", unlock=["00003"], expected_version=2, actor="x")
    plans.move_units(eng, "p", {"00003": "T04"}, expected_version=3, actor="x")
    assert territory_of(eng, "00003") == "T04" and territory_of(eng, "00004") == "T04"
    with pytest.raises(NotFound, match="no plan 'q'"):
        plans.move_units(eng, "q", {"00001": "T02"}, expected_version=1, actor="x")
    plans.set_status(eng, "p", "proposed", expected_version=4, actor="x")
    with pytest.raises(PlanError, match="is proposed; only draft plans are edited"):
        plans.move_units(eng, "p", {"00001": "T02"}, expected_version=5, actor="x")
    with pytest.raises(Conflict):  # a stale version is reported before the status
        plans.move_units(eng, "p", {"00001": "T02"}, expected_version=4, actor="x")
    assert plans.get_plan(eng, "p").version == 5


def test_an_unchanged_plan_summary_is_one_query_and_a_write_is_seen(eng, tmp_path):
    first = plans.plan_content(eng, "p", units=False)
    assert sum(first.unit_counts.values()) == N_UNITS
    with Counter(eng) as c:
        again = plans.plan_content(eng, "p", units=False)
    assert c.statements == ["SELECT"]
    assert again.unit_counts == first.unit_counts and again.territories.equals(first.territories)
    again.territories.loc[0, "name"] = "changed by a caller"  # a caller's frame is its own
    assert plans.plan_content(eng, "p", units=False).territories.loc[0, "name"] is None
    # a write by another engine (another process) is seen at once: the version is the key
    from territorium import store

    other = store.engine(eng.url.render_as_string(hide_password=False),
                         schema=None if eng.dialect.name == "sqlite" else _schema(eng))
    try:
        plans.move_units(other, "p", {"00000": "T01", "00012": "T01"}, expected_version=1, actor="cli")
    finally:
        other.dispose()
    now = plans.plan_content(eng, "p", units=False)
    full = plans.plan_content(eng, "p")
    assert now.version == 2 and now.unit_counts == full.unit_counts
    assert now.unit_counts["T00"] == first.unit_counts["T00"] - 2
    assert now.unit_counts["T01"] == first.unit_counts["T01"] + 2


def _schema(eng) -> str:
    with eng.connect() as conn:
        return conn.execute(sa.text("SELECT current_schema()")).scalar_one()


def test_many_writers_of_one_process_all_commit(eng):
    """Six threads moving units of their own scenario copies at once (SQLite: they take turns
    on the engine's writer lock instead of SQLite's sleeping busy handler): every move commits,
    each plan ends at its own version with one event per move."""
    n_writers, n_moves = 6, 8
    for i in range(n_writers):
        plans.copy_plan(eng, "p", f"s{i}", actor="seed")
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_writers)

    def writer(i: int) -> None:
        try:
            barrier.wait()
            v = 1
            for k in range(n_moves):
                unit = f"{k * 11 + i:05d}"
                v = plans.move_units(eng, f"s{i}", {unit: f"T{(int(unit) + 1) % N_TERR:02d}"}, expected_version=v,
                                     actor=f"w{i}").version
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n_writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(n_writers):
        assert plans.get_plan(eng, f"s{i}").version == n_moves + 1
        ev, n = plans.events(eng, f"s{i}", since_version=1)
        assert n == n_moves and set(ev["actor"]) == {f"w{i}"}


def test_a_move_carries_the_summary_to_the_new_version(eng):
    before = plans.plan_content(eng, "p", units=False)
    # every unit of T05 leaves it (an emptied territory is no longer counted), two units arrive in T06
    t05 = [f"{u:05d}" for u in range(5, N_UNITS, N_TERR)]
    moves = {**{u: "T07" for u in t05}, "00000": "T06", "00001": "T06"}
    plans.move_units(eng, "p", moves, expected_version=1, actor="bob")
    with Counter(eng) as c:
        after = plans.plan_content(eng, "p", units=False)
    assert c.statements == ["SELECT"]
    full = plans.plan_content(eng, "p")  # the alignment itself, counted here
    assert after.version == full.version == 2
    assert after.unit_counts == full.unit_counts
    assert "T05" not in after.unit_counts and after.unit_counts["T07"] == before.unit_counts["T07"] + len(t05)
    assert after.unit_counts["T06"] == before.unit_counts["T06"] + 2
    assert after.territories.equals(full.territories) and after.info.version == 2
