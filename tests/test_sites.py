"""Site profiles as data: `crawler/sites/*.toml`, checked at load with every mistake named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.extraction.fingerprint import profile_hash
from crawler.sites import ICESCO, PROFILES, ProfileError, configured, load_profile, read_all

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


# --------------------------------------------------------------------------- the operator's profiles


REPO = Path(__file__).resolve().parents[1]


def test_an_operators_folder_adds_its_profiles_to_the_bundled_ones(tmp_path):
    write(tmp_path, MINIMAL)
    profiles = configured(tmp_path)
    assert list(profiles) == ["icesco", "unesco"] and profiles["unesco"].origin == "https://www.unesco.org"
    assert configured("") == {"icesco": ICESCO}


def test_two_profiles_of_one_name_are_a_mistake_and_neither_is_used(tmp_path):
    write(tmp_path, MINIMAL.replace('name = "unesco"', 'name = "icesco"'), name="icesco")
    read = read_all(tmp_path, reread=True)
    assert "icesco" not in read.usable and read.broken == {"icesco"}
    with pytest.raises(ProfileError, match=r"icesco\.toml: name: 'icesco' is already the name of .*crawler/sites/icesco\.toml"):
        configured(tmp_path)


BROKEN = 'name = "partner"\norigin = "partner.example.org"\nlanguages = ["english"]\n'


def broken_folder(tmp_path: Path) -> Path:
    write(tmp_path, BROKEN, name="partner")
    return tmp_path


def assert_one_line_naming_every_mistake(stderr: str, tmp_path: Path, prefix: str) -> None:
    (line,) = stderr.splitlines()
    assert line.startswith(f"{prefix}bad site profile: {tmp_path / 'partner.toml'}: ")
    for mistake in ("origin: expected scheme://host", "languages: expected a list of two-letter language codes",
                    "listing_paths: missing", "article_path: missing", "boilerplate_phrases: missing"):
        assert mistake in line
    assert "Traceback" not in stderr


def test_a_crawl_of_a_broken_profile_says_so_in_one_line_and_exits_2(tmp_path):
    env = {**os.environ, "NEWSWATCH_SITES_DIR": str(broken_folder(tmp_path)), "NEWSWATCH_SITE": "partner",
           "NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'news.db'}"}
    result = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "news"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert_one_line_naming_every_mistake(result.stderr, tmp_path, "scrapy crawl: ")
    assert not (tmp_path / "news.db").exists()  # nothing started


@pytest.mark.parametrize("command", [["runs"], ["schedule", "--list"], ["schedule"], ["changes", "--help"]])
def test_a_command_with_a_broken_profile_says_so_in_one_line_and_exits_2(tmp_path, command):
    from monitor.cli import main

    result = CliRunner().invoke(main, [*command, "--database", f"sqlite:///{tmp_path / 'news.db'}"],
                                env={"NEWSWATCH_SITES_DIR": str(broken_folder(tmp_path))})
    assert result.exit_code == 2, result.output
    assert_one_line_naming_every_mistake(result.output, tmp_path, "newswatch: ")


def test_the_profiles_are_read_when_used_not_at_import(tmp_path):
    # Every module that once read them at import: importing them reads no profile file.
    env = {**os.environ, "NEWSWATCH_SITES_DIR": str(broken_folder(tmp_path))}
    code = ("import crawler.settings, crawler.config, monitor.config, monitor.cli, monitor.web.pages, "
            "monitor.mail.send, monitor.reextract, monitor.jobs, crawler.extraction.article, crawler.sites as s; "
            "assert s._read.cache_info().currsize == 0, s._read.cache_info()")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
