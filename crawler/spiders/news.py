"""The `news` spider: walks the listing pages of each language and fetches every article once.

Known articles (already in the database) are requested too, so a release that left the
listings is still checked. Article requests do not follow redirects by themselves: a
redirect to another article is a move, a redirect to a non-article page a removal.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote, unquote, urlsplit

import scrapy
from scrapy.http import Response, TextResponse
from sqlalchemy.orm import Session
from twisted.python.failure import Failure

from crawler.items import ArticleGone, ArticleMoved, ArticlePage
from crawler.sites import PROFILES, SiteProfile
from crawler.urls import article_ref, canonicalize
from storage import repository
from storage.db import make_engine, migrate

REDIRECTS = (301, 302, 303, 307, 308)
GONE = (404, 410)
MAX_HOPS = 5


class NewsSpider(scrapy.Spider):
    """Discovers articles on listing pages (pagination followed) and yields each article page."""

    name = "news"

    def __init__(self, *args, languages: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._languages_arg = languages

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        site = settings.get("NEWSWATCH_SITE", "icesco")
        if site not in PROFILES:
            raise ValueError(f"unknown site {site!r} (NEWSWATCH_SITE); known: {', '.join(PROFILES)}")
        spider.profile = PROFILES[site]
        spider.site_url = settings.get("NEWSWATCH_SITE_URL").rstrip("/")
        spider.languages = _languages(spider._languages_arg or settings.get("NEWSWATCH_LANGUAGES"), spider.profile)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for language in self.languages:
            url = self.site_url + quote(self.profile.listing_paths[language])
            yield self.listing_request(url, language)
        for url in self.known_articles():
            yield self.article_request(url)

    def known_articles(self) -> list[str]:
        """Canonical URLs of the articles already stored for this site and these languages."""
        engine = make_engine(self.settings.get("NEWSWATCH_DATABASE_URL"))
        try:
            migrate(engine)
            with Session(engine) as session:
                urls = repository.known_urls(session, self.profile.name, self.languages)
        finally:
            engine.dispose()
        return [url for url in urls if canonicalize(url, self.profile, self.site_url) == url]

    def listing_request(self, url: str, language: str) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_listing, errback=self.fetch_failed,
                              cb_kwargs={"language": language}, meta={"listing": True})

    def article_request(self, url: str, *, fetch_url: str | None = None, hops: int = 0) -> scrapy.Request:
        """A request for the article `url`; redirects and 404/410 reach `parse_article`."""
        return scrapy.Request(
            fetch_url or url, callback=self.parse_article, errback=self.fetch_failed,
            dont_filter=fetch_url is not None,
            meta={"article_url": url, "hops": hops, "dont_redirect": True,
                  "handle_httpstatus_list": [*REDIRECTS, *GONE]},
        )

    def parse_listing(self, response: Response, language: str) -> Iterator[scrapy.Request]:
        """Follow every article link and the next listing pages; article text comes from article pages."""
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("newswatch/listing_failed")
            self.logger.warning("listing %s is not a text page (%s)", response.url, response.headers.get("Content-Type"))
            return
        self.crawler.stats.inc_value("newswatch/listing_pages")
        listing = re.compile("^" + re.escape(self.profile.listing_paths[language]) + r"(page/\d+/)?$")
        for href in response.xpath("//a/@href | //link[@rel='next']/@href").getall():
            url = canonicalize(response.urljoin(href.strip()), self.profile, self.site_url)
            if url is None:
                continue
            ref = article_ref(url, self.profile)
            if ref is not None and ref.language in self.languages:
                yield self.article_request(url)
            elif ref is None and not urlsplit(url).query and listing.match(unquote(urlsplit(url).path)):
                yield self.listing_request(url, language)

    def parse_article(self, response: Response) -> Iterator[ArticlePage | ArticleGone | ArticleMoved | scrapy.Request]:
        url = response.meta["article_url"]
        if response.status in GONE:
            yield ArticleGone(url=url, status=response.status)
        elif response.status in REDIRECTS:
            yield from self._redirected(response, url)
        else:
            yield ArticlePage(
                url=url,
                fetched_url=response.url,
                language=article_ref(url, self.profile).language,
                status=response.status,
                body=response.body,
                fetched_at=dt.datetime.now(dt.UTC),
                etag=_header(response, b"ETag"),
                last_modified=_header(response, b"Last-Modified"),
            )

    def _redirected(self, response: Response, url: str) -> Iterator[ArticleGone | ArticleMoved | scrapy.Request]:
        location = _header(response, b"Location")
        target_fetch = response.urljoin(location) if location else None
        target = canonicalize(target_fetch, self.profile, self.site_url) if target_fetch else None
        hops = response.meta["hops"] + 1
        if target == url and hops <= MAX_HOPS:
            # Another spelling of the same page (scheme, host, slash): fetch it as given.
            yield self.article_request(url, fetch_url=target_fetch, hops=hops)
        elif target and article_ref(target, self.profile) and hops <= MAX_HOPS:
            yield ArticleMoved(url=url, new_url=target, status=response.status)
            yield self.article_request(target)
        elif target is None and target_fetch is None:
            self.crawler.stats.inc_value("newswatch/fetch_failed")
            self.logger.warning("%s answered %s without a Location", response.url, response.status)
        else:
            yield ArticleGone(url=url, status=response.status, location=target_fetch)

    def fetch_failed(self, failure: Failure) -> None:
        """A request that failed after Scrapy's retries: a failure of the run, never a change."""
        request = failure.request
        listing = request.meta.get("listing", False)
        self.crawler.stats.inc_value("newswatch/listing_failed" if listing else "newswatch/fetch_failed")
        self.logger.warning("%s %s failed: %s", "listing" if listing else "article", request.url,
                            failure.getErrorMessage())


def _languages(value: str | list[str], profile: SiteProfile) -> tuple[str, ...]:
    """Parse `en,fr,ar`; refuse a language the site profile does not know."""
    items = value.split(",") if isinstance(value, str) else value
    languages = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    unknown = [lang for lang in languages if lang not in profile.languages]
    if unknown or not languages:
        raise ValueError(
            f"unknown language(s) {', '.join(unknown) or '(none given)'} in NEWSWATCH_LANGUAGES; "
            f"{profile.name} has {', '.join(profile.languages)}"
        )
    return languages


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
