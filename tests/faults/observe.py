"""What a user of newswatch sees after a night with faults: runs, changes, digests, a sound database.

Read from the tables the README documents (crawl_runs, changes, deliveries) and from the mail a
real SMTP server received, never from the internals that produced them.
"""

from __future__ import annotations

import email
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from storage.models import Article, ArticleVersion, Change, CrawlRun, Delivery

Reported = Counter  # (kind, path) -> how many times it was reported


def runs(engine: Engine) -> list[CrawlRun]:
    """Every crawl run, oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(CrawlRun).order_by(CrawlRun.id)))


def run_of(engine: Engine, pid: int) -> CrawlRun | None:
    """The run the crawl with process id `pid` started."""
    return next((run for run in runs(engine) if run.pid == pid), None)


def reported(engine: Engine, run_id: int | None = None) -> Reported:
    """The changes reported (baseline additions left out), as (kind, path): how many times each."""
    query = select(Change.kind, Article.canonical_url).join(Article, Article.id == Change.article_id).where(
        Change.is_baseline.is_(False))
    if run_id is not None:
        query = query.where(Change.run_id == run_id)
    with Session(engine) as session:
        return Counter((kind, path_of(url)) for kind, url in session.execute(query))


def expected(snapshot: Path) -> Reported:
    """The changes a perfect monitor reports for the night `snapshot` (its expected-changes.json)."""
    return Counter((c["kind"], c["path"]) for c in json.loads((snapshot / "expected-changes.json").read_text("utf-8")))


def kinds(changes: Reported) -> Counter:
    """How many changes of each kind."""
    counts: Counter = Counter()
    for (kind, _), n in changes.items():
        counts[kind] += n
    return counts


def versions_in(engine: Engine, run_id: int) -> int:
    """How many versions run `run_id` has written (committed) so far."""
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(ArticleVersion)
                              .where(ArticleVersion.run_id == run_id)) or 0


def deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def eventually(condition: Callable[[], object], what: str, timeout: float = 60.0, crawl=None) -> object:
    """The first true value of `condition()`, polled until `timeout` s; fails sooner if `crawl` ends first.

    The database tells no one when a transaction commits: it is asked again every 50 ms.
    """
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if crawl is not None and crawl.exited.is_set():
            raise AssertionError(f"the crawl ended before {what}:\n{crawl.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s" + (f"\n{crawl.tail()}" if crawl else ""))
        time.sleep(0.05)
    return value


def path_of(url: str) -> str:
    return unquote(urlsplit(url).path)


# --------------------------------------------------------------------------- mail


def messages(inbox) -> list[EmailMessage]:
    """Every message an SMTP test server accepted, parsed."""
    return [email.message_from_bytes(content, policy=policy.default) for _, _, content in inbox.messages]


def recipients(inbox) -> Counter:
    """How many messages each address received."""
    return Counter(address for _, rcpts, _ in inbox.messages for address in rcpts)


def mailed(inbox, site_url: str, recipient: str | None = None) -> Counter:
    """How many times each article (by path) was named in a digest, over every message received
    (by `recipient`, if given). Digests name a release by its canonical URL (on the site's origin,
    not the mirror's address), on a line of its own (CRLF: the message as sent)."""
    counts: Counter = Counter()
    for message in messages(inbox):
        if recipient is not None and message["To"].addresses[0].addr_spec != recipient:
            continue
        plain = message.get_body(("plain",)).get_content()
        counts.update(path_of(url) for url in re.findall(rf"^\s+({re.escape(site_url)}/\S+)\r?$", plain, re.M))
    return counts


# --------------------------------------------------------------------------- soundness


def problems(engine: Engine) -> list[str]:
    """What is unsound in the database: corruption, dangling keys, half-written rows (empty: sound)."""
    found = []
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            check = connection.exec_driver_sql("PRAGMA integrity_check").scalars().all()
            if check != ["ok"]:
                found.append(f"integrity_check: {check[:5]}")
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if dangling:
                found.append(f"foreign_key_check: {dangling[:5]}")
        for name, query in _INVARIANTS.items():
            rows = connection.execute(text(query)).fetchall()
            if rows:
                found.append(f"{name}: {rows[:5]}")
    return found


_INVARIANTS = {
    "an article's current version is another article's":
        "SELECT a.id FROM articles a JOIN article_versions v ON v.id = a.current_version_id "
        "WHERE v.article_id <> a.id",
    "an article with versions has no current version":
        "SELECT a.id FROM articles a WHERE a.current_version_id IS NULL "
        "AND EXISTS (SELECT 1 FROM article_versions v WHERE v.article_id = a.id)",
    "an article's current version is not its latest":
        "SELECT a.id FROM articles a WHERE a.current_version_id <> "
        "(SELECT max(v.id) FROM article_versions v WHERE v.article_id = a.id)",
    "a version without its run": "SELECT v.id FROM article_versions v LEFT JOIN crawl_runs r ON r.id = v.run_id "
                                 "WHERE r.id IS NULL",
    "two runs running at once": "SELECT site FROM crawl_runs WHERE status = 'running' GROUP BY site "
                                "HAVING count(*) > 1",
}
