"""The nightly schedule: jobs fired by triggers (never by sleeping), against the fixture mirror and SMTP on loopback."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pickle
import queue
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from alembic import command
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from click.testing import CliRunner
from conftest import FAST, REPO
from sqlalchemy import Column, MetaData, Table, func, inspect, make_url, select
from sqlalchemy.orm import Session

from monitor import scheduler as scheduler_module
from monitor.cli import main
from monitor.jobs import JobContext, nightly_crawl, retry_notify
from monitor.scheduler import JOBSTORE_TABLE, NIGHTLY_JOB, NOTIFY_JOB, ScheduleConfig, build_scheduler, run_forever
from storage.db import alembic_config
from storage.models import CrawlRun
from storage.runs import claim

PYTHON = sys.executable
# The real crawl, made fast for a mirror on loopback.
CRAWL = (PYTHON, "-m", "scrapy", "crawl", "news", *(arg for k, v in FAST.items() for arg in ("-s", f"{k}={v}")))
SUCCEED = (PYTHON, "-c", "pass")
SECRET_KEY = "k" * 40


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def database_url(engine, monkeypatch) -> str:
    """The test database (not in the environment: the jobs get it from their scheduler); no job stored yet."""
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEWSWATCH_OUTBOX_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "newswatch-outbox"))
    jobstore = Table(JOBSTORE_TABLE, MetaData(), Column("id"))
    jobstore.drop(engine, checkfirst=True)
    yield url
    jobstore.drop(engine, checkfirst=True)


@pytest.fixture
def schedulers():
    """Make background schedulers for a config; each is shut down at the end of the test."""
    made: list[BackgroundScheduler] = []

    def make(config: ScheduleConfig) -> BackgroundScheduler:
        scheduler = build_scheduler(config)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        if scheduler.running:
            scheduler.shutdown(wait=True)


class JobEvents:
    """What the scheduler reports about its jobs, to wait on without sleeping."""

    MASK = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED

    def __init__(self, scheduler) -> None:
        self.events: queue.Queue = queue.Queue()
        self.seen: list = []
        scheduler.add_listener(self.events.put, self.MASK)

    def outcome(self, job_id: str, timeout: float = 300):
        """The next executed, failed or missed event of `job_id`."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(deadline - time.monotonic(), 0.001))
            self.seen.append(event)
            if event.job_id == job_id and event.code != EVENT_JOB_SUBMITTED:
                return event

    def submissions(self, job_id: str) -> int:
        while not self.events.empty():
            self.seen.append(self.events.get_nowait())
        return sum(e.job_id == job_id and e.code == EVENT_JOB_SUBMITTED for e in self.seen)


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server on 127.0.0.1, configured for `newswatch notify`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("NEWSWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NEWSWATCH_SMTP_PORT", str(port))
    monkeypatch.setenv("NEWSWATCH_SECRET_KEY", SECRET_KEY)
    yield inbox
    controller.stop()


def runs(engine) -> list[CrawlRun]:
    with Session(engine) as session:
        return list(session.scalars(select(CrawlRun).order_by(CrawlRun.id)))


def in_future(scheduler, job_id: str) -> bool:
    return scheduler.get_job(job_id).next_run_time > dt.datetime.now(dt.UTC)


def fire_now(scheduler, **kwargs) -> None:
    """Add a one-off nightly job on a date trigger a moment from now."""
    when = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=200)
    scheduler.add_job(nightly_crawl, DateTrigger(when), id="nightly-now", kwargs=kwargs)


# --------------------------------------------------------------------------- the nightly job


