"""An extractor change is never an edit: crawls of the mirror before and after a fixture extractor
change (fixtures/extractor_change.py), without and with a real edit of one release; both backends."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.extraction import EXTRACTION_VERSION
from fixtures import extractor_change
from monitor.diff import compare
from storage import subscribers
from storage.changes import list_changes
from storage.models import ArticleVersion, CrawlRun, Delivery

FULL = ("-a", "mode=full")
CHANGED = "fixtures.extractor_change"  # the crawl's settings module with the change applied
KEY = b"test-key-0123456789-0123456789-0123456789"


def three_paragraph_articles(snapshot: Path) -> list[dict]:
    """The mirror's releases the fixture change reads otherwise (3 paragraphs or more)."""
    found = [json.loads(path.read_text("utf-8")) for path in sorted(snapshot.rglob("expected.json"))]
    return [golden for golden in found if len(golden["paragraphs"]) >= 3]


def subscribe(engine) -> None:
    with Session(engine) as session, session.begin():
        subscribers.add_subscriber(session, "reader@example.org", ["en", "fr", "ar"], ["added", "edited", "removed"],
                                   known_languages=["en", "fr", "ar"], key=KEY, now=dt.datetime.now(dt.UTC))


def last_run(engine) -> CrawlRun:
    with Session(engine) as session:
        return session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(1)).one()


def digests(engine, run_id: int) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.run_id == run_id)) or 0


def test_an_extractor_change_between_two_crawls_of_an_unchanged_mirror_is_no_change(mirror, engine, crawl, snapshots,
                                                                                      monkeypatch):
    crawl(mirror.base_url, engine, *FULL)
    subscribe(engine)
    monkeypatch.setenv("SCRAPY_SETTINGS_MODULE", CHANGED)

    result = crawl(mirror.base_url, engine, *FULL)

    run = last_run(engine)
    rebaselined = len(three_paragraph_articles(snapshots / "v1"))
    assert run.status == "complete"
    with Session(engine) as session:
        assert list_changes(session, run.id) == []
    assert digests(engine, run.id) == 0
    assert run.stats["rebaselined"] == rebaselined > 20
    assert f"no changes, {rebaselined} re-baselined" in result.stderr
    with Session(engine) as session:  # the history now holds tonight's reading, marked as ours
        latest = session.scalars(select(ArticleVersion).where(ArticleVersion.rebaseline.is_(True))).all()
    assert len(latest) == rebaselined
    # Read by tonight's extractor: the project's extraction version, one up (fixtures/extractor_change.py)
    assert {version.extraction.split(";")[0] for version in latest} == {f"extraction {EXTRACTION_VERSION + 1}"}

    again = crawl(mirror.base_url, engine, *FULL)  # the next night under the same extractor: nothing to do
    assert "no changes" in again.stderr and "re-baselined" not in again.stderr


def test_an_extractor_change_and_a_real_edit_the_same_night_is_exactly_that_edit(mirror, engine, crawl, snapshots,
                                                                                 tmp_path, monkeypatch):
    crawl(mirror.base_url, engine, *FULL)
    subscribe(engine)
    edited = edit_one_release(snapshots / "v1", tmp_path / "edited")
    mirror.snapshot = tmp_path / "edited"
    monkeypatch.setenv("SCRAPY_SETTINGS_MODULE", CHANGED)

    crawl(mirror.base_url, engine, *FULL)

    run = last_run(engine)
    with Session(engine) as session:
        changes = list_changes(session, run.id)
        assert [(change.kind, change.url.endswith(edited["path"].rstrip("/") + "/")) for change in changes] == [
            ("edited", True)]
        old, new = (session.get(ArticleVersion, changes[0].old_version_id),
                    session.get(ArticleVersion, changes[0].new_version_id))
        # The "before" is the stored page read by tonight's extractor: the diff is the edit, and
        # not also the paragraph the new extractor no longer reads.
        assert old.rebaseline and old.extraction == new.extraction
        diff = compare(old, new)
        assert diff.fields == ("text",)
        assert old.paragraphs[1:] == new.paragraphs[1:]
        assert "Yesterday, " + old.paragraphs[0] == new.paragraphs[0]
    assert run.stats["rebaselined"] == len(three_paragraph_articles(snapshots / "v1"))
    assert digests(engine, run.id) == 1


def test_reextract_rebaselines_the_latest_versions_on_demand(mirror, engine, crawl, snapshots):
    from click.testing import CliRunner

    from monitor.cli import main

    crawl(mirror.base_url, engine, *FULL)
    url = engine.url.render_as_string(hide_password=False)
    expected = len(three_paragraph_articles(snapshots / "v1"))
    with extractor_change.upgraded():
        dry = CliRunner().invoke(main, ["reextract", "--dry-run", "--database", url])
        assert dry.exit_code == 0, dry.output
        assert f"would re-baseline {expected} of 42 latest versions" in dry.output
        with Session(engine) as session:
            assert session.scalar(select(func.count()).where(ArticleVersion.rebaseline.is_(True))) == 0

        done = CliRunner().invoke(main, ["reextract", "--database", url])
        assert done.exit_code == 0, done.output
        assert f"re-baselined {expected} of 42 latest versions" in done.output
        again = CliRunner().invoke(main, ["reextract", "--database", url])
        assert "re-baselined 0 of 42 latest versions" in again.output
    first = done.output.splitlines()[0].split(": ")[0]  # `URL: what changed` for each re-baselined version
    history = CliRunner().invoke(main, ["history", first, "--database", url, "--wide"])
    rows = [line.split() for line in history.output.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["1", rows[0][1]], ["2", "(re-read)"]] and rows[0][1].isdigit()


def edit_one_release(snapshot: Path, into: Path) -> dict:
    """A copy of `snapshot` in which one English release of 3+ paragraphs has a word added to its first."""
    shutil.copytree(snapshot, into)
    for golden in three_paragraph_articles(into):
        page = into / golden["path"].strip("/") / "index.html"
        html = page.read_text("utf-8")
        first = golden["paragraphs"][0]
        if golden["language"] == "en" and html.count(first[:60]) == 1:
            page.write_text(html.replace(first[:60], "Yesterday, " + first[:60]), "utf-8")
            return golden
    pytest.fail("no release to edit")
