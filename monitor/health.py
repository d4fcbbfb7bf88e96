"""Is newswatch healthy? What the operator must hear about: our own failures, never the site's changes.

The problems: the last run failed (critical) or is incomplete (warning); a run is held for the
operator (warning, monitor.brake); no complete run for longer than `stale_after` (critical: the
scheduler stopped silently); e-mail failing for longer than `mail_failing_after` (critical).
`newswatch health` prints them in the Nagios convention (exit 0 OK, 1 WARNING, 2 CRITICAL);
monitor.mail.operator mails each problem to the operator once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the database is read by `check` only: the command line's options read the rest
    from sqlalchemy.orm import Session

    from storage.notices import Active

OK, WARNING, CRITICAL = 0, 1, 2
SEVERITIES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}
DEFAULT_STALE_AFTER = dt.timedelta(hours=36)
DEFAULT_MAIL_FAILING_AFTER = dt.timedelta(hours=6)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "": "hours"}


def duration(value: str) -> dt.timedelta:
    """`36h`, `90m`, `2d`, `45s` (a bare number is hours); ValueError for anything else."""
    found = _DURATION.fullmatch(value.strip().lower())
    if not found or float(found.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration: use a number of hours, or e.g. 36h, 90m, 2d")
    return dt.timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})


@dataclass(frozen=True)
class HealthSettings:
    """How long without a complete run, and with e-mail failing, before the operator must know."""

    stale_after: dt.timedelta = DEFAULT_STALE_AFTER
    mail_failing_after: dt.timedelta = DEFAULT_MAIL_FAILING_AFTER


@dataclass(frozen=True)
class Problem:
    """One thing wrong: a stable key (one e-mail per key), how bad, and one line of why."""

    key: str
    severity: int
    message: str

    def active(self) -> Active:
        from storage.notices import Active

        return Active(self.key, SEVERITIES[self.severity].lower(), self.message)


@dataclass(frozen=True)
class Health:
    """The problems found (worst first) and the runs they were judged on."""

    problems: tuple[Problem, ...]
    last_run: int | None
    last_complete_run: int | None
    last_complete_at: dt.datetime | None

    @property
    def status(self) -> int:
        return max((problem.severity for problem in self.problems), default=OK)

    def line(self, now: dt.datetime) -> str:
        """One line, Nagios style: `CRITICAL: run 14 failed: ...; run 13 held: ...`."""
        if self.problems:
            return f"{SEVERITIES[self.status]}: " + "; ".join(problem.message for problem in self.problems)
        return (f"OK: run {self.last_complete_run} complete {ago(now - self.last_complete_at)} ago"
                if self.last_complete_at else "OK")

    def as_json(self, now: dt.datetime) -> dict[str, object]:
        return {"status": SEVERITIES[self.status].lower(), "exit": self.status, "line": self.line(now),
                "problems": [{"problem": p.key, "severity": SEVERITIES[p.severity].lower(), "message": p.message}
                             for p in self.problems],
                "last_run": self.last_run, "last_complete_run": self.last_complete_run,
                "last_complete_at": self.last_complete_at.isoformat() if self.last_complete_at else None}


def ago(span: dt.timedelta) -> str:
    """`3 h`, `2 d 4 h`, `12 min`."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h" if hours else f"{minutes} min"


def check(session: Session, settings: HealthSettings = HealthSettings(), *,
          now: dt.datetime | None = None) -> Health:
    """The health of the database's runs and outbox at `now`."""
    from sqlalchemy import select

    from storage.models import CrawlRun
    now = now or dt.datetime.now(dt.UTC)
    finished = select(CrawlRun).where(CrawlRun.status != "running").order_by(CrawlRun.id.desc())
    last = session.scalars(finished.limit(1)).first()
    complete = session.scalars(finished.where(CrawlRun.status == "complete").limit(1)).first()
    held = session.scalars(select(CrawlRun).where(CrawlRun.hold == "held").order_by(CrawlRun.id)).all()
    problems = []
    if last is not None and last.status == "failed":
        problems.append(Problem(f"run {last.id} failed", CRITICAL, f"run {last.id} failed: {last.error or 'no reason'}"))
    if last is not None and last.status == "incomplete":
        problems.append(Problem(f"run {last.id} incomplete", WARNING,
                                f"run {last.id} incomplete: {last.error or 'the crawl stopped before its end'}"))
    problems += [Problem(f"run {run.id} held", WARNING,
                         f"run {run.id} held: {run.hold_reason} (`newswatch release {run.id}` sends its digests, "
                         f"`newswatch rebaseline {run.id}` accepts it silently)") for run in held]
    complete_at = (complete.finished_at or complete.started_at) if complete else None
    if complete_at is None or now - complete_at > settings.stale_after:
        since = f"since run {complete.id}, {ago(now - complete_at)} ago" if complete and complete_at else "ever"
        problems.append(Problem("stale", CRITICAL, f"no complete run {since} (the limit is "
                                f"{ago(settings.stale_after)}): is the scheduler running?"))
    problems += _mail_failing(session, settings, now)
    problems.sort(key=lambda problem: -problem.severity)
    return Health(tuple(problems), last.id if last else None, complete.id if complete else None, complete_at)


def _mail_failing(session: Session, settings: HealthSettings, now: dt.datetime) -> list[Problem]:
    """E-mail failing: digests pending after failed attempts, the oldest for longer than the limit."""
    from sqlalchemy import func, select

    from storage.models import Delivery
    failing = (Delivery.status == "pending") & Delivery.last_error.is_not(None) & (Delivery.attempts > 0)
    oldest = session.scalar(select(func.min(Delivery.created_at)).where(failing))
    if oldest is None or now - oldest <= settings.mail_failing_after:
        return []
    count = session.scalar(select(func.count()).select_from(Delivery).where(failing)) or 0
    error = session.scalar(select(Delivery.last_error).where(failing).order_by(Delivery.id.desc()).limit(1))
    return [Problem("smtp", CRITICAL, f"e-mail failing for {ago(now - oldest)}: {count} digest"
                    f"{'' if count == 1 else 's'} pending, the last error: {error}")]
