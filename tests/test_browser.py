"""In a real browser (Debian's chromium driven by Playwright): a new user's evening. The fixture mirror
is crawled (v1, then v2), a digest is written, `newswatch serve` runs; the browser reads the changes,
opens a diff, follows the digest's link, unsubscribes, and the layout of English and Arabic pages is
checked from their screenshots' boxes (right to left in Arabic), not their pixels.

With NEWSWATCH_SCREENSHOTS=docs/screenshots the README's two screenshots are saved there.
"""

from __future__ import annotations

import email
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from pathlib import Path

import pytest

from monitor.mirror import Mirror
from tests.web_support import REPO, crawl_snapshots

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
KEY = "browser-test-key-0123456789-0123456789-0123"

if not Path(CHROMIUM).exists():
    pytest.skip(f"no browser at {CHROMIUM}: apt-get install chromium (.ci/run does)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is installed with the test extras")


@dataclass(frozen=True)
class Site:
    base: str
    outbox: Path
    environment: dict[str, str]


def newswatch(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "monitor", *args], cwd=REPO, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def site(mirror_server: Mirror, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The fixture mirror crawled twice, two subscribers' digests written as .eml files, the web view served."""
    folder = tmp_path_factory.mktemp("browser")
    with socket.socket() as probe:  # a free port for the web view
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "NEWSWATCH_DATABASE_URL": f"sqlite:///{folder / 'newswatch.db'}",
                   "NEWSWATCH_SECRET_KEY": KEY, "NEWSWATCH_PUBLIC_URL": base, "NEWSWATCH_OUTBOX_DIR": str(folder / "outbox")}
    crawl_snapshots(mirror_server, environment["NEWSWATCH_DATABASE_URL"], "v1")
    newswatch("subscribers", "add", "jane@example.org", "--languages", "en,ar", environment=environment)
    newswatch("subscribers", "add", "omar@example.org", "--languages", "ar", environment=environment)
    crawl_snapshots(mirror_server, environment["NEWSWATCH_DATABASE_URL"], "v2")
    mirror_server.snapshot = mirror_server.snapshot.parent / "v1"
    newswatch("notify", environment=environment)
    server = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--port", str(port), "--workers", "1"],
                              cwd=REPO, env=environment, stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stderr:  # gunicorn says when its socket listens (requests queue from then on)
            if "Listening at" in line:
                break
        else:
            pytest.fail(f"newswatch serve did not start (exit status {server.wait()})")
        yield Site(base, folder / "outbox", environment)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 700}, locale="en-GB")
    tab = context.new_page()
    tab.console_messages = []
    tab.on("console", lambda message: tab.console_messages.append(message.text))
    yield tab
    context.close()


def digests(site: Site) -> dict[str, email.message.EmailMessage]:
    messages = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in site.outbox.glob("*.eml")]
    return {m["To"]: m for m in messages}


def screenshot(page, name: str, tmp_path: Path, *, for_readme: bool = False) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    if for_readme and (folder := os.environ.get("NEWSWATCH_SCREENSHOTS")):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)
    assert path.stat().st_size > 5000  # something was drawn
    return path


def text_box(page, selector: str) -> dict[str, float]:
    """The box of the text inside `selector` (not of its block), and of the page's main column."""
    return page.evaluate("""selector => {
        const element = document.querySelector(selector);
        const range = document.createRange();
        range.selectNodeContents(element);
        const text = range.getBoundingClientRect();
        const column = element.getBoundingClientRect();
        return {left: text.left - column.left, right: column.right - text.right, width: text.width};
    }""", selector)


# --------------------------------------------------------------------------- the evening of a new user


def test_the_changes_a_diff_and_the_feed(site, page, tmp_path):
    page.goto(site.base + "/")
    assert page.title().startswith("Changes")
    edited = page.locator("li.change", has=page.locator(".kind-edited")).filter(has_text="600 → 650")
    edited.locator("a.title").click()
    page.wait_for_url(re.compile(r"/changes/\d+/\d+$"))
    side = page.locator("table.side-by-side")
    assert side.is_visible()
    assert side.locator("del").first.inner_text() == "600" and side.locator("ins").first.inner_text() == "650"
    screenshot(page, "change-side-by-side", tmp_path, for_readme=True)
    page.get_by_role("link", name="Inline").click()
    assert page.locator("div.newswatch-diff del").first.inner_text() == "600"
    feed = page.request.get(site.base + "/feed.atom?language=fr&kinds=added,edited")
    assert feed.ok and feed.headers["content-type"].startswith("application/atom+xml")
    assert b"<entry>" in feed.body()
    assert not [m for m in page.console_messages if "Content Security Policy" in m]


def test_a_digest_link_opens_the_change_it_announces(site, page):
    jane = digests(site)["jane@example.org"]
    html = jane.get_body(("html",)).get_content()
    link = re.search(r'<a href="(' + re.escape(site.base) + r'/changes/\d+/\d+)"[^>]*>([^<]+)</a>', html)
    page.goto(link.group(1))
    assert page.locator("h1").first.inner_text().strip() == link.group(2).strip()
    assert page.locator("table.side-by-side, div.text").first.is_visible()


def test_unsubscribing_from_the_digest_link_and_with_one_click(site, page):
    jane, omar = digests(site)["jane@example.org"], digests(site)["omar@example.org"]
    jane_url = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", jane["List-Unsubscribe"]).group(1)
    omar_url = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", omar["List-Unsubscribe"]).group(1)

    page.goto(jane_url)  # what a person clicking the link sees: a confirm page
    page.get_by_role("button", name="Unsubscribe").click()
    assert "will receive no more digests" in page.locator("main").inner_text()
    one_click = page.request.post(omar_url, form={"List-Unsubscribe": "One-Click"})  # what a mail provider posts
    again = page.request.post(omar_url, form={"List-Unsubscribe": "One-Click"})
    assert one_click.status == 200 and again.status == 200

    listed = newswatch("subscribers", "list", "--json", environment=site.environment).stdout
    assert listed.count('"subscribed": false') == 2


def test_english_reads_left_to_right_and_arabic_right_to_left(site, page, tmp_path):
    page.goto(site.base + "/?language=ar&kind=edited")
    arabic_change = page.locator("li.change a.title").first.get_attribute("href")
    page.goto(site.base + "/?language=en&kind=edited")
    english_change = page.locator("li.change a.title").first.get_attribute("href")

    page.goto(site.base + english_change)
    english = text_box(page, "main h1")
    english_nav = page.locator("header .brand").bounding_box()
    screenshot(page, "change-en", tmp_path)
    page.goto(site.base + arabic_change + "?lang=ar")
    arabic = text_box(page, "main h1")
    arabic_nav = page.locator("header .brand").bounding_box()
    screenshot(page, "change-ar", tmp_path, for_readme=True)

    assert page.locator("html").get_attribute("dir") == "rtl"
    assert english["left"] < 2 and english["right"] > 50  # hugs the left edge
    assert arabic["right"] < 2 and arabic["left"] > 50  # hugs the right edge
    assert arabic_nav["x"] > 500 > english_nav["x"]  # the header is mirrored too
    cells = page.locator("table.side-by-side thead th")
    assert cells.nth(0).bounding_box()["x"] > cells.nth(1).bounding_box()["x"]  # "before" on the right in Arabic
