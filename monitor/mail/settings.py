"""Mail configuration from NEWSWATCH_* environment variables: the SMTP server, sender and public
URL, the outbox folder, and the secret key that unsubscribe tokens are made with."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from storage import subscribers as store

log = logging.getLogger(__name__)

DEFAULT_MAIL_FROM = "newswatch@localhost"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8400"
DEFAULT_OUTBOX_DIR = "outbox"
DEFAULT_KEY_FILE = "newswatch.key"
_MIN_KEY_CHARS = 32
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


class ConfigError(ValueError):
    """A mail setting is missing or invalid; the message names the variable."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MailSettings:
    """Where and how digests are sent, from NEWSWATCH_* environment variables."""

    mail_from: str = DEFAULT_MAIL_FROM
    public_url: str = DEFAULT_PUBLIC_URL
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False
    outbox_dir: Path = Path(DEFAULT_OUTBOX_DIR)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> MailSettings:
        """Read and check the settings; ConfigError with the variable's name when one is wrong."""
        use_ssl, starttls = _flag(environ, "NEWSWATCH_SMTP_SSL"), _flag(environ, "NEWSWATCH_SMTP_STARTTLS")
        if use_ssl and starttls:
            raise ConfigError("set NEWSWATCH_SMTP_SSL or NEWSWATCH_SMTP_STARTTLS, not both")
        port_text = environ.get("NEWSWATCH_SMTP_PORT", "").strip()
        try:
            port = int(port_text) if port_text else 465 if use_ssl else 587 if starttls else 25
        except ValueError:
            raise ConfigError(f"NEWSWATCH_SMTP_PORT must be a number, not {port_text!r}") from None
        return cls(
            mail_from=_mail_from(environ.get("NEWSWATCH_MAIL_FROM", "").strip() or DEFAULT_MAIL_FROM),
            public_url=_public_url(environ.get("NEWSWATCH_PUBLIC_URL", "").strip() or DEFAULT_PUBLIC_URL),
            smtp_host=environ.get("NEWSWATCH_SMTP_HOST", "").strip() or None,
            smtp_port=port,
            smtp_user=environ.get("NEWSWATCH_SMTP_USER", "").strip() or None,
            smtp_password=_password(environ),
            starttls=starttls,
            ssl=use_ssl,
            outbox_dir=Path(environ.get("NEWSWATCH_OUTBOX_DIR", "").strip() or DEFAULT_OUTBOX_DIR),
        )

    @property
    def sender_address(self) -> str:
        """The bare address of NEWSWATCH_MAIL_FROM (envelope sender, unsubscribe mailbox)."""
        return parseaddr(self.mail_from)[1]

    @property
    def message_id_domain(self) -> str:
        return self.sender_address.rpartition("@")[2]


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), not {value!r}")
    return value in _TRUE


def _mail_from(value: str) -> str:
    try:
        address = Address(addr_spec=value) if "<" not in value else _display_address(value)
    except (ValueError, IndexError) as error:
        raise ConfigError(f"NEWSWATCH_MAIL_FROM is not an email address: {value!r} ({error})") from None
    if not address.username or not address.domain:
        raise ConfigError(f"NEWSWATCH_MAIL_FROM is not an email address: {value!r}")
    return str(address)


def _display_address(value: str) -> Address:
    name, addr = parseaddr(value)
    return Address(display_name=name, addr_spec=addr)


def _public_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ConfigError(f"NEWSWATCH_PUBLIC_URL must be an http(s) URL, not {value!r}")
    return value.rstrip("/")


def _password(environ: Mapping[str, str]) -> str | None:
    if environ.get("NEWSWATCH_SMTP_PASSWORD"):
        return environ["NEWSWATCH_SMTP_PASSWORD"]
    path = environ.get("NEWSWATCH_SMTP_PASSWORD_FILE", "").strip()
    if not path:
        return None
    try:
        return Path(path).read_text("utf-8").rstrip("\r\n")
    except OSError as error:
        raise ConfigError(f"cannot read NEWSWATCH_SMTP_PASSWORD_FILE {path}: {error.strerror}") from None


# --------------------------------------------------------------------------- the secret key


def load_secret_key(environ: Mapping[str, str] = os.environ, *, create: bool = False) -> bytes:
    """The key unsubscribe tokens are made with: NEWSWATCH_SECRET_KEY, else the key file.

    The file (NEWSWATCH_SECRET_KEY_FILE, default ./newswatch.key) is created, readable by
    its owner only, when `create` is true and it does not exist yet.
    """
    if environ.get("NEWSWATCH_SECRET_KEY"):
        key = environ["NEWSWATCH_SECRET_KEY"]
        if len(key) < _MIN_KEY_CHARS:
            raise ConfigError(f"NEWSWATCH_SECRET_KEY is too short: use at least {_MIN_KEY_CHARS} random characters")
        return key.encode("utf-8")
    path = Path(environ.get("NEWSWATCH_SECRET_KEY_FILE", "").strip() or DEFAULT_KEY_FILE)
    if create and not path.exists():
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it a moment ago: use theirs
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(32) + "\n")
            log.info("created the secret key file %s", path)
    try:
        key = path.read_text("utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"no secret key: {path} does not exist; set NEWSWATCH_SECRET_KEY or NEWSWATCH_SECRET_KEY_FILE "
            "to the key the subscribers were added with"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read the secret key file {path}: {error.strerror}") from None
    if len(key) < _MIN_KEY_CHARS:
        raise ConfigError(f"the secret key in {path} is too short: use at least {_MIN_KEY_CHARS} random characters")
    return key.encode("utf-8")


class WrongSecretKey(ConfigError):
    """The key is not the one the subscribers' tokens were made with."""


def check_secret_key(session: Session, key: bytes) -> None:
    """WrongSecretKey unless `key` made the subscribers' tokens (trivially true without subscribers)."""
    subscriber = store.any_subscriber(session)
    if subscriber is not None and not store.token_matches(subscriber, key):
        raise WrongSecretKey(
            "the secret key is not the one the subscribers were added with (their unsubscribe links would "
            "not work): set NEWSWATCH_SECRET_KEY or NEWSWATCH_SECRET_KEY_FILE to that key"
        )
