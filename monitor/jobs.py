"""The scheduled jobs: the nightly crawl (detection runs inside the crawl), then the digests;
and the retry of pending digests every few minutes.

Module-level functions, because APScheduler's job store keeps references to them (jobs stored
before they moved here name `monitor.scheduler`, which still exports them). The job store also
keeps their arguments, hence none of them is a secret: what the jobs need of the scheduler's
configuration (the database URL may hold a password) is a `JobContext` that each thread of the
scheduler's pool holds (`use_context` is the pool's initializer). The jobs pass it on to the
crawl and notify processes they start, in their environment, with the scheduler's own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crawler import exits
from monitor import config
from monitor.detect import detect_abandoned
from storage import outbox, runs, workers
from storage.changes import count_kinds
from storage.db import make_engine
from storage.models import CHANGE_KINDS

logger = logging.getLogger(__name__)

# How much of a failed child's last log line goes into the run's error.
_ERROR_CHARS = 500
# How long the log of a child that exited is still read (its group was killed: the pipe closes at once).
_LOG_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class JobContext:
    """What the jobs need of the scheduler that runs them; never stored with the jobs."""

    database_url: str = field(repr=False)  # may hold a password
    # The one site to crawl each night (NEWSWATCH_SITE given to the scheduler), unless `sites` names them.
    site: str | None = None
    # Seconds a crawl may run before it is killed (0: no limit); None: NEWSWATCH_CRAWL_TIMEOUT of the environment.
    crawl_timeout: int | None = None
    # The sites to crawl each night, in this order (NEWSWATCH_SITES); none: see nightly_sites.
    sites: tuple[str, ...] = ()

    def nightly_sites(self) -> tuple[str, ...]:
        """The sites crawled tonight, one after the other: `sites`, else `site`, else every site profile
        configured now (crawler/sites/ and NEWSWATCH_SITES_DIR, read again each night, so that a file
        added today is crawled tonight; a bad one is crawled too, to fail and say why in its run)."""
        return config.nightly_sites(self.sites, self.site, reread=True)

    def child_environ(self, site: str | None = None) -> dict[str, str]:
        """The environment of a crawl (of `site`) or notify process: the scheduler's, with this context's settings."""
        # SCRAPY_SETTINGS_MODULE: so `scrapy crawl` finds the project from any working directory.
        environ = {"SCRAPY_SETTINGS_MODULE": "crawler.settings", **os.environ,
                   "NEWSWATCH_DATABASE_URL": self.database_url}
        if site or self.site:
            environ["NEWSWATCH_SITE"] = site or self.site or ""
        if self.sites:  # so that notify's health judges the sites crawled (`--sites` may not be in the environment)
            environ["NEWSWATCH_SITES"] = ",".join(self.sites)
        return environ


# The context of the jobs run by this thread: each thread of a scheduler's pool holds its own.
_thread = threading.local()


def use_context(context: JobContext) -> None:
    """Make `context` the one of the jobs this thread runs (the initializer of a scheduler's pool)."""
    _thread.context = context


def _context(given: JobContext | None) -> JobContext:
    context = given or getattr(_thread, "context", None)
    if context is None:
        raise RuntimeError("a job runs in a scheduler built by monitor.scheduler.build_scheduler, or is given "
                           "its context")
    return context


@dataclass(frozen=True)
class NightlyReport:
    """What one nightly job did (also the job's return value, seen by APScheduler listeners).

    Its run, status, changes and error are those of the first site crawled; `sites` holds the report
    of each site crawled that night, in order (the first is this one's), each without e-mails: the
    digests of every site are sent once, at the end.
    """

    run_id: int | None
    # The run's status; "refused" when another crawl held the lock; "running" when the crawl worked on
    # a shared run (NEWSWATCH_QUEUE) that other workers still work: they close it, its changes come then.
    status: str
    changes: dict[str, int] = field(default_factory=dict)
    emails_sent: int = 0
    seconds: float = 0.0
    error: str | None = None
    site: str = ""
    sites: tuple[NightlyReport, ...] = ()


def nightly_crawl(crawl_command: Sequence[str] | None = None, notify_command: Sequence[str] | None = None, *,
                  context: JobContext | None = None) -> NightlyReport:
    """Crawl each site in a child process of its own, one after the other (detection runs inside it),
    settle its run; then send the digests of them all, once. A site that fails (its crawl exits
    non-zero, runs past its timeout or dies, its profile is bad, or its bookkeeping fails) is
    recorded and logged, and the next site is crawled all the same."""
    clock = time.monotonic()
    context = _context(context)
    command = list(crawl_command or [sys.executable, "-m", "scrapy", "crawl", "news"])
    timeout = context.crawl_timeout if context.crawl_timeout is not None else config.crawl_timeout(os.environ)
    engine = make_engine(context.database_url)
    try:
        nights = [_crawl_site(engine, site, command, context.child_environ(site), timeout)
                  for site in context.nightly_sites()]
        emails = _notify(engine, notify_command, context.child_environ())
    finally:
        engine.dispose()
    seconds = round(time.monotonic() - clock, 1)
    for night in nights:
        _log_night(night, emails if len(nights) == 1 else None, seconds if len(nights) == 1 else night.seconds)
    if len(nights) != 1:
        logger.info("nightly crawl of %d sites (%s): %s sent, %.1fs", len(nights),
                    ", ".join(f"{n.site} {n.status}" for n in nights), _emails(emails), seconds)
    first = nights[0] if nights else NightlyReport(None, "no site", dict.fromkeys(CHANGE_KINDS, 0))
    return NightlyReport(first.run_id, first.status, first.changes, emails, seconds, first.error, first.site,
                         tuple(nights))


def _crawl_site(engine: Engine, site: str, command: list[str], environ: Mapping[str, str],
                timeout: int) -> NightlyReport:
    """Crawl one site and settle its run; whatever goes wrong is this site's failure, not the night's."""
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    logger.info("nightly crawl of %s: starting `%s`", site, " ".join(command))
    try:
        child = _run(command, environ, timeout)
        run_id, status, error = _settle(engine, site, child, started, config.lock_stale_after(environ))
        _detect_abandoned(engine, site)
        changes = _change_counts(engine, run_id)
    except (OSError, SQLAlchemyError) as failure:  # the crawl could not start, or its bookkeeping failed
        logger.exception("nightly crawl of %s failed; the other sites are crawled all the same", site)
        run_id, status, error, changes = None, "failed", f"{type(failure).__name__}: {failure}", {}
    changes = {kind: changes.get(kind, 0) for kind in CHANGE_KINDS}
    return NightlyReport(run_id, status, changes, 0, round(time.monotonic() - clock, 1), error, site)


def _log_night(night: NightlyReport, emails: int | None, seconds: float) -> None:
    log = {"complete": logger.info, "incomplete": logger.info, "refused": logger.warning,
           "running": logger.warning if night.error else logger.info}.get(night.status, logger.error)
    shown = [kind for kind in CHANGE_KINDS if kind != "restored" or night.changes[kind]]
    counts = ", ".join(f"{night.changes[kind]} {kind}" for kind in shown)
    if night.status == "running":  # a shared run: not counted yet
        counts = "its other workers close it; its changes come then"
    sent = f", {_emails(emails)} sent" if emails is not None else ""
    log("nightly crawl of %s: run %s %s (%s)%s, %.1fs%s", night.site, night.run_id, night.status, counts, sent,
        seconds, f": {night.error}" if night.error else "")


def retry_notify(notify_command: Sequence[str] | None = None, *, context: JobContext | None = None) -> int:
    """Send the digests still pending (after an SMTP failure, say); the number of e-mails sent."""
    clock = time.monotonic()
    context = _context(context)
    engine = make_engine(context.database_url)
    try:
        sent = _notify(engine, notify_command, context.child_environ())
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
    timeout: int = 0  # the limit it ran past (and was killed for), if it did


class _Log:
    """A child's log (stderr) passed on to ours, line by line, in a thread; its last line kept."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream, self.last_line = stream, ""
        self.thread = threading.Thread(target=self._pass_on, name="child-log", daemon=True)
        self.thread.start()

    def _pass_on(self) -> None:
        with self.stream:
            for line in self.stream:
                sys.stderr.write(line)
                self.last_line = line.strip() or self.last_line


def _run(command: Sequence[str], environ: Mapping[str, str], timeout: int = 0) -> _Child:
    """Run a child to its end, in a process group of its own; its log goes on to ours.

    Its end is its exit, not the end of its log: a process it left behind holding the pipe (an
    extraction worker of a crawl killed -9) cannot hold the job. Whatever is left of its group once
    it exited is killed, and so is the whole group once it runs past `timeout` seconds (0: no limit).
    """
    child = subprocess.Popen(command, env=environ, stderr=subprocess.PIPE, text=True, errors="replace",
                             start_new_session=True)
    assert child.stderr is not None  # stderr=PIPE
    log = _Log(child.stderr)
    try:
        returncode = child.wait(timeout or None)
        timed_out = 0
    except subprocess.TimeoutExpired:
        logger.error("`%s` ran past NEWSWATCH_CRAWL_TIMEOUT (%s s): killing it", " ".join(command), timeout)
        _kill_group(child.pid)
        returncode, timed_out = child.wait(), timeout
    except BaseException:
        _kill_group(child.pid)
        child.wait()
        raise
    _kill_group(child.pid)  # what it left behind, if anything
    log.thread.join(_LOG_GRACE_SECONDS)  # the rest of its log, unless something outside its group holds the pipe
    return _Child(child.pid, returncode, log.last_line[:_ERROR_CHARS], timed_out)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _failure(child: _Child) -> str:
    if child.timeout:
        return (f"timeout: the crawl ran longer than NEWSWATCH_CRAWL_TIMEOUT ({child.timeout} s) and was killed"
                + (f"; its last line: {child.last_line}" if child.last_line else ""))
    if child.returncode < 0:
        how = f"was killed by {signal.Signals(-child.returncode).name}"
    else:
        how = f"exited with status {child.returncode}"
    return f"crawl {how}" + (f": {child.last_line}" if child.last_line else "")


def _settle(engine: Engine, site: str, child: _Child, started: dt.datetime,
            stale_after: dt.timedelta) -> tuple[int | None, str, str | None]:
    """The run the crawl recorded, closed as failed if the crawl could not close it: (id, status, error).

    With NEWSWATCH_QUEUE the crawl may have joined a run another worker claimed, or claimed one that
    others joined: while a worker of the run other than the crawl still lives, the run is theirs to
    close (and to detect, once); the crawl is reported as having worked on it, status `running`.
    """
    owner = runs.Owner(child.pid, socket.gethostname())
    with Session(engine) as session, session.begin():
        shared = workers.run_worked_by(session, site, owner, started)
        run = shared or runs.run_started_by(session, site, owner, started)
        if run is None:
            return _without_run(session, site, owner, child, started)
        if run.status == "running":
            failure = _failure(child) if child.returncode or child.timeout else None
            if shared and (live := workers.live_workers(session, run.id, owner.hostname, stale_after, besides=owner)):
                left = f"run {run.id} is left to its {live} other live worker{'' if live == 1 else 's'}"
                return run.id, "running", f"{failure}; {left}" if failure else None
            # The crawl (and every worker of its run) died, or was killed, before the run was closed.
            error = failure or "crawl exited without closing its run"
            runs.fail_run(session, run, error)
            return run.id, "failed", error
        # A worker of a shared run exits with how its own part ended; the run's status is its closer's.
        if not shared and child.returncode != exits.BY_RUN_STATUS.get(run.status):  # 3 when incomplete: as it should
            logger.warning("run %s was closed as %s, then the crawl %s", run.id, run.status, _failure(child))
        return run.id, run.status, run.error


def _without_run(session: Session, site: str, owner: runs.Owner, child: _Child,
                 started: dt.datetime) -> tuple[int | None, str, str | None]:
    """A crawl that recorded no run: refused by the lock (left alone), or failed (a `failed` run)."""
    holder = runs.running_run(session, site)
    if child.returncode and not child.timeout and holder is not None:
        return None, "refused", (f"another crawl holds the lock: run {holder.id}, started "
                                 f"{holder.started_at:%Y-%m-%d %H:%M:%S} UTC")
    error = _failure(child) if child.returncode else "crawl exited without recording a run"
    return runs.record_failed_start(session, site, owner, started, error), "failed", error


def _detect_abandoned(engine: Engine, site: str) -> None:
    """The changes of a crawl that died after storing versions (closed as failed just now), so
    that tonight's digests carry them (monitor.detect.detect_abandoned)."""
    try:
        with Session(engine) as session, session.begin():
            detect_abandoned(session, site)
    except SQLAlchemyError:
        logger.exception("change detection of the failed runs of %s failed; the next crawl retries it", site)


def _change_counts(engine: Engine, run_id: int | None) -> dict[str, int]:
    """How many changes of each kind a run found (detection writes them as the crawl closes)."""
    if run_id is None:
        return dict.fromkeys(CHANGE_KINDS, 0)
    with Session(engine) as session:
        return count_kinds(session, run_id)


def _notify(engine: Engine, notify_command: Sequence[str] | None, environ: Mapping[str, str]) -> int:
    """Run `newswatch notify` in a child process; the number of e-mails the outbox marked sent meanwhile."""
    since = dt.datetime.now(dt.UTC)
    command = list(notify_command or [sys.executable, "-m", "monitor", "notify"])
    child = _run(command, environ)
    if child.returncode != 0:
        logger.error("`%s` exited with status %s: %s; pending e-mails are retried every few minutes",
                     " ".join(command), child.returncode, child.last_line)
    with Session(engine) as session:
        return outbox.count_sent_since(session, since)
