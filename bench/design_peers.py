"""Territory design vs peers, in one process, on real geography. Prints a markdown table.

    python bench/design_peers.py                 # all instances (~15 min on 2 cores)
    python bench/design_peers.py --only counties20,realign --json out.json

Instances (see ``bench/instances.py``):
  counties20 / counties100  contiguous-US counties, demo-like national accounts, 3 measures ±5%
  demo40                    the demo company's 5k Northeast ZIP units, k=40, 3 measures ±5%
  zips500                   all-US ZIP units, k=500, workload ±5%
  zips500m                  the same with three measures ±5% (not in the default list)
  realign                   demo ZIPs from the demo's legacy alignment to workload ±5%
  real_pz / real_cz / real_za / real_pza
                            contiguous-US counties, k=20, independent real measures only
                            (``instances.county_real_measures``), each ±5%: population
                            estimate + ZIP count, cities + ZIP count, ZIP count + land area,
                            and all three of population estimate, ZIP count, land area

Peers: GerryChain recursive_tree_part (workload, ε=5%), METIS (pymetis, workload vertex
weights, contiguous option), weighted k-means (scikit-learn, no contiguity, no balance), and
on instances with two or more measures the issue's plain simulated annealing
(``peers.plain_anneal``: GerryChain tree start balanced on the first measure, single-unit
moves keeping every territory connected, penalty on every measure's excess, then compactness
among plans within the tolerances; ``--anneal-budget`` seconds, default the instance's limit).
Columns: time, max deviation per balance measure, non-contiguous territories, moment of
inertia relative to weighted k-means, gap to Territorium's lower bound.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import instances  # noqa: E402
import peers  # noqa: E402

from territorium.design import design  # noqa: E402


def _child(q, fn, args):
    try:
        t = time.perf_counter()
        out = fn(*args)
        q.put(("ok", out, time.perf_counter() - t))
    except BaseException as exc:  # report, don't hang
        q.put(("error", f"{type(exc).__name__}: {exc}", 0.0))


def timed(fn, *args, timeout: float = 600.0):
    """Run ``fn(*args)`` in a forked process with a time limit: (result | None, seconds, note)."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, fn, args))
    t = time.perf_counter()
    p.start()
    try:
        status, out, secs = q.get(timeout=timeout)
    except Exception:
        p.kill()
        p.join()
        return None, time.perf_counter() - t, f"timeout > {timeout:.0f}s"
    p.join()
    if status != "ok":
        return None, time.perf_counter() - t, out
    return out, secs, ""


def oversized(units, k, balance):
    """Units that alone exceed (1 + tol) x a territory's target on some balance measure,
    found as the engine does (removing them lowers the others' targets)."""
    from territorium.design.engine import _own_territories

    pos, _, _ = _own_territories(units, k, balance, None)
    mask = np.zeros(units.n, dtype=bool)
    mask[pos] = True
    return mask


def stranded(units, k, balance):
    """Units that fit no contiguous territory within the tolerances (alone below the lower
    bound, with any neighbour above the upper one), on the problem the engine solves."""
    from territorium.design._problem import build_problem, stranded_units
    from territorium.design.engine import _own_territories

    pos, targets, locks = _own_territories(units, k, balance, None)
    P = build_problem(units, k, balance=balance, targets=targets if len(pos) else None,
                      locks=locks if len(pos) else None)
    mask = np.zeros(units.n, dtype=bool)
    for u, *_ in stranded_units(P):
        mask[u] = True
    return mask


