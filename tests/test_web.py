"""The web view through Flask's test client, over a database crawled from the fixture mirror (v1,
then v2): pages, filters, diffs, languages, search, the Atom feed, errors and security headers."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import SharedCrawls, history
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor import links
from monitor.i18n import translator
from monitor.summaries import describe
from monitor.web import pages as web_pages
from monitor.web.app import CONTENT_SECURITY_POLICY
from storage.changes import ChangeRecord, list_changes
from storage.db import make_engine, migrate
from storage.models import Article, CrawlRun
from tests.web_support import PUBLIC_URL, make_app

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def crawled(shared_crawl_cache: SharedCrawls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A SQLite database holding the runs of snapshots v1 (the baseline) and v2 (full runs, shared)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('web') / 'newswatch.db'}")
    shared_crawl_cache.restore(engine, history("v1", "v2", args=("-a", "mode=full")))
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(crawled: Engine, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(crawled, tmp_path_factory.mktemp("outbox"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def changes_of(engine: Engine, **filters: object) -> list[ChangeRecord]:
    with Session(engine) as session:
        return list_changes(session, with_texts=True, **filters)  # type: ignore[arg-type]


def page(client: FlaskClient, path: str, status: int = 200, **options: object) -> str:
    response = client.get(path, **options)  # type: ignore[arg-type]
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- changes and runs


def test_the_changes_page_lists_every_change_of_the_night_with_its_summary_and_page(client, crawled):
    body = page(client, "/")
    found = changes_of(crawled, run_id=2)

    assert {c.kind for c in found} == {"added", "edited", "removed"}
    for change in found:
        assert f'href="{links.change_path(change.run_id, change.article_id)}"' in body
        assert _html(describe(change)) in body
    assert 'href="/runs/2"' in body and 'href="/runs/1"' in body


def test_filters_narrow_by_language_kind_and_dates(client, crawled):
    french = page(client, "/?language=fr")
    removed = page(client, "/?kind=removed")
    before = page(client, "/?to=2000-01-01")

    fr_titles = [c.title for c in changes_of(crawled, run_id=2, languages=["fr"])]
    other_titles = [c.title for c in changes_of(crawled, run_id=2, languages=["en", "ar"])]
    assert fr_titles and all(_html(t) in french for t in fr_titles)
    assert not any(_html(t) in french for t in other_titles)
    removals = changes_of(crawled, run_id=2, kinds=["removed"])
    assert all(_html(c.title) in removed for c in removals)
    assert not any(_html(c.title) in removed for c in changes_of(crawled, run_id=2, kinds=["edited"]))
    assert "No changes match." in before


def test_a_run_page_says_its_status_what_it_means_and_its_changes(client, crawled):
    body = page(client, "/runs/2")
    assert "complete" in body and "Every page was read" in body
    assert all(_html(c.title) in body for c in changes_of(crawled, run_id=2))
    page(client, "/runs/999", 404)


def test_a_held_or_incomplete_run_says_why():
    held = SimpleNamespace(status="complete", hold="held", hold_reason="would edit 40% of the site", error=None)
    incomplete = SimpleNamespace(status="incomplete", hold=None, error="12 of 40 article fetches failed (30%)")
    assert web_pages.run_status(held) == web_pages.RunStatus("held", "would edit 40% of the site")
    assert web_pages.run_status(incomplete) == web_pages.RunStatus("incomplete", "12 of 40 article fetches failed (30%)")


def test_an_incomplete_runs_page_shows_its_reason(engine, tmp_path):
    with Session(engine) as session, session.begin():
        session.add(CrawlRun(id=5, site="icesco", started_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC), status="incomplete",
                             stats={}, error="the listing /en/category/news/ answered 503"))
    body = page(make_app(engine, tmp_path).test_client(), "/runs/5")
    assert "incomplete" in body and "removals are not" in body
    assert "the listing /en/category/news/ answered 503" in body


# --------------------------------------------------------------------------- a change, an article


def _edited(engine: Engine, language: str) -> ChangeRecord:
    return next(c for c in changes_of(engine, run_id=2, kinds=["edited"], languages=[language]))


def test_a_change_page_shows_the_diff_side_by_side_and_inline_with_figures_called_out(client, crawled):
    change = next(c for c in changes_of(crawled, run_id=2, kinds=["edited"]) if "600 → 650" in c.summary)
    path = links.change_path(change.run_id, change.article_id)

    side = page(client, path)
    inline = page(client, path + "?view=inline")

    assert "paragraph 2: 600 → 650" in side  # the figure called out, as in the digests
    assert '<table class="side-by-side" lang="fr" dir="ltr">' in side
    assert "<del>600</del>" in side and "<ins>650</ins>" in side
    assert '<div class="newswatch-diff" lang="fr">' in inline and "<del>600</del><ins>650</ins>" in inline
    assert "<table class=\"side-by-side\"" not in inline


def test_an_arabic_change_reads_right_to_left(client, crawled):
    change = _edited(crawled, "ar")
    body = page(client, links.change_path(change.run_id, change.article_id))
    assert '<table class="side-by-side" lang="ar" dir="rtl">' in body
    assert f'<h1 lang="ar" dir="rtl">{_html(change.title)}</h1>' in body


def test_an_article_page_has_its_history_any_versions_text_and_the_diff_of_any_two(client, crawled):
    change = _edited(crawled, "en")
    path = f"/articles/{change.article_id}"

    history = page(client, path)
    first = page(client, path + "?v=1")
    diff = page(client, path + "?from=1&to=2&view=inline")
    same = page(client, path + "?from=2&to=2")

    assert history.count('<tr') >= 3 and "diff with the previous" in history
    assert _html(describe(change)) in history
    assert all(_html(p) in first for p in change.old.paragraphs)
    assert "Version 1 → version 2" in diff and "<del>" in diff and "<ins>" in diff
    assert "Version 2" in same  # one version twice: its text
    page(client, "/articles/99999", 404)


def test_the_digest_link_of_every_change_is_a_page_here(client, crawled):
    for change in changes_of(crawled, run_id=2):
        url = links.change_url(PUBLIC_URL, change)
        assert url.startswith(PUBLIC_URL + "/changes/")
        page(client, url.removeprefix(PUBLIC_URL))


def test_the_links_module_and_the_routes_agree(app):
    with app.test_request_context():
        from flask import url_for
        assert url_for("pages.change", run_id=7, article_id=12) == links.change_path(7, 12)


def test_english_summaries_read_exactly_as_detection_stored_them(crawled):
    found = changes_of(crawled, include_baseline=True)
    assert len(found) > 40
    assert [describe(c) for c in found] == [c.summary for c in found]


def test_summaries_are_translated_from_the_diff(crawled):
    change = next(c for c in changes_of(crawled, run_id=2, kinds=["edited"]) if "600 → 650" in c.summary)
    removal = next(c for c in changes_of(crawled, run_id=2, kinds=["removed"]) if c.http_status)
    assert describe(change, translator("fr")) == "paragraphe 2 : 600 → 650"
    assert describe(change, translator("ar")) == "الفقرة 2: \u2066600 → 650\u2069"
    assert describe(removal, translator("fr")) == f"supprimé : répond {removal.http_status}"


# --------------------------------------------------------------------------- languages


def test_pages_speak_the_asked_language_and_links_keep_it(client):
    arabic = page(client, "/?lang=ar")
    french = page(client, "/", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    english = page(client, "/", headers={"Accept-Language": "de"})

    assert '<html lang="ar" dir="rtl">' in arabic and "آخر الجولات" in arabic
    assert 'href="/runs/2?lang=ar"' in arabic  # our links keep the language asked for
    assert '<html lang="fr" dir="ltr">' in french and "Derniers passages" in french
    assert '<html lang="en" dir="ltr">' in english and "Latest runs" in english
    assert "?lang=fr" in english  # the language switcher


# --------------------------------------------------------------------------- search


def test_search_finds_releases_in_every_language_and_marks_the_words(client, crawled):
    french = changes_of(crawled, run_id=1, include_baseline=True, languages=["fr"])[0]
    arabic = changes_of(crawled, run_id=1, include_baseline=True, languages=["ar"])[0]
    for change in (french, arabic):
        word = max(change.title.split(), key=len)
        body = page(client, f"/search?q={word}&language={change.language}")
        assert _html(change.title) in body or f"/articles/{change.article_id}" in body
        assert "<mark>" in body
    assert "Nothing found." in page(client, "/search?q=zzzyyyxxx")
    assert page(client, '/search?q="*) OR NEAR(-"')  # query syntax is not syntax here


# --------------------------------------------------------------------------- the Atom feed


def test_the_feed_is_atom_with_one_entry_per_change_and_stable_ids(client, crawled):
    document = client.get("/feed.atom")
    root = ET.fromstring(document.data)
    again = ET.fromstring(client.get("/feed.atom").data)

    assert document.mimetype == "application/atom+xml"
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{name}") is not None and root.find(f"{ATOM}{name}").text
    assert root.find(f"{ATOM}author/{ATOM}name").text  # so that no entry needs its own
    entries = root.findall(f"{ATOM}entry")
    changes = changes_of(crawled)
    assert len(entries) == len(changes)
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("tag:news.example.org,2026:") for i in ids)
    assert ids == [e.find(f"{ATOM}id").text for e in again.findall(f"{ATOM}entry")]
    for entry in entries:
        assert entry.find(f"{ATOM}title").text and entry.find(f"{ATOM}updated").text
        alternates = [link for link in entry.findall(f"{ATOM}link") if link.get("rel", "alternate") == "alternate"]
        assert len(alternates) == 1  # RFC 4287: at most one alternate link per type and language
        link = alternates[0].get("href")
        assert link.startswith(PUBLIC_URL + "/changes/")
        assert client.get(link.removeprefix(PUBLIC_URL)).status_code == 200


def test_the_feed_filters_by_language_and_kinds(client, crawled):
    root = ET.fromstring(client.get("/feed.atom?language=fr&kinds=added,edited").data)
    entries = root.findall(f"{ATOM}entry")
    expected = changes_of(crawled, languages=["fr"], kinds=["added", "edited"])
    assert len(entries) == len(expected) > 0
    for entry in entries:
        terms = {c.get("term") for c in entry.findall(f"{ATOM}category")}
        assert "language:fr" in terms and terms & {"added", "edited"}


# --------------------------------------------------------------------------- security


def test_every_page_has_a_strict_content_security_policy_and_no_inline_script_or_style(client, crawled):
    change = _edited(crawled, "en")
    for path in ("/", "/runs/2", links.change_path(2, change.article_id), f"/articles/{change.article_id}",
                 "/search?q=ICESCO", "/subscribe", "/nowhere", "/?lang=ar"):
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script" not in body and " style=" not in body, path


def test_an_error_shows_a_plain_page_never_a_trace(app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(web_pages, "list_changes", broken)
    response = app.test_client().get("/")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body
    assert "Traceback" not in body and "secret detail" not in body and "RuntimeError" not in body


def test_nothing_administrative_is_exposed(client):
    for path in ("/admin", "/subscribers", "/runs/2/detect", "/console", "/static/../newswatch.key"):
        assert client.get(path).status_code == 404, path
    assert client.post("/runs/2").status_code in (400, 405)
    assert client.delete("/changes/2/1").status_code in (400, 405)


def _html(text: str) -> str:
    """`text` as our templates escape it."""
    from markupsafe import escape

    return str(escape(text))


def test_a_missing_crawl_lists_nothing(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    migrate(engine)
    body = page(make_app(engine, tmp_path).test_client(), "/")
    assert "No crawl yet." in body
    engine.dispose()
    assert isinstance(Path, type) and re  # keep the imports honest
    assert Article
