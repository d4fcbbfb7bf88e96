"""The real `news` spider against the fixture mirror: every article stored once, re-crawls write nothing."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from crawler.sites import ICESCO
from storage import repository, runs


def expected_articles(snapshot) -> dict[str, dict]:
    """The golden record of every article page of a snapshot, by URL path."""
    return {
        (golden := json.loads(path.read_text("utf-8")))["path"]: golden
        for path in snapshot.rglob("expected.json")
    }


def stored(engine) -> dict[str, repository.ArticleSummary]:
    with Session(engine) as session:
        return {unquote(urlsplit(a.url).path): a for a in repository.list_articles(session)}


def test_first_crawl_stores_every_article_once_per_language(engine, shared_crawls, snapshots):
    expected = expected_articles(snapshots / "v1")

    (baseline,) = shared_crawls(engine, "v1")  # the first crawl, shared by the tests that start from it

    result = baseline.result

    articles = stored(engine)
    assert sorted(articles) == sorted(expected), result.stderr[-3000:]
    assert Counter(a.language for a in articles.values()) == Counter(e["language"] for e in expected.values())
    for path, article in articles.items():
        assert article.title == expected[path]["title"], path
        assert str(article.published) == expected[path]["published"], path
        assert article.versions == 1 and article.state == "live", path
    with Session(engine) as session:
        run = runs.list_runs(session)[0]
    assert run.status == "complete" and run.is_baseline
    assert run.stats["versions_written"] == len(expected)
    assert run.stats["extraction_failed"] == 0


def test_each_article_is_requested_once_per_run(engine, shared_crawls, snapshots):
    (baseline,) = shared_crawls(engine, "v1")

    article_requests = Counter(p for p in baseline.requests if ICESCO.article_path.match(p))
    assert article_requests, "no article was requested"
    assert max(article_requests.values()) == 1, article_requests.most_common(3)
    assert set(article_requests) == set(expected_articles(snapshots / "v1"))


def test_recrawling_the_same_snapshot_writes_no_version(mirror, engine, crawl, shared_crawls):
    shared_crawls(engine, "v1")
    before = stored(engine)

    crawl(mirror.base_url, engine, "-a", "mode=full")  # every article downloaded and compared again

    assert stored(engine) == before
    with Session(engine) as session:
        latest, first = runs.list_runs(session)[:2]
    assert latest.status == "complete" and not latest.is_baseline
    assert latest.stats["versions_written"] == 0
    assert latest.stats["articles_seen"] == first.stats["articles_seen"] == len(before)
