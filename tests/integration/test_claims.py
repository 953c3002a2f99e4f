"""Claims race on the emulator exactly as on DynamoDB: of many concurrent claims, one wins."""

from __future__ import annotations

import asyncio

import pytest

from core.models import JobRequest, S3ObjectRef
from infra.aws import open_clients
from infra.jobstore import DynamoJobStore

from .conftest import Stack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_claims_of_one_job_have_one_winner(stack: Stack, round_: int) -> None:
    """S3 announces a multipart upload twice and a worker takes both messages at once: the
    two claims reach the table together. A conditional write is atomic in DynamoDB; the
    embedded emulator must keep that promise or one upload is encoded twice."""
    request = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="web-hls")

    async def race() -> list[str]:
        async with open_clients(stack.settings) as clients:
            store = DynamoJobStore(clients.dynamodb, stack.settings.jobs_table)
            claims = await asyncio.gather(*(
                store.claim(f"j-race-{round_}", request, 60, f"message-{n}") for n in range(12)
            ))  # fmt: skip
            return [c.outcome for c in claims]

    outcomes = asyncio.run(race())
    assert outcomes.count("claimed") == 1, outcomes
    assert outcomes.count("busy") == 11


def test_a_lease_is_claimable_from_the_second_it_ends(stack: Stack) -> None:
    """Leases are stored in whole seconds: one that ended within this second is lapsed. Read
    as still held (0.0 s left), the message went back to the queue and spent a receive."""
    request = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="web-hls")
    now = [1_000.25]

    async def claims() -> tuple[str, str, float]:
        async with open_clients(stack.settings) as clients:
            store = DynamoJobStore(clients.dynamodb, stack.settings.jobs_table, lambda: now[0])
            await store.claim("j-lapse", request, 10, "message-1")  # lease until 1010
            now[0] = 1_009.75
            held = await store.claim("j-lapse", request, 10, "message-2")
            now[0] = 1_010.5
            lapsed = await store.claim("j-lapse", request, 10, "message-2")
            return held.outcome, lapsed.outcome, held.lease_remaining

    held, lapsed, remaining = asyncio.run(claims())
    assert (held, remaining) == ("busy", 0.25)
    assert lapsed == "claimed"
