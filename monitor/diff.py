"""What changed between two versions of a release: the diff model (fields, paragraphs, word runs)
and its computation, paragraph-aligned word diffs.

Everything is compared on normalised text (storage.content), so whitespace, invisible
characters and paragraph boundaries alone are never changes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal, Protocol

from storage.content import normalize_paragraphs, normalize_text


class Version(Protocol):
    """One version of a release: a stored `ArticleVersion`, or a `storage.changes.VersionText`."""

    @property
    def title(self) -> str: ...

    @property
    def published(self) -> dt.date | None: ...

    @property
    def paragraphs(self) -> Sequence[str]: ...


Tag = Literal["equal", "insert", "delete", "replace"]
Kind = Literal["changed", "added", "removed"]

# Word-level similarity below which an edited paragraph is shown as removed + added.
PAIRING_CUTOFF = 0.5
# A neighbouring paragraph joins a pair (a split or a merge) only if the match improves this much.
_GROW_MARGIN = 0.05
# Replaced blocks larger than this (old × new paragraphs) are paired by position: the
# best-pair search is cubic, and such rewrites are not read word by word anyway.
_MAX_PAIRING_CELLS = 100 * 100

# Combining marks (Arabic harakat, decomposed accents) and joiners are not \w but belong to the word.
_MARKS = (
    "\u0300-\u036f"  # combining diacritics
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"  # Arabic
    "\u200c\u200d"  # zero-width (non-)joiner
)
# One token for 1,500 / 3.5 / 15% / ١٥٠ so that a changed figure is one replaced run.
NUMBER = r"\d+(?:[.,\u066b\u066c]\d+)*[%\u066a]?(?!\w)"
# A token is one word, number or punctuation mark with the space before it: diffing these
# keeps spacing in the text without making " " a token that matches everywhere.
_TOKEN = re.compile(rf"\s*(?:{NUMBER}|[\w{_MARKS}]+|[^\w\s])|\s+")


@dataclass(frozen=True)
class WordOp:
    """One run of a word diff; `old` and `new` are token runs (spaces kept)."""

    tag: Tag
    old: tuple[str, ...]
    new: tuple[str, ...]

    @property
    def old_text(self) -> str:
        return "".join(self.old)

    @property
    def new_text(self) -> str:
        return "".join(self.new)


@dataclass(frozen=True)
class TitleChange:
    old: str
    new: str
    ops: tuple[WordOp, ...]


@dataclass(frozen=True)
class DateChange:
    old: dt.date | None
    new: dt.date | None


@dataclass(frozen=True)
class ParagraphChange:
    """A changed, added or removed paragraph; 1-based positions in each version.

    A changed pair usually spans one paragraph on each side; it spans several when a
    paragraph was split or merged and also edited (the ops then run over the joined text).
    """

    kind: Kind
    old_positions: tuple[int, ...]
    new_positions: tuple[int, ...]
    ops: tuple[WordOp, ...]

    @property
    def position(self) -> int:
        """Position in the new version (changed, added) or in the old one (removed)."""
        return (self.new_positions or self.old_positions)[0]

    @property
    def old_text(self) -> str:
        return "".join(op.old_text for op in self.ops)

    @property
    def new_text(self) -> str:
        return "".join(op.new_text for op in self.ops)


@dataclass(frozen=True)
class ContentDiff:
    """The differences between two versions; `fields` is empty when their normalised content is equal."""

    fields: tuple[str, ...]  # changed among "title", "published", "text", in that order
    title: TitleChange | None
    published: DateChange | None
    paragraphs: tuple[ParagraphChange, ...]
    paragraph_count: int  # paragraphs in the new version
    unchanged: int  # paragraphs of the new version that no change touches

    @property
    def changed(self) -> bool:
        return bool(self.fields)


def compare(old: Version, new: Version) -> ContentDiff:
    """Diff two versions: which fields changed, and how, paragraph by paragraph and word by word."""
    a, b = _paragraphs(old.paragraphs), _paragraphs(new.paragraphs)
    body = () if " ".join(a) == " ".join(b) else tuple(_align(a, b))
    t_old, t_new = normalize_text(old.title), normalize_text(new.title)
    title = TitleChange(t_old, t_new, word_diff(t_old, t_new)) if t_old != t_new else None
    published = DateChange(old.published, new.published) if old.published != new.published else None
    changes = (("title", title), ("published", published), ("text", body))
    fields = tuple(name for name, change in changes if change)
    touched = sum(len(c.new_positions) for c in body)
    return ContentDiff(fields, title, published, body, len(b), len(b) - touched)


def tokenize(text: str) -> list[str]:
    """Words, numbers and single punctuation marks, each with its leading space; joined, `text`."""
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> tuple[WordOp, ...]:
    """Word-level opcodes from old to new text (difflib over tokens, spaces kept)."""
    a, b = tokenize(old), tokenize(new)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return tuple(
        WordOp(tag, tuple(a[i1:i2]), tuple(b[j1:j2])) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    )


def _paragraphs(paragraphs: Sequence[str]) -> tuple[str, ...]:
    if isinstance(paragraphs, str):
        raise TypeError("paragraphs must be a sequence of strings, not one string; wrap it in a list")
    return normalize_paragraphs(tuple(paragraphs))


def _align(a: tuple[str, ...], b: tuple[str, ...]) -> Iterator[ParagraphChange]:
    """Paragraph changes in document order: difflib on paragraphs, then pairing inside replaced blocks."""
    words_a = [[t.lstrip() for t in tokenize(p)] for p in a]
    words_b = [[t.lstrip() for t in tokenize(p)] for p in b]
    pairer = _Pairer(a, b, words_a, words_b)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            yield from pairer.block(i1, i2, j1, j2)


_Span = tuple[int, int, int, int]  # old[i1:i2] against new[j1:j2]


@dataclass(frozen=True)
class _Pairer:
    """Pairs each edited paragraph with its counterpart, like difflib.Differ's fancy replace."""

    a: tuple[str, ...]
    b: tuple[str, ...]
    words_a: list[list[str]]
    words_b: list[list[str]]

    def block(self, i1: int, i2: int, j1: int, j2: int) -> Iterator[ParagraphChange]:
        if " ".join(self.a[i1:i2]) == " ".join(self.b[j1:j2]):
            return  # the same words, only wrapped into paragraphs differently
        if (i2 - i1) * (j2 - j1) > _MAX_PAIRING_CELLS:
            yield from self._by_position(i1, i2, j1, j2)
            return
        pair = self._best_pair(i1, i2, j1, j2)
        if pair is None:
            yield from self._unpaired(i1, i2, j1, j2)
            return
        pi1, pi2, pj1, pj2 = self._grow(pair, (i1, i2, j1, j2))
        yield from self.block(i1, pi1, j1, pj1)
        yield from self._changed(pi1, pi2, pj1, pj2)
        yield from self.block(pi2, i2, pj2, j2)

    def _changed(self, i1: int, i2: int, j1: int, j2: int) -> Iterator[ParagraphChange]:
        old, new = " ".join(self.a[i1:i2]), " ".join(self.b[j1:j2])
        if old != new:
            positions = tuple(range(i1 + 1, i2 + 1)), tuple(range(j1 + 1, j2 + 1))
            yield ParagraphChange("changed", *positions, word_diff(old, new))

    def _unpaired(self, i1: int, i2: int, j1: int, j2: int) -> Iterator[ParagraphChange]:
        for i in range(i1, i2):
            ops = (WordOp("delete", tuple(tokenize(self.a[i])), ()),)
            yield ParagraphChange("removed", (i + 1,), (), ops)
        for j in range(j1, j2):
            ops = (WordOp("insert", (), tuple(tokenize(self.b[j]))),)
            yield ParagraphChange("added", (), (j + 1,), ops)

    def _by_position(self, i1: int, i2: int, j1: int, j2: int) -> Iterator[ParagraphChange]:
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = min(i1 + k, i2), min(j1 + k, j2)
            if i < i2 and j < j2 and self._ratio((i, i + 1, j, j + 1)) >= PAIRING_CUTOFF:
                yield from self._changed(i, i + 1, j, j + 1)
            else:
                yield from self._unpaired(i, min(i + 1, i2), j, min(j + 1, j2))

    def _best_pair(self, i1: int, i2: int, j1: int, j2: int) -> _Span | None:
        best_ratio, best = PAIRING_CUTOFF, None
        matcher = SequenceMatcher(None, autojunk=False)
        for j in range(j1, j2):
            matcher.set_seq2(self.words_b[j])
            for i in range(i1, i2):
                matcher.set_seq1(self.words_a[i])
                if (
                    matcher.real_quick_ratio() > best_ratio
                    and matcher.quick_ratio() > best_ratio
                    and matcher.ratio() > best_ratio
                ):
                    best_ratio, best = matcher.ratio(), (i, i + 1, j, j + 1)
        return best

    def _grow(self, span: _Span, bounds: _Span) -> _Span:
        """Extend a pair over neighbouring paragraphs while that clearly improves it (splits, merges)."""
        lo_a, hi_a, lo_b, hi_b = bounds
        ratio = self._ratio(span)
        while True:
            i1, i2, j1, j2 = span
            wider = ((i1 - 1, i2, j1, j2), (i1, i2 + 1, j1, j2), (i1, i2, j1 - 1, j2), (i1, i2, j1, j2 + 1))
            candidates = [s for s in wider if lo_a <= s[0] and s[1] <= hi_a and lo_b <= s[2] and s[3] <= hi_b]
            scored = max(((self._ratio(s), s) for s in candidates), default=(0.0, span))
            if scored[0] <= ratio + _GROW_MARGIN:
                return span
            ratio, span = scored

    def _ratio(self, span: _Span) -> float:
        i1, i2, j1, j2 = span
        old = [w for words in self.words_a[i1:i2] for w in words]
        new = [w for words in self.words_b[j1:j2] for w in words]
        return SequenceMatcher(None, old, new, autojunk=False).ratio()
