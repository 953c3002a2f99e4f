"""Compiling a steps job into passes: as few ffmpeg runs as the steps allow.

The transforms become one chain (:mod:`core.steps.transforms`) and every output step hangs off one
``split`` of its picture (and ``asplit`` of its sound): encodes (an MP4, or a whole ladder),
frames, the preview (its GIF palette made from its own frames inside the same graph) and the
scene scan. One decode feeds them all. Only the quality comparison needs its own pass: it
reads back what the first one wrote. On a GPU tier the chain's filters run on CPU frames
(NVDEC decodes, the CPU draws, each encode uploads once), and the plan says so, with why
each pass is one. A first trim in keyframe mode also writes the stream copy of its cut (no
decode); the job's frame pictures are held to their cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.errors import InvalidMessage, UnsupportedMedia
from core.media.accel import CPU_ONLY, AccelTier, TierChoice
from core.media.encoders import encoder_reserve_mib
from core.media.frames import FramePath
from core.media.hardening import SOURCE_GUARD, InputGuard
from core.media.plan import GLOBAL_FLAGS, LOGGED_FLAGS, TranscodePlan
from core.media.probe import AudioStream, ProbeResult
from core.presets import Mp4Preset, StepsPreset, StreamingPreset
from core.steps.audio_branch import audio_branch
from core.steps.branches import frame_times, frames_branch, preview_branch, scenes_branch
from core.steps.encode_branch import mp4_branch, streaming_branch
from core.steps.loudness import LoudnessMeasure, normalize, track_instance
from core.steps.loudness_pass import job_loudness, ladder_loudness, sound_track
from core.steps.model import Loudness, Trim
from core.steps.outputs import (
    MAX_FRAMES,
    Audio,
    Encode,
    Frames,
    OutputStep,
    Preview,
    Quality,
    Scenes,
    step_folders,
)
from core.steps.stage import CHAIN_PIX_FMT, Attached, Branch, Chain, branch_tag, shaped_probe
from core.steps.tracks import ladder_tracks, track_splits, wanted_tracks
from core.steps.transforms import TransformStep, compile_transforms
from core.streaming.renditions import StreamingPlan

# Filters only the CPU has: a chain with any of them keeps its frames in system memory.
_CPU_OPS = {"overlay": "overlay", "text": "drawtext", "concat": "concat", "crop": "crop"}
SCAN_DIR = "scan"  # scratch beside the outputs (metadata of the scene scan); never published


@dataclass(frozen=True, slots=True)
class StepTarget:
    """What one output step writes, for verifying and reporting it."""

    index: int
    step: OutputStep | Trim  # a first keyframe trim writes the stream copy of its cut
    folder: str
    mp4: TranscodePlan | None = None
    package: StreamingPlan | None = None
    times: tuple[float, ...] = ()  # the frames step's picture times

    @property
    def where(self) -> str:
        return f"steps[{self.index}]"


@dataclass(frozen=True, slots=True)
class Pass:
    name: str  # "main" | "quality"
    argv: tuple[str, ...]
    tier: AccelTier
    why: str
    weight: float  # expected work, in seconds of media decoded or encoded


@dataclass(frozen=True, slots=True)
class StepsPlan:
    chain: Chain
    main: Pass
    targets: tuple[StepTarget, ...]
    dirs: tuple[str, ...]  # under the job's output directory, made before the main pass
    cpu_steps: tuple[str, ...] = ()  # why the frames are on the CPU, by step
    encoder_reserve_mib: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    logged: bool = False  # the main pass's log holds the loudness normalizer's figures

    @property
    def encodes(self) -> tuple[StepTarget, ...]:
        return tuple(t for t in self.targets if isinstance(t.step, Encode))

    @property
    def quality(self) -> StepTarget | None:
        return next((t for t in self.targets if isinstance(t.step, Quality)), None)


def compile_steps(
    preset: StepsPreset,
    probe: ProbeResult,
    source: PurePosixPath,
    out: PurePosixPath,
    attached: Mapping[str, Attached],
    choice: TierChoice = CPU_ONLY,
    guard: InputGuard = SOURCE_GUARD,
    font: str | None = None,
    loudness: Mapping[int, LoudnessMeasure] | None = None,
) -> StepsPlan:
    """The main pass of ``preset``'s steps over ``probe``'s file at ``source``; ``loudness``:
    what the measuring pass found, by audio track (:mod:`core.steps.loudness_pass`)."""
    transforms = [s for s in preset.steps if isinstance(s, TransformStep)]
    cpu_steps = tuple(
        f"steps[{i}] {s.op}: {_CPU_OPS[s.op]} runs on CPU frames"
        for i, s in enumerate(preset.steps)
        if s.op in _CPU_OPS
    )
    if probe.video is None:
        choice = CPU_ONLY  # sound alone: nothing for a GPU to do
    decode = _decode_args(choice, probe)
    chain = compile_transforms(transforms, probe, source, attached, guard, decode, font=font,
                               loudness=(loudness or {}).get(sound_track(probe)),
                               tracks=wanted_tracks(preset, probe))  # fmt: skip
    targets, branches = _targets(preset, probe, chain, out, choice, loudness)
    logged = loudness is not None and any(
        normalize(s, measured)
        for s in (*job_loudness(preset), *(step for _, step in ladder_loudness(preset)))
        for measured in loudness.values()
    )
    flags = LOGGED_FLAGS if logged else GLOBAL_FLAGS
    argv = (
        "ffmpeg",
        *flags,
        *chain.inputs,
        *_filters(chain, branches),
        *(a for b in branches.values() for a in b.args),
    )
    reserve = sum(
        encoder_reserve_mib(t.package.encoder, r.width, r.height)
        for t in targets
        if t.package is not None
        for r in t.package.video
    )
    tier = choice.tier if any(isinstance(t.step, Encode) for t in targets) else AccelTier.CPU
    main = Pass("main", argv, tier, _why(choice, cpu_steps, targets), _weight(chain, targets))
    # every output step's folder (quality writes into its own after the pass), and the
    # branches' own
    dirs = tuple(
        dict.fromkeys(
            [*(t.folder for t in targets), *(d for b in branches.values() for d in b.dirs)]
        )
    )
    notes = (*chain.notes, *_unmet_targets(preset))
    return StepsPlan(chain, main, tuple(targets), dirs, cpu_steps, reserve, notes, logged)


def _targets(
    preset: StepsPreset,
    probe: ProbeResult,
    chain: Chain,
    out: PurePosixPath,
    choice: TierChoice,
    loudness: Mapping[int, LoudnessMeasure] | None,
) -> tuple[list[StepTarget], dict[int, Branch]]:
    """Every output step's target and branch (by step index), and a first keyframe trim's
    stream copy; the job's frame pictures held to their cap."""
    targets: list[StepTarget] = []
    branches: dict[int, Branch] = {}
    first = preset.steps[0]
    if isinstance(first, Trim) and first.mode == "keyframe":
        target, branches[0] = _clip(first, probe, chain, out)
        targets.append(target)
    for index, folder in step_folders(preset.steps).items():
        step = preset.steps[index]
        assert isinstance(step, Encode | Frames | Preview | Scenes | Quality | Audio)
        target, branch = _output(preset, step, index, folder, chain, out, choice, loudness, probe)
        targets.append(target)
        if branch is not None:
            branches[index] = branch
    pictures = sum(len(t.times) for t in targets)
    if pictures > MAX_FRAMES:
        raise InvalidMessage(
            f"steps: the frames steps ask for {pictures} pictures in all; at most "
            f"{MAX_FRAMES} a job",
            code="invalid_request",
        )
    return targets, branches


