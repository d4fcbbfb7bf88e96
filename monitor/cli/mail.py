"""The commands of the alert e-mails: subscribers (add, remove, list), unsubscribe, notify."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from monitor import config
from monitor.cli.options import json_option, open_database
from monitor.cli.output import print_json, print_table, when
from monitor.mail.settings import ConfigError, MailSettings, SecretKey

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from monitor.health import HealthSettings
    from monitor.mail.send import NotifyReport


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
@click.option("--languages", default=None,
              help="Comma-separated languages of the releases to hear about [default: every language of the "
                   "configured sites].")
@click.option("--site", "sites", multiple=True, type=config.site_type,
              help="A site whose runs to hear about; repeat for several [default: every site, those added later "
                   "too].")
@click.option("--kinds", help="Comma-separated kinds of change (added, edited, removed) [default: all]; a release "
                                "back online counts as added and as removed.")
@config.public_url_option
@config.secret_key_options
@config.database_option
def add(email: str, languages: str | None, sites: tuple[str, ...], kinds: str | None, public_url: str,
        secret_key: SecretKey, database_url: str) -> None:
    """Subscribe EMAIL and print its unsubscribe token (shown this once)."""
    from sqlalchemy.orm import Session

    from monitor.mail.send import check_secret_key
    from storage import subscribers as store
    from storage.models import SUBSCRIBER_KINDS

    chosen = SUBSCRIBER_KINDS if kinds is None else _split(kinds)
    known = config.languages()
    wanted = list(known) if languages is None else _split(languages)
    try:  # before the database or the key is made: a refused address leaves nothing behind
        store.normalize_email(email)
        store.check_languages(wanted, known)
        store.check_kinds(chosen)
    except store.SubscriberError as error:
        raise click.ClickException(str(error)) from error
    with open_database(database_url, create=True) as engine, Session(engine) as session, session.begin():
        try:
            first = store.any_subscriber(session) is None
            key = secret_key.load(create=first)  # a new key only while no token depends on the old one
            check_secret_key(session, key)
            added = store.add_subscriber(session, email, wanted, chosen, known_languages=known, key=key,
                                         now=_now(), sites=sites, known_sites=config.site_names())
        except (store.SubscriberError, ConfigError) as error:
            raise click.ClickException(str(error)) from error
    of_sites = f"sites {', '.join(added.sites)}; " if added.sites is not None else ""
    click.echo(f"Subscribed {added.email}: {of_sites}languages {', '.join(added.languages)}; "
               f"changes {', '.join(added.kinds)}.")
    click.echo(f"Unsubscribe token (shown only now; every digest carries it in its unsubscribe links):\n"
               f"  {added.token}")
    click.echo(f"To unsubscribe: newswatch unsubscribe {added.token}\n"
               f"            or: {public_url}/unsubscribe/{added.token}")


@subscribers.command("remove")
@click.argument("email")
@config.database_option
def remove(email: str, database_url: str) -> None:
    """Forget EMAIL and its digests, sent or pending."""
    from sqlalchemy.orm import Session

    from storage import subscribers as store

    with open_database(database_url) as engine, Session(engine) as session, session.begin():
        try:
            address = store.remove_subscriber(session, email)
        except (store.SubscriberError, store.SubscriberNotFound) as error:
            raise click.ClickException(str(error)) from error
    click.echo(f"Removed {address}.")


@subscribers.command("list")
@config.database_option
@json_option
def list_(database_url: str, as_json: bool) -> None:
    """List subscribers with their choices and digest counts."""
    from sqlalchemy.orm import Session

    from storage import subscribers as store

    with open_database(database_url) as engine, Session(engine) as session:
        rows = store.list_subscribers(session)
    if as_json:
        print_json([{"email": r.email, "sites": r.sites, "languages": r.languages, "kinds": r.kinds,
                     "subscribed": r.subscribed,
                     "created_at": r.created_at, "unsubscribed_at": r.unsubscribed_at, "sent": r.sent,
                     "pending": r.pending} for r in rows])
        return
    several = config.several_sites()
    print_table(["email", *(["sites"] if several else []), "languages", "kinds", "status", "since", "sent", "pending"],
                [[r.email, *([",".join(r.sites) if r.sites is not None else "all"] if several else []),
                  ",".join(r.languages), ",".join(r.kinds), "subscribed" if r.subscribed else "unsubscribed",
                  when(r.created_at if r.subscribed else r.unsubscribed_at), r.sent, r.pending] for r in rows])


@click.command()
@click.argument("token")
@config.database_option
def unsubscribe(token: str, database_url: str) -> None:
    """Unsubscribe the owner of TOKEN (from a digest's unsubscribe link); safe to repeat."""
    from sqlalchemy.orm import Session

    from storage import subscribers as store

    with open_database(database_url) as engine, Session(engine) as session, session.begin():
        try:
            done = store.unsubscribe(session, token, now=_now())
        except store.UnknownToken as error:
            raise click.ClickException(
                "unknown unsubscribe token: nothing changed (check that the whole token was copied)"
            ) from error
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
@config.operator_email_option
@config.health_options
@config.mail_options
@config.secret_key_options
@config.database_option
def notify(dry_run: bool, retry_now: bool, retry_failed: bool, operator_email: str | None, health: HealthSettings,
           mail_settings: MailSettings, secret_key: SecretKey, database_url: str) -> None:
    """Send the digest emails that are due (SMTP, or .eml files without an SMTP host), and with
    --operator-email each new problem of our own to the operator (`newswatch health`)."""
    from sqlalchemy.orm import Session

    from monitor.mail.send import send_due
    from monitor.mail.transports import transport_for
    from storage import outbox
    from storage import subscribers as store

    transport = transport_for(mail_settings)
    with open_database(database_url) as engine:
        if operator_email and not dry_run:
            _tell_operator(engine, health, mail_settings, operator_email)
        with Session(engine) as session:
            if store.any_subscriber(session) is None:
                click.echo("No subscribers: nothing to send (add one with `newswatch subscribers add EMAIL`).")
                return
        try:
            key, now = secret_key.load(), _now()
            if dry_run:
                _dry_run(engine, mail_settings, key, transport.description, now)
                return
            with Session(engine) as session, session.begin():
                if retry_failed:
                    outbox.retry_failed(session, now=now)
                if retry_now:
                    outbox.retry_now(session, now=now)
            report = send_due(engine, transport, mail_settings, key)
        except ConfigError as error:
            raise click.ClickException(str(error)) from error
    _report(report, transport.description)


def _tell_operator(engine: Engine, health: HealthSettings, settings: MailSettings, operator: str) -> None:
    """Mail the operator each new problem of our own, once (before the digests: their failure is one)."""
    from sqlalchemy.orm import Session

    from monitor.cli.health import tell_operator
    from monitor.health import check

    now = _now()
    with Session(engine) as session:
        found = check(session, health, now=now)
    tell_operator(engine, found, settings, operator, now=now)


def _dry_run(engine: Engine, settings: MailSettings, key: bytes, destination: str, now: dt.datetime) -> None:
    from monitor.mail.send import preview_due

    outgoing = list(preview_due(engine, settings, key, now=now))
    shown = [(o, o.message) for o in outgoing if o.message is not None]
    for o, message in shown:
        click.echo(f"--- digest {o.delivery_id} ---")
        for name in ("From", "To", "Subject", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
            click.echo(f"{name}: {message[name]}")
        click.echo("")
        body = message.get_body(("plain",))
        click.echo(body.get_content() if body is not None else "")
    for o in outgoing:
        if o.message is None:
            click.echo(f"(would not send the digest to {o.recipient}: {o.cancel_reason})")
    where = "sent via" if destination.startswith("SMTP") else "written to"
    click.echo(f"Dry run: {_digests(len(shown))} would be {where} {destination}; nothing was sent or recorded.")


def _report(report: NotifyReport, destination: str) -> None:
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
    when_next = report.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S UTC") if report.next_attempt_at else ""
    if report.error:
        raise click.ClickException(
            f"{report.error}; {_digests(report.pending, 'stay')} pending, next attempt after {when_next} "
            "(`newswatch notify --retry-now` tries sooner)"
        )
    if report.failed:
        raise click.ClickException(
            f"{_digests(len(report.failed))} refused by the server for good; after fixing the cause, "
            "`newswatch notify --retry-failed` tries again"
        )
    if report.retrying:
        raise click.ClickException(f"{_digests(len(report.retrying), 'stay')} pending, next attempt after {when_next}")
    if not (report.sent or report.cancelled):
        waiting = f"; {_digests(report.pending)} pending, next attempt after {when_next}" if report.pending else ""
        click.echo(f"No digest due{waiting}.")
