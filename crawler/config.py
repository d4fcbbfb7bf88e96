"""The crawl's configuration: NEWSWATCH_* environment variables as Scrapy settings, and their check.

crawler/settings.py holds the defaults. The add-on `Environment` (in ADDONS) brings in every
NEWSWATCH_* variable of the environment that names one of those settings (and
NEWSWATCH_LOG_LEVEL and NEWSWATCH_LOG_FILE as LOG_LEVEL and LOG_FILE), at a priority above the project's and below the command
line's: `-s NAME=value` wins over the environment, which wins over the defaults. `-a mode=...`
and `-a languages=...` are command-line settings under other names.

`check` refuses a value a crawl cannot use, with a message naming the setting and what it
accepts (`BadSetting`). `scrapy crawl` checks before anything starts, to exit with status 2
(crawler/commands/crawl.py); the add-on checks again as any crawl starts, however it was started.
The readers below are what components use for settings that are more than a number.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from crawler import sites
from crawler.sites import ProfileError, SiteProfile
from storage.db import BadDatabaseURL, check_url

# Above settings.py ("project", 20), below -s and -a ("cmdline", 40) and a spider's custom_settings.
ENVIRONMENT_PRIORITY = SETTINGS_PRIORITIES["project"] + 1
# Spider arguments that are settings under another name: `-a mode=full` is `-s NEWSWATCH_MODE=full`.
SPIDER_ARGUMENTS = {"mode": "NEWSWATCH_MODE", "languages": "NEWSWATCH_LANGUAGES"}
# Variables that are Scrapy settings under another name.
SCRAPY_VARIABLES = {"NEWSWATCH_LOG_LEVEL": "LOG_LEVEL", "NEWSWATCH_LOG_FILE": "LOG_FILE"}
MODES = ("incremental", "full")


class BadSetting(ValueError):
    """A setting a crawl cannot use; the message names it and says what it accepts."""

    def __init__(self, name: str, value: object, accepted: str) -> None:
        self.name, self.value = name, value
        super().__init__(f"bad setting {name}={value!r}: {accepted}")


class BadProfile(BadSetting):
    """A site profile that cannot be used (bundled or the operator's): the message names each file
    and every mistake."""

    def __init__(self, error: ProfileError) -> None:
        self.name, self.value = "NEWSWATCH_SITES_DIR", None
        ValueError.__init__(self, f"bad site profile: {error}")


class Environment:
    """Add-on: NEWSWATCH_* environment variables as settings; every crawl's settings checked."""

    @classmethod
    def update_pre_crawler_settings(cls, settings: BaseSettings) -> None:
        # The process's environment, for every crawl it runs; applied before any crawler
        # exists because Scrapy configures logging (LOG_LEVEL) then.
        from_environment(settings, os.environ)

    def update_settings(self, settings: BaseSettings) -> None:
        check(settings)
        if queue := settings.get("NEWSWATCH_QUEUE"):
            shared_queue(settings, queue)
            one_site_at_a_time(settings)


def one_site_at_a_time(settings: BaseSettings) -> None:
    """A queue worker's CONCURRENT_REQUESTS no higher than CONCURRENT_REQUESTS_PER_DOMAIN: a crawl is
    of one site, and the engine then takes from the shared queue only what the site may be sent now;
    above that, one worker would hold requests (crawler.queue) it cannot download while the others
    wait. It also keeps the per-site limit: Scrapy 2.19 on asyncio sends a slot's whole backlog at
    once up to CONCURRENT_REQUESTS when DOWNLOAD_DELAY is 0 (its downloader counts a request as
    transferring only once the task it schedules runs). Not yet applied to single crawls: there it
    changes the timing enough to expose a SIGTERM-and-move race (tests/faults/test_politeness.py).
    A CONCURRENT_REQUESTS given on the command line is the operator's."""
    per_site = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
    priority = ENVIRONMENT_PRIORITY
    if 0 < per_site < settings.getint("CONCURRENT_REQUESTS") and (settings.getpriority("CONCURRENT_REQUESTS") or 0) < priority:
        settings.set("CONCURRENT_REQUESTS", per_site, priority)


def shared_queue(settings: BaseSettings, url: str) -> None:
    """Scrapy's scheduler and duplicate filter in Redis at `url` (scrapy-redis, crawler.queue): every
    crawl with the same NEWSWATCH_QUEUE works one run of the site together."""
    priority = settings.getpriority("NEWSWATCH_QUEUE") or ENVIRONMENT_PRIORITY
    settings.set("SCHEDULER", "crawler.queue.RunScheduler", priority)
    settings.set("DUPEFILTER_CLASS", "scrapy_redis.dupefilter.RFPDupeFilter", priority)
    settings.set("REDIS_URL", url, priority)
    settings.set("SCHEDULER_PERSIST", True, priority)  # the run's keys are deleted as the run ends (crawler.queue)


def from_environment(settings: BaseSettings, environ: Mapping[str, str]) -> None:
    """Set each NEWSWATCH_* variable of `environ` that names a setting, at ENVIRONMENT_PRIORITY."""
    for name, value in environ.items():
        if name in SCRAPY_VARIABLES:
            settings.set(SCRAPY_VARIABLES[name], value, ENVIRONMENT_PRIORITY)
        elif name.startswith("NEWSWATCH_") and name in settings:
            settings.set(name, value, ENVIRONMENT_PRIORITY)


def from_spider_arguments(settings: BaseSettings, arguments: Mapping[str, object]) -> None:
    """Set the spider arguments that are settings (SPIDER_ARGUMENTS) at command-line priority."""
    for argument, name in SPIDER_ARGUMENTS.items():
        if arguments.get(argument) is not None:
            settings.set(name, arguments[argument], "cmdline")


def site_profile(settings: BaseSettings) -> SiteProfile:
    """The profile NEWSWATCH_SITE names, from crawler/sites/ or the folder NEWSWATCH_SITES_DIR names.

    BadProfile when its file (or another of its name) is wrong; a bad profile of another site
    does not keep this one from being crawled (the scheduler crawls each site on its own).
    """
    name = settings.get("NEWSWATCH_SITE")
    read = sites.read_all(settings.get("NEWSWATCH_SITES_DIR") or "")
    if name in read.usable:
        return read.usable[name]
    if (error := read.error(name if name in read.broken else None)) is not None:
        raise BadProfile(error)
    where = "crawler/sites/" + (" or NEWSWATCH_SITES_DIR" if settings.get("NEWSWATCH_SITES_DIR") else "")
    raise BadSetting("NEWSWATCH_SITE", name, f"expected a profile of {where}: {', '.join(read.usable)}")


def site_url(settings: BaseSettings) -> str:
    """Where the site is fetched from: NEWSWATCH_SITE_URL, else the profile's origin (no final slash)."""
    value = settings.get("NEWSWATCH_SITE_URL") or site_profile(settings).origin
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadSetting("NEWSWATCH_SITE_URL", value, "expected an http:// or https:// URL such as https://icesco.org")
    return value.rstrip("/")


def languages(settings: BaseSettings) -> tuple[str, ...]:
    """The languages NEWSWATCH_LANGUAGES (or -a languages) names; none named: all the site's."""
    profile = site_profile(settings)
    named = tuple(dict.fromkeys(item.strip() for item in settings.getlist("NEWSWATCH_LANGUAGES") if item.strip()))
    if any(language not in profile.languages for language in named):
        raise BadSetting("NEWSWATCH_LANGUAGES", ",".join(named),
                         f"expected languages of {profile.name}, comma-separated: {','.join(profile.languages)} "
                         "(also -a languages=...)")
    return named or profile.languages


def today(settings: BaseSettings) -> dt.date:
    """The date a run counts from: NEWSWATCH_TODAY (tests, replays of past nights), else today's."""
    value = settings.get("NEWSWATCH_TODAY")
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BadSetting("NEWSWATCH_TODAY", value, "expected a date YYYY-MM-DD, or nothing for today's") from None


def raw_keep_days(settings: BaseSettings) -> int | None:
    """NEWSWATCH_RAW_KEEP_DAYS: how many days of raw pages to keep besides the current versions' (None: all)."""
    value = settings.get("NEWSWATCH_RAW_KEEP_DAYS")
    if value in (None, ""):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = -1
    if days < 0:
        raise BadSetting("NEWSWATCH_RAW_KEEP_DAYS", value, "expected a whole number of days, 0 or more, or nothing to keep "
                         "every raw page")
    return days


def full_mode(settings: BaseSettings) -> bool:
    """Whether NEWSWATCH_MODE (or -a mode) asks for a full run rather than an incremental one."""
    mode = settings.get("NEWSWATCH_MODE")
    if mode not in MODES:
        raise BadSetting("NEWSWATCH_MODE", mode, f"expected {' or '.join(MODES)} (also -a mode=...)")
    return bool(mode == "full")


# The numeric settings: the getter components read each with, the values that make sense,
# and what to write instead of a value that does not.
_NUMBERS: tuple[tuple[str, str, Callable[[float], bool], str], ...] = (
    ("NEWSWATCH_KNOWN_PAGES_DEPTH", "getint", lambda n: n >= 1, "a whole number of listing pages, 1 or more"),
    ("NEWSWATCH_RECENT_DAYS", "getint", lambda n: n >= 0, "a whole number of days, 0 or more"),
    ("NEWSWATCH_REVALIDATE_DAYS", "getint", lambda n: n >= 1, "a whole number of days, 1 or more"),
    ("NEWSWATCH_EXTRACT_WORKERS", "getint", lambda n: n >= 0,
     "a whole number of worker processes, 0 or more (0: extraction in the crawl's own process)"),
    ("NEWSWATCH_EXTRACT_MAX_BYTES", "getint", lambda n: n >= 0, "a whole number of bytes, 0 or more (0: no cap)"),
    ("NEWSWATCH_EXTRACT_TIMEOUT", "getfloat", lambda n: n >= 0, "a number of seconds, 0 or more (0: no limit)"),
    ("NEWSWATCH_RETRY_AFTER_MAX", "getfloat", lambda n: n >= 0, "a number of seconds, 0 or more"),
    ("NEWSWATCH_STORE_BATCH", "getint", lambda n: n >= 1, "a whole number of articles, 1 or more"),
    ("NEWSWATCH_STORE_SECONDS", "getfloat", lambda n: n >= 0,
     "a number of seconds, 0 or more (0: commit full batches only)"),
    ("NEWSWATCH_MAX_FAILURE_RATE", "getfloat", lambda n: 0 <= n <= 1, "a share between 0 and 1, such as 0.05"),
    ("NEWSWATCH_MAX_EDIT_SHARE", "getfloat", lambda n: 0 <= n <= 1, "a share between 0 and 1, such as 0.2"),
    ("NEWSWATCH_HOLD_MIN_COUNT", "getint", lambda n: n >= 0, "a whole number of articles, 0 or more"),
    ("NEWSWATCH_MIN_LENGTH_RATIO", "getfloat", lambda n: 0 <= n <= 1, "a share between 0 and 1, such as 0.5"),
    ("NEWSWATCH_HEARTBEAT_SECONDS", "getfloat", lambda n: n >= 0,
     "a number of seconds, 0 or more (0: no heartbeat)"),
    ("NEWSWATCH_LOCK_STALE_MINUTES", "getfloat", lambda n: n > 0, "a number of minutes, more than 0"),
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check(settings: BaseSettings) -> None:
    """Raise BadSetting for the first setting a crawl could not use."""
    site_url(settings)
    languages(settings)
    full_mode(settings)
    today(settings)
    raw_keep_days(settings)
    for name, getter, sensible, expected in _NUMBERS:
        try:
            fits = sensible(getattr(settings, getter)(name))
        except ValueError:
            fits = False
        if not fits:
            raise BadSetting(name, settings.get(name), f"expected {expected}")
    try:
        settings.getbool("NEWSWATCH_SITEMAPS")
    except ValueError:
        raise BadSetting("NEWSWATCH_SITEMAPS", settings.get("NEWSWATCH_SITEMAPS"), "expected True or False") from None
    level = settings.get("LOG_LEVEL")
    if not isinstance(level, int) and level not in logging.getLevelNamesMapping():
        raise BadSetting("LOG_LEVEL", level, f"expected {', '.join(LOG_LEVELS)} (also NEWSWATCH_LOG_LEVEL)")
    log_file = settings.get("LOG_FILE")
    if log_file and not Path(log_file).parent.is_dir():
        raise BadSetting("LOG_FILE", log_file, "expected a file in an existing directory (also NEWSWATCH_LOG_FILE)")
    queue = settings.get("NEWSWATCH_QUEUE")
    if queue and (urlsplit(queue).scheme not in ("redis", "rediss", "unix") or
                  (urlsplit(queue).scheme != "unix" and not urlsplit(queue).hostname)):
        raise BadSetting("NEWSWATCH_QUEUE", queue, "expected a Redis URL such as redis://localhost:6379/0, or nothing "
                         "for one crawl process")
    database_url = settings.get("NEWSWATCH_DATABASE_URL")
    try:
        check_url(database_url)
    except BadDatabaseURL as error:
        raise BadSetting("NEWSWATCH_DATABASE_URL", database_url, str(error)) from None
