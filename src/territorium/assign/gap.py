"""Accounts → reps: a generalized assignment problem (GAP) with capacities and skills.

Each account *i* has workload hours ``w_i`` and the skills it needs; each rep *r* has capacity
hours ``C_r``, skills and a home. An account may only go to a rep who has every skill it needs
(an *eligible* rep). The cost of giving *i* to *r* is the travel distance in km from the rep's
home to the account, less a continuity bonus when *r* owns the account today::

    minimise  Σ_i c_{i,r(i)}   subject to   Σ_{i: r(i)=r} w_i ≤ C_r  for every rep r.

**Bound** (valid for the full problem, not a restricted one): Lagrangian relaxation of the
capacity constraints. For any multipliers λ ≥ 0,

    L(λ) = Σ_i min_{r eligible} (c_ir + λ_r w_i) − Σ_r λ_r C_r  ≤  optimum,

evaluated over the dense (n × R) matrix of every eligible pair (50,000 × 200 is 10M entries,
80 MB). λ comes first from subgradient ascent (Polyak steps), then from the duals of the LP
relaxation, solved by column generation with HiGHS: the restricted LP starts from each
account's cheapest reps under λ, its nearest reps and the pairs of a plan, plus one overload
column per rep so it is always feasible; columns with negative reduced cost over *all* eligible
pairs are added until none is left. max_λ L(λ) equals the LP bound, so the reported bound is
the LP bound when column generation finishes in time, and the best subgradient value otherwise.

**Plan** (a heuristic): a regret greedy on the reduced costs ``c + λ·w`` (accounts whose
second-best rep is much worse go first, each to its cheapest rep with room), and the LP
solution rounded (each account to its largest share: at most R accounts are split); each start
is repaired (accounts moved off overloaded reps, cheapest per freed hour first, with a
two-step ejection chain when no rep has room) and improved by local search: shift moves (to a
cheaper rep with room) and swap moves (two accounts trade reps when both fit). The best plan wins.

Gap = (plan − bound) / plan. Infeasible capacity (demand above what eligible reps can take) is
reported per skill and in total, in hours; with ``overload_penalty`` the capacities become soft
(cost per hour over) and the plan says by how much each rep is over.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from territorium.design._lp import _highs  # silent HiGHS (banner to /dev/null)

from ._common import AssignInputError, as_skill_matrix, haversine_km

__all__ = ["GapResult", "assign_accounts", "gap_mip", "capacity_check"]

_EPS = 1e-9


@dataclass(frozen=True)
class GapResult:
    """An account → rep plan with its cost, a valid lower bound and an explanation per account.

    Attributes
    ----------
    rep : ndarray (n,)
        Rep position per account (-1: no eligible rep).
    objective : float
        Cost of the plan: Σ km − continuity bonuses (+ overload penalty, soft mode).
    lower_bound : float or None
        Lagrangian bound on the optimum (None when capacities are infeasible in hard mode).
    gap : float or None
        ``(objective − lower_bound) / |objective|``.
    bound_method : str
    load, capacity, overload : ndarray (R,)
        Hours per rep: assigned, available, above capacity.
    status : str
        ``feasible`` (every rep within capacity), ``overloaded`` (soft mode, or no fit found).
    shortfall : DataFrame
        Capacity check per skill and in total: ``skill``, ``demand_h``, ``capacity_h``,
        ``short_h`` (> 0: infeasible by that many hours), ``reps``, ``kind`` (total, skill, or
        locked: a rep whose locked accounts alone exceed the capacity).
    explanations : DataFrame
        Per account: ``rep`` (position), ``distance_km``, ``distance_rank`` (1 = nearest
        eligible rep), ``eligible``, ``nearer_full`` (nearer eligible reps at capacity),
        ``reason_code`` (locked, no_eligible_rep, nearest, skill, capacity, continuity, other)
        and ``reason`` (text).
    iterations : int
        Subgradient iterations.
    time_s : float
    seed : int
    moves : dict
        Counts of greedy, shift, swap, ejection moves (of the final plan).
    """

    rep: np.ndarray
    objective: float
    lower_bound: float | None
    gap: float | None
    bound_method: str
    load: np.ndarray
    capacity: np.ndarray
    overload: np.ndarray
    status: str
    shortfall: pd.DataFrame
    explanations: pd.DataFrame = field(repr=False)
    iterations: int = 0
    time_s: float = 0.0
    seed: int = 0
    moves: dict = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines of plain text (for a CLI to print)."""
        lines = [f"status: {self.status}; cost {self.objective:,.1f}"]
        if self.lower_bound is not None:
            lines.append(f"  lower bound {self.lower_bound:,.1f} (gap {self.gap:.2%}, {self.bound_method})")
        over = self.overload > 1e-6
        if over.any():
            lines.append(f"  {int(over.sum())} reps over capacity by {self.overload[over].sum():,.1f} h in total")
        for _, r in self.shortfall[self.shortfall["short_h"] > 1e-6].iterrows():
            if r["kind"] == "locked":
                lines.append(f"  ! {r['skill']} need {r['demand_h']:,.1f} h, more than the capacity "
                             f"{r['capacity_h']:,.1f} h: over by {r['short_h']:,.1f} h")
            else:
                lines.append(f"  ! infeasible capacity for {r['skill']}: demand {r['demand_h']:,.1f} h, "
                             f"capacity {r['capacity_h']:,.1f} h of {r['reps']} reps: short by {r['short_h']:,.1f} h")
        lines.append(f"  {self.iterations} bound iterations, {self.time_s:.1f}s, seed {self.seed}")
        return "\n".join(lines)


