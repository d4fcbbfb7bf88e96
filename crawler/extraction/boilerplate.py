"""Step 1 of extraction: the profile's boilerplate widgets cut out of the DOM, each with the
largest enclosing block that holds nothing else of substance."""

from __future__ import annotations

from lxml.html import HtmlElement

from crawler.extraction.lines import HEADINGS, Line
from crawler.extraction.phrases import Words, alnum, fold


def cut_inline_widgets(lines: list[Line], words: Words) -> bool:
    """Cut widgets set inline among a line's words (spans inside a paragraph); whether any was."""
    cut = False
    for line in lines:
        folded = line.folded = fold(line.text)
        if not words.mentions_boilerplate(folded):
            continue
        inline = set()  # the line's inline elements, outermost first below
        for element, _ in line.pieces:
            while element is not line.owner and element not in inline:
                inline.add(element)
                element = element.getparent()
        for element in [e for e in line.owner.iter() if e in inline]:
            if line.owner in element.iterancestors():  # not cut already with an enclosing element
                widget = fold(element.text_content())
                if words.is_widget(widget) and alnum(folded) - alnum(widget) > 12:
                    element.drop_tree()
                    cut = True
    return cut


def cut_boilerplate(lines: list[Line], words: Words) -> list[Line]:
    """Remove every widget line from the tree with the largest block around it that holds
    nothing of substance; return the lines that are left."""
    holders: set[HtmlElement] = set()
    for line in lines:
        line.folded = line.folded or fold(line.text)
        line.lineage = frozenset((line.owner, *line.owner.iterancestors()))
        if words.is_boilerplate(line.folded):
            line.kind = "boilerplate"
        elif line.owner.tag in HEADINGS or line.folded.count(" ") >= 4 or alnum(line.folded) > 25:
            line.kind = "substantial"
            holders |= line.lineage
    removed: set[HtmlElement] = set()
    for line in lines:
        if line.kind != "boilerplate":
            continue
        if line.owner in holders:  # the widget's text sits in a block that holds an article too
            for element, attr in line.pieces:
                setattr(element, attr, None)
            continue
        top = line.owner
        while (parent := top.getparent()) is not None and parent not in holders and parent.tag != "body":
            top = parent
        if top not in removed and top.getparent() is not None:
            top.drop_tree()  # keeps its tail, which belongs to the parent's line
            removed.add(top)
    return [line for line in lines if line.kind != "boilerplate" and removed.isdisjoint(line.lineage)]
