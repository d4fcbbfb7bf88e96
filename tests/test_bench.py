"""The benchmark, the project's performance record, still runs end to end on a small mirror, and
what it says about correctness holds. Its speeds are read by people, never asserted here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.nginx import nginx_binary

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (apt-get install -y -qq nginx)")
def test_the_benchmark_runs_and_finds_every_change_and_nothing_else(tmp_path):
    record = tmp_path / "results.jsonl"
    done = subprocess.run([sys.executable, "bench/run.py", "--articles", "300", "--rounds", "1", "--record", str(record),
                           "--workers-articles", "0"],  # case E: its own test below
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = done.stdout
    # Pages of the real site's size, and the padding does not change what the extractor reads.
    assert re.search(r"^mirrors of 300 articles .*: 333 pages of (\d+)-(\d+) KB .* left the extraction of "
                     r"50/50 sampled article pages unchanged$", report, re.M), report
    sizes = re.search(r"333 pages of (\d+)-(\d+) KB", report)
    assert sizes and int(sizes[1]) >= 79 and int(sizes[2]) <= 151, report
    for label in ("floor \\(fetch only\\)", "naive pipeline", "newswatch full"):
        assert re.search(rf"^   {label} +300 articles in .* ms CPU per article .* peak \d+ MB", report, re.M), report
    assert re.search(r"full / floor = \d\.\d\d .* full / naive = \d+\.\d\d", report), report
    assert re.search(r"^2\. unchanged night: .* 0 versions written", report, re.M), report
    assert "3. incremental, 3 edited + 20 added: " in report
    assert "found 3/3 edited and 20/20 added (other changes: none)" in report
    assert re.search(r"^4\. extraction alone, one process, 300 pages: ", report, re.M), report
    assert re.search(r"^5\. raw archive: 323 pages for 323 versions, .* MB per 1,000 versions$", report, re.M), report
    assert re.search(r"^6\. 2 workers on Redis, 3 sites at 100 ms latency.*: not run", report, re.M), report
    (line,) = record.read_text("utf-8").splitlines()  # the record: one JSON line per run
    figures = json.loads(line)
    assert (figures["articles"], figures["machine"]["cores"]) == (300, os.cpu_count())
    assert figures["unchanged_versions_written"] == 0 and figures["unchanged"]["articles"] <= figures["due"]
    assert figures["changed"]["found"] == {"edited": 3, "added": 20}
    assert figures["raw_archive"]["stored_bytes"] < figures["raw_archive"]["raw_bytes"] / 2
    assert {case: figures[case]["articles"] for case in ("floor", "naive", "full")} == dict.fromkeys(
        ("floor", "naive", "full"), 300)
    assert figures["targets"]["full_per_floor"] > 0 and figures["extraction_ms"]["extract"] > 0
    assert len(figures["load_before"]) == 3 and figures["pages"]["extraction_unchanged"] == "50/50"


def test_nginx_adds_the_latency_it_is_asked_for(tmp_path):
    """Case E's server: every answer 100 ms late, conditional requests still answered 304."""
    import time
    import urllib.error
    import urllib.request

    from bench.nginx import ECHO_MODULE, Nginx

    if nginx_binary() is None or not ECHO_MODULE.exists():
        pytest.skip("nginx or its echo module is not installed (apt-get install -y -qq nginx libnginx-mod-http-echo)")
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "index.html").write_text("<html><body>home</body></html>", "utf-8")
    for latency in (0, 100):
        with Nginx({"site": tmp_path}, latency_ms=latency) as server:
            started = time.perf_counter()
            with urllib.request.urlopen(server.url() + "/en/") as answer:
                etag, body = answer.headers["ETag"], answer.read()
            elapsed = time.perf_counter() - started
            assert body == b"<html><body>home</body></html>"
            assert elapsed >= latency / 1000, elapsed  # a lower bound only: a loaded machine is slower
            with pytest.raises(urllib.error.HTTPError) as not_modified:
                urllib.request.urlopen(urllib.request.Request(server.url() + "/en/", headers={"If-None-Match": etag}))
            assert not_modified.value.code == 304
            assert server.requests(at_least=2) == [(200, "/en/"), (304, "/en/")]


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (apt-get install -y -qq nginx)")
def test_the_workers_case_crawls_three_sites_each_in_one_run_worked_by_both_workers(tmp_path):
    """Case E on a tiny mirror: 3 sites, each one run closed once (the bench checks it and exits
    non-zero otherwise), worked by 1 worker then by 2, both of which fetched."""
    from bench.run import workers_case

    if (unavailable := workers_case()) is not None:
        pytest.skip(f"case E cannot run here: {unavailable}")
    record = tmp_path / "results.jsonl"
    done = subprocess.run([sys.executable, "bench/run.py", "--only-workers", "--workers-articles", "40", "--rounds", "1",
                           "--record", str(record)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = done.stdout
    for label in ("1 worker ", "2 workers"):
        assert re.search(rf"^   {label}    120 articles in .* ms CPU per article, peak \d+ MB", report, re.M), report
    assert re.search(r"^   2 workers / 1 worker = \d+\.\d\d \(target >= 1\.8\); .*; each site's run complete, closed once",
                     report, re.M), report
    (line,) = record.read_text("utf-8").splitlines()
    workers = json.loads(line)["workers"]
    assert (workers["one"]["articles"], workers["two"]["articles"]) == (120, 120)
    assert set(workers["worker_requests"]) == {"alpha", "beta", "gamma"}
    assert all(len(shares) == 2 and min(shares) > 0 for shares in workers["worker_requests"].values()), workers
