"""Crawl runs: starting, closing and listing them, and the crawl lock they hold while running.

The lock is a run's `running` row in `crawl_runs`, at most one per site: the database
enforces it (the partial unique index `uq_crawl_runs_one_running_per_site`). This module
claims it for a process, keeps it fresh (a heartbeat), tells whether the process holding it
is dead, and takes over a lock whose owner died. It knows nothing of Scrapy.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import BEGIN_IMMEDIATE
from storage.models import RUN_STATUSES, Article, CrawlRun, RunWorker

logger = logging.getLogger(__name__)

# A running crawl refreshes its heartbeat every minute; this long without one, it is dead.
DEFAULT_STALE_AFTER = dt.timedelta(minutes=30)
# Claiming races another claimer at most this many times (each round, one of them wins).
_ATTEMPTS = 3
# The run stats (their short names) of article fetches that failed, and of those that did not.
# `gone_listed`: 404/410s of releases the listings still link, failed fetches counted among `articles_gone` too.
FAILED_FETCHES = ("fetch_failed", "extraction_failed", "extraction_suspect", "store_failed", "gone_listed")
FETCHES = ("articles_seen", "articles_gone", "not_modified")


class RunNotFound(LookupError):
    """No crawl run has the given id."""


@dataclass(frozen=True)
class RunSummary:
    """One line of the run list."""

    id: int
    site: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    is_baseline: bool
    stats: dict[str, Any]
    reason: str | None = None  # why it failed or is incomplete
    hold: str | None = None  # held for the operator, released or rebaselined (monitor.brake)
    hold_reason: str | None = None
    hold_evidence: tuple[dict[str, Any], ...] = ()  # the common text that explains the hold


@dataclass(frozen=True)
class Owner:
    """The process that runs a crawl: its pid and the host it runs on."""

    pid: int
    hostname: str

    @classmethod
    def this_process(cls) -> Owner:
        return cls(os.getpid(), socket.gethostname())


@dataclass(frozen=True)
class Claim:
    """A lock granted: the new run, and the abandoned run it replaced, if any."""

    run_id: int
    is_baseline: bool
    took_over: int | None = None
    took_over_reason: str | None = None


class CrawlAlreadyRunning(RuntimeError):
    """Another live crawl of the site holds the lock; nothing was written."""

    def __init__(self, site: str, run_id: int, started_at: dt.datetime, pid: int | None,
                 hostname: str | None) -> None:
        self.site, self.run_id, self.started_at = site, run_id, started_at
        self.pid, self.hostname = pid, hostname
        owner = f" by process {pid} on {hostname}" if pid is not None else ""
        super().__init__(
            f"another crawl of {site} is already running: run {run_id}, started "
            f"{started_at:%Y-%m-%d %H:%M:%S} UTC{owner}; this crawl stops without writing anything"
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start_run(session: Session, site: str) -> CrawlRun:
    """A new running crawl of `site`; the baseline run when nothing of the site is stored yet."""
    has_articles = session.scalar(select(exists().where(Article.site == site)))
    run = CrawlRun(site=site, started_at=_now(), status="running", stats={}, is_baseline=not has_articles)
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session, run_id: int, status: str, stats: dict[str, Any], *, error: str | None = None
) -> None:
    """Close a run with its final status, (Scrapy) stats and why it failed or is incomplete (`error`);
    datetimes in stats become ISO strings."""
    if status not in RUN_STATUSES or status == "running":
        raise ValueError(f"cannot finish run {run_id} as {status!r}: use complete, incomplete or failed")
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise RunNotFound(f"no crawl run with id {run_id}")
    run.status = status
    run.finished_at = _now()
    run.stats = _as_json(stats)
    run.error = error


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    """`value` as it will read back from a JSON column (Scrapy stats hold datetimes)."""

    def encode(obj: object) -> str:
        if isinstance(obj, dt.date):  # datetimes included
            return obj.isoformat()
        raise TypeError(f"stats value {obj!r} of type {type(obj).__name__} is not JSON serialisable")

    plain: dict[str, Any] = json.loads(json.dumps(value, default=encode))
    return plain


def incomplete_reasons(stats: Mapping[str, Any], finish_reason: str = "finished",
                       max_failure_rate: float | None = None) -> list[str]:
    """Why a crawl could not see the whole site, from its run stats; none when it could.

    It stopped before its end (Scrapy's finish reason), a listing page failed, or more article
    fetches failed (errors after retries, redirects away from the release, pages without an
    article, suspect extractions, articles that could not be stored, 404/410s of releases the
    listings still link) than `max_failure_rate` (None: any failed fetch is said).
    """
    reasons = []
    if finish_reason != "finished":
        reasons.append(f"the crawl stopped before its end ({finish_reason})")
    if listing := stats.get("listing_failed", 0):
        reasons.append(f"{listing} listing page{'' if listing == 1 else 's'} failed")
    failed = sum(stats.get(key, 0) for key in FAILED_FETCHES)
    attempted = failed + sum(stats.get(key, 0) for key in FETCHES) - stats.get("gone_listed", 0)
    if attempted and failed / attempted > (max_failure_rate or 0):
        limit = "" if max_failure_rate is None else f"; the limit is {_percent(max_failure_rate)}"
        reasons.append(f"{_percent(failed / attempted)} of article fetches failed ({failed} of {attempted}{limit})")
    return reasons


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 or share == 0 else f"{share:.1%}"


def run_reason(run: CrawlRun) -> str | None:
    """Why `run` failed or is incomplete, as recorded when it closed.

    Runs closed before the reason of an incomplete run was recorded get it from their stats.
    """
    if run.error or run.status != "incomplete":
        return run.error
    return "; ".join(incomplete_reasons(run.stats)) or "the crawl stopped before its end"


def list_runs(session: Session) -> list[RunSummary]:
    """All crawl runs, newest first."""
    runs = session.scalars(select(CrawlRun).order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc()))
    return [
        RunSummary(
            id=run.id,
            site=run.site,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            is_baseline=run.is_baseline,
            stats=run.stats,
            reason=run_reason(run),
            hold=run.hold,
            hold_reason=run.hold_reason,
            hold_evidence=tuple(run.hold_evidence or ()),
        )
        for run in runs
    ]


def latest_run_id(session: Session) -> int:
    """The newest run; RunNotFound when there is none."""
    run_id: int | None = session.scalar(select(func.max(CrawlRun.id)))
    if run_id is None:
        raise RunNotFound("no crawl run yet: run `scrapy crawl news` first")
    return run_id


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (signal 0 checks without signalling)."""
    if pid <= 0:  # 0 and negatives address process groups, not one process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def abandoned_reason(run: CrawlRun, *, hostname: str, stale_after: dt.timedelta,
                     now: dt.datetime | None = None) -> str | None:
    """Why the owner of running `run` is dead, or None while it may be alive.

    Dead: on this host, its process is gone; on any host, no heartbeat (or, lacking one,
    no start) for longer than `stale_after`.
    """
    now = now or _now()
    if run.hostname == hostname and run.pid is not None and not pid_alive(run.pid):
        return f"abandoned: process {run.pid} on {run.hostname} died"
    last_sign = run.heartbeat_at or run.started_at
    if now - last_sign > stale_after:
        return (f"abandoned: no heartbeat from process {run.pid} on {run.hostname} "
                f"since {last_sign:%Y-%m-%d %H:%M:%S} UTC")
    return None


