"""The webhook destination policy: which addresses may be contacted, which URLs accepted."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from core.events.destinations import (
    DestinationPolicy,
    address_problem,
    host_problem,
    is_loopback_host,
    webhook_url_problem,
)

DEV = DestinationPolicy(allow_loopback=True)

PUBLIC = [
    "8.8.8.8", "1.1.1.1", "52.94.236.248", "100.63.255.255", "100.128.0.0", "172.15.255.255",
    "172.32.0.0", "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255",
    "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "2001:200::1",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8: how an IPv6-only network reaches an IPv4 host
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "2001:0:808:808:0:0:f7f7:f7f7",  # Teredo: server 8.8.8.8, client 8.8.8.8 (obfuscated)
]  # fmt: skip

REFUSED = [
    ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.168.1.1", "private"), ("fd00::1", "private"), ("fc00::1", "private"),
    ("fd00:ec2::254", "an EC2 instance service"),  # EC2's IPv6 metadata service
    ("169.254.169.254", "link-local"),  # the instance metadata service
    ("169.254.0.1", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.0.8", "reserved"),
    ("192.88.99.1", "reserved"), ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"),
    ("::", "unspecified"), ("100.64.0.1", "shared address space"),
    ("100.127.255.255", "shared address space"), ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"), ("192.0.2.1", "documentation"),
    ("198.51.100.1", "documentation"), ("203.0.113.1", "documentation"),
    ("2001:db8::1", "documentation"), ("3fff::1", "documentation"),
    ("2001:2::1", "reserved"),  # IPv6 benchmarking, within the IETF assignments
    ("fec0::1", "site-local"), ("100::1", "discard-only"), ("4000::1", "reserved"),
    ("64:ff9b:1::1", "local-use NAT64"),
    # IPv4 inside IPv6: mapped and compatible refused whatever they embed...
    ("::ffff:169.254.169.254", "IPv4-mapped"), ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:8.8.8.8", "IPv4-mapped"), ("::8.8.8.8", "IPv4-compatible"),
    # ...the routed embeddings judged by the IPv4 address inside.
    ("64:ff9b::a9fe:a9fe", "(NAT64): 169.254.169.254 is link-local"),
    ("64:ff9b::7f00:1", "(NAT64): 127.0.0.1 is loopback"),
    ("2002:a00:1::1", "(6to4): 10.0.0.1 is private"),
    ("2002:7f00:1::", "(6to4): 127.0.0.1 is loopback"),
    ("2001:0:a00:1::f7f7:f7f7", "(Teredo server): 10.0.0.1 is private"),
    ("2001:0:808:808::80ff:fefe", "(Teredo client): 127.0.1.1 is loopback"),
]  # fmt: skip


@pytest.mark.parametrize("address", PUBLIC)
def test_globally_routable_addresses_may_be_contacted(address: str) -> None:
    assert address_problem(ip_address(address)) is None


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_addresses_that_are_not_globally_routable_are_refused(address: str, why: str) -> None:
    problem = address_problem(ip_address(address))
    assert problem is not None
    assert problem.endswith(why)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1"])
def test_the_development_setting_admits_loopback(address: str) -> None:
    assert address_problem(ip_address(address), policy=DEV) is None


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        "10.0.0.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "0.0.0.0",
        "::",
    ],
)
def test_the_development_setting_admits_loopback_only_plainly(address: str) -> None:
    assert address_problem(ip_address(address), policy=DEV) is not None


URLS: list[tuple[str, bool, str | None]] = [
    # (url, allow_loopback, the refusal's words or None)
    ("https://hooks.example.com/in?token=t", False, None),
    ("https://hooks.example.com:8443/in", False, None),
    ("HTTPS://Hooks.Example.COM/in", False, None),
    ("https://8.8.8.8/in", False, None),
    ("https://[2606:4700:4700::1111]:443/in", False, None),
    ("http://hooks.example.com/in", False, "http:// is refused"),
    ("http://hooks.example.com/in", True, "http:// is refused"),  # http: loopback only
    ("http://8.8.8.8/in", True, "http:// is refused"),
    ("http://127.0.0.1:8080/in", False, "http:// is refused"),
    ("http://127.0.0.1:8080/in", True, None),
    ("http://[::1]:8080/in", True, None),
    ("http://localhost:8080/in", True, None),
    ("http://LOCALHOST./in", True, None),
    ("https://127.0.0.1/in", False, "127.0.0.1 is loopback"),
    ("https://localhost/in", False, "localhost is loopback"),
    ("https://evil.localhost/in", False, "is loopback"),
    ("https://[::1]/in", False, "::1 is loopback"),
    ("https://169.254.169.254/latest/meta-data/", False, "link-local"),
    ("https://169.254.169.254/latest/meta-data/", True, "link-local"),
    ("https://[fd00:ec2::254]/latest/meta-data/", True, "EC2 instance service"),
    ("https://10.1.2.3/in", False, "private"),
    ("https://[::ffff:169.254.169.254]/", False, "IPv4-mapped"),
    ("http://[::ffff:169.254.169.254]/", True, "http:// is refused"),
    ("https://[::ffff:127.0.0.1]/", True, "IPv4-mapped"),
    ("https://[64:ff9b::a9fe:a9fe]/", False, "169.254.169.254 is link-local"),
    ("https://[fe80::1%25eth0]/", False, "link-local"),
    # Numeric hosts getaddrinfo reads as IPv4 (inet_aton) though no parser calls them
    # addresses: refused here. The pinned resolver refuses them as well, by the address they
    # resolve to (tests/unit/test_webhook_guard.py).
    ("https://0177.0.0.1/", False, "not a canonical IPv4 address"),
    ("https://0x7f.1/", False, "not a canonical IPv4 address"),
    ("https://0x7f000001/", False, "not a canonical IPv4 address"),
    ("https://2130706433/", False, "not a canonical IPv4 address"),
    ("https://127.1/", False, "not a canonical IPv4 address"),
    ("https://127.0.0.1./", False, "not a canonical IPv4 address"),
    ("https://1.2.3.4.5/", False, "not a canonical IPv4 address"),
    ("https://%31%32%37.0.0.1/", False, "not a canonical IPv4 address"),
    ("http://0177.0.0.1/", True, "http:// is refused"),
    ("https://user:pw@hooks.example.com/", False, "user info"),
    ("https://hooks.example.com@10.0.0.1/", False, "user info"),
    ("https://@hooks.example.com/", False, "user info"),
    ("https://hooks.example.com:0/", False, "port 0 is refused"),
    ("https://hooks.example.com:65536/", False, "cannot be read"),
    ("https://hooks.example.com:https/", False, "cannot be read"),
    ("https://[::1/", False, "cannot be read"),
    ("https://[not-v6]/", False, "cannot be read"),
    ("https:///path", False, "names no host"),
    ("ftp://hooks.example.com/", False, "scheme 'ftp' is refused"),
    ("file:///etc/passwd", False, "names no host"),
    ("gopher://127.0.0.1:6379/", True, "scheme 'gopher' is refused"),
]


@pytest.mark.parametrize(("url", "allow_loopback", "words"), URLS)
def test_webhook_urls(url: str, allow_loopback: bool, words: str | None) -> None:
    problem = webhook_url_problem(url, policy=DestinationPolicy(allow_loopback=allow_loopback))
    if words is None:
        assert problem is None
    else:
        assert problem is not None
        assert words in problem


def test_a_refusal_never_repeats_the_path_or_query() -> None:
    problems = [
        webhook_url_problem(u, policy=DestinationPolicy(allow_loopback=a))
        for u, a, _ in URLS
        if "?" in u or "/in" in u
    ]
    assert all("token" not in (p or "") and "/in" not in (p or "") for p in problems)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", False),
        ("example.com", False),
        ("10.0.0.1", False),
        ("127.1", False),
        ("localhost.example.com", False),
    ],
)
def test_the_hosts_plain_http_may_reach_in_development(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize("host", ["hooks.example.com", "xn--bcher-kva.example", "a1.b2"])
def test_a_name_is_left_to_the_resolver(host: str) -> None:
    assert host_problem(host) is None
