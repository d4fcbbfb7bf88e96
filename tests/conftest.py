"""Shared fixtures, one section per kind of resource (databases first; the site server next).

Databases: `engine` (migrated and emptied before each test, once per backend: SQLite and
PostgreSQL), `postgres_engine` (PostgreSQL only), `unmigrated_database_url` (a brand-new
empty database, once per backend). PostgreSQL comes from NEWSWATCH_TEST_POSTGRES_URL
(default below); its tests skip only when that server cannot be reached.

Crawls: `crawl` runs the real `scrapy crawl news` against the fixture mirror (`mirror`);
`shared_crawls(engine, "v1", "v2", args=...)` fills `engine` with what such crawls store,
crawled once per session and backend and copied into each test that asks (with each crawl's
log and requests), so a test pays only for the crawls it is about.

Under pytest-xdist (the default: `-n auto` in pyproject.toml) each worker is a session of
its own: session fixtures are made once per worker, with their own PostgreSQL databases,
mirror, ports and temporary folders.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url, text, update
from sqlalchemy.exc import OperationalError

from monitor.mirror import Mirror
from storage.db import make_engine, migrate
from storage.models import Article, Base

# The tests' output is no terminal: no terminal size from outside. (pytest-xdist's workers would
# inherit COLUMNS=80 and LINES=24, which readline, imported by pytest, puts in its C environment.)
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

# =========================================================================== databases

POSTGRES_URL_ENV = "NEWSWATCH_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]


class PostgresServer:
    """The PostgreSQL server, reached through its maintenance database in AUTOCOMMIT mode."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")

    def create_database(self, template: str | None = None, name: str | None = None) -> str:
        """The URL of a new database, uniquely named unless `name` is given: empty, or a copy of
        the database at URL `template` (which nobody may be connected to)."""
        name = name or f"newswatch_test_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
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


