"""FFAPI_WEBHOOK_ENDPOINTS_ALLOW_PRIVATE: judged where the settings load, never handed to a
request's own webhooks (admission, dispatcher), and each kind of destination posted through its
own transport (tests/integration/test_private_endpoints.py delivers over real sockets)."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from pydantic import ValidationError

from core.errors import InvalidMessage
from core.events.cloudevent import CloudEvent, EventType
from core.events.webhooks import WebhookEndpoint, WebhookTarget
from core.jobs.intake import normalize
from infra.settings import Settings
from infra.webhook_config import WebhookConfig
from infra.webhooks import WebhookDispatcher
from tests.unit.fakes import FakeJobs
from tests.unit.webhook_rig import (
    GLOBAL_KEY,
    GLOBAL_SECRET,
    SECRET,
    FakeTime,
    FakeTransport,
    event,
    target,
    verify,
)

WHSEC = "whsec_" + "Z" * 32
INTERNAL = "https://10.0.3.7/hook"


def endpoints(*urls: str) -> str:
    return json.dumps([{"url": url, "secrets": [WHSEC]} for url in urls])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("ENDPOINTS", "ENDPOINTS_ALLOW_PRIVATE", "ALLOW_LOOPBACK"):
        monkeypatch.delenv(f"FFAPI_WEBHOOK_{name}", raising=False)
    return monkeypatch


def test_a_literal_private_endpoint_needs_the_opt_in(env: pytest.MonkeyPatch) -> None:
    env.setenv("FFAPI_WEBHOOK_ENDPOINTS", endpoints(INTERNAL, "https://[fd12:3456:789a::1]/h"))
    assert Settings.model_fields["webhook_endpoints_allow_private"].default is False
    with pytest.raises(ValidationError, match=re.escape("FFAPI_WEBHOOK_ENDPOINTS: 10.0.3.7 is")):
        Settings()

    env.setenv("FFAPI_WEBHOOK_ENDPOINTS_ALLOW_PRIVATE", "true")
    settings = Settings()
    assert [e.url for e in settings.webhook_endpoints] == [
        INTERNAL,
        "https://[fd12:3456:789a::1]/h",
    ]
    assert WebhookConfig.from_settings(settings).endpoints_allow_private is True


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254 is an EC2 instance service"),
        ("https://100.100.100.200/latest/meta-data/", "is shared address space"),
        ("https://[::ffff:10.0.3.7]/hook", "IPv4-mapped"),
        ("https://127.0.0.1/hook", "127.0.0.1 is loopback"),
        ("http://10.0.3.7/hook", "http:// is refused"),
    ],
)
def test_the_opt_in_never_admits_the_metadata_service_or_loopback(
    env: pytest.MonkeyPatch, url: str, words: str
) -> None:
    env.setenv("FFAPI_WEBHOOK_ENDPOINTS_ALLOW_PRIVATE", "true")
    env.setenv("FFAPI_WEBHOOK_ENDPOINTS", endpoints(url))
    with pytest.raises(ValidationError, match=re.escape(words)):
        Settings()


def test_a_request_naming_a_private_address_is_refused_with_the_opt_in_on(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("FFAPI_WEBHOOK_ENDPOINTS_ALLOW_PRIVATE", "true")
    env.setenv("FFAPI_WEBHOOK_ENDPOINTS", endpoints(INTERNAL))
    settings = Settings()
    body = json.dumps(
        {
            "input": {"bucket": settings.input_bucket, "key": "library/talk.mp4"},
            "webhooks": [{"url": INTERNAL}],
        }
    )
    with pytest.raises(InvalidMessage) as refused:
        normalize(body, settings.intake)
    assert refused.value.code == "forbidden_webhook"
    assert "10.0.3.7 is private" in refused.value.message


def run(
    config: WebhookConfig, *sends: tuple[CloudEvent, tuple[WebhookTarget, ...]]
) -> tuple[FakeJobs, FakeTransport, FakeTransport]:
    """The dispatcher over two fake transports, a job's own and the deployment's."""
    time = FakeTime()
    own, deployment = FakeTransport(time), FakeTransport(time)
    jobs = FakeJobs(records={"j-1": {"status": "RUNNING"}})
    hooks = WebhookDispatcher(
        config,
        own,
        jobs,
        endpoint_transport=deployment,
        clock=time.clock,
        wall=time.wall,
        sleep=time.sleep,
    )

    async def scenario() -> None:
        for e, targets in sends:
            hooks.send(e, targets)
        await hooks.aclose(None)

    asyncio.run(scenario())
    return jobs, own, deployment


def test_each_kind_goes_through_its_own_transport_by_its_own_policy() -> None:
    # A request names the operator's internal endpoint, and a public one of its own.
    config = WebhookConfig(
        secrets=(SECRET,),
        endpoints_allow_private=True,
        endpoints=(WebhookEndpoint(url=INTERNAL, secrets=(GLOBAL_SECRET,)),),
    )
    public = "https://hooks.example/in"
    jobs, own, deployment = run(
        config, (event(EventType.COMPLETED), (target(INTERNAL), target(public)))
    )

    assert [p.url for p in own.posts] == [public]
    [post] = deployment.posts
    assert post.url == INTERNAL
    assert verify(post, GLOBAL_KEY)  # signed with the endpoint's own secret
    outcomes = sorted(
        (d["endpoint"], d["outcome"], d["reason"]) for d in jobs.records["j-1"]["webhooks"]
    )
    assert outcomes == [
        (INTERNAL, "delivered", None),  # the deployment's, through its transport
        (INTERNAL, "forbidden", "forbidden_destination: 10.0.3.7 is private"),  # the job's
        (public, "delivered", None),
    ]


def test_without_the_opt_in_a_private_endpoint_is_refused_before_any_post() -> None:
    config = WebhookConfig(endpoints=(WebhookEndpoint(url=INTERNAL, secrets=(GLOBAL_SECRET,)),))
    jobs, own, deployment = run(config, (event(EventType.COMPLETED), ()))

    assert own.posts == deployment.posts == []
    [record] = jobs.records["j-1"]["webhooks"]
    assert (record["outcome"], record["reason"]) == (
        "forbidden",
        "forbidden_destination: 10.0.3.7 is private",
    )
