"""Staffing jobs: workspace data and files in, assignment tables, hand-over lists and plots out.

* :func:`run_assign_territories` — reps (or predefined teams) to the territories of an
  alignment file, one each or a head count per territory (exact LAP); the accounts follow their
  territory's rep — split among its reps by a small generalized assignment when it has several —
  except those protected by open deals; hand-over list.
* :func:`run_assign_accounts` — accounts straight to reps (generalized assignment with
  capacities and skills, a lower bound and the gap); hand-over list.
* :func:`run_sizing` — the sizing curve ("how many reps?") and :func:`plot_sizing`.
* :func:`territory_reps` and :func:`store_plan_reps` — the staffing written into a stored plan
  (``assign territories --plan`` and the API's ``assign`` job).

Every input problem raises :class:`AssignJobError` with a message naming the file, row, column
or rep. Outputs are written next to each other, each through a temporary file, so a failed job
leaves the previous outputs as they were.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from territorium.data.cells import write_csv
from territorium.assign import (AssignInputError, GapResult, Handover, ProtectionRule, RepAssignment, RepWeights,
                                SizingResult, account_needs, assign_accounts, assign_reps, handover, open_deals,
                                parse_skills, size, territory_features)
from territorium.measures import account_workload, load_profile
from territorium.plan._files import pick_column, read_table
from territorium.plan.workspace import UnitLoad, Workspace, WorkspaceError

__all__ = [
    "AssignJobError", "DEFAULT_CAPACITY_HOURS", "load_reps", "load_teams", "read_slots", "account_table",
    "protection",
    "TerritoryJob", "TerritoryJobResult", "run_assign_territories",
    "AccountJob", "AccountJobResult", "run_assign_accounts",
    "write_territory_outputs", "write_account_outputs",
    "run_sizing", "plot_sizing", "output_paths", "territory_reps", "store_plan_reps",
]

#: Selling hours per year of one full-time rep when the reps table gives none.
DEFAULT_CAPACITY_HOURS = 1600.0

#: Account fields whose values name a skill that is required (hard) in ``assign accounts``.
REQUIRE_FIELDS = ("segment", "language")


class AssignJobError(Exception):
    """A problem with the user's staffing inputs (message written for the user)."""


ProgressFn = Callable[[float, str], None]


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------

def _read_table(path: Path) -> pd.DataFrame:
    return read_table(Path(path), AssignJobError)


_pick = pick_column


