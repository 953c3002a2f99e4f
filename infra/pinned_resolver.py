"""The webhook session's resolver: a host's addresses are looked up once, judged by the
destination policy (``core/events/destinations.py``), and only then handed to aiohttp, which
connects to exactly those. Nothing resolves the name a second time, so a DNS answer that
changes between the check and the connection (rebinding) has nothing to change; TLS still
verifies the certificate against the URL's host name.

A host is refused whole when any of its addresses is: a name that mixes public and private
answers is either misconfigured or built to make a first connection fail over to the
private one, and delivering to the public subset would hide it. The refusal is an
``OSError`` (aiohttp wraps a resolver's ``OSError`` as ``ClientConnectorDNSError``, keeping it
as ``os_error``), which the transport turns into a final ``ForbiddenDestination``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

from core.events.destinations import PUBLIC_ONLY, DestinationPolicy, address_problem

# getaddrinfo's answer: (family, type, proto, canonname, sockaddr) tuples.
AddrInfo = list[tuple[Any, ...]]
Lookup = Callable[[str, int, int], Awaitable[AddrInfo]]


class ForbiddenDestination(OSError):
    """A webhook destination the policy refuses: final, never retried. The message names the
    host or address and why, never the URL's path or query."""


async def getaddrinfo(host: str, port: int, family: int) -> AddrInfo:
    """The system resolver, off the event loop (asyncio runs it in its executor); as aiohttp's
    own asks it, no IPv6 address on a host without IPv6 (AI_ADDRCONFIG)."""
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(
        host, port, family=family, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
    )


class PinnedResolver(AbstractResolver):
    """Judges by one ``policy``: a session serves one kind of destination (a request's own
    webhooks or the deployment's endpoints), as pooled connections are shared within it.
    ``lookup`` is the seam tests answer through (default: the system's getaddrinfo)."""

    def __init__(
        self, *, policy: DestinationPolicy = PUBLIC_ONLY, lookup: Lookup = getaddrinfo
    ) -> None:
        self._policy = policy
        self._lookup = lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await self._lookup(host, port, family)
        results: list[ResolveResult] = []
        for fam, _, proto, _, sockaddr in infos:
            if fam not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ipaddress.ip_address(sockaddr[0])
            if problem := address_problem(ip, policy=self._policy):
                raise ForbiddenDestination(f"{host}: {problem}")
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(ip),
                    port=int(sockaddr[1]),
                    family=fam,
                    proto=proto,
                    # The address is numeric: aiohttp must not hand it to getaddrinfo again
                    # as a name.
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            )
        if not results:
            raise OSError(f"{host} has no address")
        return results

    async def close(self) -> None:
        pass
