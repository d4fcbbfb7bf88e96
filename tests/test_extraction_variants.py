"""Extraction on site themes that are not the mirror generator's (`fixtures/variants.py`): a
sample of the releases in several lengths and forms, dressed by other themes with their chrome
in several places. `fixtures/score.py` scores them all; this runs a share of them."""

from __future__ import annotations

import functools

import pytest

from fixtures.heldout import EXTRA, EXTRA2, EXTRA3, EXTRA4, HELDOUT, HELDOUT2, HELDOUT3, HELDOUT4
from fixtures.score import f1, score, summary
from fixtures.variants import sample, variants

# every theme, shape and placement, of the sixteen and of the 21 held-out themes; a few seconds
SAMPLE = (sample(every=41) + variants(every=41, themes=HELDOUT, extra_chrome=EXTRA)
          + variants(every=41, themes=HELDOUT2, extra_chrome={k: EXTRA2[k] + EXTRA[k] for k in EXTRA})
          + variants(every=41, themes=HELDOUT3, extra_chrome={k: EXTRA3[k] + EXTRA[k] for k in EXTRA})
          + variants(every=41, themes=HELDOUT4, extra_chrome={k: EXTRA4[k] + EXTRA[k] for k in EXTRA}))
scored = functools.cache(score)  # each page extracted once for both tests


@pytest.mark.parametrize("variant", SAMPLE, ids=lambda variant: variant.name)
def test_a_release_comes_out_whole_and_alone_whatever_the_theme(variant):
    result = scored(variant)
    assert result.leaks == ()
    assert result.title_ok, result.error
    assert result.f1 >= 0.99, result.error


def test_the_sample_scores_as_the_hidden_mirrors_are_scored():
    figures = summary([scored(variant) for variant in SAMPLE])
    assert figures["mean_f1"] >= 0.99, figures
    assert figures["min_f1"] >= 0.95 and figures["pages_with_leaks"] == 0, figures


def test_f1_counts_tokens_both_ways():
    assert f1("a b c", "a b c") == 1.0
    assert f1("", "") == 1.0
    assert f1("a b", "a b c d") == pytest.approx(2 / 3)
    assert f1("x", "a") == 0.0
