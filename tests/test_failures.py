"""storage.failures: a failing database told from an item's own fault, and said in one line."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError

from storage.failures import database_failure


def wrapped(kind, original: BaseException):
    return kind("INSERT INTO articles ...", {"title": "a secret title"}, original)


@pytest.mark.parametrize(("error", "said"), [
    (wrapped(OperationalError, sqlite3.OperationalError("database or disk is full")),
     "the disk is full (database or disk is full)"),
    (wrapped(OperationalError, sqlite3.OperationalError("disk I/O error")),
     "a write to the disk failed: it is full, over a quota or a file size limit, or failing (disk I/O error)"),
    (wrapped(OperationalError, sqlite3.OperationalError("database is locked")),
     "another process held the database's lock for more than 30 s (database is locked)"),
    (wrapped(OperationalError, sqlite3.OperationalError("attempt to write a readonly database")),
     "the database cannot be written (a read-only file or folder) (attempt to write a readonly database)"),
])
def test_a_failing_database_is_said_in_one_line_without_sql(error, said):
    assert database_failure(error) == said


class Deadlock(Exception):
    sqlstate = "40P01"


@pytest.mark.parametrize("error", [
    wrapped(IntegrityError, sqlite3.IntegrityError("UNIQUE constraint failed: articles.url")),
    wrapped(InternalError, Exception("refused by a trigger\nCONTEXT: PL/pgSQL function")),
    wrapped(OperationalError, Deadlock("deadlock detected")),
], ids=["constraint", "trigger", "deadlock"])
def test_a_fault_of_what_was_written_is_not_a_failing_database(error):
    assert database_failure(error) is None
