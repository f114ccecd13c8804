"""Benchmark: build county and ZIP units for the whole US, cold (empty cache) and warm.

Each measurement runs in a fresh Python process (so no in-memory caches help), timing only
the ``build_units`` call: *cold* starts from an empty cache folder and includes reading the
Census shapefile, the ZIP table, Voronoi cells, adjacency, virtual edges and writing the
cache; *warm* reads the entry the cold run wrote. Targets on 2 cores: county < 10 s,
ZIP < 60 s (cold).

    python bench/units_build.py            # markdown table
    python bench/units_build.py --json
    python bench/units_build.py --levels county
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TARGETS = {"state": 10.0, "county": 10.0, "zip": 60.0}


def _one(level: str) -> dict:
    from territorium.geo import build_units

    t0 = time.perf_counter()
    u = build_units(level, cache=True)
    dt = time.perf_counter() - t0
    return {
        "seconds": round(dt, 2),
        "units": u.n,
        "edges": int(u.adjacency.n_edges),
        "virtual_edges": int(len(u.adjacency.virtual_edges())),
        "components": int(u.adjacency.n_components()),
    }


def _peer_county_adjacency() -> dict:
    """What a user would write by hand: read the county file, STRtree 'touches' pairs."""
    import geopandas as gpd
    import numpy as np
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    from territorium.geo.sources import COUNTY_FILE, package_data_dir

    t = time.perf_counter()
    g = gpd.read_file(package_data_dir() / COUNTY_FILE)
    left, right = g.sindex.query(g.geometry, predicate="touches")
    keep = left < right
    n = len(g)
    m = coo_array((np.ones(keep.sum()), (left[keep], right[keep])), shape=(n, n))
    comps = int(connected_components(m, directed=False)[0])
    return {"seconds": time.perf_counter() - t, "edges": int(keep.sum()), "components": comps, "units": n}


def _run(level: str, cache_dir: str) -> dict:
    env = dict(os.environ, TERRITORIUM_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, __file__, "--one", level], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="county,zip", help="comma-separated levels (state, county, zip)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(_one(a.one)))
        return 0
    rows = []
    for level in [s.strip() for s in a.levels.split(",") if s.strip()]:
        with tempfile.TemporaryDirectory(prefix="territorium-bench-") as d:
            cold = _run(level, d)
            warm = _run(level, d)
        rows.append({"level": level, "cold_s": cold["seconds"], "warm_s": warm["seconds"],
                     "target_s": TARGETS.get(level), "ok": cold["seconds"] < TARGETS.get(level, 1e9),
                     **{k: cold[k] for k in ("units", "edges", "virtual_edges", "components")}})
    peer = _peer_county_adjacency() if "county" in a.levels else None
    if a.json:
        print(json.dumps({"cpus": os.cpu_count(), "python": sys.version.split()[0], "results": rows,
                          "peer_county_adjacency": peer}, indent=1))
    else:
        print(f"Unit builds, all US (50 states + DC + PR), {os.cpu_count()} CPUs\n")
        print("| level | units | edges | virtual | components | cold s | warm s | target s | ok |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|:-:|")
        for r in rows:
            print(f"| {r['level']} | {r['units']:,} | {r['edges']:,} | {r['virtual_edges']} | "
                  f"{r['components']} | {r['cold_s']:.2f} | {r['warm_s']:.2f} | {r['target_s']:.0f} | "
                  f"{'yes' if r['ok'] else 'NO'} |")
        if peer:
            ours = next(r for r in rows if r["level"] == "county")
            print("\nPeer, same run: county adjacency alone with geopandas + shapely STRtree "
                  "`query(predicate='touches')` (queen contiguity, no projection, no islands, no cache)\n")
            print("| what | seconds | edges | components | ours / peer |")
            print("|---|---:|---:|---:|---:|")
            print(f"| Territorium county units (read, project, rook adjacency, islands linked) | "
                  f"{ours['cold_s']:.2f} | {ours['edges']:,} | {ours['components']} | 1.00 |")
            print(f"| STRtree touches | {peer['seconds']:.2f} | {peer['edges']:,} | {peer['components']} | "
                  f"{ours['cold_s'] / peer['seconds']:.2f} |")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
