"""One subscriber's digest of a run: built from change records, rendered as text and HTML in the
subscriber's language (monitor.i18n), composed as an email. Pure: no database, no network.

Everything from a crawled page (titles, text, URLs) reaches the HTML through Jinja2's
autoescaping or monitor.diffview's escaping renderer, and never reaches a header: the subject
holds only counts, and `email.message.EmailMessage` refuses line breaks in headers.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from urllib.parse import quote, unquote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor import i18n
from monitor.diff import ContentDiff, compare
from monitor.diffview import render_html, render_text
from monitor.i18n import Translator, translator
from monitor.links import change_url
from monitor.summaries import describe, kind_name
from storage.changes import ChangeRecord

KIND_ORDER = ("added", "restored", "edited", "removed")


def heading(kind: str, tr: Translator) -> str:
    """A group's heading ("New", "Edited", ...), in the language of its section."""
    headings = {"added": tr.gettext("New"), "restored": tr.gettext("Back online"), "edited": tr.gettext("Edited"),
                "removed": tr.gettext("Removed")}
    return headings[kind]


def subject_count(kind: str, n: int, tr: Translator) -> str:
    """"3 new", "1 back online", ... for the subject line."""
    if kind == "added":
        return tr.ngettext("%(count)s new", "%(count)s new", n)
    if kind == "edited":
        return tr.ngettext("%(count)s edited", "%(count)s edited", n)
    if kind == "removed":
        return tr.ngettext("%(count)s removed", "%(count)s removed", n)
    return tr.ngettext("%(count)s back online", "%(count)s back online", n)

# Headers we write as given rather than let the policy refold: it would turn a URL longer
# than a line into RFC 2047 encoded words, which no client reads as List-Unsubscribe.
_POLICY = policy.default.clone(refold_source="none")
_MAX_HEADER_LINE = 998  # RFC 5322
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Group:
    """The changes of one kind in one language, newest release first."""

    kind: str
    heading: str
    changes: tuple[ChangeRecord, ...]


@dataclass(frozen=True)
class Section:
    """The changes in one language, grouped by kind."""

    language: str
    name: str
    rtl: bool
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Digest:
    """What one subscriber is told about one run."""

    site_name: str
    run_id: int
    finished_at: dt.datetime | None
    sections: tuple[Section, ...]
    locale: str = i18n.DEFAULT_LOCALE  # the language the digest speaks (its sections keep theirs)
    public_url: str | None = None  # the web view, where each change has its page

    @property
    def tr(self) -> Translator:
        return translator(self.locale)

    @property
    def counts(self) -> dict[str, int]:
        """Changes per kind, in the subject's order (new, edited, removed, back online)."""
        totals = dict.fromkeys(("added", "edited", "removed", "restored"), 0)
        for section in self.sections:
            for group in section.groups:
                totals[group.kind] += len(group.changes)
        return {kind: n for kind, n in totals.items() if n}

    @property
    def subject(self) -> str:
        """E.g. "ICESCO news: 3 new, 2 edited, 1 removed": counts only, nothing from a page."""
        tr = self.tr
        counts = tr.gettext(", ").join(subject_count(kind, n, tr) for kind, n in self.counts.items())
        return tr.gettext("%(site)s news: %(counts)s", site=_one_line(self.site_name),
                          counts=counts or tr.gettext("no changes"))

    @property
    def empty(self) -> bool:
        return not self.sections


@dataclass(frozen=True)
class Recipient:
    """Who a digest goes to, what they chose, and how they leave."""

    email: str
    languages: tuple[str, ...]
    kinds: tuple[str, ...]
    unsubscribe_url: str
    unsubscribe_mailto: str
    preferences_url: str | None = None


def build_digest(
    site_name: str, run_id: int, finished_at: dt.datetime | None, changes: Sequence[ChangeRecord],
    languages: Sequence[str], rtl_languages: Collection[str] = (), *, locale: str | None = None,
    public_url: str | None = None,
) -> Digest:
    """Group changes by language (in the subscriber's order) and kind; `rtl_languages` read right to left.

    The digest speaks `locale` (default: the first of `languages` we have a catalogue for); with
    `public_url`, each change links to its page on the web view.
    """
    sections = []
    for language in languages:
        groups = []
        for kind in KIND_ORDER:
            chosen = sorted((c for c in changes if c.language == language and c.kind == kind),
                            key=lambda c: (-(c.published or dt.date.min).toordinal(), title(c)))
            if chosen:
                groups.append(Group(kind, heading(kind, translator(language)), tuple(chosen)))
        if groups:
            sections.append(Section(language, i18n.NATIVE_NAMES.get(language, language), language in rtl_languages,
                                    tuple(groups)))
    chosen_locale = i18n.locale_or_default(locale) if locale else i18n.first_supported(languages)
    return Digest(site_name, run_id, finished_at, tuple(sections), chosen_locale, public_url)


# --------------------------------------------------------------------------- a change as the digest shows it


def title(change: ChangeRecord) -> str:
    """The release's title on one line, or its address when it has none."""
    return _one_line(change.title) or display_url(change)


def summary_line(change: ChangeRecord, tr: Translator | None = None) -> str:
    """What changed, in the reader's language (monitor.summaries)."""
    return _one_line(describe(change, tr))


