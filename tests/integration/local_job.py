"""One attempt of the worker's real pipeline on a local file, without AWS: the real ffprobe
and ffmpeg under the input guard, the CPU tier, and a local 'bucket'.

The input 'bucket' is the file itself; what is published is kept by key (sizes only); the
job's files stay in its directory, ``tmp_path / "job" / "out"``, for a test to read.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.attempt.limits import PipelineLimits
from core.attempt.pipeline import JobPipeline
from core.errors import FfapiError
from core.events.progress import EncodeProgress
from core.jobs.results import JobResult
from core.media.fallback import CpuOnly
from core.media.hardening import NO_LIMITS, ResourceLimits
from core.media.preflight import MediaLimits
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.ports import JobDir
from core.presets import Mp4Preset, OutputPreset, StreamingPreset
from infra.ffmpeg import FfmpegMedia
from infra.workspace import LocalDiskFiles
from tests.shipped_presets import shipped

WEB = shipped("web-hls", StreamingPreset)
MP4 = shipped("mp4-720p", Mp4Preset)
AUDIO_ONLY = shipped("audio-only", StreamingPreset)


def ffmpeg(*args: str, cwd: Path) -> None:
    """Fixture making, with the plain ffmpeg (no guard): what an uploader could send."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args],
        cwd=cwd,
        check=True,
    )


class LocalObjects:
    """The input 'bucket' is a local file; what is published is kept by key, in memory (the
    sizes, and the bodies of what is put from memory: probe.json, job.json)."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.published: dict[str, int] = {}
        self.bodies: dict[str, bytes] = {}

    async def get_bytes(self, bucket: str, key: str, limit: int) -> bytes | None:
        return None

    async def download(self, ref: S3ObjectRef, dest: Path) -> None:
        shutil.copyfile(self.source, dest)

    async def upload_file(self, path: Path, bucket: str, key: str, *headers: Any) -> None:
        self.published[key] = path.stat().st_size

    async def put_bytes(self, data: bytes, bucket: str, key: str, *headers: Any) -> int:
        self.published[key] = len(data)
        self.bodies[key] = data
        return len(data)

    async def put_new(self, data: bytes, bucket: str, key: str, *headers: Any) -> bool:
        return key not in self.published and bool(await self.put_bytes(data, bucket, key))

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return [k for k in self.published if k.startswith(prefix)]

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.published.pop(key, None)
            self.bodies.pop(key, None)


class CountingMedia(FfmpegMedia):
    """The real ffprobe/ffmpeg, counting the encodes it is asked to start."""

    def __init__(self) -> None:
        super().__init__()
        self.transcodes = 0

    async def transcode(
        self,
        argv: Sequence[str],
        cwd: Path,
        timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> None:
        self.transcodes += 1
        await super().transcode(argv, cwd, timeout, progress, limits)


@dataclass
class Outcome:
    error: FfapiError | None
    transcodes: int
    out: Path  # the job's output directory, as the pipeline left it
    result: JobResult | None = None
    published: dict[str, int] = field(default_factory=dict)  # key -> bytes
    bodies: dict[str, bytes] = field(default_factory=dict)  # key -> what was put from memory


def local_pipeline(
    objects: LocalObjects, tool: CountingMedia, limits: PipelineLimits
) -> JobPipeline:
    """The real pipeline on the CPU tier, over local 'objects' and the real tools."""
    return JobPipeline(
        objects,  # type: ignore[arg-type]
        tool,
        LocalDiskFiles(),
        limits,
        lambda: datetime.now(UTC),
        CpuOnly(),
    )


def job_dir(tmp_path: Path) -> JobDir:
    """A job directory as the workspace makes one: ``tmp_path / "job"``, input and out."""
    root = tmp_path / "job"
    (root / "input").mkdir(parents=True)
    (root / "out").mkdir()
    return JobDir(root=root, source=root / "input" / "source", out=root / "out")


def run_local(
    source: Path,
    tmp_path: Path,
    preset: OutputPreset = WEB,
    media: MediaLimits | None = None,
    resources: ResourceLimits = NO_LIMITS,
) -> Outcome:
    """One attempt of the real pipeline on ``source``, in ``tmp_path / "job"``; ``resources``:
    the kernel limits of each ffmpeg run (none unless asked)."""
    tool = CountingMedia()
    objects = LocalObjects(source)
    pipeline = local_pipeline(
        objects, tool, PipelineLimits(120.0, media or MediaLimits(), resources)
    )
    jobdir = job_dir(tmp_path)
    request = JobRequest(
        input=S3ObjectRef(bucket="ffapi-input", key="incoming/upload"),
        output=OutputLocation(bucket="ffapi-output", prefix="outputs"),
        preset=preset.name,
    )
    outcome = Outcome(None, 0, jobdir.out, published=objects.published, bodies=objects.bodies)
    try:
        outcome.result = asyncio.run(pipeline.run("j-" + "0" * 24, request, preset, jobdir, 1))
    except FfapiError as exc:
        outcome.error = exc
    outcome.transcodes = tool.transcodes
    return outcome


def run_job(
    source: Path, tmp_path: Path, preset: OutputPreset = WEB, media: MediaLimits | None = None
) -> tuple[FfapiError | None, int]:
    """One attempt of the real pipeline on ``source``: (its failure or None, transcodes)."""
    outcome = run_local(source, tmp_path, preset, media)
    return outcome.error, outcome.transcodes
