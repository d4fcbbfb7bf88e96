"""The shared queue of a run worked by several processes (crawler.queue) on the machine's real Redis,
and what the worker that closes the run makes of every worker's share: witnesses (crawler.witness)
and stats (storage.workers). The crawls themselves: tests/faults/test_workers.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from test_witness import MIDDLE, NEW, OLD, known, url

from crawler.queue import Idle, SharedQueue
from crawler.sites import ICESCO
from crawler.witness import RemovalWitnesses
from storage.workers import sum_stats

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def server() -> Iterator[redis.Redis]:
    """The machine's Redis; the keys this test made are deleted after it."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    client.test_prefix = f"nwtest{uuid.uuid4().hex[:10]}"  # type: ignore[attr-defined]
    yield client
    left = list(client.scan_iter(match=f"{client.test_prefix}:*"))  # type: ignore[attr-defined]
    if left:
        client.delete(*left)
    client.close()


def run_of(server: redis.Redis, *names: str) -> list[SharedQueue]:
    key = SharedQueue.key_of(server.test_prefix, "icesco", 1)  # type: ignore[attr-defined]
    return [SharedQueue(server, key, name) for name in names]


def queued(shared: SharedQueue, *requests: bytes) -> None:
    for score, request in enumerate(requests):
        shared.server.zadd(shared.requests, {request: score})


def test_the_run_is_drained_only_when_the_queue_and_every_worker_hand_are_empty(server):
    claimer, joiner = run_of(server, "1@a", "2@b")
    claimer.start([])
    assert joiner.join() == []
    queued(claimer, b"listing", b"article")
    assert claimer.idle() is Idle.WAIT  # its start is queued only once it says so: `starting`
    claimer.started()
    assert joiner.pop() == b"listing"
    assert claimer.idle() is Idle.WAIT  # one request queued, one in the joiner's hands
    assert claimer.pop() == b"article"
    assert joiner.idle() is Idle.WAIT  # the claimer holds one
    assert claimer.idle() is Idle.CLOSE  # and it gave it back as done: drained, it closes
    assert joiner.idle() is Idle.CLOSING
    queued(claimer, b"late")
    assert joiner.pop() is None  # nothing is taken once the run closes


def test_what_a_dead_worker_held_goes_back_to_the_queue_past_the_duplicate_filter(server):
    claimer, joiner = run_of(server, "1@a", "2@b")
    claimer.start([])
    joiner.join()
    claimer.started()
    queued(claimer, b"one", b"two")
    assert joiner.pop() == b"one" and joiner.pop() == b"two"
    joiner.done([b"one"])  # finished and stored: not fetched again
    assert claimer.requeue("2@b") == 1
    assert claimer.pop() == b"two"
    assert joiner.pop() is None and joiner.idle() is Idle.OVER  # taken for dead: no longer a member
    assert claimer.idle() is Idle.CLOSE


def test_a_claimer_that_dies_before_its_start_is_queued_is_said(server):
    claimer, joiner = run_of(server, "1@a", "2@b")
    claimer.start([])
    joiner.join()
    joiner.requeue("1@a")
    assert joiner.start_lost() == "1@a"
    assert joiner.idle() is Idle.CLOSE  # the run ends (incomplete, crawler.runs): not waiting forever


def test_the_last_worker_out_deletes_the_run_keys(server):
    claimer, joiner = run_of(server, "1@a", "2@b")
    claimer.start([known(1, NEW)])
    joiner.join()
    queued(claimer, b"one")
    claimer.leave()
    assert server.exists(claimer.requests)
    joiner.leave()
    assert list(server.scan_iter(match=f"{server.test_prefix}:*")) == []


def test_the_joiner_reads_the_known_articles_the_claimer_read(server):
    claimer, joiner = run_of(server, "1@a", "2@b")
    articles = [known(1, NEW, answered_gone=True), known(2, OLD)]
    claimer.start(articles)
    assert joiner.join() == articles
    assert json.loads(server.get(claimer.key("known")))[0]["url"] == NEW


def test_older_runs_keys_are_forgotten_when_a_run_is_claimed(server):
    (older,) = run_of(server, "1@a")
    older.start([])
    newer = SharedQueue(server, SharedQueue.key_of(server.test_prefix, "icesco", 2), "3@c")
    newer.start([])
    assert newer.forget_older_runs(server.test_prefix, "icesco") == 3
    assert not server.exists(older.key("workers")) and server.exists(newer.key("workers"))


def test_witnesses_merged_from_workers_judge_as_one_process():
    pages = [([url("2025-09-01", "a"), MIDDLE], False), ([url("2025-01-02", "b")], False), ([url("2024-01-01", "c")], True)]
    one = RemovalWitnesses(ICESCO)
    shares = [RemovalWitnesses(ICESCO) for _ in pages]
    for witnesses in (one, *shares[:1]):
        witnesses.answered_gone(known(1, NEW))
    for witnesses in (one, shares[2]):
        witnesses.answered_gone(known(2, OLD))
        witnesses.answered_gone(known(3, MIDDLE, answered_gone=True))
    for (articles, last), share in zip(pages, shares, strict=True):  # each page walked by another worker
        one.listing_page("en", articles, last=last)
        share.listing_page("en", articles, last=last)
    merged = RemovalWitnesses.merged(ICESCO, [json.loads(json.dumps(share.state())) for share in shares])
    assert merged.verdict() == one.verdict()
    assert one.verdict().witnessed == (1, 2) and one.verdict().listed == 1
    # Any one worker alone would judge wrongly: the one that got NEW's 404 walked only page 1.
    assert shares[0].verdict() != one.verdict() or shares[2].verdict() != one.verdict()


def test_stats_of_workers_are_summed():
    total = sum_stats([{"requests": 3, "responses_by_status": {"200": 2, "404": 1}, "gone_witnessed": [4]},
                       {"requests": 5, "responses_by_status": {"200": 5}, "gone_witnessed": [2], "errors": 1}])
    assert total == {"requests": 8, "responses_by_status": {"200": 7, "404": 1}, "gone_witnessed": [2, 4], "errors": 1}


def test_a_waiting_worker_is_ready_once_requests_are_queued_the_run_closes_or_it_was_taken_for_dead(server):
    claimer, joiner = run_of(server, "1@a", "2@b")
    claimer.start([])
    joiner.join()
    claimer.started()
    assert not joiner.ready()  # nothing queued, the run going on: it keeps waiting
    queued(claimer, b"article")
    assert joiner.ready()
    assert joiner.pop() == b"article" and not claimer.ready()
    assert claimer.idle() is Idle.WAIT  # the joiner holds it
    assert joiner.idle() is Idle.CLOSE
    assert claimer.ready()  # the run was found drained: it leaves at once
    late = run_of(server, "3@c")[0]
    assert late.ready()  # not a member (taken for dead, say): it learns so at once
