"""A crawl's run: one running crawl per site (the lock), refused while its holder lives, taken over once
it died; with the real crawl, the run's extension (crawler.runs) claims, beats and closes it."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import threading

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage import runs
from storage.models import Article, Change, CrawlRun

HOST = socket.gethostname()


def dead_pid() -> int:
    """The pid of a process that has finished (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def all_runs(engine) -> list[CrawlRun]:
    with Session(engine) as session:
        return list(session.scalars(select(CrawlRun).order_by(CrawlRun.id)))


def count(engine, model) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_claim_starts_a_running_run_owned_by_this_process(engine):
    claim = runs.claim(engine, "icesco")

    (run,) = all_runs(engine)
    assert (run.id, run.status, run.is_baseline) == (claim.run_id, "running", True)
    assert (run.pid, run.hostname) == (runs.Owner.this_process().pid, HOST)
    assert run.heartbeat_at == run.started_at and claim.took_over is None


def test_a_live_lock_refuses_a_second_claim_and_writes_nothing(engine):
    first = runs.claim(engine, "icesco")

    with pytest.raises(runs.CrawlAlreadyRunning) as refused:
        runs.claim(engine, "icesco")

    assert refused.value.run_id == first.run_id
    assert f"run {first.run_id}, started" in str(refused.value) and "already running" in str(refused.value)
    assert [(r.id, r.status) for r in all_runs(engine)] == [(first.run_id, "running")]


def test_the_lock_is_per_site(engine):
    runs.claim(engine, "icesco")
    runs.claim(engine, "other")

    assert sorted((r.site, r.status) for r in all_runs(engine)) == [("icesco", "running"), ("other", "running")]


def test_a_finished_run_frees_the_lock(engine):
    first = runs.claim(engine, "icesco")
    with Session(engine) as session, session.begin():
        session.get(CrawlRun, first.run_id).status = "complete"

    second = runs.claim(engine, "icesco")

    assert second.took_over is None and second.run_id != first.run_id


def test_the_lock_of_a_dead_process_on_this_host_is_taken_over(engine):
    pid = dead_pid()
    stale = runs.claim(engine, "icesco", owner=runs.Owner(pid, HOST))

    claim = runs.claim(engine, "icesco")

    old, new = all_runs(engine)
    assert claim.took_over == old.id == stale.run_id and new.id == claim.run_id
    assert old.status == "failed" and old.finished_at is not None
    assert old.error == f"abandoned: process {pid} on {HOST} died"
    assert new.status == "running" and new.pid == runs.Owner.this_process().pid


def test_a_lock_on_another_host_is_taken_over_only_once_its_heartbeat_is_stale(engine):
    elsewhere = runs.Owner(4242, "another-host")
    held = runs.claim(engine, "icesco", owner=elsewhere)

    with pytest.raises(runs.CrawlAlreadyRunning):  # its heartbeat is fresh: it may well be alive
        runs.claim(engine, "icesco", stale_after=dt.timedelta(minutes=30))
    with Session(engine) as session, session.begin():
        session.execute(update(CrawlRun).where(CrawlRun.id == held.run_id)
                        .values(heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31)))
    claim = runs.claim(engine, "icesco", stale_after=dt.timedelta(minutes=30))

    old, new = all_runs(engine)
    assert claim.took_over == old.id and old.status == "failed"
    assert old.error.startswith("abandoned: no heartbeat from process 4242 on another-host since ")
    assert new.status == "running"


def test_a_heartbeat_refreshes_only_its_owners_running_run(engine):
    owner = runs.Owner.this_process()
    claim = runs.claim(engine, "icesco", owner=owner)
    before = all_runs(engine)[0].heartbeat_at

    assert runs.beat(engine, claim.run_id, owner)
    assert all_runs(engine)[0].heartbeat_at > before
    assert not runs.beat(engine, claim.run_id, runs.Owner(owner.pid + 1, owner.hostname))
    with Session(engine) as session, session.begin():
        session.get(CrawlRun, claim.run_id).status = "failed"  # taken over as abandoned
    assert not runs.beat(engine, claim.run_id, owner)


