"""robots.txt as RFC 9309 reads it: a robots.txt the server cannot give means the site is unavailable.

Scrapy's RobotsTxtMiddleware parses whatever answer robots.txt gets: a 500 page is a robots.txt
without rules, and the whole site is allowed. RFC 9309 (2.3.1.3, 2.3.1.4) says otherwise: when
robots.txt answers a server error (5xx; 429 read the same) or cannot be reached, a crawler must
assume complete disallow. `RobotsTxtMiddleware` (in place of Scrapy's) does so: nothing of the
site is fetched, the crawl stops at once (finish reason `robots_unavailable`: the run is
incomplete, so nothing is reported as removed), and one WARNING line says why. A 4xx robots.txt
(none) still allows everything, as the RFC says.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"
CLOSE_REASON = "robots_unavailable"


def unavailable(status: int) -> bool:
    """Whether a robots.txt answer says the site is unavailable (RFC 9309, 2.3.1.3)."""
    return status >= 500 or status == 429


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    """Scrapy's, with a 5xx or unreachable robots.txt read as complete disallow (module docstring)."""

    crawler: Any

    async def robot_parser(self, request: Request) -> Any:
        """The parser of the request's site, the same for every request that waited for it.

        Scrapy's hands the parser to the first request waiting for robots.txt and None (allow
        all) to the others: each awaits the same Deferred through `asFuture`, whose callback
        passes None down the chain. Once robots.txt is read, the parser stands in `_parsers`.
        """
        parser = await super().robot_parser(request)
        settled = self._parsers.get(urlparse_cached(request).netloc, parser)
        return parser if isinstance(settled, Deferred) else settled

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if not unavailable(response.status):
            await super()._parse_robots(response, netloc, request)
            return
        await super()._parse_robots(response.replace(body=DISALLOW_ALL), netloc, request)
        self._site_unavailable(netloc, f"answered {response.status}")

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if isinstance(exc, IgnoreRequest):
            super()._robots_error(exc, netloc)
            return
        # Unreachable (after Scrapy's retries): complete disallow too (RFC 9309, 2.3.1.4).
        pending = self._parsers[netloc]
        self._parsers[netloc] = parser = self._disallow_all()
        if isinstance(pending, Deferred):
            pending.callback(parser)
        self._site_unavailable(netloc, f"could not be fetched ({exc.__class__.__name__}: {exc})")

    def _disallow_all(self) -> Any:
        return build_from_crawler(self._parserimpl, self.crawler, DISALLOW_ALL)

    def _site_unavailable(self, netloc: str, what: str) -> None:
        self.crawler.stats.inc_value("newswatch/robots_unavailable")
        logger.warning("robots.txt of %s %s: the site is unavailable (RFC 9309): nothing is fetched from it, "
                       "the crawl stops (incomplete)", netloc, what)
        closing = deferred_from_coro(self.crawler.engine.close_spider_async(reason=CLOSE_REASON))
        closing.addErrback(lambda failure: logger.error("could not close the spider: %s", failure.value))
