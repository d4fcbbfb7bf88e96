"""Full-text search of the stored releases: SQLite FTS5 or PostgreSQL's text search, one interface.

The index (migration 0004_web) covers every version's title and text, so a release is found by
words it holds now or held once; each hit is one article, shown with its current title. What
the user typed is never query syntax: its words are searched as plain terms, all of them.
Like `storage.repository`, every function takes a `Session`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from storage.models import Article, ArticleVersion

# Marks around matched words in a snippet: control characters no page text holds after
# normalisation, so the caller can escape the snippet and then turn them into markup.
MATCH_START, MATCH_END = "\x02", "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)
SNIPPET_WORDS = 24


@dataclass(frozen=True)
class SearchHit:
    """One release found: the article, its current title and date, and a snippet of the best version."""

    article_id: int
    url: str
    language: str
    title: str
    published: dt.date | None
    snippet: str  # plain text with MATCH_START/MATCH_END around matched words


def terms(query: str) -> list[str]:
    """The words of what the user typed (punctuation and query operators are not syntax here)."""
    return _WORD.findall(query)[:20]


def search(session: Session, query: str, *, language: str | None = None, limit: int = 50) -> list[SearchHit]:
    """Articles whose title or text (in any version) holds every word of `query`, best first."""
    words = terms(query)
    if not words:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        matches = _sqlite_matches(session, words, limit * 4)
    elif dialect == "postgresql":
        matches = _postgresql_matches(session, words, limit * 4)
    else:
        raise NotImplementedError(f"search supports sqlite and postgresql, not {dialect!r}")
    return _hits(session, matches, language, limit)


def _sqlite_matches(session: Session, words: list[str], limit: int) -> list[tuple[int, str]]:
    """(version id, snippet) by rank; each word a quoted FTS5 string, so nothing is an operator."""
    match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
    rows = session.execute(
        text("SELECT rowid, snippet(article_search, -1, :start, :end, '…', :words) FROM article_search "
             "WHERE article_search MATCH :match ORDER BY rank LIMIT :limit"),
        {"match": match, "start": MATCH_START, "end": MATCH_END, "words": SNIPPET_WORDS, "limit": limit},
    )
    return [(int(row[0]), str(row[1])) for row in rows]


def _postgresql_matches(session: Session, words: list[str], limit: int) -> list[tuple[int, str]]:
    """(version id, snippet) by rank; the expression is the one the GIN index holds."""
    document = func.to_tsvector(text("'simple'::regconfig"), ArticleVersion.title + " " + ArticleVersion.text)
    query: Any = func.plainto_tsquery(text("'simple'::regconfig"), " ".join(words))
    options = f"StartSel={MATCH_START}, StopSel={MATCH_END}, MaxWords={SNIPPET_WORDS}, MinWords=8, FragmentDelimiter=…"
    snippet = func.ts_headline(text("'simple'::regconfig"), ArticleVersion.text, query, options)
    rows = session.execute(
        select(ArticleVersion.id, snippet)
        .where(document.op("@@")(query))
        .order_by(func.ts_rank(document, query).desc(), ArticleVersion.id.desc())
        .limit(limit)
    )
    return [(int(row[0]), str(row[1])) for row in rows]


def _hits(session: Session, matches: list[tuple[int, str]], language: str | None, limit: int) -> list[SearchHit]:
    """One hit per article, in the order of its best-ranked version, with the article's current title."""
    if not matches:
        return []
    version_article = dict(session.execute(
        select(ArticleVersion.id, ArticleVersion.article_id).where(ArticleVersion.id.in_([m[0] for m in matches]))
    ).all())
    best: dict[int, str] = {}
    for version_id, snippet in matches:
        best.setdefault(version_article[version_id], snippet)
    statement = (
        select(Article.id, Article.canonical_url, Article.language, ArticleVersion.title, ArticleVersion.published)
        .join(ArticleVersion, ArticleVersion.id == Article.current_version_id)
        .where(Article.id.in_(best))
    )
    if language is not None:
        statement = statement.where(Article.language == language)
    rows = {row[0]: row for row in session.execute(statement)}
    return [SearchHit(*rows[article_id], snippet=best[article_id]) for article_id in best if article_id in rows][:limit]
