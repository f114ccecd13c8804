"""Geo tests build real unit sets from the bundled Census and ZIP data; the cache goes to a
temporary folder so tests never read a stale user cache."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _geo_cache_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TERRITORIUM_CACHE_DIR", str(tmp_path_factory.mktemp("geo-cache")))
    yield
    mp.undo()
