"""ECS task scale-in protection through the container agent's endpoint (the TaskProtection
port): ``PUT ${ECS_AGENT_URI}/task-protection/v1/state``.

The agent injects ``ECS_AGENT_URI`` into every container of an ECS task (Fargate, and EC2
with a recent agent); where it is unset (a laptop, Kubernetes, Lambda) there is nothing to
protect and no adapter is opened. The agent answers ``protection`` when it applied the
state, ``failure`` (ECS refused it: the task is not in a service, is stopping, ...) or
``error`` (a bad request, no task role, the ECS API failing). Anything but an applied state
is a refusal: logged with the agent's code, never its text or the URL (the agent's address
and the task's ARN stay in the task), counted, and answered False.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from infra.metrics import TASK_PROTECTION_FAILURES

log = structlog.get_logger("ffapi.task_protection")

AGENT_URI_VARIABLE = "ECS_AGENT_URI"
STATE_PATH = "/task-protection/v1/state"
TIMEOUT_SECONDS = 5.0  # the agent is local; it calls the ECS API on our behalf
MAX_ANSWER_BYTES = 16 * 1024


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProtectedTask(_Answer):
    ProtectionEnabled: bool
    ExpirationDate: str | None = None


class AgentFailure(_Answer):
    Reason: str | None = None


class AgentError(_Answer):
    Code: str | None = None


class AgentAnswer(_Answer):
    protection: ProtectedTask | None = None
    failure: AgentFailure | None = None
    error: AgentError | None = None


class StateRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    ProtectionEnabled: bool
    ExpiresInMinutes: int | None = None


class EcsTaskProtection:
    def __init__(self, session: aiohttp.ClientSession, agent_uri: str) -> None:
        self._session = session
        self._url = agent_uri.rstrip("/") + STATE_PATH

    async def protect(self, expires_minutes: int) -> bool:
        return await self._put(
            StateRequest(ProtectionEnabled=True, ExpiresInMinutes=expires_minutes)
        )

    async def release(self) -> bool:
        return await self._put(StateRequest(ProtectionEnabled=False))

    async def _put(self, state: StateRequest) -> bool:
        action = "protect" if state.ProtectionEnabled else "release"
        body = state.model_dump(exclude_none=True)
        try:
            async with self._session.put(self._url, json=body) as response:
                status, raw = response.status, await response.content.read(MAX_ANSWER_BYTES)
        except (aiohttp.ClientError, TimeoutError) as exc:  # the text may carry the URL
            return _refused(action, status=None, code=type(exc).__name__)
        try:
            answer = AgentAnswer.model_validate_json(raw)
        except ValidationError:
            return _refused(action, status=status, code="unreadable_answer")
        applied = answer.protection
        if (
            status == 200
            and applied is not None
            and applied.ProtectionEnabled == state.ProtectionEnabled
        ):
            return True
        return _refused(action, status=status, code=_code(answer))


def _code(answer: AgentAnswer) -> str:
    if answer.failure is not None and answer.failure.Reason:
        return answer.failure.Reason[:64]
    if answer.error is not None and answer.error.Code:
        return answer.error.Code[:64]
    return "not_applied"


def _refused(action: str, *, status: int | None, code: str) -> bool:
    TASK_PROTECTION_FAILURES.labels(action).inc()
    log.warning("task_protection.refused", action=action, status=status, code=code)
    return False


@asynccontextmanager
async def open_task_protection() -> AsyncIterator[EcsTaskProtection | None]:
    """The agent's endpoint when this process runs in an ECS task; None elsewhere."""
    agent_uri = os.environ.get(AGENT_URI_VARIABLE, "").strip()
    if not agent_uri:
        yield None
        return
    # No proxy from the environment: the agent is reached directly, as the ECS docs do.
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        yield EcsTaskProtection(session, agent_uri)
