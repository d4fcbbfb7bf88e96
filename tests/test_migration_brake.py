"""Migration 0006 (held runs, operator notices) upgrades a database written at 0005 without losing anything."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from storage.db import alembic_config, make_engine, migrate, migration_transaction
from storage.models import CrawlRun, OperatorNotice
from storage.runs import list_runs

PREVIOUS = "0005_urls_on_site_origin"
WHEN = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
TABLES = ("crawl_runs", "articles", "article_versions", "changes", "subscribers", "deliveries")


def to_revision(engine, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    with engine.connect() as connection, migration_transaction(connection):
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def columns_of(engine) -> dict[str, set[str]]:
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        return {name: {column["name"] for column in inspector.get_columns(name)} for name in TABLES}


def rows(engine, kept: dict[str, set[str]]) -> dict[str, list[tuple]]:
    """Every row of TABLES, in the `kept` columns (those of 0005: later migrations add their own)."""
    metadata = sa.MetaData()
    with engine.connect() as connection:
        found = {}
        for name in TABLES:
            table = sa.Table(name, metadata, autoload_with=connection)
            columns = [c for c in table.c if c.name in kept[name]]
            found[name] = sorted(tuple(row) for row in connection.execute(sa.select(*columns)))
        return found


def database_at_0005(url: str):
    """What the code at 0005 stores: runs (one incomplete), an article with two versions, its changes,
    a subscriber and a digest sent."""
    engine = make_engine(url)
    to_revision(engine, PREVIOUS)
    metadata = sa.MetaData()
    with engine.begin() as connection:
        table = {name: sa.Table(name, metadata, autoload_with=connection) for name in TABLES}
        connection.execute(sa.insert(table["crawl_runs"]), [
            {"id": 1, "site": "icesco", "started_at": WHEN, "finished_at": WHEN, "status": "complete",
             "stats": {"articles_seen": 1}, "is_baseline": True, "error": None},
            {"id": 2, "site": "icesco", "started_at": WHEN, "finished_at": WHEN, "status": "incomplete",
             "stats": {}, "is_baseline": False, "error": "1 listing page failed"}])
        connection.execute(sa.insert(table["articles"]).values(
            id=1, site="icesco", canonical_url="https://icesco.org/en/2022/09/12/a/", language="en",
            first_seen_run_id=1, last_seen_run_id=2, state="live"))
        connection.execute(sa.insert(table["article_versions"]), [
            {"id": n, "article_id": 1, "run_id": n, "fetched_at": WHEN, "content_hash": str(n), "title": "A",
             "published": None, "text": f"Text {n}.", "paragraphs": [f"Text {n}."]} for n in (1, 2)])
        connection.execute(sa.update(table["articles"]).values(current_version_id=2))
        connection.execute(sa.insert(table["changes"]), [
            {"id": 1, "run_id": 1, "article_id": 1, "kind": "added", "fields": [], "old_version_id": None,
             "new_version_id": 1, "summary": "new release", "is_baseline": True},
            {"id": 2, "run_id": 2, "article_id": 1, "kind": "edited", "fields": ["text"], "old_version_id": 1,
             "new_version_id": 2, "summary": "1 word changed", "is_baseline": False}])
        connection.execute(sa.insert(table["subscribers"]).values(
            id=1, email="a@example.org", languages=["en"], kinds=["edited"], token_id="t", token_hash="h",
            created_at=WHEN))
        connection.execute(sa.insert(table["deliveries"]).values(
            id=1, subscriber_id=1, run_id=2, status="sent", attempts=1, created_at=WHEN, next_attempt_at=WHEN,
            message_id="<m@x>", sent_at=WHEN))
    return engine


def test_the_upgrade_keeps_every_row_and_holds_no_old_run(unmigrated_database_url):
    engine = database_at_0005(unmigrated_database_url)
    at_0005 = columns_of(engine)
    before = rows(engine, at_0005)

    migrate(engine)

    assert rows(engine, at_0005) == before
    with Session(engine) as session, session.begin():
        assert [(r.id, r.status, r.hold, r.reason) for r in list_runs(session)] == [
            (2, "incomplete", None, "1 listing page failed"), (1, "complete", None, None)]
        run = session.get(CrawlRun, 2)
        assert run is not None
        run.hold, run.hold_reason, run.hold_evidence = "held", "why", [{"change": "added", "text": "W", "articles": 2}]
        session.add(OperatorNotice(problem="run 2 held", severity="warning", message="why", detected_at=WHEN))
    with Session(engine) as session:
        assert session.get(CrawlRun, 2).hold_evidence == [{"change": "added", "text": "W", "articles": 2}]
    to_revision(engine, PREVIOUS, down=True)
    assert rows(engine, at_0005) == before
    engine.dispose()
