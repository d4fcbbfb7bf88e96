"""Articles and their versions: the reads and writes the pipelines, the monitor and the CLI need.

Every function takes a `Session` and leaves committing to the caller:
`with Session(engine) as session, session.begin(): ...`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage import rawpages
from storage.content import content_hash, normalize_paragraphs, normalize_text, stops_short
from storage.models import Article, ArticleEvent, ArticleVersion, CrawlRun


@dataclass(frozen=True)
class Recorded:
    """What `record_article` did with one fetched article."""

    article_id: int
    version_id: int | None  # the version written by this call, None if the content was unchanged
    is_new_article: bool
    is_new_version: bool
    suspect: bool = False  # far shorter than the stored text, or cut short: nothing was written
    cut_short: bool = False  # suspect because the text stops mid-sentence where the stored one goes on
    rebaselined: bool = False  # the stored page read again by tonight's extractor gave another text


@dataclass(frozen=True)
class Reread:
    """A stored version's page read again by tonight's extractor (crawler.pipelines)."""

    version_id: int  # the version whose page was read; ignored if it is no longer current
    page: str  # that page's SHA-256
    title: str
    published: dt.date | None
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class ArticleSummary:
    """One line of the article list: the article and its current version."""

    url: str
    language: str
    title: str | None
    published: dt.date | None
    versions: int
    state: str


def record_article(
    session: Session,
    run_id: int,
    *,
    url: str,
    site: str,
    language: str,
    title: str,
    published: dt.date | None,
    paragraphs: Sequence[str],
    fetched_at: dt.datetime,
    etag: str | None = None,
    last_modified: str | None = None,
    min_length_ratio: float = 0.0,
    page: rawpages.Fetched | None = None,
    extraction: str | None = None,
    reread: Reread | None = None,
) -> Recorded:
    """Store one fetched article; a new version only when its normalised content changed.

    `url` must already be canonical. The article's state (live/gone) is the monitor's to
    change. A text shorter than `min_length_ratio` of the current version's, or one that stops
    mid-sentence where the current version goes on (`content.stops_short`: `cut_short`), is a
    truncated page or a half-rendered template, not an editor's cut: nothing is written and the
    result says `suspect`. A new version keeps `page` in the raw archive and the `extraction`
    fingerprint that read it. `reread`, the current version's page read by the same extractor,
    comes first when it reads otherwise than the current version: it is written as a re-baseline
    (storage.models.ArticleVersion.rebaseline), so tonight's text is compared with it, under one
    extractor; if they agree, no other version is written. Safe against concurrent writers of one URL: the article is
    inserted-or-ignored, then its row is locked (on PostgreSQL; SQLite serialises writers)
    while the content hash is compared with the current version's.

    Written with prepared Core statements (three or four per article), not the ORM's unit of
    work: this runs once per article of every crawl.
    """
    title = normalize_text(title)
    kept = normalize_paragraphs(tuple(paragraphs))
    text = "\n\n".join(kept)
    digest = content_hash(title, published, kept)

    session.flush()  # what the ORM holds pending must be visible to the statements below
    connection = session.connection()
    locked = connection.execute(_LOCK, {"url": url}).one_or_none()
    is_new_article = False
    if locked is None:
        (article_id, state, current_version_id), is_new_article = _insert_article(
            connection, run_id, url=url, site=site, language=language)
    else:
        article_id, state, current_version_id = locked
    # Read once the row is locked: a writer we waited for has committed its version by now.
    current_hash, current_length, current_page = (None, None, None) if current_version_id is None else (
        connection.execute(_DIGEST, {"id": current_version_id}).one())
    rebaselined = False
    if reread is not None and reread.version_id == current_version_id:
        again = _rebaseline(connection, reread, extraction, current_hash)
        if again is not None:
            current_version_id, current_hash, current_length = again
            current_page = reread.page
            connection.execute(_CURRENT, {"id_": article_id, "version_id_": current_version_id})
            rebaselined = True
    if current_length is not None and len(text) < min_length_ratio * current_length:
        return Recorded(article_id, None, is_new_article, is_new_version=False, suspect=True, rebaselined=rebaselined)
    if (current_length is not None and current_hash != digest and len(text) < current_length
            and stops_short(kept, tuple(connection.execute(_PARAGRAPHS, {"id": current_version_id}).scalar_one()))):
        return Recorded(article_id, None, is_new_article, is_new_version=False, suspect=True, cut_short=True,
                        rebaselined=rebaselined)
    if state == "gone":  # a removed article answers again: detection decides if it is restored
        connection.execute(_EVENT, {"run_id": run_id, "article_id": article_id, "kind": "back"})
    seen = {"id_": article_id, "run_id_": run_id, "etag_": etag, "last_modified_": last_modified}
    version_id = None
    if current_hash == digest:
        connection.execute(_SEEN, seen)
        if current_page is None and page is not None:
            # Stored before the raw archive: tonight's page reads as its text, so it is the page
            # a later extractor will read again (once per such version).
            connection.execute(_ADOPT, {"id_": current_version_id, "raw_sha256": rawpages.store(connection, page, fetched_at),
                                        "http_status": page.status, "content_type": page.content_type,
                                        "extraction": extraction})
    else:
        raw_sha256 = None if page is None else rawpages.store(connection, page, fetched_at)
        version_id = connection.execute(_VERSION, {
            "article_id": article_id, "run_id": run_id, "fetched_at": fetched_at, "content_hash": digest,
            "title": title, "published": published, "text": text, "paragraphs": list(kept), "etag": etag,
            "last_modified": last_modified, "raw_sha256": raw_sha256, "extraction": extraction,
            "http_status": page and page.status, "content_type": page and page.content_type, "rebaseline": False,
        }).scalar_one()
        connection.execute(_SEEN_VERSION, {**seen, "version_id_": version_id})
    if (loaded := session.identity_map.get(session.identity_key(Article, article_id))) is not None:
        session.expire(loaded)  # an Article the session loaded earlier no longer says the truth
    return Recorded(article_id, version_id, is_new_article, is_new_version=version_id is not None,
                    rebaselined=rebaselined)


def _rebaseline(connection: Connection, reread: Reread, extraction: str | None,
                current_hash: str | None) -> tuple[int, str, int] | None:
    """Write `reread` as a re-baseline of its version if it reads otherwise; the new current
    version's id, hash and text length, or None when the stored text stands."""
    title = normalize_text(reread.title)
    kept = normalize_paragraphs(reread.paragraphs)
    digest = content_hash(title, reread.published, kept)
    if digest == current_hash:
        return None  # tonight's extractor reads the stored page as the stored one did
    text = "\n\n".join(kept)
    version_id = connection.execute(_REBASELINE, {
        "id": reread.version_id, "content_hash": digest, "title": title, "published": reread.published,
        "text": text, "paragraphs": list(kept), "extraction": extraction,
    }).scalar_one()
    return version_id, digest, len(text)


