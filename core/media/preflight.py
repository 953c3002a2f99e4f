"""Pre-flight checks: what ffprobe said about an upload, held against the limits, before any
plan is made or any ffmpeg process started.

Each refusal is permanent and has its own code (the same input would be refused again):
``too_many_streams``, ``frame_too_large``, ``frame_rate_too_high``, ``input_too_long``,
``unsupported_codec``, and ``input_too_large`` for bytes (:func:`check_size`, asked before
the download when the size is known, and of the downloaded file's own size). A preset may
set its own ``max_duration_seconds`` and ``max_input_bytes``; the stricter limit wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import (
    FrameRateTooHigh,
    FrameTooLarge,
    InputTooLarge,
    InputTooLong,
    TooManyStreams,
    UnsupportedCodec,
)
from core.media.hardening import DEFAULT_CODECS, DEFAULT_MAX_PIXELS, SOURCE_FORMATS, InputGuard
from core.media.probe import AudioStream, ProbeResult
from core.presets import OutputPreset, StreamingPreset
from core.streaming.audio_tracks import kept_tracks


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """The deployment's limits on uploads (``FFAPI_MAX_*``, ``FFAPI_ALLOWED_CODECS``)."""

    max_input_bytes: int = 10 * 1024**3
    max_duration_seconds: float = 6 * 3600.0
    max_width: int = 8192
    max_height: int = 8192
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_fps: float = 300.0
    max_streams: int = 32
    max_attachments: int = 16
    max_data_streams: int = 8
    codecs: tuple[str, ...] = DEFAULT_CODECS
    formats: tuple[str, ...] = SOURCE_FORMATS

    @property
    def guard(self) -> InputGuard:
        """The ffprobe/ffmpeg flags that enforce what can be enforced while reading."""
        return InputGuard(self.formats, self.codecs, self.max_pixels, self.max_streams)


def input_byte_limit(limits: MediaLimits, preset: OutputPreset) -> int:
    return min(limits.max_input_bytes, preset.max_input_bytes or limits.max_input_bytes)


def check_size(size: int | None, limits: MediaLimits, preset: OutputPreset) -> None:
    """Bytes against the stricter of the deployment's and the preset's limit (an unknown
    size passes: it is checked again once the file is here)."""
    limit = input_byte_limit(limits, preset)
    if size is not None and size > limit:
        raise InputTooLarge(f"input is {size} bytes; the limit is {limit}")


def check_media(probe: ProbeResult, limits: MediaLimits, preset: OutputPreset) -> None:
    """Raise the first refusal that applies, from the cheapest facts on."""
    check_size(probe.size, limits, preset)
    _streams(probe, limits)
    _frames(probe, limits)
    _duration(probe, limits, preset)
    _codecs(probe, limits, preset)


def _streams(probe: ProbeResult, limits: MediaLimits) -> None:
    caps = (
        (len(probe.streams), limits.max_streams, "streams"),
        (probe.count("attachment"), limits.max_attachments, "attachments"),
        (probe.count("data"), limits.max_data_streams, "data streams"),
    )
    for found, cap, what in caps:
        if found > cap:
            raise TooManyStreams(f"the input has {found} {what}; at most {cap} are accepted")


def _frames(probe: ProbeResult, limits: MediaLimits) -> None:
    """Every picture stream (cover art too: ffprobe and ffmpeg decode it to read it), then
    the frame rate of the one the job decodes."""
    for stream in probe.streams:
        if stream.kind != "video":
            continue
        w, h = stream.width, stream.height
        if w > limits.max_width or h > limits.max_height or w * h > limits.max_pixels:
            raise FrameTooLarge(
                f"stream {stream.index} is {w}x{h}; the limit is {limits.max_width}x"
                f"{limits.max_height} and {limits.max_pixels} pixels"
            )
    video = probe.video
    if video is not None and video.fps > limits.max_fps:
        raise FrameRateTooHigh(
            f"the video runs at {video.fps:g} frames a second; the limit is {limits.max_fps:g}"
        )


def _duration(probe: ProbeResult, limits: MediaLimits, preset: OutputPreset) -> None:
    limit = min(
        limits.max_duration_seconds, preset.max_duration_seconds or limits.max_duration_seconds
    )
    stated = probe.stated_duration
    if stated > limit:
        raise InputTooLong(f"the input states {stated:.0f} s; the limit is {limit:.0f} s")


def _codecs(probe: ProbeResult, limits: MediaLimits, preset: OutputPreset) -> None:
    """The streams this preset would decode: the picture (unless the preset has no video)
    and the first audio, or every audio track a ladder keeps (none if it makes no audio)."""
    # an MP4 takes both; so do a steps job's transforms, whatever its outputs use
    uses_video = True
    sounds: tuple[AudioStream, ...] = (probe.audio,) if probe.audio else ()
    if isinstance(preset, StreamingPreset):
        uses_video, sounds = bool(preset.ladder), kept_tracks(preset, probe)
    decoded = (
        [("video", probe.video.codec, probe.video.index)] if probe.video and uses_video else []
    )
    decoded += [("audio", sound.codec, sound.index) for sound in sounds]
    for kind, codec, index in decoded:
        if codec not in limits.codecs:
            raise UnsupportedCodec(
                f"the {kind} stream {index} is {codec}, which is not on the codec allowlist"
            )
