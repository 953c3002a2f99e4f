"""The loudness step's measuring pass: the sound as the steps before it leave it, read by
``loudnorm`` (no picture decoded, nothing written), its figures taken from the log."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.chain_pass import refuse
from core.hardening import InputGuard, ResourceLimits
from core.loudness import LoudnessMeasure, measure_filter, parse_loudnorm
from core.ports import MediaTool
from core.presets import StepsPreset
from core.probe import ProbeResult
from core.progress import EncodeProgress
from core.stage import Attached
from core.steps import Loudness
from core.transforms import TransformStep, compile_transforms

# info: loudnorm prints its figures at that level; -nostats: no progress lines among them
MEASURE_FLAGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "info")
# Decoding and measuring the sound alone, against the main pass's decode and encodes.
MEASURE_COST = 0.1


@dataclass(frozen=True, slots=True)
class MeasurePass:
    index: int  # the loudness step's, in the steps
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
    """The measuring pass of the job's loudness step (None: it has none)."""
    found = [(i, s) for i, s in enumerate(preset.steps) if isinstance(s, Loudness)]
    if not found:
        return None
    index, step = found[0]
    before = [s for s in preset.steps[:index] if isinstance(s, TransformStep)]
    chain = compile_transforms(before, probe, source, attached, guard, sound_only=True)
    if chain.audio is None:
        refuse(f"steps[{index}] (loudness): the input has no sound to measure")
    graph = ";".join([*chain.graph, f"{chain.audio}{measure_filter(step)}[loud]"])
    argv = ("ffmpeg", *MEASURE_FLAGS, *chain.inputs, "-filter_complex", graph,
            "-map", "[loud]", "-f", "null", "-")  # fmt: skip
    return MeasurePass(index, step, argv, chain.shape.duration)


async def run_measure(
    media: MediaTool, plan: MeasurePass, cwd: Path, timeout: float,
    progress: Callable[[EncodeProgress], None] | None, limits: ResourceLimits,
) -> LoudnessMeasure:  # fmt: skip
    log = await media.measure(plan.argv, cwd, timeout, progress, limits)
    return parse_loudnorm(log)
