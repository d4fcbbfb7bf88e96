"""The `news` spider: walks the listing pages of each language and fetches every article once.

Known articles (already in the database) are re-checked too, so a release that left the
listings is still seen. An incremental run (the default; NEWSWATCH_MODE) re-checks the recent
articles every run with conditional requests (a 304 costs no download and no extraction),
downloads a rolling share of the older ones so each is compared once per revalidation period
whatever the server's validators say, and stops paging through a listing once a whole page
holds only known articles: a night costs what changed. A full run (`-a mode=full`) walks
every listing page and downloads every known article. Article requests do not
follow redirects by themselves: a redirect to another article is a move; a redirect to a page
that is not the article (the home page, a listing) is a failed fetch, never a removal; a page that arrived cut short
(crawler.wholeness) is fetched again, then a failed fetch, never an edit. A 404/410
is a removal only with a second witness (crawler.witness, judged when the spider is idle): a
release that answered one is re-checked the next night, whatever its share day. An unknown
URL on a listing, feed or sitemap makes an incremental run re-check the known releases it may be
(crawler.moves), so a move is seen the night its new URL appears, as a full run sees it.

Feeds and XML sitemaps are used when the site offers them and never required. Sitemaps are
those robots.txt lists, else, per language site (each is its own WordPress site), the first
of `/{lang}/wp-sitemap.xml` (WordPress core), `sitemap_index.xml` (Yoast), `sitemap.xml` that
answers; indexes are followed, gzip is read. A sitemap's unknown articles are fetched; in an
incremental run, so is a known article whose `lastmod` is later than our last check of it,
even outside its rolling share: an edit to an old release is found the same night. A missing
or broken sitemap is a debug line and `newswatch/sitemap_missing`, never a failure of the run.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, Self
from urllib.parse import quote, unquote, urlsplit

import scrapy
from lxml import etree
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.http import Response, TextResponse
from scrapy.utils.sitemap import sitemap_urls_from_robots
from twisted.python.failure import Failure

from crawler import config
from crawler import signals as newswatch_signals
from crawler.items import ArticleGone, ArticleMoved, ArticlePage, ArticleRecord, ArticleUnchanged
from crawler.moves import MoveCandidates
from crawler.runs import Run
from crawler.sitemaps import SITEMAP_NAMES, edited_since, read_sitemap
from crawler.urls import article_ref, canonicalize, language_of, may_be_article_or_listing, on_origin, site_hosts
from crawler.wholeness import cut_short, missing_end
from crawler.witness import WITNESS_SEEN_STAT, WITNESS_STAT, RemovalWitnesses
from storage import repository

REDIRECTS = (301, 302, 303, 307, 308)
GONE = (404, 410)
NOT_MODIFIED = 304
MAX_HOPS = 5
RECENT, SHARE, GONE_BEFORE = "recent", "share", "gone"  # why a known article is re-checked (`NewsSpider.due`)
# The links of a listing page, as plain strings (lxml's "smart" strings would keep the page alive).
_LINKS = etree.XPath("//a/@href | //link[@rel='next']/@href", smart_strings=False)
LEFT_OUT_MAX = 20_000  # links remembered as neither article nor listing page (menus repeat on every page)


class NewsSpider(scrapy.Spider):
    """Discovers articles on listing pages (pagination followed) and yields each article page."""

    name = "news"

    def __init__(self, *args: Any, languages: str | None = None, mode: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._arguments = {"languages": languages, "mode": mode}
        self.known: Mapping[str, repository.KnownArticle] = {}
        self.joined = False  # a worker that joined a shared run (crawler.queue): the claimer schedules the start
        self.moves: MoveCandidates  # built in start(), from the known articles
        self.witnesses: RemovalWitnesses  # built in start(): what the listings say of 404/410s
        self.known_languages: set[str] = set()  # of the known articles (start())
        self.rechecked: set[str] = set()  # known articles requested besides those due tonight
        self.elsewhere: set[str] = set()  # hosts the site answered from besides its own (it moved)
        self.left_out: set[tuple[str, str]] = set()  # (href, listing path): links that are neither (parse_listing)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # `-a mode=...` and `-a languages=...` are settings under other names: set them now,
        # before the settings are checked and frozen; they are read once the crawl starts.
        config.from_spider_arguments(crawler.settings, spider._arguments)
        crawler.signals.connect(spider.run_started, signal=newswatch_signals.run_started)
        crawler.signals.connect(spider.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(spider.judge_removals, signal=signals.spider_idle)
        if crawler.settings.get("NEWSWATCH_QUEUE"):
            crawler.signals.connect(spider.share_witnesses, signal=newswatch_signals.stored)
        return spider

    def run_started(self, run: Run) -> None:
        """The run's extension (crawler.runs) read the articles already stored: re-check them."""
        self.known = run.known
        self.joined = run.joined

    def _read_settings(self) -> None:
        """This crawl's settings, checked at start-up (crawler.config)."""
        settings = self.settings
        self.profile = config.site_profile(settings)
        self.site_url = config.site_url(settings)
        self.languages = config.languages(settings)
        self.full = config.full_mode(settings)
        self.known_pages_depth = settings.getint("NEWSWATCH_KNOWN_PAGES_DEPTH")
        self.recent_days = settings.getint("NEWSWATCH_RECENT_DAYS")
        self.revalidate_days = settings.getint("NEWSWATCH_REVALIDATE_DAYS")
        self.sitemaps = settings.getbool("NEWSWATCH_SITEMAPS")
        self.today = config.today(settings)
        self.max_sitemap_size = settings.getint("DOWNLOAD_MAXSIZE")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self._read_settings()
        self.moves = MoveCandidates(self.known.values(), self.profile)
        self.witnesses = RemovalWitnesses(self.profile)
        self.known_languages = {ref.language for url in self.known if (ref := article_ref(url, self.profile))}
        self.judge_removals()  # the run's record says there was no witnessed removal, until there is one
        if self.joined:
            return  # the claimer queued the start requests: this worker takes its share of the queue
        for language in self.languages:
            yield self.listing_request(self.site_url + quote(self.profile.listing_paths[language]), language)
            yield scrapy.Request(self.site_url + f"/{language}/feed/", callback=self.parse_feed,
                                 errback=self.feed_missing, meta={"feed": True})
        if self.sitemaps:
            yield scrapy.Request(self.site_url + "/robots.txt", callback=self.parse_robots,
                                 errback=self.robots_missing, meta={"dont_retry": True})
        for article in self.known.values():
            reason = self.due(article, self.today)
            if self.full or reason:
                yield self.article_request(article.url, conditional=reason == RECENT)
        self.crawler.signals.send_catch_log(newswatch_signals.start_queued)  # each one was scheduled as it came

    def due(self, article: repository.KnownArticle, today: dt.date) -> str | None:
        """Why a known article is re-checked tonight, if it is: RECENT ones every run, with a
        conditional request; each older one on its day of every revalidation period (SHARE),
        downloaded and compared whatever the server's validators say, so a 304 is trusted for
        one period at most. One that answered 404/410 when last checked is re-checked tonight
        (GONE_BEFORE): a second 404/410 witnesses its removal."""
        if article.answered_gone:
            return GONE_BEFORE
        if article.published is None or (today - article.published).days <= self.recent_days:
            return RECENT
        return SHARE if article.id % self.revalidate_days == today.toordinal() % self.revalidate_days else None

    def listing_request(self, url: str, language: str, known_pages: int = 0) -> scrapy.Request:
        """A listing page; `known_pages`: how many pages of the walk so far held only known articles
        (carried by the request, as the walk may go on in another worker of a shared run)."""
        return scrapy.Request(on_origin(url, self.site_url), callback=self.parse_listing, errback=self.fetch_failed,
                              cb_kwargs={"language": language, "known_pages": known_pages}, meta={"listing": True})

    def article_request(self, url: str, *, conditional: bool = True, fetch_url: str | None = None,
                        hops: int = 0) -> scrapy.Request:
        """A request for the article `url` (canonical: on the site's origin), fetched from the crawl's
        site URL unless `fetch_url` says where; `conditional` (in incremental mode) when we hold its validators.

        A full run never trusts a 304: it downloads and compares everything.
        Redirects, 304 and 404/410 reach `parse_article` instead of Scrapy's middlewares.
        """
        known = self.known.get(url) if conditional and not self.full else None
        headers = {}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        if known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        return scrapy.Request(
            fetch_url or on_origin(url, self.site_url), callback=self.parse_article, errback=self.fetch_failed, headers=headers,
            dont_filter=fetch_url is not None,
            meta={"article_url": url, "hops": hops, "dont_redirect": True,
                  "handle_httpstatus_list": [*REDIRECTS, NOT_MODIFIED, *GONE]},
        )

    def canonical(self, url: str, page_url: str) -> str | None:
        """`url`, found on the page at `page_url`, as the canonical URL of a page of the site; None if off-site.

        A page asked of the site that answers from another host (the site moved to a new address,
        and its old one redirects there) makes that host one of the site's: its links, and the
        pages it serves, are the site's. The crawl then costs a redirect per request: say so.
        """
        url_of_site = canonicalize(url, self.profile, self.site_url)
        host = urlsplit(page_url).netloc.lower()
        if url_of_site is not None or host in site_hosts(self.profile, self.site_url):
            return url_of_site
        url_of_site = canonicalize(url, self.profile, page_url)
        if url_of_site is not None and article_ref(url_of_site, self.profile) and host not in self.elsewhere:
            self.elsewhere.add(host)
            self.crawler.stats.set_value("newswatch/site_elsewhere", sorted(self.elsewhere))
            self.logger.warning("the site answers from %s, which is not %s: set NEWSWATCH_SITE_URL to its new "
                                "address to save a redirect per request", host, self.site_url)
        return url_of_site

    def discovered(self, url: str) -> Iterator[scrapy.Request]:
        """An unknown article: request it, and (incremental) the known releases it may be, moved.

        Those not due tonight are downloaded too (crawler.moves), so that a 301 from a known URL
        to this one is seen in this run, as a full run sees it: the move is then one edit of the
        known release, never a new release. A known release is re-checked once per run.
        """
        yield self.article_request(url)
        yield from self._move_checks(self.moves.of(url))

    def item_scraped(self, item: object) -> None:
        """A release read at an unknown URL: re-check the known releases of a close title not
        checked yet (their slug and date were both corrected: `discovered` could not tell)."""
        if isinstance(item, ArticleRecord) and item.page.url not in self.known:
            for request in self._move_checks(self.moves.titled(item.content.language, item.content.title)):
                self.crawler.engine.crawl(request)

    def _move_checks(self, candidates: Iterable[repository.KnownArticle]) -> Iterator[scrapy.Request]:
        """Downloads of the known releases a new URL may be that this run does not request otherwise."""
        if self.full:
            return  # every known article is requested anyway
        for article in candidates:
            if article.url in self.rechecked or self.due(article, self.today):
                continue
            self.rechecked.add(article.url)
            self.crawler.stats.inc_value("newswatch/move_checks")
            yield self.article_request(article.url, conditional=False)

    def parse_listing(self, response: Response, language: str, known_pages: int = 0) -> Iterator[scrapy.Request]:
        """Request the articles it links to and the next listing page; article text comes from article pages."""
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("newswatch/listing_failed")
            self.logger.warning("listing %s is not a text page (%s)", response.url, response.headers.get("Content-Type"))
            return
        self.crawler.stats.inc_value("newswatch/listing_pages")
        listing = re.compile("^" + re.escape(self.profile.listing_paths[language]) + r"(?:page/(\d+)/)?$")
        here = listing.match(unquote(urlsplit(response.url).path))
        page = int(here.group(1) or 1) if here else 1
        articles, pages = [], {}
        listing_path = self.profile.listing_paths[language]
        for href in _LINKS(response.selector.root):
            href = href.strip()
            if (href, listing_path) in self.left_out:
                continue
            link = response.urljoin(href)
            if not may_be_article_or_listing(link, self.profile, listing_path):
                # A menu, an archive, a tag: most of a listing page's links (crawler.urls). The same
                # menus are on every page: an absolute or root-relative link is judged once.
                if href.startswith(("/", "http://", "https://")) and len(self.left_out) < LEFT_OUT_MAX:
                    self.left_out.add((href, listing_path))
                continue
            url = self.canonical(link, response.url)
            if url is None:
                continue
            ref = article_ref(url, self.profile)
            if ref is not None and ref.language in self.languages:
                articles.append(url)
            elif ref is None and not urlsplit(url).query and (match := listing.match(unquote(urlsplit(url).path))):
                pages[int(match.group(1) or 1)] = url
        later = sorted(number for number in pages if number > page)
        if page == 1 and not articles and language in self.known_languages:
            # A listing without a single release, of a language whose releases we know: an outage
            # or a broken template, not a site that deleted them all (and no witness of a removal).
            self.crawler.stats.inc_value("newswatch/listing_failed")
            self.logger.warning("listing %s links no release: not read as a listing", response.url)
            return
        self.witnesses.listing_page(language, articles, last=not later)
        new = [url for url in dict.fromkeys(articles) if url not in self.known]
        for url in new:
            yield from self.discovered(url)
        if self.full:
            yield from (self.article_request(url) for url in articles if url in self.known)
        if articles and not new:
            known_pages += 1
            if not self.full and known_pages >= self.known_pages_depth:
                self.logger.info("%s: page %d holds only known articles; listing walk stops", language, page)
                return
        if later:  # the next page only: the walk can stop where the news we know begins
            yield self.listing_request(pages[later[0]], language, known_pages)

    def parse_feed(self, response: Response) -> Iterator[scrapy.Request]:
        """Articles a WordPress feed lists (a bonus: the listings alone must suffice)."""
        if not isinstance(response, scrapy.http.XmlResponse | TextResponse) or b"<rss" not in response.body[:500]:
            return
        self.crawler.stats.inc_value("newswatch/feeds")
        for link in response.xpath("//item/link/text()").getall():
            url = self.canonical(link.strip(), response.url)
            if url and url not in self.known and (ref := article_ref(url, self.profile)) and ref.language in self.languages:
                yield from self.discovered(url)

    def feed_missing(self, failure: Failure) -> None:
        self.crawler.stats.inc_value("newswatch/feed_missing")
        self.logger.debug("no feed at %s: %s", _failed_request(failure).url, failure.getErrorMessage())

    def parse_robots(self, response: Response) -> Iterator[scrapy.Request]:
        """The sitemaps robots.txt lists; a language site none of them lies under is probed."""
        found = sitemap_urls_from_robots(response.body, base_url=response.url)
        listed = [url for url in dict.fromkeys(self.canonical(url, response.url) for url in found) if url]
        yield from (self.sitemap_request(url) for url in listed)
        covered = {language_of(url, self.profile) for url in listed}
        yield from self.probe_sitemaps(language for language in self.languages if language not in covered)

    def robots_missing(self, failure: Failure) -> Iterator[scrapy.Request]:
        """No robots.txt to name sitemaps: probe every language site."""
        self.logger.debug("no robots.txt at %s: %s", _failed_request(failure).url, failure.getErrorMessage())
        yield from self.probe_sitemaps(self.languages)

    def probe_sitemaps(self, languages: Iterable[str]) -> Iterator[scrapy.Request]:
        """The usual WordPress sitemap locations of each language site, tried in turn."""
        for language in languages:
            first, *rest = (f"{self.site_url}/{language}/{name}" for name in SITEMAP_NAMES)
            yield self.sitemap_request(first, fallbacks=tuple(rest))

    def sitemap_request(self, url: str, fallbacks: tuple[str, ...] = ()) -> scrapy.Request:
        """A sitemap (or index); not retried: it is a bonus, and tomorrow's run asks again."""
        return scrapy.Request(on_origin(url, self.site_url), callback=self.parse_sitemap, errback=self.sitemap_failed,
                              meta={"fallbacks": fallbacks, "dont_retry": True})

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        """Follow an index to its sitemaps (of our languages); hand a sitemap's entries to `_sitemap_articles`."""
        sitemap = read_sitemap(response, self.max_sitemap_size)
        if sitemap is None:
            yield from self._no_sitemap(_request(response), f"not a sitemap ({response.status})")
            return
        self.crawler.stats.inc_value("newswatch/sitemaps")
        kind, entries = sitemap
        located = ((self.canonical(e["loc"], response.url), e.get("lastmod")) for e in entries)
        if kind == "sitemapindex":
            yield from (self.sitemap_request(url) for url, _ in located
                        if url and language_of(url, self.profile) in (None, *self.languages))
        else:
            yield from self._sitemap_articles(located)

    def _sitemap_articles(self, located: Iterable[tuple[str | None, str | None]]) -> Iterator[scrapy.Request]:
        """Requests for the articles of our languages that are unknown or (incremental) edited since checked.

        A known article due tonight anyway is already requested: Scrapy's dupefilter drops the
        second request (its fingerprint is method and URL; headers and meta are not part of it).
        """
        for url, lastmod in located:
            if url and (ref := article_ref(url, self.profile)) and ref.language in self.languages:
                known = self.known.get(url)
                if known is None:
                    yield from self.discovered(url)
                elif not self.full and edited_since(lastmod, known.checked_at):
                    # The sitemap says it changed: a 304 from stale validators must not hide that.
                    self.rechecked.add(url)
                    yield self.article_request(url, conditional=False)

    def sitemap_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        """A sitemap that answered an HTTP error or no answer at all (not a listing or article failure)."""
        yield from self._no_sitemap(_failed_request(failure), failure.getErrorMessage())

    def _no_sitemap(self, request: scrapy.Request, reason: str) -> Iterator[scrapy.Request]:
        """Try the next usual location; when none is left, note the absence: never a failure of the run."""
        fallbacks = request.meta["fallbacks"]
        if fallbacks:
            yield self.sitemap_request(fallbacks[0], fallbacks=fallbacks[1:])
            return
        self.crawler.stats.inc_value("newswatch/sitemap_missing")
        self.logger.debug("no sitemap at %s: %s", request.url, reason)

    def parse_article(
            self, response: Response) -> Iterator[ArticlePage | ArticleGone | ArticleMoved | ArticleUnchanged | scrapy.Request]:
        url = response.meta["article_url"]
        if response.status == NOT_MODIFIED:
            yield ArticleUnchanged(url=url)
        elif response.status in GONE:
            if url in self.known:
                self.witnesses.answered_gone(self.known[url])
            yield ArticleGone(url=url, status=response.status)
        elif response.status in REDIRECTS:
            yield from self._redirected(response, url)
        elif cut_short(response.body, self.profile):
            yield from self._cut_short(response)
        elif (ref := article_ref(url, self.profile)) is not None:  # always: only article URLs come here
            yield ArticlePage(
                url=url,
                fetched_url=response.url,
                language=ref.language,
                status=response.status,
                body=response.body,
                fetched_at=dt.datetime.now(dt.UTC),
                etag=_header(response, b"ETag"),
                last_modified=_header(response, b"Last-Modified"),
                content_type=_header(response, b"Content-Type"),
            )

    def _cut_short(self, response: Response) -> Iterator[scrapy.Request]:
        """A page that stops before its end (crawler.wholeness): fetched again, as Scrapy retries
        a failed download; once the retries are spent, a failed fetch of the run, never an edit."""
        retry = get_retry_request(_request(response), spider=self, reason="page cut short",
                                  give_up_log_level=logging.DEBUG)
        if retry is not None:
            yield retry
            return
        self.crawler.stats.inc_value("newswatch/fetch_failed")
        self.crawler.stats.inc_value("newswatch/pages_cut_short")
        self.logger.warning("article %s failed: the page was cut short (%d bytes, no %s at its end)",
                            response.url, len(response.body), missing_end(self.profile))

    def _redirected(self, response: Response, url: str) -> Iterator[ArticleMoved | scrapy.Request]:
        location = _header(response, b"Location")
        target_fetch = response.urljoin(location) if location else None
        # The site's own redirect: a path of the site at another host is the site at a new address.
        target = self.canonical(target_fetch, target_fetch) if target_fetch else None
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
            # The home page, a listing, any page that is not this release: not a removal (a
            # site-wide redirect is an outage, or a redesign), a fetch that could not read it.
            self.crawler.stats.inc_value("newswatch/fetch_failed")
            self.logger.warning("%s redirects to %s, which is not the release: not a removal", response.url,
                                target_fetch)

    def judge_removals(self) -> None:
        """When the crawl is idle (every listing walked, every article answered), or at its start:
        the known releases whose 404/410 has its second witness (`newswatch/gone_witnessed`, the
        only ones detection may remove), and how many answered 404/410 while the listings link them
        (`newswatch/gone_listed`: failed fetches)."""
        verdict = self.witnesses.verdict()
        self.crawler.stats.set_value("newswatch/gone_witnessed", list(verdict.witnessed))
        self.crawler.stats.set_value("newswatch/gone_listed", verdict.listed)
        if verdict.listed:
            self.logger.warning("%d releases answered 404/410 while the listings link them: failed fetches, "
                                "not removals", verdict.listed)

    def share_witnesses(self) -> None:
        """A worker of a shared run stored what it read: what its listings said goes with it (the
        stats the run's extension stores as this worker's share; the closer judges on all of them)."""
        witnesses = getattr(self, "witnesses", None)  # built in start()
        shared = self.crawler.stats.get_value(WITNESS_SEEN_STAT)
        if witnesses is not None and witnesses.seen != shared:
            self.crawler.stats.set_value(WITNESS_STAT, witnesses.state())
            self.crawler.stats.set_value(WITNESS_SEEN_STAT, witnesses.seen)

    def fetch_failed(self, failure: Failure) -> None:
        """A request that failed after Scrapy's retries: a failure of the run, never a change."""
        request = _failed_request(failure)
        listing = request.meta.get("listing", False)
        self.crawler.stats.inc_value("newswatch/listing_failed" if listing else "newswatch/fetch_failed")
        # A site whose robots.txt says it is unavailable (crawler.robots) fails every request it
        # was sent: one line said so, not one per request.
        log = self.logger.debug if self.crawler.stats.get_value("newswatch/robots_unavailable") else self.logger.warning
        log("%s %s failed: %s", "listing" if listing else "article", request.url, failure.getErrorMessage())


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _request(response: Response) -> scrapy.Request:
    """The request a downloaded response answers (Scrapy sets it before any callback runs)."""
    assert response.request is not None
    return response.request


def _failed_request(failure: Failure) -> scrapy.Request:
    """The request of a failure Scrapy hands an errback (it sets `failure.request`)."""
    request: scrapy.Request = failure.request  # type: ignore[attr-defined]
    return request
