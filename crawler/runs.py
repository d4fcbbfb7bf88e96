"""The crawl's run, from its claim to its close, in one extension (`RunLifecycle`, in EXTENSIONS).

As the crawler is built, before its engine exists, the extension migrates the database, claims
the site's crawl lock (a refused crawl has fetched and written nothing, logs one ERROR line and
`scrapy crawl` exits with status 1) and reads the articles already known. Once the spider is
open it hands the spider and the store pipeline the `Run` (signal `run_started`) and keeps the
lock alive with a heartbeat. Once the spider is closed, after the item pipelines' last writes,
it closes the run with its status, stats and the reason it is incomplete, announces it (signal
`run_finished`: detection runs then, and leaves its counts in the stats), and logs the run's
summary (crawler.summary). The database side is storage.runs; this module is the Scrapy side.

With NEWSWATCH_QUEUE (crawler.queue), several crawl processes work one run: the first claims it,
the next ones join it (storage.workers), each with its own heartbeat. An idle worker stores its
pending items and its share of the stats and witnesses, puts back in the queue what dead workers
held, and asks the queue whether the run is drained (`spider_idle`): while it is not, the spider
stays open (DontCloseSpider); when it is, exactly one worker closes the run, with the summed stats
of all workers and the listing witnesses of all (the database's conditional update decides), and
only that one announces it (detection) and logs the summary. The others leave.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from redis.exceptions import RedisError
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.settings import BaseSettings
from scrapy.utils.asyncio import AsyncioLoopingCall, create_looping_call
from scrapy.utils.defer import deferred_from_coro
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall

from crawler import config, exits
from crawler import signals as newswatch_signals
from crawler.queue import RUN_KEY_SETTING, WORKER_SETTING, Idle, SharedQueue
from crawler.sites import SiteProfile
from crawler.summary import run_summary, start_line
from crawler.witness import WITNESS_SEEN_STAT, WITNESS_STAT, RemovalWitnesses
from storage import addresses, repository, runs, workers
from storage.db import make_engine, migrate
from storage.failures import describe

logger = logging.getLogger(__name__)

# The stat in which the store pipeline says how the database failed while storing (the run fails).
DATABASE_FAILED_STAT = "newswatch/database_failed"
# How often a worker waiting for the others looks at the queue (Scrapy's engine asks only every 5 s).
WAIT_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Run:
    """This crawl's run, as the spider and the store pipeline need it."""

    id: int
    site: str
    engine: Engine  # the crawl's database, open until the run is closed
    known: Mapping[str, repository.KnownArticle]  # articles stored before this run, by canonical URL
    took_over: int | None = None  # the abandoned run whose lock this one took over, if any
    is_baseline: bool = False  # the site's first run: what it stores is recorded, never alerted
    joined: bool = False  # a shared run (crawler.queue) this worker joined: the claimer schedules the start


