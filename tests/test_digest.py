"""monitor.mail.digest: a subscriber's digest grouped, rendered (text and HTML) and composed, inertly."""

from __future__ import annotations

import datetime as dt
import email
import html
from email import policy
from email.utils import make_msgid
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.mail.digest import (
    Recipient,
    build_digest,
    compose,
    render_digest_html,
    render_digest_text,
    unsubscribe_links,
)
from storage.changes import ChangeRecord, VersionText

DAY = dt.date(2026, 5, 1)
FINISHED = dt.datetime(2026, 5, 2, 3, 30, tzinfo=dt.UTC)
EN_OLD = VersionText("ICESCO Holds Heritage Forum", DAY, (
    "ICESCO organised a forum on heritage in Rabat.",
    "The forum gathered 150 participants from 20 countries.",
))
EN_NEW = VersionText("ICESCO Holds Heritage Forum", DAY, (
    "ICESCO organised a forum on heritage in Rabat.",
    "The forum gathered 200 participants from 20 countries.",
))
AR_OLD = VersionText("الإيسيسكو تنظم منتدى التراث", DAY, ("نظمت الإيسيسكو منتدى حول التراث في الرباط.",
                                                           "شارك في المنتدى 150 مشاركا من 20 دولة."))
AR_NEW = VersionText("الإيسيسكو تنظم منتدى التراث", DAY, ("نظمت الإيسيسكو منتدى حول التراث في الرباط.",
                                                           "شارك في المنتدى 200 مشارك من 20 دولة."))
RECIPIENT = Recipient("jane@example.org", ("en", "ar"), ("added", "edited", "removed"),
                      "https://news.example.org/unsubscribe/TOKEN", "mailto:newswatch@example.org?subject=unsubscribe%20TOKEN")
HEADERS = {"Subject", "From", "To", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
           "Auto-Submitted", "MIME-Version", "Content-Type"}


ALLOWED_TAGS = {"html", "head", "meta", "title", "body", "div", "h1", "h2", "h3", "p", "a", "span", "strong", "bdi",
                "ins", "del"}
ALLOWED_ATTRIBUTES = {"lang", "dir", "style", "href", "charset", "name", "content", "class"}


