"""The demo company generated and imported through the real import path, for session fixtures."""
from __future__ import annotations

from contextlib import contextmanager

import pytest


@contextmanager
def imported_demo(tmp_path_factory, size: str, seed: int = 7):
    """Yield (export folder, SQLite URL) of the demo of ``size``, with its own geography cache."""
    from territorium.data import import_directory
    from territorium.data.demo import generate

    mp = pytest.MonkeyPatch()
    mp.setenv("TERRITORIUM_CACHE_DIR", str(tmp_path_factory.mktemp(f"demo-{size}-geo-cache")))
    try:
        out = tmp_path_factory.mktemp(f"demo-{size}")
        generate(out, seed=seed, size=size)
        url = f"sqlite:///{out / 'ws.db'}"
        res = import_directory(out, url=url, replace=True)
        assert res.ok, res.problems.head()
        yield out, url
    finally:
        mp.undo()
