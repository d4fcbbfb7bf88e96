"""Benchmark of the web view: page render times on a large database.

    .venv/bin/python bench/web.py [--articles 20000] [--versions 20] [--record bench/web-results.jsonl]

Builds an SQLite database of `--articles` synthetic releases (fixtures/synthetic.py, in en/fr/ar,
one version each, written with bulk inserts so the full-text index triggers run as in a crawl) and
one English release with `--versions` versions, each run editing it; then renders, through Flask's
test client in this process (no network, no gunicorn), the pages a reader opens: that article's
history, the text of a version, the diff of its first and last versions (side by side and inline),
the change page of its last edit, the changes page and a search. Reports the median and the 95th
percentile of each over `--repeat` renders, after one warm-up render. The target is under 100 ms
for the article with 20 versions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, literal, select, true, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from fixtures.synthetic import synthetic_releases  # noqa: E402
from monitor.web import WebSettings, create_app  # noqa: E402
from storage.content import content_hash  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402
from storage.models import Article, ArticleVersion, Change, CrawlRun  # noqa: E402

T0 = dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.UTC)
BATCH = 2000


def build(database: Path, articles: int, versions: int) -> tuple[int, int]:
    """The database; (the id of the article with many versions, the run of its last edit)."""
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    releases = synthetic_releases(articles)
    with Session(engine) as session, session.begin():
        runs = [CrawlRun(site="icesco", started_at=T0 + dt.timedelta(days=n), finished_at=T0 + dt.timedelta(days=n),
                         status="complete", stats={}, is_baseline=n == 0) for n in range(versions)]
        session.add_all(runs)
        session.flush()
        run_ids = [run.id for run in runs]
    with engine.begin() as connection:
        for start in range(0, len(releases), BATCH):
            chunk = releases[start:start + BATCH]
            connection.execute(insert(Article), [
                {"site": "icesco", "canonical_url": f"https://icesco.org{r.path}", "language": r.language,
                 "first_seen_run_id": run_ids[0], "last_seen_run_id": run_ids[-1], "state": "live"} for r in chunk])
        ids = dict(connection.execute(select(Article.canonical_url, Article.id)).all())
        for start in range(0, len(releases), BATCH):
            chunk = releases[start:start + BATCH]
            connection.execute(insert(ArticleVersion), [_version(ids[f"https://icesco.org{r.path}"], run_ids[0], r.title,
                                                                 r.published, list(r.paragraphs)) for r in chunk])
        connection.execute(update(Article).values(current_version_id=select(ArticleVersion.id).where(
            ArticleVersion.article_id == Article.id).scalar_subquery()))
        connection.execute(insert(Change).from_select(
            ["run_id", "article_id", "kind", "fields", "new_version_id", "summary", "is_baseline"],
            select(ArticleVersion.run_id, ArticleVersion.article_id, literal("added"), literal("[]"), ArticleVersion.id,
                   literal("new release"), true())))
    target = next(r for r in releases if r.language == "en" and len(r.paragraphs) >= 4)
    article_id = ids[f"https://icesco.org{target.path}"]
    with Session(engine) as session, session.begin():
        previous = session.scalars(select(ArticleVersion).where(ArticleVersion.article_id == article_id)).one()
        for n in range(1, versions):
            paragraphs = list(previous.paragraphs)
            paragraphs[n % len(paragraphs)] = paragraphs[n % len(paragraphs)] + f" The figure now stands at {150 + n}."
            version = ArticleVersion(**_version(article_id, run_ids[n], previous.title, previous.published, paragraphs))
            session.add(version)
            session.flush()
            session.add(Change(run_id=run_ids[n], article_id=article_id, kind="edited", fields=["text"],
                               old_version_id=previous.id, new_version_id=version.id, summary="edited"))
            session.get(Article, article_id).current_version_id = version.id
            previous = version
    engine.dispose()
    return article_id, run_ids[-1]


def _version(article_id: int, run_id: int, title: str, published: dt.date, paragraphs: list[str]) -> dict[str, object]:
    return {"article_id": article_id, "run_id": run_id, "fetched_at": T0, "title": title, "published": published,
            "content_hash": content_hash(title, published, tuple(paragraphs)), "text": "\n\n".join(paragraphs),
            "paragraphs": paragraphs}


def timings(client, path: str, repeat: int) -> dict[str, float]:
    response = client.get(path)  # warm-up: templates compiled, caches filled
    assert response.status_code == 200, (path, response.status_code)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 1), "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--record", type=Path, help="append the figures to this JSON-lines file")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.db"
        started = time.perf_counter()
        article_id, last_run = build(database, options.articles, options.versions)
        print(f"database: {options.articles:,} articles, one with {options.versions} versions, built in "
              f"{time.perf_counter() - started:.1f}s ({database.stat().st_size / 1e6:.0f} MB)")
        url = f"sqlite:///{database}"
        app = create_app(WebSettings(database_url=url, public_url="http://127.0.0.1:8400", secret_key=b"k" * 32,
                                     proxies=0))
        client = app.test_client()
        n = options.versions
        pages = {
            f"article history ({n} versions)": f"/articles/{article_id}",
            "a version's text": f"/articles/{article_id}?v=1",
            f"diff v1 → v{n}, side by side": f"/articles/{article_id}?from=1&to={n}",
            f"diff v1 → v{n}, inline": f"/articles/{article_id}?from=1&to={n}&view=inline",
            "the last edit's change page": f"/changes/{last_run}/{article_id}",
            "the changes page": "/",
            "search (2 words)": "/search?q=ICESCO+forum",
        }
        results = {name: timings(client, path, options.repeat) for name, path in pages.items()}
    width = max(map(len, results))
    for name, figures in results.items():
        print(f"{name:<{width}}  median {figures['median_ms']:6.1f} ms   p95 {figures['p95_ms']:6.1f} ms")
    if options.record:
        record = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "commit": _commit(),
                  "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                  "load_before": round(os.getloadavg()[0], 2), "articles": options.articles,
                  "versions": options.versions, "pages": results}
        with options.record.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip()


if __name__ == "__main__":
    main()