def load_reps(ws: Workspace | None, source: str | Path = "workspace", *,
              default_capacity: float = DEFAULT_CAPACITY_HOURS, include_managers: bool = False) -> pd.DataFrame:
    """The rep pool: ``rep_id``, ``name``, ``home_lat``, ``home_lon``, ``capacity_hours``,
    ``fte``, ``skills``.

    ``source`` is ``"workspace"`` (active reps of the imported users, managers left out unless
    ``include_managers``) or a CSV / Excel file with columns ``rep_id`` (or ``id``), optional
    ``name``, ``home_zip`` (or ``zip``) or ``home_lat``/``home_lon``, ``capacity_hours``,
    ``fte``, ``skills``, ``team``. A rep without capacity gets ``fte`` × ``default_capacity``
    hours. The result also has ``team`` (None when not given) and ``source_row`` (the file row,
    for messages; None for workspace reps).
    Raises :class:`AssignJobError` naming the rep (and file row) without a home location.
    """
    if str(source) == "workspace":
        if ws is None:
            raise AssignJobError("no workspace to read reps from")
        reps = ws.table("reps")
        if reps.empty:
            raise AssignJobError("no reps imported: import the Salesforce users export first (or --reps FILE)")
        reps = reps[reps["active"].astype("boolean").fillna(True).to_numpy(dtype=bool)]
        if not include_managers:
            reps = reps[~reps["title"].fillna("").str.contains("manager", case=False)]
        reps = reps.reset_index(drop=True)
        where = "workspace reps"
        rows = None
    else:
        path = Path(source)
        df = _read_table(path)
        idc = _pick(df, ["rep_id", "id", "user_id", "owner_id"])
        if idc is None:
            raise AssignJobError(f"{path}: needs a column rep_id (found: {', '.join(map(str, df.columns))})")
        reps = pd.DataFrame({"rep_id": df[idc].astype(str).str.strip()})
        blank = reps["rep_id"].isin(["", "nan", "None"])
        if blank.any():
            raise AssignJobError(f"{path}: column {idc!r}: empty rep id in row {int(np.flatnonzero(blank)[0]) + 2}")
        for out, names in (("name", ["name", "full_name"]), ("home_zip", ["home_zip", "zip", "postal_code", "postalcode"]),
                           ("home_lat", ["home_lat", "lat", "latitude"]), ("home_lon", ["home_lon", "lon", "lng", "longitude"]),
                           ("capacity_hours", ["capacity_hours", "capacity", "hours"]), ("fte", ["fte"]),
                           ("skills", ["skills", "skill", "specialties", "languages"]), ("title", ["title"]),
                           ("team", ["team", "team_id", "team_name", "pod"])):
            c = _pick(df, names)
            reps[out] = df[c] if c is not None else None
        for col in ("home_lat", "home_lon", "capacity_hours", "fte"):
            raw = reps[col]
            num = pd.to_numeric(raw, errors="coerce")
            bad = raw.notna() & ~raw.astype(str).str.strip().isin(["", "nan", "None"]) & num.isna()
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise AssignJobError(f"{path}: row {i + 2}, column {col!r}: {raw.iloc[i]!r} is not a number "
                                     f"(rep {reps['rep_id'].iloc[i]})")
            reps[col] = num
        need_geo = reps["home_lat"].isna() & reps["home_zip"].notna()
        if need_geo.any():
            from territorium.geo.geocode import zip_centroid

            z = reps.loc[need_geo, "home_zip"].astype(str).str.strip().str.split("-").str[0].str.zfill(5)
            c = zip_centroid(z.to_numpy(dtype=object))
            reps.loc[need_geo, "home_lat"] = c["lat"].to_numpy()
            reps.loc[need_geo, "home_lon"] = c["lon"].to_numpy()
        where = str(path)
        rows = np.arange(len(reps)) + 2
    dup = reps["rep_id"][reps["rep_id"].duplicated()].unique().tolist()
    if dup:
        raise AssignJobError(f"{where}: duplicate rep ids: {', '.join(map(str, dup[:5]))}")
    no_home = reps["home_lat"].isna() | reps["home_lon"].isna()
    if no_home.any():
        who = [f"{r}" + (f" (row {rows[i]})" if rows is not None else "")
               for i, r in zip(np.flatnonzero(no_home), reps.loc[no_home, "rep_id"])]
        raise AssignJobError(f"{where}: reps without a home location (no valid home ZIP or lat/lon): "
                             f"{', '.join(who[:10])}{f' and {len(who) - 10} more' if len(who) > 10 else ''}")
    fte = pd.to_numeric(reps.get("fte"), errors="coerce") if "fte" in reps else pd.Series(np.nan, index=reps.index)
    cap = pd.to_numeric(reps["capacity_hours"], errors="coerce")
    cap = cap.fillna(fte.fillna(1.0) * default_capacity)
    bad = cap <= 0
    if bad.any():
        raise AssignJobError(f"{where}: reps with capacity ≤ 0 hours: {', '.join(reps.loc[bad, 'rep_id'].astype(str)[:10])}")
    team = reps["team"] if "team" in reps.columns else pd.Series(None, index=reps.index, dtype="object")
    team = team.astype("object").map(lambda x: None if x is None or str(x).strip() in ("", "nan", "None", "<NA>")
                                     else str(x).strip())
    out = pd.DataFrame({"rep_id": reps["rep_id"].astype(str), "name": reps.get("name"),
                        "home_lat": reps["home_lat"].astype(float), "home_lon": reps["home_lon"].astype(float),
                        "capacity_hours": cap.astype(float), "fte": fte, "skills": reps.get("skills"),
                        "team": team.to_numpy(dtype=object),
                        "source_row": rows if rows is not None else [None] * len(reps)})
    out.attrs["source"] = where
    return out.reset_index(drop=True)


def _where(reps: pd.DataFrame, i: int) -> str:
    """``rep X (reps.csv row 3)`` for messages."""
    row = reps["source_row"].iat[i] if "source_row" in reps.columns else None
    src = reps.attrs.get("source", "")
    return f"{reps['rep_id'].iat[i]}" + (f" ({src} row {int(row)})" if row is not None and row == row else "")


def load_teams(path: str | Path, reps: pd.DataFrame, ws: Workspace | None = None) -> pd.DataFrame:
    """Give the reps their teams from a file: columns ``team`` and ``rep_id`` (one row per
    member; a row with a team and no rep declares a team).

    The file is then the list of teams: a rep's team from the reps file that the teams file
    does not list is an unknown team. Errors name the file, row and column: an empty team name,
    an unknown rep, a rep in two teams, a team with no members (or whose members are all
    outside the rep pool: inactive reps, managers).
    """
    path = Path(path)
    df = _read_table(path)
    tcol = _pick(df, ["team", "team_id", "team_name", "pod"])
    if tcol is None:
        raise AssignJobError(f"{path}: needs a column team (found: {', '.join(map(str, df.columns))})")
    rcol = _pick(df, ["rep_id", "id", "user_id", "owner_id", "rep", "member"])

    def clean(v) -> str:
        return "" if v is None or str(v).strip() in ("", "nan", "None") else str(v).strip()

    pool = {r: i for i, r in enumerate(reps["rep_id"].astype(str))}
    outside: set[str] = set()
    if ws is not None:
        try:
            everyone = ws.table("reps")
            outside = set(everyone["rep_id"].astype(str)) - set(pool)
        except Exception:  # no reps table: only the pool counts
            outside = set()
    declared: dict[str, int] = {}
    member_of: dict[str, tuple[str, int]] = {}
    skipped: dict[str, list[str]] = {}
    for k in range(len(df)):
        row = k + 2
        team = clean(df[tcol].iat[k])
        rep = clean(df[rcol].iat[k]) if rcol is not None else ""
        if not team:
            raise AssignJobError(f"{path}: row {row}, column {tcol!r}: empty team name"
                                 + (f" (rep {rep})" if rep else ""))
        declared.setdefault(team, row)
        if not rep:
            continue
        if rep not in pool:
            if rep in outside:
                skipped.setdefault(team, []).append(rep)
                continue
            raise AssignJobError(f"{path}: row {row}, column {rcol!r}: unknown rep {rep!r} (not among the reps)")
        if rep in member_of and member_of[rep][0] != team:
            t0, r0 = member_of[rep]
            raise AssignJobError(f"{path}: row {row}: rep {rep} is already in team {t0!r} (row {r0}); "
                                 "a rep belongs to one team")
        member_of[rep] = (team, row)
    out = reps.copy()
    team = out["team"].astype("object").to_numpy().copy() if "team" in out.columns else np.full(len(out), None)
    for i, r in enumerate(out["rep_id"].astype(str)):
        if r in member_of:
            team[i] = member_of[r][0]
        elif team[i] is not None and team[i] == team[i] and str(team[i]) not in declared:
            raise AssignJobError(f"{_where(out, i)}: unknown team {team[i]!r} (not in {path}; teams there: "
                                 f"{', '.join(list(declared)[:8])}{'...' if len(declared) > 8 else ''})")
    out["team"] = team
    have = set(str(t) for t in team if t is not None and t == t)
    empty = [t for t in declared if t not in have]
    if empty:
        t = empty[0]
        why = (f": its reps {', '.join(skipped[t])} are not in the rep pool (inactive or managers)"
               if t in skipped else "")
        raise AssignJobError(f"{path}: team {t!r} (row {declared[t]}) has no members{why}"
                             + (f"; also {', '.join(map(repr, empty[1:6]))}" if len(empty) > 1 else ""))
    out.attrs.update(reps.attrs)
    return out


