"""The operator's notices: which problems of our own are open, and which the operator was told about.

A problem is named by a key (`run 12 failed`, `stale`, `smtp`). While it lasts it has one open
notice; once it is gone the notice is resolved, and the same problem coming back later opens a
new one. So the operator hears of each problem once, not once a night. Like `storage.outbox`,
every function takes a `Session` and leaves committing to the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import OperatorNotice


@dataclass(frozen=True)
class Active:
    """A problem seen now: its key, how bad (`warning`, `critical`) and what to tell the operator."""

    problem: str
    severity: str
    message: str


def open_notices(session: Session) -> list[OperatorNotice]:
    """The notices of problems not yet gone, oldest first."""
    return list(session.scalars(select(OperatorNotice).where(OperatorNotice.resolved_at.is_(None))
                                .order_by(OperatorNotice.id)))


def track(session: Session, active: Iterable[Active], *, now: dt.datetime) -> list[OperatorNotice]:
    """Open a notice for each active problem without one and resolve those whose problem is gone;
    the open notices not yet announced, oldest first."""
    current = {problem.problem: problem for problem in active}
    opened = {notice.problem: notice for notice in open_notices(session)}
    for key, notice in opened.items():
        if key not in current:
            notice.resolved_at = now
    for key, problem in current.items():
        if key not in opened:
            session.add(OperatorNotice(problem=key, severity=problem.severity, message=problem.message,
                                       detected_at=now))
    session.flush()
    return [notice for notice in open_notices(session) if notice.announced_at is None]


def mark_announced(session: Session, notice_id: int, *, now: dt.datetime) -> None:
    """The operator was sent this notice."""
    notice = session.get(OperatorNotice, notice_id)
    if notice is not None:
        notice.announced_at = now
