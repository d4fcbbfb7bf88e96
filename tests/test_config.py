"""The crawl's configuration: defaults in crawler/settings.py, NEWSWATCH_* from the environment,
`-s` over both; a value a crawl cannot use stops `scrapy crawl` before it starts, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.addons import AddonManager
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawler import config
from crawler.sites import ICESCO

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project_settings(monkeypatch):
    """The settings a crawl starts from in an environment, as Scrapy builds them (add-ons' early hook included)."""
    for name in list(os.environ):
        if name.startswith("NEWSWATCH_"):
            monkeypatch.delenv(name)

    def build(environ: dict[str, str], cmdline: dict[str, str] | None = None) -> Settings:
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        settings = Settings()
        settings.setmodule("crawler.settings", priority="project")
        settings.setdict(cmdline or {}, priority="cmdline")
        AddonManager.load_pre_crawler_settings(settings)
        return settings

    return build


# --------------------------------------------------------------------------- where values come from


def test_defaults_come_from_the_site_profile_and_storage(project_settings):
    settings = project_settings({})

    assert settings.get("NEWSWATCH_SITE") == ICESCO.name
    assert config.site_url(settings) == ICESCO.origin
    assert config.languages(settings) == ICESCO.languages
    assert settings.get("NEWSWATCH_DATABASE_URL") == "sqlite:///newswatch.db"
    assert settings.getfloat("NEWSWATCH_LOCK_STALE_MINUTES") == 30
    assert not config.full_mode(settings)
    config.check(settings)


def test_the_environment_wins_over_the_defaults(project_settings):
    settings = project_settings({"NEWSWATCH_STORE_BATCH": "7", "NEWSWATCH_LANGUAGES": "fr,ar",
                                 "NEWSWATCH_SITEMAPS": "False", "NEWSWATCH_LOG_LEVEL": "WARNING"})

    assert settings.getint("NEWSWATCH_STORE_BATCH") == 7
    assert config.languages(settings) == ("fr", "ar")
    assert settings.getbool("NEWSWATCH_SITEMAPS") is False
    assert settings.get("LOG_LEVEL") == "WARNING"


def test_the_command_line_wins_over_the_environment(project_settings):
    settings = project_settings({"NEWSWATCH_STORE_BATCH": "7", "NEWSWATCH_MODE": "full"},
                                cmdline={"NEWSWATCH_STORE_BATCH": "9"})
    config.from_spider_arguments(settings, {"mode": "incremental", "languages": None})

    assert settings.getint("NEWSWATCH_STORE_BATCH") == 9
    assert not config.full_mode(settings)  # -a mode=incremental
    assert config.languages(settings) == ICESCO.languages  # no -a languages: the default stays


def test_variables_that_are_not_crawl_settings_are_left_alone(project_settings):
    settings = project_settings({"NEWSWATCH_SMTP_HOST": "mail.example.org", "NEWSWATCH_TEST_POSTGRES_URL": "x"})

    assert "NEWSWATCH_SMTP_HOST" not in settings and "NEWSWATCH_TEST_POSTGRES_URL" not in settings


@pytest.mark.parametrize("environ", [{"NEWSWATCH_QUEUE": "redis://localhost:6379/0"}])
def test_a_queue_worker_takes_from_the_queue_no_more_than_the_site_downloads_at_once(project_settings, environ):
    settings = project_settings(environ)
    config.Environment().update_settings(settings)
    given = project_settings(environ, cmdline={"CONCURRENT_REQUESTS": "32"})
    config.Environment().update_settings(given)

    assert settings.getint("CONCURRENT_REQUESTS") == settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 4
    assert given.getint("CONCURRENT_REQUESTS") == 32  # the operator's, given on the command line


def test_a_crawl_started_from_python_is_checked_as_it_starts(project_settings):
    settings = project_settings({"NEWSWATCH_STORE_BATCH": "a hundred"})

    with pytest.raises(config.BadSetting, match="NEWSWATCH_STORE_BATCH='a hundred': expected a whole number"):
        get_crawler(settings_dict=settings.copy_to_dict())


# --------------------------------------------------------------------------- `scrapy crawl` refuses bad values

BAD = [
    # (environment, arguments, the setting the message names)
    ({"NEWSWATCH_MODE": "foo"}, [], "NEWSWATCH_MODE='foo': expected incremental or full"),
    ({}, ["-a", "mode=foo"], "NEWSWATCH_MODE='foo': expected incremental or full"),
    ({}, ["-a", "languages=de"], "NEWSWATCH_LANGUAGES='de': expected languages of icesco, comma-separated: en,fr,ar"),
    ({"NEWSWATCH_EXTRACT_WORKERS": "abc"}, [], "NEWSWATCH_EXTRACT_WORKERS='abc': expected a whole number"),
    ({"NEWSWATCH_EXTRACT_WORKERS": "-1"}, [], "NEWSWATCH_EXTRACT_WORKERS='-1': expected a whole number"),
    ({"NEWSWATCH_STORE_BATCH": "many"}, [], "NEWSWATCH_STORE_BATCH='many': expected a whole number"),
    ({}, ["-s", "NEWSWATCH_STORE_SECONDS=soon"], "NEWSWATCH_STORE_SECONDS='soon': expected a number of seconds"),
    ({"NEWSWATCH_SITE": "unknown"}, [], "NEWSWATCH_SITE='unknown': expected a profile of crawler/sites/: icesco"),
    ({"NEWSWATCH_SITE_URL": "icesco.org"}, [], "NEWSWATCH_SITE_URL='icesco.org': expected an http:// or https://"),
    ({"NEWSWATCH_SITEMAPS": "maybe"}, [], "NEWSWATCH_SITEMAPS='maybe': expected True or False"),
    ({"NEWSWATCH_TODAY": "tomorrow"}, [], "NEWSWATCH_TODAY='tomorrow': expected a date YYYY-MM-DD"),
    ({"NEWSWATCH_RAW_KEEP_DAYS": "a year"}, [], "NEWSWATCH_RAW_KEEP_DAYS='a year': expected a whole number of days"),
    ({"NEWSWATCH_LOG_LEVEL": "loud"}, [], "LOG_LEVEL='loud': expected DEBUG, INFO"),
    ({"NEWSWATCH_DATABASE_URL": "sqlite:////nonexistent/dir/x.db"}, [],
     "NEWSWATCH_DATABASE_URL='sqlite:////nonexistent/dir/x.db': no directory /nonexistent/dir"),
    ({"NEWSWATCH_DATABASE_URL": "mysql://x/y"}, [], "NEWSWATCH_DATABASE_URL='mysql://x/y': the driver of mysql"),
]


@pytest.mark.parametrize(("environ", "arguments", "message"), BAD, ids=[m.split("=")[0] + str(a) for _, a, m in BAD])
def test_a_bad_setting_is_one_line_and_exit_status_2(tmp_path, environ, arguments, message):
    database = tmp_path / "newswatch.db"
    env = {**os.environ, "NEWSWATCH_DATABASE_URL": f"sqlite:///{database}", **environ}

    result = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "news", *arguments], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"scrapy crawl: bad setting {message}")
    assert "Traceback" not in result.stderr and "Task exception was never retrieved" not in result.stderr
    assert not database.exists()  # nothing started, nothing written


def test_the_command_line_can_correct_a_bad_environment(tmp_path):
    database = tmp_path / "newswatch.db"
    env = {**os.environ, "NEWSWATCH_MODE": "foo", "NEWSWATCH_DATABASE_URL": f"sqlite:///{database}"}

    # -s NEWSWATCH_MODE wins, and the crawl starts its run (no site answers on port 9; no politeness
    # delay between its failing requests).
    result = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "news", "-s", "NEWSWATCH_MODE=full",
                             "-s", "NEWSWATCH_SITE_URL=http://127.0.0.1:9", "-s", "RETRY_ENABLED=False",
                             "-s", "NEWSWATCH_SITEMAPS=False", "-s", "NEWSWATCH_EXTRACT_WORKERS=0",
                             "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    assert "bad setting" not in result.stderr
    assert "run 1 started" in result.stderr and database.exists()
