"""The transform steps of a job, compiled into one :class:`~core.steps.stage.Chain`.

The main input is conditioned first (the picture as shown, progressive, SDR, square pixels,
a constant rate of at most 60 fps, 8-bit 4:2:0; the sound at 48 kHz), then each step is
applied in the order given, its shape tracked exactly. A first trim seeks the input, so
only what is kept is decoded. Every number in the graph comes from
a validated field or from a probe; captions reach ffmpeg only through files
(:mod:`core.steps.overlays`). What passes the models but not this input (a crop off the frame, a
trim past the end) is refused here, naming the step and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import PurePosixPath

from core.media.frames import TONEMAP, deinterlace
from core.media.hardening import InputGuard
from core.media.probe import AudioStream, ProbeResult
from core.steps.chain_pass import Pass, Track, even, refuse, seconds
from core.steps.concat import append_clips
from core.steps.loudness import STEP_INSTANCE, LoudnessMeasure, normalize
from core.steps.model import (
    Concat,
    Crop,
    Flip,
    Fps,
    Loudness,
    Mix,
    Overlay,
    ReplaceAudio,
    Rotate,
    Scale,
    Speed,
    Subtitles,
    Text,
    Trim,
)
from core.steps.overlays import burn_subtitles, draw_overlay, draw_text
from core.steps.sound import mix, replace_audio
from core.steps.stage import (
    AUDIO_OUT,
    CHAIN_SAMPLE_RATE,
    VIDEO_OUT,
    Attached,
    Chain,
    Shape,
    chain_channels,
)

MAX_FPS = 60.0
DEFAULT_FPS = 30.0  # a source that states no rate
MAX_LONG_SIDE = 7680
MAX_SHORT_SIDE = 4320
MIN_SIDE = 16

TransformStep = (
    Trim
    | Concat
    | Crop
    | Scale
    | Rotate
    | Flip
    | Fps
    | Speed
    | Overlay
    | Text
    | ReplaceAudio
    | Mix
    | Subtitles
    | Loudness
)
_PICTURE_ONLY = (Crop, Scale, Rotate, Flip, Fps, Overlay, Text)
_ONE_SOUND = (Concat, ReplaceAudio, Mix, Loudness)  # they build one soundtrack


def compile_transforms(
    steps: Sequence[TransformStep],
    source: ProbeResult,
    source_path: PurePosixPath,
    attached: Mapping[str, Attached],
    guard: InputGuard,
    decode_args: tuple[str, ...] = (),
    *,
    font: str | None = None,
    need_audio: bool = False,
    loudness: LoudnessMeasure | None = None,
    sound_only: bool = False,
    tracks: Sequence[AudioStream] = (),
) -> Chain:
    """``steps``: the request's transforms (they come first in its steps, so each one's
    index here is its index there, as errors and ``where`` name it). ``attached``: the
    objects they name, by ``where``. ``decode_args``: before the main input's ``-i`` (a
    tier's decoder). ``font``: a font file for captions, resolved by the caller (None:
    fontconfig's "Sans"). ``need_audio``: an output wants sound even when no input has any
    (silence of the chain's length). ``loudness``: the measuring pass's figures for the
    loudness step (None: not measured yet). ``sound_only``: the sound alone, as the loudness
    measuring pass reads it (no picture decoded; the picture's steps are passed over).
    ``tracks``: the main input's other audio tracks to carry along (a ladder keeps them)."""
    if sound_only:
        source = replace(source, video=None)
    p = Pass(font=font)
    seek = _input_seek(steps, source)
    p.add_input([*guard.flags(guard.demuxer(source.format_name)), *decode_args, *seek,
                 "-i", f"file:{source_path}"])  # fmt: skip
    _condition(p, source, tracks)
    if seek:
        _seeked(p, steps[0])
    for i, step in enumerate(steps):
        if i == 0 and seek:
            continue
        if not (sound_only and isinstance(step, _PICTURE_ONLY)):
            _apply(p, i, step, attached, guard, loudness)
    if p.audio is None and need_audio and p.shape.has_video:
        p.audio = p.silence(p.shape.duration)
    return _finish(p)


def _finish(p: Pass) -> Chain:
    if p.shape.has_video:
        p.emit_video(VIDEO_OUT)
    if p.audio is not None:
        # the layout held where the outputs split from it: else ffmpeg may settle the whole
        # split on the one layout an output asks for (an MP3's stereo under a 5.1 ladder)
        held = p.sound_format()[-1]
        p.af += [] if p.af[-1:] == [held] else [held]
        p.emit_audio(AUDIO_OUT)
    tracks = p.emit_tracks()
    shape = replace(p.shape, has_audio=p.audio is not None)
    return Chain(
        inputs=tuple(p.inputs),
        graph=tuple(p.graph),
        shape=shape,
        files=tuple(p.files),
        notes=tuple(p.notes),
        tracks=tracks,
    )


# --- conditioning -------------------------------------------------------------------------


def _track(p: Pass, track: AudioStream) -> Track:
    """Another track of the main input, conditioned as the sound is (in its own layout)."""
    stream = replace(track, channels=chain_channels(track.channels), sample_rate=CHAIN_SAMPLE_RATE)
    return Track(stream, f"[0:{track.index}]", p.sound_format(track.channels))


def _condition(p: Pass, source: ProbeResult, tracks: Sequence[AudioStream] = ()) -> None:
    video, audio = source.video, source.audio
    if video is not None:
        width, height = video.display_size
        # the rate as the graph writes it, so that the shape states what comes out
        fps = float(f"{min(video.fps, MAX_FPS):g}") if video.fps > 0 else DEFAULT_FPS
        p.video = f"[0:{video.index}]"
        p.vf += [*deinterlace(video), *([TONEMAP] if video.hdr else [])]
        # ffmpeg has turned the picture on decode: scaled by its SAR, it is as shown
        p.vf += [
            f"scale={even(width)}:{even(height)}",
            "setsar=1",
            f"fps={fps:g}",
            "format=yuv420p",
        ]
        # the input's length: what a trim is held to (the picture may end sooner)
        p.shape = Shape(even(width), even(height), fps, source.duration or video.duration)
    else:
        p.shape = Shape(0, 0, 0.0, source.duration, has_video=False)
    if audio is not None:
        p.audio = f"[0:{audio.index}]"
        p.shape = replace(p.shape, channels=chain_channels(audio.channels))
        p.af += p.sound_format()
        p.tracks = [_track(p, t) for t in tracks if t.track != audio.track]


# --- trim ---------------------------------------------------------------------------------


def _input_seek(steps: Sequence[TransformStep], source: ProbeResult) -> list[str]:
    """A first trim seeks the input: only what is kept is decoded. Accurate: frame-exact (the
    pass re-encodes), ``-t`` the length. Keyframe: decoding starts at the keyframe at or
    before ``start``, its frames timed from before 0, so the end is cut in the graph."""
    if not steps or not isinstance(steps[0], Trim):
        return []
    trim = steps[0]
    length = _trim_length(0, trim, source.duration)
    seek = ["-noaccurate_seek"] if trim.mode == "keyframe" else []
    seek += ["-ss", f"{trim.start:.3f}"] if trim.start > 0 else []
    exact = trim.mode == "accurate" and trim.stop is not None
    return seek + (["-t", f"{length:.3f}"] if exact else [])


def _seeked(p: Pass, trim: TransformStep) -> None:
    assert isinstance(trim, Trim)
    length = _trim_length(0, trim, p.shape.duration)
    p.shape = replace(p.shape, duration=length)
    if trim.mode == "accurate":
        return
    cut = [f"end={length:.3f}"] if trim.stop is not None else []
    # both streams start together at the keyframe's time (before 0): each made to start at 0
    if p.shape.has_video:
        p.vf[:0] = [*(f"trim={c}" for c in cut), "setpts=PTS-STARTPTS"]
    if p.audio is not None:
        p.sound([*(f"atrim={c}" for c in cut), "asetpts=PTS-STARTPTS"], first=True)
    p.notes.append(
        f"steps[0]: a keyframe trim; the outputs start at the keyframe at or before "
        f"{seconds(trim.start)} s (up to a keyframe interval earlier, and that much longer)"
    )


def _trim_length(i: int, trim: Trim, duration: float) -> float:
    """Seconds kept; a trim that starts past the end is refused, and one that ends past it
    keeps up to the end."""
    if duration > 0 and trim.start >= duration:
        refuse(
            f"steps[{i}].start: {seconds(trim.start)} s is past the end of the input "
            f"({duration:.1f} s)"
        )
    stop = trim.stop
    if duration > 0:
        stop = duration if stop is None else min(stop, duration)
    return (stop - trim.start) if stop is not None else 0.0


def _trim(p: Pass, i: int, trim: Trim) -> None:
    if trim.mode == "keyframe":
        refuse(f"steps[{i}].mode: a keyframe trim must be the first step")
    length = _trim_length(i, trim, p.shape.duration)
    end = f":end={trim.start + length:.3f}" if length > 0 else ""
    if p.shape.has_video:
        p.vf += [f"trim=start={trim.start:.3f}{end}", "setpts=PTS-STARTPTS"]
    if p.audio is not None:
        p.sound([f"atrim=start={trim.start:.3f}{end}", "asetpts=PTS-STARTPTS"])
    p.shape = replace(p.shape, duration=length)


# --- the steps ----------------------------------------------------------------------------


def _apply(
    p: Pass,
    i: int,
    step: TransformStep,
    attached: Mapping[str, Attached],
    guard: InputGuard,
    loudness: LoudnessMeasure | None,
) -> None:
    if isinstance(step, _PICTURE_ONLY) and not p.shape.has_video:
        refuse(f"steps[{i}]: {step.op} needs a picture; the input has none")
    if isinstance(step, _ONE_SOUND):
        p.one_sound(i, step.op)
    if isinstance(step, Loudness | ReplaceAudio | Mix):
        _sound(p, i, step, attached, guard, loudness)
    elif isinstance(step, Crop | Scale | Rotate | Flip | Fps):
        _picture(p, i, step)
    else:
        _timeline(p, i, step, attached, guard)


def _sound(
    p: Pass,
    i: int,
    step: Loudness | ReplaceAudio | Mix,
    attached: Mapping[str, Attached],
    guard: InputGuard,
    loudness: LoudnessMeasure | None,
) -> None:
    if isinstance(step, ReplaceAudio):
        replace_audio(p, i, step, attached, guard)
    elif isinstance(step, Mix):
        mix(p, i, step, attached, guard)
    else:
        if p.audio is None:
            refuse(f"steps[{i}] (loudness): the input has no sound to measure")
        p.af += normalize(step, loudness, STEP_INSTANCE)


def _timeline(
    p: Pass,
    i: int,
    step: Trim | Concat | Speed | Overlay | Text | Subtitles,
    attached: Mapping[str, Attached],
    guard: InputGuard,
) -> None:
    """The steps that change the timeline, or draw on the picture."""
    if isinstance(step, Trim):
        _trim(p, i, step)
    elif isinstance(step, Concat):
        append_clips(p, i, step, attached, guard)
    elif isinstance(step, Speed):
        _speed(p, step)
    elif isinstance(step, Overlay):
        draw_overlay(p, i, step, attached[f"steps[{i}].image"], guard)
    elif isinstance(step, Text):
        draw_text(p, i, step)
    else:
        burn_subtitles(p, i, step)


def _picture(p: Pass, i: int, step: Crop | Scale | Rotate | Flip | Fps) -> None:
    if isinstance(step, Crop):
        _crop(p, i, step)
    elif isinstance(step, Scale):
        _scale(p, i, step)
    elif isinstance(step, Rotate):
        turned = {90: ["transpose=1"], 270: ["transpose=2"], 180: ["hflip", "vflip"]}
        p.vf += turned[step.degrees]
        if step.degrees != 180:
            p.shape = replace(p.shape, width=p.shape.height, height=p.shape.width)
    elif isinstance(step, Flip):
        p.vf.append("hflip" if step.direction == "horizontal" else "vflip")
    else:
        p.vf.append(f"fps={step.fps:g}")
        p.shape = replace(p.shape, fps=step.fps)


def _crop(p: Pass, i: int, crop: Crop) -> None:
    frame_w, frame_h = p.shape.width, p.shape.height
    if crop.aspect is not None:
        w, h = _aspect_window(i, crop.aspect, frame_w, frame_h)
        x, y = (frame_w - w) // 2, (frame_h - h) // 2
    else:
        assert crop.width is not None
        assert crop.height is not None
        w = _window(i, "width", crop.width, crop.x, frame_w, "wider")
        h = _window(i, "height", crop.height, crop.y, frame_h, "taller")
        x = crop.x if crop.x is not None else (frame_w - w) // 2
        y = crop.y if crop.y is not None else (frame_h - h) // 2
    p.vf.append(f"crop={w}:{h}:{x}:{y}")
    p.shape = replace(p.shape, width=w, height=h)


def _aspect_window(i: int, aspect: str, frame_w: int, frame_h: int) -> tuple[int, int]:
    """The largest window of ``aspect`` the frame holds, with even sides."""
    a, b = (int(n) for n in aspect.split(":"))
    if frame_w * b > frame_h * a:  # the frame is wider: full height
        w, h = frame_h * a // b, frame_h
    else:
        w, h = frame_w, frame_w * b // a
    w, h = w // 2 * 2, h // 2 * 2
    if min(w, h) < MIN_SIDE:
        refuse(f"steps[{i}].aspect: {aspect} leaves a window under {MIN_SIDE} px")
    return w, h


def _window(i: int, name: str, size: int, at: int | None, frame: int, more: str) -> int:
    """One side of a crop window, refused when it does not fit the frame; made even (the
    pass writes 4:2:0)."""
    axis = "x" if name == "width" else "y"
    if size > frame:
        refuse(f"steps[{i}].{name}: {size} px is {more} than the frame ({frame} px)")
    if at is not None and at + size > frame:
        refuse(
            f"steps[{i}].{axis}: the window ({axis} {at} + {name} {size}) runs off the "
            f"frame ({frame} px)"
        )
    return max(2, size // 2 * 2)


def _scale(p: Pass, i: int, scale: Scale) -> None:
    frame_w, frame_h = p.shape.width, p.shape.height
    w = scale.width if scale.width is not None else frame_w * (scale.height or 0) / frame_h
    h = scale.height if scale.height is not None else frame_h * w / frame_w
    w, h = even(w), even(h)
    field = "width" if scale.width is not None else "height"
    if max(w, h) > MAX_LONG_SIDE or min(w, h) > MAX_SHORT_SIDE:
        refuse(f"steps[{i}].{field}: {w}x{h} is over {MAX_LONG_SIDE}x{MAX_SHORT_SIDE}")
    if min(w, h) < MIN_SIDE:
        refuse(f"steps[{i}].{field}: {w}x{h} has a side under {MIN_SIDE} px")
    p.vf += [f"scale={w}:{h}:flags=bicubic", "setsar=1"]
    p.shape = replace(p.shape, width=w, height=h)


def _speed(p: Pass, speed: Speed) -> None:
    """Faster or slower: the picture keeps its frame rate (frames dropped or repeated), the
    sound its pitch (``atempo``, 0.5 to 2 each, chained)."""
    factor = speed.factor
    if p.shape.has_video:
        p.vf += [f"setpts=PTS/{factor:g}", f"fps={p.shape.fps:g}"]
    if p.audio is not None:
        p.sound([f"atempo={t:g}" for t in tempos(factor)])
    p.shape = replace(p.shape, duration=p.shape.duration / factor)


def tempos(factor: float) -> list[float]:
    """``factor`` as a product of ``atempo`` factors each within 0.5..2."""
    parts: list[float] = []
    while factor > 2.0:
        parts.append(2.0)
        factor /= 2.0
    while factor < 0.5:
        parts.append(0.5)
        factor /= 0.5
    return [*parts, factor]
