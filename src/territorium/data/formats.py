"""Export formats as data: which file headers map to which core-table column.

A :class:`Format` lists, for each canonical column, the headers it may have in that
export (first present wins; matching ignores case and extra spaces), helper headers that a
``prepare`` step combines (first + last name, billing as fallback for shipping address),
and that step itself. ``generic`` accepts the canonical names, and a YAML mapping
(:func:`load_mapping`) overrides any of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from territorium.data.io import normalize_header
from territorium.data.problems import ImportFailed
from territorium.data.schema import TABLES

__all__ = ["Format", "FORMATS", "TABLE_ALIASES", "get_format", "detect_format", "load_mapping", "Mapping"]

#: CLI/table names accepted for each core table.
TABLE_ALIASES = {
    "accounts": "accounts", "companies": "accounts", "contacts": "contacts",
    "opportunities": "opportunities", "deals": "opportunities", "orders": "orders",
    "customers": "customers", "activities": "activities", "tasks": "activities", "events": "activities",
    "reps": "reps", "users": "reps", "alignment": "alignment", "territories": "territories",
}


@dataclass(frozen=True)
class Format:
    name: str
    table: str
    columns: dict[str, tuple[str, ...]]
    helpers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    sheet: str | int | None = None
    #: required columns that ``prepare`` can build from helpers when the file lacks them
    derived: tuple[str, ...] = ()

    def all_headers(self) -> set[str]:
        hs = {normalize_header(h) for v in self.columns.values() for h in v}
        hs |= {normalize_header(h) for v in self.helpers.values() for h in v}
        return hs

    def required(self) -> list[str]:
        spec = TABLES[self.table]
        req = [f.name for f in spec.fields if f.required]
        if self.table == "orders":
            req += ["quantity"]
        return [c for c in req if (c in self.columns or c in self.helpers) and c not in self.derived]


def _c(**kw) -> dict[str, tuple[str, ...]]:
    return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in kw.items()}


# ------------------------------------------------------------------ prepare steps
def _full_name(df: pd.DataFrame) -> pd.DataFrame:
    if "name" not in df.columns or (df["name"].str.strip() == "").all():
        first = df.get("_first_name", pd.Series("", index=df.index))
        last = df.get("_last_name", pd.Series("", index=df.index))
        df["name"] = (first.str.strip() + " " + last.str.strip()).str.strip()
    return df


def _activity_type(df: pd.DataFrame) -> pd.DataFrame:
    if "_subject" in df.columns:
        t = df["type"] if "type" in df.columns else pd.Series("", index=df.index)
        df["type"] = t.where(t.str.strip() != "", df["_subject"])
    return df


def _hubspot_deals(df: pd.DataFrame) -> pd.DataFrame:
    if "account_id" in df.columns:
        df["account_id"] = df["account_id"].str.split(";", n=1).str[0].str.strip()
    if "stage" in df.columns:
        st = df["stage"].str.lower().str.replace(r"[\s_-]", "", regex=True)
        won = st.str.contains("closedwon") | (st == "won")
        closed = won | st.str.contains("closedlost") | (st == "lost")
        if "is_won" not in df.columns:
            df["is_won"] = won.map({True: "true", False: "false"}).astype(str)
        if "is_closed" not in df.columns:
            df["is_closed"] = closed.map({True: "true", False: "false"}).astype(str)
    return df


def _shopify_orders(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("shipping_zip", "shipping_state", "shipping_country"):
        helper = "_billing_" + col.split("_", 1)[1]
        if helper in df.columns:
            cur = df[col] if col in df.columns else pd.Series("", index=df.index)
            df[col] = cur.where(cur.str.strip() != "", df[helper])
    return df


def _first_of_list(col: str):
    def step(df: pd.DataFrame) -> pd.DataFrame:
        if col in df.columns:
            df[col] = df[col].str.split(";", n=1).str[0].str.strip()
        return df

    return step


# ------------------------------------------------------------------ the formats
SF = "salesforce"
HS = "hubspot"
SH = "shopify"
FORMATS: dict[tuple[str, str], Format] = {}


def _add(fmt: Format) -> None:
    FORMATS[(fmt.table, fmt.name)] = fmt


_add(Format(SF, "accounts", _c(
    account_id=("Id", "Account ID", "Account Id"), name=("Name", "Account Name"),
    street=("BillingStreet", "Billing Street"), city=("BillingCity", "Billing City"),
    state=("BillingState", "Billing State/Province", "Billing State"),
    zip=("BillingPostalCode", "Billing Zip/Postal Code", "Billing Postal Code"),
    country=("BillingCountry", "Billing Country"), industry="Industry",
    segment=("Segment__c", "Segment"), account_type=("Type", "Account Type"), tier=("Tier__c", "Tier"),
    annual_revenue=("AnnualRevenue", "Annual Revenue"), employees=("NumberOfEmployees", "Employees"),
    owner_id=("OwnerId", "Owner ID", "Account Owner ID"), potential=("Potential__c", "Potential"),
    product_lines=("Product_Lines__c", "Product Lines"),
    lat=("BillingLatitude", "Billing Latitude"), lon=("BillingLongitude", "Billing Longitude"),
)))
_add(Format(SF, "contacts", _c(
    contact_id=("Id", "Contact ID"), account_id=("AccountId", "Account ID"),
    first_name=("FirstName", "First Name"), last_name=("LastName", "Last Name"),
    email="Email", phone=("Phone", "Business Phone"),
)))
_add(Format(SF, "opportunities", _c(
    opportunity_id=("Id", "Opportunity ID"), account_id=("AccountId", "Account ID"),
    name=("Name", "Opportunity Name"), stage=("StageName", "Stage"), amount="Amount",
    close_date=("CloseDate", "Close Date"), probability=("Probability", "Probability (%)"),
    owner_id=("OwnerId", "Opportunity Owner ID", "Owner ID"), is_won=("IsWon", "Won"),
    is_closed=("IsClosed", "Closed"),
)))
_add(Format(SF, "reps", _c(
    rep_id=("Id", "User ID"), name=("Name", "Full Name"), email="Email", title="Title",
    home_zip=("PostalCode", "Zip/Postal Code", "Postal Code"),
    capacity_hours=("Capacity_Hours__c", "Capacity Hours"), fte=("FTE__c", "FTE"),
    skills=("Skills__c", "Skills"), active=("IsActive", "Active"),
), helpers=_c(_first_name=("FirstName", "First Name"), _last_name=("LastName", "Last Name")),
    prepare=_full_name, derived=("name",)))
_add(Format(SF, "activities", _c(
    activity_id=("Id", "Activity ID"), account_id=("WhatId", "AccountId", "Account ID"),
    rep_id=("OwnerId", "Assigned ID", "Owner ID"), type=("Type", "TaskSubtype", "EventSubtype"),
    date=("ActivityDate", "Activity Date", "Date"), duration_min=("DurationInMinutes", "Duration"),
    status="Status",
), helpers=_c(_subject="Subject"), prepare=_activity_type))

_add(Format(HS, "accounts", _c(
    account_id=("Record ID", "Company ID"), name=("Company name", "Name"),
    street=("Street Address", "Street Address 1", "Address"), city="City",
    state=("State/Region", "State"), zip=("Postal Code", "Zip", "Zip Code"),
    country=("Country/Region", "Country"), industry="Industry", segment="Segment",
    account_type=("Type", "Company Type", "Lifecycle Stage"), tier="Tier",
    annual_revenue="Annual Revenue", employees="Number of Employees",
    owner_id=("Company owner", "HubSpot Owner", "Owner"), potential="Potential",
    product_lines="Product Lines",
)))
_add(Format(HS, "opportunities", _c(
    opportunity_id=("Record ID", "Deal ID"), name="Deal Name", stage=("Deal Stage", "Stage"),
    amount="Amount", close_date="Close Date",
    account_id=("Associated Company IDs", "Associated Company ID", "Company ID", "Associated Company IDs (Primary)"),
    owner_id=("Deal owner", "Deal Owner", "HubSpot Owner"), probability=("Deal probability", "Probability"),
), prepare=_hubspot_deals))
_add(Format(HS, "contacts", _c(
    contact_id=("Record ID", "Contact ID"), account_id=("Associated Company IDs", "Company ID", "Associated Company ID"),
    first_name="First Name", last_name="Last Name", email="Email", phone=("Phone Number", "Phone"),
), prepare=_first_of_list("account_id")))

_add(Format(SH, "orders", _c(
    order_id="Name", customer_email="Email", customer_id=("Customer ID", "Customer Id"),
    created_at="Created at", currency="Currency", subtotal="Subtotal", total="Total",
    discounts="Discount Amount", discount_code="Discount Code", financial_status="Financial Status",
    shipping_zip="Shipping Zip", shipping_state="Shipping Province", shipping_country="Shipping Country",
    sku="Lineitem sku", line_name="Lineitem name", quantity="Lineitem quantity", price="Lineitem price",
), helpers=_c(_billing_zip="Billing Zip", _billing_state="Billing Province", _billing_country="Billing Country"),
    prepare=_shopify_orders))
def _shopify_customers(df: pd.DataFrame) -> pd.DataFrame:
    """Older Shopify customer exports have no ``Customer ID``: the e-mail is the customer's
    key there (Shopify's own identity for a customer); province/country names stand in for
    missing codes."""
    if "customer_id" not in df.columns and "email" in df.columns:
        df["customer_id"] = df["email"].str.strip().str.lower()
    for col, helper in (("state", "_province"), ("country", "_country_name")):
        if helper in df.columns:
            cur = df[col] if col in df.columns else pd.Series("", index=df.index)
            df[col] = cur.where(cur.str.strip() != "", df[helper])
    return df


_add(Format(SH, "customers", _c(
    customer_id=("Customer ID", "Id", "ID"), email="Email", first_name="First Name", last_name="Last Name",
    zip=("Default Address Zip", "Zip"), state=("Default Address Province Code", "Province Code"),
    country=("Default Address Country Code", "Country Code"), total_spent="Total Spent",
    orders_count=("Total Orders", "Orders Count"),
), helpers=_c(_province=("Province", "Default Address Province"), _country_name=("Country", "Default Address Country")),
    prepare=_shopify_customers, derived=("customer_id",)))

_ALIGN = Format("csv", "alignment", _c(
    unit_id=("Zip", "ZIP", "Zip Code", "Postal Code", "ZIP Code", "unit_id"),
    territory_id=("Territory", "Territory ID", "Territory Id", "territory_id"),
), helpers=_c(_territory_name=("Territory Name", "name"), _rep_id=("Owner Id", "OwnerId", "Owner ID", "Rep ID", "Rep Id", "rep_id")))
_add(_ALIGN)
_add(Format("csv", "territories", _c(
    territory_id=("Territory", "Territory ID", "Territory Id", "territory_id"),
    name=("Territory Name", "Name", "name"), rep_id=("Owner Id", "OwnerId", "Owner ID", "Rep ID", "Rep Id", "rep_id"),
)))

# generic: canonical names (and the order-line names) as headers
for _table, _spec in TABLES.items():
    if _table == "order_lines":
        continue
    cols = {f.name: (f.name,) for f in _spec.fields if f.kind not in ("postal", "subdivision")}
    for _z in ("zip", "shipping_zip"):
        if _z in cols:  # a generic file may say postal_code for the postal code of any country
            cols[_z] = (_z, _z.replace("zip", "postal_code"), "postcode")
    if _table == "orders":
        cols.update({"sku": ("sku",), "line_name": ("line_name", "product"), "quantity": ("quantity",),
                     "price": ("price",)})
    if (_table, "generic") not in FORMATS:
        FORMATS[(_table, "generic")] = Format("generic", _table, cols)

DEFAULT_FORMAT = {"orders": SH, "customers": SH, "alignment": "csv", "territories": "csv"}


_ADDRESS_ALIASES = {"postal_code": "zip", "subdivision": "state", "province": "state",
                    "shipping_postal_code": "shipping_zip", "shipping_subdivision": "shipping_state"}


@dataclass(frozen=True)
class Mapping:
    """A YAML column mapping: ``table``, ``columns`` (canonical → header), optional ``sheet``."""

    table: str | None
    columns: dict[str, str]
    sheet: str | int | None = None
    format: str | None = None


def load_mapping(path: str | Path) -> Mapping:
    """Read a mapping YAML::

        table: accounts
        sheet: Customers        # Excel only, optional
        columns:
          account_id: "Cust No"
          name: "Customer"
          zip: "Postcode"
    """
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ImportFailed(f"{path}: mapping file not found") from None
    except yaml.YAMLError as exc:
        raise ImportFailed(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("columns", {}), dict):
        raise ImportFailed(f"{path.name}: a mapping needs 'columns:' as a dictionary of column: header")
    table = doc.get("table")
    if table is not None and table not in TABLE_ALIASES:
        raise ImportFailed(f"{path.name}: unknown table {table!r}; one of {', '.join(sorted(TABLE_ALIASES))}")
    table = TABLE_ALIASES.get(table) if table else None
    cols = {str(k): str(v) for k, v in (doc.get("columns") or {}).items()}
    # the postal code / province of any country are read through the zip / state columns
    # (stored as postal_code / subdivision after the per-country checks)
    for alias, canon in _ADDRESS_ALIASES.items():
        if alias in cols and canon not in cols:
            cols[canon] = cols.pop(alias)
    if table:
        fmt = FORMATS[(table, "generic")]
        unknown = sorted(set(cols) - set(fmt.columns))
        if unknown:
            raise ImportFailed(
                f"{path.name}: unknown column(s) {', '.join(unknown)} for table {table}; "
                f"known: {', '.join(fmt.columns)}"
            )
    return Mapping(table, cols, doc.get("sheet"), doc.get("format"))


def get_format(table: str, name: str | None, mapping: Mapping | None = None) -> Format:
    """The format for ``table`` (``salesforce``, ``hubspot``, ``shopify``, ``generic``), with
    ``mapping`` applied on top."""
    table = TABLE_ALIASES.get(table, table)
    if table not in TABLES:
        raise ImportFailed(f"unknown table {table!r}; one of {', '.join(sorted(TABLE_ALIASES))}")
    name = (name or "generic").lower()
    fmt = FORMATS.get((table, name))
    if fmt is None:
        have = sorted(n for (t, n) in FORMATS if t == table)
        raise ImportFailed(f"no {name!r} format for {table}; available: {', '.join(have)}")
    if mapping is not None:
        cols = dict(fmt.columns)
        for canon, header in mapping.columns.items():
            cols[canon] = (header,)
        fmt = Format(f"{fmt.name}+mapping", table, cols, fmt.helpers, fmt.prepare, mapping.sheet, fmt.derived)
    return fmt


def detect_format(table: str, headers: list[str]) -> Format:
    """The format of ``table`` whose headers match the file best (required ones must all be there)."""
    table = TABLE_ALIASES.get(table, table)
    have = {normalize_header(h) for h in headers}
    best, best_score = None, -1
    for (t, name), fmt in FORMATS.items():
        if t != table:
            continue
        ok = all(any(normalize_header(h) in have for h in fmt.columns.get(c, fmt.helpers.get(c, ())))
                 for c in fmt.required())
        score = sum(any(normalize_header(h) in have for h in hs) for hs in fmt.columns.values())
        score += sum(any(normalize_header(h) in have for h in hs) for hs in fmt.helpers.values())
        if ok and score > best_score:
            best, best_score = fmt, score
    if best is None:
        default = DEFAULT_FORMAT.get(table, SF if (table, SF) in FORMATS else "generic")
        return FORMATS[(table, default)]
    return best
