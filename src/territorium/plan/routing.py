"""Routing job: a rule file, the accounts (workspace or a file) and the plan around them.

Reads the rule file (problems keep their YAML line), the accounts (imported ones, or a
file read and validated by the import readers), and builds the routing context: territories
and their reps (an assignment file, the imported territories, or the current owners matched
to the alignment), the territory of each account's own unit (from the alignment: a design
output or the imported one), territory centres, and each rep's current book workload.
Then validates, routes, compares with the current owners and writes the files. Nothing in
the database changes: the routed file feeds ``territorium export --assignment``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from territorium.hierarchy import CreditResult, SplitRule, account_owners, split_credit
from territorium.routing import (
    DryRun, RoutingContext, RoutingResult, RuleSet, RuleSetError, ValidationReport, compare, parse_yaml, route,
    validate,
)
from territorium.routing.masks import infer_field_kinds

__all__ = [
    "RoutingJobError", "RuleFileInvalid", "RoutingRun", "account_field_kinds", "load_rules", "read_accounts",
    "build_context", "check_rules", "run_routing", "write_routed", "routed_frame", "check_rule_text",
    "save_rule_set", "stored_rule_set", "route_stored",
]


class RoutingJobError(Exception):
    """A problem with the routing inputs (message written for the user)."""


class RuleFileInvalid(RoutingJobError):
    """The rule file has errors; ``report`` lists every issue with its line."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__("; ".join(str(i) for i in report.errors[:5]))


#: Kinds of the derived account fields the workspace adds.
DERIVED_FIELDS = {"workload": "number", "revenue_12m": "number", "current_territory": "text"}


def account_field_kinds(columns: Sequence[str], frame: pd.DataFrame | None = None) -> dict[str, str]:
    """Kind of each account field (``number``, ``text``, ``zip``, ``list``) from the schema."""
    from territorium.data.schema import TABLES

    by_schema = {}
    for f in TABLES["accounts"].fields:
        if f.kind in ("money", "int", "float", "lat", "lon", "percent"):
            by_schema[f.name] = "number"
        elif f.kind == "zip":
            by_schema[f.name] = "zip"
        elif f.kind == "list":
            by_schema[f.name] = "list"
        else:
            by_schema[f.name] = "text"
    inferred = infer_field_kinds(frame) if frame is not None else {}
    out = {}
    for c in columns:
        out[c] = by_schema.get(c) or DERIVED_FIELDS.get(c) or inferred.get(c, "text")
    return out


