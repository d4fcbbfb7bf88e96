"""The `newswatch` command line: one thin command per library function, in modules by topic.

`records` (articles, runs, changes, history, diff, detect, extract), `archive` (show, reextract),
`holds` (release, rebaseline), `health`, `mail` (subscribers, unsubscribe, notify), `schedule`, `demo`
and `serve` (the web view); their settings are declared in monitor.config.
The command modules import only click at load time: each command imports what it uses.
"""

from __future__ import annotations

import sys

import click

from monitor import config
from monitor.cli import archive, demo, health, holds, mail, records, schedule, serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """newswatch: crawl an organisation's news releases, store every version, report changes."""
    # Before any command reads its options: a bad site profile is one line and status 2, as for
    # any bad setting, never a traceback halfway through a command. But `notify`: the digests of
    # the other sites go out while one site's profile is being mended (its crawl failed on it).
    if ctx.invoked_subcommand != "notify" and (problem := config.check_profiles()):
        click.echo(f"newswatch: {problem}", err=True)
        sys.exit(2)


for command in (
    records.extract, records.articles, records.runs, records.changes, records.history, records.diff, records.detect,
    archive.show, archive.reextract,
    holds.release, holds.rebaseline, health.health,
    demo.demo, mail.subscribers, mail.unsubscribe, mail.notify, schedule.schedule, serve.serve,
):
    main.add_command(command)