def _filters(chain: Chain, branches: Mapping[int, Branch]) -> tuple[str, ...]:
    """``-filter_complex`` and the graph: the chain, the splits, every branch's statements;
    nothing when no branch decodes (a keyframe trim's stream copy alone)."""
    if not any(b.takes_video or b.takes_audio for b in branches.values()):
        return ()
    graph = [
        *chain.graph,
        *_splits(chain, branches),
        *track_splits(chain, branches),
        *(s for b in branches.values() for s in b.graph),
    ]
    return ("-filter_complex", ";".join(graph))


def _output(
    preset: StepsPreset,
    step: OutputStep,
    index: int,
    folder: str,
    chain: Chain,
    out: PurePosixPath,
    choice: TierChoice,
    loudness: Mapping[int, LoudnessMeasure] | None,
    probe: ProbeResult,
) -> tuple[StepTarget, Branch | None]:
    """One output step's branch, its labels ``[vN]``/``[aN]`` and internal labels ``sN``."""
    shape, tag, video = chain.shape, branch_tag(index), _label(index, "v")
    if isinstance(step, Encode):
        return _encode(preset, step, index, folder, chain, out, choice, loudness, probe)
    if isinstance(step, Frames):
        branch = frames_branch(step, shape, out, folder, video, tag)
        return StepTarget(index, step, folder, times=frame_times(step, shape)), branch
    if isinstance(step, Preview):
        return StepTarget(index, step, folder), preview_branch(step, shape, out, folder, video, tag)
    if isinstance(step, Scenes):
        scan = f"{SCAN_DIR}/{folder}.txt"
        return StepTarget(index, step, folder), scenes_branch(
            step, shape, out, folder, video, tag, scan
        )
    if isinstance(step, Audio):
        if chain.audio is None:
            raise UnsupportedMedia(f"steps[{index}] (audio): the input has no sound")
        return StepTarget(index, step, folder), audio_branch(
            step, out, folder, _label(index, "a"), chain.shape.channels
        )
    return StepTarget(index, step, folder), None  # quality: a pass of its own, afterwards


