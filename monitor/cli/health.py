"""`newswatch health`: is newswatch working? For systemd timers, cron and monitoring systems.

Nagios convention: exit 0 OK, 1 WARNING, 2 CRITICAL, one line of why, then one per site when there
are several (`--json` for scripts);
`--notify` also mails each new problem to the operator once (monitor.mail.operator).
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING

import click

from monitor import config
from monitor.cli.options import json_option, open_database
from monitor.cli.output import print_json

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from monitor.health import Health, HealthSettings
    from monitor.mail.settings import MailSettings


@click.command()
@click.option("--notify", "announce", is_flag=True,
              help="Also mail each new problem to --operator-email (once per problem).")
@config.operator_email_option
@config.health_options
@config.mail_options
@config.database_option
@json_option
def health(announce: bool, operator_email: str | None, health: HealthSettings, mail_settings: MailSettings,
           database_url: str, as_json: bool) -> None:
    """Say whether the last runs, the schedule and e-mail are healthy; exit 0 OK, 1 WARNING, 2 CRITICAL."""
    from sqlalchemy.orm import Session

    from monitor.health import check

    now = dt.datetime.now(dt.UTC)
    with open_database(database_url) as engine:
        with Session(engine) as session:
            found = check(session, health, now=now)
        if announce:
            if not operator_email:
                raise click.UsageError("--notify needs --operator-email (or NEWSWATCH_OPERATOR_EMAIL)")
            tell_operator(engine, found, mail_settings, operator_email, now=now)
    if as_json:
        print_json(found.as_json(now))
    else:
        click.echo("\n".join(found.lines(now)))
    sys.exit(found.status)


def tell_operator(engine: Engine, found: Health, settings: MailSettings, operator: str, *, now: dt.datetime) -> None:
    """Mail the operator each problem of `found` not yet announced; say so on stderr."""
    from monitor.mail.operator import announce
    from monitor.mail.transports import transport_for

    done = announce(engine, found, transport_for(settings), settings, operator, now=now)
    for problem in done.sent:
        click.echo(f"Told {operator}: {problem}.", err=True)
    if done.error:
        click.echo(f"Could not tell {operator} (tried again next time): {done.error}", err=True)
