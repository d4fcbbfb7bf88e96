"""Held runs (the brake on alert storms) and the notices the operator was sent.

Revision ID: 0006_brake_and_health
Revises: 0005_urls_on_site_origin

`crawl_runs` gains `hold` (None, `held`, `released`, `rebaselined`), `hold_reason` (why it is
held) and `hold_evidence` (the common text that explains it). Every run already stored keeps
`hold` empty: none was held. `operator_notices` records each problem of our own (a run
incomplete, held or failed, no complete run for too long, SMTP failing) and when the operator
was told, so that each is mailed once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_brake_and_health"
down_revision: str | Sequence[str] | None = "0005_urls_on_site_origin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.add_column(sa.Column("hold", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("hold_evidence", _JSON, nullable=True))
        batch.create_check_constraint("hold", "hold IN ('held', 'released', 'rebaselined')")
    op.create_table(
        "operator_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("problem", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detected_at", _TIMESTAMP, nullable=False),
        sa.Column("announced_at", _TIMESTAMP, nullable=True),
        sa.Column("resolved_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_notices")),
    )
    op.create_index("ix_operator_notices_problem", "operator_notices", ["problem"])


def downgrade() -> None:
    op.drop_index("ix_operator_notices_problem", table_name="operator_notices")
    op.drop_table("operator_notices")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_constraint("hold", type_="check")
        batch.drop_column("hold_evidence")
        batch.drop_column("hold_reason")
        batch.drop_column("hold")
