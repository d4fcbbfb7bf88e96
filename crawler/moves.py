"""The known releases an unknown article URL may be, under a new address (a moved post).

WordPress keeps a post's slug when its date is corrected, and its date when its slug is; either
way the old URL answers 301 to the new one, which the listings, feed and sitemap now show. A
full run requests every known URL, so it sees the 301 the night the new URL appears. An
incremental run requests only the known releases due that night; for the move to be one edit
there too (storage.events.record_move folds the article first seen at the new URL into the old
one, in the same run), it re-checks the known releases an unknown URL may be: same language, and
the same slug or the same date in the URL (`MoveCandidates.of`, before the URL is fetched); or,
once its page is read, a close title (`MoveCandidates.titled`: an editor who fixes both the date
and the slug).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import defaultdict
from collections.abc import Iterable
from difflib import SequenceMatcher

from crawler.sites import SiteProfile
from crawler.urls import article_ref
from storage.repository import KnownArticle

# At most this many re-checks for one unknown URL (those of the same slug first). A release
# published today shares its date with the other releases of today, which are recent, and so
# re-checked tonight anyway: the date only costs requests for an unknown URL of an old date, and
# an old site publishes a handful of releases a day.
MAX_CANDIDATES = 8
# A known title this close to the new page's (difflib's ratio, case and spacing aside) may be the
# same release retitled a little; the closest few are re-checked. Titles of one formula
# ("ICESCO Director-General Receives the Ambassador of ...") are this close: a few requests.
TITLE_SIMILARITY = 0.8
MAX_TITLE_CANDIDATES = 3


class MoveCandidates:
    """The known articles of a run, by language and slug and by language and URL date."""

    def __init__(self, known: Iterable[KnownArticle], profile: SiteProfile) -> None:
        self.profile = profile
        self.by_slug: dict[tuple[str, str], list[KnownArticle]] = defaultdict(list)
        self.by_date: dict[tuple[str, dt.date], list[KnownArticle]] = defaultdict(list)
        self.by_language: dict[str, list[tuple[str, KnownArticle]]] = defaultdict(list)
        for article in known:
            ref = article_ref(article.url, profile)
            if ref is not None:
                self.by_slug[ref.language, ref.slug.casefold()].append(article)
                self.by_date[ref.language, ref.published].append(article)
                if article.title:
                    self.by_language[ref.language].append((_comparable(article.title), article))

    def of(self, url: str) -> list[KnownArticle]:
        """The known articles the unknown article `url` may be: same language, same slug or same date."""
        ref = article_ref(url, self.profile)
        if ref is None:
            return []
        same_slug = self.by_slug.get((ref.language, ref.slug.casefold()), [])
        same_date = self.by_date.get((ref.language, ref.published), [])
        found = {article.url: article for article in [*same_slug, *same_date] if article.url != url}
        return list(found.values())[:MAX_CANDIDATES]

    def titled(self, language: str, title: str) -> list[KnownArticle]:
        """The known articles of `language` whose title is close to `title`, closest first."""
        matcher = SequenceMatcher(autojunk=False)
        matcher.set_seq2(_comparable(title))
        close = []
        for known_title, article in self.by_language.get(language, []):
            matcher.set_seq1(known_title)
            if matcher.real_quick_ratio() >= TITLE_SIMILARITY and matcher.quick_ratio() >= TITLE_SIMILARITY \
                    and (ratio := matcher.ratio()) >= TITLE_SIMILARITY:
                close.append((ratio, article.id, article))
        return [article for _, _, article in heapq.nlargest(MAX_TITLE_CANDIDATES, close)]


def _comparable(title: str) -> str:
    return " ".join(title.casefold().split())
