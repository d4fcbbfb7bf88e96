"""The monitor's settings, from one source: click options read from NEWSWATCH_* variables (`envvar=`).

Every setting of the command line (and so of the scheduler and of the jobs it starts, which run
the command line) is declared here once, with its variable, default and type. A bad value stops
the command before it does anything: click prints one line naming the option, its variable and
what it accepts, and exits with status 2. Nothing here imports more than click at load time, so
`newswatch --help` stays fast; the types import what they check with when they check.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from crawler import sites
from monitor.mail import settings as mail
from storage import DEFAULT_DATABASE_URL

if TYPE_CHECKING:
    from monitor.health import JudgedSite

Command = Callable[..., Any]
Decorator = Callable[[Command], Command]

DEFAULT_SITE = sites.DEFAULT_SITE
DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_NOTIFY_EVERY = 5  # minutes
DEFAULT_MISFIRE_GRACE = 3600  # seconds
# A nightly crawl running longer than this is stuck: killed, and its run failed. Under a day, so
# that a stuck crawl never costs the next night.
DEFAULT_CRAWL_TIMEOUT = 12 * 3600  # seconds
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SUPPORTED_DATABASES = "sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME"


# --------------------------------------------------------------------------- site profiles


def profiles() -> dict[str, sites.SiteProfile]:
    """Every usable site profile: crawler/sites/ and NEWSWATCH_SITES_DIR's (read once). The `newswatch`
    group refuses to run a command while one is bad (check_profiles), but `notify`: digests of the
    other sites still go out."""
    return sites.read_all().usable


def site_names() -> tuple[str, ...]:
    """The names of the configured sites, bundled first."""
    return tuple(profiles())


def languages() -> tuple[str, ...]:
    """Every language of every site profile, in the profiles' order (en, fr, ar): a digest's order too."""
    return tuple(dict.fromkeys(language for profile in profiles().values() for language in profile.languages))


def several_sites() -> bool:
    """Whether more than one site is configured: only then do lists, forms and e-mails name sites."""
    return len(profiles()) > 1


def nightly_sites(chosen: Sequence[str] = (), one: str | None = None, *, reread: bool = False) -> tuple[str, ...]:
    """The sites crawled each night, in order: those `chosen` (NEWSWATCH_SITES), else `one` (NEWSWATCH_SITE),
    else every site profile configured (read again if `reread`), a bad one too (its crawl fails and says why)."""
    if chosen:
        return tuple(chosen)
    if one:
        return (one,)
    read = sites.read_all(reread=reread)
    return (*read.usable, *sorted(read.broken - read.usable.keys()))


def check_profiles() -> str | None:
    """What is wrong with the site profiles, in one line, or None when they can all be used."""
    try:
        sites.configured()
    except sites.ProfileError as error:
        return f"bad site profile: {error}"
    return None


# --------------------------------------------------------------------------- types


class Among(click.ParamType[str]):
    """One of a list of names read when a value is checked, not at import (site profiles are files)."""

    def __init__(self, name: str, values: Callable[[], Sequence[str]]) -> None:
        self.name, self.values = name, values

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        allowed = tuple(self.values())
        if value not in allowed:
            among = f"is not {allowed[0]!r}" if len(allowed) == 1 else f"is not one of {', '.join(map(repr, allowed))}"
            self.fail(f"{value!r} {among}.", param, ctx)
        return str(value)


class DatabaseURL(click.ParamType[str]):
    """An SQLAlchemy URL whose driver is installed (kept as the string given)."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            self.fail(f"{value!r} is not a database URL: use {SUPPORTED_DATABASES}", param, ctx)
        try:
            url.get_dialect().import_dbapi()
        except NoSuchModuleError:
            self.fail(f"{url.drivername!r} is not a database newswatch knows: use {SUPPORTED_DATABASES}", param, ctx)
        except ImportError as error:
            self.fail(f"the driver of {url.drivername} is not installed ({error.name}): use {SUPPORTED_DATABASES} "
                      "(pip install -e '.[postgres]' for PostgreSQL)", param, ctx)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            folder = Path(url.database).parent
            if not folder.is_dir():  # SQLite creates the file, not its folder
                self.fail(f"no directory {folder} for the SQLite file: use {SUPPORTED_DATABASES}", param, ctx)
        return str(value)


