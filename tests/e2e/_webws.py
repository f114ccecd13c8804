"""A web-app workspace: the small demo company (``demo_small``) with plan ``demo`` made from its
imported alignment and territories (rep per territory, regions East / West with managers),
and one user of each role with a password.

Users: ``planner`` / ``admin`` (edit), ``mgr`` (manager of region East, person ``m-east``),
``rep`` (the rep of the first territory). Every password is :data:`PASSWORD`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

PASSWORD = "correct horse battery staple"


def make_workspace(demo_db: Path, dst: Path) -> dict:
    """Copy the demo database to ``dst`` and add the plan and users; returns facts the tests use."""
    from territorium import store
    from territorium.plan import plans
    from territorium.plan import users as U
    from territorium.plan.workspace import Workspace

    shutil.copy(demo_db, dst)
    eng = store.engine(f"sqlite:///{dst}")
    ws = Workspace(engine=eng)
    al = ws.table("alignment").dropna(subset=["unit_id", "territory_id"])
    tt = ws.table("territories")
    tids = sorted(set(al["territory_id"].astype(str)))
    rep_of = dict(zip(tt["territory_id"].astype(str), tt["rep_id"]))
    name_of = dict(zip(tt["territory_id"].astype(str), tt["name"]))
    half = len(tids) // 2
    terr = {t: {"name": str(name_of.get(t) or t), "parent": "East" if i < half else "West",
                **({"reps": [str(rep_of[t])]} if isinstance(rep_of.get(t), str) else {})}
            for i, t in enumerate(tids)}
    terr["East"] = {"manager": "m-east", "name": "East region"}
    terr["West"] = {"manager": "m-west", "name": "West region"}
    plans.create_plan(eng, "demo", units=dict(zip(al["unit_id"].astype(str), al["territory_id"].astype(str))),
                      territories=terr, actor="seed", unit_level="zip", reason="demo alignment")
    rep_territory = next(t for t in tids if "reps" in terr[t])
    rep_id = terr[rep_territory]["reps"][0]
    for name, role, person in (("admin", "admin", None), ("planner", "planner", None), ("mgr", "manager", "m-east"),
                               ("rep", "rep", rep_id)):
        U.create_user(eng, name, role=role, person_id=person, password=PASSWORD)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return {"territories": tids, "rep_territory": rep_territory, "rep_id": rep_id,
            "east": [t for t in tids if terr[t]["parent"] == "East"]}
