"""The commands of the raw archive: show (a stored version, or its page as fetched) and reextract
(every latest version read again by today's extractor)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

import click

from monitor import config
from monitor.cli.options import json_option, open_database
from monitor.cli.output import print_json, when

if TYPE_CHECKING:
    from storage.models import ArticleVersion


@click.command()
@click.argument("url")
@click.option("--version", "number", type=click.IntRange(min=1), metavar="N",
              help="Version N (1 is the first stored; default: the latest).")
@click.option("--raw", is_flag=True, help="Print the page as it was fetched (its HTML bytes), not its text.")
@config.site_option
@config.database_option
@json_option
def show(url: str, number: int | None, raw: bool, site: str, database_url: str, as_json: bool) -> None:
    """Print a stored version of the article at URL, or (--raw) its page as fetched."""
    from sqlalchemy.orm import Session

    from monitor.cli.records import versions_at
    from storage import rawpages

    with open_database(database_url) as engine, Session(engine) as session:
        found = versions_at(session, url, site)
        number = number or len(found)
        if number > len(found):
            raise click.UsageError(f"{unquote(url)} has {len(found)} version(s): choose --version among 1..{len(found)}")
        version = found[number - 1]
        try:
            body = rawpages.load(session, version.raw_sha256) if raw else None
        except rawpages.RawPageMissing:
            raise click.ClickException(_no_page(url, number, version)) from None
    if body is not None:
        click.echo(body, nl=False)  # bytes go to the binary stream as they are
        return
    if as_json:
        print_json({"version": number, "id": version.id, "run": version.run_id, "fetched_at": version.fetched_at,
                    "title": version.title, "published": version.published, "paragraphs": list(version.paragraphs),
                    "text": version.text, "http_status": version.http_status, "content_type": version.content_type,
                    "etag": version.etag, "last_modified": version.last_modified, "raw_sha256": version.raw_sha256,
                    "extraction": version.extraction, "rebaseline": version.rebaseline})
        return
    click.echo(f"{version.title}\n{version.published or '(no date)'} · version {number} of {len(found)}, "
               f"run {version.run_id}, fetched {when(version.fetched_at)} UTC")
    click.echo(_fetch_line(version))
    click.echo(f"\n{version.text}")


def _fetch_line(version: ArticleVersion) -> str:
    """What the archive holds of the response, in one line."""
    if version.raw_sha256 is None:
        return "page: not stored (fetched before the raw archive)"
    parts = [f"HTTP {version.http_status}", version.content_type or "no Content-Type"]
    parts += [f"ETag {version.etag}"] if version.etag else []
    parts += [f"Last-Modified {version.last_modified}"] if version.last_modified else []
    line = f"page: {', '.join(parts)}; sha256 {version.raw_sha256[:12]} (--raw prints it)"
    if version.rebaseline:
        line += f"\nre-read by a newer extractor ({version.extraction}): not a change of the page"
    return line


def _no_page(url: str, number: int, version: ArticleVersion) -> str:
    if version.raw_sha256 is None:
        return f"version {number} of {unquote(url)} has no stored page: it was fetched before the raw archive existed"
    return (f"version {number} of {unquote(url)}: its page (sha256 {version.raw_sha256[:12]}) was pruned "
            "(NEWSWATCH_RAW_KEEP_DAYS); the text is kept (`newswatch show` without --raw)")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be re-baselined.")
@config.database_option
@json_option
def reextract(dry_run: bool, database_url: str, as_json: bool) -> None:
    """Read every article's latest version again from its stored page with today's extractor, and
    re-baseline those it reads otherwise (so the next crawl reports no change for them)."""
    from sqlalchemy.orm import Session

    from monitor.reextract import reextract as reextract_all

    with open_database(database_url) as engine, Session(engine) as session:
        found = reextract_all(session, dry_run=dry_run)
        if not dry_run:
            session.commit()
    if as_json:
        print_json({"dry_run": dry_run, "checked": found.checked, "no_page": found.no_page,
                    "rebaselined": [{"url": r.url, "version_id": r.version_id, "summary": r.summary}
                                    for r in found.rebaselined],
                    "failed": [{"url": url, "error": why} for url, why in found.failed]})
        return
    for reread in found.rebaselined:
        click.echo(f"{unquote(reread.url)}: {reread.summary}")
    for url, why in found.failed:
        click.echo(f"{unquote(url)}: {why}", err=True)
    verb = "would re-baseline" if dry_run else "re-baselined"
    line = f"{verb} {len(found.rebaselined)} of {found.checked} latest versions"
    if found.no_page:
        line += f"; {found.no_page} without a stored page (fetched before the raw archive, or pruned) not read"
    click.echo(line)
