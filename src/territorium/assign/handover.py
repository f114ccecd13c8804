"""Realignments that keep the business running: protection of open deals and the hand-over list.

* :func:`open_deals` — per account, the open opportunities (not closed, optionally closing within
  a horizon) with their amount and the last close date. The protection rule keeps such accounts
  with their current owner until that date.
* :func:`handover` — per rep, what they gain and lose (accounts and revenue), and the related
  records that follow each moved account (open opportunities, open activities).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ProtectionRule", "open_deals", "Handover", "handover"]

_CLOSED_ACTIVITY = ("completed", "done", "closed", "cancelled", "canceled")


@dataclass(frozen=True)
class ProtectionRule:
    """Which open opportunities keep their account with the current owner.

    Attributes
    ----------
    enabled : bool
        Off: every account may move (its open deals follow it).
    horizon_days : int or None
        Only deals closing within this many days of ``asof`` protect (None: every open deal).
    min_probability : float
        Only deals at or above this win probability in percent protect (0: all).
    """

    enabled: bool = True
    horizon_days: int | None = None
    min_probability: float = 0.0


def _is_open(opps: pd.DataFrame) -> np.ndarray:
    if "is_closed" in opps.columns and opps["is_closed"].notna().any():
        closed = opps["is_closed"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if "stage" in opps.columns:  # a missing flag: trust the stage name
            by_stage = opps["stage"].astype("string").str.lower().str.startswith("closed").fillna(False).to_numpy(dtype=bool)
            closed = np.where(opps["is_closed"].isna().to_numpy(), by_stage, closed)
        return ~closed
    if "stage" in opps.columns:
        return ~opps["stage"].astype("string").str.lower().str.startswith("closed").fillna(False).to_numpy(dtype=bool)
    return np.ones(len(opps), dtype=bool)


def open_deals(opportunities: pd.DataFrame, *, rule: ProtectionRule | None = None,
               asof: dt.date | None = None) -> pd.DataFrame:
    """Open opportunities per account under ``rule``.

    Returns one row per account with at least one protecting deal: ``account_id``,
    ``open_opps``, ``open_amount``, ``protect_until`` (latest close date, a date or NaT).

    >>> o = pd.DataFrame({"account_id": ["a", "a", "b", "c"], "stage": ["Proposal", "Closed Won", "Prospecting", "Negotiation"],
    ...                   "amount": [100.0, 50.0, 20.0, 5.0], "is_closed": [False, True, False, False],
    ...                   "close_date": pd.to_datetime(["2027-01-10", "2026-05-01", "2027-06-30", "2026-11-20"]),
    ...                   "probability": [60, 100, 10, 80]})
    >>> open_deals(o)[["account_id", "open_opps", "open_amount"]].values.tolist()
    [['a', 1, 100.0], ['b', 1, 20.0], ['c', 1, 5.0]]
    >>> r = ProtectionRule(horizon_days=90, min_probability=50)
    >>> open_deals(o, rule=r, asof=dt.date(2026, 11, 1))["account_id"].tolist()
    ['a', 'c']
    """
    rule = rule or ProtectionRule()
    cols = ["account_id", "open_opps", "open_amount", "protect_until"]
    if not rule.enabled or opportunities is None or opportunities.empty:
        return pd.DataFrame(columns=cols)
    o = opportunities
    keep = _is_open(o) & o["account_id"].notna().to_numpy()
    close = pd.to_datetime(o["close_date"], errors="coerce") if "close_date" in o.columns else pd.Series(pd.NaT, index=o.index)
    if rule.horizon_days is not None:
        if asof is None:
            raise ValueError("a protection horizon needs the as-of date")
        limit = pd.Timestamp(asof) + pd.Timedelta(days=int(rule.horizon_days))
        keep &= (close <= limit).fillna(False).to_numpy(dtype=bool)
    if rule.min_probability > 0 and "probability" in o.columns:
        keep &= (pd.to_numeric(o["probability"], errors="coerce") >= rule.min_probability).fillna(False).to_numpy(dtype=bool)
    sel = pd.DataFrame({"account_id": o["account_id"].astype(str).to_numpy()[keep],
                        "amount": pd.to_numeric(o["amount"], errors="coerce").fillna(0.0).to_numpy()[keep]
                        if "amount" in o.columns else 0.0,
                        "close": close.to_numpy()[keep]})
    if sel.empty:
        return pd.DataFrame(columns=cols)
    g = sel.groupby("account_id", sort=True)
    out = pd.DataFrame({"open_opps": g.size(), "open_amount": g["amount"].sum(), "protect_until": g["close"].max()})
    return out.reset_index()[cols]


@dataclass(frozen=True)
class Handover:
    """What changes hands.

    Attributes
    ----------
    summary : DataFrame
        Per rep: ``rep_id``, ``kept``, ``kept_revenue``, ``gained``, ``gained_revenue``,
        ``lost``, ``lost_revenue``, ``net_revenue``, ``protected`` (accounts kept by the
        protection rule although the plan gives them to someone else).
    moves : DataFrame
        Per moved account: ``account_id``, ``from_rep``, ``to_rep``, ``revenue``,
        ``open_opps`` and ``open_amount`` (deals that follow the account), ``open_activities``.
    protected : DataFrame
        Accounts the plan would move but the protection rule keeps: ``account_id``,
        ``owner``, ``planned_rep``, ``revenue``, ``open_opps``, ``open_amount``,
        ``protect_until``.
    """

    summary: pd.DataFrame
    moves: pd.DataFrame
    protected: pd.DataFrame


def handover(
    accounts: pd.DataFrame,
    *,
    before: str = "owner_id",
    after: str = "new_owner",
    planned: str | None = None,
    revenue: str = "revenue",
    deals: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
) -> Handover:
    """Per rep gains and losses between two owner columns of ``accounts``.

    ``accounts`` has ``account_id``, the owner before (``before``) and after (``after``, the
    final owner once protection is applied), optionally the owner the plan wanted
    (``planned``; where it differs from ``after`` the account was protected) and a revenue
    column. ``deals`` is :func:`open_deals` output (open deals follow a moved account);
    ``activities`` the activities table (open ones — status not completed — follow too).

    >>> a = pd.DataFrame({"account_id": ["x", "y", "z"], "owner_id": ["r1", "r1", "r2"],
    ...                   "new_owner": ["r2", "r1", "r2"], "revenue": [10.0, 5.0, 7.0]})
    >>> h = handover(a)
    >>> h.summary[["rep_id", "gained", "gained_revenue", "lost_revenue", "net_revenue"]].values.tolist()
    [['r1', 0, 0.0, 10.0, -10.0], ['r2', 1, 10.0, 0.0, 10.0]]
    """
    a = accounts
    acc = a["account_id"].astype(str)
    old = a[before].astype("object").where(a[before].notna(), None)
    new = a[after].astype("object").where(a[after].notna(), None)
    rev = pd.to_numeric(a[revenue], errors="coerce").fillna(0.0) if revenue in a.columns else pd.Series(0.0, index=a.index)
    moved = (old.astype(str) != new.astype(str)).to_numpy()
    d = deals.set_index("account_id") if deals is not None and len(deals) else None
    mv = pd.DataFrame({"account_id": acc[moved].to_numpy(), "from_rep": old[moved].to_numpy(),
                       "to_rep": new[moved].to_numpy(), "revenue": rev[moved].to_numpy()})
    if d is not None:
        mv["open_opps"] = d["open_opps"].reindex(mv["account_id"]).fillna(0).astype(int).to_numpy()
        mv["open_amount"] = d["open_amount"].reindex(mv["account_id"]).fillna(0.0).to_numpy()
    else:
        mv["open_opps"] = 0
        mv["open_amount"] = 0.0
    if activities is not None and len(activities) and "account_id" in activities.columns:
        st = activities["status"].astype("string").str.lower() if "status" in activities.columns else pd.Series("", index=activities.index)
        open_act = activities[~st.isin(_CLOSED_ACTIVITY).fillna(False)]
        cnt = open_act.groupby(open_act["account_id"].astype(str)).size()
        mv["open_activities"] = cnt.reindex(mv["account_id"]).fillna(0).astype(int).to_numpy()
    else:
        mv["open_activities"] = 0
    mv = mv.sort_values(["from_rep", "revenue"], ascending=[True, False], kind="stable").reset_index(drop=True)

    reps = sorted({str(x) for x in old.dropna()} | {str(x) for x in new.dropna()})
    o_s, n_s = old.astype(str), new.astype(str)
    kept = ~moved
    rows = pd.DataFrame({"rep_id": reps}).set_index("rep_id")
    rows["kept"] = n_s[kept].value_counts().reindex(reps).fillna(0).astype(int)
    rows["kept_revenue"] = rev[kept].groupby(n_s[kept]).sum().reindex(reps).fillna(0.0)
    rows["gained"] = n_s[moved].value_counts().reindex(reps).fillna(0).astype(int)
    rows["gained_revenue"] = rev[moved].groupby(n_s[moved]).sum().reindex(reps).fillna(0.0)
    rows["lost"] = o_s[moved].value_counts().reindex(reps).fillna(0).astype(int)
    rows["lost_revenue"] = rev[moved].groupby(o_s[moved]).sum().reindex(reps).fillna(0.0)
    rows["net_revenue"] = rows["gained_revenue"] - rows["lost_revenue"]
    prot_cols = ["account_id", "owner", "planned_rep", "revenue", "open_opps", "open_amount", "protect_until"]
    if planned is not None and planned in a.columns:
        plan = a[planned].astype("object").where(a[planned].notna(), None)
        pm = (plan.astype(str) != new.astype(str)).to_numpy()
        prot = pd.DataFrame({"account_id": acc[pm].to_numpy(), "owner": new[pm].to_numpy(),
                             "planned_rep": plan[pm].to_numpy(), "revenue": rev[pm].to_numpy()})
        if d is not None:
            prot["open_opps"] = d["open_opps"].reindex(prot["account_id"]).fillna(0).astype(int).to_numpy()
            prot["open_amount"] = d["open_amount"].reindex(prot["account_id"]).fillna(0.0).to_numpy()
            prot["protect_until"] = d["protect_until"].reindex(prot["account_id"]).to_numpy()
        else:
            prot["open_opps"], prot["open_amount"], prot["protect_until"] = 0, 0.0, pd.NaT
        rows["protected"] = prot["owner"].astype(str).value_counts().reindex(reps).fillna(0).astype(int)
    else:
        prot = pd.DataFrame(columns=prot_cols)
        rows["protected"] = 0
    return Handover(rows.reset_index(), mv, prot[prot_cols])
