"""One subscriber's digest of a run: built from change records, rendered as text and HTML, composed
as an email. Pure: no database, no network.

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

from monitor.diff import ContentDiff, compare
from monitor.diffview import render_html, render_text
from storage.changes import ChangeRecord

KIND_ORDER = ("added", "restored", "edited", "removed")
SUBJECT_WORDS = {"added": "new", "edited": "edited", "removed": "removed", "restored": "back online"}
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية"}
# Group headings in the language of their section, so that an Arabic section reads right to left.
HEADINGS = {
    "en": {"added": "New", "restored": "Back online", "edited": "Edited", "removed": "Removed"},
    "fr": {"added": "Nouveaux", "restored": "De nouveau en ligne", "edited": "Modifiés", "removed": "Retirés"},
    "ar": {"added": "أخبار جديدة", "restored": "أخبار أعيد نشرها", "edited": "أخبار معدَّلة",
           "removed": "أخبار محذوفة"},
}
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
        counts = ", ".join(f"{n} {SUBJECT_WORDS[kind]}" for kind, n in self.counts.items())
        return f"{_one_line(self.site_name)} news: {counts or 'no changes'}"

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


def build_digest(
    site_name: str, run_id: int, finished_at: dt.datetime | None, changes: Sequence[ChangeRecord],
    languages: Sequence[str], rtl_languages: Collection[str] = (),
) -> Digest:
    """Group changes by language (in the subscriber's order) and kind; `rtl_languages` read right to left."""
    sections = []
    for language in languages:
        groups = []
        for kind in KIND_ORDER:
            chosen = sorted((c for c in changes if c.language == language and c.kind == kind),
                            key=lambda c: (-(c.published or dt.date.min).toordinal(), title(c)))
            if chosen:
                heading = HEADINGS.get(language, HEADINGS["en"])[kind]
                groups.append(Group(kind, heading, tuple(chosen)))
        if groups:
            sections.append(Section(language, LANGUAGE_NAMES.get(language, language), language in rtl_languages,
                                    tuple(groups)))
    return Digest(site_name, run_id, finished_at, tuple(sections))


# --------------------------------------------------------------------------- a change as the digest shows it


def title(change: ChangeRecord) -> str:
    """The release's title on one line, or its address when it has none."""
    return _one_line(change.title) or display_url(change)


def summary_line(change: ChangeRecord) -> str:
    return _one_line(change.summary)


def href(change: ChangeRecord) -> str | None:
    """The link, only for http(s) URLs (never javascript: or the like)."""
    return change.url if urlsplit(change.url).scheme in ("http", "https") else None


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
    """Control characters and line breaks as spaces, runs of spaces as one."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


# --------------------------------------------------------------------------- rendering


@cache
def _templates() -> Environment:
    """Templates of monitor/mail/templates: HTML ones autoescaped, with the diff renderers as filters."""
    environment = Environment(
        loader=PackageLoader("monitor.mail", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # render_html escapes the page text itself and returns Markup, which autoescaping keeps.
    environment.filters["diff_html"] = lambda diff, section: render_html(diff, rtl=section.rtl, lang=section.language)
    environment.filters["diff_text"] = lambda diff: textwrap.indent(render_text(diff), "    ")
    environment.filters.update(change_title=title, summary_line=summary_line, href=href, display_url=display_url,
                               excerpt=excerpt, word_diff=word_diff)
    return environment


def render_digest_text(digest: Digest, recipient: Recipient) -> str:
    """The text/plain part: [-deleted-]{+inserted+} word diffs, links in full."""
    return _templates().get_template("digest.txt").render(digest=digest, recipient=recipient)


def render_digest_html(digest: Digest, recipient: Recipient) -> str:
    """The text/html part: inline styles only, <ins>/<del> word diffs, dir="rtl" for Arabic."""
    return _templates().get_template("digest.html").render(digest=digest, recipient=recipient)


def unsubscribe_links(mailbox: str, public_url: str, token: str) -> tuple[str, str]:
    """(mailto, https) unsubscribe URLs carrying the subscriber's token."""
    return (f"mailto:{mailbox}?subject={quote('unsubscribe ' + token)}",
            f"{public_url.rstrip('/')}/unsubscribe/{quote(token)}")


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
