"""A deployment endpoint inside the VPC (FFAPI_WEBHOOK_ENDPOINTS_ALLOW_PRIVATE) over real
sockets and TLS, through the worker's own wiring (``open_webhooks``: two transports, pinned
resolvers). The endpoint's name resolves to 10.0.3.7, which the resolver judges as it stands;
this host cannot bind a 10.x address, so the test's event loop routes connections to it to the
receiver on 127.0.0.1, as the VPC would route them to the receiver. A request's own webhook to
the same host, sharing the process, ends ``forbidden`` without reaching it."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.events.cloudevent import CloudEvent, EventType
from core.events.webhooks import WebhookTarget
from infra.pinned_resolver import AddrInfo
from infra.settings import Settings
from infra.webhooks import open_webhooks
from tests.unit.fakes import FakeJobs

from .test_webhooks import GLOBAL_KEY, JOB_KEY, Receiver, event, whsec

pytestmark = pytest.mark.integration

PRIVATE, HOST = "10.0.3.7", "hooks.internal.test"


@dataclass
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext  # trusts only the test's CA


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if not ca:
        names = [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address(PRIVATE))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A CA of the test's own and a certificate for HOST and PRIVATE signed by it."""
    folder: Path = tmp_path_factory.mktemp("pki")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ffapi test CA", ca_key, "ffapi test CA", ca_key, ca=True)
    leaf = _cert(HOST, key, "ffapi test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "leaf.pem", folder / "key.pem")
    return Tls(server, ssl.create_default_context(cafile=str(folder / "ca.pem")))


class VpcLoop(asyncio.SelectorEventLoop):
    """Connections to PRIVATE go to 127.0.0.1, the port kept: the VPC's routing, in the test.
    Only where the socket goes changes; what the guard sees and judges is PRIVATE."""

    def __init__(self) -> None:
        super().__init__()
        self.dialled: list[str] = []  # the address each connection was made to

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        self.dialled.append(address[0])
        if address[0] == PRIVATE:
            address = ("127.0.0.1", *address[1:])
        await super().sock_connect(sock, address)


async def dns(host: str, port: int, family: int) -> AddrInfo:
    """HOST's record in the VPC's private zone; no other name resolves."""
    if host != HOST:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PRIVATE, port))]


def deliver(
    settings: Settings, tls: Tls, sends: Sequence[tuple[CloudEvent, tuple[WebhookTarget, ...]]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The events through the worker's wiring; the job's records and the addresses dialled."""
    jobs = FakeJobs(records={"j-1": {"status": "RUNNING"}})
    loop = VpcLoop()

    async def scenario() -> None:
        async with open_webhooks(settings, jobs, None, lookup=dns, tls=tls.client) as hooks:
            for e, targets in sends:
                hooks.send(e, targets)  # leaving waits for every delivery

    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(scenario())
    return list(jobs.records["j-1"]["webhooks"]), loop.dialled


def settings_for(url: str, *, allow_private: bool) -> Settings:
    return Settings(
        webhook_endpoints=[{"url": url, "secrets": [whsec(GLOBAL_KEY)]}],
        webhook_endpoints_allow_private=allow_private,
        webhook_secrets=[whsec(JOB_KEY)],
        webhook_backoff_base=0.05,
        webhook_backoff_max=0.2,
        webhook_deadline=10.0,
        webhook_timeout=5.0,
    )


@pytest.mark.parametrize(
    ("host", "refusal", "attempts"),
    [
        (HOST, f"{HOST}: {PRIVATE} is private", 1),  # refused as it resolves
        (PRIVATE, f"{PRIVATE} is private", 0),
    ],  # refused by the URL check, before any attempt
)
def test_the_endpoint_reaches_its_private_address_and_a_requests_webhook_there_does_not(
    tls: Tls, host: str, refusal: str, attempts: int
) -> None:
    with Receiver({"/hook": [whsec(GLOBAL_KEY)]}, tls=tls.server) as rx:
        url = f"https://{host}:{rx.port}/hook"
        # started reaches the endpoint first: its connection is pooled by the time the
        # request's own webhook to the same host and port is tried (completed).
        records, dialled = deliver(
            settings_for(url, allow_private=True),
            tls,
            [
                (event(EventType.STARTED), ()),
                (event(EventType.COMPLETED), (WebhookTarget(url=url),)),
            ],
        )

        received = rx.requests("/hook")
    assert [(r.event["type"], r.verdict) for r in received] == [
        ("ffapi.job.started", "ok"),
        ("ffapi.job.completed", "ok"),  # the endpoint's secret
    ]
    assert set(dialled) == {PRIVATE}  # the judged address, and only it
    assert [(r["event_type"], r["outcome"], r["status"], r["attempts"]) for r in records] == [
        ("ffapi.job.started", "delivered", 200, 1),
        ("ffapi.job.completed", "forbidden", None, attempts),  # the request's own
        ("ffapi.job.completed", "delivered", 200, 1),
    ]
    assert records[1]["reason"] == f"forbidden_destination: {refusal}"


def test_without_the_opt_in_the_endpoint_is_refused_where_it_resolves(tls: Tls) -> None:
    with Receiver({"/hook": [whsec(GLOBAL_KEY)]}, tls=tls.server) as rx:
        url = f"https://{HOST}:{rx.port}/hook"
        records, dialled = deliver(
            settings_for(url, allow_private=False), tls, [(event(EventType.COMPLETED), ())]
        )
        received = rx.requests()

    assert received == []
    assert dialled == []
    [record] = records
    assert (record["outcome"], record["attempts"], record["reason"]) == (
        "forbidden",
        1,
        f"forbidden_destination: {HOST}: {PRIVATE} is private",
    )
