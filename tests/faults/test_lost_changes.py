"""Issue 13, changes lost (items 1, 2, 3): crawls killed (-9) or stopped (SIGTERM) at chosen moments.

A moment is chosen without sleeping: the mirror holds the requests of some changed releases at
a gate, the test waits until the database shows the versions of all the others committed by the
running run, then signals the crawl. Stores commit item by item (NEWSWATCH_STORE_BATCH=1), so
what was read before the signal is in the database.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.sites import ICESCO
from faults import observe
from faults.conftest import SUBSCRIBERS, V2, nightly_job, notify, subscribe
from faults.faultmirror import ARTICLE, LISTING, answer, held
from faults.processes import alive, command_line, crawl_command, descendants
from storage.models import ArticleEvent

FULL = ("-a", "mode=full")
ONE_BY_ONE = {"NEWSWATCH_STORE_BATCH": "1"}
SUCCEED = (sys.executable, "-c", "pass")  # the job's notify step, when mail is not the point
# The releases v2 adds or edits (each is one new version), in a fixed order.
NEW_TEXT = sorted(path for kind, path in observe.expected(V2) if kind in ("added", "edited"))


def hold(site, paths: list[str]) -> threading.Event:
    """Hold the requests of `paths` at a gate from now on; the gate (closed) is returned."""
    gate = threading.Event()
    site.faults = [held("|".join(map(re.escape, paths)), gate)] if paths else []
    return gate


def start_v2_holding(site, crawls, engine, held_paths: list[str], new_versions: int | None = None, **settings):
    """Start a full crawl of v2 with `held_paths` held; return it and its run, once that run has
    committed `new_versions` versions (by default one for every other release v2 adds or edits)."""
    site.snapshot = V2
    gate = hold(site, held_paths)
    crawl = crawls.start(engine, *FULL, **{**ONE_BY_ONE, **settings})
    run = observe.eventually(lambda: observe.run_of(engine, crawl.pid), "the crawl's run starts", crawl=crawl)
    expected = len(NEW_TEXT) - len(held_paths) if new_versions is None else new_versions
    observe.eventually(lambda: observe.versions_in(engine, run.id) >= expected,
                       f"run {run.id} commits {expected} versions", crawl=crawl)
    return crawl, run, gate


def kill(crawl) -> None:
    crawl.signal(signal.SIGKILL)
    assert crawl.wait(30) == -signal.SIGKILL


# --------------------------------------------------------------------------- item 1: kill -9 while storing


def test_item1_changes_stored_by_a_crawl_killed_while_storing_are_reported_once(database, site, crawls):
    engine = database("v1")
    killed, _, _ = start_v2_holding(site, crawls, engine, NEW_TEXT[4:])
    kill(killed)
    site.faults = []

    crawls.run(engine, *FULL)

    assert observe.reported(engine) == observe.expected(V2)
    assert [run.status for run in observe.runs(engine)] == ["complete", "failed", "complete"]


def test_item1_kill_9_at_several_moments_converges_to_the_changes_of_an_uninterrupted_run(database, site, crawls):
    engine = database("v1")
    first, _, _ = start_v2_holding(site, crawls, engine, NEW_TEXT[3:])  # 3 releases read
    kill(first)
    second, _, _ = start_v2_holding(site, crawls, engine, NEW_TEXT[6:], new_versions=3)  # 3 more
    kill(second)
    site.faults = [held(ARTICLE, threading.Event())]  # a third, killed at its first article request
    requested = len(site.hits(ARTICLE))  # by the crawls before: the log is the test's
    third = crawls.start(engine, *FULL, **ONE_BY_ONE)
    site.wait_for(ARTICLE, count=requested + 1)
    kill(third)
    site.faults = []

    crawls.run(engine, *FULL)

    assert observe.reported(engine) == observe.expected(V2)
    assert [run.status for run in observe.runs(engine)] == ["complete", "failed", "failed", "failed", "complete"]
    assert observe.problems(engine) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_while_storing_leaves_a_sound_database_and_the_next_run_takes_over(backend, database, site, crawls,
                                                                                  request):
    if backend == "sqlite":
        engine = database("v1")
    else:
        engine = request.getfixturevalue("postgres_engine")
        crawls.run(engine)  # the baseline of v1
    killed, _run, _ = start_v2_holding(site, crawls, engine, NEW_TEXT[4:])
    kill(killed)
    site.faults = []

    crawls.run(engine, *FULL)

    assert observe.problems(engine) == []
    runs = observe.runs(engine)
    assert [r.status for r in runs] == ["complete", "failed", "complete"]
    assert runs[1].error == f"abandoned: process {killed.pid} on {socket.gethostname()} died"
    assert set(observe.reported(engine)) <= set(observe.expected(V2))  # nothing false, whatever was lost


# --------------------------------------------------------------------------- SIGTERM (passes today)


def moves_in(engine, run_id: int) -> int:
    """How many moved releases the run has folded into the release they moved from."""
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(ArticleEvent)
                              .where(ArticleEvent.run_id == run_id, ArticleEvent.kind == "moved")) or 0


def test_sigterm_ends_the_run_incomplete_and_the_next_run_reports_the_rest_once(database, site, crawls):
    engine = database("v1")
    stopped, run, gate = start_v2_holding(site, crawls, engine, NEW_TEXT[4:])
    # The moved release (NEW_TEXT[2], stored at its new URL) folded before the stop: a stop between the
    # new URL's store and the old URL's 301 is the race the module docstring of test_politeness tells.
    observe.eventually(lambda: moves_in(engine, run.id) >= 1, f"run {run.id} folds the moved release", crawl=stopped)
    stopped.signal(signal.SIGTERM)
    stopped.wait_for_log(r"Received SIGTERM")
    gate.set()  # a graceful stop lets the downloads in flight end
    stopped.wait(60)
    site.faults = []

    crawls.run(engine, *FULL)

    assert [r.status for r in observe.runs(engine)] == ["complete", "incomplete", "complete"]
    assert observe.kinds(observe.reported(engine, run.id))["removed"] == 0  # an incomplete run removes nothing
    assert observe.reported(engine) == observe.expected(V2)
    assert observe.problems(engine) == []


# --------------------------------------------------------------------------- item 2: incomplete runs are never mailed


def test_item2_an_incomplete_run_mails_the_additions_and_edits_it_saw_and_no_removal(database, site, crawls, smtp):
    engine = database("v1")  # digests name releases by their canonical URL, on the site's origin
    for address, (languages, kinds) in SUBSCRIBERS.items():
        subscribe(engine, address, languages, kinds)
    site.snapshot = V2
    site.faults = [answer(LISTING.replace("(en|fr|ar)", "fr") + "page/2/", 503)]  # a partial outage
    crawls.run(engine, *FULL)
    assert observe.runs(engine)[-1].status == "incomplete"
    notify(engine, smtp)
    after_outage = observe.mailed(smtp.inbox, ICESCO.origin, "all@example.org")
    site.faults = []
    crawls.run(engine, *FULL)
    notify(engine, smtp)

    removed = {path for kind, path in observe.expected(V2) if kind == "removed"}
    assert set(after_outage) == set(NEW_TEXT) and not set(after_outage) & removed
    assert observe.mailed(smtp.inbox, ICESCO.origin, "all@example.org") == {path: 1 for _, path in observe.expected(V2)}


# --------------------------------------------------------------------------- item 3: a killed crawl and the scheduler


def test_item3_a_crawl_killed_midway_leaves_no_worker_and_the_nightly_job_ends(database, site, monkeypatch, tmp_path):
    engine = database("v1")
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", url)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    site.snapshot = V2
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate, after=4)]  # four pages reach the extraction workers, then it waits
    command = crawl_command(site.base_url, url, *FULL, NEWSWATCH_EXTRACT_WORKERS="2")
    reports = []
    job = threading.Thread(target=lambda: reports.append(nightly_job(engine, command, SUCCEED)), daemon=True)
    job.start()
    run = observe.eventually(lambda: next((r for r in observe.runs(engine) if r.status == "running"), None),
                             "the nightly crawl starts its run")
    workers = observe.eventually(lambda: [p for p in descendants(run.pid) if "spawn_main" in command_line(p)],
                                 "the crawl starts its extraction workers")
    left = descendants(run.pid)
    try:
        os.kill(run.pid, signal.SIGKILL)
        job.join(10)

        assert not job.is_alive(), "the nightly job is still waiting for the killed crawl"
        assert (reports[0].run_id, reports[0].status) == (run.id, "failed")
        assert not [pid for pid in left if alive(pid)], f"workers {workers} outlived their crawl"
    finally:
        for pid in left:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        gate.set()
        job.join(30)


def test_item3_the_extraction_workers_die_with_a_crawl_killed_9_outside_the_scheduler(database, site, crawls):
    engine = database("v1")
    site.snapshot = V2
    gate = threading.Event()
    site.faults = [held(ARTICLE, gate, after=4)]
    crawl = crawls.start(engine, *FULL, NEWSWATCH_EXTRACT_WORKERS="2")  # as an operator or cron starts it
    workers = observe.eventually(lambda: [p for p in descendants(crawl.pid) if "spawn_main" in command_line(p)],
                                 "the crawl starts its extraction workers", crawl=crawl)
    try:
        kill(crawl)

        observe.eventually(lambda: not [pid for pid in workers if alive(pid)], "the workers die with their crawl",
                           timeout=10)
    finally:
        gate.set()


def test_item3_the_nightly_job_ends_with_its_crawl_whatever_holds_the_crawl_s_log(database, monkeypatch, tmp_path):
    engine = database("v1")
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    pid_file = tmp_path / "holder.pid"
    holder = (f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); os.setsid(); "
              "time.sleep(3600)")  # out of the crawl's process group, holding its stderr
    crawl = (sys.executable, "-c", f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {holder!r}]); "
                                   f"import os, time\nwhile not os.path.exists({str(pid_file)!r}): time.sleep(0.01)\n"
                                   "sys.exit(1)")
    reports = []
    job = threading.Thread(target=lambda: reports.append(nightly_job(engine, crawl, SUCCEED)), daemon=True)
    job.start()
    try:
        job.join(15)

        assert not job.is_alive(), "the nightly job waits for the end of a log that a leftover process holds"
        assert reports[0].status == "failed" and reports[0].error.startswith("crawl exited with status 1")
    finally:
        if pid_file.exists() and alive(int(pid_file.read_text() or 0)):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        job.join(30)


def test_item3_a_crawl_that_outlives_the_crawl_timeout_is_ended_and_reported(database, monkeypatch, tmp_path):
    engine = database("v1")
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("NEWSWATCH_CRAWL_TIMEOUT", "2")
    pid_file = tmp_path / "hung.pid"
    hung = (sys.executable, "-c", f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
                                  "time.sleep(3600)")  # the fault: a crawl that never ends
    reports = []
    job = threading.Thread(target=lambda: reports.append(nightly_job(engine, hung, SUCCEED)), daemon=True)
    job.start()
    try:
        job.join(10)

        assert not job.is_alive(), "the nightly job is still waiting for a crawl past NEWSWATCH_CRAWL_TIMEOUT"
        assert reports[0].status == "failed" and "timeout" in (reports[0].error or "").lower()
        assert not alive(int(pid_file.read_text()))
    finally:
        if pid_file.exists() and alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        job.join(30)

