"""A TCP proxy in front of the emulator that a test can take down and bring back.

Workers reach AWS over a network, and networks go away: a partition, an endpoint restarted, a
NAT that drops its table. Stopping moto itself would lose its state (every bucket, queue and
job record lives in its memory), and the test's own clients must keep seeing it; so the
workers talk to moto through this proxy, and only their path is cut:

- ``down()``: the listening socket is closed (new connections are refused) and every open
  connection is reset (RST, not a polite FIN), so a request in flight fails half-way and a
  pooled keep-alive connection is dead, as on a real outage.
- ``down_on(marker)``: the same, the moment a worker sends a request containing ``marker``
  (a request line, an ``X-Amz-Target``): that request is lost, the outage begins exactly as
  the worker starts that call.
- ``up()``: listening again on the same port (the workers' endpoint URL does not change).
- ``lose_answer(*markers)``: the next request containing every marker goes through and is
  answered, and the answer is lost: the client's connection is reset instead (once). The
  write applied, the client cannot know it, and its SDK sends it again.

Stdlib only: asyncio in a daemon thread of its own, driven from the test's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_CHUNK = 64 * 1024
# SO_LINGER on with a timeout of 0: close() drops what is unsent and sends RST.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class OutageProxy:
    """``with OutageProxy(upstream_url) as proxy:``, clients pointed at ``proxy.url``."""

    def __init__(self, upstream_url: str, host: str = "127.0.0.1") -> None:
        parts = urlsplit(upstream_url)
        assert parts.hostname is not None, upstream_url
        assert parts.port is not None, upstream_url
        self._upstream = (parts.hostname, parts.port)
        self._host = host
        self.port = 0  # chosen by the OS on the first up(), kept after
        self.went_down = threading.Event()  # set by down() and by a trigger; up() clears it
        self.resets = 0  # connections cut by outages: proof the clients went through us
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()  # both ends of every live connection
        self._trigger: bytes | None = None
        self._lose: tuple[bytes, ...] | None = None  # lose_answer's markers, until matched
        self.lost_answers = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def up(self) -> None:
        self._call(self._listen())

    def down(self) -> None:
        self._call(self._cut())

    def down_on(self, marker: bytes) -> None:
        """Go down when a client next sends ``marker`` (that request never arrives)."""
        self._trigger = marker

    def lose_answer(self, *markers: bytes) -> None:
        """Lose the answer to the next request that contains every marker (a header and a
        piece of the body, say): it reaches the upstream, its answer never reaches the
        client, whose connection is reset as the answer comes."""
        self._lose = markers

    def __enter__(self) -> OutageProxy:
        self._thread.start()
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        # asyncio sets SO_REUSEADDR: the port binds again while reset sockets linger.
        self._server = await asyncio.start_server(self._serve, self._host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.went_down.clear()

    async def _cut(self) -> None:
        self._trigger = None
        server, self._server = self._server, None
        if server is not None:
            server.close()  # refused from now on
        self.resets += len(self._open) // 2
        for writer in self._open:
            _reset(writer)
        self._open.clear()
        if server is not None:
            await server.wait_closed()
        self.went_down.set()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self._upstream)
        except OSError:
            _reset(client_w)
            return
        if self._server is None:  # went down while we were connecting
            _reset(client_w)
            _reset(upstream_w)
            return
        pair = {client_w, upstream_w}
        self._open |= pair
        exchange = _Exchange(ends=(client_w, upstream_w))
        try:
            await asyncio.gather(
                self._pipe(client_r, upstream_w, exchange, watch=True),
                self._pipe(upstream_r, client_w, exchange),
            )
        finally:
            self._open -= pair
            for writer in pair:
                writer.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        exchange: _Exchange,
        watch: bool = False,
    ) -> None:
        """Copy one direction until EOF, and pass the EOF on. ``watch``: the client's
        direction, where the triggers are looked for; the other carries the answers."""
        try:
            while data := await reader.read(_CHUNK):
                if watch and self._trigger is not None and self._trigger in data:
                    await self._cut()  # this request is lost with everything in flight
                    return
                if watch:
                    self._watch_request(exchange, data)
                elif exchange.lose_answer:
                    self.lost_answers += 1
                    for end in exchange.ends:  # the answer is dropped with the connection
                        _reset(end)
                    return
                else:
                    exchange.request.clear()  # an answer began: the next bytes are a new request
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:  # the other end reset: so does this one
            _reset(writer)

    def _watch_request(self, exchange: _Exchange, data: bytes) -> None:
        if self._lose is None:
            return
        exchange.request += data
        if all(marker in exchange.request for marker in self._lose):
            self._lose, exchange.lose_answer = None, True


@dataclass
class _Exchange:
    """One connection's current request, as the client has sent it so far (only while an
    answer is to be lost), and whether its answer is."""

    ends: tuple[asyncio.StreamWriter, asyncio.StreamWriter]
    request: bytearray = field(default_factory=bytearray)
    lose_answer: bool = False


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    writer.transport.abort()
