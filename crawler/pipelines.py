"""Item pipelines: extraction of the clean release, then storage as versioned text."""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.exceptions import DropItem, NotConfigured
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crawler import signals as newswatch_signals
from crawler.extraction import NotAnArticle, extract
from crawler.items import ArticlePage, ArticleRecord
from crawler.sites import PROFILES
from storage import repository
from storage.db import make_engine, migrate

logger = logging.getLogger(__name__)


class ExtractPipeline:
    """Turns an `ArticlePage` into an `ArticleRecord`; drops pages that hold no article."""

    def __init__(self, crawler) -> None:
        self.stats = crawler.stats
        self.profile = PROFILES[crawler.settings.get("NEWSWATCH_SITE", "icesco")]

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        if not isinstance(item, ArticlePage):
            return item  # removals and moves carry no page to extract
        try:
            content = extract(item.body, item.url, self.profile)
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

    @classmethod
    def from_crawler(cls, crawler):
        database_url = crawler.settings.get("NEWSWATCH_DATABASE_URL")
        if not database_url:
            raise NotConfigured("NEWSWATCH_DATABASE_URL is empty")
        pipeline = cls(crawler, database_url)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        self.engine = make_engine(self.database_url)
        migrate(self.engine)
        with Session(self.engine) as session, session.begin():
            run = repository.start_run(session, self.site)
            self.run_id = run.id
        self.stats.set_value("newswatch/run_id", self.run_id)
        logger.info("run %s started (database %s)", self.run_id, self.engine.url.render_as_string(hide_password=True))

    def process_item(self, item):
        if not isinstance(item, ArticleRecord):
            return item
        page, content = item.page, item.content
        with Session(self.engine) as session, session.begin():
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
        return item

    def spider_closed(self, spider, reason: str) -> None:
        if self.run_id is None:
            return
        status = "complete" if reason == "finished" else "incomplete"
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
    }
    prefix = "downloader/response_status_count/"
    keep["responses_by_status"] = {k[len(prefix):]: v for k, v in stats.items() if k.startswith(prefix)}
    return keep
