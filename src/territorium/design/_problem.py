"""Validated, array-only form of a design request (what worker processes receive)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from territorium.model import Units

__all__ = ["Problem", "DesignInputError", "build_problem", "territory_labels"]


class DesignInputError(ValueError):
    """Invalid request: the message names the option and the offending value."""


def territory_labels(k: int) -> list[str]:
    width = max(2, len(str(k)))
    return [f"T{t + 1:0{width}d}" for t in range(k)]


@dataclass
class Problem:
    """Everything the solver needs, as plain arrays (picklable, no pandas)."""

    n: int
    k: int
    xy: np.ndarray  # (n, 2) km, centred on origin_m
    origin_m: np.ndarray  # (2,) metres subtracted before scaling
    measures: list[str]  # balance measure names
    A: np.ndarray  # (n, m) balance measure values
    T: np.ndarray  # (k, m) targets
    tol: np.ndarray  # (m,) user tolerances (fractions)
    w: np.ndarray  # (n,) compactness weight
    w_name: str
    indptr: np.ndarray | None
    indices: np.ndarray | None
    virtual: np.ndarray | None
    fixed: np.ndarray  # (k,) bool, centre fixed
    centers: np.ndarray  # (k, 2) km; nan rows for free centres
    cost: Any  # None (squared Euclidean) | callable(points_km, centres_km) | (n, k) array
    lock: np.ndarray  # (n,) territory or -1
    frozen: np.ndarray  # (k,) bool
    current: np.ndarray | None  # (n,) or None
    dis: np.ndarray | None  # (n,) disruption weight per unit
    dis_name: str
    max_dis: float  # absolute cap (inf if none)
    exclave: np.ndarray  # (n,) bool: unit may form its own piece
    contiguity: bool
    home_units: np.ndarray  # (k,) unit of the home / fixed centre or -1

    @property
    def m(self) -> int:
        return self.A.shape[1]


def _measure(units: Units, name: str, n: int) -> np.ndarray:
    if name == "units":
        return np.ones(n)
    try:
        v = units.measure(name)
    except KeyError as e:
        raise DesignInputError(str(e.args[0])) from None
    if not np.all(np.isfinite(v)):
        bad = np.flatnonzero(~np.isfinite(v))[:5]
        raise DesignInputError(
            f"measure {name!r} has non-finite values at units "
            + ", ".join(str(units.ids[i]) for i in bad)
        )
    if (v < 0).any():
        i = int(np.flatnonzero(v < 0)[0])
        raise DesignInputError(f"measure {name!r} is negative at unit {units.ids[i]} ({v[i]})")
    return v


def _parse_centers(centers, k, units: Units, xy_m: np.ndarray):
    """Return k, fixed mask, centres (metres, nan when free), home unit per territory."""
    if centers is None:
        if k is None:
            raise DesignInputError("give k or centers")
        return k, np.zeros(k, bool), np.full((k, 2), np.nan), np.full(k, -1)
    if isinstance(centers, np.ndarray) and centers.ndim == 2:
        entries: list = list(centers)
    elif isinstance(centers, np.ndarray) and centers.ndim == 1:
        entries = [int(c) for c in centers]
    else:
        entries = list(centers)
    if k is None:
        k = len(entries)
    if len(entries) != k:
        raise DesignInputError(f"centers has {len(entries)} entries but k={k}")
    fixed = np.zeros(k, bool)
    c = np.full((k, 2), np.nan)
    home = np.full(k, -1)
    for t, e in enumerate(entries):
        if e is None:
            continue
        if isinstance(e, (int, np.integer)):
            if not 0 <= int(e) < len(xy_m):
                raise DesignInputError(f"centers[{t}] = {e} is not a unit position")
            fixed[t] = True
            c[t] = xy_m[int(e)]
            home[t] = int(e)
            continue
        p = np.asarray(e, dtype=float).ravel()
        if p.shape != (2,) or not np.all(np.isfinite(p)):
            raise DesignInputError(f"centers[{t}] must be a unit position, an (x, y) point or None")
        fixed[t] = True
        c[t] = p
        home[t] = int(((xy_m - p) ** 2).sum(1).argmin())
    return k, fixed, c, home


def build_problem(
    units: Units,
    k: int | None,
    *,
    centers=None,
    balance: Mapping[str, float] | None = None,
    targets=None,
    compactness_weight: str | None = None,
    locks: Mapping[int, int] | None = None,
    frozen: Sequence[int] | None = None,
    current=None,
    max_disruption: float | None = None,
    disruption: str = "account_count",
    home_inside: bool = True,
    allow_exclaves: Sequence[int] = (),
    cost=None,
    contiguity: bool = True,
) -> Problem:
    if not isinstance(units, Units):
        raise DesignInputError(f"units must be a territorium.model.Units, got {type(units).__name__}")
    n = units.n
    if n == 0:
        raise DesignInputError("units is empty: nothing to design")
    xy_m = units.xy
    if not np.all(np.isfinite(xy_m)):
        raise DesignInputError("units have non-finite x/y coordinates")
    cur = None
    if current is not None:
        cur = np.asarray(current)
        if cur.shape != (n,):
            raise DesignInputError(f"current must have shape ({n},), got {cur.shape}")
        if not np.issubdtype(cur.dtype, np.integer):
            if np.issubdtype(cur.dtype, np.floating) and np.all(cur == np.round(cur)):
                cur = cur.astype(np.int64)
            else:
                raise DesignInputError("current must hold territory numbers 0..k-1")
        cur = cur.astype(np.int64)
        if (cur < 0).any():
            raise DesignInputError("current has negative territory numbers")
        if k is None and centers is None:
            k = int(cur.max()) + 1
    k, fixed, c_m, home = _parse_centers(centers, k, units, xy_m)
    k = int(k)
    if k < 1:
        raise DesignInputError(f"k must be >= 1, got {k}")
    if k > n:
        raise DesignInputError(f"k={k} territories but only {n} units")
    if cur is not None and cur.max() >= k:
        raise DesignInputError(f"current uses territory {int(cur.max())} but k={k}")

    balance = dict(balance) if balance else {}
    for name, tol in balance.items():
        if not (isinstance(tol, (int, float)) and 0 <= float(tol) < 1):
            raise DesignInputError(f"balance tolerance for {name!r} must be a fraction in [0, 1), got {tol!r}")
    names = list(balance)
    A = np.column_stack([_measure(units, m, n) for m in names]) if names else np.zeros((n, 0))
    tol = np.array([float(balance[m]) for m in names])

    # targets: shares per territory (array k) or {measure: array k}
    def _shares(v, label):
        s = np.asarray(v, dtype=float).ravel()
        if s.shape != (k,) or (s < 0).any() or s.sum() <= 0:
            raise DesignInputError(f"{label} must be {k} non-negative numbers, not all zero")
        return s / s.sum()

    share = np.full((k, len(names)), 1.0 / k)
    if targets is not None:
        if isinstance(targets, Mapping):
            for mname, v in targets.items():
                if mname not in names:
                    raise DesignInputError(f"targets for {mname!r}, which is not a balance measure")
                share[:, names.index(mname)] = _shares(v, f"targets[{mname!r}]")
        else:
            s = _shares(targets, "targets")
            share[:] = s[:, None]

    frozen_mask = np.zeros(k, bool)
    if frozen:
        if cur is None:
            raise DesignInputError("frozen territories need current")
        for t in frozen:
            if not 0 <= int(t) < k:
                raise DesignInputError(f"frozen territory {t} not in 0..{k - 1}")
            frozen_mask[int(t)] = True

    lock = np.full(n, -1, dtype=np.int64)
    if locks:
        for u, t in dict(locks).items():
            u, t = int(u), int(t)
            if not 0 <= u < n:
                raise DesignInputError(f"lock on unit position {u}, not in 0..{n - 1}")
            if not 0 <= t < k:
                raise DesignInputError(f"lock of unit {units.ids[u]} to territory {t}, not in 0..{k - 1}")
            lock[u] = t
    if frozen_mask.any():
        fz = frozen_mask[cur]
        clash = fz & (lock >= 0) & (lock != cur)
        if clash.any():
            u = int(np.flatnonzero(clash)[0])
            raise DesignInputError(
                f"unit {units.ids[u]} is locked to territory {lock[u]} but sits in frozen territory {cur[u]}"
            )
        lock[fz] = cur[fz]
    if home_inside:
        for t in range(k):
            h = home[t]
            if h >= 0:
                if lock[h] >= 0 and lock[h] != t:
                    raise DesignInputError(
                        f"home unit {units.ids[h]} of territory {t} is locked to territory {lock[h]}"
                    )
                lock[h] = t

    # targets: totals times shares; with frozen territories, the others share what is left
    tot = A.sum(0)
    T = share * tot[None, :]
    if frozen_mask.any() and len(names):
        fz_units = frozen_mask[cur]
        ftot = np.zeros((k, len(names)))
        np.add.at(ftot, cur[fz_units], A[fz_units])
        free = ~frozen_mask
        rest = tot - ftot[frozen_mask].sum(0)
        s = share[free] / share[free].sum(0, keepdims=True)
        T[free] = s * rest[None, :]
        T[frozen_mask] = ftot[frozen_mask]
    for j, mname in enumerate(names):
        if tot[j] <= 0:
            raise DesignInputError(f"balance measure {mname!r} sums to zero")

    if compactness_weight is None:
        w_name = names[0] if names else "units"
    else:
        w_name = compactness_weight
    w = _measure(units, w_name, n).copy()
    if w.sum() <= 0:
        w = np.ones(n)
        w_name = "units"

    dis = None
    max_dis = np.inf
    if cur is not None:
        dis = _measure(units, disruption, n)
        if max_disruption is not None:
            if not 0 <= float(max_disruption) <= 1:
                raise DesignInputError(f"max_disruption must be a fraction in [0, 1], got {max_disruption}")
            max_dis = float(max_disruption) * float(dis.sum())
    elif max_disruption is not None:
        raise DesignInputError("max_disruption needs current")

    exclave = np.zeros(n, bool)
    for u in allow_exclaves:
        if not 0 <= int(u) < n:
            raise DesignInputError(f"allow_exclaves: unit position {u} not in 0..{n - 1}")
        exclave[int(u)] = True

    origin = xy_m.mean(0)
    xy = (xy_m - origin) / 1000.0
    c_km = (c_m - origin) / 1000.0
    if cost is not None and not callable(cost):
        cm = np.asarray(cost, dtype=float)
        if cm.shape != (n, k):
            raise DesignInputError(f"cost matrix must have shape ({n}, {k}), got {cm.shape}")
        if not fixed.all():
            raise DesignInputError("a cost matrix needs every centre fixed; pass a callable for free centres")
        cost = cm
    adj = units.adjacency
    return Problem(
        n=n, k=k, xy=xy, origin_m=origin, measures=names, A=A, T=T, tol=tol, w=w, w_name=w_name,
        indptr=adj.indptr if contiguity else None,
        indices=adj.indices if contiguity else None,
        virtual=adj.virtual if contiguity else None,
        fixed=fixed, centers=c_km, cost=cost, lock=lock, frozen=frozen_mask, current=cur,
        dis=dis, dis_name=disruption, max_dis=max_dis, exclave=exclave, contiguity=contiguity,
        home_units=home,
    )


def structurally_infeasible(P: Problem) -> bool:
    """True when a unit alone, or a territory's locked units, exceed an upper tolerance bound
    (no plan can meet the tolerances; the search then skips its extra rounds)."""
    for j in range(P.m):
        hi = (1 + P.tol[j]) * P.T[:, j]
        if (P.A[:, j] > hi.max()).any():
            return True
        lk = P.lock >= 0
        if lk.any():
            lt = np.bincount(P.lock[lk], P.A[lk, j], P.k)
            if ((lt > hi) & ~P.frozen).any():
                return True
    return False


def stranded_units(P: Problem) -> list[tuple[int, int, int, int]]:
    """Units that no contiguous territory can hold within the tolerances: ``(unit, measure the
    unit misses alone, neighbour that adds least, measure that neighbour pushes over)``.

    A territory holding u is either u alone or contains one of u's neighbours (it is one
    piece), so its totals are A_u, or at least A_u + A_v on every measure for some neighbour
    v. If, for every territory u may join (u not locked), u alone is outside some tolerance
    and u plus any neighbour is above some upper bound (or that territory's locked units plus
    u already are), no plan meets the tolerances there. Examples: a Brooklyn ZIP at 94 % of a
    workload target whose every neighbour adds at least 11 %; Broward County at 71 % of a
    workload target but 102 % of a potential target, so that any neighbour lifts its
    potential above +5 %. Only an upper bound can prove a pair too big: adding units never
    lowers a total."""
    if P.indptr is None or not P.contiguity or P.m == 0:
        return []
    n, k = P.n, P.k
    src = np.repeat(np.arange(n), np.diff(P.indptr))
    dst = P.indices
    act = np.flatnonzero(~P.frozen)
    if len(act) == 0:
        return []
    lk = P.lock >= 0
    keep = ~P.exclave & ~lk
    if P.current is not None:
        keep &= ~P.frozen[P.current]
    L = np.zeros((k, P.m))
    if lk.any():
        np.add.at(L, P.lock[lk], P.A[lk])
    lo_all = (1 - P.tol)[None, :] * P.T
    hi_all = (1 + P.tol)[None, :] * P.T
    keep &= ~(P.A > hi_all[act].max(0)).any(1)  # oversized units are reported as such
    # territories with the same bounds and no locks behave alike: check each distinct row once
    rows = np.hstack([lo_all, hi_all, L])[act]
    _, first, inv = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    stranded = keep.copy()
    best_v = np.full(n, -1, np.int64)
    alone_j = np.zeros(n, np.int64)
    pair_j = np.zeros(n, np.int64)
    for r in first.tolist():
        t = int(act[r])
        lo, hi = lo_all[t], hi_all[t]
        hi_safe = np.where(hi > 0, hi, 1e-300)
        rel = P.A / hi_safe - 1.0
        alone_bad = ((P.A < lo) | (P.A > hi)).any(1)
        pair_exc = ((P.A[src] + P.A[dst]) / hi_safe - 1.0).max(1)  # > 0: over some upper bound
        least = np.full(n, np.inf)
        np.minimum.at(least, src, pair_exc)
        pair_bad = least > 0
        lock_bad = np.zeros(n, bool)
        if L[t].any():
            lock_bad = ((L[t][None, :] + P.A) > hi).any(1)
        stranded &= (alone_bad & pair_bad) | lock_bad
        if r == first[0]:
            arg = np.full(n, -1, np.int64)
            hit = pair_exc == least[src]
            arg[src[hit]] = dst[hit]
            best_v = arg
            alone_j = np.where(P.A < lo, 1.0 - P.A / np.where(lo > 0, lo, 1e-300), 0.0).argmax(1)
            over = rel > 0
            alone_j = np.where(over.any(1), rel.argmax(1), alone_j)
            pj = np.zeros(n, np.int64)
            ok = best_v >= 0
            pj[ok] = ((P.A[ok] + P.A[best_v[ok]]) / hi_safe - 1.0).argmax(1)
            pair_j = pj
    return [(int(u), int(alone_j[u]), int(best_v[u]), int(pair_j[u])) for u in np.flatnonzero(stranded).tolist()]


def violation_lower_bound(P: Problem) -> tuple[float, int]:
    """A valid lower bound on the worst excess over a tolerance (a fraction of the target)
    of any contiguous plan, and the unit that gives it (-1 when the bound is 0).

    The same argument as :func:`stranded_units`: the territory t that holds unit u is u
    alone, or contains u and one of its neighbours v, so its excess is at least
    ``min(excess of u alone, min over v of the excess of u + v over the upper bounds)``
    (adding units never lowers a total). The smallest such figure over the territories u
    may join bounds every plan; the largest over the units is the bound. Locked, exclave and
    frozen units are left out (a lock changes what u's territory already holds)."""
    if P.indptr is None or not P.contiguity or P.m == 0 or P.n < 2:
        return 0.0, -1
    n = P.n
    src = np.repeat(np.arange(n), np.diff(P.indptr))
    dst = P.indices
    act = np.flatnonzero(~P.frozen)
    if len(act) == 0:
        return 0.0, -1
    keep = ~P.exclave & (P.lock < 0)
    if P.current is not None:
        keep &= ~P.frozen[P.current]
    lo_all = (1 - P.tol)[None, :] * P.T
    hi_all = (1 + P.tol)[None, :] * P.T
    rows = np.hstack([lo_all, hi_all])[act]
    _, first = np.unique(rows, axis=0, return_index=True)
    bound = np.full(n, np.inf)
    for r in first.tolist():
        t = int(act[r])
        Tt = np.where(P.T[t] > 0, P.T[t], 1e-300)
        alone = np.maximum((lo_all[t] - P.A) / Tt, (P.A - hi_all[t]) / Tt).max(1).clip(0.0)
        pair = ((P.A[src] + P.A[dst] - hi_all[t]) / Tt).max(1).clip(0.0)
        least = np.full(n, np.inf)
        np.minimum.at(least, src, pair)
        bound = np.minimum(bound, np.minimum(alone, least))
    bound[~keep | ~np.isfinite(bound)] = 0.0
    u = int(np.argmax(bound))
    return (float(bound[u]), u) if bound[u] > 0 else (0.0, -1)

