"""Public entry points: :func:`design`, :func:`tradeoff`, :func:`design_books`."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, wait, FIRST_COMPLETED
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from territorium.model import Units

from ._bound import mass_concentration_bound
from ._certificate import Certificate, violation_bound
from ._lp import disruption_lp, lagrangian_bound
from ._problem import DesignInputError, Problem, build_problem, stranded_units, territory_labels
from ._shape import polsby_popper, shape_table
from ._worker import run_start

__all__ = ["DesignReport", "DesignResult", "design", "tradeoff", "design_books", "DesignInputError"]


@dataclass(frozen=True)
class DesignReport:
    """What a planner needs to judge a plan.

    Attributes
    ----------
    status : str
        ``feasible`` (every balance measure within tolerance, every territory one piece) or
        ``infeasible``.
    territories : pandas.DataFrame
        One row per territory: label, units, per measure total/target/deviation, pieces,
        compactness mass, mean and max distance (km) from the centre, Polsby–Popper.
    max_abs_dev, mean_abs_dev : dict
        Per balance measure, over territories (fractions of target).
    tolerances : dict
    pieces : numpy.ndarray
        Connected pieces per territory (virtual edges count as links).
    virtual_edges_used : int
        Virtual (non-border) edges inside a territory.
    objective : float
        Moment of inertia Σ w_i d(i, centre)² in weight·km² (see ``docs/design.md``).
    lower_bound, gap : float
        A valid lower bound on ``objective`` and ``1 − lower_bound/objective``.
    bound_method : str
    relaxation : float or None
        Balanced transport LP value around the iterated centres (reference, not a bound).
    mean_distance_km, max_distance_km : float
        Compactness-weighted mean and maximum distance from a unit to its centre / home.
    polsby_popper : numpy.ndarray or None
    disruption : dict or None
        Realignment: moved amount of the chosen measure, accounts, revenue, units, the LP
        minimum and the ratio to it.
    violations, diagnostics : tuple of str
    time_s, seed, n_starts, stopped, start_objectives
    violation_bound : float or None
        A valid lower bound on the worst excess over a tolerance of any contiguous plan
        (0 for a plan within every tolerance; see ``docs/design.md``, Infeasibility proofs).
    violation_bound_method : str
    certificate : Certificate or None
        Why no plan meets the tolerances (which units, measure, region), when the bound is
        positive.
    """

    status: str
    territories: pd.DataFrame
    max_abs_dev: dict
    mean_abs_dev: dict
    tolerances: dict
    pieces: np.ndarray
    virtual_edges_used: int
    objective: float
    compactness_weight: str
    lower_bound: float
    gap: float
    bound_method: str
    relaxation: float | None
    mean_distance_km: float
    max_distance_km: float
    polsby_popper: np.ndarray | None
    disruption: dict | None
    violations: tuple
    diagnostics: tuple
    time_s: float
    seed: int
    n_starts: int
    stopped: str
    start_objectives: tuple = field(default_factory=tuple)
    violation_bound: float | None = None
    violation_bound_method: str = ""
    certificate: Certificate | None = None

    def summary(self) -> str:
        """A few lines of plain text (for a CLI to print)."""
        lines = [f"status: {self.status} ({self.stopped}, {self.time_s:.1f}s, seed {self.seed}, "
                 f"{self.n_starts} starts)"]
        for m, v in self.max_abs_dev.items():
            lines.append(f"  {m}: max |dev| {v:.1%}, mean {self.mean_abs_dev[m]:.1%} (tol ±{self.tolerances[m]:.0%})")
        lines.append(f"  pieces: max {int(self.pieces.max()) if len(self.pieces) else 0}; "
                     f"virtual edges used {self.virtual_edges_used}")
        lines.append(f"  moment of inertia {self.objective:.6g}; lower bound {self.lower_bound:.6g} "
                     f"(gap {self.gap:.1%}, {self.bound_method})")
        if self.relaxation:
            lines.append(f"  balanced relaxation {self.relaxation:.6g} (ratio {self.objective / self.relaxation:.3f})")
        if self.disruption:
            d = self.disruption
            lines.append(f"  disruption: {d['moved']:.6g} {d['measure']} ({d['moved_fraction']:.1%}), "
                         f"{d['units_moved']} units; LP minimum {d['lp_minimum']} ({d['lp_minimum_scope']}), "
                         f"LP bound {d['lp_bound']} ({d['lp_bound_scope']})")
            if d.get("repair"):
                lines.append(f"  contiguity repair of the current plan: {d['repair']:.6g} {d['measure']} "
                             f"({d['repair_units']} units, {d['repair_pieces']} pieces) of the moved amount")
        for v in self.violations[:10]:
            lines.append(f"  ! {v}")
        if len(self.violations) > 10:
            lines.append(f"  ! ... {len(self.violations) - 10} more violations")
        if self.certificate is not None:
            lines.append(f"  certificate ({self.certificate.kind}, {self.certificate.measure}): {self.certificate.text}")
        for v in self.diagnostics:
            lines.append(f"  ? {v}")
        return "\n".join(lines)


@dataclass(frozen=True)
class DesignResult:
    """Alignment, centres (projected metres), report and per-unit move explanations."""

    assignment: np.ndarray
    centers: np.ndarray
    labels: tuple
    report: DesignReport
    moves: pd.DataFrame
    curve: pd.DataFrame | None = None


# ---------------------------------------------------------------------------------------
def _fmt_pct(x: float) -> str:
    return f"{x:+.1%}"


def _precheck(P: Problem, units: Units) -> list[str]:
    """Infeasibility visible before solving: oversized units, locks, frozen territories, units
    that fit no territory (alone too small, with any neighbour too big)."""
    out = []
    labels = territory_labels(P.k)
    ids = units.ids
    for j, m in enumerate(P.measures):
        hi = (1 + P.tol[j]) * P.T[:, j]
        big = np.flatnonzero(P.A[:, j] > hi.max())
        if len(big):
            names = ", ".join(str(ids[i]) for i in big[:10])
            worst = big[np.argmax(P.A[big, j])]
            out.append(
                f"{m}: {len(big)} unit(s) alone exceed every territory's upper bound "
                f"((1+{P.tol[j]:.0%})·target ≤ {hi.max():.6g}): {names}"
                f" (largest {ids[worst]} = {P.A[worst, j]:.6g}, {P.A[worst, j] / P.T[:, j].max() - 1:+.0%} of target)"
            )
        lk = P.lock >= 0
        if lk.any():
            lt = np.bincount(P.lock[lk], P.A[lk, j], P.k)
            for t in np.flatnonzero((lt > hi) & ~P.frozen):
                us = np.flatnonzero(P.lock == t)
                out.append(
                    f"{m}: locks put {labels[t]} at {_fmt_pct(lt[t] / P.T[t, j] - 1)} of target "
                    f"(tolerance ±{P.tol[j]:.0%}): units " + ", ".join(str(ids[i]) for i in us[:10])
                )
    stranded = stranded_units(P)
    if stranded:
        Tm = P.T[~P.frozen].mean(0)
        parts = []
        for u, ja, v, jp in stranded[:10]:
            part = f"{ids[u]} alone {P.measures[ja]} {P.A[u, ja] / Tm[ja] - 1:+.2%}"
            if v >= 0:
                part += (f", with the neighbour that adds least ({ids[v]}) {P.measures[jp]} "
                         f"{(P.A[u, jp] + P.A[v, jp]) / Tm[jp] - 1:+.2%}")
            parts.append(part)
        more = f" (and {len(stranded) - 10} more)" if len(stranded) > 10 else ""
        tols = ", ".join(f"{m} ±{t:.0%}" for m, t in zip(P.measures, P.tol))
        out.append(
            f"{len(stranded)} unit(s) fit no territory within the tolerances ({tols}): a territory is one "
            "piece, so it holds such a unit alone or with at least one neighbour, and both miss a tolerance: "
            + "; ".join(parts) + more
        )
    return out


def _pieces(P: Problem, a: np.ndarray):
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components

    if P.indptr is None:
        return np.ones(P.k, np.int64), 0
    src = np.repeat(np.arange(P.n), np.diff(P.indptr))
    dst = P.indices
    same = a[src] == a[dst]
    g = csr_array((np.ones(int(same.sum())), (src[same], dst[same])), shape=(P.n, P.n))
    lab = connected_components(g, directed=False)[1]
    ncomp = lab.max() + 1
    terr = np.zeros(ncomp, np.int64)
    terr[lab] = a
    pieces = np.bincount(terr, minlength=P.k)
    vused = int((same & P.virtual & (src < dst)).sum())
    return pieces, vused


#: "auto" shape metrics up to this many units (all-US ZIPs: ~15 s once per unit set, in a
#: thread beside the search)
SHAPE_METRICS_MAX_N = 50_000


def _want_shapes(shape_metrics, units: Units) -> bool:
    return units.geometry is not None and (
        shape_metrics is True or (shape_metrics == "auto" and units.n <= SHAPE_METRICS_MAX_N))


def _quiet_shape_table(units: Units) -> None:
    try:
        shape_table(units)
    except Exception:  # pragma: no cover - reported when the report asks for it again
        pass


def _report(P: Problem, units: Units, best: dict, results: list, t0: float, seed: int,
            diagnostics: list, shape_metrics, mode: str, lp_minimum=None, bound_time: float = 5.0):
    """Build the report, the move explanations and the final centres (km) of ``best``."""
    k, m = P.k, P.m
    # the bound's time is counted from here: what the report does before it comes off it
    bound_end = None if bound_time is None else time.time() + bound_time
    labels = territory_labels(k)
    a = best["assignment"]
    tot = np.zeros((k, m))
    if m:
        np.add.at(tot, a, P.A)
    dev = tot / P.T.clip(1e-300) - 1
    viol = []
    for j, name in enumerate(P.measures):
        for t in range(k):
            ex = abs(dev[t, j]) - P.tol[j]
            if ex > 1e-9 and not P.frozen[t]:
                word = "over" if dev[t, j] > 0 else "under"
                viol.append(f"{name} {_fmt_pct(dev[t, j])} {word} target, tolerance ±{P.tol[j]:.0%}, in {labels[t]}")
    pieces, vused = _pieces(P, a)
    split = [labels[t] for t in range(k) if pieces[t] > 1]
    if split:
        viol.append("territories in several pieces: " + ", ".join(split))
    # compactness: centres = weighted means (free) or fixed points
    w = P.w
    S0 = np.bincount(a, w, k)
    cen = best["centers"].copy()
    free = ~P.fixed
    okc = free & (S0 > 0)
    cen[okc, 0] = np.bincount(a, w * P.xy[:, 0], k)[okc] / S0[okc]
    cen[okc, 1] = np.bincount(a, w * P.xy[:, 1], k)[okc] / S0[okc]
    d2 = ((P.xy - cen[a]) ** 2).sum(1)
    if P.cost is not None:
        from ._lp import cost_to_centers

        cu = np.empty(P.n)
        for s in range(0, P.n, 2048):
            idx = np.arange(s, min(P.n, s + 2048))
            if callable(P.cost):
                cc = cost_to_centers(P, idx, cen)
            else:
                cc = P.cost[idx]
            cu[idx] = cc[np.arange(len(idx)), a[idx]]
        objective = float((w * cu).sum())
    else:
        objective = float((w * d2).sum())
    dist = np.sqrt(d2)
    wsum = max(float(w.sum()), 1e-300)
    mean_d = float((w * dist).sum() / wsum)
    max_d = float(dist.max()) if P.n else 0.0
    terr_mean_d = np.bincount(a, w * dist, k) / np.maximum(S0, 1e-300)
    terr_max_d = np.zeros(k)
    np.maximum.at(terr_max_d, a, dist)
    # bound
    feasible_bal = not any(abs(dev[t, j]) - P.tol[j] > 1e-9 for j in range(m) for t in range(k) if not P.frozen[t])
    lb = 0.0
    method = "none"
    if P.cost is None:
        if P.w_name in P.measures and feasible_bal:
            j = P.measures.index(P.w_name)
            lo = (1 - P.tol[j]) * P.T[:, j]
            mm = np.where(P.frozen, S0, lo)
            m_min = float(mm.min())
            method = f"mass concentration (M_min = {m_min:.6g} from the {P.w_name} tolerance)"
        else:
            m_min = float(S0.min())
            method = f"mass concentration (M_min = {m_min:.6g}, the lightest territory of this plan)"
        lb = mass_concentration_bound(P.xy, w, m_min)
    if P.fixed.all() and mode != "realign":
        duals = best.get("duals") if feasible_bal else None
        try:
            lag = lagrangian_bound(P, best["centers"] if P.cost is None else cen, duals, best.get("cost_scale", 1.0))
        except Exception:  # pragma: no cover - bound is best effort
            lag = 0.0
        if lag > lb:
            lb = lag
            method = "Lagrangian of the fixed-centre transport LP (HiGHS duals)" if duals is not None else \
                "nearest fixed centre (no capacities)"
    gap = 1 - lb / objective if objective > 0 else 0.0
    pp = None
    if _want_shapes(shape_metrics, units):
        try:
            pp = polsby_popper(units, a, k)
        except Exception as e:  # pragma: no cover
            diagnostics.append(f"Polsby–Popper not computed: {e}")
    # disruption
    disr = None
    moves = pd.DataFrame(columns=["unit", "unit_id", "from", "to", "amount", "reason"])
    if P.current is not None:
        cur = P.current
        moved = a != cur
        tbl = units.table
        rp = (lp_minimum or {}).get("repair") or {}
        disr = {
            "measure": P.dis_name,
            "moved": float(P.dis[moved].sum()),
            "moved_fraction": float(P.dis[moved].sum() / max(P.dis.sum(), 1e-300)),
            "units_moved": int(moved.sum()),
            "accounts_moved": float(tbl["account_count"].to_numpy()[moved].sum()) if "account_count" in tbl else None,
            "revenue_moved": float(tbl["revenue"].to_numpy()[moved].sum()) if "revenue" in tbl else None,
            "cap": None if not np.isfinite(P.max_dis) else float(P.max_dis),
            "lp_minimum": (lp_minimum or {}).get("neighbours"),
            "lp_minimum_scope": (lp_minimum or {}).get("neighbours_scope"),
            "ratio_to_lp": (float(P.dis[moved].sum()) / lp_minimum["neighbours"])
            if lp_minimum and lp_minimum.get("neighbours") else None,
            "lp_bound": (lp_minimum or {}).get("all"),
            "lp_bound_scope": (lp_minimum or {}).get("all_scope"),
            "ratio_to_bound": (float(P.dis[moved].sum()) / lp_minimum["all"])
            if lp_minimum and lp_minimum.get("all") else None,
            "candidates": [list(v) for v in ((best.get("realign") or {}).get("variants") or [])],
            "repair": float(rp.get("moved", 0.0)),
            "repair_units": int(rp.get("units", 0)),
            "repair_pieces": int(rp.get("pieces", 0)),
            "repair_fraction": float(rp.get("moved", 0.0)) / max(float(P.dis[moved].sum()), 1e-300)
            if P.dis[moved].sum() > 0 else 0.0,
        }
        reasons = best["reasons"]
        rows = []
        for u in np.flatnonzero(moved):
            rows.append((int(u), str(units.ids[u]), labels[cur[u]], labels[a[u]], float(P.dis[u]),
                         _reason_text(reasons.get(int(u)), P, labels, cur[u], a[u])))
        moves = pd.DataFrame(rows, columns=["unit", "unit_id", "from", "to", "amount", "reason"])
    tdf = pd.DataFrame({"territory": labels, "units": np.bincount(a, minlength=k)})
    for j, name in enumerate(P.measures):
        tdf[name] = tot[:, j]
        tdf[f"{name}_target"] = P.T[:, j]
        tdf[f"{name}_dev"] = dev[:, j]
    tdf["pieces"] = pieces
    tdf["mass"] = S0
    tdf["center_x"] = cen[:, 0] * 1000 + P.origin_m[0]
    tdf["center_y"] = cen[:, 1] * 1000 + P.origin_m[1]
    tdf["mean_distance_km"] = terr_mean_d
    tdf["max_distance_km"] = terr_max_d
    if pp is not None:
        tdf["polsby_popper"] = pp
    status = "feasible" if not viol else "infeasible"
    vbound, vmethod, cert = (0.0, "plan within every tolerance", None) if not viol else (None, "", None)
    if viol and m:
        act = ~P.frozen
        worst = float(np.max(np.abs(dev[act]) - P.tol[None, :])) if act.any() else 0.0
        # the unit and region bounds are cheap and always computed (a stranded unit is a proof
        # however the search went); only the LP bound waits for time (its LPs need about a
        # second to say anything, 7 s on a 12,000-unit grid) and is skipped on a cancel
        if bound_end is not None and bound_time >= 0:
            bound_time = bound_end - time.time()
        if bound_time is not None and bound_time < 0:
            vb = violation_bound(P, units.ids, time_limit=0.0, lp=False, skipped="the design was cancelled")
        elif bound_time is not None and bound_time < BOUND_MIN_TIME:
            vb = violation_bound(P, units.ids, time_limit=0.0, lp=False,
                                 skipped="the time limit was spent on the search; give a longer time limit")
        else:
            vb = violation_bound(P, units.ids, time_limit=bound_time if bound_time is not None else 10.0)
        vbound, vmethod, cert = vb.lower_bound, vb.method, vb.certificate
        if cert is not None:
            diagnostics = list(diagnostics) + [
                f"proof: no contiguous plan meets every tolerance; the worst excess over a tolerance is at least "
                f"{vbound:.2%} of target ({cert.kind}: {cert.text}); this plan's worst excess is {worst:.2%}"]
        elif worst > 0:
            diagnostics = list(diagnostics) + [
                f"no proof that the tolerances cannot be met: this plan's worst excess over a tolerance is "
                f"{worst:.2%} of target, and the valid lower bound on that excess is 0 ({vmethod}"
                + (f"; {'; '.join(vb.notes)}" if vb.notes else "") + ")"]
    rep = DesignReport(
        status=status,
        territories=tdf,
        max_abs_dev={nm: float(np.abs(dev[~P.frozen, j]).max()) if (~P.frozen).any() else 0.0 for j, nm in enumerate(P.measures)},
        mean_abs_dev={nm: float(np.abs(dev[~P.frozen, j]).mean()) if (~P.frozen).any() else 0.0 for j, nm in enumerate(P.measures)},
        tolerances={nm: float(P.tol[j]) for j, nm in enumerate(P.measures)},
        pieces=pieces,
        virtual_edges_used=vused,
        objective=objective,
        compactness_weight=P.w_name,
        lower_bound=float(lb),
        gap=float(gap),
        bound_method=method,
        relaxation=best.get("relaxation"),
        mean_distance_km=mean_d,
        max_distance_km=max_d,
        polsby_popper=pp,
        disruption=disr,
        violations=tuple(viol),
        diagnostics=tuple(diagnostics),
        time_s=time.time() - t0,
        seed=seed,
        n_starts=len(results),
        stopped=best["stopped"],
        start_objectives=tuple((r["index"], round(r["violation"], 9), r["pieces_bad"], r["objective"]) for r in results),
        violation_bound=vbound,
        violation_bound_method=vmethod,
        certificate=cert,
    )
    return rep, moves, cen


def _reason_text(r, P: Problem, labels, frm, to) -> str:
    if r is None:
        return f"balance: net effect of moves between {labels[frm]} and {labels[to]}"
    kind = r[0]
    if kind == "balance":
        _, ta, tb, j, tx, before, after = r
        return f"{P.measures[j]}: {labels[tx]} was {before:+.1%} vs target, now {after:+.1%}"
    if kind == "compactness":
        _, ta, tb, da, db = r
        return f"compactness: {db:.0f} km from the {labels[tb]} centre instead of {da:.0f} km from {labels[ta]}'s"
    if kind == "repair":
        return (f"contiguity repair: piece cut off from the rest of {labels[r[1]]} "
                f"(the current plan has it in several pieces), given to {labels[r[2]]}")
    if kind == "fix":
        return (f"contiguity: piece of {labels[r[1]]} cut off by the rebalancing moves, "
                f"joined to {labels[r[2]]}")
    if kind == "fixpath":
        return f"contiguity: keeps {labels[r[1]]} in one piece (path through {labels[r[2]]})"
    if kind == "repairpath":
        return (f"contiguity repair: reconnects a cut-off piece of {labels[r[1]]} to the rest of it "
                f"(cheapest path through {labels[r[2]]})")
    if kind == "lp":
        return (f"balance: part of the least-disruption transfer {labels[r[1]]} -> {labels[r[2]]} "
                f"(transport LP)")
    if kind == "lockpath":
        return f"contiguity repair: reconnect the locked units of {labels[r[2]]}"
    if kind == "recombination":
        _, ta, tb, group, before, after = r
        if before is None:  # realignment: the pair re-cut where it moves the least
            return (f"disruption: {labels[group[0]]} and {labels[group[1]]} re-cut along the boundary that "
                    f"moves the least {P.dis_name} while both stay within tolerance (recombination)")
        return (f"balance: {', '.join(labels[t] for t in group)} merged and split again along a spanning-tree "
                f"cut (recombination); their worst deviation went from {before:.1%} to {after:.1%}")
    return str(kind)


def _select(results: list, mode: str) -> dict:
    def key(r):
        if mode == "realign":
            return (round(r["violation"], 9), r["pieces_bad"], r.get("disrupted", 0.0), r["objective"], r["index"])
        return (round(r["violation"], 9), r["pieces_bad"], r["objective"], r["index"])

    return min(results, key=key)


_CTX = None

#: bytes the default worker pool may use (see ``n_jobs`` in :func:`design`)
MEMORY_BUDGET = 3.5e9


def _context():
    global _CTX
    if _CTX is None:
        # fork: no re-import of the caller's __main__ (scripts need no main guard). The
        # parent only runs HiGHS single-threaded (threads=1), so no solver threads are
        # copied in a locked state.
        methods = multiprocessing.get_all_start_methods()
        _CTX = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return _CTX


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    return bool(cancel() if callable(cancel) else cancel.is_set())


#: the violation bound must end by ``BOUND_END × time_limit`` (from the call's start): the
#: rest of the report (about 0.5 s for 5,000 units under load) then ends within +10 %
#: (1.08 let the demo's rep-home design report end at 68.2 s for a 60 s limit, load 6)
BOUND_END = 1.04
#: the LP bound is skipped with less time than this: HiGHS overran a 0.85 s limit by 0.9 s
BOUND_MIN_TIME = 2.0


def _reserve(time_limit: float, n: int) -> float:
    """Seconds kept after the search for choosing the plan and writing the report, so the
    whole call ends within about ±10 % of ``time_limit``: 2 % of the limit plus an
    allowance that grows with the number of units, at most 12 % of the limit."""
    return min(0.12 * time_limit, 0.02 * time_limit + 0.2 + 1e-4 * n)


def _run_starts(P, n_starts, n_jobs, seed, t0, time_limit, mode, cancel, progress, L, lloyd,
                on_started: Callable[[], None] | None = None, polish: int = 0):
    """Run the starts (in a fork pool when ``n_jobs > 1``). ``on_started`` runs once the
    workers exist, so a thread it starts is never copied into a forked child."""
    seqs = np.random.SeedSequence(seed).spawn(n_starts)
    deadline = t0 + time_limit - _reserve(time_limit, P.n)
    workers = max(1, min(n_jobs, n_starts))
    budget = max(0.5, (deadline - time.time()) * workers / n_starts)
    results = []
    if workers == 1:
        if on_started is not None:
            on_started()
        for i, ss in enumerate(seqs):
            if i > 0 and (_is_cancelled(cancel) or time.time() > deadline - 0.25):
                break
            if progress is not None:
                progress(i / n_starts, f"start {i + 1}/{n_starts}")
            left = deadline - time.time()
            b_i = max(0.5, left / (n_starts - i), 0.5 * left if i == 0 else 0.0)
            results.append(run_start(P, i, ss, deadline, b_i, mode, L, lloyd, cancel, None, polish))
        return results
    ctx = _context()
    ev = None
    stop_watch = threading.Event()
    mgr = None
    if cancel is not None:
        mgr = ctx.Manager()
        ev = mgr.Event()

        def watch():
            while not stop_watch.wait(0.05):
                if _is_cancelled(cancel):
                    ev.set()
                    return

        threading.Thread(target=watch, daemon=True).start()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            futs = [ex.submit(run_start, P, i, ss, deadline, budget, mode, L, lloyd, ev, None, polish)
                    for i, ss in enumerate(seqs)]
            if on_started is not None:  # the fork context launched every worker at submit
                on_started()
            pending = set(futs)
            while pending:
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for f in done:
                    if f.cancelled():
                        continue
                    results.append(f.result())
                    if progress is not None:
                        progress(len(results) / n_starts, f"start {len(results)}/{n_starts} done")
                if _is_cancelled(cancel):
                    for f in pending:
                        f.cancel()
    finally:
        stop_watch.set()
        if mgr is not None:
            mgr.shutdown()
    results.sort(key=lambda r: r["index"])
    return results


def design(
    units: Units,
    k: int | None = None,
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
    seed: int = 0,
    time_limit: float = 60.0,
    n_starts: int | None = None,
    n_jobs: int | None = None,
    cancel=None,
    progress: Callable[[float, str], None] | None = None,
    shape_metrics="auto",
    candidates: int = 12,
    lloyd: int = 6,
    oversized: str = "own",
    polish: int = 200,
) -> DesignResult:
    """Design k balanced, contiguous, compact territories (or realign ``current``).

    Parameters
    ----------
    units : Units
        Units with projected ``x``/``y`` and the measure columns named in ``balance``.
    k : int, optional
        Number of territories (default: ``len(centers)`` or ``current.max() + 1``).
    centers : None, array or list, optional
        None: free centres. Else one entry per territory: a unit position (int), an
        ``(x, y)`` point in ``units.crs`` metres (rep home), or None (free).
    balance : dict, optional
        ``{measure: tolerance}``, e.g. ``{"workload": 0.05, "potential": 0.08}``. The
        pseudo-measure ``"units"`` counts units.
    targets : array (k,) or dict, optional
        Target shares per territory (e.g. rep FTE), for all measures or per measure.
    compactness_weight : str, optional
        Weight w in Σ w·d²; default the first balance measure (or ones).
    locks : dict, optional
        ``{unit position: territory}``.
    frozen : sequence of int, optional
        Territories that keep exactly their current units (needs ``current``).
    current : array (n,), optional
        Current territory per unit: realignment mode (minimum disruption).
    max_disruption : float, optional
        Cap on moved ``disruption`` measure, as a fraction of its total.
    disruption : str
        Measure counted as disruption (``"units"`` counts units).
    home_inside : bool
        Lock the unit containing each fixed centre / rep home to its territory.
    allow_exclaves : sequence of int
        Units that may form a separate piece of their territory.
    cost : None, callable or array (n, k), optional
        Replaces squared Euclidean distance (e.g. squared travel time):
        ``cost(points_km, centres_km) -> (p, q)`` or a matrix for fixed centres.
    seed : int
        Everything random derives from ``np.random.SeedSequence(seed)``.
    time_limit : float
        Seconds for the whole call (respected within about 10%).
    n_starts, n_jobs : int, optional
        Multistart size (default ``n_jobs``; 1 in realignment) and worker processes
        (default ``os.cpu_count()``, fewer when the transport LPs would not fit in about
        3.5 GB: one worker for all-US ZIPs with k=500).
    cancel : threading.Event or callable, optional
        Checked in the search loops; the best plan found so far is returned.
    progress : callable(fraction, message), optional
    shape_metrics : "auto", bool
        Polsby–Popper from ``units.geometry`` ("auto": when n <= 50,000).
    candidates : int
        Nearest centres per unit in the transport LP.
    lloyd : int
        Transport-LP / centre iterations in the construction (warm-started re-solves).
    polish : int
        Once a start meets the tolerances, up to this many rounds of iterated local search
        for compactness (a small random kick, descent, kept only if still within tolerance
        and more compact). In realignment, 20 rounds of disruption polishing instead (send a
        twentieth of the moved units home, rebalance, keep only if within tolerance and fewer
        accounts move). A fixed number of rounds keeps the result reproducible when they
        finish within the time limit; 0 turns both off.
    oversized : "own" or "keep"
        Free-centre design without ``targets``: a unit that alone exceeds a territory's
        upper bound (Los Angeles County among 100 county territories) gets a territory of
        its own and the others share the rest equally ("own", the default, said in the
        report's diagnostics); "keep" measures every territory against the plain average.

    Returns
    -------
    DesignResult

    Examples
    --------
    >>> from territorium.geo.grid import grid_units
    >>> r = design(grid_units(8, 8), 4, balance={"workload": 0.0}, n_jobs=1, time_limit=10)
    >>> r.report.status, sorted(__import__("numpy").bincount(r.assignment).tolist())
    ('feasible', [16, 16, 16, 16])
    """
    t0 = time.time()
    if time_limit is None or time_limit <= 0:
        raise DesignInputError(f"time_limit must be positive, got {time_limit}")
    own_note = None
    if oversized == "own" and centers is None and targets is None and current is None and not frozen \
            and k is not None and balance:
        big, targets_own, locks_own = _own_territories(units, int(k), balance, locks)
        if len(big):
            targets, locks = targets_own, locks_own
            own_note = (f"{len(big)} unit(s) alone exceed a territory's upper bound and got a territory of their "
                        f"own ({', '.join(str(units.ids[i]) for i in big[:10])}"
                        f"{', ...' if len(big) > 10 else ''}: {', '.join(territory_labels(int(k))[:len(big)][:10])}); "
                        f"the other {int(k) - len(big)} territories share the rest equally (oversized='keep' "
                        "measures them against the plain average instead)")
    elif oversized not in ("own", "keep"):
        raise DesignInputError(f"oversized must be 'own' or 'keep', not {oversized!r}")
    P = build_problem(
        units, k, centers=centers, balance=balance, targets=targets,
        compactness_weight=compactness_weight, locks=locks, frozen=frozen, current=current,
        max_disruption=max_disruption, disruption=disruption, home_inside=home_inside,
        allow_exclaves=allow_exclaves, cost=cost,
    )
    r = _solve(P, units, t0, seed, time_limit, n_starts, n_jobs, cancel, progress,
               shape_metrics, candidates, lloyd, mode="realign" if P.current is not None else "design",
               polish=int(polish))
    if own_note is not None:
        import dataclasses

        r = dataclasses.replace(r, report=dataclasses.replace(
            r.report, diagnostics=[own_note] + list(r.report.diagnostics)))
    return r


def _own_territories(units: Units, k: int, balance: Mapping[str, float], locks):
    """Units that alone exceed a territory's upper bound on some balance measure, found
    iteratively (removing them lowers the others' targets): each gets territory 0, 1, ... of
    its own with its own totals as targets; the other territories share the rest equally.
    Returns (positions, {measure: target shares}, locks). Nothing when a big unit is locked
    elsewhere or they would take every territory."""
    names = [m for m in balance if m != "units"]
    if not names or any(m not in units.table.columns for m in names):  # build_problem says which
        return np.zeros(0, np.int64), None, locks
    A = np.column_stack([units.measure(m) for m in names]).astype(float)
    tol = np.array([float(balance[m]) for m in names])
    tot = A.sum(0)
    big = np.zeros(units.n, bool)
    for _ in range(k):
        rest = k - int(big.sum())
        if rest <= 1:
            return np.zeros(0, np.int64), None, locks
        T = (tot - A[big].sum(0)) / rest
        new = (A > (1 + tol) * T).any(1) & ~big
        if not new.any():
            break
        big |= new
    pos = np.flatnonzero(big)
    if len(pos) == 0:
        return pos, None, locks
    pos = pos[np.argsort(-(A[pos] / tot).max(1), kind="stable")]
    user_locks = dict(locks or {})
    if any(int(u) in user_locks for u in pos):
        return np.zeros(0, np.int64), None, locks
    nb = len(pos)
    shares = {}
    for j, m in enumerate(names):
        s = np.empty(k)
        s[:nb] = A[pos, j]
        s[nb:] = (tot[j] - A[pos, j].sum()) / (k - nb)
        shares[m] = np.maximum(s, 1e-12 * max(tot[j], 1.0))
    new_locks = {int(u): i for i, u in enumerate(pos)}
    # user locks keep their territories, shifted past the own ones would change meaning: only
    # apply when the user locked nothing into territories 0..nb-1
    if any(int(t) < nb for t in user_locks.values()):
        return np.zeros(0, np.int64), None, locks
    new_locks.update({int(u): int(t) for u, t in user_locks.items()})
    return pos, shares, new_locks


def _solve(P, units, t0, seed, time_limit, n_starts, n_jobs, cancel, progress, shape_metrics,
           candidates, lloyd, mode, polish: int = 0):
    diagnostics = _precheck(P, units)
    if n_jobs is None:
        # memory guard: a start holds a transport LP of up to n·48 columns (~1.3 kB each in
        # HiGHS); keep the default pool under ~3.5 GB (all-US ZIPs, k=500: 1 worker)
        est = 1300.0 * P.n * min(P.k, 48) + 50e6
        n_jobs = max(1, min(os.cpu_count() or 1, int(MEMORY_BUDGET // est)))
    n_jobs = max(1, int(n_jobs))
    if n_starts is None:
        n_starts = 1 if mode == "realign" else n_jobs
    n_starts = max(1, int(n_starts))
    if P.k == 1:
        n_starts = 1
    # the shape table (unit areas, perimeters, shared boundaries) is measured in a thread
    # while the workers search: shapely releases the GIL and the main process waits anyway
    shapes = None
    if _want_shapes(shape_metrics, units):
        shapes = threading.Thread(target=_quiet_shape_table, args=(units,), daemon=True)
    results = _run_starts(P, n_starts, n_jobs, seed, t0, time_limit, mode, cancel, progress,
                          candidates, lloyd, on_started=None if shapes is None else shapes.start,
                          polish=polish if mode in ("design", "realign") else 0)
    if shapes is not None and shapes.is_alive():
        shapes.join()
    if not results:  # cancelled before anything finished
        results = [run_start(P, 0, np.random.SeedSequence(seed).spawn(1)[0], time.time(), 0.0, mode,
                             candidates, 1, None, None)]
    if mode == "realign":
        for r in results:
            r["disrupted"] = float(P.dis[r["assignment"] != P.current].sum())
    best = _select(results, mode)
    lp_min = None
    if mode == "realign":
        info = best.get("realign") or {}
        rp = info.get("repair") or {}
        lp_min = {"repair": rp}
        if info.get("lp") is not None:
            lp_min["neighbours"] = float(rp.get("moved", 0.0)) + float(info["lp"])
            lp_min["neighbours_scope"] = (
                f"repair + geographic LP from the repaired plan (units within {info['lp_R']} graph steps "
                "of a territory, shortest-path contiguity relaxation; reference, not a bound)")
        elif P.m and P.indptr is not None:
            lp_min["neighbours"] = None
            lp_min["neighbours_scope"] = "geographic LP infeasible within the radii tried (or under the cap)"
        for sk in rp.get("skipped", []):
            diagnostics.append(
                f"contiguity repair: the disruption cap leaves a stray piece of {territory_labels(P.k)[sk[0]]} "
                f"({sk[1]} units, {sk[2]:.6g} {P.dis_name} to repair) split; raise max_disruption to repair it")
        if P.m and P.indptr is not None:
            if info.get("bound") is not None:
                val, st, scope = info["bound"]
            elif _is_cancelled(cancel):
                val, st, scope = None, "not computed (cancelled)", "all"
            else:
                left = t0 + time_limit - time.time()
                try:
                    val, st, scope = disruption_lp(P, time_limit=max(1.0, 0.5 * left), scope="all")
                except Exception as e:  # pragma: no cover
                    diagnostics.append(f"disruption LP failed: {e}")
                    val, st, scope = None, "error", "all"
            if val is None:
                diagnostics.append(f"disruption LP over {scope}: {st}")
            lp_min["all"] = val
            lp_min["all_scope"] = scope
    if progress is not None:
        progress(0.98, "report")
    # the violation bound (only for a plan that misses a tolerance) gets what is left of the
    # time limit's +10 % margin; none left: not computed (the call keeps to its limit)
    bound_time = t0 + BOUND_END * time_limit - time.time()
    if _is_cancelled(cancel):  # a cancel wants the plan now, not a bound (its LP can take seconds)
        bound_time = -1.0
    rep, moves, cen = _report(P, units, best, results, t0, seed, diagnostics, shape_metrics, mode, lp_min,
                              bound_time=bound_time)
    centers_m = cen * 1000.0 + P.origin_m
    if progress is not None:
        progress(1.0, "done")
    return DesignResult(
        assignment=best["assignment"].copy(),
        centers=centers_m,
        labels=tuple(territory_labels(P.k)),
        report=rep,
        moves=moves,
    )


def tradeoff(units: Units, current, caps: Sequence[float] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
             **design_kwargs) -> pd.DataFrame:
    """Sweep the disruption cap: one realignment per cap, one row per plan.

    Columns: cap, moved (disruption measure), moved_fraction, units_moved, max_dev_<m> per
    balance measure, objective, status.
    """
    rows = []
    design_kwargs = dict(design_kwargs)
    design_kwargs.pop("max_disruption", None)
    for cap in caps:
        r = design(units, current=current, max_disruption=cap, **design_kwargs)
        rep = r.report
        row = {"cap": float(cap), "moved": rep.disruption["moved"],
               "moved_fraction": rep.disruption["moved_fraction"],
               "units_moved": rep.disruption["units_moved"]}
        for m, v in rep.max_abs_dev.items():
            row[f"max_dev_{m}"] = v
        row["objective"] = rep.objective
        row["status"] = rep.status
        rows.append(row)
    return pd.DataFrame(rows)


def design_books(units, k: int, *, balance: Mapping[str, float] | None = None, targets=None,
                 compactness_weight: str | None = None, locks=None, centers=None, seed: int = 0,
                 time_limit: float = 30.0, n_starts: int | None = None, n_jobs: int | None = None,
                 cancel=None, progress=None) -> DesignResult:
    """Split accounts (no contiguity) into k balanced books, each geographically tight.

    ``units`` is a :class:`Units` (its graph is ignored) or a DataFrame with ``x``, ``y``
    (projected metres), an optional ``unit_id`` and the measure columns.
    """
    t0 = time.time()
    if isinstance(units, pd.DataFrame):
        from territorium.model import Adjacency

        t = units.reset_index(drop=True).copy()
        if len(t) == 0:
            raise DesignInputError("no accounts: nothing to split")
        if "unit_id" not in t:
            t["unit_id"] = [str(i) for i in range(len(t))]
        if "name" not in t:
            t["name"] = t["unit_id"].astype(str)
        units = Units("account", t, Adjacency.from_edges(len(t), np.zeros((0, 2), np.int64)))
    P = build_problem(units, k, centers=centers, balance=balance, targets=targets,
                      compactness_weight=compactness_weight, locks=locks, contiguity=False)
    return _solve(P, units, t0, seed, time_limit, n_starts, n_jobs, cancel, progress, False, 12, 3,
                  mode="books")
