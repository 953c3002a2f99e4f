"""WebhookDispatcher on a fake transport and a fake clock: retries, deadlines, order, 410."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from structlog.testing import capture_logs
from tenacity.wait import wait_exponential

from core.events import CloudEvent, EventType
from core.webhooks import WebhookEndpoint, WebhookTarget
from infra.webhook_transport import WebhookUnreachable, retry_after
from infra.webhooks import WebhookConfig, WebhookDispatcher
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
        settings, transport, jobs, clock=time.clock, wall=time.wall, sleep=time.sleep,
        backoff=backoff,
    )  # fmt: skip
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


def test_an_event_is_posted_signed_and_its_outcome_recorded() -> None:
    r = rig()
    completed = event(EventType.COMPLETED)
    r.run((completed, (target(),)))

    [post] = r.transport.posts
    assert post.body == completed.to_json().encode()
    assert post.headers["content-type"] == "application/cloudevents+json"
    assert post.headers["user-agent"].startswith("ffapi-webhooks/")
    assert post.headers["webhook-id"] == completed.id
    assert post.headers["webhook-timestamp"] == str(int(EPOCH))
    assert verify(post, KEY)
    [record] = r.record()
    assert record == {
        "event_id": completed.id, "event_type": "ffapi.job.completed",
        "endpoint": "https://hooks.example/in", "status": 200, "attempts": 1,
        "reason": None, "outcome": "delivered", "at": "2023-11-14T22:13:20.000+00:00",
    }  # fmt: skip
    assert "t0ps3cret" not in str(r.jobs.records)


def test_retries_back_off_exponentially_and_sign_each_attempt_afresh() -> None:
    r = rig(backoff=CEILING)
    r.transport.script[HOOK] = [500, 502, 503, 504]
    r.run((event(EventType.COMPLETED), (target(),)))

    assert r.time.sleeps == [1, 2, 4, 8]
    posts = r.transport.posts
    stamps = [int(p.headers["webhook-timestamp"]) for p in posts]
    assert stamps == [int(EPOCH + t) for t in (0, 1, 3, 7, 15)]
    assert len({p.headers["webhook-signature"] for p in posts}) == 5
    assert all(verify(p, KEY) for p in posts)
    assert {p.headers["webhook-id"] for p in posts} == {"j-1:completed"}
    assert r.record()[0] | {"at": None} == r.record()[0] | {
        "outcome": "delivered", "attempts": 5, "status": 200, "at": None,
    }  # fmt: skip


def test_the_jitter_is_full_and_stays_under_the_exponential_ceiling() -> None:
    r = rig(backoff_base=1.0, backoff_max=10.0)  # tenacity's random exponential wait
    r.transport.script[HOOK] = [500] * 12
    r.run((event(EventType.COMPLETED), (target(),)))

    ceilings = [min(10.0, 2.0**n) for n in range(12)]
    assert all(0 <= s <= c for s, c in zip(r.time.sleeps, ceilings, strict=True))
    assert len(set(r.time.sleeps)) > 1  # jittered, not a fixed schedule
    assert r.record()[0]["attempts"] == 13


def test_retry_after_is_waited_for_at_least_in_seconds_or_as_a_date() -> None:
    r = rig(backoff=CEILING)
    later = email.utils.format_datetime(datetime.fromtimestamp(EPOCH + 30 + 45, UTC), True)
    r.transport.script[HOOK] = [(429, {"retry-after": "30"}), (503, {"retry-after": later})]
    r.run((event(EventType.COMPLETED), (target(),)))

    assert r.time.sleeps == [30, 45]  # more than the backoff's 1 and 2
    assert r.record()[0]["outcome"] == "delivered"


def test_a_retry_after_past_the_deadline_expires_the_delivery_at_once() -> None:
    r = rig(backoff=CEILING, deadline=600.0)
    r.transport.script[HOOK] = [(503, {"retry-after": "3600"})]
    r.run((event(EventType.COMPLETED), (target(),)))

    assert r.time.sleeps == []
    [record] = r.record()
    assert (record["outcome"], record["status"], record["attempts"]) == ("expired", 503, 1)


def test_retries_stop_at_the_deadline() -> None:
    r = rig(backoff=wait_exponential(multiplier=10, max=120), deadline=600.0)
    r.transport.respond = lambda url, headers: 500
    before = delivered("expired")
    r.run((event(EventType.COMPLETED), (target(),)))

    assert r.time.sleeps == [10, 20, 40, 80, 120, 120, 120]  # 510 s; one more would pass 600
    [record] = r.record()
    assert (record["outcome"], record["status"], record["attempts"]) == ("expired", 500, 8)
    assert delivered("expired") == before + 1


def test_no_answer_is_retried_and_408_425_too() -> None:
    r = rig(backoff=CEILING)
    r.transport.script[HOOK] = [WebhookUnreachable("ClientConnectorError"), 408, 425]
    r.run((event(EventType.COMPLETED), (target(),)))
    assert r.record()[0] | {"at": None} == r.record()[0] | {
        "outcome": "delivered", "attempts": 4, "at": None,
    }  # fmt: skip


@pytest.mark.parametrize(("status", "reason"), [(400, "HTTP 400"), (404, "HTTP 404"),
                                                 (302, "redirects are not followed")])  # fmt: skip
def test_other_answers_are_final_failures(status: int, reason: str) -> None:
    r = rig(backoff=CEILING)
    r.transport.script[HOOK] = [status]
    r.run((event(EventType.COMPLETED), (target(),)))

    assert r.time.sleeps == []
    [record] = r.record()
    assert (record["outcome"], record["status"], record["attempts"]) == ("failed", status, 1)
    assert reason in record["reason"]


def test_410_stops_that_jobs_events_to_that_endpoint_only() -> None:
    other = "https://other.example/hook"
    r = rig()
    gone = (HOOK, "j-1:received")
    r.transport.respond = lambda url, h: 410 if (url, h["webhook-id"]) == gone else None
    both = (target(), target(other))
    r.run(
        (event(EventType.RECEIVED), both), (event(EventType.STARTED), both),
        (event(EventType.RECEIVED, "j-2"), both), (event(EventType.COMPLETED), both),
    )  # fmt: skip

    assert [p.headers["webhook-id"] for p in r.transport.to(HOOK)] == [
        "j-1:received", "j-2:received",
    ]  # fmt: skip
    assert len(r.transport.to(other)) == 4
    outcomes = [(d["event_type"], d["endpoint"], d["outcome"], d["attempts"]) for d in r.record()]
    assert [o for o in outcomes if o[1] == "https://hooks.example/in"] == [
        ("ffapi.job.received", "https://hooks.example/in", "gone", 1),
        ("ffapi.job.started", "https://hooks.example/in", "gone", 0),
        ("ffapi.job.completed", "https://hooks.example/in", "gone", 0),
    ]


def test_a_410_recorded_by_an_earlier_process_is_honoured() -> None:
    jobs = FakeJobs(records={"j-1": {"status": "COMPLETED", "webhooks": [
        {"endpoint": "https://hooks.example/in", "outcome": "gone", "event_id": "x"},
    ]}})  # fmt: skip
    r = rig(jobs=jobs)
    r.run((event(EventType.COMPLETED), (target(), target("https://other.example/h"))))

    assert [p.url for p in r.transport.posts] == ["https://other.example/h"]
    assert [d["outcome"] for d in r.record()[1:]] == ["gone", "delivered"]


def test_each_endpoint_gets_a_jobs_events_in_order_without_waiting_for_the_others() -> None:
    slow = "https://slow.example/h"
    r = rig(backoff=CEILING)
    refusals = iter([500, 500])

    def answer(url: str, headers: dict[str, str]) -> int | None:
        if url == slow and headers["webhook-id"].endswith("completed"):
            return next(refusals, 200)
        return None

    r.transport.respond = answer
    lifecycle = [EventType.RECEIVED, EventType.STARTED, EventType.PROGRESS, EventType.COMPLETED]
    r.run(*((event(t), (target(slow), target())) for t in lifecycle))

    assert [p.event_type for p in r.transport.to(slow)] == [
        "received", "started", "progress", "completed", "completed", "completed",
    ]  # fmt: skip
    fast = r.transport.to(HOOK)
    assert [p.event_type for p in fast] == ["received", "started", "progress", "completed"]
    # Not held behind the slow endpoint's retries.
    last_slow = r.transport.to(slow)[-1]
    assert r.transport.posts.index(fast[-1]) < r.transport.posts.index(last_slow)


def test_the_event_filter_of_a_job_target_and_of_a_global_endpoint() -> None:
    glob = WebhookEndpoint(
        url="https://global.example/h", secrets=(GLOBAL_SECRET,), events=(EventType.FAILED,)
    )
    r = rig(endpoints=(glob,))
    only_done = target(events=(EventType.COMPLETED, EventType.FAILED))
    r.run(*((event(t), (only_done,)) for t in (EventType.STARTED, EventType.COMPLETED)))
    r2 = rig(endpoints=(glob,))
    r2.run((event(EventType.FAILED), ()))

    assert [p.event_type for p in r.transport.posts] == ["completed"]
    [post] = r2.transport.posts
    assert post.url == "https://global.example/h"
    assert verify(post, GLOBAL_KEY)
    assert not verify(post, KEY)


def test_job_targets_without_secrets_fail_recorded_while_global_endpoints_deliver() -> None:
    glob = WebhookEndpoint(url="https://global.example/h", secrets=(GLOBAL_SECRET,))
    r = rig(secrets=(), endpoints=(glob,))
    r.run((event(EventType.COMPLETED), (target(),)))

    assert [p.url for p in r.transport.posts] == ["https://global.example/h"]
    by_endpoint = {d["endpoint"]: d for d in r.record()}
    assert by_endpoint["https://hooks.example/in"]["outcome"] == "failed"
    assert "FFAPI_WEBHOOK_SECRETS" in by_endpoint["https://hooks.example/in"]["reason"]
    assert by_endpoint["https://global.example/h"]["outcome"] == "delivered"


def test_progress_is_counted_but_not_recorded() -> None:
    r = rig()
    before = delivered("delivered")
    r.run((event(EventType.PROGRESS, step="/50"), (target(),)))
    assert len(r.transport.posts) == 1
    assert r.record() == []
    assert delivered("delivered") == before + 1


def test_a_failing_progress_event_gives_way_to_the_next_event_of_its_job() -> None:
    r = rig(backoff=CEILING)
    r.transport.script[HOOK] = [503, 503, 503]  # then 200
    before = delivered("superseded")
    r.run(
        (event(EventType.PROGRESS, step="/40"), (target(),)),
        (event(EventType.COMPLETED), (target(),)),
    )
    # One try for the progress event, then the completion (after its own retries).
    assert [p.event_type for p in r.transport.posts] == [
        "progress/40", "completed", "completed", "completed",
    ]  # fmt: skip
    assert delivered("superseded") == before + 1
    assert [d["outcome"] for d in r.record()] == ["delivered"]


def test_while_an_endpoint_is_down_only_the_final_event_is_retried_to_the_deadline() -> None:
    r = rig(backoff=CEILING, deadline=100.0)
    r.transport.script[HOOK] = [503] * 40
    lifecycle = [EventType.RECEIVED, EventType.STARTED, EventType.PROGRESS, EventType.COMPLETED]
    r.run(*((event(t), (target(),)) for t in lifecycle))

    posts = [p.event_type for p in r.transport.posts]
    assert posts[:3] == ["received", "started", "progress"]  # one try each: later ones wait
    assert set(posts[3:]) == {"completed"}
    assert len(posts) > 5  # the final event is the one retried
    by_type = {d["event_type"]: d for d in r.record()}
    assert by_type["ffapi.job.received"]["outcome"] == "superseded"
    assert by_type["ffapi.job.started"]["outcome"] == "superseded"
    assert by_type["ffapi.job.completed"]["outcome"] == "expired"
    assert by_type["ffapi.job.completed"]["attempts"] == len(posts) - 3


def test_a_failing_progress_event_alone_is_retried_like_any_other() -> None:
    r = rig(backoff=CEILING)
    r.transport.script[HOOK] = [503]
    r.run((event(EventType.PROGRESS, step="/40"), (target(),)))
    assert [p.event_type for p in r.transport.posts] == ["progress/40", "progress/40"]
    assert r.time.sleeps == [1]


def test_a_recording_failure_is_logged_never_raised() -> None:
    class BrokenJobs(FakeJobs):
        async def record_delivery(self, job_id: str, delivery: dict[str, Any]) -> None:
            raise RuntimeError("dynamodb down")

    r = rig(jobs=BrokenJobs(records={"j-1": {"status": "RUNNING"}}))
    r.run((event(EventType.STARTED), (target(),)), (event(EventType.COMPLETED), (target(),)))
    assert [p.event_type for p in r.transport.posts] == ["started", "completed"]


def test_send_returns_at_once_and_never_raises() -> None:
    r = rig()
    r.hooks.send(event(EventType.COMPLETED), (target(),))  # no loop running: logged, dropped
    assert r.transport.posts == []

    async def scenario() -> None:
        r.transport.gate = asyncio.Event()
        r.hooks.send(event(EventType.COMPLETED), (target(),))  # returns while it hangs
        await asyncio.sleep(0.01)
        assert (r.hooks.in_flight, len(r.transport.posts)) == (1, 1)
        r.transport.gate.set()
        await r.hooks.aclose(None)

    asyncio.run(scenario())
    assert r.record()[0]["outcome"] == "delivered"


def test_aclose_abandons_what_is_still_in_flight_after_the_grace() -> None:
    r = rig()
    before = delivered("abandoned")

    async def scenario() -> None:
        r.transport.gate = asyncio.Event()  # never opened
        for t in (EventType.STARTED, EventType.COMPLETED):
            r.hooks.send(event(t), (target(),))
        await r.hooks.aclose(0.01)
        r.hooks.send(event(EventType.COMPLETED, "j-2"), (target(),))  # after close

    asyncio.run(scenario())
    assert delivered("abandoned") == before + 3
    assert r.hooks.in_flight == 0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 0.0), ("", 0.0), ("17", 17.0), (" 5 ", 5.0), ("soon", 0.0), ("-3", 0.0),
     ("Tue, 14 Nov 2023 22:14:00 GMT", 40.0), ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0)],
)  # fmt: skip
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float) -> None:
    assert retry_after(value, EPOCH) == seconds


def test_delivery_logs_name_the_job_and_its_correlation_id_never_the_query() -> None:
    r = rig()
    completed = CloudEvent(
        id="j-1:completed", type=EventType.COMPLETED, subject="j-1", time=NOW,
        data={"correlation_id": "order-4711"},
    )  # fmt: skip
    with capture_logs() as logs:
        r.run((completed, (target(),)))
    [line] = [e for e in logs if e["event"] == "webhook.delivered"]
    assert (line["job_id"], line["correlation_id"]) == ("j-1", "order-4711")
    assert "t0ps3cret" not in str(logs)
    assert "correlation_id" not in r.record()[0]  # the record is the job's own already
