"""`newswatch schedule`: run the nightly schedule in the foreground, or list its jobs."""

from __future__ import annotations

import logging

import click

from monitor import config
from monitor.cli.mail import notify
from monitor.cli.options import json_option
from monitor.cli.output import print_json, print_table


@click.command()
@click.option("--list", "list_only", is_flag=True, help="Print the jobs and their next run times, and exit.")
@config.schedule_options
@config.site_option
@config.database_option
@json_option
@click.pass_context
def schedule(ctx: click.Context, list_only: bool, cron: str, timezone: str, notify_every: int, misfire_grace: int,
             log_level: str, site: str, database_url: str, as_json: bool) -> None:
    """Crawl every night (then detect changes and send digests); retry pending e-mails meanwhile.

    Runs in the foreground until SIGTERM or Ctrl-C, which stop it once the running job ends.
    The jobs are kept in the database, so a restart neither duplicates nor forgets them.
    Every NEWSWATCH_* variable of its environment is passed on to the crawls and e-mails it starts.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from monitor.scheduler import ScheduleConfig, planned_jobs, run_forever

    schedule_config = ScheduleConfig(database_url=database_url, site=site, cron=cron, timezone=timezone,
                                     notify_every_minutes=notify_every, misfire_grace_seconds=misfire_grace)
    try:
        if not list_only:
            _check_crawl_settings(ctx, database_url, site)
            _check_notify_settings(ctx, database_url)
            _configure_logging(log_level)
            run_forever(schedule_config)
            return
        jobs = planned_jobs(schedule_config)
    except SQLAlchemyError as error:
        shown = make_url(database_url).render_as_string(hide_password=True)
        raise click.ClickException(f"cannot use database {shown}: {error}") from error
    if as_json:
        print_json([{"id": j.id, "name": j.name, "when": j.when, "next_run_time": j.next_run_time} for j in jobs])
        return
    print_table(["id", "job", "when", f"next run ({timezone})"],
                [[j.id, j.name, j.when, j.next_run_time.strftime("%Y-%m-%d %H:%M:%S %Z") if j.next_run_time else
                  "never"] for j in jobs])


def _check_crawl_settings(ctx: click.Context, database_url: str, site: str) -> None:
    """Refuse to start when the nightly crawl, which gets the scheduler's environment, would refuse its settings."""
    from crawler.config import BadSetting
    from monitor.crawl import check_environment
    from monitor.jobs import JobContext

    try:
        check_environment(JobContext(database_url=database_url, site=site).child_environ())
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
