"""The nightly schedule: APScheduler runs the jobs of `monitor.jobs`, nightly and every few minutes.

Jobs live in the project's database (APScheduler's SQLAlchemyJobStore, table
`apscheduler_jobs`), so a restart replaces them instead of adding duplicates. The job store
keeps references to the job functions (module-level functions, see `monitor.jobs`) and their
arguments, hence none of them is a secret: the database URL (which may hold a password)
reaches the jobs through the threads that run them (`monitor.jobs.JobContext`).
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import signal
import socket
import threading
from dataclasses import dataclass
from types import FrameType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import utc_timestamp_to_datetime
from sqlalchemy import Engine, inspect, select

from monitor import config
from monitor.jobs import JobContext, nightly_crawl, retry_notify, use_context
from storage import DEFAULT_DATABASE_URL
from storage.db import make_engine, migrate

__all__ = [
    "ScheduleConfig",
    "ScheduleError",
    "build_scheduler",
    "nightly_crawl",
    "planned_jobs",
    "retry_notify",
    "run_forever",
    "stored_jobs",
]  # the jobs too: jobs stored before they moved name this module

logger = logging.getLogger(__name__)

NIGHTLY_JOB = "nightly-crawl"
NOTIFY_JOB = "retry-notify"
JOB_NAMES = {NIGHTLY_JOB: "nightly crawl of each site, detect, notify", NOTIFY_JOB: "send pending e-mails"}
# APScheduler's own table; storage/migrations/env.py tells Alembic to leave it alone.
JOBSTORE_TABLE = "apscheduler_jobs"


class ScheduleError(ValueError):
    """The schedule cannot be set up: a bad cron expression or time zone."""


@dataclass(frozen=True)
class ScheduleConfig:
    """What to schedule, and when; commands default to `scrapy crawl news` and `newswatch notify`."""

    database_url: str = DEFAULT_DATABASE_URL
    # The sites crawled each night, one after the other: `sites`, else `site`, else every site
    # profile configured that night (monitor.jobs.JobContext.nightly_sites).
    site: str | None = None
    sites: tuple[str, ...] = ()
    cron: str = config.DEFAULT_CRON
    timezone: str = config.DEFAULT_TIMEZONE
    notify_every_minutes: int = config.DEFAULT_NOTIFY_EVERY
    misfire_grace_seconds: int = config.DEFAULT_MISFIRE_GRACE
    crawl_timeout_seconds: int = config.DEFAULT_CRAWL_TIMEOUT
    crawl_command: tuple[str, ...] | None = None
    notify_command: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PlannedJob:
    """One line of `newswatch schedule --list`: a job, its trigger in words and its next run (None: paused)."""

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

    state: int

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        wait: float | None = super()._process_jobs()  # type: ignore[misc]  # BackgroundScheduler's, by the MRO
        return wait


class NightlyScheduler(_NoJobsOnceStopped, BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 is untyped
    """The scheduler of `newswatch schedule`: its loop runs in a thread of its own (see `run_forever`)."""


def zone(name: str) -> ZoneInfo:
    """The time zone called `name` (IANA, e.g. `Europe/Paris`)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ScheduleError(f"unknown time zone {name!r}: use an IANA name such as UTC or Africa/Casablanca") \
            from error


class WallClockCronTrigger(CronTrigger):  # type: ignore[misc]  # APScheduler 3 is untyped
    """APScheduler's CronTrigger, firing once per time on the wall clock.

    Where the clocks go back (Africa/Casablanca, 03:00 -> 02:00 on the night Ramadan starts),
    the hour between repeats, and CronTrigger fires in it twice: `0 2 * * *` at 02:00 +01 and
    again at 02:00 +00, an hour later. A time whose wall-clock reading is not later than the
    previous fire time's is such a repeat and is skipped. Where the clocks go forward, a time
    that does not exist fires once, at the first moment after it (CronTrigger's own behaviour).
    """

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None,
                           now: dt.datetime) -> dt.datetime | None:
        candidate: dt.datetime | None = super().get_next_fire_time(previous_fire_time, now)
        if previous_fire_time is None:
            return candidate
        last = _wall_clock(previous_fire_time, self.timezone)
        while candidate is not None and _wall_clock(candidate, self.timezone) <= last:
            # From just after the repeat (counted in UTC: aware arithmetic would read the wall clock).
            candidate = super().get_next_fire_time(None, candidate.astimezone(dt.UTC) + dt.timedelta(microseconds=1))
        return candidate


