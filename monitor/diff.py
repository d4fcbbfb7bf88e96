"""What changed between two versions of a release: paragraph-aligned word diffs, a one-line
summary, and text and HTML renderings for alerts.

Everything is compared on normalised text (storage.content), so whitespace, invisible
characters and paragraph boundaries alone are never changes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from markupsafe import Markup

from storage.content import normalize_paragraphs, normalize_text

Version = tuple[str, dt.date | None, Sequence[str]]
"""(title, published, paragraphs) of one version of a release."""

Tag = Literal["equal", "insert", "delete", "replace"]
Kind = Literal["changed", "added", "removed"]

# Word-level similarity below which an edited paragraph is shown as removed + added.
PAIRING_CUTOFF = 0.5
# A neighbouring paragraph joins a pair (a split or a merge) only if the match improves this much.
_GROW_MARGIN = 0.05
# Replaced blocks larger than this (old × new paragraphs) are paired by position: the
# best-pair search is cubic, and such rewrites are not read word by word anyway.
_MAX_PAIRING_CELLS = 100 * 100
SUMMARY_MAX = 120

# Combining marks (Arabic harakat, decomposed accents) and joiners are not \w but belong to the word.
_MARKS = (
    "\u0300-\u036f"  # combining diacritics
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"  # Arabic
    "\u200c\u200d"  # zero-width (non-)joiner
)
# One token for 1,500 / 3.5 / 15% / ١٥٠ so that a changed figure is one replaced run.
_NUMBER = r"\d+(?:[.,\u066b\u066c]\d+)*[%\u066a]?(?!\w)"
# A token is one word, number or punctuation mark with the space before it: diffing these
# keeps spacing in the text without making " " a token that matches everywhere.
_TOKEN = re.compile(rf"\s*(?:{_NUMBER}|[\w{_MARKS}]+|[^\w\s])|\s+")
_IS_NUMBER = re.compile(rf"[+-]?{_NUMBER}")
_IS_WORD = re.compile(r"\w")
_NAME_JOINERS = {"-", "'", "\u2019", "."}
_SENTENCE_END = re.compile(r"[.!?\u061f\u2026]+(?:\s|$)")


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
    (old_title, old_date, old_paras), (new_title, new_date, new_paras) = old, new
    a, b = _paragraphs(old_paras), _paragraphs(new_paras)
    body = () if " ".join(a) == " ".join(b) else tuple(_align(a, b))
    t_old, t_new = normalize_text(old_title), normalize_text(new_title)
    title = TitleChange(t_old, t_new, word_diff(t_old, t_new)) if t_old != t_new else None
    published = DateChange(old_date, new_date) if old_date != new_date else None
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


# --- summary -----------------------------------------------------------------------------


def summary(diff: ContentDiff) -> str:
    """One human line, most significant first, e.g. "title changed; paragraph 3: 150 → 200"."""
    if not diff.fields:
        return "no changes"
    date = [_date_summary(diff.published)] if diff.published else []
    title_detailed = [_title_summary(diff.title, detailed=True)] if diff.title else []
    title_plain = ["title changed"] if diff.title else []
    body_parts = _body_parts(diff)
    candidates = [
        title_detailed + date + body_parts,
        title_detailed + date + _aggregate(diff, callouts=True),
        title_plain + date + _aggregate(diff, callouts=False),
    ]
    for parts in candidates:
        line = "; ".join(parts)
        if len(line) <= SUMMARY_MAX:
            return line
    return line[: SUMMARY_MAX - 1].rstrip() + "…"


def _date_summary(change: DateChange) -> str:
    if change.old is None:
        return f"date added: {change.new.isoformat()}"
    if change.new is None:
        return f"date removed (was {change.old.isoformat()})"
    return f"date changed: {change.old.isoformat()} → {change.new.isoformat()}"


def _title_summary(change: TitleChange, detailed: bool) -> str:
    detail = _detail(change.ops) if detailed else ""
    return f"title changed: {detail}" if detail else "title changed"


def _detail(ops: tuple[WordOp, ...]) -> str:
    """Changed numbers and names, or the single word that changed; "" when neither applies."""
    calls = _callouts(ops)
    if calls:
        return ", ".join(calls)
    edits = [op for op in ops if op.tag != "equal"]
    if len(edits) == 1 and edits[0].tag == "replace":
        old, new = _words(edits[0].old), _words(edits[0].new)
        if len(old) == len(new) == 1 and len(old[0]) + len(new[0]) <= 40:
            return f'"{old[0]}" → "{new[0]}"'
    return ""


def _callouts(ops: tuple[WordOp, ...]) -> list[str]:
    """"old → new" for each replaced figure or name."""
    calls = []
    for op in ops:
        if op.tag != "replace":
            continue
        whole = _run_callout(op)
        if whole:
            calls.append(whole)
            continue
        # "150 participants" → "200 experts": the figure is still worth calling out.
        old_numbers = [t for t in _cores(op.old) if _IS_NUMBER.fullmatch(t)]
        new_numbers = [t for t in _cores(op.new) if _IS_NUMBER.fullmatch(t)]
        if len(old_numbers) == len(new_numbers):
            calls += [f"{o} → {n}" for o, n in zip(old_numbers, new_numbers) if o != n]
    return calls


def _run_callout(op: WordOp) -> str | None:
    """The callout when the whole replaced run is a figure or a name (then it says it all)."""
    old, new = op.old_text.strip(), op.new_text.strip()
    if (_IS_NUMBER.fullmatch(old) or _IS_NUMBER.fullmatch(new)) and len(old) + len(new) <= 40:
        return f"{old} → {new}"
    if _is_name(op.old) and _is_name(op.new):
        return f'"{old}" → "{new}"'
    return None


def _is_name(tokens: tuple[str, ...]) -> bool:
    """A short run of capitalised words ("Nurbek", "Dr. Salim Al-Malik")."""
    words = _words(tokens)
    return (
        0 < len(words) <= 4
        and all(w[0].isupper() for w in words)
        and all(t in _NAME_JOINERS for t in _cores(tokens) if not _IS_WORD.search(t))
    )


def _cores(tokens: tuple[str, ...]) -> list[str]:
    return [t.lstrip() for t in tokens if not t.isspace()]


def _words(tokens: tuple[str, ...]) -> list[str]:
    return [t for t in _cores(tokens) if _IS_WORD.search(t)]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _span(noun: str, positions: tuple[int, ...]) -> str:
    if len(positions) == 1:
        return f"{noun} {positions[0]}"
    return f"{noun}s {positions[0]}–{positions[-1]}"


def _body_parts(diff: ContentDiff) -> list[str]:
    groups = _groups(diff.paragraphs)
    if len(groups) > 2:
        return _aggregate(diff, callouts=True)
    return [_describe(group, diff.paragraph_count) for group in groups]


def _groups(changes: tuple[ParagraphChange, ...]) -> list[list[ParagraphChange]]:
    """Runs of consecutive added (or removed) paragraphs are described together."""
    groups: list[list[ParagraphChange]] = []
    for change in changes:
        last = groups[-1][-1] if groups else None
        if last and change.kind == last.kind != "changed" and change.position == last.position + 1:
            groups[-1].append(change)
        else:
            groups.append([change])
    return groups


def _describe(group: list[ParagraphChange], paragraph_count: int) -> str:
    first, positions = group[0], tuple(c.position for c in group)
    if first.kind == "removed":
        return f"{_span('paragraph', positions)} removed"
    if first.kind == "added":
        many = f"{len(group)} paragraphs" if len(group) > 1 else "paragraph"
        if positions[-1] == paragraph_count and positions[0] > 1:
            return f"{many} added at the end"
        if positions[0] == 1 and positions[-1] < paragraph_count:
            return f"{many} added at the start"
        return f"{_span('paragraph', positions)} added"
    return _describe_edit(first.ops, _span("paragraph", first.new_positions))


def _describe_edit(ops: tuple[WordOp, ...], where: str) -> str:
    edits = [(i, op) for i, op in enumerate(ops) if op.tag != "equal"]
    if all(op.tag == "replace" and _run_callout(op) for _, op in edits):
        return f"{where}: {', '.join(_callouts(ops))}"
    added = sum(len(_words(op.new)) for _, op in edits if op.tag == "insert")
    removed = sum(len(_words(op.old)) for _, op in edits if op.tag == "delete")
    changed = sum(max(len(_words(op.old)), len(_words(op.new))) for _, op in edits if op.tag == "replace")
    tags = {op.tag for _, op in edits}
    if tags == {"delete"} or tags == {"insert"}:
        verb, prep = ("removed", "from") if tags == {"delete"} else ("added", "to")
        sentences = _whole_sentences(ops, edits[0][0]) if len(edits) == 1 else 0
        if sentences:
            what = "sentence" if sentences == 1 else f"{sentences} sentences"
        else:
            what = _plural(removed or added, "word")
        phrase = f"{what} {verb} {prep} {where}"
    elif added + removed + changed == 0:
        phrase = f"punctuation changed in {where}"
    else:
        phrase = f"{_plural(added + removed + changed, 'word')} changed in {where}"
    detail = _detail(ops)
    return f"{phrase}: {detail}" if detail else phrase


def _whole_sentences(ops: tuple[WordOp, ...], index: int) -> int:
    """How many whole sentences the inserted or deleted run at `index` is (0 if it is not)."""
    op = ops[index]
    run = (op.old_text or op.new_text).strip()
    before = "".join(o.old_text for o in ops[:index]).strip()
    if not run or not _SENTENCE_END.search(run[-1]) or (before and not _SENTENCE_END.search(before[-1])):
        return 0
    return len(_SENTENCE_END.findall(run))


def _aggregate(diff: ContentDiff, callouts: bool) -> list[str]:
    if not diff.paragraphs:
        return []
    counts = {kind: sum(c.kind == kind for c in diff.paragraphs) for kind in ("changed", "added", "removed")}
    counts = {kind: n for kind, n in counts.items() if n}
    phrases = [f"{n} {kind}" for kind, n in counts.items()]
    first_kind, first_n = next(iter(counts.items()))
    phrases[0] = f"{_plural(first_n, 'paragraph')} {first_kind}"
    line = ", ".join(phrases)
    calls = [call for c in diff.paragraphs if c.kind == "changed" for call in _callouts(c.ops)]
    if not callouts:
        calls = []
    return [f"{line}: {', '.join(calls[:3])}" if calls else line]


# --- rendering ---------------------------------------------------------------------------

_MARKERS = {"delete": ("[-", "-]"), "insert": ("{+", "+}")}
_COLORS = {"delete": ("\x1b[31m", "\x1b[0m"), "insert": ("\x1b[32m", "\x1b[0m")}
_DEL = Markup('<del style="background:#fdd;color:#900;text-decoration:line-through">{}</del>')
_INS = Markup('<ins style="background:#dfd;color:#060;text-decoration:none">{}</ins>')
_LABEL = Markup('<span dir="ltr" style="color:#666">{}</span> ')  # English labels stay LTR in Arabic
_CONTEXT = Markup('<span dir="ltr" style="color:#666">{}</span>')
_RTL_LANGUAGES = {"ar", "fa", "he", "ur"}


def render_text(diff: ContentDiff, color: bool = False) -> str:
    """Plain-text rendering grouped by paragraph: [-deleted-]{+inserted+}, or red/green with color=True."""
    styles = _COLORS if color else _MARKERS

    def wrap(kind: str, text: str) -> str:
        start, end = styles[kind]
        return f"{start}{text}{end}"

    blocks = []
    if diff.title:
        blocks.append("Title: " + "".join(_render_ops(diff.title.ops, wrap)))
    if diff.published:
        blocks.append("Date: " + "".join(_render_ops(_date_ops(diff.published), wrap)))
    for change in diff.paragraphs:
        blocks.append(f"{_header(change)}\n" + "".join(_render_ops(change.ops, wrap)))
    if diff.paragraphs and diff.unchanged:
        blocks.append(f"… {_plural(diff.unchanged, 'unchanged paragraph')}")
    return "\n\n".join(blocks)


def render_html(diff: ContentDiff, rtl: bool | None = None, lang: str | None = None) -> Markup:
    """An e-mail-safe HTML fragment (inline styles, all page text escaped); rtl defaults from lang."""
    if not diff.fields:
        return Markup("")
    if rtl is None:
        rtl = bool(lang) and lang.split("-")[0].lower() in _RTL_LANGUAGES

    def wrap(kind: str, text: str) -> Markup:
        return (_DEL if kind == "delete" else _INS).format(text)

    # Markup.join and Markup.format escape every plain str they are given.
    join = Markup("").join
    paragraphs = []
    if diff.title:
        paragraphs.append(Markup("<strong>Title:</strong> ") + join(_render_ops(diff.title.ops, wrap)))
    if diff.published:
        date_ops = _date_ops(diff.published)
        paragraphs.append(Markup("<strong>Date:</strong> ") + join(_render_ops(date_ops, wrap)))
    for change in diff.paragraphs:
        paragraphs.append(_LABEL.format(_header(change)) + join(_render_ops(change.ops, wrap)))
    if diff.paragraphs and diff.unchanged:
        paragraphs.append(_CONTEXT.format(f"… {_plural(diff.unchanged, 'unchanged paragraph')}"))
    attributes = (("dir", "rtl" if rtl else ""), ("lang", lang))
    attributes_html = join(Markup(' {}="{}"').format(name, value) for name, value in attributes if value)
    body = Markup("\n").join(Markup("<p>{}</p>").format(p) for p in paragraphs)
    return Markup('<div class="newswatch-diff"{}>\n{}\n</div>').format(attributes_html, body)


def _header(change: ParagraphChange) -> str:
    positions = change.old_positions if change.kind == "removed" else change.new_positions
    label = f"¶{positions[0]}" + (f"–{positions[-1]}" if len(positions) > 1 else "")
    return label if change.kind == "changed" else f"{label} ({change.kind})"


def _date_ops(change: DateChange) -> tuple[WordOp, ...]:
    old = (change.old.isoformat(),) if change.old else ()
    new = (change.new.isoformat(),) if change.new else ()
    return (WordOp("replace" if old and new else "delete" if old else "insert", old, new),)


def _render_ops(ops: tuple[WordOp, ...], wrap: Callable[[str, str], str]) -> list[str]:
    """Page text as plain str, changes through `wrap`; spaces at a change's edges stay outside it."""
    out = []
    for op in ops:
        old, new = op.old_text, op.new_text
        if op.tag == "equal":
            out.append(new)
            continue
        if old.strip() == new.strip() or (old and old.isspace()) or (new and new.isspace()):
            lead = trail = ""  # the change is a space itself: show it inside the markers
        else:
            lead = " " if old[:1].isspace() or new[:1].isspace() else ""
            trail = " " if old[-1:].isspace() or new[-1:].isspace() else ""
            old, new = old.strip(), new.strip()
        out.append(lead)
        if old:
            out.append(wrap("delete", old))
        if new:
            out.append(wrap("insert", new))
        out.append(trail)
    return out
