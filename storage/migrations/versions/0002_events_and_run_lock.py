"""Article events (removals, moves, returns seen by a run) and the one-running-crawl lock.

Revision ID: 0002
Revises: 0001

`article_events` keeps what a run observed that is not a version: a known article
answering 404/410 (`gone`), redirecting to another article (`moved`), or coming back
(`back`). Change detection reads them, so it can be recomputed for any run.
`crawl_runs` gains the owner of a running crawl (pid, host, heartbeat) and a partial unique
index: at most one `running` run per site, enforced by the database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.DateTime(timezone=True)
_RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_table(
        "article_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('gone', 'moved', 'back')", name=op.f("ck_article_events_kind")),
        sa.ForeignKeyConstraint(["run_id"], ["crawl_runs.id"], name=op.f("fk_article_events_run_id_crawl_runs")),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], name=op.f("fk_article_events_article_id_articles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_events")),
    )
    op.create_index(op.f("ix_article_events_run_id"), "article_events", ["run_id"])
    op.create_index(op.f("ix_article_events_article_id"), "article_events", ["article_id"])
    with op.batch_alter_table("crawl_runs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("hostname", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", _TIMESTAMP, nullable=True))
    op.create_index("uq_crawl_runs_one_running_per_site", "crawl_runs", ["site"], unique=True,
                    sqlite_where=_RUNNING, postgresql_where=_RUNNING)


def downgrade() -> None:
    op.drop_index("uq_crawl_runs_one_running_per_site", table_name="crawl_runs")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("hostname")
        batch.drop_column("pid")
    op.drop_index(op.f("ix_article_events_article_id"), table_name="article_events")
    op.drop_index(op.f("ix_article_events_run_id"), table_name="article_events")
    op.drop_table("article_events")
