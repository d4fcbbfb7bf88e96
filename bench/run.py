"""Benchmark: crawl a generated mirror of realistic pages, served by nginx on 127.0.0.1, and
report what a user would see: speed, CPU, memory and the cost of a quiet night, against the
spiders a user would write and against the project's targets.

    .venv/bin/python bench/run.py [--articles 20000] [--rounds 2] [--record bench/results.jsonl]

Needs nginx (`apt-get install -y -qq nginx libnginx-mod-http-echo`; bench/nginx.py runs it as a
child with its own configuration, no service). The mirror's pages are dressed as the real
site's WordPress pages, 80-150 KB each (bench/pages.py); the bench checks that the dressing
leaves the extraction of sampled article pages unchanged.

Four cases run in one session, interleaved `--rounds` times (A B C D A B C D), medians reported:
A. floor: a fetch-only spider that requests each article once (bench/naive.py);
B. naive: that spider plus `trafilatura.extract` and a SQLAlchemy commit per item, one process;
C. newswatch full (`-a mode=full`) into a fresh SQLite database;
D. newswatch incremental with nothing changed, on C's database: 0 versions written (asserted).
Each reports articles/s, CPU ms per article (the crawl's process tree; nginx's own CPU apart),
and peak memory: the largest sampled sum of resident sets of the crawl process and its children.

Then, once: an incremental run after 1% of the articles were edited (the newest ones, where
edits happen) and 20 added (are all found, and nothing else?); extraction alone, page by page;
the raw archive's cost per 1,000 versions. Then case E, 2 workers on Redis against 3 sites at
100 ms server latency, 4 requests per site at a time (the latency-bound case where workers help),
against 1 worker on the same set-up, interleaved `--rounds` times, medians: three operator
profiles in a NEWSWATCH_SITES_DIR (copies of icesco.toml named alpha, beta, gamma, each fetched
from its own nginx port), `--workers-articles` articles each (one mirror served on three ports),
one fresh PostgreSQL database per measurement (dropped at the end), a Redis key prefix per
measurement. The sites are crawled one after the other, as the nightly job does, each site's run
by its workers started together (`scrapy crawl news -s NEWSWATCH_SITE=alpha`, twice, as in the
README's "Several workers"). Each site must end in one complete run, closed once, every worker
gone and no Redis key left; `--only-workers` runs case E alone. It needs nginx's echo module,
Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432 (user postgres), else it is reported
"not available" with the reason.

With `--record FILE` the figures are also appended to FILE as one JSON line, with the date, the
commit, the machine, the page sizes and the load before and after: `bench/results.jsonl` is the
project's record.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from trafilatura import bare_extraction  # noqa: E402
from trafilatura.utils import load_html  # noqa: E402

from bench.nginx import Nginx  # noqa: E402
from bench.pages import dress_mirror  # noqa: E402
from crawler.extraction.article import TRAFILATURA_OPTIONS, extract  # noqa: E402
from crawler.sites import ICESCO  # noqa: E402
from fixtures.release import Paragraph  # noqa: E402
from fixtures.sitegen import write_mirror  # noqa: E402
from fixtures.synthetic import synthetic_releases  # noqa: E402
from storage import rawpages, repository, runs  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.models import ArticleVersion, Change  # noqa: E402

FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=WARNING",
        "-s", "CONCURRENT_REQUESTS=16", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"]
ADDED = 20
MTIME = 1_600_000_000  # every file of both snapshots: an unchanged page keeps its ETag across them
CASES = ("floor", "naive", "full", "unchanged")
# The targets of issue 17 (benchmark, not timed tests).
FULL_PER_FLOOR, FULL_PER_NAIVE, PEAK_MB, PEAK_AT = 0.8, 1.5, 300, 20_000


@dataclasses.dataclass
class Crawl:
    seconds: float
    requests: int
    articles: int  # requests of article URLs (any status)
    listings: int  # requests of listing pages
    peak_mb: float  # the crawl process and its children together: the largest sum of resident sets
    cpu_seconds: float  # the crawl process and its children together
    server_cpu_seconds: float  # nginx, serving the crawl
    peak_pss_mb: float = 0.0  # the same tree's largest sum of proportional sets (shared pages counted once)

    def figures(self) -> dict[str, float]:
        per_article = 1000 / max(1, self.articles)
        return {"requests": self.requests, "articles": self.articles, "seconds": round(self.seconds, 2),
                "per_second": round(self.articles / self.seconds, 1), "cpu_ms": round(self.cpu_seconds * per_article, 2),
                "serving_cpu_ms": round(self.server_cpu_seconds * per_article, 2), "peak_mb": round(self.peak_mb),
                "peak_pss_mb": round(self.peak_pss_mb)}


def measure(server: Nginx, command: Sequence[str]) -> Crawl:
    """Run `command` (a crawl) in a child process against `server` and measure it from the outside."""
    return measure_steps(server, [[command]])


def measure_steps(server: Nginx, steps: Sequence[Sequence[Sequence[str]]]) -> Crawl:
    """Run `steps` one after the other, each a set of crawls started together in child processes
    (the workers of one run), and measure them as one: from the first start to the last end, the
    CPU of every child's process tree, and the largest sampled sum of their resident sets."""
    server.requests()  # forget what came before
    served, started = server.cpu_seconds(), time.perf_counter()
    cpu, peak, peak_pss = 0.0, 0.0, 0.0
    for commands in steps:
        children = [subprocess.Popen(list(command), cwd=ROOT) for command in commands]
        sampled, done = [0.0, 0.0], threading.Event()
        sampler = threading.Thread(target=_sample_memory, args=([c.pid for c in children], sampled, done), daemon=True)
        sampler.start()
        failed, maxrss = [], 0.0
        for child, command in zip(children, commands, strict=True):
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            cpu += usage.ru_utime + usage.ru_stime
            maxrss = max(maxrss, usage.ru_maxrss / 1024)
            if child.returncode != 0:
                failed.append(" ".join(command))
        done.set()
        sampler.join()
        if failed:
            raise SystemExit(f"crawl failed: {failed[0]}")
        peak = max(peak, sampled[0], maxrss)
        peak_pss = max(peak_pss, sampled[1])
    elapsed = time.perf_counter() - started
    requests = server.requests()
    listing = tuple(ICESCO.listing_paths.values())
    return Crawl(elapsed, len(requests), sum(1 for _, path in requests if ICESCO.article_path.match(path)),
                 sum(1 for _, path in requests if path.startswith(listing)), peak, cpu,
                 server.cpu_seconds() - served, peak_pss)


