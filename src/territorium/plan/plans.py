"""Plans in the database: versions, an append-only audit trail, promotion, restore, comparison.

A plan is an alignment (unit → territory), a staffing (reps per territory, several per
territory by head count), a hierarchy (``parent`` and ``manager`` of each territory or region
node), quotas, optional explicit account assignments, and the settings and seed that made it.
It belongs to a *territory model* (``geographic`` or an overlay such as ``industry:beauty``);
each model has at most one active plan (the database enforces it with a partial unique index).

Every write:

- names the version it was made against (``expected_version``); the version is bumped with a
  compare-and-set ``UPDATE plans SET version = v + 1 WHERE id = ? AND version = v`` as the
  first statement of the transaction, so of two writers on the same version exactly one
  wins and the other gets :class:`Conflict` listing what changed meanwhile — never a silent
  overwrite;
- appends one ``plan_events`` row per field it changed (entity, id, old → new, who, when, why,
  which job). Events are never updated or deleted, so any earlier version is rebuilt by undoing
  the later events (:func:`plan_content` with ``version``), and :func:`restore` writes that
  state back as a new version.

Status: draft → proposed → approved → active → archived (and back to draft from proposed or
approved). Only drafts are edited. :func:`promote` activates an approved plan as of an
effective date, archives the model's previous active plan and writes the account ownership
history (``account_owners``), so :func:`owner_at` answers "who owned account X on 1 March?".
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from territorium.plan._cache import attached
from territorium.plan._files import pick_column, read_table
from territorium.store import db as store
from territorium.store.models import (
    AccountOwner, Plan, PlanAccount, PlanActivation, PlanEvent, PlanTerritory, PlanUnit,
)

__all__ = [
    "PlanError", "NotFound", "Conflict", "PlanInfo", "PlanContent", "Comparison", "STATUSES",
    "create_plan", "list_plans", "get_plan", "plan_content", "copy_plan", "move_units", "move_accounts",
    "update_territories", "set_status", "promote", "restore", "events", "owner_at", "ownership_history",
    "plan_owners", "compare", "read_plan_files", "import_plan", "export_plan", "parse_ref", "plan_units",
    "set_locks",
]

STATUSES = ("draft", "proposed", "approved", "active", "archived")
#: allowed (from, to) status changes through :func:`set_status`; ``active`` only via :func:`promote`
TRANSITIONS = {
    ("draft", "proposed"), ("proposed", "draft"), ("proposed", "approved"), ("approved", "draft"),
    ("draft", "archived"), ("proposed", "archived"), ("approved", "archived"), ("active", "archived"),
}
EDITABLE = ("draft",)
TERRITORY_FIELDS = ("name", "parent", "manager", "quota", "reps")

_P = Plan.__table__
_U = PlanUnit.__table__
_T = PlanTerritory.__table__
_A = PlanAccount.__table__
_E = PlanEvent.__table__
_O = AccountOwner.__table__
_ACT = PlanActivation.__table__

# Statements of the hot paths (a move, a plan read), built once with bind parameters:
# SQLAlchemy then reuses their cache key and compiled form instead of building, keying and
# looking up a new statement object on every call (that was most of a move's time in-process).
_PLAN_BY_ID = sa.select(_P).where(_P.c.id == sa.bindparam("ref"))
_PLAN_BY_NAME = sa.select(_P).where(_P.c.name == sa.bindparam("ref"))
_SET_UNIT = (sa.update(_U).where(_U.c.plan_id == sa.bindparam("p"), _U.c.unit_id == sa.bindparam("u"))
             .values(territory_id=sa.bindparam("t")))
_ADD_EVENTS = sa.insert(_E)
_EVENTS_SINCE = (sa.select(_E).where(_E.c.plan_id == sa.bindparam("p"), _E.c.version > sa.bindparam("v"))
                 .order_by(_E.c.id))


def _claim_statement(by_id: bool, statuses: bool):
    key = _P.c.id if by_id else _P.c.name
    q = sa.update(_P).where(key == sa.bindparam("ref"), _P.c.version == sa.bindparam("expected"))
    if statuses:
        q = q.where(_P.c.status.in_(sa.bindparam("statuses", expanding=True)))
    return q.values(version=_P.c.version + 1, updated_at=sa.bindparam("now")).returning(*_P.c)


_CLAIM = {(by_id, st): _claim_statement(by_id, st) for by_id in (False, True) for st in (False, True)}


def _move_facts_statement():
    text, num = sa.cast(sa.null(), _E.c.new_value.type), sa.literal_column("0")
    units = sa.bindparam("units", expanding=True)
    return sa.union_all(
        sa.select(sa.literal_column("'u'").label("kind"), _U.c.unit_id.label("key"),
                  _U.c.territory_id.label("value"), num.label("seq"))
        .where(_U.c.plan_id == sa.bindparam("plan_id"), _U.c.unit_id.in_(units)),
        sa.select(sa.literal_column("'t'"), _T.c.territory_id, text, num)
        .where(_T.c.plan_id == sa.bindparam("plan_id"), _T.c.territory_id.in_(sa.bindparam("targets", expanding=True))),
        sa.select(sa.literal_column("'l'"), _E.c.entity_id, _E.c.new_value, _E.c.id)
        .where(_E.c.entity == "lock", _E.c.plan_id == sa.bindparam("plan_id"), _E.c.entity_id.in_(units)),
    )


_MOVE_FACTS = _move_facts_statement()


# ------------------------------------------------------------------------------------ errors
class PlanError(Exception):
    """Something the user must fix (message written for the user)."""


class NotFound(PlanError):
    """An unknown plan, version, unit, account or territory."""


class Conflict(PlanError):
    """A write made against a stale version; nothing was written.

    ``changes`` lists the events made since ``expected`` (dicts as :func:`events` rows).
    """

    def __init__(self, plan: str, expected: int, current: int, changes: list[dict]):
        self.plan, self.expected, self.current, self.changes = plan, expected, current, changes
        what = "; ".join(_describe(c) for c in changes[:5])
        more = f" (+{len(changes) - 5} more)" if len(changes) > 5 else ""
        super().__init__(f"plan {plan!r} is at version {current}, not {expected}: changed meanwhile by "
                         f"{', '.join(sorted({c['actor'] for c in changes})) or 'someone'}: {what}{more}. "
                         "Reload it and apply your change again.")


def _describe(c: Mapping) -> str:
    return (f"v{c['version']} {c['entity']} {c['entity_id']} {c['field']}: "
            f"{c['old_value'] if c['old_value'] is not None else '–'} → "
            f"{c['new_value'] if c['new_value'] is not None else '–'}")


# ------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class PlanInfo:
    id: int
    name: str
    model: str
    kind: str
    unit_level: str
    status: str
    version: int
    parent_id: int | None
    settings: dict
    seed: int | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    effective_from: dt.datetime | None


@dataclass(frozen=True)
class PlanContent:
    """A plan's content at one version. Frames: ``units`` (unit_id, territory_id),
    ``territories`` (territory_id, name, parent, manager, quota, reps: list of (rep_id, role)),
    ``accounts`` (account_id, territory_id, rep_id: explicit assignments only).
    ``unit_counts``: units per territory. ``units`` is empty when read with ``units=False``.
    ``locks``: the unit ids locked in their territory (sorted)."""

    info: PlanInfo
    version: int
    units: pd.DataFrame
    territories: pd.DataFrame
    accounts: pd.DataFrame
    unit_counts: dict = field(default_factory=dict)
    locks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """Plans side by side (the first is the base).

    ``territories``: per plan and territory: units, accounts, revenue, potential, quota, head
    count and any unit measures given. ``balance``: per plan and measure, the largest
    deviation of a territory from the mean. ``moved``: accounts whose territory or owner differs
    from the base (one row per account and other plan). ``summary``: per plan, units and
    accounts that change territory or owner, their revenue, and the reps affected.
    ``rep_names``: the name of every rep in the summaries' ``reps`` that the reps table names.
    """

    plans: tuple[str, ...]
    territories: pd.DataFrame
    balance: pd.DataFrame
    moved: pd.DataFrame
    summary: pd.DataFrame
    rep_names: dict[str, str] = field(default_factory=dict)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _naive_utc(t: dt.datetime | dt.date | str | None) -> dt.datetime | None:
    if t is None:
        return None
    if isinstance(t, str):
        try:
            t = pd.Timestamp(t).to_pydatetime()
        except ValueError:
            raise PlanError(f"{t!r} is not a date (use YYYY-MM-DD or an ISO timestamp)") from None
    if isinstance(t, dt.datetime):
        if t.tzinfo is not None:
            t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return t
    return dt.datetime.combine(t, dt.time())


def _info(row) -> PlanInfo:
    m = row._mapping
    return PlanInfo(
        id=int(m["id"]), name=m["name"], model=m["model"], kind=m["kind"], unit_level=m["unit_level"],
        status=m["status"], version=int(m["version"]), parent_id=m["parent_id"],
        settings=json.loads(m["settings"]) if m["settings"] else {}, seed=m["seed"], created_by=m["created_by"],
        created_at=_dtv(m["created_at"]), updated_at=_dtv(m["updated_at"]), effective_from=_dtv(m["effective_from"]),
    )


def _dtv(v):
    if v is None or isinstance(v, dt.datetime):
        return v
    return pd.Timestamp(v).to_pydatetime()


# ------------------------------------------------------------------------------------ values
def _enc(fieldname: str, v) -> str | None:
    """Field value → the text stored in events and compared for changes."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return None
    if fieldname == "quota":
        return repr(float(v))
    if fieldname == "reps":
        reps = [list(map(str, r)) if isinstance(r, (list, tuple)) else [str(r), "rep"] for r in v]
        return json.dumps(reps) if reps else None
    return str(v)


