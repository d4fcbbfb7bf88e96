"""The brake on alert storms: a run that would edit or remove a large share of the site at once is held.

A template change the site profile does not know (a new widget, a reworded disclaimer) makes
every page "edited"; an outage or a move of the whole site makes every page "removed". Either
would mail every subscriber dozens of false alerts. A run whose edits, or whose removals, are
more than `max_share` of the articles it compared, and more than `min_count`, is held: its
changes are recorded, its digests are not queued (monitor.mail.outbox), and the operator
releases it (`newswatch release RUN`: the digests go) or rebaselines it (`newswatch rebaseline
RUN`: accepted silently). The reason says what the changes have in common: the same paragraph
added to (or gone from) most of the edited pages is a template change, not an editor's work.

`assess` is pure; `brake_run` applies it to a run inside detection's transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.mail.outbox import enqueue_digests
from storage.models import ArticleVersion, Change, CrawlRun
from storage.runs import RunNotFound

DEFAULT_MAX_SHARE = 0.2  # NEWSWATCH_MAX_EDIT_SHARE
DEFAULT_MIN_COUNT = 5  # NEWSWATCH_HOLD_MIN_COUNT: "more than a handful"
# Quoted text is cut to this many characters in the reason and the evidence.
_QUOTE_CHARS = 200


@dataclass(frozen=True)
class BrakeSettings:
    """When a run is held: more than `max_share` of the compared articles, and more than `min_count`."""

    max_share: float = DEFAULT_MAX_SHARE
    min_count: int = DEFAULT_MIN_COUNT

    def storm(self, count: int, compared: int) -> bool:
        return count > self.min_count and count > self.max_share * compared


@dataclass(frozen=True)
class Common:
    """A paragraph that many edits added (or took away): the likely template change."""

    change: str  # "added" or "removed"
    text: str
    articles: int

    def as_json(self) -> dict[str, object]:
        return {"change": self.change, "text": self.text, "articles": self.articles}


@dataclass(frozen=True)
class Hold:
    """Why a run is held, and the common text that explains it."""

    reason: str
    evidence: tuple[Common, ...] = ()


@dataclass(frozen=True)
class Edit:
    """The paragraphs of an edited article, before and after."""

    old: Sequence[str]
    new: Sequence[str]


def assess(edits: Sequence[Edit], removals: Sequence[str], compared: int,
           settings: BrakeSettings = BrakeSettings()) -> Hold | None:
    """The hold of a run with these edits, removals (their reasons, `answers 404`) and number of
    articles compared (known articles the run fetched, found unchanged or found gone); None: no storm."""
    compared = max(compared, len(edits), len(removals))
    reasons, evidence = [], []
    if settings.storm(len(edits), compared):
        common = common_paragraphs(edits)
        reasons.append(f"{len(edits):,} of {compared:,} compared articles edited, {_explain(common, len(edits))}")
        evidence += common
    if settings.storm(len(removals), compared):
        cause, count = Counter(removals).most_common(1)[0]
        reasons.append(f"{len(removals):,} of {compared:,} compared articles removed ({count:,} {_plural(cause)}) "
                       "— looks like an outage or a move of the site")
    if not reasons:
        return None
    return Hold("; ".join(reasons), tuple(evidence))


def common_paragraphs(edits: Sequence[Edit]) -> list[Common]:
    """The paragraph most edits added and the one most took away, when at least half of them (and two) share it."""
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for edit in edits:
        old, new = set(edit.old), set(edit.new)
        added.update(new - old)
        removed.update(old - new)
    found = []
    for change, counter in (("added", added), ("removed", removed)):
        for text, articles in counter.most_common(1):
            if articles >= 2 and articles * 2 >= len(edits):
                found.append(Common(change, _clip(text), articles))
    return found


def _explain(common: Sequence[Common], edits: int) -> str:
    by_change = {c.change: c for c in common}
    added, removed = by_change.get("added"), by_change.get("removed")
    if added and removed:
        what = f"the same paragraph replaced on {min(added.articles, removed.articles):,}"
    elif added:
        what = f"the same new paragraph on {added.articles:,}"
    elif removed:
        what = f"the same paragraph gone from {removed.articles:,}"
    else:
        return "no paragraph common to them — check them before releasing"
    return f"{what} — looks like a template change"


def _plural(removal: str) -> str:
    """`removed: answers 404` as said of several articles: `answer 404`."""
    cause = removal.removeprefix("removed: ")
    return cause.replace("answers", "answer", 1).replace("redirects", "redirect", 1)


def _clip(text: str) -> str:
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


def compared_articles(run: CrawlRun) -> int:
    """How many known articles the run compared, from its stats: read (less the new ones), 304, gone."""
    stats = run.stats or {}
    return int(stats.get("articles_seen", 0) - stats.get("articles_new", 0) + stats.get("not_modified", 0)
               + stats.get("articles_gone", 0))


def brake_run(session: Session, run: CrawlRun, changes: Sequence[Change],
              settings: BrakeSettings = BrakeSettings()) -> Hold | None:
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
    hold = assess(edits, removals, compared_articles(run), settings)
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
