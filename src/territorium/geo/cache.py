"""On-disk cache of built unit sets (GeoParquet table + NumPy CSR arrays + JSON notes).

Layout: ``<cache_dir>/units/<level>-<key>/`` with ``table.parquet`` (GeoParquet when the
units have polygons), ``adjacency.npz`` (``indptr``, ``indices``, ``virtual``) and
``meta.json`` (format version, level, CRS, notes). The key hashes the level, the filters, the
CRS, the versions of the reference packages and :data:`CACHE_FORMAT`, so a change to any of
them misses the cache instead of returning stale units. Entries are written to a temporary
folder and renamed into place, so a crash never leaves a half-written entry.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from territorium.model import Adjacency, Units

__all__ = ["CACHE_FORMAT", "cache_root", "load", "save", "clear"]

#: Bump when the layout or the way units are built changes.
CACHE_FORMAT = 4


def cache_root() -> Path:
    from territorium.settings import cache_dir

    p = cache_dir() / "units"
    p.mkdir(parents=True, exist_ok=True)
    return p


def load(key: str) -> Units | None:
    d = cache_root() / key
    try:
        meta = json.loads((d / "meta.json").read_text())
        if meta.get("format") != CACHE_FORMAT:
            return None
        if meta["has_geometry"]:
            import geopandas as gpd

            gdf = gpd.read_parquet(d / "table.parquet")
            geometry = gpd.GeoSeries(gdf.geometry.values, crs="EPSG:4326")
            table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        else:
            geometry = None
            table = pd.read_parquet(d / "table.parquet")
        with np.load(d / "adjacency.npz") as z:
            adj = Adjacency(z["indptr"], z["indices"], z["virtual"])
        return Units(meta["level"], table.reset_index(drop=True), adj, geometry, meta["crs"],
                     tuple(meta["notes"]))
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return None


def save(key: str, units: Units) -> Path:
    root = cache_root()
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        if units.geometry is not None:
            import geopandas as gpd

            gdf = gpd.GeoDataFrame(units.table.copy(), geometry=units.geometry.values, crs="EPSG:4326")
            gdf.to_parquet(tmp / "table.parquet")
        else:
            units.table.to_parquet(tmp / "table.parquet")
        a = units.adjacency
        np.savez(tmp / "adjacency.npz", indptr=a.indptr, indices=a.indices, virtual=a.virtual)
        (tmp / "meta.json").write_text(json.dumps(
            {"format": CACHE_FORMAT, "level": units.level, "crs": units.crs,
             "has_geometry": units.geometry is not None, "notes": list(units.notes)}, indent=1))
        dest = root / key
        if dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root / key


def clear() -> int:
    """Remove every cached unit set; returns how many were removed."""
    root = cache_root()
    n = 0
    for p in root.iterdir():
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n
