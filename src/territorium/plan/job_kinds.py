"""What each kind of plan job does: read a snapshot of the plan, call the engine, write the
result in ONE transaction at the end (or nothing).

:func:`run_kind` runs a job in the calling process (the job manager calls it in a worker
process) with the database URL (or an engine), the :class:`JobParams`, the job id, the actor
and a ``say(fraction, message)`` progress callback, and returns a :class:`JobOutcome` (the new
plan version, if any, and the job's JSON result). Input problems raise :class:`PlanError`, a plan
edited since the job's version raises :class:`Conflict`; neither writes anything.

- ``realign``: the draft plan realigned by the design engine; the units that moved, as one
  new version. Each territory is balanced towards its capacity target when the plan has targets
  (``plan/targets.py``; ``targets="equal"``: towards the mean).
- ``design``: the draft plan's territories designed from scratch (``k`` territories, free
  centres or one per rep home); the new territories keep the ids of the old ones they overlap
  most; one new version. Around rep homes (``centers="reps"``) on a plan with capacity targets,
  each rep's territory is balanced towards the rep's capacity share (as ``design --centers reps
  --capacity-targets``; ``targets="equal"``: the mean); free centres have no rep to take a
  target from and balance towards the mean.
- ``tradeoff``: one realignment per disruption cap, each stored as a draft scenario plan
  ``{plan}~cap{percent}`` (``-2``, ``-3``, ... when taken) copied from the plan; all scenarios
  in one transaction. Targets as for ``realign``: the deviations are from them.
- ``assign``: the workspace's reps assigned to the plan's territories (``assign
  territories``); the reps of every territory, as one new version.
- ``size``: the head-count sizing curve on the plan's unit level; writes nothing.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["JobParams", "JobOutcome", "KINDS", "WRITES_PLAN", "run_kind", "run_realign", "scenario_name",
           "plan_snapshot", "plan_files", "stale"]

KINDS = ("design", "realign", "tradeoff", "assign", "size")
#: kinds that write a new version of the plan itself (so it must be a draft at the job's version)
WRITES_PLAN = ("design", "realign", "assign")

Say = Callable[[float, str], None]


@dataclass(frozen=True)
class JobParams:
    """A job's parameters (stored as JSON with the job). Fields not used by a kind keep their
    defaults."""

    plan: str
    expected_version: int
    kind: str = "realign"
    balance: dict = field(default_factory=lambda: {"workload": 0.05})
    seed: int = 0
    time_limit: float = 60.0
    states: tuple[str, ...] | None = None
    # realign, tradeoff: "plan" = the plan's capacity targets when it has them, else equal; "equal";
    # design: "plan" = with centers "reps" on a plan with targets, each rep's capacity share, else equal
    targets: str = "plan"
    # realign
    max_disruption: float | None = None
    # design
    k: int | None = None
    centers: str = "free"
    # tradeoff
    caps: tuple[float, ...] = ()
    # assign
    method: str = "lap"
    capacity: str = "hours"
    slack: float = 0.05
    slots: str | int | None = None
    weights: dict | None = None
    # size
    n_min: int = 10
    n_max: int = 40
    step: int = 5
    capacity_hours: float = 1600.0
    coverage: float = 0.95
    tolerance: float = 0.10

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


@dataclass(frozen=True)
class JobOutcome:
    version: int | None          # the plan version the job wrote (None: it wrote no plan version)
    result: dict


def scenario_name(plan: str, cap: float) -> str:
    """``scenario_name("fy27", 0.05)`` → ``"fy27~cap5"`` (percent, up to two decimals).

    >>> scenario_name("fy27", 0.05), scenario_name("fy27", 0.025), scenario_name("fy27", 0)
    ('fy27~cap5', 'fy27~cap2.5', 'fy27~cap0')
    """
    pct = f"{round(float(cap) * 100, 2):.2f}".rstrip("0").rstrip(".")
    return f"{plan}~cap{pct}"


# ------------------------------------------------------------------------------------ helpers
def stale(eng, info, expected: int):
    """The :class:`Conflict` of a change made against ``expected`` when the plan is at
    ``info.version`` now: it lists the events made since."""
    from territorium.plan import plans

    return plans.Conflict(info.name, expected, info.version,
                          plans.events(eng, info.id, since_version=expected)[0].to_dict("records"))


def plan_snapshot(eng, name: str, version: int | None = None, *, draft: bool, what: str = "a job"):
    """The plan at ``version`` (default: the current one), checked: still the current version
    (else :class:`Conflict`), a draft when ``draft``, some units (else :class:`PlanError`
    naming ``what`` is refused)."""
    from territorium.plan import plans

    c = plans.plan_content(eng, name, version)
    if c.info.version != c.version:
        raise stale(eng, c.info, c.version)
    if draft and c.info.status != "draft":
        raise plans.PlanError(f"plan {c.info.name!r} is {c.info.status}; only draft plans are changed by "
                              f"{what} (copy it first: territorium plan copy {c.info.name} NEW_NAME)")
    if c.units.empty:
        raise plans.PlanError(f"plan {c.info.name!r} has no units")
    return c


def _snapshot(eng, params: JobParams, *, draft: bool):
    return plan_snapshot(eng, params.plan, params.expected_version, draft=draft, what=f"a {params.kind} job")


@contextlib.contextmanager
def plan_files(c):
    """The plan's alignment (and its locks) as the CSV files the design and assign jobs read."""
    with tempfile.TemporaryDirectory(prefix="territorium-job-") as d:
        cur = Path(d) / "current.csv"
        c.units.rename(columns={"territory_id": "territory"}).to_csv(cur, index=False)
        locks = None
        if len(c.locks):
            locks = Path(d) / "locks.csv"
            c.units[c.units["unit_id"].isin(set(c.locks))].rename(columns={"territory_id": "territory"}) \
                .to_csv(locks, index=False)
        yield cur, locks