class RunLifecycle:
    """Claims, announces, heartbeats and closes this crawl's run (module docstring)."""

    def __init__(self, crawler: Crawler, run: Run, shared: SharedQueue | None = None) -> None:
        self.crawler = crawler
        self.run = run
        self.shared = shared  # the run's queue, when several processes work it (NEWSWATCH_QUEUE)
        self.idle: Idle | None = None  # what the queue said when this worker was last idle
        self.witness_saved: int | None = None  # how much its witnesses had seen when last stored
        self.stale_after = dt.timedelta(minutes=crawler.settings.getfloat("NEWSWATCH_LOCK_STALE_MINUTES"))
        self.owner = runs.Owner.this_process()
        self.interval = crawler.settings.getfloat("NEWSWATCH_HEARTBEAT_SECONDS")
        self.max_failure_rate = crawler.settings.getfloat("NEWSWATCH_MAX_FAILURE_RATE")
        self.heartbeat: AsyncioLoopingCall | LoopingCall | None = None
        self.waiting: AsyncioLoopingCall | LoopingCall | None = None  # polls the queue while this worker waits
        self.lock_lost = False
        self.closing: Deferred[Any] | None = None
        self.clock = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunLifecycle:
        settings = crawler.settings
        engine = make_engine(settings.get("NEWSWATCH_DATABASE_URL"), writer=True)  # waits for others' locks
        shared = None
        try:
            migrate(engine)
            if settings.get("NEWSWATCH_QUEUE"):
                run, shared = _start_shared(crawler, engine)
            else:
                run = _start(crawler, engine)
        except RedisError as error:
            engine.dispose()
            _refuse(error, f"the queue refused the crawl: {error} (NEWSWATCH_QUEUE {settings.get('NEWSWATCH_QUEUE')}); "
                           "nothing was fetched")
        except SQLAlchemyError as error:  # the database refuses the crawl: one line, exit status 1
            engine.dispose()
            _refuse(error, f"the database refused the crawl: {describe(error)} (database "
                           f"{engine.url.render_as_string(hide_password=True)}); nothing was fetched")
        except BaseException:
            engine.dispose()
            raise
        extension = cls(crawler, run, shared)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        if shared is not None:
            crawler.signals.connect(extension.spider_idle, signal=signals.spider_idle)
            crawler.signals.connect(extension.start_queued, signal=newswatch_signals.start_queued)
            crawler.signals.connect(extension.stored, signal=newswatch_signals.stored)
        return extension

    def spider_opened(self) -> None:
        run, settings = self.run, self.crawler.settings
        self.crawler.stats.set_value("newswatch/run_id", run.id)  # for readers of the stats (`newswatch demo`)
        self.clock = time.monotonic()
        if not run.joined:  # a joiner's run started already, and said so in its claimer's log
            logger.info("%s", start_line(run.id, site=run.site, site_url=config.site_url(settings),
                                         languages=config.languages(settings), full=config.full_mode(settings),
                                         known=len(run.known), database=run.engine.url.render_as_string(hide_password=True),
                                         baseline=run.is_baseline))
        if self.shared is not None:
            logger.info("run %s %s by worker %s; more workers join with the same NEWSWATCH_QUEUE", run.id,
                        "joined" if run.joined else "claimed", self.shared.worker)
        self.crawler.signals.send_catch_log(newswatch_signals.run_started, run=run)
        if self.interval > 0:
            self.heartbeat = create_looping_call(self.beat)
            self.heartbeat.start(self.interval, now=False)

    def beat(self) -> None:
        """Refresh the lock's heartbeat; close the spider if another crawl took the lock over."""
        try:
            if self.shared is None:
                still_ours = runs.beat(self.run.engine, self.run.id, self.owner)
            else:
                still_ours = workers.beat(self.run.engine, self.run.id, self.owner)
                self._save_share()
                self._requeue_dead()
                still_ours = still_ours or self.shared.closing() is not None  # ended by its closer, not taken over
        except (SQLAlchemyError, RedisError) as error:
            # The next beat may succeed; a lock without beats for long is taken over.
            self.crawler.stats.inc_value("newswatch/heartbeat_failed")
            logger.warning("heartbeat of run %s not recorded: %s", self.run.id,
                           describe(error) if isinstance(error, SQLAlchemyError) else error)
            return
        if not still_ours:
            self.lock_lost = True
            self.crawler.stats.set_value("newswatch/lock_lost", 1)
            logger.error("run %s is no longer this crawl's lock (another crawl took it over as abandoned): "
                         "closing the spider", self.run.id)
            self._stop_heartbeat()
            self.closing = deferred_from_coro(self.crawler.engine.close_spider_async(reason="lock_lost"))
            self.closing.addErrback(lambda failure: logger.error("could not close the spider: %s", failure.value))

    def spider_idle(self) -> None:
        """A worker of a shared run has nothing to do: store what it fetched, hand it back as done,
        and stay open until the run is drained (module docstring)."""
        assert self.shared is not None
        if self.idle in (Idle.CLOSE, Idle.CLOSING, Idle.OVER) or self.crawler.stats.get_value(DATABASE_FAILED_STAT):
            return  # the spider closes
        self.crawler.signals.send_catch_log(newswatch_signals.run_idle)  # the store pipeline writes its batch
        if self.crawler.stats.get_value(DATABASE_FAILED_STAT):
            return  # what it holds goes back to the queue as it leaves (spider_closed)
        try:
            self._save_share()
            self._requeue_dead()
            self.idle = self.shared.idle()
        except (SQLAlchemyError, RedisError) as error:
            logger.warning("worker %s of run %s could not report idle (%s); trying again", self.shared.worker,
                           self.run.id, error)
            raise DontCloseSpider from None
        if self.idle is Idle.WAIT:
            self._wait_for_work()
            raise DontCloseSpider

    def _wait_for_work(self) -> None:
        """While this worker waits, look at the queue every WAIT_POLL_SECONDS and wake the engine as soon
        as requests are queued or the run was found drained, instead of at its next 5 s heartbeat."""
        if self.waiting is None or not self.waiting.running:
            self.waiting = create_looping_call(self._poll_queue)
            self.waiting.start(WAIT_POLL_SECONDS, now=False)

    def _poll_queue(self) -> None:
        assert self.shared is not None
        try:
            ready = self.shared.ready()
        except RedisError:
            return  # the engine's heartbeat asks again anyway
        if ready:
            self._stop_waiting()
            _wake(self.crawler.engine)

    def start_queued(self) -> None:
        """The claimer's start requests are all in the queue: the run may be found drained from now on."""
        assert self.shared is not None
        try:
            self.shared.started()
            logger.debug("worker %s: the start requests of run %s are all queued", self.shared.worker, self.run.id)
        except RedisError as error:  # its next idle says so instead
            logger.warning("worker %s could not say its start requests are queued: %s", self.shared.worker, error)

    def stored(self) -> None:
        """The store pipeline committed what it was handed: this worker's share of the stats and
        witnesses is stored with it, then the requests it finished may leave its hands (the
        scheduler, on `share_saved`): a death after this point costs none of them."""
        try:
            self._save_share()
        except SQLAlchemyError as error:  # its requests stay in its hands: at worst fetched again
            logger.warning("worker %s could not store its share of run %s: %s", self.owner.pid, self.run.id,
                           describe(error))
            return
        self.crawler.signals.send_catch_log(newswatch_signals.share_saved)

    def _save_share(self) -> None:
        """This worker's run stats and witnesses so far, for the worker that closes the run."""
        scrapy_stats = self.crawler.stats.get_stats()
        stats = run_stats(scrapy_stats)
        if database_failed := scrapy_stats.get(DATABASE_FAILED_STAT):
            stats["database_failed"] = database_failed
        seen = scrapy_stats.get(WITNESS_SEEN_STAT)
        witness = scrapy_stats.get(WITNESS_STAT) if seen != self.witness_saved else None  # unchanged: not written again
        workers.save_share(self.run.engine, self.run.id, self.owner, stats, witness)
        self.witness_saved = seen

    def _requeue_dead(self) -> None:
        """Put back in the queue what the run's dead workers held (one survivor does it for each)."""
        assert self.shared is not None
        for dead in workers.dead_workers(self.run.engine, self.run.id, self.owner.hostname, self.stale_after):
            if workers.mark_dead(self.run.engine, self.run.id, dead, self.owner):
                requeued = self.shared.requeue(dead.name)
                self.crawler.stats.inc_value("newswatch/requeued", requeued)
                logger.warning("worker %s of run %s is dead (%s): the %d requests it held are back in the queue",
                               dead.name, self.run.id, dead.reason, requeued)

    def spider_closed(self, reason: str) -> None:
        """Close the run (the item pipelines have written their last items by now) and announce it."""
        self._stop_heartbeat()
        try:
            self.crawler.stats.set_value(exits.RUN_STATUS_STAT, "failed")  # until recorded otherwise
            if self.lock_lost:
                # Another crawl marked this run abandoned and took the lock: the run is theirs to
                # account for now; closing it as ours would overwrite that record.
                logger.error("run %s left as failed (abandoned): not recording its end", self.run.id)
                return
            if self.shared is None:
                self._finish(reason)
            else:
                self._finish_shared(reason)
        finally:
            if self.shared is not None:
                self._leave_queue()
            self.run.engine.dispose()

    def _finish_shared(self, reason: str) -> None:
        """Close the shared run if this worker is its closer, or the last worker standing; else leave it."""
        assert self.shared is not None
        try:
            self._save_share()
            workers.leave(self.run.engine, self.run.id, self.owner)
            last = self.idle is Idle.CLOSE or (
                reason != "finished" and not workers.others_working(self.run.engine, self.run.id, self.owner,
                                                                    self.stale_after))
            if not last:
                logger.info("worker %s leaves run %s (%s): %s", self.shared.worker, self.run.id, reason,
                            "another worker closes it" if reason == "finished" else
                            "what it held is back in the queue for the others")
                # Its exit status says how its own part ended: the run's is the closer's to say.
                self.crawler.stats.set_value(exits.RUN_STATUS_STAT, _part_status(reason, self.crawler.stats.get_stats()))
                return
            shares = workers.shares(self.run.engine, self.run.id)
            start_lost = self.shared.start_lost()
        except (SQLAlchemyError, RedisError) as error:
            logger.error("worker %s could not close run %s: %s; the next run takes it over", self.shared.worker,
                         self.run.id, error)
            return
        stats = workers.sum_stats([share for share, _ in shares])
        verdict = RemovalWitnesses.merged(config.site_profile(self.crawler.settings),
                                          [witness for _, witness in shares]).verdict()
        stats["gone_witnessed"], stats["gone_listed"] = list(verdict.witnessed), verdict.listed
        database_failed = stats.pop("database_failed", None)
        extra = [f"worker {start_lost} died before it queued every start request"] if start_lost else []
        self._finish(reason, stats, database_failed, extra)

    def _leave_queue(self) -> None:
        assert self.shared is not None
        try:
            self.shared.leave()
        except RedisError as error:
            logger.warning("worker %s could not leave the queue of run %s: %s", self.shared.worker, self.run.id, error)

    def _finish(self, reason: str, stats: dict[str, Any] | None = None, database_failed: str | None = None,
                extra: list[str] | None = None) -> None:
        """Record the run's end (for a shared run, with the summed `stats` of its workers), announce it
        and log its summary; for a shared run, only if no other worker recorded it first."""
        scrapy_stats = self.crawler.stats.get_stats()
        if stats is None:
            stats = run_stats(scrapy_stats)
            database_failed = scrapy_stats.get(DATABASE_FAILED_STAT)
        reasons = runs.incomplete_reasons(stats, reason, self.max_failure_rate) + (extra or [])
        status = "incomplete" if reasons else "complete"
        error = "; ".join(reasons) or None
        if database_failed:
            status, reasons, error = "failed", [], f"the database failed while storing: {database_failed}"
        try:
            with Session(self.run.engine) as session, session.begin():
                if self.shared is None:
                    runs.finish_run(session, self.run.id, status, stats, error=error)
                elif not workers.finish_shared_run(session, self.run.id, status, stats, error=error):
                    logger.info("run %s was closed by another worker", self.run.id)
                    self.crawler.stats.set_value(exits.RUN_STATUS_STAT, "complete")
                    return
        except SQLAlchemyError as failure:
            if database_failed:  # said once already, as the crawl stopped
                logger.warning("run %s left running: the database still fails (%s); the next run takes it over "
                               "as failed", self.run.id, describe(failure))
            else:
                logger.error("could not record the end of run %s: %s", self.run.id, describe(failure))
            return
        self.crawler.stats.set_value(exits.RUN_STATUS_STAT, status)
        self.crawler.signals.send_catch_log(newswatch_signals.run_finished, run_id=self.run.id, status=status,
                                            engine=self.run.engine)
        # Detection ran on run_finished (when enabled) and left its counts in the stats.
        changes = {key.removeprefix("newswatch/changes_"): value for key, value in scrapy_stats.items()
                   if key.startswith("newswatch/changes_")}
        summary = run_summary(self.run.id, status, time.monotonic() - self.clock, stats,
                              baseline=self.run.is_baseline, reasons=reasons, changes=changes or None,
                              detect_failed=bool(scrapy_stats.get("newswatch/detect_failed")),
                              digests=scrapy_stats.get("newswatch/digests_queued", 0),
                              held=scrapy_stats.get("newswatch/held"))
        (logger.info if status == "complete" and "newswatch/held" not in scrapy_stats else logger.warning)("%s", summary)

    def _stop_heartbeat(self) -> None:
        if self.heartbeat is not None and self.heartbeat.running:
            self.heartbeat.stop()
        self._stop_waiting()

    def _stop_waiting(self) -> None:
        if self.waiting is not None and self.waiting.running:
            self.waiting.stop()


