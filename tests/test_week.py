"""A week of nights as the scheduler runs them: v1, then eight incremental nights of v2, one day apart.

The incremental mode re-reads an old release once per revalidation period, so its promise is
about a week, not a night: every change of v2 reported exactly once within the period, nothing
false on any night, and what is recent (or new, or moved) reported on the first night. The
date of each night is injected with NEWSWATCH_TODAY; the recent window reaches back to the newest
edited release; the rest is the nightly default, with the tests' FAST settings (no politeness
delays on loopback) and extraction in the crawl's own process.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from crawler.sites import ICESCO
from storage.changes import list_changes
from storage.runs import RunSummary, list_runs

PERIOD = 7  # NEWSWATCH_REVALIDATE_DAYS
NIGHTS = PERIOD + 1  # one more night, for a removal's second witness
FIRST_NIGHT = dt.date(2025, 8, 11)  # after every release of v1 and v2


def expected_changes(snapshot) -> list[dict]:
    return json.loads((snapshot / "expected-changes.json").read_text("utf-8"))


def published(path: str) -> dt.date:
    match = ICESCO.article_path.match(path)
    return dt.date(int(match["year"]), int(match["month"]), int(match["day"]))


def reported(engine, run_id: int) -> list[dict]:
    """The run's changes in the shape of expected-changes.json."""
    with Session(engine) as session:
        rows = list_changes(session, run_id)
    return [{"kind": r.kind, "path": unquote(urlsplit(r.url).path), "language": r.language, "fields": list(r.fields)}
            for r in rows]


def latest_run(engine) -> RunSummary:
    with Session(engine) as session:
        return list_runs(session)[0]


def test_a_week_of_incremental_nights_reports_every_change_once_and_nothing_false(mirror, engine, crawl, snapshots):
    expected = expected_changes(snapshots / "v2")
    # The newest edited release is recent: every release since it is re-checked every night.
    recent_edit = max((c for c in expected if c["kind"] == "edited"), key=lambda c: published(c["path"]))
    recent_days = (FIRST_NIGHT - published(recent_edit["path"])).days
    # Extraction in the crawl's own process: the same reading of each page, without starting two
    # worker processes nine times (a quarter of the test's time).
    nightly = {"NEWSWATCH_MODE": "incremental", "NEWSWATCH_REVALIDATE_DAYS": str(PERIOD),
               "NEWSWATCH_RECENT_DAYS": str(recent_days), "NEWSWATCH_EXTRACT_WORKERS": "0"}
    started = time.monotonic()
    crawl(mirror.base_url, engine, NEWSWATCH_TODAY=(FIRST_NIGHT - dt.timedelta(days=1)).isoformat(), **nightly)
    mirror.snapshot = snapshots / "v2"

    nights = []
    for night in range(NIGHTS):
        crawl(mirror.base_url, engine, NEWSWATCH_TODAY=(FIRST_NIGHT + dt.timedelta(days=night)).isoformat(), **nightly)
        run = latest_run(engine)
        assert run.status == "complete", (night + 1, run.stats)
        nights.append(reported(engine, run.id))
    elapsed = time.monotonic() - started

    def key(change: dict) -> str:
        return json.dumps(change, sort_keys=True, ensure_ascii=False)

    seen: dict[str, int] = {}
    for number, changes in enumerate(nights, 1):
        for change in changes:
            assert change in expected, f"night {number}: a false change {change}"
            assert key(change) not in seen, f"night {number}: {change} reported again (night {seen[key(change)]})"
            seen[key(change)] = number
    assert sorted(seen) == sorted(map(key, expected)), "changes never reported within the week"
    first_night = {
        key(c) for c in expected
        if c["kind"] == "added" or "published" in c["fields"]  # new, or moved: found on the listings
        or (FIRST_NIGHT - published(c["path"])).days <= recent_days
    }
    assert key(recent_edit) in first_night
    assert first_night <= {key(c) for c in nights[0]}, "recent, new and moved releases are reported on the first night"
    # No second witness of a removal yet (DESIGN.md, "Agreed since"): a removal is reported the
    # night its 404/410 is first seen, and the last night has nothing left to report.
    assert nights[-1] == []
    print(f"v1 and {NIGHTS} nights of v2 on {engine.dialect.name}: {elapsed:.1f} s")