TARGETS = ("plan", "equal")


def _targets(eng, c, params: JobParams) -> tuple[dict | None, str]:
    """The shares a realign / trade-off job balances towards: (territory → share or None, what
    was used: ``"capacity"`` (the plan's targets, ``plan/targets.py``) or ``"equal"``)."""
    from territorium.plan.targets import reference, stored_targets

    return reference(None if params.targets == "equal" else stored_targets(eng, c))


def _design_targets(eng, c, params: JobParams, capacity: np.ndarray | None) -> str:
    """What a design job balances towards: ``"capacity"`` (each new territory at its rep's
    capacity share, ``design --centers reps --capacity-targets``) when the job is around rep
    homes (``capacity``: the reps' capacities, :func:`~territorium.plan.designing.rep_centers`),
    ``targets`` is ``"plan"``, the plan has capacity targets and the reps' capacities differ;
    else ``"equal"``. Free centres are not tied to reps, so they have no target to take."""
    from territorium.plan.targets import stored_targets

    if params.targets == "equal" or params.centers != "reps" or capacity is None or not len(capacity):
        return "equal"
    if float(np.ptp(capacity)) <= 1e-9 * float(np.abs(capacity).max()):
        return "equal"
    return "capacity" if stored_targets(eng, c) is not None else "equal"


def _targets_text(used: str) -> str:
    return "towards the capacity targets" if used == "capacity" else "towards equal territories"


def _design_job(params: JobParams, level: str, **kw):
    from territorium.plan.designing import DesignJob

    return DesignJob(level=level, states=params.states, balance=dict(params.balance), seed=params.seed,
                     time_limit=params.time_limit, n_jobs=1, **kw)


def _assignment(load, result, labels) -> dict[str, str]:
    return dict(zip(map(str, load.units.ids), [str(labels[t]) for t in result.assignment]))


def _deviation_text(report) -> str:
    return ", ".join(f"{m} {v:.1%}" for m, v in report.max_abs_dev.items())


def _moved_totals(load, old: dict[str, str], new: dict[str, str]) -> dict:
    """Units that change territory, and the accounts and revenue in them."""
    ids = pd.Index(map(str, load.units.ids))
    moved = [u for u, t in old.items() if u in new and new[u] != t]
    pos = ids.get_indexer(moved)
    tab = load.units.table

    def total(col):
        return float(np.nansum(tab[col].to_numpy(dtype=float)[pos])) if col in tab.columns and len(pos) else 0.0

    return {"moved_units": len(moved), "moved_accounts": int(round(total("account_count"))),
            "moved_revenue": total("revenue")}


