"""The Scrapy extension that runs change detection when a crawl's run is recorded (first for the
failed runs before it: crawls killed after storing versions, monitor.detect.detect_abandoned).

Enabled in crawler/settings.py by its dotted path, so the crawler never imports the monitor.
"""

from __future__ import annotations

import logging

from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crawler import signals as newswatch_signals
from monitor.brake import BrakeSettings
from monitor.detect import detect_abandoned, detect_run
from storage.models import CrawlRun
from storage.outbox import count_pending

logger = logging.getLogger(__name__)


class DetectChanges:
    """On `run_finished`, write the run's changes (and queue their digests); their counts go to the
    stats (`newswatch/changes_KIND`, `newswatch/digests_queued`), from which the run's summary is made."""

    def __init__(self, stats: StatsCollector, brake: BrakeSettings | None = None) -> None:
        self.stats = stats
        self.brake = brake or BrakeSettings()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DetectChanges:
        settings = crawler.settings
        brake = BrakeSettings(settings.getfloat("NEWSWATCH_MAX_EDIT_SHARE"), settings.getint("NEWSWATCH_HOLD_MIN_COUNT"))
        extension = cls(crawler.stats, brake)
        crawler.signals.connect(extension.run_finished, signal=newswatch_signals.run_finished)
        return extension

    def run_finished(self, run_id: int, status: str, engine: Engine) -> None:
        try:
            with Session(engine) as session, session.begin():
                # First what crawls killed since the last run that ended stored: every stored
                # version's change is reported once, whatever run stored it.
                if (run := session.get(CrawlRun, run_id)) is not None:
                    detect_abandoned(session, run.site, before=run_id, brake=self.brake)
                changes = detect_run(session, run_id, self.brake)
                kinds = [change.kind for change in changes]
                queued = count_pending(session, run_id)
                held = session.get_one(CrawlRun, run_id).hold_reason
        except SQLAlchemyError:
            logger.exception("change detection of run %s failed; `newswatch detect --run %s` retries it",
                             run_id, run_id)
            self.stats.set_value("newswatch/detect_failed", 1)
            return
        for kind in ("added", "edited", "removed", "restored"):
            self.stats.set_value(f"newswatch/changes_{kind}", kinds.count(kind))
        self.stats.set_value("newswatch/digests_queued", queued)
        if held:
            self.stats.set_value("newswatch/held", held)
