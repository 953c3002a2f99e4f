"""The MP4 and ladder encoders as branches of a steps job's pass (:mod:`core.steps.stage`).

The transforms leave one picture (CPU frames, yuv420p, square pixels, a constant rate) and
one sound (48 kHz), and the other audio tracks a ladder keeps (:mod:`core.steps.tracks`);
the compiler hands each output step its own copy, by label. An encode
step fits its preset to that shape (:func:`core.steps.stage.shaped_probe`) exactly as a plain job
fits it to its source's probe, with the same graph (:func:`core.media.plan.mp4_encode`,
:func:`core.streaming.renditions.ladder_encode`), taken from those labels instead of input 0.

Files go under ``out / folder``; every label a branch makes starts with its ``tag``, so that
several branches live in one graph. On a GPU tier ``frames`` is
``FramePath.plan(choice, shaped_video, pix_fmt, cpu_filters=True)``: the chain's frames are
in system memory, uploaded once per branch, and the pictures are copied back out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from core.media.frames import FramePath
from core.media.plan import Mp4Source, TranscodePlan, mp4_encode
from core.media.probe import AudioStream, ProbeResult
from core.presets import Mp4Preset, StreamingPreset
from core.steps.stage import Branch
from core.streaming.renditions import LadderSource, StreamingPlan, ladder_encode


def mp4_branch(
    preset: Mp4Preset,
    probe: ProbeResult,
    out: PurePosixPath,
    folder: str,
    frames: FramePath,
    video: str,
    audio: str | None,
    tag: str,
) -> tuple[Branch, TranscodePlan]:
    """``out/folder/video.mp4`` and ``poster.jpg`` from the ``video`` (and ``audio``) labels;
    the plan's output names are relative to ``out`` (``folder/video.mp4``), its argv empty."""
    source = Mp4Source(video, audio, (), tag=tag, folder=folder)
    graph, args, plan = mp4_encode(preset, probe, out / folder, frames, source)
    branch = Branch(graph=graph, args=args, dirs=(folder,), takes_audio=audio is not None)
    return branch, plan


def streaming_branch(
    preset: StreamingPreset,
    probe: ProbeResult,
    out: PurePosixPath,
    folder: str,
    frames: FramePath,
    video: str | None,
    audio: str | None,
    tag: str,
    loudness: Mapping[int, tuple[str, ...]] | None = None,
    tracks: tuple[AudioStream, ...] = (),
    labels: tuple[str, ...] = (),
) -> tuple[Branch, StreamingPlan]:
    """A ladder's package, thumbnails and storyboard tiles under ``out/folder``; the plan's
    paths are relative to ``out/folder`` (finish it with a JobDir whose ``out`` is that),
    its argv empty. An audio-only preset, or no ``video``, takes no picture. ``loudness``:
    the preset's normalizer of each track (by number), before its renditions' split.
    ``tracks``: the audio tracks it packages, from ``labels`` (the first is ``audio``);
    none: ``audio`` alone."""
    source = LadderSource(video, audio, tag, loudness or {}, tracks, labels)
    graph, args, plan = ladder_encode(preset, probe, out / folder, frames, source)
    dirs = (folder, *(f"{folder}/{d}" for d in plan.directories))
    branch = Branch(
        graph=graph,
        args=args,
        dirs=dirs,
        takes_video=bool(plan.video),
        takes_audio=bool(plan.audio),
        tracks=tuple(t.track for t in tracks[1:]),
    )
    return branch, plan
