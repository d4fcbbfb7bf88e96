"""Storage: schema and migrations, versioning rules, listings, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from queue import Queue
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from storage.content import content_hash, normalize_text
from storage.db import (
    SCHEMA_HEAD,
    BadDatabaseURL,
    alembic_config,
    check_url,
    make_engine,
    managed_by_alembic,
    migrate,
    migration_transaction,
)
from storage.models import Article, ArticleVersion, Base, CrawlRun
from storage.repository import ArticleSummary, Recorded, get_article, list_articles, record_article, versions_of
from storage.runs import RunNotFound, RunSummary, finish_run, list_runs, start_run

REPO = Path(__file__).resolve().parents[1]
SITE = "icesco"
URL = "https://icesco.org/en/2024/05/14/icesco-launches-heritage-programme/"
FETCHED = dt.datetime(2024, 5, 15, 8, 30, tzinfo=dt.UTC)
RELEASE: dict[str, Any] = {
    "url": URL,
    "site": SITE,
    "language": "en",
    "title": "ICESCO launches a heritage programme",
    "published": dt.date(2024, 5, 14),
    "paragraphs": [
        "The Islamic World Educational, Scientific and Cultural Organization launched a programme.",
        "It covers 12 member states.",
    ],
    "fetched_at": FETCHED,
}


HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def new_run(engine: Engine, site: str = SITE) -> int:
    """Start a run of `site`, the previous one having finished (one running crawl per site)."""
    with Session(engine) as session, session.begin():
        session.execute(
            update(CrawlRun).where(CrawlRun.site == site, CrawlRun.status == "running")
            .values(status="complete", finished_at=FETCHED)
        )
        return start_run(session, site).id


def record(engine: Engine, run_id: int, **changes: Any) -> Recorded:
    with Session(engine) as session, session.begin():
        return record_article(session, run_id, **{**RELEASE, **changes})


def count(engine: Engine, model: type[Base]) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def runs(engine: Engine) -> list[RunSummary]:
    with Session(engine) as session:
        return list_runs(session)


def current_version(engine: Engine, url: str = URL) -> ArticleVersion:
    with Session(engine) as session:
        article = get_article(session, url)
        assert article is not None
        version = article.current_version
        assert version is not None
        session.expunge_all()
        return version


# --------------------------------------------------------------------------- schema


def test_migration_creates_the_tables(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"crawl_runs", "articles", "article_versions", "changes", "alembic_version"} <= tables
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == HEAD


def test_the_schema_head_storage_knows_is_alembics() -> None:
    assert SCHEMA_HEAD == HEAD  # else every command runs Alembic, or skips a migration it needs


def test_migrating_twice_changes_nothing(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as connection:
        assert connection.scalars(text("SELECT version_num FROM alembic_version")).all() == [HEAD]


def test_downgrade_to_nothing_and_back(engine: Engine) -> None:
    config = alembic_config()
    with engine.connect() as connection, migration_transaction(connection):
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert "article_versions" in inspect(engine).get_table_names()


def test_an_upgrade_says_so_in_one_line_and_a_new_database_in_none(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    config = alembic_config()
    with engine.connect() as connection, migration_transaction(connection):
        config.attributes["connection"] = connection
        command.downgrade(config, "0005_urls_on_site_origin")
    with caplog.at_level("DEBUG"):
        migrate(engine)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.levelname != "DEBUG"] == [
        ("storage.db", "INFO", f"database schema upgraded from 0005_urls_on_site_origin to {HEAD}")]
    caplog.clear()
    with engine.connect() as connection, migration_transaction(connection):
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    with caplog.at_level("INFO"):
        migrate(engine)
    assert caplog.records == []


def test_processes_migrating_a_new_database_at_once_all_succeed(unmigrated_database_url: str) -> None:
    # The crawl, the CLI and the scheduler each migrate when they start.
    code = "import sys; from storage.db import make_engine, migrate; migrate(make_engine(sys.argv[1]))"
    command_line = [sys.executable, "-c", code, unmigrated_database_url]
    processes = [subprocess.Popen(command_line, cwd=REPO, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = [(process.communicate(timeout=60)[1], process.returncode) for process in processes]
    assert [error for error, returncode in outcomes if returncode] == []
    engine = make_engine(unmigrated_database_url)
    with engine.connect() as connection:
        assert connection.scalars(text("SELECT version_num FROM alembic_version")).all() == [HEAD]
    engine.dispose()


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_name": managed_by_alembic})
        assert compare_metadata(context, Base.metadata) == []


def test_alembic_command_line_migrates_the_database_named_in_the_environment(tmp_path: Path) -> None:
    database = tmp_path / "operator.db"
    environment = {**os.environ, "NEWSWATCH_DATABASE_URL": f"sqlite:///{database}"}
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini"), "upgrade", "head"],
        cwd=tmp_path,
        env=environment,
        check=True,
        capture_output=True,
    )
    engine = make_engine(f"sqlite:///{database}")
    assert "articles" in inspect(engine).get_table_names()
    engine.dispose()


def test_a_relative_sqlite_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///relative.db")
    migrate(engine)
    engine.dispose()
    assert (tmp_path / "relative.db").is_file()


@pytest.mark.parametrize(("url", "reason"), [
    ("sqlite:////nonexistent/dir/newswatch.db", "no directory /nonexistent/dir for the SQLite file"),
    ("mysql://user@host/newswatch", "the driver of mysql is not installed (No module named 'MySQLdb')"),
    ("nosuchdb://host/newswatch", "not a database URL"),
    ("newswatch.db", "not a database URL"),
])
def test_a_database_url_no_engine_can_use_is_refused_with_its_reason(url: str, reason: str) -> None:
    with pytest.raises(BadDatabaseURL, match=r"^" + re.escape(reason) + r".*; use sqlite:///FILE"):
        check_url(url)


@pytest.mark.parametrize("url", ["sqlite:///newswatch.db", "sqlite://", "postgresql+psycopg://user@host/db"])
def test_a_usable_database_url_is_accepted_without_connecting(url: str) -> None:
    check_url(url)


def test_canonical_url_is_unique_in_the_database(engine: Engine) -> None:
    run_id = new_run(engine)
    row = {
        "site": SITE,
        "canonical_url": URL,
        "language": "en",
        "first_seen_run_id": run_id,
        "last_seen_run_id": run_id,
        "state": "live",
    }
    with engine.begin() as connection:
        connection.execute(insert(Article).values(row))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(Article).values(row))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE articles SET state = 'deleted'",
        "UPDATE crawl_runs SET status = 'paused'",
        "UPDATE articles SET first_seen_run_id = 999999",
        "UPDATE articles SET current_version_id = 999999",
    ],
    ids=["article-state", "run-status", "foreign-key", "current-version-foreign-key"],
)
def test_the_database_refuses_invalid_rows(engine: Engine, statement: str) -> None:
    record(engine, new_run(engine))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(statement))


def test_timestamps_read_back_timezone_aware_in_utc(engine: Engine) -> None:
    run_id = new_run(engine)
    record(engine, run_id, fetched_at=dt.datetime(2024, 5, 15, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=4))))
    version = current_version(engine)
    assert version.fetched_at == FETCHED
    assert version.fetched_at.utcoffset() == dt.timedelta(0)
    (run,) = runs(engine)
    assert run.started_at.utcoffset() == dt.timedelta(0)


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    run_id = new_run(engine)
    with pytest.raises(StatementError, match="naive datetime"):
        record(engine, run_id, fetched_at=dt.datetime(2024, 5, 15, 8, 30))
    assert count(engine, Article) == 0


# --------------------------------------------------------------------------- versioning


def test_first_sight_creates_the_article_and_its_first_version(engine: Engine) -> None:
    run_id = new_run(engine)
    recorded = record(engine, run_id, etag='"abc"', last_modified="Tue, 14 May 2024 10:00:00 GMT")
    assert recorded.is_new_article and recorded.is_new_version
    with Session(engine) as session:
        article = session.get_one(Article, recorded.article_id)
        assert (article.canonical_url, article.site, article.language, article.state) == (URL, SITE, "en", "live")
        assert article.first_seen_run_id == article.last_seen_run_id == run_id
        assert article.current_version_id == recorded.version_id
        assert (article.etag, article.last_modified) == ('"abc"', "Tue, 14 May 2024 10:00:00 GMT")
        version = session.get_one(ArticleVersion, recorded.version_id)
        assert version.run_id == run_id
        assert version.paragraphs == RELEASE["paragraphs"]
        assert version.text == "\n\n".join(RELEASE["paragraphs"])
        assert version.content_hash == content_hash(RELEASE["title"], RELEASE["published"], RELEASE["paragraphs"])
        assert version.published == dt.date(2024, 5, 14)


def test_recording_the_same_content_twice_writes_one_version(engine: Engine) -> None:
    first = record(engine, new_run(engine))
    second_run = new_run(engine)
    second = record(engine, second_run, etag='"v2"')
    assert second == Recorded(first.article_id, None, is_new_article=False, is_new_version=False)
    assert count(engine, Article) == 1
    assert count(engine, ArticleVersion) == 1
    with Session(engine) as session:
        article = session.get_one(Article, first.article_id)
        assert article.last_seen_run_id == second_run
        assert article.etag == '"v2"'
        assert article.current_version_id == first.version_id


def test_whitespace_and_invisible_characters_write_no_version(engine: Engine) -> None:
    record(engine, new_run(engine))
    noisy = record(
        engine,
        new_run(engine),
        title="  ICESCO\u00a0launches a\u200b heritage\n programme ",
        paragraphs=[
            "The Islamic World\u00a0Educational,  Scientific and\tCultural Organization launched a programme.",
            "   ",
            "It covers\u200b 12\u202fmember\n\nstates.\ufeff",
        ],
    )
    rewrapped = record(
        engine,
        new_run(engine),
        paragraphs=[" ".join(RELEASE["paragraphs"])],
    )
    assert not noisy.is_new_version and not rewrapped.is_new_version
    assert count(engine, ArticleVersion) == 1


def test_stored_paragraphs_are_normalised(engine: Engine) -> None:
    record(engine, new_run(engine), title=" A\u00a0title ", paragraphs=["  One\u200b  para. ", "", "\n", "Two\tparas."])
    version = current_version(engine)
    assert version.title == "A title"
    assert version.paragraphs == ["One para.", "Two paras."]
    assert version.text == "One para.\n\nTwo paras."


def test_a_text_change_writes_a_new_current_version(engine: Engine) -> None:
    first = record(engine, new_run(engine))
    edited = record(engine, new_run(engine), paragraphs=[RELEASE["paragraphs"][0], "It covers 13 member states."])
    assert edited.is_new_version and not edited.is_new_article
    assert edited.version_id not in (None, first.version_id)
    assert current_version(engine).id == edited.version_id
    assert current_version(engine).paragraphs[1] == "It covers 13 member states."
    with Session(engine) as session:
        assert [v.id for v in versions_of(session, URL)] == [first.version_id, edited.version_id]


def test_a_title_only_change_writes_a_version(engine: Engine) -> None:
    record(engine, new_run(engine))
    retitled = record(engine, new_run(engine), title="ICESCO launches its heritage programme")
    assert retitled.is_new_version
    assert current_version(engine).title == "ICESCO launches its heritage programme"


def test_a_date_only_change_writes_a_version(engine: Engine) -> None:
    record(engine, new_run(engine))
    assert record(engine, new_run(engine), published=dt.date(2024, 5, 15)).is_new_version


def test_returning_to_an_earlier_text_writes_a_version(engine: Engine) -> None:
    record(engine, new_run(engine))
    record(engine, new_run(engine), title="Changed")
    back = record(engine, new_run(engine))
    assert back.is_new_version
    with Session(engine) as session:
        hashes = [v.content_hash for v in versions_of(session, URL)]
    assert len(hashes) == 3 and hashes[0] == hashes[2] != hashes[1]


def test_urls_are_taken_as_given_canonicalisation_is_the_callers_job(engine: Engine) -> None:
    run_id = new_run(engine)
    record(engine, run_id)
    other = record(engine, run_id, url=URL.rstrip("/"))
    assert other.is_new_article
    assert count(engine, Article) == 2


def test_a_failed_transaction_leaves_nothing_behind(engine: Engine) -> None:
    run_id = new_run(engine)
    with pytest.raises(RuntimeError, match="crash"), Session(engine) as session, session.begin():
        record_article(session, run_id, **RELEASE)
        raise RuntimeError("crash mid-run")
    assert count(engine, Article) == count(engine, ArticleVersion) == 0


def _wait_until_blocked_or_done(engine: Engine, pid: int, future: Future[Any]) -> None:
    """Poll until backend `pid` waits for a lock or its thread has finished (states, not delays)."""
    deadline = time.monotonic() + 10
    with engine.connect() as connection:
        while time.monotonic() < deadline and not future.done():
            wait = connection.scalar(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            connection.rollback()  # a fresh snapshot of pg_stat_activity on each poll
            if wait == "Lock":
                return
            time.sleep(0.01)
    if not future.done():
        pytest.fail(f"backend {pid} neither waited for a lock nor finished")


@pytest.mark.parametrize("existing", [False, True], ids=["new-url", "changed-content"])
def test_concurrent_writers_of_one_url_store_one_article_and_version(postgres_engine: Engine, existing: bool) -> None:
    """Two transactions record the same URL and content; the second starts inside the race window.

    The window: the first writer has read the article row but not yet decided on a version.
    """
    run_id = new_run(postgres_engine)
    change: dict[str, Any] = {}
    if existing:
        record(postgres_engine, run_id)
        change = {"title": "Edited title"}
    pids: Queue[int] = Queue()
    second: list[Future[Recorded]] = []

    def second_writer() -> Recorded:
        with Session(postgres_engine) as session, session.begin():
            pids.put(session.scalar(text("SELECT pg_backend_pid()")))
            return record_article(session, run_id, **{**RELEASE, **change})

    # The first writer holds the article row once it inserted it (a new URL) or locked it.
    holds_the_row = "FOR UPDATE" if existing else "INSERT INTO articles"
    with Session(postgres_engine) as first_session, ThreadPoolExecutor(1) as pool:
        with first_session.begin():

            @event.listens_for(first_session.connection(), "after_cursor_execute")
            def let_the_second_writer_in(*args: Any) -> None:
                statement = " ".join(args[2].split())
                if not second and holds_the_row in statement:
                    second.append(pool.submit(second_writer))
                    _wait_until_blocked_or_done(postgres_engine, pids.get(timeout=10), second[0])

            first = record_article(first_session, run_id, **{**RELEASE, **change})
        results = [first, second[0].result(timeout=30)]

    assert {r.article_id for r in results} == {first.article_id}
    assert sorted(r.is_new_article for r in results) == [False, not existing]
    assert sorted(r.is_new_version for r in results) == [False, True]
    assert count(postgres_engine, Article) == 1
    assert count(postgres_engine, ArticleVersion) == (2 if existing else 1)


# --------------------------------------------------------------------------- runs


def test_the_first_run_of_a_site_is_the_baseline_and_only_the_first(engine: Engine) -> None:
    first = new_run(engine)
    record(engine, first)
    with Session(engine) as session, session.begin():
        finish_run(session, first, "complete", {"item_scraped_count": 1})
    second = new_run(engine)
    other_site = new_run(engine, site="other")
    baseline = {run.id: run.is_baseline for run in runs(engine)}
    assert baseline == {first: True, second: False, other_site: True}


def test_runs_are_listed_newest_first_with_their_stats(engine: Engine) -> None:
    older, newer = new_run(engine), new_run(engine)
    stats = {
        "downloader/response_status_count/200": 12,
        "item_scraped_count": 10,
        "elapsed_time_seconds": 3.5,
        "finish_reason": "finished",
        "start_time": dt.datetime(2024, 5, 15, 8, 0, tzinfo=dt.UTC),
        "nested": {"languages": ["ar", "en", "fr"]},
    }
    with Session(engine) as session, session.begin():
        finish_run(session, older, "incomplete", stats, error="too many 503s")
    listed = runs(engine)
    assert [run.id for run in listed] == [newer, older]
    assert listed[0].status == "running" and listed[0].finished_at is None and listed[0].stats == {}
    assert listed[1].status == "incomplete"
    assert listed[1].finished_at is not None and listed[1].finished_at >= listed[1].started_at
    assert listed[1].stats == {**stats, "start_time": "2024-05-15T08:00:00+00:00"}
    with Session(engine) as session:
        assert session.get_one(CrawlRun, older).error == "too many 503s"


def test_finish_run_refuses_an_unknown_run_or_status(engine: Engine) -> None:
    run_id = new_run(engine)
    with Session(engine) as session, session.begin():
        with pytest.raises(RunNotFound):
            finish_run(session, run_id + 1000, "complete", {})
        with pytest.raises(ValueError, match="running"):
            finish_run(session, run_id, "running", {})
        with pytest.raises(ValueError, match="done"):
            finish_run(session, run_id, "done", {})


# --------------------------------------------------------------------------- listings


def test_list_articles_filters_orders_and_counts_versions(engine: Engine) -> None:
    run_id = new_run(engine)
    base = "https://icesco.org"
    record(engine, run_id, url=f"{base}/fr/a/", language="fr", title="Ancien", published=dt.date(2024, 1, 1))
    record(engine, run_id, url=f"{base}/fr/b/", language="fr", title="Récent", published=dt.date(2024, 3, 1))
    record(engine, run_id, url=f"{base}/fr/c/", language="fr", title="Sans date", published=None)
    record(engine, run_id, url=f"{base}/en/a/", language="en", title="Old", published=dt.date(2024, 3, 1))
    record(engine, run_id, url=f"{base}/en/a/", language="en", title="Old, edited", published=dt.date(2024, 3, 1))
    record(engine, run_id, url=f"{base}/ar/a/", language="ar", title="خبر", published=dt.date(2024, 2, 1))
    record(engine, new_run(engine, site="other"), url="https://other.example/x", site="other")

    with Session(engine) as session:
        everything = list_articles(session)
        icesco = list_articles(session, site=SITE)
        french = list_articles(session, site=SITE, language="fr")

    assert [a.url for a in icesco] == [
        f"{base}/ar/a/",
        f"{base}/en/a/",
        f"{base}/fr/b/",
        f"{base}/fr/a/",
        f"{base}/fr/c/",
    ]
    assert len(everything) == 6
    assert [a.title for a in french] == ["Récent", "Ancien", "Sans date"]
    assert icesco[1] == ArticleSummary(f"{base}/en/a/", "en", "Old, edited", dt.date(2024, 3, 1), 2, "live")
    assert {a.versions for a in icesco if a.language != "en"} == {1}


def test_get_article_and_versions_of_an_unknown_url(engine: Engine) -> None:
    with Session(engine) as session:
        assert get_article(session, URL) is None
        assert versions_of(session, URL) == []


# --------------------------------------------------------------------------- normalisation properties

SPACES = " \t\n\r\u00a0\u202f\u2007\u3000"
INVISIBLE = "\u200b\u2060\ufeff\u00ad\u200e\u200f\u061c\u2066\u2069"


def _starts_a_word(char: str) -> bool:
    # Not a combining mark nor a conjoining Hangul jamo: characters that can only extend
    # the previous one (the test below covers invisible characters between those).
    return not unicodedata.category(char).startswith("M") and not 0x1100 <= ord(char) <= 0x11FF


visible = st.characters(exclude_categories=("Z", "C"))  # no whitespace, controls, format chars
words = st.builds(
    lambda head, tail: head + tail, visible.filter(_starts_a_word), st.text(visible, max_size=8)
)
invisible_runs = st.text(st.sampled_from(INVISIBLE), max_size=3)
# A gap between words: at least one real space, and any invisible characters around it.
gaps = st.builds(lambda a, b, c: a + b + c, invisible_runs, st.text(st.sampled_from(SPACES), min_size=1), invisible_runs)
edges = st.text(st.sampled_from(SPACES + INVISIBLE), max_size=4)


def perturb(data: st.DataObject, words_: list[str]) -> str:
    """The words joined by random whitespace/invisible gaps, with random edges."""
    text_ = data.draw(edges)
    for i, word in enumerate(words_):
        text_ += (data.draw(gaps) if i else "") + word
    return text_ + data.draw(edges)


@given(
    title=st.lists(words, min_size=1, max_size=6),
    body=st.lists(words, min_size=1, max_size=30),
    published=st.none() | st.dates(),
    data=st.data(),
)
def test_content_hash_ignores_whitespace_and_paragraph_breaks(
    title: list[str], body: list[str], published: dt.date | None, data: st.DataObject
) -> None:
    original = content_hash(" ".join(title), published, [" ".join(body)])
    # Re-cut the body into paragraphs (empty ones included) and perturb every gap.
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=4)))
    pieces = [body[i:j] for i, j in zip([0, *cuts], [*cuts, len(body)], strict=False)]
    paragraphs = [perturb(data, piece) for piece in pieces]
    assert content_hash(perturb(data, title), published, paragraphs) == original


@given(st.lists(words | gaps | edges, max_size=20).map("".join))
def test_normalize_text_is_idempotent(text_: str) -> None:
    once = normalize_text(text_)
    assert normalize_text(once) == once


@pytest.mark.parametrize(
    "text_",
    # e + acute; Hangul jamo L + V; Arabic shadda, then fatha (non-canonical order once joined)
    ["e\u200b\u0301", "\u1100\u200b\u1161", "\u0628\u0651\u200b\u064e"],
)
def test_normalize_text_is_idempotent_when_invisible_characters_separate_combining_ones(text_: str) -> None:
    once = normalize_text(text_)
    assert normalize_text(once) == once