def test_a_fired_nightly_job_crawls_detects_and_notifies(mirror, engine, shared_crawls, snapshots, smtp, database_url,
                                                         schedulers, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="monitor.jobs")
    shared_crawls(engine, "v1")  # v1: the baseline, which alerts nobody
    added = CliRunner().invoke(main, ["subscribers", "add", "reader@example.org", "--database", database_url])
    assert added.exit_code == 0, added.output
    mirror.snapshot = snapshots / "v2"
    monkeypatch.setenv("NEWSWATCH_SITE_URL", mirror.base_url)
    monkeypatch.setenv("NEWSWATCH_MODE", "full")  # the fixture's releases are years old: all of v2 tonight
    scheduler = schedulers(ScheduleConfig(database_url=database_url))
    events = JobEvents(scheduler)
    scheduler.start()

    fire_now(scheduler, crawl_command=CRAWL)
    event = events.outcome("nightly-now")

    assert event.code == EVENT_JOB_EXECUTED, getattr(event, "traceback", None)
    report = event.retval
    _baseline, nightly = runs(engine)
    assert (report.run_id, report.status, report.error) == (nightly.id, "complete", None)
    assert nightly.status == "complete" and not nightly.is_baseline and nightly.finished_at is not None
    assert nightly.hostname == socket.gethostname() and nightly.heartbeat_at is not None
    expected = Counter(c["kind"] for c in json.loads((snapshots / "v2" / "expected-changes.json").read_text("utf-8")))
    assert {kind: n for kind, n in report.changes.items() if n} == dict(expected)
    assert report.emails_sent == 1
    assert [e.rcpt_tos for e in smtp.envelopes] == [["reader@example.org"]]
    assert in_future(scheduler, NIGHTLY_JOB)  # the nightly schedule itself is untouched
    assert "NEWSWATCH_DATABASE_URL" not in os.environ  # the job got it from its scheduler, not from a global
    start, end = [r.getMessage() for r in caplog.records if r.name == "monitor.jobs"]
    assert start.startswith("nightly crawl of icesco: starting `")
    assert re.fullmatch(rf"nightly crawl of icesco: run {nightly.id} complete \(2 added, 6 edited, 2 removed\), "
                        r"1 e-mail sent, \d+\.\ds", end), end


def test_a_failing_crawl_is_recorded_and_the_schedule_goes_on(engine, database_url, schedulers):
    failing = (PYTHON, "-c", "import sys; print('the site is down', file=sys.stderr); sys.exit(3)")
    scheduler = schedulers(ScheduleConfig(database_url=database_url))
    events = JobEvents(scheduler)
    scheduler.start()

    fire_now(scheduler, crawl_command=failing, notify_command=SUCCEED)
    first = events.outcome("nightly-now")
    fire_now(scheduler, crawl_command=failing, notify_command=SUCCEED)  # the next night, as it were
    second = events.outcome("nightly-now")

    assert first.code == second.code == EVENT_JOB_EXECUTED  # a failed crawl is not a failed scheduler
    assert first.retval.status == "failed"
    assert first.retval.error == "crawl exited with status 3: the site is down"
    assert [(r.status, r.error) for r in runs(engine)] == [("failed", first.retval.error)] * 2
    assert [r.id for r in runs(engine)] == [first.retval.run_id, second.retval.run_id]
    assert scheduler.running and in_future(scheduler, NIGHTLY_JOB) and in_future(scheduler, NOTIFY_JOB)


def test_a_crawl_killed_midway_leaves_its_run_failed_not_running(engine, database_url):
    killed = (PYTHON, "-c", "import os, signal; from storage import runs; from storage.db import make_engine; "
                            "runs.claim(make_engine(os.environ['NEWSWATCH_DATABASE_URL']), 'icesco'); "
                            "os.kill(os.getpid(), signal.SIGKILL)")

    report = nightly_crawl(crawl_command=killed, notify_command=SUCCEED, context=JobContext(database_url, "icesco"))

    (run,) = runs(engine)
    assert (report.run_id, report.status) == (run.id, "failed")
    assert (run.status, run.error) == ("failed", "crawl was killed by SIGKILL")
    assert run.finished_at is not None


