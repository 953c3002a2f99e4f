"""How a webhook is POSTed: the transport seam (tests replace it), its aiohttp implementation
behind the SSRF guard, and reading a ``Retry-After``.

The guard: a literal address in the URL is judged here (aiohttp connects to a literal without
asking the resolver), a name by ``PinnedResolver`` as it is resolved; either refusal is a
``ForbiddenDestination``. Redirects are not followed (a 30x could point anywhere), the
connection has its own, shorter timeout within the attempt's, and at most 64 KiB of an answer
is read. No proxy from the environment (``trust_env`` stays off): a proxy would resolve the
name itself, out of the guard's sight.

A session judges by one ``DestinationPolicy``: the dispatcher opens one for a request's own
webhooks and another for the deployment's endpoints. Sharing one would let a request's URL
ride a pooled keep-alive connection that an endpoint's policy judged (aiohttp pools by host
and port, and a pooled connection is not resolved again)."""

from __future__ import annotations

import email.utils
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Protocol

import aiohttp
from yarl import URL

from core.events.destinations import PUBLIC_ONLY, DestinationPolicy, host_problem
from infra.pinned_resolver import ForbiddenDestination, Lookup, PinnedResolver, getaddrinfo

__all__ = [
    "CONNECT_TIMEOUT", "MAX_RESPONSE_BYTES", "AiohttpTransport", "ForbiddenDestination",
    "Transport", "WebhookUnreachable", "open_transport", "retry_after",
]  # fmt: skip

MAX_RESPONSE_BYTES = 64 * 1024  # read and dropped: a receiver cannot make us hold more
# Seconds to have a connection (resolving included), within the attempt's timeout: a host
# that does not answer a SYN gives way well before a slow receiver would.
CONNECT_TIMEOUT = 5.0


class WebhookUnreachable(Exception):
    """No HTTP answer: refused, reset, unresolvable or timed out. The message names the
    cause's kind only (an error's text may repeat the URL, query and all)."""


class Transport(Protocol):
    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, Mapping[str, str]]:
        """POST without following redirects; the status and the response's headers (names
        lower-cased). Raise WebhookUnreachable when there is no answer in ``timeout``,
        ForbiddenDestination when the destination may not be contacted."""
        ...


class AiohttpTransport:
    """Over a session whose connector resolves with a ``PinnedResolver`` of the same
    ``policy`` (``open_transport`` builds both)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        policy: DestinationPolicy = PUBLIC_ONLY,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._session = session
        self._policy = policy
        self._connect_timeout = connect_timeout

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, Mapping[str, str]]:
        target = URL(url)  # the very object aiohttp connects by: one parse, one host
        host = target.raw_host
        if not host:
            raise ForbiddenDestination("the URL names no host")
        if problem := host_problem(host, policy=self._policy):
            raise ForbiddenDestination(problem)
        limits = aiohttp.ClientTimeout(total=timeout, connect=min(self._connect_timeout, timeout))
        try:
            async with self._session.post(
                target, data=body, headers=dict(headers), allow_redirects=False, timeout=limits
            ) as resp:
                await _discard(resp.content, MAX_RESPONSE_BYTES)
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ForbiddenDestination):
                raise exc.os_error from None
            raise WebhookUnreachable(type(exc).__name__) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WebhookUnreachable(type(exc).__name__) from None


@asynccontextmanager
async def open_transport(
    *,
    policy: DestinationPolicy = PUBLIC_ONLY,
    connect_timeout: float = CONNECT_TIMEOUT,
    lookup: Lookup = getaddrinfo,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[AiohttpTransport]:
    """The guarded transport over its own session, judging by ``policy``. aiohttp's DNS
    cache is off: each new connection resolves and is judged afresh (a pooled keep-alive
    connection is already to a judged address), so an endpoint that moves is followed at the
    next attempt. ``tls`` verifies receivers' certificates (None: the system's trust store;
    tests pass one trusting their own CA)."""
    resolver = PinnedResolver(policy=policy, lookup=lookup)
    connector = aiohttp.TCPConnector(
        resolver=resolver, use_dns_cache=False, ssl=True if tls is None else tls
    )
    # No cookies: a receiver must not be able to set state that later requests carry. No
    # decompression: the answer is dropped, and the cap then counts the bytes that came in,
    # not what a small gzip body expands to.
    async with aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
    ) as session:
        yield AiohttpTransport(session, policy=policy, connect_timeout=connect_timeout)


async def _discard(stream: aiohttp.StreamReader, limit: int) -> None:
    read = 0
    while read < limit and (chunk := await stream.read(limit - read)):
        read += len(chunk)


def retry_after(value: str | None, now: float) -> float:
    """Seconds a ``Retry-After`` asks for (delta-seconds or an HTTP-date); 0 when absent or
    unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
