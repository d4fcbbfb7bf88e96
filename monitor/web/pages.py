"""The read-only pages: changes (with runs), a run, a change, an article's history, search."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, abort, render_template, request
from markupsafe import Markup, escape

from crawler import sites
from monitor import links
from monitor.diff import ContentDiff, compare
from monitor.diffview import render_html
from monitor.i18n import NATIVE_NAMES
from monitor.summaries import describe, kind_label, kind_name
from monitor.web.context import session, settings, tr
from monitor.web.sidebyside import side_by_side
from storage import search as store_search
from storage.changes import ChangeRecord, VersionText, list_changes
from storage.models import CHANGE_KINDS, Article, ArticleVersion, CrawlRun

blueprint = Blueprint("pages", __name__)
PAGE_SIZE = 50
RECENT_RUNS = 8


def _profiles() -> list[sites.SiteProfile]:
    """The profiles the pages are about: every configured site's when there are several, else the one's."""
    usable = sites.read_all().usable
    if len(usable) > 1:
        return list(usable.values())
    return [usable[settings().site]] if settings().site in usable else []


def site_choices() -> tuple[str, ...]:
    """The sites a reader can choose among (filters, subscriptions): none while only one is configured."""
    usable = sites.read_all().usable
    return tuple(usable) if len(usable) > 1 else ()


def site_title(name: str) -> str:
    """How a site is named to readers (its profile's first site name)."""
    profile = sites.read_all().usable.get(name)
    return profile.title if profile else name.upper()


def languages() -> tuple[str, ...]:
    return tuple(dict.fromkeys(language for profile in _profiles() for language in profile.languages))


def text_dir(language: str) -> str:
    """The direction of text in `language`, as the site profiles say."""
    return "rtl" if any(language in profile.rtl_languages for profile in _profiles()) else "ltr"


@blueprint.app_template_global()
def change_href(change: ChangeRecord) -> str:
    return links.change_path(change.run_id, change.article_id)


@blueprint.app_template_filter("summary")
def summary_filter(change: ChangeRecord) -> str:
    return describe(change, tr())


@blueprint.app_template_global()
def direction_of(language: str) -> str:
    return text_dir(language)


@blueprint.app_template_filter("kind_label")
def kind_label_filter(kind: str) -> str:
    return kind_label(kind, tr())


@blueprint.app_template_filter("kind_name")
@blueprint.app_template_global("kind_name_of")
def kind_name_filter(kind: str) -> str:
    return kind_name(kind, tr())


@blueprint.app_template_filter("site_title")
@blueprint.app_template_global("site_title_of")
def site_title_filter(name: str) -> str:
    return site_title(name)


@blueprint.app_template_filter("native_name")
def native_name(code: str) -> str:
    return NATIVE_NAMES.get(code, code)


@blueprint.app_template_filter("unquote")
def unquote_filter(url: str) -> str:
    return unquote(url)


@blueprint.app_template_global("status_of")
def status_of(crawl: CrawlRun) -> RunStatus:
    return run_status(crawl)


@blueprint.app_template_filter("status_label")
def status_label(status: str) -> str:
    """A run's status in the reader's language."""
    t = tr()
    labels = {"complete": t.gettext("complete"), "incomplete": t.gettext("incomplete"), "failed": t.gettext("failed"),
              "running": t.gettext("running"), "held": t.gettext("held")}
    return labels.get(status, status)


@blueprint.app_template_filter("status_meaning")
def status_meaning(status: str) -> str:
    """What a run's status means for its changes."""
    t = tr()
    meanings = {
        "complete": t.gettext("Every page was read: its additions, edits and removals are reported."),
        "incomplete": t.gettext("Too many pages could not be read (or a listing failed): its additions and edits "
                                "are reported, removals are not."),
        "failed": t.gettext("The crawl failed: the additions and edits it stored are reported, removals are not."),
        "running": t.gettext("The crawl is still running."),
        "held": t.gettext("Held for the operator: its changes are not mailed until they are checked."),
    }
    return meanings.get(status, "")


# --------------------------------------------------------------------------- changes and runs


@dataclass(frozen=True)
class Filters:
    """The changes page's filters, as given in its query string (anything else is ignored)."""

    language: str | None
    kinds: tuple[str, ...]
    since: dt.date | None
    until: dt.date | None
    page: int
    site: str | None = None

    @classmethod
    def from_request(cls, known_languages: tuple[str, ...], known_sites: tuple[str, ...] = ()) -> Filters:
        language = request.args.get("language")
        kinds = tuple(k for k in request.args.getlist("kind") if k in CHANGE_KINDS)
        page = request.args.get("page", "1")
        site = request.args.get("site")
        return cls(language if language in known_languages else None, kinds, _date(request.args.get("from")),
                   _date(request.args.get("to")), max(int(page), 1) if page.isdigit() else 1,
                   site if site in known_sites else None)

    def query(self, **changes: Any) -> dict[str, Any]:
        """The query string of these filters, with `changes` applied (for links to other pages)."""
        values: dict[str, Any] = {"site": self.site, "language": self.language, "kind": list(self.kinds),
                                  "from": self.since.isoformat() if self.since else None,
                                  "to": self.until.isoformat() if self.until else None, "page": self.page}
        values.update(changes)
        return {name: value for name, value in values.items() if value not in (None, [], 1)}


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@blueprint.get("/")
def changes() -> str:
    """The latest runs, and the changes they found (newest runs first), filtered."""
    filters = Filters.from_request(languages(), site_choices())
    db = session()
    found = list_changes(db, since=filters.since, until=filters.until,
                         languages=[filters.language] if filters.language else None,
                         kinds=filters.kinds or None, with_texts=True, newest_first=True,
                         limit=PAGE_SIZE + 1, offset=(filters.page - 1) * PAGE_SIZE,
                         sites=[filters.site] if filters.site else None)
    recent = db.query(CrawlRun)
    if filters.site:
        recent = recent.filter(CrawlRun.site == filters.site)
    runs = recent.order_by(CrawlRun.id.desc()).limit(RECENT_RUNS).all()
    return render_template("changes.html", changes=found[:PAGE_SIZE], more=len(found) > PAGE_SIZE, runs=runs,
                           filters=filters, languages=languages(), kinds=CHANGE_KINDS, counts=_counts(runs),
                           sites=site_choices())


def _counts(runs: list[CrawlRun]) -> dict[int, dict[str, int]]:
    from storage.changes import count_kinds

    return {run.id: count_kinds(session(), run.id) for run in runs}


@blueprint.get("/runs/<int:run_id>")
def run(run_id: int) -> str:
    """One run: its status and why, its figures, its changes."""
    db = session()
    crawl = db.get(CrawlRun, run_id) or abort(404)
    found = list_changes(db, run_id, include_baseline=True, with_texts=True)
    return render_template("run.html", run=crawl, changes=found, status=run_status(crawl))


@dataclass(frozen=True)
class RunStatus:
    """A run's status as a reader needs it: the word, what it means, and the reason recorded."""

    name: str
    reason: str | None


def run_status(crawl: CrawlRun) -> RunStatus:
    """complete / incomplete / failed / running, or held while the brake holds it for the operator
    (monitor.brake), with why."""
    if crawl.hold == "held":
        return RunStatus("held", crawl.hold_reason)
    return RunStatus(crawl.status, crawl.error)


@blueprint.get("/changes/<int:run_id>/<int:article_id>")
def change(run_id: int, article_id: int) -> str:
    """What one run changed in one article: the summary and the diff (side by side and inline)."""
    db = session()
    found = list_changes(db, run_id, include_baseline=True, article_id=article_id, with_texts=True) \
        if db.get(CrawlRun, run_id) else []
    if not found:
        abort(404)
    article = db.get(Article, article_id) or abort(404)
    shown = [(c, *_diff_of(c.old, c.new, article.language)) for c in found]
    return render_template("change.html", changes=shown, article=article, view=_view())


def _view() -> str:
    return "inline" if request.args.get("view") == "inline" else "side"


def _diff_of(old: VersionText | None, new: VersionText | None, language: str) -> tuple[Markup | None, Any]:
    """(inline HTML, side-by-side rows) of two versions, or (None, None) when there is nothing to compare."""
    if old is None or new is None:
        return None, None
    diff = compare(old, new)
    if not diff.changed:
        return None, None
    return _inline(diff, language), side_by_side(old, new, diff)


def _inline(diff: ContentDiff, language: str) -> Markup:
    return render_html(diff, rtl=text_dir(language) == "rtl", lang=language, tr=tr(), inline_styles=False)


# --------------------------------------------------------------------------- articles


@blueprint.get("/articles/<int:article_id>")
def article(article_id: int) -> str:
    """An article's history; the text of one version (`?v=N`) or the diff of two (`?from=A&to=B`)."""
    db = session()
    item = db.get(Article, article_id) or abort(404)
    versions = list(db.query(ArticleVersion).filter(ArticleVersion.article_id == article_id)
                    .order_by(ArticleVersion.id).all())
    history = list_changes(db, include_baseline=True, article_id=article_id)
    by_version = {c.new_version_id: c for c in history if c.new_version_id is not None}
    # Removals and returns without new content make no version: they are listed beside the versions.
    events = [c for c in history if c.kind == "removed" or (c.kind == "restored" and c.new_version_id == c.old_version_id)]
    count = len(versions)
    shown = _number(request.args.get("v"), count)
    older, newer = _number(request.args.get("from"), count), _number(request.args.get("to"), count)
    inline = rows = None
    if older and newer and older != newer:
        old, new = _text(versions[older - 1]), _text(versions[newer - 1])
        inline, rows = _diff_of(old, new, item.language)
    elif shown is None and not (older or newer):
        shown = count
    return render_template("article.html", article=item, versions=versions, by_version=by_version, events=events,
                           shown=shown, older=older, newer=newer, inline=inline, rows=rows, view=_view(),
                           source=item.canonical_url if item.canonical_url.startswith(("http://", "https://")) else None)


def _number(value: str | None, count: int) -> int | None:
    return int(value) if value and value.isdigit() and 1 <= int(value) <= count else None


def _text(version: ArticleVersion) -> VersionText:
    return VersionText(version.title, version.published, tuple(version.paragraphs))


# --------------------------------------------------------------------------- search


@blueprint.get("/search")
def search() -> str:
    """Releases by words in their title or text, in any version; optionally one language."""
    query = request.args.get("q", "").strip()[:200]
    language = request.args.get("language")
    language = language if language in languages() else None
    hits = store_search.search(session(), query, language=language) if query else []
    return render_template("search.html", query=query, language=language, languages=languages(), hits=hits)


@blueprint.app_template_filter("marked")
def marked(snippet: str) -> Markup:
    """A search snippet escaped, its matched words in <mark>."""
    return Markup(str(escape(snippet)).replace(store_search.MATCH_START, "<mark>")
                  .replace(store_search.MATCH_END, "</mark>"))
