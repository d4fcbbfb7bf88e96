"""Issue 13, false alerts (items 4, 5), and the outages that already report nothing.

Each test starts from the baseline of v1 (and a subscriber to everything), serves a night
with a fault, and looks at what a subscriber would get: the changes reported, the digests
queued, the run's status. English only, every known article re-checked (`mode=full`).
"""

from __future__ import annotations

import re

from faults import observe
from faults.conftest import V2, subscribe
from faults.faultmirror import ARTICLE, LISTING, Fault, answer, cut, cut_article, maintenance, redirect, slow

EN_ARTICLE = ARTICLE.replace("(en|fr|ar)", "en")
EN_LISTING = LISTING.replace("(en|fr|ar)", "en")
ENGLISH_FULL = ("-a", "mode=full", "-a", "languages=en")
ONE = "/en/2022/09/15/exploring-prospects-for-cooperation-between-icesco-and-osce/"


def night_with_subscriber(database):
    engine = database("v1")
    subscribe(engine, "all@example.org")
    return engine


def english_articles(site) -> list[str]:
    return sorted({hit.path for hit in site.hits(EN_ARTICLE)})


# --------------------------------------------------------------------------- item 4: pages cut short


def test_item4_a_page_cut_short_is_a_failed_fetch_retried_never_an_edit(database, site, crawls):
    engine = night_with_subscriber(database)
    site.faults = [cut(EN_ARTICLE, 0.7)]

    crawls.run(engine, *ENGLISH_FULL)

    assert observe.reported(engine) == {}
    assert observe.deliveries(engine) == []
    assert observe.runs(engine)[-1].status == "incomplete"
    assert all(len(site.hits(re.escape(path))) >= 2 for path in english_articles(site)), "cut pages are retried"


def test_item4_a_night_of_pages_cut_at_45_percent_then_a_clean_night_report_nothing(database, site, crawls):
    engine = night_with_subscriber(database)
    site.faults = [cut(EN_ARTICLE, 0.45)]
    crawls.run(engine, *ENGLISH_FULL)
    site.faults = []

    crawls.run(engine, *ENGLISH_FULL)

    assert observe.reported(engine) == {}
    assert observe.deliveries(engine) == []
    assert observe.runs(engine)[-1].status == "complete"


def test_item4_a_whole_page_whose_text_stops_mid_sentence_where_the_stored_one_goes_on_is_no_edit(database, site,
                                                                                                crawls):
    # A template that still closes the page after a PHP error cut the article (or a markup we do
    # not know): the closing tags are there, the text stops in the middle of a sentence. (Where
    # the cut falls between paragraphs, the text alone cannot tell it from an editor's cut.)
    engine = night_with_subscriber(database)
    site.faults = [Fault(re.escape(ONE), status=200, body=lambda file: cut_article(file, 0.7) + b"</div></body></html>")]

    crawl = crawls.run(engine, *ENGLISH_FULL)

    assert observe.reported(engine) == {}
    assert observe.deliveries(engine) == []
    assert observe.runs(engine)[-1].stats["extraction_suspect"] == 1
    assert "stops mid-sentence where the stored version goes on" in crawl.tail(40)


# --------------------------------------------------------------------------- item 5: mass removals


def test_item5_a_site_wide_redirect_to_the_home_page_is_no_removal(database, site, crawls):
    engine = night_with_subscriber(database)
    site.faults = [redirect(EN_ARTICLE, "/en/")]

    crawls.run(engine, *ENGLISH_FULL)

    assert observe.kinds(observe.reported(engine))["removed"] == 0
    assert observe.deliveries(engine) == []


def test_item5_a_site_wide_404_with_intact_listings_is_an_outage_not_removals(database, site, crawls):
    engine = night_with_subscriber(database)
    site.faults = [answer(EN_ARTICLE, 404, b"<html><body><h1>Page not found</h1></body></html>")]

    crawls.run(engine, *ENGLISH_FULL)

    assert observe.kinds(observe.reported(engine))["removed"] == 0
    assert observe.deliveries(engine) == []
    assert observe.runs(engine)[-1].status == "incomplete"


def test_item5_a_mass_removal_is_held_for_the_operator_not_mailed(database, site, crawls):
    engine = night_with_subscriber(database)
    site.faults = [answer(EN_ARTICLE, 404), answer(EN_LISTING, 200, b"<html><body><p>No posts.</p></body></html>")]

    crawls.run(engine, *ENGLISH_FULL)

    assert observe.deliveries(engine) == []
    run = observe.runs(engine)[-1]
    if observe.kinds(observe.reported(engine))["removed"]:  # removals recorded: the brake holds them
        assert run.hold == "held" and "compared articles removed" in (run.hold_reason or "")


# --------------------------------------------------------------------------- outages: nothing to report (pass today)


def test_an_outage_of_every_page_reports_nothing_and_mails_nothing(database, site, crawls):
    engine = night_with_subscriber(database)
    site.snapshot = V2  # the night has real changes: none of them can be seen
    site.faults = [answer(EN_ARTICLE, 503), answer(EN_LISTING, 503)]

    crawls.run(engine, *ENGLISH_FULL)

    assert observe.reported(engine) == {}
    assert observe.deliveries(engine) == []
    assert observe.runs(engine)[-1].status == "incomplete"


def test_a_site_that_does_not_answer_at_all_reports_nothing(database, site, crawls):
    engine = night_with_subscriber(database)
    crawls.site_url = "http://127.0.0.1:9"  # the discard port: nothing listens there

    crawls.run(engine, *ENGLISH_FULL)

    assert observe.reported(engine) == {}
    assert observe.deliveries(engine) == []
    assert observe.runs(engine)[-1].status in ("incomplete", "failed")


def test_maintenance_pages_are_no_change(database, site, crawls):
    engine = night_with_subscriber(database)
    site.snapshot = V2
    site.faults = [maintenance(EN_ARTICLE)]

    crawls.run(engine, *ENGLISH_FULL)

    assert {path for _, path in observe.reported(engine)} <= {path for _, path in observe.expected(V2)}
    assert not [path for _, path in observe.reported(engine) if path.startswith("/en/")]
    assert observe.deliveries(engine) == []
    assert observe.runs(engine)[-1].status == "incomplete"


def test_pages_that_time_out_are_no_change(database, site, crawls):
    engine = night_with_subscriber(database)
    site.snapshot = V2
    edited = [path for kind, path in observe.expected(V2) if kind == "edited" and path.startswith("/en/2023/03/06/")]
    site.faults = [slow(re.escape(edited[0]), 4.0)]

    # Extraction in worker processes: in the crawl's own, its first page holds the reactor
    # long enough (about a second, warming up) to time out every download in flight.
    crawls.run(engine, *ENGLISH_FULL, DOWNLOAD_TIMEOUT="2", NEWSWATCH_EXTRACT_WORKERS="2")

    reported = observe.reported(engine)
    assert not [path for _, path in reported if path == edited[0]]
    assert set(reported) <= set(observe.expected(V2))
    assert observe.runs(engine)[-1].status == "incomplete"
    assert len(site.hits(re.escape(edited[0]))) == 2  # retried once (RETRY_TIMES=1), then given up
