"""One page read as lines, and what its structure and the profile's words say of each line: where
a paragraph of trafilatura's stands, which lines date or count the post, which are captions or
links to other articles, and the main content around the title."""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

from crawler.extraction.lines import HEADINGS, Line, is_caption, layout_boxes, span
from crawler.extraction.metadata import head_titles, states_date, strip_site
from crawler.extraction.phrases import Words, cut, fold
from crawler.sites import SiteProfile
from crawler.urls import ArticleRef, article_ref

# A paragraph and the index of the line that holds it (None where it was not found in the page).
Located = tuple[str, int | None]

REPEATED = -1  # `Page.locate`: every line with the text already holds an earlier paragraph
SENTENCE_END = re.compile(r"[.!?…؟][\s\"'”»)]*$")
_ITEMS = frozenset({"li", "dd", "dt"})


class Page:
    """The lines of one page with the facts read from them once (keys to find paragraphs by,
    captions, tables and forms that lay the page out, document titles) and, once found, the
    title's line and the main content landmark that holds it."""

    def __init__(self, tree: HtmlElement, lines: list[Line], words: Words, url: str, ref: ArticleRef,
                 profile: SiteProfile):
        self.tree, self.lines, self.words, self.url, self.ref = tree, lines, words, url, ref
        self.profile = profile
        self.title_at: int | None = None
        self.main: HtmlElement | None = None
        self._other_articles: dict[str, bool] = {}  # href -> whether it leads to another article
        self.keys = [key(line.text) for line in lines]
        for line in lines:
            line.noise = words.is_noise(line.folded)
        self.by_key: dict[str, list[int]] = {}
        for index, text_key in enumerate(self.keys):
            self.by_key.setdefault(text_key, []).append(index)
        figures = set(tree.iter("figure", "figcaption"))  # most pages have none: no line to look at
        self.captions = frozenset(i for i, line in enumerate(lines) if figures and is_caption(line, figures))
        self.layout = layout_boxes(tree)
        stripped = (strip_site(title, words) for title in head_titles(tree))
        self.doc_titles = [title for title in stripped if title]

    def set_title(self, index: int | None) -> None:
        """The title stands at line `index`; the main content is the <main> (role=main) around it."""
        self.title_at = index
        lineage = self.lines[index].lineage if index is not None else ()
        self.main = next((e for e in lineage if e.tag == "main" or e.get("role") == "main"), None)

    # -- finding trafilatura's paragraphs among the lines

    def locate(self, paragraph: str, used: set[int]) -> int | None:
        """The index of the line holding a paragraph of trafilatura's output; REPEATED when
        every line with its text already holds an earlier paragraph (trafilatura repeated it)."""
        wanted = key(paragraph)
        if wanted in self.by_key:
            return next((i for i in self.by_key[wanted] if i not in used), REPEATED)
        for index, first in enumerate(self.keys):  # lines trafilatura joined, maybe skipping some
            if not first or not wanted.startswith(first):
                continue
            rest = wanted[len(first):]
            for following in self.keys[index + 1: index + 40]:
                if rest and following and rest.startswith(following):
                    rest = rest[len(following):]
            if len(rest) <= 0.3 * len(wanted):  # trafilatura may drop a word or two (dates in <time>)
                return index
        if len(wanted) >= 20:  # a line trafilatura shortened or lengthened
            for index, other in enumerate(self.keys):
                if len(other) >= 20 and (wanted.startswith(other) or other.startswith(wanted)):
                    return index
        if len(wanted) >= 12:  # a line whose head trafilatura dropped (a date in <time> before a counter)
            for index, other in enumerate(self.keys):
                if wanted in other and len(other) <= 3 * len(wanted):
                    return index
        # the head of a line, the rest trafilatura left out (a ticker's label before its links)
        heads = (index for index, other in enumerate(self.keys) if wanted and other.startswith(wanted))
        if (found := next(heads, None)) is not None or len(wanted) < 40:
            return found
        # a line and the next block's text, a few words between them left out (a title, its
        # <time> dropped, and its excerpt): the first line most of which starts the paragraph
        return next((index for index, other in enumerate(self.keys) if len(other) >= 20
                     and wanted.startswith(other[:20]) and _dropped_date(wanted, other)), None)

    def covered(self, paragraph: str, at: int) -> list[int]:
        """The lines, from line `at` on, that a paragraph of trafilatura's is made of, in order;
        trafilatura may have dropped a few words between two of them."""
        wanted, position, found = key(paragraph), 0, []
        for index in range(at, min(len(self.keys), at + 60)):
            if not self.keys[index]:
                continue
            where = wanted.find(self.keys[index], position)
            if where < 0 or where - position > 20:
                continue
            found.append(index)
            position = where + len(self.keys[index])
            if position >= len(wanted):
                break
        return found

    def last_line(self, paragraph: str, at: int) -> int:
        """The index of the last line a located paragraph is made of."""
        rest, last = key(paragraph), at
        for i in range(at, min(len(self.keys), at + 40)):
            if not rest:
                break
            if self.keys[i] and rest.startswith(self.keys[i]):
                rest, last = rest[len(self.keys[i]):], i
        return last

    def paragraphs(self, lines: list[tuple[str, int]]) -> list[Located]:
        """Lines taken from the page as paragraphs: the lines of one block, which only line breaks
        part, joined by a space (as trafilatura's paragraphs join them); each with its first line."""
        joined: list[tuple[str, int, int]] = []  # text, first line, last line
        for text, at in lines:
            if joined and at == joined[-1][2] + 1 and self.lines[at].owner is self.lines[joined[-1][2]].owner:
                joined[-1] = (f"{joined[-1][0]} {text}", joined[-1][1], at)
            else:
                joined.append((text, at, at))
        return [(text, first) for text, first, _ in joined]

    # -- what a line is

    def is_meta(self, index: int) -> bool:
        """A line of its own that dates or counts the post (`Words.is_meta`). In a list, where
        the list says when the post was published and its items are short labels (date, author,
        category, reading time, views), so a release's list of figures or dates stays."""
        line = self.lines[index]
        if line.owner.tag in _ITEMS and (items := line.owner.getparent()) is not None:
            first, last = span(self.lines, index, items)
            labels = [self.lines[i].folded for i in range(first, last + 1)]
            return (all(label.count(" ") < 8 and not SENTENCE_END.search(label) for label in labels)
                    and any(states_date(label, self.words, self.ref.published) for label in labels))
        if not self.words.is_meta(line.folded):
            return False
        first, last = span(self.lines, index, line.owner)
        # alone in its block, or with other such lines, not a line of a paragraph that says more
        return all(self.words.is_meta(r.folded) or r.noise for r in self.lines[first:last + 1])

    def outside_main(self, index: int) -> bool:
        """Whether a line stands outside the main content that holds the title: the page's footer,
        sidebars and widgets after it."""
        return self.main is not None and self.main not in self.lines[index].lineage

    def in_figure_or_data_table(self, line: Line) -> bool:
        """Whether a line is in a figure or a table of data (not one that lays out the page)."""
        return any(e.tag == "figure" or (e.tag == "table" and e not in self.layout) for e in line.lineage)

    def is_other_article(self, href: str | None) -> bool:
        """Whether a link leads to another article (any spelling of its URL, tracking or not)."""
        if href is None:
            return False
        if href not in self._other_articles:
            other = self._article_of(href)
            self._other_articles[href] = other is not None and _identity(other) != _identity(self.ref)
        return self._other_articles[href]

    def is_self_link(self, href: str | None) -> bool:
        """Whether a link leads to this article itself (a headline linked to its permalink)."""
        other = self._article_of(href) if href is not None else None
        return other is not None and _identity(other) == _identity(self.ref)

    def _article_of(self, href: str) -> ArticleRef | None:
        bare = urlsplit(urljoin(self.url, href))._replace(query="", fragment="").geturl()
        return article_ref(bare, self.profile)

    def slug_words(self) -> list[str]:
        """The words of the URL's slug (WordPress makes it of the title's), as `plain` spells them."""
        return [word for word in map(plain, self.ref.slug.split("-")) if len(word) > 2 and not word.isdigit()]

    def names_article(self, text: str) -> bool:
        """Whether a line holds most of the words of the URL's slug (and not many more): a title
        that names this article."""
        slug = self.slug_words()
        spelled = plain(text)
        return (len(slug) >= 2 and sum(word in spelled for word in slug) >= 0.7 * len(slug)
                and len(spelled) <= 2.5 * sum(map(len, slug)) + 10)

    def is_noise(self, paragraph: str) -> bool:
        return self.words.is_noise(fold(paragraph))

    def unglued(self, text: str) -> str:
        """The last guard: long widget phrases that markup glued to real text, cut out of it."""
        return cut(text, self.words.unmistakable) if self.words.unmistakable.search(fold(text)) else text


