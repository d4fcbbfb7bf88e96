"""A removal's second witness: what the listing pages a run walked say of the releases that answered 404/410.

A 404 or 410 alone is not a removal (a site-wide 404 while the listings are intact is an outage);
it needs a second witness (DESIGN.md, "Agreed since"):

- the release is missing from the listing pages the run walked, where it should stand: listings run
  newest first, so a walk from page 1 covers every date after the oldest one it saw on its last page
  (every date, when it reached the listing's last page);
- or it answered 404/410 when it was last checked too (by an earlier run: `KnownArticle.answered_gone`),
  and the walked listings do not link it.

A release the walked listings still link is never removed: its 404 counts as a failed fetch of the
run. One outside what the walk covered waits for its re-check (the next night, whatever its share
day). Pure bookkeeping, fed by the spider (crawler.spiders.news).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crawler.sites import SiteProfile
from crawler.urls import article_ref
from storage.repository import KnownArticle

# The stat in which a worker of a shared run (crawler.queue) leaves what its listings said (`state`).
WITNESS_STAT = "newswatch/witness"
WITNESS_SEEN_STAT = "newswatch/witness_seen"  # `RemovalWitnesses.seen` when it was left there
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # of a merged witness's article: its check time plays no part


@dataclass(frozen=True)
class Verdict:
    """What the run's listings say of its 404/410s: the articles (ids) whose removal is witnessed,
    and how many answered 404/410 while the listings link them (failed fetches, not removals)."""

    witnessed: tuple[int, ...]
    listed: int


@dataclass
class _Walk:
    """One language's listing walk so far."""

    oldest: dt.date | None = None  # the oldest date of a release on the pages walked
    to_the_end: bool = False  # it walked the listing's last page


@dataclass
class RemovalWitnesses:
    """The listing pages a run walked and the known releases that answered 404/410 (module docstring)."""

    profile: SiteProfile
    listed: set[str] = field(default_factory=set)
    walks: dict[str, _Walk] = field(default_factory=dict)
    gone: dict[str, KnownArticle] = field(default_factory=dict)
    seen: int = 0  # how many listing pages and 404/410s it was told of: its state changes with it

    def listing_page(self, language: str, articles: Iterable[str], *, last: bool) -> None:
        """A listing page of `language` walked (pages are walked in order from the first), linking
        `articles` (canonical URLs); `last` when the listing has no later page."""
        self.seen += 1
        walk = self.walks.setdefault(language, _Walk())
        for url in articles:
            self.listed.add(url)
            ref = article_ref(url, self.profile)
            if ref is not None and ref.language == language:
                walk.oldest = ref.published if walk.oldest is None else min(walk.oldest, ref.published)
        walk.to_the_end = walk.to_the_end or last

    def answered_gone(self, article: KnownArticle) -> None:
        """The known release `article` answered 404 or 410 in this run."""
        self.seen += 1
        self.gone[article.url] = article

    def should_stand(self, url: str) -> bool:
        """Whether the listing pages walked cover the date of the release at `url`.

        A walk that saw no release covers nothing: a listing emptied by an outage is no witness.
        The oldest date itself is not covered: its other releases may stand on the next page.
        """
        ref = article_ref(url, self.profile)
        walk = self.walks.get(ref.language) if ref is not None else None
        if ref is None or walk is None or walk.oldest is None:
            return False
        return walk.to_the_end or ref.published > walk.oldest

    def state(self) -> dict[str, Any]:
        """What this process saw, as JSON: a run worked by several processes (crawler.queue) judges
        on the merged state of all of them (`merged`), as one process would have."""
        return {"listed": sorted(self.listed),
                "walks": {language: [walk.oldest.isoformat() if walk.oldest else None, walk.to_the_end]
                          for language, walk in self.walks.items()},
                "gone": [[article.id, url, article.answered_gone] for url, article in self.gone.items()]}

    @classmethod
    def merged(cls, profile: SiteProfile, states: Iterable[Mapping[str, Any]]) -> RemovalWitnesses:
        """The witnesses of several processes of one run: a language's listing is walked page after
        page whoever fetched each, so its walk reaches the oldest date any of them saw."""
        witnesses = cls(profile)
        for state in states:
            witnesses.listed.update(state.get("listed", ()))
            for language, (oldest, to_the_end) in state.get("walks", {}).items():
                walk = witnesses.walks.setdefault(language, _Walk())
                if oldest is not None:
                    date = dt.date.fromisoformat(oldest)
                    walk.oldest = date if walk.oldest is None else min(walk.oldest, date)
                walk.to_the_end = walk.to_the_end or to_the_end
            for article_id, url, answered_gone in state.get("gone", ()):
                witnesses.gone[url] = KnownArticle(article_id, url, None, None, None, _EPOCH, answered_gone=answered_gone)
        return witnesses

    def verdict(self) -> Verdict:
        witnessed, listed = [], 0
        for url, article in self.gone.items():
            if url in self.listed:
                listed += 1
            elif article.answered_gone or self.should_stand(url):
                witnessed.append(article.id)
        return Verdict(tuple(sorted(witnessed)), listed)