def read_slots(spec, territories: Sequence[str]):
    """``--slots``: None, ``"auto"``, a whole number, or a file (``territory``, ``slots``) →
    what :func:`territorium.assign.assign_reps` takes as ``slots`` (territories missing from the
    file get one). Errors name the file, row and column."""
    if spec is None or str(spec).strip() == "":
        return None
    text = str(spec).strip()
    if text.lower() == "auto":
        return "auto"
    if text.isdigit():
        if int(text) < 1:
            raise AssignJobError(f"--slots {text}: a head count must be at least 1")
        return int(text)
    path = Path(text)
    if not path.exists():
        raise AssignJobError(f"--slots {text!r}: not 'auto', a whole number or an existing file (territory, slots)")
    df = _read_table(path)
    tcol = _pick(df, ["territory", "territory_id", "terr"])
    ncol = _pick(df, ["slots", "head_count", "headcount", "reps", "n_reps"])
    if tcol is None or ncol is None:
        raise AssignJobError(f"{path}: needs columns territory and slots (found: {', '.join(map(str, df.columns))})")
    known = set(map(str, territories))
    out: dict[str, int] = {}
    first: dict[str, int] = {}
    for k in range(len(df)):
        row = k + 2
        t = str(df[tcol].iat[k]).strip()
        raw = df[ncol].iat[k]
        if t not in known:
            raise AssignJobError(f"{path}: row {row}, column {tcol!r}: unknown territory {t!r} (territories are "
                                 f"{', '.join(sorted(known)[:6])}{'...' if len(known) > 6 else ''})")
        try:
            n = float(str(raw).strip())
        except ValueError:
            n = np.nan
        if not np.isfinite(n) or n < 1 or n != int(n):
            raise AssignJobError(f"{path}: row {row}, column {ncol!r}: {raw!r} is not a whole number ≥ 1 "
                                 f"(territory {t})")
        if t in first:
            raise AssignJobError(f"{path}: row {row}: territory {t} is listed twice (first in row {first[t]})")
        first[t] = row
        out[t] = int(n)
    return out


def _account_revenue(ws: Workspace, window: tuple[dt.datetime, dt.datetime] | None) -> pd.Series:
    start, end = window or ws.revenue_window()
    og = ws.order_groups(start, end)
    if og.empty:
        return pd.Series(dtype=float)
    og = og.dropna(subset=["account_id"])
    return og.groupby(og["account_id"].astype(str))["total"].sum()


def account_table(ws: Workspace, *, profile=None, load: UnitLoad | None = None) -> pd.DataFrame:
    """Accounts with ``workload`` (hours/year, the workload profile), ``revenue`` (orders in
    the revenue window) and, with ``load``, their ``unit`` position."""
    acc = load.accounts.copy() if load is not None else ws.table("accounts")
    if acc.empty:
        raise AssignJobError("no accounts imported")
    prof = load_profile(profile) if not hasattr(profile, "visits_per_year") else profile
    acc["workload"] = account_workload(acc, prof)
    rev = _account_revenue(ws, load.window if load is not None else None)
    acc["revenue"] = rev.reindex(acc["account_id"].astype(str)).fillna(0.0).to_numpy()
    return acc


def protection(ws: Workspace, rule: ProtectionRule, asof: dt.date | None = None) -> pd.DataFrame:
    """Open deals per account under ``rule`` (empty when the rule is off)."""
    if not rule.enabled:
        return open_deals(pd.DataFrame(), rule=rule)
    opps = ws.table("opportunities")
    if asof is None and rule.horizon_days is not None:
        asof = ws.revenue_window()[1].date()
    try:
        return open_deals(opps, rule=rule, asof=asof)
    except ValueError as exc:
        raise AssignJobError(str(exc)) from None


