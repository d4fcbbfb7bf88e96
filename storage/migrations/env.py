"""Alembic environment: run from `storage.db.migrate` (shared connection) or the alembic CLI.

The CLI takes its URL from NEWSWATCH_DATABASE_URL, else `sqlalchemy.url` in alembic.ini,
else the default SQLite file in the working directory.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import make_url
from sqlalchemy.engine import Connection

from storage import DEFAULT_DATABASE_URL
from storage.db import make_engine, managed_by_alembic, migration_transaction
from storage.models import Base

config = context.config
if config.config_file_name is not None:  # the alembic CLI, not migrate(): leave app logging be
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def _url() -> str:
    return (
        os.environ.get("NEWSWATCH_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
        or DEFAULT_DATABASE_URL
    )


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        include_name=managed_by_alembic,
        **options,
    )


def run_migrations_offline() -> None:
    """Emit the SQL to stdout (`alembic upgrade head --sql`)."""
    url = _url()
    _configure(
        url=url,
        literal_binds=True,
        render_as_batch=make_url(url).get_backend_name() == "sqlite",
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the connection handed over by `migrate()`, or a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection, migration_transaction(connection):
            _run_with(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
