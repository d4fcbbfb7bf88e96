"""What a crawl prints: its start and a summary in words, warnings and errors; Scrapy's detail only at
DEBUG or in a log file; a progress line only on a terminal."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys

import pytest
from conftest import FAST, REPO
from scrapy.utils.test import get_crawler

from crawler.logs import AtDebug
from crawler.progress import Progress
from crawler.runs import Run
from crawler.summary import duration, run_summary

# Scrapy's banners and reports, which the operator does not need to read every night.
DETAIL = ("Scrapy 2.", "Versions:", "Enabled addons", "Enabled extensions", "Enabled downloader middlewares",
          "Overridden settings", "Spider opened", "Dumping Scrapy stats", "Crawled 0 pages")
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[(?P<logger>[\w.]+)\] (?P<level>[A-Z]+): (?P<message>.*)$")


def crawl_nowhere(tmp_path, **environ: str) -> subprocess.CompletedProcess[str]:
    """A crawl of a site that does not answer (port 9 on loopback): its listing pages fail."""
    env = {**{name: value for name, value in os.environ.items() if not name.startswith("NEWSWATCH_LOG_")},
           "NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'newswatch.db'}", **environ}
    settings = {**FAST, "NEWSWATCH_SITE_URL": "http://127.0.0.1:9", "RETRY_ENABLED": "False",
                "NEWSWATCH_SITEMAPS": "False", "NEWSWATCH_EXTRACT_WORKERS": "0", "ROBOTSTXT_OBEY": "False"}
    settings.pop("LOG_LEVEL")  # from the environment
    command = [sys.executable, "-m", "scrapy", "crawl", "news"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def records(stderr: str) -> list[dict[str, str]]:
    return [match.groupdict() for line in stderr.splitlines() if (match := LINE.match(line))]


def test_a_crawl_says_what_it_does_and_how_it_went_in_a_few_lines(tmp_path):
    result = crawl_nowhere(tmp_path)

    logged = records(result.stderr)
    infos = [r["message"] for r in logged if r["level"] == "INFO" and not r["logger"].startswith("alembic")]
    assert len(infos) == 1 and infos[0].startswith("run 1 started: incremental crawl of icesco (en, fr, ar) at "
                                                   "http://127.0.0.1:9, 0 articles known, database sqlite:///")
    assert infos[0].endswith("; the first run of the site: the baseline, whose articles are recorded and never "
                             "alerted")
    warnings = [r["message"] for r in logged if r["level"] == "WARNING"]
    assert sum(message.startswith("listing http://127.0.0.1:9/") for message in warnings) == 3  # kept in view
    assert re.fullmatch(r"run 1 incomplete in \d+ s: 6 requests, 0 articles, no changes \(the baseline: recorded, "
                        r"never alerted\); incomplete because 3 listing pages failed: no removals reported",
                        warnings[-1])
    assert not any(detail in result.stderr for detail in DETAIL)
    assert "\r" not in result.stderr  # no progress line outside a terminal
    assert len(result.stderr.splitlines()) < 12


def test_debug_brings_scrapys_detail_back(tmp_path):
    result = crawl_nowhere(tmp_path, NEWSWATCH_LOG_LEVEL="DEBUG")

    assert all(detail in result.stderr for detail in DETAIL)
    assert "[scrapy.crawler] DEBUG: Overridden settings" in result.stderr
    assert "[crawler.runs] WARNING: run 1 incomplete in " in result.stderr


def test_a_log_file_keeps_everything_at_info(tmp_path):
    log = tmp_path / "crawl.log"

    result = crawl_nowhere(tmp_path, NEWSWATCH_LOG_FILE=str(log))

    written = log.read_text("utf-8")
    assert result.stderr == ""
    assert all(detail in written for detail in DETAIL) and "DEBUG" not in written
    assert "[crawler.runs] WARNING: run 1 incomplete in " in written


def test_a_log_file_in_a_missing_directory_is_a_bad_setting(tmp_path):
    result = crawl_nowhere(tmp_path, NEWSWATCH_LOG_FILE=str(tmp_path / "no" / "crawl.log"))

    assert result.returncode == 2
    assert result.stderr.startswith("scrapy crawl: bad setting LOG_FILE=")
    assert "expected a file in an existing directory (also NEWSWATCH_LOG_FILE)" in result.stderr


# --------------------------------------------------------------------------- the summary in words


@pytest.mark.parametrize(("seconds", "shown"), [(4.4, "4 s"), (130, "2 min 10 s"), (3900, "1 h 5 min")])
def test_durations(seconds, shown):
    assert duration(seconds) == shown


def test_the_summary_counts_in_words():
    stats = {"requests": 90, "articles_seen": 60, "not_modified": 3, "articles_gone": 1, "fetch_failed": 1}

    summary = run_summary(3, "complete", 130, stats, baseline=False,
                          changes={"added": 0, "edited": 5, "removed": 2, "restored": 0}, digests=3)

    assert summary == ("run 3 complete in 2 min 10 s: 90 requests, 64 articles, 5 edited, 2 removed, 1 failed fetch; "
                       "3 digests queued")


def test_the_summary_says_when_detection_failed_or_did_not_run():
    stats = {"requests": 9, "articles_seen": 6}

    failed = run_summary(4, "complete", 9, stats, baseline=False, changes={"added": 1}, detect_failed=True)
    without = run_summary(4, "complete", 9, stats, baseline=False)

    assert failed == "run 4 complete in 9 s: 9 requests, 6 articles, changes not detected " \
                     "(`newswatch detect --run 4` retries)"
    assert without == "run 4 complete in 9 s: 9 requests, 6 articles"


# --------------------------------------------------------------------------- the progress line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_is_redrawn_in_place_and_cleared_before_a_log_line():
    crawler = get_crawler()
    terminal = Terminal()
    progress = Progress(crawler.stats, terminal)
    progress.run_started(Run(id=3, site="icesco", engine=None, known=dict.fromkeys(("a", "b", "c", "d"))))
    for key, value in {"articles_seen": 2, "not_modified": 1, "articles_new": 1, "fetch_failed": 1}.items():
        crawler.stats.set_value(f"newswatch/{key}", value)
    handler = logging.StreamHandler(terminal)
    handler.addFilter(progress.clearing)
    logger = logging.getLogger("test_output.progress")
    logger.addHandler(handler)
    try:
        progress.draw()
        logger.warning("a warning")
        progress.draw()
        progress.clear()
    finally:
        logger.removeHandler(handler)

    drawn = terminal.getvalue()
    line = "run 3: 3 articles checked (4 known), 1 new, 1 failed, "
    assert drawn.startswith("\r\x1b[K" + line)
    assert "\r\x1b[Ka warning\n\r\x1b[K" + line in drawn  # the line is erased, the warning written, the line again
    assert drawn.endswith("\r\x1b[K")  # gone before the summary


def test_the_progress_line_is_off_without_a_terminal():
    from scrapy.exceptions import NotConfigured

    assert not sys.stderr.isatty()  # as under pytest's capture, a pipe or a log file
    with pytest.raises(NotConfigured):
        Progress.from_crawler(get_crawler())


def test_scrapys_detail_is_logged_at_debug():
    record = logging.LogRecord("scrapy.crawler", logging.INFO, __file__, 1, "Overridden settings:\n%(s)s",
                               ({"s": "{}"},), None)
    other = logging.LogRecord("scrapy.crawler", logging.INFO, __file__, 1, "Received %(signame)s, shutting down",
                              ({"signame": "SIGINT"},), None)

    AtDebug(("Overridden settings",)).filter(record)
    AtDebug(("Overridden settings",)).filter(other)

    assert (record.levelno, record.levelname) == (logging.DEBUG, "DEBUG")
    assert other.levelno == logging.INFO  # Ctrl-C's acknowledgement stays in view