def _scale_capacity(cap: np.ndarray, demand: float, mode: str, slack: float) -> np.ndarray:
    if mode == "hours":
        return cap
    if mode == "share":
        return cap / cap.sum() * demand * (1.0 + slack)
    raise AssignJobError(f"--capacity must be 'hours' or 'share', not {mode!r}")


def _parse_pairs(items: Sequence[str], what: str, form: str = "REP=TERRITORY") -> list[tuple[str, str]]:
    out = []
    for it in items or ():
        a, sep, b = str(it).partition("=")
        if not sep or not a.strip() or not b.strip():
            raise AssignJobError(f"{what} {it!r}: expected {form}")
        out.append((a.strip(), b.strip()))
    return out


# --------------------------------------------------------------------------------------------
# Reps → territories
# --------------------------------------------------------------------------------------------

@dataclass
class TerritoryJob:
    """Options of ``territorium assign territories``."""

    alignment: Path | None = None          # unit → territory file (None: the imported alignment)
    level: str = "zip"
    reps: str | Path = "workspace"
    weights: RepWeights = field(default_factory=RepWeights)
    capacity: str = "hours"                # hours | share
    slack: float = 0.05
    must: Sequence[str] = ()               # "REP=TERRITORY"
    forbid: Sequence[str] = ()
    require: Sequence[str] = ()            # "TERRITORY=skill;skill"
    protect: ProtectionRule = field(default_factory=ProtectionRule)
    method: str = "lap"
    profile: str | Path | None = None
    slots: str | int | None = None         # None: one rep each | "auto" | N | FILE (territory, slots)
    by: str = "rep"                        # rep | team
    teams: Path | None = None              # team, rep_id file (None: the reps' own team column)
    split_time_limit: float = 5.0          # seconds per territory to split its accounts among its reps


@dataclass(frozen=True)
class TerritoryJobResult:
    reps: pd.DataFrame
    result: RepAssignment
    accounts: pd.DataFrame                 # one row per account: owner, planned, new owner, reason
    handover: Handover
    notes: tuple = ()


def _planned_reps(acc: pd.DataFrame, pool: pd.DataFrame, res: RepAssignment, *, slack: float = 0.05,
                  time_limit: float = 5.0) -> tuple[np.ndarray, list[str]]:
    """The planned rep of every account: its territory's rep; when the territory has several
    reps (a head count above 1, or a team), the accounts are split among them by a generalized
    assignment (least travel, current owner kept when one of them, each rep's share of the
    territory's hours in proportion to capacity, + ``slack``). Returns (rep id or None per
    account, a note per account on the split, "" when there was none)."""
    planned = np.full(len(acc), None, dtype=object)
    notes = [""] * len(acc)
    terr = acc["territory"].to_numpy(dtype=object)
    caps = pool.set_index(pool["rep_id"].astype(str))
    for j, tid in enumerate(res.territory_ids):
        reps_t = [m for a in res.reps_of_territory[j] for m in res.members[res.rep_ids[a]]]
        if not reps_t:
            continue
        idx = np.flatnonzero(terr == tid)
        if len(reps_t) == 1 or not len(idx):
            planned[idx] = reps_t[0]
            continue
        sub = acc.iloc[idx]
        w = np.nan_to_num(sub["workload"].to_numpy(dtype=np.float64))
        c = caps.loc[reps_t, "capacity_hours"].to_numpy(dtype=np.float64)
        c = np.where(np.isfinite(c) & (c > 0), c, np.nanmean(np.where(c > 0, c, np.nan)) if (c > 0).any() else 1.0)
        share = c / c.sum() * max(w.sum(), 1e-9) * (1.0 + slack)
        pos = {r: k for k, r in enumerate(reps_t)}
        cur = np.array([pos.get(str(o), -1) for o in sub["owner_id"].astype("object")], dtype=np.int64)
        lat = sub["lat"].to_numpy(dtype=np.float64)
        lon = sub["lon"].to_numpy(dtype=np.float64)
        if not np.isfinite(lat).any():  # nobody located: by capacity share, current owners kept
            lat = np.zeros(len(idx))
            lon = np.zeros(len(idx))
            rl = np.zeros(len(reps_t))
            rn = np.zeros(len(reps_t))
        else:
            rl = caps.loc[reps_t, "home_lat"].to_numpy(dtype=np.float64)
            rn = caps.loc[reps_t, "home_lon"].to_numpy(dtype=np.float64)
        try:
            g = assign_accounts(w, share, account_lat=lat, account_lon=lon, rep_lat=rl, rep_lon=rn, current=cur,
                                overload_penalty=1000.0, time_limit=time_limit, use_lp=False, rep_ids=reps_t)
        except AssignInputError as exc:
            raise AssignJobError(f"territory {tid}: splitting its accounts among {', '.join(reps_t)}: {exc}") from None
        planned[idx] = [reps_t[k] for k in g.rep]
        head = f"{len(reps_t)} reps share {tid} ({', '.join(reps_t)}), each about its capacity's share of the hours"
        for k, i in enumerate(idx):
            notes[i] = f"{head}: {g.explanations['reason'].iat[k]}"
    return planned, notes


