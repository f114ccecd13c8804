"""Small pure helpers shared by the assigners: distances and skill sets."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["AssignInputError", "haversine_km", "parse_skills", "skill_matrix"]

EARTH_RADIUS_KM = 6371.0088


class AssignInputError(ValueError):
    """The inputs of an assignment cannot be solved as given (message written for the user)."""


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between every point of set 1 (rows) and set 2 (columns).

    >>> round(float(haversine_km([40.7128], [-74.0060], [42.3601], [-71.0589])[0, 0]), 1)
    306.1
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))[:, None]
    l1 = np.radians(np.asarray(lon1, dtype=np.float64))[:, None]
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))[None, :]
    l2 = np.radians(np.asarray(lon2, dtype=np.float64))[None, :]
    a = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def parse_skills(value) -> frozenset[str]:
    """One cell of a skills column → a set of normalised skill names.

    Accepts ``"Skincare;Enterprise"``, ``"a, b | c"``, a list/set, or None/NaN (no skills).

    >>> sorted(parse_skills("Skincare; enterprise,Spanish"))
    ['enterprise', 'skincare', 'spanish']
    """
    if value is None:
        return frozenset()
    if isinstance(value, float) and np.isnan(value):
        return frozenset()
    if isinstance(value, (set, frozenset, list, tuple, np.ndarray)):
        items: Iterable = value
    else:
        s = str(value)
        for sep in ("|", ","):
            s = s.replace(sep, ";")
        items = s.split(";")
    return frozenset(str(x).strip().lower() for x in items if str(x).strip() and str(x).strip().lower() != "nan")


def skill_matrix(rows: Sequence, vocabulary: Sequence[str]) -> np.ndarray:
    """Boolean matrix (len(rows), len(vocabulary)): which row has which skill.

    ``rows`` holds anything :func:`parse_skills` reads; names outside the vocabulary are ignored.

    >>> skill_matrix(["a;b", None, "c"], ["a", "c"]).astype(int).tolist()
    [[1, 0], [0, 0], [0, 1]]
    """
    col = {s: j for j, s in enumerate(vocabulary)}
    out = np.zeros((len(rows), len(vocabulary)), dtype=bool)
    for i, v in enumerate(rows):
        for s in parse_skills(v):
            j = col.get(s)
            if j is not None:
                out[i, j] = True
    return out


def as_skill_matrix(x, n: int, vocabulary: Sequence[str], what: str) -> np.ndarray:
    """A skills argument (None, boolean matrix, or one cell per row) as a boolean matrix."""
    if x is None:
        return np.zeros((n, len(vocabulary)), dtype=bool)
    if isinstance(x, np.ndarray) and x.ndim == 2:
        if x.shape != (n, len(vocabulary)):
            raise AssignInputError(f"{what}: expected a ({n}, {len(vocabulary)}) matrix, got {x.shape}")
        return x.astype(bool)
    rows = list(x) if not isinstance(x, pd.Series) else x.tolist()
    if len(rows) != n:
        raise AssignInputError(f"{what}: expected {n} rows, got {len(rows)}")
    return skill_matrix(rows, vocabulary)
