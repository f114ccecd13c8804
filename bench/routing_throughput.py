"""Benchmark: bulk routing of 100,000 accounts with a 30-rule set.

Territorium's router evaluates each rule as one boolean mask over all accounts (text tests
run once per distinct value) and keeps a running "still unrouted" mask. The peer is what a
CRM assignment engine does: a Python loop over accounts, trying rules in order until one
matches (``territorium.routing.reference``, the same semantics — the two are checked to
agree). The peer is timed on 5,000 accounts and scaled linearly to the full count.

Synthetic accounts (seeded): state, ZIP (some ZIP+4, some missing), industry, segment, tier,
employees, annual revenue, potential, product lines, account type, lat/lon, workload. The
30 rules use every operator (equals, in, not_in, ZIP and number ranges, prefix, regex,
missing, contains, any/all) and every target kind (territory, rep, round robin, least
loaded, nearest territory), with a nearest-territory + least-loaded fallback.

    python bench/routing_throughput.py                # 100,000 accounts, peer on 5,000
    python bench/routing_throughput.py --accounts 20000 --peer 2000 --json
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

STATES = ["NY", "NJ", "PA", "CT", "MA", "RI", "NH", "VT", "ME"]
CENTRE = {"NY": (42.9, -75.5), "NJ": (40.1, -74.5), "PA": (40.9, -77.8), "CT": (41.6, -72.7), "MA": (42.3, -71.8),
          "RI": (41.7, -71.5), "NH": (43.7, -71.6), "VT": (44.0, -72.7), "ME": (45.3, -69.2)}
ZIP0 = {"NY": 10000, "NJ": 7000, "PA": 15000, "CT": 6000, "MA": 1000, "RI": 2800, "NH": 3000, "VT": 5000, "ME": 3900}


def accounts(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    st = rng.choice(STATES, n, p=[.3, .15, .15, .08, .14, .04, .05, .04, .05])
    z = np.array([ZIP0[s] for s in st]) + rng.integers(0, 4000, n)
    zips = np.char.zfill(z.astype(str), 5).astype(object)
    plus4 = rng.random(n) < 0.1
    zips[plus4] = [x + "-0001" for x in zips[plus4]]
    zips[rng.random(n) < 0.01] = None
    lat = np.array([CENTRE[s][0] for s in st]) + rng.normal(0, 0.6, n)
    lon = np.array([CENTRE[s][1] for s in st]) + rng.normal(0, 0.6, n)
    lat[rng.random(n) < 0.01] = np.nan
    ind = rng.choice(["Salon", "Spa", "Boutique", "Pharmacy", "Department Store", "Medspa"], n,
                     p=[.35, .15, .2, .15, .05, .1])
    emp = np.round(rng.lognormal(2.2, 1.1, n))
    seg = np.where(emp >= 150, "Enterprise", np.where(emp >= 25, "Mid-Market", "SMB"))
    lines = np.array(["Skincare", "Haircare", "Fragrance", "Apparel", "Skincare;Fragrance", "Haircare;Apparel",
                      "Skincare;Haircare;Fragrance"], dtype=object)
    return pd.DataFrame({
        "account_id": [f"A{i:07d}" for i in range(n)],
        "name": rng.choice(["The Glow Spa", "Salon Nine", "Corner Pharmacy", "Rose Boutique", "Main St Medspa",
                            "Grand Department Store", "The Hair Lab"], n),
        "state": st, "zip": zips, "industry": ind, "segment": seg,
        "tier": rng.choice(["A", "B", "C"], n, p=[.15, .35, .5]),
        "employees": emp, "annual_revenue": np.round(emp * rng.lognormal(11.5, 0.5, n), -3),
        "potential": np.round(emp * rng.lognormal(8.5, 0.6, n), -2),
        "product_lines": rng.choice(lines, n),
        "account_type": rng.choice(["Customer - Direct", "Customer - Channel", "Prospect"], n, p=[.5, .15, .35]),
        "lat": lat, "lon": lon, "workload": np.round(rng.gamma(2, 8, n), 1),
    })


def rules_yaml() -> str:
    r = ["teams:", "  east: [R01, R02, R03, R04]", "  west: [R05, R06, R07]", "  care: [R08, R09, R10]",
         "  key: [R11, R12]", "rules:"]

    def rule(name, when, assign):
        r.extend([f"  - name: {name}", f"    when: {when}", f"    assign: {assign}"])

    rule("house", "{industry: Department Store, segment: Enterprise}", "{team: key, method: least_loaded}")
    rule("nyc-metro", '{zip: {between: ["10000", "11999"]}, segment: {in: [Enterprise, Mid-Market]}}', "{team: east}")
    rule("medspa", "{industry: {prefix: Med}}", "{team: care, method: least_loaded}")
    rule("the-names", '{name: {regex: "^The "}, tier: A}', "{rep: R13}")
    rule("no-zip", "{zip: {missing: true}}", "{least_loaded: all}")
    rule("channel", '{account_type: {prefix: "Customer - Channel"}, state: [NY, NJ]}', "nearest_territory")
    for k, s in enumerate(STATES):
        rule(f"{s.lower()}-enterprise", f"{{state: {s}, employees: {{range: [150, null]}}}}", f"{{territory: T{k + 1:02d}}}")
    for k, s in enumerate(STATES):
        rule(f"{s.lower()}-fragrance", f"{{state: {s}, product_lines: {{contains: Fragrance}}, tier: [A, B]}}",
             f"{{territory: T{k + 10:02d}}}")
    rule("pharmacy-big", "{industry: Pharmacy, annual_revenue: {range: [2000000, null]}}", "{team: west}")
    rule("prospects-high", "{account_type: Prospect, potential: {range: [50000, null]}}", "{least_loaded: west}")
    rule("new-england", "{state: {in: [NH, VT, ME]}, segment: {not_in: [SMB]}}", "{territory: T19}")
    rule("boutiques", "{industry: Boutique, product_lines: {contains: [Apparel]}}", "{team: care}")
    rule("salons-pa", '{any: [{zip: {prefix: ["15", "16", "17"]}}, {state: PA}], industry: Salon}', "{territory: T20}")
    rule("tier-c-small", "{tier: C, employees: {range: [null, 3]}}", "nearest_territory")
    r += ["fallback:", "  - nearest_territory", "  - {least_loaded: all}"]
    return "\n".join(r) + "\n"


def context(acc: pd.DataFrame):
    from territorium.routing import RoutingContext

    terr = [f"T{k:02d}" for k in range(1, 21)]
    reps = [f"R{k:02d}" for k in range(1, 21)]
    cen = pd.DataFrame({"territory": terr,
                        "lat": [CENTRE[STATES[k % 9]][0] + 0.3 * (k // 9) for k in range(20)],
                        "lon": [CENTRE[STATES[k % 9]][1] - 0.3 * (k // 9) for k in range(20)]})
    rng = np.random.default_rng(1)
    geo = np.where(rng.random(len(acc)) < 0.9, np.asarray(terr, dtype=object)[rng.integers(0, 20, len(acc))], None)
    return RoutingContext(territories=terr, territory_rep=dict(zip(terr, reps)),
                          rep_load={r: float(rng.gamma(5, 200)) for r in reps}, geo_territory=geo,
                          territory_centres=cen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--peer", type=int, default=5_000, help="accounts the per-account loop is timed on")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from territorium.routing import infer_field_kinds, parse_yaml, route
    from territorium.routing.masks import Evaluator
    from territorium.routing.reference import first_match

    acc = accounts(args.accounts, args.seed)
    rs = parse_yaml(rules_yaml(), source="bench.yaml")
    assert rs.ok and len(rs.rules) == 30, rs.parse_issues
    kinds = infer_field_kinds(acc)
    ctx = context(acc)

    # ours: rule matching only (masks + first match), then the full route() with targets
    t0 = time.perf_counter()
    ev = Evaluator(acc, kinds)
    idx = np.full(len(acc), -1)
    free = np.ones(len(acc), bool)
    for i, r in enumerate(rs.rules):
        m = ev.mask(r.when)
        idx[m & free] = i
        free &= ~m
    t_match = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = route(rs, acc, ctx)
    t_route = time.perf_counter() - t0

    # peer: per-account loop over rules, on a sample, scaled
    sample = acc.iloc[: args.peer]
    t0 = time.perf_counter()
    recs = sample.to_dict("records")
    peer_idx = first_match(rs, recs, kinds)
    t_peer = time.perf_counter() - t0
    t_peer_full = t_peer * len(acc) / len(sample)
    agree = bool(np.array_equal(np.asarray(peer_idx), idx[: len(sample)]))

    rows = [
        {"method": "Territorium: rule masks + first match (vectorised)", "accounts": len(acc), "seconds": t_match},
        {"method": "Territorium: route() incl. targets, fallbacks, explanations", "accounts": len(acc), "seconds": t_route},
        {"method": f"peer: per-account loop over rules (timed on {len(sample):,}, scaled)", "accounts": len(acc),
         "seconds": t_peer_full},
    ]
    for r in rows:
        r["accounts_per_s"] = r["accounts"] / r["seconds"]
        r["vs_peer"] = t_peer_full / r["seconds"]
    summary = {"rows": rows, "rules": len(rs.rules), "agree_on_sample": agree, "unrouted": res.unrouted,
               "via": res.table["via"].value_counts().to_dict(), "target_s": 5.0}
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"## Routing throughput: {len(acc):,} accounts × {len(rs.rules)} rules\n")
    print("| method | accounts | seconds | accounts/s | × peer |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['accounts']:,} | {r['seconds']:.2f} | {r['accounts_per_s']:,.0f} | "
              f"{r['vs_peer']:.1f} |")
    print(f"\nSame first-matching rule as the peer on all {len(sample):,} sampled accounts: "
          f"{'yes' if agree else 'NO'}. Routed by rule / fallback: "
          f"{summary['via'].get('rule', 0):,} / {summary['via'].get('fallback', 0):,}; unrouted {res.unrouted}. "
          f"Target: 100,000 accounts in a few seconds ({'pass' if t_route < 5 else 'FAIL'}: {t_route:.1f} s).")


if __name__ == "__main__":
    main()
