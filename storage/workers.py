"""The workers of a shared run (NEWSWATCH_QUEUE): several crawl processes, one run.

The first process claims the run as storage.runs does (the crawl lock); the next ones join it
while one of its workers is alive, instead of being refused. Each worker beats its own row of
`run_workers` (and the run's heartbeat, so the lock stays fresh while any worker lives) and
stores its share of the run's stats and witnesses; the worker that closes the run sums them.
A worker whose process died (on this host) or whose beats stopped is marked dead by one survivor
(a conditional update: one of them wins), which takes over the run's ownership if it was the
dead one's. The run is closed once, by a conditional update of its `running` row. Knows nothing
of Scrapy or Redis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from storage import runs
from storage.db import BEGIN_IMMEDIATE
from storage.models import CrawlRun, RunWorker

# Joining races a claimer at most this many times (a run that closed meanwhile is claimed anew).
_ATTEMPTS = 3


@dataclass(frozen=True)
class Membership:
    """This process's place in a shared run: the run, and whether it claimed it or joined it."""

    run_id: int
    is_baseline: bool
    joined: bool
    took_over: int | None = None


@dataclass(frozen=True)
class DeadWorker:
    """A worker of the run whose process died or stopped beating."""

    pid: int
    hostname: str
    reason: str

    @property
    def name(self) -> str:
        return worker_name(runs.Owner(self.pid, self.hostname))


def worker_name(owner: runs.Owner) -> str:
    """How a worker is named in logs and in the queue: pid@hostname."""
    return f"{owner.pid}@{owner.hostname}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def claim_or_join(engine: Engine, site: str, owner: runs.Owner, stale_after: dt.timedelta) -> Membership:
    """Join the running shared run of `site` while one of its workers lives; else claim a new run
    (storage.runs.claim: CrawlAlreadyRunning when a live crawl that is not shared holds the lock)."""
    refusal: runs.CrawlAlreadyRunning | None = None
    for _ in range(_ATTEMPTS):
        with Session(engine.execution_options(**{BEGIN_IMMEDIATE: True})) as session, session.begin():
            holder = runs.running_run(session, site, for_update=True)
            if holder is not None and _live(session, holder.id, owner.hostname, stale_after):
                session.add(_row(holder.id, owner))
                return Membership(holder.id, holder.is_baseline, joined=True)
            if refusal is not None and holder is not None and holder.id == refusal.run_id:
                raise refusal  # a live crawl without workers: not a shared run
        try:
            claim = runs.claim(engine, site, owner=owner, stale_after=stale_after, shared=True)
        except runs.CrawlAlreadyRunning as refused:
            refusal = refused  # another worker claimed it meanwhile (join it), or a crawl that does not share
            continue
        return Membership(claim.run_id, claim.is_baseline, joined=False, took_over=claim.took_over)
    if refusal is not None:
        raise refusal
    raise RuntimeError(f"could not claim or join the run of {site} in {_ATTEMPTS} attempts")


def _row(run_id: int, owner: runs.Owner) -> RunWorker:
    now = _now()
    return RunWorker(run_id=run_id, pid=owner.pid, hostname=owner.hostname, joined_at=now, heartbeat_at=now,
                     state="working", stats={}, witness={})


def _live(session: Session, run_id: int, hostname: str, stale_after: dt.timedelta) -> bool:
    return live_workers(session, run_id, hostname, stale_after) > 0


def live_workers(session: Session, run_id: int, hostname: str, stale_after: dt.timedelta, *,
                 besides: runs.Owner | None = None) -> int:
    """How many workers of the run (`besides` left out) still work it: marked working, their process
    alive (on `hostname`) and their heartbeat fresh."""
    working = session.scalars(select(RunWorker).where(RunWorker.run_id == run_id, RunWorker.state == "working"))
    others = [worker for worker in working
              if besides is None or (worker.pid, worker.hostname) != (besides.pid, besides.hostname)]
    return sum(1 for worker in others if _dead_reason(worker, hostname, stale_after) is None)


def run_worked_by(session: Session, site: str, owner: runs.Owner, since: dt.datetime) -> CrawlRun | None:
    """The newest shared run of `site` that `owner` claimed or joined at or after `since`, or None
    (its ownership may have passed to another worker since: storage.runs.run_started_by misses it)."""
    return session.scalars(
        select(CrawlRun).join(RunWorker, RunWorker.run_id == CrawlRun.id)
        .where(CrawlRun.site == site, RunWorker.pid == owner.pid, RunWorker.hostname == owner.hostname,
               RunWorker.joined_at >= since)
        .order_by(CrawlRun.id.desc())
        .limit(1)
    ).one_or_none()


