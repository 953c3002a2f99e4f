"""The webhook SSRF guard over real sockets: raw HTTP listeners on 127.0.0.1 that count every
connection they accept, the worker's transport (``open_transport``: pinned resolver, literal
check, timeouts, response cap) and the dispatcher's outcomes."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from core.events.cloudevent import EventType
from core.events.destinations import DestinationPolicy
from core.events.webhooks import WebhookTarget
from infra.pinned_resolver import AddrInfo, ForbiddenDestination, PinnedResolver, getaddrinfo
from infra.webhook_config import WebhookConfig
from infra.webhook_transport import MAX_RESPONSE_BYTES, open_transport
from infra.webhooks import WebhookDispatcher
from tests.unit.fakes import FakeJobs

from .test_webhooks import JOB_KEY, event, whsec

pytestmark = pytest.mark.integration

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CHUNK = 16 * 1024
Written = bytes | bytearray | memoryview  # what StreamWriter.write takes


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return head + await reader.readexactly(length)


def answers(status: str, *headers: str, body: bytes = b"ok") -> Behaviour:
    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}", "", ""]
        writer.write("\r\n".join(lines).encode() + body)
        await writer.drain()

    return behave


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """200, then a body that never ends (no length, not chunked: it ends when we close)."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    while True:
        writer.write(b"x" * CHUNK)
        await writer.drain()  # paused while the client reads nothing; raises once it hangs up


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts and reads the request, and never answers."""
    await read_request(reader)
    await reader.read()  # until the client gives up and closes


class Listener:
    """A raw HTTP server on 127.0.0.1 in its own thread, counting connections and requests."""

    def __init__(self, behave: Behaviour) -> None:
        self.behave = behave
        self.connections = 0
        self.requests: list[bytes] = []
        self.sent = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        async def stop() -> None:
            self._server.close()
            handlers = asyncio.all_tasks() - {asyncio.current_task()}
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def url(self, path: str = "/in", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        # the bytes sent counted by wrapping the stream's write: a patched method, which
        # mypy types as the unbound def (self included), hence both codes
        writer.write = self._counting(writer.write)  # type: ignore[method-assign, assignment]
        try:
            await self.behave(_Recording(reader, self.requests), writer)  # type: ignore[arg-type]
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: what the cap and the timeout do
        finally:
            writer.close()

    def _counting(self, write: Callable[[Written], None]) -> Callable[[Written], None]:
        def counted(data: Written) -> None:
            self.sent += len(data)
            write(data)

        return counted


class _Recording:
    """The reader, keeping each request's head and body as read."""

    def __init__(self, reader: asyncio.StreamReader, requests: list[bytes]) -> None:
        self._reader, self._requests = reader, requests

    async def readuntil(self, separator: bytes) -> bytes:
        head = await self._reader.readuntil(separator)
        self._requests.append(head)
        return head

    async def readexactly(self, n: int) -> bytes:
        body = await self._reader.readexactly(n)
        self._requests[-1] += body
        return body

    async def read(self, n: int = -1) -> bytes:
        return await self._reader.read(n)


def names(**hosts: str) -> Callable[[str, int, int], Awaitable[AddrInfo]]:
    """A lookup answering some names with an address; any other name as the system does."""

    async def lookup(host: str, port: int, family: int) -> AddrInfo:
        return await getaddrinfo(hosts.get(host, host), port, family)

    return lookup


def deliver(
    urls: list[str], *, allow_loopback: bool, lookup: Any = getaddrinfo, **config: Any
) -> list[dict[str, Any]]:
    """One completed event to each URL through the worker's transport; the recorded outcomes."""
    jobs = FakeJobs(records={"j-1": {"status": "RUNNING"}})
    fields: dict[str, Any] = {
        "secrets": (SecretStr(whsec(JOB_KEY)),),
        "backoff_base": 0.05,
        "backoff_max": 0.2,
        "deadline": 30.0,
        "timeout": 5.0,
        "allow_loopback": allow_loopback,
    }
    settings = WebhookConfig(**(fields | config))

    async def scenario() -> None:
        policy = DestinationPolicy(allow_loopback=allow_loopback)
        async with open_transport(policy=policy, lookup=lookup) as transport:
            hooks = WebhookDispatcher(settings, transport, jobs)
            hooks.send(event(EventType.COMPLETED), tuple(WebhookTarget(url=u) for u in urls))
            await hooks.aclose(None)

    asyncio.run(scenario())
    return list(jobs.records["j-1"]["webhooks"])


