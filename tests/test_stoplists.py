"""jusText's stopwords held once per extraction process: the same words, the same test, the same
articles as with trafilatura's and jusText's own two copies."""

from __future__ import annotations

import justext.core
import pytest
from trafilatura import external

from crawler.extraction import NotAnArticle, extract, stoplists
from tests.test_extraction import CASES


def test_the_held_set_is_the_set_jusText_would_build_from_trafilaturas_list():
    trafilaturas = stoplists._jt_stoplist_init()  # trafilatura's own: a tuple of every language's words
    try:
        assert stoplists.all_stopwords() == stoplists._define_stoplist(trafilaturas)
        assert len(stoplists.all_stopwords()) > 100_000
    finally:
        external.JT_STOPLIST = stoplists.all_stopwords()  # as extraction left it


def test_jusText_uses_the_held_set_itself_and_copies_any_other_list():
    held = stoplists.all_stopwords()
    assert external.JT_STOPLIST is held
    assert justext.core.define_stoplist(held) is held
    other = ("The", "and")
    assert justext.core.define_stoplist(other) == frozenset({"the", "and"})


def _read_all() -> list[object]:
    out: list[object] = []
    for case in CASES:
        try:
            out.append(extract(case.html.read_bytes(), case.url))
        except NotAnArticle as error:
            out.append(str(error))
    return out


def test_every_golden_page_reads_the_same_as_with_trafilaturas_own_stoplists(monkeypatch: pytest.MonkeyPatch):
    calls = []
    classify = external.classify_paragraphs

    def counted(*args, **kwargs):
        calls.append(args[1])
        return classify(*args, **kwargs)

    monkeypatch.setattr(external, "classify_paragraphs", counted)
    held = _read_all()
    assert calls and all(stoplist is stoplists.all_stopwords() for stoplist in calls)  # jusText read some pages
    # Trafilatura's and jusText's own: a tuple built on first use, lower-cased again into a cached set.
    monkeypatch.setattr(external, "JT_STOPLIST", None)
    monkeypatch.setattr(external, "jt_stoplist_init", stoplists._jt_stoplist_init)
    monkeypatch.setattr(justext.core, "define_stoplist", stoplists._define_stoplist)
    calls.clear()
    assert _read_all() == held
    assert calls and all(isinstance(stoplist, tuple) for stoplist in calls)
