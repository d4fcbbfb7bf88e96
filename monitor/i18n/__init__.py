"""What people read, in their language: gettext catalogues (en, fr, ar) shared by digests, pages and
change summaries, and the language and direction of each locale.

The catalogues are the `.po` files under `locales/`; they are compiled in memory (Babel's
`read_po` + `write_mo`) the first time a process asks for a locale, so no compiled `.mo` file
is ever committed or shipped. English is the source language: its catalogue is the messages
themselves. Babel is imported only then, so commands that print no digest never load it.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable
from functools import cache
from importlib.resources import files

LOCALES = ("en", "fr", "ar")
DEFAULT_LOCALE = "en"
RTL_LOCALES = frozenset({"ar"})
# Each language named in itself, for language pickers and section headings.
NATIVE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية"}
DOMAIN = "messages"

# Unicode isolates: a figure, a date or a path inside right-to-left text keeps its own order
# (an arrow in "150 → 200" must not read as "200 → 150").
LRI, PDI = "\u2066", "\u2069"


class MissingCatalogue(LookupError):
    """No catalogue for a locale we claim to support: the package was installed without its .po files."""


def locale_or_default(locale: str | None) -> str:
    """`locale` if we have a catalogue for it, else English."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


def first_supported(candidates: Iterable[str | None]) -> str:
    """The first of `candidates` we can speak, else English (a subscriber's languages, in order)."""
    return next((c for c in candidates if c in LOCALES), DEFAULT_LOCALE)


def is_rtl(locale: str) -> bool:
    return locale in RTL_LOCALES


def direction(locale: str) -> str:
    """`rtl` or `ltr`, for a `dir` attribute."""
    return "rtl" if is_rtl(locale) else "ltr"


def isolate(text: str, locale: str) -> str:
    """`text` (a figure, date or path) isolated from the surrounding right-to-left text when `locale` is RTL."""
    return f"{LRI}{text}{PDI}" if is_rtl(locale) and text else text


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalogue of `locale` (English: the messages as written)."""
    locale = locale_or_default(locale)
    if locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    source = files(__name__) / "locales" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with source.open("rb") as po:
            catalog = read_po(po, locale=locale, domain=DOMAIN)
    except FileNotFoundError as error:
        raise MissingCatalogue(f"no catalogue for {locale!r} at {source}: reinstall newswatch") from error
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Translator:
    """Messages of one locale, formatted with named values (`%(count)s`), figures isolated in RTL text."""

    def __init__(self, locale: str) -> None:
        self.locale = locale_or_default(locale)
        self.catalogue = translations(self.locale)

    @property
    def rtl(self) -> bool:
        return is_rtl(self.locale)

    @property
    def dir(self) -> str:
        return direction(self.locale)

    def gettext(self, message: str, **values: object) -> str:
        """`message` translated, its `%(name)s` placeholders filled from `values`."""
        text = self.catalogue.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        """The plural form for `n` (Arabic has six), `%(count)s` filled with `n`."""
        return self.catalogue.ngettext(singular, plural, n) % {"count": n, **values}

    def isolate(self, text: str) -> str:
        return isolate(text, self.locale)


@cache
def translator(locale: str) -> Translator:
    """The (shared, immutable) translator of `locale`; English for a locale we do not have."""
    return Translator(locale)
