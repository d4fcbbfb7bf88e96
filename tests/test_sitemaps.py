"""XML sitemaps, when the site has them: an edit to an old release is found the same night; never required.

Each test writes a small English site in tmp_path and serves it on 127.0.0.1; its releases date
from 2021-2023, so all but the newest are old, and the rolling share is one day in REVALIDATE.
The baseline of the first night (every lastmod old) is crawled once and shared (`shared_crawls`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy.orm import Session

from crawler.sitemaps import edited_since
from crawler.sites import ICESCO
from crawler.spiders.news import NewsSpider
from fixtures.release import Release, load_all
from fixtures.sitegen import SITEMAP_INDEX, SITEMAP_POSTS, write_mirror
from fixtures.snapshots import AppendParagraph
from fixtures.synthetic import RELEASES
from monitor.mirror import Mirror
from storage import repository
from storage.changes import list_changes
from storage.runs import RunSummary, list_runs

INCREMENTAL = ("-a", "mode=incremental")
REVALIDATE = 1000  # each old article is due one night in a thousand: tonight, almost none
OLD = dt.datetime(2023, 6, 1, 12, tzinfo=dt.UTC)  # when the site last touched its releases
PROBES = {f"/en/{name}" for name in ("wp-sitemap.xml", "sitemap_index.xml", "sitemap.xml")}
EDIT = AppendParagraph("The Organization has since published the full list of the participants.")


@pytest.fixture
def site(mirror: Mirror) -> Mirror:
    """The session's mirror on 127.0.0.1, of whichever night folder the test points it at."""
    return mirror


def six_releases() -> list[Release]:
    """Six English releases, newest first (2023-03-06 back to 2022-09-14)."""
    english = [r for r in load_all(RELEASES) if r.language == "en"]
    return sorted(english, key=lambda r: r.published, reverse=True)[:6]


@pytest.fixture
def releases() -> list[Release]:
    return six_releases()


def night(folder: Path, releases: list[Release], lastmod: Callable[[Release], dt.datetime] | None) -> Path:
    write_mirror(folder, releases, golden=False, lastmod=lastmod)
    return folder


@pytest.fixture(scope="module")
def first_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six releases, every lastmod old: the night the tests' shared baseline crawls."""
    return night(tmp_path_factory.mktemp("sitemaps") / "night1", six_releases(), lambda r: OLD)


def path_of(url: str) -> str:
    return unquote(urlsplit(url).path)


def runs(engine) -> list[RunSummary]:
    with Session(engine) as session:
        return list_runs(session)[::-1]  # oldest first


def changes(engine, run_id: int) -> list[tuple[str, str, list[str]]]:
    with Session(engine) as session:
        return [(c.kind, path_of(c.url), list(c.fields)) for c in list_changes(session, run_id)]


def recent_days(releases: list[Release]) -> int:
    """A window that holds only the newest release (a day of margin for a run across midnight)."""
    return (dt.date.today() - releases[0].published).days + 1


def not_due(engine, recent: int) -> list[str]:
    """Paths of the stored articles an incremental run leaves alone tonight (and tomorrow) by the rolling share."""
    spider = NewsSpider()
    spider.recent_days, spider.revalidate_days = recent, REVALIDATE
    nights = (dt.date.today(), dt.date.today() + dt.timedelta(days=1))
    with Session(engine) as session:
        known = repository.known_articles(session, "icesco", ("en",), ICESCO.origin)
    return [path_of(a.url) for a in known if not any(spider.due(a, day) for day in nights)]


def article_requests(requests: Iterable[str]) -> list[str]:
    return [path for path in requests if ICESCO.article_path.match(path)]


def listed_in_robots(folder: Path) -> None:
    """Move the sitemap index where only robots.txt tells, gzipped, as some sites do."""
    index = folder / "en" / SITEMAP_INDEX
    (folder / "en" / "news-sitemap.xml.gz").write_bytes(gzip.compress(index.read_bytes()))
    index.unlink()
    (folder / "robots.txt").write_text(
        "User-agent: *\nAllow: /\n\nSitemap: https://www.icesco.org/en/news-sitemap.xml.gz\n", "utf-8")


@pytest.mark.parametrize("discovery", ["usual place", "robots.txt"])
def test_an_old_release_edited_with_a_newer_lastmod_is_checked_the_same_night(
        site, tmp_path, engine, crawl, shared_crawls, first_night, releases, discovery):
    shared_crawls(engine, first_night, NEWSWATCH_LANGUAGES="en")
    recent = recent_days(releases)
    edited, unchanged = not_due(engine, recent)[:2]
    newest = releases[0].path  # due tonight anyway, and its lastmod moved too: requested once
    touched = {edited: dt.datetime.now(dt.UTC), newest: dt.datetime.now(dt.UTC)}
    tonight = [EDIT.apply(r) if r.path == edited else r for r in releases]
    site.snapshot = night(tmp_path / "night2", tonight, lambda r: touched.get(r.path, OLD))
    if discovery == "robots.txt":
        listed_in_robots(site.snapshot)
    site.requests.clear()

    crawl(site.base_url, engine, *INCREMENTAL, NEWSWATCH_LANGUAGES="en",
          NEWSWATCH_RECENT_DAYS=str(recent), NEWSWATCH_REVALIDATE_DAYS=str(REVALIDATE))

    run = runs(engine)[-1]
    assert run.status == "complete" and run.stats["errors"] == 0
    assert (run.stats["sitemaps"], run.stats["sitemap_missing"]) == (2, 0)  # the index and its posts sitemap
    assert changes(engine, run.id) == [("edited", edited, ["text"])]
    requested = article_requests(site.requests)
    assert requested.count(edited) == 1 and requested.count(newest) == 1
    assert unchanged not in requested
    if discovery == "robots.txt":
        assert not PROBES & set(site.requests), "robots.txt named the sitemap: nothing to probe"