def _dec(fieldname: str, s: str | None):
    if s is None:
        return None
    if fieldname == "quota":
        return float(s)
    if fieldname == "reps":
        return [tuple(r) for r in json.loads(s)]
    return s


@dataclass
class _Change:
    entity: str  # plan | unit | account | territory
    entity_id: str
    field: str
    old: str | None
    new: str | None


# ------------------------------------------------------------------------------------ reading
def parse_ref(ref: str | int) -> tuple[str | int, int | None]:
    """``"name"`` → (name, None); ``"name@3"`` → (name, 3); an int is a plan id."""
    if isinstance(ref, int):
        return ref, None
    m = re.fullmatch(r"(.+)@(\d+)", str(ref))
    return (m.group(1), int(m.group(2))) if m else (str(ref), None)


def _plan_row(conn: Connection, ref: str | int):
    by_id = isinstance(ref, int)
    row = conn.execute(_PLAN_BY_ID if by_id else _PLAN_BY_NAME, {"ref": ref if by_id else str(ref)}).first()
    if row is None:
        raise NotFound(f"no plan {ref!r} (territorium plan list shows the plans)")
    return row


def get_plan(eng: Engine, ref: str | int) -> PlanInfo:
    """The plan called ``ref`` (or with id ``ref``)."""
    store.upgrade(eng)
    with eng.connect() as conn:
        return _info(_plan_row(conn, parse_ref(ref)[0]))


def list_plans(eng: Engine, *, model: str | None = None, status: str | None = None,
               limit: int | None = None, offset: int = 0) -> tuple[list[PlanInfo], int]:
    """Plans (newest first) and how many match in all."""
    store.upgrade(eng)
    q = sa.select(_P)
    if model:
        q = q.where(_P.c.model == model)
    if status:
        if status not in STATUSES:
            raise PlanError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        q = q.where(_P.c.status == status)
    with eng.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
        q = q.order_by(_P.c.id.desc()).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        return [_info(r) for r in conn.execute(q)], int(total)


def _read_state(conn: Connection, plan_id: int, *, units: bool = True) -> dict[str, dict]:
    """Current content as dicts: units {id: terr}, territories {id: {field: text}}, accounts."""
    units = dict(conn.execute(sa.select(_U.c.unit_id, _U.c.territory_id).where(_U.c.plan_id == plan_id)).all()) \
        if units else {}
    terrs = {}
    for r in conn.execute(sa.select(_T).where(_T.c.plan_id == plan_id)):
        m = r._mapping
        terrs[m["territory_id"]] = {f: _enc(f, _dec(f, m[f]) if f == "reps" else m[f]) for f in TERRITORY_FIELDS}
    accs = {}
    for r in conn.execute(sa.select(_A).where(_A.c.plan_id == plan_id)):
        m = r._mapping
        accs[m["account_id"]] = {"territory": m["territory_id"], "rep": m["rep_id"]}
    return {"unit": units, "territory": terrs, "account": accs, "lock": _locks(conn, plan_id)}


def _locks(conn: Connection, plan_id: int, units: Iterable[str] | None = None) -> dict[str, str]:
    """The plan's locked units ({unit_id: "1"}). Locks have no table of their own: the audit
    trail is their store (each ``lock`` event sets or clears one unit; the latest one holds),
    so they are versioned, copied and restored like the rest of the content."""
    q = sa.select(_E.c.entity_id, _E.c.new_value).where(_E.c.entity == "lock", _E.c.plan_id == plan_id)
    if units is not None:
        q = q.where(_E.c.entity_id.in_(list(units)))
    return _latest_locks(conn.execute(q.order_by(_E.c.id)))


