"""The crawl's side of the crawl lock: claiming it at start-up, and a heartbeat while the crawl runs.

The lock itself is a `running` row of `crawl_runs`, unique per site (storage.runs).
`StorePipeline` claims it through `claim_run`; `RunHeartbeat` (an extension enabled in
settings) keeps it fresh, so another crawl can tell a live holder from a dead one.
"""

from __future__ import annotations

import datetime as dt
import logging

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call
from scrapy.utils.defer import deferred_from_coro
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage import runs
from storage.db import make_engine

logger = logging.getLogger(__name__)


def claim_run(crawler, engine: Engine, site: str) -> runs.Claim:
    """Claim the crawl lock of `site` for this crawl and start its run.

    A refusal (`CrawlAlreadyRunning`) is logged once, as one ERROR line, and raised again, so
    that the crawl stops at start-up and `scrapy crawl` exits with status 1.
    """
    stale_after = dt.timedelta(minutes=crawler.settings.getfloat("NEWSWATCH_LOCK_STALE_MINUTES"))
    try:
        return runs.claim(engine, site, stale_after=stale_after)
    except runs.CrawlAlreadyRunning as refusal:
        logger.error("%s", refusal)
        # Scrapy reports a failed start-up once more, with a traceback, through asyncio's
        # "Task exception was never retrieved": the line above already said it all.
        logging.getLogger("asyncio").addFilter(_Reported(refusal))
        raise


class _Reported(logging.Filter):
    """Drops log records carrying one exception that was already reported."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and record.exc_info[1] is self.error)


class RunHeartbeat:
    """Refreshes the heartbeat of this crawl's run every NEWSWATCH_HEARTBEAT_SECONDS.

    Without heartbeats for NEWSWATCH_LOCK_STALE_MINUTES, another crawl takes the lock over;
    if that happened (the run is no longer this crawl's), the spider is closed.
    """

    def __init__(self, crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.owner = runs.Owner.this_process()
        self.run_id: int | None = None
        self.engine: Engine | None = None
        self.task = None
        self.closing = None

    @classmethod
    def from_crawler(cls, crawler):
        interval = crawler.settings.getfloat("NEWSWATCH_HEARTBEAT_SECONDS")
        if interval <= 0:
            raise NotConfigured("NEWSWATCH_HEARTBEAT_SECONDS is not positive: no heartbeat")
        extension = cls(crawler, interval)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self) -> None:
        self.run_id = self.crawler.stats.get_value("newswatch/run_id")
        if self.run_id is None:  # no StorePipeline, so no run and no lock
            return
        self.engine = make_engine(self.crawler.settings.get("NEWSWATCH_DATABASE_URL"))
        self.task = create_looping_call(self.beat)
        self.task.start(self.interval, now=False)

    def beat(self) -> None:
        try:
            still_ours = runs.beat(self.engine, self.run_id, self.owner)
        except SQLAlchemyError as error:
            # The next beat may succeed; a lock without beats for long is taken over.
            self.crawler.stats.inc_value("newswatch/heartbeat_failed")
            logger.warning("heartbeat of run %s not recorded: %s", self.run_id, error)
            return
        if not still_ours:
            self.crawler.stats.set_value("newswatch/lock_lost", 1)
            logger.error("run %s is no longer this crawl's lock (another crawl took it over as abandoned): "
                         "closing the spider", self.run_id)
            self._stop()
            self.closing = deferred_from_coro(self.crawler.engine.close_spider_async(reason="lock_lost"))
            self.closing.addErrback(lambda failure: logger.error("could not close the spider: %s", failure.value))

    def spider_closed(self) -> None:
        self._stop()
        if self.engine is not None:
            self.engine.dispose()

    def _stop(self) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
