"""The web map in a real browser (Debian's chromium via Playwright) against a real server:
time to the first meaningful paint (log in → the plan's map drawn and idle) and the map
request itself, the map document's size, and a one-unit move's balance update in the page.

    python bench/web_map.py [--units demo|counties|zips-us] [--k K] [--size small|medium] [--repeat 3]
                            [--db WORKSPACE.db]

``--units demo`` (default): the demo company of ``--size`` (ZIP units of its 9 states), plan
``demo`` from its imported alignment (tests/e2e/_webws.py). ``--units counties``: the small
demo plus accounts in every contiguous state, so the workspace's county units are the 3,108
counties of the lower 48 and DC (plotly-geo via territorium.geo); plan ``demo`` is a k-means
alignment of the county centres (``--k``, default 100). ``--units zips-us``: the same
workspace with ZIP units (about 29k cells), k-means with ``--k`` 500.

``--db``: a copy of that workspace (plan ``demo``, user ``planner``, e.g. the ``web.db`` a
former run left in its temporary folder, printed at the end) instead of a new one, so runs of
two versions of the code see the same plan.

The first request after a server start is reported apart as "cold" (the server builds the
unit level's geography, or reads its map geometry from the disk cache and pre-warms it); the
paint figures are with a warm server, as a planner meets it after the first user. Each run
moves one unit, so each warm run reads a new plan version. "Where the time goes" is the
page's own clock (``S.timing`` in web/src/mapdata.js): the head read and the page set up, the
geometry fetched and parsed by MapLibre's worker (on the first load it starts with the plan
list's version, alongside the head request), every visible tile built, idle, and the number of
frames drawn meanwhile, each as seconds from the log-in click.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _add_us_accounts(demo: Path, per_state: int = 3) -> None:
    """Append ``per_state`` accounts at real ZIPs of every contiguous state to the demo's
    accounts file (so the workspace's units cover the lower 48 and DC)."""
    import csv

    from territorium.geo.reference import CONTIGUOUS, zip_table

    z = zip_table()
    z = z[(z["zip_type"] == "STANDARD") & z["active"]]
    path = demo / "accounts.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    tmpl = rows[0]
    k = 0
    for st in CONTIGUOUS:
        for _, r in z[z["state"] == st].sample(per_state, random_state=1).iterrows():
            k += 1
            rows.append({**tmpl, "Id": f"0018d0000BENCH{k:04d}", "Name": f"Bench account {k}", "BillingStreet": "1 Main St",
                         "BillingCity": r["city"], "BillingState": st, "BillingPostalCode": r["zip"]})
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(tmpl), quoting=csv.QUOTE_ALL)
        w.writeheader()
        w.writerows(rows)


