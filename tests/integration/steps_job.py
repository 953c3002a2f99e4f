"""A steps job through the worker's real pipeline on local files, without AWS.

The input 'bucket' maps keys to local files (the input and each object its steps name);
what is published is kept by key; the job's files stay in ``tmp_path / "job" / "out"``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.attempt.limits import PipelineLimits
from core.errors import FfapiError, InputNotFound
from core.events.progress import ProgressUpdate
from core.jobs.results import JobResult, resolve_preset
from core.media.preflight import MediaLimits
from core.models import JobRequest, S3ObjectRef
from core.ports import ObjectInfo
from core.presets import PresetCatalog, builtin_catalog
from tests.integration.local_job import CountingMedia, LocalObjects, job_dir, local_pipeline

INPUT_KEY = "library/talk.mp4"


class KeyedObjects(LocalObjects):
    """Objects by key: the input and the files the steps name."""

    def __init__(self, files: dict[str, Path]) -> None:
        super().__init__(files[INPUT_KEY])
        self.files = files

    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        path = self.files.get(ref.key)
        if path is None:
            raise InputNotFound("the object does not exist")
        return ObjectInfo(size=path.stat().st_size, etag="e", version_id=None)

    async def download(self, ref: S3ObjectRef, dest: Path) -> None:
        shutil.copyfile(self.files[ref.key], dest)


@dataclass
class StepsOutcome:
    error: FfapiError | None
    transcodes: int
    out: Path
    result: JobResult | None = None
    published: dict[str, int] = field(default_factory=dict)
    progress: list[ProgressUpdate] = field(default_factory=list)

    def heard(self, update: object) -> None:
        """The attempt's reports: its progress kept (a steps job is never progressive)."""
        if isinstance(update, ProgressUpdate):
            self.progress.append(update)

    def step(self, name: str) -> Any:
        assert self.result is not None, self.error
        return next(s for s in self.result.steps if s.name == name)

    def files(self, name: str) -> list[Any]:
        """The result's outputs that the step ``name`` made."""
        assert self.result is not None, self.error
        return [o for o in self.result.outputs if o.step == name]


def run_steps(
    source: Path,
    tmp_path: Path,
    steps: Sequence[Mapping[str, object]],
    attached: dict[str, Path] | None = None,
    media: MediaLimits | None = None,
    catalog: PresetCatalog | None = None,
) -> StepsOutcome:
    """One attempt of the real pipeline running ``steps`` (request version 2) on ``source``;
    ``catalog``: the presets its encodes name (the shipped ones by default)."""
    request = JobRequest.model_validate(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": INPUT_KEY},
            "steps": steps,
            "output": {"bucket": "ffapi-output", "prefix": "outputs"},
        }
    )
    preset = resolve_preset(catalog or builtin_catalog(), request)
    tool = CountingMedia()
    objects = KeyedObjects({INPUT_KEY: source, **(attached or {})})
    limits = PipelineLimits(300.0, media or MediaLimits(), progress_interval=0.0, progress_step=0.0)
    pipeline = local_pipeline(objects, tool, limits)
    jobdir = job_dir(tmp_path)
    outcome = StepsOutcome(None, 0, jobdir.out, published=objects.published)
    try:
        outcome.result = asyncio.run(
            pipeline.run("j-" + "1" * 24, request, preset, jobdir, 1, outcome.heard)
        )
    except FfapiError as exc:
        outcome.error = exc
    outcome.transcodes = tool.transcodes
    return outcome


def make(tmp_path: Path, name: str, *args: str) -> Path:
    """A fixture file made by the plain ffmpeg (what an uploader could send)."""
    dest = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args, str(dest)],
        check=True,
    )
    return dest


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-count_frames",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    doc: dict[str, Any] = json.loads(out)
    return doc


def frame_rgb(path: Path, at: float, width: int, height: int) -> bytes:
    """One decoded frame at ``at`` seconds as packed RGB."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{at}", "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout[: width * height * 3]  # fmt: skip
