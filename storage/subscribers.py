"""Subscribers of the alert emails and their unsubscribe tokens (their digests: storage.outbox).

Like `storage.repository`, every function takes a `Session` and leaves committing to the caller.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from storage import outbox
from storage.models import SUBSCRIBER_KINDS, Delivery, Subscriber

# Which kinds of change a subscriber's wish covers. A release that comes back after a
# removal is news both to who follows new releases and to who was told of the removal.
_COVERS = {"added": ("added", "restored"), "edited": ("edited",), "removed": ("removed", "restored")}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


class SubscriberError(ValueError):
    """An address, language or kind that cannot be subscribed; the message says why."""


class SubscriberNotFound(LookupError):
    """No subscriber has the given address."""


class UnknownToken(LookupError):
    """No subscriber has the given unsubscribe token."""


@dataclass(frozen=True)
class NewSubscriber:
    """A subscriber just added, with its unsubscribe token: the only time the token is shown."""

    id: int
    email: str
    languages: tuple[str, ...]
    kinds: tuple[str, ...]
    token: str
    sites: tuple[str, ...] | None = None  # None: every site


@dataclass(frozen=True)
class SubscriberSummary:
    """One line of the subscriber list."""

    email: str
    languages: list[str]
    kinds: list[str]
    subscribed: bool
    created_at: dt.datetime
    unsubscribed_at: dt.datetime | None
    sent: int
    pending: int
    sites: list[str] | None = None  # None: every site


@dataclass(frozen=True)
class Unsubscribed:
    """What `unsubscribe` did: the address, and whether it had already left."""

    email: str
    already: bool
    cancelled: int  # pending digests that will not be sent


# --------------------------------------------------------------------------- validation


def normalize_email(address: str) -> str:
    """The address as stored (validated by email-validator, lower-cased); SubscriberError if invalid."""
    if _CONTROL.search(address):
        raise SubscriberError(
            f"refused {address!r}: an email address cannot contain line breaks or control characters"
        )
    try:
        valid = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise SubscriberError(f"not a valid email address: {address!r} ({error})") from None
    return (valid.ascii_email or valid.normalized).lower()


def check_languages(languages: Iterable[str], known: Sequence[str]) -> tuple[str, ...]:
    """`languages` without duplicates, in the order given; SubscriberError for an unknown one."""
    chosen = tuple(dict.fromkeys(language.strip().lower() for language in languages if language.strip()))
    unknown = [language for language in chosen if language not in known or not _LANGUAGE.fullmatch(language)]
    if unknown or not chosen:
        raise SubscriberError(
            f"unknown language {', '.join(map(repr, unknown))}: choose among {', '.join(known)}"
            if unknown else f"choose at least one language among {', '.join(known)}"
        )
    return chosen


def check_sites(sites: Iterable[str] | None, known: Sequence[str]) -> tuple[str, ...] | None:
    """The sites chosen, in the order of `known`; None (every site, those added later too) for none
    chosen or all of them. SubscriberError for an unknown one."""
    chosen = {site.strip() for site in sites or () if site.strip()}
    unknown = sorted(chosen - set(known))
    if unknown:
        raise SubscriberError(f"unknown site {', '.join(map(repr, unknown))}: choose among {', '.join(known)}")
    if not chosen or chosen == set(known):
        return None
    return tuple(site for site in known if site in chosen)


def check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """`kinds` without duplicates, in the canonical order; SubscriberError for an unknown one."""
    chosen = {kind.strip().lower() for kind in kinds if kind.strip()}
    unknown = sorted(chosen - set(SUBSCRIBER_KINDS))
    if unknown or not chosen:
        raise SubscriberError(
            f"unknown kind of change {', '.join(map(repr, unknown))}: choose among {', '.join(SUBSCRIBER_KINDS)}"
            if unknown else f"choose at least one kind of change among {', '.join(SUBSCRIBER_KINDS)}"
        )
    return tuple(kind for kind in SUBSCRIBER_KINDS if kind in chosen)


def covered_kinds(kinds: Iterable[str]) -> set[str]:
    """The change kinds (added/edited/removed/restored) that a subscriber's kinds ask for."""
    return {covered for kind in kinds for covered in _COVERS.get(kind, ())}


