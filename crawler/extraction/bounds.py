"""Bounds on the extraction of one page: a size cap and a time limit.

Extraction is pure Python whose cost grows faster than a page's size (a page of hard-wrapped
lines costs about the square of its length): one page of a few megabytes would hold the crawl
for minutes and take a worker's memory with it. A page over the size cap is not read at all;
one whose extraction outlives the time limit is abandoned (SIGALRM in the thread that runs it,
which must be its process's main thread: a worker process, or the crawl's own thread). Both are
`ExtractionRefused`: a failed extraction of the run, never a change, and the crawl goes on.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from crawler.extraction.article import Extracted, extract
from crawler.sites import SiteProfile


class ExtractionRefused(Exception):
    """A page too large to extract, or whose extraction took too long; the message says which."""


@dataclass(frozen=True)
class Limits:
    """The bounds of one page's extraction; 0 means none."""

    max_bytes: int = 0  # NEWSWATCH_EXTRACT_MAX_BYTES
    seconds: float = 0.0  # NEWSWATCH_EXTRACT_TIMEOUT


UNBOUNDED = Limits()


def check_size(body: bytes, limits: Limits) -> None:
    """Raise ExtractionRefused for a page over the size cap."""
    if limits.max_bytes and len(body) > limits.max_bytes:
        raise ExtractionRefused(f"the page has {len(body):,} bytes, over the extraction cap of "
                                f"{limits.max_bytes:,} (NEWSWATCH_EXTRACT_MAX_BYTES)")


def bounded_extract(body: bytes, url: str, profile: SiteProfile, limits: Limits) -> Extracted:
    """`extract`, within the size cap and the time limit (ExtractionRefused beyond them)."""
    check_size(body, limits)
    with time_limit(limits.seconds):
        return extract(body, url, profile)


RAISE_AGAIN = 0.1  # seconds


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ExtractionRefused in the block once it has run `seconds` (0: no limit).

    Only the main thread receives signals: elsewhere the block runs without a limit.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    armed = True

    def expire(signum: int, frame: FrameType | None) -> None:
        if armed:  # a late signal, once the block is done, is ignored
            raise ExtractionRefused(f"extraction took more than {seconds:g} s (NEWSWATCH_EXTRACT_TIMEOUT)")

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        # Again every RAISE_AGAIN seconds until the block ends: an exception raised while the
        # interpreter runs a finaliser (a __del__, a weakref callback of the garbage collector)
        # is printed and dropped, and the block would run on without a limit.
        signal.setitimer(signal.ITIMER_REAL, seconds, RAISE_AGAIN)
        try:
            yield
        finally:
            armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