def _encode(
    preset: StepsPreset,
    step: Encode,
    index: int,
    folder: str,
    chain: Chain,
    out: PurePosixPath,
    choice: TierChoice,
    loudness: Mapping[int, LoudnessMeasure] | None,
    probe: ProbeResult,
) -> tuple[StepTarget, Branch]:
    spec = preset.encodes[step.preset]
    shaped = shaped_probe(chain.shape)
    video = _label(index, "v") if chain.shape.has_video else None
    audio = _label(index, "a") if chain.shape.has_audio else None
    tag = branch_tag(index)
    if isinstance(spec, Mp4Preset):
        if shaped.video is None or video is None:
            raise UnsupportedMedia(
                f"steps[{index}]: preset {spec.name} needs a video stream; the input has none"
            )
        frames = FramePath.plan(choice, shaped.video, CHAIN_PIX_FMT, cpu_filters=True)
        branch, mp4 = mp4_branch(spec, shaped, out, folder, frames, video, audio, tag)
        return StepTarget(index, step, folder, mp4=mp4), branch
    assert isinstance(spec, StreamingPreset)
    pix = "yuv420p10le" if spec.hdr == "keep" else CHAIN_PIX_FMT
    # audio alone: nothing for a GPU to do
    tier = choice if spec.ladder else CPU_ONLY
    rungs = (
        FramePath.plan(tier, shaped.video, pix, cpu_filters=True)
        if shaped.video
        else FramePath(AccelTier.CPU, 0, False, False, pix)  # unused: no picture to encode
    )
    # the preset's loudness target, met in its own audio chain (unless a loudness step sets
    # the job's sound): each track measured as the chain leaves it (core.steps.loudness_pass)
    target = spec.loudness.step() if spec.loudness and not job_loudness(preset) else None
    tracks, labels = ladder_tracks(spec, probe, chain, str(audio), index)
    normalizers = _normalizers(target, loudness, tracks, shaped, probe, tag) if target else {}
    branch, package = streaming_branch(
        spec, shaped, out, folder, rungs, video, audio, tag, normalizers, tracks, labels
    )
    return StepTarget(index, step, folder, package=package), branch


def _normalizers(
    target: Loudness,
    measured: Mapping[int, LoudnessMeasure] | None,
    tracks: tuple[AudioStream, ...],
    shaped: ProbeResult,
    probe: ProbeResult,
    tag: str,
) -> dict[int, tuple[str, ...]]:
    """A ladder's normalizer of each track, by the number its renditions carry: each track
    it packages, or its one sound (measured as the input's first track). A loudnorm named
    by the track and the ladder's ``tag`` prints that track's figures in the log."""
    if tracks:
        numbers = {t.track: t.track for t in tracks}
    elif shaped.audio is not None:
        numbers = {shaped.audio.track: sound_track(probe)}
    else:
        return {}
    return {
        own: tuple(normalize(target, (measured or {}).get(n), track_instance(n, tag)))
        for own, n in numbers.items()
    }


