"""How a diff reads to people, in their language: a one-line summary of what changed, and text and
HTML renderings grouped by paragraph for alerts and the web view."""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup

from monitor.diff import NUMBER, ContentDiff, DateChange, ParagraphChange, TitleChange, WordOp
from monitor.i18n import DEFAULT_LOCALE, Translator, translator

SUMMARY_MAX = 120
_IS_NUMBER = re.compile(rf"[+-]?{NUMBER}")
_IS_WORD = re.compile(r"\w")
_NAME_JOINERS = {"-", "'", "\u2019", "."}
_SENTENCE_END = re.compile(r"[.!?\u061f\u2026]+(?:\s|$)")


# --- summary -----------------------------------------------------------------------------
# Every phrase goes through a Translator (monitor.i18n): English reads exactly as detection
# stores it in `changes.summary`; French and Arabic are rendered from the same diff.


def summary(diff: ContentDiff, tr: Translator | None = None) -> str:
    """One human line, most significant first, e.g. "title changed; paragraph 3: 150 → 200"."""
    tr = tr or translator(DEFAULT_LOCALE)
    if not diff.fields:
        return tr.gettext("no changes")
    date = [_date_summary(diff.published, tr)] if diff.published else []
    title_detailed = [_title_summary(diff.title, tr, detailed=True)] if diff.title else []
    title_plain = [tr.gettext("title changed")] if diff.title else []
    body_parts = _body_parts(diff, tr)
    candidates = [
        title_detailed + date + body_parts,
        title_detailed + date + _aggregate(diff, tr, callouts=True),
        title_plain + date + _aggregate(diff, tr, callouts=False),
    ]
    separator = tr.gettext("; ")
    for parts in candidates:
        line = separator.join(parts)
        if len(line) <= SUMMARY_MAX:
            return line
    return line[: SUMMARY_MAX - 1].rstrip() + "…"


def _date_summary(change: DateChange, tr: Translator) -> str:
    old = tr.isolate(change.old.isoformat()) if change.old else ""
    new = tr.isolate(change.new.isoformat()) if change.new else ""
    if change.old is None:
        return tr.gettext("date added: %(date)s", date=new)
    if change.new is None:
        return tr.gettext("date removed (was %(date)s)", date=old)
    return tr.gettext("date changed: %(old)s → %(new)s", old=old, new=new)


def _title_summary(change: TitleChange, tr: Translator, detailed: bool) -> str:
    detail = _detail(change.ops, tr) if detailed else ""
    return tr.gettext("title changed: %(detail)s", detail=detail) if detail else tr.gettext("title changed")


def _detail(ops: tuple[WordOp, ...], tr: Translator) -> str:
    """Changed numbers and names, or the single word that changed; "" when neither applies."""
    calls = _callouts(ops, tr)
    if calls:
        return tr.gettext(", ").join(calls)
    edits = [op for op in ops if op.tag != "equal"]
    if len(edits) == 1 and edits[0].tag == "replace":
        old, new = _words(edits[0].old), _words(edits[0].new)
        if len(old) == len(new) == 1 and len(old[0]) + len(new[0]) <= 40:
            return _quoted(old[0], new[0], tr)
    return ""


def _quoted(old: str, new: str, tr: Translator) -> str:
    return tr.gettext('"%(old)s" → "%(new)s"', old=old, new=new)


def _figures(old: str, new: str, tr: Translator) -> str:
    """"150 → 200", kept in that order inside right-to-left text."""
    return tr.isolate(f"{old} → {new}")


def _callouts(ops: tuple[WordOp, ...], tr: Translator) -> list[str]:
    """"old → new" for each replaced figure or name."""
    calls = []
    for op in ops:
        if op.tag != "replace":
            continue
        whole = _run_callout(op, tr)
        if whole:
            calls.append(whole)
            continue
        # "150 participants" → "200 experts": the figure is still worth calling out.
        old_numbers = [t for t in _cores(op.old) if _IS_NUMBER.fullmatch(t)]
        new_numbers = [t for t in _cores(op.new) if _IS_NUMBER.fullmatch(t)]
        if len(old_numbers) == len(new_numbers):
            calls += [_figures(o, n, tr) for o, n in zip(old_numbers, new_numbers, strict=False) if o != n]
    return calls


