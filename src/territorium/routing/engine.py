"""Bulk routing: first matching rule per account with boolean masks, then the targets.

Rule matching is one mask per rule and a running "still unrouted" mask (no loop over
accounts). Targets that need an order — round robin within a team, least-loaded rep — walk
their accounts sorted by account id, so the result does not depend on the input order.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from territorium.routing.masks import Evaluator, infer_field_kinds
from territorium.routing.rules import All, AnyOf, Condition, Issue, RuleSet, RuleSetError, Target
from territorium.routing.validate import validate

__all__ = ["RoutingContext", "RoutingResult", "DryRun", "route", "compare", "describe"]

EARTH_KM = 6371.0088


@dataclass(frozen=True)
class RoutingContext:
    """What routing needs beyond the accounts: territories, reps, loads, geography.

    Parameters
    ----------
    territories : known territory ids (targets are checked against them).
    territory_rep : territory → rep who owns it (a territory target routes to this rep).
    reps : the reps table (``rep_id`` plus fields such as ``title``, ``skills``) for team
        selectors and least-loaded ``all``.
    rep_load : current book workload per rep (hours); least-loaded starts from it.
    geo_territory : territory of each account's own unit (aligned with the accounts; None or
        "" where unknown): the first choice of ``nearest_territory``.
    territory_centres : ``territory, lat, lon``: the fall-back of ``nearest_territory`` for
        accounts whose unit is not aligned.
    load_column : account column added to a rep's load when least-loaded routes to them
        (1 per account when absent).
    fields : account field → kind; inferred from the accounts when None.
    """

    territories: Sequence[str] = ()
    territory_rep: Mapping[str, str] = field(default_factory=dict)
    reps: pd.DataFrame | None = None
    rep_load: Mapping[str, float] = field(default_factory=dict)
    geo_territory: np.ndarray | None = None
    territory_centres: pd.DataFrame | None = None
    load_column: str | None = "workload"
    fields: Mapping[str, str] | None = None

    def rep_ids(self) -> list[str] | None:
        ids: list[str] = []
        if self.reps is not None and "rep_id" in self.reps.columns:
            ids += [str(r) for r in self.reps["rep_id"]]
        ids += [str(r) for r in self.territory_rep.values() if r is not None and r == r]
        ids += [str(r) for r in self.rep_load]
        return list(dict.fromkeys(ids)) or None

    def territory_ids(self) -> list[str] | None:
        ids = [str(t) for t in self.territories] + [str(t) for t in self.territory_rep]
        return list(dict.fromkeys(ids)) or None


@dataclass(frozen=True)
class RoutingResult:
    """Routing of every account.

    ``table`` (aligned with the input): account_id, territory, rep, rule, rule_line, via
    (``rule`` / ``fallback`` / ``unrouted``), method (target kind), detail, explanation.
    ``rules``: per rule its line, accounts whose condition holds (``matched``) and accounts
    it routed (``routed``: first match). ``overlays``: account_id, overlay, owner.
    """

    table: pd.DataFrame
    rules: pd.DataFrame
    overlays: pd.DataFrame
    teams: Mapping[str, tuple[str, ...]]
    issues: tuple[Issue, ...] = ()

    @property
    def unrouted(self) -> int:
        return int((self.table["via"] == "unrouted").sum())

    def explain(self, account_id: str) -> str:
        row = self.table.loc[self.table["account_id"].astype(str) == str(account_id)]
        if row.empty:
            raise KeyError(f"no account {account_id!r}")
        return str(row["explanation"].iloc[0])


@dataclass(frozen=True)
class DryRun:
    """What routing would change: one row per changed account, and counts per from → to."""

    changes: pd.DataFrame
    by_rep: pd.DataFrame
    by_territory: pd.DataFrame
    accounts: int

    @property
    def changed(self) -> int:
        return len(self.changes)


def describe(node) -> str:
    """The condition as text (``segment = Enterprise and (state in [NY] or ...)``)."""
    if node is None:
        return "always"
    if isinstance(node, Condition):
        return node.describe()
    parts = [describe(it) for it in node.items]
    if isinstance(node, All):
        return " and ".join(f"({p})" if isinstance(it, AnyOf) else p for p, it in zip(parts, node.items))
    return " or ".join(parts)


def _resolve_teams(rs: RuleSet, ctx: RoutingContext) -> dict[str, tuple[str, ...]]:
    teams: dict[str, tuple[str, ...]] = {}
    issues = []
    reps = ctx.reps
    for name, t in rs.teams.items():
        members = list(t.members)
        if t.where is not None:
            if reps is None or reps.empty:
                issues.append(Issue("error", "unknown_team", f"team {name!r} selects reps with where:, "
                                    "but no reps table is available", t.line, source=rs.source))
                continue
            r = reps.sort_values("rep_id", kind="stable").reset_index(drop=True)
            try:
                m = Evaluator(r).mask(t.where)
            except (KeyError, TypeError) as exc:
                issues.append(Issue("error", "unknown_field", f"team {name!r}: {exc}", t.line, source=rs.source))
                continue
            members += [str(x) for x in r.loc[m, "rep_id"]]
        members = list(dict.fromkeys(members))
        if not members:
            issues.append(Issue("error", "empty_team", f"team {name!r} has no members", t.line, source=rs.source))
            continue
        teams[name] = tuple(members)
    if issues:
        raise RuleSetError(issues)
    return teams


def _haversine_nearest(lat, lon, clat, clon, chunk: int = 20000):
    """Index of and distance (km) to the nearest centre for each point."""
    n = len(lat)
    best = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if n == 0 or len(clat) == 0:
        return best, dist
    p1, l1 = np.radians(lat)[:, None], np.radians(lon)[:, None]
    p2, l2 = np.radians(clat)[None, :], np.radians(clon)[None, :]
    for s in range(0, n, chunk):
        a = (np.sin((p2 - p1[s:s + chunk]) / 2) ** 2
             + np.cos(p1[s:s + chunk]) * np.cos(p2) * np.sin((l2 - l1[s:s + chunk]) / 2) ** 2)
        d = 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
        best[s:s + chunk] = d.argmin(axis=1)
        dist[s:s + chunk] = d[np.arange(len(d)), best[s:s + chunk]]
    return best, dist


class _Router:
    def __init__(self, rs: RuleSet, acc: pd.DataFrame, ctx: RoutingContext, teams, ids: np.ndarray):
        self.rs, self.acc, self.ctx, self.teams, self.ids = rs, acc, ctx, teams, ids
        n = len(acc)
        self.terr = np.full(n, None, dtype=object)
        self.rep = np.full(n, None, dtype=object)
        self.detail = np.full(n, "", dtype=object)
        self.method = np.full(n, None, dtype=object)
        self.rr_next: dict[str, int] = {}
        self.loads: dict[str, float] = {str(k): float(v) for k, v in ctx.rep_load.items()}
        col = ctx.load_column
        self.weight = (pd.to_numeric(acc[col], errors="coerce").fillna(0.0).to_numpy(float)
                       if col and col in acc.columns else np.ones(n))
        self.rep_terr: dict[str, str] = {}
        owned: dict[str, list[str]] = {}
        for t, r in ctx.territory_rep.items():
            if r is not None and r == r:
                owned.setdefault(str(r), []).append(str(t))
        self.rep_terr = {r: ts[0] for r, ts in owned.items() if len(ts) == 1}
        self.all_reps = self._all_reps()

    def _all_reps(self) -> tuple[str, ...]:
        reps = self.ctx.reps
        if reps is not None and not reps.empty:
            r = reps
            if "active" in r.columns:
                r = r[r["active"].fillna(True).astype(bool)]
            return tuple(sorted(str(x) for x in r["rep_id"]))
        ids = self.ctx.rep_ids() or []
        return tuple(sorted(ids))

    def _ordered(self, idx: np.ndarray) -> np.ndarray:
        return idx[np.argsort(self.ids[idx], kind="stable")]

    def apply(self, t: Target, idx: np.ndarray) -> np.ndarray:
        """Route positions ``idx`` to ``t``; returns the positions it could not route."""
        if len(idx) == 0:
            return idx
        if t.kind == "territory":
            self.terr[idx] = t.value
            self.rep[idx] = self.ctx.territory_rep.get(t.value)
        elif t.kind == "rep":
            self.rep[idx] = t.value
            self.terr[idx] = self.rep_terr.get(t.value)
        elif t.kind == "round_robin":
            members = self.teams[t.value] if t.value != "all" else self.all_reps
            order = self._ordered(idx)
            start = self.rr_next.get(t.value, 0)
            k = (start + np.arange(len(order))) % len(members)
            self.rep[order] = np.asarray(members, dtype=object)[k]
            self.terr[order] = [self.rep_terr.get(m) for m in self.rep[order]]
            self.detail[order] = [f"member {i + 1} of {len(members)}" for i in k]
            self.rr_next[t.value] = int((start + len(order)) % len(members))
        elif t.kind == "least_loaded":
            members = self.teams[t.value] if t.value != "all" else self.all_reps
            if not members:
                return idx
            heap = [(self.loads.get(m, 0.0), i, m) for i, m in enumerate(members)]
            heapq.heapify(heap)
            order = self._ordered(idx)
            w = self.weight[order]
            out_rep = np.empty(len(order), dtype=object)
            out_load = np.empty(len(order))
            for p in range(len(order)):
                load, i, m = heapq.heappop(heap)
                out_rep[p], out_load[p] = m, load
                heapq.heappush(heap, (load + w[p], i, m))
            for load, _, m in heap:
                self.loads[m] = load
            self.rep[order] = out_rep
            self.terr[order] = [self.rep_terr.get(m) for m in out_rep]
            self.detail[order] = [f"load {x:,.0f} h before" for x in out_load]
        elif t.kind == "nearest_territory":
            return self._nearest(idx)
        else:  # pragma: no cover - parser guarantees the kinds
            raise ValueError(t.kind)
        self.method[idx] = t.kind
        return np.zeros(0, dtype=np.int64)

    def _nearest(self, idx: np.ndarray) -> np.ndarray:
        ctx = self.ctx
        known = set(ctx.territory_ids() or [])
        rest = idx
        if ctx.geo_territory is not None:
            g = np.asarray(ctx.geo_territory, dtype=object)[idx]
            ok = np.array([isinstance(x, str) and x != "" and (not known or x in known) for x in g], dtype=bool)
            hit = idx[ok]
            self.terr[hit] = g[ok]
            self.rep[hit] = [ctx.territory_rep.get(x) for x in g[ok]]
            self.detail[hit] = [f"its unit is in {x}" for x in g[ok]]
            self.method[hit] = "nearest_territory"
            rest = idx[~ok]
        c = ctx.territory_centres
        if len(rest) and c is not None and len(c) and {"lat", "lon"} <= set(self.acc.columns):
            lat = pd.to_numeric(self.acc["lat"], errors="coerce").to_numpy(float)[rest]
            lon = pd.to_numeric(self.acc["lon"], errors="coerce").to_numpy(float)[rest]
            has = ~(np.isnan(lat) | np.isnan(lon))
            b, d = _haversine_nearest(lat[has], lon[has], c["lat"].to_numpy(float), c["lon"].to_numpy(float))
            tids = c["territory"].astype(str).to_numpy(dtype=object)[b]
            hit = rest[has]
            self.terr[hit] = tids
            self.rep[hit] = [ctx.territory_rep.get(x) for x in tids]
            self.detail[hit] = [f"{x:,.1f} km from the centre of {t}" for x, t in zip(d, tids)]
            self.method[hit] = "nearest_territory"
            rest = rest[~has]
        return rest


def route(ruleset: RuleSet, accounts: pd.DataFrame, context: RoutingContext | None = None, *,
          id_column: str = "account_id") -> RoutingResult:
    """Route every account: first matching rule, then the fallback chain.

    Parameters
    ----------
    ruleset : parsed rules (:func:`~territorium.routing.rules.parse_yaml`).
    accounts : one row per account; ``id_column`` identifies it.
    context : territories, reps, loads and geography (:class:`RoutingContext`).

    Raises
    ------
    RuleSetError
        When the rule set has errors (parse errors, unknown fields or targets, type errors),
        with every error and its line.

    Examples
    --------
    >>> from territorium.routing.rules import parse_yaml
    >>> rs = parse_yaml('''
    ... teams: {pharma: [r1, r2]}
    ... rules:
    ...   - {name: big, when: {employees: {range: [100, null]}}, assign: {territory: T1}}
    ...   - {name: pharmacies, when: {industry: Pharmacy}, assign: {team: pharma}}
    ... fallback: {rep: r9}
    ... ''')
    >>> acc = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "employees": [500, 3, 4, None],
    ...                     "industry": ["Pharmacy", "pharmacy", "Pharmacy", "Salon"]})
    >>> ctx = RoutingContext(territory_rep={"T1": "r1"}, rep_load={"r2": 0, "r9": 0})
    >>> t = route(rs, acc, ctx).table
    >>> t[["account_id", "rep", "rule", "via"]].fillna("-").values.tolist()
    [['a', 'r1', 'big', 'rule'], ['b', 'r1', 'pharmacies', 'rule'], ['c', 'r2', 'pharmacies', 'rule'], ['d', 'r9', '-', 'fallback']]
    """
    ctx = context or RoutingContext()
    if id_column not in accounts.columns:
        raise KeyError(f"the accounts have no {id_column!r} column")
    acc = accounts.reset_index(drop=True)
    kinds = dict(ctx.fields) if ctx.fields is not None else infer_field_kinds(acc)
    kinds = {k: v for k, v in kinds.items() if k in acc.columns}
    rep_fields = infer_field_kinds(ctx.reps) if ctx.reps is not None else None
    report = validate(ruleset, fields=kinds, territories=ctx.territory_ids(), reps=ctx.rep_ids(),
                      rep_fields=rep_fields, analysis=False)
    if report.errors:
        raise RuleSetError(report.errors)
    teams = _resolve_teams(ruleset, ctx)
    n = len(acc)
    ids = acc[id_column].astype(str).to_numpy(dtype=object)
    ev = Evaluator(acc, kinds)
    rule_idx = np.full(n, -1, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    matched = []
    for i, r in enumerate(ruleset.rules):
        m = ev.mask(r.when)
        matched.append(int(m.sum()))
        hit = m & free
        rule_idx[hit] = i
        free &= ~m
    router = _Router(ruleset, acc, ctx, teams, ids)
    via = np.where(rule_idx >= 0, "rule", "unrouted").astype(object)
    failed: list[np.ndarray] = []
    for i, r in enumerate(ruleset.rules):
        idx = np.flatnonzero(rule_idx == i)
        left = router.apply(r.target, idx)
        if len(left):
            failed.append(left)
    pending = np.sort(np.concatenate([np.flatnonzero(rule_idx < 0), *failed])) if failed or (rule_idx < 0).any() \
        else np.zeros(0, dtype=np.int64)
    fb_step = np.full(n, -1, dtype=np.int64)
    for s, t in enumerate(ruleset.fallback):
        if len(pending) == 0:
            break
        left = router.apply(t, pending)
        done = np.setdiff1d(pending, left)
        fb_step[done] = s
        via[done] = "fallback"
        pending = left
    via[pending] = "unrouted"
    router.method[pending] = None
    # explanations: one text per rule / fallback step, plus the per-account detail
    base_rule = [f"rule {r.name!r} (line {r.line}): {describe(r.when)} → {r.target.describe()}"
                 for r in ruleset.rules]
    base_fb = [f"no rule matched; fallback {s + 1} (line {t.line}) → {t.describe()}"
               for s, t in enumerate(ruleset.fallback)]
    expl = np.empty(n, dtype=object)
    for p in range(n):
        if via[p] == "fallback":
            e = base_fb[fb_step[p]]
        elif via[p] == "rule":
            e = base_rule[rule_idx[p]]
        else:
            e = ("no rule matched and no fallback could route it" if rule_idx[p] < 0
                 else base_rule[rule_idx[p]] + " (target not reachable; no fallback could route it)")
        d = router.detail[p]
        expl[p] = f"{e}: {d}" if d else e
    rule_name = np.asarray([r.name for r in ruleset.rules] + [None], dtype=object)[rule_idx]
    rule_line = np.asarray([r.line for r in ruleset.rules] + [None], dtype=object)[rule_idx]
    table = pd.DataFrame({
        "account_id": ids, "territory": router.terr, "rep": router.rep, "rule": rule_name,
        "rule_line": rule_line, "via": via, "method": router.method, "detail": router.detail,
        "explanation": expl,
    })
    routed = np.bincount(rule_idx[(rule_idx >= 0) & (via == "rule")], minlength=len(ruleset.rules)) \
        if len(ruleset.rules) else np.zeros(0, dtype=np.int64)
    rules = pd.DataFrame({
        "rule": [r.name for r in ruleset.rules], "line": [r.line for r in ruleset.rules],
        "target": [r.target.describe() for r in ruleset.rules], "matched": matched, "routed": routed,
    })
    overlays = _overlays(ruleset, acc, ev, table["territory"].to_numpy(dtype=object), ids, ctx, teams)
    issues = []
    if len(pending):
        issues.append(Issue("warning", "unrouted", f"{len(pending):,} accounts matched no rule and no fallback "
                            "could route them (add fallback: nearest_territory or least_loaded)",
                            None, source=ruleset.source))
    return RoutingResult(table, rules, overlays, teams, tuple(issues))


def _overlays(rs: RuleSet, acc, ev: Evaluator, base_terr, ids, ctx: RoutingContext, teams) -> pd.DataFrame:
    cols = ["account_id", "overlay", "owner", "territory"]
    if not rs.overlays:
        return pd.DataFrame(columns=cols)
    frames = []
    all_terr = sorted(set(ctx.territory_ids() or []) | {t for t in base_terr if isinstance(t, str)})
    for ov in rs.overlays:
        covers = list(ov.covers) or all_terr
        m = ev.mask(ov.when) & np.isin(base_terr.astype(str), covers) & pd.notna(base_terr)
        idx = np.flatnonzero(m)
        if ov.owner_kind == "rep":
            owner = np.full(len(idx), ov.owner, dtype=object)
        else:
            members = teams[ov.owner]
            by_terr = {t: members[i % len(members)] for i, t in enumerate(sorted(covers))}
            owner = np.asarray([by_terr[t] for t in base_terr[idx]], dtype=object)
        frames.append(pd.DataFrame({"account_id": ids[idx], "overlay": ov.name, "owner": owner,
                                    "territory": base_terr[idx]}))
    return pd.concat(frames, ignore_index=True)[cols]


def compare(result: RoutingResult, current_rep: Sequence | None, current_territory: Sequence | None = None,
            *, names: Mapping[str, str] | None = None) -> DryRun:
    """What routing would change against the current owner (and territory).

    ``current_rep`` / ``current_territory`` are aligned with the routed accounts. Accounts
    that routing left unrouted are not counted as changes (they keep their owner).
    """
    t = result.table
    n = len(t)
    cur_rep = pd.Series(list(current_rep) if current_rep is not None else [None] * n, dtype=object)
    cur_ter = pd.Series(list(current_territory) if current_territory is not None else [None] * n, dtype=object)
    new_rep = t["rep"].astype(object)
    new_ter = t["territory"].astype(object)
    routed = (t["via"] != "unrouted").to_numpy()
    rep_ch = routed & (cur_rep.fillna("").astype(str).to_numpy() != new_rep.fillna("").astype(str).to_numpy())
    ter_ch = routed & (current_territory is not None) & (
        cur_ter.fillna("").astype(str).to_numpy() != new_ter.fillna("").astype(str).to_numpy())
    ch = rep_ch | ter_ch
    changes = pd.DataFrame({
        "account_id": t["account_id"].to_numpy()[ch], "from_rep": cur_rep.to_numpy()[ch],
        "to_rep": new_rep.to_numpy()[ch], "from_territory": cur_ter.to_numpy()[ch],
        "to_territory": new_ter.to_numpy()[ch], "rule": t["rule"].to_numpy()[ch],
        "explanation": t["explanation"].to_numpy()[ch],
    })
    if names:
        changes.insert(1, "name", changes["account_id"].map(names))

    by_rep = _pairs(cur_rep.to_numpy(), new_rep.to_numpy(), rep_ch)
    by_ter = _pairs(cur_ter.to_numpy(), new_ter.to_numpy(), ter_ch)
    return DryRun(changes, by_rep, by_ter, n)


def _pairs(frm: np.ndarray, to: np.ndarray, mask: np.ndarray) -> pd.DataFrame:
    """Counts per (from, to) among ``mask``, largest first."""
    if not mask.any():
        return pd.DataFrame(columns=["from", "to", "accounts"])
    df = pd.DataFrame({"from": frm[mask], "to": to[mask]}).fillna("(none)").astype(str)
    c = df.value_counts().reset_index(name="accounts")
    return c.sort_values(["accounts", "from", "to"], ascending=[False, True, True]).reset_index(drop=True)
