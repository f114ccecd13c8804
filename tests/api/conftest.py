"""API fixtures (the workspace, plans and users are described in ``_apiws.py``)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _apiws import populate  # noqa: E402


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """(path, tokens) of a populated SQLite file, copied by each test that writes."""
    from territorium import store

    path = tmp_path_factory.mktemp("api-template") / "ws.db"
    eng = store.engine(f"sqlite:///{path}")
    tokens = populate(eng)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path, tokens


@pytest.fixture
def api(template_db, tmp_path):
    """(TestClient, tokens) over a private copy of the template database."""
    from fastapi.testclient import TestClient

    from territorium import store
    from territorium.api import create_app

    src, tokens = template_db
    dst = tmp_path / "ws.db"
    shutil.copy(src, dst)
    eng = store.engine(f"sqlite:///{dst}")
    with TestClient(create_app(engine=eng), base_url="https://testserver") as client:
        yield client, tokens
    eng.dispose()
