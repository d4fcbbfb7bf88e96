"""Article extraction: page bytes and URL in, an `Extracted` record out. Pure, no Scrapy.

The page is parsed once and read as *runs*: the lines of text a browser would lay out
(text between block boundaries), in document order. On that reading:

1. the boilerplate widgets (profile phrases) are cut out of the DOM, taking the largest
   enclosing block that holds nothing else of substance;
2. trafilatura picks the main content of what is left and returns it as paragraphs;
3. each paragraph is found again among the runs, and kept only where an article's text
   stands: after the title, outside teasers of other posts and asides (related posts,
   comments), before the page's furniture takes over, and not itself a widget, date,
   counter, byline or footer line.

Nothing depends on a CSS class or id: only on structure, the profile's words and the URL.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.utils import load_html

from crawler.sites import ICESCO, SiteProfile
from crawler.urls import ArticleRef, article_ref
from storage.content import normalize_text

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
    words = _words(profile)
    runs = _read_runs(tree.find("body"), _PAGE_BLOCKS, breaks=True)
    if _cut_inline_widgets(runs, words):
        runs = _read_runs(tree.find("body"), _PAGE_BLOCKS, breaks=True)
    runs = _cut_boilerplate(runs, words)
    page = _Page(tree, runs, words, url, ref, profile)
    page.reject_error_page()
    document = bare_extraction(tree, url=url, **_TRAFILATURA_OPTIONS)
    found = document.body if document is not None and document.body is not None else None
    paragraphs = [run.text for run in _read_runs(found, _OUTPUT_BLOCKS)] if found is not None else []
    title, body = page.article(paragraphs)
    return Extracted(url=url, language=ref.language, title=title,
                     published=page.published(body_start=body[0][1]),
                     paragraphs=tuple(text for text, _ in body))


# Recall over precision: what trafilatura lets through is filtered below by structure,
# what it drops is lost. Tables, images, links and formatting are not release text;
# comments are not either. `deduplicate` stays off: its cache is process-wide, so a second
# extraction of the same page would lose paragraphs seen in the first.
_TRAFILATURA_OPTIONS = dict(
    include_comments=False, include_tables=False, include_images=False, include_links=False,
    include_formatting=False, deduplicate=False, with_metadata=False, favor_recall=True,
)

# -- reading a tree as runs ---------------------------------------------------------------------

_PAGE_BLOCKS = frozenset(
    "address article aside blockquote body caption center dd details dialog div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li main menu "
    "nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
_OUTPUT_BLOCKS = frozenset("body p head list item quote table row cell code div".split())
_SKIPPED = frozenset("script style noscript template svg math iframe object select textarea".split())
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
_NOT_TEXT = frozenset("table figure figcaption form nav button label".split())  # never body lines


@dataclass(eq=False)
class _Run:
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


def _read_runs(root: HtmlElement, blocks: frozenset[str], breaks: bool = False) -> list[_Run]:
    """The runs of `root` in document order; a line break ends a run when `breaks`, else
    it is a space (trafilatura's paragraphs join the lines of a hard-wrapped paragraph)."""
    runs: list[_Run] = []
    parts: list[str] = []
    pieces: list[tuple[HtmlElement, str]] = []
    links: list[tuple[str, str]] = []

    def add(element: HtmlElement, attr: str, text: str | None, href: str | None) -> None:
        if text:
            parts.append(text)
            pieces.append((element, attr))
            if href is not None:
                links.append((href, text))

    def flush(owner: HtmlElement) -> None:
        text = normalize_text("".join(parts))
        if text:
            hrefs = {href for href, _ in links}
            linked = normalize_text("".join(t for _, t in links))
            whole_link = len(hrefs) == 1 and linked == text
            runs.append(_Run(owner, text, list(pieces), hrefs.pop() if whole_link else None,
                             linked=len(linked) / len(text)))
        parts.clear(), pieces.clear(), links.clear()

    def walk(element: HtmlElement, owner: HtmlElement, href: str | None) -> None:
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
        add(element, "text", element.text, href)
        for child in element:
            walk(child, owner, href)
            add(child, "tail", child.tail, href)
        if tag in blocks:
            flush(owner)

    walk(root, root, None)
    flush(root)
    return runs


# -- the profile's words, folded for tolerant matching ------------------------------------------

_FOLD_MARKS = re.compile(r"[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD_CHARS = str.maketrans({
    "’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "‛": "'", "،": ",", "؛": ";", "؟": "?",
    "ى": "ي", "ة": "ه", **{chr(0x660 + d): str(d) for d in range(10)},
    **{chr(0x6F0 + d): str(d) for d in range(10)},
})
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[?!:;.,])")


