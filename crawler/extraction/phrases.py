"""A site profile's words, folded and compiled for tolerant matching of page text: case,
accents, harakat, apostrophes, digits and spacing never stop a phrase from matching."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from crawler.sites import SiteProfile
from storage.content import normalize_text

Phrases = tuple[str, ...]  # of a site profile
Names = tuple[Phrases, ...]  # per language: month or weekday names

_FOLD_MARKS = re.compile(r"[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD_CHARS = {
    "’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "‛": "'", "،": ",", "؛": ";", "؟": "?",
    "ى": "ي", "ة": "ه", **{chr(0x660 + d): str(d) for d in range(10)},
    **{chr(0x6F0 + d): str(d) for d in range(10)},
}
# A regex, not str.translate: translating non-ASCII text looks up every character in a dict,
# the regex only the few it finds.
_FOLD_CHAR = re.compile(f"[{''.join(map(re.escape, _FOLD_CHARS))}]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[?!:;.,])")
NOTHING = r"(?!)"  # the regex of an empty list of phrases


@functools.lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Text as compared with the profile's words: no case, accents, harakat, apostrophe
    or digit variants, single spaces and none before punctuation."""
    # Cached: each line is folded by several steps, and a site's furniture is on every page.
    return _SPACE_BEFORE_PUNCT.sub("", normalize_text(_fold_letters(text)))


def _fold_letters(text: str) -> str:
    unmarked = _FOLD_MARKS.sub("", unicodedata.normalize("NFKD", text))
    return _FOLD_CHAR.sub(lambda match: _FOLD_CHARS[match[0]], unmarked).casefold()


def cut(text: str, pattern: re.Pattern[str]) -> str:
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
# 14/06/2023, 06/14/2023, 2023/06/14, 14.06.2023: a date line even where day and month cannot be told apart
_NUMERIC_DATE = re.compile(r"(?<!\d)(?:\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{4}[/.-]\d{1,2}[/.-]\d{1,2})(?!\d)")
_SENTENCE_END = re.compile(r"[.!?…][\s\"'”»)]*$")


def alnum(text: str) -> int:
    """How many letters and digits `text` holds."""
    return sum(map(str.isalnum, text))


_ARABIC_WORD = re.compile(r"(?<!\w)(?:ال)?([\u0621-\u064a]\w*)")


def _escape(phrase: str) -> str:
    """A folded phrase as a regex; an Arabic word with or without the article (تعليقات, التعليقات)."""
    return _ARABIC_WORD.sub(lambda m: f"(?:ال)?{m[1]}", re.escape(phrase))


def _alternation(phrases: Iterable[str], glued: bool = False) -> str:
    """A regex matching any of the phrases as whole words; with `glued`, phrases of several
    words also where inline markup glued them to a neighbour ("dissatisfiedExtremely")."""
    folded = sorted({fold(p) for p in phrases if p.strip()}, key=lambda p: (-len(p), p))
    words = "|".join(_escape(p) for p in folded if not glued or " " not in p)
    spans = "|".join(_escape(p) for p in folded if glued and " " in p)
    # No phrases: a pattern that never matches. The empty pattern would match everywhere, and
    # `cut` would index past the end of the line (a profile without boilerplate phrases).
    return "|".join(filter(None, (spans, words and rf"(?<!\w)(?:{words})(?!\w)"))) or NOTHING


