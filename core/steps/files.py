"""Reading back the files a step writes itself in the main pass: frames, a preview, scenes
and their pictures, a keyframe trim's clip, an audio step's sound.

They are final the moment the main pass ends, so :mod:`core.steps.run` reads them (and
sends them ahead) while the streaming packages are still being finished and checked. A
step's pictures share their size: one of them is read back, so the result states it.
``scenes.json`` is written here, from the pass's scan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.attempt.upload import headers_for
from core.errors import InvalidMedia, TranscodeFailed
from core.jobs.results import OutputFile, StepResult, output_key
from core.media.hardening import InputGuard
from core.media.probe import parse_probe
from core.models import OutputLocation
from core.ports import JobDir, LocalFiles, MediaTool
from core.steps.audio_branch import audio_name
from core.steps.branches import even_height
from core.steps.compile import SCAN_DIR, StepTarget
from core.steps.model import Trim
from core.steps.outputs import Audio, Encode, Frames, Preview, Quality, Scenes
from core.steps.scenes import parse_scenes
from core.steps.stage import Shape

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
class StepFilesRead:
    """One step's result (its scenes, when it has them) and the files it wrote."""

    result: StepResult
    outputs: list[OutputFile]

    def paths(self, job_id: str) -> list[str]:
        """Each file's path under the job's output directory (and prefix)."""
        return [o.key.rsplit(f"{job_id}/", 1)[1] for o in self.outputs]


def writes_in_main_pass(target: StepTarget) -> bool:
    """An output step whose files the main pass writes as they are: not an encode (its
    package or MP4 is checked first), not the quality step (a pass of its own)."""
    return not isinstance(target.step, Encode | Quality)


class StepFiles:
    def __init__(self, media: MediaTool, files: LocalFiles) -> None:
        self._media = media
        self._files = files

    async def read(
        self, target: StepTarget, shape: Shape, jobdir: JobDir, out: OutputLocation, job_id: str
    ) -> StepFilesRead:
        """``shape``: the picture the steps made (its length bounds the scenes)."""
        step = target.step
        base = StepResult(step=target.index, op=step.op, name=target.folder)
        if isinstance(step, Trim):
            return StepFilesRead(base, await self._clip(target, jobdir, out, job_id))
        if isinstance(step, Audio):
            return StepFilesRead(base, await self._sound(target, jobdir, out, job_id))
        if isinstance(step, Scenes):
            scan = await self._files.read_text(jobdir.root / SCAN_DIR / f"{target.folder}.txt")
            scenes = parse_scenes(scan, shape.duration, step.threshold, step.thumbnails)
            await self.write_json(jobdir, f"{target.folder}/scenes.json", scenes.model_dump())
            # the event names the first scenes (and their count); scenes.json has them all
            named = scenes.model_copy(update={"scenes": scenes.scenes[:EVENT_SCENES]})
            base = base.model_copy(update={"scenes": named})
        return StepFilesRead(base, await self.listed(target, jobdir, out, job_id, shape))

    async def listed(
        self, target: StepTarget, jobdir: JobDir, out: OutputLocation, job_id: str,
        shape: Shape,
    ) -> list[OutputFile]:  # fmt: skip
        """Every file in the step's folder, pictures with their size (and frames their
        time), reports as themselves."""
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

    async def write_json(self, jobdir: JobDir, path: str, doc: object) -> None:
        text = json.dumps(doc, indent=2, sort_keys=True)
        await self._files.write_text(jobdir.out / path, text)

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