def evaluate(units, assign, k, measures, w, kmeans_moi, lower_bound, big=None, strand=None, balance=None):
    if assign is None:
        return {}
    row = {}
    for m in measures:
        row[f"dev_{m}"] = peers.max_deviation(units.measure(m), assign, k)
    if big is None:
        big = np.zeros(units.n, dtype=bool)
    if big.any() or (strand is not None and strand.any()):
        # deviation over the territories that hold no oversized or stranded unit (granularity
        # excluded), against what is left for them: (total - the oversized units) / (k - their
        # number); a stranded unit's territory is left out, the target is not changed
        forced = np.zeros(k, dtype=bool)
        forced[assign[big]] = True
        if strand is not None:
            forced[assign[strand]] = True
        worst = 0.0
        for m in measures:
            v = units.measure(m)
            tot = np.bincount(assign, weights=v, minlength=k)
            target = (v.sum() - v[big].sum()) / (k - int(big.sum()))
            worst = max(worst, float(np.abs(tot[~forced] / target - 1).max()) if (~forced).any() else 0.0)
        row["dev_rest"] = worst
    # territories outside a tolerance, those holding an oversized or stranded unit left out
    tot_all = np.stack([np.bincount(assign, weights=units.measure(m), minlength=k) for m in measures], 1)
    tol_all = np.array([balance[m] for m in measures]) if balance else np.full(len(measures), 0.05)
    out = (np.abs(tot_all / (tot_all.sum(0) / k) - 1) > tol_all + 1e-9).any(1)
    if big.any() or (strand is not None and strand.any()):
        out &= ~forced
    row["outside"] = int(out.sum())
    row["non_contiguous"] = peers.non_contiguous(units, assign, k)
    moi = peers.moment_of_inertia(units.xy, w, assign, k)
    row["moi_vs_kmeans"] = moi / kmeans_moi if kmeans_moi else float("nan")
    row["gap_to_our_bound"] = 1 - lower_bound / moi if moi > 0 and lower_bound is not None else float("nan")
    return row


def run_instance(name, units, k, balance, time_limit, peer_timeout, seed=1, anneal_budget=None):
    measures = list(balance)
    big = oversized(units, k, balance)
    strand = stranded(units, k, balance)
    wname = measures[0]
    w = units.measure(wname)
    print(f"## {name}: {units.n:,} {units.level} units, k={k}, balance {balance}", file=sys.stderr, flush=True)
    rows = []
    ours, secs, note = timed(
        lambda: _ours(units, k, balance, time_limit, seed), timeout=time_limit * 1.5 + 120)
    km_out, km_secs, km_note = timed(peers.weighted_kmeans, units, k, w, seed, timeout=peer_timeout)
    km, km_moi = km_out if km_out is not None else (None, None)
    lb = ours["lower_bound"] * 1e6 if ours else None  # the engine reports weight·km²; peers use m²
    if ours:
        r = {"method": "Territorium", "time_s": secs, **evaluate(units, ours["assignment"], k, measures, w, km_moi, lb, big, strand, balance),
             "note": (f"{ours['status']}; bound {ours['bound_method'][:40]}; relaxation ratio "
                      f"{ours['relax_ratio']:.3f}" if ours["relax_ratio"] else ours["status"])
                     + (f" ({ours['proof']})" if ours.get("proof") else ""),
             "peak_rss_mb": ours["rss_mb"], "tree_peak_mb": ours["tree_peak_mb"]}
    else:
        r = {"method": "Territorium", "time_s": secs, "note": note}
    rows.append(r)
    for label, fn, args in (
        ("GerryChain recursive_tree_part", peers.gerrychain_tree, (units, k, wname, 0.05, seed)),
        ("METIS (pymetis, contig)", peers.metis, (units, k, wname, 50, seed)),
    ):
        a, s, note = timed(fn, *args, timeout=peer_timeout)
        rows.append({"method": label, "time_s": s, **evaluate(units, a, k, measures, w, km_moi, lb, big, strand), "note": note})
    if len(measures) > 1 and anneal_budget:
        # the "plain annealing": tree start balanced on the first measure, single-unit
        # moves with every territory kept connected, penalty on every measure's excess, then
        # compactness among plans within the tolerances (peers.plain_anneal)
        tol = float(max(balance.values()))
        a, s, note = timed(peers.plain_anneal, units, k, measures, tol, seed, anneal_budget,
                           timeout=anneal_budget + peer_timeout)
        rows.append({"method": f"plain annealing ({anneal_budget:.0f} s budget)", "time_s": s,
                     **evaluate(units, a, k, measures, w, km_moi, lb, big, strand), "note": note})
    rows.append({"method": "weighted k-means (no contiguity)", "time_s": km_secs,
                 **evaluate(units, km, k, measures, w, km_moi, lb, big, strand), "note": km_note})
    return {"instance": name, "units": units.n, "k": k, "balance": balance, "rows": rows,
            "oversized": [str(u) for u in units.ids[big]], "stranded": [str(u) for u in units.ids[strand]]}


