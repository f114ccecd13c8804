"""How many reps do we need? Design territories for each head count and compare.

For every ``n`` in a range, :func:`territorium.design.design` cuts the units into ``n``
balanced, contiguous territories (same seed, a short time limit each); one rep works each
territory. Per ``n`` we report the workload per rep against the capacity in hours (mean,
largest, utilisation), **coverage** — the share of the potential that lies in territories whose
workload fits the capacity — and travel (the mean and largest distance from a unit to its
territory centre, weighted as in the design). The recommended ``n`` is the smallest with
coverage ≥ ``coverage_target`` and the largest territory's workload ≤ capacity · (1 +
``tolerance``). A unit whose workload alone exceeds that limit (a dense ZIP, a key account)
cannot fit any territory: it is reported as *oversized* and the territories holding such units
are left out of the largest-workload criterion (they count as not covered).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from territorium.model import Units

from ._common import AssignInputError

__all__ = ["SizingResult", "size"]


@dataclass(frozen=True)
class SizingResult:
    """The sizing curve.

    Attributes
    ----------
    table : DataFrame
        One row per ``n``: ``n``, ``status`` (design status), ``mean_workload``,
        ``max_workload``, ``min_workload`` (hours per rep), ``max_regular`` (largest territory
        without an oversized unit), ``mean_utilisation``,
        ``max_utilisation`` (workload / capacity), ``coverage`` (0–1), ``within_capacity``
        (territories whose workload fits), ``mean_km``, ``max_km``, ``meets`` (both criteria).
    recommended : int or None
    oversized : tuple of str
        Units whose workload alone exceeds capacity · (1 + tolerance).
    reason : str
        Why that ``n`` (or why none).
    capacity_hours, coverage_target, tolerance : float
    assignments : dict
        ``n`` → territory per unit (for plotting or writing the chosen plan).
    """

    table: pd.DataFrame
    recommended: int | None
    reason: str
    oversized: tuple
    capacity_hours: float
    coverage_target: float
    tolerance: float
    assignments: dict = field(repr=False, default_factory=dict)


def size(
    units: Units,
    ns: Sequence[int],
    *,
    capacity_hours: float = 1600.0,
    coverage_target: float = 0.95,
    tolerance: float = 0.10,
    workload: str = "workload",
    potential: str = "potential",
    balance: Mapping[str, float] | None = None,
    time_limit: float = 5.0,
    seed: int = 0,
    n_jobs: int | None = 1,
    progress: Callable[[float, str], None] | None = None,
    **design_kwargs,
) -> SizingResult:
    """Design ``n`` territories for each ``n`` in ``ns`` and report the sizing curve.

    Parameters
    ----------
    units : Units
        With the ``workload`` (hours per year) and ``potential`` measures.
    ns : sequence of int
        Head counts to try (sorted, duplicates dropped).
    capacity_hours : float
        Selling hours per rep per year (one FTE), e.g. 1,600.
    coverage_target : float
        Share of potential that must lie in territories within capacity.
    tolerance : float
        Largest territory may exceed capacity by this fraction.
    balance : dict, optional
        Balance tolerances for the design (default ``{workload: 0.05}``).
    time_limit : float
        Seconds per design.
    seed : int
        The same seed for every ``n``.
    n_jobs : int, optional
        Worker processes per design (default 1).
    design_kwargs
        Passed to :func:`territorium.design.design` (e.g. ``candidates``).

    Examples
    --------
    A 10 × 10 grid with 40 hours of work per cell (4,000 hours): with 1,000-hour reps,
    4 territories fit exactly, so 4 is the smallest head count that covers everything.

    >>> from territorium.geo.grid import grid_units
    >>> u = grid_units(10, 10)
    >>> u = u.with_measures({"workload": np.full(100, 40.0), "potential": np.ones(100)})
    >>> s = size(u, [3, 4, 5], capacity_hours=1000, tolerance=0.05, time_limit=3)
    >>> s.recommended, s.table["coverage"].round(2).tolist()
    (4, [0.0, 1.0, 1.0])
    """
    from territorium.design import design
    from territorium.design.engine import DesignInputError

    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 1:
        raise AssignInputError("sizing needs head counts ≥ 1")
    if capacity_hours <= 0:
        raise AssignInputError("capacity hours must be positive")
    for m in (workload, potential):
        if m not in units.table.columns:
            raise AssignInputError(f"units lack the measure {m!r}")
    wl = units.measure(workload).astype(np.float64)
    pot = units.measure(potential).astype(np.float64)
    bal = dict(balance or {workload: 0.05})
    limit = capacity_hours * (1 + tolerance)
    big = wl > limit + 1e-9
    oversized = tuple(str(u) for u in units.ids[big])
    rows, assignments = [], {}
    for step, n in enumerate(ns):
        if progress:
            progress(step / len(ns), f"designing {n} territories")
        if n > units.n:
            rows.append({"n": n, "status": f"skipped: only {units.n} units"})
            continue

        def sub(frac, msg, step=step):
            if progress:
                progress((step + min(max(frac, 0.0), 1.0)) / len(ns), f"n={n}: {msg}"[:60])

        try:
            r = design(units, n, balance=bal, seed=seed, time_limit=time_limit, n_jobs=n_jobs,
                       progress=sub, shape_metrics=False, **design_kwargs)
        except DesignInputError as exc:
            rows.append({"n": n, "status": f"error: {exc}"})
            continue
        a = np.asarray(r.assignment)
        assignments[n] = a
        t_wl = np.bincount(a, wl, n)
        t_pot = np.bincount(a, pot, n)
        fits = t_wl <= capacity_hours + 1e-9
        holds_big = np.bincount(a, big.astype(np.float64), n) > 0
        rows.append({
            "n": n, "status": r.report.status,
            "mean_workload": float(t_wl.mean()), "max_workload": float(t_wl.max()),
            "min_workload": float(t_wl.min()),
            "max_regular": float(t_wl[~holds_big].max()) if (~holds_big).any() else 0.0,
            "mean_utilisation": float(t_wl.mean() / capacity_hours),
            "max_utilisation": float(t_wl.max() / capacity_hours),
            "coverage": float(t_pot[fits].sum() / t_pot.sum()) if t_pot.sum() > 0 else float(fits.mean()),
            "within_capacity": int(fits.sum()),
            "mean_km": float(r.report.mean_distance_km), "max_km": float(r.report.max_distance_km),
        })
    table = pd.DataFrame(rows, columns=["n", "status", "mean_workload", "max_workload", "min_workload",
                                        "max_regular", "mean_utilisation", "max_utilisation", "coverage", "within_capacity",
                                        "mean_km", "max_km"])
    table["meets"] = ((table["coverage"] >= coverage_target - 1e-12)
                      & (table["max_regular"] <= limit + 1e-9)).fillna(False).astype(bool)
    ok = table[table["meets"]]
    if len(ok):
        rec = int(ok["n"].iloc[0])
        row = ok.iloc[0]
        reason = (f"{rec} reps: the smallest head count tried with coverage {row['coverage']:.0%} ≥ "
                  f"{coverage_target:.0%} and the largest territory at {row['max_regular']:,.0f} h ≤ "
                  f"{limit:,.0f} h (capacity {capacity_hours:,.0f} h + {tolerance:.0%})")
    else:
        rec = None
        need = wl.sum() / capacity_hours
        reason = (f"no head count tried meets coverage ≥ {coverage_target:.0%} with the largest territory ≤ "
                  f"capacity + {tolerance:.0%}; total workload {wl.sum():,.0f} h needs at least "
                  f"{int(np.ceil(need))} reps of {capacity_hours:,.0f} h")

    if oversized:
        reason += (f"; {len(oversized)} unit(s) need more than one rep on their own ({', '.join(oversized[:5])}: "
                   f"{', '.join(f'{x:,.0f} h' for x in wl[big][:5])}): left out of the largest-territory "
                   "criterion, split them or staff them as a team")
    if progress:
        progress(1.0, "done")
    return SizingResult(table, rec, reason, oversized, float(capacity_hours), float(coverage_target),
                        float(tolerance), assignments)
