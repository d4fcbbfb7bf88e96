"""Read-only views of what the monitor recorded: the change list of runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Article, ArticleVersion, Change, CrawlRun
from storage.runs import RunNotFound, latest_run_id  # noqa: F401 (the CLI reads it here)


@dataclass(frozen=True)
class ChangeRecord:
    """One change as reporters show it."""

    kind: str
    url: str
    language: str
    title: str
    fields: list[str]
    summary: str
    run: int
    baseline: bool
    old_version_id: int | None
    new_version_id: int | None


def list_changes(session: Session, run_id: int | None = None, since: dt.date | None = None,
                 include_baseline: bool = False) -> list[ChangeRecord]:
    """Changes of one run, or of every run started since a date; baseline additions left out by default."""
    version = ArticleVersion.__table__.alias("shown")
    query = (
        select(Change, Article.canonical_url, Article.language, version.c.title)
        .join(Article, Article.id == Change.article_id)
        .join(version, version.c.id == func.coalesce(Change.new_version_id, Change.old_version_id), isouter=True)
        .join(CrawlRun, CrawlRun.id == Change.run_id)
        .order_by(Change.run_id, Article.language, Change.kind, Article.canonical_url)
    )
    if run_id is not None:
        if session.get(CrawlRun, run_id) is None:
            raise RunNotFound(f"no crawl run {run_id}")
        query = query.where(Change.run_id == run_id)
    if since is not None:
        query = query.where(CrawlRun.started_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    if not include_baseline:
        query = query.where(Change.is_baseline.is_(False))
    return [
        ChangeRecord(kind=change.kind, url=url, language=language, title=title or "", fields=list(change.fields),
                     summary=change.summary, run=change.run_id, baseline=change.is_baseline,
                     old_version_id=change.old_version_id, new_version_id=change.new_version_id)
        for change, url, language, title in session.execute(query)
    ]

