"""The store pipeline: articles are committed in batches, and one that cannot be stored costs
only itself — the others are kept and the run says it is incomplete, not that news changed.

The pipeline writes into the run its extension (crawler.runs) claimed, as in a crawl: the run
reaches it through the `run_started` signal, and is closed after the pipeline's last batch."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from scrapy.utils.test import get_crawler
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler import settings as project_settings
from crawler.extraction import Extracted
from crawler.items import ArticlePage, ArticleRecord
from crawler.pipelines import StorePipeline
from crawler.runs import RunLifecycle
from storage.db import make_engine
from storage.models import Article, ArticleVersion, CrawlRun

PROJECT_SETTINGS = {name: value for name, value in vars(project_settings).items() if name.isupper()}

FETCHED = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)

# A database that refuses one article, as a full disk or a broken row would.
REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON article_versions WHEN instr(NEW.title, 'Refused') > 0 "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF strpos(NEW.title, 'Refused') > 0 THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON article_versions FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


def record(title: str) -> ArticleRecord:
    slug = title.lower().replace(" ", "-")
    url = f"https://icesco.org/en/2026/11/26/{slug}/"
    page = ArticlePage(url=url, fetched_url=url, language="en", status=200, body=b"<html></html>",
                       fetched_at=FETCHED)
    content = Extracted(url=url, language="en", title=title, published=dt.date(2026, 11, 26),
                        paragraphs=(f"The text of {title}, long enough to be a release.",))
    return ArticleRecord(page=page, content=content)


@pytest.fixture
def crawler(unmigrated_database_url: str):
    """A crawler with the run's extension built (run claimed), as Scrapy builds it before its engine."""
    crawler = get_crawler(settings_dict={
        **PROJECT_SETTINGS, "NEWSWATCH_DATABASE_URL": unmigrated_database_url, "NEWSWATCH_STORE_BATCH": 3,
        "NEWSWATCH_STORE_SECONDS": 0, "NEWSWATCH_HEARTBEAT_SECONDS": 0,
        "EXTENSIONS": {"crawler.runs.RunLifecycle": 100}, "ADDONS": {},
    })
    yield crawler
    crawler.get_extension(RunLifecycle).run.engine.dispose()


@pytest.fixture
def pipeline(crawler) -> StorePipeline:
    pipeline = StorePipeline.from_crawler(crawler)
    pipeline.open_spider()
    crawler.get_extension(RunLifecycle).spider_opened()  # sends run_started
    return pipeline


def stored_titles(url: str) -> list[str]:
    engine = make_engine(url)
    with Session(engine) as session:
        titles = session.scalars(select(ArticleVersion.title).order_by(ArticleVersion.title)).all()
    engine.dispose()
    return list(titles)


def test_articles_are_stored_once_a_batch_is_full(pipeline: StorePipeline, unmigrated_database_url: str) -> None:
    pipeline.process_item(record("First release"))
    pipeline.process_item(record("Second release"))
    assert stored_titles(unmigrated_database_url) == []  # not yet committed: the batch holds three
    pipeline.process_item(record("Third release"))
    assert stored_titles(unmigrated_database_url) == ["First release", "Second release", "Third release"]
    assert pipeline.stats.get_value("newswatch/versions_written") == 3


def test_an_article_the_database_refuses_costs_only_itself(
        crawler, pipeline: StorePipeline, unmigrated_database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with pipeline.run.engine.begin() as connection:
        for statement in REFUSE[pipeline.run.engine.dialect.name]:
            connection.exec_driver_sql(statement)
    for title in ("First release", "Refused release", "Third release", "Fourth release"):
        pipeline.process_item(record(title))
    with caplog.at_level(logging.WARNING):
        pipeline.close_spider()  # the last, unfilled batch is written too
        crawler.get_extension(RunLifecycle).spider_closed(reason="finished")  # then the run is closed

    assert stored_titles(unmigrated_database_url) == ["First release", "Fourth release", "Third release"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["could not store https://icesco.org/en/2026/11/26/refused-release/: refused by the test"]
    stats = pipeline.stats.get_stats()
    assert (stats["newswatch/store_failed"], stats["newswatch/versions_written"]) == (1, 3)
    engine = make_engine(unmigrated_database_url)
    with Session(engine) as session:
        run = session.scalars(select(CrawlRun)).one()
        articles = session.scalar(select(func.count()).select_from(Article))
    engine.dispose()
    # One failure in four is over the 5% a run may lose: it cannot vouch for removals.
    assert (run.status, run.stats["store_failed"], articles) == ("incomplete", 1, 3)