class Tags(HTMLParser):
    """The tags and attribute names of an HTML document."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.hrefs: list[str] = []
        self.feed(document)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}
        self.hrefs += [value for name, value in attrs if name == "href"]


def assert_only_our_markup(body: str) -> None:
    found = Tags(body)
    assert found.tags <= ALLOWED_TAGS
    assert found.attributes <= ALLOWED_ATTRIBUTES
    assert all(href.startswith(("https://", "http://")) for href in found.hrefs)


def row(kind: str, language: str = "en", *, url: str = "https://icesco.org/en/2026/05/01/forum/",
        old: VersionText | None = None, new: VersionText | None = None, summary: str = "") -> ChangeRecord:
    shown = new or old
    return ChangeRecord(id=0, run_id=7, article_id=0, kind=kind, url=url, language=language, title=shown.title,
                        published=shown.published, fields=("text",) if kind == "edited" else (), summary=summary,
                        is_baseline=False, old_version_id=1 if old else None, new_version_id=2 if new else None,
                        old=old, new=new)


def added(title: str, language: str = "en", published: dt.date = DAY, url: str | None = None) -> ChangeRecord:
    url = url or f"https://icesco.org/{language}/2026/05/01/{'-'.join(title.lower().split())}/"
    return row("added", language, url=url, new=VersionText(title, published, (f"{title}: the first paragraph.",)))


def sample_rows() -> list[ChangeRecord]:
    return [
        added("Forum on Heritage Opens"),
        row("edited", old=EN_OLD, new=EN_NEW, summary="paragraph 2: 150 → 200"),
        row("removed", url="https://icesco.org/en/2026/04/30/old-news/", old=EN_OLD, summary="404 Not Found"),
        row("restored", url="https://icesco.org/en/2026/04/29/back/", new=EN_NEW),
        row("edited", "ar", url="https://icesco.org/ar/2026/05/01/%d9%85%d9%86%d8%aa%d8%af%d9%89/",
            old=AR_OLD, new=AR_NEW, summary="paragraph 2: 150 → 200"),
        added("Nouveau forum", "fr"),
    ]


def composed(rows: list[ChangeRecord], languages=("en", "ar")) -> bytes:
    """The message as it goes over the wire."""
    digest = build_digest("ICESCO", 7, FINISHED, rows, languages, rtl_languages=("ar",))
    return bytes(compose(digest, RECIPIENT, sender="Newswatch <newswatch@example.org>",
                         message_id=make_msgid(domain="example.org"), date=FINISHED))


def message(rows: list[ChangeRecord], languages=("en", "ar")) -> email.message.EmailMessage:
    """The message as a client parses it."""
    return email.message_from_bytes(composed(rows, languages), policy=policy.default)


def test_sections_follow_the_subscribers_languages_and_kinds_their_fixed_order():
    digest = build_digest("ICESCO", 7, FINISHED, sample_rows(), ["ar", "en"], rtl_languages=("ar",))

    assert [s.language for s in digest.sections] == ["ar", "en"]  # fr not asked for
    assert [g.kind for g in digest.sections[1].groups] == ["added", "restored", "edited", "removed"]
    assert digest.sections[0].rtl and not digest.sections[1].rtl
    assert digest.counts == {"added": 1, "edited": 2, "removed": 1, "restored": 1}
    # The digest speaks the subscriber's first language unless they chose another.
    assert digest.locale == "ar" and digest.subject == "أخبار ICESCO: خبر جديد، خبران معدّلان، خبر محذوف، واحد أعيد نشره"
    english = build_digest("ICESCO", 7, FINISHED, sample_rows(), ["ar", "en"], rtl_languages=("ar",), locale="en")
    assert english.subject == "ICESCO news: 1 new, 2 edited, 1 removed, 1 back online"


def test_entries_are_newest_first_then_by_title():
    rows = [added("B", published=DAY), added("A", published=DAY), added("Older", published=DAY - dt.timedelta(1))]
    changes = build_digest("ICESCO", 1, None, rows, ["en"]).sections[0].groups[0].changes
    assert [c.title for c in changes] == ["A", "B", "Older"]


def test_no_relevant_rows_make_an_empty_digest():
    digest = build_digest("ICESCO", 1, None, sample_rows(), ["xx"])
    assert digest.empty and digest.subject == "ICESCO news: no changes"


def test_html_has_inline_word_diffs_rtl_arabic_and_links():
    body = message(sample_rows()).get_body(("html",)).get_content()

    assert '<del style="background:#fdd;color:#900;text-decoration:line-through">150</del>' in body
    assert '<ins style="background:#dfd;color:#060;text-decoration:none">200</ins>' in body
    assert '<div lang="ar" dir="rtl"' in body and "text-align:right" in body
    assert 'dir="rtl" lang="ar"' in body  # the Arabic diff itself
    assert 'href="https://icesco.org/ar/2026/05/01/%d9%85%d9%86%d8%aa%d8%af%d9%89/"' in body
    assert '><bdi dir="ltr">https://icesco.org/ar/2026/05/01/منتدى/</bdi></a>' in body  # readable, isolated
    assert "Forum on Heritage Opens" in body and "Nouveau forum" not in body
    assert 'href="https://news.example.org/unsubscribe/TOKEN"' in body
    assert "<style" not in body  # mail clients drop <style>; everything is inline


def test_text_part_has_plain_word_diffs_and_the_unsubscribe_link():
    text = message(sample_rows()).get_body(("plain",)).get_content()

    assert "[-150-]{+200+}" in text
    assert "== English ==" in text and "== العربية ==" in text
    assert "https://icesco.org/en/2026/05/01/forum/" in text
    assert "Forum on Heritage Opens: the first paragraph." in text
    assert "Unsubscribe: https://news.example.org/unsubscribe/TOKEN" in text
    assert "<" not in text.replace("<-", "")  # no markup leaks into the text part


def test_headers_carry_unsubscribe_links_and_one_click():
    received = message(sample_rows())

    assert set(received.keys()) == HEADERS
    assert received["List-Unsubscribe"] == (
        "<mailto:newswatch@example.org?subject=unsubscribe%20TOKEN>, <https://news.example.org/unsubscribe/TOKEN>"
    )
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    head = composed(sample_rows()).split(b"\n\n", 1)[0]
    assert b"\nList-Unsubscribe: <mailto:newswatch@example.org?subject=unsubscribe%20TOKEN>, <https://" in head
    assert b"=?" not in head  # nothing encoded: a client reads every header as written
    assert received.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in received.iter_parts()] == ["text/plain", "text/html"]


def test_unsubscribe_links_quote_the_token():
    mailto, url = unsubscribe_links("a@example.org", "https://x.example/", "abc-_DEF")
    assert mailto == "mailto:a@example.org?subject=unsubscribe%20abc-_DEF"
    assert url == "https://x.example/unsubscribe/abc-_DEF"


EVIL_TITLE = '<script>alert("x")</script>\r\nBcc: victim@example.org\r\n\r\n<img src=x onerror=alert(1)>'


def test_page_content_is_escaped_and_never_reaches_a_header():
    rows = [
        added(EVIL_TITLE, url='javascript:alert(1)//"><script>'),
        row("edited", old=EN_OLD, new=VersionText(EVIL_TITLE, DAY, EN_OLD.paragraphs[:1] + ("<b>bold</b> & co",)),
            summary="title changed\r\nX-Injected: yes"),
    ]
    received = message(rows)
    body = received.get_body(("html",)).get_content()

    assert set(received.keys()) == HEADERS and received["Bcc"] is None and received["X-Injected"] is None
    assert received["Subject"] == "ICESCO news: 1 new, 1 edited"
    assert_only_our_markup(body)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Bcc: victim@example.org &lt;img" in body
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in body
    assert "javascript:" not in body  # no link to it, and its text is not shown either


def test_line_breaks_in_a_header_value_are_refused():
    digest = build_digest("ICESCO", 1, None, [added("x")], ["en"])
    bad = Recipient("jane@example.org\r\nBcc: victim@example.org", ("en",), ("added",), "https://x/u/T", "mailto:a@b?s=T")
    with pytest.raises(ValueError):
        compose(digest, bad, sender="a@example.org", message_id=make_msgid(domain="example.org"), date=FINISHED)


def test_a_site_name_with_control_characters_makes_a_one_line_subject():
    digest = build_digest("ICESCO\r\nBcc: x@y.org", 1, None, [added("x")], ["en"])
    assert digest.subject == "ICESCO Bcc: x@y.org news: 1 new"
    assert "\n" not in digest.subject and "\r" not in digest.subject


@settings(max_examples=150, deadline=None)
@given(title=st.text(max_size=80), paragraph=st.text(max_size=200))
def test_any_page_text_arrives_inert(title: str, paragraph: str):
    rows = [row("added", new=VersionText(title, DAY, (paragraph,))),
            row("edited", old=EN_OLD, new=VersionText(title, DAY, (paragraph or "x",)))]
    received = message(rows)
    body = received.get_body(("html",)).get_content()

    assert set(received.keys()) == HEADERS
    assert received["Subject"] == "ICESCO news: 1 new, 1 edited"
    assert_only_our_markup(body)
    shown = " ".join("".join(c if c.isprintable() else " " for c in title).split())
    assert html.escape(shown, quote=False) in body.replace("&#34;", '"').replace("&#39;", "'")


def test_sample_digest_renders_to_a_standalone_html_file(tmp_path):
    digest = build_digest("ICESCO", 7, FINISHED, sample_rows(), ["en", "ar"], rtl_languages=("ar",))
    page = tmp_path / "digest.html"
    page.write_text(render_digest_html(digest, RECIPIENT), "utf-8")
    text = render_digest_text(digest, RECIPIENT)

    assert page.read_text("utf-8").startswith("<!DOCTYPE html>")
    assert text.startswith("ICESCO news: 1 new, 2 edited, 1 removed, 1 back online\n")
