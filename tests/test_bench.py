"""The benchmark, the project's performance record, still runs end to end on a small mirror, and
what it says about correctness holds. Its speeds are read by people, never asserted here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_benchmark_runs_and_finds_every_change_and_nothing_else(tmp_path):
    record = tmp_path / "results.jsonl"
    done = subprocess.run([sys.executable, "bench/run.py", "--articles", "300", "--record", str(record)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = done.stdout
    assert re.search(r"^1\. floor \(fetch \+ parse\): 300 articles in ", report, re.M), report
    assert re.search(r"^   full pipeline: +300 articles in .* full / floor = \d+%$", report, re.M), report
    assert re.search(r"^2\. incremental, nothing changed: .*, 0 versions written, ", report, re.M), report
    assert "3. incremental, 3 edited + 20 added: " in report
    assert "found 3/3 edited and 20/20 added (other changes: none)" in report
    assert re.search(r"^4\. extraction alone, one process, 300 pages: ", report, re.M), report
    assert re.search(r"^5\. raw archive: 323 pages for 323 versions, .* MB per 1,000 versions$", report, re.M), report
    (line,) = record.read_text("utf-8").splitlines()  # the record: one JSON line per run
    figures = json.loads(line)
    assert (figures["articles"], figures["machine"]["cores"]) == (300, os.cpu_count())
    assert figures["unchanged"]["versions_written"] == 0
    assert figures["changed"]["found"] == {"edited": 3, "added": 20}
    assert figures["raw_archive"]["stored_bytes"] < figures["raw_archive"]["raw_bytes"] / 2
    assert figures["full_per_floor"] > 0 and figures["extraction_ms"]["extract"] > 0
