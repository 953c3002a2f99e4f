"""DynamoJobStore's cancel writes when their answer was lost and botocore resent them (the
fake table of ``test_jobstore_resends``: the first copy applies, the copy is refused): a
tombstone or a CANCELLED record that stands is ours, not another writer's."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import JobCancelled
from core.jobs.results import JobStatus
from core.ports import CancelAnswer

from .test_jobstore_resends import RUNNING, ResendingTable, store

CANCELLED = {"status": JobStatus.CANCELLED}


def test_a_tombstone_whose_answer_was_lost_is_ours() -> None:
    table = ResendingTable(item={"status": JobStatus.RETRYING, "attempts": 1}, leaves=CANCELLED)
    answer = asyncio.run(store(table).cancel("j-1"))
    assert answer == CancelAnswer("cancelled", JobStatus.RETRYING, 1)


def test_a_tombstone_refused_by_another_cancel_finds_the_job_finished() -> None:
    table = ResendingTable(
        item={"status": JobStatus.RETRYING, "attempts": 1}, leaves=CANCELLED, ours=False
    )
    answer = asyncio.run(store(table).cancel("j-1"))
    assert answer == CancelAnswer("finished", JobStatus.CANCELLED, 1)


def test_a_recorded_cancellation_whose_answer_was_lost_stands() -> None:
    table = ResendingTable(item={**RUNNING, "cancel_requested": True}, leaves=CANCELLED)
    assert asyncio.run(store(table).record_cancelled("j-1", 2)) is True


def test_a_renewal_refused_for_the_flag_alone_is_a_cancel_not_a_takeover() -> None:
    flagged = ResendingTable(item={**RUNNING, "cancel_requested": True}, ours=False)
    with pytest.raises(JobCancelled):
        asyncio.run(store(flagged).renew("j-1", 60, 2))
    taken = ResendingTable(item={**RUNNING, "attempts": 3, "cancel_requested": True}, ours=False)
    assert asyncio.run(store(taken).renew("j-1", 60, 2)) is False  # another attempt's now
