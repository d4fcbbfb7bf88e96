"""Signals of newswatch, sent through Scrapy's signal manager by the run's extension (crawler.runs).

`run_started` is sent once the spider is open, before it yields its first request, with `run`
(a `crawler.runs.Run`: the run's id, site, database engine and the articles already known);
the spider and the store pipeline connect to it.

`run_finished` is sent once a crawl's run is recorded (after the item pipelines' last writes),
with `run_id`, `status` and `engine`; the monitor package connects to it (wired by dotted
path in settings), so the crawler never imports the monitor.

`start_queued` is sent by the spider once its start requests are all scheduled: the claimer of a
shared run then lets the other workers find the run drained (crawler.queue).

`stored` is sent by the store pipeline once everything the crawl handed it so far is committed;
for a worker of a shared run, the spider then leaves its witnesses in the stats and the run's
extension stores the worker's share, then sends `share_saved`: the queue's scheduler marks the
requests it finished as done (crawler.queue).

`run_idle` is sent when a worker of a shared run (NEWSWATCH_QUEUE) is idle, before it hands
back what it fetched as done (crawler.queue): the store pipeline writes its pending batch then.
"""

run_idle = object()
start_queued = object()
stored = object()
share_saved = object()
run_started = object()
run_finished = object()
