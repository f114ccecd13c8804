"""Rule-set validation: unknown fields and targets, type errors, unreachable rules, overlaps.

Every finding is an :class:`~territorium.routing.rules.Issue` with the YAML line of the rule
(or condition) concerned. The logic checks are symbolic: each rule's condition is put in
disjunctive normal form (an OR of ANDs of atomic tests) and

- a rule is **unreachable** when every AND-branch of it implies a branch of one earlier rule
  (exact duplicates, ``segment = Enterprise`` after ``segment in [Enterprise, Mid-Market]``,
  ``employees in [200, 500]`` after ``employees >= 100``, a ZIP range inside an earlier one,
  a longer prefix after a shorter one, anything after a catch-all), or when its branches are
  covered by several earlier rules value by value (``state in [NY, NJ]`` after one rule for
  NY and one for NJ), or when it can never match (``range [10, 5]``);
- two rules **overlap** when some branch of each can hold at once (no field forces them
  apart); the earlier one wins. With data, the number of accounts both match is given.

The checks are sound for what they report as unreachable; overlap is reported when the
rules *may* both match (a regex is assumed to match something unless a finite list decides).
"""
from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from territorium.routing.masks import OPS_BY_KIND, Evaluator, norm_zip
from territorium.routing.rules import AnyOf, Condition, Issue, RuleSet, Target, iter_conditions

__all__ = ["ValidationReport", "validate", "dnf", "implies", "satisfiable"]

_DNF_LIMIT = 256
_SPLIT_LIMIT = 64


@dataclass(frozen=True)
class ValidationReport:
    """Issues sorted by line; ``overlaps`` has one row per overlapping rule pair."""

    issues: tuple[Issue, ...]
    overlaps: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> list[tuple[str, int | None]]:
        """``(code, line)`` of every issue (handy in tests)."""
        return [(i.code, i.line) for i in self.issues]

    def frame(self) -> pd.DataFrame:
        cols = ["severity", "code", "line", "rule", "other_rule", "other_line", "message"]
        return pd.DataFrame([{c: getattr(i, c) for c in cols} for i in self.issues], columns=cols)


# ----------------------------------------------------------------------------- DNF
def dnf(node) -> list[tuple[Condition, ...]] | None:
    """The condition as a list of AND-branches (None when it would exceed 256 branches)."""
    if node is None:
        return [()]
    if isinstance(node, Condition):
        return [(node,)]
    parts = [dnf(it) for it in node.items]
    if any(p is None for p in parts):
        return None
    if isinstance(node, AnyOf):
        out = [b for p in parts for b in p]
        return out if len(out) <= _DNF_LIMIT else None
    size = 1
    for p in parts:
        size *= len(p)
        if size > _DNF_LIMIT:
            return None
    return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*parts)]


# ------------------------------------------------------------- per-field constraint algebra
def _fold(v: Any, kind: str) -> Any:
    if kind == "number":
        return float(v)
    if kind == "zip":
        return norm_zip(v)
    return str(v).strip().casefold()


def _holds(a: Condition, v: Any, kind: str) -> bool:
    """Does the single (non-missing) value ``v`` (already folded) satisfy atom ``a``?"""
    if a.op == "missing":
        return not a.value
    if a.op == "in":
        return v in {_fold(x, kind) for x in a.value}
    if a.op == "not_in":
        return v not in {_fold(x, kind) for x in a.value}
    if a.op == "range":
        lo, hi = a.value
        lo = None if lo is None else _fold(lo, kind)
        hi = None if hi is None else _fold(hi, kind)
        return (lo is None or v >= lo) and (hi is None or v <= hi)
    if a.op == "prefix":
        return str(v).startswith(tuple(_fold(x, "text") for x in a.value))
    if a.op == "contains":
        return any(_fold(x, "text") in str(v) for x in a.value)
    if a.op == "regex":
        # finite values are folded; a case-sensitive pattern may differ from the original text
        return re.search(a.value, str(v), flags=re.IGNORECASE) is not None
    return False


