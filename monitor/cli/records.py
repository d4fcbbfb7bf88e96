"""The commands that read what was recorded: articles, runs, changes, history, diff; and the two that
recompute it: detect (a run's changes) and extract (one page, without storing it).

Each command imports what it uses when it runs (SQLAlchemy, extraction, diffs), so that
`newswatch --help` and the light commands do not pay for the heavy ones.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import click

from monitor import config
from monitor.cli.options import json_option, open_database, run_id, run_option, wide_option
from monitor.cli.output import fields, print_json, print_table, when

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor.brake import BrakeSettings
    from storage.models import ArticleVersion
    from storage.runs import RunSummary


@click.command()
@click.option("--language", "-l", type=config.language_type, help="Only this language.")
@config.database_option
@json_option
@wide_option
def articles(language: str | None, database_url: str, as_json: bool, wide: bool) -> None:
    """List stored articles with their version counts."""
    from sqlalchemy.orm import Session

    from storage.repository import list_articles

    with open_database(database_url) as engine, Session(engine) as session:
        rows = list_articles(session, language=language)
    if as_json:
        print_json([fields(r, "url", "language", "title", "published", "versions", "state") for r in rows])
        return
    print_table(["language", "published", "versions", "state", "title", "url"],
                [[r.language, r.published, r.versions, r.state, r.title, unquote(r.url)] for r in rows],
                shrink={"title"}, wide=wide)


@click.command()
@click.option("--site", type=config.site_type, default=None, help="Only the runs of this site.")
@config.database_option
@json_option
@wide_option
def runs(site: str | None, database_url: str, as_json: bool, wide: bool) -> None:
    """List crawl runs, newest first, with their statistics (and their site, when there are several)."""
    from sqlalchemy.orm import Session

    from storage.runs import list_runs

    with open_database(database_url) as engine, Session(engine) as session:
        rows = [r for r in list_runs(session) if site is None or r.site == site]
    if as_json:
        print_json([fields(r, "id", "site", "status", "started_at", "finished_at", "is_baseline", "stats", "reason",
                           "hold", "hold_reason", "hold_evidence") for r in rows])
        return
    several = config.several_sites() and site is None
    print_table(
        ["id", *(["site"] if several else []), "status", "started", "finished", "requests", "items", "new versions",
         "reason"],
        [[r.id, *([r.site] if several else []), _status(r), when(r.started_at), when(r.finished_at),
          r.stats.get("requests", ""),
          r.stats.get("items", ""), r.stats.get("versions_written", ""),
          f"held: {r.hold_reason}" if r.hold == "held" else r.reason]
         for r in rows],
        shrink={"reason"}, wide=wide,
    )


def _status(run: RunSummary) -> str:
    """`complete`, `held`, `complete (released)`, `complete (baseline)`..."""
    if run.hold == "held":
        return "held"
    notes = [note for note in ("baseline" if run.is_baseline else None, run.hold) if note]
    return run.status + (f" ({', '.join(notes)})" if notes else "")


@click.command()
@run_option
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Every run started on or after this date.")
@click.option("--baseline", is_flag=True, help="Include the additions of baseline runs.")
@click.option("--site", type=config.site_type, default=None,
              help="Only the changes of this site (with --since; a run is of one site).")
@config.database_option
@json_option
@wide_option
def changes(run: str, since: dt.datetime | None, baseline: bool, site: str | None, database_url: str, as_json: bool,
            wide: bool) -> None:
    """List what runs added, edited, removed or restored (and of which site, when there are several)."""
    from sqlalchemy.orm import Session

    from storage.changes import list_changes
    from storage.models import CrawlRun
    from storage.runs import RunNotFound

    with open_database(database_url) as engine, Session(engine) as session:
        try:
            chosen = None if since else run_id(session, run)
            only = None if site is None else {site}
            rows = list_changes(session, chosen, since.date() if since else None, include_baseline=baseline,
                                sites=only)
            shown = sorted({r.run_id for r in rows} | ({chosen} if chosen is not None else set()))
            held = [held for held in (session.get(CrawlRun, n) for n in shown) if held is not None and held.hold == "held"]
            notes = [_held_note(crawl.id, crawl.hold_reason or "", crawl.hold_evidence or []) for crawl in held]
            # Nothing to show, but a baseline stored what it found: say where it is.
            hidden = [] if rows or baseline else list_changes(session, chosen, since.date() if since else None,
                                                              include_baseline=True, sites=only)
        except RunNotFound as error:
            raise click.ClickException(str(error)) from error
    if as_json:
        several = config.several_sites()  # one site: the keys scripts have always read
        print_json([{"kind": r.kind, "url": r.url, "language": r.language, "title": r.title, "fields": list(r.fields),
                     "summary": r.summary, "run": r.run_id, **({"site": r.site} if several else {})} for r in rows])
        return
    several = config.several_sites() and site is None
    print_table(["run", *(["site"] if several else []), "kind", "language", "title", "summary", "url"],
                [[r.run_id, *([r.site] if several else []), r.kind, r.language, r.title, r.summary, unquote(r.url)]
                 for r in rows],
                shrink={"title", "summary"}, wide=wide)
    if hidden:
        runs = sorted({r.run_id for r in hidden})
        which = f"run {runs[0]} is" if len(runs) == 1 else f"runs {', '.join(map(str, runs))} are"
        again = f"--run {runs[0]}" if chosen is not None else f"--since {since:%Y-%m-%d}" if since else ""
        click.echo(f"{which} the baseline: {len(hidden)} articles recorded as added, never reported; "
                   f"`newswatch changes {again + ' ' if again else ''}--baseline` lists them")
    for note in notes:
        click.echo(note)


def _held_note(run: int, reason: str, evidence: list[dict[str, object]]) -> str:
    """Why a run is held, the common text that explains it, and what the operator can do."""
    lines = [f"run {run} is held for the operator, no digest sent: {reason}"]
    for common in evidence:
        verb = "added to" if common["change"] == "added" else "gone from"
        lines.append(f"  {verb} {common['articles']} articles: \u201c{common['text']}\u201d")
    lines.append(f"  `newswatch release {run}` sends its digests; `newswatch rebaseline {run}` accepts it silently")
    return "\n".join(lines)


@click.command("history")
@click.argument("url")
@click.option("--version", "number", type=click.IntRange(min=1), metavar="N",
              help="Print the text of version N (1 is the first stored) instead of the list.")
@config.site_option
@config.database_option
@json_option
@wide_option
def history(url: str, number: int | None, site: str, database_url: str, as_json: bool, wide: bool) -> None:
    """List the stored versions of the article at URL (any spelling of it), or print one."""
    from sqlalchemy.orm import Session

    with open_database(database_url) as engine, Session(engine) as session:
        found = versions_at(session, url, site)
    if number is not None:
        _print_version(url, found, number, as_json)
        return
    if as_json:
        print_json([{"version": n, "id": v.id, "run": v.run_id, "fetched_at": v.fetched_at, "title": v.title,
                     "published": v.published, "words": len(v.text.split()), "rebaseline": v.rebaseline}
                    for n, v in enumerate(found, 1)])
        return
    # A re-baseline is the page of the version before it, read by a newer extractor.
    print_table(["version", "run", "fetched", "published", "words", "title"],
                [[f"{n} (re-read)" if v.rebaseline else n, v.run_id, when(v.fetched_at), v.published,
                  len(v.text.split()), v.title] for n, v in enumerate(found, 1)], shrink={"title"}, wide=wide)


def _print_version(url: str, found: list[ArticleVersion], number: int, as_json: bool) -> None:
    """Version `number` of an article: its title, date and text, as stored."""
    if number > len(found):
        raise click.UsageError(f"{unquote(url)} has {len(found)} version(s): choose --version among 1..{len(found)}")
    version = found[number - 1]
    if as_json:
        print_json({"version": number, "id": version.id, "run": version.run_id, "fetched_at": version.fetched_at,
                    "title": version.title, "published": version.published, "paragraphs": list(version.paragraphs),
                    "text": version.text})
        return
    click.echo(f"{version.title}\n{version.published or '(no date)'} · version {number} of {len(found)}, "
               f"run {version.run_id}, fetched {when(version.fetched_at)} UTC\n")
    click.echo(version.text)


@click.command("diff")
@click.argument("url")
@click.option("--from", "from_", type=int, help="Version number to compare from (default: the one before --to).")
@click.option("--to", type=int, help="Version number to compare to (default: the latest).")
@click.option("--html", "as_html", is_flag=True, help="Print an HTML fragment instead of text.")
@click.option("--color/--no-color", default=None, help="Colour the text diff (default: when a terminal).")
@config.site_option
@config.database_option
def diff(url: str, from_: int | None, to: int | None, as_html: bool, color: bool | None, site: str,
         database_url: str) -> None:
    """Show the word-level diff between two versions of the article at URL."""
    from sqlalchemy.orm import Session

    from monitor import diffview
    from monitor.diff import compare
    from storage.models import Article

    with open_database(database_url) as engine, Session(engine) as session:
        found = versions_at(session, url, site)
        to = to or len(found)
        from_ = from_ or to - 1
        if not (1 <= from_ <= len(found) and 1 <= to <= len(found)) or from_ == to:
            raise click.UsageError(f"{unquote(url)} has {len(found)} version(s): "
                                   f"choose two different ones among 1..{len(found)} with --from and --to")
        old, new = found[from_ - 1], found[to - 1]
        article = session.get(Article, new.article_id)
        assert article is not None  # a foreign key
        content = compare(old, new)
    if as_html:
        profile = config.profiles().get(article.site)
        rtl = article.language in profile.rtl_languages if profile else False
        click.echo(diffview.render_html(content, rtl=rtl, lang=article.language))
        return
    click.echo(f"version {from_} → {to}: {diffview.summary(content)}")
    coloured = sys.stdout.isatty() if color is None else color
    # click.echo strips ANSI codes from output that is not a terminal unless told otherwise:
    # --color must survive `| less -R`.
    click.echo(diffview.render_text(content, color=coloured), color=coloured)


def versions_at(session: Session, url: str, site: str) -> list[ArticleVersion]:
    """The versions of the article at any spelling of `url`, on any address of the site (its own,
    a mirror's: stored URLs are on the site's origin); a clear error when it is unknown."""
    from crawler.urls import canonicalize
    from storage.repository import versions_of

    profile = config.profiles()[site]
    candidates = [url, canonicalize(url, profile, url)]
    for candidate in dict.fromkeys(c for c in candidates if c):
        if found := versions_of(session, candidate):
            return found
    raise click.ClickException(f"no article stored at {url} (see `newswatch articles`)")


@click.command()
@run_option
@config.brake_options
@config.database_option
def detect(run: str, brake: BrakeSettings, database_url: str) -> None:
    """Recompute a run's changes (idempotent) and print how many of each kind."""
    from sqlalchemy.orm import Session

    from monitor.detect import count_summary, detect_run
    from storage.models import CrawlRun
    from storage.runs import RunNotFound

    with open_database(database_url) as engine, Session(engine) as session, session.begin():
        try:
            chosen = run_id(session, run)
            counts = count_summary(detect_run(session, chosen, brake))
            crawl = session.get(CrawlRun, chosen)
            held = crawl.hold_reason if crawl is not None and crawl.hold == "held" else None
        except RunNotFound as error:
            raise click.ClickException(str(error)) from error
    click.echo(f"run {chosen}: {counts}" + (f"; held for the operator: {held}" if held else ""))


