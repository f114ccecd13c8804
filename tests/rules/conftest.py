"""Fixtures of the routing / hierarchy / quota / export tests.

``rules_demo``: the small demo company generated and imported once per session through the
real import path, with county units (fast to build) and a county → territory alignment (one
territory per state) written to a CSV, as a design would.
"""
from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def rules_demo(tmp_path_factory):
    """dict(url, dir, alignment (Path), load (county UnitLoad))."""
    from territorium.data import import_directory
    from territorium.data.demo import generate
    from territorium.plan.workspace import Workspace

    mp = pytest.MonkeyPatch()
    mp.setenv("TERRITORIUM_CACHE_DIR", str(tmp_path_factory.mktemp("rules-geo-cache")))
    out = tmp_path_factory.mktemp("rules-demo")
    generate(out, seed=7, size="small")
    url = f"sqlite:///{out / 'ws.db'}"
    res = import_directory(out, url=url, replace=True)
    assert res.ok, res.problems.head()
    load = Workspace(url).load_units("county")
    u = load.units.table
    al = pd.DataFrame({"unit_id": u["unit_id"], "territory": ["S_" + n.split(", ")[-1] for n in u["name"]]})
    path = out / "county_alignment.csv"
    al.to_csv(path, index=False)
    yield {"url": url, "dir": out, "alignment": path, "load": load}
    mp.undo()