def _wake(engine: Any) -> None:
    """Make the engine ask the scheduler for requests now (and signal spider_idle if there are none),
    as its heartbeat does every 5 s: Scrapy has no public call nor setting for it (the interval is
    `ExecutionEngine._SLOT_HEARTBEAT_INTERVAL`); `nextcall` is what that heartbeat schedules."""
    slot = getattr(engine, "_slot", None)
    if slot is not None and slot.closing is None:
        slot.nextcall.schedule()


def _start(crawler: Crawler, engine: Engine) -> Run:
    """Claim the crawl lock and start the run, then read the articles it will re-check."""
    settings = crawler.settings
    profile = config.site_profile(settings)
    claim = _claim(engine, profile.name, dt.timedelta(minutes=settings.getfloat("NEWSWATCH_LOCK_STALE_MINUTES")))
    known = _read_known(engine, settings, profile, claim.run_id)
    return Run(claim.run_id, profile.name, engine, known, claim.took_over, claim.is_baseline)


def _read_known(engine: Engine, settings: BaseSettings, profile: SiteProfile, run_id: int) -> dict[str, repository.KnownArticle]:
    """The articles the claimed run `run_id` will re-check; the run failed if the database cannot give them."""
    try:
        _rehome(engine, profile)
        return _known_articles(engine, settings)
    except SQLAlchemyError as error:
        with Session(engine) as session, session.begin():
            runs.finish_run(session, run_id, "failed", {}, error=f"could not read the known articles: {error}")
        raise