def _run_callout(op: WordOp, tr: Translator) -> str | None:
    """The callout when the whole replaced run is a figure or a name (then it says it all)."""
    old, new = op.old_text.strip(), op.new_text.strip()
    if (_IS_NUMBER.fullmatch(old) or _IS_NUMBER.fullmatch(new)) and len(old) + len(new) <= 40:
        return _figures(old, new, tr)
    if _is_name(op.old) and _is_name(op.new):
        return _quoted(old, new, tr)
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


def _span(positions: tuple[int, ...], tr: Translator) -> str:
    """"paragraph 3" or "paragraphs 3–5"."""
    if len(positions) == 1:
        return tr.gettext("paragraph %(n)s", n=positions[0])
    return tr.gettext("paragraphs %(first)s–%(last)s", first=positions[0], last=positions[-1])


def _body_parts(diff: ContentDiff, tr: Translator) -> list[str]:
    groups = _groups(diff.paragraphs)
    if len(groups) > 2:
        return _aggregate(diff, tr, callouts=True)
    return [_describe(group, diff.paragraph_count, tr) for group in groups]


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


def _describe(group: list[ParagraphChange], paragraph_count: int, tr: Translator) -> str:
    first, positions = group[0], tuple(c.position for c in group)
    where = _span(positions, tr)
    if first.kind == "removed":
        return tr.gettext("%(where)s removed", where=where)
    if first.kind == "added":
        many = len(group)
        if positions[-1] == paragraph_count and positions[0] > 1:
            return tr.ngettext("paragraph added at the end", "%(count)s paragraphs added at the end", many)
        if positions[0] == 1 and positions[-1] < paragraph_count:
            return tr.ngettext("paragraph added at the start", "%(count)s paragraphs added at the start", many)
        return tr.gettext("%(where)s added", where=where)
    return _describe_edit(first.ops, _span(first.new_positions, tr), tr)


def _describe_edit(ops: tuple[WordOp, ...], where: str, tr: Translator) -> str:
    edits = [(i, op) for i, op in enumerate(ops) if op.tag != "equal"]
    if all(op.tag == "replace" and _run_callout(op, tr) for _, op in edits):
        return tr.gettext("%(where)s: %(detail)s", where=where, detail=tr.gettext(", ").join(_callouts(ops, tr)))
    added = sum(len(_words(op.new)) for _, op in edits if op.tag == "insert")
    removed = sum(len(_words(op.old)) for _, op in edits if op.tag == "delete")
    changed = sum(max(len(_words(op.old)), len(_words(op.new))) for _, op in edits if op.tag == "replace")
    tags = {op.tag for _, op in edits}
    if tags in ({"delete"}, {"insert"}):
        sentences = _whole_sentences(ops, edits[0][0]) if len(edits) == 1 else 0
        if tags == {"delete"}:
            phrase = (tr.ngettext("sentence removed from %(where)s", "%(count)s sentences removed from %(where)s",
                                  sentences, where=where) if sentences else
                      tr.ngettext("%(count)s word removed from %(where)s", "%(count)s words removed from %(where)s",
                                  removed, where=where))
        else:
            phrase = (tr.ngettext("sentence added to %(where)s", "%(count)s sentences added to %(where)s",
                                  sentences, where=where) if sentences else
                      tr.ngettext("%(count)s word added to %(where)s", "%(count)s words added to %(where)s",
                                  added, where=where))
    elif added + removed + changed == 0:
        phrase = tr.gettext("punctuation changed in %(where)s", where=where)
    else:
        phrase = tr.ngettext("%(count)s word changed in %(where)s", "%(count)s words changed in %(where)s",
                             added + removed + changed, where=where)
    detail = _detail(ops, tr)
    return tr.gettext("%(where)s: %(detail)s", where=phrase, detail=detail) if detail else phrase


