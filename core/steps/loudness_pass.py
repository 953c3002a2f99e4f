"""Loudness measuring passes: ``loudnorm`` reads the sound alone (no picture decoded,
nothing written) and its figures are taken from the log. A steps job's loudness step
measures the sound as the steps before it leave it; a streaming preset's loudness target,
every audio track its ladder keeps, each as its ladder's audio chain takes it (one pass,
a named ``loudnorm`` per track: each track is normalized to the target alone)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import TranscodeFailed
from core.events.progress import EncodeProgress
from core.media.hardening import InputGuard, ResourceLimits
from core.media.plan import LOGGED_FLAGS
from core.media.probe import AudioStream, ProbeResult
from core.ports import MediaTool
from core.presets import LoudnessTarget, StepsPreset, StreamingPreset
from core.steps.chain_pass import refuse
from core.steps.loudness import (
    STEP_INSTANCE,
    LoudnessMeasure,
    LoudnessReport,
    measure_filter,
    normalize,
    parse_named,
    track_instance,
    tracks_report,
)
from core.steps.model import Loudness
from core.steps.outputs import Encode
from core.steps.stage import Attached, branch_tag
from core.steps.tracks import wanted_tracks
from core.steps.transforms import TransformStep, compile_transforms

# Decoding and measuring the sound alone, against the main pass's decode and encodes.
MEASURE_COST = 0.1


@dataclass(frozen=True, slots=True)
class MeasurePass:
    index: int  # the loudness step's, in the steps (0: a preset's target)
    step: Loudness
    argv: tuple[str, ...]
    duration: float  # seconds of sound it reads
    tracks: tuple[int, ...]  # the audio tracks it measures, by number (the first first)

    @property
    def weight(self) -> float:
        return max(self.duration, 1.0) * MEASURE_COST


def plan_measure(
    preset: StepsPreset,
    probe: ProbeResult,
    source: PurePosixPath,
    attached: Mapping[str, Attached],
    guard: InputGuard,
) -> MeasurePass | None:
    """The measuring pass of the job's loudness step, else of its ladders' loudness target,
    on the sound every transform has made (None: nothing to measure)."""
    found = [(i, s) for i, s in enumerate(preset.steps) if isinstance(s, Loudness)]
    ladders = ladder_loudness(preset)
    if not found and not ladders:
        return None
    index, step = found[0] if found else ladders[0]
    if len({target for _, target in ladders}) > 1:
        other = next(i for i, target in ladders if target != step)
        refuse(
            f"steps[{other}].preset: its loudness target is not steps[{index}]'s; a job "
            "has one sound to measure"
        )
    before = [s for s in preset.steps[:index] if isinstance(s, TransformStep)]
    # a ladder's target: every track the ladders keep (a loudness step makes one sound)
    carried = () if found else wanted_tracks(preset, probe)
    chain = compile_transforms(
        before, probe, source, attached, guard, sound_only=True, tracks=carried
    )
    if chain.audio is None and not found:
        return None  # a ladder's target, and no sound: nothing to normalize
    if chain.audio is None:
        refuse(f"steps[{index}] (loudness): the input has no sound to measure")
    sounds = [(sound_track(probe), chain.audio), *((t.track, label) for t, label in chain.tracks)]
    return _measuring(index, step, chain.inputs, chain.graph, sounds, chain.shape.duration)


def sound_track(probe: ProbeResult) -> int:
    """The number the chain's one sound is measured under: the input's first track's."""
    return probe.audio.track if probe.audio is not None else 0


def _measuring(
    index: int,
    step: Loudness,
    inputs: Sequence[str],
    graph: Sequence[str],
    sounds: Sequence[tuple[int, str]],
    duration: float,
) -> MeasurePass:
    """``sounds``: each track's number and graph label, measured by a loudnorm of its own."""
    measures = [f"{label}{measure_filter(step, track_instance(n))}[loud{n}]" for n, label in sounds]
    maps = [a for n, _ in sounds for a in ("-map", f"[loud{n}]")]
    argv = ("ffmpeg", *LOGGED_FLAGS, *inputs, "-filter_complex", ";".join([*graph, *measures]),
            *maps, "-f", "null", "-")  # fmt: skip
    return MeasurePass(index, step, argv, duration, tuple(n for n, _ in sounds))


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
    media: MediaTool,
    plan: MeasurePass,
    cwd: Path,
    timeout: float,
    progress: Callable[[EncodeProgress], None] | None,
    limits: ResourceLimits,
) -> dict[int, LoudnessMeasure]:
    """Each measured track's figures, by track number."""
    log = await media.measure(plan.argv, cwd, timeout, progress, limits)
    return by_track(parse_named(log), plan.tracks)


