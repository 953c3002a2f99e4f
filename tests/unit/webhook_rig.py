"""WebhookDispatcher on a fake transport and a fake clock, for the unit tests of webhook
delivery: `rig` builds one, `event` and `target` what it sends where, `verify` checks a post's
signature and `delivered` reads the deliveries counter."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY
from pydantic import SecretStr
from tenacity.wait import wait_exponential

from core.events.cloudevent import CloudEvent, EventType
from core.events.webhooks import WebhookTarget
from infra.webhook_config import WebhookConfig
from infra.webhooks import WebhookDispatcher
from tests.unit.fakes import NOW, FakeJobs

KEY = bytes(range(32))
SECRET = SecretStr("whsec_" + base64.b64encode(KEY).decode())
GLOBAL_KEY = b"g" * 32
GLOBAL_SECRET = SecretStr("whsec_" + base64.b64encode(GLOBAL_KEY).decode())
HOOK = "https://hooks.example/in?token=t0ps3cret"
EPOCH = 1_700_000_000.0
Answer = int | tuple[int, dict[str, str]] | Exception


@dataclass
class Post:
    url: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event_type(self) -> str:
        return self.headers["webhook-id"].split(":")[1]


@dataclass
class FakeTime:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + self.now


@dataclass
class FakeTransport:
    time: FakeTime
    script: dict[str, list[Answer]] = field(default_factory=dict)  # per url; then 200
    respond: Callable[[str, dict[str, str]], Answer | None] | None = None  # else the script
    posts: list[Post] = field(default_factory=list)
    gate: asyncio.Event | None = None  # when set: every request hangs until it opens

    async def post(
        self, url: str, headers: Any, body: bytes, timeout: float
    ) -> tuple[int, dict[str, str]]:
        self.posts.append(Post(url, dict(headers), body, self.time.now))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)  # a request takes a turn of the loop, as a real one does
        answers = self.script.get(url)
        answer = self.respond(url, dict(headers)) if self.respond else None
        if answer is None:
            answer = answers.pop(0) if answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, tuple) else (answer, {})

    def to(self, url: str) -> list[Post]:
        return [p for p in self.posts if p.url == url]


@dataclass
class Rig:
    hooks: WebhookDispatcher
    transport: FakeTransport
    time: FakeTime
    jobs: FakeJobs

    def run(self, *sends: tuple[CloudEvent, tuple[WebhookTarget, ...]]) -> None:
        async def scenario() -> None:
            for event, targets in sends:
                self.hooks.send(event, targets)
            await self.hooks.aclose(None)

        asyncio.run(scenario())

    def record(self, job_id: str = "j-1") -> list[dict[str, Any]]:
        return list(self.jobs.records[job_id].get("webhooks", []))


def rig(backoff: Any = None, jobs: FakeJobs | None = None, **config: Any) -> Rig:
    time = FakeTime()
    transport = FakeTransport(time)
    jobs = jobs or FakeJobs(records={"j-1": {"status": "RUNNING"}, "j-2": {"status": "RUNNING"}})
    settings = WebhookConfig(**({"secrets": (SECRET,)} | config))
    hooks = WebhookDispatcher(
        settings,
        transport,
        jobs,
        clock=time.clock,
        wall=time.wall,
        sleep=time.sleep,
        backoff=backoff,
    )
    return Rig(hooks, transport, time, jobs)


def event(type_: EventType, job_id: str = "j-1", step: str = "") -> CloudEvent:
    # The id names the type, so a test can read the order off the posts.
    return CloudEvent(
        id=f"{job_id}:{type_.status}{step}", type=type_, subject=job_id, time=NOW, data={}
    )


def target(url: str = HOOK, events: tuple[EventType, ...] | None = None) -> WebhookTarget:
    return WebhookTarget(url=url, events=events)


CEILING = wait_exponential(multiplier=1, max=120)  # the jitter's upper bound, taken


def delivered(outcome: str) -> float:
    return REGISTRY.get_sample_value("ffapi_webhook_deliveries_total", {"outcome": outcome}) or 0


def verify(post: Post, key: bytes) -> bool:
    h = post.headers
    content = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + post.body
    mac = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(f"v1,{mac}", sig) for sig in h["webhook-signature"].split(" "))