def capacity_check(workload: np.ndarray, needs: np.ndarray, has: np.ndarray, capacity: np.ndarray,
                   vocabulary: Sequence[str]) -> pd.DataFrame:
    """Demand vs capacity in total and per skill (necessary conditions for a fit).

    >>> capacity_check(np.array([5.0, 3.0]), np.array([[True], [False]]), np.array([[True], [False]]),
    ...                np.array([4.0, 10.0]), ["enterprise"])[["skill", "short_h"]].values.tolist()
    [['all accounts', 0.0], ['enterprise', 1.0]]
    """
    cap = np.maximum(np.asarray(capacity, dtype=np.float64), 0.0)
    rows = [{"skill": "all accounts", "demand_h": float(workload.sum()), "capacity_h": float(cap.sum()),
             "reps": int(len(cap))}]
    for s, name in enumerate(vocabulary):
        d = float(workload[needs[:, s]].sum()) if needs.shape[1] else 0.0
        if d <= 0:
            continue
        rows.append({"skill": str(name), "demand_h": d, "capacity_h": float(cap[has[:, s]].sum()),
                     "reps": int(has[:, s].sum())})
    df = pd.DataFrame(rows, columns=["skill", "demand_h", "capacity_h", "reps"])
    df["short_h"] = np.maximum(0.0, df["demand_h"] - df["capacity_h"])
    df["kind"] = ["total"] + ["skill"] * (len(df) - 1)
    return df


class _Plan:
    """Mutable state of the primal search: assignment, slack, members per rep."""

    def __init__(self, a: np.ndarray, C: np.ndarray, w: np.ndarray, cap: np.ndarray):
        self.a = a.astype(np.int64).copy()
        self.C = C
        self.w = w
        self.slack = cap - np.bincount(self.a, w, len(cap))
        self.moves = {"shift": 0, "swap": 0, "eject": 0}

    def cost(self, penalty: float) -> float:
        c = float(self.C[np.arange(len(self.a)), self.a].sum())
        return c + penalty * float(np.maximum(0.0, -self.slack).sum())

    def move(self, i: int, r: int) -> None:
        a = self.a[i]
        self.slack[a] += self.w[i]
        self.slack[r] -= self.w[i]
        self.a[i] = r


