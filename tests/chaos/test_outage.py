"""The emulator unreachable for several seconds mid-job: the job completes after it returns,
once and whole, and nothing is left running or on disk.

Two real workers reach the emulator through an OutageProxy (the test's own clients do not);
the outage begins:

- start: while the workers idle, long-polling; the clip arrives during it.
- encode: while ffmpeg runs (the heartbeat, the lease renewal and progress writes fail).
- heartbeat: as a claimed job's heartbeat is sent, the worst moment for its claims (the
  message's visibility and the job's lease run out soonest after it). Its worker is held
  before the download until the outage ends, so that only the claims' renewals meet it.
- upload: as the worker puts its first output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator

from .conftest import ChaosStack, EventLog, queue_empty
from .fleet import Fleet, wait_for
from .holding_worker import released
from .outage import OutageProxy
from .verify import assert_outputs_complete

pytestmark = pytest.mark.chaos

CLIP_SECONDS = 8

# Longer than botocore's first retries wait (up to 1 + 2 s), so the calls made during it are
# retried, and about a third of those made as it begins give up after their five attempts
# (the backoff is random, 15 s at most); shorter than the claims' margin (VISIBILITY), so a
# worker that renews them once the emulator is back keeps its job.
OUTAGE_SECONDS = 6.0

# The message's visibility and the job's lease: renewed every 5 s, they run out 10 s after
# the last renewal, so an outage that begins just as a renewal is due leaves 4 s after it.
VISIBILITY = 15

# Where the job must keep its worker: no other worker finds it leased or takes it over. Only
# where no transfer meets the outage: one that gives up fails the attempt, and the job then
# moves, as it should (and, rarely, finds its lease still held on the way).
KEPT = {"heartbeat"}
HELD = "held"  # the holding worker's marker, under the fleet's root


@dataclass
class Trial:
    completions: int
    failures: int
    encodes: int
    attempts: int
    deliveries: int  # of the job's message
    contended: int  # other workers finding the job leased, or taking it over
    recovered: float  # seconds from the end of the outage to the message being deleted
    exit_codes: list[int]
    leftovers: list[object]  # ffmpeg processes and job directories once the fleet stopped
    resets: int  # the workers' connections the outage cut


def upload_and_cut(phase: str, proxy: OutageProxy, fleet: Fleet, stack: ChaosStack,
                   clip: Path) -> None:  # fmt: skip
    """Upload the clip and begin the outage at ``phase``; return once it has begun."""
    settings = stack.settings
    if phase == "start":
        proxy.down()
    elif phase == "upload":
        proxy.down_on(f"PUT /{settings.output_bucket}/".encode())
    stack.client("s3").upload_file(
        str(clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4"
    )
    if phase == "encode":
        wait_for(fleet.encoding, 120, "an encode")
        proxy.down()
    elif phase == "heartbeat":
        marker = fleet.root / HELD
        wait_for(lambda: marker.exists() and marker.read_text(), 120, "the job held")
        # The next beat is the held job's: every message's first came before.
        proxy.down_on(b"AmazonSQS.ChangeMessageVisibility")
    assert proxy.went_down.wait(120), f"no {phase} to cut"


def run_outage(phase: str, stack: ChaosStack, events: EventLog, endpoint: str,
               clip: Path) -> Trial:  # fmt: skip
    root = stack.settings.temp_dir
    assert root is not None
    with OutageProxy(endpoint) as proxy, Fleet(stack.settings, root, proxy.url) as fleet:
        hold = "download" if phase == "heartbeat" else None  # the first to get there holds
        for name in ("a", "b"):
            fleet.start(name, hold=hold, marker=root / HELD)
        wait_for(lambda: len(fleet.logged("worker.started")) == 2, 60, "the workers")
        upload_and_cut(phase, proxy, fleet, stack, clip)
        time.sleep(OUTAGE_SECONDS)
        proxy.up()
        restored = time.monotonic()
        released(root / HELD).touch()
        [final] = events.wait_terminal(1, 120)
        wait_for(lambda: queue_empty(stack), 60, "the message to be deleted")
        recovered = time.monotonic() - restored
        exit_codes = fleet.stop()
        events.poll()
        job_id = final["subject"]
        assert_outputs_complete(stack, job_id, CLIP_SECONDS)
        return Trial(
            completions=len(events.of_type("completed", job_id)),
            failures=len(events.of_type("failed")),
            encodes=fleet.transcodes(job_id),
            attempts=max(e["data"]["attempt"] for e in events.of_type("started", job_id)),
            deliveries=max(e["receive_count"] for e in fleet.logged("message.received")),
            contended=len(fleet.logged("job.busy")) + len(fleet.logged("lease.lost")),
            recovered=recovered,
            exit_codes=exit_codes,
            leftovers=[*fleet.ffmpeg_processes(), *fleet.job_dirs()],
            resets=proxy.resets,
        )


@pytest.mark.parametrize("phase", ["start", "encode", "heartbeat", "upload"])
def test_an_outage_of_the_emulator_loses_nothing_and_does_nothing_twice(
    phase: str,
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path, visibility_timeout=VISIBILITY)
    trial = run_outage(phase, stack, EventLog(stack), emulator.endpoint_url, clip)

    assert trial.resets > 0  # the workers went through the proxy, and lost connections
    assert trial.completions == 1
    assert trial.failures == 0
    assert trial.exit_codes == [0, 0]
    assert trial.leftovers == []
    if phase in KEPT:
        assert trial.contended == 0
    figure(
        f"outage {OUTAGE_SECONDS:.0f}s, done {trial.recovered:.1f}s after it ended, "
        f"attempts {trial.attempts}, encodes {trial.encodes}, deliveries {trial.deliveries}, "
        f"found leased/taken over {trial.contended}, {trial.resets} connections cut"
    )
