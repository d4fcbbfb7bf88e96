"""The brake on alert storms: a run that would edit or remove a large share of the site at once is held.

A template change the site profile does not know (a new widget, a reworded disclaimer) makes
every page "edited"; an outage or a move of the whole site makes every page "removed". Either
would mail every subscriber dozens of false alerts. A run whose edits, or whose removals, are
more than `max_share` of the articles it compared, and more than `min_count`, is held: its
changes are recorded, its digests are not queued (monitor.mail.outbox), and the operator
releases it (`newswatch release RUN`: the digests go) or rebaselines it (`newswatch rebaseline
RUN`: accepted silently). The reason says what the changes have in common: the same paragraph
added to (or gone from) most of the edited pages is a template change, not an editor's work.

This module is the rule, pure (and light: the command line's options read its defaults);
monitor.holds applies it to a run inside detection's transaction, and carries out the decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

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
