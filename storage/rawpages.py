"""The raw archive: each stored version's page as fetched, compressed, stored once per distinct body.

A page is addressed by the SHA-256 of its raw bytes (`article_versions.raw_sha256`), so the same
bytes fetched again, or read again by a newer extractor, cost nothing more. The response's status
and content type are the version's (with its ETag, Last-Modified and fetch time). Bodies are
zstd-compressed at level 3, in the crawl process's flush: on pages of the real site's size (115 KB)
0.15 ms a page and 12.1 KB stored, where level 10 took 0.95 ms for 10.8 KB (12% smaller, six times
the CPU, on the reactor's thread). Level only matters when writing: any level decompresses.

Pruning (`prune`, NEWSWATCH_RAW_KEEP_DAYS) deletes the pages that only versions fetched before
the cut-off still name, never the page of an article's current version, which re-extraction
needs. A version keeps its `raw_sha256` when its page is pruned (there is deliberately no foreign
key): it still says which page it was read from, and `load` says the page is gone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, cast

import zstandard
from sqlalchemy import Connection, CursorResult, delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Article, ArticleVersion, RawPage

ZSTD_LEVEL = 3


@dataclass(frozen=True)
class Fetched:
    """A page as the crawl received it: what the raw archive keeps of a response."""

    body: bytes
    status: int
    content_type: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class RawPageMissing(LookupError):
    """A version whose page is not in the archive (stored before it existed, or pruned)."""


def compress(body: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)


def decompress(stored: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(stored)


_TABLE = RawPage.__table__
_INSERT = {
    name: dialect.insert(_TABLE).on_conflict_do_nothing(index_elements=["sha256"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def store(connection: Connection, page: Fetched, stored_at: dt.datetime) -> str:
    """Keep `page`'s body (once: an identical body is already there) and return its address."""
    sha = page.sha256
    if connection.execute(select(_TABLE.c.sha256).where(_TABLE.c.sha256 == sha)).first() is None:
        connection.execute(_INSERT[connection.dialect.name], {
            "sha256": sha, "size": len(page.body), "body": compress(page.body), "stored_at": stored_at})
    return sha


def load(session: Session, sha256: str | None) -> bytes:
    """The raw body stored at `sha256`; RawPageMissing when there is none."""
    stored = None if sha256 is None else session.scalar(select(RawPage.body).where(RawPage.sha256 == sha256))
    if stored is None:
        raise RawPageMissing(sha256 or "no page")
    return decompress(stored)


def prune(session: Session, keep_days: int | None, now: dt.datetime) -> int:
    """Delete the pages no longer needed: those that no current version and no version fetched in
    the last `keep_days` days was read from (None: keep everything). Returns how many went."""
    if keep_days is None:
        return 0
    cutoff = now - dt.timedelta(days=keep_days)
    needed = exists().where(
        ArticleVersion.raw_sha256 == RawPage.sha256,
        (ArticleVersion.fetched_at >= cutoff)
        | ArticleVersion.id.in_(select(Article.current_version_id).where(Article.current_version_id.is_not(None))),
    )
    result = cast(CursorResult[Any], session.execute(delete(RawPage).where(~needed)))
    return result.rowcount or 0


def archive_size(session: Session) -> tuple[int, int, int]:
    """How many pages the archive holds, their raw bytes and their stored (compressed) bytes."""
    count, raw, stored = session.execute(
        select(func.count(), func.coalesce(func.sum(RawPage.size), 0),
               func.coalesce(func.sum(func.length(RawPage.body)), 0))).one()
    return int(count), int(raw), int(stored)
