"""Site profiles: everything that is specific to one watched site, declared, not coded.

Each site is a TOML file: those of this folder (`icesco.toml` is the first), and the operator's in
the folder NEWSWATCH_SITES_DIR names, if any. They are read and checked when first asked for, never
at import: `configured()` returns them all, or raises one ProfileError naming each bad file and every
mistake in it (two profiles of one name are a mistake too).
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SiteProfile:
    """What the spider and the extractor need to know about one site."""

    name: str
    origin: str  # canonical scheme://host of the real site
    host_aliases: tuple[str, ...]  # other hosts that serve the same site (www.)
    languages: tuple[str, ...]
    listing_paths: dict[str, str]  # language -> first listing page path (unquoted)
    # An article URL path: /{lang}/YYYY/MM/DD/{slug}/ (slug may be percent-encoded).
    article_path: re.Pattern[str]
    # Phrases of widgets printed on every page; a block holding one is never article text.
    boilerplate_phrases: tuple[str, ...]
    # Localised month names, for date lines such as "31 يوليو 2025".
    month_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rtl_languages: tuple[str, ...] = ()

    # The words of the page around an article, for the extractor. Matching is tolerant of
    # case, accents, spacing and apostrophes; no CSS class or id is ever needed.
    # Names the site signs its pages with ("Title – ICESCO"); a title made only of these is none.
    site_names: tuple[str, ...] = ()
    # Localised weekday names, for date lines such as "Tuesday, 12 January 2021".
    weekday_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Words that may stand beside a date in a date line ("Posted on", "Publié le", "بتاريخ").
    date_words: tuple[str, ...] = ()
    # Words from which lines of page furniture are made: share and like buttons and their
    # counts, "N views", "Read more", post navigation. A line of only these is not text.
    furniture_words: tuple[str, ...] = ()
    # Labels opening a furniture line: "Tags: ...", "Posted in ...", "Home » News » ...".
    furniture_labels: tuple[str, ...] = ()
    # Labels opening a byline of a few words: "By Media Department".
    byline_labels: tuple[str, ...] = ()
    # Phrases that make a short line footer or consent text: copyright, cookies.
    footer_phrases: tuple[str, ...] = ()
    # Headings of blocks that follow an article but are not part of it: related posts, comments.
    aside_headings: tuple[str, ...] = ()
    # What an error or maintenance page says instead of an article.
    error_phrases: tuple[str, ...] = ()
    # Closing tags every page of the site ends with (any one of them will do): a page without
    # them was cut short on its way (crawler.wholeness). Empty for a site that omits them.
    page_end: tuple[str, ...] = ("</body>", "</html>")

    @property
    def title(self) -> str:
        """How the site is named to people (digests, lists): its first site name, else its name."""
        return self.site_names[0] if self.site_names else self.name


class ProfileError(ValueError):
    """A site profile file that cannot be used; its message names the file and every mistake."""


_TEXTS = ("boilerplate_phrases", "site_names", "date_words", "furniture_words", "furniture_labels",
          "byline_labels", "footer_phrases", "aside_headings", "error_phrases", "page_end")
_NAMES = ("month_names", "weekday_names")  # per language: a list of names
_REQUIRED = ("name", "origin", "host_aliases", "languages", "listing_paths", "article_path", "boilerplate_phrases")
_LANGUAGE = re.compile(r"[a-z]{2}")


def load_profile(path: Path) -> SiteProfile:
    """The site profile a TOML file declares (one per site: `crawler/sites/NAME.toml`).

    Every mistake is found, not only the first: ProfileError says `file: field: what is wrong; ...`.
    """
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ProfileError(f"{path}: {error}") from None
    mistakes = [f"{name}: missing" for name in _REQUIRED if name not in data]
    known = {f.name for f in fields(SiteProfile)}
    mistakes += [f"{name}: not a field of a site profile" for name in data if name not in known]
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        checked, mistake = _check(name, value, data)
        if mistake:
            mistakes.append(f"{name}: {mistake}")
        else:
            values[name] = checked
    if mistakes:
        raise ProfileError(f"{path}: " + "; ".join(mistakes))
    return SiteProfile(**values)


def _check(name: str, value: Any, data: dict[str, Any]) -> tuple[Any, str | None]:
    """The field's value as the profile holds it, or what is wrong with it."""
    languages: list[Any] = data["languages"] if isinstance(data.get("languages"), list) else []
    if name in ("name", "origin"):
        if not isinstance(value, str) or not value:
            return None, "expected a non-empty string"
        if name == "origin" and not re.fullmatch(r"https?://[^/\s]+", value):
            return None, f"expected scheme://host with no path, not {value!r}"
        return value, None
    if name == "article_path":
        if not isinstance(value, str):
            return None, "expected a regular expression (a string)"
        try:
            pattern = re.compile(value)
        except re.error as error:
            return None, f"not a regular expression: {error}"
        missing = {"lang", "slug"} - set(pattern.groupindex)
        return (pattern, None) if not missing else (None, f"needs the groups {', '.join(sorted(missing))}")
    if name in ("languages", "rtl_languages"):
        if not _strings(value) or not all(_LANGUAGE.fullmatch(code) for code in value):
            return None, "expected a list of two-letter language codes"
        if name == "rtl_languages" and (unknown := [c for c in value if c not in languages]):
            return None, f"not among the languages: {', '.join(unknown)}"
        return tuple(value), None
    if name == "listing_paths":
        if not isinstance(value, dict) or not all(isinstance(v, str) and v.startswith("/") for v in value.values()):
            return None, "expected a table of language = \"/path/\""
        if unlisted := [code for code in languages if code not in value]:
            return None, f"no listing page for {', '.join(unlisted)}"
        return dict(value), None
    if name in _NAMES:
        if not isinstance(value, dict) or not all(_strings(v) for v in value.values()):
            return None, "expected a table of language = [names]"
        if name == "month_names" and (wrong := [code for code, v in value.items() if len(v) != 12]):
            return None, f"expected 12 month names for {', '.join(wrong)}"
        return {code: tuple(v) for code, v in value.items()}, None
    if name == "host_aliases" or name in _TEXTS:
        if not _strings(value):
            return None, "expected a list of strings"
        if name == "boilerplate_phrases" and not value:
            return None, "expected at least one phrase (the widgets printed on every page)"
        return tuple(value), None
    return None, "not a field of a site profile"


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


