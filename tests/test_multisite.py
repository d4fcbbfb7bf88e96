"""Several sites in one database: the bundled ICESCO profile and an operator's profile from
NEWSWATCH_SITES_DIR, each crawled from a fixture mirror of its own, v1 then v2.

Each site's articles and changes stay its own (a release of one site is never a removal or a move
of the other), its digests go to its own subscribers, and the nightly job crawls every site even
when one of them fails.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crawler.sites import BUNDLED_DIR
from monitor.cli import main
from monitor.jobs import JobContext, nightly_crawl
from monitor.mirror import Mirror
from storage.models import Article, ArticleVersion, Change, CrawlRun, Subscriber
from tests.conftest import FAST, SNAPSHOTS, run_crawl
from tests.web_support import csrf_token, make_app

PARTNER_ORIGIN = "https://partner.example.org"
KEY = "multisite-test-secret-key-0123456789"


def partner_profile(folder: Path, name: str = "partner") -> Path:
    """An operator's profile of another organisation: ICESCO's words (the mirror is a copy of its
    pages), another name, origin and site name."""
    text = (BUNDLED_DIR / "icesco.toml").read_text("utf-8")
    text = text.replace('name = "icesco"', f'name = "{name}"').replace(
        'origin = "https://icesco.org"', f'origin = "{PARTNER_ORIGIN}"').replace(
        '"icesco.org", "www.icesco.org",', '"partner.example.org", "icesco.org", "www.icesco.org",').replace(
        'site_names = [\n', 'site_names = [\n    "Partner Agency",\n')
    path = folder / f"{name}.toml"
    path.write_text(text, "utf-8")
    return path


@pytest.fixture
def sites_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "sites"
    folder.mkdir()
    partner_profile(folder)
    monkeypatch.setenv("NEWSWATCH_SITES_DIR", str(folder))
    return folder


@pytest.fixture
def second_mirror() -> Mirror:
    with Mirror(SNAPSHOTS / "v1").running() as server:
        yield server


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def cli(engine: Engine, *args: str, **env: str):
    return CliRunner().invoke(main, [*args, "--database", url_of(engine)], env={"NEWSWATCH_SECRET_KEY": KEY, **env})


def crawl_site(site: str, mirror: Mirror, engine: Engine, snapshot: str, sites_dir: Path) -> None:
    mirror.snapshot = SNAPSHOTS / snapshot
    # Full mode: every release compared, so both sites see the same night whatever their rolling shares.
    run_crawl(mirror.base_url, url_of(engine), "-a", "mode=full", NEWSWATCH_SITE=site,
              NEWSWATCH_SITES_DIR=str(sites_dir))


def changes_by_site(engine: Engine) -> dict[str, Counter[tuple[str, str, str]]]:
    """Each site's changes (run's site, article's site, kind, path) outside baselines."""
    with Session(engine) as session:
        rows = session.execute(
            select(CrawlRun.site, Article.site, Change.kind, Article.canonical_url)
            .join(CrawlRun, CrawlRun.id == Change.run_id).join(Article, Article.id == Change.article_id)
            .where(Change.is_baseline.is_(False)))
        found: dict[str, Counter[tuple[str, str, str]]] = {}
        for run_site, article_site, kind, url in rows:
            path = url.split("/", 3)[3]
            found.setdefault(run_site, Counter())[(article_site, kind, path)] += 1
    return found


