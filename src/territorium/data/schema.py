"""The core tables every reader maps to, as data: column name, kind and rules.

Kinds: ``id`` and ``str`` (trimmed text), ``money`` (currency strings, thousands separators),
``float``, ``int``, ``percent`` (stored as a 0–1 fraction), ``date``, ``datetime`` (UTC),
``zip`` (5-digit US ZIP), ``state`` (USPS code), ``country`` (ISO alpha-2), ``postal`` and
``subdivision`` (national postal code and ISO 3166-2 code, filled from the address of any
country by :mod:`territorium.data.address`), ``currency``
(ISO 4217), ``email`` (lower case), ``bool``, ``list`` (``;``-separated), ``lat``, ``lon``.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Field", "TableSpec", "TABLES", "ORDER_LEVEL", "LINE_LEVEL"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "str"
    required: bool = False
    unique: bool = False
    min: float | None = None  # values below are "impossible"
    max: float | None = None
    no_future: bool = False  # dates after ``today`` are errors
    max_len: int | None = None  # longest text accepted (None: the default of its kind)


@dataclass(frozen=True)
class TableSpec:
    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    #: (zip column, state column, country column) checked together
    zip_state: tuple[str, str | None, str | None] | None = None

    def postal_columns(self) -> tuple[str | None, str | None]:
        """(postal-code column, subdivision column) filled by the address check, or Nones."""
        if self.zip_state is None or self.zip_state[2] is None:
            return None, None
        zc, sc, _ = self.zip_state
        return zc.replace("zip", "postal_code"), (sc or "state").replace("state", "subdivision")

    def address_fields(self) -> tuple[str, ...]:
        """Columns checked together by country (empty for tables without a country)."""
        pc, dc = self.postal_columns()
        if pc is None:
            return ()
        return tuple(c for c in (*self.zip_state, pc, dc) if c)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]


def _t(name, fields, key, zip_state=None) -> TableSpec:
    return TableSpec(name, tuple(fields), tuple(key), zip_state)


F = Field
TABLES: dict[str, TableSpec] = {
    "accounts": _t(
        "accounts",
        [
            F("account_id", "id", required=True, unique=True),
            F("name", "str", required=True, max_len=255),
            F("street"), F("city"), F("state", "state"), F("zip", "zip"), F("country", "country"),
            F("postal_code", "postal", max_len=16), F("subdivision", "subdivision"),
            F("industry"), F("segment"), F("account_type"), F("tier"),
            F("annual_revenue", "money", min=0), F("employees", "int", min=0),
            F("owner_id"), F("potential", "money", min=0), F("product_lines", "list"),
            F("lat", "lat"), F("lon", "lon"),
        ],
        ["account_id"],
        ("zip", "state", "country"),
    ),
    "contacts": _t(
        "contacts",
        [
            F("contact_id", "id", required=True, unique=True), F("account_id", "id"),
            F("first_name"), F("last_name"), F("email", "email"), F("phone"),
        ],
        ["contact_id"],
    ),
    "opportunities": _t(
        "opportunities",
        [
            F("opportunity_id", "id", required=True, unique=True), F("account_id", "id"),
            F("name"), F("stage"), F("amount", "money", min=0), F("close_date", "date"),
            F("probability", "percent", min=0, max=1), F("owner_id"),
            F("is_won", "bool"), F("is_closed", "bool"),
        ],
        ["opportunity_id"],
    ),
    "orders": _t(
        "orders",
        [
            F("order_id", "id", required=True), F("customer_email", "email"), F("customer_id", "id"),
            F("created_at", "datetime", required=True, no_future=True), F("currency", "currency"),
            F("subtotal", "money", min=0), F("total", "money", min=0), F("discounts", "money", min=0),
            F("discount_code"), F("financial_status"),
            F("shipping_zip", "zip"), F("shipping_state", "state"), F("shipping_country", "country"),
            F("shipping_postal_code", "postal", max_len=16), F("shipping_subdivision", "subdivision"),
        ],
        ["order_id"],
        ("shipping_zip", "shipping_state", "shipping_country"),
    ),
    "order_lines": _t(
        "order_lines",
        [
            F("order_id", "id", required=True), F("sku"), F("name"),
            F("quantity", "int", required=True, min=0), F("price", "money", min=0),
        ],
        ["order_id", "line_no"],
    ),
    "customers": _t(
        "customers",
        [
            F("customer_id", "id", required=True, unique=True), F("email", "email"),
            F("first_name"), F("last_name"), F("zip", "zip"), F("state", "state"),
            F("country", "country"), F("postal_code", "postal", max_len=16), F("subdivision", "subdivision"),
            F("total_spent", "money", min=0), F("orders_count", "int", min=0),
        ],
        ["customer_id"],
        ("zip", "state", "country"),
    ),
    "activities": _t(
        "activities",
        [
            F("activity_id", "id", required=True, unique=True), F("account_id", "id"), F("rep_id", "id"),
            F("type", "activity_type"), F("date", "date", required=True, no_future=True),
            F("duration_min", "int", min=0), F("status"),
        ],
        ["activity_id"],
    ),
    "reps": _t(
        "reps",
        [
            F("rep_id", "id", required=True, unique=True), F("name", "str", required=True, max_len=255),
            F("email", "email"), F("title"), F("home_zip", "zip"), F("home_lat", "lat"), F("home_lon", "lon"),
            F("capacity_hours", "float", min=0), F("fte", "float", min=0), F("skills", "list"),
            F("active", "bool"),
        ],
        ["rep_id"],
        ("home_zip", None, None),
    ),
    "territories": _t(
        "territories",
        [F("territory_id", "id", required=True, unique=True), F("name"), F("rep_id", "id")],
        ["territory_id"],
    ),
    "alignment": _t(
        "alignment",
        [F("unit_id", "zip", required=True, unique=True), F("territory_id", "id", required=True)],
        ["unit_id"],
    ),
}

#: Shopify order columns that appear only on the first line of each order.
ORDER_LEVEL = [f.name for f in TABLES["orders"].fields if f.name != "order_id"]
#: Columns of each line.
LINE_LEVEL = ["sku", "line_name", "quantity", "price"]
