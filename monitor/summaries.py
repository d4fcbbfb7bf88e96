"""A change's one-line summary in the reader's language, rendered from what the change compares.

Detection stores an English `changes.summary`; digests, pages and the feed instead render the
summary when they show it: from the two versions' texts (the same word diff detection made)
and the run's event (a removal's status or redirect, a move's old URL). So a database written
before summaries were translated reads in every language, and English reads as stored. Without
the texts (a record read without `with_texts`), the stored English line is what there is.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote, urlsplit

from monitor.diff import compare
from monitor.diffview import summary as diff_summary
from monitor.i18n import Translator, translator
from storage.changes import ChangeRecord, VersionText


def describe(change: ChangeRecord, tr: Translator | None = None) -> str:
    """E.g. "new release", "paragraph 3: 150 → 200", "removed: answers 404", in `tr`'s language."""
    tr = tr or translator("en")
    if change.kind == "added":
        return tr.gettext("new release")
    if change.kind == "removed":
        if change.other_url:
            return tr.gettext("removed: redirects to %(path)s", path=tr.isolate(_path(change.other_url)))
        if change.http_status:
            return tr.gettext("removed: answers %(status)s", status=tr.isolate(str(change.http_status)))
        return _stored(change, tr, tr.gettext("removed"))
    if change.kind == "restored" and change.old_version_id == change.new_version_id:
        return tr.gettext("back online, unchanged")
    if change.old is None or change.new is None:
        return _stored(change, tr, tr.gettext("edited") if change.kind == "edited" else tr.gettext("back online"))
    text = content_summary(change.old, change.new, tr.locale)
    if text is None:
        return tr.gettext("back online")
    if change.kind == "edited" and change.other_url:
        return tr.gettext("moved from %(path)s; %(summary)s", path=tr.isolate(_path(change.other_url)), summary=text)
    return text


@lru_cache(maxsize=4096)
def content_summary(old: VersionText, new: VersionText, locale: str) -> str | None:
    """The diff summary of two versions (None when their content is the same); versions never
    change once stored, so a page showing the same changes again costs no diff."""
    diff = compare(old, new)
    return diff_summary(diff, translator(locale)) if diff.fields else None


def _stored(change: ChangeRecord, tr: Translator, fallback: str) -> str:
    """The stored English line when the reader reads English, else a translated word for the kind."""
    return change.summary if tr.locale == "en" and change.summary else fallback


def _path(url: str) -> str:
    return unquote(urlsplit(url).path) or "?"


def kind_name(kind: str, tr: Translator | None = None) -> str:
    """A kind of change as a subscriber chooses it or a page filters by it ("new releases", "edits", ...)."""
    tr = tr or translator("en")
    names = {"added": tr.gettext("new releases"), "edited": tr.gettext("edits"), "removed": tr.gettext("removals"),
             "restored": tr.gettext("releases back online")}
    return names.get(kind, kind)


def kind_label(kind: str, tr: Translator | None = None) -> str:
    """A change's kind as a badge says it: "new", "edited", "removed", "back online"."""
    tr = tr or translator("en")
    labels = {"added": tr.gettext("new"), "edited": tr.gettext("edited"), "removed": tr.gettext("removed"),
              "restored": tr.gettext("back online")}
    return labels.get(kind, kind)