# --------------------------------------------------------------------------- tokens


def unsubscribe_token(key: bytes, token_id: str) -> str:
    """The subscriber's secret token: HMAC-SHA256(key, token_id), lower-case base32.

    Base32, not base64url: a token must never start with `-`, or `newswatch unsubscribe TOKEN`
    would read it as an option; letters and digits alone also survive any mail client's linkifier.
    """
    mac = hmac.new(key, b"newswatch-unsubscribe\0" + token_id.encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(mac).rstrip(b"=").decode("ascii").lower()


def token_hash(token: str) -> str:
    """What the database keeps of a token (hex SHA-256), to find its subscriber."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def token_matches(subscriber: Subscriber, key: bytes) -> bool:
    """Whether `key` is the key the subscriber's token was made with."""
    return hmac.compare_digest(token_hash(unsubscribe_token(key, subscriber.token_id)), subscriber.token_hash)


# --------------------------------------------------------------------------- subscribers


def add_subscriber(
    session: Session,
    email: str,
    languages: Sequence[str],
    kinds: Sequence[str],
    *,
    known_languages: Sequence[str],
    key: bytes,
    now: dt.datetime,
    locale: str | None = None,
    sites: Sequence[str] | None = None,
    known_sites: Sequence[str] = (),
) -> NewSubscriber:
    """Subscribe `email` to `languages` (among `known_languages`), `kinds` and `sites` (among
    `known_sites`; none: every site), with a new token.

    SubscriberError for an invalid address, language or kind, or an address still
    subscribed; an address that unsubscribed comes back with its new choices and a new token.
    """
    address = normalize_email(email)
    languages, kinds = check_languages(languages, known_languages), check_kinds(kinds)
    chosen_sites = check_sites(sites, known_sites)
    subscriber = find_subscriber(session, address)
    if subscriber is not None and subscriber.unsubscribed_at is None:
        raise SubscriberError(
            f"{address} is already subscribed (languages {', '.join(subscriber.languages)}; "
            f"kinds {', '.join(subscriber.kinds)}): remove it first to change its choices"
        )
    token_id = secrets.token_urlsafe(24)
    token = unsubscribe_token(key, token_id)
    if subscriber is None:
        subscriber = Subscriber(email=address)
        session.add(subscriber)
    # Subscribed from now on (again, for an address that left): runs that ended before never mail it.
    subscriber.created_at = now
    subscriber.languages, subscriber.kinds = list(languages), list(kinds)
    subscriber.locale = locale
    subscriber.sites = list(chosen_sites) if chosen_sites is not None else None
    subscriber.token_id, subscriber.token_hash = token_id, token_hash(token)
    subscriber.unsubscribed_at = None
    session.flush()
    return NewSubscriber(subscriber.id, address, tuple(languages), tuple(kinds), token, chosen_sites)


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this (normalised) address, or None."""
    return session.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()


def remove_subscriber(session: Session, email: str) -> str:
    """Forget a subscriber and its digests (sent or not); its normalised address."""
    address = normalize_email(email)
    subscriber = find_subscriber(session, address)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber {address}")
    outbox.forget(session, subscriber.id)
    session.delete(subscriber)
    session.flush()
    return address


def by_token(session: Session, token: str) -> Subscriber:
    """The subscriber whose unsubscribe token this is; UnknownToken if none."""
    subscriber = session.scalars(select(Subscriber).where(Subscriber.token_hash == token_hash(token))).one_or_none()
    if subscriber is None:
        raise UnknownToken("unknown unsubscribe token")
    return subscriber


def set_preferences(
    session: Session, token: str, languages: Sequence[str], kinds: Sequence[str], *, known_languages: Sequence[str],
    locale: str | None, sites: Sequence[str] | None = None, known_sites: Sequence[str] = (),
) -> Subscriber:
    """Change the languages, kinds, sites (None: left as they are) and digest language of the token's
    owner, who is subscribed again if they had left (the token proves the address). SubscriberError, UnknownToken."""
    chosen_languages, chosen_kinds = check_languages(languages, known_languages), check_kinds(kinds)
    chosen_sites = check_sites(sites, known_sites) if sites is not None else None
    subscriber = by_token(session, token)
    if sites is not None:
        subscriber.sites = list(chosen_sites) if chosen_sites is not None else None
    subscriber.languages, subscriber.kinds = list(chosen_languages), list(chosen_kinds)
    subscriber.locale = locale
    subscriber.unsubscribed_at = None
    session.flush()
    return subscriber


def unsubscribe(session: Session, token: str, *, now: dt.datetime) -> Unsubscribed:
    """Unsubscribe the owner of `token` and cancel its pending digests; idempotent."""
    subscriber = session.scalars(
        select(Subscriber).where(Subscriber.token_hash == token_hash(token)).with_for_update()
    ).one_or_none()
    if subscriber is None:
        raise UnknownToken("unknown unsubscribe token")
    already = subscriber.unsubscribed_at is not None
    if not already:
        subscriber.unsubscribed_at = now
    cancelled = outbox.cancel_pending(session, subscriber.id, "the subscriber unsubscribed")
    session.flush()
    return Unsubscribed(subscriber.email, already, cancelled)


def active_subscribers(session: Session) -> list[Subscriber]:
    """Subscribers who have not unsubscribed, in the order they subscribed."""
    return list(session.scalars(select(Subscriber).where(Subscriber.unsubscribed_at.is_(None)).order_by(Subscriber.id)))


def subscribed_at(session: Session, moment: dt.datetime) -> list[Subscriber]:
    """Subscribers who were subscribed at `moment` and still are, in the order they subscribed."""
    return list(session.scalars(
        select(Subscriber).where(Subscriber.unsubscribed_at.is_(None), Subscriber.created_at <= moment)
        .order_by(Subscriber.id)
    ))


def any_subscriber(session: Session) -> Subscriber | None:
    """One subscriber (the first), to check a secret key against; None when there are none."""
    return session.scalars(select(Subscriber).order_by(Subscriber.id).limit(1)).first()


def list_subscribers(session: Session) -> list[SubscriberSummary]:
    """All subscribers, by address, with how many digests were sent and wait to be sent."""
    def count(status: str) -> ScalarSelect[int]:
        return (
            select(func.count(Delivery.id))
            .where(Delivery.subscriber_id == Subscriber.id, Delivery.status == status)
            .correlate(Subscriber)
            .scalar_subquery()
        )

    rows = session.execute(select(Subscriber, count("sent"), count("pending")).order_by(Subscriber.email))
    return [
        SubscriberSummary(s.email, list(s.languages), list(s.kinds), s.unsubscribed_at is None,
                          s.created_at, s.unsubscribed_at, sent, pending, list(s.sites) if s.sites is not None else None)
        for s, sent, pending in rows
    ]


def follows(subscriber: Subscriber, site: str) -> bool:
    """Whether the subscriber hears about `site` (no choice of sites: every site)."""
    return subscriber.sites is None or site in subscriber.sites


def wants(subscriber: Subscriber, keys: set[tuple[str, str]], site: str | None = None) -> bool:
    """Whether any of the (language, kind) pairs of changes (of a run of `site`) is among what the
    subscriber asked for."""
    if site is not None and not follows(subscriber, site):
        return False
    kinds = covered_kinds(subscriber.kinds)
    return any(language in subscriber.languages and kind in kinds for language, kind in keys)
