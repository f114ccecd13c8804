"""Shopify webhooks and generic events: signature check and payload → workspace rows.

Pure functions (no I/O): :func:`verify_shopify_hmac` checks a delivery the way Shopify
documents it (``X-Shopify-Hmac-SHA256`` = base64 of HMAC-SHA256 over the raw body, keyed with
the app's client secret, compared in constant time); :func:`shopify_rows` turns the JSON of
``orders/create``, ``orders/updated``, ``refunds/create`` and ``customers/create`` into the
rows of the ``orders``, ``order_lines`` and ``customers`` tables, or raises
:class:`PayloadError` naming the field. :func:`event_rows` does the same for the generic
``POST /api/events`` (``order`` and ``activity`` events in our own column names).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "SHOPIFY_TOPICS", "PayloadError", "Rows", "sign_shopify", "verify_shopify_hmac", "shopify_rows", "event_rows",
]

SHOPIFY_TOPICS = ("orders/create", "orders/updated", "refunds/create", "customers/create")


class PayloadError(ValueError):
    """A delivery whose body cannot be used; ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(f"{field_name}: {message}")


@dataclass
class Rows:
    """What one delivery writes: whole rows to upsert, and order status changes (refunds)."""

    orders: list[dict] = field(default_factory=list)
    order_lines: list[dict] = field(default_factory=list)
    customers: list[dict] = field(default_factory=list)
    activities: list[dict] = field(default_factory=list)
    refunds: list[dict] = field(default_factory=list)   # {order_id, amount, created_at}


def sign_shopify(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-SHA256`` value Shopify sends for ``body`` (the example agrees with
    ``printf %s BODY | openssl dgst -sha256 -hmac hush -binary | base64``).

    >>> sign_shopify("hush", b'{"id": 1}')
    'E9XxLgppVNX12rqWuu0/CN/43MeuZC0xdhRuMq1MPWg='
    """
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def verify_shopify_hmac(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of a delivery's signature (False for a missing or malformed one).

    >>> b = b'{"id": 1}'
    >>> verify_shopify_hmac("hush", b, sign_shopify("hush", b)), verify_shopify_hmac("hush", b + b" ", sign_shopify("hush", b))
    (True, False)
    """
    if not header or not secret:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (ValueError, TypeError):
        return False
    want = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, want)


# ------------------------------------------------------------------------------ helpers
def _get(d: Mapping, key: str, where: str, *, required: bool = False):
    v = d.get(key) if isinstance(d, Mapping) else None
    if required and (v is None or v == ""):
        raise PayloadError(f"{where}{key}", "is missing")
    return v


def _id(v, name: str) -> str:
    if v is None or isinstance(v, bool) or (isinstance(v, str) and not v.strip()):
        raise PayloadError(name, "is missing")
    if isinstance(v, float) and not v.is_integer():
        raise PayloadError(name, f"{v!r} is not an id")
    return str(int(v)) if isinstance(v, (int, float)) else str(v).strip().lstrip("'")


def _money(v, name: str, *, required: bool = False) -> float | None:
    if v is None or v == "":
        if required:
            raise PayloadError(name, "is missing")
        return None
    try:
        x = float(str(v).replace(",", "")) if not isinstance(v, bool) else math.nan
    except ValueError:
        raise PayloadError(name, f"{v!r} is not an amount") from None
    if not math.isfinite(x) or abs(x) > 1e12:
        raise PayloadError(name, f"{v!r} is not a usable amount")
    return x


def _int(v, name: str) -> int | None:
    if v is None or v == "":
        return None
    try:
        f = float(v) if not isinstance(v, bool) else math.nan
    except (TypeError, ValueError):
        raise PayloadError(name, f"{v!r} is not a whole number") from None
    if not math.isfinite(f) or not f.is_integer() or abs(f) > 1e9:
        raise PayloadError(name, f"{v!r} is not a whole number")
    return int(f)


def _time(v, name: str, *, required: bool = True) -> dt.datetime | None:
    """ISO 8601 with an offset (Shopify's form) → naive UTC."""
    if v is None or v == "":
        if required:
            raise PayloadError(name, "is missing")
        return None
    try:
        t = dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(name, f"{v!r} is not an ISO 8601 time") from None
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if not 1990 <= t.year <= 2100:
        raise PayloadError(name, f"{v!r} is not a plausible time")
    return t


def _text(v, name: str, limit: int = 1000) -> str | None:
    if v is None:
        return None
    s = str(v)
    if len(s) > limit:
        raise PayloadError(name, f"longer than {limit} characters")
    return s.strip() or None