def test_a_nightly_crawl_refused_by_a_running_crawl_leaves_it_alone(mirror, engine, database_url, monkeypatch):
    monkeypatch.setenv("NEWSWATCH_SITE_URL", mirror.base_url)
    holder = claim(engine, "icesco")  # a manual crawl, still running (this live process)

    report = nightly_crawl(crawl_command=CRAWL, notify_command=SUCCEED, context=JobContext(database_url, "icesco"))

    assert (report.run_id, report.status) == (None, "refused")
    assert f"run {holder.run_id}" in report.error
    assert [(r.id, r.status) for r in runs(engine)] == [(holder.run_id, "running")]


# --------------------------------------------------------------------------- the schedule


def test_missed_runs_are_coalesced_into_one_at_restart(engine, database_url, schedulers, tmp_path):
    tally = tmp_path / "crawls"
    counting = (PYTHON, "-c", f"open({str(tally)!r}, 'a').write('x')")
    config = ScheduleConfig(database_url=database_url, cron="*/10 * * * *", crawl_command=counting,
                            notify_command=SUCCEED)
    before = schedulers(config)
    before.start(paused=True)
    # Down for 35 minutes: three or four nightly runs were missed meanwhile.
    before.modify_job(NIGHTLY_JOB, next_run_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=35))
    before.shutdown()

    after = schedulers(config)
    events = JobEvents(after)
    after.start()
    event = events.outcome(NIGHTLY_JOB)

    assert event.code == EVENT_JOB_EXECUTED
    assert tally.read_text() == "x"  # one crawl, not one per missed run
    assert events.submissions(NIGHTLY_JOB) == 1
    assert in_future(after, NIGHTLY_JOB)


def test_a_run_missed_beyond_the_grace_time_is_skipped_until_the_next_one(engine, database_url, schedulers,
                                                                          tmp_path):
    tally = tmp_path / "crawls"
    config = ScheduleConfig(database_url=database_url, cron="0 2 * * *", misfire_grace_seconds=3600,
                            crawl_command=(PYTHON, "-c", f"open({str(tally)!r}, 'a').write('x')"))
    before = schedulers(config)
    before.start(paused=True)
    before.modify_job(NIGHTLY_JOB, next_run_time=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    before.shutdown()

    after = schedulers(config)
    events = JobEvents(after)
    after.start()

    assert events.outcome(NIGHTLY_JOB).code == EVENT_JOB_MISSED
    assert not tally.exists() and runs(engine) == []
    assert in_future(after, NIGHTLY_JOB)


def test_restarts_replace_the_jobs_instead_of_duplicating_them(engine, database_url, schedulers):
    for cron in ("0 2 * * *", "0 2 * * *", "15 4 * * *"):
        scheduler = schedulers(ScheduleConfig(database_url=database_url, cron=cron, timezone="Asia/Riyadh"))
        scheduler.start(paused=True)
        jobs = scheduler.get_jobs()
        scheduler.shutdown()

    assert sorted(job.id for job in jobs) == [NIGHTLY_JOB, NOTIFY_JOB]
    nightly = next(job for job in jobs if job.id == NIGHTLY_JOB)
    local = nightly.next_run_time.astimezone(dt.timezone(dt.timedelta(hours=3)))
    assert (local.hour, local.minute) == (4, 15)  # the last configuration won
    with engine.connect() as connection:
        stored = Table(JOBSTORE_TABLE, MetaData(), autoload_with=connection)
        assert connection.scalar(select(func.count()).select_from(stored)) == 2


def test_jobs_stored_before_the_jobs_moved_to_their_own_module_still_load(engine, database_url, schedulers):
    scheduler = schedulers(ScheduleConfig(database_url=database_url))
    scheduler.start(paused=True)
    scheduler.shutdown()
    with engine.begin() as connection:  # as an older newswatch stored them: monitor.scheduler:nightly_crawl
        stored = Table(JOBSTORE_TABLE, MetaData(), autoload_with=connection)
        for job_id, state in connection.execute(select(stored.c.id, stored.c.job_state)).all():
            state = pickle.loads(state)
            state["func"] = state["func"].replace("monitor.jobs:", "monitor.scheduler:")
            connection.execute(stored.update().where(stored.c.id == job_id).values(job_state=pickle.dumps(state)))

    jobs = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE).get_all_jobs()

    assert {job.id: job.func for job in jobs} == {NIGHTLY_JOB: nightly_crawl, NOTIFY_JOB: retry_notify}


