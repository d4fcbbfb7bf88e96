"""URL identity: one canonical spelling per page, and what kind of page a URL names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from courlan import normalize_url
from w3lib.url import canonicalize_url

from crawler.sites import SiteProfile


@dataclass(frozen=True)
class ArticleRef:
    """What an article URL says by itself: its language and publication date."""

    language: str
    published: dt.date
    slug: str


def site_hosts(profile: SiteProfile, site_url: str) -> frozenset[str]:
    """Every host name (with port) under which the watched site is reached."""
    return frozenset({*profile.host_aliases, urlsplit(profile.origin).netloc.lower(), urlsplit(site_url).netloc.lower()})


def canonicalize(url: str, profile: SiteProfile, site_url: str) -> str | None:
    """The one spelling of a URL of the watched site, on the site profile's origin; None if off-site.

    A release's identity is its site's origin and its path: whether it was fetched from the
    site (`https://icesco.org`, `www.`), a mirror of it or a new address (`site_url`, which is
    one more host of the site) makes no other URL. Percent-escape case, `www.`, trailing slash,
    tracking parameters and fragments are all normalised, so every spelling of one page maps to
    one string.
    """
    try:
        cleaned = canonicalize_url(normalize_url(url, strict=True))
    except ValueError:
        return None
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() not in site_hosts(profile, site_url):
        return None
    path = parts.path or "/"
    if not path.endswith("/") and "." not in path.rsplit("/", 1)[-1]:
        path += "/"  # WordPress permalinks end in a slash; the bare form redirects to it
    return on_origin(urlunsplit(("", "", path, parts.query, "")), profile.origin)


def on_origin(url: str, origin: str) -> str:
    """`url`'s path and query on `origin` (scheme://host[:port]): a canonical URL where the
    crawl fetches it (NEWSWATCH_SITE_URL), or a fetched URL as the site's own."""
    parts, base = urlsplit(url), urlsplit(origin)
    return urlunsplit((base.scheme, base.netloc.lower(), parts.path, parts.query, ""))


def article_ref(url: str, profile: SiteProfile) -> ArticleRef | None:
    """The language, date and slug of an article URL; None when the URL is not an article."""
    parts = urlsplit(url)
    if parts.query:
        return None  # ?p=123, ?s=search, ?replytocom=...: never an article's own URL
    match = profile.article_path.match(parts.path)
    if not match or match["lang"] not in profile.languages:
        return None
    try:
        published = dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None
    return ArticleRef(language=match["lang"], published=published, slug=unquote(match["slug"]))


def language_of(url: str, profile: SiteProfile) -> str | None:
    """The language site (`/en/`, `/fr/`, `/ar/`) a URL belongs to."""
    first = urlsplit(url).path.strip("/").split("/", 1)[0]
    return first if first in profile.languages else None