class TimeZoneName(click.ParamType[str]):
    """An IANA time zone name (kept as the name)."""

    name = "zone"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(f"unknown time zone {value!r}: use an IANA name such as UTC or Africa/Casablanca", param, ctx)
        return str(value)


class Crontab(click.ParamType[str]):
    """A crontab expression of five fields (kept as written)."""

    name = "cron"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as error:
            self.fail(f"{value!r} is not a crontab expression (minute hour day month weekday, e.g. "
                      f"{DEFAULT_CRON!r}): {error}", param, ctx)
        return str(value)


class Checked(click.ParamType[str]):
    """A string checked (and normalised) by `check`, whose ConfigError says what is accepted."""

    def __init__(self, name: str, check: Callable[[str], str]) -> None:
        self.name = name
        self.check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return self.check(str(value))
        except mail.ConfigError as error:
            self.fail(str(error), param, ctx)


class Duration(click.ParamType["dt.timedelta"]):
    """A span of time: `36h`, `90m`, `2d` or a number of hours (a `datetime.timedelta`)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from monitor.health import duration

        if isinstance(value, dt.timedelta):
            return value
        try:
            return duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def _option(*declarations: str, envvar: str, **attributes: Any) -> Decorator:
    """A click option read from `envvar` too, shown in --help and in error messages."""
    return click.option(*declarations, envvar=envvar, show_envvar=True, **attributes)


# --------------------------------------------------------------------------- where the data is


database_option = _option(
    "--database", "database_url", envvar="NEWSWATCH_DATABASE_URL", type=DatabaseURL(), default=DEFAULT_DATABASE_URL,
    show_default=True, help="SQLAlchemy database URL.",
)
site_option = _option(
    "--site", envvar="NEWSWATCH_SITE", type=Among("site", site_names), default=DEFAULT_SITE,
    show_default=True, help="Which site profile (crawler/sites/ or NEWSWATCH_SITES_DIR).",
)
language_type = Among("language", languages)


class SiteList(click.ParamType[tuple[str, ...]]):
    """Comma-separated names of site profiles (NEWSWATCH_SITES=icesco,partner), checked when read
    unless `any_name` (health judges a site whose profile broke since: its runs say why)."""

    name = "sites"

    def __init__(self, *, any_name: bool = False) -> None:
        self.any_name = any_name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        names = tuple(dict.fromkeys(part.strip() for part in str(value).split(",") if part.strip()))
        unknown = [] if self.any_name else [name for name in names if name not in site_names()]
        if unknown:
            self.fail(f"unknown site {', '.join(map(repr, unknown))}: choose among {', '.join(site_names())}",
                      param, ctx)
        return names


nightly_sites_options = [
    _option("--sites", "sites", envvar="NEWSWATCH_SITES", type=SiteList(), default="",
            help="The sites crawled each night, comma-separated, one after the other [default: --site if given, "
                 "else every configured site profile, read again each night]."),
    _option("--site", "site", envvar="NEWSWATCH_SITE", type=Among("site", site_names), default=None,
            help="Crawl only this site each night (NEWSWATCH_SITES wins)."),
]
site_type = Among("site", site_names)


# --------------------------------------------------------------------------- the brake and health


def brake_options(command: Command) -> Command:
    """When detection holds a run for the operator, passed to the command as one `brake: BrakeSettings`."""
    from monitor.brake import DEFAULT_MAX_SHARE, DEFAULT_MIN_COUNT, BrakeSettings

    options = [
        _option("--max-edit-share", envvar="NEWSWATCH_MAX_EDIT_SHARE", type=click.FloatRange(0, 1),
                default=DEFAULT_MAX_SHARE, show_default=True,
                help="A run editing (or removing) more than this share of the articles it compared is held."),
        _option("--hold-min-count", envvar="NEWSWATCH_HOLD_MIN_COUNT", type=click.IntRange(min=0),
                default=DEFAULT_MIN_COUNT, show_default=True,
                help="...and more than this many of them."),
    ]

    @functools.wraps(command)
    def with_brake(*args: Any, max_edit_share: float, hold_min_count: int, **values: Any) -> Any:
        return command(*args, brake=BrakeSettings(max_edit_share, hold_min_count), **values)

    return _apply(options, with_brake)


def health_options(command: Command) -> Command:
    """When a problem of our own is one, passed to the command as one `health: HealthSettings`."""
    from monitor.health import DEFAULT_MAIL_FAILING_AFTER, DEFAULT_STALE_AFTER, HealthSettings

    options = [
        _option("--stale-after", envvar="NEWSWATCH_STALE_AFTER", type=Duration(),
                default=_hours(DEFAULT_STALE_AFTER), show_default=True,
                help="No complete run for this long is a problem (the scheduler stopped?)."),
        _option("--mail-failing-after", envvar="NEWSWATCH_MAIL_FAILING_AFTER", type=Duration(),
                default=_hours(DEFAULT_MAIL_FAILING_AFTER), show_default=True,
                help="E-mail failing (digests pending after errors) this long is a problem."),
        # Each site crawled each night is judged on its own runs: the same variables as the scheduler's.
        _option("--sites", "health_sites", envvar="NEWSWATCH_SITES", type=SiteList(any_name=True), default="",
                help="The sites judged, comma-separated [default: those crawled each night: NEWSWATCH_SITE if set, "
                     "else every configured site profile]."),
        _option("--health-site", "health_site", envvar="NEWSWATCH_SITE", default=None, hidden=True),
    ]

    @functools.wraps(command)
    def with_health(*args: Any, stale_after: Any, mail_failing_after: Any, health_sites: tuple[str, ...],
                    health_site: str | None, **values: Any) -> Any:
        judged = judged_sites(nightly_sites(health_sites, health_site))
        return command(*args, health=HealthSettings(stale_after, mail_failing_after, judged), **values)

    return _apply(options, with_health)


def judged_sites(names: Sequence[str]) -> tuple[JudgedSite, ...]:
    """The sites health judges, each with the time its profile file was last written (none without a file)."""
    from monitor.health import JudgedSite

    def written(name: str) -> dt.datetime | None:
        path = sites.profile_path(name)
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) if path else None

    return tuple(JudgedSite(name, written(name)) for name in names)


def _hours(span: Any) -> str:
    return f"{span.total_seconds() / 3600:g}h"


operator_email_option = _option(
    "--operator-email", envvar="NEWSWATCH_OPERATOR_EMAIL", type=Checked("address", mail.mail_from), default=None,
    help="Where problems of our own (failed, incomplete or held runs, no complete run, e-mail failing) are "
         "mailed, once each; never to subscribers.",
)


# --------------------------------------------------------------------------- the schedule


CRAWL_TIMEOUT = click.IntRange(min=0)


def crawl_timeout(environ: Mapping[str, str]) -> int:
    """NEWSWATCH_CRAWL_TIMEOUT of `environ` as --crawl-timeout reads it (seconds; 0: no limit)."""
    value = environ.get("NEWSWATCH_CRAWL_TIMEOUT", "")
    return DEFAULT_CRAWL_TIMEOUT if not value.strip() else int(CRAWL_TIMEOUT(value))


def lock_stale_after(environ: Mapping[str, str]) -> dt.timedelta:
    """NEWSWATCH_LOCK_STALE_MINUTES of `environ`, as the crawls started with it read it: how long a
    crawl worker may go without a heartbeat and still count as alive (a crawl refuses a bad value)."""
    from storage.runs import DEFAULT_STALE_AFTER

    try:
        minutes = float(environ.get("NEWSWATCH_LOCK_STALE_MINUTES", "").strip() or "nan")
    except ValueError:
        minutes = float("nan")
    return dt.timedelta(minutes=minutes) if minutes > 0 else DEFAULT_STALE_AFTER


def schedule_options(command: Command) -> Command:
    """--cron, --timezone, --notify-every, --misfire-grace, --crawl-timeout and --log-level."""
    options = [
        _option("--cron", envvar="NEWSWATCH_SCHEDULE", type=Crontab(), default=DEFAULT_CRON, show_default=True,
                help="When the nightly crawl runs: a crontab expression."),
        _option("--timezone", envvar="NEWSWATCH_TIMEZONE", type=TimeZoneName(), default=DEFAULT_TIMEZONE,
                show_default=True, help="The time zone of --cron and of printed times (IANA name)."),
        _option("--notify-every", envvar="NEWSWATCH_NOTIFY_EVERY", type=click.IntRange(min=1),
                default=DEFAULT_NOTIFY_EVERY, show_default=True, help="Minutes between retries of pending e-mails."),
        _option("--misfire-grace", envvar="NEWSWATCH_MISFIRE_GRACE", type=click.IntRange(min=1),
                default=DEFAULT_MISFIRE_GRACE, show_default=True,
                help="Seconds a nightly crawl may start late (after a sleep or a restart); later, it is skipped "
                     "until the next night."),
        _option("--crawl-timeout", envvar="NEWSWATCH_CRAWL_TIMEOUT", type=CRAWL_TIMEOUT,
                default=DEFAULT_CRAWL_TIMEOUT, show_default=True,
                help="Seconds a nightly crawl may run: past them it is killed (with its workers) and its run "
                     "recorded as failed (timeout). 0: no limit."),
        _option("--log-level", envvar="NEWSWATCH_LOG_LEVEL", type=click.Choice(LOG_LEVELS, case_sensitive=False),
                default="INFO", show_default=True, help="The scheduler's log level."),
    ]
    return _apply(options, command)


# --------------------------------------------------------------------------- mail


public_url_option = _option(
    "--public-url", envvar="NEWSWATCH_PUBLIC_URL", type=Checked("url", mail.public_url),
    default=mail.DEFAULT_PUBLIC_URL, show_default=True, help="Base URL of the web view (the unsubscribe links).",
)


def mail_options(command: Command) -> Command:
    """Where and how digests are sent, passed to the command as one `mail_settings: MailSettings`."""
    options = [
        _option("--mail-from", envvar="NEWSWATCH_MAIL_FROM", type=Checked("address", mail.mail_from),
                default=mail.DEFAULT_MAIL_FROM, show_default=True,
                help="Sender, envelope sender, unsubscribe mailbox and Message-ID domain."),
        public_url_option,
        _option("--smtp-host", envvar="NEWSWATCH_SMTP_HOST", default=None,
                help="SMTP server; without one, digests are written as .eml files to --outbox-dir."),
        _option("--smtp-port", envvar="NEWSWATCH_SMTP_PORT", type=click.IntRange(1, 65535), default=None,
                help=f"Its port [default: {mail.SMTP_PORTS['plain']}, {mail.SMTP_PORTS['ssl']} with --smtp-ssl, "
                     f"{mail.SMTP_PORTS['starttls']} with --smtp-starttls]."),
        _option("--smtp-user", envvar="NEWSWATCH_SMTP_USER", default=None, help="SMTP login."),
        # A password on a command line is seen by every user of the machine: variables only.
        _option("--smtp-password", envvar="NEWSWATCH_SMTP_PASSWORD", default=None, hidden=True),
        _option("--smtp-password-file", envvar="NEWSWATCH_SMTP_PASSWORD_FILE", default=None,
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="File holding the SMTP password (or NEWSWATCH_SMTP_PASSWORD)."),
        _option("--smtp-starttls", envvar="NEWSWATCH_SMTP_STARTTLS", is_flag=True, help="TLS after connecting."),
        _option("--smtp-ssl", envvar="NEWSWATCH_SMTP_SSL", is_flag=True, help="TLS from the start."),
        _option("--outbox-dir", envvar="NEWSWATCH_OUTBOX_DIR", default=mail.DEFAULT_OUTBOX_DIR, show_default=True,
                type=click.Path(file_okay=False, path_type=Path), help="Where .eml files go without an SMTP server."),
    ]

    @functools.wraps(command)
    def with_settings(*args: Any, **values: Any) -> Any:
        return command(*args, mail_settings=mail_settings(values), **values)

    return _apply(options, with_settings)


_MAIL_OPTIONS = ("mail_from", "public_url", "smtp_host", "smtp_port", "smtp_user", "smtp_password",
                 "smtp_password_file", "smtp_starttls", "smtp_ssl", "outbox_dir")


def mail_settings(values: dict[str, Any]) -> mail.MailSettings:
    """The settings of a command's mail options, taken out of its parameter `values`.

    BadParameter (exit status 2) when they contradict each other or the password file cannot be read.
    """
    given = {name: values.pop(name) for name in _MAIL_OPTIONS}
    ssl, starttls = given.pop("smtp_ssl"), given.pop("smtp_starttls")
    try:
        port = mail.smtp_port(given.pop("smtp_port"), ssl=ssl, starttls=starttls)
    except mail.ConfigError as error:
        raise click.BadParameter(str(error), param_hint="'--smtp-ssl' / '--smtp-starttls' (env vars: "
                                 "'NEWSWATCH_SMTP_SSL', 'NEWSWATCH_SMTP_STARTTLS')") from None
    password, password_file = given.pop("smtp_password"), given.pop("smtp_password_file")
    if not password and password_file is not None:
        try:
            password = mail.read_password(password_file)
        except mail.ConfigError as error:
            raise click.BadParameter(str(error), param_hint="'--smtp-password-file' (env var: "
                                     "'NEWSWATCH_SMTP_PASSWORD_FILE')") from None
    return mail.MailSettings(smtp_port=port, ssl=ssl, starttls=starttls, smtp_password=password or None, **given)


def secret_key_options(command: Command) -> Command:
    """The key of the unsubscribe tokens, passed to the command as one `secret_key: SecretKey`."""
    options = [
        # A secret on a command line is seen by every user of the machine: the variable only.
        _option("--secret-key", envvar="NEWSWATCH_SECRET_KEY", default=None, hidden=True,
                type=Checked("key", lambda key: mail.check_key(key, "NEWSWATCH_SECRET_KEY"))),
        _option("--secret-key-file", envvar="NEWSWATCH_SECRET_KEY_FILE", default=None,
                type=click.Path(dir_okay=False, path_type=Path),
                help="File holding the key of the unsubscribe tokens (or NEWSWATCH_SECRET_KEY) [default: beside an "
                     "SQLite database, newswatch.db: newswatch.key; else newswatch.key in the user's config "
                     "directory; a newswatch.key in the working directory, where earlier versions made it, while "
                     "there is none there]."),
    ]

    @functools.wraps(command)
    def with_key(*args: Any, secret_key: str | None, secret_key_file: Path | None, **values: Any) -> Any:
        file = secret_key_file or default_key_file(values["database_url"])
        return command(*args, secret_key=mail.SecretKey(secret_key, file), **values)

    return _apply(options, with_key)


def default_key_file(database_url: str) -> Path:
    """Where the key of the unsubscribe tokens is kept unless a file is named.

    Beside an SQLite database, under its name (newswatch.db: newswatch.key); for a server
    database, in the user's config directory (~/.config/newswatch/newswatch.key on Linux).
    While there is no key there, a newswatch.key in the working directory (where versions
    before this one made it) is the key: installations made then keep their tokens.
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database).with_suffix(mail.DEFAULT_KEY_FILE.suffix)
    else:
        path = Path(click.get_app_dir("newswatch")) / mail.DEFAULT_KEY_FILE
    if not path.exists() and mail.DEFAULT_KEY_FILE.exists():
        return mail.DEFAULT_KEY_FILE
    return path


def _apply(options: Sequence[Decorator], command: Command) -> Command:
    for option in reversed(options):
        command = option(command)
    return command
