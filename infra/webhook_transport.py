"""How a webhook is POSTed: the transport seam (tests and the SSRF guard replace or wrap it),
its aiohttp implementation, and reading a ``Retry-After``."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC
from typing import Protocol

import aiohttp

MAX_RESPONSE_BYTES = 64 * 1024  # read and dropped: a receiver cannot make us hold more


class WebhookUnreachable(Exception):
    """No HTTP answer: refused, reset, unresolvable or timed out. The message names the
    cause's kind only (an error's text may repeat the URL, query and all)."""


class Transport(Protocol):
    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, Mapping[str, str]]:
        """POST without following redirects; the status and the response's headers (names
        lower-cased). Raise WebhookUnreachable when there is no answer in ``timeout``."""
        ...


class AiohttpTransport:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, Mapping[str, str]]:
        limits = aiohttp.ClientTimeout(total=timeout, connect=timeout)
        try:
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False, timeout=limits
            ) as resp:
                await _discard(resp.content, MAX_RESPONSE_BYTES)
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WebhookUnreachable(type(exc).__name__) from None


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
