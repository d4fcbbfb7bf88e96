"""`newswatch schedule`: run the nightly schedule in the foreground, or list its jobs."""

from __future__ import annotations

import logging
import os

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from monitor.scheduler import DEFAULT_CRON, ScheduleConfig, ScheduleError, planned_jobs, run_forever
from storage.db import DEFAULT_DATABASE_URL


@click.command()
@click.option("--list", "list_only", is_flag=True, help="Print the jobs and their next run times, and exit.")
@click.option("--cron", envvar="NEWSWATCH_SCHEDULE", default=DEFAULT_CRON, show_default=True,
              help="When the nightly crawl runs: a crontab expression (env NEWSWATCH_SCHEDULE).")
@click.option("--timezone", envvar="NEWSWATCH_TIMEZONE", default="UTC", show_default=True,
              help="The time zone of --cron and of printed times (env NEWSWATCH_TIMEZONE).")
@click.option("--notify-every", envvar="NEWSWATCH_NOTIFY_EVERY", type=click.IntRange(min=1), default=5,
              show_default=True, help="Minutes between retries of pending e-mails (env NEWSWATCH_NOTIFY_EVERY).")
@click.option("--misfire-grace", envvar="NEWSWATCH_MISFIRE_GRACE", type=click.IntRange(min=1), default=3600,
              show_default=True, help="Seconds a nightly crawl may start late (after a sleep or a restart); "
                                      "later, it is skipped until the next night (env NEWSWATCH_MISFIRE_GRACE).")
@click.option("--database", "database_url", envvar="NEWSWATCH_DATABASE_URL", default=DEFAULT_DATABASE_URL,
              show_default=True, help="SQLAlchemy database URL (env NEWSWATCH_DATABASE_URL).")
@click.option("--json", "as_json", is_flag=True, help="With --list: print JSON for scripts.")
def schedule(list_only: bool, cron: str, timezone: str, notify_every: int, misfire_grace: int,
             database_url: str, as_json: bool) -> None:
    """Crawl every night (then detect changes and send digests); retry pending e-mails meanwhile.

    Runs in the foreground until SIGTERM or Ctrl-C, which stop it once the running job ends.
    The jobs are kept in the database, so a restart neither duplicates nor forgets them.
    """
    from monitor.cli import _print_json, _print_table  # monitor.cli imports this module

    # The jobs and the crawls they start read the database (like every NEWSWATCH_* setting)
    # from the environment, so that the job store never holds a password.
    os.environ["NEWSWATCH_DATABASE_URL"] = database_url
    config = ScheduleConfig(database_url=database_url, cron=cron, timezone=timezone,
                            notify_every_minutes=notify_every, misfire_grace_seconds=misfire_grace)
    shown_url = _shown(database_url)
    try:
        if not list_only:
            _configure_logging()
            run_forever(config)
            return
        jobs = planned_jobs(config)
    except ScheduleError as error:
        raise click.ClickException(str(error)) from error
    except SQLAlchemyError as error:
        raise click.ClickException(f"cannot use database {shown_url}: {error}") from error
    if as_json:
        _print_json([{"id": j.id, "name": j.name, "when": j.when, "next_run_time": j.next_run_time} for j in jobs])
        return
    _print_table(["id", "job", "when", f"next run ({timezone})"],
                 [[j.id, j.name, j.when, j.next_run_time.strftime("%Y-%m-%d %H:%M:%S %Z") if j.next_run_time else
                   "never"] for j in jobs])


def _shown(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 -- an unparsable URL is shown as given, SQLAlchemy says why later
        return database_url


def _configure_logging() -> None:
    """Log lines with their time, as a long-running service's journal wants them."""
    logging.basicConfig(level=os.environ.get("NEWSWATCH_LOG_LEVEL", "INFO"),
                        format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    # Our jobs log their own start and end lines; APScheduler's "Running job" lines repeat them.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