def _wall_clock(when: dt.datetime, timezone: dt.tzinfo) -> dt.datetime:
    """`when` as a clock on the wall of `timezone` reads it (naive)."""
    return when.astimezone(timezone).replace(tzinfo=None)


def nightly_trigger(cron: str, timezone: str) -> CronTrigger:
    """The nightly job's trigger from a crontab expression, in `timezone`: once per wall-clock time,
    so one run a night across daylight-saving changes (WallClockCronTrigger)."""
    try:
        return WallClockCronTrigger.from_crontab(cron, timezone=zone(timezone))
    except ValueError as error:
        if isinstance(error, ScheduleError):
            raise
        raise ScheduleError(f"{cron!r} is not a crontab expression (minute hour day month weekday): {error}") \
            from error


def build_scheduler(config: ScheduleConfig, *, engine: Engine | None = None) -> BaseScheduler:
    """A scheduler (not started) with the nightly crawl and the e-mail retries; its jobs run in its threads."""
    timezone = zone(config.timezone)
    trigger = nightly_trigger(config.cron, config.timezone)
    engine = engine or make_engine(config.database_url)
    migrate(engine)  # the jobs need our tables; the job store creates its own
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    # The pool's threads hold the jobs' context, so that the job store never does.
    context = JobContext(database_url=config.database_url, site=config.site, crawl_timeout=config.crawl_timeout_seconds,
                         sites=config.sites)
    executor = ThreadPoolExecutor(max_workers=2, pool_kwargs={"initializer": use_context, "initargs": (context,)})
    scheduler = NightlyScheduler(
        jobstores={"default": store},
        executors={"default": executor},
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
    scheduler.add_job(nightly_crawl, trigger, id=NIGHTLY_JOB, name=JOB_NAMES[NIGHTLY_JOB],
                      kwargs={"crawl_command": config.crawl_command, "notify_command": config.notify_command},
                      replace_existing=True, **nightly_options)
    scheduler.add_job(retry_notify, IntervalTrigger(minutes=config.notify_every_minutes, timezone=timezone),
                      id=NOTIFY_JOB, name=JOB_NAMES[NOTIFY_JOB], kwargs={"notify_command": config.notify_command},
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


def planned_jobs(config: ScheduleConfig) -> list[PlannedJob]:
    """The jobs a scheduler started with `config` would store, and their next run times in its zone."""
    timezone = zone(config.timezone)
    now = dt.datetime.now(timezone)
    triggers: dict[str, BaseTrigger] = {
        NIGHTLY_JOB: nightly_trigger(config.cron, config.timezone),
        NOTIFY_JOB: IntervalTrigger(minutes=config.notify_every_minutes, timezone=timezone),
    }
    return [PlannedJob(job_id, JOB_NAMES[job_id], describe(trigger),
                       _second(trigger.get_next_fire_time(None, now), timezone))
            for job_id, trigger in triggers.items()]


def stored_jobs(engine: Engine, timezone: str) -> list[PlannedJob]:
    """The jobs stored in the database by the scheduler that last started on it (what it runs while it
    runs), with their stored next run times in `timezone`; none when no scheduler has stored any.

    Read from the job store's table, not through the job store, which deletes a job it cannot load.
    """
    if not inspect(engine).has_table(JOBSTORE_TABLE):
        return []
    table = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE).jobs_t
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.id, table.c.next_run_time, table.c.job_state).order_by(table.c.id))
        # Pickled by APScheduler into our own database: as trusted as the job store that loads it.
        states = [(job_id, stamp, pickle.loads(state)) for job_id, stamp, state in rows]
    return [PlannedJob(job_id, state["name"], describe(state["trigger"]),
                       _second(utc_timestamp_to_datetime(stamp), zone(timezone)))
            for job_id, stamp, state in states]


