"""A loopback HTTP server for the browser tests: the test page, the players from node_modules
and one package, each under its own path prefix; and /report, where the page posts what the
player saw (one JSON body per page load, handed to the test through a queue)."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# The types a CDN should send for a package; the players check a few of them (hls.js reads a
# playlist whatever its type, Chromium's MSE does not care, but text/vtt must be text).
MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".vtt": "text/vtt",
    ".js": "text/javascript",
    ".html": "text/html",
    ".json": "application/json",
}


@dataclass
class Site:
    """What the server serves: URL prefix (``/package/``) -> directory, and the reports."""

    mounts: Mapping[str, Path]
    reports: queue.Queue[bytes] = field(default_factory=queue.Queue)


class Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, site: Site, **kwargs: Any) -> None:
        self.site = site
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        url = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, root in self.site.mounts.items():
            if url.startswith(prefix):
                # The base class resolves the rest under `directory`, refusing `..`.
                self.directory = str(root)
                return super().translate_path(path[len(prefix) - 1 :])
        return "/dev/null/none"  # cannot exist: a 404, never a file outside the mounts

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return MEDIA_TYPES.get(Path(path).suffix) or super().guess_type(path)

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(HTTPStatus.NOT_FOUND)

    def end_headers(self) -> None:
        # A player on another origin (a CDN in front of the bucket) must be let in.
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_POST(self) -> None:
        if self.path != "/report":
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.site.reports.put(body)
        self.send_response(HTTPStatus.NO_CONTENT)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the page's requests would drown pytest's output; failures carry the report


@contextmanager
def serve(site: Site) -> Iterator[str]:
    """Serves ``site`` on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    empty = next(iter(site.mounts.values()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, site=site, directory=empty))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
