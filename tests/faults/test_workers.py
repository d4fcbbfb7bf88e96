"""Issue 17, parts 1 and 3: several `scrapy crawl news` processes work one run through a Redis
queue (NEWSWATCH_QUEUE), writing to one PostgreSQL database.

Real crawls of the fault mirror in child processes, a fresh PostgreSQL database and a Redis key
prefix of its own per test. What a user sees is compared with one process's night (the fault
suite's `nights`, crawled once per session) and with the fixtures' expected changes: the same
articles and versions, each change reported once, one run closed once with one summary, and no
key left in Redis. Skipped when Redis or PostgreSQL is absent.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from conftest import REPO
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from faults import observe
from faults.conftest import V2, Crawls, nightly_job, sqlite_engine
from faults.faultmirror import ARTICLE, held
from faults.processes import Crawl, crawl_command
from storage.db import make_engine, migrate
from storage.models import Article, ArticleVersion, RunWorker

REDIS_URL = "redis://127.0.0.1:6379/0"
FULL = ("-a", "mode=full")
SUMMARY = r"\] (INFO|WARNING): run \d+ (complete|incomplete|failed) in "


@pytest.fixture
def queue() -> Iterator[dict[str, str]]:
    """The settings of a shared queue on the machine's Redis, under a key prefix of this test only;
    afterwards, no key of it may be left."""
    server = redis.Redis.from_url(REDIS_URL)
    try:
        server.ping()
    except redis.exceptions.ConnectionError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    prefix = f"nwtest{uuid.uuid4().hex[:10]}"
    yield {"NEWSWATCH_QUEUE": REDIS_URL, "NEWSWATCH_QUEUE_PREFIX": prefix}
    left = [key.decode() for key in server.scan_iter(match=f"{prefix}:*")]
    if left:
        server.delete(*left)
    server.close()
    assert not left, f"keys left in Redis after the run: {left}"


@pytest.fixture
def postgres(postgres_server) -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database."""
    url = postgres_server.create_database()
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
    postgres_server.drop_database(url)


def workers(crawls: Crawls, engine: Engine, count: int, *args: str, **settings: str) -> list[Crawl]:
    return [crawls.start(engine, *args, **settings) for _ in range(count)]


def finish(started: list[Crawl], timeout: float = 180.0) -> None:
    """Every worker ends (no deadlock) with a status that says its run ran (0 complete, 3 incomplete)."""
    for crawl in started:
        assert crawl.wait(timeout) == 0, crawl.tail()
        assert not crawl.errors(), crawl.errors()
        assert crawl.tracebacks() == 0, crawl.tail()
        assert "DeprecationWarning" not in crawl.log, crawl.tail()  # scrapy-redis on this Scrapy: silenced


def stored(engine: Engine) -> dict[str, list[str]]:
    """Each article (by path) and the content hashes of its versions, oldest first."""
    with Session(engine) as session:
        rows = session.execute(select(Article.canonical_url, ArticleVersion.content_hash)
                               .join(ArticleVersion, ArticleVersion.article_id == Article.id)
                               .order_by(ArticleVersion.id))
        found: dict[str, list[str]] = {}
        for url, digest in rows:
            found.setdefault(observe.path_of(url), []).append(digest)
        return found


@pytest.fixture
def one_process(nights) -> dict[str, dict[str, list[str]]]:
    """What one process stored on the nights v1 and v2 (the fault suite's, crawled once per session)."""
    result = {}
    for night in ("v1", "v2"):
        engine = sqlite_engine(nights[night])
        result[night] = stored(engine)
        engine.dispose()
    return result


def summaries(started: list[Crawl]) -> list[str]:
    """The run summaries the workers logged (one worker closes the run and says it)."""
    return [line for crawl in started for line in crawl.log.splitlines() if re.search(SUMMARY, line)]


def one_closed_run(engine: Engine, started: list[Crawl]) -> observe.CrawlRun:
    """The last run: complete, closed once (one summary), by workers that all left it."""
    run = observe.runs(engine)[-1]
    assert run.status == "complete", (run.status, run.error)
    assert len(summaries(started)) == 1, summaries(started)
    with Session(engine) as session:
        states = Counter(session.scalars(select(RunWorker.state).where(RunWorker.run_id == run.id)))
    assert sum(states.values()) == len(started)
    return run