def _dead_reason(worker: RunWorker, hostname: str, stale_after: dt.timedelta) -> str | None:
    if worker.hostname == hostname and not runs.pid_alive(worker.pid):
        return f"process {worker.pid} on {worker.hostname} died"
    if _now() - worker.heartbeat_at > stale_after:
        return f"no heartbeat from process {worker.pid} on {worker.hostname} since {worker.heartbeat_at:%H:%M:%S} UTC"
    return None


def beat(engine: Engine, run_id: int, owner: runs.Owner) -> bool:
    """Refresh this worker's heartbeat and the run's; False once the run is no longer running."""
    now = _now()
    with engine.begin() as connection:
        running = connection.execute(update(CrawlRun).where(CrawlRun.id == run_id, CrawlRun.status == "running")
                                     .values(heartbeat_at=now)).rowcount == 1
        connection.execute(_mine(run_id, owner).values(heartbeat_at=now))
    return running


def _mine(run_id: int, owner: runs.Owner) -> Any:
    return update(RunWorker).where(RunWorker.run_id == run_id, RunWorker.pid == owner.pid,
                                   RunWorker.hostname == owner.hostname)


def save_share(engine: Engine, run_id: int, owner: runs.Owner, stats: Mapping[str, Any],
               witness: Mapping[str, Any] | None) -> None:
    """Store this worker's run stats and witnesses so far (the closer sums every worker's); `witness`
    None: unchanged since last stored."""
    values: dict[str, Any] = {"stats": dict(stats), "heartbeat_at": _now()}
    if witness is not None:
        values["witness"] = dict(witness)
    with engine.begin() as connection:
        connection.execute(_mine(run_id, owner).values(**values))


def leave(engine: Engine, run_id: int, owner: runs.Owner) -> None:
    """This worker's spider closed: it no longer works the run."""
    with engine.begin() as connection:
        connection.execute(_mine(run_id, owner).where(RunWorker.state == "working").values(state="left"))


def dead_workers(engine: Engine, run_id: int, hostname: str, stale_after: dt.timedelta) -> list[DeadWorker]:
    """The workers of the run still marked working whose process died or stopped beating."""
    with Session(engine) as session:
        working = session.scalars(select(RunWorker).where(RunWorker.run_id == run_id, RunWorker.state == "working"))
        return [DeadWorker(worker.pid, worker.hostname, reason) for worker in working
                if (reason := _dead_reason(worker, hostname, stale_after)) is not None]


def mark_dead(engine: Engine, run_id: int, dead: DeadWorker, heir: runs.Owner) -> bool:
    """Mark `dead` dead; True for the one survivor that did (it re-queues what `dead` held). The
    run's ownership (pid, hostname: storage.runs.abandoned_reason) passes to `heir` if it was `dead`'s."""
    with engine.begin() as connection:
        marked = connection.execute(_mine(run_id, runs.Owner(dead.pid, dead.hostname))
                                    .where(RunWorker.state == "working").values(state="dead")).rowcount == 1
        if marked:
            connection.execute(update(CrawlRun).where(CrawlRun.id == run_id, CrawlRun.status == "running",
                                                      CrawlRun.pid == dead.pid, CrawlRun.hostname == dead.hostname)
                               .values(pid=heir.pid, hostname=heir.hostname, heartbeat_at=_now()))
    return marked


def shares(engine: Engine, run_id: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every worker's stored stats and witnesses, dead ones included."""
    with Session(engine) as session:
        return [(worker.stats, worker.witness) for worker in
                session.scalars(select(RunWorker).where(RunWorker.run_id == run_id).order_by(RunWorker.id))]


def others_working(engine: Engine, run_id: int, owner: runs.Owner, stale_after: dt.timedelta) -> bool:
    """Whether another worker of the run still works it (alive, its spider open)."""
    with Session(engine) as session:
        return live_workers(session, run_id, owner.hostname, stale_after, besides=owner) > 0


def finish_shared_run(session: Session, run_id: int, status: str, stats: dict[str, Any], *,
                      error: str | None = None) -> bool:
    """Close the run if it is still running (storage.runs.finish_run); False when another worker
    closed it first or it was taken over: only the worker that closed it announces it."""
    run = session.scalars(select(CrawlRun).where(CrawlRun.id == run_id, CrawlRun.status == "running")
                          .with_for_update()).one_or_none()
    if run is None:
        return False
    runs.finish_run(session, run_id, status, stats, error=error)
    return True


def sum_stats(shares: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The run stats of several workers as one: numbers and per-status counts summed."""
    total: dict[str, Any] = {}
    for stats in shares:
        for key, value in stats.items():
            if isinstance(value, bool) or value is None:
                total.setdefault(key, value)
            elif isinstance(value, int | float):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, dict):
                merged = total.setdefault(key, {})
                for name, count in value.items():
                    merged[name] = merged.get(name, 0) + count
            elif isinstance(value, list):
                total[key] = sorted({*total.get(key, []), *value})
            else:
                total.setdefault(key, value)
    return total