@click.command()
@click.argument("source")
@click.option("--url", help="The page's URL (needed for a file: it gives the language and date).")
@json_option
def extract(source: str, url: str | None, as_json: bool) -> None:
    """Extract one release from a saved page (PATH) or a live URL, and print it."""
    from crawler.extraction import NotAnArticle
    from crawler.extraction import extract as extract_page

    if source.startswith(("http://", "https://")):
        url = url or source
        body = _download(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise click.ClickException(f"no such file: {source}")
        if not url:
            raise click.UsageError("give --url URL for a file: the article's URL tells its language and date")
        body = path.read_bytes()
    try:
        content = extract_page(body, url)
    except NotAnArticle as error:
        raise click.ClickException(f"no article in {source}: {error}") from error
    record = {
        "url": content.url, "language": content.language, "title": content.title,
        "published": content.published.isoformat() if content.published else None,
        "paragraphs": list(content.paragraphs), "text": content.text,
    }
    if as_json:
        print_json(record)
        return
    click.echo(f"{content.title}\n{record['published'] or '(no date)'} · {content.language} · {content.url}\n")
    click.echo(content.text)


def _download(url: str) -> bytes:
    """The page at `url` (raw Arabic as `changes` prints it, or percent-encoded), fetched as the
    crawler introduces itself."""
    import urllib.request

    from w3lib.url import safe_url_string

    from crawler.settings import USER_AGENT

    request = urllib.request.Request(safe_url_string(url), headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())
    except OSError as error:
        raise click.ClickException(f"could not fetch {url}: {error}") from error
