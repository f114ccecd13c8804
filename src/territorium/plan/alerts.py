"""Alert job: evaluate alert rules on the plan's KPIs, post them to webhooks, and attach a
minimum-disruption rebalance proposal to drift alerts that ask for one.

The proposal balances each territory towards its **capacity target** when the plan's staffing
gives targets (``plan/targets.py``: the summed capacity of its reps, the same targets the map's
balance bars and the realign jobs use), so a part-time rep's territory is not pulled to the
mean; ``targets="equal"`` (or a plan without targets) balances towards equal territories. The
alerts that carry the proposal say which."""
from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from territorium.analytics import alerts as A
from territorium.plan.kpis import (TARGETS, KpiJobError, PlacedData, commerce_table, field_table, place,
                                   placed_targets)
from territorium.plan.rulesets import RuleSetConflict  # re-exported: the API answers it with 409

__all__ = ["AlertJob", "AlertRun", "run_alerts", "post_alerts", "alerts_frame", "proposal_targets", "TARGETS"]


@dataclass(frozen=True)
class AlertJob:
    rules: tuple[A.AlertRule, ...]
    alignment: Path | None = None
    assignment: tuple[Path, ...] = ()
    quotas: Path | None = None
    level: str = "zip"
    asof: dt.date | None = None        # default: the day after the last order
    propose: Path | None = None         # where a rebalance proposal is written
    propose_time_limit: float = 30.0
    seed: int = 0
    targets: str = "plan"               # the proposal: "plan" (capacity targets when known) or "equal"


@dataclass
class AlertRun:
    alerts: list[A.Alert]
    asof: pd.Timestamp
    quarter_elapsed: float
    evaluated: list[str]
    notes: list[str] = field(default_factory=list)
    proposal: Path | None = None
    #: what the proposal balanced towards: "capacity" (the staffing's capacity targets) or "equal"
    proposal_targets: str | None = None


def _quarter(asof: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp, float]:
    start = asof.to_period("Q").start_time
    end = start + pd.DateOffset(months=3)
    return start, end, float((asof - start) / (end - start))


def _snapshot(rule: A.AlertRule, data: PlacedData, job: AlertJob, asof: pd.Timestamp) -> pd.DataFrame:
    from territorium.analytics.kpi import commerce

    tt = data.plan.territories.set_index(data.plan.territories["territory_id"].astype(str))
    if rule.metric == "white_space":
        if "potential" not in tt.columns:
            raise KpiJobError(f"{rule.name}: white space needs the accounts' potential")
        ws = (tt["potential"].astype(float) - tt["revenue"].astype(float)).clip(lower=0)
        return pd.DataFrame({"group": ws.index, "white_space": ws.to_numpy()})
    if rule.metric == "workload_load":
        cap = data.group_capacity("territory").reindex(tt.index)
        return pd.DataFrame({"group": tt.index, "workload_load": tt["workload"].astype(float) / cap})
    # pace / attainment of the running quarter
    if job.quotas is None:
        raise KpiJobError(f"{rule.name}: {rule.metric} needs --quotas (territorium quota --out)")
    from territorium.plan._files import pick_column, read_table

    q = read_table(Path(job.quotas), KpiJobError)
    tcol, qcol = pick_column(q, ["territory", "territory_id"]), pick_column(q, ["quota"])
    if tcol is None or qcol is None:
        raise KpiJobError(f"{job.quotas}: needs the columns territory and quota (territorium quota --out)")
    quarter_quota = pd.to_numeric(q[qcol], errors="coerce").to_numpy() / 4.0
    qstart, _, elapsed = _quarter(asof)
    o = data.orders
    actual = commerce(o, by=["territory_id"], period="all", start=qstart, end=asof).set_index("territory_id")["revenue"]
    actual.index = actual.index.astype(str)
    act = actual.reindex(q[tcol].astype(str)).fillna(0.0).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        att = act / quarter_quota
        pace = act / (quarter_quota * max(elapsed, 1e-9))
    return pd.DataFrame({"group": q[tcol].astype(str), "attainment": att, "pace": pace})


def run_alerts(ws, job: AlertJob, *, data: PlacedData | None = None, progress=None) -> AlertRun:
    """Evaluate every rule at ``job.asof``; series rules count complete periods only."""
    say = progress or (lambda msg: None)
    if job.targets not in TARGETS:
        raise KpiJobError(f"targets must be 'plan' or 'equal', not {job.targets!r}")
    data = data or place(ws, alignment=job.alignment, assignment=job.assignment, level=job.level, progress=say)
    asof = pd.Timestamp(job.asof) if job.asof else data.data_end
    if asof is None:
        raise KpiJobError("no orders imported: give --asof")
    _, _, elapsed = _quarter(asof)
    run = AlertRun([], asof, elapsed, [], notes=list(data.notes))
    cache: dict[tuple[str, str], pd.DataFrame | None] = {}
    for rule in job.rules:
        say(f"rule {rule.name}")
        if rule.snapshot:
            if rule.metric in ("pace", "attainment") and job.quotas is None:
                run.notes.append(f"{rule.name}: skipped, {rule.metric} needs --quotas (territorium quota --out)")
                continue
            frame = _snapshot(rule, data, job, asof)
        else:
            key = (rule.by, rule.period)
            if key not in cache:
                # a year of periods before the evaluation date is enough for any 'for'
                start = asof - pd.DateOffset(years=1)
                c = commerce_table(data, [rule.by], rule.period, start, asof)
                f = field_table(data, [rule.by], rule.period, start, asof)
                both = [x for x in (c, f) if x is not None]
                merged = None
                for x in both:
                    merged = x if merged is None else merged.merge(x, on=[rule.by, "period"], how="outer")
                cache[key] = merged
            frame = cache[key]
            if frame is None or rule.metric not in frame.columns:
                run.notes.append(f"{rule.name}: no data for {rule.metric} by {rule.by}"
                                 + (" (load needs visits and rep capacities, by territory or rep)"
                                    if rule.metric == "load" else ""))
                continue
            frame = frame.rename(columns={rule.by: "group"})
        run.alerts += A.evaluate(rule, frame, complete_before=asof, elapsed=elapsed)
        run.evaluated.append(rule.name)
    wanted = {a.rule for a in run.alerts} & {r.name for r in job.rules if r.propose == "rebalance"}
    if wanted and job.propose is not None:
        say("proposing a minimum-disruption rebalance")
        run.proposal, run.proposal_targets = _propose(ws, job, data)
        towards = _TOWARDS[run.proposal_targets]
        run.alerts = [A.Alert(**{**asdict(a), "proposal": str(run.proposal),
                                 "message": f"{a.message}; rebalance proposal {towards}",
                                 "extra": {**a.extra, "proposal_targets": run.proposal_targets}})
                      if a.rule in wanted else a for a in run.alerts]
    elif wanted:
        run.notes.append("drift alerts ask for a rebalance proposal: give --propose FILE to write one")
    return run


