"""`scrapy crawl`, refusing a bad setting before anything starts: one line, and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys

from scrapy.commands import crawl
from scrapy.exceptions import UsageError

from crawler import config


class Command(crawl.Command):
    """Scrapy's `crawl`, with the project's settings checked first (crawler.config.check)."""

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        # What the crawl will see: the environment (the add-on applies it when the crawl
        # starts, on this same object) and the spider arguments that are settings.
        settings = self.settings.copy()
        config.from_environment(settings, os.environ)
        config.from_spider_arguments(settings, opts.spargs)
        try:
            config.check(settings)
        except config.BadSetting as error:
            # Logging is not configured yet; argparse's own message would add a usage line and
            # name the program after `python -m scrapy`'s __main__.py.
            sys.stderr.write(f"scrapy crawl: {error}\n")
            raise UsageError(print_help=False) from None  # Scrapy exits with status 2, silently
