"""A workspace for the job tests: the 5 × 8 grid of accounts of ``_planws.grid_plan`` (plan
``grid``: 30 accounts in T1 with rep r1, 10 in T2 with rep r2) plus two active reps, rA
living by the north rows (where T2 is) and rB by the south rows; on a fresh SQLite file or a
fresh PostgreSQL schema (its ``search_path`` in the URL, so worker processes find it too)."""
from __future__ import annotations

import contextlib
import os
import uuid

import pandas as pd

from _planws import grid_plan

PG_DEFAULT = "postgresql+psycopg://territorium:territorium@localhost:5432/territorium_test"


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


@contextlib.contextmanager
def pg_schema_url():
    """A URL of a fresh PostgreSQL schema (dropped afterwards); skips when no server answers
    outside CI."""
    import pytest
    import sqlalchemy as sa

    base = os.environ.get("TERRITORIUM_TEST_PG_URL", "").strip() or PG_DEFAULT
    try:
        admin = sa.create_engine(base, connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable at {base} in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable ({type(exc).__name__})")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