@pytest.mark.parametrize("count", [2, 4])
def test_workers_store_and_report_what_one_process_does(site, crawls, postgres, queue, one_process, count):
    started = workers(crawls, postgres, count, **queue)
    finish(started)
    v1 = one_closed_run(postgres, started)
    assert len(observe.runs(postgres)) == 1 and v1.is_baseline
    assert stored(postgres) == one_process["v1"]
    assert all(crawl.log.count("claimed by worker") + crawl.log.count("joined by worker") == 1 for crawl in started)
    assert sum(crawl.log.count("claimed by worker") for crawl in started) == 1

    site.snapshot = V2
    started = workers(crawls, postgres, count, *FULL, **queue)
    finish(started)
    v2 = one_closed_run(postgres, started)
    assert stored(postgres) == one_process["v2"]  # no duplicate article, no version lost or doubled
    assert observe.reported(postgres, v2.id) == observe.expected(V2)  # each change once
    assert observe.reported(postgres) == observe.expected(V2)


def test_a_worker_joins_a_run_late_and_takes_a_share(site, crawls, postgres, queue, one_process):
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate, after=3)]  # the run cannot drain before the second worker is in
    first = crawls.start(postgres, **queue)
    run = observe.eventually(lambda: observe.run_of(postgres, first.pid), "the first worker claims the run", crawl=first)
    site.wait_for(ARTICLE, count=4)
    second = crawls.start(postgres, **queue)
    second.wait_for_log(r"run \d+ joined by worker")
    gate.set()
    finish([first, second])
    assert one_closed_run(postgres, [first, second]).id == run.id
    assert stored(postgres) == one_process["v1"]
    with Session(postgres) as session:
        shares = {worker.pid: worker.stats for worker in session.scalars(select(RunWorker))}
    assert shares[second.pid]["requests"] > 0  # it took part, not only watched


def test_a_worker_takes_only_what_it_can_download_at_once_and_leaves_the_rest_to_the_others(
        site, crawls, postgres, queue, one_process):
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate)]  # every article fetch hangs until the gate opens
    first = crawls.start(postgres, CONCURRENT_REQUESTS_PER_DOMAIN="2", **queue)
    run_id = int(first.wait_for_log(r"run (\d+) claimed by worker").group(1))
    site.wait_for(ARTICLE, count=2)  # its two downloads at a time, both held
    second = crawls.start(postgres, CONCURRENT_REQUESTS_PER_DOMAIN="2", **queue)
    second.wait_for_log(r"run \d+ joined by worker")
    site.wait_for(ARTICLE, count=4)  # the second worker's two
    server = redis.Redis.from_url(REDIS_URL)
    queued = server.zcard(f"{queue['NEWSWATCH_QUEUE_PREFIX']}:icesco:{run_id}:requests")
    server.close()

    # Two at a time each, none taken to wait in a worker's hands: the rest is queued for whoever is free.
    assert len(site.hits(ARTICLE)) == 4
    assert queued > 0
    gate.set()
    finish([first, second])
    one_closed_run(postgres, [first, second])
    assert stored(postgres) == one_process["v1"]


@pytest.mark.parametrize("role", ["joined", "claimed"])
def test_kill_9_of_a_worker_loses_nothing_and_reports_each_change_once(site, crawls, postgres, queue, one_process,
                                                                       role):
    baseline = crawls.run(postgres, **queue)
    assert baseline.status == 0, baseline.tail()
    site.snapshot = V2
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate, after=10)]  # from the 11th article on, fetches hang until the gate opens
    started = workers(crawls, postgres, 2, *FULL, **queue)
    roles = {crawl.wait_for_log(r"run \d+ (claimed|joined) by worker").group(1): crawl for crawl in started}
    victim = roles[role]
    survivor = next(crawl for crawl in started if crawl is not victim)
    run_id = int(victim.wait_for_log(r"run (\d+) (claimed|joined) by worker").group(1))
    # The moment: the victim holds requests it has not finished (its in-flight set in the queue),
    # and the claimer has queued every start request (else the run could only end incomplete).
    key = f"{queue['NEWSWATCH_QUEUE_PREFIX']}:icesco:{run_id}"
    holding = f"{key}:inflight:{victim.pid}@{socket.gethostname()}"
    server = redis.Redis.from_url(REDIS_URL)
    observe.eventually(lambda: server.zcard(holding) > 0 and not server.exists(f"{key}:starting"),
                       "the victim holds requests, the start is queued", crawl=victim)
    server.close()
    victim.signal(signal.SIGKILL)
    assert victim.wait(30) == -signal.SIGKILL
    gate.set()
    finish([survivor])
    requeued = re.search(rf"worker {victim.pid}@\S+ of run {run_id} is dead .*: the (\d+) requests it held are back",
                         survivor.log)
    assert requeued and int(requeued.group(1)) > 0, survivor.tail()
    run = observe.runs(postgres)[-1]
    assert run.status == "complete", (run.status, run.error)
    assert len(summaries([survivor])) == 1
    assert stored(postgres) == one_process["v2"]
    assert observe.reported(postgres) == observe.expected(V2)


