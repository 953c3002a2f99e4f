"""The job's pulse: beaten from anywhere in the job's context, quiet measured on its clock."""

from __future__ import annotations

import asyncio

from core.jobs import pulse


def test_quiet_is_the_time_since_the_last_beat() -> None:
    now = [5.0]
    job = pulse.Pulse(clock=lambda: now[0])
    now[0] = 12.0
    assert job.quiet_for() == 7.0
    with pulse.bound(job):
        pulse.beat()
    assert job.quiet_for() == 0.0


def test_beats_reach_the_pulse_of_the_job_in_whose_context_they_happen() -> None:
    now = [0.0]
    first, second = pulse.Pulse(lambda: now[0]), pulse.Pulse(lambda: now[0])

    async def work(job: pulse.Pulse, beats: bool) -> None:
        with pulse.bound(job):
            # A task started by the job (an ffmpeg reader, a transfer) beats the job's pulse.
            await asyncio.create_task(_beat_if(beats))

    async def both() -> None:
        now[0] = 30.0
        await asyncio.gather(work(first, True), work(second, False))

    asyncio.run(both())
    assert first.quiet_for() == 0.0
    assert second.quiet_for() == 30.0
    assert pulse.current() is None  # nothing bound outside a job


async def _beat_if(beats: bool) -> None:
    if beats:
        pulse.beat()


def test_a_beat_outside_any_job_is_harmless() -> None:
    pulse.beat()
    assert pulse.current() is None
