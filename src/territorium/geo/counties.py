"""Matching county names as written in address data to Census county FIPS codes.

The ``zipcodes`` table (and most CRM exports) write county names as free text:
``Suffolk County``, ``St Louis city``, ``Orleans Parish``, ``Dona Ana County``,
``Municipality of Anchorage``, ``Bayamon`` (Puerto Rico), ``Fairfax City``. The Census file has
``NAME`` (``St. Louis``, ``Doña Ana``, ``Bayamón``) plus an ``LSAD`` code saying what kind of
county-equivalent it is (``06`` county, ``15`` parish, ``25`` independent city, ...).

We normalise both sides to a key (accents stripped, lower case, ``Saint``/``St.``/``St``
unified, punctuation dropped, the kind word removed) and keep whether the name said *city*:
Virginia, Maryland (Baltimore), Missouri (St. Louis) and Nevada (Carson City) have independent
cities whose names collide with counties (``Fairfax County`` 51059 vs ``Fairfax city`` 51600,
``Richmond County`` 51159 vs ``Richmond city`` 51760, ``Baltimore County`` 24005 vs
``Baltimore city`` 24510).
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd

__all__ = ["normalize_county_name", "match_counties", "ALIASES"]

#: Names that changed after the 2016 boundary file: (state, normalised key) -> county FIPS.
ALIASES: dict[tuple[str, str], str] = {
    # Valdez-Cordova Census Area was split into Chugach and Copper River in 2019.
    ("AK", "chugach"): "02261",
    ("AK", "copper river"): "02261",
    # Bedford city (51515) became part of Bedford County in 2013.
    ("VA", "bedford|city"): "51019",
    # Wade Hampton Census Area was renamed Kusilvak in 2015 (both spellings seen in data).
    ("AK", "wade hampton"): "02158",
    # Shannon County SD was renamed Oglala Lakota County in 2015.
    ("SD", "shannon"): "46102",
    # Prince of Wales-Outer Ketchikan was reorganised as Prince of Wales-Hyder in 2008.
    ("AK", "prince of wales outer ketchikan"): "02198",
}

_PREFIXES = ("city and borough of ", "municipality of ", "borough of ", "city of ", "county of ")
_SUFFIXES = (
    " city and borough",
    " census area",
    " municipality",
    " municipio",
    " borough",
    " county",
    " parish",
    " city",
)


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def _base(s: str) -> str:
    s = _ascii(s).lower().replace("&", " and ")
    s = re.sub(r"[.'’`]", "", s)
    s = re.sub(r"[-_/,]", " ", s)
    s = " ".join(s.split())
    s = re.sub(r"^(saint|st)\b ?", "st ", s)
    s = re.sub(r"\b(saint|st)\b ", "st ", s)
    s = re.sub(r"^(sainte|ste)\b ?", "ste ", s)
    return s.strip()


def normalize_county_name(name: str) -> tuple[str, bool]:
    """``(key, is_city)`` for a county name as found in address data.

    >>> normalize_county_name("St. Louis city")
    ('st louis', True)
    >>> normalize_county_name("Doña Ana County")
    ('dona ana', False)
    >>> normalize_county_name("City and Borough of Juneau")
    ('juneau', False)
    """
    s = _base(name)
    for p in _PREFIXES:
        if s.startswith(p):
            s = s[len(p):]
            break
    is_city = False
    for suf in _SUFFIXES:
        if s.endswith(suf) and len(s) > len(suf):
            is_city = suf == " city"
            s = s[: -len(suf)]
            break
    return s.strip(), is_city


@lru_cache(maxsize=1)
def _census_keys() -> tuple[dict, dict, dict, dict, dict]:
    from territorium.geo.sources import county_frame

    c = county_frame()
    exact: dict[tuple[str, str, bool], str] = {}
    loose: dict[tuple[str, str], list[str]] = {}
    full: dict[tuple[str, str], str] = {}
    nospace: dict[tuple[str, str, bool], str] = {}
    by_state: dict[str, list[tuple[str, str]]] = {}
    for fips, st, name, lsad in zip(c["fips"], c["state"], c["name"], c["lsad"]):
        key = _base(name)
        is_city = lsad == "25"
        exact[(st, key, is_city)] = fips
        loose.setdefault((st, key), []).append(fips)
        full[(st, key)] = fips
        nospace[(st, key.replace(" ", ""), is_city)] = fips
        by_state.setdefault(st, []).append((key, fips))
    return exact, loose, full, by_state, nospace


def _match_one(state: str, name: str) -> tuple[str | None, str]:
    """FIPS for one (state, county name) and how it was matched."""
    if not isinstance(name, str) or not name.strip() or not isinstance(state, str):
        return None, "missing"
    exact, loose, full, by_state, nospace = _census_keys()
    key, is_city = normalize_county_name(name)
    alias = ALIASES.get((state, key + ("|city" if is_city else ""))) or ALIASES.get((state, key))
    if alias:
        return alias, "alias"
    f = exact.get((state, key, is_city))
    if f:
        return f, "exact"
    # "Carson City", "James City": the word "city" is part of the Census NAME
    f = full.get((state, _base(name)))
    if f:
        return f, "exact"
    # "La Porte" / "LaPorte", "De Witt" / "DeWitt"
    f = nospace.get((state, key.replace(" ", ""), is_city))
    if f:
        return f, "exact"
    cands = loose.get((state, key), [])
    if len(cands) == 1:
        return cands[0], "kind-differs"
    # last resort: closest spelling within the state
    keys = by_state.get(state, [])
    best = difflib.get_close_matches(key, [k for k, _ in keys], n=1, cutoff=0.85)
    if best:
        return dict(keys)[best[0]], "fuzzy"
    return None, "unmatched"


def match_counties(states, names) -> pd.DataFrame:
    """Census FIPS for arrays of (USPS state code, county name) pairs.

    Returns a frame aligned with the input: ``county_fips`` (str or None) and ``how``
    (``exact``, ``alias``, ``kind-differs``, ``fuzzy``, ``missing`` or ``unmatched``).
    Distinct pairs are matched once, so a million rows cost as much as their distinct names.

    >>> match_counties(["VA", "VA", "VA", "LA", "NM"],
    ...                ["Fairfax County", "Fairfax City", "Richmond city", "Orleans Parish",
    ...                 "Dona Ana County"])["county_fips"].tolist()
    ['51059', '51600', '51760', '22071', '35013']
    """
    df = pd.DataFrame({"state": np.asarray(states, dtype=object), "name": np.asarray(names, dtype=object)})
    pairs = df.drop_duplicates()
    res = {
        (s, n): _match_one(s, n) for s, n in zip(pairs["state"], pairs["name"])
    }
    out = [res[(s, n)] for s, n in zip(df["state"], df["name"])]
    return pd.DataFrame(
        {"county_fips": [o[0] for o in out], "how": [o[1] for o in out]}, index=df.index
    )
