"""Benchmark: crawl a generated mirror of N articles on 127.0.0.1, full pipeline vs the floor.

    .venv/bin/python bench/run.py [--articles 3000]

Reports articles/s for the whole pipeline (fetch, extract, store in SQLite), articles/s
for fetching and parsing alone (the same spider with no item pipelines: the floor), their
ratio, and the peak memory (RSS) of each crawl process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.sites import ICESCO  # noqa: E402
from fixtures.sitegen import write_mirror  # noqa: E402
from fixtures.synthetic import synthetic_releases  # noqa: E402
from monitor.mirror import Mirror  # noqa: E402

FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=WARNING",
        "-s", "CONCURRENT_REQUESTS=16", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"]


def timed_crawl(mirror: Mirror, database_url: str, *extra: str) -> tuple[float, int, float]:
    """Run `scrapy crawl news` in a child process: (seconds, articles fetched, peak RSS in MB)."""
    mirror.requests.clear()
    command = [sys.executable, "-m", "scrapy", "crawl", "news", "-s", f"NEWSWATCH_SITE_URL={mirror.base_url}",
               "-s", f"NEWSWATCH_DATABASE_URL={database_url}", *FAST, *extra]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"crawl failed: {' '.join(command)}")
    articles = sum(1 for path in mirror.requests if ICESCO.article_path.match(path))
    return elapsed, articles, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
        site = Path(tmp) / "site"
        started = time.perf_counter()
        write_mirror(site, synthetic_releases(args.articles), golden=False)
        print(f"mirror of {args.articles} articles written in {time.perf_counter() - started:.1f} s")
        with Mirror(site).running() as mirror:
            floor_s, floor_n, floor_mb = timed_crawl(mirror, f"sqlite:///{tmp}/floor.db",
                                                     "-s", "ITEM_PIPELINES={}")
            full_s, full_n, full_mb = timed_crawl(mirror, f"sqlite:///{tmp}/full.db")
    floor_rate, full_rate = floor_n / floor_s, full_n / full_s
    print(f"floor (fetch + parse):  {floor_n} articles in {floor_s:.1f} s = {floor_rate:.1f} articles/s, "
          f"peak RSS {floor_mb:.0f} MB")
    print(f"full pipeline:          {full_n} articles in {full_s:.1f} s = {full_rate:.1f} articles/s, "
          f"peak RSS {full_mb:.0f} MB")
    print(f"full / floor:           {full_rate / floor_rate:.0%}")


if __name__ == "__main__":
    main()
