"""Planted causal effects of the demo company, and their truth (``truth.yaml``).

The demo carries three interventions whose true effect the generator knows, so that the causal
estimators (:mod:`territorium.analytics.causal`) can be checked against it:

* a **staggered regional campaign**: three waves of states start a consumer campaign at
  different dates; from its start a state's DTC order rate rises by an uplift that ramps up
  over a year and differs by wave (heterogeneous dynamic effects: the case where two-way
  fixed effects is biased and Callaway–Sant'Anna is not). New Jersey is held out.
* a **visit programme**: every visit to a direct wholesale customer brings, on average, a
  fixed number of extra wholesale orders within the next 90 days. Reps visit tier A accounts
  far more often, and tier A accounts also order more, so revenue and visits are confounded by
  tier: the raw correlation overstates the effect of a visit.
* a **realignment**: on a known date twelve boundary strips of ZIPs changed territory; the
  accounts there changed owner and, during the three months after the hand-over, a quarter of
  their wholesale orders did not happen.

Each effect is drawn from its own random stream (``SeedSequence([seed, 17])``), so the accounts,
reps, territories, contacts, opportunities and activities draws are unchanged by them. The
generator also knows each order's counterfactual (whether it exists because of the campaign or
a visit, or was lost in the dip), so the truth recorded is the *realised* effect: the mean over
treated cells of Y(1) − Y(0), computed with the same revenue definition the panels use
(:mod:`territorium.plan.panels`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import yaml

__all__ = [
    "Wave", "CAMPAIGN_WAVES", "CAMPAIGN_NEVER", "CAMPAIGN_RAMP_DAYS", "VISIT_WINDOW_DAYS",
    "VISIT_EXTRA_ORDERS", "REALIGN_MONTH", "DIP", "DIP_MONTHS", "TRUTH_FILE", "COUNTED_STATUSES",
    "Realignment", "month_start", "campaign_uplift", "load_truth",
]

TRUTH_FILE = "truth.yaml"
#: Financial statuses counted as revenue (as :meth:`Workspace.order_groups` does).
COUNTED_STATUSES = ("paid", "partially_refunded")


@dataclass(frozen=True)
class Wave:
    """One wave of the campaign: its states, start (months after the history's first month)
    and the uplift of the DTC order rate reached at the end of the ramp."""

    name: str
    states: tuple[str, ...]
    month: int
    uplift: float


CAMPAIGN_WAVES: tuple[Wave, ...] = (
    Wave("Wave 1", ("NY", "CT"), 3, 0.60),
    Wave("Wave 2", ("MA", "RI", "NH", "VT"), 8, 0.45),
    Wave("Wave 3", ("PA", "ME"), 14, 0.30),
)
#: The hold-out: states that never run the campaign.
CAMPAIGN_NEVER: tuple[str, ...] = ("NJ",)
#: The uplift grows linearly from 0 to its wave's maximum over this many days.
CAMPAIGN_RAMP_DAYS = 365
#: A visit's extra orders fall within this many days after it.
VISIT_WINDOW_DAYS = 90
#: Expected extra wholesale orders per visit to a direct customer, times the size's
#: ``wholesale_rate`` (so the relative effect is the same at every size).
VISIT_EXTRA_ORDERS = 0.25
#: The realignment takes effect on the first day of this month of the history.
REALIGN_MONTH = 16
REALIGN_TERRITORIES = 12
#: Share of a receiving territory's expected accounts in the strip it gains.
REALIGN_SHARE = 0.35
#: Share of a moved account's wholesale orders lost in the dip, and the dip's length.
DIP = 0.25
DIP_MONTHS = 3


def month_start(t_start: np.datetime64, k: int) -> np.datetime64:
    """The first day of the ``k``-th month after the history's first full month."""
    m = np.datetime64(t_start, "M")
    if np.datetime64(m, "D") < np.datetime64(t_start, "D"):
        m = m + 1
    return np.datetime64(m + k, "D")


def campaign_uplift(days_since: np.ndarray, uplift: float) -> np.ndarray:
    """Multiplicative uplift of the order rate ``days_since`` days after a wave's start
    (0 before it): rises linearly to ``uplift`` over :data:`CAMPAIGN_RAMP_DAYS`."""
    e = np.asarray(days_since, dtype=float)
    return np.where(e >= 0, uplift * np.minimum((e + 1) / CAMPAIGN_RAMP_DAYS, 1.0), 0.0)


# --------------------------------------------------------------------------------------------
# Realignment
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Realignment:
    """Which territories gained a strip, from whom, and the accounts that changed owner."""

    day: np.datetime64              # first day under the current alignment
    dip_end: np.datetime64          # first day after the dip
    receivers: np.ndarray           # territory index that gained a strip
    givers: np.ndarray              # territory index the strip came from
    prev_terr_std: np.ndarray       # territory index of every standard ZIP before ``day``
    moved: np.ndarray               # bool per account: owner changed on ``day``
    prev_owner: np.ndarray          # owner id per account before ``day``
    owner: np.ndarray               # owner id per account from ``day`` (today's)


def plan_realignment(rng: np.random.Generator, *, t_start: np.datetime64, x: np.ndarray,
                     y: np.ndarray, w_acc: np.ndarray, terr_std: np.ndarray, n_terr: int,
                     acc_std: np.ndarray, owner: np.ndarray,
                     terr_owner: np.ndarray) -> Realignment:
    """Pick :data:`REALIGN_TERRITORIES` receiving territories; each holds today a strip of its
    ZIPs facing its nearest neighbour (the giver) that belonged to the giver before the
    realignment (about :data:`REALIGN_SHARE` of the receiver's expected accounts).

    ``x, y`` (km) and ``w_acc`` (expected accounts) are per standard ZIP (NaN coordinates are
    never moved); ``acc_std`` is each account's standard-ZIP position; accounts owned by their
    territory's rep move with their ZIP, the others (CRM drift, house accounts) keep their owner.
    """
    ok = ~np.isnan(x)
    wt = np.where(ok, w_acc + 1e-9, 0.0)
    tw = np.bincount(terr_std, weights=wt, minlength=n_terr)
    cx = np.bincount(terr_std, weights=wt * np.nan_to_num(x), minlength=n_terr) / tw
    cy = np.bincount(terr_std, weights=wt * np.nan_to_num(y), minlength=n_terr) / tw
    d2 = (cx[:, None] - cx[None, :]) ** 2 + (cy[:, None] - cy[None, :]) ** 2
    np.fill_diagonal(d2, np.inf)
    receivers = np.sort(rng.choice(n_terr, REALIGN_TERRITORIES, replace=False))
    givers = np.argmin(d2[receivers], axis=1)
    prev = terr_std.copy()
    for t, g in zip(receivers.tolist(), givers.tolist()):
        idx = np.flatnonzero((terr_std == t) & ok)
        # nearer the neighbour's centre than the own one, in that order
        lean = np.hypot(x[idx] - cx[g], y[idx] - cy[g]) - np.hypot(x[idx] - cx[t], y[idx] - cy[t])
        order = idx[np.argsort(lean, kind="stable")]
        cum = np.cumsum(w_acc[order])
        take = order[:max(1, int(np.searchsorted(cum, REALIGN_SHARE * cum[-1])))]
        prev[take] = g
    changed = prev != terr_std
    acc_terr = terr_std[acc_std]
    moved = changed[acc_std] & (owner == terr_owner[acc_terr])
    prev_owner = owner.copy()
    prev_owner[moved] = terr_owner[prev[acc_std[moved]]]
    day = month_start(t_start, REALIGN_MONTH)
    dip_end = np.datetime64(np.datetime64(day, "M") + DIP_MONTHS, "D")
    return Realignment(day, dip_end, receivers, givers, prev, moved, prev_owner, owner)


# --------------------------------------------------------------------------------------------
# Extra orders
# --------------------------------------------------------------------------------------------

def campaign_orders(rng: np.random.Generator, *, days: np.ndarray, day_p: np.ndarray,
                    n_base: int, cust_state: np.ndarray, loyalty: np.ndarray,
                    t_start: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """Extra DTC orders caused by the campaign: (day, customer) per order.

    A base order falls on day ``d`` with probability ``day_p[d]`` and comes from a customer in
    proportion to ``loyalty``; a treated state therefore expects ``n_base · day_p[d] · W_s``
    base orders that day (``W_s`` its customers' share of loyalty) and gets Poisson extra orders
    with mean that times the wave's uplift, from its own customers by loyalty.
    """
    out_day, out_cust = [], []
    total = loyalty.sum()
    for wave in CAMPAIGN_WAVES:
        start = month_start(t_start, wave.month)
        up = campaign_uplift((days - start).astype(int), wave.uplift)
        for st in wave.states:
            cust = np.flatnonzero(cust_state == st)
            if not len(cust):
                continue
            share = loyalty[cust].sum() / total
            k = rng.poisson(n_base * day_p * share * up)
            n = int(k.sum())
            out_day.append(np.repeat(days, k))
            p = loyalty[cust] / loyalty[cust].sum()
            out_cust.append(cust[rng.choice(len(cust), n, p=p)])
    if not out_day:
        return np.array([], dtype=days.dtype), np.array([], dtype=np.int64)
    return np.concatenate(out_day), np.concatenate(out_cust)


def expected_campaign_share(*, days: np.ndarray, day_p: np.ndarray, state_share: dict[str, float],
                            t_start: np.datetime64) -> float:
    """Expected extra DTC orders as a share of the base orders (to keep the file sizes)."""
    extra = 0.0
    for wave in CAMPAIGN_WAVES:
        start = month_start(t_start, wave.month)
        up = campaign_uplift((days - start).astype(int), wave.uplift)
        extra += float((day_p * up).sum()) * sum(state_share.get(s, 0.0) for s in wave.states)
    return extra


def visit_orders(rng: np.random.Generator, *, v_acc: np.ndarray, v_day: np.ndarray,
                 mean: float, t_end: np.datetime64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Extra wholesale orders caused by visits: (account, day, visit index) per order.

    Each visit brings Poisson(``mean``) orders, each on a uniform day 1…90 days later (moved
    to the next Monday if it falls on a weekend, when wholesale orders are not placed); orders
    that would fall after the history are dropped.
    """
    k = rng.poisson(mean, len(v_acc))
    vis = np.repeat(np.arange(len(v_acc)), k)
    day = v_day[vis] + rng.integers(1, VISIT_WINDOW_DAYS + 1, len(vis))
    wd = (day.astype(np.int64) + 3) % 7
    day = day + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))
    ok = day < t_end
    return v_acc[vis[ok]], day[ok], vis[ok]


# --------------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------------

def utc_seconds(local_s: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """New York local epoch seconds to UTC epoch seconds."""
    return local_s + np.where(dst, 4, 5) * 3600


def _periods(utc_s: np.ndarray, freq: str) -> np.ndarray:
    """Start day (datetime64[D]) of each timestamp's calendar month or ISO week, in UTC."""
    d = (utc_s // 86400).astype("datetime64[D]")
    if freq == "month":
        return d.astype("datetime64[M]").astype("datetime64[D]")
    di = d.astype(np.int64)
    return (di - (di + 3) % 7).astype("datetime64[D]")


def _first(starts: dict, freq: str) -> dict:
    """Start of the period (``freq``) holding each unit's start day (local midnight, which is
    the same UTC day)."""
    return {k: _periods(np.array([(v - np.datetime64(0, "D")).astype(np.int64) * 86400]), freq)[0]
            for k, v in starts.items()}


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if a.size else 0.0


def _cells_truth(unit: np.ndarray, period: np.ndarray, y1: np.ndarray, y0: np.ndarray,
                 first: dict, wave_of: dict, dynamic: bool = True) -> dict:
    """Realised ATT over treated (unit, period) cells of a balanced panel with zeros filled.

    ``y1`` and ``y0`` are per-order contributions to Y(1) and Y(0); ``first`` maps each treated
    unit to the start of its first treated period.
    """
    units = np.array(sorted(set(unit.tolist())), dtype=object)
    periods = np.unique(period)
    ui = np.searchsorted(units.astype(str), unit.astype(str))
    pi = np.searchsorted(periods, period)
    shape = (len(units), len(periods))
    Y1 = np.zeros(shape)
    Y0 = np.zeros(shape)
    np.add.at(Y1, (ui, pi), y1)
    np.add.at(Y0, (ui, pi), y0)
    start = np.array([first.get(u, np.datetime64("NaT", "D")) for u in units.tolist()],
                     dtype="datetime64[D]")
    treated = (~np.isnat(start))[:, None] & (periods[None, :] >= start[:, None])
    dlog = np.log1p(Y1) - np.log1p(Y0)
    dusd = Y1 - Y0
    y0 = Y0[treated].sum()
    out = {
        "att_log": _mean(dlog[treated]),
        "att_usd": _mean(dusd[treated]),
        "relative": float(dusd[treated].sum() / y0) if y0 else 0.0,
        "treated_cells": int(treated.sum()),
        "cells": int(treated.size),
        "units": len(units),
        "periods": len(periods),
    }
    by_wave = {}
    for name in dict.fromkeys(wave_of.values()):
        m = treated & np.array([wave_of.get(u) == name for u in units.tolist()])[:, None]
        by_wave[name] = {"att_log": _mean(dlog[m]), "att_usd": _mean(dusd[m]),
                         "treated_cells": int(m.sum())}
    out["by_wave"] = by_wave
    if not dynamic:
        return out
    # event time in periods since the first treated one
    pos = np.searchsorted(periods, np.where(np.isnat(start), periods[0], start))
    e = np.arange(len(periods))[None, :] - pos[:, None]
    by_e = {}
    for k in np.unique(e[treated]).tolist():
        m = treated & (e == k)
        by_e[int(k)] = round(_mean(dlog[m]), 6)
    out["by_event_time_log"] = by_e
    return out


def _r(v, nd: int = 6):
    return round(float(v), nd)


def build_truth(*, seed: int, size: str, today: date, t_start: np.datetime64,
                t_end: np.datetime64, states_of_terr: dict[str, str], terr_ids: np.ndarray,
                acc_ids: np.ndarray, acc_direct: np.ndarray, realign: Realignment,
                terr_of_std: np.ndarray, std_zip: np.ndarray, o: dict, visits: dict,
                visit_mean: float) -> dict:
    """The truth file's content (plain Python types) from the generator's per-order arrays.

    ``o`` holds per order (ghosts included): ``utc`` seconds, ``state``, ``terr`` (index, -1
    unknown), ``total``, ``status``, ``wholesale``, ``acc`` (-1 for DTC), ``campaign``,
    ``visit`` (visit index or -1), ``ghost`` (lost in the dip).
    """
    start_utc = (t_start - np.datetime64(0, "D")).astype(np.int64) * 86400
    end_utc = (t_end - np.datetime64(0, "D")).astype(np.int64) * 86400
    inside = (o["utc"] >= start_utc) & (o["utc"] < end_utc)
    counted = np.isin(o["status"], COUNTED_STATUSES) & inside
    real = ~o["ghost"]
    total = o["total"].astype(float)

    # ---- campaign ------------------------------------------------------------------------
    dtc = counted & ~o["wholesale"] & real
    y1 = total[dtc]
    y0 = np.where(o["campaign"][dtc], 0.0, y1)
    waves, first_state, wave_state, first_terr, wave_terr = [], {}, {}, {}, {}
    terr_state = {t: states_of_terr[t] for t in terr_ids.tolist()}
    for w in CAMPAIGN_WAVES:
        start = month_start(t_start, w.month)
        terrs = sorted(t for t, s in terr_state.items() if s in w.states)
        for s in w.states:
            first_state[s] = start
            wave_state[s] = w.name
        for t in terrs:
            first_terr[t] = start
            wave_terr[t] = w.name
        mid = np.arange(13) * 30.4375 + 15      # middle of each month since the start
        path = [_r(v, 4) for v in campaign_uplift(mid, w.uplift)]
        waves.append({"name": w.name, "states": list(w.states), "territories": terrs,
                      "start": str(start), "uplift_max": w.uplift,
                      "uplift_by_month_since_start": path})
    st = o["state"][dtc].astype(object)
    utc = o["utc"][dtc]
    realised = {
        "state_month": _cells_truth(st, _periods(utc, "month"), y1, y0,
                                    _first(first_state, "month"), wave_state),
        "state_week": _cells_truth(st, _periods(utc, "week"), y1, y0,
                                   _first(first_state, "week"), wave_state, dynamic=False),
    }
    tix = o["terr"][dtc]
    known = tix >= 0
    realised["territory_month"] = _cells_truth(
        terr_ids[tix[known]].astype(object), _periods(utc[known], "month"), y1[known], y0[known],
        _first(first_terr, "month"), wave_terr)
    for v in realised.values():
        for k in ("att_log", "att_usd", "relative"):
            v[k] = _r(v[k])
        for b in v["by_wave"].values():
            b["att_log"], b["att_usd"] = _r(b["att_log"]), _r(b["att_usd"])
    never_terr = sorted(t for t, s in terr_state.items() if s in CAMPAIGN_NEVER)
    campaign = {
        "what": "regional consumer campaign; multiplies the DTC (Shopify, untagged) order rate of "
                "the wave's states by 1 + uplift, the uplift ramping linearly from 0 on the start "
                f"day to uplift_max after {CAMPAIGN_RAMP_DAYS} days",
        "channel": "dtc",
        "ramp_days": CAMPAIGN_RAMP_DAYS,
        "waves": waves,
        "never_treated": {"states": list(CAMPAIGN_NEVER), "territories": never_terr},
        "extra_orders": int((o["campaign"] & real).sum()),
        "extra_revenue": _r(total[dtc & o["campaign"]].sum(), 2),
        "outcome": "log1p of DTC revenue per unit and period (and revenue in USD)",
        "realised": realised,
    }

    # ---- visits ----------------------------------------------------------------------------
    vmask = visits["direct"]
    n_vis = int(vmask.sum())
    vis_rev = counted & real & (o["visit"] >= 0)
    extra_rev = float(total[vis_rev].sum())
    per_acc = np.bincount(o["acc"][vis_rev], weights=total[vis_rev], minlength=len(acc_ids))
    visits_out = {
        "what": "each visit to a direct wholesale customer (Type 'Customer - Direct') brings "
                f"Poisson({visit_mean:g}) extra wholesale orders, each 1-{VISIT_WINDOW_DAYS} days "
                "after the visit (weekends moved to Monday, none after the history's end); "
                "reps visit by tier, which also drives the base order rate (confounding)",
        "window_days": VISIT_WINDOW_DAYS,
        "expected_extra_orders_per_visit": _r(visit_mean),
        "population": "Customer - Direct",
        "realised": {
            "visits": n_vis,
            "extra_orders": int(((o["visit"] >= 0) & real & inside).sum()),
            "extra_revenue": _r(extra_rev, 2),
            "per_visit_usd": _r(extra_rev / max(n_vis, 1), 4),
            "accounts": int(acc_direct.sum()),
            "accounts_with_extra_revenue": int((per_acc > 0).sum()),
        },
    }

    # ---- realignment -----------------------------------------------------------------------
    rl = realign
    moved = rl.moved
    moved_direct = moved & acc_direct
    dip_s = (rl.day - np.datetime64(0, "D")).astype(np.int64) * 86400
    dip_e = (rl.dip_end - np.datetime64(0, "D")).astype(np.int64) * 86400
    acc = o["acc"]
    in_dip = o["wholesale"] & (o["utc"] >= dip_s) & (o["utc"] < dip_e) & counted
    in_dip &= moved_direct[np.maximum(acc, 0)] & (acc >= 0)
    lost = float(total[in_dip & o["ghost"]].sum())
    y0_dip = float(total[in_dip].sum())
    cells = int(moved_direct.sum()) * DIP_MONTHS
    changes = []
    changed = rl.prev_terr_std != terr_of_std
    for t, g in zip(rl.receivers.tolist(), rl.givers.tolist()):
        z = np.flatnonzero(changed & (terr_of_std == t))
        changes.append({"territory": str(terr_ids[t]), "from_territory": str(terr_ids[g]),
                        "zips": [str(v) for v in std_zip[z].tolist()]})
    mi = np.flatnonzero(moved)
    realignment = {
        "what": "on `date` the ZIP strips below moved from `from_territory` to `territory` (the "
                "current alignment); accounts there owned by the territory's rep changed owner, "
                f"and {int(DIP * 100)}% of their wholesale orders in the {DIP_MONTHS} months from "
                "`date` were lost (hand-over dip); activities and opportunities before `date` "
                "carry the previous owner",
        "date": str(rl.day),
        "dip_end": str(rl.dip_end),
        "dip_share_of_orders": DIP,
        "dip_months": DIP_MONTHS,
        "changes": changes,
        "moved_accounts": [{"account": str(acc_ids[i]), "from_owner": str(rl.prev_owner[i]),
                            "to_owner": str(rl.owner[i])} for i in mi.tolist()],
        "realised": {
            "moved_accounts": int(moved.sum()),
            "moved_direct_accounts": int(moved_direct.sum()),
            "lost_orders": int((in_dip & o["ghost"]).sum()),
            "lost_revenue": _r(lost, 2),
            "att_usd_per_account_month": _r(-lost / max(cells, 1), 4),
            "relative": _r(-lost / y0_dip if y0_dip else 0.0),
        },
    }
    return {
        "company": "Lumière & Co.", "seed": int(seed), "size": size, "today": today.isoformat(),
        "history": {"start": str(t_start), "end": str(t_end),
                    "periods": "calendar months / ISO weeks (Monday) of created_at in UTC, "
                               "orders with start <= created_at < end (UTC)"},
        "revenue": "sum of order Total (USD) over orders whose Financial Status is paid or "
                   "partially_refunded",
        "campaign": campaign,
        "visits": visits_out,
        "realignment": realignment,
    }


def write_truth(path: Path, truth: dict) -> None:
    """Write ``truth`` as YAML (C dumper where available: the moved-account list is long)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(truth, Dumper=dumper, sort_keys=False, allow_unicode=True,
                              width=100, default_flow_style=None), encoding="utf-8")


def load_truth(path: str | Path) -> dict:
    """Read a ``truth.yaml`` written by :func:`territorium.data.demo.generate`."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)
