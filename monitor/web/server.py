"""`newswatch serve`'s server: the web view under gunicorn, through its documented custom-application
API (`gunicorn.app.base.BaseApplication`), so no gunicorn command line or config file is needed.

Each worker builds its own application (and so its own database engine) after the fork.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from monitor.web.app import create_app
from monitor.web.context import WebSettings


class WebServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type information
    """gunicorn serving `create_app(settings)` on host:port."""

    def __init__(self, settings: WebSettings, *, host: str, port: int, workers: int, options: dict[str, Any] | None = None):
        self.settings = settings
        self.options = {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "worker_class": "sync",
            "timeout": 30,
            "graceful_timeout": 10,
            "accesslog": "-",
            "errorlog": "-",
            "proc_name": "newswatch-web",
            # X-Forwarded-* are read by ProxyFix (monitor.web.app), from as many proxies as configured.
            "forwarded_allow_ips": "*" if settings.proxies else "127.0.0.1",
            **(options or {}),
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key.lower(), value)

    def load(self) -> Any:
        return create_app(self.settings)