# The variable (and crawl setting) naming the operator's folder of site profiles.
SITES_DIR_VARIABLE = "NEWSWATCH_SITES_DIR"
BUNDLED_DIR = Path(__file__).parent
# The site crawled unless NEWSWATCH_SITE names another profile.
DEFAULT_SITE = "icesco"


@dataclass(frozen=True)
class Profiles:
    """The site profiles of the bundled folder and the operator's, as read: those that can be used,
    and what is wrong with the others (a file per entry: `path: mistake; mistake`)."""

    usable: dict[str, SiteProfile]
    mistakes: tuple[str, ...] = ()
    # Names no profile can be used under: a bad file of that name, or two files of that name.
    broken: frozenset[str] = frozenset()

    def error(self, only: str | None = None) -> ProfileError | None:
        """One ProfileError naming every mistake (of the file of site `only`, if given), or None."""
        mistakes = [m for m in self.mistakes if only is None or f"{only}.toml: " in m]
        return ProfileError(" | ".join(mistakes)) if mistakes else None


def configured(sites_dir: str | Path | None = None, *, reread: bool = False) -> dict[str, SiteProfile]:
    """Every site profile, by name: the bundled ones, then the operator's (`sites_dir`, else
    NEWSWATCH_SITES_DIR of the environment; empty: none). Read once per folder, unless `reread`
    (the scheduler, each night, sees the files as they are then).

    ProfileError names every bad file and every mistake in each, on one line.
    """
    read = read_all(sites_dir, reread=reread)
    if (error := read.error()) is not None:
        raise error
    return read.usable


def read_all(sites_dir: str | Path | None = None, *, reread: bool = False) -> Profiles:
    """Every site profile as `configured`, without raising: a bad file does not keep the others from use."""
    if sites_dir is None:
        sites_dir = os.environ.get(SITES_DIR_VARIABLE, "")
    if reread:
        _read.cache_clear()
    return _read(str(sites_dir).strip())


@functools.lru_cache(maxsize=8)
def _read(sites_dir: str) -> Profiles:
    paths = sorted(BUNDLED_DIR.glob("*.toml"))
    if sites_dir:
        folder = Path(sites_dir)
        if not folder.is_dir():
            mistake = f"{SITES_DIR_VARIABLE}={sites_dir!r}: not a directory (a folder of NAME.toml site profiles)"
            return Profiles(_load_each(paths)[0], (mistake,))
        paths += sorted(folder.glob("*.toml"))
    profiles, mistakes, broken = _load_each(paths)
    for name in broken:
        profiles.pop(name, None)
    return Profiles(profiles, tuple(mistakes), frozenset(broken))


def _load_each(paths: list[Path]) -> tuple[dict[str, SiteProfile], list[str], set[str]]:
    profiles: dict[str, SiteProfile] = {}
    where: dict[str, Path] = {}
    mistakes: list[str] = []
    broken: set[str] = set()
    for path in paths:
        try:
            profile = load_profile(path)
        except ProfileError as error:
            mistakes.append(str(error))
            broken.add(path.stem)
            continue
        if profile.name != path.stem:
            mistakes.append(f"{path}: name: {profile.name!r} must be the file's name, {path.stem!r}")
            broken.add(path.stem)
        elif profile.name in where:
            mistakes.append(f"{path}: name: {profile.name!r} is already the name of {where[profile.name]}")
            broken.add(profile.name)
        else:
            profiles[profile.name], where[profile.name] = profile, path
    return profiles, mistakes, broken


def profile_path(name: str, sites_dir: str | Path | None = None) -> Path | None:
    """The file declaring site `name`: the bundled one, else the operator's (`sites_dir`, else
    NEWSWATCH_SITES_DIR of the environment); None when neither folder holds one."""
    if sites_dir is None:
        sites_dir = os.environ.get(SITES_DIR_VARIABLE, "")
    folders = [BUNDLED_DIR, *([Path(str(sites_dir).strip())] if str(sites_dir).strip() else [])]
    return next((path for folder in folders if (path := folder / f"{name}.toml").is_file()), None)


def bundled() -> dict[str, SiteProfile]:
    """The profiles of this package only, by name (`icesco.toml` declares `icesco`)."""
    return configured("")


def __getattr__(name: str) -> object:
    # PROFILES (the bundled profiles) and ICESCO, read when first used rather than at import.
    if name == "PROFILES":
        return bundled()
    if name == "ICESCO":
        return bundled()["icesco"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
