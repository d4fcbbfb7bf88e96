"""Changes as every reporter reads them: one change with its article, its run and the texts it compares.

Detection (monitor.detect) writes `Change` rows; digests, the command line, the web view and
the feed read them back from here as `ChangeRecord`s, one shape for all of them.
Like `storage.repository`, every function takes a `Session` and leaves committing to the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from storage.models import CHANGE_KINDS, Article, ArticleEvent, ArticleVersion, Change, CrawlRun
from storage.runs import RunNotFound


@dataclass(frozen=True)
class VersionText:
    """The content of one stored version, as a diff compares it (`monitor.diff.Version`)."""

    title: str
    published: dt.date | None
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class ChangeRecord:
    """One change of one article, found by one run, as reporters show it.

    `title` and `published` are the newest involved version's: the new one, else the old one
    (a removal), else the article's current one. `old` and `new` are the texts compared, read
    only when asked for (`with_texts=True`): a list of changes does not need them.
    """

    id: int
    run_id: int
    article_id: int
    kind: str
    url: str
    language: str
    title: str
    published: dt.date | None
    fields: tuple[str, ...]
    summary: str
    is_baseline: bool
    old_version_id: int | None
    new_version_id: int | None
    old: VersionText | None = None
    new: VersionText | None = None
    # What the run observed besides content (storage.events): the status a removed release
    # answered and where it redirected to, or the URL a moved release had before.
    http_status: int | None = None
    other_url: str | None = None
    site: str = ""  # the site profile's name (the article's site, so its run's too)


def list_changes(
    session: Session,
    run_id: int | None = None,
    since: dt.date | None = None,
    *,
    include_baseline: bool = False,
    languages: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
    with_texts: bool = False,
    until: dt.date | None = None,
    article_id: int | None = None,
    newest_first: bool = False,
    limit: int | None = None,
    offset: int = 0,
    include_held: bool = True,
    sites: Collection[str] | None = None,
) -> list[ChangeRecord]:
    """Changes of one run, or of every run started since a date, by run, language, kind and URL.

    Baseline additions are left out unless `include_baseline`; `languages`, `kinds`, `until` (runs
    started on or before that day) and `article_id` narrow the list; `with_texts` reads the
    compared versions' texts too; `newest_first` puts the latest runs first, and `limit`/`offset`
    take one page of the list; `include_held=False` leaves out the runs held for the operator (an
    alerting channel must not announce them); `sites` keeps the changes of those sites only.
    RunNotFound for an unknown run.
    """
    if run_id is not None and session.get(CrawlRun, run_id) is None:
        raise RunNotFound(f"no crawl run {run_id}")
    shown = aliased(ArticleVersion, name="shown")
    old, new = aliased(ArticleVersion, name="old"), aliased(ArticleVersion, name="new")
    event = aliased(ArticleEvent, name="event")
    # The run's last event of the kind that explains the change: a removal's 404/410 or redirect,
    # a move's old URL (detection reads the last one of each kind too).
    event_id = (
        select(func.max(ArticleEvent.id))
        .where(ArticleEvent.run_id == Change.run_id, ArticleEvent.article_id == Change.article_id,
               ArticleEvent.kind == case((Change.kind == "removed", "gone"), else_="moved"))
        .correlate(Change)
        .scalar_subquery()
    )
    columns: list[Any] = [Change, Article.canonical_url, Article.language, shown.title, shown.published,
                          event.http_status, event.detail, Article.site]
    run_order = Change.run_id.desc() if newest_first else Change.run_id
    query = (
        select(*columns, *((old, new) if with_texts else ()))
        .join(Article, Article.id == Change.article_id)
        .join(shown, shown.id == func.coalesce(Change.new_version_id, Change.old_version_id,
                                               Article.current_version_id), isouter=True)
        .outerjoin(event, event.id == event_id)
        .order_by(run_order, Article.language, Change.kind, Article.canonical_url, Change.id)
        .offset(offset)
        .limit(limit)
    )
    if with_texts:
        query = query.outerjoin(old, old.id == Change.old_version_id).outerjoin(new, new.id == Change.new_version_id)
    if run_id is not None:
        query = query.where(Change.run_id == run_id)
    if since is not None:
        started = select(CrawlRun.id).where(CrawlRun.started_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
        query = query.where(Change.run_id.in_(started))
    if until is not None:
        started = select(CrawlRun.id).where(
            CrawlRun.started_at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC))
        query = query.where(Change.run_id.in_(started))
    if article_id is not None:
        query = query.where(Change.article_id == article_id)
    if not include_baseline:
        query = query.where(Change.is_baseline.is_(False))
    if not include_held:
        query = query.where(Change.run_id.not_in(select(CrawlRun.id).where(CrawlRun.hold == "held")))
    if languages is not None:
        query = query.where(Article.language.in_(sorted(languages)))
    if kinds is not None:
        query = query.where(Change.kind.in_(sorted(kinds)))
    if sites is not None:
        query = query.where(Article.site.in_(sorted(sites)))
    return [_record(*row) for row in session.execute(query)]


def _record(change: Change, url: str, language: str, title: str | None, published: dt.date | None,
            http_status: int | None, other_url: str | None, site: str,
            old: ArticleVersion | None = None, new: ArticleVersion | None = None) -> ChangeRecord:
    return ChangeRecord(
        id=change.id, run_id=change.run_id, article_id=change.article_id, kind=change.kind, url=url,
        language=language, title=title or "", published=published, fields=tuple(change.fields or ()),
        summary=change.summary or "", is_baseline=change.is_baseline, old_version_id=change.old_version_id,
        new_version_id=change.new_version_id, old=_text(old), new=_text(new), http_status=http_status,
        other_url=other_url, site=site,
    )


def _text(version: ArticleVersion | None) -> VersionText | None:
    if version is None:
        return None
    return VersionText(version.title, version.published, tuple(version.paragraphs))


def alertable_keys(session: Session, run_id: int) -> set[tuple[str, str]]:
    """(language, kind) of the run's changes that may alert (baseline changes never do)."""
    rows = session.execute(
        select(Article.language, Change.kind)
        .join(Article, Change.article_id == Article.id)
        .where(Change.run_id == run_id, Change.is_baseline.is_(False))
        .distinct()
    )
    return {(language, kind) for language, kind in rows}


def count_kinds(session: Session, run_id: int) -> dict[str, int]:
    """How many changes of each kind (all four, zeros included) the run found."""
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    rows = session.execute(select(Change.kind, func.count()).where(Change.run_id == run_id).group_by(Change.kind))
    counts.update(rows.all())  # not dict(rows): a Result has keys(), so dict() reads it as a mapping
    return counts

