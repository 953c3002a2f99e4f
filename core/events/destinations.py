"""Where a webhook may be sent: the SSRF policy, pure (no DNS, no sockets).

A request names a URL; the worker POSTs to it from inside the deployment's network, where the
instance metadata service, the VPC's private hosts and the worker's own loopback listen. Only
globally routable unicast addresses may be contacted. ``address_problem`` judges one address
(the adapter applies it to every address a host name resolves to, then connects to exactly
those: ``infra/pinned_resolver.py``); ``webhook_url_problem`` judges what a URL shows before
anything is resolved (the scheme, user info, the port, a literal address). Both judge by a
``DestinationPolicy``: public addresses only unless it says otherwise.

Ranges come from the IANA special-purpose registries, written out here rather than read from
``ipaddress``'s ``is_global``: its tables change between Python releases, and 3.11 calls
IPv4-mapped and 6to4 addresses global whatever they embed. An IPv4 address inside NAT64,
6to4 or Teredo is judged as well. Loopback is admitted only in development
(``FFAPI_WEBHOOK_ALLOW_LOOPBACK``), private ranges only for the deployment's opted-in
endpoints (:mod:`infra.webhook_config`); a refusal is final (``forbidden``), never retried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address

_V4_REFUSED: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "unspecified"),  # "this network"; 0.0.0.0 reaches the local host
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space"),  # carrier-grade NAT
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),  # 169.254.169.254: the instance metadata service
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),  # the retired 6to4 relay anycast
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # and 255.255.255.255, the broadcast
    )
)

_V6_REFUSED: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), why)
    for net, why in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        # A dual-stack socket sends ::ffff:a.b.c.d to a.b.c.d: an IPv4 address in disguise,
        # which no public host publishes. Refused whatever it embeds, as are the deprecated
        # IPv4-compatible addresses.
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("::/96", "IPv4-compatible"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "reserved"),  # IETF protocol assignments (Teredo is judged before this)
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        # Unique local, but where EC2 puts its instance services (fd00:ec2::254 is the
        # metadata service, ::253 the DNS resolver, ::123 time): judged before fc00::/7, so
        # allowing private addresses never admits them.
        ("fd00:ec2::/48", "an EC2 instance service"),
        ("fc00::/7", "private"),  # unique local
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_V6_GLOBAL_UNICAST = IPv6Network("2000::/3")  # everything else is unallocated or special
_NAT64 = IPv6Network("64:ff9b::/96")  # the well-known prefix: DNS64 puts any IPv4 host here
_V4_LOOPBACK, _V6_LOOPBACK = IPv4Network("127.0.0.0/8"), IPv6Address("::1")
_LOOPBACK_NAMES = ("localhost", "localhost.")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """What one kind of destination may reach beyond public addresses. A request's own
    webhooks always get ``allow_private`` off: whoever can write to the queue must not reach
    the VPC. The deployment's configured endpoints get it on the operator's word
    (``FFAPI_WEBHOOK_ENDPOINTS_ALLOW_PRIVATE``), for receivers inside the VPC.

    ``allow_private`` admits only the private unicast ranges (10/8, 172.16/12, 192.168/16,
    fc00::/7 but EC2's fd00:ec2::/48) and NAT64 addresses embedding them (an IPv6-only VPC
    reaches an IPv4 receiver so). Not 100.64/10: shared address space is the carrier's, not
    the deployment's (and where Alibaba Cloud puts its metadata service, 100.100.100.200);
    not link-local, loopback, multicast, reserved or documentation ranges, nor IPv4-mapped
    or IPv4-compatible forms. ``allow_loopback`` (development only) admits 127.0.0.0/8 and
    ::1, never a loopback address embedded in IPv6."""

    allow_loopback: bool = False
    allow_private: bool = False


PUBLIC_ONLY = DestinationPolicy()


def address_problem(ip: IPAddress, *, policy: DestinationPolicy = PUBLIC_ONLY) -> str | None:
    """Why ``ip`` may not be contacted under ``policy``, or None when it may."""
    if ip.version == 4:
        return _v4_problem(IPv4Address(ip), policy)
    return _v6_problem(IPv6Address(ip), policy)


def _admitted(why: str, policy: DestinationPolicy) -> bool:
    return (why == "loopback" and policy.allow_loopback) or (
        why == "private" and policy.allow_private
    )


def _v4_problem(ip: IPv4Address, policy: DestinationPolicy) -> str | None:
    for net, why in _V4_REFUSED:
        if ip in net:
            return None if _admitted(why, policy) else f"{ip} is {why}"
    return None


def _v6_problem(ip: IPv6Address, policy: DestinationPolicy) -> str | None:
    ip = IPv6Address(ip.packed)  # a zone id (fe80::1%eth0) says nothing of the address
    if ip == _V6_LOOPBACK and policy.allow_loopback:
        return None
    # Addresses that carry an IPv4 one and are routed towards it are as good as it: judged
    # by it (loopback never allowed there). NAT64's prefix must stay usable: in an IPv6-only
    # network every IPv4 host is reached through it, a private one too when the policy
    # allows private addresses. 6to4 and Teredo cross the internet: public inside only.
    if embedded := _embedded(ip):
        for kind, inner in embedded:
            private = policy.allow_private and kind == "NAT64"
            if problem := _v4_problem(inner, DestinationPolicy(allow_private=private)):
                return f"{ip} embeds an IPv4 address ({kind}): {problem}"
        return None
    for net, why in _V6_REFUSED:
        if ip in net:
            return None if _admitted(why, policy) else f"{ip} is {why}"
    if ip not in _V6_GLOBAL_UNICAST:
        return f"{ip} is reserved"
    return None


def _embedded(ip: IPv6Address) -> list[tuple[str, IPv4Address]]:
    if ip in _NAT64:
        return [("NAT64", IPv4Address(int(ip) & 0xFFFFFFFF))]
    if ip.sixtofour is not None:
        return [("6to4", ip.sixtofour)]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [("Teredo server", server), ("Teredo client", client)]
    return []


def host_problem(host: str, *, policy: DestinationPolicy = PUBLIC_ONLY) -> str | None:
    """Why a URL's host may not be contacted, judged without resolving it: an address
    literal by ``policy``, ``localhost`` unless allowed; None for any other name (its
    addresses are judged when it is resolved). A host whose last label is numeric must be a
    canonical dotted quad: ``127.1``, ``0177.0.0.1``, ``0x7f.1`` or ``2130706433`` are read
    as 127.0.0.1 by ``getaddrinfo`` (inet_aton) and are no name anyone registers."""
    host = host.removeprefix("[").removesuffix("]").lower()
    if ":" in host:
        try:
            return address_problem(IPv6Address(host.partition("%")[0]), policy=policy)
        except ValueError:
            return f"{host!r} is not an IPv6 address"
    if _NUMERIC_LABEL.match(host.rstrip(".").rpartition(".")[2]):
        try:
            return address_problem(IPv4Address(host), policy=policy)
        except ValueError:
            return f"{host!r} is not a canonical IPv4 address"
    loopback_name = host in _LOOPBACK_NAMES or host.rstrip(".").endswith(".localhost")
    if loopback_name and not policy.allow_loopback:
        return f"{host} is loopback"
    return None


def is_loopback_host(host: str) -> bool:
    """A loopback address literal or ``localhost``: the hosts plain http may reach, in
    development."""
    host = host.removeprefix("[").removesuffix("]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        ip = ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return ip in _V4_LOOPBACK if ip.version == 4 else ip == _V6_LOOPBACK


def webhook_url_problem(url: str, *, policy: DestinationPolicy = PUBLIC_ONLY) -> str | None:
    """Why a webhook URL is refused before any lookup, or None: https only (http only for a
    loopback host with ``allow_loopback``), no user info, a port from 1 to 65535, and a host
    that ``host_problem`` accepts under ``policy``. The message never repeats the path or
    query."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL cannot be read (host or port)"
    host = parts.hostname or ""
    if not host:
        return "the URL names no host"
    if "@" in parts.netloc:
        return "user info in a webhook URL is not allowed"
    scheme = parts.scheme.lower()
    if scheme == "http" and not (policy.allow_loopback and is_loopback_host(host)):
        return "http:// is refused: webhooks go over https"
    if scheme not in ("http", "https"):
        return f"the scheme {scheme!r} is refused: webhooks go over https"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} is refused"
    return host_problem(host, policy=policy)
