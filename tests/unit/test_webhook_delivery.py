"""WebhookDispatcher delivering one event to one endpoint (`webhook_rig`: fake transport and
clock): the signed post and its record, backoff and jitter, Retry-After, the deadline, final
answers, and 410 Gone."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import pytest
from tenacity.wait import wait_exponential

from core.events.cloudevent import EventType
from infra.webhook_transport import WebhookUnreachable, retry_after
from tests.unit.fakes import FakeJobs
from tests.unit.webhook_rig import (
    CEILING,
    EPOCH,
    HOOK,
    KEY,
    delivered,
    event,
    rig,
    target,
    verify,
)


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
        "outcome": "delivered",
        "attempts": 5,
        "status": 200,
        "at": None,
    }


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
        "outcome": "delivered",
        "attempts": 4,
        "at": None,
    }


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, "HTTP 400"), (404, "HTTP 404"), (302, "redirects are not followed")],
)
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
        (event(EventType.RECEIVED), both),
        (event(EventType.STARTED), both),
        (event(EventType.RECEIVED, "j-2"), both),
        (event(EventType.COMPLETED), both),
    )

    assert [p.headers["webhook-id"] for p in r.transport.to(HOOK)] == [
        "j-1:received",
        "j-2:received",
    ]
    assert len(r.transport.to(other)) == 4
    outcomes = [(d["event_type"], d["endpoint"], d["outcome"], d["attempts"]) for d in r.record()]
    assert [o for o in outcomes if o[1] == "https://hooks.example/in"] == [
        ("ffapi.job.received", "https://hooks.example/in", "gone", 1),
        ("ffapi.job.started", "https://hooks.example/in", "gone", 0),
        ("ffapi.job.completed", "https://hooks.example/in", "gone", 0),
    ]


def test_a_410_recorded_by_an_earlier_process_is_honoured() -> None:
    jobs = FakeJobs(
        records={
            "j-1": {
                "status": "COMPLETED",
                "webhooks": [
                    {
                        "endpoint": "https://hooks.example/in",
                        "outcome": "gone",
                        "event_id": "x",
                        "event_type": "ffapi.job.started",
                        "at": "2026-01-01T00:00:00.000+00:00",
                    },
                ],
            }
        }
    )
    r = rig(jobs=jobs)
    r.run((event(EventType.COMPLETED), (target(), target("https://other.example/h"))))

    assert [p.url for p in r.transport.posts] == ["https://other.example/h"]
    assert [d["outcome"] for d in r.record()[1:]] == ["gone", "delivered"]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 0.0),
        ("", 0.0),
        ("17", 17.0),
        (" 5 ", 5.0),
        ("soon", 0.0),
        ("-3", 0.0),
        ("Tue, 14 Nov 2023 22:14:00 GMT", 40.0),
        ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float) -> None:
    assert retry_after(value, EPOCH) == seconds
