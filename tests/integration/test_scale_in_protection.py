"""ECS task scale-in protection around a job, against a stand-in for the agent's endpoint over
HTTP (ecs_agent.py): on before the job starts, renewed while it runs, off once it is
announced; a refusing agent never fails the job; outside ECS nothing is asked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from infra.task_protection import AGENT_URI_VARIABLE, open_task_protection

from .conftest import Stack
from .ecs_agent import (
    AGENT_PATH,
    AgentRequest,
    EcsAgentStub,
    Reply,
    applied,
    refused,
    server_error,
)

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
    monkeypatch.setattr("core.jobs.scale_in.RENEWALS_PER_LEASE", 100)
    agent = EcsAgentStub()

    events = run_job(stack, sample_clip, agent, monkeypatch, ecs=True)

    assert [e["type"] for e in events if e["type"] != "ffapi.job.progress"] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.completed",
    ]
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
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.completed",
    ]
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


def test_a_job_stopped_by_the_drain_releases_the_task(
    stack: Stack, sample_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM as the job starts, with no drain budget: the job is handed back as before, and
    the task's protection goes with it."""
    settings = stack.settings.model_copy(update={"drain_seconds": 0})
    agent = EcsAgentStub()
    stack.client("sqs").purge_queue(QueueUrl=stack.resources.queue_url)

    async def scenario() -> None:
        async with agent.serve():
            monkeypatch.setenv(AGENT_URI_VARIABLE, agent.uri)
            async with open_runtime(settings) as rt:
                stop = asyncio.Event()
                worker = asyncio.create_task(Worker(rt).run(stop))
                key = f"{settings.watch_prefix}stopped.mp4"
                await rt.clients.s3.upload_file(str(sample_clip), settings.input_bucket, key)
                async with asyncio.timeout(60):
                    await agent.protected.wait()
                stop.set()  # what SIGTERM does (handlers/service.py)
                async with asyncio.timeout(60):
                    await worker

    asyncio.run(scenario())

    assert [r.enabled for r in agent.requests] == [True, False]
    assert stack.queue_depth(stack.resources.queue_url) == 1  # handed back for another worker


# --- the adapter alone, against the same stand-in --------------------------------------------


def adapter_calls(
    answer: Callable[[AgentRequest], Reply], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[bool], list[str]]:
    """protect(3) and release() through open_task_protection; what each returned, and the
    codes of the refusals logged."""
    agent = EcsAgentStub(answer=answer)

    async def scenario() -> list[bool]:
        async with agent.serve():
            monkeypatch.setenv(AGENT_URI_VARIABLE, agent.uri + "/")  # a trailing slash too
            async with open_task_protection() as port:
                assert port is not None
                return [await port.protect(3), await port.release()]

    with capture_logs() as logs:
        results = asyncio.run(scenario())
    assert [r.body for r in agent.requests] == [
        {"ProtectionEnabled": True, "ExpiresInMinutes": 3},
        {"ProtectionEnabled": False},
    ]
    assert {r.path for r in agent.requests} == {STATE_PATH}
    return results, [e["code"] for e in logs if e["event"] == "task_protection.refused"]


def test_the_adapter_accepts_only_the_state_it_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert adapter_calls(applied, monkeypatch) == ([True, True], [])

    def stale(request: AgentRequest) -> Reply:  # applied, but not what was asked
        return Reply(200, {"protection": {"ProtectionEnabled": not request.enabled}})

    assert adapter_calls(stale, monkeypatch) == ([False, False], ["not_applied"] * 2)

    def garbled(_: AgentRequest) -> Reply:
        return Reply(200, {"protection": "yes"})

    assert adapter_calls(garbled, monkeypatch) == ([False, False], ["unreadable_answer"] * 2)


def test_an_agent_that_is_not_there_is_a_refusal_without_its_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> tuple[str, list[bool]]:
        agent = EcsAgentStub()
        async with agent.serve():
            uri = agent.uri  # its port, closed once the stand-in stops
        monkeypatch.setenv(AGENT_URI_VARIABLE, uri)
        async with open_task_protection() as port:
            assert port is not None
            return uri, [await port.protect(3), await port.release()]

    with capture_logs() as logs:
        uri, results = asyncio.run(scenario())

    assert results == [False, False]
    refusals = [e for e in logs if e["event"] == "task_protection.refused"]
    assert [(e["action"], e["status"]) for e in refusals] == [("protect", None), ("release", None)]
    assert uri not in json.dumps(logs, default=str)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_without_an_agent_uri_there_is_no_adapter(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(AGENT_URI_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(AGENT_URI_VARIABLE, value)

    async def scenario() -> object:
        async with open_task_protection() as port:
            return port

    assert asyncio.run(scenario()) is None
