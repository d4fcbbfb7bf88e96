"""The outbox: one digest of one run per subscriber (`deliveries`), and how sending it went.

Rows only: which subscribers get a digest, when to retry, and the sending itself are the
monitor's (monitor.mail.outbox, monitor.mail.send). Like `storage.repository`, every function
takes a `Session` and leaves committing to the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Delivery

_INSERTS: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def run_deliveries(session: Session, run_id: int) -> dict[int, Delivery]:
    """The digests of a run, by subscriber id."""
    rows = session.scalars(select(Delivery).where(Delivery.run_id == run_id).with_for_update())
    return {delivery.subscriber_id: delivery for delivery in rows}


def insert_delivery(session: Session, subscriber_id: int, run_id: int, *, now: dt.datetime) -> None:
    """A pending digest, unless the (subscriber, run) pair has one already."""
    insert = _INSERTS[session.get_bind().dialect.name]
    session.execute(
        insert(Delivery)
        .values(subscriber_id=subscriber_id, run_id=run_id, status="pending", attempts=0,
                created_at=now, next_attempt_at=now)
        .on_conflict_do_nothing(index_elements=[Delivery.subscriber_id, Delivery.run_id])
    )


def count_pending(session: Session, run_id: int | None = None) -> int:
    """How many digests wait to be sent (of one run, or of all)."""
    statement = select(func.count(Delivery.id)).where(Delivery.status == "pending")
    if run_id is not None:
        statement = statement.where(Delivery.run_id == run_id)
    return session.scalar(statement) or 0


def due_deliveries(session: Session, now: dt.datetime) -> list[Delivery]:
    """Pending digests whose (next) attempt is due at `now`, oldest first."""
    return list(session.scalars(
        select(Delivery)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
    ))


def next_attempt(session: Session) -> dt.datetime | None:
    """When the earliest pending digest is due."""
    return session.scalar(select(func.min(Delivery.next_attempt_at)).where(Delivery.status == "pending"))


def claim_delivery(
    session: Session, delivery_id: int, *, now: dt.datetime, lease_until: dt.datetime, message_id: str
) -> bool:
    """Take a due digest for sending: one more attempt, not due again before `lease_until`.

    False when another sender took it first (or it is no longer pending and due). The
    Message-ID is set on the first claim and kept by every later one. The last error is
    cleared, so that a digest being sent (no error) is told from one backing off (an error).
    """
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .values(attempts=Delivery.attempts + 1, next_attempt_at=lease_until,
                message_id=func.coalesce(Delivery.message_id, message_id), last_error=None)
    )
    return _rowcount(result) == 1


def fail_attempt(
    session: Session, delivery_id: int, error: str, *, now: dt.datetime,
    retry_delay: Callable[[int], dt.timedelta],
) -> bool:
    """Count a failed attempt of a due digest without trying it (its server is down); False if not due."""
    delivery = session.scalars(
        select(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .with_for_update()
    ).one_or_none()
    if delivery is None:
        return False
    delivery.attempts += 1
    delivery.last_error = error
    delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    session.flush()
    return True


def mark_sent(session: Session, delivery_id: int, *, now: dt.datetime) -> None:
    """The server accepted the digest."""
    session.execute(update(Delivery).where(Delivery.id == delivery_id)
                    .values(status="sent", sent_at=now, last_error=None))


def mark_retry(session: Session, delivery_id: int, error: str, *, next_attempt_at: dt.datetime) -> None:
    """The attempt failed; the digest stays pending until `next_attempt_at`."""
    session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending")
                    .values(last_error=error, next_attempt_at=next_attempt_at))


def mark_failed(session: Session, delivery_id: int, error: str) -> None:
    """The server refused the digest for good (e.g. an unknown recipient)."""
    session.execute(update(Delivery).where(Delivery.id == delivery_id)
                    .values(status="failed", last_error=error))


def cancel_delivery(session: Session, delivery_id: int, reason: str) -> None:
    """A pending digest that will not be sent, and why."""
    session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending")
                    .values(status="cancelled", last_error=f"cancelled: {reason}"))


def retry_now(session: Session, *, now: dt.datetime) -> int:
    """Make digests backing off after an error due at `now` (not those a sender holds); how many."""
    return _rowcount(session.execute(
        update(Delivery)
        .where(Delivery.status == "pending", Delivery.next_attempt_at > now, Delivery.last_error.is_not(None))
        .values(next_attempt_at=now)
    ))


def retry_failed(session: Session, *, now: dt.datetime) -> int:
    """Make failed digests pending again (after the operator fixed the cause); how many."""
    return _rowcount(session.execute(
        update(Delivery).where(Delivery.status == "failed").values(status="pending", next_attempt_at=now)
    ))


def cancel_pending(session: Session, subscriber_id: int, reason: str) -> int:
    """Cancel a subscriber's digests not yet sent, and say why; how many."""
    return _rowcount(session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == "pending")
        .values(status="cancelled", last_error=f"cancelled: {reason}")
    ))


def forget(session: Session, subscriber_id: int) -> None:
    """Delete every digest of a subscriber, sent or not."""
    session.execute(delete(Delivery).where(Delivery.subscriber_id == subscriber_id))


def count_sent_since(session: Session, since: dt.datetime) -> int:
    """How many digests were marked sent at or after `since`."""
    return session.scalar(select(func.count()).select_from(Delivery)
                          .where(Delivery.status == "sent", Delivery.sent_at >= since)) or 0


def _rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched (a Core DML statement's result is a cursor's)."""
    return cast(CursorResult[Any], result).rowcount
