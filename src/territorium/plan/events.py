"""Real-time ingestion: webhook deliveries and API events written once, and live territory totals.

:func:`ingest` writes one delivery in one transaction together with its id in
``event_deliveries``: a retried delivery (same id) is recognised and changes nothing, and a
delivery is either stored whole or not at all. When the database stays locked it raises
:class:`Busy` without having written anything, so the API answers 503 and the sender retries
(Shopify retries a failed delivery for hours): nothing is lost.

:class:`LiveTotals` keeps each territory's month-to-date orders and revenue, read once from
the database and then moved by the deltas of each ingestion (no re-aggregation per event).
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from territorium.analytics.kpi import BOOKED
from territorium.data.webhooks import Rows

__all__ = ["Busy", "IngestResult", "ingest", "LiveTotals", "is_booked"]


class Busy(Exception):
    """The database stayed locked; nothing was written (the sender should retry)."""


def is_booked(status: str | None) -> bool:
    """Whether an order with this financial status counts as a sale (as in the KPIs)."""
    return status is None or str(status).lower() in BOOKED


@dataclass
class IngestResult:
    status: str                       # "stored" | "duplicate"
    rows: int = 0
    # per changed order: (order row as stored now, booked before?, total before, booked now?, total now)
    changes: list[tuple[dict, bool, float, bool, float]] = field(default_factory=list)


_COLS = {
    "orders": ("order_id", "customer_email", "customer_id", "account_id", "created_at", "currency", "subtotal", "total",
               "discounts", "discount_code", "financial_status", "shipping_zip", "shipping_state", "shipping_country",
               "lat", "lon", "shipping_postal_code", "shipping_subdivision"),
    "order_lines": ("order_id", "line_no", "sku", "name", "quantity", "price"),
    "customers": ("customer_id", "email", "first_name", "last_name", "zip", "state", "country", "total_spent",
                  "orders_count", "postal_code", "subdivision"),
    "activities": ("activity_id", "account_id", "rep_id", "type", "date", "duration_min", "status"),
}
_KEY = {"orders": "order_id", "customers": "customer_id", "activities": "activity_id"}


def _insert(conn, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    cols = _COLS[table]
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
                 [{c: r.get(c) for c in cols} for r in rows])


def _delete(conn, table: str, key: str, ids: list[str]) -> None:
    if ids:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE {key} IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                     {"ids": ids})


def _write(conn, rows: Rows) -> list[tuple[dict, bool, float, bool, float]]:
    changes = []
    ids = [o["order_id"] for o in rows.orders] + [r["order_id"] for r in rows.refunds]
    before = {}
    if ids:
        q = sa.text("SELECT order_id, total, financial_status, account_id, shipping_zip, created_at, customer_email, "
                    "customer_id FROM orders WHERE order_id IN :ids").bindparams(sa.bindparam("ids", expanding=True))
        before = {r.order_id: dict(r._mapping) for r in conn.execute(q, {"ids": ids})}
    for o in rows.orders:
        old = before.get(o["order_id"])
        if old is not None and o.get("account_id") is None:
            o["account_id"] = old["account_id"]   # an update keeps the account the import linked
        changes.append((o, old is not None and is_booked(old["financial_status"]),
                        float(old["total"] or 0) if old is not None else 0.0,
                        is_booked(o["financial_status"]), float(o["total"] or 0)))
    _delete(conn, "order_lines", "order_id", [o["order_id"] for o in rows.orders])
    for table in ("orders", "customers", "activities"):
        mine = getattr(rows, table)
        _delete(conn, table, _KEY[table], [r[_KEY[table]] for r in mine])
        _insert(conn, table, mine)
    _insert(conn, "order_lines", rows.order_lines)
    for rf in rows.refunds:
        old = before.get(rf["order_id"])
        if old is None:
            continue   # a refund of an order we never saw: recorded as a delivery, nothing to change
        total = float(old["total"] or 0)
        status = "refunded" if rf["amount"] >= total - 0.005 else "partially_refunded"
        conn.execute(sa.text("UPDATE orders SET financial_status = :s WHERE order_id = :o"),
                     {"s": status, "o": rf["order_id"]})
        changes.append(({**old, "financial_status": status}, is_booked(old["financial_status"]), total,
                        is_booked(status), total))
    return changes


def ingest(eng: Engine, *, delivery_id: str, source: str, topic: str, rows: Rows, shop: str | None = None,
           triggered_at: dt.datetime | None = None, retries: int = 6, backoff: float = 0.05) -> IngestResult:
    """Store ``rows`` and the delivery id in one transaction (``duplicate`` when the id is known)."""
    n = sum(len(getattr(rows, t)) for t in ("orders", "order_lines", "customers", "activities", "refunds"))
    for attempt in range(retries + 1):
        try:
            with eng.begin() as conn:
                known = conn.execute(sa.text("SELECT 1 FROM event_deliveries WHERE delivery_id = :d"),
                                     {"d": delivery_id}).first()
                if known:
                    return IngestResult("duplicate")
                conn.execute(sa.text(
                    "INSERT INTO event_deliveries (delivery_id, source, topic, shop, triggered_at, received_at, rows) "
                    "VALUES (:d, :s, :t, :shop, :trig, :now, :n)"),
                    {"d": delivery_id, "s": source, "t": topic, "shop": shop, "trig": triggered_at,
                     "now": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "n": n})
                changes = _write(conn, rows)
            return IngestResult("stored", n, changes)
        except IntegrityError:
            # the same id committed by a concurrent delivery between our check and insert
            with eng.connect() as conn:
                if conn.execute(sa.text("SELECT 1 FROM event_deliveries WHERE delivery_id = :d"),
                                {"d": delivery_id}).first():
                    return IngestResult("duplicate")
            raise
        except OperationalError as exc:
            text = str(exc.orig if getattr(exc, "orig", None) is not None else exc).lower()
            if "locked" not in text and "busy" not in text and "could not obtain lock" not in text:
                raise
            if attempt == retries:
                raise Busy(f"the database is busy ({text.splitlines()[0]})") from None
            time.sleep(backoff * (2 ** attempt))
    raise Busy("the database is busy")  # pragma: no cover


class LiveTotals:
    """Month-to-date orders and revenue per territory, moved by each ingestion's deltas.

    The territory of an order: its account's ZIP, else its shipping ZIP, looked up in the
    active geographic plan (else the imported alignment). ``publish`` is called with one
    event dict per changed territory.
    """

    def __init__(self, eng: Engine, *, publish: Callable[[dict], None] | None = None, now=None):
        self.eng = eng
        self.publish = publish or (lambda e: None)
        self._now = now or (lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        self._lock = threading.Lock()
        self.month: pd.Timestamp | None = None
        self.totals: dict[str, dict] = {}
        self._zip_terr: dict[str, str] = {}
        self._acc_zip: dict[str, str] = {}
        self.plan: str | None = None

    # -- set-up ------------------------------------------------------------------------
    def _mapping(self) -> None:
        from territorium.plan import plans

        zt: dict[str, str] = {}
        active, _ = plans.list_plans(self.eng, model="geographic", status="active")
        if active:
            u = plans.plan_content(self.eng, active[0].name).units
            zt = dict(zip(u["unit_id"].astype(str), u["territory_id"].astype(str)))
            self.plan = active[0].name
        else:
            with self.eng.connect() as c:
                zt = {str(a): str(b) for a, b in c.execute(sa.text("SELECT unit_id, territory_id FROM alignment"))}
            self.plan = None
        with self.eng.connect() as c:
            self._acc_zip = {str(a): str(z) for a, z in c.execute(
                sa.text("SELECT account_id, zip FROM accounts WHERE zip IS NOT NULL"))}
        self._zip_terr = zt

    def territory(self, account_id, shipping_zip) -> str:
        z = self._acc_zip.get(str(account_id)) if account_id is not None else None
        t = self._zip_terr.get(z) if z else None
        if t is None and shipping_zip:
            t = self._zip_terr.get(str(shipping_zip))
        return t or ""

    def load(self) -> None:
        """(Re)read the plan mapping and this month's totals from the database."""
        with self._lock:
            self._mapping()
            now = self._now()
            self.month = pd.Timestamp(now).to_period("M").start_time
            with self.eng.connect() as c:
                rows = c.execute(sa.text(
                    "SELECT account_id, shipping_zip, total, financial_status FROM orders "
                    "WHERE created_at >= :m"), {"m": self.month.to_pydatetime()}).fetchall()
            totals: dict[str, dict] = {}
            for r in rows:
                if not is_booked(r.financial_status):
                    continue
                t = totals.setdefault(self.territory(r.account_id, r.shipping_zip), {"orders": 0, "revenue": 0.0})
                t["orders"] += 1
                t["revenue"] += float(r.total or 0)
            self.totals = totals

    # -- updates -----------------------------------------------------------------------
    def apply(self, result: IngestResult, delivery_id: str) -> list[dict]:
        """Move the totals by an ingestion's changes; returns (and publishes) the events."""
        if self.month is None or pd.Timestamp(self._now()).to_period("M").start_time != self.month:
            self.load()   # first use, or a new month began
        events = []
        with self._lock:
            for order, was_b, was_t, now_b, now_t in result.changes:
                created = order.get("created_at")
                if created is None or pd.Timestamp(created) < self.month:
                    continue
                terr = self.territory(order.get("account_id"), order.get("shipping_zip"))
                t = self.totals.setdefault(terr, {"orders": 0, "revenue": 0.0})
                d_orders = int(now_b) - int(was_b)
                d_rev = (now_t if now_b else 0.0) - (was_t if was_b else 0.0)
                t["orders"] += d_orders
                t["revenue"] += d_rev
                events.append({"territory": terr, "month": str(self.month.date())[:7], "orders": t["orders"],
                               "revenue": round(t["revenue"], 2), "delta_orders": d_orders,
                               "delta_revenue": round(d_rev, 2), "order_id": order.get("order_id"),
                               "delivery": delivery_id})
        for e in events:
            self.publish(e)
        return events

    def snapshot(self, scope: set[str] | None = None) -> dict:
        if self.month is None:
            self.load()
        with self._lock:
            terr = {k: dict(v) for k, v in self.totals.items() if scope is None or k in scope}
        return {"month": str(self.month.date())[:7], "plan": self.plan, "territories": terr}
