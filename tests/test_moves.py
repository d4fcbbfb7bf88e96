"""A moved release (its old URL answers 301 to a new one) is the same release in every mode, the same night.

The nights below are incremental runs on which no old release is due by the rolling share: a
move is seen only because the unknown URL made the run re-check the known releases it may be.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from crawler.moves import MAX_CANDIDATES, MoveCandidates
from crawler.sites import ICESCO
from fixtures.release import Release, load_all
from fixtures.sitegen import quote_path, write_mirror
from fixtures.synthetic import RELEASES
from monitor.cli import main
from monitor.mirror import Mirror
from storage import repository
from storage.changes import list_changes
from storage.runs import RunSummary, list_runs

REVALIDATE = 1000
# A night whose rolling share is the articles with id ≡ 999 (mod 1000): none of a few dozen.
NIGHT = dt.date.fromordinal(999 + 1000 * (dt.date(2026, 1, 1).toordinal() // 1000))
NOTHING_DUE = {"NEWSWATCH_MODE": "incremental", "NEWSWATCH_TODAY": NIGHT.isoformat(), "NEWSWATCH_RECENT_DAYS": "0",
               "NEWSWATCH_REVALIDATE_DAYS": str(REVALIDATE)}
OLD = dt.datetime(2023, 6, 1, 12, tzinfo=dt.UTC)  # sitemap lastmod of untouched releases


def path_of(url: str) -> str:
    return unquote(urlsplit(url).path)


def latest_run(engine) -> RunSummary:
    with Session(engine) as session:
        return list_runs(session)[0]


def reported(engine, run_id: int) -> list[dict]:
    with Session(engine) as session:
        rows = list_changes(session, run_id)
    return sorted(({"kind": r.kind, "path": path_of(r.url), "language": r.language, "fields": list(r.fields)}
                   for r in rows), key=lambda change: change["path"])


def stored_paths(engine) -> list[str]:
    with Session(engine) as session:
        return sorted(path_of(a.url) for a in repository.list_articles(session))


def test_a_release_moved_to_its_corrected_date_is_one_edit_on_the_first_incremental_night(
        mirror, engine, crawl, snapshots):
    expected = json.loads((snapshots / "v2" / "expected-changes.json").read_text("utf-8"))
    (moved,) = [c for c in expected if "published" in c["fields"]]
    rules = json.loads((snapshots / "v2" / "rules.json").read_text("utf-8"))
    (old_path,) = [path for path, rule in rules.items() if rule["status"] == 301]
    crawl(mirror.base_url, engine, NEWSWATCH_TODAY=(NIGHT - dt.timedelta(days=1)).isoformat())
    mirror.snapshot = snapshots / "v2"
    mirror.requests.clear()

    crawl(mirror.base_url, engine, **NOTHING_DUE)

    run = latest_run(engine)
    assert run.status == "complete"
    # Tonight's listings show the two new releases and the moved one; nothing else is due.
    assert reported(engine, run.id) == sorted([c for c in expected if c["kind"] == "added"] + [moved],
                                              key=lambda change: change["path"])
    assert old_path not in stored_paths(engine) and moved["path"] in stored_paths(engine)
    history = CliRunner().invoke(main, ["history", mirror.base_url + moved["path"], "--json",
                                        "--database", engine.url.render_as_string(hide_password=False)])
    assert [v["published"] for v in json.loads(history.output)] == ["2022-09-13", "2022-09-12"]
    # The cost: the known release of the same slug, and the one English release of the new date.
    assert mirror.requests.count(old_path) == 1
    assert run.stats["move_checks"] == 2


@pytest.fixture
def site(mirror: Mirror) -> Mirror:
    """The session's mirror on 127.0.0.1, of whichever night folder the test points it at."""
    return mirror


def english(count: int) -> list[Release]:
    releases = [r for r in load_all(RELEASES) if r.language == "en"]
    return sorted(releases, key=lambda r: r.published, reverse=True)[:count]


