"""kill -9 of a real worker at each phase of a job, with a second worker running: the job
completes once, whole, and the killed worker leaves nothing running and, once replaced,
nothing on disk."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, WorkerProcess, wait_for

from .conftest import TRIALS, ChaosStack, EventLog, make_chaos_stack, queue_empty
from .verify import assert_outputs_complete

pytestmark = pytest.mark.chaos

CLIP_SECONDS = 8

# ffmpeg encodes per job when the worker dies at that phase: before the encode, the job is
# encoded once; during or after it (outputs not committed), once more by the next attempt;
# after the completion event, never again.
ENCODES = {"download": 1, "encode": 2, "upload": 2, "committed": 1}


@dataclass
class Trial:
    completions: int
    failures: int
    encodes: int
    recovery: float  # seconds from the kill to the job being done with (message deleted)
    attempts: int
    exit_codes: list[int]
    leftovers: int  # ffmpeg processes and job directories after the fleet stopped


def kill_at(phase: str, stack: ChaosStack, events: EventLog, endpoint: str, clip: Path) -> Trial:
    root = stack.settings.temp_dir
    assert root is not None
    with Fleet(stack.settings, root, endpoint) as fleet:
        marker = root / "held"
        hold = None if phase == "encode" else phase  # an encode is caught running, unaided
        for name in ("a", "b"):
            fleet.start(name, hold=hold, marker=marker)
        s3, settings = stack.client("s3"), stack.settings
        s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4")

        victim: WorkerProcess = wait_for(
            fleet.encoding if hold is None else lambda: fleet.holder(marker), 120, phase
        )
        victim.kill()
        killed = time.monotonic()
        # Its ffmpeg dies with it (at once: an orphan would encode on for seconds).
        wait_for(lambda: not fleet.ffmpeg_under(victim), 2, "the killed worker's ffmpeg to die")
        [final] = events.wait_terminal(1, 180)
        wait_for(lambda: queue_empty(stack), 120, "the message to be deleted")
        recovery = time.monotonic() - killed

        # Its replacement (ECS starts one) sweeps the dead worker's job directory.
        replacement = fleet.start(victim.name)
        wait_for(lambda: any(e["event"] == "workspace.swept" for e in replacement.log()), 60,
                 "the replacement's sweep")  # fmt: skip
        exit_codes = fleet.stop()
        leftovers = len(fleet.ffmpeg_processes()) + len(fleet.job_dirs())
        events.poll()
        job_id = final["subject"]
        assert_outputs_complete(stack, job_id, CLIP_SECONDS)
        return Trial(
            completions=len(events.of_type("completed", job_id)),
            failures=len(events.of_type("failed")),
            encodes=fleet.transcodes(job_id),
            recovery=recovery,
            attempts=max(e["data"]["attempt"] for e in events.of_type("started", job_id)),
            exit_codes=exit_codes,
            leftovers=leftovers,
        )


@pytest.fixture(scope="module")
def trials(
    emulator: EmbeddedEmulator, clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[Future[Trial]]]:
    """Every phase's trials, all side by side (they mostly wait out visibility timeouts):
    the run takes about one trial's time, not eight."""
    root = tmp_path_factory.mktemp("kills")
    plan = [(phase, n) for phase in ENCODES for n in range(TRIALS)]
    stacks = {key: make_chaos_stack(root / f"{key[0]}-{key[1]}") for key in plan}
    logs = {key: EventLog(stack) for key, stack in stacks.items()}  # subscribed before uploads
    found: dict[str, list[Future[Trial]]] = {phase: [] for phase in ENCODES}
    with ThreadPoolExecutor(len(plan)) as pool:
        for phase, n in plan:
            stack, events = stacks[phase, n], logs[phase, n]
            found[phase].append(
                pool.submit(kill_at, phase, stack, events, emulator.endpoint_url, clip)
            )
    return found


@pytest.mark.parametrize("phase", list(ENCODES))
def test_kill_9_at_each_phase_loses_nothing_and_does_nothing_twice(
    phase: str, trials: dict[str, list[Future[Trial]]], figure: Callable[[str], None]
) -> None:
    done = [trial.result() for trial in trials[phase]]  # a trial's own failure is raised here
    for trial in done:
        assert trial.completions == 1
        assert trial.failures == 0
        assert trial.encodes == ENCODES[phase]
        assert trial.exit_codes == [0, 0]
        assert trial.leftovers == 0
    figure(
        f"{len(done)} trials, {sum(t.completions for t in done)} completed events, "
        f"encodes per job {[t.encodes for t in done]}, attempts {[t.attempts for t in done]}, "
        f"recovered in {max(t.recovery for t in done):.1f}s at most, "
        f"0 orphan ffmpeg, 0 job dirs left"
    )
