"""Extraction in worker processes: pages travel in batches, yet each keeps its own outcome; a
worker that dies or an extractor error costs the pages concerned, counted, and nothing more."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from concurrent.futures.process import BrokenProcessPool

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from crawler.extraction.bounds import UNBOUNDED, ExtractionRefused, Limits, time_limit
from crawler.extraction.pool import ExtractionPool, extract_batch
from crawler.items import ArticlePage
from crawler.pipelines import ExtractPipeline
from crawler.sites import ICESCO
from tests.test_extraction import golden_cases

ARTICLE = next(case for case in golden_cases() if case.name.endswith("en-one-sentence"))
NOT_AN_ARTICLE = next(case for case in golden_cases() if case.name.endswith("neg-listing"))


def extract_all(pages: list[tuple[bytes, str]], batch_size: int, limits: Limits = UNBOUNDED) -> list:
    """Each page's outcome (an article or the exception), the pages sent to one pool at once."""

    async def run() -> list:
        pool = ExtractionPool(1, ICESCO, batch_size=batch_size, limits=limits)
        try:
            # A bound, so a batch that is never sent fails the test instead of hanging it.
            return await asyncio.wait_for(asyncio.gather(*(pool.extract(body, url) for body, url in pages),
                                                         return_exceptions=True), timeout=60)
        finally:
            pool.close()

    return asyncio.run(run())


def test_a_page_without_article_fails_alone_in_its_batch():
    article = (ARTICLE.html.read_bytes(), ARTICLE.url)
    listing = (NOT_AN_ARTICLE.html.read_bytes(), NOT_AN_ARTICLE.url)
    outcomes = extract_all([article, listing, (b"", ARTICLE.url), article], batch_size=4)
    assert [type(o).__name__ for o in outcomes] == ["Extracted", "NotAnArticle", "NotAnArticle", "Extracted"]
    assert outcomes[0].paragraphs == tuple(ARTICLE.golden["paragraphs"]) == outcomes[3].paragraphs
    assert "not an article URL" in str(outcomes[1]) and "empty page" in str(outcomes[2])


@pytest.mark.parametrize("count", [1, 9])
def test_pages_short_of_a_full_batch_are_extracted_too(count):
    outcomes = extract_all([(ARTICLE.html.read_bytes(), ARTICLE.url)] * count, batch_size=8)
    assert [o.title for o in outcomes] == [ARTICLE.golden["title"]] * count



def die_on_marker(pages: list[tuple[bytes, str]], profile) -> list:
    """In a worker: die as a process the kernel killed does, when a batch holds the marker page."""
    if any(body == b"DIE" for body, _ in pages):
        os._exit(9)
    return extract_batch(pages, profile)


def test_a_worker_that_dies_fails_its_batch_and_new_workers_take_the_next():
    article = (ARTICLE.html.read_bytes(), ARTICLE.url)

    async def run() -> tuple[list, object]:
        pool = ExtractionPool(1, ICESCO, batch_size=2, extract_pages=die_on_marker)
        try:
            lost = await asyncio.gather(pool.extract(b"DIE", ARTICLE.url), pool.extract(*article),
                                        return_exceptions=True)
            return lost, await asyncio.wait_for(pool.extract(*article), timeout=60)
        finally:
            pool.close()

    lost, after = asyncio.run(run())
    assert [type(outcome) for outcome in lost] == [BrokenProcessPool, BrokenProcessPool]
    assert after.title == ARTICLE.golden["title"]


