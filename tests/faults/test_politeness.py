"""The per-site limit should hold: a crawl never has more requests open at the site than
CONCURRENT_REQUESTS_PER_DOMAIN, even with no download delay.

Scrapy 2.19 on asyncio counts a request as transferring only once the task it schedules runs, so a
site's slot sends its whole backlog at once, up to CONCURRENT_REQUESTS: 9 article requests at once at
a site promised 2. With the default DOWNLOAD_DELAY (0.5 s) the downloader's burst guard sends one
request per delay, so the nightly crawl is not affected; queue workers are capped
(crawler.config.one_site_at_a_time). Capping every crawl the same way passes this test but makes
test_lost_changes' SIGTERM test fail 1 run in 5: a full run stopped after storing a moved release at
its new URL, before fetching the old URL's 301, reports it `added`, and the next run never reports
the edit. That race is the next thing to fix; then the cap goes to every crawl and this xfail goes.
"""

from __future__ import annotations

import pytest

from faults.faultmirror import ARTICLE, slow

ENGLISH_FULL = ("-a", "mode=full", "-a", "languages=en")
ANSWER = 0.3  # seconds each article takes to answer


@pytest.mark.xfail(strict=True, reason="Scrapy 2.19 on asyncio: a slot's backlog sent at once when DOWNLOAD_DELAY is 0; "
                   "capped for queue workers only until the SIGTERM-and-move race is fixed (module docstring)")
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