def rebaseline(session: Session, reread: Reread, extraction: str) -> int | None:
    """Write `reread` as a re-baseline of its version, now the article's current one (`newswatch
    reextract`); its id, or None when it reads as the stored text or is no longer current."""
    connection = session.connection()
    current = connection.execute(
        select(_ARTICLES.c.id, _VERSIONS.c.content_hash)
        .join(_VERSIONS, _VERSIONS.c.id == _ARTICLES.c.current_version_id)
        .where(_ARTICLES.c.current_version_id == reread.version_id)
        .with_for_update(of=_ARTICLES)
    ).one_or_none()
    if current is None:
        return None
    again = _rebaseline(connection, reread, extraction, current.content_hash)
    if again is None:
        return None
    connection.execute(_CURRENT, {"id_": current.id, "version_id_": again[0]})
    return again[0]


_ARTICLES, _VERSIONS = cast(Table, Article.__table__), cast(Table, ArticleVersion.__table__)
# The article at a URL, locked for the transaction (on PostgreSQL; SQLite serialises writers).
_LOCK = (
    select(_ARTICLES.c.id, _ARTICLES.c.state, _ARTICLES.c.current_version_id)
    .where(_ARTICLES.c.canonical_url == bindparam("url"))
    .with_for_update()
)
_DIGEST = select(_VERSIONS.c.content_hash, func.length(_VERSIONS.c.text), _VERSIONS.c.raw_sha256).where(
    _VERSIONS.c.id == bindparam("id"))
