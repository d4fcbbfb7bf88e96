"""Article extraction: page bytes and URL in, an `Extracted` record out. Pure, no Scrapy.

The page is parsed once and read as *lines*: the lines of text a browser would lay out
(text between block boundaries), in document order (`lines.Line`). On that reading:

1. the boilerplate widgets (profile phrases) are cut out of the DOM, taking the largest
   enclosing block that holds nothing else of substance;
2. trafilatura picks the main content of what is left and returns it as paragraphs;
3. each paragraph is found again among the lines, and kept only where an article's text
   stands: after the title, outside teasers of other posts and asides (related posts,
   comments), before the page's furniture takes over, and not itself a widget, date,
   counter, byline or footer line.

Nothing depends on a CSS class or id: only on structure, the profile's words and the URL.
The lines are read by `lines`, the profile's words matched by `phrases`, step 1 is
`boilerplate`, title and date lines are read by `metadata` (modules of this package).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import unicodedata
from copy import copy
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.settings import Extractor
from trafilatura.utils import load_html

from crawler.extraction.boilerplate import cut_boilerplate, cut_inline_widgets
from crawler.extraction.lines import (
    HEADINGS, OUTPUT_BLOCKS, PAGE_BLOCKS, Line, alike, block_from, in_footer, inside, is_caption, is_text,
    layout_boxes, read_lines, same_block, span,
)
from crawler.extraction.metadata import (
    head_titles, is_site_name, page_date, same_title, states_date, strip_site, valid_title,
)
from crawler.extraction.phrases import Words, alnum, cut, fold, profile_words
from crawler.sites import ICESCO, SiteProfile
from crawler.urls import ArticleRef, article_ref

logger = logging.getLogger(__name__)


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


def extract(html: bytes | str, url: str, profile: SiteProfile = ICESCO) -> Extracted:
    """Extract one release from an article page; raise NotAnArticle when there is none."""
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
    page = _Page(tree, lines, words, url, ref, profile)
    page.reject_error_page()
    title, body = page.article(_main_content(tree, url))
    return Extracted(url=url, language=ref.language, title=title,
                     published=page.published(body_start=body[0][1]),
                     paragraphs=tuple(text for text, _ in body))


def _main_content(tree: HtmlElement, url: str) -> list[str]:
    """The paragraphs trafilatura takes for the main content of the page."""
    # A copy for this page's URL: a new Extractor would read trafilatura's settings again,
    # a tenth of a millisecond.
    options = copy(TRAFILATURA_OPTIONS)
    options.url = options.source = url
    document = bare_extraction(tree, options=options)
    found = document.body if document is not None and document.body is not None else None
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

class _Page:
    """The lines of one page, with what structure says about them: `article()` finds the
    title and the body, then `published()` the date."""

    def __init__(self, tree: HtmlElement, lines: list[Line], words: Words, url: str, ref: ArticleRef,
                 profile: SiteProfile):
        self.tree, self.lines, self.words, self.url, self.ref = tree, lines, words, url, ref
        self.profile = profile
        self.title_at: int | None = None
        self.main: HtmlElement | None = None
        self.other_articles: dict[str, bool] = {}  # href -> whether it leads to another article
        self.keys = [_key(line.text) for line in lines]
        for line in lines:
            line.noise = words.is_noise(line.folded)
        self.by_key: dict[str, list[int]] = {}
        for index, key in enumerate(self.keys):
            self.by_key.setdefault(key, []).append(index)
        self.captions = frozenset(i for i, line in enumerate(lines) if is_caption(line))
        self.layout = layout_boxes(tree)
        stripped = (strip_site(title, words) for title in head_titles(tree))
        self.doc_titles = [title for title in stripped if title]

    # -- what the page is

    def reject_error_page(self) -> None:
        headings = [r.text for r in self.lines if r.owner.tag in ("h1", "h2")][:3]
        for text in (*self.doc_titles, *headings):
            if self.words.is_error(fold(text)):
                raise NotAnArticle(f"{self.url}: error page ({text!r})")

    # -- title, then body

    def article(self, paragraphs: list[str]) -> tuple[str, list[tuple[str, int | None]]]:
        """The title and the body paragraphs, each with its line index when found."""
        located: list[tuple[str, int | None]] = []
        used: set[int] = set()
        for paragraph in paragraphs:
            if self._is_noise(paragraph):
                continue
            at = self._locate(paragraph, used)
            if at is None:
                located.append((paragraph, at))
            elif at != _REPEATED and not self._is_link_label(self.lines[at]):
                located.append((paragraph, at))
                used.add(at)
        title, self.title_at = self._title(located)
        self.main = self._main_of_title()
        located = self._unglued_lines(self._in_page_order(located))
        cards = self._teaser_cards()
        text = frozenset(at for _, at in self._article_text(located, title, cards) if at is not None) | self.captions
        asides = [*cards, *self._aside_blocks(text, cards), *self._form_widgets()]
        body = self._main_stretch(self._article_text(located, title, asides), cards)
        body = self._not_past_the_end(body, [first for first, _ in asides])
        if not body and self.title_at is not None:
            # trafilatura took teasers or widgets for the content: read the lines after the title
            after = enumerate(self.lines[self.title_at + 1:], self.title_at + 1)
            lines = self._paragraphs([(r.text, i) for i, r in after if r.kind == "substantial" and is_text(r, self.layout)
                                      and not is_site_name(r.text, self.words)])
            body = self._main_stretch(self._article_text(lines, title, asides), cards)
            body = self._not_past_the_end(body, [first for first, _ in asides])
        body = self._fill_gaps(body)
        title = strip_site(self._unglued(title), self.words) or self._unglued(title)
        body = [(text, at) for text, at in ((self._unglued(t), at) for t, at in body)
                if alnum(text) and not self._is_noise(text)]
        if not title or not valid_title(title, self.words):
            raise NotAnArticle(f"{self.url}: no title")
        if not body:
            body = self._captions(asides)  # a photo post: its caption is all it says
        if self._is_listing(cards, body):
            raise NotAnArticle(f"{self.url}: a listing page (its text belongs to {len(cards)} other posts)")
        if not body:
            raise NotAnArticle(f"{self.url}: no article text")
        return title, body

    def _captions(self, asides: list[tuple[int, int]]) -> list[tuple[str, int | None]]:
        """The captions of the photos after the title, outside teasers and asides."""
        start = self.title_at + 1 if self.title_at is not None else 0
        return self._paragraphs([(line.text, i) for i, line in enumerate(self.lines[start:], start)
                                 if i in self.captions and not line.noise and not inside(i, asides)])

    def _is_listing(self, cards: list[tuple[int, int]], body: list[tuple[str, int | None]]) -> bool:
        """Many posts (more than a related-posts block's two) and no text of the page's own: none
        at all, or the posts follow the heading directly and hold more text than anything else."""
        if len(cards) < 3:
            return False
        if not body:
            return True
        first = min(c[0] for c in cards)
        if self.title_at is None or first < self.title_at:  # posts before the heading: a sidebar
            return False
        if any(r.kind == "substantial" and r.href is None and not r.noise
               for r in self.lines[self.title_at + 1: first]):
            return False
        in_cards = sum(alnum(self.lines[i].folded) for a, b in cards for i in range(a, b + 1))
        return in_cards > sum(alnum(text) for text, _ in body)

    def _article_text(self, located: list[tuple[str, int | None]], title: str,
                      asides: list[tuple[int, int]]) -> list[tuple[str, int | None]]:
        """The paragraphs that stand where an article's text does: after the title, outside
        teasers of other posts and asides."""
        title_key = _key(title)
        return [(text, at) for text, at in located if _key(text) != title_key and (
            not self.words.is_meta(fold(text)) if at is None else not (
            (self.title_at is not None and at < self.title_at) or inside(at, asides)
            or self.lines[at].linked >= 0.5 or self._is_meta(at) or in_footer(self.lines[at])
            or self._outside_main(at)))]

    def _main_of_title(self) -> HtmlElement | None:
        """The page's main content landmark (<main>, role=main) where the title stands in one."""
        if self.title_at is None:
            return None
        return next((e for e in self.lines[self.title_at].lineage if e.tag == "main" or e.get("role") == "main"), None)

    def _outside_main(self, index: int) -> bool:
        """Whether a line stands outside the main content that holds the title: the page's footer,
        sidebars and widgets after it."""
        return self.main is not None and self.main not in self.lines[index].lineage

    def _is_meta(self, index: int) -> bool:
        """A line of its own that dates or counts the post (`Words.is_meta`). In a list, where
        the list says when the post was published and its items are short labels (date, author,
        category, reading time, views), so a release's list of figures or dates stays."""
        line = self.lines[index]
        if line.owner.tag in _ITEMS and (items := line.owner.getparent()) is not None:
            first, last = span(self.lines, index, items)
            labels = [self.lines[i].folded for i in range(first, last + 1)]
            return (all(label.count(" ") < 8 and not _SENTENCE_END.search(label) for label in labels)
                    and any(states_date(label, self.words, self.ref.published) for label in labels))
        if not self.words.is_meta(line.folded):
            return False
        first, last = span(self.lines, index, line.owner)
        # alone in its block, or with other such lines, not a line of a paragraph that says more
        return all(self.words.is_meta(r.folded) or r.noise for r in self.lines[first:last + 1])

    @staticmethod
    def _in_page_order(located: list[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
        """trafilatura's paragraphs in the order of the page (it may put the title and a meta block
        it found late after the text); one not found stays after the one before it."""
        positions, last = [], -1
        for _, at in located:
            last = at if at is not None else last
            positions.append(last)
        return [paragraph for _, _, paragraph in sorted(zip(positions, range(len(located)), located))]

    def _unglued_lines(self, located: list[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
        """Paragraphs of trafilatura's that glue the title, the date line, counters or menu items
        to the text (all inline in one block, parted by line breaks), without those lines."""
        out: list[tuple[str, int | None]] = []
        for text, at in located:
            if at is None or len(_key(text)) <= len(self.keys[at]):
                out.append((text, at))
                continue
            covered = self._covered(text, at)
            first = 0
            while first < len(covered) and self._is_chrome(covered[first], covered, first):
                first += 1
            last = len(covered)
            while last > first and self._is_chrome(covered[last - 1], covered, None):
                last -= 1
            if (first, last) == (0, len(covered)):
                out.append((text, at))
            else:  # and without the cells and captions among its lines: never text (see TRAFILATURA_OPTIONS)
                out.extend(self._paragraphs([(self.lines[i].text, i) for i in covered[first:last]
                                             if not self._in_figure_or_data_table(self.lines[i])]))
        return out

    def _is_chrome(self, index: int, covered: list[int], leading: int | None) -> bool:
        """Whether line `index` of a glued paragraph is the title or the page's: furniture, links;
        at its head also a meta line, where the title or chrome came before it or the text that
        follows is another block's (a line of a hard-wrapped paragraph may hold a date)."""
        line = self.lines[index]
        if index == self.title_at or line.noise or line.linked >= 0.5:
            return True
        if leading is None or not self.words.is_meta(line.folded):
            return False
        after = next((i for i in covered[leading + 1:] if not self.words.is_meta(self.lines[i].folded)), None)
        return leading > 0 or (after is not None and self.lines[after].owner is not line.owner)

    def _in_figure_or_data_table(self, line: Line) -> bool:
        """Whether a line is in a figure or a table of data (not one that lays out the page)."""
        return any(e.tag == "figure" or (e.tag == "table" and e not in self.layout) for e in line.lineage)

    def _covered(self, paragraph: str, at: int) -> list[int]:
        """The lines, from line `at` on, that a paragraph of trafilatura's is made of, in order;
        trafilatura may have dropped a few words between two of them."""
        key, position, found = _key(paragraph), 0, []
        for index in range(at, min(len(self.keys), at + 60)):
            where = self.keys[index] and key.find(self.keys[index], position)
            if where is None or where == "" or where < 0 or where - position > 20:
                continue
            found.append(index)
            position = where + len(self.keys[index])
            if position >= len(key):
                break
        return found

    @staticmethod
    def _is_link_label(line: Line) -> bool:
        """A few words that are all a link: a tag, a category, a menu item; never a paragraph."""
        return line.linked > 0.9 and line.folded.count(" ") < 4

    def _unglued(self, text: str) -> str:
        """The last guard: long widget phrases that markup glued to real text, cut out of it."""
        return cut(text, self.words.unmistakable) if self.words.unmistakable.search(fold(text)) else text

    def _is_noise(self, paragraph: str) -> bool:
        return self.words.is_noise(fold(paragraph))

    def _locate(self, paragraph: str, used: set[int]) -> int | None:
        """The index of the line holding a paragraph of trafilatura's output; _REPEATED when
        every line with its text already holds an earlier paragraph (trafilatura repeated it)."""
        key = _key(paragraph)
        if key in self.by_key:
            return next((i for i in self.by_key[key] if i not in used), _REPEATED)
        for index, first in enumerate(self.keys):  # lines trafilatura joined, maybe skipping some
            if not first or not key.startswith(first):
                continue
            rest = key[len(first):]
            for following in self.keys[index + 1: index + 40]:
                if rest and following and rest.startswith(following):
                    rest = rest[len(following):]
            if len(rest) <= 0.3 * len(key):  # trafilatura may drop a word or two (dates in <time>)
                return index
        if len(key) >= 20:  # a line trafilatura shortened or lengthened
            for index, other in enumerate(self.keys):
                if len(other) >= 20 and (key.startswith(other) or other.startswith(key)):
                    return index
        if len(key) >= 12:  # a line whose head trafilatura dropped (a date in <time> before a counter)
            for index, other in enumerate(self.keys):
                if key in other and len(other) <= 3 * len(key):
                    return index
        # the head of a line, the rest trafilatura left out (a ticker's label before its links)
        return next((index for index, other in enumerate(self.keys) if key and other.startswith(key)), None)

    def _title(self, located: list[tuple[str, int | None]]) -> tuple[str, int | None]:
        """The headline: the heading the document title names, else a line that is named by the
        document title or the URL's words, else the heading right before the text, else the
        document title itself."""
        headings = [i for i, r in enumerate(self.lines) if r.owner.tag in HEADINGS
                    and not self._is_other_article(r.href) and valid_title(r.text, self.words)]
        wanted = [_key(t) for t in self.doc_titles]
        named = [i for i in headings if any(same_title(self.keys[i], key) for key in wanted)]
        if named:
            best = min(named, key=lambda i: (self.lines[i].href is not None, i))
            return self.lines[best].text, best
        if (best := self._named_line(wanted)) is not None:
            return self.lines[best].text, best
        first = next((at for p, at in located if at is not None and alnum(p) >= 80), None)
        if first is None:
            first = next((at for _, at in located if at is not None), None)
        before = [i for i in headings
                  if first is not None and i < first and self.lines[i].owner.tag in ("h1", "h2", "h3")]
        if before:  # the nearest, unless that is a one- or two-word label ("News")
            best = next((i for i in reversed(before) if self.lines[i].folded.count(" ") >= 2), before[-1])
            return self.lines[best].text, best
        if self.doc_titles:
            title = self.doc_titles[0]
            return title, self.by_key.get(_key(title), [None])[0]
        if len(cards := self._teaser_cards()) > 2 and not self._own_text(cards):
            raise NotAnArticle(f"{self.url}: a listing page (no title of its own, {len(cards)} posts)")
        raise NotAnArticle(f"{self.url}: no title")

    def _named_line(self, wanted: list[str]) -> int | None:
        """A line that is no heading but names the article (a title in <b>, <font>, a styled div):
        the document title's, else most of the words of the URL's slug and not many more.
        Headings first, then lines outside lists (a breadcrumb ends with the title too)."""
        slug = [word for word in map(_plain, self.ref.slug.split("-")) if len(word) > 2 and not word.isdigit()]
        best: tuple | None = None
        for index, line in enumerate(self.lines):
            if (line.noise or line.linked >= 0.5 and not self._is_self_link(line.href)
                    or line.folded.count(" ") >= 40 or not valid_title(line.text, self.words)):
                continue
            if any(same_title(self.keys[index], key) for key in wanted):
                score = 2.0
            elif len(slug) >= 2:
                plain = _plain(line.text)
                score = sum(word in plain for word in slug) / len(slug)
                if score < 0.7 or len(plain) > 2.5 * sum(map(len, slug)) + 10 or (
                        line.owner.tag not in HEADINGS and _SENTENCE_END.search(line.text)):
                    continue
            else:
                continue
            rank = (-score, line.owner.tag not in HEADINGS, "li" in {e.tag for e in line.lineage}, index)
            best = min(best, rank) if best else rank
        return best[-1] if best else None

    def _is_self_link(self, href: str | None) -> bool:
        """Whether a link leads to this article itself (a headline linked to its permalink)."""
        if href is None:
            return False
        other = article_ref(urlsplit(urljoin(self.url, href))._replace(query="", fragment="").geturl(), self.profile)
        return other is not None and _identity(other) == _identity(self.ref)

    def _own_text(self, cards: list[tuple[int, int]]) -> bool:
        """Whether the page has text of its own: a substantial line of text outside the posts it shows."""
        return any(line.kind == "substantial" and is_text(line, self.layout) and line.owner.tag not in HEADINGS
                   and not inside(i, cards) for i, line in enumerate(self.lines))

    def _is_other_article(self, href: str | None) -> bool:
        """Whether a link leads to another article (any spelling of its URL, tracking or not)."""
        if href is None:
            return False
        if href not in self.other_articles:
            other = article_ref(urlsplit(urljoin(self.url, href))._replace(query="", fragment="").geturl(),
                                self.profile)
            self.other_articles[href] = other is not None and _identity(other) != _identity(self.ref)
        return self.other_articles[href]

    def _teaser_cards(self) -> list[tuple[int, int]]:
        """Blocks that present another post: its linked title, then its excerpt."""
        teasers = {i for i, r in enumerate(self.lines)
                   if r.kind == "substantial" and self._is_other_article(r.href)}
        return [block_from(self.lines, i, teasers, self.title_at) for i in sorted(teasers)]

    def _aside_blocks(self, text: frozenset[int], cards: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """From an aside heading ("Related posts", "Comments", or any short heading right above
        teasers of other posts: "More from ICESCO") to the end of its block, which never
        holds the lines of `text` (what trafilatura took for the article's text, and captions);
        a box between the title and any text of the page's own ("Most read" before the text in
        the same column) holds none of the lines that say something either."""
        starts = {first for first, _ in cards}
        headings = [i for i, line in enumerate(self.lines) if self.words.is_aside_heading(line.folded)
                    or (i + 1 in starts and i != self.title_at and i not in self.captions and self._is_label(line))]
        start = (self.title_at or -1) + 1
        first_own = next((i for i, line in enumerate(self.lines[start:], start) if not inside(i, cards)
                          and (self._says_something(line) or i in self.captions)), len(self.lines))
        blocks = []
        for index in headings:
            # a box before the text may not reach the text: holding its first line is holding it
            kept = text | {first_own} if start <= index < first_own else text
            last = block_from(self.lines, index, set(), self.title_at, kept)[1]
            if last == index:  # a heading among the article's blocks: the rest of its parent
                last = span(self.lines, index, self.lines[index].owner.getparent())[1]
            blocks.append((index, last))
        return blocks

    def _form_widgets(self) -> list[tuple[int, int]]:
        """Blocks around a form's fields that hold no more than one line of text, and not the title:
        a newsletter box ("Subscribe: get the latest news…"), a search or comment form."""
        fields = [field for field in self.tree.iter("input", "textarea", "select") if field.get("type") != "hidden"]
        around = {e for field in fields for e in field.iterancestors()}
        extent: dict[HtmlElement, tuple[int, int]] = {}  # the first and last line in each of them
        for index, line in enumerate(self.lines):
            for element in line.lineage & around:
                extent[element] = (extent.get(element, (index,))[0], index)
        widgets = []
        for field in fields:
            found, element = None, field
            while (element := element.getparent()) is not None and element.tag not in ("body", "html"):
                first, last = extent.get(element, (len(self.lines), -1))
                if inside(self.title_at, [(first, last)]) or sum(
                        self._says_something(self.lines[i]) for i in range(first, last + 1)) > 1:
                    break
                found = (first, last) if first <= last else found
            if found:
                widgets.append(found)
        return widgets

    @staticmethod
    def _is_label(line: Line) -> bool:
        """A few words that are no link and no sentence: a heading or a box's title."""
        return line.linked < 0.5 and line.folded.count(" ") < 8 and not _SENTENCE_END.search(line.text)

    @staticmethod
    def _says_something(line: Line) -> bool:
        """A line of text that says something: no heading, label, link or furniture."""
        return line.kind == "substantial" and line.owner.tag not in HEADINGS and line.linked < 0.5 and not line.noise

    def _fill_gaps(self, body: list[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
        """Add the lines trafilatura skipped among the article's own (a short lead-in line, a
        repeated paragraph): text blocks beside a body paragraph, of the same shape, up to the
        next paragraph or the first line that is not text; figures and tables are passed over."""
        spans = [(at, self._last_line(text, at)) if at is not None else None for text, at in body]
        taken = {i for span in spans if span for i in range(span[0], span[1] + 1)}
        shapes = list({self.lines[at].owner: at for _, at in body if at is not None}.values())
        filled: list[tuple[str, int | None]] = []
        for n, (text, at) in enumerate(body):
            if at is not None and not any(spans[:n]):  # before the first paragraph, back to the title
                filled.extend(self._paragraphs(self._beside([at], range(at - 1, -1, -1), taken, heading=False)[::-1]))
            filled.append((text, at))
            if at is not None:
                following = next((span[0] for span in spans[n + 1:] if span), None)
                lines = range(spans[n][1] + 1, following if following is not None else len(self.lines))
                filled.extend(self._paragraphs(self._beside(shapes, lines, taken, heading=following is not None)))
        return filled

    def _paragraphs(self, lines: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Lines taken from the page as paragraphs: the lines of one block, which only line breaks
        part, joined by a space (as trafilatura's paragraphs join them); each with its first line."""
        joined: list[tuple[str, int, int]] = []  # text, first line, last line
        for text, at in lines:
            if joined and at == joined[-1][2] + 1 and self.lines[at].owner is self.lines[joined[-1][2]].owner:
                joined[-1] = (f"{joined[-1][0]} {text}", joined[-1][1], at)
            else:
                joined.append((text, at, at))
        return [(text, first) for text, first, _ in joined]

    def _beside(self, paragraphs: list[int], indices: range, taken: set[int], heading: bool) -> list[tuple[str, int]]:
        """The lines at `indices`, in order, that are article text of the shape of one of the body
        paragraphs at lines `paragraphs`, up to the first that is not."""
        found = []
        for i in indices:
            line = self.lines[i]
            if self._in_figure_or_data_table(line):
                continue
            if (i in taken or i <= (self.title_at or -1) or not self._joins(line, paragraphs, heading)
                    or self._is_meta(i)):
                break
            found.append((line.text, i))
        return found

    def _last_line(self, paragraph: str, at: int) -> int:
        """The index of the last line a located paragraph is made of."""
        rest, last = _key(paragraph), at
        for i in range(at, min(len(self.keys), at + 40)):
            if not rest:
                break
            if self.keys[i] and rest.startswith(self.keys[i]):
                rest, last = rest[len(self.keys[i]):], i
        return last

    def _joins(self, line: Line, paragraphs: list[int], heading: bool) -> bool:
        """Whether a line is article text that may stand beside body paragraphs of the shape of those
        at lines `paragraphs`."""
        return (is_text(line, self.layout) and (heading or line.owner.tag not in HEADINGS)
                and any(alike(line.owner, self.lines[p].owner) for p in paragraphs))

    def _main_stretch(self, body: list[tuple[str, int | None]],
                      cards: list[tuple[int, int]]) -> list[tuple[str, int | None]]:
        """Cut the body where the page's furniture or teasers come between two paragraphs of
        different blocks, and keep the stretches up to the longest one: what follows it is
        footer, comments, sidebars."""
        # Tables and figures are the article's own, even when their cells look like counters.
        marks = sorted({i for i, r in enumerate(self.lines) if r.noise
                        and not any(e.tag in ("table", "figure") for e in r.lineage)} | {c[0] for c in cards})
        stretches: list[list[tuple[str, int | None]]] = [[]]
        previous = None
        for text, at in body:
            if (at is not None and previous is not None and not same_block(self.lines[previous], self.lines[at])
                    and any(previous < m < at for m in marks)):
                stretches.append([])
            stretches[-1].append((text, at))
            previous = at if at is not None else previous
        longest = max(range(len(stretches)), key=lambda i: sum(alnum(t) for t, _ in stretches[i]))
        return [paragraph for stretch in stretches[: longest + 1] for paragraph in stretch]

    def _not_past_the_end(self, body: list[tuple[str, int | None]], ends: list[int]) -> list[tuple[str, int | None]]:
        """Nothing, when the body only starts past the end of the article (a teaser, aside or form
        box after the title) and does not read as text: no sentence, no list of items. What is left
        there is the site's (its address, a slogan); a release's text before a box would come first."""
        start = next((at for _, at in body if at is not None), None)
        if start is None or self.title_at is None or not any(self.title_at < end < start for end in ends):
            return body
        end = min(end for end in ends if self.title_at < end < start)
        if any(self.title_at < i < end for i in self.captions):
            return []  # the post is its photos, before the box: their captions are its words
        items = [self.lines[at].owner.getparent() for _, at in body if at is not None and self.lines[at].owner.tag == "li"]
        if any(_SENTENCE_END.search(text) for text, _ in body) or any(items.count(e) > 1 for e in items):
            return body
        return []

    # -- date

    def published(self, body_start: int | None) -> dt.date:
        """The URL's date; a different date on the page is logged."""
        found = page_date(self.lines, self.title_at, body_start, self.words, self.tree)
        if found is not None and found != self.ref.published:
            logger.warning("%s: the page dates the article %s, its URL %s; keeping the URL's date",
                           self.url, found.isoformat(), self.ref.published.isoformat())
        return self.ref.published


_REPEATED = -1
_ITEMS = frozenset({"li", "dd", "dt"})


def _identity(ref: ArticleRef) -> tuple[str, dt.date, str]:
    return ref.language, ref.published, ref.slug.casefold()


_SENTENCE_END = re.compile(r"[.!?…؟][\s\"'”»)]*$")


@functools.lru_cache(maxsize=8192)
def _plain(text: str) -> str:
    """Letters and digits only, folded (no case, accents, harakat): a title as its slug spells it."""
    return "".join(filter(str.isalnum, fold(text)))


@functools.lru_cache(maxsize=8192)
def _key(text: str) -> str:
    """Letters and digits only: how a paragraph of trafilatura's output is found in the page."""
    # Cached: a paragraph is keyed once to be found, and again at every later step.
    return "".join(filter(str.isalnum, unicodedata.normalize("NFKC", text).casefold()))
