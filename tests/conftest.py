"""Shared fixtures, one section per kind of resource (databases first; the site server next).

Databases: `engine` (migrated and emptied before each test, once per backend: SQLite and
PostgreSQL), `postgres_engine` (PostgreSQL only), `unmigrated_database_url` (a brand-new
empty database, once per backend). PostgreSQL comes from NEWSWATCH_TEST_POSTGRES_URL
(default below); its tests skip only when that server cannot be reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url, text, update
from sqlalchemy.exc import OperationalError

from monitor.mirror import Mirror
from storage.db import make_engine, migrate
from storage.models import Article, Base

# =========================================================================== databases

POSTGRES_URL_ENV = "NEWSWATCH_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]


class PostgresServer:
    """The PostgreSQL server, reached through its maintenance database in AUTOCOMMIT mode."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")

    def create_database(self) -> str:
        """The URL of a new, empty, uniquely named database."""
        name = f"newswatch_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database`, disconnecting its clients first."""
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test PostgreSQL server; skips the tests that need it when it cannot be reached."""
    url = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    server = PostgresServer(url)
    try:
        server.admin.connect().close()
    except OperationalError as error:
        server.admin.dispose()
        shown = url.render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL not reachable at {shown}: {error.orig}")
    yield server
    server.admin.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated SQLite file for the whole test session."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'newswatch.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_database(postgres_server: PostgresServer) -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database for the whole test session, dropped at its end."""
    url = postgres_server.create_database()
    engine = make_engine(url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        postgres_server.drop_database(url)


def empty_tables(engine: Engine) -> None:
    """Delete every row of the application's tables (the schema and its version stay)."""
    with engine.begin() as connection:
        # articles.current_version_id closes a cycle of foreign keys: break it first.
        connection.execute(update(Article).values(current_version_id=None))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated, empty database, once per backend."""
    engine = request.getfixturevalue(f"{request.param}_database")
    empty_tables(engine)
    return engine


@pytest.fixture
def postgres_engine(postgresql_database: Engine) -> Engine:
    """The migrated, empty PostgreSQL database, for tests of PostgreSQL-only behaviour."""
    empty_tables(postgresql_database)
    return postgresql_database


@pytest.fixture(params=BACKENDS)
def unmigrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a brand-new database without any table, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


# --------------------------------------------------------------------------- the fixture site and crawls

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "fixtures" / "site"
# Politeness off for a mirror on loopback; everything else as an operator's crawl.
FAST = {"AUTOTHROTTLE_ENABLED": "False", "DOWNLOAD_DELAY": "0", "RETRY_TIMES": "1", "LOG_LEVEL": "INFO"}


@pytest.fixture(scope="session")
def snapshots() -> Path:
    """The folder of fixture snapshots (v1, v2, ...)."""
    return SNAPSHOTS


@pytest.fixture(scope="session")
def mirror_server() -> Iterator[Mirror]:
    """The fixture mirror served on 127.0.0.1 for the whole session."""
    with Mirror(SNAPSHOTS / "v1").running() as server:
        yield server


@pytest.fixture
def mirror(mirror_server: Mirror) -> Mirror:
    """The session's mirror, reset to snapshot v1 with an empty request log."""
    mirror_server.snapshot = SNAPSHOTS / "v1"
    mirror_server.requests.clear()
    return mirror_server


@pytest.fixture
def crawl() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `scrapy crawl news` in a child process against a mirror and a database."""

    def run(site_url: str, engine: Engine, *args: str, check: bool = True, **settings: str):
        options = {**FAST, "NEWSWATCH_SITE_URL": site_url,
                   "NEWSWATCH_DATABASE_URL": engine.url.render_as_string(hide_password=False), **settings}
        command = [sys.executable, "-m", "scrapy", "crawl", "news", *args]
        for name, value in options.items():
            command += ["-s", f"{name}={value}"]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
        if check and result.returncode not in (0, 3):  # complete or incomplete (crawler/exits.py): it ran
            raise AssertionError(f"crawl failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    return run