def run_assign_territories(job: TerritoryJob, ws: Workspace | None = None, *, load: UnitLoad | None = None,
                           progress: ProgressFn | None = None) -> TerritoryJobResult:
    """Staff the territories of an alignment and hand accounts over (see module docstring)."""
    from territorium.plan.designing import DesignJobError, read_current

    ws = ws or Workspace()
    say = progress or (lambda f, m: None)
    say(0.0, "loading units and accounts")
    if load is None:
        try:
            load = ws.load_units(job.level)
        except (WorkspaceError, ValueError) as exc:
            raise AssignJobError(str(exc)) from None
    try:
        terr_of_unit, labels, _missing = read_current(job.alignment, ws, load)
    except DesignJobError as exc:
        raise AssignJobError(str(exc)) from None
    if job.by not in ("rep", "team"):
        raise AssignJobError(f"--by must be 'rep' or 'team', not {job.by!r}")
    reps = load_reps(ws, job.reps)
    if job.teams is not None:
        reps = load_teams(job.teams, reps, ws if str(job.reps) == "workspace" else None)
    if job.by == "team":
        none = np.flatnonzero(reps["team"].isna().to_numpy())
        if len(reps) and len(none) == len(reps):
            raise AssignJobError("--by team: the reps have no team: add a team column to the reps file or give "
                                 "--teams FILE (team, rep_id)")
        if len(none):
            who = [_where(reps, i) for i in none]
            raise AssignJobError(f"--by team: reps without a team: {', '.join(who[:10])}"
                                 f"{f' and {len(who) - 10} more' if len(who) > 10 else ''}")
    acc = account_table(ws, profile=job.profile, load=load)
    unit = acc["unit"].to_numpy(dtype=np.int64)
    terr = np.where(unit >= 0, np.asarray(labels, dtype=object)[terr_of_unit[np.maximum(unit, 0)]], None)
    acc["territory"] = terr
    vocab = sorted(set().union(*[parse_skills(s) for s in reps["skills"]])) if len(reps) else []
    needs = account_needs(acc, vocab)
    say(0.3, "territory profiles")
    feats = territory_features(acc["territory"], lat=acc["lat"], lon=acc["lon"], workload=acc["workload"],
                               value=acc["revenue"] if acc["revenue"].sum() > 0 else acc["potential"],
                               owner=acc["owner_id"], needs=needs, vocabulary=vocab,
                               rep_ids=reps["rep_id"], labels=list(labels))
    t = feats.territories
    pool = reps.copy()
    pool["capacity_hours"] = _scale_capacity(pool["capacity_hours"].to_numpy(float), float(t["workload"].sum()),
                                             job.capacity, job.slack)
    req = {}
    for spec in job.require or ():
        a, sep, b = str(spec).partition("=")
        if not sep:
            raise AssignJobError(f"--require {spec!r}: expected TERRITORY=SKILL[;SKILL]")
        req[a.strip()] = b
    slots = read_slots(job.slots, t["territory_id"].astype(str).tolist())
    say(0.5, "assigning teams" if job.by == "team" else "assigning reps")
    pair = "TEAM=TERRITORY" if job.by == "team" else "REP=TERRITORY"
    try:
        res = assign_reps(pool, t, skill_demand=feats.skill_demand, ownership=feats.ownership, weights=job.weights,
                          must=dict(_parse_pairs(job.must, "--must", pair)),
                          forbid=_parse_pairs(job.forbid, "--must-not", pair),
                          required_skills=req, slots=slots, slack=job.slack, by=job.by, method=job.method)
    except AssignInputError as exc:
        raise AssignJobError(str(exc)) from None

    say(0.7, "splitting shared territories")
    planned, split_why = _planned_reps(acc, pool, res, slack=job.slack, time_limit=job.split_time_limit)
    planned = pd.Series(planned, index=acc.index, dtype="object")
    say(0.8, "hand-over")
    deals = protection(ws, job.protect)
    owner = acc["owner_id"].astype("object").where(acc["owner_id"].notna(), None)
    is_deal = acc["account_id"].astype(str).isin(set(deals["account_id"])).to_numpy()
    moves = (planned.notna() & (planned.astype(str) != owner.astype(str))).to_numpy()
    protected = is_deal & moves & owner.notna().to_numpy()
    vacant = acc["territory"].notna().to_numpy() & planned.isna().to_numpy()
    new = np.where(protected | vacant | acc["territory"].isna().to_numpy(), owner.to_numpy(), planned.to_numpy())
    acc["planned_rep"] = planned.to_numpy()
    acc["new_owner"] = new
    d = deals.set_index("account_id") if len(deals) else None
    idc = res.id_column
    why_t = {(tid, str(a)): why for tid, a, why in zip(res.table["territory_id"], res.table[idc], res.table["reason"])}
    team_of = {m: a for a, mem in res.members.items() for m in mem}
    codes, reasons = [], []
    for i, (tid, own, pl) in enumerate(zip(acc["territory"], owner, planned)):
        if tid is None:
            codes.append("unplaced")
            reasons.append("not in any unit of the alignment (no location): stays with its current owner")
        elif vacant[i]:
            codes.append("vacant")
            reasons.append(f"territory {tid} is vacant: stays with its current owner until it is staffed")
        elif protected[i]:
            row = d.loc[str(acc["account_id"].iat[i])]
            until = pd.Timestamp(row["protect_until"]).date() if pd.notna(row["protect_until"]) else "close"
            codes.append("protected")
            reasons.append(f"protected: {int(row['open_opps'])} open opportunit{'y' if row['open_opps'] == 1 else 'ies'} "
                           f"({row['open_amount']:,.0f}) stay with {own} until {until}; then to {pl} ({tid})")
        elif str(own) == str(pl):
            codes.append("kept")
            reasons.append(f"territory {tid}: its rep {pl} already owns it")
        else:
            codes.append("territory")
            key = (tid, team_of.get(str(pl), str(pl)))
            lead = f"territory {tid} → {pl}" + (f" (team {key[1]})" if job.by == "team" else "")
            reasons.append(f"{lead}: {why_t[key]}" + (f"; {split_why[i]}" if split_why[i] else ""))
    acc["reason_code"] = codes
    acc["reason"] = reasons
    ho = handover(acc, before="owner_id", after="new_owner", planned="planned_rep",
                  deals=protection(ws, ProtectionRule()), activities=ws.table("activities"))
    say(1.0, "done")
    cols = ["account_id", "name", "territory", "owner_id", "planned_rep", "new_owner", "workload", "revenue",
            "reason_code", "reason"]
    return TerritoryJobResult(reps, res, acc[cols].reset_index(drop=True), ho, tuple(load.notes))


