"""The operator's words for a crawl's run: the line that starts it and the one that sums it up.

Pure functions of the run's stats (their short names, crawler.runs.run_stats) and of the change
counts that detection, which runs as the crawl closes, leaves in Scrapy's stats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from storage.models import CHANGE_KINDS
from storage.runs import FAILED_FETCHES, FETCHES


def duration(seconds: float) -> str:
    """`4 s`, `2 min 10 s`, `1 h 5 min`."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 failed fetch`, `3 failed fetches`."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def start_line(run_id: int, *, site: str, site_url: str, languages: Sequence[str], full: bool, known: int,
               database: str, baseline: bool) -> str:
    """What the run is about to do."""
    line = (f"run {run_id} started: {'full' if full else 'incremental'} crawl of {site} ({', '.join(languages)}) "
            f"at {site_url}, {plural(known, 'article')} known, database {database}")
    if baseline:
        line += "; the first run of the site: the baseline, whose articles are recorded and never alerted"
    return line


def run_summary(run_id: int, status: str, seconds: float, stats: Mapping[str, Any], *, baseline: bool,
                reasons: Sequence[str] = (), changes: Mapping[str, int] | None = None, detect_failed: bool = False,
                digests: int = 0, held: str | None = None) -> str:
    """One line: `run 3 complete in 2 min 10 s: 90 requests, 64 articles, 5 edited, 2 removed, 1 failed fetch`.

    `changes` are detection's counts by kind (None: detection did not run in this crawl); `held`
    why the brake held the run for the operator (monitor.brake), if it did.
    """
    checked = sum(stats.get(key, 0) for key in FETCHES)
    failed = sum(stats.get(key, 0) for key in FAILED_FETCHES)
    parts = [plural(stats.get("requests", 0), "request"), plural(checked, "article")]
    if detect_failed:
        parts.append(f"changes not detected (`newswatch detect --run {run_id}` retries)")
    elif changes is not None:
        found = [f"{changes[kind]:,} {kind}" for kind in CHANGE_KINDS if changes.get(kind)]
        parts.append(", ".join(found) if found else "no changes")
        if baseline:
            parts[-1] += " (the baseline: recorded, never alerted)"
    if rebaselined := stats.get("rebaselined", 0):
        parts.append(f"{rebaselined:,} re-baselined (read otherwise by a new extractor, not changed)")
    if failed:
        parts.append(plural(failed, "failed fetch", "failed fetches"))
    line = f"run {run_id} {status} in {duration(seconds)}: {', '.join(parts)}"
    if digests:
        line += f"; {plural(digests, 'digest')} queued"
    if held:
        line += (f"; held for the operator, no digest queued: {held} (`newswatch release {run_id}` sends its digests, "
                 f"`newswatch rebaseline {run_id}` accepts it silently)")
    if status == "incomplete":
        line += f"; incomplete because {'; '.join(reasons) or 'the crawl stopped before its end'}: " \
                "no removals reported"
    return line
