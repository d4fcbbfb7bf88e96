"""The `newswatch` command line: one thin command per library function."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
import urllib.request
from urllib.parse import unquote
from collections.abc import Iterable, Sequence
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crawler.extraction import NotAnArticle, extract
from crawler.settings import USER_AGENT
from crawler.sites import ICESCO, PROFILES
from crawler.urls import canonicalize
from monitor import diff, diffview
from monitor.detect import count_summary, detect_run
from storage import repository
from storage.models import Article
from storage.changes import list_changes
from storage.runs import RunNotFound, latest_run_id, list_runs
from storage.db import DEFAULT_DATABASE_URL, make_engine, migrate

DATABASE_OPTION = click.option(
    "--database", "database_url", envvar="NEWSWATCH_DATABASE_URL", default=DEFAULT_DATABASE_URL,
    show_default=True, help="SQLAlchemy database URL (env NEWSWATCH_DATABASE_URL).",
)
LANGUAGES = sorted({language for profile in PROFILES.values() for language in profile.languages})
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """newswatch: crawl an organisation's news releases, store every version, report changes."""


@main.command("extract")
@click.argument("source")
@click.option("--url", help="The page's URL (needed for a file: it gives the language and date).")
@JSON_OPTION
def extract_cmd(source: str, url: str | None, as_json: bool) -> None:
    """Extract one release from a saved page (PATH) or a live URL, and print it."""
    if source.startswith(("http://", "https://")):
        url = url or source
        request = urllib.request.Request(source, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
        except OSError as error:
            raise click.ClickException(f"could not fetch {source}: {error}") from error
    else:
        path = Path(source)
        if not path.is_file():
            raise click.ClickException(f"no such file: {source}")
        if not url:
            raise click.UsageError("give --url URL for a file: the article's URL tells its language and date")
        body = path.read_bytes()
    try:
        content = extract(body, url)
    except NotAnArticle as error:
        raise click.ClickException(f"no article in {source}: {error}") from error
    record = {
        "url": content.url, "language": content.language, "title": content.title,
        "published": content.published.isoformat() if content.published else None,
        "paragraphs": list(content.paragraphs), "text": content.text,
    }
    if as_json:
        _print_json(record)
    else:
        click.echo(f"{content.title}\n{record['published'] or '(no date)'} · {content.language} · {content.url}\n")
        click.echo(content.text)


@main.command()
@click.option("--language", "-l", type=click.Choice(LANGUAGES), help="Only this language.")
@DATABASE_OPTION
@JSON_OPTION
def articles(language: str | None, database_url: str, as_json: bool) -> None:
    """List stored articles with their version counts."""
    with _session(database_url) as session:
        rows = repository.list_articles(session, language=language)
    if as_json:
        _print_json([_row(r, "url", "language", "title", "published", "versions", "state") for r in rows])
    else:
        _print_table(["language", "published", "versions", "state", "title", "url"],
                     [[r.language, r.published, r.versions, r.state, _clip(r.title, 60), unquote(r.url)] for r in rows])


@main.command()
@DATABASE_OPTION
@JSON_OPTION
def runs(database_url: str, as_json: bool) -> None:
    """List crawl runs, newest first, with their statistics."""
    with _session(database_url) as session:
        rows = list_runs(session)
    if as_json:
        _print_json([_row(r, "id", "site", "status", "started_at", "finished_at", "is_baseline", "stats")
                     for r in rows])
    else:
        _print_table(
            ["id", "status", "started", "finished", "requests", "items", "new versions"],
            [[r.id, r.status + (" (baseline)" if r.is_baseline else ""), _when(r.started_at), _when(r.finished_at),
              r.stats.get("requests", ""), r.stats.get("items", ""), r.stats.get("versions_written", "")]
             for r in rows],
        )


@main.command()
@click.option("--run", "run", default="latest", show_default=True, help="A run id, or `latest`.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Every run started on or after this date.")
@click.option("--baseline", is_flag=True, help="Include the additions of baseline runs.")
@DATABASE_OPTION
@JSON_OPTION
def changes(run: str, since: dt.datetime | None, baseline: bool, database_url: str, as_json: bool) -> None:
    """List what runs added, edited, removed or restored."""
    with _session(database_url) as session:
        try:
            run_id = None if since else _run_id(session, run)
            rows = list_changes(session, run_id, since.date() if since else None, include_baseline=baseline)
        except RunNotFound as error:
            raise click.ClickException(str(error)) from error
    if as_json:
        _print_json([{"kind": r.kind, "url": r.url, "language": r.language, "title": r.title, "fields": list(r.fields),
                      "summary": r.summary, "run": r.run_id} for r in rows])
    else:
        _print_table(["run", "kind", "language", "title", "summary", "url"],
                     [[r.run_id, r.kind, r.language, _clip(r.title, 50), _clip(r.summary, 60), unquote(r.url)]
                      for r in rows])


@main.command("history")
@click.argument("url")
@DATABASE_OPTION
@JSON_OPTION
def history_cmd(url: str, database_url: str, as_json: bool) -> None:
    """List the stored versions of the article at URL (any spelling of it)."""
    with _session(database_url) as session:
        found = _versions(session, url)
        rows = [{"version": n, "id": v.id, "run": v.run_id, "fetched_at": v.fetched_at, "title": v.title,
                 "published": v.published, "words": len(v.text.split())} for n, v in enumerate(found, 1)]
    if as_json:
        _print_json(rows)
    else:
        _print_table(["version", "run", "fetched", "published", "words", "title"],
                     [[r["version"], r["run"], _when(r["fetched_at"]), r["published"], r["words"],
                       _clip(r["title"], 60)] for r in rows])


@main.command("diff")
@click.argument("url")
@click.option("--from", "from_", type=int, help="Version number to compare from (default: the one before --to).")
@click.option("--to", type=int, help="Version number to compare to (default: the latest).")
@click.option("--html", "as_html", is_flag=True, help="Print an HTML fragment instead of text.")
@click.option("--color/--no-color", default=None, help="Colour the text diff (default: when a terminal).")
@DATABASE_OPTION
def diff_cmd(url: str, from_: int | None, to: int | None, as_html: bool, color: bool | None,
             database_url: str) -> None:
    """Show the word-level diff between two versions of the article at URL."""
    with _session(database_url) as session:
        found = _versions(session, url)
        to = to or len(found)
        from_ = from_ or to - 1
        if not (1 <= from_ <= len(found) and 1 <= to <= len(found)) or from_ == to:
            raise click.UsageError(f"{unquote(url)} has {len(found)} version(s): "
                                   f"choose two different ones among 1..{len(found)} with --from and --to")
        old, new = found[from_ - 1], found[to - 1]
        article = session.get(Article, new.article_id)
        language, site = article.language, article.site
        content = diff.compare(old, new)
    if as_html:
        profile = PROFILES.get(site)
        click.echo(diffview.render_html(content, rtl=bool(profile) and language in profile.rtl_languages,
                                        lang=language))
        return
    click.echo(f"version {from_} → {to}: {diffview.summary(content)}")
    click.echo(diffview.render_text(content, color=sys.stdout.isatty() if color is None else color))


@main.command()
@click.option("--run", "run", default="latest", show_default=True, help="A run id, or `latest`.")
@DATABASE_OPTION
def detect(run: str, database_url: str) -> None:
    """Recompute a run's changes (idempotent) and print how many of each kind."""
    with _session(database_url) as session, session.begin():
        try:
            run_id = _run_id(session, run)
            counts = count_summary(detect_run(session, run_id))
        except RunNotFound as error:
            raise click.ClickException(str(error)) from error
    click.echo(f"run {run_id}: {counts}")


def _run_id(session: Session, run: str) -> int:
    if run == "latest":
        return latest_run_id(session)
    if not run.isdigit():
        raise click.BadParameter(f"{run!r} is neither a run id nor `latest`", param_hint="--run")
    return int(run)


def _versions(session: Session, url: str) -> list:
    """The versions of the article at any spelling of `url`; a clear error when it is unknown."""
    site_url = os.environ.get("NEWSWATCH_SITE_URL", "https://icesco.org")
    candidates = [url, canonicalize(url, ICESCO, site_url), canonicalize(url, ICESCO, url)]
    for candidate in dict.fromkeys(c for c in candidates if c):
        if found := repository.versions_of(session, candidate):
            return found
    raise click.ClickException(f"no article stored at {url} (see `newswatch articles`)")


@main.command()
@click.option("--snapshot", default="v1", show_default=True, help="Which fixture snapshot to serve.")
@click.option("--port", default=8399, show_default=True, help="Port of the local mirror on 127.0.0.1.")
@DATABASE_OPTION
def demo(snapshot: str, port: int, database_url: str) -> None:
    """Serve the fixture mirror on 127.0.0.1, crawl it into the database, print what was stored."""
    from monitor.crawl import crawl
    from monitor.mirror import FIXTURES, Mirror

    root = FIXTURES / "site" / snapshot
    if not root.is_dir():
        raise click.ClickException(f"no fixture snapshot {snapshot!r} under {FIXTURES / 'site'}")
    try:
        server = Mirror(root, port)
    except OSError as error:
        raise click.ClickException(f"cannot serve the mirror on 127.0.0.1:{port}: {error} (try --port)") from error
    with server.running() as mirror:
        click.echo(f"Serving {root} at {mirror.base_url}; crawling into {database_url} ...")
        # A full run: the fixture's releases are years old, and an incremental night re-reads
        # only a seventh of those, so a v1 -> v2 demo would show only some of v2's edits.
        stats = crawl({
            "NEWSWATCH_SITE_URL": mirror.base_url, "NEWSWATCH_DATABASE_URL": database_url,
            "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "LOG_LEVEL": "WARNING",
        }, mode="full")
    if "newswatch/run_id" not in stats:
        raise click.ClickException("the crawl did not start a run; see the log above")
    with _session(database_url) as session:
        rows = repository.list_articles(session)
    _print_table(["language", "published", "versions", "title"],
                 [[r.language, r.published, r.versions, _clip(r.title, 70)] for r in rows])
    per_language = {lang: sum(r.language == lang for r in rows) for lang in sorted({r.language for r in rows})}
    click.echo(
        f"\nRun {stats['newswatch/run_id']}: {stats.get('downloader/request_count', 0)} requests, "
        f"{stats.get('newswatch/articles_seen', 0)} articles seen, "
        f"{stats.get('newswatch/versions_written', 0)} new versions written. "
        f"Stored: {', '.join(f'{n} {lang}' for lang, n in per_language.items()) or 'nothing'}."
    )


def _session(database_url: str) -> Session:
    """A session on an existing database; a clear error when there is none."""
    try:
        url = make_url(database_url)
    except Exception as error:  # sqlalchemy raises ArgumentError, ValueError...
        raise click.ClickException(f"not a database URL: {database_url!r} ({error})") from error
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise click.ClickException(
            f"no database at {url.database}: run `scrapy crawl news` or `newswatch demo` first, or give --database"
        )
    try:
        engine: Engine = make_engine(database_url)
        migrate(engine)
    except SQLAlchemyError as error:
        raise click.ClickException(f"cannot open database {url.render_as_string(hide_password=True)}: {error}") \
            from error
    return Session(engine)


def _row(record: object, *fields: str) -> dict:
    values = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else vars(record)
    return {field: values[field] for field in fields}


def _print_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value: object) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not rows:
        click.echo("(none)")
        return
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "  ".join("{:<%d}" % w for w in widths)
    click.echo(line.format(*headers).rstrip())
    click.echo(line.format(*("-" * w for w in widths)).rstrip())
    for row in rows:
        click.echo(line.format(*row).rstrip())


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


from monitor.cli_mail import notify, subscribers, unsubscribe  # noqa: E402
main.add_command(subscribers); main.add_command(unsubscribe); main.add_command(notify)

from monitor.cli_schedule import schedule  # noqa: E402
main.add_command(schedule)


if __name__ == "__main__":
    sys.exit(main())
