"""Is newswatch healthy? What the operator must hear about: our own failures, never the site's changes.

The problems: the last run failed (critical) or is incomplete (warning); a run is held for the
operator (warning, monitor.brake); no complete run for longer than `stale_after` (critical: the
scheduler stopped silently); e-mail failing for longer than `mail_failing_after` (critical).
With several sites, each is judged on its own runs, and its problems carry its name (`stale partner`,
`run 15 of partner failed`); with one, they are named as before (`stale`, `run 15 failed`).
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
class JudgedSite:
    """A site judged on its own runs, and when its profile file was last written (None: no file)."""

    name: str
    profile_written_at: dt.datetime | None = None


@dataclass(frozen=True)
class HealthSettings:
    """How long without a complete run, and with e-mail failing, before the operator must know; and
    the sites judged, each on its own runs (none: every run together, as one site)."""

    stale_after: dt.timedelta = DEFAULT_STALE_AFTER
    mail_failing_after: dt.timedelta = DEFAULT_MAIL_FAILING_AFTER
    sites: tuple[JudgedSite, ...] = ()


@dataclass(frozen=True)
class Problem:
    """One thing wrong: a stable key (one e-mail per key), how bad, one line of why, and its site
    (when there are several sites)."""

    key: str
    severity: int
    message: str
    site: str | None = None

    def active(self) -> Active:
        from storage.notices import Active

        return Active(self.key, SEVERITIES[self.severity].lower(), self.message)


@dataclass(frozen=True)
class SiteHealth:
    """The runs one site (every run, with one site) was judged on, and since when it is configured:
    the earlier of its profile file's time and its first run (None when neither is known)."""

    site: str | None
    last_run: int | None
    last_status: str | None
    last_complete_run: int | None
    last_complete_at: dt.datetime | None
    configured_at: dt.datetime | None = None


@dataclass(frozen=True)
class Health:
    """The problems found (worst first) and the runs they were judged on: those of each site when there
    are several (`sites`), else of every run."""

    problems: tuple[Problem, ...]
    last_run: int | None
    last_complete_run: int | None
    last_complete_at: dt.datetime | None
    sites: tuple[SiteHealth, ...] = ()

    @property
    def status(self) -> int:
        return max((problem.severity for problem in self.problems), default=OK)

    def site_status(self, site: str | None) -> int:
        return max((problem.severity for problem in self.problems if problem.site == site), default=OK)

    def line(self, now: dt.datetime) -> str:
        """One line, Nagios style: `CRITICAL: run 14 failed: ...; run 13 held: ...`."""
        if self.problems:
            return f"{SEVERITIES[self.status]}: " + "; ".join(problem.message for problem in self.problems)
        if self.sites:
            return f"OK: {len(self.sites)} sites, each with a recent complete run"
        return (f"OK: run {self.last_complete_run} complete {ago(now - self.last_complete_at)} ago"
                if self.last_complete_at else "OK")

    def lines(self, now: dt.datetime) -> list[str]:
        """The line, then one per site when there are several (Nagios: the long output)."""
        return [self.line(now), *(self._site_line(site, now) for site in self.sites)]

    def _site_line(self, site: SiteHealth, now: dt.datetime) -> str:
        """`partner: CRITICAL, run 12 complete 2 d 3 h ago, then run 15 failed`."""
        said = f"{site.site}: {SEVERITIES[self.site_status(site.site)]}"
        if site.last_complete_run is not None and site.last_complete_at is not None:
            said += f", run {site.last_complete_run} complete {ago(now - site.last_complete_at)} ago"
            if site.last_run != site.last_complete_run:
                said += f", then run {site.last_run} {site.last_status}"
            return said
        said += ", no complete run"
        if site.last_run is not None:
            said += f", run {site.last_run} {site.last_status}"
        return said + (f" (configured {ago(now - site.configured_at)} ago)" if site.configured_at else "")

    def as_json(self, now: dt.datetime) -> dict[str, object]:
        several = bool(self.sites)
        found: dict[str, object] = {
            "status": SEVERITIES[self.status].lower(), "exit": self.status, "line": self.line(now),
            "problems": [{"problem": p.key, "severity": SEVERITIES[p.severity].lower(), "message": p.message,
                          **({"site": p.site} if several else {})} for p in self.problems],
            "last_run": self.last_run, "last_complete_run": self.last_complete_run,
            "last_complete_at": _iso(self.last_complete_at)}
        if several:
            found["sites"] = [{"site": site.site, "status": SEVERITIES[self.site_status(site.site)].lower(),
                               "problems": [p.key for p in self.problems if p.site == site.site],
                               "last_run": site.last_run, "last_run_status": site.last_status,
                               "last_complete_run": site.last_complete_run,
                               "last_complete_at": _iso(site.last_complete_at),
                               "configured_at": _iso(site.configured_at)} for site in self.sites]
        return found


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


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
    """The health of the database's runs and outbox at `now`: with several sites, each judged on its own runs
    (its problems named after it: `stale partner`), else every run together (`stale`)."""
    from sqlalchemy import select

    from storage.models import CrawlRun
    now = now or dt.datetime.now(dt.UTC)
    several = len(settings.sites) > 1
    problems: list[Problem] = []
    judged = []
    for site in settings.sites if several else settings.sites[:1] or (None,):
        found, site_problems = _judge(session, site, several, settings, now)
        judged.append(found)
        problems += site_problems
    held = session.scalars(select(CrawlRun).where(CrawlRun.hold == "held").order_by(CrawlRun.id)).all()
    problems += [Problem(f"run {run.id}{_of(run.site if several else None)} held", WARNING,
                         f"run {run.id}{_of(run.site if several else None)} held: {run.hold_reason} (`newswatch "
                         f"release {run.id}` sends its digests, `newswatch rebaseline {run.id}` accepts it silently)",
                         run.site if several else None) for run in held]
    problems += _mail_failing(session, settings, now)
    problems.sort(key=lambda problem: -problem.severity)
    last = max((j.last_run for j in judged if j.last_run is not None), default=None)
    complete = max((j for j in judged if j.last_complete_at is not None),
                   key=lambda j: j.last_complete_at or now, default=None)
    return Health(tuple(problems), last, complete.last_complete_run if complete else None,
                  complete.last_complete_at if complete else None, tuple(judged) if several else ())