def _clean(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else float(v)) for k, v in d.items()}


# ------------------------------------------------------------------------------------ kinds
def _realign(eng, params, job_id, actor, say) -> JobOutcome:
    from territorium.plan import plans
    from territorium.plan.designing import run_design
    from territorium.plan.workspace import Workspace

    say(0.01, "reading the plan")
    c = _snapshot(eng, params, draft=True)
    shares, used = _targets(eng, c, params)
    with plan_files(c) as (cur, locks):
        job = _design_job(params, c.info.unit_level, realign=True, current=cur, locks=locks,
                          max_disruption=params.max_disruption, targets=shares)
        say(0.05, "building the units")
        load, result, labels, _ = run_design(job, Workspace(engine=eng), progress=lambda f, m: say(0.05 + 0.9 * f, m))
    new = _assignment(load, result, labels)
    moves = {u: new[u] for u, t in zip(c.units["unit_id"], c.units["territory_id"]) if u in new and new[u] != t}
    if not moves:
        say(1.0, "no unit moves: the plan is kept as it is")
        return JobOutcome(None, {"moved_units": 0, "targets": used, "max_deviation": _clean(result.report.max_abs_dev)})
    why = (f"realign job: max deviation {_deviation_text(result.report)}; seed {params.seed}; "
           f"balanced {_targets_text(used)}")
    say(0.97, f"writing {len(moves)} moves")
    info = plans.move_units(eng, params.plan, moves, expected_version=params.expected_version, actor=actor,
                            reason=why, job=job_id)
    say(1.0, f"done: version {info.version}, {len(moves)} units moved")
    return JobOutcome(info.version, {"moved_units": len(moves), "targets": used,
                                     "max_deviation": _clean(result.report.max_abs_dev)})


def run_realign(url: str, params: JobParams, job_id: str, actor: str, say: Say | None = None, *,
                engine=None) -> int:
    """Realign the plan (in the calling process); returns the plan's version afterwards."""
    out = run_kind(url, params, job_id, actor, say, engine=engine)
    return out.version if out.version is not None else params.expected_version


def _match_labels(old_units: pd.DataFrame, new: dict[str, str], keep: list[str],
                  locked: dict[str, str]) -> dict[str, str]:
    """New territory label → the plan territory (of ``keep``) it shares most units with: an
    optimal one-to-one matching, in which locked units weigh more than all others together.
    Labels left over (more new territories than old ones) are not in the result."""
    from scipy.optimize import linear_sum_assignment

    new_labels = sorted(set(new.values()))
    if not keep or not new_labels:
        return {}
    o = old_units.assign(new=old_units["unit_id"].map(new)).dropna(subset=["new"])
    o = o.assign(w=np.where(o["unit_id"].isin(set(locked)), len(o) + 1.0, 1.0))
    m = o.pivot_table(index="new", columns="territory_id", values="w", aggfunc="sum").reindex(
        index=new_labels, columns=keep).fillna(0.0)
    rows, cols = linear_sum_assignment(-m.to_numpy())
    return {new_labels[r]: keep[c] for r, c in zip(rows, cols)}


def _fresh_ids(labels, named: dict, taken: set[str]) -> dict[str, str]:
    """``named`` completed with new territory ids T01, T02, ... not used by the plan."""
    out, n = dict(named), 1
    for lab in labels:
        if out.get(lab) is None:
            while f"T{n:02d}" in taken or f"T{n:02d}" in out.values():
                n += 1
            out[lab] = f"T{n:02d}"
    return out