def _fold(text: str) -> str:
    """Text as compared with the profile's words: no case, accents, harakat, apostrophe
    or digit variants, single spaces and none before punctuation."""
    return _SPACE_BEFORE_PUNCT.sub("", normalize_text(_fold_letters(text)))


def _fold_letters(text: str) -> str:
    return _FOLD_MARKS.sub("", unicodedata.normalize("NFKD", text)).translate(_FOLD_CHARS).casefold()


def _cut(text: str, pattern: re.Pattern[str]) -> str:
    """`text` without the stretches whose fold `pattern` matches."""
    folded: list[tuple[str, int]] = []  # each folded character, with its index in `text`
    for index, char in enumerate(text):
        for c in " " if char.isspace() else _fold_letters(char):
            if not (c == " " and folded and folded[-1][0] == " "):
                folded.append((c, index))
    folded = [(c, i) for n, (c, i) in enumerate(folded)
              if not (c == " " and n + 1 < len(folded) and folded[n + 1][0] in "?!:;.,")]
    flat = "".join(c for c, _ in folded)
    kept, start = [], 0
    for match in pattern.finditer(flat):
        end = match.end()
        while end < len(flat) and flat[end] in " .!?;:,":  # the phrase's own punctuation
            end += 1
        kept.append(text[start:folded[match.start()][1]])
        start = max(start, folded[end - 1][1] + 1)
    return normalize_text("".join(kept) + text[start:])


_WORD = re.compile(r"[\w']+")
_NUMBER = re.compile(r"\d+(?:st|nd|rd|th|er|h\d*)?")  # 12, 1st, 1er, 10h30
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def _alnum(text: str) -> int:
    return sum(map(str.isalnum, text))


def _alternation(phrases, glued: bool = False) -> str:
    """A regex matching any of the phrases as whole words; with `glued`, phrases of several
    words also where inline markup glued them to a neighbour ("dissatisfiedExtremely")."""
    folded = sorted({_fold(p) for p in phrases if p.strip()}, key=lambda p: (-len(p), p))
    words = "|".join(re.escape(p) for p in folded if not glued or " " not in p)
    spans = "|".join(re.escape(p) for p in folded if glued and " " in p)
    return "|".join(filter(None, (spans, words and rf"(?<!\w)(?:{words})(?!\w)")))


@dataclass(frozen=True)
class _Words:
    """A profile's words compiled for matching folded text."""

    boilerplate: re.Pattern[str]
    unmistakable: re.Pattern[str]  # the long boilerplate phrases, never words of an article
    errors: re.Pattern[str]
    site_names: re.Pattern[str]
    asides: re.Pattern[str]
    furniture: frozenset[str]  # words of dates and furniture lines: months, weekdays, "views"...
    hints: tuple[str, ...]  # one word of each boilerplate phrase: no hint, no phrase
    labels: re.Pattern[str]
    bylines: re.Pattern[str]
    footer: re.Pattern[str]
    # groups d…, m…, y…: "15 september 2022", "september 15, 2022", "2022-09-15"; not "12/09/2022",
    # where day and month cannot be told apart
    date: re.Pattern[str]
    months: dict[str, int]  # folded month names and unambiguous abbreviations

    def made_of(self, pattern: re.Pattern[str], folded: str, leftover: int = 0, share: float = 1.0) -> bool:
        """Whether `folded` is these phrases: at most `leftover` other letters, or the phrases
        cover at least `share` of its letters."""
        total = _alnum(folded)
        rest = _alnum(pattern.sub(" ", folded))
        return rest < total and (rest <= leftover or total - rest >= share * total)

    def mentions_boilerplate(self, folded: str) -> bool:
        return any(hint in folded for hint in self.hints) and bool(self.boilerplate.search(folded))

    def is_boilerplate(self, folded: str) -> bool:
        # A widget line may carry a word or two more ("Submit", "(required)"); a sentence of
        # an article that merely mentions "your opinion" carries far more than the phrase.
        return (any(hint in folded for hint in self.hints)
                and self.made_of(self.boilerplate, folded, leftover=12, share=0.5))

    def is_widget(self, folded: str) -> bool:
        """Boilerplate beyond doubt: several phrases, or a long one, and little else."""
        matched = [m.group() for m in self.boilerplate.finditer(folded)]
        return self.is_boilerplate(folded) and (len(matched) > 1 or _alnum("".join(matched)) >= 25)

    def is_error(self, folded: str) -> bool:
        return self.made_of(self.errors, folded, leftover=12, share=0.5)

    def is_furniture(self, folded: str) -> bool:
        """A line of page furniture: date line, counters, share buttons, tags, byline, footer."""
        words = folded.count(" ") + 1
        if words > 40:
            return False
        if words <= 16 and all(w in self.furniture or _NUMBER.fullmatch(w) for w in _WORD.findall(folded)):
            return True  # nothing but dates, times, counts and furniture words
        if words <= 30 and self.labels.match(folded):
            return True
        if words <= 6 and self.bylines.match(folded) and not folded.endswith((".", "!", "?")):
            return True
        return bool(self.footer.search(folded))

    def is_noise(self, folded: str) -> bool:
        """Not article text: a widget, furniture or aside heading line."""
        return self.is_boilerplate(folded) or self.is_furniture(folded) or self.is_aside_heading(folded)

    def is_aside_heading(self, folded: str) -> bool:
        return folded.count(" ") < 8 and bool(self.asides.fullmatch(_NOT_LETTERS.sub(" ", folded).strip()))

    def page_date(self, folded: str) -> dt.date | None:
        """The first date written in a line, e.g. "15 september 2022", "31 يوليو 2025"."""
        for match in self.date.finditer(folded):
            found = {name[0]: value for name, value in match.groupdict().items() if value}
            try:
                month = self.months.get(found["m"]) or int(found["m"])
                return dt.date(int(found["y"]), month, int(re.match(r"\d+", found["d"])[0]))
            except ValueError:  # "31 february 2022"
                continue
        return None