def _judge(session: Session, site: JudgedSite | None, several: bool, settings: HealthSettings,
           now: dt.datetime) -> tuple[SiteHealth, list[Problem]]:
    """The runs of `site` (None: every run) and their problems: the last one failed or incomplete,
    no complete run for too long; named after the site when there are `several`."""
    from sqlalchemy import func, select, true

    from storage.models import CrawlRun
    name = site.name if site and several else None
    of_site = (CrawlRun.site == site.name) if site else true()
    finished = select(CrawlRun).where(of_site, CrawlRun.status != "running").order_by(CrawlRun.id.desc())
    last = session.scalars(finished.limit(1)).first()
    complete = session.scalars(finished.where(CrawlRun.status == "complete").limit(1)).first()
    configured_at = None
    if site is not None and several:  # since when it should have had a complete run: a site of a day has had one night
        first_run = session.scalar(select(func.min(CrawlRun.started_at)).where(of_site))
        configured_at = min((t for t in (site.profile_written_at, first_run) if t is not None), default=None)
    problems = []
    if last is not None and last.status == "failed":
        problems.append(Problem(f"run {last.id}{_of(name)} failed", CRITICAL,
                                f"run {last.id}{_of(name)} failed: {last.error or 'no reason'}", name))
    if last is not None and last.status == "incomplete":
        problems.append(Problem(f"run {last.id}{_of(name)} incomplete", WARNING,
                                f"run {last.id}{_of(name)} incomplete: "
                                f"{last.error or 'the crawl stopped before its end'}", name))
    complete_at = (complete.finished_at or complete.started_at) if complete else None
    stale = _stale(name, complete.id if complete else None, complete_at, configured_at, settings, now)
    found = SiteHealth(name, last.id if last else None, last.status if last else None,
                       complete.id if complete else None, complete_at, configured_at)
    return found, problems + ([stale] if stale else [])


def _stale(site: str | None, complete_run: int | None, complete_at: dt.datetime | None,
           configured_at: dt.datetime | None, settings: HealthSettings, now: dt.datetime) -> Problem | None:
    """No complete run for longer than `stale_after`: since the last one, else since the site was configured
    (with one site, or a site configured at a time unknown: at once)."""
    if complete_at is not None:
        if now - complete_at <= settings.stale_after:
            return None
        since = f"since run {complete_run}, {ago(now - complete_at)} ago"
    elif configured_at is not None:
        if now - configured_at <= settings.stale_after:
            return None
        since = f"ever, configured {ago(now - configured_at)} ago"
    else:
        since = "ever"
    limit = f"(the limit is {ago(settings.stale_after)})"
    if site is None:
        return Problem("stale", CRITICAL, f"no complete run {since} {limit}: is the scheduler running?")
    return Problem(f"stale {site}", CRITICAL,
                   f"no complete run of {site} {since} {limit}: is the scheduler running, does {site}'s crawl end?",
                   site)


def _of(site: str | None) -> str:
    return f" of {site}" if site else ""


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
