"""The database schema: crawl runs, articles, their versions, and the changes between them."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

RUN_STATUSES = ("running", "complete", "incomplete", "failed")
# A run whose changes look like a storm (monitor.brake) is held, then released or rebaselined.
HOLD_STATES = ("held", "released", "rebaselined")
ARTICLE_STATES = ("live", "gone")
CHANGE_KINDS = ("added", "edited", "removed", "restored")
EVENT_KINDS = ("gone", "moved", "back")

# Named constraints, so that later migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored in UTC; naive datetimes are refused.

    PostgreSQL keeps the offset itself; SQLite stores the UTC wall time, so the zone is
    put back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass a timezone-aware one")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base with the naming convention and the project's type map."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON_TYPE,
        list[str]: JSON_TYPE,
    }


class CrawlRun(Base):
    """One crawl of one site, with Scrapy's stats once it finishes."""

    __tablename__ = "crawl_runs"
    __table_args__ = (
        CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),
        CheckConstraint(_one_of("hold", HOLD_STATES), name="hold"),
        Index("ix_crawl_runs_site_started_at", "site", "started_at"),
        # The crawl lock: at most one running crawl per site, enforced by the database.
        Index("uq_crawl_runs_one_running_per_site", "site", unique=True,
              sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The first run of a site: everything is "added", and nobody is alerted about it.
    is_baseline: Mapped[bool] = mapped_column(default=False)
    # Why it failed, or why it is incomplete ("3 listing pages failed").
    error: Mapped[str | None] = mapped_column(Text)
    # Who runs it, while it runs: a lock left by a dead process can be taken over.
    pid: Mapped[int | None]
    hostname: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[dt.datetime | None]
    # The brake (monitor.brake): None, or held for the operator (its digests not queued), then
    # released (queued) or rebaselined (accepted silently); why, and the common text that explains it.
    hold: Mapped[str | None] = mapped_column(String(16))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    hold_evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON_TYPE)


class RunWorker(Base):
    """One crawl process working a shared run (NEWSWATCH_QUEUE): its heartbeat, and its share of the
    run's stats and witnesses, summed by the worker that closes the run (storage.workers)."""

    __tablename__ = "run_workers"
    __table_args__ = (UniqueConstraint("run_id", "pid", "hostname"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id", ondelete="CASCADE"), index=True)
    pid: Mapped[int]
    hostname: Mapped[str] = mapped_column(String(255))
    joined_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]
    # working; left (its spider closed); dead (killed: a survivor re-queued what it had in hand)
    state: Mapped[str] = mapped_column(String(16), default="working")
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)  # its run stats (crawler.runs.run_stats)
    witness: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what its listings said (crawler.witness)


class Article(Base):
    """One news release, identified by its canonical URL."""

    __tablename__ = "articles"
    __table_args__ = (
        CheckConstraint(_one_of("state", ARTICLE_STATES), name="state"),
        Index("ix_articles_site_language", "site", "language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(100))
    canonical_url: Mapped[str] = mapped_column(String(2048), unique=True)
    language: Mapped[str] = mapped_column(String(16))
    first_seen_run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id"))
    last_seen_run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id"))
    state: Mapped[str] = mapped_column(String(8), default="live")
    # articles <-> article_versions is a cycle: this key is added after both tables exist.
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("article_versions.id", use_alter=True)
    )
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(64))

    versions: Mapped[list[ArticleVersion]] = relationship(
        back_populates="article",
        foreign_keys="ArticleVersion.article_id",
        order_by="ArticleVersion.id",
    )
    current_version: Mapped[ArticleVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )


class ArticleVersion(Base):
    """The normalised content of an article as first seen in one run.

    Not unique on (article_id, content_hash): an article may return to an earlier text.
    """

    __tablename__ = "article_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    fetched_at: Mapped[dt.datetime]
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    published: Mapped[dt.date | None] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    paragraphs: Mapped[list[str]]
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    # The response the text was read from: the page in the raw archive (storage.rawpages; no
    # foreign key, as a pruned page leaves its address here), its status and content type.
    raw_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    http_status: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(255))
    # Which extractor read the text (crawler.extraction.fingerprint); None before it was recorded.
    extraction: Mapped[str | None] = mapped_column(String(255))
    # The previous version's page read again by a newer extractor: our change, never the site's
    # (no change record). It keeps that version's run, fetch time and page.
    rebaseline: Mapped[bool] = mapped_column(default=False, server_default=false())

    article: Mapped[Article] = relationship(back_populates="versions", foreign_keys=[article_id])


class RawPage(Base):
    """A page as fetched, zstd-compressed, stored once per distinct body (storage.rawpages)."""

    __tablename__ = "raw_pages"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)  # of the raw bytes
    size: Mapped[int]  # raw bytes
    body: Mapped[bytes] = mapped_column(LargeBinary)  # compressed
    stored_at: Mapped[dt.datetime]


class Change(Base):
    """One change of one article found by a run (written by the monitor)."""

    __tablename__ = "changes"
    __table_args__ = (CheckConstraint(_one_of("kind", CHANGE_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    fields: Mapped[list[str]] = mapped_column(default=list)
    old_version_id: Mapped[int | None] = mapped_column(ForeignKey("article_versions.id"))
    new_version_id: Mapped[int | None] = mapped_column(ForeignKey("article_versions.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    is_baseline: Mapped[bool] = mapped_column(default=False)


class ArticleEvent(Base):
    """What a run observed of a known article besides its content: gone, moved, or back.

    `detail` holds the other URL: where a `gone` article redirected to, or the URL a
    `moved` article had before.
    """

    __tablename__ = "article_events"
    __table_args__ = (CheckConstraint(_one_of("kind", EVENT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    http_status: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(Text)


SUBSCRIBER_KINDS = ("added", "edited", "removed")
DELIVERY_STATUSES = ("pending", "sent", "failed", "cancelled")


class Subscriber(Base):
    """Someone who receives digest emails: which languages and kinds of change, and how to leave.

    The unsubscribe token is never stored: it is HMAC(secret key, token_id), so that neither
    the database nor the key alone gives it away; `token_hash` (its SHA-256) finds the row.
    """

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # As normalised by email-validator, then lower-cased: the unique key of a subscriber.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    languages: Mapped[list[str]]
    kinds: Mapped[list[str]]
    token_id: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # When the address subscribed (last, if it left and came back): no digest of a run that ended before.
    created_at: Mapped[dt.datetime]
    unsubscribed_at: Mapped[dt.datetime | None]
    # The language of the subscriber's digests and pages; None: the first of `languages`.
    locale: Mapped[str | None] = mapped_column(String(8))
    # The sites (profile names) whose runs are mailed; None: every site, those added later too.
    sites: Mapped[list[str] | None] = mapped_column(JSON_TYPE, default=None)


class Delivery(Base):
    """The outbox: one digest of one run for one subscriber, and how sending it went.

    `next_attempt_at` is when a pending digest may be (re)tried: the back-off after a
    failure, or the lease of a sender that is sending it right now.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        # One digest per subscriber and run, whatever retries and recomputations happen.
        Index("uq_deliveries_subscriber_id_run_id", "subscriber_id", "run_id", unique=True),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    next_attempt_at: Mapped[dt.datetime]
    # Assigned before the first attempt and reused by every retry, so that a digest sent
    # twice (a crash between the server's acceptance and our commit) can be de-duplicated.
    message_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[dt.datetime | None]


class OperatorNotice(Base):
    """A problem of our own the operator was (or is to be) told about, once: a run incomplete, held or
    failed, no complete run for too long, SMTP failing (monitor.health).

    `problem` names it (`run 12 held`, `stale`, `smtp`); a notice is open until the problem is gone
    (`resolved_at`), and the same problem coming back later is a new notice, so a new email.
    """

    __tablename__ = "operator_notices"
    __table_args__ = (Index("ix_operator_notices_problem", "problem"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    problem: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[dt.datetime]
    announced_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
