"""Double opt-in: a sign-up from the web is a signed, expiring link mailed to the address; only
following it (and confirming) creates the subscriber, so nobody can subscribe someone else.

The link carries the choices made in the form, signed with itsdangerous (which Flask ships)
under the project's secret key and a purpose of its own, so it can be neither forged nor
mistaken for another signed value. Nothing is stored before the confirmation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from monitor.i18n import translator
from monitor.mail.digest import templates
from monitor.mail.settings import MailSettings

SALT = "newswatch-subscribe-confirm"
MAX_AGE = dt.timedelta(hours=48)


class BadSignUp(ValueError):
    """A confirmation link that was not made by us, or was changed."""


class ExpiredSignUp(BadSignUp):
    """A confirmation link older than MAX_AGE."""


@dataclass(frozen=True)
class SignUp:
    """What someone asked for in the subscription form, before they confirm it."""

    email: str
    languages: tuple[str, ...]
    kinds: tuple[str, ...]
    locale: str
    sites: tuple[str, ...] | None = None  # None: every site


def _serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=SALT)


def sign(key: bytes, sign_up: SignUp) -> str:
    """The token of a confirmation link."""
    fields: list[object] = [sign_up.email, list(sign_up.languages), list(sign_up.kinds), sign_up.locale]
    if sign_up.sites is not None:  # links of a single-site installation stay as they were
        fields.append(list(sign_up.sites))
    return str(_serializer(key).dumps(fields))


def read(key: bytes, token: str, max_age: dt.timedelta = MAX_AGE) -> SignUp:
    """The sign-up a confirmation link carries; ExpiredSignUp or BadSignUp."""
    try:
        email, languages, kinds, locale, *rest = _serializer(key).loads(token, max_age=int(max_age.total_seconds()))
        sites = tuple(map(str, rest[0])) if rest else None
    except SignatureExpired as error:
        raise ExpiredSignUp("the confirmation link has expired") from error
    except (BadSignature, ValueError, TypeError) as error:
        raise BadSignUp("not a confirmation link of ours") from error
    return SignUp(str(email), tuple(map(str, languages)), tuple(map(str, kinds)), str(locale), sites)


def compose_confirmation(sign_up: SignUp, confirm_url: str, settings: MailSettings, *, site_name: str,
                         now: dt.datetime) -> EmailMessage:
    """The e-mail asking `sign_up.email` to confirm, in the language they chose."""
    tr = translator(sign_up.locale)
    message = EmailMessage()
    message["Subject"] = tr.gettext("Confirm your subscription to %(site)s news alerts", site=site_name)
    message["From"] = settings.mail_from
    message["To"] = sign_up.email
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = make_msgid(idstring="newswatch.confirm", domain=settings.message_id_domain)
    message["Auto-Submitted"] = "auto-generated"
    body = templates(tr.locale).get_template("confirm.txt").render(
        site=site_name, confirm_url=confirm_url, hours=int(MAX_AGE.total_seconds() // 3600))
    message.set_content(body)
    return message