def running_run(session: Session, site: str, *, for_update: bool = False) -> CrawlRun | None:
    """The running crawl of `site` (the lock's holder), or None."""
    statement = select(CrawlRun).where(CrawlRun.site == site, CrawlRun.status == "running")
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).one_or_none()


def claim(engine: Engine, site: str, *, owner: Owner | None = None,
          stale_after: dt.timedelta = DEFAULT_STALE_AFTER, shared: bool = False) -> Claim:
    """Start a running crawl of `site` owned by `owner` (this process by default), in one transaction.

    Raises `CrawlAlreadyRunning`, having written nothing, while a live crawl holds the lock;
    a run left by a dead owner is marked `failed` ("abandoned: ...") and taken over. A `shared`
    run (storage.workers) has its owner as first worker from the same transaction: others may join it.
    """
    owner = owner or Owner.this_process()
    took_over: CrawlRun | None = None
    # On SQLite, BEGIN IMMEDIATE: claimers queue for the write lock instead of failing on it.
    with Session(engine.execution_options(**{BEGIN_IMMEDIATE: True})) as session, session.begin():
        for _ in range(_ATTEMPTS):
            try:
                with session.begin_nested():
                    run = start_run(session, site)
                    run.pid, run.hostname, run.heartbeat_at = owner.pid, owner.hostname, run.started_at
                    if shared:
                        session.add(RunWorker(run_id=run.id, pid=owner.pid, hostname=owner.hostname,
                                              joined_at=run.started_at, heartbeat_at=run.started_at,
                                              state="working", stats={}, witness={}))
                        session.flush()
            except IntegrityError:  # the partial unique index: someone holds the lock
                pass
            else:
                if took_over is None:
                    return Claim(run.id, run.is_baseline)
                return Claim(run.id, run.is_baseline, took_over.id, took_over.error)
            holder = running_run(session, site, for_update=True)
            if holder is None:
                continue  # it finished meanwhile: claim again
            reason = abandoned_reason(holder, hostname=owner.hostname, stale_after=stale_after)
            if reason is None:
                raise CrawlAlreadyRunning(site, holder.id, holder.started_at, holder.pid, holder.hostname)
            holder.status, holder.finished_at, holder.error = "failed", _now(), reason
            session.flush()
            logger.warning("run %s of %s marked failed (%s); taking over its lock", holder.id, site, reason)
            took_over = holder
    raise RuntimeError(f"could not claim the crawl lock of {site} in {_ATTEMPTS} attempts: "
                       "other crawls keep taking it")


