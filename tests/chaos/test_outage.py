"""The emulator unreachable for several seconds mid-job: the job completes after it returns,
once and whole, and nothing is left running or on disk.

Two real workers reach the emulator through an OutageProxy (the test's own clients do not);
the outage begins:

- start: while the workers idle, long-polling; the clip arrives during it.
- encode: while ffmpeg runs (the heartbeat, the lease renewal and progress writes fail).
- heartbeat: as a claimed job's heartbeat is sent, the worst moment for its claims (the
  message's visibility and the job's lease run out soonest after it). Its worker is held
  before the download until the outage ends, so that only the claims' renewals meet it, and
  the job must keep its worker: its message never visible, no other worker finding it leased.
- upload: as the worker puts its first output.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, wait_for
from tests.harness.outage import OutageProxy

from .conftest import ChaosStack, EventLog, queue_empty
from .holding_worker import released
from .verify import assert_outputs_complete

pytestmark = pytest.mark.chaos

CLIP_SECONDS = 8


@dataclass(frozen=True)
class Outage:
    seconds: float
    visibility: int  # the workers' visibility timeout, and so their lease


# 6 s: longer than botocore's first retries wait (up to 1 + 2 s), so the calls made during
# it are retried (its backoff, up to 31 s in all, brings most of them back after it, some up
# to 16 s late). At a 15 s visibility timeout the claims, renewed every 5 s, run out 10 s after
# the last renewal: the job can keep its worker.
SHORT = Outage(6.0, 15)
# The claims' case. 11 s: a renewal made as it begins either gives up before it ends or waits
# in the SDK's backoff past it (up to 16 s). At 24 s the claims, renewed every 8 s, run out
# 16 s after the last renewal, 5 s after the outage: enough for renewals tried again every
# second (each given 2 s), not for a whole interval's wait or the SDK's backoff.
CLAIMS = Outage(11.0, 24)
PHASES = {"start": SHORT, "encode": SHORT, "heartbeat": CLAIMS, "upload": SHORT}

# Where the job must keep its worker. Only where no transfer meets the outage: one that gives
# up fails the attempt, and the job then moves, as it should.
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
    visible: int  # samples, from the outage on, in which the queue showed a message
    recovered: float  # seconds from the end of the outage to the message being deleted
    exit_codes: list[int]
    leftovers: list[object]  # ffmpeg processes and job directories once the fleet stopped
    resets: int  # the workers' connections the outage cut


class VisibleWatch:
    """Samples the jobs queue from outside (5 a second) and counts the samples that show a
    visible message: while a worker holds the job's message, none should."""

    def __init__(self, stack: ChaosStack) -> None:
        self.samples = 0
        self._stack = stack
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sqs, url = self._stack.client("sqs"), self._stack.resources.queue_url
        while not self._stop.wait(0.2):
            attrs = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            self.samples += int(attrs["ApproximateNumberOfMessages"]) > 0

    def __enter__(self) -> VisibleWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


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
        with VisibleWatch(stack) as watch:
            time.sleep(PHASES[phase].seconds)
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
            visible=watch.samples,
            recovered=recovered,
            exit_codes=exit_codes,
            leftovers=[*fleet.ffmpeg_processes(), *fleet.job_dirs()],
            resets=proxy.resets,
        )


@pytest.mark.parametrize("phase", list(PHASES))
def test_an_outage_of_the_emulator_loses_nothing_and_does_nothing_twice(
    phase: str,
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path, visibility_timeout=PHASES[phase].visibility)
    trial = run_outage(phase, stack, EventLog(stack), emulator.endpoint_url, clip)

    assert trial.resets > 0  # the workers went through the proxy, and lost connections
    assert trial.completions == 1
    assert trial.failures == 0
    assert trial.exit_codes == [0, 0]
    assert trial.leftovers == []
    if phase in KEPT:
        assert (trial.visible, trial.contended) == (0, 0)
    figure(
        f"outage {PHASES[phase].seconds:.0f}s, done {trial.recovered:.1f}s after it ended, "
        f"attempts {trial.attempts}, encodes {trial.encodes}, deliveries {trial.deliveries}, "
        f"message visible in {trial.visible} samples, found leased/taken over "
        f"{trial.contended}, {trial.resets} connections cut"
    )
