"""Scrapy settings of newswatch: the defaults only (nothing here reads the environment).

Every NEWSWATCH_* setting also comes from the environment variable of the same name, through
the add-on `crawler.config.Environment`: `-s NAME=value` wins over the environment, which wins
over the defaults here; a value a crawl cannot use stops it at start-up with one line naming
the setting (crawler/config.py).
"""

# Modules, not names: Scrapy takes every upper-case name of this module for a setting.
import storage
from crawler import sites
from storage import runs

BOT_NAME = "newswatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
# `scrapy crawl` as Scrapy's, refusing a bad setting before anything starts (exit status 2).
COMMANDS_MODULE = "crawler.commands"
# The environment first (NEWSWATCH_LOG_LEVEL, NEWSWATCH_LOG_FILE), then what the log shows (crawler/logs.py).
ADDONS = {"crawler.config.Environment": 0, "crawler.logs.OperatorLog": 10}

# What to watch, and where to store it. The site URL and languages default to the site profile's
# (crawler/sites/): its origin, and all of its languages.
NEWSWATCH_SITE = sites.DEFAULT_SITE
# A folder of the operator's site profiles (NAME.toml each), besides crawler/sites/ ("": none).
NEWSWATCH_SITES_DIR = ""
NEWSWATCH_SITE_URL = ""
NEWSWATCH_LANGUAGES: list[str] = []
NEWSWATCH_DATABASE_URL = storage.DEFAULT_DATABASE_URL
# Several crawl processes, on one machine or several, work one run together through a Redis queue
# (crawler.queue): redis://host:6379/0. Empty: one process, Scrapy's own scheduler.
NEWSWATCH_QUEUE = ""
NEWSWATCH_QUEUE_PREFIX = "newswatch"  # of the run's Redis keys: {prefix}:{site}:{run}:...

# Trust: a run with more failed article fetches than this share is incomplete (no removals);
# an extraction shorter than this share of the stored text is a failure, not an edit.
NEWSWATCH_MAX_FAILURE_RATE = 0.05
NEWSWATCH_MIN_LENGTH_RATIO = 0.5
# The brake on alert storms (monitor.brake): a run editing, or removing, more than this share of
# the articles it compared, and more than this many, is held for the operator, not mailed.
NEWSWATCH_MAX_EDIT_SHARE = 0.2
NEWSWATCH_HOLD_MIN_COUNT = 5

# The crawl lock (one running crawl per site): a running crawl beats every so many seconds; a
# lock without a beat for so many minutes (or whose process died, on this host) is taken over.
NEWSWATCH_HEARTBEAT_SECONDS = 60.0
NEWSWATCH_LOCK_STALE_MINUTES = runs.DEFAULT_STALE_AFTER.total_seconds() / 60

# Incremental runs (the default) stop paging through a listing after this many pages holding
# only known articles; re-check articles published within NEWSWATCH_RECENT_DAYS every run
# (conditional requests), and download every older one once per NEWSWATCH_REVALIDATE_DAYS.
# Full runs (`-a mode=full` or NEWSWATCH_MODE=full) download every listing page and article.
NEWSWATCH_MODE = "incremental"
NEWSWATCH_KNOWN_PAGES_DEPTH = 1
NEWSWATCH_RECENT_DAYS = 30
NEWSWATCH_REVALIDATE_DAYS = 7
# XML sitemaps, when the site has them: new articles, and (incremental) articles whose lastmod is
# later than our last check are fetched the same night. Never required; False to skip them.
NEWSWATCH_SITEMAPS = True
# The date the rolling share and the recent window are counted from (YYYY-MM-DD), for tests and
# replays of past nights; empty: today's date.
NEWSWATCH_TODAY = ""