def beat(engine: Engine, run_id: int, owner: Owner) -> bool:
    """Refresh the heartbeat of `owner`'s running run; False when the run is no longer its lock."""
    statement = (
        update(CrawlRun)
        .where(CrawlRun.id == run_id, CrawlRun.status == "running",
               CrawlRun.pid == owner.pid, CrawlRun.hostname == owner.hostname)
        .values(heartbeat_at=_now())
    )
    with engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


def run_started_by(session: Session, site: str, owner: Owner, since: dt.datetime) -> CrawlRun | None:
    """The newest run of `site` that `owner` started at or after `since`, or None."""
    return session.scalars(
        select(CrawlRun)
        .where(CrawlRun.site == site, CrawlRun.pid == owner.pid, CrawlRun.hostname == owner.hostname,
               CrawlRun.started_at >= since)
        .order_by(CrawlRun.id.desc())
        .limit(1)
    ).one_or_none()


def fail_run(session: Session, run: CrawlRun, error: str) -> None:
    """Close a run its crawl could not close (the process failed or was killed) as `failed`."""
    run.status, run.finished_at, run.error = "failed", _now(), error
    session.flush()


def record_failed_start(session: Session, site: str, owner: Owner, started_at: dt.datetime, error: str) -> int:
    """Record a crawl that failed before it could start its run: a `failed` run, never `running`."""
    run = CrawlRun(site=site, started_at=started_at, finished_at=_now(), status="failed", stats={},
                   is_baseline=False, error=error, pid=owner.pid, hostname=owner.hostname)
    session.add(run)
    session.flush()
    return run.id


def failed_since_last_end(session: Session, site: str, before: int | None = None) -> list[int]:
    """The failed runs of `site` since its last complete or incomplete run (before run `before`, if
    given), oldest first: crawls that died (killed, taken over) after the last one that ended."""
    ended = (select(func.max(CrawlRun.id))
             .where(CrawlRun.site == site, CrawlRun.status.in_(("complete", "incomplete"))))
    statement = select(CrawlRun.id).where(CrawlRun.site == site, CrawlRun.status == "failed")
    if before is not None:
        ended = ended.where(CrawlRun.id < before)
        statement = statement.where(CrawlRun.id < before)
    last_end = session.scalar(ended)
    if last_end is not None:
        statement = statement.where(CrawlRun.id > last_end)
    return list(session.scalars(statement.order_by(CrawlRun.id)))
