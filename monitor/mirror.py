"""Serve a static snapshot of a site on 127.0.0.1: the fixture mirror for the demo, tests and bench.

A snapshot is a folder whose files mirror URL paths (`/en/2022/09/15/slug/` is
`en/2022/09/15/slug/index.html`; Arabic segments stored unquoted). An optional
`rules.json` in the snapshot gives status codes by path, so a snapshot can model
removals (404/410), moves (301) and outages (500/503, maintenance pages). An optional
`snapshot.json` `{"base": "v2"}` serves a sibling snapshot's files under this one's rules,
so a night that differs only by faults holds no copy of the pages.

`MirrorHandler` answers the requests; a subclass passed as `handler` can answer some of them
otherwise (the fault suite's mirror does) and hand the rest to `respond`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# A fixed date for every page: a snapshot does not change while it is served.
LAST_MODIFIED = formatdate(1_600_000_000, usegmt=True)


class Mirror(ThreadingHTTPServer):
    """A threaded HTTP server over one snapshot folder; `snapshot` may be switched while it runs."""

    daemon_threads = True

    def __init__(self, snapshot: Path, port: int = 0, handler: type[MirrorHandler] | None = None) -> None:
        super().__init__(("127.0.0.1", port), handler or MirrorHandler)
        self.snapshot = Path(snapshot)
        self.requests: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[Mirror]:
        """Serve in a background thread for the duration of the block, then close."""
        thread = threading.Thread(target=self.serve_forever, name="mirror", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()
            thread.join()

    def rules(self) -> dict[str, dict[str, Any]]:
        path = self.snapshot / "rules.json"
        return json.loads(path.read_text("utf-8")) if path.exists() else {}


class MirrorHandler(BaseHTTPRequestHandler):
    """Serves the mirror's snapshot: its files, under the status rules of its `rules.json`."""

    server: Mirror
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms wait for an ACK

    def do_HEAD(self) -> None:
        self.respond(send_body=False)

    def do_GET(self) -> None:
        self.respond(send_body=True)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def respond(self, send_body: bool) -> None:
        """Answer the request from the snapshot (logged in `server.requests`)."""
        path = unquote(urlsplit(self.path).path)
        self.server.requests.append(path)
        rule = self.server.rules().get(path) or self.server.rules().get(path.rstrip("/") + "/")
        if rule and rule.get("status", 200) != 200:
            self._send_rule(rule, send_body)
            return
        file = self.file_for(path)
        if file is None:
            if not path.endswith("/") and self.file_for(path + "/"):
                self.send(HTTPStatus.MOVED_PERMANENTLY, b"", headers={"Location": self.path.split("?")[0] + "/"},
                          send_body=send_body)
            else:
                self.send(HTTPStatus.NOT_FOUND, b"<html><body><h1>Page not found</h1></body></html>",
                          send_body=send_body)
            return
        body = (self.server.snapshot / rule["body"]).read_bytes() if rule and "body" in rule else file.read_bytes()
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        if self.headers.get("If-None-Match", etag) == etag and (
            "If-None-Match" in self.headers or self.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            self.send(HTTPStatus.NOT_MODIFIED, b"", headers={"ETag": etag}, send_body=False)
            return
        self.send(HTTPStatus.OK, body, headers={"ETag": etag, "Last-Modified": LAST_MODIFIED},
                  content_type=_content_type(file), send_body=send_body)

    def _send_rule(self, rule: dict[str, Any], send_body: bool) -> None:
        status = int(rule["status"])
        headers = {"Location": rule["location"]} if "location" in rule else {}
        body = (self.server.snapshot / rule["body"]).read_bytes() if "body" in rule else b""
        self.send(status, body, headers=headers, send_body=send_body)

    def file_for(self, path: str) -> Path | None:
        """The snapshot's file for the unquoted URL `path`, or None."""
        for layer in layers(self.server.snapshot):
            root = layer.resolve()
            candidate = (root / path.lstrip("/")).resolve()
            if candidate != root and root not in candidate.parents:
                return None  # a path that climbs out of the snapshot
            if path.endswith("/"):
                candidate = candidate / "index.html"
            if candidate.is_file():
                return candidate
        return None

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
             content_type: str = "text/html; charset=utf-8", send_body: bool = True) -> None:
        """Send a whole response, its Content-Length that of `body`."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body and status != HTTPStatus.NOT_MODIFIED:
            self.wfile.write(body)


def layers(snapshot: Path) -> list[Path]:
    """The folders a snapshot's files come from, the snapshot itself first, then its bases."""
    snapshot = Path(snapshot)
    manifest = snapshot / "snapshot.json"
    base = json.loads(manifest.read_text("utf-8")).get("base") if manifest.exists() else None
    return [snapshot, *layers(snapshot.parent / base)] if base else [snapshot]


def _content_type(file: Path) -> str:
    return {".txt": "text/plain; charset=utf-8", ".xml": "application/xml",
            ".json": "application/json"}.get(file.suffix, "text/html; charset=utf-8")


def serve(snapshot: Path, port: int = 0) -> contextlib.AbstractContextManager[Mirror]:
    """Serve `snapshot` on 127.0.0.1 (port 0: any free port) for the duration of a `with` block."""
    return Mirror(snapshot, port).running()
