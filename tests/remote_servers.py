"""Servers on 127.0.0.1 for the remote-input tests: a threaded HTTP file server that answers
range requests (or not), and an S3-compatible server (moto's server mode) when it is installed.

The HTTP server serves the files of one folder. Paths under ``/private/`` need the header
``Authorization: Bearer <token>``; ``/forbidden/...`` always answers 403. Every request is
logged (method, path with query, Range header, status, body bytes) for the tests to inspect.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class Logged:
    method: str
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class FileServer:
    """A running HTTP server: ``url(name)`` is the address of a file of ``root``."""

    root: Path
    ranges: bool = True
    token: str = "s3cr3t-token-value"
    log: list[Logged] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def start(self) -> "FileServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                owner.log.append(Logged(self.command, self.path, self.headers.get("Range"), status,
                                        0 if head else len(body)))

            def _serve(self, head: bool) -> None:
                path = urlsplit(self.path).path
                if path.startswith("/forbidden/"):
                    return self._send(403, b"forbidden", {}, head)
                if path.startswith("/private/"):
                    if self.headers.get("Authorization") != f"Bearer {owner.token}":
                        return self._send(403, b"forbidden", {}, head)
                    path = path[len("/private"):]
                file = (owner.root / path.lstrip("/")).resolve()
                if owner.root.resolve() not in file.parents or not file.is_file():
                    return self._send(404, b"not found", {}, head)
                data = file.read_bytes()
                headers = {"Content-Type": "application/octet-stream"}
                if owner.ranges:
                    headers["Accept-Ranges"] = "bytes"
                    m = _RANGE.match(self.headers.get("Range") or "")
                    if m and (m.group(1) or m.group(2)):
                        size = len(data)
                        if m.group(1):
                            start = int(m.group(1))
                            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
                        else:
                            start, end = max(0, size - int(m.group(2))), size - 1
                        if start >= size:
                            return self._send(416, b"", {"Content-Range": f"bytes */{size}"}, head)
                        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                        return self._send(206, data[start:end + 1], headers, head)
                return self._send(200, data, headers, head)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(head=False)

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(head=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (closed again at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    """moto's S3 server on loopback; ``options`` are the --storage-option pairs that reach it."""

    endpoint: str
    server: object
    key: str = "AKIAEXAMPLEKEY0000"
    secret: str = "moto-secret-do-not-print-0000"

    @property
    def options(self) -> list[str]:
        return [f"endpoint_url={self.endpoint}", f"key={self.key}", f"secret={self.secret}"]

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key,
                            aws_secret_access_key=self.secret, region_name="us-east-1")

    def stop(self) -> None:
        self.server.stop()


def start_s3() -> S3Server:
    """Start moto's threaded S3 server on 127.0.0.1 (ImportError when moto[server] is absent)."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return S3Server(f"http://127.0.0.1:{port}", server)
