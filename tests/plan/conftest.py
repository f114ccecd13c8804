"""A small demo company, generated and imported once per test session through the real path."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_small(tmp_path_factory):
    """(export folder, SQLite URL) of the small demo company, imported."""
    from territorium.data import import_directory
    from territorium.data.demo import generate

    mp = pytest.MonkeyPatch()
    mp.setenv("TERRITORIUM_CACHE_DIR", str(tmp_path_factory.mktemp("plan-geo-cache")))
    out = tmp_path_factory.mktemp("demo-small")
    generate(out, seed=7, size="small")
    url = f"sqlite:///{out / 'ws.db'}"
    res = import_directory(out, url=url, replace=True)
    assert res.ok, res.problems.head()
    yield out, url
    mp.undo()


@pytest.fixture(scope="session")
def demo_load(demo_small):
    """ZIP units of the small demo with measures (a UnitLoad)."""
    from territorium.plan.workspace import Workspace

    _, url = demo_small
    return Workspace(url).load_units("zip")
