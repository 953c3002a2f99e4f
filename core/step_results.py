"""What a steps job made, step by step: the files to publish and the result that lists them.

Each output step's files are under its folder; ``scenes`` and ``quality`` write their
reports there as JSON (``scenes.json``, ``quality.json``) beside their pictures. Every file
is listed with the step that made it; pictures are read back (one per step: a step's
pictures share their size) so the result states their size.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from core.audio_branch import audio_name
from core.compile import SCAN_DIR, StepTarget
from core.errors import InvalidMedia, TranscodeFailed
from core.fallback import TierRun
from core.hardening import InputGuard
from core.jobs import OutputFile, Produced, StepResult, output_key
from core.models import OutputLocation
from core.package_result import package_fields
from core.packaging import Package
from core.ports import JobDir, LocalFiles, MediaTool
from core.probe import parse_probe
from core.scenes import parse_scenes
from core.stage import Shape
from core.step_branches import even_height
from core.step_outputs import Audio, Encode, Frames, Preview, Quality, Scenes
from core.steps import Trim
from core.steps_run import StepsRun
from core.upload import Upload, headers_for

EVENT_SCENES = 100  # scenes an event names; scenes.json lists every one
_CLIPS = InputGuard(formats=("mov", "matroska"), codecs=None, max_pixels=None, max_streams=None)
_PICTURE_ROLES = {"frames": "frame", "preview": "preview", "scenes": "scene"}
# Our own sound files, read back: the muxers the audio step writes with (headers only).
_SOUNDS = InputGuard(
    formats=("mov", "mp3", "ogg", "flac", "wav"), codecs=None, max_pixels=None, max_streams=None
)
# Our own pictures, read back: the formats the steps write (no decoding: headers only).
_PICTURES = InputGuard(
    formats=("image2", "jpeg_pipe", "png_pipe", "webp_pipe", "gif"), codecs=None,
    max_pixels=None, max_streams=None,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StepsOutcome:
    steps: list[StepResult]
    outputs: list[OutputFile]  # every file the result lists, each with its step
    uploads: list[Upload]  # every file, by publishing tier, relative to the output directory

    def produced(self, run: TierRun[StepsRun]) -> Produced:
        """What a steps job's result holds of its outputs."""
        outputs = self.outputs
        encoders = [o.encoder for o in outputs if o.encoder]
        playback = next((s.playback for s in self.steps if s.playback), {})
        return Produced(
            outputs=outputs, steps=self.steps, playback=playback,
            encoder=encoders[0] if encoders else "none", notes=list(run.result.plan.notes),
        )  # fmt: skip