def by_track(
    named: Mapping[str, LoudnessMeasure], tracks: Sequence[int], tag: str = ""
) -> dict[int, LoudnessMeasure]:
    """The figures of ``tracks`` among a log's named loudnorm instances (``tag``: their
    ladder's); every one must be there."""
    found = {t: named[track_instance(t, tag)] for t in tracks if track_instance(t, tag) in named}
    if len(found) < len(tracks):
        raise TranscodeFailed("the loudness measuring pass printed no figures")
    return found


@dataclass(frozen=True, slots=True)
class SourceLoudness:
    """A streaming preset's target and what each track its ladder keeps measured."""

    step: Loudness
    measured: Mapping[int, LoudnessMeasure]  # by track number, the first first
    languages: Mapping[int, str | None]

    @property
    def filters(self) -> dict[int, tuple[str, ...]]:
        """Each track's normalizer (none: its sound stays as it is)."""
        return {
            t: tuple(normalize(self.step, m, track_instance(t))) for t, m in self.measured.items()
        }

    @property
    def logged(self) -> bool:
        return any(self.filters.values())

    def report(self, log: str) -> LoudnessReport:
        """``log``: the ladder pass's, where each normalizer printed its figures."""
        named = parse_named(log)
        made = {t: named[track_instance(t)] for t in self.measured if track_instance(t) in named}
        return tracks_report(self.step, self.measured, made, self.languages)


async def measure_source(
    media: MediaTool,
    target: LoudnessTarget | None,
    probe: ProbeResult,
    source: PurePosixPath,
    cwd: Path,
    guard: InputGuard,
    timeout: float,
    limits: ResourceLimits,
    tracks: Sequence[AudioStream] = (),
) -> SourceLoudness | None:
    """``tracks`` (default: the source's first sound), each measured for a preset's
    ``target`` in one pass (None: no target, or no sound to normalize)."""
    sounds = tuple(tracks) or ((probe.audio,) if probe.audio else ())
    if target is None or not sounds:
        return None
    step = target.step()
    inputs = (*guard.flags(guard.demuxer(probe.format_name)), "-i", f"file:{source}")
    labels = [(t.track, f"[r{t.track}]") for t in sounds]
    resampled = [f"[0:{t.index}]aresample=48000[r{t.track}]" for t in sounds]
    measuring = _measuring(0, step, inputs, resampled, labels, probe.duration)
    measured = await run_measure(media, measuring, cwd, timeout, None, limits)
    return SourceLoudness(step, measured, {t.track: t.language for t in sounds})


def steps_report(
    preset: StepsPreset,
    measuring: MeasurePass,
    measured: Mapping[int, LoudnessMeasure],
    named: Mapping[str, LoudnessMeasure],
    probe: ProbeResult,
) -> tuple[tuple[int, ...], LoudnessReport]:
    """A steps job's loudness report, and the steps it belongs to: the loudness step, or
    each ladder's encode that asked for the target. ``named``: the main pass's normalizers'
    figures (what each made and how); a track's are its first ladder's."""
    ladders = tuple(i for i, _ in ladder_loudness(preset))
    made: dict[int, LoudnessMeasure] = {}
    for track in measuring.tracks:
        names = [track_instance(track, branch_tag(i)) for i in ladders] or [STEP_INSTANCE]
        found = [named[n] for n in names if n in named]
        if found:
            made[track] = found[0]
    languages = {t.track: t.language for t in probe.audio_tracks}
    report = tracks_report(measuring.step, measured, made, languages)
    return ladders or (measuring.index,), report