def _kmeans_workspace(src: Path, dst: Path, level: str, k: int) -> int:
    """Copy ``src`` to ``dst`` with plan ``demo``: the workspace's ``level`` units in ``k``
    k-means territories of their centres, and user ``planner``; returns the unit count."""
    import shutil

    import numpy as np
    from sklearn.cluster import KMeans

    from _webws import PASSWORD
    from territorium import store
    from territorium.plan import plans
    from territorium.plan import users as U
    from territorium.plan.workspace import Workspace

    shutil.copy(src, dst)
    eng = store.engine(f"sqlite:///{dst}")
    t = Workspace(engine=eng).load_units(level).units.table
    xy = np.c_[t["lon"].to_numpy() * np.cos(np.radians(t["lat"].to_numpy())), t["lat"].to_numpy()]
    lab = KMeans(k, n_init=1, random_state=0).fit_predict(xy)
    tids = [f"T{i:03d}" for i in range(k)]
    plans.create_plan(eng, "demo", units=dict(zip(t["unit_id"].astype(str), (tids[i] for i in lab))),
                      territories={x: {"name": x} for x in tids}, actor="bench", unit_level=level,
                      reason="k-means alignment")
    U.create_user(eng, "planner", role="planner", password=PASSWORD)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return len(t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", choices=("demo", "counties", "zips-us"), default="demo")
    ap.add_argument("--k", type=int, default=None, help="territories (counties: 100, zips-us: 500)")
    ap.add_argument("--size", default="small")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", type=Path, default=None, help="copy this workspace instead of making one")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from _webws import PASSWORD, make_workspace
    from territorium.data import import_directory
    from territorium.data.demo import generate

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    if a.db is not None:
        import shutil

        shutil.copy(a.db, tmp / "web.db")
    else:
        generate(tmp / "demo", seed=7, size=a.size)
        if a.units != "demo":
            _add_us_accounts(tmp / "demo")
        assert import_directory(tmp / "demo", url=f"sqlite:///{tmp / 'demo' / 'ws.db'}", replace=True).ok
        if a.units == "demo":
            make_workspace(tmp / "demo" / "ws.db", tmp / "web.db")
        else:
            level = "county" if a.units == "counties" else "zip"
            _kmeans_workspace(tmp / "demo" / "ws.db", tmp / "web.db", level, a.k or (100 if level == "county" else 500))
        import shutil

        shutil.copy(tmp / "web.db", tmp / "workspace.db")   # as made, for --db
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "territorium.cli", "serve", "--port", str(port),
                             "--database", f"sqlite:///{tmp / 'web.db'}", "--log-level", "warning"])
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            paints, page_paints, fetches, moves, cold, parts = [], [], [], [], None, []
            for k in range(a.repeat + 1):
                pg = b.new_page(viewport={"width": 1366, "height": 768})
                pg.on("pageerror", lambda e: print("page error:", e, file=sys.stderr))
                pg.goto(url + "/")
                pg.get_by_label("User name").fill("planner")
                pg.get_by_label("Password").fill(PASSWORD)
                pg.evaluate("() => { window.__click = performance.now(); }")
                t0 = time.perf_counter()
                pg.get_by_role("button", name="Log in").click()
                pg.wait_for_selector("body[data-ready='1']", timeout=600_000)
                dt = time.perf_counter() - t0
                page_dt = pg.evaluate("() => window.__territorium.painted - window.__click") / 1000
                n = pg.evaluate("() => window.__territorium.unitT.length")
                fetch = pg.evaluate("() => window.__territorium.timing.fetched") / 1000
                part = pg.evaluate(_PARTS)
                if k == a.repeat:   # bytes at detail 0: the whole document, and what the page asks
                    sizes = {part: len(pg.request.get(f"{url}/api/plans/demo/map?detail=0&part={part}",
                                                      timeout=0).body())
                             for part in ("all", "head", "shapes&borders=territory")}
                moves.append(_move_ms(pg))
                if k == 0:
                    cold = dt
                else:
                    paints.append(dt)
                    page_paints.append(page_dt)
                    fetches.append(fetch)
                    parts.append(part)
                pg.close()
            b.close()
        what = f"{a.size} demo ZIP units" if a.units == "demo" else f"{a.units} units"
        print(f"{n:,} {what}, chromium {a.repeat} runs (loopback, machine shared):")
        print(f"  cold server (first request after the start): {cold:.2f} s to the first paint")
        print(f"  warm: first meaningful paint median {statistics.median(paints):.2f} s "
              f"(min {min(paints):.2f}), of which the map request {statistics.median(fetches):.2f} s")
        print(f"  warm, by the page's clock (log-in click to the map's first idle): median "
              f"{statistics.median(page_paints):.2f} s")
        print(f"  map at detail 0: whole document {sizes['all'] / 1e6:.2f} MB ({sizes['all'] / n:,.0f} bytes per unit); "
              f"part=head {sizes['head'] / 1e6:.2f} MB, part=shapes {sizes['shapes&borders=territory'] / 1e6:.2f} MB "
              "(a server without parts answers the whole document to each)")
        print(f"  a one-unit move's balance update in the page: median {statistics.median(moves):.1f} ms "
              f"(max {max(moves):.1f})")
        if parts and all(parts):
            med = {k: statistics.median(p[k] for p in parts) for k in parts[0]}
            print("  where the warm paint's time goes (page clock from the log-in click, medians): " + ", ".join(
                f"{label} at {med[k]:.2f} s" for k, label in _LABELS) + f"; {med['frames']:.0f} frames drawn")
        print(f"  workspace: {tmp / 'workspace.db' if a.db is None else a.db}")
    finally:
        proc.terminate()
        proc.wait(10)


# the page's S.timing as seconds from the log-in click; None when the page has no timing
_PARTS = """() => { const S = window.__territorium, T = S.timing, c = window.__click;
    if (!T || !T.drawn || !T.geometry || !T.tiles) return null;
    return { head: (T.drawn - c) / 1000, geometry: (T.geometry - c) / 1000, tiles: (T.tiles - c) / 1000,
             idle: (S.painted - c) / 1000, frames: T.frames }; }"""
_LABELS = (("head", "head read and page set up"), ("geometry", "geometry fetched and parsed by the worker"),
           ("tiles", "visible tiles built"), ("idle", "idle"))


def _move_ms(pg) -> float:
    """Select one unit with a neighbour in another territory and move it there (the page's own
    controls); the page's timing of the balance update (totals, bars, colours, borders)."""
    return pg.evaluate("""async () => {
        const S = window.__territorium;
        const e = S.data.edges.find(([a, b]) => S.unitT[a] >= 0 && S.unitT[b] >= 0 && S.unitT[a] !== S.unitT[b]);
        const to = S.data.territories[S.unitT[e[1]]].id;
        const sel = document.getElementById("target");
        sel.value = to; sel.dispatchEvent(new Event("change"));
        S.sel.clear(); S.sel.add(e[0]);
        document.getElementById("move").disabled = false;
        document.getElementById("move").click();
        await S.saving;
        return S.lastBalanceMs; }""")


if __name__ == "__main__":
    main()
