"""Who may see and do what with plans and accounts (used by the API; the CLI is a local admin).

- ``admin``: everything, including users.
- ``planner``: reads every plan and account; creates, copies and edits drafts; proposes,
  withdraws, archives, restores and promotes.
- ``manager``: reads the part of a plan below the hierarchy nodes it manages (``manager`` of a
  territory or region node = the user's ``person_id``) and the accounts there; approves a
  proposed plan there or sends it back to draft. A plan with nothing of theirs is invisible.
- ``rep``: reads the territories where it is a rep and the accounts it owns; nothing else.

Invisible things answer "not found" (HTTP 404), so ids cannot be probed; visible things the
role may not change answer "forbidden" (403).
"""
from __future__ import annotations

import pandas as pd

from territorium.plan.users import UserInfo

__all__ = ["EDITORS", "territory_scope", "may_set_status", "can_edit"]

EDITORS = ("admin", "planner")


def can_edit(user: UserInfo) -> bool:
    return user.role in EDITORS


def territory_scope(user: UserInfo, territories: pd.DataFrame) -> set[str] | None:
    """The territory / node ids of a plan the user may read (None: all of them).

    ``territories``: a plan's territories frame (territory_id, parent, manager, reps).
    """
    if user.role in EDITORS:
        return None
    ids = territories["territory_id"].tolist()
    if user.role == "rep":
        return {t for t, reps in zip(ids, territories["reps"]) if any(r[0] == user.person_id for r in reps)}
    if user.role == "manager":
        parent = dict(zip(ids, territories["parent"]))
        heads = {t for t, m in zip(ids, territories["manager"]) if m is not None and m == user.person_id}
        out = set()
        for t in ids:
            node, seen = t, set()
            while node is not None and node not in seen:
                if node in heads:
                    out.add(t)
                    break
                seen.add(node)
                node = parent.get(node)
        return out
    return set()


def may_set_status(user: UserInfo, current: str, target: str) -> bool:
    """Whether the role may move a (visible) plan from ``current`` to ``target``."""
    if user.role == "admin":
        return True
    if user.role == "planner":
        return target in ("proposed", "archived") or (target == "draft" and current in ("proposed", "approved"))
    if user.role == "manager":
        return current == "proposed" and target in ("approved", "draft")
    return False
