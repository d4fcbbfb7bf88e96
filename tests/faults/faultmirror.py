"""The fault mirror: the fixture snapshots served on 127.0.0.1 under a table of faults.

A `Fault` answers the requests whose unquoted path matches its pattern (after letting the
first `skip` of them through, for `times` of them or for good): with a status and headers, a
page cut short (its Content-Length consistent), a redirect, a huge or a gzip-bomb body, a 429
with Retry-After, a maintenance page; or it holds them at a gate, or answers late. Requests no
fault takes are answered from the snapshot by `monitor.mirror`. Every arrival is logged
(`FaultMirror.log`) and can be waited on, so a test acts at a chosen moment without sleeping.
"""

from __future__ import annotations

import functools
import html
import json
import re
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from monitor.mirror import Mirror, MirrorHandler

ARTICLE = r"/(en|fr|ar)/\d{4}/\d{2}/\d{2}/[^/]+/"
LISTING = r"/(en|fr|ar)/category/.+"
ROBOTS = r"/robots\.txt"
MAINTENANCE = Path(__file__).resolve().parents[2] / "fixtures" / "site" / "v3" / "maintenance.html"
# A held request waits at most this long for its gate: a test that forgot to open it ends anyway.
GATE_TIMEOUT = 120.0

Body = bytes | Callable[[Path | None], bytes]


@dataclass
class Fault:
    """How the mirror answers the requests matching `pattern` (a regular expression, matched whole).

    `status` None answers from the snapshot (after `delay` and `gate`); otherwise `status`,
    `headers` and `body` (bytes, or made from the page's snapshot file) are the answer.
    """

    pattern: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""
    delay: float = 0.0
    gate: threading.Event | None = None
    skip: int = 0
    times: int | None = None
    matched: int = 0

    def takes(self, path: str) -> bool:
        """Whether this fault answers this request (counting it)."""
        if not re.fullmatch(self.pattern, path):
            return False
        self.matched += 1
        n = self.matched - self.skip
        return n > 0 and (self.times is None or n <= self.times)


@dataclass(frozen=True)
class Hit:
    """One request as it arrived at the mirror."""

    path: str
    at: float  # time.monotonic()
    status: int | None  # the fault's status, None when answered from the snapshot


