"""Forty jobs through two worker processes while a chaos monkey kills one with -9 every second
or two (the one encoding, when there is one) and a replacement starts in its place, as ECS
would. Every job completes exactly once, whole; nothing is left running or on disk.

"Once" is one completion event per job: one id. A worker killed between publishing the event
and recording that it did leaves the job's record unannounced, and the next delivery sends the
event again under the same id (the alternative, recording first, could lose it); subscribers
de-duplicate on the id, as CloudEvents intends. The figure counts such re-sends."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, wait_for

from .conftest import ChaosStack, EventLog, queue_empty
from .verify import assert_outputs_complete

pytestmark = pytest.mark.chaos

JOBS = 40
KILLS = 8
SEED = int(os.environ.get("FFAPI_CHAOS_SEED") or random.randrange(10**6))


def test_forty_jobs_through_two_workers_killed_at_random(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    small_clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    rng = random.Random(SEED)  # a reproducible schedule: the seed is in every message
    # A kill costs a job a receive (the redelivery that finds the lease not yet lapsed waits
    # it out: core/jobs/lease_wait.py); a job hit by several kills must not reach the DLQ.
    stack = make_stack(tmp_path, worker_concurrency=2, max_receive_count=10)
    events = EventLog(stack)
    s3, settings = stack.client("s3"), stack.settings
    began = time.monotonic()
    with Fleet(settings, tmp_path, emulator.endpoint_url) as fleet:
        live = {name: fleet.start(name) for name in ("a", "b")}
        one_part = TransferConfig(multipart_threshold=1024**3)
        for n in range(JOBS):
            key = f"{settings.watch_prefix}job-{n:02}.mp4"
            s3.upload_file(str(small_clip), settings.input_bucket, key, Config=one_part)
        kills, orphans = 0, 0
        while len(events.poll() and events.of_type("completed")) < JOBS:
            assert time.monotonic() - began < 600, f"stuck (seed {SEED})"
            time.sleep(rng.uniform(0.5, 3))
            if kills == KILLS:
                continue
            victim = fleet.encoding() or live[rng.choice(sorted(live))]
            victim.kill()
            kills += 1
            time.sleep(0.5)  # ffmpeg's parent-death signal is immediate; give it a moment
            orphans += len(fleet.ffmpeg_under(victim))
            live[victim.name] = fleet.start(victim.name)  # on the same disk: it sweeps
        wait_for(lambda: queue_empty(stack), 120, "every message deleted", every=0.5)
        exit_codes = fleet.stop()
        events.poll()
        leftovers = fleet.job_dirs()
        running = fleet.ffmpeg_processes()

    completed = events.of_type("completed")
    jobs = {e["subject"] for e in completed}
    ids = {e["id"] for e in completed}
    encodes = sum(fleet.transcodes(job) for job in jobs)
    assert len(jobs) == JOBS, f"seed {SEED}"
    assert len(ids) == JOBS, f"two completion events for one job (seed {SEED})"
    resent = len(completed) - len(ids)
    # Only a re-announcement repeats an event (one after a kill before the publish does not).
    assert resent <= len(fleet.logged("job.reannounced"))
    assert events.of_type("failed") == []
    assert exit_codes == [0, 0]
    assert orphans == 0
    assert running == []
    assert leftovers == []
    for job in jobs:
        assert_outputs_complete(stack, job, 2)
    figure(
        f"seed {SEED}: {JOBS} jobs, {kills} kills, {len(jobs)} completed, {len(ids)} "
        f"completion events (0 duplicates; {resent} re-sent under its id), {encodes} encodes, "
        "0 orphan ffmpeg, "
        f"0 job dirs left, {time.monotonic() - began:.0f}s"
    )
