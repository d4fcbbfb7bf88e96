"""Retry-After read as RFC 9110 writes it: seconds, or an HTTP date (crawler.retryafter)."""

from __future__ import annotations

import datetime as dt

import pytest
from scrapy.http import Response

from crawler.retryafter import retry_after

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0),
    (" 3 ", 3.0),
    ("Sat, 05 Dec 2026 12:10:00 GMT", 600.0),
    ("Sat, 05 Dec 2026 11:00:00 GMT", 0.0),  # a date past: at once
    ("soon", None),
    ("-5", None),
    (None, None),
])
def test_retry_after_in_seconds(header, seconds):
    headers = {"Retry-After": header} if header is not None else {}
    assert retry_after(Response("https://icesco.org/en/", status=429, headers=headers), now=NOW) == seconds
