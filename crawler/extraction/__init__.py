"""Extraction of one release from its page: bytes and a URL in, an `Extracted` record out.

Pure (no Scrapy, no database), so it runs in worker processes (`pool`) and in tests alone.
`article` reads the page; `lines`, `phrases`, `boilerplate` and `metadata` are its steps.
`fingerprint` names the extractor a text was read by, stored with each version.
"""

from crawler.extraction.article import Extracted, NotAnArticle, extract

# Raise it with any change to this package that makes some page read otherwise: a stored
# version read by another extractor is re-read before it is compared (README, "The raw archive
# and re-extraction"), so an extractor change never alerts anyone.
EXTRACTION_VERSION = 2

__all__ = ["EXTRACTION_VERSION", "Extracted", "NotAnArticle", "extract"]
