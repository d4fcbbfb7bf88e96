"""Mail settings: the SMTP server, sender and public URL, the outbox folder, and the secret key
that unsubscribe tokens are made with; their defaults and what makes a value valid.

The values are read by click from the command line or NEWSWATCH_* variables (monitor.config);
nothing here reads the environment.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

DEFAULT_MAIL_FROM = "newswatch@localhost"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8400"
DEFAULT_OUTBOX_DIR = Path("outbox")
# The key file's name: beside an SQLite database it takes the database's name (newswatch.db:
# newswatch.key), in the user's config directory this one. Before, it was made in the working
# directory under this name: a key found there is still used (monitor.config.default_key_file).
DEFAULT_KEY_FILE = Path("newswatch.key")
# The SMTP port by TLS mode: plain (or STARTTLS upgraded later) on 25, implicit TLS 465, submission 587.
SMTP_PORTS = {"plain": 25, "ssl": 465, "starttls": 587}
MIN_KEY_CHARS = 32


class ConfigError(ValueError):
    """A mail setting is missing or invalid; the message says which and why."""


class WrongSecretKey(ConfigError):
    """The key is not the one the subscribers' tokens were made with."""


@dataclass(frozen=True)
class MailSettings:
    """Where and how digests are sent."""

    mail_from: str = DEFAULT_MAIL_FROM
    public_url: str = DEFAULT_PUBLIC_URL
    smtp_host: str | None = None
    smtp_port: int = SMTP_PORTS["plain"]
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False
    outbox_dir: Path = DEFAULT_OUTBOX_DIR

    @property
    def sender_address(self) -> str:
        """The bare address of the sender (envelope sender, unsubscribe mailbox)."""
        return parseaddr(self.mail_from)[1]

    @property
    def message_id_domain(self) -> str:
        return self.sender_address.rpartition("@")[2]


def mail_from(value: str) -> str:
    """A sender (`name@domain` or `Name <name@domain>`) as a header writes it; ConfigError if it is none."""
    try:
        if "<" in value:
            name, addr = parseaddr(value)
            address = Address(display_name=name, addr_spec=addr)
        else:
            address = Address(addr_spec=value)
    except (ValueError, IndexError) as error:
        raise ConfigError(f"{value!r} is not an e-mail address ({error}): use name@domain or "
                          "'Name <name@domain>'") from None
    if not address.username or not address.domain:
        raise ConfigError(f"{value!r} is not an e-mail address: use name@domain or 'Name <name@domain>'")
    return str(address)


def public_url(value: str) -> str:
    """The web view's base URL, without a trailing slash; ConfigError unless http(s)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ConfigError(f"{value!r} is not an http(s) URL such as {DEFAULT_PUBLIC_URL}")
    return value.rstrip("/")


def smtp_port(port: int | None, *, ssl: bool, starttls: bool) -> int:
    """The given port, else the usual one for the TLS mode; ConfigError for both modes at once."""
    if ssl and starttls:
        raise ConfigError("choose SSL or STARTTLS, not both")
    return port or SMTP_PORTS["ssl" if ssl else "starttls" if starttls else "plain"]


def read_password(path: Path) -> str:
    """The SMTP password kept in a file (its last line break dropped)."""
    try:
        return path.read_text("utf-8").rstrip("\r\n")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None


# --------------------------------------------------------------------------- the secret key


def check_key(key: str, where: str) -> str:
    """`key` if it is long enough to be a secret; ConfigError naming `where` it came from."""
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(f"the secret key in {where} is too short: use at least {MIN_KEY_CHARS} random characters")
    return key


@dataclass(frozen=True)
class SecretKey:
    """Where the key of the unsubscribe tokens comes from: given (NEWSWATCH_SECRET_KEY), else a file."""

    value: str | None = field(default=None, repr=False)
    file: Path = DEFAULT_KEY_FILE

    def load(self, *, create: bool = False) -> bytes:
        """The key; the file is created, readable by its owner only, when `create` and it does not exist."""
        if self.value:
            return check_key(self.value, "NEWSWATCH_SECRET_KEY").encode("utf-8")
        if create and not self.file.exists():
            self._create()
        try:
            key = self.file.read_text("utf-8").strip()
        except FileNotFoundError:
            raise ConfigError(
                f"no secret key: {self.file} does not exist; set NEWSWATCH_SECRET_KEY or NEWSWATCH_SECRET_KEY_FILE "
                "to the key the subscribers were added with"
            ) from None
        except OSError as error:
            raise ConfigError(f"cannot read the secret key file {self.file}: {error.strerror}") from None
        return check_key(key, str(self.file)).encode("utf-8")

    def _create(self) -> None:
        # A folder made for the key (the user's config directory) is its owner's alone, like the key.
        self.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            descriptor = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process made it a moment ago: use theirs
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        log.info("created the secret key file %s", self.file)