def _words(profile: SiteProfile) -> _Words:
    """The profile's words, compiled once per distinct vocabulary."""
    return _compile_words(
        tuple(profile.month_names.values()), tuple(profile.weekday_names.values()),
        profile.date_words, profile.furniture_words, profile.furniture_labels, profile.byline_labels,
        profile.footer_phrases, profile.boilerplate_phrases, profile.error_phrases,
        profile.site_names, profile.aside_headings,
    )


@functools.lru_cache(maxsize=8)
def _compile_words(month_names, weekday_names, date_words, furniture_words, furniture_labels,
                   byline_labels, footer_phrases, boilerplate, errors, site_names, asides) -> _Words:
    months: dict[str, int] = {}
    for names in month_names:
        folded = [_fold(name) for name in names]
        for number, name in enumerate(folded, 1):
            months[name] = number
            # abbreviations ("sep", "sept", "janv") when they name one month only
            for cut in range(3, len(name)):
                if sum(other.startswith(name[:cut]) for other in folded) == 1:
                    months.setdefault(name[:cut], number)
    month = "|".join(re.escape(m) for m in sorted(months, key=lambda m: (-len(m), m)))
    day = r"\d{1,2}(?:st|nd|rd|th|er)?"
    date = (rf"(?<!\d)(?P<d>{day})\s*(?:de\s+)?(?P<m>{month})\.?,?\s+(?P<y>\d{{4}})"
            rf"|(?<!\w)(?P<m2>{month})\.?\s+(?P<d2>{day}),?\s+(?P<y2>\d{{4}})"
            r"|(?<!\d)(?P<y3>\d{4})-(?P<m3>\d{1,2})-(?P<d3>\d{1,2})(?!\d)")
    weekdays = [day for names in weekday_names for day in names]
    furniture = {word for phrase in (*months, *weekdays, *date_words, *furniture_words, *asides, "am", "pm")
                 for word in _WORD.findall(_fold(phrase))}
    separators = r"(?:\s*[:»«›‹<>/|\-–]|$)"
    return _Words(
        boilerplate=re.compile(_alternation(boilerplate, glued=True)),
        unmistakable=re.compile(_alternation([p for p in boilerplate if len(p.split()) >= 5], glued=True)),
        errors=re.compile(_alternation(errors)),
        site_names=re.compile(_alternation(site_names)),
        asides=re.compile(_alternation(asides)),
        furniture=frozenset(furniture),
        hints=tuple(sorted({max(_WORD.findall(_fold(phrase)), key=len) for phrase in boilerplate})),
        labels=re.compile(rf"(?:{_alternation(furniture_labels)}){separators}"),
        bylines=re.compile(rf"(?:{_alternation(byline_labels)})\s"),
        footer=re.compile(_alternation(footer_phrases)),
        date=re.compile(date),
        months=months,
    )


