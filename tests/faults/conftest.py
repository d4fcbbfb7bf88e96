"""Fixtures of the fault suite: the fault mirror, crawl processes, databases copied from nights
crawled once per session, and a misbehaving SMTP server.

Databases are SQLite files (the faults are the site's, the process's or the mail server's, not
the backend's), except where a test asks for PostgreSQL by name. The nights every test starts
from (v1 crawled: the baseline; then v2 crawled with subscribers) are crawled once per session
and copied for each test, so a test pays only for the crawls its fault is about.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import SNAPSHOTS
from sqlalchemy import Engine
from test_notify import KEY, SmtpServer

from faults import observe
from faults.faultmirror import FaultMirror
from faults.processes import Crawl, crawl_command
from faults.smtpfaults import FaultyInbox
from monitor.cli import main
from storage.db import make_engine

V1, V2 = SNAPSHOTS / "v1", SNAPSHOTS / "v2"
# Subscribers of the v2 night: everything; English additions and edits; removals only.
SUBSCRIBERS = {
    "all@example.org": ("en,fr,ar", "added,edited,removed"),
    "english@example.org": ("en", "added,edited"),
    "removals@example.org": ("en,fr,ar", "removed"),
}


# --------------------------------------------------------------------------- the site


@pytest.fixture(scope="session")
def fault_mirror() -> Iterator[FaultMirror]:
    with FaultMirror(V1).running() as server:
        yield server


@pytest.fixture
def site(fault_mirror: FaultMirror) -> Iterator[FaultMirror]:
    """The fault mirror on snapshot v1 without faults; gates the test left closed are opened after it."""
    fault_mirror.reset(V1)
    yield fault_mirror
    fault_mirror.reset(V1)


# --------------------------------------------------------------------------- crawls


class Crawls:
    """Starts `scrapy crawl news` children against the fault mirror; ends what is left of them."""

    def __init__(self, site_url: str, state_dir: Path) -> None:
        self.site_url = site_url
        self.started: list[Crawl] = []
        # Scrapy's remote-control extension writes job files under the user's state folder.
        self.env = {**os.environ, "XDG_STATE_HOME": str(state_dir)}

    def start(self, engine: Engine, *args: str, preexec: Callable[[], None] | None = None, **settings) -> Crawl:
        url = engine.url.render_as_string(hide_password=False)
        command = crawl_command(self.site_url, url, *args, **{k: str(v) for k, v in settings.items()})
        crawl = Crawl(command, self.env, preexec)
        self.started.append(crawl)
        return crawl

    def run(self, engine: Engine, *args: str, timeout: float = 120.0, **settings) -> Crawl:
        """A crawl run to its end (within `timeout` s)."""
        crawl = self.start(engine, *args, **settings)
        crawl.wait(timeout)
        return crawl

    def end_all(self) -> None:
        for crawl in self.started:
            crawl.end_group()


@pytest.fixture
def crawls(site: FaultMirror, tmp_path: Path) -> Iterator[Crawls]:
    made = Crawls(site.base_url, tmp_path / "state")
    yield made
    made.end_all()


# --------------------------------------------------------------------------- databases


def sqlite_engine(path: Path) -> Engine:
    return make_engine(f"sqlite:///{path}")


def copy_database(source: Path, target: Path) -> Path:
    """A consistent copy of an SQLite database (its write-ahead log included), by SQLite's backup API."""
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()
    return target


@pytest.fixture(scope="session")
def nights(fault_mirror: FaultMirror, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SQLite files of the nights tests start from, crawled once: `v1` (the baseline of v1), and
    `v2` (then the subscribers of SUBSCRIBERS, then v2 crawled in full: its digests are queued)."""
    folder = tmp_path_factory.mktemp("nights")
    crawls = Crawls(fault_mirror.base_url, folder / "state")
    try:
        fault_mirror.reset(V1)
        v1 = folder / "v1.db"
        engine = sqlite_engine(v1)
        _expect_complete(crawls.run(engine), engine)
        engine.dispose()
        v2 = copy_database(v1, folder / "v2.db")
        engine = sqlite_engine(v2)
        for address, (languages, kinds) in SUBSCRIBERS.items():
            subscribe(engine, address, languages, kinds)
        fault_mirror.reset(V2)
        _expect_complete(crawls.run(engine, "-a", "mode=full"), engine)
        engine.dispose()
    finally:
        crawls.end_all()
        fault_mirror.reset(V1)
    return {"v1": v1, "v2": v2}


def _expect_complete(crawl: Crawl, engine: Engine) -> None:
    assert crawl.status == 0 and observe.runs(engine)[-1].status == "complete", crawl.tail()


@pytest.fixture
def database(nights: dict[str, Path], tmp_path: Path) -> Iterator[Callable[[str | None], Engine]]:
    """`database("v1")`: a copy of that night's database for this test; `database(None)`: an empty one."""
    engines: list[Engine] = []

    def make(night: str | None = "v1") -> Engine:
        path = tmp_path / f"newswatch-{len(engines)}.db"
        if night is not None:
            copy_database(nights[night], path)
        engines.append(sqlite_engine(path))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


# --------------------------------------------------------------------------- mail


def subscribe(engine: Engine, address: str, languages: str = "en,fr,ar", kinds: str = "added,edited,removed") -> None:
    added = newswatch(engine, "subscribers", "add", address, "--languages", languages, "--kinds", kinds)
    assert added.exit_code == 0, added.output


def newswatch(engine: Engine, *args: str, env: dict[str, str] | None = None) -> Result:
    """The `newswatch` command line on this database (with the test's secret key)."""
    url = engine.url.render_as_string(hide_password=False)
    environment = {"NEWSWATCH_SECRET_KEY": KEY.decode(), "NEWSWATCH_DATABASE_URL": url, **(env or {})}
    return CliRunner().invoke(main, list(args), env=environment)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 that misbehaves as its `inbox.plan` says (nothing planned: it works)."""
    server = SmtpServer(inbox=FaultyInbox())
    server.start()
    yield server
    server.stop()


def notify(engine: Engine, smtp: SmtpServer, *options: str) -> Result:
    """`newswatch notify` through the test SMTP server."""
    return newswatch(engine, "notify", *options, env=smtp.env())


# --------------------------------------------------------------------------- the scheduler's job


def nightly_job(engine: Engine, crawl: list[str], notify: tuple[str, ...]):
    """Run the scheduler's nightly job (`monitor.jobs.nightly_crawl`) on this database; its report.

    Where the jobs read the scheduler's environment instead of a context, the caller has set
    NEWSWATCH_DATABASE_URL in it (monkeypatch).
    """
    from monitor import jobs

    if hasattr(jobs, "JobContext"):  # the scheduler hands its jobs their settings
        url = engine.url.render_as_string(hide_password=False)
        return jobs.nightly_crawl(crawl, notify, context=jobs.JobContext(database_url=url, site="icesco"))
    return jobs.nightly_crawl(crawl, notify)
