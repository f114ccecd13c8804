"""Fixtures of the routing / hierarchy / quota / export tests.

``rules_demo``: the shared small demo company (``demo_small``), with county units (fast to
build) and a county → territory alignment (one territory per state) written to a CSV, as a
design would.
"""
from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def rules_demo(demo_small, tmp_path_factory):
    """dict(url, dir, alignment (Path), load (county UnitLoad))."""
    from territorium.plan.workspace import Workspace

    out, url = demo_small
    load = Workspace(url).load_units("county")
    u = load.units.table
    al = pd.DataFrame({"unit_id": u["unit_id"], "territory": ["S_" + n.split(", ")[-1] for n in u["name"]]})
    path = tmp_path_factory.mktemp("rules") / "county_alignment.csv"
    al.to_csv(path, index=False)
    return {"url": url, "dir": out, "alignment": path, "load": load}
