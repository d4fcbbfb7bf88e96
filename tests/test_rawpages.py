"""The raw archive: each stored version's page as fetched, once per distinct body, shown by
`newswatch show --raw`, pruned by age but never a current version's; and migration 0006 on a
database written before it. Both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.cli import main
from storage import rawpages, search
from storage.db import alembic_config, make_engine, migrate, migration_transaction
from storage.models import Article, ArticleVersion, RawPage
from storage.rawpages import Fetched
from storage.repository import record_article
from storage.runs import start_run

FULL = ("-a", "mode=full")
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
URL = "https://icesco.org/en/2025/01/09/a-release/"


def cli(engine, *args: str):
    return CliRunner().invoke(main, [*args, "--database", engine.url.render_as_string(hide_password=False)])


def count(engine, table) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_crawl_keeps_each_versions_page_as_fetched_once(mirror, engine, crawl, snapshots):
    crawl(mirror.base_url, engine, *FULL)
    with Session(engine) as session:
        url = session.scalars(select(Article.canonical_url).where(Article.language == "en").order_by(Article.id)).first()
    served = snapshots / "v1" / unquote(urlsplit(url).path).strip("/") / "index.html"

    raw = cli(engine, "show", url, "--raw")
    shown = cli(engine, "show", url)

    assert raw.exit_code == 0 and raw.stdout_bytes == served.read_bytes()
    assert shown.exit_code == 0 and "page: HTTP 200, text/html" in shown.output
    assert count(engine, RawPage) == count(engine, ArticleVersion) == 42
    crawl(mirror.base_url, engine, *FULL)  # nothing changed: no version, no page more
    assert count(engine, RawPage) == count(engine, ArticleVersion) == 42


def record(session: Session, run_id: int, url: str, words: str, body: bytes | None, fetched_at: dt.datetime):
    return record_article(session, run_id, url=url, site="icesco", language="en", title="A release", published=None,
                          paragraphs=[words], fetched_at=fetched_at,
                          page=None if body is None else Fetched(body, 200, "text/html; charset=UTF-8"))


def test_the_same_bytes_are_stored_once_whatever_version_names_them(engine):
    with Session(engine) as session, session.begin():
        run = start_run(session, "icesco")
        session.flush()
        record(session, run.id, URL, "One text.", b"<html>same page</html>", NOW)
        record(session, run.id, URL.replace("a-release", "another"), "Other text.", b"<html>same page</html>", NOW)
    assert count(engine, ArticleVersion) == 2 and count(engine, RawPage) == 1
    with Session(engine) as session:
        assert rawpages.load(session, Fetched(b"<html>same page</html>", 200).sha256) == b"<html>same page</html>"
        assert rawpages.archive_size(session)[:2] == (1, len(b"<html>same page</html>"))


def test_pruning_keeps_recent_pages_and_every_current_versions_page_and_show_says_what_is_gone(engine):
    old = NOW - dt.timedelta(days=100)
    with Session(engine) as session, session.begin():
        run = start_run(session, "icesco")
        session.flush()
        record(session, run.id, URL, "First text.", b"<p>first</p>", old)
        record(session, run.id, URL, "Second text.", b"<p>second</p>", NOW - dt.timedelta(days=40))
        record(session, run.id, URL, "Third text.", b"<p>third</p>", NOW - dt.timedelta(days=1))
        record(session, run.id, URL.replace("a-release", "old"), "Old text.", b"<p>old, current</p>", old)
        record(session, run.id, URL.replace("a-release", "before"), "Before the archive.", None, old)

    with Session(engine) as session, session.begin():
        assert rawpages.prune(session, None, NOW) == 0  # keep all by default
        assert rawpages.prune(session, 30, NOW) == 2  # the first and the second page
    with Session(engine) as session:
        kept = set(session.scalars(select(RawPage.body)))
    assert {rawpages.decompress(body) for body in kept} == {b"<p>third</p>", b"<p>old, current</p>"}

    pruned = cli(engine, "show", URL, "--version", "1", "--raw")
    assert pruned.exit_code == 1
    assert pruned.output.strip().splitlines()[-1].startswith(
        "Error: version 1 of https://icesco.org/en/2025/01/09/a-release/: its page (sha256 ")
    assert "was pruned (NEWSWATCH_RAW_KEEP_DAYS)" in pruned.output
    absent = cli(engine, "show", URL.replace("a-release", "before"), "--raw")
    assert absent.exit_code == 1 and "has no stored page: it was fetched before the raw archive existed" in absent.output
    text = cli(engine, "show", URL, "--version", "1")  # the text stays
    assert text.exit_code == 0 and "First text." in text.output
    assert cli(engine, "show", URL, "--raw").stdout_bytes == b"<p>third</p>"


def test_a_crawl_prunes_what_NEWSWATCH_RAW_KEEP_DAYS_no_longer_keeps(mirror, engine, crawl, snapshots):
    crawl(mirror.base_url, engine, *FULL)
    mirror.snapshot = snapshots / "v2"  # a night with edits: their first pages are no longer current
    crawl(mirror.base_url, engine, *FULL)
    with Session(engine) as session:
        old_pages = session.scalar(select(func.count(ArticleVersion.raw_sha256.distinct())).where(
            ~ArticleVersion.id.in_(select(Article.current_version_id).where(Article.current_version_id.is_not(None)))))
    assert old_pages and count(engine, RawPage) > old_pages

    pages_before = count(engine, RawPage)
    crawl(mirror.base_url, engine, *FULL, NEWSWATCH_RAW_KEEP_DAYS="0")

    assert count(engine, RawPage) == pages_before - old_pages
    with Session(engine) as session:  # every current version can still be read again
        for sha in session.scalars(select(ArticleVersion.raw_sha256).join(
                Article, Article.current_version_id == ArticleVersion.id)):
            assert rawpages.load(session, sha)


def test_the_migration_keeps_what_was_stored_and_the_search_index_in_step(unmigrated_database_url: str):
    engine = make_engine(unmigrated_database_url)
    config = alembic_config()
    with engine.connect() as connection, migration_transaction(connection):
        config.attributes["connection"] = connection
        # The revision before the archive's, whatever the chain the migrations are merged into.
        command.upgrade(config, ScriptDirectory.from_config(config).get_revision("0007_raw_pages").down_revision)
    with engine.begin() as connection:  # what the code before the archive stored (ids from the database)
        connection.execute(sa.text(
            "INSERT INTO crawl_runs (site, started_at, status, stats, is_baseline) "
            "VALUES ('icesco', :when, 'complete', '{}', :true)"), {"when": NOW, "true": True})
        run = connection.execute(sa.text("SELECT max(id) FROM crawl_runs")).scalar_one()
        connection.execute(sa.text(
            "INSERT INTO articles (site, canonical_url, language, first_seen_run_id, last_seen_run_id, state) "
            "VALUES ('icesco', :url, 'en', :run, :run, 'live')"), {"url": URL, "run": run})
        article = connection.execute(sa.text("SELECT max(id) FROM articles")).scalar_one()
        connection.execute(sa.text(
            "INSERT INTO article_versions (article_id, run_id, fetched_at, content_hash, title, text, paragraphs, "
            "etag) VALUES (:article, :run, :when, 'h', 'Heritage forum', 'Older text.', '[\"Older text.\"]', '\"e1\"')"),
            {"when": NOW, "article": article, "run": run})
        connection.execute(sa.text("UPDATE articles SET current_version_id = (SELECT max(id) FROM article_versions)"))
        before = [tuple(row) for row in connection.execute(sa.text("SELECT * FROM article_versions"))]

    migrate(engine)

    with Session(engine) as session:
        version = session.scalars(select(ArticleVersion)).one()
        assert (version.title, version.text, version.etag, version.raw_sha256, version.rebaseline) == (
            "Heritage forum", "Older text.", '"e1"', None, False)
        assert [tuple(row)[:len(before[0])] for row in session.execute(sa.text("SELECT * FROM article_versions"))] \
            == before
        assert [hit.article_id for hit in search.search(session, "heritage")] == [article]
    with Session(engine) as session, session.begin():  # the new code writes on it, the index follows
        record(session, run, URL, "Newer text about a museum.", b"<p>newer</p>", NOW)
    with Session(engine) as session:
        assert [hit.article_id for hit in search.search(session, "museum")] == [article]
        assert count(engine, RawPage) == 1
    engine.dispose()


def test_show_prints_the_latest_version_by_default(engine, tmp_path: Path):
    with Session(engine) as session, session.begin():
        run = start_run(session, "icesco")
        session.flush()
        record(session, run.id, URL, "First text.", b"<p>first</p>", NOW)
        record(session, run.id, URL, "Second text.", b"<p>second</p>", NOW)
    shown = cli(engine, "show", URL)
    assert shown.exit_code == 0
    assert "version 2 of 2" in shown.output and "Second text." in shown.output
    assert cli(engine, "show", URL, "--version", "3").exit_code == 2


def test_a_version_stored_before_the_archive_gets_the_first_page_that_reads_as_it(engine):
    # Else, after an upgrade to the archive, a release unchanged since could never be read again
    # by a newer extractor, and an extractor change would alert for it.
    with Session(engine) as session, session.begin():
        run_id = start_run(session, "icesco").id
        record(session, run_id, URL, "Same text.", None, NOW - dt.timedelta(days=3))
    assert cli(engine, "show", URL, "--raw").exit_code == 1

    with Session(engine) as session, session.begin():
        recorded = record(session, run_id, URL, "Same text.", b"<p>same</p>", NOW)
    assert not recorded.is_new_version
    assert cli(engine, "show", URL, "--raw").stdout_bytes == b"<p>same</p>"
    assert count(engine, ArticleVersion) == 1