_ADOPT = update(ArticleVersion).where(ArticleVersion.id == bindparam("id_"))
_PARAGRAPHS = select(_VERSIONS.c.paragraphs).where(_VERSIONS.c.id == bindparam("id"))
_VERSION = insert(_VERSIONS).returning(_VERSIONS.c.id)
_EVENT = insert(cast(Table, ArticleEvent.__table__))
# A re-baseline: the version's page, run, fetch and response, with tonight's reading of the page.
_COPIED = ("article_id", "run_id", "fetched_at", "etag", "last_modified", "raw_sha256", "http_status", "content_type")
_REBASELINE = insert(ArticleVersion).from_select(
    [*_COPIED, "content_hash", "title", "published", "text", "paragraphs", "extraction", "rebaseline"],
    select(*(_VERSIONS.c[name] for name in _COPIED), bindparam("content_hash"), bindparam("title"),
           bindparam("published", type_=_VERSIONS.c.published.type), bindparam("text"),
           bindparam("paragraphs", type_=_VERSIONS.c.paragraphs.type), bindparam("extraction"), true())
    .where(_VERSIONS.c.id == bindparam("id")),
).returning(_VERSIONS.c.id)
_SEEN = (
    update(_ARTICLES).where(_ARTICLES.c.id == bindparam("id_"))
    .values(last_seen_run_id=bindparam("run_id_"), etag=bindparam("etag_"), last_modified=bindparam("last_modified_"))
)
_SEEN_VERSION = _SEEN.values(current_version_id=bindparam("version_id_"))
_CURRENT = update(Article).where(Article.id == bindparam("id_")).values(current_version_id=bindparam("version_id_"))
# Insert-or-ignore by dialect: INSERT ... ON CONFLICT DO NOTHING is spelled the same on both.
_NEW_ARTICLE = {
    name: dialect.insert(_ARTICLES).on_conflict_do_nothing(index_elements=["canonical_url"]).returning(_ARTICLES.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _insert_article(connection: Connection, run_id: int, *, url: str, site: str,
                    language: str) -> tuple[tuple[int, str, int | None], bool]:
    """Insert the article at `url` and return it as `_LOCK` reads it, and whether it was
    inserted; if another writer stored it first, lock and return theirs."""
    try:
        statement = _NEW_ARTICLE[connection.dialect.name]
    except KeyError:
        raise NotImplementedError(
            f"record_article supports {sorted(_NEW_ARTICLE)}, not {connection.dialect.name!r}") from None
    inserted = connection.execute(statement, {
        "site": site, "canonical_url": url, "language": language, "first_seen_run_id": run_id,
        "last_seen_run_id": run_id, "state": "live",
    }).scalar()
    if inserted is not None:
        return (inserted, "live", None), True
    # Another transaction owns the URL; under READ COMMITTED this new statement sees its committed row.
    return connection.execute(_LOCK, {"url": url}).one(), False


def list_articles(session: Session, site: str | None = None, language: str | None = None) -> list[ArticleSummary]:
    """Articles with their current title and date, by language, newest first, then URL."""
    versions = (
        select(func.count(ArticleVersion.id))
        .where(ArticleVersion.article_id == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )
    statement = (
        select(
            Article.canonical_url,
            Article.language,
            ArticleVersion.title,
            ArticleVersion.published,
            versions,
            Article.state,
        )
        .outerjoin(ArticleVersion, Article.current_version_id == ArticleVersion.id)
        .order_by(Article.language, ArticleVersion.published.desc().nulls_last(), Article.canonical_url)
    )
    if site is not None:
        statement = statement.where(Article.site == site)
    if language is not None:
        statement = statement.where(Article.language == language)
    return [ArticleSummary(*row) for row in session.execute(statement)]


def get_article(session: Session, url: str) -> Article | None:
    """The article at canonical `url`, or None."""
    return session.scalars(select(Article).where(Article.canonical_url == url)).one_or_none()


def versions_of(session: Session, url: str) -> list[ArticleVersion]:
    """The versions of the article at canonical `url`, oldest first; empty if it is unknown."""
    statement = (
        select(ArticleVersion)
        .join(Article, ArticleVersion.article_id == Article.id)
        .where(Article.canonical_url == url)
        .order_by(ArticleVersion.id)
    )
    return list(session.scalars(statement))


@dataclass(frozen=True)
class KnownArticle:
    """What a crawl needs to re-check a stored article cheaply."""

    id: int
    url: str
    published: dt.date | None
    etag: str | None
    last_modified: str | None
    # When the article was last fetched or confirmed unchanged (304): the start of the run that
    # last saw it. A version's fetched_at would not move on such checks, so a sitemap lastmod
    # later than it would make the article due every night; a run's start errs towards re-checking.
    checked_at: dt.datetime
    title: str | None = None  # of its current version: a release at a new URL may be known by it
    # Its current version, as re-extraction needs it (crawler.pipelines.ExtractPipeline).
    version_id: int | None = None
    content_hash: str | None = None
    extraction: str | None = None  # the fingerprint of the extractor that read it
    raw_sha256: str | None = None  # its page in the raw archive
    # A live release that answered 404/410 when last checked: a removal waiting for its second
    # witness (crawler.witness), re-checked the next night whatever its share day.
    answered_gone: bool = False


def known_articles(session: Session, site: str, languages: Sequence[str], origin: str) -> list[KnownArticle]:
    """The stored articles of `site` in `languages` at URLs on `origin`, so a crawl re-checks them
    (oldest id first). One left on another origin (storage.addresses) is history only."""
    answered_gone = and_(Article.state == "live", select(ArticleEvent.id).where(
        ArticleEvent.article_id == Article.id, ArticleEvent.kind == "gone", ArticleEvent.http_status.in_((404, 410)),
        ArticleEvent.run_id > Article.last_seen_run_id).exists())
    rows = session.execute(
        select(Article.id, Article.canonical_url, ArticleVersion.published, Article.etag, Article.last_modified,
               CrawlRun.started_at, ArticleVersion.title, ArticleVersion.id, ArticleVersion.content_hash,
               ArticleVersion.extraction, ArticleVersion.raw_sha256, answered_gone)
        .join(ArticleVersion, ArticleVersion.id == Article.current_version_id, isouter=True)
        .join(CrawlRun, CrawlRun.id == Article.last_seen_run_id)
        .where(Article.site == site, Article.language.in_(languages),
               Article.canonical_url.startswith(origin.rstrip("/") + "/", autoescape=True))
        .order_by(Article.id)
    )
    return [KnownArticle(id_, url, published, etag, last_modified, checked_at, title, version_id, digest, extraction,
                         raw_sha256, answered_gone=bool(gone))
            for id_, url, published, etag, last_modified, checked_at, title, version_id, digest, extraction, raw_sha256,
            gone in rows]


def mark_seen(session: Session, run_id: int, url: str) -> bool:
    """Note that the article at `url` was checked in this run and had not changed (HTTP 304)."""
    article = session.scalars(select(Article).where(Article.canonical_url == url)).one_or_none()
    if article is None:
        return False
    article.last_seen_run_id = run_id
    if article.state == "gone":
        session.add(ArticleEvent(run_id=run_id, article_id=article.id, kind="back"))
    session.flush()
    return True
