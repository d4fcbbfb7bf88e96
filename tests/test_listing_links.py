"""A listing page's links are sorted cheaply before they are canonicalised (crawler.urls
`may_be_article_or_listing`), and no article link is lost on the way: a dropped link would be a
missed release. Every spelling a listing can hold of an article (relative, absolute, another
host of the site, percent-escapes in either case, no trailing slash, tracking query, fragment)
still reaches the spider, as does every next listing page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
from lxml import html as lxml_html
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.moves import MoveCandidates
from crawler.sites import ICESCO
from crawler.spiders.news import NewsSpider
from crawler.urls import article_ref, canonicalize, may_be_article_or_listing
from crawler.witness import RemovalWitnesses

SITE = "http://127.0.0.1:8399"
SNAPSHOTS = Path(__file__).resolve().parents[1] / "fixtures" / "site"
EN, AR = "/en/2022/09/13/some-release/", "/ar/2025/01/09/اليوم-الدولي-للتعليم-2/"


def spellings(path: str) -> list[str]:
    """Every way a page may link the article at unquoted `path`."""
    upper = quote(path)
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), upper)
    bare = upper.rstrip("/")
    forms = [path, upper, lower, bare, path.rstrip("/"), "  " + upper + "\n"]
    for host in ("https://icesco.org", "https://www.icesco.org", "http://ICESCO.org", "HTTPS://WWW.ICESCO.ORG",
                 "https://icesco.org:443", "//www.icesco.org", SITE, "https://news.example.net"):
        forms += [host + upper, host + lower, host + bare, host + path]
    forms += [upper + "?utm_source=newsletter&utm_medium=email", bare + "?utm_campaign=x", upper + "#respond",
              bare + "#comments", upper.replace("/", "//", 2), "https://icesco.org/.." + upper,
              upper.replace("2022", "%32022").replace("2025", "%32025"),  # a digit escaped
              "../../../.." + upper]  # relative to a listing page, resolved
    return forms


LISTING_PAGES = ["/en/category/news/page/2/", "/en/category/news/page/2", "https://www.icesco.org/en/category/news/page/3/",
                 quote("/ar/category/المستجدات/page/4/").lower(), "/ar/category/المستجدات/", "/en/category/news"]
BASES = [SITE + "/en/category/news/", SITE + "/en/category/news/page/7/", SITE + quote("/ar/category/المستجدات/page/2/")]


def kept_by_canonicalize(link: str, language: str) -> bool:
    """What parse_listing used before the cheap test: the link is an article or a page of the listing."""
    url = canonicalize(link, ICESCO, SITE)
    if url is None:
        return False
    path = url.split("icesco.org", 1)[1]
    listing = ICESCO.listing_paths[language]
    return article_ref(url, ICESCO) is not None or (not urlsplit(url).query and unquote(path).startswith(listing))


@pytest.mark.parametrize("path", [EN, AR])
def test_every_spelling_of_an_article_link_passes_the_cheap_test(path):
    language = path.split("/")[1]
    for base in BASES:
        for href in spellings(path):
            link = urljoin(base, href.strip())
            if kept_by_canonicalize(link, language):
                assert may_be_article_or_listing(link, ICESCO, ICESCO.listing_paths[language]), (base, href)
            assert not kept_by_canonicalize(link, language) or article_ref(canonicalize(link, ICESCO, SITE), ICESCO)


def test_every_link_of_the_fixture_listings_that_canonicalize_keeps_passes_and_menus_do_not():
    """Over every link of every page of every fixture snapshot (listings, and the related posts and
    post navigation of article pages, every template: about 900 links of articles and listings, spelled every way)."""
    checked, dropped = 0, 0
    for page in sorted(SNAPSHOTS.glob("*/*/**/index.html")):
        language = page.relative_to(SNAPSHOTS).parts[1]
        if language not in ICESCO.languages:
            continue
        base = SITE + quote("/" + page.parent.relative_to(SNAPSHOTS).as_posix().split("/", 1)[1] + "/")
        for href in lxml_html.fromstring(page.read_bytes()).xpath("//a/@href | //link[@rel='next']/@href"):
            link = urljoin(base, href.strip())
            passes = may_be_article_or_listing(link, ICESCO, ICESCO.listing_paths[language])
            if kept_by_canonicalize(link, language):
                assert passes, (page, href)
                checked += 1
            dropped += not passes
    assert checked > 500 and dropped > checked


def test_the_menus_archives_and_tags_of_a_wordpress_page_are_left_out_cheaply():
    for href in ("/en/category/education-science-1/", "/en/tag/culture-heritage-2/", "/en/2022/09/", "/en/2022/09/13/",
                 "https://www.facebook.com/icesco", "/en/wp-content/uploads/sites/2/2022/09/photo.jpg", "/en/about/"):
        assert not may_be_article_or_listing(urljoin(BASES[0], href), ICESCO, ICESCO.listing_paths["en"]), href


def test_the_spider_requests_every_article_a_listing_links_in_any_spelling_and_the_next_page():
    """parse_listing itself: a listing page holding each spelling of two articles and a menu."""
    crawler = get_crawler(NewsSpider)
    spider = NewsSpider()
    spider._set_crawler(crawler)
    crawler.stats.open_spider()
    spider.profile, spider.site_url, spider.languages, spider.full = ICESCO, SITE, ICESCO.languages, True
    spider.moves, spider.witnesses = MoveCandidates([], ICESCO), RemovalWitnesses(ICESCO)
    others = [f"/en/2021/0{m}/1{m}/release-{m}/" for m in range(1, 8)]
    links = [href for path in (EN, AR, *others) for href in spellings(path)]
    links += [f"/en/category/topic-{n}/" for n in range(300)] + ["/en/category/news/page/8/"]
    body = "<html><body>" + "".join(f'<a href="{href}">x</a>' for href in links) + "</body></html>"
    response = HtmlResponse(BASES[1], body=body.encode(), encoding="utf-8")
    requests = list(spider.parse_listing(response, language="en"))
    fetched = {request.meta.get("article_url") or request.url for request in requests}
    assert {f"{ICESCO.origin}{quote(path)}" for path in (EN, AR, *others)} <= fetched
    assert SITE + "/en/category/news/page/8/" in fetched
    assert all(request.url.startswith(SITE) for request in requests)
    # The next page: the same menus (judged once, on the first page), other articles.
    later = [f"/en/2020/0{m}/1{m}/older-{m}/" for m in range(1, 8)]
    links = [href for path in later for href in spellings(path)] + [f"/en/category/topic-{n}/" for n in range(300)]
    body = "<html><body>" + "".join(f'<a href="{href}">x</a>' for href in links) + "</body></html>"
    response = HtmlResponse(SITE + "/en/category/news/page/8/", body=body.encode(), encoding="utf-8")
    fetched = {request.meta.get("article_url") for request in spider.parse_listing(response, language="en")}
    assert {f"{ICESCO.origin}{quote(path)}" for path in later} <= fetched
    assert ("/en/category/topic-1/", "/en/category/news/") in spider.left_out