def describe(trigger: BaseTrigger) -> str:
    """A trigger in words: `cron 0 2 * * * (UTC)`, `every 5 min`."""
    if isinstance(trigger, CronTrigger):
        fields = {field.name: str(field) for field in trigger.fields}
        crontab = " ".join(fields[name] for name in ("minute", "hour", "day", "month", "day_of_week"))
        return f"cron {crontab} ({trigger.timezone})"
    if isinstance(trigger, IntervalTrigger):
        minutes = trigger.interval.total_seconds() / 60
        return f"every {minutes:g} min"
    return str(trigger)


def _second(when: dt.datetime | None, timezone: ZoneInfo) -> dt.datetime | None:
    return when and when.astimezone(timezone).replace(microsecond=0)


def run_forever(config: ScheduleConfig) -> None:
    """Run the schedule until SIGTERM or SIGINT, which stop it once the running job ends.

    Call it from the main thread. Stopping waits for the running job, so it never happens in a
    signal handler, which could wait forever on a lock held by the code it interrupted (the
    scheduler's own, submitting a job): the handlers only wake this thread, which stops it.
    """
    timezone = zone(config.timezone)
    scheduler = build_scheduler(config)

    def started(_event: object) -> None:
        for job in scheduler.get_jobs():
            logger.info("job %s (%s): next run %s", job.id, job.name,
                        f"{job.next_run_time.astimezone(timezone):%Y-%m-%d %H:%M:%S %Z}")

    scheduler.add_listener(started, EVENT_SCHEDULER_STARTED)
    with _StopSignals() as signals:
        scheduler.start()
        _stop_on_signal(scheduler, signals)
    logger.info("scheduler stopped")


def _stop_on_signal(scheduler: BaseScheduler, signals: _StopSignals) -> None:
    """Wait for a signal, then stop the scheduler, saying so at every further signal until it has."""
    signum = signals.wait()
    logger.info("%s: stopping after the running job", signal.Signals(signum).name)

    def shutdown() -> None:
        try:
            scheduler.shutdown(wait=True)
        finally:
            signals.stopped()

    stopper = threading.Thread(target=shutdown, name="newswatch-shutdown")
    stopper.start()
    while (signum := signals.wait()) != _StopSignals.STOPPED:
        logger.info("%s: still waiting for the running job to end", signal.Signals(signum).name)
    stopper.join()


class _StopSignals:
    """SIGTERM and SIGINT as they arrive, for the main thread to wait on; and word that stopping is done.

    A signal reaches a process in any of its threads, and a lock or queue the main thread waits
    on is woken only when the main thread itself takes it; a file descriptor always wakes it.
    So the signals' numbers are written to a socket (signal.set_wakeup_fd, as asyncio does),
    and the handlers themselves do nothing.
    """

    STOPPED = 0  # no signal has this number
    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __enter__(self) -> _StopSignals:
        self._receiver, self._sender = socket.socketpair()
        self._sender.setblocking(False)  # as set_wakeup_fd requires
        self._previous_fd = signal.set_wakeup_fd(self._sender.fileno(), warn_on_full_buffer=False)
        self._previous = {signum: signal.signal(signum, _noted) for signum in self.SIGNALS}
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._receiver.close()
        self._sender.close()

    def wait(self) -> int:
        """The number of the next signal (or STOPPED), once it comes."""
        return self._receiver.recv(1)[0]

    def stopped(self) -> None:
        """Tell `wait` that the scheduler has stopped (from any thread)."""
        self._sender.send(bytes([self.STOPPED]))


def _noted(_signum: int, _frame: FrameType | None) -> None:
    """The handler of the stop signals: their numbers reach `_StopSignals.wait` by the wakeup socket."""
