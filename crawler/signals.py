"""Signals of newswatch, sent through Scrapy's signal manager.

`run_finished` is sent once a crawl's run is recorded, with `run_id` and `status`;
the monitor package connects to it (wired by dotted path in settings), so the crawler
never imports the monitor.
"""

run_finished = object()