def test_the_job_store_never_holds_the_database_url(engine, database_url, schedulers):
    scheduler = schedulers(ScheduleConfig(database_url=database_url))
    scheduler.start(paused=True)
    scheduler.shutdown()

    with engine.connect() as connection:
        stored = Table(JOBSTORE_TABLE, MetaData(), autoload_with=connection)
        states = connection.scalars(select(stored.c.job_state)).all()

    assert len(states) == 2
    assert all(make_url(database_url).database.encode() not in state for state in states)


def test_alembic_leaves_the_job_store_table_alone(engine, database_url, schedulers):
    scheduler = schedulers(ScheduleConfig(database_url=database_url))
    scheduler.start(paused=True)
    scheduler.shutdown()
    assert inspect(engine).has_table(JOBSTORE_TABLE)

    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.check(config)  # raises AutogenerateDiffsDetected if it wanted to drop the table


# --------------------------------------------------------------------------- the command


def test_list_prints_the_jobs_and_their_next_runs_in_the_configured_zone(engine, database_url):
    result = CliRunner().invoke(main, ["schedule", "--list", "--database", database_url,
                                       "--cron", "30 3 * * *", "--timezone", "Asia/Riyadh"])

    assert result.exit_code == 0, result.output
    note, header, _, nightly, notify = result.output.splitlines()
    assert note == ("No scheduler has stored its jobs in this database yet; started with these options, "
                    "`newswatch schedule` would run:")
    assert header.split() == ["id", "job", "when", "next", "run", "(Asia/Riyadh)"]
    assert nightly.startswith(NIGHTLY_JOB) and "cron 30 3 * * * (Asia/Riyadh)" in nightly
    assert nightly.endswith(" 03:30:00 +03")
    assert notify.startswith(NOTIFY_JOB) and "every 5 min" in notify
    assert not inspect(engine).has_table(JOBSTORE_TABLE)  # listing writes no job


def test_list_json(engine, database_url):
    result = CliRunner().invoke(main, ["schedule", "--list", "--json", "--database", database_url,
                                       "--notify-every", "7"])

    assert result.exit_code == 0, result.output
    jobs = {job["id"]: job for job in json.loads(result.output)}
    assert jobs[NIGHTLY_JOB]["when"] == jobs[NIGHTLY_JOB]["when_options"] == "cron 0 2 * * * (UTC)"
    assert not jobs[NIGHTLY_JOB]["stored"]
    assert dt.datetime.fromisoformat(jobs[NIGHTLY_JOB]["next_run_time"]).strftime("%H:%M %z") == "02:00 +0000"
    assert jobs[NOTIFY_JOB]["when"] == "every 7 min"


