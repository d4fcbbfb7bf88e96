"""Article extraction: page bytes and URL in, an `Extracted` record out. Pure, no Scrapy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crawler.sites import ICESCO, SiteProfile


class NotAnArticle(ValueError):
    """The page holds no extractable article (empty, error or maintenance page)."""


@dataclass(frozen=True)
class Extracted:
    """The clean content of one release, as stored."""

    url: str
    language: str
    title: str
    published: dt.date | None
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def extract(html: bytes | str, url: str, profile: SiteProfile = ICESCO) -> Extracted:
    """Extract one release from an article page; raise NotAnArticle when there is none."""
    raise NotImplementedError  # being written
