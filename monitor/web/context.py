"""What every view reads from the running application: its settings, the request's database session,
the reader's translator, and the CSRF protection (shared by the app, which installs them, and the views)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app, g
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from monitor import i18n
from monitor.mail.settings import MailSettings
from monitor.mail.transports import Transport, transport_for

csrf = CSRFProtect()


@dataclass(frozen=True)
class WebSettings:
    """What the web view needs: the database, its own public URL, the mail settings and secret key
    (confirmation e-mails, signed links), the site, and how many proxies stand in front of it."""

    database_url: str
    public_url: str
    secret_key: bytes = field(repr=False)
    mail: MailSettings = field(default_factory=MailSettings)
    site: str = "icesco"
    proxies: int = 1
    transport: Callable[[MailSettings], Transport] = transport_for


def settings() -> WebSettings:
    """The settings of the running application."""
    value: WebSettings = current_app.extensions["newswatch"]
    return value


def session() -> Session:
    """The request's database session (closed when the request ends)."""
    if "db" not in g:
        g.db = Session(current_app.extensions["newswatch.engine"])
    db: Session = g.db
    return db


def close_session(_error: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def tr() -> i18n.Translator:
    """The reader's translator (English outside a request)."""
    return i18n.translator(g.get("locale", i18n.DEFAULT_LOCALE))
