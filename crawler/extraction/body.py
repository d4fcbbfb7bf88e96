"""The release's own text among a page's lines, from trafilatura's paragraphs: each found in the
page and kept only where an article's text stands (after the title, in the main content, outside
teasers, asides and widgets, not a meta, link or footer line), cut where the page's furniture
takes over, completed with the lines trafilatura skipped; else the lines after the title; else a
photo post's captions."""

from __future__ import annotations

from crawler.extraction.lines import HEADINGS, Line, Span, alike, in_footer, inside, is_text, same_block, span
from crawler.extraction.metadata import is_site_name
from crawler.extraction.page import REPEATED, SENTENCE_END, Located, Page, is_label, is_link_label, key
from crawler.extraction.phrases import alnum, fold


def located_paragraphs(page: Page, paragraphs: list[str]) -> list[Located]:
    """trafilatura's paragraphs, each with the line that holds it; widgets, furniture, link
    labels and repeats left out."""
    located: list[Located] = []
    used: set[int] = set()
    for paragraph in paragraphs:
        if page.is_noise(paragraph):
            continue
        at = page.locate(paragraph, used)
        if at is None:
            located.append((paragraph, at))
        elif at != REPEATED and not is_link_label(page.lines[at]):
            located.append((paragraph, at))
            used.add(at)
    return located


def _in_figure_or_grid(page: Page, line: Line) -> bool:
    """Whether a line is in a figure or a grid of data: a table that does not lay out the page
    with a row of several cells (a table of one column is a layout's frame of short text)."""
    return any(e.tag == "figure" or (e.tag == "table" and e not in page.layout and any(
        len(row.xpath("./td|./th")) > 1 for row in e.iter("tr"))) for e in line.lineage)


def in_page_order(located: list[Located]) -> list[Located]:
    """trafilatura's paragraphs in the order of the page (it may put the title and a meta block
    it found late after the text); one not found stays after the one before it."""
    positions, last = [], -1
    for _, at in located:
        last = at if at is not None else last
        positions.append(last)
    return [paragraph for _, _, paragraph in sorted(zip(positions, range(len(located)), located, strict=True))]


def unglued_lines(page: Page, located: list[Located]) -> list[Located]:
    """Paragraphs of trafilatura's that glue the title, the date line, counters or menu items
    to the text (all inline in one block, parted by line breaks), without those lines."""
    out: list[Located] = []
    for text, at in located:
        if at is None or len(key(text)) <= len(page.keys[at]):
            out.append((text, at))
            continue
        covered = page.covered(text, at)
        first = 0
        while first < len(covered) and _is_chrome(page, covered[first], covered, first):
            first += 1
        last = len(covered)
        while last > first and _is_chrome(page, covered[last - 1], covered, None):
            last -= 1
        if (first, last) == (0, len(covered)):
            out.append((text, at))
        else:  # and without the cells and captions among its lines: never text (see TRAFILATURA_OPTIONS)
            out.extend(page.paragraphs([(page.lines[i].text, i) for i in covered[first:last]
                                        if not page.in_figure_or_data_table(page.lines[i])]))
    return out


def _is_chrome(page: Page, index: int, covered: list[int], leading: int | None) -> bool:
    """Whether line `index` of a glued paragraph is the title or the page's: furniture, links;
    at its head (`leading`: its place in `covered`) also a meta line, where the title or chrome
    came before it or the text that follows is another block's (a line of a hard-wrapped
    paragraph may hold a date)."""
    line = page.lines[index]
    if index == page.title_at or line.noise or line.linked >= 0.5 or is_site_name(line.text, page.words):
        return True
    if leading is None or not page.words.is_meta(line.folded):
        return False
    after = next((i for i in covered[leading + 1:] if not page.words.is_meta(page.lines[i].folded)), None)
    return leading > 0 or (after is not None and page.lines[after].owner is not line.owner)


