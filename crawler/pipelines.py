"""Item pipelines: extraction of the clean release, then storage as versioned text.

Re-extraction happens here, before storing, where tonight's extractor and its workers are: when
the stored version of a page was read by another extractor (its fingerprint differs) and tonight's
text differs from it, its page is read again from the raw archive and the item carries that
reading (`ArticleRecord.reread`). Storage writes it as a re-baseline when it differs from the
stored text, and compares tonight's text with it: one extractor on both sides. Detection thus
stays a function of stored versions alone (it skips re-baselines) and needs no extractor.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Self

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.asyncio import AsyncioLoopingCall, create_looping_call
from scrapy.utils.defer import deferred_from_coro
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from twisted.internet.task import LoopingCall

from crawler import config
from crawler import signals as newswatch_signals
from crawler.extraction import Extracted, NotAnArticle
from crawler.extraction.bounds import ExtractionRefused, Limits, bounded_extract, check_size
from crawler.extraction.fingerprint import fingerprint
from crawler.extraction.pool import ExtractionPool
from crawler.items import ArticleGone, ArticleMoved, ArticlePage, ArticleRecord, ArticleUnchanged
from crawler.runs import DATABASE_FAILED_STAT, Run
from storage import events, rawpages, repository
from storage.content import content_hash
from storage.failures import database_failure, describe

logger = logging.getLogger(__name__)

# What the spider yields and the store pipeline writes (pages become records in ExtractPipeline).
Stored = ArticleRecord | ArticleGone | ArticleMoved | ArticleUnchanged


class ExtractPipeline:
    """Turns an `ArticlePage` into an `ArticleRecord`; drops pages that hold no article.

    Extraction is CPU-bound pure Python: with NEWSWATCH_EXTRACT_WORKERS > 0 it runs in that
    many worker processes, so it overlaps with fetching and storing instead of stalling the
    reactor; with 0 it runs in the crawl's own process. Either way a page is extracted within
    NEWSWATCH_EXTRACT_MAX_BYTES and NEWSWATCH_EXTRACT_TIMEOUT (crawler.extraction.bounds): one
    beyond them is a failed extraction, and the crawl goes on.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.profile = config.site_profile(crawler.settings)
        self.fingerprint = fingerprint(self.profile)
        self.workers = crawler.settings.getint("NEWSWATCH_EXTRACT_WORKERS")
        self.limits = Limits(max_bytes=crawler.settings.getint("NEWSWATCH_EXTRACT_MAX_BYTES"),
                             seconds=crawler.settings.getfloat("NEWSWATCH_EXTRACT_TIMEOUT"))
        self.pool: ExtractionPool | None = None
        self.run: Run | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.run_started, signal=newswatch_signals.run_started)
        return pipeline

    def run_started(self, run: Run) -> None:
        self.run = run

    def open_spider(self) -> None:
        if self.workers > 0:
            self.pool = ExtractionPool(self.workers, self.profile, limits=self.limits)

    def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.close()

    async def process_item(self, item: object) -> object:
        if not isinstance(item, ArticlePage):
            return item  # removals and moves carry no page to extract
        try:
            check_size(item.body, self.limits)  # before a page of megabytes is sent to a worker
            content = await self._extract(item.body, item.url)
        except (NotAnArticle, ExtractionRefused) as error:
            self.stats.inc_value("newswatch/extraction_failed")
            raise DropItem(f"no article extracted from {item.fetched_url}: {error}") from error
        except Exception as error:
            # A bug of the extractor on this page, or a worker that died: the page is a failed
            # extraction of this run (it counts against the run being complete), not a lost item.
            logger.error("extraction of %s failed", item.fetched_url, exc_info=error)
            self.stats.inc_value("newswatch/extraction_failed")
            raise DropItem(f"no article extracted from {item.fetched_url}: {error!r}") from error
        return ArticleRecord(page=item, content=content, extraction=self.fingerprint,
                             reread=await self._reread(item, content))

    async def _extract(self, body: bytes, url: str) -> Extracted:
        if self.pool is None:
            return bounded_extract(body, url, self.profile, self.limits)
        return await self.pool.extract(body, url)

    async def _reread(self, item: ArticlePage, content: Extracted) -> repository.Reread | None:
        """The stored version's page read by tonight's extractor, when another one read it and
        tonight's text differs from it: was it the page that changed, or our reading?"""
        run = self.run
        known = run.known.get(item.url) if run is not None else None
        if (run is None or known is None or known.raw_sha256 is None or known.version_id is None
                or known.extraction == self.fingerprint
                or content_hash(content.title, content.published, content.paragraphs) == known.content_hash):
            return None
        try:
            with Session(run.engine) as session:
                body = rawpages.load(session, known.raw_sha256)
        except rawpages.RawPageMissing:
            self.stats.inc_value("newswatch/reread_missing")  # pruned: compared as it stands
            return None
        except SQLAlchemyError as error:
            logger.warning("%s: its stored page could not be read (%s); compared with the stored text", item.url, error)
            return None
        try:
            again = await self._extract(body, item.url)
        except Exception as error:  # noqa: BLE001 -- tonight's extractor finds no article in the stored page
            logger.warning("%s: its stored page could not be read again (%r); compared with the stored text",
                           item.url, error)
            return None
        self.stats.inc_value("newswatch/reread")
        return repository.Reread(known.version_id, known.raw_sha256, again.title, again.published, tuple(again.paragraphs))