def test_a_worker_stopped_by_sigterm_leaves_and_the_others_finish_the_run(site, crawls, postgres, queue, one_process):
    baseline = crawls.run(postgres, **queue)
    assert baseline.status == 0, baseline.tail()
    site.snapshot = V2
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate, after=10)]
    started = workers(crawls, postgres, 2, *FULL, **queue)
    roles = {crawl.wait_for_log(r"run \d+ (claimed|joined) by worker").group(1): crawl for crawl in started}
    survivor, stopped = roles["claimed"], roles["joined"]
    site.wait_for(ARTICLE, count=14)
    # Once it works (requests in its hands): a SIGTERM while its engine still starts is Scrapy's
    # start-up, which closes no spider (it exits 4 without leaving the queue).
    run_id = int(stopped.wait_for_log(r"run (\d+) joined by worker").group(1))
    server = redis.Redis.from_url(REDIS_URL)
    holding = f"{queue['NEWSWATCH_QUEUE_PREFIX']}:icesco:{run_id}:inflight:{stopped.pid}@{socket.gethostname()}"
    observe.eventually(lambda: server.zcard(holding) > 0, "the stopped worker holds requests", crawl=stopped)
    server.close()
    stopped.signal(signal.SIGTERM)
    stopped.wait_for_log(r"shutting down gracefully")
    gate.set()
    assert stopped.wait(60) == 3, stopped.tail()  # its own part stopped before its end; the run is the survivor's
    assert re.search(r"worker \S+ leaves run \d+ \(shutdown\)", stopped.log), stopped.tail()
    finish([survivor])
    run = observe.runs(postgres)[-1]
    assert run.status == "complete", (run.status, run.error)
    assert len(summaries([survivor, stopped])) == 1
    assert stored(postgres) == one_process["v2"]
    assert observe.reported(postgres) == observe.expected(V2)


def test_a_run_whose_workers_all_died_is_taken_over_and_each_change_reported_once(site, crawls, postgres, queue):
    baseline = crawls.run(postgres, **queue)
    assert baseline.status == 0, baseline.tail()
    site.snapshot = V2
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate, after=20)]
    started = workers(crawls, postgres, 2, *FULL, **{**queue, "NEWSWATCH_STORE_BATCH": "1"})
    for crawl in started:
        crawl.wait_for_log(r"run \d+ (claimed|joined) by worker")
    site.wait_for(ARTICLE, count=24)
    dead_run = observe.runs(postgres)[-1]
    for crawl in started:
        crawl.signal(signal.SIGKILL)
        assert crawl.wait(30) == -signal.SIGKILL
    gate.set()
    site.faults = []
    next_night = crawls.run(postgres, *FULL, **queue)  # the dead run's keys go as this one is claimed
    assert next_night.status == 0, next_night.tail()
    runs = observe.runs(postgres)
    assert [run.status for run in runs] == ["complete", "failed", "complete"]
    assert runs[1].id == dead_run.id and runs[1].error.startswith("abandoned")
    assert observe.reported(postgres) == observe.expected(V2)  # what the dead run stored, once; the rest, once


@pytest.mark.parametrize(("queue_url", "message"), [
    ("http://127.0.0.1:6379/0", "bad setting NEWSWATCH_QUEUE='http://127.0.0.1:6379/0': expected a Redis URL"),
    ("redis://", "bad setting NEWSWATCH_QUEUE='redis://': expected a Redis URL"),
])
def test_a_bad_queue_setting_is_one_line_and_exit_2(queue_url, message, tmp_path):
    result = subprocess.run(crawl_command("http://127.0.0.1:9", f"sqlite:///{tmp_path / 'n.db'}",
                                          NEWSWATCH_QUEUE=queue_url),
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"scrapy crawl: {message} such as redis://localhost:6379/0, or nothing "
                                                  "for one crawl process"]


