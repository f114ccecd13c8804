"""Reps → territories: one rep per territory, solved exactly as a linear assignment problem.

Cost of giving territory *t* to rep *r*, in km-equivalents (weights in :class:`RepWeights`)::

    cost[r, t] = travel · km(home_r, centre_t)
               + skill · (share of t's skill demand r does not cover)
               + capacity · max(0, workload_t − capacity_r) / capacity_r
               − continuity · (share of t's value r owns today)

Hard constraints (a rep must take a territory, must not take it, a territory requires a skill)
remove pairs. The assignment polytope is integral, so the linear assignment
(:func:`scipy.optimize.linear_sum_assignment`, Crouse's shortest augmenting path) on the
constrained matrix is the exact optimum; ``method="mip"`` solves the same model as a 0/1 MIP
with HiGHS (a cross-check, and the place to add side constraints). Unequal numbers are padded:
with fewer reps, territories are left vacant at a cost ``vacancy`` × (workload / mean
workload), so the smallest territories go vacant first; with more reps, the reps whose best use
is worst are benched.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from territorium.design._lp import _highs  # silent HiGHS (banner to /dev/null)

from ._common import AssignInputError, as_skill_matrix, haversine_km, parse_skills

__all__ = ["RepWeights", "RepAssignment", "assign_reps"]


@dataclass(frozen=True)
class RepWeights:
    """Weights of the rep → territory cost, in km-equivalents.

    Attributes
    ----------
    travel : float
        Per km from the rep's home to the territory centre (default 1).
    skill : float
        Per 100 % of the territory's skill demand the rep does not cover (default 100: a rep
        lacking half of what the territory needs costs as much as 50 km more travel).
    capacity : float
        Per 100 % overload, i.e. workload hours above the rep's capacity relative to that
        capacity (default 200: 2 km per percentage point of overload).
    continuity : float
        Bonus per 100 % of the territory's value (revenue) the rep owns today (default 100).
    vacancy : float
        Cost of leaving a territory of mean workload without a rep (default 1000), when there
        are fewer reps than territories.
    """

    travel: float = 1.0
    skill: float = 100.0
    capacity: float = 200.0
    continuity: float = 100.0
    vacancy: float = 1000.0

    @classmethod
    def parse(cls, text: str | None) -> "RepWeights":
        """``"travel=1,skill=50"`` → weights (others default).

        >>> RepWeights.parse("skill=50, continuity=0").skill
        50.0
        """
        if not text:
            return cls()
        known = {f.name for f in fields(cls)}
        kw = {}
        for part in str(text).split(","):
            if not part.strip():
                continue
            name, sep, val = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in known:
                raise AssignInputError(f"--weights: {part.strip()!r}: expected NAME=NUMBER with NAME one of "
                                       f"{', '.join(sorted(known))}")
            try:
                kw[name] = float(val)
            except ValueError:
                raise AssignInputError(f"--weights: {part.strip()!r}: {val.strip()!r} is not a number") from None
            if kw[name] < 0:
                raise AssignInputError(f"--weights: {name} must not be negative")
        return cls(**kw)


@dataclass(frozen=True)
class RepAssignment:
    """Who takes which territory, what each pair costs, and why.

    Attributes
    ----------
    table : DataFrame
        One row per territory: ``territory_id``, ``rep_id`` (None: vacant), ``cost`` and its
        parts ``c_travel``, ``c_skill``, ``c_capacity``, ``c_continuity``; ``travel_km``,
        ``skill_cover`` (share of skill demand the rep covers), ``workload``, ``capacity``,
        ``overload_h``, ``owned_share``, ``rank`` (1 = cheapest eligible rep for this
        territory), ``eligible`` (reps allowed), ``reason``.
    rep_of_territory : ndarray (T,)
        Rep position per territory, -1 vacant.
    territory_of_rep : ndarray (R,)
        Territory position per rep, -1 benched.
    rep_ids, territory_ids : tuple of str
    vacant, benched : tuple of str
    objective : float
        Sum of the chosen pair costs plus vacancy costs.
    components : dict of ndarray (R, T)
        ``travel_km``, ``skill_mismatch``, ``overload``, ``owned_share``, ``cost`` (inf:
        forbidden pair).
    method : str
    weights : RepWeights
    """

    table: pd.DataFrame
    rep_of_territory: np.ndarray
    territory_of_rep: np.ndarray
    rep_ids: tuple
    territory_ids: tuple
    vacant: tuple
    benched: tuple
    objective: float
    components: dict = field(repr=False)
    method: str = "lap"
    weights: RepWeights = field(default_factory=RepWeights)


def _matrix(x, rows: list[str], cols: list[str], what: str, default: float = 0.0) -> np.ndarray:
    """A DataFrame (index rows, columns cols) or array as an aligned float matrix."""
    if x is None:
        return np.full((len(rows), len(cols)), default)
    if isinstance(x, pd.DataFrame):
        df = x.copy()
        df.index = df.index.astype(str)
        df.columns = df.columns.astype(str)
        return df.reindex(index=rows, columns=cols).fillna(default).to_numpy(dtype=np.float64)
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (len(rows), len(cols)):
        raise AssignInputError(f"{what}: expected shape ({len(rows)}, {len(cols)}), got {a.shape}")
    return a


def _allowed(reps: list[str], terrs: list[str], *, must, forbid, required, rep_skill_sets) -> tuple[np.ndarray, dict]:
    R, T = len(reps), len(terrs)
    ri = {r: i for i, r in enumerate(reps)}
    ti = {t: j for j, t in enumerate(terrs)}
    ok = np.ones((R, T), dtype=bool)
    why: dict[tuple[int, int], str] = {}

    def rep_pos(r, what):
        if str(r) not in ri:
            raise AssignInputError(f"{what}: unknown rep {r!r} (reps are {', '.join(reps[:6])}{'...' if R > 6 else ''})")
        return ri[str(r)]

    def terr_pos(t, what):
        if str(t) not in ti:
            raise AssignInputError(f"{what}: unknown territory {t!r} (territories are "
                                   f"{', '.join(terrs[:6])}{'...' if T > 6 else ''})")
        return ti[str(t)]

    for t, skills in (required or {}).items():
        j = terr_pos(t, "required skill")
        need = parse_skills(skills)
        for i in range(R):
            miss = need - rep_skill_sets[i]
            if miss:
                ok[i, j] = False
                why[(i, j)] = f"lacks required skill {', '.join(sorted(miss))}"
    for r, t in forbid or ():
        i, j = rep_pos(r, "must-not rule"), terr_pos(t, "must-not rule")
        ok[i, j] = False
        why[(i, j)] = "must-not rule"
    must_pairs = {}
    seen_t: dict[int, int] = {}
    for r, t in (must or {}).items():
        i, j = rep_pos(r, "must rule"), terr_pos(t, "must rule")
        if j in seen_t:
            raise AssignInputError(f"must rules give territory {terrs[j]} to two reps: {reps[seen_t[j]]} and {reps[i]}")
        if not ok[i, j]:
            raise AssignInputError(f"must rule {reps[i]} → {terrs[j]} contradicts another rule ({why[(i, j)]})")
        seen_t[j] = i
        must_pairs[i] = j
    for i, j in must_pairs.items():
        keep = ok[i, j]
        ok[i, :] = False
        ok[:, j] = False
        ok[i, j] = keep
    return ok, must_pairs


def _solve_lap(cost: np.ndarray, ok: np.ndarray, vac: np.ndarray, bench: np.ndarray) -> tuple[np.ndarray, float]:
    """Padded square LAP; ``vac`` / ``bench`` are the costs of dummy pairs (inf: not allowed)."""
    from scipy.optimize import linear_sum_assignment

    R, T = cost.shape
    N = max(R, T)
    big = np.full((N, N), np.inf)
    big[:R, :T] = np.where(ok, cost, np.inf)
    if T > R:  # dummy reps: the territory stays vacant
        big[R:, :T] = vac[None, :]
    if R > T:  # dummy territories: the rep is benched
        big[:R, T:] = bench[:, None]
    try:
        rows, cols = linear_sum_assignment(big)
    except ValueError:
        raise _infeasible(ok) from None
    rep_of_t = np.full(T, -1, dtype=np.int64)
    for r, c in zip(rows, cols):
        if r < R and c < T:
            rep_of_t[c] = r
    return rep_of_t, float(big[rows, cols].sum())


def _solve_mip(cost: np.ndarray, ok: np.ndarray, vac: np.ndarray, bench: np.ndarray) -> tuple[np.ndarray, float]:
    """The same model as a 0/1 MIP (HiGHS): rows "each rep once", "each territory once"."""
    import highspy
    from scipy.sparse import coo_array

    R, T = cost.shape
    pr, pt = np.nonzero(ok)
    npair = len(pr)
    # columns: x_pairs, then bench z_r (R > T only), then vacancy y_t (T > R only)
    c = [cost[pr, pt]]
    rows_i, cols_i = [pr, R + pt], [np.arange(npair), np.arange(npair)]
    ncol = npair
    upper = [np.ones(npair)]
    if R > T:
        c.append(np.where(np.isfinite(bench), bench, 0.0))
        upper.append(np.isfinite(bench).astype(np.float64))
        rows_i.append(np.arange(R))
        cols_i.append(ncol + np.arange(R))
        ncol += R
    if T > R:
        c.append(np.where(np.isfinite(vac), vac, 0.0))
        upper.append(np.isfinite(vac).astype(np.float64))
        rows_i.append(R + np.arange(T))
        cols_i.append(ncol + np.arange(T))
        ncol += T
    cc = np.concatenate(c)
    ri = np.concatenate(rows_i)
    ci = np.concatenate(cols_i)
    A = coo_array((np.ones(len(ri)), (ri, ci)), shape=(R + T, ncol)).tocsc()
    h, _ = _highs()
    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = R + T
    lp.col_cost_ = cc
    lp.col_lower_ = np.zeros(ncol)
    lp.col_upper_ = np.concatenate(upper)
    lp.row_lower_ = np.ones(R + T)
    lp.row_upper_ = np.ones(R + T)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    lp.integrality_ = [highspy.HighsVarType.kInteger] * ncol
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise _infeasible(ok)
    x = np.asarray(h.getSolution().col_value)[:npair]
    rep_of_t = np.full(T, -1, dtype=np.int64)
    chosen = x > 0.5
    rep_of_t[pt[chosen]] = pr[chosen]
    return rep_of_t, float(h.getInfo().objective_function_value)


def _infeasible(ok: np.ndarray) -> AssignInputError:
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_bipartite_matching

    R, T = ok.shape
    none = np.flatnonzero(~ok.any(0))
    m = maximum_bipartite_matching(csr_array(ok.astype(np.int8)), perm_type="column")
    matched = int((m >= 0).sum())
    msg = (f"the rules leave no valid staffing: at most {matched} of {min(R, T)} pairs can be made "
           f"under the must / must-not / required-skill rules")
    return AssignInputError(msg + (f"; territories with no eligible rep: positions {none.tolist()[:10]}" if len(none) else ""))


def assign_reps(
    reps: pd.DataFrame,
    territories: pd.DataFrame,
    *,
    skill_demand: pd.DataFrame | None = None,
    ownership: pd.DataFrame | None = None,
    travel_km=None,
    weights: RepWeights | None = None,
    must: Mapping[str, str] | None = None,
    forbid: Iterable[tuple[str, str]] | None = None,
    required_skills: Mapping[str, object] | None = None,
    method: str = "lap",
) -> RepAssignment:
    """Give every territory one rep (exactly optimal for the cost in the module docstring).

    Parameters
    ----------
    reps : DataFrame
        ``rep_id``, ``home_lat``, ``home_lon`` (unless ``travel_km``), optional
        ``capacity_hours`` (NaN: no capacity penalty) and ``skills`` (``"a;b"`` or sets).
    territories : DataFrame
        ``territory_id``, ``lat``, ``lon`` (centre, unless ``travel_km``), optional ``workload``
        (hours).
    skill_demand : DataFrame, optional
        Index territory_id, one column per skill: share (0–1) of the territory's workload that
        needs the skill.
    ownership : DataFrame, optional
        Index territory_id, columns rep_id: share (0–1) of the territory's value each rep owns
        today.
    travel_km : array (R, T) or DataFrame (index rep_id, columns territory_id), optional
        Replaces great-circle km from home to centre (e.g. road km or minutes).
    weights : RepWeights, optional
    must : dict rep_id → territory_id, optional
    forbid : iterable of (rep_id, territory_id), optional
    required_skills : dict territory_id → skills, optional
        Reps lacking any of them may not take the territory.
    method : "lap" or "mip"

    Returns
    -------
    RepAssignment

    Examples
    --------
    >>> reps = pd.DataFrame({"rep_id": ["a", "b"], "home_lat": [40.0, 42.0], "home_lon": [-74.0, -71.0]})
    >>> terr = pd.DataFrame({"territory_id": ["North", "South"], "lat": [42.1, 40.1], "lon": [-71.0, -74.0]})
    >>> r = assign_reps(reps, terr)
    >>> r.table[["territory_id", "rep_id"]].values.tolist()
    [['North', 'b'], ['South', 'a']]
    """
    w = weights or RepWeights()
    if method not in ("lap", "mip"):
        raise AssignInputError(f"method must be 'lap' or 'mip', not {method!r}")
    for col in ("rep_id",):
        if col not in reps.columns:
            raise AssignInputError(f"reps need a column {col!r}")
    if "territory_id" not in territories.columns:
        raise AssignInputError("territories need a column 'territory_id'")
    rep_ids = reps["rep_id"].astype(str).tolist()
    terr_ids = territories["territory_id"].astype(str).tolist()
    for ids, what in ((rep_ids, "rep"), (terr_ids, "territory")):
        dup = pd.Index(ids)[pd.Index(ids).duplicated()].unique().tolist()
        if dup:
            raise AssignInputError(f"duplicate {what} ids: {', '.join(map(str, dup[:5]))}")
    R, T = len(rep_ids), len(terr_ids)
    if R == 0 or T == 0:
        raise AssignInputError(f"nothing to assign: {R} reps, {T} territories")

    if travel_km is None:
        for col in ("home_lat", "home_lon"):
            if col not in reps.columns:
                raise AssignInputError(f"reps need {col!r} (or pass travel_km)")
        no_home = reps["home_lat"].isna() | reps["home_lon"].isna()
        if no_home.any():
            who = reps.loc[no_home, "rep_id"].astype(str).tolist()
            raise AssignInputError(f"reps without a home location: {', '.join(who[:10])}"
                                   f"{f' and {len(who) - 10} more' if len(who) > 10 else ''}")
        for col in ("lat", "lon"):
            if col not in territories.columns:
                raise AssignInputError(f"territories need {col!r} (or pass travel_km)")
        centre_missing = territories["lat"].isna() | territories["lon"].isna()
        if centre_missing.any():
            raise AssignInputError("territories without a centre (no located accounts): "
                                   + ", ".join(territories.loc[centre_missing, "territory_id"].astype(str).tolist()[:10]))
        km = haversine_km(reps["home_lat"], reps["home_lon"], territories["lat"], territories["lon"])
    else:
        km = _matrix(travel_km, rep_ids, terr_ids, "travel_km", default=np.nan)
        if np.isnan(km).any():
            raise AssignInputError("travel_km has missing rep/territory pairs")

    rep_skill_sets = [parse_skills(s) for s in (reps["skills"] if "skills" in reps.columns else [None] * R)]
    if skill_demand is not None and skill_demand.shape[1]:
        vocab = [str(c).lower() for c in skill_demand.columns]
        dem = _matrix(skill_demand.set_axis(vocab, axis=1), terr_ids, vocab, "skill_demand")
        has = as_skill_matrix(rep_skill_sets, R, vocab, "rep skills").astype(np.float64)
        tot = dem.sum(1)
        miss = (1.0 - has) @ dem.T                               # (R, T) demand not covered
        mismatch = np.where(tot[None, :] > 0, miss / np.where(tot > 0, tot, 1.0)[None, :], 0.0)
    else:
        mismatch = np.zeros((R, T))

    wl = territories["workload"].to_numpy(dtype=np.float64) if "workload" in territories.columns else np.zeros(T)
    wl = np.nan_to_num(wl)
    cap = reps["capacity_hours"].to_numpy(dtype=np.float64) if "capacity_hours" in reps.columns else np.full(R, np.nan)
    if (cap <= 0).any():
        bad = [rep_ids[i] for i in np.flatnonzero(cap <= 0)]
        raise AssignInputError(f"reps with capacity ≤ 0 hours: {', '.join(bad[:10])}")
    over_h = np.where(np.isfinite(cap)[:, None], np.maximum(0.0, wl[None, :] - np.nan_to_num(cap)[:, None]), 0.0)
    overload = np.where(np.isfinite(cap)[:, None], over_h / np.where(np.isfinite(cap), cap, 1.0)[:, None], 0.0)

    owned = _matrix(ownership.T if ownership is not None else None, rep_ids, terr_ids, "ownership")

    cost = w.travel * km + w.skill * mismatch + w.capacity * overload - w.continuity * owned
    mean_wl = wl.mean() if wl.sum() > 0 else 0.0
    vac = w.vacancy * (wl / mean_wl if mean_wl > 0 else np.ones(T))
    ok, must_pairs = _allowed(rep_ids, terr_ids, must=must, forbid=forbid, required=required_skills,
                              rep_skill_sets=rep_skill_sets)
    bench = np.zeros(R)
    for i, j in must_pairs.items():  # a must pair can be neither vacant nor benched
        vac[j] = np.inf
        bench[i] = np.inf
    rep_of_t, objective = (_solve_lap if method == "lap" else _solve_mip)(cost, ok, vac, bench)
    terr_of_rep = np.full(R, -1, dtype=np.int64)
    terr_of_rep[rep_of_t[rep_of_t >= 0]] = np.flatnonzero(rep_of_t >= 0)
    costm = np.where(ok, cost, np.inf)

    rows = []
    for j in range(T):
        i = int(rep_of_t[j])
        elig = int(ok[:, j].sum())
        base = {"territory_id": terr_ids[j], "workload": wl[j], "eligible": elig}
        if i < 0:
            reason = ("vacant: no eligible rep" if elig == 0 else
                      f"vacant: {R} reps for {T} territories; leaving this one empty costs least "
                      f"({vac[j]:,.0f} km-eq.)")
            rows.append({**base, "rep_id": None, "cost": vac[j], "c_travel": np.nan, "c_skill": np.nan,
                         "c_capacity": np.nan, "c_continuity": np.nan, "travel_km": np.nan,
                         "skill_cover": np.nan, "capacity": np.nan, "overload_h": np.nan,
                         "owned_share": np.nan, "rank": 0, "reason": reason})
            continue
        order = np.argsort(costm[:, j], kind="stable")
        rank = int(np.flatnonzero(order == i)[0]) + 1
        parts = []
        if i in must_pairs:
            parts.append("rule: must take this territory")
        elif rank == 1:
            parts.append(f"lowest-cost of {elig} eligible reps")
        else:
            better = [b for b in order[:rank - 1] if np.isfinite(costm[b, j])]
            b = better[0]
            where = terr_ids[terr_of_rep[b]] if terr_of_rep[b] >= 0 else "the bench"
            parts.append(f"#{rank} of {elig} eligible: cheaper {rep_ids[b]} went to {where}, where the total is lower")
        parts.append(f"{km[i, j]:,.0f} km from home")
        if mismatch[:, j].max() > 0:
            parts.append(f"covers {1 - mismatch[i, j]:.0%} of skill demand")
        if np.isfinite(cap[i]):
            parts.append(f"workload {wl[j]:,.0f} h vs capacity {cap[i]:,.0f} h")
        if owned[i, j] > 0:
            parts.append(f"owns {owned[i, j]:.0%} of it today")
        if required_skills and terr_ids[j] in {str(k) for k in required_skills}:
            parts.append("has the required skills")
        rows.append({**base, "rep_id": rep_ids[i], "cost": cost[i, j], "c_travel": w.travel * km[i, j],
                     "c_skill": w.skill * mismatch[i, j], "c_capacity": w.capacity * overload[i, j],
                     "c_continuity": -w.continuity * owned[i, j], "travel_km": km[i, j],
                     "skill_cover": 1 - mismatch[i, j], "capacity": cap[i], "overload_h": over_h[i, j],
                     "owned_share": owned[i, j], "rank": rank, "reason": "; ".join(parts)})
    table = pd.DataFrame(rows, columns=["territory_id", "rep_id", "cost", "c_travel", "c_skill", "c_capacity",
                                        "c_continuity", "travel_km", "skill_cover", "workload", "capacity",
                                        "overload_h", "owned_share", "rank", "eligible", "reason"])
    vacant = tuple(terr_ids[j] for j in np.flatnonzero(rep_of_t < 0))
    benched = tuple(rep_ids[i] for i in np.flatnonzero(terr_of_rep < 0))
    comps = {"travel_km": km, "skill_mismatch": mismatch, "overload": overload, "owned_share": owned, "cost": costm}
    return RepAssignment(table, rep_of_t, terr_of_rep, tuple(rep_ids), tuple(terr_ids), vacant, benched,
                         float(objective), comps, method, w)