class _Field:
    """What an AND-branch says about one field."""

    def __init__(self, atoms: Sequence[Condition], kind: str):
        self.kind = kind
        self.atoms = list(atoms)
        self.missing: bool | None = None
        self.values: set | None = None          # finite set of allowed values (in)
        self.excluded: set = set()              # not_in
        self.lo = self.hi = None                # range
        self.prefixes: list[tuple[str, ...]] = []
        self.contains: list[set] = []           # list fields: each atom = any-of set
        self.other: list[Condition] = []        # regex, text contains
        self.empty = False
        for a in atoms:
            self._add(a)

    def _add(self, a: Condition) -> None:
        k = self.kind
        if a.op == "missing":
            if self.missing is not None and self.missing != a.value:
                self.empty = True
            self.missing = bool(a.value)
            return
        if a.op == "not_in":
            self.excluded |= {_fold(x, k) for x in a.value}
            return
        if self.missing:
            self.empty = True
        if k == "list" and a.op in ("in", "contains"):
            self.contains.append({_fold(x, "text") for x in a.value})
            return
        if a.op == "in":
            vals = {_fold(x, k) for x in a.value}
            self.values = vals if self.values is None else self.values & vals
        elif a.op == "range":
            lo, hi = a.value
            if lo is not None:
                lo = _fold(lo, k)
                self.lo = lo if self.lo is None else max(self.lo, lo)
            if hi is not None:
                hi = _fold(hi, k)
                self.hi = hi if self.hi is None else min(self.hi, hi)
        elif a.op == "prefix":
            self.prefixes.append(tuple(_fold(x, "text") for x in a.value))
        else:
            self.other.append(a)

    @property
    def positive(self) -> bool:
        """The branch requires a value to be present."""
        return any(a.op not in ("missing", "not_in") for a in self.atoms) or self.missing is False

    def finite(self) -> set | None:
        """The allowed values when the branch pins them to a finite set (else None)."""
        if self.values is None or self.kind == "list":
            return None
        return {v for v in self.values if all(_holds(a, v, self.kind) for a in self.atoms if a.op != "in")}

    def satisfiable(self) -> bool:
        if self.empty:
            return False
        if self.missing and self.positive:
            return False
        fin = self.finite()
        if fin is not None:
            return bool(fin)
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            return False
        if self.kind == "list":
            # any-of sets must each keep one element outside the excluded set
            if any(not (s - self.excluded) for s in self.contains):
                return False
        if len(self.prefixes) > 1:
            # some choice of one prefix per atom must be mutually compatible (one extends the other)
            for combo in itertools.product(*self.prefixes):
                longest = max(combo, key=len)
                if all(longest.startswith(p) for p in combo):
                    break
            else:
                return False
        return True

    def implies(self, a: Condition) -> bool:
        """Does every value allowed by this branch satisfy atom ``a``?"""
        if not self.satisfiable():
            return True
        k = self.kind
        if any(b.key() == a.key() for b in self.atoms):
            return True
        if a.op == "missing":
            return (self.missing is True) if a.value else self.positive
        if self.missing is True:
            return a.op == "not_in"
        fin = self.finite()
        if fin is not None:
            return all(_holds(a, v, k) for v in fin)
        if k == "list":
            if a.op in ("in", "contains"):
                want = {_fold(x, "text") for x in a.value}
                return any(s - self.excluded <= want for s in self.contains)
            if a.op == "not_in":
                return {_fold(x, "text") for x in a.value} <= self.excluded
            return False
        if a.op == "not_in":
            excl = {_fold(x, k) for x in a.value}
            if excl <= self.excluded:
                return True
            if self.lo is not None or self.hi is not None:
                return all(not ((self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi))
                           or v in self.excluded for v in excl)
            if self.prefixes:
                # a listed value is impossible when it fails one of the branch's prefix tests
                return all(v in self.excluded or not all(str(v).startswith(ps) for ps in self.prefixes)
                           for v in excl)
            return False
        if a.op == "range":
            lo, hi = a.value
            lo = None if lo is None else _fold(lo, k)
            hi = None if hi is None else _fold(hi, k)
            ok_lo = lo is None or (self.lo is not None and self.lo >= lo)
            ok_hi = hi is None or (self.hi is not None and self.hi <= hi)
            return ok_lo and ok_hi
        if a.op == "prefix":
            want = tuple(_fold(x, "text") for x in a.value)
            if any(all(p.startswith(want) for p in ps) for ps in self.prefixes):
                return True
            # every string between two strings that share a prefix shares it too
            return (self.lo is not None and self.hi is not None and k != "number"
                    and any(str(self.lo).startswith(w) and str(self.hi).startswith(w) for w in want))
        return False


