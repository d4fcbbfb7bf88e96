"""The spiders newswatch is measured against: what a user would write in an afternoon.

    python bench/naive.py SITE_URL [--store sqlite:///naive.db]

The floor (no `--store`): walk each language's listing pages, request every article they link
to once (the path, query and fragment dropped, the trailing slash added, so each spelling of
one article is one request), read nothing. Nothing can fetch the articles faster in one process.

The naive pipeline (`--store URL`): the same spider, and for each article page
`trafilatura.extract` and one SQLAlchemy commit of (url, text), in the crawl process: no
change detection, no versions, no raw archive.

Neither reads the project's settings: Scrapy's defaults, with the bench's speed settings.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from sqlalchemy import String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

LISTINGS = {"en": "/en/category/news/", "fr": "/fr/category/actualites/", "ar": "/ar/category/المستجدات/"}
ARTICLE = re.compile(r"^/(en|fr|ar)/\d{4}/\d{2}/\d{2}/[^/]+/$")
SETTINGS = {"LOG_LEVEL": "WARNING", "ROBOTSTXT_OBEY": False, "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0,
            "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "TELNETCONSOLE_ENABLED": False,
            "COOKIES_ENABLED": False}


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"
    url: Mapped[str] = mapped_column(String, primary_key=True)
    text: Mapped[str | None] = mapped_column(Text)


class FloorSpider(scrapy.Spider):
    name = "floor"

    def __init__(self, site_url: str, extract: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site_url, self.extract = site_url.rstrip("/"), extract

    async def start(self) -> Any:
        for path in LISTINGS.values():
            yield scrapy.Request(self.site_url + quote(path), callback=self.parse_listing)

    def parse_listing(self, response: scrapy.http.TextResponse) -> Iterator[scrapy.Request]:
        for href in response.css("a::attr(href)").getall():
            path = unquote(urlsplit(response.urljoin(href)).path)
            path = path if path.endswith("/") else path + "/"
            if ARTICLE.match(path) or "/page/" in path:
                yield scrapy.Request(self.site_url + quote(path),
                                     callback=self.parse_article if ARTICLE.match(path) else self.parse_listing)

    def parse_article(self, response: scrapy.http.TextResponse) -> Iterator[dict[str, str]]:
        if self.extract:
            yield {"url": response.url, "html": response.text}


class StorePipeline:
    """trafilatura, then one commit per item: the pipeline of every tutorial."""

    def __init__(self, url: str) -> None:
        import trafilatura

        self.trafilatura = trafilatura
        self.engine = create_engine(url)
        Base.metadata.create_all(self.engine)

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler.settings["NAIVE_STORE"])

    def process_item(self, item: dict[str, str]) -> dict[str, str]:
        text = self.trafilatura.extract(item["html"])
        with Session(self.engine) as session:
            session.merge(Article(url=item["url"], text=text))
            session.commit()
        return {"url": item["url"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site_url")
    parser.add_argument("--store", metavar="DATABASE_URL", help="extract and store each article (the naive pipeline)")
    args = parser.parse_args()
    settings = dict(SETTINGS)
    if args.store:
        settings |= {"ITEM_PIPELINES": {f"{__name__}.StorePipeline": 300}, "NAIVE_STORE": args.store}
    process = CrawlerProcess(settings)
    process.crawl(FloorSpider, site_url=args.site_url, extract=bool(args.store))
    process.start()


if __name__ == "__main__":
    main()
