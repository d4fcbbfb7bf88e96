"""Start a crawl of the `news` spider from Python, with the project's settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrapy.addons import AddonManager
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawler import config


def project_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """The project's Scrapy settings (crawler.settings) with `overrides` at command-line priority."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.update(overrides or {}, priority="cmdline")
    return settings


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise crawler.config.BadSetting when `scrapy crawl news` started with `environ` would refuse
    its settings (the scheduler's crawls read its environment)."""
    settings = project_settings()
    config.from_environment(settings, environ)
    config.check(settings)


def check(overrides: dict[str, object] | None = None, **spider_args: str) -> None:
    """Raise crawler.config.BadSetting when `crawl(overrides, **spider_args)` would refuse its settings
    (this process's environment included), as `scrapy crawl` checks them (crawler/commands/crawl.py)."""
    settings = project_settings(overrides)
    AddonManager.load_pre_crawler_settings(settings)
    config.from_spider_arguments(settings, spider_args)
    config.check(settings)


def crawl(overrides: dict[str, Any] | None = None, **spider_args: str) -> dict[str, Any]:
    """Run one crawl to its end in this process and return its Scrapy stats.

    Twisted's reactor cannot be restarted: call this at most once per process
    (the scheduler runs crawls in child processes). Settings it cannot use raise BadSetting
    before anything starts (`check`).
    """
    check(overrides, **spider_args)
    process = CrawlerProcess(project_settings(overrides))
    crawler = process.create_crawler("news")
    process.crawl(crawler, **spider_args)
    process.start()
    return crawler.stats.get_stats()
