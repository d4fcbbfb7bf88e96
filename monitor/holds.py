"""Holding runs: the brake's rule (monitor.brake) applied to a run as detection writes its changes,
and the operator's decision on a held run: release it (its digests are queued) or rebaseline it
(its changes accepted silently, as a baseline's)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.brake import BrakeSettings, Edit, Hold, assess
from monitor.mail.outbox import enqueue_digests
from storage.models import ArticleVersion, Change, CrawlRun
from storage.runs import RunNotFound


def compared_articles(run: CrawlRun) -> int:
    """How many known articles the run compared, from its stats: read (less the new ones), 304, gone."""
    stats = run.stats or {}
    return int(stats.get("articles_seen", 0) - stats.get("articles_new", 0) + stats.get("not_modified", 0)
               + stats.get("articles_gone", 0))


def brake_run(session: Session, run: CrawlRun, changes: Sequence[Change],
              settings: BrakeSettings | None = None) -> Hold | None:
    """Hold `run` (in the session) when its changes are a storm; the hold, or None.

    A run the operator released or rebaselined keeps that decision when its changes are recomputed;
    a rebaselined run's changes are recorded as a baseline's (never alerted, listed with --baseline).
    A baseline run is never held: it alerts nobody.
    """
    if run.hold in ("released", "rebaselined"):
        if run.hold == "rebaselined":
            for change in changes:
                change.is_baseline = True
        return None
    if run.is_baseline:
        return None
    edits = [_edit(session, change) for change in changes if change.kind == "edited"]
    removals = [change.summary for change in changes if change.kind == "removed"]
    hold = assess(edits, removals, compared_articles(run), settings or BrakeSettings())
    run.hold = "held" if hold else None
    run.hold_reason = hold.reason if hold else None
    run.hold_evidence = [common.as_json() for common in hold.evidence] if hold else None
    return hold


def _edit(session: Session, change: Change) -> Edit:
    old = session.get(ArticleVersion, change.old_version_id) if change.old_version_id else None
    new = session.get(ArticleVersion, change.new_version_id) if change.new_version_id else None
    return Edit(tuple(old.paragraphs) if old else (), tuple(new.paragraphs) if new else ())


# --------------------------------------------------------------------------- the operator's decision


class NotHeld(ValueError):
    """The run is not held: there is nothing to release or rebaseline."""


def release(session: Session, run_id: int) -> int:
    """Send a held run's digests after all; how many are now queued."""
    run = held_run(session, run_id)
    run.hold = "released"
    session.flush()
    return enqueue_digests(session, run_id)


def rebaseline(session: Session, run_id: int) -> int:
    """Accept a held run's changes silently: recorded as a baseline's, never mailed; how many changes."""
    run = held_run(session, run_id)
    run.hold = "rebaselined"
    changes = list(session.scalars(select(Change).where(Change.run_id == run_id)))
    for change in changes:
        change.is_baseline = True
    session.flush()
    enqueue_digests(session, run_id)  # cancels any digest still pending
    return len(changes)


def held_run(session: Session, run_id: int) -> CrawlRun:
    """Run `run_id` if it is held; RunNotFound or NotHeld (saying what it is) otherwise."""
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise RunNotFound(f"no crawl run {run_id}")
    if run.hold != "held":
        state = f"was {run.hold} already" if run.hold else f"is {run.status}, not held"
        raise NotHeld(f"run {run_id} {state}: nothing to decide")
    return run
