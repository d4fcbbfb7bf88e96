"""Change detection: what one run added, edited, removed or restored, and nothing else.

Reads what the run observed (the versions it wrote, the events it noted) and the history
before it, and rewrites that run's `changes` rows, so it can be recomputed at any time.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from monitor.brake import BrakeSettings
from monitor.diff import compare
from monitor.diffview import summary
from monitor.holds import brake_run
from monitor.mail import outbox
from storage.changes import ChangeRecord, list_changes
from storage.models import CHANGE_KINDS, Article, ArticleEvent, ArticleVersion, Change, CrawlRun
from storage.runs import RunNotFound, failed_since_last_end

logger = logging.getLogger(__name__)


def detect_run(session: Session, run_id: int, brake: BrakeSettings | None = None) -> list[ChangeRecord]:
    """Write (or rewrite) the changes of run `run_id`, queue their digests (unless the brake holds
    the run, monitor.holds), and return them."""
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise RunNotFound(f"no crawl run {run_id}")
    session.execute(delete(Change).where(Change.run_id == run_id))
    events = _events(session, run_id)
    before = _states_before(session, run_id)
    changes = _content_changes(session, run, events, before)
    changed = {change.article_id for change in changes}
    changes += _returns(session, run, events, before, changed)
    if run.status == "complete":
        changes += _removals(session, run, events, before, changed)
    session.add_all(changes)
    session.flush()
    _update_states(session, {change.article_id for change in changes if change.kind in ("removed", "restored")})
    brake_run(session, run, changes, brake or BrakeSettings())
    queued = outbox.enqueue_digests(session, run_id)
    # At DEBUG: a crawl's summary line says as much (crawler.runs), `newswatch detect` prints it.
    logger.debug("run %s: %s; %d digests queued", run_id, count_summary(changes), queued)
    return list_changes(session, run_id, include_baseline=True)


def detect_abandoned(session: Session, site: str, before: int | None = None,
                     brake: BrakeSettings | None = None) -> dict[int, list[ChangeRecord]]:
    """(Re)write the changes of the failed runs of `site` since its last complete or incomplete run
    (before run `before`, if given): crawls that died (killed -9, taken over by the next crawl, or
    closed by the nightly job) after storing versions that no detection had seen.

    What such a run read for sure is reported once, by that run: its additions, edits and
    restorations, never a removal (it did not see the whole site); the versions it stored are the
    next run's "before", so the next run does not report them again. Written again when the next
    run closes (before its own changes), after that run folded a release the dead one stored at a
    new URL into the release it moved from (storage.events.record_move): then it is one edit.
    """
    found = {}
    for run_id in failed_since_last_end(session, site, before):
        if session.scalar(select(func.count()).select_from(ArticleVersion).where(ArticleVersion.run_id == run_id)):
            found[run_id] = detect_run(session, run_id, brake)
            logger.info("run %s (failed) stored versions: %s", run_id, count_summary(found[run_id]))
    return found


def count_summary(changes: Iterable[Change | ChangeRecord]) -> str:
    """`3 added, 1 edited` (or `no changes`), kinds in their usual order."""
    counts = Counter(change.kind for change in changes)
    return ", ".join(f"{counts[kind]} {kind}" for kind in CHANGE_KINDS if counts[kind]) or "no changes"


Events = dict[int, dict[str, ArticleEvent]]  # by article, by kind: a run's events
States = dict[int, str]  # by article: live or gone, before the run


def _events(session: Session, run_id: int) -> Events:
    """The run's events by article and kind (the last of each kind wins)."""
    found: dict[int, dict[str, ArticleEvent]] = defaultdict(dict)
    for event in session.scalars(select(ArticleEvent).where(ArticleEvent.run_id == run_id).order_by(ArticleEvent.id)):
        found[event.article_id][event.kind] = event
    return found


