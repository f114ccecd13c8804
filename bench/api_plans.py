"""API throughput and latency: reading a plan and moving a unit, 20 concurrent clients on
loopback, against the real server process (``territorium serve``, one uvicorn worker) on
SQLite and on PostgreSQL, with an all-US-ZIP plan (the 30,006 standard ZIPs of ``zipcodes``,
500 territories).

Scenarios (each ``--seconds`` long, 20 client threads with their own HTTP connection and an
API token):

- ``read``: GET /api/plans/{p}/content (the whole plan is read from the database: 30k units
  counted per territory, 500 territories with reps and quotas);
- ``move (own scenario)``: every client moves random units in its own copy of the plan,
  carrying the version from one answer to the next (no contention: the write path itself);
- ``move (one plan)``: all 20 clients move units in the same plan, each sending the version
  it last saw; most writes lose the race and get 409 (counted apart), the winners commit.

Prints a markdown table (``--json`` for machines) with the server process's CPU time per
request (Linux) and the 1-minute load average at the end of each scenario. ``--pg URL`` (default
``TERRITORIUM_TEST_PG_URL`` or the local CI server) adds PostgreSQL; ``--no-pg`` skips it,
``--no-sqlite`` skips SQLite. Each finished scenario is also written to stderr as one JSON line.

    python bench/api_plans.py --seconds 10
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

CLIENTS = 20
TERRITORIES = 500
PG_DEFAULT = "postgresql+psycopg://territorium:territorium@localhost:5432/territorium_test"


def zip_plan() -> dict[str, str]:
    import zipcodes

    z = sorted(x["zip_code"] for x in zipcodes.list_all() if x["zip_code_type"] == "STANDARD")
    per = -(-len(z) // TERRITORIES)
    return {u: f"T{i // per:03d}" for i, u in enumerate(z)}


def setup(url: str, units: dict[str, str]) -> tuple[str, float]:
    """Plan ``bench`` + one scenario copy per client; returns (token, setup seconds)."""
    from territorium import store
    from territorium.plan import plans
    from territorium.plan import users as U

    t0 = time.perf_counter()
    eng = store.engine(url)
    store.upgrade(eng)
    terr = {t: {"reps": [f"R{t[1:]}"], "quota": 1000.0, "parent": f"A{int(t[1:]) // 50:02d}"}
            for t in sorted(set(units.values()))}
    terr.update({f"A{i:02d}": {"manager": f"M{i:02d}"} for i in range(TERRITORIES // 50)})
    plans.create_plan(eng, "bench", units=units, territories=terr, actor="bench")
    for i in range(CLIENTS):
        plans.copy_plan(eng, "bench", f"bench-{i:02d}", actor="bench")
    U.create_user(eng, "bench", role="planner")
    token = U.create_token(eng, "bench", "bench")
    eng.dispose()
    return token, time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(url: str, log: Path, threads: int | None = None) -> tuple[subprocess.Popen, str]:
    """The server on a free port, its output in ``log`` (shown when it does not come up)."""
    port = free_port()
    env = {**os.environ, "TERRITORIUM_ADMIN_PASSWORD": "bench-admin-password"}
    extra = [] if threads is None else ["--threads", str(threads)]
    with log.open("wb") as out:
        p = subprocess.Popen([sys.executable, "-m", "territorium.cli", "serve", "--port", str(port), "--database",
                              url, "--log-level", "warning", *extra], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and p.poll() is None:
        try:
            r = httpx.get(f"{base}/api/health", timeout=2)
            if r.status_code == 200 and r.json().get("status") == "ok":
                return p, base
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    p.kill()
    tail = log.read_text(errors="replace")[-2000:]
    raise SystemExit(f"server did not start (exit code {p.poll()}):\n{tail}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def run(base: str, token: str, seconds: float, kind: str, units: list[str], terrs: list[str],
        server_pid: int | None = None) -> dict:
    lat: list[list[float]] = [[] for _ in range(CLIENTS)]
    ok = [0] * CLIENTS
    conflicts = [0] * CLIENTS
    errors = [0] * CLIENTS
    start_at: list[float] = []
    cpu_at: list[float] = []

    def go() -> None:  # every client has read its plan: the measured part starts
        cpu_at.append(cpu_seconds(server_pid) if server_pid else float("nan"))
        start_at.append(time.perf_counter())

    barrier = threading.Barrier(CLIENTS, action=go)

    def client(i: int) -> None:
        rng = random.Random(i)
        plan = f"bench-{i:02d}" if kind == "own" else "bench"
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
            version = c.get(f"/api/plans/{plan}").json()["version"]
            barrier.wait()
            stop = start_at[0] + seconds
            while time.perf_counter() < stop:
                t = time.perf_counter()
                if kind == "read":
                    r = c.get(f"/api/plans/{plan}/content")
                else:
                    r = c.post(f"/api/plans/{plan}/moves", json={
                        "moves": {rng.choice(units): rng.choice(terrs)}, "expected_version": version})
                lat[i].append(time.perf_counter() - t)
                if r.status_code == 200:
                    ok[i] += 1
                    if kind != "read":
                        version = r.json()["version"]
                elif r.status_code == 409:
                    conflicts[i] += 1
                    version = r.json()["current_version"]
                elif r.status_code == 400 and "nothing to change" in r.text:
                    ok[i] += 1  # the unit was already there: a valid no-op answer
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = (cpu_seconds(server_pid) if server_pid else float("nan")) - cpu_at[0]
    wall = seconds + float(np.median([x[-1] for x in lat if x]))  # the last requests end after the deadline
    a = np.concatenate([np.asarray(x) for x in lat]) * 1000
    return {"requests": int(a.size), "req_s": a.size / wall, "ok": sum(ok), "conflicts_409": sum(conflicts),
            "errors": sum(errors), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "max_ms": float(a.max()), "server_cpu_ms": cpu * 1000 / max(a.size, 1)}


def bench_db(name: str, url: str, seconds: float, units: dict[str, str], threads: int | None = None) -> list[dict]:
    token, setup_s = setup(url, units)
    server, base = start(url, Path(tempfile.gettempdir()) / f"bench-api-{name}-{os.getpid()}.log", threads)
    rows = []
    try:
        ids, terrs = list(units), sorted(set(units.values()))
        for kind, label in (("read", "read plan"), ("own", "move (own scenario)"), ("one", "move (one plan)")):
            # with the server's CPU per answered request: a figure the load average blurs far less
            r = run(base, token, seconds, kind, ids, terrs, server.pid)
            rows.append({"database": name, "scenario": label, **r, "setup_s": setup_s, "threads": threads,
                         "load_1min": os.getloadavg()[0]})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress, in case the run is cut short
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--pg", default=os.environ.get("TERRITORIUM_TEST_PG_URL") or PG_DEFAULT)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="serve --threads (default: the server's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    units = zip_plan()
    rows = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as d:
            rows += bench_db("SQLite", f"sqlite:///{Path(d) / 'bench.db'}", args.seconds, units, args.threads)
    if not args.no_pg:
        import sqlalchemy as sa

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        try:
            admin = sa.create_engine(args.pg, connect_args={"connect_timeout": 3})
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        except Exception as exc:  # no server
            print(f"PostgreSQL skipped: {type(exc).__name__}", file=sys.stderr)
        else:
            sep = "&" if "?" in args.pg else "?"
            url = f"{args.pg}{sep}options=-csearch_path%3D{schema}"
            try:
                rows += bench_db("PostgreSQL", url, args.seconds, units, args.threads)
            finally:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{len(units):,} units, {TERRITORIES} territories, {CLIENTS} clients, {args.seconds:.0f} s per scenario, "
          f"server threads {args.threads or 'default'}\n")
    print("| database | scenario | requests/s | ok | 409 | errors | p50 ms | p95 ms | max ms | server CPU ms/request "
          "| load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['database']} | {r['scenario']} | {r['req_s']:.1f} | {r['ok']:,} | {r['conflicts_409']:,} | "
              f"{r['errors']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['max_ms']:.0f} | {r['server_cpu_ms']:.2f} | "
              f"{r['load_1min']:.1f} |")
    print("\nsetup (plan + 20 scenario copies): " + ", ".join(
        f"{r['database']} {r['setup_s']:.0f} s" for r in rows if r["scenario"] == "read plan"))


if __name__ == "__main__":
    main()
