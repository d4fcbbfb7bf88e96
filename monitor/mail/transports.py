"""Where digests go: an SMTP server (one connection per batch), or .eml files in a folder.

A transport raises TransportError when the server cannot be used right now (the digest stays
pending and is retried) and MessageRejected when it refuses one message (for good on a 5xx).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from monitor.mail.settings import MailSettings

SMTP_TIMEOUT = 60.0


class TransportError(Exception):
    """The mail server cannot be used right now (unreachable, TLS, login, sender refused)."""


class MessageRejected(Exception):
    """The server refused one message; `permanent` for a 5xx reply."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    """Hands messages over for delivery; a context manager around a batch."""

    description: str

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """An SMTP connection, opened at the first message and kept for the batch."""

    def __init__(self, settings: MailSettings) -> None:
        assert settings.smtp_host
        self.settings = settings
        self.description = f"SMTP server {settings.smtp_host}:{settings.smtp_port}"
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        smtp = self._connection()
        try:
            smtp.send_message(message, from_addr=self.settings.sender_address)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise MessageRejected(f"{self.description} refused the recipient: {code} {_reply(reply)}",
                                  permanent=code >= 500) from None
        except smtplib.SMTPDataError as error:
            raise MessageRejected(f"{self.description} refused the message: {error.smtp_code} "
                                  f"{_reply(error.smtp_error)}", permanent=error.smtp_code >= 500) from None
        except smtplib.SMTPSenderRefused as error:
            raise TransportError(f"{self.description} refused the sender {error.sender}: {error.smtp_code} "
                                 f"{_reply(error.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise TransportError(f"{self.description} failed while sending: {_describe(error)}") from None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        assert s.smtp_host
        smtp: smtplib.SMTP
        try:
            if s.ssl:
                smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT)
        except ConnectionRefusedError as error:
            raise TransportError(f"{self.description} refused the connection: {error}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise TransportError(f"cannot reach {self.description}: {_describe(error)}") from None
        self._smtp = smtp
        try:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except smtplib.SMTPAuthenticationError as error:
            self._drop()
            raise TransportError(f"{self.description} refused the login of {s.smtp_user!r}: "
                                 f"{error.smtp_code} {_reply(error.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            step = "STARTTLS" if s.starttls else "the login"
            raise TransportError(f"{self.description} failed at {step}: {_describe(error)}") from None
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()  # the connection is gone already; nothing to tell the server

    def close(self) -> None:
        self._drop()


class EmlDirectory:
    """Writes each message as an .eml file (named by its Message-ID, so a retry overwrites it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.description = f"the outbox folder {directory}"

    def send(self, message: EmailMessage) -> None:
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in message["Message-ID"].strip("<>"))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = self.directory / f".{name}.partial"
            partial.write_bytes(bytes(message))
            os.replace(partial, self.directory / f"{name}.eml")  # whole files only
        except OSError as error:
            raise TransportError(f"cannot write to {self.description}: {error}") from None

    def close(self) -> None:
        pass


def transport_for(settings: MailSettings) -> Transport:
    """SMTP when NEWSWATCH_SMTP_HOST is set, else .eml files in NEWSWATCH_OUTBOX_DIR."""
    return SmtpTransport(settings) if settings.smtp_host else EmlDirectory(settings.outbox_dir)


def _reply(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)).replace("\n", " ")


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {SMTP_TIMEOUT:.0f} s"
    return str(error) or type(error).__name__