def _dropped_date(paragraph: str, line: str) -> bool:
    """Whether a paragraph's key starts with most of a line's, the rest of the line left out a
    date or count (its digits): a title whose <time> trafilatura dropped."""
    head = next((i for i, (a, b) in enumerate(zip(paragraph, line, strict=False)) if a != b),
                min(len(paragraph), len(line)))
    return head >= 0.6 * len(line) and any(c.isdigit() for c in line[head:])


def is_link_label(line: Line) -> bool:
    """A few words that are all a link: a tag, a category, a menu item; never a paragraph."""
    return line.linked > 0.9 and line.folded.count(" ") < 4


def is_label(line: Line) -> bool:
    """A few words that are no link and no sentence: a heading or a box's title."""
    return line.linked < 0.5 and line.folded.count(" ") < 8 and not SENTENCE_END.search(line.text)


def says_something(line: Line) -> bool:
    """A line of text that says something: no heading, label, link or furniture."""
    return (line.kind == "substantial" and line.owner.tag not in HEADINGS
            and line.linked < 0.5 and not line.noise)


def _identity(ref: ArticleRef) -> tuple[str, dt.date, str]:
    return ref.language, ref.published, ref.slug.casefold()


@functools.lru_cache(maxsize=8192)
def plain(text: str) -> str:
    """Letters and digits only, folded (no case, accents, harakat): a title as its slug spells it."""
    return "".join(filter(str.isalnum, fold(text)))


@functools.lru_cache(maxsize=8192)
def key(text: str) -> str:
    """Letters and digits only: how a paragraph of trafilatura's output is found in the page."""
    # Cached: a paragraph is keyed once to be found, and again at every later step.
    return "".join(filter(str.isalnum, unicodedata.normalize("NFKC", text).casefold()))
