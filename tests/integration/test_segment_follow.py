"""Segments sent while the encode runs, with the real ffmpeg and the real job directory: a
real-time encode's finished segments reach the bucket before it ends, each once; and a whole
job, its early segments and all, publishes every file as the package holds it."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import m3u8
import pytest

from core.models import OutputLocation
from core.presets import StreamingPreset
from core.publish import Publisher
from core.segment_follow import SegmentFollower
from infra.workspace import LocalDiskFiles
from tests.integration.local_job import WEB, LocalObjects, ffmpeg, run_local
from tests.integration.steps_job import run_steps

pytestmark = pytest.mark.integration

OUT = OutputLocation(bucket="out", prefix="p")


class Watching(LocalObjects):
    """Counts each key's uploads, and says which came while ``running`` was set."""

    def __init__(self, source: Path) -> None:
        super().__init__(source)
        self.uploads: Counter[str] = Counter()
        self.running = False
        self.during: list[str] = []

    async def upload_file(self, path: Path, bucket: str, key: str, *headers: Any) -> None:
        await super().upload_file(path, bucket, key, *headers)
        self.uploads[key] += 1
        if self.running:
            self.during.append(key)


def test_finished_segments_reach_the_bucket_while_the_encode_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # -re: the input read at its own pace, so the encode lasts the clip's 4 s
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=4", "-c:v", "libx264",
            "-preset", "ultrafast", "-g", "25", "-f", "dash", "-dash_segment_type", "mp4",
            "-seg_duration", "1", "-init_seg_name", "init-$RepresentationID$.m4s",
            "-media_seg_name", "seg-$RepresentationID$-$Number%05d$.m4s",
            str(out / "manifest.mpd")]  # fmt: skip
    store = Watching(tmp_path / "none")

    async def run() -> set[str]:
        early = SegmentFollower(Publisher(store, 2), LocalDiskFiles(), out, OUT, "j",  # type: ignore[arg-type]
                                interval=0.05)  # fmt: skip
        task = asyncio.create_task(early.follow())
        store.running = True
        await asyncio.to_thread(subprocess.run, argv, check=True)
        store.running = False
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return await early.unchanged()

    sent = asyncio.run(run())
    segments = sorted(p.name for p in out.glob("seg-*.m4s"))
    assert len(segments) == 4
    assert store.during  # sent before the encode ended
    assert all(k.endswith(".m4s") and "/seg-" in k for k in store.during)
    assert f"p/j/{segments[-1]}" not in store.uploads  # the last waits for the publish
    assert sent == {k.removeprefix("p/j/") for k in store.uploads}
    assert all(n == 1 for n in store.uploads.values())


def _clip(tmp_path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=8", "-f", "lavfi", "-i",
           "sine=duration=8", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
           "-shortest", "clip.mp4", cwd=tmp_path)  # fmt: skip
    return tmp_path / "clip.mp4"


def test_a_job_publishes_every_segment_as_it_is(tmp_path: Path) -> None:
    short = StreamingPreset.model_validate({**WEB.model_dump(), "segment_seconds": 1})
    clip = _clip(tmp_path)
    outcome = run_local(clip, tmp_path, short)
    assert outcome.error is None, outcome.error
    cmaf = outcome.out / "cmaf"
    doc = m3u8.load(str(cmaf / "master.m3u8"))
    for variant in (*doc.playlists, *doc.media):
        media = m3u8.load(str(cmaf / variant.uri))
        for segment in media.segments:
            key = next(k for k in outcome.published if k.endswith(f"/cmaf/{segment.uri}"))
            assert outcome.published[key] == (cmaf / segment.uri).stat().st_size


def test_a_steps_job_publishes_every_file(tmp_path: Path) -> None:
    steps = [{"op": "trim", "start": 1.0}, {"op": "encode", "preset": "web-hls"}]
    outcome = run_steps(_clip(tmp_path), tmp_path / "run", steps)
    assert outcome.error is None, outcome.error
    local = sorted(p.relative_to(outcome.out).as_posix()
                   for p in outcome.out.rglob("*") if p.is_file())  # fmt: skip
    published = sorted(k.split("/", 2)[2] for k in outcome.published
                       if not k.endswith(("job.json", "probe.json")))  # fmt: skip
    assert published == local
