"""The shared queue of a run worked by several crawl processes (NEWSWATCH_QUEUE=redis://...).

Scrapy's scheduler and duplicate filter live in Redis, through scrapy-redis's `Scheduler` and
`RFPDupeFilter`, under keys of the site and run (`{prefix}:{site}:{run}:...`), so two sites or
two runs never share a queue. `RunScheduler` subclasses scrapy-redis's scheduler (0.9.1, which works
with Scrapy 2.19 but for deprecated calls, `spider=` in its stats calls and `Spider.log` as it opens
on a queue that holds requests: `enqueue_request` is redone, `open` silenced) for one reason: a
request is popped from the queue and put in the popping worker's in-flight set in one atomic step
(a Lua script), so that
- a worker killed mid-run loses nothing: a survivor puts its in-flight requests back in the
  queue (bypassing the duplicate filter, `SharedQueue.requeue`). A request leaves the in-flight set
  once the worker finished it (neither downloading nor being scraped, its items through the
  pipelines) and its items and the worker's share of the run are stored (signal `share_saved`,
  every few seconds), so
  a death costs the requests of its last seconds, not all it did;
- the run ends when the queue is empty and no worker holds a request: a worker empties its
  in-flight set only when it is idle with everything it fetched stored (crawler.runs), and the
  worker that finds the queue and every in-flight set empty becomes the run's closer, in the same
  atomic step (`SharedQueue.idle`), after which nothing is popped any more.
The claimer also holds `starting` until its start requests are all queued, and leaves the known
articles it read for the workers that join (`known`), so that every worker re-checks the same.
The keys are deleted when the last worker leaves, and those of older runs of the site when a
run is claimed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings
from dataclasses import asdict
from enum import Enum
from typing import Any, cast

from redis import Redis
from redis.exceptions import RedisError
from scrapy import Request
from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy_redis.scheduler import Scheduler

from crawler import signals as newswatch_signals
from storage.repository import KnownArticle

logger = logging.getLogger(__name__)

# Settings the run's extension (crawler.runs) sets for the scheduler once the run is claimed.
RUN_KEY_SETTING = "NEWSWATCH_QUEUE_RUN_KEY"
WORKER_SETTING = "NEWSWATCH_QUEUE_WORKER"

_POP = """
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return false end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return false end
redis.call('ZREM', KEYS[1], first[1])
redis.call('ZADD', KEYS[4], first[2], first[1])
return first[1]
"""
# KEYS: queue, closing, workers, starting, own in-flight; ARGV: worker, in-flight key prefix.
_IDLE = """
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return 'over' end
redis.call('DEL', KEYS[5])
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
local closer = redis.call('GET', KEYS[2])
if closer then if closer == ARGV[1] then return 'close' else return 'closing' end end
if redis.call('ZCARD', KEYS[1]) > 0 or redis.call('EXISTS', KEYS[4]) == 1 then return 'wait' end
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('ZCARD', ARGV[2] .. worker) > 0 then return 'wait' end
end
redis.call('SET', KEYS[2], ARGV[1])
return 'close'
"""
# KEYS: queue, in-flight of the worker, workers, starting, start_lost; ARGV: worker.
_REQUEUE = """
local held = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #held, 2 do redis.call('ZADD', KEYS[1], held[i + 1], held[i]) end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
if redis.call('GET', KEYS[4]) == ARGV[1] then
  redis.call('DEL', KEYS[4])
  redis.call('SET', KEYS[5], ARGV[1])
