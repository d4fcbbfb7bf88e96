"""Incremental runs cost what changed: conditional requests, a short listing walk, a rolling share.

Each test starts from the baseline of v1, crawled once per session and backend (`shared_crawls`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from crawler.sites import ICESCO
from crawler.spiders.news import NewsSpider
from storage import repository, runs

INCREMENTAL = ("-a", "mode=incremental")


def latest_run(engine) -> runs.RunSummary:
    with Session(engine) as session:
        return runs.list_runs(session)[0]


def article_requests(mirror) -> list[str]:
    return [path for path in mirror.requests if ICESCO.article_path.match(path)]


def test_an_unchanged_incremental_run_downloads_a_share_of_old_articles_and_writes_nothing(mirror, engine, crawl,
                                                                                            shared_crawls):
    (baseline,) = shared_crawls(engine, "v1")
    full_requests = len(baseline.requests)
    with Session(engine) as session:
        known = len(repository.list_articles(session))
    mirror.requests.clear()

    crawl(mirror.base_url, engine, *INCREMENTAL, NEWSWATCH_REVALIDATE_DAYS="7", NEWSWATCH_RECENT_DAYS="0")

    run = latest_run(engine)
    assert run.status == "complete"
    assert run.stats["versions_written"] == 0
    assert not any("/page/" in path for path in mirror.requests), "the listing walk stops at page 1"
    revalidated = len(article_requests(mirror))
    assert 0 < revalidated < known / 2  # about a seventh of the known articles
    # Downloaded and compared, not asked for a 304: stale validators cannot hide an edit of these.
    assert (run.stats["articles_seen"], run.stats["not_modified"]) == (revalidated, 0)
    assert len(mirror.requests) < full_requests / 2


def test_recent_articles_are_revalidated_with_conditional_requests(mirror, engine, crawl, shared_crawls):
    shared_crawls(engine, "v1")
    with Session(engine) as session:
        known = len(repository.list_articles(session))
    mirror.requests.clear()

    crawl(mirror.base_url, engine, *INCREMENTAL, NEWSWATCH_RECENT_DAYS="100000")  # every article is recent

    run = latest_run(engine)
    assert (run.status, run.stats["versions_written"]) == ("complete", 0)
    assert len(article_requests(mirror)) == known
    assert (run.stats["not_modified"], run.stats["articles_seen"]) == (known, 0)  # all answered 304


def test_every_article_is_revalidated_within_the_period(engine, shared_crawls):
    shared_crawls(engine, "v1")
    with Session(engine) as session:
        known = repository.known_articles(session, "icesco", ICESCO.languages, ICESCO.origin)
    spider = NewsSpider()
    spider.recent_days, spider.revalidate_days = 30, 7
    week = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(7)]

    checked = [{a.url for a in known if spider.due(a, day)} for day in week]

    assert set().union(*checked) == {a.url for a in known}
    assert max(map(len, checked)) < len(known) / 3  # a share each night, not everything at once


def test_an_incremental_run_finds_new_releases(mirror, engine, crawl, shared_crawls, snapshots):
    shared_crawls(engine, "v1")
    mirror.snapshot = snapshots / "v2"

    crawl(mirror.base_url, engine, *INCREMENTAL)

    with Session(engine) as session:
        new = [a for a in repository.list_articles(session) if a.versions == 1]
    run = latest_run(engine)
    assert run.stats["articles_new"] >= 2
    assert {a.language for a in new} >= {"en", "ar"}


def test_a_full_run_never_trusts_a_304(mirror, engine, crawl, shared_crawls):
    shared_crawls(engine, "v1")
    mirror.requests.clear()

    crawl(mirror.base_url, engine, "-a", "mode=full")

    run = latest_run(engine)
    with Session(engine) as session:
        known = len(repository.list_articles(session))
    assert run.stats["not_modified"] == 0
    assert len(set(article_requests(mirror))) == run.stats["articles_seen"] == known
