"""What a territory asks of its rep: centre, workload hours, skill demand, who owns it today.

Pure functions over arrays/DataFrames; the service layer (``plan/assigning.py``) feeds them the
accounts of the workspace with their territory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ._common import AssignInputError, as_skill_matrix, parse_skills

__all__ = ["account_needs", "territory_features", "TerritoryFeatures"]

#: Account columns whose values can name a skill a rep must have (product line, segment...).
NEED_FIELDS = ("product_lines", "segment", "industry", "account_type", "language")


def account_needs(accounts: pd.DataFrame, vocabulary: Sequence[str],
                  fields: Sequence[str] = NEED_FIELDS) -> list[frozenset[str]]:
    """The skills each account needs: values of ``fields`` that are rep skills.

    An account needs skill *s* when one of its ``fields`` holds *s* (``product_lines`` may hold
    several, separated by ``;``). Only names in ``vocabulary`` (the reps' skills) count, so a
    segment "SMB" that no rep lists is not a need, while "Enterprise" is when reps list it.

    >>> a = pd.DataFrame({"product_lines": ["Skincare;Apparel", None], "segment": ["Enterprise", "SMB"]})
    >>> [sorted(x) for x in account_needs(a, ["skincare", "enterprise"])]
    [['enterprise', 'skincare'], []]
    """
    vocab = {str(v).strip().lower() for v in vocabulary}
    n = len(accounts)
    out: list[set] = [set() for _ in range(n)]
    for f in fields:
        if f not in accounts.columns:
            continue
        col = accounts[f].astype("object").where(accounts[f].notna(), None).tolist()
        for i, v in enumerate(col):
            if v is None:
                continue
            s = parse_skills(v) & vocab
            if s:
                out[i] |= s
    return [frozenset(x) for x in out]


@dataclass(frozen=True)
class TerritoryFeatures:
    """Per-territory table (``territory_id``, ``lat``, ``lon``, ``workload``, ``value``,
    ``accounts``), skill demand (territory × skill: share of the workload that needs the skill)
    and ownership (territory × rep: share of the value the rep owns today)."""

    territories: pd.DataFrame
    skill_demand: pd.DataFrame
    ownership: pd.DataFrame


def territory_features(
    territory: Sequence,
    *,
    lat,
    lon,
    workload,
    value=None,
    owner=None,
    needs=None,
    vocabulary: Sequence[str] = (),
    rep_ids: Sequence[str] = (),
    labels: Sequence[str] | None = None,
) -> TerritoryFeatures:
    """Aggregate accounts to territories.

    Parameters
    ----------
    territory : sequence of labels, one per account (None / NaN: not in any territory).
    lat, lon : account coordinates (NaN: left out of the centre, still counted in workload).
    workload : hours per account.
    value : revenue (or potential) per account; weights ownership. Default: workload.
    owner : current owner rep id per account.
    needs : skills each account needs (sets, strings or a boolean matrix over ``vocabulary``).
    vocabulary : skill names (columns of ``skill_demand``).
    rep_ids : reps (columns of ``ownership``); owners not listed are ignored.
    labels : territory order (default: sorted labels).

    Centres are workload-weighted mean coordinates of the territory's located accounts.

    >>> f = territory_features(["A", "A", "B"], lat=[40, 42, 41], lon=[-74, -72, -73],
    ...                        workload=[1, 3, 2], owner=["r1", "r2", "r2"], rep_ids=["r1", "r2"])
    >>> f.territories[["territory_id", "lat", "workload"]].values.tolist()
    [['A', 41.5, 4.0], ['B', 41.0, 2.0]]
    >>> f.ownership.round(2).values.tolist()
    [[0.25, 0.75], [0.0, 1.0]]
    """
    terr = pd.Series(list(territory), dtype="object")
    n = len(terr)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    w = np.asarray(workload, dtype=np.float64)
    if not (len(lat) == len(lon) == len(w) == n):
        raise AssignInputError("territory_features: territory, lat, lon and workload need one entry per account")
    w = np.nan_to_num(w)
    v = w if value is None else np.nan_to_num(np.asarray(value, dtype=np.float64))
    ok = terr.notna().to_numpy() & (terr.astype(str) != "nan").to_numpy()
    labs = list(labels) if labels is not None else sorted(terr[ok].astype(str).unique())
    t = pd.Index(labs).get_indexer(terr.astype(str))
    t[~ok] = -1
    k = len(labs)
    sel = t >= 0
    loc = sel & np.isfinite(lat) & np.isfinite(lon)
    ww = np.where(w > 0, w, 1e-9)
    wsum = np.bincount(t[loc], ww[loc], k)
    clat = np.bincount(t[loc], ww[loc] * lat[loc], k) / np.where(wsum > 0, wsum, np.nan)
    clon = np.bincount(t[loc], ww[loc] * lon[loc], k) / np.where(wsum > 0, wsum, np.nan)
    wl = np.bincount(t[sel], w[sel], k)
    val = np.bincount(t[sel], v[sel], k)
    cnt = np.bincount(t[sel], minlength=k)
    table = pd.DataFrame({"territory_id": labs, "lat": clat, "lon": clon, "workload": wl,
                          "value": val, "accounts": cnt})
    vocab = [str(s).lower() for s in vocabulary]
    if vocab:
        need = as_skill_matrix(needs, n, vocab, "needs")
        dem = np.zeros((k, len(vocab)))
        np.add.at(dem, t[sel], need[sel] * w[sel, None])
        dem /= np.where(wl > 0, wl, 1.0)[:, None]
    else:
        dem = np.zeros((k, 0))
    skill_demand = pd.DataFrame(dem, index=pd.Index(labs, name="territory_id"), columns=vocab)
    reps = [str(r) for r in rep_ids]
    own = np.zeros((k, len(reps)))
    if owner is not None and reps:
        o = pd.Index(reps).get_indexer(pd.Series(list(owner), dtype="object").astype(str))
        m = sel & (o >= 0)
        np.add.at(own, (t[m], o[m]), v[m])
        own /= np.where(val > 0, val, 1.0)[:, None]
    ownership = pd.DataFrame(own, index=pd.Index(labs, name="territory_id"), columns=reps)
    return TerritoryFeatures(table, skill_demand, ownership)