def _candidates(C: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's K cheapest columns, sorted by cost (inf entries last)."""
    n, R = C.shape
    if K >= R:
        cand = np.argsort(C, axis=1, kind="stable")
    else:
        part = np.argpartition(C, K - 1, axis=1)[:, :K]
        sub = np.take_along_axis(C, part, 1)
        cand = np.take_along_axis(part, np.argsort(sub, axis=1, kind="stable"), 1)
    return cand, np.take_along_axis(C, cand, 1)


def _greedy(C, cand, cc, w, cap, order, penalty) -> np.ndarray:
    n, R = C.shape
    slack = cap.astype(np.float64).copy()
    a = np.full(n, -1, dtype=np.int64)
    cand_l = cand.tolist()
    cc_l = cc.tolist()
    w_l = w.tolist()
    for i in order.tolist():
        wi = w_l[i]
        done = False
        for r, c in zip(cand_l[i], cc_l[i]):
            if c == np.inf:
                break
            if slack[r] >= wi - _EPS:
                a[i] = r
                slack[r] -= wi
                done = True
                break
        if done:
            continue
        row = C[i]
        room = slack >= wi - _EPS
        if room.any() and np.isfinite(row[room]).any():
            r = int(np.argmin(np.where(room, row, np.inf)))
        else:  # nobody has room: least overload (soft: cost + penalty · new overload)
            over = np.maximum(0.0, wi - np.maximum(slack, 0.0))
            r = int(np.argmin(row + (penalty if penalty else 1e6) * over))
        a[i] = r
        slack[r] -= wi
    return a


def _repair(p: _Plan, cand, cc, deadline) -> None:
    """Move accounts off overloaded reps, cheapest cost per freed hour first; eject chains."""
    C, w = p.C, p.w
    for _round in range(4):
        over = np.flatnonzero(p.slack < -_EPS)
        if not len(over) or time.perf_counter() > deadline:
            return
        for r in over[np.argsort(p.slack[over])]:
            m = np.flatnonzero(p.a == r)
            if not len(m):
                continue
            base = C[m, r]
            room = p.slack[cand[m]] >= w[m, None] - _EPS
            alt = np.where(room & (cand[m] != r), cc[m], np.inf)
            k = np.argmin(alt, 1)
            delta = alt[np.arange(len(m)), k] - base
            order = np.argsort(delta / np.maximum(w[m], _EPS), kind="stable")
            for t in order:
                if p.slack[r] >= -_EPS:
                    break
                i = int(m[t])
                # re-check: slack moves as we go
                ok = (p.slack[cand[i]] >= w[i] - _EPS) & (cand[i] != r) & np.isfinite(cc[i])
                if ok.any():
                    p.move(i, int(cand[i][np.argmax(ok)]))
                    continue
                row = C[i]
                room_all = (p.slack >= w[i] - _EPS) & np.isfinite(row)
                room_all[r] = False
                if room_all.any():
                    p.move(i, int(np.argmin(np.where(room_all, row, np.inf))))
                    continue
                if _eject(p, i, r, cand, cc):
                    p.moves["eject"] += 1
            if time.perf_counter() > deadline:
                return


def _eject(p: _Plan, i: int, r: int, cand, cc) -> bool:
    """Two-step chain: i → b (no room) after some j of b moves → c (room). Cheapest chain."""
    C, w = p.C, p.w
    best = None
    for b in cand[i]:
        if b == r or not np.isfinite(C[i, b]):
            continue
        need = w[i] - p.slack[b]
        members = np.flatnonzero(p.a == b)
        if not len(members):
            continue
        js = members[w[members] >= need - _EPS]
        if not len(js):
            continue
        room = (p.slack[cand[js]] >= w[js, None] - _EPS) & (cand[js] != b) & (cand[js] != r)
        alt = np.where(room, cc[js], np.inf)
        k = np.argmin(alt, 1)
        d = alt[np.arange(len(js)), k] - C[js, b]
        t = int(np.argmin(d))
        if not np.isfinite(d[t]):
            continue
        total = C[i, b] - C[i, r] + d[t]
        if best is None or total < best[0]:
            best = (total, int(js[t]), int(cand[js[t]][k[t]]), int(b))
    if best is None:
        return False
    _, j, c, b = best
    p.move(j, c)
    p.move(i, b)
    return True


def _shift(p: _Plan, cand, cc, deadline) -> int:
    """Move accounts to the cheapest candidate with room while that lowers the cost."""
    n = len(p.a)
    rows = np.arange(n)
    total = 0
    for _ in range(50):
        cur = p.C[rows, p.a]
        room = p.slack[cand] >= p.w[:, None] - _EPS
        ok = room & (cc < cur[:, None] - 1e-7) & (cand != p.a[:, None])
        has = ok.any(1)
        if not has.any():
            break
        idx = np.flatnonzero(has)
        k = np.argmax(ok[idx], 1)
        gain = cur[idx] - cc[idx, k]
        moved = 0
        for t in np.argsort(-gain, kind="stable"):
            i = int(idx[t])
            r = int(cand[i, k[t]])
            if p.slack[r] >= p.w[i] - _EPS and p.C[i, r] < p.C[i, p.a[i]] - 1e-7:
                p.move(i, r)
                moved += 1
        total += moved
        if not moved or time.perf_counter() > deadline:
            break
    p.moves["shift"] += total
    return total


def _swap(p: _Plan, cand, cc, deadline) -> int:
    """Trade two accounts between two reps when both fit and the total cost drops."""
    n, R = p.C.shape
    rows = np.arange(n)
    cur = p.C[rows, p.a]
    want = (cc < cur[:, None] - 1e-7) & (cand != p.a[:, None])
    idx = np.flatnonzero(want.any(1))
    gain_hint = cur[idx] - cc[idx, np.argmax(want[idx], 1)]
    idx = idx[np.argsort(-gain_hint, kind="stable")]
    swaps = 0

    def snapshot():
        order = np.argsort(p.a, kind="stable")
        return order, np.searchsorted(p.a[order], np.arange(R + 1))

    order, starts = snapshot()
    for step, i in enumerate(idx.tolist()):
        if step % 256 == 0:
            if time.perf_counter() > deadline:
                break
            if swaps and step % 4096 == 0:
                order, starts = snapshot()
        a = int(p.a[i])
        ci = p.C[i]
        for t in np.flatnonzero(want[i]).tolist():
            b = int(cand[i, t])
            if b == a or ci[b] >= ci[a] - 1e-7:
                continue
            js = order[starts[b]:starts[b + 1]]
            js = js[p.a[js] == b]  # the snapshot may be stale
            if not len(js):
                continue
            wi, wj = p.w[i], p.w[js]
            fit = (p.slack[a] + wi - wj >= -_EPS) & (p.slack[b] + wj - wi >= -_EPS)
            if not fit.any():
                continue
            d = np.where(fit, ci[b] - ci[a] + p.C[js, a] - p.C[js, b], np.inf)
            k = int(np.argmin(d))
            if d[k] < -1e-7:
                p.move(i, b)
                p.move(int(js[k]), a)
                swaps += 1
                break
    p.moves["swap"] += swaps
    return swaps


def _search(p: _Plan, cand, cc, deadline) -> None:
    _repair(p, cand, cc, deadline)
    for _ in range(20):
        s = _shift(p, cand, cc, deadline)
        if time.perf_counter() > deadline:
            break
        k = _swap(p, cand, cc, deadline)
        if s == 0 and k == 0:
            break
        _repair(p, cand, cc, deadline)


def _lagrangian(C: np.ndarray, w: np.ndarray, cap: np.ndarray, lam: np.ndarray, chunk: int = 8192) -> float:
    """L(λ) = Σ_i min_r (c_ir + λ_r w_i) − Σ_r λ_r C_r in float64, over every eligible pair."""
    lam = np.maximum(np.asarray(lam, dtype=np.float64), 0.0)
    tot = 0.0
    for s in range(0, len(w), chunk):
        tot += float((C[s:s + chunk] + w[s:s + chunk, None] * lam[None, :]).min(1).sum())
    return tot - float(lam @ cap)


def _subgradient(C, w, cap, upper, iters, deadline, delta: float = 0.2) -> tuple[np.ndarray, int]:
    """Subgradient ascent on L(λ) (float32 work copy). Polyak steps towards a target
    ``best · (1 + δ)``; δ halves whenever ten steps bring no new best."""
    n, R = C.shape
    C32 = C.astype(np.float32)
    w32 = w.astype(np.float32)
    buf = np.empty_like(C32)
    rows = np.arange(n)
    lam = np.zeros(R)
    best, lam_best = -np.inf, lam.copy()
    stall, it = 0, 0
    for it in range(1, int(iters) + 1):
        np.multiply(w32[:, None], lam.astype(np.float32)[None, :], out=buf)
        buf += C32
        ch = np.argmin(buf, axis=1)
        L = float(buf[rows, ch].astype(np.float64).sum() - lam @ cap)
        if L > best + 1e-9 * max(1.0, abs(L)):
            best, lam_best, stall = L, lam.copy(), 0
        else:
            stall += 1
            if stall >= 10:
                delta, stall = delta * 0.5, 0
        g = np.bincount(ch, w, R) - cap
        g = np.where(((lam <= 0) & (g < 0)) | ((lam >= upper) & (g > 0)), 0.0, g)
        gg = float(g @ g)
        if gg <= 1e-12 or delta < 1e-7 or time.perf_counter() > deadline:
            break
        target = best + delta * max(abs(best), 1.0)
        lam = np.clip(lam + max(target - L, 0.0) / gg * g, 0.0, upper)
    return lam_best, it


def _lp_colgen(C, w, cap, lam, primal, penalty, deadline, k_adj: int = 6, k_near: int = 3,
               max_rounds: int = 25):
    """LP relaxation of the GAP by column generation (HiGHS dual simplex).

    Starts from each account's ``k_adj`` cheapest reps under the multipliers λ, its ``k_near``
    nearest, and the pairs of a primal plan, plus one overload column per rep (cost
    ``penalty``, or a large one for hard capacities) so every restricted LP is feasible.
    Columns with negative reduced cost over *all* eligible pairs are added until none is
    left. Returns (λ, rep with the largest x per account, fractional mask, info) or None.
    """
    import highspy

    n, R = C.shape
    fin = np.isfinite(C)
    scale = float(np.abs(C[fin]).max()) if fin.any() else 1.0
    wpos = w[w > 0]
    big = penalty if penalty is not None else 100.0 * max(scale, 1.0) / max(float(np.median(wpos)) if len(wpos) else 1.0, 1e-6)
    A0 = C + w[:, None] * lam[None, :]
    ca, _ = _candidates(A0, min(k_adj, R))
    del A0
    cn, _ = _candidates(C, min(k_near, R))
    keys = np.concatenate([(np.arange(n)[:, None] * R + ca).ravel(), (np.arange(n)[:, None] * R + cn).ravel(),
                           np.arange(n) * R + primal])
    keys = np.unique(keys)
    ii, rr = keys // R, keys % R
    ok = fin[ii, rr]
    ii, rr = ii[ok], rr[ok]
    have = np.zeros((n, R), dtype=bool)
    have[ii, rr] = True
    m = len(ii)
    h, _ = _highs()
    h.setOptionValue("solver", "simplex")
    h.passModel(_gap_model(C, w, cap, ii, rr))
    h.addCols(R, np.full(R, big), np.zeros(R), np.full(R, highspy.kHighsInf), R, np.arange(R),
              (n + np.arange(R)).astype(np.int32), -np.ones(R))
    cols_i, cols_r = [ii], [rr]
    lam_out, rounds, added = None, 0, 0
    tol = 1e-9 * max(scale, 1.0)
    for rounds in range(1, max_rounds + 1):
        left = deadline - time.perf_counter()
        if left <= 0.5:
            break
        h.setOptionValue("time_limit", float(left))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        y = np.asarray(h.getSolution().row_dual)
        u, lam_out = y[:n], np.maximum(-y[n:], 0.0)
        red = C + w[:, None] * lam_out[None, :] - u[:, None]
        red[have] = 0.0
        neg = red < -tol
        rows_neg = np.flatnonzero(neg.any(1))
        if not len(rows_neg):
            break
        sub = red[rows_neg]
        k = min(3, R)
        top = np.argpartition(sub, k - 1, axis=1)[:, :k] if k < R else np.argsort(sub, axis=1)
        ai = np.repeat(rows_neg, top.shape[1])
        ar = top.ravel()
        keep = neg[ai, ar]
        ai, ar = ai[keep], ar[keep]
        del red, neg, sub
        have[ai, ar] = True
        cnt = len(ai)
        added += cnt
        idx = np.column_stack([ai, n + ar]).ravel().astype(np.int32)
        val = np.column_stack([np.ones(cnt), w[ai]]).ravel()
        h.addCols(cnt, C[ai, ar], np.zeros(cnt), np.ones(cnt), len(idx), (np.arange(cnt) * 2).astype(np.int32), idx, val)
        cols_i.append(ai)
        cols_r.append(ar)
    if lam_out is None:
        return None
    x = np.asarray(h.getSolution().col_value)
    ii = np.concatenate(cols_i)
    rr = np.concatenate(cols_r)
    x = np.concatenate([x[:m], x[m + R:]])  # drop the overload columns (added after the first m)
    order = np.lexsort((x, ii))
    last = np.r_[ii[order][1:] != ii[order][:-1], True]
    rep = np.full(n, -1, np.int64)
    xmax = np.zeros(n)
    rep[ii[order][last]] = rr[order][last]
    xmax[ii[order][last]] = x[order][last]
    frac = xmax < 1 - 1e-6
    info = (f"the LP relaxation (HiGHS, {rounds} column-generation rounds, {len(ii):,} of "
            f"{int(fin.sum()):,} pairs)")
    return lam_out, rep, frac, info


class _Search:
    """Plans from several starts; the best (feasible first, then cheapest) is kept and polished."""

    def __init__(self, C, w, cap, K, penalty, soft, rng):
        self.C, self.w, self.cap, self.K, self.penalty, self.soft = C, w, cap, K, penalty, soft
        self.cand, self.cc = _candidates(C, K)
        self.rng = rng
        self.best: _Plan | None = None
        self.best_cost = np.inf
        self.best_feasible = False

    def _order(self, cc):
        c1 = cc[:, 0]
        c2 = np.where(np.isfinite(cc[:, 1]), cc[:, 1], c1 + 1e6) if cc.shape[1] > 1 else c1 + 1e6
        c2 = np.where(np.isfinite(c1), c2, 0.0)
        return np.lexsort((self.rng.random(len(c1)), -self.w, -(c2 - c1)))

    def greedy(self, lam) -> _Plan:
        """Regret greedy (by cost, or by cost + λ·w when multipliers are given)."""
        if lam is None:
            A, cand, cc = self.C, self.cand, self.cc
        else:
            A = self.C + self.w[:, None] * np.asarray(lam)[None, :]
            cand, cc = _candidates(A, self.K)
        p = _Plan(_greedy(A, cand, cc, self.w, self.cap, self._order(cc), self.penalty), self.C, self.w, self.cap)
        p.moves["greedy"] = len(self.w)
        return p

    def offer(self, p: _Plan, deadline: float) -> None:
        _repair(p, self.cand, self.cc, deadline)
        _shift(p, self.cand, self.cc, deadline)
        c = p.cost(self.penalty)
        f = bool((p.slack >= -1e-6).all())
        if self.best is None or (f and not self.best_feasible) or (f == self.best_feasible and c < self.best_cost - 1e-9):
            self.best, self.best_cost, self.best_feasible = p, c, f

    def polish(self, deadline: float) -> None:
        _search(self.best, self.cand, self.cc, deadline)
        self.best_cost = self.best.cost(self.penalty)
        self.best_feasible = bool((self.best.slack >= -1e-6).all())


def assign_accounts(
    workload,
    capacity,
    *,
    account_lat=None,
    account_lon=None,
    rep_lat=None,
    rep_lon=None,
    distance_km=None,
    account_needs=None,
    rep_skills=None,
    vocabulary: Sequence[str] = (),
    current=None,
    locked=None,
    lock_reasons: Sequence[str] | None = None,
    continuity_km: float = 10.0,
    overload_penalty: float | None = None,
    candidates: int = 30,
    time_limit: float = 45.0,
    max_iterations: int = 200,
    use_lp: bool = True,

    rep_ids: Sequence[str] | None = None,
    seed: int = 0,
    progress=None,
) -> GapResult:
    """Assign every account to one eligible rep within capacity at least travel (GAP).

    Parameters
    ----------
    workload : array (n,)
        Hours per account per year.
    capacity : array (R,)
        Hours per rep per year.
    account_lat, account_lon, rep_lat, rep_lon : arrays
        Coordinates (degrees) for great-circle km; or give ``distance_km``.
    distance_km : array (n, R), optional
        Replaces great-circle km (road km, minutes...).
    account_needs, rep_skills : boolean matrices over ``vocabulary`` or one cell per row
        (``"a;b"``, sets). An account may only go to a rep with every skill it needs.
    current : array (n,) of rep positions, optional
        Today's owner (-1: none or not a rep here): gets ``continuity_km`` bonus.
    locked : array (n,) of rep positions, optional
        Accounts fixed to a rep (-1: free), e.g. protected by open opportunities; their
        hours count against that rep's capacity.
    lock_reasons : one text per account, optional
        Shown as the reason of locked accounts.
    continuity_km : float
        Bonus (km) for keeping an account with its current owner.
    overload_penalty : float, optional
        Soft capacities: cost per hour over capacity. None: hard capacities.
    candidates : int
        Cheapest eligible reps per account tried first by the moves (all reps as fall-back).
    time_limit : float
        Seconds for bound and search together.
    max_iterations : int
        Subgradient iterations at most (they seed the multipliers and the columns of the LP).
    use_lp : bool
        Refine the multipliers with the LP relaxation (HiGHS, column generation over every
        eligible pair) and round its solution into a plan (at most R accounts are fractional).
    rep_ids : labels for the reasons (default ``R0, R1, ...``).
    seed : int
        Tie-breaking and move order derive from it.
    progress : callable(fraction, message), optional

    Returns
    -------
    GapResult

    Examples
    --------
    Three one-hour accounts nearer the first of two reps, each rep with 2 hours: one account
    must go to the second rep, the one for which that costs least (4 km more).

    >>> import numpy as np
    >>> km = np.array([[1.0, 9.0], [2.0, 8.0], [3.0, 7.0]])
    >>> g = assign_accounts(np.ones(3), np.array([2.0, 2.0]), distance_km=km)
    >>> g.rep.tolist(), g.objective, g.status
    ([0, 0, 1], 10.0, 'feasible')
    """
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    w = np.nan_to_num(np.asarray(workload, dtype=np.float64))
    cap = np.asarray(capacity, dtype=np.float64)
    n, R = len(w), len(cap)
    if R == 0:
        raise AssignInputError("no reps to assign accounts to")
    if (w < 0).any():
        raise AssignInputError(f"negative workload at account positions {np.flatnonzero(w < 0)[:5].tolist()}")
    if np.isnan(cap).any() or (cap < 0).any():
        raise AssignInputError(f"reps without a valid capacity (hours) at positions "
                               f"{np.flatnonzero(np.isnan(cap) | (cap < 0))[:10].tolist()}")
    labels = [str(r) for r in rep_ids] if rep_ids is not None else [f"R{r}" for r in range(R)]
    if distance_km is None:
        if account_lat is None or rep_lat is None:
            raise AssignInputError("give coordinates (account_lat/lon, rep_lat/lon) or distance_km")
        rla, rlo = np.asarray(rep_lat, float), np.asarray(rep_lon, float)
        bad = np.flatnonzero(~np.isfinite(rla) | ~np.isfinite(rlo))
        if len(bad):
            raise AssignInputError(f"reps without a home location: {', '.join(labels[b] for b in bad[:10])}")
        ala, alo = np.asarray(account_lat, float), np.asarray(account_lon, float)
        D = haversine_km(ala, alo, rla, rlo)
        D[~np.isfinite(D)] = np.nanmax(D[np.isfinite(D)]) if np.isfinite(D).any() else 0.0
    else:
        D = np.array(distance_km, dtype=np.float64, copy=True)
        if D.shape != (n, R):
            raise AssignInputError(f"distance_km: expected shape ({n}, {R}), got {D.shape}")
    vocab = [str(v).lower() for v in vocabulary]
    needs = as_skill_matrix(account_needs, n, vocab, "account_needs")
    has = as_skill_matrix(rep_skills, R, vocab, "rep_skills")
    E = ((needs.astype(np.float32) @ (~has).T.astype(np.float32)) < 0.5) if vocab else np.ones((n, R), bool)
    cur = np.full(n, -1, np.int64) if current is None else np.asarray(current, dtype=np.int64)
    lock = np.full(n, -1, np.int64) if locked is None else np.asarray(locked, dtype=np.int64)
    if len(cur) != n or len(lock) != n:
        raise AssignInputError("current and locked need one entry per account")
    if (cur >= R).any() or (lock >= R).any():
        raise AssignInputError("current/locked hold a rep position outside 0..R-1")
    penalty = float(overload_penalty) if overload_penalty is not None else 0.0

    fixed = lock >= 0
    no_rep = ~fixed & ~E.any(1)
    free = np.flatnonzero(~fixed & ~no_rep)
    cap_res = cap - np.bincount(lock[fixed], w[fixed], R)
    const = float(D[np.flatnonzero(fixed), lock[fixed]].sum())
    const -= continuity_km * float((fixed & (cur == lock)).sum())
    locked_load = cap - cap_res
    over_locked = np.maximum(0.0, -cap_res)
    cap_res = np.maximum(cap_res, 0.0)  # a rep filled by locked accounts takes no more
    shortfall = capacity_check(w[free], needs[free], has, cap_res, vocab)
    for r in np.flatnonzero(over_locked > 1e-9):  # locked accounts alone overfill these reps
        shortfall.loc[len(shortfall)] = {"skill": f"locked accounts of {labels[r]}", "demand_h": locked_load[r],
                                         "capacity_h": cap[r], "reps": 1, "short_h": over_locked[r], "kind": "locked"}

    # dense problem on the free accounts (inf: ineligible pair)
    C = np.where(E[free], D[free], np.inf)
    cf = cur[free]
    on = cf >= 0
    C[np.flatnonzero(on), cf[on]] -= continuity_km
    wf = w[free]
    nF = len(free)
    K = max(1, min(int(candidates), R))
    af = np.zeros(0, np.int64)
    moves: dict = {}
    L_best = None
    iters = 0
    lp_info = ""
    if nF:
        search = _Search(C, wf, cap_res, K, penalty, overload_penalty is not None, rng)
        if progress:
            progress(0.05, "Lagrangian multipliers")
        upper = penalty if overload_penalty is not None else np.inf
        lam, iters = _subgradient(C, wf, cap_res, upper, max_iterations,
                                  t0 + (0.25 if use_lp else 0.5) * time_limit)
        L_best = _lagrangian(C, wf, cap_res, lam)
        if progress:
            progress(0.25, f"bound {L_best + const:,.1f}; greedy by reduced costs")
        search.offer(search.greedy(lam), t0 + 0.35 * time_limit)
        if not search.best_feasible:  # a plain regret greedy as a second start
            search.offer(search.greedy(None), t0 + 0.4 * time_limit)
        if use_lp and time.perf_counter() < t0 + 0.6 * time_limit:
            if progress:
                progress(0.4, f"LP relaxation (column generation); plan {search.best_cost + const:,.1f}")
            lp = _lp_colgen(C, wf, cap_res, lam, search.best.a, penalty if overload_penalty is not None else None,
                            t0 + 0.75 * time_limit)
            if lp is not None:
                lam_lp, x_rep, _frac, lp_info = lp
                L_lp = _lagrangian(C, wf, cap_res, lam_lp)
                if L_lp > L_best:
                    L_best = L_lp
                else:
                    lp_info = ""
                # round: each account to its largest LP share; repair and search do the rest
                search.offer(_Plan(x_rep, C, wf, cap_res), t0 + 0.85 * time_limit)
        if progress:
            progress(0.85, f"local search; bound {L_best + const:,.1f}")
        search.polish(deadline)
        af = search.best.a
        moves = dict(search.best.moves)
        if progress:
            progress(0.95, "explanations")

    rep = np.full(n, -1, np.int64)
    rep[fixed] = lock[fixed]
    rep[free] = af
    load = np.bincount(rep[rep >= 0], w[rep >= 0], R)
    overload = np.maximum(0.0, load - cap)
    objective = float(np.where(rep >= 0, D[np.arange(n), np.maximum(rep, 0)], 0.0).sum()
                      - continuity_km * ((cur == rep) & (rep >= 0)).sum())
    if overload_penalty is not None:
        objective += penalty * float(np.maximum(0.0, load - cap).sum())
    hard_infeasible = overload_penalty is None and ((shortfall["short_h"] > 1e-6) & (shortfall["kind"] != "locked")).any()
    excess = overload - over_locked  # overload beyond what locked accounts force
    if L_best is not None and not hard_infeasible:
        lb = L_best + const
    elif nF == 0:
        lb = objective
    else:
        lb = None
    status = ("feasible" if (overload <= 1e-6).all() else
              "overloaded by locked accounts" if (excess <= 1e-6).all() else "overloaded")
    gap = None
    if lb is not None and (status == "feasible" or overload_penalty is not None or (excess <= 1e-6).all()):
        if lb > objective and lb - objective <= 1e-9 * max(1.0, abs(objective)):
            lb = objective  # float noise of the bound's sums
        gap = (objective - lb) / max(abs(objective), 1e-9)
    expl = _explain(D, E, rep, cur, lock, w, cap - load, needs, has, vocab, labels, lock_reasons, no_rep)
    bm = ("Lagrangian relaxation of the capacities over every eligible rep, valid for the full problem"
          + (f"; multipliers from {lp_info}" if lp_info else f"; multipliers by subgradient ({iters} it.)")
          + ("; soft capacities" if overload_penalty is not None else ""))
    return GapResult(rep, objective, lb, gap, bm, load, cap, overload, status, shortfall, expl, iters,
                     time.perf_counter() - t0, seed, moves)


def _explain(D, E, rep, cur, lock, w, slack, needs, has, vocab, labels, lock_reasons, no_rep) -> pd.DataFrame:
    """Why each account went where it did (vectorised counts, then one text per account)."""
    n, R = D.shape
    rows = np.arange(n)
    r = np.maximum(rep, 0)
    d = np.where(rep >= 0, D[rows, r], np.nan)
    dcmp = np.where(rep >= 0, d, -np.inf)
    nearer = E & (D < dcmp[:, None] - 1e-9)
    rank = nearer.sum(1) + 1
    room = slack[None, :] >= w[:, None] - 1e-9
    nearer_room = (nearer & room).sum(1)
    nearer_full = nearer.sum(1) - nearer_room
    elig = E.sum(1)
    nearest_any = np.argmin(D, axis=1)
    skill_blocked = ~E[rows, nearest_any]
    holders = has.sum(0) if len(vocab) else np.zeros(0)
    first_full = np.argmin(np.where(nearer & ~room, D, np.inf), axis=1)
    codes = np.empty(n, dtype=object)
    texts = np.empty(n, dtype=object)
    for i in range(n):
        need = [vocab[s] for s in np.flatnonzero(needs[i])] if len(vocab) else []
        need_txt = ("needs " + ", ".join(f"{s} ({int(holders[vocab.index(s)])} of {R} reps have it)" for s in need)
                    if need else "")
        if lock[i] >= 0:
            codes[i] = "locked"
            txt = (lock_reasons[i] if lock_reasons is not None and lock_reasons[i] else "locked by rule")
            texts[i] = f"{txt}; {labels[rep[i]]} at {d[i]:,.1f} km"
            continue
        if no_rep[i]:
            codes[i] = "no_eligible_rep"
            texts[i] = f"no rep has every skill it needs ({need_txt or 'none listed'})"
            continue
        who = f"{labels[rep[i]]} at {d[i]:,.1f} km"
        if rank[i] == 1:
            if skill_blocked[i] and need:
                codes[i] = "skill"
                texts[i] = (f"{need_txt}: nearest such rep is {who}; nearer {labels[nearest_any[i]]} "
                            f"({D[i, nearest_any[i]]:,.1f} km) lacks it")
            else:
                codes[i] = "nearest"
                texts[i] = f"nearest eligible rep: {who}" + (f"; {need_txt}" if need else "")
        elif nearer_room[i] > 0 and cur[i] == rep[i]:
            codes[i] = "continuity"
            k = int(rank[i]) - 1
            texts[i] = (f"kept with current owner {who} (continuity bonus); {k} eligible "
                        f"rep{' is' if k == 1 else 's are'} nearer")
        elif nearer_room[i] == 0:
            codes[i] = "capacity"
            k = int(nearer_full[i])
            texts[i] = (f"{who} is #{int(rank[i])} of {int(elig[i])} eligible by distance: "
                        + ("the nearer one is" if k == 1 else f"the {k} nearer are")
                        + f" at capacity (nearest {labels[first_full[i]]}, {D[i, first_full[i]]:,.1f} km)"
                        + (f"; {need_txt}" if need else ""))
        else:
            codes[i] = "other"
            texts[i] = (f"{who} is #{int(rank[i])} of {int(elig[i])} eligible by distance; "
                        f"{int(nearer_room[i])} nearer reps have room (local optimum of the search)")
    return pd.DataFrame({"rep": rep, "distance_km": d, "distance_rank": np.where(rep >= 0, rank, 0),
                         "eligible": elig, "nearer_full": np.where(rep >= 0, nearer_full, 0),
                         "reason_code": codes, "reason": texts})


def _gap_model(cost: np.ndarray, w: np.ndarray, cap: np.ndarray, ii: np.ndarray, rr: np.ndarray,
               integral: bool = False):
    """The GAP over the pairs (ii, rr) as a HiGHS model: x ∈ [0, 1] per pair, each account
    exactly once, each rep's workload ≤ its capacity; ``integral`` makes x binary."""
    import highspy
    from scipy.sparse import coo_array

    n, R = cost.shape
    m = len(ii)
    A = coo_array((np.concatenate([np.ones(m), w[ii]]), (np.concatenate([ii, n + rr]), np.concatenate([np.arange(m)] * 2))),
                  shape=(n + R, m)).tocsc()
    lp = highspy.HighsLp()
    lp.num_col_ = m
    lp.num_row_ = n + R
    lp.col_cost_ = cost[ii, rr]
    lp.col_lower_ = np.zeros(m)
    lp.col_upper_ = np.ones(m)
    lp.row_lower_ = np.concatenate([np.ones(n), np.full(R, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate([np.ones(n), cap])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    if integral:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * m
    return lp


def gap_mip(cost: np.ndarray, workload, capacity, *, time_limit: float = 60.0, mip_rel_gap: float = 1e-6,
            threads: int | None = None) -> dict:
    """Solve the GAP exactly with HiGHS (for checks and benchmarks; small instances only).

    ``cost`` (n, R) with ``inf`` for forbidden pairs. Returns a dict: ``rep`` (n,),
    ``objective``, ``bound`` (HiGHS dual bound), ``status`` (HiGHS model status text),
    ``time_s``.

    >>> g = gap_mip(np.array([[1.0, 9.0], [2.0, 8.0], [3.0, 7.0]]), np.ones(3), np.array([2.0, 2.0]))
    >>> g["rep"].tolist(), g["objective"]
    ([0, 0, 1], 10.0)
    """
    t0 = time.perf_counter()
    cost = np.asarray(cost, dtype=np.float64)
    w = np.asarray(workload, dtype=np.float64)
    cap = np.asarray(capacity, dtype=np.float64)
    n, R = cost.shape
    ii, rr = np.nonzero(np.isfinite(cost))
    h, _ = _highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if threads:
        h.setOptionValue("threads", int(threads))
    h.passModel(_gap_model(cost, w, cap, ii, rr, integral=True))
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    rep = np.full(n, -1, np.int64)
    obj = None
    if info.primal_solution_status == 2:  # feasible solution available
        x = np.asarray(h.getSolution().col_value)
        on = x > 0.5
        rep[ii[on]] = rr[on]
        obj = float(cost[ii[on], rr[on]].sum())
    return {"rep": rep, "objective": obj, "bound": float(info.mip_dual_bound), "status": status,
            "time_s": time.perf_counter() - t0}
