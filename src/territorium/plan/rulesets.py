"""Rule sets kept in the database: a named YAML text, validated before it is stored, with a
version number and an optimistic check (a write names the version it was read at; a stale one
is refused with :class:`RuleSetConflict`, never merged). Alert rules and routing rules use it,
each in its own table.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

import sqlalchemy as sa

__all__ = ["KINDS", "RuleSetConflict", "stored", "save"]

#: kind of rule set → its table (the only tables these functions touch)
KINDS = {"alert": "alert_rule_sets", "routing": "routing_rule_sets"}


class RuleSetConflict(Exception):
    """A write against a stale version of a stored rule set; nothing was written."""

    def __init__(self, name: str, expected: int | None, current: int, by: str, at, kind: str = "alert"):
        self.name, self.expected, self.current, self.kind = name, expected, current, kind
        super().__init__(f"{kind} rules {name!r} are at version {current}, not {expected}: changed by {by} at "
                         f"{at}. Reload them and apply your change again.")


def _table(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of rule set {kind!r}; one of {', '.join(KINDS)}")
    return KINDS[kind]


def stored(eng, kind: str, name: str | None = None) -> list[dict]:
    """Stored rule sets of ``kind`` (all, or the one named; [] when unknown), by name."""
    q = f"SELECT name, yaml, version, updated_by, updated_at FROM {_table(kind)}"
    with eng.connect() as c:
        rows = c.execute(sa.text(q + (" WHERE name = :n" if name else "") + " ORDER BY name"),
                         {"n": name} if name else {}).fetchall()
    return [dict(r._mapping) for r in rows]


def save(eng, kind: str, name: str, text: str, *, actor: str, expected_version: int | None,
         check: Callable[[str, str], object]) -> dict:
    """Validate with ``check(text, name)`` (it raises with every problem; nothing is stored
    then) and store; a new set needs ``expected_version`` None or 0, a change the version it
    was read at."""
    table = _table(kind)
    check(text, name)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with eng.begin() as c:
        cur = c.execute(sa.text(f"SELECT version, updated_by, updated_at FROM {table} WHERE name = :n"),
                        {"n": name}).first()
        if cur is None:
            if expected_version not in (None, 0):
                raise RuleSetConflict(name, expected_version, 0, "nobody", "never", kind)
            c.execute(sa.text(f"INSERT INTO {table} (name, yaml, version, updated_by, updated_at) "
                              "VALUES (:n, :y, 1, :a, :t)"), {"n": name, "y": text, "a": actor, "t": now})
            version = 1
        else:
            if expected_version is None or expected_version != cur.version:
                raise RuleSetConflict(name, expected_version, cur.version, cur.updated_by, cur.updated_at, kind)
            res = c.execute(sa.text(f"UPDATE {table} SET yaml = :y, version = version + 1, updated_by = :a, "
                                    "updated_at = :t WHERE name = :n AND version = :v"),
                            {"n": name, "y": text, "a": actor, "t": now, "v": cur.version})
            if res.rowcount != 1:   # a concurrent writer got there first
                raise RuleSetConflict(name, expected_version, cur.version + 1, "another writer", now, kind)
            version = cur.version + 1
    return {"name": name, "version": version, "updated_by": actor, "updated_at": now}
