"""On-disk cache of the web map's served geometry (``api/routers/map.py``).

Simplifying a unit level's polygons and cutting every neighbour border takes tens of seconds
for all-US ZIPs (about 16 s per detail level and 25 s for the state outlines on the 2-core
test machine), so a server start would make its first map reader wait that long. The built
texts are kept under ``<cache_dir>/map/<key>/`` (``cache_dir`` as for unit sets,
``TERRITORIUM_CACHE_DIR``): one JSON file per detail level (``d<k>.json``: unit geometry and
border texts) and one for the state outlines (``states.json``). The key hashes the unit ids,
their polygons (WKB), the neighbour graph's edges, the simplification tolerances and
:data:`FORMAT`, so a different unit set or a change to how the map is built misses the cache
instead of serving stale shapes. Files are written to a temporary name and renamed into
place; an unreadable entry is ignored (and rebuilt).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["FORMAT", "key", "load", "save"]

#: Bump when the served texts of a detail level are built differently.
FORMAT = 1


def _root() -> Path:
    from territorium.settings import cache_dir

    return cache_dir() / "map"


def key(ids, base, edges: np.ndarray, tolerances: tuple[float, ...]) -> str:
    """The cache key of a unit level's geography (``base``: polygons, or None for point units)."""
    h = hashlib.sha256(f"map-{FORMAT}-{tolerances}".encode())
    h.update("\x00".join(map(str, ids)).encode())
    h.update(np.ascontiguousarray(edges, dtype=np.int64).tobytes())
    if base is not None:
        import shapely

        for w in shapely.to_wkb(np.asarray(base, dtype=object)):
            h.update(w if w is not None else b"-")
    return h.hexdigest()[:32]


def load(k: str, name: str):
    """The stored value ``name`` of key ``k`` (None when absent or unreadable)."""
    try:
        return json.loads((_root() / k / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save(k: str, name: str, value) -> None:
    """Store ``value`` (JSON) as ``name`` of key ``k``; a failure to write only loses the cache."""
    d = _root() / k
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{name}-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, separators=(",", ":"))
        os.replace(tmp, d / f"{name}.json")
    except OSError:   # pragma: no cover - a full or read-only disk: the map is served all the same
        pass
