"""The exit status of `scrapy crawl news`: what cron, systemd and the scheduler are told.

- 0: the run is complete.
- 1: the crawl did not start: the database refused it (unreachable, read-only, locked), or
  another crawl holds the lock. Nothing was fetched.
- 2: a bad setting. Nothing was started.
- 3: the run is incomplete: the crawl could not see the whole site (what it saw is recorded; no
  removal is reported).
- 4: the run failed: the database failed while storing (a full disk, a lock held too long), or
  the run could not be closed.

No Scrapy here: the scheduler (monitor.jobs) reads these too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COMPLETE = 0
NOT_STARTED = 1  # Scrapy's own status for a crawl whose start-up failed
BAD_SETTING = 2  # Scrapy's status for a usage error
INCOMPLETE = 3
FAILED = 4

# The stat in which the run's extension (crawler.runs) leaves the status it closed the run with.
RUN_STATUS_STAT = "newswatch/run_status"
BY_RUN_STATUS = {"complete": COMPLETE, "incomplete": INCOMPLETE, "failed": FAILED}


def for_run(stats: Mapping[str, Any]) -> int:
    """The exit status of a crawl that started, from its stats: its run's status (FAILED if it has none)."""
    return BY_RUN_STATUS.get(stats.get(RUN_STATUS_STAT, "failed"), FAILED)
