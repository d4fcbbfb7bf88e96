"""`newswatch schedule`: run the nightly schedule in the foreground, or list its jobs."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor import config
from monitor.cli.mail import notify
from monitor.cli.options import json_option
from monitor.cli.output import print_json, print_table

if TYPE_CHECKING:
    from monitor.scheduler import PlannedJob


@click.command()
@click.option("--list", "list_only", is_flag=True,
              help="Print the jobs stored in the database (what the running scheduler does) and their next run "
                   "times, and exit; say where the options given differ.")
@config.schedule_options
@config.nightly_sites_options[0]
@config.nightly_sites_options[1]
@config.database_option
@json_option
@click.pass_context
def schedule(ctx: click.Context, list_only: bool, cron: str, timezone: str, notify_every: int, misfire_grace: int,
             crawl_timeout: int, log_level: str, sites: tuple[str, ...], site: str | None, database_url: str,
             as_json: bool) -> None:
    """Crawl every night (then detect changes and send digests); retry pending e-mails meanwhile.

    Runs in the foreground until SIGTERM or Ctrl-C, which stop it once the running job ends.
    The jobs are kept in the database, so a restart neither duplicates nor forgets them.
    Every NEWSWATCH_* variable of its environment is passed on to the crawls and e-mails it starts.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from monitor.scheduler import ScheduleConfig, planned_jobs, run_forever

    schedule_config = ScheduleConfig(database_url=database_url, site=site, sites=sites, cron=cron, timezone=timezone,
                                     notify_every_minutes=notify_every, misfire_grace_seconds=misfire_grace,
                                     crawl_timeout_seconds=crawl_timeout)
    try:
        if not list_only:
            _check_crawl_settings(ctx, database_url, site, sites)
            _check_notify_settings(ctx, database_url)
            _configure_logging(log_level)
            run_forever(schedule_config)
            return
        stored = _stored_jobs(database_url, timezone)
    except SQLAlchemyError as error:
        shown = make_url(database_url).render_as_string(hide_password=True)
        raise click.ClickException(f"cannot use database {shown}: {error}") from error
    _print_jobs(stored, planned_jobs(schedule_config), timezone, as_json, _nightly_sites(site, sites))


def _nightly_sites(site: str | None, sites: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The sites a nightly crawl would crawl now, and why those."""
    from monitor.jobs import JobContext

    why = "NEWSWATCH_SITES" if sites else "NEWSWATCH_SITE" if site else "every configured site profile"
    return JobContext(database_url="", site=site, sites=sites).nightly_sites(), why


def _stored_jobs(database_url: str, timezone: str) -> list[PlannedJob]:
    """The jobs stored in the database, read without creating or migrating it."""
    from sqlalchemy.engine import make_url

    from monitor.scheduler import stored_jobs
    from storage.db import make_engine

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return []
    engine = make_engine(database_url)
    try:
        return stored_jobs(engine, timezone)
    finally:
        engine.dispose()


def _print_jobs(stored: list[PlannedJob], planned: list[PlannedJob], timezone: str, as_json: bool,
                nightly: tuple[tuple[str, ...], str]) -> None:
    """The stored jobs, else the planned ones; and where the options given differ from the stored jobs.
    Then the sites the nightly crawl crawls (as these options and the profiles say now)."""
    given = {job.id: job.when for job in planned}
    jobs = stored or planned
    now = dt.datetime.now(dt.UTC)
    sites, why = nightly
    if as_json:
        print_json([{"id": j.id, "name": j.name, "when": j.when, "next_run_time": j.next_run_time,
                     "stored": bool(stored), "when_options": given.get(j.id),
                     **({"sites": list(sites)} if j.id == "nightly-crawl" else {})} for j in jobs])
        return
    if stored:
        click.echo("Jobs stored in the database by the scheduler that last started on it (what it runs while it runs):")
    else:
        click.echo("No scheduler has stored its jobs in this database yet; started with these options, "
                   "`newswatch schedule` would run:")
    overdue = [j for j in stored if j.next_run_time is not None and j.next_run_time < now]
    print_table(["id", "job", "when", f"next run ({timezone})"],
                [[j.id, j.name, j.when, _next_run(j, now)] for j in jobs])
    if overdue:
        click.echo("overdue: the scheduler that stored these jobs is not running (or was not when they were due); "
                   "started again, it runs a missed nightly crawl if within --misfire-grace")
    differing = [f"{j.id} {given[j.id]} (stored: {j.when})" for j in stored if given.get(j.id, j.when) != j.when]
    if differing:
        click.echo(f"The options given differ from the stored jobs: {'; '.join(differing)}. A scheduler started "
                   "with them replaces the stored jobs; one already running goes on with them.")
    if len(sites) > 1 or config.several_sites():  # one site of one profile: nothing to say
        click.echo(f"Each night crawls, one after the other: {', '.join(sites)} ({why}).")


def _next_run(job: PlannedJob, now: dt.datetime) -> str:
    if job.next_run_time is None:
        return "paused"
    shown = job.next_run_time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"{shown} (overdue)" if job.next_run_time < now else shown


def _check_crawl_settings(ctx: click.Context, database_url: str, site: str | None, sites: tuple[str, ...]) -> None:
    """Refuse to start when a nightly crawl, which gets the scheduler's environment, would refuse its settings."""
    from crawler.config import BadSetting
    from monitor.crawl import check_environment
    from monitor.jobs import JobContext

    context = JobContext(database_url=database_url, site=site, sites=sites)
    for name in context.nightly_sites():
        try:
            check_environment(context.child_environ(name))
        except BadSetting as error:
            raise click.UsageError(f"every nightly crawl would fail: {error}", ctx) from None


def _check_notify_settings(ctx: click.Context, database_url: str) -> None:
    """Refuse to start when `newswatch notify`, which every job runs, would refuse its settings."""
    try:
        with notify.make_context("newswatch notify", ["--database", database_url], parent=ctx.parent) as settings:
            config.mail_settings(dict(settings.params))
    except click.UsageError as error:
        raise click.UsageError(f"the e-mails of every night would fail: {error.format_message()}", ctx) from None


def _configure_logging(level: str) -> None:
    """Log lines with their time, as a long-running service's journal wants them."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    # Our jobs log their own start and end lines; APScheduler's "Running job" lines repeat them.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
