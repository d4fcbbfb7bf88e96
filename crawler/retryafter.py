"""Retry-After honoured: a 429 or 503 that says when to come back is retried no sooner, and the
crawl sends nothing else to that site meanwhile.

Scrapy's RetryMiddleware retries a 429 or 503 at once and reads no Retry-After (scrapy/scrapy#3849;
its maintainers mean to throttle such responses one day, scrapy/scrapy#6660). `RetryAfterMiddleware`
takes its place in DOWNLOADER_MIDDLEWARES: it retries as Scrapy does (RETRY_TIMES, RETRY_HTTP_CODES,
`dont_retry`), and on a Retry-After (seconds, or an HTTP date) it holds the download slot of the
request's site for that long: the retry and every other request to the site wait in the slot's
queue, as they do behind DOWNLOAD_DELAY. A site that asks for longer than
NEWSWATCH_RETRY_AFTER_MAX is left alone for that long, and the request is not retried: a failed
fetch of the run (incomplete, no removals), never a change.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from typing import Any, Self

from scrapy import signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from scrapy.utils.asyncio import call_later
from scrapy.utils.response import response_status_message

logger = logging.getLogger(__name__)

# The statuses whose Retry-After asks a client to wait (RFC 9110, 10.2.3; RFC 6585, 4).
WAIT_STATUSES = (429, 503)


class RetryAfterMiddleware(RetryMiddleware):
    """Scrapy's retries, with Retry-After honoured by the whole crawl of the site (module docstring)."""

    crawler: Any

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.max_wait = settings.getfloat("NEWSWATCH_RETRY_AFTER_MAX")
        self.resume_at: dict[str, float] = {}  # download slot -> when it may send again (monotonic)

    @classmethod
    def from_crawler(cls, crawler: Any) -> Self:
        middleware = cls(crawler.settings)
        middleware.crawler = crawler
        crawler.signals.connect(middleware.response_downloaded, signal=signals.response_downloaded)
        return middleware

    def response_downloaded(self, response: Response, request: Request) -> None:
        """Hold the site as soon as the answer is in: the downloader sends its next request from
        the slot right after this signal, before the answer reaches `process_response`."""
        wait = retry_after(response) if response.status in WAIT_STATUSES else None
        if wait is not None:
            self.hold(request, min(wait, self.max_wait))

    def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        wait = retry_after(response) if response.status in WAIT_STATUSES else None
        if wait is None:
            return super().process_response(request, response)
        stats = self.crawler.stats
        stats.inc_value("newswatch/retry_after")
        self.hold(request, min(wait, self.max_wait))  # done already, unless the signal came from elsewhere
        if wait > self.max_wait:
            stats.inc_value("newswatch/retry_after_too_long")
            logger.warning("%s answered %d asking to wait %.0f s, more than NEWSWATCH_RETRY_AFTER_MAX (%g s): "
                           "not retried; nothing sent to the site for %g s", request.url, response.status, wait,
                           self.max_wait, self.max_wait)
            return response
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        logger.info("%s answered %d with Retry-After: nothing sent to the site for %.0f s, then retried",
                    request.url, response.status, wait)
        return self._retry(request, response_status_message(response.status)) or response

    def hold(self, request: Request, seconds: float) -> None:
        """Send nothing more to the request's download slot (its site) for `seconds`.

        A slot whose `latercall` is set does not send from its queue before that call
        (scrapy.core.downloader.Downloader._process_queue): the hold is such a call.
        """
        downloader = self.crawler.engine.downloader
        key = request.meta.get("download_slot") or downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        until = time.monotonic() + seconds
        if slot is None or until <= self.resume_at.get(key, 0.0):
            return
        self.resume_at[key] = until
        if slot.latercall is not None:
            slot.latercall.cancel()
        slot.latercall = call_later(seconds, downloader._latercall, slot)


def retry_after(response: Response, now: dt.datetime | None = None) -> float | None:
    """The seconds a response's Retry-After asks to wait (0 for a date past), or None without one."""
    value = response.headers.get(b"Retry-After")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())