def article_text(page: Page, located: list[Located], title: str, asides: list[Span]) -> list[Located]:
    """The paragraphs that stand where an article's text does: after the title, in the main
    content, outside teasers of other posts, asides and widgets and the title's <header>; no meta,
    link or footer line."""
    title_key = key(title)
    return [(text, at) for text, at in located if key(text) != title_key and not _crumbs_to(page, at, title_key) and (
        _unlocated_text(page, text) if at is None else not (
            (page.title_at is not None and at < page.title_at) or inside(at, asides)
            or page.lines[at].linked >= 0.5 or page.is_meta(at) or in_footer(page.lines[at])
            or page.outside_main(at) or _in_figure_or_grid(page, page.lines[at]) or _in_header(page, at)
            or _title_header(page, at)))]


def _unlocated_text(page: Page, text: str) -> bool:
    """Whether a paragraph of trafilatura's not found among the lines may be text: no meta line,
    and a sentence or more than a few words (not a header's pieces glued, a <time> left out)."""
    return not page.words.is_meta(fold(text)) and (bool(SENTENCE_END.search(text)) or text.count(" ") >= 10)


def _title_header(page: Page, at: int) -> bool:
    """Whether line `at` is in the <header> that holds the title (kicker, byline, date, reading
    time), one that holds no paragraph of text."""
    if page.title_at is None or at == page.title_at:
        return False
    header = next((e for e in page.lines[page.title_at].lineage if e.tag == "header"), None)
    if header is None or header not in page.lines[at].lineage:
        return False
    first, last = span(page.lines, page.title_at, header)
    return not any(SENTENCE_END.search(page.lines[i].text) and page.lines[i].text.count(" ") >= 12
                   for i in range(first, last + 1))


def _crumbs_to(page: Page, at: int | None, title_key: str) -> bool:
    """Whether line `at` is a breadcrumb that ends at the article: links and the title."""
    if at is None or not title_key:
        return False
    line = page.lines[at]
    text_key = page.keys[at]
    return (line.linked > 0 and text_key.endswith(title_key) and len(text_key) - len(title_key) <= 40
            and not SENTENCE_END.search(line.text))


def _in_header(page: Page, at: int) -> bool:
    """Whether line `at` is a label of the article's header: a few words, no sentence, between the
    title (nothing but such labels between them) and the date or counter line right after it
    (an author's name above the date: "Écrit par Médias")."""
    title = page.title_at
    if title is None or not title < at or not is_label(page.lines[at]):
        return False
    return (at + 1 < len(page.lines) and page.is_meta(at + 1)
            and all(is_label(page.lines[i]) or page.is_meta(i) for i in range(title + 1, at)))


def lines_after_title(page: Page) -> list[Located]:
    """The text lines after the title, as paragraphs: where trafilatura took teasers or widgets
    for the content."""
    if page.title_at is None:
        return []
    after = enumerate(page.lines[page.title_at + 1:], page.title_at + 1)
    return page.paragraphs([(r.text, i) for i, r in after if r.kind == "substantial" and is_text(r, page.layout)
                            and not is_site_name(r.text, page.words)])


def main_stretch(page: Page, body: list[Located], cards: list[Span]) -> list[Located]:
    """Cut the body where the page's furniture or teasers come between two paragraphs of
    different blocks, and keep the stretches up to the longest one: what follows it is
    footer, comments, sidebars."""
    # Tables and figures are the article's own, even when their cells look like counters.
    marks = sorted({i for i, r in enumerate(page.lines) if r.noise
                    and not any(e.tag in ("table", "figure") for e in r.lineage)} | {c[0] for c in cards})
    stretches: list[list[Located]] = [[]]
    previous = None
    for text, at in body:
        if (at is not None and previous is not None and not same_block(page.lines[previous], page.lines[at])
                and any(previous < m < at for m in marks)):
            stretches.append([])
        stretches[-1].append((text, at))
        previous = at if at is not None else previous
    longest = max(range(len(stretches)), key=lambda i: sum(alnum(t) for t, _ in stretches[i]))
    return [paragraph for stretch in stretches[: longest + 1] for paragraph in stretch]


