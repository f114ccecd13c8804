"""Alembic environment: uses the connection handed over by ``territorium.store.db.upgrade``,
else the URL from ``-x url=...``, the ini file or ``territorium.settings.database_url()``."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from territorium.store.models import Base

target_metadata = Base.metadata
try:
    config = context.config
except AttributeError:  # imported outside an alembic run (e.g. pytest --doctest-modules)
    config = None


def _url() -> str:
    x = context.get_x_argument(as_dictionary=True).get("url")
    if x:
        return x
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from territorium.settings import database_url

    return database_url()


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.begin() as conn:
        _configure(conn)


if config is not None:
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
