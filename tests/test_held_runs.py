"""The brake on alert storms (issue 15, part 3): a night where a new widget appears on every page is held
for the operator, who releases it (the digests go) or rebaselines it (accepted silently)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SNAPSHOTS
from faults.faultmirror import ARTICLE, Fault, FaultMirror
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_notify import KEY
from web_support import make_app

from monitor.brake import BrakeSettings, Edit, assess
from monitor.cli import main
from storage.models import CrawlRun, Delivery

WIDGET = "Follow ICESCO on WhatsApp: the Organization's news, every day, on your phone."
ENGLISH_FULL = ("-a", "mode=full", "-a", "languages=en")


def with_widget(page: Path | None) -> bytes:
    """The page with a new paragraph of chrome after its last paragraph of text, as a theme update adds one."""
    assert page is not None
    html = page.read_text("utf-8")
    ends = [k for k in (html.find('class="tags-links"'), html.find('class="share-buttons"'), html.find("related"))
            if k > 0]
    stop = min(ends or [len(html)])
    last = [m for m in re.finditer(r"<p>(?:(?!</p>|<p[ >]).)*</p>", html, re.S) if m.end() < stop][-1]
    return (html[:last.end()] + f"\n<p>{WIDGET}</p>" + html[last.end():]).encode("utf-8")


def widget_night() -> Fault:
    return Fault(ARTICLE, status=200, body=with_widget)


@pytest.fixture(scope="module")
def site() -> Iterator[FaultMirror]:
    with FaultMirror(SNAPSHOTS / "v1").running() as server:
        yield server


@pytest.fixture
def widget_site(site: FaultMirror) -> Iterator[FaultMirror]:
    site.reset(SNAPSHOTS / "v1")
    yield site
    site.reset(SNAPSHOTS / "v1")


def newswatch(engine, *args: str):
    url = engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(main, list(args), env={"NEWSWATCH_SECRET_KEY": KEY.decode(),
                                                     "NEWSWATCH_DATABASE_URL": url, "COLUMNS": "400"})


def deliveries(engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.scalars(select(Delivery).where(Delivery.status == "pending")))


def held_night(widget_site, engine, crawl) -> tuple[int, str]:
    """The baseline of v1 and a subscriber, then a night with the widget on every English page: (run, log)."""
    crawl(widget_site.base_url, engine, *ENGLISH_FULL)
    assert newswatch(engine, "subscribers", "add", "all@example.org").exit_code == 0
    widget_site.faults = [widget_night()]
    result = crawl(widget_site.base_url, engine, *ENGLISH_FULL)
    with Session(engine) as session:
        run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
        assert run is not None
        return run.id, result.stderr


def test_a_widget_on_every_page_holds_the_run_and_says_why(widget_site, engine, crawl):
    run, log = held_night(widget_site, engine, crawl)

    reason = r"(\d+) of \1 compared articles edited, the same new paragraph on \1 — looks like a template change"
    assert deliveries(engine) == []  # nobody is mailed
    runs = newswatch(engine, "runs").output
    assert re.search(rf"^{run}\s+held\s.*held: {reason}$", runs, re.M), runs
    changes = newswatch(engine, "changes").output
    assert re.search(rf"^run {run} is held for the operator, no digest sent: {reason}$", changes, re.M), changes
    edited = len(re.findall(rf"^{run}\s+edited\s", changes, re.M))
    assert edited >= 16 and f"added to {edited} articles: \u201c{WIDGET}\u201d" in changes
    assert f"`newswatch release {run}` sends its digests" in changes
    assert re.search(rf"run {run} complete .*; held for the operator, no digest queued: {reason}", log)
    client = make_app(engine, Path("unused")).test_client()
    page = client.get(f"/runs/{run}").get_data(as_text=True).replace("&#39;", "'")
    assert "Held for the operator" in page and re.search(reason, page), page
    assert f"added to {edited} articles:</bdi> <q>{WIDGET}</q>" in page
    assert "<entry>" not in client.get("/feed.atom").get_data(as_text=True)  # the feed does not announce it

    released = newswatch(engine, "release", str(run))
    assert released.output == (f"Released run {run}: 1 digest queued (`newswatch notify` sends them; the scheduler "
                               "does within minutes).\n")
    assert len(deliveries(engine)) == 1
    assert client.get("/feed.atom").get_data(as_text=True).count("<entry>") == edited
    assert re.search(rf"^{run}\s+complete \(released\)", newswatch(engine, "runs").output, re.M)
    again = newswatch(engine, "release", str(run))
    assert again.exit_code == 1 and f"run {run} was released already: nothing to decide" in again.output


def test_a_rebaselined_run_mails_nobody_and_the_next_night_is_quiet(widget_site, engine, crawl):
    run, _ = held_night(widget_site, engine, crawl)

    done = newswatch(engine, "rebaseline", str(run))
    assert re.fullmatch(rf"Rebaselined run {run}: its (\d+) changes are the new baseline, mailed to nobody "
                        rf"\(`newswatch changes --run {run} --baseline` lists them\).\n", done.output), done.output
    assert newswatch(engine, "changes", "--run", str(run)).output.startswith("(none)")
    assert newswatch(engine, "detect", "--run", str(run)).exit_code == 0  # recomputing keeps the decision
    assert newswatch(engine, "changes", "--run", str(run)).output.startswith("(none)")
    assert deliveries(engine) == []
    crawl(widget_site.base_url, engine, *ENGLISH_FULL)  # the widget stays: nothing changed since
    assert newswatch(engine, "changes").output.startswith("(none)")
    assert "held" not in newswatch(engine, "runs").output.splitlines()[2]


def test_an_ordinary_night_is_not_held(mirror, engine, crawl, snapshots):
    crawl(mirror.base_url, engine, *ENGLISH_FULL)
    mirror.snapshot = snapshots / "v2"
    crawl(mirror.base_url, engine, *ENGLISH_FULL)  # 3 English edits of 16: under the handful

    with Session(engine) as session:
        assert [run.hold for run in session.scalars(select(CrawlRun))] == [None, None]


# --------------------------------------------------------------------------- the rule itself


def edits(n: int, common: str | None = "Widget.") -> list[Edit]:
    return [Edit((f"Text {i}.",), (f"Text {i}.", common) if common else (f"Text {i}, edited.",)) for i in range(n)]


@pytest.mark.parametrize(("edited", "compared", "held"), [
    (5, 5, False),  # a handful is never a storm
    (6, 30, False),  # 20%: not more than the share
    (7, 30, True),
    (6, 6, True),
])
def test_a_run_is_held_past_the_share_and_the_handful(edited, compared, held):
    assert (assess(edits(edited), [], compared) is not None) is held


def test_the_reason_names_the_common_text_or_its_absence():
    hold = assess(edits(8), [], 10)
    assert hold is not None
    assert hold.reason == "8 of 10 compared articles edited, the same new paragraph on 8 — looks like a template change"
    assert [c.as_json() for c in hold.evidence] == [{"change": "added", "text": "Widget.", "articles": 8}]
    scattered = assess(edits(8, None), [], 10)
    assert scattered is not None and scattered.evidence == ()
    assert scattered.reason.endswith("edited, no paragraph common to them — check them before releasing")


def test_mass_removals_are_held_with_their_cause():
    hold = assess([], ["removed: answers 404"] * 16, 16, BrakeSettings(0.2, 5))
    assert hold is not None
    assert hold.reason == ("16 of 16 compared articles removed (16 answer 404) — looks like an outage or a move of "
                           "the site")