def test_list_shows_what_the_stored_jobs_do_and_where_the_options_differ(engine, database_url, schedulers):
    running = schedulers(ScheduleConfig(database_url=database_url, cron="* * * * *", timezone="Asia/Riyadh",
                                        notify_every_minutes=7))
    running.start(paused=True)  # the scheduler stores its jobs as it starts
    stored = {job.id: job.next_run_time for job in running.get_jobs()}

    listed = CliRunner().invoke(main, ["schedule", "--list", "--database", database_url])  # default options
    as_json = CliRunner().invoke(main, ["schedule", "--list", "--json", "--database", database_url])

    assert listed.exit_code == 0, listed.output
    note, _, _, nightly, notify, *notes = listed.output.splitlines()
    assert note.startswith("Jobs stored in the database by the scheduler that last started on it")
    assert nightly.startswith(NIGHTLY_JOB) and "cron * * * * * (Asia/Riyadh)" in nightly
    assert nightly.endswith(f"{stored[NIGHTLY_JOB].astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    assert notify.startswith(NOTIFY_JOB) and "every 7 min" in notify
    assert notes[-1] == ("The options given differ from the stored jobs: nightly-crawl cron 0 2 * * * (UTC) (stored: "
                         "cron * * * * * (Asia/Riyadh)); retry-notify every 5 min (stored: every 7 min). A scheduler "
                         "started with them replaces the stored jobs; one already running goes on with them.")
    jobs = {job["id"]: job for job in json.loads(as_json.output)}
    assert (jobs[NIGHTLY_JOB]["when"], jobs[NIGHTLY_JOB]["when_options"]) == ("cron * * * * * (Asia/Riyadh)",
                                                                               "cron 0 2 * * * (UTC)")
    assert jobs[NIGHTLY_JOB]["stored"] and dt.datetime.fromisoformat(jobs[NIGHTLY_JOB]["next_run_time"]) == \
        stored[NIGHTLY_JOB].replace(microsecond=0)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("NEWSWATCH_SCHEDULE", "61 * * * *", "'--cron' (env var: 'NEWSWATCH_SCHEDULE'): '61 * * * *' is not a crontab "
                                         "expression (minute hour day month weekday, e.g. '0 2 * * *')"),
    ("NEWSWATCH_TIMEZONE", "Mars/Base", "'--timezone' (env var: 'NEWSWATCH_TIMEZONE'): unknown time zone "
                                        "'Mars/Base': use an IANA name such as UTC"),
    ("NEWSWATCH_NOTIFY_EVERY", "0", "'--notify-every' (env var: 'NEWSWATCH_NOTIFY_EVERY'): 0 is not in the range x>=1"),
    ("NEWSWATCH_SITE", "nowhere", "'--site' (env var: 'NEWSWATCH_SITE'): 'nowhere' is not 'icesco'"),
    ("NEWSWATCH_CRAWL_TIMEOUT", "-1", "'--crawl-timeout' (env var: 'NEWSWATCH_CRAWL_TIMEOUT'): -1 is not in the "
                                      "range x>=0"),
    ("NEWSWATCH_SMTP_PORT", "x", "the e-mails of every night would fail: Invalid value for '--smtp-port' "
                                 "(env var: 'NEWSWATCH_SMTP_PORT'): 'x' is not a valid integer"),
    ("NEWSWATCH_SMTP_SSL", "1", "the e-mails of every night would fail: Invalid value for '--smtp-ssl' / "
                                "'--smtp-starttls'"),
    # The crawls it starts read the scheduler's environment too.
    ("NEWSWATCH_MODE", "foo", "every nightly crawl would fail: bad setting NEWSWATCH_MODE='foo': expected incremental "
                              "or full"),
    ("NEWSWATCH_EXTRACT_WORKERS", "-1", "every nightly crawl would fail: bad setting NEWSWATCH_EXTRACT_WORKERS='-1': "
                                        "expected a whole number of worker processes"),
    ("NEWSWATCH_LANGUAGES", "de", "every nightly crawl would fail: bad setting NEWSWATCH_LANGUAGES='de'"),
])
def test_a_bad_setting_stops_the_schedule_before_it_starts(engine, database_url, monkeypatch, variable, value,
                                                           message):
    def started(config) -> None:
        raise AssertionError(f"the schedule started with {variable}={value!r}")

    monkeypatch.setattr(scheduler_module, "run_forever", started)
    env = {variable: value, **({"NEWSWATCH_SMTP_STARTTLS": "1"} if variable == "NEWSWATCH_SMTP_SSL" else {})}

    result = CliRunner().invoke(main, ["schedule", "--database", database_url], env=env)

    assert result.exit_code == 2 and "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert message in error
    assert not inspect(engine).has_table(JOBSTORE_TABLE)  # it never started


