"""A stand-in for the ECS container agent's task protection endpoint, over real HTTP on
loopback: it records each request and answers as the agent does (``protection`` when the
state was applied) or as told (an error status, a ``failure``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/ffapi/0123456789abcdef"
AGENT_PATH = "/api/0123456789abcdef-1234"  # where ECS_AGENT_URI points, below the host


@dataclass(frozen=True, slots=True)
class AgentRequest:
    at: datetime  # this process's clock, as the events' `time` is
    method: str
    path: str
    body: dict[str, object]

    @property
    def enabled(self) -> bool:
        return self.body.get("ProtectionEnabled") is True


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, object]


def applied(request: AgentRequest) -> Reply:
    """The agent's answer when ECS applied the state."""
    state = {"ProtectionEnabled": request.enabled, "TaskArn": TASK_ARN}
    if request.enabled:
        state["ExpirationDate"] = "2026-12-07T10:00:00Z"
    return Reply(200, {"protection": state})


def server_error(_: AgentRequest) -> Reply:
    message = {"Arn": TASK_ARN, "Code": "ServerException", "Message": "ECS is unavailable"}
    return Reply(500, {"error": message})


def refused(_: AgentRequest) -> Reply:
    failure = {"Arn": TASK_ARN, "Reason": "TASK_STOPPING_OR_STOPPED", "Detail": None}
    return Reply(409, {"failure": failure})


@dataclass
class EcsAgentStub:
    answer: Callable[[AgentRequest], Reply] = applied
    requests: list[AgentRequest] = field(default_factory=list)
    uri: str = ""
    protected: asyncio.Event = field(default_factory=asyncio.Event)  # a protection was asked

    async def _state(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        seen = AgentRequest(datetime.now(UTC), request.method, request.path, body)
        self.requests.append(seen)
        if seen.enabled:
            self.protected.set()
        reply = self.answer(seen)
        return web.json_response(reply.body, status=reply.status)

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[EcsAgentStub]:
        app = web.Application()
        app.router.add_route("*", f"{AGENT_PATH}/task-protection/v1/state", self._state)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            self.uri = f"http://127.0.0.1:{port}{AGENT_PATH}"
            yield self
        finally:
            await runner.cleanup()