def _whole_sentences(ops: tuple[WordOp, ...], index: int) -> int:
    """How many whole sentences the inserted or deleted run at `index` is (0 if it is not)."""
    op = ops[index]
    run = (op.old_text or op.new_text).strip()
    before = "".join(o.old_text for o in ops[:index]).strip()
    if not run or not _SENTENCE_END.search(run[-1]) or (before and not _SENTENCE_END.search(before[-1])):
        return 0
    return len(_SENTENCE_END.findall(run))


def _aggregate(diff: ContentDiff, tr: Translator, callouts: bool) -> list[str]:
    if not diff.paragraphs:
        return []
    counts = {kind: sum(c.kind == kind for c in diff.paragraphs) for kind in ("changed", "added", "removed")}
    counts = {kind: n for kind, n in counts.items() if n}
    first = True
    phrases = []
    for kind, n in counts.items():  # "2 paragraphs changed, 1 added, 3 removed"
        phrases.append(_AGGREGATE_FIRST[kind](tr, n) if first else _AGGREGATE_NEXT[kind](tr, n))
        first = False
    line = tr.gettext(", ").join(phrases)
    calls = [call for c in diff.paragraphs if c.kind == "changed" for call in _callouts(c.ops, tr)]
    if not callouts:
        calls = []
    return [tr.gettext("%(where)s: %(detail)s", where=line, detail=tr.gettext(", ").join(calls[:3])) if calls else line]


_AGGREGATE_FIRST: dict[str, Callable[[Translator, int], str]] = {
    "changed": lambda tr, n: tr.ngettext("%(count)s paragraph changed", "%(count)s paragraphs changed", n),
    "added": lambda tr, n: tr.ngettext("%(count)s paragraph added", "%(count)s paragraphs added", n),
    "removed": lambda tr, n: tr.ngettext("%(count)s paragraph removed", "%(count)s paragraphs removed", n),
}
# After the first phrase, the noun is understood: "…, 1 added, 3 removed".
_AGGREGATE_NEXT: dict[str, Callable[[Translator, int], str]] = {
    "changed": lambda tr, n: tr.ngettext("%(count)s changed", "%(count)s changed", n),
    "added": lambda tr, n: tr.ngettext("%(count)s added", "%(count)s added", n),
    "removed": lambda tr, n: tr.ngettext("%(count)s removed", "%(count)s removed", n),
}


# --- rendering ---------------------------------------------------------------------------

_MARKERS = {"delete": ("[-", "-]"), "insert": ("{+", "+}")}
_COLORS = {"delete": ("\x1b[31m", "\x1b[0m"), "insert": ("\x1b[32m", "\x1b[0m")}
# E-mail clients keep inline styles only; the web view's Content-Security-Policy allows none,
# so it gets classes and a style sheet instead.
_STYLED = {
    "del": Markup('<del style="background:#fdd;color:#900;text-decoration:line-through">{}</del>'),
    "ins": Markup('<ins style="background:#dfd;color:#060;text-decoration:none">{}</ins>'),
    "label": Markup('<span dir="{}" style="color:#666">{}</span> '),  # the reader's language, in its direction
    "context": Markup('<span dir="{}" style="color:#666">{}</span>'),
}
_CLASSED = {
    "del": Markup("<del>{}</del>"),
    "ins": Markup("<ins>{}</ins>"),
    "label": Markup('<span class="label" dir="{}">{}</span> '),
    "context": Markup('<span class="label" dir="{}">{}</span>'),
}