def href(change: ChangeRecord) -> str | None:
    """The link to the release on its site, only for http(s) URLs (never javascript: or the like)."""
    return change.url if urlsplit(change.url).scheme in ("http", "https") else None


def page_href(change: ChangeRecord, digest: Digest) -> str | None:
    """The change's page on the web view, else the release itself."""
    return change_url(digest.public_url, change) if digest.public_url else href(change)


def display_url(change: ChangeRecord) -> str:
    return unquote(change.url)


def excerpt(change: ChangeRecord) -> str:
    """The first paragraph of a new (or returning) release, clipped."""
    if change.kind not in ("added", "restored") or change.new is None or not change.new.paragraphs:
        return ""
    return _clip(change.new.paragraphs[0])


def word_diff(change: ChangeRecord) -> ContentDiff | None:
    """An edited release's word diff (None when there is nothing to show)."""
    if change.kind != "edited" or change.old is None or change.new is None:
        return None
    diff = compare(change.old, change.new)
    return diff if diff.changed else None


def _clip(text: str, width: int = EXCERPT_CHARS) -> str:
    return textwrap.shorten(text, width, placeholder=" …")


def _one_line(text: str) -> str:
    """Control characters and line breaks as spaces, runs of spaces as one; bidi isolates (which keep
    figures in order inside Arabic text) kept."""
    return " ".join("".join(c if c.isprintable() or c in _ISOLATES else " " for c in text).split())


_ISOLATES = frozenset("\u2066\u2067\u2068\u2069")


# --------------------------------------------------------------------------- rendering


@cache
def templates(locale: str) -> Environment:
    """Templates of monitor/mail/templates speaking `locale` (gettext through Jinja2's i18n extension):
    HTML ones autoescaped, with the diff renderers as filters. One environment per locale, built once."""
    tr = translator(locale)
    environment = Environment(
        loader=PackageLoader("monitor.mail", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_translations(tr.catalogue, newstyle=True)  # type: ignore[attr-defined]
    # render_html escapes the page text itself and returns Markup, which autoescaping keeps.
    environment.filters["diff_html"] = lambda diff, section: render_html(diff, rtl=section.rtl, lang=section.language,
                                                                         tr=tr)
    environment.filters["diff_text"] = lambda diff: textwrap.indent(render_text(diff, tr=tr), "    ")
    environment.filters["summary_line"] = lambda change: summary_line(change, tr)
    environment.filters.update(change_title=title, href=href, display_url=display_url, excerpt=excerpt,
                               word_diff=word_diff, isolate=tr.isolate)
    environment.filters["native_name"] = lambda code: i18n.NATIVE_NAMES.get(code, code)
    environment.filters["kind_name"] = lambda kind: kind_name(kind, tr)
    environment.globals.update(page_href=page_href, tr=tr, native_names=i18n.NATIVE_NAMES)
    return environment


def render_digest_text(digest: Digest, recipient: Recipient) -> str:
    """The text/plain part: [-deleted-]{+inserted+} word diffs, links in full."""
    return templates(digest.locale).get_template("digest.txt").render(digest=digest, recipient=recipient)


def render_digest_html(digest: Digest, recipient: Recipient) -> str:
    """The text/html part: inline styles only, <ins>/<del> word diffs, lang/dir per block, URLs isolated."""
    return templates(digest.locale).get_template("digest.html").render(digest=digest, recipient=recipient)


def unsubscribe_links(mailbox: str, public_url: str, token: str) -> tuple[str, str]:
    """(mailto, https) unsubscribe URLs carrying the subscriber's token."""
    return (f"mailto:{mailbox}?subject={quote('unsubscribe ' + token)}",
            f"{public_url.rstrip('/')}/unsubscribe/{quote(token)}")


def preferences_link(public_url: str, token: str) -> str:
    """Where a subscriber changes languages and kinds (the web view's /preferences/TOKEN)."""
    return f"{public_url.rstrip('/')}/preferences/{quote(token)}"


def compose(
    digest: Digest, recipient: Recipient, *, sender: str, message_id: str, date: dt.datetime
) -> EmailMessage:
    """The digest as a multipart/alternative email with its List-Unsubscribe headers (RFC 2369, 8058)."""
    message = EmailMessage(policy=_POLICY)  # a header value with CR or LF raises ValueError
    message["Subject"] = digest.subject
    message["From"] = sender
    message["To"] = recipient.email
    message["Date"] = format_datetime(date.astimezone(dt.UTC))
    _set_raw(message, "Message-ID", message_id)
    _set_raw(message, "List-Unsubscribe", f"<{recipient.unsubscribe_mailto}>, <{recipient.unsubscribe_url}>")
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content(render_digest_text(digest, recipient))
    message.add_alternative(render_digest_html(digest, recipient), subtype="html")
    return message


def _set_raw(message: EmailMessage, name: str, value: str) -> None:
    """A header written exactly as given, after the checks the policy would have made."""
    if not value.isascii() or not value.isprintable() or len(name) + 2 + len(value) > _MAX_HEADER_LINE:
        raise ValueError(f"refused {name} header value {value!r}: not one printable ASCII line of at most "
                         f"{_MAX_HEADER_LINE} characters")
    message.set_raw(name, value)
