"""Observability: the worker's Prometheus metrics after real jobs (scraped over HTTP, checked
against what the jobs reported and what landed in S3), and /readyz with each of its checks
failing on purpose. The registry is process-global: metrics are compared as deltas."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from handlers.runtime import open_runtime
from handlers.watcher import TERMINAL_TYPES, EventWatcher
from handlers.worker import Worker
from infra.aws import client_config
from infra.health import serve_health
from infra.queue import SqsQueue
from infra.readiness import (
    CheckResult,
    Readiness,
    cached,
    local_checks,
    queue,
    worker_readiness,
)
from infra.settings import Settings
from tests.event_contract import check_event

from .conftest import REGION, Stack, use_tools_for_test
from .test_accel_service import GPU, FakeProber, accelerator, capabilities, offered

pytestmark = pytest.mark.integration

PRESET = "mp4-480p"  # small and quick: these tests are about what is counted
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and wanted <= lbls)


class Delta:
    def __init__(self, before: Samples, after: Samples) -> None:
        self.before, self.after = before, after

    def __call__(self, name: str, **labels: str) -> float:
        return total(self.after, name, **labels) - total(self.before, name, **labels)


async def get(http: aiohttp.ClientSession, port: int, path: str) -> tuple[int, str]:
    async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.text()


# --- metrics after real jobs -----------------------------------------------------------------


async def run_jobs(
    settings: Settings, stack: Stack, uploads: dict[str, Path]
) -> tuple[Samples, Samples, list[dict[str, Any]]]:
    """Upload, run the worker until every upload's job finished, stop it; /metrics before
    and after."""
    async with (
        open_runtime(settings) as rt,
        EventWatcher.subscribe(rt.clients.sqs, rt.clients.sns, stack.resources.topic_arn) as w,
        serve_health(rt.accel, 0, host="127.0.0.1") as port,
        aiohttp.ClientSession() as http,
    ):
        _, before = await get(http, port, "/metrics")
        for name, path in uploads.items():
            key = f"{settings.watch_prefix}{name}"
            await rt.clients.s3.upload_file(str(path), settings.input_bucket, key)
        stop = asyncio.Event()
        worker = asyncio.create_task(Worker(rt).run(stop))
        try:
            async with asyncio.timeout(180):
                while sum(json.loads(b)["type"] in TERMINAL_TYPES for b in w.received) < len(
                    uploads
                ):
                    await w.poll(wait_seconds=1)
        finally:
            stop.set()
            await worker  # drains: every received message is settled and counted
        _, after = await get(http, port, "/metrics")
    events = [check_event(b) for b in w.received]
    return parse(before), parse(after), events


def job_objects(stack: Stack, job_id: str) -> dict[str, int]:
    prefix = f"{stack.settings.output_prefix}/{job_id}/"
    pages = (
        stack.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=stack.settings.output_bucket, Prefix=prefix)
    )
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def test_jobs_are_counted_timed_and_measured(
    stack: Stack, short_clip: Path, tmp_path: Path
) -> None:
    settings = stack.settings.model_copy(update={"preset": PRESET, "accel": "cpu"})
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    uploads = {"one.mp4": short_clip, "two.mp4": short_clip, "garbage.mp4": garbage}

    before, after, events = asyncio.run(run_jobs(settings, stack, uploads))
    delta = Delta(before, after)

    completed = [e["data"] for e in events if e["type"] == "ffapi.job.completed"]
    failed = [e["data"] for e in events if e["type"] == "ffapi.job.failed"]
    assert (len(completed), len(failed)) == (2, 1)
    assert failed[0]["error"]["code"] == "invalid_media"

    # Jobs by status and preset.
    assert delta("ffapi_jobs_total", status="COMPLETED", preset=PRESET) == 2
    assert delta("ffapi_jobs_total", status="FAILED", preset=PRESET) == 1
    assert delta("ffapi_jobs_total") == 3
    assert delta("ffapi_job_errors_total", code="invalid_media") == 1

    # Job durations: the completed ones as the jobs measured themselves.
    done = {"preset": PRESET, "status": "COMPLETED"}
    assert delta("ffapi_job_duration_seconds_count", **done) == 2
    spans = [
        (datetime.fromisoformat(d["completed_at"]) - datetime.fromisoformat(d["started_at"]))
        for d in completed
    ]
    assert delta("ffapi_job_duration_seconds_sum", **done) == pytest.approx(
        sum(s.total_seconds() for s in spans), abs=1e-6
    )
    assert delta("ffapi_job_duration_seconds_count", preset=PRESET, status="FAILED") == 1

    # Phases and encode speed, from each completed job's own timings.
    phases: Counter[str] = Counter()
    for data in completed:
        phases.update(data["timings"].keys())
    assert {"download", "probe", "encode", "package", "upload"} <= set(phases)
    for phase, count in phases.items():
        assert delta("ffapi_job_phase_seconds_count", phase=phase) == count
        expected = sum(d["timings"][phase] for d in completed)
        assert delta("ffapi_job_phase_seconds_sum", phase=phase) == pytest.approx(expected)
    assert {d["accel_tier"] for d in completed} == {"cpu"}
    assert delta("ffapi_encode_speed_ratio_count", tier="cpu") == 2
    speeds = sum(d["source"]["duration"] / d["timings"]["encode"] for d in completed)
    assert delta("ffapi_encode_speed_ratio_sum", tier="cpu") == pytest.approx(speeds)

    # Bytes: the inputs downloaded, and every object the completed jobs list, as S3 has them.
    assert delta("ffapi_downloaded_bytes_total") == 2 * short_clip.stat().st_size
    written = 0
    for data in completed:
        objects = job_objects(stack, data["job_id"])
        listed = {o["key"] for o in data["outputs"]}
        # job.json is written after the result it holds, so it cannot list (or count) itself.
        assert set(objects) == listed | {f"{settings.output_prefix}/{data['job_id']}/job.json"}
        written += sum(size for key, size in objects.items() if key in listed)
    assert written > 0
    assert delta("ffapi_uploaded_bytes_total") == written

    # Every message received had its queue lag observed, and was settled once.
    received = delta("ffapi_queue_lag_seconds_count")
    assert received >= 3
    assert received == delta("ffapi_messages_total")
    assert delta("ffapi_queue_lag_seconds_sum") >= 0
    assert total(after, "ffapi_jobs_in_flight") == 0


# --- /readyz -----------------------------------------------------------------------------


async def readyz(readiness: Readiness) -> tuple[int, dict[str, Any], int]:
    async with (
        serve_health(None, 0, host="127.0.0.1", readiness=readiness) as port,
        aiohttp.ClientSession() as http,
    ):
        status, body = await get(http, port, "/readyz")
        health, _ = await get(http, port, "/healthz")
        return status, json.loads(body), health


def stack_readyz(
    stack: Stack, min_free_mb: int = 0, queue_url: str | None = None
) -> tuple[int, dict[str, Any], int]:
    async def scenario() -> tuple[int, dict[str, Any], int]:
        async with open_runtime(stack.settings) as rt:
            assert rt.queue is not None
            jobs = SqsQueue(rt.clients.sqs, queue_url) if queue_url else rt.queue
            checks = worker_readiness(rt.accel, stack.settings.temp_dir, min_free_mb, jobs.backlog)
            return await readyz(checks)

    return asyncio.run(scenario())


def failing(body: dict[str, Any]) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


def test_readyz_is_200_when_every_check_passes(stack: Stack) -> None:
    status, body, health = stack_readyz(stack)
    assert (status, health) == (200, 200)
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"ffmpeg", "ffprobe", "accelerator", "disk", "queue"}
    assert failing(body) == set()
    assert body["checks"]["ffmpeg"]["detail"] == shutil.which("ffmpeg")
    assert "reachable" in body["checks"]["queue"]["detail"]


def test_readyz_is_503_when_the_ffmpeg_resolved_at_start_is_gone(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which("ffmpeg")
    assert real is not None
    ffmpeg = tmp_path / "bin" / "ffmpeg"
    ffmpeg.parent.mkdir()
    ffmpeg.symlink_to(real)
    use_tools_for_test(monkeypatch, ffmpeg=str(ffmpeg))
    ffmpeg.unlink()  # after start: checked at request time
    status, body, health = stack_readyz(stack)
    assert status == 503
    assert health == 200  # alive all the same: restarting would not bring ffmpeg back
    assert body["status"] == "not ready"
    assert failing(body) == {"ffmpeg"}
    assert body["checks"]["ffmpeg"]["detail"] == f"{ffmpeg} is gone or not executable"


def test_readyz_is_503_below_the_free_disk_threshold(stack: Stack) -> None:
    status, body, _ = stack_readyz(stack, min_free_mb=10**12)  # an exabyte
    assert status == 503
    assert failing(body) == {"disk"}
    assert "need 1000000000000 MB" in body["checks"]["disk"]["detail"]


def test_readyz_is_503_when_the_queue_is_gone(stack: Stack) -> None:
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName=f"{stack.settings.jobs_queue}-gone")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    status, body, _ = stack_readyz(stack, queue_url=url)
    assert status == 503
    assert failing(body) == {"queue"}
    assert "sqs:GetQueueAttributes" in body["checks"]["queue"]["detail"]


def test_readyz_is_503_when_the_queue_endpoint_does_not_answer(stack: Stack) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"

    async def scenario() -> tuple[int, dict[str, Any], int]:
        session = aioboto3.Session(region_name=REGION)
        async with session.client("sqs", endpoint_url=dead, config=client_config()) as sqs:
            jobs = SqsQueue(sqs, f"{dead}/123456789012/jobs")
            checks = worker_readiness(None, stack.settings.temp_dir, 0, jobs.backlog)
            return await readyz(checks)

    status, body, _ = asyncio.run(scenario())
    assert status == 503
    assert failing(body) == {"queue"}


def test_an_open_gpu_breaker_leaves_the_worker_ready() -> None:
    accel = accelerator(FakeProber(capabilities()), breaker_failures=1)

    async def scenario() -> tuple[int, dict[str, Any], int]:
        await offered(accel)  # the first probe
        accel.failed(GPU, "cuda_error")  # one failure trips this breaker
        return await readyz(Readiness(local_checks(accel)))

    status, body, _ = asyncio.run(scenario())
    assert status == 200
    detail = body["checks"]["accelerator"]["detail"]
    assert (detail["breaker"], detail["tiers"]) == ("open", ["cpu"])


def test_a_check_that_breaks_makes_the_worker_unready_not_the_server_fail() -> None:
    async def broken() -> CheckResult:
        raise RuntimeError("boom")

    status, body, _ = asyncio.run(readyz(Readiness({"broken": broken})))
    assert status == 503
    assert body["checks"]["broken"] == {"ok": False, "detail": "check failed: RuntimeError: boom"}


def test_the_queue_answer_is_kept_for_a_few_seconds() -> None:
    calls: list[int] = []
    now = [100.0]

    async def backlog() -> int:
        calls.append(1)
        return 7

    async def scenario() -> list[CheckResult]:
        check = cached(queue(backlog), 5.0, clock=lambda: now[0])
        answers = list(await asyncio.gather(check(), check(), check()))  # probes at once
        now[0] += 4.9
        answers.append(await check())
        now[0] += 0.1
        answers.append(await check())
        return answers

    answers = asyncio.run(scenario())
    assert len(calls) == 2  # one for the first five probes, one after five seconds
    assert all(a.ok and "about 7 messages" in a.detail for a in answers)


def test_a_queue_that_never_answers_fails_its_check() -> None:
    async def backlog() -> int:
        await asyncio.Event().wait()  # never set: a hung connection
        return 0

    async def probe() -> CheckResult:
        return await queue(backlog, timeout=0.05)()

    result = asyncio.run(probe())
    assert not result.ok
    assert "no answer within" in result.detail
