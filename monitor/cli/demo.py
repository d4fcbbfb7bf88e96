"""`newswatch demo`: serve the fixture mirror, crawl it into the database, print what was stored."""

from __future__ import annotations

import click

from monitor import config
from monitor.cli.options import open_database
from monitor.cli.output import clip, print_table


@click.command()
@click.option("--snapshot", default="v1", show_default=True, help="Which fixture snapshot to serve.")
@click.option("--port", default=8399, show_default=True, help="Port of the local mirror on 127.0.0.1.")
@config.database_option
def demo(snapshot: str, port: int, database_url: str) -> None:
    """Serve the fixture mirror on 127.0.0.1, crawl it into the database, print what was stored."""
    from sqlalchemy.orm import Session

    from crawler.config import BadSetting
    from monitor.crawl import check, crawl
    from monitor.mirror import FIXTURES, Mirror
    from storage.repository import list_articles

    root = FIXTURES / "site" / snapshot
    if not root.is_dir():
        raise click.ClickException(f"no fixture snapshot {snapshot!r} under {FIXTURES / 'site'}")
    settings = {"NEWSWATCH_SITE_URL": f"http://127.0.0.1:{port}", "NEWSWATCH_DATABASE_URL": database_url,
                "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "LOG_LEVEL": "WARNING"}
    try:
        # A full run: the fixture's releases are years old, and an incremental night re-reads
        # only a seventh of those, so a v1 -> v2 demo would show only some of v2's edits.
        check(settings, mode="full")  # the environment's NEWSWATCH_* too, before anything starts
    except BadSetting as error:
        raise click.UsageError(f"the demo's crawl would fail: {error}") from None
    try:
        server = Mirror(root, port)
    except OSError as error:
        raise click.ClickException(f"cannot serve the mirror on 127.0.0.1:{port}: {error} (try --port)") from error
    with server.running() as mirror:
        click.echo(f"Serving {root} at {mirror.base_url}; crawling into {database_url} ...")
        stats = crawl({**settings, "NEWSWATCH_SITE_URL": mirror.base_url}, mode="full")
    if "newswatch/run_id" not in stats:
        raise click.ClickException("the crawl did not start a run; see the log above")
    with open_database(database_url) as engine, Session(engine) as session:
        rows = list_articles(session)
    print_table(["language", "published", "versions", "title"],
                [[r.language, r.published, r.versions, clip(r.title or "", 70)] for r in rows])
    per_language = {lang: sum(r.language == lang for r in rows) for lang in sorted({r.language for r in rows})}
    click.echo(
        f"\nRun {stats['newswatch/run_id']}: {stats.get('downloader/request_count', 0)} requests, "
        f"{stats.get('newswatch/articles_seen', 0)} articles seen, "
        f"{stats.get('newswatch/versions_written', 0)} new versions written. "
        f"Stored: {', '.join(f'{n} {lang}' for lang, n in per_language.items()) or 'nothing'}."
    )
    click.echo("To see the changes and their diffs in a browser: newswatch serve, then open http://127.0.0.1:8400/")
