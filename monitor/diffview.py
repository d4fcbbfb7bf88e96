"""How a diff reads to people: a one-line summary of what changed, and text and HTML
renderings grouped by paragraph for alerts."""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup

from monitor.diff import NUMBER, ContentDiff, DateChange, ParagraphChange, TitleChange, WordOp

SUMMARY_MAX = 120
_IS_NUMBER = re.compile(rf"[+-]?{NUMBER}")
_IS_WORD = re.compile(r"\w")
_NAME_JOINERS = {"-", "'", "\u2019", "."}
_SENTENCE_END = re.compile(r"[.!?\u061f\u2026]+(?:\s|$)")


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
            calls += [f"{o} → {n}" for o, n in zip(old_numbers, new_numbers, strict=False) if o != n]
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
    if tags in ({"delete"}, {"insert"}):
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


def render_html(diff: ContentDiff, *, rtl: bool = False, lang: str | None = None) -> Markup:
    """An e-mail-safe HTML fragment (inline styles, all page text escaped), right to left if `rtl`.

    Which languages are written right to left is the site profile's to say (`rtl_languages`).
    """
    if not diff.fields:
        return Markup("")

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
