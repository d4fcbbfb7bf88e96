"""Item pipelines: extraction of the clean release, then storage as versioned text."""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.asyncio import create_looping_call
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crawler import config
from crawler import signals as newswatch_signals
from crawler.extraction import NotAnArticle, extract
from crawler.extraction.pool import ExtractionPool
from crawler.items import ArticleGone, ArticleMoved, ArticlePage, ArticleRecord, ArticleUnchanged
from crawler.runlock import claim_run
from storage import events, repository, runs
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
        self.profile = config.site_profile(crawler.settings)
        self.workers = crawler.settings.getint("NEWSWATCH_EXTRACT_WORKERS")
        self.pool: ExtractionPool | None = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self) -> None:
        if self.workers > 0:
            self.pool = ExtractionPool(self.workers, self.profile)

    def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.close()

    async def process_item(self, item):
        if not isinstance(item, ArticlePage):
            return item  # removals and moves carry no page to extract
        try:
            if self.pool is None:
                content = extract(item.body, item.url, self.profile)
            else:
                content = await self.pool.extract(item.body, item.url)
        except NotAnArticle as error:
            self.stats.inc_value("newswatch/extraction_failed")
            raise DropItem(f"no article extracted from {item.fetched_url}: {error}") from error
        except Exception as error:
            # A bug of the extractor on this page, or a worker that died: the page is a failed
            # extraction of this run (it counts against the run being complete), not a lost item.
            logger.error("extraction of %s failed", item.fetched_url, exc_info=error)
            self.stats.inc_value("newswatch/extraction_failed")
            raise DropItem(f"no article extracted from {item.fetched_url}: {error!r}") from error
        return ArticleRecord(page=item, content=content)


class StorePipeline:
    """Writes each release as versioned text and keeps the run's bookkeeping (`crawl_runs`).

    Items are written in batches, one transaction for up to NEWSWATCH_STORE_BATCH items and at
    least every NEWSWATCH_STORE_SECONDS: a commit per article would cost more than storing it.
    A batch that fails is written again item by item, so a bad item costs only itself (it is
    logged and counted as a failed fetch of the run, never as a change).
    """

    def __init__(self, crawler, database_url: str) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        settings = crawler.settings
        self.site = config.site_profile(settings).name
        self.database_url = database_url
        self.engine = None
        self.run_id: int | None = None
        self.min_ratio = settings.getfloat("NEWSWATCH_MIN_LENGTH_RATIO")
        self.max_failure_rate = settings.getfloat("NEWSWATCH_MAX_FAILURE_RATE")
        self.batch_size = settings.getint("NEWSWATCH_STORE_BATCH")
        self.batch_seconds = settings.getfloat("NEWSWATCH_STORE_SECONDS")
        self.pending: list = []
        self.flusher = None

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
        if self.batch_seconds > 0:
            self.flusher = create_looping_call(self.flush)
            self.flusher.start(self.batch_seconds, now=False)

    def process_item(self, item):
        self.pending.append(item)
        if len(self.pending) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        """Write the pending items: all in one transaction, else each in its own."""
        items, self.pending = self.pending, []
        if not items:
            return
        try:
            with Session(self.engine) as session, session.begin():
                outcomes = [self._write(session, item) for item in items]
        except SQLAlchemyError as error:
            logger.warning("a batch of %d items could not be stored (%s); storing them one by one",
                           len(items), error)
            outcomes = [self._write_alone(item) for item in items]
        for counters, warning in outcomes:  # only once committed: a failed batch counts nothing twice
            for counter in counters:
                self.stats.inc_value(f"newswatch/{counter}")
            if warning:
                logger.warning(warning)

    def _write_alone(self, item) -> tuple[list[str], str | None]:
        try:
            with Session(self.engine) as session, session.begin():
                return self._write(session, item)
        except SQLAlchemyError:
            logger.exception("could not store %s", getattr(item, "url", None) or item.page.url)
            return ["store_failed"], None

    def _write(self, session: Session, item) -> tuple[list[str], str | None]:
        """Write one item; the stats counters it earns and a warning to log, once committed."""
        if isinstance(item, ArticleRecord):
            return self._store(session, item)
        if isinstance(item, ArticleGone):
            return ["articles_gone"] if events.record_gone(session, self.run_id, item.url, item.status,
                                                           item.location) else [], None
        if isinstance(item, ArticleUnchanged):
            return ["not_modified"] if repository.mark_seen(session, self.run_id, item.url) else [], None
        if isinstance(item, ArticleMoved):
            return ["articles_moved"] if events.record_move(session, self.run_id, item.url, item.new_url,
                                                            item.status) else [], None
        return [], None

    def _store(self, session: Session, item: ArticleRecord) -> tuple[list[str], str | None]:
        page, content = item.page, item.content
        recorded = repository.record_article(
            session, self.run_id, url=page.url, site=self.site, language=content.language,
            title=content.title, published=content.published, paragraphs=content.paragraphs,
            fetched_at=page.fetched_at, etag=page.etag, last_modified=page.last_modified,
            min_length_ratio=self.min_ratio,
        )
        if recorded.suspect:
            # A truncated page or a half-rendered template, not an editor's cut: keep what we have.
            return ["extraction_suspect"], (
                f"{page.url}: extracted text ({len(content.text)} characters) is under "
                f"{self.min_ratio:.0%} of the stored version's; stored version kept")
        counters = ["articles_seen"]
        if recorded.is_new_article:
            counters.append("articles_new")
        if recorded.is_new_version:
            counters.append("versions_written")
        return counters, None

    def spider_closed(self, spider, reason: str) -> None:
        if self.run_id is None:
            return
        if self.flusher is not None and self.flusher.running:
            self.flusher.stop()
        self.flush()
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
                runs.finish_run(session, self.run_id, status, stats)
        except SQLAlchemyError:
            logger.exception("could not record the end of run %s", self.run_id)
            raise
        logger.info("run %s %s: %s", self.run_id, status, stats)
        self.crawler.signals.send_catch_log(newswatch_signals.run_finished, run_id=self.run_id, status=status,
                                            engine=self.engine)
        self.engine.dispose()


def run_status(reason: str, stats: dict, max_failure_rate: float) -> str:
    """`complete`, or `incomplete` when the crawl could not see the whole site.

    Incomplete: the crawl did not finish by itself, a listing page failed, or too many
    article fetches failed (errors after retries, pages without an article, suspect
    extractions, articles that could not be stored). An incomplete run reports no removals.
    """
    if reason != "finished" or stats.get("newswatch/listing_failed", 0):
        return "incomplete"
    failed = sum(stats.get(f"newswatch/{key}", 0) for key in ("fetch_failed", "extraction_failed",
                                                             "extraction_suspect", "store_failed"))
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
        "store_failed": stats.get("newswatch/store_failed", 0),
        "listing_failed": stats.get("newswatch/listing_failed", 0),
        "articles_gone": stats.get("newswatch/articles_gone", 0),
        "articles_moved": stats.get("newswatch/articles_moved", 0),
        "not_modified": stats.get("newswatch/not_modified", 0),
        "feeds": stats.get("newswatch/feeds", 0),
        "sitemaps": stats.get("newswatch/sitemaps", 0),
        "sitemap_missing": stats.get("newswatch/sitemap_missing", 0),
    }
    prefix = "downloader/response_status_count/"
    keep["responses_by_status"] = {k[len(prefix):]: v for k, v in stats.items() if k.startswith(prefix)}
    return keep
