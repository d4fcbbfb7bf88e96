"""Scrapy settings of newswatch. Every NEWSWATCH_* setting also comes from the environment.

Command-line `-s NAME=value` wins over the environment, which wins over the defaults here.
"""

import os

BOT_NAME = "newswatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# What to watch, and where to store it.
NEWSWATCH_SITE = os.environ.get("NEWSWATCH_SITE", "icesco")
NEWSWATCH_SITE_URL = os.environ.get("NEWSWATCH_SITE_URL", "https://icesco.org")
NEWSWATCH_LANGUAGES = os.environ.get("NEWSWATCH_LANGUAGES", "en,fr,ar")
NEWSWATCH_DATABASE_URL = os.environ.get("NEWSWATCH_DATABASE_URL", "sqlite:///newswatch.db")

# Trust: a run with more failed article fetches than this share is incomplete (no removals);
# an extraction shorter than this share of the stored text is a failure, not an edit.
NEWSWATCH_MAX_FAILURE_RATE = float(os.environ.get("NEWSWATCH_MAX_FAILURE_RATE", "0.05"))
NEWSWATCH_MIN_LENGTH_RATIO = float(os.environ.get("NEWSWATCH_MIN_LENGTH_RATIO", "0.5"))

# The crawl lock (one running crawl per site): a running crawl beats every so many seconds; a
# lock without a beat for so many minutes (or whose process died, on this host) is taken over.
NEWSWATCH_HEARTBEAT_SECONDS = float(os.environ.get("NEWSWATCH_HEARTBEAT_SECONDS", "60"))
NEWSWATCH_LOCK_STALE_MINUTES = float(os.environ.get("NEWSWATCH_LOCK_STALE_MINUTES", "30"))

# Incremental runs (the default) stop paging through a listing after this many pages holding
# only known articles; re-check articles published within NEWSWATCH_RECENT_DAYS every run
# (conditional requests), and download every older one once per NEWSWATCH_REVALIDATE_DAYS.
# Full runs (`-a mode=full` or NEWSWATCH_MODE=full) download every listing page and article.
NEWSWATCH_MODE = os.environ.get("NEWSWATCH_MODE", "incremental")
NEWSWATCH_KNOWN_PAGES_DEPTH = int(os.environ.get("NEWSWATCH_KNOWN_PAGES_DEPTH", "1"))
NEWSWATCH_RECENT_DAYS = int(os.environ.get("NEWSWATCH_RECENT_DAYS", "30"))
NEWSWATCH_REVALIDATE_DAYS = int(os.environ.get("NEWSWATCH_REVALIDATE_DAYS", "7"))
# XML sitemaps, when the site has them: new articles, and (incremental) articles whose lastmod is
# later than our last check are fetched the same night. Never required; "False" to skip them.
NEWSWATCH_SITEMAPS = os.environ.get("NEWSWATCH_SITEMAPS", "True")

# Worker processes for extraction (0: in the crawl's own process).
NEWSWATCH_EXTRACT_WORKERS = int(os.environ.get("NEWSWATCH_EXTRACT_WORKERS", "2"))
# Stored articles are committed in batches of up to this many, and at least every so many seconds.
NEWSWATCH_STORE_BATCH = int(os.environ.get("NEWSWATCH_STORE_BATCH", "100"))
NEWSWATCH_STORE_SECONDS = float(os.environ.get("NEWSWATCH_STORE_SECONDS", "2"))

# Polite by default: the real site is a public service, not ours.
USER_AGENT = "newswatch/0.1 (news-release change monitor; +https://icesco.org/en/)"
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
DOWNLOAD_DELAY = 0.5
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 3  # 5xx, 408, 429, timeouts and connection errors (Scrapy's RETRY_HTTP_CODES)
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# A page yields one article, or a listing's dozen requests: Scrapy's 100 starts a hundred
# asyncio tasks per response for nothing (a fifth of the crawl process's time).
CONCURRENT_ITEMS = 16

# Change detection runs when a crawl's run is recorded (wired by path: crawler never imports monitor).
EXTENSIONS = {
    "crawler.runlock.RunHeartbeat": 100,  # keeps this crawl's lock alive while it runs
    "monitor.extension.DetectChanges": 500,
}

ITEM_PIPELINES = {
    "crawler.pipelines.ExtractPipeline": 300,
    "crawler.pipelines.StorePipeline": 800,
}

LOG_LEVEL = os.environ.get("NEWSWATCH_LOG_LEVEL", "INFO")
FEED_EXPORT_ENCODING = "utf-8"
