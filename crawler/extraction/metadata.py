"""An article's title and date as the page states them: the document titles, the site's name
around a title, what may be a title at all, and the date line near the headline."""

from __future__ import annotations

import datetime as dt
import re

from htmldate import find_date
from lxml.html import HtmlElement

from crawler.extraction.lines import Line
from crawler.extraction.phrases import Words, alnum, fold
from storage.content import normalize_text

_TITLE_SPLIT = re.compile(r"(\s+[|–—\-·•»~:]\s+)")


def head_titles(tree: HtmlElement) -> list[str]:
    """The titles the document declares: og:title, twitter:title and <title>."""
    found = tree.xpath(
        "//meta[@property='og:title' or @name='twitter:title']/@content | //head/title/text()")
    return [title for title in map(normalize_text, found) if title]


def strip_site(title: str, words: Words) -> str:
    """A title without the site's name after it ("Title – ICESCO", "Title | ICESCO"), or
    before it when set off by a bar ("ICESCO | Title"); "" when nothing else is left."""
    segments = _TITLE_SPLIT.split(title)  # text, separator, text, ...
    while len(segments) > 2 and is_site_name(segments[-1], words):
        del segments[-2:]
    while len(segments) > 2 and is_site_name(segments[0], words) and segments[1].strip() in "|»·•":
        del segments[:2]
    title = normalize_text("".join(segments))
    return title if valid_title(title, words) else ""


def is_site_name(text: str, words: Words) -> bool:
    """Whether `text` is only the name the site signs its pages with."""
    return words.made_of(words.site_names, fold(text), leftover=2)


def valid_title(text: str, words: Words) -> bool:
    """Whether `text` may be a title: not the site's name, a widget, furniture or an aside heading."""
    folded = fold(text)
    return bool(alnum(folded)) and not (
        is_site_name(text, words) or words.is_boilerplate(folded)
        or words.is_furniture(folded) or words.is_aside_heading(folded))


def same_title(heading: str, title: str) -> bool:
    """A heading and a document title (keys) name the same article; the title may be cut short."""
    return heading == title or (len(title) >= 20 and heading.startswith(title))


def page_date(lines: list[Line], title_at: int | None, body_start: int | None, words: Words,
              tree: HtmlElement) -> dt.date | None:
    """The date line near the headline (line `title_at`), before the body (line `body_start`),
    else the page's date markup (htmldate)."""
    stop = body_start if body_start is not None else len(lines)
    start = max(0, title_at - 3) if title_at is not None else max(0, stop - 12)
    for line in lines[start:stop]:
        if line.folded.count(" ") < 12 and (found := written_date(line.folded, words)):
            return found
    published = find_date(tree, extensive_search=False, original_date=True, url="")
    return dt.date.fromisoformat(published) if published else None


_NUMERIC = re.compile(r"(?<!\d)(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})(?!\d)")


def states_date(folded: str, words: Words, date: dt.date) -> bool:
    """Whether a line states `date`: written ("15 september 2022") or in figures, day or month
    first ("14/06/2023", "06/14/2023", "2023-06-14")."""
    if any(_date_of(match, words) == date for match in words.date.finditer(folded)):
        return True
    for a, b, c in _NUMERIC.findall(folded):
        for y, m, d in ((c, b, a), (c, a, b), (a, b, c)):
            if len(y) == 4 and (int(y), int(m), int(d)) == (date.year, date.month, date.day):
                return True
    return False


def _date_of(match: re.Match[str], words: Words) -> dt.date | None:
    found = {name[0]: value for name, value in match.groupdict().items() if value}
    try:
        month = words.months.get(found["m"]) or int(found["m"])
        day = re.match(r"\d+", found["d"])
        return dt.date(int(found["y"]), month, int(day[0])) if day else None
    except ValueError:  # "31 february 2022"
        return None


def written_date(folded: str, words: Words) -> dt.date | None:
    """The first date written in a line, e.g. "15 september 2022", "31 يوليو 2025"."""
    return next(filter(None, (_date_of(match, words) for match in words.date.finditer(folded))), None)