def _zip(addr: Mapping | None) -> dict:
    """Address fields of a Shopify address: the US ZIP and state columns only for US
    addresses; every country keeps its postal code and ISO 3166-2 subdivision."""
    out = {"zip": None, "state": None, "country": None, "lat": None, "lon": None, "postal_code": None,
           "subdivision": None}
    if not isinstance(addr, Mapping):
        return out
    from territorium.data.address import country_code, subdivision_code

    raw_country = _text(addr.get("country_code") or addr.get("country"), "shipping_address.country_code", 60)
    country = country_code(raw_country) if raw_country else None
    postal = _text(addr.get("zip"), "shipping_address.zip", 20)
    prov = _text(addr.get("province_code") or addr.get("province"), "shipping_address.province_code", 60)
    lat, lon = addr.get("latitude"), addr.get("longitude")
    out["lat"] = float(lat) if isinstance(lat, (int, float)) and -90 <= lat <= 90 else None
    out["lon"] = float(lon) if isinstance(lon, (int, float)) and -180 <= lon <= 180 else None
    out["country"], out["postal_code"] = country, postal
    if country and prov:
        out["subdivision"] = subdivision_code(country, prov)
    if country in (None, "US"):
        digits = (postal or "").split("-")[0].strip()
        out["zip"] = digits.zfill(5) if digits.isdigit() and len(digits) <= 5 else None
        if out["zip"]:
            out["postal_code"] = out["zip"]
        code = subdivision_code("US", prov) if prov else None
        out["state"] = code[3:] if code else None
        if country == "US" and out["subdivision"] is None and code:
            out["subdivision"] = code
    return out


def _order(p: Mapping) -> tuple[dict, list[dict]]:
    oid = _id(_get(p, "id", "", required=True), "id")
    cust = p.get("customer") if isinstance(p.get("customer"), Mapping) else {}
    a = _zip(p.get("shipping_address"))
    status = _text(p.get("financial_status"), "financial_status", 40)
    order = {
        "order_id": oid,
        "customer_email": (_text(p.get("email") or cust.get("email"), "email", 320) or "").lower() or None,
        "customer_id": _id(cust["id"], "customer.id") if cust.get("id") is not None else None,
        "account_id": None,
        "created_at": _time(p.get("created_at"), "created_at"),
        "currency": (_text(p.get("currency"), "currency", 3) or "").upper() or None,
        "subtotal": _money(p.get("subtotal_price"), "subtotal_price"),
        "total": _money(p.get("total_price"), "total_price", required=True),
        "discounts": _money(p.get("total_discounts"), "total_discounts"),
        "discount_code": _text((p.get("discount_codes") or [{}])[0].get("code")
                               if isinstance(p.get("discount_codes"), list) and p.get("discount_codes") else None,
                               "discount_codes[0].code", 200),
        "financial_status": status.lower() if status else None,
        "shipping_zip": a["zip"], "shipping_state": a["state"], "shipping_country": a["country"], "lat": a["lat"],
        "lon": a["lon"], "shipping_postal_code": a["postal_code"], "shipping_subdivision": a["subdivision"],
    }
    lines = []
    items = p.get("line_items") or []
    if not isinstance(items, list):
        raise PayloadError("line_items", "is not a list")
    for i, li in enumerate(items):
        if not isinstance(li, Mapping):
            raise PayloadError(f"line_items[{i}]", "is not an object")
        lines.append({"order_id": oid, "line_no": i + 1, "sku": _text(li.get("sku"), f"line_items[{i}].sku", 200),
                      "name": _text(li.get("name") or li.get("title"), f"line_items[{i}].name"),
                      "quantity": _int(li.get("quantity"), f"line_items[{i}].quantity"),
                      "price": _money(li.get("price"), f"line_items[{i}].price")})
    return order, lines


