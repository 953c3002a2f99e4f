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