def post(url: str, *, allow_loopback: bool, lookup: Any = getaddrinfo) -> tuple[int, Any]:
    """The transport alone (no URL check before it): what the connection layer lets through."""

    async def go() -> tuple[int, Any]:
        policy = DestinationPolicy(allow_loopback=allow_loopback)
        async with open_transport(policy=policy, lookup=lookup) as transport:
            return await transport.post(url, {}, b"{}", 5.0)

    return asyncio.run(go())


def test_with_the_setting_off_loopback_is_refused_by_address_and_by_name_unreached() -> None:
    with Listener(answers("200 OK")) as rx:
        urls = [
            rx.url(),
            rx.url(host="localhost"),
            rx.url(scheme="https"),
            rx.url(host="localhost", scheme="https"),
            rx.url(host="[::ffff:127.0.0.1]"),
            rx.url(host="hooks.test", scheme="https"),
        ]
        records = deliver(urls, allow_loopback=False, lookup=names(**{"hooks.test": "127.0.0.1"}))
        # Past the URL check, the connection layer refuses on its own: a literal address, a
        # name whose DNS answer is loopback, and localhost by its name.
        for url, words in (
            (rx.url(), "127.0.0.1 is loopback"),
            (rx.url(host="rebound.test"), "rebound.test: 127.0.0.1 is loopback"),
            (rx.url(host="localhost"), "localhost is loopback"),
        ):
            with pytest.raises(ForbiddenDestination, match=re.escape(words)):
                post(url, allow_loopback=False, lookup=names(**{"rebound.test": "127.0.0.1"}))

    assert rx.connections == 0
    assert [(r["outcome"], r["attempts"]) for r in records] == [("forbidden", 0)] * 5 + [
        ("forbidden", 1)  # hooks.test: refused when resolved, on the first attempt
    ]
    assert all(r["reason"].startswith("forbidden_destination: ") for r in records)
    assert records[-1]["reason"] == "forbidden_destination: hooks.test: 127.0.0.1 is loopback"


def test_the_system_resolvers_localhost_is_judged_by_its_address() -> None:
    resolver = PinnedResolver(lookup=getaddrinfo)
    with pytest.raises(ForbiddenDestination, match=re.escape("localhost: 127.0.0.1 is loopback")):
        asyncio.run(resolver.resolve("localhost", 80, socket.AF_INET))


def test_the_connection_goes_to_the_address_judged_under_the_urls_name() -> None:
    with Listener(answers("200 OK")) as rx:
        status, _ = post(
            rx.url(host="hooks.test"),
            allow_loopback=True,
            lookup=names(**{"hooks.test": "127.0.0.1"}),
        )

    assert status == 200
    assert rx.connections == 1
    [request] = rx.requests
    assert f"Host: hooks.test:{rx.port}".encode() in request  # the name, the judged address


def test_a_redirect_to_another_server_is_not_followed() -> None:
    with Listener(answers("200 OK")) as second:
        moved = answers("302 Found", f"Location: {second.url('/elsewhere')}")
        with Listener(moved) as first:
            [record] = deliver([first.url()], allow_loopback=True)

    assert (first.connections, second.connections) == (1, 0)
    assert (record["outcome"], record["status"], record["attempts"]) == ("failed", 302, 1)
    assert record["reason"] == "HTTP 302 (redirects are not followed)"


def test_an_endless_answer_is_cut_at_the_cap_and_the_delivery_completes() -> None:
    with Listener(endless) as rx:
        [record] = deliver([rx.url()], allow_loopback=True, timeout=5.0, deadline=10.0)

    # Delivered on the first attempt: had the body been read on, the attempt would have run
    # into its timeout and been retried until the deadline (expired).
    assert (record["outcome"], record["status"], record["attempts"]) == ("delivered", 200, 1)
    assert rx.connections == 1
    assert rx.sent > MAX_RESPONSE_BYTES  # more was on offer than the cap took


def test_a_server_that_never_answers_is_cut_at_the_timeout() -> None:
    with Listener(silent) as rx:
        [record] = deliver([rx.url()], allow_loopback=True, timeout=0.3, deadline=1.0)

    assert (record["outcome"], record["status"]) == ("expired", None)
    assert record["reason"].startswith("no answer")
    assert rx.connections == record["attempts"] >= 1  # each attempt connected, then gave up
    assert len(rx.requests) == record["attempts"]
