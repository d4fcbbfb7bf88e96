"""`newswatch reextract`: every article's latest version read again from its stored page by today's extractor.

A version that reads otherwise is re-baselined (storage.repository.rebaseline): tonight's crawl
then compares the site's page with what today's extractor makes of the stored one, and an
extractor change raises no change. A crawl does the same for each page it fetches whose text
differs (crawler.pipelines); this does it for all at once, or only says what it would do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler import sites
from crawler.extraction.fingerprint import fingerprint
from monitor.diff import compare
from monitor.diffview import summary
from storage import rawpages, repository
from storage.content import content_hash
from storage.models import Article, ArticleVersion


@dataclass(frozen=True)
class Reread:
    """One latest version that today's extractor reads otherwise, and how."""

    url: str
    version_id: int
    summary: str  # e.g. "paragraph 3 removed"


@dataclass
class Reextraction:
    """What `reextract` found among the latest versions."""

    checked: int = 0  # latest versions read again
    rebaselined: list[Reread] = field(default_factory=list)
    no_page: int = 0  # stored before the raw archive, or pruned
    failed: list[tuple[str, str]] = field(default_factory=list)  # (url, why): no article in the stored page


def reextract(session: Session, *, dry_run: bool) -> Reextraction:
    """Read every latest version's stored page again; re-baseline (unless `dry_run`) those that read otherwise."""
    from crawler.extraction import NotAnArticle, extract  # looked up now: the extractor of this moment

    found = Reextraction()
    for url, site, version in _latest(session):
        profile = sites.configured().get(site)
        try:
            if version.raw_sha256 is None:
                raise rawpages.RawPageMissing(url)
            body = rawpages.load(session, version.raw_sha256)
        except rawpages.RawPageMissing:
            found.no_page += 1
            continue
        if profile is None:
            found.failed.append((url, f"no site profile {site!r} in crawler/sites/ or NEWSWATCH_SITES_DIR"))
            continue
        found.checked += 1
        try:
            content = extract(body, url, profile)
        except NotAnArticle as error:
            found.failed.append((url, f"no article in its stored page: {error}"))
            continue
        again = repository.Reread(version.id, version.raw_sha256, content.title, content.published, tuple(content.paragraphs))
        if content_hash(again.title, again.published, again.paragraphs) == version.content_hash:
            continue
        found.rebaselined.append(Reread(url, version.id, summary(compare(version, again))))
        if not dry_run:
            repository.rebaseline(session, again, fingerprint(profile))
    return found


def _latest(session: Session) -> Iterator[tuple[str, str, ArticleVersion]]:
    """Each article's URL, site and current version, oldest article first."""
    yield from session.execute(
        select(Article.canonical_url, Article.site, ArticleVersion)
        .join(ArticleVersion, ArticleVersion.id == Article.current_version_id)
        .order_by(Article.id)
    ).all()