def test_two_sites_in_one_database_keep_their_articles_changes_and_subscribers(engine, mirror, second_mirror,
                                                                              sites_dir, tmp_path):
    for address, sites in (("icesco@example.org", ["--site", "icesco"]), ("partner@example.org", ["--site", "partner"]),
                           ("all@example.org", [])):
        result = cli(engine, "subscribers", "add", address, *sites)
        assert result.exit_code == 0, result.output
    listed = cli(engine, "subscribers", "list")
    assert [line.split()[:2] for line in listed.output.splitlines()[2:]] == [
        ["all@example.org", "all"], ["icesco@example.org", "icesco"], ["partner@example.org", "partner"]]

    crawl_site("icesco", mirror, engine, "v1", sites_dir)
    crawl_site("partner", second_mirror, engine, "v1", sites_dir)
    # The partner's next night comes first: ICESCO's releases, still at v1, are none of its business.
    crawl_site("partner", second_mirror, engine, "v2", sites_dir)
    after_partner = changes_by_site(engine)
    crawl_site("icesco", mirror, engine, "v2", sites_dir)

    with Session(engine) as session:
        articles = session.execute(select(Article.site, Article.canonical_url)).all()
    origins = {"icesco": "https://icesco.org/", "partner": PARTNER_ORIGIN + "/"}
    assert {site for site, _ in articles} == {"icesco", "partner"}
    assert all(url.startswith(origins[site]) for site, url in articles)
    per_site = Counter(site for site, _ in articles)
    assert per_site["icesco"] == per_site["partner"] > 20

    changes = changes_by_site(engine)
    assert set(after_partner) == {"partner"}  # the partner's v2 changed nothing of ICESCO's
    assert changes["partner"] == after_partner["partner"]
    for site, found in changes.items():
        assert {article_site for article_site, _, _ in found} == {site}  # a run's changes are of its own site
    same_night = {(kind, path) for _, kind, path in changes["icesco"]}
    assert same_night == {(kind, path) for _, kind, path in changes["partner"]}
    kinds = Counter(kind for _, kind, _ in changes["icesco"].elements())
    assert kinds["added"] and kinds["edited"] and kinds["removed"]  # v2 has them all: a real night on each site

    listing = cli(engine, "changes", "--since", "2000-01-01", "--site", "partner", "--json")
    assert listing.exit_code == 0, listing.output
    assert '"site": "icesco"' not in listing.output and '"site": "partner"' in listing.output
    table = cli(engine, "changes", "--since", "2000-01-01")
    assert table.output.splitlines()[0].split()[:3] == ["run", "site", "kind"]
    runs = cli(engine, "runs", "--site", "icesco")
    assert runs.exit_code == 0 and len(runs.output.splitlines()) == 2 + 2  # header, rule, two runs

    outbox = tmp_path / "outbox"
    sent = cli(engine, "notify", NEWSWATCH_OUTBOX_DIR=str(outbox), NEWSWATCH_SMTP_HOST="")
    assert sent.exit_code == 0, sent.output
    mailed: dict[str, list[str]] = {}
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        mailed.setdefault(str(message["To"]), []).append(str(message["Subject"]))
    assert [subject.split(" news:")[0] for subject in mailed["partner@example.org"]] == ["Partner Agency"]
    assert [subject.split(" news:")[0] for subject in mailed["icesco@example.org"]] == ["ICESCO"]
    assert sorted(subject.split(" news:")[0] for subject in mailed["all@example.org"]) == ["ICESCO", "Partner Agency"]


def test_the_nightly_job_crawls_every_site_even_when_one_fails(engine, mirror, sites_dir, monkeypatch, tmp_path):
    listed = CliRunner().invoke(main, ["schedule", "--list", "--database", url_of(engine)])
    assert "Each night crawls, one after the other: icesco, partner (every configured site profile)." in listed.output
    # The operator breaks a file after the scheduler started: the other sites are crawled all the same.
    (sites_dir / "broken.toml").write_text('name = "broken"\norigin = "nowhere"\n', "utf-8")
    monkeypatch.setenv("NEWSWATCH_SITE_URL", mirror.base_url)
    crawl = (sys.executable, "-m", "scrapy", "crawl", "news", *(a for k, v in FAST.items() for a in ("-s", f"{k}={v}")))
    tally = tmp_path / "notified"
    notify = (sys.executable, "-c", f"open({str(tally)!r}, 'a').write('notify\\n')")
    context = JobContext(url_of(engine))  # every configured site: icesco, partner, and the broken one

    report = nightly_crawl(crawl, notify, context=context)

    by_site = {night.site: night for night in report.sites}
    assert list(by_site) == ["icesco", "partner", "broken"]
    assert by_site["icesco"].status == by_site["partner"].status == "complete"
    assert by_site["broken"].status == "failed"
    assert "bad site profile: " in by_site["broken"].error and "broken.toml: " in by_site["broken"].error
    assert "origin: expected scheme://host" in by_site["broken"].error
    with Session(engine) as session:
        runs = session.execute(select(CrawlRun.site, CrawlRun.status).order_by(CrawlRun.id)).all()
        articles = Counter(session.scalars(select(Article.site)))
    assert runs == [("icesco", "complete"), ("partner", "complete"), ("broken", "failed")]
    assert articles["icesco"] == articles["partner"] > 20
    assert tally.read_text() == "notify\n"  # once, after every site


def test_the_broken_site_fails_alone_when_it_comes_first(engine, mirror, sites_dir, monkeypatch):
    (sites_dir / "broken.toml").write_text("name broken\n", "utf-8")
    monkeypatch.setenv("NEWSWATCH_SITE_URL", mirror.base_url)
    crawl = (sys.executable, "-m", "scrapy", "crawl", "news", *(a for k, v in FAST.items() for a in ("-s", f"{k}={v}")))

    report = nightly_crawl(crawl, (sys.executable, "-c", "pass"),
                           context=JobContext(url_of(engine), sites=("broken", "partner")))

    assert [(night.site, night.status) for night in report.sites] == [("broken", "failed"), ("partner", "complete")]
    assert report.sites[0].error.startswith("crawl exited with status 2: scrapy crawl: bad site profile: ")


