"""The reads and writes the pipelines, the monitor and the CLI need.

Every function takes a `Session` and leaves committing to the caller:
`with Session(engine) as session, session.begin(): ...`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.content import content_hash, normalize_paragraphs, normalize_text
from storage.models import RUN_STATUSES, Article, ArticleEvent, ArticleVersion, CrawlRun

# Upserts by dialect: INSERT ... ON CONFLICT DO NOTHING is spelled the same on both.
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class RunNotFound(LookupError):
    """No crawl run has the given id."""


@dataclass(frozen=True)
class Recorded:
    """What `record_article` did with one fetched article."""

    article_id: int
    version_id: int | None  # the version written by this call, None if the content was unchanged
    is_new_article: bool
    is_new_version: bool


@dataclass(frozen=True)
class ArticleSummary:
    """One line of the article list: the article and its current version."""

    url: str
    language: str
    title: str | None
    published: dt.date | None
    versions: int
    state: str


@dataclass(frozen=True)
class RunSummary:
    """One line of the run list."""

    id: int
    site: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    is_baseline: bool
    stats: dict[str, Any]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start_run(session: Session, site: str) -> CrawlRun:
    """A new running crawl of `site`; the baseline run when nothing of the site is stored yet."""
    has_articles = session.scalar(select(exists().where(Article.site == site)))
    run = CrawlRun(site=site, started_at=_now(), status="running", stats={}, is_baseline=not has_articles)
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session, run_id: int, status: str, stats: dict[str, Any], *, error: str | None = None
) -> None:
    """Close a run with its final status and (Scrapy) stats; datetimes in stats become ISO strings."""
    if status not in RUN_STATUSES or status == "running":
        raise ValueError(f"cannot finish run {run_id} as {status!r}: use complete, incomplete or failed")
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise RunNotFound(f"no crawl run with id {run_id}")
    run.status = status
    run.finished_at = _now()
    run.stats = _as_json(stats)
    run.error = error


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    """`value` as it will read back from a JSON column (Scrapy stats hold datetimes)."""

    def encode(obj: object) -> str:
        if isinstance(obj, dt.date):  # datetimes included
            return obj.isoformat()
        raise TypeError(f"stats value {obj!r} of type {type(obj).__name__} is not JSON serialisable")

    return json.loads(json.dumps(value, default=encode))


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
) -> Recorded:
    """Store one fetched article; a new version only when its normalised content changed.

    `url` must already be canonical. The article's state (live/gone) is the monitor's to
    change. Safe against concurrent writers of one URL: the article is inserted-or-ignored,
    then its row is locked (on PostgreSQL; SQLite serialises writers) while the content
    hash is compared with the current version's.
    """
    title = normalize_text(title)
    kept = normalize_paragraphs(tuple(paragraphs))
    digest = content_hash(title, published, kept)

    article_id, is_new_article = _insert_article(session, run_id, url=url, site=site, language=language)
    article = session.scalars(
        select(Article)
        .where(Article.id == article_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    article.last_seen_run_id = run_id
    if article.state == "gone":  # a removed article answers again: detection decides if it is restored
        session.add(ArticleEvent(run_id=run_id, article_id=article.id, kind="back"))
    article.etag = etag
    article.last_modified = last_modified

    current_hash = (
        session.scalar(select(ArticleVersion.content_hash).where(ArticleVersion.id == article.current_version_id))
        if article.current_version_id is not None
        else None
    )
    if current_hash == digest:
        session.flush()
        return Recorded(article_id, None, is_new_article, is_new_version=False)

    version = ArticleVersion(
        article=article,
        run_id=run_id,
        fetched_at=fetched_at,
        content_hash=digest,
        title=title,
        published=published,
        text="\n\n".join(kept),
        paragraphs=list(kept),
        etag=etag,
        last_modified=last_modified,
    )
    article.current_version = version
    session.flush()
    return Recorded(article_id, version.id, is_new_article, is_new_version=True)


def _insert_article(session: Session, run_id: int, *, url: str, site: str, language: str) -> tuple[int, bool]:
    """The id of the article at `url`, inserting it if absent; and whether it was inserted."""
    dialect = session.get_bind().dialect.name
    try:
        insert = _INSERTS[dialect]
    except KeyError:
        raise NotImplementedError(f"record_article supports {sorted(_INSERTS)}, not {dialect!r}") from None
    statement = (
        insert(Article)
        .values(
            site=site,
            canonical_url=url,
            language=language,
            first_seen_run_id=run_id,
            last_seen_run_id=run_id,
            state="live",
        )
        .on_conflict_do_nothing(index_elements=[Article.canonical_url])
        .returning(Article.id)
    )
    inserted = session.scalar(statement)
    if inserted is not None:
        return inserted, True
    # Another transaction (or an earlier call) owns the URL; under READ COMMITTED this
    # new statement sees its committed row.
    return session.scalars(select(Article.id).where(Article.canonical_url == url)).one(), False


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


def list_runs(session: Session) -> list[RunSummary]:
    """All crawl runs, newest first."""
    runs = session.scalars(select(CrawlRun).order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc()))
    return [
        RunSummary(
            id=run.id,
            site=run.site,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            is_baseline=run.is_baseline,
            stats=run.stats,
        )
        for run in runs
    ]


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


def known_articles(session: Session, site: str, languages: Sequence[str]) -> list[KnownArticle]:
    """The stored articles of `site` in `languages`, so a crawl re-checks them (oldest id first)."""
    rows = session.execute(
        select(Article.id, Article.canonical_url, ArticleVersion.published, Article.etag, Article.last_modified)
        .join(ArticleVersion, ArticleVersion.id == Article.current_version_id, isouter=True)
        .where(Article.site == site, Article.language.in_(languages))
        .order_by(Article.id)
    )
    return [KnownArticle(*row) for row in rows]


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
