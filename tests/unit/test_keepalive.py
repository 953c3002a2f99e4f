"""keep_alive: renewals on their interval; a failed or unanswered one tried again soon."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from core.errors import StorageUnavailable
from core.jobs.keepalive import RETRY_SECONDS, keep_alive


class Script:
    """Renewals that answer as scripted (an exception is raised); the waits asked for."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers)
        self.waits: list[float] = []

    async def renew(self) -> bool:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def test_a_failed_renewal_is_tried_again_in_a_second_not_an_interval_later() -> None:
    down = StorageUnavailable("dynamodb:UpdateItem: EndpointConnectionError")
    script = Script(True, down, down, True, True, False)

    with capture_logs() as logs:
        asyncio.run(keep_alive(script.renew, 40, "lease.renew_failed", sleep=script.sleep))

    assert script.answers == []  # it ran until the claim was lost, and stopped there
    assert script.waits == [40, 40, RETRY_SECONDS, RETRY_SECONDS, 40, 40]
    failed = [e for e in logs if e["event"] == "lease.renew_failed"]
    assert [e["code"] for e in failed] == ["storage_unavailable"] * 2


def test_the_first_renewal_comes_when_asked() -> None:
    script = Script(True, False)
    asyncio.run(keep_alive(script.renew, 40, "heartbeat.failed", first=0, sleep=script.sleep))
    assert script.waits == [0, 40]


def test_a_renewal_left_unanswered_is_abandoned_and_tried_afresh() -> None:
    """As one left in the SDK's retry backoff after the store came back."""
    abandoned = asyncio.Event()
    calls = 0

    async def renew() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                abandoned.set()
                raise
        return False

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    with capture_logs() as logs:
        asyncio.run(keep_alive(renew, 0.05, "heartbeat.failed", sleep=no_wait))

    assert abandoned.is_set()
    assert calls == 2
    assert [(e["event"], e["code"]) for e in logs] == [("heartbeat.failed", "timeout")]