class TreePeak:
    """Peak resident memory of this process plus all its children (sampled from /proc every
    0.2 s): the design engine's workers are child processes."""

    def __init__(self):
        import os
        import threading

        self.peak = 0
        self._me = os.getpid()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> int:
        import os

        page = os.sysconf("SC_PAGE_SIZE")
        parent, rss = {}, {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parent[int(pid)] = int(fields[1])
                with open(f"/proc/{pid}/statm") as f:
                    rss[int(pid)] = int(f.read().split()[1]) * page
            except (OSError, IndexError, ValueError):
                continue
        tree, grew = {self._me}, True
        while grew:
            add = {p for p, pp in parent.items() if pp in tree and p not in tree}
            tree |= add
            grew = bool(add)
        return sum(rss.get(p, 0) for p in tree)

    def _run(self):
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._tree_rss())

    def __enter__(self):
        self.peak = self._tree_rss()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _ours(units, k, balance, time_limit, seed):
    with TreePeak() as mem:
        r = design(units, k, balance=balance, seed=seed, time_limit=time_limit)
    rep = r.report
    cert = rep.certificate
    proof = (f"proven: {cert.kind} {', '.join(str(units.ids[u]) for u in cert.units[:3])}"
             f"{', ...' if len(cert.units) > 3 else ''}, excess ≥ {cert.bound:.2%}") if cert is not None else \
        ("no proof" if rep.status != "feasible" else "")
    return {"assignment": r.assignment, "status": rep.status, "lower_bound": rep.lower_bound, "proof": proof,
            "bound_method": rep.bound_method,
            "relax_ratio": rep.objective / rep.relaxation if rep.relaxation else None,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "tree_peak_mb": mem.peak / 2**20}


def run_realign(time_limit, seed=1, legacy="demo"):
    """Realign to workload ±5%. ``legacy``: the demo's own legacy plan, or "spread25": a
    compact plan designed with workload ±25% (the issue's "±25% legacy spread")."""
    units, cur, labels = instances.demo_region_zips()
    k = len(labels)
    if legacy == "spread25":
        cur = design(units, k, balance={"workload": 0.25}, seed=seed + 100, time_limit=60).assignment
    wl = units.measure("workload")
    before = np.bincount(cur, wl, k) / (wl.sum() / k) - 1
    print(f"## realign: legacy workload spread {before.min():+.0%} .. {before.max():+.0%}", file=sys.stderr, flush=True)
    t = time.perf_counter()
    r = design(units, current=cur, balance={"workload": 0.05}, disruption="account_count", seed=seed,
               time_limit=time_limit)
    secs = time.perf_counter() - t
    d = r.report.disruption
    return {"instance": "realign", "legacy": legacy, "units": units.n, "k": k,
            "legacy_spread": [float(before.min()), float(before.max())],
            "time_s": secs, "status": r.report.status, "max_dev_workload": r.report.max_abs_dev["workload"],
            "moved_accounts": d["moved"], "lp_minimum": d.get("lp_minimum"), "lp_bound": d.get("lp_bound"),
            "ratio_to_lp": (d["moved"] / d["lp_minimum"]) if d.get("lp_minimum") else
            ((d["moved"] / d["lp_bound"]) if d.get("lp_bound") else None),
            "pieces_max": int(r.report.pieces.max())}


