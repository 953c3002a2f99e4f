"""BUSY kept off the receive budget (core/jobs/lease_wait.py): a delivery that finds its own
message's earlier delivery holding the lease (that worker died) waits the lease out and runs
the job, instead of going back to the queue and spending a receive; a lease still renewed
after the wait, one held under another message, or a dispatcher told not to wait (Lambda)
answer as before."""

from __future__ import annotations

import dataclasses

import pytest

from core.jobs.dispatch import Dispatcher
from core.jobs.outcome import Disposition
from core.jobs.results import JobStatus

from .dispatch_harness import Harness, s3_put
from .fakes import NOW, FakePipeline

LEASE = 60


def _dead_holder(
    busy_wait: float, lease_left: float = 5.0, *, alive: bool = False
) -> tuple[Harness, str, list[float]]:
    """Message msg-1's first delivery claimed the job and its worker died (or, ``alive``,
    renews the lease as we wait), its lease ``lease_left`` s from lapsing; a dispatcher
    whose sleeps move the store's clock."""
    h = Harness(FakePipeline(None), lease_seconds=LEASE)
    [job] = h.handle(s3_put()).jobs
    h.jobs.records[job.job_id].update(
        status=JobStatus.RUNNING, carrier="msg-1", lease_until=h.jobs.now + lease_left
    )
    h.settings = dataclasses.replace(h.settings, busy_wait_seconds=busy_wait)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        h.jobs.now += seconds
        if alive:
            h.jobs.records[job.job_id]["lease_until"] = h.jobs.now + 20

    h.use(FakePipeline(None))
    h.dispatcher = Dispatcher(
        h.settings, h.objects, h.jobs, h.events, h.workspace, h.pipeline, lambda: NOW, sleep=sleep
    )
    return h, job.job_id, slept


def test_a_dead_workers_lease_is_waited_out_and_the_job_runs_on_this_delivery() -> None:
    h, job_id, slept = _dead_holder(busy_wait=LEASE, lease_left=5)

    outcome = h.handle(s3_put(), receive_count=2)

    assert outcome.disposition is Disposition.ACK
    assert [j.status for j in outcome.jobs] == ["COMPLETED"]
    assert h.pipeline.runs == [(job_id, 2)]
    assert 5 < sum(slept) <= 5 + 1  # the lease, and the margin of its whole seconds
    assert max(slept) <= 1  # showing life every second meanwhile


def test_a_lease_still_renewed_after_the_wait_sends_the_delivery_back_busy() -> None:
    h, _, slept = _dead_holder(busy_wait=LEASE, lease_left=5, alive=True)
    original = h.jobs.now

    outcome = h.handle(s3_put(), receive_count=2)

    assert [j.status for j in outcome.jobs] == ["BUSY"]
    assert outcome.retry_after == pytest.approx(20)
    assert h.pipeline.runs == []
    assert h.jobs.now - original == pytest.approx(sum(slept))  # one wait, not more


@pytest.mark.parametrize(("busy_wait", "lease_left"), [(0, 5), (LEASE, LEASE + 5)])
def test_without_a_wait_or_beyond_it_the_delivery_goes_back_at_once(
    busy_wait: float, lease_left: float
) -> None:
    h, _, slept = _dead_holder(busy_wait=busy_wait, lease_left=lease_left)

    outcome = h.handle(s3_put(), receive_count=2)

    assert [j.status for j in outcome.jobs] == ["BUSY"]
    assert outcome.retry_after == pytest.approx(lease_left)
    assert slept == []


def test_a_lease_held_under_another_message_is_not_waited_for() -> None:
    h, _, slept = _dead_holder(busy_wait=LEASE)

    outcome = h.handle(s3_put(), message_id="msg-2")

    assert [j.status for j in outcome.jobs] == ["DUPLICATE"]
    assert slept == []