def _part_status(reason: str, scrapy_stats: Mapping[str, Any]) -> str:
    """How the part of a worker that leaves a shared run ended: failed when the database failed under
    it, incomplete when it was stopped, else complete."""
    if scrapy_stats.get(DATABASE_FAILED_STAT):
        return "failed"
    return "complete" if reason == "finished" else "incomplete"


def _start_shared(crawler: Crawler, engine: Engine) -> tuple[Run, SharedQueue]:
    """Claim the site's run, or join the one its live workers work (storage.workers); the claimer
    reads the known articles and leaves them in the queue for the workers that join. The run's keys
    go to the scheduler's settings (crawler.queue), still open to changes while extensions are built."""
    from scrapy_redis.connection import from_settings as redis_from_settings  # only with NEWSWATCH_QUEUE

    settings = crawler.settings
    profile = config.site_profile(settings)
    owner = runs.Owner.this_process()
    stale_after = dt.timedelta(minutes=settings.getfloat("NEWSWATCH_LOCK_STALE_MINUTES"))
    server = redis_from_settings(settings)
    server.ping()  # an unreachable queue refuses the crawl before it claims anything
    member = _join_or_refuse(engine, profile.name, owner, stale_after)
    prefix = settings.get("NEWSWATCH_QUEUE_PREFIX")
    shared = SharedQueue(server, SharedQueue.key_of(prefix, profile.name, member.run_id), workers.worker_name(owner))
    if member.joined:
        known = _joined_known(shared)
    else:
        known = _read_known(engine, settings, profile, member.run_id)
        shared.forget_older_runs(prefix, profile.name)
        shared.start(list(known.values()))
    for name, value in ((RUN_KEY_SETTING, shared.run_key), (WORKER_SETTING, shared.worker),
                        ("SCHEDULER_QUEUE_KEY", shared.requests), ("SCHEDULER_DUPEFILTER_KEY", shared.dupefilter)):
        settings.set(name, value, "cmdline")
    return Run(member.run_id, profile.name, engine, known, member.took_over, member.is_baseline, member.joined), shared