# --------------------------------------------------------------------------------------------
# Accounts → reps (GAP)
# --------------------------------------------------------------------------------------------

@dataclass
class AccountJob:
    """Options of ``territorium assign accounts``."""

    reps: str | Path = "workspace"
    capacity: str = "hours"                # hours | share
    slack: float = 0.05
    allow_overload: bool = False
    overload_penalty: float = 1000.0       # km per hour over capacity when overload is allowed
    continuity_km: float = 10.0
    require: Sequence[str] = REQUIRE_FIELDS
    protect: ProtectionRule = field(default_factory=ProtectionRule)
    candidates: int = 30
    time_limit: float = 45.0
    seed: int = 0
    profile: str | Path | None = None


@dataclass(frozen=True)
class AccountJobResult:
    reps: pd.DataFrame                     # rep table with load, capacity, overload
    result: GapResult
    accounts: pd.DataFrame
    handover: Handover
    notes: tuple = ()


def infeasible_message(sf: pd.DataFrame) -> str:
    """"infeasible capacity: ..." naming the total and per-skill shortfalls in hours."""
    bad = sf[sf["short_h"] > 1e-6]
    parts = [f"{r['skill']}: accounts need {r['demand_h']:,.0f} h, the {r['reps']} reps who can take them have "
             f"{r['capacity_h']:,.0f} h left, short by {r['short_h']:,.0f} h" for _, r in bad.iterrows()]
    return "infeasible capacity: " + "; ".join(parts)


