"""A removal's second witness (crawler.witness), the known releases waiting for one, and the runs a
killed crawl leaves behind (storage.runs.failed_since_last_end)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from crawler.sites import ICESCO
from crawler.witness import RemovalWitnesses
from storage import events, repository, runs
from storage.models import CrawlRun

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ORIGIN = ICESCO.origin


def url(day: str, slug: str, language: str = "en") -> str:
    return f"{ORIGIN}/{language}/{day.replace('-', '/')}/{slug}/"


def known(id_: int, address: str, *, answered_gone: bool = False) -> repository.KnownArticle:
    return repository.KnownArticle(id_, address, None, None, None, T0, answered_gone=answered_gone)


NEW, MIDDLE, OLD = url("2025-08-05", "new"), url("2025-03-08", "middle"), url("2022-09-12", "old")


def walked(*pages: tuple[list[str], bool]) -> RemovalWitnesses:
    witnesses = RemovalWitnesses(ICESCO)
    for articles, last in pages:
        witnesses.listing_page("en", articles, last=last)
    return witnesses


def test_a_release_missing_where_the_walk_covers_its_date_is_witnessed():
    witnesses = walked(([url("2025-09-01", "a"), url("2025-03-01", "b")], False))
    witnesses.answered_gone(known(1, NEW))  # after the oldest date walked: it should stand there
    witnesses.answered_gone(known(2, OLD))  # older than the walk reached: its re-check will tell
    assert witnesses.verdict().witnessed == (1,)


def test_a_walk_to_the_last_page_covers_every_date():
    witnesses = walked(([url("2025-09-01", "a")], False), ([url("2025-03-09", "b")], True))
    witnesses.answered_gone(known(2, OLD))
    assert witnesses.verdict().witnessed == (2,)


def test_a_release_the_listings_link_is_never_removed_whatever_it_answered_before():
    witnesses = walked(([NEW, MIDDLE, OLD], True))
    witnesses.answered_gone(known(1, NEW))
    witnesses.answered_gone(known(2, OLD, answered_gone=True))
    verdict = witnesses.verdict()
    assert (verdict.witnessed, verdict.listed) == ((), 2)


def test_a_second_404_witnesses_a_release_the_walk_did_not_cover():
    witnesses = walked(([url("2025-09-01", "a")], False))
    witnesses.answered_gone(known(2, OLD, answered_gone=True))
    assert witnesses.verdict().witnessed == (2,)


def test_an_empty_walk_and_no_walk_witness_nothing():
    empty = walked(([], True))
    empty.answered_gone(known(1, NEW))
    assert empty.verdict().witnessed == ()
    other_language = walked(([url("2025-09-01", "a")], True))
    other_language.answered_gone(known(3, url("2025-08-05", "nouveau", "fr")))
    assert other_language.verdict().witnessed == ()


def test_the_oldest_date_walked_is_not_covered():
    witnesses = walked(([url("2025-09-01", "a"), url("2025-03-08", "b")], False))
    witnesses.answered_gone(known(1, MIDDLE))  # same date as the walk's oldest: may be on the next page
    assert witnesses.verdict().witnessed == ()


# --------------------------------------------------------------------------- the database side


def _run(session: Session, status: str) -> int:
    run = CrawlRun(site="icesco", started_at=T0, finished_at=T0, status=status, stats={})
    session.add(run)
    session.flush()
    return run.id


def _article(session: Session, run_id: int, address: str) -> None:
    repository.record_article(session, run_id, url=address, site="icesco", language="en", title="A release",
                              published=None, paragraphs=["Some text."], fetched_at=T0)


def _known(session: Session) -> dict[str, bool]:
    return {a.url: a.answered_gone for a in repository.known_articles(session, "icesco", ["en"], ORIGIN)}


def test_a_release_that_answered_404_when_last_checked_waits_for_its_second_witness(engine):
    with Session(engine) as session, session.begin():
        first = _run(session, "complete")
        for address in (NEW, MIDDLE, OLD):
            _article(session, first, address)
        second = _run(session, "complete")
        events.record_gone(session, second, NEW, 404)
        events.record_gone(session, second, MIDDLE, 404)
        events.record_gone(session, second, OLD, 301, f"{ORIGIN}/en/")  # a redirect of old: no witness
        third = _run(session, "complete")
        _article(session, third, MIDDLE)  # it answers again: nothing waits
        assert _known(session) == {NEW: True, MIDDLE: False, OLD: False}


def test_the_failed_runs_since_the_last_run_that_ended(engine):
    with Session(engine) as session, session.begin():
        assert runs.failed_since_last_end(session, "icesco") == []
        old_failure = _run(session, "failed")
        assert runs.failed_since_last_end(session, "icesco") == [old_failure]
        _run(session, "complete")
        killed = [_run(session, "failed"), _run(session, "failed")]
        current = _run(session, "running")
        assert runs.failed_since_last_end(session, "icesco") == killed
        assert runs.failed_since_last_end(session, "icesco", before=current) == killed
        assert runs.failed_since_last_end(session, "icesco", before=killed[1]) == killed[:1]
        _run(session, "incomplete")
        assert runs.failed_since_last_end(session, "icesco") == []
