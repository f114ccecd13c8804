"""Runtime of the causal-impact estimators on a 3,000 units × 104 weeks panel, against peers.

    python bench/causal_runtime.py [--units 3000] [--weeks 104] [--peer-units 200] [--peer-donors 100]
                                   [--sdid-reps 20] [--json]

Panel: unit and week effects, a weak two-factor term and noise, weekly; a common-start campaign
(+1.5) on every tenth unit for DiD/TWFE, four staggered cohorts (+2.0, 25 % never treated) for
Callaway–Sant'Anna, and one treated unit (+5.0, the other 2,999 untouched units as donors) for
synthetic control and synthetic DiD.

Peers, same process and same data:
* TWFE: statsmodels OLS on unit and week dummies with cluster-robust SE. At full size its
  design matrix would be 312,000 × 3,104 doubles (7.7 GB), so both it and ours are timed on
  the first ``--peer-units`` units; ours is also timed at full size.
* Synthetic control: scipy SLSQP on the same simplex-constrained least squares (weights
  only, no placebos), on ``--peer-donors`` donors; ours (NNLS with a sum row) on the same.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def make_panel(n: int, T: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = np.cumsum(rng.normal(size=(T, 2)), axis=0)
    lam = rng.normal(size=(n, 2))
    a = rng.normal(scale=5, size=n)
    common_t = np.cumsum(rng.normal(size=T))
    Y = 100 + a[:, None] + common_t[None, :] + 0.2 * lam @ f.T + rng.normal(size=(n, T))
    never = rng.random(n) < 0.25
    cohort = np.where(never, 0, rng.choice([60, 70, 80, 90], size=n))
    t = np.arange(1, T + 1)
    on = (cohort[:, None] > 0) & (t[None, :] >= cohort[:, None])
    base = Y.copy()
    Y = Y + 2.0 * on
    common = np.zeros((n, T))
    common[::10, 79:] = 1
    return pd.DataFrame({"unit": np.repeat(np.arange(n), T), "week": np.tile(t, n), "y": Y.ravel(),
                         "y_common": (base + 1.5 * common).ravel(), "y_base": base.ravel(), "first_treat": np.repeat(cohort, T),
                         "D": common.ravel().astype(int)})


def timed(fn, *a, repeat: int = 1, **k):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*a, **k)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=3000)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--peer-units", type=int, default=200)
    ap.add_argument("--peer-donors", type=int, default=100)
    ap.add_argument("--sdid-reps", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import statsmodels.api as sm
    from scipy.optimize import minimize

    from territorium.analytics.causal import callaway_santanna, did, synthetic_control, synthetic_did, twfe
    from territorium.analytics.causal.synth import simplex_ls

    n, T, m = args.units, args.weeks, args.peer_units
    df = make_panel(n, T)
    small = df[df.unit < m]
    kw = dict(unit="unit", time="week")
    rows = []

    def add(name, size, ours, peer=None, peer_name="", note=""):
        rows.append({"estimator": name, "panel": size, "ours_s": ours, "peer": peer_name, "peer_s": peer,
                     "ratio": (peer / ours) if peer else None, "note": note})

    # DiD / TWFE ----------------------------------------------------------------------------
    t_did, r_did = timed(did, df, **kw, outcome="y_common", treatment="D")
    add("did (2×2 + event study)", f"{n}×{T}", t_did, note=f"estimate {r_did.estimate:.3f} (truth 1.5)")
    t_tw, r_tw = timed(twfe, df, **kw, outcome="y_common", treatment="D")
    add("twfe", f"{n}×{T}", t_tw, note=f"estimate {r_tw.estimate:.3f} (truth 1.5)")
    t_tw_s, r_tw_s = timed(twfe, small, **kw, outcome="y_common", treatment="D", repeat=2)

    def sm_dummies(d):
        X = pd.get_dummies(d[["unit", "week"]].astype(str), drop_first=True, dtype=float)
        X.insert(0, "D", d["D"].to_numpy(dtype=float))
        X = sm.add_constant(X)
        return sm.OLS(d["y_common"].to_numpy(), X).fit(cov_type="cluster", cov_kwds={"groups": d["unit"].to_numpy()})

    t_sm, r_sm = timed(sm_dummies, small)
    assert abs(r_sm.params["D"] - r_tw_s.estimate) < 1e-8 and abs(r_sm.bse["D"] / r_tw_s.se - 1) < 1e-6
    add("twfe", f"{m}×{T}", t_tw_s, t_sm, "statsmodels OLS + dummies (cluster)", "same β and SE")

    # Callaway–Sant'Anna ----------------------------------------------------------------------
    t_cs, r_cs = timed(callaway_santanna, df, **kw, outcome="y", first_treat="first_treat")
    add("callaway_santanna (never)", f"{n}×{T}", t_cs,
        note=f"{len(r_cs.details['att_gt'])} ATT(g,t); simple {r_cs.estimate:.3f} (truth 2.0)")
    t_cs2, _ = timed(callaway_santanna, df, **kw, outcome="y", first_treat="first_treat", control="notyet")
    add("callaway_santanna (not yet)", f"{n}×{T}", t_cs2)

    # synthetic control ----------------------------------------------------------------------
    one = df.assign(y=np.where((df.unit == 0) & (df.week >= 80), df.y_base + 5.0, df.y_base))
    t_sc0, r_sc0 = timed(synthetic_control, one, **kw, outcome="y", treated_units=[0], start=80, placebos=0)
    add("synthetic_control (weights only)", f"{n}×{T}", t_sc0, note=f"{n - 1} donors; gap {r_sc0.estimate:.2f} (truth 5)")
    t_sc, r_sc = timed(synthetic_control, one, **kw, outcome="y", treated_units=[0], start=80)
    add("synthetic_control (+200 placebos)", f"{n}×{T}", t_sc, note=f"placebo p {r_sc.diagnostics['placebo_p']:.3f}")
    Y = one.pivot(index="unit", columns="week", values="y").to_numpy()
    A, b = Y[1:args.peer_donors + 1, :79].T, Y[0, :79]
    t_nn, w_nn = timed(simplex_ls, A, b, repeat=3)

    def slsqp(A, b):
        J = A.shape[1]
        return minimize(lambda w: np.sum((A @ w - b) ** 2), np.full(J, 1 / J), jac=lambda w: 2 * A.T @ (A @ w - b),
                        method="SLSQP", bounds=[(0, 1)] * J,
                        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones(J)}],
                        options={"ftol": 1e-12, "maxiter": 500})

    t_sl, r_sl = timed(slsqp, A, b)
    f_nn, f_sl = float(np.sum((A @ w_nn - b) ** 2)), float(r_sl.fun)
    add("SC weights", f"{args.peer_donors} donors × 79 weeks", t_nn, t_sl, "scipy SLSQP",
        f"objective ours {f_nn:.4g} vs SLSQP {f_sl:.4g}")

    # synthetic DiD ---------------------------------------------------------------------------
    t_sd0, r_sd0 = timed(synthetic_did, one, **kw, outcome="y", treated_units=[0], start=80, reps=0)
    add("synthetic_did (point estimate)", f"{n}×{T}", t_sd0, note=f"estimate {r_sd0.estimate:.2f} (truth 5)")
    t_sd, r_sd = timed(synthetic_did, one, **kw, outcome="y", treated_units=[0], start=80, reps=args.sdid_reps)
    add(f"synthetic_did (+{args.sdid_reps} placebo reps)", f"{n}×{T}", t_sd, note=f"SE {r_sd.se:.2f}")

    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| estimator | panel | ours s | peer | peer s | peer / ours | note |")
    print("|---|---|---:|---|---:|---:|---|")
    for r in rows:
        peer_s = f"{r['peer_s']:.3f}" if r["peer_s"] else ""
        ratio = f"{r['ratio']:.1f}×" if r["ratio"] else ""
        print(f"| {r['estimator']} | {r['panel']} | {r['ours_s']:.3f} | {r['peer']} | {peer_s} | {ratio} | {r['note']} |")


if __name__ == "__main__":
    main()
