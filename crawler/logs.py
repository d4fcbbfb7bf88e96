"""What a crawl's log shows the operator: its own lines, warnings and errors; Scrapy's detail at DEBUG.

Scrapy reports at INFO what matters to whoever debugs a crawl: its version banner, the enabled
add-ons, extensions, middlewares and pipelines, the overridden settings, a periodic page count
and the final stats dict (a hundred lines a run). The add-on `OperatorLog` (in ADDONS) has
those records logged at DEBUG instead, by the logger and the start of the message that writes
them: `NEWSWATCH_LOG_LEVEL=DEBUG` shows them again, and a log file (`LOG_FILE`, or
`NEWSWATCH_LOG_FILE`) keeps them all. What is left at INFO is the run's start and its summary
(crawler.runs), with every warning and error.
"""

from __future__ import annotations

import logging

from scrapy.settings import BaseSettings

# Scrapy's (and Alembic's) detail: logger -> the start of each message to log at DEBUG.
DETAIL: dict[str, tuple[str, ...]] = {
    "scrapy.utils.log": ("Scrapy ", "Versions:"),
    "scrapy.addons": ("Enabled addons",),
    "scrapy.middleware": ("Enabled ",),
    "scrapy.crawler": ("Overridden settings",),
    # Closing for another reason than the end (a signal, a lost lock) stays in view.
    "scrapy.core.engine": ("Spider opened", "Closing spider (finished)", "Spider closed"),
    "scrapy.extensions.logstats": ("Crawled ",),
    "scrapy.extensions.memusage": ("Peak memory usage",),
    "scrapy.statscollectors": ("Dumping Scrapy stats",),
    # Migrating the database says which upgrades it runs ("Running upgrade"), and more.
    "alembic.runtime.plugins": ("setup plugin",),
    "alembic.runtime.migration": ("Context impl", "Will assume"),
}


class AtDebug(logging.Filter):
    """A logger's filter that logs its INFO records starting with one of `starts` at DEBUG."""

    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.getMessage().startswith(self.starts):
            # Handlers compare the record's level with theirs after the logger's filters.
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


class OperatorLog:
    """Add-on: Scrapy's detail at DEBUG in the console, all of it in a log file (module docstring)."""

    @classmethod
    def update_pre_crawler_settings(cls, settings: BaseSettings) -> None:
        # Before Scrapy configures logging and logs its banner; a logger's filters survive that
        # (logging.config.dictConfig resets the levels of Scrapy's loggers, not their filters).
        detail_at_debug(enabled=not settings.get("LOG_FILE"))


def detail_at_debug(*, enabled: bool = True) -> None:
    """Log Scrapy's detail (DETAIL) at DEBUG in this process, or at its own level again."""
    for name, starts in DETAIL.items():
        logger = logging.getLogger(name)
        for installed in [f for f in logger.filters if isinstance(f, AtDebug)]:
            logger.removeFilter(installed)
        if enabled:
            logger.addFilter(AtDebug(starts))
