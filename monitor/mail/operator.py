"""Operator mail: one e-mail per problem of our own (monitor.health), to the operator's address only.

Never through the subscribers' outbox, never to a subscriber: a problem is recorded as a notice
(storage.notices) and mailed to NEWSWATCH_OPERATOR_EMAIL once; a notice whose e-mail could not be
sent stays unannounced and is tried again by the next `newswatch notify` or `health --notify`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.health import Health
from monitor.mail.settings import MailSettings
from monitor.mail.transports import MessageRejected, Transport, TransportError
from storage import notices
from storage.models import OperatorNotice

log = logging.getLogger(__name__)


@dataclass
class Announced:
    """What one `announce` did: the problems mailed, and why the others were not."""

    sent: list[str] = field(default_factory=list)
    error: str | None = None


def compose(notice: OperatorNotice, operator: str, settings: MailSettings, *, now: dt.datetime) -> EmailMessage:
    """The e-mail telling the operator of one problem."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = operator
    message["Subject"] = f"[newswatch] {notice.severity.upper()}: {notice.problem}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(idstring=f"newswatch.notice{notice.id}", domain=settings.message_id_domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"{notice.message}\n\n"
        f"Seen {notice.detected_at:%Y-%m-%d %H:%M} UTC. You get one e-mail per problem; `newswatch health` "
        "says how things stand now, and `newswatch runs` lists the runs with their reasons.\n"
        "Subscribers were told nothing about it.\n"
    )
    return message


def announce(engine: Engine, health: Health, transport: Transport, settings: MailSettings, operator: str, *,
             now: dt.datetime | None = None) -> Announced:
    """Record the problems of `health` and mail each one not yet announced to `operator`, once."""
    now = now or dt.datetime.now(dt.UTC)
    done = Announced()
    with Session(engine) as session, session.begin():
        pending = [notice.id for notice in notices.track(session, [p.active() for p in health.problems], now=now)]
    try:
        for notice_id in pending:
            with Session(engine) as session, session.begin():
                notice = session.get(OperatorNotice, notice_id)
                assert notice is not None
                try:
                    transport.send(compose(notice, operator, settings, now=now))
                except (TransportError, MessageRejected) as error:
                    done.error = str(error)
                    log.warning("operator e-mail about %s not sent: %s", notice.problem, error)
                    break
                notices.mark_announced(session, notice_id, now=now)
                done.sent.append(notice.problem)
    finally:
        transport.close()
    return done
