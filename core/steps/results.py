"""What a steps job made, step by step: the files to publish and the result that lists them.

Each output step's files are under its folder; ``scenes`` and ``quality`` write their
reports there as JSON (``scenes.json``, ``quality.json``) beside their pictures. Every file
is listed with the step that made it: the packages and MP4s as checked, the files the main
pass wrote as read back (:mod:`core.steps.files`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.attempt.upload import Upload
from core.jobs.results import OutputFile, Produced, StepResult
from core.media.fallback import TierRun
from core.models import OutputLocation
from core.ports import JobDir, LocalFiles, MediaTool
from core.steps.compile import StepTarget
from core.steps.files import StepFiles, writes_in_main_pass
from core.steps.outputs import Encode, Quality
from core.steps.run import StepsRun
from core.streaming.package_result import package_fields
from core.streaming.packaging import Package


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
        self._files = StepFiles(media, files)

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
            return base.model_copy(update={"preset": preset}), outputs, _uploads(outputs, job_id)
        if writes_in_main_pass(target):  # read back while the packages were checked
            shape = run.plan.chain.shape
            read = run.written.get(target.index) or await self._files.read(
                target, shape, jobdir, out, job_id
            )
            return read.result, read.outputs, _uploads(read.outputs, job_id)
        if isinstance(step, Quality) and run.quality is not None:
            await self._files.write_json(jobdir, f"{folder}/quality.json", run.quality.model_dump())
            base = base.model_copy(update={"quality": run.quality})
        outputs = await self._files.listed(target, jobdir, out, job_id, run.plan.chain.shape)
        return base, outputs, _uploads(outputs, job_id)


def _uploads(outputs: list[OutputFile], job_id: str) -> list[Upload]:
    return [Upload(o.key.rsplit(f"{job_id}/", 1)[1], 0) for o in outputs]


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
