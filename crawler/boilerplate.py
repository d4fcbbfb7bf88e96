"""Step 1 of extraction: the profile's boilerplate widgets cut out of the DOM, each with the
largest enclosing block that holds nothing else of substance."""

from __future__ import annotations

from lxml.html import HtmlElement

from crawler.layout import HEADINGS, Run
from crawler.phrases import Words, alnum, fold


def cut_inline_widgets(runs: list[Run], words: Words) -> bool:
    """Cut widgets set inline among a line's words (spans inside a paragraph); whether any was."""
    cut = False
    for run in runs:
        folded = run.folded = fold(run.text)
        if not words.mentions_boilerplate(folded):
            continue
        inline = set()  # the line's inline elements, outermost first below
        for element, _ in run.pieces:
            while element is not run.owner and element not in inline:
                inline.add(element)
                element = element.getparent()
        for element in [e for e in run.owner.iter() if e in inline]:
            if run.owner in element.iterancestors():  # not cut already with an enclosing element
                widget = fold(element.text_content())
                if words.is_widget(widget) and alnum(folded) - alnum(widget) > 12:
                    element.drop_tree()
                    cut = True
    return cut


def cut_boilerplate(runs: list[Run], words: Words) -> list[Run]:
    """Remove every widget line from the tree with the largest block around it that holds
    nothing of substance; return the runs that are left."""
    holders: set[HtmlElement] = set()
    for run in runs:
        run.folded = run.folded or fold(run.text)
        run.lineage = frozenset((run.owner, *run.owner.iterancestors()))
        if words.is_boilerplate(run.folded):
            run.kind = "boilerplate"
        elif run.owner.tag in HEADINGS or run.folded.count(" ") >= 4 or alnum(run.folded) > 25:
            run.kind = "substantial"
            holders |= run.lineage
    removed: set[HtmlElement] = set()
    for run in runs:
        if run.kind != "boilerplate":
            continue
        if run.owner in holders:  # the widget's text sits in a block that holds an article too
            for element, attr in run.pieces:
                setattr(element, attr, None)
            continue
        top = run.owner
        while (parent := top.getparent()) is not None and parent not in holders and parent.tag != "body":
            top = parent
        if top not in removed and top.getparent() is not None:
            top.drop_tree()  # keeps its tail, which belongs to the parent's line
            removed.add(top)
    return [run for run in runs if run.kind != "boilerplate" and removed.isdisjoint(run.lineage)]
