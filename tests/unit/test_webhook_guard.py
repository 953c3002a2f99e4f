"""The SSRF guard's adapters without a network: the pinned resolver on scripted DNS answers,
the transport's refusals, and a refused destination as the dispatcher records it."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from core.events.cloudevent import EventType
from core.events.destinations import PUBLIC_ONLY, DestinationPolicy
from infra.pinned_resolver import AddrInfo, ForbiddenDestination, PinnedResolver, getaddrinfo
from infra.settings import Settings
from infra.webhook_config import WebhookConfig
from infra.webhook_transport import WebhookUnreachable, open_transport
from tests.unit.webhook_rig import delivered, event, rig, target

V4, V6 = socket.AF_INET, socket.AF_INET6


def answer(*addresses: str, port: int = 443) -> AddrInfo:
    """What getaddrinfo returns for these addresses."""
    return [
        (V6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
        if ":" in a
        else (V4, socket.SOCK_STREAM, 6, "", (a, port))
        for a in addresses
    ]


class Dns:
    """A scripted lookup: each host's answer, and every question asked."""

    def __init__(self, **answers: AddrInfo) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int, int]] = []

    async def __call__(self, host: str, port: int, family: int) -> AddrInfo:
        self.asked.append((host, port, family))
        key = host.replace(".", "_").replace("-", "_")
        if key not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[key]


def resolve(dns: Dns, host: str, policy: DestinationPolicy = PUBLIC_ONLY) -> Any:
    resolver = PinnedResolver(policy=policy, lookup=dns)
    return asyncio.run(resolver.resolve(host, 443, socket.AF_UNSPEC))


def test_the_checked_addresses_are_returned_under_the_hosts_name_resolved_once() -> None:
    dns = Dns(hooks_example_com=answer("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"))
    results = resolve(dns, "hooks.example.com")

    assert dns.asked == [("hooks.example.com", 443, socket.AF_UNSPEC)]
    assert [(r["host"], r["port"], r["family"]) for r in results] == [
        ("93.184.215.14", 443, V4),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443, V6),
    ]
    # The name stays with them: TLS verifies the certificate against it, not the address.
    assert {r["hostname"] for r in results} == {"hooks.example.com"}
    assert all(r["flags"] & socket.AI_NUMERICHOST for r in results)  # never looked up again


@pytest.mark.parametrize(
    ("addresses", "words"),
    [
        (("93.184.215.14", "10.0.0.7"), "10.0.0.7 is private"),
        (("10.0.0.7", "93.184.215.14"), "10.0.0.7 is private"),
        (("2606:4700::1111", "fd00:ec2::254"), "fd00:ec2::254 is an EC2 instance service"),
        (("169.254.169.254",), "169.254.169.254 is link-local"),
        (("::ffff:a9fe:a9fe",), "IPv4-mapped"),
        (("127.0.0.1",), "127.0.0.1 is loopback"),
    ],
)
def test_a_host_is_refused_whole_when_any_of_its_addresses_is(
    addresses: tuple[str, ...], words: str
) -> None:
    # A name answering a public and a private address could make a first connection fail and
    # the next one reach the private host: none of its addresses is used.
    dns = Dns(rebind_example=answer(*addresses))
    with pytest.raises(ForbiddenDestination, match=re.escape(words)):
        resolve(dns, "rebind.example")


def test_loopback_answers_pass_only_with_the_development_setting() -> None:
    dns = Dns(localhost=answer("127.0.0.1", "::1"))
    with pytest.raises(ForbiddenDestination, match="loopback"):
        resolve(dns, "localhost")
    allowed = resolve(dns, "localhost", DestinationPolicy(allow_loopback=True))
    assert [r["host"] for r in allowed] == [
        "127.0.0.1",
        "::1",
    ]


def test_no_address_is_an_ordinary_failure_not_a_refusal() -> None:
    with pytest.raises(OSError, match=r"empty\.example has no address") as raised:
        resolve(Dns(empty_example=[]), "empty.example")
    assert not isinstance(raised.value, ForbiddenDestination)
    with pytest.raises(socket.gaierror):
        resolve(Dns(), "nxdomain.example")


@pytest.mark.parametrize("host", ["0177.0.0.1", "0x7f.1", "2130706433", "127.1", "0x7f000001"])
def test_numeric_spellings_the_url_check_refuses_are_refused_by_their_address_too(
    host: str,
) -> None:
    # The system resolver reads these as 127.0.0.1 (inet_aton; no DNS is asked). Were a URL
    # with one to get past the URL check, the address it resolves to is still judged.
    resolver = PinnedResolver(lookup=getaddrinfo)
    with pytest.raises(ForbiddenDestination, match=re.escape("127.0.0.1 is loopback")):
        asyncio.run(resolver.resolve(host, 443, socket.AF_INET))


# --- the transport over a real aiohttp session, no connection made ---------------------------


def post(url: str, dns: Dns, **options: Any) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        async with open_transport(lookup=dns, **options) as transport:
            return await asyncio.wait_for(transport.post(url, {}, b"{}", 30.0), 10)

    return asyncio.run(go())