# -- step 1: boilerplate widgets out of the DOM -------------------------------------------------

def _cut_inline_widgets(runs: list[_Run], words: _Words) -> bool:
    """Cut widgets set inline among a line's words (spans inside a paragraph); whether any was."""
    cut = False
    for run in runs:
        folded = run.folded = _fold(run.text)
        if not words.mentions_boilerplate(folded):
            continue
        inline = set()  # the line's inline elements, outermost first below
        for element, _ in run.pieces:
            while element is not run.owner and element not in inline:
                inline.add(element)
                element = element.getparent()
        for element in [e for e in run.owner.iter() if e in inline]:
            if run.owner in element.iterancestors():  # not cut already with an enclosing element
                widget = _fold(element.text_content())
                if words.is_widget(widget) and _alnum(folded) - _alnum(widget) > 12:
                    element.drop_tree()
                    cut = True
    return cut


def _cut_boilerplate(runs: list[_Run], words: _Words) -> list[_Run]:
    """Remove every widget line from the tree with the largest block around it that holds
    nothing of substance; return the runs that are left."""
    holders: set[HtmlElement] = set()
    for run in runs:
        run.folded = run.folded or _fold(run.text)
        run.lineage = frozenset((run.owner, *run.owner.iterancestors()))
        if words.is_boilerplate(run.folded):
            run.kind = "boilerplate"
        elif run.owner.tag in _HEADINGS or _alnum(run.folded) > 25 or run.folded.count(" ") >= 4:
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


# -- steps 2-3: the article among the page's runs -----------------------------------------------

_TITLE_SPLIT = re.compile(r"(\s+[|–—\-·•»~:]\s+)")