def _latest_locks(events: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Lock events (unit, new value), oldest first → the units locked after the last of them."""
    state: dict[str, str] = {}
    for uid, new in events:
        if new is None:
            state.pop(uid, None)
        else:
            state[uid] = new
    return state


def _undo(state: dict, evs: Iterable) -> dict:
    """Undo events (newest first) on ``state`` in place."""
    for e in evs:
        m = e._mapping
        ent, key, f, old = m["entity"], m["entity_id"], m["field"], m["old_value"]
        if ent == "unit":
            if old is None:
                state["unit"].pop(key, None)
            else:
                state["unit"][key] = old
        elif ent == "territory":
            if f == "exists":
                if old is None:
                    state["territory"].pop(key, None)
                else:
                    state["territory"][key] = {x: None for x in TERRITORY_FIELDS}
            else:
                state["territory"].setdefault(key, {x: None for x in TERRITORY_FIELDS})[f] = old
        elif ent == "account":
            row = state["account"].setdefault(key, {"territory": None, "rep": None})
            row[f] = old
            if row["territory"] is None and row["rep"] is None:
                state["account"].pop(key)
        elif ent == "lock":
            if old is None:
                state.setdefault("lock", {}).pop(key, None)
            else:
                state.setdefault("lock", {})[key] = old
    return state


def _state_at(conn: Connection, info: PlanInfo, version: int | None) -> dict:
    state = _read_state(conn, info.id)
    if version is None or version == info.version:
        return state
    if not 1 <= version <= info.version:
        raise NotFound(f"plan {info.name!r} has versions 1 to {info.version}, not {version}")
    evs = conn.execute(sa.select(_E).where(_E.c.plan_id == info.id, _E.c.version > version)
                       .order_by(_E.c.id.desc()))
    return _undo(state, evs)


def _frames(state: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    u = pd.DataFrame(sorted(state["unit"].items()), columns=["unit_id", "territory_id"])
    trows = []
    for tid in sorted(state["territory"]):
        d = state["territory"][tid]
        trows.append({"territory_id": tid, **{f: _dec(f, d.get(f)) for f in TERRITORY_FIELDS}})
    t = pd.DataFrame(trows, columns=["territory_id", *TERRITORY_FIELDS])
    for f in ("name", "parent", "manager"):
        t[f] = t[f].astype(object).where(t[f].notna(), None)
    t["reps"] = [r if isinstance(r, list) else [] for r in t["reps"]]
    t["quota"] = pd.to_numeric(t["quota"]).astype(np.float64)
    a = pd.DataFrame([(k, v["territory"], v["rep"]) for k, v in sorted(state["account"].items())],
                     columns=["account_id", "territory_id", "rep_id"])
    return u, t, a


SUMMARY_CACHE = 64  # plan summaries (current version, no alignment) kept per engine


def _summaries(eng: Engine):
    return attached(eng, "_territorium_summaries", SUMMARY_CACHE)


def _carry_summary(eng: Engine, after: PlanInfo, changes: Sequence[_Change]) -> None:
    """After a committed move from version v - 1 to ``after``: the summary of the new version
    is the kept one of v - 1 with the moved units' counts carried from their old territory to
    the new one (nothing else changes in a move), so the next read needs no count query."""
    cache = _summaries(eng)
    prev = cache.get((after.id, after.version - 1))
    if prev is None:
        return
    counts = dict(prev.unit_counts)
    for c in changes:
        counts[c.old] -= 1
        counts[c.new] = counts.get(c.new, 0) + 1
    counts = {t: n for t, n in counts.items() if n}  # as the GROUP BY counts them: held territories only
    cache.put((after.id, after.version), PlanContent(after, after.version, prev.units, prev.territories,
                                                     prev.accounts, counts, prev.locks))


def _summary(eng: Engine, conn: Connection, info: PlanInfo) -> PlanContent:
    """The current version without the alignment (units counted per territory in SQL).

    A version's content never changes (every write bumps the version in its own
    transaction), so it is kept per engine, keyed by (plan id, version) and checked against
    the row's ``updated_at``, and a read of an unchanged plan costs one query for the plan
    row. It is only kept when the plan row still shows the same version after the content was
    read, i.e. no write landed between the statements; otherwise it is read again (at most
    three times). A move made through this engine carries it to the new version
    (:func:`_carry_summary`)."""
    cache, key = _summaries(eng), (info.id, info.version)
    hit = cache.get(key)
    if hit is not None and hit.info.updated_at != info.updated_at:
        hit = None
    for _ in range(3):
        if hit is not None:
            break
        counts = dict(conn.execute(sa.select(_U.c.territory_id, sa.func.count()).where(
            _U.c.plan_id == info.id).group_by(_U.c.territory_id)).all())
        state = _read_state(conn, info.id, units=False)
        _, t, a = _frames(state)
        c = PlanContent(info, info.version, pd.DataFrame(columns=["unit_id", "territory_id"], dtype=object),
                        t, a, {k: int(n) for k, n in counts.items()}, tuple(sorted(state["lock"])))
        now = _info(_plan_row(conn, info.id))
        if (now.version, now.updated_at) == (info.version, info.updated_at):
            hit = c
            cache.put(key, c)
        else:  # a write landed between the statements: read the newer version
            info, key = now, (now.id, now.version)
    if hit is None:  # written to three times while being read: this read's own, uncached
        return c
    # callers get their own frames, so nobody can change what is kept
    return PlanContent(info, info.version, hit.units.copy(), hit.territories.copy(), hit.accounts.copy(),
                       dict(hit.unit_counts), hit.locks)


def plan_content(eng: Engine, ref: str | int, version: int | None = None, *, units: bool = True) -> PlanContent:
    """The plan's content now, or as it was at ``version`` (``ref`` may also say ``name@3``).

    ``units=False`` leaves the alignment out (only counted per territory, in SQL) when the
    current version is read: cheap for plans of tens of thousands of units.
    """
    store.upgrade(eng)
    name, v = parse_ref(ref)
    version = version if version is not None else v
    with store.reader(eng).connect() as conn:  # (the summary checks its statements against each other)
        info = _info(_plan_row(conn, name))
        if not units and version in (None, info.version):
            return _summary(eng, conn, info)
        state = _state_at(conn, info, version)
    u, t, a = _frames(state)
    return PlanContent(info, version or info.version, u, t, a,
                       {k: int(n) for k, n in u.groupby("territory_id").size().items()},
                       tuple(sorted(state.get("lock", {}))))


def plan_units(eng: Engine, ref: str | int, *, territories: Iterable[str] | None = None, limit: int | None = None,
               offset: int = 0) -> tuple[pd.DataFrame, int]:
    """The current alignment (unit_id, territory_id; by unit id), optionally only of
    ``territories``, paged in SQL; and how many rows match in all."""
    store.upgrade(eng)
    with eng.connect() as conn:
        info = _info(_plan_row(conn, parse_ref(ref)[0]))
        q = sa.select(_U.c.unit_id, _U.c.territory_id).where(_U.c.plan_id == info.id)
        if territories is not None:
            q = q.where(_U.c.territory_id.in_(list(territories)))
        total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
        q = q.order_by(_U.c.unit_id).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        rows = conn.execute(q).all()
    return store.rows_frame(rows, ["unit_id", "territory_id"]), int(total)


def events(eng: Engine, ref: str | int | None = None, *, entity: str | None = None, entity_id: str | None = None,
           since_version: int | None = None, limit: int | None = None, offset: int = 0) -> tuple[pd.DataFrame, int]:
    """Audit events (oldest first) of one plan, or of every plan for one entity (e.g. an account),
    and how many match in all. Columns: id, plan, version, at, actor, entity, entity_id, field,
    old_value, new_value, reason, job."""
    store.upgrade(eng)
    q = sa.select(_E, _P.c.name.label("plan")).join(_P, _P.c.id == _E.c.plan_id)
    with eng.connect() as conn:
        if ref is not None:
            q = q.where(_E.c.plan_id == _plan_row(conn, parse_ref(ref)[0]).id)
        if entity:
            q = q.where(_E.c.entity == entity)
        if entity_id is not None:
            q = q.where(_E.c.entity_id == str(entity_id))
        if since_version is not None:
            q = q.where(_E.c.version > since_version)
        total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
        q = q.order_by(_E.c.id).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        rows = [dict(r._mapping) for r in conn.execute(q)]
    cols = ["id", "plan", "version", "at", "actor", "entity", "entity_id", "field", "old_value", "new_value",
            "reason", "job"]
    df = pd.DataFrame(rows, columns=[*cols, "plan_id"])[cols]
    if len(df):
        df["at"] = pd.to_datetime(df["at"])
    return df, int(total)


# ------------------------------------------------------------------------------------ writing
def _claim(conn: Connection, ref: str | int, expected: int, now: dt.datetime,
           statuses: Sequence[str] | None = None) -> PlanInfo:
    """Compare-and-set the version: the first statement of the write transaction, one
    ``UPDATE plans SET version = v + 1 ... WHERE version = v [AND status IN ...] RETURNING *``.
    It takes the plan's write lock (the row on PostgreSQL, the database on SQLite), so of two
    writers on one version exactly one gets the row back. When none comes back, the plan is
    read to say why: not there (:class:`NotFound`), a newer version (:class:`Conflict` listing
    what changed since ``expected``), or a status not in ``statuses`` (:class:`PlanError`)."""
    by_id = isinstance(ref, int)
    params = {"ref": ref if by_id else str(ref), "expected": int(expected), "now": now}
    if statuses is not None:
        params["statuses"] = list(statuses)
    row = conn.execute(_CLAIM[by_id, statuses is not None], params).first()
    if row is not None:
        return _info(row)
    info = _info(_plan_row(conn, ref))
    if info.version == int(expected) and statuses is not None:
        _check_editable(info)
    evs = conn.execute(_EVENTS_SINCE, {"p": info.id, "v": int(expected)}).all()
    raise Conflict(info.name, int(expected), info.version, [{**dict(e._mapping), "plan": info.name} for e in evs])


def _write_events(conn: Connection, plan_id: int, version: int, changes: Sequence[_Change], *, actor: str,
                  reason: str | None, job: str | None, now: dt.datetime) -> None:
    if changes:
        conn.execute(_ADD_EVENTS, [
            {"plan_id": plan_id, "version": version, "at": now, "actor": actor, "entity": c.entity,
             "entity_id": c.entity_id, "field": c.field, "old_value": c.old, "new_value": c.new,
             "reason": reason, "job": job} for c in changes])


def _apply(conn: Connection, plan_id: int, changes: Sequence[_Change]) -> None:
    """Write content changes: affected rows are deleted and their final state inserted."""
    final_units: dict[str, str | None] = {}
    terr_ids, acc_ids = [], []
    for c in changes:
        if c.entity == "unit":
            final_units[c.entity_id] = c.new
        elif c.entity == "territory":
            terr_ids.append(c.entity_id)
        elif c.entity == "account":
            acc_ids.append(c.entity_id)
    if final_units:  # a moved unit is one UPDATE (executemany); only added or removed units are inserted / deleted
        had = {c.entity_id for c in changes if c.entity == "unit" and c.old is not None}
        upd = [{"u": k, "t": v} for k, v in final_units.items() if k in had and v is not None]
        gone = [{"u": k} for k, v in final_units.items() if k in had and v is None]
        ins = [{"plan_id": plan_id, "unit_id": k, "territory_id": v} for k, v in final_units.items()
               if k not in had and v is not None]
        if upd:
            conn.execute(_SET_UNIT, [{"p": plan_id, **x} for x in upd])
        if gone:
            conn.execute(sa.delete(_U).where(_U.c.plan_id == plan_id, _U.c.unit_id == sa.bindparam("u")), gone)
        if ins:
            conn.execute(sa.insert(_U), ins)
    if terr_ids:
        keys = list(dict.fromkeys(terr_ids))
        state = {k: None for k in keys}
        for r in conn.execute(sa.select(_T).where(_T.c.plan_id == plan_id, _T.c.territory_id.in_(keys))):
            m = r._mapping
            state[m["territory_id"]] = {f: _enc(f, _dec(f, m[f]) if f == "reps" else m[f]) for f in TERRITORY_FIELDS}
        for c in changes:
            if c.entity != "territory":
                continue
            if c.field == "exists":
                state[c.entity_id] = {f: None for f in TERRITORY_FIELDS} if c.new is not None else None
            else:
                if state[c.entity_id] is None:
                    state[c.entity_id] = {f: None for f in TERRITORY_FIELDS}
                state[c.entity_id][c.field] = c.new
        conn.execute(sa.delete(_T).where(_T.c.plan_id == plan_id, _T.c.territory_id == sa.bindparam("t")),
                     [{"t": k} for k in keys])
        ins = [{"plan_id": plan_id, "territory_id": k, **{f: _dec(f, v[f]) if f == "quota" else v[f]
                                                           for f in TERRITORY_FIELDS}}
               for k, v in state.items() if v is not None]
        if ins:
            conn.execute(sa.insert(_T), ins)
    if acc_ids:
        keys = list(dict.fromkeys(acc_ids))
        state = {k: {"territory": None, "rep": None} for k in keys}
        for r in conn.execute(sa.select(_A).where(_A.c.plan_id == plan_id, _A.c.account_id.in_(keys))):
            m = r._mapping
            state[m["account_id"]] = {"territory": m["territory_id"], "rep": m["rep_id"]}
        for c in changes:
            if c.entity == "account":
                state[c.entity_id][c.field] = c.new
        conn.execute(sa.delete(_A).where(_A.c.plan_id == plan_id, _A.c.account_id == sa.bindparam("a")),
                     [{"a": k} for k in keys])
        ins = [{"plan_id": plan_id, "account_id": k, "territory_id": v["territory"], "rep_id": v["rep"]}
               for k, v in state.items() if v["territory"] is not None or v["rep"] is not None]
        if ins:
            conn.execute(sa.insert(_A), ins)
    # locks: their events are their store (see _locks)


def _diff(cur: dict, target: dict) -> list[_Change]:
    """Changes that turn state ``cur`` into ``target`` (territory creations first, removals last)."""
    ch: list[_Change] = []
    ct, tt = cur["territory"], target["territory"]
    for k in sorted(set(tt) - set(ct)):
        ch.append(_Change("territory", k, "exists", None, "1"))
    for k in sorted(tt):
        old = ct.get(k) or {}
        for f in TERRITORY_FIELDS:
            if old.get(f) != tt[k].get(f):
                ch.append(_Change("territory", k, f, old.get(f), tt[k].get(f)))
    cu, tu = cur["unit"], target["unit"]
    for k in sorted(set(cu) | set(tu)):
        if cu.get(k) != tu.get(k):
            ch.append(_Change("unit", k, "territory", cu.get(k), tu.get(k)))
    ca, ta = cur["account"], target["account"]
    for k in sorted(set(ca) | set(ta)):
        a, b = ca.get(k, {}), ta.get(k, {})
        for f in ("territory", "rep"):
            if a.get(f) != b.get(f):
                ch.append(_Change("account", k, f, a.get(f), b.get(f)))
    cl, tl = cur.get("lock", {}), target.get("lock", {})
    for k in sorted(set(cl) ^ set(tl)):
        ch.append(_Change("lock", k, "locked", cl.get(k), tl.get(k)))
    for k in sorted(set(ct) - set(tt)):
        for f in TERRITORY_FIELDS:
            if ct[k].get(f) is not None:
                ch.append(_Change("territory", k, f, ct[k][f], None))
        ch.append(_Change("territory", k, "exists", "1", None))
    return ch


def _check_editable(info: PlanInfo) -> None:
    if info.status not in EDITABLE:
        raise PlanError(f"plan {info.name!r} is {info.status}; only draft plans are edited "
                        f"(copy it: territorium plan copy {info.name} NEW_NAME)")


def _check_content(state: dict) -> None:
    terrs = state["territory"]
    stray = sorted(set(state.get("lock", {})) - set(state["unit"]))
    if stray:
        raise NotFound(f"locked unit {stray[0]!r} is not a unit of the plan")
    bad = sorted({t for t in state["unit"].values() if t not in terrs})
    if bad:
        raise NotFound(f"unknown territory {bad[0]!r} (the plan's territories are "
                       f"{', '.join(sorted(terrs)[:8])}{'...' if len(terrs) > 8 else ''})")
    bad = sorted({a["territory"] for a in state["account"].values() if a["territory"] and a["territory"] not in terrs})
    if bad:
        raise NotFound(f"unknown territory {bad[0]!r} in an account assignment")
    for tid, d in terrs.items():
        p = d.get("parent")
        seen = {tid}
        while p is not None:
            if p not in terrs:
                raise NotFound(f"territory {tid!r}: parent {p!r} is not a territory or region of the plan")
            if p in seen:
                raise PlanError(f"territory {tid!r}: the hierarchy has a cycle through {p!r}")
            seen.add(p)
            p = terrs[p].get("parent")


def _state_from_frames(units, territories=None, accounts=None, locks=()) -> dict:
    """Content from frames / mappings (as accepted by :func:`create_plan`)."""
    if isinstance(units, Mapping):
        units = pd.DataFrame({"unit_id": list(units), "territory_id": list(units.values())})
    ustate = {str(a): str(b) for a, b in zip(units["unit_id"], units["territory_id"])}
    tstate: dict[str, dict] = {t: {f: None for f in TERRITORY_FIELDS} for t in sorted(set(ustate.values()))}
    if territories is not None:
        if isinstance(territories, Mapping):
            territories = pd.DataFrame([{"territory_id": k, **v} for k, v in territories.items()])
        for rec in territories.to_dict("records"):
            tid = str(rec["territory_id"])
            d = tstate.setdefault(tid, {f: None for f in TERRITORY_FIELDS})
            for f in TERRITORY_FIELDS:
                if f in rec:
                    v = rec[f]
                    if not isinstance(v, (list, tuple)) and pd.isna(v):
                        v = None
                    d[f] = _enc(f, v)
    astate = {}
    if accounts is not None:
        for rec in accounts.to_dict("records"):
            t = rec.get("territory_id")
            r = rec.get("rep_id")
            t = None if t is None or pd.isna(t) else str(t)
            r = None if r is None or pd.isna(r) else str(r)
            if t is not None or r is not None:
                astate[str(rec["account_id"])] = {"territory": t, "rep": r}
    for a in astate.values():  # an account's territory exists even when no unit is in it (overlay books)
        if a["territory"] is not None:
            tstate.setdefault(a["territory"], {f: None for f in TERRITORY_FIELDS})
    return {"unit": ustate, "territory": tstate, "account": astate, "lock": {str(u): "1" for u in locks}}


def create_plan(eng: Engine, name: str, *, units: pd.DataFrame | Mapping[str, str],
                territories: pd.DataFrame | Mapping | None = None, accounts: pd.DataFrame | None = None,
                model: str = "geographic", kind: str | None = None, unit_level: str = "zip",
                settings: Mapping | None = None, seed: int | None = None, actor: str,
                reason: str | None = None, job: str | None = None, parent_id: int | None = None,
                locks: Iterable[str] = ()) -> PlanInfo:
    """A new draft plan at version 1 (one ``plan created`` event; the content is the base state).

    ``units``: unit_id → territory_id. ``territories``: rows with territory_id and any of
    name, parent, manager, quota, reps (list of rep ids or (rep_id, role) pairs); parents may
    be region nodes that hold no units. ``accounts``: explicit account_id, territory_id,
    rep_id assignments (they override the unit's territory and its first rep). ``locks``: unit
    ids that stay in their territory (see :func:`set_locks`).
    """
    store.upgrade(eng)
    name = str(name).strip()
    if not name or "@" in name or len(name) > 200:
        raise PlanError(f"plan name {name!r}: give 1–200 characters without '@'")
    state = _state_from_frames(units, territories, accounts, locks)
    _check_content(state)
    kind = kind or ("geographic" if model == "geographic" else "overlay")
    if kind not in ("geographic", "overlay"):
        raise PlanError(f"kind {kind!r} is not geographic or overlay")
    try:
        return _insert_plan(eng, name, state, model=model, kind=kind, unit_level=unit_level, settings=settings,
                            seed=seed, actor=actor, reason=reason, job=job, parent_id=parent_id)
    except sa.exc.IntegrityError:  # created by someone else between the check and the insert
        raise PlanError(f"a plan called {name!r} exists already; choose another name") from None


def _insert_plan(eng, name, state, *, model, kind, unit_level, settings, seed, actor, reason, job,
                 parent_id) -> PlanInfo:
    now = _now()
    with eng.begin() as conn:
        if conn.execute(sa.select(_P.c.id).where(_P.c.name == name)).first() is not None:
            raise PlanError(f"a plan called {name!r} exists already; choose another name")
        pid = conn.execute(sa.insert(_P).values(
            name=name, model=model, kind=kind, unit_level=unit_level, status="draft", version=1,
            parent_id=parent_id, settings=json.dumps(dict(settings or {}), default=str), seed=seed,
            created_by=actor, created_at=now, updated_at=now, effective_from=None)).inserted_primary_key[0]
        empty = {"unit": {}, "territory": {}, "account": {}, "lock": {}}
        ch = _diff(empty, state)
        _apply(conn, pid, ch)
        n_t = len(state["territory"])
        _write_events(conn, pid, 1, [_Change("plan", name, "created", None,
                                             f"{len(state['unit'])} units, {n_t} territories, "
                                             f"{len(state['account'])} account assignments")]
                      + [c for c in ch if c.entity == "lock"],   # the locks' store
                      actor=actor, reason=reason, job=job, now=now)
        return _info(conn.execute(sa.select(_P).where(_P.c.id == pid)).one())


def copy_plan(eng: Engine, ref: str | int, new_name: str, *, actor: str, version: int | None = None,
              model: str | None = None, reason: str | None = None) -> PlanInfo:
    """A draft copy (a scenario) of the plan as it is now or was at ``version``."""
    c = plan_content(eng, ref, version)
    terr = c.territories.assign(reps=[list(r) for r in c.territories["reps"]])
    return create_plan(eng, new_name, units=c.units, territories=terr, accounts=c.accounts,
                       model=model or c.info.model, kind=c.info.kind if model is None else None,
                       unit_level=c.info.unit_level,
                       settings={**c.info.settings, "copied_from": f"{c.info.name}@{c.version}"},
                       seed=c.info.seed, actor=actor, reason=reason or f"copy of {c.info.name} version {c.version}",
                       parent_id=c.info.id, locks=c.locks)


def _write(eng: Engine, ref: str | int, expected_version: int, actor: str, reason, job, build, *,
           statuses: Sequence[str] | None = None) -> PlanInfo:
    """One audited write in one transaction: the version check (:func:`_claim`, only for a plan
    whose status is in ``statuses`` when given), then ``build(conn, info) -> changes``, the
    content rows and one event per change. The plan row is read again only when ``build``
    changed it (status, effective date)."""
    store.upgrade(eng)
    now = _now()
    name = parse_ref(ref)[0]
    info = None
    try:
        with store.write_transaction(eng) as conn:
            info = _claim(conn, name, expected_version, now, statuses)
            changes = build(conn, info)
            if not changes:
                raise PlanError(f"nothing to change in plan {info.name!r}")
            _apply(conn, info.id, [c for c in changes if c.entity != "plan"])
            _write_events(conn, info.id, info.version, changes, actor=actor, reason=reason, job=job, now=now)
            if any(c.entity == "plan" for c in changes):
                info = _info(conn.execute(sa.select(_P).where(_P.c.id == info.id)).one())
            return info
    except sa.exc.IntegrityError:
        # e.g. two plans of one model promoted at the same time: the one-active index refused this one
        model = f" of model {info.model!r}" if info is not None else ""
        raise PlanError(f"plan {name!r}: the database refused the change because another change "
                        f"(e.g. another plan{model} becoming active) came first; nothing "
                        "was written. Reload and try again.") from None


def _move_facts(conn: Connection, plan_id: int, moves: Mapping[str, str]) -> tuple[dict, set, dict]:
    """What a move needs to know, in one query: the current territory of each unit to move,
    which target territories exist, and the units' locks (see :func:`_locks`)."""
    params = {"plan_id": plan_id, "units": list(moves), "targets": list(dict.fromkeys(moves.values()))}
    cur, terrs, lock_rows = {}, set(), []
    for kind, key, value, seq in conn.execute(_MOVE_FACTS, params):
        if kind == "u":
            cur[key] = value
        elif kind == "t":
            terrs.add(key)
        else:
            lock_rows.append((seq, key, value))
    return cur, terrs, _latest_locks((key, value) for _, key, value in sorted(lock_rows))


def move_units(eng: Engine, ref: str | int, moves: Mapping[str, str], *, expected_version: int, actor: str,
               reason: str | None = None, job: str | None = None) -> PlanInfo:
    """Move units to other territories of the plan (a draft), as one new version.

    Four statements in one transaction, whatever the plan's size: the version check
    (:func:`_claim`), one read of the units, target territories and locks
    (:func:`_move_facts`), one ``UPDATE`` of the moved units and one ``INSERT`` of their
    audit events (``tests/plan/test_plans.py`` counts them).
    """
    moves = {str(k): str(v) for k, v in moves.items()}
    if not moves:
        raise PlanError("no units to move")
    made: list[_Change] = []

    def build(conn, info):
        cur, terrs, locks = _move_facts(conn, info.id, moves)
        missing = [u for u in moves if u not in cur]
        if missing:
            raise NotFound(f"unit {missing[0]!r} is not in plan {info.name!r}")
        unknown = sorted(set(moves.values()) - terrs)
        if unknown:
            raise NotFound(f"territory {unknown[0]!r} is not in plan {info.name!r}")
        changes = [_Change("unit", u, "territory", cur[u], t) for u, t in moves.items() if cur[u] != t]
        locked = sorted(c.entity_id for c in changes if c.entity_id in locks)
        if locked:
            raise PlanError(f"unit {locked[0]!r} is locked in territory {cur[locked[0]]!r}"
                            + (f" (and {len(locked) - 1} more locked units)" if len(locked) > 1 else "")
                            + "; unlock it first")
        made.extend(changes)
        return changes

    after = _write(eng, ref, expected_version, actor, reason, job, build, statuses=EDITABLE)  # committed
    _carry_summary(eng, after, made)
    return after


def set_locks(eng: Engine, ref: str | int, *, lock: Iterable[str] = (), unlock: Iterable[str] = (),
              expected_version: int, actor: str, reason: str | None = None, job: str | None = None) -> PlanInfo:
    """Lock units in their territory (``lock``) or free them (``unlock``), as one new version of
    a draft plan. A locked unit is refused by :func:`move_units` and kept where it is by the
    realign job; locks are part of the plan's content (copied with it, restored with a
    version, one ``lock`` audit event per unit)."""
    lock, unlock = [str(u) for u in lock], [str(u) for u in unlock]
    both = sorted(set(lock) & set(unlock))
    if both:
        raise PlanError(f"unit {both[0]!r} is both locked and unlocked in one change")
    if not lock and not unlock:
        raise PlanError("no units to lock or unlock")

    def build(conn, info):
        _check_editable(info)
        wanted = list(dict.fromkeys(lock + unlock))
        have = set(conn.execute(sa.select(_U.c.unit_id).where(_U.c.plan_id == info.id,
                                                              _U.c.unit_id.in_(wanted))).scalars())
        missing = [u for u in wanted if u not in have]
        if missing:
            raise NotFound(f"unit {missing[0]!r} is not in plan {info.name!r}")
        cur = set(_locks(conn, info.id, wanted))
        return ([_Change("lock", u, "locked", None, "1") for u in dict.fromkeys(lock) if u not in cur]
                + [_Change("lock", u, "locked", "1", None) for u in dict.fromkeys(unlock) if u in cur])

    return _write(eng, ref, expected_version, actor, reason, job, build)


def move_accounts(eng: Engine, ref: str | int, moves: Mapping[str, Mapping[str, str | None]], *,
                  expected_version: int, actor: str, reason: str | None = None, job: str | None = None) -> PlanInfo:
    """Assign accounts explicitly: ``{account_id: {"territory": T or None, "rep": R or None}}``
    (both None removes the explicit assignment: the account follows its unit again)."""
    if not moves:
        raise PlanError("no accounts to move")

    def build(conn, info):
        _check_editable(info)
        ids = [str(a) for a in moves]
        params: dict = {}
        sql = f"SELECT account_id FROM accounts WHERE account_id IN ({store.bind_list(params, 'a', ids)})"
        known = set(conn.execute(sa.text(sql), params).scalars())
        missing = [a for a in ids if a not in known]
        if missing:
            raise NotFound(f"account {missing[0]!r} is not in the workspace")
        cur = {r.account_id: {"territory": r.territory_id, "rep": r.rep_id} for r in conn.execute(
            sa.select(_A).where(_A.c.plan_id == info.id, _A.c.account_id.in_(ids)))}
        terrs = set(conn.execute(sa.select(_T.c.territory_id).where(_T.c.plan_id == info.id)).scalars())
        ch = []
        for a, spec in moves.items():
            a = str(a)
            spec = dict(spec)
            extra = set(spec) - {"territory", "rep"}
            if extra:
                raise PlanError(f"account {a}: unknown field {sorted(extra)[0]!r} (territory, rep)")
            t, r = spec.get("territory"), spec.get("rep")
            if t is not None and str(t) not in terrs:
                raise NotFound(f"account {a}: territory {t!r} is not in plan {info.name!r}")
            old = cur.get(a, {"territory": None, "rep": None})
            for f, v in (("territory", t), ("rep", r)):
                v = None if v is None else str(v)
                if old[f] != v:
                    ch.append(_Change("account", a, f, old[f], v))
        return ch

    return _write(eng, ref, expected_version, actor, reason, job, build)


def update_territories(eng: Engine, ref: str | int, changes: Mapping[str, Mapping | None], *,
                       expected_version: int, actor: str, reason: str | None = None,
                       job: str | None = None) -> PlanInfo:
    """Add, change or remove territories / hierarchy nodes: ``{territory_id: {field: value}}``
    with fields name, parent, manager, quota, reps; ``None`` removes an empty territory."""
    if not changes:
        raise PlanError("no territory changes")

    def build(conn, info):
        _check_editable(info)
        state = _read_state(conn, info.id)
        target = {"unit": state["unit"], "account": state["account"],
                  "territory": {k: dict(v) for k, v in state["territory"].items()}}
        for tid, spec in changes.items():
            tid = str(tid)
            if spec is None:
                if tid not in target["territory"]:
                    raise NotFound(f"territory {tid!r} is not in plan {info.name!r}")
                held = sum(1 for t in state["unit"].values() if t == tid)
                if held:
                    raise PlanError(f"territory {tid!r} still holds {held} units; move them first")
                target["territory"].pop(tid)
                continue
            extra = set(spec) - set(TERRITORY_FIELDS)
            if extra:
                raise PlanError(f"territory {tid}: unknown field {sorted(extra)[0]!r} "
                                f"({', '.join(TERRITORY_FIELDS)})")
            if "quota" in spec and spec["quota"] is not None:
                q = float(spec["quota"])
                if not np.isfinite(q) or q < 0:
                    raise PlanError(f"territory {tid}: quota {spec['quota']!r} must be a number ≥ 0")
            d = target["territory"].setdefault(tid, {f: None for f in TERRITORY_FIELDS})
            for f, v in spec.items():
                d[f] = _enc(f, v)
        _check_content(target)
        return _diff(state, target)

    return _write(eng, ref, expected_version, actor, reason, job, build)


def set_status(eng: Engine, ref: str | int, status: str, *, expected_version: int, actor: str,
               reason: str | None = None) -> PlanInfo:
    """Move a plan along draft → proposed → approved (or back to draft, or to archived)."""
    if status not in STATUSES:
        raise PlanError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if status == "active":
        raise PlanError("a plan becomes active through promote (with its effective date)")

    def build(conn, info):
        if (info.status, status) not in TRANSITIONS:
            raise PlanError(f"plan {info.name!r} is {info.status}; it cannot become {status}")
        conn.execute(sa.update(_P).where(_P.c.id == info.id).values(status=status))
        if info.status == "active":
            _close_ownership(conn, info.model, _now())
        return [_Change("plan", info.name, "status", info.status, status)]

    return _write(eng, ref, expected_version, actor, reason, None, build)


# ------------------------------------------------------------------------------------ ownership
def _owners(conn: Connection, info: PlanInfo, state: dict) -> pd.DataFrame:
    """Every workspace account's territory and owner under ``state``: the explicit assignment,
    else the territory of its unit (ZIP units: the account's ZIP; account units: its id) and
    that territory's first rep."""
    acc = pd.DataFrame(conn.execute(sa.text("SELECT account_id, zip FROM accounts")).all(),
                       columns=["account_id", "zip"])
    if info.unit_level == "zip":
        key = acc["zip"]
    elif info.unit_level == "account":
        key = acc["account_id"]
    else:
        key = pd.Series([None] * len(acc), dtype=object)
    terr = key.map(state["unit"]).astype(object)
    rep_of = {t: (_dec("reps", d.get("reps")) or [(None,)])[0][0] for t, d in state["territory"].items()}
    ex = state["account"]
    et = acc["account_id"].map(lambda a: ex.get(a, {}).get("territory"))
    er = acc["account_id"].map(lambda a: ex.get(a, {}).get("rep"))
    terr = et.where(et.notna(), terr)
    rep = er.where(er.notna(), terr.map(rep_of))
    out = pd.DataFrame({"account_id": acc["account_id"], "territory_id": terr, "rep_id": rep})
    return out.astype(object).where(out.notna(), None)


def plan_owners(eng: Engine, ref: str | int, version: int | None = None) -> pd.DataFrame:
    """Account_id, territory_id, rep_id of every workspace account under the plan."""
    store.upgrade(eng)
    name, v = parse_ref(ref)
    with eng.connect() as conn:
        info = _info(_plan_row(conn, name))
        return _owners(conn, info, _state_at(conn, info, version if version is not None else v))


def _close_ownership(conn: Connection, model: str, when: dt.datetime) -> None:
    conn.execute(sa.update(_O).where(_O.c.model == model, _O.c.valid_to.is_(None)).values(valid_to=when))


def promote(eng: Engine, ref: str | int, *, expected_version: int, actor: str,
            effective: dt.datetime | dt.date | str | None = None, reason: str | None = None) -> PlanInfo:
    """Activate an approved plan as of ``effective`` (default now): the model's active plan is
    archived and account ownership from ``effective`` on follows this plan."""
    eff = _naive_utc(effective) or _now()

    def build(conn, info):
        if info.status != "approved":
            raise PlanError(f"plan {info.name!r} is {info.status}; only an approved plan is promoted "
                            "(draft → proposed → approved)")
        last = conn.execute(sa.select(sa.func.max(_ACT.c.effective_from)).where(_ACT.c.model == info.model)).scalar()
        if last is not None and eff < _dtv(last):
            raise PlanError(f"effective date {eff:%Y-%m-%d %H:%M} is before the last activation of model "
                            f"{info.model!r} ({_dtv(last):%Y-%m-%d %H:%M})")
        ch = []
        prev = conn.execute(sa.select(_P).where(_P.c.model == info.model, _P.c.status == "active")).first()
        if prev is not None:
            pv = _info(prev)
            conn.execute(sa.update(_P).where(_P.c.id == pv.id).values(status="archived", version=pv.version + 1,
                                                                        updated_at=_now()))
            _write_events(conn, pv.id, pv.version + 1,
                          [_Change("plan", pv.name, "status", "active", "archived")], actor=actor,
                          reason=f"replaced by {info.name} from {eff:%Y-%m-%d}", job=None, now=_now())
        conn.execute(sa.update(_P).where(_P.c.id == info.id).values(status="active", effective_from=eff))
        ch.append(_Change("plan", info.name, "status", "approved", "active"))
        ch.append(_Change("plan", info.name, "effective", None, eff.isoformat(sep=" ")))
        conn.execute(sa.insert(_ACT).values(model=info.model, plan_id=info.id, plan_version=info.version,
                                            effective_from=eff, actor=actor, at=_now()))
        owners = _owners(conn, info, _read_state(conn, info.id))
        _close_ownership(conn, info.model, eff)
        rows = [{"account_id": r.account_id, "model": info.model, "plan_id": info.id, "plan_version": info.version,
                 "territory_id": r.territory_id, "rep_id": r.rep_id, "valid_from": eff, "valid_to": None}
                for r in owners.itertuples(index=False)]
        if rows:
            conn.execute(sa.insert(_O), rows)
        return ch

    return _write(eng, ref, expected_version, actor, reason, None, build)


def owner_at(eng: Engine, account_id: str, when: dt.datetime | dt.date | str, *,
             model: str = "geographic") -> dict | None:
    """Who owned ``account_id`` at ``when`` under ``model``'s active plans: a dict with
    account_id, rep_id, territory_id, plan, plan_version, valid_from, valid_to; None when no
    plan of the model was active then."""
    store.upgrade(eng)
    t = _naive_utc(when)
    q = (sa.select(_O, _P.c.name.label("plan")).join(_P, _P.c.id == _O.c.plan_id)
         .where(_O.c.account_id == str(account_id), _O.c.model == model, _O.c.valid_from <= t,
                sa.or_(_O.c.valid_to.is_(None), _O.c.valid_to > t))
         .order_by(_O.c.valid_from.desc(), _O.c.id.desc()).limit(1))
    with eng.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        return None
    m = dict(row._mapping)
    return {k: (_dtv(m[k]) if k in ("valid_from", "valid_to") else m[k])
            for k in ("account_id", "rep_id", "territory_id", "plan", "plan_version", "valid_from", "valid_to")}


def ownership_history(eng: Engine, account_id: str, *, model: str | None = None) -> pd.DataFrame:
    """Every period of ownership of the account (oldest first)."""
    store.upgrade(eng)
    q = (sa.select(_O.c.model, _P.c.name.label("plan"), _O.c.plan_version, _O.c.territory_id, _O.c.rep_id,
                   _O.c.valid_from, _O.c.valid_to).join(_P, _P.c.id == _O.c.plan_id)
         .where(_O.c.account_id == str(account_id)))
    if model:
        q = q.where(_O.c.model == model)
    with eng.connect() as conn:
        rows = conn.execute(q.order_by(_O.c.valid_from, _O.c.id)).all()
    return pd.DataFrame(rows, columns=["model", "plan", "plan_version", "territory_id", "rep_id", "valid_from",
                                       "valid_to"])


# ------------------------------------------------------------------------------------ restore
def restore(eng: Engine, ref: str | int, version: int, *, expected_version: int, actor: str,
            reason: str | None = None) -> PlanInfo:
    """Write the content the plan had at ``version`` back as a new version (a draft only)."""

    def build(conn, info):
        _check_editable(info)
        cur = _read_state(conn, info.id)
        # the state at ``version``: undo every event after it (the version bump of this write
        # has no events yet, so the current state is the state of version info.version - 1)
        if not 1 <= version < info.version:
            raise NotFound(f"plan {info.name!r} has earlier versions 1 to {info.version - 1}, not {version}")
        evs = conn.execute(sa.select(_E).where(_E.c.plan_id == info.id, _E.c.version > version)
                           .order_by(_E.c.id.desc()))
        target = _undo({k: {kk: (dict(vv) if isinstance(vv, dict) else vv) for kk, vv in v.items()}
                        for k, v in cur.items()}, evs)
        ch = _diff(cur, target)
        if not ch:
            raise PlanError(f"plan {info.name!r} has the same content as at version {version}")
        return [_Change("plan", info.name, "restored", None, str(version)), *ch]

    return _write(eng, ref, expected_version, actor, reason or f"restore version {version}", None, build)


# ------------------------------------------------------------------------------------ comparison
def _content_state(c: PlanContent) -> dict:
    terr = {r.territory_id: {"reps": _enc("reps", r.reps)} for r in c.territories.itertuples(index=False)}
    return {"unit": dict(zip(c.units["unit_id"], c.units["territory_id"])), "territory": terr,
            "account": {r.account_id: {"territory": r.territory_id, "rep": r.rep_id}
                        for r in c.accounts.itertuples(index=False)}}


def compare(eng: Engine, refs: Sequence[str | int], *, unit_measures: pd.DataFrame | None = None,
            window: tuple[dt.datetime, dt.datetime] | None = None) -> Comparison:
    """Plans (or versions ``name@v``) side by side; the first is the base.

    Per territory: units, accounts, revenue (orders of the last 365 days, or ``window``),
    potential (``accounts.potential``), quota, head count, and the sum of every column of
    ``unit_measures`` (indexed by unit_id). Balance per measure: the largest absolute deviation
    of a territory from the plan's mean, over the territories that hold units or accounts.
    """
    store.upgrade(eng)
    if len(refs) < 2:
        raise PlanError("give two or more plans to compare")
    contents = [plan_content(eng, r) for r in refs]
    labels = [f"{c.info.name}@{c.version}" if parse_ref(r)[1] is not None else c.info.name
              for c, r in zip(contents, refs)]
    if len(set(labels)) < len(labels):
        raise PlanError("the same plan version is listed twice")
    from territorium.plan.workspace import Workspace

    ws = Workspace(engine=eng)
    start, end = window or ws.revenue_window()
    rev = store.order_totals(eng, "account", start, end).set_index("key")["revenue"]
    with eng.connect() as conn:
        acc = pd.DataFrame(conn.execute(sa.text("SELECT account_id, name, potential FROM accounts")).all(),
                           columns=["account_id", "name", "potential"])
        owners = [_owners(conn, c.info, _content_state(c)) for c in contents]
    acc["revenue"] = acc["account_id"].map(rev).fillna(0.0).astype(float)
    acc["potential"] = pd.to_numeric(acc["potential"]).fillna(0.0).astype(float)
    trows, brows, srows, moved = [], [], [], []
    measures = ["units", "accounts", "revenue", "potential"]
    if unit_measures is not None:
        measures += [str(c) for c in unit_measures.columns]
    base_units = dict(zip(contents[0].units["unit_id"], contents[0].units["territory_id"]))
    for lab, c, own in zip(labels, contents, owners):
        t = c.territories.set_index("territory_id")
        held = set(c.units["territory_id"]) | set(own["territory_id"].dropna())
        tab = pd.DataFrame(index=pd.Index(sorted(held), name="territory_id"))
        tab["units"] = c.units.groupby("territory_id").size().reindex(tab.index).fillna(0).astype(float)
        a = own.assign(revenue=acc["revenue"].to_numpy(), potential=acc["potential"].to_numpy())
        g = a.dropna(subset=["territory_id"]).groupby("territory_id")
        tab["accounts"] = g.size().reindex(tab.index).fillna(0).astype(float)
        tab["revenue"] = g["revenue"].sum().reindex(tab.index).fillna(0.0)
        tab["potential"] = g["potential"].sum().reindex(tab.index).fillna(0.0)
        if unit_measures is not None:
            um = unit_measures.reindex(c.units["unit_id"].astype(str)).fillna(0.0)
            um.index = c.units["territory_id"].to_numpy()
            s = um.groupby(level=0).sum()
            for col in unit_measures.columns:
                tab[str(col)] = s[col].reindex(tab.index).fillna(0.0).astype(float)
        tab["quota"] = t["quota"].reindex(tab.index)
        tab["head_count"] = [len(r) for r in t["reps"].reindex(tab.index).map(lambda x: x if isinstance(x, list) else [])]
        tab.insert(0, "plan", lab)
        trows.append(tab.reset_index())
        for m in measures:
            x = tab[m].to_numpy(float)
            mean = x.mean() if len(x) else 0.0
            dev = float(np.abs(x / mean - 1).max()) if mean > 0 else float("nan")
            brows.append({"plan": lab, "measure": m, "mean": mean, "min": float(x.min()) if len(x) else np.nan,
                          "max": float(x.max()) if len(x) else np.nan, "max_abs_dev": dev})
        b = owners[0]
        diff = (b["territory_id"].fillna("\0") != own["territory_id"].fillna("\0")) | \
               (b["rep_id"].fillna("\0") != own["rep_id"].fillna("\0"))
        mv = pd.DataFrame({"plan": lab, "account_id": acc["account_id"], "name": acc["name"],
                           "territory_from": b["territory_id"], "territory_to": own["territory_id"],
                           "rep_from": b["rep_id"], "rep_to": own["rep_id"], "revenue": acc["revenue"]})[diff.to_numpy()]
        if c is not contents[0]:
            moved.append(mv)
        units_now = dict(zip(c.units["unit_id"], c.units["territory_id"]))
        n_units = sum(1 for u in set(base_units) | set(units_now) if base_units.get(u) != units_now.get(u))
        reps = set(mv["rep_from"].dropna()) | set(mv["rep_to"].dropna())
        bt = contents[0].territories.set_index("territory_id")["reps"]
        for tid, r in t["reps"].items():
            if set(map(tuple, r)) != set(map(tuple, bt.get(tid, []) if isinstance(bt.get(tid, []), list) else [])):
                reps |= {x[0] for x in r} | {x[0] for x in (bt.get(tid) or [])}
        srows.append({"plan": lab, "territories": len(tab), "units_moved": n_units, "accounts_moved": int(diff.sum()),
                      "revenue_moved": float(mv["revenue"].sum()), "reps_affected": len(reps),
                      "reps": ";".join(sorted(map(str, reps)))})
    affected = sorted({r for row in srows for r in row["reps"].split(";") if r})
    return Comparison(tuple(labels), pd.concat(trows, ignore_index=True), pd.DataFrame(brows),
                      pd.concat(moved, ignore_index=True) if moved else pd.DataFrame(),
                      pd.DataFrame(srows), _rep_names(eng, affected))


def _rep_names(eng: Engine, rep_ids: Sequence[str]) -> dict[str, str]:
    """rep id → name for the ids the reps table names (blank names left out)."""
    if not rep_ids:
        return {}
    q = sa.text("SELECT rep_id, name FROM reps WHERE rep_id IN :ids").bindparams(sa.bindparam("ids", expanding=True))
    with eng.connect() as conn:
        rows = conn.execute(q, {"ids": list(rep_ids)}).all()
    return {str(r): str(n).strip() for r, n in rows if n is not None and str(n).strip()}


# ------------------------------------------------------------------------------------ files
class PlanImportError(PlanError):
    pass


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def read_plan_files(*, alignment: Path | None = None, staffing: Path | None = None, accounts: Path | None = None,
                    quotas: Path | None = None, hierarchy: Path | None = None) -> dict:
    """Read the CSV outputs of ``design`` (alignment: unit_id, territory), ``assign territories``
    (staffing: territory_id, rep_id or team_id + members), ``assign accounts`` (accounts:
    account_id, new_owner, optional territory), ``quota`` (territory, quota) and a hierarchy
    file (territory, parent, optional manager, name) into what :func:`create_plan` takes.
    Every problem names the file, row (spreadsheet numbering, header = 1), column and value."""
    E = PlanImportError
    out: dict = {"units": {}, "territories": {}, "accounts": None}

    def need(df, path, names, what):
        c = pick_column(df, names)
        if c is None:
            raise E(f"{path}: needs a column {what} (found: {', '.join(map(str, df.columns))})")
        return c

    def terr(tid):
        return out["territories"].setdefault(tid, {})

    if alignment is not None:
        df = read_table(Path(alignment), E)
        uc = need(df, alignment, ["unit_id", "zip", "account_id", "unit"], "unit_id (or zip, account_id)")
        tc = need(df, alignment, ["territory", "territory_id"], "territory")
        seen: dict[str, int] = {}
        for i, (u, t) in enumerate(zip(df[uc], df[tc])):
            row = i + 2
            u, t = _text(u), _text(t)
            if u is None:
                raise E(f"{alignment}: row {row}, column {uc!r}: empty unit id")
            if t is None:
                raise E(f"{alignment}: row {row}, column {tc!r}: unit {u} has no territory")
            if u in seen:
                raise E(f"{alignment}: row {row}, column {uc!r}: unit {u} is listed twice (first in row {seen[u]})")
            seen[u] = row
            out["units"][u] = t
        out["unit_column"] = str(uc).strip().lower()
    if staffing is not None:
        df = read_table(Path(staffing), E)
        tc = need(df, staffing, ["territory_id", "territory"], "territory_id")
        rc = pick_column(df, ["rep_id", "rep"])
        team = pick_column(df, ["team_id", "team"])
        mc = pick_column(df, ["members"])
        if rc is None and (team is None or mc is None):
            raise E(f"{staffing}: needs a column rep_id (or team_id and members) "
                    f"(found: {', '.join(map(str, df.columns))})")
        reps: dict[str, list] = {}
        for i in range(len(df)):
            row = i + 2
            t = _text(df[tc].iat[i])
            if t is None:
                raise E(f"{staffing}: row {row}, column {tc!r}: empty territory")
            if rc is not None:
                r = _text(df[rc].iat[i])
                if r is None:
                    raise E(f"{staffing}: row {row}, column {rc!r}: empty rep id (territory {t})")
                pair = [(r, "rep")]
            else:
                tm = _text(df[team].iat[i])
                mem = _text(df[mc].iat[i])
                if tm is None or mem is None:
                    raise E(f"{staffing}: row {row}, column {team if tm is None else mc!r}: empty (territory {t})")
                pair = [(m.strip(), f"team:{tm}") for m in mem.split(";") if m.strip()]
            lst = reps.setdefault(t, [])
            for p in pair:
                if any(x[0] == p[0] for x in lst):
                    raise E(f"{staffing}: row {row}: rep {p[0]} is listed twice for territory {t}")
                lst.append(p)
        for t, lst in reps.items():
            terr(t)["reps"] = lst
    if accounts is not None:
        df = read_table(Path(accounts), E)
        ac = need(df, accounts, ["account_id"], "account_id")
        oc = pick_column(df, ["new_owner", "rep_id", "owner_id", "owner"])
        tc = pick_column(df, ["territory", "territory_id"])
        if oc is None and tc is None:
            raise E(f"{accounts}: needs a column new_owner (or rep_id) or territory "
                    f"(found: {', '.join(map(str, df.columns))})")
        rows, seen = [], {}
        for i in range(len(df)):
            row = i + 2
            a = _text(df[ac].iat[i])
            if a is None:
                raise E(f"{accounts}: row {row}, column {ac!r}: empty account id")
            if a in seen:
                raise E(f"{accounts}: row {row}, column {ac!r}: account {a} is listed twice (first in row {seen[a]})")
            seen[a] = row
            rows.append({"account_id": a, "territory_id": _text(df[tc].iat[i]) if tc is not None else None,
                         "rep_id": _text(df[oc].iat[i]) if oc is not None else None})
        out["accounts"] = pd.DataFrame(rows, columns=["account_id", "territory_id", "rep_id"])
    if quotas is not None:
        df = read_table(Path(quotas), E)
        tc = need(df, quotas, ["territory", "territory_id"], "territory")
        qc = need(df, quotas, ["quota"], "quota")
        for i in range(len(df)):
            row = i + 2
            t, raw = _text(df[tc].iat[i]), df[qc].iat[i]
            if t is None:
                raise E(f"{quotas}: row {row}, column {tc!r}: empty territory")
            try:
                q = float(str(raw).replace(",", "").strip())
            except ValueError:
                q = float("nan")
            if not np.isfinite(q) or q < 0:
                raise E(f"{quotas}: row {row}, column {qc!r}: {raw!r} is not a number ≥ 0 (territory {t})")
            terr(t)["quota"] = q
    if hierarchy is not None:
        df = read_table(Path(hierarchy), E)
        tc = need(df, hierarchy, ["territory", "territory_id", "node"], "territory")
        pc = need(df, hierarchy, ["parent", "parent_id"], "parent")
        mc = pick_column(df, ["manager", "manager_id"])
        nc = pick_column(df, ["name"])
        for i in range(len(df)):
            row = i + 2
            t = _text(df[tc].iat[i])
            if t is None:
                raise E(f"{hierarchy}: row {row}, column {tc!r}: empty territory")
            d = terr(t)
            d["parent"] = _text(df[pc].iat[i])
            if mc is not None:
                d["manager"] = _text(df[mc].iat[i])
            if nc is not None:
                d["name"] = _text(df[nc].iat[i])
    return out


def import_plan(eng: Engine, name: str, *, actor: str, alignment: Path | None = None, staffing: Path | None = None,
                accounts: Path | None = None, quotas: Path | None = None, hierarchy: Path | None = None,
                model: str = "geographic", unit_level: str | None = None, seed: int | None = None,
                settings: Mapping | None = None, reason: str | None = None) -> PlanInfo:
    """A draft plan from the CSV outputs of the CLI (see :func:`read_plan_files`); all files
    are read and checked before anything is stored."""
    if alignment is None and accounts is None:
        raise PlanImportError("give at least an alignment file (design --out) or an accounts file")
    files = read_plan_files(alignment=alignment, staffing=staffing, accounts=accounts, quotas=quotas,
                            hierarchy=hierarchy)
    terr = files["territories"]
    known = set(files["units"].values()) | set(terr) | (
        set(files["accounts"]["territory_id"].dropna()) if files["accounts"] is not None else set())
    for t, d in terr.items():
        if "reps" in d and t not in set(files["units"].values()) and files["units"]:
            src = staffing
            raise PlanImportError(f"{src}: territory {t!r} is not in the alignment {alignment}")
        if d.get("parent") is not None and d["parent"] not in known:
            raise PlanImportError(f"{hierarchy}: territory {t!r}: parent {d['parent']!r} is neither a territory "
                                  "nor a node listed in the file")
    level = unit_level or {"account_id": "account"}.get(files.get("unit_column"), "zip")
    src = {k: str(v) for k, v in (("alignment", alignment), ("staffing", staffing), ("accounts", accounts),
                                  ("quotas", quotas), ("hierarchy", hierarchy)) if v is not None}
    return create_plan(eng, name, units=files["units"], territories=terr or None, accounts=files["accounts"],
                       model=model, unit_level=level, seed=seed, settings={**dict(settings or {}), "files": src},
                       actor=actor, reason=reason or "imported from files", job=None)


def export_plan(eng: Engine, ref: str | int, out_dir: Path, *, version: int | None = None) -> dict[str, Path]:
    """Write alignment.csv, staffing.csv, territories.csv (hierarchy, quotas), accounts.csv
    (explicit assignments), owners.csv (every account's owner) and events.csv (the audit trail)
    into ``out_dir``; the first four re-import with :func:`import_plan`."""
    c = plan_content(eng, ref, version)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staff = pd.DataFrame([(r.territory_id, rep, role) for r in c.territories.itertuples(index=False)
                          for rep, role in r.reps], columns=["territory_id", "rep_id", "role"])
    terr = c.territories.drop(columns=["reps"]).rename(columns={"territory_id": "territory"})
    terr["head_count"] = [len(r) for r in c.territories["reps"]]
    ev, _ = events(eng, c.info.id)
    frames = {
        "alignment": c.units.rename(columns={"territory_id": "territory"}),
        "staffing": staff, "territories": terr, "accounts": c.accounts,
        "owners": plan_owners(eng, c.info.id, c.version), "events": ev,
    }
    paths = {}
    for k, df in frames.items():
        p = out_dir / f"{k}.csv"
        tmp = p.with_name(p.name + ".tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(p)
        paths[k] = p
    return paths
