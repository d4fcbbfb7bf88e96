"""The raw archive and the extraction fingerprint of each version.

Revision ID: 0007_raw_pages
Revises: 0006_brake_and_health

`raw_pages`: each stored version's page as fetched, zstd-compressed, once per distinct body
(storage.rawpages). `article_versions` gains the page it was read from (`raw_sha256`), the
response's status and content type, the extractor that read it (`extraction`) and whether it is
a re-baseline (the previous page read again by a newer extractor). Versions stored before have
no page and no fingerprint: they are compared as before.

Columns are added in place (ALTER TABLE), never by copying the table: on SQLite a copy of
article_versions would drop the full-text search triggers of 0004_web.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_raw_pages"
down_revision: str | Sequence[str] | None = "0006_brake_and_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    sa.Column("raw_sha256", sa.String(length=64), nullable=True),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("content_type", sa.String(length=255), nullable=True),
    sa.Column("extraction", sa.String(length=255), nullable=True),
    sa.Column("rebaseline", sa.Boolean(), server_default=sa.false(), nullable=False),
)


def upgrade() -> None:
    op.create_table(
        "raw_pages",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_raw_pages")),
    )
    for column in COLUMNS:
        op.add_column("article_versions", column)
    op.create_index(op.f("ix_article_versions_raw_sha256"), "article_versions", ["raw_sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_article_versions_raw_sha256"), table_name="article_versions")
    # In place (SQLite >= 3.35 drops columns itself): a copy of the table would lose 0004's triggers.
    with op.batch_alter_table("article_versions", recreate="never") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
    op.drop_table("raw_pages")