def test_concurrent_claims_grant_the_lock_exactly_once(engine):
    claimers = 6
    barrier = threading.Barrier(claimers)
    granted, refused, crashed = [], [], []

    def claim(n: int) -> None:
        barrier.wait()
        try:
            # Other hosts, fresh heartbeats: every holder counts as alive.
            granted.append(runs.claim(engine, "icesco", owner=runs.Owner(4242, f"host-{n}")))
        except runs.CrawlAlreadyRunning as error:
            refused.append(error)
        except Exception as error:  # noqa: BLE001 -- reported by the assertion below
            crashed.append(error)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert crashed == [] and len(granted) == 1 and len(refused) == claimers - 1
    assert [r.status for r in all_runs(engine)] == ["running"]
    assert {error.run_id for error in refused} == {granted[0].run_id}


# --------------------------------------------------------------------------- with the real crawl


def test_a_crawl_is_refused_while_another_runs_and_touches_nothing(mirror, engine, crawl):
    holder = runs.claim(engine, "icesco")  # held by this (live) test process

    result = crawl(mirror.base_url, engine, check=False)

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR: " in line]
    assert len(errors) == 1, result.stderr[-3000:]
    assert f"another crawl of icesco is already running: run {holder.run_id}, started " in errors[0]
    assert "Traceback" not in result.stderr
    assert [(r.id, r.status) for r in all_runs(engine)] == [(holder.run_id, "running")]
    assert count(engine, Article) == 0 and mirror.requests == []


def test_the_run_is_closed_and_its_changes_detected_after_the_last_batch_is_stored(mirror, engine, crawl):
    # Every article waits for the last batch, written as the spider closes.
    crawl(mirror.base_url, engine, NEWSWATCH_STORE_BATCH="100000", NEWSWATCH_STORE_SECONDS="0")

    (run,) = all_runs(engine)
    stored = count(engine, Article)
    assert run.status == "complete" and stored > 0
    assert run.stats["articles_seen"] == run.stats["versions_written"] == stored
    assert count(engine, Change) == stored  # the baseline's additions, detected once the run was closed


def test_a_crawl_takes_over_the_lock_of_a_dead_crawl(mirror, engine, crawl):
    pid = dead_pid()
    runs.claim(engine, "icesco", owner=runs.Owner(pid, HOST))

    crawl(mirror.base_url, engine, NEWSWATCH_HEARTBEAT_SECONDS="0.05")

    old, new = all_runs(engine)
    assert (old.status, old.error) == ("failed", f"abandoned: process {pid} on {HOST} died")
    assert new.status == "complete" and new.pid != pid
    assert new.heartbeat_at > new.started_at  # it beat while it ran
    assert count(engine, Article) > 0


class _OnFirstRequest(list):
    """A mirror's request log that does something when the first request arrives."""

    def __init__(self, action) -> None:
        super().__init__()
        self.action = action

    def append(self, path: str) -> None:
        if not self:
            self.action()
        super().append(path)


def test_a_crawl_whose_lock_was_taken_over_stops_and_leaves_the_run_to_its_new_owner(mirror, engine, crawl,
                                                                                      monkeypatch):
    def take_over() -> None:  # as another crawl would, had this one's heartbeat gone stale
        with Session(engine) as session, session.begin():
            session.execute(update(CrawlRun).where(CrawlRun.status == "running")
                            .values(status="failed", error="abandoned: taken over by the test"))

    monkeypatch.setattr(mirror, "requests", _OnFirstRequest(take_over))

    result = crawl(mirror.base_url, engine, NEWSWATCH_HEARTBEAT_SECONDS="0.05", check=False)

    assert result.returncode == 4, result.stderr[-3000:]  # its run failed (crawler/exits.py)
    assert "is no longer this crawl's lock" in result.stderr and "Closing spider (lock_lost)" in result.stderr
    (run,) = all_runs(engine)
    assert (run.status, run.error) == ("failed", "abandoned: taken over by the test")