@pytest.mark.parametrize(
    "url",
    [
        "https://[::ffff:a9fe:a9fe]/in",
        "https://169.254.169.254/latest",
        "https://10.0.0.1/",
        "https://[fd00:ec2::254]/",
        "http://127.0.0.1:9/",
        "https://localhost/",
    ],
)
def test_a_literal_address_is_judged_before_any_connection(url: str) -> None:
    # aiohttp connects to a literal address without asking the resolver: the transport judges.
    dns = Dns()
    with pytest.raises(ForbiddenDestination):
        post(url, dns)
    assert dns.asked == []


def test_a_name_resolving_to_a_refused_address_is_refused_through_aiohttp() -> None:
    dns = Dns(hooks_example_com=answer("93.184.215.14", "10.0.0.7"))
    words = re.escape("hooks.example.com: 10.0.0.7 is private")
    with pytest.raises(ForbiddenDestination, match=words):
        post("https://hooks.example.com/in?token=t0ps3cret", dns)
    assert dns.asked == [("hooks.example.com", 443, socket.AF_UNSPEC)]


def test_a_lookup_that_never_answers_is_cut_by_the_connect_timeout() -> None:
    async def silent(host: str, port: int, family: int) -> AddrInfo:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    # The attempt's timeout is 30 s (post()); the connection's, 0.2 s, cuts it first, and
    # wait_for's 10 s turns a hang into a failure rather than a stuck test.
    with pytest.raises(WebhookUnreachable):
        post("https://hooks.example.com/", silent, connect_timeout=0.2)  # type: ignore[arg-type]


# --- what the dispatcher makes of a refusal ---------------------------------------------------


def test_a_refused_url_is_a_final_outcome_recorded_without_a_request() -> None:
    r = rig()
    before = delivered("forbidden")
    url = "https://169.254.169.254/latest/meta-data/?token=t0ps3cret"
    with capture_logs() as logs:
        r.run((event(EventType.COMPLETED), (target(url),)))

    assert r.transport.posts == []
    [record] = r.record()
    assert (record["outcome"], record["status"], record["attempts"]) == ("forbidden", None, 0)
    assert record["reason"] == "forbidden_destination: 169.254.169.254 is link-local"
    assert record["endpoint"] == "https://169.254.169.254/latest/meta-data/"
    assert delivered("forbidden") == before + 1
    [line] = [e for e in logs if e["event"] == "webhook.forbidden"]
    assert line["reason"] == record["reason"]
    assert "t0ps3cret" not in str(logs) + str(r.jobs.records)


def test_http_to_loopback_reaches_the_transport_only_with_the_development_setting() -> None:
    url = "http://127.0.0.1:8080/in"
    refused, allowed = rig(), rig(allow_loopback=True)
    refused.run((event(EventType.COMPLETED), (target(url),)))
    allowed.run((event(EventType.COMPLETED), (target(url),)))

    assert refused.transport.posts == []
    assert refused.record()[0]["reason"] == (
        "forbidden_destination: http:// is refused: webhooks go over https"
    )
    assert len(allowed.transport.posts) == 1
    assert allowed.record()[0]["outcome"] == "delivered"


def test_a_destination_the_transport_refuses_is_not_retried() -> None:
    r = rig()
    refusal = ForbiddenDestination("hooks.example: 10.0.0.7 is private")
    r.transport.script["https://hooks.example/in?token=t0ps3cret"] = [refusal]
    r.run((event(EventType.STARTED), (target(),)), (event(EventType.COMPLETED), (target(),)))

    assert r.time.sleeps == []
    assert len(r.transport.posts) == 2  # each event asks once; the second one was answered
    assert [(d["outcome"], d["attempts"], d["reason"]) for d in r.record()] == [
        ("forbidden", 1, "forbidden_destination: hooks.example: 10.0.0.7 is private"),
        ("delivered", 1, None),
    ]


# --- the setting -----------------------------------------------------------------------------


def test_configured_endpoints_are_judged_at_load_and_loopback_needs_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "whsec_" + "Z" * 32
    hook = '[{{"url": "{}", "secrets": ["' + secret + '"]}}]'
    monkeypatch.delenv("FFAPI_WEBHOOK_ALLOW_LOOPBACK", raising=False)
    assert Settings().webhook_allow_loopback is False  # the default

    monkeypatch.setenv("FFAPI_WEBHOOK_ENDPOINTS", hook.format("http://127.0.0.1:8080/in"))
    with pytest.raises(ValidationError, match="http:// is refused"):
        Settings()
    monkeypatch.setenv("FFAPI_WEBHOOK_ALLOW_LOOPBACK", "true")
    settings = Settings()
    assert WebhookConfig.from_settings(settings).allow_loopback is True

    monkeypatch.setenv("FFAPI_WEBHOOK_ENDPOINTS", hook.format("https://169.254.169.254/x"))
    with pytest.raises(ValidationError, match=re.escape("169.254.169.254 is link-local")):
        Settings()
