"""The page read as lines: the text a browser would lay out line by line, in document order,
and the blocks of the tree that hold them."""

from __future__ import annotations

from dataclasses import dataclass

from lxml.html import HtmlElement

from storage.content import normalize_text

PAGE_BLOCKS = frozenset(
    "address article aside blockquote body caption center dd details dialog div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li main menu "
    "nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
OUTPUT_BLOCKS = frozenset("body p head list item quote table row cell code div".split())
_SKIPPED = frozenset("script style noscript template svg math iframe object select textarea".split())
HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
Span = tuple[int, int]  # the first and last line of a block
# never body lines; a <footer> is about its section (tags, share buttons, the site's address)
_NOT_TEXT = frozenset("figure figcaption nav button label footer".split())
# nor tables of data and forms' fields; a page laid out in a table (or wrapped in a form) is text
_BOXES = frozenset({"table", "form"})
_LAYOUT = HEADINGS | frozenset("table form ul ol section article main nav header footer".split())


@dataclass(eq=False)
class Line:
    """One laid-out line of text: its block, its text, and where that text lives."""

    owner: HtmlElement
    text: str
    pieces: list[tuple[HtmlElement, str]]
    href: str | None  # set when the whole line is the text of one link
    linked: float = 0.0  # the share of the line that is link text
    lineage: frozenset[HtmlElement] = frozenset()
    folded: str = ""
    kind: str = "minor"  # boilerplate | substantial | minor
    noise: bool = False


def read_lines(root: HtmlElement, blocks: frozenset[str], breaks: bool = False) -> list[Line]:
    """The lines of `root` in document order; a line break ends a line when `breaks`, else
    it is a space (trafilatura's paragraphs join the lines of a hard-wrapped paragraph)."""
    lines: list[Line] = []
    parts: list[str] = []
    pieces: list[tuple[HtmlElement, str]] = []
    links: list[tuple[str, str]] = []

    def flush(owner: HtmlElement) -> None:
        if not parts:  # most blocks end right where another began
            return
        text = normalize_text("".join(parts))
        if text:
            hrefs = {href for href, _ in links}
            linked = normalize_text("".join(t for _, t in links)) if links else ""
            whole_link = len(hrefs) == 1 and linked == text
            lines.append(Line(owner, text, list(pieces), hrefs.pop() if whole_link else None,
                            linked=len(linked) / len(text)))
        parts.clear()
        pieces.clear()
        links.clear()

    def walk(element: HtmlElement, owner: HtmlElement, href: str | None) -> None:
        # The hottest loop of extraction (every element of every page): text and tails are
        # added inline rather than through a helper.
        tag = element.tag
        if not isinstance(tag, str) or tag in _SKIPPED:
            return  # comments, processing instructions, scripts: their tail is the parent's
        if tag in blocks:
            flush(owner)
            owner = element
        elif tag in ("br", "lb"):
            flush(owner) if breaks else parts.append(" ")
        elif tag == "a" and element.get("href"):
            href = element.get("href")
        if text := element.text:
            parts.append(text)
            pieces.append((element, "text"))
            if href is not None:
                links.append((href, text))
        for child in element:
            walk(child, owner, href)
            if tail := child.tail:
                parts.append(tail)
                pieces.append((child, "tail"))
                if href is not None:
                    links.append((href, tail))
        if tag in blocks:
            flush(owner)

    walk(root, root, None)
    flush(root)
    return lines


def is_text(line: Line, layout: frozenset[HtmlElement] = frozenset()) -> bool:
    """A line that may be article text: not mostly links, furniture, a figure or footer, a form's
    or a table's unless that table or form is one of `layout` (`layout_boxes`)."""
    return (line.linked < 0.5 and not line.noise and line.kind != "boilerplate"
            and not any(e.tag in _NOT_TEXT or (e.tag in _BOXES and e not in layout) for e in line.lineage))


def layout_boxes(root: HtmlElement) -> frozenset[HtmlElement]:
    """The tables and forms that lay out the page rather than hold data or fields: they hold
    headings, lists, sections or other tables, or (tables) a cell of running text."""
    return frozenset(box for box in root.iter("table", "form") if any(
        isinstance(e.tag, str) and (e.tag in _LAYOUT or (e.tag == "td" and len(e.text_content()) > 300))
        for e in box.iterdescendants()))


def in_footer(line: Line) -> bool:
    """Whether a line is in a footer: of the page or of a section (its tags, share buttons)."""
    return any(e.tag == "footer" or e.get("role") == "contentinfo" for e in line.lineage)


def is_caption(line: Line, figures: set[HtmlElement]) -> bool:
    """Whether a line is the caption of a photo: in one of `figures` (the page's figure and
    figcaption elements), and no link."""
    return line.linked < 0.5 and not figures.isdisjoint(line.lineage)


def span(lines: list[Line], index: int, element: HtmlElement) -> tuple[int, int]:
    """The first and last line inside `element`, around line `index` (lines are in document order)."""
    first = last = index
    while first > 0 and element in lines[first - 1].lineage:
        first -= 1
    while last + 1 < len(lines) and element in lines[last + 1].lineage:
        last += 1
    return first, last


def block_from(lines: list[Line], index: int, others: set[int], title_at: int | None,
               kept: frozenset[int] = frozenset()) -> tuple[int, int]:
    """The lines of the largest block that starts with line `index` (nothing of substance
    before it) and holds neither the title (line `title_at`) nor another of `others`, nor
    any of the lines `kept`."""
    found = (index, index)
    element = lines[index].owner
    own = span(lines, index, element)  # the line's block may hold more lines (an excerpt in its item)
    if own[0] == index and not any(own[0] < other <= own[1] for other in (*others, *kept)) and not (
            title_at is not None and own[0] < title_at <= own[1]):
        found = own
    while (parent := element.getparent()) is not None and parent.tag != "body":
        first, last = span(lines, index, parent)
        holds_another = any(first <= other <= last for other in (*others, *kept) if other != index)
        after_text = any(r.kind == "substantial" and not r.noise for r in lines[first:index])
        if holds_another or after_text or inside(title_at, [(first, last)]):
            break
        found, element = (first, last), parent
    return found


def same_block(one: Line, other: Line) -> bool:
    """Whether two lines are lines of one block: siblings, or items of a list or quote in it."""
    a, b = one.owner, other.owner
    up = 0
    while a not in other.lineage:
        a, up = a.getparent(), up + 1
    down = next(i for i, e in enumerate((b, *b.iterancestors())) if e is a)
    return max(up, down) <= 2


def alike(one: HtmlElement, other: HtmlElement, levels: int = 4) -> bool:
    """Whether two blocks are the same or cousins of one shape: siblings, or the same tags
    up to a common ancestor (one paragraph per page-builder widget)."""
    while levels and one is not None and other is not None:
        if one is other:
            return True
        if one.tag != other.tag:
            return False
        one, other, levels = one.getparent(), other.getparent(), levels - 1
    return False


def inside(index: int | None, spans: list[tuple[int, int]]) -> bool:
    """Whether line `index` falls within one of the (first, last) spans of lines."""
    return index is not None and any(first <= index <= last for first, last in spans)
