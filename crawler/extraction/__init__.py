"""Extraction of one release from its page: bytes and a URL in, an `Extracted` record out.

Pure (no Scrapy, no database), so it runs in worker processes (`pool`) and in tests alone.
`article` reads the page; `lines`, `phrases`, `boilerplate` and `metadata` are its steps.
"""

from crawler.extraction.article import Extracted, NotAnArticle, extract

__all__ = ["Extracted", "NotAnArticle", "extract"]
