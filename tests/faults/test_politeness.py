"""The per-site limit holds: a crawl never has more requests open at the site than
CONCURRENT_REQUESTS_PER_DOMAIN, even with no download delay (crawler.config.one_site_at_a_time).

Scrapy 2.19 on asyncio counts a request as transferring only once the task it schedules runs, so
a site's slot sent its whole backlog at once, up to CONCURRENT_REQUESTS (9 article requests at once
at a site promised 2, on the old code).
"""

from __future__ import annotations

from faults.faultmirror import ARTICLE, slow

ENGLISH_FULL = ("-a", "mode=full", "-a", "languages=en")
ANSWER = 0.3  # seconds each article takes to answer


def test_a_crawl_never_has_more_requests_open_at_the_site_than_its_per_site_limit(database, site, crawls):
    site.faults = [slow(ARTICLE, ANSWER)]
    crawl = crawls.run(database(None), *ENGLISH_FULL, CONCURRENT_REQUESTS_PER_DOMAIN="2", DOWNLOAD_DELAY="0")
    assert crawl.status == 0, crawl.tail()

    arrivals = sorted(hit.at for hit in site.hits(ARTICLE))
    assert len(arrivals) > 4
    # With two open at a time, the third request is sent only once one of the first two was answered,
    # at least ANSWER after it arrived: any three arrivals span at least ANSWER.
    spans = [later - first for first, later in zip(arrivals, arrivals[2:], strict=False)]
    assert min(spans) >= ANSWER * 0.95, spans