# Worker processes for extraction (0: in the crawl's own process).
NEWSWATCH_EXTRACT_WORKERS = 2
# Bounds on one page's extraction: a page over this many bytes is not read, one whose
# extraction takes longer than this many seconds is abandoned; either is a failed extraction
# (0: no bound). A release page is a few hundred KB; 3 MB of text takes seconds to read.
NEWSWATCH_EXTRACT_MAX_BYTES = 3_000_000
NEWSWATCH_EXTRACT_TIMEOUT = 10.0
# Stored articles are committed in batches of up to this many, and at least every so many seconds.
NEWSWATCH_STORE_BATCH = 100
NEWSWATCH_STORE_SECONDS = 2.0
# The raw archive (storage/rawpages.py): a crawl deletes, as it ends, the pages only versions
# fetched more than this many days ago were read from (never a current version's); empty: keep all.
NEWSWATCH_RAW_KEEP_DAYS = ""

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
# A body larger than this is refused, also once decompressed (a gzip bomb: a few hundred KB on the
# wire, gigabytes inflated): a news page is well under a megabyte. Larger than WARNSIZE: a warning.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 3  # 5xx, 408, 429, timeouts and connection errors (Scrapy's RETRY_HTTP_CODES)
# A 429 or 503 with Retry-After is retried no sooner, and nothing else is sent to the site
# meanwhile (crawler/retryafter.py); a site asking for longer than this many seconds is left
# alone that long, and the request is a failed fetch.
NEWSWATCH_RETRY_AFTER_MAX = 600.0
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.retryafter.RetryAfterMiddleware": 550,  # where Scrapy's stands
    # robots.txt answering 5xx, or unreachable: the site is unavailable (RFC 9309), the crawl stops.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.RobotsTxtMiddleware": 100,
}
COOKIES_ENABLED = False
# No console to the crawl's process: neither Scrapy's telnet one nor its HTTP one, which runs
# Python sent to it (a token in the user's profile guards it) and is on by default since 2.19.
# Both are also left out of EXTENSIONS below, with every other extension the product does not use.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
# A page yields one article, or a listing's dozen requests: Scrapy's 100 starts a hundred
# asyncio tasks per response for nothing (a fifth of the crawl process's time).
CONCURRENT_ITEMS = 16

EXTENSIONS = {
    # Scrapy's extensions the product does not use, off: nothing listens, nothing is left behind.
    # Kept: CoreStats and LogCount (the run's stats), LogStats (the periodic count at DEBUG),
    # MemoryUsage (peak memory in the stats) and AutoThrottle (politeness).
    "scrapy.extensions.telnet.TelnetConsole": None,  # a Python console on a local port
    "scrapy.extensions.remote_control.RemoteControl": None,  # Python sent over HTTP; token files
    "scrapy.extensions.memdebug.MemoryDebugger": None,
    "scrapy.extensions.closespider.CloseSpider": None,
    "scrapy.extensions.feedexport.FeedExporter": None,  # items go to the database, not to feeds (-o)
    "scrapy.extensions.spiderstate.SpiderState": None,  # no JOBDIR
    # On a terminal, a line redrawn every second; LogStats's periodic line is at DEBUG (crawler/logs.py).
    "crawler.progress.Progress": 0,
    # The run's life: claimed at start-up, heartbeat, known articles, closed with status and stats.
    "crawler.runs.RunLifecycle": 100,
    # Change detection, once the run is recorded (wired by path: crawler never imports monitor).
    "monitor.extension.DetectChanges": 500,
}

ITEM_PIPELINES = {
    "crawler.pipelines.ExtractPipeline": 300,
    "crawler.pipelines.StorePipeline": 800,
}

# The run's start and summary, warnings and errors; DEBUG adds Scrapy's detail (crawler/logs.py).
LOG_LEVEL = "INFO"  # also NEWSWATCH_LOG_LEVEL
# A file instead of stderr, which keeps Scrapy's detail too; also NEWSWATCH_LOG_FILE.
LOG_FILE = None
FEED_EXPORT_ENCODING = "utf-8"
