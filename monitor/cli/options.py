"""What the commands share: the --json and --run options, and the one way to open the database.

The settings themselves (database URL, site, mail, schedule) are declared in monitor.config.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
run_option = click.option("--run", "run", default="latest", show_default=True, help="A run id, or `latest`.")
wide_option = click.option("--wide", is_flag=True,
                           help="Show every column whole (by default titles are cut to fit the terminal).")


@contextmanager
def open_database(database_url: str, *, create: bool = False) -> Iterator[Engine]:
    """The migrated database at `database_url`; its engine is disposed on leaving, whatever happens.

    A SQLite file that does not exist is an error unless `create`: a command that only reads
    never leaves an empty database behind.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import make_engine, migrate

    url = make_url(database_url)  # monitor.config.DatabaseURL has checked it
    if not create and url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise click.ClickException(
            f"no database at {url.database}: run `scrapy crawl news` or `newswatch demo` first, or give --database"
        )
    engine = make_engine(database_url)
    try:
        try:
            migrate(engine)
        except SQLAlchemyError as error:
            raise click.ClickException(
                f"cannot open database {url.render_as_string(hide_password=True)}: {error}") from error
        yield engine
    finally:
        engine.dispose()


def run_id(session: Session, run: str) -> int:
    """The id a --run value names (`latest` or a number); RunNotFound when there is no run yet."""
    from storage.runs import latest_run_id

    if run == "latest":
        return latest_run_id(session)
    if not run.isdigit():
        raise click.BadParameter(f"{run!r} is neither a run id nor `latest`", param_hint="'--run'")
    return int(run)
