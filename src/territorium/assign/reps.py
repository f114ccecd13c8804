"""Reps (or teams) → territories, solved exactly as a linear assignment problem.

Cost of giving territory *t* to rep *r*, in km-equivalents (weights in :class:`RepWeights`)::

    cost[r, t] = travel · km(home_r, centre_t)
               + skill · (share of t's skill demand r does not cover)
               + capacity · max(0, workload_t / slots_t − capacity_r) / capacity_r
               − continuity · (share of t's value r owns today)

**Head counts.** A territory may need ``slots_t`` reps (given, or derived from its workload by
:func:`head_counts`). Each territory becomes ``slots_t`` identical columns of the assignment
matrix, with the overload measured on its workload divided by its head count; a rep fills at
most one column. Since the cost of a pair does not depend on who else shares the territory,
any choice of ``slots_t`` reps for each territory is one assignment of the expanded matrix and
vice versa: the linear assignment on it is the exact optimum. The MIP gives the territory row
a right-hand side ``slots_t`` instead of 1 (same model, no duplication).

**Teams.** With ``by="team"`` each team (a ``team`` column on the reps) is one assignee:
home at the capacity-weighted centroid of its members' homes, capacity the sum, skills the
union, continuity the share of the territory its members own today (:func:`aggregate_teams`).

Hard constraints (a rep must take a territory, must not take it, a territory requires a skill)
remove pairs. The assignment polytope is integral, so the linear assignment
(:func:`scipy.optimize.linear_sum_assignment`, Crouse's shortest augmenting path) on the
constrained matrix is the exact optimum; ``method="mip"`` solves the same model as a 0/1 MIP
with HiGHS (a cross-check, and the place to add side constraints). Without head counts,
unequal numbers are padded: with fewer reps, territories are left vacant at a cost ``vacancy``
× (workload / mean workload), so the smallest territories go vacant first. With head counts,
every slot must be filled (fewer reps than slots is an error that says how many are missing).
With more reps than slots, the reps whose best use is worst are benched.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from territorium.design._lp import _highs  # silent HiGHS (banner to /dev/null)

from ._common import AssignInputError, as_skill_matrix, haversine_km, parse_skills

__all__ = ["RepWeights", "RepAssignment", "assign_reps", "aggregate_teams", "head_counts"]


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
        One row per (territory, assignee) — one row per territory when every head count is 1:
        ``territory_id``, ``rep_id`` (``team_id`` with ``by="team"``; None: vacant),
        ``members`` (the reps, ``;``-separated), ``slot`` (1, 2, ... within the territory,
        cheapest first), ``slots`` (head count), ``cost`` and its parts ``c_travel``,
        ``c_skill``, ``c_capacity``, ``c_continuity``; ``travel_km``, ``skill_cover`` (share
        of skill demand the assignee covers), ``workload`` (the territory's), ``workload_share``
        (workload / slots), ``capacity``, ``overload_h`` (share above capacity),
        ``owned_share``, ``rank`` (1 = cheapest eligible assignee for this territory),
        ``eligible`` (assignees allowed), ``reason``.
    rep_of_territory : ndarray (T,)
        Assignee position per territory (the cheapest when several), -1 vacant.
    territory_of_rep : ndarray (R,)
        Territory position per assignee, -1 benched.
    rep_ids, territory_ids : tuple of str
        Assignee ids (team ids with ``by="team"``) and territory ids.
    vacant, benched : tuple of str
    objective : float
        Sum of the chosen pair costs plus vacancy costs.
    components : dict of ndarray (R, T)
        ``travel_km``, ``skill_mismatch``, ``overload``, ``owned_share``, ``cost`` (inf:
        forbidden pair).
    method : str
    weights : RepWeights
    slots : ndarray (T,)
        Head count per territory.
    by : str
        ``"rep"`` or ``"team"``.
    members : dict
        Assignee id → tuple of rep ids (a rep is its own only member with ``by="rep"``).
    territories : DataFrame
        One row per territory: ``territory_id``, ``slots``, ``filled``, ``assigned``
        (assignee ids), ``reps`` (every member rep), ``workload``, ``capacity`` (combined),
        ``overload_h`` (workload above the combined capacity), ``utilisation``, ``cost``.
    reps_of_territory : tuple of tuples
        Assignee positions per territory, cheapest first.
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
    slots: np.ndarray | None = field(default=None, repr=False)
    by: str = "rep"
    members: dict = field(default_factory=dict, repr=False)
    territories: pd.DataFrame | None = field(default=None, repr=False)
    reps_of_territory: tuple = field(default=(), repr=False)

    @property
    def id_column(self) -> str:
        """``"rep_id"`` or ``"team_id"``: the assignee column of :attr:`table`."""
        return "team_id" if self.by == "team" else "rep_id"


def head_counts(workload, capacity: float, slack: float = 0.05) -> np.ndarray:
    """Reps a territory needs: ``ceil(workload / (capacity × (1 + slack)))``, at least 1.

    ``slack`` is the overload one rep may carry before a territory needs another
    (0.05: up to 5 % over capacity is still one rep).

    >>> head_counts([1000, 1680, 1700, 4000, 0], 1600, slack=0.05).tolist()
    [1, 1, 2, 3, 1]
    """
    wl = np.nan_to_num(np.asarray(workload, dtype=np.float64))
    per = float(capacity) * (1.0 + float(slack))
    if not np.isfinite(per) or per <= 0:
        raise AssignInputError(f"head counts need a positive capacity per rep, not {capacity!r}")
    if (wl < 0).any():
        raise AssignInputError("head counts: negative workload")
    return np.maximum(np.ceil(wl / per - 1e-9), 1).astype(np.int64)


def aggregate_teams(reps: pd.DataFrame, *, team_column: str = "team") -> pd.DataFrame:
    """One row per team: ``team_id``, ``members`` (tuple of rep ids), ``home_lat``,
    ``home_lon`` (capacity-weighted centroid of the members' homes), ``capacity_hours`` (sum),
    ``skills`` (union, ``;``-separated), ``size``.

    Members without ``capacity_hours`` count with their team's mean known capacity (equal
    weights when nobody's is known; the team then has no capacity). Teams keep the order in
    which they first appear. The centroid is the weighted mean of latitudes and longitudes,
    fine at the scale of a sales team (not across the antimeridian).

    >>> reps = pd.DataFrame({"rep_id": ["a", "b", "c"], "team": ["East", "East", "West"],
    ...                      "home_lat": [40.0, 42.0, 34.0], "home_lon": [-74.0, -71.0, -118.0],
    ...                      "capacity_hours": [1600.0, 800.0, 1600.0], "skills": ["x", "y;x", None]})
    >>> t = aggregate_teams(reps)
    >>> t[["team_id", "home_lat", "capacity_hours", "skills"]].round(3).values.tolist()
    [['East', 40.667, 2400.0, 'x;y'], ['West', 34.0, 1600.0, '']]
    >>> t["members"].tolist()
    [('a', 'b'), ('c',)]
    """
    if team_column not in reps.columns:
        raise AssignInputError(f"teams need a column {team_column!r} on the reps")
    team = reps[team_column].astype("object").where(reps[team_column].notna(), None)
    team = team.map(lambda x: None if x is None or str(x).strip() in ("", "nan", "None") else str(x).strip())
    if team.isna().any():
        who = reps.loc[team.isna().to_numpy(), "rep_id"].astype(str).tolist()
        raise AssignInputError(f"reps without a team: {', '.join(who[:10])}"
                               f"{f' and {len(who) - 10} more' if len(who) > 10 else ''}")
    cap = (pd.to_numeric(reps["capacity_hours"], errors="coerce").to_numpy(dtype=np.float64)
           if "capacity_hours" in reps.columns else np.full(len(reps), np.nan))
    lat = (pd.to_numeric(reps["home_lat"], errors="coerce").to_numpy(dtype=np.float64)
           if "home_lat" in reps.columns else np.full(len(reps), np.nan))
    lon = (pd.to_numeric(reps["home_lon"], errors="coerce").to_numpy(dtype=np.float64)
           if "home_lon" in reps.columns else np.full(len(reps), np.nan))
    skills = reps["skills"].tolist() if "skills" in reps.columns else [None] * len(reps)
    ids = reps["rep_id"].astype(str).to_numpy()
    rows = []
    for name in pd.unique(team.to_numpy(dtype=object)):
        m = np.flatnonzero(team.to_numpy(dtype=object) == name)
        c = cap[m]
        known = np.isfinite(c)
        wgt = np.where(known, c, c[known].mean()) if known.any() else np.ones(len(m))
        rows.append({"team_id": name, "members": tuple(ids[m]),
                     "home_lat": float(np.average(lat[m], weights=wgt)),
                     "home_lon": float(np.average(lon[m], weights=wgt)),
                     "capacity_hours": float(wgt.sum()) if known.any() else np.nan,
                     "skills": ";".join(sorted(frozenset().union(*[parse_skills(skills[i]) for i in m]))),
                     "size": len(m)})
    return pd.DataFrame(rows, columns=["team_id", "members", "home_lat", "home_lon", "capacity_hours", "skills",
                                       "size"])


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


def _resolve_slots(slots, territories: pd.DataFrame, terr_ids: list[str], wl: np.ndarray, cap: np.ndarray,
                   slack: float, noun: str) -> tuple[np.ndarray, bool]:
    """Head count per territory and whether it was asked for (strict: every slot filled)."""
    T = len(terr_ids)
    if slots is None:
        if "slots" not in territories.columns:
            return np.ones(T, dtype=np.int64), False
        slots = territories["slots"].to_numpy()
    if isinstance(slots, str):
        if slots.strip().lower() != "auto":
            raise AssignInputError(f"slots must be 'auto', a number, a mapping or one per territory, not {slots!r}")
        known = cap[np.isfinite(cap)]
        if not len(known):
            raise AssignInputError(f"slots='auto' needs the {noun}s' capacity_hours")
        return head_counts(wl, float(known.mean()), slack), True
    if isinstance(slots, Mapping):
        ti = {t: j for j, t in enumerate(terr_ids)}
        out = np.ones(T, dtype=object)
        for t, n in slots.items():
            if str(t) not in ti:
                raise AssignInputError(f"slots: unknown territory {t!r} (territories are {', '.join(terr_ids[:6])}"
                                       f"{'...' if T > 6 else ''})")
            out[ti[str(t)]] = n
        vals = out
    elif np.isscalar(slots):
        vals = np.full(T, slots, dtype=object)
    else:
        vals = np.asarray(list(slots), dtype=object)
        if len(vals) != T:
            raise AssignInputError(f"slots: expected one head count per territory ({T}), got {len(vals)}")
    per = np.ones(T, dtype=np.int64)
    for j, v in enumerate(vals):
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = np.nan
        if not np.isfinite(f) or f < 1 or f != int(f):
            raise AssignInputError(f"slots for territory {terr_ids[j]}: {v!r} is not a whole number ≥ 1")
        per[j] = int(f)
    return per, True


def _allowed(reps: list[str], terrs: list[str], *, must, forbid, required, rep_skill_sets,
             slots: np.ndarray | None = None, noun: str = "rep") -> tuple[np.ndarray, dict]:
    R, T = len(reps), len(terrs)
    per = np.ones(T, dtype=np.int64) if slots is None else slots
    ri = {r: i for i, r in enumerate(reps)}
    ti = {t: j for j, t in enumerate(terrs)}
    ok = np.ones((R, T), dtype=bool)
    why: dict[tuple[int, int], str] = {}

    def rep_pos(r, what):
        if str(r) not in ri:
            raise AssignInputError(f"{what}: unknown {noun} {r!r} ({noun}s are {', '.join(reps[:6])}"
                                   f"{'...' if R > 6 else ''})")
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
    seen_t: dict[int, list[int]] = {}
    for r, t in (must or {}).items():
        i, j = rep_pos(r, "must rule"), terr_pos(t, "must rule")
        if len(seen_t.get(j, ())) >= per[j]:
            if per[j] == 1:
                raise AssignInputError(f"must rules give territory {terrs[j]} to two {noun}s: "
                                       f"{reps[seen_t[j][0]]} and {reps[i]}")
            names = ", ".join(reps[k] for k in seen_t[j] + [i])
            raise AssignInputError(f"must rules give territory {terrs[j]} to {len(seen_t[j]) + 1} {noun}s "
                                   f"({names}) but its head count is {per[j]}")
        if not ok[i, j]:
            raise AssignInputError(f"must rule {reps[i]} → {terrs[j]} contradicts another rule ({why[(i, j)]})")
        seen_t.setdefault(j, []).append(i)
        must_pairs[i] = j
    for i, j in must_pairs.items():
        keep = ok[i, j]
        ok[i, :] = False
        if len(seen_t[j]) >= per[j]:      # every slot taken by a rule: closed to everyone else
            ok[:, j] = False
        ok[i, j] = keep
    return ok, must_pairs


def _solve_lap(cost: np.ndarray, ok: np.ndarray, vac: np.ndarray, bench: np.ndarray,
               slots: np.ndarray) -> tuple[np.ndarray, float]:
    """Padded square LAP over ``slots[t]`` copies of each territory column; ``vac`` / ``bench``
    are the costs of dummy pairs (inf: not allowed). Returns the territory of each rep."""
    from scipy.optimize import linear_sum_assignment

    R, T = cost.shape
    col_t = np.repeat(np.arange(T), slots)
    S = len(col_t)
    N = max(R, S)
    big = np.full((N, N), np.inf)
    big[:R, :S] = np.where(ok, cost, np.inf)[:, col_t]
    if S > R:  # dummy reps: the slot stays vacant
        big[R:, :S] = vac[col_t][None, :]
    if R > S:  # dummy territories: the rep is benched
        big[:R, S:] = bench[:, None]
    try:
        rows, cols = linear_sum_assignment(big)
    except ValueError:
        raise _infeasible(ok, slots) from None
    terr_of_rep = np.full(R, -1, dtype=np.int64)
    for r, c in zip(rows, cols):
        if r < R and c < S:
            terr_of_rep[r] = col_t[c]
    return terr_of_rep, float(big[rows, cols].sum())


def _solve_mip(cost: np.ndarray, ok: np.ndarray, vac: np.ndarray, bench: np.ndarray,
               slots: np.ndarray) -> tuple[np.ndarray, float]:
    """The same model as a 0/1 MIP (HiGHS): rows "each rep once", "territory t takes slots[t]"."""
    import highspy
    from scipy.sparse import coo_array

    R, T = cost.shape
    S = int(slots.sum())
    pr, pt = np.nonzero(ok)
    npair = len(pr)
    # columns: x_pairs, then bench z_r (R > S only), then vacant slots y_t (S > R only)
    c = [cost[pr, pt]]
    rows_i, cols_i = [pr, R + pt], [np.arange(npair), np.arange(npair)]
    ncol = npair
    upper = [np.ones(npair)]
    if R > S:
        c.append(np.where(np.isfinite(bench), bench, 0.0))
        upper.append(np.isfinite(bench).astype(np.float64))
        rows_i.append(np.arange(R))
        cols_i.append(ncol + np.arange(R))
        ncol += R
    if S > R:
        c.append(np.where(np.isfinite(vac), vac, 0.0))
        upper.append(np.where(np.isfinite(vac), slots, 0).astype(np.float64))
        rows_i.append(R + np.arange(T))
        cols_i.append(ncol + np.arange(T))
        ncol += T
    cc = np.concatenate(c)
    ri = np.concatenate(rows_i)
    ci = np.concatenate(cols_i)
    A = coo_array((np.ones(len(ri)), (ri, ci)), shape=(R + T, ncol)).tocsc()
    rhs = np.concatenate([np.ones(R), slots.astype(np.float64)])
    h, _ = _highs()
    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = R + T
    lp.col_cost_ = cc
    lp.col_lower_ = np.zeros(ncol)
    lp.col_upper_ = np.concatenate(upper)
    lp.row_lower_ = rhs
    lp.row_upper_ = rhs
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    lp.integrality_ = [highspy.HighsVarType.kInteger] * ncol
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise _infeasible(ok, slots)
    x = np.asarray(h.getSolution().col_value)[:npair]
    terr_of_rep = np.full(R, -1, dtype=np.int64)
    chosen = x > 0.5
    terr_of_rep[pr[chosen]] = pt[chosen]
    return terr_of_rep, float(h.getInfo().objective_function_value)


def _infeasible(ok: np.ndarray, slots: np.ndarray | None = None) -> AssignInputError:
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_bipartite_matching

    R, T = ok.shape
    per = np.ones(T, dtype=np.int64) if slots is None else slots
    col_t = np.repeat(np.arange(T), per)
    none = np.flatnonzero(~ok.any(0))
    m = maximum_bipartite_matching(csr_array(ok[:, col_t].astype(np.int8)), perm_type="column")
    matched = int((m >= 0).sum())
    msg = (f"the rules leave no valid staffing: at most {matched} of {min(R, len(col_t))} pairs can be made "
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
    slots=None,
    slack: float = 0.05,
    by: str = "rep",
    method: str = "lap",
) -> RepAssignment:
    """Staff every territory with its head count of reps (or teams), exactly optimal for the
    cost in the module docstring.

    Parameters
    ----------
    reps : DataFrame
        ``rep_id``, ``home_lat``, ``home_lon`` (unless ``travel_km``), optional
        ``capacity_hours`` (NaN: no capacity penalty), ``skills`` (``"a;b"`` or sets) and
        ``team`` (needed with ``by="team"``).
    territories : DataFrame
        ``territory_id``, ``lat``, ``lon`` (centre, unless ``travel_km``), optional ``workload``
        (hours) and ``slots`` (head count, used when ``slots`` is None).
    skill_demand : DataFrame, optional
        Index territory_id, one column per skill: share (0–1) of the territory's workload that
        needs the skill.
    ownership : DataFrame, optional
        Index territory_id, columns rep_id: share (0–1) of the territory's value each rep owns
        today (with ``by="team"`` a team owns the sum of its members' shares).
    travel_km : array (R, T) or DataFrame (index rep_id, columns territory_id), optional
        Replaces great-circle km from home to centre (e.g. road km or minutes); per rep, also
        with ``by="team"`` (a team's travel is then its members' capacity-weighted mean).
    weights : RepWeights, optional
    must : dict assignee id → territory_id, optional
    forbid : iterable of (assignee id, territory_id), optional
    required_skills : dict territory_id → skills, optional
        Assignees lacking any of them may not take the territory.
    slots : None, int, "auto", dict territory_id → int, or one int per territory
        Head count per territory. None: one each (or the ``slots`` column), and with fewer
        reps than territories the cheapest-to-leave territories go vacant. Otherwise every slot
        must be filled: more slots than assignees is an error saying how many are missing.
        ``"auto"``: :func:`head_counts` of the workload with the assignees' mean capacity.
        A dict may leave territories out (one each).
    slack : float
        With ``slots="auto"``: the overload one rep may carry before another is needed.
    by : "rep" or "team"
        ``"team"``: each team (``team`` column) is one assignee (:func:`aggregate_teams`);
        must / forbid then name teams.
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

    Two reps on one territory, one on the other:

    >>> reps = pd.DataFrame({"rep_id": ["a", "b", "c"], "home_lat": [40.0, 40.2, 42.0],
    ...                      "home_lon": [-74.0, -74.1, -71.0], "capacity_hours": 1600.0})
    >>> terr = terr.assign(workload=[1500.0, 3000.0])
    >>> r = assign_reps(reps, terr, slots="auto")
    >>> r.territories[["territory_id", "slots", "reps", "capacity"]].values.tolist()
    [['North', 1, 'c', 1600.0], ['South', 2, 'a;b', 3200.0]]
    """
    w = weights or RepWeights()
    if method not in ("lap", "mip"):
        raise AssignInputError(f"method must be 'lap' or 'mip', not {method!r}")
    if by not in ("rep", "team"):
        raise AssignInputError(f"by must be 'rep' or 'team', not {by!r}")
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
    else:
        km_rep = _matrix(travel_km, rep_ids, terr_ids, "travel_km", default=np.nan)
        if np.isnan(km_rep).any():
            raise AssignInputError("travel_km has missing rep/territory pairs")
    cap_rep = reps["capacity_hours"].to_numpy(dtype=np.float64) if "capacity_hours" in reps.columns else np.full(R, np.nan)
    if (cap_rep <= 0).any():
        bad = [rep_ids[i] for i in np.flatnonzero(cap_rep <= 0)]
        raise AssignInputError(f"reps with capacity ≤ 0 hours: {', '.join(bad[:10])}")
    owned_rep = _matrix(ownership.T if ownership is not None else None, rep_ids, terr_ids, "ownership")

    noun = by
    if by == "team":
        teams = aggregate_teams(reps)
        ids = teams["team_id"].astype(str).tolist()
        members = dict(zip(ids, teams["members"]))
        pos = {r: i for i, r in enumerate(rep_ids)}
        M = np.zeros((len(ids), R))                   # membership (team × rep)
        for k, mem in enumerate(teams["members"]):
            M[k, [pos[m] for m in mem]] = 1.0
        owned = np.minimum(M @ owned_rep, 1.0)
        if travel_km is not None:
            wgt = M * np.where(np.isfinite(cap_rep), cap_rep, 0.0)[None, :]
            wgt = np.where(wgt.sum(1, keepdims=True) > 0, wgt, M)   # no capacities: plain mean
            km = (wgt / wgt.sum(1, keepdims=True)) @ km_rep
        pool = teams.rename(columns={"team_id": "rep_id"})
    else:
        ids = rep_ids
        members = {r: (r,) for r in rep_ids}
        owned = owned_rep
        if travel_km is not None:
            km = km_rep
        pool = reps
    if travel_km is None:
        km = haversine_km(pool["home_lat"], pool["home_lon"], territories["lat"], territories["lon"])
    A = len(ids)

    rep_skill_sets = [parse_skills(s) for s in (pool["skills"] if "skills" in pool.columns else [None] * A)]
    if skill_demand is not None and skill_demand.shape[1]:
        vocab = [str(c).lower() for c in skill_demand.columns]
        dem = _matrix(skill_demand.set_axis(vocab, axis=1), terr_ids, vocab, "skill_demand")
        has = as_skill_matrix(rep_skill_sets, A, vocab, f"{noun} skills").astype(np.float64)
        tot = dem.sum(1)
        miss = (1.0 - has) @ dem.T                               # (A, T) demand not covered
        mismatch = np.where(tot[None, :] > 0, miss / np.where(tot > 0, tot, 1.0)[None, :], 0.0)
    else:
        mismatch = np.zeros((A, T))

    wl = territories["workload"].to_numpy(dtype=np.float64) if "workload" in territories.columns else np.zeros(T)
    wl = np.nan_to_num(wl)
    cap = pool["capacity_hours"].to_numpy(dtype=np.float64) if "capacity_hours" in pool.columns else np.full(A, np.nan)
    per, strict = _resolve_slots(slots, territories, terr_ids, wl, cap, slack, noun)
    S = int(per.sum())
    if strict and S > A:
        big = [f"{terr_ids[j]} {per[j]}" for j in np.argsort(-per, kind="stable") if per[j] > 1][:6]
        rest = "; the rest 1" if (per == 1).any() else ""
        raise AssignInputError(
            f"the head counts need {S} {noun}s for {T} territories"
            + (f" ({', '.join(big)}{', ...' if (per > 1).sum() > 6 else ''}{rest})" if big else "")
            + f" but there are {A}: short by {S - A} {noun}{'s' if S - A != 1 else ''}")
    share = wl / per
    over_h = np.where(np.isfinite(cap)[:, None], np.maximum(0.0, share[None, :] - np.nan_to_num(cap)[:, None]), 0.0)
    overload = np.where(np.isfinite(cap)[:, None], over_h / np.where(np.isfinite(cap), cap, 1.0)[:, None], 0.0)

    cost = w.travel * km + w.skill * mismatch + w.capacity * overload - w.continuity * owned
    mean_wl = wl.mean() if wl.sum() > 0 else 0.0
    vac = w.vacancy * (wl / mean_wl if mean_wl > 0 else np.ones(T))
    if strict:
        vac[:] = np.inf
    ok, must_pairs = _allowed(ids, terr_ids, must=must, forbid=forbid, required=required_skills,
                              rep_skill_sets=rep_skill_sets, slots=per, noun=noun)
    bench = np.zeros(A)
    for i, j in must_pairs.items():  # a must pair can be neither vacant nor benched
        vac[j] = np.inf
        bench[i] = np.inf
    terr_of_rep, objective = (_solve_lap if method == "lap" else _solve_mip)(cost, ok, vac, bench, per)
    costm = np.where(ok, cost, np.inf)
    on = [np.flatnonzero(terr_of_rep == j) for j in range(T)]
    on = [tuple(int(i) for i in o[np.argsort(cost[o, j], kind="stable")]) for j, o in enumerate(on)]
    rep_of_t = np.array([o[0] if o else -1 for o in on], dtype=np.int64)

    id_col = "team_id" if by == "team" else "rep_id"
    rows, trows = [], []
    for j in range(T):
        elig = int(ok[:, j].sum())
        base = {"territory_id": terr_ids[j], "slots": int(per[j]), "workload": wl[j], "workload_share": share[j],
                "eligible": elig}
        if not on[j]:
            reason = ("vacant: no eligible rep" if elig == 0 else
                      f"vacant: {A} {noun}s for {T} territories; leaving this one empty costs least "
                      f"({vac[j]:,.0f} km-eq.)")
            rows.append({**base, id_col: None, "members": None, "slot": 1, "cost": vac[j], "c_travel": np.nan,
                         "c_skill": np.nan, "c_capacity": np.nan, "c_continuity": np.nan, "travel_km": np.nan,
                         "skill_cover": np.nan, "capacity": np.nan, "overload_h": np.nan,
                         "owned_share": np.nan, "rank": 0, "reason": reason})
            trows.append({"territory_id": terr_ids[j], "slots": int(per[j]), "filled": 0, "assigned": "", "reps": "",
                          "workload": wl[j], "capacity": np.nan, "overload_h": np.nan, "utilisation": np.nan,
                          "cost": vac[j]})
            continue
        order = np.argsort(costm[:, j], kind="stable")
        here = set(on[j])
        for k, i in enumerate(on[j]):
            rank = int(np.flatnonzero(order == i)[0]) + 1
            parts = []
            if i in must_pairs:
                parts.append("rule: must take this territory")
            elif rank == 1 and per[j] == 1:
                parts.append(f"lowest-cost of {elig} eligible {noun}s")
            elif rank <= per[j]:
                parts.append(f"#{rank} of {elig} eligible {noun}s, within the head count of {per[j]}")
            else:
                better = [b for b in order[:rank - 1] if np.isfinite(costm[b, j]) and b not in here]
                b = better[0]
                where = terr_ids[terr_of_rep[b]] if terr_of_rep[b] >= 0 else "the bench"
                parts.append(f"#{rank} of {elig} eligible: cheaper {ids[b]} went to {where}, where the total is lower")
            if by == "team":
                parts.append(f"team of {len(members[ids[i]])}: {', '.join(members[ids[i]])}")
            parts.append(f"{km[i, j]:,.0f} km from {'the team centre' if by == 'team' else 'home'}")
            if mismatch[:, j].max() > 0:
                parts.append(f"covers {1 - mismatch[i, j]:.0%} of skill demand")
            if np.isfinite(cap[i]):
                whose = "team capacity" if by == "team" else "capacity"
                if per[j] == 1:
                    parts.append(f"workload {wl[j]:,.0f} h vs {whose} {cap[i]:,.0f} h")
                else:
                    parts.append(f"workload {wl[j]:,.0f} h / {per[j]} = {share[j]:,.0f} h each vs {whose} "
                                 f"{cap[i]:,.0f} h")
            if owned[i, j] > 0:
                parts.append(f"owns {owned[i, j]:.0%} of it today")
            if required_skills and terr_ids[j] in {str(q) for q in required_skills}:
                parts.append("has the required skills")
            rows.append({**base, id_col: ids[i], "members": ";".join(members[ids[i]]), "slot": k + 1,
                         "cost": cost[i, j], "c_travel": w.travel * km[i, j], "c_skill": w.skill * mismatch[i, j],
                         "c_capacity": w.capacity * overload[i, j], "c_continuity": -w.continuity * owned[i, j],
                         "travel_km": km[i, j], "skill_cover": 1 - mismatch[i, j], "capacity": cap[i],
                         "overload_h": over_h[i, j], "owned_share": owned[i, j], "rank": rank,
                         "reason": "; ".join(parts)})
        c = cap[list(on[j])]
        ctot = float(c[np.isfinite(c)].sum()) if np.isfinite(c).any() else np.nan
        trows.append({"territory_id": terr_ids[j], "slots": int(per[j]), "filled": len(on[j]),
                      "assigned": ";".join(ids[i] for i in on[j]),
                      "reps": ";".join(m for i in on[j] for m in members[ids[i]]), "workload": wl[j],
                      "capacity": ctot, "overload_h": max(0.0, wl[j] - ctot) if np.isfinite(ctot) else np.nan,
                      "utilisation": wl[j] / ctot if np.isfinite(ctot) and ctot > 0 else np.nan,
                      "cost": float(cost[list(on[j]), j].sum())})
    table = pd.DataFrame(rows, columns=["territory_id", id_col, "members", "slot", "slots", "cost", "c_travel",
                                        "c_skill", "c_capacity", "c_continuity", "travel_km", "skill_cover",
                                        "workload", "workload_share", "capacity", "overload_h", "owned_share",
                                        "rank", "eligible", "reason"])
    summary = pd.DataFrame(trows, columns=["territory_id", "slots", "filled", "assigned", "reps", "workload",
                                           "capacity", "overload_h", "utilisation", "cost"])
    vacant = tuple(terr_ids[j] for j in range(T) if not on[j])
    benched = tuple(ids[i] for i in np.flatnonzero(terr_of_rep < 0))
    comps = {"travel_km": km, "skill_mismatch": mismatch, "overload": overload, "owned_share": owned, "cost": costm}
    return RepAssignment(table, rep_of_t, terr_of_rep, tuple(ids), tuple(terr_ids), vacant, benched,
                         float(objective), comps, method, w, per, by, members, summary, tuple(on))
