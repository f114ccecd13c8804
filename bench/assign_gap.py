"""Accounts → reps (generalized assignment) vs peers, in one process. Prints a markdown table.

    python bench/assign_gap.py                  # 50,000 × 200 and 2,000 × 40 (~2 min on 2 cores)
    python bench/assign_gap.py --json out.json

Instance: synthetic but US-like. Accounts cluster around 30 metro areas (weighted roughly by
population, spread by metro size) plus 10 % rural scatter; reps live where the accounts are
(homes drawn from account locations, jittered). Workload per account 8/16/32/62 hours (tiers),
15 % of accounts need an "enterprise" rep (40 % of reps are) and 5 % a "spanish" one (25 %).
Capacities vary ±15 % around the mean and total 1/0.92 of the workload (92 % utilisation).
Cost = great-circle km from the rep's home to the account.

Peers, same instance, same run:
  greedy      each account in file order to the nearest eligible rep with room (what a
              spreadsheet macro or a "nearest available rep" routing rule does);
  HiGHS MIP   the exact optimum (0/1 model with every eligible pair), at 2,000 × 40 where it
              finishes; its dual bound and incumbent are shown when it hits the time limit.
Columns: seconds, plan cost (km), lower bound, gap = (cost − bound) / cost, cost / Territorium.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from territorium.assign import assign_accounts, gap_mip, haversine_km  # noqa: E402

# (lat, lon, weight, spread in degrees) of 30 US metro areas
METROS = [
    (40.71, -74.01, 20.0, 0.45), (34.05, -118.24, 13.0, 0.5), (41.88, -87.63, 9.5, 0.4), (32.78, -96.80, 7.6, 0.45),
    (29.76, -95.37, 7.1, 0.45), (38.91, -77.04, 6.3, 0.35), (25.76, -80.19, 6.1, 0.3), (39.95, -75.17, 6.2, 0.35),
    (33.75, -84.39, 6.1, 0.4), (42.36, -71.06, 4.9, 0.35), (33.45, -112.07, 4.9, 0.4), (37.77, -122.42, 4.7, 0.35),
    (33.98, -117.37, 4.6, 0.45), (42.33, -83.05, 4.3, 0.35), (47.61, -122.33, 4.0, 0.35), (44.98, -93.27, 3.7, 0.35),
    (32.72, -117.16, 3.3, 0.3), (27.95, -82.46, 3.2, 0.35), (39.74, -104.99, 3.0, 0.3), (38.63, -90.20, 2.8, 0.35),
    (39.29, -76.61, 2.8, 0.25), (35.23, -80.84, 2.7, 0.35), (28.54, -81.38, 2.7, 0.35), (29.42, -98.49, 2.6, 0.35),
    (45.52, -122.68, 2.5, 0.3), (38.58, -121.49, 2.4, 0.3), (40.44, -80.00, 2.4, 0.3), (30.27, -97.74, 2.3, 0.3),
    (39.10, -84.51, 2.2, 0.3), (36.17, -115.14, 2.3, 0.25),
]


def instance(n: int, R: int, seed: int = 0, utilisation: float = 0.92):
    """(account lat, lon, workload, needs, rep lat, lon, capacity, skills) of a US-like instance."""
    rng = np.random.default_rng(seed)
    m = np.array(METROS)
    urban = rng.random(n) >= 0.10
    k = rng.choice(len(m), n, p=m[:, 2] / m[:, 2].sum())
    lat = np.where(urban, m[k, 0] + rng.normal(0, 1, n) * m[k, 3], rng.uniform(30, 47, n))
    lon = np.where(urban, m[k, 1] + rng.normal(0, 1, n) * m[k, 3] * 1.3, rng.uniform(-120, -72, n))
    w = rng.choice([8.0, 16.0, 32.0, 62.0], n, p=[0.45, 0.3, 0.17, 0.08])
    u = rng.random(n)
    needs = np.where(u < 0.15, "enterprise", np.where(u < 0.20, "spanish", ""))
    homes = rng.choice(n, R, replace=False)
    rlat = lat[homes] + rng.normal(0, 0.05, R)
    rlon = lon[homes] + rng.normal(0, 0.05, R)
    ent = rng.random(R) < 0.40
    spa = rng.random(R) < 0.25
    skills = np.array([";".join(s for s, f in (("enterprise", e), ("spanish", s_)) if f) for e, s_ in zip(ent, spa)],
                      dtype=object)
    cap = rng.uniform(0.85, 1.15, R)
    cap = cap / cap.sum() * w.sum() / utilisation
    return lat, lon, w, needs, rlat, rlon, cap, skills


def cost_matrix(lat, lon, needs, rlat, rlon, skills):
    D = haversine_km(lat, lon, rlat, rlon)
    sk = [set(s.split(";")) - {""} for s in skills]
    for need in ("enterprise", "spanish"):
        lack = np.array([need not in s for s in sk])
        D[np.ix_(needs == need, lack)] = np.inf
    return D


def greedy_nearest(C, w, cap):
    """Each account in order to the nearest eligible rep with room (else the least overloaded)."""
    t = time.perf_counter()
    slack = cap.astype(float).copy()
    rep = np.empty(len(w), np.int64)
    order = np.argsort(C, axis=1)
    for i in range(len(w)):
        row = order[i]
        fits = slack[row] >= w[i]
        ok = np.isfinite(C[i, row]) & fits
        r = row[np.argmax(ok)] if ok.any() else row[0]
        rep[i] = r
        slack[r] -= w[i]
    over = float(np.maximum(0, -slack).sum())
    return rep, float(C[np.arange(len(w)), rep].sum()), over, time.perf_counter() - t


def run(n, R, seed, time_limit, mip_limit, rows):
    lat, lon, w, needs, rlat, rlon, cap, skills = instance(n, R, seed)
    t = time.perf_counter()
    g = assign_accounts(w, cap, account_lat=lat, account_lon=lon, rep_lat=rlat, rep_lon=rlon,
                        account_needs=list(needs), rep_skills=list(skills), vocabulary=["enterprise", "spanish"],
                        continuity_km=0.0, time_limit=time_limit, seed=seed)
    secs = time.perf_counter() - t
    name = f"{n:,} × {R}"
    over = float(g.overload.sum())
    rows.append({"instance": name, "method": "Territorium (Lagrangian/LP bound + local search)", "seconds": secs,
                 "cost": g.objective, "bound": g.lower_bound, "gap": g.gap, "over_h": over, "ratio": 1.0,
                 "note": g.bound_method.split("; ")[-1] if g.lower_bound is not None else g.status})
    C = cost_matrix(lat, lon, needs, rlat, rlon, skills)
    rep, cost, gover, gsecs = greedy_nearest(C, w, cap)
    rows.append({"instance": name, "method": "greedy nearest rep with room", "seconds": gsecs, "cost": cost,
                 "bound": g.lower_bound, "gap": (cost - g.lower_bound) / cost if g.lower_bound else None,
                 "over_h": gover, "ratio": cost / g.objective, "note": "gap to Territorium's bound"})
    if mip_limit:
        mip = gap_mip(C, w, cap, time_limit=mip_limit)
        obj = mip["objective"]
        rows.append({"instance": name, "method": "HiGHS MIP (exact)", "seconds": mip["time_s"], "cost": obj,
                     "bound": mip["bound"], "gap": (obj - mip["bound"]) / obj if obj else None, "over_h": 0.0,
                     "ratio": obj / g.objective if obj else None, "note": mip["status"]})
        if obj is not None:
            rows[-3]["note"] += f"; {100 * (g.objective - obj) / obj:.3f}% above the MIP's plan"
            rows[-3]["vs_mip_bound"] = (g.objective - mip["bound"]) / g.objective


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big", default="50000x200", help="size of the large instance (accounts x reps)")
    ap.add_argument("--small", default="2000x40", help="size of the instance where the exact MIP runs")
    ap.add_argument("--time-limit", type=float, default=50.0, help="Territorium's time limit on the large instance")
    ap.add_argument("--mip-limit", type=float, default=90.0, help="HiGHS MIP time limit (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    rows: list[dict] = []
    bn, bR = map(int, a.big.lower().split("x"))
    sn, sR = map(int, a.small.lower().split("x"))
    run(bn, bR, a.seed, a.time_limit, 0, rows)
    run(sn, sR, a.seed, 20.0, a.mip_limit, rows)
    print("| instance | method | s | cost (km) | lower bound | gap | h over capacity | cost / ours | note |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['instance']} | {r['method']} | {r['seconds']:.1f} | {fmt(r['cost'], ',.0f')} | "
              f"{fmt(r['bound'], ',.0f')} | {fmt(None if r['gap'] is None else 100 * r['gap'], '.2f')}% | "
              f"{r['over_h']:,.0f} | {fmt(r['ratio'], '.3f')} | {r['note']} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