def test_an_unreachable_queue_refuses_the_crawl_in_one_line(tmp_path):
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = subprocess.run(crawl_command("http://127.0.0.1:9", f"sqlite:///{tmp_path / 'n.db'}",
                                          NEWSWATCH_QUEUE=f"redis://127.0.0.1:{port}/0"),
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(errors) == 1 and "the queue refused the crawl" in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- the nightly job's crawl as a worker

SUCCEED = (sys.executable, "-c", "pass")  # the job's notify step: mail is not the point


def run_workers(engine: Engine, run_id: int) -> int:
    with Session(engine) as session:
        return len(session.scalars(select(RunWorker).where(RunWorker.run_id == run_id)).all())


def start_nightly_job(engine: Engine, command: list[str], monkeypatch, tmp_path) -> tuple[threading.Thread, list]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "job-state"))
    reports: list = []
    job = threading.Thread(target=lambda: reports.append(nightly_job(engine, command, SUCCEED)), daemon=True)
    job.start()
    return job, reports


def test_the_nightly_job_s_crawl_that_joined_a_run_reports_that_run_and_its_changes_come_once(
        site, crawls, postgres, queue, monkeypatch, tmp_path):
    baseline = crawls.run(postgres, **queue)
    assert baseline.status == 0, baseline.tail()
    site.snapshot = V2
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate, after=10)]  # the run cannot drain before the job's crawl is in
    claimer = crawls.start(postgres, *FULL, **queue)  # another machine's worker, as it were
    run_id = int(claimer.wait_for_log(r"run (\d+) claimed by worker").group(1))
    url = postgres.url.render_as_string(hide_password=False)
    job, reports = start_nightly_job(postgres, crawl_command(site.base_url, url, *FULL, **queue), monkeypatch,
                                     tmp_path)
    observe.eventually(lambda: run_workers(postgres, run_id) == 2, "the job's crawl joins the run", crawl=claimer)
    gate.set()
    job.join(180)
    finish([claimer])

    assert not job.is_alive()
    (report,) = reports
    # Its own run: closed by whichever worker found it drained, maybe after the job's crawl left it.
    assert (report.run_id, report.error) == (run_id, None)
    assert report.status in ("complete", "running")
    assert [(run.id, run.status) for run in observe.runs(postgres)][1:] == [(run_id, "complete")]  # no failed run
    assert observe.reported(postgres) == observe.expected(V2)  # each change once, by the run


def test_the_nightly_job_leaves_the_run_its_killed_crawl_claimed_to_its_live_workers(
        site, crawls, postgres, queue, monkeypatch, tmp_path):
    baseline = crawls.run(postgres, **queue)
    assert baseline.status == 0, baseline.tail()
    site.snapshot = V2
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate, after=10)]
    url = postgres.url.render_as_string(hide_password=False)
    job, reports = start_nightly_job(postgres, crawl_command(site.base_url, url, *FULL, **queue), monkeypatch,
                                     tmp_path)
    run = observe.eventually(lambda: next((r for r in observe.runs(postgres) if r.status == "running"), None),
                             "the job's crawl claims the run")
    joiner = crawls.start(postgres, *FULL, **queue)
    joiner.wait_for_log(rf"run {run.id} joined by worker")
    server = redis.Redis.from_url(REDIS_URL)
    key = f"{queue['NEWSWATCH_QUEUE_PREFIX']}:icesco:{run.id}"
    observe.eventually(lambda: not server.exists(f"{key}:starting"), "the claimer queued its start", crawl=joiner)
    server.close()
    os.kill(run.pid, signal.SIGKILL)  # the job's crawl, while the joiner still works the run
    job.join(60)
    assert not job.is_alive(), "the nightly job is still waiting for its killed crawl"
    (report,) = reports
    assert (report.run_id, report.status) == (run.id, "running")
    assert report.error.startswith("crawl was killed by SIGKILL")
    assert report.error.endswith(f"run {run.id} is left to its 1 other live worker")
    assert observe.runs(postgres)[-1].status == "running"  # not failed under its worker

    gate.set()
    finish([joiner])
    assert [(r.id, r.status) for r in observe.runs(postgres)][1:] == [(run.id, "complete")]
    assert len(summaries([joiner])) == 1
    assert observe.reported(postgres) == observe.expected(V2)
