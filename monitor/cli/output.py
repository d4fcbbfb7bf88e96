"""How commands print: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import click


def print_json(value: object) -> None:
    """`value` as indented JSON (dates and datetimes in ISO 8601), non-ASCII kept."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value: object) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Rows in left-aligned columns under their headers; `(none)` for no rows."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not cells:
        click.echo("(none)")
        return
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    click.echo(line.format(*headers).rstrip())
    click.echo(line.format(*("-" * w for w in widths)).rstrip())
    for row in cells:
        click.echo(line.format(*row).rstrip())


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
