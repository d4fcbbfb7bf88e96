"""Benchmark: crawl a generated mirror on 127.0.0.1 and report speed, memory and incremental cost.

    .venv/bin/python bench/run.py [--articles 20000]

One run reports:
1. a full crawl: articles/s for the whole pipeline (fetch, extract, store in SQLite) and for
   fetching and parsing alone (the same spider with no item pipelines: the floor), their
   ratio, the CPU each used per article, and the peak memory of each crawl: the sum of the
   resident sets of the crawl process and its extraction workers, sampled every 0.1 s;
2. a second, incremental run with nothing changed: requests issued, wall time, versions written;
3. an incremental run after 1% of the articles were edited (the newest ones, where edits
   happen) and 20 added: requests issued, and how many of the changes were found;
4. where extraction's time goes (one process, a thousand of the mirror's article pages): parsing,
   trafilatura, the whole extraction; and what a full pipeline at 70% of the floor would leave
   for it on this machine's cores;
5. the raw archive after those runs: the stored (compressed) bytes per 1,000 versions.

With `--record FILE` the figures are also appended to FILE as one JSON line, with the date, the
commit, the machine and its load before the run: `bench/results.jsonl` is the project's record.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from trafilatura import bare_extraction  # noqa: E402
from trafilatura.utils import load_html  # noqa: E402

from crawler.extraction.article import TRAFILATURA_OPTIONS, extract  # noqa: E402
from crawler.sites import ICESCO  # noqa: E402
from fixtures.release import Paragraph  # noqa: E402
from fixtures.sitegen import write_mirror  # noqa: E402
from fixtures.synthetic import synthetic_releases  # noqa: E402
from monitor.mirror import Mirror  # noqa: E402
from storage import rawpages, runs  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.models import ArticleVersion, Change  # noqa: E402

FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=WARNING",
        "-s", "CONCURRENT_REQUESTS=16", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"]
ADDED = 20


@dataclasses.dataclass
class Crawl:
    seconds: float
    requests: int
    articles: int
    peak_mb: float  # the crawl process and its workers together
    cpu_seconds: float  # the crawl process and its workers together
    mirror_cpu_seconds: float  # this process: the mirror serving the crawl (and the memory sampler)


def crawl(mirror: Mirror, database_url: str, *extra: str) -> Crawl:
    """Run `scrapy crawl news` in a child process and measure it from the outside."""
    mirror.requests.clear()
    command = [sys.executable, "-m", "scrapy", "crawl", "news", "-s", f"NEWSWATCH_SITE_URL={mirror.base_url}",
               "-s", f"NEWSWATCH_DATABASE_URL={database_url}", *FAST, *extra]
    started, own = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    child = subprocess.Popen(command, cwd=ROOT)
    peak, done = [0.0], threading.Event()
    sampler = threading.Thread(target=_sample_memory, args=(child.pid, peak, done), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    served = resource.getrusage(resource.RUSAGE_SELF)
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"crawl failed: {' '.join(command)}")
    articles = sum(1 for path in mirror.requests if ICESCO.article_path.match(path))
    return Crawl(elapsed, len(mirror.requests), articles, max(peak[0], usage.ru_maxrss / 1024),
                 usage.ru_utime + usage.ru_stime,
                 served.ru_utime + served.ru_stime - own.ru_utime - own.ru_stime)


def _sample_memory(pid: int, peak: list[float], done: threading.Event) -> None:
    """Keep in `peak[0]` the largest sum of resident sets (MB) of `pid` and its descendants."""
    while not done.wait(0.1):
        peak[0] = max(peak[0], sum(_rss_kb(p) for p in _tree(pid)) / 1024)


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:  # the parent pid is the field after the ")" that closes the command name
                parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended meanwhile
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def latest_run(database_url: str) -> tuple[runs.RunSummary, dict[str, int]]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        run = runs.list_runs(session)[0]
        kinds = dict(session.execute(select(Change.kind, func.count()).where(Change.run_id == run.id)
                                     .group_by(Change.kind)).all())
    engine.dispose()
    return run, kinds


def raw_archive(database_url: str) -> dict[str, int]:
    """The raw archive's pages, raw and stored bytes, and the versions that name them."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        pages, raw, stored = rawpages.archive_size(session)
        versions = session.scalar(select(func.count()).select_from(ArticleVersion)) or 0
    engine.dispose()
    return {"versions": versions, "pages": pages, "raw_bytes": raw, "stored_bytes": stored,
            "bytes_per_1000_versions": round(stored / versions * 1000) if versions else 0}


