"""Site profiles as data: `crawler/sites/*.toml`, checked at load with every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.extraction.fingerprint import profile_hash
from crawler.sites import ICESCO, PROFILES, ProfileError, load_profile

MINIMAL = """
name = "unesco"
origin = "https://www.unesco.org"
host_aliases = ["unesco.org", "www.unesco.org"]
languages = ["en", "fr"]
article_path = '^/(?P<lang>[a-z]{2})/articles/(?P<slug>[^/]+)/?$'
boilerplate_phrases = ["Subscribe to our newsletter"]

[listing_paths]
en = "/en/news"
fr = "/fr/news"
"""


def write(tmp_path: Path, text: str, name: str = "unesco") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, "utf-8")
    return path


def test_the_icesco_profile_is_read_from_its_file_as_it_was_declared_in_python():
    # The profile is part of every version's extraction fingerprint (crawler.extraction.fingerprint):
    # the same hash as the profile written in Python had, so moving it to a file re-reads nothing.
    assert list(PROFILES) == ["icesco"] and PROFILES["icesco"] is ICESCO
    assert profile_hash(ICESCO) == "db8b359faf8e"
    assert ICESCO.listing_paths["ar"] == "/ar/category/المستجدات/"
    assert ICESCO.article_path.match("/fr/2024/01/10/le-directeur/")["lang"] == "fr"


def test_a_new_site_is_a_file_and_takes_the_defaults_for_what_it_does_not_say(tmp_path):
    profile = load_profile(write(tmp_path, MINIMAL))
    assert (profile.name, profile.languages, profile.rtl_languages) == ("unesco", ("en", "fr"), ())
    assert profile.listing_paths == {"en": "/en/news", "fr": "/fr/news"}
    assert profile.page_end == ("</body>", "</html>")
    assert profile.article_path.match("/en/articles/heritage-day")["slug"] == "heritage-day"


def test_every_mistake_of_a_profile_is_named_at_once(tmp_path):
    text = MINIMAL.replace('languages = ["en", "fr"]', 'languages = ["en", "french"]').replace(
        "(?P<slug>[^/]+)", "(?P<title>[^/]+)").replace('origin = "https://www.unesco.org"', 'origin = "www.unesco.org/"')
    text = 'rtl_languages = ["ar"]\ncolour = "blue"\n' + text + '\n[month_names]\nen = ["January"]\n'
    with pytest.raises(ProfileError) as error:
        load_profile(write(tmp_path, text))
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'unesco.toml'}: ")
    for mistake in ("origin: expected scheme://host with no path, not 'www.unesco.org/'",
                    "languages: expected a list of two-letter language codes",
                    "article_path: needs the groups slug",
                    "colour: not a field of a site profile", "rtl_languages: not among the languages: ar",
                    "month_names: expected 12 month names for en"):
        assert mistake in message
    assert "\n" not in message


def test_a_profile_without_what_a_site_needs_or_not_toml_says_so(tmp_path):
    with pytest.raises(ProfileError, match=r"listing_paths: missing; boilerplate_phrases: missing"):
        load_profile(write(tmp_path, MINIMAL.split("boilerplate_phrases", maxsplit=1)[0]))
    with pytest.raises(ProfileError, match=r"listing_paths: no listing page for fr"):
        load_profile(write(tmp_path, MINIMAL.replace('fr = "/fr/news"', "")))
    with pytest.raises(ProfileError, match=r"unesco\.toml: Expected '=' after a key"):
        load_profile(write(tmp_path, "name unesco"))
