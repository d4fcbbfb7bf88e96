"""XML sitemaps read for the spider: where WordPress puts them, their entries, their `lastmod`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lxml.etree import XMLSyntaxError
from scrapy.http import Response
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap

SITEMAP_NAMES = ("wp-sitemap.xml", "sitemap_index.xml", "sitemap.xml")  # WordPress core, Yoast, the rest


def read_sitemap(response: Response, max_size: int) -> tuple[str, list[dict[str, Any]]] | None:
    """The type (`urlset` or `sitemapindex`) and entries of a sitemap, gzipped or not; None if it is none."""
    body = response.body
    if gzip_magic_number(response):
        try:
            body = gunzip(body, max_size=max_size)
        except (OSError, EOFError, ValueError):  # a broken archive, or one over DOWNLOAD_MAXSIZE
            return None
    try:
        sitemap = Sitemap(body)
        entries = list(sitemap)
    except (StopIteration, XMLSyntaxError):  # not even one XML element
        return None
    return (sitemap.type, entries) if sitemap.type in ("urlset", "sitemapindex") else None


def edited_since(lastmod: str | None, checked_at: dt.datetime) -> bool:
    """Whether a sitemap `lastmod` (W3C datetime) is later than `checked_at`.

    A bare date stands for the end of its day (the edit may have followed our check that day);
    a time without a zone is taken as UTC; an absent or unreadable lastmod says nothing.
    """
    if not lastmod:
        return False
    try:
        stamp = dt.datetime.fromisoformat(lastmod.strip())
    except ValueError:
        return False
    if ":" not in lastmod:
        stamp += dt.timedelta(days=1)
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)) > checked_at