end
return #held / 2
"""


class Idle(Enum):
    """What an idle worker learns from the queue (`SharedQueue.idle`)."""

    WAIT = "wait"  # requests are queued or in other workers' hands: stay open
    CLOSE = "close"  # the run is drained: this worker closes it
    CLOSING = "closing"  # another worker closes it
    OVER = "over"  # this worker is no longer a member (the run ended, or it was taken for dead)


class SharedQueue:
    """The Redis keys of one run, as one worker (`worker`) uses them."""

    def __init__(self, server: Redis, run_key: str, worker: str) -> None:
        self.server, self.run_key, self.worker = server, run_key, worker

    @staticmethod
    def key_of(prefix: str, site: str, run_id: int) -> str:
        return f"{prefix}:{site}:{run_id}"

    def key(self, name: str) -> str:
        return f"{self.run_key}:{name}"

    def inflight(self, worker: str) -> str:
        return self.key(f"inflight:{worker}")

    @property
    def requests(self) -> str:
        return self.key("requests")

    @property
    def dupefilter(self) -> str:
        return self.key("dupefilter")

    def start(self, known: list[KnownArticle]) -> None:
        """The claimer: a member, `starting` until its start requests are queued; the known articles left for joiners."""
        with self.server.pipeline() as pipe:
            pipe.sadd(self.key("workers"), self.worker)
            pipe.set(self.key("starting"), self.worker)
            pipe.set(self.key("known"), json.dumps([asdict(article) for article in known], default=_iso))
            pipe.execute()

    def join(self) -> list[KnownArticle] | None:
        """A joiner: a member; the known articles the claimer read (None until it left them)."""
        self.server.sadd(self.key("workers"), self.worker)
        raw = self.server.get(self.key("known"))
        return None if raw is None else [_known(item) for item in json.loads(cast(bytes, raw))]

    def started(self) -> None:
        """The claimer's start requests are all queued (compare and delete, in one step)."""
        self.server.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end", 1,
                         self.key("starting"), self.worker)

    def pop(self) -> bytes | None:
        """The next request (encoded), now in this worker's hands; None when empty or closing."""
        keys = [self.requests, self.key("closing"), self.key("workers"), self.inflight(self.worker)]
        return cast(bytes | None, self.server.eval(_POP, len(keys), *keys, self.worker))

    def done(self, finished: list[bytes]) -> None:
        """Requests this worker finished, their items stored: no longer in its hands."""
        if finished:
            self.server.zrem(self.inflight(self.worker), *finished)

    def idle(self) -> Idle:
        """This worker is idle with everything it fetched stored: empty its hands, and learn whether the run is drained."""
        keys = [self.requests, self.key("closing"), self.key("workers"), self.key("starting"), self.inflight(self.worker)]
        answer = self.server.eval(_IDLE, len(keys), *keys, self.worker, self.key("inflight:"))
        return Idle(answer.decode() if isinstance(answer, bytes) else answer)

    def ready(self) -> bool:
        """Whether a waiting worker has something to do: requests are queued, the run was found drained,
        or this worker is no longer a member (one round trip: a waiting worker asks often)."""
        with self.server.pipeline(transaction=False) as pipe:
            pipe.zcard(self.requests)
            pipe.exists(self.key("closing"))
            pipe.sismember(self.key("workers"), self.worker)
            queued, closing, member = pipe.execute()
        return bool(queued or closing or not member)

    def requeue(self, worker: str) -> int:
        """Put what `worker` held back in the queue (no duplicate filter on the way) and drop it from the members."""
        keys = [self.requests, self.inflight(worker), self.key("workers"), self.key("starting"), self.key("start_lost")]
        return int(cast(int, self.server.eval(_REQUEUE, len(keys), *keys, worker)))

    def closing(self) -> str | None:
        """The worker closing the run, once one found it drained."""
        raw = self.server.get(self.key("closing"))
        return None if raw is None else cast(bytes, raw).decode()

    def start_lost(self) -> str | None:
        """The claimer that died before all its start requests were queued, if one did."""
        raw = self.server.get(self.key("start_lost"))
        return None if raw is None else cast(bytes, raw).decode()

    def leave(self) -> None:
        """This worker leaves: what it holds goes back to the queue; the last one out deletes the run's keys."""
        self.requeue(self.worker)
        if self.server.scard(self.key("workers")) == 0:
            self.server.delete(*(self.key(name) for name in
                                 ("requests", "dupefilter", "closing", "starting", "known", "start_lost")))

    def forget_older_runs(self, prefix: str, site: str) -> int:
        """Delete the keys of the site's earlier runs (a run whose last worker died leaves them)."""
        stale = [key for key in self.server.scan_iter(match=f"{prefix}:{site}:*")
                 if not cast(bytes, key).decode().startswith(self.run_key + ":")]
        return int(self.server.delete(*stale)) if stale else 0


def _iso(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{value!r} is not JSON serialisable")


def _known(item: dict[str, Any]) -> KnownArticle:
    """A known article as `start` left it (JSON: its dates as ISO strings)."""
    if item.get("published"):
        item["published"] = dt.date.fromisoformat(item["published"])
    item["checked_at"] = dt.datetime.fromisoformat(item["checked_at"])
    return KnownArticle(**item)


class RunScheduler(Scheduler):  # type: ignore[misc]
    """scrapy-redis's scheduler, popping through the run's `SharedQueue` (module docstring)."""

    shared: SharedQueue
    crawler: Any
    held: dict[Request, bytes]  # the requests this worker popped and has not marked done, as queued

    @classmethod
    def from_crawler(cls, crawler: Any) -> RunScheduler:
        scheduler = cast(RunScheduler, super().from_crawler(crawler))
        settings = crawler.settings
        scheduler.shared = SharedQueue(scheduler.server, settings.get(RUN_KEY_SETTING), settings.get(WORKER_SETTING))
        scheduler.crawler, scheduler.held = crawler, {}
        crawler.signals.connect(scheduler.share_saved, signal=newswatch_signals.share_saved)
        return scheduler

    def share_saved(self) -> None:
        """Every item handed to the store pipeline is committed, and this worker's share of the run
        with it (crawler.runs): the requests no longer downloading or being scraped (so their items
        were handed over, their follow-ups queued) are done."""
        engine = self.crawler.engine
        scraping = engine.scraper.slot
        busy = set(engine.downloader.active)
        if scraping is not None:
            busy |= scraping.active | {request for _, request, _ in scraping.queue}
        finished = [request for request in self.held if request not in busy]
        try:
            self.shared.done([self.held.pop(request) for request in finished])
        except RedisError as error:  # they stay in the queue's in-flight set: at worst fetched again
            logger.warning("worker %s could not mark %d requests done: %s", self.shared.worker, len(finished), error)

    def open(self, spider: Any) -> None:
        with warnings.catch_warnings():  # "Resuming crawl": said through Spider.log, deprecated
            warnings.simplefilter("ignore", ScrapyDeprecationWarning)
            super().open(spider)

    def enqueue_request(self, request: Request) -> bool:
        """scrapy-redis's, without the `spider` argument Scrapy 2.19 deprecates in stats calls."""
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self) -> Request | None:
        data = self.shared.pop()
        if data is None:
            return None
        if self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        request = cast(Request, self.queue._decode_request(data))
        self.held[request] = data
        return request