class _Page:
    """The runs of one page, with what structure says about them: `article()` finds the
    title and the body, then `published()` the date."""

    def __init__(self, tree: HtmlElement, runs: list[_Run], words: _Words, url: str, ref: ArticleRef,
                 profile: SiteProfile):
        self.tree, self.runs, self.words, self.url, self.ref = tree, runs, words, url, ref
        self.profile = profile
        self.title_at: int | None = None
        self.other_articles: dict[str, bool] = {}  # href -> whether it leads to another article
        self.keys = [_key(run.text) for run in runs]
        for run in runs:
            run.noise = words.is_noise(run.folded)
        self.by_key: dict[str, list[int]] = {}
        for index, key in enumerate(self.keys):
            self.by_key.setdefault(key, []).append(index)
        self.doc_titles = [t for t in map(self._strip_site, self._head_titles()) if t]

    # -- what the page is

    def reject_error_page(self) -> None:
        headings = [r.text for r in self.runs if r.owner.tag in ("h1", "h2")][:3]
        for text in (*self.doc_titles, *headings):
            if self.words.is_error(_fold(text)):
                raise NotAnArticle(f"{self.url}: error page ({text!r})")

    def _head_titles(self) -> list[str]:
        found = self.tree.xpath(
            "//meta[@property='og:title' or @name='twitter:title']/@content | //head/title/text()")
        return [normalize_text(t) for t in found if normalize_text(t)]

    def _strip_site(self, title: str) -> str:
        """A title without the site's name after it ("Title – ICESCO", "Title | ICESCO"), or
        before it when set off by a bar ("ICESCO | Title"); "" when nothing else is left."""
        segments = _TITLE_SPLIT.split(title)  # text, separator, text, ...
        while len(segments) > 2 and self._is_site_name(segments[-1]):
            del segments[-2:]
        while len(segments) > 2 and self._is_site_name(segments[0]) and segments[1].strip() in "|»·•":
            del segments[:2]
        title = normalize_text("".join(segments))
        return title if self._valid_title(title) else ""

    def _is_site_name(self, text: str) -> bool:
        return self.words.made_of(self.words.site_names, _fold(text), leftover=2)

    def _valid_title(self, text: str) -> bool:
        folded = _fold(text)
        return bool(_alnum(folded)) and not (
            self._is_site_name(text) or self.words.is_boilerplate(folded)
            or self.words.is_furniture(folded) or self.words.is_aside_heading(folded))

    # -- title, then body

    def article(self, paragraphs: list[str]) -> tuple[str, list[tuple[str, int | None]]]:
        """The title and the body paragraphs, each with its run index when found."""
        located: list[tuple[str, int | None]] = []
        used: set[int] = set()
        for paragraph in paragraphs:
            if self._is_noise(paragraph):
                continue
            at = self._locate(paragraph, used)
            if at is None:
                located.append((paragraph, at))
            elif at != _REPEATED and not self._is_link_label(self.runs[at]):
                located.append((paragraph, at))
                used.add(at)
        title, self.title_at = self._title(located)
        cards = self._teaser_cards()
        asides = [*cards, *self._aside_blocks()]
        body = self._main_stretch(self._article_text(located, title, asides), cards)
        if not body and self.title_at is not None:
            # trafilatura took teasers or widgets for the content: read the lines after the title
            lines = [(r.text, i) for i, r in enumerate(self.runs[self.title_at + 1:], self.title_at + 1)
                     if r.kind == "substantial" and _is_text(r) and not self._is_site_name(r.text)]
            body = self._main_stretch(self._article_text(lines, title, asides), cards)
        body = self._fill_gaps(body)
        title = self._strip_site(self._unglued(title)) or self._unglued(title)
        body = [(text, at) for text, at in ((self._unglued(t), at) for t, at in body)
                if text and not self._is_noise(text)]
        if not title or not self._valid_title(title):
            raise NotAnArticle(f"{self.url}: no title")
        if self._is_listing(cards, body) or (not body and len(cards) > 1):
            raise NotAnArticle(f"{self.url}: a listing page (its text belongs to {len(cards)} other posts)")
        if not body:
            raise NotAnArticle(f"{self.url}: no article text")
        return title, body

    def _is_listing(self, cards: list[tuple[int, int]], body: list[tuple[str, int | None]]) -> bool:
        """Posts follow the heading directly, and hold more text than anything else does."""
        if len(cards) < 2 or self.title_at is None:
            return False
        first = min(c[0] for c in cards)
        if any(r.kind == "substantial" and r.href is None and not r.noise
               for r in self.runs[self.title_at + 1: first]):
            return False
        in_cards = sum(_alnum(self.runs[i].folded) for a, b in cards for i in range(a, b + 1))
        return in_cards > sum(_alnum(text) for text, _ in body)

    def _article_text(self, located: list[tuple[str, int | None]], title: str,
                      asides: list[tuple[int, int]]) -> list[tuple[str, int | None]]:
        """The paragraphs that stand where an article's text does: after the title, outside
        teasers of other posts and asides."""
        title_key = _key(title)
        return [(text, at) for text, at in located if _key(text) != title_key and (at is None or not (
            (self.title_at is not None and at < self.title_at) or _inside(at, asides)))]

    @staticmethod
    def _is_link_label(run: _Run) -> bool:
        """A few words that are all a link: a tag, a category, a menu item; never a paragraph."""
        return run.linked > 0.9 and run.folded.count(" ") < 4

    def _unglued(self, text: str) -> str:
        """The last guard: long widget phrases that markup glued to real text, cut out of it."""
        return _cut(text, self.words.unmistakable) if self.words.unmistakable.search(_fold(text)) else text

    def _is_noise(self, paragraph: str) -> bool:
        return self.words.is_noise(_fold(paragraph))

    def _locate(self, paragraph: str, used: set[int]) -> int | None:
        """The index of the run holding a paragraph of trafilatura's output; _REPEATED when
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
        return None

    def _title(self, located: list[tuple[str, int | None]]) -> tuple[str, int | None]:
        """The headline: the heading the document title names, else the heading right
        before the text, else the document title itself."""
        headings = [i for i, r in enumerate(self.runs) if r.owner.tag in _HEADINGS
                    and not self._is_other_article(r.href) and self._valid_title(r.text)]
        wanted = [_key(t) for t in self.doc_titles]
        named = [i for i in headings if any(_same_title(self.keys[i], key) for key in wanted)]
        if named:
            best = min(named, key=lambda i: (self.runs[i].href is not None, i))
            return self.runs[best].text, best
        first = next((at for p, at in located if at is not None and _alnum(p) >= 80), None)
        if first is None:
            first = next((at for _, at in located if at is not None), None)
        before = [i for i in headings
                  if first is not None and i < first and self.runs[i].owner.tag in ("h1", "h2", "h3")]
        if before:  # the nearest, unless that is a one- or two-word label ("News")
            best = next((i for i in reversed(before) if self.runs[i].folded.count(" ") >= 2), before[-1])
            return self.runs[best].text, best
        if self.doc_titles:
            title = self.doc_titles[0]
            return title, self.by_key.get(_key(title), [None])[0]
        if len(cards := self._teaser_cards()) > 1:
            raise NotAnArticle(f"{self.url}: a listing page (no title of its own, {len(cards)} posts)")
        raise NotAnArticle(f"{self.url}: no title")

    def _is_other_article(self, href: str | None) -> bool:
        """Whether a link leads to another article (any spelling of its URL, tracking or not)."""
        if href is None:
            return False
        if href not in self.other_articles:
            other = article_ref(urlsplit(urljoin(self.url, href))._replace(query="", fragment="").geturl(),
                                self.profile)
            self.other_articles[href] = other is not None and _identity(other) != _identity(self.ref)
        return self.other_articles[href]

    def _span(self, index: int, element: HtmlElement) -> tuple[int, int]:
        """The first and last run inside `element`, around run `index` (runs are in document order)."""
        first = last = index
        while first > 0 and element in self.runs[first - 1].lineage:
            first -= 1
        while last + 1 < len(self.runs) and element in self.runs[last + 1].lineage:
            last += 1
        return first, last

    def _block_from(self, index: int, others: set[int]) -> tuple[int, int]:
        """The runs of the largest block that starts with run `index` (nothing of substance
        before it) and holds neither the title nor another of `others`."""
        span = (index, index)
        element = self.runs[index].owner
        while (parent := element.getparent()) is not None and parent.tag != "body":
            first, last = self._span(index, parent)
            holds_another = any(first <= other <= last for other in others if other != index)
            after_text = any(r.kind == "substantial" and not r.noise for r in self.runs[first:index])
            if holds_another or after_text or _inside(self.title_at, [(first, last)]):
                break
            span, element = (first, last), parent
        return span

    def _teaser_cards(self) -> list[tuple[int, int]]:
        """Blocks that present another post: its linked title, then its excerpt."""
        teasers = {i for i, r in enumerate(self.runs)
                   if r.kind == "substantial" and self._is_other_article(r.href)}
        return [self._block_from(i, teasers) for i in sorted(teasers)]

    def _aside_blocks(self) -> list[tuple[int, int]]:
        """From an aside heading ("Related posts", "Comments") to the end of its block."""
        blocks = []
        for index, run in enumerate(self.runs):
            if self.words.is_aside_heading(run.folded):
                last = self._block_from(index, set())[1]
                if last == index:  # a heading among the article's blocks: the rest of its parent
                    last = self._span(index, run.owner.getparent())[1]
                blocks.append((index, last))
        return blocks

    def _fill_gaps(self, body: list[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
        """Add the lines trafilatura skipped among the article's own (a short lead-in line, a
        repeated paragraph): text blocks beside a body paragraph, of the same shape, up to the
        next paragraph or the first line that is not text; figures and tables are passed over."""
        spans = [(at, self._last_run(text, at)) if at is not None else None for text, at in body]
        taken = {i for span in spans if span for i in range(span[0], span[1] + 1)}
        filled: list[tuple[str, int | None]] = []
        for n, (text, at) in enumerate(body):
            if at is not None and not any(spans[:n]):  # before the first paragraph, back to the title
                filled.extend(reversed(self._beside(at, range(at - 1, -1, -1), taken, heading=False)))
            filled.append((text, at))
            if at is not None:
                following = next((span[0] for span in spans[n + 1:] if span), None)
                lines = range(spans[n][1] + 1, following if following is not None else len(self.runs))
                filled.extend(self._beside(at, lines, taken, heading=following is not None))
        return filled

    def _beside(self, paragraph: int, lines: range, taken: set[int], heading: bool) -> list[tuple[str, int]]:
        """The runs of `lines`, in order, that are article text beside the body paragraph at
        run `paragraph`, up to the first that is not."""
        found = []
        for i in lines:
            run = self.runs[i]
            if any(e.tag in ("table", "figure") for e in run.lineage):
                continue
            if i in taken or i <= (self.title_at or -1) or not self._joins(run, paragraph, heading):
                break
            found.append((run.text, i))
        return found

    def _last_run(self, paragraph: str, at: int) -> int:
        """The last run of the lines a located paragraph is made of."""
        rest, last = _key(paragraph), at
        for i in range(at, min(len(self.keys), at + 40)):
            if not rest:
                break
            if self.keys[i] and rest.startswith(self.keys[i]):
                rest, last = rest[len(self.keys[i]):], i
        return last

    def _joins(self, run: _Run, paragraph: int, heading: bool) -> bool:
        """Whether a run is article text that may stand beside the body paragraph at run `paragraph`."""
        return (_is_text(run) and (heading or run.owner.tag not in _HEADINGS)
                and _alike(run.owner, self.runs[paragraph].owner))

    def _main_stretch(self, body: list[tuple[str, int | None]],
                      cards: list[tuple[int, int]]) -> list[tuple[str, int | None]]:
        """Cut the body where the page's furniture or teasers come between two paragraphs of
        different blocks, and keep the stretches up to the longest one: what follows it is
        footer, comments, sidebars."""
        # Tables and figures are the article's own, even when their cells look like counters.
        marks = sorted({i for i, r in enumerate(self.runs) if r.noise
                        and not any(e.tag in ("table", "figure") for e in r.lineage)} | {c[0] for c in cards})
        stretches: list[list[tuple[str, int | None]]] = [[]]
        previous = None
        for text, at in body:
            if (at is not None and previous is not None and not self._same_block(previous, at)
                    and any(previous < m < at for m in marks)):
                stretches.append([])
            stretches[-1].append((text, at))
            previous = at if at is not None else previous
        longest = max(range(len(stretches)), key=lambda i: sum(_alnum(t) for t, _ in stretches[i]))
        return [paragraph for stretch in stretches[: longest + 1] for paragraph in stretch]

    def _same_block(self, first: int, second: int) -> bool:
        """Whether two runs are lines of one block: siblings, or items of a list or quote in it."""
        a, b = self.runs[first].owner, self.runs[second].owner
        lineage_b = self.runs[second].lineage
        up = 0
        while a not in lineage_b:
            a, up = a.getparent(), up + 1
        down = next(i for i, e in enumerate((b, *b.iterancestors())) if e is a)
        return max(up, down) <= 2

    # -- date

    def published(self, body_start: int | None) -> dt.date:
        """The URL's date; a different date on the page is logged."""
        found = self._page_date(body_start)
        if found is not None and found != self.ref.published:
            logger.warning("%s: the page dates the article %s, its URL %s; keeping the URL's date",
                           self.url, found.isoformat(), self.ref.published.isoformat())
        return self.ref.published

    def _page_date(self, body_start: int | None) -> dt.date | None:
        """The date line near the headline, else the page's date markup (htmldate)."""
        stop = body_start if body_start is not None else len(self.runs)
        start = max(0, self.title_at - 3) if self.title_at is not None else max(0, stop - 12)
        for run in self.runs[start:stop]:
            if run.folded.count(" ") < 12 and (found := self.words.page_date(run.folded)):
                return found
        found = find_date(self.tree, extensive_search=False, original_date=True, url="")
        return dt.date.fromisoformat(found) if found else None