def test_sigterm_stops_the_scheduler_cleanly(engine, database_url):
    process = subprocess.Popen([PYTHON, "-m", "monitor", "schedule", "--database", database_url], cwd=REPO,
                               stderr=subprocess.PIPE, bufsize=0)
    try:
        log = read_until(process, f"job {NIGHTLY_JOB} ")
        process.send_signal(signal.SIGTERM)
        log += process.communicate(timeout=60)[1].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, log
    assert "SIGTERM: stopping after the running job" in log and log.rstrip().endswith("scheduler stopped")
    with engine.connect() as connection:  # the jobs stay stored for the next start
        stored = Table(JOBSTORE_TABLE, MetaData(), autoload_with=connection)
        assert sorted(connection.scalars(select(stored.c.id))) == [NIGHTLY_JOB, NOTIFY_JOB]


def test_signals_while_a_job_runs_stop_the_scheduler_once_it_ends(engine, database_url, schedulers):
    # A crawl that says it started (in words its logged command line does not hold), then runs until
    # the test closes its standard input.
    crawl = (PYTHON, "-c", "import sys; print('crawl ' + 'started', file=sys.stderr, flush=True); sys.stdin.read()")
    config = ScheduleConfig(database_url=database_url, crawl_command=crawl, notify_command=SUCCEED)
    stored = schedulers(config)
    stored.start(paused=True)
    stored.modify_job(NIGHTLY_JOB, next_run_time=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))  # due now
    stored.shutdown()
    script = ("import logging; from monitor.scheduler import ScheduleConfig, run_forever; "
              "logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s'); "
              f"run_forever(ScheduleConfig(database_url={database_url!r}, crawl_command={crawl!r}, "
              f"notify_command={SUCCEED!r}))")
    process = subprocess.Popen([PYTHON, "-c", script], cwd=REPO, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                               bufsize=0)
    try:
        log = read_until(process, "crawl started")
        process.send_signal(signal.SIGTERM)
        log += read_until(process, "SIGTERM: stopping after the running job")
        process.send_signal(signal.SIGINT)
        log += read_until(process, "SIGINT: still waiting for the running job to end")
        running = process.poll() is None
        log += process.communicate(input=b"", timeout=60)[1].decode()  # closes its input: the crawl ends
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert running and process.returncode == 0, log
    ended = log.index("monitor.jobs: nightly crawl of icesco: run ")
    assert log.index("still waiting") < ended < log.index("monitor.scheduler: scheduler stopped")
    assert [r.status for r in runs(engine)] == ["failed"]  # the job went on to its end: it settled its run


def test_a_stop_signal_lets_the_running_job_finish(engine, database_url, schedulers, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="monitor")
    finished = tmp_path / "finished"
    # A crawl that asks the scheduler (this process) to stop, then finishes its work.
    stopping = (PYTHON, "-c", f"import os, signal; os.kill(os.getppid(), signal.SIGTERM); "
                              f"open({str(finished)!r}, 'w').write('done')")
    config = ScheduleConfig(database_url=database_url, crawl_command=stopping, notify_command=SUCCEED)
    stored = schedulers(config)
    stored.start(paused=True)
    stored.modify_job(NIGHTLY_JOB, next_run_time=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))  # due now
    stored.shutdown()

    run_forever(config)  # returns once stopped

    assert finished.read_text() == "done"
    messages = [r.getMessage() for r in caplog.records if r.name in ("monitor.scheduler", "monitor.jobs")]
    stop = messages.index("SIGTERM: stopping after the running job")
    end = next(i for i, m in enumerate(messages) if m.startswith("nightly crawl of icesco: run "))
    assert stop < end < messages.index("scheduler stopped")
    assert [r.status for r in runs(engine)] == ["failed"]  # the job went on to its end: it settled its run


def read_until(process: subprocess.Popen, marker: str, timeout: float = 60) -> str:
    """The child's stderr up to `marker` (waiting on the pipe, not sleeping; unbuffered, so none is missed)."""
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while marker.encode() not in seen:
            if not selector.select(timeout=max(deadline - time.monotonic(), 0)):
                raise AssertionError(f"no {marker!r} within {timeout}s:\n{seen.decode()}")
            chunk = os.read(process.stderr.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the scheduler exited ({process.wait()}):\n{seen.decode()}")
            seen += chunk
    return seen.decode()
