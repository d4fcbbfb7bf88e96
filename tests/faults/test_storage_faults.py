"""Issue 13, storage faults (items 9, 10, 11): a locked database, a full disk, a database that
refuses the crawl at start-up. What the operator must see: the run's true status, one clear ERROR
line, a non-zero exit status, and nothing lost once the fault is gone.

The fault starts when the crawl asks for its first article (held at a gate until then), so it
strikes the store phase, after the run has started.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults import observe
from faults.conftest import V2
from faults.faultmirror import ARTICLE, held
from faults.processes import ignoring_file_size_signal, limit_file_size

FULL = ("-a", "mode=full")
ONE_BY_ONE = {"NEWSWATCH_STORE_BATCH": "1"}


def database_file(engine) -> Path:
    return Path(engine.url.database)


def start_held(site, crawls, engine, **options):
    """A full crawl of v2 whose article requests wait at a gate; returned with the gate, once the first arrived."""
    site.snapshot = V2
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate)]
    crawl = crawls.start(engine, *FULL, **{**ONE_BY_ONE, **options})
    site.wait_for(ARTICLE)
    return crawl, gate


# --------------------------------------------------------------------------- item 9


def test_item9_a_short_sqlite_lock_while_storing_is_waited_for(database, site, crawls):
    engine = database("v1")
    crawl, gate = start_held(site, crawls, engine)
    other = sqlite3.connect(database_file(engine), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer: a CLI command, a backup, a second process
    gate.set()
    threading.Event().wait(5)  # the fault: the lock is held 5 s (SQLite's busy timeout is 30 s)
    other.execute("ROLLBACK")
    other.close()
    crawl.wait()

    assert "database is locked" not in crawl.log
    run = observe.runs(engine)[-1]
    assert (run.status, run.stats["store_failed"]) == ("complete", 0)
    assert observe.reported(engine) == observe.expected(V2)


# --------------------------------------------------------------------------- item 10


def test_item10_a_full_disk_while_storing_fails_the_run_clearly_and_loses_nothing(database, site, crawls):
    engine = database("v1")
    crawl, gate = start_held(site, crawls, engine, preexec=ignoring_file_size_signal)
    wal = database_file(engine).with_name(database_file(engine).name + "-wal")
    limit_file_size(crawl.pid, wal.stat().st_size)  # no file of the crawl may grow any more: the disk is full
    gate.set()
    status = crawl.wait()

    assert status != 0, "exit status 0 for a run that could not store"
    assert len(crawl.errors()) == 1 and crawl.tracebacks() == 0, "\n".join(crawl.errors()[:10])
    assert "full" in crawl.errors()[0]
    site.faults = []
    crawls.run(engine, *FULL)  # the disk has room again
    assert [r.status for r in observe.runs(engine)] == ["complete", "failed", "complete"]
    assert observe.reported(engine) == observe.expected(V2)
    assert observe.problems(engine) == []


# --------------------------------------------------------------------------- item 11


def unreachable_postgresql() -> str:
    return "postgresql+psycopg://postgres@127.0.0.1:9/newswatch"  # the discard port: the connection is refused


@contextlib.contextmanager
def read_only(file: Path) -> Iterator[None]:
    """`file` cannot be written, not even by root (the tests run as root: file modes do not stop it)."""
    made = subprocess.run(["chattr", "+i", str(file)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make {file} read-only for root with chattr +i: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(file)], check=True)


@pytest.mark.parametrize("refusal", ["read-only SQLite", "PostgreSQL refusing connections"])
def test_item11_a_database_refusing_the_crawl_at_start_up_is_one_clear_line_and_exit_1(database, site, crawls,
                                                                                        refusal):
    engine = database("v1")
    url = unreachable_postgresql() if refusal == "PostgreSQL refusing connections" else None
    with read_only(database_file(engine)) if url is None else contextlib.nullcontext():
        crawl = crawls.start(engine, **({"NEWSWATCH_DATABASE_URL": url} if url else {}))
        status = crawl.wait()

    assert status == 1
    assert len(crawl.errors()) == 1 and crawl.tracebacks() == 0, (
        f"{len(crawl.errors())} ERROR lines, {crawl.tracebacks()} tracebacks, {len(crawl.lines)} lines:\n"
        + crawl.tail(8))
    assert site.hits() == []
    assert [r.status for r in observe.runs(engine)] == ["complete"]  # the database holds nothing of it
