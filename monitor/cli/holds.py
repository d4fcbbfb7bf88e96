"""The operator's decision on a run the brake held (monitor.brake): release it, or rebaseline it."""

from __future__ import annotations

import click

from monitor import config
from monitor.cli.options import open_database


@click.command()
@click.argument("run", type=int)
@config.database_option
def release(run: int, database_url: str) -> None:
    """Send the digests of RUN, held by the brake on alert storms: its changes are real."""
    from sqlalchemy.orm import Session

    from monitor.holds import NotHeld
    from monitor.holds import release as release_run
    from storage.runs import RunNotFound

    with open_database(database_url) as engine, Session(engine) as session, session.begin():
        try:
            queued = release_run(session, run)
        except (RunNotFound, NotHeld) as error:
            raise click.ClickException(str(error)) from error
    digests = f"{queued} digest" + ("" if queued == 1 else "s")
    click.echo(f"Released run {run}: {digests} queued (`newswatch notify` sends them; the scheduler does "
               "within minutes).")


@click.command()
@click.argument("run", type=int)
@config.database_option
def rebaseline(run: int, database_url: str) -> None:
    """Accept the changes of RUN, held by the brake, silently: recorded as the new baseline, never mailed."""
    from sqlalchemy.orm import Session

    from monitor.holds import NotHeld
    from monitor.holds import rebaseline as rebaseline_run
    from storage.runs import RunNotFound

    with open_database(database_url) as engine, Session(engine) as session, session.begin():
        try:
            count = rebaseline_run(session, run)
        except (RunNotFound, NotHeld) as error:
            raise click.ClickException(str(error)) from error
    click.echo(f"Rebaselined run {run}: its {count} changes are the new baseline, mailed to nobody "
               f"(`newswatch changes --run {run} --baseline` lists them).")
