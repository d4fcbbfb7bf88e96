"""A page cut short is never an edit (issue 13 item 4): its tail lacks the closing tags of every
page of the site (crawler.wholeness), or its text stops mid-sentence where the stored one goes on
(storage.content.stops_short)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crawler.sites import ICESCO
from crawler.wholeness import cut_short
from storage.content import stops_short
from storage.models import ArticleVersion
from tests.test_storage import new_run, record

STORED = (
    "ICESCO and the OSCE discussed prospects for cooperation in education and culture.",
    "The meeting took place in Rabat on 15 September 2022, with both delegations.",
    "They agreed to prepare a memorandum of understanding.",
)


@pytest.mark.parametrize(("paragraphs", "cut"), [
    pytest.param(STORED[:1] + ("The meeting took place in Rab",), True, id="mid-word"),
    pytest.param(STORED[:1] + ("The meeting took place in Rabat on 15 September",), True, id="mid-sentence"),
    pytest.param(("ICESCO and the OSCE discussed",), True, id="in the first paragraph"),
    pytest.param(STORED[:2], False, id="whole paragraphs: an editor's cut"),
    pytest.param(STORED[:1] + ("The meeting took place in Rabat.",), False, id="a sentence ends: an editor's cut"),
    pytest.param(("ICESCO and UNESCO discussed", *STORED[1:]), False, id="another text"),
    pytest.param(STORED[:1] + ("The meeting took place in Tunis on",), False, id="not the stored text"),
    pytest.param(STORED, False, id="the same text"),
    pytest.param((), False, id="nothing"),
])
def test_a_text_stops_short_only_mid_sentence_where_the_stored_one_goes_on(paragraphs, cut):
    assert stops_short(tuple(paragraphs), STORED) is cut


def versions(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(ArticleVersion))


def test_a_text_cut_mid_sentence_is_suspect_and_writes_no_version(engine: Engine) -> None:
    record(engine, new_run(engine), paragraphs=list(STORED))

    # 70% of the stored text: past the length rule, yet cut in the middle of a sentence.
    recorded = record(engine, new_run(engine), paragraphs=[*STORED[:2], "They agreed to prepare"])

    assert recorded.suspect and recorded.cut_short and not recorded.is_new_version
    assert versions(engine) == 1
    edited = record(engine, new_run(engine), paragraphs=list(STORED[:2]))  # an editor's cut is an edit
    assert edited.is_new_version and not edited.suspect and versions(engine) == 2


@pytest.mark.parametrize(("tail", "cut"), [
    (b"<p>The end.</p></div></body></html>\n", False),
    (b"<p>The end.</p></div></BODY >\n<!-- cached 02:00 -->", False),
    (b"<p>The end.</p></div></body>\n<script>track()</script>", False),
    (b"<p>The meeting took place in Rab", True),
    (b"<p>The end.</p></div><footer>&copy; ICESCO</footer>", True),
])
def test_a_page_without_the_closing_tags_of_every_page_was_cut_short(tail, cut):
    assert cut_short(b"<html><body><div>" + b"x" * 100_000 + tail, ICESCO) is cut