def markdown(results) -> str:
    out = []
    for res in results:
        if res["instance"] == "realign":
            out.append(f"### realign from the {res.get('legacy', 'demo')} legacy plan (demo ZIPs, k={res['k']}, workload spread "
                       f"{res['legacy_spread'][0]:+.0%}..{res['legacy_spread'][1]:+.0%} → ±5%)\n")
            out.append("| status | max dev workload | moved accounts | LP minimum | ratio | pieces max | time s |")
            out.append("|---|---:|---:|---:|---:|---:|---:|")
            out.append(f"| {res['status']} | {res['max_dev_workload']:.1%} | {res['moved_accounts']:,.0f} | "
                       f"{res['lp_minimum'] or res['lp_bound'] or float('nan'):,.0f} | "
                       f"{res['ratio_to_lp'] or float('nan'):.2f} | {res['pieces_max']} | {res['time_s']:.1f} |\n")
            continue
        ms = list(res["balance"])
        big = res.get("oversized") or []
        strand = res.get("stranded") or []
        out.append(f"### {res['instance']}: {res['units']:,} units, k={res['k']}, balance "
                   + ", ".join(f"{m} ±{t:.0%}" for m, t in res["balance"].items()) + "\n")
        if big:
            out.append(f"{len(big)} unit(s) alone exceed a territory's upper bound "
                       f"({', '.join(big[:8])}{'...' if len(big) > 8 else ''}): the territories holding them "
                       "cannot be balanced; 'max dev rest' is the worst deviation over the other territories, "
                       "against what is left for them ((total − those units) / (k − their number)).\n")
        if strand:
            out.append(f"{len(strand)} unit(s) fit no contiguous territory within the tolerance "
                       f"({', '.join(strand[:8])}{'...' if len(strand) > 8 else ''}): alone below the lower "
                       "bound, with any neighbour above the upper one; 'max dev rest' leaves their "
                       "territories out.\n")
        rest_col = bool(big or strand)
        out.append("| method | time s | " + " | ".join(f"max dev {m}" for m in ms)
                   + (" | max dev rest" if rest_col else "") + " | non-contiguous | MOI / k-means | gap to our bound | note |")
        out.append("|---|---:|" + "---:|" * len(ms) + ("---:|" if rest_col else "") + "---:|---:|---:|---|")
        for r in res["rows"]:
            devs = " | ".join(f"{r[f'dev_{m}']:.1%}" if f"dev_{m}" in r else "—" for m in ms)
            nc = r.get("non_contiguous", "—")
            moi = f"{r['moi_vs_kmeans']:.3f}" if "moi_vs_kmeans" in r else "—"
            gap = f"{r['gap_to_our_bound']:.1%}" if "gap_to_our_bound" in r else "—"
            rest = (f" | {r['dev_rest']:.1%}" if "dev_rest" in r else " | —") if rest_col else ""
            note = r.get("note", "")
            if r["method"] == "Territorium" and "outside" in r:
                note = f"{note}; {r['outside']} territories outside a tolerance" + \
                    (" (those holding an oversized or stranded unit left out)" if rest_col else "")
            if "tree_peak_mb" in r:
                note = f"{note}; peak memory (process tree) {r['tree_peak_mb'] / 1024:.2f} GiB"
            out.append(f"| {r['method']} | {r['time_s']:.1f} | {devs}{rest} | {nc} | {moi} | {gap} | {note} |")
        out.append("")
    return "\n".join(out)


def _budget(args, time_limit):
    return time_limit if args.anneal_budget is None else args.anneal_budget


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="counties20,counties100,demo40,zips500,realign,realign25,"
                                      "real_pz,real_cz,real_za,real_pza")
    ap.add_argument("--real-time-limit", type=float, default=60.0)
    ap.add_argument("--json", type=Path, help="Also write the results as JSON here.")
    ap.add_argument("--peer-timeout", type=float, default=600.0)
    ap.add_argument("--anneal-budget", type=float, default=None,
                    help="Seconds for the plain annealing peer on instances with two or more measures "
                         "(default: the instance's own time limit; 0: skip it).")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    three = {"workload": 0.05, "potential": 0.05, "account_count": 0.05}
    results = []
    if only & {"counties20", "counties100"}:
        cu = instances.counties()
        if "counties20" in only:
            results.append(run_instance("counties20", cu, 20, three, 30, args.peer_timeout,
                                        anneal_budget=_budget(args, 30)))
        if "counties100" in only:
            results.append(run_instance("counties100", cu, 100, three, 60, args.peer_timeout))
    if "demo40" in only:
        units, _, _ = instances.demo_region_zips()
        results.append(run_instance("demo40", units, 40, three, 30, args.peer_timeout, anneal_budget=_budget(args, 30)))
    if only & {"zips500", "zips500m"}:
        zu = instances.all_zips()
        if "zips500" in only:
            results.append(run_instance("zips500", zu, 500, {"workload": 0.05}, 280, args.peer_timeout))
        if "zips500m" in only:
            results.append(run_instance("zips500m", zu, 500, three, 280, args.peer_timeout, anneal_budget=0))
    real = {"real_pz": ("pop_est", "zip_count"), "real_cz": ("cities", "zip_count"),
            "real_za": ("zip_count", "land_km2"), "real_pza": ("pop_est", "zip_count", "land_km2")}
    if only & set(real):
        ru = instances.county_real_measures()
        for name, ms in real.items():
            if name in only:
                results.append(run_instance(name, ru, 20, {m: 0.05 for m in ms}, args.real_time_limit,
                                            args.peer_timeout, anneal_budget=_budget(args, args.real_time_limit)))
    if "realign" in only:
        results.append(run_realign(60))
    if "realign25" in only:
        results.append(run_realign(60, legacy="spread25"))
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


if __name__ == "__main__":
    main()
