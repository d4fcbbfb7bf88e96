"""Article extraction: page bytes and URL in, an `Extracted` record out. Pure, no Scrapy.

The page is parsed once and read as *lines*: the lines of text a browser would lay out
(text between block boundaries), in document order (`lines.Line`). On that reading:

1. the boilerplate widgets (profile phrases) are cut out of the DOM, taking the largest
   enclosing block that holds nothing else of substance (`boilerplate`);
2. trafilatura picks the main content of what is left and returns it as paragraphs;
3. the title is found among the lines: a heading or line the document title or the URL's
   slug names (`title`);
4. each paragraph is found again among the lines and kept only where an article's text
   stands: after the title, in the main content, outside teasers of other posts, asides and
   form widgets (`boxes`), not a meta line (date, byline, counter), link or footer line, and
   before the page's furniture takes over; lines trafilatura glued to it (title, date,
   menu) are cut off, lines it skipped are added (`body`). A page with no text but its
   photos' captions is those captions; one with none is no article, nor is a listing.

Nothing depends on a CSS class or id: only on structure, the profile's words and the URL.
`page` holds the lines and what is read of them once; the profile's words are matched by
`phrases`; title and date lines are read by `metadata` (modules of this package).
"""

from __future__ import annotations

import datetime as dt
import logging
from copy import copy
from dataclasses import dataclass

from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.settings import Document, Extractor
from trafilatura.utils import load_html

from crawler.extraction.body import (
    article_text,
    captions,
    fill_gaps,
    in_page_order,
    lines_after_title,
    located_paragraphs,
    main_stretch,
    not_past_the_end,
    unglued_lines,
    without_closing_labels,
    words_of_no_text,
)
from crawler.extraction.boilerplate import cut_boilerplate, cut_inline_widgets
from crawler.extraction.boxes import aside_blocks, form_widgets, has_own_text, is_listing, teaser_cards
from crawler.extraction.lines import OUTPUT_BLOCKS, PAGE_BLOCKS, inside, read_lines
from crawler.extraction.metadata import page_date, strip_site, valid_title
from crawler.extraction.page import Located, Page
from crawler.extraction.phrases import alnum, fold, profile_words
from crawler.extraction.stoplists import hold_once
from crawler.extraction.title import find_title
from crawler.sites import DEFAULT_SITE, SiteProfile, bundled
from crawler.urls import article_ref

logger = logging.getLogger(__name__)
hold_once()  # jusText's stopwords of every language once per process, not twice


class NotAnArticle(ValueError):
    """The page holds no extractable article (empty, error or maintenance page)."""


@dataclass(frozen=True)
class Extracted:
    """The clean content of one release, as stored."""

    url: str
    language: str
    title: str
    published: dt.date | None
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def extract(html: bytes | str, url: str, profile: SiteProfile | None = None) -> Extracted:
    """Extract one release from an article page (of the default site unless `profile` says another);
    raise NotAnArticle when there is none."""
    profile = profile or bundled()[DEFAULT_SITE]
    ref = article_ref(url, profile)
    if ref is None:
        raise NotAnArticle(f"{url}: not an article URL (expected /{{lang}}/YYYY/MM/DD/{{slug}}/)")
    tree = load_html(html) if html and html.strip() else None
    if tree is None or tree.find("body") is None:
        raise NotAnArticle(f"{url}: empty page")
    words = profile_words(profile)
    lines = read_lines(tree.find("body"), PAGE_BLOCKS, breaks=True)
    if cut_inline_widgets(lines, words):
        lines = read_lines(tree.find("body"), PAGE_BLOCKS, breaks=True)
    lines = cut_boilerplate(lines, words)
    page = Page(tree, lines, words, url, ref, profile)
    _reject_error_page(page)
    title, body = _article(page, _main_content(tree, url))
    return Extracted(url=url, language=ref.language, title=title, published=_published(page, body[0][1]),
                     paragraphs=tuple(text for text, _ in body))


