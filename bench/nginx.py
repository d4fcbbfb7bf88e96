"""Serve snapshot folders with nginx on 127.0.0.1: the bench's mirror (the stdlib server is too
slow to measure a crawler against).

nginx runs as a child of the bench, in the foreground, with its own configuration, logs and
pid file in a temporary folder: no system service, nothing outside that folder. Debian's
package: `apt-get install -y -qq nginx` (and `libnginx-mod-http-echo` for `latency_ms`).

Each site is one snapshot folder on a port of its own. nginx serves the files with ETag and
Last-Modified (from size and mtime) and answers conditional requests with 304, as WordPress
behind a cache does; every request is logged (`status uri`) so a crawl's requests can be
counted. `latency_ms` delays every answer that long (the echo module's `echo_sleep`, which
does not block nginx): a server that takes time to answer, as PHP does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
INSTALL = "apt-get install -y -qq nginx libnginx-mod-http-echo"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Nginx:
    """nginx serving `sites` (name -> snapshot folder), each on its own port of 127.0.0.1."""

    def __init__(self, sites: dict[str, Path], *, latency_ms: int = 0, ports: dict[str, int] | None = None) -> None:
        binary = nginx_binary()
        if binary is None:
            raise SystemExit(f"nginx is not installed: {INSTALL}")
        if latency_ms and not ECHO_MODULE.exists():
            raise SystemExit(f"the echo module is not installed (for latency): {INSTALL}")
        self.binary, self.sites, self.latency_ms = binary, dict(sites), latency_ms
        self.ports = dict(ports) if ports else {name: free_port() for name in sites}
        self.folder = Path(tempfile.mkdtemp(prefix="newswatch-nginx-"))
        self.log = self.folder / "access.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._read = 0  # how far `requests()` read the access log

    def url(self, site: str | None = None) -> str:
        return f"http://127.0.0.1:{self.ports[site or next(iter(self.sites))]}"

    def config(self) -> str:
        servers = []
        for name, root in self.sites.items():
            static = "try_files $uri $uri/index.html =404;"
            location = (f"location / {{ echo_sleep {self.latency_ms / 1000:.3f}; echo_exec @static; }}\n"
                        f"    location @static {{ {static} }}") if self.latency_ms else f"location / {{ {static} }}"
            servers.append(f"""  server {{
    listen 127.0.0.1:{self.ports[name]} reuseport;
    server_name {name};
    root {Path(root).resolve()};
    {location}
  }}""")
        module = f"load_module {ECHO_MODULE};\n" if self.latency_ms else ""
        temp = " ".join(f"{kind}_temp_path {self.folder}/{kind};"
                        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return f"""{module}daemon off;
master_process off;
worker_processes 1;
pid {self.folder}/nginx.pid;
error_log {self.folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  types {{ text/html html; application/xml xml; text/plain txt; application/json json; }}
  default_type text/html;
  charset utf-8;
  charset_types text/plain application/xml;
  log_format bench '$status $request_uri';
  access_log {self.log} bench;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  absolute_redirect off;
  {temp}
{chr(10).join(servers)}
}}
"""

    def start(self) -> Nginx:
        (self.folder / "nginx.conf").write_text(self.config(), "utf-8")
        self.process = subprocess.Popen([self.binary, "-p", str(self.folder), "-e", str(self.folder / "error.log"),
                                         "-c", str(self.folder / "nginx.conf")], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        for port in self.ports.values():
            while True:
                if self.process.poll() is not None:
                    raise SystemExit(f"nginx did not start: {(self.folder / 'error.log').read_text()[-2000:]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"nginx does not answer on {port}") from None
                    time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown
            self.process.wait(10)
        self.process = None

    def serve(self, sites: dict[str, Path]) -> None:
        """Serve other snapshots on the same ports (restarts nginx)."""
        self.stop()
        self.sites = {name: sites.get(name, root) for name, root in self.sites.items()}
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def requests(self, at_least: int = 0, timeout: float = 10.0) -> list[tuple[int, str]]:
        """The requests logged since the last call: (status, unquoted path). nginx writes a request's
        line once its answer is sent, so a client may have it first: `at_least` waits (up to
        `timeout` s) for that many lines."""
        deadline = time.monotonic() + timeout
        while True:
            with self.log.open("rb") as log:
                log.seek(self._read)
                data = log.read()
            if data.count(b"\n") >= at_least or time.monotonic() > deadline:
                break
            time.sleep(0.01)  # polling a file nginx appends to: no event to wait on
        complete = data.rpartition(b"\n")[0]
        self._read += len(complete) + 1 if complete else 0
        out = []
        for line in complete.decode("utf-8", "replace").splitlines():
            status, _, uri = line.partition(" ")
            out.append((int(status), unquote(uri.split("?", 1)[0])))
        return out

    def cpu_seconds(self) -> float:
        """CPU time nginx has used so far (user + system)."""
        if self.process is None:
            return 0.0
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
