"""SQLAlchemy 2 declarative models of the workspace database.

One class per core table (columns as in :mod:`territorium.data.schema`) plus
``import_batches``. Timestamps are stored as naive UTC. Tables carry no foreign keys to each
other: exports arrive in any order and may reference records not (yet) imported; the import
reports such gaps instead of refusing the file. Schema changes go through Alembic only
(``store/migrations``).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base", "Account", "Contact", "Opportunity", "Order", "OrderLine", "Customer", "Activity",
    "Rep", "Territory", "AlignmentRow", "ImportBatch", "CORE_TABLES",
]


class Base(DeclarativeBase):
    pass


S = String()  # unbounded VARCHAR: exports carry long names


class Account(Base):
    __tablename__ = "accounts"
    account_id: Mapped[str] = mapped_column(S, primary_key=True)
    name: Mapped[str] = mapped_column(S)
    street: Mapped[str | None] = mapped_column(S)
    city: Mapped[str | None] = mapped_column(S)
    state: Mapped[str | None] = mapped_column(String(2), index=True)
    zip: Mapped[str | None] = mapped_column(String(5), index=True)
    country: Mapped[str | None] = mapped_column(S, index=True)
    postal_code: Mapped[str | None] = mapped_column(S)
    subdivision: Mapped[str | None] = mapped_column(S)
    industry: Mapped[str | None] = mapped_column(S)
    segment: Mapped[str | None] = mapped_column(S)
    account_type: Mapped[str | None] = mapped_column(S)
    tier: Mapped[str | None] = mapped_column(S)
    annual_revenue: Mapped[float | None] = mapped_column(Float)
    employees: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[str | None] = mapped_column(S, index=True)
    potential: Mapped[float | None] = mapped_column(Float)
    product_lines: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    geocode: Mapped[str | None] = mapped_column(String(8))


class Contact(Base):
    __tablename__ = "contacts"
    contact_id: Mapped[str] = mapped_column(S, primary_key=True)
    account_id: Mapped[str | None] = mapped_column(S, index=True)
    first_name: Mapped[str | None] = mapped_column(S)
    last_name: Mapped[str | None] = mapped_column(S)
    email: Mapped[str | None] = mapped_column(S, index=True)
    phone: Mapped[str | None] = mapped_column(S)


class Opportunity(Base):
    __tablename__ = "opportunities"
    opportunity_id: Mapped[str] = mapped_column(S, primary_key=True)
    account_id: Mapped[str | None] = mapped_column(S, index=True)
    name: Mapped[str | None] = mapped_column(S)
    stage: Mapped[str | None] = mapped_column(S)
    amount: Mapped[float | None] = mapped_column(Float)
    close_date: Mapped[dt.date | None] = mapped_column(Date)
    probability: Mapped[float | None] = mapped_column(Float)
    owner_id: Mapped[str | None] = mapped_column(S)
    is_won: Mapped[bool | None] = mapped_column(Boolean)
    is_closed: Mapped[bool | None] = mapped_column(Boolean)


class Order(Base):
    __tablename__ = "orders"
    order_id: Mapped[str] = mapped_column(S, primary_key=True)
    customer_email: Mapped[str | None] = mapped_column(S, index=True)
    customer_id: Mapped[str | None] = mapped_column(S)
    account_id: Mapped[str | None] = mapped_column(S, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    subtotal: Mapped[float | None] = mapped_column(Float)
    total: Mapped[float | None] = mapped_column(Float)
    discounts: Mapped[float | None] = mapped_column(Float)
    discount_code: Mapped[str | None] = mapped_column(S)
    financial_status: Mapped[str | None] = mapped_column(S)
    shipping_zip: Mapped[str | None] = mapped_column(String(5), index=True)
    shipping_state: Mapped[str | None] = mapped_column(String(2))
    shipping_country: Mapped[str | None] = mapped_column(S)
    shipping_postal_code: Mapped[str | None] = mapped_column(S)
    shipping_subdivision: Mapped[str | None] = mapped_column(S)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class OrderLine(Base):
    __tablename__ = "order_lines"
    order_id: Mapped[str] = mapped_column(S, primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str | None] = mapped_column(S)
    name: Mapped[str | None] = mapped_column(S)
    quantity: Mapped[int | None] = mapped_column(Integer)
    price: Mapped[float | None] = mapped_column(Float)


class Customer(Base):
    __tablename__ = "customers"
    customer_id: Mapped[str] = mapped_column(S, primary_key=True)
    email: Mapped[str | None] = mapped_column(S, index=True)
    first_name: Mapped[str | None] = mapped_column(S)
    last_name: Mapped[str | None] = mapped_column(S)
    zip: Mapped[str | None] = mapped_column(String(5))
    state: Mapped[str | None] = mapped_column(String(2))
    country: Mapped[str | None] = mapped_column(S)
    postal_code: Mapped[str | None] = mapped_column(S)
    subdivision: Mapped[str | None] = mapped_column(S)
    total_spent: Mapped[float | None] = mapped_column(Float)
    orders_count: Mapped[int | None] = mapped_column(Integer)


class Activity(Base):
    __tablename__ = "activities"
    activity_id: Mapped[str] = mapped_column(S, primary_key=True)
    account_id: Mapped[str | None] = mapped_column(S, index=True)
    rep_id: Mapped[str | None] = mapped_column(S, index=True)
    type: Mapped[str | None] = mapped_column(String(16))
    date: Mapped[dt.date | None] = mapped_column(Date)
    duration_min: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(S)


class Rep(Base):
    __tablename__ = "reps"
    rep_id: Mapped[str] = mapped_column(S, primary_key=True)
    name: Mapped[str] = mapped_column(S)
    email: Mapped[str | None] = mapped_column(S)
    title: Mapped[str | None] = mapped_column(S)
    home_zip: Mapped[str | None] = mapped_column(String(5))
    home_lat: Mapped[float | None] = mapped_column(Float)
    home_lon: Mapped[float | None] = mapped_column(Float)
    capacity_hours: Mapped[float | None] = mapped_column(Float)
    fte: Mapped[float | None] = mapped_column(Float)
    skills: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool | None] = mapped_column(Boolean)


class Territory(Base):
    __tablename__ = "territories"
    territory_id: Mapped[str] = mapped_column(S, primary_key=True)
    name: Mapped[str | None] = mapped_column(S)
    rep_id: Mapped[str | None] = mapped_column(S)


class AlignmentRow(Base):
    __tablename__ = "alignment"
    unit_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    territory_id: Mapped[str] = mapped_column(S, index=True)


class ImportBatch(Base):
    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table: Mapped[str] = mapped_column(String(32))
    source_file: Mapped[str] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(S)
    rows: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


#: Core tables by name, in a safe order for writing.
CORE_TABLES = {
    m.__tablename__: m
    for m in (Account, Contact, Opportunity, Order, OrderLine, Customer, Activity, Rep, Territory, AlignmentRow)
}


# ---------------------------------------------------------------------------------------------
# Plans, audit trail, ownership history, users (migration 0003). A plan's content lives in the
# plan_* tables keyed by plan id; every change bumps ``plans.version`` and appends one
# ``plan_events`` row per field changed (the audit trail, never updated or deleted).
# ---------------------------------------------------------------------------------------------
from sqlalchemy import Index, text  # noqa: E402


class Plan(Base):
    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(S, unique=True)
    model: Mapped[str] = mapped_column(S, index=True)  # territory model: 'geographic', an overlay name, ...
    kind: Mapped[str] = mapped_column(String(16))  # geographic | overlay
    unit_level: Mapped[str] = mapped_column(String(16))  # zip | county | state | account | custom
    status: Mapped[str] = mapped_column(String(16))  # draft | proposed | approved | active | archived
    version: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(Integer)
    settings: Mapped[str | None] = mapped_column(Text)  # JSON
    seed: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(S)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    effective_from: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        # at most one active plan per territory model, enforced by the database itself
        Index("uq_plans_one_active_per_model", "model", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )


class PlanUnit(Base):
    __tablename__ = "plan_units"
    plan_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[str] = mapped_column(S, primary_key=True)
    territory_id: Mapped[str] = mapped_column(S)


class PlanTerritory(Base):
    __tablename__ = "plan_territories"
    plan_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    territory_id: Mapped[str] = mapped_column(S, primary_key=True)
    name: Mapped[str | None] = mapped_column(S)
    parent: Mapped[str | None] = mapped_column(S)  # hierarchy: region / area node (a row of this table)
    manager: Mapped[str | None] = mapped_column(S)  # person who manages this node's subtree
    quota: Mapped[float | None] = mapped_column(Float)
    reps: Mapped[str | None] = mapped_column(Text)  # JSON list of [rep_id, role], head count = length


class PlanAccount(Base):
    __tablename__ = "plan_accounts"
    plan_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(S, primary_key=True)
    territory_id: Mapped[str | None] = mapped_column(S)
    rep_id: Mapped[str | None] = mapped_column(S)


class PlanEvent(Base):
    __tablename__ = "plan_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(S)
    entity: Mapped[str] = mapped_column(String(16))  # plan | unit | account | territory | lock
    entity_id: Mapped[str] = mapped_column(S)
    field: Mapped[str] = mapped_column(String(16))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    job: Mapped[str | None] = mapped_column(S)

    __table_args__ = (Index("ix_plan_events_entity", "entity", "entity_id"),)


class AccountOwner(Base):
    """Who owned an account from when to when, written when a plan is activated."""

    __tablename__ = "account_owners"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(S, index=True)
    model: Mapped[str] = mapped_column(S)
    plan_id: Mapped[int] = mapped_column(Integer)
    plan_version: Mapped[int] = mapped_column(Integer)
    territory_id: Mapped[str | None] = mapped_column(S)
    rep_id: Mapped[str | None] = mapped_column(S)
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime)
    valid_to: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PlanActivation(Base):
    __tablename__ = "plan_activations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(S, index=True)
    plan_id: Mapped[int] = mapped_column(Integer)
    plan_version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(S)
    at: Mapped[dt.datetime] = mapped_column(DateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(S, unique=True)
    password_hash: Mapped[str | None] = mapped_column(S)  # argon2id; None: token-only account
    role: Mapped[str] = mapped_column(String(16))  # admin | planner | manager | rep
    person_id: Mapped[str | None] = mapped_column(S)  # rep id (rep) or hierarchy manager id (manager)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(S)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the secret
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean)


class WebSession(Base):
    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie value
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


__all__ += ["Plan", "PlanUnit", "PlanTerritory", "PlanAccount", "PlanEvent", "AccountOwner", "PlanActivation",
            "User", "ApiToken", "WebSession"]


class EventDelivery(Base):
    """One accepted webhook delivery or API event, by its id: a retried delivery is
    recognised and counted once (written in the same transaction as the rows it brought)."""

    __tablename__ = "event_deliveries"
    delivery_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))       # shopify | api
    topic: Mapped[str] = mapped_column(String(40))
    shop: Mapped[str | None] = mapped_column(S)
    triggered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    rows: Mapped[int] = mapped_column(Integer)


class AlertRuleSet(Base):
    """Alert rules stored for the server (the YAML text as the user wrote it, kept valid)."""

    __tablename__ = "alert_rule_sets"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    yaml: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(S)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class RoutingRuleSet(Base):
    """Routing rules stored for the server (the YAML text of ``territorium route``, kept valid)."""

    __tablename__ = "routing_rule_sets"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    yaml: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(S)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


__all__ += ["EventDelivery", "AlertRuleSet", "RoutingRuleSet"]


class Job(Base):
    """Long work on a plan run by the server in a worker process (migration 0006): its
    parameters, status, progress and result, kept across server restarts."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    plan: Mapped[str] = mapped_column(S, index=True)  # plan name at the time the job started
    kind: Mapped[str] = mapped_column(String(16))  # design | realign | tradeoff | assign | size
    params: Mapped[str] = mapped_column(Text)  # JSON
    actor: Mapped[str] = mapped_column(S)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | succeeded | failed | cancelled
    progress: Mapped[float] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)  # JSON
    result_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class JobEvent(Base):
    """One progress event of a job (the server-sent event stream, replayable after a restart)."""

    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(Text)


__all__ += ["Job", "JobEvent"]
