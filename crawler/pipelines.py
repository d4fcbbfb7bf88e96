"""Item pipelines: extraction of the clean release, then storage as versioned text."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from scrapy import signals
from scrapy.exceptions import DropItem, NotConfigured
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crawler import signals as newswatch_signals
from crawler.extraction import NotAnArticle, extract
from crawler.items import ArticleGone, ArticleMoved, ArticlePage, ArticleRecord, ArticleUnchanged
from crawler.runlock import claim_run
from crawler.sites import PROFILES
from storage import events, repository
from storage.db import make_engine, migrate

logger = logging.getLogger(__name__)


class ExtractPipeline:
    """Turns an `ArticlePage` into an `ArticleRecord`; drops pages that hold no article.

    Extraction is CPU-bound pure Python: with NEWSWATCH_EXTRACT_WORKERS > 0 it runs in that
    many worker processes, so it overlaps with fetching and storing instead of stalling the
    reactor; with 0 it runs in the crawl's own process.
    """

    def __init__(self, crawler) -> None:
        self.stats = crawler.stats
        self.profile = PROFILES[crawler.settings.get("NEWSWATCH_SITE", "icesco")]
        self.workers = crawler.settings.getint("NEWSWATCH_EXTRACT_WORKERS")
        self.pool: ProcessPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self) -> None:
        if self.workers > 0:
            # spawn, not fork: the crawl process runs threads (Twisted's DNS pool, SQLite).
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    async def process_item(self, item):
        if not isinstance(item, ArticlePage):
            return item  # removals and moves carry no page to extract
        try:
            if self.pool is None:
                content = extract(item.body, item.url, self.profile)
            else:
                content = await asyncio.get_running_loop().run_in_executor(
                    self.pool, extract, item.body, item.url, self.profile)
        except NotAnArticle as error:
            self.stats.inc_value("newswatch/extraction_failed")
            raise DropItem(f"no article extracted from {item.fetched_url}: {error}") from error
        return ArticleRecord(page=item, content=content)


class StorePipeline:
    """Writes each release as versioned text and keeps the run's bookkeeping (`crawl_runs`)."""

    def __init__(self, crawler, database_url: str) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.site = crawler.settings.get("NEWSWATCH_SITE", "icesco")
        self.database_url = database_url
        self.engine = None
        self.run_id: int | None = None
        self.min_ratio = crawler.settings.getfloat("NEWSWATCH_MIN_LENGTH_RATIO")
        self.max_failure_rate = crawler.settings.getfloat("NEWSWATCH_MAX_FAILURE_RATE")

    @classmethod
    def from_crawler(cls, crawler):
        database_url = crawler.settings.get("NEWSWATCH_DATABASE_URL")
        if not database_url:
            raise NotConfigured("NEWSWATCH_DATABASE_URL is empty")
        pipeline = cls(crawler, database_url)
        # The run starts (and the crawl lock is claimed) here, before Scrapy builds its engine:
        # a refused crawl is then a start-up failure (`scrapy crawl` exits 1) that wrote nothing.
        pipeline.engine = make_engine(database_url)
        migrate(pipeline.engine)
        try:
            pipeline.run_id = claim_run(crawler, pipeline.engine, pipeline.site).run_id
        except Exception:
            pipeline.engine.dispose()
            raise
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        self.stats.set_value("newswatch/run_id", self.run_id)
        logger.info("run %s started (database %s)", self.run_id, self.engine.url.render_as_string(hide_password=True))

    def process_item(self, item):
        with Session(self.engine) as session, session.begin():
            if isinstance(item, ArticleRecord):
                self._store(session, item)
            elif isinstance(item, ArticleGone):
                if events.record_gone(session, self.run_id, item.url, item.status, item.location):
                    self.stats.inc_value("newswatch/articles_gone")
            elif isinstance(item, ArticleUnchanged):
                if repository.mark_seen(session, self.run_id, item.url):
                    self.stats.inc_value("newswatch/not_modified")
            elif isinstance(item, ArticleMoved):
                if events.record_move(session, self.run_id, item.url, item.new_url, item.status):
                    self.stats.inc_value("newswatch/articles_moved")
        return item

    def _store(self, session: Session, item: ArticleRecord) -> None:
        page, content = item.page, item.content
        stored = repository.get_article(session, page.url)
        if stored is not None and stored.current_version is not None and _shrunk(stored.current_version.text,
                                                                                content.text, self.min_ratio):
            # A truncated page or a half-rendered template, not an editor's cut: keep what we have.
            self.stats.inc_value("newswatch/extraction_suspect")
            logger.warning("%s: extracted text is far shorter than the stored version (%d < %.0f%% of %d "
                           "characters); stored version kept", page.url, len(content.text), self.min_ratio * 100,
                           len(stored.current_version.text))
            return
        recorded = repository.record_article(
            session, self.run_id, url=page.url, site=self.site, language=content.language,
            title=content.title, published=content.published, paragraphs=content.paragraphs,
            fetched_at=page.fetched_at, etag=page.etag, last_modified=page.last_modified,
        )
        self.stats.inc_value("newswatch/articles_seen")
        if recorded.is_new_article:
            self.stats.inc_value("newswatch/articles_new")
        if recorded.is_new_version:
            self.stats.inc_value("newswatch/versions_written")

    def spider_closed(self, spider, reason: str) -> None:
        if self.run_id is None:
            return
        if self.stats.get_value("newswatch/lock_lost"):
            # Another crawl marked this run abandoned and took the lock (crawler.runlock): the run
            # is theirs to account for now; closing it as ours would overwrite that record.
            logger.error("run %s left as failed (abandoned): not recording its end", self.run_id)
            self.engine.dispose()
            return
        status = run_status(reason, self.stats.get_stats(), self.max_failure_rate)
        stats = run_stats(self.stats.get_stats())
        try:
            with Session(self.engine) as session, session.begin():
                repository.finish_run(session, self.run_id, status, stats)
        except SQLAlchemyError:
            logger.exception("could not record the end of run %s", self.run_id)
            raise
        logger.info("run %s %s: %s", self.run_id, status, stats)
        self.crawler.signals.send_catch_log(newswatch_signals.run_finished, run_id=self.run_id, status=status,
                                            engine=self.engine)
        self.engine.dispose()


