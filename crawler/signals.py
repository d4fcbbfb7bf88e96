"""Signals of newswatch, sent through Scrapy's signal manager by the run's extension (crawler.runs).

`run_started` is sent once the spider is open, before it yields its first request, with `run`
(a `crawler.runs.Run`: the run's id, site, database engine and the articles already known);
the spider and the store pipeline connect to it.

`run_finished` is sent once a crawl's run is recorded (after the item pipelines' last writes),
with `run_id`, `status` and `engine`; the monitor package connects to it (wired by dotted
path in settings), so the crawler never imports the monitor.
"""

run_started = object()
run_finished = object()