def test_an_extractor_error_is_a_failed_extraction_of_that_page(monkeypatch, caplog):
    def broken(body, url, profile):
        raise IndexError("list index out of range")

    monkeypatch.setattr("crawler.extraction.bounds.extract", broken)
    pipeline = ExtractPipeline(get_crawler(settings_dict={"NEWSWATCH_SITE": "icesco", "NEWSWATCH_EXTRACT_WORKERS": 0}))
    page = ArticlePage(url=ARTICLE.url, fetched_url=ARTICLE.url, language="en", status=200,
                       body=ARTICLE.html.read_bytes(), fetched_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    with pytest.raises(DropItem, match="IndexError"), caplog.at_level(logging.ERROR):
        asyncio.run(pipeline.process_item(page))
    assert pipeline.stats.get_value("newswatch/extraction_failed") == 1  # counts against a complete run
    assert [r.getMessage() for r in caplog.records] == [f"extraction of {ARTICLE.url} failed"]


def slow_page() -> bytes:
    """The article with 10,000 hard-wrapped lines pasted in (540 KB): its extraction takes seconds."""
    page = ARTICLE.html.read_text("utf-8")
    block = "<p>" + "<br>\n".join(["the quick brown fox jumps over the lazy dog again"] * 10_000) + "</p>"
    end = page.index("</p>") + len("</p>")
    return (page[:end] + block + page[end:]).encode("utf-8")


def test_a_page_over_the_size_cap_or_the_time_limit_fails_alone_and_the_worker_goes_on():
    article = (ARTICLE.html.read_bytes(), ARTICLE.url)
    limits = Limits(max_bytes=1_000_000, seconds=0.5)
    started = time.monotonic()
    outcomes = extract_all([article, (slow_page(), ARTICLE.url), (b"x" * 1_000_001, ARTICLE.url), article],
                           batch_size=4, limits=limits)
    assert time.monotonic() - started < 5  # unbounded, the slow page alone takes 6 s or more
    assert [type(o).__name__ for o in outcomes] == ["Extracted", "ExtractionRefused", "ExtractionRefused",
                                                    "Extracted"]
    assert "took more than 0.5 s (NEWSWATCH_EXTRACT_TIMEOUT)" in str(outcomes[1])
    assert "1,000,001 bytes, over the extraction cap of 1,000,000" in str(outcomes[2])


def test_in_the_crawl_process_a_page_past_the_time_limit_is_a_failed_extraction_without_traceback(caplog):
    settings = {"NEWSWATCH_SITE": "icesco", "NEWSWATCH_EXTRACT_WORKERS": 0, "NEWSWATCH_EXTRACT_TIMEOUT": 0.5}
    pipeline = ExtractPipeline(get_crawler(settings_dict=settings))
    page = ArticlePage(url=ARTICLE.url, fetched_url=ARTICLE.url, language="en", status=200,
                       body=slow_page(), fetched_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    started = time.monotonic()
    with pytest.raises(DropItem, match=r"took more than 0\.5 s") as dropped, caplog.at_level(logging.WARNING):
        asyncio.run(pipeline.process_item(page))
    assert time.monotonic() - started < 5
    assert isinstance(dropped.value.__cause__, ExtractionRefused)
    assert pipeline.stats.get_value("newswatch/extraction_failed") == 1
    assert caplog.records == []  # Scrapy logs the dropped item; nothing else to say
    assert "body" not in repr(page)  # the dropped item's log line never holds the page


class Finalised:
    """An object whose finaliser works for `seconds` (as the garbage collector's callbacks may)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __del__(self) -> None:
        busy(self.seconds)


def busy(seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the first alarm's, dropped
def test_the_time_limit_holds_when_it_first_expires_inside_a_finaliser():
    # The first alarm (0.2 s) comes while the first finaliser runs (0 to 0.3 s): what it raises
    # there is printed and dropped; the next ones find the block's own code.
    started = time.monotonic()
    with pytest.raises(ExtractionRefused, match=r"took more than 0\.2 s"), time_limit(0.2):
        for _ in range(5):
            Finalised(0.3)  # dropped at once: its __del__ runs here
            busy(0.3)
    assert time.monotonic() - started < 1.0


def hang_on_marker(pages: list[tuple[bytes, str]], profile) -> list:
    """In a worker: hang, as C code that no signal interrupts, when a batch holds the marker page."""
    if any(body == b"HANG" for body, _ in pages):
        time.sleep(600)
    return extract_batch(pages, profile)


def test_a_worker_stuck_past_the_time_limit_is_ended_and_new_workers_take_the_next():
    article = (ARTICLE.html.read_bytes(), ARTICLE.url)

    async def run() -> tuple[object, list, object]:
        pool = ExtractionPool(1, ICESCO, batch_size=1, extract_pages=hang_on_marker, stall_seconds=5)
        try:
            first = await asyncio.wait_for(pool.extract(*article), timeout=60)  # the worker is up
            stuck = await asyncio.wait_for(asyncio.gather(pool.extract(b"HANG", ARTICLE.url), return_exceptions=True),
                                           timeout=30)
            return first, stuck, await asyncio.wait_for(pool.extract(*article), timeout=60)
        finally:
            pool.close()

    first, stuck, after = asyncio.run(run())
    assert [type(outcome) for outcome in stuck] == [BrokenProcessPool]
    assert first.title == after.title == ARTICLE.golden["title"]