# Codecs an MP4 holds; a cut of anything else is copied into Matroska, which holds them all.
_MP4_VIDEO = frozenset({"h264", "hevc", "av1", "mpeg4", "vp9"})
_MP4_AUDIO = frozenset({"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"})
CLIP_FOLDER = "clip"


def _clip(
    trim: Trim, probe: ProbeResult, chain: Chain, out: PurePosixPath
) -> tuple[StepTarget, Branch]:
    """The keyframe trim's stream copy: the input's picture and first sound as they are,
    from the keyframe at or before ``start``; no decode, no encode."""
    video, audio = probe.video, probe.audio
    maps = [*(["-map", f"0:{video.index}"] if video else []),
            *(["-map", f"0:{audio.index}"] if audio else [])]  # fmt: skip
    fits = (video is None or video.codec in _MP4_VIDEO) and (
        audio is None or audio.codec in _MP4_AUDIO
    )
    name = "clip.mp4" if fits else "clip.mkv"
    length = ["-t", f"{chain.shape.duration:.3f}"] if trim.stop is not None else []
    faststart = ["-movflags", "+faststart"] if fits else []
    args = (*maps, "-c", "copy", *length, "-avoid_negative_ts", "make_zero",
            "-map_metadata", "-1", *faststart, f"file:{out / CLIP_FOLDER / name}")  # fmt: skip
    branch = Branch(graph=(), args=args, dirs=(CLIP_FOLDER,), takes_video=False)
    return StepTarget(0, trim, CLIP_FOLDER), branch


def _unmet_targets(preset: StepsPreset) -> list[str]:
    """A ladder's loudness target where a loudness step sets the job's sound: the step's."""
    if not job_loudness(preset):
        return []
    return [
        f"steps[{i}]: the loudness step sets the sound; preset {s.preset}'s target is not used"
        for i, s in enumerate(preset.steps)
        if isinstance(s, Encode)
        and isinstance(spec := preset.encodes.get(s.preset), StreamingPreset)
        and spec.loudness is not None
    ]


def _splits(chain: Chain, branches: Mapping[int, Branch]) -> list[str]:
    """The chain's picture and sound, one copy per branch that takes it (a pad no branch
    takes is sunk: ffmpeg refuses a graph with an unconnected output)."""
    statements = []
    for label, takes, split, sink, prefix in (
        (chain.video, [i for i, b in branches.items() if b.takes_video], "split", "nullsink", "v"),
        (
            chain.audio,
            [i for i, b in branches.items() if b.takes_audio],
            "asplit",
            "anullsink",
            "a",
        ),
    ):
        if label is None:
            continue
        names = "".join(_label(i, prefix) for i in takes)
        if not takes:
            statements.append(f"{label}{sink}")
        else:
            statements.append(f"{label}{split}={len(takes)}{names}")
    return statements


def _label(index: int, kind: str) -> str:
    """Step ``index``'s copy of the picture (``v``) or sound (``a``): a name of its own,
    never one the chain's statements use (theirs count up from the inputs)."""
    return f"[out{index}{kind}]"


def _decode_args(choice: TierChoice, probe: ProbeResult) -> tuple[str, ...]:
    """NVDEC decodes on a GPU tier; the chain's filters then take its frames on the CPU."""
    if probe.video is None or not choice.tier.on_gpu:
        return ()
    frames = FramePath.plan(choice, probe.video, CHAIN_PIX_FMT, cpu_filters=True)
    return frames.input_args


def _why(choice: TierChoice, cpu_steps: tuple[str, ...], targets: list[StepTarget]) -> str:
    outputs = ", ".join(f"{t.folder} ({t.step.op})" for t in targets if t.step.op != "quality")
    where = "one decode, split to " + outputs
    if not choice.tier.on_gpu:
        return where
    frames = "; frames on the CPU: " + "; ".join(cpu_steps) if cpu_steps else ""
    return f"{where}; {choice.tier.value}: NVDEC decodes, NVENC encodes{frames}"


def _weight(chain: Chain, targets: list[StepTarget]) -> float:
    """The pass's work: the picture's length, once per encoded rendition and once for the
    decode and the pictures."""
    renditions = sum(
        1 if t.mp4 else len(t.package.video) + len(t.package.audio) if t.package else 0
        for t in targets
    )
    return max(chain.shape.duration, 1.0) * (1 + renditions)