class FaultMirror(Mirror):
    """The fixture mirror with a table of faults (`faults`, first match wins) and a log to wait on."""

    # socketserver's backlog of 5 drops connections a crawl opens at once: their SYN is sent again
    # 1 s later, and a request sent before a fault's answer lands a second after it.
    request_queue_size = 128

    def __init__(self, snapshot: Path, port: int = 0) -> None:
        super().__init__(snapshot, port, handler=FaultHandler)
        self.faults: list[Fault] = []
        self.log: list[Hit] = []
        self.changed = threading.Condition()
        self.gates: list[threading.Event] = []  # every gate a request waited at: opened by `reset`

    def take(self, path: str) -> Fault | None:
        """Log the arrival of `path` and return the fault that answers it, if any."""
        with self.changed:
            fault = next((fault for fault in self.faults if fault.takes(path)), None)
            if fault is not None and fault.gate is not None:
                self.gates.append(fault.gate)
            self.log.append(Hit(path, time.monotonic(), fault.status if fault else None))
            self.changed.notify_all()
        return fault

    def hits(self, pattern: str = ".*") -> list[Hit]:
        with self.changed:
            return [hit for hit in self.log if re.fullmatch(pattern, hit.path)]

    def wait_for(self, pattern: str = ".*", count: int = 1, timeout: float = 60.0) -> None:
        """Return once `count` requests matching `pattern` have arrived; fail after `timeout` s."""
        with self.changed:
            arrived = self.changed.wait_for(
                lambda: sum(bool(re.fullmatch(pattern, hit.path)) for hit in self.log) >= count, timeout)
            if not arrived:
                raise AssertionError(f"the mirror did not get {count} requests for {pattern} within {timeout}s "
                                     f"(log: {[hit.path for hit in self.log][-10:]})")

    def reset(self, snapshot: Path) -> None:
        """A new test: `snapshot`, no fault, an empty log; the requests held at gates let go."""
        with self.changed:
            for gate in self.gates:
                gate.set()
            self.snapshot, self.faults, self.log, self.gates = snapshot, [], [], []
            self.requests.clear()

    def handle_error(self, request, client_address) -> None:
        """A client that hung up on a huge, slow or held answer is what the fault is about: no noise."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class FaultHandler(MirrorHandler):
    """Answers from the fault table first, else as the mirror does."""

    server: FaultMirror

    def respond(self, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        fault = self.server.take(path)
        if fault is None:
            super().respond(send_body)
            return
        if fault.gate is not None:
            fault.gate.wait(GATE_TIMEOUT)
        if fault.delay:
            time.sleep(fault.delay)  # the fault itself: a server that answers late
        if fault.status is None:
            super().respond(send_body)
            return
        body = fault.body(self.file_for(path)) if callable(fault.body) else fault.body
        self.send(fault.status, body, headers=fault.headers, send_body=send_body)


# --------------------------------------------------------------------------- the faults


def answer(pattern: str, status: int, body: Body = b"", **options) -> Fault:
    """Answer `status` (a 500, a site-wide 404, ...)."""
    return Fault(pattern, status=status, body=body, **options)


def redirect(pattern: str, location: str, status: int = 301, **options) -> Fault:
    """Redirect to `location` (the home page, a listing, ...)."""
    return Fault(pattern, status=status, headers={"Location": location}, **options)


def maintenance(pattern: str, **options) -> Fault:
    """A 200 maintenance page instead of the page."""
    return Fault(pattern, status=200, body=MAINTENANCE.read_bytes(), **options)


def too_many_requests(pattern: str, retry_after: int, times: int = 1, **options) -> Fault:
    """429 with Retry-After, the first `times` times."""
    return Fault(pattern, status=429, headers={"Retry-After": str(retry_after)}, times=times, **options)


def slow(pattern: str, seconds: float, **options) -> Fault:
    """The page, `seconds` late."""
    return Fault(pattern, delay=seconds, **options)


def held(pattern: str, gate: threading.Event, after: int = 0) -> Fault:
    """The page once `gate` is set; the first `after` matching requests pass at once."""
    return Fault(pattern, gate=gate, skip=after)


def cut(pattern: str, fraction: float, **options) -> Fault:
    """The article page cut short at `fraction` of its article text: a 200 whose body (and
    Content-Length) ends mid-text, as a connection cut by a proxy or a crashed PHP worker leaves it."""
    return Fault(pattern, status=200, body=lambda file: cut_article(file, fraction), **options)


def huge_article(pattern: str, megabytes: float, **options) -> Fault:
    """The article page with `megabytes` more of text pasted with hard line breaks (`<br>`),
    as old releases are: the shape whose extraction time grows with the square of its size."""
    return Fault(pattern, status=200, body=lambda file: _huge_article(file, megabytes), **options)


def huge(pattern: str, megabytes: int, **options) -> Fault:
    """A 200 page of `megabytes` MB."""
    return Fault(pattern, status=200, body=_huge(megabytes), **options)


def gzip_bomb(pattern: str, megabytes: int, **options) -> Fault:
    """`megabytes` MB of zeros, gzip-compressed (a thousandth of that on the wire)."""
    return Fault(pattern, status=200, headers={"Content-Encoding": "gzip"}, body=_zeros_gzipped(megabytes),
                 **options)


# --------------------------------------------------------------------------- bodies


def cut_article(file: Path | None, fraction: float) -> bytes:
    """The page of `file` cut at `fraction` of the way from its first article word to its last."""
    assert file is not None, "cut() applies to pages of the snapshot"
    page = file.read_text("utf-8")
    paragraphs = json.loads((file.parent / "expected.json").read_text("utf-8"))["paragraphs"]
    starts = _spans(page, _window(paragraphs[0], first=True))
    ends = _spans(page, _window(paragraphs[-1], first=False))
    body = page.index("</head>")  # the meta description quotes the first words too
    start = next(begin for begin, _ in starts if begin > body)
    end = ends[-1][1]
    return page[: start + int(fraction * (end - start))].encode("utf-8")


def _window(paragraph: str, first: bool, size: int = 3) -> list[str]:
    """`size` consecutive words of a paragraph that HTML spells as written (no quote, no ampersand)."""
    words = paragraph.split()
    starts = range(len(words) - size + 1)
    for i in starts if first else reversed(starts):
        window = words[i:i + size]
        if all(html.escape(word) == word for word in window):
            return window
    raise ValueError(f"no plain words to find in {paragraph[:60]!r}")


def _spans(page: str, words: list[str]) -> list[tuple[int, int]]:
    """Where the words stand on the page, whatever whitespace or line breaks separate them."""
    separator = r"(?:\s|&nbsp;|&#160;|<br\s*/?>)+"
    spans = [match.span() for match in re.finditer(separator.join(map(re.escape, words)), page)]
    if not spans:
        raise ValueError(f"{' '.join(words)!r} is not on the page")
    return spans


def _huge_article(file: Path | None, megabytes: float) -> bytes:
    assert file is not None, "huge_article() applies to pages of the snapshot"
    page = file.read_text("utf-8")
    paragraphs = json.loads((file.parent / "expected.json").read_text("utf-8"))["paragraphs"]
    words = " ".join(paragraphs).split()
    unit = "<br>\n".join(" ".join(words[i:i + 8]) for i in range(0, len(words), 8))
    block = "<p>" + "<br>\n".join([unit] * int(megabytes * 1_000_000 / len(unit) + 1)) + "</p>"
    end = page.index("</p>", _spans(page, _window(paragraphs[-1], first=False))[-1][1]) + len("</p>")
    return (page[:end] + "\n" + block + page[end:]).encode("utf-8")


@functools.cache
def _huge(megabytes: int) -> bytes:
    line = b"<p>" + b"All work and no play makes a very long page. " * 20 + b"</p>\n"
    return b"<html><body>" + line * (megabytes * 1_000_000 // len(line) + 1) + b"</body></html>"


@functools.cache
def _zeros_gzipped(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    chunk = bytes(1_000_000)
    return b"".join(compressor.compress(chunk) for _ in range(megabytes)) + compressor.flush()
