"""Fixtures of the plan tests (the small demo itself is ``demo_small`` in tests/conftest.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_load(demo_small):
    """ZIP units of the small demo with measures (a UnitLoad)."""
    from territorium.plan.workspace import Workspace

    _, url = demo_small
    return Workspace(url).load_units("zip")
