"""What a run observes of known articles besides their content: removals and moves."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.models import Article, ArticleEvent, ArticleVersion, Change
from storage.runs import failed_since_last_end


def record_gone(session: Session, run_id: int, url: str, status: int, location: str | None = None) -> bool:
    """Note that the known article at `url` answered 404/410 or redirected off the articles.

    Returns False (and records nothing) when no article is stored at `url`.
    """
    article_id = session.scalar(select(Article.id).where(Article.canonical_url == url))
    if article_id is None:
        return False
    session.add(ArticleEvent(run_id=run_id, article_id=article_id, kind="gone", http_status=status, detail=location))
    session.flush()
    return True


def record_move(session: Session, run_id: int, old_url: str, new_url: str, status: int) -> bool:
    """The article at `old_url` now lives at `new_url`: one release, its history kept.

    The stored article takes the new URL. If the new URL was already stored during this
    same run (the listing linked it before the redirect was seen), that fresh article is
    folded into the old one, so the run reports one edit instead of an addition and a
    removal. So is one first stored by a crawl that died since the last run that ended (killed
    before it saw the redirect: its changes are written again as this run closes). Returns False
    when `old_url` is unknown or `new_url` belongs to an article from an earlier run (two known
    releases: nothing is merged).
    """
    old = session.scalars(select(Article).where(Article.canonical_url == old_url)).one_or_none()
    if old is None:
        return False
    new = session.scalars(select(Article).where(Article.canonical_url == new_url)).one_or_none()
    if new is not None:
        fresh = new.first_seen_run_id == run_id or new.first_seen_run_id in failed_since_last_end(
            session, new.site, before=run_id)
        if not fresh or new.id == old.id:
            return False
        _fold_into(session, new, old)
    old.canonical_url = new_url
    session.add(ArticleEvent(run_id=run_id, article_id=old.id, kind="moved", http_status=status, detail=old_url))
    session.flush()
    return True


def _fold_into(session: Session, fresh: Article, kept: Article) -> None:
    """Move the versions of an article first seen in this run onto `kept`, then delete it."""
    fresh_id, current, last_seen = fresh.id, fresh.current_version_id, fresh.last_seen_run_id
    session.expunge(fresh)
    session.execute(update(Article).where(Article.id == fresh_id).values(current_version_id=None))
    for model in (ArticleVersion, ArticleEvent, Change):
        session.execute(update(model).where(model.article_id == fresh_id).values(article_id=kept.id))
    session.execute(delete(Article).where(Article.id == fresh_id))
    if current is not None:
        kept.current_version_id = current
    kept.last_seen_run_id = last_seen
    session.flush()
    session.expire(kept, ["versions", "current_version"])
