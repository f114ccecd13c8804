"""Sales hierarchy: region → area → territory (any depth), roll-ups, managers, overlays, credit.

A :class:`Hierarchy` is a forest whose leaves are territories. Build it from a mapping
table (one column per level, leaf first), from a parent table, or group designed
territories by an attribute (their state) or by adjacency (:func:`adjacency_groups`).
Roll-ups of any measure are one sparse matrix product (node × leaf incidence), so sums
equal the sum of the leaves exactly; means, weighted means and ratios of sums are built
from sums too.

Overlays (specialists covering several base territories) give an account extra owners;
:func:`split_credit` turns a split-credit rule (70/30 split, or 100/50 additive) into the
revenue credited to every owner and checks the totals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "Hierarchy", "HierarchyError", "adjacency_groups", "SplitRule", "CreditResult", "split_credit",
    "account_owners",
]


class HierarchyError(ValueError):
    """A hierarchy that cannot be built (message names the row and the problem)."""


@dataclass(frozen=True)
class Hierarchy:
    """A tree (or forest) of sales units with territories at the leaves.

    ``table`` has one row per node: ``node``, ``parent`` (None at the top), ``depth``
    (0 at the top), ``level`` (level name: region, area, territory, ...), ``name``,
    ``manager`` (rep id or None).

    Examples
    --------
    >>> m = pd.DataFrame({"territory": ["T1", "T2", "T3"], "area": ["A1", "A1", "A2"],
    ...                   "region": ["East", "East", "East"]})
    >>> h = Hierarchy.from_levels(m, ["territory", "area", "region"], managers={"A1": "mgr1"})
    >>> h.leaves_under("East"), h.path("T3"), h.managed_by("mgr1")
    (['T1', 'T2', 'T3'], ['East', 'A2', 'T3'], ['T1', 'T2'])
    >>> h.rollup(pd.DataFrame({"revenue": [1.0, 2.0, 4.0]}, index=["T1", "T2", "T3"]))["revenue"].to_dict()
    {'East': 7.0, 'A1': 3.0, 'T1': 1.0, 'T2': 2.0, 'A2': 4.0, 'T3': 4.0}
    """

    table: pd.DataFrame

    def __post_init__(self) -> None:
        t = self.table
        for c in ("node", "parent", "depth", "level", "name", "manager"):
            if c not in t.columns:
                raise HierarchyError(f"hierarchy table lacks column {c!r}")

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_parents(cls, df: pd.DataFrame, *, node: str = "node", parent: str = "parent",
                     level: str | None = "level", name: str | None = "name",
                     manager: str | None = "manager", source: str = "hierarchy") -> "Hierarchy":
        """From rows ``node, parent`` (empty parent = top level); optional level, name, manager.

        Parents that are not rows themselves become top-level nodes. Raises
        :class:`HierarchyError` for duplicate nodes, cycles and self-parents (naming the row).
        """
        if node not in df.columns or parent not in df.columns:
            raise HierarchyError(f"{source}: needs columns {node!r} and {parent!r} (found: {', '.join(df.columns)})")
        nodes = df[node].astype(str).str.strip()
        par = df[parent].where(df[parent].notna(), None)
        par = pd.Series([None if p is None or str(p).strip() == "" else str(p).strip() for p in par], dtype=object)
        dup = nodes[nodes.duplicated()]
        if len(dup):
            i = int(dup.index[0])
            raise HierarchyError(f"{source}: row {i + 2}: node {nodes[i]!r} appears twice (a node has one parent)")
        self_loop = np.flatnonzero(nodes.to_numpy() == par.to_numpy())
        if len(self_loop):
            i = int(self_loop[0])
            raise HierarchyError(f"{source}: row {i + 2}: node {nodes[i]!r} is its own parent")
        rows = []
        known = set(nodes)
        for p in dict.fromkeys(par.dropna()):
            if p not in known:
                rows.append({"node": p, "parent": None, "level": None, "name": p, "manager": None})
        for i in range(len(df)):
            rows.append({
                "node": nodes[i], "parent": par[i],
                "level": (str(df[level].iloc[i]) if level and level in df.columns and pd.notna(df[level].iloc[i]) else None),
                "name": (str(df[name].iloc[i]) if name and name in df.columns and pd.notna(df[name].iloc[i]) else nodes[i]),
                "manager": (str(df[manager].iloc[i]) if manager and manager in df.columns
                            and pd.notna(df[manager].iloc[i]) and str(df[manager].iloc[i]).strip() else None),
            })
        t = pd.DataFrame(rows, dtype=object)
        parent_of = {r["node"]: r["parent"] for r in rows}
        depth = {}
        for n0 in t["node"]:
            seen, n, d = [], n0, 0
            while parent_of.get(n) is not None:
                if n in seen:
                    raise HierarchyError(f"{source}: cycle through {' → '.join(seen + [n])}")
                seen.append(n)
                n = parent_of[n]
                d += 1
                if n in depth:
                    d += depth[n]
                    break
            depth[n0] = d
        t["depth"] = t["node"].map(depth).astype(int)
        return cls._ordered(t)

    @classmethod
    def from_levels(cls, df: pd.DataFrame, levels: Sequence[str], *, managers: Mapping[str, str] | None = None,
                    names: Mapping[str, str] | None = None, source: str = "hierarchy") -> "Hierarchy":
        """From a mapping table with one column per level, leaf first (``territory, area, region``).

        A node keeps one parent: a territory listed under two areas is an error naming both
        rows. The same id at two levels is an error too.
        """
        missing = [c for c in levels if c not in df.columns]
        if missing:
            raise HierarchyError(f"{source}: missing column(s) {', '.join(missing)} (found: {', '.join(df.columns)})")
        if len(levels) < 1:
            raise HierarchyError("give at least the leaf level")
        vals = df[list(levels)].astype("string").apply(lambda s: s.str.strip())
        empty = vals.isna() | (vals == "")
        if empty.any().any():
            r, c = np.argwhere(empty.to_numpy())[0]
            raise HierarchyError(f"{source}: row {r + 2}, column {levels[c]!r}: empty")
        level_of: dict[str, str] = {}
        parent_of: dict[str, str | None] = {}
        first_row: dict[str, int] = {}
        for r in range(len(vals)):
            row = [str(x) for x in vals.iloc[r]]
            for k, (lvl, nid) in enumerate(zip(levels, row)):
                if level_of.setdefault(nid, lvl) != lvl:
                    raise HierarchyError(f"{source}: row {r + 2}: {nid!r} is used as both {level_of[nid]} and {lvl}")
                par = row[k + 1] if k + 1 < len(row) else None
                if nid in parent_of and parent_of[nid] != par:
                    raise HierarchyError(
                        f"{source}: row {r + 2}: {lvl} {nid!r} is under {par!r} here but under "
                        f"{parent_of[nid]!r} on row {first_row[nid] + 2} (a node has one parent)")
                parent_of.setdefault(nid, par)
                first_row.setdefault(nid, r)
        top = len(levels) - 1
        t = pd.DataFrame({
            "node": list(parent_of), "parent": list(parent_of.values()),
            "level": [level_of[n] for n in parent_of],
        })
        t["depth"] = [top - list(levels).index(level_of[n]) for n in t["node"]]
        t["name"] = [(names or {}).get(n, n) for n in t["node"]]
        t["manager"] = [(managers or {}).get(n) for n in t["node"]]
        return cls._ordered(t)

    @classmethod
    def _ordered(cls, t: pd.DataFrame) -> "Hierarchy":
        """Rows in depth-first order (parents before children, siblings sorted)."""
        t = t.astype({"node": object, "parent": object, "level": object, "name": object, "manager": object})
        t = t.where(t.notna(), None)
        t["depth"] = t["depth"].astype(int)
        kids: dict[str | None, list[str]] = {}
        for n, p in zip(t["node"], t["parent"]):
            kids.setdefault(p, []).append(n)
        order: list[str] = []
        stack = sorted(kids.get(None, []), reverse=True)
        while stack:
            n = stack.pop()
            order.append(n)
            stack.extend(sorted(kids.get(n, []), reverse=True))
        t = t.set_index("node").loc[order].reset_index()
        return cls(t[["node", "parent", "depth", "level", "name", "manager"]])

    # -- queries -----------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        return list(self.table["node"])

    @property
    def leaves(self) -> list[str]:
        """Nodes without children (the territories), in tree order."""
        parents = set(self.table["parent"].dropna())
        return [n for n in self.table["node"] if n not in parents]

    @property
    def depth(self) -> int:
        return int(self.table["depth"].max()) + 1 if len(self.table) else 0

    def _check(self, node: str) -> None:
        if node not in set(self.table["node"]):
            raise KeyError(f"no node {node!r} in the hierarchy")

    def parent(self, node: str) -> str | None:
        self._check(node)
        return self.table.set_index("node")["parent"][node]

    def children(self, node: str | None) -> list[str]:
        return list(self.table.loc[self.table["parent"] == node, "node"]) if node is not None else \
            list(self.table.loc[self.table["parent"].isna(), "node"])

    def path(self, node: str) -> list[str]:
        """From the top down to ``node``."""
        self._check(node)
        par = dict(zip(self.table["node"], self.table["parent"]))
        out = [node]
        while par.get(out[-1]) is not None:
            out.append(par[out[-1]])
        return out[::-1]

    def subtree(self, node: str) -> list[str]:
        """``node`` and everything below it, in tree order."""
        self._check(node)
        t = self.table
        i = int(np.flatnonzero(t["node"].to_numpy() == node)[0])
        d = t["depth"].iloc[i]
        j = i + 1
        while j < len(t) and t["depth"].iloc[j] > d:
            j += 1
        return list(t["node"].iloc[i:j])

    def leaves_under(self, node: str) -> list[str]:
        leaves = set(self.leaves)
        return [n for n in self.subtree(node) if n in leaves]

    def managed_by(self, manager: str) -> list[str]:
        """Territories (leaves) in the subtrees of every node ``manager`` manages."""
        out: list[str] = []
        for n in self.table.loc[self.table["manager"] == manager, "node"]:
            out += self.leaves_under(n)
        return list(dict.fromkeys(out))

    def managers_of(self, node: str) -> list[str]:
        """Managers on the path from the top to ``node`` (closest last)."""
        man = dict(zip(self.table["node"], self.table["manager"]))
        return [man[n] for n in self.path(node) if man.get(n)]

    def level_frame(self) -> pd.DataFrame:
        """One row per leaf, one column per level name (``territory, area, region``)."""
        rows = []
        lvl = dict(zip(self.table["node"], self.table["level"]))
        for leaf in self.leaves:
            rows.append({(lvl[n] or f"level{k}"): n for k, n in enumerate(self.path(leaf))})
        return pd.DataFrame(rows)

    def incidence(self):
        """Sparse (nodes × leaves) matrix: 1 where the leaf is in the node's subtree."""
        from scipy.sparse import csr_array

        nodes = self.nodes
        leaves = self.leaves
        col = {n: i for i, n in enumerate(leaves)}
        row = {n: i for i, n in enumerate(nodes)}
        r, c = [], []
        for leaf in leaves:
            for n in self.path(leaf):
                r.append(row[n])
                c.append(col[leaf])
        return csr_array((np.ones(len(r)), (r, c)), shape=(len(nodes), len(leaves)))

    # -- roll-ups ----------------------------------------------------------------------
    def rollup(self, values: pd.DataFrame, how: Mapping[str, object] | None = None, *,
               missing: str = "error") -> pd.DataFrame:
        """Measures of every node from the leaf values.

        Parameters
        ----------
        values : one row per leaf (index = territory id), numeric columns.
        how : column → ``"sum"`` (default), ``"mean"`` (over the leaves), ``"min"``, ``"max"``,
            ``("wmean", weight_column)`` or ``("ratio", numerator, denominator)`` (ratio of
            sums: attainment = actual / quota, conversion = won / closed). Rates and means are
            never summed.
        missing : ``"error"`` when a leaf has no row, ``"zero"`` to count it as 0.
        """
        leaves = self.leaves
        extra = [str(x) for x in values.index if str(x) not in set(leaves)]
        if extra:
            raise HierarchyError(f"values for territories not in the hierarchy: {', '.join(extra[:10])}")
        v = values.copy()
        v.index = v.index.astype(str)
        absent = [leaf for leaf in leaves if leaf not in v.index]
        if absent and missing == "error":
            raise HierarchyError(f"no values for territories {', '.join(absent[:10])}" +
                                 (f" (+{len(absent) - 10} more)" if len(absent) > 10 else ""))
        v = v.reindex(leaves)
        A = self.incidence()
        how = dict(how or {})
        out = self.table[["node", "parent", "depth", "level", "name", "manager"]].copy()
        out["leaves"] = np.asarray(A.sum(axis=1)).ravel().astype(int)

        def col(c):
            if c not in v.columns:
                raise HierarchyError(f"no column {c!r} in the values (have: {', '.join(map(str, v.columns))})")
            return pd.to_numeric(v[c], errors="coerce").fillna(0.0).to_numpy(float)

        for c in [c for c in v.columns if c not in how] + list(how):
            spec = how.get(c, "sum")
            if isinstance(spec, str) and spec == "sum":
                out[c] = A @ col(c)
            elif spec == "mean":
                out[c] = (A @ col(c)) / out["leaves"].to_numpy()
            elif spec in ("min", "max"):
                x = col(c)
                Ac = A.tocsr()
                f = np.min if spec == "min" else np.max
                out[c] = [f(x[Ac.indices[Ac.indptr[i]:Ac.indptr[i + 1]]]) for i in range(A.shape[0])]
            elif isinstance(spec, tuple) and spec[0] == "wmean":
                w = col(spec[1])
                den = A @ w
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[c] = np.where(den > 0, (A @ (col(c) * w)) / den, np.nan)
            elif isinstance(spec, tuple) and spec[0] == "ratio":
                num, den = A @ col(spec[1]), A @ col(spec[2])
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[c] = np.where(den != 0, num / den, np.nan)
            else:
                raise HierarchyError(f"unknown roll-up {spec!r} for {c!r}: use sum, mean, min, max, "
                                     "('wmean', weight) or ('ratio', numerator, denominator)")
        return out.set_index("node")


