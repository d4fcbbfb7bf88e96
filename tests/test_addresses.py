"""A release keeps its identity when the site's address changes: the crawl fetches from
NEWSWATCH_SITE_URL, stored URLs are on the site profile's origin, and old databases are moved onto it."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from crawler.sites import ICESCO
from crawler.urls import canonicalize, on_origin
from fixtures.sitegen import quote_path
from monitor.mirror import Mirror
from storage import repository
from storage.changes import list_changes
from storage.db import alembic_config, make_engine, migrate, migration_transaction
from storage.models import UTCDateTime
from storage.runs import RunSummary, list_runs

FULL = ("-a", "mode=full")
MIGRATION = "0005_urls_on_site_origin"


def latest_run(engine) -> RunSummary:
    with Session(engine) as session:
        return list_runs(session)[0]


def reported(engine, run_id: int) -> list[dict]:
    with Session(engine) as session:
        rows = list_changes(session, run_id)
    return sorted(({"kind": r.kind, "path": unquote(urlsplit(r.url).path), "language": r.language,
                    "fields": list(r.fields)} for r in rows), key=lambda change: change["path"])


def stored_urls(engine) -> list[str]:
    with Session(engine) as session:
        return sorted(a.url for a in repository.list_articles(session))


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(("url", "site_url"), [
    ("http://127.0.0.1:8399/en/2022/09/13/some-release", "http://127.0.0.1:8399"),  # a mirror
    ("https://www.icesco.org/en/2022/09/13/some-release/?utm_source=newsletter#respond", "http://127.0.0.1:8399"),
    ("http://ICESCO.org/en/2022/09/13/some-release/", "https://icesco.org"),
    ("https://news.example.net/en/2022/09/13/some-release/", "https://news.example.net"),  # the site moved
    ("https://icesco.org/en/2022/09/13/some-release/", "https://news.example.net"),  # links to its old address
])
def test_every_address_of_the_site_gives_one_url_on_the_profiles_origin(url, site_url):
    assert canonicalize(url, ICESCO, site_url) == f"{ICESCO.origin}/en/2022/09/13/some-release/"


def test_a_url_off_the_site_is_none_and_a_canonical_url_is_fetched_from_the_site_url():
    assert canonicalize("https://example.org/en/2022/09/13/x/", ICESCO, "http://127.0.0.1:8399") is None
    assert on_origin(f"{ICESCO.origin}/ar/2025/01/09/%D8%A7/", "http://127.0.0.1:8399") == \
        "http://127.0.0.1:8399/ar/2025/01/09/%D8%A7/"


# --------------------------------------------------------------------------- crawls


def test_a_change_of_site_url_between_two_runs_gives_no_change_record(engine, crawl, shared_crawls, snapshots):
    shared_crawls(engine, "v1", args=FULL)
    before = stored_urls(engine)

    with Mirror(snapshots / "v1").running() as elsewhere:  # the same site at another address
        crawl(elsewhere.base_url, engine)  # tonight's (incremental) run
        unchanged = latest_run(engine)
        elsewhere.snapshot = snapshots / "v2"
        crawl(elsewhere.base_url, engine, *FULL)

    assert unchanged.status == "complete" and unchanged.stats["articles_new"] == 0
    assert reported(engine, unchanged.id) == []
    assert before and all(url.startswith(ICESCO.origin + "/") for url in before)
    expected = json.loads((snapshots / "v2" / "expected-changes.json").read_text("utf-8"))
    assert reported(engine, latest_run(engine).id) == expected


def test_releases_stored_under_an_older_origin_of_the_site_are_the_same_releases(mirror, engine, crawl, shared_crawls):
    shared_crawls(engine, "v1")
    before = stored_urls(engine)
    old_origin = "https://old-address.example"  # what the site profile named before the site moved
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE articles SET canonical_url = :old || substr(canonical_url, :cut)"),
                           {"old": old_origin, "cut": len(ICESCO.origin) + 1})
    assert all(url.startswith(old_origin) for url in stored_urls(engine))

    crawl(mirror.base_url, engine, *FULL)

    run = latest_run(engine)
    assert run.status == "complete" and run.stats["articles_new"] == 0 and run.stats["versions_written"] == 0
    assert reported(engine, run.id) == []
    assert stored_urls(engine) == before


def redirecting_everything(folder, snapshot, new_address: str):
    """A snapshot of the site at its old address: every page answers 301 to its path at `new_address`."""
    folder.mkdir()
    (folder.parent / snapshot.name).symlink_to(snapshot)
    (folder / "snapshot.json").write_text(json.dumps({"base": snapshot.name}))
    pages = ["/" + str(page.parent.relative_to(snapshot)) + "/" for page in snapshot.rglob("index.html")]
    rules = {path: {"status": 301, "location": new_address + quote_path(path)} for path in pages}
    (folder / "rules.json").write_text(json.dumps(rules, ensure_ascii=False))
    return folder


def test_a_site_that_moved_and_redirects_to_its_new_address_is_the_same_site(mirror, engine, crawl, shared_crawls,
                                                                             snapshots, tmp_path):
    shared_crawls(engine, "v1", args=FULL)
    before = stored_urls(engine)

    with Mirror(snapshots / "v1").running() as new_address:  # NEWSWATCH_SITE_URL not told
        mirror.snapshot = redirecting_everything(tmp_path / "moved", snapshots / "v1", new_address.base_url)
        result = crawl(mirror.base_url, engine, *FULL)
        answered = [path for path in new_address.requests if ICESCO.article_path.match(path)]
        moved_to = urlsplit(new_address.base_url).netloc

    run = latest_run(engine)
    assert run.status == "complete" and run.stats["articles_gone"] == 0
    assert reported(engine, run.id) == []  # not a removal of every release
    assert stored_urls(engine) == before
    assert len(set(answered)) == len(before)  # every release was read at its new address
    assert result.stderr.count(f"the site answers from {moved_to}, which is not {mirror.base_url}") == 1


# --------------------------------------------------------------------------- the migration of old databases

ARTICLES = sa.table("articles", *(sa.column(name) for name in (
    "id", "site", "canonical_url", "language", "first_seen_run_id", "last_seen_run_id", "state", "current_version_id")))
VERSIONS = sa.table("article_versions", *(sa.column(name) for name in (
    "id", "article_id", "run_id", "content_hash", "title", "published", "text")),
    sa.column("fetched_at", UTCDateTime()), sa.column("paragraphs", sa.JSON))
RUNS = sa.table("crawl_runs", *(sa.column(name) for name in ("id", "site", "status", "is_baseline")),
                sa.column("started_at", UTCDateTime()), sa.column("stats", sa.JSON))
EVENTS = sa.table("article_events", *(sa.column(name) for name in ("id", "run_id", "article_id", "kind", "detail")))
CHANGES = sa.table("changes", *(sa.column(name) for name in ("id", "run_id", "article_id", "kind", "new_version_id",
                                                             "summary", "is_baseline")), sa.column("fields", sa.JSON))
WHEN = dt.datetime(2026, 1, 1, 2, tzinfo=dt.UTC)
MIRROR, OTHER_MIRROR = "http://127.0.0.1:8399", "http://127.0.0.1:8400"
PATH = "/en/2022/09/{day}/release-{day}/"
# (id, site, URL as the code before the migration stored it, last seen in run)
OLD_ROWS = [
    (1, "icesco", MIRROR + PATH.format(day=12), 1),
    (2, "icesco", ICESCO.origin + PATH.format(day=13), 2),  # crawled from the site itself
    (3, "icesco", MIRROR + "/ar/2025/01/09/%D8%A7%D9%84/", 2),
    (4, "icesco", MIRROR + PATH.format(day=14), 1),  # the same release from two mirrors:
    (5, "icesco", OTHER_MIRROR + PATH.format(day=14), 2),  # the one seen last takes the URL
    (6, "icesco", MIRROR + PATH.format(day=13), 1),  # its URL on the origin is article 2's
    (7, "elsewhere", "http://127.0.0.1:8399/en/2022/09/15/not-a-profile-here/", 2),  # a site it does not know
]


def database_before_the_migration(url: str):
    """A database at the revision before MIGRATION, holding what the previous code stored."""
    engine = make_engine(url)
    config = alembic_config()
    previous = ScriptDirectory.from_config(config).get_revision(MIGRATION).down_revision
    with engine.connect() as connection, migration_transaction(connection):
        config.attributes["connection"] = connection
        command.upgrade(config, previous)
    with engine.begin() as connection:
        connection.execute(sa.insert(RUNS), [{"id": n, "site": "icesco", "started_at": WHEN,
                                              "status": "complete", "stats": {}, "is_baseline": n == 1} for n in (1, 2)])
        for article_id, site, article_url, last_seen in OLD_ROWS:
            language = urlsplit(article_url).path.split("/")[1]
            connection.execute(sa.insert(ARTICLES).values(
                id=article_id, site=site, canonical_url=article_url, language=language, first_seen_run_id=1,
                last_seen_run_id=last_seen, state="live"))
            connection.execute(sa.insert(VERSIONS).values(
                id=article_id, article_id=article_id, run_id=1, fetched_at=WHEN, content_hash=str(article_id),
                title=f"Release {article_id}", published=None, text="Text.", paragraphs=["Text."]))
            connection.execute(sa.update(ARTICLES).where(ARTICLES.c.id == article_id).values(current_version_id=article_id))
            connection.execute(sa.insert(CHANGES).values(id=article_id, run_id=1, article_id=article_id, kind="added",
                                                         fields=[], new_version_id=article_id, summary="new release",
                                                         is_baseline=True))
        connection.execute(sa.insert(EVENTS).values(id=1, run_id=2, article_id=1, kind="moved",
                                                    detail=MIRROR + PATH.format(day=11)))
    return engine


def rows(engine, table) -> list[tuple]:
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(sa.select(table)))


def test_the_migration_moves_stored_urls_onto_the_sites_origin_without_losing_or_merging(unmigrated_database_url):
    engine = database_before_the_migration(unmigrated_database_url)
    untouched = {table.name: rows(engine, table) for table in (VERSIONS, CHANGES, EVENTS, RUNS)}

    migrate(engine)

    with engine.connect() as connection:
        urls = dict(connection.execute(sa.select(ARTICLES.c.id, ARTICLES.c.canonical_url)).all())
    assert urls == {
        1: ICESCO.origin + PATH.format(day=12),
        2: ICESCO.origin + PATH.format(day=13),
        3: ICESCO.origin + "/ar/2025/01/09/%D8%A7%D9%84/",
        4: MIRROR + PATH.format(day=14),  # kept apart, with its history
        5: ICESCO.origin + PATH.format(day=14),
        6: MIRROR + PATH.format(day=13),  # kept apart, with its history
        7: "http://127.0.0.1:8399/en/2022/09/15/not-a-profile-here/",
    }
    assert {table.name: rows(engine, table) for table in (VERSIONS, CHANGES, EVENTS, RUNS)} == untouched
    with Session(engine) as session:  # what the next crawl re-checks: the articles on the origin
        known = repository.known_articles(session, "icesco", ICESCO.languages, ICESCO.origin)
    assert sorted(a.id for a in known) == [1, 2, 3, 5]
    engine.dispose()
