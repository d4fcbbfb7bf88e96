"""The operator hears when a night went wrong (issue 15, part 4): `newswatch health` in the Nagios
convention, and one operator e-mail per problem, never to subscribers."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_notify import KEY, SmtpServer

from monitor.cli import main
from monitor.health import CRITICAL, OK, WARNING, HealthSettings, check, duration
from storage.models import CrawlRun, Delivery, Subscriber

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
OPERATOR = "ops@example.org"


def add_run(engine, hours_ago: float, status: str = "complete", **columns) -> int:
    started = NOW - dt.timedelta(hours=hours_ago)
    with Session(engine) as session, session.begin():
        run = CrawlRun(site="icesco", started_at=started, finished_at=started + dt.timedelta(minutes=10),
                       status=status, stats={}, is_baseline=False, **columns)
        session.add(run)
        session.flush()
        return run.id


def newswatch(engine, *args: str, env: dict[str, str] | None = None):
    url = engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(main, list(args), env={"NEWSWATCH_SECRET_KEY": KEY.decode(),
                                                     "NEWSWATCH_DATABASE_URL": url, **(env or {})})


def health(engine, **settings):
    with Session(engine) as session:
        return check(session, HealthSettings(**settings), now=NOW)


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def test_a_complete_run_last_night_is_ok(engine):
    run = add_run(engine, 8)

    result = newswatch(engine, "health")

    assert (result.exit_code, result.output) == (OK, f"OK: run {run} complete 7 h ago\n")


@pytest.mark.parametrize(("status", "exit_code", "line"), [
    ("failed", CRITICAL, "CRITICAL: run {run} failed: crawl was killed by SIGKILL\n"),
    ("incomplete", WARNING, "WARNING: run {run} incomplete: crawl was killed by SIGKILL\n"),
])
def test_a_failed_or_incomplete_last_run_is_critical_or_a_warning(engine, status, exit_code, line):
    add_run(engine, 30)
    run = add_run(engine, 6, status, error="crawl was killed by SIGKILL")

    result = newswatch(engine, "health")

    assert (result.exit_code, result.output) == (exit_code, line.format(run=run))


def test_a_held_run_is_a_warning_until_the_operator_decides(engine):
    run = add_run(engine, 6, hold="held", hold_reason="16 of 16 compared articles edited")

    assert newswatch(engine, "health").output == (
        f"WARNING: run {run} held: 16 of 16 compared articles edited (`newswatch release {run}` sends its digests, "
        f"`newswatch rebaseline {run}` accepts it silently)\n")
    assert newswatch(engine, "release", str(run)).exit_code == 0
    assert newswatch(engine, "health").exit_code == OK


def test_no_complete_run_for_longer_than_stale_after_is_critical(engine):
    run = add_run(engine, 40)
    add_run(engine, 15, "incomplete", error="1 listing page failed")

    result = newswatch(engine, "health", "--json")
    assert result.exit_code == CRITICAL
    found = json.loads(result.output)
    assert found["status"] == "critical" and found["last_complete_run"] == run
    assert [p["problem"] for p in found["problems"]] == ["stale", f"run {run + 1} incomplete"]
    assert found["problems"][0]["message"] == (f"no complete run since run {run}, 1 d 15 h ago (the limit is "
                                               "1 d 12 h): is the scheduler running?")
    relaxed = newswatch(engine, "health", env={"NEWSWATCH_STALE_AFTER": "2d"})
    assert relaxed.exit_code == WARNING
    assert newswatch(engine, "health", "--stale-after", "soon").exit_code == 2  # a usage error says why
    assert "'soon' is not a duration" in newswatch(engine, "health", "--stale-after", "soon").output


def test_no_run_at_all_is_critical(engine):
    assert newswatch(engine, "health").output.startswith("CRITICAL: no complete run ever")


def test_mail_failing_for_longer_than_the_limit_is_critical(engine):
    run = add_run(engine, 9)
    with Session(engine) as session, session.begin():
        subscriber = Subscriber(email="s@example.org", languages=["en"], kinds=["added"], token_id="t",
                                token_hash="h", created_at=NOW - dt.timedelta(days=9))
        session.add(subscriber)
        session.flush()
        session.add(Delivery(subscriber_id=subscriber.id, run_id=run, status="pending", attempts=4,
                             last_error="cannot reach SMTP server mail:25: refused", created_at=NOW - dt.timedelta(hours=8),
                             next_attempt_at=NOW))
    assert health(engine).status == CRITICAL
    assert health(engine).problems[0].message == ("e-mail failing for 8 h: 1 digest pending, the last error: cannot "
                                                  "reach SMTP server mail:25: refused")
    assert health(engine, mail_failing_after=dt.timedelta(hours=9)).status == OK


def test_durations():
    assert [duration(v) for v in ("36h", "90m", "2d", "12")] == [
        dt.timedelta(hours=36), dt.timedelta(minutes=90), dt.timedelta(days=2), dt.timedelta(hours=12)]
    with pytest.raises(ValueError, match="not a duration"):
        duration("0h")


# --------------------------------------------------------------------------- operator mail


def test_the_operator_gets_one_email_per_problem_not_per_night_and_subscribers_none(engine, smtp):
    add_run(engine, 30)
    failed = add_run(engine, 6, "failed", error="crawl exited with status 1")
    assert newswatch(engine, "subscribers", "add", "reader@example.org").exit_code == 0
    env = smtp.env(NEWSWATCH_OPERATOR_EMAIL=OPERATOR)

    for _night in range(3):  # the scheduler runs `notify` every few minutes
        assert newswatch(engine, "notify", env=env).exit_code == 0

    [(_, recipients, _)] = smtp.inbox.messages
    assert recipients == [OPERATOR]
    message = smtp.inbox.parsed()[OPERATOR]
    assert message["Subject"] == f"[newswatch] CRITICAL: run {failed} failed"
    assert "crawl exited with status 1" in message.get_body(("plain",)).get_content()
    with Session(engine) as session:
        assert session.scalars(select(Delivery)).all() == []  # nothing queued for the subscriber

    held = add_run(engine, 1, hold="held", hold_reason="8 of 10 compared articles edited")
    assert newswatch(engine, "health", "--notify", env=env).exit_code == WARNING
    assert newswatch(engine, "health", "--notify", env=env).exit_code == WARNING
    subjects = [m["Subject"] for m in _messages(smtp)]
    assert subjects == [f"[newswatch] CRITICAL: run {failed} failed", f"[newswatch] WARNING: run {held} held"]
    assert {rcpt for _, rcpts, _ in smtp.inbox.messages for rcpt in rcpts} == {OPERATOR}


def test_a_problem_that_comes_back_is_told_again_and_one_not_sent_is_tried_again(engine, smtp):
    env = smtp.env(NEWSWATCH_OPERATOR_EMAIL=OPERATOR)
    down = {**env, "NEWSWATCH_SMTP_PORT": "9"}  # nothing listens there
    add_run(engine, 50)

    told = newswatch(engine, "health", "--notify", env=down)
    assert told.exit_code == CRITICAL and "Could not tell ops@example.org (tried again next time)" in told.output
    assert newswatch(engine, "health", "--notify", env=env).exit_code == CRITICAL
    add_run(engine, 1)  # a complete run: the problem is gone
    assert newswatch(engine, "health", "--notify", env=env).exit_code == OK
    with Session(engine) as session, session.begin():  # ... and back, much later
        for run in session.scalars(select(CrawlRun)):
            run.started_at -= dt.timedelta(days=3)
            run.finished_at = run.started_at
    assert newswatch(engine, "health", "--notify", env=env).exit_code == CRITICAL

    assert [m["Subject"] for m in _messages(smtp)] == ["[newswatch] CRITICAL: stale"] * 2


def _messages(smtp):
    import email
    from email import policy

    return [email.message_from_bytes(content, policy=policy.default) for _, _, content in smtp.inbox.messages]