def run_assign_accounts(job: AccountJob, ws: Workspace | None = None, *,
                        progress: ProgressFn | None = None) -> AccountJobResult:
    """Assign accounts to reps (GAP) with protection, explanations and the hand-over list."""
    ws = ws or Workspace()
    say = progress or (lambda f, m: None)
    say(0.0, "loading reps and accounts")
    reps = load_reps(ws, job.reps)
    acc = account_table(ws, profile=job.profile)
    notes = []
    located = acc["lat"].notna() & acc["lon"].notna()
    if (~located).any():
        notes.append(f"{int((~located).sum())} accounts without a location stay with their current owner")
    rep_pos = pd.Series(np.arange(len(reps)), index=reps["rep_id"])
    owner = acc["owner_id"].astype("object").where(acc["owner_id"].notna(), None)
    cur = rep_pos.reindex(owner.astype(str)).fillna(-1).to_numpy(dtype=np.int64)
    deals = protection(ws, job.protect)
    is_deal = acc["account_id"].astype(str).isin(set(deals["account_id"])).to_numpy()
    # protected accounts of a pool rep are locked to them; of someone else (a manager), left out
    lock = np.where(is_deal & (cur >= 0), cur, -1)
    outside = (is_deal & (cur < 0) & owner.notna().to_numpy()) | ~located.to_numpy()
    if (is_deal & (cur < 0) & owner.notna().to_numpy()).any():
        notes.append(f"{int((is_deal & (cur < 0) & owner.notna().to_numpy()).sum())} protected accounts owned "
                     "outside the rep pool (e.g. managers) stay with their owner")
    sel = np.flatnonzero(~outside)
    a = acc.iloc[sel].reset_index(drop=True)
    vocab = sorted(set().union(*[parse_skills(s) for s in reps["skills"]])) if len(reps) else []
    needs = account_needs(a, vocab, fields=tuple(job.require))
    cap = _scale_capacity(reps["capacity_hours"].to_numpy(float), float(a["workload"].sum()), job.capacity, job.slack)
    lock_sel = lock[sel]
    d = deals.set_index("account_id") if len(deals) else None
    lock_txt = [None] * len(a)
    for i in np.flatnonzero(lock_sel >= 0):
        row = d.loc[str(a["account_id"].iat[i])]
        until = pd.Timestamp(row["protect_until"]).date() if pd.notna(row["protect_until"]) else "close"
        lock_txt[i] = (f"protected: {int(row['open_opps'])} open opportunit{'y' if row['open_opps'] == 1 else 'ies'} "
                       f"({row['open_amount']:,.0f}) stay with the current owner until {until}")
    say(0.1, "assigning accounts")
    try:
        res = assign_accounts(
            a["workload"].to_numpy(float), cap, account_lat=a["lat"].to_numpy(float),
            account_lon=a["lon"].to_numpy(float), rep_lat=reps["home_lat"].to_numpy(float),
            rep_lon=reps["home_lon"].to_numpy(float), account_needs=needs, rep_skills=list(reps["skills"]),
            vocabulary=vocab, current=cur[sel], locked=lock_sel, lock_reasons=lock_txt,
            continuity_km=job.continuity_km,
            overload_penalty=job.overload_penalty if job.allow_overload else None,
            candidates=job.candidates, time_limit=job.time_limit, rep_ids=list(reps["rep_id"]), seed=job.seed,
            progress=lambda f, m: say(0.1 + 0.8 * f, m),
        )
    except AssignInputError as exc:
        raise AssignJobError(str(exc)) from None
    sf = res.shortfall
    if not job.allow_overload and ((sf["short_h"] > 1e-6) & (sf["kind"] != "locked")).any():
        raise AssignJobError(infeasible_message(sf[sf["kind"] != "locked"])
                             + ". Use --capacity share (capacities as shares of the workload) or --allow-overload.")
    for _, r in sf[(sf["kind"] == "locked") & (sf["short_h"] > 1e-6)].iterrows():
        notes.append(f"{r['skill']} (open deals) need {r['demand_h']:,.0f} h: over capacity by {r['short_h']:,.0f} h "
                     "until those deals close")
    if not job.allow_overload and res.status == "overloaded":
        over = res.overload > 1e-6
        raise AssignJobError(f"infeasible capacity: no plan found that fits; {int(over.sum())} reps would be over "
                             f"capacity by {res.overload[over].sum():,.1f} h in total. Use --capacity share or "
                             "--allow-overload.")
    say(0.9, "hand-over")
    rid = np.asarray(reps["rep_id"], dtype=object)
    new = np.where(res.rep >= 0, rid[np.maximum(res.rep, 0)], None)
    acc["new_owner"] = owner.to_numpy()
    acc.loc[acc.index[sel], "new_owner"] = new
    ex = res.explanations
    acc["distance_km"] = np.nan
    acc["distance_rank"] = 0
    acc["reason_code"] = np.where(~located.to_numpy(), "unplaced", "protected_outside_pool")
    acc["reason"] = np.where(~located.to_numpy(), "no location: stays with its current owner",
                             "protected: open opportunities of an owner outside the rep pool")
    for col, src in (("distance_km", "distance_km"), ("distance_rank", "distance_rank"),
                     ("reason_code", "reason_code"), ("reason", "reason")):
        acc.loc[acc.index[sel], col] = ex[src].to_numpy()
    acc["reason_code"] = acc["reason_code"].replace({"locked": "protected"})
    ho = handover(acc, before="owner_id", after="new_owner", deals=protection(ws, ProtectionRule()),
                  activities=ws.table("activities"))
    rt = reps[["rep_id", "name", "skills"]].copy()
    rt["capacity_hours"] = cap
    rt["load_hours"] = res.load
    rt["utilisation"] = res.load / np.where(cap > 0, cap, np.nan)
    rt["overload_hours"] = res.overload
    rt["accounts"] = np.bincount(res.rep[res.rep >= 0], minlength=len(reps))
    say(1.0, "done")
    cols = ["account_id", "name", "owner_id", "new_owner", "workload", "revenue", "distance_km", "distance_rank",
            "reason_code", "reason"]
    return AccountJobResult(rt, res, acc[cols].reset_index(drop=True), ho, tuple(notes))


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------

def output_paths(out: Path) -> dict[str, Path]:
    """The files a job writes next to ``out`` (``out`` itself is the main table)."""
    stem = out.with_suffix("")
    return {"main": out, "accounts": Path(f"{stem}_accounts.csv"), "handover": Path(f"{stem}_handover.csv"),
            "moves": Path(f"{stem}_moves.csv"), "protected": Path(f"{stem}_protected.csv")}


def _write_all(frames: Mapping[Path, pd.DataFrame]) -> None:
    """Write every frame to a temporary file first, then move them all in place."""
    tmps = []
    try:
        for path, df in frames.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            write_csv(df, tmp)
            tmps.append((tmp, path))
    except Exception:
        for tmp, _ in tmps:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in tmps:
        tmp.replace(path)


