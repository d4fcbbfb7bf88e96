"""Change detection end to end: the real spider crawls v1 → v2 → v3 and each run says exactly what changed.

The crawls of v1 and v2 are shared by the tests (`shared_crawls`, once per session and backend)."""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from crawler.runs import run_status
from monitor.cli import main
from storage.changes import list_changes
from storage.models import CHANGE_KINDS
from storage.runs import RunSummary, list_runs

# Detection is tested on full runs: the fixture's releases are years old, and an incremental
# night re-reads only its share of those (tests/test_incremental.py).
FULL = ("-a", "mode=full")


def expected_changes(snapshot) -> list[dict]:
    return json.loads((snapshot / "expected-changes.json").read_text("utf-8"))


def observed(engine, run_id: int) -> list[dict]:
    """The run's changes in the shape of expected-changes.json."""
    with Session(engine) as session:
        rows = list_changes(session, run_id)
    return sorted(
        ({"kind": r.kind, "path": unquote(urlsplit(r.url).path), "language": r.language, "fields": list(r.fields)}
         for r in rows),
        key=lambda change: change["path"],
    )


def runs(engine) -> list[RunSummary]:
    with Session(engine) as session:
        return list_runs(session)[::-1]  # oldest first


def summary(result) -> str:
    """The run's summary: the last line its crawl logged."""
    return result.stderr.splitlines()[-1].split("[crawler.runs] ", 1)[1]


def test_v1_v2_v3_report_exactly_the_changes_and_an_outage_reports_none(mirror, engine, crawl, shared_crawls,
                                                                        snapshots):
    crawls = [crawled.result for crawled in shared_crawls(engine, "v1", "v2", args=FULL)]
    mirror.snapshot = snapshots / "v3"
    crawls.append(crawl(mirror.base_url, engine, *FULL))

    first, second, third = runs(engine)
    # What the operator reads when each crawl ends.
    articles = first.stats["articles_seen"]
    assert re.fullmatch(rf"INFO: run {first.id} complete in \d+ s: \d+ requests, {articles} articles, {articles} added "
                        r"\(the baseline: recorded, never alerted\)", summary(crawls[0]))
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(
        c["kind"] for c in expected_changes(snapshots / "v2")).items(), key=lambda item: CHANGE_KINDS.index(item[0])))
    assert re.fullmatch(rf"INFO: run {second.id} complete in \d+ s: {second.stats['requests']} requests, \d+ articles, "
                        rf"{counts}", summary(crawls[1]))
    attempted = 19 + sum(third.stats[key] for key in ("articles_seen", "articles_gone", "not_modified"))
    assert third.reason == (f"1 listing page failed; {19 / attempted:.0%} of article fetches failed "
                            f"(19 of {attempted}; the limit is 5%)")
    assert summary(crawls[2]).startswith(f"WARNING: run {third.id} incomplete in ")
    assert summary(crawls[2]).endswith(f"no changes, 19 failed fetches; incomplete because {third.reason}: "
                                       "no removals reported")
    assert first.is_baseline and observed(engine, first.id) == []  # the baseline never alerts
    with Session(engine) as session:
        baseline = list_changes(session, first.id, include_baseline=True)
    assert {c.kind for c in baseline} == {"added"} and all(c.is_baseline for c in baseline)
    assert second.status == "complete"
    assert observed(engine, second.id) == expected_changes(snapshots / "v2")
    assert third.status == "incomplete"
    assert third.stats["articles_seen"] >= 20  # v2's pages, served under v3's faults
    assert third.stats["fetch_failed"] == 18 and third.stats["extraction_failed"] == 1
    assert third.stats["listing_failed"] == 1
    assert observed(engine, third.id) == expected_changes(snapshots / "v3") == []


