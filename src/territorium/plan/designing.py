"""Design job: workspace data in, alignment files and report out.

Parses the user's files (locks, current alignment), maps them onto units, builds rep-home
centres and capacity targets, calls the pure engine and writes the results. Every input
problem raises :class:`DesignJobError` with a message naming the file, row and value.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from territorium.data.cells import write_csv
from territorium.design import design, tradeoff
from territorium.design.engine import DesignInputError, DesignResult
from territorium.model import Units
from territorium.plan._files import pick_column, read_table
from territorium.plan.targets import design_rep_pool, label_shares, rep_capacity
from territorium.plan.workspace import UnitLoad, Workspace, WorkspaceError, fill_unassigned

__all__ = [
    "DesignJobError",
    "DesignJob",
    "parse_balance",
    "parse_fraction",
    "read_locks",
    "read_current",
    "rep_centers",
    "run_design",
    "write_alignment",
    "plot_tradeoff",
]


class DesignJobError(Exception):
    """A problem with the user's design inputs (message written for the user)."""


def parse_fraction(text: str, what: str = "value") -> float:
    """``"5%"`` → 0.05, ``"0.05"`` → 0.05, ``"5"`` → 0.05 (numbers above 1 read as percent).

    >>> parse_fraction("5%"), parse_fraction("0.08"), parse_fraction("10")
    (0.05, 0.08, 0.1)
    """
    s = str(text).strip()
    pct = s.endswith("%")
    try:
        v = float(s.rstrip("%").strip())
    except ValueError:
        raise DesignJobError(f"{what}: {text!r} is not a number or percentage") from None
    if pct or v > 1:
        v /= 100.0
    if not 0 <= v <= 1:
        raise DesignJobError(f"{what}: {text!r} must be between 0% and 100%")
    return v


def parse_balance(specs: Sequence[str]) -> dict[str, float]:
    """``["workload:5%", "potential:8%"]`` → ``{"workload": 0.05, "potential": 0.08}``.

    >>> parse_balance(["workload:5%", "account_count"])
    {'workload': 0.05, 'account_count': 0.05}
    """
    out: dict[str, float] = {}
    for spec in specs:
        name, _, tol = spec.partition(":")
        name = name.strip()
        if not name:
            raise DesignJobError(f"--balance {spec!r}: expected MEASURE[:TOLERANCE], e.g. workload:5%")
        out[name] = parse_fraction(tol, f"--balance {spec}") if tol else 0.05
    return out


def _read_table(path: Path) -> pd.DataFrame:
    return read_table(path, DesignJobError)


_pick = pick_column


def _norm_zip(s: pd.Series) -> pd.Series:
    z = s.astype(str).str.strip().str.split("-").str[0]
    return z.where(~z.str.fullmatch(r"\d{1,4}"), z.str.zfill(5))


