"""Where stored releases live: every article URL on its site's own origin.

A release is identified by its site's public origin (the site profile's, crawler/sites/) and
its canonical path; the address a crawl fetches from (the site, a mirror, a new domain) is no
part of it. `rehome` moves URLs stored under another origin onto the site's: those written by
code before migration 0004 (which stored the fetch origin) and, after a site profile names a new
origin, all of them. It never merges two articles: one whose URL on the origin already belongs
to another article stays where it is, with its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy import Connection

# Only the columns this module reads and writes, which every revision since 0001 has: the
# migration that first calls `rehome` runs before any later change to the table.
_ARTICLES = sa.table("articles", sa.column("id"), sa.column("site"), sa.column("canonical_url"),
                     sa.column("last_seen_run_id"))


@dataclass(frozen=True)
class Rehomed:
    """What `rehome` did: how many URLs it moved, and the URLs it left where they are."""

    moved: int
    kept_apart: tuple[str, ...]  # their URL on the origin belongs to another article

    def __str__(self) -> str:
        kept = (f"; {len(self.kept_apart)} left at their URL, which on the origin belongs to another article "
                f"(the same release stored from two addresses), e.g. {self.kept_apart[0]}") if self.kept_apart else ""
        return f"{self.moved} article URLs moved onto the site's origin{kept}"


def _on_origin(url: str, origin: str) -> str:
    """`url`'s path and query on `origin` (scheme://host[:port]), as crawler.urls.on_origin
    (the extraction workers import crawler.urls, which stays free of SQLAlchemy)."""
    parts, base = urlsplit(url), urlsplit(origin)
    return urlunsplit((base.scheme, base.netloc.lower(), parts.path, parts.query, ""))


def rehome(connection: Connection, site: str, origin: str) -> Rehomed:
    """Move the URLs of `site`'s articles that are not on `origin` onto it (same path and query).

    When several articles would take one URL (the same release stored from two mirrors), the
    one seen most recently takes it; an article whose URL there is taken is left as it is.
    """
    prefix = origin.rstrip("/") + "/"
    column = _ARTICLES.c.canonical_url
    elsewhere = connection.execute(
        sa.select(_ARTICLES.c.id, column)
        .where(_ARTICLES.c.site == site, ~column.startswith(prefix, autoescape=True))
        .order_by(_ARTICLES.c.last_seen_run_id.desc(), _ARTICLES.c.id.desc())
    ).all()
    if not elsewhere:
        return Rehomed(0, ())
    taken = set(connection.scalars(sa.select(column).where(column.startswith(prefix, autoescape=True))))
    moves, kept_apart = [], []
    for article_id, url in elsewhere:
        target = _on_origin(url, origin)
        if target in taken:
            kept_apart.append(url)
            continue
        taken.add(target)
        moves.append({"id_": article_id, "url_": target})
    if moves:
        connection.execute(
            _ARTICLES.update().where(_ARTICLES.c.id == sa.bindparam("id_")).values(canonical_url=sa.bindparam("url_")),
            moves,
        )
    return Rehomed(len(moves), tuple(kept_apart))