def _join_or_refuse(engine: Engine, site: str, owner: runs.Owner, stale_after: dt.timedelta) -> workers.Membership:
    try:
        return workers.claim_or_join(engine, site, owner, stale_after)
    except runs.CrawlAlreadyRunning as refusal:
        _refuse(refusal, f"{refusal} (it does not use NEWSWATCH_QUEUE: a crawl joins only a run of the same queue)")


def _joined_known(shared: SharedQueue, wait: float = 30.0) -> dict[str, repository.KnownArticle]:
    """The known articles the claimer read, once it left them in the queue (a moment after its claim)."""
    deadline = time.monotonic() + wait
    while (known := shared.join()) is None:
        if time.monotonic() > deadline:
            raise RedisError(f"the claimer of the run left no known articles in {shared.key('known')} within {wait:.0f}s")
        time.sleep(0.1)
    return {article.url: article for article in known}


def _claim(engine: Engine, site: str, stale_after: dt.timedelta) -> runs.Claim:
    """Claim the crawl lock of `site`; a refusal is logged once, as one ERROR line, and raised
    again, so that the crawl stops at start-up and `scrapy crawl` exits with status 1."""
    try:
        return runs.claim(engine, site, stale_after=stale_after)
    except runs.CrawlAlreadyRunning as refusal:
        _refuse(refusal, str(refusal))


