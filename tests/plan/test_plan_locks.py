"""Locks stored in a plan: versioned content (audit event per unit), refused moves, copied with
a scenario, undone by restore — on a real SQLite file and a real PostgreSQL schema."""
from __future__ import annotations

import pytest

from territorium.plan import plans
from territorium.plan.plans import NotFound, PlanError

from _planws import base_plan, fill


@pytest.fixture
def eng(db_engine):
    fill(db_engine)
    return db_engine


def test_locks_are_versioned_refuse_moves_copy_and_restore(eng):
    p = base_plan(eng)
    info = plans.set_locks(eng, "base", lock=["10001", "10003"], expected_version=p.version, actor="alice",
                           reason="key accounts")
    assert info.version == p.version + 1
    assert plans.plan_content(eng, "base").locks == ("10001", "10003")
    assert plans.plan_content(eng, "base", units=False).locks == ("10001", "10003")
    ev, _ = plans.events(eng, "base", entity="lock")
    assert sorted(zip(ev["entity_id"], ev["old_value"].fillna("-"), ev["new_value"])) == \
        [("10001", "-", "1"), ("10003", "-", "1")]
    # a locked unit is not moved; an unlocked one is
    with pytest.raises(PlanError, match="'10001' is locked in territory 'T1'"):
        plans.move_units(eng, "base", {"10001": "T2", "10002": "T2"}, expected_version=info.version, actor="bob")
    assert plans.plan_content(eng, "base").version == info.version   # nothing written
    info = plans.move_units(eng, "base", {"10002": "T2"}, expected_version=info.version, actor="bob")
    # a scenario copy keeps the locks; the earlier version had none
    plans.copy_plan(eng, "base", "scenario", actor="bob")
    assert plans.plan_content(eng, "scenario").locks == ("10001", "10003")
    assert plans.plan_content(eng, "base", p.version).locks == ()
    info = plans.set_locks(eng, "base", unlock=["10003"], expected_version=info.version, actor="alice")
    assert plans.plan_content(eng, "base").locks == ("10001",)
    info = plans.restore(eng, "base", p.version, expected_version=info.version, actor="alice")
    c = plans.plan_content(eng, "base")
    assert c.locks == () and dict(zip(c.units["unit_id"], c.units["territory_id"]))["10002"] == "T1"


def test_bad_lock_requests_name_the_unit(eng):
    p = base_plan(eng)
    with pytest.raises(NotFound, match="'99999' is not in plan 'base'"):
        plans.set_locks(eng, "base", lock=["99999"], expected_version=p.version, actor="alice")
    with pytest.raises(PlanError, match="both locked and unlocked"):
        plans.set_locks(eng, "base", lock=["10001"], unlock=["10001"], expected_version=p.version, actor="alice")
    with pytest.raises(PlanError, match="nothing to change"):
        plans.set_locks(eng, "base", unlock=["10001"], expected_version=p.version, actor="alice")
    with pytest.raises(plans.Conflict):
        plans.set_locks(eng, "base", lock=["10001"], expected_version=p.version + 5, actor="alice")
    assert plans.plan_content(eng, "base").locks == ()