def newswatch(server: Nginx, database_url: str, *extra: str, site: str | None = None) -> list[str]:
    return [sys.executable, "-m", "scrapy", "crawl", "news", "-s", f"NEWSWATCH_SITE_URL={server.url(site)}",
            "-s", f"NEWSWATCH_DATABASE_URL={database_url}", *FAST, *extra]


def naive(server: Nginx, store: str | None = None) -> list[str]:
    return [sys.executable, str(ROOT / "bench" / "naive.py"), server.url(), *(["--store", store] if store else [])]


def _sample_memory(pids: list[int], peak: list[float], done: threading.Event) -> None:
    """Keep in `peak[0]` the largest sum of resident sets (MB) of `pids` and their descendants, and in
    `peak[1]` the largest sum of their proportional sets (PSS: a page shared by n processes counts
    1/n in each, so pages a forked child shares with its parent count once, not in both)."""
    while not done.wait(0.1):
        tree = _tree(pids)
        peak[0] = max(peak[0], sum(_rss_kb(p) for p in tree) / 1024)
        peak[1] = max(peak[1], sum(_pss_kb(p) for p in tree) / 1024)


def _tree(roots: list[int]) -> list[int]:
    """`roots` and their descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:  # the parent pid is the field after the ")" that closes the command name
                parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended meanwhile
    tree, frontier = list(roots), list(roots)
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


def _pss_kb(pid: int) -> int:
    """`pid`'s proportional set size (kB), from /proc/<pid>/smaps_rollup (Linux 4.14+); 0 if unreadable."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)


def latest_run(database_url: str) -> tuple[runs.RunSummary, dict[str, int]]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        run = runs.list_runs(session)[0]
        kinds = dict(session.execute(select(Change.kind, func.count()).where(Change.run_id == run.id)
                                     .group_by(Change.kind)).all())
    engine.dispose()
    return run, kinds


