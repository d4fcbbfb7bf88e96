"""How commands print: aligned tables for people, fitted to their terminal; JSON for scripts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import click

# A column that gives way to fit the terminal keeps at least this many characters.
MIN_WIDTH = 16
SEPARATOR = "  "


def print_json(value: object) -> None:
    """`value` as indented JSON (dates and datetimes in ISO 8601), non-ASCII kept."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value: object) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, shrink: Collection[str] = (),
                wide: bool = False) -> None:
    """Rows in left-aligned columns under their headers; `(none)` for no rows.

    On a terminal (or with COLUMNS set) the columns named in `shrink` are cut, an ellipsis
    marking the cut, so that the table fits its width; a last column that is not in `shrink`
    (a URL) is never cut, and runs over the edge when it cannot fit. `wide`, and output that
    is not a terminal, show everything.
    """
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not cells:
        click.echo("(none)")
        return
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    limit = None if wide else terminal_width()
    rules = ["-" * w for w in widths]
    if limit is not None:
        widths = fit(widths, [i for i, h in enumerate(headers) if h in shrink], limit)
        rules = ["-" * w for w in widths]
        # A last column running over the edge is ruled to the edge only.
        rules[-1] = rules[-1][: max(len(headers[-1]), limit - _total(widths[:-1]) - len(SEPARATOR))]
    for row in [list(headers), rules, *cells]:
        click.echo(SEPARATOR.join(clip(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def terminal_width() -> int | None:
    """The width to fit tables to: the terminal's (or COLUMNS); None when the output goes elsewhere."""
    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def fit(widths: Sequence[int], shrinkable: Sequence[int], limit: int) -> list[int]:
    """Column widths within `limit` (separators included), narrowing the widest shrinkable column
    first, none below MIN_WIDTH. A last column that cannot shrink is left out of the count when
    the others cannot make room for it: it runs over the edge rather than squeezing them."""
    fitted = _narrow(widths, shrinkable, limit)
    last = len(widths) - 1
    if _total(fitted) <= limit or last in shrinkable or last == 0:
        return fitted
    return [*_narrow(widths[:last], shrinkable, limit), widths[last]]


def _narrow(widths: Sequence[int], shrinkable: Sequence[int], limit: int) -> list[int]:
    fitted = list(widths)
    candidates = [i for i in shrinkable if i < len(fitted)]
    while _total(fitted) > limit:
        widest = max(candidates, key=lambda i: fitted[i], default=None)
        if widest is None or fitted[widest] <= MIN_WIDTH:
            break
        fitted[widest] -= 1
    return fitted


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + len(SEPARATOR) * (len(widths) - 1)


def fields(record: Any, *names: str) -> dict[str, Any]:
    """The named fields of a dataclass record, in that order."""
    values = dataclasses.asdict(record)
    return {name: values[name] for name in names}


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def when(value: dt.datetime | None) -> str:
    """A stored time as `YYYY-MM-DD HH:MM:SS` (UTC), or nothing."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""