def shopify_rows(topic: str, payload: Any) -> Rows:
    """Rows to write for one Shopify delivery.

    >>> r = shopify_rows("orders/create", {"id": 450789469, "email": "Bob@example.com",
    ...     "created_at": "2026-11-03T10:00:00-05:00", "total_price": "59.00", "financial_status": "paid",
    ...     "shipping_address": {"zip": "2554", "province_code": "MA", "country_code": "US"},
    ...     "line_items": [{"sku": "LUM-1", "quantity": 2, "price": "29.50"}]})
    >>> o = r.orders[0]; o["order_id"], o["customer_email"], str(o["created_at"]), o["shipping_zip"], len(r.order_lines)
    ('450789469', 'bob@example.com', '2026-11-03 15:00:00', '02554', 1)
    >>> shopify_rows("orders/create", {"id": 1, "created_at": "2026-11-03T10:00:00Z"})
    Traceback (most recent call last):
    ...
    territorium.data.webhooks.PayloadError: total_price: is missing
    """
    if not isinstance(payload, Mapping):
        raise PayloadError("body", "is not a JSON object")
    rows = Rows()
    if topic in ("orders/create", "orders/updated"):
        o, lines = _order(payload)
        rows.orders.append(o)
        rows.order_lines += lines
    elif topic == "refunds/create":
        oid = _id(_get(payload, "order_id", "", required=True), "order_id")
        amount = 0.0
        tx = payload.get("transactions") or []
        if not isinstance(tx, list):
            raise PayloadError("transactions", "is not a list")
        for i, t in enumerate(tx):
            if isinstance(t, Mapping) and str(t.get("kind", "refund")) == "refund" and str(t.get("status", "success")) == "success":
                amount += _money(t.get("amount"), f"transactions[{i}].amount") or 0.0
        if not tx:   # no transactions: the refunded line items' subtotals
            for i, li in enumerate(payload.get("refund_line_items") or []):
                if isinstance(li, Mapping):
                    amount += _money(li.get("subtotal"), f"refund_line_items[{i}].subtotal") or 0.0
        rows.refunds.append({"order_id": oid, "amount": amount,
                             "created_at": _time(payload.get("created_at"), "created_at", required=False)})
    elif topic == "customers/create":
        cid = _id(_get(payload, "id", "", required=True), "id")
        addr = payload.get("default_address") if isinstance(payload.get("default_address"), Mapping) else None
        a = _zip(addr)
        rows.customers.append({
            "customer_id": cid, "email": (_text(payload.get("email"), "email", 320) or "").lower() or None,
            "first_name": _text(payload.get("first_name"), "first_name", 200),
            "last_name": _text(payload.get("last_name"), "last_name", 200),
            "zip": a["zip"], "state": a["state"], "country": a["country"], "postal_code": a["postal_code"],
            "subdivision": a["subdivision"],
            "total_spent": _money(payload.get("total_spent"), "total_spent"),
            "orders_count": _int(payload.get("orders_count"), "orders_count"),
        })
    else:
        raise PayloadError("X-Shopify-Topic", f"{topic!r} is not handled ({', '.join(SHOPIFY_TOPICS)})")
    return rows


_ORDER_FIELDS = ("order_id", "created_at", "total")


def event_rows(event: Mapping) -> Rows:
    """Rows of one generic event ``{"type": "order"|"activity", "data": {...}}`` (our column names).

    >>> event_rows({"type": "activity", "data": {"activity_id": "v1", "account_id": "A1", "rep_id": "r1",
    ...     "type": "visit", "date": "2026-11-02", "duration_min": 45}}).activities[0]["date"]
    datetime.date(2026, 11, 2)
    """
    kind = event.get("type")
    d = event.get("data")
    if not isinstance(d, Mapping):
        raise PayloadError("data", "is not an object")
    rows = Rows()
    if kind == "order":
        o = {"order_id": _id(d.get("order_id"), "data.order_id"), "created_at": _time(d.get("created_at"), "data.created_at"),
             "total": _money(d.get("total"), "data.total", required=True),
             "account_id": _id(d["account_id"], "data.account_id") if d.get("account_id") is not None else None,
             "customer_email": (_text(d.get("customer_email"), "data.customer_email", 320) or "").lower() or None,
             "customer_id": _text(d.get("customer_id"), "data.customer_id", 100),
             "currency": (_text(d.get("currency"), "data.currency", 3) or "").upper() or None,
             "subtotal": _money(d.get("subtotal"), "data.subtotal"), "discounts": _money(d.get("discounts"), "data.discounts"),
             "discount_code": _text(d.get("discount_code"), "data.discount_code", 200),
             "financial_status": (_text(d.get("financial_status"), "data.financial_status", 40) or "").lower() or None,
             }
        a = _zip({"zip": d.get("shipping_zip"), "province_code": d.get("shipping_state"),
                  "country_code": d.get("shipping_country") or ("US" if d.get("shipping_zip") else None),
                  "latitude": d.get("lat"), "longitude": d.get("lon")})
        o.update(shipping_zip=a["zip"], shipping_state=a["state"], shipping_country=a["country"], lat=a["lat"],
                 lon=a["lon"], shipping_postal_code=a["postal_code"], shipping_subdivision=a["subdivision"])
        rows.orders.append(o)
    elif kind == "activity":
        when = d.get("date")
        try:
            day = dt.date.fromisoformat(str(when)[:10]) if when else None
        except ValueError:
            raise PayloadError("data.date", f"{when!r} is not a date") from None
        if day is None:
            raise PayloadError("data.date", "is missing")
        rows.activities.append({
            "activity_id": _id(d.get("activity_id"), "data.activity_id"),
            "account_id": _text(d.get("account_id"), "data.account_id", 100),
            "rep_id": _text(d.get("rep_id"), "data.rep_id", 100),
            "type": _text(d.get("type"), "data.type", 16), "date": day,
            "duration_min": _int(d.get("duration_min"), "data.duration_min"),
            "status": _text(d.get("status"), "data.status", 40)})
    else:
        raise PayloadError("type", f"{kind!r} is not 'order' or 'activity'")
    return rows
