"""The web view: changes, runs, article histories and diffs, search, the Atom feed, and the
subscription pages (double opt-in, preferences, one-click unsubscribe). Read-only but for
those, which act only with a token.

`create_app(settings)` is the WSGI application (Flask); `newswatch serve` runs it under gunicorn
(monitor.web.server). Its pages: monitor.web.pages, monitor.web.subscriptions, monitor.web.feed.
"""

from __future__ import annotations

from monitor.web.app import create_app
from monitor.web.context import WebSettings

__all__ = ["WebSettings", "create_app"]
