"""Webhooks over real HTTP: a receiver on 127.0.0.1 that verifies every request the way the
Standard Webhooks spec tells a consumer to (written here from the spec, not from our signer),
scripted failures, and one real job through the worker on the moto server. The receiver is on
loopback over http: every test here turns the development setting on
(FFAPI_WEBHOOK_ALLOW_LOOPBACK); test_webhook_guard.py shows what it refuses when off."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from rich.console import Console

from core.events.cloudevent import CloudEvent, EventType
from core.events.webhooks import WebhookEndpoint, WebhookTarget
from core.jobs.job_record import JobRecord, WebhookDelivery
from core.jobs.results import JobStatus
from handlers.jobs_view import record_panel
from handlers.runtime import Runtime
from infra.webhook_config import WebhookConfig
from infra.webhook_transport import open_transport
from infra.webhooks import WebhookDispatcher
from tests.unit.fakes import FakeJobs

from .conftest import Stack, job_record, run_worker

pytestmark = pytest.mark.integration

JOB_KEY, GLOBAL_KEY, OTHER_KEY = b"j" * 32, b"g" * 24, b"o" * 32
TOLERANCE = 5 * 60  # seconds either side of now, as the spec's reference verifiers allow


def whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


# --- the consumer's side, from the spec -------------------------------------------------------


def verify(secrets: list[str], headers: Mapping[str, str], body: bytes, now: float) -> str:
    """ "ok" or why the request is refused."""
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        return "missing webhook headers"
    if not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE:
        return "timestamp outside the tolerance"
    content = f"{msg_id}.{stamp}.".encode() + body
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        for signature in signatures.split(" "):
            version, _, value = signature.partition(",")
            if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
                return "ok"
    return "no valid signature"


def sign_by_hand(key: bytes, msg_id: str, stamp: int, body: bytes) -> dict[str, str]:
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b"ok"


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float  # monotonic
    verdict: str

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """An aiohttp server in its own thread (the worker runs its own event loop). Each path
    trusts its own secrets; a request that does not verify gets 401. ``tls``: serve https."""

    def __init__(self, trusts: dict[str, list[str]], tls: ssl.SSLContext | None = None) -> None:
        self.trusts = trusts
        self.tls = tls
        self.script: dict[str, list[Answer]] = {}  # per path, then 200
        self.respond: Callable[[Received], Answer | None] | None = None
        self._requests: list[Received] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def types(self, path: str) -> list[str]:
        return [r.event["type"].rsplit(".", 1)[1] for r in self.requests(path)]

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls).start()
        return int(self._runner.addresses[0][1])

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        verdict = verify(self.trusts.get(request.path, []), request.headers, body, time.time())
        got = Received(
            request.path,
            request.query_string,
            dict(request.headers),
            body,
            time.monotonic(),
            verdict,
        )
        with self._lock:
            self._requests.append(got)
            answers = self.script.get(request.path)
            answer = (self.respond(got) if self.respond else None) or (
                answers.pop(0) if answers else Answer()
            )
        if verdict != "ok":
            return web.Response(status=401, text=verdict)
        await asyncio.sleep(answer.delay)
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)


def post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# --- the dispatcher over real HTTP ------------------------------------------------------------


def event(type_: EventType, job_id: str = "j-1") -> CloudEvent:
    return CloudEvent(
        id=f"{job_id}-{type_.status}",
        type=type_,
        subject=job_id,
        time=datetime.now(UTC),
        data={"job_id": job_id},
    )


def deliver(
    sends: list[tuple[CloudEvent, tuple[WebhookTarget, ...]]],
    jobs: FakeJobs | None = None,
    **config: Any,
) -> FakeJobs:
    """Hand the events over, then wait for every delivery to finish."""
    jobs = jobs or FakeJobs(records={"j-1": {"status": "RUNNING"}, "j-2": {"status": "RUNNING"}})
    defaults: dict[str, Any] = {
        "secrets": (SecretStr(whsec(JOB_KEY)),),
        "backoff_base": 0.05,
        "backoff_max": 0.5,
        "deadline": 30.0,
        "timeout": 5.0,
        "allow_loopback": True,
    }
    settings = WebhookConfig(**(defaults | config))

    async def scenario() -> None:
        # The transport the worker uses (open_webhooks): the guard, with loopback allowed.
        async with open_transport(policy=settings.policy(configured=False)) as transport:
            hooks = WebhookDispatcher(settings, transport, jobs)
            for e, targets in sends:
                hooks.send(e, targets)
            await hooks.aclose(None)

    asyncio.run(scenario())
    return jobs


def test_the_receiver_refuses_tampered_stale_and_wrongly_keyed_requests() -> None:
    with Receiver({"/in": [whsec(JOB_KEY)]}) as rx:
        url, now, body = rx.url("/in"), int(time.time()), b'{"type":"ffapi.job.completed"}'
        signed = sign_by_hand(JOB_KEY, "msg_1", now, body)

        assert post(url, signed, body) == (200, "ok")
        assert post(url, signed, body + b" ") == (401, "no valid signature")  # tampered body
        assert post(url, signed | {"webhook-id": "msg_2"}, body) == (401, "no valid signature")
        stale = sign_by_hand(JOB_KEY, "msg_1", now - TOLERANCE - 60, body)
        assert post(url, stale, body) == (401, "timestamp outside the tolerance")
        future = sign_by_hand(JOB_KEY, "msg_1", now + TOLERANCE + 60, body)
        assert post(url, future, body) == (401, "timestamp outside the tolerance")
        assert post(url, sign_by_hand(OTHER_KEY, "msg_1", now, body), body)[0] == 401
        v2 = signed | {"webhook-signature": signed["webhook-signature"].replace("v1,", "v2,")}
        assert post(url, v2, body) == (401, "no valid signature")
        assert post(url, {}, body) == (401, "missing webhook headers")

        # And what the dispatcher signs verifies, under either key while one is rotated out.
        rx.trusts["/new-only"] = [whsec(OTHER_KEY)]
        rotating = (SecretStr(whsec(JOB_KEY)), SecretStr(whsec(OTHER_KEY)))
        completed = event(EventType.COMPLETED)
        targets = (WebhookTarget(url=url), WebhookTarget(url=rx.url("/new-only")))
        jobs = deliver([(completed, targets)], secrets=rotating)
        rx.trusts["/nobody"] = [whsec(GLOBAL_KEY)]
        jobs = deliver([(completed, (WebhookTarget(url=rx.url("/nobody")),))], jobs)

    assert [r.verdict for r in rx.requests()[-3:]] == ["ok", "ok", "no valid signature"]
    assert len(rx.requests()[-3].headers["webhook-signature"].split(" ")) == 2
    assert [
        (d["endpoint"].rsplit("/", 1)[1], d["outcome"], d["status"])
        for d in jobs.records["j-1"]["webhooks"]
    ] == [
        ("in", "delivered", 200),
        ("new-only", "delivered", 200),
        ("nobody", "failed", 401),
    ]


def test_500_then_429_with_retry_after_then_200_retries_with_growing_delays() -> None:
    with Receiver({"/flaky": [whsec(JOB_KEY)]}) as rx:
        rx.script["/flaky"] = [Answer(500), Answer(429, {"Retry-After": "1"}), Answer(200)]
        completed = event(EventType.COMPLETED)
        jobs = deliver([(completed, (WebhookTarget(url=rx.url("/flaky?token=abc")),))])

    got = rx.requests("/flaky")
    assert [r.verdict for r in got] == ["ok"] * 3
    assert {r.headers["webhook-id"] for r in got} == {completed.id}
    assert all(r.body == completed.to_json().encode() for r in got)
    first_gap, second_gap = got[1].at - got[0].at, got[2].at - got[1].at
    assert first_gap < 1.0  # the backoff: at most 0.05 s of jitter plus the round trip
    assert second_gap >= 1.0  # the 429's Retry-After, waited out in full
    [record] = jobs.records["j-1"]["webhooks"]
    assert (record["outcome"], record["status"], record["attempts"]) == ("delivered", 200, 3)
    assert record["endpoint"] == rx.url("/flaky")  # the token stays out of the record


def test_timeouts_are_retried_redirects_are_not_followed_big_answers_are_cut() -> None:
    with Receiver({p: [whsec(JOB_KEY)] for p in ("/slow", "/moved", "/big")}) as rx:
        rx.script["/slow"] = [Answer(delay=2.0)]
        rx.script["/moved"] = [Answer(302, {"Location": "/big"})]
        rx.script["/big"] = [Answer(body=b"x" * (1 << 20))]
        paths = ("/slow", "/moved", "/big")
        targets = tuple(WebhookTarget(url=rx.url(p)) for p in paths)
        jobs = deliver([(event(EventType.COMPLETED), targets)], timeout=0.5)

    assert [len(rx.requests(p)) for p in paths] == [2, 1, 1]  # nobody followed the redirect
    by_path = {d["endpoint"].rsplit("/", 1)[1]: d for d in jobs.records["j-1"]["webhooks"]}
    assert (by_path["slow"]["outcome"], by_path["slow"]["attempts"]) == ("delivered", 2)
    assert (by_path["moved"]["outcome"], by_path["moved"]["status"]) == ("failed", 302)
    assert by_path["big"]["outcome"] == "delivered"


def test_a_410_stops_deliveries_to_that_endpoint_for_that_job() -> None:
    with Receiver({"/hook": [whsec(JOB_KEY)]}) as rx:
        rx.respond = lambda r: Answer(410) if r.event["id"] == "j-1-received" else None
        hook = (WebhookTarget(url=rx.url("/hook")),)
        jobs = deliver(
            [
                (event(EventType.RECEIVED), hook),
                (event(EventType.RECEIVED, "j-2"), hook),
                (event(EventType.STARTED), hook),
                (event(EventType.COMPLETED), hook),
                (event(EventType.COMPLETED, "j-2"), hook),
            ]
        )

    assert sorted(r.event["id"] for r in rx.requests()) == [
        "j-1-received",
        "j-2-completed",
        "j-2-received",
    ]
    assert [(d["outcome"], d["attempts"]) for d in jobs.records["j-1"]["webhooks"]] == [
        ("gone", 1),
        ("gone", 0),
        ("gone", 0),
    ]
    assert {d["outcome"] for d in jobs.records["j-2"]["webhooks"]} == {"delivered"}


# --- a real job through the worker ------------------------------------------------------------


def test_a_jobs_events_reach_its_webhook_and_the_global_one_signed_in_order(
    stack: Stack, short_clip: Path
) -> None:
    with Receiver({"/job": [whsec(JOB_KEY)], "/global": [whsec(GLOBAL_KEY)]}) as rx:
        global_hook = WebhookEndpoint(
            url=rx.url("/global"), secrets=(SecretStr(whsec(GLOBAL_KEY)),)
        )
        settings = stack.settings.model_copy(
            update={
                "webhook_secrets": [SecretStr(whsec(JOB_KEY))],
                "webhook_endpoints": [global_hook],
                "webhook_backoff_base": 0.05,
                "webhook_allow_loopback": True,
            }
        )
        key = "library/hooked.mp4"  # outside the watched prefix: only our request starts it
        stack.client("s3").upload_file(str(short_clip), settings.input_bucket, key)
        request = {
            "input": {"bucket": settings.input_bucket, "key": key},
            "webhooks": [{"url": rx.url("/job?token=s3cret")}],
        }

        async def submit(rt: Runtime) -> None:
            await rt.clients.sqs.send_message(
                QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(request)
            )

        def both_completed() -> bool:
            return all("completed" in rx.types(p) for p in ("/job", "/global"))

        scenario = run_worker(stack, submit, settings=settings, settle=20, until=both_completed)

    [completed] = scenario.of_type("completed")
    job_id = completed["subject"]
    sns_ids = [e["id"] for e in scenario.events]
    for path, wrong_key in (("/job", GLOBAL_KEY), ("/global", JOB_KEY)):
        got = rx.requests(path)
        assert [r.verdict for r in got] == ["ok"] * len(got)  # each under its own key...
        assert {verify([whsec(wrong_key)], r.headers, r.body, time.time()) for r in got} == {
            "no valid signature"  # ...and only under it
        }
        types = rx.types(path)
        assert types[:2] == ["received", "started"]
        assert types[-1] == "completed"
        assert set(types[2:-1]) <= {"progress"}
        assert all(r.headers["webhook-id"] == r.event["id"] for r in got)
        assert all(r.headers["Content-Type"] == "application/cloudevents+json" for r in got)
        lifecycle = [r.event["id"] for r in got if r.event["type"] != "ffapi.job.progress"]
        assert sorted(lifecycle) == sorted(sns_ids)  # the topic's events, under their ids
        assert {r.event["subject"] for r in got} == {job_id}
    assert rx.requests("/job")[0].query == "token=s3cret"

    item = job_record(stack, job_id)
    deliveries = [json.loads(d["S"]) for d in item["webhooks"]["L"]]
    assert sorted((d["endpoint"], d["event_type"], d["outcome"]) for d in deliveries) == sorted(
        (rx.url(p), f"ffapi.job.{t}", "delivered")
        for p in ("/job", "/global")
        for t in ("received", "started", "completed")
    )
    assert {d["event_id"] for d in deliveries} == set(sns_ids)
    # The outcomes leave the query out (the stored request keeps it: replay needs the URL).
    assert "s3cret" not in json.dumps(deliveries)
    # `ffapi status` sums them up per endpoint.
    shown = Console(width=200, record=True)
    recorded = tuple(WebhookDelivery.model_validate(d) for d in deliveries)
    record = JobRecord(job_id=job_id, status=JobStatus.COMPLETED, webhooks=recorded)
    shown.print(record_panel(record))
    text = shown.export_text()
    for path in ("/job", "/global"):
        assert f"{rx.url(path)}: delivered x3" in text
    assert "s3cret" not in text