def _main_content(tree: HtmlElement, url: str) -> list[str]:
    """The paragraphs trafilatura takes for the main content of the page."""
    # A copy for this page's URL: a new Extractor would read trafilatura's settings again,
    # a tenth of a millisecond.
    options = copy(TRAFILATURA_OPTIONS)
    options.url = options.source = url
    document = bare_extraction(tree, options=options)
    found = document.body if isinstance(document, Document) else None  # a dict only with as_dict
    return [line.text for line in read_lines(found, OUTPUT_BLOCKS)] if found is not None else []


# Recall over precision: what trafilatura lets through is filtered below by structure,
# what it drops is lost. Tables, images, links and formatting are not release text;
# comments are not either. `dedup` stays off: its cache is process-wide, so a second
# extraction of the same page would lose paragraphs seen in the first. Not `fast`: its
# comparison with readability and jusText costs about 1 ms a page, nearly a third of
# extraction, but without it the output changed on 153 of 3,382 pages tried (golden, mirror,
# synthetic and deliberately mangled ones): trafilatura loses paragraphs of oddly marked-up
# pages (list items without a list, paragraphs as sections), and a lost paragraph is a missed
# edit, then a false one.
TRAFILATURA_OPTIONS = Extractor(output_format="python", fast=False, recall=True, comments=False, tables=False,
                                images=False, links=False, formatting=False, dedup=False, with_metadata=False)


# -- steps 2-3: the article among the page's lines -----------------------------------------------

def _reject_error_page(page: Page) -> None:
    headings = [r.text for r in page.lines if r.owner.tag in ("h1", "h2")][:3]
    for text in (*page.doc_titles, *headings):
        if page.words.is_error(fold(text)):
            raise NotAnArticle(f"{page.url}: error page ({text!r})")


def _article(page: Page, paragraphs: list[str]) -> tuple[str, list[Located]]:
    """The title and the body paragraphs, each with its line index when found."""
    located = located_paragraphs(page, paragraphs)
    found = find_title(page, located)
    if found is None:
        if len(cards := teaser_cards(page)) > 2 and not has_own_text(page, cards):
            raise NotAnArticle(f"{page.url}: a listing page (no title of its own, {len(cards)} posts)")
        raise NotAnArticle(f"{page.url}: no title")
    title, title_at = found
    page.set_title(title_at)
    located = unglued_lines(page, in_page_order(located))
    cards = teaser_cards(page)
    located = article_text(page, located, title, cards)
    text = frozenset(at for _, at in located if at is not None) | page.captions
    asides = [*cards, *aside_blocks(page, text, cards), *form_widgets(page)]
    ends = [first for first, _ in asides]
    located = [(text, at) for text, at in located if not inside(at, asides)]
    body = not_past_the_end(page, main_stretch(page, located, cards), ends)
    if not body:  # trafilatura took teasers or widgets for the content: read the lines after the title
        read = article_text(page, lines_after_title(page), title, asides)
        body = not_past_the_end(page, main_stretch(page, read, cards), ends)
    body = fill_gaps(page, body, asides)
    title = strip_site(page.unglued(title), page.words) or page.unglued(title)
    body = [(text, at) for text, at in ((page.unglued(t), at) for t, at in body)
            if alnum(text) and not page.is_noise(text)]
    if not title or not valid_title(title, page.words):
        raise NotAnArticle(f"{page.url}: no title")
    body = words_of_no_text(page, without_closing_labels(page, body), asides)
    if not body:
        body = captions(page, asides)  # a photo post: its caption is all it says
    if is_listing(page, cards, body):
        raise NotAnArticle(f"{page.url}: a listing page (its text belongs to {len(cards)} other posts)")
    if not body:
        raise NotAnArticle(f"{page.url}: no article text")
    return title, body


def _published(page: Page, body_start: int | None) -> dt.date:
    """The URL's date; a different date on the page is logged."""
    found = page_date(page.lines, page.title_at, body_start, page.words, page.tree)
    if found is not None and found != page.ref.published:
        logger.warning("%s: the page dates the article %s, its URL %s; keeping the URL's date",
                       page.url, found.isoformat(), page.ref.published.isoformat())
    return page.ref.published
