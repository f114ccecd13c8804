"""API test helpers: a workspace with the planted accounts, one plan, and a user of every role.

Plan ``p`` (draft): ZIP 10001 → T1 (rep r1), 10002 → T2 (rep r2), both under region East
(manager m1); 10003 → T3 (rep r3) under West (manager m2). Plan ``live`` (geographic, active
since 2026-01-01) is the same alignment, so r1 owns a1..a3 and r2 owns b1..b3.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "plan"))
from _planws import ZIP, fill  # noqa: E402

#: user name -> (role, person id)
PEOPLE = {"admin": ("admin", None), "planner": ("planner", None), "mgr_east": ("manager", "m1"),
          "mgr_other": ("manager", "m9"), "rep1": ("rep", "r1"), "rep2": ("rep", "r2"), "rep9": ("rep", "r9")}
UNITS = {"10001": "T1", "10002": "T2", "10003": "T3"}


def by_territory(values: dict, territory_of_zip: dict = UNITS) -> dict[str, float]:
    """Planted per-account values (``_planws`` REVENUE, POTENTIAL, ...) summed per territory of
    plan ``p`` (the account's ZIP → territory), computed independently of the engines."""
    out: dict[str, float] = {}
    for account, v in values.items():
        t = territory_of_zip[ZIP[account[0]]]
        out[t] = out.get(t, 0.0) + v
    return out


TERRITORIES = {"T1": {"reps": ["r1"], "parent": "East", "quota": 100.0}, "T2": {"reps": ["r2"], "parent": "East"},
               "T3": {"reps": ["r3"], "parent": "West"}, "East": {"manager": "m1"}, "West": {"manager": "m2"}}


def populate(eng) -> dict[str, str]:
    """Workspace, plans and users on ``eng``; returns user name -> API token."""
    from territorium.plan import plans
    from territorium.plan import users as U

    fill(eng)
    plans.create_plan(eng, "p", units=UNITS, territories=TERRITORIES, actor="seed")
    live = plans.create_plan(eng, "live", units=UNITS, territories=TERRITORIES, actor="seed")
    v = plans.set_status(eng, "live", "proposed", expected_version=live.version, actor="seed").version
    v = plans.set_status(eng, "live", "approved", expected_version=v, actor="seed").version
    plans.promote(eng, "live", expected_version=v, actor="seed", effective="2026-01-01")
    tokens = {}
    for name, (role, person) in PEOPLE.items():
        U.create_user(eng, name, role=role, person_id=person)
        tokens[name] = U.create_token(eng, name, "tests")
    return tokens


def auth(tokens, user):
    return {"Authorization": f"Bearer {tokens[user]}"}
