"""Article URLs on the site's own origin, whatever address the crawl fetched them from.

Revision ID: 0005_urls_on_site_origin
Revises: 0004_web

Until this revision a stored URL carried the origin the crawl fetched from (NEWSWATCH_SITE_URL:
`http://127.0.0.1:8399` for the demo's mirror), so the same release crawled from another address
was another article. From now on a release is its site's origin and its canonical path. This
data migration moves each site's article URLs onto that origin (storage.addresses.rehome): the
same path, the same article row, its versions, events and changes untouched. Nothing is merged
or lost: an article whose URL on the origin already belongs to another article (the same release
stored from two addresses) keeps its URL, and with it its history; a crawl re-checks only the
article on the origin. No schema change; the downgrade leaves the URLs where they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op

from storage.addresses import rehome

revision: str = "0005_urls_on_site_origin"
down_revision: str | Sequence[str] | None = "0004_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The origin of each site profile at this revision (crawler/sites.py, which storage does not
# import). A profile that names another origin later needs no migration: every crawl moves its
# site's URLs onto its profile's origin as it starts (crawler/runs.py).
SITE_ORIGINS = {"icesco": "https://icesco.org"}
logger = logging.getLogger(f"alembic.{__name__}")


def upgrade() -> None:
    if op.get_context().as_sql:
        return  # `alembic upgrade --sql` cannot read the rows to move: run this revision online
    connection = op.get_bind()
    for site, origin in SITE_ORIGINS.items():
        rehomed = rehome(connection, site, origin)
        if rehomed.moved or rehomed.kept_apart:
            logger.info("%s: %s", site, rehomed)


def downgrade() -> None:
    pass  # the previous code reads URLs on the site's origin as its own when fetching from the site
