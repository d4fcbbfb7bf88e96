"""jusText's stopwords of every language, held once instead of twice (about 15 MB a process).

trafilatura's jusText fallback reads a page of unknown language (ours: `Extractor.lang` is unset)
with the stopwords of all of jusText's languages: `trafilatura.external.JT_STOPLIST`, a tuple of
about 150,000 words built on first use. jusText's `classify_paragraphs` then lower-cases the list
it is given into a frozenset, cached (`justext.core.define_stoplist`, keyed by that tuple, hashed
again on every call): the same words a second time, each a new string. Every extraction worker
held both.

`hold_once()` gives trafilatura, on first use, the words as one frozenset already lower-cased, and
has jusText use that very set as it is. The words and their test (`word in stoplist`) are the same,
so every page reads the same (checked on the fixtures by tests/test_stoplists.py); a stoplist other
than this one still goes through jusText's own function.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

import justext.core  # type: ignore[import-untyped]
from justext.utils import get_stoplist, get_stoplists  # type: ignore[import-untyped]
from trafilatura import external

_define_stoplist = justext.core.define_stoplist  # jusText's and trafilatura's own, for what is not ours
_jt_stoplist_init = external.jt_stoplist_init


@functools.cache
def all_stopwords() -> frozenset[str]:
    """Every language's stopwords, lower-cased, as one set (built once per process, on first use),
    which trafilatura's jusText fallback then uses (`JT_STOPLIST`)."""
    # get_stoplist lower-cases; lower-casing is idempotent on these words, so jusText's own
    # `define_stoplist` would build an equal set (asserted in tests/test_stoplists.py).
    words = frozenset(word for language in get_stoplists() for word in get_stoplist(language))
    external.JT_STOPLIST = words  # type: ignore[assignment]
    return words


def _define_stoplist_once(stoplist: Collection[str]) -> Any:
    held = external.JT_STOPLIST
    return stoplist if isinstance(held, frozenset) and stoplist is held else _define_stoplist(stoplist)


def hold_once() -> None:
    """Have trafilatura and jusText share one set of all stopwords (idempotent, lazy)."""
    external.jt_stoplist_init = all_stopwords  # type: ignore[assignment]
    justext.core.define_stoplist = _define_stoplist_once
