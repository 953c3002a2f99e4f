"""The canary: an HTTP server on 127.0.0.1 that hostile inputs point at, and a secret file
outside every job directory that they name by path.

Both hold the same secret, random per session. Anything the worker, ffprobe or ffmpeg
fetches from either would carry it; the suite then looks for it everywhere the worker writes
(outputs, events, logs, the job table). Every connection to the canary counts as a hit,
before any HTTP is parsed: a TLS handshake aimed at it (a webhook to https://127.0.0.1) is
as much of a breach as a GET.
"""

from __future__ import annotations

import secrets
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Hit:
    client: str
    method: str = ""  # empty: the connection sent no HTTP request we could read
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, canary: Canary, tag: str | None = None) -> None:
        self.canary = canary
        self.tag = tag  # a port of one case's own: its connections are that case's
        super().__init__(("127.0.0.1", 0), _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.canary.connected(self.tag, f"{client_address[0]}:{client_address[1]}")
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        self.server.canary.requested(self)
        body = self.server.canary.secret.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # hits are recorded, not printed


class Canary:
    """Serves the secret at every path; records every connection and request."""

    def __init__(self, secret_dir: Path) -> None:
        self.secret = f"CANARY-{secrets.token_hex(16)}"
        self.secret_file = secret_dir / "secret.txt"
        self.secret_file.write_text(self.secret + "\n")
        self.connections: list[tuple[str | None, str]] = []  # (the port's case, client)
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._servers: dict[str | None, _Server] = {}
        self.port = self._serve(None)

    def _serve(self, tag: str | None) -> int:
        server = _Server(self, tag)
        self._servers[tag] = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return int(server.server_address[1])

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def port_for(self, tag: str) -> int:
        """A port of ``tag``'s own, for what cannot carry the tag in a path a server sees
        (a TLS handshake, a host that is only connected to)."""
        with self._lock:
            server = self._servers.get(tag)
        return int(server.server_address[1]) if server else self._serve(tag)

    def connected(self, tag: str | None, client: str) -> None:
        with self._lock:
            self.connections.append((tag, client))

    def requested(self, handler: BaseHTTPRequestHandler) -> None:
        hit = Hit(handler.client_address[0], handler.command, handler.path, dict(handler.headers))
        with self._lock:
            self.hits.append(hit)

    def hits_on(self, tag: str) -> list[Hit]:
        """Requests whose path names ``tag`` (every fixture puts its case's tag in its URLs),
        and connections to ``tag``'s own port."""
        with self._lock:
            requests = [h for h in self.hits if tag in h.path]
            return requests + [Hit(client) for owner, client in self.connections if owner == tag]

    def __enter__(self) -> Canary:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()

    def answers(self) -> bool:
        """The canary is up and hands out its secret, so that zero hits later means nothing
        asked. The check's own visit is forgotten."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"GET /self-check HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        with self._lock:
            seen = len(self.connections) == 1 and [h.path for h in self.hits] == ["/self-check"]
            self.connections.clear()
            self.hits.clear()
        return seen and self.secret.encode() in reply
