"""Normalised article content, and the hash that decides whether a new version is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata

# Invisible characters that editors and CMS round-trips add and remove at will: zero-width
# space, word joiner, BOM, soft hyphen, and the bidi marks Arabic editors scatter (LRM, RLM,
# ALM, embeddings, isolates). ZWJ/ZWNJ stay: they change how Arabic-script words join.
# A regex, not str.translate: translating non-ASCII text looks up every character in a dict.
_INVISIBLE = re.compile(
    "[\u200b\u2060\ufeff\u00ad\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069]"
)


def normalize_text(text: str) -> str:
    """NFC, invisible characters removed, all whitespace runs collapsed to one space, stripped."""
    if not text.isascii():  # ASCII text is NFC and holds no invisible character
        # Remove invisibles before composing: what they separated may compose once they are gone.
        text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    # Every kind of space (no-break, narrow, ideographic, tabs, newlines) counts as one space:
    # str.split() splits on exactly the characters for which str.isspace() holds.
    return " ".join(text.split())


def normalize_paragraphs(paragraphs: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Each paragraph normalised; empty ones dropped."""
    return tuple(p for p in map(normalize_text, paragraphs) if p)


def content_hash(title: str, published: dt.date | None, paragraphs: list[str] | tuple[str, ...]) -> str:
    """SHA-256 of the normalised title, date and body text.

    Paragraph boundaries do not count: re-wrapping the same words (hard line breaks
    pasted in, or taken out) is not an edit of the release.
    """
    body = " ".join(normalize_paragraphs(paragraphs))
    key = "\x1f".join((normalize_text(title), published.isoformat() if published else "", body))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# A paragraph that ends a sentence: a full stop, question or exclamation mark or ellipsis (Latin
# and Arabic), maybe followed by closing quotes or brackets; or a colon, before a list.
_SENTENCE_END = re.compile(r"[.!?…؟:][\s\"'”’»)\]]*$")


def stops_short(paragraphs: tuple[str, ...], stored: tuple[str, ...]) -> bool:
    """Whether `paragraphs` are the `stored` ones cut off mid-sentence: those before the last are
    the stored ones, the last is the start of the stored paragraph at its place (which goes on),
    and it ends no sentence. What a page cut short on its way reads as; an editor's cut ends
    where a sentence or a paragraph does."""
    if not paragraphs or len(paragraphs) > len(stored):
        return False
    *before, last = paragraphs
    at = len(before)
    return (tuple(before) == stored[:at] and len(last) < len(stored[at]) and stored[at].startswith(last)
            and not _SENTENCE_END.search(last))
