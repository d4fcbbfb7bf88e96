"""The `newswatch` command line, driven as a user would: output, JSON contracts, clear errors."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from crawler.sites import ICESCO
from crawler.urls import canonicalize
from monitor.cli import main
from monitor.detect import detect_run
from storage import repository
from storage import runs as crawl_runs
from storage.changes import count_kinds
from storage.db import make_engine, migrate

REPO = Path(__file__).resolve().parents[1]
ARTICLE = next((REPO / "fixtures/site/v1/ar").rglob("expected.json"))


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_extract_json_has_the_contract_keys_and_the_golden_content():
    golden = json.loads(ARTICLE.read_text("utf-8"))
    url = "https://icesco.org" + golden["path"]

    result = run("extract", str(ARTICLE.with_name("index.html")), "--url", url, "--json")

    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert list(record) == ["url", "language", "title", "published", "paragraphs", "text"]
    assert record["language"] == "ar" and record["title"] == golden["title"]
    assert record["published"] == golden["published"]
    assert record["paragraphs"] == golden["paragraphs"]
    assert record["text"] == "\n\n".join(golden["paragraphs"])


def test_extract_of_a_file_without_url_says_what_is_missing():
    result = CliRunner().invoke(main, ["extract", str(ARTICLE.with_name("index.html"))])
    assert result.exit_code == 2
    assert "--url" in result.output


def test_extract_of_a_missing_file_fails_clearly():
    result = CliRunner().invoke(main, ["extract", "no/such/page.html", "--url", "https://icesco.org/en/2022/09/15/x/"])
    assert result.exit_code == 1
    assert "no such file: no/such/page.html" in result.output


def test_extract_of_a_page_without_article_fails_clearly(tmp_path):
    page = tmp_path / "maintenance.html"
    page.write_text("<html><body><h1>Briefly unavailable for scheduled maintenance. Check back in a minute.</h1>"
                    "</body></html>")
    result = CliRunner().invoke(main, ["extract", str(page), "--url", "https://icesco.org/en/2022/09/15/x/"])
    assert result.exit_code == 1
    assert "no article in" in result.output


def test_articles_and_runs_after_a_crawl(engine, shared_crawls):
    shared_crawls(engine, "v1")
    database = ["--database", engine.url.render_as_string(hide_password=False)]

    articles = json.loads(run("articles", "--json", *database).output)
    french = json.loads(run("articles", "--language", "fr", "--json", *database).output)
    runs = json.loads(run("runs", "--json", *database).output)
    table = run("articles", *database).output

    assert articles and all(set(a) == {"url", "language", "title", "published", "versions", "state"}
                            for a in articles)
    assert french and {a["language"] for a in french} == {"fr"} and len(french) < len(articles)
    assert [r["status"] for r in runs] == ["complete"]
    assert set(runs[0]) == {"id", "site", "status", "started_at", "finished_at", "is_baseline", "stats", "reason",
                            "hold", "hold_reason", "hold_evidence"}
    assert runs[0]["reason"] is None
    assert runs[0]["stats"]["items"] == len(articles) == runs[0]["stats"]["versions_written"]
    assert runs[0]["stats"]["requests"] > len(articles)
    assert french[0]["title"][:40] in table


def test_reading_a_database_that_does_not_exist_fails_clearly(tmp_path):
    result = CliRunner().invoke(main, ["articles", "--database", f"sqlite:///{tmp_path}/none.db"])
    assert result.exit_code == 1
    assert "no database at" in result.output
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(("url", "message"), [
    ("not a url", "'not a url' is not a database URL: use sqlite:///PATH or postgresql+psycopg://"),
    ("mysql://x/y", "the driver of mysql is not installed (MySQLdb): use sqlite:///PATH or postgresql+psycopg://"),
    ("oracle+nosuch://x/y", "'oracle+nosuch' is not a database newswatch knows"),
    ("sqlite:////nonexistent/dir/x.db", "no directory /nonexistent/dir for the SQLite file: use sqlite:///PATH"),
])
def test_a_bad_database_url_is_one_line_naming_the_setting(url, message):
    result = CliRunner().invoke(main, ["runs", "--database", url])
    from_env = CliRunner().invoke(main, ["changes"], env={"NEWSWATCH_DATABASE_URL": url})

    for outcome in (result, from_env):
        assert outcome.exit_code == 2 and "Traceback" not in outcome.output
        (error,) = [line for line in outcome.output.splitlines() if line.startswith("Error")]
        assert error.startswith("Error: Invalid value for '--database' (env var: 'NEWSWATCH_DATABASE_URL'): ")
        assert message in error


def test_demo_crawls_the_fixture_mirror_and_reports_what_it_stored(tmp_path):
    with socket.socket() as probe:  # a free port, the same for both runs: URLs are identities
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    command = [sys.executable, "-m", "monitor", "demo", "--port", port, "--database", f"sqlite:///{tmp_path}/demo.db"]

    first = subprocess.run(command, capture_output=True, text=True, timeout=300)
    second = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert first.returncode == 0, first.stderr[-3000:]
    expected = {lang: len(list((REPO / "fixtures/site/v1" / lang).rglob("expected.json"))) for lang in ("ar", "en", "fr")}
    stored = ", ".join(f"{n} {lang}" for lang, n in expected.items())
    assert f"{sum(expected.values())} new versions written. Stored: {stored}." in first.stdout
    assert f"0 new versions written. Stored: {stored}." in second.stdout


def test_demo_refuses_a_bad_crawl_setting_before_anything_starts(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--port", "9", "--database", f"sqlite:///{tmp_path}/demo.db"],
                                env={"NEWSWATCH_EXTRACT_WORKERS": "abc"})

    assert result.exit_code == 2 and "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert error == ("Error: the demo's crawl would fail: bad setting NEWSWATCH_EXTRACT_WORKERS='abc': expected a whole "
                     "number of worker processes, 0 or more (0: extraction in the crawl's own process)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["articles", "--language"], "requires an argument"),
    (["articles", "--language", "de"], "'de' is not one of"),
    (["frobnicate"], "No such command"),
])
def test_bad_arguments_exit_non_zero_with_a_clear_message(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


# --------------------------------------------------------------------------- start-up


def loaded_packages(code: str) -> set[str]:
    """The top-level packages a fresh interpreter holds in sys.modules once it has run `code`."""
    script = f"{code}\nimport json, sys; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_loading_the_command_line_imports_no_crawler_and_no_database_library():
    assert loaded_packages("import monitor.cli") & {"scrapy", "trafilatura", "twisted", "sqlalchemy"} == set()


@pytest.mark.parametrize("command", [["runs"], ["changes", "--since", "2000-01-01"], ["articles"]])
def test_reading_commands_import_neither_scrapy_nor_trafilatura(tmp_path, command):
    database = f"sqlite:///{tmp_path / 'newswatch.db'}"
    migrate(make_engine(database))
    code = f"from monitor.cli import main; main({[*command, '--database', database]!r}, standalone_mode=False)"

    loaded = loaded_packages(code)

    assert "sqlalchemy" in loaded  # the command did run
    assert loaded & {"scrapy", "trafilatura", "twisted"} == set()


# --------------------------------------------------------------------------- reading stored articles

ARABIC_PATH = "/ar/2025/08/13/الإيسيسكو-تطلق-برنامجا-للشباب/"  # as `changes` prints it: raw Arabic
NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
FIRST = ("The first paragraph stays.", "The old second paragraph.")
SECOND = ("The first paragraph stays.", "The new second paragraph.")


@pytest.fixture
def two_versions(engine) -> list[str]:
    """An Arabic release stored in two versions (two runs); the --database option to read it."""
    url = canonicalize("https://icesco.org" + ARABIC_PATH, ICESCO, ICESCO.origin)
    with Session(engine) as session, session.begin():
        for paragraphs in (FIRST, SECOND):
            run = crawl_runs.start_run(session, ICESCO.name)
            repository.record_article(session, run.id, url=url, site=ICESCO.name, language="ar",
                                      title="الإيسيسكو تطلق برنامجا للشباب", published=dt.date(2025, 8, 13),
                                      paragraphs=paragraphs, fetched_at=NOW)
            crawl_runs.finish_run(session, run.id, "complete", {})
    return ["--database", engine.url.render_as_string(hide_password=False)]


def test_history_and_diff_take_the_url_as_changes_prints_it(two_versions):
    history = run("history", "https://icesco.org" + ARABIC_PATH, "--json", *two_versions)
    diff = run("diff", "https://icesco.org" + ARABIC_PATH, *two_versions)

    assert [version["version"] for version in json.loads(history.output)] == [1, 2]
    assert diff.exit_code == 0 and "[-old-]{+new+}" in diff.output


def test_diff_color_forces_colour_even_through_a_pipe(two_versions):
    coloured = run("diff", "https://icesco.org" + ARABIC_PATH, "--color", *two_versions)
    plain = run("diff", "https://icesco.org" + ARABIC_PATH, "--no-color", *two_versions)
    default = run("diff", "https://icesco.org" + ARABIC_PATH, *two_versions)  # not a terminal: markers

    assert "\x1b[" in coloured.output and "old" in coloured.output and "[-" not in coloured.output
    assert "[-old-]{+new+}" in plain.output and "\x1b[" not in plain.output
    assert default.output == plain.output


def test_extract_fetches_a_url_written_in_raw_arabic(mirror):
    golden = json.loads(ARTICLE.read_text("utf-8"))
    url = mirror.base_url + golden["path"]  # not percent-encoded, as `changes` and `articles` print it

    result = run("extract", url, "--json")

    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["title"] == golden["title"] and record["paragraphs"] == golden["paragraphs"]


# --------------------------------------------------------------------------- runs and their reasons


def closed_runs(engine) -> tuple[list[str], list[int]]:
    """A baseline with two articles, a failed run, an incomplete one, and one closed before reasons were kept:
    the --database option, and their ids."""
    ids = []
    with Session(engine) as session, session.begin():
        baseline = crawl_runs.start_run(session, ICESCO.name)
        for slug in ("one", "two"):
            repository.record_article(session, baseline.id, url=f"https://icesco.org/en/2025/08/13/{slug}/",
                                      site=ICESCO.name, language="en", title=slug, published=dt.date(2025, 8, 13),
                                      paragraphs=FIRST, fetched_at=NOW)
        crawl_runs.finish_run(session, baseline.id, "complete", {"requests": 5})
        detect_run(session, baseline.id)
        ids.append(baseline.id)
        for status, stats, error in [
            ("failed", {}, "crawl exited with status 2: scrapy crawl: bad setting NEWSWATCH_MODE='foo': expected "
                           "incremental or full (also -a mode=...)"),
            ("incomplete", {"listing_failed": 3, "articles_seen": 40}, "3 listing pages failed"),
            ("incomplete", {"articles_seen": 93, "fetch_failed": 7}, None),  # closed before reasons were kept
        ]:
            run = crawl_runs.start_run(session, ICESCO.name)
            crawl_runs.finish_run(session, run.id, status, stats, error=error)
            ids.append(run.id)
    return ["--database", engine.url.render_as_string(hide_password=False)], ids


def test_runs_say_why_a_run_failed_or_is_incomplete(engine):
    database, (baseline, failed, incomplete, older) = closed_runs(engine)

    listed = json.loads(run("runs", "--json", *database).output)
    table = run("runs", "--wide", *database).output.splitlines()

    assert [(r["id"], r["status"], r["is_baseline"], r["reason"]) for r in listed] == [
        (older, "incomplete", False, "7% of article fetches failed (7 of 100)"),
        (incomplete, "incomplete", False, "3 listing pages failed"),
        (failed, "failed", False, "crawl exited with status 2: scrapy crawl: bad setting NEWSWATCH_MODE='foo': "
                                  "expected incremental or full (also -a mode=...)"),
        (baseline, "complete", True, None),
    ]
    assert table[0].split() == ["id", "status", "started", "finished", "requests", "items", "new", "versions",
                                "reason"]
    assert table[2].endswith("  7% of article fetches failed (7 of 100)")
    assert table[4].endswith("  crawl exited with status 2: scrapy crawl: bad setting NEWSWATCH_MODE='foo': expected "
                             "incremental or full (also -a mode=...)")
    assert table[5].split()[:3] == [str(baseline), "complete", "(baseline)"]


def test_a_runs_changes_are_counted_by_kind(engine):
    _, (baseline, failed, _, _) = closed_runs(engine)

    with Session(engine) as session:
        assert count_kinds(session, baseline) == {"added": 2, "edited": 0, "removed": 0, "restored": 0}
        assert count_kinds(session, failed) == dict.fromkeys(("added", "edited", "removed", "restored"), 0)


def test_an_empty_baseline_run_says_where_its_articles_are(engine):
    database, (baseline, _, incomplete, _) = closed_runs(engine)

    empty = run("changes", "--run", str(baseline), *database)
    shown = run("changes", "--run", str(baseline), "--baseline", "--json", *database)

    assert empty.output.splitlines() == [
        "(none)",
        f"run {baseline} is the baseline: 2 articles recorded as added, never reported; "
        f"`newswatch changes --run {baseline} --baseline` lists them",
    ]
    assert [change["kind"] for change in json.loads(shown.output)] == ["added", "added"]
    assert run("changes", "--run", str(incomplete), *database).output == "(none)\n"  # not a baseline: nothing to add


# --------------------------------------------------------------------------- tables that fit the terminal

LONG_TITLE = "ICESCO and its partners launch a programme " + "for the young " * 10 + "of the Islamic world"


def long_titled(engine) -> list[str]:
    with Session(engine) as session, session.begin():
        run_ = crawl_runs.start_run(session, ICESCO.name)
        for slug in ("programme", "other"):
            repository.record_article(session, run_.id, url=f"https://icesco.org/en/2025/08/13/{slug}/",
                                      site=ICESCO.name, language="en", title=LONG_TITLE, published=dt.date(2025, 8, 13),
                                      paragraphs=FIRST, fetched_at=NOW)
        crawl_runs.finish_run(session, run_.id, "complete", {})
    return ["--database", engine.url.render_as_string(hide_password=False)]


def test_tables_fit_the_terminal_with_urls_whole_at_the_end(engine):
    database = long_titled(engine)

    narrow = CliRunner().invoke(main, ["articles", *database], env={"COLUMNS": "120"}).output.splitlines()
    wide = CliRunner().invoke(main, ["articles", "--wide", *database], env={"COLUMNS": "120"}).output.splitlines()
    piped = CliRunner().invoke(main, ["articles", *database]).output.splitlines()  # not a terminal: whole

    assert all(len(line) <= 120 for line in narrow)
    assert narrow[2].startswith("en        2025-08-13  1         live   ICESCO and its partners launch")
    assert "…  https://icesco.org/en/2025/08/13/" in narrow[2] and narrow[2].endswith("/other/")
    assert LONG_TITLE + "  https://icesco.org/en/2025/08/13/other/" in wide[2]
    assert piped == wide


def test_a_url_longer_than_the_terminal_stays_whole(engine):
    database = long_titled(engine)

    narrow = CliRunner().invoke(main, ["articles", *database], env={"COLUMNS": "60"}).output.splitlines()

    assert narrow[2].endswith("  https://icesco.org/en/2025/08/13/other/")
    assert len(narrow[2].rsplit("  ", 1)[0]) <= 60  # what comes before it fits


def test_history_prints_the_text_of_a_version(two_versions):
    url = "https://icesco.org" + ARABIC_PATH

    first = run("history", url, "--version", "1", *two_versions)
    second = run("history", url, "--version", "2", "--json", *two_versions)
    beyond = CliRunner().invoke(main, ["history", url, "--version", "3", *two_versions])

    assert first.output.splitlines()[0] == "الإيسيسكو تطلق برنامجا للشباب"
    assert first.output.splitlines()[1].startswith("2025-08-13 · version 1 of 2, run ")
    assert first.output.endswith("\n\n".join(FIRST) + "\n")
    assert json.loads(second.output)["paragraphs"] == list(SECOND)
    assert beyond.exit_code == 2 and "has 2 version(s): choose --version among 1..2" in beyond.output
