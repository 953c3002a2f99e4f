"""A web-hls job lost part-way (its worker stopped dead once its ledger held 4 of 6 rows)
and resumed by a second attempt, on the real pipeline (real ffmpeg, S3 on moto's server):
the second attempt encodes only the tail (its range starts a second of warm-up before the
first missing one), and the committed package has one init segment per rung, the clean
encode's segment names, passes QC, and runs on without a gap or an overlap (ffprobe)."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from pathlib import Path

import pytest

from core.models import JobRequest
from infra.aws import open_clients
from infra.ffmpeg import make_sample_clip
from infra.storage import S3ObjectStore
from tests.integration.local_job import WEB
from tests.integration.resume_rig import (
    clean,
    lost_then_resumed,
    lost_twice_then_resumed,
    request_for,
    trim_start,
)

from .conftest import Stack

pytestmark = pytest.mark.integration
RESUMED, CLEAN, TWICE = "j-" + "7" * 24, "j-" + "8" * 24, "j-" + "6" * 24
SECONDS, KILL_AT = 24, 4  # 6 segments of 4 s


def uploaded(stack: Stack, tmp_path: Path, key: str) -> JobRequest:
    """A generated clip of ``SECONDS`` in the input bucket under ``key``, and its request."""
    settings = stack.settings
    clip = asyncio.run(make_sample_clip(tmp_path / "clip.mp4", SECONDS, 640, 360, 30))
    stack.client("s3").upload_file(str(clip), settings.input_bucket, key)
    return request_for(settings.input_bucket, key, settings.output_bucket)


def test_a_lost_attempt_is_resumed_from_its_last_complete_row(stack: Stack, tmp_path: Path) -> None:
    settings = stack.settings
    request = uploaded(stack, tmp_path, "incoming/clip.mp4")

    async def run() -> tuple:  # type: ignore[type-arg]
        async with open_clients(settings) as clients:
            store = S3ObjectStore(clients.s3)
            resumed = await lost_then_resumed(store, request, WEB, RESUMED, tmp_path / "r",
                                              KILL_AT)  # fmt: skip
            whole, _ = await clean(store, request, WEB, CLEAN, tmp_path / "c")
            return resumed, whole

    resumed, whole = asyncio.run(run())
    kept = resumed.kept.rows
    assert kept >= KILL_AT
    result = resumed.result
    assert result.qc is not None
    assert result.qc.passed, result.qc
    assert any(note.startswith(f"resumed from segment {kept + 1} of 6") for note in result.notes)

    # attempt 2 encoded the picture from a second of warm-up before the first missing one
    starts = [trim_start(a) for a in resumed.second.argvs if "dash" in a]
    ranged = [s for s in starts if s]
    # one range; the head's pictures' pass (from frame 0); the sound's stand-in (untrimmed)
    assert len(ranged) == 1, starts
    assert sorted(starts, key=str) == sorted([0, ranged[0], None], key=str), starts
    probe_frames = SECONDS * 30
    grid_cut = probe_frames * kept // 6  # 4 s segments at 30 fps: cuts every 120
    assert ranged[0] == grid_cut - 30  # ranges.WARMUP_SECONDS at 30 fps
    assert probe_frames - ranged[0] <= (6 - kept + 1) * probe_frames // 6  # tail + warm-up

    # the same segment names and count as a clean encode, one init segment per rung
    def names(job_id: str) -> list[str]:
        listed = stack.client("s3").list_objects_v2(
            Bucket=settings.output_bucket, Prefix=f"outputs/{job_id}/cmaf/"
        )
        return sorted(o["Key"].rsplit("/", 1)[1] for o in listed["Contents"])

    def media(found: list[str]) -> list[str]:
        return [n for n in found if n.startswith(("seg-", "init-"))]

    assert media(names(RESUMED)) == media(names(CLEAN))  # the kept ones not pruned
    rungs = len(result.renditions) - sum(1 for r in result.renditions if r.kind == "audio")
    assert sum(1 for n in names(RESUMED) if n.startswith("init-")) == rungs + 1  # + the sound
    # each rung runs on without a gap or an overlap, as the clean encode's
    for rep in range(rungs):
        pts = _video_pts(stack, settings.output_bucket, RESUMED, rep, tmp_path)
        assert len(pts) == probe_frames
        assert all(abs(b - a - 1 / 30) < 1e-4 for a, b in itertools.pairwise(pts))
    assert whole.qc is not None
    assert whole.qc.passed

    # the clean encode's pictures: the same files (head's pass + tail's range), the same VTT
    assert _pictures(stack, settings.output_bucket, RESUMED) == _pictures(
        stack, settings.output_bucket, CLEAN
    )
    assert any(n.startswith("storyboard-") for n in _pictures(stack, settings.output_bucket,
                                                            CLEAN))  # fmt: skip
    assert _vtt(stack, settings.output_bucket, RESUMED) == _vtt(
        stack, settings.output_bucket, CLEAN
    )


def test_a_second_loss_resumes_from_the_tail_the_first_resume_recorded(
    stack: Stack, tmp_path: Path
) -> None:
    settings = stack.settings
    request = uploaded(stack, tmp_path, "incoming/twice.mp4")

    async def run() -> tuple:  # type: ignore[type-arg]
        async with open_clients(settings) as clients:
            store = S3ObjectStore(clients.s3)
            return await lost_twice_then_resumed(store, request, WEB, TWICE, tmp_path / "t",
                                                 KILL_AT)  # fmt: skip

    first_kept, third = asyncio.run(run())
    # attempt 2 recorded its tail's rows: attempt 3 keeps more than attempt 2 did
    assert third.kept.rows > first_kept.rows >= KILL_AT
    result = third.result
    assert result.qc is not None
    assert result.qc.passed, result.qc
    kept = min(third.kept.rows, 5)  # every row kept: the last is encoded again
    assert any(note.startswith(f"resumed from segment {kept + 1} of 6") for note in result.notes)
    ranged = [s for s in (trim_start(a) for a in third.second.argvs if "dash" in a) if s]
    assert ranged == [SECONDS * 30 * kept // 6 - 30]  # ranges.WARMUP_SECONDS at 30 fps


def _pictures(stack: Stack, bucket: str, job_id: str) -> dict[str, int]:
    """The package's pictures: name to count (1 each; no storyboard tile left behind)."""
    prefix = f"outputs/{job_id}/thumbnails/"
    listed = stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    names = [o["Key"].removeprefix(prefix) for o in listed.get("Contents", [])]
    assert not [n for n in names if "/" in n], names  # the tiles withdrawn
    return {n: names.count(n) for n in names}


def _vtt(stack: Stack, bucket: str, job_id: str) -> str:
    key = f"outputs/{job_id}/thumbnails/storyboard.vtt"
    body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return str(body.decode())


def _video_pts(stack: Stack, bucket: str, job_id: str, rep: int, tmp: Path) -> list[float]:
    s3 = stack.client("s3")
    prefix = f"outputs/{job_id}/cmaf/"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}seg-{rep}-")["Contents"]
    keys = [f"{prefix}init-{rep}.m4s", *sorted(o["Key"] for o in listed)]
    joined = tmp / f"rendition-{rep}.mp4"
    joined.write_bytes(b"".join(s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys))
    doc = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
         "-of", "json", f"file:{joined}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return sorted(float(p["pts_time"]) for p in json.loads(doc)["packets"])