@pytest.fixture(scope="module")
def first_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six English releases, two a listing page, every lastmod old: the night of the shared baseline."""
    folder = tmp_path_factory.mktemp("moves") / "night1"
    write_mirror(folder, english(6), golden=False, per_page=2, lastmod=lambda r: OLD)
    return folder


def baseline(shared_crawls, engine, first_night: Path) -> None:
    """The baseline of the first night, the night before NIGHT (crawled once, shared)."""
    shared_crawls(engine, first_night, NEWSWATCH_LANGUAGES="en", NEWSWATCH_TODAY=(NIGHT - dt.timedelta(days=1)).isoformat())


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_release_whose_slug_is_corrected_keeps_its_identity_when_only_the_sitemap_shows_it(
        site, tmp_path, engine, crawl, shared_crawls, first_night, mode):
    releases = english(6)
    oldest = releases[-1]
    fixed = dataclasses.replace(oldest, slug=oldest.slug + "-in-rabat")  # same date, corrected slug
    baseline(shared_crawls, engine, first_night)
    tonight = tmp_path / "night2"
    write_mirror(tonight, [*releases[:-1], fixed], golden=False, per_page=2,
                 lastmod=lambda r: dt.datetime.now(dt.UTC) if r is fixed else OLD)
    (tonight / "rules.json").write_text(json.dumps({oldest.path: {"status": 301, "location": quote_path(fixed.path)}}))
    site.snapshot = tonight
    site.requests.clear()

    crawl(site.base_url, engine, NEWSWATCH_LANGUAGES="en", **{**NOTHING_DUE, "NEWSWATCH_MODE": mode})

    run = latest_run(engine)
    assert run.status == "complete"
    if mode == "incremental":
        assert "/en/category/news/page/3/" not in site.requests, "only the sitemap shows the new URL"
    assert reported(engine, run.id) == []  # the same words at another address: no change at all
    assert stored_paths(engine) == sorted(r.path for r in [*releases[:-1], fixed])
    assert site.requests.count(oldest.path) == 1


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_release_whose_date_and_slug_are_both_corrected_is_one_edit_in_every_mode(site, tmp_path, engine, crawl,
                                                                                    shared_crawls, first_night, mode):
    releases = english(6)
    oldest = releases[-1]
    new_date = oldest.published - dt.timedelta(days=1)
    assert new_date not in {r.published for r in releases}  # no known release shares its new date
    fixed = dataclasses.replace(oldest, slug=oldest.slug + "-in-rabat", published=new_date)
    baseline(shared_crawls, engine, first_night)
    tonight = tmp_path / "night2"
    write_mirror(tonight, [*releases[:-1], fixed], golden=False, per_page=2,
                 lastmod=lambda r: dt.datetime.now(dt.UTC) if r is fixed else OLD)
    (tonight / "rules.json").write_text(json.dumps({oldest.path: {"status": 301, "location": quote_path(fixed.path)}}))
    site.snapshot = tonight

    crawl(site.base_url, engine, NEWSWATCH_LANGUAGES="en", **{**NOTHING_DUE, "NEWSWATCH_MODE": mode})

    run = latest_run(engine)
    assert run.status == "complete"
    # Nothing in its URL says which release it was: its title does, once its page is read.
    assert reported(engine, run.id) == [{"kind": "edited", "path": fixed.path, "language": "en",
                                         "fields": ["published"]}]
    assert stored_paths(engine) == sorted(r.path for r in [*releases[:-1], fixed])


def known(url: str, title: str | None = None, id_: int = 1) -> repository.KnownArticle:
    return repository.KnownArticle(id_, url, None, None, None, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), title)


def test_the_candidates_of_a_move_share_the_language_and_the_slug_or_the_date():
    base = ICESCO.origin
    stored = [
        known(f"{base}/en/2022/09/13/same-slug/"),
        known(f"{base}/en/2022/09/12/another-release-that-day/"),
        known(f"{base}/en/2022/09/11/unrelated/"),
        known(f"{base}/fr/2022/09/12/same-slug/"),  # another language: another release
        known(f"{base}/en/2022/09/14/Same-Slug/"),  # slugs compare without case
    ]
    moves = MoveCandidates(stored, ICESCO)

    found = [path_of(a.url) for a in moves.of(f"{base}/en/2022/09/12/same-slug/")]

    assert found == ["/en/2022/09/13/same-slug/", "/en/2022/09/14/Same-Slug/", "/en/2022/09/12/another-release-that-day/"]
    assert moves.of(f"{base}/en/2024/01/01/brand-new/") == []
    assert moves.of(f"{base}/en/category/news/") == []


def test_the_candidates_of_one_url_are_bounded():
    base = ICESCO.origin
    busy_day = [known(f"{base}/en/2022/09/12/release-{n}/") for n in range(3 * MAX_CANDIDATES)]

    found = MoveCandidates(busy_day, ICESCO).of(f"{base}/en/2022/09/12/release-0-corrected/")

    assert len(found) == MAX_CANDIDATES


def test_the_candidates_of_a_retitled_release_have_a_close_title_in_its_language():
    base = ICESCO.origin
    stored = [
        known(f"{base}/en/2022/09/13/a/", "ICESCO and Kazakhstan Agree on Enhancing Cooperation in Science", 1),
        known(f"{base}/en/2022/09/14/b/", "ICESCO Holds a Webinar on Heritage in Times of Crisis", 2),
        known(f"{base}/fr/2022/09/13/c/", "ICESCO and Kazakhstan Agree on Enhancing Cooperation in Science", 3),
    ]

    found = MoveCandidates(stored, ICESCO).titled("en", "ICESCO and  Kazakhstan agree to enhance cooperation in science")

    assert [a.id for a in found] == [1]
