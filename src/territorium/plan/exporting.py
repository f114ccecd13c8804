"""Export a plan back to the systems users live in.

A plan here is: units → territory (an alignment file such as ``out/designed.csv``, or the
imported alignment), territory → reps (one or several, a primary first: an assignment file —
head counts and teams included —, the imported territories table,
or — when neither fits — the current owners matched to territories by a linear assignment
that keeps the most workload), accounts → territory (by the unit they sit in) → rep, and
an optional hierarchy (areas by state, by adjacency, or a mapping file).

Writers
    :func:`write_salesforce`  Enterprise Territory Management insert CSVs in load order
                              (Territory2Type, Territory2Model, Territory2 level by level,
                              UserTerritory2Association, ObjectTerritory2Association), staged
                              by the ids of Data Loader's success files
                              (:func:`read_salesforce_ids`), and a README saying what is next;
    :func:`write_hubspot`     a company import that sets "Company owner" (owner e-mail);
    :func:`write_generic`     account → territory → rep CSV plus the unit alignment CSV;
    :func:`write_geo`         territories dissolved from unit polygons: GeoJSON / GeoPackage;
    :func:`write_kml`         KML (GDAL's KML driver, or xml.etree when it is missing);
    :func:`write_excel`       a workbook: summary sheet + one sheet per territory.

Readers for the round trip: :func:`read_salesforce` (the ``plan_*.csv`` files back to a
plan); the generic and HubSpot files go back through :func:`territorium.data.read_file`.

Every CSV and workbook is safe to open in a spreadsheet: text that would run as a formula is
written with a leading quote (CSV) or as a quote-prefixed string cell (Excel), see
:mod:`territorium.data.cells`.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from territorium.data.cells import is_risky, neutralize_frame
from territorium.hierarchy import Hierarchy, HierarchyError, adjacency_groups
from territorium.plan._files import pick_column
from territorium.plan._files import read_table as _read

__all__ = [
    "ExportError", "ExportPlan", "FORMATS", "read_table", "read_alignment_file", "read_assignment_file",
    "Assignment", "merge_assignments",
    "align_units", "build_plan", "plan_hierarchy", "developer_name", "developer_names", "sheet_names", "write_salesforce",
    "read_salesforce", "write_hubspot", "write_generic", "write_geo", "write_kml", "write_excel", "export",
    "SALESFORCE_FILES", "SALESFORCE_ACCESS", "SalesforceIds", "read_salesforce_ids", "salesforce_access",
    "dissolve_holes", "account_domains", "company_domain", "accounts_source", "FREE_MAIL",
]

FORMATS = ("salesforce", "hubspot", "csv", "geojson", "gpkg", "kml", "excel")


class ExportError(Exception):
    """A problem with the export inputs (message names the file, row and column)."""


# ------------------------------------------------------------------------------ inputs
def read_table(path: Path) -> pd.DataFrame:
    """A CSV / Excel / Parquet file as text columns (header row 1), empty cells as ``""``;
    in a CSV, the quote the exports put before formula-like cells is removed again
    (:func:`territorium.data.cells.restore`, in :func:`territorium.plan._files.read_table`)."""
    return _read(path, ExportError, blank_na=True)


_pick = pick_column


def read_alignment_file(path: Path) -> pd.DataFrame:
    """``unit_id, territory`` from a design output (``unit_id, territory``) or an alignment
    export (``Zip, Territory``)."""
    df = read_table(path)
    ucol = _pick(df, ["unit_id", "unit", "zip", "zip_code", "postal_code", "id"])
    tcol = _pick(df, ["territory", "territory_id", "terr"])
    if ucol is None or tcol is None:
        raise ExportError(f"{path}: needs columns unit_id (or zip) and territory (found: {', '.join(df.columns)})")
    out = pd.DataFrame({"unit_id": df[ucol].astype(str).str.strip(), "territory": df[tcol].astype(str).str.strip()})
    empty = np.flatnonzero((out["unit_id"] == "").to_numpy() | (out["territory"] == "").to_numpy())
    if len(empty):
        i = int(empty[0])
        col = ucol if out["unit_id"].iloc[i] == "" else tcol
        raise ExportError(f"{path}: row {i + 2}, column {col!r}: empty")
    dup = out["unit_id"].duplicated(keep=False) & ~out.duplicated(keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[1])
        raise ExportError(f"{path}: row {i + 2}: unit {out['unit_id'].iloc[i]!r} is in two territories")
    return out.drop_duplicates("unit_id").reset_index(drop=True)


@dataclass(frozen=True)
class Assignment:
    """Who covers what, read from one or more assignment files.

    ``territory_reps``: every rep of each territory, the **primary** first (see
    :func:`read_assignment_file` for the rule); ``territory_rep``: the primary alone (what
    one-rep consumers such as routing use); ``territory_team``: the team(s) staffing each
    territory (team files); ``account_rep``: account-level reps (they override the
    territory's primary for that account); ``listed``: whether the territory reps come from
    territory rows (``False``: derived from account rows)."""

    territory_rep: dict[str, str]
    account_rep: dict[str, str]
    source: str
    territory_reps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    territory_team: dict[str, tuple[str, ...]] = field(default_factory=dict)
    listed: bool = True

    @property
    def shared(self) -> list[str]:
        """Territories with more than one rep."""
        return sorted(t for t, r in self.territory_reps.items() if len(r) > 1)


_LIST_SEP = re.compile(r"\s*[;|,]\s*")


def _split(cell: str) -> list[str]:
    return [x for x in _LIST_SEP.split(cell.strip()) if x] if cell else []


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(x for x in items if x))


def read_assignment_file(path: Path) -> Assignment:
    """Territory → reps rows and/or account → rep rows from an assignment file.

    Territory rows (``territory, rep_id``): one per territory, or **several** (a head count:
    ``out/assignment.csv`` of ``territorium assign territories --slots``, one row per
    territory and rep with its ``slot``), or team rows (``--by team``: ``territory, team_id,
    members`` with the members ``;``-separated). A ``reps`` column (``;``-separated, as the
    generic export and ``*_territories.csv`` write it) lists the territory's reps on one row.
    The **primary** rep of a territory is the first one listed: the lowest ``slot`` (slot 1 is
    the assignment's cheapest pick), else the first row; for a team, its first member.

    Account rows (``account_id, rep_id`` or ``new_owner``, e.g. ``*_accounts.csv`` or
    ``out/routed.csv``) give each account its rep. A file of account rows only also names the
    territories' reps: the ``reps`` column if there is one, else the distinct ``planned_rep``
    values (assign's accounts file; protected accounts keeping their old owner do not make him
    a rep of the territory), else the one rep holding most of its accounts; the primary is the
    rep with the most accounts (ties: rep id).

    Conflicts are errors naming the file and row: a territory given two assignees for the same
    slot, a rep listed twice for one territory in different slots, an account given two reps.
    """
    df = read_table(path)
    # new_owner: the account file of `territorium assign` (owner_id there is the old owner)
    rcol = _pick(df, ["new_owner", "rep_id", "rep", "owner_id", "user_id", "owner", "ownerid"])
    tcol = _pick(df, ["territory", "territory_id", "terr"])
    acol = _pick(df, ["account_id", "account"])
    mcol = _pick(df, ["members"])
    lcol = _pick(df, ["reps"])
    gcol = _pick(df, ["team_id", "team"])
    scol = _pick(df, ["slot"])
    pcol = _pick(df, ["planned_rep"])
    if (rcol is None and mcol is None and lcol is None) or (tcol is None and acol is None):
        raise ExportError(f"{path}: needs a rep column (rep_id, or team_id with members) and territory and/or "
                          f"account_id (found: {', '.join(df.columns)})")
    n = len(df)

    def col(c):
        return df[c].astype(str).str.strip().tolist() if c is not None else [""] * n

    reps, accs, terrs, members, lists, teams, slots = map(col, (rcol, acol, tcol, mcol, lcol, gcol, scol))
    acc_rep: dict[str, str] = {}
    acc_row: dict[str, int] = {}
    acc_rows: list[int] = []
    entries: dict[str, list] = {}        # territory → [(slot, row, team, reps)]
    by_slot: dict[tuple[str, int], tuple[int, str]] = {}
    for i in range(n):
        rep, a, t = reps[i], accs[i], terrs[i]
        if a:
            acc_rows.append(i)
            if rep:
                if a in acc_rep and acc_rep[a] != rep:
                    raise ExportError(f"{path}: row {i + 2}: account {a!r} has two reps "
                                      f"({acc_rep[a]} in row {acc_row[a] + 2}, {rep})")
                acc_rep.setdefault(a, rep)
                acc_row.setdefault(a, i)
            continue
        row_reps = _unique([rep] + _split(members[i]) + _split(lists[i]))
        if not t or not row_reps:
            continue
        team = teams[i] if mcol is not None else ""
        who = team or ";".join(row_reps)
        slot = None
        if slots[i]:
            try:
                slot = int(float(slots[i]))
            except ValueError:
                raise ExportError(f"{path}: row {i + 2}, column {scol!r}: {slots[i]!r} is not a slot number") from None
            if (t, slot) in by_slot:
                j, other = by_slot[(t, slot)]
                if other != who:
                    raise ExportError(f"{path}: row {i + 2}: territory {t!r} has two assignees for slot {slot} "
                                      f"({other} in row {j + 2}, {who})")
                continue        # the same row twice
            for s0, j, _, r0 in entries.get(t, []):
                dup = set(r0) & set(row_reps)
                if s0 is not None and s0 != slot and dup:
                    raise ExportError(f"{path}: row {i + 2}: rep {sorted(dup)[0]} is listed twice for territory "
                                      f"{t!r} (slot {s0} in row {j + 2}, slot {slot})")
            by_slot[(t, slot)] = (i, who)
        entries.setdefault(t, []).append((slot, i, team, row_reps))
    terr_reps: dict[str, tuple[str, ...]] = {}
    terr_team: dict[str, tuple[str, ...]] = {}
    for t, es in entries.items():
        es = sorted(es, key=lambda e: (e[0] is None, e[0] if e[0] is not None else 0, e[1]))
        terr_reps[t] = _unique(r for e in es for r in e[3])
        if any(e[2] for e in es):
            terr_team[t] = _unique(e[2] for e in es)
    listed = bool(terr_reps)
    if acc_rep and tcol is not None and not terr_reps:
        # account-level file that also names territories: derive the territories' reps
        rows = np.asarray(acc_rows, dtype=np.int64)
        t = np.asarray(terrs, dtype=object)[rows]
        if lcol is not None:
            lst = np.asarray(lists, dtype=object)[rows]
            seen: dict[str, tuple[int, tuple[str, ...]]] = {}
            for i, tt, cell in zip(rows, t, lst):
                rr = _unique(_split(cell))
                if not tt or not rr:
                    continue
                if tt in seen and seen[tt][1] != rr:
                    raise ExportError(f"{path}: row {i + 2}, column {lcol!r}: territory {tt!r} has reps "
                                      f"{';'.join(rr)} here but {';'.join(seen[tt][1])} in row {seen[tt][0] + 2}")
                seen.setdefault(tt, (i, rr))
            terr_reps = {tt: rr for tt, (_, rr) in seen.items()}
        else:
            r = np.asarray(col(pcol) if pcol is not None else reps, dtype=object)[rows]
            top = pd.DataFrame({"t": t, "r": r})[(t != "") & (r != "")].value_counts().reset_index(name="n")
            top = top.sort_values(["t", "n", "r"], ascending=[True, False, True])
            if pcol is None:
                top = top.drop_duplicates("t")
            terr_reps = {tt: tuple(g["r"]) for tt, g in top.groupby("t", sort=True)}
    return Assignment({t: r[0] for t, r in terr_reps.items()}, acc_rep, str(path), terr_reps, terr_team, listed)


def merge_assignments(parts: Sequence[Assignment]) -> Assignment:
    """Several assignment files as one (e.g. ``out/assignment.csv`` for the territories'
    reps and ``out/assignment_accounts.csv`` for the account split). Files with territory
    rows name the territories' reps (a territory named by two of them with different reps is
    an error); account-derived reps count only for territories no such file names; an
    account given two different reps by two files is an error naming both."""
    if len(parts) == 1:
        return parts[0]
    terr_reps: dict[str, tuple[str, ...]] = {}
    terr_src: dict[str, str] = {}
    terr_team: dict[str, tuple[str, ...]] = {}
    acc_rep: dict[str, str] = {}
    acc_src: dict[str, str] = {}
    for listed in (True, False):
        for p in parts:
            if p.listed != listed:
                continue
            for t, r in p.territory_reps.items():
                if t in terr_reps:
                    if listed and terr_src[t] != p.source and terr_reps[t] != r:
                        raise ExportError(f"{p.source}: territory {t!r} has reps {';'.join(r)} but "
                                          f"{terr_src[t]} gives {';'.join(terr_reps[t])}")
                    continue
                terr_reps[t], terr_src[t] = r, p.source
                if t in p.territory_team:
                    terr_team[t] = p.territory_team[t]
    for p in parts:
        for a, r in p.account_rep.items():
            if a in acc_rep and acc_rep[a] != r:
                raise ExportError(f"{p.source}: account {a!r} has rep {r} but {acc_src[a]} gives {acc_rep[a]}")
            acc_rep.setdefault(a, r)
            acc_src.setdefault(a, p.source)
    return Assignment({t: r[0] for t, r in terr_reps.items()}, acc_rep, " + ".join(p.source for p in parts),
                      terr_reps, terr_team, any(p.listed for p in parts))


@dataclass
class ExportPlan:
    """Everything the writers need (plain tables; geometry optional)."""

    units: pd.DataFrame            # unit_id, name, territory
    territories: pd.DataFrame      # territory_id, name, rep_id, + measures
    accounts: pd.DataFrame         # account_id, name, ..., territory_id, owner_id (new), previous_owner_id
    reps: pd.DataFrame             # rep_id, name, email, title
    hierarchy: Hierarchy | None = None
    geometry: object | None = None  # GeoSeries (WGS84) aligned with units
    level: str = "zip"
    model_name: str = "Territorium plan"
    notes: list[str] = field(default_factory=list)
    #: format of the latest accounts import (``hubspot``, ``salesforce``, ...; None: unknown)
    account_source: str | None = None

    def rep_lookup(self, col: str) -> dict:
        return dict(zip(self.reps["rep_id"].astype(str), self.reps[col])) if col in self.reps.columns else {}

    def territory_reps(self) -> dict[str, list[str]]:
        """Every rep of each territory, the primary (``rep_id``) first: the ``reps`` column
        (``;``-separated) of :attr:`territories`, or ``rep_id`` alone when there is none."""
        tt = self.territories
        lists = tt["reps"] if "reps" in tt.columns else [None] * len(tt)
        out: dict[str, list[str]] = {}
        for t, r, cell in zip(tt["territory_id"].astype(str), tt["rep_id"], lists):
            rr = _split(cell) if isinstance(cell, str) else []
            if isinstance(r, str) and r:
                rr = [r] + [x for x in rr if x != r]
            out[t] = list(_unique(rr))
        return out

    def territory_frame(self) -> pd.DataFrame:
        """:attr:`territories` with ``rep_name``, ``rep_email``, ``reps`` and ``rep_names``
        (all reps, ``;``-separated, primary first) filled from the reps table."""
        tt = self.territories.copy()
        name, email = self.rep_lookup("name"), self.rep_lookup("email")
        tr = self.territory_reps()
        tt["rep_name"] = tt["rep_id"].map(name)
        tt["rep_email"] = tt["rep_id"].map(email)
        lists = [tr.get(str(t), []) for t in tt["territory_id"]]
        tt["reps"] = [";".join(x) if x else None for x in lists]
        tt["rep_names"] = [";".join(str(name.get(r) or r) for r in x) if x else None for x in lists]
        return tt


def plan_hierarchy(spec: str | Path | None, territories: pd.DataFrame, *,
                   adjacency: np.ndarray | None = None, xy: np.ndarray | None = None,
                   managers: Mapping[str, str] | None = None) -> Hierarchy | None:
    """Hierarchy above the territories.

    ``spec``: ``None``/``"none"``; ``"state"`` (area = the state of most of the territory's
    accounts); ``"adjacency:N"`` (N contiguous areas, Ward clustering on the territory
    adjacency graph); or a mapping file with columns ``territory, area[, region ...]`` (leaf
    first, any depth) or ``node, parent[, level, name, manager]``.
    """
    if spec is None or str(spec).lower() == "none":
        return None
    tids = territories["territory_id"].astype(str).tolist()
    s = str(spec)
    if s.lower() == "state":
        if "main_state" not in territories.columns:
            raise ExportError("hierarchy by state needs the territories' states")
        areas = territories["main_state"].fillna("??").astype(str).tolist()
        if set(areas) & set(tids):  # a territory named like a state: keep the levels apart
            areas = [f"Area {a}" for a in areas]
        m = pd.DataFrame({"territory": tids, "area": areas})
        m["region"] = "All territories"
        h = Hierarchy.from_levels(m, ["territory", "area", "region"], managers=managers)
        return h
    if s.lower().startswith("adjacency"):
        _, _, nn = s.partition(":")
        try:
            k = int(nn or max(2, round(len(tids) ** 0.5)))
        except ValueError:
            raise ExportError(f"--hierarchy {s!r}: expected adjacency:N (N areas)") from None
        if adjacency is None or xy is None:
            raise ExportError("hierarchy by adjacency needs unit geometry (a unit set with an adjacency graph)")
        try:
            g = adjacency_groups(xy, adjacency, k)
        except HierarchyError as exc:
            raise ExportError(str(exc)) from None
        m = pd.DataFrame({"territory": tids, "area": [f"Area {x + 1}" for x in g]})
        m["region"] = "All territories"
        return Hierarchy.from_levels(m, ["territory", "area", "region"], managers=managers)
    path = Path(s)
    df = read_table(path)
    try:
        if _pick(df, ["node"]) and _pick(df, ["parent"]):
            h = Hierarchy.from_parents(df, node=_pick(df, ["node"]), parent=_pick(df, ["parent"]),
                                       level=_pick(df, ["level"]), name=_pick(df, ["name"]),
                                       manager=_pick(df, ["manager", "manager_id"]), source=path.name)
        else:
            tcol = _pick(df, ["territory", "territory_id"])
            if tcol is None:
                raise ExportError(f"{path}: needs a territory column first, then one column per level above "
                                  "(area, region, ...), or node,parent columns")
            mcols = [c for c in df.columns if c.lower().replace(" ", "_") in ("manager", "manager_id")]
            levels = [tcol] + [c for c in df.columns if c != tcol and c not in mcols]
            h = Hierarchy.from_levels(df, levels, source=path.name)
    except HierarchyError as exc:
        raise ExportError(str(exc)) from None
    missing = sorted(set(tids) - set(h.leaves))
    if missing:
        raise ExportError(f"{path}: territories missing from the hierarchy: {', '.join(missing[:10])}")
    return h


def _continuity_reps(acc_terr: np.ndarray, owner: np.ndarray, weight: np.ndarray, tids: list[str],
                     reps: pd.DataFrame) -> dict[str, str]:
    """Match reps to territories keeping the most workload with its current owner."""
    from scipy.optimize import linear_sum_assignment

    r = reps
    if "active" in r.columns:
        r = r[r["active"].fillna(True).astype(bool)]
    if "title" in r.columns:
        r = r[~r["title"].fillna("").str.contains("manager", case=False)]
    rids = sorted(r["rep_id"].astype(str))
    if not rids:
        return {}
    ti = {t: i for i, t in enumerate(tids)}
    ri = {x: i for i, x in enumerate(rids)}
    M = np.zeros((len(tids), len(rids)))
    for t, o, w in zip(acc_terr, owner, weight):
        if t in ti and o in ri:
            M[ti[t], ri[o]] += w
    rows, cols = linear_sum_assignment(-M)
    return {tids[a]: rids[b] for a, b in zip(rows, cols)}


def align_units(ws, units, alignment: Path | None) -> tuple[np.ndarray, list[str], list[str]]:
    """Territory position of every unit from an alignment file (``unit_id|zip, territory``)
    or the imported alignment; units it misses take a neighbour's territory.

    Returns (territory index per unit, territory ids, notes)."""
    from territorium.plan.workspace import WorkspaceError, fill_unassigned

    notes: list[str] = []
    if alignment is not None:
        al = read_alignment_file(Path(alignment))
        index = pd.Index(units.table["unit_id"].astype(str))
        direct = index.get_indexer(al["unit_id"])
        if units.level == "zip":
            from territorium.geo import locate

            z = al["unit_id"].str.split("-").str[0]
            z = z.where(~z.str.fullmatch(r"\d{1,4}"), z.str.zfill(5))
            pos = np.where(direct >= 0, direct, locate(units, zips=z.to_numpy(dtype=object)))
        else:
            pos = direct
        bad = np.flatnonzero(pos < 0)
        if len(bad):
            rows = ", ".join(f"row {i + 2} ({al['unit_id'].iloc[i]!r})" for i in bad[:5])
            raise ExportError(f"{alignment}: no such {units.level} unit in this unit set: {rows}"
                              + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                              + f"; is the alignment for --units {units.level}?")
        labels = sorted(al["territory"].unique())
        li = {t: i for i, t in enumerate(labels)}
        cur = np.full(units.n, -1, dtype=np.int64)
        # a unit's own row decides its territory; ZIPs folded into it (located rows) only fill
        # units without one, as the map does (rows written later win, so own rows go last)
        order = np.argsort(direct >= 0, kind="stable")
        cur[pos[order]] = al["territory"].map(li).to_numpy()[order]
    else:
        try:
            cur, labels = ws.current_alignment(units)
        except WorkspaceError as exc:
            raise ExportError(str(exc)) from None
    missing_units = int((cur < 0).sum())
    if missing_units:
        notes.append(f"{missing_units} units not in the alignment took a neighbour's territory")
        cur = fill_unassigned(units, cur)
    return cur, [str(x) for x in labels], notes


def build_plan(ws, *, alignment: Path | None = None, assignment: Path | Sequence[Path] | None = None,
               hierarchy: str | Path | None = "state", level: str = "zip", states=None,
               model_name: str = "Territorium plan", load=None) -> ExportPlan:
    """Assemble the plan from the workspace and the files.

    ``assignment``: one file or several (merged by :func:`merge_assignments`, e.g. the
    territory file of a head-count or team assignment and its ``*_accounts.csv``). Each
    territory keeps all its reps (``territories["reps"]``, ``;``-separated, primary first)
    and its primary as ``rep_id``; accounts go to their account-level rep, else the primary.
    ``load`` (a :class:`~territorium.plan.workspace.UnitLoad`) skips loading the units again.
    """
    from territorium.measures import account_workload
    from territorium.plan.workspace import WorkspaceError

    try:
        load = load or ws.load_units(level, states=states)
    except WorkspaceError as exc:
        raise ExportError(str(exc)) from None
    units = load.units
    notes: list[str] = list(load.notes)
    terr_table = ws.table("territories")
    cur, labels, an = align_units(ws, units, alignment)
    notes += an
    tids = [str(x) for x in labels]
    unit_terr = np.asarray(tids, dtype=object)[cur]
    acc = load.accounts.copy()
    acc["account_id"] = acc["account_id"].astype(str)
    upos = acc["unit"].to_numpy(dtype=np.int64)
    acc["territory_id"] = np.where(upos >= 0, unit_terr[np.maximum(upos, 0)], None)
    acc["workload"] = account_workload(acc)
    start, end = load.window
    og = ws.order_groups(start, end)
    rev = og.dropna(subset=["account_id"]).groupby("account_id")["total"].sum()
    acc["revenue_12m"] = acc["account_id"].map(rev).fillna(0.0)
    acc["previous_owner_id"] = acc["owner_id"]
    reps = ws.table("reps")
    reps["rep_id"] = reps["rep_id"].astype(str)
    # territory → reps (primary first)
    terr_reps: dict[str, tuple[str, ...]] = {}
    terr_team: dict[str, tuple[str, ...]] = {}
    acc_rep: dict[str, str] = {}
    paths = ([] if assignment is None else [Path(a) for a in assignment]
             if isinstance(assignment, (list, tuple)) else [Path(assignment)])
    if paths:
        asg = merge_assignments([read_assignment_file(a) for a in paths])
        terr_reps, terr_team, acc_rep = asg.territory_reps, asg.territory_team, asg.account_rep
        known = set(reps["rep_id"])
        unknown = sorted(({r for rr in terr_reps.values() for r in rr} | set(acc_rep.values())) - known)
        if unknown:
            raise ExportError(f"{asg.source}: unknown rep(s) {', '.join(unknown[:5])}"
                              + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else "")
                              + "; reps must be in the imported users")
        unknown_t = sorted(set(terr_reps) - set(tids))
        if unknown_t:
            raise ExportError(f"{asg.source}: unknown territory {', '.join(unknown_t[:5])}; "
                              f"the alignment has {', '.join(tids[:6])}{'...' if len(tids) > 6 else ''}")
        shared = asg.shared
        if shared:
            split = acc["account_id"].isin(set(acc_rep)) & acc["territory_id"].isin(set(shared))
            unsplit = sorted(set(acc.loc[acc["territory_id"].isin(set(shared)) & ~split, "territory_id"]))
            notes.append(f"{len(shared)} territor{'y has' if len(shared) == 1 else 'ies have'} several reps "
                         f"(primary first in the reps column): {', '.join(shared[:10])}"
                         + ("..." if len(shared) > 10 else ""))
            if unsplit:
                notes.append(f"no account-level rep for the accounts of {', '.join(unsplit[:10])}: they go to the "
                             "primary rep (give the *_accounts.csv of the assignment too to split them)")
    elif alignment is None and not terr_table.empty:
        terr_reps = {str(t): (str(r),) for t, r in zip(terr_table["territory_id"], terr_table["rep_id"])
                     if r is not None and r == r and str(r)}
    else:
        terr_reps = {t: (r,) for t, r in _continuity_reps(
            acc["territory_id"].to_numpy(dtype=object), acc["owner_id"].astype(str).to_numpy(dtype=object),
            acc["workload"].to_numpy(float), tids, reps).items()}
        notes.append("no --assignment: reps matched to territories keeping the most current workload "
                     "(linear assignment on current ownership)")
    terr_rep = {t: r[0] for t, r in terr_reps.items() if r}
    owner = acc["territory_id"].map(terr_rep)
    if acc_rep:
        owner = acc["account_id"].map(acc_rep).where(acc["account_id"].isin(set(acc_rep)), owner)
        outside = [o for o, t in zip(owner, acc["territory_id"])
                   if isinstance(o, str) and isinstance(t, str) and terr_reps.get(t) and o not in terr_reps[t]]
        if outside:
            notes.append(f"{len(outside)} accounts keep a rep outside their territory's reps "
                         "(protected deals or account-level rules)")
    acc["owner_id"] = owner
    # territory table with measures and names
    meas = [m for m in ("account_count", "revenue", "order_count", "customers", "potential", "workload")
            if m in units.table.columns]
    tt = pd.DataFrame({"territory_id": tids})
    for m in meas:
        tt[m] = np.bincount(cur, units.table[m].to_numpy(float), len(tids))
    tt["units"] = np.bincount(cur, minlength=len(tids))
    st = acc.dropna(subset=["territory_id"]).groupby("territory_id")["state"].agg(
        lambda s: s.value_counts().index[0] if s.notna().any() else None)
    tt["main_state"] = tt["territory_id"].map(st)
    names = {}
    if alignment is None and not terr_table.empty:
        names = {str(t): str(n) for t, n in zip(terr_table["territory_id"], terr_table["name"]) if n == n and n}
    tt["name"] = [names.get(t) or (f"{t} {s}" if isinstance(s, str) else t) for t, s in zip(tids, tt["main_state"])]
    tt["rep_id"] = tt["territory_id"].map(terr_rep)
    rep_name = dict(zip(reps["rep_id"], reps["name"]))
    tt["rep_name"] = tt["rep_id"].map(rep_name)
    tt["reps"] = [";".join(terr_reps[t]) if terr_reps.get(t) else None for t in tids]
    tt["rep_names"] = [";".join(str(rep_name.get(r) or r) for r in terr_reps[t]) if terr_reps.get(t) else None
                       for t in tids]
    if terr_team:
        tt["team_id"] = [";".join(terr_team[t]) if terr_team.get(t) else None for t in tids]
    no_rep = tt.loc[tt["rep_id"].isna(), "territory_id"].tolist()
    if no_rep:
        notes.append(f"territories without a rep: {', '.join(no_rep[:10])}")
    # hierarchy
    adj = xy = None
    if str(hierarchy or "").lower().startswith("adjacency"):
        e = units.adjacency.edges()
        te = np.column_stack([cur[e[:, 0]], cur[e[:, 1]]])
        te = np.unique(np.sort(te[te[:, 0] != te[:, 1]], axis=1), axis=0)
        adj = te
        xy = np.column_stack([np.bincount(cur, units.table["x"], len(tids)), np.bincount(cur, units.table["y"], len(tids))])
        xy /= np.maximum(tt["units"].to_numpy()[:, None], 1)
    managers = None
    h = plan_hierarchy(hierarchy, tt, adjacency=adj, xy=xy, managers=managers)
    if h is not None:
        lf = h.level_frame()
        leaf_col = lf.columns[-1]
        for c in lf.columns[:-1]:
            tt[c] = tt["territory_id"].map(dict(zip(lf[leaf_col], lf[c])))
    ucols = pd.DataFrame({"unit_id": units.ids.astype(str), "name": units.table["name"].to_numpy(), "territory": unit_terr})
    acc["domain"] = account_domains(acc, ws.table("contacts"))
    return ExportPlan(ucols, tt, acc, reps, h, units.geometry, units.level, model_name, notes,
                      account_source=accounts_source(ws))


# ------------------------------------------------------------------------- Salesforce
_DEV_BAD = re.compile(r"[^A-Za-z0-9]+")


def developer_name(s: str) -> str:
    """A Salesforce DeveloperName: letters, digits and single underscores, starting with a
    letter, not ending with an underscore, at most 80 characters.

    >>> developer_name("New York City 1"), developer_name("01 – Brooklyn"), developer_name("a__b_")
    ('New_York_City_1', 'T_01_Brooklyn', 'a_b')
    """
    d = _DEV_BAD.sub("_", str(s)).strip("_")
    d = re.sub("_+", "_", d)
    if not d or not d[0].isalpha():
        d = "T_" + d
    return d[:80].rstrip("_")


def developer_names(items: Sequence[str]) -> list[str]:
    """Unique DeveloperNames (case-insensitive) for ``items``, in order."""
    out, seen = [], set()
    for s in items:
        base = developer_name(s)
        d, k = base, 2
        while d.lower() in seen:
            suf = f"_{k}"
            d = base[: 80 - len(suf)].rstrip("_") + suf
            k += 1
        seen.add(d.lower())
        out.append(d)
    return out


def _write_csv(df: pd.DataFrame, path: Path, notes: list[str] | None = None) -> Path:
    """``df`` as UTF-8 CSV, every text cell that a spreadsheet would run as a formula
    prefixed with ``'`` (:func:`territorium.data.cells.neutralize`; numbers stay numbers);
    written beside ``path`` and moved into place. ``notes`` gets a line naming how many
    cells were prefixed (a CRM import keeps the quote)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = neutralize_frame(df)
    if notes is not None:
        risky = [v for c in df.columns for v in df[c].tolist() if is_risky(v)]
        if risky:
            notes.append(f"{path.name}: {len(risky)} text cell{'s' if len(risky) != 1 else ''} starting with "
                         f"= + - @, tab or CR written with a leading ' so spreadsheets show them as text "
                         f"(first: {risky[0]!r}); re-importing the file removes the quote, a CRM import keeps it")
    tmp = path.with_name(path.name + ".tmp")
    # CRLF rows (RFC 4180): the csv writer then also quotes cells holding a bare CR
    safe.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\r\n")
    tmp.replace(path)
    return path


#: Creatable, required picklists of Territory2 (object reference; API values, not labels):
#: AccountAccessLevel Read / Edit / All; OpportunityAccessLevel and CaseAccessLevel
#: None / Read / Edit.
SALESFORCE_ACCESS_VALUES = {"AccountAccessLevel": ("Read", "Edit", "All"),
                            "OpportunityAccessLevel": ("None", "Read", "Edit"),
                            "CaseAccessLevel": ("None", "Read", "Edit")}
SALESFORCE_ACCESS = {"AccountAccessLevel": "Edit", "OpportunityAccessLevel": "Edit", "CaseAccessLevel": "Read"}
#: Files every Salesforce export writes: the two first loads and the plan in DeveloperName
#: terms (read back by :func:`read_salesforce`; not for loading).
SALESFORCE_FILES = ("1_Territory2Type.csv", "2_Territory2Model.csv", "plan_Territory2.csv",
                    "plan_UserTerritory2Association.csv", "plan_ObjectTerritory2Association.csv")
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SF_STAGED = re.compile(r"^(3_Territory2_level\d+|4_UserTerritory2Association|5_ObjectTerritory2Association)\.csv$")


def salesforce_access(spec: str | Mapping[str, str] | None) -> dict[str, str]:
    """Territory2 access levels from ``"Edit,Edit,Read"`` (account, opportunity, case) or a
    mapping; checked against the picklist values of the object reference."""
    if spec is None:
        return dict(SALESFORCE_ACCESS)
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
        if len(parts) != 3:
            raise ExportError(f"Salesforce access {spec!r}: give three values, account,opportunity,case "
                              "(e.g. Edit,Edit,Read)")
        spec = dict(zip(SALESFORCE_ACCESS, parts))
    out = dict(SALESFORCE_ACCESS)
    for field_name, value in spec.items():
        allowed = SALESFORCE_ACCESS_VALUES.get(field_name)
        if allowed is None:
            raise ExportError(f"Salesforce access: unknown field {field_name!r}; one of {', '.join(SALESFORCE_ACCESS)}")
        match = {a.lower(): a for a in allowed}.get(str(value).strip().lower())
        if match is None:
            raise ExportError(f"Salesforce access: {field_name} {value!r} is not one of {', '.join(allowed)}")
        out[field_name] = match
    return out


@dataclass
class SalesforceIds:
    """Salesforce ids by DeveloperName, read from Data Loader success files (or any CSV of
    ``Id, DeveloperName``) by :func:`read_salesforce_ids`."""

    types: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    territories: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _sf_object_of(path: Path, cols: set[str]) -> str | None:
    low = {c.lower() for c in cols}
    if low & {"territory2modelid", "territory2typeid", "parentterritory2id"}:
        return "territories"
    if low & {"masterlabel", "priority"}:
        return "types"
    name = path.name.lower()
    for key, obj in (("territory2model", "models"), ("territory2type", "types"), ("territory2", "territories")):
        if key in name:
            return obj
    if "status" in low and low <= {"id", "developername", "name", "description", "status"}:
        return "models"     # the success file of 2_Territory2Model.csv
    return None


def read_salesforce_ids(directory: Path, *, model: str | None = None) -> SalesforceIds:
    """Ids Salesforce gave the inserted records, from every CSV in ``directory`` (and its
    sub-folders) that has an ``ID`` (or ``Id``, or Bulk API 2.0's ``sf__Id``) and a
    ``DeveloperName`` column.

    Data Loader writes a success file per insert with the input columns plus ``ID`` (first)
    and ``STATUS`` (last), and an error file with the input columns plus ``ERROR``; Bulk API
    2.0's successful results carry ``sf__Id, sf__Created`` before the input columns and its
    failed results ``sf__Id, sf__Error``; a query
    export (``SELECT Id, DeveloperName FROM Territory2Type``) works too when its name says
    which object it holds. The object of a file is told by its columns (``Territory2ModelId``
    → Territory2, ``MasterLabel``/``Priority`` → Territory2Type), else by its name
    (``Territory2Model…``, ``Territory2Type…``, ``Territory2…``). Territory2 rows of another
    model (``Territory2ModelId`` not the id of ``model``) are ignored. Error files with rows
    are listed in ``errors``. A malformed id, or one DeveloperName given two ids, is an error
    naming the file, row and column."""
    d = Path(directory)
    if not d.is_dir():
        raise ExportError(f"--ids-from {d}: not a folder (give the folder with the Data Loader success files)")
    out = SalesforceIds()
    seen: dict[tuple[str, str], tuple[str, str, int]] = {}
    pending: list[tuple[Path, pd.DataFrame, str, str, str | None]] = []
    for path in sorted(d.rglob("*.csv")):
        try:
            df = read_table(path)
        except ExportError:
            continue
        cols = {str(c) for c in df.columns}
        idc = _pick(df, ["id", "sf__id"])
        devc = _pick(df, ["developername"])
        errc = _pick(df, ["error", "sf__error"])
        if errc is not None:
            if len(df):
                out.errors.append(f"{path.name}: {len(df)} row{'s' if len(df) != 1 else ''} failed "
                                  f"(first: {str(df[errc].iloc[0])[:120]})")
            continue
        if idc is None or devc is None:
            continue
        obj = _sf_object_of(path, cols)
        if obj is None:
            raise ExportError(f"{path}: cannot tell whether it holds Territory2Type, Territory2Model or Territory2 "
                              "ids; keep Data Loader's success file as written, or put the object in the file "
                              "name (e.g. Territory2Model_ids.csv)")
        pending.append((path, df, obj, idc, devc))
    for path, df, obj, idc, devc in sorted(pending, key=lambda p: p[2] == "territories"):
        mcol = _pick(df, ["territory2modelid"]) if obj == "territories" else None
        model_id = out.models.get(model) if model else None
        n_used = 0
        for i, (sid, dev) in enumerate(zip(df[idc].astype(str).str.strip(), df[devc].astype(str).str.strip())):
            if not sid and not dev:
                continue
            if not _SF_ID.match(sid):
                raise ExportError(f"{path}: row {i + 2}, column {idc!r}: {sid!r} is not a Salesforce id "
                                  "(15 or 18 letters and digits)")
            if not dev:
                raise ExportError(f"{path}: row {i + 2}, column {devc!r}: empty")
            if mcol is not None and model_id and str(df[mcol].iloc[i]).strip()[:15] != model_id[:15]:
                continue
            key = (obj, dev.lower())
            if key in seen and seen[key][0][:15] != sid[:15]:
                sid0, file0, row0 = seen[key]
                raise ExportError(f"{path}: row {i + 2}: {dev} has id {sid} here but {sid0} in {file0} row {row0}")
            seen[key] = (sid, path.name, i + 2)
            getattr(out, obj)[dev] = sid
            n_used += 1
        if n_used:
            out.files.append(path.name)
    return out


def _sf_nodes(plan: ExportPlan) -> pd.DataFrame:
    """The territory tree, parents first: node, parent, depth, label, manager, leaf."""
    tt = plan.territories
    if plan.hierarchy is not None:
        ht = plan.hierarchy.table
        nodes = pd.DataFrame({"node": ht["node"].astype(str), "parent": ht["parent"], "depth": ht["depth"],
                              "label": ht["name"].astype(str), "manager": ht["manager"]})
    else:
        nodes = pd.DataFrame({"node": tt["territory_id"].astype(str), "parent": None, "depth": 0,
                              "label": tt["territory_id"].astype(str), "manager": None})
    leaf_name = dict(zip(tt["territory_id"].astype(str), tt["name"].astype(str)))
    nodes["label"] = [leaf_name.get(n, lab) for n, lab in zip(nodes["node"], nodes["label"])]
    nodes["leaf"] = nodes["node"].isin(set(tt["territory_id"].astype(str)))
    return nodes.sort_values("depth", kind="stable").reset_index(drop=True)


def write_salesforce(plan: ExportPlan, out_dir: Path, *, model_name: str | None = None,
                     ids: SalesforceIds | Path | str | None = None,
                     access: str | Mapping[str, str] | None = None) -> list[Path]:
    """Enterprise Territory Management (Sales Territories) insert files in ``out_dir``, in
    load order, as far as the Salesforce ids known so far allow.

    Data Loader and the Bulk API resolve a lookup by a related record's field only when that
    field is an External ID or idLookup, and ``DeveloperName`` of Territory2Model,
    Territory2Type and Territory2 is neither: the loads need real ids. So the export is
    staged: the first run writes ``1_Territory2Type.csv`` and ``2_Territory2Model.csv``; after
    they are inserted, ``ids`` (the folder of Data Loader's success files, or
    :class:`SalesforceIds`) fills ``Territory2ModelId`` / ``Territory2TypeId`` and the next
    run writes ``3_Territory2_level1.csv`` (the top of the tree), then each deeper level once
    its parents' ids are known, and finally ``4_UserTerritory2Association.csv`` and
    ``5_ObjectTerritory2Association.csv`` (``Territory2Id``). Every column is a creatable
    field of the object reference; Territory2 carries the required access levels
    (``access``, :data:`SALESFORCE_ACCESS` by default). ``plan_*.csv`` hold the whole plan
    in DeveloperName terms (read back by :func:`read_salesforce`; not for loading) and
    ``README.txt`` says what to load next. Accounts (``ObjectId``) and users (``UserId``) are
    the ids the workspace imported from Salesforce. Every rep of a territory gets a
    ``UserTerritory2Association`` row: ``RoleInTerritory2`` = ``Owner`` for the primary rep,
    ``Sales Rep`` for the others; the manager of a hierarchy node is its ``Owner``.
    """
    out_dir = Path(out_dir)
    if ids is not None and not isinstance(ids, SalesforceIds):
        ids = read_salesforce_ids(Path(ids), model=developer_name(model_name or plan.model_name))
    ids = ids or SalesforceIds()
    lv = salesforce_access(access)
    model = model_name or plan.model_name
    model_dev = developer_name(model)
    nodes = _sf_nodes(plan)
    dev = dict(zip(nodes["node"], developer_names(nodes["node"].tolist())))
    leaves = set(nodes.loc[nodes["leaf"], "node"])
    type_leaf, type_group = "Territory", "Territory_Group"
    nodes["dev"] = nodes["node"].map(dev)
    nodes["type"] = np.where(nodes["leaf"], type_leaf, type_group)
    nodes["parent_dev"] = nodes["parent"].map(lambda p: dev.get(p, "") if isinstance(p, str) and p else "")
    notes = plan.notes
    files: list[Path] = []
    types = [(type_leaf, "Territory", 10, "Territories of a Territorium plan")]
    if len(nodes) > len(leaves):
        types.append((type_group, "Territory group", 20, "Areas and regions above the territories"))
    files.append(_write_csv(pd.DataFrame(types, columns=["DeveloperName", "MasterLabel", "Priority", "Description"]),
                            out_dir / "1_Territory2Type.csv", notes))
    files.append(_write_csv(pd.DataFrame({"DeveloperName": [model_dev], "Name": [model[:80]],
                                          "Description": [f"Exported by Territorium ({len(leaves)} territories)"]}),
                            out_dir / "2_Territory2Model.csv", notes))
    # the plan in DeveloperName terms (not for loading)
    files.append(_write_csv(pd.DataFrame({
        "DeveloperName": nodes["dev"], "Name": nodes["label"].str.slice(0, 80), "Level": nodes["depth"] + 1,
        "ParentDeveloperName": nodes["parent_dev"], "TypeDeveloperName": nodes["type"],
        "TerritoriumId": nodes["node"]}), out_dir / "plan_Territory2.csv", notes))
    acc = plan.accounts.dropna(subset=["territory_id"])
    ota = pd.DataFrame({"ObjectId": acc["account_id"].astype(str),
                        "Territory2DeveloperName": acc["territory_id"].astype(str).map(dev)})
    users = []
    for t, rr in plan.territory_reps().items():
        # RoleInTerritory2 picklist: Owner, Administrator, Sales Rep
        users += [(r, dev[t], "Owner" if k == 0 else "Sales Rep") for k, r in enumerate(rr)]
    for n, m in zip(nodes["node"], nodes["manager"]):
        if isinstance(m, str) and m and n not in leaves:
            users.append((m, dev[n], "Owner"))
    uta = pd.DataFrame(users, columns=["UserId", "Territory2DeveloperName", "RoleInTerritory2"])
    files.append(_write_csv(uta, out_dir / "plan_UserTerritory2Association.csv", notes))
    files.append(_write_csv(ota, out_dir / "plan_ObjectTerritory2Association.csv", notes))
    bad_users = sorted({u for u in uta["UserId"] if not (_SF_ID.match(u) and u.startswith("005"))})
    if bad_users:
        notes.append(f"Salesforce: {len(bad_users)} rep id(s) are not Salesforce User ids (005...), e.g. "
                     f"{bad_users[0]}; import the users from Salesforce before loading the user associations")
    bad_acc = int((~ota["ObjectId"].str.match(r"^001[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")).sum())
    if bad_acc:
        notes.append(f"Salesforce: {bad_acc} account id(s) are not Salesforce Account ids (001...); "
                     "ObjectTerritory2Association needs the accounts imported from Salesforce")
    # staged loads: as far as the known ids go
    model_id = ids.models.get(model_dev)
    type_id = {t: ids.types.get(t) for t in (type_leaf, type_group)}
    terr_id = {dv: ids.territories.get(dv) for dv in nodes["dev"]}
    written = set()
    steps: list[tuple[str, str, str]] = []        # (file, object, state)
    ready = model_id is not None and all(type_id[t] for t in set(nodes["type"]))
    max_depth = int(nodes["depth"].max()) if len(nodes) else -1
    for depth in range(max_depth + 1):
        lvl = nodes[nodes["depth"] == depth]
        name = f"3_Territory2_level{depth + 1}.csv"
        parents_known = all(terr_id.get(p) for p in lvl["parent_dev"] if p)
        if ready and parents_known:
            t2 = pd.DataFrame({
                "DeveloperName": lvl["dev"], "Name": lvl["label"].str.slice(0, 80),
                "Territory2ModelId": model_id, "Territory2TypeId": lvl["type"].map(type_id),
                "ParentTerritory2Id": [terr_id.get(p) or "" if p else "" for p in lvl["parent_dev"]],
                **{k: v for k, v in lv.items()},
                "Description": [f"Territorium id: {n}" for n in lvl["node"]],
            })
            files.append(_write_csv(t2, out_dir / name, notes))
            written.add(name)
            done = all(terr_id.get(x) for x in lvl["dev"])
            steps.append((name, "Territory2", "inserted" if done else "ready"))
            ready = done
        else:
            steps.append((name, "Territory2", "waits for the ids of the files above"))
            ready = False
    all_terr = all(terr_id.values()) and len(terr_id) > 0
    for name, obj, frame, cols in (
            ("4_UserTerritory2Association.csv", "UserTerritory2Association", uta, ["UserId", "RoleInTerritory2"]),
            ("5_ObjectTerritory2Association.csv", "ObjectTerritory2Association", ota, ["ObjectId"])):
        if all_terr:
            f = pd.DataFrame({cols[0]: frame[cols[0]], "Territory2Id": frame["Territory2DeveloperName"].map(terr_id)})
            if obj == "UserTerritory2Association":
                f["RoleInTerritory2"] = frame["RoleInTerritory2"]
            else:
                f["AssociationCause"] = "Territory2Manual"
            files.append(_write_csv(f, out_dir / name, notes))
            written.add(name)
            steps.append((name, obj, "ready"))
        else:
            steps.append((name, obj, "waits for the Territory2 ids"))
    for old in out_dir.glob("*.csv"):          # staged files of an earlier run that no longer apply
        if _SF_STAGED.match(old.name) and old.name not in written:
            old.unlink()
    first = [("1_Territory2Type.csv", "Territory2Type", "inserted" if all(type_id[t] for t in set(nodes["type"]))
              else "ready (skip the types your org has already; their ids can come from a query export)"),
             ("2_Territory2Model.csv", "Territory2Model", "inserted" if model_id else "ready")]
    steps = first + steps
    nxt = [(f, o) for f, o, s in steps if s.startswith("ready")]
    depth_counts = nodes.groupby("depth").size().to_dict()
    readme = [
        "Salesforce Enterprise Territory Management load (generated by Territorium)",
        "",
        "Data Loader (or Bulk API 2.0), operation Insert, one file after the other. Lookups need Salesforce ids",
        "(DeveloperName is not an External ID or idLookup field), so after each insert put Data Loader's success",
        "file (input columns + ID + STATUS) in one folder and run the same export again with --ids-from FOLDER:",
        "it fills Territory2ModelId, Territory2TypeId, ParentTerritory2Id and Territory2Id and writes the next file.",
        "",
    ]
    for f, o, s in steps:
        readme.append(f"  {f:<40} -> {o:<28} {s}")
    readme += [
        "",
        "Territory levels: " + ", ".join(f"level {d + 1}: {n} row{'s' if n != 1 else ''}"
                                         for d, n in depth_counts.items()) + ".",
        "Territory2 access levels: " + ", ".join(f"{k} = {v}" for k, v in lv.items())
        + " (change with --salesforce-access).",
        "RoleInTerritory2: Owner for each territory's primary rep and the managers of the groups, Sales Rep for a",
        "territory's other reps. AssociationCause: Territory2Manual.",
        "plan_*.csv: the whole plan in DeveloperName terms, for reading (not for loading).",
        "Activate the model in Setup > Territory Models after the last load.",
        "",
        f"Territories: {len(leaves)}; account associations: {len(ota)}; user associations: {len(uta)}.",
    ]
    if ids.files:
        readme.append(f"Ids read from: {', '.join(ids.files)}.")
    for e in ids.errors:
        readme.append(f"Data Loader error file: {e}")
        notes.append(f"Salesforce: {e}")
    p = out_dir / "README.txt"
    p.write_text("\n".join(readme) + "\n", encoding="utf-8")
    files.append(p)
    if nxt:
        notes.append("Salesforce: load " + ", ".join(f"{f} into {o}" for f, o in nxt) + " next"
                     + (", then export again with --ids-from <folder of the success files>"
                        if any(f[:2] in ("1_", "2_", "3_") for f, _ in nxt) else ""))
    else:
        notes.append("Salesforce: every file is loaded or waiting for ids; see README.txt")
    return files


def read_salesforce(directory: Path) -> dict:
    """The Salesforce export back to plain data (the round trip of :func:`write_salesforce`).

    Returns ``{"model", "territories": DataFrame(territory_id, developer_name, name, parent,
    leaf), "accounts": {account_id: territory_id}, "users": DataFrame(user_id, territory_id,
    role)}`` from the ``plan_*.csv`` files; territory ids are the Territorium ids.
    """
    d = Path(directory)
    missing = [f for f in SALESFORCE_FILES if not (d / f).exists()]
    if missing:
        raise ExportError(f"{d}: missing {', '.join(missing)}")
    model = read_table(d / "2_Territory2Model.csv")
    t2 = read_table(d / "plan_Territory2.csv")
    need = ["DeveloperName", "Name", "ParentDeveloperName", "TypeDeveloperName", "TerritoriumId"]
    absent = [c for c in need if c not in t2.columns]
    if absent:
        raise ExportError(f"{d / 'plan_Territory2.csv'}: missing column(s) {', '.join(absent)}")
    by_dev = dict(zip(t2["DeveloperName"], t2["TerritoriumId"]))
    terr = pd.DataFrame({"territory_id": t2["TerritoriumId"], "developer_name": t2["DeveloperName"],
                         "name": t2["Name"],
                         "parent": pd.Series([by_dev.get(p) if p else None for p in t2["ParentDeveloperName"]],
                                             dtype=object),
                         "leaf": t2["TypeDeveloperName"] == "Territory"})
    ota = read_table(d / "plan_ObjectTerritory2Association.csv")
    bad = sorted(set(ota["Territory2DeveloperName"]) - set(by_dev))
    if bad:
        raise ExportError(f"plan_ObjectTerritory2Association.csv: unknown territory {', '.join(bad[:5])}")
    uta = read_table(d / "plan_UserTerritory2Association.csv")
    return {
        "model": model["DeveloperName"].iloc[0] if len(model) else None,
        "territories": terr,
        "accounts": dict(zip(ota["ObjectId"], ota["Territory2DeveloperName"].map(by_dev))),
        "users": pd.DataFrame({"user_id": uta["UserId"], "territory_id": uta["Territory2DeveloperName"].map(by_dev),
                               "role": uta["RoleInTerritory2"]}),
    }


# ---------------------------------------------------------------------- HubSpot / CSV
#: Mailbox providers whose domain says nothing about the company (not a company domain).
FREE_MAIL = frozenset("""
gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.ca ymail.com rocketmail.com hotmail.com hotmail.co.uk
outlook.com live.com msn.com aol.com icloud.com me.com mac.com proton.me protonmail.com pm.me gmx.com gmx.de
gmx.net web.de mail.com zoho.com yandex.com yandex.ru qq.com 163.com 126.com comcast.net verizon.net att.net
sbcglobal.net bellsouth.net cox.net charter.net earthlink.net optonline.net
""".split())
_HOST = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?([^/:?#\s@]+\.[a-z]{2,})", re.I)


def company_domain(value) -> str | None:
    """The company domain of a website or e-mail address (lower case, no ``www.``), or None.

    >>> company_domain("https://www.Acme.com/about"), company_domain("ann@acme.co.uk"), company_domain("x")
    ('acme.com', 'acme.co.uk', None)
    """
    if not isinstance(value, str) or not value.strip():
        return None
    v = value.strip().rsplit("@", 1)[-1]
    m = _HOST.match(v)
    return m.group(1).lower().rstrip(".") if m else None


def account_domains(accounts: pd.DataFrame, contacts: pd.DataFrame | None = None) -> pd.Series:
    """Each account's company domain: its ``website`` / ``domain`` column where the accounts
    have one, else the most common business e-mail domain of its contacts (free mailboxes
    such as gmail.com left out; ties: alphabetical), the way HubSpot itself associates
    contacts with companies. None where neither says."""
    out = pd.Series([None] * len(accounts), index=accounts.index, dtype=object)
    for c in ("domain", "website", "company_domain"):
        if c in accounts.columns:
            out = out.where(out.notna(), accounts[c].map(company_domain))
    if contacts is not None and len(contacts) and {"account_id", "email"} <= set(contacts.columns):
        c = pd.DataFrame({"a": contacts["account_id"].astype(str), "d": contacts["email"].map(company_domain)})
        c = c[c["d"].notna() & ~c["d"].isin(FREE_MAIL)]
        if len(c):
            top = c.value_counts().reset_index(name="n").sort_values(["a", "n", "d"], ascending=[True, False, True])
            best = dict(top.drop_duplicates("a")[["a", "d"]].values)
            out = out.where(out.notna(), accounts["account_id"].astype(str).map(best))
    return out.astype(object).where(out.notna(), None)


def accounts_source(ws) -> str | None:
    """The format (``hubspot``, ``salesforce``, ...) of the latest accounts import, or None."""
    try:
        b = ws.table("import_batches")
    except Exception:  # pragma: no cover - a workspace without the table
        return None
    b = b[b["table"] == "accounts"]
    if b.empty:
        return None
    return str(b.sort_values(["created_at", "id"])["format"].iloc[-1] or "") or None


def write_hubspot(plan: ExportPlan, path: Path) -> list[Path]:
    """A HubSpot company import that (re)assigns owners, keyed the way HubSpot's import
    matches existing companies.

    Accounts imported from HubSpot (``plan.account_source`` ``hubspot``): ``Record ID`` (the
    HubSpot company id the workspace holds). Otherwise: ``Company Domain Name`` (HubSpot
    deduplicates companies by it; from the account's website or its contacts' e-mail domain,
    :func:`account_domains`), and accounts without a domain go to ``<stem>_no_domain.csv``
    instead (HubSpot would create them as new companies). Then ``Company name``, ``Company
    owner`` (the owner's e-mail: HubSpot maps an e-mail in an ``[Object] owner`` column to the
    user), and ``Territory`` (create a single-line text company property named Territory
    first, or leave the column unmapped in the import wizard). The notes say which key.
    """
    path = Path(path)
    email = plan.rep_lookup("email")
    acc = plan.accounts
    owner_email = acc["owner_id"].map(lambda r: email.get(r) if isinstance(r, str) else None)
    missing = acc.loc[acc["owner_id"].notna() & owner_email.isna(), "owner_id"].unique()
    if len(missing):
        plan.notes.append(f"HubSpot: reps without an e-mail (owner left blank): {', '.join(map(str, missing[:5]))}")
    body = {"Company name": acc["name"], "Company owner": owner_email.fillna(""),
            "Territory": acc["territory_id"].fillna("")}
    if str(plan.account_source or "").lower().startswith("hubspot"):
        plan.notes.append("HubSpot: keyed by Record ID (the accounts were imported from HubSpot), so the import "
                          "updates those companies")
        return [_write_csv(pd.DataFrame({"Record ID": acc["account_id"].astype(str), **body}), path, plan.notes)]
    dom = acc["domain"] if "domain" in acc.columns else pd.Series([None] * len(acc), index=acc.index, dtype=object)
    df = pd.DataFrame({"Company Domain Name": dom, **body})
    has = dom.notna().to_numpy()
    src = f"from {plan.account_source} " if plan.account_source else ""
    plan.notes.append(f"HubSpot: keyed by Company Domain Name (the accounts came {src}not from HubSpot, so their "
                      f"ids match no HubSpot company); {int(has.sum())} of {len(df)} accounts have a domain")
    shared = df[has].groupby("Company Domain Name")["Company owner"].nunique()
    if (shared > 1).any():
        plan.notes.append(f"HubSpot: {int((shared > 1).sum())} domains are shared by accounts with different owners "
                          f"(e.g. {shared[shared > 1].index[0]}); HubSpot updates one company per domain")
    files = [_write_csv(df[has], path, plan.notes)]
    if (~has).any():
        nd = path.with_name(path.stem + "_no_domain.csv")
        files.append(_write_csv(pd.DataFrame({"account_id": acc["account_id"].astype(str), **body})[~has], nd,
                                plan.notes))
        plan.notes.append(f"HubSpot: {int((~has).sum())} accounts without a company domain are not in the import "
                          f"(HubSpot would create new companies): listed in {nd.name}")
    return files


def _generic_frames(plan: ExportPlan) -> tuple[pd.DataFrame, pd.DataFrame]:
    name = plan.rep_lookup("name")
    email = plan.rep_lookup("email")
    tname = dict(zip(plan.territories["territory_id"], plan.territories["name"]))
    acc = plan.accounts
    cols = {"account_id": acc["account_id"].astype(str), "name": acc["name"]}
    for c in ("street", "city", "state", "zip", "industry", "segment", "account_type", "tier"):
        if c in acc.columns:
            cols[c] = acc[c]
    out = pd.DataFrame(cols)
    out["territory_id"] = acc["territory_id"]
    out["territory_name"] = acc["territory_id"].map(tname)
    out["owner_id"] = acc["owner_id"]
    out["rep_name"] = acc["owner_id"].map(name)
    out["rep_email"] = acc["owner_id"].map(email)
    reps_of = {t: ";".join(r) for t, r in plan.territory_reps().items() if r}
    out["reps"] = acc["territory_id"].map(reps_of)
    if "team_id" in plan.territories.columns:
        team = dict(zip(plan.territories["territory_id"], plan.territories["team_id"]))
        out["team_id"] = acc["territory_id"].map(team)
    out["previous_owner_id"] = acc.get("previous_owner_id")
    for c in ("potential", "revenue_12m", "workload"):
        if c in acc.columns:
            out[c] = acc[c].round(2)
    if plan.hierarchy is not None:
        for c in [c for c in plan.territories.columns if c in plan.hierarchy.table["level"].dropna().unique()
                  and c != "territory"]:
            out[c] = acc["territory_id"].map(dict(zip(plan.territories["territory_id"], plan.territories[c])))
    rep_of = dict(zip(plan.territories["territory_id"], plan.territories["rep_id"]))
    # headers the alignment reader knows ("Territory Name" and rep_id fill the territories table)
    units = pd.DataFrame({"unit_id": plan.units["unit_id"], "territory_id": plan.units["territory"],
                          "Territory Name": plan.units["territory"].map(tname),
                          "rep_id": plan.units["territory"].map(rep_of),
                          "reps": plan.units["territory"].map(reps_of)})
    return out, units


def write_generic(plan: ExportPlan, path: Path) -> list[Path]:
    """``path``: account → territory → rep (canonical column names, so
    ``territorium import accounts FILE --format generic`` reads it back, owner_id = the new
    rep); ``<stem>_units.csv``: unit → territory (+ name, rep), which ``territorium import
    alignment`` reads back (ZIP units) together with each territory's name and rep. Both
    carry ``reps``: every rep of the territory, ``;``-separated, primary first (``rep_id`` of
    the units file); :func:`read_assignment_file` reads either back as an assignment."""
    path = Path(path)
    accounts, units = _generic_frames(plan)
    upath = path.with_name(path.stem + "_units.csv")
    return [_write_csv(accounts, path, plan.notes), _write_csv(units, upath, plan.notes)]


# ------------------------------------------------------------------------------ geometry
def dissolve_holes(territory_ids, territory_geoms, unit_territory, unit_geoms, *, share: float = 0.5) -> np.ndarray:
    """Territory polygons without the holes their units do not have, exterior rings
    counter-clockwise and holes clockwise (RFC 7946).

    Unit sets such as ZIP code tabulation areas leave slivers between neighbouring polygons
    (on the demo's ZIP cells 1,179 holes in 40 territories, 1,057 of them under 1 m², and
    no unit has a hole). A hole of a dissolved territory is kept when it is an enclave (at
    least ``share`` of its area covered by units of other territories) or a hole of one of
    its own units (a lake inside a county); any other hole is such a gap and is filled.

    >>> import shapely
    >>> from shapely.geometry import box
    >>> u = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2),
    ...      box(1, 1, 2, 2).difference(shapely.Polygon([(1, 1), (1.001, 1), (1, 1.001)]))]
    >>> t = shapely.union_all(u)
    >>> len(t.interiors), len(dissolve_holes(["A"], [t], ["A"] * 4, u)[0].interiors)
    (1, 0)
    """
    import shapely

    unit_geoms = np.asarray(unit_geoms, dtype=object)
    unit_territory = np.asarray(unit_territory, dtype=object)
    tree = shapely.STRtree(unit_geoms)
    out = []
    for t, geom in zip(territory_ids, territory_geoms):
        if geom is None or geom.is_empty:
            out.append(geom)
            continue
        polys = []
        for p in getattr(geom, "geoms", [geom]):
            if p.geom_type != "Polygon":
                continue
            keep = []
            for ring in p.interiors:
                hole = shapely.Polygon(ring)
                area = hole.area
                near = tree.query(hole, predicate="intersects")
                other = [unit_geoms[i] for i in near if unit_territory[i] != t]
                own = [unit_geoms[i] for i in near if unit_territory[i] == t]
                covered = sum(hole.intersection(x).area for x in other)
                lake = any(shapely.Polygon(h).intersection(hole).area >= share * area
                           for x in own for q in getattr(x, "geoms", [x]) if q.geom_type == "Polygon"
                           for h in q.interiors)
                if area > 0 and (covered >= share * area or lake):
                    keep.append(ring)
            polys.append(shapely.Polygon(p.exterior, keep))
        merged = shapely.union_all(polys) if len(polys) > 1 else (polys[0] if polys else geom)
        out.append(shapely.orient_polygons(merged))
    return np.asarray(out, dtype=object)


def _territory_frame(plan: ExportPlan):
    """Territories dissolved from the unit polygons, with their attributes (WGS84)."""
    import geopandas as gpd

    if plan.geometry is None:
        raise ExportError(f"{plan.level} units have no polygons: use --units zip, county or state for maps")
    g = gpd.GeoDataFrame({"territory_id": plan.units["territory"].to_numpy()},
                         geometry=np.asarray(plan.geometry), crs="EPSG:4326")
    g = g[g.geometry.notna()]
    g["geometry"] = g.geometry.make_valid()
    d = g.dissolve(by="territory_id", as_index=False, sort=True)
    d["geometry"] = dissolve_holes(d["territory_id"].to_numpy(), d.geometry.to_numpy(),
                                   g["territory_id"].to_numpy(), g.geometry.to_numpy())
    tt = plan.territory_frame()
    keep = [c for c in tt.columns if c not in ("main_state",)]
    d = d.merge(tt[keep], on="territory_id", how="left")
    for c in d.columns:
        if c != "geometry" and d[c].dtype == object:
            d[c] = d[c].astype("string")
    return d


def write_geo(plan: ExportPlan, path: Path, driver: str = "GeoJSON") -> list[Path]:
    """Territory polygons (units dissolved per territory) as GeoJSON or GeoPackage.

    The GeoPackage also holds a ``units`` layer (each unit polygon with its territory).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    d = _territory_frame(plan)
    with _staging(path) as tmp:
        _write_geo_layers(plan, d, tmp, driver)
    return [path]


@contextmanager
def _staging(path: Path):
    """A temporary file with the final name (GDAL names layers after it) in a scratch
    folder beside ``path``; moved into place only when the writer succeeds."""
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=path.parent))
    try:
        tmp = scratch / path.name
        yield tmp
        tmp.replace(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_geo_layers(plan: ExportPlan, d, tmp: Path, driver: str) -> None:
    import geopandas as gpd

    if driver == "GPKG":
        d.to_file(tmp, driver="GPKG", layer="territories")
        u = gpd.GeoDataFrame({"unit_id": plan.units["unit_id"].astype(str), "name": plan.units["name"].astype("string"),
                              "territory_id": plan.units["territory"].astype(str)},
                             geometry=np.asarray(plan.geometry), crs="EPSG:4326")
        u.to_file(tmp, driver="GPKG", layer="units", mode="a")
    else:
        # RFC 7946: WGS84 without a "crs" member, right-hand-rule rings (GDAL's RFC7946 option)
        d.to_file(tmp, driver="GeoJSON", RFC7946="YES")


def _kml_description(name, reps: Sequence[str]) -> str:
    """``"T07 NY — rep: Ann Lee"``, or ``"… — reps: Ann Lee (primary), Bo Chen"`` for several
    (``reps``: the names as a list, so a name holding ``|``, ``;`` or ``,`` stays one rep)."""
    rr = [str(r) for r in reps if r is not None and str(r)]
    if len(rr) > 1:
        return f"{name} — reps: {rr[0]} (primary), {', '.join(rr[1:])}"
    return f"{name} — rep: {rr[0] if rr else '(none)'}"


def _kml_rep_names(plan: ExportPlan, territory_ids) -> list[list[str]]:
    """Each territory's rep names (primary first), from the plan's lists, not a joined cell."""
    name = plan.rep_lookup("name")
    tr = plan.territory_reps()
    return [[str(name.get(r) or r) for r in tr.get(str(t), [])] for t in territory_ids]


def _kml_color(i: int, n: int, alpha: int = 0x66) -> str:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65, 0.95)
    return f"{alpha:02x}{int(b * 255):02x}{int(g * 255):02x}{int(r * 255):02x}"  # KML: aabbggrr


def _kml_etree(d, path: Path, rep_names: list[list[str]]) -> None:
    ns = "http://www.opengis.net/kml/2.2"
    ET.register_namespace("", ns)
    q = lambda t: f"{{{ns}}}{t}"  # noqa: E731
    kml = ET.Element(q("kml"))
    doc = ET.SubElement(kml, q("Document"))
    ET.SubElement(doc, q("name")).text = path.stem
    n = len(d)
    for i in range(n):
        st = ET.SubElement(doc, q("Style"), id=f"t{i}")
        ls = ET.SubElement(st, q("LineStyle"))
        ET.SubElement(ls, q("color")).text = "ff333333"
        ET.SubElement(ls, q("width")).text = "1"
        ps = ET.SubElement(st, q("PolyStyle"))
        ET.SubElement(ps, q("color")).text = _kml_color(i, n)
    attrs = [c for c in d.columns if c not in ("geometry",)]
    for i, row in enumerate(d.itertuples(index=False)):
        rec = dict(zip(d.columns, row))
        pm = ET.SubElement(doc, q("Placemark"))
        ET.SubElement(pm, q("name")).text = str(rec["territory_id"])
        desc = _kml_description(rec.get("name", ""), rep_names[i])
        ET.SubElement(pm, q("description")).text = desc
        ET.SubElement(pm, q("styleUrl")).text = f"#t{i}"
        ext = ET.SubElement(pm, q("ExtendedData"))
        for a in attrs:
            v = rec[a]
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
                continue
            data = ET.SubElement(ext, q("Data"), name=str(a))
            ET.SubElement(data, q("value")).text = f"{v:.2f}" if isinstance(v, float) else str(v)
        geom = rec["geometry"]
        polys = list(getattr(geom, "geoms", [geom]))
        polys = [p for p in polys if p.geom_type == "Polygon"]
        parent = ET.SubElement(pm, q("MultiGeometry")) if len(polys) > 1 else pm
        for p in polys:
            pe = ET.SubElement(parent, q("Polygon"))
            for tag, rings in (("outerBoundaryIs", [p.exterior]), ("innerBoundaryIs", list(p.interiors))):
                for ring in rings:
                    b = ET.SubElement(pe, q(tag))
                    lr = ET.SubElement(b, q("LinearRing"))
                    ET.SubElement(lr, q("coordinates")).text = " ".join(
                        f"{x:.6f},{y:.6f}" for x, y in np.asarray(ring.coords)[:, :2])
    ET.ElementTree(kml).write(path, encoding="utf-8", xml_declaration=True)


def kml_driver_available() -> bool:
    try:
        import pyogrio

        return "w" in pyogrio.list_drivers().get("KML", "")
    except Exception:  # pragma: no cover - pyogrio missing or broken
        return False


def write_kml(plan: ExportPlan, path: Path, *, engine: str = "auto") -> list[Path]:
    """Territories as KML (Google Earth / My Maps): one placemark per territory named by its
    id, with the attributes as ExtendedData. ``engine``: ``gdal`` (GDAL's KML driver),
    ``etree`` (written here, with a colour per territory) or ``auto`` (GDAL when available)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    d = _territory_frame(plan)
    if engine not in ("auto", "gdal", "etree"):
        raise ExportError(f"KML engine must be auto, gdal or etree, not {engine!r}")
    use_gdal = engine == "gdal" or (engine == "auto" and kml_driver_available())
    rep_names = _kml_rep_names(plan, d["territory_id"])
    with _staging(path) as tmp:
        if use_gdal:
            k = d.rename(columns={"territory_id": "Name"})
            k["Description"] = [_kml_description(n, r) for n, r in zip(k["name"], rep_names)]
            k = k.drop(columns=["name"])
            k.to_file(tmp, driver="KML")
        else:
            _kml_etree(d, tmp, rep_names)
    return [path]


# --------------------------------------------------------------------------------- Excel
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_names(names: Sequence[str], reserved: Sequence[str] = ("Summary",)) -> list[str]:
    """Excel-safe sheet names: no ``[]:*?/\\``, at most 31 characters, not blank, not
    starting or ending with an apostrophe, unique ignoring case (and not ``History``).

    >>> sheet_names(["T01 New York: Manhattan/Bronx", "Summary", "summary", "x" * 40])
    ['T01 New York Manhattan Bronx', 'Summary (2)', 'summary (3)', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx']
    """
    seen = {r.casefold() for r in reserved} | {"history"}
    out = []
    for raw in names:
        s = _SHEET_BAD.sub(" ", str(raw))
        s = re.sub(r"\s+", " ", s).strip().strip("'").strip() or "Sheet"
        base = s[:31].rstrip()
        cand, k = base, 2
        while cand.casefold() in seen:
            suf = f" ({k})"
            cand = base[: 31 - len(suf)].rstrip() + suf
            k += 1
        seen.add(cand.casefold())
        out.append(cand)
    return out


def _xlsx_value(ws, v, *, cell: bool = False):
    """A cell value for a write-only sheet: missing values empty, NumPy scalars as Python
    numbers, and text always a **string** cell (openpyxl would store ``=...`` as a formula):
    text a spreadsheet would run (``= + - @``, tab, CR first) is also marked with Excel's
    quote prefix, so it stays text when the cell is edited, and the value stays exact."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES

    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if not isinstance(v, str):
        return v
    if not (cell or is_risky(v) or v in ERROR_CODES):
        return v                       # openpyxl stores any other text as a string cell already
    c = WriteOnlyCell(ws, value=v)
    c.data_type = "s"
    if is_risky(v):
        c.quotePrefix = True
    return c


def write_excel(plan: ExportPlan, path: Path) -> list[Path]:
    """Workbook: ``Summary`` (one row per territory: primary rep, all reps and their names,
    hierarchy, measures, accounts) and one sheet per territory listing its accounts. Sheet
    names come from :func:`sheet_names`; the Summary's ``sheet`` column says which sheet
    holds which territory."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    accounts, _ = _generic_frames(plan)
    tt = plan.territory_frame()
    tt["accounts"] = tt["territory_id"].map(accounts["territory_id"].value_counts()).fillna(0).astype(int)
    tt["sheet"] = sheet_names([f"{t} {n}" if n != t and not str(n).startswith(str(t)) else str(n)
                               for t, n in zip(tt["territory_id"], tt["name"])])
    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    def put(ws, df: pd.DataFrame) -> None:
        hdr = []
        for c in df.columns:
            cell = _xlsx_value(ws, str(c), cell=True)
            cell.font = bold
            hdr.append(cell)
        ws.append(hdr)
        for row in df.itertuples(index=False):
            ws.append([_xlsx_value(ws, v) for v in row])

    summ = wb.create_sheet("Summary")
    cols = ["territory_id", "name", "sheet", "rep_id", "rep_name", "rep_email", "reps", "rep_names"]
    cols += ["team_id"] if "team_id" in tt.columns else []
    if plan.hierarchy is not None:
        cols += [c for c in tt.columns if c in set(plan.hierarchy.table["level"].dropna()) and c != "territory"]
    cols += [c for c in ("accounts", "units", "account_count", "revenue", "potential", "workload") if c in tt.columns]
    put(summ, tt[cols])
    summ.freeze_panes = "A2"
    by_t = {t: g for t, g in accounts.groupby("territory_id", sort=False)}
    for t, sheet in zip(tt["territory_id"], tt["sheet"]):
        ws = wb.create_sheet(sheet)
        g = by_t.get(t, accounts.iloc[0:0])
        put(ws, g.sort_values("account_id"))
        ws.freeze_panes = "A2"
    tmp = path.with_name(path.stem + ".tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)
    return [path]


# ------------------------------------------------------------------------------ dispatch
def export(plan: ExportPlan, fmt: str, out: Path, **kw) -> list[Path]:
    """Write ``plan`` in format ``fmt`` to ``out`` (a directory for salesforce; a file, or a
    directory that gets a default file name, otherwise)."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    out = Path(out)
    default = {"hubspot": "hubspot_companies.csv", "csv": "accounts_territories.csv",
               "geojson": "territories.geojson", "gpkg": "territories.gpkg", "kml": "territories.kml",
               "excel": "territories.xlsx"}
    if fmt == "salesforce":
        return write_salesforce(plan, out, model_name=kw.get("model_name"), ids=kw.get("ids_from"),
                                access=kw.get("salesforce_access"))
    if out.is_dir() or not out.suffix:
        out = out / default[fmt]
    if fmt == "hubspot":
        return write_hubspot(plan, out)
    if fmt == "csv":
        return write_generic(plan, out)
    if fmt == "geojson":
        return write_geo(plan, out, "GeoJSON")
    if fmt == "gpkg":
        return write_geo(plan, out, "GPKG")
    if fmt == "kml":
        return write_kml(plan, out, engine=kw.get("kml_engine", "auto"))
    return write_excel(plan, out)