def test_a_baseline_with_sitemaps_requests_each_article_once(engine, shared_crawls, first_night, releases):
    (baseline,) = shared_crawls(engine, first_night, NEWSWATCH_LANGUAGES="en")

    requested = article_requests(baseline.requests)
    assert sorted(requested) == sorted(r.path for r in releases)  # from the listing and the sitemap
    assert {f"/en/{SITEMAP_INDEX}", f"/en/{SITEMAP_POSTS}"} <= set(baseline.requests)
    assert runs(engine)[-1].status == "complete"


def test_a_site_without_sitemaps_is_crawled_as_before(site, tmp_path, engine, crawl, releases):
    site.snapshot = night(tmp_path / "night1", releases, lastmod=None)

    crawl(site.base_url, engine, NEWSWATCH_LANGUAGES="en")
    besides_pages = set(site.requests) - set(article_requests(site.requests)) - {"/en/category/news/", "/en/feed/"}
    site.requests.clear()
    crawl(site.base_url, engine, *INCREMENTAL, NEWSWATCH_LANGUAGES="en", NEWSWATCH_SITEMAPS="False")

    with Session(engine) as session:
        stored = sorted(path_of(a.url) for a in repository.list_articles(session))
    assert stored == sorted(r.path for r in releases)
    baseline, incremental = runs(engine)
    assert baseline.status == incremental.status == "complete"
    assert baseline.stats["errors"] == incremental.stats["errors"] == 0
    assert changes(engine, incremental.id) == []
    # The whole cost of looking: robots.txt (also read by Scrapy's robots middleware) and three probes.
    assert besides_pages == {"/robots.txt", *PROBES}
    assert not PROBES & set(site.requests), "NEWSWATCH_SITEMAPS=False looks for none"


def serve_500(folder: Path, path: str) -> None:
    (folder / "rules.json").write_text(json.dumps({path: {"status": 500}}), "utf-8")


BROKEN = {
    "index answers 500": lambda folder: serve_500(folder, f"/en/{SITEMAP_INDEX}"),
    "sitemap answers 500": lambda folder: serve_500(folder, f"/en/{SITEMAP_POSTS}"),
    "index is garbage": lambda folder: (folder / "en" / SITEMAP_INDEX).write_bytes(b"\x00garbage, not XML"),
    "index is an HTML page": lambda folder: (folder / "en" / SITEMAP_INDEX).write_text(
        "<html><body><h1>Page not found</h1></body></html>", "utf-8"),
    "sitemap is a broken gzip": lambda folder: (folder / "en" / SITEMAP_POSTS).write_bytes(b"\x1f\x8b\x08broken"),
}


@pytest.mark.parametrize("fault", BROKEN)
def test_a_broken_sitemap_leaves_the_run_complete_and_reports_nothing(site, tmp_path, engine, crawl, shared_crawls,
                                                                     first_night, releases, fault):
    shared_crawls(engine, first_night, NEWSWATCH_LANGUAGES="en")
    site.snapshot = night(tmp_path / "night2", releases, lambda r: dt.datetime.now(dt.UTC))
    BROKEN[fault](site.snapshot)

    crawl(site.base_url, engine, *INCREMENTAL, NEWSWATCH_LANGUAGES="en")

    run = runs(engine)[-1]
    assert run.status == "complete"
    assert run.stats["errors"] == run.stats["fetch_failed"] == run.stats["listing_failed"] == 0
    assert run.stats["sitemap_missing"] == 1  # what the operator sees of it in `newswatch runs`
    assert changes(engine, run.id) == []


NOW = dt.datetime(2026, 5, 1, 10, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("lastmod, edited", [
    ("2026-05-01T10:31:00+00:00", True),
    ("2026-05-01T12:29:00+02:00", False),  # 10:29 UTC
    ("2026-05-01T10:31:00Z", True),
    ("2026-05-01T10:31:00", True),  # no zone: UTC
    ("2026-05-01", True),  # a bare date: maybe after our check that day
    ("2026-04-30", False),
    (" 2026-05-02 ", True),
    (None, False),
    ("", False),
    ("yesterday", False),
])
def test_edited_since_reads_w3c_datetimes(lastmod, edited):
    assert edited_since(lastmod, NOW) is edited