def extraction_alone(snapshot: Path, pages: int = 1000) -> dict[str, float]:
    """CPU milliseconds per page, in this process, of parsing, of trafilatura (parsing included),
    and of the whole extraction, over `pages` article pages of the snapshot (every language)."""
    paths = sorted(f"/{p.parent.relative_to(snapshot).as_posix()}/" for p in snapshot.rglob("index.html"))
    paths = [path for path in paths if ICESCO.article_path.match(path)]
    samples = [((snapshot / path.strip("/") / "index.html").read_bytes(), "https://icesco.org" + quote(path))
               for path in paths[:: max(1, len(paths) // pages)]]

    def per_page(step) -> float:
        for body, url in samples[:50]:  # warm: imports, caches
            step(body, url)
        started = time.process_time()
        for body, url in samples:
            step(body, url)
        return (time.process_time() - started) / len(samples) * 1000

    return {"pages": len(samples), "parse": per_page(lambda body, url: load_html(body)),
            "trafilatura": per_page(lambda body, url: bare_extraction(load_html(body), options=TRAFILATURA_OPTIONS)),
            "extract": per_page(extract)}


def edited(release):
    return dataclasses.replace(release, blocks=(*release.blocks, Paragraph("This release was updated.")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--record", type=Path, metavar="FILE", help="append the figures to FILE (JSON lines)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f} before the run: other work skews the figures")
    releases = synthetic_releases(args.articles + ADDED, newest=dt.date.today())
    first, edits = releases[ADDED:], args.articles // 100
    second = releases[:ADDED] + [edited(r) for r in first[:edits]] + first[edits:]
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
        started = time.perf_counter()
        write_mirror(Path(tmp) / "v1", first, golden=False)
        write_mirror(Path(tmp) / "v2", second, golden=False)
        print(f"mirrors of {args.articles} articles (+{ADDED} added, {edits} edited) written in "
              f"{time.perf_counter() - started:.0f} s")
        database = f"sqlite:///{tmp}/bench.db"
        with Mirror(Path(tmp) / "v1").running() as mirror:
            floor = crawl(mirror, f"sqlite:///{tmp}/floor.db", "-s", "ITEM_PIPELINES={}")
            full = crawl(mirror, database, "-a", "mode=full")
            unchanged = crawl(mirror, database, "-a", "mode=incremental")
            unchanged_run, _ = latest_run(database)
            mirror.snapshot = Path(tmp) / "v2"
            changed = crawl(mirror, database, "-a", "mode=incremental")
            _, kinds = latest_run(database)
        archive = raw_archive(database)
        steps = extraction_alone(Path(tmp) / "v1")

    floor_rate, full_rate = floor.articles / floor.seconds, full.articles / full.seconds
    print(f"1. floor (fetch + parse): {floor.articles} articles in {floor.seconds:.1f} s = {floor_rate:.1f}/s, "
          f"{floor.cpu_seconds / floor.articles * 1000:.1f} ms CPU per article "
          f"(+{floor.mirror_cpu_seconds / floor.articles * 1000:.1f} serving it), peak RSS {floor.peak_mb:.0f} MB")
    print(f"   full pipeline:         {full.articles} articles in {full.seconds:.1f} s = {full_rate:.1f}/s, "
          f"{full.cpu_seconds / full.articles * 1000:.1f} ms CPU per article "
          f"(+{full.mirror_cpu_seconds / full.articles * 1000:.1f} serving it), peak RSS {full.peak_mb:.0f} MB "
          f"(crawl and workers); full / floor = {full_rate / floor_rate:.0%}")
    print(f"2. incremental, nothing changed: {unchanged.requests} requests "
          f"({unchanged.requests / full.requests:.1%} of the full crawl's {full.requests}), "
          f"{unchanged.seconds:.1f} s ({unchanged.seconds / full.seconds:.0%} of the full crawl), "
          f"{unchanged_run.stats['versions_written']} versions written, "
          f"{unchanged_run.stats['not_modified']} answered 304")
    print(f"3. incremental, {edits} edited + {ADDED} added: {changed.requests} requests, "
          f"found {kinds.get('edited', 0)}/{edits} edited and {kinds.get('added', 0)}/{ADDED} added "
          f"(other changes: { {k: v for k, v in kinds.items() if k not in ('edited', 'added')} or 'none'})")
    cores = os.cpu_count() or 1
    budget = cores / (0.7 * floor_rate) * 1000
    floor_ms, serving_ms = floor.cpu_seconds / floor.articles * 1000, full.mirror_cpu_seconds / full.articles * 1000
    print(f"4. extraction alone, one process, {steps['pages']} pages: parsing {steps['parse']:.2f} ms, trafilatura "
          f"{steps['trafilatura']:.2f} ms (parsing included), the whole extraction {steps['extract']:.2f} ms per page")
    print(f"   70% of the floor on {cores} cores allows {budget:.2f} ms of CPU per article in all: fetch + parse "
          f"take {floor_ms:.2f}, serving it {serving_ms:.2f}, leaving {budget - floor_ms - serving_ms:.2f} ms for "
          f"extraction, storing and handing pages over")
    print(f"5. raw archive: {archive['pages']} pages for {archive['versions']} versions, "
          f"{archive['raw_bytes'] / archive['pages'] / 1000:.1f} KB a page as fetched, "
          f"{archive['stored_bytes'] / archive['pages'] / 1000:.1f} KB stored (zstd): "
          f"{archive['bytes_per_1000_versions'] / 1e6:.2f} MB per 1,000 versions")
    if args.record:
        figures = {
            "floor": _figures(floor), "full": _figures(full), "full_per_floor": round(full_rate / floor_rate, 3),
            "unchanged": {"requests": unchanged.requests, "seconds": round(unchanged.seconds, 1),
                          "versions_written": unchanged_run.stats["versions_written"]},
            "changed": {"requests": changed.requests, "edited": edits, "added": ADDED,
                        "found": dict(kinds.items())},
            "extraction_ms": {k: round(v, 2) for k, v in steps.items() if k != "pages"},
            "raw_archive": archive,
        }
        _record(args.record, args.articles, load_before, figures)


def _figures(run: Crawl) -> dict[str, float]:
    per_article = 1000 / run.articles
    return {"requests": run.requests, "seconds": round(run.seconds, 1),
            "per_second": round(run.articles / run.seconds, 1), "cpu_ms": round(run.cpu_seconds * per_article, 2),
            "serving_cpu_ms": round(run.mirror_cpu_seconds * per_article, 2), "peak_mb": round(run.peak_mb)}


def _cpu_model() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    return model or platform.processor() or None


def _record(path: Path, articles: int, load_before: float, figures: dict) -> None:
    """Append one run's figures, with where and when they were measured, as a JSON line."""
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip() or None
    line = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "commit": commit,
            "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
            "load_before": round(load_before, 2), "articles": articles, **figures}
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
