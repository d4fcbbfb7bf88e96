"""`scrapy crawl news` in a child process, as an operator, cron or the scheduler runs it.

Each crawl runs in a session (process group) of its own, so that the test can signal the crawl
alone (as `kill` would) and still end whatever it left behind when the test is over. Its log
(stderr) is read as it comes and can be waited on; its exit status is collected with `wait4`;
its peak memory is the largest high-water mark (VmHWM) of the crawl and of its extraction workers,
read from /proc every 100 ms while it runs (the rusage of `wait4` would count the pages of this
test process the child shared when it was forked).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from conftest import FAST, REPO

ERROR_LINE = re.compile(r"\] (ERROR|CRITICAL): ")
# A log line is kept up to this many characters: a crawl may log a whole page on one line.
LINE_KEPT = 20_000


class Crawl:
    """One running (or finished) `scrapy crawl news`."""

    def __init__(self, command: Sequence[str], env: dict[str, str],
                 preexec: Callable[[], None] | None = None) -> None:
        self.command = list(command)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            self.command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
            preexec_fn=preexec)  # noqa: PLW1509 -- only sets a resource limit, before exec
        self.pid = self.process.pid
        self.lines: list[str] = []
        self.longest_line = 0
        self.changed = threading.Condition()
        self.exited = threading.Event()
        self.status: int | None = None
        self.peaks_kb: dict[int, int] = {}
        self.seconds: float | None = None
        threading.Thread(target=self._read, name=f"crawl-{self.pid}-log", daemon=True).start()
        threading.Thread(target=self._reap, name=f"crawl-{self.pid}-wait", daemon=True).start()
        threading.Thread(target=self._watch_memory, name=f"crawl-{self.pid}-memory", daemon=True).start()

    def _read(self) -> None:
        """Read the log as it comes, to EOF (when every holder of the pipe is gone); a line past
        LINE_KEPT characters is kept cut, and its length noted in `longest_line`."""
        length = 0
        while chunk := self.process.stderr.readline(LINE_KEPT):
            with self.changed:
                if length == 0:
                    self.lines.append(chunk if chunk.endswith("\n") else chunk + " [...]\n")
                length += len(chunk)
                self.longest_line = max(self.longest_line, length)
                if chunk.endswith("\n"):
                    length = 0
                self.changed.notify_all()

    def _reap(self) -> None:
        _, status, _ = os.wait4(self.pid, 0)
        self.seconds = time.monotonic() - self.started
        self.status = os.waitstatus_to_exitcode(status)
        self.process.returncode = self.status  # reaped here: Popen must not wait for it again
        self.exited.set()
        with self.changed:
            self.changed.notify_all()

    def _watch_memory(self) -> None:
        while not self.exited.wait(0.1):  # sampling: a process's high-water mark only grows
            for pid in [self.pid, *descendants(self.pid)]:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                if match := re.search(r"^VmHWM:\s+(\d+) kB", status, re.M):
                    self.peaks_kb[pid] = max(self.peaks_kb.get(pid, 0), int(match.group(1)))

    @property
    def peak_mb(self) -> float:
        """The largest resident size any process of the crawl reached (MB)."""
        return max(self.peaks_kb.values(), default=0) / 1024

    # ------------------------------------------------------------------ waiting

    def wait(self, timeout: float = 120.0) -> int:
        """The exit status (negative: killed by that signal); fails if the crawl runs past `timeout` s."""
        if not self.exited.wait(timeout):
            raise AssertionError(f"the crawl did not end within {timeout}s; its log ends:\n{self.tail()}")
        return self.status

    def ended_within(self, timeout: float) -> bool:
        return self.exited.wait(timeout)

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first log line matching `pattern`, once it is written."""
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found[:] = [m for line in self.lines if (m := re.search(pattern, line))][:1]
            return bool(found) or self.exited.is_set()

        with self.changed:
            self.changed.wait_for(seen, timeout)
        if not found:
            raise AssertionError(f"no log line matching {pattern!r} within {timeout}s:\n{self.tail()}")
        return found[0]

    # ------------------------------------------------------------------ signals

    def signal(self, signum: int) -> None:
        """Signal the crawl process alone (not its workers), as `kill PID` does."""
        os.kill(self.pid, signum)

    def end_group(self) -> None:
        """Kill whatever is left of the crawl's process group (the crawl, its workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.exited.wait(30)

    def group_members(self) -> list[int]:
        """The processes still alive in the crawl's process group (its orphaned workers, say)."""
        members = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.pid and fields[0] != "Z":  # pgrp; zombies are dead already
                    members.append(int(entry.name))
        return members

    # ------------------------------------------------------------------ what the operator sees

    @property
    def log(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def errors(self) -> list[str]:
        """The ERROR and CRITICAL lines of the log."""
        return [line.rstrip() for line in self.log.splitlines() if ERROR_LINE.search(line)]

    def tracebacks(self) -> int:
        return self.log.count("Traceback (most recent call last)")

    def tail(self, lines: int = 40) -> str:
        return "".join(self.lines[-lines:])


def descendants(pid: int) -> list[int]:
    """The processes started by `pid`, and by them, recursively."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def command_line(pid: int) -> str:
    """The command line of process `pid` ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def crawl_command(site_url: str, database_url: str, *args: str, **settings: str) -> list[str]:
    """`scrapy crawl news` against `site_url` and `database_url`, fast for a mirror on loopback."""
    options = {**FAST, "NEWSWATCH_EXTRACT_WORKERS": "0", "NEWSWATCH_SITE_URL": site_url,
               "NEWSWATCH_DATABASE_URL": database_url, **settings}
    command = [sys.executable, "-m", "scrapy", "crawl", "news", *args]
    for name, value in options.items():
        command += ["-s", f"{name}={value}"]
    return command


def ignoring_file_size_signal() -> None:
    """In the child: a write past RLIMIT_FSIZE fails with EFBIG (as on a full disk) instead of killing it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def limit_file_size(pid: int, size: int) -> None:
    """From now on, process `pid` cannot make any file larger than `size` bytes: its disk is full."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, size))
