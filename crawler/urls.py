"""URL identity: one canonical spelling per page, and what kind of page a URL names."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

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


_SLASHES = re.compile(r"/+")  # as courlan's normalize_url (in `canonicalize`) collapses them
_LEADING_PARENTS = re.compile(r"^(?:/\.\.(?![^/]))+")  # and drops leading /../


def may_be_article_or_listing(url: str, profile: SiteProfile, listing_path: str) -> bool:
    """False only when `url` (absolute, as a page links it) cannot be, once canonicalised, an
    article of `profile` nor a page of the listing at `listing_path` (unquoted): a cheap test
    (a few microseconds, where `canonicalize` takes about 75) that spares `canonicalize` the
    menus, archives, tags and pages a listing page mostly links to.

    It never says no to a spelling `canonicalize` accepts: any host (the host is `canonicalize`'s
    to judge), any query and fragment, a missing trailing slash, repeated slashes, leading `/../`,
    percent-escapes in either case or none (the path is tried as given, unquoted, and quoted).
    """
    path = _LEADING_PARENTS.sub("", _SLASHES.sub("/", urlsplit(url).path))
    unquoted = unquote(path)
    if (unquoted if unquoted.endswith("/") else unquoted + "/").startswith(listing_path):
        return True
    return any(profile.article_path.match(form) for form in (path, unquoted, quote(unquoted, safe="/")))


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