_TOWARDS = {"capacity": "towards the capacity targets (the reps' capacity)", "equal": "towards equal territories"}


def proposal_targets(ws, data: PlacedData, targets: str = "plan") -> tuple[dict[str, float] | None, str]:
    """What a rebalance proposal balances towards: (territory → share, or None for equal
    territories; ``"capacity"`` or ``"equal"``): :func:`territorium.plan.kpis.placed_targets`
    with the workspace's reps, the same reference as the plan-health balance table.
    ``targets="plan"``: the capacity targets of the placed plan's staffing (a territory's
    share is its reps' summed capacity, a vacant one counts one rep of the median) when they
    are not all equal; ``"equal"``: the mean."""
    return placed_targets(data, targets, ws.table("reps"))


def _propose(ws, job: AlertJob, data: PlacedData) -> tuple[Path, str]:
    """Realign the current plan on workload (±5 % of each territory's target) with the fewest
    accounts moved; returns the proposal's path and what it balanced towards."""
    from territorium.plan.designing import DesignJob, DesignJobError, run_design, write_alignment

    shares, used = proposal_targets(ws, data, job.targets)
    dj = DesignJob(level=job.level, current=job.alignment, realign=True, balance={"workload": 0.05},
                   targets=shares, time_limit=job.propose_time_limit, seed=job.seed)
    try:
        load, result, labels, _ = run_design(dj, ws, load=data.load)
    except DesignJobError as exc:
        raise KpiJobError(f"rebalance proposal: {exc}") from None
    write_alignment(load, result, labels, Path(job.propose))
    return Path(job.propose), used


def alerts_frame(alerts: Sequence[A.Alert]) -> pd.DataFrame:
    cols = ["rule", "severity", "group", "metric", "value", "threshold", "since", "periods", "message", "proposal"]
    return pd.DataFrame([{c: getattr(a, c) for c in cols} for a in alerts], columns=cols)


def post_alerts(run: AlertRun, rules: Sequence[A.AlertRule], *, timeout: float = 5.0) -> list[str]:
    """POST each rule's alerts as one JSON document to its webhook; returns one line per post
    (``ok`` or why it failed). A failed post never stops the job."""
    out = []
    for rule in rules:
        mine = [a for a in run.alerts if a.rule == rule.name]
        if not rule.webhook or not mine:
            continue
        body = json.dumps({"source": "territorium", "rule": rule.name, "asof": str(run.asof.date()),
                           "condition": rule.describe(),
                           "alerts": json.loads(alerts_frame(mine).to_json(orient="records", date_format="iso"))}
                          ).encode()
        req = urllib.request.Request(rule.webhook, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "territorium"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                out.append(f"{rule.name}: posted {len(mine)} alert(s) to {rule.webhook} ({resp.status})")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            out.append(f"{rule.name}: could not post to {rule.webhook}: {reason}")
    return out



# ------------------------------------------------------------------- rules kept in the database
def stored_rules(eng, name: str | None = None) -> list[dict]:
    """Stored rule sets (all, or the one named; [] when unknown)."""
    from territorium.plan import rulesets

    return rulesets.stored(eng, "alert", name)


def save_rules(eng, name: str, text: str, *, actor: str, expected_version: int | None) -> dict:
    """Validate (``AlertRuleError`` with every line's problem) and store a rule set; a new set
    needs ``expected_version`` None or 0, a change the version it was read at."""
    from territorium.plan import rulesets

    return rulesets.save(eng, "alert", name, text, actor=actor, expected_version=expected_version,
                         check=A.parse_rules)


def run_stored(eng, rules_name: str, plan_name: str, *, asof=None, quotas=None) -> AlertRun:
    """Evaluate a stored rule set on a stored plan (its alignment and staffing)."""
    from territorium.plan import plans
    from territorium.plan.stored import plan_files
    from territorium.plan.workspace import Workspace

    found = stored_rules(eng, rules_name)
    if not found:
        raise plans.NotFound(f"no alert rules {rules_name!r}")
    rules = A.parse_rules(found[0]["yaml"], rules_name)
    with plan_files(eng, plan_name) as pf:
        job = AlertJob(rules=tuple(rules), alignment=pf.alignment,
                       assignment=(pf.staffing,) if pf.staffing is not None else (), quotas=quotas,
                       level=pf.info.unit_level, asof=asof)
        run = run_alerts(Workspace(engine=eng), job)
        run.notes[:0] = [n + "; rep capacities and per-rep groups are not available" for n in pf.notes]
        return run
