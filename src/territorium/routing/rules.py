"""Routing rule sets: the data model and the YAML / dict parser (with line numbers).

A rule set is an ordered list of rules; the first rule whose condition matches an account
routes it. A condition is a tree of ``all`` / ``any`` nodes over atomic conditions on one
account field each. Targets are a territory, a rep, a team (round robin or least loaded)
or the nearest territory; the ``fallback`` chain routes what no rule matched.

YAML shape (see ``docs/routing.md`` and ``profiles/routing.example.yaml``)::

    teams:
      managers: {where: {title: Regional Sales Manager}}   # members chosen from the reps table
      pharmacy: [0058d0000Ggr5crAQA, 0058d0000Ggr5cuAQA]    # or listed
    rules:
      - name: enterprise-nyc
        when:
          segment: Enterprise                 # equals (case-insensitive)
          state: {in: [NY, NJ]}
          zip: {between: ["10001", "11499"]}  # ZIP ranges compare 5-digit strings
        assign: {territory: T01}
      - name: pharmacies
        when: {any: [{industry: Pharmacy}, {employees: {range: [200, null]}}]}
        assign: {team: pharmacy, method: least_loaded}
    fallback: [nearest_territory, {least_loaded: all}]

Parsing never raises on a bad rule: every problem becomes an :class:`Issue` with the YAML
line, kept in :attr:`RuleSet.parse_issues`, so one run reports all of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from territorium.yamldoc import Doc, plain
from territorium.yamldoc import load as load_yaml

__all__ = [
    "Condition", "All", "AnyOf", "Target", "Rule", "Team", "Overlay", "RuleSet", "Issue",
    "RuleSetError", "parse_yaml", "parse_dict", "OPS", "TARGET_KINDS",
]

#: Canonical condition operators; ``equals`` is stored as ``in`` with one value and
#: ``between`` as ``range``.
OPS = ("in", "not_in", "range", "prefix", "regex", "missing", "contains")
_ALIASES = {"equals": "in", "eq": "in", "is": "in", "in": "in", "not_in": "not_in", "range": "range",
            "between": "range", "prefix": "prefix", "starts_with": "prefix", "regex": "regex",
            "missing": "missing", "contains": "contains"}
#: Target kinds; ``team`` routes round robin unless ``method: least_loaded``.
TARGET_KINDS = ("territory", "rep", "round_robin", "least_loaded", "nearest_territory")


@dataclass(frozen=True)
class Issue:
    """One finding about a rule set: severity ``error`` / ``warning`` / ``info``."""

    severity: str
    code: str
    message: str
    line: int | None = None
    rule: str | None = None
    other_rule: str | None = None
    other_line: int | None = None
    source: str = "rules"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        who = f" rule {self.rule!r}:" if self.rule else ""
        return f"{where}: {self.severity} [{self.code}]{who} {self.message}"


class RuleSetError(ValueError):
    """A rule set that cannot be used; ``issues`` lists every error with its line."""

    def __init__(self, issues: Sequence[Issue]):
        self.issues = tuple(issues)
        errs = [i for i in self.issues if i.severity == "error"] or list(self.issues)
        more = f" (+{len(errs) - 8} more)" if len(errs) > 8 else ""
        super().__init__("; ".join(str(i) for i in errs[:8]) + more)


@dataclass(frozen=True)
class Condition:
    """One test on one field.

    ``op`` is one of :data:`OPS`; ``value`` is a tuple of values for ``in`` / ``not_in`` /
    ``prefix`` / ``contains``, ``(lo, hi)`` for ``range`` (None = open end), a pattern for
    ``regex`` and a bool for ``missing``. ``text`` is what the user wrote (for messages).
    """

    field: str
    op: str
    value: Any
    line: int | None = None
    text: str = ""

    def key(self) -> tuple:
        """Identity of the test (same field, op and value), ignoring where it was written."""
        v = self.value
        if self.op in ("in", "not_in", "prefix", "contains"):
            v = tuple(sorted({_norm(x) for x in v}, key=str))
        return (self.field, self.op, v)

    def describe(self) -> str:
        if self.text:
            return self.text
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class All:
    items: tuple
    line: int | None = None


@dataclass(frozen=True)
class AnyOf:
    items: tuple
    line: int | None = None


@dataclass(frozen=True)
class Target:
    """Where a rule (or a fallback step) sends an account.

    kind ``territory`` / ``rep``: ``value`` is the id; ``round_robin`` / ``least_loaded``:
    ``value`` is a team name (``"all"`` = every rep for least loaded); ``nearest_territory``:
    no value.
    """

    kind: str
    value: str | None = None
    line: int | None = None

    def describe(self) -> str:
        if self.kind == "nearest_territory":
            return "nearest territory"
        if self.kind in ("round_robin", "least_loaded"):
            return f"{self.kind.replace('_', ' ')} in team {self.value}"
        return f"{self.kind} {self.value}"


@dataclass(frozen=True)
class Rule:
    name: str
    when: Condition | All | AnyOf | None   # None: matches every account
    target: Target
    line: int | None = None
    description: str = ""


@dataclass(frozen=True)
class Team:
    """A team: listed members, or members chosen from the reps table by ``where``."""

    name: str
    members: tuple[str, ...] = ()
    where: Condition | All | AnyOf | None = None
    line: int | None = None


@dataclass(frozen=True)
class Overlay:
    """An overlay book: accounts of the covered base territories (all when empty) that
    match ``when`` also belong to ``owner`` (a rep, or a team whose members share the
    covered territories round robin)."""

    name: str
    owner_kind: str            # rep | team
    owner: str
    covers: tuple[str, ...] = ()
    when: Condition | All | AnyOf | None = None
    line: int | None = None


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    fallback: tuple[Target, ...] = ()
    teams: Mapping[str, Team] = field(default_factory=dict)
    overlays: tuple[Overlay, ...] = ()
    credit: Mapping[str, Any] | None = None
    source: str = "rules"
    parse_issues: tuple[Issue, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.parse_issues)

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)


# ---------------------------------------------------------------------------- helpers
def _norm(v: Any) -> Any:
    """Case-folded, stripped text; numbers stay numbers."""
    if isinstance(v, str):
        return v.strip().casefold()
    return v


class _Ctx:
    """Collects issues while walking the document."""

    def __init__(self, source: str):
        self.source = source
        self.issues: list[Issue] = []

    def err(self, msg: str, line: int | None, rule: str | None = None, code: str = "parse") -> None:
        self.issues.append(Issue("error", code, msg, line, rule, source=self.source))


_Doc = Doc
_plain = plain


# ---------------------------------------------------------------------------- parsing
def parse_yaml(text: str, source: str = "rules") -> RuleSet:
    """Parse a YAML rule set; problems are kept (with their line) in ``parse_issues``.

    >>> rs = parse_yaml('''
    ... rules:
    ...   - name: big
    ...     when: {employees: {range: [100, null]}}
    ...     assign: {territory: T01}
    ... fallback: nearest_territory
    ... ''')
    >>> rs.rules[0].line, rs.rules[0].when, rs.fallback[0].kind
    (3, Condition(field='employees', op='range', value=(100, None), line=4, text='employees range [100, None]'), 'nearest_territory')
    """
    ctx = _Ctx(source)
    doc, problem = load_yaml(text)
    if problem is not None:
        msg, line = problem
        ctx.err("the rule file is empty" if msg == "the file is empty" else msg, line)
        return RuleSet((), source=source, parse_issues=tuple(ctx.issues))
    return _parse_doc(doc, ctx)


def parse_dict(spec: Mapping[str, Any], source: str = "rules") -> RuleSet:
    """The same rule set from a Python mapping (the API form of the YAML)."""
    return _parse_doc(_plain(spec), _Ctx(source))


_TOP_KEYS = {"rules", "teams", "fallback", "overlays", "credit", "version", "name", "description"}
_RULE_KEYS = {"name", "when", "assign", "target", "description"}


def _parse_doc(doc: _Doc, ctx: _Ctx) -> RuleSet:
    if not isinstance(doc.value, dict):
        ctx.err("a rule set is a mapping with a 'rules:' list", doc.line)
        return RuleSet((), source=ctx.source, parse_issues=tuple(ctx.issues))
    for k, sub in doc.lines.items():
        if k not in _TOP_KEYS:
            ctx.err(f"unknown top-level key {k!r}; allowed: {', '.join(sorted(_TOP_KEYS))}", sub.line)
    teams = _parse_teams(doc.lines.get("teams"), ctx)
    rules: list[Rule] = []
    rd = doc.lines.get("rules")
    if rd is None:
        ctx.err("missing 'rules:' (a list of rules)", doc.line)
    elif not isinstance(rd.value, list):
        ctx.err("'rules:' must be a list of rules", rd.line)
    else:
        seen: dict[str, int | None] = {}
        for i, item in enumerate(rd.lines):
            r = _parse_rule(item, i, ctx)
            if r is None:
                continue
            if r.name in seen:
                ctx.err(f"duplicate rule name (first on line {seen[r.name]})", r.line, r.name)
            seen.setdefault(r.name, r.line)
            rules.append(r)
    fallback: list[Target] = []
    fd = doc.lines.get("fallback")
    if fd is not None:
        items = fd.lines if isinstance(fd.value, list) else [fd]
        for it in items:
            t = _parse_target(it, ctx, None, "fallback")
            if t is not None:
                fallback.append(t)
    overlays = _parse_overlays(doc.lines.get("overlays"), ctx)
    credit = None
    cd = doc.lines.get("credit")
    if cd is not None:
        credit = _parse_credit(cd, ctx)
    return RuleSet(tuple(rules), tuple(fallback), teams, tuple(overlays), credit, ctx.source, tuple(ctx.issues))


def _parse_rule(item: _Doc, i: int, ctx: _Ctx) -> Rule | None:
    if not isinstance(item.value, dict):
        ctx.err("each rule is a mapping with name, when and assign", item.line)
        return None
    name = str(item.value.get("name") or f"rule{i + 1}")
    for k, sub in item.lines.items():
        if k not in _RULE_KEYS:
            ctx.err(f"unknown key {k!r} in a rule; allowed: name, when, assign, description", sub.line, name)
    when = None
    wd = item.lines.get("when")
    if wd is not None and wd.value not in (None, "always", True):
        when = _parse_cond(wd, ctx, name)
        if when is _BAD:
            return None
    td = item.lines.get("assign", item.lines.get("target"))
    if td is None:
        ctx.err("missing 'assign:' (territory, rep, team or nearest_territory)", item.line, name)
        return None
    target = _parse_target(td, ctx, name, "assign")
    if target is None:
        return None
    return Rule(name, when, target, item.line, str(item.value.get("description") or ""))


_BAD = object()


def _parse_cond(d: _Doc, ctx: _Ctx, rule: str | None):
    """A ``when`` value: mapping of field → spec (all of them), or ``all`` / ``any`` lists."""
    v = d.value
    if isinstance(v, list):
        items = [_parse_cond(x, ctx, rule) for x in d.lines]
        if any(x is _BAD for x in items):
            return _BAD
        return All(tuple(items), d.line) if len(items) != 1 else items[0]
    if not isinstance(v, dict) or not v:
        ctx.err("a condition is a mapping of field: value (or all: / any: lists)", d.line, rule)
        return _BAD
    parts = []
    for key, sub in d.lines.items():
        if key in ("all", "any"):
            if not isinstance(sub.value, list) or not sub.value:
                ctx.err(f"'{key}:' needs a non-empty list of conditions", sub.line, rule)
                return _BAD
            items = [_parse_cond(x, ctx, rule) for x in sub.lines]
            if any(x is _BAD for x in items):
                return _BAD
            parts.append((All if key == "all" else AnyOf)(tuple(items), sub.line))
        elif key == "not":
            ctx.err("'not:' is not supported; use not_in, or missing: false", sub.line, rule)
            return _BAD
        else:
            c = _parse_atom(str(key), sub, ctx, rule)
            if c is None:
                return _BAD
            parts.append(c)
    return parts[0] if len(parts) == 1 else All(tuple(parts), d.line)


def _parse_atom(fieldname: str, d: _Doc, ctx: _Ctx, rule: str | None) -> Condition | None:
    v = d.value
    if not isinstance(v, dict):
        if isinstance(v, list):
            return Condition(fieldname, "in", tuple(v), d.line, f"{fieldname} in {v}")
        if v is None:
            return Condition(fieldname, "missing", True, d.line, f"{fieldname} missing")
        return Condition(fieldname, "in", (v,), d.line, f"{fieldname} = {v}")
    if len(v) != 1:
        ctx.err(f"field {fieldname!r}: one operator per condition (got {', '.join(map(str, v))}); "
                "combine several with all:", d.line, rule)
        return None
    (op_raw, val), = v.items()
    op = _ALIASES.get(str(op_raw).lower())
    if op is None:
        ctx.err(f"field {fieldname!r}: unknown operator {op_raw!r}; use one of equals, in, not_in, "
                "range/between, prefix, regex, missing, contains", d.line, rule)
        return None
    text = f"{fieldname} {op_raw} {val}"
    if op == "range":
        if isinstance(val, dict):
            lo, hi = val.get("min"), val.get("max")
        elif isinstance(val, (list, tuple)) and len(val) == 2:
            lo, hi = val
        else:
            ctx.err(f"field {fieldname!r}: {op_raw} needs [low, high] (null for an open end)", d.line, rule)
            return None
        return Condition(fieldname, "range", (lo, hi), d.line, f"{fieldname} {op_raw} [{lo}, {hi}]")
    if op == "missing":
        if not isinstance(val, bool):
            ctx.err(f"field {fieldname!r}: missing takes true or false", d.line, rule)
            return None
        return Condition(fieldname, "missing", val, d.line, text)
    if op == "regex":
        import re

        try:
            re.compile(str(val))
        except re.error as exc:
            ctx.err(f"field {fieldname!r}: invalid regex {val!r}: {exc}", d.line, rule, code="type")
            return None
        return Condition(fieldname, "regex", str(val), d.line, text)
    vals = tuple(val) if isinstance(val, (list, tuple)) else (val,)
    if op in ("in", "not_in") and str(op_raw).lower() in ("equals", "eq", "is") and isinstance(val, (list, tuple)):
        ctx.err(f"field {fieldname!r}: equals takes one value; use in: for a list", d.line, rule)
        return None
    if not vals:
        ctx.err(f"field {fieldname!r}: {op_raw} needs at least one value", d.line, rule)
        return None
    if any(x is None for x in vals):
        ctx.err(f"field {fieldname!r}: null in a list of values; use missing: true", d.line, rule)
        return None
    return Condition(fieldname, op, vals, d.line, text)


def _parse_target(d: _Doc, ctx: _Ctx, rule: str | None, where: str) -> Target | None:
    v = d.value
    if isinstance(v, str):
        if v in ("nearest_territory", "nearest"):
            return Target("nearest_territory", None, d.line)
        if v in ("least_loaded", "round_robin"):
            return Target(v, "all", d.line)
        ctx.err(f"{where}: {v!r} is not a target; use nearest_territory, least_loaded, "
                "or a mapping such as {territory: T01}", d.line, rule)
        return None
    if not isinstance(v, dict) or not v:
        ctx.err(f"{where}: a target is territory:, rep:, team: (with method:), least_loaded:, "
                "round_robin: or nearest_territory", d.line, rule)
        return None
    keys = set(v)
    if keys == {"team", "method"} or keys == {"team"}:
        method = str(v.get("method", "round_robin"))
        if method not in ("round_robin", "least_loaded"):
            ctx.err(f"{where}: method must be round_robin or least_loaded, not {method!r}",
                    d.lines["method"].line, rule)
            return None
        return Target(method, str(v["team"]), d.line)
    if len(keys) != 1:
        ctx.err(f"{where}: one target per rule (got {', '.join(map(str, v))})", d.line, rule)
        return None
    (kind, val), = v.items()
    if kind in ("nearest_territory", "nearest"):
        return Target("nearest_territory", None, d.line)
    if kind not in ("territory", "rep", "round_robin", "least_loaded"):
        ctx.err(f"{where}: unknown target {kind!r}; use territory, rep, team, least_loaded, round_robin "
                "or nearest_territory", d.line, rule)
        return None
    if val is None or isinstance(val, (list, dict)):
        ctx.err(f"{where}: {kind} needs one id or team name", d.line, rule)
        return None
    return Target(str(kind), str(val), d.line)


def _parse_teams(d: _Doc | None, ctx: _Ctx) -> dict[str, Team]:
    if d is None:
        return {}
    if not isinstance(d.value, dict):
        ctx.err("'teams:' must map team names to member lists or {where: condition}", d.line)
        return {}
    teams = {}
    for name, sub in d.lines.items():
        name = str(name)
        if name == "all":
            ctx.err("'all' is reserved (every rep); pick another team name", sub.line)
            continue
        if isinstance(sub.value, list):
            if not sub.value:
                ctx.err(f"team {name!r} has no members", sub.line)
                continue
            teams[name] = Team(name, tuple(str(x) for x in sub.value), None, sub.line)
        elif isinstance(sub.value, dict) and set(sub.value) <= {"where", "members"} and sub.value:
            members = tuple(str(x) for x in (sub.value.get("members") or ()))
            where = None
            if "where" in sub.lines:
                where = _parse_cond(sub.lines["where"], ctx, None)
                if where is _BAD:
                    continue
            teams[name] = Team(name, members, where, sub.line)
        else:
            ctx.err(f"team {name!r}: give a list of rep ids, or {{where: condition on rep fields}}", sub.line)
    return teams


def _parse_overlays(d: _Doc | None, ctx: _Ctx) -> list[Overlay]:
    if d is None:
        return []
    if not isinstance(d.value, list):
        ctx.err("'overlays:' must be a list", d.line)
        return []
    out = []
    for i, item in enumerate(d.lines):
        if not isinstance(item.value, dict):
            ctx.err("an overlay is a mapping with name, owner, covers and when", item.line)
            continue
        name = str(item.value.get("name") or f"overlay{i + 1}")
        for k, sub in item.lines.items():
            if k not in ("name", "owner", "covers", "when"):
                ctx.err(f"unknown key {k!r} in an overlay; allowed: name, owner, covers, when", sub.line, name)
        od = item.lines.get("owner")
        if od is None or not isinstance(od.value, dict) or len(od.value) != 1 or \
                next(iter(od.value)) not in ("rep", "team"):
            ctx.err("overlay owner must be {rep: ID} or {team: NAME}", (od or item).line, name)
            continue
        (kind, owner), = od.value.items()
        covers = item.value.get("covers") or ()
        if isinstance(covers, str):
            covers = (covers,) if covers != "all" else ()
        when = None
        if "when" in item.lines:
            when = _parse_cond(item.lines["when"], ctx, name)
            if when is _BAD:
                continue
        out.append(Overlay(name, kind, str(owner), tuple(str(c) for c in covers), when, item.line))
    return out


def _parse_credit(d: _Doc, ctx: _Ctx) -> dict | None:
    v = d.value
    if not isinstance(v, dict) or not set(v) <= {"mode", "base", "overlay"}:
        ctx.err("credit: needs mode (split | additive), base and overlay shares", d.line)
        return None
    mode = str(v.get("mode", "split"))
    if mode not in ("split", "additive"):
        ctx.err(f"credit mode must be split or additive, not {mode!r}", d.line)
        return None
    try:
        base = float(v.get("base", 1.0 if mode == "additive" else 0.7))
        ov = float(v.get("overlay", 0.5 if mode == "additive" else 0.3))
    except (TypeError, ValueError):
        ctx.err("credit shares must be numbers", d.line)
        return None
    if mode == "split" and abs(base + ov - 1.0) > 1e-9:
        ctx.err(f"split credit shares must add up to 1 (base {base} + overlay {ov} = {base + ov})", d.line)
        return None
    return {"mode": mode, "base": base, "overlay": ov}


def iter_conditions(node) -> Iterable[Condition]:
    """Every atomic condition under ``node``."""
    if node is None:
        return
    if isinstance(node, Condition):
        yield node
    else:
        for it in node.items:
            yield from iter_conditions(it)
