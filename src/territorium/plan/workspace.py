"""The workspace: the imported data of one company, turned into units with measures.

This is the service layer between the store (what was imported) and the engine (arrays):
it builds or loads the geography, places accounts and orders in units, aggregates the
measures and maps the current alignment onto the units.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from territorium.geo import build_units, locate
from territorium.measures import WorkloadProfile, load_profile, unit_measures
from territorium.model import Units
from territorium.store import db as store

__all__ = ["Workspace", "UnitLoad", "WorkspaceError"]


class WorkspaceError(Exception):
    """Something the user must fix in the workspace (message written for the user)."""


@dataclass(frozen=True)
class UnitLoad:
    """Units with measures plus what could not be placed."""

    units: Units
    accounts: pd.DataFrame  # the accounts with their unit position in column ``unit``
    unplaced_accounts: int
    unplaced_orders: int
    window: tuple[dt.datetime, dt.datetime]
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: accounts outside the US geography per country (ISO code), placed or not (custom units)
    accounts_abroad: dict[str, int] = field(default_factory=dict)


class Workspace:
    """Imported data in one database (SQLite file by default, PostgreSQL by URL).

    Reading never creates a workspace: a SQLite file that does not exist raises
    :class:`territorium.store.NoWorkspace` ("no workspace at ...") unless ``create=True``.
    """

    def __init__(self, url: str | None = None, *, engine: sa.Engine | None = None, create: bool = False):
        self.url = url
        self.create = create
        self._engine: sa.Engine | None = engine
        if engine is not None:
            store.upgrade(engine)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = store.engine(self.url, create=self.create)
            store.upgrade(self._engine)
        return self._engine

    def counts(self) -> dict[str, int]:
        return store.table_counts(self.engine)

    def table(self, name: str) -> pd.DataFrame:
        return store.read_table(self.engine, name)

    # -- orders ------------------------------------------------------------------------
    def revenue_window(self, asof: dt.date | None = None, days: int = 365) -> tuple[dt.datetime, dt.datetime]:
        """``[asof - days, asof)``; ``asof`` defaults to the day after the latest order."""
        if asof is None:
            with self.engine.connect() as c:
                last = c.execute(sa.text("SELECT MAX(created_at) FROM orders")).scalar()
            if last is None:
                end = dt.datetime.combine(dt.date.today(), dt.time())
            else:
                end = pd.Timestamp(last).to_pydatetime().replace(tzinfo=None)
                end = dt.datetime.combine(end.date() + dt.timedelta(days=1), dt.time())
        else:
            end = dt.datetime.combine(asof, dt.time())
        return end - dt.timedelta(days=days), end

    def order_groups(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """Orders in the window grouped by (account, shipping ZIP, buyer), aggregated in SQL.

        Columns: account_id, shipping_zip, lat, lon, customer, orders, total. Refunded,
        voided and pending orders are left out (``financial_status``).
        """
        sql = sa.text(
            "SELECT account_id, shipping_zip, MIN(lat) AS lat, MIN(lon) AS lon, "
            "customer_email AS customer, COUNT(*) AS orders, SUM(total) AS total "
            "FROM orders WHERE created_at >= :start AND created_at < :end "
            "AND (financial_status IS NULL OR financial_status IN ('paid', 'partially_refunded')) "
            "GROUP BY account_id, shipping_zip, customer_email"
        )
        with self.engine.connect() as c:
            rows = c.execute(sql, {"start": start, "end": end}).fetchall()
        df = store.rows_frame(rows, ["account_id", "shipping_zip", "lat", "lon", "customer", "orders", "total"])
        df["orders"] = pd.to_numeric(df["orders"]).astype(np.float64)
        df["total"] = pd.to_numeric(df["total"]).astype(np.float64).fillna(0.0)
        for col in ("lat", "lon"):
            df[col] = pd.to_numeric(df[col]).astype(np.float64)
        return df

    # -- units -------------------------------------------------------------------------
    def load_units(
        self,
        level: str = "zip",
        *,
        states: Iterable[str] | str | None = None,
        polygon=None,
        custom: str | Path | None = None,
        id_column: str | None = None,
        profile: WorkloadProfile | str | Path | None = None,
        asof: dt.date | None = None,
        window_days: int = 365,
        extra: tuple[str, ...] = (),
        accounts_filter=None,
    ) -> UnitLoad:
        """Units of ``level`` with measures from the imported accounts and orders.

        ``states`` defaults to the states where the imported accounts are.
        ``accounts_filter`` optionally selects accounts (a callable DataFrame -> bool mask),
        e.g. one industry for a non-geographic book.
        """
        prof = profile if isinstance(profile, WorkloadProfile) else load_profile(profile)
        acc = self.table("accounts")
        if accounts_filter is not None and len(acc):
            acc = acc[np.asarray(accounts_filter(acc), dtype=bool)].reset_index(drop=True)
        if states is None and level not in ("account", "custom"):
            states = sorted(s for s in acc["state"].dropna().unique()) or None
        if level == "account":
            placed = acc.dropna(subset=["lat", "lon"])
            if placed.empty:
                raise WorkspaceError("no placed accounts to build account units from; import accounts first")
            units = build_units("account", accounts=placed[["account_id", "lon", "lat", "name", "state"]])
        else:
            units = build_units(level, states=states, polygon=polygon, custom=custom, id_column=id_column)
        # rows of other countries are never placed in US units (only custom polygons and
        # account units, which may cover any country, place them by their coordinates)
        from territorium.data.address import US_POSTAL

        country = acc["country"].fillna("").astype(str) if "country" in acc.columns else pd.Series("", index=acc.index)
        abroad = ~country.isin(list(US_POSTAL) + [""]).to_numpy()
        acc_lon = acc["lon"].to_numpy(dtype=float, copy=True)
        acc_lat = acc["lat"].to_numpy(dtype=float, copy=True)
        if level not in ("custom", "account"):
            acc_lon[abroad] = np.nan
            acc_lat[abroad] = np.nan
        acc_unit = locate(
            units,
            account_ids=acc["account_id"].to_numpy() if level == "account" else None,
            zips=acc["zip"].to_numpy(dtype=object) if level != "account" else None,
            lon=acc_lon,
            lat=acc_lat,
        )
        start, end = self.revenue_window(asof, window_days)
        og = self.order_groups(start, end)
        unit_of_account = pd.Series(acc_unit, index=acc["account_id"].astype(str))
        by_acc = og["account_id"].map(unit_of_account)
        by_place = locate(
            units,
            zips=og["shipping_zip"].to_numpy(dtype=object) if level != "account" else None,
            lon=og["lon"].to_numpy(float),
            lat=og["lat"].to_numpy(float),
        ) if level != "account" else np.full(len(og), -1)
        order_unit = np.where(by_acc.notna(), by_acc.fillna(-1).to_numpy(), by_place).astype(np.int64)
        meas = unit_measures(units.n, accounts=acc, account_unit=acc_unit, orders=og,
                             order_unit=order_unit, profile=prof, extra=extra)
        acc = acc.assign(unit=acc_unit)
        notes = []
        n_unpl_acc = int((acc_unit < 0).sum())
        n_unpl_ord = int(og.loc[order_unit < 0, "orders"].sum())
        if n_unpl_acc:
            notes.append(f"{n_unpl_acc} accounts could not be placed in a unit (outside the area or no location)")
        if n_unpl_ord:
            notes.append(f"{n_unpl_ord} orders in the revenue window could not be placed in a unit")
        by_country = {str(k): int(v) for k, v in country[abroad].value_counts().items()}
        if by_country and level not in ("custom", "account"):
            notes.append("accounts outside the US, not placed in US units: "
                         + ", ".join(f"{k} {v}" for k, v in by_country.items()))
        return UnitLoad(units.with_measures(meas), acc, n_unpl_acc, n_unpl_ord, (start, end), tuple(notes),
                        by_country)

    # -- alignment ---------------------------------------------------------------------
    def current_alignment(self, units: Units, alignment: pd.DataFrame | None = None) -> tuple[np.ndarray, list[str]]:
        """The stored (or given) ZIP → territory alignment mapped onto ``units``.

        Returns (territory index per unit, -1 where unassigned; territory ids in index order).
        A unit made of several ZIPs (or a county) takes the territory most of its ZIPs have.
        """
        al = self.table("alignment") if alignment is None else alignment
        if al.empty:
            raise WorkspaceError("no current alignment imported (territorium import alignment FILE)")
        al = al.dropna(subset=["unit_id", "territory_id"])
        if units.level == "zip" or units.level == "county" or units.level == "state":
            pos = locate(units, zips=al["unit_id"].astype(str).to_numpy(dtype=object))
        else:
            pos = units.index_of(al["unit_id"].astype(str))
        terr_ids = sorted(al["territory_id"].astype(str).unique())
        t_index = pd.Series(np.arange(len(terr_ids)), index=terr_ids)
        t = t_index.reindex(al["territory_id"].astype(str)).to_numpy()
        ok = pos >= 0
        votes = pd.DataFrame({"u": pos[ok], "t": t[ok]}).value_counts().reset_index(name="n")
        votes = votes.sort_values(["u", "n", "t"], ascending=[True, False, True]).drop_duplicates("u")
        out = np.full(units.n, -1, dtype=np.int64)
        out[votes["u"].to_numpy()] = votes["t"].to_numpy()
        return out, terr_ids


def fill_unassigned(units: Units, assign: np.ndarray) -> np.ndarray:
    """Give every unit with territory -1 the territory of its nearest assigned unit in the graph.

    Breadth-first from all assigned units at once, so each gap joins a neighbouring
    territory; the result keeps territories connected where the input was.
    """
    from scipy.sparse.csgraph import dijkstra

    a = np.asarray(assign, dtype=np.int64).copy()
    missing = a < 0
    if not missing.any():
        return a
    if (~missing).sum() == 0:
        raise WorkspaceError("the current alignment covers none of these units")
    g = units.adjacency.to_scipy().astype(np.float64)
    _, _, src = dijkstra(g, directed=False, indices=np.flatnonzero(~missing), unweighted=True,
                         min_only=True, return_predecessors=True)
    ok = src >= 0
    a[missing & ok] = a[src[missing & ok]]
    return a