def _states_before(session: Session, run_id: int) -> dict[int, str]:
    """Articles that were gone before this run (their last removal/restoration was a removal)."""
    last = (
        select(Change.article_id, func.max(Change.id).label("id"))
        .where(Change.run_id < run_id, Change.kind.in_(("removed", "restored")))
        .group_by(Change.article_id)
        .subquery()
    )
    rows = session.execute(select(Change.article_id, Change.kind).join(last, Change.id == last.c.id))
    return {article_id: "gone" if kind == "removed" else "live" for article_id, kind in rows}


def _content_changes(session: Session, run: CrawlRun, events: Events, before: States) -> list[Change]:
    """An `added` for each first version, an `edited` (or `restored`) for each later one."""
    previous = aliased(ArticleVersion)
    previous_id = (
        select(func.max(previous.id))
        .where(previous.article_id == ArticleVersion.article_id, previous.id < ArticleVersion.id)
        .correlate(ArticleVersion)
        .scalar_subquery()
    )
    rows = session.execute(
        # A re-baseline is our reading changing, not the page: never a change (it is the `old` of
        # the version that follows it, so an edit is diffed under one extractor).
        select(ArticleVersion, previous_id).where(ArticleVersion.run_id == run.id, ArticleVersion.rebaseline.is_(False))
        .order_by(ArticleVersion.id)
    ).all()
    changes = []
    for version, old_id in rows:
        if old_id is None:
            changes.append(Change(run_id=run.id, article_id=version.article_id, kind="added", fields=[],
                                  new_version_id=version.id, summary="new release", is_baseline=run.is_baseline))
            continue
        old = session.get_one(ArticleVersion, old_id)
        diff = compare(old, version)
        returned = "back" in events.get(version.article_id, {}) and before.get(version.article_id) == "gone"
        if not diff.fields and not returned:
            continue
        text = summary(diff) if diff.fields else "back online"
        moved = events.get(version.article_id, {}).get("moved")
        if moved is not None:
            text = f"moved from {_path(moved.detail)}; {text}"
        changes.append(Change(run_id=run.id, article_id=version.article_id,
                              kind="restored" if returned else "edited", fields=list(diff.fields),
                              old_version_id=old.id, new_version_id=version.id, summary=text))
    return changes


def _returns(session: Session, run: CrawlRun, events: Events, before: States, changed: set[int]) -> list[Change]:
    """Removed articles that answer again with their stored content."""
    changes = []
    for article_id, kinds in events.items():
        if "back" in kinds and article_id not in changed and before.get(article_id) == "gone":
            current = session.get_one(Article, article_id).current_version_id
            changes.append(Change(run_id=run.id, article_id=article_id, kind="restored", fields=[],
                                  old_version_id=current, new_version_id=current, summary="back online, unchanged"))
    return changes


def _removals(session: Session, run: CrawlRun, events: Events, before: States, changed: set[int]) -> list[Change]:
    """Live articles that answered 404/410 with a second witness (crawler.witness: the run's stats
    name them); in runs recorded before that rule, every 404/410 or redirect off the articles."""
    witnessed = run.stats.get("gone_witnessed")
    changes = []
    for article_id, kinds in events.items():
        gone = kinds.get("gone")
        if gone is None or article_id in changed or before.get(article_id, "live") != "live":
            continue
        if witnessed is not None and article_id not in witnessed:
            continue
        reason = f"redirects to {_path(gone.detail)}" if gone.detail else f"answers {gone.http_status}"
        current = session.get_one(Article, article_id).current_version_id
        changes.append(Change(run_id=run.id, article_id=article_id, kind="removed", fields=[],
                              old_version_id=current, summary=f"removed: {reason}"))
    return changes


def _update_states(session: Session, article_ids: set[int]) -> None:
    """Each article's state follows its latest removal or restoration."""
    for article_id in article_ids:
        kind = session.scalar(
            select(Change.kind).where(Change.article_id == article_id, Change.kind.in_(("removed", "restored")))
            .order_by(Change.id.desc()).limit(1)
        )
        session.get_one(Article, article_id).state = "gone" if kind == "removed" else "live"


def _path(url: str | None) -> str:
    return unquote(urlsplit(url).path) if url else "?"