class StorePipeline:
    """Writes each item of the run (a release as versioned text, a removal, a move, a 304).

    Items are written in batches, one transaction for up to NEWSWATCH_STORE_BATCH items and at
    least every NEWSWATCH_STORE_SECONDS: a commit per article would cost more than storing it.
    A batch that fails is written again item by item, so a bad item costs only itself (it is
    logged and counted as a failed fetch of the run, never as a change). The run, and the
    database it lives in, come from the run's extension (crawler.runs, signal `run_started`),
    which closes the run after this pipeline's last batch (`close_spider`).

    A failure of the database itself (storage.failures: the disk is full, a lock held past the
    busy timeout, the server gone) is no item's fault and would fail every later write: it is
    logged once, as one ERROR line, the crawl stops (reason `database_failed`) and its run fails
    (crawler.runs); what was committed before it stays.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        settings = crawler.settings
        self.min_ratio = settings.getfloat("NEWSWATCH_MIN_LENGTH_RATIO")
        self.batch_size = settings.getint("NEWSWATCH_STORE_BATCH")
        self.batch_seconds = settings.getfloat("NEWSWATCH_STORE_SECONDS")
        self.raw_keep_days = config.raw_keep_days(settings)
        self.run: Run | None = None
        self.pending: list[Stored] = []
        self.flusher: AsyncioLoopingCall | LoopingCall | None = None
        self.database_failed: str | None = None  # how the database failed, once it has

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.run_started, signal=newswatch_signals.run_started)
        # A worker of a shared run, idle, hands back what it fetched as done (crawler.runs): stored first.
        crawler.signals.connect(pipeline.flush, signal=newswatch_signals.run_idle)
        return pipeline

    def run_started(self, run: Run) -> None:
        self.run = run

    @property
    def _run(self) -> Run:
        assert self.run is not None, "items are stored only once the run started (crawler.runs)"
        return self.run

    def open_spider(self) -> None:
        if self.batch_seconds > 0:
            self.flusher = create_looping_call(self.flush)
            self.flusher.start(self.batch_seconds, now=False)

    def process_item(self, item: Stored) -> Stored:
        self.pending.append(item)
        if len(self.pending) >= self.batch_size:
            self.flush()
        return item

    def close_spider(self) -> None:
        """Write the last batch: Scrapy calls this once every item went through, before `spider_closed`."""
        if self.flusher is not None and self.flusher.running:
            self.flusher.stop()
        self.flush(closing=True)
        self.prune()

    def prune(self) -> None:
        """Delete the raw pages older than NEWSWATCH_RAW_KEEP_DAYS that no current version needs."""
        if self.raw_keep_days is None or self.run is None:
            return
        try:
            with Session(self._run.engine) as session, session.begin():
                pruned = rawpages.prune(session, self.raw_keep_days, dt.datetime.now(dt.UTC))
        except SQLAlchemyError:
            logger.exception("the raw archive could not be pruned; the next crawl tries again")
            return
        self.stats.set_value("newswatch/raw_pruned", pruned)

    def flush(self, *, closing: bool = False) -> None:
        """Write the pending items: all in one transaction, else each in its own."""
        items, self.pending = self.pending, []
        if not items or self.database_failed:
            if not self.database_failed:
                self.crawler.signals.send_catch_log(newswatch_signals.stored)
            return  # once the database failed, the crawl is stopping: nothing more is written
        try:
            with Session(self._run.engine) as session, session.begin():
                outcomes = [self._write(session, item) for item in items]
        except SQLAlchemyError as error:
            if failure := database_failure(error):
                self._stop(failure, closing)
                return
            logger.warning("a batch of %d items could not be stored (%s); storing them one by one",
                           len(items), describe(error))
            outcomes = []
            for item in items:
                outcome = self._write_alone(item, closing)
                if outcome is None:  # the database failed meanwhile
                    return
                outcomes.append(outcome)
        for counters, warning in outcomes:  # only once committed: a failed batch counts nothing twice
            for counter in counters:
                self.stats.inc_value(f"newswatch/{counter}")
            if warning:
                logger.warning(warning)
        self.crawler.signals.send_catch_log(newswatch_signals.stored)

    def _write_alone(self, item: Stored, closing: bool) -> tuple[list[str], str | None] | None:
        """Write one item in its own transaction; None when the database failed (the crawl stops)."""
        try:
            with Session(self._run.engine) as session, session.begin():
                return self._write(session, item)
        except SQLAlchemyError as error:
            if failure := database_failure(error):
                self._stop(failure, closing)
                return None
            url = item.page.url if isinstance(item, ArticleRecord) else item.url
            logger.error("could not store %s: %s", url, describe(error))
            return ["store_failed"], None

    def _stop(self, failure: str, closing: bool) -> None:
        """The database failed: say so once, and stop the crawl (unless it is closing already)."""
        self.database_failed = failure
        self.stats.set_value(DATABASE_FAILED_STAT, failure)
        logger.error("the database failed while storing run %s: %s; stopping the crawl (what was stored before "
                     "stays; the next run takes over)", self._run.id, failure)
        if not closing:
            closed = deferred_from_coro(self.crawler.engine.close_spider_async(reason="database_failed"))
            closed.addErrback(lambda failure: logger.warning("could not close the spider: %s", failure.value))

    def _write(self, session: Session, item: Stored) -> tuple[list[str], str | None]:
        """Write one item; the stats counters it earns and a warning to log, once committed."""
        run_id = self._run.id
        if isinstance(item, ArticleRecord):
            return self._store(session, item)
        if isinstance(item, ArticleGone):
            return ["articles_gone"] if events.record_gone(session, run_id, item.url, item.status,
                                                           item.location) else [], None
        if isinstance(item, ArticleUnchanged):
            return ["not_modified"] if repository.mark_seen(session, run_id, item.url) else [], None
        if isinstance(item, ArticleMoved):
            return ["articles_moved"] if events.record_move(session, run_id, item.url, item.new_url,
                                                            item.status) else [], None
        return [], None

    def _store(self, session: Session, item: ArticleRecord) -> tuple[list[str], str | None]:
        page, content = item.page, item.content
        recorded = repository.record_article(
            session, self._run.id, url=page.url, site=self._run.site, language=content.language,
            title=content.title, published=content.published, paragraphs=content.paragraphs,
            fetched_at=page.fetched_at, etag=page.etag, last_modified=page.last_modified,
            min_length_ratio=self.min_ratio, page=rawpages.Fetched(page.body, page.status, page.content_type),
            extraction=item.extraction, reread=item.reread,
        )
        counters = ["rebaselined"] if recorded.rebaselined else []
        if recorded.cut_short:
            return [*counters, "extraction_suspect"], (
                f"{page.url}: extracted text stops mid-sentence where the stored version goes on "
                "(a page cut short); stored version kept")
        if recorded.suspect:
            # A truncated page or a half-rendered template, not an editor's cut: keep what we have.
            return [*counters, "extraction_suspect"], (
                f"{page.url}: extracted text ({len(content.text)} characters) is under "
                f"{self.min_ratio:.0%} of the stored version's; stored version kept")
        counters.append("articles_seen")
        if recorded.is_new_article:
            counters.append("articles_new")
        if recorded.is_new_version:
            counters.append("versions_written")
        return counters, None
