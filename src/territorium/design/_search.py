"""Mutable working alignment with incremental totals, contiguity checks and the local search.

Everything here runs inside one start (one process). Per move the cost is O(m + degree)
for the totals and a BFS bounded by the territory for the articulation check.
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from ._problem import Problem

__all__ = ["State", "Search"]

#: internal tolerance margin: aim a little inside the user's tolerance
TOL_MARGIN = 0.97


def _min_flow(k, ta, tb, supply):
    """min Σ f  s.t. for every territory: out-flow − in-flow = supply (HiGHS LP)."""
    from ._lp import _highs

    ne = len(ta)
    if ne == 0:
        return None
    h, highspy = _highs()
    rows = np.r_[ta, tb]
    cols = np.r_[np.arange(ne), np.arange(ne)]
    vals = np.r_[np.ones(ne), -np.ones(ne)]
    order = np.lexsort((rows, cols))
    rows, cols, vals = rows[order], cols[order], vals[order]
    lp = highspy.HighsLp()
    lp.num_col_ = ne
    lp.num_row_ = k
    lp.col_cost_ = np.ones(ne)
    lp.col_lower_ = np.zeros(ne)
    lp.col_upper_ = np.full(ne, highspy.kHighsInf)
    # allow a territory to keep what cannot be shipped (disconnected territory graphs)
    lp.row_lower_ = np.where(supply > 0, 0.0, supply)
    lp.row_upper_ = np.where(supply > 0, supply, 0.0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(cols, np.arange(ne + 1)).astype(np.int32)
    lp.a_matrix_.index_ = rows.astype(np.int32)
    lp.a_matrix_.value_ = vals
    # maximise shipped amount first (cost −M per unit of supply met), then short paths
    h.passModel(lp)
    big = 1e3
    # objective: Σ f − big·Σ_{supply>0} (out − in)  == Σ_e f_e (1 − big·[ta∈S] + big·[tb∈S])
    pos = supply > 0
    h.changeColsCost(ne, np.arange(ne, dtype=np.int32), 1.0 - big * pos[ta] + big * pos[tb])
    h.run()
    if h.modelStatusToString(h.getModelStatus()) != "Optimal":
        return None
    return np.asarray(h.getSolution().col_value)[:ne]


class State:
    """Working alignment. ``a`` is the assignment; per-territory totals are kept by flow."""

    def __init__(self, P: Problem, a: np.ndarray, centers: np.ndarray):
        self.P = P
        k = P.k
        self.a = np.asarray(a, dtype=np.int64).copy()
        self.al = self.a.tolist()
        #: articulation cache (see :meth:`connected_without`): on for realignment, whose
        #: greedy checks several candidate moves per applied one (the annealing checks only
        #: moves it applies, so a cache would be rebuilt for every check there)
        self.art_cache = P.current is not None
        self._art: dict[int, frozenset] = {}
        self.c = centers.copy()  # (k, 2) current centres (fixed ones never change)
        self.free = ~P.fixed if P.cost is None else np.zeros(k, bool)
        self.q = (P.xy ** 2).sum(1)  # |x|^2 per unit
        self.nbrs = None
        if P.indptr is not None:
            ip, ix = P.indptr.tolist(), P.indices.tolist()
            self.nbrs = [ix[ip[i]:ip[i + 1]] for i in range(P.n)]
        self.recount()

    # ---- totals -------------------------------------------------------------------------
    def unit_cost(self, idx, t):
        """d(i, t) for fixed-centre territories (vectorised over idx / t)."""
        P = self.P
        if P.cost is None or callable(P.cost):
            if P.cost is None:
                d = P.xy[idx] - self.c[t]
                return (d ** 2).sum(-1)
            return self._cm[idx, t]
        return P.cost[idx, t]

    def refresh_cost_matrix(self):
        """For a callable cost: evaluate it against the current centres (n x k)."""
        P = self.P
        if callable(P.cost):
            self._cm = np.asarray(P.cost(P.xy, self.c), dtype=float)

    def recount(self):
        P, k, a = self.P, self.P.k, self.a
        self._art = {}
        if callable(P.cost) and not hasattr(self, "_cm"):
            self.refresh_cost_matrix()
        self.size = np.bincount(a, minlength=k).astype(np.int64)
        self.tot = np.zeros((k, P.m))
        if P.m:
            np.add.at(self.tot, a, P.A)
        w = P.w
        self.S0 = np.bincount(a, w, k)
        self.Sx = np.bincount(a, w * P.xy[:, 0], k)
        self.Sy = np.bincount(a, w * P.xy[:, 1], k)
        self.S2 = np.bincount(a, w * self.q, k)
        self.Lc = np.bincount(a, w * self.unit_cost(np.arange(P.n), a), k)

    def sync_centers(self):
        """Free (Euclidean) centres to the current weighted means."""
        ok = self.free & (self.S0 > 0)
        self.c[ok, 0] = self.Sx[ok] / self.S0[ok]
        self.c[ok, 1] = self.Sy[ok] / self.S0[ok]

    def update_centers(self):
        """Free centres to weighted means; recompute the linear costs."""
        ok = self.free & (self.S0 > 0)
        if callable(self.P.cost):
            ok = ~self.P.fixed & (self.S0 > 0)
        self.c[ok, 0] = self.Sx[ok] / self.S0[ok]
        self.c[ok, 1] = self.Sy[ok] / self.S0[ok]
        if callable(self.P.cost):
            self.refresh_cost_matrix()
        P = self.P
        self.Lc = np.bincount(self.a, P.w * self.unit_cost(np.arange(P.n), self.a), P.k)

    def f_terr(self, S0, Sx, Sy, S2, Lc, free):
        """Territory objective: exact centroid moment for free territories, else linear cost."""
        with np.errstate(divide="ignore", invalid="ignore"):
            mom = np.where(S0 > 1e-300, S2 - (Sx * Sx + Sy * Sy) / np.where(S0 > 1e-300, S0, 1.0), 0.0)
        return np.where(free, np.maximum(mom, 0.0), Lc)

    def objective(self) -> float:
        return float(self.f_terr(self.S0, self.Sx, self.Sy, self.S2, self.Lc, self.free).sum())

    def dev(self) -> np.ndarray:
        """(k, m) relative deviation from target."""
        return self.tot / self.P.T.clip(1e-300) - 1.0

    def violation(self, tol=None, sq=True) -> float:
        tol = self.P.tol if tol is None else tol
        ex = np.maximum(np.abs(self.dev()) - tol[None, :], 0.0)
        ex[self.P.frozen] = 0.0
        return float((ex ** 2).sum() if sq else ex.sum())

    def move(self, i: int, b: int):
        P = self.P
        a = self.al[i]
        if a == b:
            return
        w = P.w[i]
        x, y = P.xy[i]
        self.size[a] -= 1
        self.size[b] += 1
        if P.m:
            self.tot[a] -= P.A[i]
            self.tot[b] += P.A[i]
        self.S0[a] -= w
        self.S0[b] += w
        self.Sx[a] -= w * x
        self.Sx[b] += w * x
        self.Sy[a] -= w * y
        self.Sy[b] += w * y
        self.S2[a] -= w * self.q[i]
        self.S2[b] += w * self.q[i]
        self.Lc[a] -= w * self.unit_cost(i, a)
        self.Lc[b] += w * self.unit_cost(i, b)
        self.a[i] = b
        self.al[i] = b
        if self._art:
            self._art.pop(a, None)
            self._art.pop(b, None)

    # ---- scoring --------------------------------------------------------------------------
    def delta(self, us, ta, tb, tol, sq=True):
        """Vectorised change of (objective, violation) when units ``us`` go ta -> tb.

        ``us`` may be 2-D (swap: ``us[:,0]`` ta->tb and ``us[:,1]`` tb->ta)."""
        P = self.P
        if us.ndim == 1:
            sgn_units = [(us, 1.0)]
        else:
            sgn_units = [(us[:, 0], 1.0), (us[:, 1], -1.0)]
        dS0 = 0.0
        dSx = 0.0
        dSy = 0.0
        dS2 = 0.0
        dLa = 0.0
        dLb = 0.0
        dA = 0.0
        for u, s in sgn_units:
            w = P.w[u]
            dS0 = dS0 + s * w
            dSx = dSx + s * w * P.xy[u, 0]
            dSy = dSy + s * w * P.xy[u, 1]
            dS2 = dS2 + s * w * self.q[u]
            if s > 0:
                dLa = dLa - w * self.unit_cost(u, ta)
                dLb = dLb + w * self.unit_cost(u, tb)
            else:
                dLa = dLa + w * self.unit_cost(u, ta)
                dLb = dLb - w * self.unit_cost(u, tb)
            if P.m:
                dA = dA + s * P.A[u]
        fa0 = self.f_terr(self.S0[ta], self.Sx[ta], self.Sy[ta], self.S2[ta], self.Lc[ta], self.free[ta])
        fb0 = self.f_terr(self.S0[tb], self.Sx[tb], self.Sy[tb], self.S2[tb], self.Lc[tb], self.free[tb])
        fa1 = self.f_terr(self.S0[ta] - dS0, self.Sx[ta] - dSx, self.Sy[ta] - dSy, self.S2[ta] - dS2,
                          self.Lc[ta] + dLa, self.free[ta])
        fb1 = self.f_terr(self.S0[tb] + dS0, self.Sx[tb] + dSx, self.Sy[tb] + dSy, self.S2[tb] + dS2,
                          self.Lc[tb] + dLb, self.free[tb])
        dobj = (fa1 - fa0) + (fb1 - fb0)
        if not P.m:
            return dobj, np.zeros_like(dobj), np.zeros_like(dobj)
        T = P.T
        Ta, Tb = T[ta], T[tb]
        da0 = self.tot[ta] / Ta - 1
        db0 = self.tot[tb] / Tb - 1
        da1 = (self.tot[ta] - dA) / Ta - 1
        db1 = (self.tot[tb] + dA) / Tb - 1
        fa = ~P.frozen[ta]
        fb = ~P.frozen[tb]

        def pen(d, p):
            e = np.maximum(np.abs(d) - tol, 0.0)
            return (e ** p).sum(-1)

        p = 2 if sq else 1
        dv = fa * (pen(da1, p) - pen(da0, p)) + fb * (pen(db1, p) - pen(db0, p))
        dphi = fa * ((da1 ** 2).sum(-1) - (da0 ** 2).sum(-1)) + fb * ((db1 ** 2).sum(-1) - (db0 ** 2).sum(-1))
        return dobj, dv, dphi

    # ---- contiguity -----------------------------------------------------------------------
    def connected_without(self, u: int) -> bool:
        """Would territory a[u] stay connected if u left it? (BFS from one in-territory
        neighbour until every other in-territory neighbour is reached.)"""
        al = self.al
        A = al[u]
        excl = self.P.exclave
        nb = [v for v in self.nbrs[u] if al[v] == A and not excl[v]]
        if len(nb) <= 1:
            return True
        # fast path: the in-territory neighbours connected among themselves (a ring around u)
        ring = set(nb)
        seen_r = {nb[0]}
        stack = [nb[0]]
        while stack:
            v = stack.pop()
            for x in self.nbrs[v]:
                if x in ring and x not in seen_r:
                    seen_r.add(x)
                    stack.append(x)
        if len(seen_r) == len(ring):
            return True
        if self.art_cache and not excl[u]:
            cut = self._art.get(A)
            if cut is None:
                cut = self._art[A] = self._articulation(A)
            return u not in cut
        targets = set(nb[1:])
        seen = {u, nb[0]}
        dq = deque([nb[0]])
        nbrs = self.nbrs
        while dq:
            v = dq.popleft()
            for x in nbrs[v]:
                if x not in seen and al[x] == A and not excl[x]:
                    if x in targets:
                        targets.discard(x)
                        if not targets:
                            return True
                    seen.add(x)
                    dq.append(x)
        return False

    def _articulation(self, A: int) -> frozenset:
        """Units of territory ``A`` (exclave units left out) whose removal would split their
        piece of it: iterative Tarjan over the territory, kept until ``A`` changes (a move in
        or out drops it), so several checks between two moves cost one pass."""
        al, excl, nbrs = self.al, self.P.exclave, self.nbrs
        members = [v for v in np.flatnonzero(self.a == A).tolist() if not excl[v]]
        disc: dict[int, int] = {}
        low: dict[int, int] = {}
        cut = set()
        t = 0
        for root in members:
            if root in disc:
                continue
            disc[root] = low[root] = t
            t += 1
            children = 0
            stack = [(root, -1, iter(nbrs[root]))]
            while stack:
                v, parent, it = stack[-1]
                for x in it:
                    if al[x] != A or excl[x]:
                        continue
                    if x not in disc:
                        disc[x] = low[x] = t
                        t += 1
                        if v == root:
                            children += 1
                        stack.append((x, v, iter(nbrs[x])))
                        break
                    if x != parent and disc[x] < low[v]:
                        low[v] = disc[x]
                else:
                    stack.pop()
                    if stack:
                        p = stack[-1][0]
                        if low[v] < low[p]:
                            low[p] = low[v]
                        if p != root and low[v] >= disc[p]:
                            cut.add(p)
            if children > 1:
                cut.add(root)
        return frozenset(cut)

    def touches(self, u: int, b: int) -> bool:
        al = self.al
        return any(al[v] == b for v in self.nbrs[u])

    def components(self):
        """Per-unit component label of the within-territory graph (exclave units alone)."""
        P = self.P
        src = np.repeat(np.arange(P.n), np.diff(P.indptr))
        dst = P.indices
        same = (self.a[src] == self.a[dst]) & ~P.exclave[src] & ~P.exclave[dst]
        g = csr_array((np.ones(int(same.sum())), (src[same], dst[same])), shape=(P.n, P.n))
        return connected_components(g, directed=False)[1]


class Search:
    """Construction repair, improvement and realignment on a :class:`State`."""

    def __init__(self, state: State, rng: np.random.Generator, deadline: float, cancel=None,
                 progress=None):
        self.s = state
        self.P = state.P
        self.rng = rng
        self.deadline = deadline
        self.cancel = cancel
        self.progress = progress
        self.reason: dict[int, tuple] = {}
        self.stopped = "converged"
        self.n_moves = 0
        P = self.P
        self.movable = (P.lock < 0)
        if P.current is not None:
            self.movable &= ~P.frozen[P.current]
        if P.indptr is not None:
            self.src = np.repeat(np.arange(P.n), np.diff(P.indptr))
            self.dst = P.indices
        # realignment: every unit of disruption counts, aim closer to the tolerance itself
        self.tol_in = P.tol * (TOL_MARGIN if P.current is None else 0.995)
        self.dis_used = 0.0
        self.repair_units: set = set()
        self.lp_pref = None  # (sorted keys u*k+t, LP weight) for LP-guided realignment
        if P.current is not None:
            self.dis_used = float(P.dis[state.a != P.current].sum())

    def out_of_time(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.stopped = "time_limit"
            return True
        c = self.cancel
        if c is not None and (c() if callable(c) else c.is_set()):
            self.stopped = "cancelled"
            return True
        return False

    # ---- reasons --------------------------------------------------------------------------
    def _note(self, u, ta, tb, kind):
        s, P = self.s, self.P
        if kind == "balance" and P.m:
            dev = s.dev()
            # the measure whose deviation improved most over the two territories
            da1 = (s.tot[ta] - P.A[u]) / P.T[ta] - 1
            db1 = (s.tot[tb] + P.A[u]) / P.T[tb] - 1
            gain = (np.abs(dev[ta]) - np.abs(da1)) + (np.abs(dev[tb]) - np.abs(db1))
            j = int(np.argmax(gain))
            if abs(dev[ta, j]) >= abs(dev[tb, j]):
                self.reason[u] = ("balance", ta, tb, j, ta, float(dev[ta, j]), float(da1[j]))
            else:
                self.reason[u] = ("balance", ta, tb, j, tb, float(dev[tb, j]), float(db1[j]))
        elif kind == "compactness":
            da = float(np.sqrt(((P.xy[u] - s.c[ta]) ** 2).sum()))
            db = float(np.sqrt(((P.xy[u] - s.c[tb]) ** 2).sum()))
            self.reason[u] = ("compactness", ta, tb, da, db)
        else:
            self.reason[u] = (kind, ta, tb)

    def _apply(self, u, b, kind):
        ta = self.s.al[u]
        self._note(u, ta, b, kind)
        self.s.move(u, b)
        self.n_moves += 1

    # ---- contiguity repair ----------------------------------------------------------------
    def _stray_pieces(self, weight):
        """The pieces to move so that every territory is one piece, or None when it already is.

        A list of ``(territory, member units, component labels, anchor component)``: per split
        territory the anchor is the piece holding locked units, else the one with the largest
        ``weight(labels, n_components)``; pieces made only of allowed exclaves are left alone.
        """
        s, P = self.s, self.P
        lab = s.components()
        ncomp = lab.max() + 1
        terr = np.zeros(ncomp, np.int64)
        terr[lab] = s.a
        cnt = np.bincount(terr, minlength=P.k)
        if (cnt <= 1).all():
            return None
        nexcl = np.bincount(lab, (~P.exclave).astype(float), ncomp)
        key = np.bincount(lab, (P.lock >= 0).astype(float), ncomp) * 1e30 + weight(lab, ncomp)
        out = []
        for t in np.flatnonzero(cnt > 1):
            comps = np.flatnonzero(terr == t)
            comps = comps[nexcl[comps] > 0]
            if len(comps) <= 1:
                continue
            anchor = comps[np.argmax(key[comps])]
            out += [(int(t), np.flatnonzero(lab == c), lab, anchor) for c in comps if c != anchor]
        return out

    def repair(self, max_rounds: int = 60):
        """Make every territory one piece: keep its anchor component (the one with its locked
        units / home, else the heaviest), give other pieces to the best adjacent territory."""
        P = self.P
        if P.indptr is None:
            return
        for _ in range(max_rounds):
            pieces = self._stray_pieces(lambda lab, nc: np.bincount(lab, P.w + 1e-9, nc))
            if pieces is None:
                return
            changed = False
            for t, members, lab, anchor in pieces:
                if (P.lock[members] == t).any():
                    changed |= self._connect(members, t, lab == anchor)
                    continue
                changed |= self._give_away(members, t)
            if not changed:
                return

    def _give_away(self, members, t) -> bool:
        s, P = self.s, self.P
        mset = set(members.tolist())
        opts = {}
        for u in members:
            for v in s.nbrs[u]:
                if v not in mset:
                    b = s.al[v]
                    if b != t and not P.frozen[b]:
                        opts[b] = opts.get(b, 0) + 1
        if not opts:
            return False
        if (P.lock[members] >= 0).any():
            return False
        cands = np.array(sorted(opts))
        # score: compactness of the piece to each candidate centre + balance effect
        w = P.w[members]
        cen = (w[:, None] * P.xy[members]).sum(0) / max(w.sum(), 1e-300)
        d2 = ((s.c[cands] - cen) ** 2).sum(1)
        score = d2 / max(d2.max(), 1e-300)
        if P.m:
            add = P.A[members].sum(0)
            dev1 = (s.tot[cands] + add) / P.T[cands] - 1
            score = score + 10 * (np.maximum(np.abs(dev1) - self.tol_in, 0) ** 2).sum(1) / max(1e-12, (self.tol_in ** 2).sum() + 1e-6)
        b = int(cands[np.argmin(score)])
        for u in members:
            self.reason[int(u)] = ("repair", t, b)
            s.move(int(u), b)
        return True

    def _connect(self, members, t, anchor_mask) -> bool:
        """Locked units of t cut off from t's anchor: claim a shortest path of free units."""
        s, P = self.s, self.P
        target = set(members.tolist())
        prev = {}
        start = np.flatnonzero(anchor_mask).tolist()
        seen = set(start)
        dq = deque(start)
        hit = None
        while dq and hit is None:
            v = dq.popleft()
            for x in s.nbrs[v]:
                if x in seen:
                    continue
                if x in target:
                    prev[x] = v
                    hit = x
                    break
                if P.lock[x] >= 0 and P.lock[x] != t:
                    continue
                if P.frozen[s.al[x]] and s.al[x] != t:
                    continue
                seen.add(x)
                prev[x] = v
                dq.append(x)
        if hit is None:
            return False
        v = prev[hit]
        changed = False
        while not anchor_mask[v]:
            if s.al[v] != t:
                self.reason[v] = ("lockpath", s.al[v], t)
                s.move(v, t)
                changed = True
            v = prev[v]
        return changed

    # ---- candidate moves -----------------------------------------------------------------
    def boundary_pairs(self):
        s, P = self.s, self.P
        a = s.a
        if P.indptr is None:
            return self._book_pairs()
        src, dst = self.src, self.dst
        m = (a[src] != a[dst]) & self.movable[src]
        if P.frozen.any():
            m &= ~P.frozen[a[dst]]
        u = src[m]
        b = a[dst[m]]
        if len(u) == 0:
            return u, b
        key = np.unique(u * P.k + b)
        return key // P.k, key % P.k

    def _book_pairs(self, L: int = 6):
        """No graph: every movable unit may go to one of its L nearest centres."""
        from scipy.spatial import cKDTree

        s, P = self.s, self.P
        L = min(L, P.k)
        tree = cKDTree(s.c)
        _, t = tree.query(P.xy, k=L)
        t = np.asarray(t).reshape(P.n, L)
        u = np.repeat(np.arange(P.n), L)
        b = t.ravel()
        m = (b != s.a[u]) & self.movable[u] & ~P.frozen[b]
        return u[m], b[m]

    def _removable(self, u) -> bool:
        s = self.s
        if s.size[s.al[u]] <= 1:
            return False
        if s.nbrs is None:
            return True
        return s.connected_without(u)

    # ---- improvement ---------------------------------------------------------------------
    def improve(self, max_passes: int = 600):
        """Penalised descent: F = MOI/scale + λ·Σ excess² (+ φ·Σ dev² while stuck), λ raised
        while infeasible; single boundary moves by gain, then swaps when moves stall."""
        s, P = self.s, self.P
        scale = max(s.objective(), 1e-12)
        lam = 10.0 * P.n
        phi = 0.0
        tol = self.tol_in
        eps = 1e-12
        centre_every = 3
        flowed = 0
        if P.m and (np.abs(s.dev())[~P.frozen] > 2 * tol[None, :]).any():
            self.flow_balance()
            s.sync_centers()
            flowed = 1
        for it in range(max_passes):
            if self.out_of_time():
                return
            if self.progress is not None:
                self.progress(it / max_passes, f"local search pass {it}")
            applied = self._move_pass(scale, lam, tol, eps, phi)
            if applied == 0:
                applied = self._swap_pass(scale, lam, tol, eps, phi)
            viol = s.violation(tol)
            if viol <= 0 and phi > 0:
                phi = 0.0  # feasible again: back to compactness (λ keeps it feasible)
                continue
            if applied == 0:
                if viol > 0 and lam < 1e9:
                    lam *= 10.0
                    continue
                if viol > 0 and flowed < 3:
                    flowed += 1
                    if self.flow_balance():
                        s.sync_centers()
                        continue
                if viol > 0 and phi < 1e9:
                    # stuck on the tolerance edge: pull every territory towards its target so
                    # slack spreads and a later move can fix the violation
                    phi = max(phi * 10.0, 1.0 * P.n)
                    continue
                if self._recentre():
                    continue
                return
            if viol > 0:
                lam = min(lam * 1.5, 1e9)
            s.sync_centers()
            if it % centre_every == centre_every - 1:
                self._recentre()

    def flow_balance(self, rounds: int = 6, band: float = 0.5) -> int:
        """Territory-level rebalancing: a min-cost flow on the territory graph says how much of
        the worst measure each territory should pass to each neighbour; each flow is realised by
        boundary units of the giver that touch the receiver, cheapest in compactness first
        (contiguity checked per move). Returns the number of units moved."""
        s, P = self.s, self.P
        if P.m == 0 or P.indptr is None or P.k < 2:
            return 0
        tol = self.tol_in
        band_frac = band
        moved_total = 0
        for _ in range(rounds):
            if self.out_of_time():
                break
            dev = s.dev()
            ex = np.maximum(np.abs(dev) - tol[None, :], 0.0)
            ex[P.frozen] = 0.0
            if ex.sum() <= 0:
                break
            j = int(ex.sum(0).argmax())
            a = s.a
            src, dst = self.src, self.dst
            m = (a[src] != a[dst]) & ~P.frozen[a[src]] & ~P.frozen[a[dst]]
            if not m.any():
                break
            key = np.unique(a[src[m]] * P.k + a[dst[m]])
            ta, tb = key // P.k, key % P.k
            # ship only what lies outside half the tolerance band: territories inside the band
            # pass flow through but are not pulled to the exact target
            band = band_frac * tol[j] * P.T[:, j]
            diff = s.tot[:, j] - P.T[:, j]
            supply = np.sign(diff) * np.maximum(np.abs(diff) - band, 0.0)
            supply[P.frozen] = 0.0
            f = _min_flow(P.k, ta, tb, supply / P.T[:, j].clip(1e-300).mean())
            if f is None:
                break
            f = f * P.T[:, j].clip(1e-300).mean()
            order = np.argsort(-f)
            moved = 0
            for e in order:
                if f[e] <= 1e-9:
                    break
                A, B = int(ta[e]), int(tb[e])
                moved += self._realise(A, B, j, float(f[e]))
            moved_total += moved
            if moved == 0:
                break
        return moved_total

    def _realise(self, A: int, B: int, j: int, amount: float) -> int:
        s, P = self.s, self.P
        al = s.al
        cand = set()
        members = np.flatnonzero(s.a == A)
        for u in members.tolist():
            if self.movable[u] and any(al[v] == B for v in s.nbrs[u]):
                cand.add(u)
        if not cand:
            return 0
        cand = np.array(sorted(cand))
        if P.current is not None:
            # realignment: least disruption per unit of measure shipped (going home is free)
            cost = P.dis[cand] * ((B != P.current[cand]).astype(float) - (A != P.current[cand]).astype(float))
            per = cost / np.maximum(P.A[cand, j], 1e-12 * max(P.A[:, j].max(), 1e-300))
            cand = cand[np.argsort(per, kind="stable")]
        else:
            # prefer units whose move hurts the other measures least (Σ dev² change), then
            # compactness (rank sum)
            dobj, _, dphi = s.delta(cand, np.full(len(cand), A), np.full(len(cand), B), self.tol_in)
            r1 = np.argsort(np.argsort(dphi, kind="stable"), kind="stable")
            r2 = np.argsort(np.argsort(dobj, kind="stable"), kind="stable")
            cand = cand[np.lexsort((r2, r1 + r2))]
        left = amount
        moved = 0
        frontier = list(cand.tolist())
        seen = set(frontier)
        i = 0
        while i < len(frontier) and left > 0:
            u = frontier[i]
            i += 1
            val = P.A[u, j]
            if val > 1.5 * left or al[u] != A:
                continue
            if not s.touches(u, B) or not self._removable(u):
                continue
            if P.current is not None:  # realignment: respect the disruption cap
                cur = P.current[u]
                dd = P.dis[u] * (float(B != cur) - float(A != cur))
                if self.dis_used + dd > P.max_dis + 1e-9:
                    continue
                self.dis_used += dd
            self._apply(u, B, "balance")
            left -= val
            moved += 1
            # newly exposed units of A behind u
            for v in s.nbrs[u]:
                if v not in seen and al[v] == A and self.movable[v]:
                    seen.add(v)
                    frontier.append(v)
        return moved

    def _restore(self, a: np.ndarray, reason: dict, sync: bool = True) -> None:
        """Go back to assignment ``a`` and its move reasons (totals recounted; free centres
        re-synced unless ``sync`` is False, as the realignment keeps them)."""
        s = self.s
        s.a[:] = a
        s.al = s.a.tolist()
        s.recount()
        if sync:
            s.sync_centers()
        self.reason = dict(reason)

    def kick(self, n_moves: int) -> int:
        """Random contiguity-keeping boundary moves around the territories that violate a
        tolerance (all territories if none): the perturbation of the iterated local search."""
        s, P = self.s, self.P
        u, b = self.boundary_pairs()
        if len(u) == 0:
            return 0
        if P.m:
            ex = (np.maximum(np.abs(s.dev()) - self.tol_in[None, :], 0.0) > 0).any(1) & ~P.frozen
            if ex.any():
                sel = ex[s.a[u]] | ex[b]
                u, b = u[sel], b[sel]
        done = 0
        for j in self.rng.permutation(len(u)).tolist():
            if done >= n_moves:
                break
            uj, bj = int(u[j]), int(b[j])
            if s.al[uj] == bj or not s.touches(uj, bj) or not self._removable(uj):
                continue
            self._apply(uj, bj, "balance")
            done += 1
        return done

    def iterated(self, rounds: int = 30):
        """Iterated local search while a tolerance is still violated: kick, improve, keep the
        best (violation, objective). A fixed number of rounds keeps results reproducible."""
        s, P = self.s, self.P
        best = (s.violation(P.tol), s.objective(), s.a.copy(), dict(self.reason))
        for r in range(rounds):
            if best[0] <= 0 or self.out_of_time():
                break
            self.kick(max(3, P.n // (20 * P.k)))
            self.improve()
            cur = (s.violation(P.tol), s.objective())
            if cur < best[:2]:
                best = (cur[0], cur[1], s.a.copy(), dict(self.reason))
        if not np.array_equal(best[2], s.a):
            self._restore(best[2], best[3])

    def polish(self, rounds: int = 10_000) -> int:
        """Iterated local search for compactness once the tolerances hold: a small random
        kick, descent, keep the result only if it still meets the tolerances and its moment
        of inertia is lower. Runs ``rounds`` rounds (a fixed number, so the result does not
        depend on the machine's speed) unless the deadline comes first, which ``stopped``
        then says; returns the number of improvements kept."""
        s, P = self.s, self.P
        tol = P.tol
        if s.violation(tol) > 0:
            return 0
        best = (s.objective(), s.a.copy(), dict(self.reason))
        kept = 0
        size = max(2, P.n // (40 * P.k))
        for _ in range(rounds):
            if self.out_of_time():
                break
            self.kick(size)
            self.improve()
            if self.stopped != "converged":
                break
            f = s.objective()
            if s.violation(tol) <= 0 and f < best[0] * (1 - 1e-9):
                best = (f, s.a.copy(), dict(self.reason))
                kept += 1
            else:
                self._restore(best[1], best[2])
        if not np.array_equal(best[1], s.a):
            self._restore(best[1], best[2])
        return kept

    def realign_polish(self, rounds: int = 60, beta: float = 0.1) -> int:
        """Iterated local search for less disruption once the tolerances hold: send a random
        twentieth of the moved units back to their current territory (where contiguity
        allows), let the realignment greedy restore the tolerances, and keep the round only
        if the plan is within tolerance and moves less; else go back. A fixed number of
        rounds unless the deadline comes first. Returns the number of rounds kept."""
        s, P = self.s, self.P
        cur = P.current
        if cur is None or s.violation(P.tol, sq=False) > 0:
            return 0

        def disrupted() -> float:
            return float(P.dis[s.a != cur].sum())

        best = (disrupted(), s.a.copy(), dict(self.reason))
        kept = 0
        for _ in range(rounds):
            if self.out_of_time():
                break
            moved = np.flatnonzero((s.a != cur) & self.movable)
            if len(moved) == 0:
                break
            pick = self.rng.choice(moved, size=min(len(moved), max(2, len(moved) // 20)), replace=False)
            for u in pick.tolist():
                home = int(cur[u])
                if s.al[u] != home and s.size[s.al[u]] > 1 and s.touches(u, home) and self._removable(u):
                    self._apply(u, home, "balance")
            self.dis_used = disrupted()
            self.realign(beta=beta)
            d = disrupted()
            if s.violation(P.tol, sq=False) <= 0 and d < best[0] - 1e-9:
                best = (d, s.a.copy(), dict(self.reason))
                kept += 1
            else:
                self._restore(best[1], best[2], sync=False)
        if not np.array_equal(best[1], s.a):
            self._restore(best[1], best[2], sync=False)
        self.dis_used = disrupted()
        return kept

    def _recentre(self) -> bool:
        """Fixed-centre / custom-cost territories keep centres; for callable cost the free
        centres move to weighted means (returns True if the objective changed)."""
        s, P = self.s, self.P
        if not callable(P.cost):
            return False
        before = s.objective()
        s.update_centers()
        return s.objective() < before - 1e-9 * max(abs(before), 1)

    def _move_pass(self, scale, lam, tol, eps, phi=0.0) -> int:
        s, P = self.s, self.P
        u, b = self.boundary_pairs()
        if len(u) == 0:
            return 0
        ta = s.a[u]
        dobj, dv, dphi = s.delta(u, ta, b, tol)
        dF = dobj / scale + lam * dv + phi * dphi
        sel = np.flatnonzero(dF < -eps)
        if len(sel) == 0:
            return 0
        order = sel[np.lexsort((self.rng.random(len(sel)), dF[sel]))]
        dirty = np.zeros(P.k, bool)
        applied = 0
        for n_seen, j in enumerate(order):
            uj, bj, aj = int(u[j]), int(b[j]), int(ta[j])
            if s.al[uj] != aj:
                continue
            if dirty[aj] or dirty[bj]:
                o, v, ph = s.delta(np.array([uj]), np.array([aj]), np.array([bj]), tol)
                f = o[0] / scale + lam * v[0] + phi * ph[0]
                if f >= -eps:
                    continue
                kind = "balance" if (v[0] < 0 or ph[0] < 0 < phi) else "compactness"
            else:
                kind = "balance" if (dv[j] < 0 or dphi[j] < 0 < phi) else "compactness"
            if s.nbrs is not None and not s.touches(uj, bj):
                continue
            if not self._removable(uj):
                continue
            self._apply(uj, bj, kind)
            dirty[aj] = dirty[bj] = True
            applied += 1
            if (n_seen & 127) == 0 and self.out_of_time():
                break
        return applied

    def _swap_pairs(self, per_side: int = 12):
        """(u, v) with u in A touching B and v in B touching A, for every bordering pair A<B
        (not only adjacent u, v: exchanges of any two border units fine-tune several measures).
        At most ``per_side`` units per side, chosen at random."""
        s, P = self.s, self.P
        u, b = self.boundary_pairs()
        if len(u) == 0:
            return u, u
        a = s.a[u]
        if P.frozen.any():
            keep = ~P.frozen[a]
            u, b, a = u[keep], b[keep], a[keep]
        r = self.rng.random(len(u))
        key = a * P.k + b
        order = np.lexsort((r, key))
        u, b, a, key = u[order], b[order], a[order], key[order]
        first = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
        rank = np.arange(len(key)) - np.repeat(first, np.diff(np.r_[first, len(key)]))
        keep = rank < per_side
        u, b, a = u[keep], b[keep], a[keep]
        import pandas as pd

        left = pd.DataFrame({"u": u, "A": a, "B": b})
        lo = left[left["A"] < left["B"]]
        hi = left[left["A"] > left["B"]].rename(columns={"u": "v", "A": "B", "B": "A"})
        pairs = lo.merge(hi, on=["A", "B"])
        return pairs["u"].to_numpy(np.int64), pairs["v"].to_numpy(np.int64)

    def _swap_pass(self, scale, lam, tol, eps, phi=0.0) -> int:
        s, P = self.s, self.P
        if P.indptr is None:
            u, b = self.boundary_pairs()
            if len(u) == 0:
                return 0
            # books: swap u with the unit of territory b nearest to u's territory centre
            return 0
        pu, pv = self._swap_pairs()
        if len(pu) == 0:
            return 0
        a = s.a
        ta, tb = a[pu], a[pv]
        dobj, dv, dphi = s.delta(np.column_stack([pu, pv]), ta, tb, tol)
        dF = dobj / scale + lam * dv + phi * dphi
        sel = np.flatnonzero(dF < -eps)
        if len(sel) == 0:
            return 0
        order = sel[np.lexsort((self.rng.random(len(sel)), dF[sel]))]
        dirty = np.zeros(P.k, bool)
        applied = 0
        tries = 0
        for j in order:
            uj, vj, aj, bj = int(pu[j]), int(pv[j]), int(ta[j]), int(tb[j])
            if s.al[uj] != aj or s.al[vj] != bj or dirty[aj] or dirty[bj]:
                continue
            tries += 1
            if tries > 3000 or ((tries & 63) == 0 and self.out_of_time()):
                break
            if s.size[aj] < 2 or s.size[bj] < 2:
                continue
            # v: b -> a first, then u: a -> b
            if not s.connected_without(vj):
                continue
            s.move(vj, aj)
            ok = s.touches(uj, bj) and s.connected_without(uj)
            if not ok:
                s.move(vj, bj)
                continue
            kind = "balance" if dv[j] < 0 else "compactness"
            s.move(vj, bj)
            self._apply(vj, aj, kind)
            self._apply(uj, bj, kind)
            dirty[aj] = dirty[bj] = True
            applied += 1
        return applied

    # ---- realignment: repair of the current plan's stray pieces ---------------------------
    def repair_pieces(self, max_rounds: int = 200, forced: bool = True) -> dict:
        """Realignment, first step: make every territory of the current plan one piece while
        moving the least disruption. The anchor of a split territory is its piece with the
        most disruption weight (locked units first); every other piece either goes, whole, to
        the adjacent territory that fits best (balance), or is reattached through the cheapest
        path of units (Dijkstra on disruption), whichever moves less; a path is only taken
        when no territory it crosses is cut. Pieces are repaired cheapest first while the
        disruption cap allows. Pieces are counted like the report (virtual edges are links).

        Returns {"moved": disruption moved by repair, "units": units moved, "pieces": pieces
        repaired, "skipped": [(territory, units in piece, cost)] left split by the cap}.
        ``forced=False``: the same for pieces cut by the search's own bulk moves (LP rounding):
        reason "contiguity" and not counted as repair of the current plan."""
        import heapq

        s, P = self.s, self.P
        out = {"moved": 0.0, "units": 0, "pieces": 0, "skipped": []}
        if P.indptr is None or P.current is None:
            return out
        cur = P.current
        blocked: set = set()
        for _ in range(max_rounds):
            if self.out_of_time():
                break
            pieces = self._stray_pieces(
                lambda lab, nc: np.bincount(lab, P.dis, nc) * 1e3 + np.bincount(lab, minlength=nc))
            if pieces is None:
                break
            options = []
            for t, members, lab, anchor in pieces:
                sig = (int(t), int(members[0]))
                if sig in blocked:
                    continue
                options += self._piece_option(int(t), members, lab == anchor, heapq, paths=forced)
            if not options:
                break
            options.sort(key=lambda o: (o[0], o[1], o[2], int(o[3][0])))
            done = False
            dirty = np.zeros(P.k, bool)
            handled: set = set()
            for cost, _tie, t, members, kind, moves in options:
                sig = (t, int(members[0]))
                if sig in blocked or sig in handled:
                    continue
                touched = [t, moves] if kind == "give" else [t] + [s.al[v] for v in moves]
                if dirty[touched].any():
                    continue  # totals changed this round: reconsider next round
                if self.dis_used + cost > P.max_dis + 1e-9:
                    if not any(o[2] == t and o[3][0] == members[0] and o[0] < cost for o in options):
                        blocked.add(sig)
                        out["skipped"].append((t, len(members), float(cost)))
                    continue
                if kind == "path":
                    # move the path units into t, checking that no crossed territory is cut
                    applied = []
                    okp = True
                    for v in moves:
                        if not self._removable(v):
                            okp = False
                            break
                        applied.append((v, s.al[v]))
                        s.move(v, t)
                    if not okp:
                        for v, b0 in reversed(applied):
                            s.move(v, b0)
                        if not any(o[4] == "give" and o[2] == t and o[3][0] == members[0] for o in options):
                            blocked.add(sig)
                        continue
                    for v, b0 in applied:
                        self.reason[v] = ("repairpath" if forced else "fixpath", t, b0)
                        if forced:
                            self.repair_units.add(v)
                    moved = float(sum(P.dis[v] * (float(t != cur[v]) - float(b0 != cur[v])) for v, b0 in applied))
                    out["units"] += len(applied)
                else:
                    b = moves
                    moved = float((P.dis[members] * ((b != cur[members]).astype(float)
                                                     - (t != cur[members]).astype(float))).sum())
                    for u in members.tolist():
                        self.reason[u] = ("repair" if forced else "fix", t, b)
                        s.move(u, b)
                        if forced:
                            self.repair_units.add(u)
                    out["units"] += len(members)
                dirty[touched] = True
                handled.add(sig)
                if forced:  # few pieces: recount after each so later choices see this one
                    self.dis_used += moved
                    out["moved"] += moved
                    out["pieces"] += 1
                    self.n_moves += 1
                    done = True
                    break
                self.dis_used += moved
                out["moved"] += moved
                out["pieces"] += 1
                self.n_moves += 1
                done = True
            if not done:
                break
        out["skipped"] = sorted(set(out["skipped"]))
        return out

    def _piece_option(self, t, members, anchor_mask, heapq, paths: bool = True):
        """Options [(cost, tie, t, members, kind, what)] for repairing one stray piece of t:
        give it whole to the best adjacent territory, and/or reattach it through the cheapest
        path (kept only when it moves less than giving the piece away)."""
        s, P = self.s, self.P
        cur = P.current
        mset = set(members.tolist())
        best = None
        out = []
        if not (P.lock[members] >= 0).any():
            opts = {}
            for u in members.tolist():
                for v in s.nbrs[u]:
                    if v not in mset:
                        b = s.al[v]
                        if b != t and not P.frozen[b]:
                            opts[b] = opts.get(b, 0) + 1
            if opts:
                cands = np.array(sorted(opts))
                add = P.A[members].sum(0) if P.m else np.zeros(0)
                if P.m:
                    dev1 = (s.tot[cands] + add) / P.T[cands] - 1
                    dev0 = s.tot[cands] / P.T[cands] - 1
                    ex = (np.maximum(np.abs(dev1) - self.tol_in, 0)).sum(1) - \
                        (np.maximum(np.abs(dev0) - self.tol_in, 0)).sum(1)
                    phi = (dev1 ** 2).sum(1)
                else:
                    ex = phi = np.zeros(len(cands))
                w = P.w[members]
                cen = (w[:, None] * P.xy[members]).sum(0) / max(w.sum(), 1e-300)
                d2 = ((s.c[cands] - cen) ** 2).sum(1)
                order = np.lexsort((d2, phi, ex))
                b = int(cands[order[0]])
                cost = float((P.dis[members] * ((b != cur[members]).astype(float)
                                                - (t != cur[members]).astype(float))).sum())
                best = (cost, 0, t, members, "give", b)
                out.append(best)
        if not paths:
            return out
        # cheapest path from the piece to the anchor through movable units of other territories
        dist = {}
        prev = {}
        heap = []
        for u in members.tolist():
            dist[u] = 0.0
            heap.append((0.0, 0, u))
        heapq.heapify(heap)
        hit = None
        limit = best[0] if best is not None else np.inf
        pops = 0
        while heap:
            pops += 1
            if pops > 4000:
                break
            d, hops, v = heapq.heappop(heap)
            if d > dist.get(v, np.inf) or d > limit:
                continue
            if anchor_mask[v]:
                hit = v
                break
            for x in s.nbrs[v]:
                if anchor_mask[x]:
                    nd, nh = d, hops + 1
                else:
                    if x in mset or s.al[x] == t or not self.movable[x] or P.frozen[s.al[x]]:
                        continue
                    nd = d + P.dis[x] * (float(t != cur[x]) - float(s.al[x] != cur[x])) + 1e-9
                    nh = hops + 1
                if nd < dist.get(x, np.inf):
                    dist[x] = nd
                    prev[x] = v
                    heapq.heappush(heap, (nd, nh, x))
        if hit is not None:
            path = []
            v = prev.get(hit)
            while v is not None and v not in mset:
                path.append(v)
                v = prev.get(v)
            cost = float(sum(P.dis[v] * (float(t != cur[v]) - float(s.al[v] != cur[v])) for v in path))
            if path and (best is None or cost < best[0] - 1e-9 or (cost <= best[0] + 1e-9 and len(path) < len(members))):
                # from the anchor side outwards, so each crossed territory is checked in turn
                out.append((cost, -1, t, members, "path", list(reversed(path))))
        return out

    # ---- realignment: LP-guided rounding --------------------------------------------------
    def set_lp_guide(self, sol: dict):
        """Prefer, in the realignment greedy, the moves of the guide LP (weight x)."""
        P = self.P
        pu, pt, x = sol["pu"], sol["pt"], sol["x"]
        m = (x > 1e-6) & (pt != P.current[pu])
        keys = pu[m] * P.k + pt[m]
        o = np.argsort(keys)
        self.lp_pref = (keys[o], x[m][o]) if len(keys) else None

    def lp_round(self, sol: dict, thresh: float = 0.5, group_max: int = 400) -> int:
        """Apply the guide LP's moves (x ≥ ``thresh`` to a territory other than the unit's
        own), nearest-to-the-receiver first, each only when the unit touches the receiver and
        its territory stays connected; repeated until nothing more applies. A unit whose
        removal would cut its territory moves together with the part it cuts off when the LP
        sends most of that part to the same receiver (group move). Within the cap."""
        s, P = self.s, self.P
        cur = P.current
        pu, pt, x, ph = sol["pu"], sol["pt"], sol["x"], sol["hops"]
        sel = np.flatnonzero((x >= thresh) & (pt != s.a[pu]) & self.movable[pu])
        if len(sel) == 0:
            return 0
        sel = sel[np.lexsort((-x[sel], ph[sel]))]
        want = {int(pu[j]): int(pt[j]) for j in sel}
        todo = [(int(pu[j]), int(pt[j])) for j in sel]
        applied = 0
        for _ in range(60):
            rest = []
            progress = False
            for u, b in todo:
                a = s.al[u]
                if a == b:
                    continue
                if not s.touches(u, b) or s.size[a] <= 1:
                    rest.append((u, b))
                    continue
                group = [u]
                if not s.connected_without(u):
                    group = self._cut_group(u, group_max)
                    if group is None:
                        rest.append((u, b))
                        continue
                    hits = sum(1 for v in group if want.get(v) == b)
                    if hits < 0.6 * len(group) or any(not self.movable[v] for v in group):
                        rest.append((u, b))
                        continue
                dd = float(sum(P.dis[v] * (float(b != cur[v]) - float(a != cur[v])) for v in group))
                if self.dis_used + dd > P.max_dis + 1e-9:
                    continue
                for v in group:
                    self.reason[v] = ("lp", a, b)
                    s.move(v, b)
                self.n_moves += len(group)
                self.dis_used += dd
                applied += len(group)
                progress = True
            if not progress or self.out_of_time():
                break
            todo = rest
        return applied

    def _cut_group(self, u: int, limit: int):
        """u and the part of its territory that only hangs on u (everything not reachable
        from the territory's largest remaining side without u), or None if that part is
        larger than ``limit`` units."""
        s = self.s
        al = s.al
        A = al[u]
        nb = [v for v in s.nbrs[u] if al[v] == A]
        sides = []
        seen_all = {u}
        for v0 in nb:
            if v0 in seen_all:
                continue
            comp = [v0]
            seen_all.add(v0)
            dq = deque([v0])
            big = False
            while dq:
                v = dq.popleft()
                for x in s.nbrs[v]:
                    if x not in seen_all and al[x] == A:
                        seen_all.add(x)
                        comp.append(x)
                        dq.append(x)
                if len(comp) > limit:
                    big = True
                    break
            sides.append((big, comp))
        bigs = [c for b, c in sides if b]
        if len(bigs) != 1:
            if bigs:
                return None
            # every side small: keep the largest in A
            sides.sort(key=lambda bc: -len(bc[1]))
            small = [v for _, c in sides[1:] for v in c]
        else:
            small = [v for b, c in sides if not b for v in c]
        if s.size[A] - 1 - len(small) < 1:
            return None
        return [u] + small

    # ---- realignment ---------------------------------------------------------------------
    def realign(self, beta: float = 0.1, max_rounds: int = 100000, flow_first: bool = False):
        """Reach the tolerances from the current alignment moving as little disruption as
        possible: greedy on (excess + β·Σdev²) decrease per unit of disruption, within the cap."""
        s, P = self.s, self.P
        cur = P.current
        d = P.dis
        dmean = max(float(d.mean()), 1e-12)
        tol = self.tol_in
        scale = max(s.objective(), 1e-12)
        flows = 0
        swaps = 0
        if flow_first and P.m:
            self.flow_balance(rounds=4, band=0.9)
        for _ in range(max_rounds):
            if s.violation(tol, sq=False) <= 0 or self.out_of_time():
                break
            applied = self._realign_round(beta, d, dmean, cur, tol, scale)
            if applied == 0 and swaps < 200:
                # stuck on coarse units: exchanges of two border units fine-tune the totals
                applied = self.excess_swaps(beta, dmean)
                swaps += 1
            if applied == 0:
                # stuck: chains of moves through the territory graph (min-cost flow)
                if flows >= 10 or P.m == 0:
                    break
                flows += 1
                if self.flow_balance(rounds=2, band=0.9) == 0:
                    break
        self.cleanup_disruption()
        for _ in range(20):
            if self.out_of_time() or self.disruption_swaps() == 0:
                break
            self.cleanup_disruption()

    def _realign_round(self, beta, d, dmean, cur, tol, scale) -> int:
        s, P = self.s, self.P
        u, b = self.boundary_pairs()
        if len(u) == 0:
            return 0
        ta = s.a[u]
        dobj, de, dphi = s.delta(u, ta, b, tol, sq=False)
        ddis = d[u] * ((b != cur[u]).astype(float) - (ta != cur[u]).astype(float))
        gain = -(de + beta * dphi) - 1e-3 * dobj / scale / P.n
        ok = (gain > 1e-12) & (de <= 1e-15) & (self.dis_used + ddis <= P.max_dis + 1e-9)
        if not ok.any():
            return 0
        sel = np.flatnonzero(ok)
        cost = np.maximum(ddis[sel], 0.0) + 1e-3 * dmean
        if self.lp_pref is not None:
            # LP-guided: moves the guide LP makes are cheaper in proportion to its weight
            keys, xv = self.lp_pref
            q = u[sel] * P.k + b[sel]
            pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
            xl = np.where(keys[pos] == q, xv[pos], 0.0)
            cost = np.maximum(ddis[sel], 0.0) * (1.0 - 0.9 * xl) + 1e-3 * dmean
        ratio = gain[sel] / cost
        order = sel[np.lexsort((self.rng.random(len(sel)), -ratio))]
        dirty = np.zeros(P.k, bool)
        applied = 0
        for j in order:
            uj, bj, aj = int(u[j]), int(b[j]), int(ta[j])
            if dirty[aj] or dirty[bj] or s.al[uj] != aj:
                continue
            if self.dis_used + ddis[j] > P.max_dis + 1e-9:
                continue
            if not s.touches(uj, bj) or not self._removable(uj):
                continue
            self._apply(uj, bj, "balance")
            self.dis_used += ddis[j]
            dirty[aj] = dirty[bj] = True
            applied += 1
        return applied

    def excess_swaps(self, beta: float, dmean: float) -> int:
        """Exchange two border units of bordering territories when that lowers the excess over
        tolerance (then β·Σ dev²), most per unit of disruption added, within the cap: what
        single moves cannot do when units are coarse (a big unit out, a small one back)."""
        s, P = self.s, self.P
        cur, d = P.current, P.dis
        pu, pv = self._swap_pairs(per_side=24)
        if len(pu) == 0:
            return 0
        ta, tb = s.a[pu], s.a[pv]
        ddis = (d[pu] * ((tb != cur[pu]).astype(float) - (ta != cur[pu]).astype(float))
                + d[pv] * ((ta != cur[pv]).astype(float) - (tb != cur[pv]).astype(float)))
        _, de, dphi = s.delta(np.column_stack([pu, pv]), ta, tb, self.tol_in, sq=False)
        gain = -(de + beta * dphi)
        ok = (de < -1e-12) & (gain > 1e-12) & (self.dis_used + ddis <= P.max_dis + 1e-9)
        sel = np.flatnonzero(ok)
        if len(sel) == 0:
            return 0
        ratio = gain[sel] / (np.maximum(ddis[sel], 0.0) + 1e-3 * dmean)
        order = sel[np.lexsort((self.rng.random(len(sel)), -ratio))]
        return self._apply_swaps(order, pu, pv, ta, tb, ddis, cap=True)

    def disruption_swaps(self) -> int:
        """Exchange two border units of bordering territories when that lowers the disruption
        and adds no excess over tolerance (e.g. send a big moved unit home, move a smaller
        one instead)."""
        s, P = self.s, self.P
        cur, d = P.current, P.dis
        pu, pv = self._swap_pairs(per_side=24)
        if len(pu) == 0:
            return 0
        ta, tb = s.a[pu], s.a[pv]
        ddis = (d[pu] * ((tb != cur[pu]).astype(float) - (ta != cur[pu]).astype(float))
                + d[pv] * ((ta != cur[pv]).astype(float) - (tb != cur[pv]).astype(float)))
        _, de, _ = s.delta(np.column_stack([pu, pv]), ta, tb, self.tol_in, sq=False)
        sel = np.flatnonzero((ddis < -1e-12) & (de <= 1e-15))
        if len(sel) == 0:
            return 0
        order = sel[np.lexsort((self.rng.random(len(sel)), ddis[sel]))]
        return self._apply_swaps(order, pu, pv, ta, tb, ddis, cap=False)

    def _apply_swaps(self, order, pu, pv, ta, tb, ddis, *, cap: bool) -> int:
        """Apply the exchanges ``pu[j] -> tb[j]``, ``pv[j] -> ta[j]`` in ``order`` while both
        territories stay connected; at most one exchange per territory pair per call.
        ``cap``: skip exchanges that would exceed the disruption cap."""
        s, P = self.s, self.P
        dirty = np.zeros(P.k, bool)
        applied = 0
        tries = 0
        for j in order:
            uj, vj, aj, bj = int(pu[j]), int(pv[j]), int(ta[j]), int(tb[j])
            if s.al[uj] != aj or s.al[vj] != bj or dirty[aj] or dirty[bj]:
                continue
            tries += 1
            if tries > 3000 or ((tries & 63) == 0 and self.out_of_time()):
                break
            if cap and self.dis_used + ddis[j] > P.max_dis + 1e-9:
                continue
            if s.size[aj] < 2 or s.size[bj] < 2 or not s.connected_without(vj):
                continue
            s.move(vj, aj)
            if not (s.touches(uj, bj) and s.connected_without(uj)):
                s.move(vj, bj)
                continue
            s.move(vj, bj)
            self._apply(vj, aj, "balance")
            self._apply(uj, bj, "balance")
            self.dis_used += ddis[j]
            dirty[aj] = dirty[bj] = True
            applied += 1
        return applied

    def cleanup_disruption(self):
        """Send moved units home when that keeps every territory within its current excess."""
        s, P = self.s, self.P
        cur = P.current
        tol = self.tol_in
        for _ in range(5):
            moved = np.flatnonzero((s.a != cur) & self.movable & ~P.frozen[cur])
            if len(moved) == 0:
                return
            moved = moved[np.argsort(-P.dis[moved], kind="stable")]
            # the excess change of sending each unit home, for all at once; after a move only
            # the units whose territory or home is one of the two touched are scored again
            # (the same greedy as one unit at a time, 0.6 s -> a few ms a call on the demo)
            ta_all, home = s.a[moved], cur[moved]
            _, de_all, _ = s.delta(moved, ta_all, home, tol, sq=False)
            back = 0
            for i, u in enumerate(moved.tolist()):
                if (i & 63) == 0 and self.out_of_time():
                    return
                t, ta = int(home[i]), int(ta_all[i])
                if de_all[i] > 1e-15 or not s.touches(u, t) or not self._removable(u):
                    continue
                s.move(u, t)
                self.reason.pop(u, None)
                back += 1
                rest = slice(i + 1, len(moved))
                hit = np.flatnonzero(np.isin(ta_all[rest], (ta, t)) | np.isin(home[rest], (ta, t))) + i + 1
                if len(hit):
                    de_all[hit] = s.delta(moved[hit], ta_all[hit], home[hit], tol, sq=False)[1]
            if back == 0:
                return
