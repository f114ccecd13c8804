"""Offline reference geography: US states and the ZIP code table of the ``zipcodes`` package.

Loaded once per process and cached; everything returned is read-only by convention.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

#: USPS code -> (state FIPS, name). The 50 states, DC and Puerto Rico.
STATES: dict[str, tuple[str, str]] = {
    "AL": ("01", "Alabama"), "AK": ("02", "Alaska"), "AZ": ("04", "Arizona"),
    "AR": ("05", "Arkansas"), "CA": ("06", "California"), "CO": ("08", "Colorado"),
    "CT": ("09", "Connecticut"), "DE": ("10", "Delaware"), "DC": ("11", "District of Columbia"),
    "FL": ("12", "Florida"), "GA": ("13", "Georgia"), "HI": ("15", "Hawaii"),
    "ID": ("16", "Idaho"), "IL": ("17", "Illinois"), "IN": ("18", "Indiana"),
    "IA": ("19", "Iowa"), "KS": ("20", "Kansas"), "KY": ("21", "Kentucky"),
    "LA": ("22", "Louisiana"), "ME": ("23", "Maine"), "MD": ("24", "Maryland"),
    "MA": ("25", "Massachusetts"), "MI": ("26", "Michigan"), "MN": ("27", "Minnesota"),
    "MS": ("28", "Mississippi"), "MO": ("29", "Missouri"), "MT": ("30", "Montana"),
    "NE": ("31", "Nebraska"), "NV": ("32", "Nevada"), "NH": ("33", "New Hampshire"),
    "NJ": ("34", "New Jersey"), "NM": ("35", "New Mexico"), "NY": ("36", "New York"),
    "NC": ("37", "North Carolina"), "ND": ("38", "North Dakota"), "OH": ("39", "Ohio"),
    "OK": ("40", "Oklahoma"), "OR": ("41", "Oregon"), "PA": ("42", "Pennsylvania"),
    "RI": ("44", "Rhode Island"), "SC": ("45", "South Carolina"), "SD": ("46", "South Dakota"),
    "TN": ("47", "Tennessee"), "TX": ("48", "Texas"), "UT": ("49", "Utah"),
    "VT": ("50", "Vermont"), "VA": ("51", "Virginia"), "WA": ("53", "Washington"),
    "WV": ("54", "West Virginia"), "WI": ("55", "Wisconsin"), "WY": ("56", "Wyoming"),
    "PR": ("72", "Puerto Rico"),
}

#: USPS code -> (FIPS, name) of the island areas in the Census county file. Not part of the
#: default US unit sets; request them explicitly (``states=["GU", ...]``).
TERRITORIES: dict[str, tuple[str, str]] = {
    "AS": ("60", "American Samoa"), "GU": ("66", "Guam"),
    "MP": ("69", "Northern Mariana Islands"), "VI": ("78", "U.S. Virgin Islands"),
}

STATE_BY_FIPS: dict[str, str] = {fips: code for code, (fips, _) in STATES.items()}
STATE_BY_NAME: dict[str, str] = {name.upper(): code for code, (_, name) in STATES.items()}

#: The 48 contiguous states plus DC.
CONTIGUOUS = tuple(sorted(set(STATES) - {"AK", "HI", "PR"}))

#: Names accepted in a ``states`` filter for :data:`CONTIGUOUS` (upper case, no spaces or
#: hyphens): ``--states CONUS``, ``"lower 48"``, ``"contiguous"``.
CONTIGUOUS_ALIASES = frozenset({"CONUS", "LOWER48", "L48", "CONTIGUOUS", "CONTIGUOUSUS"})


def normalize_state(value: object) -> str | None:
    """USPS code for a state given as code or full name (any case/whitespace); None if unknown.

    >>> normalize_state(" california "), normalize_state("ny"), normalize_state("Narnia")
    ('CA', 'NY', None)
    """
    if value is None:
        return None
    s = " ".join(str(value).split()).upper().replace(".", "")
    if not s:
        return None
    if s in STATES:
        return s
    return STATE_BY_NAME.get(s)


@lru_cache(maxsize=1)
def zip_table() -> pd.DataFrame:
    """All 42k ZIP codes of the ``zipcodes`` package as a DataFrame.

    Columns: ``zip`` (5-char str), ``zip_type`` (STANDARD, PO BOX, UNIQUE, MILITARY),
    ``active`` (bool), ``city``, ``state``, ``county``, ``lat``, ``lon`` (float, NaN if
    missing). Sorted by ``zip``; index is the ZIP string.
    """
    import zipcodes

    rows = zipcodes.list_all()
    df = pd.DataFrame.from_records(
        rows, columns=["zip_code", "zip_code_type", "active", "city", "state", "county", "lat", "long"]
    )
    df = df.rename(columns={"zip_code": "zip", "zip_code_type": "zip_type", "long": "lon"})
    df["lat"] = pd.to_numeric(df["lat"], errors="coerce")
    df["lon"] = pd.to_numeric(df["lon"], errors="coerce")
    df.loc[(df["lat"] == 0) & (df["lon"] == 0), ["lat", "lon"]] = np.nan
    df["active"] = df["active"].astype(bool)
    df = df.sort_values("zip").drop_duplicates("zip").set_index("zip", drop=False)
    df.index.name = None
    return df
