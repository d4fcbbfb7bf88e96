"""A progress line on the operator's terminal while a crawl runs (`Progress`, in EXTENSIONS).

`run 3: 1,204 articles checked (19,800 known), 12 new, 2 failed, 12.3/s, 1 min 38 s`, redrawn
every second in place. Only when stderr is a terminal: never in a log file, a pipe (the
scheduler's journal) or a test, where Scrapy's periodic LogStats line (at DEBUG, crawler.logs)
is the one that counts pages. A log line clears it first and it is drawn again the next second;
it is gone before the run's summary is logged.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from typing import Any, TextIO

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call
from scrapy.utils.log import get_scrapy_root_handler

from crawler import signals as newswatch_signals
from crawler.runs import Run
from crawler.summary import duration, plural
from storage.runs import FAILED_FETCHES, FETCHES

INTERVAL = 1.0  # seconds between two drawings
_CLEAR = "\r\x1b[K"  # back to the start of the line, erase it (ANSI "erase in line")


class Progress:
    """Draws the crawl's progress on a terminal (module docstring)."""

    def __init__(self, stats: Any, stream: TextIO) -> None:
        self.stats = stats
        self.stream = stream
        self.run: Run | None = None
        self.shown = False
        self.clock = time.monotonic()
        self.loop: Any = None
        self.handler: logging.Handler | None = None
        self.clearing = _ClearFirst(self)

    @classmethod
    def from_crawler(cls, crawler: Any) -> Progress:
        if not sys.stderr.isatty():
            raise NotConfigured  # without a message: Scrapy would log a warning for it
        progress = cls(crawler.stats, sys.stderr)
        crawler.signals.connect(progress.run_started, signal=newswatch_signals.run_started)
        crawler.signals.connect(progress.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(progress.spider_closed, signal=signals.spider_closed)
        return progress

    def run_started(self, run: Run) -> None:
        self.run = run

    def spider_opened(self) -> None:
        self.clock = time.monotonic()
        # Scrapy's handler of the console, as final once the spider opens: log lines clear ours first.
        handler = get_scrapy_root_handler()
        if isinstance(handler, logging.StreamHandler) and handler.stream is self.stream:
            self.handler = handler
            handler.addFilter(self.clearing)
        self.loop = create_looping_call(self.draw)
        self.loop.start(INTERVAL, now=False)

    def spider_closed(self) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.clear()
        if self.handler is not None:
            self.handler.removeFilter(self.clearing)

    def line(self) -> str:
        """The progress so far, in words."""
        value = self.stats.get_value
        checked = sum(value(f"newswatch/{key}", 0) for key in FETCHES)
        failed = sum(value(f"newswatch/{key}", 0) for key in FAILED_FETCHES)
        seconds = time.monotonic() - self.clock
        run = f"run {self.run.id}" if self.run is not None else "crawl"
        known = f" ({len(self.run.known):,} known)" if self.run is not None else ""
        return (f"{run}: {plural(checked, 'article')} checked{known}, {value('newswatch/articles_new', 0):,} new, "
                f"{failed:,} failed, {checked / max(seconds, 1):.1f}/s, {duration(seconds)}")

    def draw(self) -> None:
        width = shutil.get_terminal_size().columns
        self.stream.write(_CLEAR + self.line()[: max(width - 1, 10)])  # never wraps: \r goes back one line only
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self.shown = False


class _ClearFirst(logging.Filter):
    """A filter of the console's handler: clears the progress line before a log line is written."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.clear()
        return True
