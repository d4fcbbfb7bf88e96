"""Health with several sites: each site crawled each night is judged on its own runs, so a site that
never completes is told to the operator even while another completes every night."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_health import OPERATOR, _messages, newswatch
from test_notify import SmtpServer

from monitor.health import CRITICAL, OK, WARNING
from monitor.jobs import JobContext
from storage.models import CrawlRun, OperatorNotice
from tests.test_multisite import partner_profile


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sites_dir(tmp_path, monkeypatch):
    folder = tmp_path / "sites"
    folder.mkdir()
    profile = partner_profile(folder)
    written = time.time() - 5 * 24 * 3600  # configured long ago: only its runs say since when it should complete
    os.utime(profile, (written, written))
    monkeypatch.setenv("NEWSWATCH_SITES_DIR", str(folder))
    for variable in ("NEWSWATCH_SITES", "NEWSWATCH_SITE"):
        monkeypatch.delenv(variable, raising=False)
    return folder


def add_run(engine, hours_ago: float, status: str = "complete", site: str = "icesco", **columns) -> int:
    """A run of `site` started that long before now (this test's now: `newswatch health` reads the clock),
    which took ten minutes."""
    started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    with Session(engine) as session, session.begin():
        run = CrawlRun(site=site, started_at=started, finished_at=started + dt.timedelta(minutes=10), status=status,
                       stats={}, is_baseline=False, **columns)
        session.add(run)
        session.flush()
        return run.id


def notices(engine) -> dict[str, bool]:
    """Each notice's problem: whether it is still open."""
    with Session(engine) as session:
        return {n.problem: n.resolved_at is None for n in session.scalars(select(OperatorNotice).order_by(OperatorNotice.id))}


def test_a_site_that_never_completes_is_told_once_while_the_other_completes_every_night(engine, smtp, sites_dir):
    env = smtp.env(NEWSWATCH_OPERATOR_EMAIL=OPERATOR)
    add_run(engine, 32)
    add_run(engine, 8)  # icesco: complete every night
    add_run(engine, 50, "failed", site="partner", error="crawl exited with status 1")
    stuck = add_run(engine, 40, "incomplete", site="partner", error="3 listing pages failed")

    for _ in range(3):  # the scheduler runs `notify` every few minutes
        told = newswatch(engine, "health", "--notify", env=env)
        assert told.exit_code == CRITICAL

    assert notices(engine) == {f"run {stuck} of partner incomplete": True, "stale partner": True}
    assert sorted(m["Subject"] for m in _messages(smtp)) == [
        "[newswatch] CRITICAL: stale partner", f"[newswatch] WARNING: run {stuck} of partner incomplete"]
    [stale] = [m for m in _messages(smtp) if m["Subject"].endswith("stale partner")]
    assert stale.get_body(("plain",)).get_content().startswith(
        "no complete run of partner ever, configured 5 d 0 h ago (the limit is 1 d 12 h)")

    add_run(engine, 1, site="partner")  # partner completes again: every notice is resolved, nobody is mailed
    assert newswatch(engine, "health", "--notify", env=env).exit_code == OK
    assert notices(engine) == {f"run {stuck} of partner incomplete": False, "stale partner": False}
    assert len(smtp.inbox.messages) == 2


def test_health_says_how_each_site_stands(engine, sites_dir):
    icesco = add_run(engine, 8)
    old = add_run(engine, 60, site="partner")
    failed = add_run(engine, 2, "failed", site="partner", error="crawl exited with status 1")

    result = newswatch(engine, "health")

    assert (result.exit_code, result.output) == (CRITICAL, (
        f"CRITICAL: run {failed} of partner failed: crawl exited with status 1; no complete run of partner since "
        f"run {old}, 2 d 11 h ago (the limit is 1 d 12 h): is the scheduler running, does partner's crawl end?\n"
        f"icesco: OK, run {icesco} complete 7 h ago\n"
        f"partner: CRITICAL, run {old} complete 2 d 11 h ago, then run {failed} failed\n"))
    found = json.loads(newswatch(engine, "health", "--json").output)
    assert [(p["problem"], p["site"]) for p in found["problems"]] == [(f"run {failed} of partner failed", "partner"),
                                                                    ("stale partner", "partner")]
    assert [(s["site"], s["status"], s["problems"], s["last_run"], s["last_complete_run"]) for s in found["sites"]] == [
        ("icesco", "ok", [], icesco, icesco),
        ("partner", "critical", [f"run {failed} of partner failed", "stale partner"], failed, old)]
    assert (found["last_run"], found["last_complete_run"]) == (failed, icesco)

    add_run(engine, 1, site="partner")
    assert newswatch(engine, "health").output == ("OK: 2 sites, each with a recent complete run\n"
                                                  f"icesco: OK, run {icesco} complete 7 h ago\n"
                                                  f"partner: OK, run {failed + 1} complete 50 min ago\n")


def test_a_site_never_crawled_is_stale_once_its_profile_is_older_than_the_limit(engine, sites_dir):
    add_run(engine, 8)
    profile = sites_dir / "partner.toml"

    result = newswatch(engine, "health")
    assert result.exit_code == CRITICAL
    assert result.output.splitlines()[0] == ("CRITICAL: no complete run of partner ever, configured 5 d 0 h ago (the "
                                             "limit is 1 d 12 h): is the scheduler running, does partner's crawl end?")

    os.utime(profile)  # a profile written today: its first night is still to come
    result = newswatch(engine, "health")
    assert result.exit_code == OK
    assert result.output.splitlines()[2] == "partner: OK, no complete run (configured 0 min ago)"

    # A profile edited today does not restart the clock of a site failing since its first run.
    failed = add_run(engine, 40, "failed", site="partner", error="crawl exited with status 2")
    assert newswatch(engine, "health").output.splitlines()[2] == (
        f"partner: CRITICAL, no complete run, run {failed} failed (configured 1 d 16 h ago)")


def test_a_held_run_names_its_site(engine, sites_dir):
    add_run(engine, 8)
    add_run(engine, 9, site="partner")
    held = add_run(engine, 3, site="partner", hold="held", hold_reason="8 of 10 compared articles edited")

    found = json.loads(newswatch(engine, "health", "--json").output)

    assert found["exit"] == WARNING
    assert [(p["problem"], p["site"]) for p in found["problems"]] == [(f"run {held} of partner held", "partner")]
    assert found["problems"][0]["message"].startswith(f"run {held} of partner held: 8 of 10 compared articles edited")


@pytest.mark.parametrize("variable", ["NEWSWATCH_SITES", "NEWSWATCH_SITE"])
def test_only_the_sites_crawled_each_night_are_judged(engine, sites_dir, variable):
    """The bundled profile is always configured: an operator who crawls only partner must not hear of icesco."""
    run = add_run(engine, 8, site="partner")
    add_run(engine, 30, "failed")  # icesco, long ago, before the operator chose partner

    result = newswatch(engine, "health", env={variable: "partner"})

    assert (result.exit_code, result.output) == (OK, f"OK: run {run} complete 7 h ago\n")
    assert newswatch(engine, "health", env={variable: "icesco"}).exit_code == CRITICAL
    assert newswatch(engine, "health", "--sites", "icesco,partner").exit_code == CRITICAL


def test_the_scheduler_tells_notify_which_sites_it_crawls():
    environ = JobContext(database_url="sqlite://", sites=("partner", "icesco")).child_environ()
    assert environ["NEWSWATCH_SITES"] == "partner,icesco"


def test_a_stale_notice_of_one_site_becomes_one_per_site_when_a_second_site_is_added(engine, smtp, tmp_path,
                                                                                    monkeypatch):
    env = smtp.env(NEWSWATCH_OPERATOR_EMAIL=OPERATOR)
    for variable in ("NEWSWATCH_SITES_DIR", "NEWSWATCH_SITES", "NEWSWATCH_SITE"):
        monkeypatch.delenv(variable, raising=False)
    add_run(engine, 50)
    assert newswatch(engine, "health", "--notify", env=env).exit_code == CRITICAL  # one site: `stale`
    assert notices(engine) == {"stale": True}

    folder = tmp_path / "sites"
    folder.mkdir()
    partner_profile(folder)  # written now: partner is not due yet
    monkeypatch.setenv("NEWSWATCH_SITES_DIR", str(folder))
    assert newswatch(engine, "health", "--notify", env=env).exit_code == CRITICAL
    assert notices(engine) == {"stale": False, "stale icesco": True}  # the old notice does not stay open

    add_run(engine, 1)
    assert newswatch(engine, "health", "--notify", env=env).exit_code == OK
    assert notices(engine) == {"stale": False, "stale icesco": False}
    assert [m["Subject"] for m in _messages(smtp)] == ["[newswatch] CRITICAL: stale", "[newswatch] CRITICAL: stale icesco"]

    monkeypatch.delenv("NEWSWATCH_SITES_DIR")  # and back to one site: a site's notice is resolved as well
    add_run(engine, 40, "failed", site="partner")
    monkeypatch.setenv("NEWSWATCH_SITES_DIR", str(folder))
    os.utime(folder / "partner.toml", (time.time() - 3 * 86400,) * 2)
    assert newswatch(engine, "health", "--notify", env=env).exit_code == CRITICAL
    assert notices(engine)["stale partner"] is True
    monkeypatch.delenv("NEWSWATCH_SITES_DIR")
    assert newswatch(engine, "health", "--notify", env=env).exit_code == OK
    assert not any(notices(engine).values())