class StepResults:
    def __init__(self, media: MediaTool, files: LocalFiles) -> None:
        self._media = media
        self._files = files

    async def collect(
        self, run: StepsRun, jobdir: JobDir, out: OutputLocation, job_id: str, tier: str
    ) -> StepsOutcome:
        steps, outputs, uploads = [], [], []
        # each output read back at once: they are files apart, and each waits on ffprobe
        found = await asyncio.gather(
            *(self._one(run, target, jobdir, out, job_id) for target in run.plan.targets)
        )
        for target, (result, listed, files) in zip(run.plan.targets, found, strict=True):
            # the quality pass decodes on the CPU whatever tier made what it compares
            ran = "cpu" if isinstance(target.step, Quality) else tier
            steps.append(result.model_copy(update={"tier": ran, "files": len(files)}))
            outputs += listed
            uploads += files
        return StepsOutcome(_with_loudness(run, steps), outputs, uploads)

    async def _one(
        self, run: StepsRun, target: StepTarget, jobdir: JobDir, out: OutputLocation,
        job_id: str,
    ) -> tuple[StepResult, list[OutputFile], list[Upload]]:  # fmt: skip
        step, folder = target.step, target.folder
        base = StepResult(step=target.index, op=step.op, name=folder)
        if target.index in run.packages:
            return _package(base, run.packages[target.index], target, out, job_id)
        if target.index in run.mp4s:
            outputs = [o.model_copy(update={"step": folder}) for o in run.mp4s[target.index]]
            preset = step.preset if isinstance(step, Encode) else None
            uploads = [Upload(o.key.rsplit(f"{job_id}/", 1)[1], 0) for o in outputs]
            return base.model_copy(update={"preset": preset}), outputs, uploads
        if isinstance(step, Trim | Audio):
            read = self._clip if isinstance(step, Trim) else self._sound
            outputs = await read(target, jobdir, out, job_id)
            uploads = [Upload(o.key.rsplit(f"{job_id}/", 1)[1], 0) for o in outputs]
            return base, outputs, uploads
        extra: dict[str, Any] = {}
        if isinstance(step, Scenes):
            scan = await self._files.read_text(jobdir.root / SCAN_DIR / f"{folder}.txt")
            scenes = parse_scenes(scan, run.plan.chain.shape.duration, step.threshold,
                                  step.thumbnails)  # fmt: skip
            await self._write_json(jobdir, f"{folder}/scenes.json", scenes.model_dump())
            # the event names the first scenes (and their count); scenes.json has them all
            extra["scenes"] = scenes.model_copy(update={"scenes": scenes.scenes[:EVENT_SCENES]})
        if isinstance(step, Quality) and run.quality is not None:
            extra["quality"] = run.quality
            await self._write_json(jobdir, f"{folder}/quality.json", run.quality.model_dump())
        outputs = await self._listed(target, jobdir, out, job_id, run.plan.chain.shape)
        uploads = [Upload(o.key.rsplit(f"{job_id}/", 1)[1], 0) for o in outputs]
        return base.model_copy(update=extra), outputs, uploads

    async def _listed(
        self, target: StepTarget, jobdir: JobDir, out: OutputLocation, job_id: str,
        shape: Shape,
    ) -> list[OutputFile]:  # fmt: skip
        folder = target.folder
        sizes = await self._files.sizes(jobdir.out / folder)
        names = sorted(sizes)
        if isinstance(target.step, Frames | Preview) and not names:
            raise TranscodeFailed(f"{target.where} ({target.step.op}) wrote nothing")
        facts = await self._picture_size(jobdir, folder, names)
        if isinstance(target.step, Preview):
            # its size is the plan's: ffprobe 5.1 cannot read an animated WebP's frames
            facts = (target.step.width, even_height(target.step.width, shape))
        times = target.times if isinstance(target.step, Frames) else ()
        outputs = []
        for n, name in enumerate(names):
            path = f"{folder}/{name}"
            is_json = name.endswith(".json")
            outputs.append(OutputFile(
                key=output_key(out, job_id, path), step=folder,
                role=target.step.op if is_json else _PICTURE_ROLES.get(target.step.op, "file"),
                content_type=headers_for(path)[0], size=sizes[name],
                width=None if is_json else facts[0], height=None if is_json else facts[1],
                time=times[n] if n < len(times) else None,
            ))  # fmt: skip
        return outputs

    async def _clip(
        self, target: StepTarget, jobdir: JobDir, out: OutputLocation, job_id: str
    ) -> list[OutputFile]:
        """The keyframe trim's stream copy, read back (a copy of nothing is no clip)."""
        sizes = await self._files.sizes(jobdir.out / target.folder)
        found = []
        for name in sorted(sizes):
            path = f"{target.folder}/{name}"
            try:
                info = parse_probe(await self._media.probe(jobdir.out / path, _CLIPS))
            except InvalidMedia as exc:
                raise TranscodeFailed(f"{path} is unreadable: {exc.message}") from exc
            if info.duration <= 0:
                raise InvalidMedia(f"{target.where} (trim): the cut holds no media")
            video = info.video
            found.append(OutputFile(
                key=output_key(out, job_id, path), role="clip", step=target.folder,
                content_type=headers_for(path)[0], size=sizes[name], duration=info.duration,
                width=video.width if video else None, height=video.height if video else None,
            ))  # fmt: skip
        return found

    async def _sound(
        self, target: StepTarget, jobdir: JobDir, out: OutputLocation, job_id: str
    ) -> list[OutputFile]:
        """The audio step's file, read back: it must open as the sound it claims to be."""
        assert isinstance(target.step, Audio)
        path = f"{target.folder}/{audio_name(target.step)}"
        sizes = await self._files.sizes(jobdir.out / target.folder)
        try:
            info = parse_probe(await self._media.probe(jobdir.out / path, _SOUNDS))
        except InvalidMedia as exc:
            raise TranscodeFailed(f"{path} is unreadable: {exc.message}") from exc
        if info.audio is None or info.duration <= 0:
            raise TranscodeFailed(f"{path} holds no sound")
        return [OutputFile(
            key=output_key(out, job_id, path), role="audio", step=target.folder,
            content_type=headers_for(path)[0], size=sizes[audio_name(target.step)],
            duration=info.duration,
        )]  # fmt: skip

    async def _picture_size(
        self, jobdir: JobDir, folder: str, names: list[str]
    ) -> tuple[int | None, int | None]:
        pictures = [n for n in names if not n.endswith((".json", ".gif", ".webp"))]
        if not pictures:
            return None, None
        doc = await self._media.probe(jobdir.out / folder / pictures[0], _PICTURES)
        video = parse_probe(doc, still=True).video
        return (video.width, video.height) if video else (None, None)

    async def _write_json(self, jobdir: JobDir, path: str, doc: object) -> None:
        text = json.dumps(doc, indent=2, sort_keys=True)
        await self._files.write_text(jobdir.out / path, text)


def _with_loudness(run: StepsRun, steps: list[StepResult]) -> list[StepResult]:
    """The loudness report on the encodes whose presets asked for it, or as the loudness
    step's own result (a transform: figures, no files), before the outputs'."""
    if run.loudness is None:
        return steps
    indexes, report = run.loudness
    if any(s.step in indexes for s in steps):
        return [s.model_copy(update={"loudness": report}) if s.step in indexes else s
                for s in steps]  # fmt: skip
    own = StepResult(step=indexes[0], op="loudness", name="loudness", tier="cpu",
                     loudness=report)  # fmt: skip
    return [own, *steps]


def _package(
    base: StepResult, package: Package, target: StepTarget, out: OutputLocation, job_id: str
) -> tuple[StepResult, list[OutputFile], list[Upload]]:
    """A streaming package's files under its step's folder, as a plain job lists them."""
    fields = package_fields(package, out, job_id, target.folder)
    result = base.model_copy(update={
        "preset": target.step.preset if isinstance(target.step, Encode) else None,
        "renditions": fields.renditions, "playback": fields.playback, "qc": package.qc,
        "ladder": fields.ladder,
    })  # fmt: skip
    uploads = [Upload(f"{target.folder}/{u.path}", u.tier) for u in package.files]
    return result, fields.outputs, uploads