def render_text(diff: ContentDiff, color: bool = False, tr: Translator | None = None) -> str:
    """Plain-text rendering grouped by paragraph: [-deleted-]{+inserted+}, or red/green with color=True."""
    tr = tr or translator(DEFAULT_LOCALE)
    styles = _COLORS if color else _MARKERS

    def wrap(kind: str, text: str) -> str:
        start, end = styles[kind]
        return f"{start}{text}{end}"

    blocks = []
    if diff.title:
        blocks.append(tr.gettext("Title:") + " " + "".join(render_ops(diff.title.ops, wrap)))
    if diff.published:
        blocks.append(tr.gettext("Date:") + " " + "".join(render_ops(_date_ops(diff.published), wrap)))
    for change in diff.paragraphs:
        blocks.append(f"{paragraph_label(change, tr)}\n" + "".join(render_ops(change.ops, wrap)))
    if diff.paragraphs and diff.unchanged:
        blocks.append(unchanged_label(diff.unchanged, tr))
    return "\n\n".join(blocks)


def render_html(diff: ContentDiff, *, rtl: bool = False, lang: str | None = None, tr: Translator | None = None,
                inline_styles: bool = True) -> Markup:
    """An HTML fragment (all page text escaped), right to left if `rtl`; labels in `tr`'s language.

    Inline styles for e-mail; `inline_styles=False` gives classes for a style sheet (the web view).
    Which languages are written right to left is the site profile's to say (`rtl_languages`).
    """
    if not diff.fields:
        return Markup("")
    tr = tr or translator(DEFAULT_LOCALE)
    markup = _STYLED if inline_styles else _CLASSED
    wrap = html_wrapper(markup)
    # Markup.join and Markup.format escape every plain str they are given.
    join = Markup("").join
    paragraphs = []
    if diff.title:
        paragraphs.append(Markup("<strong>{}</strong> ").format(tr.gettext("Title:")) + join(render_ops(diff.title.ops, wrap)))
    if diff.published:
        date_ops = _date_ops(diff.published)
        paragraphs.append(Markup("<strong>{}</strong> ").format(tr.gettext("Date:")) + join(render_ops(date_ops, wrap)))
    for change in diff.paragraphs:
        paragraphs.append(markup["label"].format(tr.dir, paragraph_label(change, tr)) + join(render_ops(change.ops, wrap)))
    if diff.paragraphs and diff.unchanged:
        paragraphs.append(markup["context"].format(tr.dir, unchanged_label(diff.unchanged, tr)))
    attributes = (("dir", "rtl" if rtl else ""), ("lang", lang))
    attributes_html = join(Markup(' {}="{}"').format(name, value) for name, value in attributes if value)
    body = Markup("\n").join(Markup("<p>{}</p>").format(p) for p in paragraphs)
    return Markup('<div class="newswatch-diff"{}>\n{}\n</div>').format(attributes_html, body)


def html_wrapper(markup: dict[str, Markup] = _CLASSED) -> Callable[[str, str], Markup]:
    """The `wrap` of `render_ops` for HTML: deleted runs in <del>, inserted ones in <ins>, text escaped."""

    def wrap(kind: str, text: str) -> Markup:
        return (markup["del"] if kind == "delete" else markup["ins"]).format(text)

    return wrap


def paragraph_label(change: ParagraphChange, tr: Translator | None = None) -> str:
    """"¶3", "¶3–4", "¶5 (added)", "¶2 (removed)"."""
    tr = tr or translator(DEFAULT_LOCALE)
    positions = change.old_positions if change.kind == "removed" else change.new_positions
    label = tr.isolate(f"¶{positions[0]}" + (f"–{positions[-1]}" if len(positions) > 1 else ""))
    if change.kind == "added":
        return tr.gettext("%(label)s (added)", label=label)
    if change.kind == "removed":
        return tr.gettext("%(label)s (removed)", label=label)
    return label


def unchanged_label(n: int, tr: Translator | None = None) -> str:
    tr = tr or translator(DEFAULT_LOCALE)
    return tr.ngettext("… %(count)s unchanged paragraph", "… %(count)s unchanged paragraphs", n)


def _date_ops(change: DateChange) -> tuple[WordOp, ...]:
    old = (change.old.isoformat(),) if change.old else ()
    new = (change.new.isoformat(),) if change.new else ()
    return (WordOp("replace" if old and new else "delete" if old else "insert", old, new),)


def render_ops(ops: tuple[WordOp, ...], wrap: Callable[[str, str], str]) -> list[str]:
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
