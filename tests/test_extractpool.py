"""Extraction in worker processes: pages travel in batches, yet each keeps its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from crawler.extractpool import ExtractionPool
from crawler.sites import ICESCO
from tests.test_extraction import golden_cases

ARTICLE = next(case for case in golden_cases() if case.name.endswith("en-one-sentence"))
NOT_AN_ARTICLE = next(case for case in golden_cases() if case.name.endswith("neg-listing"))


def extract_all(pages: list[tuple[bytes, str]], batch_size: int) -> list:
    """Each page's outcome (an article or the exception), the pages sent to one pool at once."""

    async def run() -> list:
        pool = ExtractionPool(1, ICESCO, batch_size=batch_size)
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