def _design(eng, params, job_id, actor, say) -> JobOutcome:
    from territorium.plan import plans
    from territorium.plan.designing import DesignJobError, rep_centers, run_design
    from territorium.plan.workspace import Workspace

    say(0.01, "reading the plan")
    c = _snapshot(eng, params, draft=True)
    keep = sorted(set(c.units["territory_id"]))         # the plan's territories that hold units
    k = params.k or len(keep)
    ws = Workspace(engine=eng)
    say(0.03, "building the units")
    try:
        load = ws.load_units(c.info.unit_level, states=params.states)
    except Exception as exc:  # WorkspaceError, ValueError: user-facing
        raise plans.PlanError(str(exc)) from None
    ids = set(map(str, load.units.ids))
    outside = sorted(set(c.units["unit_id"]) - ids)
    if outside:
        raise plans.PlanError(f"{len(outside)} units of plan {c.info.name!r} are not in the workspace's "
                              f"{c.info.unit_level} units (e.g. {outside[0]!r}); give `states` to match the plan")
    extra = sorted(ids - set(c.units["unit_id"]))
    if extra:
        raise plans.PlanError(f"{len(extra)} {c.info.unit_level} units of the workspace are not in plan "
                              f"{c.info.name!r} (e.g. {extra[0]!r}); give `states` to match the plan")
    terr = c.territories.set_index("territory_id")
    rep_of, first, capacity = {}, {}, None
    if params.centers == "reps":  # one territory per rep (as design --centers reps), labels T01.. by rep id
        _, capacity, rep_labels, rep_ids = rep_centers(ws, load.units)
        rep_of = {lab: str(r) for lab, r in zip(rep_labels, rep_ids)}
        first = {str(r[0][0]): t for t, r in terr["reps"].items() if len(r)}  # rep → its plan territory
        k = len(rep_labels)
    locked = dict(zip(c.units["unit_id"], c.units["territory_id"]))
    locked = {u: locked[u] for u in c.locks}
    if rep_of:  # a locked unit goes to the territory of its territory's rep
        by_terr = {first[r]: lab for lab, r in rep_of.items() if r in first}
        lost = sorted({t for t in locked.values() if t not in by_terr})
        if lost:
            raise plans.PlanError(f"territory {lost[0]!r} holds locked units but its rep is not among the "
                                  "workspace's active reps (centers=reps)")
    else:  # locked units of one territory stay together in one of the k new ones
        by_terr = {t: f"T{i + 1:02d}" for i, t in enumerate(sorted(set(locked.values())))}
        if len(by_terr) > k:
            raise plans.PlanError(f"{len(by_terr)} territories hold locked units, more than k = {k}")
    with tempfile.TemporaryDirectory(prefix="territorium-job-") as d:
        lock_file = None
        if locked:  # a locked unit stays with the other locked units of its territory
            lock_file = Path(d) / "locks.csv"
            pd.DataFrame({"unit_id": list(locked), "territory": [by_terr[t] for t in locked.values()]}) \
                .to_csv(lock_file, index=False)
        used = _design_targets(eng, c, params, capacity)
        job = _design_job(params, c.info.unit_level, k=k, centers=params.centers, locks=lock_file,
                          capacity_targets=used == "capacity")
        try:
            load, result, labels, _ = run_design(job, ws, load=load, progress=lambda f, m: say(0.05 + 0.9 * f, m))
        except DesignJobError as exc:
            raise plans.PlanError(str(exc)) from None
    new = _assignment(load, result, labels)
    if rep_of:  # the plan territory whose first rep it is, else a new one
        named = {lab: first.get(rep_of[lab]) for lab in labels}
    else:
        named = _match_labels(c.units, new, keep, locked)
    names = _fresh_ids(labels, named, set(terr.index))
    target = {u: names[t] for u, t in new.items()}
    added = {names[lab]: ({"reps": [rep_of[lab]]} if rep_of else {}) for lab in labels
             if names[lab] not in terr.index}
    moved = sum(1 for u, t in zip(c.units["unit_id"], c.units["territory_id"]) if target[u] != t)
    rep = result.report
    out = {"max_deviation": _clean(rep.max_abs_dev), "moved_units": moved, "status": rep.status, "k": len(labels),
           "new_territories": sorted(added), "targets": used}
    if not moved and not added:
        say(1.0, "the design is the plan as it is: nothing written")
        return JobOutcome(None, out)
    why = (f"design job: {len(labels)} territories, max deviation {_deviation_text(rep)}; seed {params.seed}; "
           f"balanced {_targets_text(used)}")
    say(0.97, f"writing the design ({moved} units change territory)")
    info = _write_content(eng, params, actor, why, job_id, units=target, territories=added)
    say(1.0, f"done: version {info.version}")
    return JobOutcome(info.version, out)