def not_past_the_end(page: Page, body: list[Located], ends: list[int]) -> list[Located]:
    """Nothing, when the body only starts past the end of the article (a teaser, aside or form
    box after the title) and does not read as text (no sentence, no list of items), or is only
    other posts' excerpts: what is left there is the site's (its address, a slogan), and where
    photos come before the box, the post is its photos. Text after a box that stands between the
    lead photo (or the title) and the text ("related posts" set before it) is the release's."""
    start = next((at for _, at in body if at is not None), None)
    if start is None or page.title_at is None or not any(page.title_at < end < start for end in ends):
        return body
    return body if reads_as_text(page, body) and not _only_teasers_follow(page, body) else []


def fill_gaps(page: Page, body: list[Located], asides: list[Span] | None = None) -> list[Located]:
    """Add the lines trafilatura skipped among the article's own (a short lead-in line, a
    repeated paragraph, a last paragraph with a link): text blocks beside a body paragraph, of
    the shape of the body's paragraphs, up to the next paragraph or the first line that is not
    text; figures and tables are passed over."""
    spans = [(at, page.last_line(text, at)) if at is not None else None for text, at in body]
    taken = {i for found in spans if found for i in range(found[0], found[1] + 1)}
    shapes = list({page.lines[at].owner: at for _, at in body if at is not None}.values())
    # boxes set among the text's paragraphs (related posts between two of them) are passed over
    parents = {page.lines[at].owner.getparent() for at in shapes}
    boxes = [(first, last) for first, last in asides or []
             if all(not parents.isdisjoint(page.lines[i].lineage) for i in (first, last))]
    filled: list[Located] = []
    for n, (text, at) in enumerate(body):
        if at is not None and not any(spans[:n]):  # before the first paragraph, back to the title
            before = _beside(page, [at], range(at - 1, -1, -1), taken, heading=False, boxes=boxes)
            filled.extend(page.paragraphs(before[::-1]))
        filled.append((text, at))
        if (found := spans[n]) is not None:
            following = next((found[0] for found in spans[n + 1:] if found), None)
            lines = range(found[1] + 1, following if following is not None else len(page.lines))
            filled.extend(page.paragraphs(_beside(page, shapes, lines, taken, heading=following is not None,
                                                  boxes=boxes)))
    return filled


def _beside(page: Page, paragraphs: list[int], indices: range, taken: set[int],
            heading: bool, boxes: list[Span] | None = None) -> list[tuple[str, int]]:
    """The lines at `indices`, in order, that are article text of the shape of one of the body
    paragraphs at lines `paragraphs`, up to the first that is not."""
    found = []
    for i in indices:
        line = page.lines[i]
        if page.in_figure_or_data_table(line):
            continue
        if (i in taken or i <= (page.title_at or -1) or not _joins(page, line, paragraphs, heading)
                or page.is_meta(i)):
            if i not in taken and inside(i, boxes or []):
                continue
            break
        found.append((line.text, i))
    return found


def _joins(page: Page, line: Line, paragraphs: list[int], heading: bool) -> bool:
    """Whether a line is article text that may stand beside body paragraphs of the shape of those
    at lines `paragraphs`."""
    return (is_text(line, page.layout) and (heading or line.owner.tag not in HEADINGS)
            and any(alike(line.owner, page.lines[p].owner)
                    # or a sentence set straight in the paragraphs' container, between two of them
                    or (line.owner is page.lines[p].owner.getparent() and bool(SENTENCE_END.search(line.text)))
                    for p in paragraphs))


def captions(page: Page, asides: list[Span]) -> list[Located]:
    """The captions of the photos after the title, outside teasers and asides."""
    start = page.title_at + 1 if page.title_at is not None else 0
    return page.paragraphs([(line.text, i) for i, line in enumerate(page.lines[start:], start)
                            if i in page.captions and not line.noise and not inside(i, asides)])


def reads_as_text(page: Page, body: list[Located]) -> bool:
    """Whether a body reads as a release's text: a sentence, or a list of several items."""
    items = [page.lines[at].owner.getparent() for _, at in body
             if at is not None and page.lines[at].owner.tag == "li"]
    return any(SENTENCE_END.search(text) for text, _ in body) or any(items.count(e) > 1 for e in items)