# eq=False: hashed by identity, for the caches below; `profile_words` builds one per vocabulary.
@dataclass(frozen=True, eq=False)
class Words:
    """A profile's words compiled for matching folded text.

    The tests made of every line of a page are cached: a site's menus, footers and widgets
    are the same lines on each of its pages.
    """

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
    counters: frozenset[str] = frozenset()  # the one-word furniture words: "views", "vues", "مشاهدة"

    def made_of(self, pattern: re.Pattern[str], folded: str, leftover: int = 0, share: float = 1.0) -> bool:
        """Whether `folded` is these phrases: at most `leftover` other letters, or the phrases
        cover at least `share` of its letters."""
        total = alnum(folded)
        rest = alnum(pattern.sub(" ", folded))
        return rest < total and (rest <= leftover or total - rest >= share * total)

    @functools.lru_cache(maxsize=8192)  # noqa: B019 -- one Words per vocabulary, for the process's life
    def mentions_boilerplate(self, folded: str) -> bool:
        """Whether a boilerplate phrase stands anywhere in `folded`."""
        return any(hint in folded for hint in self.hints) and bool(self.boilerplate.search(folded))

    @functools.lru_cache(maxsize=8192)  # noqa: B019 -- one Words per vocabulary, for the process's life
    def is_boilerplate(self, folded: str) -> bool:
        """A widget line: boilerplate phrases and little else."""
        # A widget line may carry a word or two more ("Submit", "(required)"); a sentence of
        # an article that merely mentions "your opinion" carries far more than the phrase.
        return (any(hint in folded for hint in self.hints)
                and self.made_of(self.boilerplate, folded, leftover=12, share=0.5))

    def is_widget(self, folded: str) -> bool:
        """Boilerplate beyond doubt: several phrases, or a long one, and little else."""
        matched = [m.group() for m in self.boilerplate.finditer(folded)]
        return self.is_boilerplate(folded) and (len(matched) > 1 or alnum("".join(matched)) >= 25)

    def is_error(self, folded: str) -> bool:
        """What an error or maintenance page says instead of an article."""
        return self.made_of(self.errors, folded, leftover=12, share=0.5)

    def is_furniture(self, folded: str) -> bool:
        """A line of page furniture: date line, counters, share buttons, tags, byline, footer."""
        words = folded.count(" ") + 1
        if words > 40:
            return False
        tokens = [w for w in _WORD.findall(folded) if len(w) > 1]  # "f", "t": share buttons' letters
        if words <= 16 and tokens and all(map(self._is_furniture_word, tokens)):
            return True  # nothing but dates, times, counts and furniture words
        if words <= 30 and self.labels.match(folded):
            return True
        if words <= 6 and self.bylines.match(folded) and not folded.endswith((".", "!", "?")):
            return True
        return bool(self.footer.search(folded))

    def counts(self, folded: str) -> bool:
        """A short line that counts something: a number (not a year, no date) and a furniture word
        ("This page has been viewed 9,131 times", "Cette page a été vue 9 131 fois"); never a sentence."""
        words = _WORD.findall(folded)
        counted = [w for w in words if w.isdigit() and not re.fullmatch(r"(?:19|20)\d\d", w)]  # no year
        if len(words) > 9 or not counted or _SENTENCE_END.search(folded) or self.has_date(folded):
            return False
        return any(w in self.counters or w.removesuffix("ed") in self.counters
                   or (w.startswith("ال") and w[2:] in self.counters) for w in words)

    def _is_furniture_word(self, word: str) -> bool:
        # Arabic writes the article into the word: "المشاهدات" is "مشاهدات" (views), "الوسوم" "وسوم"
        return (word in self.furniture or bool(_NUMBER.fullmatch(word))
                or (word.startswith("ال") and word[2:] in self.furniture))

    @functools.lru_cache(maxsize=8192)  # noqa: B019 -- one Words per vocabulary, for the process's life
    def is_meta(self, folded: str) -> bool:
        """A line that dates or counts the post rather than telling it: a date or byline line with
        its date ("By Media Department, 15 September 2022 · Views: 8,557", "Soumis par … le mer
        14/06/2023 - 10:12"), a counter ("2,812 views", "Lu 2 812 fois", "(23)"). Never a sentence."""
        words = _WORD.findall(folded)
        if not words or _SENTENCE_END.search(folded) or folded.endswith(","):
            return False
        if self.has_date(folded):  # a few words besides the dates: "Posted by X on …, updated …"
            rest = _WORD.findall(_NUMERIC_DATE.sub(" ", self.date.sub(" ", folded)))
            return sum(not w.isdigit() for w in rest) <= 10
        # a count and a word or two: "2,812 views", "Hits: 2812", "2 min read", "34 Shares"
        counted = sum(any(c.isdigit() for c in w) for w in words)
        return len(words) <= 4 and counted > 0 and len(words) - counted <= 2

    def has_date(self, folded: str) -> bool:
        return bool(self.date.search(folded) or _NUMERIC_DATE.search(folded))

    @functools.lru_cache(maxsize=8192)  # noqa: B019 -- one Words per vocabulary, for the process's life
    def is_noise(self, folded: str) -> bool:
        """Not article text: a widget, furniture or aside heading line."""
        return self.is_boilerplate(folded) or self.is_furniture(folded) or self.is_aside_heading(folded)

    def is_aside_heading(self, folded: str) -> bool:
        """The heading of a block beside the article: related posts, comments."""
        return folded.count(" ") < 8 and bool(self.asides.fullmatch(_NOT_LETTERS.sub(" ", folded).strip()))