# --------------------------------------------------------------------------- the web view


def two_sites_night(engine: Engine) -> None:
    """One complete run of each site, each editing one release of its own."""
    t0 = dt.datetime(2026, 5, 2, 3, 0, tzinfo=dt.UTC)
    with Session(engine) as session, session.begin():
        for site, origin, title in (("icesco", "https://icesco.org", "ICESCO forum"),
                                    ("partner", PARTNER_ORIGIN, "Partner forum")):
            run = CrawlRun(site=site, started_at=t0, finished_at=t0, status="complete", stats={})
            session.add(run)
            session.flush()
            article = Article(site=site, canonical_url=f"{origin}/en/2026/05/01/forum/", language="en",
                              first_seen_run_id=run.id, last_seen_run_id=run.id, state="live")
            session.add(article)
            session.flush()
            versions = [ArticleVersion(article_id=article.id, run_id=run.id, fetched_at=t0, content_hash=h, title=title,
                                       published=dt.date(2026, 5, 1), text=text, paragraphs=[text])
                        for h, text in (("a", "It gathered 150."), ("b", "It gathered 200."))]
            session.add_all(versions)
            session.flush()
            article.current_version_id = versions[1].id
            session.add(Change(run_id=run.id, article_id=article.id, kind="edited", fields=["text"],
                               old_version_id=versions[0].id, new_version_id=versions[1].id, summary="150 → 200"))


def test_the_web_view_names_filters_and_subscribes_to_sites(engine, sites_dir, tmp_path):
    two_sites_night(engine)
    outbox = tmp_path / "outbox"
    client = make_app(engine, outbox).test_client()

    both = client.get("/").get_data(as_text=True)
    assert "ICESCO forum" in both and "Partner forum" in both and "Partner Agency" in both
    only = client.get("/?site=partner").get_data(as_text=True)
    assert "Partner forum" in only and "ICESCO forum" not in only
    feed = client.get("/feed.atom?site=partner").get_data(as_text=True)
    assert "Partner forum" in feed and "ICESCO forum" not in feed and 'term="site:partner"' in feed

    form = client.get("/subscribe").get_data(as_text=True)
    assert 'name="sites" value="icesco"' in form and 'name="sites" value="partner"' in form
    posted = client.post("/subscribe", data={"csrf_token": csrf_token(client, "/subscribe"), "email": "b@example.org",
                                             "languages": ["en"], "kinds": ["edited"], "sites": ["partner"],
                                             "locale": "en"})
    assert posted.status_code == 200
    [mail] = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in outbox.glob("*.eml")]
    link = re.search(r"http://news\.example\.org(/subscribe/confirm/[\w.-]+)", mail.get_content()).group(1)
    assert "Sites: Partner Agency" in client.get(link).get_data(as_text=True)
    assert client.post(link, data={"csrf_token": csrf_token(client, link)}).status_code == 200
    with Session(engine) as session:
        (subscriber,) = session.scalars(select(Subscriber))
        assert subscriber.sites == ["partner"]


def test_a_crawl_past_its_timeout_or_failing_never_keeps_the_next_site_from_its_night(engine):
    # One command for every site, as the scheduler runs it; what it does depends on the site it is given.
    by_site = ("import os, sys, time; site = os.environ['NEWSWATCH_SITE']; "
               "print(f'{site} ran', file=sys.stderr, flush=True); "
               "time.sleep(60) if site == 'slow' else sys.exit(3 if site == 'down' else 0)")
    context = JobContext(url_of(engine), crawl_timeout=1, sites=("slow", "down", "last"))

    report = nightly_crawl((sys.executable, "-c", by_site), (sys.executable, "-c", "pass"), context=context)

    assert [(night.site, night.status) for night in report.sites] == [
        ("slow", "failed"), ("down", "failed"), ("last", "failed")]
    errors = [night.error for night in report.sites]
    assert errors[0].startswith("timeout: the crawl ran longer than NEWSWATCH_CRAWL_TIMEOUT (1 s) and was killed")
    assert errors[1] == "crawl exited with status 3: down ran"
    assert errors[2] == "crawl exited without recording a run"
    with Session(engine) as session:
        assert session.execute(select(CrawlRun.site, CrawlRun.status).order_by(CrawlRun.id)).all() == [
            ("slow", "failed"), ("down", "failed"), ("last", "failed")]
