"""Quotas and goals: top-down allocation, growth caps, seasonality, rounding, backtest.

Pure functions over arrays (no files, no database, no printing).

Top-down
    ``Q_k = Q · [w · S_k / ΣS + (1 − w) · P_k / ΣP]`` — S: last period's sales (history),
    P: potential, w: the weight of history.
Growth caps and floors
    Relative to last period's sales L_k: ``L_k·(1 + floor) ≤ Q_k ≤ L_k·(1 + cap)``.
    :func:`allocate` clamps the territories that break a bound and redistributes the
    remainder among the others in proportion to their shares, until nothing moves. It
    clamps the side with the larger total violation first (the Bitran–Hax rule), which
    makes the result the exact solution ``Q_k = clip(λ·share_k, low_k, high_k)`` with
    ``Σ Q_k = Q``. Territories with no sales last period have no growth bound.
Rounding
    :func:`round_total`: largest remainder to a unit (e.g. $1,000), total kept exactly.
Seasonality
    :func:`seasonality`: monthly shares learnt from order history (multiplicative calendar-
    month factors with a log-linear trend when two years or more are available, plain mean
    share per calendar month otherwise), smoothed towards neighbouring months.
Backtest
    :func:`backtest`: allocate year Y from Y−1 data, score attainment actual_Y / quota_Y per
    territory (quantiles, share within 90–110 %, Gini), for a grid of weights; best weight.
Other goals
    Counts (visits, new accounts) are allocated like revenue with their own history and
    potential drivers (:func:`allocate` with ``round_to=1``). Rates (conversion rate, AOV)
    are never summed: :func:`rate_goals` scales each territory's history to the company
    target so the volume-weighted mean of the goals equals the target exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "QuotaError", "QuotaInfeasible", "Allocation", "shares", "allocate", "round_total", "Seasonality",
    "seasonality", "monthly_split", "bottom_up", "gini", "attainment_stats", "Backtest", "backtest",
    "rate_goals",
]


class QuotaError(ValueError):
    """Inputs a quota cannot be computed from (message written for the user)."""


class QuotaInfeasible(QuotaError):
    """The caps / floors cannot hold the company number; the message says by how much."""


def _arr(x, n: int | None = None, name: str = "value") -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0 and n is not None:
        a = np.full(n, float(a))
    if n is not None and len(a) != n:
        raise QuotaError(f"{name}: expected {n} values, got {len(a)}")
    if np.isnan(a).any():
        raise QuotaError(f"{name}: missing values at positions {np.flatnonzero(np.isnan(a))[:10].tolist()}")
    return a


def shares(history, potential, weight: float) -> np.ndarray:
    """``w · S/ΣS + (1 − w) · P/ΣP`` (sums to 1).

    >>> shares([10, 30], [1, 1], 0.5).tolist()
    [0.375, 0.625]
    """
    if not 0 <= weight <= 1:
        raise QuotaError(f"weight must be between 0 and 1, not {weight}")
    s = _arr(history, name="history")
    p = _arr(potential, len(s), "potential")
    if (s < 0).any() or (p < 0).any():
        raise QuotaError("history and potential must be non-negative")
    out = np.zeros(len(s))
    if weight > 0:
        if s.sum() <= 0:
            raise QuotaError("history sums to zero: use weight 0 (potential only)")
        out += weight * s / s.sum()
    if weight < 1:
        if p.sum() <= 0:
            raise QuotaError("potential sums to zero: use weight 1 (history only)")
        out += (1 - weight) * p / p.sum()
    return out


@dataclass(frozen=True)
class Allocation:
    """A quota per territory.

    ``quota`` sums to ``total`` exactly (after rounding when ``unit`` is set); ``raw`` is the
    unbounded ``Q · share``; ``bound`` says which bound holds a territory (``cap``,
    ``floor`` or ``""``); ``iterations`` counts clamp-and-redistribute rounds.
    """

    quota: np.ndarray
    raw: np.ndarray
    share: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    bound: np.ndarray
    total: float
    weight: float
    iterations: int
    unit: float | None = None
    notes: tuple[str, ...] = ()

    def frame(self, ids: Sequence[str] | None = None, last: Sequence[float] | None = None) -> pd.DataFrame:
        ids = list(ids) if ids is not None else [f"T{i + 1:02d}" for i in range(len(self.quota))]
        df = pd.DataFrame({"territory": ids, "share": self.share, "unbounded": self.raw, "quota": self.quota,
                           "floor": self.lower, "cap": self.upper, "bound": self.bound})
        if last is not None:
            last = np.asarray(last, float)
            with np.errstate(divide="ignore", invalid="ignore"):
                df.insert(3, "last_period", last)
                df["growth"] = np.where(last > 0, self.quota / last - 1, np.nan)
        return df


def _bounds(n: int, last, cap, floor) -> tuple[np.ndarray, np.ndarray]:
    lower = np.zeros(n)
    upper = np.full(n, np.inf)
    if cap is None and floor is None:
        return lower, upper
    if last is None:
        raise QuotaError("caps and floors need last period's sales per territory")
    L = _arr(last, n, "last period sales")
    has = L > 0
    if cap is not None:
        c = _arr(cap, n, "cap")
        if (c < -1).any():
            raise QuotaError("a cap below -100% is impossible")
        upper = np.where(has, L * (1 + c), np.inf)
    if floor is not None:
        f = _arr(floor, n, "floor")
        lower = np.where(has, np.maximum(L * (1 + f), 0.0), 0.0)
    bad = np.flatnonzero(lower > upper + 1e-9)
    if len(bad):
        raise QuotaInfeasible(f"territory position {int(bad[0])}: floor {lower[bad[0]]:,.0f} above cap "
                              f"{upper[bad[0]]:,.0f}")
    return lower, upper


def _clamp(total: float, s: np.ndarray, lower: np.ndarray, upper: np.ndarray, max_iter: int = 10_000):
    """Clamp and redistribute until stable (fixes the side with the larger violation first)."""
    n = len(s)
    x = np.zeros(n)
    fixed = np.zeros(n, dtype=bool)
    bound = np.full(n, "", dtype=object)
    it = 0
    while it < max_iter:
        it += 1
        free = ~fixed
        rem = total - x[fixed].sum()
        sf = s[free].sum()
        if sf > 0:
            x[free] = rem * s[free] / sf
        elif free.any():
            x[free] = rem / free.sum()
        over = free & (x > upper + 1e-9 * np.maximum(1, np.abs(upper)))
        under = free & (x < lower - 1e-9 * np.maximum(1, np.abs(lower)))
        v_over = float((x[over] - upper[over]).sum()) if over.any() else 0.0
        v_under = float((lower[under] - x[under]).sum()) if under.any() else 0.0
        if v_over == 0 and v_under == 0:
            break
        if v_over >= v_under:
            x[over] = upper[over]
            fixed |= over
            bound[over] = "cap"
        else:
            x[under] = lower[under]
            fixed |= under
            bound[under] = "floor"
    return x, bound, it


def round_total(values, unit: float, *, total: float | None = None, lower=None, upper=None) -> np.ndarray:
    """Round to multiples of ``unit`` keeping the total exactly (largest remainder).

    Each value is floored to the unit; the units left over go to the largest remainders
    (first to values that flooring pushed below ``lower``, never above ``upper`` while
    another candidate remains). When ``total`` is not a multiple of ``unit``, the part below
    one unit goes to the value with the largest remainder left, so the total is still exact.

    >>> round_total([333.3, 333.3, 333.4], 100).tolist()
    [300.0, 300.0, 400.0]
    >>> float(sum(round_total([1234.5, 2345.6, 3456.7], 1000, total=7036.8)))
    7036.8
    """
    v = _arr(values, name="values")
    if unit <= 0:
        raise QuotaError("rounding unit must be positive")
    n = len(v)
    if n == 0:
        return v
    tot = float(v.sum()) if total is None else float(total)
    lo = np.zeros(n) if lower is None else _arr(lower, n, "lower")
    hi = np.full(n, np.inf) if upper is None else _arr(upper, n, "upper")
    q = v / unit
    fl = np.floor(q + 1e-9)
    rem = q - fl
    n_units = math.floor(tot / unit + 1e-9)
    extra = int(round(n_units - fl.sum()))
    out = fl.copy()
    if extra > 0:
        below = (fl * unit) < lo - 1e-9
        fits = ((fl + 1) * unit) <= hi + 1e-9
        # priority: below the floor, then fits under the cap, then the largest remainder
        order = np.lexsort((np.arange(n), -rem, ~fits, ~below))
        take = np.tile(order, extra // n + 1)[:extra]
        np.add.at(out, take, 1)
    elif extra < 0:
        order = np.lexsort((np.arange(n), rem))
        take = [i for i in order if out[i] > 0][: -extra]
        out[take] -= 1
    res = out * unit
    residual = tot - n_units * unit
    if abs(residual) > 1e-9 * max(1.0, abs(tot)):
        j = int(np.argmax(q - out))
        res[j] += residual
    return res


def allocate(total: float, history, potential, weight: float = 0.5, *, last=None, cap=None, floor=None,
             round_to: float | None = None) -> Allocation:
    """Top-down quota per territory.

    Parameters
    ----------
    total : the company number Q.
    history : S, last period's sales (or visits, new accounts, ...) per territory.
    potential : P, the potential driver per territory.
    weight : w, weight of history (1 − w on potential).
    last : last period's sales for the growth bounds (default ``history``).
    cap, floor : growth bounds relative to ``last`` (0.30 = at most +30 %, -0.10 = at least
        -10 %); a scalar or one per territory; None for no bound.
    round_to : round to this unit keeping the total exactly (e.g. 1000).

    Raises
    ------
    QuotaInfeasible
        When the caps cannot hold Q (or the floors exceed it), with the amount missing.

    Examples
    --------
    >>> a = allocate(1000, [100, 300], [1, 1], 1.0, cap=[0.5, 10])
    >>> a.raw.tolist(), a.quota.tolist(), a.bound.tolist()
    ([250.0, 750.0], [150.0, 850.0], ['cap', ''])
    >>> allocate(1000, [100, 100, 200], [1, 1, 2], 0.5, cap=1.0)
    Traceback (most recent call last):
    ...
    territorium.analytics.quota.QuotaInfeasible: the caps allow at most 800 but the company number is 1,000: 200 short; raise the caps or lower the total
    """
    s_hist = _arr(history, name="history")
    n = len(s_hist)
    if n == 0:
        raise QuotaError("no territories to allocate to")
    if not np.isfinite(total) or total < 0:
        raise QuotaError(f"the company number must be a non-negative number, not {total}")
    sh = shares(s_hist, potential, weight)
    lower, upper = _bounds(n, s_hist if last is None else last, cap, floor)
    notes = []
    if lower.sum() > total + 1e-9 * max(1.0, total):
        raise QuotaInfeasible(f"the floors need at least {lower.sum():,.0f} but the company number is "
                              f"{total:,.0f}: {lower.sum() - total:,.0f} over; lower the floors or raise the total")
    if upper.sum() < total - 1e-9 * max(1.0, total):
        raise QuotaInfeasible(f"the caps allow at most {upper.sum():,.0f} but the company number is "
                              f"{total:,.0f}: {total - upper.sum():,.0f} short; raise the caps or lower the total")
    x, bound, it = _clamp(float(total), sh, lower, upper)
    q = x
    if round_to:
        q = round_total(x, round_to, total=total, lower=lower, upper=upper)
        if ((q < lower - 1e-6) | (q > upper + 1e-6)).any():
            notes.append(f"rounding to {round_to:,.0f} moved some territories past their bound by less than one unit")
    return Allocation(q, total * sh, sh, lower, upper, bound, float(total), float(weight), it,
                      round_to, tuple(notes))


# ------------------------------------------------------------------------- seasonality
@dataclass(frozen=True)
class Seasonality:
    """Share of the year per calendar month (``shares[0]`` = January), summing to 1."""

    shares: np.ndarray
    method: str
    months_used: int
    first_month: str
    last_month: str
    trend_per_year: float | None = None

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"month": np.arange(1, 13), "share": self.shares})


def seasonality(dates, amounts, *, smoothing: float = 0.2) -> Seasonality:
    """Monthly seasonality learnt from orders.

    Only complete calendar months are used (the first month is dropped when the data start
    after its 1st, the last when they end before its last day). With 24 complete
    months or more, ``log(month total) = a + b·t + γ[calendar month]`` is fitted by least
    squares so growth does not leak into the shares (later months of a growing business are
    not mistaken for a seasonal peak); the shares are ``exp(γ)`` normalised. With 12–23
    months the share of each calendar month is averaged over the 12-month windows available.
    ``smoothing`` ∈ [0, 1] blends each share with the mean of its two neighbours (circular),
    then renormalises.

    Raises
    ------
    QuotaError
        With fewer than 12 complete months.
    """
    if not 0 <= smoothing <= 1:
        raise QuotaError("smoothing must be between 0 and 1")
    d = pd.to_datetime(pd.Series(dates), errors="coerce")
    a = pd.to_numeric(pd.Series(amounts), errors="coerce").fillna(0.0).to_numpy(float)
    ok = d.notna().to_numpy()
    d, a = d[ok], a[ok]
    if len(d) == 0:
        raise QuotaError("no dated orders to learn seasonality from")
    per = d.dt.to_period("M")
    monthly = pd.Series(a, index=per.to_numpy()).groupby(level=0).sum()
    full = pd.period_range(per.min(), per.max(), freq="M")
    monthly = monthly.reindex(full, fill_value=0.0)
    start, end = d.min(), d.max()
    if start.day > 1:  # first month incomplete
        monthly = monthly.iloc[1:]
    if end.day < end.days_in_month:
        monthly = monthly.iloc[:-1]
    m = len(monthly)
    if m < 12:
        raise QuotaError(f"seasonality needs 12 complete months of orders; found {m}")
    y = monthly.to_numpy(float)
    cal = np.asarray([p.month for p in monthly.index]) - 1
    trend = None
    if m >= 24 and (y > 0).all():
        t = np.arange(m, dtype=float)
        X = np.zeros((m, 13))
        X[:, 0] = t
        X[np.arange(m), 1 + cal] = 1.0
        coef, *_ = np.linalg.lstsq(X, np.log(y), rcond=None)
        g = coef[1:]
        s = np.exp(g - g.max())
        method = "log-linear trend + calendar-month factors"
        trend = float(np.exp(coef[0] * 12) - 1)
    else:
        wins = []
        for i in range(0, m - 11):
            w = y[i:i + 12]
            if w.sum() > 0:
                sh = np.zeros(12)
                sh[cal[i:i + 12]] = w / w.sum()
                wins.append(sh)
        if not wins:
            raise QuotaError("no 12-month window with orders")
        s = np.mean(wins, axis=0)
        method = f"mean share per calendar month over {len(wins)} twelve-month window(s)"
    s = s / s.sum()
    if smoothing > 0:
        s = (1 - smoothing) * s + smoothing * (np.roll(s, 1) + np.roll(s, -1)) / 2
        s = s / s.sum()
    return Seasonality(s, method, m, str(monthly.index[0]), str(monthly.index[-1]), trend)


def monthly_split(quota, season: Seasonality | Sequence[float], *, ids: Sequence[str] | None = None,
                  unit: float | None = None, start_month: int = 1) -> pd.DataFrame:
    """Quota per territory × month (columns in fiscal order from ``start_month``).

    With ``unit``, each territory's months are rounded with :func:`round_total`, so every
    row still sums to its territory's quota exactly.
    """
    q = _arr(quota, name="quota")
    sh = np.asarray(season.shares if isinstance(season, Seasonality) else season, float)
    if len(sh) != 12 or abs(sh.sum() - 1) > 1e-9:
        raise QuotaError("seasonality needs 12 shares summing to 1")
    order = [(start_month - 1 + i) % 12 for i in range(12)]
    cols = [pd.Timestamp(2000, k + 1, 1).strftime("%b") for k in order]
    vals = np.outer(q, sh[order])
    if unit:
        vals = np.vstack([round_total(vals[i], unit, total=q[i]) for i in range(len(q))])
    ids = list(ids) if ids is not None else [f"T{i + 1:02d}" for i in range(len(q))]
    df = pd.DataFrame(vals, columns=cols)
    df.insert(0, "territory", ids)
    return df


def bottom_up(plans: pd.DataFrame, account_territory: pd.Series, *, plan_column: str = "plan") -> pd.DataFrame:
    """Sum of account-level plan numbers per territory.

    ``plans``: account_id, plan; ``account_territory``: account_id → territory. Returns
    territory, plan, accounts; plans of accounts without a territory are one row with
    territory ``(unassigned)`` so nothing is lost.
    """
    if "account_id" not in plans.columns or plan_column not in plans.columns:
        raise QuotaError(f"account plans need columns account_id and {plan_column}")
    p = plans[["account_id", plan_column]].copy()
    p["account_id"] = p["account_id"].astype(str)
    p[plan_column] = pd.to_numeric(p[plan_column], errors="coerce")
    bad = p[plan_column].isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise QuotaError(f"account plan row {i + 2}: {plan_column} is not a number")
    at = account_territory.copy()
    at.index = at.index.astype(str)
    p["territory"] = p["account_id"].map(at).fillna("(unassigned)")
    out = p.groupby("territory", as_index=False).agg(plan=(plan_column, "sum"), accounts=("account_id", "count"))
    return out.sort_values("territory").reset_index(drop=True)


# ---------------------------------------------------------------------------- backtest
def gini(x) -> float:
    """Gini coefficient: mean absolute difference over twice the mean (0 = all equal).

    >>> round(gini([1, 1, 1, 1]), 6), round(gini([0, 0, 0, 4]), 6)
    (0.0, 0.75)
    """
    v = _arr(x, name="values")
    n = len(v)
    if n == 0 or v.mean() == 0:
        return 0.0
    s = np.sort(v)
    # Σ_i Σ_j |x_i − x_j| = 2 Σ_i (2i − n − 1) x_(i), i = 1..n
    i = np.arange(1, n + 1)
    return float(2 * np.sum((2 * i - n - 1) * s) / (2 * n * n * v.mean()))


def attainment_stats(actual, quota, *, band: tuple[float, float] = (0.9, 1.1)) -> dict:
    """Attainment = actual / quota per territory: quantiles, share within ``band``, Gini."""
    a = _arr(actual, name="actual")
    q = _arr(quota, len(a), "quota")
    ok = q > 0
    att = a[ok] / q[ok]
    if len(att) == 0:
        raise QuotaError("no territory has a positive quota")
    qs = np.quantile(att, [0.1, 0.25, 0.5, 0.75, 0.9])
    within = (att >= band[0] - 1e-12) & (att <= band[1] + 1e-12)
    return {"territories": int(len(att)), "mean": float(att.mean()), "p10": float(qs[0]), "p25": float(qs[1]),
            "median": float(qs[2]), "p75": float(qs[3]), "p90": float(qs[4]),
            "min": float(att.min()), "max": float(att.max()), "share_90_110": float(within.mean()),
            "gini": gini(att)}


@dataclass(frozen=True)
class Backtest:
    """Scores per weight (``table``), attainment per territory and weight, the best weight."""

    table: pd.DataFrame
    attainment: pd.DataFrame
    best_weight: float
    total: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def backtest(prev_sales, potential, actual, *, weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
             total: float | None = None, cap=None, floor=None, ids: Sequence[str] | None = None) -> Backtest:
    """Allocate year Y from Y−1 data for each weight and score it against what happened.

    Parameters
    ----------
    prev_sales : sales per territory in Y−1 (the history S, and the base of caps/floors).
    potential : P per territory as known at the start of Y.
    actual : sales per territory in Y.
    total : the company quota of Y; default the actual total of Y, so the test measures how
        well the *split* predicts where sales happen, not how good the company forecast was.
    cap, floor : growth bounds as in :func:`allocate`.

    The best weight has the largest share of territories within 90–110 % attainment; ties go
    to the lower Gini of attainment, then to the earlier weight in the grid.
    """
    s = _arr(prev_sales, name="prev_sales")
    a = _arr(actual, len(s), "actual")
    tot = float(a.sum()) if total is None else float(total)
    ids = list(ids) if ids is not None else [f"T{i + 1:02d}" for i in range(len(s))]
    rows, att_rows, notes = [], [], []
    for w in weights:
        try:
            al = allocate(tot, s, potential, w, cap=cap, floor=floor)
        except QuotaError as exc:
            notes.append(f"w={w:g}: {exc}")
            continue
        st = attainment_stats(a, al.quota)
        rows.append({"weight": float(w), **st})
        with np.errstate(divide="ignore", invalid="ignore"):
            att_rows.append(pd.DataFrame({"weight": float(w), "territory": ids, "quota": al.quota, "actual": a,
                                          "attainment": np.where(al.quota > 0, a / al.quota, np.nan)}))
    if not rows:
        raise QuotaError("no weight could be backtested: " + "; ".join(notes))
    table = pd.DataFrame(rows)
    pick = table.assign(_i=np.arange(len(table))).sort_values(["share_90_110", "gini", "_i"],
                                                              ascending=[False, True, True])
    best = float(pick["weight"].iloc[0])
    return Backtest(table, pd.concat(att_rows, ignore_index=True), best, tot, tuple(notes))


# ------------------------------------------------------------------------- rate goals
def rate_goals(target: float, history_rate, volume, weight: float = 0.5) -> np.ndarray:
    """Goals for a rate (conversion rate, AOV) per territory.

    ``r_k = target · [w · h_k / h̄ + (1 − w)]`` with h_k the territory's historical rate and
    h̄ = Σ v_k h_k / Σ v_k its volume-weighted company mean (v: closed opportunities for a
    conversion rate, orders for AOV). So the volume-weighted mean of the goals is the target
    exactly, a territory that converted above average keeps a proportionally higher goal
    (w = 1) or everyone gets the target (w = 0). Territories without history get the target.

    >>> g = rate_goals(0.30, [0.2, 0.4], [100, 100], weight=1.0)
    >>> g.round(12).tolist(), round(float(np.dot(g, [100, 100]) / 200), 12)
    ([0.2, 0.4], 0.3)
    """
    if not 0 <= weight <= 1:
        raise QuotaError(f"weight must be between 0 and 1, not {weight}")
    h = np.asarray(history_rate, float)
    v = _arr(volume, len(h), "volume")
    has = ~np.isnan(h) & (v > 0)
    if not has.any():
        return np.full(len(h), float(target))
    hbar = float(np.sum(v[has] * h[has]) / v[has].sum())
    if hbar <= 0:
        return np.full(len(h), float(target))
    rel = np.where(has, np.nan_to_num(h) / hbar, 1.0)
    # renormalise so the volume-weighted mean is exact even when some territories lack history
    r = weight * rel + (1 - weight)
    vw = np.where(has, v, 0.0)
    if vw.sum() > 0:
        r = r / (np.dot(vw, r) / vw.sum())
    return float(target) * r
