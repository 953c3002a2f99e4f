"""The JobStore port's contract for split jobs (``core.jobs.chunks``), held by both adapters
(DynamoDB on moto's server over HTTP, ``infra.memory_jobs``), beside
``test_job_store_contract.py``: the split fenced by the attempt and written once, a SPLIT
job never claimed again, each chunk's ending recorded once however often it is said, the
stitch taken by the ending that completed the set (and by it again), the parent closed once,
and a SPLIT job cancelled like one not started."""

from __future__ import annotations

import uuid
from fractions import Fraction

import pytest

from core.errors import InvalidMedia
from core.jobs.chunk_model import ChunkEnding, ChunkPlan, PieceFile, SplitClose, plan_chunks
from core.jobs.job_record import RecordedError
from core.jobs.results import JobStatus, SourceInfo
from core.models import OutputLocation
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.ranges import SegmentGrid

from .conftest import Stack
from .job_store_rig import LEASE, REQUEST, Opener, Rig, contract, opener, result

pytestmark = pytest.mark.integration

OUT = OutputLocation(bucket="out-bucket", prefix="outputs")


@pytest.fixture(params=["dynamodb", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    return opener(request.param, stack)


def a_plan(parent: str) -> ChunkPlan:
    preset = builtin_catalog().get("web-hls")
    assert isinstance(preset, StreamingPreset)
    return ChunkPlan(
        parent=parent, request=REQUEST.model_copy(update={"output": OUT}), preset=preset,
        source=SourceInfo(format="mov", duration=24.0, size=1000), duration=24.0,
        chunks=plan_chunks(SegmentGrid(Fraction(25), 4.0, 600), 8.0),
    )  # fmt: skip


def ending(index: int) -> ChunkEnding:
    files = (PieceFile(path=f"cmaf/seg-0-{index + 1:05d}.m4s", playlist="cmaf/media_0.m3u8",
                       duration=4.0, size=100),)  # fmt: skip
    return ChunkEnding(index=index, files=files)


async def split_job(rig: Rig) -> tuple[str, ChunkPlan]:
    parent = f"j-{uuid.uuid4().hex[:24]}"
    await rig.store.claim(parent, REQUEST, LEASE, "m-1")
    plan = a_plan(parent)
    assert await rig.store.split(parent, plan, attempt=1)
    return parent, plan


def test_a_split_is_fenced_written_once_and_never_claimed_again(opened: Opener) -> None:
    async def check(rig: Rig, _: str) -> None:
        parent = f"j-{uuid.uuid4().hex[:24]}"
        await rig.store.claim(parent, REQUEST, LEASE, "m-1")
        assert not await rig.store.split(parent, a_plan(parent), attempt=2)  # not its claim
        assert await rig.store.get_split(parent) is None
        plan = a_plan(parent)
        assert await rig.store.split(parent, plan, attempt=1)
        assert await rig.store.split(parent, plan, attempt=1)  # said again: it stands
        record = await rig.store.get(parent)
        assert record is not None
        assert (record.status, record.lease_until) == (JobStatus.SPLIT, None)
        split = await rig.store.get_split(parent)
        assert split is not None
        assert (split.plan, split.sent, split.ended, split.stitch_by) == (plan, False, (), None)
        rig.advance(10 * LEASE)  # no lease to lapse: a redelivery finds it done
        claim = await rig.store.claim(parent, REQUEST, LEASE, "m-2")
        assert (claim.outcome, claim.status) == ("done", JobStatus.SPLIT)
        await rig.store.mark_chunks_sent(parent)
        split = await rig.store.get_split(parent)
        assert split is not None
        assert split.sent

    contract(opened, check)


def test_the_ending_that_completes_the_set_takes_the_stitch(opened: Opener) -> None:
    async def check(rig: Rig, _: str) -> None:
        parent, plan = await split_job(rig)
        order = [2, 0, 0, 3]  # chunk 0 said twice
        for index in order:
            tally = await rig.store.end_chunk(parent, ending(index))
            assert tally is not None
            assert not tally.stitch
            assert not tally.done
        tally = await rig.store.end_chunk(parent, ending(1))
        assert tally is not None
        assert (tally.stitch, tally.done, tally.total) == (True, True, plan.total)
        assert [e.index for e in tally.ended] == [0, 1, 2, 3]
        assert tally.ended[1] == ending(1)
        again = await rig.store.end_chunk(parent, ending(3))  # another, said again: not its
        assert again is not None
        assert not again.stitch
        again = await rig.store.end_chunk(parent, ending(1))  # the same, said again: its
        assert again is not None
        assert again.stitch
        split = await rig.store.get_split(parent)
        assert split is not None
        assert split.stitch_by == 1

    contract(opened, check)


def test_the_parent_is_closed_once(opened: Opener) -> None:
    async def check(rig: Rig, _: str) -> None:
        parent, _plan = await split_job(rig)
        by, other = "k-" + "1" * 24, "k-" + "2" * 24
        done = result(parent, 1)
        assert await rig.store.close_split(parent, SplitClose(by=by, result=done))
        error = RecordedError.of(InvalidMedia("broken"))
        assert not await rig.store.close_split(parent, SplitClose(by=other, error=error))
        assert await rig.store.close_split(parent, SplitClose(by=by, result=done))  # unsaid
        record = await rig.store.get(parent)
        assert record is not None
        assert (record.status, record.result, record.announced) == (
            JobStatus.COMPLETED, done, False,
        )  # fmt: skip
        await rig.store.mark_announced(parent)
        assert not await rig.store.close_split(parent, SplitClose(by=by, result=done))
        assert await rig.store.end_chunk(parent, ending(0)) is None  # closed: not recorded

    contract(opened, check)


def test_a_failing_chunk_closes_the_parent_failed(opened: Opener) -> None:
    async def check(rig: Rig, _: str) -> None:
        parent, _plan = await split_job(rig)
        error = RecordedError.of(InvalidMedia("broken"))
        assert await rig.store.close_split(parent, SplitClose(by="k-" + "3" * 24, error=error))
        record = await rig.store.get(parent)
        assert record is not None
        assert (record.status, record.retryable, record.announced) == (
            JobStatus.FAILED, False, False,
        )  # fmt: skip
        assert record.error == error

    contract(opened, check)


def test_a_split_job_is_cancelled_like_one_not_started(opened: Opener) -> None:
    async def check(rig: Rig, _: str) -> None:
        parent, _plan = await split_job(rig)
        answer = await rig.store.cancel(parent)
        assert (answer.outcome, answer.status) == ("cancelled", JobStatus.SPLIT)
        record = await rig.store.get(parent)
        assert record is not None
        assert record.status == JobStatus.CANCELLED
        assert await rig.store.end_chunk(parent, ending(0)) is None
        split = await rig.store.get_split(parent)  # the plan stays: its chunks are found
        assert split is not None
        assert split.plan.total == 4

    contract(opened, check)
