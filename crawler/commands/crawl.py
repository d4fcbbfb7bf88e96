"""`scrapy crawl`, refusing a bad setting before anything starts (one line, and exit status 2), and
exiting with a status that says how its run ended (crawler/exits.py)."""

from __future__ import annotations

import argparse
import sys

from scrapy.addons import AddonManager
from scrapy.commands import crawl
from scrapy.exceptions import UsageError

from crawler import config, exits


class Command(crawl.Command):
    """Scrapy's `crawl`, with the project's settings checked first (crawler.config.check), and
    an exit status that says how the run ended (crawler.exits)."""

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            super().run(args, opts)  # Scrapy's usage errors
            return
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = exits.NOT_STARTED
        else:
            self.exitcode = exits.for_run(crawler.stats.get_stats())

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        # The settings the crawl will start from: with the add-ons' early settings (the
        # environment, crawler.config.Environment), which Scrapy applies after this method,
        # and the spider arguments that are settings.
        assert self.settings is not None  # set by Scrapy before it parses the options
        settings = self.settings.copy()
        AddonManager.load_pre_crawler_settings(settings)
        config.from_spider_arguments(settings, opts.spargs)
        try:
            config.check(settings)
        except config.BadSetting as error:
            # Logging is not configured yet; argparse's own message would add a usage line and
            # name the program after `python -m scrapy`'s __main__.py.
            sys.stderr.write(f"scrapy crawl: {error}\n")
            raise UsageError(print_help=False) from None  # Scrapy exits with status 2, silently
