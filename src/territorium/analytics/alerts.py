"""Alert rules over KPI series: parse (YAML with line numbers, or a dict), validate, evaluate.

Pure: rules and data frames in, fired alerts out. A rule watches one metric per group and
fires when the metric has been above (or below) its threshold for ``for`` consecutive
complete periods up to the evaluation date (a *drift* rule), or, for a snapshot metric such
as the quarter's attainment pace, when it is beyond the threshold now (optionally only from
a point of the quarter on, ``at: mid-quarter``).

YAML::

    alerts:
      - name: overloaded
        metric: load          # visit hours / capacity hours of the period
        by: territory
        period: week
        above: 1.10
        for: 4                # 4 consecutive weeks
        severity: warning
        propose: rebalance    # attach a minimum-disruption rebalance proposal
      - name: behind quota
        metric: pace
        below: 0.70
        at: mid-quarter
      - name: uncovered potential
        metric: white_space
        above: 250000
        webhook: http://127.0.0.1:8080/hooks/territorium
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from territorium.yamldoc import Doc, plain
from territorium.yamldoc import load as load_yaml

__all__ = [
    "AlertRule", "AlertRuleError", "Alert", "SERIES_METRICS", "SNAPSHOT_METRICS", "parse_rules",
    "parse_rules_dict", "evaluate", "AT_POINTS",
]

#: Metrics with one value per group and period (columns of the KPI tables).
SERIES_METRICS = {
    "orders", "revenue", "aov", "units_per_order", "customers", "new_customers", "returning_customers",
    "repeat_purchase_rate", "discount_rate", "refund_rate", "pipeline", "won_amount", "win_rate",
    "win_rate_amount", "visits", "visits_per_rep", "coverage", "visit_hours", "load",
}
#: Metrics with one value per group now.
SNAPSHOT_METRICS = {"pace", "attainment", "white_space", "workload_load"}
#: Named points of a quarter for ``at:`` (share of the quarter elapsed).
AT_POINTS = {"quarter-start": 0.0, "mid-quarter": 0.5, "quarter-end": 1.0}
_KEYS = {"name", "metric", "by", "period", "above", "below", "for", "at", "severity", "webhook", "propose",
         "description"}
_GROUPS = {"territory", "rep", "state", "country", "segment", "industry", "account_type", "tier"}


class AlertRuleError(ValueError):
    """Alert rules that cannot be used; ``issues`` lists every problem as (line, message)."""

    def __init__(self, source: str, issues: Sequence[tuple[int | None, str]]):
        self.source = source
        self.issues = list(issues)
        super().__init__("\n".join(f"{source}:{ln}: {msg}" if ln else f"{source}: {msg}" for ln, msg in issues))


@dataclass(frozen=True)
class AlertRule:
    name: str
    metric: str
    op: str                    # "above" or "below"
    threshold: float
    by: str = "territory"
    period: str = "week"
    periods: int = 1           # ``for``: consecutive complete periods
    at: float | None = None    # snapshot rules: share of the quarter elapsed from which they apply
    severity: str = "warning"
    webhook: str | None = None
    propose: str | None = None
    line: int | None = None

    @property
    def snapshot(self) -> bool:
        return self.metric in SNAPSHOT_METRICS

    def breached(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return v > self.threshold if self.op == "above" else v < self.threshold

    def describe(self) -> str:
        rel = ">" if self.op == "above" else "<"
        span = f" for {self.periods} {self.period}s" if not self.snapshot and self.periods > 1 else ""
        return f"{self.metric} {rel} {self.threshold:g}{span}"


@dataclass(frozen=True)
class Alert:
    rule: str
    severity: str
    group: str
    metric: str
    value: float
    threshold: float
    since: pd.Timestamp | None
    periods: int
    message: str
    proposal: str | None = None
    extra: dict = field(default_factory=dict)


def parse_rules(text: str, source: str = "alerts") -> list[AlertRule]:
    """Alert rules from YAML; every problem is reported with its line (``AlertRuleError``).

    >>> r = parse_rules("alerts:\\n  - name: hot\\n    metric: load\\n    above: 1.1\\n    for: 4\\n")
    >>> r[0].describe(), r[0].line
    ('load > 1.1 for 4 weeks', 2)
    >>> parse_rules("alerts:\\n  - name: x\\n    metric: lod\\n    above: 1\\n")
    Traceback (most recent call last):
    ...
    territorium.analytics.alerts.AlertRuleError: alerts:3: unknown metric 'lod' (did you mean 'load'?)
    """
    doc, problem = load_yaml(text)
    if problem is not None:
        raise AlertRuleError(source, [(problem[1], problem[0])])
    return _parse(doc, source)


def parse_rules_dict(spec: Mapping[str, Any], source: str = "alerts") -> list[AlertRule]:
    """The same rules from a mapping (the API form of the YAML)."""
    return _parse(plain(spec), source)


def _suggest(word: str, options) -> str:
    import difflib

    m = difflib.get_close_matches(str(word), sorted(options), n=1)
    return f" (did you mean {m[0]!r}?)" if m else ""


def _parse(doc: Doc, source: str) -> list[AlertRule]:
    issues: list[tuple[int | None, str]] = []
    if not isinstance(doc.value, dict) or "alerts" not in doc.value:
        raise AlertRuleError(source, [(doc.line, "an alert file is a mapping with an 'alerts:' list")])
    items = doc.lines["alerts"]
    if not isinstance(items.value, list):
        raise AlertRuleError(source, [(items.line, "'alerts' must be a list of rules")])
    rules, names = [], set()
    for item in items.lines:
        ln = item.line
        if not isinstance(item.value, dict):
            issues.append((ln, "each alert is a mapping (name, metric, above/below, ...)"))
            continue
        d, lines = item.value, item.lines
        for k in d:
            if k not in _KEYS:
                issues.append((lines[k].line, f"unknown field {k!r}{_suggest(k, _KEYS)}"))
        name = str(d.get("name") or f"alert {len(rules) + 1}")
        if name in names:
            issues.append((ln, f"duplicate alert name {name!r}"))
        names.add(name)
        metric = d.get("metric")
        if metric is None:
            issues.append((ln, f"{name}: 'metric' is missing"))
            continue
        if metric not in SERIES_METRICS | SNAPSHOT_METRICS:
            issues.append((lines["metric"].line, f"unknown metric {metric!r}"
                           + _suggest(metric, SERIES_METRICS | SNAPSHOT_METRICS)))
            continue
        ops = [k for k in ("above", "below") if k in d]
        if len(ops) != 1:
            issues.append((ln, f"{name}: give exactly one of 'above' or 'below'"))
            continue
        op = ops[0]
        try:
            thr = float(d[op])
            if not np.isfinite(thr):
                raise ValueError
        except (TypeError, ValueError):
            issues.append((lines[op].line, f"{name}: {op} must be a finite number, not {d[op]!r}"))
            continue
        n = d.get("for", 1)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            issues.append((lines["for"].line if "for" in lines else ln,
                           f"{name}: 'for' is a whole number of periods ≥ 1, not {n!r}"))
            continue
        by = str(d.get("by", "territory"))
        if by not in _GROUPS:
            issues.append((lines["by"].line, f"{name}: unknown group {by!r}{_suggest(by, _GROUPS)}"))
            continue
        period = str(d.get("period", "week"))
        if period not in ("day", "week", "month", "quarter", "year"):
            issues.append((lines["period"].line, f"{name}: period must be day, week, month, quarter or year"))
            continue
        at = d.get("at")
        if at is not None:
            if at in AT_POINTS:
                at = AT_POINTS[at]
            else:
                try:
                    at = float(at)
                    if not 0 <= at <= 1:
                        raise ValueError
                except (TypeError, ValueError):
                    issues.append((lines["at"].line, f"{name}: 'at' is {', '.join(AT_POINTS)} or a share 0–1"))
                    continue
            if metric not in SNAPSHOT_METRICS:
                issues.append((lines["at"].line, f"{name}: 'at' applies to pace and attainment, not {metric}"))
                continue
        if metric in SNAPSHOT_METRICS and n != 1:
            issues.append((lines["for"].line, f"{name}: {metric} is a snapshot; 'for' needs a series metric"))
            continue
        if metric in ("pace", "attainment", "workload_load") and by not in ("territory",):
            issues.append((lines["by"].line if "by" in lines else ln, f"{name}: {metric} is per territory"))
            continue
        propose = d.get("propose")
        if propose not in (None, "rebalance"):
            issues.append((lines["propose"].line, f"{name}: propose can only be 'rebalance'"))
            continue
        hook = d.get("webhook")
        if hook is not None and not str(hook).startswith(("http://", "https://")):
            issues.append((lines["webhook"].line, f"{name}: webhook must be an http(s) URL"))
            continue
        sev = str(d.get("severity", "warning"))
        if sev not in ("info", "warning", "critical"):
            issues.append((lines["severity"].line, f"{name}: severity is info, warning or critical"))
            continue
        rules.append(AlertRule(name=name, metric=metric, op=op, threshold=thr, by=by, period=period, periods=n,
                               at=at, severity=sev, webhook=hook, propose=propose, line=ln))
    if issues:
        raise AlertRuleError(source, issues)
    return rules


def evaluate(rule: AlertRule, data: pd.DataFrame, *, complete_before=None, elapsed: float | None = None
             ) -> list[Alert]:
    """Fire ``rule`` on ``data``.

    Series rules: ``data`` has columns ``group``, ``period`` and the metric; only periods
    whose end is on or before ``complete_before`` count (a running week is not yet a week).
    The rule fires for a group when the latest ``for`` complete periods (consecutive, no
    gap) all breach the threshold; the alert says since when. Snapshot rules: ``data`` has
    ``group`` and the metric; ``elapsed`` is the share of the quarter elapsed (rules with
    ``at`` wait for it).

    >>> r = AlertRule("hot", "load", "above", 1.1, periods=3)
    >>> d = pd.DataFrame({"group": ["A"] * 4 + ["B"] * 4, "period": list(pd.date_range("2025-01-06", periods=4,
    ...     freq="7D")) * 2, "load": [1.2, 1.3, 1.2, 1.5, 1.2, 0.9, 1.3, 1.4]})
    >>> [(a.group, a.periods, str(a.since.date())) for a in evaluate(r, d)]
    [('A', 4, '2025-01-06')]
    """
    if rule.snapshot:
        if rule.at is not None and (elapsed is None or elapsed < rule.at):
            return []
        out = []
        for g, v in zip(data["group"], data[rule.metric]):
            if bool(rule.breached(np.array([v]))[0]):
                out.append(Alert(rule.name, rule.severity, str(g), rule.metric, float(v), rule.threshold, None, 1,
                                 f"{rule.name}: {rule.by} {g}: {rule.metric} = {_num(v)} "
                                 f"({'above' if rule.op == 'above' else 'below'} {rule.threshold:g})"))
        return out
    from territorium.analytics.kpi import _period_ends

    d = data[["group", "period", rule.metric]].dropna(subset=["period"]).copy()
    d["period"] = pd.to_datetime(d["period"])
    if complete_before is not None:
        d = d[_period_ends(rule.period, d["period"]) <= pd.Timestamp(complete_before)]
    if d.empty:
        return []
    # every complete period of the series, so a period without data is a gap, not skipped
    all_periods = np.sort(d["period"].unique())
    out = []
    for g, s in d.groupby("group", sort=True):
        s = s.set_index("period")[rule.metric].reindex(all_periods)
        hit = rule.breached(s.to_numpy())
        run = 0
        for h in hit[::-1]:
            if not h:
                break
            run += 1
        if run >= rule.periods:
            since = pd.Timestamp(all_periods[len(hit) - run])
            last = float(s.iloc[-1])
            out.append(Alert(rule.name, rule.severity, str(g), rule.metric, last, rule.threshold, since, run,
                             f"{rule.name}: {rule.by} {g}: {rule.metric} {rule.op} {rule.threshold:g} for "
                             f"{run} {rule.period}s since {since.date()} (last {_num(last)})"))
    return out


def _num(v) -> str:
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