def _unit_positions(df: pd.DataFrame, path: Path, load: UnitLoad) -> tuple[np.ndarray, str]:
    """Unit position of every row of a locks / alignment file (by unit_id, zip or account_id)."""
    from territorium.geo import locate

    units = load.units
    col = _pick(df, ["unit_id", "unit", "zip", "zip_code", "postal_code", "account_id", "account", "id"])
    if col is None:
        raise DesignJobError(
            f"{path}: needs a column unit_id, zip or account_id (found: {', '.join(df.columns)})"
        )
    key = col.strip().lower().replace(" ", "_")
    vals = df[col].astype(str).str.strip()
    if key.startswith("account") or key == "id" and units.level == "account":
        acc = load.accounts.set_index(load.accounts["account_id"].astype(str))["unit"]
        pos = acc.reindex(vals).fillna(-1).to_numpy(dtype=np.int64)
    elif key.startswith("zip") or key == "postal_code" or (units.level == "zip" and key in ("unit", "unit_id")):
        pos = locate(units, zips=_norm_zip(vals).to_numpy(dtype=object))
        if key in ("unit", "unit_id"):
            direct = pd.Index(units.table["unit_id"].astype(str)).get_indexer(vals)
            pos = np.where(direct >= 0, direct, pos)
    else:
        pos = pd.Index(units.table["unit_id"].astype(str)).get_indexer(vals)
    bad = np.flatnonzero(pos < 0)
    if len(bad):
        rows = ", ".join(f"row {i + 2} ({vals.iloc[i]!r})" for i in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DesignJobError(f"{path}: column {col!r}: no such unit in this unit set: {rows}{more}")
    return pos, col


def read_locks(path: Path, load: UnitLoad, labels: Sequence[str]) -> dict[int, int]:
    """Locks file (columns: unit_id | zip | account_id, territory) → {unit position: territory}."""
    df = _read_table(path)
    tcol = _pick(df, ["territory", "territory_id", "terr"])
    if tcol is None:
        raise DesignJobError(f"{path}: needs a column 'territory' (found: {', '.join(df.columns)})")
    pos, _ = _unit_positions(df, path, load)
    lab = pd.Series(np.arange(len(labels)), index=[str(x) for x in labels])
    terr = df[tcol].astype(str).str.strip()
    t = lab.reindex(terr).to_numpy()
    bad = np.flatnonzero(pd.isna(t))
    if len(bad):
        rows = ", ".join(f"row {i + 2} ({terr.iloc[i]!r})" for i in bad[:5])
        raise DesignJobError(f"{path}: column {tcol!r}: unknown territory in {rows}; "
                             f"territories are {', '.join(map(str, labels[:8]))}{'...' if len(labels) > 8 else ''}")
    locks: dict[int, int] = {}
    for r, (p, tt) in enumerate(zip(pos, t.astype(np.int64))):
        if p in locks and locks[p] != tt:
            raise DesignJobError(f"{path}: row {r + 2}: unit {load.units.ids[p]} locked to two territories "
                                 f"({labels[locks[p]]} and {labels[tt]})")
        locks[int(p)] = int(tt)
    return locks


def read_current(path: Path | None, ws: Workspace, load: UnitLoad) -> tuple[np.ndarray, list[str], int]:
    """Current alignment from a file (unit_id | zip, territory) or the imported one (path None).

    Returns (territory per unit, territory labels, number of units the alignment did not
    cover, which took a neighbour's territory)."""
    if path is None:
        try:
            cur, labels = ws.current_alignment(load.units)
        except WorkspaceError as exc:
            raise DesignJobError(str(exc)) from None
    else:
        df = _read_table(path)
        tcol = _pick(df, ["territory", "territory_id", "terr"])
        if tcol is None:
            raise DesignJobError(f"{path}: needs a column 'territory' (found: {', '.join(df.columns)})")
        pos, _ = _unit_positions(df, path, load)
        labels = sorted(df[tcol].astype(str).str.strip().unique())
        t = pd.Series(np.arange(len(labels)), index=labels).reindex(df[tcol].astype(str).str.strip()).to_numpy()
        votes = pd.DataFrame({"u": pos, "t": t}).value_counts().reset_index(name="n")
        votes = votes.sort_values(["u", "n", "t"], ascending=[True, False, True]).drop_duplicates("u")
        cur = np.full(load.units.n, -1, dtype=np.int64)
        cur[votes["u"].to_numpy()] = votes["t"].to_numpy()
    missing = int((cur < 0).sum())
    cur = fill_unassigned(load.units, cur)
    return cur, list(labels), missing


def rep_centers(ws: Workspace, units: Units, territories: Sequence[str] | None = None):
    """Rep homes as projected points, with their capacity and labels.

    With ``territories`` (ids of the current alignment), each territory's rep (from the
    imported territories table) gives the centre; otherwise every active rep is one territory.
    Returns (points (k,2), capacity (k,), labels, rep ids).
    """
    from pyproj import Transformer

    reps = ws.table("reps")
    if reps.empty:
        raise DesignJobError("no reps imported: import the Salesforce users export first")
    reps, labels, rep_ids = design_rep_pool(reps, ws.table("territories") if territories is not None else None,
                                            territories)
    if reps["home_lon"].isna().any():
        who = [str(r) for r, v in zip(rep_ids, reps["home_lon"].isna()) if v]
        raise DesignJobError(f"reps without a home location (no valid home ZIP): {', '.join(who[:10])}")
    tr = Transformer.from_crs("EPSG:4326", units.crs, always_xy=True)
    x, y = tr.transform(reps["home_lon"].to_numpy(float), reps["home_lat"].to_numpy(float))
    cap, _ = rep_capacity(reps)   # one definition with the plan's targets (plan/targets.py)
    return np.column_stack([x, y]), cap, labels, rep_ids


@dataclass
class DesignJob:
    """Everything the CLI (or a worker) needs to run one design."""

    level: str = "zip"
    states: Sequence[str] | None = None
    k: int | None = None
    centers: str = "free"  # free | reps
    capacity_targets: bool = False
    #: target share per territory label (a stored plan's capacity targets, ``plan/targets.py``)
    #: for a realignment of ``current``: put in the engine's territory order here
    targets: Mapping[str, float] | None = None
    balance: Mapping[str, float] | None = None
    compactness: str | None = None
    locks: Path | None = None
    frozen: Sequence[str] = ()
    current: Path | None = None
    realign: bool = False
    max_disruption: float | None = None
    disruption: str = "account_count"
    tradeoff_caps: Sequence[float] | None = None
    tradeoff_time_limit: float = 20.0
    seed: int = 0
    time_limit: float = 60.0
    n_jobs: int | None = None
    cancel: object | None = None  # threading.Event: set it to stop early with the best plan so far


#: measures estimated on demand by the potential model (``territorium potential``)
ESTIMATED_MEASURES = ("est_potential", "white_space")


def _with_estimated_potential(ws: Workspace, load: UnitLoad, seed: int) -> UnitLoad:
    """Add the potential model's per-unit ``est_potential`` and ``white_space`` to the units."""
    import dataclasses

    from territorium.plan.analytics import account_frame, run_potential, unit_potential

    rep = run_potential(ws, frame=account_frame(ws, load=load), seed=seed)
    units = load.units.with_measures({"est_potential": unit_potential(rep),
                                      "white_space": unit_potential(rep, "white_space")})
    return dataclasses.replace(load, units=units)


def run_design(job: DesignJob, ws: Workspace | None = None, *, load: UnitLoad | None = None,
               progress: Callable[[float, str], None] | None = None):
    """Run ``job``; returns (UnitLoad, DesignResult, labels, tradeoff DataFrame or None)."""
    ws = ws or Workspace()
    if load is None:
        try:
            load = ws.load_units(job.level, states=job.states)
        except WorkspaceError as exc:
            raise DesignJobError(str(exc)) from None
    balance = dict(job.balance or {"workload": 0.05})
    wanted = list(balance) + ([job.compactness] if job.compactness else [])
    if any(m in ESTIMATED_MEASURES and m not in load.units.table.columns for m in wanted):
        load = _with_estimated_potential(ws, load, job.seed)
    units = load.units
    for m in wanted:
        if m != "units" and m not in units.table.columns:
            raise DesignJobError(f"unknown measure {m!r}; available: account_count, revenue, order_count, "
                                 "customers, potential, workload, est_potential, white_space "
                                 "(and --extra columns)")
    current = labels = None
    if job.realign or job.current is not None or job.tradeoff_caps:
        current, labels, _missing = read_current(job.current, ws, load)
    centers = targets = None
    k = job.k
    if job.centers == "reps":
        pts, cap, rep_labels, _ = rep_centers(ws, units, labels)
        centers = [tuple(p) for p in pts]
        labels = labels or rep_labels
        k = len(centers)
        if job.capacity_targets:
            targets = cap / cap.sum()
    elif job.centers != "free":
        raise DesignJobError(f"--centers must be 'free' or 'reps', not {job.centers!r}")
    if current is not None:
        k = max(k or 0, len(labels))
    if job.targets is not None:
        if targets is not None:
            raise DesignJobError("--capacity-targets and a plan's targets: give only one")
        if current is None or k != len(labels):
            raise DesignJobError("a plan's targets need a realignment of that plan's territories (--from-plan)")
        try:
            targets = label_shares(job.targets, labels)
        except ValueError as exc:
            raise DesignJobError(str(exc)) from None
    if k is None:
        raise DesignJobError("say how many territories: --k N, --centers reps or --from an alignment")
    labels = list(labels) if labels else [f"T{i + 1:02d}" for i in range(k)]
    locks = read_locks(job.locks, load, labels) if job.locks else None
    frozen = None
    if job.frozen:
        unknown = [f for f in job.frozen if f not in labels]
        if unknown:
            raise DesignJobError(f"--freeze: unknown territories {', '.join(unknown)}")
        if current is None:
            raise DesignJobError("--freeze needs a current alignment (--from FILE or --realign)")
        frozen = [labels.index(f) for f in job.frozen]
    kwargs = dict(centers=centers, balance=balance, targets=targets, compactness_weight=job.compactness,
                  locks=locks, frozen=frozen, disruption=job.disruption, seed=job.seed,
                  time_limit=job.time_limit, n_jobs=job.n_jobs, progress=progress, cancel=job.cancel)
    curve = None
    try:
        if job.tradeoff_caps:
            curve = tradeoff(units, current, caps=job.tradeoff_caps,
                             **{**kwargs, "time_limit": min(job.tradeoff_time_limit, job.time_limit)})
        result = design(units, k, current=current, max_disruption=job.max_disruption, **kwargs)
    except DesignInputError as exc:
        raise DesignJobError(str(exc)) from None
    if curve is not None and result.report.disruption is not None:
        # the plan itself closes the curve (with its own cap, or none: cap = NaN)
        rep, d = result.report, result.report.disruption
        row = {"cap": float("nan") if job.max_disruption is None else job.max_disruption,
               "moved": d["moved"], "moved_fraction": d["moved_fraction"], "units_moved": d["units_moved"],
               **{f"max_dev_{m}": v for m, v in rep.max_abs_dev.items()},
               "objective": rep.objective, "status": rep.status}
        curve = pd.concat([curve, pd.DataFrame([row])], ignore_index=True)
    return load, result, labels, curve


def write_alignment(load: UnitLoad, result: DesignResult, labels: Sequence[str], out: Path,
                    geojson: Path | None = None) -> None:
    """Alignment CSV (unit_id, name, territory, moved_from, reason) and optional GeoJSON."""
    units = load.units
    terr = np.asarray(labels, dtype=object)[result.assignment]
    df = pd.DataFrame({"unit_id": units.ids, "name": units.table["name"].to_numpy(), "territory": terr})
    if len(result.moves):
        from territorium.design.engine import territory_labels

        eng = {lab: i for i, lab in enumerate(territory_labels(len(labels)))}
        mv = result.moves.set_index("unit")
        pos = np.arange(units.n)
        frm = mv["from"].reindex(pos)
        df["moved_from"] = [labels[eng[f]] if isinstance(f, str) else "" for f in frm]
        reasons = mv["reason"].reindex(pos).fillna("")
        if list(labels) != list(eng):
            pat = re.compile(r"\b(" + "|".join(map(re.escape, eng)) + r")\b")
            reasons = reasons.map(lambda s: pat.sub(lambda m: str(labels[eng[m.group(1)]]), s))
        df["reason"] = reasons.to_numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    write_csv(df, tmp)
    tmp.replace(out)
    if geojson is not None:
        if units.geometry is None:
            raise DesignJobError("--geojson needs polygon units (zip, county, state, custom)")
        import geopandas as gpd

        g = gpd.GeoDataFrame(df, geometry=np.asarray(units.geometry), crs="EPSG:4326")
        tmpg = geojson.with_suffix(".tmp.geojson")
        g.to_file(tmpg, driver="GeoJSON")
        tmpg.replace(geojson)


def plot_tradeoff(curve: pd.DataFrame, path: Path, title: str = "Balance vs disruption") -> None:
    """The balance–disruption curve as a PNG (x: share moved, y: worst deviation per measure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for col in [c for c in curve.columns if c.startswith("max_dev_")]:
        ax.plot(curve["moved_fraction"] * 100, curve[col] * 100, marker="o", label=col[8:])
    for _, r in curve.iterrows():
        label = "no cap (the plan)" if pd.isna(r["cap"]) else f"cap {r['cap']:.0%}"
        ax.annotate(label, (r["moved_fraction"] * 100, max(
            r[c] for c in curve.columns if c.startswith("max_dev_")) * 100),
            textcoords="offset points", xytext=(4, 4), fontsize=7, color="#555")
    ax.set_xlabel("moved (% of disruption measure)")
    ax.set_ylabel("worst territory deviation from target (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report_json(result: DesignResult, labels: Sequence[str]) -> dict:
    """The report as JSON-ready data."""
    r = result.report
    terr = r.territories.copy()
    terr["territory"] = [labels[i] for i in range(len(terr))]

    def clean(v):
        if isinstance(v, (np.floating, float)):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, np.ndarray):
            return [clean(x) for x in v.tolist()]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return clean({
        "status": r.status, "max_abs_dev": r.max_abs_dev, "mean_abs_dev": r.mean_abs_dev,
        "tolerances": r.tolerances, "pieces_max": int(r.pieces.max()) if len(r.pieces) else 0,
        "virtual_edges_used": r.virtual_edges_used, "objective": r.objective,
        "lower_bound": r.lower_bound, "gap": r.gap, "bound_method": r.bound_method,
        "relaxation": r.relaxation, "mean_distance_km": r.mean_distance_km,
        "max_distance_km": r.max_distance_km, "disruption": r.disruption,
        "violations": list(r.violations), "diagnostics": list(r.diagnostics), "time_s": r.time_s,
        "seed": r.seed, "n_starts": r.n_starts, "stopped": r.stopped,
        "violation_bound": r.violation_bound, "violation_bound_method": r.violation_bound_method,
        "certificate": None if r.certificate is None else {
            "kind": r.certificate.kind, "bound": r.certificate.bound, "measure": r.certificate.measure,
            "territories": [labels[t] for t in r.certificate.territories], "text": r.certificate.text,
            "n_units": len(r.certificate.units)},
        "territories": json.loads(terr.to_json(orient="records")),
    })
