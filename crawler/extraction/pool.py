"""Extraction in worker processes, the pages sent in small batches.

A task of its own per page cost the crawl process about as much CPU as storing the page
(0.2 ms): the executor's threads pickle, wake and hand back every result under the reactor's
GIL. Pages are therefore gathered for a few milliseconds (or until a batch is full) and
extracted together; each page still gets its own result or its own error.

A worker that dies (killed for its memory, say) fails the pages of the batches in flight, and
the next batch starts new workers: the crawl goes on, and the lost pages count as failures.
Each page is extracted within `bounds.Limits` in its worker: one too large or too slow fails
alone (`ExtractionRefused`), and the worker goes on with the next.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from crawler.extraction.article import Extracted
from crawler.extraction.bounds import UNBOUNDED, Limits, bounded_extract
from crawler.sites import SiteProfile

logger = logging.getLogger(__name__)


class ExtractionPool:
    """`await pool.extract(body, url)` in worker processes; `close()` when the crawl ends."""

    def __init__(self, workers: int, profile: SiteProfile, batch_size: int = 8, wait_seconds: float = 0.01,
                 extract_pages: Callable[[list[tuple[bytes, str]], SiteProfile], list] | None = None,
                 limits: Limits = UNBOUNDED):
        self.workers = workers
        self.executor = self._start()
        self.profile, self.batch_size, self.wait_seconds = profile, batch_size, wait_seconds
        self.extract_pages = extract_pages or functools.partial(extract_batch, limits=limits)
        self.pending: list[tuple[bytes, str, asyncio.Future]] = []
        self.timer: asyncio.TimerHandle | None = None

    async def extract(self, body: bytes, url: str) -> Extracted:
        """The page's article; raises what `extract` raises for this page alone, or
        BrokenProcessPool when a worker died with the page's batch."""
        loop = asyncio.get_running_loop()
        result = loop.create_future()
        self.pending.append((body, url, result))
        if len(self.pending) >= self.batch_size:
            self._send()
        elif self.timer is None:
            self.timer = loop.call_later(self.wait_seconds, self._send)
        return await result

    def _send(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if not batch:
            return
        pages = [(body, url) for body, url, _ in batch]
        loop = asyncio.get_running_loop()
        try:
            done = loop.run_in_executor(self.executor, self.extract_pages, pages, self.profile)
        except BrokenProcessPool:  # a worker died: its batches failed, new workers take the next
            logger.error("an extraction worker died; starting %d new ones", self.workers)
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = self._start()
            done = loop.run_in_executor(self.executor, self.extract_pages, pages, self.profile)
        done.add_done_callback(lambda outcome: _settle([result for _, _, result in batch], outcome))

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the crawl process lines threads (Twisted's DNS pool, SQLite).
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.executor.shutdown(wait=True, cancel_futures=True)


def extract_batch(pages: list[tuple[bytes, str]], profile: SiteProfile,
                  limits: Limits = UNBOUNDED) -> list[Extracted | Exception]:
    """In a worker: each page's article, or the exception its extraction raised (within `limits`)."""
    outcomes: list[Extracted | Exception] = []
    for body, url in pages:
        try:
            outcomes.append(bounded_extract(body, url, profile, limits))
        except Exception as error:  # noqa: BLE001 -- one page's failure, whatever it is, is that page's alone
            outcomes.append(error)
    return outcomes


def _settle(results: list[asyncio.Future], outcome: asyncio.Future) -> None:
    """Hand each page's outcome to its waiting item; a failed batch (a worker died) fails them all."""
    if outcome.cancelled() or outcome.exception() is not None:
        error = outcome.exception() if not outcome.cancelled() else asyncio.CancelledError()
        outcomes: list = [error] * len(results)
    else:
        outcomes = outcome.result()
    for result, value in zip(results, outcomes, strict=False):
        if result.done():
            continue  # the item was cancelled meanwhile
        if isinstance(value, BaseException):
            result.set_exception(value)
        else:
            result.set_result(value)
