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

Which entry a workspace uses now: ``<cache_dir>/map/units/<hash of database and level>.json``
(a *pointer*) names the key of the level's unit set and the workspace's units version
(``map.units_version``: its imports) it was built for. The pointer lets ``serve`` see without
loading any unit that the geometry of the current units is on disk (:func:`ready`, the
pre-warm's check), and says which unit sets no longer exist: when an import changes a level's
units, the pointer moves to the new key and the old entry is deleted unless another
workspace's pointer names it; a pointer of a SQLite file that is gone is dropped with its
entry (:func:`prune`). What is left is kept under :func:`limit_bytes`
(``TERRITORIUM_MAP_CACHE_MB``, default 256 MB; an all-US ZIP unit set takes about 33 MB),
least recently used first (a directory's mtime is its last use: written or read). Served
answers never rely on a pointer: a request always computes the key from the units it loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["FORMAT", "DEFAULT_LIMIT_MB", "key", "load", "save", "point", "pointed", "ready", "prune",
           "limit_bytes", "size_bytes"]

#: Bump when the served texts of a detail level are built differently.
FORMAT = 1
#: The cache's size limit unless ``TERRITORIUM_MAP_CACHE_MB`` says otherwise.
DEFAULT_LIMIT_MB = 256
_POINTERS = "units"


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
    """The stored value ``name`` of key ``k`` (None when absent or unreadable); a hit marks
    the entry as used now (its place in the least-recently-used order)."""
    d = _root() / k
    try:
        value = json.loads((d / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        os.utime(d)
    except OSError:   # pragma: no cover - pruned meanwhile by another process
        pass
    return value


def save(k: str, name: str, value) -> None:
    """Store ``value`` (JSON) as ``name`` of key ``k``, then :func:`prune` the cache (``k``
    kept); a failure to write only loses the cache."""
    d = _root() / k
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{name}-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, separators=(",", ":"))
        os.replace(tmp, d / f"{name}.json")
    except OSError:   # pragma: no cover - a full or read-only disk: the map is served all the same
        return
    prune(keep=(k,))


# ----------------------------------------------------------------------------- pointers
def _pointer(db: str, level: str) -> Path:
    return _root() / _POINTERS / (hashlib.sha256(f"{db}\x00{level}".encode()).hexdigest()[:32] + ".json")


def _read(p: Path) -> dict | None:
    try:
        v = json.loads(p.read_text(encoding="utf-8"))
        return v if isinstance(v, dict) and isinstance(v.get("key"), str) else None
    except (OSError, ValueError):
        return None


def _pointers() -> dict[Path, dict]:
    d = _root() / _POINTERS
    try:
        return {p: v for p in d.glob("*.json") if (v := _read(p)) is not None}
    except OSError:   # pragma: no cover
        return {}


def _remove(k: str) -> None:
    if k and "/" not in k and k not in (_POINTERS, ".", ".."):
        shutil.rmtree(_root() / k, ignore_errors=True)


def point(db: str, level: str, version: str, k: str) -> None:
    """Record that the units of ``level`` in workspace ``db`` at units version ``version``
    have key ``k``. The key pointed at before, when another, is a unit set that no longer
    exists there: its entry is deleted unless another pointer names it."""
    p = _pointer(db, level)
    old = _read(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"db": db, "level": level, "version": version, "key": k}, fh)
        os.replace(tmp, p)
    except OSError:   # pragma: no cover
        return
    if old is not None and old["key"] != k and not any(v["key"] == old["key"] for v in _pointers().values()):
        _remove(old["key"])


def pointed(db: str, level: str, version: str) -> str | None:
    """The key recorded for ``level`` of ``db`` at ``version`` (None: none, or another version)."""
    v = _read(_pointer(db, level))
    return v["key"] if v is not None and v.get("version") == version else None


def ready(db: str, level: str, version: str, names) -> bool:
    """Whether the entry of the current units (``level`` of ``db`` at ``version``) holds every
    value in ``names`` (e.g. ``d0``, ``d1``, ``states``): a pointer read and a few ``stat`` calls."""
    k = pointed(db, level, version)
    return k is not None and all((_root() / k / f"{n}.json").is_file() for n in names)


# ----------------------------------------------------------------------------- pruning
def limit_bytes() -> int:
    """The cache's size limit in bytes: ``TERRITORIUM_MAP_CACHE_MB`` (a number of megabytes,
    1 MB = 10^6 bytes), default :data:`DEFAULT_LIMIT_MB`."""
    raw = os.environ.get("TERRITORIUM_MAP_CACHE_MB", "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_LIMIT_MB
    except ValueError:
        mb = DEFAULT_LIMIT_MB
    return max(0, int(mb * 1e6))


def _entries() -> list[tuple[float, int, str]]:
    """(last use, bytes, key) of every entry."""
    out = []
    try:
        dirs = [e for e in os.scandir(_root()) if e.is_dir() and e.name != _POINTERS]
    except OSError:
        return out
    for e in dirs:
        try:
            size = sum(f.stat().st_size for f in os.scandir(e.path) if f.is_file())
            out.append((e.stat().st_mtime, size, e.name))
        except OSError:   # pragma: no cover - removed meanwhile
            continue
    return out


def size_bytes() -> int:
    """Bytes held by the cache's entries."""
    return sum(s for _, s, _ in _entries())


def _gone(db: str) -> bool:
    """A SQLite workspace whose file no longer exists (other databases are never judged gone)."""
    prefix = "sqlite:///"
    if not db.startswith(prefix):
        return False
    path = db[len(prefix):].split("?", 1)[0]
    return bool(path) and path != ":memory:" and not os.path.exists(path)


def prune(keep=(), limit: int | None = None) -> list[str]:
    """Delete the entries of unit sets that no longer exist (pointers of deleted SQLite files
    and what only they named), then the least recently used entries until the cache holds at
    most ``limit`` bytes (default :func:`limit_bytes`); ``keep`` is never deleted. Returns the
    deleted keys."""
    limit = limit_bytes() if limit is None else limit
    keep = set(keep)
    removed: list[str] = []
    pointers = _pointers()
    dropped = set()
    for p, v in pointers.items():
        if _gone(str(v.get("db", ""))):
            p.unlink(missing_ok=True)
            dropped.add(v["key"])
    live = {v["key"] for v in pointers.values() if not _gone(str(v.get("db", "")))}
    entries = _entries()
    for _, _, k in entries:
        if k in dropped and k not in live and k not in keep:
            _remove(k)
            removed.append(k)
    entries = sorted((e for e in entries if e[2] not in removed), key=lambda e: (e[0], e[2]))
    total = sum(s for _, s, _ in entries)
    for _, size, k in entries:   # a writer whose entry goes meanwhile only loses that file
        if total <= limit:
            break
        if k in keep:
            continue
        _remove(k)
        removed.append(k)
        total -= size
    return removed
