"""Extraction in worker processes, the pages sent in small batches.

A task of its own per page cost the crawl process about as much CPU as storing the page
(0.2 ms): the executor's threads pickle, wake and hand back every result under the reactor's
GIL. Pages are therefore gathered for a few milliseconds (or until a batch is full) and
extracted together; each page still gets its own result or its own error.

A worker that dies (killed for its memory, say) fails the pages of the batches in flight, and
the next batch starts new workers: the crawl goes on, and the lost pages count as failures.
Each page is extracted within `bounds.Limits` in its worker: one too large or too slow fails
alone (`ExtractionRefused`), and the worker goes on with the next. The time limit is a signal,
which C code (a regular expression, a parser) does not see until it returns: should the pool
make no progress for the time a whole batch may take at the limit, its workers are killed, the
pages in flight fail, and new workers take the next batch.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from crawler.extraction.article import Extracted
from crawler.extraction.bounds import UNBOUNDED, Limits, bounded_extract
from crawler.sites import SiteProfile

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# The watchdog waits at least this long: starting a worker (spawn, imports) takes seconds.
MIN_STALL_SECONDS = 30.0


class ExtractionPool:
    """`await pool.extract(body, url)` in worker processes; `close()` when the crawl ends."""

    def __init__(self, workers: int, profile: SiteProfile, batch_size: int = 8, wait_seconds: float = 0.01,
                 extract_pages: Callable[[list[tuple[bytes, str]], SiteProfile], list[Extracted | Exception]] | None = None,
                 limits: Limits = UNBOUNDED, stall_seconds: float | None = None):
        self.workers = workers
        self.executor = self._start()
        self.profile, self.batch_size, self.wait_seconds = profile, batch_size, wait_seconds
        self.extract_pages = extract_pages or functools.partial(extract_batch, limits=limits)
        self.pending: list[tuple[bytes, str, asyncio.Future[Extracted]]] = []
        self.timer: asyncio.TimerHandle | None = None
        # The watchdog: batches in flight, when one last came back, how long a stall may last.
        self.in_flight = 0
        self.progress_at = 0.0
        self.stall_seconds = stall_seconds if stall_seconds is not None else (
            max(MIN_STALL_SECONDS, limits.seconds * (batch_size + 1)) if limits.seconds else 0.0)
        self.watchdog: asyncio.TimerHandle | None = None

    async def extract(self, body: bytes, url: str) -> Extracted:
        """The page's article; raises what `extract` raises for this page alone, or
        BrokenProcessPool when a worker died with the page's batch."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Extracted] = loop.create_future()
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
        if not self.in_flight:
            self.progress_at = loop.time()
        self.in_flight += 1
        done.add_done_callback(lambda outcome: self._returned([result for _, _, result in batch], outcome))
        if self.stall_seconds and self.watchdog is None:
            self.watchdog = loop.call_later(self.stall_seconds, self._check_progress)

    def _returned(self, results: list[asyncio.Future[Extracted]], outcome: asyncio.Future[list[Any]]) -> None:
        self.in_flight -= 1
        self.progress_at = asyncio.get_running_loop().time()
        _settle(results, outcome)

    def _check_progress(self) -> None:
        """Kill the workers if no batch came back for `stall_seconds` while some are in flight."""
        self.watchdog = None
        if not self.in_flight:
            return
        loop = asyncio.get_running_loop()
        stalled = loop.time() - self.progress_at
        if stalled >= self.stall_seconds:
            logger.error("extraction made no progress for %.0f s (a page past the time limit in C code): "
                         "ending its workers; the pages in flight fail", stalled)
            for process in list(getattr(self.executor, "_processes", {}).values()):
                process.kill()  # their batches fail with BrokenProcessPool; the next send starts new ones
            self.progress_at = loop.time()
        self.watchdog = loop.call_later(max(0.1, self.stall_seconds - (loop.time() - self.progress_at)),
                                        self._check_progress)

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the crawl process lines threads (Twisted's DNS pool, SQLite).
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=die_with_parent, initargs=(os.getpid(),))

    def close(self) -> None:
        for timer in (self.timer, self.watchdog):
            if timer is not None:
                timer.cancel()
        self.executor.shutdown(wait=True, cancel_futures=True)


def die_with_parent(parent: int) -> None:
    """In a worker, first: die when the crawl does, even killed -9 (Linux's PR_SET_PDEATHSIG).

    A worker left behind would hold the crawl's stderr open, so whoever waits for the end of the
    crawl's log (the scheduler's job) would wait forever. The signal comes when the thread that
    started the worker ends: the crawl's main thread, which submits the batches.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the crawl died before the worker could ask
        os._exit(1)


def extract_batch(pages: list[tuple[bytes, str]], profile: SiteProfile,
                  limits: Limits = UNBOUNDED) -> list[Extracted | Exception]:
    """In a worker: each page's article, or the exception its extraction raised (within `limits`)."""
    outcomes: list[Extracted | Exception] = []
    for body, url in pages:
        try:
            outcomes.append(bounded_extract(body, url, profile, limits))
        except Exception as error:  # noqa: BLE001 -- one page's failure, whatever it is, is that page's alone
            outcomes.append(error)
    release_freed_memory()
    return outcomes


def release_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc's malloc_trim), after each batch.

    A page's parse tree (libxml2's nodes, lxml's proxies) is freed when the page is done, but the
    holes it leaves in the heap stay resident: a worker's heap grew about 9 MB more without this,
    on pages of the real site's size. It costs about 0.5 ms a batch of 8 (extraction: 15 ms a page).
    """
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _settle(results: list[asyncio.Future[Extracted]], outcome: asyncio.Future[list[Extracted | Exception]]) -> None:
    """Hand each page's outcome to its waiting item; a failed batch (a worker died) fails them all."""
    if outcome.cancelled() or outcome.exception() is not None:
        error = outcome.exception() if not outcome.cancelled() else asyncio.CancelledError()
        failure = error if error is not None else asyncio.CancelledError()
        outcomes: Sequence[Extracted | BaseException] = [failure] * len(results)
    else:
        outcomes = outcome.result()
    for result, value in zip(results, outcomes, strict=False):
        if result.done():
            continue  # the item was cancelled meanwhile
        if isinstance(value, BaseException):
            result.set_exception(value)
        else:
            result.set_result(value)