def _refuse(error: BaseException, message: str) -> NoReturn:
    """Stop the crawl at start-up (`scrapy crawl` exits with status 1), said in one ERROR line."""
    logger.error("%s", message)
    # Scrapy reports a failed start-up once more, with a traceback, through asyncio's
    # "Task exception was never retrieved": the line above already said it all.
    logging.getLogger("asyncio").addFilter(_Reported(error))
    raise error


class _Reported(logging.Filter):
    """Drops log records carrying one exception that was already reported."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and record.exc_info[1] is self.error)


def _rehome(engine: Engine, profile: SiteProfile) -> None:
    """Stored URLs onto the site's origin, if some are elsewhere: after the profile names a new
    origin, the releases stored under the old one are the same releases (storage.addresses)."""
    with Session(engine) as session, session.begin():
        rehomed = addresses.rehome(session.connection(), profile.name, profile.origin)
    if rehomed.moved:  # those left apart stay so, night after night: said once, when the others moved
        logger.info("%s (%s): %s", profile.name, profile.origin, rehomed)


def _known_articles(engine: Engine, settings: BaseSettings) -> dict[str, repository.KnownArticle]:
    """The articles stored for this site and these languages (by canonical URL, on the site's origin).

    Where this crawl fetches from (NEWSWATCH_SITE_URL) plays no part: a release stored from the
    site, a mirror or an older address of it is the same release.
    """
    profile = config.site_profile(settings)
    with Session(engine) as session:
        known = repository.known_articles(session, profile.name, config.languages(settings), profile.origin)
    return {article.url: article for article in known}


def run_status(reason: str, stats: Mapping[str, Any], max_failure_rate: float) -> str:
    """`complete`, or `incomplete` when the crawl could not see the whole site
    (storage.runs.incomplete_reasons says why). An incomplete run reports no removals."""
    return "incomplete" if runs.incomplete_reasons(run_stats(stats), reason, max_failure_rate) else "complete"


def run_stats(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The Scrapy stats worth keeping with a run, under short stable names."""
    keep = {
        "requests": stats.get("downloader/request_count", 0),
        "responses": stats.get("downloader/response_count", 0),
        "items": stats.get("item_scraped_count", 0),
        "dropped": stats.get("item_dropped_count", 0),
        "errors": stats.get("log_count/ERROR", 0),
        "retries": stats.get("retry/count", 0),
        "listing_pages": stats.get("newswatch/listing_pages", 0),
        "articles_seen": stats.get("newswatch/articles_seen", 0),
        "articles_new": stats.get("newswatch/articles_new", 0),
        "versions_written": stats.get("newswatch/versions_written", 0),
        "rebaselined": stats.get("newswatch/rebaselined", 0),
        "extraction_failed": stats.get("newswatch/extraction_failed", 0),
        "extraction_suspect": stats.get("newswatch/extraction_suspect", 0),
        "fetch_failed": stats.get("newswatch/fetch_failed", 0),
        "store_failed": stats.get("newswatch/store_failed", 0),
        "listing_failed": stats.get("newswatch/listing_failed", 0),
        "articles_gone": stats.get("newswatch/articles_gone", 0),
        # The known releases whose 404/410 has a second witness (ids): the only ones detection may
        # remove; absent from the runs recorded before the rule. And how many 404/410s the listings
        # contradicted (failed fetches).
        "gone_witnessed": stats.get("newswatch/gone_witnessed"),
        "gone_listed": stats.get("newswatch/gone_listed", 0),
        "articles_moved": stats.get("newswatch/articles_moved", 0),
        "move_checks": stats.get("newswatch/move_checks", 0),
        "not_modified": stats.get("newswatch/not_modified", 0),
        "feeds": stats.get("newswatch/feeds", 0),
        "sitemaps": stats.get("newswatch/sitemaps", 0),
        "sitemap_missing": stats.get("newswatch/sitemap_missing", 0),
    }
    prefix = "downloader/response_status_count/"
    keep["responses_by_status"] = {k[len(prefix):]: v for k, v in stats.items() if k.startswith(prefix)}
    return keep
