"""Per-territory balance targets of a plan: what ``design --capacity-targets`` balanced each
territory against, read back from a stored plan, so the map's balance bars can say how far a
territory is from *its own* target instead of from the plain mean.

The design engine takes targets as shares of every balance measure's total (``targets`` of
``design.design``); ``design --centers reps --capacity-targets`` makes them proportional to
each rep's capacity as :func:`rep_capacity` reads it. A stored plan does not keep those
shares, so they are derived again from the same definition:

- from the plan's **staffing**: a territory's share is the summed capacity of its reps (a
  vacant territory counts as one rep of the median capacity, as a rep without a capacity
  does), over the total of every leaf territory;
- without staffing, from the **design's stored settings** (``design --plan``): one territory
  per rep in the design's own order (:func:`design_rep_pool`).

A plan whose settings say it was designed without capacity targets has none; nor has a plan
whose shares would all be equal (the plain mean is then the same thing).

:func:`stored_targets` reads them for a stored plan (the map's balance bars, and the realign and
trade-off jobs, which balance towards them); :func:`label_shares` puts them in the engine's
territory order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["Targets", "rep_capacity", "design_rep_pool", "plan_targets", "stored_targets", "label_shares",
           "reference"]


@dataclass(frozen=True)
class Targets:
    """Per leaf territory its target share of every measure's total (shares sum to 1).

    ``source``: ``"staffing"`` or ``"design"``; ``capacity``: the territory's capacity (hours,
    or FTE when no rep has hours); ``unit``: ``"hours"`` or ``"fte"``; ``vacant``: territories
    without a rep, counted at the median capacity."""

    shares: dict[str, float]
    source: str
    capacity: dict[str, float]
    unit: str
    vacant: tuple[str, ...] = field(default_factory=tuple)


def rep_capacity(reps: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Each rep's capacity as the capacity targets read it, and its unit.

    ``capacity_hours``; when no rep has hours, ``fte`` (missing: 1.0) and the unit ``"fte"``;
    a rep without a value gets the median of the others.

    >>> rep_capacity(pd.DataFrame({"capacity_hours": [1600.0, 800.0, None], "fte": [1, .5, 1]}))
    (array([1600.,  800., 1200.]), 'hours')
    >>> rep_capacity(pd.DataFrame({"capacity_hours": [None, None], "fte": [1.0, 0.5]}))[0]
    array([1. , 0.5])
    """
    n = len(reps)
    cap = (pd.to_numeric(reps["capacity_hours"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
           if "capacity_hours" in reps.columns else np.full(n, np.nan))
    unit = "hours"
    if n and np.isnan(cap).all():
        fte = pd.to_numeric(reps["fte"], errors="coerce") if "fte" in reps.columns else pd.Series(np.nan, index=reps.index)
        cap = fte.fillna(1.0).to_numpy(dtype=float)
        unit = "fte"
    if n and np.isnan(cap).any():
        cap = np.where(np.isnan(cap), np.nanmedian(cap), cap)
    return cap, unit


def design_rep_pool(reps: pd.DataFrame, territories: pd.DataFrame | None = None,
                    labels: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str], list]:
    """The reps a ``--centers reps`` design puts one territory around: (reps indexed by rep id in
    territory order, territory labels, rep ids).

    Active reps whose title does not name a manager. With ``labels`` (the territory ids of a
    current alignment), each label's rep from the imported ``territories`` table (a missing one
    gives a row of NaN); otherwise every rep by rep id, labelled T01, T02, ...
    """
    reps = reps[reps["active"].fillna(True).astype(bool)]
    reps = reps[~reps["title"].fillna("").str.contains("manager", case=False)]
    if labels is not None:
        terr = territories.set_index("territory_id") if territories is not None else pd.DataFrame()
        rep_of = [terr["rep_id"].get(t) if t in terr.index else None for t in labels]
        return reps.set_index("rep_id").reindex(rep_of), list(labels), rep_of
    reps = reps.sort_values("rep_id").set_index("rep_id")
    return reps, [f"T{i + 1:02d}" for i in range(len(reps))], list(reps.index)


def _leaves(territories: pd.DataFrame) -> list[str]:
    parents = set(territories["parent"].dropna().astype(str)) if "parent" in territories.columns else set()
    return [t for t in territories["territory_id"].astype(str) if t not in parents]


def _equal(v: np.ndarray) -> bool:
    return bool(len(v)) and float(v.max() - v.min()) <= 1e-9 * float(abs(v).max())


def plan_targets(territories: pd.DataFrame, reps: pd.DataFrame, settings: Mapping | None = None,
                 imported_territories: pd.DataFrame | None = None) -> Targets | None:
    """The capacity targets of a plan, or None when it has none (see the module's docstring).

    ``territories``: the plan's territories (``territory_id``, ``parent``, ``reps``: lists of
    (rep_id, role)); ``reps``: the workspace's reps table; ``settings``: the plan's recorded
    settings; ``imported_territories``: the workspace's territories table (a realignment
    designed around the reps of the current territories).

    >>> reps = pd.DataFrame({"rep_id": ["a", "b", "c"], "capacity_hours": [1600.0, 800.0, 1600.0],
    ...                      "fte": [1.0, 0.5, 1.0], "active": [True] * 3, "title": ["AE"] * 3})
    >>> plan = pd.DataFrame({"territory_id": ["T1", "T2", "T3"], "parent": [None] * 3,
    ...                      "reps": [[("a", "rep")], [("b", "rep")], []]})
    >>> t = plan_targets(plan, reps)   # T3 is vacant: one rep of the median capacity (1,200 h)
    >>> t.source, {k: round(v, 4) for k, v in t.shares.items()}, t.vacant
    ('staffing', {'T1': 0.4444, 'T2': 0.2222, 'T3': 0.3333}, ('T3',))
    """
    settings = dict(settings or {})
    if settings.get("capacity_targets") is False:   # designed with equal targets
        return None
    leaves = _leaves(territories)
    if not leaves:
        return None
    staff = territories.set_index(territories["territory_id"].astype(str))["reps"] \
        if "reps" in territories.columns else pd.Series(dtype=object)
    rep_lists = {t: [str(r[0] if isinstance(r, (tuple, list)) else r) for r in (staff.get(t) or [])]
                 for t in leaves}
    named = sorted({r for rr in rep_lists.values() for r in rr})
    if named:
        table = reps.assign(rep_id=reps["rep_id"].astype(str)).drop_duplicates("rep_id").set_index("rep_id") \
            .reindex(named)
        cap, unit = rep_capacity(table)
        of = dict(zip(named, cap))
        median = float(np.median(cap))
        vacant = tuple(t for t in leaves if not rep_lists[t])
        tcap = np.array([sum(of[r] for r in rep_lists[t]) if rep_lists[t] else median for t in leaves])
        source = "staffing"
    elif settings.get("capacity_targets") and settings.get("centers") == "reps":
        labels = leaves if settings.get("realign") or settings.get("from") else None
        pool, plabels, _ = design_rep_pool(reps, imported_territories, labels)
        cap, unit = rep_capacity(pool)
        of = dict(zip(plabels, cap))
        if set(leaves) - set(of):
            return None
        tcap = np.array([of[t] for t in leaves])
        vacant = ()
        source = "design"
    else:
        return None
    if not np.isfinite(tcap).all() or (tcap < 0).any() or tcap.sum() <= 0 or _equal(tcap):
        return None
    shares = tcap / tcap.sum()
    return Targets({t: float(s) for t, s in zip(leaves, shares)}, source,
                   {t: float(c) for t, c in zip(leaves, tcap)}, unit, vacant)


def stored_targets(eng, content) -> Targets | None:
    """The capacity targets of a stored plan (a :class:`~territorium.plan.plans.PlanContent`),
    with the workspace's reps (and its imported territories when the plan's settings say it was
    designed with capacity targets) read from the database ``eng``; None when it has none."""
    from territorium.store import db as store

    settings = content.info.settings or {}
    imported = store.read_table(eng, "territories") if settings.get("capacity_targets") else None
    return plan_targets(content.territories, store.read_table(eng, "reps"), settings, imported)


def label_shares(targets: Targets | Mapping[str, float], labels: Sequence[str]) -> np.ndarray:
    """The targets' shares (a :class:`Targets` or territory → share) in the order of ``labels`` (the engine's territories), summing to 1
    over them: a leaf that holds no unit, and is not among the labels, leaves its share to the
    others. Raises ValueError naming a label that has no target.

    >>> t = Targets({"T1": 0.5, "T2": 0.25, "T3": 0.25}, "staffing", {}, "hours")
    >>> label_shares(t, ["T2", "T1"]).round(4).tolist()
    [0.3333, 0.6667]
    """
    shares = targets.shares if isinstance(targets, Targets) else dict(targets)
    missing = [str(lab) for lab in labels if str(lab) not in shares]
    if missing:
        raise ValueError(f"territory {missing[0]!r} has no capacity target (the plan's targets cover "
                         f"{', '.join(sorted(shares)[:8])}{'...' if len(shares) > 8 else ''})")
    s = np.array([shares[str(lab)] for lab in labels], dtype=float)
    if not len(s) or s.sum() <= 0:
        raise ValueError("the capacity targets of these territories are all zero")
    return s / s.sum()


def reference(targets: Targets | None) -> tuple[dict[str, float] | None, str]:
    """What a plan is balanced towards, as the jobs, the CLI and the health table pass it on:
    (territory → share, ``"capacity"``) for targets, (None, ``"equal"``) for the mean.

    >>> reference(None)
    (None, 'equal')
    >>> reference(Targets({"T1": 0.75, "T2": 0.25}, "staffing", {}, "hours"))
    ({'T1': 0.75, 'T2': 0.25}, 'capacity')
    """
    return (None, "equal") if targets is None else (dict(targets.shares), "capacity")