def _branch_fields(branch: Sequence[Condition], kinds: Mapping[str, str]) -> dict[str, _Field]:
    by: dict[str, list[Condition]] = {}
    for c in branch:
        by.setdefault(c.field, []).append(c)
    return {f: _Field(atoms, kinds.get(f, "text")) for f, atoms in by.items()}


def satisfiable(branch: Sequence[Condition], kinds: Mapping[str, str]) -> bool:
    """Can some account satisfy every test of the AND-branch?"""
    return all(fc.satisfiable() for fc in _branch_fields(branch, kinds).values())


def implies(b: Sequence[Condition], a: Sequence[Condition], kinds: Mapping[str, str]) -> bool:
    """Does AND-branch ``b`` imply AND-branch ``a`` (every account matching b matches a)?"""
    fb = _branch_fields(b, kinds)
    if not all(fc.satisfiable() for fc in fb.values()):
        return True
    for atom in a:
        fc = fb.get(atom.field)
        if fc is None:
            return False  # b allows any value of this field, a does not
        if not fc.implies(atom):
            return False
    return True


# ----------------------------------------------------------------------------- validation
def _field_issues(node, rule: str | None, kinds: Mapping[str, str], src: str, what: str) -> list[Issue]:
    out = []
    for c in iter_conditions(node):
        if c.field not in kinds:
            near = difflib.get_close_matches(c.field, list(kinds), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            out.append(Issue("error", "unknown_field", f"{c.field!r} is not {what}{hint}; known: "
                             + ", ".join(sorted(kinds)), c.line, rule, source=src))
            continue
        kind = kinds[c.field]
        if c.op not in OPS_BY_KIND[kind]:
            out.append(Issue("error", "type", f"{c.op} does not apply to {c.field!r}, a {kind} field"
                             + (" (range works on number and ZIP fields)" if c.op == "range" else ""),
                             c.line, rule, source=src))
            continue
        if kind == "number" and c.op in ("in", "not_in", "range"):
            vals = [v for v in (c.value if c.op != "range" else c.value) if v is not None]
            bad = [v for v in vals if isinstance(v, bool) or not isinstance(v, (int, float))]
            if bad:
                out.append(Issue("error", "type", f"{c.field!r} is a number field; {bad[0]!r} is not a number",
                                 c.line, rule, source=src))
                continue
        if c.op == "range":
            lo, hi = c.value
            if lo is None and hi is None:
                out.append(Issue("error", "type", f"range on {c.field!r} needs at least one bound",
                                 c.line, rule, source=src))
            elif lo is not None and hi is not None and _fold(lo, kind) > _fold(hi, kind):
                out.append(Issue("warning", "empty", f"range [{lo}, {hi}] on {c.field!r} is empty (low > high): "
                                 "the rule never matches", c.line, rule, source=src))
    return out


def _target_issues(t: Target, rule: str | None, rs: RuleSet, known_terr, known_reps, src: str,
                   where: str) -> list[Issue]:
    out = []
    if t.kind == "territory" and known_terr is not None and t.value not in known_terr:
        near = difflib.get_close_matches(str(t.value), [str(x) for x in known_terr], n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        out.append(Issue("error", "unknown_territory", f"{where}: unknown territory {t.value!r}{hint}",
                         t.line, rule, source=src))
    elif t.kind == "rep" and known_reps is not None and t.value not in known_reps:
        out.append(Issue("error", "unknown_rep", f"{where}: unknown rep {t.value!r}", t.line, rule, source=src))
    elif t.kind in ("round_robin", "least_loaded") and t.value != "all" and t.value not in rs.teams:
        teams = ", ".join(sorted(rs.teams)) or "none defined"
        out.append(Issue("error", "unknown_team", f"{where}: unknown team {t.value!r} (teams: {teams}; "
                         "'all' = every rep)", t.line, rule, source=src))
    return out


def validate(
    ruleset: RuleSet,
    *,
    fields: Mapping[str, str] | None = None,
    territories: Iterable[str] | None = None,
    reps: Iterable[str] | None = None,
    rep_fields: Mapping[str, str] | None = None,
    data: pd.DataFrame | None = None,
    analysis: bool = True,
) -> ValidationReport:
    """Check a rule set against the account fields, territories and reps it will run on.

    Parameters
    ----------
    ruleset : the parsed rules (parse problems are included in the report).
    fields : account field → kind (``number``, ``text``, ``zip``, ``list``); None skips the
        field checks.
    territories, reps : known ids; None skips that check.
    rep_fields : rep field → kind, for ``teams: {where: ...}`` selectors.
    data : accounts to count real overlaps on (optional).
    analysis : run the unreachable / overlap analysis (pairs of rules).

    Examples
    --------
    >>> from territorium.routing.rules import parse_yaml
    >>> rs = parse_yaml('''rules:
    ...   - {name: a, when: {state: {in: [NY, NJ]}}, assign: {territory: T1}}
    ...   - {name: b, when: {state: NY}, assign: {territory: T2}}
    ... ''')
    >>> [str(i) for i in validate(rs, fields={"state": "text"}).issues]
    ["rules:3: warning [unreachable] rule 'b': never used: every account it matches is routed first by rule 'a' (line 2)"]
    """
    src = ruleset.source
    issues: list[Issue] = list(ruleset.parse_issues)
    known_terr = None if territories is None else {str(t) for t in territories}
    known_reps = None if reps is None else {str(r) for r in reps}
    for r in ruleset.rules:
        if fields is not None:
            issues += _field_issues(r.when, r.name, fields, src, "an account field")
        issues += _target_issues(r.target, r.name, ruleset, known_terr, known_reps, src, "assign")
    for t in ruleset.fallback:
        issues += _target_issues(t, None, ruleset, known_terr, known_reps, src, "fallback")
    for team in ruleset.teams.values():
        if known_reps is not None:
            bad = [m for m in team.members if m not in known_reps]
            if bad:
                issues.append(Issue("error", "unknown_rep", f"team {team.name!r}: unknown rep(s) {', '.join(bad[:5])}",
                                    team.line, source=src))
        if team.where is not None and rep_fields is not None:
            issues += _field_issues(team.where, None, rep_fields, src, "a rep field")
    for ov in ruleset.overlays:
        if fields is not None:
            issues += _field_issues(ov.when, ov.name, fields, src, "an account field")
        if ov.owner_kind == "rep" and known_reps is not None and ov.owner not in known_reps:
            issues.append(Issue("error", "unknown_rep", f"overlay owner: unknown rep {ov.owner!r}", ov.line,
                                ov.name, source=src))
        if ov.owner_kind == "team" and ov.owner not in ruleset.teams:
            issues.append(Issue("error", "unknown_team", f"overlay owner: unknown team {ov.owner!r}", ov.line,
                                ov.name, source=src))
        if known_terr is not None:
            bad = [t for t in ov.covers if t not in known_terr]
            if bad:
                issues.append(Issue("error", "unknown_territory", f"overlay covers unknown territory "
                                    f"{', '.join(bad[:5])}", ov.line, ov.name, source=src))
    overlaps = pd.DataFrame(columns=["rule", "line", "other_rule", "other_line", "same_target", "accounts"])
    bad_rules = {i.rule for i in issues if i.severity == "error" and i.rule}
    if analysis:
        kinds = dict(fields) if fields is not None else {}
        a_issues, overlaps = _analyse(ruleset, kinds, bad_rules, data)
        issues += a_issues
    issues.sort(key=lambda i: (i.line or 0, {"error": 0, "warning": 1, "info": 2}[i.severity]))
    return ValidationReport(tuple(issues), overlaps)


def _analyse(rs: RuleSet, kinds: Mapping[str, str], skip: set, data: pd.DataFrame | None):
    src = rs.source
    rules = list(rs.rules)
    forms: list[list[tuple[Condition, ...]] | None] = []
    for r in rules:
        forms.append(None if r.name in skip else dnf(r.when))
    issues: list[Issue] = []
    unreachable: set[int] = set()
    for j, r in enumerate(rules):
        fj = forms[j]
        if fj is None:
            continue
        live = [b for b in fj if satisfiable(b, kinds)]
        if not live:
            issues.append(Issue("warning", "unreachable", "never matches: its conditions contradict each other",
                                r.line, r.name, source=src))
            unreachable.add(j)
            continue
        by = _covered_by_one(live, forms[:j], kinds)
        if by is not None:
            o = rules[by]
            what = "duplicates" if _same(forms[j], forms[by]) else "never used: every account it matches is routed first by"
            issues.append(Issue("warning", "unreachable", f"{what} rule {o.name!r} (line {o.line})",
                                r.line, r.name, o.name, o.line, src))
            unreachable.add(j)
            continue
        cover = _covered_by_union(live, forms[:j], kinds)
        if cover is not None:
            names = ", ".join(f"{rules[i].name!r} (line {rules[i].line})" for i in cover)
            issues.append(Issue("warning", "unreachable", f"never used: earlier rules {names} together route "
                                "every account it matches", r.line, r.name, source=src))
            unreachable.add(j)
    rows = []
    ev = Evaluator(data, kinds) if data is not None else None
    for i, j in itertools.combinations(range(len(rules)), 2):
        if j in unreachable or i in unreachable or forms[i] is None or forms[j] is None:
            continue
        if not any(satisfiable(a + b, kinds) for a in forms[i] for b in forms[j]):
            continue
        ri, rj = rules[i], rules[j]
        same = ri.target == Target(rj.target.kind, rj.target.value, ri.target.line)
        n = None
        if ev is not None:
            try:
                n = int((ev.mask(ri.when) & ev.mask(rj.when)).sum())
            except (KeyError, TypeError):
                n = None
        rows.append({"rule": ri.name, "line": ri.line, "other_rule": rj.name, "other_line": rj.line,
                     "same_target": same, "accounts": n})
        cnt = f"; {n:,} accounts match both" if n is not None else ""
        issues.append(Issue("info" if same or n == 0 else "warning", "overlap",
                            f"overlaps rule {ri.name!r} (line {ri.line}), which wins{cnt}"
                            + (" (same target)" if same else ""),
                            rj.line, rj.name, ri.name, ri.line, src))
    return issues, pd.DataFrame(rows, columns=["rule", "line", "other_rule", "other_line", "same_target", "accounts"])


def _same(a, b) -> bool:
    if a is None or b is None:
        return False
    norm = lambda f: sorted(tuple(sorted(c.key() for c in br)) for br in f)  # noqa: E731
    return norm(a) == norm(b)


def _covered_by_one(live, earlier, kinds) -> int | None:
    for i, fi in enumerate(earlier):
        if fi is None:
            continue
        if all(any(implies(b, a, kinds) for a in fi) for b in live):
            return i
    return None


def _covered_by_union(live, earlier, kinds) -> list[int] | None:
    """Each branch (split value by value on its smallest finite field) implied by some earlier rule."""
    used: set[int] = set()
    for b in live:
        pieces = _split(b, kinds)
        for piece in pieces:
            hit = None
            for i, fi in enumerate(earlier):
                if fi is not None and any(implies(piece, a, kinds) for a in fi):
                    hit = i
                    break
            if hit is None:
                return None
            used.add(hit)
    return sorted(used) if len(used) > 1 else None


def _split(branch: tuple[Condition, ...], kinds) -> list[tuple[Condition, ...]]:
    fields = _branch_fields(branch, kinds)
    best = None
    for f, fc in fields.items():
        fin = fc.finite()
        if fin is not None and 1 < len(fin) <= _SPLIT_LIMIT and (best is None or len(fin) < len(best[1])):
            best = (f, fin)
    if best is None:
        return [branch]
    f, fin = best
    rest = tuple(c for c in branch if c.field != f or c.op != "in")
    return [rest + (Condition(f, "in", (v,)),) for v in sorted(fin, key=str)]
