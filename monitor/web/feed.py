"""The Atom feed of changes (`/feed.atom?language=fr&kinds=added,edited`, and `&site=NAME` when several
sites are configured): one entry per change, newest runs first, built with feedgen.

Entry ids are tag URIs (RFC 4151) in the public URL's host naming the run, the article and the kind,
so they stay the same when a run's changes are recomputed (which renumbers change rows); each
entry links to the change's page here.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, request

from monitor import links
from monitor.summaries import describe, kind_label, kind_name
from monitor.web.context import session, settings, tr
from monitor.web.pages import languages, site_choices, site_title
from storage.changes import ChangeRecord, list_changes
from storage.models import CHANGE_KINDS, CrawlRun

blueprint = Blueprint("feed", __name__)
ENTRIES = 100
# The tag URIs' date: fixed forever, so every id stays the same.
TAG_DATE = "2026"


@blueprint.get("/feed.atom")
def atom() -> Response:
    """Valid Atom: the latest changes, optionally of one language and some kinds."""
    language = request.args.get("language")
    language = language if language in languages() else None
    kinds = [k for k in request.args.get("kinds", "").split(",") if k in CHANGE_KINDS] or None
    site = request.args.get("site")
    site = site if site in site_choices() else None
    db = session()
    changes = list_changes(db, languages=[language] if language else None, kinds=kinds, with_texts=True,
                           newest_first=True, limit=ENTRIES, include_held=False, sites=[site] if site else None)
    runs = {run.id: run for run in db.query(CrawlRun).filter(CrawlRun.id.in_({c.run_id for c in changes}))}
    body = build_feed(changes, runs, language, kinds, request.full_path.rstrip("?"), site)
    return Response(body, mimetype="application/atom+xml")


def build_feed(changes: list[ChangeRecord], runs: dict[int, CrawlRun], language: str | None, kinds: list[str] | None,
               self_path: str, site: str | None = None) -> bytes:
    """The feed document; page text reaches it only as text (feedgen escapes it)."""
    base = settings().public_url
    reader = tr()
    feed = FeedGenerator()
    feed.id(_tag(f"feed:{language or 'all'}:{','.join(kinds or ['all'])}" + (f":site:{site}" if site else "")))
    if site or not site_choices():
        named = site_title(site) if site else settings().site.upper()
    else:
        named = " · ".join(map(site_title, site_choices()))
    parts = [named] + ([language] if language else []) + [", ".join(kind_name(k, reader) for k in kinds)
                                                          if kinds else ""]
    feed.title(reader.gettext("%(what)s: changes", what=" · ".join(p for p in parts if p)))
    feed.link(href=base + "/", rel="alternate")
    feed.link(href=base + self_path, rel="self")
    feed.language(reader.locale)
    feed.updated(_updated(runs.values()) or dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    feed.generator("newswatch")
    feed.author(name=f"newswatch ({settings().site})")  # Atom wants an author for every entry: the feed's
    for change in reversed(changes):  # feedgen puts each new entry first
        run = runs[change.run_id]
        entry = feed.add_entry()
        entry.id(_tag(f"run:{change.run_id}:article:{change.article_id}:{change.kind}"))
        entry.title(f"[{kind_label(change.kind, reader)}] {change.title or change.url}")
        # One link, to the change's page (which links the release). feedgen 1.0 writes an entry's
        # links without their rel, so each is "alternate": a second one would make the feed invalid.
        entry.link(href=links.change_url(base, change))
        entry.updated(run.finished_at or run.started_at)
        entry.published(run.finished_at or run.started_at)
        entry.summary(describe(change, reader))
        entry.category(term=change.kind, label=kind_name(change.kind, reader))
        entry.category(term=f"language:{change.language}", label=change.language)
        if site_choices():
            entry.category(term=f"site:{change.site}", label=site_title(change.site))
    return bytes(feed.atom_str(pretty=True))


def _updated(runs: object) -> dt.datetime | None:
    times = [run.finished_at or run.started_at for run in runs]  # type: ignore[attr-defined]
    return max(times) if times else None


def _tag(specific: str) -> str:
    """A tag URI in the public URL's host: `tag:news.example.org,2026:newswatch:run:7:article:12:edited`."""
    host = urlsplit(settings().public_url).hostname or "localhost"
    return f"tag:{host},{TAG_DATE}:newswatch:{settings().site}:{specific}"
