"""Engine from one database URL, and the schema brought up to date with Alembic."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration in storage/migrations/versions (tests/test_storage.py checks it against
# Alembic's head): a database at this revision needs no Alembic, whose import costs a command
# a quarter of its start-up.
SCHEMA_HEAD = "0009_run_workers"
# How long an SQLite writer waits for another one's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option: on SQLite, start transactions with BEGIN IMMEDIATE (write lock up front).
BEGIN_IMMEDIATE = "newswatch_sqlite_begin_immediate"
# Any constant unique to this application: the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK_KEY = 0x6E657773  # "news"

logger = logging.getLogger(__name__)


# Tables of the same database that Alembic does not manage: autogenerate must neither drop
# nor recreate them. APScheduler's job store (monitor/scheduler.py) creates and owns its own.
UNMANAGED_TABLES = frozenset({"apscheduler_jobs"})
# The full-text index (migration 0004_web) is dialect-specific DDL the models do not describe:
# SQLite's FTS5 table and its shadow tables, PostgreSQL's expression index.
SEARCH_INDEX_PREFIX = "article_search"


def managed_by_alembic(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """Whether autogenerate compares this schema object with the models (Alembic's `include_name`)."""
    if name and name.startswith(SEARCH_INDEX_PREFIX):
        return False
    return not (type_ == "table" and name in UNMANAGED_TABLES)


class BadDatabaseURL(ValueError):
    """A database URL no engine can be made from here; the message says why."""


# What a database URL may be, for messages; SQLite and PostgreSQL are the ones tested.
ACCEPTED_URLS = ("sqlite:///FILE (in an existing directory) or postgresql+psycopg://USER@HOST/DATABASE "
                 "(pip install -e '.[postgres]')")


def check_url(url: str) -> None:
    """Raise BadDatabaseURL unless `url` parses, names an installed driver and, for an SQLite
    file, a directory that exists (SQLite creates the file, not its directory). Connects to nothing."""
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise BadDatabaseURL(f"not a database URL ({error}); use {ACCEPTED_URLS}") from error
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise BadDatabaseURL(f"the driver of {parsed.drivername} is not installed ({error}); "
                             f"use {ACCEPTED_URLS}") from error
    if dialect.name == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise BadDatabaseURL(f"no directory {folder} for the SQLite file; use {ACCEPTED_URLS}")


def make_engine(url: str, *, writer: bool = False) -> Engine:
    """An engine for `url`; on SQLite with foreign keys enforced and real transactions.

    `writer`: an engine whose transactions write (a crawl's). On SQLite each opens with BEGIN
    IMMEDIATE, so it waits for another process's write lock (the busy timeout) instead of failing
    with "database is locked": a deferred transaction that read first cannot wait for the lock in
    WAL mode, its snapshot being stale once the other writer commits.
    """
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, execution_options={BEGIN_IMMEDIATE: True} if writer else {})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, a busy timeout, the write-ahead log, and BEGIN emitted by SQLAlchemy.

    The sqlite3 driver's legacy mode begins transactions only before DML, so reads and DDL
    would escape the transaction and SAVEPOINTs would not nest; SQLAlchemy's documented
    recipe takes over BEGIN instead. A connection with the BEGIN_IMMEDIATE execution option
    takes the write lock at BEGIN, so two such writers queue instead of deadlocking.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # Write-ahead log: readers (the CLI, the scheduler) never block the crawl's writer, and a
        # commit is an append instead of a journal rewrite; NORMAL syncs at checkpoints only,
        # which in WAL mode can lose the last commits on power loss but never corrupts.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(BEGIN_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class MigrationError(RuntimeError):
    """A migration could not be applied consistently."""


def alembic_config() -> Config:
    """Alembic configuration for the migrations shipped inside this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("storage") / "migrations"))
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the database behind `engine` to the latest schema (a no-op when current).

    One line says so when a database is upgraded (not Alembic's line per step); a new
    database says nothing at INFO: the run's first line says it is the site's first.
    """
    if schema_is_current(engine):
        return
    from alembic import command

    before = _revision(engine)
    steps = logging.getLogger("alembic.runtime.migration")
    level = steps.level
    steps.setLevel(logging.WARNING)
    try:
        config = alembic_config()
        with engine.connect() as connection, migration_transaction(connection):
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        steps.setLevel(level)
    logger.log(logging.INFO if before else logging.DEBUG, "database schema upgraded from %s to %s",
               before or "nothing", SCHEMA_HEAD)


def _revision(engine: Engine) -> str | None:
    """The migration the database behind `engine` is at; None for a database without one."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision: str | None = connection.scalars(text("SELECT version_num FROM alembic_version")).first()
        return revision


def schema_is_current(engine: Engine) -> bool:
    """Whether the database behind `engine` is at the newest migration (SCHEMA_HEAD)."""
    return _revision(engine) == SCHEMA_HEAD


@contextmanager
def migration_transaction(connection: Connection) -> Iterator[None]:
    """One transaction for schema changes, which concurrent migrators wait for.

    On SQLite, foreign keys are off meanwhile and checked once at the end: batch migrations
    rebuild tables, which enforced keys would block, and the pragma only takes effect
    outside a transaction (SQLite's documented procedure for schema changes).
    """
    if connection.dialect.name != "sqlite":
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            yield
        return
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        with connection.execution_options(**{BEGIN_IMMEDIATE: True}).begin():
            yield
            violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if violations:
                raise MigrationError(f"migration left rows violating foreign keys: {violations[:10]}")
    finally:
        connection.execution_options(**{BEGIN_IMMEDIATE: False})
        driver_connection.execute("PRAGMA foreign_keys = ON")
