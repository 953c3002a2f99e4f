"""Pure planning: (preset, probe, paths) -> the exact ffmpeg argv and the files it will write.

One ffmpeg process per job: one decode, ``split`` to the MP4 encode and the poster frame, on
whichever accelerator tier the job runs (:mod:`core.media.frames`, :mod:`core.media.encoders`).
Every number in the filter graph is computed here from the probe; no message text reaches it.

:func:`plan_mp4` writes ``video.mp4`` (+faststart; an interlaced source deinterlaced, PQ/HLG
tone-mapped to SDR, sized within the preset's cap with even sides) and ``poster.jpg``
(:func:`poster_pick`: the last frame when the picture ends before the poster's time).
:func:`encode_cap` ends every encode near what the input states (1.5x its length + 2 s):
damaged timestamps make ffmpeg fill a gap with copies of a frame, for hours. Also here: the
probe and packets argv, the content types and the cache policies.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Literal

from core.errors import UnsupportedMedia
from core.media.accel import CPU_ONLY, AccelTier, TierChoice
from core.media.encoders import mp4_args, video_encoder
from core.media.frames import SDR_TAGS, TONEMAP, FramePath, deinterlace
from core.media.hardening import SOURCE_GUARD, InputGuard
from core.media.probe import ProbeResult, VideoStream
from core.presets import Mp4Preset

GLOBAL_FLAGS: tuple[str, ...] = ("-hide_banner", "-nostdin", "-y", "-loglevel", "error")
# A pass whose log is read (a loudness normalizer's figures): at info level, where loudnorm
# prints them, without the stats lines.
LOGGED_FLAGS: tuple[str, ...] = ("-hide_banner", "-nostdin", "-y", "-nostats", "-loglevel", "info")

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".json": "application/json",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",  # IANA's type for ISO BMFF media segments
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
}
# Segments and pictures never change under their name (a job's outputs live under its own
# id); manifests and the result may be rewritten by a retried attempt, so they stay short.
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_MANIFEST = "public, max-age=60"
CACHE_RESULT = "no-cache"
# Every encode stops at half again the length the input states, and 2 s more. Damaged
# timestamps can make ffmpeg fill hours with copies of one frame, or with silence (a 2 s
# MPEG-TS became a 3 h MP4); the slack is for a length that ffprobe only estimated.
CAP_RATIO = 1.5
CAP_MARGIN_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class PlannedOutput:
    name: str  # file name inside the job's output directory and under {prefix}/{job}/
    role: str  # "video" | "poster"
    content_type: str


@dataclass(frozen=True, slots=True)
class TranscodePlan:
    argv: tuple[str, ...]
    outputs: tuple[PlannedOutput, ...]
    encoder: str
    width: int
    height: int
    fps: float
    poster_at: float
    has_audio: bool
    tier: AccelTier = AccelTier.CPU


def fit_size(display_w: float, display_h: float, max_short_side: int) -> tuple[int, int]:
    """Cap the short side (a landscape picture's height, a portrait one's width: as the
    ladders' rungs are named), keep the aspect ratio, never upscale, keep both sides even.

    Each side is the nearest even number to its exact size, but never past the source's own
    (a 1279x719 source becomes 1278x718, not 1280x720).
    """
    scale = min(1.0, max_short_side / min(display_w, display_h))
    # Both sides come from the exact scale and are rounded once each, never one from the other.
    return _even_at_most(display_w * scale, display_w), _even_at_most(display_h * scale, display_h)


def poster_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The poster of a ``width`` x ``height`` picture: its shape, its long side at most
    ``long_side`` (a preset's ``poster_width``: 640 gives 640x360 beside a landscape 16:9
    video, 360x640 beside a portrait one), never larger than the picture."""
    scale = min(1.0, long_side / max(width, height))
    return max(2, _even(width * scale)), max(2, _even(height * scale))


def plan_mp4(
    preset: Mp4Preset,
    probe: ProbeResult,
    source: PurePosixPath,
    out_dir: PurePosixPath,
    choice: TierChoice = CPU_ONLY,
    guard: InputGuard = SOURCE_GUARD,
) -> TranscodePlan:
    """``guard``: the hardened input flags, with the demuxer ffprobe found."""
    video = _picture(preset, probe)
    # an 8-bit H.264 cannot carry PQ/HLG: tone-mapped to SDR, as the ladders are
    conditioning = [*deinterlace(video), *([TONEMAP] if video.hdr else [])]
    frames = FramePath.plan(choice, video, "yuv420p", cpu_filters=bool(conditioning))
    source_of = Mp4Source(f"[0:{video.index}]", "0:a:0" if probe.audio else None, (*conditioning,))
    graph, args, plan = mp4_encode(preset, probe, out_dir, frames, source_of)
    argv = [
        "ffmpeg", *GLOBAL_FLAGS, *guard.flags(guard.demuxer(probe.format_name)),
        *frames.input_args, "-i", f"file:{source}", "-filter_complex", ";".join(graph), *args,
    ]  # fmt: skip
    return replace(plan, argv=tuple(argv))


@dataclass(frozen=True, slots=True)
class Mp4Source:
    """Where an MP4 encode takes its picture and sound: the graph label of the picture,
    what ``-map`` names for the sound (None: no sound), the CPU filters the picture needs
    first; ``tag`` prefixes every label the encode makes (several encodes in one graph)
    and ``folder`` every output's name (relative to the job's output directory)."""

    video: str
    audio: str | None
    conditioning: tuple[str, ...]
    tag: str = ""
    folder: str = ""


def mp4_encode(
    preset: Mp4Preset,
    probe: ProbeResult,
    out_dir: PurePosixPath,
    frames: FramePath,
    source: Mp4Source,
) -> tuple[tuple[str, ...], tuple[str, ...], TranscodePlan]:
    """The MP4 and its poster from ``source``: the filter statements, the output arguments
    (files under ``out_dir``), and the plan (its ``argv`` empty: the caller's)."""
    video = _picture(preset, probe)
    width, height = fit_size(*video.display_size, preset.max_height)
    fps = min(video.fps, preset.max_fps) if video.fps > 0 else preset.max_fps
    # The picture may end before the file does (a long audio tail): time the poster on it.
    poster_at = poster_time(video.duration or probe.duration)
    poster_w, poster_h = poster_size(width, height, preset.poster_width)
    rate = [f"fps={fps:g}"] if video.fps > preset.max_fps else []
    vf = _mp4_chain(frames, width, height, [*source.conditioning], rate)
    to_cpu = "hwdownload,format=yuv420p," if frames.tier is AccelTier.GPU else ""
    mp4, still, poster = (f"[{source.tag}{name}]" for name in ("mp4", "still", "poster"))
    graph = (
        f"{source.video}{','.join(vf)},split=2{mp4}{still}",
        f"{still}{poster_pick(poster_at, to_cpu)},setpts=PTS-STARTPTS,"
        f"scale={poster_w}:{poster_h}{poster}",
    )
    audio_args = (
        ["-map", source.audio, "-c:a", preset.audio_codec, "-b:a",
         f"{preset.audio_bitrate_kbps}k", "-ac", str(preset.audio_channels)]
        if source.audio
        else ["-an"]
    )  # fmt: skip
    cap = encode_cap(probe)
    args = [
        "-map", mp4, *mp4_args(preset, frames.tier, max(1, round(fps * 2))),
        *(SDR_TAGS if video.hdr else ()),
        *audio_args, *(["-t", f"{cap:.3f}"] if cap else []),
        "-map_metadata", "-1", "-movflags", "+faststart", f"file:{out_dir / 'video.mp4'}",
        "-map", poster, "-frames:v", "1", "-q:v", "3", f"file:{out_dir / 'poster.jpg'}",
    ]  # fmt: skip
    named = posixpath.join(source.folder, "video.mp4"), posixpath.join(source.folder, "poster.jpg")
    outputs = (
        PlannedOutput(named[0], "video", CONTENT_TYPES[".mp4"]),
        PlannedOutput(named[1], "poster", CONTENT_TYPES[".jpg"]),
    )
    plan = TranscodePlan(
        argv=(),
        outputs=outputs,
        encoder=video_encoder(preset.video_codec, frames.tier),
        width=width,
        height=height,
        fps=fps,
        poster_at=poster_at,
        has_audio=source.audio is not None,
        tier=frames.tier,
    )
    return graph, tuple(args), plan


def _picture(preset: Mp4Preset, probe: ProbeResult) -> VideoStream:
    if probe.video is None:
        raise UnsupportedMedia(f"preset {preset.name} needs a video stream; the input has none")
    return probe.video


def _mp4_chain(
    frames: FramePath, width: int, height: int, conditioning: list[str], rate: list[str]
) -> list[str]:
    """Condition (deinterlace, tone-map), scale and cap the rate once, before the split to
    the MP4 and the poster."""
    if frames.tier is AccelTier.CPU:
        return [
            *conditioning,
            f"scale={width}:{height}:flags=bicubic",
            "setsar=1",
            *rate,
            "format=yuv420p",
        ]
    # rotated, conditioned or not NVDEC-decodable: on the CPU, then uploaded once
    upload = [*conditioning, "format=yuv420p", f"hwupload_cuda=device={frames.device}"]
    return [*([] if frames.on_gpu else upload), *rate, frames.scale(width, height, "yuv420p")]


def probe_argv(path: PurePosixPath, guard: InputGuard = SOURCE_GUARD) -> tuple[str, ...]:
    return (
        "ffprobe", "-hide_banner", "-loglevel", "error", *guard.flags(),
        "-print_format", "json", "-show_format", "-show_streams", f"file:{path}",
    )  # fmt: skip


# A file's parts read as one stream (ffmpeg's concat protocol), named in one argument: Linux
# takes up to 128 KiB in one; past this the parts are joined into a file first.
CONCAT_ARGUMENT_LIMIT = 64 * 1024


def packets_input(names: Sequence[str]) -> str:
    """ffprobe's input for a file in parts (an init segment, then its media segments),
    named relative to the working directory: the parts read one after another, as one."""
    if len(names) == 1:
        return f"file:{names[0]}"
    return "concat:" + "|".join(names)


def reads_as_one(paths: Sequence[str]) -> bool:
    """Whether a file's parts can be read in place as one stream (else they are joined):
    in one directory, named plainly, and named in one argument."""
    if len({posixpath.dirname(p) for p in paths}) != 1:
        return False
    names = [posixpath.basename(p) for p in paths]
    fits = len(packets_input(names)) <= CONCAT_ARGUMENT_LIMIT
    return fits and not any("|" in n or ":" in n for n in names)


def packets_argv(
    names: Sequence[str], formats: tuple[str, ...], stream: Literal["v", "a"]
) -> tuple[str, ...]:
    """The first video or audio stream's packets as CSV (pts, duration, size, byte offset
    from the first part's start, flags), read without decoding (our own renditions: the
    format whitelist is the guard)."""
    guard = InputGuard(formats=formats, codecs=None, max_pixels=None, max_streams=None)
    flags = list(guard.flags())
    if len(names) > 1:  # the parts: each opened as a file, by the concat protocol
        flags[flags.index("-protocol_whitelist") + 1] = "file,concat"
    return (
        "ffprobe", "-hide_banner", "-loglevel", "error", *flags,
        "-select_streams", f"{stream}:0",
        "-show_entries", "packet=pts_time,duration_time,size,pos,flags",
        "-of", "csv=p=0", packets_input(names),
    )  # fmt: skip


def encode_cap(probe: ProbeResult) -> float:
    """The most seconds of output an encode may write (0.0: the input states no length, and
    the timeout and the kernel's CPU and file-size limits bound it instead)."""
    stated = probe.stated_duration
    return stated * CAP_RATIO + CAP_MARGIN_SECONDS if stated > 0 else 0.0


def poster_pick(at: float, to_cpu: str = "") -> str:
    """The poster's frame: the first at ``at`` seconds, or the last one when the picture ends
    sooner (a file's length can run past its picture: one H.264 frame beside 2 s of sound),
    so that a poster is always written. ``tpad`` clones only then; ``trim`` takes one frame
    and closes the branch, which stops the cloning. ``to_cpu`` goes first: ffmpeg 5.1's
    tpad takes no GPU frames, so on the GPU tier the frames up to the poster's (10 s at
    most) are copied out, a small cost beside the encode."""
    return f"{to_cpu}tpad=stop=-1:stop_mode=clone,trim=start={at:.3f},trim=end_frame=1"


def poster_time(duration: float) -> float:
    # A tenth of the way in skips fades from black, capped so short clips still have a frame;
    # an unknown duration (0.0) takes the first frame.
    return 0.0 if duration < 1.0 else min(duration * 0.1, 10.0)


def _even(value: float) -> int:
    return round(value / 2.0) * 2


def _even_at_most(value: float, source: float) -> int:
    limit = math.ceil(source - 1e-9) // 2 * 2  # a 853.33 px wide source may give 854
    return max(2, min(_even(value), limit))
