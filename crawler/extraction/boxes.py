"""The boxes around an article that are not it: teasers of other posts, asides (related posts,
comments, "most read", any short heading above teasers), forms' widgets; and whether the page
is a listing of posts rather than an article."""

from __future__ import annotations

from itertools import islice

from lxml.html import HtmlElement

from crawler.extraction.lines import HEADINGS, Line, Span, block_from, inside, is_text, span
from crawler.extraction.page import Located, Page, is_label, says_something
from crawler.extraction.phrases import alnum


def teaser_cards(page: Page) -> list[Span]:
    """Blocks that present another post: its linked title, then its excerpt."""
    teasers = {i for i, r in enumerate(page.lines) if r.kind == "substantial" and (
        page.is_other_article(r.href) or (r.linked >= 0.5 and page.is_other_article(_link_of(r))))}
    return [block_from(page.lines, i, teasers, page.title_at) for i in sorted(teasers)]


def _link_of(line: Line) -> str | None:
    """The link most of a line is the text of (a title beside its date: "Title 12 May 2025")."""
    hrefs = set()
    for element, kind in line.pieces:
        holder = element if kind == "text" else element.getparent()
        while holder is not None and holder is not line.owner:
            if holder.tag == "a" and holder.get("href"):
                hrefs.add(holder.get("href"))
                break
            holder = holder.getparent()
    return hrefs.pop() if len(hrefs) == 1 else None


def aside_blocks(page: Page, text: frozenset[int], cards: list[Span]) -> list[Span]:
    """From an aside heading ("Related posts", "Comments", or any short heading right above
    teasers of other posts: "More from ICESCO") to the end of its block, which never holds the
    lines of `text` (what trafilatura took for the article's text, and captions); a box between
    the title and any text of the page's own ("Most read" before the text in the same column)
    holds none of the lines that say something either."""
    starts = {first for first, _ in cards}
    headings = [i for i, line in enumerate(page.lines) if page.words.is_aside_heading(line.folded)
                or (i + 1 in starts and i != page.title_at and i not in page.captions and is_label(line)
                    and not page.is_meta(i))]  # a date line right above a box is no heading of it
    start = (page.title_at or -1) + 1
    in_cards = {i for first, last in cards for i in range(first, last + 1)}
    first_own = next((i for i, line in enumerate(page.lines[start:], start) if i not in in_cards
                      and (says_something(line) or i in page.captions)), len(page.lines)) if headings else 0
    blocks = []
    for index in headings:
        # a box before the text may not reach the text: holding its first line is holding it
        kept = text | {first_own} if start <= index < first_own else text
        last = block_from(page.lines, index, set(), page.title_at, kept)[1]
        if last == index:  # a heading among the article's blocks: the rest of its parent
            last = span(page.lines, index, page.lines[index].owner.getparent())[1]
        blocks.append((index, last))
    return blocks


def form_widgets(page: Page) -> list[Span]:
    """Blocks around a form's fields that hold no more than one line of text, and not the title:
    a newsletter box ("Subscribe: get the latest news…"), a search or comment form."""
    fields = [field for field in page.tree.iter("input", "textarea", "select") if field.get("type") != "hidden"]
    around = {e for field in fields for e in field.iterancestors()}
    extent: dict[HtmlElement, Span] = {}  # the first and last line in each of them
    for index, line in enumerate(page.lines):
        for element in line.lineage & around:
            extent[element] = (extent.get(element, (index,))[0], index)
    widgets = []
    for field in fields:
        found, element = None, field
        while (element := element.getparent()) is not None and element.tag not in ("body", "html"):
            first, last = extent.get(element, (len(page.lines), -1))
            said = (i for i in range(first, last + 1) if says_something(page.lines[i]))
            if inside(page.title_at, [(first, last)]) or len(list(islice(said, 2))) > 1:
                break  # it holds the title, or more than one line of text
            found = (first, last) if first <= last else found
        if found:
            widgets.append(found)
    return widgets


def is_listing(page: Page, cards: list[Span], body: list[Located]) -> bool:
    """Many posts (more than a related-posts block's two) and no text of the page's own: none
    at all, or the posts follow the heading directly and hold more text than anything else.
    Never where the heading names the article as its URL does (a gallery with related posts)."""
    if len(cards) < 3 or (page.title_at is not None and page.names_article(page.lines[page.title_at].text)):
        return False
    if not body:
        return True
    first = min(c[0] for c in cards)
    if page.title_at is None or first < page.title_at:  # posts before the heading: a sidebar
        return False
    between = page.lines[page.title_at + 1: first]
    if any(r.kind == "substantial" and r.href is None and not r.noise for r in between):
        return False
    in_cards = sum(alnum(page.lines[i].folded) for a, b in cards for i in range(a, b + 1))
    return in_cards > sum(alnum(text) for text, _ in body)


def has_own_text(page: Page, cards: list[Span]) -> bool:
    """Whether the page has text of its own: a substantial line of text outside the posts it shows."""
    return any(line.kind == "substantial" and is_text(line, page.layout) and line.owner.tag not in HEADINGS
               and not inside(i, cards) for i, line in enumerate(page.lines))