def load_rules(path: Path) -> RuleSet:
    """Parse a rule file; parse problems are kept with their line (see :func:`check_rules`)."""
    path = Path(path)
    if not path.exists():
        raise RoutingJobError(f"{path}: rule file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutingJobError(f"{path}: cannot read ({exc})") from None
    return parse_yaml(text, source=path.name)


def read_accounts(ws, path: Path | None = None) -> pd.DataFrame:
    """The imported accounts, or a file of accounts read and validated by the import readers
    (any supported format; a file with errors names file, row, column, value, reason)."""
    if path is None:
        acc = ws.table("accounts")
        if acc.empty:
            raise RoutingJobError("the workspace has no accounts: import them first (territorium import accounts FILE)")
        return acc
    from territorium.data import ImportFailed, read_file

    try:
        res = read_file(Path(path), "accounts")
    except ImportFailed as exc:
        raise RoutingJobError(str(exc)) from None
    if not res.ok:
        p = res.problems[res.problems["severity"] == "error"].head(5)
        lines = "; ".join(f"{r.file} row {r.row}, column {r.column} ({r.value!r}): {r.reason}" for r in p.itertuples())
        raise RoutingJobError(f"{path}: {res.n_errors} error(s): {lines}")
    return res.frames["accounts"].reset_index(drop=True)


def _unit_territory(ws, alignment: Path | None) -> pd.DataFrame | None:
    from territorium.plan.exporting import read_alignment_file

    if alignment is not None:
        return read_alignment_file(Path(alignment))
    al = ws.table("alignment")
    if al.empty:
        return None
    return pd.DataFrame({"unit_id": al["unit_id"].astype(str), "territory": al["territory_id"].astype(str)})


def _geo_territory(acc: pd.DataFrame, al: pd.DataFrame | None, level: str) -> np.ndarray:
    """Territory of each account's unit (ZIP alignments directly; other levels via the units)."""
    n = len(acc)
    out = np.full(n, None, dtype=object)
    if al is None or al.empty:
        return out
    if level == "account":   # an account-level alignment names the accounts themselves
        m = acc["account_id"].astype(str).map(dict(zip(al["unit_id"].astype(str), al["territory"])))
        out[:] = m.astype(object).where(m.notna(), None)
        return out
    zipish = al["unit_id"].str.fullmatch(r"\d{5}").mean() > 0.9 and level == "zip"
    if zipish and "zip" in acc.columns:
        z = acc["zip"].astype("string").str.strip().str.slice(0, 5)
        out[:] = z.map(dict(zip(al["unit_id"], al["territory"]))).astype(object).where(lambda s: s.notna(), None)
        return out
    from territorium.geo import build_units, locate

    states = sorted(acc["state"].dropna().astype(str).unique()) if "state" in acc.columns else None
    units = build_units(level, states=states)
    pos = locate(units, zips=acc["zip"].astype(object).where(acc["zip"].notna(), None).to_numpy(dtype=object)
                 if "zip" in acc.columns else None,
                 lon=pd.to_numeric(acc.get("lon"), errors="coerce").to_numpy(float) if "lon" in acc.columns else None,
                 lat=pd.to_numeric(acc.get("lat"), errors="coerce").to_numpy(float) if "lat" in acc.columns else None)
    uid = np.where(pos >= 0, units.ids[np.maximum(pos, 0)].astype(str), None)
    m = dict(zip(al["unit_id"], al["territory"]))
    return np.asarray([m.get(u) if u is not None else None for u in uid], dtype=object)


def build_context(ws, acc: pd.DataFrame, *, alignment: Path | None = None, assignment: Path | None = None,
                  level: str = "zip") -> tuple[RoutingContext, pd.DataFrame, list[str]]:
    """The routing context for ``acc``; returns (context, accounts with derived fields, notes)."""
    from territorium.measures import account_workload
    from territorium.plan.exporting import _continuity_reps, read_assignment_file

    notes: list[str] = []
    acc = acc.copy()
    acc["account_id"] = acc["account_id"].astype(str)
    acc["workload"] = account_workload(acc)
    try:
        start, end = ws.revenue_window()
        og = ws.order_groups(start, end)
        rev = og.dropna(subset=["account_id"]).groupby("account_id")["total"].sum()
        acc["revenue_12m"] = acc["account_id"].map(rev).fillna(0.0)
    except Exception:  # no orders table content: revenue unknown
        acc["revenue_12m"] = 0.0
    reps = ws.table("reps")
    reps["rep_id"] = reps["rep_id"].astype(str)
    al = _unit_territory(ws, alignment)
    geo = _geo_territory(acc, al, level)
    acc["current_territory"] = geo
    terr_table = ws.table("territories")
    if assignment is not None:
        try:
            asg = read_assignment_file(Path(assignment))
        except Exception as exc:
            raise RoutingJobError(str(exc)) from None
        terr_rep = asg.territory_rep
    elif alignment is None and not terr_table.empty:
        terr_rep = {str(t): str(r) for t, r in zip(terr_table["territory_id"], terr_table["rep_id"])
                    if isinstance(r, str) and r}
    else:
        tids = sorted(al["territory"].unique()) if al is not None else []
        terr_rep = _continuity_reps(geo, acc["owner_id"].astype(str).to_numpy(dtype=object),
                                    acc["workload"].to_numpy(float), tids, reps) if len(reps) else {}
        if terr_rep:
            notes.append("no --assignment: each territory's rep is the current owner of most of its workload "
                         "(linear assignment)")
    territories = sorted(set(al["territory"]) if al is not None else set()) or sorted(terr_rep)
    if not territories and not terr_table.empty:
        territories = sorted(terr_table["territory_id"].astype(str))
    has = pd.notna(geo) & acc["lat"].notna().to_numpy() & acc["lon"].notna().to_numpy() \
        if {"lat", "lon"} <= set(acc.columns) else np.zeros(len(acc), bool)
    centres = None
    if has.any():
        c = pd.DataFrame({"territory": geo[has], "lat": acc.loc[has, "lat"].astype(float).to_numpy(),
                          "lon": acc.loc[has, "lon"].astype(float).to_numpy()})
        centres = c.groupby("territory", as_index=False)[["lat", "lon"]].mean()
    # current books: the imported accounts (or, without any, the routed ones) by owner
    books = ws.table("accounts")
    if books.empty:
        books = acc
    load = pd.Series(account_workload(books), index=books.index).groupby(books["owner_id"].astype(str)).sum() \
        if "owner_id" in books.columns else pd.Series(dtype=float)
    rep_load = {r: float(load.get(r, 0.0)) for r in reps["rep_id"]} if len(reps) \
        else {str(k): float(v) for k, v in load.items()}
    kinds = account_field_kinds(acc.columns, acc)
    ctx = RoutingContext(territories=territories, territory_rep=terr_rep, reps=reps if len(reps) else None,
                         rep_load=rep_load, geo_territory=geo, territory_centres=centres,
                         load_column="workload", fields=kinds)
    return ctx, acc, notes


def check_rules(ruleset: RuleSet, ctx: RoutingContext, acc: pd.DataFrame | None = None) -> ValidationReport:
    """Full validation (fields, targets, types, unreachable rules, overlaps counted on ``acc``)."""
    rep_fields = infer_field_kinds(ctx.reps) if ctx.reps is not None else None
    if rep_fields is not None and "skills" in rep_fields:
        rep_fields["skills"] = "list"
    return validate(ruleset, fields=dict(ctx.fields or {}), territories=ctx.territory_ids(), reps=ctx.rep_ids(),
                    rep_fields=rep_fields, data=acc)


@dataclass
class RoutingRun:
    ruleset: RuleSet
    accounts: pd.DataFrame
    context: RoutingContext
    validation: ValidationReport
    result: RoutingResult | None = None
    dry_run: DryRun | None = None
    credit: CreditResult | None = None
    notes: list[str] = field(default_factory=list)


def run_routing(rules: Path | RuleSet, ws, *, accounts: Path | pd.DataFrame | None = None,
                alignment: Path | None = None, assignment: Path | None = None, level: str = "zip",
                validate_only: bool = False) -> RoutingRun:
    """Validate and (unless ``validate_only``) route; raises :class:`RuleFileInvalid` on errors.
    ``rules``: a rule file or a parsed rule set; ``accounts``: a file, a frame of accounts, or
    None (the imported ones)."""
    rs = rules if isinstance(rules, RuleSet) else load_rules(rules)
    acc = accounts.reset_index(drop=True) if isinstance(accounts, pd.DataFrame) else read_accounts(ws, accounts)
    ctx, acc, notes = build_context(ws, acc, alignment=alignment, assignment=assignment, level=level)
    report = check_rules(rs, ctx, acc)
    if report.errors:
        raise RuleFileInvalid(report)
    run = RoutingRun(rs, acc, ctx, report, notes=notes)
    if validate_only:
        return run
    try:
        res = route(rs, acc, ctx)
    except RuleSetError as exc:  # e.g. a team selector that matches no rep
        raise RuleFileInvalid(ValidationReport(exc.issues)) from None
    run.result = res
    run.dry_run = compare(res, acc["owner_id"].tolist() if "owner_id" in acc.columns else None,
                          acc["current_territory"].tolist(), names=dict(zip(acc["account_id"], acc["name"])))
    if len(res.overlays):
        c = rs.credit or {"mode": "split", "base": 0.7, "overlay": 0.3}
        base = pd.DataFrame({"account_id": res.table["account_id"], "owner": res.table["rep"],
                             "revenue": acc["revenue_12m"].to_numpy()})
        run.credit = split_credit(base, res.overlays, SplitRule(c["mode"], c["base"], c["overlay"]))
    return run


def write_routed(run: RoutingRun, out: Path, *, dry_run: bool = False) -> list[Path]:
    """``out``: one row per account (new territory and rep, rule, line, explanation, current
    owner, changed); ``<stem>_changes.csv``: only the accounts that change (the dry-run list);
    ``<stem>_credit.csv``: credited revenue per owner when overlays exist. With ``dry_run``
    only the change list is written."""
    from territorium.plan.exporting import _write_csv

    out = Path(out)
    res = run.result
    assert res is not None
    acc = run.accounts
    rep_name = {}
    if run.context.reps is not None:
        rep_name = dict(zip(run.context.reps["rep_id"], run.context.reps["name"]))
    files = []
    changes = run.dry_run.changes.copy()
    changes["to_rep_name"] = changes["to_rep"].map(rep_name)
    files.append(_write_csv(changes, out.with_name(out.stem + "_changes.csv")))
    if dry_run:
        return files
    df = routed_frame(run, rep_name, set(changes["account_id"]))
    files.insert(0, _write_csv(df, out))
    if run.credit is not None:
        c = run.credit.by_owner.copy()
        c["rep_name"] = c["owner"].map(rep_name)
        files.append(_write_csv(c, out.with_name(out.stem + "_credit.csv")))
    return files


def routed_frame(run: RoutingRun, rep_name: dict | None = None, changed: set | None = None) -> pd.DataFrame:
    """One row per routed account: new territory and rep, rule, line, explanation, current
    owner and territory, whether it changes (and its overlays)."""
    res, acc = run.result, run.accounts
    if rep_name is None:
        rep_name = dict(zip(run.context.reps["rep_id"], run.context.reps["name"])) if run.context.reps is not None \
            else {}
    if changed is None:
        changed = set(run.dry_run.changes["account_id"])
    t = res.table
    df = pd.DataFrame({
        "account_id": t["account_id"], "name": acc["name"].to_numpy(), "territory": t["territory"],
        "rep_id": t["rep"], "rep_name": t["rep"].map(rep_name), "rule": t["rule"], "rule_line": t["rule_line"],
        "via": t["via"], "method": t["method"], "explanation": t["explanation"],
        "current_owner_id": acc["owner_id"].to_numpy() if "owner_id" in acc.columns else None,
        "current_territory": acc["current_territory"].to_numpy(),
    })
    df["changed"] = df["account_id"].isin(changed)
    if len(res.overlays):
        own = account_owners(pd.DataFrame({"account_id": t["account_id"], "owner": t["rep"]}), res.overlays)
        df["overlay_owners"] = own["overlay_owners"].to_numpy()
        df["overlays"] = own["overlays"].to_numpy()
    return df


# ------------------------------------------------------------------- rule sets kept in the database
def check_rule_text(text: str, name: str, ws=None) -> ValidationReport:
    """Parse and check a rule set (fields against the imported accounts when there are any;
    territories and reps are checked when it runs on a plan); :class:`RuleFileInvalid` lists
    every error with its line."""
    rs = parse_yaml(text, source=name)
    fields = None
    if ws is not None:
        acc = ws.table("accounts")
        if not acc.empty:
            fields = account_field_kinds(list(acc.columns) + list(DERIVED_FIELDS), acc)
    report = validate(rs, fields=fields, analysis=fields is not None, data=None)
    if report.errors:
        raise RuleFileInvalid(report)
    return report


def save_rule_set(eng, name: str, text: str, *, actor: str, expected_version: int | None) -> dict:
    """Store a routing rule set after :func:`check_rule_text` (versioned; see ``plan.rulesets``)."""
    from territorium.plan import rulesets
    from territorium.plan.workspace import Workspace

    ws = Workspace(engine=eng)
    return rulesets.save(eng, "routing", name, text, actor=actor, expected_version=expected_version,
                         check=lambda t, n: check_rule_text(t, n, ws))


def stored_rule_set(eng, name: str) -> dict:
    """The stored rule set (name, yaml, version, updated_by, updated_at); NotFound if none."""
    from territorium.plan import plans, rulesets

    found = rulesets.stored(eng, "routing", name)
    if not found:
        raise plans.NotFound(f"no routing rules {name!r}")
    return found[0]


def route_stored(eng, rules_name: str, plan_name: str, *, account_ids: Sequence[str] | None = None,
                 unrouted_only: bool = True) -> RoutingRun:
    """Route imported accounts with a stored rule set on a stored plan (its alignment, and its
    staffing when its reps are imported): the accounts named, else those without an owner
    (``unrouted_only``) or all. Nothing is written."""
    from territorium.plan import plans
    from territorium.plan.stored import plan_files
    from territorium.plan.workspace import Workspace

    rs = parse_yaml(stored_rule_set(eng, rules_name)["yaml"], source=rules_name)
    ws = Workspace(engine=eng)
    acc = read_accounts(ws)
    ids = acc["account_id"].astype(str)
    if account_ids is not None:
        missing = sorted(set(account_ids) - set(ids))
        if missing:
            raise plans.NotFound(f"no account {', '.join(repr(m) for m in missing[:5])}"
                                 + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
        acc = acc[ids.isin(set(account_ids)).to_numpy()]
    elif unrouted_only:
        owner = acc["owner_id"] if "owner_id" in acc.columns else pd.Series(None, index=acc.index)
        acc = acc[owner.isna() | (owner.astype(str).str.strip() == "")]
    if acc.empty:
        raise RoutingJobError("no accounts to route" + ("" if account_ids is not None else
                              ": every imported account has an owner (name the accounts, or route all)"))
    with plan_files(eng, plan_name) as pf:
        run = run_routing(rs, ws, accounts=acc, alignment=pf.alignment, assignment=pf.staffing,
                          level=pf.info.unit_level)
    run.notes[:0] = pf.notes
    return run
