"""Sending the outbox: each due digest is built from the database, handed to SMTP (or written
as an .eml file, see `monitor.mail.transports`) and marked sent as soon as the server accepts it.

Delivery is at least once: if the process dies after the server accepted a digest and before
`sent` is committed, the digest is sent again after its lease, with the same Message-ID.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crawler import sites
from monitor.mail.digest import Recipient, build_digest, compose, preferences_link, unsubscribe_links
from monitor.mail.outbox import SEND_LEASE, retry_delay
from monitor.mail.settings import MailSettings, WrongSecretKey
from monitor.mail.transports import MessageRejected, Transport, TransportError
from storage import outbox, subscribers
from storage.changes import list_changes
from storage.models import CrawlRun, Delivery, Subscriber

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- building


def check_secret_key(session: Session, key: bytes) -> None:
    """WrongSecretKey unless `key` made the subscribers' tokens (trivially true without subscribers)."""
    subscriber = subscribers.any_subscriber(session)
    if subscriber is not None and not subscribers.token_matches(subscriber, key):
        raise WrongSecretKey(
            "the secret key is not the one the subscribers were added with (their unsubscribe links would "
            "not work): set NEWSWATCH_SECRET_KEY or NEWSWATCH_SECRET_KEY_FILE to that key"
        )


@dataclass(frozen=True)
class Outgoing:
    """A due digest, built: the message, or why it is not to be sent."""

    delivery_id: int
    recipient: str
    message: EmailMessage | None
    cancel_reason: str | None = None


def build_message(
    session: Session, delivery: Delivery, settings: MailSettings, key: bytes, *, message_id: str,
    now: dt.datetime,
) -> Outgoing:
    """The digest of `delivery` as it stands in the database now (or why it is no longer due)."""
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    run = session.get(CrawlRun, delivery.run_id)
    assert subscriber is not None and run is not None  # foreign keys
    if subscriber.unsubscribed_at is not None:
        return Outgoing(delivery.id, subscriber.email, None, "the subscriber unsubscribed")
    if not subscribers.token_matches(subscriber, key):
        raise WrongSecretKey(f"the secret key is not the one {subscriber.email} was added with")
    changes = list_changes(session, run.id, languages=subscriber.languages,
                           kinds=subscribers.covered_kinds(subscriber.kinds), with_texts=True)
    profile = sites.configured().get(run.site)
    # The site named as its profile names it (ICESCO), in the subject and the body.
    digest = build_digest(profile.title if profile else run.site.upper(), run.id, run.finished_at, changes, subscriber.languages,
                          rtl_languages=profile.rtl_languages if profile else (), locale=subscriber.locale,
                          public_url=settings.public_url)
    if digest.empty:
        return Outgoing(delivery.id, subscriber.email, None, "no relevant changes in the run any more")
    token = subscribers.unsubscribe_token(key, subscriber.token_id)
    mailto, url = unsubscribe_links(settings.sender_address, settings.public_url, token)
    recipient = Recipient(subscriber.email, tuple(subscriber.languages), tuple(subscriber.kinds), url, mailto,
                          preferences_link(settings.public_url, token))
    message = compose(digest, recipient, sender=settings.mail_from, message_id=message_id, date=now)
    return Outgoing(delivery.id, subscriber.email, message)


def new_message_id(settings: MailSettings, delivery: Delivery) -> str:
    """A Message-ID for a digest's first attempt (kept by all later ones), in the sender's domain."""
    return make_msgid(idstring=f"newswatch.run{delivery.run_id}.d{delivery.id}", domain=settings.message_id_domain)


# --------------------------------------------------------------------------- sending


@dataclass
class NotifyReport:
    """What one `send_due` did."""

    sent: list[str] = field(default_factory=list)  # recipients
    failed: list[str] = field(default_factory=list)  # "recipient: error", refused for good
    retrying: list[str] = field(default_factory=list)  # "recipient: error", pending with a back-off
    cancelled: list[str] = field(default_factory=list)  # "recipient: reason"
    error: str | None = None  # why sending stopped (the server), if it did
    pending: int = 0  # digests still pending afterwards
    next_attempt_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed and not self.retrying


