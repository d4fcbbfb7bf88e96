"""The web view: a full-text index of article versions, and the language a subscriber reads digests in.

Revision ID: 0004_web
Revises: 0003

Search: on SQLite, an FTS5 table over article_versions (title, text) kept in step by triggers,
accents folded (`remove_diacritics 2`), built from the versions already stored; on PostgreSQL,
a GIN index on the same `to_tsvector('simple', ...)` expression the search query uses (an
expression index is in step by construction). The `simple` configuration neither stems nor
drops stop words, so English, French and Arabic are searched alike.
`subscribers.locale`: the language of a subscriber's digests and pages (NULL: their first language).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_web"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = (
    "CREATE VIRTUAL TABLE article_search USING fts5(title, text, content='article_versions', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER article_search_insert AFTER INSERT ON article_versions BEGIN "
    "INSERT INTO article_search(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "CREATE TRIGGER article_search_delete AFTER DELETE ON article_versions BEGIN "
    "INSERT INTO article_search(article_search, rowid, title, text) VALUES ('delete', old.id, old.title, old.text); END",
    "CREATE TRIGGER article_search_update AFTER UPDATE ON article_versions BEGIN "
    "INSERT INTO article_search(article_search, rowid, title, text) VALUES ('delete', old.id, old.title, old.text); "
    "INSERT INTO article_search(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "INSERT INTO article_search(article_search) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS article_search_update",
    "DROP TRIGGER IF EXISTS article_search_delete",
    "DROP TRIGGER IF EXISTS article_search_insert",
    "DROP TABLE IF EXISTS article_search",
)
POSTGRESQL_UP = (
    "CREATE INDEX article_search_gin ON article_versions "
    "USING gin (to_tsvector('simple'::regconfig, title || ' ' || text))",
)
POSTGRESQL_DOWN = ("DROP INDEX IF EXISTS article_search_gin",)


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=8), nullable=True))
    name = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP}.get(name, ()):
        op.execute(statement)


def downgrade() -> None:
    name = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN}.get(name, ()):
        op.execute(statement)
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("locale")
