"""WebhookDispatcher's queues (`webhook_rig`: fake transport and clock): each endpoint gets a
job's events in order without waiting for the others, which events reach which endpoint,
progress giving way to the next event, and send/aclose that never block or raise."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from core.events.cloudevent import CloudEvent, EventType
from core.events.webhooks import WebhookEndpoint
from core.jobs.job_record import WebhookDelivery
from tests.unit.fakes import NOW, FakeJobs
from tests.unit.webhook_rig import (
    CEILING,
    GLOBAL_KEY,
    GLOBAL_SECRET,
    HOOK,
    KEY,
    delivered,
    event,
    rig,
    target,
    verify,
)


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
        "received",
        "started",
        "progress",
        "completed",
        "completed",
        "completed",
    ]
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
        "progress/40",
        "completed",
        "completed",
        "completed",
    ]
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
        async def record_delivery(self, job_id: str, delivery: WebhookDelivery) -> None:
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


def test_delivery_logs_name_the_job_and_its_correlation_id_never_the_query() -> None:
    r = rig()
    completed = CloudEvent(
        id="j-1:completed",
        type=EventType.COMPLETED,
        subject="j-1",
        time=NOW,
        data={"correlation_id": "order-4711"},
    )
    with capture_logs() as logs:
        r.run((completed, (target(),)))
    [line] = [e for e in logs if e["event"] == "webhook.delivered"]
    assert (line["job_id"], line["correlation_id"]) == ("j-1", "order-4711")
    assert "t0ps3cret" not in str(logs)
    assert "correlation_id" not in r.record()[0]  # the record is the job's own already
