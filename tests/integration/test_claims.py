"""Claims race on the emulator exactly as on DynamoDB: of many concurrent claims, one wins."""

from __future__ import annotations

import asyncio

import pytest

from core.models import JobRequest, S3ObjectRef
from infra.aws import open_clients
from infra.jobstore import DynamoJobStore

from .conftest import Stack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("claimants", "trials"), [(4, 40), (12, 10)])
def test_concurrent_claims_of_one_job_have_one_winner(
    stack: Stack, claimants: int, trials: int
) -> None:
    """S3 announces a multipart upload twice and a worker takes both messages at once: the
    claims reach the table together. A conditional write is atomic in DynamoDB; the embedded
    emulator (infra/emulator.py, which the `stack` fixture runs) must keep that promise or one
    upload is encoded twice. Without its lock, 4 claims on a fresh job gave two winners in
    about half of 40 trials here."""
    request = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="web-hls")

    async def trials_winners() -> list[int]:
        winners = []
        async with open_clients(stack.settings) as clients:
            store = DynamoJobStore(clients.dynamodb, stack.settings.jobs_table)
            for trial in range(trials):  # a fresh job each time
                claims = await asyncio.gather(
                    *(
                        store.claim(f"j-race-{claimants}-{trial}", request, 60, f"message-{n}")
                        for n in range(claimants)
                    )
                )
                winners.append([c.outcome for c in claims].count("claimed"))
        return winners

    winners = asyncio.run(trials_winners())
    assert winners == [1] * trials


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
