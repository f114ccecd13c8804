"""Analytics over the API, synchronous with limits: account potential and white space
(``territorium potential``), reconciled sales forecasts (``territorium forecast``), and impact
analyses (2×2 DiD, Callaway–Sant'Anna staggered DiD) on a revenue panel built from the stored
orders (``plan.panels``). The answers are JSON tables; work beyond the limits is refused with
a 413 that says which limit and how to run it from the command line instead."""
from __future__ import annotations

import datetime as dt
import json
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import Field

from territorium.api import schemas as S
from territorium.api.deps import Eng, require
from territorium.plan import plans
from territorium.plan.access import EDITORS

router = APIRouter(prefix="/api/analytics", tags=["analytics"], dependencies=[require(*EDITORS)])

#: limits of the synchronous endpoints (beyond them: the command line)
MAX_ACCOUNTS = 50_000
MAX_PANEL_CELLS = 200_000
MAX_ROWS = 5_000


def _records(df, limit: int = MAX_ROWS) -> list[dict]:
    if df is None or not len(df):
        return []
    return json.loads(df.head(limit).to_json(orient="records", date_format="iso", default_handler=str))


def _too_big(what: str, n: int, limit: int, command: str) -> HTTPException:
    return HTTPException(413, f"{what}: {n:,} is over the API's limit of {limit:,}; run `territorium {command}` "
                              "instead")


# --------------------------------------------------------------------------------- potential
class PotentialIn(S.Request):
    target: Literal["auto", "crm", "spend"] = "auto"
    quantile: float = Field(0.9, gt=0.5, lt=1)
    interval: tuple[float, float] = Field((0.1, 0.9), description="LOW, HIGH quantiles")
    folds: int = Field(3, ge=2, le=10, description="cross-fitting folds")
    radius_km: float = Field(40.0, gt=0, le=1000)
    top: int = Field(10, ge=1, le=100)
    max_iter: int = Field(100, ge=5, le=500, description="boosting iterations (a bound on the time)")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    limit: int = Field(1000, ge=1, le=MAX_ROWS, description="account rows returned (highest white space first)")
    offset: int = Field(0, ge=0, le=10_000_000, description="account rows skipped")


@router.post("/potential", summary="Account potential and white space (quantile gradient boosting)")
def potential(body: PotentialIn, eng: Eng):
    """Per account potential with its interval and white space, the territory ranking and the
    uncovered areas, with the model's own check (cross-fitted coverage, rank correlations)."""
    from territorium.plan.analytics import account_frame, run_potential
    from territorium.plan.workspace import Workspace, WorkspaceError

    lo, hi = body.interval
    if not 0 < lo < hi < 1:
        raise HTTPException(422, "interval: two quantiles 0 < LOW < HIGH < 1")
    ws = Workspace(engine=eng)
    try:
        frame = account_frame(ws)
        n = len(frame.accounts)
        if n > MAX_ACCOUNTS:
            raise _too_big("accounts", n, MAX_ACCOUNTS, "potential")
        rep = run_potential(ws, frame=frame, target=body.target, quantile=body.quantile, interval=(lo, hi),
                            folds=body.folds, radius_km=body.radius_km, top=body.top, n_threads=1, seed=body.seed,
                            params={"max_iter": body.max_iter})
    except (WorkspaceError, ValueError) as exc:
        raise plans.PlanError(str(exc)) from None
    acc = rep.accounts.sort_values("white_space", ascending=False)
    c = rep.check
    return {"target": rep.target, "quantile": rep.quantile, "interval": list(rep.interval),
            "check": {k: (None if v != v else v) for k, v in c.__dict__.items()},
            "territories": _records(rep.territories), "sites": _records(rep.sites),
            "accounts": S.Page[dict](items=_records(acc.iloc[body.offset:], body.limit), total=len(acc),
                                     limit=body.limit, offset=body.offset).model_dump(),
            "notes": list(rep.notes)}


# --------------------------------------------------------------------------------- forecast
class ForecastIn(S.Request):
    level: Literal["territory", "state", "total", "all"] = "territory"
    horizon: int = Field(6, ge=1, le=24)
    origins: int = Field(3, ge=3, le=12)
    coverage: float = Field(0.8, gt=0.5, lt=1)
    method: Literal["mint_shrink", "wls_var", "wls_struct", "ols"] = "mint_shrink"
    models: list[Literal["snaive", "hw_add", "hw_mul", "holt_pooled", "sarima_drift", "sarima_ar1",
                         "sarima_airline"]] = Field(["snaive", "sarima_drift"], min_length=1, max_length=7)
    seed: int = Field(0, ge=0, le=2**31 - 1)