def test_an_incomplete_run_reports_no_removal(mirror, engine, crawl, shared_crawls, snapshots):
    shared_crawls(engine, "v1", args=FULL)
    mirror.snapshot = snapshots / "v3"  # v2's removals, served with faults

    crawl(mirror.base_url, engine, *FULL)

    latest = runs(engine)[-1]
    assert latest.status == "incomplete"
    assert latest.stats["listing_failed"] >= 1
    kinds = {change["kind"] for change in observed(engine, latest.id)}
    assert "removed" not in kinds


def test_a_move_is_one_edit_under_the_new_url_with_its_history(mirror, engine, shared_crawls, snapshots):
    shared_crawls(engine, "v1", "v2", args=FULL)

    moved = [c for c in expected_changes(snapshots / "v2") if "published" in c["fields"]]
    assert moved, "v2 has a moved release"
    database = ["--database", engine.url.render_as_string(hide_password=False)]
    for change in moved:
        url = mirror.base_url + change["path"]
        history = json.loads(CliRunner().invoke(main, ["history", url, "--json", *database]).output)
        assert len(history) == 2
        assert history[0]["published"] != history[1]["published"] == change["path"].split("/")[2] + "-" + \
            change["path"].split("/")[3] + "-" + change["path"].split("/")[4]
        shown = CliRunner().invoke(main, ["diff", url, "--no-color", *database]).output
        assert "date changed" in shown


def test_detect_recomputes_a_run_idempotently(engine, shared_crawls, snapshots):
    shared_crawls(engine, "v1", "v2", args=FULL)
    run_id = runs(engine)[-1].id
    before = observed(engine, run_id)
    database = ["--database", engine.url.render_as_string(hide_password=False)]

    outputs = [CliRunner().invoke(main, ["detect", "--run", str(run_id), *database]) for _ in range(2)]

    assert [o.exit_code for o in outputs] == [0, 0]
    assert outputs[0].output == outputs[1].output
    assert observed(engine, run_id) == before == expected_changes(snapshots / "v2")


def test_changes_cli_json_contract(engine, shared_crawls, snapshots):
    shared_crawls(engine, "v1", "v2", args=FULL)
    database = ["--database", engine.url.render_as_string(hide_password=False)]

    listed = json.loads(CliRunner().invoke(main, ["changes", "--json", *database]).output)
    since = json.loads(CliRunner().invoke(main, ["changes", "--since", "2000-01-01", "--json", *database]).output)

    assert listed and all(set(c) == {"kind", "url", "language", "title", "fields", "summary", "run"} for c in listed)
    assert len(listed) == len(expected_changes(snapshots / "v2")) == len(since)
    assert all(c["summary"] for c in listed)


def test_unknown_run_and_url_fail_clearly(mirror, engine, shared_crawls):
    shared_crawls(engine, "v1", args=FULL)
    database = ["--database", engine.url.render_as_string(hide_password=False)]

    unknown_run = CliRunner().invoke(main, ["changes", "--run", "999", *database])
    unknown_url = CliRunner().invoke(main, ["diff", mirror.base_url + "/en/2001/01/01/nothing/", *database])

    assert unknown_run.exit_code == 1 and "no crawl run 999" in unknown_run.output
    assert unknown_url.exit_code == 1 and "no article stored at" in unknown_url.output


@pytest.mark.parametrize("reason, stats, status", [
    ("finished", {"newswatch/articles_seen": 100}, "complete"),
    ("finished", {"newswatch/articles_seen": 96, "newswatch/fetch_failed": 4}, "complete"),
    ("finished", {"newswatch/articles_seen": 90, "newswatch/fetch_failed": 10}, "incomplete"),
    ("finished", {"newswatch/articles_seen": 100, "newswatch/listing_failed": 1}, "incomplete"),
    ("finished", {"newswatch/articles_seen": 50, "newswatch/extraction_failed": 50}, "incomplete"),
    ("shutdown", {"newswatch/articles_seen": 100}, "incomplete"),
])
def test_run_status(reason, stats, status):
    assert run_status(reason, stats, max_failure_rate=0.05) == status
