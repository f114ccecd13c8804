"""The workspace database: SQLAlchemy models, Alembic migrations, bulk writes, reads.

``engine(url=None)`` connects to :func:`territorium.settings.database_url` (SQLite file by
default, PostgreSQL via ``TERRITORIUM_DATABASE_URL``); ``upgrade(url)`` runs the migrations.
"""
from territorium.store.db import (
    DatabaseUnusable,
    NoWorkspace,
    StoreError,
    activity_totals,
    engine,
    order_totals,
    read_table,
    table_counts,
    upgrade,
    write_frames,
    write_import,
)

__all__ = [
    "DatabaseUnusable", "NoWorkspace", "StoreError", "activity_totals", "engine", "order_totals", "read_table", "table_counts", "upgrade", "write_frames",
    "write_import",
]