@router.post("/forecast", summary="Monthly sales forecasts, reconciled over the hierarchy")
def forecast(body: ForecastIn, eng: Eng):
    """Every cell, territory, state and the total forecast and reconciled, with intervals
    calibrated on a rolling backtest; the coverage per level and the backtest per series."""
    from territorium.plan.analytics import monthly_sales, run_forecast
    from territorium.plan.workspace import Workspace, WorkspaceError

    ws = Workspace(engine=eng)
    try:
        series = monthly_sales(ws)
        cells = series.bottom.shape[0] * series.bottom.shape[1]
        if cells > MAX_PANEL_CELLS:
            raise _too_big("months × series", cells, MAX_PANEL_CELLS, "forecast")
        hf, _ = run_forecast(ws, series=series, horizon=body.horizon, origins=body.origins, level=body.coverage,
                             method=body.method, models=list(dict.fromkeys(body.models)), n_jobs=1, seed=body.seed)
    except (WorkspaceError, ValueError) as exc:
        raise plans.PlanError(str(exc)) from None
    fc = hf.forecast if body.level == "all" else hf.forecast[hf.forecast["level"] == body.level]
    se = hf.series if body.level == "all" else hf.series[hf.series["level"] == body.level]
    return {"level": body.level, "method": hf.method, "horizon": body.horizon, "coverage": _records(hf.coverage),
            "series": _records(se), "forecast": _records(fc), "notes": list(hf.notes)}


# --------------------------------------------------------------------------------- impact
class ImpactIn(S.Request):
    method: Literal["did", "staggered"] = Field("did", description="2×2 DiD, or Callaway–Sant'Anna for staggered "
                                                                  "adoption")
    level: Literal["state", "zip", "territory"] = Field("state", description="panel unit (territory: imported "
                                                                            "alignment)")
    freq: Literal["month", "week"] = "month"
    outcome: Literal["revenue", "orders", "log_revenue"] = "revenue"
    channel: Literal["all", "dtc", "wholesale"] = "all"
    start: dt.date | None = Field(None, description="window start (default: first order)")
    end: dt.date | None = Field(None, description="window end, exclusive (default: after the last order)")
    treated: list[str] | None = Field(None, min_length=1, max_length=10_000,
                                      description="did: the treated units (with treated_from)")
    treated_from: dt.date | None = Field(None, description="did: first treated period")
    first_treat: dict[str, dt.date] | None = Field(None, min_length=1, max_length=10_000,
                                                   description="staggered: unit → first treated period")
    control: Literal["never", "notyet"] = "never"
    alpha: float = Field(0.05, gt=0, lt=0.5)
    seed: int = Field(0, ge=0, le=2**31 - 1)


def _panel(ws, body: ImpactIn):
    import pandas as pd

    from territorium.plan.panels import period_start, revenue_panel

    p = revenue_panel(ws, level=body.level, freq=body.freq, start=body.start, end=body.end, channel=body.channel)
    if len(p) > MAX_PANEL_CELLS:
        raise _too_big("panel rows (units × periods)", len(p), MAX_PANEL_CELLS, "impact")
    units = set(p["unit"])
    named = set(body.treated or ()) | set(body.first_treat or {})
    unknown = sorted(named - units)
    if unknown:
        raise plans.NotFound(f"no {body.level} {', '.join(repr(u) for u in unknown[:5])} with orders in the window")
    if body.method == "staggered":
        if not body.first_treat:
            raise HTTPException(422, "first_treat: staggered needs unit → first treated period")
        first = {u: period_start(pd.Series([pd.Timestamp(d)]), body.freq)[0] for u, d in body.first_treat.items()}
        p["first_treat"] = p["unit"].map(first)
        p["first_treat"] = p["first_treat"].where(p["first_treat"].notna(), pd.NaT)
        return p, {"first_treat": "first_treat"}
    if not body.treated or body.treated_from is None:
        raise HTTPException(422, "treated, treated_from: did needs the treated units and the first treated period")
    start = period_start(pd.Series([pd.Timestamp(body.treated_from)]), body.freq)[0]
    return p, {"treated_units": list(body.treated), "start": start}


@router.post("/impact", summary="Impact of an intervention on stored revenue (DiD or staggered DiD)")
def impact(body: ImpactIn, eng: Eng):
    """The estimate with its interval and the diagnostics (pre-trend test, event study), on a
    balanced revenue panel of the stored orders."""
    from territorium.analytics.causal import callaway_santanna, did
    from territorium.plan.workspace import Workspace, WorkspaceError

    ws = Workspace(engine=eng)
    try:
        panel, who = _panel(ws, body)
        if body.method == "did":
            r = did(panel, unit="unit", time="period", outcome=body.outcome, alpha=body.alpha, **who)
        else:
            r = callaway_santanna(panel, unit="unit", time="period", outcome=body.outcome, control=body.control,
                                  alpha=body.alpha, seed=body.seed, **who)
    except (WorkspaceError, ValueError) as exc:
        raise plans.PlanError(str(exc)) from None
    out = json.loads(json.dumps(r.to_dict(), default=str))
    out.update({"method": body.method, "level": body.level, "units": int(panel["unit"].nunique()),
                "periods": int(panel["period"].nunique()), "summary": r.summary(),
                "table": _records(r.table())})
    return out
