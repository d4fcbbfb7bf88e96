"""Where things live on the web view: the paths digests, the feed and the pages link to.

The web app's routes (monitor.web) are declared with these same shapes, and a test holds them
together; a link is keyed by ids that survive a run's changes being recomputed (`newswatch
detect` rewrites change rows, never the run or the article).
"""

from __future__ import annotations

from typing import Protocol


class ChangeKey(Protocol):
    """What names a change on the web view: its run and its article."""

    @property
    def run_id(self) -> int: ...

    @property
    def article_id(self) -> int: ...


def change_path(run_id: int, article_id: int) -> str:
    return f"/changes/{run_id}/{article_id}"


def change_url(public_url: str, change: ChangeKey) -> str:
    """The page showing what run `change.run_id` changed in article `change.article_id`."""
    return public_url.rstrip("/") + change_path(change.run_id, change.article_id)
