"""Items that flow from the spider through the pipelines."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from crawler.extraction import Extracted
from storage.repository import Reread


@dataclass(frozen=True)
class ArticlePage:
    """An article page as fetched: what the spider yields."""

    url: str  # canonical URL: the article's identity
    fetched_url: str  # where the body came from (after redirects)
    language: str
    status: int
    # Not in the repr: Scrapy logs a dropped item whole, and a page may be megabytes on one line.
    body: bytes = field(repr=False)
    fetched_at: dt.datetime
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class ArticleRecord:
    """An article page with its extracted content: what the store pipeline writes."""

    page: ArticlePage
    content: Extracted
    extraction: str | None = None  # the fingerprint of the extractor that read it
    # The stored version's page read again by the same extractor, when that one was read by
    # another and its text differs from tonight's (crawler.pipelines.ExtractPipeline).
    reread: Reread | None = None


@dataclass(frozen=True)
class ArticleGone:
    """A known article that answered 404/410 (a removal once witnessed twice: crawler.witness)."""

    url: str
    status: int
    location: str | None = None  # where a redirect pointed (recorded by runs before redirects were failed fetches)


@dataclass(frozen=True)
class ArticleMoved:
    """An article URL that redirects to another article URL: the same release, moved."""

    url: str
    new_url: str
    status: int


@dataclass(frozen=True)
class ArticleUnchanged:
    """A known article that answered 304 Not Modified to a conditional request."""

    url: str