def send_due(
    engine: Engine, transport: Transport, settings: MailSettings, key: bytes, *, now: dt.datetime | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> NotifyReport:
    """Send every digest due at `now`, one transaction per digest; stop at the first server failure.

    A digest the server accepted is committed as sent at once. After a failure it stays
    pending with its attempt count, the error and a back-off; when the server itself fails,
    every digest that was due gets that treatment, so nothing is lost and nothing is sent twice.
    """
    if clock is None:
        clock = _fixed_clock(now) if now is not None else _utc_now
    now = now or clock()
    report = NotifyReport()
    with Session(engine) as session:
        check_secret_key(session, key)
        due = [(d.id, d.run_id) for d in outbox.due_deliveries(session, now)]
    try:
        for position, (delivery_id, _) in enumerate(due):
            outcome = _send_one(engine, transport, settings, key, delivery_id, now=now, clock=clock, report=report)
            if outcome is not None:  # the server failed: every remaining digest waits too
                report.error = outcome
                _postpone(engine, [d for d, _ in due[position + 1:]], outcome, now=now)
                break
    finally:
        transport.close()
    with Session(engine) as session:
        report.pending = outbox.count_pending(session)
        report.next_attempt_at = outbox.next_attempt(session)
    return report


def _fixed_clock(now: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: now


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _send_one(
    engine: Engine, transport: Transport, settings: MailSettings, key: bytes, delivery_id: int, *,
    now: dt.datetime, clock: Callable[[], dt.datetime], report: NotifyReport,
) -> str | None:
    """Claim, build, send and record one digest; the server's error if it failed as a whole."""
    with Session(engine) as session, session.begin():
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or not outbox.claim_delivery(
            session, delivery_id, now=now, lease_until=now + SEND_LEASE, message_id=new_message_id(settings, delivery)
        ):
            return None  # another sender has it
    try:
        with Session(engine) as session:  # closed before any write: SQLite has one writer
            delivery = session.get_one(Delivery, delivery_id)
            attempts, recipient = delivery.attempts, session.get_one(Subscriber, delivery.subscriber_id).email
            assert delivery.message_id is not None  # set by the claim
            outgoing = build_message(session, delivery, settings, key, message_id=delivery.message_id, now=clock())
    except WrongSecretKey as error:
        _release(engine, delivery_id, str(error), now=now)
        raise
    except ValueError as error:  # the message cannot be composed: retrying will not help
        with Session(engine) as session, session.begin():
            outbox.mark_failed(session, delivery_id, f"cannot compose the digest: {error}")
        report.failed.append(f"{recipient}: cannot compose the digest: {error}")
        log.error("digest %d to %s cannot be composed: %s", delivery_id, recipient, error)
        return None
    if outgoing.message is None:
        with Session(engine) as session, session.begin():
            outbox.cancel_delivery(session, delivery_id, outgoing.cancel_reason or "")
        report.cancelled.append(f"{outgoing.recipient}: {outgoing.cancel_reason}")
        return None
    try:
        transport.send(outgoing.message)
    except MessageRejected as error:
        with Session(engine) as session, session.begin():
            if error.permanent:
                outbox.mark_failed(session, delivery_id, str(error))
                report.failed.append(f"{outgoing.recipient}: {error}")
            else:
                outbox.mark_retry(session, delivery_id, str(error), next_attempt_at=now + retry_delay(attempts))
                report.retrying.append(f"{outgoing.recipient}: {error}")
        log.info("digest %d to %s not sent: %s", delivery_id, outgoing.recipient, error)
        return None
    except TransportError as error:
        with Session(engine) as session, session.begin():
            outbox.mark_retry(session, delivery_id, str(error), next_attempt_at=now + retry_delay(attempts))
        log.info("digest %d to %s not sent: %s", delivery_id, outgoing.recipient, error)
        return str(error)
    with Session(engine) as session, session.begin():
        outbox.mark_sent(session, delivery_id, now=clock())
    report.sent.append(outgoing.recipient)
    log.info("digest %d sent to %s via %s", delivery_id, outgoing.recipient, transport.description)
    return None


def _release(engine: Engine, delivery_id: int, error: str, *, now: dt.datetime) -> None:
    """Give a claimed digest back, due at once: it was not tried (a configuration error)."""
    with Session(engine) as session, session.begin():
        outbox.mark_retry(session, delivery_id, error, next_attempt_at=now)


def _postpone(engine: Engine, delivery_ids: list[int], error: str, *, now: dt.datetime) -> None:
    """Count a failed attempt for the digests the failing server kept us from trying."""
    for delivery_id in delivery_ids:
        with Session(engine) as session, session.begin():
            outbox.fail_attempt(session, delivery_id, error, now=now, retry_delay=retry_delay)


def preview_due(engine: Engine, settings: MailSettings, key: bytes, *, now: dt.datetime) -> Iterator[Outgoing]:
    """The digests `send_due` would send at `now`, built but neither sent nor recorded."""
    with Session(engine) as session:
        check_secret_key(session, key)
        for delivery in outbox.due_deliveries(session, now):
            message_id = delivery.message_id or new_message_id(settings, delivery)
            try:
                yield build_message(session, delivery, settings, key, message_id=message_id, now=now)
            except WrongSecretKey:
                raise
            except ValueError as error:
                recipient = session.get_one(Subscriber, delivery.subscriber_id).email
                yield Outgoing(delivery.id, recipient, None, f"cannot compose the digest: {error}")
