"""Segments go up as ffmpeg finishes them: the real pipeline (real ffmpeg, the S3 store on
moto's server) puts media segments in the bucket before the encode has ended, each once,
and the manifests only after it; the fragment reader reads the real muxer's segments as the
per-segment QC does (contiguous, keyframe first, EXTINF-long)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.attempt.limits import PipelineLimits
from core.attempt.pipeline import JobPipeline
from core.events.progress import EncodeProgress
from core.media.fallback import CpuOnly
from core.media.hardening import NO_LIMITS, ResourceLimits
from core.media.preflight import MediaLimits
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.streaming.fragments import read_fragment, read_init
from core.streaming.playlists import read_media
from infra.aws import open_clients
from infra.ffmpeg import FfmpegMedia, make_sample_clip
from infra.storage import S3ObjectStore
from infra.workspace import LocalDiskFiles
from tests.integration.local_job import WEB, job_dir

from .conftest import Stack

pytestmark = pytest.mark.integration
JOB = "j-" + "5" * 24


class TimedStore:
    """The S3 store, noting the order of every put (a sequence number, not a clock)."""

    def __init__(self, inner: S3ObjectStore, clock: list[int]) -> None:
        self._inner, self._clock = inner, clock
        self.puts: list[tuple[int, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def upload_file(self, path: Path, bucket: str, key: str, *headers: Any) -> None:
        await self._inner.upload_file(path, bucket, key, *headers)
        self._clock[0] += 1
        self.puts.append((self._clock[0], key))


class TimedMedia(FfmpegMedia):
    """The real ffmpeg, noting where in the puts' sequence the package's encode returned."""

    def __init__(self, clock: list[int]) -> None:
        super().__init__()
        self._clock = clock
        self.encode_ended: int | None = None

    async def transcode(
        self, argv: Sequence[str], cwd: Path, timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> None:  # fmt: skip
        await super().transcode(argv, cwd, timeout, progress, limits)
        if "dash" in argv:  # the package's encode (the storyboard's sheets come after)
            self._clock[0] += 1
            self.encode_ended = self._clock[0]


def test_segments_reach_the_bucket_before_the_encode_ends(stack: Stack, tmp_path: Path) -> None:
    source = asyncio.run(make_sample_clip(tmp_path / "clip.mp4", 16, 640, 360, 30))
    settings = stack.settings
    stack.client("s3").upload_file(str(source), settings.input_bucket, "incoming/clip.mp4")
    clock = [0]
    media = TimedMedia(clock)
    jobdir = job_dir(tmp_path)
    request = JobRequest(
        input=S3ObjectRef(bucket=settings.input_bucket, key="incoming/clip.mp4"),
        output=OutputLocation(bucket=settings.output_bucket, prefix="outputs"),
        preset=WEB.name,
    )

    async def run() -> TimedStore:
        async with open_clients(settings) as clients:
            store = TimedStore(S3ObjectStore(clients.s3), clock)
            pipeline = JobPipeline(
                store,
                media, LocalDiskFiles(), PipelineLimits(120.0, MediaLimits(), NO_LIMITS),
                lambda: datetime.now(UTC), CpuOnly(),
            )  # fmt: skip
            result = await pipeline.run(JOB, request, WEB, jobdir, 1)
            assert result.qc is not None
            assert result.qc.passed
            return store

    store = asyncio.run(run())
    assert media.encode_ended is not None
    keys = [key for _, key in store.puts]
    assert len(keys) == len(set(keys))  # each once
    early = [key for n, key in store.puts if n < media.encode_ended]
    assert early, "no segment reached the bucket while ffmpeg encoded"
    assert all(key.rsplit("/", 1)[1].startswith("seg-") for key in early)  # segments only
    late = {key.rsplit("/", 1)[1] for n, key in store.puts if n > media.encode_ended}
    assert {"master.m3u8", "manifest.mpd", "media_0.m3u8"} <= late
    listed = stack.client("s3").list_objects_v2(Bucket=settings.output_bucket, Prefix="outputs/")
    in_bucket = {o["Key"].removeprefix(f"outputs/{JOB}/") for o in listed["Contents"]}
    on_disk = {p.relative_to(jobdir.out).as_posix() for p in (jobdir.out / "cmaf").glob("*.m4s")}
    assert on_disk <= in_bucket
    _fragments_read_as_the_playlists_say(jobdir.out / "cmaf")


def _fragments_read_as_the_playlists_say(package: Path) -> None:
    """The box reader on the real muxer's bytes: each rendition's segments contiguous to the
    tick, video ones opening on a keyframe, each as long as its EXTINF (within a frame)."""
    playlists = sorted(package.glob("media_*.m3u8"))
    assert len(playlists) >= 2  # a video rung and the audio
    handlers = set()
    for playlist in playlists:
        parsed = read_media(playlist.name, playlist.read_text())
        assert parsed.init is not None
        track = read_init((package / parsed.init).read_bytes())
        assert track is not None
        handlers.add(track.handler)
        at = None
        for uri, extinf in parsed.segments:
            facts = read_fragment((package / uri).read_bytes(), track)
            assert facts is not None
            assert at is None or facts.decode_time == at
            at = facts.decode_time + facts.duration
            frame = facts.duration / facts.samples / track.timescale
            assert abs(facts.duration / track.timescale - extinf) <= frame + 1e-3
            assert facts.starts_with_sync or track.handler != "vide"
    assert handlers == {"vide", "soun"}
