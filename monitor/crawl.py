"""Start a crawl of the `news` spider from Python, with the project's settings."""

from __future__ import annotations

from collections.abc import Mapping

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawler import config


def project_settings(overrides: dict | None = None) -> Settings:
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


def crawl(overrides: dict | None = None, **spider_args: str) -> dict:
    """Run one crawl to its end in this process and return its Scrapy stats.

    Twisted's reactor cannot be restarted: call this at most once per process
    (the scheduler runs crawls in child processes).
    """
    process = CrawlerProcess(project_settings(overrides))
    crawler = process.create_crawler("news")
    process.crawl(crawler, **spider_args)
    process.start()
    return crawler.stats.get_stats()