def _write_content(eng, params, actor, reason, job_id, *, units: dict, territories: dict):
    """The plan's alignment replaced (and territories added) as one audited version."""
    from territorium.plan import plans

    def build(conn, info):
        plans._check_editable(info)
        state = plans._read_state(conn, info.id)
        target = {**state, "unit": {**state["unit"], **units},
                  "territory": {**state["territory"],
                                **{t: {f: plans._enc(f, d.get(f)) for f in plans.TERRITORY_FIELDS}
                                   for t, d in territories.items()}}}
        plans._check_content(target)
        return plans._diff(state, target)

    return plans._write(eng, params.plan, params.expected_version, actor, reason, job_id, build)


class _SharedTransaction:
    """Looks like an engine to the plan writer but hands out one open connection, so that
    several new plans are written in the caller's single transaction."""

    def __init__(self, conn):
        self._conn = conn

    @contextlib.contextmanager
    def begin(self):
        yield self._conn


def _tradeoff(eng, params, job_id, actor, say) -> JobOutcome:
    from territorium.plan import plans
    from territorium.plan.designing import DesignJobError, run_design
    from territorium.plan.workspace import Workspace

    say(0.01, "reading the plan")
    c = _snapshot(eng, params, draft=False)
    names = _free_names(eng, [scenario_name(c.info.name, cap) for cap in params.caps])
    ws = Workspace(engine=eng)
    old = dict(zip(c.units["unit_id"], c.units["territory_id"]))
    shares, used = _targets(eng, c, params)
    points, alignments = [], []
    with plan_files(c) as (cur, locks):
        say(0.03, "building the units")
        load = None
        for i, (cap, name) in enumerate(zip(params.caps, names)):
            lo, hi = 0.05 + 0.9 * i / len(names), 0.05 + 0.9 * (i + 1) / len(names)
            job = _design_job(params, c.info.unit_level, realign=True, current=cur, locks=locks, max_disruption=cap,
                              targets=shares)
            try:
                load, result, labels, _ = run_design(
                    job, ws, load=load, progress=lambda f, m, lo=lo, hi=hi, cap=cap: say(lo + (hi - lo) * f,
                                                                                           f"cap {cap:.0%}: {m}"))
            except DesignJobError as exc:
                raise plans.PlanError(str(exc)) from None
            new = _assignment(load, result, labels)
            units = {u: new.get(u, t) for u, t in old.items()}
            alignments.append((name, cap, units, result.report))
            points.append({"cap": float(cap), "scenario": name, "max_deviation": _clean(result.report.max_abs_dev),
                           **_moved_totals(load, old, new)})
    say(0.97, f"writing {len(names)} scenarios")
    terr = c.territories.assign(reps=[list(r) for r in c.territories["reps"]])
    with eng.begin() as conn:
        tx = _SharedTransaction(conn)
        for name, cap, units, report in alignments:
            state = plans._state_from_frames(units, terr, c.accounts, c.locks)
            plans._check_content(state)
            plans._insert_plan(
                tx, name, state, model=c.info.model, kind=c.info.kind, unit_level=c.info.unit_level,
                settings={**c.info.settings, "copied_from": f"{c.info.name}@{c.version}", "tradeoff_cap": float(cap),
                          "balance": dict(params.balance), "targets": used,
                          "max_deviation": _clean(report.max_abs_dev)},
                seed=params.seed, actor=actor, job=job_id, parent_id=c.info.id,
                reason=f"trade-off job: {c.info.name} realigned {_targets_text(used)} within a disruption cap of "
                       f"{cap:.1%}; "
                       f"max deviation {_deviation_text(report)}")
    say(1.0, f"done: {len(names)} scenarios")
    return JobOutcome(None, {"points": points, "targets": used})


def _free_names(eng, names: list[str]) -> list[str]:
    """Each name, or when a plan has it already (an earlier trade-off), the first free one of
    ``name-2``, ``name-3``, ... (plan names are never reused, archived plans keep theirs)."""
    import sqlalchemy as sa

    from territorium.store.models import Plan

    P = Plan.__table__
    with eng.connect() as conn:
        taken = set(conn.execute(sa.select(P.c.name).where(sa.or_(*[
            sa.or_(P.c.name == n, P.c.name.startswith(f"{n}-", autoescape=True)) for n in names]))).scalars())
    out = []
    for n in names:
        free, i = n, 1
        while free in taken:
            i += 1
            free = f"{n}-{i}"
        taken.add(free)
        out.append(free)
    return out