def due_tonight(database_url: str, today: dt.date) -> int:
    """How many stored articles an incremental run re-checks tonight: the recent ones and the
    revalidation share of the older ones (the rule of `NewsSpider.due`, default settings)."""
    from crawler.settings import NEWSWATCH_RECENT_DAYS as recent
    from crawler.settings import NEWSWATCH_REVALIDATE_DAYS as period

    engine = make_engine(database_url)
    with Session(engine) as session:
        known = repository.known_articles(session, ICESCO.name, ICESCO.languages, ICESCO.origin)
    engine.dispose()
    return sum(1 for a in known if a.published is None or (today - a.published).days <= recent
               or a.id % period == today.toordinal() % period)


def raw_archive(database_url: str) -> dict[str, int]:
    """The raw archive's pages, raw and stored bytes, and the versions that name them."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        pages, raw, stored = rawpages.archive_size(session)
        versions = session.scalar(select(func.count()).select_from(ArticleVersion)) or 0
    engine.dispose()
    return {"versions": versions, "pages": pages, "raw_bytes": raw, "stored_bytes": stored,
            "bytes_per_1000_versions": round(stored / versions * 1000) if versions else 0}


def article_pages(snapshot: Path) -> list[str]:
    paths = sorted(f"/{p.parent.relative_to(snapshot).as_posix()}/" for p in snapshot.rglob("index.html"))
    return [path for path in paths if ICESCO.article_path.match(path)]


def page_bytes(snapshot: Path, path: str) -> bytes:
    return (snapshot / path.strip("/") / "index.html").read_bytes()


def readings(snapshot: Path, paths: Sequence[str]) -> list[object]:
    return [dataclasses.asdict(extract(page_bytes(snapshot, p), "https://icesco.org" + quote(p))) for p in paths]


def extraction_alone(snapshot: Path, pages: int = 1000) -> dict[str, float]:
    """CPU milliseconds per page, in this process, of parsing, of trafilatura (parsing included),
    and of the whole extraction, over `pages` article pages of the snapshot (every language)."""
    paths = article_pages(snapshot)
    samples = [(page_bytes(snapshot, path), "https://icesco.org" + quote(path))
               for path in paths[:: max(1, len(paths) // pages)]]

    def per_page(step: Callable[[bytes, str], object]) -> float:
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


POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # the server; the case makes its own databases
REDIS_URL = "redis://127.0.0.1:6379/0"
SITES = ("alpha", "beta", "gamma")  # case E's three sites, each an operator's copy of the ICESCO profile
LATENCY_MS, PER_SITE = 100, 4
WORKERS_RATIO = 1.8  # target: 2 workers >= 1.8x one on the latency-bound case


def workers_case() -> str | None:
    """Why case E (2 workers on Redis against 3 sites at 100 ms latency, 4 requests per site at a
    time) cannot run on this machine, or None when it can: it needs the echo module of nginx (for
    the latency), Redis at REDIS_URL and PostgreSQL at POSTGRES_URL (the store of workers)."""
    import redis
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    from bench.nginx import ECHO_MODULE

    if not ECHO_MODULE.exists():
        return "nginx's echo module is not installed (apt-get install -y -qq libnginx-mod-http-echo)"
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError as error:
        return f"Redis not reachable at {REDIS_URL}: {error}"
    admin = create_engine(POSTGRES_URL)
    try:
        admin.connect().close()
    except OperationalError as error:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {str(error.orig).strip()}"
    finally:
        admin.dispose()
    return None


def site_profiles(folder: Path) -> Path:
    """The operator's folder of case E's profiles (NEWSWATCH_SITES_DIR): the bundled ICESCO profile
    (the mirror is ICESCO's pages) under another name and origin for each site."""
    from crawler.sites import BUNDLED_DIR

    folder.mkdir()
    text = (BUNDLED_DIR / "icesco.toml").read_text("utf-8")
    for name in SITES:
        (folder / f"{name}.toml").write_text(
            text.replace('name = "icesco"', f'name = "{name}"')
            .replace('origin = "https://icesco.org"', f'origin = "https://{name}.example.org"')
            .replace('"icesco.org", "www.icesco.org",', f'"{name}.example.org", "icesco.org", "www.icesco.org",'),
            "utf-8")
    return folder


class Postgres:
    """Fresh PostgreSQL databases on the machine's server, each dropped when the bench ends."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.url = make_url(POSTGRES_URL)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.made: list[str] = []

    def create(self) -> str:
        from storage.db import migrate

        name = f"newswatch_bench_{os.getpid()}_{len(self.made)}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        url = self.url.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        return url

    def close(self) -> None:
        from sqlalchemy import text

        with self.admin.connect() as connection:
            for name in self.made:
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                                   {"n": name})
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        self.admin.dispose()


def shared_runs(database_url: str) -> dict[str, dict]:
    """Each site's runs in the database: how many, the last one's status and time from its start
    to its close, its workers' states and how many requests each worker fetched."""
    from storage.models import CrawlRun, RunWorker

    engine = make_engine(database_url)
    out: dict[str, dict] = {}
    with Session(engine) as session:
        for run in session.scalars(select(CrawlRun).order_by(CrawlRun.id)):
            workers = session.scalars(select(RunWorker).where(RunWorker.run_id == run.id).order_by(RunWorker.id)).all()
            site = out.setdefault(run.site, {"runs": 0})
            seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
            site.update(runs=site["runs"] + 1, status=run.status, seconds=seconds, workers=[w.state for w in workers],
                        worker_requests=[int(w.stats.get("requests", 0)) for w in workers])
    engine.dispose()
    return out


def run_workers_case(server: Nginx, sites_dir: Path, settings: list[str], rounds: int) -> dict:
    """Case E: the three sites crawled one after the other, as the nightly job does, each by
    `workers` processes started together on the shared queue (one run per site), into one fresh
    PostgreSQL database; 1 worker and 2 workers interleaved `rounds` times."""
    import redis

    results: dict[int, list[Crawl]] = {1: [], 2: []}
    checks: dict[int, list[dict]] = {1: [], 2: []}
    each: list[dict] = []  # every measurement, in order, with the load after it
    postgres, queue = Postgres(), redis.Redis.from_url(REDIS_URL)
    try:
        for n in range(rounds):
            for count in (1, 2):
                database, prefix = postgres.create(), f"newswatch-bench-{os.getpid()}-{n}-{count}"
                queued = ["-s", f"NEWSWATCH_QUEUE={REDIS_URL}", "-s", f"NEWSWATCH_QUEUE_PREFIX={prefix}",
                          "-s", f"NEWSWATCH_SITES_DIR={sites_dir}", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={PER_SITE}",
                          # one site a run: a worker's whole concurrency is its site's share (given, it stays)
                          "-s", f"CONCURRENT_REQUESTS={PER_SITE}"]
                steps = [[newswatch(server, database, *settings, *queued, "-s", f"NEWSWATCH_SITE={site}", site=site)
                          for _ in range(count)] for site in SITES]
                results[count].append(measure_steps(server, steps))
                left = list(queue.scan_iter(match=f"{prefix}:*"))
                check = {"sites": shared_runs(database), "redis_keys_left": len(left)}
                if left:
                    queue.delete(*left)
                checks[count].append(check)
                crawl = results[count][-1]
                runs_seconds = sum(got["seconds"] or 0 for got in check["sites"].values())
                each.append({"workers": count, "seconds": round(crawl.seconds, 1), "runs_seconds": round(runs_seconds, 1),
                             "per_second": round(crawl.articles / crawl.seconds, 1),
                             "load": [round(x, 2) for x in os.getloadavg()]})
                print(f"   case E round {n + 1}/{rounds}, {count} worker{'s' * (count > 1)}: {crawl.articles} articles "
                      f"in {crawl.seconds:.1f} s = {crawl.articles / crawl.seconds:.1f}/s, the runs themselves (start to close) "
                      f"{runs_seconds:.1f} s (load {os.getloadavg()[0]:.2f})")
    finally:
        queue.close()
        postgres.close()
    for count, seen in checks.items():
        for check in seen:
            wrong = {site: got for site, got in check["sites"].items()
                     if got["runs"] != 1 or got["status"] != "complete" or len(got["workers"]) != count
                     or set(got["workers"]) != {"left"}}
            if wrong or set(check["sites"]) != set(SITES) or check["redis_keys_left"]:
                raise SystemExit(f"case E, {count} worker(s): a site's run was not one complete run closed once, "
                                 f"every worker gone: {check}")
    one, two = _median(results[1]), _median(results[2])
    runs_seconds = {count: statistics.median(e["runs_seconds"] for e in each if e["workers"] == count) for count in (1, 2)}
    return {"one": one, "two": two, "ratio": round((two.articles / two.seconds) / (one.articles / one.seconds), 3),
            "runs_seconds": runs_seconds, "runs_ratio": round(runs_seconds[1] / max(0.1, runs_seconds[2]), 3),
            "worker_requests": {site: got["worker_requests"] for site, got in checks[2][-1]["sites"].items()},
            "each": each}


def case_e(tmp: Path, articles: int, settings: list[str], rounds: int, today: dt.date) -> dict | str:
    """Run case E on a mirror of `articles` articles per site and print its figures: the figures,
    or why it did not run."""
    label = f"6. 2 workers on Redis, 3 sites at {LATENCY_MS} ms latency, {PER_SITE} requests per site"
    if not articles:
        print(f"{label}: not run (--workers-articles 0)")
        return "not run"
    if (unavailable := workers_case()) is not None:
        print(f"{label}: not available ({unavailable})")
        return unavailable
    snapshot = tmp / "sites-mirror"
    write_mirror(snapshot, synthetic_releases(articles, newest=today), golden=False)
    dress_mirror(snapshot)
    with Nginx(dict.fromkeys(SITES, snapshot), latency_ms=LATENCY_MS) as server:
        import urllib.request

        started = time.perf_counter()
        with urllib.request.urlopen(server.url(SITES[0]) + "/en/") as answer:
            answer.read()
        answered = time.perf_counter() - started
        if answered < LATENCY_MS / 1000:
            raise SystemExit(f"nginx answered in {answered * 1000:.0f} ms, not {LATENCY_MS} ms or more")
        server.requests()
        figures = run_workers_case(server, site_profiles(tmp / "sites"), settings, rounds)
    one, two = figures["one"], figures["two"]
    print(f"{label} (each site's run in turn, its workers started together; {articles} articles a site, "
          f"medians of {rounds}; a first request answered in {answered * 1000:.0f} ms):")
    for count, c in ((1, one), (2, two)):
        print(f"   {count} worker{'s' * (count > 1)}{' ' * (count == 1)} {c.articles:6} articles in {c.seconds:6.1f} s = "
              f"{c.articles / c.seconds:7.1f}/s, {c.cpu_seconds / max(1, c.articles) * 1000:6.2f} ms CPU per article, "
              f"peak {c.peak_mb:.0f} MB, {c.requests} requests")
    shares = ", ".join(f"{site} {'+'.join(map(str, got))}" for site, got in figures["worker_requests"].items())
    print(f"   2 workers / 1 worker = {figures['ratio']:.2f} (target >= {WORKERS_RATIO}); the runs alone, start to close "
          f"(no process start or exit): {figures['runs_seconds'][1]:.1f} s against {figures['runs_seconds'][2]:.1f} s, "
          f"{figures['runs_ratio']:.2f}; each site's run complete, "
          f"closed once, every worker gone (requests per worker: {shares}), no Redis key left")
    return {"articles_per_site": articles, "latency_ms": LATENCY_MS, "per_site": PER_SITE,
            "one": one.figures(), "two": two.figures(), "ratio": figures["ratio"], "runs_ratio": figures["runs_ratio"],
            "worker_requests": figures["worker_requests"], "each": figures["each"],
            "order": "sites in sequence, 2 workers each"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="times the four cases run, interleaved (medians)")
    parser.add_argument("--record", type=Path, metavar="FILE", help="append the figures to FILE (JSON lines)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for newswatch's crawls (e.g. NEWSWATCH_EXTRACT_WORKERS=1); recorded")
    parser.add_argument("--workers-articles", type=int, default=600, metavar="N",
                        help="articles of each of case E's 3 sites (0: case E is not run)")
    parser.add_argument("--only-workers", action="store_true", help="run case E alone")
    args = parser.parse_args()
    settings = [option for setting in args.set for option in ("-s", setting)]
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]:.2f} before the run: other work skews the figures")
    today = dt.date.today()
    if args.only_workers:
        with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp_name:
            workers = case_e(Path(tmp_name), args.workers_articles, settings, args.rounds, today)
        if args.record:
            _record(args.record, args.workers_articles * len(SITES), load_before, os.getloadavg(),
                    {"server": "nginx", "rounds": args.rounds, "settings": args.set, "workers": workers})
        return
    releases = synthetic_releases(args.articles + ADDED, newest=today)
    first, edits = releases[ADDED:], args.articles // 100
    second = releases[:ADDED] + [edited(r) for r in first[:edits]] + first[edits:]
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        write_mirror(tmp / "v1", first, golden=False)
        write_mirror(tmp / "v2", second, golden=False)
        sample = random.Random(0).sample(article_pages(tmp / "v1"), min(50, args.articles))
        plain = readings(tmp / "v1", sample)
        for snapshot in (tmp / "v1", tmp / "v2"):
            dress_mirror(snapshot)
            for file in snapshot.rglob("*"):
                os.utime(file, (MTIME, MTIME))
        kept = sum(a == b for a, b in zip(plain, readings(tmp / "v1", sample), strict=True))
        sizes = sorted(file.stat().st_size for file in (tmp / "v1").rglob("index.html"))
        pages = {"pages": len(sizes), "median_kb": round(statistics.median(sizes) / 1000, 1),
                 "min_kb": round(sizes[0] / 1000, 1), "max_kb": round(sizes[-1] / 1000, 1),
                 "extraction_unchanged": f"{kept}/{len(sample)}"}
        print(f"mirrors of {args.articles} articles (+{ADDED} added, {edits} edited) written in "
              f"{time.perf_counter() - started:.0f} s: {len(sizes)} pages of {pages['min_kb']:.0f}-{pages['max_kb']:.0f} "
              f"KB (median {pages['median_kb']:.0f}); the padding left the extraction of {kept}/{len(sample)} "
              f"sampled article pages unchanged")
        if kept != len(sample):
            raise SystemExit("the padding changed what the extractor reads: fix bench/pages.py")
        results: dict[str, list[Crawl]] = {case: [] for case in CASES}
        unchanged_written, due = [], 0
        with Nginx({"icesco": tmp / "v1"}) as server:
            for n in range(args.rounds):
                database = f"sqlite:///{tmp}/newswatch-{n}.db"
                results["floor"].append(measure(server, naive(server)))
                results["naive"].append(measure(server, naive(server, f"sqlite:///{tmp}/naive-{n}.db")))
                results["full"].append(measure(server, newswatch(server, database, *settings, "-a", "mode=full")))
                due = due_tonight(database, today)
                results["unchanged"].append(measure(server, newswatch(server, database, *settings, "-a", "mode=incremental")))
                run, _ = latest_run(database)
                unchanged_written.append(run.stats["versions_written"])
                print(f"   round {n + 1}/{args.rounds}: " + ", ".join(
                    f"{case} {results[case][-1].articles / results[case][-1].seconds:.0f}/s" for case in CASES)
                    + f" (load {os.getloadavg()[0]:.2f})")
            server.serve({"icesco": tmp / "v2"})
            changed = measure(server, newswatch(server, database, *settings, "-a", "mode=incremental"))
            _, kinds = latest_run(database)
        archive = raw_archive(database)
        steps = extraction_alone(tmp / "v1")
        workers = case_e(tmp, args.workers_articles, settings, args.rounds, today)
    load_after = os.getloadavg()
    if any(unchanged_written):
        raise SystemExit(f"an unchanged night wrote versions: {unchanged_written}")
    medians = {case: _median(crawls) for case, crawls in results.items()}
    full, unchanged = medians["full"], medians["unchanged"]
    rate = {case: crawl.articles / crawl.seconds for case, crawl in medians.items()}
    print(f"1. medians of {args.rounds} interleaved rounds, {args.articles} articles:")
    for case, label in zip(CASES, ("floor (fetch only)", "naive pipeline", "newswatch full", "unchanged night"), strict=True):
        c = medians[case]
        print(f"   {label:19} {c.articles:6} articles in {c.seconds:6.1f} s = {rate[case]:7.1f}/s, "
              f"{c.cpu_seconds / max(1, c.articles) * 1000:6.2f} ms CPU per article "
              f"(+{c.server_cpu_seconds / max(1, c.articles) * 1000:.2f} nginx), peak {c.peak_mb:.0f} MB "
              f"(PSS {c.peak_pss_mb:.0f}), "
              f"{c.requests} requests")
    targets = {
        "full_per_floor": round(rate["full"] / rate["floor"], 3),
        "full_per_naive": round(rate["full"] / rate["naive"], 3),
        "unchanged_articles_per_due": round(unchanged.articles / max(1, due), 3),
        "peak_mb": round(full.peak_mb),
        "peak_pss_mb": round(full.peak_pss_mb),
    }
    print(f"   full / floor = {targets['full_per_floor']:.2f} (target >= {FULL_PER_FLOOR}); full / naive = "
          f"{targets['full_per_naive']:.2f} (target >= {FULL_PER_NAIVE})")
    print(f"2. unchanged night: {unchanged.requests} requests ({unchanged.requests / full.requests:.1%} of the full "
          f"crawl's {full.requests}): {unchanged.articles} articles for {due} due (recent + revalidation share), "
          f"{unchanged.listings} listing pages, {unchanged.requests - unchanged.articles - unchanged.listings} other; "
          f"{max(unchanged_written)} versions written; {unchanged.seconds / full.seconds:.0%} of the full crawl's time")
    print(f"3. incremental, {edits} edited + {ADDED} added: {changed.requests} requests, "
          f"found {kinds.get('edited', 0)}/{edits} edited and {kinds.get('added', 0)}/{ADDED} added "
          f"(other changes: { {k: v for k, v in kinds.items() if k not in ('edited', 'added')} or 'none'})")
    print(f"4. extraction alone, one process, {steps['pages']} pages: parsing {steps['parse']:.2f} ms, trafilatura "
          f"{steps['trafilatura']:.2f} ms (parsing included), the whole extraction {steps['extract']:.2f} ms per page")
    print(f"5. raw archive: {archive['pages']} pages for {archive['versions']} versions, "
          f"{archive['raw_bytes'] / archive['pages'] / 1000:.1f} KB a page as fetched, "
          f"{archive['stored_bytes'] / archive['pages'] / 1000:.1f} KB stored (zstd): "
          f"{archive['bytes_per_1000_versions'] / 1e6:.2f} MB per 1,000 versions")
    peak_note = (f"peak {full.peak_mb:.0f} MB, PSS {full.peak_pss_mb:.0f} MB (target <= {PEAK_MB} MB at {PEAK_AT:,} articles"
                 + ("" if args.articles == PEAK_AT else f"; this run has {args.articles:,}") + ")")
    print(f"targets: full/floor {'met' if targets['full_per_floor'] >= FULL_PER_FLOOR else 'NOT met'}, "
          f"full/naive {'met' if targets['full_per_naive'] >= FULL_PER_NAIVE else 'NOT met'}, "
          f"unchanged night {'met' if unchanged.articles <= due and not any(unchanged_written) else 'NOT met'}, "
          + peak_note + (f": {'met' if full.peak_mb <= PEAK_MB else 'NOT met'}" if args.articles == PEAK_AT else ""))
    if args.record:
        figures = {
            "server": "nginx", "rounds": args.rounds, "settings": args.set, "pages": pages,
            **{case: crawl.figures() for case, crawl in medians.items()},
            "targets": targets, "due": due,
            "unchanged_versions_written": max(unchanged_written),
            "changed": {"requests": changed.requests, "edited": edits, "added": ADDED, "found": dict(kinds.items())},
            "extraction_ms": {k: round(v, 2) for k, v in steps.items() if k != "pages"},
            "raw_archive": archive, "workers": workers,
        }
        _record(args.record, args.articles, load_before, load_after, figures)


def _median(crawls: list[Crawl]) -> Crawl:
    """The crawl of median speed (its own figures, not a mix of several crawls)."""
    ordered = sorted(crawls, key=lambda c: c.articles / c.seconds)
    return ordered[(len(ordered) - 1) // 2] if len(ordered) % 2 else _mean(ordered[len(ordered) // 2 - 1:][:2])


def _mean(pair: list[Crawl]) -> Crawl:
    a, b = pair
    return Crawl(*(type(x)((x + y) / 2) if isinstance(x, float) else math.floor((x + y) / 2)
                   for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True)))


def _cpu_model() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    return model or platform.processor() or None


def _record(path: Path, articles: int, load_before: tuple[float, ...], load_after: tuple[float, ...],
            figures: dict) -> None:
    """Append one run's figures, with where and when they were measured, as a JSON line."""
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip() or None
    line = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "commit": commit,
            "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
            "articles": articles, **figures}
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
