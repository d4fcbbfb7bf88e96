"""Subscribers choose sites as they choose languages.

Revision ID: 0008_sites
Revises: 0007_raw_pages

`subscribers.sites`: the names of the site profiles a subscriber hears about; NULL is every site,
including those configured later. Every subscriber added before had no choice: NULL, every site.
Added in place (ALTER TABLE), never by copying the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_sites"
down_revision: str | Sequence[str] | None = "0007_raw_pages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column("subscribers", sa.Column("sites", json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers", recreate="never") as batch:
        batch.drop_column("sites")