def run_crawl(site_url: str, database_url: str, *args: str, check: bool = True,
              **settings: str) -> subprocess.CompletedProcess[str]:
    """The real `scrapy crawl news` in a child process, against a site and a database."""
    options = {**FAST, "NEWSWATCH_SITE_URL": site_url, "NEWSWATCH_DATABASE_URL": database_url, **settings}
    command = [sys.executable, "-m", "scrapy", "crawl", "news", *args]
    for name, value in options.items():
        command += ["-s", f"{name}={value}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    if check and result.returncode not in (0, 3):  # complete or incomplete (crawler/exits.py): it ran
        raise AssertionError(f"crawl failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


@pytest.fixture
def crawl() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `scrapy crawl news` in a child process against a mirror and a database."""

    def run(site_url: str, engine: Engine, *args: str, check: bool = True, **settings: str):
        return run_crawl(site_url, engine.url.render_as_string(hide_password=False), *args, check=check, **settings)

    return run


# --------------------------------------------------------------------------- crawls shared by tests

# One crawl of a shared history: the snapshot folder served, the crawl's arguments, its settings.
Step = tuple[Path, tuple[str, ...], tuple[tuple[str, str], ...]]


def history(*snapshots: str | Path, args: tuple[str, ...] = (), **settings: str) -> tuple[Step, ...]:
    """The crawls of these snapshots in turn, each with these arguments and settings: a name is a
    fixture snapshot ("v1"), a path a folder the test wrote once for the tests sharing it."""
    return tuple((SNAPSHOTS / snapshot if isinstance(snapshot, str) else snapshot, tuple(args),
                  tuple(sorted(settings.items()))) for snapshot in snapshots)


@dataclass(frozen=True)
class Crawled:
    """A crawl of a shared history: the snapshot it read, its process (exit status and log), the
    paths it requested from the mirror."""

    snapshot: Path
    result: subprocess.CompletedProcess[str]
    requests: tuple[str, ...]


@dataclass(frozen=True)
class SavedDatabase:
    url: str  # an SQLite file or a PostgreSQL database nobody is connected to
    crawls: tuple[Crawled, ...]


class SharedCrawls:
    """Databases holding crawls of the fixture mirror, each history crawled once per backend (and
    per xdist worker), built on the saved database of its first crawls, copied on demand."""

    def __init__(self, mirror: Mirror, folder: Path) -> None:
        self.mirror = mirror
        self.folder = folder
        self.saved: dict[tuple[str, tuple[Step, ...]], SavedDatabase] = {}
        self.server: PostgresServer | None = None  # known once a PostgreSQL history is asked for

    def restore(self, engine: Engine, steps: tuple[Step, ...], server: PostgresServer | None = None) -> list[Crawled]:
        """Replace the content of `engine`'s database by the history's (crawled first if need be)."""
        backend = engine.dialect.name
        if backend == "postgresql":
            assert server is not None, "a PostgreSQL history needs the postgres_server fixture"
            self.server = server
        saved = self._saved(backend, steps)
        engine.dispose()  # nothing of this test may hold the database being replaced
        url = engine.url.render_as_string(hide_password=False)
        if backend == "sqlite":
            copy_sqlite(saved.url, url)
        else:
            assert self.server is not None
            self.server.drop_database(url)
            self.server.create_database(template=saved.url, name=engine.url.database)
        return list(saved.crawls)

    def _saved(self, backend: str, steps: tuple[Step, ...]) -> SavedDatabase:
        key = (backend, steps)
        if key not in self.saved:
            self.saved[key] = self._build(backend, steps)
        return self.saved[key]

    def _build(self, backend: str, steps: tuple[Step, ...]) -> SavedDatabase:
        if not steps:  # a migrated, empty database, as the `engine` fixture gives
            url = self._new_database(backend, None)
            engine = make_engine(url)
            migrate(engine)
            engine.dispose()
            return SavedDatabase(url, ())
        before = self._saved(backend, steps[:-1])
        url = self._new_database(backend, before.url)
        snapshot, args, settings = steps[-1]
        kept = self.mirror.snapshot, list(self.mirror.requests)
        self.mirror.snapshot, self.mirror.requests[:] = snapshot, []
        try:
            result = run_crawl(self.mirror.base_url, url, *args, **dict(settings))
            crawled = Crawled(snapshot, result, tuple(self.mirror.requests))
        finally:
            self.mirror.snapshot, self.mirror.requests[:] = kept
        return SavedDatabase(url, (*before.crawls, crawled))

    def _new_database(self, backend: str, copy_of: str | None) -> str:
        if backend == "sqlite":
            url = f"sqlite:///{self.folder / f'history-{len(self.saved)}-{uuid.uuid4().hex[:8]}.db'}"
            if copy_of:
                copy_sqlite(copy_of, url)
            return url
        assert self.server is not None
        return self.server.create_database(template=copy_of)

    def drop(self) -> None:
        """Drop the saved PostgreSQL databases (SQLite files go with the session's temporary folder)."""
        for (backend, _), saved in self.saved.items():
            if backend == "postgresql" and self.server is not None:
                self.server.drop_database(saved.url)


def copy_sqlite(source_url: str, target_url: str) -> None:
    """Make the SQLite database at `target_url` a copy of the one at `source_url`, by SQLite's backup API."""
    origin, copy = sqlite3.connect(make_url(source_url).database or ""), sqlite3.connect(make_url(target_url).database or "")
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()


@pytest.fixture(scope="session")
def shared_crawl_cache(mirror_server: Mirror, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedCrawls]:
    """The session's shared histories (for module-scoped fixtures; tests use `shared_crawls`)."""
    cache = SharedCrawls(mirror_server, tmp_path_factory.mktemp("shared-crawls"))
    yield cache
    cache.drop()


@pytest.fixture
def shared_crawls(shared_crawl_cache: SharedCrawls, mirror: Mirror,
                  request: pytest.FixtureRequest) -> Callable[..., list[Crawled]]:
    """`shared_crawls(engine, "v1", "v2", args=("-a", "mode=full"), **settings)`: `engine` now holds
    what `crawl` of each snapshot in turn (on the session's mirror, as `mirror`), with those
    arguments and settings, stores; the crawls themselves ran once per session and backend.
    Returns each crawl's log and requests."""

    def restore(engine: Engine, *snapshots: str | Path, args: tuple[str, ...] = (), **settings: str) -> list[Crawled]:
        server = request.getfixturevalue("postgres_server") if engine.dialect.name == "postgresql" else None
        return shared_crawl_cache.restore(engine, history(*snapshots, args=args, **settings), server)

    return restore
