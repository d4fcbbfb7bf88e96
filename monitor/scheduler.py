"""The nightly schedule: APScheduler jobs that crawl (detection runs inside the crawl), then notify.

Jobs live in the project's database (APScheduler's SQLAlchemyJobStore, table
`apscheduler_jobs`), so a restart replaces them instead of adding duplicates. The job store
keeps references to the job functions, hence module-level functions; it also keeps their
arguments, hence none of them is a secret: the jobs read the database URL, like every other
NEWSWATCH_* setting, from the scheduler's environment when they run, and pass it on to the
crawl and notify processes they start.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import utc_timestamp_to_datetime
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from storage import runlock
from storage.db import DEFAULT_DATABASE_URL, make_engine, migrate
from storage.models import CHANGE_KINDS, Change, Delivery

logger = logging.getLogger(__name__)

DEFAULT_CRON = "0 2 * * *"
NIGHTLY_JOB = "nightly-crawl"
NOTIFY_JOB = "retry-notify"
# APScheduler's own table; storage/migrations/env.py tells Alembic to leave it alone.
JOBSTORE_TABLE = "apscheduler_jobs"
# How much of a failed child's last log line goes into the run's error.
_ERROR_CHARS = 500


class ScheduleError(ValueError):
    """The schedule cannot be set up: a bad cron expression or time zone."""


@dataclass(frozen=True)
class ScheduleConfig:
    """What to schedule, and when; commands default to `scrapy crawl news` and `newswatch notify`."""

    database_url: str = DEFAULT_DATABASE_URL
    cron: str = DEFAULT_CRON
    timezone: str = "UTC"
    notify_every_minutes: int = 5
    misfire_grace_seconds: int = 3600
    crawl_command: tuple[str, ...] | None = None
    notify_command: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NightlyReport:
    """What one nightly job did (also the job's return value, seen by APScheduler listeners)."""

    run_id: int | None
    status: str  # the run's status, or "refused" when another crawl held the lock
    changes: dict[str, int] = field(default_factory=dict)
    emails_sent: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class PlannedJob:
    """One line of `newswatch schedule --list`."""

    id: str
    name: str
    when: str
    next_run_time: dt.datetime | None


# --------------------------------------------------------------------------- the scheduler


class _NoJobsOnceStopped:
    """Skips the round of job processing APScheduler 3 still does once shut down.

    Its loop wakes up from `shutdown()` and processes due jobs anyway: submitting fails
    ("cannot schedule new futures after shutdown") and the job's next run time moves on, so
    a run due at that moment would be lost (agronholm/apscheduler#985).
    """

    def _process_jobs(self):
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


class NightlyScheduler(_NoJobsOnceStopped, BlockingScheduler):
    """The foreground scheduler of `newswatch schedule`."""


class BackgroundNightlyScheduler(_NoJobsOnceStopped, BackgroundScheduler):
    """The same scheduler in a background thread (tests, or a host application)."""


def zone(name: str) -> ZoneInfo:
    """The time zone called `name` (IANA, e.g. `Europe/Paris`)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ScheduleError(f"unknown time zone {name!r} (NEWSWATCH_TIMEZONE): use an IANA name such as "
                            "UTC or Africa/Casablanca") from error


def nightly_trigger(cron: str, timezone: str) -> CronTrigger:
    """The nightly job's trigger from a crontab expression, in `timezone`."""
    try:
        return CronTrigger.from_crontab(cron, timezone=zone(timezone))
    except ValueError as error:
        if isinstance(error, ScheduleError):
            raise
        raise ScheduleError(f"{cron!r} is not a crontab expression (minute hour day month weekday), "
                            f"NEWSWATCH_SCHEDULE: {error}") from error


def build_scheduler(config: ScheduleConfig, *, background: bool = False, engine: Engine | None = None
                    ) -> BaseScheduler:
    """A scheduler (not started; blocking unless `background`) with the nightly crawl and the e-mail retries."""
    timezone = zone(config.timezone)
    trigger = nightly_trigger(config.cron, config.timezone)
    engine = engine or make_engine(config.database_url)
    migrate(engine)  # the jobs need our tables; the job store creates its own
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    scheduler_class = BackgroundNightlyScheduler if background else NightlyScheduler
    scheduler = scheduler_class(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": config.misfire_grace_seconds},
        timezone=timezone,
    )
    nightly_options = {}
    missed = _missed_run_time(engine, store, NIGHTLY_JOB)
    if missed is not None:
        # A run missed while the scheduler was down: replacing the job would forget it, so it
        # is kept and runs once at start (if within the misfire grace time).
        nightly_options["next_run_time"] = missed
        logger.info("the nightly crawl due at %s was missed: it runs now if within %ss",
                    missed.astimezone(timezone), config.misfire_grace_seconds)
    scheduler.add_job(nightly_crawl, trigger, id=NIGHTLY_JOB, name="nightly crawl, detect, notify",
                      kwargs={"crawl_command": config.crawl_command, "notify_command": config.notify_command},
                      replace_existing=True, **nightly_options)
    scheduler.add_job(retry_notify, IntervalTrigger(minutes=config.notify_every_minutes, timezone=timezone),
                      id=NOTIFY_JOB, name="send pending e-mails", kwargs={"notify_command": config.notify_command},
                      replace_existing=True)
    return scheduler


def _missed_run_time(engine: Engine, store: SQLAlchemyJobStore, job_id: str) -> dt.datetime | None:
    """The stored next run time of `job_id` when it is already past, else None."""
    if not inspect(engine).has_table(store.jobs_t.name):
        return None
    with engine.connect() as connection:
        stamp = connection.scalar(select(store.jobs_t.c.next_run_time).where(store.jobs_t.c.id == job_id))
    when = utc_timestamp_to_datetime(stamp)
    return when if when is not None and when < dt.datetime.now(dt.UTC) else None


def planned_jobs(config: ScheduleConfig, engine: Engine | None = None) -> list[PlannedJob]:
    """The jobs `newswatch schedule` runs and their next run times, in the configured zone."""
    timezone = zone(config.timezone)
    own_engine = engine is None
    engine = engine or make_engine(config.database_url)
    try:
        jobs = build_scheduler(config, engine=engine).get_jobs()  # not started: nothing is written
    finally:
        if own_engine:
            engine.dispose()
    now = dt.datetime.now(timezone)
    when = {NIGHTLY_JOB: f"cron {config.cron} ({config.timezone})",
            NOTIFY_JOB: f"every {config.notify_every_minutes} min"}
    planned = []
    for job in jobs:
        next_time = getattr(job, "next_run_time", None) or job.trigger.get_next_fire_time(None, now)
        next_time = next_time and next_time.astimezone(timezone).replace(microsecond=0)
        planned.append(PlannedJob(job.id, job.name, when[job.id], next_time))
    return planned


def run_forever(config: ScheduleConfig) -> None:
    """Run the schedule in the foreground; SIGTERM or SIGINT stop it once the running job ends."""
    timezone = zone(config.timezone)
    scheduler = build_scheduler(config)

    def started(_event) -> None:
        for job in scheduler.get_jobs():
            logger.info("job %s (%s): next run %s", job.id, job.name,
                        f"{job.next_run_time.astimezone(timezone):%Y-%m-%d %H:%M:%S %Z}")

    def stop(signum: int, _frame) -> None:
        if scheduler.state == STATE_STOPPED:
            logger.info("%s: still waiting for the running job to end", signal.Signals(signum).name)
            return
        logger.info("%s: stopping after the running job", signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    scheduler.add_listener(started, EVENT_SCHEDULER_STARTED)
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logger.info("scheduler stopped")


# --------------------------------------------------------------------------- the jobs


def nightly_crawl(crawl_command: Sequence[str] | None = None,
                  notify_command: Sequence[str] | None = None) -> NightlyReport:
    """Crawl in a child process (detection runs inside it), settle its run, then send the digests."""
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    environ = _child_environ()
    site = environ.get("NEWSWATCH_SITE", "icesco")
    database_url = environ["NEWSWATCH_DATABASE_URL"]
    command = list(crawl_command or [sys.executable, "-m", "scrapy", "crawl", "news"])
    logger.info("nightly crawl of %s: starting `%s`", site, " ".join(command))
    engine = make_engine(database_url)
    try:
        child = _run(command, environ)
        run_id, status, error = _settle(engine, site, child, started)
        changes = _change_counts(engine, run_id)
        emails = _notify(engine, notify_command, environ)
    finally:
        engine.dispose()
    report = NightlyReport(run_id, status, changes, emails, round(time.monotonic() - clock, 1), error)
    log = {"complete": logger.info, "incomplete": logger.info, "refused": logger.warning}.get(status, logger.error)
    shown = [kind for kind in CHANGE_KINDS if kind != "restored" or changes[kind]]
    log("nightly crawl of %s: run %s %s (%s), %s sent, %.1fs%s", site, run_id, status,
        ", ".join(f"{changes[kind]} {kind}" for kind in shown), _emails(emails), report.seconds,
        f": {error}" if error else "")
    return report


def retry_notify(notify_command: Sequence[str] | None = None) -> int:
    """Send the digests still pending (after an SMTP failure, say); the number of e-mails sent."""
    clock = time.monotonic()
    environ = _child_environ()
    engine = make_engine(environ["NEWSWATCH_DATABASE_URL"])
    try:
        sent = _notify(engine, notify_command, environ)
    finally:
        engine.dispose()
    # Every few minutes, mostly with nothing to send: quiet unless something was sent.
    (logger.info if sent else logger.debug)("pending e-mails: %s sent, %.1fs", _emails(sent), time.monotonic() - clock)
    return sent


def _emails(count: int) -> str:
    return f"{count} e-mail" + ("" if count == 1 else "s")


@dataclass(frozen=True)
class _Child:
    pid: int
    returncode: int
    last_line: str


def _child_environ() -> dict[str, str]:
    """The scheduler's environment for a child: NEWSWATCH_* passed on, Scrapy told its settings."""
    environ = dict(os.environ)
    environ.setdefault("NEWSWATCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    # So `scrapy crawl` finds the project from any working directory, scrapy.cfg or not.
    environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    return environ


def _run(command: Sequence[str], environ: Mapping[str, str]) -> _Child:
    """Run a child to its end; its log goes on to ours, and its last line is kept for errors."""
    last_line = ""
    with subprocess.Popen(command, env=environ, stderr=subprocess.PIPE, text=True, errors="replace") as child:
        for line in child.stderr:
            sys.stderr.write(line)
            last_line = line.strip() or last_line
        returncode = child.wait()
    return _Child(child.pid, returncode, last_line[:_ERROR_CHARS])


def _failure(child: _Child) -> str:
    if child.returncode < 0:
        how = f"was killed by {signal.Signals(-child.returncode).name}"
    else:
        how = f"exited with status {child.returncode}"
    return f"crawl {how}" + (f": {child.last_line}" if child.last_line else "")


def _settle(engine: Engine, site: str, child: _Child, started: dt.datetime) -> tuple[int | None, str, str | None]:
    """The run the crawl recorded, closed as failed if the crawl could not close it: (id, status, error)."""
    owner = runlock.Owner(child.pid, socket.gethostname())
    with Session(engine) as session, session.begin():
        run = runlock.run_started_by(session, site, owner, started)
        if run is None:
            return _without_run(session, site, owner, child, started)
        if run.status == "running":  # the crawl died, or was killed, before it could close its run
            error = _failure(child) if child.returncode else "crawl exited without closing its run"
            runlock.fail_run(session, run, error)
            return run.id, "failed", error
        if child.returncode:
            logger.warning("run %s was closed as %s, then the crawl %s", run.id, run.status, _failure(child))
        return run.id, run.status, run.error


def _without_run(session: Session, site: str, owner: runlock.Owner, child: _Child,
                 started: dt.datetime) -> tuple[int | None, str, str | None]:
    """A crawl that recorded no run: refused by the lock (left alone), or failed (a `failed` run)."""
    holder = runlock.running_run(session, site)
    if child.returncode and holder is not None:
        return None, "refused", (f"another crawl holds the lock: run {holder.id}, started "
                                 f"{holder.started_at:%Y-%m-%d %H:%M:%S} UTC")
    error = _failure(child) if child.returncode else "crawl exited without recording a run"
    return runlock.record_failed_start(session, site, owner, started, error), "failed", error


def _change_counts(engine: Engine, run_id: int | None) -> dict[str, int]:
    """How many changes of each kind a run found (detection writes them as the crawl closes)."""
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    if run_id is None:
        return counts
    with Session(engine) as session:
        rows = session.execute(select(Change.kind, func.count()).where(Change.run_id == run_id)
                               .group_by(Change.kind))
        counts.update({kind: number for kind, number in rows})
    return counts


def _notify(engine: Engine, notify_command: Sequence[str] | None, environ: Mapping[str, str]) -> int:
    """Run `newswatch notify` in a child process; the number of e-mails the outbox marked sent meanwhile."""
    since = dt.datetime.now(dt.UTC)
    command = list(notify_command or [sys.executable, "-m", "monitor", "notify"])
    child = _run(command, environ)
    if child.returncode != 0:
        logger.error("`%s` exited with status %s: %s; pending e-mails are retried every few minutes",
                     " ".join(command), child.returncode, child.last_line)
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.status == "sent", Delivery.sent_at >= since)) or 0
