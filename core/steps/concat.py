"""The ``concat`` transform in a steps job's chain: clips appended after what it holds.

Each clip comes in as an input of the pass of its own and is fitted to the chain's picture
(letterboxed inside it), rate, pixel format and sound; a clip without sound gets silence, one
without a picture black frames, so that every segment ``concat`` joins carries the same
streams. Every number comes from a probe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from core.errors import InvalidMedia
from core.media.frames import TONEMAP, deinterlace
from core.media.hardening import InputGuard
from core.steps.chain_pass import Pass, even
from core.steps.model import Concat
from core.steps.stage import Attached


def append_clips(
    p: Pass, i: int, step: Concat, attached: Mapping[str, Attached], guard: InputGuard
) -> None:
    """The clips after what the chain holds, each fitted to its picture (letterboxed), rate,
    pixel format and sound; a clip without sound gets silence, one without a picture black
    frames, so that every segment carries the same streams."""
    clips = [attached[f"steps[{i}].inputs[{j}]"] for j in range(len(step.inputs))]
    sound = p.audio is not None or any(c.probe.audio is not None for c in clips)
    parts = [*_main_segment(p, sound)]
    total = p.shape.duration
    for clip in clips:
        parts += _clip_segment(p, clip, guard, sound)
        total += _length(clip)
    video_out = p.label("v") if p.shape.has_video else ""
    audio_out = p.label("a") if sound else ""
    p.graph.append(
        f"{''.join(parts)}concat=n={len(clips) + 1}:v={int(bool(video_out))}"
        f":a={int(sound)}{video_out}{audio_out}"
    )
    p.video = video_out or None
    p.audio = audio_out or None
    p.shape = replace(p.shape, duration=total)


def _main_segment(p: Pass, sound: bool) -> list[str]:
    parts = []
    if p.shape.has_video:
        p.vf.append("setpts=PTS-STARTPTS")
        parts.append(p.emit_video())
    if p.audio is not None:
        p.af.append("asetpts=PTS-STARTPTS")
        parts.append(p.emit_audio())
    elif sound:
        parts.append(p.silence(_known(p.shape.duration, "the input")))
    return parts


def _clip_segment(p: Pass, clip: Attached, guard: InputGuard, sound: bool) -> list[str]:
    k = p.add_input(
        [*guard.flags(guard.demuxer(clip.probe.format_name)), "-i", f"file:{clip.path}"]
    )
    parts = []
    if p.shape.has_video:
        parts.append(_clip_picture(p, k, clip))
    if sound and clip.probe.audio is not None:
        label = p.label("a")
        chain = [*p.sound_format(), "asetpts=PTS-STARTPTS"]
        p.graph.append(f"[{k}:{clip.probe.audio.index}]{','.join(chain)}{label}")
        parts.append(label)
    elif sound:
        parts.append(p.silence(_known(_length(clip), clip.where)))
    return parts


def _clip_picture(p: Pass, k: int, clip: Attached) -> str:
    """The clip's picture in the chain's size (fitted inside, centred on black), rate and
    format; black frames for a clip with none."""
    width, height, fps = p.shape.width, p.shape.height, p.shape.fps
    label = p.label("v")
    video = clip.probe.video
    if video is None:
        length = _known(clip.probe.duration, clip.where)
        p.graph.append(
            f"color=c=black:s={width}x{height}:r={fps:g}:d={length:.3f},"
            f"format=yuv420p,setsar=1{label}"
        )
        return label
    shown_w, shown_h = video.display_size
    fit = min(width / shown_w, height / shown_h)
    w, h = min(width, even(shown_w * fit)), min(height, even(shown_h * fit))
    chain = [*deinterlace(video), *([TONEMAP] if video.hdr else []),
             f"scale={w}:{h}", "setsar=1",
             f"pad={width}:{height}:{(width - w) // 2}:{(height - h) // 2}:color=black",
             f"fps={fps:g}", "format=yuv420p", "setpts=PTS-STARTPTS"]  # fmt: skip
    p.graph.append(f"[{k}:{video.index}]{','.join(chain)}{label}")
    return label


def _length(clip: Attached) -> float:
    video = clip.probe.video
    return (video.duration if video is not None else 0.0) or clip.probe.duration


def _known(duration: float, what: str) -> float:
    if duration <= 0:
        raise InvalidMedia(f"{what} states no length: its silence or black cannot be timed")
    return duration
