"""ECS task scale-in protection around a job, against a stand-in for the agent's endpoint over
HTTP (ecs_agent.py): on before the job starts, renewed while it runs, off once it is
announced; a refusing agent never fails the job; outside ECS nothing is asked."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from infra.task_protection import AGENT_URI_VARIABLE

from .conftest import Stack
from .ecs_agent import AGENT_PATH, AgentRequest, EcsAgentStub, Reply, refused, server_error

pytestmark = pytest.mark.integration

STATE_PATH = f"{AGENT_PATH}/task-protection/v1/state"


def run_job(
    stack: Stack, clip: Path, agent: EcsAgentStub, monkeypatch: pytest.MonkeyPatch, *, ecs: bool
) -> list[dict[str, Any]]:
    """One job through the worker, the agent serving; ``ecs``: ECS_AGENT_URI points at it.
    The job's events, in order."""
    settings = stack.settings
    stack.client("sqs").purge_queue(QueueUrl=stack.resources.queue_url)  # bootstrap's test event

    async def scenario() -> list[dict[str, Any]]:
        async with agent.serve():
            if ecs:
                monkeypatch.setenv(AGENT_URI_VARIABLE, agent.uri)
            else:
                monkeypatch.delenv(AGENT_URI_VARIABLE, raising=False)
            async with open_runtime(settings) as rt:
                c = rt.clients
                topic = stack.resources.topic_arn
                async with EventWatcher.subscribe(c.sqs, c.sns, topic) as watcher:
                    stop = asyncio.Event()
                    worker = asyncio.create_task(Worker(rt).run(stop))
                    try:
                        key = f"{settings.watch_prefix}protected.mp4"
                        await c.s3.upload_file(str(clip), settings.input_bucket, key)
                        await watcher.wait_for_terminal(120)
                    finally:
                        stop.set()  # the worker drains: the job's release is done by then
                        await worker
                    return [json.loads(body) for body in watcher.received]

    return asyncio.run(scenario())


def event_time(events: list[dict[str, Any]], kind: str) -> datetime:
    (event,) = [e for e in events if e["type"] == f"ffapi.job.{kind}"]
    return datetime.fromisoformat(event["time"])


def failures(action: str) -> float:
    labels = {"action": action}
    return REGISTRY.get_sample_value("ffapi_task_protection_failures_total", labels) or 0.0


def test_the_task_is_protected_while_its_job_runs(
    stack: Stack, sample_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Renewed every 1/100 of the 30 s lease: a job of a few seconds sees renewals.
    monkeypatch.setattr("core.scale_in.RENEWALS_PER_LEASE", 100)
    agent = EcsAgentStub()

    events = run_job(stack, sample_clip, agent, monkeypatch, ecs=True)

    assert [e["type"] for e in events if e["type"] != "ffapi.job.progress"] == [
        "ffapi.job.received", "ffapi.job.started", "ffapi.job.completed",
    ]  # fmt: skip
    requests = agent.requests
    assert {(r.method, r.path) for r in requests} == {("PUT", STATE_PATH)}
    on, *renewals, off = requests
    # Twice the 30 s lease, rounded up to a minute, and one minute more.
    assert on.body == {"ProtectionEnabled": True, "ExpiresInMinutes": 2}
    assert on.at <= event_time(events, "started")
    assert renewals, "a job that outlasts the renewal period is protected again"
    assert all(r.body == on.body for r in renewals)
    assert off.body == {"ProtectionEnabled": False}
    assert off.at >= event_time(events, "completed")


def test_an_agent_that_refuses_does_not_fail_the_job(
    stack: Stack, short_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first call meets a 500 from the ECS API, every later one a `failure`."""

    def answer(request: AgentRequest) -> Reply:
        return server_error(request) if len(agent.requests) == 1 else refused(request)

    agent = EcsAgentStub(answer=answer)
    protect_before, release_before = failures("protect"), failures("release")

    with capture_logs() as logs:
        events = run_job(stack, short_clip, agent, monkeypatch, ecs=True)

    assert [e["type"] for e in events if e["type"] != "ffapi.job.progress"] == [
        "ffapi.job.received", "ffapi.job.started", "ffapi.job.completed",
    ]  # fmt: skip
    protects = [r for r in agent.requests if r.enabled]
    assert agent.requests[0] is protects[0]  # each refused protection tried again
    assert not agent.requests[-1].enabled  # and released all the same
    assert failures("protect") == protect_before + len(protects)
    assert failures("release") == release_before + 1
    refusals = [e for e in logs if e["event"] == "task_protection.refused"]
    assert {e["code"] for e in refusals} == {"ServerException", "TASK_STOPPING_OR_STOPPED"}
    # Neither the agent's address nor its text leaves the worker in a log line.
    logged = json.dumps(logs, default=str)
    assert agent.uri not in logged, [e for e in logs if agent.uri in json.dumps(e, default=str)]
    assert "ECS is unavailable" not in logged


def test_outside_ecs_the_agent_is_never_asked(
    stack: Stack, short_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = EcsAgentStub()

    events = run_job(stack, short_clip, agent, monkeypatch, ecs=False)

    assert events[-1]["type"] == "ffapi.job.completed"
    assert agent.requests == []