def write_territory_outputs(r: TerritoryJobResult, out: Path) -> dict[str, Path]:
    """The assignment (one row per territory and rep or team), ``_territories`` (one row per
    territory: head count, reps, combined capacity vs workload), accounts and hand-over files."""
    p = output_paths(out)
    p["territories"] = Path(f"{out.with_suffix('')}_territories.csv")
    names = r.reps.set_index("rep_id")["name"]
    shown = names.where(names.notna(), names.index.to_series())

    def member_names(cell):
        if cell is None or cell != cell or cell == "":
            return None
        return ";".join(str(shown.get(m, m)) for m in str(cell).split(";"))

    table = r.result.table.copy()
    if r.result.by == "team":
        table.insert(3, "member_names", table["members"].map(member_names))
    else:
        table.insert(2, "rep_name", table["rep_id"].map(names))
    terr = r.result.territories.copy()
    terr.insert(5, "rep_names", terr["reps"].map(member_names))
    _write_all({p["main"]: table, p["territories"]: terr, p["accounts"]: r.accounts,
                p["handover"]: r.handover.summary, p["moves"]: r.handover.moves, p["protected"]: r.handover.protected})
    return p


def write_account_outputs(r: AccountJobResult, out: Path) -> dict[str, Path]:
    p = output_paths(out)
    _write_all({p["main"]: r.reps, p["accounts"]: r.accounts, p["handover"]: r.handover.summary,
                p["moves"]: r.handover.moves, p["protected"]: r.handover.protected})
    return p


# --------------------------------------------------------------------------------------------
# Sizing
# --------------------------------------------------------------------------------------------

def run_sizing(ws: Workspace | None, ns: Sequence[int], *, level: str = "zip", load: UnitLoad | None = None,
               progress: ProgressFn | None = None, **kwargs) -> SizingResult:
    """The sizing curve on the workspace's units (``kwargs`` go to :func:`territorium.assign.size`)."""
    if load is None:
        try:
            load = (ws or Workspace()).load_units(level)
        except (WorkspaceError, ValueError) as exc:
            raise AssignJobError(str(exc)) from None
    try:
        return size(load.units, ns, progress=progress, **kwargs)
    except AssignInputError as exc:
        raise AssignJobError(str(exc)) from None


def plot_sizing(s: SizingResult, path: Path, title: str = "How many reps?") -> None:
    """Workload per rep (mean, largest) vs capacity and coverage, by head count, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = s.table.dropna(subset=["mean_workload"])
    fig, ax = plt.subplots(figsize=(7.5, 4.4), dpi=120)
    ax.plot(t["n"], t["mean_workload"], marker="o", label="mean workload per rep (h)")
    ax.plot(t["n"], t["max_regular"], marker="^",
            label="largest territory (h)" if not s.oversized else "largest territory without an oversized unit (h)")
    ax.axhline(s.capacity_hours, color="#444", ls="--", lw=1, label=f"capacity {s.capacity_hours:,.0f} h")
    ax.axhline(s.capacity_hours * (1 + s.tolerance), color="#999", ls=":", lw=1,
               label=f"capacity + {s.tolerance:.0%}")
    ax.set_xlabel("reps (territories)")
    ax.set_ylabel("hours per year")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(t["n"], t["coverage"] * 100, color="tab:green", marker="s", label="coverage (% of potential)")
    ax2.axhline(s.coverage_target * 100, color="tab:green", ls=":", lw=1)
    ax2.set_ylabel("coverage (% of potential within capacity)")
    ax2.set_ylim(0, 105)
    if s.recommended is not None:
        ax.axvline(s.recommended, color="tab:red", lw=1.5, alpha=0.6)
        ax.annotate(f"recommended: {s.recommended}", (s.recommended, ax.get_ylim()[1]), textcoords="offset points",
                    xytext=(4, -12), color="tab:red", fontsize=8)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="center right")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Staffing of a stored plan
# --------------------------------------------------------------------------------------------

def territory_reps(r: RepAssignment) -> dict[str, list]:
    """The reps of every territory of an assignment, as a plan stores them: rep ids (cheapest
    first), or with ``by="team"`` every member as ``(rep_id, "team:<team>")``."""
    out = {}
    for j, tid in enumerate(r.territory_ids):
        who = [r.rep_ids[a] for a in r.reps_of_territory[j]]
        out[str(tid)] = ([(str(m), f"team:{t}") for t in who for m in r.members[t]] if r.by == "team"
                         else [str(a) for a in who])
    return out


def store_plan_reps(eng, plan: str, reps: Mapping[str, list], *, expected_version: int, actor: str, reason: str,
                    job: str | None = None):
    """Write the reps of the plan's territories as ONE new version (against
    ``expected_version``: a plan edited meanwhile raises ``Conflict`` and nothing is written).
    Returns the new :class:`PlanInfo`, or None when every territory has these reps already."""
    from territorium.plan import plans

    c = plans.plan_content(eng, plan, units=False)

    def norm(rr):
        return [tuple(x) if isinstance(x, (list, tuple)) else (str(x), "rep") for x in rr]

    have = {str(t): norm(rr) for t, rr in zip(c.territories["territory_id"], c.territories["reps"])}
    changes = {t: {"reps": list(v)} for t, v in reps.items() if have.get(t, []) != norm(v)}
    if not changes:
        if c.info.version != expected_version:
            from territorium.plan.job_kinds import stale

            raise stale(eng, c.info, expected_version)
        return None
    return plans.update_territories(eng, plan, changes, expected_version=expected_version, actor=actor,
                                    reason=reason, job=job)
