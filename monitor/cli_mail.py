"""The `newswatch` commands of the alert emails: subscribers, unsubscribe, notify.

Registered on `monitor.cli.main` at the end of that module. This module does not import
`monitor.cli` at load time (that would be a cycle); its printing helpers are imported
when a command runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from crawler.sites import PROFILES
from monitor.mail import settings as mailconfig
from monitor.mail import send as mail
from monitor.mail.transports import transport_for
from storage import outbox
from storage import subscribers as store
from storage.db import DEFAULT_DATABASE_URL, make_engine, migrate
from storage.models import SUBSCRIBER_KINDS

DATABASE_OPTION = click.option(
    "--database", "database_url", envvar="NEWSWATCH_DATABASE_URL", default=DEFAULT_DATABASE_URL,
    show_default=True, help="SQLAlchemy database URL (env NEWSWATCH_DATABASE_URL).",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
# In the sites' order (en, fr, ar), which is also the order of a digest's sections.
LANGUAGES = tuple(dict.fromkeys(language for profile in PROFILES.values() for language in profile.languages))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _engine(database_url: str, *, create: bool = False) -> Engine:
    """A migrated engine; a missing SQLite file is an error unless `create`."""
    try:
        url = make_url(database_url)
    except ArgumentError as error:
        raise click.ClickException(f"not a database URL: {database_url!r} ({error})") from error
    if not create and url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise click.ClickException(
            f"no database at {url.database}: run `scrapy crawl news` or `newswatch demo` first, or give --database"
        )
    try:
        engine = make_engine(database_url)
        migrate(engine)
    except SQLAlchemyError as error:
        raise click.ClickException(f"cannot open database {url.render_as_string(hide_password=True)}: {error}") \
            from error
    return engine


def _settings() -> mailconfig.MailSettings:
    try:
        return mailconfig.MailSettings.from_env()
    except mailconfig.ConfigError as error:
        raise click.ClickException(str(error)) from error


def _key(*, create: bool = False) -> bytes:
    try:
        return mailconfig.load_secret_key(create=create)
    except mailconfig.ConfigError as error:
        raise click.ClickException(str(error)) from error


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _digests(n: int, verb: str = "") -> str:
    """"1 digest stays", "3 digests stay" (verb in the plural)."""
    if n == 1:
        return f"1 digest {verb}s" if verb else "1 digest"
    return f"{n} digests {verb}" if verb else f"{n} digests"


# --------------------------------------------------------------------------- subscribers


@click.group()
def subscribers() -> None:
    """Add, remove and list the subscribers of the alert emails."""


@subscribers.command("add")
@click.argument("email")
@click.option("--languages", default=",".join(LANGUAGES), show_default=True,
              help=f"Comma-separated languages of the releases to hear about ({', '.join(LANGUAGES)}).")
@click.option("--kinds", default=",".join(SUBSCRIBER_KINDS), show_default=True,
              help="Comma-separated kinds of change (added, edited, removed); a release back online counts "
                   "as added and as removed.")
@DATABASE_OPTION
def add(email: str, languages: str, kinds: str, database_url: str) -> None:
    """Subscribe EMAIL and print its unsubscribe token (shown this once)."""
    settings = _settings()
    engine = _engine(database_url, create=True)
    try:
        with Session(engine) as session, session.begin():
            first = store.any_subscriber(session) is None
            key = _key(create=first)  # a new key only while no token depends on the old one
            mailconfig.check_secret_key(session, key)
            added = store.add_subscriber(session, email, _split(languages), _split(kinds),
                                         known_languages=LANGUAGES, key=key, now=_now())
    except (store.SubscriberError, mailconfig.ConfigError) as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()
    click.echo(f"Subscribed {added.email}: languages {', '.join(added.languages)}; "
               f"changes {', '.join(added.kinds)}.")
    click.echo(f"Unsubscribe token (shown only now; every digest carries it in its unsubscribe links):\n"
               f"  {added.token}")
    click.echo(f"To unsubscribe: newswatch unsubscribe {added.token}\n"
               f"            or: {settings.public_url}/unsubscribe/{added.token}")


@subscribers.command("remove")
@click.argument("email")
@DATABASE_OPTION
def remove(email: str, database_url: str) -> None:
    """Forget EMAIL and its digests, sent or pending."""
    engine = _engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            address = store.remove_subscriber(session, email)
    except (store.SubscriberError, store.SubscriberNotFound) as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()
    click.echo(f"Removed {address}.")


@subscribers.command("list")
@DATABASE_OPTION
@JSON_OPTION
def list_(database_url: str, as_json: bool) -> None:
    """List subscribers with their choices and digest counts."""
    from monitor.cli import _print_json, _print_table, _when

    engine = _engine(database_url)
    with Session(engine) as session:
        rows = store.list_subscribers(session)
    engine.dispose()
    if as_json:
        _print_json([{"email": r.email, "languages": r.languages, "kinds": r.kinds, "subscribed": r.subscribed,
                      "created_at": r.created_at, "unsubscribed_at": r.unsubscribed_at, "sent": r.sent,
                      "pending": r.pending} for r in rows])
        return
    _print_table(["email", "languages", "kinds", "status", "since", "sent", "pending"],
                 [[r.email, ",".join(r.languages), ",".join(r.kinds),
                   "subscribed" if r.subscribed else "unsubscribed",
                   _when(r.created_at if r.subscribed else r.unsubscribed_at), r.sent, r.pending] for r in rows])


@click.command()
@click.argument("token")
@DATABASE_OPTION
def unsubscribe(token: str, database_url: str) -> None:
    """Unsubscribe the owner of TOKEN (from a digest's unsubscribe link); safe to repeat."""
    engine = _engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            done = store.unsubscribe(session, token, now=_now())
    except store.UnknownToken as error:
        raise click.ClickException(
            "unknown unsubscribe token: nothing changed (check that the whole token was copied)"
        ) from error
    finally:
        engine.dispose()
    if done.already:
        click.echo(f"{done.email} was already unsubscribed; nothing changed.")
    else:
        cancelled = f" {_digests(done.cancelled)} not yet sent will not be." if done.cancelled else ""
        click.echo(f"Unsubscribed {done.email}: no more digests.{cancelled}")


# --------------------------------------------------------------------------- notify


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the digests that are due; send and record nothing.")
@click.option("--retry-now", is_flag=True, help="Also retry digests still backing off after an error.")
@click.option("--retry-failed", is_flag=True, help="Also retry digests the server refused for good.")
@DATABASE_OPTION
def notify(dry_run: bool, retry_now: bool, retry_failed: bool, database_url: str) -> None:
    """Send the digest emails that are due (SMTP, or .eml files without NEWSWATCH_SMTP_HOST)."""
    settings = _settings()
    transport = transport_for(settings)
    engine = _engine(database_url)
    try:
        with Session(engine) as session:
            if store.any_subscriber(session) is None:
                click.echo("No subscribers: nothing to send (add one with `newswatch subscribers add EMAIL`).")
                return
        key = _key()
        now = _now()
        if dry_run:
            _dry_run(engine, settings, key, transport.description, now)
            return
        if retry_now or retry_failed:
            with Session(engine) as session, session.begin():
                if retry_failed:
                    outbox.retry_failed(session, now=now)
                if retry_now:
                    outbox.retry_now(session, now=now)
        report = mail.send_due(engine, transport, settings, key)
    except mailconfig.ConfigError as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()
    _report(report, transport.description)


def _dry_run(engine: Engine, settings: mailconfig.MailSettings, key: bytes, destination: str, now: dt.datetime) -> None:
    outgoing = list(mail.preview_due(engine, settings, key, now=now))
    shown = [o for o in outgoing if o.message is not None]
    for o in shown:
        message = o.message
        click.echo(f"--- digest {o.delivery_id} ---")
        for name in ("From", "To", "Subject", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
            click.echo(f"{name}: {message[name]}")
        click.echo("")
        click.echo(message.get_body(("plain",)).get_content())
    for o in outgoing:
        if o.message is None:
            click.echo(f"(would not send the digest to {o.recipient}: {o.cancel_reason})")
    where = "sent via" if destination.startswith("SMTP") else "written to"
    click.echo(f"Dry run: {_digests(len(shown))} would be {where} {destination}; nothing was sent or recorded.")


def _report(report: mail.NotifyReport, destination: str) -> None:
    verb = "Sent" if destination.startswith("SMTP") else "Wrote"
    prep = "via" if destination.startswith("SMTP") else "to"
    if report.sent:
        click.echo(f"{verb} {_digests(len(report.sent))} {prep} {destination}: {', '.join(report.sent)}.")
    for line in report.cancelled:
        click.echo(f"Cancelled the digest to {line}.")
    problems = [f"refused for good: {line}" for line in report.failed]
    problems += [f"will be retried: {line}" for line in report.retrying]
    for line in problems:
        click.echo(f"Not sent, {line}", err=True)
    when = report.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S UTC") if report.next_attempt_at else ""
    if report.error:
        raise click.ClickException(
            f"{report.error}; {_digests(report.pending, 'stay')} pending, next attempt after {when} "
            "(`newswatch notify --retry-now` tries sooner)"
        )
    if report.failed:
        raise click.ClickException(
            f"{_digests(len(report.failed))} refused by the server for good; after fixing the cause, "
            "`newswatch notify --retry-failed` tries again"
        )
    if report.retrying:
        raise click.ClickException(f"{_digests(len(report.retrying), 'stay')} pending, next attempt after {when}")
    if not (report.sent or report.cancelled):
        waiting = f"; {_digests(report.pending)} pending, next attempt after {when}" if report.pending else ""
        click.echo(f"No digest due{waiting}.")