def _assign(eng, params, job_id, actor, say) -> JobOutcome:
    from territorium.assign import AssignInputError, RepWeights
    from territorium.plan import plans
    from territorium.plan.assigning import (AssignJobError, TerritoryJob, run_assign_territories, store_plan_reps,
                                            territory_reps)
    from territorium.plan.workspace import Workspace, WorkspaceError

    say(0.01, "reading the plan")
    c = _snapshot(eng, params, draft=True)
    with plan_files(c) as (cur, _):
        job = TerritoryJob(alignment=cur, level=c.info.unit_level, weights=RepWeights(**(params.weights or {})),
                           capacity=params.capacity, slack=params.slack, method=params.method, slots=params.slots)
        try:
            res = run_assign_territories(job, Workspace(engine=eng), progress=lambda f, m: say(0.05 + 0.9 * f, m))
        except (AssignJobError, AssignInputError, WorkspaceError) as exc:
            raise plans.PlanError(str(exc)) from None
    r = res.result
    reps = territory_reps(r)
    out = {"territories": reps, "vacant": list(map(str, r.vacant)), "benched": list(map(str, r.benched)),
           "objective": float(r.objective), "moved_accounts": int(len(res.handover.moves))}
    say(0.97, "writing the reps of the territories")
    info = store_plan_reps(eng, params.plan, reps, expected_version=params.expected_version, actor=actor,
                           reason=f"assign job: reps to territories ({r.method}, cost {r.objective:,.0f})", job=job_id)
    say(1.0, "done: " + (f"version {info.version}" if info else "every territory had these reps already"))
    return JobOutcome(info.version if info else None, out)


def _size(eng, params, job_id, actor, say) -> JobOutcome:
    from territorium.plan import plans
    from territorium.plan.assigning import AssignJobError, run_sizing
    from territorium.plan.designing import DesignJobError
    from territorium.plan.workspace import Workspace

    say(0.01, "reading the plan")
    c = _snapshot(eng, params, draft=False)
    ns = list(range(params.n_min, params.n_max + 1, params.step))
    try:
        s = run_sizing(Workspace(engine=eng), ns, level=c.info.unit_level, capacity_hours=params.capacity_hours,
                       coverage_target=params.coverage, tolerance=params.tolerance, balance=dict(params.balance),
                       time_limit=params.time_limit, seed=params.seed, n_jobs=1,
                       progress=lambda f, m: say(0.02 + 0.96 * f, m))
    except (AssignJobError, DesignJobError, ValueError) as exc:
        raise plans.PlanError(str(exc)) from None
    import json

    table = json.loads(s.table.to_json(orient="records"))
    say(1.0, "done: " + (f"{s.recommended} reps recommended" if s.recommended else "no recommendation"))
    return JobOutcome(None, {"recommended": None if s.recommended is None else int(s.recommended),
                             "reason": s.reason, "table": table})


_RUN = {"realign": _realign, "design": _design, "tradeoff": _tradeoff, "assign": _assign, "size": _size}


def run_kind(url: str, params: JobParams, job_id: str, actor: str, say: Say | None = None, *,
             engine=None) -> JobOutcome:
    """Run the job in the calling process, on the database at ``url`` (or through ``engine``,
    e.g. in a process that has one open already). Raises PlanError (bad input, wrong status,
    ...) or Conflict (the plan changed since ``params.expected_version``); writes nothing then."""
    from territorium import store
    from territorium.plan import plans
    from territorium.plan.designing import DesignJobError

    if params.kind not in _RUN:
        raise plans.PlanError(f"job kind {params.kind!r} is not one of {', '.join(KINDS)}")
    if params.targets not in TARGETS:
        raise plans.PlanError(f"targets {params.targets!r} is not one of {', '.join(TARGETS)}")
    eng = store.engine(url, create=False) if engine is None else engine
    try:
        return _RUN[params.kind](eng, params, job_id, actor, say or (lambda f, m: None))
    except DesignJobError as exc:
        raise plans.PlanError(str(exc)) from None
    finally:
        if engine is None:
            eng.dispose()
