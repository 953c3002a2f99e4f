"""Private addresses for the deployment's configured endpoints: every range against each kind
of destination (a request's own webhook, a deployment endpoint, a deployment endpoint with
FFAPI_WEBHOOK_ENDPOINTS_ALLOW_PRIVATE), as the dispatcher builds their policies."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from core.events.destinations import DestinationPolicy, address_problem, webhook_url_problem
from infra.webhook_config import WebhookConfig

KINDS = ["request", "request+opt-in", "endpoint", "endpoint+opt-in"]

# (address, the refusal's words for every kind but endpoint+opt-in, its words there; None:
# may be contacted).
TABLE: list[tuple[str, str | None, str | None]] = [
    ("8.8.8.8", None, None),
    ("2606:4700:4700::1111", None, None),
    # Private unicast: admitted for an opted-in endpoint only.
    ("10.0.3.7", "10.0.3.7 is private", None),
    ("10.255.255.255", "is private", None),
    ("172.16.0.1", "is private", None),
    ("172.31.255.254", "is private", None),
    ("192.168.1.1", "is private", None),
    ("fd12:3456:789a::1", "is private", None),  # unique local
    ("fc00::1", "is private", None),
    ("64:ff9b::a00:307", "(NAT64): 10.0.3.7 is private", None),  # DNS64 in an IPv6-only VPC
    # Never, whatever the kind: the instance's services...
    ("169.254.169.254", "is link-local", "is link-local"),  # instance metadata
    ("169.254.170.2", "is link-local", "is link-local"),  # ECS task metadata
    ("fd00:ec2::254", "is an EC2 instance service", "is an EC2 instance service"),  # metadata
    ("fd00:ec2::253", "is an EC2 instance service", "is an EC2 instance service"),  # DNS
    ("fd00:ec2::123", "is an EC2 instance service", "is an EC2 instance service"),  # time
    ("64:ff9b::a9fe:a9fe", "169.254.169.254 is link-local", "169.254.169.254 is link-local"),
    ("100.100.100.200", "shared address space", "shared address space"),  # Alibaba metadata
    ("100.64.0.1", "shared address space", "shared address space"),  # CGNAT
    ("192.0.0.192", "is reserved", "is reserved"),  # Oracle Cloud metadata
    # ...loopback, link-local, multicast, unspecified, reserved and documentation...
    ("127.0.0.1", "is loopback", "is loopback"),
    ("::1", "is loopback", "is loopback"),
    ("fe80::1", "is link-local", "is link-local"),
    ("224.0.0.1", "is multicast", "is multicast"),
    ("ff02::1", "is multicast", "is multicast"),
    ("0.0.0.0", "is unspecified", "is unspecified"),
    ("::", "is unspecified", "is unspecified"),
    ("240.0.0.1", "is reserved", "is reserved"),
    ("198.18.0.1", "is benchmarking", "is benchmarking"),
    ("192.0.2.1", "is documentation", "is documentation"),
    ("2001:db8::1", "is documentation", "is documentation"),
    ("fec0::1", "is site-local", "is site-local"),
    # ...and IPv4 in disguise: mapped and compatible forms, and the internet's own tunnels.
    ("::ffff:10.0.3.7", "IPv4-mapped", "IPv4-mapped"),
    ("::ffff:169.254.169.254", "IPv4-mapped", "IPv4-mapped"),
    ("::10.0.3.7", "IPv4-compatible", "IPv4-compatible"),
    ("2002:a00:307::1", "(6to4): 10.0.3.7 is private", "(6to4): 10.0.3.7 is private"),
    ("2001:0:a00:307::1", "(Teredo server): 10.0.3.7", "(Teredo server): 10.0.3.7"),
]


def policy_of(kind: str) -> DestinationPolicy:
    """The policy the dispatcher judges a delivery of this kind by."""
    config = WebhookConfig(endpoints_allow_private=kind.endswith("+opt-in"))
    return config.policy(configured=kind.startswith("endpoint"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("address", "refused", "refused_opted_in"), TABLE)
def test_each_range_for_each_kind_of_destination(
    kind: str, address: str, refused: str | None, refused_opted_in: str | None
) -> None:
    words = refused_opted_in if kind == "endpoint+opt-in" else refused
    problem = address_problem(ip_address(address), policy=policy_of(kind))
    if words is None:
        assert problem is None
    else:
        assert problem is not None
        assert words in problem


@pytest.mark.parametrize(
    ("url", "endpoint_words", "request_words"),
    [
        ("https://10.0.3.7/hook", None, "10.0.3.7 is private"),
        ("https://[fd12:3456:789a::1]:8443/hook", None, "is private"),
        # A name is judged when it is resolved (infra/pinned_resolver.py), by the same policy.
        ("https://hooks.internal.example/hook", None, None),
        ("http://10.0.3.7/hook", "http:// is refused", "http:// is refused"),  # https only
        ("https://[fd00:ec2::254]/latest/meta-data/", "EC2 instance service", "EC2 instance"),
        ("https://169.254.169.254/latest/meta-data/", "link-local", "link-local"),
        ("https://[::ffff:10.0.3.7]/", "IPv4-mapped", "IPv4-mapped"),
        ("https://127.0.0.1/", "loopback", "loopback"),
        ("https://localhost/", "loopback", "loopback"),
    ],
)
def test_the_urls_an_opted_in_endpoint_and_a_request_may_name(
    url: str, endpoint_words: str | None, request_words: str | None
) -> None:
    for kind, words in (("endpoint+opt-in", endpoint_words), ("request+opt-in", request_words)):
        problem = webhook_url_problem(url, policy=policy_of(kind))
        if words is None:
            assert problem is None, kind
        else:
            assert words in (problem or ""), kind


def test_a_request_never_gets_private_addresses_even_in_development() -> None:
    config = WebhookConfig(allow_loopback=True, endpoints_allow_private=True)
    request, endpoint = config.policy(configured=False), config.policy(configured=True)
    assert request == DestinationPolicy(allow_loopback=True, allow_private=False)
    assert endpoint == DestinationPolicy(allow_loopback=True, allow_private=True)
    assert address_problem(ip_address("10.0.3.7"), policy=request) == "10.0.3.7 is private"
    assert address_problem(ip_address("127.0.0.1"), policy=endpoint) is None
    # Both allowances together still leave the metadata service out.
    for metadata in ("169.254.169.254", "fd00:ec2::254", "::ffff:127.0.0.1"):
        assert address_problem(ip_address(metadata), policy=endpoint) is not None
