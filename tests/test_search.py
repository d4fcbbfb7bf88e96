"""Full-text search on SQLite (FTS5) and PostgreSQL, in English, French and Arabic, and the migration
that builds the index for a database made before it."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, Table, inspect, text, update
from sqlalchemy.orm import Session

from storage import search
from storage.db import alembic_config, make_engine, migrate, migration_transaction
from storage.models import ArticleVersion
from storage.repository import record_article
from storage.runs import start_run

T0 = dt.datetime(2026, 5, 2, 3, 0, tzinfo=dt.UTC)
RELEASES = {
    "en": ("ICESCO Holds Heritage Forum in Rabat", ["The forum gathered 150 experts on intangible heritage."]),
    "fr": ("L’ICESCO célèbre la Journée de l’éducation", ["Le directeur général a salué les enseignants du patrimoine."]),
    "ar": ("الإيسيسكو تنظم منتدى التراث في الرباط", ["شارك في المنتدى 150 خبيرا في التراث غير المادي."]),
}


def store(engine: Engine, releases: dict[str, tuple[str, list[str]]] = RELEASES) -> dict[str, int]:
    """One run storing each release; the article id by language."""
    ids = {}
    with Session(engine) as session, session.begin():
        run = start_run(session, "icesco")
        for language, (title, paragraphs) in releases.items():
            ids[language] = record_article(
                session, run.id, url=f"https://icesco.org/{language}/2026/05/01/release/", site="icesco",
                language=language, title=title, published=dt.date(2026, 5, 1), paragraphs=paragraphs, fetched_at=T0,
            ).article_id
        run.status = "complete"
    return ids


def found(engine: Engine, query: str, language: str | None = None) -> list[int]:
    with Session(engine) as session:
        return [hit.article_id for hit in search.search(session, query, language=language)]


@pytest.mark.parametrize(("query", "language"), [
    ("heritage", "en"), ("Heritage forum", "en"), ("patrimoine", "fr"), ("enseignants", "fr"),
    ("التراث", "ar"), ("منتدى الرباط", "ar"),
])
def test_words_of_a_title_or_text_find_the_release_in_each_language(engine, query, language):
    ids = store(engine)
    assert found(engine, query) == [ids[language]]


def test_every_word_must_match_and_the_language_filter_narrows(engine):
    ids = store(engine)
    assert found(engine, "heritage zanzibar") == []
    assert found(engine, "150") == sorted([ids["en"], ids["ar"]], key=found(engine, "150").index)
    assert found(engine, "150", language="ar") == [ids["ar"]]


def test_a_word_an_edit_removed_still_finds_the_release_and_the_snippet_marks_it(engine):
    ids = store(engine)
    with Session(engine) as session, session.begin():
        run = start_run(session, "icesco")
        record_article(session, run.id, url="https://icesco.org/en/2026/05/01/release/", site="icesco", language="en",
                       title=RELEASES["en"][0], published=dt.date(2026, 5, 1), fetched_at=T0,
                       paragraphs=["The forum gathered 200 experts on living traditions."])
        run.status = "complete"
    assert found(engine, "intangible") == [ids["en"]]  # the old version held it
    assert found(engine, "traditions") == [ids["en"]]  # the new one does
    with Session(engine) as session:
        [hit] = search.search(session, "traditions")
    assert f"{search.MATCH_START}traditions{search.MATCH_END}" in hit.snippet
    assert hit.title == RELEASES["en"][0]


@pytest.mark.parametrize("query", ['"', "heritage*", "heritage OR x", "-heritage", "NEAR(heritage forum)", "title:x",
                                   "heritage & !forum | (", "'; DROP TABLE articles; --", "   "])
def test_what_the_user_types_is_never_query_syntax(engine, query):
    store(engine)
    with Session(engine) as session:
        search.search(session, query)  # no error, whatever it finds


def test_the_index_follows_updates_and_deletes(engine):
    ids = store(engine)
    with Session(engine) as session, session.begin():
        session.execute(update(ArticleVersion).where(ArticleVersion.article_id == ids["en"])
                        .values(title="Renamed", text="nothing left"))
    assert found(engine, "intangible") == []
    assert found(engine, "renamed") == [ids["en"]]


def test_the_migration_indexes_the_versions_of_a_database_made_before_it(unmigrated_database_url):
    engine = make_engine(unmigrated_database_url)
    config = alembic_config()
    with engine.connect() as connection, migration_transaction(connection):
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    with Session(engine) as session, session.begin():  # the previous code's schema: no index, no locale
        # Into the tables as they are at 0003: the models have columns of later revisions.
        runs_at_0003 = Table("crawl_runs", MetaData(), autoload_with=session.connection())
        run_id = session.execute(runs_at_0003.insert().values(
            site="icesco", started_at=T0, status="running", stats={}, is_baseline=True)).inserted_primary_key[0]
        for language, (title, paragraphs) in RELEASES.items():
            session.execute(text(
                "INSERT INTO articles (site, canonical_url, language, first_seen_run_id, last_seen_run_id, state) "
                "VALUES ('icesco', :url, :language, :run, :run, 'live')"), {"url": f"https://x/{language}/", "language": language,
                                                                           "run": run_id})
            article_id = session.execute(text("SELECT id FROM articles WHERE canonical_url = :url"),
                                         {"url": f"https://x/{language}/"}).scalar_one()
            versions = Table("article_versions", MetaData(), autoload_with=session.connection())
            session.execute(versions.insert().values(
                article_id=article_id, run_id=run_id, fetched_at=T0, content_hash=language, title=title,
                published=None, text="\n\n".join(paragraphs), paragraphs=paragraphs))
            session.execute(text("UPDATE articles SET current_version_id = (SELECT max(id) FROM article_versions "
                                 "WHERE article_id = :id) WHERE id = :id"), {"id": article_id})
    migrate(engine)
    assert "locale" in {c["name"] for c in inspect(engine).get_columns("subscribers")}
    assert len(found(engine, "التراث")) == 1 and len(found(engine, "patrimoine")) == 1
    engine.dispose()
