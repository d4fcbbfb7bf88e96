"""A diff laid out side by side: rows of (old paragraph, new paragraph), changed words marked.

Built from the paragraph alignment monitor.diff already made: unchanged paragraphs pair up
between the changes, a changed pair shares a row, an added or removed paragraph has an empty
cell opposite. Page text is escaped; only <del>/<ins> are ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from monitor.diff import ContentDiff, Version, WordOp
from monitor.diffview import html_wrapper, render_ops
from storage.content import normalize_paragraphs


@dataclass(frozen=True)
class Row:
    """One row: the old side and the new side (None: nothing there), and whether it changed."""

    old: Markup | None
    new: Markup | None
    changed: bool
    old_number: int | None
    new_number: int | None


def side_by_side(old: Version, new: Version, diff: ContentDiff) -> list[Row]:
    """Every paragraph of both versions, aligned; the title first when it changed."""
    a, b = normalize_paragraphs(tuple(old.paragraphs)), normalize_paragraphs(tuple(new.paragraphs))
    rows = [Row(_side(diff.title.ops, "old"), _side(diff.title.ops, "new"), True, None, None)] if diff.title else []
    i = j = 0  # next unpaired paragraph of each side (0-based)
    for change in diff.paragraphs:
        next_i = change.old_positions[0] - 1 if change.old_positions else i
        next_j = change.new_positions[0] - 1 if change.new_positions else j
        if change.kind == "added":
            next_i = i + max(next_j - j, 0)  # the old side has reached the same point
        elif change.kind == "removed":
            next_j = j + max(next_i - i, 0)
        rows += _equal(a, b, i, next_i, j, next_j)
        i, j = next_i, next_j
        old_side = _side(change.ops, "old") if change.old_positions else None
        new_side = _side(change.ops, "new") if change.new_positions else None
        rows.append(Row(old_side, new_side, True, change.old_positions[0] if change.old_positions else None,
                        change.new_positions[0] if change.new_positions else None))
        i += len(change.old_positions)
        j += len(change.new_positions)
    rows += _equal(a, b, i, len(a), j, len(b))
    return rows


def _equal(a: tuple[str, ...], b: tuple[str, ...], i1: int, i2: int, j1: int, j2: int) -> list[Row]:
    """Unchanged stretches pair up one to one; a stretch that was only re-wrapped may leave one side longer."""
    rows = []
    for k in range(max(i2 - i1, j2 - j1)):
        i, j = i1 + k, j1 + k
        rows.append(Row(Markup.escape(a[i]) if i < i2 else None, Markup.escape(b[j]) if j < j2 else None, False,
                        i + 1 if i < i2 else None, j + 1 if j < j2 else None))
    return rows


def _side(ops: tuple[WordOp, ...], side: str) -> Markup:
    """One side of a word diff: the old text with deletions marked, or the new with insertions."""
    kept = []
    for op in ops:
        if op.tag == "equal":
            kept.append(op)
        elif side == "old" and op.old:
            kept.append(WordOp("delete", op.old, ()))
        elif side == "new" and op.new:
            kept.append(WordOp("insert", (), op.new))
    return Markup("").join(render_ops(tuple(kept), html_wrapper()))
