"""A workspace for the job tests: the 5 × 8 grid of accounts of ``_planws.grid_plan`` (plan
``grid``: 30 accounts in T1 with rep r1, 10 in T2 with rep r2) plus two active reps, rA
living by the north rows (where T2 is) and rB by the south rows."""
from __future__ import annotations

import pandas as pd

from _planws import grid_plan


def job_workspace(url: str) -> None:
    from territorium import store
    from territorium.store.db import write_frames

    grid_plan(url)
    eng = store.engine(url)
    with eng.begin() as conn:
        write_frames(conn, {"reps": pd.DataFrame({
            "rep_id": ["rA", "rB"], "name": ["Ann", "Bob"], "home_lat": [42.4, 42.1], "home_lon": [-74.65, -74.65],
            "capacity_hours": [1600.0, 1600.0], "active": [True, True]})})
    eng.dispose()


def capacity_workspace(tmp_path, rb_hours: float) -> str:
    """:func:`job_workspace` in ``tmp_path / 'ws.db'`` with rep rB's capacity set to
    ``rb_hours`` (rA keeps 1,600 h): unequal capacity targets. Returns the URL."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'ws.db'}"
    job_workspace(url)
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE reps SET capacity_hours = :h WHERE rep_id = 'rB'"), {"h": rb_hours})
    eng.dispose()
    return url