_REPEATED = -1


def _is_text(run: _Run) -> bool:
    """A line that may be article text: not mostly links, furniture, a form, table or figure."""
    return (run.linked < 0.5 and not run.noise and run.kind != "boilerplate"
            and not any(e.tag in _NOT_TEXT for e in run.lineage))


def _alike(one: HtmlElement, other: HtmlElement, levels: int = 4) -> bool:
    """Whether two blocks are the same or cousins of one shape: siblings, or the same tags
    up to a common ancestor (one paragraph per page-builder widget)."""
    while levels and one is not None and other is not None:
        if one is other:
            return True
        if one.tag != other.tag:
            return False
        one, other, levels = one.getparent(), other.getparent(), levels - 1
    return False


def _identity(ref: ArticleRef) -> tuple[str, dt.date, str]:
    return ref.language, ref.published, ref.slug.casefold()


def _same_title(heading: str, title: str) -> bool:
    """A heading and a document title (keys) name the same article; the title may be cut short."""
    return heading == title or (len(title) >= 20 and heading.startswith(title))


def _inside(index: int | None, spans: list[tuple[int, int]]) -> bool:
    return index is not None and any(first <= index <= last for first, last in spans)


def _key(text: str) -> str:
    """Letters and digits only: how a paragraph of trafilatura's output is found in the page."""
    return "".join(filter(str.isalnum, unicodedata.normalize("NFKC", text).casefold()))