def _shrunk(stored: str, fetched: str, min_ratio: float) -> bool:
    return len(fetched) < min_ratio * len(stored)


def run_status(reason: str, stats: dict, max_failure_rate: float) -> str:
    """`complete`, or `incomplete` when the crawl could not see the whole site.

    Incomplete: the crawl did not finish by itself, a listing page failed, or too many
    article fetches failed (errors after retries, pages without an article, suspect
    extractions). An incomplete run reports no removals.
    """
    if reason != "finished" or stats.get("newswatch/listing_failed", 0):
        return "incomplete"
    failed = sum(stats.get(f"newswatch/{key}", 0) for key in ("fetch_failed", "extraction_failed",
                                                             "extraction_suspect"))
    attempted = failed + sum(stats.get(f"newswatch/{key}", 0) for key in ("articles_seen", "articles_gone",
                                                                          "not_modified"))
    return "incomplete" if attempted and failed / attempted > max_failure_rate else "complete"


def run_stats(stats: dict) -> dict:
    """The Scrapy stats worth keeping with a run, under short stable names."""
    keep = {
        "requests": stats.get("downloader/request_count", 0),
        "responses": stats.get("downloader/response_count", 0),
        "items": stats.get("item_scraped_count", 0),
        "dropped": stats.get("item_dropped_count", 0),
        "errors": stats.get("log_count/ERROR", 0),
        "retries": stats.get("retry/count", 0),
        "listing_pages": stats.get("newswatch/listing_pages", 0),
        "articles_seen": stats.get("newswatch/articles_seen", 0),
        "articles_new": stats.get("newswatch/articles_new", 0),
        "versions_written": stats.get("newswatch/versions_written", 0),
        "extraction_failed": stats.get("newswatch/extraction_failed", 0),
        "extraction_suspect": stats.get("newswatch/extraction_suspect", 0),
        "fetch_failed": stats.get("newswatch/fetch_failed", 0),
        "listing_failed": stats.get("newswatch/listing_failed", 0),
        "articles_gone": stats.get("newswatch/articles_gone", 0),
        "articles_moved": stats.get("newswatch/articles_moved", 0),
        "not_modified": stats.get("newswatch/not_modified", 0),
    }
    prefix = "downloader/response_status_count/"
    keep["responses_by_status"] = {k[len(prefix):]: v for k, v in stats.items() if k.startswith(prefix)}
    return keep
