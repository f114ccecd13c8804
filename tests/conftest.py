"""Shared fixtures: a fixed "today", a fresh SQLite database, a fresh PostgreSQL schema.

PostgreSQL: ``TERRITORIUM_TEST_PG_URL`` (default the local server of ``.ci/run``). Tests that
need it are skipped only when no server answers *and* ``CI`` is unset; in CI they fail.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest

PG_DEFAULT = "postgresql+psycopg://territorium:territorium@localhost:5432/territorium_test"


_PG_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    """Remember every PostgreSQL test that was skipped (for the closing line below)."""
    if report.skipped and "postgres" in report.keywords:
        _PG_SKIPPED.append(report.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line at the very end when PostgreSQL tests did not run, so a green run on a
    machine without a server never reads as "PostgreSQL tested"."""
    if _PG_SKIPPED:
        where = "CI must run them" if os.environ.get("CI") else "no server"
        terminalreporter.write_line(
            f"PostgreSQL: {len(_PG_SKIPPED)} tests SKIPPED ({where} at {_pg_url()}; "
            "start one and set TERRITORIUM_TEST_PG_URL, see docs/storage.md)",
            yellow=True, bold=True)


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped PostgreSQL test fails the run, whatever skipped it."""
    if os.environ.get("CI") and _PG_SKIPPED and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_ignore_collect(collection_path, config):
    """conftest.py files are plugins, not doctest modules: with ``--doctest-modules`` pytest
    would import every one of them under the same module name ``conftest`` (the test folders
    are not packages) and stop on the clash."""
    if collection_path.name == "conftest.py":
        return True
    return None


@pytest.fixture
def today() -> dt.date:
    """The reference date of every validation test (for "date in the future")."""
    return dt.date(2025, 6, 30)


@pytest.fixture
def sqlite_engine(tmp_path):
    from territorium import store

    eng = store.engine(f"sqlite:///{tmp_path / 'test.db'}")
    yield eng
    eng.dispose()


def _pg_url() -> str:
    return os.environ.get("TERRITORIUM_TEST_PG_URL", "").strip() or PG_DEFAULT


@pytest.fixture
def pg_url():
    """The URL of a fresh PostgreSQL schema, dropped afterwards. The schema is the URL's
    ``search_path`` (``options``), so worker processes and servers started with the URL find
    it too."""
    import sqlalchemy as sa

    url = _pg_url()
    try:
        admin = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # no server
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable at {url} in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable ({type(exc).__name__}); set TERRITORIUM_TEST_PG_URL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_engine(pg_url):
    """An engine on a fresh PostgreSQL schema, dropped afterwards."""
    from territorium import store

    eng = store.engine(pg_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_engine(request):
    """The same test on a fresh SQLite file and a fresh PostgreSQL schema."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def demo_small(tmp_path_factory):
    """(export folder, SQLite URL) of the small demo company (seed 7), generated and imported
    once per session through the real import path and shared by every test folder; tests
    read it and write their own outputs elsewhere."""
    from _demo_ws import imported_demo

    with imported_demo(tmp_path_factory, "small") as (out, url):
        yield out, url
