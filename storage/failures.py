"""Database failures in one line: what a crawl tells the operator when the database fails it.

A failure of the database itself (the disk is full, a lock held past the busy timeout, a
read-only file, a server that refuses connections or went away) is not a fault of the item
being written: every later write fails the same way. `database_failure` tells it from an
item's own fault (a constraint, a value a trigger refuses) and says it in one line, without
SQLAlchemy's SQL, parameters and link.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from storage.db import SQLITE_BUSY_TIMEOUT_MS

# What the drivers' messages mean, for whoever reads the log: (a part of the message, meaning).
_MEANINGS = (
    ("database or disk is full", "the disk is full"),
    # SQLite reports ENOSPC as "full", and a write that fails otherwise (EFBIG, EDQUOT, EIO) as an I/O error.
    ("disk i/o error", "a write to the disk failed: it is full, over a quota or a file size limit, or failing"),
    ("disk full", "the disk is full"),
    ("no space left on device", "the disk is full"),
    ("database is locked", f"another process held the database's lock for more than "
                           f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s"),
    ("readonly database", "the database cannot be written (a read-only file or folder)"),
    ("read-only", "the database cannot be written"),
    ("connection refused", "the database server refuses connections"),
    ("unable to open database file", "the database file cannot be opened"),
)


def database_failure(error: BaseException) -> str | None:
    """One line saying how the database failed, or None when `error` is the fault of what was written."""
    if not isinstance(error, (OperationalError, InterfaceError)) and not (
            isinstance(error, DBAPIError) and error.connection_invalidated):
        return None
    if str(getattr(getattr(error, "orig", None), "sqlstate", "") or "").startswith("40"):
        return None  # PostgreSQL's transaction rollback (a deadlock, a serialization failure): this write's alone
    return describe(error)


def describe(error: BaseException) -> str:
    """`error` in one line: the driver's message (its first line), and what it means when known."""
    original = error.orig if isinstance(error, DBAPIError) and isinstance(error.orig, BaseException) else error
    lines = str(original).strip().splitlines()
    message = lines[0].strip() if lines else type(original).__name__
    lowered = str(original).lower()
    meaning = next((meaning for part, meaning in _MEANINGS if part in lowered), None)
    return f"{meaning} ({message})" if meaning else message