def profile_words(profile: SiteProfile) -> Words:
    """The profile's words, compiled once per distinct vocabulary."""
    return _compile_words(
        tuple(profile.month_names.values()), tuple(profile.weekday_names.values()),
        profile.date_words, profile.furniture_words, profile.furniture_labels, profile.byline_labels,
        profile.footer_phrases, profile.boilerplate_phrases, profile.error_phrases,
        profile.site_names, profile.aside_headings,
    )


@functools.lru_cache(maxsize=8)
def _compile_words(month_names: Names, weekday_names: Names, date_words: Phrases, furniture_words: Phrases,
                   furniture_labels: Phrases, byline_labels: Phrases, footer_phrases: Phrases, boilerplate: Phrases,
                   errors: Phrases, site_names: Phrases, asides: Phrases) -> Words:
    months: dict[str, int] = {}
    for names in month_names:
        folded = [fold(name) for name in names]
        for number, name in enumerate(folded, 1):
            months[name] = number
            # abbreviations ("sep", "sept", "janv") when they name one month only
            for length in range(3, len(name)):
                if sum(other.startswith(name[:length]) for other in folded) == 1:
                    months.setdefault(name[:length], number)
    month = "|".join(re.escape(m) for m in sorted(months, key=lambda m: (-len(m), m)))
    day = r"\d{1,2}(?:st|nd|rd|th|er)?"
    date = (rf"(?<!\d)(?P<d>{day})\s*(?:de\s+)?(?P<m>{month})\.?,?\s+(?P<y>\d{{4}})"
            rf"|(?<!\w)(?P<m2>{month})\.?\s+(?P<d2>{day}),?\s+(?P<y2>\d{{4}})"
            r"|(?<!\d)(?P<y3>\d{4})-(?P<m3>\d{1,2})-(?P<d3>\d{1,2})(?!\d)")
    weekdays = [day for names in weekday_names for day in names]
    furniture = {word for phrase in (*months, *weekdays, *date_words, *furniture_words, *asides, "am", "pm")
                 for word in _WORD.findall(fold(phrase))}
    separators = r"(?:\s*[:»«›‹<>/|\-–]|$)"
    return Words(
        boilerplate=re.compile(_alternation(boilerplate, glued=True)),
        unmistakable=re.compile(_alternation([p for p in boilerplate if len(p.split()) >= 5], glued=True)),
        errors=re.compile(_alternation(errors)),
        site_names=re.compile(_alternation(site_names)),
        asides=re.compile(_alternation(asides)),
        furniture=frozenset(furniture),
        hints=tuple(sorted({max(_WORD.findall(fold(phrase)), key=len) for phrase in boilerplate})),
        labels=re.compile(rf"(?:{_alternation(furniture_labels)}){separators}"),
        bylines=re.compile(rf"(?:{_alternation(byline_labels)})\s"),
        footer=re.compile(_alternation(footer_phrases)),
        date=re.compile(date),
        months=months,
        counters=frozenset(fold(phrase) for phrase in furniture_words if len(_WORD.findall(fold(phrase))) == 1),
    )
