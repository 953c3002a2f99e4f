"""Loudness measuring passes: ``loudnorm`` reads the sound alone (no picture decoded,
nothing written) and its figures are taken from the log. A steps job's loudness step
measures the sound as the steps before it leave it; a streaming preset's loudness target,
the source's first sound, as its ladder's audio chain takes it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.chain_pass import refuse
from core.hardening import InputGuard, ResourceLimits
from core.loudness import (
    LoudnessMeasure,
    LoudnessReport,
    loudness_report,
    measure_filter,
    normalize,
    parse_loudnorm,
)
from core.plan import LOGGED_FLAGS
from core.ports import MediaTool
from core.presets import LoudnessTarget, StepsPreset, StreamingPreset
from core.probe import AudioStream, ProbeResult
from core.progress import EncodeProgress
from core.stage import Attached
from core.step_outputs import Encode
from core.steps import Loudness
from core.transforms import TransformStep, compile_transforms

# Decoding and measuring the sound alone, against the main pass's decode and encodes.
MEASURE_COST = 0.1


@dataclass(frozen=True, slots=True)
class MeasurePass:
    index: int  # the loudness step's, in the steps (0: a preset's target)
    step: Loudness
    argv: tuple[str, ...]
    duration: float  # seconds of sound it reads

    @property
    def weight(self) -> float:
        return max(self.duration, 1.0) * MEASURE_COST


def plan_measure(
    preset: StepsPreset, probe: ProbeResult, source: PurePosixPath,
    attached: Mapping[str, Attached], guard: InputGuard,
) -> MeasurePass | None:  # fmt: skip
    """The measuring pass of the job's loudness step, else of its ladders' loudness target,
    on the sound every transform has made (None: nothing to measure)."""
    found = [(i, s) for i, s in enumerate(preset.steps) if isinstance(s, Loudness)]
    ladders = ladder_loudness(preset)
    if not found and not ladders:
        return None
    index, step = found[0] if found else ladders[0]
    if len({target for _, target in ladders}) > 1:
        other = next(i for i, target in ladders if target != step)
        refuse(f"steps[{other}].preset: its loudness target is not steps[{index}]'s; a job "
               "has one sound to measure")  # fmt: skip
    before = [s for s in preset.steps[:index] if isinstance(s, TransformStep)]
    chain = compile_transforms(before, probe, source, attached, guard, sound_only=True)
    if chain.audio is None and not found:
        return None  # a ladder's target, and no sound: nothing to normalize
    if chain.audio is None:
        refuse(f"steps[{index}] (loudness): the input has no sound to measure")
    graph = ";".join([*chain.graph, f"{chain.audio}{measure_filter(step)}[loud]"])
    argv = ("ffmpeg", *LOGGED_FLAGS, *chain.inputs, "-filter_complex", graph,
            "-map", "[loud]", "-f", "null", "-")  # fmt: skip
    return MeasurePass(index, step, argv, chain.shape.duration)


def job_loudness(preset: StepsPreset) -> list[Loudness]:
    """The job's loudness steps (one at most: steps_problem)."""
    return [s for s in preset.steps if isinstance(s, Loudness)]


def ladder_loudness(preset: StepsPreset) -> list[tuple[int, Loudness]]:
    """The loudness targets of the ladders the job encodes, by encode step, where no
    loudness step sets the job's sound."""
    if job_loudness(preset):
        return []
    found = []
    for i, step in enumerate(preset.steps):
        spec = preset.encodes.get(step.preset) if isinstance(step, Encode) else None
        if isinstance(spec, StreamingPreset) and spec.loudness is not None:
            found.append((i, spec.loudness.step()))
    return found


async def run_measure(
    media: MediaTool, plan: MeasurePass, cwd: Path, timeout: float,
    progress: Callable[[EncodeProgress], None] | None, limits: ResourceLimits,
) -> LoudnessMeasure:  # fmt: skip
    log = await media.measure(plan.argv, cwd, timeout, progress, limits)
    return parse_loudnorm(log)


@dataclass(frozen=True, slots=True)
class SourceLoudness:
    """A streaming preset's target and what the source measured."""

    step: Loudness
    measured: LoudnessMeasure

    @property
    def filters(self) -> tuple[str, ...]:
        return tuple(normalize(self.step, self.measured))

    def report(self, log: str) -> LoudnessReport:
        """``log``: the ladder pass's, where the normalizer printed its figures."""
        made = parse_loudnorm(log) if self.filters else None
        return loudness_report(self.step, self.measured, made)


async def measure_source(
    media: MediaTool, target: LoudnessTarget | None, probe: ProbeResult, source: PurePosixPath,
    cwd: Path, guard: InputGuard, timeout: float, limits: ResourceLimits,
    track: AudioStream | None = None,
) -> SourceLoudness | None:  # fmt: skip
    """``track`` (default: the source's first sound) measured for a preset's ``target``
    (None: no target, or no sound to normalize)."""
    sound = track or probe.audio
    if target is None or sound is None:
        return None
    step = target.step()
    graph = f"[0:{sound.index}]aresample=48000,{measure_filter(step)}[loud]"
    argv = ("ffmpeg", *LOGGED_FLAGS, *guard.flags(guard.demuxer(probe.format_name)),
            "-i", f"file:{source}", "-filter_complex", graph,
            "-map", "[loud]", "-f", "null", "-")  # fmt: skip
    measuring = MeasurePass(0, step, argv, probe.duration)
    return SourceLoudness(step, await run_measure(media, measuring, cwd, timeout, None, limits))
