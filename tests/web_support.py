"""What the web tests share: a database crawled from the fixture mirror (v1, then v2), the app over
it, and helpers to read forms the way a browser would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine

from monitor.mail.settings import MailSettings
from monitor.mirror import Mirror
from monitor.web import WebSettings, create_app

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "fixtures" / "site"
KEY = b"web-test-key-0123456789-0123456789-0123"
PUBLIC_URL = "http://news.example.org"
FAST = {"AUTOTHROTTLE_ENABLED": "False", "DOWNLOAD_DELAY": "0", "RETRY_TIMES": "1", "LOG_LEVEL": "WARNING"}


def crawl_snapshots(mirror: Mirror, database_url: str, *snapshots: str) -> None:
    """Crawl each snapshot of the fixture mirror in turn into the database (a full run each)."""
    for snapshot in snapshots:
        mirror.snapshot = SNAPSHOTS / snapshot
        command = [sys.executable, "-m", "scrapy", "crawl", "news", "-a", "mode=full"]
        for name, value in {**FAST, "NEWSWATCH_SITE_URL": mirror.base_url, "NEWSWATCH_DATABASE_URL": database_url}.items():
            command += ["-s", f"{name}={value}"]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]


def make_app(engine: Engine, outbox: Path, **changes: object):
    settings = WebSettings(database_url=engine.url.render_as_string(hide_password=False), public_url=PUBLIC_URL,
                           secret_key=KEY, mail=MailSettings(public_url=PUBLIC_URL, outbox_dir=outbox), proxies=0,
                           **changes)  # type: ignore[arg-type]
    app = create_app(settings, engine)
    app.config["TESTING"] = True
    return app


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on the page at `path` (the client keeps the session cookie)."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, f"no CSRF token in the form of {path}"
    return found.group(1)
