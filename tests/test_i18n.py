"""The catalogues: every message of the code and templates is in them, translated into French and
Arabic (every plural form), with the same placeholders; compiled in memory, never committed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from monitor import i18n

REPO = Path(__file__).resolve().parents[1]
CATALOGUES = REPO / "monitor" / "i18n" / "locales"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def catalogue(locale: str):
    with (CATALOGUES / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def extracted() -> set[str]:
    """The messages of the code and templates, as `pybabel extract -F babel.cfg` finds them."""
    with (REPO / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {message[2] if isinstance(message[2], str) else message[2][0]
            for message in extract_from_dir(str(REPO), method_map, options_map)
            if "/.venv/" not in message[0] and not message[0].startswith(("tests", ".venv"))}


@pytest.mark.parametrize("locale", ["fr", "ar"])
def test_every_message_is_translated_with_its_placeholders(locale):
    found = extracted()
    messages = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalogue(locale) if m.id}

    assert found and found <= set(messages), f"missing from {locale}: {sorted(found - set(messages))}"
    for key, message in messages.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        assert all(strings) and "fuzzy" not in message.flags, f"{locale}: {key!r} is not translated"
        allowed = {name for msgid in ids for name in PLACEHOLDER.findall(msgid)} | {"count"}
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) <= allowed, f"{locale}: {key!r} has unknown placeholders"
        if isinstance(message.id, str):
            assert set(PLACEHOLDER.findall(strings[0])) == set(PLACEHOLDER.findall(message.id)), key


def test_no_compiled_catalogue_is_committed():
    tracked = subprocess.run(["git", "ls-files", "*.mo"], cwd=REPO, capture_output=True, text=True, check=True)
    assert tracked.stdout == ""


def test_catalogues_compile_in_memory_with_each_languages_plurals():
    arabic, french = i18n.translator("ar"), i18n.translator("fr")
    forms = [arabic.ngettext("%(count)s new", "%(count)s new", n) for n in (1, 2, 3, 11, 100)]
    assert forms == ["خبر جديد", "خبران جديدان", "3 أخبار جديدة", "11 خبرا جديدا", "100 خبر جديد"]
    assert [french.ngettext("%(count)s new", "%(count)s new", n) for n in (1, 2)] == ["1 nouveau", "2 nouveaux"]
    assert i18n.translator("de").locale == "en" and i18n.translator("en").gettext("Changes") == "Changes"


def test_figures_are_isolated_in_right_to_left_text_only():
    assert i18n.isolate("150 → 200", "ar") == "\u2066150 → 200\u2069"
    assert i18n.isolate("150 → 200", "fr") == "150 → 200"
