"""The crawl lock: at most one running crawl per site, held by its `running` row in `crawl_runs`.

The database enforces it (the partial unique index `uq_crawl_runs_one_running_per_site`);
this module claims it for a process, keeps it fresh (a heartbeat), tells whether the process
holding it is dead, and takes over a lock whose owner died. It knows nothing of Scrapy.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import repository
from storage.db import BEGIN_IMMEDIATE
from storage.models import CrawlRun

logger = logging.getLogger(__name__)

# A running crawl refreshes its heartbeat every minute; this long without one, it is dead.
DEFAULT_STALE_AFTER = dt.timedelta(minutes=30)
# Claiming races another claimer at most this many times (each round, one of them wins).
_ATTEMPTS = 3


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
          stale_after: dt.timedelta = DEFAULT_STALE_AFTER) -> Claim:
    """Start a running crawl of `site` owned by `owner` (this process by default), in one transaction.

    Raises `CrawlAlreadyRunning`, having written nothing, while a live crawl holds the lock;
    a run left by a dead owner is marked `failed` ("abandoned: ...") and taken over.
    """
    owner = owner or Owner.this_process()
    took_over: CrawlRun | None = None
    # On SQLite, BEGIN IMMEDIATE: claimers queue for the write lock instead of failing on it.
    with Session(engine.execution_options(**{BEGIN_IMMEDIATE: True})) as session, session.begin():
        for _ in range(_ATTEMPTS):
            try:
                with session.begin_nested():
                    run = repository.start_run(session, site)
                    run.pid, run.hostname, run.heartbeat_at = owner.pid, owner.hostname, run.started_at
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
