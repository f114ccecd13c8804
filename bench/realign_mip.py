"""Realignment gap on an instance small enough for an exact MIP (issue 17).

The ZIPs of a few demo states (default CT and RI: 342 units), a ±25 % legacy plan with k = 8
(a Territorium design at workload ±25 %, seed 101: contiguous and compact), realigned to
workload ±5 % with the least moved accounts:

* ``heuristic``: ``design(current=legacy)``, the engine's realignment;
* ``LP reference``: its report's geographic LP minimum (shortest-path contiguity relaxation
  around the repaired plan, a reference, not a bound) and the all-territory LP (a valid
  lower bound, geography ignored);
* ``exact``: the same problem as a HiGHS MIP (``design/_mip.py``): a binary per (unit,
  territory), every territory within ±5 %, contiguity by connectivity cuts added while a
  solution has a territory in several pieces (every cut is valid, so the first contiguous
  optimum is the true minimum, up to the MIP gap). Started from the heuristic's plan. A
  territory that keeps none of its own units moves all its accounts; when each holds more
  accounts than the heuristic's plan moves, the optimum keeps one of each territory's units
  in it, so a piece holding none of them gets the strong cut ``x_ut ≤ Σ_{v∈∂S} x_vt``.

Run (heavy: under the shared lock, a few minutes)::

    flock /tmp/heavy.lock .venv/bin/python bench/realign_mip.py --states CT,RI --k 8

Prints a markdown table and writes JSON next to it with ``--json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import instances  # noqa: E402

from territorium.design import design  # noqa: E402
from territorium.design._mip import contiguous_assignment_mip  # noqa: E402
from territorium.design._problem import build_problem  # noqa: E402


def run(states, k, tol, heuristic_s, mip_s, seed=1):
    units, _, _ = instances.demo_region_zips()
    keep = np.isin(units.table["state"].to_numpy(), states)
    sub = units.subset(keep)
    # the largest connected part (an island without a link would need a territory of its own)
    from scipy.sparse.csgraph import connected_components

    lab = connected_components(sub.adjacency.to_scipy(), directed=False)[1]
    dropped = int((lab != np.bincount(lab).argmax()).sum())
    sub = sub.subset(lab == np.bincount(lab).argmax())
    # polish=0: the ±25 % design converges well before its limit, so the legacy plan does not
    # depend on the machine's speed
    legacy = design(sub, k, balance={"workload": 0.25}, seed=seed + 100, time_limit=60, n_jobs=1,
                    polish=0).assignment
    wl = sub.measure("workload")
    spread = np.bincount(legacy, wl, k) / (wl.sum() / k) - 1
    balance = {"workload": tol}
    t = time.perf_counter()
    r = design(sub, current=legacy, balance=balance, disruption="account_count", seed=seed,
               time_limit=heuristic_s, n_jobs=1)
    h_s = time.perf_counter() - t
    d = r.report.disruption
    P = build_problem(sub, k, balance=balance, current=legacy, disruption="account_count")
    pu = np.repeat(np.arange(P.n), k)
    pt = np.tile(np.arange(k), P.n)
    # accounts are whole numbers: a charge of 0.5/n per moved unit (under one account in all)
    # keeps the optimum in accounts and stops units without accounts from moving for nothing
    # (each stray zero-account unit would otherwise need its own contiguity cuts)
    assert np.allclose(P.dis, np.round(P.dis))
    cost = np.where(pt == legacy[pu], 0.0, P.dis[pu] + 0.5 / P.n)
    start = r.assignment if r.report.status == "feasible" else None
    # a territory that keeps none of its current units moves all of its accounts; when every
    # territory holds more than the heuristic's plan moves in all, no better plan does that,
    # so each keeps one of its own units: pieces without any get the strong cut (exact)
    own = np.bincount(legacy, P.dis, k)
    roots_ok = start is not None and own.min() > float(d["moved"])
    root_sets = [np.flatnonzero(legacy == t) for t in range(k)] if roots_ok else None
    mip = contiguous_assignment_mip(P, pu, pt, cost, tol_scale=1.0, time_limit=mip_s, mip_gap=1e-4,
                                    start=start, max_rounds=500, root_sets=root_sets)
    exact = None
    if mip.assignment is not None:
        a = mip.assignment
        exact = float(P.dis[a != legacy].sum())
        dev = np.bincount(a, wl, k) / (wl.sum() / k) - 1
        exact_dev = float(np.abs(dev).max())
    else:
        exact_dev = float("nan")
    return {
        "states": list(states), "units": int(sub.n), "dropped_units": dropped, "k": k, "tolerance": tol,
        "legacy_spread": [float(spread.min()), float(spread.max())],
        "accounts": float(P.dis.sum()),
        "heuristic": {"status": r.report.status, "moved": float(d["moved"]), "max_dev": r.report.max_abs_dev["workload"],
                      "pieces_max": int(r.report.pieces.max()), "time_s": h_s,
                      "lp_minimum": d.get("lp_minimum"), "lp_minimum_scope": d.get("lp_minimum_scope"),
                      "lp_bound": d.get("lp_bound")},
        "mip": {"moved": exact, "max_dev": exact_dev, "excess": [float(z) for z in mip.excess],
                "contiguous": mip.contiguous, "status": mip.status, "rounds": mip.rounds, "cuts": mip.cuts,
                "gap": mip.gap, "dual_bound": mip.bound, "time_s": mip.time_s,
                "strong_cuts": bool(roots_ok), "smallest_territory_accounts": float(own.min())},
    }


def markdown(res) -> str:
    h, m = res["heuristic"], res["mip"]
    lp = h["lp_minimum"]
    exact = m["moved"] if (m["contiguous"] and m["status"] == "Optimal") else None
    ref = exact if exact else None
    rows = [f"### realign, {'+'.join(res['states'])} ZIPs ({res['units']} units, k={res['k']}, legacy workload "
            f"{res['legacy_spread'][0]:+.0%}..{res['legacy_spread'][1]:+.0%} → ±{res['tolerance']:.0%}, "
            f"{res['accounts']:,.0f} accounts)\n",
            "| plan / bound | moved accounts | vs exact | status | time s |", "|---|---:|---:|---|---:|"]

    def vs(v):
        return f"{v / ref:.3f}×" if (ref and v is not None) else "—"

    rows.append(f"| exact MIP (contiguity cuts) | {m['moved'] if m['moved'] is not None else float('nan'):,.0f} | "
                f"{'1.000×' if exact else '—'} | {m['status']}, {'contiguous' if m['contiguous'] else 'NOT contiguous'}, "
                f"{m['rounds']} solves, {m['cuts']} cuts, gap {m['gap']:.2%} | {m['time_s']:.1f} |")
    rows.append(f"| MIP dual bound (valid lower bound) | {m['dual_bound']:,.0f} | {vs(m['dual_bound'])} | | |")
    rows.append(f"| engine heuristic (realignment) | {h['moved']:,.0f} | {vs(h['moved'])} | {h['status']}, "
                f"max dev {h['max_dev']:.1%}, pieces {h['pieces_max']} | {h['time_s']:.1f} |")
    if lp:
        rows.append(f"| geographic LP reference | {lp:,.0f} | {vs(lp)} | heuristic / LP = {h['moved'] / lp:.3f}× | |")
    if h["lp_bound"]:
        rows.append(f"| all-territory LP (valid bound) | {h['lp_bound']:,.0f} | {vs(h['lp_bound'])} | | |")
    return "\n".join(rows) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--states", default="CT,RI")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--tol", type=float, default=0.05)
    ap.add_argument("--heuristic-s", type=float, default=60.0)
    ap.add_argument("--mip-s", type=float, default=240.0)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    res = run([s.strip().upper() for s in a.states.split(",")], a.k, a.tol, a.heuristic_s, a.mip_s)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    print(markdown(res))


if __name__ == "__main__":
    main()
