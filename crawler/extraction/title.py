"""The headline among a page's lines: the heading the document title names, else a line named by
the document title or by the words of the URL's slug, else the heading right before the text,
else the document title itself."""

from __future__ import annotations

from crawler.extraction.lines import HEADINGS
from crawler.extraction.metadata import same_title, valid_title
from crawler.extraction.page import SENTENCE_END, Located, Page, key, plain
from crawler.extraction.phrases import alnum


def find_title(page: Page, located: list[Located]) -> tuple[str, int | None] | None:
    """The title and the index of its line (None where only the document names it); None
    when the page has no title."""
    headings = [i for i, r in enumerate(page.lines) if r.owner.tag in HEADINGS
                and not page.is_other_article(r.href) and valid_title(r.text, page.words)]
    wanted = [key(t) for t in page.doc_titles]
    named = [i for i in headings if any(same_title(page.keys[i], k) for k in wanted)]
    if named:
        best = min(named, key=lambda i: (page.lines[i].href is not None, i))
        return page.lines[best].text, best
    if (at := _named_line(page, wanted)) is not None:
        return page.lines[at].text, at
    first = next((at for p, at in located if at is not None and alnum(p) >= 80), None)
    if first is None:
        first = next((at for _, at in located if at is not None), None)
    before = [i for i in headings
              if first is not None and i < first and page.lines[i].owner.tag in ("h1", "h2", "h3")]
    if before:  # the nearest, unless that is a one- or two-word label ("News")
        best = next((i for i in reversed(before) if page.lines[i].folded.count(" ") >= 2), before[-1])
        return page.lines[best].text, best
    if page.doc_titles:
        title = page.doc_titles[0]
        return title, page.by_key.get(key(title), [None])[0]
    return None


def _named_line(page: Page, wanted: list[str]) -> int | None:
    """A line that is no heading but names the article (a title in <b>, <font>, a styled div):
    the document title's, else most of the words of the URL's slug and not many more.
    Headings first, then lines outside lists (a breadcrumb ends with the title too)."""
    slug = page.slug_words()
    best: tuple[float, bool, bool, int] | None = None
    for index, line in enumerate(page.lines):
        if (line.noise or (line.linked >= 0.5 and not page.is_self_link(line.href))
                or line.folded.count(" ") >= 40 or not valid_title(line.text, page.words)):
            continue
        if any(same_title(page.keys[index], k) for k in wanted):
            score = 2.0
        elif page.names_article(line.text) and (
                line.owner.tag in HEADINGS or not SENTENCE_END.search(line.text)):
            spelled = plain(line.text)
            score = sum(word in spelled for word in slug) / len(slug)
        else:
            continue
        rank = (-score, line.owner.tag not in HEADINGS, "li" in {e.tag for e in line.lineage}, index)
        best = min(best, rank) if best else rank
    return best[-1] if best else None
