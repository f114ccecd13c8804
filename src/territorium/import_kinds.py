"""What ``territorium import KIND`` and ``POST /api/imports/{kind}`` accept: kind → core table
it lands in, with the help line (one list, so the command line and the API cannot drift).

A light module outside ``data/``: importing that package loads the readers and the geography."""
from __future__ import annotations

__all__ = ["IMPORT_KINDS"]

IMPORT_KINDS: dict[str, tuple[str, str]] = {
    "accounts": ("accounts", "Accounts / companies (Salesforce Account export, HubSpot companies, generic)."),
    "contacts": ("contacts", "Contacts (Salesforce, HubSpot, generic); their e-mails link shop orders to accounts."),
    "opportunities": ("opportunities", "Opportunities (Salesforce, generic)."),
    "deals": ("opportunities", "HubSpot deals (stored as opportunities)."),
    "orders": ("orders", "Shopify orders export (one row per line item) into orders + order_lines."),
    "customers": ("customers", "Shopify customers export."),
    "activities": ("activities", "Salesforce Tasks/Events (visits, calls, e-mails, meetings)."),
    "reps": ("reps", "Sales reps (Salesforce Users export or generic)."),
    "alignment": ("alignment", "Current territory alignment: Territory, Zip [, Territory Name, Owner Id]."),
    "territories": ("territories", "Territories: Territory, Territory Name, Owner Id."),
}
