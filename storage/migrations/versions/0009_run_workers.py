"""The workers of a shared run (NEWSWATCH_QUEUE: several crawl processes on one Redis queue).

Revision ID: 0009_run_workers
Revises: 0008_sites

`run_workers`: one row per crawl process that claimed or joined a run, with its heartbeat, its
state (working, left, dead) and its share of the run's stats and listing witnesses, which the
worker that closes the run sums (storage.workers).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_run_workers"
down_revision: str | Sequence[str] | None = "0008_sites"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "run_workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stats", JSON, nullable=False),
        sa.Column("witness", JSON, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["crawl_runs.id"], name=op.f("fk_run_workers_run_id_crawl_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_workers")),
        sa.UniqueConstraint("run_id", "pid", "hostname", name=op.f("uq_run_workers_run_id")),
    )
    op.create_index(op.f("ix_run_workers_run_id"), "run_workers", ["run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_run_workers_run_id"), table_name="run_workers")
    op.drop_table("run_workers")
