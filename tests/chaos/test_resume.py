"""kill -9 of a real worker at 80 % of a web-hls encode, and a second worker finishes it
from the segments the first left (issue 22, "Resumable after a loss").

A 40 s clip (10 segments of 4 s); the first worker writes its segment ledger every row
(``FFAPI_LEDGER_SECONDS=0``) and is SIGKILLed once the job record holds 8 rows; a second
worker then takes the job over. Exactly one ``job.completed``; the committed package passed
QC and says it was resumed; each rung's segments play on without a gap or an overlap
(ffprobe over init + segments); and the second attempt encoded only the tail: its one range
encode starts a second of warm-up before the first missing one (at most 20 % of the frames
and a second). The package is kept for the browser test when ``FFAPI_KEEP_RESUMED`` names
a directory."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from core.attempt.ledger_codec import decode_ledger
from infra.emulator import EmbeddedEmulator
from infra.ffmpeg import make_sample_clip
from infra.jobstore_segments import SEGMENTS
from tests.harness.fleet import Fleet, wait_for
from tests.integration.conftest import job_record
from tests.integration.resume_rig import trim_start

from .conftest import ChaosStack, EventLog
from .verify import committed_outputs

pytestmark = pytest.mark.chaos

SECONDS, FPS, SEGMENT = 40, 30, 4
ROWS = SECONDS // SEGMENT
KILL_AT = math.ceil(0.8 * ROWS)


def rows(stack: ChaosStack, job_id: str) -> int:
    data = job_record(stack, job_id).get(SEGMENTS)
    return decode_ledger(data["B"]).rows if data else 0


def test_a_worker_killed_at_80_percent_is_resumed_by_the_next(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    clip = asyncio.run(make_sample_clip(tmp_path / "clip.mp4", SECONDS, 640, 360, FPS))
    work = tmp_path / "work"
    stack = make_stack(work, preset="web-hls", stall_seconds=60)
    events = EventLog(stack)
    with Fleet(stack.settings, work, emulator.endpoint_url, measure_tools=True) as fleet:
        first = fleet.start("a", ledger_seconds=0)
        s3, settings = stack.client("s3"), stack.settings
        s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4")
        [started] = wait_for(lambda: events.poll() and events.of_type("started"), 60, "a start")
        job_id = started["subject"]
        wait_for(lambda: rows(stack, job_id) >= KILL_AT, 240, f"{KILL_AT} rows in the ledger")
        first.kill()
        second = fleet.start("b", ledger_seconds=0)
        [final] = events.wait_terminal(1, 300)
        assert final["type"] == "ffapi.job.completed", final["data"].get("error")
        assert fleet.stop() == [0]
        events.poll()

    assert len(events.of_type("completed")) == 1
    assert events.of_type("failed") == []
    committed, present = committed_outputs(stack, job_id)
    assert committed["qc"]["passed"], committed["qc"]
    [note] = [n for n in committed["notes"] if n.startswith("resumed from segment")]
    kept = int(note.split()[3]) - 1
    assert kept >= KILL_AT
    runs = [r for r in fleet.tool_runs() if r.encodes and r.cwd.startswith(str(second.work_dir))]
    ranged = [s for r in runs if (s := trim_start(r.argv)) is not None]
    assert len(ranged) == 1, [r.argv for r in runs]  # the tail; besides: the sound's part
    frames = SECONDS * FPS
    share = (frames - ranged[0]) / frames
    # the tail and its second of warm-up (ranges.WARMUP_SECONDS; in frames: no float rounding)
    assert frames - ranged[0] <= (ROWS - kept) * frames // ROWS + FPS
    package = _download(stack, job_id, present, tmp_path / "package")
    inits = sorted(p.name for p in package.glob("init-*.m4s"))
    assert len(inits) == len(committed["renditions"])  # one per rung and sound
    video = [r["playlist"].rsplit("media_", 1)[1].removesuffix(".m3u8")
             for r in committed["renditions"] if r["kind"] == "video"]  # fmt: skip
    assert video
    for rep in video:
        _assert_continuous(package, rep)
    if keep := os.environ.get("FFAPI_KEEP_RESUMED"):
        shutil.copytree(package, keep, dirs_exist_ok=True)
    figure(f"killed at {KILL_AT}/{ROWS} rows; attempt 2 kept {kept}, encoded {share:.0%} of "
           f"the frames (its second of warm-up included); 1 completed event")  # fmt: skip


def _download(stack: ChaosStack, job_id: str, keys: set[str], dest: Path) -> Path:
    s3, bucket = stack.client("s3"), stack.settings.output_bucket
    prefix = f"{stack.settings.output_prefix}/{job_id}/"
    for key in keys:
        path = dest / key.removeprefix(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(path))
    return dest / "cmaf"


def _assert_continuous(package: Path, rep: str) -> None:
    """A video rung's init and segments, joined, decode as one run of frames 1/30 s apart."""
    parts = [package / f"init-{rep}.m4s", *sorted(package.glob(f"seg-{rep}-*.m4s"))]
    joined = package.parent / f"rung-{rep}.mp4"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    doc = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
         "-of", "json", f"file:{joined}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    pts = sorted(float(p["pts_time"]) for p in json.loads(doc)["packets"])
    assert len(pts) == SECONDS * FPS
    assert all(abs(b - a - 1 / FPS) < 1e-4 for a, b in itertools.pairwise(pts))
