"""One job attempt, start to finish: download, probe, plan, transcode, verify, publish.

Publishing order is the commit protocol: media first, then ``probe.json``, then ``job.json``
last, so a reader that sees ``job.json`` sees every file it lists.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from core.errors import InputTooLarge, InvalidMedia, TranscodeFailed
from core.jobs import JobResult, OutputFile, SourceInfo, output_key
from core.models import JobRequest, OutputLocation
from core.plan import CONTENT_TYPES, OUTPUT_FORMATS, SOURCE_FORMATS, TranscodePlan, plan_mp4
from core.ports import JobDir, MediaTool, ObjectStore
from core.presets import get_preset
from core.probe import ProbeResult, parse_probe, public_probe


@dataclass(frozen=True, slots=True)
class PipelineLimits:
    max_input_bytes: int
    transcode_timeout: float


class PhaseTimer:
    """Wall-clock seconds per phase, in the order the phases ran."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = self._clock()
        try:
            yield
        finally:
            self.timings[name] = round(self._clock() - start, 3)


class JobPipeline:
    def __init__(
        self,
        objects: ObjectStore,
        media: MediaTool,
        limits: PipelineLimits,
        now: Callable[[], datetime],
    ) -> None:
        self._objects = objects
        self._media = media
        self._limits = limits
        self._now = now

    async def run(
        self, job_id: str, request: JobRequest, jobdir: JobDir, attempt: int
    ) -> JobResult:
        started_at, timer, out = self._now(), PhaseTimer(), request.output
        assert out is not None, "intake fills in the output location"
        size = request.input.size
        if size is not None and size > self._limits.max_input_bytes:
            raise InputTooLarge(
                f"input is {size} bytes; the limit is {self._limits.max_input_bytes}"
            )
        with timer.phase("download"):
            await self._objects.download(request.input, jobdir.source)
        with timer.phase("probe"):
            probe_doc = await self._media.probe(jobdir.source, SOURCE_FORMATS)
            probe = parse_probe(probe_doc)
        plan = plan_mp4(get_preset(request.preset), probe, PurePosixPath(jobdir.source),
                        PurePosixPath(jobdir.out))  # fmt: skip
        with timer.phase("transcode"):
            await self._media.transcode(plan.argv, jobdir.root, self._limits.transcode_timeout)
        with timer.phase("verify"):
            outputs = await self._verify(plan, jobdir, out, job_id)
        with timer.phase("upload"):
            for planned, item in zip(plan.outputs, outputs, strict=True):
                await self._objects.upload_file(
                    jobdir.out / planned.name, out.bucket, item.key, item.content_type
                )
            outputs.append(
                await self._put_json(public_probe(probe_doc), out, job_id, "probe.json", "probe")
            )
        result = JobResult(
            job_id=job_id, input=request.input, preset=request.preset, output=out,
            source=_source_info(probe), outputs=outputs, encoder=plan.encoder,
            timings=timer.timings, attempt=attempt, started_at=started_at,
            completed_at=self._now(), correlation_id=request.correlation_id,
            metadata=request.metadata,
        )  # fmt: skip
        # job.json goes last: it is the commit marker, and it lists what came before it.
        await self._put_json(result.model_dump(mode="json"), out, job_id, "job.json", "result")
        return result

    async def _verify(
        self, plan: TranscodePlan, jobdir: JobDir, out: OutputLocation, job_id: str
    ) -> list[OutputFile]:
        """Probe every output before anything is published: each must open as what it claims
        to be (ffprobe reads headers; it does not decode), and its size and duration go into
        the result."""
        files = []
        for planned in plan.outputs:
            try:
                doc = await self._media.probe(jobdir.out / planned.name, OUTPUT_FORMATS)
                info = parse_probe(doc, still=planned.role == "poster")
            except InvalidMedia as exc:  # our output, not the user's input, is at fault
                raise TranscodeFailed(f"{planned.name} is unreadable: {exc.message}") from exc
            if planned.role == "video" and info.duration <= 0:
                raise TranscodeFailed(f"{planned.name} has no duration")
            files.append(OutputFile(
                key=output_key(out, job_id, planned.name), role=planned.role,
                content_type=planned.content_type, size=info.size or 0,
                duration=info.duration if planned.role == "video" else None,
                width=info.video.width if info.video else None,
                height=info.video.height if info.video else None,
            ))  # fmt: skip
        return files

    async def _put_json(
        self, doc: object, out: OutputLocation, job_id: str, name: str, role: str
    ) -> OutputFile:
        key = output_key(out, job_id, name)
        body = json.dumps(doc, indent=2, sort_keys=True).encode()
        size = await self._objects.put_bytes(body, out.bucket, key, CONTENT_TYPES[".json"])
        return OutputFile(key=key, role=role, content_type=CONTENT_TYPES[".json"], size=size)


def _source_info(probe: ProbeResult) -> SourceInfo:
    video, audio = probe.video, probe.audio
    return SourceInfo(
        format=probe.format_name, duration=probe.duration, size=probe.size,
        width=video.width if video else None, height=video.height if video else None,
        video_codec=video.codec if video else None, audio_codec=audio.codec if audio else None,
    )  # fmt: skip