def adjacency_groups(xy: np.ndarray, edges: np.ndarray, n_groups: int) -> np.ndarray:
    """Group territories into ``n_groups`` contiguous areas (Ward clustering on the territory
    adjacency graph).

    ``xy`` are territory centres (projected, metres), ``edges`` pairs of adjacent territory
    positions. Returns a group label (0..n_groups-1) per territory, numbered by first
    appearance so the result is deterministic.
    """
    from scipy.sparse import coo_array
    from sklearn.cluster import AgglomerativeClustering

    k = len(xy)
    if not 1 <= n_groups <= k:
        raise HierarchyError(f"cannot make {n_groups} groups from {k} territories")
    if n_groups == k:
        return np.arange(k)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    conn = coo_array((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(k, k))
    conn = ((conn + conn.T) > 0).astype(float)
    lab = AgglomerativeClustering(n_clusters=n_groups, connectivity=conn, linkage="ward").fit_predict(np.asarray(xy))
    _, first = np.unique(lab, return_index=True)
    rank = {lab[i]: r for r, i in enumerate(sorted(first))}
    return np.asarray([rank[x] for x in lab], dtype=np.int64)


# ------------------------------------------------------------------- overlays and credit
def account_owners(base: pd.DataFrame, overlays: pd.DataFrame) -> pd.DataFrame:
    """One row per account: ``account_id, base_owner, overlay_owners`` (``;``-joined) and
    ``overlays`` (names). ``base`` has account_id, owner; ``overlays`` account_id, overlay, owner."""
    out = base[["account_id", "owner"]].rename(columns={"owner": "base_owner"}).copy()
    if overlays is None or overlays.empty:
        out["overlay_owners"] = ""
        out["overlays"] = ""
        return out
    g = overlays.groupby("account_id", sort=False)
    owners = g["owner"].agg(lambda s: ";".join(dict.fromkeys(map(str, s))))
    names = g["overlay"].agg(lambda s: ";".join(dict.fromkeys(map(str, s))))
    out["overlay_owners"] = out["account_id"].map(owners).fillna("")
    out["overlays"] = out["account_id"].map(names).fillna("")
    return out


@dataclass(frozen=True)
class SplitRule:
    """How revenue is credited when an account has overlay owners.

    ``mode="split"``: the shares add up to 100 % — the base owner gets ``base`` and the
    overlay owners share ``overlay`` equally (70/30); an account without overlay credits
    100 % to its base owner. ``mode="additive"``: the base owner gets ``base`` and *each*
    overlay owner ``overlay`` (100/50: double credit, total credit above revenue).
    """

    mode: str = "split"
    base: float = 0.7
    overlay: float = 0.3

    def __post_init__(self) -> None:
        if self.mode not in ("split", "additive"):
            raise ValueError(f"split mode must be 'split' or 'additive', not {self.mode!r}")
        if self.base < 0 or self.overlay < 0:
            raise ValueError("credit shares must be non-negative")
        if self.mode == "split" and abs(self.base + self.overlay - 1) > 1e-9:
            raise ValueError(f"split shares must add up to 1, not {self.base + self.overlay:g}")


@dataclass(frozen=True)
class CreditResult:
    """Credited revenue: per line (account × owner), per owner, and the total check."""

    lines: pd.DataFrame
    by_owner: pd.DataFrame
    revenue_total: float
    credited_total: float
    expected_total: float

    @property
    def ok(self) -> bool:
        return abs(self.credited_total - self.expected_total) <= 1e-9 * max(1.0, abs(self.expected_total))


def split_credit(accounts: pd.DataFrame, overlays: pd.DataFrame | None, rule: SplitRule) -> CreditResult:
    """Revenue credited to base and overlay owners under ``rule``.

    ``accounts``: account_id, owner (base owner), revenue. ``overlays``: account_id,
    overlay, owner (one row per overlay owner of an account; the same owner twice on one
    account counts once).

    The expected total is computed separately from the rule (split: the revenue; additive:
    revenue × (base + overlay × overlay owners)) and compared with the sum of the lines.

    >>> acc = pd.DataFrame({"account_id": ["a", "b"], "owner": ["r1", "r2"], "revenue": [100.0, 50.0]})
    >>> ov = pd.DataFrame({"account_id": ["a"], "overlay": ["fragrance"], "owner": ["s1"]})
    >>> r = split_credit(acc, ov, SplitRule("split", 0.7, 0.3))
    >>> r.by_owner.set_index("owner")["credited"].to_dict(), r.ok
    ({'r1': 70.0, 'r2': 50.0, 's1': 30.0}, True)
    """
    acc = accounts[["account_id", "owner", "revenue"]].copy()
    acc["account_id"] = acc["account_id"].astype(str)
    acc["revenue"] = pd.to_numeric(acc["revenue"], errors="coerce").fillna(0.0).astype(float)
    acc["owner"] = acc["owner"].where(acc["owner"].notna(), "(unassigned)").astype(str)
    if overlays is not None and len(overlays):
        ov = overlays[["account_id", "overlay", "owner"]].copy()
        ov["account_id"] = ov["account_id"].astype(str)
        ov["owner"] = ov["owner"].astype(str)
        ov = ov.drop_duplicates(["account_id", "owner"])
        ov = ov[ov["account_id"].isin(set(acc["account_id"]))]
    else:
        ov = pd.DataFrame(columns=["account_id", "overlay", "owner"])
    m = acc["account_id"].map(ov["account_id"].value_counts()).fillna(0).astype(int).to_numpy()
    rev = acc["revenue"].to_numpy()
    if rule.mode == "split":
        base_share = np.where(m > 0, rule.base, 1.0)
        each = np.where(m > 0, rule.overlay / np.maximum(m, 1), 0.0)
        expected = float(rev.sum())
    else:
        base_share = np.full(len(acc), rule.base)
        each = np.full(len(acc), rule.overlay)
        expected = float((rev * (rule.base + rule.overlay * m)).sum())
    base_lines = pd.DataFrame({"account_id": acc["account_id"], "owner": acc["owner"], "role": "base",
                               "share": base_share, "credited": rev * base_share})
    pos = pd.Series(np.arange(len(acc)), index=acc["account_id"])
    p = pos.reindex(ov["account_id"]).to_numpy()
    ov_lines = pd.DataFrame({"account_id": ov["account_id"].to_numpy(), "owner": ov["owner"].to_numpy(),
                             "role": ov["overlay"].astype(str).to_numpy(), "share": each[p],
                             "credited": rev[p] * each[p]})
    lines = pd.concat([base_lines, ov_lines], ignore_index=True)
    by_owner = lines.groupby(["owner"], as_index=False).agg(
        accounts=("account_id", "nunique"), credited=("credited", "sum"),
        roles=("role", lambda s: ";".join(sorted(set(s)))))
    by_owner = by_owner.sort_values("owner").reset_index(drop=True)
    return CreditResult(lines, by_owner, float(rev.sum()), float(lines["credited"].sum()), expected)