def _only_teasers_follow(page: Page, body: list[Located]) -> bool:
    """Whether the body is nothing but the excerpts of other posts' teasers (each right under a
    link to another article)."""
    return all(at is not None and at > 0 and page.is_other_article(page.lines[at - 1].href) for _, at in body)


def words_of_no_text(page: Page, body: list[Located], asides: list[Span]) -> list[Located]:
    """A body that does not read as text (no sentence, no list) and stands after the page's
    photos is the site's (a "Posted in" line, its address): the photos' captions are the post's
    words. With no caption, its lines that are closing labels, the site's name, a few words with a
    count ("Share this article 5 shares", "viewed 9,131 times") or sit in a block with nothing
    else but furniture or the site's name (a footer, a publisher box) are cut, and what is left is
    nothing when it is lines of several blocks that are no siblings (a byline in the post's footer,
    a feed link, an archive's heading)."""
    if not body or reads_as_text(page, body):
        return body
    start = next((at for _, at in body if at is not None), None)
    shown = captions(page, asides)
    if shown and start is not None and all(at is not None and at < start for _, at in shown):
        return shown
    if shown:
        return body
    rest = [(text, at) for text, at in body if at is None or not (
        _among_furniture(page, at) or _closing_label(page, page.lines[at]) or _counted(page.lines[at])
        or page.words.counts(page.lines[at].folded) or is_site_name(page.lines[at].text, page.words))]
    return [] if _scattered(page, rest) else rest


def _scattered(page: Page, body: list[Located]) -> bool:
    """Whether a body of no sentence is lines of several blocks that are not siblings (a byline in
    the post's footer, a feed link, an archive's heading, the site's address): furniture."""
    parents = {page.lines[at].owner.getparent() if at is not None else None for _, at in body}
    return len(body) > 1 and len(parents) > 1


def _counted(line: Line) -> bool:
    """A few words with a number among them, no sentence: a counter's line."""
    return line.folded.count(" ") < 6 and any(c.isdigit() for c in line.folded)


def _among_furniture(page: Page, at: int) -> bool:
    """Whether line `at` shares its enclosing block only with furniture, site-name lines, no text."""
    parent = page.lines[at].owner.getparent()
    if parent is None or parent.tag in ("body", "html"):
        return False
    first, last = span(page.lines, at, parent)
    others = [page.lines[i] for i in range(first, last + 1) if i != at]
    return bool(others) and all(r.noise or is_site_name(r.text, page.words) for r in others)


def without_closing_labels(page: Page, body: list[Located]) -> list[Located]:
    """Without the short lines that close a text with a label and a link to a page of the site
    that is no article (a category: "Posted in News"), the site's name, a few words outside the
    blocks of the text's sentences ("Share this article 46 shares", "Subscribe to: Post Comments")
    or a count of views anywhere ("This page has been viewed 9,131 times"), or that share a block
    only with furniture or the site's name (a publisher box: its address), after the text's last
    sentence."""
    parents = {page.lines[at].owner.getparent() for text, at in body if at is not None and SENTENCE_END.search(text)}
    while len(body) > 1 and (at := body[-1][1]) is not None and (
            _closing_label(page, page.lines[at]) or is_site_name(page.lines[at].text, page.words)
            or (not SENTENCE_END.search(page.lines[at].text) and (
                _among_furniture(page, at)
                or (page.lines[at].folded.count(" ") < 10 and parents.isdisjoint(page.lines[at].lineage))
                or page.words.counts(page.lines[at].folded)))):
        if not any(SENTENCE_END.search(text) for text, _ in body[:-1]):
            break
        body = body[:-1]
    return body


def _closing_label(page: Page, line: Line) -> bool:
    """A few words, no sentence, ending with a link to a page of the site that is no article and
    no file ("Posted in <a>News</a>")."""
    if line.owner.tag in ("li", "dd", "dt") or SENTENCE_END.search(line.text) or line.folded.count(" ") > 4:
        return False
    links = [e.get("href") for e in line.owner.iter("a") if e.get("href")]
    return (0 < line.linked < 1 and bool(links) and line.text.endswith(line.owner.xpath("string(.//a[last()])").strip())
            and not any(page.is_other_article(h) or h.rsplit("/", 1)[-1].count(".") for h in links))
